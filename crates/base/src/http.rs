//! HTTP for the jobs that talk to Graph, the model provider and webhooks.
//!
//! reqwest blocking with rustls, built lazily (a client costs milliseconds to build, so a run
//! that makes no request never builds one). Loading the system's root certificates alone takes
//! several milliseconds, so `http://` requests (loopback fakes, local relays) use a client with
//! no root store and only the first `https://` request pays for the roots. Connect and total timeouts; retries with exponential
//! backoff and full jitter for connection errors, 429 and 5xx, on idempotent requests only
//! (a request that never reached the server — a connect error — is retried for any method);
//! `Retry-After` honoured (seconds, decimals allowed, or an HTTP date), capped by the run's
//! deadline. Every request, status, duration and retry decision is logged at debug level, with
//! credentials redacted.

use anyhow::{Result, anyhow};
use serde::Deserialize;
use std::time::{Duration, Instant};

pub use reqwest::Method;
pub use reqwest::blocking::RequestBuilder;
pub use reqwest::header::HeaderMap;

/// `runtime.http`: timeouts and retries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub connect_timeout_secs: f64,
    pub timeout_secs: f64,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff step; doubles each retry (full jitter).
    pub backoff_base_ms: u64,
    /// Largest backoff step.
    pub backoff_max_secs: f64,
    /// Largest `Retry-After` honoured; a longer one ends the retries.
    pub retry_after_max_secs: f64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            connect_timeout_secs: 10.0,
            timeout_secs: 30.0,
            max_retries: 4,
            backoff_base_ms: 500,
            backoff_max_secs: 30.0,
            retry_after_max_secs: 120.0,
        }
    }
}

/// Whether a request may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Safe to repeat (GET, or a POST the caller made idempotent).
    Idempotent,
    /// Repeat only if it never reached the server.
    Never,
}

/// A fully read response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub duration: Duration,
    /// Attempts made (1 = no retry).
    pub attempts: u32,
    /// 429 responses seen while making this request.
    pub throttled: u32,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// Parse the body as JSON, with a clear error naming the URL's status.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            anyhow!(
                "malformed JSON in HTTP {} response ({} bytes): {e}",
                self.status,
                self.body.len()
            )
        })
    }
}

/// A transport failure after retries (no HTTP status was obtained).
#[derive(Debug)]
pub struct TransportError {
    pub message: String,
    pub attempts: u32,
    /// Whether the request may have reached the server (matters for POSTs).
    pub maybe_sent: bool,
    pub timed_out: bool,
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (after {} attempt(s))", self.message, self.attempts)
    }
}
impl std::error::Error for TransportError {}

/// The HTTP client of one run.
#[derive(Debug, Clone)]
pub struct Http {
    /// For `http://` URLs: no TLS roots loaded.
    plain: std::cell::OnceCell<reqwest::blocking::Client>,
    /// For `https://` URLs: the system's roots (platform verifier).
    tls: std::cell::OnceCell<reqwest::blocking::Client>,
    cfg: HttpConfig,
    deadline: Option<Instant>,
    stop: Option<crate::signals::StopFlag>,
}

impl Http {
    pub fn new(cfg: &HttpConfig, deadline: Option<Instant>) -> Result<Http> {
        Ok(Http {
            plain: std::cell::OnceCell::new(),
            tls: std::cell::OnceCell::new(),
            cfg: cfg.clone(),
            deadline,
            stop: None,
        })
    }

    /// The client for `url`, built on first use.
    fn client_for(&self, url: &str) -> Result<&reqwest::blocking::Client> {
        let plain = url
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("http://"));
        let cell = if plain { &self.plain } else { &self.tls };
        if let Some(c) = cell.get() {
            return Ok(c);
        }
        let mut b = reqwest::blocking::Client::builder()
            .connect_timeout(secs(self.cfg.connect_timeout_secs))
            .timeout(secs(self.cfg.timeout_secs))
            .user_agent(concat!("agent-jobs/", env!("CARGO_PKG_VERSION")));
        if plain {
            b = b.tls_certs_only(Vec::new());
        }
        let c = b
            .build()
            .map_err(|e| anyhow!("cannot build the HTTP client: {e}"))?;
        keep_until_exit(&c);
        Ok(cell.get_or_init(|| c))
    }

    /// Stop retrying once this flag is raised (SIGINT/SIGTERM).
    pub fn with_stop(mut self, stop: crate::signals::StopFlag) -> Self {
        self.stop = Some(stop);
        self
    }

    /// The configured settings.
    pub fn config(&self) -> &HttpConfig {
        &self.cfg
    }

    /// Send a request built by `build` (called again for each attempt). Returns the final
    /// response whatever its status (the caller interprets 4xx and exhausted 429/5xx); an
    /// `Err` means no response at all (its root is a [`TransportError`]).
    pub fn send(
        &self,
        method: Method,
        url: &str,
        retry: Retry,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response> {
        let started = Instant::now();
        let mut attempt: u32 = 0;
        let mut throttled = 0;
        loop {
            attempt += 1;
            let mut req = build(self.client_for(url)?.request(method.clone(), url));
            if let Some(rem) = self.remaining() {
                if rem.is_zero() {
                    return Err(TransportError {
                        message: format!("{method} {url}: run deadline reached before the request"),
                        attempts: attempt - 1,
                        maybe_sent: false,
                        timed_out: true,
                    }
                    .into());
                }
                req = req.timeout(rem.min(secs(self.cfg.timeout_secs)));
            }
            let t0 = Instant::now();
            let result = req.send().and_then(|r| {
                let status = r.status().as_u16();
                let headers = r.headers().clone();
                r.bytes().map(|b| (status, headers, b.to_vec()))
            });
            let took = t0.elapsed();
            let can_retry_more = attempt <= self.cfg.max_retries && !self.stopping();
            match result {
                Ok((status, headers, body)) => {
                    log::debug!("{method} {url} -> {status} in {} ms", took.as_millis());
                    if status == 429 {
                        throttled += 1;
                    }
                    let retryable = status == 429 || matches!(status, 500 | 502 | 503 | 504);
                    let resp = Response {
                        status,
                        headers,
                        body,
                        duration: started.elapsed(),
                        attempts: attempt,
                        throttled,
                    };
                    if !retryable || retry == Retry::Never || !can_retry_more {
                        if retryable && retry == Retry::Idempotent {
                            log::debug!(
                                "{method} {url}: giving up after {attempt} attempt(s) with {status}"
                            );
                        }
                        return Ok(resp);
                    }
                    let hinted = resp.header("retry-after").and_then(parse_retry_after);
                    let wait = match hinted {
                        Some(w) if w > secs(self.cfg.retry_after_max_secs) => {
                            log::debug!(
                                "{method} {url}: Retry-After {:.1} s exceeds the {:.0} s cap; giving up",
                                w.as_secs_f64(),
                                self.cfg.retry_after_max_secs
                            );
                            return Ok(resp);
                        }
                        Some(w) => w,
                        None => self.backoff(attempt),
                    };
                    if !self.fits(wait) {
                        log::debug!(
                            "{method} {url}: waiting {:.1} s would pass the run deadline; giving up",
                            wait.as_secs_f64()
                        );
                        return Ok(resp);
                    }
                    log::debug!(
                        "{method} {url}: {status}, retry {attempt}/{} in {:.2} s{}",
                        self.cfg.max_retries,
                        wait.as_secs_f64(),
                        if hinted.is_some() {
                            " (Retry-After)"
                        } else {
                            ""
                        }
                    );
                    self.sleep(wait);
                }
                Err(e) => {
                    // A request that could not be built (bad URL, unsupported scheme) or whose
                    // connection was refused never reached anyone: it was not sent.
                    let connect = e.is_connect() || e.is_builder();
                    let timed_out = e.is_timeout();
                    let msg = format!("{method} {url}: {}", error_chain(&e.without_url()));
                    log::debug!("{msg} after {} ms", took.as_millis());
                    let may_retry = retry == Retry::Idempotent || connect;
                    let wait = self.backoff(attempt);
                    if !may_retry || !can_retry_more || !self.fits(wait) {
                        return Err(TransportError {
                            message: msg,
                            attempts: attempt,
                            maybe_sent: !connect,
                            timed_out,
                        }
                        .into());
                    }
                    log::debug!(
                        "{method} {url}: retry {attempt}/{} in {:.2} s",
                        self.cfg.max_retries,
                        wait.as_secs_f64()
                    );
                    self.sleep(wait);
                }
            }
        }
    }

    fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    fn fits(&self, wait: Duration) -> bool {
        self.remaining().is_none_or(|r| wait < r)
    }

    fn stopping(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| s.raised().is_some())
    }

    /// Full jitter: uniform in [0, min(max, base * 2^(attempt-1))].
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.cfg.backoff_base_ms as f64 / 1000.0;
        let cap = base * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
        let cap = cap.min(self.cfg.backoff_max_secs);
        secs(cap * fastrand::f64())
    }

    /// Sleep in small steps so a signal ends the wait early.
    fn sleep(&self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end && !self.stopping() {
            std::thread::sleep((end - Instant::now()).min(Duration::from_millis(50)));
        }
    }
}

/// Clients kept alive until the process exits. Dropping the last handle of a blocking client
/// shuts its runtime down and joins its thread (milliseconds); a job is about to exit anyway,
/// so the handles are kept here and the thread ends with the process.
static KEEP: std::sync::Mutex<Vec<reqwest::blocking::Client>> = std::sync::Mutex::new(Vec::new());

fn keep_until_exit(c: &reqwest::blocking::Client) {
    if let Ok(mut v) = KEEP.lock() {
        v.push(c.clone());
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// Parse `Retry-After`: delta seconds (decimals allowed) or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(s) = v.parse::<f64>() {
        return (s.is_finite() && s >= 0.0).then(|| Duration::from_secs_f64(s));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// Whether an error chain holds a transport failure that may have reached the server.
pub fn maybe_sent(err: &anyhow::Error) -> bool {
    err.chain()
        .find_map(|e| e.downcast_ref::<TransportError>())
        .is_some_and(|t| t.maybe_sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("10"), Some(Duration::from_secs(10)));
        assert_eq!(
            parse_retry_after("2.128"),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let future = (chrono::Utc::now() + chrono::Duration::seconds(100)).to_rfc2822();
        let d = parse_retry_after(&future).unwrap();
        assert!(
            d > Duration::from_secs(95) && d <= Duration::from_secs(100),
            "{d:?}"
        );
    }

    #[test]
    fn backoff_is_bounded_full_jitter() {
        let h = Http::new(&HttpConfig::default(), None).unwrap();
        for attempt in 1..20 {
            let b = h.backoff(attempt);
            assert!(b <= Duration::from_secs(30), "{b:?}");
        }
        let first: Vec<_> = (0..50).map(|_| h.backoff(1)).collect();
        assert!(first.iter().all(|d| *d <= Duration::from_millis(500)));
        assert!(first.iter().any(|d| *d != first[0]), "jitter varies");
    }
}
