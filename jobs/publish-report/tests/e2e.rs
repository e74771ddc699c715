//! End-to-end tests of publish-report: the real binary in a hermetic suite root, with local fake
//! receivers on 127.0.0.1.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use std::path::Path;
use testkit::Suite;
use testkit::fakes::webhook::{Fault, Webhook};

const BIN: &str = env!("CARGO_BIN_EXE_publish-report");

fn bin() -> &'static Path {
    Path::new(BIN)
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A state file as the runtime writes it, with `runs` history entries ending at `last`.
fn job_state(job: &str, last: Option<(DateTime<Utc>, &str, Option<&str>)>, runs: usize) -> Value {
    let mut history = Vec::new();
    if let Some((t, outcome, _)) = last {
        for i in (0..runs).rev() {
            let o = if i == 0 {
                outcome
            } else if i % 7 == 0 {
                "failed"
            } else {
                "ok"
            };
            history.push(json!({
                "started_at": ts(t - Duration::minutes(10 * i as i64)),
                "duration_ms": 200 + (i as u64 * 37) % 900,
                "outcome": o,
                "exit_code": if o == "failed" { 1 } else { 0 },
            }));
        }
    }
    let last_run = last.map(|(t, outcome, err)| {
        json!({
            "started_at": ts(t),
            "finished_at": ts(t + Duration::milliseconds(250)),
            "duration_ms": 250,
            "outcome": outcome,
            "exit_code": if outcome == "failed" { 1 } else { 0 },
            "error": err,
            "summary": format!("{outcome} run"),
            "pid": 4242, "host": "test", "version": "0.1.0", "run_id": "abc123"
        })
    });
    let errors: Vec<Value> = last
        .and_then(|(t, _, e)| e.map(|e| json!({"at": ts(t), "message": e, "run_id": "abc123"})))
        .into_iter()
        .collect();
    json!({
        "schema_version": 1,
        "job": job,
        "last_run": last_run,
        "last_success": last.map(|(t, _, _)| ts(t)),
        "consecutive_failures": if last.is_some_and(|l| l.1 == "failed") { 3 } else { 0 },
        "runs": {"total": runs, "ok": runs, "noop": 0, "degraded": 0, "failed": 0, "skipped": 0},
        "history": history,
        "errors": errors,
        "metrics": {"items": 3},
        "alerts": {},
        "data": {}
    })
}

fn write_state(s: &Suite, job: &str, v: &Value) {
    s.write(
        &format!("state/{job}.json"),
        &serde_json::to_string_pretty(v).unwrap(),
    );
}

fn report_json(s: &Suite) -> Value {
    let dir = s.path("reports");
    let f = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap_or_else(|| panic!("no JSON report in {}", dir.display()));
    serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap()
}

fn job<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["name"] == name)
        .unwrap_or_else(|| panic!("no job {name} in {r:#}"))
}

const CRONTAB: &str = "\
SHELL=/bin/sh
AGENT_JOBS_ROOT=/srv/agent-jobs
* * * * * cd \"$AGENT_JOBS_ROOT\" && target/release/poll-teams --watch 50
*/5 * * * * cd \"$AGENT_JOBS_ROOT\" && target/release/check-ratelimit
#17 * * * * cd \"$AGENT_JOBS_ROOT\" && target/release/backup-config
* * * * * cd \"$AGENT_JOBS_ROOT\" && target/release/compact-memory
5 7 * * * cd \"$AGENT_JOBS_ROOT\" && target/release/publish-report
";

mod report {
    use super::*;

    /// ok, failing, paused by a commented crontab line, never run; plus circuit, incidents,
    /// backups, memory budget and log counts.
    #[test]
    fn five_jobs_in_various_conditions() {
        let s = Suite::new();
        let now = Utc::now();
        s.write("crontab", CRONTAB);
        s.config(json!({"publish-report": {"grace_secs": 300}}));
        write_state(
            &s,
            "poll-teams",
            &job_state(
                "poll-teams",
                Some((now - Duration::seconds(20), "ok", None)),
                60,
            ),
        );
        let mut cr = job_state(
            "check-ratelimit",
            Some((
                now - Duration::seconds(40),
                "failed",
                Some("cannot read /tmp/openclaw: permission denied"),
            )),
            12,
        );
        // check-ratelimit's facts as it publishes them (`contracts::facts::check_ratelimit`).
        cr["facts"] = json!({
            "circuit": {"state": "open", "kind": "rate_limit", "since": ts(now - Duration::hours(2)),
                        "reason": "API rate limit reached", "incident_id": "inc-7", "matches": 14},
            "incidents": [
                {"id": "inc-1", "kind": "quota", "opened_by": "auto", "started_at": ts(now - Duration::days(9)),
                 "ended_at": ts(now - Duration::days(8)), "reason": "old", "refusals": 2},
                {"id": "inc-6", "kind": "rate_limit", "opened_by": "auto", "started_at": ts(now - Duration::hours(10)),
                 "ended_at": ts(now - Duration::hours(9)), "reason": "429 from anthropic", "refusals": 5,
                 "provider": "anthropic", "model": "claude-sonnet-4-6", "profile": "anthropic:default"},
                {"id": "inc-7", "kind": "rate_limit", "opened_by": "auto", "started_at": ts(now - Duration::hours(2)),
                 "reason": "API rate limit reached", "refusals": 14}
            ],
            "calls_per_hour": [{"hour": ts(now - Duration::hours(3)), "calls": 42, "tokens": 12000}],
            "idle_burn": []
        });
        write_state(&s, "check-ratelimit", &cr);
        let mut bc = job_state(
            "backup-config",
            Some((now - Duration::days(3), "ok", None)),
            5,
        );
        // backup-config's facts as it publishes them (`contracts::facts::backup_config`).
        bc["facts"] = json!({
            "files": [{
                "name": "openclaw.json",
                "path": "/home/agent/.openclaw/openclaw.json",
                "status": "invalid",
                "problem": "openclaw.json shrank from 11234 to 43 bytes; missing `meta`",
                "snapshots": 2,
                "latest_snapshot_at": ts(now - Duration::days(3)),
                "last_good_at": ts(now - Duration::days(3)),
                "verdicts": ["built-in: size drop 11234 -> 43", "openclaw: valid"]
            }]
        });
        write_state(&s, "backup-config", &bc);
        // compact-memory: scheduled, no state file at all.
        s.write(
            "state/circuit.json",
            &json!({"state": "open", "kind": "rate_limit", "since": ts(now - Duration::hours(2)),
                    "reason": "API rate limit reached", "incident_id": "inc-7"})
            .to_string(),
        );
        let t = |d: Duration| ts(now - d);
        s.write(
            "logs/poll-teams.log",
            &format!(
                "{} WARN  poll-teams[aa0001] Graph 429, retrying\n{} ERROR poll-teams[aa0002] token expired\n{} ERROR poll-teams[aa0003] very old\n",
                t(Duration::hours(1)),
                t(Duration::minutes(30)),
                t(Duration::days(3)),
            ),
        );
        s.write(
            "logs/check-ratelimit.log.1",
            &format!(
                "{} WARN  check-ratelimit[bb0001] circuit opened\n",
                t(Duration::hours(2))
            ),
        );
        let run = s.run(bin(), &[]);
        // A config problem and failing jobs are for the report, not a failure of the report.
        run.code(0);
        let r = report_json(&s);
        assert_eq!(r["overall"], "attention", "{r:#}");
        assert_eq!(job(&r, "poll-teams")["status"], "ok", "{r:#}");
        assert_eq!(
            job(&r, "poll-teams")["history"].as_array().unwrap().len(),
            50
        );
        let c = job(&r, "check-ratelimit");
        assert_eq!(c["status"], "failing", "{c:#}");
        assert!(
            c["detail"].as_str().unwrap().contains("permission denied"),
            "{c:#}"
        );
        let b = job(&r, "backup-config");
        assert_eq!(b["status"], "paused", "{b:#}");
        assert_eq!(job(&r, "compact-memory")["status"], "never_run");
        assert_eq!(
            job(&r, "publish-report")["status"],
            "ok",
            "the running job is not overdue"
        );
        assert_eq!(r["circuit"]["open"], true);
        let inc: Vec<&str> = r["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            inc,
            ["inc-6", "inc-7"],
            "only incidents overlapping the period"
        );
        assert_eq!(r["backups"]["snapshots"], 2);
        assert_eq!(r["config_problems"].as_array().unwrap().len(), 1, "{r:#}");
        assert_eq!(job(&r, "poll-teams")["log_warnings"], 1);
        assert_eq!(
            job(&r, "poll-teams")["log_errors"],
            1,
            "the 3-day-old error is outside the period"
        );
        assert_eq!(
            job(&r, "check-ratelimit")["log_warnings"],
            1,
            "rotated files count"
        );
        assert_eq!(r["log_errors"], 1);
        let md = s.read(&format!("reports/{}.md", r["period"].as_str().unwrap()));
        for needle in [
            "| backup-config | ⏸️ paused |",
            "| check-ratelimit | ❌ failing |",
            "| compact-memory | ❌ never run |",
            "Circuit **open** (rate_limit)",
            "openclaw.json shrank",
            "report-id: ajr-daily-",
            "## Analysis",
            "| inc-6 | rate_limit | anthropic / claude-sonnet-4-6 / anthropic:default |",
            "Model calls in the period: 42 (12000 tokens)",
            "`built-in: size drop 11234 -> 43`; `openclaw: valid`",
        ] {
            assert!(md.contains(needle), "report lacks {needle:?}\n{md}");
        }
        assert!(s.path("reports/status.html").exists());
    }

    /// A job that stopped running is overdue; a corrupt state file is reported, not fatal.
    #[test]
    fn overdue_and_corrupt_state_is_reported_not_fatal() {
        let s = Suite::new();
        let now = Utc::now();
        s.write("crontab", CRONTAB);
        s.config(json!({"publish-report": {"grace_secs": 300}}));
        write_state(
            &s,
            "poll-teams",
            &job_state(
                "poll-teams",
                Some((now - Duration::hours(3), "ok", None)),
                3,
            ),
        );
        s.write(
            "state/check-ratelimit.json",
            "{\"schema_version\": 1, \"job\": ",
        );
        let mut cm = job_state(
            "compact-memory",
            Some((now - Duration::seconds(10), "degraded", None)),
            2,
        );
        // compact-memory's budget report as it writes it.
        // compact-memory's facts as it publishes them (`contracts::facts::compact_memory`).
        cm["facts"] = json!({"budget": {
            "measured_at": ts(now - Duration::seconds(10)),
            "per_file_limit": 20000, "total_limit": 60000,
            "source": "config.json compact-memory.per_file_chars",
            "files": [{"name": "MEMORY.md", "chars": 23512, "limit": 20000, "over": true}],
            "total_chars": 23512, "over": true,
            "problems": ["MEMORY.md is 23512 characters, over the per-file budget of 20000"]
        }});
        write_state(&s, "compact-memory", &cm);
        let run = s.run(bin(), &[]);
        run.code(0);
        assert!(
            run.stderr.contains("check-ratelimit.json"),
            "{}",
            run.dump()
        );
        let r = report_json(&s);
        let p = job(&r, "poll-teams");
        assert_eq!(p["status"], "overdue", "{p:#}");
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .starts_with("did not run since"),
            "{p:#}"
        );
        let c = job(&r, "check-ratelimit");
        assert_eq!(c["status"], "corrupt", "{c:#}");
        assert!(
            r["input_problems"]
                .to_string()
                .contains("check-ratelimit.json does not parse"),
            "{r:#}"
        );
        assert_eq!(job(&r, "compact-memory")["status"], "degraded");
        let md = s.read(&format!("reports/{}.md", r["period"].as_str().unwrap()));
        assert!(md.contains("did not run since"), "{md}");
        assert!(md.contains("state unreadable"), "{md}");
        assert_eq!(r["memory"]["over_budget"], true, "{r:#}");
        assert!(md.contains("MEMORY.md is 23512 characters"), "{md}");
        assert!(md.contains("| MEMORY.md | 23512 | 20000 | over |"), "{md}");
        assert!(
            md.contains("`config.json compact-memory.per_file_chars`"),
            "{md}"
        );
        assert!(
            r["headline"]
                .as_str()
                .unwrap()
                .contains("memory over budget"),
            "{r:#}"
        );
    }

    /// `--print` prints the report and writes nothing: no reports, no state, no publish.
    #[test]
    fn print_writes_and_sends_nothing() {
        let s = Suite::new();
        let hook = Webhook::start().unwrap();
        s.write("crontab", CRONTAB);
        s.config(json!({"publish-report": {"destinations": [{"name": "hook", "type": "webhook", "url": hook.url()}]}}));
        let run = s.run(bin(), &["--print"]);
        run.code(0)
            .stdout_has("# agent-jobs daily report")
            .stdout_has("report-id: ajr-daily-");
        assert!(!s.path("reports").exists());
        assert!(!s.path("state/publish-report.json").exists());
        assert!(hook.received().is_empty());
    }

    /// On Kubernetes the schedules are the suite's CronJobs (`cronjobs`): a suspended CronJob
    /// is *paused* in the report, as a commented-out crontab line is; `cronjobs` and
    /// `crontab_command` together are refused naming the key.
    #[test]
    fn a_suspended_cronjob_is_paused_in_the_report() {
        use testkit::fakes::kubernetes::FakeKube;
        use testkit::kube::{cronjob_object, service_account_files};
        let api = FakeKube::start("openclaw", "sa-token-6a1b2c3d4e5f");
        api.set_cronjobs(&[
            cronjob_object("check-ratelimit", "*/5 * * * *", None, false),
            cronjob_object("backup-config", "17 * * * *", None, true),
            cronjob_object("publish-report", "5 7 * * *", Some("Europe/Berlin"), false),
        ]);
        let s = Suite::new();
        let sa = s.path("serviceaccount");
        service_account_files(&sa, "sa-token-6a1b2c3d4e5f", "openclaw");
        let cronjobs = json!({"api_url": api.url(), "token_file": sa.join("token"), "ca_file": sa.join("ca.crt")});
        s.config(json!({"publish-report": {"cronjobs": cronjobs}}));
        let now = Utc::now();
        write_state(
            &s,
            "check-ratelimit",
            &job_state(
                "check-ratelimit",
                Some((now - Duration::seconds(40), "ok", None)),
                5,
            ),
        );
        write_state(
            &s,
            "backup-config",
            &job_state(
                "backup-config",
                Some((now - Duration::days(3), "ok", None)),
                5,
            ),
        );
        let run = s.run(bin(), &["--print"]);
        run.code(0)
            .stdout_has("| backup-config | ⏸️ paused |")
            .stdout_has("| check-ratelimit | ✅");
        assert!(
            !run.stdout.contains("sa-token-6a1b2c3d4e5f"),
            "{}",
            run.stdout
        );
        assert_eq!(api.requests().len(), 1, "{:?}", api.requests());
        api.set_suspend("agent-jobs-backup-config", false);
        let run = s.run(bin(), &["--print"]);
        assert!(
            !run.stdout.contains("| backup-config | ⏸️ paused |"),
            "{}",
            run.stdout
        );
        s.config(
            json!({"publish-report": {"cronjobs": cronjobs, "crontab_command": ["crontab", "-l"]}}),
        );
        s.run(bin(), &["--print"])
            .code(78)
            .stderr_has("publish-report.cronjobs");
    }

    /// Config mistakes name the key and exit 78.
    #[test]
    fn config_errors_name_the_key() {
        let s = Suite::new();
        s.config(json!({"publish-report": {"timezone": "Mars/Olympus"}}));
        s.run(bin(), &[])
            .code(78)
            .stderr_has("publish-report.timezone");
        s.config(json!({"publish-report": {"destinations": [{"name": "x", "type": "webhook"}]}}));
        s.run(bin(), &[])
            .code(78)
            .stderr_has("publish-report.destinations[0]");
        s.config(json!({"publish-report": {"destinatons": []}}));
        s.run(bin(), &[]).code(78).stderr_has("destinatons");
    }

    /// The weekly period is named by ISO week; --date picks a past period.
    #[test]
    fn weekly_and_past_dates() {
        let s = Suite::new();
        s.write("crontab", CRONTAB);
        // 2026-01-01 is a Thursday in ISO week 1 of 2026, which starts on Monday 2025-12-29.
        s.run(bin(), &["--period", "weekly", "--date", "2026-01-01"])
            .silent_success();
        let r: Value = serde_json::from_str(&s.read("reports/2026-W01.json")).unwrap();
        assert_eq!(r["from"], "2025-12-29T00:00:00Z");
        assert_eq!(r["as_of"], "2026-01-05T00:00:00Z");
        // A date in the future is refused.
        let tomorrow = (Utc::now() + Duration::days(2))
            .format("%Y-%m-%d")
            .to_string();
        s.run(bin(), &["--date", &tomorrow])
            .code(2)
            .stderr_has("future");
        s.run(bin(), &["--date", "2026-11-01"]).silent_success();
        assert!(s.path("reports/2026-11-01.md").exists());
    }
}

mod publish {
    use super::*;

    fn hook_config(s: &Suite, hook: &Webhook, extra: Value) {
        let mut dest =
            json!({"name": "hook", "type": "webhook", "url": hook.url(), "timeout_secs": 1.0});
        if let Some(o) = extra.as_object() {
            for (k, v) in o {
                dest[k] = v.clone();
            }
        }
        s.config(json!({"publish-report": {"destinations": [dest]}}));
        s.write("crontab", CRONTAB);
    }

    fn delivery(s: &Suite, period: &str, dest: &str) -> Value {
        s.state("publish-report")["data"]["deliveries"][format!("daily:{period}")][dest].clone()
    }

    const DAY: &str = "2026-11-20";

    #[test]
    fn success_is_sent_once() {
        let s = Suite::new();
        let hook = Webhook::start().unwrap();
        hook_config(&s, &hook, json!({}));
        s.run(bin(), &["--date", DAY]).silent_success();
        let d = delivery(&s, DAY, "hook");
        assert_eq!(d["status"], "done", "{d:#}");
        assert_eq!(d["detail"], "msg-1");
        let rid = d["report_id"].as_str().unwrap().to_string();
        let got = hook.accepted();
        assert_eq!(got.len(), 1);
        let body = got[0].json().unwrap();
        assert_eq!(body["report_id"], rid.as_str());
        assert!(
            body["text"]
                .as_str()
                .unwrap()
                .contains(&format!("report-id: {rid}"))
        );
        assert!(body["html"].as_str().unwrap().contains("<ul>"));
        assert_eq!(got[0].header("Idempotency-Key"), Some(rid.as_str()));
        // Again: nothing is sent.
        s.run(bin(), &["--date", DAY]).silent_success();
        assert_eq!(hook.received().len(), 1);
        assert!(
            s.state("publish-report")["last_run"]["summary"]
                .as_str()
                .unwrap()
                .contains("already sent")
        );
    }

    #[test]
    fn http_500_fails_and_the_next_run_sends_once() {
        let s = Suite::new();
        let hook = Webhook::start().unwrap();
        hook_config(&s, &hook, json!({}));
        hook.push_fault(Fault::Status(500));
        let run = s.run(bin(), &["--date", DAY]);
        run.code(1).stderr_has("HTTP 500");
        assert_eq!(delivery(&s, DAY, "hook")["status"], "failed");
        assert_eq!(hook.accepted().len(), 0);
        s.run(bin(), &["--date", DAY]).silent_success();
        s.run(bin(), &["--date", DAY]).silent_success();
        assert_eq!(hook.received().len(), 2, "one failed attempt, one success");
        assert_eq!(hook.accepted().len(), 1);
        assert_eq!(delivery(&s, DAY, "hook")["attempts"], 2);
    }

    fn ambiguous(fault: Fault) {
        let s = Suite::new();
        let hook = Webhook::start().unwrap();
        let alerts = Webhook::start().unwrap();
        hook_config(&s, &hook, json!({}));
        let mut cfg: Value = serde_json::from_str(&s.read("config.json")).unwrap();
        cfg["runtime"] = json!({"alerts": {"webhook_url": alerts.url()}});
        s.config(cfg);
        hook.push_fault(fault);
        let run = s.run(bin(), &["--date", DAY]);
        run.code(1).stderr_has("outcome unknown");
        let d = delivery(&s, DAY, "hook");
        assert_eq!(d["status"], "unknown", "{d:#}");
        assert_eq!(hook.accepted().len(), 1, "the receiver took it");
        let a = alerts.accepted();
        assert_eq!(a.len(), 1, "one alert says so");
        let text = a[0].json().unwrap()["text"].as_str().unwrap().to_string();
        assert!(
            text.contains(d["report_id"].as_str().unwrap()) && text.contains("--force"),
            "{text}"
        );
        // Later runs never resend on their own.
        for _ in 0..2 {
            s.run(bin(), &["--date", DAY]).code(1);
        }
        assert_eq!(hook.received().len(), 1, "no second message for the period");
        // The operator decides: --force sends again, under a new report id.
        s.run(bin(), &["--date", DAY, "--force"]).code(0);
        let got = hook.accepted();
        assert_eq!(got.len(), 2);
        let rid2 = got[1].json().unwrap()["report_id"]
            .as_str()
            .unwrap()
            .to_string();
        // The same report under the same id: a receiver that de-duplicates on
        // `Idempotency-Key` drops the copy.
        assert_eq!(rid2, d["report_id"].as_str().unwrap(), "{rid2}");
        assert_eq!(
            got[1].header("Idempotency-Key"),
            got[0].header("Idempotency-Key")
        );
        assert_eq!(
            got[1].json().unwrap()["text"],
            got[0].json().unwrap()["text"]
        );
        assert_eq!(delivery(&s, DAY, "hook")["status"], "done");
    }

    #[test]
    fn timeout_after_accept_is_unknown_and_never_resent() {
        ambiguous(Fault::AcceptThenTimeout(std::time::Duration::from_secs(4)));
    }

    #[test]
    fn connection_dropped_after_accept_is_unknown_and_never_resent() {
        ambiguous(Fault::AcceptThenDrop);
    }

    /// SIGKILL while the request is at the receiver (after the intent, before the result).
    #[test]
    fn sigkill_between_send_and_record_never_resends() {
        let s = Suite::new();
        let hook = Webhook::start().unwrap();
        s.config(json!({"publish-report": {"destinations": [
            {"name": "hook", "type": "webhook", "url": hook.url(), "timeout_secs": 30.0}]}}));
        hook.push_fault(Fault::AcceptThenTimeout(std::time::Duration::from_secs(20)));
        let mut child = s.spawn(bin(), &["--date", DAY]);
        assert!(testkit::wait_until(
            std::time::Duration::from_secs(20),
            || !hook.received().is_empty()
        ));
        testkit::signal(&child, 9);
        let _ = child.wait();
        assert_eq!(delivery(&s, DAY, "hook")["status"], "started");
        let run = s.run(bin(), &["--date", DAY]);
        run.code(1).stderr_has("outcome unknown");
        assert_eq!(delivery(&s, DAY, "hook")["status"], "unknown");
        s.run(bin(), &["--date", DAY]).code(1);
        assert_eq!(
            hook.received().len(),
            1,
            "never two messages for one period"
        );
    }

    /// Kill runs at random moments; afterwards every period has at most one message at the
    /// webhook and exactly one file in the directory, and the state agrees.
    #[test]
    fn sigkill_torture() {
        let s = Suite::new();
        let hook = Webhook::start().unwrap();
        s.config(json!({"publish-report": {
        "max_publishes_per_day": 1000,
            "failure_threshold": 1000,
        "destinations": [
            {"name": "archive", "type": "directory", "path": "published"},
            {"name": "hook", "type": "webhook", "url": hook.url(), "timeout_secs": 5.0}
        ]}}));
        let iterations = 40;
        let mut seen = std::collections::BTreeMap::<String, u32>::new();
        for i in 0..iterations {
            let day = format!("2026-10-{:02}", 1 + i % 28);
            let period = if i < 28 { "daily" } else { "weekly" };
            let args = ["--date", day.as_str(), "--period", period];
            // A slow (but successful) receiver widens the window between intent and record.
            hook.clear_faults();
            hook.push_fault(Fault::AcceptThenTimeout(std::time::Duration::from_millis(
                60,
            )));
            let mut child = s.spawn(bin(), &args);
            std::thread::sleep(std::time::Duration::from_millis(fastrand_ms(i)));
            testkit::signal(&child, 9);
            let _ = child.wait();
            hook.clear_faults();
            let run = s.run(bin(), &args);
            assert!(run.code == 0 || run.code == 1, "{}", run.dump());
            let st = s.state("publish-report");
            let key = if period == "daily" {
                format!("daily:{day}")
            } else {
                let d = chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d").unwrap();
                use chrono::Datelike;
                format!("weekly:{}-W{:02}", d.iso_week().year(), d.iso_week().week())
            };
            let book = &st["data"]["deliveries"][&key];
            let h = &book["hook"];
            let rid = h["report_id"]
                .as_str()
                .unwrap_or_else(|| panic!("{}", run.dump()));
            let n = hook.accepted_with(&format!("\"report_id\":\"{rid}\""));
            assert!(n <= 1, "{n} messages for {rid}");
            let status = h["status"].as_str().unwrap();
            *seen
                .entry(format!("hook {status}, {n} received"))
                .or_insert(0) += 1;
            match status {
                "done" => assert_eq!(n, 1, "sent but not received: {rid}"),
                "unknown" => {}
                other => panic!("unexpected status {other}\n{}", run.dump()),
            }
            let a = &book["archive"];
            assert_eq!(a["status"], "done", "{}", run.dump());
            let arid = a["report_id"].as_str().unwrap();
            assert!(s.path(&format!("published/{arid}.md")).exists());
        }
        // Which interleavings the kills produced (printed with --nocapture).
        println!("sigkill_torture outcomes: {seen:?}");
        // Weekly periods were repeated (the same ISO week): still one message each.
        let mut ids: Vec<String> = hook
            .accepted()
            .iter()
            .map(|r| r.json().unwrap()["report_id"].as_str().unwrap().to_string())
            .collect();
        let total = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), total, "a report id was delivered twice");
    }

    fn fastrand_ms(i: usize) -> u64 {
        // Spread kills over start-up, collection, the intent, the send and the record.
        let x = (i as u64).wrapping_mul(2654435761) % 97;
        x * 2
    }

    #[test]
    fn daily_cap_per_destination() {
        let s = Suite::new();
        let hook = Webhook::start().unwrap();
        hook_config(&s, &hook, json!({"max_per_day": 2}));
        s.run(bin(), &["--date", "2026-11-01"]).silent_success();
        s.run(bin(), &["--date", "2026-11-02"]).silent_success();
        let run = s.run(bin(), &["--date", "2026-11-03"]);
        run.code(1).stderr_has("daily cap of 2");
        assert_eq!(hook.received().len(), 2);
        // --force does not lift the cap.
        s.run(bin(), &["--date", "2026-11-01", "--force"]).code(1);
        assert_eq!(hook.received().len(), 2);
    }

    #[test]
    fn consecutive_failures_cool_off_with_an_alert() {
        let s = Suite::new();
        let hook = Webhook::start().unwrap();
        s.config(json!({"publish-report": {
            "failure_threshold": 2, "cooloff_secs": 3600,
            "destinations": [{"name": "hook", "type": "webhook", "url": hook.url()}]}}));
        hook.push_fault(Fault::Status(503));
        hook.push_fault(Fault::Status(503));
        s.run(bin(), &["--date", DAY]).code(1);
        let run = s.run(bin(), &["--date", DAY]);
        run.code(1).stderr_has("failed 2 times in a row");
        let run = s.run(bin(), &["--date", DAY]);
        run.code(1).stderr_has("cooling off");
        assert_eq!(hook.received().len(), 2, "no request while cooling off");
        assert!(s.state("publish-report")["effects"]["alert/cooloff:hook"].is_object());
    }

    #[test]
    fn dry_run_sends_and_writes_nothing() {
        let s = Suite::new();
        let hook = Webhook::start().unwrap();
        hook_config(&s, &hook, json!({}));
        let run = s.run(bin(), &["--date", DAY, "--dry-run"]);
        run.code(0).stderr_has("dry run: would publish");
        assert!(hook.received().is_empty());
        assert!(!s.path("reports").exists());
        assert!(!s.path("state/publish-report.json").exists());
    }

    #[test]
    fn directory_destination_recovers_an_interrupted_write() {
        let s = Suite::new();
        s.write("crontab", CRONTAB);
        s.config(json!({"publish-report": {"destinations": [
            {"name": "archive", "type": "directory", "path": "published"}]}}));
        s.run(bin(), &["--date", DAY]).silent_success();
        let d = delivery(&s, DAY, "archive");
        let rid = d["report_id"].as_str().unwrap().to_string();
        let md = s.read(&format!("published/{rid}.md"));
        assert!(md.contains(&format!("report-id: {rid}")));
        // Simulate a crash after the write and before the record: back to `sending`.
        let mut st = s.state("publish-report");
        st["effects"][format!("report/daily:{DAY}/archive")]["status"] = json!("started");
        s.write("state/publish-report.json", &st.to_string());
        let run = s.run(bin(), &["--date", DAY]);
        run.code(0).stderr_has("already there");
        assert_eq!(delivery(&s, DAY, "archive")["status"], "done");
        // A crash before the write: `sending` and no file; the next run writes it.
        std::fs::remove_file(s.path(&format!("published/{rid}.md"))).unwrap();
        let mut st = s.state("publish-report");
        st["effects"][format!("report/daily:{DAY}/archive")]["status"] = json!("started");
        s.write("state/publish-report.json", &st.to_string());
        // The journal's recovery says that a run was interrupted (one warning), then the
        // directory is checked and the report written under its id.
        s.run(bin(), &["--date", DAY])
            .code(0)
            .stderr_has("interrupted by the end of an earlier run");
        assert!(s.path(&format!("published/{rid}.md")).exists());
        assert_eq!(delivery(&s, DAY, "archive")["status"], "done");
        assert_eq!(delivery(&s, DAY, "archive")["report_id"], rid.as_str());
    }
}

mod status_page {
    use super::*;
    use quick_xml::events::Event;

    fn suite_with_history() -> Suite {
        let s = Suite::new();
        let now = Utc::now();
        s.write("crontab", CRONTAB);
        for (j, o) in [
            ("poll-teams", "ok"),
            ("check-ratelimit", "failed"),
            ("backup-config", "ok"),
            ("compact-memory", "degraded"),
        ] {
            let err = (o == "failed").then_some("x < y & \"quoted\" <script>alert(1)</script>");
            write_state(
                &s,
                j,
                &job_state(j, Some((now - Duration::seconds(30), o, err)), 50),
            );
        }
        s.run(bin(), &[]).code(0);
        s
    }

    /// Well-formed (XML parser), self-contained, one chart per job with 50 bars.
    #[test]
    fn status_page_is_valid_and_self_contained() {
        let s = suite_with_history();
        let html = s.read("reports/status.html");
        assert!(html.starts_with("<!DOCTYPE html>"));
        let mut r = quick_xml::Reader::from_str(&html);
        r.config_mut().check_end_names = true;
        let mut stack: Vec<String> = Vec::new();
        let mut svgs = 0;
        let mut bars_in_svg = Vec::new();
        let mut rows = 0;
        loop {
            match r.read_event() {
                Ok(Event::Start(e)) => {
                    let n = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    assert_ne!(n, "script", "no JavaScript");
                    for a in e.attributes() {
                        let a = a.unwrap();
                        let k = String::from_utf8_lossy(a.key.as_ref()).into_owned();
                        let v = a.unescape_value().unwrap();
                        assert!(!k.starts_with("on"), "no event handlers: {k}");
                        if k == "src" || k == "href" {
                            assert!(v.starts_with('#'), "no external assets: {k}={v}");
                        }
                    }
                    if n == "svg" {
                        svgs += 1;
                        bars_in_svg.push(0);
                    }
                    if n == "rect" && stack.last().is_some_and(|p| p == "svg") {
                        *bars_in_svg.last_mut().unwrap() += 1;
                    }
                    if n == "tr" && stack.iter().any(|p| p == "tbody") {
                        rows += 1;
                    }
                    stack.push(n);
                }
                Ok(Event::End(e)) => {
                    let n = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    assert_eq!(stack.pop().as_deref(), Some(n.as_str()));
                }
                Ok(Event::Empty(e)) => {
                    let n = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    assert!(n != "script" && n != "link" && n != "img", "{n}");
                }
                Ok(Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("not well-formed at {}: {e}", r.buffer_position()),
            }
        }
        assert!(stack.is_empty(), "unclosed: {stack:?}");
        let jobs = common::contracts::registry::jobs().len();
        assert_eq!(rows, jobs, "one row per job");
        assert_eq!(svgs, jobs, "one chart per job");
        // A bar is a <rect> with a <title>; four jobs have 50 recorded runs, the others none
        // (publish-report's own run is recorded after the report is written).
        let mut bars = bars_in_svg.clone();
        bars.sort();
        let mut want = vec![0; jobs - 4];
        want.extend([50; 4]);
        assert_eq!(bars, want, "{bars_in_svg:?}");
        assert!(
            html.contains("x &lt; y &amp; &quot;quoted&quot; &lt;script&gt;"),
            "escaped"
        );
        assert!(!html.contains("<script>"));
    }

    /// Renders in a real headless Chromium.
    #[test]
    fn status_page_renders_in_headless_chromium() {
        let chromium = Path::new("/usr/bin/chromium");
        if !chromium.exists() {
            assert_ne!(
                std::env::var("AGENT_JOBS_REQUIRE_CHROMIUM").as_deref(),
                Ok("1"),
                "AGENT_JOBS_REQUIRE_CHROMIUM=1 but /usr/bin/chromium is missing"
            );
            println!("SKIPPED: chromium not installed");
            return;
        }
        let s = suite_with_history();
        let page = s.path("reports/status.html");
        let profile = tempfile::tempdir().unwrap();
        let png = s.path("shot.png");
        let out = std::process::Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--screenshot={}", png.display()))
            .arg("--window-size=1200,900")
            .arg(format!("file://{}", page.display()))
            .env("HOME", profile.path())
            .output()
            .unwrap();
        let bytes = std::fs::read(&png).unwrap_or_else(|e| {
            panic!(
                "no screenshot ({e}); chromium exit {:?}\n{}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        assert!(
            bytes.len() > 20_000,
            "suspiciously small screenshot: {} bytes",
            bytes.len()
        );
        // IHDR: width and height.
        let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!((w, h), (1200, 900));
        // A single-colour page compresses to almost nothing; ours has text and coloured bars.
        let blank = {
            let p2 = s.path("blank.html");
            s.write("blank.html", "<!DOCTYPE html><html><body></body></html>");
            let png2 = s.path("blank.png");
            let _ = std::process::Command::new(chromium)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                ])
                .arg(format!("--user-data-dir={}", profile.path().display()))
                .arg(format!("--screenshot={}", png2.display()))
                .arg("--window-size=1200,900")
                .arg(format!("file://{}", p2.display()))
                .env("HOME", profile.path())
                .output()
                .unwrap();
            std::fs::read(&png2).map(|b| b.len()).unwrap_or(0)
        };
        assert!(
            blank == 0 || bytes.len() > blank * 4,
            "the page looks blank: {} bytes vs {blank} for an empty page",
            bytes.len()
        );
    }
}

mod teams {
    use super::*;
    use testkit::fakes::graph::{AGENT_PASSWORD, FakeGraph, Fault as GFault, Route};

    const CHAT: &str = "19:ops-reports@thread.v2";
    const DAY: &str = "2026-11-20";

    fn setup(settle_secs: u64) -> (Suite, FakeGraph) {
        let s = Suite::new();
        let g = FakeGraph::start();
        g.add_chat(CHAT);
        s.write("crontab", CRONTAB);
        s.config(json!({
            "poll-teams": {"graph": g.user_config("AGENT_PW")},
            "publish-report": {
                "settle_secs": settle_secs,
                "destinations": [{"name": "ops", "type": "teams", "chat_id": CHAT, "timeout_secs": 1.0}]
            }
        }));
        (s, g)
    }

    fn run(s: &Suite, args: &[&str]) -> testkit::Run {
        s.run_cmd(s.cmd(bin()).env("AGENT_PW", AGENT_PASSWORD).args(args))
    }

    fn delivery(s: &Suite) -> Value {
        s.state("publish-report")["data"]["deliveries"][format!("daily:{DAY}")]["ops"].clone()
    }

    fn with_id(g: &FakeGraph, rid: &str) -> usize {
        g.posted(CHAT)
            .iter()
            .filter(|m| {
                m["body"]["content"]
                    .as_str()
                    .unwrap_or("")
                    .contains(&format!("report-id: {rid}"))
            })
            .count()
    }

    #[test]
    fn success_is_posted_once() {
        let (s, g) = setup(600);
        run(&s, &["--date", DAY]).silent_success();
        let d = delivery(&s);
        assert_eq!(d["status"], "done", "{d:#}");
        let rid = d["report_id"].as_str().unwrap();
        assert_eq!(with_id(&g, rid), 1);
        let posted = g.posted(CHAT);
        assert_eq!(d["detail"], posted[0]["id"]);
        assert_eq!(posted[0]["body"]["contentType"], "html");
        run(&s, &["--date", DAY]).silent_success();
        assert_eq!(g.count(Route::Post), 1, "no second post");
    }

    /// A 500 may or may not have created the message: the chat is checked, and the report is
    /// sent again only once `settle_secs` have passed without it showing up.
    #[test]
    fn http_500_is_checked_then_sent_once() {
        let (s, g) = setup(1);
        g.fail_next(
            Route::Post,
            GFault::Status(
                500,
                json!({"error": {"code": "generalException", "message": "boom"}}),
            ),
        );
        run(&s, &["--date", DAY])
            .code(1)
            .stderr_has("outcome unknown");
        assert_eq!(delivery(&s)["status"], "unknown");
        assert_eq!(g.posted(CHAT).len(), 0);
        std::thread::sleep(std::time::Duration::from_millis(1200));
        run(&s, &["--date", DAY])
            .code(0)
            .stderr_has("sending it again");
        run(&s, &["--date", DAY]).silent_success();
        assert_eq!(
            g.posted(CHAT).len(),
            1,
            "exactly one message for the period"
        );
        assert_eq!(delivery(&s)["status"], "done");
    }

    /// Graph took the message but answered after the client's timeout: the next run finds it.
    #[test]
    fn timeout_after_accept_is_found_not_resent() {
        let (s, g) = setup(600);
        g.fail_next(
            Route::Post,
            GFault::Delay(std::time::Duration::from_secs(3)),
        );
        run(&s, &["--date", DAY])
            .code(1)
            .stderr_has("outcome unknown");
        assert_eq!(delivery(&s)["status"], "unknown");
        // Later runs before it shows up do not send.
        run(&s, &["--date", DAY]).code(1);
        assert_eq!(g.count(Route::Post), 1);
        assert!(testkit::wait_until(
            std::time::Duration::from_secs(10),
            || g.posted(CHAT).len() == 1
        ));
        run(&s, &["--date", DAY])
            .code(0)
            .stderr_has("already there");
        let d = delivery(&s);
        assert_eq!(d["status"], "done", "{d:#}");
        assert_eq!(d["detail"], g.posted(CHAT)[0]["id"]);
        run(&s, &["--date", DAY]).silent_success();
        assert_eq!(g.count(Route::Post), 1);
        assert_eq!(g.posted(CHAT).len(), 1);
    }

    /// Graph created the message and the connection broke mid-answer: found in the same run.
    #[test]
    fn connection_dropped_after_accept_is_found_in_the_chat() {
        let (s, g) = setup(600);
        g.fail_next(Route::Post, GFault::Truncated);
        run(&s, &["--date", DAY]).silent_success();
        let d = delivery(&s);
        assert_eq!(d["status"], "done", "{d:#}");
        assert_eq!(d["detail"], g.posted(CHAT)[0]["id"]);
        run(&s, &["--date", DAY]).silent_success();
        assert_eq!(g.posted(CHAT).len(), 1);
    }

    /// SIGKILL while Graph holds the request: the next run does not post again; once the
    /// message shows up it is recorded as sent.
    #[test]
    fn sigkill_between_send_and_record_never_posts_twice() {
        let (s, g) = setup(600);
        g.fail_next(
            Route::Post,
            GFault::Delay(std::time::Duration::from_secs(2)),
        );
        let mut child = s
            .cmd(bin())
            .env("AGENT_PW", AGENT_PASSWORD)
            .args(["--date", DAY])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        assert!(testkit::wait_until(
            std::time::Duration::from_secs(20),
            || g.count(Route::Post) == 1
        ));
        testkit::signal(&child, 9);
        let _ = child.wait();
        assert_eq!(delivery(&s)["status"], "started");
        run(&s, &["--date", DAY])
            .code(1)
            .stderr_has("outcome unknown");
        assert_eq!(g.count(Route::Post), 1);
        assert!(testkit::wait_until(
            std::time::Duration::from_secs(10),
            || g.posted(CHAT).len() == 1
        ));
        run(&s, &["--date", DAY])
            .code(0)
            .stderr_has("already there");
        assert_eq!(delivery(&s)["status"], "done");
        assert_eq!(g.posted(CHAT).len(), 1, "never two messages for one period");
    }

    /// The Teams destination needs Graph settings; a missing one is a config error before
    /// anything is sent.
    #[test]
    fn missing_graph_settings_is_a_config_error() {
        let s = Suite::new();
        s.config(json!({"publish-report": {"destinations": [{"name": "ops", "type": "teams", "chat_id": CHAT}]}}));
        s.run(bin(), &["--date", DAY]).code(78).stderr_has("graph");
    }
}

mod analysis {
    use super::*;
    use testkit::fakes::model::{FakeModel, Fault as MFault};

    fn setup(fake: &FakeModel) -> Suite {
        let s = Suite::new();
        s.write("crontab", CRONTAB);
        let now = Utc::now();
        write_state(
            &s,
            "check-ratelimit",
            &job_state(
                "check-ratelimit",
                Some((now - Duration::seconds(30), "failed", Some("disk full"))),
                50,
            ),
        );
        s.config(json!({"publish-report": {
            "analysis": "model",
            "model": {"enabled": true, "provider": "anthropic", "url": fake.anthropic_url(),
                      "model": "claude-haiku-4-5", "api_key_env": "MODEL_KEY", "max_retries": 0}
        }}));
        s
    }

    fn run(s: &Suite, args: &[&str]) -> testkit::Run {
        s.run_cmd(
            s.cmd(bin())
                .env("MODEL_KEY", "sk-ant-test-key-123456")
                .args(args),
        )
    }

    #[test]
    fn model_writes_the_analysis() {
        let fake = FakeModel::start().unwrap();
        fake.set_reply("check-ratelimit has failed its last run (disk full); free space on the log volume first.");
        let s = setup(&fake);
        run(&s, &[]).silent_success();
        let r = report_json(&s);
        assert_eq!(r["analysis_source"], "model", "{r:#}");
        assert!(
            r["analysis"]
                .as_str()
                .unwrap()
                .starts_with("check-ratelimit has failed")
        );
        assert_eq!(fake.requests(), 1);
        let body = fake.bodies()[0].to_string();
        assert!(
            body.contains("disk full") && !body.contains("\\\"history\\\""),
            "{body}"
        );
        let st = s.state("publish-report");
        assert!(
            st["data"]["tokens"]["calls"].as_u64().unwrap() == 1,
            "{st:#}"
        );
        assert!(!st.to_string().contains("sk-ant-test-key-123456"));
        let md = s.read(&format!("reports/{}.md", r["period"].as_str().unwrap()));
        assert!(md.contains("_Written by the model"), "{md}");
        // --print never calls the model.
        run(&s, &["--print"]).code(0).stdout_has("## Analysis");
        assert_eq!(fake.requests(), 1);
    }

    #[test]
    fn open_circuit_skips_the_model_and_degrades_to_rules() {
        let fake = FakeModel::start().unwrap();
        let s = setup(&fake);
        s.write(
            "state/circuit.json",
            &json!({"state": "open", "kind": "rate_limit", "reason": "API rate limit reached"})
                .to_string(),
        );
        let out = run(&s, &[]);
        out.code(0).stderr_has("rate-limit circuit is open");
        assert_eq!(fake.requests(), 0);
        let r = report_json(&s);
        assert_eq!(r["analysis_source"], "rules");
        assert!(
            r["analysis"]
                .as_str()
                .unwrap()
                .contains("check-ratelimit is failing"),
            "{r:#}"
        );
        assert_eq!(s.state("publish-report")["last_run"]["outcome"], "degraded");
    }

    #[test]
    fn model_failure_falls_back_to_rules() {
        let fake = FakeModel::start().unwrap();
        fake.push(MFault::SpendCap);
        let s = setup(&fake);
        run(&s, &[]).code(0).stderr_has("analysis written by rules");
        assert_eq!(fake.requests(), 1, "a spend cap is not retried");
        let r = report_json(&s);
        assert_eq!(r["analysis_source"], "rules");
        let st = s.state("publish-report");
        assert_eq!(st["data"]["tokens"]["failures"]["quota"], 1, "{st:#}");
    }
}

/// Secrets never leave: hostile servers that echo the whole request (headers, URL, body) in
/// their error answers, for every endpoint the run talks to.
mod secrets {
    use super::*;
    use testkit::fakes::http::{Reply, Request, Server};

    const PASSWORD: &str = "GraphPassw0rd-hostile-XYZ";
    const ACCESS_TOKEN: &str = "eyLiveAccessToken-0123456789abcdef";
    const API_KEY: &str = "sk-ant-hostile-key-0123456789";
    const HOOK_TOKEN: &str = "HookUrlToken77abc";
    const HOOK_SIG: &str = "HookSig99999";
    const ALERT_KEY: &str = "AlertUrlKey55xyz";

    fn echo(req: &Request) -> String {
        let mut s = format!("{} {} HTTP/1.1\n", req.method, req.target);
        for (k, v) in &req.headers {
            s.push_str(&format!("{k}: {v}\n"));
        }
        s.push_str(&String::from_utf8_lossy(&req.body));
        s
    }

    fn hostile() -> Server {
        Server::start(0, |req: &Request| {
            if req.target.contains("/token-ok/") {
                return Reply::json(
                    200,
                    &json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600}),
                );
            }
            if req.target.starts_with("/graph/") {
                // An OData error whose message is the whole request.
                return Reply::json(
                    500,
                    &json!({"error": {"code": "generalException", "message": echo(req)}}),
                );
            }
            Reply::raw(500, "text/plain", echo(req))
        })
        .unwrap()
    }

    #[test]
    fn echoed_requests_never_reach_state_logs_reports_alerts_or_stderr() {
        let s = Suite::new();
        let srv = hostile();
        let url = srv.url();
        s.write("secrets/graph-password", PASSWORD);
        s.write("secrets/model-key", API_KEY);
        s.write(
            "secrets/hook-url",
            &format!("{url}/report?token={HOOK_TOKEN}&sig={HOOK_SIG}&v=1"),
        );
        s.write("secrets/alert-url", &format!("{url}/alert?key={ALERT_KEY}"));
        s.write("crontab", CRONTAB);
        let graph = |token: &str, cache: &str| {
            json!({"token_url": format!("{url}/{token}"), "graph_url": format!("{url}/graph"),
                   "tenant": "t1", "client_id": "c1", "grant": "password", "username": "agent@example.com",
                   "password_file": "secrets/graph-password", "token_cache": cache})
        };
        s.config(json!({
            "runtime": {"alerts": {
                "webhook_url_file": "secrets/alert-url",
                "command": ["sh", "-c", "cat >> alerts.txt; echo >> alerts.txt; env | grep AGENT_JOBS_ALERT >> alerts.txt"]
            }},
            "publish-report": {
                "analysis": "model",
                "model": {"enabled": true, "provider": "anthropic", "url": format!("{url}/v1/messages"),
                          "model": "m", "api_key_file": "secrets/model-key", "max_retries": 0},
                "failure_threshold": 1,
                "destinations": [
                    {"name": "hook", "type": "webhook", "url_file": "secrets/hook-url", "timeout_secs": 2.0},
                    {"name": "teams-token", "type": "teams", "chat_id": "19:a@thread.v2",
                     "graph": graph("token-echo", "state/graph-a.json")},
                    {"name": "teams-post", "type": "teams", "chat_id": "19:b@thread.v2",
                     "graph": graph("token-ok", "state/graph-b.json")}
                ]
            }
        }));
        let first = s.run(bin(), &[]);
        first.code(1);
        let second = s.run(bin(), &["--force"]);
        second.code(1);
        // The hostile server did see the secrets (the test would prove nothing otherwise).
        let mut outputs = vec![
            (
                "stderr".to_string(),
                format!("{}{}", first.stderr, second.stderr),
            ),
            (
                "stdout".to_string(),
                format!("{}{}", first.stdout, second.stdout),
            ),
            ("alert command input".to_string(), s.read("alerts.txt")),
        ];
        assert!(!outputs[2].1.is_empty(), "the alert command ran");
        for dir in ["state", "logs", "reports"] {
            for e in std::fs::read_dir(s.path(dir)).unwrap().flatten() {
                // The token caches (mode 0600) are where a token obtained lives, by design.
                let cache = e.file_name().to_string_lossy().starts_with("graph-");
                if e.path().is_file() && !cache {
                    let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                    outputs.push((e.path().display().to_string(), text));
                }
            }
        }
        assert!(outputs.iter().any(|(n, _)| n.ends_with("status.html")));
        assert!(
            outputs.iter().any(|(_, t)| t.contains("[REDACTED]")),
            "the echoes were seen and masked"
        );
        for secret in [
            PASSWORD,
            ACCESS_TOKEN,
            API_KEY,
            HOOK_TOKEN,
            HOOK_SIG,
            ALERT_KEY,
        ] {
            for (name, text) in &outputs {
                assert!(
                    !text.contains(secret),
                    "{secret} leaked into {name}:\n{text}"
                );
            }
        }
    }
}

/// Issue 17 items 9–12 and 17 through the binary, with the run's clock fixed by `--now`.
mod hardening {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn hook_suite(hook: &Webhook, extra: Value) -> Suite {
        let s = Suite::new();
        s.write("crontab", CRONTAB);
        let mut cfg = json!({"destinations": [
            {"name": "hook", "type": "webhook", "url": hook.url(), "timeout_secs": 1.0}]});
        for (k, v) in extra.as_object().unwrap() {
            cfg[k] = v.clone();
        }
        s.config(json!({"publish-report": cfg}));
        s
    }

    fn book(s: &Suite, day: &str) -> Value {
        s.state("publish-report")["data"]["deliveries"][format!("daily:{day}")]["hook"].clone()
    }

    fn ids(hook: &Webhook) -> Vec<String> {
        hook.accepted()
            .iter()
            .map(|r| r.json().unwrap()["report_id"].as_str().unwrap().to_string())
            .collect()
    }

    /// Item 10: a failed report is sent by the next scheduled run; an unknown one is not;
    /// at most `retry_periods` back.
    #[test]
    fn the_next_scheduled_run_retries_previous_periods_still_unsent() {
        let hook = Webhook::start().unwrap();
        let s = hook_suite(&hook, json!({"retry_periods": 3, "failure_threshold": 10}));
        // Day 1: sent. Day 2: HTTP 500. Day 3: day 2 fails again (the retry comes first),
        // then the receiver takes day 3's but the answer is lost.
        s.run(bin(), &["--now", "2026-11-10T07:05:00Z"]).code(0);
        hook.push_fault(Fault::Status(500));
        s.run(bin(), &["--now", "2026-11-11T07:05:00Z"]).code(1);
        hook.push_fault(Fault::Status(500));
        hook.push_fault(Fault::AcceptThenDrop);
        s.run(bin(), &["--now", "2026-11-12T07:05:00Z"]).code(1);
        assert_eq!(book(&s, "2026-11-11")["status"], "failed");
        assert_eq!(book(&s, "2026-11-12")["status"], "unknown");
        // Day 4: day 2's report (failed) and today's; day 3's stays blocked (its alert was
        // raised when it happened).
        let run = s.run(bin(), &["--now", "2026-11-13T07:05:00Z"]);
        run.silent_success();
        assert!(
            s.log("publish-report")
                .contains("the report for daily:2026-11-11 is still unsent; sending it now")
        );
        assert_eq!(book(&s, "2026-11-11")["status"], "done", "{}", run.dump());
        assert_eq!(book(&s, "2026-11-13")["status"], "done");
        assert_eq!(book(&s, "2026-11-12")["status"], "unknown");
        let got = ids(&hook);
        assert!(got.iter().any(|i| i.contains("2026-11-11")), "{got:?}");
        assert_eq!(
            got.iter().filter(|i| i.contains("2026-11-12")).count(),
            1,
            "the unknown one is not resent: {got:?}"
        );
        // The retried report covers its own day, not today.
        let day2 = hook
            .accepted()
            .into_iter()
            .find(|r| r.json().unwrap()["period"] == "2026-11-11")
            .unwrap();
        assert!(
            day2.json().unwrap()["text"]
                .as_str()
                .unwrap()
                .contains("Period 2026-11-11 00:00 UTC → 2026-11-12 00:00 UTC")
        );
        assert!(s.path("reports/2026-11-11.md").exists());
        // A later run sends nothing new; beyond `retry_periods` nothing is retried.
        let before = hook.received().len();
        hook.push_fault(Fault::Status(500));
        s.run(bin(), &["--now", "2026-11-14T07:05:00Z"]).code(1);
        hook.clear_faults();
        s.run(bin(), &["--now", "2026-11-18T07:05:00Z"]).code(0);
        let after: Vec<String> = ids(&hook);
        assert_eq!(hook.received().len(), before + 2, "{after:?}");
        assert!(
            !after.iter().any(|i| i.contains("2026-11-14")),
            "day 14 is more than 3 periods back on day 18: {after:?}"
        );
        // A `--date` run is for that period only.
        s.run(
            bin(),
            &["--now", "2026-11-19T07:05:00Z", "--date", "2026-11-19"],
        )
        .code(0);
        assert_eq!(book(&s, "2026-11-14")["status"], "failed");
    }

    /// A run killed right after the send (the journal's crash point): the next run finds the
    /// delivery unknown, alerts once and never resends; later runs stay quiet about it.
    #[test]
    fn a_delivery_interrupted_after_the_send_alerts_once_and_is_not_resent() {
        let hook = Webhook::start().unwrap();
        let alerts = Webhook::start().unwrap();
        let s = hook_suite(&hook, json!({}));
        let mut cfg: Value = serde_json::from_str(&s.read("config.json")).unwrap();
        cfg["runtime"] = json!({"alerts": {"webhook_url": alerts.url()}});
        s.config(cfg);
        let day = ["--date", "2026-11-20"];
        let killed = s.run_cmd(
            s.cmd(bin())
                .env("AGENT_JOBS_TEST_CRASH_AT", "effect-acted:report/")
                .args(day),
        );
        assert_ne!(killed.code, 0, "{}", killed.dump());
        assert_eq!(hook.accepted().len(), 1);
        assert_eq!(book(&s, "2026-11-20")["status"], "started");
        for _ in 0..2 {
            s.run(bin(), &day).code(1).stderr_has("outcome unknown");
        }
        assert_eq!(hook.received().len(), 1, "never resent");
        let texts: Vec<String> = alerts
            .accepted()
            .iter()
            .map(|a| a.json().unwrap()["text"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(texts.len(), 1, "{texts:?}");
        let rid = book(&s, "2026-11-20")["report_id"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            texts[0].contains(&rid) && texts[0].contains("--force"),
            "{}",
            texts[0]
        );
        assert_eq!(book(&s, "2026-11-20")["status"], "unknown");
    }

    /// A webhook URL that is not http(s) never runs: exit 78 naming the key, nothing recorded.
    #[test]
    fn a_webhook_url_must_be_http() {
        let s = Suite::new();
        s.config(json!({"publish-report": {"destinations": [
            {"name": "hook", "type": "webhook", "url": "file:///etc/passwd"}]}}));
        s.run(bin(), &["--check-config"])
            .code(78)
            .stderr_has("publish-report.destinations[0].url");
        s.write("secrets/url", "ftp://example.com/report?token=abcdefgh123");
        s.config(json!({"publish-report": {"destinations": [
            {"name": "hook", "type": "webhook", "url_file": "secrets/url"}]}}));
        let run = s.run(bin(), &["--date", "2026-11-20"]);
        run.code(78)
            .stderr_has("publish-report.destinations[0].url");
        assert!(!run.stderr.contains("abcdefgh123"), "{}", run.dump());
        let st = s.read("state/publish-report.json");
        assert!(
            !st.contains("report/daily"),
            "nothing recorded as sent or unknown: {st}"
        );
    }

    /// Item 11: with the default limits, three failures start the cool-off, the hint says
    /// `--force`, and `--force` works.
    #[test]
    fn the_force_hint_is_given_only_when_it_can_work() {
        let hook = Webhook::start().unwrap();
        let alerts = Webhook::start().unwrap();
        let s = hook_suite(&hook, json!({}));
        let mut cfg: Value = serde_json::from_str(&s.read("config.json")).unwrap();
        cfg["runtime"] = json!({"alerts": {"webhook_url": alerts.url()}});
        s.config(cfg);
        for _ in 0..3 {
            hook.push_fault(Fault::Status(503));
        }
        let day = ["--date", "2026-11-20"];
        for _ in 0..3 {
            s.run(bin(), &day).code(1);
        }
        let run = s.run(bin(), &day);
        run.code(1)
            .stderr_has("cooling off")
            .stderr_has("--force to send it now (7 attempt(s) left today)");
        let alert = alerts.accepted().last().unwrap().json().unwrap()["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            alert.contains("failed 3 times in a row") && alert.contains("--force"),
            "{alert}"
        );
        s.run(bin(), &["--date", "2026-11-20", "--force"]).code(0);
        assert_eq!(book(&s, "2026-11-20")["status"], "done");
        // A cap that is used up gets no --force hint.
        let hook2 = Webhook::start().unwrap();
        let s2 = hook_suite(&hook2, json!({"max_publishes_per_day": 3}));
        for _ in 0..3 {
            hook2.push_fault(Fault::Status(503));
        }
        for _ in 0..3 {
            s2.run(bin(), &day).code(1);
        }
        let run = s2.run(bin(), &day);
        run.code(1).stderr_has("cooling off");
        assert!(!run.stderr.contains("--force"), "{}", run.dump());
    }

    /// Item 12: a forced resend of the same content keeps the report id (`Idempotency-Key`);
    /// changed content gets a new revision id.
    #[test]
    fn forced_resends_keep_the_key_of_the_same_content() {
        let hook = Webhook::start().unwrap();
        let s = hook_suite(&hook, json!({}));
        let day = "2026-11-20";
        s.run(bin(), &["--date", day]).code(0);
        s.run(bin(), &["--date", day, "--force"]).code(0);
        let got = hook.accepted();
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].header("Idempotency-Key"),
            got[1].header("Idempotency-Key")
        );
        // Something the report shows changes: a new id.
        write_state(
            &s,
            "poll-teams",
            &job_state(
                "poll-teams",
                Some((at("2026-11-20T10:00:00Z"), "ok", None)),
                3,
            ),
        );
        s.run(bin(), &["--date", day, "--force"]).code(0);
        let got = hook.accepted();
        let first = got[0].header("Idempotency-Key").unwrap().to_string();
        let third = got[2].header("Idempotency-Key").unwrap();
        assert_eq!(third, format!("{first}-r1"));
        assert_eq!(book(&s, day)["report_id"], third);
    }

    /// Item 9: a last run stamped in 2099 is a clock-skew finding, and the dead-man check
    /// uses the history and the log file's time instead.
    #[test]
    fn a_future_timestamp_is_clock_skew_and_not_evidence() {
        let s = Suite::new();
        s.write("crontab", CRONTAB);
        s.config(json!({"publish-report": {"grace_secs": 300}}));
        let now = at("2026-11-20T12:00:30Z");
        let mut st = job_state(
            "poll-teams",
            Some((at("2099-01-01T00:00:00Z"), "ok", None)),
            1,
        );
        st["history"] = json!([{"started_at": ts(now - Duration::hours(3)), "duration_ms": 100, "outcome": "ok"}]);
        write_state(&s, "poll-teams", &st);
        s.write("logs/poll-teams.log", "");
        let mtime = std::time::SystemTime::from(now - Duration::hours(2));
        std::fs::File::options()
            .write(true)
            .open(s.path("logs/poll-teams.log"))
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        s.run(bin(), &["--now", &ts(now)]).code(0);
        let r = report_json(&s);
        let p = job(&r, "poll-teams");
        assert_eq!(p["status"], "overdue", "{p:#}");
        assert_eq!(
            p["last_seen"],
            ts(now - Duration::hours(2)).replace(".000Z", "Z")
        );
        let detail = p["detail"].as_str().unwrap();
        assert!(
            detail.contains("did not run since 2026-11-20 10:00 UTC"),
            "{detail}"
        );
        assert!(detail.contains("ahead of this machine's clock"), "{detail}");
        assert!(
            r["headline"].as_str().unwrap().contains("clock skew"),
            "{r:#}"
        );
        let skew = r["clock_skew"].as_array().unwrap();
        assert!(
            skew.iter().any(|c| c["what"] == "last_run.started_at"),
            "{skew:?}"
        );
        let md = s.read("reports/2026-11-20.md");
        assert!(md.contains("## Clock skew"), "{md}");
        let page = s.read("reports/status.html");
        assert!(page.contains("id=\"clock-skew\"") && page.contains("last_run.started_at"));
        let facts = &s.state("publish-report")["facts"];
        assert!(
            !facts["clock_skew"].as_array().unwrap().is_empty(),
            "{facts:#}"
        );
    }

    /// Item 17: chat ids, circuit reasons and errors are shown literally in the Markdown.
    #[test]
    fn untrusted_values_never_become_markup() {
        let s = Suite::new();
        s.write("crontab", CRONTAB);
        let evil = "<script>alert(1)</script> *bold* [link](http://x) | cell";
        s.write(
            "state/circuit.json",
            &json!({"state": "open", "kind": "<img src=x onerror=alert(2)>", "reason": evil})
                .to_string(),
        );
        write_state(
            &s,
            "poll-teams",
            &job_state(
                "poll-teams",
                Some((
                    Utc::now(),
                    "failed",
                    Some("chat 19:<script>alert(3)</script>@thread.v2 refused"),
                )),
                2,
            ),
        );
        s.run(bin(), &[]).code(0);
        let md = std::fs::read_dir(s.path("reports"))
            .unwrap()
            .flatten()
            .find(|e| e.path().extension().is_some_and(|x| x == "md"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .unwrap();
        // Outside code spans (and backslash escapes) there is no HTML at all.
        let md_unescaped = md.replace("\\<", "").replace("\\[", "");
        let mut prose = String::new();
        let mut inside = false;
        for c in md_unescaped.chars() {
            if c == '`' {
                inside = !inside;
            } else if !inside {
                prose.push(c);
            }
        }
        for bad in ["<script", "<img", "](http"] {
            assert!(!prose.contains(bad), "{bad} outside a code span:\n{md}");
        }
        assert!(
            md.contains("`<script>alert(1)</script> *bold* [link](http://x) | cell`"),
            "{md}"
        );
        assert!(
            md.contains("19:<script>alert(3)</script>@thread.v2"),
            "{md}"
        );
        let page = s.read("reports/status.html");
        assert!(!page.contains("<script") && !page.contains("<img"));
    }

    /// A state file of schema 1 (deliveries in the book) keeps working: a sent period is not
    /// sent again, an unknown one stays blocked, a failed one is retried.
    #[test]
    fn a_schema_1_state_file_is_migrated() {
        let hook = Webhook::start().unwrap();
        let s = hook_suite(&hook, json!({}));
        let d = |status: &str, day: &str| {
            json!({"status": status, "report_id": format!("ajr-daily-{day}-5bce98"), "attempts": 1,
                   "generation": 0, "intent_at": format!("{day}T07:05:00Z"), "error": "old error"})
        };
        let mut st = job_state("publish-report", None, 0);
        st["data"] = json!({
            "deliveries": {
                "daily:2026-11-17": {"hook": d("sent", "2026-11-17")},
                "daily:2026-11-18": {"hook": d("unknown", "2026-11-18")},
                "daily:2026-11-19": {"hook": d("failed", "2026-11-19")}
            },
            "destinations": {"hook": {"day": "2026-11-19", "sends_today": 1, "consecutive_failures": 1}}
        });
        write_state(&s, "publish-report", &st);
        for day in ["2026-11-17", "2026-11-18"] {
            s.run(bin(), &["--date", day, "--now", "2026-11-20T07:05:00Z"]);
        }
        assert!(
            hook.received().is_empty(),
            "sent and unknown are not sent again"
        );
        s.run(bin(), &["--now", "2026-11-20T07:05:00Z"]).code(0);
        let got = ids(&hook);
        assert_eq!(got.len(), 2, "day 19 (failed) and today: {got:?}");
        let st = s.state("publish-report");
        assert_eq!(st["schema_version"], 2);
        assert_eq!(
            st["effects"]["report/daily:2026-11-17/hook"]["status"],
            "done"
        );
        assert_eq!(
            st["effects"]["report/daily:2026-11-18/hook"]["status"],
            "unknown"
        );
        assert_eq!(
            st["effects"]["report/daily:2026-11-19/hook"]["status"],
            "done"
        );
    }
}

/// The other jobs' facts, read through the contracts types, each in its section.
mod facts {
    use super::*;

    #[test]
    fn each_jobs_facts_have_their_section() {
        let s = Suite::new();
        s.write("crontab", CRONTAB);
        let now = Utc::now();
        let t = |h: i64| ts(now - Duration::hours(h));
        let mut pt = job_state(
            "poll-teams",
            Some((now - Duration::seconds(20), "ok", None)),
            5,
        );
        pt["facts"] = json!({"pending": 4, "delivered": 120, "rejected": 1, "last_message_at": t(1),
                             "last_delivery_at": t(1), "unanswered": 2, "duplicate_replies": 1});
        write_state(&s, "poll-teams", &pt);
        let mut wg = job_state(
            "watch-gateway",
            Some((now - Duration::seconds(20), "ok", None)),
            5,
        );
        wg["facts"] = json!({"health": "down", "since": t(1), "last_probe_at": t(0),
        "restarts_last_hour": 3, "halted": "restart budget of 3 per hour used up",
        "incidents": [
            {"id": "gw-1", "started_at": t(6), "recovered_at": ts(now - Duration::hours(6) + Duration::seconds(95)),
             "steps": ["restart"]},
            {"id": "gw-2", "started_at": t(1), "steps": ["restart", "config-restore", "diagnose"],
             "diagnosis": "port 18789 in use by pid 4242"}
        ]});
        write_state(&s, "watch-gateway", &wg);
        let mut bc = job_state(
            "backup-config",
            Some((now - Duration::seconds(20), "ok", None)),
            5,
        );
        bc["facts"] = json!({
            "files": [{"name": "openclaw.json", "path": "/home/agent/.openclaw/openclaw.json", "status": "good",
                       "snapshots": 7, "latest_snapshot_at": t(1), "verdicts": ["built-in: ok", "openclaw: valid"]}],
            "rollbacks": [{"at": t(2), "message": "Config auto-restored from backup: openclaw.json (size-drop-vs-last-good:989->28)"}],
            "databases": [{"path": "/home/agent/.openclaw/state/openclaw.sqlite", "snapshots": 3,
                           "latest_snapshot_at": t(1), "problem": "cron jobs dropped from 4 to 1"}]
        });
        write_state(&s, "backup-config", &bc);
        s.run(bin(), &[]).code(0);
        let r = report_json(&s);
        assert_eq!(r["inbox"]["unanswered"], 2);
        let h = &r["gateway"]["health"];
        assert_eq!(h["health"], "down");
        assert_eq!(h["incidents"][0]["recover_secs"], 95);
        assert!(
            r["headline"]
                .as_str()
                .unwrap()
                .contains("gateway recovery halted"),
            "{r:#}"
        );
        let md = s.read(&format!("reports/{}.md", r["period"].as_str().unwrap()));
        for needle in [
            "## Gateway",
            "Gateway **down**",
            "3 restart(s) in the last hour",
            "| gw-1 |",
            "95 s",
            "`restart → config-restore → diagnose`",
            "`port 18789 in use by pid 4242`",
            "## Teams inbox",
            "4 pending, 120 delivered to the gateway, 1 rejected",
            "2 message(s) left unanswered, 1 duplicated agent reply(ies)",
            "**The gateway's own rollbacks in the period:**",
            "`Config auto-restored from backup: openclaw.json (size-drop-vs-last-good:989->28)`",
            "| /home/agent/.openclaw/state/openclaw.sqlite | 3 |",
            "`cron jobs dropped from 4 to 1`",
        ] {
            assert!(md.contains(needle), "report lacks {needle:?}\n{md}");
        }
        // No facts, no section.
        assert!(!md.contains("## Memory budget"), "{md}");
        // A writer that disagrees with this reader is named, not silently blank.
        let mut cm = job_state("compact-memory", Some((now, "ok", None)), 1);
        cm["facts"] = json!({"budget": {"total_chars": "a lot"}});
        write_state(&s, "compact-memory", &cm);
        let run = s.run(bin(), &[]);
        run.code(0).stderr_has("`facts.budget.total_chars`");
    }

    /// Log lines in both formats of `contracts::logline` are counted; the lines the runtime
    /// itself wrote are read back.
    #[test]
    fn log_lines_in_both_formats() {
        let s = Suite::new();
        s.write("crontab", CRONTAB);
        let now = Utc::now();
        s.write(
            "logs/backup-config.log",
            &format!(
                "{}\n{}\n{} INFO  backup-config[r2] says \"level\":\"ERROR\" in text\n",
                json!({"ts": ts(now - Duration::minutes(5)), "level": "ERROR", "job": "backup-config",
                       "run_id": "r1", "msg": "snapshot failed: disk full", "file": "openclaw.json"}),
                json!({"ts": ts(now - Duration::minutes(4)), "level": "WARN", "job": "backup-config",
                       "run_id": "r1", "msg": "slow"}),
                ts(now - Duration::minutes(3)),
            ),
        );
        // A run of publish-report that fails writes ERROR lines through the runtime's logger.
        s.config(json!({"publish-report": {"destinations": [
            {"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/hook", "timeout_secs": 1.0}]}}));
        s.run(bin(), &[]).code(1);
        s.run(bin(), &["--print"]).code(0);
        let r = report_json(&s);
        let b = job(&r, "backup-config");
        assert_eq!(
            (b["log_errors"].as_u64(), b["log_warnings"].as_u64()),
            (Some(1), Some(1)),
            "{b:#}"
        );
        assert_eq!(b["last_log_error"], "snapshot failed: disk full");
        let out = s.run(bin(), &["--print"]);
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with("| publish-report |") && !l.contains("| 0/0 |")),
            "the runtime's own ERROR lines are counted:\n{}",
            out.stdout
        );
    }
}

/// What operators' tools read: the Prometheus textfile and `--print --json`.
mod operator {
    use super::*;
    use testkit::fakes::webhook::Fault;
    use testkit::prom;

    const DAY: &str = "2026-11-20";

    #[test]
    fn the_textfile_counts_the_last_periods_deliveries_by_status() {
        let s = Suite::new();
        let ok = Webhook::start().unwrap();
        let failing = Webhook::start().unwrap();
        s.write("crontab", CRONTAB);
        s.config(json!({
            "runtime": {"textfile_dir": "textfile"},
            "publish-report": {"destinations": [
                {"name": "ok", "type": "webhook", "url": ok.url(), "timeout_secs": 1.0},
                {"name": "failing", "type": "webhook", "url": failing.url(), "timeout_secs": 1.0},
            ]},
        }));
        std::fs::create_dir_all(s.path("textfile")).unwrap();
        failing.push_fault(Fault::Status(500));
        s.run(bin(), &["--date", DAY]).code(1);
        let prom = s.read("textfile/agent_jobs_publish_report.prom");
        prom::promtool_check(&prom);
        let by = |prom: &str, status: &str| {
            prom::sample(prom, "agent_jobs_report_deliveries", &[("status", status)])
        };
        assert_eq!(by(&prom, "done"), Some(1.0), "{prom}");
        assert_eq!(by(&prom, "failed"), Some(1.0), "{prom}");
        assert_eq!(by(&prom, "unknown"), Some(0.0), "{prom}");
        let facts = &s.state("publish-report")["facts"];
        let generated: DateTime<Utc> = facts["last_generated_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            prom::sample(
                &prom,
                "agent_jobs_report_last_generated_timestamp_seconds",
                &[]
            ),
            Some(generated.timestamp_millis() as f64 / 1000.0)
        );
        // The failed one is sent by the next run.
        s.run(bin(), &["--date", DAY]).silent_success();
        let prom = s.read("textfile/agent_jobs_publish_report.prom");
        prom::promtool_check(&prom);
        assert_eq!(by(&prom, "done"), Some(2.0), "{prom}");
        assert_eq!(by(&prom, "failed"), Some(0.0), "{prom}");
    }

    #[test]
    fn print_json_is_the_json_report_and_writes_nothing() {
        let s = Suite::new();
        s.write("crontab", CRONTAB);
        s.config(json!({"publish-report": {}}));
        let r = s.run(bin(), &["--print", "--json", "--date", DAY]);
        r.code(0);
        let doc: Value =
            serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.dump()));
        assert!(!s.path("reports").exists());
        assert!(!s.path("state/publish-report.json").exists());
        let text = s.run(bin(), &["--print", "--date", DAY]);
        text.code(0).stdout_has(&format!(
            "report-id: {}",
            doc["report_id"].as_str().unwrap()
        ));
        let jobs = doc["jobs"].as_array().unwrap();
        assert!(!jobs.is_empty());
        for j in jobs {
            text.stdout_has(&format!("| {} |", j["name"].as_str().unwrap()));
        }
        // The same document a run writes to reports/<period>.json.
        s.run(bin(), &["--date", DAY]).silent_success();
        let written = report_json(&s);
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&doc), keys(&written));
        assert_eq!(doc["report_id"], written["report_id"]);
        assert_eq!(doc["period"], written["period"]);
    }
}
