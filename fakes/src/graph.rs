//! A fake Microsoft identity platform + Graph (Teams chat messages) on loopback, for the
//! tests and the demo of poll-teams and publish-report.
//!
//! It speaks the real wire format (see section 1–6 and the checklist in section 10 of
//! `graph-teams-and-llm-protocols.md`):
//! - `POST /{tenant}/oauth2/v2.0/token`: `client_credentials` and `password` grants, the real
//!   error bodies (AADSTS 50126, 50076, 7000215, 700016, 70011, 9001023…), opaque tokens with a
//!   configurable lifetime.
//! - `GET /v1.0/chats/{id}/messages`: Bearer check (401 `InvalidAuthenticationToken` when
//!   expired), `$top` (≤ 50, else 400), `$orderby` (`lastModifiedDateTime desc` or
//!   `createdDateTime desc`), `$filter` (`gt`/`lt` on the ordered property only, else ignored),
//!   absolute `@odata.nextLink` with an opaque `$skiptoken`; chat ids raw or percent-encoded.
//! - `POST /v1.0/chats/{id}/messages`: needs a delegated (password-grant) token; 201 with the
//!   created message, which also appears in the chat.
//! - Faults scripted per route: 429 with `Retry-After` (integer, decimal or absent), 503, 504,
//!   dropped connections, truncated bodies, malformed JSON, expired token, any status/body.
//!
//! The store is in memory and thread-safe; tests mutate it while the job runs.
//!
//! ```ignore
//! let g = fakes::graph::FakeGraph::start();
//! let id = g.add_message("19:abc@thread.v2", "user-1", "Robin", "<p>hi</p>");
//! g.fail_next(Route::List, Fault::Throttle(Some("1".into())));
//! // config: {"graph": {"token_url": g.token_url(), "graph_url": g.graph_url(), ...g ids...}}
//! ```

use crate::http::{Reply, Request, Server};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Tenant id the fake expects by default.
pub const TENANT: &str = "00000000-0000-0000-0000-0000000000aa";
/// Client (application) id the fake accepts.
pub const CLIENT_ID: &str = "11111111-2222-3333-4444-555555555555";
/// Client secret the fake accepts.
pub const CLIENT_SECRET: &str = "fake-client-secret-value";
/// The agent's account (password grant).
pub const AGENT_USER: &str = "agent@contoso.example";
/// Its password.
pub const AGENT_PASSWORD: &str = "fake-agent-password";
/// The agent account's AAD object id (sender of posted messages).
pub const AGENT_USER_ID: &str = "aaaaaaaa-0000-4000-8000-00000000a9e7";

/// Routes faults can be scripted on and requests are counted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Route {
    /// The token endpoint.
    Token,
    /// `GET …/messages`.
    List,
    /// `POST …/messages`.
    Post,
    /// `GET /teams/{team}/channels/{channel}/messages/delta`.
    Delta,
}

/// A scripted fault.
#[derive(Debug, Clone)]
pub enum Fault {
    /// 429 with the Graph throttling body and this `Retry-After` value (None = header absent).
    Throttle(Option<String>),
    /// 503 with an optional `Retry-After`.
    Unavailable(Option<String>),
    /// 504.
    GatewayTimeout,
    /// Close the connection without answering.
    Drop,
    /// Send the headers and half the (real) body, then close.
    Truncated,
    /// 200 with a body that is not JSON.
    Malformed,
    /// Expire every issued token, then answer 401 `InvalidAuthenticationToken`.
    ExpiredToken,
    /// An identity-platform error: HTTP status, `error`, AADSTS code.
    Aadsts(u16, String, i64),
    /// Any status and JSON body.
    Status(u16, Value),
    /// Wait, then answer normally.
    Delay(Duration),
}

#[derive(Debug, Clone)]
struct Scripted {
    route: Route,
    /// Fire on this request number of the route (1-based), or on the next ones if None.
    at: Option<u64>,
    remaining: u32,
    fault: Fault,
}

#[derive(Debug)]
struct Issued {
    expires: Instant,
    delegated: bool,
}

#[derive(Debug)]
struct Store {
    base: String,
    chats: BTreeMap<String, Vec<Value>>,
    posted: BTreeMap<String, Vec<Value>>,
    faults: Vec<Scripted>,
    counts: HashMap<Route, u64>,
    requests: Vec<String>,
    tokens: HashMap<String, Issued>,
    token_ttl: u64,
    client_secret: String,
    users: BTreeMap<String, String>,
    mfa_users: BTreeSet<String>,
    missing_scope: bool,
    delta_gen: u64,
    last_ms: i64,
    serial: u64,
}

/// The fake server; stops when dropped.
pub struct FakeGraph {
    server: Server,
    store: Arc<Mutex<Store>>,
}

impl std::fmt::Debug for FakeGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FakeGraph({})", self.server.url())
    }
}

/// Lock the store, surviving a panicked test thread.
fn lock(s: &Mutex<Store>) -> MutexGuard<'_, Store> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_ts(v: Option<&Value>) -> Option<DateTime<Utc>> {
    v.and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// A realistic `chatMessage` object from a user.
pub fn user_message(
    chat: &str,
    id: &str,
    at: DateTime<Utc>,
    user_id: &str,
    name: &str,
    html: &str,
) -> Value {
    json!({
        "id": id, "replyToId": null, "etag": id, "messageType": "message",
        "createdDateTime": ts(at), "lastModifiedDateTime": ts(at),
        "lastEditedDateTime": null, "deletedDateTime": null, "subject": null, "summary": null,
        "chatId": chat, "importance": "normal", "locale": "en-us", "webUrl": null,
        "channelIdentity": null, "onBehalfOf": null, "policyViolation": null, "eventDetail": null,
        "from": {"application": null, "device": null, "user": {
            "@odata.type": "#microsoft.graph.teamworkUserIdentity", "id": user_id,
            "displayName": name, "userIdentityType": "aadUser", "tenantId": TENANT}},
        "body": {"contentType": "html", "content": html},
        "attachments": [], "mentions": [], "reactions": [], "messageHistory": []
    })
}

impl FakeGraph {
    /// Start on a free loopback port.
    pub fn start() -> FakeGraph {
        Self::start_on(0).unwrap_or_else(|e| panic!("cannot start the fake Graph: {e}"))
    }

    /// Start on `127.0.0.1:<port>` (0 = any free port).
    pub fn start_on(port: u16) -> std::io::Result<FakeGraph> {
        let mut users = BTreeMap::new();
        users.insert(AGENT_USER.to_string(), AGENT_PASSWORD.to_string());
        let store = Arc::new(Mutex::new(Store {
            base: String::new(),
            chats: BTreeMap::new(),
            posted: BTreeMap::new(),
            faults: Vec::new(),
            counts: HashMap::new(),
            requests: Vec::new(),
            tokens: HashMap::new(),
            token_ttl: 3599,
            client_secret: CLIENT_SECRET.into(),
            users,
            mfa_users: BTreeSet::new(),
            missing_scope: false,
            last_ms: 0,
            serial: 0,
            delta_gen: 0,
        }));
        let s2 = store.clone();
        let server = Server::start(port, move |req| handle(&s2, req))?;
        lock(&store).base = server.url();
        Ok(FakeGraph { server, store })
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        self.server.url()
    }
    /// Value for `graph.token_url`.
    pub fn token_url(&self) -> String {
        self.server.url()
    }
    /// Value for `graph.graph_url`.
    pub fn graph_url(&self) -> String {
        format!("{}/v1.0", self.server.url())
    }

    /// A `graph` config object for the client-credentials grant, secret from `secret_env`.
    pub fn app_config(&self, secret_env: &str) -> Value {
        json!({"token_url": self.token_url(), "graph_url": self.graph_url(), "tenant": TENANT,
               "client_id": CLIENT_ID, "grant": "client_credentials", "client_secret_env": secret_env})
    }

    /// A `graph` config object for the password grant as the agent, password from `password_env`.
    pub fn user_config(&self, password_env: &str) -> Value {
        json!({"token_url": self.token_url(), "graph_url": self.graph_url(), "tenant": TENANT,
               "client_id": CLIENT_ID, "grant": "password", "username": AGENT_USER,
               "password_env": password_env})
    }

    /// A fresh, strictly increasing epoch-ms timestamp (ids are unique).
    fn next_time(st: &mut Store, at: Option<DateTime<Utc>>) -> DateTime<Utc> {
        if let Some(t) = at {
            return t;
        }
        let ms = Utc::now().timestamp_millis().max(st.last_ms + 1);
        st.last_ms = ms;
        DateTime::from_timestamp_millis(ms).unwrap_or_else(Utc::now)
    }

    /// Add a message from a user now; returns its id.
    pub fn add_message(&self, chat: &str, user_id: &str, name: &str, html: &str) -> String {
        self.add_message_at(chat, user_id, name, html, None)
    }

    /// Add a message from a user at a given time (None = now); returns its id. Messages given the
    /// same time share it (boundary tests); their ids stay unique.
    pub fn add_message_at(
        &self,
        chat: &str,
        user_id: &str,
        name: &str,
        html: &str,
        at: Option<DateTime<Utc>>,
    ) -> String {
        let mut st = lock(&self.store);
        let t = Self::next_time(&mut st, at);
        st.serial += 1;
        let id = if at.is_some() {
            format!("{}{:03}", t.timestamp_millis(), st.serial % 1000)
        } else {
            t.timestamp_millis().to_string()
        };
        let v = user_message(chat, &id, t, user_id, name, html);
        st.chats.entry(chat.to_string()).or_default().push(v);
        id
    }

    /// Add any JSON item to a chat as is (hostile payloads). It is listed by its
    /// `lastModifiedDateTime` (or `createdDateTime`, or epoch 0 if neither parses).
    pub fn add_raw(&self, chat: &str, item: Value) {
        lock(&self.store)
            .chats
            .entry(chat.to_string())
            .or_default()
            .push(item);
    }

    /// Make sure a chat exists (an empty chat lists as `[]`, an unknown one is 404).
    pub fn add_chat(&self, chat: &str) {
        lock(&self.store).chats.entry(chat.to_string()).or_default();
    }

    fn modify(&self, chat: &str, id: &str, f: impl FnOnce(&mut Value, DateTime<Utc>)) -> bool {
        let mut st = lock(&self.store);
        let t = Self::next_time(&mut st, None);
        let Some(msgs) = st.chats.get_mut(chat) else {
            return false;
        };
        match msgs
            .iter_mut()
            .find(|m| m.get("id").and_then(Value::as_str) == Some(id))
        {
            Some(m) => {
                f(m, t);
                m["lastModifiedDateTime"] = json!(ts(t));
                true
            }
            None => false,
        }
    }

    /// Edit a message's HTML (sets `lastEditedDateTime`, bumps `lastModifiedDateTime`).
    pub fn edit_message(&self, chat: &str, id: &str, html: &str) -> bool {
        self.modify(chat, id, |m, t| {
            m["body"] = json!({"contentType": "html", "content": html});
            m["lastEditedDateTime"] = json!(ts(t));
        })
    }

    /// Soft-delete a message (sets `deletedDateTime`, empties the body, like Teams).
    pub fn delete_message(&self, chat: &str, id: &str) -> bool {
        self.modify(chat, id, |m, t| {
            m["deletedDateTime"] = json!(ts(t));
            m["body"] = json!({"contentType": "html", "content": ""});
        })
    }

    /// Add a reaction (bumps `lastModifiedDateTime` only, as Teams does).
    pub fn react(&self, chat: &str, id: &str) -> bool {
        self.modify(chat, id, |m, t| {
            let r = json!({"reactionType": "👍", "displayName": "Like", "createdDateTime": ts(t),
                           "user": {"user": {"id": "reactor", "displayName": null}}});
            if let Some(a) = m.get_mut("reactions").and_then(Value::as_array_mut) {
                a.push(r);
            }
        })
    }

    /// Every item of a chat as stored.
    pub fn messages(&self, chat: &str) -> Vec<Value> {
        lock(&self.store)
            .chats
            .get(chat)
            .cloned()
            .unwrap_or_default()
    }

    /// Messages posted to a chat through the API, in order.
    pub fn posted(&self, chat: &str) -> Vec<Value> {
        lock(&self.store)
            .posted
            .get(chat)
            .cloned()
            .unwrap_or_default()
    }

    /// Script a fault on the next request of `route`.
    pub fn fail_next(&self, route: Route, fault: Fault) {
        self.fail_times(route, fault, 1);
    }

    /// Script a fault on the next `n` requests of `route`.
    pub fn fail_times(&self, route: Route, fault: Fault, n: u32) {
        lock(&self.store).faults.push(Scripted {
            route,
            at: None,
            remaining: n,
            fault,
        });
    }

    /// Script a fault on request number `nth` (1-based, counted since start) of `route`.
    pub fn fail_at(&self, route: Route, nth: u64, fault: Fault) {
        lock(&self.store).faults.push(Scripted {
            route,
            at: Some(nth),
            remaining: 1,
            fault,
        });
    }

    /// Drop every scripted fault not yet fired.
    pub fn clear_faults(&self) {
        lock(&self.store).faults.clear();
    }

    /// Requests received on `route` (faulted ones included).
    pub fn count(&self, route: Route) -> u64 {
        lock(&self.store).counts.get(&route).copied().unwrap_or(0)
    }

    /// Every request received, as `METHOD raw-target`.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.store).requests.clone()
    }

    /// Lifetime of issued tokens, seconds.
    pub fn set_token_ttl(&self, secs: u64) {
        lock(&self.store).token_ttl = secs;
    }

    /// Expire every token issued so far.
    pub fn expire_tokens(&self) {
        lock(&self.store).tokens.clear();
    }

    /// Change the client secret the token endpoint accepts.
    pub fn set_client_secret(&self, secret: &str) {
        lock(&self.store).client_secret = secret.into();
    }

    /// Add or change a user (password grant).
    pub fn set_user(&self, user: &str, password: &str) {
        lock(&self.store).users.insert(user.into(), password.into());
    }

    /// Make a user subject to MFA (password grant answers AADSTS50076).
    pub fn require_mfa(&self, user: &str) {
        lock(&self.store).mfa_users.insert(user.into());
    }

    /// The store key of a channel (use it with [`FakeGraph::edit_message`] and friends).
    pub fn channel_key(team: &str, channel: &str) -> String {
        format!("teams/{team}/channels/{channel}")
    }

    /// Add a root message to a channel (created if needed); returns its id.
    pub fn add_channel_message(
        &self,
        team: &str,
        channel: &str,
        user_id: &str,
        name: &str,
        html: &str,
    ) -> String {
        self.add_message(&Self::channel_key(team, channel), user_id, name, html)
    }

    /// Invalidate every delta link issued so far (the next use answers 410 `resyncRequired`).
    pub fn expire_delta_links(&self) {
        lock(&self.store).delta_gen += 1;
    }

    /// Answer Graph calls with 403 "Missing scope permissions".
    pub fn set_missing_scope(&self, on: bool) {
        lock(&self.store).missing_scope = on;
    }
}

fn aadsts(status: u16, error: &str, code: i64, text: &str) -> Reply {
    let now = Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
    let mut body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text} Trace ID: 255d1aef-8c98-452f-ac51-23d051240864 Correlation ID: fb3d2015-bc17-4bb9-bb85-30c5cf1aaaa7 Timestamp: {now}"),
        "error_codes": [code], "timestamp": now,
        "trace_id": "255d1aef-8c98-452f-ac51-23d051240864",
        "correlation_id": "fb3d2015-bc17-4bb9-bb85-30c5cf1aaaa7",
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}")
    });
    if code == 50076 {
        body["suberror"] = json!("basic_action");
    }
    if code == 65001 {
        body["suberror"] = json!("consent_required");
    }
    Reply::json(status, &body)
}

fn odata(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"error": {"code": code, "message": message, "innerError": {
            "date": Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
            "request-id": "db39f8ea-8072-4eb5-95e2-26b8f78c1673",
            "client-request-id": "db39f8ea-8072-4eb5-95e2-26b8f78c1673"}}}),
    )
}

fn expired() -> Reply {
    odata(
        401,
        "InvalidAuthenticationToken",
        "Lifetime validation failed, the token is expired.",
    )
    .with_header(
        "WWW-Authenticate",
        "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"",
    )
}

fn route_of(req: &Request) -> Option<Route> {
    if req.path.ends_with("/oauth2/v2.0/token") {
        return Some(Route::Token);
    }
    if req.path.starts_with("/v1.0/teams/")
        && req.path.ends_with("/messages/delta")
        && req.method == "GET"
    {
        return Some(Route::Delta);
    }
    if req.path.starts_with("/v1.0/chats/") && req.path.ends_with("/messages") {
        return match req.method.as_str() {
            "GET" => Some(Route::List),
            "POST" => Some(Route::Post),
            _ => None,
        };
    }
    None
}

fn handle(store: &Mutex<Store>, req: &Request) -> Reply {
    let route = route_of(req);
    let fault = {
        let mut st = lock(store);
        st.requests.push(format!("{} {}", req.method, req.target));
        match route {
            Some(r) => {
                let n = {
                    let c = st.counts.entry(r).or_insert(0);
                    *c += 1;
                    *c
                };
                let idx = st
                    .faults
                    .iter()
                    .position(|f| f.route == r && f.remaining > 0 && f.at.is_none_or(|a| a == n));
                idx.map(|i| {
                    let f = &mut st.faults[i];
                    f.remaining -= 1;
                    let fault = f.fault.clone();
                    if f.remaining == 0 {
                        st.faults.remove(i);
                    }
                    fault
                })
            }
            None => None,
        }
    };
    let Some(route) = route else {
        return odata(404, "NotFound", "Resource not found for the segment.");
    };
    if let Some(f) = fault {
        match f {
            Fault::Throttle(ra) => {
                let r = Reply::json(
                    429,
                    &json!({"error": {"code": "TooManyRequests", "innerError": {"code": "429",
                        "date": Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(), "message": "Please retry after",
                        "request-id": "94fb3b52-452a-4535-a601-69e0a90e3aa2", "status": "429"},
                        "message": "Please retry again later."}}),
                );
                return match ra {
                    Some(v) => r.with_header("Retry-After", &v),
                    None => r,
                };
            }
            Fault::Unavailable(ra) => {
                let r = odata(
                    503,
                    "serviceNotAvailable",
                    "The service is temporarily unavailable.",
                );
                return match ra {
                    Some(v) => r.with_header("Retry-After", &v),
                    None => r,
                };
            }
            Fault::GatewayTimeout => return odata(504, "gatewayTimeout", "Gateway Timeout"),
            Fault::Drop => return Reply::Drop,
            Fault::Malformed => {
                return Reply::raw(
                    200,
                    "application/json",
                    b"{\"value\": [ {\"id\": \"17".to_vec(),
                );
            }
            Fault::ExpiredToken => {
                lock(store).tokens.clear();
                return expired();
            }
            Fault::Aadsts(status, error, code) => {
                return aadsts(status, &error, code, "Scripted failure.");
            }
            Fault::Status(status, body) => return Reply::json(status, &body),
            Fault::Truncated => {
                return match answer(store, route, req) {
                    Reply::Response {
                        status,
                        headers,
                        body,
                    } => {
                        let keep = body.len() / 2;
                        Reply::Truncated {
                            status,
                            headers,
                            body,
                            keep,
                        }
                    }
                    other => other,
                };
            }
            Fault::Delay(d) => {
                std::thread::sleep(d);
            }
        }
    }
    answer(store, route, req)
}

fn answer(store: &Mutex<Store>, route: Route, req: &Request) -> Reply {
    match route {
        Route::Token => token(store, req),
        Route::List | Route::Post | Route::Delta => {
            let auth = req.header("authorization").unwrap_or("");
            let Some(tok) = auth
                .strip_prefix("Bearer ")
                .or_else(|| auth.strip_prefix("bearer "))
            else {
                return odata(401, "InvalidAuthenticationToken", "Access token is empty.");
            };
            let delegated = {
                let mut st = lock(store);
                let now = Instant::now();
                st.tokens.retain(|_, i| i.expires > now);
                match st.tokens.get(tok) {
                    Some(i) => i.delegated,
                    None => return expired(),
                }
            };
            if lock(store).missing_scope {
                return odata(
                    403,
                    "Forbidden",
                    "Missing scope permissions on the request. API requires one of 'Chat.Read, Chat.ReadWrite'. Scopes on the request 'User.Read'",
                );
            }
            if route == Route::Delta {
                return delta(store, req);
            }
            let chat = req
                .path
                .trim_start_matches("/v1.0/chats/")
                .trim_end_matches("/messages")
                .to_string();
            if route == Route::List {
                list(store, &chat, req)
            } else {
                post(store, &chat, req, delegated)
            }
        }
    }
}

fn token(store: &Mutex<Store>, req: &Request) -> Reply {
    if req.method != "POST" {
        return aadsts(
            400,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests.",
        );
    }
    let tenant = req
        .path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("")
        .to_string();
    let f = |k: &str| req.form_value(k).unwrap_or_default();
    let grant = f("grant_type");
    let mut st = lock(store);
    if f("client_id") != CLIENT_ID {
        return aadsts(
            400,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{}' was not found in the directory '{tenant}'.",
                f("client_id")
            ),
        );
    }
    let scope = f("scope");
    let delegated = match grant.as_str() {
        "client_credentials" => {
            if !scope.split_whitespace().all(|s| s.ends_with("/.default")) || scope.is_empty() {
                return aadsts(
                    400,
                    "invalid_scope",
                    70011,
                    "The provided value for the input parameter 'scope' is not valid.",
                );
            }
            if f("client_secret") != st.client_secret {
                return aadsts(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
                );
            }
            false
        }
        "password" => {
            let t = tenant.to_ascii_lowercase();
            if t == "common" || t == "consumers" {
                return aadsts(
                    400,
                    "invalid_request",
                    9001023,
                    "The grant type isn't supported over the /common or /consumers endpoints.",
                );
            }
            let user = f("username");
            if st.users.get(&user) != Some(&f("password")) {
                return aadsts(
                    400,
                    "invalid_grant",
                    50126,
                    "Error validating credentials due to invalid username or password.",
                );
            }
            if st.mfa_users.contains(&user) {
                return aadsts(
                    400,
                    "invalid_grant",
                    50076,
                    "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '00000003-0000-0000-c000-000000000000'.",
                );
            }
            true
        }
        other => {
            return Reply::json(
                400,
                &json!({"error": "unsupported_grant_type",
                        "error_description": format!("AADSTS70003: The app requested an unsupported grant type '{other}'."),
                        "error_codes": [70003]}),
            );
        }
    };
    st.serial += 1;
    let tok = format!("fake-token-{:x}-{:08x}", st.serial, fastrand::u32(..));
    let ttl = st.token_ttl;
    st.tokens.insert(
        tok.clone(),
        Issued {
            expires: Instant::now() + Duration::from_secs(ttl),
            delegated,
        },
    );
    let mut body = json!({"token_type": "Bearer", "expires_in": ttl, "ext_expires_in": ttl, "access_token": tok});
    if delegated {
        body["scope"] = json!("Chat.Read ChatMessage.Send User.Read profile openid email");
    }
    Reply::json(200, &body)
}

/// The sort key of an item for a property: its timestamp (epoch if unreadable).
fn key_of(v: &Value, prop: &str) -> DateTime<Utc> {
    parse_ts(v.get(prop))
        .or_else(|| parse_ts(v.get("createdDateTime")))
        .unwrap_or(DateTime::UNIX_EPOCH)
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn list(store: &Mutex<Store>, chat: &str, req: &Request) -> Reply {
    let st = lock(store);
    let Some(items) = st.chats.get(chat) else {
        return odata(404, "NotFound", "Chat not found or not accessible.");
    };
    let top: usize = match req.param("$top") {
        None => 50,
        Some(t) => match t.parse::<usize>() {
            Ok(n) if (1..=50).contains(&n) => n,
            _ => {
                return odata(
                    400,
                    "BadRequest",
                    &format!("Invalid page size requested: '{t}'; the maximum is 50."),
                );
            }
        },
    };
    let orderby = req
        .param("$orderby")
        .unwrap_or("lastModifiedDateTime desc")
        .to_string();
    let prop = match orderby.split_whitespace().next().unwrap_or("") {
        p if p.eq_ignore_ascii_case("createdDateTime") => "createdDateTime",
        p if p.eq_ignore_ascii_case("lastModifiedDateTime") => "lastModifiedDateTime",
        _ => {
            return odata(400, "BadRequest", "Unsupported $orderby value.");
        }
    };
    if orderby.to_ascii_lowercase().ends_with(" asc") {
        return odata(400, "BadRequest", "Only descending order is supported.");
    }
    // $filter: "<prop> gt X [and <prop> lt Y]", applied only on the ordered property.
    let mut gt = None;
    let mut lt = None;
    if let Some(f) = req.param("$filter") {
        for clause in f.split(" and ") {
            let parts: Vec<&str> = clause.split_whitespace().collect();
            if parts.len() != 3 {
                return odata(
                    400,
                    "BadRequest",
                    &format!("Invalid filter clause: {clause}"),
                );
            }
            if !parts[0].eq_ignore_ascii_case(prop) {
                continue;
            }
            let Some(t) = DateTime::parse_from_rfc3339(parts[2])
                .ok()
                .map(|t| t.with_timezone(&Utc))
            else {
                return odata(
                    400,
                    "BadRequest",
                    &format!("Invalid date in filter: {}", parts[2]),
                );
            };
            match parts[1] {
                "gt" => gt = Some(t),
                "lt" if prop == "lastModifiedDateTime" || prop == "createdDateTime" => lt = Some(t),
                op => {
                    return odata(400, "BadRequest", &format!("Unsupported operator {op}"));
                }
            }
        }
    }
    let after = match req.param("$skiptoken") {
        None => None,
        Some(t) => match unhex(t).and_then(|s| {
            let (a, b) = s.split_once('|')?;
            Some((a.parse::<i64>().ok()?, b.to_string()))
        }) {
            Some(k) => Some(k),
            None => return odata(400, "BadRequest", "Invalid $skiptoken."),
        },
    };
    // Filter (dates, then the skiptoken position), then select the first `top + 1` in
    // descending (time, id) order without sorting everything.
    let mut rows: Vec<(i64, &str, &Value)> = items
        .iter()
        .filter_map(|v| {
            let t = key_of(v, prop);
            if gt.is_some_and(|g| t <= g) || lt.is_some_and(|l| t >= l) {
                return None;
            }
            let tn = t.timestamp_nanos_opt().unwrap_or(0);
            let id = v.get("id").and_then(Value::as_str).unwrap_or("");
            match &after {
                Some((ns, aid)) if !(tn < *ns || (tn == *ns && id < aid.as_str())) => None,
                _ => Some((tn, id, v)),
            }
        })
        .collect();
    let order =
        |a: &(i64, &str, &Value), b: &(i64, &str, &Value)| b.0.cmp(&a.0).then_with(|| b.1.cmp(a.1));
    if rows.len() > top + 1 {
        rows.select_nth_unstable_by(top, order);
        rows.truncate(top + 1);
    }
    rows.sort_by(order);
    let page: Vec<Value> = rows
        .iter()
        .take(top)
        .map(|(_, _, v)| (*v).clone())
        .collect();
    let mut body = json!({
        "@odata.context": format!("{}/v1.0/$metadata#chats('{}')/messages", st.base, enc(chat)),
        "@odata.count": page.len(),
    });
    if rows.len() > top
        && let Some((t, id, _)) = rows.get(top - 1)
    {
        let token = hex(&format!("{t}|{id}"));
        let mut link = format!(
            "{}/v1.0/chats/{}/messages?$top={top}&$orderby={}",
            st.base,
            chat,
            enc(&orderby)
        );
        if let Some(f) = req.param("$filter") {
            link.push_str(&format!("&$filter={}", enc(f)));
        }
        link.push_str(&format!("&$skiptoken={token}"));
        body["@odata.nextLink"] = json!(link);
    }
    body["value"] = Value::Array(page);
    Reply::json(200, &body)
}

/// `GET /v1.0/teams/{team}/channels/{channel}/messages/delta`: root messages oldest first.
/// A round starts with `$filter=lastModifiedDateTime gt X` (or nothing) and ends with an
/// `@odata.deltaLink` whose `$deltatoken` returns what changed after the round's snapshot.
fn delta(store: &Mutex<Store>, req: &Request) -> Reply {
    let rest = req.path.trim_start_matches("/v1.0/teams/");
    let Some((team, tail)) = rest.split_once("/channels/") else {
        return odata(400, "BadRequest", "Malformed channel path.");
    };
    let channel = tail.trim_end_matches("/messages/delta");
    let key = FakeGraph::channel_key(team, channel);
    let mut st = lock(store);
    let generation = st.delta_gen;
    let top: usize = match req.param("$top").map(str::parse::<usize>) {
        None => 50,
        Some(Ok(n)) if (1..=50).contains(&n) => n,
        Some(_) => return odata(400, "BadRequest", "Invalid page size; the maximum is 50."),
    };
    // (since, snapshot, cursor) in nanoseconds.
    let parse = |t: &str| -> Option<Vec<String>> {
        Some(unhex(t)?.split('|').map(str::to_string).collect())
    };
    let (since, snap, cursor): (i64, i64, Option<(i64, String)>) = if let Some(t) =
        req.param("$skiptoken")
    {
        match parse(t).as_deref() {
            Some([g, a, b, c, id]) if g.parse::<u64>().ok() == Some(generation) => {
                let n = |x: &str| x.parse::<i64>().unwrap_or(0);
                (n(a), n(b), Some((n(c), id.clone())))
            }
            _ => return odata(410, "resyncRequired", "The sync state is no longer valid."),
        }
    } else if let Some(t) = req.param("$deltatoken") {
        match parse(t).as_deref() {
            Some([g, a]) if g.parse::<u64>().ok() == Some(generation) => {
                (a.parse().unwrap_or(0), i64::MAX, None)
            }
            _ => {
                return odata(
                    410,
                    "resyncRequired",
                    "Resync required: the delta token expired.",
                );
            }
        }
    } else {
        let since = match req.param("$filter") {
            None => 0,
            Some(f) => {
                let parts: Vec<&str> = f.split_whitespace().collect();
                match parts.as_slice() {
                    [p, "gt", v] if p.eq_ignore_ascii_case("lastModifiedDateTime") => {
                        match DateTime::parse_from_rfc3339(v) {
                            Ok(t) => t.timestamp_nanos_opt().unwrap_or(0),
                            Err(_) => return odata(400, "BadRequest", "Invalid date in filter."),
                        }
                    }
                    _ => {
                        return odata(
                            400,
                            "BadRequest",
                            "Only lastModifiedDateTime gt is supported.",
                        );
                    }
                }
            }
        };
        (since, i64::MAX, None)
    };
    // The round's snapshot: everything up to now; later messages get later timestamps.
    let snap = if snap == i64::MAX {
        let ms = Utc::now().timestamp_millis().max(st.last_ms);
        st.last_ms = ms;
        ms * 1_000_000
    } else {
        snap
    };
    let Some(items) = st.chats.get(&key) else {
        return odata(404, "NotFound", "Channel not found or not accessible.");
    };
    let mut rows: Vec<(i64, &str, &Value)> = items
        .iter()
        .filter_map(|v| {
            let t = key_of(v, "lastModifiedDateTime")
                .timestamp_nanos_opt()
                .unwrap_or(0);
            let id = v.get("id").and_then(Value::as_str).unwrap_or("");
            let after_cursor = cursor
                .as_ref()
                .is_none_or(|(cn, cid)| t > *cn || (t == *cn && id > cid.as_str()));
            (t > since && t <= snap && after_cursor).then_some((t, id, v))
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    let page: Vec<Value> = rows
        .iter()
        .take(top)
        .map(|(_, _, v)| (*v).clone())
        .collect();
    let base = format!(
        "{}/v1.0/teams/{team}/channels/{channel}/messages/delta",
        st.base
    );
    let mut body = json!({
        "@odata.context": format!("{}/v1.0/$metadata#Collection(chatMessage)", st.base),
    });
    if rows.len() > top {
        let (t, id, _) = rows[top - 1];
        body["@odata.nextLink"] = json!(format!(
            "{base}?$skiptoken={}",
            hex(&format!("{generation}|{since}|{snap}|{t}|{id}"))
        ));
    } else {
        body["@odata.deltaLink"] = json!(format!(
            "{base}?$deltatoken={}",
            hex(&format!("{generation}|{snap}"))
        ));
    }
    body["value"] = Value::Array(page);
    Reply::json(200, &body)
}

fn post(store: &Mutex<Store>, chat: &str, req: &Request, delegated: bool) -> Reply {
    if !delegated {
        return odata(
            401,
            "Unauthorized",
            "Message POST is allowed in application-only context only for import purposes. Refer to https://docs.microsoft.com/microsoftteams/platform/graph-api/import-messages/import-external-messages-to-teams",
        );
    }
    let Some(body) = req.json() else {
        return odata(400, "BadRequest", "Invalid request body: not JSON.");
    };
    let Some(content) = body
        .get("body")
        .and_then(|b| b.get("content"))
        .and_then(Value::as_str)
    else {
        return odata(400, "BadRequest", "The message body is missing.");
    };
    let ctype = body
        .get("body")
        .and_then(|b| b.get("contentType"))
        .and_then(Value::as_str)
        .unwrap_or("text")
        .to_string();
    let mut st = lock(store);
    if !st.chats.contains_key(chat) {
        return odata(404, "NotFound", "Chat not found or not accessible.");
    }
    let t = FakeGraph::next_time(&mut st, None);
    let id = t.timestamp_millis().to_string();
    let mut msg = user_message(chat, &id, t, AGENT_USER_ID, "Agent", content);
    msg["body"]["contentType"] = json!(ctype);
    st.chats
        .entry(chat.to_string())
        .or_default()
        .push(msg.clone());
    st.posted
        .entry(chat.to_string())
        .or_default()
        .push(msg.clone());
    msg["@odata.context"] = json!(format!(
        "{}/v1.0/$metadata#chats('{}')/messages/$entity",
        st.base,
        enc(chat)
    ));
    Reply::json(201, &msg)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::Duration as ChronoDuration;

    #[test]
    fn hex_roundtrip() {
        assert_eq!(unhex(&hex("12|a:b")).as_deref(), Some("12|a:b"));
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn shared_timestamps_keep_unique_ids() {
        let g = FakeGraph::start();
        let t = Utc::now() - ChronoDuration::seconds(5);
        let a = g.add_message_at("c", "u", "U", "a", Some(t));
        let b = g.add_message_at("c", "u", "U", "b", Some(t));
        assert_ne!(a, b);
        let m = g.messages("c");
        assert_eq!(m[0]["lastModifiedDateTime"], m[1]["lastModifiedDateTime"]);
    }
}
