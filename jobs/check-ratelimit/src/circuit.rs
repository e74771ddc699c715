//! The circuit breaker: closed → open when enough rate-limit matches fall in the window, open →
//! closed when the limit has reset; an incident per opening, with its side effects (`on_open` /
//! `on_close` commands and alerts) executed exactly once.
//!
//! Exactly once: each side effect is an [`Action`] stored in state. Before it runs its status
//! becomes `started` and the state is checkpointed; after, `done`/`failed` with the result. A run
//! that finds an action still `started` (the previous run died during it) marks it `unknown` and
//! does not repeat it. `state/circuit.json` (read by the other jobs) mirrors the incident and is
//! written only through `common::control`.

use crate::rules::Kind;
use anyhow::Result;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use common::control::{Circuit, CircuitState, read_circuit, write_circuit};
use common::{Ctx, Severity};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::Path;

/// Matches kept for the window (the oldest are dropped beyond this).
pub const RECENT_MAX: usize = 1000;

/// The job's state (`data` in `state/check-ratelimit.json`).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Data {
    /// Set after the first run: from then on new files are read from their start.
    pub initialized: bool,
    pub cursors: Vec<crate::files::Cursor>,
    pub command: Option<crate::command::CommandCursor>,
    /// Matches inside the window (bounded).
    pub recent: VecDeque<Match>,
    pub last_match_at: Option<DateTime<Utc>>,
    /// End of the last incident: matches up to this time never count again.
    pub closed_at: Option<DateTime<Utc>>,
    pub incident: Option<Incident>,
    /// Closed incidents, newest last (bounded by `history_len`).
    pub history: VecDeque<IncidentRecord>,
}

/// One matched line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Match {
    pub at: DateTime<Utc>,
    pub kind: Kind,
    pub source: String,
    pub excerpt: String,
    #[serde(default)]
    pub reset_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub reset_source: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Open,
    Closing,
}

/// An open circuit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    /// `rate_limit`, `quota` (closed only by a human) or `manual`.
    pub kind: String,
    /// `auto` or `operator`.
    pub opened_by: String,
    pub phase: Phase,
    pub started_at: DateTime<Utc>,
    pub reason: String,
    pub matches: u64,
    #[serde(default)]
    pub quota_matches: u64,
    pub first_match_at: Option<DateTime<Utc>>,
    pub last_match_at: Option<DateTime<Utc>>,
    /// Latest reset announced by the gateway or provider.
    pub hint_at: Option<DateTime<Utc>>,
    pub hint_source: Option<String>,
    /// When the circuit is expected to close, and why then.
    pub reset_at: Option<DateTime<Utc>>,
    pub reset_source: Option<String>,
    pub example: Option<String>,
    pub last_reminder_at: Option<DateTime<Utc>>,
    pub close_reason: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub actions: Vec<Action>,
}

/// A side effect of an incident.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Action {
    pub name: String,
    pub phase: Phase,
    pub work: Work,
    pub status: Status,
    pub at: Option<DateTime<Utc>>,
    pub result: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Work {
    Command { argv: Vec<String> },
    Alert { topic: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Started,
    Done,
    Failed,
    /// The run died while it was under way: it may or may not have happened; not repeated.
    Unknown,
    /// Not done: planned maintenance.
    Suppressed,
}

/// A closed incident, for publish-report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IncidentRecord {
    pub id: String,
    pub kind: String,
    pub opened_by: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub duration_secs: i64,
    pub matches: u64,
    pub reset_source: Option<String>,
    pub reason: String,
    pub close_reason: String,
}

/// `state/maintenance.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Maintenance {
    pub until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// The maintenance window in force at `now`, if any. An unreadable file is reported and ignored
/// (alerts keep flowing rather than being silenced by a typo).
pub fn maintenance(state_dir: &Path, now: DateTime<Utc>) -> Option<Maintenance> {
    let p = state_dir.join("maintenance.json");
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            log::warn!("cannot read {}: {e}; ignoring it", p.display());
            return None;
        }
    };
    match serde_json::from_slice::<Maintenance>(&bytes) {
        Ok(m) if m.until.is_some_and(|u| u > now) => Some(m),
        Ok(_) => None,
        Err(e) => {
            log::warn!(
                "{} does not parse ({e}); expected {{\"until\": \"2026-03-05T18:00:00Z\", \"reason\": \"…\"}}; ignoring it, alerts are not suppressed",
                p.display()
            );
            None
        }
    }
}

/// `2h31m`, `45m`, `30s`.
pub fn human(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    let (h, m) = (s / 3600, (s % 3600) / 60);
    if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{s}s")
    }
}

pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Settings the state machine needs.
#[derive(Debug, Clone)]
pub struct Policy {
    pub threshold: u32,
    pub quota_threshold: u32,
    pub window: Duration,
    pub cool_off: Duration,
    pub reminder: Option<Duration>,
    pub on_open: Vec<Vec<String>>,
    pub on_close: Vec<Vec<String>>,
    pub hook_timeout: std::time::Duration,
    pub history_len: usize,
}

impl Data {
    /// Record a new match (clamped to `now`), feeding the open incident.
    pub fn absorb(&mut self, m: Match) {
        if let Some(c) = self.closed_at
            && m.at <= c
        {
            return;
        }
        self.last_match_at = Some(self.last_match_at.map_or(m.at, |l| l.max(m.at)));
        if let Some(inc) = self.incident.as_mut()
            && inc.phase == Phase::Open
        {
            inc.matches += 1;
            if m.kind == Kind::Quota {
                inc.quota_matches += 1;
            }
            inc.first_match_at = Some(inc.first_match_at.map_or(m.at, |f| f.min(m.at)));
            inc.last_match_at = Some(inc.last_match_at.map_or(m.at, |l| l.max(m.at)));
            if let Some(r) = m.reset_at
                && inc.hint_at.is_none_or(|h| r > h)
            {
                inc.hint_at = Some(r);
                inc.hint_source = m.reset_source.clone();
            }
        }
        self.recent.push_back(m);
        while self.recent.len() > RECENT_MAX {
            self.recent.pop_front();
        }
    }

    /// Drop matches older than the window.
    pub fn prune(&mut self, now: DateTime<Utc>, window: Duration) {
        self.recent.retain(|m| m.at >= now - window);
    }

    /// Matches in `[now - window, now]` after the last close: (rate-limit, quota).
    pub fn window_counts(&self, now: DateTime<Utc>, window: Duration) -> (u32, u32) {
        let mut rl = 0;
        let mut q = 0;
        for m in self.in_window(now, window) {
            match m.kind {
                Kind::RateLimit => rl += 1,
                Kind::Quota => q += 1,
            }
        }
        (rl, q)
    }

    fn in_window(&self, now: DateTime<Utc>, window: Duration) -> impl Iterator<Item = &Match> {
        let closed = self.closed_at;
        self.recent
            .iter()
            .filter(move |m| m.at >= now - window && m.at <= now && closed.is_none_or(|c| m.at > c))
    }
}

fn new_incident(
    ctx_run_id: &str,
    kind: &str,
    opened_by: &str,
    reason: String,
    now: DateTime<Utc>,
    p: &Policy,
) -> Incident {
    let mut actions = Vec::new();
    for (i, argv) in p.on_open.iter().enumerate() {
        actions.push(Action {
            name: format!("on_open[{i}]"),
            phase: Phase::Open,
            work: Work::Command { argv: argv.clone() },
            status: Status::Pending,
            at: None,
            result: None,
        });
    }
    actions.push(alert_action("open", Phase::Open));
    Incident {
        id: format!("{}-{}", now.format("%Y%m%dT%H%M%SZ"), ctx_run_id),
        kind: kind.into(),
        opened_by: opened_by.into(),
        phase: Phase::Open,
        started_at: now,
        reason,
        matches: 0,
        quota_matches: 0,
        first_match_at: None,
        last_match_at: None,
        hint_at: None,
        hint_source: None,
        reset_at: None,
        reset_source: None,
        example: None,
        last_reminder_at: None,
        close_reason: None,
        closed_at: None,
        actions,
    }
}

fn alert_action(topic: &str, phase: Phase) -> Action {
    Action {
        name: format!("alert {topic}"),
        phase,
        work: Work::Alert {
            topic: topic.into(),
        },
        status: Status::Pending,
        at: None,
        result: None,
    }
}

/// Start closing an incident: planned `on_close` commands and the closing alert.
fn begin_close(inc: &mut Incident, reason: String, now: DateTime<Utc>, p: &Policy) {
    inc.phase = Phase::Closing;
    inc.close_reason = Some(reason);
    inc.closed_at = Some(now);
    for (i, argv) in p.on_close.iter().enumerate() {
        inc.actions.push(Action {
            name: format!("on_close[{i}]"),
            phase: Phase::Closing,
            work: Work::Command { argv: argv.clone() },
            status: Status::Pending,
            at: None,
            result: None,
        });
    }
    inc.actions.push(alert_action("close", Phase::Closing));
}

/// Expected reset: the gateway's own reset time if it is not older than the last match,
/// else the cool-off after the last match.
fn update_reset(inc: &mut Incident, file_hint: Option<DateTime<Utc>>, p: &Policy) {
    if let Some(h) = file_hint
        && inc.hint_at.is_none_or(|x| h > x)
    {
        inc.hint_at = Some(h);
        inc.hint_source = Some("auth-profiles cooldownUntil".into());
    }
    let last = inc.last_match_at.unwrap_or(inc.started_at);
    match (inc.hint_at, &inc.hint_source) {
        (Some(h), Some(src)) if h >= last => {
            inc.reset_at = Some(h);
            inc.reset_source = Some(src.clone());
        }
        _ => {
            inc.reset_at = Some(last + p.cool_off);
            inc.reset_source = Some("cool-off".into());
        }
    }
}

/// Mark actions left `started` by a killed run as `unknown` (never repeated).
pub fn recover(data: &mut Data) {
    if let Some(inc) = data.incident.as_mut() {
        for a in inc
            .actions
            .iter_mut()
            .filter(|a| a.status == Status::Started)
        {
            a.status = Status::Unknown;
            a.result = Some(
                "outcome unknown: the run stopped while it was under way; not repeated".into(),
            );
            log::warn!(
                "incident {}: {} ({}) was interrupted; its outcome is unknown and it is not repeated: check by hand",
                inc.id,
                a.name,
                describe(&a.work)
            );
        }
    }
}

fn describe(w: &Work) -> String {
    match w {
        Work::Command { argv } => format!("`{}`", argv.join(" ")),
        Work::Alert { topic } => format!("{topic} alert"),
    }
}

/// What a scheduled run decided.
#[derive(Debug, Default)]
pub struct Decision {
    pub notes: Vec<String>,
    pub changed: bool,
}

/// The scheduled-run state machine. `file_hint`: the latest future `cooldownUntil` from the
/// gateway's cooldown files.
pub fn evaluate(
    ctx: &mut Ctx<Data>,
    p: &Policy,
    now: DateTime<Utc>,
    file_hint: Option<DateTime<Utc>>,
    maint: Option<&Maintenance>,
) -> Result<Decision> {
    let mut d = Decision::default();
    let run_id = ctx.run_id.clone();
    let data = &mut ctx.state.data;
    if data.incident.is_none() {
        let (rl, q) = data.window_counts(now, p.window);
        let kind = if q >= p.quota_threshold {
            Some(Kind::Quota)
        } else if rl + q >= p.threshold {
            Some(Kind::RateLimit)
        } else {
            None
        };
        if let Some(kind) = kind {
            let win: Vec<Match> = data.in_window(now, p.window).cloned().collect();
            let reason = match kind {
                Kind::Quota => format!(
                    "quota or billing exhausted: {q} match(es) in the last {}",
                    human(p.window)
                ),
                Kind::RateLimit => format!(
                    "{} rate-limit matches in the last {} (threshold {})",
                    rl + q,
                    human(p.window),
                    p.threshold
                ),
            };
            let mut inc = new_incident(&run_id, kind.as_str(), "auto", reason, now, p);
            for m in &win {
                inc.matches += 1;
                if m.kind == Kind::Quota {
                    inc.quota_matches += 1;
                }
                inc.first_match_at = Some(inc.first_match_at.map_or(m.at, |f| f.min(m.at)));
                inc.last_match_at = Some(inc.last_match_at.map_or(m.at, |l| l.max(m.at)));
                if let Some(r) = m.reset_at
                    && inc.hint_at.is_none_or(|h| r > h)
                {
                    inc.hint_at = Some(r);
                    inc.hint_source = m.reset_source.clone();
                }
            }
            inc.example = win
                .iter()
                .rev()
                .find(|m| m.kind == kind)
                .map(|m| m.excerpt.clone());
            update_reset(&mut inc, file_hint, p);
            d.notes.push(format!("circuit opened: {}", inc.reason));
            log::info!("opening the circuit (incident {}): {}", inc.id, inc.reason);
            data.incident = Some(inc);
            d.changed = true;
        }
    } else if let Some(inc) = data.incident.as_mut()
        && inc.phase == Phase::Open
    {
        if inc.kind == "rate_limit" && inc.quota_matches > 0 {
            inc.kind = "quota".into();
            inc.reason = format!("{}; then quota or billing exhausted", inc.reason);
            inc.actions.push(alert_action("quota", Phase::Open));
            d.notes.push("circuit escalated to quota".into());
            d.changed = true;
        }
        let before = (inc.reset_at, inc.matches);
        update_reset(inc, file_hint, p);
        if (inc.reset_at, inc.matches) != before {
            d.changed = true;
        }
        if inc.kind == "rate_limit"
            && let Some(r) = inc.reset_at
            && now >= r
        {
            let src = inc.reset_source.clone().unwrap_or_default();
            begin_close(
                inc,
                format!("recovered: reset time {} ({src}) passed", ts(r)),
                now,
                p,
            );
            d.notes.push("circuit closed".into());
            d.changed = true;
        } else if let Some(every) = p.reminder
            && now - inc.last_reminder_at.unwrap_or(inc.started_at) >= every
        {
            inc.last_reminder_at = Some(now);
            inc.actions.push(alert_action("reminder", Phase::Open));
            d.changed = true;
        }
    }
    drive(ctx, p, now, maint)?;
    Ok(d)
}

/// Manual `open --reason`.
pub fn manual_open(
    ctx: &mut Ctx<Data>,
    p: &Policy,
    now: DateTime<Utc>,
    reason: &str,
    maint: Option<&Maintenance>,
) -> Result<String> {
    let run_id = ctx.run_id.clone();
    let data = &mut ctx.state.data;
    if let Some(inc) = &data.incident
        && inc.phase == Phase::Open
    {
        return Ok(format!(
            "the circuit is already open (incident {}, {} since {}): {}",
            inc.id,
            inc.kind,
            ts(inc.started_at),
            inc.reason
        ));
    }
    if data
        .incident
        .as_ref()
        .is_some_and(|i| i.phase == Phase::Closing)
    {
        // An interrupted close: finish it before opening a new incident.
        drive(ctx, p, now, maint)?;
    }
    let data = &mut ctx.state.data;
    if data.incident.is_none() {
        let inc = new_incident(
            &run_id,
            "manual",
            "operator",
            format!("opened by operator: {reason}"),
            now,
            p,
        );
        data.incident = Some(inc);
    }
    drive(ctx, p, now, maint)?;
    let data = &mut ctx.state.data;
    Ok(match &data.incident {
        Some(inc) => format!(
            "circuit opened (incident {}); it stays open until `check-ratelimit close`",
            inc.id
        ),
        None => "circuit state unchanged".into(),
    })
}

/// Manual `close`.
pub fn manual_close(
    ctx: &mut Ctx<Data>,
    p: &Policy,
    now: DateTime<Utc>,
    maint: Option<&Maintenance>,
) -> Result<String> {
    let data = &mut ctx.state.data;
    let Some(inc) = data.incident.as_mut() else {
        drive(ctx, p, now, maint)?;
        return Ok("the circuit is already closed".into());
    };
    let id = inc.id.clone();
    let took = human(now - inc.started_at);
    if inc.phase == Phase::Open {
        begin_close(inc, "closed by operator".into(), now, p);
    }
    drive(ctx, p, now, maint)?;
    Ok(format!("circuit closed (incident {id}, open for {took})"))
}

/// Mirror the incident to circuit.json, run pending actions, finish a closing incident.
fn drive(
    ctx: &mut Ctx<Data>,
    p: &Policy,
    now: DateTime<Utc>,
    maint: Option<&Maintenance>,
) -> Result<()> {
    // Intent first: the incident and its planned actions are in state before anything happens.
    let pending = ctx.state.data.incident.as_ref().is_some_and(|i| {
        i.phase == Phase::Closing || i.actions.iter().any(|a| a.status == Status::Pending)
    });
    if pending {
        ctx.checkpoint()?;
    }
    sync_circuit(ctx, now)?;
    let dry = ctx.dry_run;
    loop {
        let data = &mut ctx.state.data;
        let Some(inc) = data.incident.as_mut() else {
            break;
        };
        let Some(i) = inc.actions.iter().position(|a| a.status == Status::Pending) else {
            break;
        };
        let work = inc.actions[i].work.clone();
        let name = inc.actions[i].name.clone();
        if dry {
            log::warn!("dry run: would run {name}: {}", describe(&work));
            inc.actions[i].status = Status::Suppressed;
            inc.actions[i].result = Some("dry run".into());
            continue;
        }
        if let Some(m) = maint {
            let why = format!(
                "suppressed: maintenance until {}{}",
                m.until.map(ts).unwrap_or_default(),
                m.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
            log::info!("incident {}: {name} {why}", inc.id);
            inc.actions[i].status = Status::Suppressed;
            inc.actions[i].at = Some(now);
            inc.actions[i].result = Some(why);
            ctx.checkpoint()?;
            continue;
        }
        inc.actions[i].status = Status::Started;
        inc.actions[i].at = Some(Utc::now());
        let text = match &work {
            Work::Alert { topic } => Some(alert_text(inc, topic, now)),
            Work::Command { .. } => None,
        };
        let inc_id = inc.id.clone();
        let severity = alert_severity(inc, &work);
        ctx.checkpoint()?;
        let (status, result) = match &work {
            Work::Command { argv } => {
                let env = [
                    ("AGENT_JOBS_INCIDENT_ID", inc_id.clone()),
                    ("AGENT_JOBS_CIRCUIT_ACTION", name.clone()),
                ];
                match common::cmd::run(argv, p.hook_timeout, None, &env) {
                    Ok(o) if o.success() => (Status::Done, o.describe()),
                    Ok(o) => {
                        log::error!(
                            "incident {inc_id}: {name} `{}` {}",
                            argv.join(" "),
                            o.describe()
                        );
                        (Status::Failed, o.describe())
                    }
                    Err(e) => {
                        let msg = common::exit::one_line(&e);
                        log::error!("incident {inc_id}: {name}: {msg}");
                        (Status::Failed, msg)
                    }
                }
            }
            Work::Alert { topic } => {
                let key = format!("circuit-{topic}");
                let text = text.unwrap_or_default();
                match ctx.alert_with_interval(
                    &key,
                    severity,
                    &text,
                    Some(std::time::Duration::ZERO),
                )? {
                    common::Delivery::Sent => (Status::Done, "sent".to_string()),
                    common::Delivery::Failed(why) => (Status::Failed, why),
                    other => (Status::Done, format!("{other:?}").to_lowercase()),
                }
            }
        };
        let data = &mut ctx.state.data;
        if let Some(inc) = data.incident.as_mut()
            && let Some(a) = inc.actions.get_mut(i)
        {
            a.status = status;
            a.result = Some(result);
        }
        ctx.checkpoint()?;
    }
    // A closing incident whose actions are all settled goes to history.
    let data = &mut ctx.state.data;
    if let Some(inc) = &data.incident
        && inc.phase == Phase::Closing
        && inc
            .actions
            .iter()
            .all(|a| a.status != Status::Pending && a.status != Status::Started)
    {
        let ended = inc.closed_at.unwrap_or(now);
        data.history.push_back(IncidentRecord {
            id: inc.id.clone(),
            kind: inc.kind.clone(),
            opened_by: inc.opened_by.clone(),
            started_at: inc.started_at,
            ended_at: ended,
            duration_secs: (ended - inc.started_at).num_seconds(),
            matches: inc.matches,
            reset_source: inc.reset_source.clone(),
            reason: inc.reason.clone(),
            close_reason: inc.close_reason.clone().unwrap_or_default(),
        });
        while data.history.len() > p.history_len {
            data.history.pop_front();
        }
        data.closed_at = Some(ended.max(data.last_match_at.unwrap_or(ended)));
        data.recent.clear();
        data.incident = None;
        ctx.checkpoint()?;
        sync_circuit(ctx, now)?;
    }
    Ok(())
}

fn alert_severity(inc: &Incident, w: &Work) -> Severity {
    match w {
        Work::Alert { topic } if topic == "close" => Severity::Info,
        _ if inc.kind == "quota" => Severity::Critical,
        _ => Severity::Warning,
    }
}

fn hooks_summary(inc: &Incident, phase: Phase) -> String {
    let parts: Vec<String> = inc
        .actions
        .iter()
        .filter(|a| a.phase == phase && matches!(a.work, Work::Command { .. }))
        .map(|a| {
            format!(
                "{} {}: {}{}",
                a.name,
                describe(&a.work),
                format!("{:?}", a.status).to_lowercase(),
                a.result
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            )
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" Hooks: {}.", parts.join("; "))
    }
}

fn alert_text(inc: &Incident, topic: &str, now: DateTime<Utc>) -> String {
    let seen = match (inc.first_match_at, inc.last_match_at) {
        (Some(f), Some(l)) => format!(
            " {} match(es) between {} and {}.",
            inc.matches,
            ts(f),
            ts(l)
        ),
        _ => String::new(),
    };
    let example = inc
        .example
        .as_deref()
        .map(|e| format!(" Example: \"{e}\"."))
        .unwrap_or_default();
    let reset = match (inc.reset_at, inc.reset_source.as_deref()) {
        (Some(r), Some("cool-off")) => format!(
            " Expected to close at {} at the earliest ({} without new matches).",
            ts(r),
            "cool-off"
        ),
        (Some(r), Some(src)) => format!(" Limit expected to reset at {} (from {src}).", ts(r)),
        _ => String::new(),
    };
    match (topic, inc.kind.as_str()) {
        ("open", "manual") => format!(
            "Circuit opened by the operator (incident {}): {}. It stays open until `check-ratelimit close`.{}",
            inc.id,
            inc.reason,
            hooks_summary(inc, Phase::Open)
        ),
        ("open" | "quota", "quota") => format!(
            "Model provider quota or billing exhausted: circuit open (incident {}). This does not reset by itself: fix the plan or billing, then run `check-ratelimit close`.{seen}{example}{}",
            inc.id,
            hooks_summary(inc, Phase::Open)
        ),
        ("open", _) => format!(
            "Model provider rate limit: circuit open (incident {}): {}.{seen}{example}{reset}{}",
            inc.id,
            inc.reason,
            hooks_summary(inc, Phase::Open)
        ),
        ("reminder", _) => format!(
            "Circuit still open after {} (incident {}, {}): {}.{seen}{reset}",
            human(now - inc.started_at),
            inc.id,
            inc.kind,
            inc.reason
        ),
        _ => format!(
            "Recovered after {}: circuit closed (incident {}, {}, {} match(es); {}).{}",
            human(inc.closed_at.unwrap_or(now) - inc.started_at),
            inc.id,
            inc.kind,
            inc.matches,
            inc.close_reason.as_deref().unwrap_or("closed"),
            hooks_summary(inc, Phase::Closing)
        ),
    }
}

/// The circuit.json other jobs should see for this state.
fn desired(data: &Data, now: DateTime<Utc>) -> Option<Circuit> {
    match &data.incident {
        Some(inc) if inc.phase == Phase::Open => Some(Circuit {
            state: CircuitState::Open,
            kind: Some(inc.kind.clone()),
            since: Some(inc.started_at),
            reason: Some(inc.reason.clone()),
            reset_at: if inc.kind == "rate_limit" {
                inc.reset_at
            } else {
                None
            },
            incident_id: Some(inc.id.clone()),
            matches: inc.matches,
            updated_at: Some(now),
        }),
        Some(inc) => Some(Circuit {
            state: CircuitState::Closed,
            kind: Some(inc.kind.clone()),
            since: inc.closed_at,
            reason: inc.close_reason.clone(),
            reset_at: None,
            incident_id: Some(inc.id.clone()),
            matches: inc.matches,
            updated_at: Some(now),
        }),
        None => data.history.back().map(|h| Circuit {
            state: CircuitState::Closed,
            kind: Some(h.kind.clone()),
            since: Some(h.ended_at),
            reason: Some(h.close_reason.clone()),
            reset_at: None,
            incident_id: Some(h.id.clone()),
            matches: h.matches,
            updated_at: Some(now),
        }),
    }
}

/// Write circuit.json when it differs from the state (ignoring `updated_at`).
pub fn sync_circuit(ctx: &mut Ctx<Data>, now: DateTime<Utc>) -> Result<()> {
    let dir = ctx.paths.state_dir.clone();
    let dry = ctx.dry_run;
    let want = desired(&ctx.state.data, now);
    let current = read_circuit(&dir).unwrap_or_default();
    let Some(want) = want else {
        if current.is_open() {
            log::warn!(
                "{} says open but no incident is recorded in state; run `check-ratelimit close` to close it",
                dir.join("circuit.json").display()
            );
        }
        return Ok(());
    };
    let same = Circuit {
        updated_at: None,
        ..current.clone()
    } == Circuit {
        updated_at: None,
        ..want.clone()
    };
    if same {
        return Ok(());
    }
    if dry {
        log::warn!(
            "dry run: would write circuit.json: {}",
            serde_json::to_string(&want).unwrap_or_default()
        );
        return Ok(());
    }
    write_circuit(&dir, &want)
}
