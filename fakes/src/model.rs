//! Fake model providers on loopback: the Anthropic Messages API (`POST /v1/messages`) and an
//! OpenAI-compatible chat completions endpoint (`POST /v1/chat/completions`) on one server,
//! with the real bodies and headers of `graph-teams-and-llm-protocols.md` §8–9 and scriptable
//! faults, so clients can be tested against rate limits, overloads, spend caps, timeouts and
//! garbage without a network.
//!
//! ```no_run
//! use fakes::model::{FakeModel, Fault};
//! let fake = FakeModel::start().unwrap();
//! fake.push(Fault::RateLimit { retry_after: Some(23) }); // the next request gets a 429
//! fake.set_usage(1200, 300);                              // tokens reported per success
//! let url = fake.anthropic_url();                         // http://127.0.0.1:<port>/v1/messages
//! assert_eq!(fake.requests(), 0);
//! ```

use crate::http::{Reply, Request, Server};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What the fake does with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// A normal successful completion.
    None,
    /// 429 rate limit, with or without `retry-after` (seconds).
    RateLimit { retry_after: Option<u32> },
    /// 529 overloaded (Anthropic) / 503 (OpenAI-compatible).
    Overloaded,
    /// Spend cap: Anthropic 429 `enforced_spend_limit_reached` without `retry-after`;
    /// OpenAI 429 `insufficient_quota`.
    SpendCap,
    /// 401 bad key.
    Auth,
    /// 500 server error.
    ServerError,
    /// 200 with a body that is not JSON.
    Malformed,
    /// Close the connection without answering.
    Drop,
    /// Answer normally after this long (a client timeout shorter than this fails).
    Delay(Duration),
    /// 402 with this message (Anthropic `billing_error` shape): the spending-limit and
    /// daily-limit texts that the agent gateway classifies by their wording.
    PaymentRequired(String),
}

#[derive(Debug, Default)]
struct Inner {
    script: VecDeque<Fault>,
    default: Option<Fault>,
    requests: u64,
    anthropic_requests: u64,
    openai_requests: u64,
    usage: (u64, u64),
    reply: Option<String>,
    bodies: Vec<Value>,
    api_key: Option<String>,
    log: Vec<Served>,
}

/// One request as the fake saw it and what it answered (for test evidence and captures).
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    pub at: chrono::DateTime<chrono::Utc>,
    pub path: String,
    pub model: String,
    pub stream: bool,
    /// HTTP status answered (0 = connection dropped).
    pub status: u16,
    /// The fault used, as its debug text (`None`, `RateLimit { retry_after: Some(2) }`, …).
    pub fault: String,
}

/// A running fake; stops when dropped.
pub struct FakeModel {
    server: Server,
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for FakeModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FakeModel({})", self.server.addr)
    }
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FakeModel {
    /// Start on a free loopback port.
    pub fn start() -> std::io::Result<FakeModel> {
        Self::start_on(0)
    }

    /// Start on `127.0.0.1:<port>` (0 = any free port).
    pub fn start_on(port: u16) -> std::io::Result<FakeModel> {
        let inner = Arc::new(Mutex::new(Inner {
            usage: (100, 50),
            ..Default::default()
        }));
        let i2 = inner.clone();
        let server = Server::start(port, move |req| handle(&i2, req))?;
        Ok(FakeModel { server, inner })
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        self.server.url()
    }
    /// The Anthropic Messages endpoint.
    pub fn anthropic_url(&self) -> String {
        format!("{}/v1/messages", self.server.url())
    }
    /// The OpenAI-compatible chat completions endpoint.
    pub fn openai_url(&self) -> String {
        format!("{}/v1/chat/completions", self.server.url())
    }
    /// Queue a fault for the next request (faults are used in order, then the default).
    pub fn push(&self, f: Fault) {
        lock(&self.inner).script.push_back(f);
    }
    /// What every request gets once the queue is empty (initially [`Fault::None`]).
    pub fn set_default(&self, f: Fault) {
        lock(&self.inner).default = Some(f);
    }
    /// Input and output tokens reported by each successful completion.
    pub fn set_usage(&self, input: u64, output: u64) {
        lock(&self.inner).usage = (input, output);
    }
    /// Fixed text of successful completions (default: derived from the prompt).
    pub fn set_reply(&self, text: &str) {
        lock(&self.inner).reply = Some(text.into());
    }
    /// Require this key (`x-api-key` or `Authorization: Bearer`); others get 401.
    pub fn require_key(&self, key: &str) {
        lock(&self.inner).api_key = Some(key.into());
    }
    /// Requests received (all endpoints).
    pub fn requests(&self) -> u64 {
        lock(&self.inner).requests
    }
    /// Requests received on `/v1/messages`.
    pub fn anthropic_requests(&self) -> u64 {
        lock(&self.inner).anthropic_requests
    }
    /// Requests received on `/v1/chat/completions`.
    pub fn openai_requests(&self) -> u64 {
        lock(&self.inner).openai_requests
    }
    /// JSON bodies received, in order.
    pub fn bodies(&self) -> Vec<Value> {
        lock(&self.inner).bodies.clone()
    }
    /// Every request served, in order, with the answer's status.
    pub fn served(&self) -> Vec<Served> {
        lock(&self.inner).log.clone()
    }
    /// Forget queued faults, the default and the request log (counters stay).
    pub fn reset(&self) {
        let mut g = lock(&self.inner);
        g.script.clear();
        g.default = None;
        g.log.clear();
        g.reply = None;
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Api {
    Anthropic,
    Openai,
}

fn handle(inner: &Mutex<Inner>, req: &Request) -> Reply {
    let (reply, fault) = answer(inner, req);
    let body = req.json();
    let get = |k: &str| body.as_ref().and_then(|b| b.get(k)).cloned();
    let served = Served {
        at: chrono::Utc::now(),
        path: req.path.clone(),
        model: get("model")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        stream: get("stream").and_then(|v| v.as_bool()).unwrap_or(false),
        status: reply.status(),
        fault: fault.map(|f| format!("{f:?}")).unwrap_or_default(),
    };
    lock(inner).log.push(served);
    reply
}

fn answer(inner: &Mutex<Inner>, req: &Request) -> (Reply, Option<Fault>) {
    let api = match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/v1/messages") => Api::Anthropic,
        ("POST", "/v1/chat/completions") => Api::Openai,
        _ => {
            return (
                Reply::json(
                    404,
                    &json!({"type":"error","error":{"type":"not_found_error","message":"Not found"}}),
                ),
                None,
            );
        }
    };
    let (fault, usage, reply, want_key, n) = {
        let mut g = lock(inner);
        g.requests += 1;
        match api {
            Api::Anthropic => g.anthropic_requests += 1,
            Api::Openai => g.openai_requests += 1,
        }
        if let Some(v) = req.json() {
            g.bodies.push(v);
        }
        let fault = g
            .script
            .pop_front()
            .or_else(|| g.default.clone())
            .unwrap_or(Fault::None);
        (
            fault,
            g.usage,
            g.reply.clone(),
            g.api_key.clone(),
            g.requests,
        )
    };
    let rid = format!("req_011CSHoEeqs5C35K2UUq{n:06}");
    let Some(body) = req.json() else {
        return (
            error(
                api,
                400,
                "invalid_request_error",
                "invalid_request_error",
                "body is not JSON",
                &rid,
            ),
            Some(fault),
        );
    };
    if let Some(k) = want_key {
        let sent = match api {
            Api::Anthropic => req.header("x-api-key").map(str::to_string),
            Api::Openai => req
                .header("authorization")
                .and_then(|h| h.strip_prefix("Bearer "))
                .map(str::to_string),
        };
        if sent.as_deref() != Some(k.as_str()) {
            return (
                error(
                    api,
                    401,
                    "authentication_error",
                    "invalid_api_key",
                    "invalid x-api-key",
                    &rid,
                ),
                Some(fault),
            );
        }
    }
    if api == Api::Anthropic && req.header("anthropic-version").is_none() {
        return (
            error(
                api,
                400,
                "invalid_request_error",
                "",
                "anthropic-version: header is required",
                &rid,
            ),
            Some(fault),
        );
    }
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let reply = match fault.clone() {
        Fault::None => success(api, &body, usage, reply, &rid, stream),
        Fault::Delay(d) => Reply::Delay(d, Box::new(success(api, &body, usage, reply, &rid, stream))),
        Fault::RateLimit { retry_after } => {
            let r = match api {
                Api::Anthropic => error(
                    api,
                    429,
                    "rate_limit_error",
                    "",
                    "Number of request tokens has exceeded your per-minute rate limit (https://docs.anthropic.com/en/api/rate-limits); see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.",
                    &rid,
                )
                .with_header("anthropic-ratelimit-requests-remaining", "0")
                .with_header("anthropic-ratelimit-requests-reset", "2026-01-01T00:00:23Z"),
                Api::Openai => Reply::json(
                    429,
                    &json!({"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-xxx on tokens per min (TPM): Limit 200000, Used 195869, Requested 4412. Please try again in 84ms.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}),
                )
                .with_header("x-request-id", &rid)
                .with_header("x-ratelimit-remaining-tokens", "0")
                .with_header("x-ratelimit-reset-tokens", "6m0s"),
            };
            match retry_after {
                Some(s) => r.with_header("retry-after", &s.to_string()),
                None => r,
            }
        }
        Fault::Overloaded => match api {
            Api::Anthropic => error(api, 529, "overloaded_error", "", "Overloaded", &rid),
            Api::Openai => error(api, 503, "server_error", "", "The engine is currently overloaded, please try again later", &rid),
        },
        Fault::SpendCap => match api {
            Api::Anthropic => Reply::json(
                429,
                &json!({"type":"error","error":{"type":"rate_limit_error","message":"You have reached your specified API usage limits.","details":{"error_code":"enforced_spend_limit_reached"}},"request_id":rid}),
            )
            .with_header("request-id", &rid),
            Api::Openai => Reply::json(
                429,
                &json!({"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}),
            )
            .with_header("x-request-id", &rid),
        },
        Fault::Auth => error(api, 401, "authentication_error", "invalid_api_key", "invalid x-api-key", &rid),
        Fault::ServerError => error(api, 500, "api_error", "", "Internal server error", &rid),
        Fault::Malformed => Reply::raw(200, "application/json", "{\"id\":\"msg_01\",\"content\":[{\"type\":\"te"),
        Fault::Drop => Reply::Drop,
        Fault::PaymentRequired(message) => match api {
            Api::Anthropic => error(api, 402, "billing_error", "", &message, &rid),
            Api::Openai => error(api, 402, "billing_error", "billing_error", &message, &rid),
        },
    };
    (reply, Some(fault))
}

fn error(api: Api, status: u16, etype: &str, code: &str, message: &str, rid: &str) -> Reply {
    match api {
        Api::Anthropic => Reply::json(
            status,
            &json!({"type":"error","error":{"type":etype,"message":message},"request_id":rid}),
        )
        .with_header("request-id", rid),
        Api::Openai => Reply::json(
            status,
            &json!({"error":{"message":message,"type":etype,"param":null,"code":if code.is_empty() { Value::Null } else { Value::from(code) }}}),
        )
        .with_header("x-request-id", rid),
    }
}

fn prompt_text(api: Api, body: &Value) -> String {
    let msgs = body.get("messages").and_then(Value::as_array);
    let user = msgs.and_then(|m| {
        m.iter()
            .rev()
            .find(|x| x.get("role").and_then(Value::as_str) == Some("user"))
    });
    let _ = api;
    user.and_then(|u| u.get("content"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn success(
    api: Api,
    body: &Value,
    usage: (u64, u64),
    reply: Option<String>,
    rid: &str,
    stream: bool,
) -> Reply {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("fake-model");
    let prompt = prompt_text(api, body);
    let text = reply.unwrap_or_else(|| {
        let first = prompt
            .lines()
            .find(|l| l.starts_with('#'))
            .unwrap_or("(no heading)")
            .trim_start_matches('#')
            .trim();
        format!(
            "- Model summary of {} prompt characters; first heading: {first}",
            prompt.chars().count()
        )
    });
    if stream {
        return match api {
            Api::Anthropic => anthropic_stream(model, &text, usage, rid),
            Api::Openai => openai_stream(model, &text, usage, rid),
        };
    }
    match api {
        Api::Anthropic => Reply::json(
            200,
            &json!({
                "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": null,
                "usage": {"input_tokens": usage.0, "output_tokens": usage.1,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
            }),
        )
        .with_header("request-id", rid)
        .with_header("anthropic-ratelimit-requests-remaining", "49"),
        Api::Openai => Reply::json(
            200,
            &json!({
                "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
                "object": "chat.completion",
                "created": 1741569952,
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text,
                             "refusal": null}, "logprobs": null, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": usage.0, "completion_tokens": usage.1,
                          "total_tokens": usage.0 + usage.1}
            }),
        )
        .with_header("x-request-id", rid),
    }
}

/// One server-sent event.
fn sse(out: &mut String, event: Option<&str>, data: &Value) {
    if let Some(e) = event {
        out.push_str("event: ");
        out.push_str(e);
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(&data.to_string());
    out.push_str("\n\n");
}

/// The Anthropic Messages stream (`"stream": true`): message_start, one text block in a few
/// deltas, message_delta with the stop reason and output tokens, message_stop.
fn anthropic_stream(model: &str, text: &str, usage: (u64, u64), rid: &str) -> Reply {
    let mut out = String::new();
    sse(
        &mut out,
        Some("message_start"),
        &json!({"type":"message_start","message":{"id":"msg_013Zva2CMHLNnXjNJJKqJ2EF","type":"message",
            "role":"assistant","model":model,"content":[],"stop_reason":null,"stop_sequence":null,
            "usage":{"input_tokens":usage.0,"output_tokens":1,"cache_creation_input_tokens":0,
                     "cache_read_input_tokens":0}}}),
    );
    sse(
        &mut out,
        Some("content_block_start"),
        &json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}),
    );
    sse(&mut out, Some("ping"), &json!({"type":"ping"}));
    for piece in chunks(text, 24) {
        sse(
            &mut out,
            Some("content_block_delta"),
            &json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":piece}}),
        );
    }
    sse(
        &mut out,
        Some("content_block_stop"),
        &json!({"type":"content_block_stop","index":0}),
    );
    sse(
        &mut out,
        Some("message_delta"),
        &json!({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},
                "usage":{"output_tokens":usage.1}}),
    );
    sse(
        &mut out,
        Some("message_stop"),
        &json!({"type":"message_stop"}),
    );
    Reply::raw(200, "text/event-stream; charset=utf-8", out)
        .with_header("Cache-Control", "no-cache")
        .with_header("request-id", rid)
        .with_header("anthropic-ratelimit-requests-remaining", "49")
}

/// The OpenAI chat completions stream: chunks with deltas, a final chunk with usage, `[DONE]`.
fn openai_stream(model: &str, text: &str, usage: (u64, u64), rid: &str) -> Reply {
    let mut out = String::new();
    let id = "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT";
    sse(
        &mut out,
        None,
        &json!({"id":id,"object":"chat.completion.chunk","created":1741569952,"model":model,
                "choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}),
    );
    for piece in chunks(text, 24) {
        sse(
            &mut out,
            None,
            &json!({"id":id,"object":"chat.completion.chunk","created":1741569952,"model":model,
                    "choices":[{"index":0,"delta":{"content":piece},"finish_reason":null}]}),
        );
    }
    sse(
        &mut out,
        None,
        &json!({"id":id,"object":"chat.completion.chunk","created":1741569952,"model":model,
                "choices":[{"index":0,"delta":{},"finish_reason":"stop"}],
                "usage":{"prompt_tokens":usage.0,"completion_tokens":usage.1,
                         "total_tokens":usage.0 + usage.1}}),
    );
    out.push_str("data: [DONE]\n\n");
    Reply::raw(200, "text/event-stream; charset=utf-8", out).with_header("x-request-id", rid)
}

/// `text` in pieces of about `n` characters (never splitting a character).
fn chunks(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
}
