//! The suite as an operator and as cron run it: every job on one root against the fakes,
//! and the real cron daemon firing the installed crontab.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use testkit::fakes::graph::FakeGraph;
use testkit::suite::{CHAT, OPERATOR, STRANGER, TRUSTED, write_suite};
use testkit::{Suite, bin};

/// The suite's jobs, from the registry (the repository's crontab).
fn jobs() -> Vec<&'static str> {
    common::contracts::registry::names().collect()
}

/// A healthy agent gateway for watch-gateway: `/healthz` and `/readyz` answered with the
/// captured bodies of OpenClaw 2026.9.6.
fn fake_gateway() -> testkit::fakes::Server {
    let body = |f: &str| {
        let t = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/openclaw-2026.9.6/gateway-health")
                .join(f),
        )
        .expect("captured probe answer");
        t.split_once('\n')
            .map(|(_, b)| b.trim().to_string())
            .unwrap_or_default()
    };
    let (healthz, readyz) = (body("get-healthz.txt"), body("get-readyz-ready.txt"));
    // A gateway that keeps running: its uptime grows with the clock (a replayed constant
    // uptime would look like a fresh start at every probe).
    let started = std::time::Instant::now();
    let readyz: Value = serde_json::from_str(&readyz).expect("captured /readyz is JSON");
    testkit::fakes::Server::start(0, move |r| match r.path.as_str() {
        "/healthz" => testkit::fakes::Reply::raw(200, "application/json", healthz.clone()),
        "/readyz" => {
            let mut v = readyz.clone();
            v["uptimeMs"] = json!(60_000 + started.elapsed().as_millis() as u64);
            testkit::fakes::Reply::raw(200, "application/json", v.to_string())
        }
        _ => testkit::fakes::Reply::raw(404, "text/plain", "Not Found"),
    })
    .expect("fake gateway")
}

/// The shared `gateway` section pointing at the fake gateway.
fn gateway_section(gw: &testkit::fakes::Server) -> Value {
    json!({"url": gw.url(), "config": "gateway/openclaw.json", "state_dir": "gateway/state"})
}

fn seed(graph: &FakeGraph, stranger: bool) {
    graph.add_chat(CHAT);
    graph.add_message(
        CHAT,
        OPERATOR,
        "Dana Operator",
        "<p>Please post the Q1 numbers.</p>",
    );
    graph.add_message(CHAT, TRUSTED, "Robin Kline", "<p>Thanks!</p>");
    if stranger {
        graph.add_message(CHAT, STRANGER, "Unknown", "<p>hi, who are you?</p>");
    }
}

#[test]
fn every_job_runs_silently_on_a_full_suite() {
    let s = Suite::new();
    let graph = FakeGraph::start();
    seed(&graph, true);
    std::fs::copy(repo().join("crontab"), s.path("crontab")).expect("crontab");
    let gw = fake_gateway();
    write_suite(&s, &graph, None, json!({"gateway": gateway_section(&gw)}));
    // The one thing worth a word on the first run: a stranger wrote to the agent.
    let r = s.run(&bin("poll-teams"), &[]);
    r.code(0).stderr_has(STRANGER).stderr_has("denied");
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.dump());
    for job in jobs().into_iter().filter(|j| *j != "poll-teams") {
        s.run(&bin(job), &[]).silent_success();
    }
    for job in jobs() {
        let st = s.state(job);
        assert_eq!(st["last_run"]["exit_code"], 0, "{job}: {st}");
    }
    // A second round has nothing new to do and stays silent.
    for job in jobs() {
        s.run(&bin(job), &[]).silent_success();
    }
    let inbox = count_files(&s.path("state/inbox/teams/new"));
    assert_eq!(
        inbox, 2,
        "operator + trusted messages delivered, the stranger's not"
    );
    let report = s.run(&bin("publish-report"), &["--print"]);
    report.code(0);
    for job in jobs() {
        assert!(
            report.stdout.contains(job),
            "report names {job}:\n{}",
            report.stdout
        );
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().count())
        .unwrap_or(0)
}

/// Whether this machine can run the real cron test; `Err` explains why not.
fn cron_available() -> Result<(), String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    if !root {
        return Err("not running as root (cron's crontab and daemon need root here)".into());
    }
    for tool in ["cron", "crontab"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !found {
            return Err(format!("`{tool}` is not installed (apt-get install cron)"));
        }
    }
    Ok(())
}

/// The real cron tests share root's crontab: one at a time.
static CRONTAB_IN_USE: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct CronGuard {
    original: Option<String>,
    fake_sendmail: bool,
}

impl Drop for CronGuard {
    fn drop(&mut self) {
        match &self.original {
            Some(t) => {
                let p = std::env::temp_dir().join("agent-jobs-crontab-restore");
                let _ = std::fs::write(&p, t);
                let _ = Command::new("crontab").arg(&p).status();
            }
            None => {
                let _ = Command::new("crontab").arg("-r").status();
            }
        }
        if self.fake_sendmail {
            let _ = std::fs::remove_file("/usr/sbin/sendmail");
        }
    }
}

fn crontab_l() -> Option<String> {
    let o = Command::new("crontab").arg("-l").output().ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

fn installer(root: &Path, args: &[&str]) {
    let st = Command::new("bash")
        .arg(repo().join("scripts/install-crontab"))
        .arg("--root")
        .arg(root)
        .args(args)
        .status()
        .expect("installer");
    assert!(st.success(), "install-crontab {args:?} failed");
}

fn runs(s: &Suite, job: &str) -> u64 {
    std::fs::read_to_string(s.path(&format!("state/{job}.json")))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["runs"]["total"].as_u64())
        .unwrap_or(0)
}

#[test]
fn real_cron_runs_the_installed_crontab() {
    let _one_crontab = CRONTAB_IN_USE.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(why) = cron_available() {
        if std::env::var("AGENT_JOBS_REQUIRE_CRON").as_deref() == Ok("1") {
            panic!("the real cron test must run here but cannot: {why}");
        }
        println!("SKIPPED: real_cron_runs_the_installed_crontab: {why}");
        return;
    }
    let s = Suite::new();
    let graph = FakeGraph::start();
    seed(&graph, false);
    // The jobs as cron starts them: `cd $AGENT_JOBS_ROOT && target/release/<job>`.
    std::fs::create_dir_all(s.path("target")).expect("mkdir");
    let bindir = bin("poll-teams").parent().expect("bin dir").to_path_buf();
    std::os::unix::fs::symlink(&bindir, s.path("target/release")).expect("symlink");
    // The test's copy of the crontab: every job every minute, poll-teams watching briefly.
    let tab: String = std::fs::read_to_string(repo().join("crontab"))
        .expect("crontab")
        .lines()
        .map(|l| {
            if l.contains("target/release/") && !l.starts_with('#') {
                let cmd = l.split_once(" cd ").map(|(_, c)| c).unwrap_or(l);
                format!(
                    "* * * * * cd {}\n",
                    cmd.replace("--watch 50s", "--watch 5s")
                        .replace("--watch 55s", "--watch 5s")
                )
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    s.write("crontab", &tab);
    let gw = fake_gateway();
    write_suite(
        &s,
        &graph,
        None,
        json!({
            "publish-report": {"crontab_command": ["crontab", "-l"], "grace_secs": 120},
            "gateway": gateway_section(&gw)
        }),
    );

    let mut guard = CronGuard {
        original: crontab_l(),
        fake_sendmail: false,
    };
    // Capture cron's mail: a job that prints anything makes cron run sendmail.
    let mail = s.path("mail.txt");
    if !Path::new("/usr/sbin/sendmail").exists() {
        std::fs::write(
            "/usr/sbin/sendmail",
            format!("#!/bin/sh\ncat >> {}\n", mail.display()),
        )
        .expect("sendmail");
        Command::new("chmod")
            .args(["+x", "/usr/sbin/sendmail"])
            .status()
            .expect("chmod");
        guard.fake_sendmail = true;
    } else {
        println!(
            "note: a real /usr/sbin/sendmail exists; cron's mail cannot be captured, only exit codes are checked"
        );
    }
    let before = guard.original.clone().unwrap_or_default();
    // --replace: a block left by an earlier, interrupted run of this test belongs to another
    // (temporary) root.
    installer(
        s.root(),
        &["--replace", "--from", &s.path("crontab").to_string_lossy()],
    );
    let installed = crontab_l().expect("installed crontab");
    assert!(
        installed.starts_with(&before) && installed.contains("# BEGIN agent-jobs"),
        "{installed}"
    );
    if Command::new("pgrep")
        .args(["-x", "cron"])
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        assert!(
            Command::new("cron").status().expect("start cron").success(),
            "cron did not start"
        );
    }

    // At least two runs of every job, fired by cron.
    let t0 = Instant::now();
    while jobs().iter().any(|j| runs(&s, j) < 2) {
        assert!(
            t0.elapsed() < Duration::from_secs(200),
            "cron did not run every job twice in 200 s: {:?}",
            jobs()
                .into_iter()
                .map(|j| (j, runs(&s, j)))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    for job in jobs() {
        let st = s.state(job);
        let hist = st["history"].as_array().expect("history");
        assert!(
            hist.iter().all(|h| h["exit_code"] == 0),
            "{job} history: {st}"
        );
        let lock = s.read(&format!("state/{job}.lock"));
        assert!(
            lock.contains(&format!("\"target/release/{job}")),
            "{job} was started by cron's line: {lock}"
        );
    }
    if guard.fake_sendmail {
        assert_eq!(s.read("mail.txt"), "", "cron mailed output");
    }

    // Pause compact-memory by re-running the installer; it stops running, the others go on.
    installer(
        s.root(),
        &[
            "--from",
            &s.path("crontab").to_string_lossy(),
            "--pause",
            "compact-memory",
        ],
    );
    // Let any run started before the change finish, then count.
    std::thread::sleep(Duration::from_secs(
        65 - (chrono::Utc::now().timestamp() % 60) as u64 % 60,
    ));
    let paused_at = runs(&s, "compact-memory");
    let others_at = runs(&s, "backup-config");
    let t1 = Instant::now();
    while runs(&s, "backup-config") < others_at + 1 {
        assert!(
            t1.elapsed() < Duration::from_secs(130),
            "backup-config stopped running too"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    assert_eq!(
        runs(&s, "compact-memory"),
        paused_at,
        "a commented-out job must not run"
    );
    let report = s.run(&bin("publish-report"), &["--print"]);
    report.code(0);
    let line = report
        .stdout
        .lines()
        .find(|l| l.contains("compact-memory"))
        .unwrap_or_else(|| panic!("no compact-memory line:\n{}", report.stdout))
        .to_lowercase();
    assert!(
        line.contains("paused"),
        "paused, not failing: {line}\n{}",
        report.stdout
    );
    assert!(
        !line.contains("overdue") && !line.contains("fail"),
        "{line}"
    );
    if guard.fake_sendmail {
        assert_eq!(s.read("mail.txt"), "", "cron mailed output");
    }

    // Uninstall leaves the user's other lines byte-identical.
    installer(s.root(), &["--uninstall"]);
    assert_eq!(crontab_l().unwrap_or_default(), before);
    drop(guard);
}

/// Stops the cron daemon at the end of a test, if the test started it.
struct StartedCron(bool);

impl Drop for StartedCron {
    fn drop(&mut self) {
        if !self.0 {
            return;
        }
        for f in ["/run/crond.pid", "/var/run/crond.pid"] {
            if let Ok(pid) = std::fs::read_to_string(f) {
                let _ = Command::new("kill").arg(pid.trim()).status();
                return;
            }
        }
    }
}

/// Start cron unless it runs; the guard stops it again if it was started here.
fn ensure_cron() -> StartedCron {
    let running = Command::new("pgrep")
        .args(["-x", "cron"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !running {
        assert!(
            Command::new("cron").status().expect("start cron").success(),
            "cron did not start"
        );
    }
    StartedCron(!running)
}

/// Capture cron's mail in `mail` when this machine has no sendmail; `false` if it has one.
fn capture_cron_mail(mail: &Path) -> bool {
    if Path::new("/usr/sbin/sendmail").exists() {
        println!("note: a real /usr/sbin/sendmail exists; cron's mail cannot be captured");
        return false;
    }
    std::fs::write(
        "/usr/sbin/sendmail",
        format!("#!/bin/sh\ncat >> {}\n", mail.display()),
    )
    .expect("sendmail");
    Command::new("chmod")
        .args(["+x", "/usr/sbin/sendmail"])
        .status()
        .expect("chmod");
    true
}

/// watch-jobs' facts once a run has recorded them (`Null` before).
fn watch_facts(s: &Suite) -> Value {
    serde_json::from_str::<Value>(&s.read("state/watch-jobs.json"))
        .map(|v| v["facts"].clone())
        .unwrap_or(Value::Null)
}

/// The outage of `job` in `list` (`open` or `ended`) of watch-jobs' facts.
fn outage_of(facts: &Value, list: &str, job: &str) -> Option<Value> {
    facts[list]
        .as_array()
        .and_then(|o| o.iter().find(|x| x["job"] == job))
        .cloned()
}

fn utc_now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

fn time_of(v: &Value) -> chrono::DateTime<chrono::Utc> {
    let s = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&chrono::Utc)
}

/// The dead-man check under the real cron daemon, every minute on a compressed crontab:
/// backup-config's line points at a program that does nothing (it stopped), compact-memory's
/// line is commented out (paused), check-ratelimit runs normally. watch-jobs (30 s into each
/// minute, 20 s grace) alerts the stopped job within its grace plus one check interval, says
/// nothing about the paused one, and sends the recovery message once the job runs again.
#[test]
fn real_cron_watch_jobs_alerts_a_stopped_job_not_a_paused_one() {
    let _one_crontab = CRONTAB_IN_USE.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(why) = cron_available() {
        if std::env::var("AGENT_JOBS_REQUIRE_CRON").as_deref() == Ok("1") {
            panic!("the real cron test must run here but cannot: {why}");
        }
        println!("SKIPPED: real_cron_watch_jobs_alerts_a_stopped_job_not_a_paused_one: {why}");
        return;
    }
    let t0 = Instant::now();
    let s = Suite::new();
    let graph = FakeGraph::start();
    seed(&graph, false);
    std::fs::create_dir_all(s.path("target")).expect("mkdir");
    let bindir = bin("watch-jobs").parent().expect("bin dir").to_path_buf();
    std::os::unix::fs::symlink(&bindir, s.path("target/release")).expect("symlink");
    s.write(
        "noop/backup-config",
        "#!/bin/sh\n# stands in for a job that stopped working\nexit 0\n",
    );
    Command::new("chmod")
        .args(["+x", &s.path("noop/backup-config").to_string_lossy()])
        .status()
        .expect("chmod");
    let alerts_log = s.path("alerts.log");
    write_suite(
        &s,
        &graph,
        None,
        json!({
            "runtime": {"alerts": {"command": ["sh", "-c", format!("cat >> {0}; echo >> {0}", alerts_log.display())]}},
            "watch-jobs": {"crontab": null, "crontab_command": ["crontab", "-l"],
                "grace_secs": {"backup-config": 20, "check-ratelimit": 20, "compact-memory": 20}}
        }),
    );
    // Every job has run once (by hand, as an operator would before installing).
    for job in ["check-ratelimit", "compact-memory", "backup-config"] {
        s.run(&bin(job), &[]).code(0);
    }
    let backup_ran = time_of(&s.state("backup-config")["last_run"]["started_at"]);
    let tab = |backup: &str| {
        format!(
            "SHELL=/bin/sh\nPATH=/usr/local/bin:/usr/bin:/bin\nAGENT_JOBS_ROOT=/srv/agent-jobs\n\
             * * * * * cd \"$AGENT_JOBS_ROOT\" && target/release/check-ratelimit\n\
             * * * * * cd \"$AGENT_JOBS_ROOT\" && {backup}\n\
             # * * * * * cd \"$AGENT_JOBS_ROOT\" && target/release/compact-memory\n\
             * * * * * sleep 30; cd \"$AGENT_JOBS_ROOT\" && target/release/watch-jobs\n"
        )
    };
    s.write("crontab.stopped", &tab("noop/backup-config"));
    s.write("crontab.running", &tab("target/release/backup-config"));

    let mut guard = CronGuard {
        original: crontab_l(),
        fake_sendmail: false,
    };
    guard.fake_sendmail = capture_cron_mail(&s.path("mail.txt"));
    // Install well before a minute starts, so cron loads it for that minute.
    if utc_now().timestamp() % 60 >= 50 {
        std::thread::sleep(Duration::from_secs(12));
    }
    installer(
        s.root(),
        &["--from", &s.path("crontab.stopped").to_string_lossy()],
    );
    let _cron = ensure_cron();

    // The stopped job is alerted, once its grace has passed (and the run that alerted has
    // recorded its outage).
    let alerted = testkit::wait_until(Duration::from_secs(150), || {
        s.read("alerts.log").contains("backup-config")
            && outage_of(&watch_facts(&s), "open", "backup-config").is_some()
    });
    let alerted_at = utc_now();
    assert!(
        alerted,
        "no alert for the stopped job in 150 s\nalerts: {}\nwatch-jobs log: {}\nstate: {}",
        s.read("alerts.log"),
        s.log("watch-jobs"),
        s.read("state/watch-jobs.json")
    );
    let facts = watch_facts(&s);
    let outage = outage_of(&facts, "open", "backup-config").expect("open outage");
    let since = time_of(&outage["since"]);
    let detected = time_of(&outage["detected_at"]);
    let grace = chrono::Duration::seconds(20);
    assert!(
        since > backup_ran,
        "the first missed run follows its last real one ({backup_ran}): {outage}"
    );
    assert!(detected >= since + grace, "not before its grace: {outage}");
    assert!(
        detected <= since + grace + chrono::Duration::seconds(60 + 15),
        "within its grace plus one check interval (a minute here): {outage}"
    );
    assert!(alerted_at - since <= grace + chrono::Duration::seconds(60 + 20));
    let status = |job: &str| {
        facts["jobs"]
            .as_array()
            .and_then(|j| j.iter().find(|x| x["job"] == job))
            .map(|x| x["status"].as_str().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    assert_eq!(status("backup-config"), "overdue", "{facts}");
    assert_eq!(status("compact-memory"), "paused", "{facts}");
    assert_eq!(status("check-ratelimit"), "ok", "{facts}");
    let alerts = s.read("alerts.log");
    assert_eq!(alerts.matches("[agent-jobs]").count(), 1, "{alerts}");
    assert!(alerts.contains("backup-config is overdue"), "{alerts}");
    assert!(
        !alerts.contains("compact-memory") && !alerts.contains("check-ratelimit"),
        "{alerts}"
    );

    // It runs again: one recovery message.
    installer(
        s.root(),
        &["--from", &s.path("crontab.running").to_string_lossy()],
    );
    let recovered = testkit::wait_until(Duration::from_secs(100), || {
        s.read("alerts.log").contains("backup-config ran again at")
            && outage_of(&watch_facts(&s), "ended", "backup-config").is_some()
    });
    // Nothing of this test runs after this minute.
    installer(
        s.root(),
        &[
            "--uninstall",
            "--from",
            &s.path("crontab.running").to_string_lossy(),
        ],
    );
    assert!(
        recovered,
        "no recovery message in 100 s\nalerts: {}\nwatch-jobs log: {}",
        s.read("alerts.log"),
        s.log("watch-jobs")
    );
    let alerts = s.read("alerts.log");
    assert_eq!(alerts.matches("[agent-jobs]").count(), 2, "{alerts}");
    assert!(
        alerts.contains(&format!(
            "after being overdue since {}",
            since.format("%Y-%m-%d %H:%M UTC")
        )),
        "{alerts}"
    );
    let facts = watch_facts(&s);
    assert_eq!(facts["open"], json!([]), "{facts}");
    assert_eq!(facts["ended"][0]["job"], "backup-config", "{facts}");
    if guard.fake_sendmail {
        let mail = s.read("mail.txt");
        assert!(
            mail.contains("ALERT [warning] job-overdue/backup-config/"),
            "cron mails the warning watch-jobs prints: {mail}"
        );
        assert!(
            !mail.contains("ran again"),
            "a recovery is not mailed: {mail}"
        );
    }
    for job in ["check-ratelimit", "watch-jobs"] {
        let st = s.state(job);
        let hist = st["history"].as_array().expect("history");
        assert!(hist.iter().all(|h| h["exit_code"] == 0), "{job}: {st}");
    }
    assert_eq!(
        crontab_l().unwrap_or_default(),
        guard.original.clone().unwrap_or_default()
    );
    println!("real cron watch-jobs test: {} s", t0.elapsed().as_secs());
    drop(guard);
}

fn collect_secret_files(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k.ends_with("_file")
                    && let Some(p) = x.as_str()
                {
                    out.push(p.to_string());
                }
                collect_secret_files(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_secret_files(x, out)),
        _ => {}
    }
}

#[test]
fn every_job_accepts_config_example() {
    let s = Suite::new();
    let example = repo().join("config.example.json");
    // --check-config reads the secret files the config names (and nothing else): give it
    // realistic ones, as an operator would have.
    let text = std::fs::read_to_string(&example).expect("example");
    let v: Value = serde_json::from_str(&text).expect("example parses");
    let mut files = Vec::new();
    collect_secret_files(&v, &mut files);
    for f in files {
        let content = if f.contains("url") {
            "https://hooks.example.invalid/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"
        } else {
            "example-secret-value"
        };
        s.write(&f, content);
        std::fs::set_permissions(
            s.path(&f),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .expect("chmod");
    }
    // ... and the agent gateway's own config where the example's `gateway` section says
    // (`~/.openclaw/openclaw.json`), with hooks enabled for poll-teams' delivery.
    let mut gw: Value = serde_json::from_str(
        r#"{"meta": {"lastTouchedVersion": "2026.9.6"}, "gateway": {"mode": "local", "port": 18789, "bind": "loopback"},
            "hooks": {"enabled": true, "token": "example-hook-token-0123456789", "path": "/hooks"},
            "agents": {"defaults": {"workspace": "~/.openclaw/workspace"}}}"#,
    )
    .expect("gateway config");
    gw["logging"] = json!({"level": "info"});
    s.write(
        "home/.openclaw/openclaw.json",
        &serde_json::to_string_pretty(&gw).expect("json"),
    );
    for job in jobs() {
        s.run(
            &bin(job),
            &["--check-config", "--config", &example.to_string_lossy()],
        )
        .code(0)
        .stdout_has("is valid");
    }
}
