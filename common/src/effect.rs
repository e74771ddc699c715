//! The effect journal: every side effect that leaves the machine goes through one call,
//! `ctx.effect(key, what).….run(|ctx| act)`, so a crash, a retry or a second run never repeats
//! it by accident.
//!
//! **Promise.** For one effect key: the intent is on disk before the act starts; a process
//! that dies during the act leaves a record the next run turns into `unknown`; an `unknown`
//! effect is never repeated blindly (at most once) unless it is declared idempotent (then it
//! is re-run: at least once) or a `verify` step proves it did not happen.
//!
//! **How.** The journal is `effects` in the job's state file (records typed in
//! [`contracts::effect`]). [`Effect::run`]:
//! 1. decides from the record, the policy and `now` ([`decide`], a pure function): act, or
//!    report `already done` / `blocked` / `failed before` / `skipped`;
//! 2. writes the record as `started` and checkpoints the state (nothing is done if that fails);
//! 3. runs the act, which says [`Act::Done`], [`Act::NotDone`] (provably did not happen) or
//!    [`Act::Unsure`] (may have happened);
//! 4. records `done` / `failed` / `unknown` and checkpoints again.
//!
//! At load, [`recover`] turns every `started` record into `unknown` (the runtime calls it once
//! per run, before the job sees its state). Settled records older than the job's retention are
//! dropped at save.
//!
//! **Limits.** "Provably did not happen" is the act's claim: an HTTP request refused before any
//! byte was written, a command that could not be spawned. A remote side that performs an act
//! and then loses the answer is `unknown`; only a `verify` step (ask the other side) or an
//! idempotent declaration (the other side de-duplicates, or repeating is harmless) resolves it.
//!
//! Tests kill the process at each step through `AGENT_JOBS_TEST_CRASH_AT=<point>`
//! (`effect-intent`: after the intent is saved, before the act; `effect-acted`: after the act,
//! before its result is saved), optionally `<point>:<key prefix>`.

use crate::run::Ctx;
use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
pub use contracts::effect::{EffectRecord, EffectStatus};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;

/// What an act reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Act {
    /// It happened: a short result in words, and optionally a value later steps need.
    Done(String, Option<Value>),
    /// It provably did not happen (it may be tried again).
    NotDone(String),
    /// It may or may not have happened.
    Unsure(String),
}

impl Act {
    /// Done, with a result in words.
    pub fn done(detail: impl Into<String>) -> Act {
        Act::Done(detail.into(), None)
    }

    /// Classify a failed attempt: transport errors that may have reached the other side are
    /// `Unsure`, everything else `NotDone`.
    pub fn from_error(e: &anyhow::Error) -> Act {
        let msg = crate::exit::one_line(e);
        if crate::http::maybe_sent(e) {
            Act::Unsure(msg)
        } else {
            Act::NotDone(msg)
        }
    }
}

/// What a `verify` step found out about an `unknown` effect.
#[derive(Debug, Clone, PartialEq)]
pub enum Verified {
    /// It did happen (with what was found, e.g. the message id).
    Happened(String, Option<Value>),
    /// It did not happen: run it.
    NotHappened,
    /// Still cannot tell.
    Unsure(String),
}

/// What [`Effect::run`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum EffectOutcome {
    /// The act ran in this call and ended `done`, `failed` or `unknown` (see the record).
    Ran(EffectRecord),
    /// Done before; not repeated.
    AlreadyDone(EffectRecord),
    /// An earlier attempt's outcome is unknown and the effect is not idempotent: not repeated.
    Blocked(EffectRecord),
    /// Failed before and retrying failures is off.
    FailedBefore(EffectRecord),
    /// Not done on purpose (the reason: dry run, maintenance, deduplicated).
    Skipped(String),
}

impl EffectOutcome {
    /// The act ran now and it happened.
    pub fn done_now(&self) -> bool {
        matches!(self, EffectOutcome::Ran(r) if r.status == EffectStatus::Done)
    }
    /// It happened, now or before.
    pub fn is_done(&self) -> bool {
        match self {
            EffectOutcome::Ran(r) => r.status == EffectStatus::Done,
            EffectOutcome::AlreadyDone(_) => true,
            _ => false,
        }
    }
    /// The record, when there is one.
    pub fn record(&self) -> Option<&EffectRecord> {
        match self {
            EffectOutcome::Ran(r)
            | EffectOutcome::AlreadyDone(r)
            | EffectOutcome::Blocked(r)
            | EffectOutcome::FailedBefore(r) => Some(r),
            EffectOutcome::Skipped(_) => None,
        }
    }
}

/// How an effect may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    /// Repeating it is harmless: `unknown` is re-run.
    pub idempotent: bool,
    /// A `failed` effect is tried again.
    pub retry_failed: bool,
    /// A `done` (or `skipped`) effect may be done again once this long has passed since.
    pub repeat_after: Option<Duration>,
}

/// The next step for an effect, decided from its record alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Act,
    AlreadyDone,
    /// Ask the verify step (only returned for `unknown` when one is given).
    Verify,
    Blocked,
    FailedBefore,
}

/// Decide the next step (pure: the record, the policy, whether a verify step exists, `now`).
pub fn decide(rec: Option<&EffectRecord>, p: Policy, can_verify: bool, now: DateTime<Utc>) -> Step {
    let Some(rec) = rec else { return Step::Act };
    let aged = |r: &EffectRecord| {
        p.repeat_after.is_some_and(|d| {
            r.finished_at
                .or(r.started_at)
                .is_none_or(|t| now.signed_duration_since(t) >= d)
        })
    };
    match rec.status {
        EffectStatus::Done | EffectStatus::Skipped if aged(rec) => Step::Act,
        EffectStatus::Done | EffectStatus::Skipped => Step::AlreadyDone,
        EffectStatus::Failed if p.retry_failed || aged(rec) => Step::Act,
        EffectStatus::Failed => Step::FailedBefore,
        // `started` is only seen when recovery has not run (it always does in a job run).
        EffectStatus::Unknown | EffectStatus::Started if p.idempotent => Step::Act,
        EffectStatus::Unknown | EffectStatus::Started if can_verify => Step::Verify,
        EffectStatus::Unknown | EffectStatus::Started if aged(rec) => Step::Act,
        EffectStatus::Unknown | EffectStatus::Started => Step::Blocked,
    }
}

type VerifyFn<'c, D> = Box<dyn FnOnce(&mut Ctx<D>, &EffectRecord) -> Verified + 'c>;

/// A side effect about to be run: built by [`Ctx::effect`], finished by [`Effect::run`].
#[must_use = "an effect does nothing until .run()"]
pub struct Effect<'c, D: Serialize + DeserializeOwned + Default> {
    ctx: &'c mut Ctx<D>,
    key: String,
    what: String,
    policy: Policy,
    verify: Option<VerifyFn<'c, D>>,
    skip: Option<String>,
}

impl<D: Serialize + DeserializeOwned + Default> Ctx<D> {
    /// Start an effect: `key` is stable across runs (`alert/circuit-open`,
    /// `incident/<id>/on_open[0]`), `what` says what it does for people.
    pub fn effect(&mut self, key: impl Into<String>, what: impl Into<String>) -> Effect<'_, D> {
        Effect {
            ctx: self,
            key: key.into(),
            what: what.into(),
            policy: Policy::default(),
            verify: None,
            skip: None,
        }
    }

    /// The journal record of `key`, if any.
    pub fn effect_record(&self, key: &str) -> Option<&EffectRecord> {
        self.state.effects.get(key)
    }

    /// Forget `key`: the next `effect(key)` starts fresh (e.g. a problem cleared, so its alert
    /// may be sent again at once).
    pub fn forget_effect(&mut self, key: &str) -> Option<EffectRecord> {
        self.state.effects.remove(key)
    }

    /// Forget every record whose key starts with `prefix` and for which `keep` says no.
    pub fn forget_effects(&mut self, prefix: &str, keep: impl Fn(&str, &EffectRecord) -> bool) {
        self.state
            .effects
            .retain(|k, r| !k.starts_with(prefix) || keep(k, r));
    }
}

impl<'c, D: Serialize + DeserializeOwned + Default> Effect<'c, D> {
    /// Repeating it is harmless: an `unknown` outcome is re-run (at least once).
    pub fn idempotent(mut self, yes: bool) -> Self {
        self.policy.idempotent = yes;
        self
    }
    /// Try a `failed` effect again on the next call.
    pub fn retry_failed(mut self, yes: bool) -> Self {
        self.policy.retry_failed = yes;
        self
    }
    /// A done effect may be done again once `d` has passed (an alert repeated hourly).
    pub fn repeat_after(mut self, d: Duration) -> Self {
        self.policy.repeat_after = Some(d);
        self
    }
    /// How to find out whether an `unknown` effect happened (ask the other side).
    pub fn verify(mut self, f: impl FnOnce(&mut Ctx<D>, &EffectRecord) -> Verified + 'c) -> Self {
        self.verify = Some(Box::new(f));
        self
    }
    /// Record it as skipped for this reason instead of doing it (a maintenance window).
    pub fn skip_if(mut self, reason: Option<String>) -> Self {
        self.skip = reason;
        self
    }

    /// Decide, record the intent, act, record the result (see the module docs).
    pub fn run(self, act: impl FnOnce(&mut Ctx<D>) -> Act) -> Result<EffectOutcome> {
        let Effect {
            ctx,
            key,
            what,
            policy,
            verify,
            skip,
        } = self;
        let now = ctx.now();
        let step = decide(ctx.state.effects.get(&key), policy, verify.is_some(), now);
        match step {
            Step::Act => {}
            Step::AlreadyDone => {
                let rec = bump_skipped(ctx, &key);
                return Ok(EffectOutcome::AlreadyDone(rec));
            }
            Step::FailedBefore => {
                let rec = bump_skipped(ctx, &key);
                return Ok(EffectOutcome::FailedBefore(rec));
            }
            Step::Blocked => {
                let rec = bump_skipped(ctx, &key);
                return Ok(EffectOutcome::Blocked(rec));
            }
            Step::Verify => {
                let Some(v) = verify else {
                    let rec = bump_skipped(ctx, &key);
                    return Ok(EffectOutcome::Blocked(rec));
                };
                let rec = ctx.state.effects.get(&key).cloned().ok_or_else(|| {
                    anyhow::anyhow!("effect journal: record {key} vanished during verify")
                })?;
                match v(ctx, &rec) {
                    Verified::Happened(detail, value) => {
                        let r = settle(ctx, &key, EffectStatus::Done, detail, value, now);
                        log::info!("{what}: verified as done after an unknown outcome");
                        ctx.checkpoint()?;
                        return Ok(EffectOutcome::AlreadyDone(r));
                    }
                    Verified::Unsure(why) => {
                        let r = {
                            let r = record_mut(ctx, &key, &what, policy, now);
                            r.skipped += 1;
                            r.result = Some(format!("outcome unknown, not repeated: {why}"));
                            r.clone()
                        };
                        return Ok(EffectOutcome::Blocked(r));
                    }
                    Verified::NotHappened => {
                        log::info!("{what}: verified as not done; doing it now");
                    }
                }
            }
        }
        if let Some(reason) = skip {
            let r = {
                let r = record_mut(ctx, &key, &what, policy, now);
                r.status = EffectStatus::Skipped;
                r.skipped += 1;
                r.finished_at = Some(now);
                r.result = Some(format!("skipped: {reason}"));
                r.clone()
            };
            log::info!("{what}: skipped ({reason})");
            ctx.checkpoint()?;
            let _ = r;
            return Ok(EffectOutcome::Skipped(reason));
        }
        if ctx.dry_run {
            log::warn!("dry run: would {what}");
            return Ok(EffectOutcome::Skipped("dry run".into()));
        }
        {
            let run_id = ctx.run_id.clone();
            let r = record_mut(ctx, &key, &what, policy, now);
            r.status = EffectStatus::Started;
            r.attempts += 1;
            r.started_at = Some(now);
            r.finished_at = None;
            r.run_id = run_id;
            r.result = None;
        }
        // The intent must be on disk before anything leaves the machine.
        ctx.checkpoint()?;
        crash_point("effect-intent", &key);
        let result = act(ctx);
        crash_point("effect-acted", &key);
        let end = ctx.now().max(now);
        let rec = match result {
            Act::Done(detail, value) => settle(ctx, &key, EffectStatus::Done, detail, value, end),
            Act::NotDone(why) => {
                log::warn!("{what}: failed: {why}");
                settle(ctx, &key, EffectStatus::Failed, why, None, end)
            }
            Act::Unsure(why) => {
                log::warn!("{what}: outcome unknown: {why}");
                settle(ctx, &key, EffectStatus::Unknown, why, None, end)
            }
        };
        ctx.checkpoint()?;
        Ok(EffectOutcome::Ran(rec))
    }
}

fn record_mut<'a, D>(
    ctx: &'a mut Ctx<D>,
    key: &str,
    what: &str,
    policy: Policy,
    now: DateTime<Utc>,
) -> &'a mut EffectRecord {
    let r = ctx
        .state
        .effects
        .entry(key.to_string())
        .or_insert_with(|| EffectRecord {
            what: what.to_string(),
            status: EffectStatus::Started,
            idempotent: policy.idempotent,
            attempts: 0,
            done: 0,
            skipped: 0,
            first_at: now,
            started_at: None,
            finished_at: None,
            result: None,
            value: None,
            run_id: String::new(),
        });
    r.what = what.to_string();
    r.idempotent = policy.idempotent;
    r
}

fn bump_skipped<D>(ctx: &mut Ctx<D>, key: &str) -> EffectRecord {
    match ctx.state.effects.get_mut(key) {
        Some(r) => {
            r.skipped += 1;
            r.clone()
        }
        None => unreachable_record(key),
    }
}

fn unreachable_record(key: &str) -> EffectRecord {
    // `decide` only reports a non-Act step for an existing record.
    EffectRecord {
        what: key.to_string(),
        status: EffectStatus::Unknown,
        idempotent: false,
        attempts: 0,
        done: 0,
        skipped: 0,
        first_at: Utc::now(),
        started_at: None,
        finished_at: None,
        result: None,
        value: None,
        run_id: String::new(),
    }
}

fn settle<D>(
    ctx: &mut Ctx<D>,
    key: &str,
    status: EffectStatus,
    detail: String,
    value: Option<Value>,
    at: DateTime<Utc>,
) -> EffectRecord {
    let detail = crate::redact::redact(&detail).into_owned();
    let r = ctx
        .state
        .effects
        .entry(key.to_string())
        .or_insert_with(|| unreachable_record(key));
    r.status = status;
    r.finished_at = Some(at);
    if status == EffectStatus::Done {
        r.done += 1;
    }
    r.result = Some(detail);
    if value.is_some() {
        r.value = value;
    }
    r.clone()
}

/// Turn every `started` record into `unknown` (the process died during the act). Returns the
/// keys changed. Called once per run by the runtime, right after the state is loaded.
pub fn recover(effects: &mut BTreeMap<String, EffectRecord>) -> Vec<String> {
    let mut changed = Vec::new();
    for (k, r) in effects.iter_mut() {
        if r.status == EffectStatus::Started {
            r.status = EffectStatus::Unknown;
            r.result = Some("outcome unknown: the run stopped while it was under way".to_string());
            log::warn!(
                "{}: interrupted by the end of an earlier run (run {}); its outcome is unknown{}",
                r.what,
                r.run_id,
                if r.idempotent {
                    " and it will be done again (idempotent)"
                } else {
                    " and it is not repeated: check by hand"
                }
            );
            changed.push(k.clone());
        }
    }
    changed
}

/// Drop settled records last touched before `cutoff`.
pub fn prune(effects: &mut BTreeMap<String, EffectRecord>, cutoff: DateTime<Utc>) {
    effects.retain(|_, r| {
        !r.status.is_settled() || r.finished_at.or(r.started_at).unwrap_or(r.first_at) >= cutoff
    });
}

/// Test hook: `AGENT_JOBS_TEST_CRASH_AT=<point>[:<key prefix>]` kills the process (SIGKILL)
/// at that point, as a power cut or `kill -9` would.
fn crash_point(point: &str, key: &str) {
    let Ok(want) = std::env::var("AGENT_JOBS_TEST_CRASH_AT") else {
        return;
    };
    let (p, prefix) = want.split_once(':').unwrap_or((want.as_str(), ""));
    if p == point && key.starts_with(prefix) {
        log::logger().flush();
        let _ = std::process::Command::new("kill")
            .args(["-9", &std::process::id().to_string()])
            .status();
        std::thread::sleep(std::time::Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(
        status: EffectStatus,
        finished_mins_ago: Option<i64>,
        now: DateTime<Utc>,
    ) -> EffectRecord {
        EffectRecord {
            what: "x".into(),
            status,
            idempotent: false,
            attempts: 1,
            done: 0,
            skipped: 0,
            first_at: now - Duration::hours(1),
            started_at: Some(now - Duration::hours(1)),
            finished_at: finished_mins_ago.map(|m| now - Duration::minutes(m)),
            result: None,
            value: None,
            run_id: "r".into(),
        }
    }

    #[test]
    fn decide_covers_every_status() {
        let now = Utc::now();
        let p = Policy::default();
        assert_eq!(decide(None, p, false, now), Step::Act);
        let done = rec(EffectStatus::Done, Some(5), now);
        assert_eq!(decide(Some(&done), p, false, now), Step::AlreadyDone);
        let hourly = Policy {
            repeat_after: Some(Duration::minutes(60)),
            ..p
        };
        assert_eq!(decide(Some(&done), hourly, false, now), Step::AlreadyDone);
        let old = rec(EffectStatus::Done, Some(61), now);
        assert_eq!(decide(Some(&old), hourly, false, now), Step::Act);
        let unknown = rec(EffectStatus::Unknown, None, now);
        assert_eq!(decide(Some(&unknown), p, false, now), Step::Blocked);
        assert_eq!(decide(Some(&unknown), p, true, now), Step::Verify);
        let idem = Policy {
            idempotent: true,
            ..p
        };
        assert_eq!(decide(Some(&unknown), idem, true, now), Step::Act);
        let failed = rec(EffectStatus::Failed, Some(1), now);
        assert_eq!(decide(Some(&failed), p, false, now), Step::FailedBefore);
        let retry = Policy {
            retry_failed: true,
            ..p
        };
        assert_eq!(decide(Some(&failed), retry, false, now), Step::Act);
        let skipped = rec(EffectStatus::Skipped, Some(1), now);
        assert_eq!(decide(Some(&skipped), p, false, now), Step::AlreadyDone);
    }

    #[test]
    fn recover_marks_started_unknown_and_prune_keeps_open_ones() {
        let now = Utc::now();
        let mut m = BTreeMap::new();
        m.insert("a".to_string(), rec(EffectStatus::Started, None, now));
        m.insert(
            "b".to_string(),
            rec(EffectStatus::Done, Some(60 * 24 * 40), now),
        );
        m.insert("c".to_string(), rec(EffectStatus::Done, Some(1), now));
        assert_eq!(recover(&mut m), vec!["a".to_string()]);
        assert_eq!(m["a"].status, EffectStatus::Unknown);
        prune(&mut m, now - Duration::days(30));
        let keys: Vec<&String> = m.keys().collect();
        assert_eq!(
            keys,
            ["a", "c"],
            "old settled records go, recent and open stay"
        );
    }
}
