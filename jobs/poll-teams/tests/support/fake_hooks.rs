//! A fake of the gateway's hook endpoint that speaks the documented contract of OpenClaw
//! 2026.9.6 (`POST <hooks.path>/agent`; research notes and `openclaw::hooks`), for the fast
//! tests of answers the real gateway cannot be made to give on demand (409, 502, the 503
//! admission timeout, a connection dropped after admission) and for kill loops that would take
//! too long against the real one. The real gateway is tested in `tests/gateway.rs`.
//!
//! What it does like the gateway: bearer token (401 `Unauthorized` text/plain), other paths
//! 404 `Not Found`, `message required` (400 JSON), `GET /healthz` `{"ok":true,"status":"live"}`,
//! replays the same `runId` for the same `idempotencyKey` *and* payload until [`forget`] (a
//! restart), a new run for the same key with another payload; and it writes one log record per
//! admitted run into a log file, made from the captured record of the real gateway
//! (`tests/fixtures/openclaw-2026.9.6/gateway-hooks/gateway.log.jsonl`) with the run's id and
//! name put in.

#![allow(dead_code)]

use fakes::http::{Reply, Request, Server};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A scripted answer for the next hook request.
#[derive(Debug, Clone)]
pub enum HookFault {
    /// Answer with this status and body (not admitted).
    Status(u16, Value),
    /// `503` while the gateway restarts (`gateway_unavailable`, `Retry-After: 1`).
    Restarting,
    /// Admit the run (logged), then close the connection without an answer.
    AdmitThenDrop,
}

/// One admitted run.
#[derive(Debug, Clone)]
pub struct Run {
    pub run_id: String,
    pub name: String,
    pub key: String,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    faults: VecDeque<HookFault>,
    replay: HashMap<(String, String), String>,
    runs: Vec<Run>,
    requests: u64,
    replays: u64,
    live: bool,
    serial: u64,
}

pub struct FakeHooks {
    server: Server,
    inner: Arc<Mutex<Inner>>,
    pub token: String,
    pub log: PathBuf,
}

fn lock(m: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The captured completion record of the real gateway.
fn template() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/openclaw-2026.9.6/gateway-hooks/gateway.log.jsonl");
    let text = std::fs::read_to_string(&p).expect("captured gateway log");
    let line = text
        .lines()
        .find(|l| l.contains("hook agent run completed"))
        .expect("a captured completion record");
    serde_json::from_str(line).expect("the record is JSON")
}

fn record(run_id: &str, name: &str) -> String {
    let mut v = template();
    let old = v["1"]["runId"].as_str().unwrap_or_default().to_string();
    v["1"]["runId"] = json!(run_id);
    v["1"]["name"] = json!(name);
    for k in ["2", "message"] {
        if let Some(s) = v[k].as_str() {
            v[k] = json!(s.replace(&old, run_id));
        }
    }
    v.to_string()
}

impl FakeHooks {
    /// Start on a free port, logging admitted runs to `log`. The log file exists from the
    /// start, as a running gateway's does (it logs its own start): a poller killed before its
    /// first request reached the gateway finds a log without the run, not no log at all.
    pub fn start(log: &Path) -> FakeHooks {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).expect("fake gateway log dir");
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("fake gateway log");
        let inner = Arc::new(Mutex::new(Inner {
            live: true,
            ..Default::default()
        }));
        let token = "hook-token-0123456789abcdef".to_string();
        let (i2, t2, l2) = (inner.clone(), token.clone(), log.to_path_buf());
        let server = Server::start(0, move |req| handle(&i2, &t2, &l2, req)).expect("fake hooks");
        FakeHooks {
            server,
            inner,
            token,
            log: log.to_path_buf(),
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn push(&self, f: HookFault) {
        lock(&self.inner).faults.push_back(f);
    }

    /// Forget every idempotency key, as a restart of the gateway does.
    pub fn forget(&self) {
        lock(&self.inner).replay.clear();
    }

    /// `GET /healthz` answers 503 while not live.
    pub fn set_live(&self, live: bool) {
        lock(&self.inner).live = live;
    }

    pub fn runs(&self) -> Vec<Run> {
        lock(&self.inner).runs.clone()
    }

    pub fn requests(&self) -> u64 {
        lock(&self.inner).requests
    }

    pub fn replays(&self) -> u64 {
        lock(&self.inner).replays
    }

    /// Admitted runs per run name.
    pub fn runs_by_name(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for r in self.runs() {
            *m.entry(r.name).or_insert(0) += 1;
        }
        m
    }
}

fn handle(inner: &Mutex<Inner>, token: &str, log: &Path, req: &Request) -> Reply {
    if req.method == "GET" && req.path == "/healthz" {
        return if lock(inner).live {
            Reply::json(200, &json!({"ok": true, "status": "live"}))
        } else {
            Reply::json(503, &json!({"ready": false}))
        };
    }
    if req.method != "POST" {
        return Reply::raw(405, "text/plain", "Method Not Allowed");
    }
    let auth = req.header("authorization").unwrap_or("");
    if auth != format!("Bearer {token}") {
        return Reply::raw(401, "text/plain", "Unauthorized");
    }
    if req.path != "/hooks/agent" {
        return Reply::raw(404, "text/plain", "Not Found");
    }
    let mut st = lock(inner);
    st.requests += 1;
    let Some(body) = req.json() else {
        return Reply::json(
            400,
            &json!({"ok": false, "error": "Unexpected end of JSON input"}),
        );
    };
    if body["message"].as_str().is_none_or(|m| m.trim().is_empty()) {
        return Reply::json(400, &json!({"ok": false, "error": "message required"}));
    }
    let fault = st.faults.pop_front();
    match fault {
        Some(HookFault::Status(code, b)) => return Reply::json(code, &b),
        Some(HookFault::Restarting) => {
            return Reply::json(503, &json!({"error": {"message": "Gateway is temporarily unavailable while suspending or restarting", "type": "service_unavailable", "code": "gateway_unavailable"}}))
                .with_header("Retry-After", "1");
        }
        _ => {}
    }
    let key = body["idempotencyKey"].as_str().unwrap_or("").to_string();
    let mut scope = body.clone();
    scope.as_object_mut().map(|o| o.remove("idempotencyKey"));
    let replay_key = (key.clone(), scope.to_string());
    let known = st
        .replay
        .get(&replay_key)
        .filter(|_| !key.is_empty())
        .cloned();
    let run_id = match known {
        Some(id) => {
            st.replays += 1;
            id
        }
        None => {
            st.serial += 1;
            let id = format!("00000000-0000-4000-8000-{:012x}", st.serial);
            let name = body["name"].as_str().unwrap_or("Hook").to_string();
            st.runs.push(Run {
                run_id: id.clone(),
                name: name.clone(),
                key: key.clone(),
                body: body.clone(),
            });
            if !key.is_empty() {
                st.replay.insert(replay_key, id.clone());
            }
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .expect("fake gateway log");
            let _ = writeln!(f, "{}", record(&id, &name));
            id
        }
    };
    if matches!(fault, Some(HookFault::AdmitThenDrop)) {
        return Reply::Drop;
    }
    Reply::json(200, &json!({"ok": true, "runId": run_id}))
}
