//! Operator commands sent to the agent's chat: `/status`, `/stop`, `/start`, `/reset`,
//! `/restore`, `/reboot`, `/help`.
//!
//! Exactly once: the intent is recorded in state (`running`) and checkpointed before the command
//! runs, and the result after. A record still `running` at the next start means the run died
//! mid-command: it becomes `unknown` and the operator is told so, instead of running it again.
//! Replies follow the same protocol (`pending` → `sending` → `sent`), so a reply is never posted
//! twice; a reply whose POST may have reached Graph is `unknown`, never repeated.

use crate::Data;
use crate::config::Config;
use crate::html::escape;
use anyhow::Result;
use chrono::{DateTime, Utc};
use common::Ctx;
use common::control::{Control, read_circuit, read_control, write_control};
use common::exit::one_line;
use graph::Graph;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// The commands understood, in `/help` order.
pub const COMMANDS: &[(&str, &str)] = &[
    (
        "/status",
        "each job's last run, the pause switch and the rate-limit circuit",
    ),
    ("/stop", "pause the other jobs (state/control.json)"),
    ("/start", "resume the other jobs"),
    ("/reset", "restart the agent gateway (configured command)"),
    (
        "/restore",
        "restore the agent's config from the last good backup",
    ),
    (
        "/reboot",
        "reboot the host (configured command, must be enabled)",
    ),
    ("/help", "this list"),
];

/// Records kept (oldest dropped first).
const KEEP: usize = 200;

/// The command a message's plain text is, if it is exactly one (surrounding whitespace and
/// letter case ignored).
pub fn parse(text: &str) -> Option<&'static str> {
    let t = text.trim();
    COMMANDS
        .iter()
        .map(|(c, _)| *c)
        .find(|c| c.eq_ignore_ascii_case(t))
}

/// Where a command stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Running,
    Done,
    Failed,
    Unknown,
}

/// Where its reply stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyStatus {
    None,
    Pending,
    Sending,
    Sent,
    Failed,
    Unknown,
}

/// One command message and what became of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub chat: String,
    pub message_id: String,
    pub command: String,
    pub from: String,
    pub from_name: Option<String>,
    pub status: Status,
    pub at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub result: String,
    pub reply: ReplyStatus,
    /// The reply (HTML) while it is pending.
    #[serde(default)]
    pub reply_html: String,
    #[serde(default)]
    pub reply_id: Option<String>,
}

/// State key of a command message.
pub fn key(chat: &str, message_id: &str) -> String {
    format!("{chat}#{message_id}")
}

/// At start: commands the previous run left `running` become `unknown` (reported, not
/// repeated); replies left `sending` become `unknown`.
pub fn recover(ctx: &mut Ctx<Data>, reply: bool) -> Result<()> {
    let mut changed = false;
    for rec in ctx.state.data.commands.values_mut() {
        if rec.status == Status::Running {
            log::warn!(
                "{} (message {}) was running when the previous run stopped: outcome unknown, not repeated",
                rec.command,
                rec.message_id
            );
            rec.status = Status::Unknown;
            rec.finished_at = Some(Utc::now());
            rec.result = "outcome unknown: the poller stopped while it was running".into();
            if reply {
                rec.reply = ReplyStatus::Pending;
                rec.reply_html = format!(
                    "<p>⚠️ {}: outcome unknown. The poller stopped while it was running, so it was not repeated; check the result and send it again if needed.</p>",
                    escape(&rec.command)
                );
            }
            changed = true;
        }
        if rec.reply == ReplyStatus::Sending {
            log::warn!(
                "the reply to {} (message {}) may or may not have been posted; not repeated",
                rec.command,
                rec.message_id
            );
            rec.reply = ReplyStatus::Unknown;
            changed = true;
        }
    }
    if changed {
        ctx.checkpoint()?;
    }
    Ok(())
}

/// Post every pending reply (each at most once).
pub fn send_pending_replies(ctx: &mut Ctx<Data>, graph: &mut Graph) -> Result<usize> {
    let keys: Vec<String> = ctx
        .state
        .data
        .commands
        .iter()
        .filter(|(_, r)| r.reply == ReplyStatus::Pending)
        .map(|(k, _)| k.clone())
        .collect();
    let mut failed = 0;
    for k in keys {
        if !send_reply(ctx, graph, &k)? {
            failed += 1;
        }
    }
    Ok(failed)
}

/// Post the reply of one record. Returns false if it failed (logged).
fn send_reply(ctx: &mut Ctx<Data>, graph: &mut Graph, k: &str) -> Result<bool> {
    let Some(rec) = ctx.state.data.commands.get_mut(k) else {
        return Ok(true);
    };
    if rec.reply != ReplyStatus::Pending {
        return Ok(true);
    }
    if ctx.dry_run {
        log::warn!("dry run: would reply to {} in the chat", rec.command);
        return Ok(true);
    }
    rec.reply = ReplyStatus::Sending;
    let chat = rec.chat.clone();
    let html = rec.reply_html.clone();
    ctx.checkpoint()?;
    let r = graph.post_message(&chat, &html);
    let Some(rec) = ctx.state.data.commands.get_mut(k) else {
        return Ok(true);
    };
    let ok = match r {
        Ok(p) => {
            rec.reply = ReplyStatus::Sent;
            rec.reply_id = Some(p.id);
            rec.reply_html.clear();
            true
        }
        Err(e) => {
            if common::http::maybe_sent(&e) {
                rec.reply = ReplyStatus::Unknown;
                log::warn!(
                    "reply to {}: {}; it may have been posted, not repeated",
                    rec.command,
                    one_line(&e)
                );
            } else {
                rec.reply = ReplyStatus::Failed;
                log::error!("cannot reply to {}: {}", rec.command, one_line(&e));
            }
            false
        }
    };
    ctx.checkpoint()?;
    Ok(ok)
}

/// Run one operator command at most once, then reply. `sender` = (id, name).
pub fn handle(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    graph: &mut Graph,
    chat: &str,
    message_id: &str,
    command: &'static str,
    sender: (&str, Option<&str>),
) -> Result<bool> {
    let k = key(chat, message_id);
    if ctx.state.data.commands.contains_key(&k) {
        log::debug!("{command} (message {message_id}) already handled");
        return Ok(true);
    }
    if ctx.dry_run {
        log::warn!("dry run: would execute {command} from {}", sender.0);
        return Ok(true);
    }
    ctx.state.data.commands.insert(
        k.clone(),
        Record {
            chat: chat.to_string(),
            message_id: message_id.to_string(),
            command: command.to_string(),
            from: sender.0.to_string(),
            from_name: sender.1.map(str::to_string),
            status: Status::Running,
            at: Utc::now(),
            finished_at: None,
            result: String::new(),
            reply: ReplyStatus::None,
            reply_html: String::new(),
            reply_id: None,
        },
    );
    prune(&mut ctx.state.data);
    // The intent is durable before anything runs.
    ctx.checkpoint()?;
    ctx.metric_add("commands", 1);
    log::info!(
        "operator {} ({}) sent {command}",
        sender.1.unwrap_or("?"),
        sender.0
    );
    let (ok, summary, html) = execute(ctx, cfg, command, sender);
    if let Some(rec) = ctx.state.data.commands.get_mut(&k) {
        rec.status = if ok { Status::Done } else { Status::Failed };
        rec.finished_at = Some(Utc::now());
        rec.result = summary.clone();
        if cfg.commands.reply {
            rec.reply = ReplyStatus::Pending;
            rec.reply_html = html;
        }
    }
    if ok {
        log::info!("{command}: {summary}");
    } else {
        log::warn!("{command} failed: {summary}");
    }
    ctx.checkpoint()?;
    let replied = send_reply(ctx, graph, &k)?;
    Ok(ok && replied)
}

fn prune(d: &mut Data) {
    while d.commands.len() > KEEP {
        let oldest = d
            .commands
            .iter()
            .filter(|(_, r)| r.status != Status::Running)
            .min_by_key(|(_, r)| r.at)
            .map(|(k, _)| k.clone());
        match oldest {
            Some(k) => {
                d.commands.remove(&k);
            }
            None => break,
        }
    }
}

/// Run the command; returns (success, one-line summary, reply HTML).
fn execute(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    command: &str,
    sender: (&str, Option<&str>),
) -> (bool, String, String) {
    let who = sender.1.unwrap_or(sender.0).to_string();
    match command {
        "/help" => {
            let items: String = COMMANDS
                .iter()
                .map(|(c, d)| format!("<li><b>{c}</b>: {}</li>", escape(d)))
                .collect();
            (
                true,
                "listed the commands".into(),
                format!("<p>Commands:</p><ul>{items}</ul>"),
            )
        }
        "/status" => match status_html(ctx) {
            Ok(h) => (true, "reported the suite's status".into(), h),
            Err(e) => {
                let m = one_line(&e);
                (
                    false,
                    m.clone(),
                    format!("<p>/status failed: {}</p>", escape(&m)),
                )
            }
        },
        "/stop" | "/start" => {
            let paused = command == "/stop";
            let c = Control {
                paused,
                reason: Some(format!("{command} from Teams")),
                by: Some(who.clone()),
                at: Some(Utc::now()),
            };
            match write_control(&ctx.paths.state_dir, &c) {
                Ok(()) => {
                    let s = if paused {
                        "paused the other jobs".to_string()
                    } else {
                        "resumed the other jobs".to_string()
                    };
                    (
                        true,
                        s.clone(),
                        format!("<p>✅ {} ({}).</p>", escape(&s), escape(&who)),
                    )
                }
                Err(e) => {
                    let m = one_line(&e);
                    (
                        false,
                        m.clone(),
                        format!("<p>{command} failed: {}</p>", escape(&m)),
                    )
                }
            }
        }
        "/reset" => run_argv(cfg, command, cfg.commands.reset.clone()),
        "/restore" => {
            let argv = cfg
                .commands
                .restore
                .clone()
                .or_else(|| default_restore(ctx));
            run_argv(cfg, command, argv)
        }
        "/reboot" => {
            if !cfg.commands.reboot_enabled {
                let m = "disabled (set poll-teams.commands.reboot_enabled to allow it)".to_string();
                return (
                    false,
                    m.clone(),
                    format!("<p>/reboot is {}.</p>", escape(&m)),
                );
            }
            run_argv(cfg, command, cfg.commands.reboot.clone())
        }
        other => (
            false,
            format!("unknown command {other}"),
            format!("<p>Unknown command {}.</p>", escape(other)),
        ),
    }
}

fn default_restore(ctx: &Ctx<Data>) -> Option<Vec<String>> {
    let exe = std::env::current_exe().ok()?;
    let dir: PathBuf = exe.parent()?.to_path_buf();
    Some(vec![
        dir.join("backup-config").to_string_lossy().into_owned(),
        "--root".into(),
        ctx.paths.root.to_string_lossy().into_owned(),
        "restore".into(),
    ])
}

fn run_argv(cfg: &Config, command: &str, argv: Option<Vec<String>>) -> (bool, String, String) {
    let Some(argv) = argv else {
        let m = format!(
            "not configured (set poll-teams.commands.{})",
            command.trim_start_matches('/')
        );
        return (
            false,
            m.clone(),
            format!("<p>{command} is {}.</p>", escape(&m)),
        );
    };
    match common::cmd::run(
        &argv,
        Duration::from_secs(cfg.commands.timeout_secs),
        None,
        &[],
    ) {
        Ok(o) => {
            let ok = o.success();
            let summary = format!("`{}` {}", argv.join(" "), o.describe());
            let tail = |s: &str| -> String {
                let s = s.trim();
                let start = s.len().saturating_sub(1500);
                let mut i = start;
                while !s.is_char_boundary(i) {
                    i += 1;
                }
                s[i..].to_string()
            };
            let mut html = format!(
                "<p>{} {command}: {}</p>",
                if ok { "✅" } else { "❌" },
                escape(&o.describe())
            );
            let out = tail(&format!("{}\n{}", o.stdout, o.stderr));
            if !out.is_empty() {
                html.push_str(&format!("<pre>{}</pre>", escape(&out)));
            }
            (ok, summary, html)
        }
        Err(e) => {
            let m = one_line(&e);
            (
                false,
                m.clone(),
                format!("<p>❌ {command}: {}</p>", escape(&m)),
            )
        }
    }
}

fn ago(t: DateTime<Utc>) -> String {
    let s = (Utc::now() - t).num_seconds().max(0);
    match s {
        0..=89 => format!("{s} s ago"),
        90..=5399 => format!("{} min ago", s / 60),
        5400..=172_799 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86400),
    }
}

/// The suite's status as HTML: every job's last run, the pause switch, the circuit.
pub fn status_html(ctx: &Ctx<Data>) -> Result<String> {
    let dir = &ctx.paths.state_dir;
    let mut html = format!(
        "<p><b>agent-jobs status</b> on {} at {}</p>",
        escape(&ctx.host),
        Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    match read_control(dir) {
        Ok(c) if c.paused => html.push_str(&format!(
            "<p>⏸ Paused{}{}{}.</p>",
            c.by.map(|b| format!(" by {}", escape(&b)))
                .unwrap_or_default(),
            c.at.map(|a| format!(" {}", ago(a))).unwrap_or_default(),
            c.reason
                .map(|r| format!(": {}", escape(&r)))
                .unwrap_or_default()
        )),
        Ok(_) => html.push_str("<p>▶️ Running (not paused).</p>"),
        Err(e) => html.push_str(&format!(
            "<p>Pause switch unreadable: {}</p>",
            escape(&one_line(&e))
        )),
    }
    match read_circuit(dir) {
        Ok(c) if c.is_open() => html.push_str(&format!(
            "<p>🔴 Rate-limit circuit open{}{}{}.</p>",
            c.kind
                .map(|k| format!(" ({})", escape(&k)))
                .unwrap_or_default(),
            c.reason
                .map(|r| format!(": {}", escape(&r)))
                .unwrap_or_default(),
            c.reset_at
                .map(|r| format!("; expected reset {}", r.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_default()
        )),
        Ok(_) => html.push_str("<p>🟢 Rate-limit circuit closed.</p>"),
        Err(e) => html.push_str(&format!(
            "<p>Circuit unreadable: {}</p>",
            escape(&one_line(&e))
        )),
    }
    html.push_str("<ul>");
    for job in common::config::jobs() {
        let line = match common::state::read_loose(&ctx.paths.state_file(job)) {
            Ok(None) => "never ran".to_string(),
            Ok(Some(v)) => describe_job(&v),
            Err(e) => format!("state unreadable: {}", one_line(&e)),
        };
        html.push_str(&format!("<li><b>{job}</b>: {}</li>", escape(&line)));
    }
    html.push_str("</ul>");
    Ok(html)
}

fn describe_job(v: &Value) -> String {
    let Some(last) = v.get("last_run").filter(|l| !l.is_null()) else {
        return "never ran".into();
    };
    let s = |k: &str| {
        last.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let outcome = s("outcome");
    let when = last
        .get("finished_at")
        .and_then(Value::as_str)
        .and_then(graph::parse_time)
        .map(ago)
        .unwrap_or_else(|| "at an unknown time".into());
    let code = last.get("exit_code").and_then(Value::as_i64).unwrap_or(-1);
    let mut line = format!("{outcome} {when} (exit {code})");
    let detail = if s("error").is_empty() {
        s("summary")
    } else {
        s("error")
    };
    if !detail.is_empty() {
        let d: String = detail.chars().take(200).collect();
        line.push_str(&format!(": {d}"));
    }
    let fails = v
        .get("consecutive_failures")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if fails > 1 {
        line.push_str(&format!(" [{fails} failures in a row]"));
    }
    line
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_exact() {
        assert_eq!(parse(" /status \n"), Some("/status"));
        assert_eq!(parse("/Stop"), Some("/stop"));
        assert_eq!(parse("/status please"), None);
        assert_eq!(parse("please /status"), None);
        assert_eq!(parse("/new"), None);
    }

    #[test]
    fn describe_job_reads_loose_state() {
        let v = serde_json::json!({"last_run": {"outcome": "failed", "exit_code": 1,
            "finished_at": Utc::now().to_rfc3339(), "error": "boom"}, "consecutive_failures": 3});
        let d = describe_job(&v);
        assert!(
            d.starts_with("failed ")
                && d.contains("exit 1")
                && d.contains("boom")
                && d.contains("3 failures"),
            "{d}"
        );
        assert_eq!(describe_job(&serde_json::json!({})), "never ran");
    }
}
