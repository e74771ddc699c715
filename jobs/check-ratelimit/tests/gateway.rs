//! check-ratelimit against the real gateway (OpenClaw, pinned in `scripts/openclaw.pin`),
//! pointed at loopback model providers: the records it really writes to its log file and its
//! console, and its cooldowns through `openclaw models status --json`.
//!
//! Live (about a minute on 2 cores): a 429 the gateway retries successfully and a chat
//! message quoting the gateway's rate-limit text open nothing; a long-window quota 429 (the
//! gateway does not retry it, cooldown at once) opens the circuit once, with its cooldown read
//! from `models status`, and closes at the gateway's reset; the same through the console text.
//! The slow runs (ten 429s to the cooldown, 160 s; 529 and retryable 402, 100–160 s) use the
//! captures the same gateway wrote (`tests/fixtures/openclaw-2026.9.6/`).
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use fakes::model::{FakeModel, Fault};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration as StdDuration;
use testkit::Suite;
use testkit::gateway::{self, FixedProvider, Home, Install, Provider, QUOTA_429_BODY};

const JOB: &str = "check-ratelimit";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_check-ratelimit"))
}

fn fixture(name: &str, file: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../../tests/fixtures/openclaw-2026.9.6/{name}/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A suite whose `gateway` section is this gateway home (config, state dir, CLI): its log
/// location comes from the gateway's own `logging.file`.
fn suite_for(install: &Install, home: &Home, job: Value) -> Suite {
    let s = Suite::new();
    let root = s.root().display().to_string();
    let mut job_cfg = json!({
        "on_open": [["sh", "-c", format!("echo \"$AGENT_JOBS_CIRCUIT_ACTION $AGENT_JOBS_INCIDENT_ID\" >> {root}/hooks.txt")]],
        "on_close": [["sh", "-c", format!("echo \"$AGENT_JOBS_CIRCUIT_ACTION $AGENT_JOBS_INCIDENT_ID\" >> {root}/hooks.txt")]],
        "models_status_timeout_secs": 90
    });
    if let (Value::Object(a), Value::Object(b)) = (&mut job_cfg, job) {
        a.extend(b);
    }
    s.config(json!({
        "runtime": {"alerts": {"command": ["sh", "-c", format!("cat >> {root}/alerts.txt; echo >> {root}/alerts.txt")]}},
        "gateway": {
            "openclaw": install.openclaw.display().to_string(),
            "config": home.config_path().display().to_string(),
            "state_dir": home.state_dir().display().to_string(),
            "env": {"HOME": home.home().display().to_string(), "TZ": "UTC", "NO_COLOR": "1", "CI": "1"}
        },
        JOB: job_cfg,
    }));
    s
}

/// A suite reading console text through the command source, as `journalctl -o
/// short-iso-precise` prints it (a time and a journal prefix before each line).
fn console_suite(console: &str) -> Suite {
    let s = Suite::new();
    let now = Utc::now() - Duration::seconds(5);
    let text: String = console
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let t = now + Duration::microseconds(i as i64);
            format!(
                "{} vm openclaw-gateway[4242]: {l}\n",
                t.format("%Y-%m-%dT%H:%M:%S%.6f%z")
            )
        })
        .collect();
    s.write("journal.txt", &text);
    let root = s.root().display().to_string();
    s.config(json!({
        "runtime": {"alerts": {"command": ["sh", "-c", format!("cat >> {root}/alerts.txt; echo >> {root}/alerts.txt")]}},
        JOB: {
            "logs": ["gw/none-*.log"],
            "models_status": false,
            "command": ["cat", s.path("journal.txt").display().to_string()],
            "on_open": [["sh", "-c", format!("echo \"$AGENT_JOBS_CIRCUIT_ACTION\" >> {root}/hooks.txt")]]
        }
    }));
    s
}

fn circuit(s: &Suite) -> Value {
    serde_json::from_str(&s.read("state/circuit.json")).unwrap_or(Value::Null)
}

fn metric(s: &Suite, k: &str) -> u64 {
    s.state(JOB)["metrics"][k].as_u64().unwrap_or(0)
}

fn hooks(s: &Suite) -> Vec<String> {
    s.read("hooks.txt").lines().map(String::from).collect()
}

/// The live checks, in order: they share the gateway homes and their turns.
#[test]
fn against_the_real_gateway() {
    let Some(install) = gateway::require("check-ratelimit against the real gateway") else {
        return;
    };
    let t0 = std::time::Instant::now();

    // 1. A long-window quota 429 (`You exceeded your current quota`), key stored as an auth
    //    profile: one request, no retry, the gateway's cooldown at once.
    let fixed = FixedProvider::start(429, QUOTA_429_BODY);
    let home_b = Home::new(&install, Provider::anthropic(&fixed.url()));
    home_b.paste_api_key().ok();
    let turn_b = home_b.agent_turn(
        "rl-quota",
        "Draft the weekly summary.",
        StdDuration::from_secs(150),
    );
    assert_ne!(turn_b.code, 0, "the refused turn fails\n{}", turn_b.dump());
    assert_eq!(
        fixed.served(),
        1,
        "the gateway does not retry a long-window limit"
    );
    let log_b = home_b.log_text();
    assert!(log_b.contains("\"windowType\":\"cooldown\""), "{log_b}");

    // check-ratelimit with its defaults except the long-window hold, so the gateway's own
    // reset decides: opens once, reads the cooldown from `models status --json`.
    let b = suite_for(&install, &home_b, json!({"long_window_cool_off_secs": 0}));
    let r = b.run(bin(), &["--from-start"]);
    r.code(0);
    let c = circuit(&b);
    assert_eq!(c["state"], "open", "{}\n{}", r.dump(), b.log(JOB));
    assert_eq!(c["kind"], "rate_limit");
    assert_eq!(c["matches"], 1);
    let inc = b.state(JOB)["data"]["incident"].clone();
    assert_eq!(
        inc["reset_source"],
        "models status",
        "{inc}\n{}",
        b.log(JOB)
    );
    let until: DateTime<Utc> = c["reset_at"].as_str().unwrap().parse().unwrap();
    let alerts = b.read("alerts.txt");
    for want in [
        "provider fake, model fake-model, profile fake:manual",
        "You exceeded your current quota",
        "(from models status)",
    ] {
        assert!(alerts.contains(want), "{want}\n{alerts}");
    }
    assert_eq!(hooks(&b).len(), 1);
    assert!(hooks(&b)[0].starts_with("open "), "{:?}", hooks(&b));

    // The same refusal through the console text: opens once.
    let cb = console_suite(&turn_b.stderr);
    cb.run(bin(), &[]).code(0);
    assert_eq!(circuit(&cb)["state"], "open", "{}", cb.log(JOB));
    assert_eq!(circuit(&cb)["matches"], 1);
    cb.run(bin(), &[]).code(0);
    assert_eq!(hooks(&cb), vec!["open"], "once");

    // 2. Meanwhile (the cooldown runs 30 s): a 429 the gateway retries successfully, then a
    //    chat message quoting the gateway's rate-limit text, answered.
    let fake = FakeModel::start().unwrap();
    let home_a = Home::new(&install, Provider::anthropic(&fake.url()));
    fake.push(Fault::RateLimit {
        retry_after: Some(1),
    });
    let turn_retried = home_a.agent_turn(
        "rl-retried",
        "Summarise yesterday's notes.",
        StdDuration::from_secs(150),
    );
    turn_retried.ok();
    let statuses: Vec<u16> = fake.served().iter().map(|s| s.status).collect();
    assert_eq!(statuses, vec![429, 200], "retried once, then answered");
    let turn_quote = home_a.agent_turn(
        "rl-quote",
        "My dashboard said \"⚠️ API rate limit reached. Please try again later.\" and 429 Too Many Requests; what does that mean?",
        StdDuration::from_secs(150),
    );
    turn_quote.ok();
    let a = suite_for(&install, &home_a, json!({}));
    let r = a.run(bin(), &["--from-start"]);
    r.code(0);
    assert!(
        !a.path("state/circuit.json").exists(),
        "{}\n{}",
        r.dump(),
        a.log(JOB)
    );
    assert_eq!(
        metric(&a, "refusals_rate_limit"),
        1,
        "one refused request\n{}",
        a.log(JOB)
    );
    assert_eq!(metric(&a, "decisions_rate_limit"), 0);
    assert_eq!(a.read("alerts.txt"), "");
    let ca = console_suite(&format!("{}{}", turn_retried.stderr, turn_quote.stderr));
    ca.run(bin(), &[]).code(0);
    assert!(!ca.path("state/circuit.json").exists(), "{}", ca.log(JOB));
    assert_eq!(metric(&ca, "refusals_rate_limit"), 1);

    // 3. The gateway's cooldown ends: the circuit closes at its reset, on_close once.
    let wait = until - Utc::now() + Duration::seconds(1);
    if wait > Duration::zero() {
        std::thread::sleep(wait.to_std().unwrap());
    }
    let r = b.run(bin(), &[]);
    r.code(0);
    assert_eq!(
        circuit(&b)["state"],
        "closed",
        "{}\n{}",
        r.dump(),
        b.log(JOB)
    );
    let h = &b.state(JOB)["data"]["history"][0];
    assert!(
        matches!(
            h["reset_source"].as_str(),
            Some("models status" | "cooldownUntil")
        ),
        "the gateway's reset: {h}"
    );
    assert_eq!(hooks(&b).len(), 2);
    assert!(hooks(&b)[1].starts_with("close "), "{:?}", hooks(&b));
    assert!(b.read("alerts.txt").contains("Recovered after"));
    eprintln!(
        "check-ratelimit against the real gateway: {:.0} s",
        t0.elapsed().as_secs_f64()
    );
}

/// The slow runs, from what the same gateway wrote (`scripts/capture-gateway-fixtures`):
/// ten 429s ending in the gateway's cooldown open the circuit once; 529 is counted as
/// overload and opens nothing by default; the retryable 402 is a rate limit (the gateway's
/// verdict); a billing 402 opens a quota circuit; successes count nothing.
#[test]
fn the_slow_runs_from_their_captures() {
    for (name, want_open, kind, refusals) in [
        ("turn-429-cooldown", true, "rate_limit", 10u64),
        ("turn-529-overloaded", false, "", 0),
        ("turn-402-spending", true, "rate_limit", 10),
        ("turn-402-billing", true, "quota", 1),
        ("turn-ok", false, "", 0),
    ] {
        for form in ["gateway.log.jsonl", "console.txt"] {
            let s = Suite::new();
            s.write("gw/openclaw-2026-11-28.log", &fixture(name, form));
            s.config(json!({JOB: {"logs": ["gw/openclaw-*.log"], "models_status": false}}));
            let end = fixture(name, "gateway.log.jsonl")
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter_map(|r| r["_meta"]["date"].as_str().map(String::from))
                .max()
                .unwrap();
            let end: DateTime<Utc> = end.parse().unwrap();
            let now = (end + Duration::seconds(5)).to_rfc3339_opts(SecondsFormat::Millis, true);
            s.run(bin(), &["--from-start", "--now", &now]).code(0);
            let c = circuit(&s);
            assert_eq!(
                c["state"] == "open",
                want_open,
                "{name} {form}: {c}\n{}",
                s.log(JOB)
            );
            if want_open {
                assert_eq!(c["kind"], kind, "{name} {form}");
                assert_eq!(c["matches"], refusals, "{name} {form}");
            }
            if name == "turn-529-overloaded" {
                assert_eq!(metric(&s, "refusals_overload"), 8, "{name} {form}");
            }
        }
    }
}
