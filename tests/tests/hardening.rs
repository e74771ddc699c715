//! The runtime's hardening promises, through the `sample-job` fixture binary: every value
//! `--check-config` accepts runs, no panic reaches the user, a stop is bounded whatever the
//! step does, nothing is written through a planted symlink, modes do not depend on the umask,
//! and every side effect goes through the journal at most once (or at least once when
//! declared idempotent) whatever instant the process is killed.

use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};
use testkit::{Suite, signal};

const BIN: &str = env!("CARGO_BIN_EXE_sample-job");

fn bin() -> &'static Path {
    Path::new(BIN)
}

/// Set `runtime.<path>` to `v` (path with dots for nesting).
fn runtime_with(path: &str, v: Value) -> Value {
    let mut rt = json!({});
    let mut cur = &mut rt;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            cur[*p] = v.clone();
        } else {
            cur[*p] = json!({});
            cur = &mut cur[*p];
        }
    }
    json!({ "runtime": rt })
}

#[test]
fn every_numeric_key_is_rejected_or_runs() {
    let keys = [
        "log_max_bytes",
        "log_keep",
        "ping_timeout_secs",
        "stop_grace_secs",
        "alerts.command_timeout_secs",
        "alerts.min_interval_secs",
        "http.connect_timeout_secs",
        "http.timeout_secs",
        "http.max_retries",
        "http.backoff_base_ms",
        "http.backoff_max_secs",
        "http.retry_after_max_secs",
    ];
    let values = [
        json!(0),
        json!(-1),
        json!(4294967295u64),
        json!(99999999999999u64),
        json!(1e300),
        json!("NaN"),
        json!(null),
    ];
    let hook = testkit::fakes::webhook::Webhook::start().expect("webhook");
    for key in keys {
        for v in &values {
            let s = Suite::new();
            // A small log limit (rotation happens) and a webhook (HTTP happens) so an accepted
            // value is really exercised by the run.
            let mut cfg = json!({"runtime": {"log_max_bytes": 200, "log_keep": 3,
                "alerts": {"webhook_url": hook.url(), "min_interval_secs": 0}}});
            merge(&mut cfg, runtime_with(key, v.clone()));
            s.config(cfg);
            let check = s.run(bin(), &["--check-config"]);
            assert!(
                check.code == 0 || check.code == 78,
                "runtime.{key} = {v}: --check-config exit {}\n{}",
                check.code,
                check.dump()
            );
            if check.code == 78 {
                assert!(
                    check.stderr.contains(&format!("runtime.{key}")),
                    "the error names the key\n{}",
                    check.dump()
                );
                continue;
            }
            // Accepted: a real run must work (no panic, no hang).
            let say = "x".repeat(300);
            let run = s.run(bin(), &["--say", &say, "--alert", "k"]);
            assert_eq!(
                run.code,
                0,
                "runtime.{key} = {v} passed --check-config but the run failed\n{}",
                run.dump()
            );
        }
    }
}

fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in y {
                merge(x.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

#[test]
fn flags_out_of_range_are_usage_errors() {
    let s = Suite::new();
    for args in [
        ["--max-runtime", "18446744073709551615"],
        ["--max-runtime", "0"],
        ["--wait-lock", "99999999999"],
        ["--now", "yesterday"],
    ] {
        let r = s.run(bin(), &args);
        assert_eq!(r.code, 2, "{args:?}\n{}", r.dump());
    }
}

#[test]
fn a_panic_is_one_line_and_exit_70() {
    let s = Suite::new();
    let r = s.run(bin(), &["--panic"]);
    r.code(70);
    assert!(r.stderr.contains("internal error"), "{}", r.dump());
    assert!(!r.stderr.contains("stack backtrace"), "{}", r.dump());
    assert!(s.log("sample-job").contains("internal error"));
}

#[test]
fn sigterm_ends_a_step_that_never_returns_within_the_grace() {
    let s = Suite::new();
    s.config(json!({"runtime": {"stop_grace_secs": 2}}));
    let mut child = s.spawn(bin(), &["--hang"]);
    std::thread::sleep(Duration::from_millis(700));
    let t0 = Instant::now();
    signal(&child, 15);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "still running 15 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(143));
    assert!(
        t0.elapsed() >= Duration::from_secs(2),
        "the step had its grace"
    );
    assert!(
        s.log("sample-job")
            .contains("did not finish within 2 s of SIGTERM")
    );
    // The lock is free again: the next run works.
    s.run(bin(), &[]).code(0);
}

#[test]
fn sigint_past_the_grace_writes_a_json_line_with_the_time_and_exits_130() {
    let s = Suite::new();
    s.config(json!({"runtime": {"stop_grace_secs": 1, "log_format": "json"}}));
    let mut child = s.spawn(bin(), &["--hang"]);
    std::thread::sleep(Duration::from_millis(700));
    let before = chrono::Utc::now();
    signal(&child, 2);
    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        assert!(t0.elapsed() < Duration::from_secs(15), "still running");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(130));
    let log = s.log("sample-job");
    let last = log.lines().last().expect("a log line");
    let v: serde_json::Value = serde_json::from_str(last).expect(last);
    assert_eq!(v["level"], "ERROR", "{last}");
    assert_eq!(v["job"], "sample-job", "{last}");
    assert!(
        v["msg"]
            .as_str()
            .is_some_and(|m| m.contains("did not finish within 1 s of SIGINT")),
        "{last}"
    );
    let ts: chrono::DateTime<chrono::Utc> = v["ts"].as_str().expect("ts").parse().expect("a time");
    let after = chrono::Utc::now();
    assert!(
        ts >= before && ts <= after,
        "{ts} not between {before} and {after}"
    );
}

#[test]
fn max_runtime_ends_a_step_that_never_returns() {
    let s = Suite::new();
    s.config(json!({"runtime": {"stop_grace_secs": 1}}));
    let t0 = Instant::now();
    let r = s.run(bin(), &["--hang", "--max-runtime", "1"]);
    r.code(143);
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
}

#[test]
fn planted_symlinks_for_lock_and_log_are_refused() {
    let s = Suite::new();
    let outside = tempfile::tempdir().expect("tmp");
    let victim = outside.path().join("victim");
    std::fs::write(&victim, "precious\n").expect("write");
    std::os::unix::fs::symlink(&victim, s.path("state/sample-job.lock")).expect("link");
    let r = s.run(bin(), &[]);
    assert_ne!(r.code, 0, "{}", r.dump());
    assert!(r.stderr.contains("symbolic link"), "{}", r.dump());
    assert_eq!(
        std::fs::read_to_string(&victim).expect("read"),
        "precious\n"
    );

    let s = Suite::new();
    std::os::unix::fs::symlink(&victim, s.path("logs/sample-job.log")).expect("link");
    let r = s.run(bin(), &["--say", "into the log"]);
    assert!(r.stderr.contains("symbolic link"), "{}", r.dump());
    assert_eq!(
        std::fs::read_to_string(&victim).expect("read"),
        "precious\n"
    );
}

#[test]
fn directories_and_files_get_explicit_modes_under_umask_000() {
    let s = Suite::new();
    std::fs::remove_dir_all(s.path("state")).expect("rm");
    std::fs::remove_dir_all(s.path("logs")).expect("rm");
    let r = s.run_cmd(
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("umask 000 && exec {BIN}"))
            .env("AGENT_JOBS_ROOT", s.root())
            .current_dir(s.root()),
    );
    r.code(0);
    let mode = |p: &str| {
        std::fs::metadata(s.path(p))
            .expect("stat")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("state"), 0o700);
    assert_eq!(mode("logs"), 0o700);
    assert_eq!(mode("state/sample-job.json"), 0o600);
    assert_eq!(mode("state/sample-job.lock"), 0o600);
    assert_eq!(mode("logs/sample-job.log"), 0o600);
}

#[test]
fn a_state_file_that_is_a_directory_is_bad_state_with_a_hint() {
    let s = Suite::new();
    std::fs::create_dir(s.path("state/sample-job.json")).expect("mkdir");
    let r = s.run(bin(), &[]);
    r.code(65)
        .stderr_has("is a directory")
        .stderr_has("--reset-state");
    s.run(bin(), &["--reset-state"]).code(0);
}

fn effect_lines(s: &Suite, key: &str) -> usize {
    s.read("effects.log")
        .lines()
        .filter(|l| l.split(' ').next() == Some(key))
        .count()
}

/// Kill the process at each step of an effect, then run again: at most once by default,
/// at least once when idempotent, exactly once with a verify step.
#[test]
fn effect_journal_under_a_kill_at_every_step() {
    for point in ["effect-intent", "effect-acted"] {
        for (mode, extra) in [
            ("at-most-once", vec![]),
            ("idempotent", vec!["--idempotent"]),
            ("verified", vec!["--verify"]),
        ] {
            let s = Suite::new();
            let mut args = vec!["--effect", "k1"];
            args.extend(extra.iter().copied());
            let killed = s.run_cmd(
                s.cmd(bin())
                    .args(&args)
                    .env("AGENT_JOBS_TEST_CRASH_AT", point),
            );
            assert_ne!(
                killed.code,
                0,
                "{point}/{mode}: the crash point killed it\n{}",
                killed.dump()
            );
            let st = s.state_raw();
            assert!(
                st.contains("\"started\"") || st.is_empty() || st.contains("\"unknown\""),
                "{point}/{mode}: the intent was on disk before the act\n{st}"
            );
            let again = s.run(bin(), &args);
            again.code(0);
            let again2 = s.run(bin(), &args);
            again2.code(0);
            let n = effect_lines(&s, "k1");
            let acted_before_kill = usize::from(point == "effect-acted");
            match mode {
                "at-most-once" => {
                    assert_eq!(
                        n, acted_before_kill,
                        "{point}/{mode}: never repeated blindly"
                    );
                    let st: Value = s.state("sample-job");
                    assert_eq!(
                        st["effects"]["sample/k1"]["status"], "unknown",
                        "{point}/{mode}"
                    );
                    assert!(
                        s.log("sample-job").contains("outcome is unknown"),
                        "reported, not silently skipped"
                    );
                }
                "idempotent" => assert_eq!(n, acted_before_kill + 1, "{point}/{mode}: done again"),
                _ => assert_eq!(n, 1, "{point}/{mode}: exactly once"),
            }
        }
    }
}

trait RawState {
    fn state_raw(&self) -> String;
}

impl RawState for Suite {
    fn state_raw(&self) -> String {
        self.read("state/sample-job.json")
    }
}

/// A hostile server that answers every request 500 with the whole request echoed back:
/// method, URL, headers and body (a proxy in debug mode does this).
fn echo_server() -> testkit::fakes::Server {
    testkit::fakes::Server::start(0, |req| {
        let mut t = format!("{} {}\n", req.method, req.target);
        for (k, v) in &req.headers {
            t.push_str(&format!("{k}: {v}\n"));
        }
        t.push_str(&String::from_utf8_lossy(&req.body));
        testkit::fakes::Reply::raw(500, "text/plain", t)
    })
    .expect("echo server")
}

#[test]
fn secrets_echoed_back_by_a_hostile_server_never_leave_the_process() {
    let echo = echo_server();
    let s = Suite::new();
    let webhook_token = "WEBHOOK-QUERY-TOKEN-5a1b2c3d";
    let password = "graph-pa55word-9f8e7d";
    s.write(
        "secrets/webhook-url",
        &format!("{}/alert?token={webhook_token}\n", echo.url()),
    );
    s.write("secrets/graph-password", &format!("{password}\n"));
    for f in ["secrets/webhook-url", "secrets/graph-password"] {
        std::fs::set_permissions(s.path(f), std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    s.config(json!({
        "graph": {"token_url": echo.url(), "graph_url": format!("{}/v1.0", echo.url()),
                  "tenant": "contoso.example", "client_id": "11111111-2222-3333-4444-555555555555",
                  "grant": "password", "username": "agent@contoso.example",
                  "password_file": "secrets/graph-password"},
        "runtime": {"alerts": {"webhook_url_file": "secrets/webhook-url",
                               "teams_chat_id": "19:abc@thread.v2",
                               "command": ["sh", "-c", "cat > alert-input.txt"],
                               "min_interval_secs": 0},
                    "http": {"max_retries": 0}}
    }));
    let r = s.run(bin(), &["--alert", "k"]);
    let everything = format!(
        "{}\n{}\n{}\n{}\n{}",
        r.stdout,
        r.stderr,
        s.log("sample-job"),
        s.read("state/sample-job.json"),
        s.read("alert-input.txt")
    );
    assert!(
        everything.contains("500") || everything.contains("failed"),
        "the deliveries did fail against the echo server\n{everything}"
    );
    for secret in [webhook_token, password] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked into the output, log, state or alert text:\n{everything}"
        );
    }
}
