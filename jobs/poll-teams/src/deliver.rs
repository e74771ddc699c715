//! Delivery: inbox events into the gateway, exactly once, as the second step after intake.
//! The Maildir stays the journal of intake; this step reads `new/` oldest first and may lag
//! behind it (gateway down, catch-up wait) and catch up later.
//!
//! Per event, [`decide`] (pure) says what to do from the chat's mode, the conversation, the
//! gateway's health and the effect journal: deliver, wait, leave it (journal mode), consume it
//! without delivering (answered live by the gateway's own Teams channel, or a gateway slash
//! command), or give up (too old). A delivery is the effect `deliver/<event file>`:
//!
//! 1. the request body is stored with the intent (`data.delivery.in_flight`) and checkpointed;
//! 2. `POST <hooks.path>/agent` with `idempotencyKey = teams:<event file stem>` and the run
//!    name `Teams message <hash>`;
//! 3. 200: done, the event moves to `cur/`. 400/413: refused for good, the event moves to
//!    `rejected/` with the reason. 401/404/405: configuration (exit 78). 409/429/5xx: tried
//!    again later with backoff. Connection refused or 503 while the gateway restarts: it is
//!    down, the pass stops and the events wait.
//! 4. A crash or a lost answer leaves the effect `unknown`. The gateway forgets idempotency
//!    keys (5 minutes after a run ends, and at every restart), so the journal, not the key, is
//!    the guarantee: the next pass looks for the run's completion record in the gateway's log.
//!    Found: done. Not found: the run never completed, so the identical body is sent again
//!    with the same key (if the first run is still going, the gateway still holds the key and
//!    answers with the same run). The log unreadable: blocked, alerted, never repeated blindly.

use crate::config::{Config, DeliveryConfig, GATEWAY_COMMANDS, Mode, SourceSettings};
use crate::data::{DOWN_WINDOWS_KEPT, Data, DownWindow, GatewayHealth, InFlight, RetryState};
use crate::hook::{HookTarget, Posted, backoff};
use crate::inbox::{Event, Inbox, Kind};
use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use common::contracts::effect::EffectStatus;
use common::effect::{Act, EffectOutcome, Verified};
use common::{Ctx, Severity};
use openclaw::hooks::{AgentRequest, Answer};
use std::collections::HashSet;

/// Longest message text sent (bytes), well under the gateway's 256 KiB body limit.
pub const MAX_TEXT_BYTES: usize = 100_000;

/// What to do with one event now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Its delivery is done: move it to `cur/`.
    Settled,
    /// Journal mode: leave it in `new/`.
    Leave,
    /// Not yet (and later events of its chat wait behind it).
    Wait(String),
    /// Deliver it now, for this reason (said in the message).
    Deliver(String),
    /// The agent replied in the chat after it: the gateway's own channel handled it.
    AnsweredLive,
    /// Not something for the agent (a kind not delivered, a gateway slash command).
    NotForAgent(String),
    /// Too old to deliver.
    Expire(String),
}

/// Everything [`decide`] looks at for one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    pub mode: Mode,
    /// When the message (version) was written in Teams.
    pub at: DateTime<Utc>,
    /// When poll-teams wrote the event.
    pub written_at: DateTime<Utc>,
    pub kind_delivered: bool,
    pub gateway_command: bool,
    pub last_reply_at: Option<DateTime<Utc>>,
    /// It arrived while the gateway was down.
    pub while_down: bool,
    pub retry_at: Option<DateTime<Utc>>,
    pub effect: Option<EffectStatus>,
    pub in_flight: bool,
}

/// Decide what to do with one event (pure).
pub fn decide(i: &Inputs, cfg: &DeliveryConfig, now: DateTime<Utc>) -> Decision {
    if i.effect == Some(EffectStatus::Done) {
        return Decision::Settled;
    }
    if i.mode == Mode::Journal && i.effect.is_none() && !i.in_flight {
        return Decision::Leave;
    }
    let waiting_retry = i.retry_at.filter(|t| *t > now);
    let started = i.in_flight
        || matches!(
            i.effect,
            Some(EffectStatus::Unknown | EffectStatus::Started)
        );
    if started {
        // An attempt may have reached the gateway: settle it before anything else.
        return match waiting_retry {
            Some(t) => Decision::Wait(format!("next attempt at {}", t.format("%H:%M:%S UTC"))),
            None => Decision::Deliver("an earlier attempt's outcome is being settled".into()),
        };
    }
    if !i.kind_delivered {
        return Decision::NotForAgent(
            "this kind of event is not delivered (delivery.kinds)".into(),
        );
    }
    if i.gateway_command {
        return Decision::NotForAgent("a slash command of the gateway".into());
    }
    let age = now.signed_duration_since(i.written_at);
    if age > secs(cfg.max_age_secs) {
        return Decision::Expire(format!(
            "not delivered within delivery.max_age_secs ({} s) of its arrival",
            cfg.max_age_secs
        ));
    }
    if let Some(t) = waiting_retry {
        return Decision::Wait(format!("next attempt at {}", t.format("%H:%M:%S UTC")));
    }
    match i.mode {
        Mode::All => Decision::Deliver("new message".into()),
        Mode::CatchUp if i.last_reply_at.is_some_and(|r| r > i.at) => Decision::AnsweredLive,
        Mode::CatchUp if i.while_down => {
            Decision::Deliver("catch-up: it arrived while the gateway was down".into())
        }
        Mode::CatchUp if now.signed_duration_since(i.at) >= secs(cfg.catch_up_after_secs) => {
            Decision::Deliver(format!(
                "catch-up: no agent reply within {}",
                words(cfg.catch_up_after_secs)
            ))
        }
        Mode::CatchUp => Decision::Wait(format!(
            "waiting for a live reply until {}",
            (i.at + secs(cfg.catch_up_after_secs)).format("%H:%M:%S UTC")
        )),
        Mode::Journal => Decision::Leave,
    }
}

fn secs(s: u64) -> Duration {
    Duration::seconds(s.min(i64::MAX as u64 / 1000) as i64)
}

/// `5 min`, `90 s`.
fn words(s: u64) -> String {
    if s >= 60 && s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

/// Whether a message's text is one of the gateway's own slash commands (`/stop`, `/new x`).
pub fn is_gateway_command(text: &str) -> bool {
    let first = text.split_whitespace().next().unwrap_or("");
    let Some(word) = first.strip_prefix('/') else {
        return false;
    };
    let word = word
        .split(['@', ':'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    GATEWAY_COMMANDS.contains(&word.as_str())
}

/// The key of the source an event came from (chat id, or `<team>/<channel>`).
pub fn source_key(ev: &Event) -> String {
    match (&ev.chat_id, &ev.team_id, &ev.channel_id) {
        (Some(c), _, _) => c.clone(),
        (None, Some(t), Some(c)) => format!("{t}/{c}"),
        _ => String::new(),
    }
}

/// When the event's version was written in Teams.
pub fn version_time(ev: &Event) -> DateTime<Utc> {
    let t = match ev.event {
        Kind::Message => ev.created,
        Kind::Edited => ev.edited,
        Kind::Deleted => ev.deleted,
    };
    t.or(ev.modified).or(ev.created).unwrap_or(ev.received_at)
}

/// The stable key of an event's delivery: its file name, which is derived from the chat, the
/// message id, the kind and the version.
pub fn idempotency_key(file: &str) -> String {
    format!("teams:{}", file.trim_end_matches(".json"))
}

/// The run's name (`name` of the request; the gateway logs it with the run's completion).
pub fn run_name(file: &str) -> String {
    let stem = file.trim_end_matches(".json");
    format!("Teams message {}", stem.rsplit('-').next().unwrap_or(stem))
}

/// The text the agent reads: who wrote, their tier, where, when, then the message.
pub fn render(ev: &Event, src: &SourceSettings, reason: &str) -> String {
    let who = ev
        .sender
        .name
        .clone()
        .or_else(|| ev.sender.id.clone())
        .unwrap_or_else(|| "someone".into());
    let tier = ev.sender.tier.as_deref().unwrap_or("no tier");
    let kind = if src.is_channel { "channel" } else { "chat" };
    let place = if src.name == src.key {
        format!("the Teams {kind} {}", src.key)
    } else {
        format!("the Teams {kind} \"{}\" ({})", src.name, src.key)
    };
    let when = version_time(ev).format("%Y-%m-%d %H:%M:%S UTC");
    let mut s = match ev.event {
        Kind::Message => format!("{who} ({tier}) wrote in {place} at {when}:\n\n"),
        Kind::Edited => {
            format!("{who} ({tier}) edited their message in {place} at {when}; it now reads:\n\n")
        }
        Kind::Deleted => format!("{who} ({tier}) deleted their message in {place} at {when}."),
    };
    if ev.event != Kind::Deleted {
        let mut end = ev.text.len().min(MAX_TEXT_BYTES);
        while !ev.text.is_char_boundary(end) {
            end -= 1;
        }
        s.push_str(&ev.text[..end]);
        if end < ev.text.len() {
            s.push_str(&format!(
                "\n[cut: {} bytes, first {end} sent]",
                ev.text.len()
            ));
        }
    }
    s.push_str(&format!(
        "\n\n(poll-teams delivered this: {reason}. Teams message id {}.)",
        ev.message_id
    ));
    s
}

/// The hook request of an event.
pub fn request(
    file: &str,
    ev: &Event,
    src: &SourceSettings,
    cfg: &DeliveryConfig,
    reason: &str,
) -> AgentRequest {
    AgentRequest {
        message: render(ev, src, reason),
        name: run_name(file),
        agent_id: cfg.agent_id.clone(),
        session_key: src.session_key.map(str::to_string),
        idempotency_key: idempotency_key(file),
        deliver: src.reply.is_some(),
        channel: src.reply.map(|r| r.channel.clone()),
        to: src.reply.map(|r| r.to.clone()),
        account_id: src.reply.and_then(|r| r.account_id.clone()),
        timeout_seconds: cfg.run_timeout_secs,
    }
}

/// The gateway answered (or its probe did): close an open down window.
pub fn observe_up(h: &mut GatewayHealth, now: DateTime<Utc>) {
    if let Some(from) = h.down_since.take() {
        h.windows.push(DownWindow { from, to: now });
        if h.windows.len() > DOWN_WINDOWS_KEPT {
            h.windows.remove(0);
        }
        log::info!(
            "the gateway answers again (down since {})",
            from.format("%H:%M:%S UTC")
        );
    }
    h.last_up_at = Some(now);
    h.last_error = None;
}

/// The gateway did not answer: open a down window from the last time it did.
pub fn observe_down(h: &mut GatewayHealth, now: DateTime<Utc>, why: &str) {
    if h.down_since.is_none() {
        h.down_since = Some(h.last_up_at.unwrap_or(now));
        log::warn!("the gateway does not answer ({why}); events wait until it does");
    }
    h.last_error = Some(why.to_string());
}

/// Whether `at` falls in a window in which the gateway was down.
pub fn while_down(at: DateTime<Utc>, windows: &[DownWindow]) -> bool {
    windows.iter().any(|w| w.from <= at && at <= w.to)
}

/// What one delivery pass did.
#[derive(Debug, Default)]
pub struct Report {
    pub delivered: u64,
    pub waiting: u64,
    pub failed: Vec<String>,
    /// A configuration problem (401, 404): exit 78 once the pass is saved.
    pub config_error: Option<String>,
}

/// One delivery pass over `new/`.
pub fn pass(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    target: &HookTarget,
    inbox: &Inbox,
    sources: &[SourceSettings],
) -> Result<Report> {
    let now = ctx.now();
    let mut report = Report::default();
    let up = match target.probe() {
        Ok(()) => {
            observe_up(&mut ctx.state.data.delivery.gateway, now);
            true
        }
        Err(why) => {
            observe_down(&mut ctx.state.data.delivery.gateway, now, &why);
            false
        }
    };
    let mut windows = ctx.state.data.delivery.gateway.windows.clone();
    windows.extend(crate::gather::watch_gateway_windows(ctx, now));
    let mut held: HashSet<String> = HashSet::new();
    let mut gateway_up = up;
    let names = inbox.list_new()?;
    ctx.state.data.delivery.pending = names.len() as u64;
    for name in names {
        if ctx.should_stop() {
            break;
        }
        let ev = match inbox.read_new(&name) {
            Ok(ev) => ev,
            Err(e) => {
                let why = format!("unreadable event: {}", common::exit::one_line(&e));
                log::error!("{name}: {why}; moved to rejected/");
                if !ctx.dry_run {
                    inbox.give_up(&name, &why)?;
                }
                continue;
            }
        };
        let key = source_key(&ev);
        if held.contains(&key) {
            report.waiting += 1;
            continue;
        }
        let src = settings_for(cfg, sources, &key);
        let inputs = inputs_for(ctx, cfg, &name, &ev, &src, &windows);
        let decision = decide(&inputs, &cfg.delivery, now);
        match act(
            ctx,
            cfg,
            target,
            inbox,
            (&name, &ev, &src),
            decision,
            &mut gateway_up,
            &mut report,
        )? {
            Step::Next => {}
            Step::Hold => {
                held.insert(key);
            }
            Step::Stop => break,
        }
    }
    let d = &mut ctx.state.data.delivery;
    d.waiting = report.waiting;
    d.blocked = d.in_flight.len() as u64;
    d.pending = inbox
        .list_new()
        .map(|n| n.len() as u64)
        .unwrap_or(d.pending);
    ctx.checkpoint()?;
    Ok(report)
}

fn settings_for<'a>(
    cfg: &'a Config,
    sources: &[SourceSettings<'a>],
    key: &str,
) -> SourceSettings<'a> {
    sources
        .iter()
        .find(|s| s.key == key)
        .cloned()
        .unwrap_or(SourceSettings {
            key: key.to_string(),
            name: key.to_string(),
            mode: cfg.delivery.mode,
            bare_commands: false,
            reply: None,
            session_key: None,
            expect_reply: false,
            is_channel: key.contains('/'),
        })
}

fn inputs_for(
    ctx: &Ctx<Data>,
    cfg: &Config,
    name: &str,
    ev: &Event,
    src: &SourceSettings,
    windows: &[DownWindow],
) -> Inputs {
    let d = &ctx.state.data.delivery;
    let at = version_time(ev);
    Inputs {
        mode: src.mode,
        at,
        written_at: ev.received_at,
        kind_delivered: cfg.delivery.kinds.iter().any(|k| k == ev.event.as_str()),
        gateway_command: is_gateway_command(&ev.text),
        last_reply_at: ctx
            .state
            .data
            .conversations
            .get(&src.key)
            .and_then(|c| c.last_reply_at),
        while_down: while_down(at, windows) || d.gateway.down_since.is_some_and(|from| from <= at),
        retry_at: d.retry.get(name).map(|r| r.next_at),
        effect: ctx.effect_record(&effect_key(name)).map(|r| r.status),
        in_flight: d.in_flight.contains_key(name),
    }
}

fn effect_key(name: &str) -> String {
    format!("deliver/{name}")
}

/// What the pass does after one event.
enum Step {
    Next,
    /// Later events of this chat wait behind it.
    Hold,
    /// Nothing more this pass (gateway down, configuration).
    Stop,
}

#[allow(clippy::too_many_arguments)]
fn act(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    target: &HookTarget,
    inbox: &Inbox,
    (name, ev, src): (&str, &Event, &SourceSettings),
    decision: Decision,
    gateway_up: &mut bool,
    report: &mut Report,
) -> Result<Step> {
    let dry = ctx.dry_run;
    match decision {
        Decision::Leave => Ok(Step::Next),
        Decision::Wait(why) => {
            log::debug!("{name}: {why}");
            report.waiting += 1;
            Ok(Step::Hold)
        }
        Decision::Settled => {
            consume(ctx, inbox, name, true)?;
            Ok(Step::Next)
        }
        Decision::AnsweredLive | Decision::NotForAgent(_) if dry => Ok(Step::Next),
        Decision::AnsweredLive => {
            log::debug!("{name}: the agent replied in the chat after it; not delivered");
            ctx.state.data.delivery.answered_live += 1;
            consume(ctx, inbox, name, false)?;
            Ok(Step::Next)
        }
        Decision::NotForAgent(why) => {
            log::debug!("{name}: {why}; not delivered");
            ctx.state.data.delivery.not_for_agent += 1;
            consume(ctx, inbox, name, false)?;
            Ok(Step::Next)
        }
        Decision::Expire(why) => {
            if !dry {
                log::warn!(
                    "{name} ({} in {}): {why}; moved to rejected/",
                    ev.message_id,
                    src.name
                );
                inbox.give_up(name, &why)?;
                ctx.state.data.delivery.expired += 1;
                ctx.state.data.delivery.retry.remove(name);
            }
            Ok(Step::Next)
        }
        Decision::Deliver(_) if !*gateway_up => {
            report.waiting += 1;
            Ok(Step::Stop)
        }
        Decision::Deliver(reason) => deliver_one(
            ctx,
            cfg,
            target,
            inbox,
            (name, ev, src),
            &reason,
            gateway_up,
            report,
        ),
    }
}

/// Move a delivered (or handled) event to `cur/`.
fn consume(ctx: &mut Ctx<Data>, inbox: &Inbox, name: &str, delivered: bool) -> Result<()> {
    if ctx.dry_run {
        return Ok(());
    }
    inbox.consume(name)?;
    let now = ctx.now();
    let d = &mut ctx.state.data.delivery;
    d.in_flight.remove(name);
    d.retry.remove(name);
    if delivered {
        d.delivered += 1;
        d.last_delivery_at = Some(now);
        ctx.metric_add("gateway_delivered", 1);
    }
    Ok(())
}

fn act_of(p: &Posted) -> Act {
    match p {
        Posted::Answer(Answer::Admitted { run_id }) => Act::Done(
            format!("admitted as run {run_id}"),
            Some(serde_json::json!({ "runId": run_id })),
        ),
        Posted::Answer(Answer::Rejected(m) | Answer::NoEndpoint(m) | Answer::GatewayBusy(m)) => {
            Act::NotDone(m.clone())
        }
        Posted::Answer(Answer::Unauthorized) => {
            Act::NotDone("HTTP 401: the hook token was refused".into())
        }
        Posted::Answer(Answer::Retry { reason, .. }) => Act::NotDone(reason.clone()),
        Posted::NotSent(m) => Act::NotDone(m.clone()),
        Posted::MaybeSent(m) => Act::Unsure(m.clone()),
    }
}

#[allow(clippy::too_many_arguments)]
fn deliver_one(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    target: &HookTarget,
    inbox: &Inbox,
    (name, ev, src): (&str, &Event, &SourceSettings),
    reason: &str,
    gateway_up: &mut bool,
    report: &mut Report,
) -> Result<Step> {
    let now = ctx.now();
    let body = match ctx.state.data.delivery.in_flight.get(name) {
        Some(f) => f.body.clone(),
        None => serde_json::to_value(request(name, ev, src, &cfg.delivery, reason))?,
    };
    if !ctx.dry_run {
        ctx.state
            .data
            .delivery
            .in_flight
            .entry(name.to_string())
            .or_insert(InFlight {
                body: body.clone(),
                name: run_name(name),
                first_at: now,
            });
    }
    let run = run_name(name);
    let what = format!(
        "deliver {} {} from {} in {} to the gateway",
        ev.event.as_str(),
        ev.message_id,
        ev.sender.name.as_deref().unwrap_or("?"),
        src.name
    );
    let mut posted: Option<Posted> = None;
    let outcome = ctx
        .effect(effect_key(name), what)
        .retry_failed(true)
        .verify(|_, _| match target.find_run(&run) {
            Ok(Some(found)) => {
                Verified::Happened(format!("found in the gateway's log: {found}"), None)
            }
            Ok(None) => Verified::NotHappened,
            Err(why) => Verified::Unsure(why),
        })
        .run(|_| {
            let p = target.post(&body);
            let a = act_of(&p);
            posted = Some(p);
            a
        })?;
    settle(ctx, cfg, inbox, name, outcome, posted, gateway_up, report)
}

#[allow(clippy::too_many_arguments)]
fn settle(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    inbox: &Inbox,
    name: &str,
    outcome: EffectOutcome,
    posted: Option<Posted>,
    gateway_up: &mut bool,
    report: &mut Report,
) -> Result<Step> {
    let now = ctx.now();
    if outcome.is_done() {
        observe_up(&mut ctx.state.data.delivery.gateway, now);
        consume(ctx, inbox, name, true)?;
        report.delivered += 1;
        ctx.checkpoint()?;
        return Ok(Step::Next);
    }
    let step = match (outcome, posted) {
        (EffectOutcome::Skipped(_), _) => return Ok(Step::Next),
        (EffectOutcome::Blocked(rec), _) => {
            alert_blocked(ctx, name, &rec.result.unwrap_or_default(), report)?;
            return Ok(Step::Hold);
        }
        (EffectOutcome::Ran(_), Some(Posted::MaybeSent(why))) => {
            log::warn!("{name}: no answer from the gateway ({why}); the next pass checks its log");
            report.failed.push(format!("{name}: {why}"));
            return Ok(Step::Hold);
        }
        (_, Some(Posted::Answer(Answer::Rejected(why)))) => {
            log::error!("{name}: the gateway refused it for good ({why}); moved to rejected/");
            inbox.give_up(name, &format!("the gateway refused it: {why}"))?;
            ctx.state.data.delivery.rejected += 1;
            ctx.state.data.delivery.retry.remove(name);
            report
                .failed
                .push(format!("{name}: refused by the gateway: {why}"));
            Step::Next
        }
        (_, Some(Posted::Answer(Answer::Unauthorized | Answer::NoEndpoint(_)))) => {
            report.config_error = Some(posted_reason(ctx, name));
            Step::Stop
        }
        (_, Some(Posted::NotSent(why) | Posted::Answer(Answer::GatewayBusy(why)))) => {
            observe_down(&mut ctx.state.data.delivery.gateway, now, &why);
            *gateway_up = false;
            report.waiting += 1;
            Step::Stop
        }
        (
            _,
            Some(Posted::Answer(Answer::Retry {
                reason,
                retry_after,
                ..
            })),
        ) => {
            retry_later(ctx, cfg, name, &reason, retry_after);
            report.failed.push(format!("{name}: {reason}"));
            Step::Hold
        }
        _ => return Ok(Step::Hold),
    };
    // Provably not admitted: the next attempt builds its request afresh.
    ctx.state.data.delivery.in_flight.remove(name);
    ctx.checkpoint()?;
    Ok(step)
}

/// An unknown outcome that cannot be checked: alert once, never resend by itself.
fn alert_blocked(ctx: &mut Ctx<Data>, name: &str, why: &str, report: &mut Report) -> Result<()> {
    report.failed.push(format!("{name}: outcome unknown"));
    ctx.alert_with_interval(
        &format!("delivery-unknown/{name}"),
        Severity::Warning,
        &format!(
            "poll-teams: the delivery of {name} to the gateway may or may not have happened and cannot be checked ({why}). \
             It is not sent again by itself: check the agent's sessions, then move the file to cur/ (it was delivered) \
             or run `poll-teams redeliver {name}`."
        ),
        Some(std::time::Duration::from_secs(u64::MAX)),
    )?;
    Ok(())
}

/// Not admitted for now (409, 429, 5xx): wait (backoff, at least `Retry-After`).
fn retry_later(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    name: &str,
    reason: &str,
    retry_after: Option<std::time::Duration>,
) {
    let now = ctx.now();
    let d = &mut ctx.state.data.delivery;
    let attempts = d.retry.get(name).map_or(0, |r| r.attempts) + 1;
    let wait = backoff(attempts, retry_after, cfg.delivery.retry_max_secs);
    let next_at = now + Duration::from_std(wait).unwrap_or(Duration::seconds(900));
    log::warn!(
        "{name}: not admitted ({reason}); attempt {attempts}, next at {}",
        next_at.format("%H:%M:%S UTC")
    );
    d.retry.insert(
        name.to_string(),
        RetryState {
            attempts,
            next_at,
            last_error: reason.to_string(),
        },
    );
    d.last_error = Some(reason.to_string());
}

/// The message of a 401/404 answer, for the operator.
fn posted_reason(ctx: &Ctx<Data>, name: &str) -> String {
    let r = ctx
        .effect_record(&effect_key(name))
        .and_then(|r| r.result.clone())
        .unwrap_or_else(|| "the gateway refused the hook request".into());
    format!(
        "{r}: check `hooks.enabled`, `hooks.token` and `hooks.path` in the gateway's config (or poll-teams.delivery.url / token_file)"
    )
}

/// Forget the journal of one event's delivery so the next run delivers it again (operator
/// decision after an unknown outcome). Returns whether there was anything to forget.
pub fn forget(ctx: &mut Ctx<Data>, name: &str) -> bool {
    let had = ctx.forget_effect(&effect_key(name)).is_some();
    let d = &mut ctx.state.data.delivery;
    d.retry.remove(name);
    had | d.in_flight.remove(name).is_some()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn inputs(mode: Mode) -> Inputs {
        Inputs {
            mode,
            at: t("2026-01-01T10:00:00Z"),
            written_at: t("2026-01-01T10:00:05Z"),
            kind_delivered: true,
            gateway_command: false,
            last_reply_at: None,
            while_down: false,
            retry_at: None,
            effect: None,
            in_flight: false,
        }
    }

    #[test]
    fn modes() {
        let cfg = DeliveryConfig::default();
        let now = t("2026-01-01T10:01:00Z");
        assert_eq!(decide(&inputs(Mode::Journal), &cfg, now), Decision::Leave);
        assert!(matches!(
            decide(&inputs(Mode::All), &cfg, now),
            Decision::Deliver(_)
        ));
        assert!(matches!(
            decide(&inputs(Mode::CatchUp), &cfg, now),
            Decision::Wait(_)
        ));
        let later = t("2026-01-01T10:05:00Z");
        assert!(
            matches!(decide(&inputs(Mode::CatchUp), &cfg, later), Decision::Deliver(r) if r.contains("5 min"))
        );
        let mut i = inputs(Mode::CatchUp);
        i.last_reply_at = Some(t("2026-01-01T10:00:30Z"));
        assert_eq!(decide(&i, &cfg, later), Decision::AnsweredLive);
        i.last_reply_at = Some(t("2026-01-01T09:59:00Z"));
        assert!(
            matches!(decide(&i, &cfg, later), Decision::Deliver(_)),
            "a reply before it does not count"
        );
        let mut i = inputs(Mode::CatchUp);
        i.while_down = true;
        assert!(matches!(decide(&i, &cfg, now), Decision::Deliver(r) if r.contains("down")));
    }

    #[test]
    fn journal_and_started_deliveries() {
        let cfg = DeliveryConfig::default();
        let now = t("2026-01-01T10:01:00Z");
        let mut i = inputs(Mode::All);
        i.effect = Some(EffectStatus::Done);
        assert_eq!(decide(&i, &cfg, now), Decision::Settled);
        // Unknown outcome: settled before anything else, even past max age or in journal mode.
        let mut i = inputs(Mode::Journal);
        i.effect = Some(EffectStatus::Unknown);
        assert!(matches!(
            decide(&i, &cfg, t("2026-03-01T00:00:00Z")),
            Decision::Deliver(_)
        ));
        i.retry_at = Some(t("2026-01-01T10:02:00Z"));
        assert!(matches!(decide(&i, &cfg, now), Decision::Wait(_)));
    }

    #[test]
    fn what_is_not_delivered() {
        let cfg = DeliveryConfig::default();
        let now = t("2026-01-01T10:01:00Z");
        let mut i = inputs(Mode::All);
        i.gateway_command = true;
        assert!(matches!(decide(&i, &cfg, now), Decision::NotForAgent(_)));
        let mut i = inputs(Mode::All);
        i.kind_delivered = false;
        assert!(matches!(decide(&i, &cfg, now), Decision::NotForAgent(_)));
        assert!(matches!(
            decide(&inputs(Mode::All), &cfg, t("2026-01-03T00:00:00Z")),
            Decision::Expire(_)
        ));
        let mut i = inputs(Mode::All);
        i.retry_at = Some(t("2026-01-01T10:02:00Z"));
        assert!(matches!(decide(&i, &cfg, now), Decision::Wait(_)));
        assert!(
            is_gateway_command("/stop")
                && is_gateway_command(" /new gpt ")
                && is_gateway_command("/status@bot")
        );
        assert!(!is_gateway_command("/jobs status") && !is_gateway_command("stop the build"));
    }

    #[test]
    fn down_windows() {
        let mut h = GatewayHealth::default();
        observe_up(&mut h, t("2026-01-01T10:00:00Z"));
        observe_down(&mut h, t("2026-01-01T10:00:05Z"), "refused");
        observe_down(&mut h, t("2026-01-01T10:03:00Z"), "refused");
        assert_eq!(
            h.down_since,
            Some(t("2026-01-01T10:00:00Z")),
            "from the last time it answered"
        );
        observe_up(&mut h, t("2026-01-01T10:04:00Z"));
        assert!(h.down_since.is_none());
        assert!(while_down(t("2026-01-01T10:02:00Z"), &h.windows));
        assert!(!while_down(t("2026-01-01T10:05:00Z"), &h.windows));
    }

    #[test]
    fn keys_names_and_text() {
        let file = "20260305T080355.512Z-9f2c0d7e41b85a6c3d2e1f00.json";
        assert_eq!(
            idempotency_key(file),
            "teams:20260305T080355.512Z-9f2c0d7e41b85a6c3d2e1f00"
        );
        assert!(idempotency_key(file).len() <= openclaw::hooks::MAX_IDEMPOTENCY_KEY_CHARS);
        assert_eq!(run_name(file), "Teams message 9f2c0d7e41b85a6c3d2e1f00");
        let ev: Event = serde_json::from_value(serde_json::json!({
            "schema": 1, "event": "message", "chat_id": "19:a@thread.v2", "team_id": null, "channel_id": null,
            "message_id": "1700000000001", "sender": {"id": "x", "name": "Robin Kline", "tier": "trusted"},
            "created": "2026-03-05T08:03:55.512Z", "modified": "2026-03-05T08:03:55.512Z", "edited": null, "deleted": null,
            "content_type": "html", "html": "<p>hi</p>", "text": "hi there", "truncated": false, "original_bytes": 9,
            "mentions": [], "attachments": [], "received_at": "2026-03-05T08:03:56Z"})).unwrap();
        let src = SourceSettings {
            key: "19:a@thread.v2".into(),
            name: "Ops".into(),
            mode: Mode::All,
            bare_commands: false,
            reply: None,
            session_key: None,
            expect_reply: false,
            is_channel: false,
        };
        let r = request(file, &ev, &src, &DeliveryConfig::default(), "new message");
        assert!(r.message.starts_with("Robin Kline (trusted) wrote in the Teams chat \"Ops\" (19:a@thread.v2) at 2026-03-05 08:03:55 UTC:\n\nhi there"), "{}", r.message);
        assert!(!r.deliver && r.channel.is_none());
        assert_eq!(
            request(file, &ev, &src, &DeliveryConfig::default(), "new message"),
            r,
            "stable"
        );
    }
}
