//! Decide, part two: the recovery ladder. One step per consecutive failed probe window, the
//! least disruptive first; a pure function of the incident, the assessment and `now`.
//!
//! | level | step | restarts? |
//! |---|---|---|
//! | 1 | restart: `restart_command` when HTTP answers, else `start_command` | yes |
//! | 2 | config: if `config validate` or the logs show a config problem, backup-config's restore, then a restart; else nothing (level 3 follows at once) | only after a restore |
//! | 3 | diagnose and escalate: bundle, model or rules, one alert | no |
//! | 4+ | retry the restart, one per window, until the budget trips | yes |
//!
//! A step is due once the gateway has failed for a whole window since the previous step
//! ended, and after a (re)start not before the start-up grace is over, unless the process
//! watch-gateway started has already died. Past `max_restarts_per_hour` automatic restarts
//! the ladder halts until `watch-gateway resume`. In maintenance nothing is due.
//!
//! When a supervisor restarts the gateway (`restart_command` and `start_command` both `[]`:
//! the kubelet on Kubernetes), level 1 restarts nothing and only gives the supervisor's restart
//! its start-up grace, level 2 restores without restarting, and after the diagnosis the ladder
//! holds: there is no retry and no budget to spend.

use crate::classify::Policy;
use crate::data::Incident;
use chrono::{DateTime, Utc};

/// What to do after a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Healthy, nothing open.
    Idle,
    /// A failed probe and no incident: open one (the first step waits a window).
    Open(String),
    /// Nothing to do now, and why (window, grace, maintenance, halted, starting).
    Hold(String),
    /// Take (or resume, when interrupted) this ladder level.
    Step(u32),
    /// The restart budget is spent: stop restarting, alert critically once.
    Halt,
    /// The gateway answers again: close the incident.
    Recovered,
}

/// Everything the ladder looks at.
#[derive(Debug, Clone)]
pub struct Situation<'a> {
    pub now: DateTime<Utc>,
    /// `Some(cause)` when the probe counts against the gateway.
    pub failed: Option<&'a str>,
    /// `/healthz` answered.
    pub live: bool,
    pub incident: Option<&'a Incident>,
    pub maintenance: bool,
    pub halted: bool,
    /// Automatic restarts in the budget's hour.
    pub restarts_used: usize,
    /// The gateway process watch-gateway started in this incident has exited.
    pub launched_died: bool,
}

/// Levels that restart the gateway (and so need the budget).
pub fn restarts(level: u32) -> bool {
    level == 1 || level >= 4
}

/// The name of a level in records and messages.
pub fn name(level: u32) -> &'static str {
    match level {
        1 => "restart",
        2 => "config",
        3 => "diagnose",
        _ => "retry",
    }
}

/// The next thing to do.
pub fn plan(s: &Situation<'_>, pol: &Policy) -> Plan {
    match (s.failed, s.incident) {
        (None, None) => Plan::Idle,
        (None, Some(_)) if s.live => Plan::Recovered,
        (None, Some(_)) => Plan::Hold("the gateway is starting".into()),
        (Some(_), _) if s.maintenance => Plan::Hold("planned maintenance".into()),
        (Some(cause), None) => Plan::Open(cause.to_string()),
        (Some(_), Some(inc)) => next_step(s, inc, pol),
    }
}

fn next_step(s: &Situation<'_>, inc: &Incident, pol: &Policy) -> Plan {
    if inc.level > 0 && !inc.level_done {
        return Plan::Step(inc.level);
    }
    if s.halted {
        return Plan::Hold("restarts are halted: waiting for `watch-gateway resume`".into());
    }
    let mut due = inc.window_from + pol.window;
    if let Some(g) = inc.grace_until
        && !s.launched_died
    {
        due = due.max(g);
    }
    if s.now < due {
        let why = if inc
            .grace_until
            .is_some_and(|g| g >= due && !s.launched_died)
        {
            "start-up grace"
        } else {
            "probe window"
        };
        return Plan::Hold(format!(
            "{why}: next step ({}) in {} s",
            name(inc.level + 1),
            (due - s.now).num_seconds().max(1)
        ));
    }
    let next = inc.level + 1;
    if next >= 4 && !pol.restarts {
        return Plan::Hold(
            "restarts are the supervisor's (restart_command and start_command are []): waiting for the gateway"
                .into(),
        );
    }
    if restarts(next) && s.restarts_used >= pol.max_restarts_per_hour as usize {
        return Plan::Halt;
    }
    Plan::Step(next)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::classify::tests::{pol, t0};
    use chrono::Duration;

    fn sit<'a>(failed: Option<&'a str>, inc: Option<&'a Incident>, secs: i64) -> Situation<'a> {
        Situation {
            now: t0() + Duration::seconds(secs),
            failed,
            live: failed.is_none(),
            incident: inc,
            maintenance: false,
            halted: false,
            restarts_used: 0,
            launched_died: false,
        }
    }

    /// The incident after `level` finished at `at` secs (restarting levels start a grace).
    fn after(level: u32, at: i64) -> Incident {
        let mut i = Incident::new(t0(), "down");
        i.level = level;
        i.level_done = true;
        i.window_from = t0() + Duration::seconds(at);
        if restarts(level) || level == 2 {
            i.grace_until = Some(t0() + Duration::seconds(at + 90));
        }
        i
    }

    #[test]
    fn a_failed_probe_opens_and_a_window_later_restarts() {
        assert_eq!(plan(&sit(None, None, 0), &pol()), Plan::Idle);
        assert_eq!(
            plan(&sit(Some("down"), None, 0), &pol()),
            Plan::Open("down".into())
        );
        let inc = Incident::new(t0(), "down");
        assert!(
            matches!(plan(&sit(Some("down"), Some(&inc), 29), &pol()), Plan::Hold(w) if w.starts_with("probe window"))
        );
        assert_eq!(
            plan(&sit(Some("down"), Some(&inc), 30), &pol()),
            Plan::Step(1)
        );
    }

    #[test]
    fn one_step_per_window_after_the_grace() {
        let inc = after(1, 30);
        let p = plan(&sit(Some("down"), Some(&inc), 60), &pol());
        assert!(
            matches!(&p, Plan::Hold(w) if w.starts_with("start-up grace")),
            "{p:?}"
        );
        assert_eq!(
            plan(&sit(Some("down"), Some(&inc), 120), &pol()),
            Plan::Step(2)
        );
        // The process we started died: no need to wait out the grace.
        let mut s = sit(Some("down"), Some(&inc), 60);
        s.launched_died = true;
        assert_eq!(plan(&s, &pol()), Plan::Step(2));
        let inc = after(3, 200);
        assert_eq!(
            plan(&sit(Some("down"), Some(&inc), 230), &pol()),
            Plan::Step(4)
        );
        let inc = after(4, 230);
        assert_eq!(
            plan(&sit(Some("down"), Some(&inc), 330), &pol()),
            Plan::Step(5)
        );
    }

    #[test]
    fn an_interrupted_step_is_resumed_not_skipped() {
        let mut inc = after(2, 100);
        inc.level_done = false;
        assert_eq!(
            plan(&sit(Some("down"), Some(&inc), 101), &pol()),
            Plan::Step(2)
        );
    }

    #[test]
    fn the_budget_halts_restarts_but_not_the_diagnosis() {
        let inc = after(2, 100);
        let mut s = sit(Some("down"), Some(&inc), 300);
        s.restarts_used = 3;
        assert_eq!(
            plan(&s, &pol()),
            Plan::Step(3),
            "diagnosing restarts nothing"
        );
        let inc = after(3, 300);
        let mut s = sit(Some("down"), Some(&inc), 400);
        s.restarts_used = 3;
        assert_eq!(plan(&s, &pol()), Plan::Halt);
        s.halted = true;
        assert!(matches!(plan(&s, &pol()), Plan::Hold(w) if w.contains("resume")));
        // After `resume` (budget reset): the retry is due at once.
        s.halted = false;
        s.restarts_used = 0;
        assert_eq!(plan(&s, &pol()), Plan::Step(4));
    }

    #[test]
    fn with_a_supervisor_the_ladder_holds_after_the_diagnosis() {
        let p = Policy {
            restarts: false,
            ..pol()
        };
        let inc = after(3, 0);
        let s = sit(Some("down"), Some(&inc), 3600);
        match plan(&s, &p) {
            Plan::Hold(why) => assert!(why.contains("supervisor"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(plan(&s, &pol()), Plan::Step(4));
        let inc = after(0, 0);
        assert_eq!(plan(&sit(Some("down"), Some(&inc), 31), &p), Plan::Step(1));
    }

    #[test]
    fn maintenance_holds_everything_and_recovery_closes() {
        let inc = Incident::new(t0(), "down");
        let mut s = sit(Some("down"), Some(&inc), 600);
        s.maintenance = true;
        assert_eq!(plan(&s, &pol()), Plan::Hold("planned maintenance".into()));
        let mut s = sit(Some("down"), None, 0);
        s.maintenance = true;
        assert!(
            matches!(plan(&s, &pol()), Plan::Hold(_)),
            "no incident opens in maintenance"
        );
        assert_eq!(plan(&sit(None, Some(&inc), 5), &pol()), Plan::Recovered);
        let mut s = sit(None, Some(&inc), 5);
        s.live = false;
        assert!(
            matches!(plan(&s, &pol()), Plan::Hold(_)),
            "starting is not recovered"
        );
    }
}
