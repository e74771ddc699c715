//! Publishing a report exactly once per period and destination, on the effect journal.
//!
//! Promise: for one period and destination a report is sent at most once unless an operator
//! says `--force`; a report that provably did not arrive is sent again by a later run (a
//! scheduled run also retries the previous periods still unsent, see
//! [`plan::periods_to_retry`]).
//!
//! How: each delivery is the effect `report/<period key>/<destination>`. Before anything
//! leaves the machine the book records the report id and content and the journal records the
//! intent (one checkpoint); after the send the journal records `done`, `failed` (provably not
//! delivered) or `unknown` (a timeout or a cut connection after the request went out, a 502/504,
//! a Graph 500). A run that died between the two leaves `started`, which the runtime turns into
//! `unknown` at the next load. An `unknown` delivery is looked up at the destination where it
//! can be (a directory: is the file there? a Teams chat: is a message with the report id
//! there?) and otherwise never resent blindly. A chat may show a message late, so "not in the
//! chat" counts as "never arrived" only once `settle_secs` have passed since the attempt.
//!
//! Same report, same id: a resend of a delivery that may have arrived sends the very copy
//! sent before, under its id (`Idempotency-Key` for webhooks), so a receiver that
//! de-duplicates drops it; a report whose content changed gets a new revision id.
//!
//! Guardrails: at most `max_publishes_per_day` attempts per destination per local day (forced
//! ones count); after `failure_threshold` failures in a row a destination cools off for
//! `cooloff_secs` (`--force` tries anyway) and an alert says so.

pub mod destination;
pub mod plan;

use crate::config::{Config, DestKind};
use crate::contents::Report;
use crate::data::{Data, Delivery, ReportCopy, delivery_key};
use crate::period::Period;
use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use common::Ctx;
use common::alert::Severity;
use common::effect::{Act, EffectOutcome, EffectRecord, EffectStatus, Verified};
use destination::{Found, Outgoing, Sent, Target};
use plan::{Guard, Payload, Step};
use std::cell::RefCell;

/// One period's report, rendered, ready to publish.
#[derive(Debug, Clone)]
pub struct Edition {
    pub period: Period,
    /// The report; its `report_id` is the period's base id.
    pub report: Report,
    pub markdown: String,
    pub html: String,
    /// sha256 of the content without the id line.
    pub content: String,
}

/// What happened to one delivery in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryResult {
    Sent(String),
    /// Found at the destination after an unknown outcome.
    Confirmed(String),
    AlreadySent,
    /// May have arrived; not sent again (the reason and, when it can work, the `--force` hint).
    Unknown(String),
    Failed(String),
    Capped,
    CoolingOff(DateTime<Utc>),
    DryRun,
    Stopped,
}

impl DeliveryResult {
    pub fn is_bad(&self) -> bool {
        matches!(
            self,
            Self::Unknown(_) | Self::Failed(_) | Self::Capped | Self::CoolingOff(_)
        )
    }
    pub fn is_sent(&self) -> bool {
        matches!(self, Self::Sent(_) | Self::Confirmed(_))
    }
    /// In words, for the run's summary.
    pub fn describe(&self) -> String {
        match self {
            Self::Sent(_) => "sent".into(),
            Self::Confirmed(_) => "confirmed".into(),
            Self::AlreadySent => "already sent".into(),
            Self::Unknown(e) => format!("outcome unknown ({e})"),
            Self::Failed(e) => format!("failed ({e})"),
            Self::Capped => "daily cap reached".into(),
            Self::CoolingOff(u) => format!("cooling off until {}", u.format("%H:%M UTC")),
            Self::DryRun => "dry run".into(),
            Self::Stopped => "not tried (stopping)".into(),
        }
    }
}

/// Resolve every destination before anything is sent: a config mistake stops the run first.
pub fn resolve_targets<'a>(ctx: &Ctx<Data>, cfg: &'a Config) -> Result<Vec<RefCell<Target<'a>>>> {
    cfg.destinations
        .iter()
        .enumerate()
        .map(|(i, d)| destination::resolve(ctx, d, i).map(RefCell::new))
        .collect()
}

/// Bring the book in line with the journal (the runtime's recovery turns `started` into
/// `unknown` at load).
pub fn sync_book(ctx: &mut Ctx<Data>) {
    let effects = &ctx.state.effects;
    for (period, m) in ctx.state.data.deliveries.iter_mut() {
        for (dest, d) in m.iter_mut() {
            if let Some(r) = effects.get(&delivery_key(period, dest))
                && r.status != d.status
            {
                d.status = r.status;
                d.detail = r.result.clone();
                d.at = r.finished_at.or(r.started_at).or(d.at);
            }
        }
    }
}

/// Publish one edition to every destination.
pub fn publish(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    targets: &[RefCell<Target<'_>>],
    ed: &Edition,
    force: bool,
) -> Result<Vec<(String, DeliveryResult)>> {
    let mut out = Vec::new();
    for t in targets {
        let name = t.borrow().dest.name.clone();
        let r = if ctx.should_stop() {
            DeliveryResult::Stopped
        } else {
            publish_to(ctx, cfg, t, ed, force)?
        };
        out.push((name, r));
    }
    Ok(out)
}

/// The facts one delivery needs, named once.
struct Slot<'a> {
    name: &'a str,
    kind: DestKind,
    period_key: String,
    effect_key: String,
    cap: u32,
    day: String,
}

fn publish_to(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    target: &RefCell<Target<'_>>,
    ed: &Edition,
    force: bool,
) -> Result<DeliveryResult> {
    let (dest, can_verify) = {
        let t = target.borrow();
        (t.dest, t.can_verify())
    };
    let now = ctx.now();
    let period_key = ed.period.key();
    let slot = Slot {
        name: &dest.name,
        kind: dest.kind,
        effect_key: delivery_key(&period_key, &dest.name),
        period_key,
        cap: cfg.cap(dest),
        day: now.with_timezone(&cfg.tz()).format("%Y-%m-%d").to_string(),
    };
    // The journal decides; a delivery whose record was pruned keeps the book's status (and
    // without a record to verify against, an unknown one stays blocked).
    let journal = ctx.effect_record(&slot.effect_key).map(|r| r.status);
    let book = ctx
        .state
        .data
        .delivery(&slot.period_key, slot.name)
        .map(|d| d.status);
    let status = journal.or(book);
    let step = plan::step(status, force, can_verify && journal.is_some());
    match step {
        Step::AlreadySent => return Ok(DeliveryResult::AlreadySent),
        Step::Blocked => return blocked(ctx, &slot),
        Step::Send { forget } => {
            if let Some(r) = stopped_by_guard(ctx, &slot, force)? {
                return Ok(r);
            }
            if forget {
                log::warn!(
                    "{}: --force: sending the report for {} again (previous status {})",
                    slot.name,
                    slot.period_key,
                    status.map_or("none", |s| s.as_str())
                );
                ctx.forget_effect(&slot.effect_key);
            }
            prepare(ctx, &slot, ed);
        }
        Step::Verify => {}
    }
    let what = format!("publish report {} to {}", current_id(ctx, &slot), slot.name);
    let settle = Duration::seconds(cfg.settle_secs as i64);
    let mut effect = ctx.effect(slot.effect_key.clone(), what).retry_failed(true);
    if step == Step::Verify {
        effect = effect.verify(|ctx, rec| verify(ctx, target, ed, &slot, rec, settle));
    }
    let out = effect.run(|ctx| act(ctx, target, ed, &slot))?;
    settle_outcome(ctx, cfg, &slot, out)
}

/// The report id the book holds for the slot.
fn current_id(ctx: &Ctx<Data>, slot: &Slot<'_>) -> String {
    ctx.state
        .data
        .delivery(&slot.period_key, slot.name)
        .map(|d| d.report_id.clone())
        .unwrap_or_default()
}

/// An earlier outcome is unknown and the destination cannot be asked.
fn blocked(ctx: &mut Ctx<Data>, slot: &Slot<'_>) -> Result<DeliveryResult> {
    let why = ctx
        .effect_record(&slot.effect_key)
        .and_then(|r| r.result.clone())
        .unwrap_or_else(|| "outcome unknown".into());
    let stats = ctx
        .state
        .data
        .destinations
        .get(slot.name)
        .cloned()
        .unwrap_or_default();
    let hint = plan::force_hint(&stats, slot.cap, &slot.day).unwrap_or_else(|| {
        format!(
            "today's cap of {} attempts is used up: a forced resend can go tomorrow",
            slot.cap
        )
    });
    log::warn!(
        "{}: the report for {} may or may not have been delivered ({why}); not sending it again: check {} and {hint}",
        slot.name,
        slot.period_key,
        slot.name
    );
    let id = current_id(ctx, slot);
    alert_unknown(ctx, slot, &id, &why, Once::IfNew)?;
    Ok(DeliveryResult::Unknown(why))
}

/// The guardrails, with their log line and alert; `None` lets the send go.
fn stopped_by_guard(
    ctx: &mut Ctx<Data>,
    slot: &Slot<'_>,
    force: bool,
) -> Result<Option<DeliveryResult>> {
    let now = ctx.now();
    let stats = ctx
        .state
        .data
        .destinations
        .get(slot.name)
        .cloned()
        .unwrap_or_default();
    match plan::guard(&stats, slot.cap, &slot.day, now, force) {
        Guard::Go => Ok(None),
        Guard::CoolingOff { until, failures } => {
            let hint = plan::force_hint(&stats, slot.cap, &slot.day)
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            log::warn!(
                "{}: cooling off after {failures} failures in a row until {}; not sending {}{hint}",
                slot.name,
                until.format("%Y-%m-%d %H:%M UTC"),
                slot.period_key
            );
            Ok(Some(DeliveryResult::CoolingOff(until)))
        }
        Guard::Capped { cap, day } => {
            let msg = format!(
                "{}: daily cap of {cap} publish(es) reached for {day}; not sending {} (raise `max_per_day` or wait for tomorrow)",
                slot.name, slot.period_key
            );
            ctx.alert(&format!("cap:{}", slot.name), Severity::Warning, &msg)?;
            Ok(Some(DeliveryResult::Capped))
        }
    }
}

/// Choose the report to send, record it in the book (with its copy) and count the attempt.
/// Runs before the journal's intent checkpoint, so both are saved together.
fn prepare(ctx: &mut Ctx<Data>, slot: &Slot<'_>, ed: &Edition) {
    let now = ctx.now();
    let data = &mut ctx.state.data;
    let prev = data.delivery(&slot.period_key, slot.name).cloned();
    let has_copy = prev
        .as_ref()
        .is_some_and(|p| data.copies.contains_key(&p.report_id));
    let exact = slot.kind == DestKind::Directory;
    let choice = plan::payload(
        prev.as_ref(),
        has_copy,
        exact,
        &ed.content,
        &ed.report.report_id,
    );
    let (id, content) = match choice {
        Payload::Copy(id) => {
            let content = data
                .copies
                .get(&id)
                .map(|c| c.content.clone())
                .unwrap_or_default();
            (id, content)
        }
        Payload::Fresh(id) => {
            data.copies.insert(id.clone(), copy_of(ed, &id));
            (id, ed.content.clone())
        }
    };
    data.set_delivery(
        &slot.period_key,
        slot.name,
        Delivery {
            report_id: id,
            content,
            status: EffectStatus::Started,
            attempts: prev.map_or(0, |p| p.attempts) + 1,
            at: Some(now),
            detail: None,
        },
    );
    plan::count_send(
        data.destinations.entry(slot.name.to_string()).or_default(),
        &slot.day,
    );
}

/// The edition as sent under `id` (the id line replaced).
fn copy_of(ed: &Edition, id: &str) -> ReportCopy {
    let from = format!("report-id: {}", ed.report.report_id);
    let to = format!("report-id: {id}");
    ReportCopy {
        period: ed.period.key(),
        content: ed.content.clone(),
        markdown: ed.markdown.replace(&from, &to),
        html: ed.html.replace(&from, &to),
        overall: ed.report.overall.clone(),
        headline: ed.report.headline.clone(),
        generated_at: ed.report.generated_at,
        host: ed.report.host.clone(),
    }
}

/// Send the copy the book names; after an ambiguous answer, look at once.
fn act(ctx: &mut Ctx<Data>, target: &RefCell<Target<'_>>, ed: &Edition, slot: &Slot<'_>) -> Act {
    let id = current_id(ctx, slot);
    let Some(copy) = ctx.state.data.copies.get(&id).cloned() else {
        return Act::NotDone(format!("no report recorded for {id}"));
    };
    let json = (slot.kind == DestKind::Directory).then(|| {
        let mut r = ed.report.clone();
        r.report_id = id.clone();
        crate::render::json(&r).unwrap_or_default()
    });
    let out = Outgoing {
        report_id: &id,
        period_id: &ed.period.id,
        period_kind: ed.period.kind.as_str(),
        markdown: &copy.markdown,
        html: &copy.html,
        overall: &copy.overall,
        headline: &copy.headline,
        generated_at: copy.generated_at,
        host: &copy.host,
        json: json.as_deref(),
    };
    let started = ctx.now();
    let mut t = target.borrow_mut();
    let value = |msg: &str| serde_json::json!({"report_id": id, "message_id": msg});
    match destination::send(&mut t, &out) {
        Sent::Ok(m) => Act::Done(m.clone(), Some(value(&m))),
        Sent::NotDelivered(e) => Act::NotDone(e),
        Sent::Ambiguous(e) => match destination::look_for(&mut t, &id, started) {
            Found::Yes(m) => Act::Done(m.clone(), Some(value(&m))),
            Found::No { exact: true } => Act::NotDone(e),
            Found::No { exact: false } => Act::Unsure(format!(
                "{e}; not in the chat yet (looked right away; later runs look again)"
            )),
            Found::CannotCheck(why) => Act::Unsure(format!("{e}; {why}")),
        },
    }
}

/// Ask the destination about an unknown delivery; when it provably did not arrive (and the
/// guardrails allow), prepare the resend.
fn verify(
    ctx: &mut Ctx<Data>,
    target: &RefCell<Target<'_>>,
    ed: &Edition,
    slot: &Slot<'_>,
    rec: &EffectRecord,
    settle: Duration,
) -> Verified {
    let id = current_id(ctx, slot);
    let since = rec.started_at.unwrap_or(rec.first_at);
    let age = ctx.now() - since;
    let found = destination::look_for(&mut target.borrow_mut(), &id, since);
    match found {
        Found::Yes(m) => {
            let v = serde_json::json!({"report_id": id, "message_id": m});
            return Verified::Happened(m, Some(v));
        }
        Found::No { exact: true } => log::info!(
            "{}: an interrupted run left {} unfinished; the report is not at the destination, sending it now",
            slot.name,
            slot.period_key
        ),
        Found::No { exact: false } if age >= settle => log::warn!(
            "{}: the report {id} for {} is not in the chat {} min after the attempt; sending it again",
            slot.name,
            slot.period_key,
            age.num_minutes()
        ),
        Found::No { exact: false } => {
            return Verified::Unsure(format!(
                "not in the chat yet; looked again {} s after the attempt (settles after {} s)",
                age.num_seconds(),
                settle.num_seconds()
            ));
        }
        Found::CannotCheck(why) => return Verified::Unsure(why),
    }
    match stopped_by_guard(ctx, slot, false) {
        Ok(None) => {
            prepare(ctx, slot, ed);
            Verified::NotHappened
        }
        Ok(Some(r)) => Verified::Unsure(format!(
            "not at the destination; not sent again now: {}",
            r.describe()
        )),
        Err(e) => Verified::Unsure(common::exit::one_line(&e)),
    }
}

/// Record what the journal decided: the book, the guardrail counters, alerts.
fn settle_outcome(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    slot: &Slot<'_>,
    out: EffectOutcome,
) -> Result<DeliveryResult> {
    let (rec, ran) = match out {
        EffectOutcome::Skipped(_) => return Ok(DeliveryResult::DryRun),
        EffectOutcome::Ran(r) => (r, true),
        EffectOutcome::AlreadyDone(r)
        | EffectOutcome::Blocked(r)
        | EffectOutcome::FailedBefore(r) => (r, false),
    };
    let detail = rec.result.clone().unwrap_or_default();
    update_book(ctx, slot, &rec);
    let id = current_id(ctx, slot);
    let result = match (rec.status, ran) {
        (EffectStatus::Done, true) => {
            log::info!("published {} to {}: {detail}", slot.period_key, slot.name);
            ctx.metric_add("published", 1);
            DeliveryResult::Sent(detail)
        }
        (EffectStatus::Done, false) => {
            log::warn!(
                "{}: the report for {} was already there ({detail}) after an interrupted run; recorded it as sent",
                slot.name,
                slot.period_key
            );
            DeliveryResult::Confirmed(detail)
        }
        (EffectStatus::Failed, _) => {
            log::error!(
                "{}: publishing {} failed: {detail}",
                slot.name,
                slot.period_key
            );
            failure(ctx, cfg, slot, &detail)?;
            DeliveryResult::Failed(detail)
        }
        (_, true) => {
            ctx.metric_add("publish_unknown", 1);
            failure(ctx, cfg, slot, &detail)?;
            alert_unknown(ctx, slot, &id, &detail, Once::Always)?;
            DeliveryResult::Unknown(detail)
        }
        (_, false) => {
            log::warn!(
                "{}: the report for {} may or may not have been delivered ({detail}); not sending it again yet",
                slot.name,
                slot.period_key
            );
            alert_unknown(ctx, slot, &id, &detail, Once::IfNew)?;
            DeliveryResult::Unknown(detail)
        }
    };
    if result.is_sent() {
        plan::count_success(
            ctx.state
                .data
                .destinations
                .entry(slot.name.to_string())
                .or_default(),
        );
    }
    ctx.checkpoint()?;
    Ok(result)
}

fn update_book(ctx: &mut Ctx<Data>, slot: &Slot<'_>, rec: &EffectRecord) {
    if let Some(d) = ctx
        .state
        .data
        .deliveries
        .get_mut(&slot.period_key)
        .and_then(|m| m.get_mut(slot.name))
    {
        d.status = rec.status;
        d.detail = rec.result.clone();
        d.at = rec.finished_at.or(d.at);
    }
}

/// A failed or unknown send: count it; at the threshold start the cool-off and alert.
fn failure(ctx: &mut Ctx<Data>, cfg: &Config, slot: &Slot<'_>, error: &str) -> Result<()> {
    ctx.metric_add("publish_failures", 1);
    let now = ctx.now();
    let cooloff = Duration::seconds(cfg.cooloff_secs as i64);
    let stats = ctx
        .state
        .data
        .destinations
        .entry(slot.name.to_string())
        .or_default();
    let Some(until) = plan::count_failure(
        stats,
        &crate::text::clean(error, 300),
        cfg.failure_threshold,
        cooloff,
        now,
    ) else {
        return Ok(());
    };
    let n = stats.consecutive_failures;
    let hint = plan::force_hint(stats, slot.cap, &slot.day)
        .map(|h| format!("; to try before then, {h}"))
        .unwrap_or_default();
    let msg = format!(
        "destination {} failed {n} times in a row (last: {}); skipping it until {}{hint}",
        slot.name,
        crate::text::clean(error, 300),
        until.format("%Y-%m-%d %H:%M UTC")
    );
    ctx.checkpoint()?;
    ctx.alert(&format!("cooloff:{}", slot.name), Severity::Warning, &msg)?;
    Ok(())
}

/// When an `unknown` alert is raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Once {
    /// A send of this run ended unknown: always.
    Always,
    /// An unknown outcome found later (a run died while sending): once per period and
    /// destination.
    IfNew,
}

fn alert_unknown(
    ctx: &mut Ctx<Data>,
    slot: &Slot<'_>,
    id: &str,
    why: &str,
    when: Once,
) -> Result<()> {
    let key = format!("unknown:{}:{}", slot.name, slot.period_key);
    if when == Once::IfNew
        && ctx
            .effect_record(&common::alert::effect_key(&key))
            .is_some()
    {
        return Ok(());
    }
    let stats = ctx
        .state
        .data
        .destinations
        .get(slot.name)
        .cloned()
        .unwrap_or_default();
    let next = match (slot.kind, plan::force_hint(&stats, slot.cap, &slot.day)) {
        (DestKind::Teams, _) => "publish-report looks for it in the chat again on its next runs and sends it again only once it is sure it never arrived".to_string(),
        (_, Some(h)) => format!("it will not be sent again unless publish-report is run with --force (the resend carries the same report id, so a receiver that de-duplicates drops it): {h}"),
        (_, None) => format!("it will not be sent again unless publish-report is run with --force, which today's cap of {} attempts allows only from tomorrow", slot.cap),
    };
    let msg = format!(
        "the report {} may or may not have reached {} ({}); look for `report-id: {id}` there. {next}",
        slot.period_key,
        slot.name,
        crate::text::clean(why, 300)
    );
    ctx.alert_with_interval(
        &key,
        Severity::Warning,
        &msg,
        Some(std::time::Duration::ZERO),
    )?;
    Ok(())
}

/// The run's outcome kind and summary over every period and destination.
pub fn summarise(
    results: &[(String, String, DeliveryResult)],
    current: &str,
) -> (common::OutcomeKind, String, Option<String>) {
    if results.is_empty() {
        return (
            common::OutcomeKind::Ok,
            "no destinations configured".into(),
            None,
        );
    }
    let label = |p: &str, d: &str| {
        if p == current {
            d.to_string()
        } else {
            format!("{p} {d}")
        }
    };
    let all: Vec<String> = results
        .iter()
        .map(|(p, d, r)| format!("{}: {}", label(p, d), r.describe()))
        .collect();
    let bad: Vec<String> = results
        .iter()
        .filter(|(_, _, r)| r.is_bad())
        .map(|(p, d, r)| format!("{}: {}", label(p, d), r.describe()))
        .collect();
    let summary = all.join("; ");
    if !bad.is_empty() {
        (common::OutcomeKind::Failed, summary, Some(bad.join("; ")))
    } else if results.iter().any(|(_, _, r)| r.is_sent()) {
        (common::OutcomeKind::Ok, summary, None)
    } else {
        (common::OutcomeKind::Noop, summary, None)
    }
}
