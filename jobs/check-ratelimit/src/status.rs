//! `check-ratelimit status`: the circuit, the open incident and its steps, the window, the
//! gateway's cooldowns, maintenance, the files followed, calls per hour and the last
//! incidents, for a human.

use crate::config::Config;
use crate::data::{Data, Phase};
use crate::decide::Policy;
use crate::texts::{human, ts};
use chrono::{DateTime, Utc};
use common::contracts::control::{Circuit, Maintenance};
use std::fmt::Write;
use std::path::PathBuf;

fn size_h(b: u64) -> String {
    const K: f64 = 1024.0;
    let f = b as f64;
    if f >= K * K * K {
        format!("{:.1} GiB", f / (K * K * K))
    } else if f >= K * K {
        format!("{:.1} MiB", f / (K * K))
    } else if f >= K {
        format!("{:.1} KiB", f / K)
    } else {
        format!("{b} B")
    }
}

/// Render the status text.
pub fn render(
    data: &Data,
    circuit: Result<Circuit, String>,
    cfg: &Config,
    globs: &[PathBuf],
    now: DateTime<Utc>,
    maint: Option<&Maintenance>,
) -> String {
    let mut s = String::new();
    circuit_lines(&mut s, data, &circuit, now);
    window_lines(&mut s, data, cfg, now);
    match maint.filter(|m| m.active_at(now)) {
        Some(m) => {
            let _ = writeln!(
                s,
                "maintenance: until {}{} (alerts and commands skipped)",
                m.ignore_until.map(ts).unwrap_or_default(),
                m.reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            );
        }
        None => {
            let _ = writeln!(s, "maintenance: none");
        }
    }
    file_lines(&mut s, data, globs);
    cost_lines(&mut s, data);
    if !data.history.is_empty() {
        let _ = writeln!(s, "last incidents:");
        for h in data.history.iter().rev().take(5) {
            let _ = writeln!(
                s,
                "  {}  {}  {} → {}  {}  {} refusal(s)  {}  reset: {}",
                h.id,
                h.kind,
                ts(h.started_at),
                ts(h.ended_at),
                human(chrono::Duration::seconds(h.duration_secs)),
                h.matches,
                [h.provider.as_deref(), h.model.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("/"),
                h.reset_source.as_deref().unwrap_or("-")
            );
        }
    }
    s
}

fn circuit_lines(
    s: &mut String,
    data: &Data,
    circuit: &Result<Circuit, String>,
    now: DateTime<Utc>,
) {
    let _ = match circuit {
        Ok(c) if c.is_open() => writeln!(
            s,
            "circuit: OPEN ({}) since {}{}",
            c.kind.as_deref().unwrap_or("?"),
            c.since.map(ts).unwrap_or_else(|| "?".into()),
            c.since
                .map(|t| format!(" ({})", human(now - t)))
                .unwrap_or_default()
        ),
        Ok(_) => writeln!(s, "circuit: closed"),
        Err(e) => writeln!(s, "circuit: UNREADABLE ({e}); other jobs treat it as open"),
    };
    let Some(inc) = &data.incident else {
        if circuit.as_ref().is_ok_and(|c| c.is_open()) {
            let _ = writeln!(
                s,
                "  (no incident in state: circuit.json was written by hand or state was reset; `check-ratelimit close` closes it)"
            );
        }
        return;
    };
    let _ = writeln!(
        s,
        "incident: {} ({}, opened by {}{})",
        inc.id,
        inc.kind,
        inc.opened_by,
        if inc.phase == Phase::Closing {
            ", closing"
        } else {
            ""
        }
    );
    let _ = writeln!(s, "  reason: {}", inc.reason);
    let who = crate::texts::who(
        inc,
        crate::act::known_profile_id(data, inc.profile.as_deref()).as_deref(),
    );
    let _ = writeln!(
        s,
        "  refused: {} request(s), {} gateway decision(s){}{}",
        inc.matches,
        inc.decisions,
        inc.last_at
            .map(|l| format!(", last at {}", ts(l)))
            .unwrap_or_default(),
        who
    );
    if matches!(inc.kind.as_str(), "rate_limit" | "overload") {
        if let (Some(r), Some(src)) = (inc.reset_at, &inc.reset_source) {
            let when = if r > now {
                format!("in {}", human(r - now))
            } else {
                "due at the next run".into()
            };
            let _ = writeln!(s, "  closes at: {} ({src}; {when})", ts(r));
        }
    } else {
        let _ = writeln!(
            s,
            "  closes: only by hand (`check-ratelimit close`) once the cause is fixed"
        );
    }
    for st in &inc.steps {
        let name = st.key.rsplit('/').next().unwrap_or(&st.key);
        let _ = writeln!(
            s,
            "  {name}: {}{}",
            st.status.map_or("pending", |x| x.as_str()),
            st.result
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
    }
}

fn window_lines(s: &mut String, data: &Data, cfg: &Config, now: DateTime<Utc>) {
    let p = Policy::from_config(cfg);
    let c = data.window_counts(now, p.window);
    let _ = writeln!(
        s,
        "window ({}): rate limit {} refused / {} decided, quota {} / {}, overload {} / {} (opens at {} refused or {} decided; quota {}; overload {})",
        human(p.window),
        c.rate_limit.refusals,
        c.rate_limit.decisions,
        c.quota.refusals,
        c.quota.decisions,
        c.overload.refusals,
        c.overload.decisions,
        cfg.threshold,
        cfg.cooldown_threshold,
        cfg.quota_threshold,
        cfg.overload_threshold
            .map_or("never".to_string(), |t| t.to_string())
    );
    if let Some(l) = data.last_signal_at {
        let _ = writeln!(
            s,
            "last refusal or decision: {} ({} ago)",
            ts(l),
            human(now - l)
        );
    }
    if let Some(m) = &data.models_status {
        let _ = writeln!(
            s,
            "gateway cooldowns: `models status` at {}: {}",
            ts(m.at),
            match &m.error {
                Some(e) => format!("failed ({e})"),
                None => format!("{} unusable profile(s)", m.unusable),
            }
        );
    }
    for c in data.cooldowns.iter().filter(|c| c.until > now) {
        let _ = writeln!(
            s,
            "  {} {} of {} until {} ({})",
            c.kind,
            c.profile_id
                .as_deref()
                .or(c.profile.as_deref())
                .unwrap_or("?"),
            c.provider.as_deref().unwrap_or("?"),
            ts(c.until),
            c.source
        );
    }
    for st in data.stale.iter().rev().take(3) {
        let _ = writeln!(
            s,
            "  stale: {} listed until {} though the provider answered at {}",
            st.profile,
            ts(st.until),
            ts(st.ok_at)
        );
    }
}

fn file_lines(s: &mut String, data: &Data, globs: &[PathBuf]) {
    if data.cursors.is_empty() {
        let shown: Vec<String> = globs.iter().map(|g| g.display().to_string()).collect();
        let _ = writeln!(s, "files: none followed yet (globs: {})", shown.join(", "));
    } else {
        let _ = writeln!(s, "files:");
        for c in &data.cursors {
            let now_size = std::fs::metadata(&c.path).map(|m| m.len()).ok();
            let behind = match now_size {
                Some(sz) if sz >= c.offset => format!("{} unread", size_h(sz - c.offset)),
                Some(_) => "file shrank: will restart at 0".into(),
                None => "file gone".into(),
            };
            let _ = writeln!(
                s,
                "  {}  at {} of {} ({behind})",
                c.path.display(),
                size_h(c.offset),
                size_h(now_size.unwrap_or(c.size)),
            );
        }
    }
    if let Some(cc) = &data.command {
        let _ = writeln!(
            s,
            "command: next run reads since {}",
            cc.since.map(ts).unwrap_or_else(|| "-".into())
        );
    }
}

fn cost_lines(s: &mut String, data: &Data) {
    if data.hours.is_empty() {
        return;
    }
    let _ = writeln!(s, "model calls per hour (UTC):");
    for b in data.hours.iter().rev().take(6) {
        let _ = writeln!(
            s,
            "  {}  {}{} call(s), {} refused, {} turn(s) started by people or jobs, {} heartbeat turn(s)",
            b.hour.format("%Y-%m-%d %H:00"),
            if b.every_call_logged() {
                ""
            } else {
                "at least "
            },
            b.calls(),
            b.refusals,
            b.explained,
            b.heartbeats
        );
    }
    if let Some(e) = &data.idle {
        let _ = writeln!(
            s,
            "idle burn: since {} ({} call(s))",
            ts(e.started),
            e.calls
        );
    }
}
