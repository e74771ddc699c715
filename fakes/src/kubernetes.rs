//! A fake Kubernetes API server on loopback, as much of kube-apiserver as the suite's
//! CronJob reader meets: `GET /apis/batch/v1/namespaces/<ns>/cronjobs` over HTTPS (a test CA,
//! `fakes/tls/`), a bearer token, equality label selectors, `limit` / `continue` paging, and
//! the API server's own `Status` bodies for 401 and 403. The CronJobs it lists are the objects
//! given to it (the rendered manifests of deploy/kubernetes/), with the fields the server adds
//! on create (namespace, uid, resourceVersion, creationTimestamp, the spec's defaults, status).

use crate::http::{Reply, Request, Server};
use serde_json::{Map, Value, json};
use std::sync::{Arc, Mutex};

/// The test CA's certificate: what a pod finds in `serviceaccount/ca.crt`.
pub const CA_PEM: &str = include_str!("../tls/ca.crt");
const SERVER_CRT: &str = include_str!("../tls/server.crt");
const SERVER_KEY: &str = include_str!("../tls/server.key");

#[derive(Debug, Default)]
struct State {
    namespace: String,
    token: String,
    /// CronJobs as stored (with the server's fields).
    cronjobs: Vec<Value>,
    /// The service account may not list cronjobs (no RoleBinding).
    forbidden: bool,
    /// Request targets served, in order.
    requests: Vec<String>,
    resource_version: u64,
}

/// A running fake API server; stops when dropped.
#[derive(Debug)]
pub struct FakeKube {
    server: Server,
    state: Arc<Mutex<State>>,
}

impl FakeKube {
    /// Serve the CronJobs of `namespace` to requests bearing `token`.
    pub fn start(namespace: &str, token: &str) -> FakeKube {
        let state = Arc::new(Mutex::new(State {
            namespace: namespace.into(),
            token: token.into(),
            resource_version: 1000,
            ..State::default()
        }));
        let st = state.clone();
        let server = Server::start_tls(0, SERVER_CRT.as_bytes(), SERVER_KEY.as_bytes(), move |r| {
            let mut s = st.lock().unwrap_or_else(|p| p.into_inner());
            s.requests.push(r.target.clone());
            answer(&s, r)
        })
        .expect("start the fake Kubernetes API");
        FakeKube { server, state }
    }

    /// `https://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Store these CronJob objects (as applied: apiVersion, kind, metadata, spec), replacing
    /// the ones before, as `kubectl apply` of the manifests would leave them.
    pub fn set_cronjobs(&self, objects: &[Value]) {
        let mut s = self.lock();
        let ns = s.namespace.clone();
        let mut stored = Vec::new();
        for (i, o) in objects.iter().enumerate() {
            s.resource_version += 1;
            stored.push(as_stored(o, &ns, i, s.resource_version));
        }
        s.cronjobs = stored;
    }

    /// `kubectl patch cronjob <name> -p '{"spec":{"suspend":true}}'`; false when there is no such CronJob.
    pub fn set_suspend(&self, name: &str, suspend: bool) -> bool {
        let mut s = self.lock();
        s.resource_version += 1;
        let rv = s.resource_version.to_string();
        match s
            .cronjobs
            .iter_mut()
            .find(|c| c.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
        {
            Some(c) => {
                c["spec"]["suspend"] = Value::Bool(suspend);
                c["metadata"]["resourceVersion"] = Value::String(rv);
                true
            }
            None => false,
        }
    }

    /// Refuse the listing as RBAC does when the service account has no RoleBinding.
    pub fn forbid(&self, yes: bool) {
        self.lock().forbidden = yes;
    }

    /// Request targets (path and query) served so far.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A CronJob as the API server stores it.
fn as_stored(o: &Value, ns: &str, i: usize, rv: u64) -> Value {
    let mut c = o.clone();
    if let Some(m) = c.as_object_mut() {
        m.remove("status");
    }
    let meta = c["metadata"]
        .as_object_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    let mut meta: Map<String, Value> = meta;
    meta.insert("namespace".into(), json!(ns));
    meta.insert(
        "uid".into(),
        json!(format!("6f1c2a9e-0000-4000-8000-{:012x}", i + 1)),
    );
    meta.insert("resourceVersion".into(), json!(rv.to_string()));
    meta.insert("generation".into(), json!(1));
    meta.insert("creationTimestamp".into(), json!("2026-11-30T08:00:00Z"));
    c["metadata"] = Value::Object(meta);
    let spec = &mut c["spec"];
    for (k, v) in [
        ("suspend", json!(false)),
        ("concurrencyPolicy", json!("Allow")),
        ("successfulJobsHistoryLimit", json!(3)),
        ("failedJobsHistoryLimit", json!(1)),
    ] {
        if spec.get(k).is_none() {
            spec[k] = v;
        }
    }
    c["status"] = json!({});
    c
}

fn status(code: u16, reason: &str, message: String, details: Value) -> Reply {
    Reply::json(
        code,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "details": details, "code": code}),
    )
}

fn answer(s: &State, r: &Request) -> Reply {
    let bearer = r
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "));
    if bearer != Some(s.token.as_str()) {
        return status(401, "Unauthorized", "Unauthorized".into(), json!({}));
    }
    let parts: Vec<&str> = r.path.trim_matches('/').split('/').collect();
    let ["apis", "batch", "v1", "namespaces", ns, "cronjobs"] = parts[..] else {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
            json!({}),
        );
    };
    if r.method != "GET" || s.forbidden || ns != s.namespace {
        let verb = if r.method == "GET" { "list" } else { "create" };
        return status(
            403,
            "Forbidden",
            format!(
                "cronjobs.batch is forbidden: User \"system:serviceaccount:{}:agent-jobs-schedules\" cannot {verb} resource \"cronjobs\" in API group \"batch\" in the namespace \"{ns}\"",
                s.namespace
            ),
            json!({"group": "batch", "kind": "cronjobs"}),
        );
    }
    let selected: Vec<&Value> = s
        .cronjobs
        .iter()
        .filter(|c| matches(c, r.param("labelSelector").unwrap_or("")))
        .collect();
    let from: usize = r
        .param("continue")
        .and_then(|c| c.strip_prefix("page-"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let limit: usize = r
        .param("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let end = from.saturating_add(limit).min(selected.len());
    let items: Vec<Value> = selected[from.min(end)..end]
        .iter()
        .map(|c| {
            // list items carry neither apiVersion nor kind
            let mut c = (*c).clone();
            if let Some(m) = c.as_object_mut() {
                m.remove("apiVersion");
                m.remove("kind");
            }
            c
        })
        .collect();
    let mut meta = json!({"resourceVersion": s.resource_version.to_string()});
    if end < selected.len() {
        meta["continue"] = json!(format!("page-{end}"));
        meta["remainingItemCount"] = json!(selected.len() - end);
    }
    Reply::json(
        200,
        &json!({"kind": "CronJobList", "apiVersion": "batch/v1", "metadata": meta, "items": items}),
    )
}

/// An equality-based label selector (`a=b,c==d,e!=f`).
fn matches(c: &Value, selector: &str) -> bool {
    let labels = c.pointer("/metadata/labels");
    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    selector
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .all(|term| {
            if let Some((k, v)) = term.split_once("!=") {
                label(k.trim()) != Some(v.trim())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                label(k.trim()) == Some(v.trim())
            } else {
                label(term).is_some()
            }
        })
}
