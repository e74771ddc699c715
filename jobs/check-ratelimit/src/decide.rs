//! The decisions, as pure functions of the state, the gateway's cooldowns and `now`: what a
//! record adds to the state ([`Data::absorb`]), when the circuit opens ([`trigger`]), when it
//! is expected to close ([`expected_reset`]), which cooldowns are stale ([`find_stale`]), and
//! the scheduled run's state machine ([`evaluate`]). No I/O: the side effects these decisions
//! plan are run by [`crate::act`].

use crate::config::{Config, Hook};
use crate::data::{
    Class, Data, HOURS_KEPT, HourBucket, Incident, IncidentRecord, KnownCooldown, Phase,
    RECENT_MAX, Signal, StaleCooldown, Step, Strength, Work,
};
use crate::records::Observation;
use crate::texts::human;
use chrono::{DateTime, Duration, DurationRound, Utc};

/// Settings the decisions need.
#[derive(Debug, Clone)]
pub struct Policy {
    pub threshold: u32,
    pub cooldown_threshold: u32,
    pub quota_threshold: u32,
    pub overload_threshold: Option<u32>,
    pub window: Duration,
    pub cool_off: Duration,
    pub long_window: Duration,
    pub reminder: Option<Duration>,
    pub on_open: Vec<Hook>,
    pub on_close: Vec<Hook>,
    pub history_len: usize,
    pub idle_calls_per_hour: u64,
}

impl Policy {
    pub fn from_config(cfg: &Config) -> Policy {
        let secs = |s: u64| Duration::seconds(s as i64);
        Policy {
            threshold: cfg.threshold,
            cooldown_threshold: cfg.cooldown_threshold,
            quota_threshold: cfg.quota_threshold,
            overload_threshold: cfg.overload_threshold,
            window: secs(cfg.window_secs),
            cool_off: secs(cfg.cool_off_secs),
            long_window: secs(cfg.long_window_cool_off_secs),
            reminder: (cfg.reminder_secs > 0).then(|| secs(cfg.reminder_secs)),
            on_open: cfg.on_open.clone(),
            on_close: cfg.on_close.clone(),
            history_len: cfg.history_len,
            idle_calls_per_hour: cfg.idle_calls_per_hour,
        }
    }

    /// The refusal threshold of a class (`None`: the class never opens the circuit).
    fn limit(&self, c: Class) -> Option<u32> {
        match c {
            Class::Quota => Some(self.quota_threshold),
            Class::RateLimit => Some(self.threshold),
            Class::Overload => self.overload_threshold,
        }
    }
}

/// The gateway's cooldowns as this run found them.
#[derive(Debug, Clone, Default)]
pub struct Cooldowns {
    /// `models status --json` read this run (`None`: not asked, or it failed).
    pub live: Option<Vec<KnownCooldown>>,
    /// Legacy cooldown files.
    pub files: Vec<KnownCooldown>,
}

/// Refusals and decisions of one class in the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub refusals: u32,
    pub decisions: u32,
}

/// Per class, in the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub rate_limit: Tally,
    pub quota: Tally,
    pub overload: Tally,
}

impl Counts {
    pub fn get(&self, c: Class) -> Tally {
        match c {
            Class::RateLimit => self.rate_limit,
            Class::Quota => self.quota,
            Class::Overload => self.overload,
        }
    }
    fn get_mut(&mut self, c: Class) -> &mut Tally {
        match c {
            Class::RateLimit => &mut self.rate_limit,
            Class::Quota => &mut self.quota,
            Class::Overload => &mut self.overload,
        }
    }
    pub fn is_empty(&self) -> bool {
        *self == Counts::default()
    }
    /// Count one signal.
    pub fn add(&mut self, s: &Signal) {
        let t = self.get_mut(s.class);
        match s.strength {
            Strength::Refusal => t.refusals += 1,
            Strength::Decision => t.decisions += 1,
        }
    }
}

impl Data {
    /// Add what one record says (refusals and decisions, calls, turns, successes).
    pub fn absorb(&mut self, o: Observation) {
        match o {
            Observation::Signal(s) => self.absorb_signal(s),
            Observation::Response {
                at,
                provider,
                model,
                status,
            } => {
                if let Some(b) = self.bucket_mut(at) {
                    b.responses += 1;
                }
                if status.is_some_and(|s| (200..300).contains(&s)) {
                    let key = format!(
                        "{}/{}",
                        provider.as_deref().unwrap_or("?"),
                        model.as_deref().unwrap_or("?")
                    );
                    let e = self.last_ok.entry(key).or_insert(at);
                    *e = (*e).max(at);
                }
            }
            Observation::CallStart { at } => {
                if let Some(b) = self.bucket_mut(at) {
                    b.starts += 1;
                }
            }
            Observation::Turn { at, explained } => {
                if let Some(b) = self.bucket_mut(at) {
                    if explained {
                        b.explained += 1;
                    } else {
                        b.heartbeats += 1;
                    }
                }
            }
        }
    }

    fn absorb_signal(&mut self, s: Signal) {
        if s.strength == Strength::Refusal
            && let Some(b) = self.bucket_mut(s.at)
        {
            b.refusals += 1;
        }
        if s.strength == Strength::Decision {
            self.note_cooldown(&s);
        }
        if self.closed_at.is_some_and(|c| s.at <= c) {
            return;
        }
        // One decision per run and class: the cooldown and the give-up of one run are one.
        if s.strength == Strength::Decision
            && s.run_id.is_some()
            && let Some(prev) = self.recent.iter_mut().find(|p| {
                p.strength == Strength::Decision && p.class == s.class && p.run_id == s.run_id
            })
        {
            merge_decision(prev, &s);
            if let Some(inc) = self.incident.as_mut().filter(|i| i.phase == Phase::Open) {
                feed_details(inc, &s);
            }
            return;
        }
        self.last_signal_at = Some(self.last_signal_at.map_or(s.at, |l| l.max(s.at)));
        if let Some(inc) = self.incident.as_mut().filter(|i| i.phase == Phase::Open) {
            feed(inc, &s);
        }
        self.recent.push_back(s);
        while self.recent.len() > RECENT_MAX {
            self.recent.pop_front();
        }
    }

    /// A cooldown decision with its end time, kept for the reset and stale checks.
    fn note_cooldown(&mut self, s: &Signal) {
        let (Some(until), Some(kind)) = (s.reset_at, s.decision.as_deref()) else {
            return;
        };
        if kind != "cooldown" && kind != "disabled" {
            return;
        }
        let model = s.model.clone().or_else(|| {
            self.recent
                .iter()
                .rev()
                .find(|r| r.run_id.is_some() && r.run_id == s.run_id && r.model.is_some())
                .and_then(|r| r.model.clone())
        });
        if let Some(k) = self
            .cooldowns
            .iter_mut()
            .find(|k| same_window(k, &s.profile, until))
        {
            k.since = k.since.min(s.at);
            k.model = k.model.clone().or(model);
            return;
        }
        self.cooldowns.push(KnownCooldown {
            provider: s.provider.clone(),
            profile: s.profile.clone(),
            profile_id: None,
            model,
            kind: kind.to_string(),
            reason: Some(s.class.as_str().to_string()),
            until,
            since: s.at,
            source: "log".into(),
        });
    }

    /// The bucket of `at`'s hour (created; `None` when older than every bucket kept).
    fn bucket_mut(&mut self, at: DateTime<Utc>) -> Option<&mut HourBucket> {
        let hour = at.duration_trunc(Duration::hours(1)).unwrap_or(at);
        let pos = self.hours.iter().position(|b| b.hour >= hour);
        match pos {
            Some(i) if self.hours[i].hour == hour => return self.hours.get_mut(i),
            _ if self.hours.len() >= HOURS_KEPT
                && self.hours.front().is_some_and(|f| hour < f.hour) =>
            {
                return None;
            }
            Some(i) => self.hours.insert(
                i,
                HourBucket {
                    hour,
                    ..Default::default()
                },
            ),
            None => self.hours.push_back(HourBucket {
                hour,
                ..Default::default()
            }),
        }
        while self.hours.len() > HOURS_KEPT {
            self.hours.pop_front();
        }
        let i = self.hours.iter().position(|b| b.hour == hour)?;
        self.hours.get_mut(i)
    }

    /// Drop signals older than the window.
    pub fn prune(&mut self, now: DateTime<Utc>, window: Duration) {
        self.recent.retain(|m| m.at >= now - window);
        let day = Duration::days(1);
        self.cooldowns.retain(|c| c.until >= now - day);
        while self.cooldowns.len() > 200 {
            self.cooldowns.remove(0);
        }
    }

    /// Signals in `[now - window, now]` after the last close.
    pub fn in_window(&self, now: DateTime<Utc>, window: Duration) -> impl Iterator<Item = &Signal> {
        let closed = self.closed_at;
        self.recent
            .iter()
            .filter(move |m| m.at >= now - window && m.at <= now && closed.is_none_or(|c| m.at > c))
    }

    /// Refusals and decisions per class in the window.
    pub fn window_counts(&self, now: DateTime<Utc>, window: Duration) -> Counts {
        let mut c = Counts::default();
        for s in self.in_window(now, window) {
            c.add(s);
        }
        c
    }
}

fn same_window(k: &KnownCooldown, profile: &Option<String>, until: DateTime<Utc>) -> bool {
    k.profile == *profile && (k.until - until).num_milliseconds().abs() <= 2000
}

fn merge_decision(prev: &mut Signal, s: &Signal) {
    if s.decision
        .as_deref()
        .is_some_and(|d| d == "cooldown" || d == "disabled")
    {
        prev.decision = s.decision.clone();
    }
    if s.reset_at > prev.reset_at {
        prev.reset_at = s.reset_at;
        prev.reset_source = s.reset_source.clone();
    }
    prev.profile = prev.profile.clone().or(s.profile.clone());
    prev.model = prev.model.clone().or(s.model.clone());
    prev.provider = prev.provider.clone().or(s.provider.clone());
    prev.long_window |= s.long_window;
}

/// A signal joins the open incident.
fn feed(inc: &mut Incident, s: &Signal) {
    match s.strength {
        Strength::Refusal => {
            inc.matches += 1;
            if s.class == Class::Quota {
                inc.quota_matches += 1;
            }
        }
        Strength::Decision => {
            inc.decisions += 1;
            if s.class == Class::Quota {
                inc.quota_matches += 1;
            }
        }
    }
    inc.first_at = Some(inc.first_at.map_or(s.at, |f| f.min(s.at)));
    inc.last_at = Some(inc.last_at.map_or(s.at, |l| l.max(s.at)));
    feed_details(inc, s);
}

fn feed_details(inc: &mut Incident, s: &Signal) {
    inc.provider = s.provider.clone().or(inc.provider.take());
    inc.model = s.model.clone().or(inc.model.take());
    inc.profile = s.profile.clone().or(inc.profile.take());
    inc.long_window |= s.long_window;
    if !s.example.is_empty() {
        inc.example = Some(s.example.clone());
    }
    if let Some(r) = s.reset_at
        && inc.hint_at.is_none_or(|h| r > h)
    {
        inc.hint_at = Some(r);
        inc.hint_source = s.reset_source.clone();
    }
}

/// Whether the window's counts open the circuit, and of which class (quota first, then
/// rate limit, then overload when it has a threshold), with the reason in words.
pub fn trigger(c: &Counts, p: &Policy, window: Duration) -> Option<(Class, String)> {
    for class in [Class::Quota, Class::RateLimit, Class::Overload] {
        let Some(limit) = p.limit(class) else {
            continue;
        };
        let t = c.get(class);
        if t.decisions >= p.cooldown_threshold {
            return Some((
                class,
                format!(
                    "{}: the gateway put the profile in cooldown or gave up on the model ({} time(s) in the last {}; {} refused request(s))",
                    class.words(),
                    t.decisions,
                    human(window),
                    t.refusals
                ),
            ));
        }
        if t.refusals >= limit {
            return Some((
                class,
                format!(
                    "{}: {} refused request(s) in the last {} (threshold {limit})",
                    class.words(),
                    t.refusals,
                    human(window)
                ),
            ));
        }
    }
    None
}

/// A new incident with its planned side effects: the `on_open` commands, then the alert.
pub fn new_incident(
    run_id: &str,
    kind: &str,
    opened_by: &str,
    reason: String,
    now: DateTime<Utc>,
    p: &Policy,
) -> Incident {
    let id = format!("{}-{}", now.format("%Y%m%dT%H%M%SZ"), run_id);
    let mut steps = hook_steps(&id, "on_open", Phase::Open, &p.on_open);
    steps.push(alert_step(&id, "open", Phase::Open));
    Incident {
        id,
        kind: kind.into(),
        opened_by: opened_by.into(),
        phase: Phase::Open,
        started_at: now,
        reason,
        matches: 0,
        decisions: 0,
        quota_matches: 0,
        first_at: None,
        last_at: None,
        provider: None,
        model: None,
        profile: None,
        long_window: false,
        hint_at: None,
        hint_source: None,
        reset_at: None,
        reset_source: None,
        example: None,
        last_reminder_at: None,
        reminders: 0,
        close_reason: None,
        closed_at: None,
        steps,
    }
}

fn hook_steps(id: &str, list: &str, phase: Phase, hooks: &[Hook]) -> Vec<Step> {
    hooks
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let name = format!("{list}[{i}]");
            Step {
                key: format!("incident/{id}/{name}"),
                phase,
                work: Work::Command {
                    name,
                    argv: h.argv.clone(),
                    idempotent: h.idempotent,
                },
                status: None,
                result: None,
                at: None,
            }
        })
        .collect()
}

fn alert_step(id: &str, topic: &str, phase: Phase) -> Step {
    Step {
        key: format!("incident/{id}/{topic}"),
        phase,
        work: Work::Alert {
            topic: topic.into(),
        },
        status: None,
        result: None,
        at: None,
    }
}

/// Start closing: the `on_close` commands and the closing alert.
pub fn begin_close(inc: &mut Incident, reason: String, now: DateTime<Utc>, p: &Policy) {
    inc.phase = Phase::Closing;
    inc.close_reason = Some(reason);
    inc.closed_at = Some(now);
    let mut steps = hook_steps(&inc.id, "on_close", Phase::Closing, &p.on_close);
    steps.push(alert_step(&inc.id, "close", Phase::Closing));
    inc.steps.extend(steps);
}

/// When the circuit is expected to close, and why then: the gateway's own cooldown end (from
/// `models status` when it was read this run, else from its log records and the legacy
/// files) or the provider's `Retry-After`, if not older than the last signal; otherwise the
/// cool-off after the last signal. When `models status` no longer lists a cooldown the log
/// announced, it is over by now (a success clears it early, silently). A long-window limit
/// keeps the circuit open at least the long-window cool-off. Stale cooldowns are ignored.
pub fn expected_reset(
    inc: &Incident,
    cd: &Cooldowns,
    stale: &[StaleCooldown],
    p: &Policy,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, String) {
    let last = inc.last_at.unwrap_or(inc.started_at);
    let applies = |c: &&KnownCooldown| {
        (inc.provider.is_none() || c.provider == inc.provider)
            && !stale.iter().any(|s| {
                Some(&s.profile) == c.profile_id.as_ref().or(c.profile.as_ref())
                    && s.until == c.until
            })
    };
    let mut hints: Vec<(DateTime<Utc>, String)> = Vec::new();
    let logged = inc.hint_at.zip(inc.hint_source.clone());
    match &cd.live {
        Some(live) => {
            hints.extend(
                live.iter()
                    .filter(applies)
                    .map(|c| (c.until, "models status".to_string())),
            );
            if let Some((h, src)) = logged {
                let h = if src == "Retry-After" { h } else { h.min(now) };
                hints.push((h, src));
            }
        }
        None => {
            hints.extend(logged);
            hints.extend(
                cd.files
                    .iter()
                    .filter(applies)
                    .map(|c| (c.until, "cooldown file".to_string())),
            );
        }
    }
    let best = hints.into_iter().max_by_key(|(t, _)| *t);
    let (mut at, mut src) = match best {
        Some((t, s)) if t >= last => (t, s),
        _ => (last + p.cool_off, "cool-off".to_string()),
    };
    if inc.long_window && last + p.long_window > at {
        at = last + p.long_window;
        src = "long-window cool-off".into();
    }
    (at, src)
}

/// Cooldowns the gateway still lists (live) although the provider answered a request of the
/// same provider (and model, when the cooldown's model is known) after the cooldown began
/// (openclaw/openclaw #87608, #107839). Only new ones (not already in `data.stale`).
pub fn find_stale(data: &Data, cd: &Cooldowns, now: DateTime<Utc>) -> Vec<StaleCooldown> {
    let Some(live) = &cd.live else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for c in live
        .iter()
        .filter(|c| c.kind == "cooldown" && c.until > now)
    {
        let Some(profile) = c.profile.clone() else {
            continue;
        };
        let known = data
            .cooldowns
            .iter()
            .find(|k| same_window(k, &c.profile, c.until));
        let since = known.map_or(c.since, |k| k.since);
        let model = known.and_then(|k| k.model.clone());
        let provider = c.provider.as_deref().unwrap_or("?");
        let ok_at = data
            .last_ok
            .iter()
            .filter(|(k, _)| match &model {
                Some(m) => **k == format!("{provider}/{m}"),
                None => k.starts_with(&format!("{provider}/")),
            })
            .map(|(_, t)| *t)
            .filter(|t| *t > since)
            .max();
        let Some(ok_at) = ok_at else { continue };
        let shown = c.profile_id.clone().unwrap_or(profile);
        let seen = data
            .stale
            .iter()
            .any(|s| s.profile == shown && s.until == c.until);
        if !seen {
            out.push(StaleCooldown {
                provider: c.provider.clone(),
                profile: shown,
                until: c.until,
                ok_at,
                found_at: now,
            });
        }
    }
    out
}

/// Record what `models status` listed: new windows are first seen now; known ones learn the
/// real profile id.
pub fn note_live(data: &mut Data, cd: &Cooldowns) {
    for c in cd.live.iter().flatten() {
        match data
            .cooldowns
            .iter_mut()
            .find(|k| same_window(k, &c.profile, c.until))
        {
            Some(k) => {
                k.profile_id = c.profile_id.clone();
                k.provider = k.provider.clone().or(c.provider.clone());
            }
            None => data.cooldowns.push(c.clone()),
        }
    }
}

/// What a scheduled run decided.
#[derive(Debug, Default)]
pub struct Decision {
    pub notes: Vec<String>,
    pub changed: bool,
    /// Stale cooldowns found this run (to alert once each).
    pub stale: Vec<StaleCooldown>,
}

/// The scheduled run's state machine over the state (pure).
pub fn evaluate(
    data: &mut Data,
    p: &Policy,
    cd: &Cooldowns,
    now: DateTime<Utc>,
    run_id: &str,
) -> Decision {
    let mut d = Decision::default();
    note_live(data, cd);
    d.stale = find_stale(data, cd, now);
    data.stale.extend(d.stale.iter().cloned());
    while data.stale.len() > 50 {
        data.stale.pop_front();
    }
    let stale: Vec<StaleCooldown> = data.stale.iter().cloned().collect();
    match data.incident.as_ref().map(|i| i.phase) {
        None => open_if_due(data, p, cd, &stale, now, run_id, &mut d),
        Some(Phase::Open) => {
            if let Some(inc) = data.incident.as_mut() {
                escalate(inc, &data.recent, p, now, &mut d);
                keep_open_or_close(inc, p, cd, &stale, now, &mut d);
            }
        }
        Some(Phase::Closing) => {}
    }
    d
}

fn open_if_due(
    data: &mut Data,
    p: &Policy,
    cd: &Cooldowns,
    stale: &[StaleCooldown],
    now: DateTime<Utc>,
    run_id: &str,
    d: &mut Decision,
) {
    let counts = data.window_counts(now, p.window);
    let Some((class, reason)) = trigger(&counts, p, p.window) else {
        return;
    };
    let mut inc = new_incident(run_id, class.as_str(), "auto", reason, now, p);
    let window: Vec<Signal> = data.in_window(now, p.window).cloned().collect();
    for s in window.iter().filter(|s| s.class == class) {
        feed(&mut inc, s);
    }
    for s in window.iter().filter(|s| s.class != class) {
        feed_counts_only(&mut inc, s);
    }
    let (at, src) = expected_reset(&inc, cd, stale, p, now);
    inc.reset_at = Some(at);
    inc.reset_source = Some(src);
    d.notes.push(format!("circuit opened: {}", inc.reason));
    log::info!("opening the circuit (incident {}): {}", inc.id, inc.reason);
    data.incident = Some(inc);
    d.changed = true;
}

/// Signals of another class count in the incident but do not name its provider or example.
fn feed_counts_only(inc: &mut Incident, s: &Signal) {
    match s.strength {
        Strength::Refusal => inc.matches += 1,
        Strength::Decision => inc.decisions += 1,
    }
    inc.first_at = Some(inc.first_at.map_or(s.at, |f| f.min(s.at)));
    inc.last_at = Some(inc.last_at.map_or(s.at, |l| l.max(s.at)));
}

/// A quota signal turns a rate-limit or overload incident into a quota one; rate-limit
/// refusals over the threshold turn an overload incident into a rate-limit one (one alert each).
fn escalate(
    inc: &mut Incident,
    recent: &std::collections::VecDeque<Signal>,
    p: &Policy,
    now: DateTime<Utc>,
    d: &mut Decision,
) {
    let kind = Class::parse(&inc.kind);
    let to = if inc.quota_matches > 0 && kind.is_some_and(|k| k != Class::Quota) {
        Some(Class::Quota)
    } else if kind == Some(Class::Overload) {
        let since = inc.started_at.min(now - p.window);
        let rl = recent
            .iter()
            .filter(|s| s.class == Class::RateLimit && s.at >= since)
            .fold(Tally::default(), |mut t, s| {
                match s.strength {
                    Strength::Refusal => t.refusals += 1,
                    Strength::Decision => t.decisions += 1,
                }
                t
            });
        (rl.decisions >= p.cooldown_threshold || rl.refusals >= p.threshold)
            .then_some(Class::RateLimit)
    } else {
        None
    };
    let Some(to) = to else { return };
    inc.reason = format!("{}; then {}", inc.reason, to.words());
    inc.kind = to.as_str().to_string();
    let topic = format!("escalate-{}", to.as_str());
    if !inc
        .steps
        .iter()
        .any(|s| s.key.ends_with(&format!("/{topic}")))
    {
        inc.steps.push(alert_step(&inc.id, &topic, Phase::Open));
    }
    d.notes
        .push(format!("circuit escalated to {}", to.as_str()));
    d.changed = true;
}

fn keep_open_or_close(
    inc: &mut Incident,
    p: &Policy,
    cd: &Cooldowns,
    stale: &[StaleCooldown],
    now: DateTime<Utc>,
    d: &mut Decision,
) {
    if Class::parse(&inc.kind).is_none_or(|k| k == Class::Quota) {
        remind(inc, p, now, d);
        return;
    }
    let (at, src) = expected_reset(inc, cd, stale, p, now);
    if (inc.reset_at, inc.reset_source.as_deref()) != (Some(at), Some(src.as_str())) {
        inc.reset_at = Some(at);
        inc.reset_source = Some(src.clone());
        d.changed = true;
    }
    if now >= at {
        begin_close(
            inc,
            format!(
                "recovered: reset time {} ({src}) passed",
                crate::texts::ts(at)
            ),
            now,
            p,
        );
        d.notes.push("circuit closed".into());
        d.changed = true;
    } else {
        remind(inc, p, now, d);
    }
}

fn remind(inc: &mut Incident, p: &Policy, now: DateTime<Utc>, d: &mut Decision) {
    if let Some(every) = p.reminder
        && now - inc.last_reminder_at.unwrap_or(inc.started_at) >= every
    {
        inc.last_reminder_at = Some(now);
        inc.reminders += 1;
        let topic = format!("reminder-{}", inc.reminders);
        inc.steps.push(alert_step(&inc.id, &topic, Phase::Open));
        d.changed = true;
    }
}

/// A closing incident whose steps are all settled goes to history.
pub fn finish_close(data: &mut Data, now: DateTime<Utc>, history_len: usize) -> bool {
    let Some(inc) = &data.incident else {
        return false;
    };
    if inc.phase != Phase::Closing || inc.steps.iter().any(|s| s.status.is_none()) {
        return false;
    }
    let ended = inc.closed_at.unwrap_or(now);
    data.history.push_back(IncidentRecord {
        id: inc.id.clone(),
        kind: inc.kind.clone(),
        opened_by: inc.opened_by.clone(),
        started_at: inc.started_at,
        ended_at: ended,
        duration_secs: (ended - inc.started_at).num_seconds(),
        matches: inc.matches,
        decisions: inc.decisions,
        provider: inc.provider.clone(),
        model: inc.model.clone(),
        profile: inc.profile.clone(),
        reset_source: inc.reset_source.clone(),
        reason: inc.reason.clone(),
        close_reason: inc.close_reason.clone().unwrap_or_default(),
    });
    while data.history.len() > history_len {
        data.history.pop_front();
    }
    data.closed_at = Some(ended.max(data.last_signal_at.unwrap_or(ended)));
    data.recent.clear();
    data.incident = None;
    true
}

/// `open --reason`: a manual incident (stays open until `close`). `Err` with the message when
/// one is already open.
pub fn manual_open(
    data: &mut Data,
    reason: &str,
    run_id: &str,
    p: &Policy,
    now: DateTime<Utc>,
) -> Result<(), String> {
    if let Some(inc) = data.incident.as_ref().filter(|i| i.phase == Phase::Open) {
        return Err(format!(
            "the circuit is already open (incident {}, {} since {}): {}",
            inc.id,
            inc.kind,
            crate::texts::ts(inc.started_at),
            inc.reason
        ));
    }
    if data.incident.is_none() {
        data.incident = Some(new_incident(
            run_id,
            "manual",
            "operator",
            format!("opened by operator: {reason}"),
            now,
            p,
        ));
    }
    Ok(())
}

/// `close`: start closing the open incident; the message for the operator.
pub fn manual_close(data: &mut Data, p: &Policy, now: DateTime<Utc>) -> String {
    let Some(inc) = data.incident.as_mut() else {
        return "the circuit is already closed".into();
    };
    let msg = format!(
        "circuit closed (incident {}, open for {})",
        inc.id,
        human(now - inc.started_at)
    );
    if inc.phase == Phase::Open {
        begin_close(inc, "closed by operator".into(), now, p);
    }
    msg
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::vocab::Extra;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn policy() -> Policy {
        Policy::from_config(&Config::default())
    }

    /// The captured records of a scenario, as observations.
    fn fixture(name: &str) -> Vec<Observation> {
        let text = std::fs::read_to_string(format!(
            "{}/../../tests/fixtures/openclaw-2026.9.6/{name}/gateway.log.jsonl",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        text.lines()
            .filter_map(|l| {
                match crate::records::interpret(
                    l.as_bytes(),
                    t("2030-01-01T00:00:00Z"),
                    "f",
                    &Extra::default(),
                ) {
                    crate::records::Verdict::Seen(o) => Some(o),
                    _ => None,
                }
            })
            .collect()
    }

    fn data_with(names: &[&str]) -> Data {
        let mut d = Data::default();
        for n in names {
            for o in fixture(n) {
                d.absorb(o);
            }
        }
        d
    }

    #[test]
    fn one_retried_429_does_not_open_a_full_run_opens_once() {
        let p = policy();
        let mut d = data_with(&["turn-429-retried"]);
        let now = t("2026-11-28T04:15:00Z");
        let c = d.window_counts(now, p.window);
        assert_eq!(
            c.rate_limit,
            Tally {
                refusals: 1,
                decisions: 0
            }
        );
        assert!(
            evaluate(&mut d, &p, &Cooldowns::default(), now, "r1")
                .notes
                .is_empty()
        );
        assert!(d.incident.is_none());

        let mut d = data_with(&["turn-429-cooldown"]);
        let now = t("2026-11-28T04:17:00Z");
        let c = d.window_counts(now, p.window);
        assert_eq!(
            c.rate_limit,
            Tally {
                refusals: 10,
                decisions: 1
            },
            "cooldown + give-up of one run"
        );
        let dec = evaluate(&mut d, &p, &Cooldowns::default(), now, "r1");
        assert!(dec.changed);
        let inc = d.incident.clone().unwrap();
        assert_eq!(inc.kind, "rate_limit");
        assert_eq!(inc.matches, 10);
        assert_eq!(inc.decisions, 1);
        assert_eq!(inc.provider.as_deref(), Some("fake"));
        assert_eq!(inc.model.as_deref(), Some("fake-model"));
        assert_eq!(inc.profile.as_deref(), Some("sha256:b382fb4793f3"));
        assert_eq!(
            inc.reset_source.as_deref(),
            Some("cooldownUntil"),
            "the gateway's own reset"
        );
        assert_eq!(inc.reset_at.unwrap().timestamp_millis(), 1795839404727);
        // The next run, after the gateway's reset, closes it.
        let dec = evaluate(
            &mut d,
            &p,
            &Cooldowns::default(),
            now + Duration::minutes(5),
            "r2",
        );
        assert_eq!(dec.notes, vec!["circuit closed".to_string()]);
    }

    #[test]
    fn reset_follows_the_gateway_then_the_cool_off() {
        let p = policy();
        let mut d = data_with(&["turn-429-cooldown"]);
        let until = t("2026-11-28T04:16:44.727Z");
        // Opened while the cooldown runs: closes at its end, read from the log record.
        evaluate(
            &mut d,
            &p,
            &Cooldowns::default(),
            t("2026-11-28T04:16:20Z"),
            "r1",
        );
        let inc = d.incident.clone().unwrap();
        assert_eq!(inc.reset_at, Some(until));
        assert_eq!(inc.reset_source.as_deref(), Some("cooldownUntil"));
        // The next run, before the end: still open.
        evaluate(
            &mut d,
            &p,
            &Cooldowns::default(),
            t("2026-11-28T04:16:40Z"),
            "r2",
        );
        assert_eq!(d.incident.as_ref().unwrap().phase, Phase::Open);
        // models status says the same window (live): still closes at its end.
        let live = Cooldowns {
            live: Some(vec![KnownCooldown {
                provider: Some("fake".into()),
                profile: Some("sha256:b382fb4793f3".into()),
                profile_id: Some("fake:manual".into()),
                model: None,
                kind: "cooldown".into(),
                reason: Some("rate_limit".into()),
                until,
                since: t("2026-11-28T04:16:41Z"),
                source: "models status".into(),
            }]),
            files: vec![],
        };
        evaluate(&mut d, &p, &live, t("2026-11-28T04:16:41Z"), "r3");
        let inc = d.incident.clone().unwrap();
        assert_eq!(
            (inc.reset_at, inc.reset_source.as_deref()),
            (Some(until), Some("models status"))
        );
        // After it: closing, with on_close and the alert planned.
        evaluate(
            &mut d,
            &p,
            &Cooldowns {
                live: Some(vec![]),
                files: vec![],
            },
            t("2026-11-28T04:16:45Z"),
            "r4",
        );
        let inc = d.incident.clone().unwrap();
        assert_eq!(inc.phase, Phase::Closing);
        assert!(inc.steps.iter().any(|s| s.key.ends_with("/close")));
    }

    #[test]
    fn long_window_limits_stay_open_past_the_gateway_cooldown() {
        let p = policy();
        let mut d = data_with(&["turn-long-window"]);
        evaluate(
            &mut d,
            &p,
            &Cooldowns::default(),
            t("2026-11-28T04:45:20Z"),
            "r1",
        );
        let inc = d.incident.clone().unwrap();
        assert!(inc.long_window);
        assert_eq!(inc.matches, 1, "one request: the gateway does not retry it");
        assert_eq!(inc.reset_source.as_deref(), Some("long-window cool-off"));
        assert_eq!(inc.reset_at.unwrap() - inc.last_at.unwrap(), p.long_window);
    }

    #[test]
    fn overload_is_counted_and_opens_only_with_its_threshold() {
        let mut p = policy();
        let mut d = data_with(&["turn-529-overloaded"]);
        let now = t("2026-11-28T04:18:00Z");
        assert_eq!(
            d.window_counts(now, p.window).overload,
            Tally {
                refusals: 8,
                decisions: 1
            }
        );
        evaluate(&mut d, &p, &Cooldowns::default(), now, "r1");
        assert!(d.incident.is_none(), "no overload_threshold: never opens");
        p.overload_threshold = Some(8);
        evaluate(&mut d, &p, &Cooldowns::default(), now, "r1");
        assert_eq!(d.incident.as_ref().unwrap().kind, "overload");
    }

    #[test]
    fn the_retryable_402_is_a_rate_limit_as_the_gateway_says() {
        let p = policy();
        let mut d = data_with(&["turn-402-spending"]);
        evaluate(
            &mut d,
            &p,
            &Cooldowns::default(),
            t("2026-11-28T04:21:00Z"),
            "r1",
        );
        let inc = d.incident.unwrap();
        assert_eq!(inc.kind, "rate_limit");
        assert!(inc.example.unwrap().contains("spending limit"));
    }

    #[test]
    fn successes_open_nothing_and_feed_the_call_counts() {
        let p = policy();
        let mut d = data_with(&["turn-ok", "turn-quote", "turn-debug"]);
        assert!(
            evaluate(
                &mut d,
                &p,
                &Cooldowns::default(),
                t("2026-11-28T04:50:00Z"),
                "r"
            )
            .notes
            .is_empty()
        );
        let h = d
            .hours
            .iter()
            .find(|b| b.hour == t("2026-11-28T04:00:00Z"))
            .unwrap();
        assert_eq!(h.starts, 3);
        assert!(h.every_call_logged());
        assert_eq!(h.refusals, 1);
        assert!(h.explained >= 4, "{h:?}");
        assert_eq!(
            d.last_ok.get("fake/fake-model"),
            Some(&t("2026-11-28T04:41:06.728Z"))
        );
    }

    #[test]
    fn a_cooldown_listed_after_a_success_is_stale_once() {
        let p = policy();
        let mut d = data_with(&["turn-429-cooldown"]);
        // The provider answered after the cooldown began (a later success of the same model).
        d.absorb(Observation::Response {
            at: t("2026-11-28T04:16:30Z"),
            provider: Some("fake".into()),
            model: Some("fake-model".into()),
            status: Some(200),
        });
        let until = t("2026-11-28T04:46:44.727Z");
        let live = Cooldowns {
            live: Some(vec![KnownCooldown {
                provider: Some("fake".into()),
                profile: Some("sha256:b382fb4793f3".into()),
                profile_id: Some("fake:manual".into()),
                model: None,
                kind: "cooldown".into(),
                reason: Some("rate_limit".into()),
                until,
                since: t("2026-11-28T04:17:00Z"),
                source: "models status".into(),
            }]),
            files: vec![],
        };
        let now = t("2026-11-28T04:17:00Z");
        let dec = evaluate(&mut d, &p, &live, now, "r1");
        assert_eq!(
            dec.stale.len(),
            0,
            "a window first seen now cannot be proven stale by an older answer"
        );
        d.absorb(Observation::Response {
            at: t("2026-11-28T04:18:00Z"),
            provider: Some("fake".into()),
            model: Some("fake-model".into()),
            status: Some(200),
        });
        let dec = evaluate(&mut d, &p, &live, t("2026-11-28T04:19:00Z"), "r2");
        assert_eq!(dec.stale.len(), 1);
        assert_eq!(dec.stale[0].profile, "fake:manual");
        let dec = evaluate(&mut d, &p, &live, t("2026-11-28T04:20:00Z"), "r3");
        assert!(dec.stale.is_empty(), "once");
        // A stale window does not hold the circuit open.
        let inc = d.incident.as_ref().unwrap();
        assert_ne!(inc.reset_at, Some(until));
    }

    #[test]
    fn quota_escalation_and_manual_commands() {
        let p = policy();
        let mut d = data_with(&["turn-429-cooldown"]);
        evaluate(
            &mut d,
            &p,
            &Cooldowns::default(),
            t("2026-11-28T04:16:20Z"),
            "r1",
        );
        let mut q = fixture("turn-402-spending")
            .into_iter()
            .find_map(|o| match o {
                Observation::Signal(s) => Some(s),
                _ => None,
            })
            .unwrap();
        q.class = Class::Quota;
        q.at = t("2026-11-28T04:16:30Z");
        d.absorb(Observation::Signal(q));
        let dec = evaluate(
            &mut d,
            &p,
            &Cooldowns::default(),
            t("2026-11-28T04:16:31Z"),
            "r2",
        );
        assert_eq!(dec.notes, vec!["circuit escalated to quota".to_string()]);
        let inc = d.incident.clone().unwrap();
        assert_eq!(inc.kind, "quota");
        assert!(inc.steps.iter().any(|s| s.key.ends_with("/escalate-quota")));
        // Quota never closes by itself.
        evaluate(
            &mut d,
            &p,
            &Cooldowns::default(),
            t("2026-12-28T00:00:00Z"),
            "r3",
        );
        assert_eq!(d.incident.as_ref().unwrap().phase, Phase::Open);
        assert!(manual_open(&mut d, "x", "r4", &p, t("2026-12-28T00:00:00Z")).is_err());
        let msg = manual_close(&mut d, &p, t("2026-12-28T00:00:00Z"));
        assert!(msg.contains("circuit closed"), "{msg}");
        assert!(
            !finish_close(&mut d, t("2026-12-28T00:00:00Z"), 5),
            "steps not settled yet"
        );
        for s in &mut d.incident.as_mut().unwrap().steps {
            s.status = Some(common::effect::EffectStatus::Done);
        }
        assert!(finish_close(&mut d, t("2026-12-28T00:00:00Z"), 5));
        assert_eq!(d.history.len(), 1);
        assert!(d.recent.is_empty());
    }

    #[test]
    fn window_edges() {
        let p = Policy {
            threshold: 3,
            window: Duration::seconds(300),
            ..policy()
        };
        let base = fixture("turn-429-retried")
            .into_iter()
            .find_map(|o| match o {
                Observation::Signal(s) => Some(s),
                _ => None,
            })
            .unwrap();
        let now = t("2026-11-28T05:00:00Z");
        let at = |secs: i64| {
            let mut s = base.clone();
            s.at = now + Duration::seconds(secs);
            Observation::Signal(s)
        };
        let mut d = Data::default();
        for s in [-300, -150, 0] {
            d.absorb(at(s));
        }
        assert_eq!(
            d.window_counts(now, p.window).rate_limit.refusals,
            3,
            "the edge is inside"
        );
        let mut d = Data::default();
        for s in [-301, -150, 0] {
            d.absorb(at(s));
        }
        assert_eq!(d.window_counts(now, p.window).rate_limit.refusals, 2);
        assert!(trigger(&d.window_counts(now, p.window), &p, p.window).is_none());
    }
}
