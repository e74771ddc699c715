//! The gateway as a delivery target: where its hook endpoint is and with which token, one POST
//! and what its answer means, whether the gateway is up, and what its log says about a run.
//!
//! URL and token come from the gateway's own config by default (the suite's `gateway` section
//! says where that is; `hooks.enabled`, `hooks.token`, `hooks.path`, `gateway.port`), so there
//! is one place to rotate the token. `poll-teams.delivery.url` and `token_env`/`token_file`
//! override them when poll-teams cannot read the gateway's config; then the gateway's log
//! cannot be located either, and a delivery whose outcome is unknown stays blocked.

use crate::config::Config;
use crate::data::Data;
use anyhow::Result;
use common::Ctx;
use common::config_error;
use common::http::{Http, HttpConfig, Method, Retry};
use common::secret::Secret;
use openclaw::hooks::Answer;
use openclaw::logs::LogLocation;
use std::time::Duration;

/// The hook endpoint of the gateway.
pub struct HookTarget {
    /// `<base><hooks.path>/agent`.
    pub url: String,
    /// `scheme://host:port` (for the health probe).
    pub origin: String,
    token: Secret,
    /// The gateway's log files (to verify a run after an unknown outcome).
    pub log: Option<LogLocation>,
    /// Where the settings came from, for messages.
    pub source: String,
    http: Http,
}

impl std::fmt::Debug for HookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookTarget")
            .field("url", &self.url)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// What one POST came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Posted {
    /// The gateway answered.
    Answer(Answer),
    /// Nothing reached it (connection refused, no route): it is down.
    NotSent(String),
    /// The request may have reached it, no answer came (timeout, dropped connection).
    MaybeSent(String),
}

/// Find the hook endpoint and its token.
pub fn resolve(ctx: &Ctx<Data>, cfg: &Config) -> Result<HookTarget> {
    let d = &cfg.delivery;
    let gw = ctx.gateway()?;
    let loaded = openclaw::config::load(&gw.config);
    let token = ctx.secret(
        "poll-teams.delivery.token",
        d.token_env.as_deref(),
        d.token_file.as_deref(),
    )?;
    let (gcfg, why) = match loaded {
        Ok(c) => (Some(c), String::new()),
        Err(e) => (None, common::exit::one_line(&e)),
    };
    let need = |what: &str| {
        config_error(format!(
            "{}: poll-teams delivers to the gateway (a chat has mode all or catch-up) and needs {what}: {why}; \
             point the `gateway` section at the gateway's openclaw.json, or set poll-teams.delivery.url and token_file",
            ctx.config.path.display()
        ))
    };
    let hooks = gcfg.as_ref().map(openclaw::config::GatewayConfig::hooks);
    let url = match (&d.url, &hooks) {
        (Some(u), _) => u.clone(),
        (None, Some(h)) => format!("{}{}/agent", gw.base_url(gcfg.as_ref()), h.path),
        (None, None) => return Err(need("the hook URL from the gateway's config")),
    };
    let token = match (token, &hooks) {
        (Some(t), _) => t,
        (None, Some(h)) => match h.token.clone().filter(|t| !t.trim().is_empty()) {
            Some(t) if h.enabled => Secret::new(t),
            _ => {
                return Err(config_error(format!(
                    "{}: the gateway's hooks are not enabled: set `hooks.enabled: true` and a `hooks.token` there (see docs/jobs/poll-teams.md), or set every chat's mode to journal",
                    gw.config.display()
                )));
            }
        },
        (None, None) => return Err(need("the hook token from the gateway's config")),
    };
    common::redact::register(token.expose());
    let source = match (&d.url, gcfg.is_some()) {
        (Some(_), _) => "poll-teams.delivery.url".to_string(),
        (None, _) => format!("hooks in {}", gw.config.display()),
    };
    let http_cfg = HttpConfig {
        timeout_secs: d.timeout_secs as f64,
        connect_timeout_secs: 5.0,
        max_retries: 0,
        ..ctx.runtime.http.clone()
    };
    log::debug!("delivering to {url} (from {source})");
    Ok(HookTarget {
        origin: origin_of(&url),
        url,
        token,
        log: gcfg
            .as_ref()
            .map(|c| openclaw::logs::location(Some(c), gw.profile.as_deref())),
        source,
        http: Http::new(&http_cfg, ctx.deadline())?.with_stop(ctx.stop.clone()),
    })
}

/// `http://127.0.0.1:18789` of `http://127.0.0.1:18789/hooks/agent`.
fn origin_of(url: &str) -> String {
    let after = url.find("://").map_or(0, |i| i + 3);
    match url[after..].find('/') {
        Some(i) => url[..after + i].to_string(),
        None => url.to_string(),
    }
}

impl HookTarget {
    /// POST one request body.
    pub fn post(&self, body: &serde_json::Value) -> Posted {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        let r = self.http.send(Method::POST, &self.url, Retry::Never, |r| {
            r.bearer_auth(self.token.expose())
                .header("Content-Type", "application/json")
                .body(bytes.clone())
        });
        match r {
            Ok(resp) => {
                let retry_after = resp
                    .header("retry-after")
                    .and_then(common::http::parse_retry_after);
                Posted::Answer(openclaw::hooks::classify(
                    resp.status,
                    &resp.body,
                    retry_after,
                ))
            }
            Err(e) => {
                let m = common::redact::redact(&common::exit::one_line(&e)).into_owned();
                if common::http::maybe_sent(&e) {
                    Posted::MaybeSent(m)
                } else {
                    Posted::NotSent(m)
                }
            }
        }
    }

    /// Whether the gateway's HTTP server is live: `GET /healthz` answers
    /// `{"ok":true,"status":"live"}` (any other path answers 200 with HTML, so the body counts).
    pub fn probe(&self) -> std::result::Result<(), String> {
        let url = format!("{}/healthz", self.origin);
        match self.http.send(Method::GET, &url, Retry::Never, |r| r) {
            Ok(resp) => {
                let live = resp.status == 200
                    && serde_json::from_slice::<serde_json::Value>(&resp.body)
                        .ok()
                        .is_some_and(|v| v.get("ok") == Some(&serde_json::Value::Bool(true)));
                if live {
                    Ok(())
                } else {
                    Err(format!("GET {url} answered HTTP {}", resp.status))
                }
            }
            Err(e) => Err(common::exit::one_line(&e)),
        }
    }

    /// Look for the completion record of the run named `name` in the gateway's log.
    pub fn find_run(&self, name: &str) -> std::result::Result<Option<String>, String> {
        let Some(loc) = &self.log else {
            return Err(
                "the gateway's log location is unknown (its config could not be read)".into(),
            );
        };
        openclaw::hooks::find_completed_run(loc, name)
            .map(|r| r.map(|r| format!("run {} ({}) in {}", r.run_id, r.status, r.file.display())))
            .map_err(|e| common::exit::one_line(&e))
    }
}

/// How long to wait before the `attempts`-th retry: 15 s doubling, at most `max_secs`, at
/// least what the gateway asked for.
pub fn backoff(attempts: u32, retry_after: Option<Duration>, max_secs: u64) -> Duration {
    let base = 15u64.saturating_mul(1u64 << attempts.saturating_sub(1).min(16));
    let d = Duration::from_secs(base.min(max_secs.max(1)));
    retry_after.map_or(d, |r| r.max(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_and_backoff() {
        assert_eq!(
            origin_of("http://127.0.0.1:18789/hooks/agent"),
            "http://127.0.0.1:18789"
        );
        assert_eq!(origin_of("https://gw.example"), "https://gw.example");
        assert_eq!(backoff(1, None, 900), Duration::from_secs(15));
        assert_eq!(backoff(3, None, 900), Duration::from_secs(60));
        assert_eq!(backoff(40, None, 900), Duration::from_secs(900));
        assert_eq!(
            backoff(1, Some(Duration::from_secs(60)), 900),
            Duration::from_secs(60)
        );
    }
}
