//! watch-gateway against the real gateway (OpenClaw, pinned in scripts/openclaw.pin), through
//! the binary as cron runs it. One isolated gateway home and one suite root are shared by the
//! scenarios, run in order in one test (each gateway start costs 10–35 s on 2 cores):
//!
//! 1. planned maintenance: the gateway down inside the window → nothing done, nothing alerted;
//!    still down past `ignoreUntil` → recovery starts (step 1 starts it);
//! 2. `kill -9` of the gateway → step 1 restarts it, one incident, one "recovered after" message;
//! 3. the config corrupted so the gateway will not start → step 1 fails, step 2 restores the
//!    last good snapshot through backup-config (the replaced file kept in backup-config's
//!    `replaced/`) and restarts it;
//! 4. its port held by another process → the ladder reaches step 3, the bundle and the rules'
//!    diagnosis name the port conflict (the model is down), the restart budget trips, exactly
//!    one critical alert, no restart loop.
//!
//! The gateway is started by watch-gateway itself (its `start_command`) under the harness's
//! watchdog, so no gateway outlives the test process. Needs `backup-config` built next to
//! `watch-gateway` (`cargo build --workspace --bins`, as the README's test command does).
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};
use testkit::fakes::model::FakeModel;
use testkit::gateway::{self, Home, Provider};
use testkit::{Run, Suite};

const JOB: &str = "watch-gateway";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_watch-gateway"))
}

struct World {
    s: Suite,
    home: Home,
    port: u16,
    section: Value,
    t0: Instant,
}

impl World {
    fn write_config(&self) {
        let env: serde_json::Map<String, Value> = self
            .home
            .env()
            .into_iter()
            .filter(|(k, _)| !k.starts_with("OPENCLAW_"))
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        self.s.config(json!({
            "runtime": {
                "alerts": {"command": ["sh", "-c", "cat >> alerts.txt; echo >> alerts.txt"]},
                "http": {"max_retries": 1, "backoff_base_ms": 50}
            },
            "gateway": {
                "config": self.home.config_path(),
                "state_dir": self.home.state_dir(),
                "openclaw": self.home.install.openclaw,
                "env": env,
                "cli_timeout_secs": 90
            },
            "backup-config": {"files": [{"path": self.home.config_path()}], "backups_dir": "backups"},
            "watch-gateway": self.section
        }));
    }

    fn run(&self, args: &[&str]) -> Run {
        self.s.run(bin(), args)
    }

    fn data(&self) -> Value {
        self.s.state(JOB)["data"].clone()
    }

    fn alerts(&self) -> String {
        self.s.read("alerts.txt")
    }

    /// Run `watch-gateway --watch 3s` until `done` says so, at most `within`.
    fn watch_until(&self, what: &str, within: Duration, done: impl Fn(&World) -> bool) {
        let end = Instant::now() + within;
        loop {
            let r = self.run(&["--watch", "3s"]);
            assert!(r.code == 0 || r.code == 1, "{}", r.dump());
            if done(self) {
                return;
            }
            assert!(
                Instant::now() < end,
                "{what}: not reached within {within:?} ({} s into the test)\nstate: {}\nlog:\n{}\nconsole:\n{}\ngateway log:\n{}",
                self.t0.elapsed().as_secs(),
                self.data(),
                self.s.log(JOB),
                self.s.read("state/watch-gateway/console.out"),
                tail(&self.home.log_text(), 3000)
            );
        }
    }

    fn healthz(&self) -> bool {
        gateway::http_get(self.port, "/healthz")
            .is_some_and(|(c, b)| c == 200 && b.contains("live"))
    }

    /// The gateway's pid from its lock file.
    fn gateway_pid(&self) -> Option<u32> {
        let dir = std::fs::read_dir(self.home.state_dir().join("tmp")).ok()?;
        for d in dir.flatten() {
            if d.file_name().to_string_lossy().starts_with("openclaw-") {
                let t = std::fs::read_to_string(d.path().join("gateway.state.lock")).ok()?;
                let v: Value = serde_json::from_str(t.trim()).ok()?;
                return v["pid"].as_u64().map(|p| p as u32);
            }
        }
        None
    }

    /// Signal the gateway and wait until its port is closed.
    fn stop_gateway(&self, sig: &str) {
        let pid = self
            .gateway_pid()
            .expect("a running gateway has a lock file");
        std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap();
        let end = Instant::now() + Duration::from_secs(30);
        while self.healthz() || Path::new(&format!("/proc/{pid}")).exists() {
            assert!(
                Instant::now() < end,
                "gateway pid {pid} did not stop on {sig}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn restarts_total(&self) -> u64 {
        self.data()["restarts_total"].as_u64().unwrap_or(0)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // The watchdog ends the gateway with the test process; end it now anyway.
        if let Some(pid) = self.gateway_pid() {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
    }
}

fn tail(s: &str, n: usize) -> &str {
    let mut i = s.len().saturating_sub(n);
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

/// Incidents in history with this many steps named.
fn history(d: &Value) -> Vec<Value> {
    d["history"].as_array().cloned().unwrap_or_default()
}

#[test]
fn watch_gateway_brings_the_real_gateway_back() {
    let Some(install) = gateway::require("watch_gateway_brings_the_real_gateway_back") else {
        return;
    };
    let backup_config = bin().with_file_name("backup-config");
    assert!(
        backup_config.is_file(),
        "{} is not built: run `cargo build --workspace --bins` first",
        backup_config.display()
    );
    let model = FakeModel::start().unwrap();
    let home = Home::new(&install, Provider::anthropic(&model.url()));
    let port = gateway::free_port();
    let mut cfg = home.base_config();
    cfg["gateway"]["port"] = json!(port);
    home.write_config(&cfg);
    let s = Suite::new();
    s.write("secrets/model-key", "sk-ant-not-a-real-key-0000");
    let dead = gateway::free_port();
    let mut w = World {
        s,
        home,
        port,
        section: json!({
            "probe_interval_secs": 1,
            "probe_timeout_secs": 2,
            "window_secs": 3,
            "startup_grace_secs": 90,
            "max_restarts_per_hour": 10,
            "start_command": gateway::watched_argv(&install, &["gateway", "run"]),
            "bundles_kept": 5,
            // `doctor --lint --json` takes 8–35 s on a loaded 2-core machine: left out here to
            // keep the test binary in its time budget (the rest of the bundle is checked).
            "doctor": false,
            "model": {
                "enabled": true,
                "url": format!("http://127.0.0.1:{dead}/v1/messages"),
                "api_key_file": "secrets/model-key",
                "timeout_secs": 5,
                "max_retries": 0
            }
        }),
        t0: Instant::now(),
    };
    w.write_config();
    // The good config, snapshotted.
    w.s.run(&backup_config, &[]).code(0);
    assert!(
        w.s.state("backup-config")["data"]["files"]
            .to_string()
            .contains("last_good")
    );

    let mut lap = Instant::now();
    let mut took = |what: &str| {
        eprintln!("{what}: {} s", lap.elapsed().as_secs());
        lap = Instant::now();
    };
    maintenance_then_recovery(&w);
    took("maintenance, then recovery");
    kill_nine(&w);
    took("kill -9");
    corrupt_config(&w);
    took("corrupt config");
    port_taken(&mut w);
    took("port taken");
    eprintln!("real-gateway scenarios took {} s", w.t0.elapsed().as_secs());
}

/// 1. Down inside a maintenance window: nothing; past `ignoreUntil`: step 1 starts it.
fn maintenance_then_recovery(w: &World) {
    w.run(&["maintenance", "--for", "5s", "--reason", "planned start"])
        .code(0)
        .stdout_has("Planned maintenance until");
    w.run(&["--watch", "3s"]).code(0);
    let d = w.data();
    assert!(
        d["incident"].is_null() && d["restarts_total"] == 0,
        "nothing inside the window: {d}"
    );
    assert_eq!(d["in_maintenance"], true);
    assert_eq!(w.alerts(), "", "nothing alerted inside the window");
    w.watch_until(
        "recovery after the maintenance window",
        Duration::from_secs(120),
        |w| history(&w.data()).len() == 1 && w.healthz(),
    );
    assert_eq!(w.restarts_total(), 1);
    let inc = &history(&w.data())[0];
    assert_eq!(inc["steps"][0]["name"], "restart", "{inc}");
    assert!(
        inc["steps"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("launched pid"),
        "{inc}"
    );
}

/// 2. `kill -9`: step 1 restarts it; one incident, one recovery message.
fn kill_nine(w: &World) {
    let before = history(&w.data()).len();
    w.stop_gateway("-9");
    let killed = Instant::now();
    w.watch_until("recovery after kill -9", Duration::from_secs(120), |w| {
        history(&w.data()).len() == before + 1 && w.healthz()
    });
    let d = w.data();
    let inc = history(&d)[before].clone();
    let steps: Vec<&str> = inc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["restart"], "step 1 was enough: {inc}");
    assert_eq!(inc["steps"][0]["status"], "done", "{inc}");
    let id = inc["id"].as_str().unwrap();
    let alerts = w.alerts();
    let msgs: Vec<&str> = alerts.lines().filter(|l| l.contains(id)).collect();
    assert_eq!(msgs.len(), 1, "one message for {id}:\n{alerts}");
    assert!(msgs[0].contains("recovered after"), "{alerts}");
    eprintln!(
        "kill -9 → /healthz again after {} s",
        killed.elapsed().as_secs()
    );
}

/// 3. A config that will not load: step 1 fails, step 2 restores it through backup-config.
fn corrupt_config(w: &World) {
    let before = history(&w.data()).len();
    w.stop_gateway("-TERM");
    let good = std::fs::read_to_string(w.home.config_path()).unwrap();
    let mut bad: Value = serde_json::from_str(&good).unwrap();
    bad["bogusKey"] = json!(true);
    std::fs::write(
        w.home.config_path(),
        serde_json::to_string_pretty(&bad).unwrap(),
    )
    .unwrap();
    w.watch_until(
        "recovery after the config restore",
        Duration::from_secs(150),
        |w| history(&w.data()).len() == before + 1 && w.healthz(),
    );
    let inc = history(&w.data())[before].clone();
    let steps = inc["steps"].as_array().unwrap();
    assert_eq!(steps[0]["name"], "restart");
    assert_eq!(
        steps[0]["status"], "failed",
        "the start with the bad config failed: {inc}"
    );
    assert_eq!(steps[1]["name"], "config");
    assert_eq!(steps[1]["status"], "done", "{inc}");
    let detail = steps[1]["detail"].as_str().unwrap();
    assert!(
        detail.contains("bogusKey") && detail.contains("restored"),
        "{detail}"
    );
    assert_eq!(inc["restored"], true);
    let now = std::fs::read_to_string(w.home.config_path()).unwrap();
    assert!(
        !now.contains("bogusKey"),
        "the last good config is back:\n{now}"
    );
    // backup-config keeps what a restore replaced in its own place (never beside the
    // gateway's config, whose `.clobbered.*` files the gateway rotates):
    // backups/<name>/replaced/<UTC>-<hash>/.
    let replaced = w.s.path("backups/openclaw.json/replaced");
    let mut clobbered = Vec::new();
    for d in std::fs::read_dir(&replaced).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
            if std::fs::read_to_string(f.path())
                .unwrap_or_default()
                .contains("bogusKey")
            {
                clobbered.push(f.path());
            }
        }
    }
    let beside: Vec<_> = std::fs::read_dir(w.home.state_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("openclaw.json.clobbered.")
        })
        .collect();
    assert!(
        beside.is_empty(),
        "nothing of ours beside the gateway's config: {beside:?}"
    );
    assert_eq!(clobbered.len(), 1, "the clobbered file is kept");
}

/// 4. The port held by another process: step 3 names it, the budget trips, one critical alert.
fn port_taken(w: &mut World) {
    w.stop_gateway("-TERM");
    let holder = std::net::TcpListener::bind(("127.0.0.1", w.port)).unwrap();
    let used = w.data()["restarts"].as_array().map(Vec::len).unwrap_or(0);
    // One more restart fits the budget: step 1's.
    w.section["max_restarts_per_hour"] = json!(used + 1);
    w.write_config();
    let before_total = w.restarts_total();
    w.watch_until(
        "the restart budget to trip",
        Duration::from_secs(150),
        |w| !w.data()["halted"].is_null(),
    );
    let d = w.data();
    let inc = &d["incident"];
    for st in inc["steps"].as_array().unwrap() {
        eprintln!(
            "  {} step {} {}: {}",
            st["at"], st["level"], st["status"], st["detail"]
        );
    }
    assert!(
        inc["level"].as_u64().unwrap() >= 3,
        "the ladder reached step 3: {inc}"
    );
    assert_eq!(inc["diagnosis_source"], "rules", "the model is down: {inc}");
    let diagnosis = inc["diagnosis"].as_str().unwrap();
    assert!(
        diagnosis.starts_with(&format!("port in use: port {}", w.port))
            && diagnosis.contains(&format!("pid {}", std::process::id())),
        "{diagnosis}"
    );
    assert!(
        !diagnosis.contains("config invalid"),
        "the earlier scenario's config failure is not taken for this one: {diagnosis}"
    );
    let bundle = std::fs::read_to_string(inc["bundle"].as_str().unwrap()).unwrap();
    assert!(
        bundle.contains("EADDRINUSE") || bundle.contains("already in use"),
        "the bundle holds the evidence"
    );
    assert!(!bundle.contains("sk-ant-"), "no key in the bundle");
    // No restart loop: more runs, no more starts, no more alerts.
    let alerts_then = w.alerts();
    w.run(&["--watch", "4s"]).code(0);
    assert_eq!(
        w.restarts_total(),
        before_total + 1,
        "one restart in this incident"
    );
    assert_eq!(w.alerts(), alerts_then, "nothing more alerted while halted");
    let critical = alerts_then.matches("stopped restarting").count();
    assert_eq!(critical, 1, "exactly one critical alert:\n{alerts_then}");
    assert_eq!(
        alerts_then
            .matches("The agent gateway is still down after")
            .count(),
        1,
        "one escalation"
    );
    let st = w.s.state(JOB);
    assert!(st["facts"]["halted"].as_str().unwrap().contains("budget"));
    drop(holder);
}
