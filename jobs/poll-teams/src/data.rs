//! What poll-teams keeps between runs (`data` in `state/poll-teams.json`), and the migration
//! of older state files. The outcome of every side effect (a command, a reply, a delivery into
//! the gateway) is in the runtime's effect journal (`effects`), keyed `command/<chat>#<id>`,
//! `reply/<chat>#<id>` and `deliver/<event file>`; this file holds the job's own view.

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};

/// Version of the state file. 1: commands and replies kept their own status; 2: they are on
/// the effect journal, and the delivery, conversation and detector records exist.
pub const SCHEMA_VERSION: u32 = 2;

/// The job's state.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Data {
    pub chats: BTreeMap<String, ChatState>,
    /// Per-channel progress, by `<team id>/<channel id>`.
    pub channels: BTreeMap<String, ChatState>,
    /// Operator commands by `<chat>#<message id>` (their outcome is in the effect journal).
    pub commands: BTreeMap<String, CommandRecord>,
    /// Denied sender id → day (UTC) it was last logged.
    pub denied_logged: BTreeMap<String, String>,
    /// Who said what recently, per source key: for catch-up and the detectors.
    pub conversations: BTreeMap<String, Conversation>,
    /// Delivery of inbox events into the gateway.
    pub delivery: DeliveryState,
    /// What the detectors found.
    pub detections: Detections,
    /// Ids of the messages poll-teams itself posted (command replies): not the agent's replies.
    pub own_posts: VecDeque<String>,
}

/// Per-chat (or per-channel) intake progress.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ChatState {
    /// `lastModifiedDateTime` of the newest message handled.
    pub watermark: Option<DateTime<Utc>>,
    /// Ids handled at exactly the watermark.
    pub boundary: Vec<String>,
    /// Recently delivered message id → content hash (edits, deletions, reactions).
    pub known: BTreeMap<String, String>,
    pub last_poll: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Channels: the `@odata.deltaLink` to read changes from next time.
    pub delta_link: Option<String>,
}

/// One operator command message. Whether it ran is the effect `command/<key>`; whether its
/// reply was posted is the effect `reply/<key>`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CommandRecord {
    pub chat: String,
    pub message_id: String,
    /// The command's name (`status`, `restart-gateway`, …).
    pub command: String,
    pub from: String,
    #[serde(default)]
    pub from_name: Option<String>,
    pub at: DateTime<Utc>,
    /// `Some(true)` succeeded, `Some(false)` failed, `None` not finished (or outcome unknown).
    #[serde(default)]
    pub ok: Option<bool>,
    /// One line for people.
    #[serde(default)]
    pub summary: String,
    /// The reply (HTML) until it is posted.
    #[serde(default)]
    pub reply_html: String,
}

/// Bounds of the conversation records.
pub const HUMANS_KEPT: usize = 50;
pub const REPLIES_KEPT: usize = 20;
pub const AWAITING_KEPT: usize = 200;

/// Recent traffic of one chat.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Conversation {
    /// When the agent last wrote in this chat (its user account or its bot).
    pub last_reply_at: Option<DateTime<Utc>>,
    /// Recent messages of allowed people (newest last).
    pub humans: VecDeque<HumanMessage>,
    /// Recent agent replies (newest last).
    pub replies: VecDeque<ReplySeen>,
    /// Messages still waiting for an agent reply (unanswered detector).
    pub awaiting: Vec<HumanMessage>,
}

/// A message from an allowed person.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HumanMessage {
    pub id: String,
    pub at: DateTime<Utc>,
    pub sender: String,
    pub tier: String,
}

/// An agent reply as seen in the chat.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReplySeen {
    pub id: String,
    pub at: DateTime<Utc>,
    /// The newest human message before it (what it answers).
    pub after: Option<String>,
    /// Its text, normalized and cut (for the duplicate detector).
    pub text: String,
}

/// Delivery into the gateway.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DeliveryState {
    /// Requests whose effect is not settled as done, by event file name: the exact body is
    /// kept so a repeat after a crash is byte-identical (the gateway replays a key only for
    /// the same payload).
    pub in_flight: BTreeMap<String, InFlight>,
    /// Events whose last attempt failed and that wait before the next one.
    pub retry: BTreeMap<String, RetryState>,
    /// What poll-teams saw of the gateway.
    pub gateway: GatewayHealth,
    pub delivered: u64,
    pub rejected: u64,
    pub expired: u64,
    pub answered_live: u64,
    pub not_for_agent: u64,
    pub last_delivery_at: Option<DateTime<Utc>>,
    /// Gauges as of the last pass.
    pub pending: u64,
    /// The last count of the inbox's `new/` that can be reused while the directory is
    /// unchanged (`Inbox::count_new`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_counted: Option<NewCount>,
    pub waiting: u64,
    pub blocked: u64,
    pub last_error: Option<String>,
}

/// A count of the inbox's `new/` and the directory it was taken from: its inode and its
/// modification time, which changes whenever an entry is added, removed or renamed in or out.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct NewCount {
    pub dev: u64,
    pub ino: u64,
    pub mtime_sec: i64,
    pub mtime_nsec: i64,
    pub count: u64,
}

/// A delivery under way.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InFlight {
    pub body: Value,
    pub name: String,
    pub first_at: DateTime<Utc>,
}

/// A delivery that failed and waits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RetryState {
    pub attempts: u32,
    pub next_at: DateTime<Utc>,
    pub last_error: String,
}

/// Windows in which the gateway was seen down.
pub const DOWN_WINDOWS_KEPT: usize = 20;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct GatewayHealth {
    /// Last time it answered (probe or admitted delivery).
    pub last_up_at: Option<DateTime<Utc>>,
    /// Set while it does not answer: from the last time it did.
    pub down_since: Option<DateTime<Utc>>,
    /// Closed windows `[from, to]`, newest last.
    pub windows: Vec<DownWindow>,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DownWindow {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// Cases kept for `status` (newest last).
pub const CASES_KEPT: usize = 50;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Detections {
    pub unanswered: u64,
    pub duplicate_replies: u64,
    pub cases: VecDeque<Case>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Case {
    /// `unanswered` or `duplicate-reply`.
    pub kind: String,
    pub chat: String,
    pub message_id: String,
    pub at: DateTime<Utc>,
    pub detail: String,
    /// The operator was alerted (the case is queued until then).
    #[serde(default)]
    pub alerted: bool,
}

/// Push onto a bounded queue, dropping the oldest.
pub fn push_bounded<T>(q: &mut VecDeque<T>, item: T, max: usize) {
    q.push_back(item);
    while q.len() > max {
        q.pop_front();
    }
}

/// Migrate a whole state file (JSON) from `from` to [`SCHEMA_VERSION`].
pub fn migrate(from: u32, mut state: Value) -> Result<Value> {
    if from < 2 {
        migrate_commands_to_effects(&mut state);
    }
    Ok(state)
}

/// Schema 1 kept `data.commands[key] = {command: "/status", status, result, reply, reply_html,
/// reply_id, …}`. Their outcomes move into the effect journal (`command/<key>`, `reply/<key>`)
/// and the records keep what they were.
fn migrate_commands_to_effects(state: &mut Value) {
    let Some(cmds) = state
        .get_mut("data")
        .and_then(|d| d.get_mut("commands"))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let mut effects: Vec<(String, Value)> = Vec::new();
    for (key, rec) in cmds.iter_mut() {
        let s = |k: &str| rec.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let (status, reply, reply_html) = (s("status"), s("reply"), s("reply_html"));
        let name = crate::commands::Command::from_word(s("command").trim_start_matches('/'))
            .map(|c| c.name().to_string())
            .unwrap_or_else(|| s("command"));
        let at = rec.get("at").cloned().unwrap_or(Value::Null);
        let finished = rec.get("finished_at").cloned().unwrap_or(Value::Null);
        let effect_status = match status.as_str() {
            "done" => "done",
            "failed" => "failed",
            _ => "unknown",
        };
        effects.push((
            format!("command/{key}"),
            json!({"what": format!("run `{name}` (before schema 2)"), "status": effect_status,
                   "attempts": 1, "done": u32::from(effect_status == "done"), "first_at": at,
                   "started_at": at, "finished_at": finished, "result": s("result")}),
        ));
        let reply_status = match reply.as_str() {
            "sent" => Some("done"),
            "failed" => Some("failed"),
            "sending" | "unknown" => Some("unknown"),
            _ => None,
        };
        if let Some(rs) = reply_status {
            effects.push((
                format!("reply/{key}"),
                json!({"what": format!("reply to `{name}` (before schema 2)"), "status": rs,
                       "attempts": 1, "done": u32::from(rs == "done"), "first_at": at,
                       "started_at": finished, "finished_at": finished,
                       "value": rec.get("reply_id").cloned().unwrap_or(Value::Null)}),
            ));
        }
        let ok = match status.as_str() {
            "done" => json!(true),
            "failed" => json!(false),
            _ => Value::Null,
        };
        *rec = json!({"chat": s("chat"), "message_id": s("message_id"), "command": name,
                      "from": s("from"), "from_name": rec.get("from_name").cloned().unwrap_or(Value::Null),
                      "at": at, "ok": ok, "summary": s("result"),
                      "reply_html": if reply == "pending" { reply_html } else { String::new() }});
    }
    if let Some(obj) = state.as_object_mut() {
        let journal = obj.entry("effects").or_insert_with(|| json!({}));
        if let Some(j) = journal.as_object_mut() {
            for (k, v) in effects {
                j.entry(k).or_insert(v);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use common::contracts::effect::{EffectRecord, EffectStatus};

    #[test]
    fn schema_1_commands_move_onto_the_effect_journal() {
        let v1 = json!({"schema_version": 1, "job": "poll-teams", "effects": {}, "data": {
        "chats": {"c": {"watermark": "2026-01-01T00:00:00Z"}},
        "commands": {
            "c#1": {"chat": "c", "message_id": "1", "command": "/reset", "from": "op", "from_name": "Op",
                    "status": "running", "at": "2026-01-01T00:00:00Z", "finished_at": null,
                    "result": "", "reply": "none", "reply_html": ""},
            "c#2": {"chat": "c", "message_id": "2", "command": "/status", "from": "op", "from_name": null,
                    "status": "done", "at": "2026-01-01T00:01:00Z", "finished_at": "2026-01-01T00:01:01Z",
                    "result": "reported", "reply": "sent", "reply_html": "", "reply_id": "99"},
            "c#3": {"chat": "c", "message_id": "3", "command": "/help", "from": "op", "from_name": null,
                    "status": "done", "at": "2026-01-01T00:02:00Z", "finished_at": "2026-01-01T00:02:01Z",
                    "result": "listed", "reply": "pending", "reply_html": "<p>Commands</p>"}
        }}});
        let v2 = migrate(1, v1).unwrap();
        let data: Data = serde_json::from_value(v2["data"].clone()).unwrap();
        assert_eq!(data.commands["c#1"].command, "restart-gateway");
        assert_eq!(data.commands["c#1"].ok, None);
        assert_eq!(data.commands["c#3"].reply_html, "<p>Commands</p>");
        assert!(data.chats["c"].watermark.is_some());
        let effects: BTreeMap<String, EffectRecord> =
            serde_json::from_value(v2["effects"].clone()).unwrap();
        assert_eq!(effects["command/c#1"].status, EffectStatus::Unknown);
        assert_eq!(effects["command/c#2"].status, EffectStatus::Done);
        assert_eq!(effects["reply/c#2"].status, EffectStatus::Done);
        assert_eq!(effects["reply/c#2"].value, Some(json!("99")));
        assert!(
            !effects.contains_key("reply/c#3"),
            "a pending reply is still to post"
        );
        assert!(!effects.contains_key("reply/c#1"));
    }
}
