//! End-to-end tests of the shared runtime's promises, through a real binary that uses
//! `common::main` exactly like the jobs do (the `sample-job` fixture): overlap, crash
//! consistency, bad state, bad config, logs, pause, signals, alerts, dead-man pings.

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::{Suite, fakes, signal, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_sample-job");

fn bin() -> &'static Path {
    Path::new(BIN)
}

#[test]
fn thirty_simultaneous_launches_exactly_one_works() {
    let s = Suite::new();
    let children: Vec<_> = (0..30)
        .map(|_| s.spawn(bin(), &["--work-ms", "2500"]))
        .collect();
    let pids: Vec<u32> = children.iter().map(|c| c.id()).collect();
    let mut results = Vec::new();
    let mut finish_order = Vec::new();
    let mut children: Vec<_> = children.into_iter().map(Some).collect();
    let t0 = Instant::now();
    while finish_order.len() < 30 && t0.elapsed() < Duration::from_secs(60) {
        for (i, slot) in children.iter_mut().enumerate() {
            if let Some(c) = slot
                && c.try_wait().expect("try_wait").is_some()
            {
                let out = slot
                    .take()
                    .expect("child")
                    .wait_with_output()
                    .expect("output");
                finish_order.push(i);
                results.push((i, out));
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(results.len(), 30, "all launches ended");
    let winners: Vec<_> = results
        .iter()
        .filter(|(_, o)| o.status.code() == Some(0))
        .collect();
    assert_eq!(winners.len(), 1, "exactly one run does the work");
    let winner_pid = pids[winners[0].0];
    for (i, o) in &results {
        if pids[*i] == winner_pid {
            continue;
        }
        assert_eq!(o.status.code(), Some(75), "loser exits 75");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("already running: pid {winner_pid} since ")),
            "loser names the holder: {err}"
        );
    }
    // Losers exit at once: every one of them ended before the winner did.
    assert_eq!(
        *finish_order.last().expect("order"),
        winners[0].0,
        "the winner is the last to finish"
    );
    let work = s.read("work.log");
    assert_eq!(work.matches("start").count(), 1, "{work}");
    assert_eq!(s.state("sample-job")["runs"]["total"], 1);
}

#[test]
fn wait_lock_waits_for_the_holder() {
    let s = Suite::new();
    let first = s.spawn(bin(), &["--work-ms", "700"]);
    assert!(wait_until(Duration::from_secs(5), || s
        .read("work.log")
        .contains("start")));
    s.run(bin(), &["--wait-lock", "20"]).silent_success();
    let out = first.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(s.state("sample-job")["runs"]["total"], 2);
}

#[test]
fn sigkill_at_random_moments_never_tears_state() {
    let s = Suite::new();
    let state = s.path("state/sample-job.json");
    let mut last_gen = 0u64;
    let mut kills = 0;
    for i in 0..200 {
        let mut child = s.spawn(bin(), &["--checkpoints", "30"]);
        let delay = fastrand_delay(i);
        std::thread::sleep(Duration::from_micros(delay));
        signal(&child, 9);
        let st = child.wait().expect("wait");
        if st.code().is_none() {
            kills += 1;
        }
        if let Ok(text) = std::fs::read_to_string(&state) {
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("iteration {i}: torn state file: {e}\n{text}"));
            let g = v["data"]["generation"].as_u64().expect("generation");
            assert!(
                g >= last_gen,
                "iteration {i}: state went back from {last_gen} to {g}"
            );
            assert_eq!(
                v["data"]["blob"].as_array().expect("blob").len() as u64,
                g,
                "iteration {i}: state is internally consistent"
            );
            last_gen = g;
        }
        let temps = s
            .state_files()
            .into_iter()
            .filter(|n| n.contains(".tmp."))
            .count();
        assert!(
            temps <= 1,
            "iteration {i}: temp files accumulate: {:?}",
            s.state_files()
        );
    }
    assert!(
        kills > 20,
        "the test must actually kill runs mid-way (killed {kills})"
    );
    // The next run sweeps whatever a killed run left, and says so only if the last run was
    // killed after it took the lock (the previous-run note).
    let r = s.run(bin(), &[]);
    r.code(0);
    assert!(
        r.stdout.is_empty()
            && r.stderr.lines().all(|l| l.contains("the previous run (pid")
                && l.contains("ended without recording its result")),
        "only the previous-run note may be printed\n{}",
        r.dump()
    );
    let temps: Vec<_> = s
        .state_files()
        .into_iter()
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");
}

/// Spread kill delays over 0–40 ms, deterministic per iteration.
fn fastrand_delay(i: u64) -> u64 {
    (i.wrapping_mul(2_654_435_761) % 40_000) + 200
}

#[test]
fn corrupt_state_is_never_overwritten_and_reset_moves_it_aside() {
    let s = Suite::new();
    let bad = "{\n  \"schema_version\": 1,\n  \"job\": \"sample-job\",\n  broken\n}\n";
    s.write("state/sample-job.json", bad);
    let r = s.run(bin(), &[]);
    r.code(65)
        .stderr_has("state/sample-job.json")
        .stderr_has("line 4")
        .stderr_has("--reset-state");
    assert_eq!(s.read("state/sample-job.json"), bad, "left untouched");

    let r = s.run(bin(), &["--reset-state"]);
    r.code(0).stderr_has("moved");
    let aside: Vec<_> = s
        .state_files()
        .into_iter()
        .filter(|n| n.starts_with("sample-job.json.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{:?}", s.state_files());
    assert_eq!(s.read(&format!("state/{}", aside[0])), bad);
    assert_eq!(s.state("sample-job")["runs"]["total"], 1);
}

#[test]
fn newer_schema_is_refused() {
    let s = Suite::new();
    let text = r#"{"schema_version": 99, "job": "sample-job"}"#;
    s.write("state/sample-job.json", text);
    s.run(bin(), &[]).code(65).stderr_has("schema_version 99");
    assert_eq!(s.read("state/sample-job.json"), text);
}

#[test]
fn bad_config_names_the_file_and_key() {
    let s = Suite::new();
    s.write(
        "config.json",
        r#"{"runtime": {"log_keep": 5}, "poll-team": {}}"#,
    );
    s.run(bin(), &[])
        .code(78)
        .stderr_has("config.json")
        .stderr_has("`poll-team`");

    s.config(json!({"runtime": {"log_keep": "five"}}));
    s.run(bin(), &[]).code(78).stderr_has("`runtime.log_keep`");

    s.config(json!({"runtime": {"alerts": {"webhok_url": "x"}}}));
    s.run(bin(), &[]).code(78).stderr_has("webhok_url");

    s.write(
        "config.json",
        "{\n  \"runtime\": {\n    \"log_keep\": 5,\n  }\n}",
    );
    s.run(bin(), &[]).code(78).stderr_has("line 4");

    std::fs::remove_file(s.path("config.json")).expect("rm");
    s.run(bin(), &[]).code(78).stderr_has("config.example.json");
}

#[test]
fn missing_secret_file_and_env_are_config_errors() {
    let s = Suite::new();
    s.run(bin(), &["--secret-file", "secrets/nope"])
        .code(78)
        .stderr_has("sample.password_file")
        .stderr_has("secrets/nope");
    s.run(bin(), &["--secret-env", "AGENT_JOBS_UNSET_SECRET"])
        .code(78)
        .stderr_has("AGENT_JOBS_UNSET_SECRET");
    // A group-readable secret file works but warns.
    s.write("secrets/pw", "correct-horse-battery\n");
    set_mode(&s.path("secrets/pw"), 0o644);
    s.run(bin(), &["--secret-file", "secrets/pw"])
        .code(0)
        .stderr_has("chmod 600");
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn secrets_never_reach_logs_or_state() {
    let s = Suite::new();
    let secret = "Sup3r-S3cret-Value-4711";
    let r = s.run_cmd(
        s.cmd(bin())
            .args([
                "--secret-env",
                "SAMPLE_PW",
                "--say",
                "header Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
            ])
            .env("SAMPLE_PW", secret),
    );
    r.code(0);
    let log = s.log("sample-job");
    let state = s.read("state/sample-job.json");
    for (name, text) in [("log", &log), ("state", &state), ("stderr", &r.stderr)] {
        assert!(!text.contains(secret), "secret in {name}:\n{text}");
        assert!(
            !text.contains("eyJhbGciOiJIUzI1NiJ9"),
            "bearer token in {name}:\n{text}"
        );
    }
    assert!(log.contains("using password [REDACTED] for login"), "{log}");
    assert!(state.contains("password=[REDACTED]"), "{state}");
}

#[test]
fn success_is_silent_and_logged() {
    let s = Suite::new();
    let r = s.run(bin(), &[]);
    r.silent_success();
    let log = s.log("sample-job");
    let line = log.lines().last().expect("a log line");
    // 2026-11-21T10:00:03.123Z INFO  sample-job[3fa9c1] finished: ok ...
    let mut parts = line.split_whitespace();
    let ts = parts.next().expect("ts");
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{line}");
    assert_eq!(parts.next(), Some("INFO"));
    let tag = parts.next().expect("tag");
    assert!(
        tag.starts_with("sample-job[")
            && tag.ends_with(']')
            && tag.len() == "sample-job[".len() + 7,
        "{line}"
    );
    assert!(line.contains("finished: ok (exit 0)"), "{line}");
    let st = s.state("sample-job");
    for key in [
        "started_at",
        "finished_at",
        "duration_ms",
        "outcome",
        "exit_code",
        "error",
        "pid",
        "host",
        "version",
    ] {
        assert!(
            st["last_run"].get(key).is_some(),
            "last_run.{key} missing: {st}"
        );
    }
    assert_eq!(st["schema_version"], 1);
    assert_eq!(st["job"], "sample-job");
    assert!(st["last_success"].is_string());
    // A failure is not silent, and is recorded.
    let r = s.run(bin(), &["--fail", "disk on fire"]);
    r.code(1).stderr_has("sample-job: error: disk on fire");
    let st = s.state("sample-job");
    assert_eq!(st["last_run"]["outcome"], "failed");
    assert_eq!(st["consecutive_failures"], 1);
    assert_eq!(st["errors"][0]["message"], "disk on fire");
    let mode = std::fs::metadata(s.path("state/sample-job.json")).expect("meta");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(mode.permissions().mode() & 0o777, 0o600);
}

#[test]
fn verbosity_flags() {
    let s = Suite::new();
    s.run(bin(), &["-v"]).code(0).stderr_has("finished: ok");
    s.run(bin(), &["-q", "--fail", "x"])
        .code(1)
        .stderr_has("error: x");
    let r = s.run(bin(), &["-qq", "--fail", "x"]);
    r.code(1);
    assert!(r.stderr.is_empty(), "{}", r.dump());
    let r = s.run(bin(), &["--no-such-flag"]);
    r.code(2);
    let r = s.run(bin(), &["--help"]);
    r.code(0).stdout_has("Examples:").stdout_has("Exit codes");
}

#[test]
fn logs_rotate_by_size() {
    let s = Suite::new();
    s.config(json!({"runtime": {"log_max_bytes": 400, "log_keep": 3}}));
    for _ in 0..25 {
        s.run(bin(), &["--say", "some warning text that fills the log"])
            .code(0);
    }
    let logs: BTreeSet<String> = std::fs::read_dir(s.path("logs"))
        .expect("logs")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let want: BTreeSet<String> = [
        "sample-job.log",
        "sample-job.log.1",
        "sample-job.log.2",
        "sample-job.log.3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(logs, want);
    for name in &logs {
        let len = std::fs::metadata(s.path(&format!("logs/{name}")))
            .expect("meta")
            .len();
        assert!(len <= 400, "{name} is {len} bytes");
    }
}

#[test]
fn paused_suite_skips_with_one_line() {
    let s = Suite::new();
    s.write(
        "state/control.json",
        r#"{"paused": true, "reason": "upgrade", "by": "ops", "at": "2026-11-21T10:00:00Z"}"#,
    );
    let r = s.run(bin(), &[]);
    r.code(75);
    assert!(!s.read("work.log").contains("start"), "the job did not run");
    let st = s.state("sample-job");
    assert_eq!(st["last_run"]["outcome"], "skipped");
    assert_eq!(st["runs"]["skipped"], 1);
    let lines: Vec<_> = s
        .log("sample-job")
        .lines()
        .filter(|l| l.contains("paused"))
        .map(String::from)
        .collect();
    assert!(
        !lines.is_empty() && lines[0].contains("by ops") && lines[0].contains("upgrade"),
        "{lines:?}"
    );
    s.write("state/control.json", r#"{"paused": false}"#);
    s.run(bin(), &[]).silent_success();
}

#[test]
fn sigterm_finishes_the_step_and_exits_143() {
    let s = Suite::new();
    let child = s.spawn(bin(), &["--work-ms", "20000"]);
    assert!(wait_until(Duration::from_secs(5), || s
        .read("work.log")
        .contains("start")));
    let t0 = Instant::now();
    signal(&child, 15);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(143));
    assert!(t0.elapsed() < Duration::from_secs(5));
    let st = s.state("sample-job");
    assert_eq!(st["last_run"]["exit_code"], 143);
    assert!(
        st["last_run"]["error"]
            .as_str()
            .unwrap_or("")
            .contains("signal 15"),
        "{st}"
    );
}

#[test]
fn max_runtime_stops_cleanly() {
    let s = Suite::new();
    let t0 = Instant::now();
    s.run(bin(), &["--work-ms", "30000", "--max-runtime", "1"])
        .code(0);
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert!(s.read("work.log").contains("end"));
}

#[test]
fn dry_run_writes_no_state() {
    let s = Suite::new();
    s.run(bin(), &["--dry-run"]).code(0);
    assert!(!s.path("state/sample-job.json").exists());
}

#[test]
fn alerts_are_deduplicated_and_recorded() {
    let s = Suite::new();
    s.config(json!({"runtime": {"alerts": {
        "command": ["sh", "-c", "cat >> alerts.txt; echo >> alerts.txt"],
        "min_interval_secs": 3600
    }}}));
    for _ in 0..3 {
        s.run(bin(), &["--alert", "disk-full"]).code(0);
    }
    let alerts = s.read("alerts.txt");
    assert_eq!(alerts.matches("sample alert text").count(), 1, "{alerts}");
    let st = s.state("sample-job");
    // Each alert key is an effect in the journal: done once, the repeats suppressed.
    assert_eq!(st["effects"]["alert/disk-full"]["status"], "done");
    assert_eq!(st["effects"]["alert/disk-full"]["skipped"], 2);
    s.run(bin(), &["--alert", "other-key"]).code(0);
    assert_eq!(s.read("alerts.txt").matches("sample alert text").count(), 2);
}

#[test]
fn alert_webhook_gets_slack_teams_compatible_json() {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let g2 = got.clone();
    let srv = fakes::Server::start(0, move |req| {
        if let Some(v) = req.json() {
            g2.lock().expect("lock").push(v);
        }
        fakes::Reply::raw(200, "text/plain", "ok")
    })
    .expect("server");
    let s = Suite::new();
    s.config(json!({"runtime": {"alerts": {"webhook_url": format!("{}/hook", srv.url())}}}));
    s.run(bin(), &["--alert", "k1"]).code(0);
    let got = got.lock().expect("lock");
    assert_eq!(got.len(), 1);
    assert!(
        got[0]["text"]
            .as_str()
            .unwrap_or("")
            .contains("sample alert text")
    );
    assert_eq!(got[0]["key"], "k1");
    assert_eq!(got[0]["job"], "sample-job");
}

#[test]
fn dead_man_pings_start_success_and_fail() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s2 = seen.clone();
    let srv = fakes::Server::start(0, move |req| {
        s2.lock().expect("lock").push(req.path.clone());
        assert!(req.param("rid").is_some_and(|r| r.len() == 36));
        fakes::Reply::raw(200, "text/plain", "OK")
    })
    .expect("server");
    let s = Suite::new();
    s.config(json!({"runtime": {"pings": {"sample-job": format!("{}/ping/abc", srv.url())}}}));
    s.run(bin(), &[]).silent_success();
    assert_eq!(
        *seen.lock().expect("lock"),
        vec!["/ping/abc/start", "/ping/abc/0"]
    );
    seen.lock().expect("lock").clear();
    s.run(bin(), &["--fail", "x"]).code(1);
    assert_eq!(
        *seen.lock().expect("lock"),
        vec!["/ping/abc/start", "/ping/abc/1"]
    );
    // Another job's ping is not sent by this one.
    seen.lock().expect("lock").clear();
    s.config(json!({"runtime": {"pings": {"publish-report": format!("{}/ping/pr", srv.url())}}}));
    s.run(bin(), &[]).code(0);
    assert!(seen.lock().expect("lock").is_empty());
    // A ping server that is down never changes the outcome.
    s.config(json!({"runtime": {"pings": {"sample-job": "http://127.0.0.1:9/x"}}}));
    let r = s.run(bin(), &[]);
    r.code(0).stderr_has("dead-man ping http://127.0.0.1:9/x/");
    assert_eq!(s.state("sample-job")["last_run"]["outcome"], "ok");
    // A typo in a job name is a config error.
    s.config(json!({"runtime": {"pings": {"pol-teams": "http://127.0.0.1:9/x"}}}));
    s.run(bin(), &[])
        .code(78)
        .stderr_has("runtime.pings.pol-teams");
}

#[test]
fn check_config_validates_without_running() {
    let s = Suite::new();
    s.config(json!({"runtime": {"log_keep": 2}}));
    let r = s.run(bin(), &["--check-config"]);
    r.code(0).stdout_has("config.json is valid");
    assert!(!s.read("work.log").contains("start"), "the job did not run");
    assert!(!s.path("state/sample-job.json").exists());
    s.config(json!({"runtime": {"log_keep": -1}}));
    s.run(bin(), &["--check-config"])
        .code(78)
        .stderr_has("runtime.log_keep");
}

#[test]
fn alerts_go_to_a_teams_chat_once() {
    let graph = fakes::graph::FakeGraph::start();
    let chat = "19:ops-alerts@thread.v2";
    graph.add_chat(chat);
    let s = Suite::new();
    s.config(json!({
        "runtime": {"alerts": {"teams_chat_id": chat}},
        "poll-teams": {"graph": graph.user_config("GRAPH_PW")}
    }));
    for _ in 0..2 {
        let r = s.run_cmd(
            s.cmd(bin())
                .args(["--alert", "disk-full"])
                .env("GRAPH_PW", fakes::graph::AGENT_PASSWORD),
        );
        r.code(0);
    }
    let posted = graph.posted(chat);
    assert_eq!(posted.len(), 1, "{posted:?}");
    let body = posted[0]["body"]["content"].as_str().unwrap_or("");
    assert!(
        body.contains("sample alert text") && body.contains("sample-job"),
        "{body}"
    );
    assert_eq!(
        s.state("sample-job")["effects"]["alert/disk-full"]["status"],
        "done"
    );
    assert!(
        !s.read("state/sample-job.json")
            .contains(fakes::graph::AGENT_PASSWORD)
    );
}

#[test]
fn help_shows_the_job_description() {
    let s = Suite::new();
    let r = s.run(bin(), &["--help"]);
    r.code(0).stdout_has("Fixture job for the runtime tests.");
    assert!(!r.stdout.contains("Flags every job has"), "{}", r.stdout);
}
