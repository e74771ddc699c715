//! A complete suite root for the workspace-level tests: a gateway config, gateway logs, an
//! agent memory workspace, secret files and a `config.json` with every job's section, wired
//! to local fake services.

use crate::Suite;
use chrono::{Duration as ChronoDuration, Utc};
use fakes::graph::{AGENT_PASSWORD, AGENT_USER, AGENT_USER_ID, CLIENT_ID, FakeGraph, TENANT};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;

/// The Teams chat the suite watches.
pub const CHAT: &str = "19:2da4c29f6d7041eca70b638b43d45437@thread.v2";
/// An operator (full rights, runs slash commands).
pub const OPERATOR: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
/// A trusted sender.
pub const TRUSTED: &str = "8ea0e38b-efb3-4757-924a-5f94061cf8c2";
/// A sender who is not allow-listed.
pub const STRANGER: &str = "670374fa-3b0e-4a3b-9d33-0e1bc5ff1956";

/// A realistic gateway config (JSON5: comments and a trailing comma).
pub const GATEWAY_CONFIG: &str = r#"// openclaw.json
{
  "meta": { "lastTouchedVersion": "2026.2.19", "lastTouchedAt": "2026-02-20T22:07:39.706Z" },
  "agents": { "defaults": { "workspace": "/home/agent/.openclaw/workspace",
      "model": { "primary": "anthropic/claude-sonnet-4-6" },
      "bootstrapMaxChars": 20000, "bootstrapTotalMaxChars": 60000 },
    "list": [ { "id": "main", "default": true } ] },
  "channels": { "msteams": { "enabled": true, "dmPolicy": "allowlist",
      "allowFrom": ["3f2504e0-4f89-11d3-9a0c-0305e82c3301"] } },
  "cron": { "enabled": true, "maxConcurrentRuns": 1 },
  "logging": { "level": "info" },
  "gateway": { "mode": "local", "port": 18789, "bind": "loopback" },
}
"#;

/// What [`write_suite`] created.
#[derive(Debug, Clone)]
pub struct SuiteFiles {
    /// Every daily memory file written: (file name, content).
    pub memory_files: Vec<(String, String)>,
}

/// Lay out a full suite under `s`'s root and write `config.json`. `webhook` adds a webhook
/// destination to publish-report; `extra` is merged over the generated config per section.
pub fn write_suite(
    s: &Suite,
    graph: &FakeGraph,
    webhook: Option<&str>,
    extra: Value,
) -> SuiteFiles {
    s.write("secrets/graph-password", AGENT_PASSWORD);
    std::fs::set_permissions(
        s.path("secrets/graph-password"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod");
    s.write("gateway/openclaw.json", GATEWAY_CONFIG);
    let today = Utc::now().format("%Y-%m-%d");
    s.write(
        &format!("gateway/logs/openclaw-{today}.log"),
        &format!(
            "{{\"0\":\"{{\\\"subsystem\\\":\\\"gateway\\\"}}\",\"1\":\"gateway started\",\"_meta\":{{\"date\":\"{}\",\"logLevelName\":\"INFO\"}},\"time\":\"{}\"}}\n",
            Utc::now().to_rfc3339(),
            Utc::now().to_rfc3339()
        ),
    );
    let mut memory_files = Vec::new();
    s.write(
        "workspace/MEMORY.md",
        "# Memory\n\n- The operator is Dana.\n",
    );
    for back in 10..24 {
        let day = (Utc::now() - ChronoDuration::days(back))
            .format("%Y-%m-%d")
            .to_string();
        let name = format!("{day}.md");
        let text = format!(
            "# {day}\n\n## 09:14 Teams: operator asked for the numbers of day {back}\n- pulled figures, saved to reports/q{back}.md\n- decision: weekly summary goes out Mondays 08:00\n- lesson: Graph throttles chat GETs above 20 rps\n- TODO: follow up with Robin about item {back}\n"
        );
        s.write(&format!("workspace/memory/{name}"), &text);
        memory_files.push((name, text));
    }
    let mut destinations =
        vec![json!({"name": "archive", "type": "directory", "path": "reports/published"})];
    if let Some(url) = webhook {
        destinations.push(json!({"name": "ops-webhook", "type": "webhook", "url": url}));
    }
    let mut config = json!({
        "runtime": {
            "alerts": {"command": ["sh", "-c", "cat >> alerts.log; echo >> alerts.log"]},
            "http": {"max_retries": 3, "backoff_base_ms": 50, "backoff_max_secs": 1, "timeout_secs": 5}
        },
        "poll-teams": {
            "graph": {
                "token_url": graph.token_url(), "graph_url": graph.graph_url(), "tenant": TENANT,
                "client_id": CLIENT_ID, "grant": "password", "username": AGENT_USER,
                "password_file": "secrets/graph-password"
            },
            "chats": [CHAT],
            "self_user_id": AGENT_USER_ID,
            "operators": [OPERATOR],
            "trusted": [TRUSTED],
            "backfill_secs": 86400,
            "watch_interval_secs": 1
        },
        "check-ratelimit": {"logs": ["gateway/logs/openclaw-*.log"]},
        "compact-memory": {"workspace": "workspace", "timezone": "UTC", "keep_days": 7},
        "backup-config": {"files": [{"path": "gateway/openclaw.json"}], "backups_dir": "backups"},
        "publish-report": {
            "timezone": "UTC",
            "crontab": "crontab",
            "destinations": destinations
        },
        "watch-jobs": {"timezone": "UTC", "crontab": "crontab"}
    });
    if let (Value::Object(base), Value::Object(over)) = (&mut config, extra) {
        for (section, v) in over {
            match (base.get_mut(&section), v) {
                (Some(Value::Object(b)), Value::Object(o)) => {
                    for (k, x) in o {
                        b.insert(k, x);
                    }
                }
                (_, v) => {
                    base.insert(section, v);
                }
            }
        }
    }
    s.config(config);
    SuiteFiles { memory_files }
}
