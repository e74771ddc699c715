//! Act: carry out what the ladder planned. Every side effect (a restart, a config restore, a
//! model call, an alert) goes through the effect journal under the incident's key
//! (`incident/<id>/step<level>-restart`, …): its intent is on disk before it starts, so a run
//! killed at any point never repeats it for the same incident; one whose outcome is unknown is
//! reported as such, not repeated and not skipped silently.
//!
//! The incident records each step before it starts (`running`) and after it ends; a step found
//! `running` by the next run is resumed: its finished effects are not repeated.

use crate::classify::{Policy, fmt_time};
use crate::config::Config;
use crate::data::{Data, Halt, Incident, Probe, RestartRecord, STEPS_KEPT, StepRecord, StepStatus};
use crate::diagnose;
use crate::gateway::Env;
use crate::ladder;
use crate::procfs;
use anyhow::{Result, anyhow};
use chrono::{DateTime, Duration, Utc};
use common::effect::{Act, EffectOutcome, EffectStatus};
use common::{Ctx, Severity};
use serde_json::Value;
use std::time::Instant;

/// The run's clock: `--now` (or the wall clock) at the start, plus the time elapsed.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub start: DateTime<Utc>,
    pub t0: Instant,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        self.start + Duration::from_std(self.t0.elapsed()).unwrap_or_default()
    }
}

/// What acting needs besides the context.
pub struct Run<'a> {
    pub cfg: &'a Config,
    pub pol: &'a Policy,
    pub env: &'a mut Env,
    pub clock: Clock,
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq)]
pub struct StepEnd {
    pub status: StepStatus,
    pub detail: String,
    /// The gateway was (re)started: a start-up grace follows.
    pub restarted: bool,
    /// Nothing disruptive happened: the next level may follow at once.
    pub continue_now: bool,
}

/// Alerts of one incident are sent once: they never repeat within this interval.
const ONCE: std::time::Duration = std::time::Duration::from_secs(400 * 86400);

fn incident_mut(d: &mut Data) -> Result<&mut Incident> {
    d.incident
        .as_mut()
        .ok_or_else(|| anyhow!("internal: no open incident"))
}

/// An effect's outcome as a step status and words.
pub fn settle(out: &EffectOutcome) -> (StepStatus, String) {
    match out {
        EffectOutcome::Ran(r) | EffectOutcome::AlreadyDone(r) | EffectOutcome::FailedBefore(r) => {
            let s = match r.status {
                EffectStatus::Done => StepStatus::Done,
                EffectStatus::Failed => StepStatus::Failed,
                EffectStatus::Skipped => StepStatus::Skipped,
                EffectStatus::Unknown | EffectStatus::Started => StepStatus::Unknown,
            };
            (s, r.result.clone().unwrap_or_default())
        }
        EffectOutcome::Blocked(r) => (
            StepStatus::Unknown,
            format!(
                "outcome unknown ({}): an earlier run stopped during it; not repeated, check by hand",
                r.result.as_deref().unwrap_or("interrupted")
            ),
        ),
        EffectOutcome::Skipped(why) => (StepStatus::Skipped, why.clone()),
    }
}

/// Open an incident at the first failed probe outside maintenance.
pub fn open(
    ctx: &mut Ctx<Data>,
    cause: &str,
    probe: &Probe,
    now: DateTime<Utc>,
    pol: &Policy,
) -> Result<()> {
    let mut inc = Incident::new(now, cause);
    inc.last_detail = probe.describe();
    log::info!(
        "gateway {cause}: incident {} opened ({}); the first step follows in {} s unless it recovers",
        inc.id,
        inc.last_detail,
        pol.window.num_seconds()
    );
    ctx.state.data.incident = Some(inc);
    ctx.checkpoint()
}

/// Take (or resume) ladder level `level` and record how it ended.
pub fn step(ctx: &mut Ctx<Data>, run: &mut Run<'_>, level: u32, probe: &Probe) -> Result<StepEnd> {
    let now = run.clock.now();
    let (id, resumed) = {
        let inc = incident_mut(&mut ctx.state.data)?;
        let resumed = inc.level == level && !inc.level_done;
        if !resumed {
            inc.level = level;
            inc.level_done = false;
            inc.steps.push(StepRecord {
                level,
                name: ladder::name(level).into(),
                at: now,
                status: StepStatus::Running,
                detail: String::new(),
            });
            if inc.steps.len() > STEPS_KEPT {
                inc.steps.remove(0);
            }
        }
        (inc.id.clone(), resumed)
    };
    if resumed {
        log::warn!(
            "incident {id}: resuming step {level} ({}) interrupted by the end of an earlier run",
            ladder::name(level)
        );
    }
    ctx.checkpoint()?;
    let end = match level {
        2 => config_step(ctx, run, &id, probe)?,
        3 => diagnose_step(ctx, run, &id, probe)?,
        _ => restart(ctx, run, &id, level, probe)?,
    };
    let done_at = run.clock.now();
    let inc = incident_mut(&mut ctx.state.data)?;
    inc.level_done = true;
    if !end.continue_now {
        // The next step waits a whole failed window from here.
        inc.window_from = done_at;
    }
    if end.restarted {
        inc.grace_until = Some(done_at + run.pol.startup_grace);
    }
    if let Some(r) = inc.step_mut(level) {
        r.status = end.status;
        r.detail = short(&end.detail, 300);
    }
    let msg = format!(
        "incident {id}: step {level} ({}) {}: {}",
        ladder::name(level),
        end.status.as_str(),
        short(&end.detail, 300)
    );
    match end.status {
        StepStatus::Done | StepStatus::Skipped => log::info!("{msg}"),
        _ => log::warn!("{msg}"),
    }
    ctx.checkpoint()?;
    Ok(end)
}

fn short(s: &str, n: usize) -> String {
    let t: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.chars().count() <= n {
        return t;
    }
    let mut out: String = t.chars().take(n).collect();
    out.push('…');
    out
}

/// Run a ladder command as an act: exit 0 is done, another exit provably not, a timeout
/// unknown. The result in words comes from its JSON (`result`, `message`) or last line.
fn command_act(
    env: &Env,
    argv: &[String],
    timeout: std::time::Duration,
    vars: &[(String, String)],
) -> Act {
    let out = match env.run(argv, timeout, vars) {
        Ok(o) => o,
        Err(e) => return Act::NotDone(common::exit::one_line(&e)),
    };
    let words = openclaw::cli::json_document(&out.stdout)
        .map(|v| {
            ["result", "message", "error"]
                .iter()
                .filter_map(|k| match v.get(*k) {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Object(o)) => {
                        o.get("message").and_then(Value::as_str).map(str::to_string)
                    }
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(": ")
        })
        .filter(|s| !s.is_empty())
        .or_else(|| {
            out.stderr
                .lines()
                .chain(out.stdout.lines())
                .rev()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_string)
        })
        .unwrap_or_default();
    if out.success() {
        Act::done(if words.is_empty() {
            out.describe()
        } else {
            words
        })
    } else if out.timed_out {
        Act::Unsure(format!("{}; {words}", out.describe()))
    } else {
        Act::NotDone(format!("{}: {words}", out.describe()))
    }
}

/// Restart the gateway for `level` of incident `id` (or a manual restart, `id` = `manual/…`):
/// in place when it answers HTTP, else stop a hung process and start it.
pub fn restart(
    ctx: &mut Ctx<Data>,
    run: &mut Run<'_>,
    id: &str,
    level: u32,
    probe: &Probe,
) -> Result<StepEnd> {
    let cfg = run.cfg;
    if !cfg.restarts() {
        return Ok(StepEnd {
            status: StepStatus::Skipped,
            detail:
                "left to the supervisor (restart_command and start_command are []): the kubelet's \
                     liveness probe and restartPolicy restart the gateway"
                    .into(),
            restarted: true,
            continue_now: false,
        });
    }
    let key = if id.starts_with("manual/") {
        format!("{id}/restart")
    } else {
        format!("incident/{id}/step{level}-restart")
    };
    let vars = run
        .env
        .command_env(id, &format!("{level}-{}", ladder::name(level)));
    let timeout = std::time::Duration::from_secs(cfg.command_timeout_secs);
    let (argv, how) = if probe.live {
        (&cfg.restart_command, "restart_command")
    } else {
        (&cfg.start_command, "start_command")
    };
    if !probe.live && cfg.stop_hung {
        stop_hung(ctx, run, &key, probe)?;
    }
    let now = run.clock.now();
    if ctx.effect_record(&key).is_none() && !ctx.dry_run {
        // Counted before it runs: a restart that may have happened counts against the budget.
        ctx.state.data.push_restart(RestartRecord {
            at: now,
            incident: (!id.starts_with("manual/")).then(|| id.to_string()),
            how: how.into(),
            automatic: !id.starts_with("manual/"),
        });
        if let Some(inc) = ctx.state.data.incident.as_mut().filter(|i| i.id == id) {
            inc.restarts += 1;
        }
    }
    let detached = !probe.live && cfg.start_detached;
    let what = format!(
        "{} the gateway: `{}`{}",
        if probe.live { "restart" } else { "start" },
        argv.join(" "),
        if detached { " (detached)" } else { "" }
    );
    let env = &mut *run.env;
    let out = ctx.effect(key, what).run(|ctx| {
        if !detached {
            return command_act(env, argv, timeout, &vars);
        }
        match env.launch(argv, &vars, now) {
            Ok(mut l) => {
                l.level = level;
                l.incident = Some(id.to_string());
                let msg = format!("launched pid {} (output in {})", l.pid, l.console);
                ctx.state.data.launched = Some(l);
                Act::done(msg)
            }
            Err(e) => Act::NotDone(common::exit::one_line(&e)),
        }
    })?;
    let (status, detail) = settle(&out);
    Ok(StepEnd {
        restarted: status == StepStatus::Done,
        status,
        detail,
        continue_now: false,
    })
}

/// A gateway process that runs but does not answer HTTP is stopped before a start (the new
/// one could not bind its port or own its state dir otherwise).
fn stop_hung(ctx: &mut Ctx<Data>, run: &mut Run<'_>, key: &str, probe: &Probe) -> Result<()> {
    let Some(lock) = procfs::read_lock(&run.env.gw.state_dir, &run.env.gw.config) else {
        return Ok(());
    };
    if probe.process != crate::data::Process::Running || !procfs::alive(lock.pid, lock.start_time) {
        return Ok(());
    }
    let timeout = std::time::Duration::from_secs(run.cfg.stop_timeout_secs);
    let what = format!(
        "stop the hung gateway (pid {}: running, no HTTP answer)",
        lock.pid
    );
    ctx.effect(format!("{key}/stop-hung"), what).run(|_| {
        match crate::gateway::stop(lock.pid, lock.start_time, timeout) {
            Ok(true) => Act::done(format!("pid {} stopped", lock.pid)),
            Ok(false) => Act::Unsure(format!("pid {} survived SIGKILL", lock.pid)),
            Err(e) => Act::NotDone(common::exit::one_line(&e)),
        }
    })?;
    Ok(())
}

/// Step 2: a config problem (the gateway's own validation, or its output since the incident
/// began) → backup-config's restore of the last good version, then a restart.
fn config_step(ctx: &mut Ctx<Data>, run: &mut Run<'_>, id: &str, probe: &Probe) -> Result<StepEnd> {
    let Some(problem) = config_problem(run) else {
        return Ok(StepEnd {
            status: StepStatus::Done,
            detail: "no config problem found (`openclaw config validate` says valid; no config error in the gateway's output)".into(),
            restarted: false,
            continue_now: true,
        });
    };
    log::warn!("incident {id}: config problem: {problem}; restoring the last good config");
    let cfg = run.cfg;
    let vars = run.env.command_env(id, "2-config");
    let timeout = std::time::Duration::from_secs(cfg.command_timeout_secs);
    let env = &*run.env;
    let out = ctx
        .effect(
            format!("incident/{id}/step2-restore"),
            format!(
                "restore the last good config: `{}`",
                cfg.restore_command.join(" ")
            ),
        )
        .run(|_| command_act(env, &cfg.restore_command, timeout, &vars))?;
    let (status, detail) = settle(&out);
    if status != StepStatus::Done {
        return Ok(StepEnd {
            status: StepStatus::Failed,
            detail: format!(
                "config problem: {problem}; restore {}: {detail}",
                status.as_str()
            ),
            restarted: false,
            continue_now: true,
        });
    }
    incident_mut(&mut ctx.state.data)?.restored = true;
    let now = run.clock.now();
    if ctx.state.data.restarts_in_budget(now) >= cfg.max_restarts_per_hour as usize {
        halt(ctx, run, probe)?;
        return Ok(StepEnd {
            status: StepStatus::Done,
            detail: format!(
                "config problem: {problem}; restored ({detail}); restart held: the restart budget is spent"
            ),
            restarted: false,
            continue_now: false,
        });
    }
    let r = restart(ctx, run, id, 2, probe)?;
    Ok(StepEnd {
        detail: format!(
            "config problem: {problem}; restored ({detail}); restart {}: {}",
            r.status.as_str(),
            r.detail
        ),
        ..r
    })
}

/// What says the config is the problem, if anything does.
fn config_problem(run: &Run<'_>) -> Option<String> {
    let v = diagnose::validate(run.env);
    if let Some(issues) = diagnose::validate_issues(&v) {
        return Some(format!("`openclaw config validate`: {issues}"));
    }
    let console = run.env.console_tail(80);
    diagnose::config_problem_in(&console).map(|l| format!("the gateway said: {l}"))
}

/// Step 3: bundle, diagnosis, one escalation alert.
fn diagnose_step(
    ctx: &mut Ctx<Data>,
    run: &mut Run<'_>,
    id: &str,
    probe: &Probe,
) -> Result<StepEnd> {
    let (diagnosis, source) = ensure_diagnosis(ctx, run, probe)?;
    let now = run.clock.now();
    let inc = incident_mut(&mut ctx.state.data)?.clone();
    let used = ctx.state.data.restarts_in_budget(now);
    let text = format!(
        "The agent gateway is still down after {} (incident {id}, {} since {}; last probe: {}). Tried: {}. Diagnosis ({source}): {diagnosis}.{} watch-gateway keeps retrying the restart within its budget ({used} of {} per hour used).",
        human(inc.age_secs(now)),
        inc.cause,
        fmt_time(inc.started_at),
        probe.describe(),
        inc.tried(),
        inc.bundle
            .as_deref()
            .map(|b| format!(" Diagnostics bundle: {b}."))
            .unwrap_or_default(),
        run.cfg.max_restarts_per_hour,
    );
    ctx.alert_with_interval(
        &format!("gateway/escalated/{id}"),
        Severity::Warning,
        &text,
        Some(ONCE),
    )?;
    Ok(StepEnd {
        status: StepStatus::Done,
        detail: format!("diagnosis ({source}): {diagnosis}"),
        restarted: false,
        continue_now: false,
    })
}

/// The incident's diagnosis, made once: bundle written, then the model, the rules, or the
/// bundle itself. Returns (diagnosis, source).
fn ensure_diagnosis(
    ctx: &mut Ctx<Data>,
    run: &mut Run<'_>,
    probe: &Probe,
) -> Result<(String, String)> {
    let inc = incident_mut(&mut ctx.state.data)?.clone();
    if let (Some(d), Some(s)) = (&inc.diagnosis, &inc.diagnosis_source) {
        return Ok((d.clone(), s.clone()));
    }
    let previous_recovery = ctx
        .state
        .data
        .history
        .iter()
        .filter(|h| h.id != inc.id)
        .filter_map(|h| h.recovered_at)
        .max();
    let bundle = diagnose::collect(run.env, run.cfg, &inc, probe, previous_recovery);
    let path = if ctx.dry_run {
        None
    } else {
        match diagnose::write(run.env, &inc, &bundle, run.cfg.bundles_kept) {
            Ok(p) => Some(p.display().to_string()),
            Err(e) => {
                log::error!(
                    "cannot write the diagnostics bundle: {}",
                    common::exit::one_line(&e)
                );
                None
            }
        }
    };
    let (d, s) = match ask_model(ctx, run.cfg, &inc.id, &bundle) {
        Ok(text) => (text, "model".to_string()),
        Err(why) => {
            log::info!("diagnosis without the model: {why}");
            match diagnose::rules(&bundle.signals) {
                Some(r) => (r, "rules".to_string()),
                None => (
                    format!(
                        "no known signature matched; read the bundle{}",
                        path.as_deref().map(|p| format!(" {p}")).unwrap_or_default()
                    ),
                    "bundle".to_string(),
                ),
            }
        }
    };
    let inc = incident_mut(&mut ctx.state.data)?;
    inc.diagnosis = Some(d.clone());
    inc.diagnosis_source = Some(s.clone());
    inc.bundle = path;
    ctx.checkpoint()?;
    Ok((d, s))
}

/// The model's diagnosis (one call per incident, journaled: it costs money). `Err` says why
/// the rules are used instead.
fn ask_model(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    id: &str,
    b: &diagnose::Bundle,
) -> Result<String, String> {
    if !cfg.model.enabled {
        return Err("the model is not enabled (`watch-gateway.model.enabled`)".into());
    }
    let circuit = ctx.circuit();
    if circuit.is_open() {
        return Err("the rate-limit circuit is open".into());
    }
    ctx.state.data.tokens.start_run(ctx.now().date_naive());
    ctx.state
        .data
        .tokens
        .check(&cfg.model)
        .map_err(|s| s.to_string())?;
    let key = ctx
        .secret(
            "watch-gateway.model.api_key",
            cfg.model.api_key_env.as_deref(),
            cfg.model.api_key_file.as_deref(),
        )
        .map_err(|e| common::exit::one_line(&e))?;
    let http = cfg
        .model
        .client(&ctx.runtime.http, ctx.deadline())
        .map_err(|e| common::exit::one_line(&e))?
        .with_stop(ctx.stop.clone());
    let prompt = diagnose::prompt(b, cfg.diagnosis_max_chars);
    let out = ctx
        .effect(
            format!("incident/{id}/diagnose-model"),
            "ask the model for a diagnosis",
        )
        .run(|ctx| {
            match model::complete(&http, &cfg.model, key.as_ref(), diagnose::SYSTEM, &prompt) {
                Ok(c) => {
                    ctx.state.data.tokens.record(&c);
                    let text: String = c.text.split_whitespace().collect::<Vec<_>>().join(" ");
                    let text: String = text.chars().take(1500).collect();
                    Act::Done(
                        format!("{} tokens", c.total_tokens()),
                        Some(Value::String(text)),
                    )
                }
                Err(e) => {
                    ctx.state.data.tokens.record_failure(&e);
                    if e.status.is_none() && e.kind == model::ErrorKind::Timeout {
                        Act::Unsure(e.to_string())
                    } else {
                        Act::NotDone(e.to_string())
                    }
                }
            }
        })
        .map_err(|e| common::exit::one_line(&e))?;
    match &out {
        EffectOutcome::Ran(r) | EffectOutcome::AlreadyDone(r) if r.status == EffectStatus::Done => {
            r.value
                .as_ref()
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .ok_or_else(|| "the model answered with an empty text".into())
        }
        other => Err(settle(other).1),
    }
}

/// The restart budget is spent: stop restarting, alert critically once, wait for a human.
pub fn halt(ctx: &mut Ctx<Data>, run: &mut Run<'_>, probe: &Probe) -> Result<()> {
    let now = run.clock.now();
    let max = run.cfg.max_restarts_per_hour;
    let id = incident_mut(&mut ctx.state.data)?.id.clone();
    ctx.state.data.halted = Some(Halt {
        at: now,
        incident: Some(id.clone()),
        reason: format!(
            "{max} automatic restart(s) in the last hour: the restart budget is spent (incident {id})"
        ),
    });
    incident_mut(&mut ctx.state.data)?.halted = true;
    ctx.checkpoint()?;
    let (diagnosis, source) = ensure_diagnosis(ctx, run, probe)?;
    let inc = incident_mut(&mut ctx.state.data)?.clone();
    let text = format!(
        "watch-gateway stopped restarting the agent gateway: it is still down after {} restart(s) within the hour (budget {max} per hour). Incident {id}, {} since {} ({}). Tried: {}. Diagnosis ({source}): {diagnosis}.{} Fix the cause, then run `watch-gateway resume` (or /jobs start in Teams) to let it restart the gateway again.",
        inc.restarts,
        inc.cause,
        fmt_time(inc.started_at),
        human(inc.age_secs(now)),
        inc.tried(),
        inc.bundle
            .as_deref()
            .map(|b| format!(" Diagnostics bundle: {b}."))
            .unwrap_or_default(),
    );
    ctx.alert_with_interval(
        &format!("gateway/halted/{id}"),
        Severity::Critical,
        &text,
        Some(ONCE),
    )?;
    Ok(())
}

/// The gateway answers again: close the incident; say so once if anything was done (and no
/// maintenance holds).
pub fn recovered(
    ctx: &mut Ctx<Data>,
    run: &Run<'_>,
    now: DateTime<Utc>,
    maintenance: bool,
) -> Result<()> {
    let Some(mut inc) = ctx.state.data.close_incident(now, run.cfg.history_len) else {
        return Ok(());
    };
    for s in inc
        .steps
        .iter_mut()
        .filter(|s| s.status == StepStatus::Running)
    {
        s.status = StepStatus::Unknown;
        s.detail = "interrupted; the gateway recovered".into();
    }
    if let Some(h) = ctx.state.data.history.last_mut() {
        *h = inc.clone();
    }
    let secs = inc.age_secs(now);
    if !inc.acted() || maintenance {
        log::info!(
            "gateway back after {secs} s (incident {} closed; tried: {}){}",
            inc.id,
            inc.tried(),
            if maintenance {
                "; in planned maintenance: not alerted"
            } else {
                ""
            }
        );
        return ctx.checkpoint();
    }
    let halted = ctx.state.data.halted.is_some();
    let text = format!(
        "The agent gateway recovered after {secs}s (incident {}, {} since {}). Tried: {}.{}",
        inc.id,
        inc.cause,
        fmt_time(inc.started_at),
        inc.tried(),
        if halted {
            " Automatic restarts are still halted: run `watch-gateway resume` to re-arm them."
        } else {
            ""
        }
    );
    ctx.alert_with_interval(
        &format!("gateway/recovered/{}", inc.id),
        Severity::Info,
        &text,
        Some(ONCE),
    )?;
    ctx.checkpoint()
}

/// A gateway this incident launched has exited: the step that launched it failed.
pub fn note_launch_exit(ctx: &mut Ctx<Data>, env: &mut Env, now: DateTime<Utc>) -> bool {
    let code = env.reap();
    let d = &mut ctx.state.data;
    let (Some(l), Some(inc)) = (d.launched.as_mut(), d.incident.as_mut()) else {
        return false;
    };
    if l.incident.as_deref() != Some(inc.id.as_str()) || procfs::alive(l.pid, l.start_ticks) {
        return false;
    }
    if l.exited.is_none() {
        let why = diagnose::start_failure(&env.console_tail(40));
        let exit = match code {
            Some(Some(c)) => format!(" with exit code {c}"),
            _ => String::new(),
        };
        let msg = format!(
            "the gateway it started (pid {}) exited{exit} after {} s{}",
            l.pid,
            (now - l.at).num_seconds().max(0),
            why.map(|w| format!(": {w}")).unwrap_or_default()
        );
        log::warn!("incident {}: {msg}", inc.id);
        if let Some(r) = inc
            .step_mut(l.level)
            .filter(|r| r.status == StepStatus::Done)
        {
            r.status = StepStatus::Failed;
            r.detail = short(&format!("{}; {msg}", r.detail), 400);
        }
        l.exited = Some(msg);
    }
    true
}

/// `42s`, `3 min`, `2 h 05 min`.
pub fn human(secs: u64) -> String {
    match secs {
        0..=119 => format!("{secs}s"),
        120..=7199 => format!("{} min", secs / 60),
        _ => format!("{} h {:02} min", secs / 3600, (secs % 3600) / 60),
    }
}
