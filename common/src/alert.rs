//! Alerts: `ctx.alert(key, severity, text)`.
//!
//! Delivery: a webhook (JSON POST with a `text` field, accepted by Slack and Teams incoming
//! webhooks), a command (argv, no shell, timeout; the text on stdin and in
//! `AGENT_JOBS_ALERT_TEXT`), and/or a Teams chat (posted through [`crate::graph`] with the
//! Graph settings of the `poll-teams` section, which must use the password grant to post).
//! Every alert is also logged: critical at ERROR and warnings at WARN (so cron mails them even
//! with no channel configured); info alerts at INFO (log file only).
//!
//! Dedup: per key, at most one delivery per `min_interval_secs`, recorded in the job's state
//! (`alerts`). The record is written *before* delivery (`status: sending`) and updated after, so
//! a crash or retry never sends the same alert twice inside the interval.

use crate::config::{Secret, resolve_secret};
use crate::http::{Method, Retry};
use crate::run::Ctx;
use crate::state::AlertRecord;
use anyhow::{Result, anyhow};
use chrono::Utc;
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
    /// Teams chat id to post alerts to, with the `graph` settings of the `poll-teams` section.
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
        let now = Utc::now();
        let line = format!("ALERT [{}] {key}: {text}", severity.as_str());
        if let Some(rec) = self.state.alerts.get_mut(key)
            && let Some(last) = rec.last_sent_at
            && (now - last).to_std().unwrap_or_default() < interval
        {
            rec.suppressed += 1;
            log::info!(
                "alert `{key}` suppressed (sent {last}, interval {}s)",
                interval.as_secs()
            );
            return Ok(Delivery::Suppressed);
        }
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
        let has_channel = webhook.is_some() || cfg.command.is_some() || cfg.teams_chat_id.is_some();
        let short: String = text.chars().take(500).collect();
        let rec = self
            .state
            .alerts
            .entry(key.to_string())
            .or_insert_with(|| AlertRecord {
                severity: severity.as_str().into(),
                first_at: now,
                last_sent_at: None,
                status: String::new(),
                sent: 0,
                suppressed: 0,
                last_text: String::new(),
            });
        rec.severity = severity.as_str().into();
        rec.last_sent_at = Some(now);
        rec.last_text = short;
        rec.status = if has_channel {
            "sending".into()
        } else {
            "logged".into()
        };
        rec.sent += 1;
        if !has_channel {
            return Ok(Delivery::Sent);
        }
        // Record the intent before anything leaves the machine.
        self.checkpoint()?;
        let mut failures = Vec::new();
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
                Ok(r) if r.is_success() => {}
                Ok(r) => failures.push(format!("webhook answered HTTP {}", r.status)),
                Err(e) => failures.push(format!("webhook: {}", crate::exit::one_line(&e))),
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
                Ok(o) if o.success() => {}
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
            if let Err(e) = self.post_teams_alert(chat, &html) {
                failures.push(format!("Teams chat: {}", crate::exit::one_line(&e)));
            }
        }
        let rec = self
            .state
            .alerts
            .get_mut(key)
            .ok_or_else(|| anyhow!("alert record vanished"))?;
        if failures.is_empty() {
            rec.status = "sent".into();
            Ok(Delivery::Sent)
        } else {
            let why = failures.join("; ");
            rec.status = format!("failed: {why}");
            log::error!("alert `{key}` could not be delivered: {why}");
            Ok(Delivery::Failed(why))
        }
    }

    fn post_teams_alert(&self, chat: &str, html: &str) -> Result<()> {
        let graph_cfg: crate::graph::GraphConfig = self
            .config
            .raw_section("poll-teams")
            .and_then(|v| v.get("graph"))
            .map(|v| serde_json::from_value(v.clone()))
            .transpose()
            .map_err(|e| {
                crate::exit::config_error(format!("`poll-teams.graph` (used by runtime.alerts.teams_chat_id): {e}"))
            })?
            .ok_or_else(|| {
                crate::exit::config_error(
                    "`runtime.alerts.teams_chat_id` is set but the `poll-teams` section has no `graph` settings to post with",
                )
            })?;
        let mut graph = crate::graph::Graph::from_ctx(self, &graph_cfg, "poll-teams.graph")?;
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
