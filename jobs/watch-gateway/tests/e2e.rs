//! End-to-end tests of `watch-gateway` as cron runs it: the real binary on a temporary suite
//! root, the gateway played by a loopback server answering with the captured probe bodies
//! (`tests/fixtures/openclaw-2026.9.6/gateway-health/`) while a flag file says it is up, its
//! CLI by a script printing captured `config validate` output, and the ladder's commands by
//! small shell commands that append to `actions.log`, so every side effect can be counted.
//! Time moves with `--now` (one probe per run) except in the crash test, which runs on the
//! clock with `--watch`.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use testkit::fakes::{Reply, Server};
use testkit::{Run, Suite};

const JOB: &str = "watch-gateway";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_watch-gateway"))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/openclaw-2026.9.6")
}

/// A captured probe answer: (status, body).
/// `uptimeMs` is dropped: a fixed uptime replayed at moving `--now` times would look like a
/// gateway starting over and over (flapping).
fn captured(file: &str) -> (u16, String) {
    let t = std::fs::read_to_string(fixtures().join(file)).unwrap();
    let (s, b) = t.split_once('\n').unwrap();
    let mut v: Value = serde_json::from_str(b.trim()).unwrap();
    if let Some(o) = v.as_object_mut() {
        o.remove("uptimeMs");
    }
    (s.trim().parse().unwrap(), v.to_string())
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn at(secs: i64) -> String {
    (t0() + Duration::seconds(secs)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A shell command that logs `<incident> <step> <what>` to actions.log, then runs `then`.
fn action(what: &str, then: &str) -> Value {
    json!([
        "sh",
        "-c",
        format!("echo \"$AGENT_JOBS_INCIDENT $AGENT_JOBS_STEP {what}\" >> actions.log; {then}")
    ])
}

struct Gw {
    s: Suite,
    _server: Server,
}

impl Gw {
    /// A suite whose gateway is up while `gw-up` exists; `extra` is merged into the
    /// `watch-gateway` section.
    fn new(extra: Value) -> Gw {
        let s = Suite::new();
        let up = s.path("gw-up");
        let (hs, hb) = captured("gateway-health/get-healthz.txt");
        let (rs, rb) = captured("gateway-health/get-readyz-ready.txt");
        let unready = s.path("gw-unready");
        let (us, ub) = captured("gateway-hooks/get-readyz.txt");
        let server = Server::start(0, move |req| {
            if !up.exists() {
                return Reply::Drop;
            }
            match req.path.as_str() {
                "/healthz" => Reply::raw(hs, "application/json", hb.clone()),
                "/readyz" if unready.exists() => Reply::raw(us, "application/json", ub.clone()),
                "/readyz" => Reply::raw(rs, "application/json", rb.clone()),
                _ => Reply::raw(200, "text/html", "<html>Control UI</html>"),
            }
        })
        .unwrap();
        let valid = fixtures().join("config-cases/valid/validate.stdout.json");
        let invalid = fixtures().join("config-cases/unknownkey/validate.stdout.json");
        s.write(
            "fake-openclaw",
            &format!(
                "#!/bin/sh\ncase \"$1 $2\" in\n\"config validate\") if [ -f config-bad ]; then cat '{}'; exit 1; else cat '{}'; fi ;;\n\"sessions --json\") cat sessions.json ;;\n*) echo '{{}}' ;;\nesac\n",
                invalid.display(),
                valid.display()
            ),
        );
        std::fs::set_permissions(
            s.path("fake-openclaw"),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        s.write(
            "gw/openclaw.json",
            &json!({"gateway": {"mode": "local"}, "logging": {"file": s.path("gw/openclaw.log")}})
                .to_string(),
        );
        let mut section = json!({
            "window_secs": 30,
            "startup_grace_secs": 60,
            "probe_timeout_secs": 2,
            "start_detached": false,
            "doctor": false,
            "diff_command": [],
            "restart_command": action("restart", "true"),
            "start_command": action("start", "[ -f heal ] && touch gw-up; true"),
            "restore_command": action("restore", "rm -f config-bad; [ -f heal-on-restore ] && touch heal; true"),
        });
        for (k, v) in extra.as_object().unwrap() {
            section[k] = v.clone();
        }
        s.config(json!({
            "runtime": {"alerts": {"command": ["sh", "-c", "cat >> alerts.txt; echo >> alerts.txt"]}},
            "gateway": {
                "url": server.url(),
                "openclaw": s.path("fake-openclaw"),
                "config": "gw/openclaw.json",
                "state_dir": "gw/state"
            },
            "watch-gateway": section
        }));
        Gw { s, _server: server }
    }

    fn run(&self, secs: i64, args: &[&str]) -> Run {
        let now = at(secs);
        let mut a = vec!["--now", now.as_str()];
        a.extend_from_slice(args);
        self.s.run(bin(), &a)
    }

    fn up(&self, yes: bool) {
        if yes {
            self.s.write("gw-up", "");
        } else {
            let _ = std::fs::remove_file(self.s.path("gw-up"));
        }
    }

    fn actions(&self) -> Vec<String> {
        self.s
            .read("actions.log")
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn data(&self) -> Value {
        self.s.state(JOB)["data"].clone()
    }

    fn alerts(&self) -> String {
        self.s.read("alerts.txt")
    }
}

#[test]
fn a_healthy_gateway_is_a_silent_noop_with_facts() {
    let g = Gw::new(json!({}));
    g.up(true);
    g.run(0, &[]).silent_success();
    g.run(60, &[]).silent_success();
    let st = g.s.state(JOB);
    // The captured ready answer reports its event loop degraded (cpu): served, but degraded.
    assert_eq!(st["facts"]["health"], "degraded", "{st}");
    assert!(
        st["facts"]["detail"]
            .as_str()
            .unwrap()
            .contains("event loop degraded")
    );
    assert_eq!(st["facts"]["uptime"][0]["up_secs"], 60);
    assert_eq!(st["last_run"]["outcome"], "noop");
    assert!(g.actions().is_empty());
    let r = g.s.run(bin(), &["status"]);
    r.code(0)
        .stdout_has("degraded")
        .stdout_has("no open incident");
    // A manual restart (poll-teams' /jobs restart-gateway): the in-place restart of a live
    // gateway, journaled, not counted in the budget.
    let r = g.run(120, &["restart", "--reason", "operator asked"]);
    r.code(0).stdout_has("restart done");
    let acts = g.actions();
    assert!(
        acts.len() == 1
            && acts[0].starts_with("manual/")
            && acts[0].ends_with(" 1-restart restart"),
        "{acts:?}"
    );
    let d = g.data();
    assert_eq!(d["restarts"][0]["automatic"], false, "{d}");
    assert!(
        g.s.state(JOB)["effects"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("manual/"))
    );
    // `status --json` prints the suite's status envelope with the facts.
    let r = g.s.run(bin(), &["status", "--json"]);
    let f: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(f["job"], JOB);
    assert_eq!(f["facts"]["restarts_total"], 1);
    assert!(f["last_run"].is_object(), "{f}");
}

#[test]
fn a_config_that_no_longer_loads_does_not_move_the_probe() {
    let g = Gw::new(json!({}));
    g.up(true);
    let mut c: Value = serde_json::from_str(&g.s.read("config.json")).unwrap();
    let url = c["gateway"]["url"].as_str().unwrap().to_string();
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    c["gateway"].as_object_mut().unwrap().remove("url");
    g.s.config(c);
    // The port comes from the gateway's own config (JSON5).
    g.s.write(
        "gw/openclaw.json",
        &format!("// gateway\n{{ gateway: {{ mode: 'local', port: {port} }}, }}\n"),
    );
    g.run(0, &[]).code(0);
    assert_eq!(g.data()["base_url"], url);
    assert_eq!(g.data()["last_probe"]["live"], true);
    // Truncated: the probe stays on the port it knew.
    g.s.write("gw/openclaw.json", "{ gateway: { mode: 'lo");
    g.run(60, &[]).code(0);
    assert_eq!(g.data()["last_probe"]["live"], true, "{}", g.data());
}

#[test]
fn a_200_that_is_not_the_gateways_json_is_down() {
    let g = Gw::new(json!({}));
    g.up(true);
    let mut st: Value = serde_json::from_str(&g.s.read("config.json")).unwrap();
    st["gateway"]["url"] = json!(format!("{}/ui", st["gateway"]["url"].as_str().unwrap()));
    g.s.config(st);
    g.run(0, &[]).code(0);
    let d = g.data();
    assert_eq!(d["health"], "down", "{d}");
    assert!(
        d["last_probe"]["error"]
            .as_str()
            .unwrap()
            .contains("without the gateway's JSON"),
        "{d}"
    );
}

#[test]
fn kill_then_step_one_restarts_and_one_recovery_message() {
    let g = Gw::new(json!({}));
    g.up(true);
    g.run(0, &[]).silent_success();
    g.up(false);
    g.s.write("heal", "");
    g.run(5, &[]).code(0);
    let inc = g.data()["incident"].clone();
    assert_eq!(inc["cause"], "down", "{inc}");
    assert!(
        g.actions().is_empty(),
        "no step before a whole failed window"
    );
    g.run(20, &[]).code(0);
    assert!(g.actions().is_empty());
    g.run(36, &[]).code(0);
    let id = inc["id"].as_str().unwrap();
    assert_eq!(g.actions(), vec![format!("{id} 1-restart start")]);
    // Up again within the grace: recovered, one message.
    g.run(50, &[]).code(0);
    g.run(60, &[]).silent_success();
    let d = g.data();
    assert!(d["incident"].is_null(), "{d}");
    assert_eq!(d["history"].as_array().unwrap().len(), 1);
    let alerts = g.alerts();
    assert_eq!(alerts.matches("recovered after 45s").count(), 1, "{alerts}");
    let f = &g.s.state(JOB)["facts"];
    assert_eq!(f["incidents"][0]["time_to_recover_secs"], 45);
    assert_eq!(f["incidents"][0]["steps"], json!(["restart: done"]));
    assert_eq!(f["restarts_total"], 1);
}

#[test]
fn a_config_problem_is_restored_through_backup_config_then_restarted() {
    let g = Gw::new(json!({}));
    g.s.write("config-bad", "");
    g.s.write("heal-on-restore", "");
    g.run(0, &[]).code(0);
    g.run(31, &[]).code(0);
    // Step 1's start did not bring it back; after the grace, step 2 finds the config invalid.
    g.run(80, &[]).code(0);
    assert_eq!(g.actions().len(), 1);
    let r = g.run(92, &[]);
    r.code(0);
    let acts = g.actions();
    assert_eq!(acts.len(), 3, "{acts:?}");
    assert!(
        acts[1].ends_with("2-config restore") && acts[2].ends_with("2-config start"),
        "{acts:?}"
    );
    let inc = g.data()["incident"].clone();
    let step2 = &inc["steps"][1];
    assert_eq!(step2["status"], "done", "{inc}");
    assert!(
        step2["detail"]
            .as_str()
            .unwrap()
            .contains("Unrecognized key"),
        "{inc}"
    );
    g.run(100, &[]).code(0);
    assert!(g.data()["incident"].is_null());
    assert!(
        g.alerts().contains("recovered after 100s"),
        "{}",
        g.alerts()
    );
}

#[test]
fn escalation_then_budget_halt_then_resume() {
    let g = Gw::new(json!({"max_restarts_per_hour": 2}));
    // What the gateway logs when its port is taken (captured console lines).
    let busy =
        std::fs::read_to_string(fixtures().join("gateway-health/console-port-in-use.txt")).unwrap();
    g.s.write("gw/openclaw.log", &busy);
    g.run(0, &[]).code(0);
    g.run(31, &[]).code(0); // step 1: start (restart 1)
    g.run(92, &[]).code(0); // step 2: config valid → step 3 at once: diagnose, escalate
    let d = g.data();
    let inc = &d["incident"];
    assert_eq!(inc["level"], 3, "{d}");
    assert_eq!(inc["diagnosis_source"], "rules");
    assert!(
        inc["diagnosis"]
            .as_str()
            .unwrap()
            .starts_with("port in use"),
        "{inc}"
    );
    let bundle = inc["bundle"].as_str().unwrap();
    let b = std::fs::read_to_string(bundle).unwrap();
    assert!(b.contains("EADDRINUSE"), "the bundle holds the evidence");
    assert_eq!(
        std::fs::metadata(bundle)
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
            .unwrap(),
        0o600
    );
    let alerts = g.alerts();
    assert_eq!(alerts.matches("still down after").count(), 1, "{alerts}");
    g.run(123, &[]).code(0); // step 4: retry (restart 2)
    g.run(184, &[]).code(0); // step 5 would be restart 3: halt
    g.run(300, &[]).code(0);
    g.run(900, &[]).code(0);
    let acts = g.actions();
    assert_eq!(
        acts.iter().filter(|a| a.ends_with(" start")).count(),
        2,
        "{acts:?}"
    );
    let alerts = g.alerts();
    assert_eq!(
        alerts.matches("(critical)").count() + alerts.matches("stopped restarting").count(),
        1,
        "exactly one critical alert:\n{alerts}"
    );
    let st = g.s.state(JOB);
    assert!(
        st["facts"]["halted"].as_str().unwrap().contains("budget"),
        "{st}"
    );
    // A human fixed it: resume re-arms; the next window restarts again.
    let r = g.run(910, &["resume"]);
    r.code(0).stdout_has("re-armed");
    g.s.write("heal", "");
    g.run(920, &[]).code(0);
    assert_eq!(
        g.actions().iter().filter(|a| a.ends_with(" start")).count(),
        3
    );
    g.run(930, &[]).code(0);
    assert!(g.data()["incident"].is_null());
    assert!(g.alerts().contains("recovered after 930s"));
}

/// On Kubernetes the kubelet restarts the gateway (`restart_command` and `start_command` both
/// `[]`): watch-gateway runs no restart and counts none, gives the kubelet's restart its
/// start-up grace, restores a broken config without restarting, diagnoses and alerts once, then
/// holds (no retries, no budget to trip, no critical "stopped restarting" alert) until the
/// gateway is back, when one recovery message follows.
#[test]
fn with_the_kubelet_restarting_only_restore_diagnose_and_one_alert() {
    let g = Gw::new(json!({"restart_command": [], "start_command": [], "stop_hung": false}));
    g.s.write("config-bad", "");
    g.run(0, &[]).code(0); // opens the incident
    g.run(31, &[]).code(0); // step 1: left to the kubelet, its start-up grace begins
    let d = g.data();
    let step1 = &d["incident"]["steps"][0];
    assert_eq!(step1["status"], "skipped", "{d}");
    assert!(
        step1["detail"]
            .as_str()
            .unwrap()
            .contains("left to the supervisor"),
        "{d}"
    );
    g.run(60, &[]).code(0); // within the grace: nothing
    assert_eq!(g.data()["incident"]["level"], 1);
    g.run(92, &[]).code(0); // step 2: the config is bad → restore, no restart; step 3 next window
    let acts = g.actions();
    assert_eq!(acts.len(), 1, "{acts:?}");
    assert!(acts[0].ends_with("2-config restore"), "{acts:?}");
    for t in [160, 200, 400, 1200, 4000] {
        g.run(t, &[]).code(0);
    }
    let d = g.data();
    assert_eq!(
        d["incident"]["level"], 3,
        "no retry after the diagnosis: {d}"
    );
    let st = g.s.state(JOB);
    assert_eq!(st["facts"]["restarts_total"], 0, "{st}");
    assert!(st["facts"]["halted"].is_null(), "{st}");
    let alerts = g.alerts();
    assert_eq!(alerts.matches("still down after").count(), 1, "{alerts}");
    assert!(!alerts.contains("stopped restarting"), "{alerts}");
    assert_eq!(
        g.actions().len(),
        1,
        "nothing but the restore ran: {:?}",
        g.actions()
    );
    g.up(true);
    g.run(4100, &[]).code(0);
    assert!(g.data()["incident"].is_null());
    assert_eq!(
        g.alerts().matches("recovered after").count(),
        1,
        "{}",
        g.alerts()
    );
}

#[test]
fn planned_maintenance_holds_recovery_until_it_ends() {
    let g = Gw::new(json!({}));
    g.up(true);
    g.run(0, &[]).silent_success();
    let r = g.run(
        10,
        &["maintenance", "--for", "10m", "--reason", "gateway upgrade"],
    );
    r.code(0)
        .stdout_has("Planned maintenance until 2026-11-28 10:10:10 UTC");
    let m: Value = serde_json::from_str(&g.s.read("state/maintenance.json")).unwrap();
    assert_eq!(m["planned"], true);
    assert_eq!(m["reason"], "gateway upgrade");
    assert_eq!(m["expectedDowntime"], "10 min");
    g.up(false);
    for t in [20, 60, 120, 400, 600] {
        g.run(t, &[]).silent_success();
    }
    assert!(g.actions().is_empty() && g.alerts().is_empty());
    assert!(
        g.data()["incident"].is_null(),
        "no incident for planned downtime"
    );
    assert_eq!(g.s.state(JOB)["facts"]["health"], "maintenance");
    // Still down after ignoreUntil: recovery starts.
    g.run(611, &[]).code(0);
    g.run(642, &[]).code(0);
    assert_eq!(g.actions().len(), 1, "{:?}", g.actions());
    // The older shape `{"until": …}` is understood too, and --end switches it off.
    g.s.write(
        "state/maintenance.json",
        &json!({"until": at(2000), "reason": "old"}).to_string(),
    );
    g.run(700, &["maintenance"])
        .code(0)
        .stdout_has("until 2026-11-28 10:33:20 UTC");
    g.run(701, &["maintenance", "--end"])
        .code(0)
        .stdout_has("ended");
    let m: Value = serde_json::from_str(&g.s.read("state/maintenance.json")).unwrap();
    assert_eq!(m["planned"], false);
}

#[test]
fn an_open_circuit_never_restarts_a_live_gateway() {
    let g = Gw::new(json!({"not_ready_grace_secs": 60}));
    g.up(true);
    g.s.write("gw-unready", "");
    g.s.write(
        "state/circuit.json",
        &json!({"state": "open", "kind": "rate_limit"}).to_string(),
    );
    for t in [0, 100, 200, 300] {
        g.run(t, &[]).code(0);
    }
    assert!(g.actions().is_empty());
    assert_eq!(g.data()["health"], "degraded");
    // Circuit closed: not ready for longer than its grace is a failure; the restart is in place.
    g.s.write(
        "state/circuit.json",
        &json!({"state": "closed"}).to_string(),
    );
    g.run(400, &[]).code(0);
    g.run(431, &[]).code(0);
    assert!(
        g.actions()[0].ends_with("1-restart restart"),
        "{:?}",
        g.actions()
    );
}

#[test]
fn a_stuck_run_is_alerted_once_and_ended_only_by_the_configured_command() {
    let g = Gw::new(json!({"stuck": {"enabled": true, "threshold_secs": 3600, "every_secs": 60}}));
    g.up(true);
    // The captured `sessions --json` shape, with one run active for 2 h.
    let mut v: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("gateway-health/sessions.json")).unwrap(),
    )
    .unwrap();
    let started = (t0() - Duration::hours(2)).timestamp_millis();
    v["sessions"] = json!([{"key": "agent:main:cron:j1:run:s1", "sessionId": "s1",
        "sessionStartedAt": started, "status": "running", "kind": "cron"}]);
    g.s.write("sessions.json", &v.to_string());
    g.run(0, &[]).code(0);
    g.run(120, &[]).code(0);
    let alerts = g.alerts();
    assert_eq!(
        alerts.matches("has been active for 2 h 00 min").count(),
        1,
        "{alerts}"
    );
    assert!(alerts.contains("not ended automatically"));
    assert!(
        g.actions().is_empty(),
        "nothing is killed unless configured"
    );
    // With a kill command: run once for a new stuck run.
    let mut c: Value = serde_json::from_str(&g.s.read("config.json")).unwrap();
    c["watch-gateway"]["stuck"]["kill_command"] = action("kill {session_id}", "true");
    g.s.config(c);
    v["sessions"][0]["sessionId"] = json!("s2");
    g.s.write("sessions.json", &v.to_string());
    g.run(240, &[]).code(0);
    g.run(360, &[]).code(0);
    assert_eq!(g.actions(), vec![" stuck kill s2".to_string()]);
}

#[test]
fn bad_config_values_name_the_key_and_the_example_is_valid() {
    let g = Gw::new(json!({"window_secs": 0}));
    g.run(0, &[])
        .code(78)
        .stderr_has("watch-gateway.window_secs");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.json");
    g.s.run(
        bin(),
        &["--check-config", "--config", &example.to_string_lossy()],
    )
    .code(0)
    .stdout_has("is valid");
}

/// Kill watch-gateway at random points while it climbs the ladder: no step runs twice for
/// one incident, and every level up to the one reached has a step record (done, failed, or
/// reported as of unknown outcome).
#[test]
fn sigkill_at_random_points_never_repeats_or_silently_skips_a_step() {
    let g = Gw::new(json!({
        "window_secs": 1,
        "startup_grace_secs": 0,
        "probe_interval_secs": 0.2,
        "max_restarts_per_hour": 60,
        "start_command": action("start", "sleep 0.3; echo \"$AGENT_JOBS_INCIDENT $AGENT_JOBS_STEP start-end\" >> actions.log"),
    }));
    g.s.write("config-bad", "");
    let mut rng = fastrand::Rng::with_seed(7);
    let mut killed = 0;
    for i in 0..30 {
        if i == 10 || i == 20 {
            // Recover once in a while: the next failure is a new incident.
            g.s.write("gw-up", "");
            g.s.run(bin(), &[]);
            let _ = std::fs::remove_file(g.s.path("gw-up"));
            g.s.write("config-bad", "");
        }
        let mut c = g.s.cmd(bin());
        c.args(["--watch", "3s"]);
        if i % 5 == 4 {
            // The journal's own crash points, on restarts and on the restore.
            let point = if i % 10 == 4 {
                "effect-intent:incident/"
            } else {
                "effect-acted:incident/"
            };
            c.env("AGENT_JOBS_TEST_CRASH_AT", point);
        }
        let mut child = c
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(rng.u64(100..1500)));
        if child.try_wait().unwrap().is_none() {
            testkit::signal(&child, 9);
            killed += 1;
        }
        let _ = child.wait();
    }
    assert!(killed > 10, "only {killed} runs were killed");
    // Let the last incident settle: one clean run.
    g.s.run(bin(), &["--watch", "2s"]);
    let acts = g.actions();
    let mut begun: std::collections::BTreeMap<String, usize> = Default::default();
    for a in acts.iter().filter(|a| !a.ends_with("-end")) {
        // (incident, step, action): one step may run two commands (restore, then start).
        let key = a.clone();
        *begun.entry(key).or_default() += 1;
    }
    for (k, n) in &begun {
        assert_eq!(*n, 1, "{k:?} ran {n} times:\n{}", acts.join("\n"));
    }
    let d = g.data();
    let incidents: Vec<Value> = d["history"]
        .as_array()
        .unwrap()
        .iter()
        .chain(d["incident"].as_object().map(|_| &d["incident"]))
        .cloned()
        .collect();
    assert!(!incidents.is_empty());
    let log = g.s.log(JOB);
    for inc in &incidents {
        let steps = inc["steps"].as_array().unwrap();
        let levels: Vec<u64> = steps.iter().map(|s| s["level"].as_u64().unwrap()).collect();
        // The oldest records of a long incident are dropped (40 kept).
        let first = if levels.len() < 40 { 1 } else { levels[0] };
        let want: Vec<u64> = (first..=inc["level"].as_u64().unwrap()).collect();
        assert_eq!(levels, want, "every level has its record, in order: {inc}");
        for s in steps {
            if s["status"] == "outcome unknown" || s["status"] == "unknown" {
                assert!(
                    log.contains("outcome unknown") || log.contains("interrupted"),
                    "{s}"
                );
            }
        }
    }
    assert!(begun.len() >= 3, "the ladder got somewhere: {begun:?}");
}

#[test]
fn the_textfile_shows_the_gateways_health() {
    let g = Gw::new(json!({}));
    let mut c: Value = serde_json::from_str(&g.s.read("config.json")).unwrap();
    c["runtime"]["textfile_dir"] = json!("textfile");
    g.s.config(c);
    std::fs::create_dir_all(g.s.path("textfile")).unwrap();
    g.up(true);
    g.run(0, &[]).silent_success();
    let prom = g.s.read("textfile/agent_jobs_watch_gateway.prom");
    let up = testkit::prom::sample(&prom, "agent_jobs_gateway_up", &[("job", JOB)]);
    assert_eq!(up, Some(1.0), "{prom}");
    let degraded = testkit::prom::sample(
        &prom,
        "agent_jobs_gateway_health",
        &[("job", JOB), ("state", "degraded")],
    );
    assert_eq!(
        degraded,
        Some(1.0),
        "the captured ready answer is degraded: {prom}"
    );
    testkit::prom::promtool_check(&prom);
}
