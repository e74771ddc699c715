//! Microsoft Graph client (identity platform tokens, Teams chat messages), used by poll-teams,
//! publish-report's Teams destination and the runtime's Teams alerts alike. Its settings are
//! the suite config's top-level `graph` section ([`GraphConfig`]), typed once here.
//!
//! What it does:
//! - **Tokens**: OAuth2 v2 token endpoint, `client_credentials` (app-only) or `password`
//!   (ROPC, delegated: needed to post as the agent's account). The token is cached in
//!   [`GraphConfig::token_cache`] (default `state/graph.token.json`, mode 0600, written
//!   atomically) and refreshed 5 minutes before it expires (half its lifetime for tokens shorter
//!   than 10 minutes). Identity-platform errors are classified by `error_codes` (never by the
//!   description) into messages an operator can act on, with exit 78.
//! - **401 `InvalidAuthenticationToken`**: the token is dropped, a fresh one is fetched and the
//!   request repeated once; a second 401 is fatal (exit 78).
//! - **Chat messages**: [`Graph::list_messages`] pages through
//!   `GET /chats/{id}/messages` following `@odata.nextLink` verbatim (only to the configured
//!   Graph host, so the token never leaves for another host); [`Graph::recent_messages`] reads
//!   the N newest; [`Graph::post_message`] posts HTML and returns the created message id
//!   (retried only after a 429); [`Graph::channel_messages_delta`] reads a channel's root
//!   messages through `messages/delta` and returns the delta link to store.
//!
//! Retries of 429/5xx/timeouts are those of [`base::http::Http`] (Retry-After honoured).
//! Malformed items in a page are returned as [`Page::malformed`], never silently dropped.
//!
//! Use from a job:
//! ```ignore
//! let mut graph = ctx.graph()?; // the runtime builds it from the `graph` section

//! let recent = graph.recent_messages(chat_id, 20)?;
//! let posted = graph.post_message(chat_id, "<p>hello</p>")?;
//! ```

use anyhow::{Context, Result, anyhow};
use base::exit::config_error;
use base::http::{Http, Method, Response, Retry};
use base::secret::{Secret, resolve_path, resolve_secret};
use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Characters left as they are in a path segment or query value (RFC 3986 unreserved).
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How the job signs in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// App-only (client id + secret). Reads chats; cannot post messages.
    #[default]
    ClientCredentials,
    /// Resource-owner password (delegated, as `username`). Needed to post; incompatible with MFA.
    Password,
}

impl Grant {
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::ClientCredentials => "client_credentials",
            Grant::Password => "password",
        }
    }
}

/// The `graph` object of a job's config section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GraphConfig {
    /// Base URL of the identity platform (the token endpoint is `<token_url>/<tenant>/oauth2/v2.0/token`).
    pub token_url: String,
    /// Base URL of Graph, version included.
    pub graph_url: String,
    /// Tenant id (GUID) or domain. `common`/`consumers` do not work with `password`.
    pub tenant: String,
    /// Application (client) id of the app registration.
    pub client_id: String,
    /// `client_credentials` or `password`.
    pub grant: Grant,
    /// The account signed in with `password` (the agent's account).
    pub username: Option<String>,
    pub client_secret_env: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    /// Scope(s), space separated. Default `https://graph.microsoft.com/.default`.
    pub scope: Option<String>,
    /// Token cache file (relative to the root).
    pub token_cache: PathBuf,
}

impl Default for GraphConfig {
    fn default() -> Self {
        GraphConfig {
            token_url: "https://login.microsoftonline.com".into(),
            graph_url: "https://graph.microsoft.com/v1.0".into(),
            tenant: String::new(),
            client_id: String::new(),
            grant: Grant::ClientCredentials,
            username: None,
            client_secret_env: None,
            client_secret_file: None,
            password_env: None,
            password_file: None,
            scope: None,
            token_cache: PathBuf::from("state/graph.token.json"),
        }
    }
}

impl GraphConfig {
    /// The scope requested.
    pub fn scope(&self) -> String {
        self.scope
            .clone()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "https://graph.microsoft.com/.default".into())
    }

    /// Checks serde cannot express; `key` is the config path of this object (`graph`).
    pub fn validate(&self, key: &str) -> Result<()> {
        for (name, url) in [
            ("token_url", &self.token_url),
            ("graph_url", &self.graph_url),
        ] {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(config_error(format!(
                    "`{key}.{name}`: `{url}` is not an http(s) URL"
                )));
            }
        }
        if self.tenant.trim().is_empty() {
            return Err(config_error(format!(
                "`{key}.tenant` is empty: set the tenant id (GUID) or domain of the app registration"
            )));
        }
        if self.client_id.trim().is_empty() {
            return Err(config_error(format!(
                "`{key}.client_id` is empty: set the application (client) id of the app registration"
            )));
        }
        match self.grant {
            Grant::ClientCredentials => {
                if self.client_secret_env.is_none() && self.client_secret_file.is_none() {
                    return Err(config_error(format!(
                        "`{key}.grant` is client_credentials but neither `{key}.client_secret_env` nor `{key}.client_secret_file` is set"
                    )));
                }
            }
            Grant::Password => {
                if self.username.as_deref().is_none_or(|u| u.trim().is_empty()) {
                    return Err(config_error(format!(
                        "`{key}.grant` is password but `{key}.username` is not set"
                    )));
                }
                if self.password_env.is_none() && self.password_file.is_none() {
                    return Err(config_error(format!(
                        "`{key}.grant` is password but neither `{key}.password_env` nor `{key}.password_file` is set"
                    )));
                }
                let t = self.tenant.trim().to_ascii_lowercase();
                if t == "common" || t == "consumers" {
                    return Err(config_error(format!(
                        "`{key}.tenant` is `{t}`, which the password grant does not accept: use the tenant id or domain"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Request and page counters of one client (copy them into the job's metrics).
#[derive(Debug, Clone, Default)]
pub struct GraphStats {
    /// HTTP requests to Graph, retries included.
    pub requests: u64,
    /// 429 answers seen.
    pub throttled: u64,
    /// Message pages read.
    pub pages: u64,
    /// Tokens fetched from the identity platform.
    pub token_requests: u64,
    /// Duration of the last Graph request, ms.
    pub last_latency_ms: u64,
}

/// A Graph error answer that is not a configuration problem (404, 429 after retries, 5xx…).
#[derive(Debug, Clone)]
pub struct GraphError {
    pub status: u16,
    /// `error.code` of the OData error envelope (`NotFound`, `TooManyRequests`…), if any.
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Graph answered HTTP {}", self.status)?;
        if !self.code.is_empty() {
            write!(f, " {}", self.code)?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}
impl std::error::Error for GraphError {}

/// Who sent a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Sender {
    /// A user (`from.user`), matched by AAD object id.
    User {
        id: String,
        name: Option<String>,
        identity_type: Option<String>,
    },
    /// A bot or app (`from.application`).
    Application { id: String, name: Option<String> },
    /// No sender (system events, some deleted messages).
    None,
}

/// A mention in a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mention {
    pub id: i64,
    pub text: String,
    pub user_id: Option<String>,
}

/// Attachment metadata (content itself is not fetched).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    pub id: Option<String>,
    pub content_type: Option<String>,
    pub name: Option<String>,
    pub content_url: Option<String>,
}

/// One chat message, read leniently from Graph's `chatMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    pub id: String,
    /// `message`, `systemEventMessage`, `chatEvent`, `typing`, `unknownFutureValue` or anything new.
    pub message_type: String,
    pub created: Option<DateTime<Utc>>,
    pub last_modified: Option<DateTime<Utc>>,
    pub last_edited: Option<DateTime<Utc>>,
    pub deleted: Option<DateTime<Utc>>,
    pub from: Sender,
    /// `html` or `text`.
    pub content_type: String,
    pub content: String,
    pub mentions: Vec<Mention>,
    pub attachments: Vec<Attachment>,
}

impl ChatMessage {
    /// Read one `chatMessage` JSON object. Optional fields may be null or absent; `id` must be a
    /// non-empty string. The error says what is wrong.
    pub fn from_value(v: &Value) -> std::result::Result<ChatMessage, String> {
        let obj = v.as_object().ok_or("item is not a JSON object")?;
        let id = match obj.get("id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err("item has no string `id`".into()),
        };
        let time = |k: &str| -> std::result::Result<Option<DateTime<Utc>>, String> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(Value::String(s)) => parse_time(s)
                    .map(Some)
                    .ok_or_else(|| format!("message {id:?}: `{k}` is not a timestamp")),
                Some(_) => Err(format!("message {id:?}: `{k}` is not a string")),
            }
        };
        let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        let from = match obj.get("from") {
            Some(Value::Object(f)) => {
                if let Some(Value::Object(u)) = f.get("user") {
                    match s(u.get("id")) {
                        Some(uid) if !uid.is_empty() => Sender::User {
                            id: uid,
                            name: s(u.get("displayName")),
                            identity_type: s(u.get("userIdentityType")),
                        },
                        _ => Sender::None,
                    }
                } else if let Some(Value::Object(a)) = f.get("application") {
                    Sender::Application {
                        id: s(a.get("id")).unwrap_or_default(),
                        name: s(a.get("displayName")),
                    }
                } else {
                    Sender::None
                }
            }
            _ => Sender::None,
        };
        let (content_type, content) = match obj.get("body") {
            Some(Value::Object(b)) => (
                s(b.get("contentType")).unwrap_or_else(|| "text".into()),
                s(b.get("content")).unwrap_or_default(),
            ),
            _ => ("text".into(), String::new()),
        };
        let arr = |k: &str| {
            obj.get(k)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let mentions = arr("mentions")
            .iter()
            .map(|m| Mention {
                id: m.get("id").and_then(Value::as_i64).unwrap_or(-1),
                text: s(m.get("mentionText")).unwrap_or_default(),
                user_id: m
                    .get("mentioned")
                    .and_then(|x| x.get("user"))
                    .and_then(|u| u.get("id"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
            })
            .collect();
        let attachments = arr("attachments")
            .iter()
            .map(|a| Attachment {
                id: s(a.get("id")),
                content_type: s(a.get("contentType")),
                name: s(a.get("name")),
                content_url: s(a.get("contentUrl")),
            })
            .collect();
        Ok(ChatMessage {
            message_type: s(obj.get("messageType")).unwrap_or_else(|| "message".into()),
            created: time("createdDateTime")?,
            last_modified: time("lastModifiedDateTime")?,
            last_edited: time("lastEditedDateTime")?,
            deleted: time("deletedDateTime")?,
            from,
            content_type,
            content,
            mentions,
            attachments,
            id,
        })
    }
}

/// Parse a Graph timestamp leniently (0–9 fractional digits, `Z` or an offset).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Format a timestamp the way Graph filters expect (`2021-03-28T20:48:29.832Z`).
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// One page of a message listing.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub messages: Vec<ChatMessage>,
    /// Items that could not be read, with the reason (count and log them).
    pub malformed: Vec<String>,
}

/// Which messages to list.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// Only messages whose `lastModifiedDateTime` is after this.
    pub modified_after: Option<DateTime<Utc>>,
    /// Page size (Graph's maximum is 50).
    pub top: u32,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            modified_after: None,
            top: 50,
        }
    }
}

/// Where a channel delta read starts.
#[derive(Debug, Clone)]
pub struct DeltaQuery {
    /// The `@odata.deltaLink` stored after the previous read, if any.
    pub delta_link: Option<String>,
    /// Without a delta link: only messages modified after this.
    pub modified_after: Option<DateTime<Utc>>,
    /// Page size (Graph's maximum is 50).
    pub top: u32,
}

/// Whether to go on paging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// A message created by [`Graph::post_message`].
#[derive(Debug, Clone)]
pub struct Posted {
    pub id: String,
    pub created: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedToken {
    /// Which identity the token is for (grant, client, tenant, user, scope, endpoint).
    #[serde(rename = "for")]
    for_: String,
    access_token: String,
    expires_at: DateTime<Utc>,
    refresh_at: DateTime<Utc>,
}

/// The Graph client of one run.
pub struct Graph {
    http: Http,
    cfg: GraphConfig,
    key: String,
    client_secret: Option<Secret>,
    password: Option<Secret>,
    cache_path: PathBuf,
    write_cache: bool,
    token: Option<CachedToken>,
    pub stats: GraphStats,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("graph_url", &self.cfg.graph_url)
            .field("grant", &self.cfg.grant)
            .finish_non_exhaustive()
    }
}

impl Graph {
    /// A client from its parts (tests, tools).
    pub fn new(
        http: Http,
        cfg: GraphConfig,
        root: &Path,
        key: &str,
        write_cache: bool,
    ) -> Result<Graph> {
        cfg.validate(key)?;
        let client_secret = resolve_secret(
            &format!("{key}.client_secret"),
            cfg.client_secret_env.as_deref(),
            cfg.client_secret_file.as_deref(),
            root,
        )?;
        let password = match cfg.grant {
            Grant::Password => resolve_secret(
                &format!("{key}.password"),
                cfg.password_env.as_deref(),
                cfg.password_file.as_deref(),
                root,
            )?,
            Grant::ClientCredentials => None,
        };
        let cache_path = resolve_path(root, &cfg.token_cache);
        Ok(Graph {
            http,
            key: key.to_string(),
            client_secret,
            password,
            cache_path,
            write_cache,
            token: None,
            stats: GraphStats::default(),
            cfg,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &GraphConfig {
        &self.cfg
    }

    fn identity(&self) -> String {
        format!(
            "{} {} {}@{} {} {}",
            self.cfg.grant.as_str(),
            self.cfg.token_url.trim_end_matches('/'),
            self.cfg.client_id,
            self.cfg.tenant,
            self.cfg.username.as_deref().unwrap_or("-"),
            self.cfg.scope()
        )
    }

    /// A valid access token: from memory, the cache file, or the token endpoint.
    pub fn access_token(&mut self) -> Result<String> {
        let now = Utc::now();
        if let Some(t) = &self.token
            && t.refresh_at > now
        {
            return Ok(t.access_token.clone());
        }
        if self.token.is_none()
            && let Some(t) = self.read_cache()
            && t.refresh_at > now
        {
            base::redact::register(&t.access_token);
            let tok = t.access_token.clone();
            self.token = Some(t);
            return Ok(tok);
        }
        self.fetch_token()
    }

    /// Forget the current token (memory and cache file), e.g. after a 401.
    pub fn invalidate_token(&mut self) {
        self.token = None;
        if self.write_cache {
            let _ = std::fs::remove_file(&self.cache_path);
        }
    }

    fn read_cache(&self) -> Option<CachedToken> {
        let bytes = std::fs::read(&self.cache_path).ok()?;
        match serde_json::from_slice::<CachedToken>(&bytes) {
            Ok(t) if t.for_ == self.identity() => Some(t),
            Ok(_) => {
                log::debug!("token cache is for another identity; fetching a new token");
                None
            }
            Err(e) => {
                log::warn!(
                    "token cache {} is unreadable ({e}); fetching a new token",
                    self.cache_path.display()
                );
                None
            }
        }
    }

    fn fetch_token(&mut self) -> Result<String> {
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.cfg.token_url.trim_end_matches('/'),
            utf8_percent_encode(&self.cfg.tenant, ENCODE)
        );
        let mut form: Vec<(&str, String)> = vec![
            ("client_id", self.cfg.client_id.clone()),
            ("scope", self.cfg.scope()),
            ("grant_type", self.cfg.grant.as_str().to_string()),
        ];
        if let Some(s) = &self.client_secret {
            form.push(("client_secret", s.expose().to_string()));
        }
        if self.cfg.grant == Grant::Password {
            form.push(("username", self.cfg.username.clone().unwrap_or_default()));
            if let Some(p) = &self.password {
                form.push(("password", p.expose().to_string()));
            }
        }
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, ENCODE)))
            .collect::<Vec<_>>()
            .join("&");
        self.stats.token_requests += 1;
        let resp = self
            .http
            .send(Method::POST, &url, Retry::Idempotent, |r| {
                r.header("Content-Type", "application/x-www-form-urlencoded")
                    .header("Accept", "application/json")
                    .body(body.clone())
            })
            .context("cannot reach the identity platform token endpoint")?;
        if !resp.is_success() {
            return Err(self.token_error(&resp));
        }
        let v: Value = resp
            .json()
            .context("the token endpoint answered with malformed JSON")?;
        let access = v
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| anyhow!("the token endpoint answered without an access_token"))?
            .to_string();
        base::redact::register(&access);
        let ttype = v
            .get("token_type")
            .and_then(Value::as_str)
            .unwrap_or("Bearer");
        if !ttype.eq_ignore_ascii_case("bearer") {
            return Err(anyhow!(
                "the token endpoint issued a `{ttype}` token; only Bearer is supported"
            ));
        }
        let expires_in = match v.get("expires_in") {
            Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
            Some(Value::String(s)) => s.trim().parse::<f64>().unwrap_or(0.0),
            _ => 3600.0,
        }
        .max(0.0) as i64;
        let now = Utc::now();
        let margin = if expires_in >= 600 {
            300
        } else {
            expires_in / 2
        };
        let tok = CachedToken {
            for_: self.identity(),
            access_token: access.clone(),
            expires_at: now + ChronoDuration::seconds(expires_in),
            refresh_at: now + ChronoDuration::seconds(expires_in - margin),
        };
        if self.write_cache {
            if let Some(dir) = self.cache_path.parent() {
                base::fsutil::ensure_private_dir(dir)?;
            }
            let mut bytes = serde_json::to_vec_pretty(&tok)?;
            bytes.push(b'\n');
            base::fsutil::write_atomic(&self.cache_path, &bytes)
                .context("cannot write the token cache")?;
        }
        log::debug!(
            "new Graph token ({} grant), valid {expires_in} s",
            self.cfg.grant.as_str()
        );
        self.token = Some(tok);
        Ok(access)
    }

    fn token_error(&self, resp: &Response) -> anyhow::Error {
        let v: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        let error = v.get("error").and_then(Value::as_str).unwrap_or("");
        let codes: Vec<i64> = v
            .get("error_codes")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_i64).collect())
            .unwrap_or_default();
        classify_token_error(resp.status, error, &codes, &self.cfg, &self.key)
    }

    /// Send a Graph request with the token; on 401 `InvalidAuthenticationToken` refresh the
    /// token once and repeat. Returns the final response (any status).
    fn call(
        &mut self,
        method: Method,
        url: &str,
        retry: Retry,
        json: Option<&Value>,
    ) -> Result<Response> {
        let mut refreshed = false;
        loop {
            let token = self.access_token()?;
            let resp = self.http.send(method.clone(), url, retry, |r| {
                let r = r
                    .header("Authorization", format!("Bearer {token}"))
                    .header("Accept", "application/json")
                    .header("Prefer", "include-unknown-enum-members");
                match json {
                    Some(b) => r
                        .header("Content-Type", "application/json")
                        .body(serde_json::to_vec(b).unwrap_or_default()),
                    None => r,
                }
            });
            let resp = match resp {
                Ok(r) => r,
                Err(e) => {
                    self.stats.requests += 1;
                    return Err(e);
                }
            };
            self.stats.requests += resp.attempts as u64;
            self.stats.throttled += resp.throttled as u64;
            self.stats.last_latency_ms = resp.duration.as_millis() as u64;
            if resp.status == 401 {
                let (code, message) = odata_error(&resp);
                if code.eq_ignore_ascii_case("InvalidAuthenticationToken") {
                    if !refreshed {
                        log::info!("Graph rejected the token ({message}); fetching a new one");
                        self.invalidate_token();
                        refreshed = true;
                        continue;
                    }
                    return Err(config_error(format!(
                        "Graph rejected a freshly issued token ({message}): check `{}.tenant`, `{}.scope` and that the app registration is meant for Microsoft Graph",
                        self.key, self.key
                    )));
                }
            }
            return Ok(resp);
        }
    }

    /// Map a non-success Graph answer to an error: configuration problems exit 78, the rest
    /// are [`GraphError`]s (exit 1).
    fn answer_error(&self, resp: &Response, what: &str) -> anyhow::Error {
        let (code, message) = odata_error(resp);
        if resp.status == 403 && message.contains("Missing scope permissions") {
            return config_error(format!(
                "Graph refused to {what}: {message}; add the permission to the app registration, grant admin consent, and check `{}.scope`",
                self.key
            ));
        }
        if resp.status == 401 && message.contains("application-only context") {
            return config_error(format!(
                "Graph refused to {what}: posting messages needs a delegated token; set `{}.grant` to \"password\" with the agent's account",
                self.key
            ));
        }
        if resp.status == 401 || resp.status == 403 {
            return config_error(format!(
                "Graph refused to {what}: HTTP {} {code}: {message}; check the app's permissions (Chat.Read / ChatMessage.Send) and admin consent",
                resp.status
            ));
        }
        anyhow::Error::new(GraphError {
            status: resp.status,
            code,
            message,
        })
        .context(format!("cannot {what}"))
    }

    fn messages_url(&self, chat_id: &str) -> String {
        format!(
            "{}/chats/{}/messages",
            self.cfg.graph_url.trim_end_matches('/'),
            utf8_percent_encode(chat_id, ENCODE)
        )
    }

    /// Whether `url` points at the configured Graph host (a nextLink elsewhere is refused).
    fn same_origin(&self, url: &str) -> bool {
        fn origin(u: &str) -> &str {
            let rest = u.split_once("://").map(|(_, r)| r).unwrap_or(u);
            let end = rest.find('/').unwrap_or(rest.len());
            &u[..u.len() - rest.len() + end]
        }
        origin(url).eq_ignore_ascii_case(origin(&self.cfg.graph_url))
    }

    /// One page: its messages, `@odata.nextLink` and `@odata.deltaLink`.
    fn get_page(
        &mut self,
        url: &str,
        what: &str,
    ) -> Result<(Page, Option<String>, Option<String>)> {
        // A 200 with a body that is not JSON is retried twice (a proxy or a cut connection).
        let mut attempt = 0;
        loop {
            attempt += 1;
            let resp = self.call(Method::GET, url, Retry::Idempotent, None)?;
            if !resp.is_success() {
                return Err(self.answer_error(&resp, what));
            }
            let v: Value = match serde_json::from_slice(&resp.body) {
                Ok(v) => v,
                Err(e) if attempt < 3 => {
                    log::warn!("{what}: malformed JSON from Graph ({e}); retrying");
                    continue;
                }
                Err(e) => {
                    return Err(anyhow!(
                        "cannot {what}: Graph answered malformed JSON three times ({} bytes): {e}",
                        resp.body.len()
                    ));
                }
            };
            let Some(items) = v.get("value").and_then(Value::as_array) else {
                return Err(anyhow!(
                    "cannot {what}: Graph's answer has no `value` array"
                ));
            };
            let mut page = Page::default();
            for item in items {
                match ChatMessage::from_value(item) {
                    Ok(m) => page.messages.push(m),
                    Err(e) => page.malformed.push(e),
                }
            }
            let link = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
            let (next, delta) = (link("@odata.nextLink"), link("@odata.deltaLink"));
            for (k, l) in [("nextLink", &next), ("deltaLink", &delta)] {
                if let Some(n) = l
                    && !self.same_origin(n)
                {
                    return Err(anyhow!(
                        "cannot {what}: Graph's @odata.{k} points at another host ({}); refusing to send the token there",
                        n.split('?').next().unwrap_or(n)
                    ));
                }
            }
            self.stats.pages += 1;
            return Ok((page, next, delta));
        }
    }

    /// List a chat's messages newest first (`lastModifiedDateTime desc`), calling `on_page` for
    /// each page until Graph has no more or `on_page` returns [`Flow::Stop`].
    pub fn list_messages(
        &mut self,
        chat_id: &str,
        query: &ListQuery,
        mut on_page: impl FnMut(Page) -> Result<Flow>,
    ) -> Result<()> {
        let mut url = format!(
            "{}?$top={}&$orderby={}",
            self.messages_url(chat_id),
            query.top.clamp(1, 50),
            utf8_percent_encode("lastModifiedDateTime desc", ENCODE)
        );
        if let Some(t) = query.modified_after {
            url.push_str("&$filter=");
            url.push_str(
                &utf8_percent_encode(
                    &format!("lastModifiedDateTime gt {}", format_time(t)),
                    ENCODE,
                )
                .to_string(),
            );
        }
        let what = "list the messages of a chat".to_string();
        loop {
            let (page, next, _) = self.get_page(&url, &what)?;
            if on_page(page)? == Flow::Stop {
                return Ok(());
            }
            match next {
                Some(n) => url = n,
                None => return Ok(()),
            }
        }
    }

    /// Read a channel's root messages through `messages/delta`: from `query.delta_link` if
    /// given (changes since that link was issued), else from scratch with
    /// `$filter=lastModifiedDateTime gt <modified_after>`. Pages are passed to `on_page`; returns
    /// the new `@odata.deltaLink` to store once every page has been handled (None if `on_page`
    /// stopped early). An expired delta link fails with a [`GraphError`] whose code is
    /// `resyncRequired`, `syncStateNotFound` or status 410: start again without it.
    pub fn channel_messages_delta(
        &mut self,
        team_id: &str,
        channel_id: &str,
        query: &DeltaQuery,
        mut on_page: impl FnMut(Page) -> Result<Flow>,
    ) -> Result<Option<String>> {
        let mut url = match &query.delta_link {
            Some(l) => {
                if !self.same_origin(l) {
                    return Err(anyhow!(
                        "the stored delta link does not point at the configured Graph host; refusing to send the token there"
                    ));
                }
                l.clone()
            }
            None => {
                let mut u = format!(
                    "{}/teams/{}/channels/{}/messages/delta?$top={}",
                    self.cfg.graph_url.trim_end_matches('/'),
                    utf8_percent_encode(team_id, ENCODE),
                    utf8_percent_encode(channel_id, ENCODE),
                    query.top.clamp(1, 50)
                );
                if let Some(t) = query.modified_after {
                    u.push_str("&$filter=");
                    u.push_str(
                        &utf8_percent_encode(
                            &format!("lastModifiedDateTime gt {}", format_time(t)),
                            ENCODE,
                        )
                        .to_string(),
                    );
                }
                u
            }
        };
        loop {
            let (page, next, delta) = self.get_page(&url, "read the messages of a channel")?;
            if on_page(page)? == Flow::Stop {
                return Ok(None);
            }
            match (next, delta) {
                (Some(n), _) => url = n,
                (None, Some(d)) => return Ok(Some(d)),
                (None, None) => {
                    return Err(anyhow!(
                        "cannot read the messages of a channel: Graph's last delta page has no @odata.deltaLink"
                    ));
                }
            }
        }
    }

    /// The `n` most recent messages of a chat (by creation time, newest first).
    pub fn recent_messages(&mut self, chat_id: &str, n: usize) -> Result<Vec<ChatMessage>> {
        let mut url = format!(
            "{}?$top={}&$orderby={}",
            self.messages_url(chat_id),
            n.clamp(1, 50),
            utf8_percent_encode("createdDateTime desc", ENCODE)
        );
        let mut out = Vec::new();
        loop {
            let (page, next, _) = self.get_page(&url, "read the recent messages of a chat")?;
            for e in &page.malformed {
                log::warn!("skipping a malformed message: {e}");
            }
            out.extend(page.messages);
            match next {
                Some(u) if out.len() < n => url = u,
                _ => break,
            }
        }
        out.truncate(n);
        Ok(out)
    }

    /// Post an HTML message to a chat; returns the created message. Repeated only after a 429
    /// (not processed by Graph), never once it may have reached Graph (a transport error after
    /// sending says so through [`base::http::maybe_sent`]).
    pub fn post_message(&mut self, chat_id: &str, html: &str) -> Result<Posted> {
        let url = self.messages_url(chat_id);
        let body = serde_json::json!({"body": {"contentType": "html", "content": html}});
        // A 429 means Graph did not process the message: wait as told and try again (up to
        // three times). Anything else is never repeated.
        let mut throttled = 0;
        let resp = loop {
            let resp = self.call(Method::POST, &url, Retry::Never, Some(&body))?;
            if resp.status == 429 && throttled < 3 {
                throttled += 1;
                let cap = self.http.config().retry_after_max_secs.clamp(0.0, 30.0);
                let wait = resp
                    .header("retry-after")
                    .and_then(base::http::parse_retry_after)
                    .unwrap_or(std::time::Duration::from_secs(throttled))
                    .min(std::time::Duration::from_secs_f64(cap));
                log::debug!(
                    "POST throttled (429); retrying in {:.1} s",
                    wait.as_secs_f64()
                );
                std::thread::sleep(wait);
                continue;
            }
            break resp;
        };
        if !resp.is_success() {
            return Err(self.answer_error(&resp, "post a message to a chat"));
        }
        let v: Value = resp
            .json()
            .context("Graph created the message but its answer is not JSON")?;
        let id = match v.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(anyhow!("Graph created the message but returned no id")),
        };
        let created = v
            .get("createdDateTime")
            .and_then(Value::as_str)
            .and_then(parse_time);
        Ok(Posted { id, created })
    }
}

fn odata_error(resp: &Response) -> (String, String) {
    let v: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    let e = v.get("error");
    let code = e
        .and_then(|e| e.get("code"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let message = e
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(300)
        .collect();
    (code, message)
}

/// Turn an identity-platform error into an operator-actionable error. Classified by
/// `error_codes` (AADSTS numbers), never by the description text.
pub fn classify_token_error(
    status: u16,
    error: &str,
    codes: &[i64],
    cfg: &GraphConfig,
    key: &str,
) -> anyhow::Error {
    let has = |c: &[i64]| codes.iter().any(|x| c.contains(x));
    let user = cfg.username.as_deref().unwrap_or("the account");
    let secret_where = |k: &str| {
        let env = if k == "password" {
            cfg.password_env.as_deref()
        } else {
            cfg.client_secret_env.as_deref()
        };
        match env {
            Some(e) => format!("the environment variable {e} (`{key}.{k}_env`)"),
            None => format!("the file of `{key}.{k}_file`"),
        }
    };
    let msg = if has(&[50126]) {
        format!(
            "sign-in failed: wrong user name or password for {user} (AADSTS50126); fix the password in {}",
            secret_where("password")
        )
    } else if has(&[50076, 50079, 50072, 50074, 50158]) {
        let c = codes.first().copied().unwrap_or(50076);
        format!(
            "sign-in failed: {user} must use multi-factor authentication (AADSTS{c}), so the password grant cannot work; exclude this account from MFA for this app with a Conditional Access policy, or use `{key}.grant` = \"client_credentials\" (read-only)"
        )
    } else if has(&[7000215, 7000222]) {
        let c = if has(&[7000222]) { 7000222 } else { 7000215 };
        format!(
            "sign-in failed: the client secret is invalid or expired (AADSTS{c}); create a new secret under Entra ID > App registrations > {} > Certificates & secrets and put its value (not its id) in {}",
            cfg.client_id,
            secret_where("client_secret")
        )
    } else if has(&[7000218]) {
        format!(
            "sign-in failed: the app is a confidential client and needs a client secret (AADSTS7000218); set `{key}.client_secret_env` or `{key}.client_secret_file`"
        )
    } else if has(&[700025]) {
        format!(
            "sign-in failed: the app is a public client and must not send a secret (AADSTS700025); remove `{key}.client_secret_env`/`_file`"
        )
    } else if has(&[700016]) {
        format!(
            "sign-in failed: application {} was not found in tenant {} (AADSTS700016); check `{key}.client_id` and `{key}.tenant`, or have an administrator add the app to the tenant",
            cfg.client_id, cfg.tenant
        )
    } else if has(&[65001]) {
        format!(
            "sign-in failed: nobody consented to the scopes `{}` for this app (AADSTS65001); an administrator must grant admin consent under Entra ID > App registrations > API permissions",
            cfg.scope()
        )
    } else if has(&[70011]) {
        format!(
            "sign-in failed: the scope `{}` is not valid (AADSTS70011); fix `{key}.scope` (client_credentials needs `https://graph.microsoft.com/.default`)",
            cfg.scope()
        )
    } else if has(&[90002, 9001023, 900144]) {
        let c = codes.first().copied().unwrap_or(90002);
        format!(
            "sign-in failed: tenant `{}` is unknown or does not allow this grant (AADSTS{c}); check `{key}.tenant` and `{key}.grant`",
            cfg.tenant
        )
    } else if has(&[53003, 50053, 50055, 50057, 50034]) {
        let c = codes.first().copied().unwrap_or(0);
        format!(
            "sign-in failed: {user} is blocked, locked, disabled, has an expired password or is not in the tenant (AADSTS{c}); an administrator must fix the account"
        )
    } else {
        let detail = match codes.first() {
            Some(c) => format!(" (AADSTS{c})"),
            None => String::new(),
        };
        let transient = status == 429 || status >= 500 || error == "temporarily_unavailable";
        let m = format!("the token endpoint answered HTTP {status} {error}{detail}");
        return if transient {
            anyhow!("{m}; will retry on the next run")
        } else {
            anyhow!("{m}")
        };
    };
    config_error(msg)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base::exit::{Exit, code_of};

    fn cfg() -> GraphConfig {
        GraphConfig {
            tenant: "contoso.onmicrosoft.com".into(),
            client_id: "app-1".into(),
            client_secret_env: Some("X_SECRET".into()),
            ..Default::default()
        }
    }

    #[test]
    fn aadsts_codes_become_config_errors_with_advice() {
        let c = cfg();
        for (code, needle) in [
            (50126, "wrong user name or password"),
            (50076, "multi-factor"),
            (50079, "multi-factor"),
            (7000215, "client secret is invalid or expired"),
            (7000222, "client secret is invalid or expired"),
            (700016, "not found in tenant"),
            (65001, "consent"),
        ] {
            let e = classify_token_error(400, "invalid_grant", &[code], &c, "graph");
            assert_eq!(code_of(&e), Exit::Config, "{code}");
            let m = e.to_string();
            assert!(m.contains(needle), "{code}: {m}");
            assert!(m.contains(&code.to_string()), "{code}: {m}");
        }
        let e = classify_token_error(503, "temporarily_unavailable", &[90055], &c, "k");
        assert_eq!(code_of(&e), Exit::Failed);
    }

    #[test]
    fn chat_message_reads_nulls_and_rejects_garbage() {
        let v = serde_json::json!({"id":"1616964509832","messageType":"message",
            "createdDateTime":"2021-03-28T20:48:29.8321234Z","lastModifiedDateTime":null,
            "from":{"user":{"id":"u1","displayName":null}},"body":null,"mentions":null});
        let m = ChatMessage::from_value(&v).unwrap();
        assert_eq!(m.id, "1616964509832");
        assert!(m.created.is_some() && m.last_modified.is_none());
        assert_eq!(
            m.from,
            Sender::User {
                id: "u1".into(),
                name: None,
                identity_type: None
            }
        );
        assert!(ChatMessage::from_value(&serde_json::json!({"id":null})).is_err());
        assert!(ChatMessage::from_value(&serde_json::json!([1])).is_err());
        let bad = serde_json::json!({"id":"1","createdDateTime":"yesterday"});
        assert!(
            ChatMessage::from_value(&bad)
                .unwrap_err()
                .contains("createdDateTime")
        );
    }

    #[test]
    fn validate_names_keys() {
        let mut c = cfg();
        c.grant = Grant::Password;
        let e = c.validate("graph").unwrap_err();
        assert!(e.to_string().contains("graph.username"), "{e}");
        c.username = Some("agent@contoso.com".into());
        c.password_file = Some("pw".into());
        c.tenant = "common".into();
        assert!(c.validate("k").unwrap_err().to_string().contains("common"));
        assert!(cfg().validate("k").is_ok());
    }

    #[test]
    fn missing_secret_file_names_the_key() {
        let g = Graph::new(
            Http::new(&Default::default(), None).unwrap(),
            GraphConfig {
                graph_url: "http://127.0.0.1:5000/v1.0".into(),
                client_secret_env: None,
                client_secret_file: Some("nope".into()),
                ..cfg()
            },
            Path::new("/nonexistent"),
            "k",
            false,
        );
        // the secret file is missing: a config error naming the key
        let e = g.unwrap_err();
        assert!(e.to_string().contains("k.client_secret_file"), "{e}");
    }

    #[test]
    fn chat_ids_are_encoded() {
        let id = "19:2da4c29f@thread.v2";
        let enc = utf8_percent_encode(id, ENCODE).to_string();
        assert_eq!(enc, "19%3A2da4c29f%40thread.v2");
        let evil = utf8_percent_encode("../x?y#z", ENCODE).to_string();
        assert!(!evil.contains('/') && !evil.contains('?') && !evil.contains('#'));
    }
}
