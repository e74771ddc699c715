//! `check-ratelimit status`: the circuit, the open incident, the window, the maintenance
//! window, the cursors and the last incidents, for a human.

use crate::circuit::{Data, Maintenance, Phase, human, ts};
use crate::config::Config;
use chrono::{DateTime, Duration, Utc};
use common::control::Circuit;
use std::fmt::Write;

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
    now: DateTime<Utc>,
    maint: Option<&Maintenance>,
) -> String {
    let mut s = String::new();
    let _ = match &circuit {
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
    match &data.incident {
        Some(inc) => {
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
            let _ = writeln!(
                s,
                "  matches: {}{}",
                inc.matches,
                inc.last_match_at
                    .map(|l| format!(", last at {}", ts(l)))
                    .unwrap_or_default()
            );
            if inc.kind == "rate_limit" {
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
            for a in &inc.actions {
                let _ = writeln!(
                    s,
                    "  {}: {:?}{}",
                    a.name,
                    a.status,
                    a.result
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                );
            }
        }
        None => {
            if circuit.as_ref().is_ok_and(|c| c.is_open()) {
                let _ = writeln!(
                    s,
                    "  (no incident in state: circuit.json was written by hand or state was reset; `check-ratelimit close` closes it)"
                );
            }
        }
    }
    let window = Duration::seconds(cfg.window_secs as i64);
    let (rl, q) = data.window_counts(now, window);
    let _ = writeln!(
        s,
        "window: {rl} rate-limit and {q} quota match(es) in the last {} (opens at {} / quota at {})",
        human(window),
        cfg.threshold,
        cfg.quota_threshold
    );
    if let Some(l) = data.last_match_at {
        let _ = writeln!(s, "last match: {} ({} ago)", ts(l), human(now - l));
    }
    match maint {
        Some(m) => {
            let _ = writeln!(
                s,
                "maintenance: until {}{} (alerts and commands suppressed)",
                m.until.map(ts).unwrap_or_default(),
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
    if data.cursors.is_empty() {
        let _ = writeln!(
            s,
            "files: none followed yet (globs: {})",
            cfg.logs.join(", ")
        );
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
    if !data.history.is_empty() {
        let _ = writeln!(s, "last incidents:");
        for h in data.history.iter().rev().take(5) {
            let _ = writeln!(
                s,
                "  {}  {}  {} → {}  {}  {} match(es)  reset: {}",
                h.id,
                h.kind,
                ts(h.started_at),
                ts(h.ended_at),
                human(Duration::seconds(h.duration_secs)),
                h.matches,
                h.reset_source.as_deref().unwrap_or("-")
            );
        }
    }
    s
}
