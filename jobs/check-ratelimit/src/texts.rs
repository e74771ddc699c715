//! What the alerts say (pure): who refused (provider, model, profile), how often, what the
//! provider said, and when the circuit is expected to close.

use crate::data::{Class, IdleEpisode, Incident, Phase, StaleCooldown, Work};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use common::Severity;

/// `2h31m`, `45m`, `30s`.
pub fn human(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    let (h, m) = (s / 3600, (s % 3600) / 60);
    if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{s}s")
    }
}

/// RFC 3339 to the second.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `provider fake, model fake-model, profile fake:manual`.
pub fn who(inc: &Incident, profile_id: Option<&str>) -> String {
    let mut parts = Vec::new();
    if let Some(p) = &inc.provider {
        parts.push(format!("provider {p}"));
    }
    if let Some(m) = &inc.model {
        parts.push(format!("model {m}"));
    }
    if let Some(p) = profile_id.or(inc.profile.as_deref()) {
        parts.push(format!("profile {p}"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

/// How bad the alert of `topic` is.
pub fn severity(inc: &Incident, topic: &str) -> Severity {
    if topic == "close" {
        Severity::Info
    } else if inc.kind == "quota" {
        Severity::Critical
    } else {
        Severity::Warning
    }
}

fn hooks_summary(inc: &Incident, phase: Phase) -> String {
    let parts: Vec<String> = inc
        .steps
        .iter()
        .filter(|s| s.phase == phase)
        .filter_map(|s| match &s.work {
            Work::Command { name, argv, .. } => Some(format!(
                "{name} `{}`: {}{}",
                argv.join(" "),
                s.status.map_or("pending", |st| st.as_str()),
                s.result
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            )),
            Work::Alert { .. } => None,
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" Hooks: {}.", parts.join("; "))
    }
}

/// The text of an incident's alert `topic` (`open`, `close`, `escalate-quota`,
/// `escalate-rate_limit`, `reminder-N`). `profile_id`: the profile's real id when known.
pub fn alert(inc: &Incident, topic: &str, now: DateTime<Utc>, profile_id: Option<&str>) -> String {
    let who = who(inc, profile_id);
    let seen = match (inc.first_at, inc.last_at) {
        (Some(f), Some(l)) => format!(
            " {} refused request(s) and {} gateway decision(s) between {} and {}.",
            inc.matches,
            inc.decisions,
            ts(f),
            ts(l)
        ),
        _ => String::new(),
    };
    let example = inc
        .example
        .as_deref()
        .map(|e| format!(" Error: \"{}\".", e.trim_end_matches('.')))
        .unwrap_or_default();
    let reset = match (inc.reset_at, inc.reset_source.as_deref()) {
        (Some(r), Some("cool-off")) => format!(
            " Expected to close at {} at the earliest (cool-off without new refusals).",
            ts(r)
        ),
        (Some(r), Some("long-window cool-off")) => format!(
            " A long-window limit (daily/weekly/quota): the gateway's own cooldown is shorter than the provider's window, so the circuit stays open until {} at the earliest.",
            ts(r)
        ),
        (Some(r), Some(src)) => format!(" Limit expected to reset at {} (from {src}).", ts(r)),
        _ => String::new(),
    };
    let kind = Class::parse(&inc.kind);
    match (topic, kind) {
        ("open", None) => format!(
            "Circuit opened by the operator (incident {}): {}. It stays open until `check-ratelimit close`.{}",
            inc.id,
            inc.reason,
            hooks_summary(inc, Phase::Open)
        ),
        ("open" | "escalate-quota", Some(Class::Quota)) => format!(
            "Model provider quota or billing exhausted{who}: circuit open (incident {}). This does not reset by itself: fix the plan or billing, then run `check-ratelimit close`.{seen}{example}{}",
            inc.id,
            hooks_summary(inc, Phase::Open)
        ),
        ("open" | "escalate-rate_limit", Some(c)) => format!(
            "Model provider {}{who}: circuit open (incident {}): {}.{seen}{example}{reset}{}",
            c.words(),
            inc.id,
            inc.reason,
            hooks_summary(inc, Phase::Open)
        ),
        (t, _) if t.starts_with("reminder") => format!(
            "Circuit still open after {} (incident {}, {}{who}): {}.{seen}{reset}",
            human(now - inc.started_at),
            inc.id,
            inc.kind,
            inc.reason
        ),
        _ => format!(
            "Recovered after {}: circuit closed (incident {}, {}{who}, {} refused request(s); {}).{}",
            human(inc.closed_at.unwrap_or(now) - inc.started_at),
            inc.id,
            inc.kind,
            inc.matches,
            inc.close_reason.as_deref().unwrap_or("closed"),
            hooks_summary(inc, Phase::Closing)
        ),
    }
}

/// The stale-cooldown alert.
pub fn stale(s: &StaleCooldown) -> String {
    format!(
        "Stale cooldown: the gateway lists auth profile {} ({}) as unusable until {}, but that provider answered a request successfully at {}. The gateway skips a profile it thinks is cooling down (openclaw/openclaw #87608, #107839); the circuit does not wait for this cooldown. Check `openclaw models status`.",
        s.profile,
        s.provider.as_deref().unwrap_or("?"),
        ts(s.until),
        ts(s.ok_at)
    )
}

/// The idle-burn alert.
pub fn idle(e: &IdleEpisode) -> String {
    format!(
        "Idle burn: {} model call(s) between {} and {} and no turn started by a message, a hook, a cron job or an agent command ({} heartbeat turn(s)). The gateway's log carries no token counts: check the spend with `openclaw gateway usage-cost`.",
        e.calls,
        ts(e.started),
        ts(e.last + Duration::hours(1)),
        e.heartbeats
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::decide::{Policy, new_incident};

    #[test]
    fn the_open_alert_names_provider_model_profile_and_reset() {
        let now: DateTime<Utc> = "2026-11-28T04:20:00Z".parse().unwrap();
        let p = Policy::from_config(&crate::config::Config::default());
        let mut inc = new_incident(
            "ab12",
            "rate_limit",
            "auto",
            "rate limit: 10 refused request(s) in the last 15m (threshold 10)".into(),
            now,
            &p,
        );
        inc.provider = Some("fake".into());
        inc.model = Some("fake-model".into());
        inc.profile = Some("sha256:b382fb4793f3".into());
        inc.matches = 10;
        inc.decisions = 1;
        inc.first_at = Some(now - Duration::minutes(3));
        inc.last_at = Some(now - Duration::minutes(1));
        inc.example =
            Some("Number of request tokens has exceeded your per-minute rate limit".into());
        inc.reset_at = Some(now + Duration::seconds(30));
        inc.reset_source = Some("models status".into());
        let t = alert(&inc, "open", now, Some("fake:manual"));
        for want in [
            "Model provider rate limit (provider fake, model fake-model, profile fake:manual): circuit open",
            "10 refused request(s) and 1 gateway decision(s)",
            "per-minute rate limit",
            "Limit expected to reset at 2026-11-28T04:20:30Z (from models status)",
        ] {
            assert!(t.contains(want), "{want}\n{t}");
        }
        inc.kind = "quota".into();
        assert!(alert(&inc, "open", now, None).contains("does not reset by itself"));
        assert_eq!(human(Duration::seconds(9060)), "2h31m");
    }
}
