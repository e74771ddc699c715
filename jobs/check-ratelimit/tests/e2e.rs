//! End-to-end tests of `check-ratelimit` as cron runs it: the real binary on a temporary suite
//! root, gateway-shaped log files written and rotated by the test, hooks and alerts played by
//! small shell commands that append to files, so every side effect can be counted.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use testkit::{Run, Suite};

const JOB: &str = "check-ratelimit";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_check-ratelimit"))
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-05T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The gateway's `embedded run agent end … API rate limit reached` line (tslog JSON shape).
fn rl_line(at: DateTime<Utc>, n: usize) -> String {
    let local = at.with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap());
    format!(
        "{{\"0\":\"{{\\\"subsystem\\\":\\\"agent/embedded\\\"}}\",\"1\":\"embedded run agent end: runId=372ec411-24b5-486d-bf36-{n:012} isError=true error=⚠️ API rate limit reached. Please try again later.\",\"_meta\":{{\"runtime\":\"node\",\"hostname\":\"agent-host\",\"date\":\"{}\",\"logLevelId\":4,\"logLevelName\":\"WARN\"}},\"time\":\"{}\"}}\n",
        ts(at),
        local.to_rfc3339_opts(SecondsFormat::Millis, false)
    )
}

/// The structured cooldown event with `cooldownUntil` (epoch ms).
fn cooldown_line(at: DateTime<Utc>, until: DateTime<Utc>) -> String {
    format!(
        "{{\"0\":\"{{\\\"subsystem\\\":\\\"agent/embedded\\\"}}\",\"1\":{{\"event\":\"auth_profile_failure_state_updated\",\"runId\":\"4a7c74cd-0918-4df9-8d3b-50a0e58deff3\",\"profileId\":\"sha256:9eec02c17471\",\"provider\":\"anthropic\",\"reason\":\"rate_limit\",\"windowType\":\"cooldown\",\"errorCount\":1,\"cooldownUntil\":{},\"failureCounts\":{{\"rate_limit\":1}}}},\"2\":\"auth profile failure state updated\",\"_meta\":{{\"date\":\"{}\",\"logLevelId\":4,\"logLevelName\":\"WARN\"}},\"time\":\"{}\"}}\n",
        until.timestamp_millis(),
        ts(at),
        ts(at)
    )
}

/// An ordinary info line (never a candidate), with digits 429 in ids and durations.
fn info_line(at: DateTime<Utc>, n: usize) -> String {
    format!(
        "{{\"0\":\"{{\\\"subsystem\\\":\\\"gateway\\\"}}\",\"1\":\"run done runId=429{n:06}-4290 durationMs=429 tokens=14290\",\"_meta\":{{\"date\":\"{}\",\"logLevelId\":3,\"logLevelName\":\"INFO\"}},\"time\":\"{}\"}}\n",
        ts(at),
        ts(at)
    )
}

fn typing_line(at: DateTime<Utc>) -> String {
    format!(
        "{} [msteams] msteams typing action=start failed: HTTP 429 Too Many Requests status code 429 \"API calls quota exceeded\"\n",
        ts(at)
    )
}

fn quota_line(at: DateTime<Utc>) -> String {
    format!(
        "{} [agent/embedded] embedded run agent end: isError=true rawError=HTTP 429: {{\"error\":{{\"message\":\"You exceeded your current quota, please check your plan and billing details.\",\"type\":\"insufficient_quota\",\"code\":\"insufficient_quota\"}}}}\n",
        ts(at)
    )
}

fn append(s: &Suite, rel: &str, text: &str) {
    append_bytes(s, rel, text.as_bytes());
}

fn append_bytes(s: &Suite, rel: &str, b: &[u8]) {
    let p = s.path(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .unwrap();
    f.write_all(b).unwrap();
}

/// A suite with the gateway logs under `gw/`, hooks and alerts recorded in files.
fn suite(extra: Value) -> Suite {
    let s = Suite::new();
    std::fs::create_dir_all(s.path("gw")).unwrap();
    let root = s.root().display().to_string();
    let mut job = json!({
        "logs": ["gw/openclaw-*.log"],
        "on_open": [["sh", "-c", format!("echo \"open $AGENT_JOBS_INCIDENT_ID\" >> {root}/hooks.txt")]],
        "on_close": [["sh", "-c", format!("echo \"close $AGENT_JOBS_INCIDENT_ID\" >> {root}/hooks.txt")]],
    });
    if let (Value::Object(j), Value::Object(e)) = (&mut job, extra) {
        for (k, v) in e {
            j.insert(k, v);
        }
    }
    s.config(json!({
        "runtime": {"alerts": {"command": ["sh", "-c", format!("cat >> {root}/alerts.txt; echo >> {root}/alerts.txt")]}},
        JOB: job,
    }));
    s
}

fn run_at(s: &Suite, now: DateTime<Utc>, extra: &[&str]) -> Run {
    let n = ts(now);
    let mut args = vec!["--now", n.as_str()];
    args.extend_from_slice(extra);
    s.run(bin(), &args)
}

fn metric(s: &Suite, k: &str) -> u64 {
    s.state(JOB)["metrics"][k].as_u64().unwrap_or(0)
}

fn circuit(s: &Suite) -> Value {
    serde_json::from_str(&s.read("state/circuit.json")).unwrap_or(Value::Null)
}

fn lines_of(s: &Suite, rel: &str) -> Vec<String> {
    s.read(rel)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect()
}

/// A threshold so high the circuit never opens: tests of counting only.
fn counting() -> Value {
    json!({"threshold": 100000, "quota_threshold": 100000})
}

mod cursor {
    use super::*;

    #[test]
    fn first_run_starts_at_the_end_unless_from_start() {
        let s = suite(counting());
        append(&s, "gw/openclaw-2026-03-05.log", &rl_line(t0(), 1));
        run_at(&s, t0(), &[]).code(0);
        assert_eq!(metric(&s, "matches_rate_limit"), 0);
        append(&s, "gw/openclaw-2026-03-05.log", &rl_line(t0(), 2));
        run_at(&s, t0(), &[]).code(0);
        assert_eq!(metric(&s, "matches_rate_limit"), 1);

        let s = suite(counting());
        append(&s, "gw/openclaw-2026-03-05.log", &rl_line(t0(), 1));
        run_at(&s, t0(), &["--from-start"]).code(0);
        assert_eq!(metric(&s, "matches_rate_limit"), 1);
    }

    #[test]
    fn nothing_new_is_a_silent_noop() {
        let s = suite(counting());
        append(&s, "gw/openclaw-2026-03-05.log", &info_line(t0(), 1));
        run_at(&s, t0(), &["--from-start"]).silent_success();
        let r = run_at(&s, t0(), &[]);
        r.silent_success();
        assert_eq!(s.state(JOB)["last_run"]["outcome"], "noop", "{}", r.dump());
    }

    #[test]
    fn rotation_by_rename_finishes_the_old_file_first() {
        let s = suite(counting());
        let f = "gw/openclaw-2026-03-05.log";
        append(&s, f, &rl_line(t0(), 1));
        append(&s, f, &info_line(t0(), 2));
        run_at(&s, t0(), &["--from-start"]).silent_success();
        assert_eq!(metric(&s, "matches_rate_limit"), 1);
        // Written after the last run, then the file is rotated away and a new one started.
        append(&s, f, &rl_line(t0(), 3));
        std::fs::rename(s.path(f), s.path("gw/openclaw-2026-03-05.1.log")).unwrap();
        append(&s, f, &rl_line(t0(), 4));
        append(&s, f, &rl_line(t0(), 5));
        run_at(&s, t0(), &[]).silent_success();
        assert_eq!(metric(&s, "matches_rate_limit"), 4);
        assert_eq!(metric(&s, "files_rotated"), 1);
        run_at(&s, t0(), &[]).silent_success();
        assert_eq!(metric(&s, "matches_rate_limit"), 4, "nothing counted twice");
    }

    #[test]
    fn rotation_by_copy_truncate_resumes_in_the_copy() {
        let s = suite(counting());
        let f = "gw/openclaw-2026-03-05.log";
        for i in 0..3 {
            append(&s, f, &rl_line(t0(), i));
        }
        run_at(&s, t0(), &["--from-start"]).silent_success();
        assert_eq!(metric(&s, "matches_rate_limit"), 3);
        append(&s, f, &rl_line(t0(), 10)); // unread when the copy is taken
        std::fs::copy(s.path(f), s.path("gw/openclaw-2026-03-05.1.log")).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(s.path(f))
            .unwrap();
        append(&s, f, &rl_line(t0(), 11));
        run_at(&s, t0(), &[]).silent_success();
        assert_eq!(metric(&s, "matches_rate_limit"), 5, "{}", s.log(JOB));
        assert_eq!(metric(&s, "files_copied"), 1);
        assert_eq!(metric(&s, "files_truncated"), 1);
    }

    #[test]
    fn daily_rollover_reads_the_new_file_from_its_start() {
        let s = suite(counting());
        append(&s, "gw/openclaw-2026-03-05.log", &rl_line(t0(), 1));
        run_at(&s, t0(), &["--from-start"]).silent_success();
        append(&s, "gw/openclaw-2026-03-05.log", &rl_line(t0(), 2));
        append(&s, "gw/openclaw-2026-03-06.log", &rl_line(t0(), 3));
        append(&s, "gw/openclaw-2026-03-06.log", &rl_line(t0(), 4));
        run_at(&s, t0(), &[]).silent_success();
        assert_eq!(metric(&s, "matches_rate_limit"), 4);
        // the first run (--from-start) read 03-05 as new, this one 03-06
        assert_eq!(metric(&s, "files_new"), 2);
        assert_eq!(s.state(JOB)["data"]["cursors"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_file_deleted_between_runs_is_forgotten() {
        let s = suite(counting());
        append(&s, "gw/openclaw-2026-03-04.log", &rl_line(t0(), 1));
        append(&s, "gw/openclaw-2026-03-05.log", &rl_line(t0(), 2));
        run_at(&s, t0(), &["--from-start"]).silent_success();
        std::fs::remove_file(s.path("gw/openclaw-2026-03-04.log")).unwrap();
        run_at(&s, t0(), &[]).silent_success();
        assert_eq!(metric(&s, "files_vanished"), 1);
        let cursors = s.state(JOB)["data"]["cursors"].clone();
        assert_eq!(cursors.as_array().unwrap().len(), 1, "{cursors}");
        append(&s, "gw/openclaw-2026-03-05.log", &rl_line(t0(), 3));
        run_at(&s, t0(), &[]).silent_success();
        assert_eq!(metric(&s, "matches_rate_limit"), 3);
        // All files gone: still fine.
        std::fs::remove_file(s.path("gw/openclaw-2026-03-05.log")).unwrap();
        run_at(&s, t0(), &[]).silent_success();
        assert_eq!(metric(&s, "files_vanished"), 2);
    }

    #[test]
    fn a_partial_last_line_is_completed_in_the_next_run() {
        let s = suite(counting());
        let f = "gw/openclaw-2026-03-05.log";
        append(&s, f, &info_line(t0(), 0));
        run_at(&s, t0(), &["--from-start"]).silent_success();
        let line = rl_line(t0(), 1);
        let (a, b) = line.split_at(line.len() / 2);
        append(&s, f, a);
        run_at(&s, t0(), &[]).silent_success();
        assert_eq!(metric(&s, "matches_rate_limit"), 0);
        assert_eq!(metric(&s, "lines_garbage"), 0, "half a line is not garbage");
        append(&s, f, b);
        run_at(&s, t0(), &[]).silent_success();
        assert_eq!(metric(&s, "matches_rate_limit"), 1);
        assert_eq!(metric(&s, "lines_garbage"), 0);
    }

    /// Many runs with random appends (split mid-line), renames, copy-truncates and daily
    /// rollovers: the count equals what was written, exactly.
    #[test]
    fn the_same_lines_are_never_counted_twice_across_many_runs() {
        let s = suite(counting());
        let mut written = 0u64;
        let mut pending = String::new();
        let mut day = 5;
        let mut n = 0;
        run_at(&s, t0(), &["--from-start"]).silent_success();
        let mut rng = fastrand_like(7);
        for round in 0..60 {
            let f = format!("gw/openclaw-2026-03-{day:02}.log");
            let mut text = std::mem::take(&mut pending);
            for _ in 0..(rng() % 5) {
                n += 1;
                if rng().is_multiple_of(2) {
                    text.push_str(&rl_line(t0(), n));
                    written += 1;
                } else {
                    text.push_str(&info_line(t0(), n));
                }
            }
            if rng().is_multiple_of(3) {
                n += 1;
                let l = rl_line(t0(), n);
                written += 1;
                let cut = 1 + (rng() as usize % (l.len() - 2));
                text.push_str(&l[..cut]);
                pending = l[cut..].to_string();
            }
            append(&s, &f, &text);
            match rng() % 10 {
                0 if pending.is_empty() => {
                    // rename rotation (the rotated name is unique per round)
                    std::fs::rename(
                        s.path(&f),
                        s.path(&format!("gw/openclaw-2026-03-{day:02}.{round}.log")),
                    )
                    .unwrap();
                }
                1 if pending.is_empty() => {
                    std::fs::copy(
                        s.path(&f),
                        s.path(&format!("gw/openclaw-2026-03-{day:02}.{round}.log")),
                    )
                    .unwrap();
                    std::fs::OpenOptions::new()
                        .write(true)
                        .truncate(true)
                        .open(s.path(&f))
                        .unwrap();
                }
                2 if pending.is_empty() => day += 1,
                _ => {}
            }
            if rng().is_multiple_of(2) {
                run_at(&s, t0(), &[]).silent_success();
            }
        }
        append(
            &s,
            &format!("gw/openclaw-2026-03-{day:02}.log"),
            &std::mem::take(&mut pending),
        );
        run_at(&s, t0(), &[]).silent_success();
        assert_eq!(metric(&s, "matches_rate_limit"), written, "{}", s.log(JOB));
        assert_eq!(metric(&s, "lines_garbage"), 0);
    }

    /// Tiny deterministic generator (xorshift), so failures reproduce.
    fn fastrand_like(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }
}

mod matching {
    use super::*;

    #[test]
    fn typing_indicator_429_and_ids_with_429_are_not_counted() {
        let s = suite(json!({"threshold": 1}));
        run_at(&s, t0(), &["--from-start"]).silent_success();
        let f = "gw/openclaw-2026-03-05.log";
        for i in 0..20 {
            append(&s, f, &typing_line(t0() - Duration::seconds(i)));
            append(&s, f, &info_line(t0(), i as usize));
        }
        run_at(&s, t0(), &[]).silent_success();
        assert_eq!(metric(&s, "matches_rate_limit"), 0);
        assert_eq!(metric(&s, "lines_excluded"), 20);
        assert!(!s.path("state/circuit.json").exists());
        // A configured exclusion works the same way.
        let s = suite(json!({"threshold": 1, "exclude": ["synthetic-probe"]}));
        append(
            &s,
            f,
            &format!("{} [probe] synthetic-probe status=429\n", ts(t0())),
        );
        run_at(&s, t0(), &["--from-start"]).silent_success();
        assert_eq!(metric(&s, "matches_rate_limit"), 0);
    }

    #[test]
    fn garbage_input_is_skipped_with_a_counter_never_a_crash() {
        let s = suite(counting());
        let f = "gw/openclaw-2026-03-05.log";
        append(&s, f, &rl_line(t0(), 1));
        // binary bytes around a phrase
        append_bytes(&s, f, b"\x00\x01\x02\x7fAPI rate limit reached\x00\x00\n");
        // invalid UTF-8
        append_bytes(
            &s,
            f,
            b"2026-03-05T12:00:00Z \xff\xfe status=429 \xc3\x28\n",
        );
        // truncated JSON
        let l = rl_line(t0(), 2);
        append(&s, f, &format!("{}\n", &l[..l.len() - 40]));
        // a 10 MB line containing a phrase, then a 10 MB line without one
        let mut big = b"{\"1\":\"API rate limit reached ".to_vec();
        big.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
        big.extend_from_slice(b"\"}\n");
        append_bytes(&s, f, &big);
        append_bytes(&s, f, &vec![b'y'; 10 * 1024 * 1024]);
        append_bytes(&s, f, b"\n");
        append(&s, f, &rl_line(t0(), 3));
        run_at(&s, t0(), &["--from-start"]).code(0);
        assert_eq!(metric(&s, "matches_rate_limit"), 2, "{}", s.log(JOB));
        assert_eq!(metric(&s, "lines_garbage"), 3);
        assert_eq!(metric(&s, "lines_oversized"), 2);
        assert!(s.log(JOB).contains("unusable line"), "{}", s.log(JOB));
        // A long line still being written when the run comes: skipped across runs.
        append_bytes(&s, f, &vec![b'z'; 3 * 1024 * 1024]);
        run_at(&s, t0(), &[]).code(0);
        append_bytes(&s, f, b"API rate limit reached\n");
        append(&s, f, &rl_line(t0(), 4));
        run_at(&s, t0(), &[]).code(0);
        assert_eq!(metric(&s, "matches_rate_limit"), 3);
        assert_eq!(metric(&s, "lines_oversized"), 3);
    }

    #[test]
    fn the_config_example_is_valid() {
        let s = Suite::new();
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.json"))
                .unwrap();
        s.write("config.json", &text);
        run_at(&s, t0(), &["status"])
            .code(0)
            .stdout_has("circuit: closed")
            .stdout_has("maintenance: none");
    }

    #[test]
    fn bad_config_is_exit_78_naming_the_key() {
        let s = suite(json!({"threshold": 0}));
        run_at(&s, t0(), &[])
            .code(78)
            .stderr_has("check-ratelimit.threshold");
        let s = suite(json!({"include": ["429"]}));
        run_at(&s, t0(), &[]).code(78).stderr_has("include[0]");
        let s = suite(json!({"tresholds": 3}));
        run_at(&s, t0(), &[]).code(78).stderr_has("tresholds");
    }
}

mod breaker {
    use super::*;

    fn burst(s: &Suite, times: &[i64]) {
        for (i, secs) in times.iter().enumerate() {
            append(
                s,
                "gw/openclaw-2026-03-05.log",
                &rl_line(t0() + Duration::seconds(*secs), i),
            );
        }
    }

    fn fresh(extra: Value) -> Suite {
        let s = suite(extra);
        append(&s, "gw/openclaw-2026-03-05.log", &info_line(t0(), 0));
        run_at(&s, t0() - Duration::hours(1), &["--from-start"]).silent_success();
        s
    }

    #[test]
    fn threshold_and_window_edges() {
        // Exactly on the window's edge (at == now - 300 s) counts: 3 in the window.
        let s = fresh(json!({}));
        burst(&s, &[-300, -150, 0]);
        run_at(&s, t0(), &[]).code(0);
        assert_eq!(circuit(&s)["state"], "open", "{}", s.log(JOB));
        assert_eq!(circuit(&s)["matches"], 3);
        assert_eq!(circuit(&s)["kind"], "rate_limit");
        // One second older is outside.
        let s = fresh(json!({}));
        burst(&s, &[-301, -150, 0]);
        run_at(&s, t0(), &[]).silent_success();
        assert!(!s.path("state/circuit.json").exists(), "{}", s.log(JOB));
        // 2 is below the threshold; the third in a later run opens it.
        let s = fresh(json!({}));
        burst(&s, &[-10, -5]);
        run_at(&s, t0(), &[]).silent_success();
        assert!(!s.path("state/circuit.json").exists());
        burst(&s, &[100]);
        run_at(&s, t0() + Duration::seconds(100), &[]).code(0);
        assert_eq!(circuit(&s)["state"], "open");
        // Configurable: threshold 5 in 60 s.
        let s = fresh(json!({"threshold": 5, "window_secs": 60}));
        burst(&s, &[-70, -50, -40, -30, -20]);
        run_at(&s, t0(), &[]).silent_success();
        assert!(!s.path("state/circuit.json").exists());
        burst(&s, &[-1]);
        run_at(&s, t0(), &[]).code(0);
        assert_eq!(circuit(&s)["state"], "open");
        assert_eq!(circuit(&s)["matches"], 5);
    }

    #[test]
    fn reset_from_cooldown_until_closes_before_the_cool_off() {
        let s = fresh(json!({"cool_off_secs": 900}));
        let until = t0() + Duration::seconds(120);
        burst(&s, &[-3, -2]);
        append(
            &s,
            "gw/openclaw-2026-03-05.log",
            &cooldown_line(t0() - Duration::seconds(1), until),
        );
        run_at(&s, t0(), &[]).code(0);
        let c = circuit(&s);
        assert_eq!(c["state"], "open");
        assert_eq!(
            c["reset_at"]
                .as_str()
                .unwrap()
                .parse::<DateTime<Utc>>()
                .unwrap(),
            until
        );
        run_at(&s, until - Duration::seconds(1), &[]).silent_success();
        assert_eq!(circuit(&s)["state"], "open");
        run_at(&s, until + Duration::seconds(1), &[]).code(0);
        assert_eq!(circuit(&s)["state"], "closed", "{}", s.log(JOB));
        let h = &s.state(JOB)["data"]["history"][0];
        assert_eq!(h["reset_source"], "cooldownUntil");
        assert_eq!(lines_of(&s, "hooks.txt").len(), 2, "one open, one close");
        let alerts = s.read("alerts.txt");
        assert!(alerts.contains("Recovered after 2m"), "{alerts}");
    }

    #[test]
    fn without_a_reset_time_the_cool_off_decides() {
        let s = fresh(json!({"cool_off_secs": 900}));
        burst(&s, &[-3, -2, -1]);
        run_at(&s, t0(), &[]).code(0);
        assert_eq!(circuit(&s)["state"], "open");
        // A new match pushes the cool-off.
        burst(&s, &[600]);
        run_at(&s, t0() + Duration::seconds(601), &[]).silent_success();
        run_at(&s, t0() + Duration::seconds(1000), &[]).silent_success();
        assert_eq!(
            circuit(&s)["state"],
            "open",
            "cool-off counts from the last match"
        );
        run_at(&s, t0() + Duration::seconds(1501), &[]).code(0);
        assert_eq!(circuit(&s)["state"], "closed");
        let st = s.state(JOB);
        assert_eq!(st["data"]["history"][0]["reset_source"], "cool-off");
        assert_eq!(st["data"]["history"][0]["matches"], 4);
        // The old matches never reopen it.
        run_at(&s, t0() + Duration::seconds(1502), &[]).silent_success();
        assert_eq!(circuit(&s)["state"], "closed");
        assert_eq!(lines_of(&s, "hooks.txt").len(), 2);
    }

    #[test]
    fn alert_and_on_open_once_per_incident() {
        let s = fresh(json!({}));
        burst(&s, &[-3, -2, -1]);
        run_at(&s, t0(), &[]).code(0);
        for i in 1..5 {
            burst(&s, &[i]);
            run_at(&s, t0() + Duration::seconds(i), &[]).silent_success();
        }
        assert_eq!(lines_of(&s, "hooks.txt").len(), 1);
        let alerts = s.read("alerts.txt");
        assert_eq!(alerts.matches("circuit open").count(), 1, "{alerts}");
        assert!(alerts.contains("API rate limit reached"), "{alerts}");
    }

    #[test]
    fn killed_right_after_on_open_it_is_not_repeated() {
        let s = fresh(json!({
            "on_open": [["sh", "-c", "echo ran >> hooks.txt; kill -9 $PPID; sleep 1"]]
        }));
        burst(&s, &[-3, -2, -1]);
        let r = run_at(&s, t0(), &[]);
        assert_ne!(r.code, 0, "the job was killed\n{}", r.dump());
        assert_eq!(lines_of(&s, "hooks.txt"), vec!["ran"]);
        let r = run_at(&s, t0() + Duration::seconds(10), &[]);
        r.code(0).stderr_has("outcome is unknown");
        run_at(&s, t0() + Duration::seconds(20), &[]).silent_success();
        assert_eq!(lines_of(&s, "hooks.txt"), vec!["ran"], "not repeated");
        let st = s.state(JOB);
        let actions = &st["data"]["incident"]["actions"];
        assert_eq!(actions[0]["status"], "unknown", "{actions}");
        assert_eq!(
            actions[1]["status"], "done",
            "the alert still went out once"
        );
        assert_eq!(s.read("alerts.txt").matches("circuit open").count(), 1);
    }

    #[test]
    fn killed_right_after_the_alert_it_is_not_repeated() {
        let s = Suite::new();
        let root = s.root().display().to_string();
        s.config(json!({
            "runtime": {"alerts": {"command": ["sh", "-c", format!("cat >> {root}/alerts.txt; echo >> {root}/alerts.txt; kill -9 $PPID; sleep 1")]}},
            JOB: {"logs": ["gw/openclaw-*.log"]}
        }));
        append(&s, "gw/openclaw-2026-03-05.log", &info_line(t0(), 0));
        run_at(&s, t0(), &["--from-start"]).silent_success();
        for i in 0..3 {
            append(&s, "gw/openclaw-2026-03-05.log", &rl_line(t0(), i));
        }
        let r = run_at(&s, t0(), &[]);
        assert_ne!(r.code, 0, "{}", r.dump());
        assert_eq!(s.read("alerts.txt").matches("circuit open").count(), 1);
        run_at(&s, t0() + Duration::seconds(5), &[]).code(0);
        run_at(&s, t0() + Duration::seconds(6), &[]).code(0);
        assert_eq!(s.read("alerts.txt").matches("circuit open").count(), 1);
        assert_eq!(circuit(&s)["state"], "open");
    }

    /// SIGKILL at random moments of runs that open and close incidents: every hook line and
    /// every alert appears at most once per incident, and the circuit always ends consistent.
    #[test]
    fn random_kills_never_repeat_side_effects() {
        let s = fresh(json!({
            "cool_off_secs": 60,
            "on_open": [["sh", "-c", "sleep 0.02; echo \"open $AGENT_JOBS_INCIDENT_ID\" >> hooks.txt"]],
            "on_close": [["sh", "-c", "sleep 0.02; echo \"close $AGENT_JOBS_INCIDENT_ID\" >> hooks.txt"]]
        }));
        let mut now = t0();
        let mut rnd = 12345u64;
        for i in 0..40 {
            rnd ^= rnd << 13;
            rnd ^= rnd >> 7;
            rnd ^= rnd << 17;
            // alternate bursts (open) and quiet periods (close)
            if i % 4 == 0 {
                for k in 0..3 {
                    append(&s, "gw/openclaw-2026-03-05.log", &rl_line(now, k));
                }
            } else {
                now += Duration::seconds(50);
            }
            let n = ts(now);
            let mut child = s.spawn(bin(), &["--now", &n]);
            std::thread::sleep(std::time::Duration::from_millis(rnd % 60));
            testkit::signal(&child, 9);
            let _ = child.wait();
        }
        // Let everything settle without kills.
        for _ in 0..3 {
            now += Duration::seconds(100);
            run_at(&s, now, &[]).code(0);
        }
        assert_eq!(circuit(&s)["state"], "closed", "{}", s.log(JOB));
        let hooks = lines_of(&s, "hooks.txt");
        let mut seen = std::collections::HashSet::new();
        for h in &hooks {
            assert!(seen.insert(h.clone()), "hook repeated: {h}\n{hooks:#?}");
        }
        let st = s.state(JOB);
        let history = st["data"]["history"].as_array().unwrap();
        for h in history {
            let id = h["id"].as_str().unwrap();
            let alerts = s.read("alerts.txt");
            assert!(
                alerts.matches(id).count() <= 2,
                "open + close alert at most: {id}"
            );
        }
    }

    #[test]
    fn quota_exhaustion_needs_a_manual_close() {
        let s = fresh(json!({}));
        append(&s, "gw/openclaw-2026-03-05.log", &quota_line(t0()));
        run_at(&s, t0(), &[]).code(0);
        let c = circuit(&s);
        assert_eq!(c["state"], "open");
        assert_eq!(c["kind"], "quota");
        assert!(s.read("alerts.txt").contains("does not reset by itself"));
        // Days later, still open.
        run_at(&s, t0() + Duration::days(3), &[]).silent_success();
        assert_eq!(circuit(&s)["state"], "open");
        let r = run_at(&s, t0() + Duration::days(3), &["close"]);
        r.code(0).stdout_has("circuit closed");
        assert_eq!(circuit(&s)["state"], "closed");
        let st = s.state(JOB);
        assert_eq!(st["data"]["history"][0]["kind"], "quota");
        assert_eq!(
            st["data"]["history"][0]["close_reason"],
            "closed by operator"
        );
        assert_eq!(lines_of(&s, "hooks.txt").len(), 2);
    }

    #[test]
    fn a_rate_limit_circuit_escalates_to_quota() {
        let s = fresh(json!({}));
        burst(&s, &[-3, -2, -1]);
        run_at(&s, t0(), &[]).code(0);
        append(
            &s,
            "gw/openclaw-2026-03-05.log",
            &quota_line(t0() + Duration::seconds(5)),
        );
        run_at(&s, t0() + Duration::seconds(10), &[]).code(0);
        assert_eq!(circuit(&s)["kind"], "quota");
        run_at(&s, t0() + Duration::hours(5), &[]).silent_success();
        assert_eq!(circuit(&s)["state"], "open");
    }

    #[test]
    fn maintenance_suppresses_alerts_and_commands() {
        let s = fresh(json!({}));
        s.write(
            "state/maintenance.json",
            &json!({"until": ts(t0() + Duration::hours(1)), "reason": "provider migration"})
                .to_string(),
        );
        burst(&s, &[-3, -2, -1]);
        run_at(&s, t0(), &[]).silent_success();
        assert_eq!(
            circuit(&s)["state"],
            "open",
            "the flag is still raised for the other jobs"
        );
        assert_eq!(s.read("hooks.txt"), "");
        assert_eq!(s.read("alerts.txt"), "");
        let st = s.state(JOB);
        assert_eq!(st["data"]["incident"]["actions"][0]["status"], "suppressed");
        // After the window, the close goes out normally.
        run_at(&s, t0() + Duration::hours(2), &[]).code(0);
        assert_eq!(circuit(&s)["state"], "closed");
        assert_eq!(lines_of(&s, "hooks.txt").len(), 1, "only on_close");
        assert!(s.read("alerts.txt").contains("Recovered"));
    }

    #[test]
    fn manual_open_close_and_status() {
        let s = fresh(json!({}));
        let r = run_at(&s, t0(), &["open", "--reason", "provider incident"]);
        r.code(0).stdout_has("circuit opened");
        assert_eq!(circuit(&s)["kind"], "manual");
        run_at(&s, t0() + Duration::days(1), &[]).silent_success();
        assert_eq!(circuit(&s)["state"], "open", "manual stays open");
        run_at(&s, t0(), &["open", "--reason", "again"])
            .code(0)
            .stdout_has("already open");
        let r = run_at(&s, t0() + Duration::days(1), &["status"]);
        r.code(0)
            .stdout_has("circuit: OPEN (manual)")
            .stdout_has("provider incident")
            .stdout_has("gw/openclaw-2026-03-05.log");
        run_at(&s, t0() + Duration::days(1), &["close"])
            .code(0)
            .stdout_has("open for 24h00m")
            .stdout_has("closed");
        run_at(&s, t0() + Duration::days(1), &["close"])
            .code(0)
            .stdout_has("already closed");
        let r = run_at(&s, t0() + Duration::days(1), &["status"]);
        r.code(0)
            .stdout_has("circuit: closed")
            .stdout_has("last incidents:");
        assert_eq!(lines_of(&s, "hooks.txt").len(), 2);
    }

    #[test]
    fn dry_run_changes_nothing() {
        let s = fresh(json!({}));
        let before = s.read("state/check-ratelimit.json");
        burst(&s, &[-3, -2, -1]);
        let r = run_at(&s, t0(), &["--dry-run"]);
        r.code(0).stderr_has("dry run: would");
        assert!(!s.path("state/circuit.json").exists());
        assert_eq!(s.read("hooks.txt"), "");
        assert_eq!(s.read("state/check-ratelimit.json"), before);
        run_at(&s, t0(), &[]).code(0);
        assert_eq!(circuit(&s)["state"], "open");
    }
}
