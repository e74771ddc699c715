//! Intake: one pass over one chat or channel. List what changed since the watermark, then
//! handle it oldest first: inbox events, skips, denials, operator commands, and the agent's
//! own replies (for catch-up and the detectors).
//!
//! Exactly once, per source: `watermark` is the `lastModifiedDateTime` of the newest message
//! handled, `boundary` the ids handled at exactly that time. The listing asks for everything
//! modified at or after the watermark (`gt watermark − 1 ms`) and skips the boundary ids, so
//! messages sharing the boundary timestamp are neither lost nor repeated. Events are written to
//! the inbox (durably) *before* the watermark moves past them; a crash in between leaves the
//! events in the inbox and the watermark behind, and the next run recognises them by their
//! deterministic file names. `known` remembers the content hash of recently handled messages,
//! so an edit becomes an `edited` event, a deletion a `deleted` one, and a reaction (which also
//! bumps `lastModifiedDateTime`) nothing at all.

use crate::commands::{self, Command};
use crate::config::{Config, SourceSettings};
use crate::data::{ChatState, Data, HumanMessage};
use crate::detect;
use crate::html;
use crate::inbox::{Event, Inbox, Kind, SenderInfo, file_name, hash};
use anyhow::Result;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use common::Ctx;
use graph::{ChatMessage, DeltaQuery, Flow, Graph, GraphError, ListQuery, Page, Sender};
use std::collections::{BTreeSet, HashSet};

/// Messages handled between two checkpoints (their events are made durable together).
const FLUSH_EVERY: usize = 500;

/// Ids kept at the boundary timestamp (more sharing one millisecond is not realistic).
const BOUNDARY_MAX: usize = 10_000;

/// Longest message text (bytes) looked at as a possible command.
const COMMAND_MAX_BYTES: usize = 256;

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

    pub fn label(&self) -> String {
        match self {
            Source::Chat(c) => format!("chat {c}"),
            Source::Channel { team, channel } => format!("channel {channel} of team {team}"),
        }
    }
}

/// The intake progress record of a source.
pub fn state_of<'d>(d: &'d mut Data, src: &Source) -> &'d mut ChatState {
    match src {
        Source::Chat(c) => d.chats.entry(c.to_string()).or_default(),
        Source::Channel { .. } => d.channels.entry(src.key()).or_default(),
    }
}

/// Who is who, by AAD object id (never by display name).
#[derive(Debug, Clone, Default)]
pub struct People {
    pub operators: BTreeSet<String>,
    pub trusted: BTreeSet<String>,
    pub agent_user: Option<String>,
    pub agent_bots: BTreeSet<String>,
}

impl People {
    /// From the config, plus the gateway's `allowFrom` ids when `allow_from_gateway` is on.
    pub fn new(cfg: &Config, gateway_allow: &[String]) -> People {
        let mut trusted: BTreeSet<String> = cfg.trusted.iter().cloned().collect();
        trusted.extend(gateway_allow.iter().cloned());
        People {
            operators: cfg.operators.iter().cloned().collect(),
            trusted,
            agent_user: cfg.self_user_id.clone(),
            agent_bots: cfg.bot_app_ids.iter().cloned().collect(),
        }
    }

    pub fn tier(&self, id: &str) -> Option<&'static str> {
        if self.operators.contains(id) {
            Some("operator")
        } else if self.trusted.contains(id) {
            Some("trusted")
        } else {
            None
        }
    }
}

/// What one source pass did.
#[derive(Debug, Default)]
pub struct SourceReport {
    pub fetched: u64,
    pub written: u64,
    pub commands_failed: u64,
    /// The pass stopped early (signal or deadline); nothing past the last checkpoint advanced.
    pub stopped: bool,
}

/// What to do with one message (decided by [`classify`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Skip(&'static str),
    Duplicate,
    Deliver(Kind),
    Deny,
    Command(Command),
    Refuse(Command),
    /// A message of the agent (its account or its bot): recorded, not delivered.
    AgentReply,
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

/// Decide what a message is (pure: the people, the source, its progress, the message).
pub fn classify(
    people: &People,
    src: &SourceSettings,
    cfg: &Config,
    cs: &ChatState,
    m: &ChatMessage,
    at: DateTime<Utc>,
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
    let unchanged = known.is_some_and(|h| *h == content_hash(m));
    if m.deleted.is_some() {
        return match known {
            Some(_) if unchanged => Action::Skip("unchanged"),
            Some(_) => Action::Deliver(Kind::Deleted),
            None => Action::Skip("deletion of a message never delivered"),
        };
    }
    let uid = match &m.from {
        Sender::User { id, .. } if people.agent_user.as_deref() == Some(id) => {
            return if unchanged {
                Action::Skip("unchanged")
            } else {
                Action::AgentReply
            };
        }
        Sender::Application { id, .. } if people.agent_bots.contains(id) => {
            return if unchanged {
                Action::Skip("unchanged")
            } else {
                Action::AgentReply
            };
        }
        Sender::User { id, .. } => id.as_str(),
        Sender::Application { .. } => return Action::Skip("bot or app"),
        Sender::None => return Action::Skip("no sender"),
    };
    let tier = people.tier(uid);
    if m.content.len() <= COMMAND_MAX_BYTES
        && let Some(c) = commands::parse(
            &html::to_text(&m.content),
            &cfg.commands.prefix,
            src.bare_commands,
        )
    {
        return match (tier, known) {
            (_, Some(_)) => Action::Skip("edited command message"),
            (Some("operator"), None) if cfg.commands.enabled && !src.is_channel => {
                Action::Command(c)
            }
            _ => Action::Refuse(c),
        };
    }
    if tier.is_none() {
        return Action::Deny;
    }
    match known {
        Some(_) if unchanged => Action::Skip("unchanged"),
        Some(_) => Action::Deliver(Kind::Edited),
        None if m.last_edited.is_some() => Action::Deliver(Kind::Edited),
        None => Action::Deliver(Kind::Message),
    }
}

/// State change that follows a handled message (applied once its event is durable).
struct Update {
    id: String,
    at: DateTime<Utc>,
    known: Option<String>,
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

fn sender_of(m: &ChatMessage) -> (Option<String>, Option<String>) {
    match &m.from {
        Sender::User { id, name, .. } => (Some(id.clone()), name.clone()),
        _ => (None, None),
    }
}

/// The inbox event of a message version.
pub fn build_event(
    people: &People,
    cfg: &Config,
    src: &Source,
    m: &ChatMessage,
    kind: Kind,
    now: DateTime<Utc>,
) -> Event {
    let (id, name) = sender_of(m);
    let tier = id.as_deref().and_then(|i| people.tier(i));
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
    let (chat_id, team_id, channel_id) = match src {
        Source::Chat(c) => (Some(c.to_string()), None, None),
        Source::Channel { team, channel } => {
            (None, Some(team.to_string()), Some(channel.to_string()))
        }
    };
    Event {
        schema: 1,
        event: kind,
        chat_id,
        team_id,
        channel_id,
        message_id: m.id.clone(),
        sender: SenderInfo {
            id,
            name,
            tier: tier.map(str::to_string),
        },
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
        received_at: now,
    }
}

/// Pending events and state updates, written together.
#[derive(Default)]
struct Batch {
    files: Vec<(String, Vec<u8>)>,
    updates: Vec<Update>,
    names: HashSet<String>,
}

/// Everything one source pass works with.
pub struct Pass<'a> {
    pub cfg: &'a Config,
    pub people: &'a People,
    pub inbox: &'a Inbox,
    pub src: Source<'a>,
    pub settings: &'a SourceSettings<'a>,
}

/// Make the batch durable, then move the source's state past it and checkpoint.
fn flush(ctx: &mut Ctx<Data>, p: &Pass, b: &mut Batch) -> Result<u64> {
    if b.updates.is_empty() {
        return Ok(0);
    }
    let n = b.files.len() as u64;
    if ctx.dry_run {
        if n > 0 {
            log::warn!("dry run: would deliver {n} event(s) from {}", p.src.label());
        }
    } else {
        p.inbox.deliver(&b.files)?;
    }
    let cs = state_of(&mut ctx.state.data, &p.src);
    for u in &b.updates {
        apply(cs, u, p.cfg.remember_messages);
    }
    *b = Batch::default();
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

/// A complete listing of what changed (or a stopped one, which changes nothing).
struct Listing {
    messages: Vec<ChatMessage>,
    malformed: u64,
    stopped: bool,
    delta_link: Option<String>,
}

/// List everything changed since the watermark, page by page. Nothing is handled until the
/// listing is complete, so an interrupted listing changes nothing.
fn list(ctx: &Ctx<Data>, p: &Pass, graph: &mut Graph, cs: &ChatState) -> Result<Listing> {
    let label = p.src.label();
    let since = match cs.watermark {
        Some(w) => w - ChronoDuration::milliseconds(1),
        None => ctx
            .now()
            .checked_sub_signed(
                ChronoDuration::try_seconds(i64::try_from(p.cfg.backfill_secs).unwrap_or(i64::MAX))
                    .unwrap_or(ChronoDuration::MAX),
            )
            .unwrap_or(DateTime::<Utc>::MIN_UTC),
    };
    let mut out = Listing {
        messages: Vec::new(),
        malformed: 0,
        stopped: false,
        delta_link: None,
    };
    let stop = ctx.stop.clone();
    let deadline = ctx.deadline();
    let mut collect = |page: Page| -> Result<Flow> {
        for e in &page.malformed {
            log::warn!("{label}: skipping a malformed message: {e}");
        }
        out.malformed += page.malformed.len() as u64;
        out.messages.extend(page.messages);
        if stop.raised().is_some() || deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            out.stopped = true;
            return Ok(Flow::Stop);
        }
        Ok(Flow::Continue)
    };
    let top = p.cfg.page_size;
    match p.src {
        Source::Chat(chat) => {
            let query = ListQuery {
                modified_after: Some(since),
                top,
            };
            graph.list_messages(chat, &query, &mut collect)?;
        }
        Source::Channel { team, channel } => {
            let mut query = DeltaQuery {
                delta_link: cs.delta_link.clone(),
                modified_after: Some(since),
                top,
            };
            let link = match graph.channel_messages_delta(team, channel, &query, &mut collect) {
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
            out.delta_link = link;
        }
    }
    Ok(out)
}

/// The listed messages that carry a time, oldest first (the others are counted malformed).
fn oldest_first(
    ctx: &mut Ctx<Data>,
    label: &str,
    msgs: Vec<ChatMessage>,
) -> Vec<(DateTime<Utc>, ChatMessage)> {
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
    timed
}

/// Poll one chat or channel.
pub fn pass_source(ctx: &mut Ctx<Data>, p: &Pass, graph: &mut Graph) -> Result<SourceReport> {
    let cs = state_of(&mut ctx.state.data, &p.src).clone();
    let listing = list(ctx, p, graph, &cs)?;
    let mut report = SourceReport {
        fetched: listing.messages.len() as u64,
        ..Default::default()
    };
    ctx.metric_add("fetched", report.fetched);
    if listing.malformed > 0 {
        ctx.metric_add("malformed", listing.malformed);
    }
    if listing.stopped {
        report.stopped = true;
        return Ok(report);
    }
    let timed = oldest_first(ctx, &p.src.label(), listing.messages);
    handle_all(ctx, p, graph, timed, &mut report)?;
    // Only now may the channel's delta link move on.
    if !report.stopped
        && let Some(link) = listing.delta_link
    {
        state_of(&mut ctx.state.data, &p.src).delta_link = Some(link);
        ctx.checkpoint()?;
    }
    Ok(report)
}

/// Handle the messages oldest first, in batches made durable before the watermark moves.
fn handle_all(
    ctx: &mut Ctx<Data>,
    p: &Pass,
    graph: &mut Graph,
    timed: Vec<(DateTime<Utc>, ChatMessage)>,
    report: &mut SourceReport,
) -> Result<()> {
    let mut batch = Batch::default();
    for (at, m) in timed {
        if ctx.should_stop() {
            report.stopped = true;
            break;
        }
        let action = {
            let cs = state_of(&mut ctx.state.data, &p.src);
            classify(p.people, p.settings, p.cfg, cs, &m, at)
        };
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
            Action::Command(c) => {
                report.written += flush(ctx, p, &mut batch)?;
                let (uid, uname) = sender_of(&m);
                let uid = uid.unwrap_or_default();
                let ok = commands::handle(
                    ctx,
                    p.cfg,
                    graph,
                    (&p.src.key(), &m.id),
                    c,
                    (&uid, uname.as_deref()),
                )?;
                if !ok {
                    report.commands_failed += 1;
                }
                update.known = Some(content_hash(&m));
                batch.updates.push(update);
                report.written += flush(ctx, p, &mut batch)?;
                continue;
            }
            other => handle_one(ctx, p, &m, at, other, &mut update, &mut batch)?,
        }
        batch.updates.push(update);
        if batch.updates.len() >= FLUSH_EVERY {
            report.written += flush(ctx, p, &mut batch)?;
        }
    }
    report.written += flush(ctx, p, &mut batch)?;
    Ok(())
}

/// Everything but duplicates and commands.
fn handle_one(
    ctx: &mut Ctx<Data>,
    p: &Pass,
    m: &ChatMessage,
    at: DateTime<Utc>,
    action: Action,
    update: &mut Update,
    batch: &mut Batch,
) -> Result<()> {
    let label = p.src.label();
    match action {
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
        Action::AgentReply => {
            ctx.metric_add("skipped", 1);
            update.known = Some(content_hash(m));
            note_agent_reply(ctx, p, m);
        }
        Action::Deny => deny(ctx, p, m, at)?,
        Action::Refuse(c) => {
            ctx.metric_add("commands_refused", 1);
            log::warn!(
                "{label}: {} {} (message {:?}) not executed and not answered: {}",
                p.cfg.commands.prefix,
                c.name(),
                m.id,
                if p.settings.is_channel {
                    "commands are only taken in chats"
                } else {
                    "the sender is not an operator"
                }
            );
            update.known = Some(content_hash(m));
        }
        Action::Deliver(kind) => {
            let first_time = !state_of(&mut ctx.state.data, &p.src)
                .known
                .contains_key(&m.id);
            update.known = Some(content_hash(m));
            add_event(ctx, p, m, at, kind, batch)?;
            if first_time && kind != Kind::Deleted {
                note_human(ctx, p, m);
            }
        }
        Action::Duplicate | Action::Command(_) => {}
    }
    Ok(())
}

fn add_event(
    ctx: &mut Ctx<Data>,
    p: &Pass,
    m: &ChatMessage,
    at: DateTime<Utc>,
    kind: Kind,
    batch: &mut Batch,
) -> Result<()> {
    let name = file_name(&p.src.key(), &m.id, kind, at);
    if batch.names.contains(&name) || p.inbox.contains(&name) {
        log::info!(
            "{}: event {name} is already in the inbox (an earlier run stopped before saving its progress)",
            p.src.label()
        );
        ctx.metric_add("duplicates_skipped", 1);
        return Ok(());
    }
    let ev = build_event(p.people, p.cfg, &p.src, m, kind, ctx.now());
    let mut bytes = serde_json::to_vec_pretty(&ev)?;
    bytes.push(b'\n');
    batch.names.insert(name.clone());
    batch.files.push((name, bytes));
    if kind != Kind::Message {
        ctx.metric_add(kind.as_str(), 1);
    }
    Ok(())
}

fn deny(ctx: &mut Ctx<Data>, p: &Pass, m: &ChatMessage, at: DateTime<Utc>) -> Result<()> {
    let (uid, uname) = sender_of(m);
    let uid = uid.unwrap_or_default();
    ctx.metric_add("denied", 1);
    let today = ctx.now().format("%Y-%m-%d").to_string();
    if ctx.state.data.denied_logged.get(&uid) != Some(&today) {
        log::warn!(
            "{}: message from {} ({uid}) denied: not in operators or trusted (logged once a day per sender)",
            p.src.label(),
            uname.as_deref().unwrap_or("unknown name")
        );
        ctx.state.data.denied_logged.retain(|_, d| *d == today);
        ctx.state.data.denied_logged.insert(uid, today);
    }
    if p.cfg.keep_rejected && !ctx.dry_run {
        let ev = build_event(p.people, p.cfg, &p.src, m, Kind::Message, ctx.now());
        let name = file_name(&p.src.key(), &m.id, Kind::Message, at);
        p.inbox.reject(&name, &serde_json::to_vec_pretty(&ev)?)?;
    }
    Ok(())
}

/// A message from an allowed person: remembered for catch-up and the unanswered detector
/// (not the gateway's own slash commands, which expect no answer from the agent).
fn note_human(ctx: &mut Ctx<Data>, p: &Pass, m: &ChatMessage) {
    let (id, name) = sender_of(m);
    let Some(id) = id else { return };
    if crate::deliver::is_gateway_command(&html::to_text(&m.content)) {
        return;
    }
    let msg = HumanMessage {
        id: m.id.clone(),
        at: m.created.or(m.last_modified).unwrap_or_else(|| ctx.now()),
        sender: name.unwrap_or_else(|| id.clone()),
        tier: p.people.tier(&id).unwrap_or("").to_string(),
    };
    let conv = ctx.state.data.conversations.entry(p.src.key()).or_default();
    detect::note_human(conv, msg, p.settings.expect_reply);
}

/// A message of the agent: answers what came before it; two alike ones in a row are a case.
fn note_agent_reply(ctx: &mut Ctx<Data>, p: &Pass, m: &ChatMessage) {
    if ctx.state.data.own_posts.iter().any(|id| *id == m.id) {
        return;
    }
    let at = m.created.or(m.last_modified).unwrap_or_else(|| ctx.now());
    let text = html::to_text(&m.content);
    let key = p.src.key();
    let conv = ctx.state.data.conversations.entry(key.clone()).or_default();
    let Some(d) = detect::note_reply(conv, &m.id, at, &text, &p.cfg.detectors) else {
        return;
    };
    let detail = format!(
        "the agent answered {} twice in {} s in {}: replies {} and {} (similarity {:.2})",
        d.message_id
            .as_deref()
            .map_or("a message".to_string(), |id| format!("message {id}")),
        d.gap_secs,
        p.settings.name,
        d.first,
        d.second,
        d.similarity
    );
    let now = ctx.now();
    detect::record_case(ctx, "duplicate-reply", &key, &d.second, now, detail);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::{ChatSpec, Mode};

    fn msg(id: &str, from: &str, html: &str) -> ChatMessage {
        ChatMessage::from_value(&serde_json::json!({
            "id": id, "messageType": "message",
            "createdDateTime": "2026-01-01T00:00:00Z", "lastModifiedDateTime": "2026-01-01T00:00:00Z",
            "from": {"user": {"id": from, "displayName": "N"}},
            "body": {"contentType": "html", "content": html}}))
        .unwrap()
    }

    fn cfg(bare: bool) -> Config {
        Config {
            chats: vec![ChatSpec {
                id: "c".into(),
                bare_commands: bare,
                ..Default::default()
            }],
            operators: vec!["op".into()],
            trusted: vec!["tr".into()],
            self_user_id: Some("me".into()),
            bot_app_ids: vec!["bot".into()],
            ..Default::default()
        }
    }

    fn decide(c: &Config, cs: &ChatState, m: &ChatMessage, at: DateTime<Utc>) -> Action {
        let people = People::new(c, &[]);
        let s = c.sources().remove(0);
        classify(&people, &s, c, cs, m, at)
    }

    #[test]
    fn tiers_commands_and_boundary() {
        let c = cfg(false);
        let mut cs = ChatState::default();
        let t = msg("1", "op", "x").created.unwrap();
        assert_eq!(
            decide(&c, &cs, &msg("1", "op", "hi"), t),
            Action::Deliver(Kind::Message)
        );
        assert_eq!(
            decide(&c, &cs, &msg("1", "tr", "hi"), t),
            Action::Deliver(Kind::Message)
        );
        assert_eq!(decide(&c, &cs, &msg("1", "x", "hi"), t), Action::Deny);
        assert_eq!(
            decide(&c, &cs, &msg("1", "me", "hi"), t),
            Action::AgentReply
        );
        assert_eq!(
            decide(&c, &cs, &msg("1", "op", "<p>/jobs status</p>"), t),
            Action::Command(Command::Status)
        );
        assert_eq!(
            decide(&c, &cs, &msg("1", "tr", "/jobs stop"), t),
            Action::Refuse(Command::Stop)
        );
        // The bare word is the gateway's own command unless the chat opts in.
        assert_eq!(
            decide(&c, &cs, &msg("1", "op", "/stop"), t),
            Action::Deliver(Kind::Message)
        );
        assert_eq!(
            decide(&cfg(true), &cs, &msg("1", "op", "/stop"), t),
            Action::Command(Command::Stop)
        );
        apply(
            &mut cs,
            &Update {
                id: "1".into(),
                at: t,
                known: Some(content_hash(&msg("1", "op", "hi"))),
            },
            10,
        );
        assert_eq!(decide(&c, &cs, &msg("1", "op", "hi"), t), Action::Duplicate);
        assert_eq!(
            decide(&c, &cs, &msg("2", "op", "hi"), t),
            Action::Deliver(Kind::Message)
        );
        let later = t + ChronoDuration::seconds(1);
        assert_eq!(
            decide(&c, &cs, &msg("1", "op", "hi"), later),
            Action::Skip("unchanged")
        );
        assert_eq!(
            decide(&c, &cs, &msg("1", "op", "hi!"), later),
            Action::Deliver(Kind::Edited)
        );
    }

    #[test]
    fn the_agents_bot_is_recognised_other_bots_skipped() {
        let c = cfg(false);
        let cs = ChatState::default();
        let bot = |id: &str| {
            ChatMessage::from_value(&serde_json::json!({"id": "9", "messageType": "message",
                "createdDateTime": "2026-01-01T00:00:00Z", "lastModifiedDateTime": "2026-01-01T00:00:00Z",
                "from": {"application": {"id": id, "displayName": "B"}},
                "body": {"contentType": "html", "content": "hello"}}))
            .unwrap()
        };
        let t = msg("1", "op", "x").created.unwrap();
        assert_eq!(decide(&c, &cs, &bot("bot"), t), Action::AgentReply);
        assert_eq!(
            decide(&c, &cs, &bot("other"), t),
            Action::Skip("bot or app")
        );
        let mut c2 = cfg(false);
        c2.delivery.mode = Mode::All;
        assert_eq!(c2.sources()[0].mode, Mode::All);
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
        let mut c = cfg(false);
        c.max_body_bytes = 300;
        let body = "é".repeat(1000);
        let people = People::new(&c, &[]);
        let ev = build_event(
            &people,
            &c,
            &Source::Chat("chat"),
            &msg("1", "op", &body),
            Kind::Message,
            Utc::now(),
        );
        assert!(ev.truncated && ev.original_bytes == 2000);
        assert!(ev.html.contains("[truncated: 2000 bytes"), "{}", ev.html);
        assert_eq!(ev.sender.tier.as_deref(), Some("operator"));
    }
}
