//! Stuck work (optional, `watch-gateway.stuck`): runs active longer than a threshold, from
//! `openclaw sessions --json --all-agents` (reads the gateway's SQLite; works without a running
//! gateway; 2–5 s). While a run is active its row has `"status": "running"` and
//! `sessionStartedAt` (epoch ms); finished rows have no `status` (verified against OpenClaw
//! 2026.9.6). Each stuck run is alerted once; it is ended only by a configured
//! `kill_command`.

use crate::act::{Run, human};
use crate::data::Data;
use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use common::effect::Act;
use common::{Ctx, Severity};
use serde_json::Value;

/// A run active too long.
#[derive(Debug, Clone, PartialEq)]
pub struct StuckRun {
    pub key: String,
    pub session_id: String,
    pub started_at: DateTime<Utc>,
    pub age_secs: u64,
}

/// Running rows of `sessions --json` older than `threshold` at `now`.
pub fn stuck_runs(v: &Value, now: DateTime<Utc>, threshold: Duration) -> Vec<StuckRun> {
    let rows = v.get("sessions").and_then(Value::as_array);
    rows.into_iter()
        .flatten()
        .filter(|r| r.get("status").and_then(Value::as_str) == Some("running"))
        .filter_map(|r| {
            let started = r
                .get("sessionStartedAt")
                .and_then(Value::as_i64)
                .and_then(DateTime::from_timestamp_millis)?;
            let age = now - started;
            (age >= threshold).then(|| StuckRun {
                key: r
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                session_id: r
                    .get("sessionId")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                started_at: started,
                age_secs: age.num_seconds().max(0) as u64,
            })
        })
        .filter(|s| !s.session_id.is_empty())
        .collect()
}

/// Look for stuck runs if it is time to; alert each new one once.
pub fn check(ctx: &mut Ctx<Data>, run: &mut Run<'_>, now: DateTime<Utc>) -> Result<usize> {
    let sc = &run.cfg.stuck;
    let due = ctx
        .state
        .data
        .stuck
        .last_check
        .is_none_or(|t| now - t >= Duration::seconds(sc.every_secs as i64));
    if !sc.enabled || !due {
        return Ok(0);
    }
    ctx.state.data.stuck.last_check = Some(now);
    let out = run
        .env
        .gw
        .cli()
        .run(&["sessions", "--json", "--all-agents"])
        .map_err(|e| common::exit::one_line(&e))
        .and_then(|o| {
            o.json()
                .ok_or_else(|| format!("`openclaw sessions --json`: {} without JSON", o.describe()))
        });
    let v = match out {
        Ok(v) => v,
        Err(e) => {
            log::info!("stuck-work check skipped: {e}");
            ctx.state.data.stuck.last_error = Some(e);
            return Ok(0);
        }
    };
    ctx.state.data.stuck.last_error = None;
    let found = stuck_runs(&v, now, Duration::seconds(sc.threshold_secs as i64));
    let mut new = 0;
    for s in &found {
        if ctx.state.data.stuck.reported.contains_key(&s.session_id) {
            continue;
        }
        new += 1;
        ctx.state
            .data
            .stuck
            .reported
            .insert(s.session_id.clone(), now);
        report(ctx, run, s)?;
    }
    let keep_from = now - Duration::days(7);
    ctx.state.data.stuck.reported.retain(|_, t| *t >= keep_from);
    Ok(new)
}

/// Alert one stuck run once; end it when `kill_command` is set.
fn report(ctx: &mut Ctx<Data>, run: &mut Run<'_>, s: &StuckRun) -> Result<()> {
    let sc = &run.cfg.stuck;
    let text = format!(
        "A gateway run has been active for {} (session {}, key {}, started {}).{}",
        human(s.age_secs),
        s.session_id,
        s.key,
        crate::classify::fmt_time(s.started_at),
        if sc.kill_command.is_some() {
            " watch-gateway runs the configured kill_command."
        } else {
            " It is not ended automatically (watch-gateway.stuck.kill_command is not set)."
        }
    );
    ctx.alert_with_interval(
        &format!("gateway/stuck/{}", s.session_id),
        Severity::Warning,
        &text,
        Some(std::time::Duration::from_secs(400 * 86400)),
    )?;
    if let Some(argv) = &sc.kill_command {
        let argv: Vec<String> = argv
            .iter()
            .map(|a| {
                a.replace("{session_id}", &s.session_id)
                    .replace("{key}", &s.key)
            })
            .collect();
        let timeout = std::time::Duration::from_secs(run.cfg.command_timeout_secs);
        let env = &*run.env;
        let vars = env.command_env("", "stuck");
        ctx.effect(
            format!("stuck/{}/kill", s.session_id),
            format!("end the stuck run: `{}`", argv.join(" ")),
        )
        .run(|_| match env.run(&argv, timeout, &vars) {
            Ok(o) if o.success() => Act::done(o.describe()),
            Ok(o) if o.timed_out => Act::Unsure(o.describe()),
            Ok(o) => Act::NotDone(o.describe()),
            Err(e) => Act::NotDone(common::exit::one_line(&e)),
        })?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn running_rows_past_the_threshold() {
        // The captured shape (no run active), then a running row as the research observed it.
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/openclaw-2026.9.6/gateway-health/sessions.json");
        let v: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        let now = DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert!(stuck_runs(&v, now, Duration::minutes(60)).is_empty());
        let mut v = v;
        let started = (now - Duration::minutes(90)).timestamp_millis();
        v["sessions"] = serde_json::json!([
            {"key": "agent:main:cron:j1:run:s1", "sessionId": "s1", "sessionStartedAt": started, "status": "running", "kind": "cron"},
            {"key": "agent:main:cron:j2", "sessionId": "s2", "sessionStartedAt": started},
            {"key": "agent:main:cron:j3:run:s3", "sessionId": "s3", "sessionStartedAt": now.timestamp_millis(), "status": "running"}
        ]);
        let s = stuck_runs(&v, now, Duration::minutes(60));
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].session_id.as_str(), s[0].age_secs), ("s1", 5400));
    }
}
