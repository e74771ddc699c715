//! The cost watch, as far as the gateway's records allow (OpenClaw 2026.9.6):
//!
//! - **Calls per hour.** At `logging.level: "debug"` every model call writes `[model-fetch]
//!   start` (and a `response`): the count is exact. At the default `info` only failed calls
//!   and calls slower than 1 s to their headers write `[model-fetch] response` (docs
//!   `logging.md`, `provider-transport-fetch-*.mjs`): the count is a lower bound, and it is
//!   published as such (`every_call_logged: false`).
//! - **Tokens.** No record of the log carries token usage at any level (usage lives in the
//!   agent's SQLite transcripts and `openclaw gateway usage-cost`): never counted.
//! - **Idle burn.** Model calls in an hour where no turn was started by a person or a job:
//!   no inbound message (`message received`, `session turn created … trigger=user`), hook
//!   run (`hook agent run completed`), cron or agent command (`[agent] run … ended`); the
//!   heartbeat's turns (`trigger=heartbeat`) do not explain them (a heartbeat loop is the
//!   known idle burner: openclaw/openclaw #64293, #98556). Inbound messages are logged only at
//!   debug level, so an hour is judged only when its records show every call (debug level).

use crate::data::{Data, HourBucket, IdleEpisode};
use chrono::{DateTime, Duration, Utc};

/// Whether an hour is idle burn.
pub fn is_idle(b: &HourBucket, threshold: u64) -> bool {
    threshold > 0 && b.every_call_logged() && b.calls() >= threshold && b.explained == 0
}

/// Advance the idle-burn episode with the hours seen so far. Returns the episode to alert
/// about (once per episode).
pub fn evaluate(data: &mut Data, threshold: u64, now: DateTime<Utc>) -> Option<IdleEpisode> {
    let latest = data
        .hours
        .iter()
        .rev()
        .find(|b| b.every_call_logged() && b.hour <= now)
        .cloned();
    match (data.idle.take(), latest) {
        (None, Some(b)) if is_idle(&b, threshold) => {
            data.idle = Some(IdleEpisode {
                started: b.hour,
                last: b.hour,
                calls: b.calls(),
                heartbeats: b.heartbeats,
                alerted: false,
            });
        }
        (Some(mut e), Some(b)) if is_idle(&b, threshold) => {
            e.last = e.last.max(b.hour);
            let (calls, beats) = totals(data, &e);
            e.calls = calls;
            e.heartbeats = beats;
            data.idle = Some(e);
        }
        (Some(e), latest) => {
            let quiet_hour_done =
                latest.is_some_and(|b| b.hour > e.last && b.hour + Duration::hours(1) <= now);
            let no_records = now - e.last > Duration::hours(3);
            if quiet_hour_done || no_records {
                data.idle_history.push_back(e);
                while data.idle_history.len() > 20 {
                    data.idle_history.pop_front();
                }
            } else {
                data.idle = Some(e);
            }
        }
        _ => {}
    }
    data.idle.as_ref().filter(|e| !e.alerted).cloned()
}

fn totals(data: &Data, e: &IdleEpisode) -> (u64, u64) {
    data.hours
        .iter()
        .filter(|b| b.hour >= e.started && b.hour <= e.last)
        .fold((0, 0), |(c, h), b| (c + b.calls(), h + b.heartbeats))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn hour(h: u32) -> DateTime<Utc> {
        format!("2026-11-28T{h:02}:00:00Z").parse().unwrap()
    }

    fn bucket(h: u32, starts: u64, explained: u64) -> HourBucket {
        HourBucket {
            hour: hour(h),
            starts,
            responses: starts,
            explained,
            heartbeats: 2,
            ..Default::default()
        }
    }

    #[test]
    fn an_episode_starts_alerts_once_and_ends_after_a_quiet_hour() {
        let mut d = Data::default();
        d.hours.push_back(bucket(1, 120, 3));
        assert!(
            evaluate(&mut d, 60, hour(1) + Duration::minutes(50)).is_none(),
            "explained calls"
        );
        d.hours.push_back(bucket(2, 80, 0));
        let e = evaluate(&mut d, 60, hour(2) + Duration::minutes(30)).unwrap();
        assert_eq!((e.calls, e.started), (80, hour(2)));
        d.idle.as_mut().unwrap().alerted = true;
        d.hours.push_back(bucket(3, 90, 0));
        assert!(
            evaluate(&mut d, 60, hour(3) + Duration::minutes(30)).is_none(),
            "once per episode"
        );
        assert_eq!(d.idle.as_ref().unwrap().calls, 170);
        d.hours.push_back(bucket(4, 5, 0));
        evaluate(&mut d, 60, hour(4) + Duration::minutes(30));
        assert!(d.idle.is_some(), "the hour is not over yet");
        evaluate(&mut d, 60, hour(5) + Duration::minutes(1));
        assert!(d.idle.is_none());
        assert_eq!(d.idle_history.len(), 1);
    }

    #[test]
    fn info_level_hours_are_not_judged() {
        let mut d = Data::default();
        d.hours.push_back(HourBucket {
            hour: hour(1),
            responses: 500,
            ..Default::default()
        });
        assert!(evaluate(&mut d, 60, hour(1) + Duration::minutes(30)).is_none());
        assert!(!is_idle(&bucket(1, 10, 0), 0), "0 switches it off");
    }
}
