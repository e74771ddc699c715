//! Dead-man pings, healthchecks.io style (and runitor's conventions): `runtime.pings.<job>` is
//! a check's ping URL (UUID or slug + ping key, with or without a query such as `?create=1`).
//!
//! | run | pings |
//! |---|---|
//! | started (lock taken, state read, not paused) | `<url>/start` |
//! | ended | `<url>/<exit code>` (`/0` success, `/1` failed, `/65` bad state, `/78` config error, `/143` terminated, …) |
//! | degraded (exit 0 with a fallback) | `<url>/log` with the reason, then `<url>/0` |
//! | skipped because the suite is paused or the circuit is open | `<url>/0` with the reason: a planned pause pages nobody |
//! | refused because another run holds the lock | `<url>/log`: a stuck lock still ends in a missed success |
//! | failed before the ping URL could be read (config unreadable) | nothing |
//!
//! Every ping carries `rid` (the run's UUID, pairing `/start` with the end) and is a POST whose
//! body is the run's summary and the last lines of its log (at most 10 kB, secrets redacted),
//! so a down alert says why. A ping never changes the job's outcome; its time is bounded
//! (`ping_timeout_secs` per request, no retry, 1 s once a ping of this run has failed), and a
//! failing endpoint is warned about once per outage (the state remembers it), not on every run.

use crate::exit::{Exit, one_line};
use crate::http::{Http, HttpConfig, Method, Retry};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::cell::Cell;

/// Largest ping body, like runitor's.
pub const MAX_BODY: usize = 10_000;

/// What the state remembers about the ping endpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct PingHealth {
    /// Since when pings fail (None: they work).
    pub failing_since: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// The pinger of one run.
#[derive(Debug)]
pub struct Pinger {
    base: Option<String>,
    rid: String,
    timeout_secs: u64,
    failed: Cell<bool>,
    /// Set when a ping failed or recovered in this run (for the state).
    outcome: Cell<Option<bool>>,
    error: std::cell::RefCell<Option<String>>,
}

impl Pinger {
    /// A pinger for `base` (None: pings off).
    pub fn new(
        base: Option<&str>,
        run_id: &str,
        started: DateTime<Utc>,
        timeout_secs: u64,
    ) -> Pinger {
        Pinger {
            base: base.map(|b| b.trim().to_string()).filter(|b| !b.is_empty()),
            rid: rid(run_id, started),
            timeout_secs,
            failed: Cell::new(false),
            outcome: Cell::new(None),
            error: Default::default(),
        }
    }

    /// Whether pings are configured.
    pub fn enabled(&self) -> bool {
        self.base.is_some()
    }

    /// The URL for `suffix` (`start`, `0`, `log`): the suffix goes on the path, the query (if
    /// any) is kept, `rid` is added.
    pub fn url(&self, suffix: &str) -> Option<String> {
        let base = self.base.as_deref()?;
        let (path, query) = base.split_once('?').unwrap_or((base, ""));
        let path = path.trim_end_matches('/');
        let mut q: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
        let rid = format!("rid={}", self.rid);
        q.push(&rid);
        Some(format!("{path}/{suffix}?{}", q.join("&")))
    }

    /// Send one ping; failures are logged (once per outage as a warning) and never raised.
    pub fn send(&self, suffix: &str, body: &str) {
        let Some(url) = self.url(suffix) else { return };
        let t = if self.failed.get() {
            1
        } else {
            self.timeout_secs
        };
        let cfg = HttpConfig {
            timeout_secs: t as f64,
            connect_timeout_secs: t.min(3) as f64,
            max_retries: 0,
            ..Default::default()
        };
        let body = bounded(body);
        let shown = crate::redact::redact(&url).into_owned();
        let r = Http::new(&cfg, None).and_then(|h| {
            h.send(Method::POST, &url, Retry::Never, |r| {
                r.header("Content-Type", "text/plain; charset=utf-8")
                    .body(body.clone())
            })
        });
        let err = match r {
            Ok(resp) if resp.is_success() => {
                log::debug!("dead-man ping {shown}: HTTP {}", resp.status);
                None
            }
            Ok(resp) => Some(format!("answered HTTP {}", resp.status)),
            Err(e) => Some(one_line(&e)),
        };
        match err {
            None => {
                if self.outcome.get() != Some(false) {
                    self.outcome.set(Some(true));
                }
            }
            Some(e) => {
                self.failed.set(true);
                self.outcome.set(Some(false));
                *self.error.borrow_mut() = Some(format!("dead-man ping {shown}: {e}"));
            }
        }
    }

    /// Fold this run's ping results into the remembered health, logging a warning only when
    /// an outage starts and a note when it ends.
    pub fn record(&self, health: &mut PingHealth, now: DateTime<Utc>) {
        match self.outcome.get() {
            Some(false) => {
                let e = self.error.borrow().clone().unwrap_or_default();
                if health.failing_since.is_none() {
                    log::warn!(
                        "{e}; the job's outcome is not affected. Further failures go to the log file only until pings work again"
                    );
                    health.failing_since = Some(now);
                } else {
                    log::info!(
                        "{e} (failing since {})",
                        health
                            .failing_since
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_default()
                    );
                }
                health.last_error = Some(e);
            }
            Some(true) => {
                if let Some(since) = health.failing_since.take() {
                    log::info!(
                        "dead-man pings work again (they failed since {})",
                        since.to_rfc3339()
                    );
                }
                health.last_error = None;
            }
            None => {}
        }
    }

    /// For runs that end before the state is loaded: a failure is logged at INFO (the run
    /// itself already fails loudly).
    pub fn log_early(&self) {
        if self.outcome.get() == Some(false)
            && let Some(e) = self.error.borrow().as_ref()
        {
            log::info!("{e}");
        }
    }
}

/// The ping for a run's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndPing {
    /// `/<code>`.
    Exit(Exit),
    /// `/log` then `/0`.
    Degraded,
    /// `/0` with the reason (paused suite, open circuit).
    PlannedSkip,
    /// `/log` only (lock held by another run).
    LogOnly,
}

impl Pinger {
    /// Send the end-of-run ping(s).
    pub fn end(&self, kind: EndPing, body: &str) {
        match kind {
            EndPing::Exit(x) => self.send(&x.code().to_string(), body),
            EndPing::Degraded => {
                self.send("log", body);
                self.send("0", body);
            }
            EndPing::PlannedSkip => self.send("0", body),
            EndPing::LogOnly => self.send("log", body),
        }
    }
}

/// The body: at most [`MAX_BODY`] bytes, secrets redacted, cut at a character boundary
/// keeping the head (the summary) and the end of the log.
pub fn bounded(text: &str) -> String {
    let t = crate::redact::redact(text).into_owned();
    if t.len() <= MAX_BODY {
        return t;
    }
    let head_len = MAX_BODY / 4;
    let mut h = head_len;
    while !t.is_char_boundary(h) {
        h -= 1;
    }
    let mut tail = t.len() - (MAX_BODY - head_len - 20);
    while !t.is_char_boundary(tail) {
        tail += 1;
    }
    format!("{}\n[…cut…]\n{}", &t[..h], &t[tail..])
}

/// A UUID-shaped run id for healthchecks' `rid` parameter.
pub fn rid(run_id: &str, at: DateTime<Utc>) -> String {
    let n = at.timestamp_nanos_opt().unwrap_or(0) as u64;
    let r = u32::from_str_radix(run_id, 16).unwrap_or(0);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        r,
        (n >> 48) & 0xffff,
        (n >> 36) & 0xfff,
        (n >> 24) & 0xfff,
        n & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_the_query_and_carry_rid() {
        let p = Pinger::new(
            Some("https://hc.example/ping/KEY/job-slug?create=1"),
            "00abcd",
            Utc::now(),
            3,
        );
        let u = p.url("start").unwrap();
        assert!(
            u.starts_with("https://hc.example/ping/KEY/job-slug/start?create=1&rid="),
            "{u}"
        );
        let p = Pinger::new(Some("https://hc.example/UUID/"), "00abcd", Utc::now(), 3);
        let u = p.url("78").unwrap();
        assert!(u.starts_with("https://hc.example/UUID/78?rid="), "{u}");
        assert!(Pinger::new(None, "1", Utc::now(), 3).url("0").is_none());
    }

    #[test]
    fn bodies_are_bounded() {
        let long = "x".repeat(50_000);
        let b = bounded(&format!("SUMMARY\n{long}\nLAST LINE"));
        assert!(b.len() <= MAX_BODY + 20, "{}", b.len());
        assert!(b.starts_with("SUMMARY") && b.ends_with("LAST LINE"));
    }

    #[test]
    fn one_warning_per_outage() {
        let p = Pinger::new(Some("http://127.0.0.1:9/x"), "1", Utc::now(), 1);
        p.outcome.set(Some(false));
        *p.error.borrow_mut() = Some("down".into());
        let mut h = PingHealth::default();
        let t0 = Utc::now();
        p.record(&mut h, t0);
        assert_eq!(h.failing_since, Some(t0));
        p.record(&mut h, t0 + chrono::Duration::minutes(5));
        assert_eq!(h.failing_since, Some(t0), "the outage keeps its start");
        p.outcome.set(Some(true));
        p.record(&mut h, t0 + chrono::Duration::minutes(10));
        assert!(h.failing_since.is_none());
    }
}
