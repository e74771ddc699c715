//! The side effects the decisions planned, each through the effect journal: the incident's
//! steps (`on_open`/`on_close` commands, its alerts), `state/circuit.json`, and the
//! stale-cooldown and idle-burn alerts.
//!
//! Keys: a command is `incident/<id>/on_open[<i>]` (or `on_close`), an incident alert is the
//! alert key `incident/<id>/<topic>` (journal key `alert/incident/<id>/<topic>`). A command is
//! at most once unless declared `idempotent` (then an unknown outcome is run again, and a
//! failure is retried up to [`HOOK_ATTEMPTS`] times); alerts are at most once. Planned
//! maintenance records them as skipped.

use crate::data::{Data, IdleEpisode, Phase, StaleCooldown, Step, Work};
use crate::decide::{self, Policy};
use crate::texts;
use anyhow::Result;
use chrono::{DateTime, Utc};
use common::contracts::control::{Circuit, CircuitState, Maintenance};
use common::control::{read_circuit, write_circuit};
use common::effect::{Act, EffectOutcome, EffectStatus};
use common::{Ctx, Delivery, Severity};

/// Attempts of an idempotent command before its failure is final.
pub const HOOK_ATTEMPTS: u32 = 3;

/// Alerts of an incident are never repeated (the key is unique per incident).
const ONCE: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 86_400);

/// Mirror the incident to `circuit.json`, run its pending steps, and file a closed incident.
pub fn incident(
    ctx: &mut Ctx<Data>,
    p: &Policy,
    hook_timeout: std::time::Duration,
    maint: Option<&Maintenance>,
) -> Result<()> {
    let now = ctx.now();
    if ctx.state.data.incident.is_some() {
        // The intent first: the incident and its planned steps are on disk before anything.
        ctx.checkpoint()?;
    }
    sync_circuit(ctx, now)?;
    let maint_reason = maint.filter(|m| m.active_at(now)).map(maintenance_reason);
    let n = ctx
        .state
        .data
        .incident
        .as_ref()
        .map_or(0, |i| i.steps.len());
    for i in 0..n {
        let Some((step, phase)) = ctx
            .state
            .data
            .incident
            .as_ref()
            .and_then(|inc| inc.steps.get(i).map(|s| (s.clone(), inc.phase)))
        else {
            break;
        };
        if step.status.is_some() || (step.phase == Phase::Closing && phase != Phase::Closing) {
            continue;
        }
        let settled = match &step.work {
            Work::Command { .. } => run_command(ctx, &step, hook_timeout, maint_reason.clone())?,
            Work::Alert { topic } => send_incident_alert(ctx, &step, topic, maint_reason.clone())?,
        };
        let at = ctx.now();
        if let Some((status, result)) = settled
            && let Some(s) = ctx
                .state
                .data
                .incident
                .as_mut()
                .and_then(|inc| inc.steps.get_mut(i))
        {
            s.status = Some(status);
            s.result = result;
            s.at = Some(at);
        }
    }
    if decide::finish_close(&mut ctx.state.data, now, p.history_len) {
        ctx.checkpoint()?;
        sync_circuit(ctx, now)?;
    }
    Ok(())
}

fn maintenance_reason(m: &Maintenance) -> String {
    format!(
        "maintenance until {}{}",
        m.ignore_until.map(texts::ts).unwrap_or_default(),
        m.reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    )
}

/// Run one command step; the settled outcome, or `None` when it may still run later.
fn run_command(
    ctx: &mut Ctx<Data>,
    step: &Step,
    timeout: std::time::Duration,
    skip: Option<String>,
) -> Result<Option<(EffectStatus, Option<String>)>> {
    let Work::Command {
        name,
        argv,
        idempotent,
    } = &step.work
    else {
        return Ok(None);
    };
    let (id, kind, action) = match &ctx.state.data.incident {
        Some(inc) => (
            inc.id.clone(),
            inc.kind.clone(),
            if step.phase == Phase::Open {
                "open"
            } else {
                "close"
            },
        ),
        None => return Ok(None),
    };
    let env = [
        ("AGENT_JOBS_INCIDENT_ID", id.clone()),
        ("AGENT_JOBS_CIRCUIT_ACTION", action.to_string()),
        ("AGENT_JOBS_CIRCUIT_KIND", kind),
        ("AGENT_JOBS_HOOK", name.clone()),
    ];
    let attempts = ctx.effect_record(&step.key).map_or(0, |r| r.attempts);
    let retry = *idempotent && attempts < HOOK_ATTEMPTS;
    let what = format!("run `{}` ({name} of incident {id})", argv.join(" "));
    let out = ctx
        .effect(step.key.clone(), what)
        .idempotent(*idempotent)
        .retry_failed(retry)
        .skip_if(skip)
        .run(|_| command_act(argv, timeout, &env))?;
    Ok(match out {
        EffectOutcome::Ran(r) => {
            let again = *idempotent
                && r.attempts < HOOK_ATTEMPTS
                && matches!(r.status, EffectStatus::Failed | EffectStatus::Unknown);
            if r.status != EffectStatus::Done {
                log::error!(
                    "incident {id}: {name} `{}`: {}{}",
                    argv.join(" "),
                    r.result.as_deref().unwrap_or("?"),
                    if again {
                        " (idempotent: tried again at the next run)"
                    } else {
                        ""
                    }
                );
            }
            (!again).then_some((r.status, r.result))
        }
        EffectOutcome::AlreadyDone(r)
        | EffectOutcome::Blocked(r)
        | EffectOutcome::FailedBefore(r) => Some((r.status, r.result)),
        EffectOutcome::Skipped(why) if why == "dry run" => None,
        EffectOutcome::Skipped(why) => {
            Some((EffectStatus::Skipped, Some(format!("skipped: {why}"))))
        }
    })
}

fn command_act(argv: &[String], timeout: std::time::Duration, env: &[(&str, String)]) -> Act {
    match common::cmd::run(argv, timeout, None, env) {
        Ok(o) if o.success() => Act::done(o.describe()),
        // Killed at the timeout: it may have done part of its work.
        Ok(o) if o.timed_out => Act::Unsure(o.describe()),
        Ok(o) => Act::NotDone(o.describe()),
        Err(e) => Act::NotDone(common::exit::one_line(&e)),
    }
}

/// Send one incident alert; the settled outcome, or `None` in a dry run.
fn send_incident_alert(
    ctx: &mut Ctx<Data>,
    step: &Step,
    topic: &str,
    skip: Option<String>,
) -> Result<Option<(EffectStatus, Option<String>)>> {
    if let Some(reason) = skip {
        let out = ctx
            .effect(
                common::alert::effect_key(&step.key),
                format!("alert `{}`", step.key),
            )
            .skip_if(Some(reason))
            .run(|_| Act::NotDone("not sent".into()))?;
        return Ok(settled_alert(ctx, &step.key, out));
    }
    let now = ctx.now();
    let Some(inc) = ctx.state.data.incident.clone() else {
        return Ok(None);
    };
    let profile_id = known_profile_id(&ctx.state.data, inc.profile.as_deref());
    let text = texts::alert(&inc, topic, now, profile_id.as_deref());
    let severity = texts::severity(&inc, topic);
    let delivery = ctx.alert_with_interval(&step.key, severity, &text, Some(ONCE))?;
    Ok(match delivery {
        Delivery::Sent => Some((EffectStatus::Done, Some("sent".into()))),
        Delivery::Failed(why) => Some((EffectStatus::Failed, Some(why))),
        Delivery::DryRun => None,
        Delivery::Suppressed => ctx
            .effect_record(&common::alert::effect_key(&step.key))
            .map(|r| (r.status, r.result.clone())),
    })
}

fn settled_alert(
    ctx: &Ctx<Data>,
    key: &str,
    out: EffectOutcome,
) -> Option<(EffectStatus, Option<String>)> {
    match out {
        EffectOutcome::Skipped(why) if why == "dry run" => None,
        EffectOutcome::Skipped(why) => {
            Some((EffectStatus::Skipped, Some(format!("skipped: {why}"))))
        }
        _ => ctx
            .effect_record(&common::alert::effect_key(key))
            .map(|r| (r.status, r.result.clone())),
    }
}

/// The real id of a profile the log names by its hash, when `models status` told us.
pub fn known_profile_id(data: &Data, hashed: Option<&str>) -> Option<String> {
    let h = hashed?;
    data.cooldowns
        .iter()
        .rev()
        .find(|c| c.profile.as_deref() == Some(h) && c.profile_id.is_some())
        .and_then(|c| c.profile_id.clone())
}

/// One alert per stale cooldown (key per profile and window end), unless in maintenance.
pub fn stale_alerts(
    ctx: &mut Ctx<Data>,
    found: &[StaleCooldown],
    maint: Option<&Maintenance>,
) -> Result<()> {
    let now = ctx.now();
    for s in found {
        let key = format!(
            "stale-cooldown/{}/{}",
            s.profile,
            s.until.timestamp_millis()
        );
        log::warn!("{}", texts::stale(s));
        if maint.is_some_and(|m| m.active_at(now)) {
            continue;
        }
        ctx.alert_with_interval(&key, Severity::Warning, &texts::stale(s), Some(ONCE))?;
    }
    Ok(())
}

/// The idle-burn alert, once per episode.
pub fn idle_alert(ctx: &mut Ctx<Data>, e: &IdleEpisode, maint: Option<&Maintenance>) -> Result<()> {
    let now = ctx.now();
    let key = format!("idle-burn/{}", e.started.format("%Y%m%dT%H"));
    if !maint.is_some_and(|m| m.active_at(now)) {
        let d = ctx.alert_with_interval(&key, Severity::Warning, &texts::idle(e), Some(ONCE))?;
        if d == Delivery::DryRun {
            return Ok(());
        }
    }
    if let Some(cur) = ctx.state.data.idle.as_mut() {
        cur.alerted = true;
    }
    Ok(())
}

/// The circuit.json other jobs should see for this state.
pub fn desired(data: &Data, now: DateTime<Utc>) -> Option<Circuit> {
    match &data.incident {
        Some(inc) if inc.phase == Phase::Open => Some(Circuit {
            state: CircuitState::Open,
            kind: Some(inc.kind.clone()),
            since: Some(inc.started_at),
            reason: Some(inc.reason.clone()),
            reset_at: if matches!(inc.kind.as_str(), "rate_limit" | "overload") {
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
    let strip = |c: &Circuit| Circuit {
        updated_at: None,
        ..c.clone()
    };
    if strip(&current) == strip(&want) {
        return Ok(());
    }
    if ctx.dry_run {
        log::warn!(
            "dry run: would write circuit.json: {}",
            serde_json::to_string(&want).unwrap_or_default()
        );
        return Ok(());
    }
    write_circuit(&dir, &want)
}
