//! End-to-end tests of `check-ratelimit` as cron runs it: the real binary on a temporary suite
//! root, fed the records the real gateway (OpenClaw 2026.9.6) wrote in the captured scenarios
//! (`tests/fixtures/openclaw-2026.9.6/`: JSONL file form and console text form), written and
//! rotated by the test; hooks and alerts played by small shell commands that append to files,
//! so every side effect can be counted.
//!
//! Captured records are re-timed where a test needs them at given moments (`_meta.date` and
//! `time` moved, a `cooldownUntil`/`disabledUntil` moved with them); nothing else in them is
//! changed.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use testkit::{Run, Suite};

const JOB: &str = "check-ratelimit";
const LOG: &str = "gw/openclaw-2026-03-05.log";

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

// ---- captured records ----

fn fixture_path(name: &str, file: &str) -> String {
    format!(
        "{}/../../tests/fixtures/openclaw-2026.9.6/{name}/{file}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn fixture(name: &str, file: &str) -> String {
    std::fs::read_to_string(fixture_path(name, file)).unwrap()
}

/// The records of a capture's log file.
fn records(name: &str) -> Vec<Value> {
    fixture(name, "gateway.log.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn date_of(r: &Value) -> DateTime<Utc> {
    r["_meta"]["date"].as_str().unwrap().parse().unwrap()
}

fn fields_mut(r: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    if r["1"].is_object() {
        r["1"].as_object_mut()
    } else {
        r["2"].as_object_mut()
    }
}

/// A captured record moved to `at` (one line, with its newline).
fn retime(r: &Value, at: DateTime<Utc>) -> String {
    let mut r = r.clone();
    let delta = at - date_of(&r);
    r["_meta"]["date"] = json!(ts(at));
    r["time"] = json!(at.to_rfc3339_opts(SecondsFormat::Millis, false));
    if let Some(f) = fields_mut(&mut r) {
        for k in ["cooldownUntil", "disabledUntil"] {
            if let Some(ms) = f.get(k).and_then(Value::as_i64) {
                f.insert(k.into(), json!(ms + delta.num_milliseconds()));
            }
        }
    }
    format!("{}\n", serde_json::to_string(&r).unwrap())
}

/// The first record of a capture with this event.
fn event(name: &str, ev: &str) -> Value {
    records(name)
        .into_iter()
        .find(|r| r["1"]["event"] == ev || r["2"]["event"] == ev)
        .unwrap_or_else(|| panic!("no {ev} in {name}"))
}

/// One refused request (a 429 with `Retry-After: 2`), at `at`.
fn refusal(at: DateTime<Utc>) -> String {
    retime(&event("turn-429-retried", "embedded_run_agent_end"), at)
}

/// One refused request without a reset hint (the retryable 402), at `at`.
fn refusal_no_hint(at: DateTime<Utc>) -> String {
    retime(&event("turn-402-spending", "embedded_run_agent_end"), at)
}

/// An ordinary record (no refusal, no call: `tool-search: cataloged …`), at `at`.
fn plain(at: DateTime<Utc>) -> String {
    let r = records("turn-ok")
        .into_iter()
        .find(|r| {
            r["1"]
                .as_str()
                .is_some_and(|t| t.starts_with("tool-search"))
        })
        .unwrap();
    retime(&r, at)
}

/// A whole captured run, moved so that its last record is at `last`.
fn run_records(name: &str, last: DateTime<Utc>) -> String {
    let rs = records(name);
    let end = rs.iter().map(date_of).max().unwrap();
    rs.iter()
        .map(|r| retime(r, last + (date_of(r) - end)))
        .collect()
}

/// The time of the last record of a capture.
fn capture_end(name: &str) -> DateTime<Utc> {
    records(name).iter().map(date_of).max().unwrap()
}

// ---- the suite ----

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

/// A suite with the gateway logs under `gw/`, hooks and alerts recorded in files; no gateway
/// CLI (`models_status` off) unless a test sets one.
fn suite(extra: Value) -> Suite {
    let s = Suite::new();
    std::fs::create_dir_all(s.path("gw")).unwrap();
    let root = s.root().display().to_string();
    let mut job = json!({
        "logs": ["gw/openclaw-*.log"],
        "models_status": false,
        "on_open": [["sh", "-c", format!("echo \"open $AGENT_JOBS_INCIDENT_ID\" >> {root}/hooks.txt")]],
        "on_close": [["sh", "-c", format!("echo \"close $AGENT_JOBS_INCIDENT_ID\" >> {root}/hooks.txt")]],
    });
    let mut top = json!({
        "runtime": {"alerts": {"command": ["sh", "-c", format!("cat >> {root}/alerts.txt; echo >> {root}/alerts.txt")]}},
    });
    if let Value::Object(e) = extra {
        for (k, v) in e {
            if k == "gateway" {
                top["gateway"] = v;
            } else {
                job[k] = v;
            }
        }
    }
    top[JOB] = job;
    s.config(top);
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

/// Thresholds so high the circuit never opens: tests of counting only.
fn counting() -> Value {
    json!({"threshold": 100000, "cooldown_threshold": 100000, "quota_threshold": 100000})
}

/// The journal record of an incident's step (`on_open[0]`, `alert/…/open`).
fn effect(s: &Suite, suffix: &str) -> Value {
    let st = s.state(JOB);
    st["effects"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| k.ends_with(suffix))
        .map(|(_, v)| v.clone())
        .unwrap_or(Value::Null)
}

mod cursor {
    use super::*;

    #[test]
    fn first_run_starts_at_the_end_unless_from_start() {
        let s = suite(counting());
        append(&s, LOG, &refusal(t0()));
        run_at(&s, t0(), &[]).code(0);
        assert_eq!(metric(&s, "refusals_rate_limit"), 0);
        append(&s, LOG, &refusal(t0()));
        run_at(&s, t0(), &[]).code(0);
        assert_eq!(metric(&s, "refusals_rate_limit"), 1);

        let s = suite(counting());
        append(&s, LOG, &refusal(t0()));
        run_at(&s, t0(), &["--from-start"]).code(0);
        assert_eq!(metric(&s, "refusals_rate_limit"), 1);
    }

    #[test]
    fn nothing_new_is_a_silent_noop() {
        let s = suite(counting());
        append(&s, LOG, &plain(t0()));
        run_at(&s, t0(), &["--from-start"]).silent_success();
        let r = run_at(&s, t0(), &[]);
        r.silent_success();
        assert_eq!(s.state(JOB)["last_run"]["outcome"], "noop", "{}", r.dump());
    }

    #[test]
    fn rotation_by_rename_finishes_the_old_file_first() {
        let s = suite(counting());
        append(&s, LOG, &refusal(t0()));
        append(&s, LOG, &plain(t0()));
        run_at(&s, t0(), &["--from-start"]).silent_success();
        assert_eq!(metric(&s, "refusals_rate_limit"), 1);
        // Written after the last run, then the file is rotated away and a new one started.
        append(&s, LOG, &refusal(t0()));
        std::fs::rename(s.path(LOG), s.path("gw/openclaw-2026-03-05.1.log")).unwrap();
        append(&s, LOG, &refusal(t0()));
        append(&s, LOG, &refusal(t0()));
        run_at(&s, t0(), &[]).silent_success();
        assert_eq!(metric(&s, "refusals_rate_limit"), 4);
        assert_eq!(metric(&s, "files_rotated"), 1);
        run_at(&s, t0(), &[]).silent_success();
        assert_eq!(
            metric(&s, "refusals_rate_limit"),
            4,
            "nothing counted twice"
        );
    }

    #[test]
    fn rotation_by_copy_truncate_resumes_in_the_copy() {
        let s = suite(counting());
        for _ in 0..3 {
            append(&s, LOG, &refusal(t0()));
        }
        run_at(&s, t0(), &["--from-start"]).silent_success();
        assert_eq!(metric(&s, "refusals_rate_limit"), 3);
        append(&s, LOG, &refusal(t0())); // unread when the copy is taken
        std::fs::copy(s.path(LOG), s.path("gw/openclaw-2026-03-05.1.log")).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(s.path(LOG))
            .unwrap();
        append(&s, LOG, &refusal(t0()));
        run_at(&s, t0(), &[]).silent_success();
        assert_eq!(metric(&s, "refusals_rate_limit"), 5, "{}", s.log(JOB));
        assert_eq!(metric(&s, "files_copied"), 1);
        assert_eq!(metric(&s, "files_truncated"), 1);
    }

    #[test]
    fn daily_rollover_reads_the_new_file_from_its_start() {
        let s = suite(counting());
        append(&s, LOG, &refusal(t0()));
        run_at(&s, t0(), &["--from-start"]).silent_success();
        append(&s, LOG, &refusal(t0()));
        append(&s, "gw/openclaw-2026-03-06.log", &refusal(t0()));
        append(&s, "gw/openclaw-2026-03-06.log", &refusal(t0()));
        run_at(&s, t0(), &[]).silent_success();
        assert_eq!(metric(&s, "refusals_rate_limit"), 4);
        // the first run (--from-start) read 03-05 as new, this one 03-06
        assert_eq!(metric(&s, "files_new"), 2);
        assert_eq!(s.state(JOB)["data"]["cursors"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_file_deleted_between_runs_is_forgotten() {
        let s = suite(counting());
        append(&s, "gw/openclaw-2026-03-04.log", &refusal(t0()));
        append(&s, LOG, &refusal(t0()));
        run_at(&s, t0(), &["--from-start"]).silent_success();
        std::fs::remove_file(s.path("gw/openclaw-2026-03-04.log")).unwrap();
        run_at(&s, t0(), &[]).silent_success();
        assert_eq!(metric(&s, "files_vanished"), 1);
        let cursors = s.state(JOB)["data"]["cursors"].clone();
        assert_eq!(cursors.as_array().unwrap().len(), 1, "{cursors}");
        append(&s, LOG, &refusal(t0()));
        run_at(&s, t0(), &[]).silent_success();
        assert_eq!(metric(&s, "refusals_rate_limit"), 3);
        // All files gone: still fine.
        std::fs::remove_file(s.path(LOG)).unwrap();
        run_at(&s, t0(), &[]).silent_success();
        assert_eq!(metric(&s, "files_vanished"), 2);
    }

    #[test]
    fn a_partial_last_line_is_completed_in_the_next_run() {
        let s = suite(counting());
        append(&s, LOG, &plain(t0()));
        run_at(&s, t0(), &["--from-start"]).silent_success();
        let line = refusal(t0());
        let (a, b) = line.split_at(line.len() / 2);
        append(&s, LOG, a);
        run_at(&s, t0(), &[]).silent_success();
        assert_eq!(metric(&s, "refusals_rate_limit"), 0);
        assert_eq!(metric(&s, "lines_garbage"), 0, "half a line is not garbage");
        append(&s, LOG, b);
        run_at(&s, t0(), &[]).silent_success();
        assert_eq!(metric(&s, "refusals_rate_limit"), 1);
        assert_eq!(metric(&s, "lines_garbage"), 0);
    }

    /// Many runs with random appends (split mid-line), renames, copy-truncates and daily
    /// rollovers: the count equals what was written, exactly.
    #[test]
    fn the_same_records_are_never_counted_twice_across_many_runs() {
        let s = suite(counting());
        let (rl, other) = (refusal(t0()), plain(t0()));
        let mut written = 0u64;
        let mut pending = String::new();
        let mut day = 5;
        run_at(&s, t0(), &["--from-start"]).silent_success();
        let mut rng = xorshift(7);
        for round in 0..60 {
            let f = format!("gw/openclaw-2026-03-{day:02}.log");
            let mut text = std::mem::take(&mut pending);
            for _ in 0..(rng() % 5) {
                if rng().is_multiple_of(2) {
                    text.push_str(&rl);
                    written += 1;
                } else {
                    text.push_str(&other);
                }
            }
            if rng().is_multiple_of(3) {
                written += 1;
                let cut = 1 + (rng() as usize % (rl.len() - 2));
                let cut = (cut..rl.len()).find(|c| rl.is_char_boundary(*c)).unwrap();
                text.push_str(&rl[..cut]);
                pending = rl[cut..].to_string();
            }
            append(&s, &f, &text);
            let rotated = format!("gw/openclaw-2026-03-{day:02}.{round}.log");
            match rng() % 10 {
                0 if pending.is_empty() => std::fs::rename(s.path(&f), s.path(&rotated)).unwrap(),
                1 if pending.is_empty() => {
                    std::fs::copy(s.path(&f), s.path(&rotated)).unwrap();
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
        assert_eq!(metric(&s, "refusals_rate_limit"), written, "{}", s.log(JOB));
        assert_eq!(metric(&s, "lines_garbage"), 0);
    }

    /// Tiny deterministic generator, so failures reproduce.
    fn xorshift(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }
}

mod reading {
    use super::*;

    /// Per capture: (rate-limit refusals, decision records), (quota …), (overload …).
    const EXPECTED: &[(&str, [(u64, u64); 3])] = &[
        ("turn-ok", [(0, 0), (0, 0), (0, 0)]),
        ("turn-quote", [(0, 0), (0, 0), (0, 0)]),
        ("turn-429-retried", [(1, 0), (0, 0), (0, 0)]),
        ("turn-429-cooldown", [(10, 2), (0, 0), (0, 0)]),
        ("turn-long-window", [(1, 2), (0, 0), (0, 0)]),
        ("turn-402-spending", [(10, 2), (0, 0), (0, 0)]),
        ("turn-402-billing", [(0, 0), (1, 2), (0, 0)]),
        ("turn-529-overloaded", [(0, 0), (0, 0), (8, 1)]),
        ("turn-debug", [(1, 0), (0, 0), (0, 0)]),
    ];

    fn counts(s: &Suite) -> [(u64, u64); 3] {
        ["rate_limit", "quota", "overload"].map(|c| {
            (
                metric(s, &format!("refusals_{c}")),
                metric(s, &format!("decisions_{c}")),
            )
        })
    }

    /// Each capture, as the gateway wrote its log file, counts as docs/jobs/check-ratelimit.md
    /// says: one refusal per refused request (not per log line), the decisions apart.
    #[test]
    fn every_capture_counts_as_documented_in_the_file_form() {
        for (name, want) in EXPECTED {
            let s = suite(counting());
            append(&s, LOG, &fixture(name, "gateway.log.jsonl"));
            let now = capture_end(name) + Duration::seconds(60);
            run_at(&s, now, &["--from-start"]).code(0);
            assert_eq!(counts(&s), *want, "{name}\n{}", s.log(JOB));
            assert!(!s.path("state/circuit.json").exists());
        }
    }

    /// The same runs through the console text (what the journal holds), read as a log file.
    #[test]
    fn the_console_form_counts_the_same() {
        for (name, want) in EXPECTED {
            let s = suite(counting());
            append(&s, "gw/openclaw-console.log", &fixture(name, "console.txt"));
            run_at(&s, t0(), &["--from-start"]).code(0);
            assert_eq!(counts(&s), *want, "{name}\n{}", s.log(JOB));
        }
    }

    #[test]
    fn a_quoted_rate_limit_text_and_successes_count_nothing() {
        let s = suite(json!({"threshold": 1}));
        append(&s, LOG, &fixture("turn-quote", "gateway.log.jsonl"));
        append(&s, LOG, &fixture("turn-ok", "gateway.log.jsonl"));
        append(
            &s,
            "gw/openclaw-console.log",
            &fixture("turn-quote", "console.txt"),
        );
        run_at(&s, capture_end("turn-quote"), &["--from-start"]).silent_success();
        assert_eq!(metric(&s, "refusals_rate_limit"), 0);
        assert!(!s.path("state/circuit.json").exists());
    }

    #[test]
    fn configured_exclusions_skip_lines() {
        let s = suite(json!({"threshold": 1, "exclude": ["retry-after: 2 SECONDS"]}));
        append(&s, LOG, &fixture("turn-429-retried", "gateway.log.jsonl"));
        run_at(&s, capture_end("turn-429-retried"), &["--from-start"]).silent_success();
        assert_eq!(metric(&s, "refusals_rate_limit"), 0);
        assert_eq!(metric(&s, "lines_excluded"), 1);
        assert!(!s.path("state/circuit.json").exists());
    }

    #[test]
    fn garbage_input_is_skipped_with_a_counter_never_a_crash() {
        let s = suite(counting());
        append(&s, LOG, &refusal(t0()));
        // binary bytes around a needle
        append_bytes(
            &s,
            LOG,
            b"\x00\x01\x02\x7f[model-fetch] start provider=x\x00\x00\n",
        );
        // invalid UTF-8 around a needle
        append_bytes(
            &s,
            LOG,
            b"2026-03-05T12:00:00Z \xff\xfe [model-fetch] response status=429 \xc3\x28\n",
        );
        // a truncated record
        let l = refusal(t0());
        append(&s, LOG, &format!("{}\n", &l[..l.len() - 40]));
        // a 10 MB line with a needle, then a 10 MB line without one
        let mut big = b"{\"1\":\"embedded run agent end: runId=x isError=true ".to_vec();
        big.extend(std::iter::repeat_n(b'x', 10 * 1024 * 1024));
        big.extend_from_slice(b"\"}\n");
        append_bytes(&s, LOG, &big);
        append_bytes(&s, LOG, &vec![b'y'; 10 * 1024 * 1024]);
        append_bytes(&s, LOG, b"\n");
        append(&s, LOG, &refusal(t0()));
        run_at(&s, t0(), &["--from-start"]).code(0);
        assert_eq!(metric(&s, "refusals_rate_limit"), 2, "{}", s.log(JOB));
        assert_eq!(metric(&s, "lines_garbage"), 3);
        assert_eq!(metric(&s, "lines_oversized"), 2);
        assert!(s.log(JOB).contains("unusable line"), "{}", s.log(JOB));
        // A long line still being written when the run comes: skipped across runs.
        append_bytes(&s, LOG, &vec![b'z'; 3 * 1024 * 1024]);
        run_at(&s, t0(), &[]).code(0);
        append_bytes(&s, LOG, b"embedded_run_agent_end\n");
        append(&s, LOG, &refusal(t0()));
        run_at(&s, t0(), &[]).code(0);
        assert_eq!(metric(&s, "refusals_rate_limit"), 3);
        assert_eq!(metric(&s, "lines_oversized"), 3);
    }

    #[test]
    fn the_gateway_log_location_is_the_default() {
        // No `logs`: the gateway's config says where (`logging.file`, JSON5).
        let s = suite(json!({"gateway": {"config": "gw/openclaw.json"}}));
        let mut cfg: Value = serde_json::from_str(&s.read("config.json")).unwrap();
        cfg[JOB].as_object_mut().unwrap().remove("logs");
        s.config(cfg);
        let file = s.path("gw/logs/gateway.log");
        s.write(
            "gw/openclaw.json",
            &format!(
                "// the gateway's config\n{{ logging: {{ file: \"{}\", }}, }}\n",
                file.display()
            ),
        );
        append(
            &s,
            "gw/logs/gateway.log",
            &fixture("turn-429-retried", "gateway.log.jsonl"),
        );
        let r = run_at(&s, capture_end("turn-429-retried"), &["--from-start"]);
        r.code(0);
        assert_eq!(metric(&s, "refusals_rate_limit"), 1, "{}", s.log(JOB));
        run_at(&s, t0(), &["status"])
            .code(0)
            .stdout_has("gw/logs/gateway.log");
        // --check-config is quiet while the file exists and warns when nothing matches.
        let r = s.run(bin(), &["--check-config"]);
        r.code(0);
        assert!(!r.stderr.contains("warning"), "{}", r.dump());
        std::fs::remove_file(&file).unwrap();
        s.run(bin(), &["--check-config"])
            .code(0)
            .stderr_has("warning: no gateway log file matches")
            .stderr_has("gw/logs/gateway.log");
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
        for (extra, key) in [
            (json!({"threshold": 0}), "check-ratelimit.threshold"),
            (json!({"include": ["429"]}), "include[0]"),
            (json!({"tresholds": 3}), "tresholds"),
            (json!({"window_secs": 99_999_999_999u64}), "window_secs"),
            (json!({"overload_threshold": 0}), "overload_threshold"),
            (
                json!({"on_open": [{"argv": ["x"], "idempotant": true}]}),
                "idempotant",
            ),
            (
                json!({"models_status_timeout_secs": 0}),
                "models_status_timeout_secs",
            ),
        ] {
            let s = suite(extra);
            run_at(&s, t0(), &[]).code(78).stderr_has(key);
        }
    }
}

mod breaker {
    use super::*;

    fn burst(s: &Suite, times: &[i64]) {
        for secs in times {
            append(s, LOG, &refusal_no_hint(t0() + Duration::seconds(*secs)));
        }
    }

    fn fresh(extra: Value) -> Suite {
        let s = suite(extra);
        append(&s, LOG, &plain(t0()));
        run_at(&s, t0() - Duration::hours(1), &["--from-start"]).silent_success();
        s
    }

    #[test]
    fn threshold_and_window_edges() {
        let edges = json!({"threshold": 3, "window_secs": 300});
        // Exactly on the window's edge (at == now - 300 s) counts: 3 in the window.
        let s = fresh(edges.clone());
        burst(&s, &[-300, -150, 0]);
        run_at(&s, t0(), &[]).code(0);
        assert_eq!(circuit(&s)["state"], "open", "{}", s.log(JOB));
        assert_eq!(circuit(&s)["matches"], 3);
        assert_eq!(circuit(&s)["kind"], "rate_limit");
        // One second older is outside.
        let s = fresh(edges.clone());
        burst(&s, &[-301, -150, 0]);
        run_at(&s, t0(), &[]).silent_success();
        assert!(!s.path("state/circuit.json").exists(), "{}", s.log(JOB));
        // 2 is below the threshold; the third in a later run opens it.
        let s = fresh(edges);
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

    /// Default settings: one 429 the gateway retried successfully does not open the circuit;
    /// a run of refusals that ends in the gateway's cooldown opens it once.
    #[test]
    fn a_retried_429_does_not_open_a_run_ending_in_cooldown_opens_once() {
        let s = fresh(json!({}));
        append(
            &s,
            LOG,
            &run_records("turn-429-retried", t0() - Duration::minutes(20)),
        );
        run_at(&s, t0() - Duration::minutes(19), &[]).silent_success();
        assert!(!s.path("state/circuit.json").exists(), "{}", s.log(JOB));
        assert_eq!(metric(&s, "refusals_rate_limit"), 1);
        append(
            &s,
            LOG,
            &run_records("turn-429-cooldown", t0() + Duration::seconds(120)),
        );
        run_at(&s, t0() + Duration::seconds(130), &[]).code(0);
        let c = circuit(&s);
        assert_eq!(c["state"], "open", "{}", s.log(JOB));
        assert_eq!(c["matches"], 10, "ten refused requests, not 34 lines");
        run_at(&s, t0() + Duration::seconds(140), &[]).silent_success();
        assert_eq!(lines_of(&s, "hooks.txt").len(), 1);
        let alerts = s.read("alerts.txt");
        assert_eq!(alerts.matches("circuit open").count(), 1, "{alerts}");
        for want in [
            "provider fake, model fake-model, profile sha256:b382fb4793f3",
            "per-minute rate limit",
            "10 refused request(s) and 1 gateway decision(s)",
        ] {
            assert!(alerts.contains(want), "{want}\n{alerts}");
        }
    }

    #[test]
    fn reset_from_cooldown_until_closes_before_the_cool_off() {
        let s = fresh(json!({"cool_off_secs": 900}));
        append(
            &s,
            LOG,
            &run_records("turn-429-cooldown", t0() - Duration::seconds(1)),
        );
        run_at(&s, t0(), &[]).code(0);
        let c = circuit(&s);
        assert_eq!(c["state"], "open");
        let until: DateTime<Utc> = c["reset_at"].as_str().unwrap().parse().unwrap();
        let cd = event("turn-429-cooldown", "auth_profile_failure_state_updated");
        let want = cd["1"]["cooldownUntil"].as_i64().unwrap() - date_of(&cd).timestamp_millis();
        assert!(
            (until - t0()).num_milliseconds() <= want,
            "the gateway's 30 s window"
        );
        run_at(&s, until - Duration::seconds(1), &[]).silent_success();
        assert_eq!(circuit(&s)["state"], "open");
        run_at(&s, until + Duration::seconds(1), &[]).code(0);
        assert_eq!(circuit(&s)["state"], "closed", "{}", s.log(JOB));
        let h = &s.state(JOB)["data"]["history"][0];
        assert_eq!(h["reset_source"], "cooldownUntil");
        assert_eq!(h["provider"], "fake");
        assert_eq!(lines_of(&s, "hooks.txt").len(), 2, "one open, one close");
        let alerts = s.read("alerts.txt");
        assert!(alerts.contains("Recovered after"), "{alerts}");
    }

    #[test]
    fn without_a_reset_time_the_cool_off_decides() {
        let s = fresh(json!({"cool_off_secs": 900, "threshold": 3}));
        burst(&s, &[-3, -2, -1]);
        run_at(&s, t0(), &[]).code(0);
        assert_eq!(circuit(&s)["state"], "open");
        // A new refusal pushes the cool-off.
        burst(&s, &[600]);
        run_at(&s, t0() + Duration::seconds(601), &[]).silent_success();
        run_at(&s, t0() + Duration::seconds(1000), &[]).silent_success();
        assert_eq!(
            circuit(&s)["state"],
            "open",
            "cool-off counts from the last refusal"
        );
        run_at(&s, t0() + Duration::seconds(1501), &[]).code(0);
        assert_eq!(circuit(&s)["state"], "closed");
        let st = s.state(JOB);
        assert_eq!(st["data"]["history"][0]["reset_source"], "cool-off");
        assert_eq!(st["data"]["history"][0]["matches"], 4);
        // The old refusals never reopen it.
        run_at(&s, t0() + Duration::seconds(1502), &[]).silent_success();
        assert_eq!(circuit(&s)["state"], "closed");
        assert_eq!(lines_of(&s, "hooks.txt").len(), 2);
    }

    /// The long-window quota 429 goes straight to the gateway's 30 s cooldown in one request;
    /// the circuit stays open for the long-window cool-off.
    #[test]
    fn a_long_window_limit_holds_past_the_gateway_cooldown() {
        let s = fresh(json!({}));
        append(&s, LOG, &run_records("turn-long-window", t0()));
        run_at(&s, t0() + Duration::seconds(10), &[]).code(0);
        let c = circuit(&s);
        assert_eq!(c["state"], "open", "{}", s.log(JOB));
        assert_eq!(c["matches"], 1);
        assert!(
            s.read("alerts.txt").contains("long-window limit"),
            "{}",
            s.read("alerts.txt")
        );
        run_at(&s, t0() + Duration::seconds(600), &[]).silent_success();
        assert_eq!(
            circuit(&s)["state"],
            "open",
            "past the gateway's 30 s cooldown"
        );
        run_at(&s, t0() + Duration::seconds(3700), &[]).code(0);
        assert_eq!(circuit(&s)["state"], "closed");
        assert_eq!(
            s.state(JOB)["data"]["history"][0]["reset_source"],
            "long-window cool-off"
        );
    }

    #[test]
    fn overload_is_reported_and_opens_only_with_its_threshold() {
        let s = fresh(json!({}));
        append(&s, LOG, &run_records("turn-529-overloaded", t0()));
        let r = run_at(&s, t0() + Duration::seconds(10), &["-v"]);
        r.code(0).stderr_has("overload refusal(s) in the window");
        assert!(!s.path("state/circuit.json").exists());
        assert_eq!(metric(&s, "refusals_overload"), 8);
        assert_eq!(s.state(JOB)["metrics"]["window_overload_refusals"], 8);
        let s = fresh(json!({"overload_threshold": 8}));
        append(&s, LOG, &run_records("turn-529-overloaded", t0()));
        run_at(&s, t0() + Duration::seconds(10), &[]).code(0);
        assert_eq!(circuit(&s)["kind"], "overload");
    }

    #[test]
    fn alert_and_on_open_once_per_incident_and_hooks_know_the_action() {
        let s = fresh(json!({
            "on_open": [["sh", "-c", "echo \"$AGENT_JOBS_CIRCUIT_ACTION $AGENT_JOBS_HOOK $AGENT_JOBS_CIRCUIT_KIND\" >> hooks.txt"]],
            "on_close": [["sh", "-c", "echo \"$AGENT_JOBS_CIRCUIT_ACTION $AGENT_JOBS_HOOK $AGENT_JOBS_CIRCUIT_KIND\" >> hooks.txt"]],
            "threshold": 3
        }));
        burst(&s, &[-3, -2, -1]);
        run_at(&s, t0(), &[]).code(0);
        for i in 1..5 {
            burst(&s, &[i]);
            run_at(&s, t0() + Duration::seconds(i), &[]).silent_success();
        }
        assert_eq!(
            lines_of(&s, "hooks.txt"),
            vec!["open on_open[0] rate_limit"]
        );
        let alerts = s.read("alerts.txt");
        assert_eq!(alerts.matches("circuit open").count(), 1, "{alerts}");
        assert!(
            alerts.contains("organization spending limit exceeded"),
            "{alerts}"
        );
        run_at(&s, t0(), &["close"]).code(0);
        assert_eq!(
            lines_of(&s, "hooks.txt"),
            vec!["open on_open[0] rate_limit", "close on_close[0] rate_limit"]
        );
    }

    #[test]
    fn killed_right_after_on_open_it_is_not_repeated() {
        let s = fresh(json!({
            "on_open": [["sh", "-c", "echo ran >> hooks.txt; kill -9 $PPID; sleep 1"]],
            "threshold": 3
        }));
        burst(&s, &[-3, -2, -1]);
        let r = run_at(&s, t0(), &[]);
        assert_ne!(r.code, 0, "the job was killed\n{}", r.dump());
        assert_eq!(lines_of(&s, "hooks.txt"), vec!["ran"]);
        let r = run_at(&s, t0() + Duration::seconds(10), &[]);
        r.code(0).stderr_has("outcome is unknown");
        run_at(&s, t0() + Duration::seconds(20), &[]).silent_success();
        assert_eq!(lines_of(&s, "hooks.txt"), vec!["ran"], "not repeated");
        // The journal holds the outcomes (moved from `incident.actions` in state version 2).
        assert_eq!(effect(&s, "/on_open[0]")["status"], "unknown");
        assert_eq!(
            effect(&s, "/open")["status"],
            "done",
            "the alert still went out once"
        );
        let steps = s.state(JOB)["data"]["incident"]["steps"].clone();
        assert_eq!(steps[0]["status"], "unknown", "{steps}");
        assert_eq!(s.read("alerts.txt").matches("circuit open").count(), 1);
    }

    /// A hook declared idempotent is run again when a kill left its outcome unknown.
    #[test]
    fn an_idempotent_hook_runs_again_after_a_kill() {
        let s = fresh(json!({
            "on_open": [
                {"argv": ["sh", "-c", "echo stop >> hooks.txt"], "idempotent": true},
                ["sh", "-c", "echo notify >> hooks.txt"]
            ],
            "threshold": 3
        }));
        burst(&s, &[-3, -2, -1]);
        let mut c = s.cmd(bin());
        c.args(["--now", &ts(t0())])
            .env("AGENT_JOBS_TEST_CRASH_AT", "effect-acted:incident/");
        let r = s.run_cmd(&mut c);
        assert_ne!(r.code, 0, "{}", r.dump());
        assert_eq!(lines_of(&s, "hooks.txt"), vec!["stop"]);
        run_at(&s, t0() + Duration::seconds(10), &[]).code(0);
        assert_eq!(
            lines_of(&s, "hooks.txt"),
            vec!["stop", "stop", "notify"],
            "at least once"
        );
        assert_eq!(effect(&s, "/on_open[0]")["status"], "done");
        assert_eq!(effect(&s, "/on_open[0]")["attempts"], 2);
        run_at(&s, t0() + Duration::seconds(20), &[]).silent_success();
        assert_eq!(lines_of(&s, "hooks.txt").len(), 3);
    }

    #[test]
    fn killed_right_after_the_alert_it_is_not_repeated() {
        let s = Suite::new();
        let root = s.root().display().to_string();
        s.config(json!({
            "runtime": {"alerts": {"command": ["sh", "-c", format!("cat >> {root}/alerts.txt; echo >> {root}/alerts.txt; kill -9 $PPID; sleep 1")]}},
            JOB: {"logs": ["gw/openclaw-*.log"], "models_status": false, "threshold": 3}
        }));
        append(&s, LOG, &plain(t0()));
        run_at(&s, t0(), &["--from-start"]).silent_success();
        for _ in 0..3 {
            append(&s, LOG, &refusal_no_hint(t0()));
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
            "threshold": 3,
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
                for _ in 0..3 {
                    append(&s, LOG, &refusal_no_hint(now));
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
        let alerts = s.read("alerts.txt");
        for h in st["data"]["history"].as_array().unwrap() {
            let id = h["id"].as_str().unwrap();
            assert!(
                alerts.matches(id).count() <= 2,
                "open + close alert at most: {id}"
            );
        }
    }

    #[test]
    fn quota_exhaustion_needs_a_manual_close() {
        let s = fresh(json!({}));
        append(&s, LOG, &run_records("turn-402-billing", t0()));
        run_at(&s, t0(), &[]).code(0);
        let c = circuit(&s);
        assert_eq!(c["state"], "open");
        assert_eq!(c["kind"], "quota");
        let alerts = s.read("alerts.txt");
        assert!(alerts.contains("does not reset by itself"), "{alerts}");
        assert!(
            alerts.contains("Your credit balance is too low"),
            "{alerts}"
        );
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
        append(
            &s,
            LOG,
            &run_records("turn-429-cooldown", t0() - Duration::seconds(1)),
        );
        run_at(&s, t0(), &[]).code(0);
        append(
            &s,
            LOG,
            &run_records("turn-402-billing", t0() + Duration::seconds(5)),
        );
        run_at(&s, t0() + Duration::seconds(10), &[]).code(0);
        assert_eq!(circuit(&s)["kind"], "quota");
        assert!(s.read("alerts.txt").contains("quota or billing exhausted"));
        run_at(&s, t0() + Duration::hours(5), &[]).silent_success();
        assert_eq!(circuit(&s)["state"], "open");
    }

    #[test]
    fn maintenance_skips_alerts_and_commands() {
        for file in [
            json!({"planned": true, "reason": "provider migration", "expectedDowntime": "1h", "ignoreUntil": ts(t0() + Duration::hours(1))}),
            json!({"until": ts(t0() + Duration::hours(1)), "reason": "provider migration"}),
        ] {
            let s = fresh(json!({"threshold": 3}));
            s.write("state/maintenance.json", &file.to_string());
            burst(&s, &[-3, -2, -1]);
            run_at(&s, t0(), &[]).silent_success();
            assert_eq!(
                circuit(&s)["state"],
                "open",
                "the flag is still raised for the other jobs"
            );
            assert_eq!(s.read("hooks.txt"), "");
            assert_eq!(s.read("alerts.txt"), "");
            assert_eq!(effect(&s, "/on_open[0]")["status"], "skipped");
            assert_eq!(effect(&s, "/open")["status"], "skipped");
            // After the window, the close goes out normally.
            run_at(&s, t0() + Duration::hours(2), &[]).code(0);
            assert_eq!(circuit(&s)["state"], "closed");
            assert_eq!(lines_of(&s, "hooks.txt").len(), 1, "only on_close");
            assert!(s.read("alerts.txt").contains("Recovered"));
        }
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
        let s = fresh(json!({"threshold": 3}));
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

    /// A state file of version 1 (side effects in `incident.actions`) keeps working: its
    /// incident closes, with `on_close` run once and the done `on_open` not repeated.
    #[test]
    fn a_version_1_state_file_keeps_working() {
        let s = fresh(json!({}));
        let mut st = s.state(JOB);
        st["schema_version"] = json!(1);
        st["data"]["last_match_at"] = json!(ts(t0() - Duration::minutes(20)));
        st["data"]["recent"] = json!([{"at": ts(t0()), "kind": "rate_limit", "source": "x", "excerpt": "API rate limit reached"}]);
        st["data"]["incident"] = json!({
            "id": "20260305T114000Z-0a0b0c", "kind": "rate_limit", "opened_by": "auto", "phase": "open",
            "started_at": ts(t0() - Duration::minutes(20)), "reason": "3 rate-limit matches in the last 5m (threshold 3)",
            "matches": 3, "quota_matches": 0,
            "first_match_at": ts(t0() - Duration::minutes(21)), "last_match_at": ts(t0() - Duration::minutes(20)),
            "hint_at": null, "hint_source": null, "reset_at": ts(t0() - Duration::minutes(5)), "reset_source": "cool-off",
            "example": "API rate limit reached", "last_reminder_at": null, "close_reason": null, "closed_at": null,
            "actions": [
                {"name": "on_open[0]", "phase": "open", "work": {"type": "command", "argv": ["sh", "-c", "echo v1 >> hooks.txt"]},
                 "status": "done", "at": ts(t0() - Duration::minutes(20)), "result": "exit 0 in 3 ms"},
                {"name": "alert open", "phase": "open", "work": {"type": "alert", "topic": "open"},
                 "status": "done", "at": ts(t0() - Duration::minutes(20)), "result": "sent"}
            ]
        });
        s.write(
            "state/check-ratelimit.json",
            &serde_json::to_string_pretty(&st).unwrap(),
        );
        run_at(&s, t0(), &[]).code(0);
        let st = s.state(JOB);
        assert_eq!(st["schema_version"], 2);
        assert_eq!(circuit(&s)["state"], "closed", "{}", s.log(JOB));
        assert_eq!(
            lines_of(&s, "hooks.txt").len(),
            1,
            "on_close once; on_open not repeated"
        );
        assert_eq!(st["data"]["history"][0]["id"], "20260305T114000Z-0a0b0c");
        assert_eq!(
            st["effects"]["incident/20260305T114000Z-0a0b0c/on_open[0]"]["status"],
            "done"
        );
        assert!(s.read("alerts.txt").contains("Recovered"));
    }
}

/// The gateway's CLI played by a script printing a captured `models status --json`.
mod models_status {
    use super::*;

    fn with_cli(doc: &str) -> Suite {
        let s = suite(json!({"models_status": true}));
        let doc_path = s.path("gw/models-status.json");
        s.write("gw/models-status.json", doc);
        s.write(
            "bin/openclaw",
            &format!(
                "#!/bin/sh\necho \"$@\" >> cli-calls.txt\ncat '{}'\n",
                doc_path.display()
            ),
        );
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            s.path("bin/openclaw"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let mut cfg: Value = serde_json::from_str(&s.read("config.json")).unwrap();
        cfg["gateway"] = json!({"openclaw": s.path("bin/openclaw").display().to_string(), "state_dir": "gw/state"});
        s.config(cfg);
        s
    }

    #[test]
    fn the_cooldown_is_read_from_models_status_and_the_circuit_closes_at_its_end() {
        let doc = fixture("turn-429-cooldown", "models-status-during-cooldown.json");
        let s = with_cli(&doc);
        append(&s, LOG, &plain(t0()));
        let end = capture_end("turn-429-cooldown");
        run_at(&s, end - Duration::minutes(30), &["--from-start"]).silent_success();
        assert_eq!(
            s.read("cli-calls.txt"),
            "",
            "nothing to decide: the CLI is not run"
        );
        append(&s, LOG, &fixture("turn-429-cooldown", "gateway.log.jsonl"));
        // The moment `models status` was captured: 27 s before the end of the cooldown.
        let v: Value = serde_json::from_str(&doc).unwrap();
        let until_ms = v["auth"]["unusableProfiles"][0]["until"].as_i64().unwrap();
        let until = DateTime::from_timestamp_millis(until_ms).unwrap();
        run_at(&s, until - Duration::seconds(27), &[]).code(0);
        assert_eq!(s.read("cli-calls.txt").trim(), "models status --json");
        let c = circuit(&s);
        assert_eq!(c["state"], "open", "{}", s.log(JOB));
        assert_eq!(
            c["reset_at"]
                .as_str()
                .unwrap()
                .parse::<DateTime<Utc>>()
                .unwrap(),
            until
        );
        let alerts = s.read("alerts.txt");
        assert!(
            alerts.contains("profile fake:manual"),
            "the real profile id: {alerts}"
        );
        assert!(alerts.contains("(from models status)"), "{alerts}");
        run_at(&s, until - Duration::seconds(1), &[]).silent_success();
        assert_eq!(circuit(&s)["state"], "open");
        run_at(&s, until + Duration::seconds(1), &[]).code(0);
        assert_eq!(circuit(&s)["state"], "closed");
        // The log announced the same end; the gateway no longer lists it.
        assert_eq!(
            s.state(JOB)["data"]["history"][0]["reset_source"],
            "cooldownUntil"
        );
        // The facts, read as the other jobs read them.
        use common::contracts::facts::check_ratelimit::RatelimitFacts;
        let public: common::contracts::state::PublicState<RatelimitFacts> =
            serde_json::from_value(s.state(JOB)).unwrap();
        let facts = public.facts.unwrap();
        assert_eq!(
            facts.circuit.state,
            common::contracts::control::CircuitState::Closed
        );
        assert_eq!(facts.incidents[0].provider.as_deref(), Some("fake"));
        assert_eq!(facts.incidents[0].refusals, 10);
        assert_eq!(
            facts.incidents[0].profile.as_deref(),
            Some("sha256:b382fb4793f3")
        );
    }

    #[test]
    fn a_failing_cli_falls_back_to_the_log_records() {
        let s = with_cli("not json");
        append(&s, LOG, &plain(t0()));
        run_at(&s, t0() - Duration::hours(1), &["--from-start"]).silent_success();
        append(
            &s,
            LOG,
            &run_records("turn-429-cooldown", t0() - Duration::seconds(1)),
        );
        let r = run_at(&s, t0(), &[]);
        r.code(0).stderr_has("printed no JSON document");
        assert_eq!(circuit(&s)["state"], "open");
        assert_eq!(
            s.state(JOB)["data"]["incident"]["reset_source"],
            "cooldownUntil"
        );
        assert_eq!(metric(&s, "models_status_errors"), 1);
    }

    /// The gateway still lists the profile unusable while the provider answers 200: alerted
    /// once, and the circuit does not wait for that cooldown.
    #[test]
    fn a_stale_cooldown_is_alerted_once() {
        let mut v: Value = serde_json::from_str(&fixture(
            "turn-429-cooldown",
            "models-status-during-cooldown.json",
        ))
        .unwrap();
        let until = t0() + Duration::hours(6);
        v["auth"]["unusableProfiles"][0]["until"] = json!(until.timestamp_millis());
        let s = with_cli(&v.to_string());
        append(&s, LOG, &plain(t0()));
        run_at(&s, t0() - Duration::hours(1), &["--from-start"]).silent_success();
        append(
            &s,
            LOG,
            &run_records("turn-429-cooldown", t0() - Duration::seconds(60)),
        );
        run_at(&s, t0() - Duration::seconds(50), &[]).code(0);
        assert_eq!(circuit(&s)["state"], "open");
        // Later, the same model answers 200 (the debug capture's successful call).
        let ok = records("turn-debug")
            .into_iter()
            .find(|r| {
                r["1"].as_str().is_some_and(|t| {
                    t.contains("[model-fetch] response") && t.contains("status=200")
                })
            })
            .unwrap();
        append(&s, LOG, &retime(&ok, t0()));
        run_at(&s, t0() + Duration::seconds(10), &[]).code(0);
        run_at(&s, t0() + Duration::seconds(20), &[]).code(0);
        let alerts = s.read("alerts.txt");
        assert_eq!(alerts.matches("Stale cooldown").count(), 1, "{alerts}");
        assert!(alerts.contains("auth profile fake:manual"), "{alerts}");
        assert_eq!(
            circuit(&s)["state"],
            "closed",
            "the stale window does not hold the circuit"
        );
        assert_eq!(
            s.state(JOB)["facts"]["stale_cooldowns"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }
}

/// The console text through the command source (as `journalctl -o short-iso-precise` prints
/// it: a time and a journal prefix before each line).
mod text_source {
    use super::*;

    fn journal_cmd(name: &str, base: &str) -> Value {
        let script = format!(
            "awk '{{ printf \"{base}.%06d+0000 vm openclaw[7]: %s\\n\", NR, $0 }}' '{}'",
            fixture_path(name, "console.txt")
        );
        json!(["sh", "-c", script])
    }

    #[test]
    fn the_journal_opens_once_and_counts_each_refusal_once() {
        let s = suite(
            json!({"logs": ["gw/none-*.log"], "command": journal_cmd("turn-429-cooldown", "2026-03-05T11:58:00")}),
        );
        run_at(&s, t0(), &[]).code(0);
        assert_eq!(metric(&s, "refusals_rate_limit"), 10, "{}", s.log(JOB));
        assert_eq!(circuit(&s)["state"], "open");
        assert_eq!(circuit(&s)["matches"], 10);
        run_at(&s, t0() + Duration::seconds(20), &[]).code(0);
        assert_eq!(
            metric(&s, "refusals_rate_limit"),
            10,
            "the same lines again are duplicates"
        );
        assert_eq!(lines_of(&s, "hooks.txt").len(), 1);
        let alerts = s.read("alerts.txt");
        assert!(
            alerts.contains("provider fake, model fake-model"),
            "{alerts}"
        );
    }

    #[test]
    fn a_retried_429_and_a_quote_through_the_journal_open_nothing() {
        for name in ["turn-429-retried", "turn-quote", "turn-ok"] {
            let s = suite(
                json!({"logs": ["gw/none-*.log"], "command": journal_cmd(name, "2026-03-05T11:58:00")}),
            );
            run_at(&s, t0(), &[]).code(0);
            assert!(!s.path("state/circuit.json").exists(), "{name}");
        }
    }
}

mod cost {
    use super::*;

    #[test]
    fn calls_per_hour_are_published() {
        let s = suite(counting());
        append(&s, LOG, &fixture("turn-debug", "gateway.log.jsonl"));
        run_at(&s, capture_end("turn-debug"), &["--from-start"]).code(0);
        let f = &s.state(JOB)["facts"]["calls_per_hour"];
        assert_eq!(f[0]["calls"], 3, "{f}");
        assert_eq!(f[0]["every_call_logged"], true);
        assert_eq!(
            f[0]["tokens"],
            Value::Null,
            "no token counts in the gateway's log"
        );
        assert_eq!(f[0]["refusals"], 1);
        // At info level only the refused call is logged: a lower bound, said so.
        let s = suite(counting());
        append(&s, LOG, &fixture("turn-429-retried", "gateway.log.jsonl"));
        run_at(&s, capture_end("turn-429-retried"), &["--from-start"]).code(0);
        let f = &s.state(JOB)["facts"]["calls_per_hour"];
        assert_eq!(f[0]["calls"], 1, "{f}");
        assert_eq!(f[0]["every_call_logged"], false);
        run_at(&s, t0(), &["status"])
            .code(0)
            .stdout_has("at least 1 call(s)");
    }

    /// Model calls in an hour with no turn a person or a job started: one alert per episode.
    #[test]
    fn idle_burn_is_alerted_once_per_episode() {
        let s = suite(json!({"idle_calls_per_hour": 3}));
        append(&s, LOG, &plain(t0()));
        run_at(&s, t0(), &["--from-start"]).silent_success();
        // The debug capture's call records without the turns that explain them.
        let calls: Vec<Value> = records("turn-debug")
            .into_iter()
            .filter(|r| {
                r["1"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("[model-fetch]"))
            })
            .collect();
        assert_eq!(calls.len(), 6);
        for (i, r) in calls.iter().enumerate() {
            append(&s, LOG, &retime(r, t0() + Duration::seconds(60 + i as i64)));
        }
        run_at(&s, t0() + Duration::minutes(10), &[]).code(0);
        for (i, r) in calls.iter().enumerate() {
            append(
                &s,
                LOG,
                &retime(r, t0() + Duration::seconds(700 + i as i64)),
            );
        }
        run_at(&s, t0() + Duration::minutes(20), &[]).code(0);
        let alerts = s.read("alerts.txt");
        assert_eq!(alerts.matches("Idle burn").count(), 1, "{alerts}");
        assert!(alerts.contains("model call(s)"), "{alerts}");
        assert_eq!(
            s.state(JOB)["facts"]["idle_burn"].as_array().unwrap().len(),
            1
        );
        // A turn someone started explains the next hour's calls.
        let turn = records("turn-debug")
            .into_iter()
            .find(|r| {
                r["1"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("[agent] run"))
            })
            .unwrap();
        append(&s, LOG, &retime(&turn, t0() + Duration::minutes(70)));
        for (i, r) in calls.iter().enumerate() {
            append(
                &s,
                LOG,
                &retime(r, t0() + Duration::seconds(4300 + i as i64)),
            );
        }
        run_at(&s, t0() + Duration::minutes(130), &[]).code(0);
        assert_eq!(s.read("alerts.txt").matches("Idle burn").count(), 1);
    }
}

/// What operators' tools read: the Prometheus textfile and `status --json`.
mod operator {
    use super::*;
    use testkit::prom;

    fn with_textfile(s: &Suite) {
        let mut c: Value = serde_json::from_str(&s.read("config.json")).unwrap();
        c["runtime"]["textfile_dir"] = json!("textfile");
        s.config(c);
        std::fs::create_dir_all(s.path("textfile")).unwrap();
    }

    fn status_json(s: &Suite, now: DateTime<Utc>) -> Value {
        let r = run_at(s, now, &["status", "--json"]);
        r.code(0);
        assert_eq!(r.stdout.lines().count(), 1, "one line: {}", r.stdout);
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
    }

    /// `rate limit N refused / M decided, quota N / M, overload N / M` from the text status.
    fn text_window(text: &str) -> [(u64, u64); 3] {
        let line = text
            .lines()
            .find(|l| l.starts_with("window ("))
            .unwrap_or_else(|| panic!("no window line in {text}"));
        let counts = line.split_once("): ").unwrap().1;
        let nums: Vec<u64> = counts
            .split(|c: char| !c.is_ascii_digit())
            .filter(|w| !w.is_empty())
            .map(|w| w.parse().unwrap())
            .collect();
        // "window (15m): rate limit A refused / B decided, quota C / D, overload E / F (…"
        [(nums[0], nums[1]), (nums[2], nums[3]), (nums[4], nums[5])]
    }

    #[test]
    fn the_textfile_has_the_circuit_the_window_and_the_calls() {
        let s = suite(json!({"threshold": 3}));
        with_textfile(&s);
        append(&s, LOG, &fixture("turn-debug", "gateway.log.jsonl"));
        let end = capture_end("turn-debug");
        run_at(&s, end, &["--from-start"]).code(0);
        let prom = s.read("textfile/agent_jobs_check_ratelimit.prom");
        prom::promtool_check(&prom);
        assert_eq!(
            prom::sample(&prom, "agent_jobs_circuit_open", &[]),
            Some(0.0)
        );
        assert_eq!(
            prom::sample(&prom, "agent_jobs_model_calls_current_hour", &[]),
            Some(3.0),
            "{prom}"
        );
        assert_eq!(
            prom::sample(&prom, "agent_jobs_model_calls_exact", &[]),
            Some(1.0)
        );
        assert_eq!(
            prom::sample(
                &prom,
                "agent_jobs_circuit_incidents",
                &[("kind", "rate_limit")]
            ),
            Some(0.0)
        );
        // Refusals open the circuit; the file follows.
        for i in 0..3 {
            append(&s, LOG, &refusal_no_hint(end + Duration::seconds(i)));
        }
        let now = end + Duration::seconds(5);
        run_at(&s, now, &[]).code(0);
        assert_eq!(circuit(&s)["state"], "open");
        let prom = s.read("textfile/agent_jobs_check_ratelimit.prom");
        prom::promtool_check(&prom);
        assert_eq!(
            prom::kind(&prom, "agent_jobs_circuit_open").as_deref(),
            Some("gauge")
        );
        assert_eq!(
            prom::sample(&prom, "agent_jobs_circuit_open", &[("job", JOB)]),
            Some(1.0),
            "{prom}"
        );
        assert_eq!(
            prom::sample(
                &prom,
                "agent_jobs_circuit_incidents",
                &[("kind", "rate_limit")]
            ),
            Some(1.0),
            "{prom}"
        );
        let doc = status_json(&s, now);
        let w = &doc["facts"]["window"];
        for (class, v) in ["rate_limit", "quota", "overload"].iter().zip([
            &w["rate_limit"],
            &w["quota"],
            &w["overload"],
        ]) {
            assert_eq!(
                prom::sample(
                    &prom,
                    "agent_jobs_provider_refusals_window",
                    &[("class", class)]
                ),
                v.as_f64(),
                "{class}: {prom}\n{doc}"
            );
        }
        assert!(w["rate_limit"].as_u64().unwrap() >= 3, "{doc}");
    }

    #[test]
    fn status_json_is_one_document_that_agrees_with_the_text() {
        let s = suite(json!({"threshold": 3}));
        append(&s, LOG, &fixture("turn-debug", "gateway.log.jsonl"));
        let end = capture_end("turn-debug");
        run_at(&s, end, &["--from-start"]).code(0);
        for i in 0..3 {
            append(&s, LOG, &refusal_no_hint(end + Duration::seconds(i)));
        }
        let now = end + Duration::seconds(5);
        run_at(&s, now, &[]).code(0);
        let doc = status_json(&s, now);
        for k in [
            "job",
            "as_of",
            "last_run",
            "last_success",
            "facts",
            "circuit_file",
            "circuit_file_error",
            "maintenance",
            "window_secs",
            "incident_effects",
            "log_globs",
            "files",
        ] {
            assert!(doc.get(k).is_some(), "{k} missing: {doc}");
        }
        assert_eq!(doc["job"], JOB);
        let as_of: DateTime<Utc> = doc["as_of"].as_str().unwrap().parse().unwrap();
        assert_eq!(as_of, now);
        assert_eq!(doc["circuit_file"]["state"], "open");
        assert_eq!(doc["facts"]["circuit"]["state"], "open");
        assert_eq!(doc["window_secs"], 900);
        assert_eq!(doc["last_run"]["exit_code"], 0);
        let id = doc["facts"]["incidents"][0]["id"].as_str().unwrap();
        let effects = doc["incident_effects"].as_object().unwrap();
        assert!(
            !effects.is_empty()
                && effects
                    .keys()
                    .all(|k| k.starts_with(&format!("incident/{id}/"))),
            "{doc}"
        );
        assert!(effects.values().all(|e| e["status"] == "done"), "{doc}");
        assert_eq!(doc["files"][0]["state"], "ok");
        // The same numbers as the text.
        let text = run_at(&s, now, &["status"]);
        text.code(0).stdout_has("circuit: OPEN (rate_limit)");
        let [rl, quota, overload] = text_window(&text.stdout);
        let w = &doc["facts"]["window"];
        assert_eq!(w["rate_limit"], rl.0, "{}", text.stdout);
        assert_eq!(w["quota"], quota.0);
        assert_eq!(w["overload"], overload.0);
        assert_eq!(w["decisions"], rl.1 + quota.1 + overload.1);
        let refused = text
            .stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix("refused: "))
            .and_then(|l| l.split(' ').next())
            .unwrap();
        assert_eq!(
            doc["facts"]["incidents"][0]["refusals"].to_string(),
            refused,
            "{}",
            text.stdout
        );
        let calls = doc["facts"]["calls_per_hour"][0]["calls"].as_u64().unwrap();
        text.stdout_has(&format!("  {calls} call(s)"));
        // Text stays the default.
        assert!(!text.stdout.trim_start().starts_with('{'));
    }
}
