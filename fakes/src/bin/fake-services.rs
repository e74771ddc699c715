//! The local fake services as a standalone process, for `scripts/demo` and the suite-wide
//! tests: fake identity platform + Graph (with a seeded demo chat), fake model providers and a
//! fake webhook, all on 127.0.0.1. Writes their addresses as JSON to `--info FILE` and runs
//! until it is killed.
//!
//! usage: fake-services --info FILE [--seed-demo] [--render TEMPLATE OUT]...
//!        [--gateway-health DIR] [--gateway-log CAPTURE OUT]
//!
//! `--render` copies TEMPLATE to OUT with every `@KEY@` replaced by the value of KEY in the
//! info (e.g. `@GRAPH_URL@`, `@WEBHOOK_URL@`), so a shell script can build a config without jq.
//!
//! `--gateway-health DIR` also starts a fake agent gateway answering `GET /healthz` and
//! `GET /readyz` from a captured `gateway-health` directory (`fakes::gateway`; info key
//! `gateway_url`). `--gateway-log CAPTURE OUT` writes a captured gateway log (JSONL) to OUT,
//! moved in time so that its newest record is now (before the info file appears).

use anyhow::{Context, Result};
use fakes::gateway::{FakeGateway, retime_log};
use fakes::graph::{AGENT_USER_ID, CLIENT_ID, FakeGraph, TENANT};
use fakes::model::FakeModel;
use fakes::webhook::Webhook;
use serde_json::json;
use std::time::Duration;

/// The demo's people (AAD object ids) and chat.
const DEMO_CHAT: &str = "19:2da4c29f6d7041eca70b638b43d45437@thread.v2";
const OPERATOR: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
const TRUSTED: &str = "8ea0e38b-efb3-4757-924a-5f94061cf8c2";
const STRANGER: &str = "670374fa-3b0e-4a3b-9d33-0e1bc5ff1956";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let mut info = None;
    let mut seed = false;
    let mut renders: Vec<(String, String)> = Vec::new();
    let mut gateway_health: Option<String> = None;
    let mut gateway_logs: Vec<(String, String)> = Vec::new();
    let mut graph_port = 0u16;
    let mut model_port = 0u16;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--info" => {
                info = args.get(i + 1).cloned();
                i += 1;
            }
            "--seed-demo" => seed = true,
            "--render" => {
                let (Some(t), Some(o)) = (args.get(i + 1), args.get(i + 2)) else {
                    anyhow::bail!("--render needs TEMPLATE OUT");
                };
                renders.push((t.clone(), o.clone()));
                i += 2;
            }
            "--gateway-health" => {
                gateway_health = Some(
                    args.get(i + 1)
                        .cloned()
                        .context("--gateway-health needs DIR")?,
                );
                i += 1;
            }
            "--gateway-log" => {
                let (Some(c), Some(o)) = (args.get(i + 1), args.get(i + 2)) else {
                    anyhow::bail!("--gateway-log needs CAPTURE OUT");
                };
                gateway_logs.push((c.clone(), o.clone()));
                i += 2;
            }
            "--graph-port" => {
                graph_port = args.get(i + 1).and_then(|p| p.parse().ok()).unwrap_or(0);
                i += 1;
            }
            "--model-port" => {
                model_port = args.get(i + 1).and_then(|p| p.parse().ok()).unwrap_or(0);
                i += 1;
            }
            other => anyhow::bail!("fake-services: unknown argument {other}"),
        }
        i += 1;
    }
    let info = info.context("usage: fake-services --info FILE [--seed-demo]")?;
    let graph = FakeGraph::start_on(graph_port).context("starting the fake Graph")?;
    let model = FakeModel::start_on(model_port).context("starting the fake model")?;
    let webhook = Webhook::start().context("starting the fake webhook")?;
    graph.add_chat(DEMO_CHAT);
    if seed {
        graph.add_message(
            DEMO_CHAT,
            OPERATOR,
            "Dana Operator",
            "<p>Good morning! Please summarise <b>yesterday's</b> tickets &amp; post them at 09:00.</p>",
        );
        graph.add_message(
            DEMO_CHAT,
            TRUSTED,
            "Robin Kline",
            "<div><at id=\"0\">Agent</at> can you check the Q1 numbers?<br>Thanks</div>",
        );
        graph.add_message(
            DEMO_CHAT,
            STRANGER,
            "Unknown Person",
            "<p>hello, who are you?</p>",
        );
        graph.add_message(DEMO_CHAT, OPERATOR, "Dana Operator", "/jobs status");
    }
    let gateway = gateway_health
        .map(|dir| FakeGateway::start(std::path::Path::new(&dir)))
        .transpose()?;
    for (capture, out) in &gateway_logs {
        let text =
            std::fs::read_to_string(capture).with_context(|| format!("reading {capture}"))?;
        let moved = retime_log(&text, chrono::Utc::now()).with_context(|| capture.clone())?;
        std::fs::write(out, moved).with_context(|| format!("writing {out}"))?;
    }
    let mut v = json!({
        "graph_url": graph.graph_url(),
        "token_url": graph.token_url(),
        "tenant": TENANT,
        "client_id": CLIENT_ID,
        "agent_user_id": AGENT_USER_ID,
        "chat": DEMO_CHAT,
        "operator": OPERATOR,
        "trusted": TRUSTED,
        "stranger": STRANGER,
        "model_url": model.url(),
        "anthropic_url": model.anthropic_url(),
        "openai_url": model.openai_url(),
        "webhook_url": webhook.url(),
    });
    if let Some(g) = &gateway {
        v["gateway_url"] = json!(g.url());
    }
    if let serde_json::Value::Object(map) = &v {
        for (template, out) in &renders {
            let mut text =
                std::fs::read_to_string(template).with_context(|| format!("reading {template}"))?;
            for (k, val) in map {
                let val = val.as_str().unwrap_or_default();
                text = text.replace(&format!("@{}@", k.to_ascii_uppercase()), val);
            }
            std::fs::write(out, text).with_context(|| format!("writing {out}"))?;
        }
    }
    let tmp = format!("{info}.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&v)?)?;
    std::fs::rename(&tmp, &info)?;
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
