//! backup-config against the real gateway (OpenClaw, pinned in `scripts/openclaw.pin`), through
//! the binary as cron runs it. One gateway home and one gateway server for the whole binary
//! (a start costs 11–35 s, a CLI call 2–15 s): one test runs the scenario in order and prints
//! the time of each step.
//!
//! 1. first run: snapshot, the gateway's validator agrees;
//! 2. an unknown key only the gateway's validator catches: invalid, both verdicts listed;
//!    our restore puts the last good version back, keeping what it replaced in our directory;
//! 3. `doctor --fix` on a config with a non-JSON prefix strips it and rotates its 32
//!    `.clobbered.*` files: nothing of ours is touched (it also starts the `.bak` ring);
//! 4. the gateway's own rollback: `gateway.mode` removed by hand, `gateway run` puts its
//!    `.bak` back by itself; the next run alerts once per rollback (this one, and doctor's
//!    prefix strip, logged in the default `/tmp/openclaw` log) with what was lost;
//! 5. a database snapshot taken while the gateway runs passes `PRAGMA integrity_check` (or
//!    the gateway's own verify) and restores;
//! 6. a cron job deleted through the gateway's CLI: "cron jobs dropped", once;
//! 7. the gateway stopped: the cron check is skipped and says why, the run does not fail;
//!    `$include`: `openclaw config set` on an included section is a new version of the set;
//!    a restore puts both files back; a kill in the middle of a set restore is finished by
//!    the next run.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use testkit::gateway::{self, Home, Provider};
use testkit::{Run, Suite};

const BIN: &str = env!("CARGO_BIN_EXE_backup-config");

fn run(s: &Suite, args: &[&str]) -> Run {
    s.run(Path::new(BIN), args)
}

fn alerts(s: &Suite) -> Vec<String> {
    s.read("alerts.txt")
        .split("\n---\n")
        .filter(|a| !a.trim().is_empty())
        .map(String::from)
        .collect()
}

/// The suite's config: watch the gateway's config, found through the `gateway` section.
fn configure(s: &Suite, home: &Home, section: Value) {
    let alerts = s.path("alerts.txt");
    let mut bc =
        json!({ "files": [{ "path": home.config_path(), "validator_timeout_secs": 180 }] });
    if let (Some(o), Value::Object(extra)) = (bc.as_object_mut(), section) {
        o.extend(extra);
    }
    s.config(json!({
        "runtime": { "alerts": { "command": [
            "sh", "-c", "cat >> \"$0\"; printf '\\n---\\n' >> \"$0\"", alerts.display().to_string()
        ] } },
        "gateway": {
            "config": home.config_path(),
            "state_dir": home.state_dir(),
            "openclaw": home.install.openclaw,
            "cli_timeout_secs": 180,
            "env": { "HOME": home.home(), "TZ": "UTC", "CI": "1" },
        },
        "backup-config": bc,
    }));
}

fn data(s: &Suite) -> Value {
    s.state("backup-config")["data"].clone()
}

/// Every file under `dir` with its sha256 (our snapshots and kept copies).
fn hashes(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.clone(),
                    backup_config::store::sha256_hex(&fs::read(&p).unwrap()),
                );
            }
        }
    }
    out
}

/// The gateway's `.clobbered.*` files next to its config.
fn gateway_clobbered(home: &Home) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(home.state_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("openclaw.json.clobbered."))
        .collect();
    v.sort();
    v
}

/// `PRAGMA integrity_check` with the sqlite3 shell, if it is installed.
fn integrity(db: &Path) -> Option<String> {
    let out = std::process::Command::new("sqlite3")
        .arg(db)
        .arg("pragma integrity_check;")
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

struct Clock {
    t0: Instant,
    last: Instant,
}

impl Clock {
    fn step(&mut self, what: &str) {
        let now = Instant::now();
        eprintln!(
            "[{:>6.1} s] {what} ({:.1} s)",
            (now - self.t0).as_secs_f64(),
            (now - self.last).as_secs_f64()
        );
        self.last = now;
    }
}

#[test]
fn backup_config_against_the_real_gateway() {
    let Some(install) = gateway::require("backup-config against the real gateway") else {
        return;
    };
    let t0 = Instant::now();
    let mut clock = Clock { t0, last: t0 };
    let model = fakes::model::FakeModel::start().unwrap();
    let home = Home::new(&install, Provider::anthropic(&model.url()));
    let port = gateway::free_port();
    let mut base = home.base_config();
    base["gateway"]["port"] = json!(port);
    home.write_config(&base);
    // 32 older repairs of the gateway's (its limit): its next one deletes the oldest
    for i in 0..32 {
        let name = format!("openclaw.json.clobbered.2020-01-01T00-00-{i:02}-000Z");
        fs::write(home.state_dir().join(name), "{}").unwrap();
    }
    let s = Suite::new();
    configure(&s, &home, json!({ "gateway_state": { "enabled": "off" } }));

    first_run(&s);
    clock.step("1. first run");
    unknown_key_and_our_restore(&s, &home);
    clock.step("2. unknown key, restore");
    doctor_rotation_touches_nothing_of_ours(&s, &home);
    clock.step("3. doctor --fix rotation");
    let mut server = the_gateways_own_rollback(&s, &home, port, &mut clock);
    clock.step("4. the gateway's rollbacks alerted");
    database_snapshot_while_running(&s, &home);
    clock.step("5. database snapshot checked and restored");
    cron_job_deleted(&s, &home);
    clock.step("6. cron job deleted, alerted once");
    server.stop();
    includes(&s, &home, &mut clock);
    clock.step("7. cron check skipped; $include sets");
    let total = t0.elapsed();
    eprintln!("real-gateway scenario: {:.1} s", total.as_secs_f64());
    drop(model);
}

fn first_run(s: &Suite) {
    let r = run(s, &[]);
    r.code(0);
    let d = data(s);
    let f = &d["files"]["openclaw.json"];
    assert_eq!(f["status"], "good", "{}", r.dump());
    assert_eq!(f["verdicts"][0]["verdict"], "ok");
    assert_eq!(f["verdicts"][1]["validator"], "openclaw");
    assert_eq!(f["verdicts"][1]["verdict"], "ok", "{}", r.dump());
    assert_eq!(
        f["gateway_artifacts"].as_array().unwrap().len(),
        32,
        "taken note of, not alerted"
    );
    assert!(alerts(s).is_empty());
}

fn unknown_key_and_our_restore(s: &Suite, home: &Home) {
    let mut c = home.read_config();
    c["bogusKey"] = json!(true);
    home.write_config(&c);
    let r = run(s, &[]);
    r.code(0);
    let a = alerts(s);
    assert_eq!(a.len(), 1, "{a:?}\n{}", r.dump());
    assert!(
        a[0].contains("the gateway's validator (`openclaw config validate`) rejected it: Unrecognized key: \"bogusKey\""),
        "{}",
        a[0]
    );
    run(s, &["list"]).code(0).stdout_has(
        "validators: built-in: ok; openclaw: rejected (Unrecognized key: \"bogusKey\")",
    );
    let r = run(s, &["restore"]);
    r.code(0).stdout_has("Restored ");
    assert!(
        !home
            .read_config()
            .as_object()
            .unwrap()
            .contains_key("bogusKey")
    );
    let kept: Vec<_> = fs::read_dir(s.path("backups/openclaw.json/replaced"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(
        kept.len(),
        1,
        "what the restore replaced is ours, in our directory"
    );
    assert_eq!(
        gateway_clobbered(home).len(),
        32,
        "nothing of ours under the gateway's names"
    );
}

fn doctor_rotation_touches_nothing_of_ours(s: &Suite, home: &Home) {
    let ours = hashes(&s.path("backups"));
    assert!(
        ours.keys()
            .any(|p| p.to_string_lossy().contains("/replaced/"))
    );
    let text = fs::read_to_string(home.config_path()).unwrap();
    fs::write(home.config_path(), format!("Config saved.\n{text}")).unwrap();
    let d = home.doctor_fix();
    let after = gateway_clobbered(home);
    assert!(
        !after.contains(&"openclaw.json.clobbered.2020-01-01T00-00-00-000Z".to_string()),
        "the gateway rotated its oldest\n{after:?}\n{}",
        d.dump()
    );
    assert!(after.len() <= 32, "{after:?}");
    assert!(
        after
            .iter()
            .any(|n| n.contains(".clobbered.20") && !n.contains("2020-")),
        "{after:?}"
    );
    assert_eq!(
        hashes(&s.path("backups")),
        ours,
        "doctor --fix touched our files\n{}",
        d.dump()
    );
    run(s, &["verify"]).code(0);
    let bak = fs::read_to_string(home.state_dir().join("openclaw.json.bak")).unwrap();
    assert!(
        bak.contains("\"mode\""),
        "doctor's writes started the .bak ring: {bak}"
    );
}

fn the_gateways_own_rollback(
    s: &Suite,
    home: &Home,
    port: u16,
    clock: &mut Clock,
) -> gateway::Server {
    let mut c = home.read_config();
    c["gateway"].as_object_mut().unwrap().remove("mode");
    c["gateway"]["port"] = json!(port);
    home.write_config(&c);
    let before_start = gateway_clobbered(home);
    let server = home.start(port, Duration::from_secs(150));
    clock.step("   gateway started");
    let new: Vec<String> = gateway_clobbered(home)
        .into_iter()
        .filter(|n| !before_start.contains(n))
        .collect();
    assert_eq!(
        new.len(),
        1,
        "the gateway restored its .bak by itself: {new:?}"
    );
    assert_eq!(home.read_config()["gateway"]["mode"], "local");
    // a cron job of the user's, listed by the next run
    home.cli(
        &[
            "cron",
            "add",
            "--name",
            "rj-probe",
            "--cron",
            "0 7 * * *",
            "--message",
            "probe",
            "--no-deliver",
            "--disabled",
            "--json",
        ],
        Duration::from_secs(120),
    )
    .ok();
    configure(
        s,
        home,
        json!({ "gateway_state": { "enabled": "on", "min_interval_hours": 0, "keep_last": 5 } }),
    );
    let before = alerts(s).len();
    let r = run(s, &[]);
    r.code(0);
    let a = alerts(s);
    assert_eq!(
        a.len(),
        before + 2,
        "doctor's strip and the start's restore\n{a:?}\n{}",
        r.dump()
    );
    let restored = a[before..]
        .iter()
        .find(|t| t.contains("auto-restored from backup"))
        .unwrap_or_else(|| panic!("{a:?}"));
    for needle in [
        "The gateway rolled back",
        "auto-restored from backup: gateway-mode-missing-vs-last-good",
        "What was lost (secrets masked):",
        "+    \"mode\": \"local\",",
        &format!(
            "kept by the gateway as {}",
            home.state_dir().join(&new[0]).display()
        ),
        "To apply it again: the lost version has no `gateway.mode`",
    ] {
        assert!(
            restored.contains(needle),
            "alert lacks {needle:?}:\n{restored}"
        );
    }
    let stripped = a[before..]
        .iter()
        .find(|t| t.contains("stripped a non-JSON prefix"))
        .unwrap_or_else(|| panic!("doctor's strip, logged in the default log: {a:?}"));
    assert!(stripped.contains("-Config saved."), "{stripped}");
    for t in &a[before..] {
        assert!(
            !t.contains(&home.provider.api_key),
            "the API key leaked:\n{t}"
        );
    }
    eprintln!("--- the rollback alert ---\n{restored}\n---");
    let d = data(s);
    let kinds: Vec<&str> = d["rollbacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"auto-restored from backup"), "{kinds:?}");
    let probes = d["cron"]["jobs"]
        .as_object()
        .unwrap()
        .values()
        .filter(|n| *n == "rj-probe")
        .count();
    assert_eq!(probes, 1, "{}", r.dump());
    // (the runs of step 6 show that these rollbacks are not alerted again)
    server
}

fn database_snapshot_while_running(s: &Suite, home: &Home) {
    let d = data(s);
    let db = &d["databases"]["global"];
    let last = db["snapshots"].as_array().unwrap().last().unwrap().clone();
    let dir = Path::new(db["repository"].as_str().unwrap()).join(last["id"].as_str().unwrap());
    assert!(last["cron_jobs"].as_u64().unwrap() >= 1, "{last}");
    if let Some(ok) = integrity(&dir.join("database.sqlite")) {
        assert_eq!(ok, "ok", "PRAGMA integrity_check");
    } else {
        // no sqlite3 shell: the gateway's own verify runs the integrity check
        eprintln!("sqlite3 is not installed: the integrity check is the gateway's verify");
        home.cli(
            &[
                "backup",
                "sqlite",
                "verify",
                &dir.display().to_string(),
                "--json",
            ],
            Duration::from_secs(120),
        )
        .ok();
    }
    let target = home.home().join("restored.sqlite");
    home.cli(
        &[
            "backup",
            "sqlite",
            "restore",
            &dir.display().to_string(),
            "--target",
            &target.display().to_string(),
            "--json",
        ],
        Duration::from_secs(120),
    )
    .ok();
    if let Some(ok) = integrity(&target) {
        assert_eq!(ok, "ok", "the restored database");
    }
    run(s, &["verify"])
        .code(0)
        .stdout_has("gateway global database: 1 of 1 snapshots intact");
}

fn cron_job_deleted(s: &Suite, home: &Home) {
    let d = data(s);
    let id = d["cron"]["jobs"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, n)| *n == "rj-probe")
        .map(|(i, _)| i.clone())
        .unwrap();
    home.cli(&["cron", "rm", &id, "--json"], Duration::from_secs(120))
        .ok();
    configure(
        s,
        home,
        json!({ "gateway_state": { "enabled": "on", "min_interval_hours": 24, "keep_last": 5 } }),
    );
    let before = alerts(s).len();
    let r = run(s, &[]);
    r.code(0);
    let a = alerts(s);
    assert_eq!(a.len(), before + 1, "{a:?}\n{}", r.dump());
    let t = a.last().unwrap();
    assert!(
        t.contains("cron jobs dropped from") && t.contains(&format!("\"rj-probe\" ({id})")),
        "{t}"
    );
    assert!(t.contains("openclaw backup sqlite restore"), "{t}");
    run(s, &[]).code(0);
    assert_eq!(
        alerts(s).len(),
        before + 1,
        "alerted once (and the rollbacks of step 4 not again)"
    );
}

fn includes(s: &Suite, home: &Home, clock: &mut Clock) {
    let mut c = home.read_config();
    let agents = c.as_object_mut().unwrap().remove("agents").unwrap();
    c["agents"] = json!({ "$include": "./agents.json5" });
    let agents_path = home.state_dir().join("agents.json5");
    let agents_text = serde_json::to_string_pretty(&agents).unwrap();
    fs::write(
        &agents_path,
        format!("// the agents, split out\n{agents_text}\n"),
    )
    .unwrap();
    home.write_config(&c);
    // the gateway is stopped: the cron check says so and the run does not fail
    configure(
        s,
        home,
        json!({ "gateway_state": { "enabled": "on", "min_interval_hours": 24, "keep_last": 5 } }),
    );
    let r = run(s, &[]);
    r.code(0);
    let d = data(s);
    let skipped = d["cron"]["skipped"].as_str().unwrap_or_default();
    assert!(
        skipped.contains("cron list --all --json` exit 1"),
        "{skipped}\n{}",
        r.dump()
    );
    run(s, &["list"])
        .code(0)
        .stdout_has("gateway cron jobs: not checked at the last run");
    let f = &d["files"]["openclaw.json"];
    assert_eq!(f["status"], "good", "{}", r.dump());
    assert_eq!(
        f["verdicts"][1]["verdict"],
        "ok",
        "the gateway validated the set (a private copy with its include)\n{}",
        r.dump()
    );
    let v1 = f["snapshots"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(v1["members"].as_array().unwrap().len(), 2, "{v1}");
    let root1 = fs::read(home.config_path()).unwrap();
    let agents1 = fs::read(&agents_path).unwrap();
    clock.step("   set snapshotted, cron check skipped");
    home.cli(
        &["config", "set", "agents.defaults.heartbeat.every", "2h"],
        Duration::from_secs(120),
    )
    .ok();
    assert_eq!(
        fs::read(home.config_path()).unwrap(),
        root1,
        "the gateway wrote the included file only"
    );
    assert_ne!(fs::read(&agents_path).unwrap(), agents1);
    clock.step("   openclaw config set on the included section");
    let mut cfg = json!({ "gateway_state": { "enabled": "off" } });
    cfg["files"] = json!([{ "path": home.config_path(), "gateway_checks": "off" }]);
    configure(s, home, cfg);
    let r = run(s, &[]);
    r.code(0);
    let snaps = data(s)["files"]["openclaw.json"]["snapshots"]
        .as_array()
        .unwrap()
        .clone();
    let at = snaps.iter().position(|x| x["id"] == v1["id"]).unwrap();
    assert_eq!(
        snaps.len(),
        at + 2,
        "a new version of the set\n{}",
        r.dump()
    );
    let mut c = home.read_config();
    c["logging"]["level"] = json!("warn");
    home.write_config(&c);
    run(s, &[]).code(0);
    let root3 = fs::read(home.config_path()).unwrap();
    let agents3 = fs::read(&agents_path).unwrap();
    let v3 = data(s)["files"]["openclaw.json"]["snapshots"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = run(s, &["restore", v1["id"].as_str().unwrap()]);
    r.code(0).stdout_has("The 2 files it replaced");
    assert_eq!(fs::read(home.config_path()).unwrap(), root1);
    assert_eq!(fs::read(&agents_path).unwrap(), agents1);
    // killed after the first file of the set: the next run finishes it
    let mut k = s.cmd(Path::new(BIN));
    k.args(["restore", &v3])
        .env("BACKUP_CONFIG_TEST_KILL_AFTER_FILES", "1");
    let killed = s.run_cmd(&mut k);
    assert_ne!(killed.code, 0);
    assert_eq!(fs::read(&agents_path).unwrap(), agents3);
    assert_eq!(
        fs::read(home.config_path()).unwrap(),
        root1,
        "torn set until the next run"
    );
    let r = run(s, &[]);
    r.code(0).stderr_has("finished after an interrupted run");
    assert_eq!(fs::read(home.config_path()).unwrap(), root3);
    assert_eq!(fs::read(&agents_path).unwrap(), agents3);
}
