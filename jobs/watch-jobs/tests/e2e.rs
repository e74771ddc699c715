//! End-to-end tests of watch-jobs: the real binary on a suite root with a stand-in crontab file
//! and the other jobs' state files as the runtime writes them, the clock fixed by `--now`, and
//! alerts delivered to a shell command that appends to `alerts.txt`.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use contracts::run::{HistoryEntry, OutcomeKind, RunRecord};
use contracts::state::PublicState;
use serde_json::{Value, json};
use testkit::{Run, Suite};

const BIN: &str = env!("CARGO_BIN_EXE_watch-jobs");

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The stand-in crontab: check-ratelimit every 5 minutes, backup-config hourly,
/// compact-memory paused (commented out), the others not installed.
const TAB: &str = "\
SHELL=/bin/sh
AGENT_JOBS_ROOT=/srv/agent-jobs
*/5 * * * * cd \"$AGENT_JOBS_ROOT\" && target/release/check-ratelimit
17 * * * * cd \"$AGENT_JOBS_ROOT\" && target/release/backup-config
#40 3 * * * cd \"$AGENT_JOBS_ROOT\" && target/release/compact-memory
*/5 * * * * cd \"$AGENT_JOBS_ROOT\" && target/release/watch-jobs
";

/// A suite root with the stand-in crontab and an alert command writing `alerts.txt`.
fn suite(extra: Value) -> Suite {
    let s = Suite::new();
    s.write("crontab", TAB);
    let mut cfg = json!({
        "runtime": {"alerts": {"command": ["sh", "-c", "cat >> alerts.txt; echo >> alerts.txt"]}},
        "watch-jobs": {"crontab": "crontab", "timezone": "UTC"}
    });
    merge(&mut cfg, extra);
    s.config(cfg);
    s
}

fn merge(base: &mut Value, over: Value) {
    if let (Value::Object(b), Value::Object(o)) = (base, over) {
        for (k, v) in o {
            match b.get_mut(&k) {
                Some(x @ Value::Object(_)) if v.is_object() => merge(x, v),
                _ => {
                    b.insert(k, v);
                }
            }
        }
    }
}

/// `state/<job>.json` as the runtime writes it after a run started at `last` (and earlier
/// runs at `history`).
fn ran(s: &Suite, job: &str, last: &str, history: &[&str]) {
    let record = |at: &str| RunRecord {
        started_at: t(at),
        finished_at: t(at),
        duration_ms: 120,
        outcome: OutcomeKind::Ok,
        exit_code: 0,
        error: None,
        summary: Some("did its work".into()),
        pid: 4242,
        host: "agent-host".into(),
        version: "0.1.0".into(),
        run_id: "r".into(),
    };
    let mut st: PublicState<Value> = serde_json::from_value(json!({
        "schema_version": 1, "job": job, "last_run": null, "last_success": null
    }))
    .unwrap();
    st.last_run = Some(record(last));
    st.last_success = Some(t(last));
    st.history = history
        .iter()
        .chain([&last])
        .map(|h| HistoryEntry {
            started_at: t(h),
            duration_ms: 120,
            outcome: OutcomeKind::Ok,
            exit_code: 0,
        })
        .collect();
    let mut v = serde_json::to_value(&st).unwrap();
    v["data"] = json!({});
    v["effects"] = json!({});
    s.write(
        &format!("state/{job}.json"),
        &serde_json::to_string_pretty(&v).unwrap(),
    );
}

fn watch(s: &Suite, now: &str, args: &[&str]) -> Run {
    let mut a = vec!["--now", now];
    a.extend_from_slice(args);
    s.run(BIN.as_ref(), &a)
}

fn facts(s: &Suite) -> Value {
    s.state("watch-jobs")["facts"].clone()
}

fn status_of(s: &Suite, job: &str) -> String {
    facts(s)["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job"] == job)
        .unwrap_or_else(|| panic!("no row for {job}: {}", facts(s)))["status"]
        .as_str()
        .unwrap()
        .to_string()
}

fn alerts(s: &Suite) -> String {
    s.read("alerts.txt")
}

#[test]
fn on_schedule_paused_and_unscheduled_jobs_are_silent() {
    let s = suite(json!({}));
    ran(&s, "check-ratelimit", "2026-11-21T08:10:01Z", &[]);
    ran(&s, "backup-config", "2026-11-21T07:17:00Z", &[]);
    ran(&s, "compact-memory", "2026-11-18T03:40:00Z", &[]);
    ran(&s, "poll-teams", "2026-11-18T03:40:00Z", &[]);
    watch(&s, "2026-11-21T08:12:00Z", &[]).silent_success();
    assert_eq!(status_of(&s, "check-ratelimit"), "ok");
    assert_eq!(status_of(&s, "backup-config"), "ok");
    assert_eq!(status_of(&s, "compact-memory"), "paused");
    assert_eq!(status_of(&s, "poll-teams"), "unscheduled");
    assert_eq!(status_of(&s, "publish-report"), "unscheduled");
    let f = facts(&s);
    assert!(
        f["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["job"] != "watch-jobs"),
        "it does not watch itself: {f}"
    );
    assert_eq!(f["open"], json!([]));
    assert_eq!(alerts(&s), "");
    // Days later the paused and unscheduled jobs are still not alerted; the ones that stopped
    // are.
    let r = watch(&s, "2026-11-24T08:12:00Z", &[]);
    r.code(0);
    assert_eq!(status_of(&s, "compact-memory"), "paused");
    let a = alerts(&s);
    assert!(
        a.contains("check-ratelimit is overdue") && a.contains("backup-config is overdue"),
        "{a}"
    );
    assert!(
        !a.contains("compact-memory") && !a.contains("poll-teams"),
        "{a}"
    );
}

/// A job that stopped at 08:00: one warning once its grace has passed, nothing repeated,
/// one critical alert when the outage lasts, one recovery message when it runs again.
#[test]
fn a_stopped_job_is_alerted_once_escalated_once_and_recovered_once() {
    let s = suite(json!({"watch-jobs": {"critical_after_secs": 3600}}));
    ran(
        &s,
        "check-ratelimit",
        "2026-11-21T08:00:01Z",
        &["2026-11-21T07:55:01Z"],
    );
    ran(&s, "backup-config", "2026-11-21T07:17:00Z", &[]);
    // The 08:05 run is missed; within its 10-minute grace nothing is said.
    watch(&s, "2026-11-21T08:10:00Z", &[]).silent_success();
    watch(&s, "2026-11-21T08:14:59Z", &[]).silent_success();
    assert_eq!(status_of(&s, "check-ratelimit"), "ok");
    // Past the grace: one warning (the alert channel and, at WARN, cron's mail).
    let r = watch(&s, "2026-11-21T08:15:00Z", &[]);
    r.code(0)
        .stderr_has("ALERT [warning] job-overdue/check-ratelimit/2026-11-21T08:05:00Z");
    assert_eq!(status_of(&s, "check-ratelimit"), "overdue");
    let a = alerts(&s);
    assert_eq!(a.matches("[agent-jobs]").count(), 1, "{a}");
    assert!(
        a.contains("check-ratelimit is overdue: did not run since 2026-11-21 08:00 UTC (was due at 2026-11-21 08:05 UTC); first missed run 2026-11-21 08:05 UTC. Schedule `*/5 * * * *`, grace 10 min."),
        "{a}"
    );
    let f = facts(&s);
    assert_eq!(f["open"][0]["job"], "check-ratelimit");
    assert_eq!(f["open"][0]["since"], "2026-11-21T08:05:00Z");
    assert_eq!(f["open"][0]["alerted"], "warning");
    // Every later check while it stays down: nothing new, nothing on stderr.
    for now in [
        "2026-11-21T08:20:00Z",
        "2026-11-21T08:45:00Z",
        "2026-11-21T09:10:00Z",
    ] {
        watch(&s, now, &[]).silent_success();
    }
    assert_eq!(alerts(&s).matches("[agent-jobs]").count(), 1);
    // Overdue for an hour (since 08:15): critical, once.
    watch(&s, "2026-11-21T09:15:00Z", &[])
        .code(0)
        .stderr_has("ALERT [critical]");
    watch(&s, "2026-11-21T09:20:00Z", &[]).silent_success();
    let a = alerts(&s);
    assert_eq!(a.matches("[agent-jobs]").count(), 2, "{a}");
    assert!(
        a.contains(
            "check-ratelimit is overdue for 70 min since its run due at 2026-11-21 08:05 UTC"
        ),
        "{a}"
    );
    // It runs again at 09:21: one recovery message (info: the channel, not cron's mail).
    ran(
        &s,
        "check-ratelimit",
        "2026-11-21T09:21:00Z",
        &["2026-11-21T08:00:01Z"],
    );
    watch(&s, "2026-11-21T09:22:00Z", &[]).silent_success();
    watch(&s, "2026-11-21T09:25:00Z", &[]).silent_success();
    let a = alerts(&s);
    assert_eq!(a.matches("[agent-jobs]").count(), 3, "{a}");
    assert!(
        a.contains("check-ratelimit ran again at 2026-11-21 09:21 UTC, after being overdue since 2026-11-21 08:05 UTC"),
        "{a}"
    );
    let f = facts(&s);
    assert_eq!(f["open"], json!([]));
    assert_eq!(f["ended"][0]["ran_again_at"], "2026-11-21T09:21:00Z");
    assert_eq!(f["ended"][0]["alerted"], "critical");
    assert_eq!(status_of(&s, "check-ratelimit"), "ok");
}

#[test]
fn a_paused_suite_is_recorded_not_alerted() {
    let s = suite(json!({}));
    ran(&s, "check-ratelimit", "2026-11-20T08:00:00Z", &[]);
    s.write(
        "state/control.json",
        r#"{"paused": true, "reason": "provider incident", "by": "dana", "at": "2026-11-20T07:59:00Z"}"#,
    );
    watch(&s, "2026-11-21T08:15:00Z", &[]).silent_success();
    assert_eq!(status_of(&s, "check-ratelimit"), "suite_paused");
    assert_eq!(status_of(&s, "compact-memory"), "paused");
    assert_eq!(facts(&s)["suite_paused"], true);
    assert_eq!(alerts(&s), "");
    assert_eq!(
        s.state("watch-jobs")["last_run"]["outcome"],
        "noop",
        "it ran, not skipped"
    );
    // Resumed: the job gets its period and grace before it counts as missing.
    s.write("state/control.json", r#"{"paused": false}"#);
    watch(&s, "2026-11-21T08:16:00Z", &[]).silent_success();
    assert_eq!(status_of(&s, "check-ratelimit"), "ok");
    watch(&s, "2026-11-21T08:30:00Z", &[]).code(0);
    assert!(
        alerts(&s).contains("check-ratelimit is overdue"),
        "{}",
        alerts(&s)
    );
    assert_eq!(facts(&s)["open"][0]["since"], "2026-11-21T08:20:00Z");
}

#[test]
fn a_last_run_ahead_of_the_clock_is_not_evidence() {
    let s = suite(json!({}));
    ran(
        &s,
        "check-ratelimit",
        "2099-01-01T00:00:00Z",
        &["2026-11-21T07:00:00Z"],
    );
    watch(&s, "2026-11-21T08:15:00Z", &[]).code(0);
    let a = alerts(&s);
    assert!(
        a.contains("did not run since 2026-11-21 07:00 UTC") && a.contains("its state says it last ran at 2099-01-01 00:00 UTC, which is ahead of this machine's clock"),
        "{a}"
    );
}

#[test]
fn a_new_job_waits_for_its_first_run_and_maintenance_holds_alerts() {
    let s = suite(json!({"watch-jobs": {"grace_secs": {"backup-config": 600}}}));
    ran(&s, "check-ratelimit", "2026-11-21T08:10:00Z", &[]);
    // backup-config has never run: measured from when it was first watched.
    watch(&s, "2026-11-21T08:12:00Z", &[]).silent_success();
    assert_eq!(status_of(&s, "backup-config"), "waiting");
    ran(&s, "check-ratelimit", "2026-11-21T09:25:00Z", &[]);
    s.write(
        "state/maintenance.json",
        r#"{"planned": true, "reason": "host move", "ignoreUntil": "2026-11-21T10:00:00Z"}"#,
    );
    // 09:27: the 08:17 and 09:17 runs were missed, but maintenance holds the alert.
    watch(&s, "2026-11-21T09:27:00Z", &[]).silent_success();
    assert_eq!(status_of(&s, "backup-config"), "never_run");
    assert_eq!(facts(&s)["open"][0]["alerted"], Value::Null);
    assert_eq!(alerts(&s), "");
    ran(&s, "check-ratelimit", "2026-11-21T10:00:00Z", &[]);
    watch(&s, "2026-11-21T10:01:00Z", &[]).code(0);
    let a = alerts(&s);
    // Missed since 08:17 (its first due time after it was watched), overdue for more than
    // `critical_after_secs` when the window ends: one alert, critical.
    assert!(
        a.contains("backup-config has not run yet for 104 min since its run due at 2026-11-21 08:17 UTC: no run recorded; it was due at 2026-11-21 09:17 UTC"),
        "{a}"
    );
    assert_eq!(a.matches("[agent-jobs]").count(), 1, "{a}");
    assert_eq!(facts(&s)["open"][0]["alerted"], "critical");
}

/// A delivery that provably failed is tried again at the next check; one killed after the
/// alert went out is not repeated.
#[test]
fn alerts_are_sent_at_most_once_and_retried_when_they_failed() {
    let s = suite(json!({"runtime": {"alerts": {"command": ["sh", "-c", "exit 3"]}}}));
    ran(&s, "check-ratelimit", "2026-11-21T08:00:01Z", &[]);
    let r = watch(&s, "2026-11-21T08:15:00Z", &[]);
    r.code(1).stderr_has("could not deliver");
    assert_eq!(facts(&s)["open"][0]["alerted"], Value::Null);
    // The channel works again, but the run is killed right after the alert went out.
    let mut cfg: Value = serde_json::from_str(&s.read("config.json")).unwrap();
    cfg["runtime"]["alerts"]["command"] =
        json!(["sh", "-c", "cat >> alerts.txt; echo >> alerts.txt"]);
    s.config(cfg);
    let mut c = s.cmd(BIN.as_ref());
    c.args(["--now", "2026-11-21T08:20:00Z"])
        .env("AGENT_JOBS_TEST_CRASH_AT", "effect-acted:alert/job-overdue");
    let killed = s.run_cmd(&mut c);
    assert_ne!(killed.code, 0, "{}", killed.dump());
    assert_eq!(alerts(&s).matches("[agent-jobs]").count(), 1);
    // The next check does not send it again.
    watch(&s, "2026-11-21T08:25:00Z", &[]).code(0);
    watch(&s, "2026-11-21T08:30:00Z", &[]).code(0);
    assert_eq!(
        alerts(&s).matches("[agent-jobs]").count(),
        1,
        "{}",
        alerts(&s)
    );
    assert_eq!(facts(&s)["open"][0]["alerted"], "warning");
}

#[test]
fn the_crontab_from_a_command_and_its_failures() {
    // A stand-in for `crontab -l`.
    let s = suite(json!({"watch-jobs": {"crontab": null, "crontab_command": ["cat", "tab.txt"]}}));
    s.write("tab.txt", TAB);
    ran(&s, "check-ratelimit", "2026-11-21T08:10:01Z", &[]);
    ran(&s, "backup-config", "2026-11-21T07:17:00Z", &[]);
    watch(&s, "2026-11-21T08:12:00Z", &[]).silent_success();
    assert_eq!(facts(&s)["crontab"], "`cat tab.txt`");
    assert_eq!(status_of(&s, "compact-memory"), "paused");
    // "no crontab for root" is an empty crontab: nothing is scheduled, nothing is alerted.
    let s = suite(json!({"watch-jobs": {"crontab": null,
        "crontab_command": ["sh", "-c", "echo 'no crontab for root' >&2; exit 1"]}}));
    ran(&s, "check-ratelimit", "2026-11-01T08:00:00Z", &[]);
    watch(&s, "2026-11-21T08:12:00Z", &[]).silent_success();
    assert_eq!(status_of(&s, "check-ratelimit"), "unscheduled");
    // A command that fails otherwise, and a missing file: the check is off, said loudly.
    let s = suite(
        json!({"watch-jobs": {"crontab": null, "crontab_command": ["sh", "-c", "echo boom >&2; exit 2"]}}),
    );
    watch(&s, "2026-11-21T08:12:00Z", &[])
        .code(1)
        .stderr_has("crontab command `sh -c echo boom >&2; exit 2` exit 2")
        .stderr_has("the dead-man check is off");
    let s = suite(json!({"watch-jobs": {"crontab": "nope/crontab"}}));
    watch(&s, "2026-11-21T08:12:00Z", &[])
        .code(1)
        .stderr_has("cannot read crontab")
        .stderr_has("`watch-jobs.crontab`");
}

#[test]
fn bad_config_is_refused_naming_the_key() {
    for (section, want) in [
        (
            json!({"crontab": "c", "crontab_command": ["crontab", "-l"]}),
            "not both",
        ),
        (
            json!({"grace_secs": {"compact-memroy": 600}}),
            "`watch-jobs.grace_secs.compact-memroy`: not a job of the suite",
        ),
        (
            json!({"grace_secs": {"poll-teams": 1}}),
            "1 is out of range 10..=",
        ),
        (
            json!({"timezone": "Europe/Berlinn"}),
            "`watch-jobs.timezone`",
        ),
        (
            json!({"critical_after_secs": -1}),
            "watch-jobs.critical_after_secs",
        ),
        (json!({"grace": 600}), "unknown field `grace`"),
    ] {
        let s = suite(json!({"watch-jobs": section}));
        let r = s.run(BIN.as_ref(), &["--check-config"]);
        r.code(78).stderr_has(want);
        watch(&s, "2026-11-21T08:12:00Z", &[]).code(78);
    }
    // The shipped example is valid.
    let s = Suite::new();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.json");
    s.run(BIN.as_ref(), &["--check-config", "--config", example])
        .code(0)
        .stdout_has("is valid");
}

#[test]
fn status_shows_the_check_now_and_writes_nothing() {
    let s = suite(json!({}));
    ran(&s, "check-ratelimit", "2026-11-21T08:00:01Z", &[]);
    ran(&s, "backup-config", "2026-11-21T07:17:00Z", &[]);
    let r = watch(&s, "2026-11-21T08:20:00Z", &["status"]);
    r.code(0)
        .stdout_has("check-ratelimit")
        .stdout_has("overdue")
        .stdout_has("did not run since 2026-11-21 08:00 UTC")
        .stdout_has("compact-memory")
        .stdout_has("paused")
        .stdout_has("a check now would send:")
        .stdout_has("[warning] job-overdue/check-ratelimit/2026-11-21T08:05:00Z");
    assert_eq!(alerts(&s), "", "status sends nothing");
    assert!(
        !s.path("state/watch-jobs.json").exists(),
        "status writes nothing"
    );
    let r = watch(&s, "2026-11-21T08:20:00Z", &["status", "--json"]);
    r.code(0);
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    let f: contracts::facts::watch_jobs::WatchFacts = serde_json::from_value(doc).unwrap();
    assert_eq!(f.open.len(), 1);
    assert_eq!(f.open[0].job, "check-ratelimit");
}

/// On Kubernetes the schedules are the suite's CronJobs, read through the API with the pod's
/// service account (the fake API server speaks HTTPS with its own CA, as a cluster does): a
/// suspended CronJob is a paused job, recorded and never alerted; a CronJob's `timeZone`
/// applies to it; a refused listing turns the check off with the API server's own words.
#[test]
fn the_schedules_come_from_the_cronjobs_and_a_suspended_one_is_paused() {
    use testkit::fakes::kubernetes::FakeKube;
    use testkit::kube::{cronjob_object, service_account_files};
    let api = FakeKube::start("openclaw", "sa-token-5f8e2c1d9b7a4e3f");
    api.set_cronjobs(&[
        cronjob_object("check-ratelimit", "*/5 * * * *", None, false),
        cronjob_object("backup-config", "17 * * * *", Some("Europe/Berlin"), false),
        cronjob_object("compact-memory", "40 3 * * *", None, true),
        cronjob_object("watch-jobs", "*/5 * * * *", None, false),
    ]);
    let s = suite(json!({"watch-jobs": {"crontab": null}}));
    let sa = s.path("serviceaccount");
    service_account_files(&sa, "sa-token-5f8e2c1d9b7a4e3f", "openclaw");
    let mut cfg: Value = serde_json::from_str(&s.read("config.json")).unwrap();
    cfg["watch-jobs"] = json!({"timezone": "UTC", "cronjobs": {
        "api_url": api.url(),
        "token_file": sa.join("token"),
        "ca_file": sa.join("ca.crt")
    }});
    s.config(cfg);
    ran(&s, "check-ratelimit", "2026-11-21T08:10:01Z", &[]);
    ran(&s, "backup-config", "2026-11-21T07:17:00Z", &[]);
    ran(&s, "compact-memory", "2026-11-18T03:40:00Z", &[]);
    watch(&s, "2026-11-21T08:12:00Z", &[]).silent_success();
    assert_eq!(status_of(&s, "check-ratelimit"), "ok");
    assert_eq!(status_of(&s, "backup-config"), "ok");
    assert_eq!(status_of(&s, "compact-memory"), "paused");
    assert_eq!(status_of(&s, "poll-teams"), "unscheduled");
    let asked = api.requests();
    assert!(
        asked.iter().all(
            |r| r.starts_with("/apis/batch/v1/namespaces/openclaw/cronjobs?")
                && r.contains("labelSelector=app.kubernetes.io%2Fpart-of%3Dagent-jobs")
        ),
        "{asked:?}"
    );
    // Days later: the suspended one is still paused, not overdue; resumed, it counts again.
    watch(&s, "2026-11-24T08:12:00Z", &[]).code(0);
    assert_eq!(status_of(&s, "compact-memory"), "paused");
    assert!(!alerts(&s).contains("compact-memory"), "{}", alerts(&s));
    assert!(api.set_suspend("agent-jobs-compact-memory", false));
    watch(&s, "2026-11-24T08:13:00Z", &[]).code(0);
    assert_ne!(status_of(&s, "compact-memory"), "paused");
    // No RoleBinding: exit 1, the API server's message and what to grant; the token never shows.
    api.forbid(true);
    let r = watch(&s, "2026-11-24T08:14:00Z", &[]);
    r.code(1)
        .stderr_has("403")
        .stderr_has("cannot list resource \"cronjobs\"")
        .stderr_has("deploy/kubernetes/rbac.yaml");
    let everything = format!(
        "{}{}{}",
        r.stderr,
        s.log("watch-jobs"),
        s.read("state/watch-jobs.json")
    );
    assert!(
        !everything.contains("sa-token-5f8e2c1d9b7a4e3f"),
        "{everything}"
    );
    // A CA that did not sign the server's certificate: refused, not trusted blindly.
    api.forbid(false);
    std::fs::write(
        sa.join("ca.crt"),
        include_str!("../../../fakes/tls/server.crt"),
    )
    .unwrap();
    watch(&s, "2026-11-24T08:15:00Z", &[])
        .code(1)
        .stderr_has("cannot reach the Kubernetes API");
}
