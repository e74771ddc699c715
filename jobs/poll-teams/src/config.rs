//! The `poll-teams` section of config.json: which chats to read and what to do with them, who
//! may talk to the agent, where the inbox is, how events reach the gateway, the operator
//! commands and the reply detectors. Every numeric key has a range, checked here (exit 78
//! naming the key), so a value `--check-config` accepts always runs.

use anyhow::Result;
use common::config_error;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `poll-teams` in config.json.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Deprecated: the Graph settings live in the top-level `graph` section. Still read from
    /// here by the runtime (with a warning) when there is no top-level section.
    pub graph: Option<Value>,
    /// Chats to read: an id, or `{"id", "name", "mode", "bare_commands", "reply", …}`.
    pub chats: Vec<ChatSpec>,
    /// Channels to read through `messages/delta` (root messages; no commands there).
    pub channels: Vec<ChannelSpec>,
    /// AAD object id of the agent's own account: its messages are the agent's replies.
    pub self_user_id: Option<String>,
    /// Bot Framework app ids of the gateway's Teams bot: its messages are the agent's replies.
    pub bot_app_ids: Vec<String>,
    /// AAD object ids with full access (messages delivered, commands executed).
    pub operators: Vec<String>,
    /// AAD object ids whose messages are delivered (tier `trusted`).
    pub trusted: Vec<String>,
    /// Also admit the AAD ids of the gateway's `channels.msteams.allowFrom` (tier `trusted`).
    pub allow_from_gateway: bool,
    /// The Maildir-style inbox (relative to the root).
    pub inbox_dir: PathBuf,
    /// First run of a chat: only messages modified in the last this many seconds.
    pub backfill_secs: u64,
    /// Messages per Graph page (1–50).
    pub page_size: u32,
    /// Bodies longer than this (bytes of HTML) are truncated with a marker.
    pub max_body_bytes: usize,
    /// Copy denied messages to `<inbox_dir>/rejected/` for review.
    pub keep_rejected: bool,
    /// Seconds between passes with `--watch`.
    pub watch_interval_secs: f64,
    /// Message ids remembered per chat to tell edits from new messages and to ignore reactions.
    pub remember_messages: usize,
    /// Delivery of inbox events into the gateway (`POST <hooks.path>/agent`).
    pub delivery: DeliveryConfig,
    /// Operator commands.
    pub commands: CommandsConfig,
    /// Unanswered and duplicated agent replies.
    pub detectors: DetectorsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            graph: None,
            chats: Vec::new(),
            channels: Vec::new(),
            self_user_id: None,
            bot_app_ids: Vec::new(),
            operators: Vec::new(),
            trusted: Vec::new(),
            allow_from_gateway: false,
            inbox_dir: PathBuf::from("state/inbox/teams"),
            backfill_secs: 3600,
            page_size: 50,
            max_body_bytes: 64 * 1024,
            keep_rejected: false,
            watch_interval_secs: 5.0,
            remember_messages: 2000,
            delivery: DeliveryConfig::default(),
            commands: CommandsConfig::default(),
            detectors: DetectorsConfig::default(),
        }
    }
}

/// What happens to a chat's inbox events after intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Every event is delivered to the gateway at once (chats the gateway's bot is not in).
    All,
    /// Only events that got no agent reply within `catch_up_after_secs`, or that arrived
    /// while the gateway was down (chats the bot is in).
    CatchUp,
    /// The Maildir only: nothing is sent to the gateway.
    #[default]
    Journal,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::All => "all",
            Mode::CatchUp => "catch-up",
            Mode::Journal => "journal",
        }
    }
}

/// Where the agent's answer to a delivered event goes (`channel`/`to`/`accountId` of the hook
/// request; without it the request says `deliver: false`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyTarget {
    /// A channel plugin id of the gateway, e.g. `msteams`.
    pub channel: String,
    /// e.g. `conversation:19:…@thread.v2` or `user:<aad id>`.
    pub to: String,
    #[serde(default)]
    pub account_id: Option<String>,
}

/// One chat and what to do with it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatSpec {
    pub id: String,
    /// A name for messages and alerts (default: the id).
    pub name: Option<String>,
    /// Overrides `delivery.mode`.
    pub mode: Option<Mode>,
    /// Also take the bare command words (`/status`, `/stop`, …) here. Only for chats the
    /// gateway does not read: there they are the gateway's own commands.
    pub bare_commands: bool,
    pub reply: Option<ReplyTarget>,
    /// `sessionKey` of the hook request (needs `hooks.allowRequestSessionKey` in the gateway).
    pub session_key: Option<String>,
    /// Watch for an agent reply to each message (default: catch-up chats, and `all` chats with
    /// a `reply` target).
    pub expect_reply: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatObject {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(default)]
    bare_commands: bool,
    #[serde(default)]
    reply: Option<ReplyTarget>,
    #[serde(default)]
    session_key: Option<String>,
    #[serde(default)]
    expect_reply: Option<bool>,
}

impl<'de> Deserialize<'de> for ChatSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(d)? {
            Value::String(id) => Ok(ChatSpec {
                id,
                ..Default::default()
            }),
            v @ Value::Object(_) => {
                let o: ChatObject = serde_path_to_error::deserialize(v)
                    .map_err(|e| D::Error::custom(format!("`{}`: {}", e.path(), e.inner())))?;
                Ok(ChatSpec {
                    id: o.id,
                    name: o.name,
                    mode: o.mode,
                    bare_commands: o.bare_commands,
                    reply: o.reply,
                    session_key: o.session_key,
                    expect_reply: o.expect_reply,
                })
            }
            other => Err(D::Error::custom(format!(
                "expected a chat id or an object such as {{\"id\": \"19:…\", \"mode\": \"catch-up\"}}, got {other}"
            ))),
        }
    }
}

/// One channel: `{"team": "<team id>", "channel": "19:…@thread.tacv2", …}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelSpec {
    pub team: String,
    pub channel: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub mode: Option<Mode>,
    #[serde(default)]
    pub reply: Option<ReplyTarget>,
    #[serde(default)]
    pub session_key: Option<String>,
    #[serde(default)]
    pub expect_reply: Option<bool>,
}

/// The per-source settings the job works with, chats and channels alike.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSettings<'a> {
    pub key: String,
    pub name: String,
    pub mode: Mode,
    pub bare_commands: bool,
    pub reply: Option<&'a ReplyTarget>,
    pub session_key: Option<&'a str>,
    pub expect_reply: bool,
    pub is_channel: bool,
}

/// `poll-teams.delivery`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Mode of chats that do not set one.
    pub mode: Mode,
    /// The hook endpoint; default `<gateway url><hooks.path>/agent` from the gateway's config.
    pub url: Option<String>,
    /// The hook token; default `hooks.token` from the gateway's config.
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    /// `agentId` of the hook request (default: the gateway's default agent).
    pub agent_id: Option<String>,
    /// Longest one POST may take, seconds (the gateway admits within 15 s).
    pub timeout_secs: u64,
    /// `catch-up`: deliver a message with no agent reply after this many seconds.
    pub catch_up_after_secs: u64,
    /// Events older than this (seconds since they were written) are not delivered any more.
    pub max_age_secs: u64,
    /// Longest wait between two attempts at a failed delivery, seconds.
    pub retry_max_secs: u64,
    /// Event kinds delivered: `message`, `edited`, `deleted`.
    pub kinds: Vec<String>,
    /// `timeoutSeconds` of the hook request (the agent turn's timeout), if set.
    pub run_timeout_secs: Option<u64>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            mode: Mode::Journal,
            url: None,
            token_env: None,
            token_file: None,
            agent_id: None,
            timeout_secs: 30,
            catch_up_after_secs: 300,
            max_age_secs: 86_400,
            retry_max_secs: 900,
            kinds: vec!["message".into(), "edited".into()],
            run_timeout_secs: None,
        }
    }
}

/// `poll-teams.commands`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommandsConfig {
    /// Execute operator commands at all.
    pub enabled: bool,
    /// Post replies to the chat (needs the password grant in `graph`).
    pub reply: bool,
    /// Timeout of one command, seconds.
    pub timeout_secs: u64,
    /// The word every command starts with: `/jobs status`.
    pub prefix: String,
    /// Commands that may run again when a run died while they ran (at least once); the others
    /// run at most once.
    pub idempotent: Vec<String>,
    /// `restart-gateway`: argv; default `[<dir of poll-teams>/watch-gateway, "--root", <root>, "--wait-lock", "70", "restart"]`.
    pub restart_gateway: Option<Vec<String>>,
    /// Deprecated name of `restart_gateway`.
    pub reset: Option<Vec<String>>,
    /// `restore`: argv; default `[<dir of poll-teams>/backup-config, "--root", <root>, "restore"]`.
    pub restore: Option<Vec<String>>,
    /// `reboot`: argv, run only if `reboot_enabled`.
    pub reboot: Option<Vec<String>>,
    pub reboot_enabled: bool,
}

impl Default for CommandsConfig {
    fn default() -> Self {
        CommandsConfig {
            enabled: true,
            reply: true,
            timeout_secs: 120,
            prefix: "/jobs".into(),
            idempotent: vec!["status".into(), "help".into()],
            restart_gateway: None,
            reset: None,
            restore: None,
            reboot: None,
            reboot_enabled: false,
        }
    }
}

/// `poll-teams.detectors`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorsConfig {
    /// Alert when a message expecting a reply has none after this many seconds (0: off).
    pub unanswered_after_secs: u64,
    /// No unanswered alert is raised in these hours; the wait starts when they end.
    pub quiet_hours: Option<QuietHours>,
    /// Alert when two agent replies to one message come this close, seconds (0: off).
    pub duplicate_within_secs: u64,
    /// How alike two replies must be to count as duplicates (0.5–1.0; 1.0 = identical text).
    pub duplicate_similarity: f64,
}

impl Default for DetectorsConfig {
    fn default() -> Self {
        DetectorsConfig {
            unanswered_after_secs: 600,
            quiet_hours: None,
            duplicate_within_secs: 30,
            duplicate_similarity: 0.9,
        }
    }
}

/// `{"from": "22:00", "to": "07:00", "timezone": "Europe/Berlin"}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub from: String,
    pub to: String,
    #[serde(default = "utc")]
    pub timezone: String,
}

fn utc() -> String {
    "UTC".into()
}

/// Largest `backfill_secs`: one year.
pub const MAX_BACKFILL_SECS: u64 = 365 * 86_400;

/// Gateway slash commands a command prefix must not shadow (2026.9.6 `buildBuiltinChatCommands`
/// and the bundled plugin commands; docs `tools/slash-commands.md`).
pub const GATEWAY_COMMANDS: &[&str] = &[
    "help",
    "commands",
    "tools",
    "skill",
    "dashboard",
    "learn",
    "loop",
    "status",
    "goal",
    "diagnostics",
    "login",
    "openclaw",
    "tasks",
    "allowlist",
    "approve",
    "context",
    "btw",
    "side",
    "export-session",
    "export",
    "export-trajectory",
    "trajectory",
    "tts",
    "whoami",
    "id",
    "session",
    "subagents",
    "acp",
    "agents",
    "steer",
    "tell",
    "config",
    "mcp",
    "plugins",
    "plugin",
    "debug",
    "usage",
    "stop",
    "restart",
    "update",
    "activation",
    "send",
    "reset",
    "new",
    "name",
    "compact",
    "think",
    "thinking",
    "t",
    "verbose",
    "v",
    "trace",
    "fast",
    "reasoning",
    "reason",
    "elevated",
    "elev",
    "exec",
    "model",
    "models",
    "queue",
    "bash",
    "dreaming",
    "pair",
    "voice",
    "workboard",
    "reef",
    "active-memory",
];

fn range<T: PartialOrd + std::fmt::Display>(
    file: &Path,
    key: &str,
    v: T,
    lo: T,
    hi: T,
    unit: &str,
) -> Result<()> {
    if !(v >= lo && v <= hi) {
        return Err(config_error(format!(
            "{}: `poll-teams.{key}` is {v}; it must be between {lo} and {hi}{unit}",
            file.display()
        )));
    }
    Ok(())
}

impl Config {
    /// Checks serde cannot express: ranges, shapes, consistency (file named in messages).
    pub fn validate(&self, file: &Path) -> Result<()> {
        self.validate_sources(file)?;
        self.validate_numbers(file)?;
        self.validate_people(file)?;
        self.validate_delivery(file)?;
        self.validate_commands(file)?;
        self.validate_detectors(file)
    }

    fn validate_sources(&self, file: &Path) -> Result<()> {
        let f = file.display();
        if self.chats.is_empty() && self.channels.is_empty() {
            return Err(config_error(format!(
                "{f}: `poll-teams.chats` is empty: list the chat ids to read (Graph: GET /me/chats)"
            )));
        }
        let bad = |v: &str| v.trim().is_empty() || v.chars().any(char::is_control);
        for (i, c) in self.channels.iter().enumerate() {
            for (k, v) in [("team", &c.team), ("channel", &c.channel)] {
                if bad(v) {
                    return Err(config_error(format!(
                        "{f}: `poll-teams.channels[{i}].{k}` is empty or has control characters"
                    )));
                }
            }
            check_reply(file, &format!("channels[{i}].reply"), c.reply.as_ref())?;
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, c) in self.chats.iter().enumerate() {
            if bad(&c.id) {
                return Err(config_error(format!(
                    "{f}: `poll-teams.chats[{i}]` is empty or has control characters"
                )));
            }
            if !seen.insert(c.id.as_str()) {
                return Err(config_error(format!(
                    "{f}: `poll-teams.chats[{i}]`: chat {} is listed twice",
                    c.id
                )));
            }
            check_reply(file, &format!("chats[{i}].reply"), c.reply.as_ref())?;
        }
        Ok(())
    }

    fn validate_numbers(&self, file: &Path) -> Result<()> {
        range(
            file,
            "backfill_secs",
            self.backfill_secs,
            1,
            MAX_BACKFILL_SECS,
            " seconds (one year)",
        )?;
        range(
            file,
            "page_size",
            self.page_size,
            1,
            50,
            " (Graph allows 1 to 50)",
        )?;
        range(
            file,
            "max_body_bytes",
            self.max_body_bytes,
            256,
            1 << 20,
            " bytes",
        )?;
        range(
            file,
            "watch_interval_secs",
            self.watch_interval_secs,
            0.5,
            3600.0,
            " seconds",
        )?;
        range(
            file,
            "remember_messages",
            self.remember_messages,
            1,
            1_000_000,
            "",
        )
    }

    fn validate_people(&self, file: &Path) -> Result<()> {
        if self.operators.is_empty() {
            log::debug!("no operators configured: commands are disabled");
        }
        for (k, list) in [
            ("operators", &self.operators),
            ("trusted", &self.trusted),
            ("bot_app_ids", &self.bot_app_ids),
        ] {
            if let Some((i, _)) = list.iter().enumerate().find(|(_, v)| v.trim().is_empty()) {
                return Err(config_error(format!(
                    "{}: `poll-teams.{k}[{i}]` is empty: give AAD object ids (from.user.id), not names",
                    file.display()
                )));
            }
        }
        Ok(())
    }

    fn validate_delivery(&self, file: &Path) -> Result<()> {
        let d = &self.delivery;
        let f = file.display();
        range(
            file,
            "delivery.timeout_secs",
            d.timeout_secs,
            16,
            600,
            " seconds (the gateway takes up to 15 s to admit a run)",
        )?;
        range(
            file,
            "delivery.catch_up_after_secs",
            d.catch_up_after_secs,
            0,
            7 * 86_400,
            " seconds",
        )?;
        range(
            file,
            "delivery.max_age_secs",
            d.max_age_secs,
            60,
            30 * 86_400,
            " seconds",
        )?;
        range(
            file,
            "delivery.retry_max_secs",
            d.retry_max_secs,
            1,
            86_400,
            " seconds",
        )?;
        if let Some(t) = d.run_timeout_secs {
            range(file, "delivery.run_timeout_secs", t, 1, 86_400, " seconds")?;
        }
        if let Some(u) = &d.url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(config_error(format!(
                "{f}: `poll-teams.delivery.url` {u:?} must start with http:// or https://"
            )));
        }
        if d.token_env.is_some() && d.token_file.is_some() {
            return Err(config_error(format!(
                "{f}: set only one of `poll-teams.delivery.token_env` and `poll-teams.delivery.token_file`"
            )));
        }
        for (i, k) in d.kinds.iter().enumerate() {
            if !["message", "edited", "deleted"].contains(&k.as_str()) {
                return Err(config_error(format!(
                    "{f}: `poll-teams.delivery.kinds[{i}]` is {k:?}; use message, edited or deleted"
                )));
            }
        }
        if d.agent_id.as_deref().is_some_and(|a| a.trim().is_empty()) {
            return Err(config_error(format!(
                "{f}: `poll-teams.delivery.agent_id` is empty: name a gateway agent or remove the key"
            )));
        }
        Ok(())
    }

    fn validate_commands(&self, file: &Path) -> Result<()> {
        let c = &self.commands;
        let f = file.display();
        range(
            file,
            "commands.timeout_secs",
            c.timeout_secs,
            1,
            3600,
            " seconds",
        )?;
        let p = c.prefix.trim();
        let word = p.trim_start_matches('/').to_ascii_lowercase();
        if !p.starts_with('/') || word.is_empty() || p.chars().any(char::is_whitespace) {
            return Err(config_error(format!(
                "{f}: `poll-teams.commands.prefix` {:?} must be one word starting with /, such as /jobs",
                c.prefix
            )));
        }
        if GATEWAY_COMMANDS.contains(&word.as_str()) {
            return Err(config_error(format!(
                "{f}: `poll-teams.commands.prefix` {p} is a command of the agent gateway (/{word}); choose another, such as /jobs"
            )));
        }
        for (i, n) in c.idempotent.iter().enumerate() {
            if crate::commands::Command::from_word(n).is_none() {
                return Err(config_error(format!(
                    "{f}: `poll-teams.commands.idempotent[{i}]` {n:?} is not a command ({})",
                    crate::commands::NAMES.join(", ")
                )));
            }
        }
        for (k, v) in [
            ("restart_gateway", &c.restart_gateway),
            ("reset", &c.reset),
            ("restore", &c.restore),
            ("reboot", &c.reboot),
        ] {
            if v.as_ref()
                .is_some_and(|a| a.is_empty() || a[0].trim().is_empty())
            {
                return Err(config_error(format!(
                    "{f}: `poll-teams.commands.{k}` is an empty list: give an argv such as [\"watch-gateway\", \"restart\"]"
                )));
            }
        }
        if c.reboot_enabled && c.reboot.is_none() {
            return Err(config_error(format!(
                "{f}: `poll-teams.commands.reboot_enabled` is true but `poll-teams.commands.reboot` is not set"
            )));
        }
        Ok(())
    }

    fn validate_detectors(&self, file: &Path) -> Result<()> {
        let d = &self.detectors;
        range(
            file,
            "detectors.unanswered_after_secs",
            d.unanswered_after_secs,
            0,
            7 * 86_400,
            " seconds",
        )?;
        range(
            file,
            "detectors.duplicate_within_secs",
            d.duplicate_within_secs,
            0,
            3600,
            " seconds",
        )?;
        range(
            file,
            "detectors.duplicate_similarity",
            d.duplicate_similarity,
            0.5,
            1.0,
            "",
        )?;
        if let Some(q) = &d.quiet_hours {
            crate::detect::QuietWindow::parse(q).map_err(|e| {
                config_error(format!(
                    "{}: `poll-teams.detectors.quiet_hours`: {e}",
                    file.display()
                ))
            })?;
        }
        Ok(())
    }

    /// The `restart-gateway` argv as configured (`restart_gateway`, else the deprecated `reset`).
    pub fn restart_argv(&self) -> Option<Vec<String>> {
        self.commands
            .restart_gateway
            .clone()
            .or_else(|| self.commands.reset.clone())
    }

    /// Every source (chats, then channels) with its settings resolved.
    pub fn sources(&self) -> Vec<SourceSettings<'_>> {
        let default = self.delivery.mode;
        let expect = |mode: Mode, reply: bool, given: Option<bool>| {
            given.unwrap_or(mode == Mode::CatchUp || (mode == Mode::All && reply))
        };
        let chats = self.chats.iter().map(|c| {
            let mode = c.mode.unwrap_or(default);
            SourceSettings {
                key: c.id.clone(),
                name: c.name.clone().unwrap_or_else(|| c.id.clone()),
                mode,
                bare_commands: c.bare_commands,
                reply: c.reply.as_ref(),
                session_key: c.session_key.as_deref(),
                expect_reply: expect(mode, c.reply.is_some(), c.expect_reply),
                is_channel: false,
            }
        });
        let channels = self.channels.iter().map(|c| {
            let mode = c.mode.unwrap_or(default);
            let key = format!("{}/{}", c.team, c.channel);
            SourceSettings {
                name: c.name.clone().unwrap_or_else(|| key.clone()),
                key,
                mode,
                bare_commands: false,
                reply: c.reply.as_ref(),
                session_key: c.session_key.as_deref(),
                expect_reply: expect(mode, c.reply.is_some(), c.expect_reply),
                is_channel: true,
            }
        });
        chats.chain(channels).collect()
    }

    /// Whether any source sends events to the gateway.
    pub fn delivers(&self) -> bool {
        self.sources().iter().any(|s| s.mode != Mode::Journal)
    }
}

fn check_reply(file: &Path, key: &str, r: Option<&ReplyTarget>) -> Result<()> {
    if let Some(r) = r
        && (r.channel.trim().is_empty() || r.to.trim().is_empty() || r.channel == "last")
    {
        return Err(config_error(format!(
            "{}: `poll-teams.{key}`: `channel` and `to` must both be set (the gateway refuses `last`), e.g. {{\"channel\": \"msteams\", \"to\": \"conversation:19:…@thread.v2\"}}",
            file.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<Config> {
        let c: Config = serde_path_to_error::deserialize(v)
            .map_err(|e| anyhow::anyhow!("{}: {}", e.path(), e.inner()))?;
        c.validate(Path::new("config.json"))?;
        Ok(c)
    }

    #[test]
    fn chats_are_ids_or_objects() {
        let c = parse(serde_json::json!({"chats": ["19:a@thread.v2",
            {"id": "19:b@thread.v2", "mode": "catch-up", "bare_commands": true, "name": "Ops"}]}))
        .unwrap();
        let s = c.sources();
        assert_eq!(s[0].mode, Mode::Journal, "the default mode");
        assert!(!s[0].expect_reply);
        assert_eq!(
            (s[1].mode, s[1].bare_commands, s[1].name.as_str()),
            (Mode::CatchUp, true, "Ops")
        );
        assert!(s[1].expect_reply);
        let e =
            parse(serde_json::json!({"chats": [{"id": "x", "mode": "sometimes"}]})).unwrap_err();
        assert!(
            e.to_string().contains("chats[0]") && e.to_string().contains("mode"),
            "{e}"
        );
        let e = parse(serde_json::json!({"chats": [{"id": "x", "moed": "all"}]})).unwrap_err();
        assert!(e.to_string().contains("moed"), "{e}");
    }

    #[test]
    fn every_numeric_key_has_a_range() {
        let base = serde_json::json!({"chats": ["19:a@thread.v2"]});
        for (key, bad) in [
            ("backfill_secs", serde_json::json!(99_999_999_999_999u64)),
            ("backfill_secs", serde_json::json!(0)),
            ("page_size", serde_json::json!(80)),
            ("max_body_bytes", serde_json::json!(10)),
            ("watch_interval_secs", serde_json::json!(1e300)),
            ("remember_messages", serde_json::json!(0)),
        ] {
            let mut v = base.clone();
            v[key] = bad.clone();
            let e = parse(v).unwrap_err().to_string();
            assert!(e.contains(key), "{key}={bad}: {e}");
        }
        for (section, key, bad) in [
            ("delivery", "timeout_secs", 5u64),
            ("delivery", "max_age_secs", 1),
            ("delivery", "retry_max_secs", 0),
            ("delivery", "catch_up_after_secs", u64::MAX),
            ("commands", "timeout_secs", 0),
            ("detectors", "unanswered_after_secs", u64::MAX),
            ("detectors", "duplicate_within_secs", 99_999),
        ] {
            let mut v = base.clone();
            v[section] = serde_json::json!({ key: bad });
            let e = parse(v).unwrap_err().to_string();
            assert!(
                e.contains(&format!("{section}.{key}")),
                "{section}.{key}={bad}: {e}"
            );
        }
        let mut v = base.clone();
        v["detectors"] = serde_json::json!({"duplicate_similarity": 2.0});
        assert!(parse(v).is_err());
        let mut v = base.clone();
        v["backfill_secs"] = serde_json::json!(-1);
        assert!(parse(v).is_err(), "negative numbers are refused by type");
    }

    #[test]
    fn prefix_must_not_be_a_gateway_command() {
        let mut v = serde_json::json!({"chats": ["c"], "commands": {"prefix": "/status"}});
        assert!(
            parse(v.clone())
                .unwrap_err()
                .to_string()
                .contains("command of the agent gateway")
        );
        v["commands"]["prefix"] = serde_json::json!("jobs");
        assert!(parse(v.clone()).is_err());
        v["commands"]["prefix"] = serde_json::json!("/ops");
        assert!(parse(v).is_ok());
    }

    #[test]
    fn the_example_is_valid() {
        let text = include_str!("../config.example.json");
        let file =
            common::config::ConfigFile::parse(Path::new("config.example.json"), text).unwrap();
        file.validate_shared().unwrap();
        assert!(
            file.graph_settings()
                .unwrap()
                .is_some_and(|g| g.key == "graph")
        );
        let c: Config = file.section("poll-teams").unwrap();
        c.validate(Path::new("config.example.json")).unwrap();
        assert_eq!(c.sources().len(), 4);
        assert_eq!(c.sources()[2].mode, Mode::Journal, "the default");
    }

    #[test]
    fn reply_targets_need_channel_and_to() {
        let v =
            serde_json::json!({"chats": [{"id": "c", "reply": {"channel": "last", "to": "x"}}]});
        assert!(parse(v).unwrap_err().to_string().contains("chats[0].reply"));
    }
}
