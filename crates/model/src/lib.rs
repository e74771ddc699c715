//! Model provider client (Anthropic Messages API, OpenAI-compatible chat completions) with
//! error classification and token-budget accounting. Written with compact-memory; shared with
//! publish-report's analysis paragraph.
//!
//! # API (stable)
//!
//! ```text
//! ModelConfig                      serde section (deny_unknown_fields, default); embed it in a job's config
//!   .enabled .provider .url .model .api_key_env .api_key_file .max_tokens
//!   .timeout_secs .connect_timeout_secs .max_retries .retry_after_max_secs
//!   .run_token_budget .day_token_budget          (0 = no limit)
//!   .endpoint() -> String                        url, or the provider's default endpoint
//!   .client(&HttpConfig, deadline) -> Http       an HTTP client with the model's timeouts
//!   .validate(key_path) -> Result<()>            checks serde cannot express (exit 78)
//!
//! complete(&Http, &ModelConfig, Option<&Secret>, system, prompt)
//!     -> Result<Completion { text, input_tokens, output_tokens }, ModelError>
//!
//! ModelError { kind: ErrorKind, status, message, retry_after, request_id }
//!   ErrorKind: RateLimit (429) | Overloaded (529, 503) | Quota (spend cap, insufficient_quota,
//!              402: needs a human) | Auth (401/403) | Timeout | Other
//!   .kind.as_str(): "rate_limit" | "overloaded" | "quota" | "auth" | "timeout" | "other"
//!   .is_transient(): rate_limit, overloaded, timeout and 5xx; never quota or auth
//!
//! TokenLedger (serde; keep it in the job's state `data`)
//!   .start_run(today)            new run: run counter to 0, day counter reset on a new day
//!   .check(&ModelConfig) -> Result<(), BudgetStop>   may another call be made?
//!   .record(&Completion)         count a call's tokens (run, day, total)
//!   .record_failure(&ModelError) count a failed call by kind
//! ```
//!
//! Classification follows the providers' documented bodies: Anthropic's `error.type`
//! (`rate_limit_error`, `overloaded_error`, `authentication_error`, `permission_error`, …) and
//! the spend cap (`429` with `error.details.error_code = "enforced_spend_limit_reached"`, no
//! `retry-after`: not retried); OpenAI's `error.code`/`error.type` (`insufficient_quota` is a
//! quota, not a rate limit). Never by message text, except the 400 spend-limit message that has
//! no code of its own.
//!
//! Retries: [`complete`] sends with [`Retry::Never`] (the runtime client then only retries a
//! connection that never reached the server) and retries itself, at most
//! `max_retries` times, only transient errors, honouring `retry-after` up to
//! `retry_after_max_secs`. A quota or auth error is never retried.
//!
//! Budgets: a call is allowed while the tokens used this run are below `run_token_budget` and
//! those used today (a day in the caller's time zone) are below `day_token_budget`; one call can
//! overshoot a budget by its own size, never two.

use anyhow::Result;
use base::http::{Http, HttpConfig, Method, Response, Retry, TransportError, parse_retry_after};
use base::secret::Secret;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The Anthropic Messages endpoint.
pub const ANTHROPIC_URL: &str = "https://api.anthropic.com/v1/messages";
/// The OpenAI chat completions endpoint.
pub const OPENAI_URL: &str = "https://api.openai.com/v1/chat/completions";
/// `anthropic-version` header sent with every Anthropic request.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Which wire format the endpoint speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Anthropic Messages API (`x-api-key`, `anthropic-version`).
    #[default]
    Anthropic,
    /// Any OpenAI-compatible `/v1/chat/completions` (OpenAI, a local model server).
    Openai,
}

/// A model section of a job's config.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Use the model at all.
    pub enabled: bool,
    pub provider: Provider,
    /// Full endpoint URL; empty = the provider's public endpoint.
    pub url: String,
    /// Model name sent in the request.
    pub model: String,
    /// Environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// File holding the API key (relative to the suite root).
    pub api_key_file: Option<PathBuf>,
    /// `max_tokens` of one completion.
    pub max_tokens: u32,
    /// Total timeout of one request, seconds.
    pub timeout_secs: f64,
    pub connect_timeout_secs: f64,
    /// Retries of one call after a transient error (rate limit, overload, timeout, 5xx).
    pub max_retries: u32,
    /// Longest `retry-after` waited for; a longer one fails the call at once.
    pub retry_after_max_secs: f64,
    /// Tokens (input + output) one run may use; 0 = no limit.
    pub run_token_budget: u64,
    /// Tokens (input + output) one day may use; 0 = no limit.
    pub day_token_budget: u64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            enabled: false,
            provider: Provider::Anthropic,
            url: String::new(),
            model: "claude-haiku-4-5".into(),
            api_key_env: None,
            api_key_file: None,
            max_tokens: 1024,
            timeout_secs: 120.0,
            connect_timeout_secs: 10.0,
            max_retries: 1,
            retry_after_max_secs: 30.0,
            run_token_budget: 200_000,
            day_token_budget: 1_000_000,
        }
    }
}

impl ModelConfig {
    /// The URL requests go to.
    pub fn endpoint(&self) -> String {
        if !self.url.trim().is_empty() {
            return self.url.trim().to_string();
        }
        match self.provider {
            Provider::Anthropic => ANTHROPIC_URL.into(),
            Provider::Openai => OPENAI_URL.into(),
        }
    }

    /// An HTTP client with this model's timeouts (the rest from the runtime's settings).
    pub fn client(&self, base: &HttpConfig, deadline: Option<Instant>) -> Result<Http> {
        let cfg = HttpConfig {
            timeout_secs: self.timeout_secs,
            connect_timeout_secs: self.connect_timeout_secs,
            ..base.clone()
        };
        Http::new(&cfg, deadline)
    }

    /// Checks serde cannot express; `key` is the section's key path (e.g. `compact-memory.model`).
    pub fn validate(&self, key: &str) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        if self.model.trim().is_empty() {
            return Err(base::exit::config_error(format!(
                "`{key}.model` is empty: name the model to call"
            )));
        }
        let url = self.endpoint();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(base::exit::config_error(format!(
                "`{key}.url` must be an http:// or https:// URL, got {url:?}"
            )));
        }
        if self.provider == Provider::Anthropic
            && self.api_key_env.is_none()
            && self.api_key_file.is_none()
        {
            return Err(base::exit::config_error(format!(
                "`{key}`: the anthropic provider needs `api_key_env` or `api_key_file`"
            )));
        }
        if self.max_tokens == 0 {
            return Err(base::exit::config_error(format!(
                "`{key}.max_tokens` must be at least 1"
            )));
        }
        if !(self.timeout_secs > 0.0 && self.connect_timeout_secs > 0.0) {
            return Err(base::exit::config_error(format!(
                "`{key}.timeout_secs` and `{key}.connect_timeout_secs` must be positive"
            )));
        }
        Ok(())
    }
}

/// A successful completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub text: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Completion {
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// The class of a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// 429 rate limit: wait and retry later.
    RateLimit,
    /// 529 (Anthropic global load) or 503: retry later.
    Overloaded,
    /// Spend cap, `insufficient_quota`, 402: needs a human; never retried.
    Quota,
    /// 401/403: bad or missing key; never retried.
    Auth,
    /// No answer in time.
    Timeout,
    /// Anything else: 4xx, 5xx, malformed body, connection refused.
    Other,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::RateLimit => "rate_limit",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Quota => "quota",
            ErrorKind::Auth => "auth",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Other => "other",
        }
    }
}

/// A failed call, classified.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelError {
    pub kind: ErrorKind,
    /// HTTP status, if one was received.
    pub status: Option<u16>,
    /// One line for logs (the provider's `error.type`/`code` and message; never the key).
    pub message: String,
    /// The server's `retry-after`, if given.
    pub retry_after: Option<Duration>,
    /// The provider's request id (`request-id`, `x-request-id`), for support tickets.
    pub request_id: Option<String>,
}

impl ModelError {
    fn new(kind: ErrorKind, status: Option<u16>, message: impl Into<String>) -> Self {
        ModelError {
            kind,
            status,
            message: message.into(),
            retry_after: None,
            request_id: None,
        }
    }

    /// Whether waiting and retrying may succeed.
    pub fn is_transient(&self) -> bool {
        match self.kind {
            ErrorKind::RateLimit | ErrorKind::Overloaded | ErrorKind::Timeout => true,
            ErrorKind::Quota | ErrorKind::Auth => false,
            ErrorKind::Other => self.status.is_some_and(|s| s >= 500),
        }
    }
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "model {}", self.kind.as_str())?;
        if let Some(s) = self.status {
            write!(f, " (HTTP {s})")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(id) = &self.request_id {
            write!(f, " [request {id}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for ModelError {}

/// Ask the model: one system prompt, one user prompt, one text answer.
pub fn complete(
    http: &Http,
    cfg: &ModelConfig,
    key: Option<&Secret>,
    system: &str,
    prompt: &str,
) -> Result<Completion, ModelError> {
    let mut attempt = 0;
    loop {
        let err = match complete_once(http, cfg, key, system, prompt) {
            Ok(c) => return Ok(c),
            Err(e) => e,
        };
        attempt += 1;
        if !err.is_transient() || attempt > cfg.max_retries {
            return Err(err);
        }
        let wait = match err.retry_after {
            Some(w) if w.as_secs_f64() > cfg.retry_after_max_secs => {
                log::debug!(
                    "model: retry-after {:.0} s exceeds {:.0} s; not retrying",
                    w.as_secs_f64(),
                    cfg.retry_after_max_secs
                );
                return Err(err);
            }
            Some(w) => w,
            None => Duration::from_secs_f64(
                (2f64.powi(attempt as i32 - 1)).min(cfg.retry_after_max_secs) * fastrand::f64(),
            ),
        };
        log::info!(
            "{err}; retry {attempt}/{} in {:.1} s",
            cfg.max_retries,
            wait.as_secs_f64()
        );
        std::thread::sleep(wait);
    }
}

fn complete_once(
    http: &Http,
    cfg: &ModelConfig,
    key: Option<&Secret>,
    system: &str,
    prompt: &str,
) -> Result<Completion, ModelError> {
    let url = cfg.endpoint();
    let body = match cfg.provider {
        Provider::Anthropic => json!({
            "model": cfg.model,
            "max_tokens": cfg.max_tokens,
            "system": system,
            "messages": [{"role": "user", "content": prompt}],
        }),
        Provider::Openai => json!({
            "model": cfg.model,
            "max_tokens": cfg.max_tokens,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": prompt},
            ],
        }),
    };
    let bytes = serde_json::to_vec(&body)
        .map_err(|e| ModelError::new(ErrorKind::Other, None, format!("cannot encode: {e}")))?;
    let timeout = Duration::from_secs_f64(cfg.timeout_secs.max(0.001));
    let result = http.send(Method::POST, &url, Retry::Never, |req| {
        let req = req
            .timeout(timeout)
            .header("content-type", "application/json")
            .body(bytes.clone());
        match (cfg.provider, key) {
            (Provider::Anthropic, Some(k)) => req
                .header("x-api-key", k.expose())
                .header("anthropic-version", ANTHROPIC_VERSION),
            (Provider::Anthropic, None) => req.header("anthropic-version", ANTHROPIC_VERSION),
            (Provider::Openai, Some(k)) => req.bearer_auth(k.expose()),
            (Provider::Openai, None) => req,
        }
    });
    let resp = match result {
        Ok(r) => r,
        Err(e) => {
            let timed_out = e
                .chain()
                .find_map(|c| c.downcast_ref::<TransportError>())
                .is_some_and(|t| t.timed_out);
            let kind = if timed_out {
                ErrorKind::Timeout
            } else {
                ErrorKind::Other
            };
            return Err(ModelError::new(kind, None, base::exit::one_line(&e)));
        }
    };
    if !resp.is_success() {
        return Err(classify(cfg.provider, &resp));
    }
    parse_success(cfg.provider, &resp)
}

fn parse_success(provider: Provider, resp: &Response) -> Result<Completion, ModelError> {
    let v: Value = resp.json().map_err(|e| {
        let mut err = ModelError::new(ErrorKind::Other, Some(resp.status), e.to_string());
        err.request_id = request_id(resp);
        err
    })?;
    let malformed = |what: &str| {
        let mut err = ModelError::new(
            ErrorKind::Other,
            Some(resp.status),
            format!("malformed response: {what}"),
        );
        err.request_id = request_id(resp);
        err
    };
    let (text, input, output) = match provider {
        Provider::Anthropic => {
            let blocks = v
                .get("content")
                .and_then(Value::as_array)
                .ok_or_else(|| malformed("no `content` array"))?;
            let text: Vec<&str> = blocks
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect();
            let usage = v.get("usage");
            (
                text.join(""),
                usage_field(usage, "input_tokens"),
                usage_field(usage, "output_tokens"),
            )
        }
        Provider::Openai => {
            let text = v
                .pointer("/choices/0/message/content")
                .and_then(Value::as_str)
                .ok_or_else(|| malformed("no `choices[0].message.content`"))?;
            let usage = v.get("usage");
            (
                text.to_string(),
                usage_field(usage, "prompt_tokens"),
                usage_field(usage, "completion_tokens"),
            )
        }
    };
    if text.trim().is_empty() {
        return Err(malformed("empty text"));
    }
    Ok(Completion {
        text,
        input_tokens: input,
        output_tokens: output,
    })
}

fn usage_field(usage: Option<&Value>, key: &str) -> u64 {
    usage
        .and_then(|u| u.get(key))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

fn request_id(resp: &Response) -> Option<String> {
    resp.header("request-id")
        .or_else(|| resp.header("x-request-id"))
        .map(str::to_string)
}

/// Classify an error response (any non-2xx).
pub fn classify(provider: Provider, resp: &Response) -> ModelError {
    let body: Option<Value> = serde_json::from_slice(&resp.body).ok();
    let err = body.as_ref().and_then(|b| b.get("error"));
    let field = |k: &str| {
        err.and_then(|e| e.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let etype = field("type");
    let code = field("code");
    let detail_code = err
        .and_then(|e| e.pointer("/details/error_code"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let message = field("message");
    let status = resp.status;
    let lower = message.to_ascii_lowercase();
    let kind = match provider {
        Provider::Anthropic => match (status, etype.as_str()) {
            (429, _) if detail_code.contains("spend_limit") => ErrorKind::Quota,
            (402, _) => ErrorKind::Quota,
            (400, "invalid_request_error")
                if lower.contains("spend limit") || lower.contains("credit balance") =>
            {
                ErrorKind::Quota
            }
            (_, "rate_limit_error") | (429, _) => ErrorKind::RateLimit,
            (_, "overloaded_error") | (529, _) | (503, _) => ErrorKind::Overloaded,
            (_, "authentication_error") | (_, "permission_error") | (401, _) | (403, _) => {
                ErrorKind::Auth
            }
            (408, _) | (504, _) => ErrorKind::Timeout,
            _ => ErrorKind::Other,
        },
        Provider::Openai => {
            if code == "insufficient_quota" || etype == "insufficient_quota" || status == 402 {
                ErrorKind::Quota
            } else {
                match status {
                    429 => ErrorKind::RateLimit,
                    529 | 503 => ErrorKind::Overloaded,
                    401 | 403 => ErrorKind::Auth,
                    408 | 504 => ErrorKind::Timeout,
                    _ => ErrorKind::Other,
                }
            }
        }
    };
    let label = [etype.as_str(), code.as_str(), detail_code.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/");
    let text = if body.is_none() {
        let t = resp.text();
        let t: String = t.chars().take(200).collect();
        format!("non-JSON body: {}", t.trim())
    } else {
        let m: String = message.chars().take(300).collect();
        if label.is_empty() {
            m
        } else {
            format!("{label}: {m}")
        }
    };
    ModelError {
        kind,
        status: Some(status),
        message: text,
        retry_after: resp.header("retry-after").and_then(parse_retry_after),
        request_id: request_id(resp),
    }
}

/// Why a budget forbids another call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BudgetStop {
    /// `used` tokens this run reached `limit`.
    Run { used: u64, limit: u64 },
    /// `used` tokens today reached `limit`.
    Day { used: u64, limit: u64 },
}

impl std::fmt::Display for BudgetStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BudgetStop::Run { used, limit } => {
                write!(f, "per-run token budget reached ({used} of {limit} tokens)")
            }
            BudgetStop::Day { used, limit } => {
                write!(f, "per-day token budget reached ({used} of {limit} tokens)")
            }
        }
    }
}

/// Token accounting kept in a job's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenLedger {
    /// The day `day_tokens` counts (in the caller's time zone).
    pub day: Option<NaiveDate>,
    pub day_tokens: u64,
    /// Tokens of the current (or last) run.
    pub run_tokens: u64,
    /// Tokens since the state file was created.
    pub total_tokens: u64,
    pub total_input_tokens: u64,
    pub total_output_tokens: u64,
    /// Successful calls since the state file was created.
    pub calls: u64,
    /// Failed calls by kind (`rate_limit`, `quota`, …).
    pub failures: BTreeMap<String, u64>,
    /// The last time a budget stopped model use, and why.
    pub last_stop: Option<String>,
}

impl TokenLedger {
    /// Begin a run on `today`.
    pub fn start_run(&mut self, today: NaiveDate) {
        self.run_tokens = 0;
        if self.day != Some(today) {
            self.day = Some(today);
            self.day_tokens = 0;
        }
    }

    /// Whether another call fits the budgets.
    pub fn check(&self, cfg: &ModelConfig) -> Result<(), BudgetStop> {
        if cfg.run_token_budget > 0 && self.run_tokens >= cfg.run_token_budget {
            return Err(BudgetStop::Run {
                used: self.run_tokens,
                limit: cfg.run_token_budget,
            });
        }
        if cfg.day_token_budget > 0 && self.day_tokens >= cfg.day_token_budget {
            return Err(BudgetStop::Day {
                used: self.day_tokens,
                limit: cfg.day_token_budget,
            });
        }
        Ok(())
    }

    /// Count a successful call.
    pub fn record(&mut self, c: &Completion) {
        let t = c.total_tokens();
        self.run_tokens += t;
        self.day_tokens += t;
        self.total_tokens += t;
        self.total_input_tokens += c.input_tokens;
        self.total_output_tokens += c.output_tokens;
        self.calls += 1;
    }

    /// Count a failed call.
    pub fn record_failure(&mut self, e: &ModelError) {
        *self.failures.entry(e.kind.as_str().into()).or_default() += 1;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base::http::HeaderMap;

    fn resp(status: u16, body: &str, headers: &[(&'static str, &str)]) -> Response {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(k, v.parse().unwrap());
        }
        Response {
            status,
            headers: h,
            body: body.as_bytes().to_vec(),
            duration: Duration::ZERO,
            attempts: 1,
            throttled: 0,
        }
    }

    #[test]
    fn anthropic_errors_are_classified_by_type() {
        let rl = classify(
            Provider::Anthropic,
            &resp(
                429,
                r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"},"request_id":"req_1"}"#,
                &[("retry-after", "23"), ("request-id", "req_1")],
            ),
        );
        assert_eq!(rl.kind, ErrorKind::RateLimit);
        assert_eq!(rl.retry_after, Some(Duration::from_secs(23)));
        assert_eq!(rl.request_id.as_deref(), Some("req_1"));
        assert!(rl.is_transient());
        let spend = classify(
            Provider::Anthropic,
            &resp(
                429,
                r#"{"type":"error","error":{"type":"rate_limit_error","message":"spend","details":{"error_code":"enforced_spend_limit_reached"}}}"#,
                &[],
            ),
        );
        assert_eq!(spend.kind, ErrorKind::Quota);
        assert!(!spend.is_transient());
        let over = classify(
            Provider::Anthropic,
            &resp(
                529,
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                &[],
            ),
        );
        assert_eq!(over.kind, ErrorKind::Overloaded);
        let auth = classify(
            Provider::Anthropic,
            &resp(
                401,
                r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
                &[],
            ),
        );
        assert_eq!(auth.kind, ErrorKind::Auth);
        let html = classify(
            Provider::Anthropic,
            &resp(413, "<html>too large</html>", &[]),
        );
        assert_eq!(html.kind, ErrorKind::Other);
        assert!(html.message.contains("non-JSON"), "{}", html.message);
    }

    #[test]
    fn openai_quota_is_not_a_rate_limit() {
        let q = classify(
            Provider::Openai,
            &resp(
                429,
                r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
                &[],
            ),
        );
        assert_eq!(q.kind, ErrorKind::Quota);
        let rl = classify(
            Provider::Openai,
            &resp(
                429,
                r#"{"error":{"message":"Rate limit reached","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#,
                &[],
            ),
        );
        assert_eq!(rl.kind, ErrorKind::RateLimit);
        assert!(rl.message.contains("rate_limit_exceeded"), "{}", rl.message);
    }

    #[test]
    fn ledger_stops_at_budgets_and_rolls_days() {
        let cfg = ModelConfig {
            run_token_budget: 100,
            day_token_budget: 150,
            ..Default::default()
        };
        let d1 = NaiveDate::from_ymd_opt(2026, 2, 20).unwrap();
        let mut l = TokenLedger::default();
        l.start_run(d1);
        assert!(l.check(&cfg).is_ok());
        let c = Completion {
            text: "x".into(),
            input_tokens: 60,
            output_tokens: 40,
        };
        l.record(&c);
        assert_eq!(
            l.check(&cfg),
            Err(BudgetStop::Run {
                used: 100,
                limit: 100
            })
        );
        l.start_run(d1);
        assert!(l.check(&cfg).is_ok());
        l.record(&c);
        assert_eq!(
            l.check(&cfg),
            Err(BudgetStop::Run {
                used: 100,
                limit: 100
            })
        );
        l.start_run(d1);
        assert_eq!(
            l.check(&cfg),
            Err(BudgetStop::Day {
                used: 200,
                limit: 150
            })
        );
        l.start_run(d1.succ_opt().unwrap());
        assert!(l.check(&cfg).is_ok());
        assert_eq!(l.total_tokens, 200);
        assert_eq!(l.calls, 2);
        let unlimited = ModelConfig {
            run_token_budget: 0,
            day_token_budget: 0,
            ..Default::default()
        };
        l.run_tokens = u64::MAX / 2;
        assert!(l.check(&unlimited).is_ok());
    }

    #[test]
    fn validate_names_the_key() {
        let c = ModelConfig {
            enabled: true,
            ..Default::default()
        };
        let e = c.validate("job.model").unwrap_err();
        assert!(e.to_string().contains("job.model"), "{e}");
        let ok = ModelConfig {
            enabled: true,
            provider: Provider::Openai,
            url: "http://127.0.0.1:1/v1/chat/completions".into(),
            ..Default::default()
        };
        assert!(ok.validate("job.model").is_ok());
    }
}
