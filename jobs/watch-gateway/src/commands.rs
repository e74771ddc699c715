//! The subcommands: `status` and `maintenance` (no lock: they must not wait behind a 55 s
//! watch run), `resume` and `restart` (under the job's lock; callers such as poll-teams pass
//! `--wait-lock 70`).

use crate::act::{self, Clock, Run, human};
use crate::classify::fmt_time;
use crate::config::Config;
use crate::data::Data;
use crate::gateway::{Env, describe_commands};
use anyhow::Result;
use chrono::Duration;
use common::contracts::control::Maintenance;
use common::http::{Http, HttpConfig};
use common::{Ctx, Outcome};
use std::fmt::Write as _;
use std::time::Instant;

/// `--watch` and `maintenance --for`: `90`, `90s`, `10m`, `1h`, `2d`, between 1 s and 7 d.
pub fn parse_duration(s: &str) -> std::result::Result<std::time::Duration, String> {
    use std::time::Duration;
    common::duration::parse(s, Duration::from_secs(1), Duration::from_secs(7 * 86400))
}

/// The gateway of this suite, as the ladder drives it. When its config does not load (and
/// `gateway.url` is not set), the base URL last derived from it is kept.
pub fn env(ctx: &mut Ctx<Data>) -> Result<Env> {
    let gw = ctx.gateway()?;
    let explicit = gw.url.is_some();
    let mut env = Env::new(gw, &ctx.paths.root, &ctx.paths.config, &ctx.paths.state_dir);
    match (&env.gw_config, &ctx.state.data.base_url) {
        (Some(_), _) if !explicit => ctx.state.data.base_url = Some(env.target.base_url.clone()),
        (None, Some(last)) if !explicit => {
            log::info!(
                "the gateway's config does not load ({}); probing {last} as before",
                env.gw_config_error.as_deref().unwrap_or("?")
            );
            env.target.base_url = last.clone();
            env.port = crate::gateway::port_of(last);
        }
        _ => {}
    }
    Ok(env)
}

/// An HTTP client for probes: `probe_timeout_secs`, no retries.
pub fn probe_client(ctx: &Ctx<Data>, cfg: &Config) -> Result<Http> {
    let hc = HttpConfig {
        connect_timeout_secs: cfg.probe_timeout_secs,
        timeout_secs: cfg.probe_timeout_secs,
        max_retries: 0,
        ..ctx.runtime.http.clone()
    };
    Ok(Http::new(&hc, ctx.deadline())?.with_stop(ctx.stop.clone()))
}

/// `watch-gateway status [--json]`
pub fn status(ctx: &mut Ctx<Data>, cfg: &Config, json: bool) -> Result<Outcome> {
    let now = ctx.now();
    if json {
        // The suite's status envelope: job, as_of, last run and success, the public facts.
        let f = crate::data::facts(&ctx.state.data, now, cfg.max_restarts_per_hour);
        let doc = serde_json::json!({
            "job": "watch-gateway",
            "as_of": now,
            "last_run": ctx.state.last_run,
            "last_success": ctx.state.last_success,
            "facts": f,
        });
        println!("{doc}");
        return Ok(Outcome::noop("status"));
    }
    let env = env(ctx)?;
    let d = &ctx.state.data;
    let mut out = String::new();
    let _ = writeln!(out, "watch-gateway status ({})", ctx.paths.root.display());
    let _ = writeln!(
        out,
        "  gateway {}: {}{}",
        env.target.base_url,
        d.health.as_str(),
        d.health_since
            .map(|t| format!(" since {}", fmt_time(t)))
            .unwrap_or_default()
    );
    if let Some(p) = &d.last_probe {
        let _ = writeln!(
            out,
            "  last probe {}: {}",
            p.at.map(fmt_time).unwrap_or_default(),
            p.describe()
        );
    }
    match common::control::read_maintenance(&ctx.paths.state_dir) {
        Ok(Some(m)) if m.active_at(now) => {
            let _ = writeln!(
                out,
                "  planned maintenance until {}{}",
                m.ignore_until.map(fmt_time).unwrap_or_default(),
                m.reason.map(|r| format!(": {r}")).unwrap_or_default()
            );
        }
        Ok(_) => {}
        Err(e) => {
            let _ = writeln!(out, "  maintenance file: {}", common::exit::one_line(&e));
        }
    }
    if let Some(h) = &d.halted {
        let _ = writeln!(
            out,
            "  RESTARTS HALTED since {}: {} (run `watch-gateway resume`)",
            fmt_time(h.at),
            h.reason
        );
    }
    let _ = writeln!(
        out,
        "  restarts: {} in the budget's hour (max {}), {} in total",
        d.restarts_in_budget(now),
        cfg.max_restarts_per_hour,
        d.restarts_total
    );
    write_incidents(&mut out, d, now);
    for (k, v) in describe_commands(cfg) {
        let _ = writeln!(out, "  {k}: {v}");
    }
    print!("{out}");
    Ok(Outcome::noop("status"))
}

/// The open incident with its steps, then the last closed ones.
fn write_incidents(out: &mut String, d: &Data, now: chrono::DateTime<chrono::Utc>) {
    match &d.incident {
        Some(i) => {
            let _ = writeln!(
                out,
                "  open incident {}: {} for {} ({} failed probes); ladder level {}{}",
                i.id,
                i.cause,
                human(i.age_secs(now)),
                i.failed_probes,
                i.level,
                if i.level_done {
                    ""
                } else {
                    " (interrupted: resumed next run)"
                }
            );
            for s in &i.steps {
                let _ = writeln!(
                    out,
                    "    {} step {} ({}): {} {}",
                    fmt_time(s.at),
                    s.level,
                    s.name,
                    s.status.as_str(),
                    s.detail
                );
            }
            if let Some(dg) = &i.diagnosis {
                let _ = writeln!(
                    out,
                    "    diagnosis ({}): {dg}",
                    i.diagnosis_source.as_deref().unwrap_or("?")
                );
            }
        }
        None => {
            let _ = writeln!(out, "  no open incident");
        }
    }
    for i in d.history.iter().rev().take(5) {
        let _ = writeln!(
            out,
            "  incident {}: {}, recovered after {} (tried: {})",
            i.id,
            i.cause,
            i.recovered_at
                .map(|r| human(i.age_secs(r)))
                .unwrap_or_default(),
            i.tried()
        );
    }
}

/// `watch-gateway maintenance [--for D --reason TEXT | --end]`: write `state/maintenance.json`
/// atomically (the suite's one maintenance file).
pub fn maintenance(
    ctx: &Ctx<Data>,
    dur: Option<std::time::Duration>,
    reason: Option<&str>,
    end: bool,
) -> Result<Outcome> {
    let now = ctx.now();
    let state_dir = &ctx.paths.state_dir;
    let current = common::control::read_maintenance(state_dir)?;
    let m = match (dur, end) {
        (Some(d), _) => Maintenance {
            planned: true,
            reason: reason.map(str::to_string),
            ignore_until: Some(now + Duration::from_std(d)?),
            expected_downtime: Some(serde_json::Value::String(human(d.as_secs()))),
            by: std::env::var("USER")
                .ok()
                .or_else(|| Some("watch-gateway".into())),
            at: Some(now),
        },
        (None, true) => {
            let Some(mut m) = current.filter(|m| m.active_at(now)) else {
                println!("No planned maintenance is in force; nothing to end.");
                return Ok(Outcome::noop("no maintenance"));
            };
            m.planned = false;
            m.ignore_until = Some(now);
            m
        }
        (None, false) => {
            match current.filter(|m| m.active_at(now)) {
                Some(m) => println!(
                    "Planned maintenance until {}{}.",
                    m.ignore_until.map(fmt_time).unwrap_or_default(),
                    m.reason.map(|r| format!(" ({r})")).unwrap_or_default()
                ),
                None => println!("No planned maintenance is in force."),
            }
            return Ok(Outcome::noop("maintenance shown"));
        }
    };
    let path = state_dir.join("maintenance.json");
    if ctx.dry_run {
        println!(
            "Dry run: would write {}: {}",
            path.display(),
            serde_json::to_string(&m)?
        );
        return Ok(Outcome::noop("dry run"));
    }
    common::control::write_maintenance(state_dir, &m)?;
    let msg = if end {
        "Planned maintenance ended: watch-gateway restarts and alerts again.".to_string()
    } else {
        format!(
            "Planned maintenance until {}{}: watch-gateway records probes but restarts nothing and alerts nobody; a gateway still down after that is recovered. ({})",
            m.ignore_until.map(fmt_time).unwrap_or_default(),
            m.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            path.display()
        )
    };
    log::info!("{msg}");
    println!("{msg}");
    Ok(Outcome::ok(msg))
}

/// `watch-gateway resume`: re-arm restarts after the budget tripped (restarts before now no
/// longer count against it).
pub fn resume(ctx: &mut Ctx<Data>) -> Result<Outcome> {
    let now = ctx.now();
    let d = &mut ctx.state.data;
    let Some(h) = d.halted.take() else {
        println!("Restarts are not halted; nothing to resume.");
        return Ok(Outcome::noop("not halted"));
    };
    d.budget_since = Some(now);
    if let Some(i) = d.incident.as_mut() {
        i.halted = false;
    }
    let msg = format!(
        "Automatic restarts re-armed (halted since {}: {}); the restart budget starts afresh.",
        fmt_time(h.at),
        h.reason
    );
    log::warn!("{msg}");
    println!("{msg}");
    Ok(Outcome::ok(msg))
}

/// `watch-gateway restart [--reason TEXT]`: the ladder's restart step, now, on request. Not
/// counted in the budget; an open incident gets its start-up grace.
pub fn restart(ctx: &mut Ctx<Data>, cfg: &Config, reason: Option<&str>) -> Result<Outcome> {
    let pol = crate::policy(cfg);
    let mut env = env(ctx)?;
    let http = probe_client(ctx, cfg)?;
    let clock = Clock {
        start: ctx.now(),
        t0: Instant::now(),
    };
    let probe = crate::probe::probe(&http, &env.target, clock.now(), None);
    let id = format!("manual/{}", clock.start.format("%Y%m%dT%H%M%S%.3fZ"));
    log::warn!(
        "manual restart requested{}: the gateway is {}",
        reason.map(|r| format!(" ({r})")).unwrap_or_default(),
        probe.describe()
    );
    let mut run = Run {
        cfg,
        pol: &pol,
        env: &mut env,
        clock,
    };
    let end = act::restart(ctx, &mut run, &id, 1, &probe)?;
    let now = clock.now();
    if end.restarted
        && let Some(i) = ctx.state.data.incident.as_mut()
    {
        i.window_from = now;
        i.grace_until = Some(now + pol.startup_grace);
    }
    let msg = format!("restart {}: {}", end.status.as_str(), end.detail);
    println!("{msg}");
    if end.status == crate::data::StepStatus::Done {
        Ok(Outcome::ok(msg))
    } else {
        Ok(Outcome::failed(msg.clone(), msg))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("55s").unwrap().as_secs(), 55);
        assert_eq!(parse_duration("10m").unwrap().as_secs(), 600);
        assert_eq!(parse_duration("1.5h").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("90").unwrap().as_secs(), 90);
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("30d").is_err());
    }
}
