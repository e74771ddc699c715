//! What watch-gateway keeps between runs (`data` in `state/watch-gateway.json`) and the public
//! facts built from it. Every type here is persisted: add fields with defaults, never rename.

use chrono::{DateTime, Duration, Utc};
use contracts::facts::watch_gateway::{GatewayFacts, GatewayIncident, UptimeDay};
use serde::{Deserialize, Serialize};

/// Restart records kept (the budget needs the last hour; the rest is for `status`).
pub const RESTARTS_KEPT: usize = 50;
/// Observed gateway starts kept (flapping needs the last `flap_window_secs`).
pub const STARTS_KEPT: usize = 50;
/// UTC days of uptime kept.
pub const DAYS_KEPT: usize = 35;
/// Steps kept per incident (a long halt could otherwise grow without bound).
pub const STEPS_KEPT: usize = 40;

/// The verdict of one probe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Live and ready.
    Healthy,
    /// Live, but not ready, draining, or its event loop degraded.
    Degraded,
    /// No (valid) answer on `/healthz`.
    Down,
    /// Live, but it (re)started `flap_restarts` times within `flap_window_secs`.
    Flapping,
    #[default]
    Unknown,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Degraded => "degraded",
            Health::Down => "down",
            Health::Flapping => "flapping",
            Health::Unknown => "unknown",
        }
    }
    /// The gateway answered HTTP.
    pub fn is_up(self) -> bool {
        matches!(self, Health::Healthy | Health::Degraded | Health::Flapping)
    }
}

/// Whether the gateway's process (from its lock file) runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Process {
    /// The lock file names a live process (its start time matches).
    Running,
    /// The lock file names a process that is gone (a stale lock), or there is no lock file.
    Gone,
    /// The lock file could not be read.
    #[default]
    Unknown,
}

/// What one probe saw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Probe {
    pub at: Option<DateTime<Utc>>,
    /// `/healthz` answered 200 with the gateway's JSON (`{"ok":true,"status":"live"}`).
    pub live: bool,
    /// `/readyz`: `Some(true)` on 200 `{"ready":true}`, `Some(false)` on 503 `{"ready":false}`.
    pub ready: Option<bool>,
    /// `/readyz` `failing` (`startup-sidecars`, `gateway-draining`, channel ids, …).
    pub failing: Vec<String>,
    /// `/readyz` `eventLoop.degraded` and its `reasons`.
    pub event_loop_degraded: bool,
    pub event_loop_reasons: Vec<String>,
    /// `/readyz` `uptimeMs`.
    pub uptime_ms: Option<u64>,
    /// Why it is not live (connection refused, timeout, a non-gateway answer).
    pub error: Option<String>,
    /// `openclaw gateway health --json` (when `cli_health` is on): `ok`.
    pub cli_ok: Option<bool>,
    /// The gateway's pid and when its lock was created (lock file), and whether it runs.
    pub pid: Option<u32>,
    pub process: Process,
    pub process_since: Option<DateTime<Utc>>,
    /// Time both HTTP probes took, milliseconds.
    pub latency_ms: u64,
}

impl Probe {
    /// One line for logs and facts.
    pub fn describe(&self) -> String {
        if !self.live {
            let mut s = format!(
                "no answer on /healthz ({})",
                self.error.as_deref().unwrap_or("unknown error")
            );
            match (self.process, self.pid) {
                (Process::Running, Some(p)) => s.push_str(&format!("; process {p} is running")),
                (Process::Gone, Some(p)) => s.push_str(&format!("; process {p} is gone")),
                (Process::Gone, None) => s.push_str("; no gateway process"),
                _ => {}
            }
            return s;
        }
        let mut s = match self.ready {
            Some(true) => "live and ready".to_string(),
            Some(false) if self.failing.is_empty() => "live, not ready".to_string(),
            Some(false) => format!("live, not ready (failing: {})", self.failing.join(", ")),
            None => "live; readiness unknown".to_string(),
        };
        if self.event_loop_degraded {
            s.push_str(&format!(
                "; event loop degraded ({})",
                self.event_loop_reasons.join(", ")
            ));
        }
        if self.cli_ok == Some(false) {
            s.push_str("; `openclaw gateway health` says not ok");
        }
        s
    }

    /// When the gateway process started, from `/readyz` `uptimeMs`.
    pub fn started_at(&self) -> Option<DateTime<Utc>> {
        let at = self.at?;
        let ms = i64::try_from(self.uptime_ms?).ok()?;
        Some(at - Duration::milliseconds(ms))
    }
}

/// The outcome of one ladder step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// Started and not finished (the run stopped): resumed by the next run.
    #[default]
    Running,
    Done,
    Failed,
    /// Its outcome is unknown (an earlier run died during it); never repeated.
    Unknown,
    /// Not done on purpose (dry run, nothing to do).
    Skipped,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Running => "running",
            StepStatus::Done => "done",
            StepStatus::Failed => "failed",
            StepStatus::Unknown => "outcome unknown",
            StepStatus::Skipped => "skipped",
        }
    }
}

/// One step of the ladder taken in an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// 1 restart, 2 config, 3 diagnose, 4+ retry.
    pub level: u32,
    pub name: String,
    pub at: DateTime<Utc>,
    pub status: StepStatus,
    /// What it did, in words (`launched pid 4242`, `exit 1: …`).
    #[serde(default)]
    pub detail: String,
}

/// From the first failed probe (outside maintenance) to recovery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// `gw-<UTC start, compact>`: the prefix of every effect key of the incident.
    pub id: String,
    pub started_at: DateTime<Utc>,
    /// `down`, `not ready` or `draining`.
    pub cause: String,
    /// The last probe's words while it lasts.
    #[serde(default)]
    pub last_detail: String,
    /// Failed probes seen in it.
    #[serde(default)]
    pub failed_probes: u64,
    /// The ladder level reached (0: none yet) and whether that level finished.
    #[serde(default)]
    pub level: u32,
    #[serde(default)]
    pub level_done: bool,
    /// Start of the current failed window: the next step is due once the gateway failed
    /// for `window_secs` since.
    pub window_from: DateTime<Utc>,
    /// After a (re)start: no step before this time, unless the started process died.
    #[serde(default)]
    pub grace_until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub steps: Vec<StepRecord>,
    #[serde(default)]
    pub restarts: u32,
    /// Set when a config restore ran in this incident.
    #[serde(default)]
    pub restored: bool,
    #[serde(default)]
    pub diagnosis: Option<String>,
    #[serde(default)]
    pub diagnosis_source: Option<String>,
    /// The diagnostics bundle written for it.
    #[serde(default)]
    pub bundle: Option<String>,
    /// The restart budget tripped during it.
    #[serde(default)]
    pub halted: bool,
    #[serde(default)]
    pub recovered_at: Option<DateTime<Utc>>,
}

impl Incident {
    pub fn new(now: DateTime<Utc>, cause: &str) -> Incident {
        Incident {
            id: format!("gw-{}", now.format("%Y%m%dT%H%M%SZ")),
            started_at: now,
            cause: cause.to_string(),
            last_detail: String::new(),
            failed_probes: 0,
            level: 0,
            level_done: true,
            window_from: now,
            grace_until: None,
            steps: Vec::new(),
            restarts: 0,
            restored: false,
            diagnosis: None,
            diagnosis_source: None,
            bundle: None,
            halted: false,
            recovered_at: None,
        }
    }

    /// Whether any step was taken (a recovery without one is a blip, not worth a message).
    pub fn acted(&self) -> bool {
        !self.steps.is_empty() || self.halted
    }

    /// `restart: done, config: done, diagnose: done`.
    pub fn tried(&self) -> String {
        if self.steps.is_empty() {
            return "nothing".into();
        }
        self.steps
            .iter()
            .map(|s| {
                if s.detail.is_empty() {
                    format!("{} ({})", s.name, s.status.as_str())
                } else {
                    format!("{} ({}: {})", s.name, s.status.as_str(), s.detail)
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The step record of `level`, if it was started.
    pub fn step_mut(&mut self, level: u32) -> Option<&mut StepRecord> {
        self.steps.iter_mut().rev().find(|s| s.level == level)
    }

    /// Seconds from the first failed probe to `at`.
    pub fn age_secs(&self, at: DateTime<Utc>) -> u64 {
        round_secs(at - self.started_at)
    }
}

/// A restart watch-gateway made (automatic ones count against the budget).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestartRecord {
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub incident: Option<String>,
    /// `restart_command`, `start_command` or `manual`.
    pub how: String,
    /// Counts against `max_restarts_per_hour` (manual restarts do not).
    #[serde(default = "yes")]
    pub automatic: bool,
}

fn yes() -> bool {
    true
}

/// The restart budget tripped: nothing is restarted until `watch-gateway resume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Halt {
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub incident: Option<String>,
    pub reason: String,
}

/// A gateway watch-gateway launched itself (`start_command` with `start_detached`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Launched {
    pub pid: u32,
    pub at: DateTime<Utc>,
    /// `/proc/<pid>/stat` start time (clock ticks since boot), to tell a reused pid apart.
    #[serde(default)]
    pub start_ticks: Option<u64>,
    /// Where its stdout and stderr go.
    pub console: String,
    /// The incident and ladder level that started it.
    #[serde(default)]
    pub incident: Option<String>,
    #[serde(default)]
    pub level: u32,
    /// Set once it was seen gone while its incident was open: how it ended.
    #[serde(default)]
    pub exited: Option<String>,
}

/// Stuck-work bookkeeping.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stuck {
    pub last_check: Option<DateTime<Utc>>,
    /// Session id → when it was first reported stuck.
    pub reported: std::collections::BTreeMap<String, DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// The job's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Data {
    pub health: Health,
    pub health_since: Option<DateTime<Utc>>,
    pub last_probe: Option<Probe>,
    /// Whether maintenance held at the last probe.
    pub in_maintenance: bool,
    pub maintenance_until: Option<DateTime<Utc>>,
    /// First probe of the current run of failed probes (maintenance included).
    pub failing_since: Option<DateTime<Utc>>,
    /// First probe of the current not-ready streak (live, `/readyz` red, not draining).
    pub unready_since: Option<DateTime<Utc>>,
    /// First probe of the current draining streak (`gateway-draining`).
    pub draining_since: Option<DateTime<Utc>>,
    pub incident: Option<Incident>,
    /// Closed incidents, newest last.
    pub history: Vec<Incident>,
    /// Restarts, newest last.
    pub restarts: Vec<RestartRecord>,
    pub restarts_total: u64,
    /// Restarts before this time do not count against the budget (`resume` sets it).
    pub budget_since: Option<DateTime<Utc>>,
    pub halted: Option<Halt>,
    pub launched: Option<Launched>,
    /// Gateway starts observed (from `/readyz` uptime), newest last.
    pub starts: Vec<DateTime<Utc>>,
    /// The flapping episode already reported (its first start).
    pub flapping_reported: Option<DateTime<Utc>>,
    pub days: Vec<UptimeDay>,
    pub tokens: model::TokenLedger,
    pub stuck: Stuck,
    /// `max_restarts_per_hour` as of the last run (for the facts).
    pub budget_max: u32,
    /// The gateway's base URL as last derived from its config: probed when the config no
    /// longer loads (a broken config must not move the probe to the default port).
    pub base_url: Option<String>,
}

impl Data {
    /// Automatic restarts that count against the budget at `now`.
    pub fn restarts_in_budget(&self, now: DateTime<Utc>) -> usize {
        let from = now - Duration::hours(1);
        self.restarts
            .iter()
            .filter(|r| r.automatic && r.at > from)
            .filter(|r| self.budget_since.is_none_or(|b| r.at >= b))
            .count()
    }

    /// Restarts (any) in the hour before `now`.
    pub fn restarts_last_hour(&self, now: DateTime<Utc>) -> usize {
        let from = now - Duration::hours(1);
        self.restarts.iter().filter(|r| r.at > from).count()
    }

    pub fn push_restart(&mut self, r: RestartRecord) {
        self.restarts.push(r);
        self.restarts_total += 1;
        let n = self.restarts.len();
        if n > RESTARTS_KEPT {
            self.restarts.drain(..n - RESTARTS_KEPT);
        }
    }

    /// Note a gateway start seen at `at` (deduplicated within 10 s: `uptimeMs` jitters).
    pub fn note_start(&mut self, at: DateTime<Utc>) {
        if self
            .starts
            .last()
            .is_some_and(|l| (at - *l).num_seconds().abs() <= 10)
        {
            return;
        }
        self.starts.push(at);
        let n = self.starts.len();
        if n > STARTS_KEPT {
            self.starts.drain(..n - STARTS_KEPT);
        }
    }

    /// Close the open incident at `now` and keep it in the history.
    pub fn close_incident(&mut self, now: DateTime<Utc>, keep: usize) -> Option<Incident> {
        let mut inc = self.incident.take()?;
        inc.recovered_at = Some(now);
        self.history.push(inc.clone());
        let n = self.history.len();
        if n > keep {
            self.history.drain(..n - keep);
        }
        Some(inc)
    }

    /// Count the time since the previous probe (at most `cap`) as up, down or maintenance
    /// in its UTC day, by the previous probe's verdict.
    pub fn account(
        &mut self,
        prev: Option<(DateTime<Utc>, Health, bool)>,
        now: DateTime<Utc>,
        cap: Duration,
    ) {
        let Some((at, health, maint)) = prev else {
            return;
        };
        let secs = round_secs((now - at).min(cap)) as i64;
        if secs <= 0 || health == Health::Unknown {
            return;
        }
        let day = at.date_naive();
        if self.days.last().and_then(|d| d.day) != Some(day) {
            self.days.push(UptimeDay {
                day: Some(day),
                ..Default::default()
            });
            let n = self.days.len();
            if n > DAYS_KEPT {
                self.days.drain(..n - DAYS_KEPT);
            }
        }
        if let Some(d) = self.days.last_mut() {
            let secs = secs as u64;
            if maint && !health.is_up() {
                d.maintenance_secs += secs;
            } else if health.is_up() {
                d.up_secs += secs;
            } else {
                d.down_secs += secs;
            }
        }
    }
}

/// The public facts, built from the data at `now`.
pub fn facts(d: &Data, now: DateTime<Utc>, max_restarts_per_hour: u32) -> GatewayFacts {
    let health = if d.in_maintenance && d.health != Health::Healthy {
        "maintenance".to_string()
    } else {
        d.health.as_str().to_string()
    };
    let mut incidents: Vec<GatewayIncident> = d.history.iter().map(incident_fact).collect();
    if let Some(i) = &d.incident {
        incidents.push(incident_fact(i));
    }
    let recovered: Vec<u64> = d
        .history
        .iter()
        .filter(|i| i.acted())
        .filter_map(|i| i.recovered_at.map(|r| i.age_secs(r)))
        .collect();
    GatewayFacts {
        health,
        since: d.health_since,
        last_probe_at: d.last_probe.as_ref().and_then(|p| p.at),
        detail: d.last_probe.as_ref().map(Probe::describe),
        gateway_uptime_secs: d
            .last_probe
            .as_ref()
            .filter(|p| p.live)
            .and_then(|p| p.uptime_ms)
            .map(|ms| ms / 1000),
        gateway_pid: d.last_probe.as_ref().and_then(|p| p.pid),
        restarts_last_hour: d.restarts_last_hour(now) as u32,
        restarts_total: d.restarts_total,
        max_restarts_per_hour,
        halted: d.halted.as_ref().map(|h| h.reason.clone()),
        maintenance_until: d.maintenance_until.filter(|_| d.in_maintenance),
        uptime: d.days.clone(),
        mean_time_to_recover_secs: (!recovered.is_empty())
            .then(|| recovered.iter().sum::<u64>() / recovered.len() as u64),
        incidents,
    }
}

fn incident_fact(i: &Incident) -> GatewayIncident {
    GatewayIncident {
        id: i.id.clone(),
        started_at: Some(i.started_at),
        recovered_at: i.recovered_at,
        time_to_recover_secs: i.recovered_at.map(|r| i.age_secs(r)),
        cause: i.cause.clone(),
        steps: i
            .steps
            .iter()
            .map(|s| format!("{}: {}", s.name, s.status.as_str()))
            .collect(),
        restarts: i.restarts,
        diagnosis: i.diagnosis.clone(),
        diagnosis_source: i.diagnosis_source.clone(),
    }
}

/// A duration in whole seconds, rounded (a run's clock carries the nanoseconds it took).
pub fn round_secs(d: Duration) -> u64 {
    ((d.num_milliseconds().max(0) + 500) / 1000) as u64
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn budget_counts_automatic_restarts_of_the_last_hour_since_resume() {
        let now = t("2026-11-28T10:00:00Z");
        let mut d = Data::default();
        for (mins, auto) in [(90, true), (50, true), (20, false), (10, true)] {
            d.push_restart(RestartRecord {
                at: now - Duration::minutes(mins),
                incident: None,
                how: "start_command".into(),
                automatic: auto,
            });
        }
        assert_eq!(d.restarts_in_budget(now), 2);
        assert_eq!(d.restarts_last_hour(now), 3);
        d.budget_since = Some(now - Duration::minutes(30));
        assert_eq!(d.restarts_in_budget(now), 1);
        assert_eq!(d.restarts_total, 4);
    }

    #[test]
    fn uptime_is_split_by_the_previous_verdict_and_capped() {
        let now = t("2026-11-28T10:00:00Z");
        let mut d = Data::default();
        let cap = Duration::seconds(120);
        d.account(
            Some((now - Duration::seconds(60), Health::Healthy, false)),
            now,
            cap,
        );
        d.account(
            Some((now - Duration::seconds(600), Health::Down, false)),
            now,
            cap,
        );
        d.account(
            Some((now - Duration::seconds(30), Health::Down, true)),
            now,
            cap,
        );
        d.account(None, now, cap);
        let day = &d.days[0];
        assert_eq!(
            (day.up_secs, day.down_secs, day.maintenance_secs),
            (60, 120, 30)
        );
        assert!((day.percent().unwrap() - 33.33).abs() < 0.1);
        let f = facts(&d, now, 3);
        assert_eq!(f.uptime.len(), 1);
        assert_eq!(f.health, "unknown");
    }

    #[test]
    fn starts_are_deduplicated_and_incidents_closed_into_history() {
        let now = t("2026-11-28T10:00:00Z");
        let mut d = Data::default();
        d.note_start(now);
        d.note_start(now + Duration::seconds(3));
        d.note_start(now + Duration::seconds(60));
        assert_eq!(d.starts.len(), 2);
        let mut inc = Incident::new(now, "down");
        inc.steps.push(StepRecord {
            level: 1,
            name: "restart".into(),
            at: now,
            status: StepStatus::Done,
            detail: String::new(),
        });
        d.incident = Some(inc);
        let closed = d.close_incident(now + Duration::seconds(42), 20).unwrap();
        assert_eq!(closed.age_secs(now + Duration::seconds(42)), 42);
        let f = facts(&d, now, 3);
        assert_eq!(f.incidents[0].time_to_recover_secs, Some(42));
        assert_eq!(f.incidents[0].steps, vec!["restart: done"]);
        assert_eq!(f.mean_time_to_recover_secs, Some(42));
    }
}
