//! What check-ratelimit keeps in `state/check-ratelimit.json` (`data`), and the migration of
//! older state files.
//!
//! The side effects of an incident (its `on_open`/`on_close` commands and alerts) are recorded
//! in the runtime's effect journal (`effects` in the same file); an incident lists its
//! [`Step`]s and copies each step's settled outcome from the journal.

use chrono::{DateTime, Utc};
use common::effect::EffectStatus;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;

/// Version of the state file: 1 kept the incident's side effects in `incident.actions` and
/// counted matching log lines; 2 counts provider refusals and keeps side effects in the journal.
pub const SCHEMA_VERSION: u32 = 2;

/// Signals kept for the window (the oldest are dropped beyond this).
pub const RECENT_MAX: usize = 2000;

/// Hours of call counts kept (and published).
pub const HOURS_KEPT: usize = 48;

/// The job's state (`data` in `state/check-ratelimit.json`).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Data {
    /// Set after the first run: from then on new files are read from their start.
    pub initialized: bool,
    pub cursors: Vec<Cursor>,
    pub command: Option<CommandCursor>,
    /// Provider refusals and the gateway's decisions inside the window (bounded).
    pub recent: VecDeque<Signal>,
    pub last_signal_at: Option<DateTime<Utc>>,
    /// End of the last incident: signals up to this time never count again.
    pub closed_at: Option<DateTime<Utc>>,
    pub incident: Option<Incident>,
    /// Closed incidents, newest last (bounded by `history_len`).
    pub history: VecDeque<IncidentRecord>,
    /// Cooldowns the gateway announced (log records, `models status`), newest last.
    pub cooldowns: Vec<KnownCooldown>,
    /// The last successful (2xx) answer per `provider/model` seen in `[model-fetch]` records.
    pub last_ok: BTreeMap<String, DateTime<Utc>>,
    /// Cooldowns found stale (the provider answered while the gateway listed the profile
    /// unusable), newest last (bounded).
    pub stale: VecDeque<StaleCooldown>,
    /// Model calls per UTC hour, oldest first (bounded by [`HOURS_KEPT`]).
    pub hours: VecDeque<HourBucket>,
    /// The idle-burn episode in progress, if any.
    pub idle: Option<IdleEpisode>,
    /// Finished idle-burn episodes, newest last (bounded).
    pub idle_history: VecDeque<IdleEpisode>,
    /// The last `openclaw models status --json` read.
    pub models_status: Option<ModelsStatusRead>,
    /// The window of the last run (`window_secs`), for the published counts.
    pub window_secs: Option<u64>,
}

/// The class of a provider refusal, from the gateway's own failover reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// `overloaded` (HTTP 529, `overloaded_error`, `ModelNotReadyException`).
    Overload,
    /// `rate_limit` (HTTP 429, retryable 402 texts, throttling, periodic usage limits).
    RateLimit,
    /// `billing` (HTTP 402 billing texts, `insufficient_quota`, credit balance): needs a human.
    Quota,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Overload => "overload",
            Class::RateLimit => "rate_limit",
            Class::Quota => "quota",
        }
    }

    /// `rate_limit` → Some(RateLimit), `manual` → None.
    pub fn parse(s: &str) -> Option<Class> {
        match s {
            "overload" => Some(Class::Overload),
            "rate_limit" => Some(Class::RateLimit),
            "quota" => Some(Class::Quota),
            _ => None,
        }
    }

    /// For people: `rate limit`, `quota or billing`, `overload`.
    pub fn words(self) -> &'static str {
        match self {
            Class::Overload => "overload",
            Class::RateLimit => "rate limit",
            Class::Quota => "quota or billing",
        }
    }
}

/// How much a signal says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    /// One refused request (`embedded_run_agent_end` with an error): the gateway may still be
    /// retrying it.
    Refusal,
    /// The gateway's own decision that the provider cannot serve now: a cooldown or disabled
    /// window (`auth_profile_failure_state_updated`), or a run that gave up on the model
    /// (`embedded_run_failover_decision` `surface_error` / `fallback_model`). One per run.
    Decision,
}

/// A provider refusal or a gateway decision, read from the gateway's records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub at: DateTime<Utc>,
    pub class: Class,
    pub strength: Strength,
    /// For decisions: `cooldown`, `disabled`, `surface_error`, `fallback_model`.
    #[serde(default)]
    pub decision: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    /// The auth profile as the log names it (`sha256:<12 hex>`, or `inline-api-key:<p>`).
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub run_id: Option<String>,
    /// HTTP status of the refusal, when the record carries it.
    #[serde(default)]
    pub status: Option<u16>,
    /// A long-window limit (daily/weekly/monthly, usage limit, current quota…): the gateway
    /// does not retry it and its own cooldown is shorter than the provider's window.
    #[serde(default)]
    pub long_window: bool,
    /// When the gateway or the provider expects it to be usable again.
    #[serde(default)]
    pub reset_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub reset_source: Option<String>,
    /// Where it was read (file path or `command`).
    pub source: String,
    /// The provider's message (redacted, at most 200 characters).
    #[serde(default)]
    pub example: String,
}

/// Where we are in one log file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cursor {
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    /// Bytes consumed (at a line boundary unless `skipping_long_line`).
    pub offset: u64,
    /// SHA-256 (hex) of the first `fp_len` bytes.
    pub fp: String,
    pub fp_len: u64,
    pub skipping_long_line: bool,
    /// File size when last seen.
    pub size: u64,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Where the command source is.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CommandCursor {
    /// The next run asks for lines since this time.
    pub since: Option<DateTime<Utc>>,
    /// Lines at or after `since` already counted (`<epoch ms>|<hash of the text>`).
    pub seen: Vec<String>,
    pub last_ok_at: Option<DateTime<Utc>>,
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
    /// `rate_limit`, `quota` (closed only by a human), `overload` or `manual`.
    pub kind: String,
    /// `auto` or `operator`.
    pub opened_by: String,
    pub phase: Phase,
    pub started_at: DateTime<Utc>,
    pub reason: String,
    /// Provider refusals counted in it.
    pub matches: u64,
    /// The gateway's decisions (cooldowns, runs given up) counted in it.
    #[serde(default)]
    pub decisions: u64,
    #[serde(default)]
    pub quota_matches: u64,
    #[serde(default, alias = "first_match_at")]
    pub first_at: Option<DateTime<Utc>>,
    #[serde(default, alias = "last_match_at")]
    pub last_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub long_window: bool,
    /// Latest reset announced in the records (the gateway's `cooldownUntil`, `Retry-After`).
    #[serde(default)]
    pub hint_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub hint_source: Option<String>,
    /// When the circuit is expected to close, and why then.
    #[serde(default)]
    pub reset_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub reset_source: Option<String>,
    #[serde(default)]
    pub example: Option<String>,
    #[serde(default)]
    pub last_reminder_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub reminders: u32,
    #[serde(default)]
    pub close_reason: Option<String>,
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
    /// Its side effects, in order; outcomes copied from the effect journal once settled.
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// One side effect of an incident, run through the effect journal under `key`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Journal key (`incident/<id>/on_open[0]`; alerts: the alert key `incident/<id>/open`).
    pub key: String,
    pub phase: Phase,
    pub work: Work,
    /// Settled outcome, copied from the journal (`None` while it may still run).
    #[serde(default)]
    pub status: Option<EffectStatus>,
    #[serde(default)]
    pub result: Option<String>,
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Work {
    /// An `on_open` / `on_close` command.
    Command {
        /// `on_open[0]`.
        name: String,
        argv: Vec<String>,
        #[serde(default)]
        idempotent: bool,
    },
    /// An alert: `open`, `close`, `escalate-quota`, `reminder-2`…
    Alert { topic: String },
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
    /// Provider refusals counted.
    pub matches: u64,
    #[serde(default)]
    pub decisions: u64,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
    pub reset_source: Option<String>,
    pub reason: String,
    pub close_reason: String,
}

/// A cooldown the gateway announced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnownCooldown {
    pub provider: Option<String>,
    /// The profile as the log names it (`sha256:<12 hex>`).
    pub profile: Option<String>,
    /// The real profile id, when `models status` named it (`anthropic:default`).
    #[serde(default)]
    pub profile_id: Option<String>,
    /// The model whose refusals caused it (the gateway scopes rate-limit cooldowns to it).
    #[serde(default)]
    pub model: Option<String>,
    /// `cooldown` or `disabled`.
    pub kind: String,
    pub reason: Option<String>,
    pub until: DateTime<Utc>,
    /// When we first saw it (its log record, or the run that first read it in `models status`).
    pub since: DateTime<Utc>,
    /// `log`, `models status` or `file`.
    pub source: String,
}

/// A cooldown the gateway still listed while the provider answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaleCooldown {
    pub provider: Option<String>,
    pub profile: String,
    pub until: DateTime<Utc>,
    /// The successful answer that proves it stale.
    pub ok_at: DateTime<Utc>,
    pub found_at: DateTime<Utc>,
}

/// Model calls in one UTC hour, from the gateway's records.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HourBucket {
    pub hour: DateTime<Utc>,
    /// `[model-fetch] start` records (only at `logging.level` debug: one per call).
    pub starts: u64,
    /// `[model-fetch] response`/`error` records (at `info`: failed or slow calls only).
    pub responses: u64,
    pub refusals: u64,
    /// Turns a person or a job started: inbound messages, hooks, cron, agent commands.
    pub explained: u64,
    /// Turns the heartbeat started.
    pub heartbeats: u64,
}

impl HourBucket {
    /// Model calls seen: every call when the records are at debug level, else a lower bound.
    pub fn calls(&self) -> u64 {
        self.starts.max(self.responses)
    }
    /// The hour's records log every model call (debug level).
    pub fn every_call_logged(&self) -> bool {
        self.starts > 0
    }
}

/// Hours of model calls that nothing explains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdleEpisode {
    pub started: DateTime<Utc>,
    /// The last idle hour.
    pub last: DateTime<Utc>,
    pub calls: u64,
    pub heartbeats: u64,
    #[serde(default)]
    pub alerted: bool,
}

/// The last read of `openclaw models status --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelsStatusRead {
    pub at: DateTime<Utc>,
    /// `None` when it worked.
    pub error: Option<String>,
    /// Unusable profiles it listed.
    pub unusable: usize,
}

/// Migrate a whole state file from `from` to [`SCHEMA_VERSION`].
///
/// 1 → 2: matched log lines (`recent`) are dropped (they were lines, not refusals: one refusal
/// wrote three); `last_match_at` becomes `last_signal_at`; the open incident's `actions` become
/// `steps`, and their statuses become effect-journal records (`effects`): `pending` → no record
/// (it still runs), `started` → `started` (recovered to `unknown` at load), `done`, `failed`,
/// `unknown` as they were, `suppressed` → `skipped`.
pub fn migrate(from: u32, mut state: Value) -> anyhow::Result<Value> {
    if from >= 2 {
        return Ok(state);
    }
    let mut new_effects = Vec::new();
    if let Some(data) = state.get_mut("data").and_then(Value::as_object_mut) {
        data.insert("recent".into(), json!([]));
        if let Some(l) = data.remove("last_match_at") {
            data.insert("last_signal_at".into(), l);
        }
        if let Some(inc) = data.get_mut("incident").and_then(Value::as_object_mut) {
            let id = inc
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            let actions = inc.remove("actions").unwrap_or(Value::Null);
            let mut steps = Vec::new();
            for a in actions.as_array().into_iter().flatten() {
                let (step, effect) = migrate_action(&id, a);
                steps.push(step);
                new_effects.extend(effect);
            }
            inc.insert("steps".into(), Value::Array(steps));
        }
    }
    if !new_effects.is_empty() {
        let obj = state
            .as_object_mut()
            .ok_or_else(|| anyhow::anyhow!("not an object"))?;
        let effects = obj.entry("effects").or_insert_with(|| json!({}));
        if let Some(map) = effects.as_object_mut() {
            for (k, v) in new_effects {
                map.entry(k).or_insert(v);
            }
        }
    }
    Ok(state)
}

/// One v1 action → (v2 step, journal record to add).
fn migrate_action(id: &str, a: &Value) -> (Value, Option<(String, Value)>) {
    let name = a.get("name").and_then(Value::as_str).unwrap_or("?");
    let phase = a.get("phase").cloned().unwrap_or(json!("open"));
    let work = a.get("work").cloned().unwrap_or(Value::Null);
    let status = a.get("status").and_then(Value::as_str).unwrap_or("pending");
    let at = a.get("at").cloned().unwrap_or(Value::Null);
    let result = a.get("result").cloned().unwrap_or(Value::Null);
    let (key, journal_key, new_work, what) =
        if work.get("type").and_then(Value::as_str) == Some("alert") {
            let topic = work.get("topic").and_then(Value::as_str).unwrap_or("open");
            let key = format!("incident/{id}/{topic}");
            (
                key.clone(),
                common::alert::effect_key(&key),
                json!({"type": "alert", "topic": topic}),
                format!("alert `{key}`"),
            )
        } else {
            let argv = work.get("argv").cloned().unwrap_or(json!([]));
            let key = format!("incident/{id}/{name}");
            let shown: Vec<&str> = argv
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            (
                key.clone(),
                key,
                json!({"type": "command", "name": name, "argv": argv, "idempotent": false}),
                format!("run `{}` ({name} of incident {id})", shown.join(" ")),
            )
        };
    let journal_status = match status {
        "started" => Some("started"),
        "done" => Some("done"),
        "failed" => Some("failed"),
        "unknown" => Some("unknown"),
        "suppressed" => Some("skipped"),
        _ => None,
    };
    let settled = journal_status.filter(|s| *s != "started");
    let step = json!({
        "key": key, "phase": phase, "work": new_work,
        "status": settled, "result": if settled.is_some() { result.clone() } else { Value::Null },
        "at": at,
    });
    let effect = journal_status.map(|s| {
        let first = at.clone();
        (
            journal_key,
            json!({
                "what": what, "status": s, "idempotent": false, "attempts": 1,
                "done": u32::from(s == "done"), "skipped": u32::from(s == "skipped"),
                "first_at": if first.is_null() { json!("1970-01-01T00:00:00Z") } else { first },
                "started_at": at, "finished_at": if s == "started" { Value::Null } else { at.clone() },
                "result": result, "run_id": "",
            }),
        )
    });
    (step, effect)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn v1_actions_become_steps_and_journal_records() {
        let v1 = json!({
            "schema_version": 1, "job": "check-ratelimit",
            "effects": {"alert/circuit-open": {"what": "alert", "status": "done", "first_at": "2026-03-05T12:00:00Z"}},
            "data": {
                "initialized": true,
                "recent": [{"at": "2026-03-05T12:00:00Z", "kind": "rate_limit", "source": "x", "excerpt": "e"}],
                "last_match_at": "2026-03-05T12:00:00Z",
                "incident": {
                    "id": "20260305T120000Z-ab12", "kind": "rate_limit", "opened_by": "auto", "phase": "open",
                    "started_at": "2026-03-05T12:00:00Z", "reason": "r", "matches": 3,
                    "first_match_at": "2026-03-05T11:59:00Z", "last_match_at": "2026-03-05T12:00:00Z",
                    "actions": [
                        {"name": "on_open[0]", "phase": "open", "work": {"type": "command", "argv": ["sh", "-c", "x"]},
                         "status": "unknown", "at": "2026-03-05T12:00:01Z", "result": "outcome unknown"},
                        {"name": "alert open", "phase": "open", "work": {"type": "alert", "topic": "open"},
                         "status": "done", "at": "2026-03-05T12:00:02Z", "result": "sent"},
                        {"name": "on_close[0]", "phase": "closing", "work": {"type": "command", "argv": ["y"]},
                         "status": "pending", "at": null, "result": null}
                    ]
                }
            }
        });
        let v2 = migrate(1, v1).unwrap();
        let st: common::state::State<Data> = serde_json::from_value(v2.clone()).unwrap();
        assert!(st.data.recent.is_empty());
        assert!(st.data.last_signal_at.is_some());
        let inc = st.data.incident.unwrap();
        assert_eq!(inc.matches, 3);
        assert!(inc.first_at.is_some());
        assert_eq!(inc.steps.len(), 3);
        assert_eq!(
            inc.steps[0].key,
            "incident/20260305T120000Z-ab12/on_open[0]"
        );
        assert_eq!(inc.steps[0].status, Some(EffectStatus::Unknown));
        assert_eq!(inc.steps[2].status, None, "pending still runs");
        let hook = &st.effects["incident/20260305T120000Z-ab12/on_open[0]"];
        assert_eq!(hook.status, EffectStatus::Unknown);
        let alert = &st.effects["alert/incident/20260305T120000Z-ab12/open"];
        assert_eq!(alert.status, EffectStatus::Done);
        assert!(
            st.effects.contains_key("alert/circuit-open"),
            "old records kept"
        );
        assert!(
            !st.effects
                .contains_key("incident/20260305T120000Z-ab12/on_close[0]")
        );
        // Idempotent.
        assert_eq!(migrate(2, v2.clone()).unwrap(), v2);
    }
}
