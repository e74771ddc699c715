//! publish-report on a suite whose gateway is real: the pinned OpenClaw in an isolated home
//! (its own config with `logging.file`, its own log file), one embedded agent turn against the
//! loopback fake model (one 429 the gateway retries, then 200), then the report. check-ratelimit
//! and backup-config are state fixtures written through the contracts types' JSON shape.
//!
//! One test, one home, one turn (10–40 s on a busy 2-core machine): the whole binary stays
//! under a minute of wall time; it prints what it took.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Instant;
use testkit::Suite;
use testkit::fakes::model::{FakeModel, Fault};
use testkit::gateway::{self, Home, Provider};

const BIN: &str = env!("CARGO_BIN_EXE_publish-report");

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A state file as the runtime writes it, with `facts`.
fn state_with_facts(job: &str, at: DateTime<Utc>, facts: Value) -> Value {
    json!({
        "schema_version": 1, "job": job,
        "last_run": {"started_at": ts(at), "finished_at": ts(at), "duration_ms": 40, "outcome": "ok",
                     "exit_code": 0, "error": null, "summary": "ok", "pid": 1, "host": "test",
                     "version": "0.1.0", "run_id": "r1"},
        "last_success": ts(at),
        "history": [{"started_at": ts(at), "duration_ms": 40, "outcome": "ok", "exit_code": 0}],
        "facts": facts
    })
}

#[test]
fn the_report_reads_a_real_gateways_log_and_config() {
    let Some(install) = gateway::require("publish-report: report on a real gateway") else {
        return;
    };
    let t0 = Instant::now();
    let model = FakeModel::start().unwrap();
    let home = Home::new(&install, Provider::anthropic(&model.url()));
    model.push(Fault::RateLimit {
        retry_after: Some(2),
    });
    let turn = home.agent_turn(
        "report-429-once",
        "Summarise yesterday's notes.",
        std::time::Duration::from_secs(90),
    );
    assert_eq!(turn.code, 0, "{}", turn.dump());
    let turn_took = t0.elapsed();

    // What the gateway wrote, read by the harness on its own.
    let records: Vec<Value> = gateway::log_records(&home.log_text())
        .into_iter()
        .filter(|r| r["_meta"]["date"].is_string())
        .collect();
    let level = |l: &str| {
        records
            .iter()
            .filter(|r| r["_meta"]["logLevelName"] == l)
            .count() as u64
    };
    assert!(
        !records.is_empty() && level("WARN") > 0,
        "the gateway logged its retry\n{}",
        home.log_text()
    );
    let newest = records
        .iter()
        .filter_map(|r| r["_meta"]["date"].as_str())
        .max()
        .unwrap()
        .to_string();

    let s = Suite::new();
    let now = Utc::now();
    s.write(
        "crontab",
        "*/5 * * * * cd /srv && target/release/check-ratelimit\n17 * * * * cd /srv && target/release/backup-config\n",
    );
    let cr = state_with_facts(
        "check-ratelimit",
        now - Duration::minutes(1),
        json!({
            "circuit": {"state": "closed"},
            "incidents": [{"id": "inc-1", "kind": "rate_limit", "opened_by": "auto",
                "started_at": ts(now - Duration::minutes(30)), "ended_at": ts(now - Duration::minutes(20)),
                "reason": "5 refusals in 10 min", "refusals": 5,
                "provider": home.provider.id, "model": home.provider.model, "profile": "fake:default"}],
            "calls_per_hour": [{"hour": ts(now - Duration::hours(1)), "calls": 3}]
        }),
    );
    s.write("state/check-ratelimit.json", &cr.to_string());
    let bc = state_with_facts(
        "backup-config",
        now - Duration::minutes(2),
        json!({"files": [{"name": "openclaw.json", "path": home.config_path(), "status": "good",
            "snapshots": 1, "latest_snapshot_at": ts(now - Duration::minutes(2)),
            "verdicts": ["built-in: ok", "openclaw: valid"]}]}),
    );
    s.write("state/backup-config.json", &bc.to_string());
    s.config(json!({
        "gateway": {"config": home.config_path(), "state_dir": home.state_dir()},
        "publish-report": {"jobs": ["check-ratelimit", "backup-config", "publish-report"]}
    }));
    let run = s.run(Path::new(BIN), &[]);
    run.code(0);

    let period = now.format("%Y-%m-%d").to_string();
    let r: Value = serde_json::from_str(&s.read(&format!("reports/{period}.json"))).unwrap();
    let log = &r["gateway"]["log"];
    assert!(
        log["source"].as_str().unwrap().contains("logging.file in"),
        "{log:#}"
    );
    assert_eq!(
        log["files"],
        json!([home.log_file().display().to_string()]),
        "{log:#}"
    );
    assert_eq!(log["records"], records.len() as u64, "{log:#}");
    assert_eq!(log["warnings"], level("WARN"), "{log:#}");
    assert_eq!(log["errors"], level("ERROR") + level("FATAL"), "{log:#}");
    let last: DateTime<Utc> = serde_json::from_value(log["last_record_at"].clone()).unwrap();
    assert_eq!(ts(last), newest, "{log:#}");
    assert!(r["clock_skew"].as_array().unwrap().is_empty(), "{r:#}");
    assert_eq!(r["incidents"][0]["provider"], "fake");
    assert_eq!(r["backups"]["files"][0]["verdicts"][1], "openclaw: valid");
    assert_eq!(r["overall"], "healthy", "{r:#}");

    let md = s.read(&format!("reports/{period}.md"));
    for needle in [
        "## Gateway",
        &format!(
            "{} record(s) in the period, {} warning(s)",
            records.len(),
            level("WARN")
        ),
        "| inc-1 | rate_limit | fake / fake-model / fake:default |",
        "openclaw: valid",
    ] {
        assert!(md.contains(needle), "report lacks {needle:?}\n{md}");
    }
    let page = s.read("reports/status.html");
    assert!(page.contains("<h2 id=\"gateway\">Gateway</h2>"));
    println!(
        "real-gateway report: turn {:.1} s, whole test {:.1} s",
        turn_took.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
}
