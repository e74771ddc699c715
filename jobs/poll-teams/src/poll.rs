//! One pass over one chat: list what changed since the watermark, then deliver it oldest first.
//!
//! Exactly once, per chat: `watermark` is the `lastModifiedDateTime` of the newest message
//! handled, `boundary` the ids handled at exactly that time. The listing asks for everything
//! modified at or after the watermark (`gt watermark − 1 ms`) and skips the boundary ids, so
//! messages sharing the boundary timestamp are neither lost nor repeated. Events are written to
//! the inbox (durably) *before* the watermark moves past them; a crash in between leaves the
//! events in the inbox and the watermark behind, and the next run recognises them by their
//! deterministic file names. `known` remembers the content hash of recently delivered messages,
//! so an edit becomes an `edited` event, a deletion a `deleted` one, and a reaction (which also
//! bumps `lastModifiedDateTime`) nothing at all.

use crate::commands;
use crate::config::Config;
use crate::html;
use crate::inbox::{Event, Inbox, Kind, SenderInfo, file_name, hash};
use crate::{ChatState, Data};
use anyhow::Result;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use common::Ctx;
use graph::{ChatMessage, DeltaQuery, Flow, Graph, GraphError, ListQuery, Page, Sender};
use std::collections::HashSet;

/// Messages handled between two checkpoints (their events are made durable together).
const FLUSH_EVERY: usize = 500;

/// Ids kept at the boundary timestamp (more sharing one millisecond is not realistic).
const BOUNDARY_MAX: usize = 10_000;

/// Where messages come from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// A 1:1 or group chat, listed by `lastModifiedDateTime`.
    Chat(&'a str),
    /// A channel's root messages, read through `messages/delta`.
    Channel { team: &'a str, channel: &'a str },
}

impl Source<'_> {
    /// Key in the state and in event file names.
    pub fn key(&self) -> String {
        match self {
            Source::Chat(c) => c.to_string(),
            Source::Channel { team, channel } => format!("{team}/{channel}"),
        }
    }

    fn label(&self) -> String {
        match self {
            Source::Chat(c) => format!("chat {c}"),
            Source::Channel { team, channel } => format!("channel {channel} of team {team}"),
        }
    }
}

/// The progress record of a source.
pub fn state_of<'d>(d: &'d mut Data, src: &Source) -> &'d mut ChatState {
    match src {
        Source::Chat(c) => d.chats.entry(c.to_string()).or_default(),
        Source::Channel { .. } => d.channels.entry(src.key()).or_default(),
    }
}

/// What one chat pass did.
#[derive(Debug, Default)]
pub struct ChatReport {
    pub fetched: u64,
    pub delivered: u64,
    pub commands_failed: u64,
    /// The pass stopped early (signal or deadline); nothing past the last checkpoint advanced.
    pub stopped: bool,
}

/// What to do with one message.
enum Action {
    Skip(&'static str),
    Duplicate,
    Deliver(Kind),
    Deny,
    Command(&'static str),
    Refuse(&'static str),
}

/// State change that follows a handled message (applied once its event is durable).
struct Update {
    id: String,
    at: DateTime<Utc>,
    known: Option<String>,
}

/// Content hash of a message version as the agent sees it (deletion included).
fn content_hash(m: &ChatMessage) -> String {
    hash(
        &[
            if m.deleted.is_some() {
                "deleted"
            } else {
                "live"
            },
            &m.content_type,
            &m.content,
        ],
        16,
    )
}

fn tier(cfg: &Config, id: &str) -> Option<&'static str> {
    if cfg.operators.iter().any(|o| o == id) {
        Some("operator")
    } else if cfg.trusted.iter().any(|t| t == id) {
        Some("trusted")
    } else {
        None
    }
}

fn decide(
    cfg: &Config,
    cs: &ChatState,
    m: &ChatMessage,
    at: DateTime<Utc>,
    commands_here: bool,
) -> Action {
    if let Some(w) = cs.watermark
        && (at < w || (at == w && cs.boundary.iter().any(|b| b == &m.id)))
    {
        return Action::Duplicate;
    }
    if m.message_type != "message" {
        return Action::Skip("system or non-chat event");
    }
    let known = cs.known.get(&m.id);
    if m.deleted.is_some() {
        return match known {
            Some(h) if *h == content_hash(m) => Action::Skip("unchanged"),
            Some(_) => Action::Deliver(Kind::Deleted),
            None => Action::Skip("deletion of a message never delivered"),
        };
    }
    let uid = match &m.from {
        Sender::User { id, .. } => id.as_str(),
        Sender::Application { .. } => return Action::Skip("bot or app"),
        Sender::None => return Action::Skip("no sender"),
    };
    if cfg.self_user_id.as_deref() == Some(uid) {
        return Action::Skip("the agent's own message");
    }
    let t = tier(cfg, uid);
    if m.content.len() <= 256
        && let Some(c) = commands::parse(&html::to_text(&m.content))
    {
        return match (t, known) {
            (_, Some(_)) => Action::Skip("edited command message"),
            (Some("operator"), None) if cfg.commands.enabled && commands_here => Action::Command(c),
            _ => Action::Refuse(c),
        };
    }
    if t.is_none() {
        return Action::Deny;
    }
    match known {
        Some(h) if *h == content_hash(m) => Action::Skip("unchanged"),
        Some(_) => Action::Deliver(Kind::Edited),
        None if m.last_edited.is_some() => Action::Deliver(Kind::Edited),
        None => Action::Deliver(Kind::Message),
    }
}

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut i = max;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[..i]
}

fn build_event(cfg: &Config, src: &Source, m: &ChatMessage, kind: Kind) -> Event {
    let (id, name) = match &m.from {
        Sender::User { id, name, .. } => (Some(id.clone()), name.clone()),
        _ => (None, None),
    };
    let tier = id.as_deref().and_then(|i| tier(cfg, i));
    let original = m.content.len();
    let truncated = original > cfg.max_body_bytes;
    let mut body = cut(&m.content, cfg.max_body_bytes).to_string();
    let mut text = if m.content_type.eq_ignore_ascii_case("html") {
        html::to_text(&body)
    } else {
        body.chars()
            .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
            .collect()
    };
    if truncated {
        let marker = format!("[truncated: {original} bytes, first {} kept]", body.len());
        body.push_str(&format!("<p>{marker}</p>"));
        text.push_str(&format!("\n{marker}"));
    }
    Event {
        schema: 1,
        event: kind,
        chat_id: match src {
            Source::Chat(c) => Some(c.to_string()),
            Source::Channel { .. } => None,
        },
        team_id: match src {
            Source::Channel { team, .. } => Some(team.to_string()),
            Source::Chat(_) => None,
        },
        channel_id: match src {
            Source::Channel { channel, .. } => Some(channel.to_string()),
            Source::Chat(_) => None,
        },
        message_id: m.id.clone(),
        sender: SenderInfo { id, name, tier },
        created: m.created,
        modified: m.last_modified,
        edited: m.last_edited,
        deleted: m.deleted,
        content_type: m.content_type.clone(),
        html: body,
        text,
        truncated,
        original_bytes: original,
        mentions: m.mentions.clone(),
        attachments: m.attachments.clone(),
        received_at: Utc::now(),
    }
}

fn apply(cs: &mut ChatState, u: &Update, remember: usize) {
    match cs.watermark {
        Some(w) if u.at < w => {}
        Some(w) if u.at == w => {
            if !cs.boundary.contains(&u.id) && cs.boundary.len() < BOUNDARY_MAX {
                cs.boundary.push(u.id.clone());
            }
        }
        _ => {
            cs.watermark = Some(u.at);
            cs.boundary = vec![u.id.clone()];
        }
    }
    if let Some(h) = &u.known {
        cs.known.insert(u.id.clone(), h.clone());
        while cs.known.len() > remember.max(1) {
            // Graph ids are epoch milliseconds: the smallest is the oldest.
            let oldest = cs
                .known
                .keys()
                .min_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)))
                .cloned();
            match oldest {
                Some(k) => {
                    cs.known.remove(&k);
                }
                None => break,
            }
        }
    }
}

/// Pending events and state updates, written together.
struct Batch {
    files: Vec<(String, Vec<u8>)>,
    updates: Vec<Update>,
    names: HashSet<String>,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            files: Vec::new(),
            updates: Vec::new(),
            names: HashSet::new(),
        }
    }
}

/// Make the batch durable, then move the source's state past it and checkpoint.
fn flush(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    inbox: &Inbox,
    src: &Source,
    b: &mut Batch,
) -> Result<u64> {
    if b.updates.is_empty() {
        return Ok(0);
    }
    let n = b.files.len() as u64;
    if ctx.dry_run {
        if n > 0 {
            log::warn!("dry run: would deliver {n} event(s) from {}", src.label());
        }
    } else {
        inbox.deliver(&b.files)?;
    }
    let cs = state_of(&mut ctx.state.data, src);
    for u in &b.updates {
        apply(cs, u, cfg.remember_messages);
    }
    b.files.clear();
    b.updates.clear();
    b.names.clear();
    ctx.metric_add("delivered", n);
    ctx.checkpoint()?;
    Ok(n)
}

/// Whether an error says a channel delta link is no longer valid.
fn needs_resync(e: &anyhow::Error) -> bool {
    e.chain()
        .find_map(|c| c.downcast_ref::<GraphError>())
        .is_some_and(|g| {
            g.status == 410
                || g.code.eq_ignore_ascii_case("resyncRequired")
                || g.code.eq_ignore_ascii_case("syncStateNotFound")
        })
}

/// Poll one chat.
pub fn poll_chat(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    graph: &mut Graph,
    inbox: &Inbox,
    chat: &str,
) -> Result<ChatReport> {
    poll_source(ctx, cfg, graph, inbox, Source::Chat(chat))
}

/// Poll one chat or channel.
pub fn poll_source(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    graph: &mut Graph,
    inbox: &Inbox,
    src: Source,
) -> Result<ChatReport> {
    let label = src.label();
    let key = src.key();
    let mut report = ChatReport::default();
    let cs = state_of(&mut ctx.state.data, &src).clone();
    let since = match cs.watermark {
        Some(w) => w - ChronoDuration::milliseconds(1),
        None => Utc::now() - ChronoDuration::seconds(cfg.backfill_secs as i64),
    };
    // 1. List everything changed, page by page; nothing is handled until the listing is
    //    complete, so an interrupted listing changes nothing.
    let mut msgs: Vec<ChatMessage> = Vec::new();
    let mut malformed = 0u64;
    let mut stopped = false;
    let stop = ctx.stop.clone();
    let deadline = ctx.deadline();
    let mut collect = |page: Page| -> Result<Flow> {
        for e in &page.malformed {
            log::warn!("{label}: skipping a malformed message: {e}");
        }
        malformed += page.malformed.len() as u64;
        msgs.extend(page.messages);
        if stop.raised().is_some() || deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            stopped = true;
            return Ok(Flow::Stop);
        }
        Ok(Flow::Continue)
    };
    let mut new_delta = None;
    match src {
        Source::Chat(chat) => {
            let query = ListQuery {
                modified_after: Some(since),
                top: cfg.page_size,
            };
            graph.list_messages(chat, &query, &mut collect)?;
        }
        Source::Channel { team, channel } => {
            let mut query = DeltaQuery {
                delta_link: cs.delta_link.clone(),
                modified_after: Some(since),
                top: cfg.page_size,
            };
            new_delta = match graph.channel_messages_delta(team, channel, &query, &mut collect) {
                Err(e) if query.delta_link.is_some() && needs_resync(&e) => {
                    log::warn!(
                        "{label}: the stored delta link expired ({}); reading again from the watermark",
                        common::exit::one_line(&e)
                    );
                    query.delta_link = None;
                    graph.channel_messages_delta(team, channel, &query, &mut collect)?
                }
                other => other?,
            };
        }
    }
    report.fetched = msgs.len() as u64;
    ctx.metric_add("fetched", report.fetched);
    if malformed > 0 {
        ctx.metric_add("malformed", malformed);
    }
    if stopped {
        report.stopped = true;
        return Ok(report);
    }
    // 2. Handle oldest first.
    let mut timed: Vec<(DateTime<Utc>, ChatMessage)> = Vec::with_capacity(msgs.len());
    for m in msgs {
        match m.last_modified.or(m.created) {
            Some(t) => timed.push((t, m)),
            None => {
                log::warn!(
                    "{label}: message {:?} has neither lastModifiedDateTime nor createdDateTime; skipped",
                    m.id
                );
                ctx.metric_add("malformed", 1);
            }
        }
    }
    timed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
    let mut batch = Batch::new();
    let today = Utc::now().format("%Y-%m-%d").to_string();
    let commands_here = matches!(src, Source::Chat(_));
    for (at, m) in timed {
        if ctx.should_stop() {
            report.stopped = true;
            break;
        }
        let cs = state_of(&mut ctx.state.data, &src);
        let action = decide(cfg, cs, &m, at, commands_here);
        let mut update = Update {
            id: m.id.clone(),
            at,
            known: None,
        };
        match action {
            Action::Duplicate => {
                ctx.metric_add("duplicates_skipped", 1);
                continue;
            }
            Action::Skip(why) => {
                log::debug!("{label}: message {:?} skipped: {why}", m.id);
                ctx.metric_add(
                    if why == "unchanged" {
                        "unchanged"
                    } else {
                        "skipped"
                    },
                    1,
                );
            }
            Action::Deny => {
                let (uid, uname) = match &m.from {
                    Sender::User { id, name, .. } => (id.clone(), name.clone()),
                    _ => (String::new(), None),
                };
                ctx.metric_add("denied", 1);
                let logged = ctx.state.data.denied_logged.get(&uid) == Some(&today);
                if !logged {
                    log::warn!(
                        "{label}: message from {} ({uid}) denied: not in operators or trusted (logged once a day per sender)",
                        uname.as_deref().unwrap_or("unknown name")
                    );
                    ctx.state.data.denied_logged.retain(|_, d| *d == today);
                    ctx.state.data.denied_logged.insert(uid, today.clone());
                }
                if cfg.keep_rejected && !ctx.dry_run {
                    let ev = build_event(cfg, &src, &m, Kind::Message);
                    let name = file_name(&key, &m.id, Kind::Message, at);
                    inbox.reject(&name, &serde_json::to_vec_pretty(&ev)?)?;
                }
            }
            Action::Refuse(c) => {
                ctx.metric_add("commands_refused", 1);
                log::warn!(
                    "{label}: {c} (message {:?}) not executed and not answered: {}",
                    m.id,
                    if commands_here {
                        "the sender is not an operator"
                    } else {
                        "commands are only taken in chats"
                    }
                );
                update.known = Some(content_hash(&m));
            }
            Action::Command(c) => {
                report.delivered += flush(ctx, cfg, inbox, &src, &mut batch)?;
                let (uid, uname) = match &m.from {
                    Sender::User { id, name, .. } => (id.clone(), name.clone()),
                    _ => (String::new(), None),
                };
                let ok =
                    commands::handle(ctx, cfg, graph, &key, &m.id, c, (&uid, uname.as_deref()))?;
                if !ok {
                    report.commands_failed += 1;
                }
                update.known = Some(content_hash(&m));
                batch.updates.push(update);
                report.delivered += flush(ctx, cfg, inbox, &src, &mut batch)?;
                continue;
            }
            Action::Deliver(kind) => {
                let name = file_name(&key, &m.id, kind, at);
                update.known = Some(content_hash(&m));
                if batch.names.contains(&name) || inbox.contains(&name) {
                    log::info!(
                        "{label}: event {name} is already in the inbox (earlier run stopped before saving its progress)"
                    );
                    ctx.metric_add("duplicates_skipped", 1);
                } else {
                    let ev = build_event(cfg, &src, &m, kind);
                    let mut bytes = serde_json::to_vec_pretty(&ev)?;
                    bytes.push(b'\n');
                    batch.names.insert(name.clone());
                    batch.files.push((name, bytes));
                    if kind != Kind::Message {
                        ctx.metric_add(kind.as_str(), 1);
                    }
                }
            }
        }
        batch.updates.push(update);
        if batch.updates.len() >= FLUSH_EVERY {
            report.delivered += flush(ctx, cfg, inbox, &src, &mut batch)?;
        }
    }
    report.delivered += flush(ctx, cfg, inbox, &src, &mut batch)?;
    // 3. Only now may the channel's delta link move on.
    if !report.stopped
        && let Some(link) = new_delta
    {
        state_of(&mut ctx.state.data, &src).delta_link = Some(link);
        ctx.checkpoint()?;
    }
    Ok(report)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn msg(id: &str, from: &str, html: &str) -> ChatMessage {
        ChatMessage::from_value(&serde_json::json!({
            "id": id, "messageType": "message",
            "createdDateTime": "2026-01-01T00:00:00Z", "lastModifiedDateTime": "2026-01-01T00:00:00Z",
            "from": {"user": {"id": from, "displayName": "N"}},
            "body": {"contentType": "html", "content": html}}))
        .unwrap()
    }

    fn cfg() -> Config {
        Config {
            operators: vec!["op".into()],
            trusted: vec!["tr".into()],
            self_user_id: Some("me".into()),
            ..Default::default()
        }
    }

    #[test]
    fn tiers_commands_and_boundary() {
        let c = cfg();
        let mut cs = ChatState::default();
        let t = msg("1", "op", "x").created.unwrap();
        assert!(matches!(
            decide(&c, &cs, &msg("1", "op", "hi"), t, true),
            Action::Deliver(Kind::Message)
        ));
        assert!(matches!(
            decide(&c, &cs, &msg("1", "tr", "hi"), t, true),
            Action::Deliver(Kind::Message)
        ));
        assert!(matches!(
            decide(&c, &cs, &msg("1", "x", "hi"), t, true),
            Action::Deny
        ));
        assert!(matches!(
            decide(&c, &cs, &msg("1", "me", "hi"), t, true),
            Action::Skip(_)
        ));
        assert!(matches!(
            decide(&c, &cs, &msg("1", "op", "<p>/status</p>"), t, true),
            Action::Command("/status")
        ));
        assert!(matches!(
            decide(&c, &cs, &msg("1", "tr", "/stop"), t, true),
            Action::Refuse("/stop")
        ));
        apply(
            &mut cs,
            &Update {
                id: "1".into(),
                at: t,
                known: Some(content_hash(&msg("1", "op", "hi"))),
            },
            10,
        );
        assert!(matches!(
            decide(&c, &cs, &msg("1", "op", "hi"), t, true),
            Action::Duplicate
        ));
        assert!(matches!(
            decide(&c, &cs, &msg("2", "op", "hi"), t, true),
            Action::Deliver(Kind::Message)
        ));
        let later = t + ChronoDuration::seconds(1);
        assert!(matches!(
            decide(&c, &cs, &msg("1", "op", "hi"), later, true),
            Action::Skip("unchanged")
        ));
        assert!(matches!(
            decide(&c, &cs, &msg("1", "op", "hi!"), later, true),
            Action::Deliver(Kind::Edited)
        ));
    }

    #[test]
    fn known_is_bounded_oldest_first() {
        let mut cs = ChatState::default();
        let t = Utc::now();
        for i in 0..20u64 {
            apply(
                &mut cs,
                &Update {
                    id: format!("{}", 1_700_000_000_000u64 + i),
                    at: t,
                    known: Some("h".into()),
                },
                5,
            );
        }
        assert_eq!(cs.known.len(), 5);
        assert!(cs.known.contains_key("1700000000019") && !cs.known.contains_key("1700000000014"));
    }

    #[test]
    fn truncation_marks_and_keeps_utf8() {
        let mut c = cfg();
        c.max_body_bytes = 300;
        let body = "é".repeat(1000);
        let ev = build_event(
            &c,
            &Source::Chat("chat"),
            &msg("1", "op", &body),
            Kind::Message,
        );
        assert!(ev.truncated && ev.original_bytes == 2000);
        assert!(ev.html.contains("[truncated: 2000 bytes"), "{}", ev.html);
    }
}
