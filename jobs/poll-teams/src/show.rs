//! `poll-teams status`: what the job knows, for the operator at a terminal (read-only).

use crate::config::Config;
use crate::data::Data;
use common::Ctx;
use common::contracts::effect::EffectStatus;

fn time(t: Option<chrono::DateTime<chrono::Utc>>, none: &str) -> String {
    t.map(graph::format_time)
        .unwrap_or_else(|| none.to_string())
}

/// `poll-teams status --json`: one document (documented in `docs/jobs/poll-teams.md`,
/// "Machine-readable output"): `job`, `as_of`, `last_run`, `last_success`, `facts` (the
/// published `InboxFacts`), `sources` (one per chat or channel: `kind`, `key`, `name`, `mode`,
/// `bare_commands`, `watermark`, `last_poll`, `remembered`, `last_error`), `inbox` (`dir`,
/// `new`, `cur`, `rejected`) and `commands` (the effect journal's records of commands and
/// replies, by key).
pub fn print_json(ctx: &Ctx<Data>, cfg: &Config) {
    use serde_json::json;
    let d = &ctx.state.data;
    let sources: Vec<serde_json::Value> = cfg
        .sources()
        .iter()
        .map(|s| {
            let cs = if s.is_channel {
                d.channels.get(&s.key)
            } else {
                d.chats.get(&s.key)
            }
            .cloned()
            .unwrap_or_default();
            json!({
                "kind": if s.is_channel { "channel" } else { "chat" },
                "key": s.key,
                "name": s.name,
                "mode": s.mode.as_str(),
                "bare_commands": s.bare_commands,
                "watermark": cs.watermark,
                "last_poll": cs.last_poll,
                "remembered": cs.known.len(),
                "last_error": cs.last_error,
            })
        })
        .collect();
    let ib = ctx.paths.resolve(&cfg.inbox_dir);
    let count = |sub: &str| {
        std::fs::read_dir(ib.join(sub))
            .map(|r| r.count())
            .unwrap_or(0)
    };
    let commands: std::collections::BTreeMap<&String, &common::contracts::effect::EffectRecord> =
        ctx.state
            .effects
            .iter()
            .filter(|(k, _)| k.starts_with("command/") || k.starts_with("reply/"))
            .collect();
    let doc = json!({
        "job": "poll-teams",
        "as_of": ctx.now(),
        "last_run": ctx.state.last_run,
        "last_success": ctx.state.last_success,
        "facts": crate::facts_of(d),
        "sources": sources,
        "inbox": {"dir": ib, "new": count("new"), "cur": count("cur"), "rejected": count("rejected") / 2},
        "commands": commands,
    });
    println!("{doc}");
}

/// Print the status.
pub fn print(ctx: &Ctx<Data>, cfg: &Config) {
    let d = &ctx.state.data;
    println!("poll-teams status ({})", ctx.paths.root.display());
    for s in cfg.sources() {
        let cs = if s.is_channel {
            d.channels.get(&s.key)
        } else {
            d.chats.get(&s.key)
        }
        .cloned()
        .unwrap_or_default();
        println!(
            "  {} {}{}\n    mode: {}{}\n    watermark: {}\n    last poll: {}\n    remembered messages: {}{}",
            if s.is_channel { "channel" } else { "chat" },
            s.key,
            if s.name != s.key {
                format!(" ({})", s.name)
            } else {
                String::new()
            },
            s.mode.as_str(),
            if s.bare_commands {
                ", bare command words on"
            } else {
                ""
            },
            time(
                cs.watermark,
                "none (first run backfills the last backfill_secs)"
            ),
            time(cs.last_poll, "never"),
            cs.known.len(),
            cs.last_error
                .map(|e| format!("\n    last error: {e}"))
                .unwrap_or_default()
        );
    }
    print_inbox(ctx, cfg);
    print_delivery(d);
    print_detections(d);
    print_commands(ctx);
    for (k, v) in &ctx.state.metrics {
        println!("  metric {k}: {v}");
    }
}

fn print_inbox(ctx: &Ctx<Data>, cfg: &Config) {
    let ib = ctx.paths.resolve(&cfg.inbox_dir);
    let count = |sub: &str| {
        std::fs::read_dir(ib.join(sub))
            .map(|r| r.count())
            .unwrap_or(0)
    };
    println!(
        "  inbox {}: {} new, {} cur, {} rejected (with reasons)",
        ib.display(),
        count("new"),
        count("cur"),
        count("rejected") / 2
    );
}

fn print_delivery(d: &Data) {
    let del = &d.delivery;
    println!(
        "  gateway: {} delivered, {} answered live, {} refused, {} expired, {} waiting; last delivery {}",
        del.delivered,
        del.answered_live,
        del.rejected,
        del.expired,
        del.waiting,
        time(del.last_delivery_at, "never")
    );
    match del.gateway.down_since {
        Some(t) => println!(
            "  gateway down since {} ({})",
            graph::format_time(t),
            del.gateway.last_error.as_deref().unwrap_or("no answer")
        ),
        None => println!(
            "  gateway last answered {}",
            time(del.gateway.last_up_at, "never")
        ),
    }
    for (name, f) in &del.in_flight {
        println!(
            "  unsettled delivery {name} (since {}): checked in the gateway's log next pass; `poll-teams redeliver {name}` sends it again",
            graph::format_time(f.first_at)
        );
    }
    for (name, r) in &del.retry {
        println!(
            "  retry {name}: attempt {} failed ({}), next at {}",
            r.attempts,
            r.last_error,
            graph::format_time(r.next_at)
        );
    }
}

fn print_detections(d: &Data) {
    println!(
        "  detectors: {} unanswered, {} duplicated replies",
        d.detections.unanswered, d.detections.duplicate_replies
    );
    for c in d.detections.cases.iter().rev().take(10) {
        println!(
            "  {} {}: {}",
            c.at.format("%Y-%m-%d %H:%M:%S"),
            c.kind,
            c.detail
        );
    }
}

fn print_commands(ctx: &Ctx<Data>) {
    let d = &ctx.state.data;
    let mut recs: Vec<(&String, &crate::data::CommandRecord)> = d.commands.iter().collect();
    recs.sort_by_key(|(_, r)| r.at);
    if recs.is_empty() {
        println!("  no operator commands yet");
    }
    let status = |key: &str| {
        ctx.effect_record(key)
            .map(|r| r.status)
            .map_or("not recorded", EffectStatus::as_str)
    };
    for (k, r) in recs.iter().rev().take(10) {
        println!(
            "  {} {} from {}: {} ({}), reply {}",
            r.at.format("%Y-%m-%d %H:%M:%S"),
            r.command,
            r.from_name.as_deref().unwrap_or(&r.from),
            status(&format!("command/{k}")),
            r.summary,
            status(&format!("reply/{k}"))
        );
    }
}
