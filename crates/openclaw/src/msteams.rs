//! What the gateway's config says about its Microsoft Teams channel (`channels.msteams`): whom
//! it lets in, and whether it can read a given chat.
//!
//! Verified against OpenClaw 2026.9.6 docs (`channels/msteams/setup.md`, `channels/pairing.md`,
//! `channels/access-groups.md`, `concepts/agent-bindings.md`): the Teams channel is the external
//! plugin `@openclaw/msteams` (not in the 2026.9.6 package; only its config type and doctor
//! rules are), reached by Bot Framework. It only sees conversations the bot is a member of.
//! DMs pass `dmPolicy` (`pairing` by default; approved senders are kept in the gateway's
//! database, not in the config) and `allowFrom` (AAD object ids or `accessGroup:<name>`);
//! groups and channels pass `groupPolicy` (`allowlist` by default) and `groupAllowFrom`
//! (sender ids, access groups or conversation ids; falls back to `allowFrom`), and, when
//! present, the `teams.<team>.channels.<conversation>` map.
//!
//! So the config can prove that the gateway does *not* read a chat (no channel, channel
//! disabled, policy `disabled`) or that it is meant to (the conversation id is listed); it can
//! never prove that the bot is a member, that the plugin is installed, or who was approved
//! by pairing.

use crate::config::GatewayConfig;
use serde_json::Value;

/// The Teams settings of a gateway config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Teams {
    /// `channels.msteams` exists and `enabled` is not `false`.
    pub enabled: bool,
    /// `dmPolicy` (default `pairing`).
    pub dm_policy: String,
    /// `groupPolicy` (default `allowlist`).
    pub group_policy: String,
    /// `allowFrom` entries as written.
    pub allow_from: Vec<String>,
    /// `groupAllowFrom` entries as written (`None`: falls back to `allowFrom`).
    pub group_allow_from: Option<Vec<String>>,
    /// Conversation ids under `teams.<team>.channels`.
    pub team_channels: Vec<String>,
}

/// Whether the gateway reads a chat, as far as its config can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reads {
    /// The config names this conversation.
    Yes(String),
    /// The config allows it; whether the bot is in the chat is not in the config.
    Maybe(String),
    /// The config rules it out.
    No(String),
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    v.and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    })
}

/// A Teams conversation id (`19:…@thread.v2|tacv2|skype`), with any `;messageid=` dropped.
fn conversation(entry: &str) -> Option<&str> {
    let e = entry.split(';').next().unwrap_or(entry);
    (e.starts_with("19:") && e.contains("@thread.")).then_some(e)
}

impl Teams {
    /// Read `channels.msteams` from a loaded config.
    pub fn from_config(cfg: &GatewayConfig) -> Teams {
        let Some(t) = cfg.get("channels.msteams").filter(|v| v.is_object()) else {
            return Teams::default();
        };
        let s = |k: &str, d: &str| {
            t.get(k)
                .and_then(Value::as_str)
                .unwrap_or(d)
                .to_ascii_lowercase()
        };
        let mut team_channels = Vec::new();
        if let Some(teams) = t.get("teams").and_then(Value::as_object) {
            for team in teams.values() {
                if let Some(ch) = team.get("channels").and_then(Value::as_object) {
                    team_channels.extend(ch.keys().cloned());
                }
            }
        }
        Teams {
            enabled: t.get("enabled") != Some(&Value::Bool(false)),
            dm_policy: s("dmPolicy", "pairing"),
            group_policy: s("groupPolicy", "allowlist"),
            allow_from: strings(t.get("allowFrom")).unwrap_or_default(),
            group_allow_from: strings(t.get("groupAllowFrom")),
            team_channels,
        }
    }

    /// The sender allow-list usable as AAD object ids, and the entries that are not (access
    /// groups, `*`), which a reader cannot resolve to people.
    pub fn allow_from_ids(&self) -> (Vec<String>, Vec<String>) {
        let mut ids = Vec::new();
        let mut other = Vec::new();
        for e in &self.allow_from {
            let e = e.trim();
            if e.is_empty() {
                continue;
            }
            if e == "*" || e.starts_with("accessGroup:") || e.contains(':') {
                other.push(e.to_string());
            } else {
                ids.push(e.to_string());
            }
        }
        (ids, other)
    }

    /// Whether the gateway reads chat `id` (1:1 `…@unq.gbl.spaces`, group `…@thread.v2`, or a
    /// channel `…@thread.tacv2`).
    pub fn reads(&self, id: &str) -> Reads {
        if !self.enabled {
            return Reads::No("the gateway config has no enabled `channels.msteams`".into());
        }
        let unknowable = "whether the bot is a member of the chat and whether the @openclaw/msteams plugin is installed are not in the config";
        if id.ends_with("@unq.gbl.spaces") || !id.contains("@thread.") {
            if self.dm_policy == "disabled" {
                return Reads::No("`channels.msteams.dmPolicy` is disabled".into());
            }
            return Reads::Maybe(format!(
                "a 1:1 chat: the gateway reads it if it is a chat with the bot (dmPolicy `{}`; senders approved by pairing are kept in the gateway's database, not in the config); {unknowable}",
                self.dm_policy
            ));
        }
        if self.group_policy == "disabled" {
            return Reads::No("`channels.msteams.groupPolicy` is disabled".into());
        }
        let list = self.group_allow_from.as_ref().unwrap_or(&self.allow_from);
        let key = if self.group_allow_from.is_some() {
            "groupAllowFrom"
        } else {
            "allowFrom"
        };
        if list.iter().any(|e| conversation(e) == Some(id)) {
            return Reads::Yes(format!(
                "its conversation id is listed in `channels.msteams.{key}`"
            ));
        }
        if self.team_channels.iter().any(|c| c == id) {
            return Reads::Yes("it is listed under `channels.msteams.teams.*.channels`".into());
        }
        if self.group_policy == "allowlist" && !self.team_channels.is_empty() {
            return Reads::No(
                "`channels.msteams.teams` lists channels and this one is not among them".into(),
            );
        }
        if self.group_policy == "allowlist" && list.is_empty() {
            return Reads::No(format!(
                "`groupPolicy` is allowlist and `channels.msteams.{key}` is empty"
            ));
        }
        Reads::Maybe(format!(
            "`groupPolicy` is `{}`: the gateway reads any group chat the bot is in whose senders pass `{key}`; {unknowable}",
            self.group_policy
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn teams(json: &str) -> Teams {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("openclaw.json");
        std::fs::write(&p, json).unwrap();
        Teams::from_config(&crate::config::load(&p).unwrap())
    }

    const GROUP: &str = "19:2da4c29f6d7041eca70b638b43d45437@thread.v2";
    const DM: &str = "19:a_b@unq.gbl.spaces";

    #[test]
    fn no_channel_means_not_read() {
        assert!(matches!(teams("{}").reads(GROUP), Reads::No(_)));
        assert!(matches!(
            teams(r#"{channels:{msteams:{enabled:false}}}"#).reads(DM),
            Reads::No(_)
        ));
    }

    #[test]
    fn listed_conversations_are_read_and_others_may_be() {
        let t = teams(&format!(
            r#"{{channels:{{msteams:{{groupAllowFrom:["{GROUP};messageid=1","aad-1"], allowFrom:["aad-1","accessGroup:ops","*"]}}}}}}"#
        ));
        assert!(matches!(t.reads(GROUP), Reads::Yes(_)));
        assert!(matches!(t.reads("19:other@thread.v2"), Reads::Maybe(_)));
        assert!(matches!(t.reads(DM), Reads::Maybe(m) if m.contains("pairing")));
        let (ids, other) = t.allow_from_ids();
        assert_eq!(ids, ["aad-1"]);
        assert_eq!(other, ["accessGroup:ops", "*"]);
    }

    #[test]
    fn policies_rule_chats_out() {
        let t = teams(r#"{channels:{msteams:{dmPolicy:"disabled", groupPolicy:"disabled"}}}"#);
        assert!(matches!(t.reads(DM), Reads::No(_)));
        assert!(matches!(t.reads(GROUP), Reads::No(_)));
        let t = teams(r#"{channels:{msteams:{}}}"#);
        assert!(
            matches!(t.reads(GROUP), Reads::No(m) if m.contains("empty")),
            "allowlist with nothing listed"
        );
    }
}
