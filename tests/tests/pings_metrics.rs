//! What the suite tells operators' tools, through the `sample-job` fixture: healthchecks-style
//! pings (exit codes, `rid`, bodies with the log's tail, `?create=1`, paused and locked runs,
//! one warning per outage, a previous killed run noted), the Prometheus textfile (checked with
//! `promtool check metrics` where it is installed; CI installs it), JSON log lines and
//! `--check-config --json`.

use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::prom::promtool_check;
use testkit::{Suite, fakes, signal, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_sample-job");

fn bin() -> &'static Path {
    Path::new(BIN)
}

/// A fake healthchecks ping endpoint recording (path, query, body).
struct Hc {
    srv: fakes::Server,
    seen: Arc<Mutex<Vec<(String, String, String)>>>,
}

impl Hc {
    fn start() -> Hc {
        let seen: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
        let s2 = seen.clone();
        let srv = fakes::Server::start(0, move |req| {
            let q = req
                .target
                .split_once('?')
                .map(|x| x.1)
                .unwrap_or("")
                .to_string();
            let body = String::from_utf8_lossy(&req.body).into_owned();
            s2.lock().expect("lock").push((req.path.clone(), q, body));
            fakes::Reply::raw(200, "text/plain", "OK")
        })
        .expect("server");
        Hc { srv, seen }
    }
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.srv.url())
    }
    fn take(&self) -> Vec<(String, String, String)> {
        std::mem::take(&mut *self.seen.lock().expect("lock"))
    }
    fn paths(&self) -> Vec<String> {
        self.take().into_iter().map(|(p, _, _)| p).collect()
    }
}

fn rid_of(q: &str) -> String {
    q.split('&')
        .find_map(|p| p.strip_prefix("rid="))
        .unwrap_or("")
        .to_string()
}

#[test]
fn pings_carry_exit_codes_rid_and_the_log_tail() {
    let hc = Hc::start();
    let s = Suite::new();
    s.config(json!({"runtime": {"pings": {"sample-job": hc.url("/ping/KEY/sample?create=1")}}}));
    s.run(bin(), &["--say", "a line for the log"]).code(0);
    let got = hc.take();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].0, "/ping/KEY/sample/start");
    assert_eq!(got[1].0, "/ping/KEY/sample/0");
    assert!(
        got[0].1.starts_with("create=1&rid="),
        "query kept: {}",
        got[0].1
    );
    assert_eq!(
        rid_of(&got[0].1),
        rid_of(&got[1].1),
        "start and end pair by rid"
    );
    assert_eq!(rid_of(&got[0].1).len(), 36);
    assert!(got[1].2.contains("finished: ok (exit 0)"), "{}", got[1].2);
    assert!(got[1].2.contains("a line for the log"), "{}", got[1].2);

    s.run(bin(), &["--fail", "disk on fire"]).code(1);
    let got = hc.take();
    assert_eq!(got[1].0, "/ping/KEY/sample/1");
    assert!(got[1].2.contains("disk on fire"), "{}", got[1].2);

    s.run(bin(), &["--degraded", "used the fallback"]).code(0);
    assert_eq!(
        hc.paths(),
        [
            "/ping/KEY/sample/start",
            "/ping/KEY/sample/log",
            "/ping/KEY/sample/0"
        ]
    );
}

#[test]
fn runs_that_end_early_still_report_their_code() {
    let hc = Hc::start();
    let s = Suite::new();
    let url = hc.url("/p");
    // A config error after the ping URL was read: /78.
    s.config(json!({"runtime": {"pings": {"sample-job": url}, "log_keep": 5000}}));
    s.run(bin(), &[]).code(78);
    let got = hc.take();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "/p/78");
    assert!(got[0].2.contains("runtime.log_keep"), "{}", got[0].2);
    // Bad state: /65.
    s.config(json!({"runtime": {"pings": {"sample-job": url}}}));
    s.write("state/sample-job.json", "{ not json");
    s.run(bin(), &[]).code(65);
    assert_eq!(hc.paths(), ["/p/65"]);
    std::fs::remove_file(s.path("state/sample-job.json")).expect("rm");
    // Paused: a planned pause pages nobody (/0 with the reason).
    s.write(
        "state/control.json",
        r#"{"paused": true, "reason": "maintenance"}"#,
    );
    s.run(bin(), &[]).code(75);
    let got = hc.take();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "/p/0");
    assert!(got[0].2.contains("paused"), "{}", got[0].2);
    std::fs::remove_file(s.path("state/control.json")).expect("rm");
    // Lock held by another run: /log only (a stuck lock still misses its success ping).
    let holder = s.spawn(bin(), &["--work-ms", "3000"]);
    assert!(wait_until(Duration::from_secs(5), || s
        .read("work.log")
        .contains("start")));
    hc.take();
    s.run(bin(), &[]).code(75);
    assert_eq!(hc.paths(), ["/p/log"]);
    let _ = holder.wait_with_output();
}

#[test]
fn a_dead_ping_endpoint_costs_little_and_warns_once_per_outage() {
    // A port that accepts nothing: connect refused at once; a blackhole would be the worst case,
    // bounded by ping_timeout_secs.
    let s = Suite::new();
    s.config(json!({"runtime": {"pings": {"sample-job": "http://127.0.0.1:9/x"}, "ping_timeout_secs": 2}}));
    let t0 = Instant::now();
    let first = s.run(bin(), &[]);
    first.code(0).stderr_has("dead-man ping");
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    let second = s.run(bin(), &[]);
    second.silent_success();
    assert!(
        s.log("sample-job").contains("failing since"),
        "logged, not mailed"
    );
    assert_eq!(s.state("sample-job")["last_run"]["outcome"], "ok");
    // Back up: the outage ends.
    let hc = Hc::start();
    s.config(json!({"runtime": {"pings": {"sample-job": hc.url("/x")}}}));
    s.run(bin(), &[]).silent_success();
    assert!(s.log("sample-job").contains("pings work again"));
    assert!(
        s.state("sample-job").get("pings").is_none(),
        "health cleared"
    );
}

#[test]
fn a_killed_previous_run_is_noted() {
    let hc = Hc::start();
    let s = Suite::new();
    s.config(json!({"runtime": {"pings": {"sample-job": hc.url("/p")}}}));
    s.run(bin(), &[]).code(0);
    let child = s.spawn(bin(), &["--work-ms", "5000"]);
    assert!(wait_until(Duration::from_secs(5), || s
        .read("work.log")
        .matches("start")
        .count()
        >= 2));
    signal(&child, 9);
    let _ = child.wait_with_output();
    hc.take();
    let r = s.run(bin(), &[]);
    r.code(0).stderr_has("ended without recording its result");
    let got = hc.take();
    assert!(got[1].2.contains("note: the previous run"), "{}", got[1].2);
    // Only once: the next run has nothing to say.
    s.run(bin(), &[]).silent_success();
}

#[test]
fn the_textfile_is_written_every_run_and_parses() {
    let s = Suite::new();
    std::fs::create_dir_all(s.path("textfile")).expect("mkdir");
    s.config(json!({"runtime": {"textfile_dir": "textfile"}}));
    s.run(bin(), &[]).code(0);
    s.run(bin(), &["--fail", "x"]).code(1);
    let prom = s.read("textfile/agent_jobs_sample_job.prom");
    assert!(
        prom.contains("agent_jobs_runs_total{job=\"sample-job\",outcome=\"ok\"} 1"),
        "{prom}"
    );
    assert!(
        prom.contains("agent_jobs_runs_total{job=\"sample-job\",outcome=\"failed\"} 1"),
        "{prom}"
    );
    assert!(
        prom.contains("agent_jobs_last_exit_code{job=\"sample-job\"} 1"),
        "{prom}"
    );
    assert!(
        prom.contains("agent_jobs_consecutive_failures{job=\"sample-job\"} 1"),
        "{prom}"
    );
    assert!(
        prom.contains("# TYPE agent_jobs_runs_total counter"),
        "{prom}"
    );
    promtool_check(&prom);
    let leftovers: Vec<_> = std::fs::read_dir(s.path("textfile"))
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        leftovers,
        ["agent_jobs_sample_job.prom"],
        "no temp files left"
    );
    // A run that fails before reading its state still says so.
    s.config(json!({"runtime": {"textfile_dir": "textfile", "log_keep": 5000}}));
    s.run(bin(), &[]).code(78);
    let prom = s.read("textfile/agent_jobs_sample_job.prom");
    assert!(
        prom.contains("agent_jobs_last_exit_code{job=\"sample-job\"} 78"),
        "{prom}"
    );
    promtool_check(&prom);
}

/// A textfile directory under the root is the suite's own (on Kubernetes, `metrics` on the
/// suite's volume): created when missing, readable by a node_exporter of another user. One
/// elsewhere must exist: its absence is warned about, nothing is created.
#[test]
fn a_textfile_dir_under_the_root_is_created_one_elsewhere_is_not() {
    use std::os::unix::fs::PermissionsExt;
    let s = Suite::new();
    s.config(json!({"runtime": {"textfile_dir": "metrics"}}));
    s.run(bin(), &[]).silent_success();
    assert!(s.path("metrics/agent_jobs_sample_job.prom").is_file());
    let mode = std::fs::metadata(s.path("metrics"))
        .expect("metrics dir")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    let elsewhere = s.path("not-there/textfile");
    s.config(json!({"runtime": {"textfile_dir": elsewhere}}));
    s.run(bin(), &[])
        .code(0)
        .stderr_has("cannot write the metrics textfile");
    assert!(!s.path("not-there").exists());
}

#[test]
fn json_logs_and_check_config_json() {
    let s = Suite::new();
    s.config(json!({"runtime": {"log_format": "json"}}));
    s.run(bin(), &["--say", "hello \"json\""]).code(0);
    let lines: Vec<Value> = s
        .log("sample-job")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["msg"] == "hello \"json\"" && l["level"] == "WARN")
    );
    for l in &lines {
        for k in ["ts", "level", "job", "run_id", "msg"] {
            assert!(l.get(k).is_some(), "{k} in {l}");
        }
    }
    let r = s.run(bin(), &["--check-config", "--json"]);
    r.code(0);
    let v: Value = serde_json::from_str(r.stdout.trim()).expect("one JSON document");
    assert_eq!(v["valid"], true);
    assert_eq!(v["job"], "sample-job");
}

#[test]
fn the_shipped_alert_rules_load_in_prometheus() {
    let have = std::process::Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        if std::env::var("AGENT_JOBS_REQUIRE_PROMTOOL").as_deref() == Ok("1") {
            panic!("promtool is required (AGENT_JOBS_REQUIRE_PROMTOOL=1) but not installed");
        }
        eprintln!("SKIPPED the_shipped_alert_rules_load_in_prometheus: promtool not installed");
        return;
    }
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/prometheus-rules.yml");
    let out = std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .expect("promtool");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
