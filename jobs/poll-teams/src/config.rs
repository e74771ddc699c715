//! The `poll-teams` section of config.json: which chats to read, who may talk to the agent,
//! where the inbox is, and the operator commands' argv lists.

use anyhow::Result;
use common::config_error;
use graph::GraphConfig;
use serde::Deserialize;
use std::path::PathBuf;

/// `poll-teams` in config.json.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Microsoft Graph and identity-platform settings (shared with publish-report).
    pub graph: GraphConfig,
    /// Chat ids to read (1:1 `19:…@unq.gbl.spaces` and group `19:…@thread.v2`).
    pub chats: Vec<String>,
    /// Channels to read through `messages/delta` (root messages; no commands there).
    pub channels: Vec<ChannelRef>,
    /// AAD object id of the agent's own account: its messages are skipped.
    pub self_user_id: Option<String>,
    /// AAD object ids with full access (messages delivered, commands executed).
    pub operators: Vec<String>,
    /// AAD object ids with elevated access (messages delivered, no commands).
    pub trusted: Vec<String>,
    /// The Maildir-style inbox (relative to the root).
    pub inbox_dir: PathBuf,
    /// First run of a chat: deliver only messages modified in the last this many seconds.
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
    /// Operator commands.
    pub commands: CommandsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            graph: GraphConfig::default(),
            chats: Vec::new(),
            channels: Vec::new(),
            self_user_id: None,
            operators: Vec::new(),
            trusted: Vec::new(),
            inbox_dir: PathBuf::from("state/inbox/teams"),
            backfill_secs: 3600,
            page_size: 50,
            max_body_bytes: 64 * 1024,
            keep_rejected: false,
            watch_interval_secs: 5.0,
            remember_messages: 2000,
            commands: CommandsConfig::default(),
        }
    }
}

/// One channel: `{"team": "<team id>", "channel": "19:…@thread.tacv2"}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelRef {
    pub team: String,
    pub channel: String,
}

/// `poll-teams.commands`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommandsConfig {
    /// Execute operator commands at all.
    pub enabled: bool,
    /// Post replies to the chat (needs `graph.grant` = `password`).
    pub reply: bool,
    /// Timeout of one command, seconds.
    pub timeout_secs: u64,
    /// `/reset`: the gateway-restart argv, e.g. `["systemctl", "--user", "restart", "openclaw-gateway"]`.
    pub reset: Option<Vec<String>>,
    /// `/restore`: argv; default `[<dir of poll-teams>/backup-config, "--root", <root>, "restore"]`.
    pub restore: Option<Vec<String>>,
    /// `/reboot`: argv, run only if `reboot_enabled`.
    pub reboot: Option<Vec<String>>,
    pub reboot_enabled: bool,
}

impl Default for CommandsConfig {
    fn default() -> Self {
        CommandsConfig {
            enabled: true,
            reply: true,
            timeout_secs: 120,
            reset: None,
            restore: None,
            reboot: None,
            reboot_enabled: false,
        }
    }
}

impl Config {
    /// Checks serde cannot express (file name given for the messages).
    pub fn validate(&self, file: &std::path::Path) -> Result<()> {
        let f = file.display();
        self.graph
            .validate("poll-teams.graph")
            .map_err(|e| config_error(format!("{f}: {e}")))?;
        if self.chats.is_empty() && self.channels.is_empty() {
            return Err(config_error(format!(
                "{f}: `poll-teams.chats` is empty: list the chat ids to read (Graph: GET /me/chats)"
            )));
        }
        for (i, c) in self.channels.iter().enumerate() {
            for (k, v) in [("team", &c.team), ("channel", &c.channel)] {
                if v.trim().is_empty() || v.chars().any(char::is_control) {
                    return Err(config_error(format!(
                        "{f}: `poll-teams.channels[{i}].{k}` is empty or has control characters"
                    )));
                }
            }
        }
        for (i, c) in self.chats.iter().enumerate() {
            if c.trim().is_empty() || c.chars().any(char::is_control) {
                return Err(config_error(format!(
                    "{f}: `poll-teams.chats[{i}]` is empty or has control characters"
                )));
            }
        }
        if !(1..=50).contains(&self.page_size) {
            return Err(config_error(format!(
                "{f}: `poll-teams.page_size` is {}; Graph allows 1 to 50",
                self.page_size
            )));
        }
        if self.operators.is_empty() {
            log::debug!("no operators configured: commands are disabled");
        }
        for (k, list) in [("operators", &self.operators), ("trusted", &self.trusted)] {
            if let Some((i, _)) = list.iter().enumerate().find(|(_, v)| v.trim().is_empty()) {
                return Err(config_error(format!(
                    "{f}: `poll-teams.{k}[{i}]` is empty: give AAD object ids (from.user.id), not names"
                )));
            }
        }
        if !(self.watch_interval_secs.is_finite() && self.watch_interval_secs >= 0.5) {
            return Err(config_error(format!(
                "{f}: `poll-teams.watch_interval_secs` must be at least 0.5"
            )));
        }
        if self.max_body_bytes < 256 {
            return Err(config_error(format!(
                "{f}: `poll-teams.max_body_bytes` must be at least 256"
            )));
        }
        for (k, v) in [
            ("reset", &self.commands.reset),
            ("restore", &self.commands.restore),
            ("reboot", &self.commands.reboot),
        ] {
            if v.as_ref().is_some_and(|a| a.is_empty()) {
                return Err(config_error(format!(
                    "{f}: `poll-teams.commands.{k}` is an empty list: give an argv such as [\"systemctl\", \"--user\", \"restart\", \"openclaw-gateway\"]"
                )));
            }
        }
        if self.commands.reboot_enabled && self.commands.reboot.is_none() {
            return Err(config_error(format!(
                "{f}: `poll-teams.commands.reboot_enabled` is true but `poll-teams.commands.reboot` is not set"
            )));
        }
        Ok(())
    }
}
