//! Alerts: `ctx.alert(key, severity, text)`.
//!
//! Delivery: a webhook (JSON POST with a `text` field, accepted by Slack and Teams incoming
//! webhooks), a command (argv, no shell, timeout; the text on stdin and in
//! `AGENT_JOBS_ALERT_TEXT`), and/or a Teams chat (posted through the `graph` crate with the
//! shared `graph` settings, which must use the password grant to post).
//! Every alert is also logged: critical at ERROR and warnings at WARN (so cron mails them even
//! with no channel configured); info alerts at INFO (log file only).
//!
//! Dedup: per key, at most one delivery per `min_interval_secs`. Each alert is an effect in the
//! journal (`alert/<key>`, see [`crate::effect`]): the intent is written before delivery and
//! the result after, so a crash or retry never sends the same alert twice inside the interval.

use crate::config::{Secret, resolve_secret};
use crate::effect::{Act, EffectOutcome, EffectStatus};
use crate::http::{Method, Retry};
use crate::run::Ctx;
use anyhow::Result;
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::PathBuf;
use std::time::Duration;

/// `runtime.alerts`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertConfig {
    /// Webhook URL given in the config (fine for a local relay; use `_env`/`_file` for URLs
    /// that embed a token, such as Slack's).
    pub webhook_url: Option<String>,
    pub webhook_url_env: Option<String>,
    pub webhook_url_file: Option<PathBuf>,
    /// Command to run per alert, e.g. `["mail", "-s", "agent-jobs alert", "ops@example.com"]`.
    pub command: Option<Vec<String>>,
    pub command_timeout_secs: u64,
    /// Teams chat id to post alerts to, signed in with the shared `graph` settings.
    pub teams_chat_id: Option<String>,
    /// Minimum seconds between two deliveries of the same alert key.
    pub min_interval_secs: u64,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            webhook_url: None,
            webhook_url_env: None,
            webhook_url_file: None,
            command: None,
            command_timeout_secs: 30,
            teams_chat_id: None,
            min_interval_secs: 3600,
        }
    }
}

/// How bad an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// What happened to an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Delivered to every configured channel (or only logged if none is configured).
    Sent,
    /// Not sent: the same key was sent less than `min_interval_secs` ago.
    Suppressed,
    /// Not sent: `--dry-run`.
    DryRun,
    /// A channel failed (the reason); the alert is still in the log.
    Failed(String),
}

impl<D: Serialize + DeserializeOwned + Default> Ctx<D> {
    /// Raise an alert, deduplicated by `key` (see module docs).
    pub fn alert(&mut self, key: &str, severity: Severity, text: &str) -> Result<Delivery> {
        self.alert_with_interval(key, severity, text, None)
    }

    /// Like [`Ctx::alert`] with an explicit minimum interval (`Some(0)` = always send;
    /// use a content hash in the key for "once per distinct thing").
    pub fn alert_with_interval(
        &mut self,
        key: &str,
        severity: Severity,
        text: &str,
        min_interval: Option<Duration>,
    ) -> Result<Delivery> {
        let cfg = self.runtime.alerts.clone();
        let interval = min_interval.unwrap_or(Duration::from_secs(cfg.min_interval_secs));
        let repeat = chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::MAX);
        let ekey = effect_key(key);
        let policy = crate::effect::Policy {
            repeat_after: Some(repeat),
            ..Default::default()
        };
        let now = self.now();
        let step = crate::effect::decide(self.effect_record(&ekey), policy, false, now);
        if step != crate::effect::Step::Act {
            let last = self
                .effect_record(&ekey)
                .and_then(|r| r.finished_at.or(r.started_at));
            if let Some(r) = self.state.effects.get_mut(&ekey) {
                r.skipped += 1;
            }
            log::info!(
                "alert `{key}` suppressed (last delivery {}, interval {}s)",
                last.map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| "unknown".into()),
                interval.as_secs()
            );
            return Ok(Delivery::Suppressed);
        }
        let line = format!("ALERT [{}] {key}: {text}", severity.as_str());
        // Info alerts (e.g. "recovered") reach the channels and the log file, not cron's mail.
        match severity {
            Severity::Critical => log::error!("{line}"),
            Severity::Warning => log::warn!("{line}"),
            Severity::Info => log::info!("{line}"),
        }
        if self.dry_run {
            log::warn!("dry run: would deliver alert `{key}`");
            return Ok(Delivery::DryRun);
        }
        let webhook = self.alert_webhook(&cfg)?;
        let text = crate::redact::redact(text).into_owned();
        let short: String = text.chars().take(500).collect();
        let value = serde_json::json!({"severity": severity.as_str(), "text": short});
        let key_owned = key.to_string();
        let out = self
            .effect(ekey, format!("alert `{key}`"))
            .repeat_after(repeat)
            .run(|ctx| {
                let act = ctx.deliver_alert(&cfg, webhook.as_ref(), &key_owned, severity, &text);
                match act {
                    Act::Done(d, _) => Act::Done(d, Some(value)),
                    other => other,
                }
            })?;
        match out {
            EffectOutcome::Ran(r) if r.status == EffectStatus::Done => Ok(Delivery::Sent),
            EffectOutcome::Ran(r) => {
                let why = r.result.unwrap_or_default();
                log::error!("alert `{key}` could not be delivered: {why}");
                Ok(Delivery::Failed(why))
            }
            EffectOutcome::Skipped(_) => Ok(Delivery::DryRun),
            _ => Ok(Delivery::Suppressed),
        }
    }

    /// Send one alert to every configured channel. Done when at least one channel took it
    /// (or none is configured: the log line is the alert); otherwise failed, or unknown when a
    /// request may have reached the webhook.
    fn deliver_alert(
        &mut self,
        cfg: &AlertConfig,
        webhook: Option<&Secret>,
        key: &str,
        severity: Severity,
        text: &str,
    ) -> Act {
        let has_channel = webhook.is_some() || cfg.command.is_some() || cfg.teams_chat_id.is_some();
        if !has_channel {
            return Act::done("logged (no alert channel configured)");
        }
        let now = self.now();
        let mut failures = Vec::new();
        let mut delivered = Vec::new();
        let mut maybe = false;
        let full = format!("[agent-jobs] {} on {}: {text}", self.job, self.host);
        if let Some(url) = webhook {
            let body = serde_json::json!({
                "text": full,
                "severity": severity.as_str(),
                "job": self.job,
                "key": key,
                "host": self.host,
                "at": now,
                "run_id": self.run_id,
            });
            match self
                .http()
                .and_then(|h| h.send(Method::POST, url.expose(), Retry::Never, |r| r.json(&body)))
            {
                Ok(r) if r.is_success() => delivered.push("webhook"),
                Ok(r) => failures.push(format!("webhook answered HTTP {}", r.status)),
                Err(e) => {
                    maybe |= crate::http::maybe_sent(&e);
                    failures.push(format!("webhook: {}", crate::exit::one_line(&e)));
                }
            }
        }
        if let Some(argv) = &cfg.command {
            let env = [
                ("AGENT_JOBS_ALERT_KEY", key.to_string()),
                ("AGENT_JOBS_ALERT_SEVERITY", severity.as_str().to_string()),
                ("AGENT_JOBS_ALERT_JOB", self.job.to_string()),
                ("AGENT_JOBS_ALERT_TEXT", full.clone()),
            ];
            match crate::cmd::run(
                argv,
                Duration::from_secs(cfg.command_timeout_secs),
                Some(&full),
                &env,
            ) {
                Ok(o) if o.success() => delivered.push("command"),
                Ok(o) => failures.push(format!("alert command {}", o.describe())),
                Err(e) => failures.push(format!("alert command: {}", crate::exit::one_line(&e))),
            }
        }
        if let Some(chat) = &cfg.teams_chat_id {
            let html = format!(
                "<p><b>[agent-jobs] {} on {}</b> ({})</p><p>{}</p>",
                crate::html::escape(self.job),
                crate::html::escape(&self.host),
                severity.as_str(),
                crate::html::escape(text)
            );
            match self.post_teams_alert(chat, &html) {
                Ok(()) => delivered.push("Teams"),
                Err(e) => {
                    maybe |= crate::http::maybe_sent(&e);
                    failures.push(format!("Teams chat: {}", crate::exit::one_line(&e)));
                }
            }
        }
        let why = failures.join("; ");
        match (delivered.is_empty(), failures.is_empty()) {
            (false, true) => Act::done(format!("sent ({})", delivered.join(", "))),
            (false, false) => Act::done(format!("sent ({}); {why}", delivered.join(", "))),
            (true, _) if maybe => Act::Unsure(why),
            (true, _) => Act::NotDone(why),
        }
    }

    fn post_teams_alert(&self, chat: &str, html: &str) -> Result<()> {
        let mut graph = self.graph("`runtime.alerts.teams_chat_id`")?;
        graph.post_message(chat, html)?;
        Ok(())
    }

    fn alert_webhook(&self, cfg: &AlertConfig) -> Result<Option<Secret>> {
        if let Some(u) = &cfg.webhook_url {
            return Ok(Some(Secret::new(u.clone())));
        }
        resolve_secret(
            "runtime.alerts.webhook_url",
            cfg.webhook_url_env.as_deref(),
            cfg.webhook_url_file.as_deref(),
            &self.paths.root,
        )
    }
}

/// The effect-journal key of alert `key`.
pub fn effect_key(key: &str) -> String {
    format!("alert/{key}")
}
