//! What check-ratelimit publishes to the other jobs (`facts` in its state file), built from
//! its data at the end of every run.

use crate::config::Config;
use crate::data::{Class, Data};
use crate::{act, texts};
use chrono::{DateTime, Utc};
use common::contracts::control::Circuit;
use common::contracts::facts::check_ratelimit as facts;

/// What check-ratelimit tells the other jobs.
pub fn public(data: &Data, now: DateTime<Utc>) -> facts::RatelimitFacts {
    let secs = data.window_secs.unwrap_or(Config::default().window_secs);
    public_in(data, now, secs)
}

/// The facts with the window counted over `secs` (`status` uses the configured window).
pub fn public_in(data: &Data, now: DateTime<Utc>, secs: u64) -> facts::RatelimitFacts {
    let window = data.window_counts(now, chrono::Duration::seconds(secs as i64));
    let mut incidents: Vec<facts::IncidentSummary> = data
        .history
        .iter()
        .rev()
        .take(20)
        .rev()
        .map(|h| facts::IncidentSummary {
            id: h.id.clone(),
            kind: h.kind.clone(),
            opened_by: h.opened_by.clone(),
            started_at: h.started_at,
            ended_at: Some(h.ended_at),
            reason: h.reason.clone(),
            refusals: h.matches,
            decisions: h.decisions,
            provider: h.provider.clone(),
            model: h.model.clone(),
            profile: h.profile.clone(),
            close_reason: Some(h.close_reason.clone()),
        })
        .collect();
    if let Some(inc) = &data.incident {
        incidents.push(facts::IncidentSummary {
            id: inc.id.clone(),
            kind: inc.kind.clone(),
            opened_by: inc.opened_by.clone(),
            started_at: inc.started_at,
            ended_at: None,
            reason: inc.reason.clone(),
            refusals: inc.matches,
            decisions: inc.decisions,
            provider: inc.provider.clone(),
            model: inc.model.clone(),
            profile: act::known_profile_id(data, inc.profile.as_deref()).or(inc.profile.clone()),
            close_reason: inc.close_reason.clone(),
        });
    }
    let event = |at, message| common::contracts::facts::Event { at, message };
    facts::RatelimitFacts {
        // `updated_at` is the facts' time even before the first incident (gauges count the
        // current hour's calls from it).
        circuit: act::desired(data, now).unwrap_or_else(|| Circuit {
            updated_at: Some(now),
            ..Circuit::default()
        }),
        incidents,
        calls_per_hour: data
            .hours
            .iter()
            .map(|b| facts::HourCount {
                hour: b.hour,
                calls: b.calls(),
                tokens: None,
                refusals: b.refusals,
                every_call_logged: b.every_call_logged(),
            })
            .collect(),
        idle_burn: data
            .idle_history
            .iter()
            .chain(data.idle.iter())
            .map(|e| event(e.started, texts::idle(e)))
            .collect(),
        stale_cooldowns: data
            .stale
            .iter()
            .map(|s| event(s.found_at, texts::stale(s)))
            .collect(),
        window: facts::WindowCounts {
            rate_limit: window.get(Class::RateLimit).refusals,
            quota: window.get(Class::Quota).refusals,
            overload: window.get(Class::Overload).refusals,
            decisions: window.rate_limit.decisions
                + window.quota.decisions
                + window.overload.decisions,
        },
    }
}
