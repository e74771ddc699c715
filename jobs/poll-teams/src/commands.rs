//! Operator commands sent to the agent's chat: `/jobs status`, `/jobs stop`, `/jobs start`,
//! `/jobs restart-gateway`, `/jobs restore`, `/jobs reboot`, `/jobs help` (the prefix is
//! `commands.prefix`). The bare words of earlier versions (`/status`, `/stop`, `/start`,
//! `/reset`, `/restore`, `/reboot`, `/help`) are the gateway's own commands and are only taken
//! in chats that opt in (`bare_commands`).
//!
//! Each command is an effect (`command/<chat>#<message id>`) and so is its reply
//! (`reply/<chat>#<message id>`): the intent is on disk before anything runs, the result after.
//! A run that dies mid-command leaves it `unknown`: commands marked idempotent in
//! `commands.idempotent` run again, the others are reported "outcome unknown" and never
//! repeated. A reply that may have reached Graph is never posted twice.

use crate::config::Config;
use crate::data::{CommandRecord, Data, push_bounded};
use anyhow::Result;
use chrono::{DateTime, Utc};
use common::Ctx;
use common::contracts::control::Control;
use common::contracts::effect::EffectStatus;
use common::effect::{Act, EffectOutcome};
use common::exit::one_line;
use common::html::escape;
use graph::Graph;
use std::path::PathBuf;
use std::time::Duration;

/// The commands, in `help` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Status,
    Stop,
    Start,
    RestartGateway,
    Restore,
    Reboot,
    Help,
    /// `<prefix> <something else>`: answered with the list.
    Unknown,
}

/// Every command name (for messages).
pub const NAMES: &[&str] = &[
    "status",
    "stop",
    "start",
    "restart-gateway",
    "restore",
    "reboot",
    "help",
];

impl Command {
    /// The command named `word` (case-insensitive; `reset` is the old name of
    /// `restart-gateway`).
    pub fn from_word(word: &str) -> Option<Command> {
        Some(match word.trim().to_ascii_lowercase().as_str() {
            "status" => Command::Status,
            "stop" => Command::Stop,
            "start" => Command::Start,
            "restart-gateway" | "reset" => Command::RestartGateway,
            "restore" => Command::Restore,
            "reboot" => Command::Reboot,
            "help" => Command::Help,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Command::Status => "status",
            Command::Stop => "stop",
            Command::Start => "start",
            Command::RestartGateway => "restart-gateway",
            Command::Restore => "restore",
            Command::Reboot => "reboot",
            Command::Help => "help",
            Command::Unknown => "unknown",
        }
    }

    fn about(self) -> &'static str {
        match self {
            Command::Status => {
                "each job's last run and facts, the pause switch and the rate-limit circuit"
            }
            Command::Stop => "pause the other jobs (state/control.json)",
            Command::Start => "resume the other jobs",
            Command::RestartGateway => "restart the agent gateway (watch-gateway's restart step)",
            Command::Restore => "restore the agent's config from the last good backup",
            Command::Reboot => "reboot the host (configured command, must be enabled)",
            Command::Help | Command::Unknown => "this list",
        }
    }
}

/// The bare words of earlier versions, taken only where `bare_commands` is on.
const BARE: &[&str] = &[
    "/status", "/stop", "/start", "/reset", "/restore", "/reboot", "/help",
];

/// The command a message's plain text is, if it is exactly one: `<prefix> <name>` (or the
/// prefix alone, meaning help), or one of the bare words when `bare` is on. Whitespace and
/// letter case are ignored; anything more is not a command.
pub fn parse(text: &str, prefix: &str, bare: bool) -> Option<Command> {
    let t = text.trim();
    let mut words = t.split_whitespace();
    let first = words.next()?;
    if first.eq_ignore_ascii_case(prefix.trim()) {
        let rest: Vec<&str> = words.collect();
        return Some(match rest.as_slice() {
            [] => Command::Help,
            [w] => Command::from_word(w).unwrap_or(Command::Unknown),
            _ => Command::Unknown,
        });
    }
    if bare && words.next().is_none() && BARE.iter().any(|b| b.eq_ignore_ascii_case(first)) {
        return Command::from_word(&first[1..]);
    }
    None
}

/// State key of a command message.
pub fn key(chat: &str, message_id: &str) -> String {
    format!("{chat}#{message_id}")
}

fn command_effect(key: &str) -> String {
    format!("command/{key}")
}

fn reply_effect(key: &str) -> String {
    format!("reply/{key}")
}

/// How people see a command: `/jobs status`.
fn shown(cfg: &Config, name: &str) -> String {
    format!("{} {name}", cfg.commands.prefix.trim())
}

/// Records kept (oldest settled ones dropped first).
const KEEP: usize = 200;

/// Whether a command message was handled before (by this or an earlier run).
pub fn seen(ctx: &Ctx<Data>, chat: &str, message_id: &str) -> bool {
    let k = key(chat, message_id);
    ctx.state.data.commands.contains_key(&k) || ctx.effect_record(&command_effect(&k)).is_some()
}

/// Run one operator command (through the effect journal), then reply. Returns false when the
/// command or its reply failed.
pub fn handle(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    graph: &mut Graph,
    (chat, message_id): (&str, &str),
    command: Command,
    sender: (&str, Option<&str>),
) -> Result<bool> {
    let k = key(chat, message_id);
    if seen(ctx, chat, message_id) {
        log::debug!("{} (message {message_id}) already handled", command.name());
        return Ok(true);
    }
    let shown = shown(cfg, command.name());
    if ctx.dry_run {
        log::warn!("dry run: would execute {shown} from {}", sender.0);
        return Ok(true);
    }
    let now = ctx.now();
    ctx.state.data.commands.insert(
        k.clone(),
        CommandRecord {
            chat: chat.to_string(),
            message_id: message_id.to_string(),
            command: command.name().to_string(),
            from: sender.0.to_string(),
            from_name: sender.1.map(str::to_string),
            at: now,
            ok: None,
            summary: String::new(),
            reply_html: String::new(),
        },
    );
    prune(ctx);
    ctx.metric_add("commands", 1);
    log::info!(
        "operator {} ({}) sent {shown}",
        sender.1.unwrap_or("?"),
        sender.0
    );
    let ok = run_command(ctx, cfg, &k, command)?;
    let replied = post_reply(ctx, graph, cfg, &k)?;
    Ok(ok && replied)
}

/// Run the command of record `k` as an effect and store its result and reply.
fn run_command(ctx: &mut Ctx<Data>, cfg: &Config, k: &str, command: Command) -> Result<bool> {
    let Some(rec) = ctx.state.data.commands.get(k).cloned() else {
        return Ok(true);
    };
    let who = rec.from_name.clone().unwrap_or_else(|| rec.from.clone());
    let shown = shown(cfg, command.name());
    let idempotent = cfg
        .commands
        .idempotent
        .iter()
        .any(|n| Command::from_word(n) == Some(command));
    let mut result: Option<Executed> = None;
    let outcome = ctx
        .effect(command_effect(k), format!("run `{shown}` from {who}"))
        .idempotent(idempotent)
        .run(|ctx| {
            let r = execute(ctx, cfg, command, &who);
            let act = if r.ok {
                Act::done(r.summary.clone())
            } else {
                Act::NotDone(r.summary.clone())
            };
            result = Some(r);
            act
        })?;
    let Some(r) = result else {
        // Not run now (done or blocked before): nothing new to report.
        return Ok(!matches!(outcome, EffectOutcome::Blocked(_)));
    };
    if r.ok {
        log::info!("{shown}: {}", r.summary);
    } else {
        log::warn!("{shown} failed: {}", r.summary);
    }
    if let Some(rec) = ctx.state.data.commands.get_mut(k) {
        rec.ok = Some(r.ok);
        rec.summary = r.summary;
        if cfg.commands.reply {
            rec.reply_html = r.html;
        }
    }
    ctx.checkpoint()?;
    Ok(r.ok)
}

/// Post the pending reply of record `k` at most once. Returns false if it failed.
fn post_reply(ctx: &mut Ctx<Data>, graph: &mut Graph, cfg: &Config, k: &str) -> Result<bool> {
    let Some(rec) = ctx.state.data.commands.get(k).cloned() else {
        return Ok(true);
    };
    if rec.reply_html.is_empty() {
        return Ok(true);
    }
    let shown = shown(cfg, &rec.command);
    let mut posted: Option<String> = None;
    let outcome = ctx
        .effect(reply_effect(k), format!("reply to `{shown}`"))
        .run(|_| match graph.post_message(&rec.chat, &rec.reply_html) {
            Ok(p) => {
                posted = Some(p.id.clone());
                Act::Done(
                    format!("posted message {}", p.id),
                    Some(serde_json::Value::from(p.id)),
                )
            }
            Err(e) => {
                let act = Act::from_error(&e);
                match &act {
                    Act::Unsure(_) => log::warn!(
                        "reply to {shown}: {}; it may have been posted, not repeated",
                        one_line(&e)
                    ),
                    _ => log::error!("cannot reply to {shown}: {}", one_line(&e)),
                }
                act
            }
        })?;
    if let EffectOutcome::Skipped(_) = outcome {
        return Ok(true);
    }
    if let Some(rec) = ctx.state.data.commands.get_mut(k) {
        rec.reply_html.clear();
    }
    if let Some(id) = posted {
        push_bounded(&mut ctx.state.data.own_posts, id, KEEP);
    }
    ctx.checkpoint()?;
    // Only an attempt made now can fail now; an earlier unknown or failed one was reported
    // when it happened (and at the next start) and is never repeated.
    Ok(!matches!(&outcome, EffectOutcome::Ran(_)) || outcome.is_done())
}

/// At the start of a run: settle the commands an earlier run left behind. An unknown command
/// runs again if it is idempotent, else its operator is told "outcome unknown" (once); replies
/// still to post are posted. Returns the number that failed.
pub fn recover(ctx: &mut Ctx<Data>, cfg: &Config, graph: &mut Graph) -> Result<usize> {
    let keys: Vec<String> = ctx.state.data.commands.keys().cloned().collect();
    let mut failed = 0;
    for k in keys {
        let Some(rec) = ctx.state.data.commands.get(&k).cloned() else {
            continue;
        };
        let status = ctx.effect_record(&command_effect(&k)).map(|r| r.status);
        let replied = ctx.effect_record(&reply_effect(&k)).is_some();
        let unknown = matches!(status, None | Some(EffectStatus::Unknown));
        if unknown && rec.ok.is_none() && !replied && rec.summary.is_empty() {
            let cmd = Command::from_word(&rec.command).unwrap_or(Command::Unknown);
            let idempotent = cfg
                .commands
                .idempotent
                .iter()
                .any(|n| Command::from_word(n) == Some(cmd));
            if idempotent && status.is_some() {
                log::info!("{}: running it again (idempotent)", shown(cfg, cmd.name()));
                if !run_command(ctx, cfg, &k, cmd)? {
                    failed += 1;
                }
            } else {
                mark_unknown(ctx, cfg, &k);
            }
        }
        if !post_reply(ctx, graph, cfg, &k)? {
            failed += 1;
        }
    }
    Ok(failed)
}

fn mark_unknown(ctx: &mut Ctx<Data>, cfg: &Config, k: &str) {
    let Some(rec) = ctx.state.data.commands.get_mut(k) else {
        return;
    };
    let shown = shown(cfg, &rec.command);
    log::warn!(
        "{shown} (message {}) was running when an earlier run stopped: outcome unknown, not repeated",
        rec.message_id
    );
    rec.summary = "outcome unknown: the poller stopped while it was running".into();
    if cfg.commands.reply {
        rec.reply_html = format!(
            "<p>⚠️ {}: outcome unknown. The poller stopped while it was running, so it was not repeated; check the result and send it again if needed.</p>",
            escape(&shown)
        );
    }
}

fn prune(ctx: &mut Ctx<Data>) {
    while ctx.state.data.commands.len() > KEEP {
        let settled = |k: &str, r: &CommandRecord| {
            r.reply_html.is_empty()
                && ctx
                    .effect_record(&command_effect(k))
                    .is_some_and(|e| e.status.is_settled())
        };
        let oldest = ctx
            .state
            .data
            .commands
            .iter()
            .filter(|(k, r)| settled(k, r))
            .min_by_key(|(_, r)| r.at)
            .map(|(k, _)| k.clone());
        match oldest {
            Some(k) => {
                ctx.state.data.commands.remove(&k);
            }
            None => break,
        }
    }
}

/// What a command did.
#[derive(Debug)]
struct Executed {
    ok: bool,
    summary: String,
    html: String,
}

fn executed(ok: bool, summary: impl Into<String>, html: String) -> Executed {
    Executed {
        ok,
        summary: summary.into(),
        html,
    }
}

fn execute(ctx: &mut Ctx<Data>, cfg: &Config, command: Command, who: &str) -> Executed {
    match command {
        Command::Help | Command::Unknown => {
            let items: String = NAMES
                .iter()
                .filter_map(|n| Command::from_word(n))
                .map(|c| {
                    format!(
                        "<li><b>{}</b>: {}</li>",
                        escape(&shown(cfg, c.name())),
                        escape(c.about())
                    )
                })
                .collect();
            let note = if command == Command::Unknown {
                "<p>Unknown command.</p>"
            } else {
                ""
            };
            executed(
                command == Command::Help,
                if command == Command::Help {
                    "listed the commands"
                } else {
                    "unknown command; listed the commands"
                },
                format!("{note}<p>Commands:</p><ul>{items}</ul>"),
            )
        }
        Command::Status => {
            let html = crate::status::suite_html(ctx);
            executed(true, "reported the suite's status", html)
        }
        Command::Stop => pause(ctx, cfg, true, who),
        Command::Start => {
            // Resume the suite, and clear watch-gateway's halt after its restart budget
            // tripped (a human said go), when watch-gateway is installed beside us.
            let mut done = pause(ctx, cfg, false, who);
            if done.ok
                && let Some(argv) = sibling(ctx, "watch-gateway", "resume")
                && std::path::Path::new(&argv[0]).is_file()
            {
                let r = run_argv(cfg, command, Some(argv), "start");
                done.summary = format!("{}; watch-gateway resume: {}", done.summary, r.summary);
                done.html.push_str(&r.html);
            }
            done
        }
        Command::RestartGateway => {
            let argv = cfg
                .restart_argv()
                .or_else(|| sibling(ctx, "watch-gateway", "restart"));
            run_argv(cfg, command, argv, "restart_gateway")
        }
        Command::Restore => {
            let argv = cfg
                .commands
                .restore
                .clone()
                .or_else(|| sibling(ctx, "backup-config", "restore"));
            run_argv(cfg, command, argv, "restore")
        }
        Command::Reboot => {
            if !cfg.commands.reboot_enabled {
                let m = "disabled (set poll-teams.commands.reboot_enabled to allow it)";
                return executed(
                    false,
                    m,
                    format!("<p>{} is {}.</p>", escape(&shown(cfg, "reboot")), escape(m)),
                );
            }
            run_argv(cfg, command, cfg.commands.reboot.clone(), "reboot")
        }
    }
}

fn pause(ctx: &mut Ctx<Data>, cfg: &Config, paused: bool, who: &str) -> Executed {
    let shown = shown(cfg, if paused { "stop" } else { "start" });
    let c = Control {
        paused,
        reason: Some(format!("{shown} from Teams")),
        by: Some(who.to_string()),
        at: Some(ctx.now()),
    };
    match common::control::write_control(&ctx.paths.state_dir, &c) {
        Ok(()) => {
            let s = if paused {
                "paused the other jobs"
            } else {
                "resumed the other jobs"
            };
            executed(
                true,
                s,
                format!("<p>✅ {} ({}).</p>", escape(s), escape(who)),
            )
        }
        Err(e) => {
            let m = one_line(&e);
            executed(
                false,
                m.clone(),
                format!("<p>{} failed: {}</p>", escape(&shown), escape(&m)),
            )
        }
    }
}

/// `[<dir of poll-teams>/<job>, "--root", <root>, <sub>]`.
/// `<dir of this binary>/<job> --root <root> --wait-lock 70 <sub>`: another job's command
/// (it may be in the middle of a one-minute run, so wait for its lock rather than give up).
fn sibling(ctx: &Ctx<Data>, job: &str, sub: &str) -> Option<Vec<String>> {
    let exe = std::env::current_exe().ok()?;
    let dir: PathBuf = exe.parent()?.to_path_buf();
    Some(vec![
        dir.join(job).to_string_lossy().into_owned(),
        "--root".into(),
        ctx.paths.root.to_string_lossy().into_owned(),
        "--wait-lock".into(),
        "70".into(),
        sub.into(),
    ])
}

fn run_argv(cfg: &Config, command: Command, argv: Option<Vec<String>>, key: &str) -> Executed {
    let shown = shown(cfg, command.name());
    let Some(argv) = argv else {
        let m = format!("not configured (set poll-teams.commands.{key})");
        return executed(
            false,
            m.clone(),
            format!("<p>{} is {}.</p>", escape(&shown), escape(&m)),
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
            let mut html = format!(
                "<p>{} {}: {}</p>",
                if ok { "✅" } else { "❌" },
                escape(&shown),
                escape(&o.describe())
            );
            let out = tail(&format!("{}\n{}", o.stdout, o.stderr), 1500);
            if !out.is_empty() {
                html.push_str(&format!("<pre>{}</pre>", escape(&out)));
            }
            executed(ok, summary, html)
        }
        Err(e) => {
            let m = one_line(&e);
            executed(
                false,
                m.clone(),
                format!("<p>❌ {}: {}</p>", escape(&shown), escape(&m)),
            )
        }
    }
}

/// The last `n` bytes of `s` (trimmed), on a character boundary.
fn tail(s: &str, n: usize) -> String {
    let s = s.trim();
    let mut i = s.len().saturating_sub(n);
    while !s.is_char_boundary(i) {
        i += 1;
    }
    s[i..].to_string()
}

/// `12 s ago`, `5 min ago`, `3 h ago`, `2 days ago`.
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = now.signed_duration_since(t).num_seconds().max(0);
    match s {
        0..=89 => format!("{s} s ago"),
        90..=5399 => format!("{} min ago", s / 60),
        5400..=172_799 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86400),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_commands_are_exact() {
        assert_eq!(
            parse(" /jobs status \n", "/jobs", false),
            Some(Command::Status)
        );
        assert_eq!(parse("/JOBS Stop", "/jobs", false), Some(Command::Stop));
        assert_eq!(parse("/jobs", "/jobs", false), Some(Command::Help));
        assert_eq!(
            parse("/jobs restart-gateway", "/jobs", false),
            Some(Command::RestartGateway)
        );
        assert_eq!(
            parse("/jobs frobnicate", "/jobs", false),
            Some(Command::Unknown)
        );
        assert_eq!(
            parse("/jobs stop now", "/jobs", false),
            Some(Command::Unknown)
        );
        assert_eq!(parse("/jobsstatus", "/jobs", false), None);
        assert_eq!(parse("please /jobs status", "/jobs", false), None);
        assert_eq!(parse("/ops status", "/ops", false), Some(Command::Status));
    }

    #[test]
    fn bare_words_only_when_opted_in() {
        assert_eq!(parse("/stop", "/jobs", false), None);
        assert_eq!(parse("/stop", "/jobs", true), Some(Command::Stop));
        assert_eq!(
            parse("/Reset", "/jobs", true),
            Some(Command::RestartGateway)
        );
        assert_eq!(parse("/status please", "/jobs", true), None);
        assert_eq!(parse("/new", "/jobs", true), None);
    }

    #[test]
    fn ago_is_readable() {
        let now = Utc::now();
        assert_eq!(ago(now - chrono::Duration::seconds(30), now), "30 s ago");
        assert_eq!(ago(now - chrono::Duration::minutes(5), now), "5 min ago");
        assert_eq!(ago(now + chrono::Duration::minutes(5), now), "0 s ago");
    }
}
