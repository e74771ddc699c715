//! Decide, part one: what one probe means. Pure functions of the probe, the streaks kept in
//! state, the starts seen and `now`.
//!
//! - **down**: no valid `/healthz` answer. Not yet *failed* while the gateway's process runs and
//!   started less than `startup_grace_secs` ago (a gateway start takes 11–35 s on 2 cores,
//!   verified against OpenClaw 2026.9.6).
//! - **degraded**: live, but `/readyz` red (failed after `not_ready_grace_secs`; the docs say
//!   readiness stays red while channels and hooks settle), draining (`gateway-draining`: a
//!   restart in progress, failed after `drain_grace_secs`; the gateway drains up to 300 s), or
//!   its event loop degraded (never failed: it still serves).
//! - **flapping**: live, but it started `flap_restarts` times within `flap_window_secs`.
//! - **healthy**: live and ready.
//!
//! While the rate-limit circuit is open, a gateway that answers HTTP is never failed: the
//! provider is the problem, and a restart would not help.

use crate::data::{Health, Probe, Process};
use chrono::{DateTime, Duration, Utc};

/// The thresholds classification needs.
#[derive(Debug, Clone)]
pub struct Policy {
    pub window: Duration,
    pub startup_grace: Duration,
    pub not_ready_grace: Duration,
    pub drain_grace: Duration,
    pub flap_restarts: u32,
    pub flap_window: Duration,
    pub max_restarts_per_hour: u32,
    /// watch-gateway restarts the gateway; false when `restart_command` and `start_command` are
    /// both `[]`: a supervisor does (the kubelet on Kubernetes, systemd's `Restart=`).
    pub restarts: bool,
}

/// What one probe means.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub health: Health,
    /// `Some(cause)` when this probe counts against the gateway (`down`, `not ready`,
    /// `draining`): the ladder moves on failed probe windows only.
    pub failed: Option<String>,
    /// Why a bad-looking probe is not (yet) failed, or what is degraded.
    pub note: Option<String>,
    /// The streaks after this probe: first not-ready and first draining probe.
    pub unready_since: Option<DateTime<Utc>>,
    pub draining_since: Option<DateTime<Utc>>,
}

/// Classify `p` (taken at `now`) given the previous streaks and the starts seen.
pub fn assess(
    p: &Probe,
    unready_since: Option<DateTime<Utc>>,
    draining_since: Option<DateTime<Utc>>,
    starts: &[DateTime<Utc>],
    circuit_open: bool,
    now: DateTime<Utc>,
    pol: &Policy,
) -> Assessment {
    if !p.live {
        let starting = p.process == Process::Running
            && p.process_since
                .is_some_and(|s| now.signed_duration_since(s) < pol.startup_grace);
        return Assessment {
            health: Health::Down,
            failed: (!starting).then(|| "down".to_string()),
            note: starting.then(|| {
                format!(
                    "starting (pid {}, since {})",
                    p.pid.unwrap_or(0),
                    p.process_since.map(fmt_time).unwrap_or_default()
                )
            }),
            unready_since: None,
            draining_since: None,
        };
    }
    let draining = p.failing.iter().any(|f| f == "gateway-draining");
    let unready = !draining && (p.ready == Some(false) || p.cli_ok == Some(false));
    let draining_since = draining.then(|| draining_since.unwrap_or(now));
    let unready_since = unready.then(|| unready_since.unwrap_or(now));
    let (mut health, mut failed, mut note) = if let Some(since) = draining_since {
        let over = now - since >= pol.drain_grace;
        (
            Health::Degraded,
            over.then(|| "draining".to_string()),
            Some(format!("draining since {}", fmt_time(since))),
        )
    } else if let Some(since) = unready_since {
        let over = now - since >= pol.not_ready_grace;
        (
            Health::Degraded,
            over.then(|| "not ready".to_string()),
            Some(format!("not ready since {}", fmt_time(since))),
        )
    } else if p.event_loop_degraded || p.ready.is_none() {
        (Health::Degraded, None, None)
    } else {
        (Health::Healthy, None, None)
    };
    if flapping(starts, now, pol) {
        health = Health::Flapping;
    }
    if circuit_open && failed.is_some() {
        failed = None;
        note = Some(
            "the rate-limit circuit is open: the provider is the problem; not restarting".into(),
        );
    }
    Assessment {
        health,
        failed,
        note,
        unready_since,
        draining_since,
    }
}

/// `flap_restarts` starts or more within `flap_window` before `now`.
pub fn flapping(starts: &[DateTime<Utc>], now: DateTime<Utc>, pol: &Policy) -> bool {
    starts
        .iter()
        .filter(|s| now.signed_duration_since(**s) <= pol.flap_window)
        .count()
        >= pol.flap_restarts as usize
}

/// The first start of the current flapping episode (the key of its one alert).
pub fn flap_episode(
    starts: &[DateTime<Utc>],
    now: DateTime<Utc>,
    pol: &Policy,
) -> Option<DateTime<Utc>> {
    starts
        .iter()
        .copied()
        .find(|s| now.signed_duration_since(*s) <= pol.flap_window)
}

/// `2026-11-28 04:15:00 UTC`
pub fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    pub fn pol() -> Policy {
        Policy {
            window: Duration::seconds(30),
            startup_grace: Duration::seconds(90),
            not_ready_grace: Duration::seconds(300),
            drain_grace: Duration::seconds(360),
            flap_restarts: 3,
            flap_window: Duration::seconds(900),
            max_restarts_per_hour: 3,
            restarts: true,
        }
    }

    pub fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    pub fn up(ready: bool) -> Probe {
        Probe {
            at: Some(t0()),
            live: true,
            ready: Some(ready),
            process: Process::Running,
            pid: Some(4242),
            ..Default::default()
        }
    }

    pub fn down() -> Probe {
        Probe {
            at: Some(t0()),
            live: false,
            error: Some("connection refused".into()),
            process: Process::Gone,
            ..Default::default()
        }
    }

    #[test]
    fn healthy_down_and_starting() {
        let a = assess(&up(true), None, None, &[], false, t0(), &pol());
        assert_eq!((a.health, a.failed), (Health::Healthy, None));
        let a = assess(&down(), None, None, &[], false, t0(), &pol());
        assert_eq!(
            (a.health, a.failed.as_deref()),
            (Health::Down, Some("down"))
        );
        // A process that started 20 s ago and does not answer yet is starting, not failed.
        let mut p = down();
        p.process = Process::Running;
        p.pid = Some(7);
        p.process_since = Some(t0() - Duration::seconds(20));
        let a = assess(&p, None, None, &[], false, t0(), &pol());
        assert_eq!(a.failed, None);
        assert!(a.note.unwrap().starts_with("starting (pid 7"));
        // The same process still silent after the grace is hung: failed.
        p.process_since = Some(t0() - Duration::seconds(200));
        assert!(
            assess(&p, None, None, &[], false, t0(), &pol())
                .failed
                .is_some()
        );
    }

    #[test]
    fn not_ready_fails_only_after_its_grace() {
        let a = assess(&up(false), None, None, &[], false, t0(), &pol());
        assert_eq!((a.health, a.failed.clone()), (Health::Degraded, None));
        assert_eq!(a.unready_since, Some(t0()));
        let later = t0() + Duration::seconds(301);
        let a = assess(&up(false), a.unready_since, None, &[], false, later, &pol());
        assert_eq!(a.failed.as_deref(), Some("not ready"));
        // Ready again: the streak ends.
        let a = assess(&up(true), a.unready_since, None, &[], false, later, &pol());
        assert_eq!((a.unready_since, a.health), (None, Health::Healthy));
    }

    #[test]
    fn draining_is_a_restart_in_progress() {
        let mut p = up(false);
        p.failing = vec!["gateway-draining".into()];
        let a = assess(&p, None, None, &[], false, t0(), &pol());
        assert_eq!((a.health, a.failed.clone()), (Health::Degraded, None));
        assert_eq!((a.draining_since, a.unready_since), (Some(t0()), None));
        let a = assess(
            &p,
            None,
            a.draining_since,
            &[],
            false,
            t0() + Duration::seconds(361),
            &pol(),
        );
        assert_eq!(a.failed.as_deref(), Some("draining"));
    }

    #[test]
    fn event_loop_degraded_is_reported_not_failed() {
        let mut p = up(true);
        p.event_loop_degraded = true;
        let a = assess(&p, None, None, &[], false, t0(), &pol());
        assert_eq!((a.health, a.failed), (Health::Degraded, None));
    }

    #[test]
    fn flapping_counts_starts_in_the_window() {
        let s = [
            t0() - Duration::seconds(1000),
            t0() - Duration::seconds(600),
            t0() - Duration::seconds(300),
            t0() - Duration::seconds(10),
        ];
        let a = assess(&up(true), None, None, &s, false, t0(), &pol());
        assert_eq!(a.health, Health::Flapping);
        assert_eq!(flap_episode(&s, t0(), &pol()), Some(s[1]));
        let a = assess(&up(true), None, None, &s[..3], false, t0(), &pol());
        assert_eq!(a.health, Health::Healthy);
    }

    #[test]
    fn an_open_circuit_holds_restarts_of_a_live_gateway_only() {
        let a = assess(
            &up(false),
            Some(t0() - Duration::hours(1)),
            None,
            &[],
            true,
            t0(),
            &pol(),
        );
        assert_eq!(a.failed, None);
        assert!(a.note.unwrap().contains("circuit"));
        let a = assess(&down(), None, None, &[], true, t0(), &pol());
        assert_eq!(
            a.failed.as_deref(),
            Some("down"),
            "no HTTP at all is not the provider's fault"
        );
    }
}
