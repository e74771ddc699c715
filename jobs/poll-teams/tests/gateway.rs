//! poll-teams against the real gateway (OpenClaw, pinned in `scripts/openclaw.pin`): one
//! gateway with hooks enabled, a loopback fake model provider, the fake Graph; one test that
//! runs the scenarios in order on the same gateway (a gateway start costs tens of seconds).
//!
//! What the gateway itself says is the evidence: one `hook agent run completed` record in its
//! log per admitted run (with the request's `name`), and what its agent sent to the model.
//! Answers the real gateway cannot be made to give on demand (409, 502, the 503 admission
//! timeout) are covered in `tests/e2e.rs` by a fake that speaks the documented contract.

#![allow(clippy::unwrap_used)]

use fakes::graph::{AGENT_PASSWORD, FakeGraph};
use fakes::model::FakeModel;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use testkit::gateway::{self, Home, Provider, Server};
use testkit::{Run, Suite};

const BIN: &str = env!("CARGO_BIN_EXE_poll-teams");
const TOKEN: &str = "hook-token-for-poll-teams-0123456789";
const TRUSTED: &str = "8ea0e38b-efb3-4757-924a-5f94061cf8c2";
const OP: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
const BOT: &str = "6d23e712-527b-406f-8d59-d02927885918";
const ALL: &str = "19:aaaa0000000000000000000000000001@thread.v2";
const KILLS: &str = "19:aaaa0000000000000000000000000002@thread.v2";
const DOWN: &str = "19:aaaa0000000000000000000000000003@thread.v2";
const REFUSED: &str = "19:aaaa0000000000000000000000000004@thread.v2";

/// The gateway, its fakes, and the suite that polls into it.
struct Rig {
    model: FakeModel,
    home: Home,
    server: Option<Server>,
    port: u16,
    graph: FakeGraph,
    suite: Suite,
}

impl Rig {
    fn cmd(&self, args: &[&str]) -> std::process::Command {
        let mut c = self.suite.cmd(Path::new(BIN));
        c.env("PT_PASSWORD", AGENT_PASSWORD).args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Run {
        self.suite.run_cmd(&mut self.cmd(args))
    }

    fn start_gateway(&mut self) {
        let t = Instant::now();
        self.server = Some(self.home.start(self.port, Duration::from_secs(150)));
        eprintln!("gateway up in {:.0} s", t.elapsed().as_secs_f64());
    }

    /// Completion records of hook runs in the gateway's log, per run name.
    fn completed(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for r in gateway::log_records(&self.home.log_text()) {
            let f = &r["1"];
            if f["sourcePath"] == "/hooks/agent"
                && r["message"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("hook agent run completed"))
            {
                *m.entry(f["name"].as_str().unwrap_or("").to_string())
                    .or_insert(0) += 1;
            }
        }
        m
    }

    /// Run names of the events of `chat` that were delivered (in `cur/`), in inbox order.
    fn delivered_names(&self, chat: &str) -> Vec<String> {
        self.inbox_events("cur")
            .into_iter()
            .filter(|(_, v)| v["chat_id"] == chat)
            .map(|(n, _)| {
                format!(
                    "Teams message {}",
                    n.trim_end_matches(".json").rsplit('-').next().unwrap()
                )
            })
            .collect()
    }

    fn inbox_events(&self, sub: &str) -> Vec<(String, Value)> {
        let dir = self.suite.path(&format!("state/inbox/teams/{sub}"));
        let mut v: Vec<(String, Value)> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                    .map(|e| {
                        let t = std::fs::read_to_string(e.path()).unwrap();
                        (
                            e.file_name().to_string_lossy().into_owned(),
                            serde_json::from_str(&t).unwrap(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Wait until every name has a completion record; then assert each has exactly one.
    fn assert_admitted_once(&self, names: &[String], what: &str) {
        let ok = testkit::wait_until(Duration::from_secs(90), || {
            let c = self.completed();
            names.iter().all(|n| c.contains_key(n))
        });
        let c = self.completed();
        assert!(
            ok,
            "{what}: not every event completed in the gateway: {names:?}\n{c:?}"
        );
        for n in names {
            assert_eq!(
                c.get(n),
                Some(&1),
                "{what}: {n} admitted {:?} times\n{c:?}",
                c.get(n)
            );
        }
    }

    /// Model requests whose body mentions `marker`.
    fn model_saw(&self, marker: &str) -> usize {
        self.model
            .bodies()
            .iter()
            .filter(|b| b.to_string().contains(marker))
            .count()
    }
}

fn setup(install: &gateway::Install) -> Rig {
    let model = FakeModel::start().unwrap();
    model.set_reply("Noted.");
    let home = Home::new(install, Provider::anthropic(&model.url()));
    let mut cfg = home.base_config();
    cfg["hooks"] =
        json!({"enabled": true, "token": TOKEN, "path": "/hooks", "allowedAgentIds": ["main"]});
    home.write_config(&cfg);
    let graph = FakeGraph::start();
    for c in [ALL, KILLS, DOWN, REFUSED] {
        graph.add_chat(c);
    }
    let port = gateway::free_port();
    let suite = Suite::new();
    suite.config(json!({
        "runtime": {"http": {"backoff_base_ms": 10, "backoff_max_secs": 0.2, "max_retries": 3,
                             "timeout_secs": 10, "connect_timeout_secs": 2},
                    "alerts": {"command": ["sh", "-c", "cat >> alerts.txt; echo >> alerts.txt"]}},
        "graph": graph.user_config("PT_PASSWORD"),
        "gateway": {"config": home.config_path(), "state_dir": home.state_dir(),
                    "url": format!("http://127.0.0.1:{port}"), "openclaw": install.openclaw},
        "poll-teams": {
            "chats": [{"id": ALL, "name": "all", "mode": "all"},
                      {"id": KILLS, "name": "kills", "mode": "all"},
                      {"id": DOWN, "name": "down", "mode": "catch-up"},
                      {"id": REFUSED, "name": "refused", "mode": "all",
                       "reply": {"channel": "msteams", "to": format!("conversation:{REFUSED}")}}],
            "operators": [OP],
            "bot_app_ids": [BOT],
            "trusted": [TRUSTED],
            "delivery": {"catch_up_after_secs": 3600}
        }
    }));
    Rig {
        model,
        home,
        server: None,
        port,
        graph,
        suite,
    }
}

#[test]
fn poll_teams_delivers_into_the_real_gateway_exactly_once() {
    let Some(install) = gateway::require("poll-teams delivers into the real gateway") else {
        return;
    };
    let t0 = Instant::now();
    let mut rig = setup(&install);
    rig.start_gateway();
    n_events_are_admitted_once_with_their_text(&rig);
    eprintln!("[{:>3.0} s] N events: ok", t0.elapsed().as_secs_f64());
    refused_and_misconfigured_requests(&rig);
    eprintln!("[{:>3.0} s] 400/401/404: ok", t0.elapsed().as_secs_f64());
    sigkill_during_delivery_admits_each_event_once(&rig);
    eprintln!("[{:>3.0} s] SIGKILL loop: ok", t0.elapsed().as_secs_f64());
    missed_while_down_is_delivered_once_in_order_after_restart(&mut rig);
    eprintln!(
        "[{:>3.0} s] gateway down and back: ok",
        t0.elapsed().as_secs_f64()
    );
    commands_and_detectors_in_a_chat_the_gateway_reads(&rig);
    eprintln!(
        "[{:>3.0} s] commands and detectors: ok",
        t0.elapsed().as_secs_f64()
    );
    if let Some(mut s) = rig.server.take() {
        s.stop();
    }
}

fn n_events_are_admitted_once_with_their_text(rig: &Rig) {
    let n = 4;
    for i in 0..n {
        rig.graph.add_message(
            ALL,
            TRUSTED,
            "Robin Kline",
            &format!("<p>PROBE-ALL-{i} please check the backups</p>"),
        );
    }
    rig.run(&[]).silent_success();
    let names = rig.delivered_names(ALL);
    assert_eq!(
        names.len(),
        n,
        "every event moved to cur/ after the gateway's 200"
    );
    rig.assert_admitted_once(&names, "all mode");
    for i in 0..n {
        let marker = format!("PROBE-ALL-{i}");
        let saw: Vec<String> = rig
            .model
            .bodies()
            .iter()
            .map(Value::to_string)
            .filter(|b| b.contains(&marker))
            .collect();
        assert_eq!(saw.len(), 1, "{marker}: the agent got it once");
        assert!(
            saw[0].contains("Robin Kline (trusted) wrote in the Teams chat")
                && saw[0].contains("EXTERNAL_UNTRUSTED_CONTENT"),
            "who, tier, chat, and the gateway's own wrapping: {}",
            &saw[0][..saw[0].len().min(3000)]
        );
    }
    rig.run(&[]).silent_success();
    assert_eq!(rig.completed().len(), n, "a second run delivers nothing");
}

fn refused_and_misconfigured_requests(rig: &Rig) {
    // 400 from the real gateway: a reply target on a channel plugin it does not have.
    rig.graph
        .add_message(REFUSED, TRUSTED, "Robin Kline", "PROBE-REFUSED");
    let r = rig.run(&[]);
    r.code(1).stderr_has("refused it for good");
    let rejected = std::fs::read_dir(rig.suite.path("state/inbox/teams/rejected"))
        .unwrap()
        .count();
    assert_eq!(rejected, 2, "the event and its .reason");
    let reason: String = std::fs::read_dir(rig.suite.path("state/inbox/teams/rejected"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".reason"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(reason.contains("HTTP 400"), "{reason}");
    eprintln!("the gateway's 400: {}", reason.trim());
    assert_eq!(rig.model_saw("PROBE-REFUSED"), 0);
    rig.run(&[]).silent_success();
    // 401: a wrong token; 404: a wrong path. Both are configuration (78), nothing is lost.
    let cfg_text = rig.suite.read("config.json");
    let mut cfg: Value = serde_json::from_str(&cfg_text).unwrap();
    rig.graph
        .add_message(ALL, TRUSTED, "Robin Kline", "PROBE-LATER");
    rig.suite.write("secrets/wrong", "wrong-token-0000\n");
    cfg["poll-teams"]["delivery"]["token_file"] = json!("secrets/wrong");
    rig.suite.config(cfg.clone());
    rig.run(&[]).code(78).stderr_has("401");
    cfg["poll-teams"]["delivery"]
        .as_object_mut()
        .unwrap()
        .remove("token_file");
    cfg["poll-teams"]["delivery"]["url"] =
        json!(format!("http://127.0.0.1:{}/hookz/agent", rig.port));
    rig.suite.config(cfg);
    rig.run(&[]).code(78).stderr_has("404");
    rig.suite.write("config.json", &cfg_text);
    rig.run(&[]).silent_success();
    let later = rig.delivered_names(ALL);
    rig.assert_admitted_once(&later, "after fixing the config");
}

fn sigkill_during_delivery_admits_each_event_once(rig: &Rig) {
    let mut rng = fastrand::Rng::with_seed(0x0c1a);
    let mut sent = 0;
    for i in 0..10 {
        rig.graph.add_message(
            KILLS,
            TRUSTED,
            "Robin Kline",
            &format!("PROBE-KILL-{sent} (round {i})"),
        );
        sent += 1;
        let mut c = rig.cmd(&[]);
        if i % 3 == 1 {
            // Killed right after the gateway admitted the run, before the answer is recorded.
            c.env("AGENT_JOBS_TEST_CRASH_AT", "effect-acted:deliver/");
        }
        let mut child = c
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.u64(30..700)));
        testkit::signal(&child, 9);
        let _ = child.wait();
    }
    rig.run(&[]);
    let names = rig.delivered_names(KILLS);
    assert_eq!(names.len(), sent, "every event delivered in the end");
    rig.assert_admitted_once(&names, "SIGKILL loop");
    // Any unsettled delivery is settled from the gateway's log, never sent twice.
    rig.run(&[]).code(0);
    rig.assert_admitted_once(&names, "SIGKILL loop, after settling");
    for k in 0..sent {
        assert_eq!(
            rig.model_saw(&format!("PROBE-KILL-{k} ")),
            1,
            "PROBE-KILL-{k}"
        );
    }
    // Kills after admission leave unknown outcomes: each was settled from the gateway's log
    // (found: done) or, not found while the run was still going, sent again with the same key
    // and payload, which the gateway answered with the same run (no second completion above).
    let log = rig.suite.log("poll-teams");
    let (found, resent) = (
        log.matches("verified as done after an unknown outcome")
            .count(),
        log.matches("verified as not done").count(),
    );
    eprintln!(
        "{sent} events; unknown outcomes: {found} found in the gateway's log, {resent} sent again"
    );
    assert!(
        found + resent >= 1,
        "the kills after admission exercised the unknown path"
    );
}

fn missed_while_down_is_delivered_once_in_order_after_restart(rig: &mut Rig) {
    // Admitted and completed, but the answer was never recorded; then the gateway restarts and
    // forgets every idempotency key: the journal and the gateway's log carry the guarantee.
    rig.graph
        .add_message(ALL, TRUSTED, "Robin Kline", "PROBE-DOWN-before");
    let mut c = rig.cmd(&[]);
    c.env("AGENT_JOBS_TEST_CRASH_AT", "effect-acted:deliver/");
    let r = rig.suite.run_cmd(&mut c);
    assert_ne!(r.code, 0, "killed after the POST");
    assert!(testkit::wait_until(Duration::from_secs(60), || rig
        .model_saw("PROBE-DOWN-before")
        == 1));
    let first = rig.inbox_events("new");
    assert_eq!(first.len(), 1);
    let before = format!(
        "Teams message {}",
        first[0]
            .0
            .trim_end_matches(".json")
            .rsplit('-')
            .next()
            .unwrap()
    );
    assert!(testkit::wait_until(Duration::from_secs(60), || rig
        .completed()
        .contains_key(&before)));
    if let Some(mut s) = rig.server.take() {
        s.stop();
    }
    let mut missed = Vec::new();
    for i in 0..3 {
        missed.push(rig.graph.add_message(
            DOWN,
            TRUSTED,
            "Robin Kline",
            &format!("PROBE-DOWN-{i}"),
        ));
        std::thread::sleep(Duration::from_millis(5));
    }
    rig.run(&[])
        .code(0)
        .stderr_has("the gateway does not answer");
    assert_eq!(
        rig.inbox_events("new").len(),
        4,
        "kept in the Maildir while the gateway is down"
    );
    rig.start_gateway();
    let settled = rig
        .suite
        .log("poll-teams")
        .matches("verified as done after an unknown outcome")
        .count();
    rig.run(&[]).code(0);
    let mut names = rig.delivered_names(DOWN);
    assert_eq!(names.len(), 3, "{:?}", rig.inbox_events("new"));
    names.push(before);
    rig.assert_admitted_once(&names, "down and back");
    assert!(rig.inbox_events("new").is_empty());
    assert_eq!(
        rig.model_saw("PROBE-DOWN-before"),
        1,
        "not delivered again after the restart"
    );
    assert_eq!(
        rig.suite
            .log("poll-teams")
            .matches("verified as done after an unknown outcome")
            .count(),
        settled + 1,
        "the restarted gateway forgot the key; its log still had the run"
    );
    // In order: the journal's start times follow the messages' order.
    let st = rig.suite.state("poll-teams");
    let mut started: Vec<(String, String)> = rig
        .inbox_events("cur")
        .into_iter()
        .filter(|(_, v)| v["chat_id"] == DOWN)
        .map(|(n, v)| {
            (
                st["effects"][format!("deliver/{n}")]["started_at"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                v["message_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    started.sort();
    let order: Vec<String> = started.into_iter().map(|(_, id)| id).collect();
    assert_eq!(order, missed, "delivered in the order they were written");
    for i in 0..3 {
        let m = format!("PROBE-DOWN-{i}");
        let bodies: Vec<String> = rig
            .model
            .bodies()
            .iter()
            .map(Value::to_string)
            .filter(|b| b.contains(&m))
            .collect();
        assert_eq!(bodies.len(), 1, "{m}");
        assert!(
            bodies[0].contains("arrived while the gateway was down"),
            "no catch-up wait for what it missed"
        );
    }
}

/// The DOWN chat is in catch-up mode: a chat the gateway's own bot reads.
fn commands_and_detectors_in_a_chat_the_gateway_reads(rig: &Rig) {
    let before = rig.model.bodies().len();
    // A bare /stop is the gateway's command there: not executed by poll-teams, and not sent to
    // the agent either. The prefixed one runs once.
    rig.graph.add_message(DOWN, OP, "Sam Operator", "/stop");
    rig.graph
        .add_message(DOWN, OP, "Sam Operator", "/jobs stop");
    // Normal conversation: a question and the bot's answer.
    rig.graph.add_message(
        DOWN,
        TRUSTED,
        "Robin Kline",
        "PROBE-CHAT is the build green?",
    );
    let bot = |text: &str| {
        std::thread::sleep(Duration::from_millis(5));
        let now = chrono::Utc::now();
        let at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        rig.graph.add_raw(
            DOWN,
            json!({"id": format!("{}9", now.timestamp_millis()),
                   "messageType": "message", "createdDateTime": at, "lastModifiedDateTime": at,
                   "from": {"application": {"id": BOT, "displayName": "Agent", "applicationIdentityType": "bot"}},
                   "body": {"contentType": "html", "content": text}}),
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    bot("<p>Yes, all green.</p>");
    rig.run(&[]).silent_success();
    let control: Value = serde_json::from_str(&rig.suite.read("state/control.json")).unwrap();
    assert_eq!(control["paused"], true);
    assert!(control["reason"].as_str().unwrap().contains("/jobs stop"));
    assert_eq!(
        rig.graph.posted(DOWN).len(),
        1,
        "one reply, to the prefixed command"
    );
    // A question nobody answers, and a duplicated answer to another.
    rig.graph
        .add_message(DOWN, TRUSTED, "Robin Kline", "PROBE-UNANSWERED anyone?");
    std::thread::sleep(Duration::from_millis(5));
    rig.graph
        .add_message(DOWN, TRUSTED, "Robin Kline", "PROBE-TWICE and the deploy?");
    bot("<p>The deploy finished at noon.</p>");
    bot("<p>The deploy finished at noon!</p>");
    rig.run(&[]).code(0).stderr_has("twice");
    let later = (chrono::Utc::now() + chrono::Duration::minutes(11)).to_rfc3339();
    rig.run(&["--now", &later])
        .code(0)
        .stderr_has("no agent reply within 10 min");
    rig.run(&["--now", &later]).code(0);
    let alerts = rig.suite.read("alerts.txt");
    assert_eq!(alerts.matches("twice").count(), 1, "{alerts}");
    assert_eq!(alerts.matches("no agent reply").count(), 1, "{alerts}");
    assert!(alerts.contains("Robin Kline"), "{alerts}");
    let st = rig.suite.state("poll-teams");
    assert_eq!(st["facts"]["duplicate_replies"], 1);
    assert_eq!(st["facts"]["unanswered"], 1);
    let new_bodies: Vec<String> = rig.model.bodies()[before..]
        .iter()
        .map(Value::to_string)
        .collect();
    assert!(
        new_bodies
            .iter()
            .all(|b| !b.contains("/jobs stop") && !b.contains("Sam Operator")),
        "commands never reach the agent"
    );
    assert!(
        new_bodies.iter().all(|b| !b.contains("PROBE-CHAT")),
        "answered live: not delivered again"
    );
    assert_eq!(
        rig.graph.posted(DOWN).len(),
        1,
        "the detectors post nothing into the chat"
    );
}
