//! HTTP for the jobs that talk to Graph, the model provider and webhooks.
//!
//! ureq (blocking, no async runtime) with rustls and the ring crypto provider, built lazily
//! (a run that makes no request never builds a client); `https://` verifies with the platform's
//! certificate store, loaded only when a TLS connection is made. Connect and total timeouts;
//! retries with exponential backoff and full jitter for connection errors, 429 and 5xx, on
//! idempotent requests only
//! (a request that never reached the server — a connect error — is retried for any method);
//! `Retry-After` honoured (seconds, decimals allowed, or an HTTP date), capped by the run's
//! deadline. Every request, status, duration and retry decision is logged at debug level, with
//! credentials redacted.

use anyhow::{Result, anyhow};
use serde::Deserialize;
use std::time::{Duration, Instant};

/// HTTP methods the clients use.
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    GET,
    POST,
    PUT,
    PATCH,
    DELETE,
}

impl Method {
    pub fn as_str(&self) -> &'static str {
        match self {
            Method::GET => "GET",
            Method::POST => "POST",
            Method::PUT => "PUT",
            Method::PATCH => "PATCH",
            Method::DELETE => "DELETE",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A header value (what the response carried).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderValue(String);

impl HeaderValue {
    pub fn to_str(&self) -> Result<&str, std::convert::Infallible> {
        Ok(&self.0)
    }
}

impl std::str::FromStr for HeaderValue {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(HeaderValue(s.to_string()))
    }
}

/// Response headers, names compared case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderMap(Vec<(String, HeaderValue)>);

impl HeaderMap {
    pub fn new() -> HeaderMap {
        HeaderMap::default()
    }
    /// Set `name` (replacing an earlier value).
    pub fn insert(&mut self, name: &str, value: HeaderValue) {
        self.0.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.0.push((name.to_ascii_lowercase(), value));
    }
    pub fn get(&self, name: &str) -> Option<&HeaderValue> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

/// A request being built for [`Http::send`] (called again for each attempt).
#[derive(Debug, Clone, Default)]
pub struct RequestBuilder {
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    timeout: Option<Duration>,
}

impl RequestBuilder {
    /// Add a header.
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.headers
            .push((name.as_ref().to_string(), value.as_ref().to_string()));
        self
    }
    /// `Authorization: Bearer <token>`.
    pub fn bearer_auth(self, token: impl AsRef<str>) -> Self {
        let v = format!("Bearer {}", token.as_ref());
        self.header("Authorization", v)
    }
    /// A JSON body (and its content type).
    pub fn json<T: serde::Serialize + ?Sized>(mut self, v: &T) -> Self {
        self.body = Some(serde_json::to_vec(v).unwrap_or_default());
        if !self
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            self.headers
                .push(("Content-Type".into(), "application/json".into()));
        }
        self
    }
    /// A raw body.
    pub fn body(mut self, b: impl Into<Vec<u8>>) -> Self {
        self.body = Some(b.into());
        self
    }
    /// A total timeout for this request (shorter than the client's, e.g. a model call's own).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }
}

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
    agent: std::cell::OnceCell<ureq::Agent>,
    cfg: HttpConfig,
    deadline: Option<Instant>,
    stop: Option<crate::signals::StopFlag>,
    /// Trust only these roots for `https://` instead of the platform's (a private CA, such
    /// as a Kubernetes cluster's).
    roots: Option<std::sync::Arc<Vec<ureq::tls::Certificate<'static>>>>,
}

/// Largest response body read (bigger ones are an error, never a silent truncation).
pub const MAX_BODY: u64 = 64 << 20;

impl Http {
    pub fn new(cfg: &HttpConfig, deadline: Option<Instant>) -> Result<Http> {
        Ok(Http {
            agent: std::cell::OnceCell::new(),
            cfg: cfg.clone(),
            deadline,
            stop: None,
            roots: None,
        })
    }

    /// Trust only the certificates of this PEM text for `https://` (a private CA, such as the
    /// Kubernetes cluster's `ca.crt`); `Err` when it holds no certificate.
    pub fn with_roots_pem(mut self, pem: &[u8]) -> Result<Http> {
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(pem) {
            if let ureq::tls::PemItem::Certificate(c) =
                item.map_err(|e| anyhow!("not PEM certificates: {e}"))?
            {
                certs.push(c);
            }
        }
        if certs.is_empty() {
            return Err(anyhow!("no certificate in the PEM text"));
        }
        self.roots = Some(std::sync::Arc::new(certs));
        self.agent = std::cell::OnceCell::new();
        Ok(self)
    }

    /// The agent, built on first use. `https://` uses the platform's certificate verifier
    /// (the system's roots, loaded only when a TLS connection is made), or only the roots
    /// given to [`Http::with_roots_pem`].
    fn agent(&self) -> &ureq::Agent {
        self.agent.get_or_init(|| {
            let roots = match &self.roots {
                Some(certs) => ureq::tls::RootCerts::Specific(certs.clone()),
                None => ureq::tls::RootCerts::PlatformVerifier,
            };
            let tls = ureq::tls::TlsConfig::builder().root_certs(roots).build();
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_connect(Some(secs(self.cfg.connect_timeout_secs)))
                .timeout_global(Some(secs(self.cfg.timeout_secs)))
                .user_agent(concat!("agent-jobs/", env!("CARGO_PKG_VERSION")))
                .tls_config(tls)
                .build()
                .into()
        })
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
            let rb = build(RequestBuilder::default());
            let mut timeout = rb.timeout.unwrap_or(secs(self.cfg.timeout_secs));
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
                timeout = timeout.min(rem);
            }
            let t0 = Instant::now();
            let result = self.exchange(&method, url, rb, timeout);
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
                    // A request that could not be built (bad URL, unsupported scheme), whose
                    // name did not resolve or whose connection was refused never reached
                    // anyone: it was not sent.
                    let connect = e.never_sent;
                    let timed_out = e.timed_out;
                    let msg = format!("{method} {url}: {}", e.message);
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

    /// One request and its whole response.
    fn exchange(
        &self,
        method: &Method,
        url: &str,
        rb: RequestBuilder,
        timeout: Duration,
    ) -> Result<(u16, HeaderMap, Vec<u8>), SendError> {
        use ureq::RequestExt;
        let mut b = ureq::http::Request::builder()
            .method(method.as_str())
            .uri(url);
        for (k, v) in &rb.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        let req = b.body(rb.body.unwrap_or_default()).map_err(|e| SendError {
            message: format!("invalid request: {e}"),
            never_sent: true,
            timed_out: false,
        })?;
        let resp = req
            .with_agent(self.agent())
            .configure()
            .timeout_global(Some(timeout))
            .run()
            .map_err(SendError::from)?;
        let status = resp.status().as_u16();
        let mut headers = HeaderMap::new();
        for (k, v) in resp.headers() {
            if let Ok(v) = v.to_str() {
                headers
                    .0
                    .push((k.as_str().to_string(), HeaderValue(v.to_string())));
            }
        }
        let body = resp
            .into_body()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| {
                let mut se = SendError::from(e);
                // The request was answered: whatever failed, it was sent.
                se.never_sent = false;
                se
            })?;
        Ok((status, headers, body))
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

/// Why an exchange failed, classified for the retry rules.
#[derive(Debug)]
struct SendError {
    message: String,
    /// Provably never reached the server (resolution, refused connection, bad URL, TLS
    /// handshake, connect timeout).
    never_sent: bool,
    timed_out: bool,
}

impl From<ureq::Error> for SendError {
    fn from(e: ureq::Error) -> SendError {
        use ureq::{Error as E, Timeout as T};
        let (never_sent, timed_out) = match &e {
            E::HostNotFound | E::ConnectionFailed | E::BadUri(_) | E::InvalidProxyUrl => {
                (true, false)
            }
            E::Tls(_) | E::Rustls(_) | E::Pem(_) => (true, false),
            E::Timeout(T::Resolve | T::Connect) => (true, true),
            E::Timeout(_) => (false, true),
            E::Io(io) => (
                matches!(
                    io.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::AddrNotAvailable
                        | std::io::ErrorKind::NetworkUnreachable
                        | std::io::ErrorKind::HostUnreachable
                ),
                matches!(
                    io.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ),
            ),
            _ => (false, false),
        };
        SendError {
            message: error_chain(&e),
            never_sent,
            timed_out,
        }
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
