//! Suite-wide fault torture: all five jobs on schedules compressed into fractions of a second,
//! against the fake services, while a fault injector SIGKILLs random runs, makes the fake
//! Graph / model / webhook throttle, fail, time out and drop connections, and (as root) fills
//! the state directory's filesystem (a small tmpfs) for a while. Afterwards every promise is
//! checked: state parses, inbox == the fake's messages exactly, no report published twice, no
//! snapshot lost or corrupt, every memory file in place or in the archive, ENOSPC reported
//! clearly.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use testkit::fakes::graph::{FakeGraph, Fault as GFault, Route};
use testkit::fakes::model::{FakeModel, Fault as MFault};
use testkit::fakes::webhook::{Fault as WFault, Webhook};
use testkit::suite::{CHAT, GATEWAY_CONFIG, OPERATOR, STRANGER, TRUSTED, write_suite};
use testkit::{Suite, bin};

const CHAOS: Duration = Duration::from_secs(30);

struct Mount(PathBuf);
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
}

/// A small xorshift so the schedule is reproducible from the seed printed at the start.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[test]
fn the_suite_keeps_its_promises_under_faults() {
    let seed = std::env::var("TORTURE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::process::id() as u64 * 2_654_435_761 + 1);
    println!("torture seed {seed} (set TORTURE_SEED to replay)");
    let s = Suite::new();
    // As root, the state directory is a small tmpfs that the injector fills up.
    let mount = if is_root() {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs"])
            .arg(s.path("state"))
            .status()
            .map(|st| st.success())
            .unwrap_or(false);
        ok.then(|| Mount(s.path("state")))
    } else {
        None
    };
    if mount.is_none() {
        println!("note: not root or mount failed: the disk-full phase is skipped");
    }
    let graph = Arc::new(FakeGraph::start());
    graph.add_chat(CHAT);
    let model = Arc::new(FakeModel::start().expect("model"));
    let hook = Arc::new(Webhook::start().expect("webhook"));
    s.write("secrets/model-key", "sk-ant-fake-torture-key");
    let files = write_suite(
        &s,
        &graph,
        Some(&hook.url()),
        json!({
            "compact-memory": {"model": {
                "enabled": true, "provider": "anthropic", "url": model.anthropic_url(),
                "model": "claude-test", "api_key_file": "secrets/model-key",
                "timeout_secs": 2, "max_retries": 1
            }},
            "publish-report": {"destinations": [
                {"name": "archive", "type": "directory", "path": "reports/published"},
                {"name": "ops-webhook", "type": "webhook", "url": hook.url(), "timeout_secs": 2}
            ]}
        }),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let stderr_lines: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut threads = Vec::new();

    // The jobs, each on a compressed schedule, some runs killed at random moments.
    let jobs = [
        "poll-teams",
        "check-ratelimit",
        "compact-memory",
        "backup-config",
        "publish-report",
    ];
    for (i, job) in jobs.iter().enumerate() {
        let stop = stop.clone();
        let lines = stderr_lines.clone();
        let root = s.root().to_path_buf();
        let job = job.to_string();
        let mut rng = Rng(seed ^ ((i as u64 + 1) * 0x9e37_79b9));
        threads.push(std::thread::spawn(move || {
            let mut kills = 0;
            while !stop.load(Ordering::Relaxed) {
                let mut c = Command::new(bin(&job));
                c.env_clear()
                    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                    .env("HOME", root.join("home"))
                    .env("AGENT_JOBS_ROOT", &root)
                    .current_dir(&root)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped());
                let child = c.spawn().expect("spawn job");
                if rng.below(100) < 30 {
                    std::thread::sleep(Duration::from_millis(rng.below(400)));
                    testkit::signal(&child, 9);
                    kills += 1;
                }
                let out = child.wait_with_output().expect("wait");
                for l in String::from_utf8_lossy(&out.stderr).lines() {
                    lines
                        .lock()
                        .expect("lock")
                        .push((job.clone(), l.to_string()));
                }
                std::thread::sleep(Duration::from_millis(50 + rng.below(250)));
            }
            kills
        }));
    }

    // People write to the agent.
    let expected: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    {
        let (stop, graph, expected) = (stop.clone(), graph.clone(), expected.clone());
        let mut rng = Rng(seed ^ 0x5555);
        threads.push(std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let (who, name) = match rng.below(3) {
                    0 => (OPERATOR, "Dana"),
                    1 => (TRUSTED, "Robin"),
                    _ => (STRANGER, "Stranger"),
                };
                let id = graph.add_message(CHAT, who, name, &format!("<p>message {n}</p>"));
                if who != STRANGER {
                    expected.lock().expect("lock").insert(id);
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(80 + rng.below(120)));
            }
            n
        }));
    }

    // The gateway logs rate limits now and then; its config is edited (validly) now and then.
    {
        let (stop, root) = (stop.clone(), s.root().to_path_buf());
        threads.push(std::thread::spawn(move || {
            let mut n = 0u64;
            let today = chrono::Utc::now().format("%Y-%m-%d");
            let log = root.join(format!("gateway/logs/openclaw-{today}.log"));
            let cfg = root.join("gateway/openclaw.json");
            while !stop.load(Ordering::Relaxed) {
                let now = chrono::Utc::now().to_rfc3339();
                let line = if n.is_multiple_of(3) {
                    format!("{{\"0\":\"{{\\\"subsystem\\\":\\\"agent/embedded\\\"}}\",\"1\":\"embedded run agent end: runId=r{n} isError=true error=⚠️ API rate limit reached. Please try again later.\",\"_meta\":{{\"date\":\"{now}\",\"logLevelName\":\"WARN\"}},\"time\":\"{now}\"}}\n")
                } else {
                    format!("{{\"0\":\"{{\\\"subsystem\\\":\\\"gateway\\\"}}\",\"1\":\"heartbeat {n}\",\"_meta\":{{\"date\":\"{now}\",\"logLevelName\":\"INFO\"}},\"time\":\"{now}\"}}\n")
                };
                use std::io::Write;
                if let Ok(mut f) = std::fs::OpenOptions::new().append(true).create(true).open(&log) {
                    let _ = f.write_all(line.as_bytes());
                }
                if n % 10 == 5 {
                    let text = GATEWAY_CONFIG.replace("\"port\": 18789", &format!("\"port\": {}", 18000 + n));
                    let tmp = root.join("gateway/.openclaw.json.edit");
                    let _ = std::fs::write(&tmp, text);
                    let _ = std::fs::rename(&tmp, &cfg);
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(150));
            }
            n
        }));
    }

    // The fault injector.
    {
        let (stop, graph, model, hook) = (stop.clone(), graph.clone(), model.clone(), hook.clone());
        let state = s.path("state");
        let filling = mount.is_some();
        let mut rng = Rng(seed ^ 0xabcdef);
        threads.push(std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut fills = 0;
            while !stop.load(Ordering::Relaxed) {
                match rng.below(8) {
                    0 => graph.fail_times(Route::List, GFault::Throttle(Some("0.3".into())), 3),
                    1 => graph.fail_times(Route::List, GFault::Unavailable(None), 2),
                    2 => graph.fail_next(Route::List, GFault::Drop),
                    3 => graph.fail_next(Route::List, GFault::Truncated),
                    4 => model.push(MFault::RateLimit {
                        retry_after: Some(1),
                    }),
                    5 => model.push(MFault::Drop),
                    6 => hook.push_fault(WFault::Status(500)),
                    _ => hook.push_fault(if rng.below(2) == 0 {
                        WFault::AcceptThenDrop
                    } else {
                        WFault::AcceptThenTimeout(Duration::from_secs(4))
                    }),
                }
                let secs = t0.elapsed().as_secs();
                if filling && (secs == 8 || secs == 20) {
                    fill(&state);
                    fills += 1;
                    std::thread::sleep(Duration::from_secs(3));
                    let _ = std::fs::remove_file(state.join("filler"));
                }
                std::thread::sleep(Duration::from_millis(300 + rng.below(700)));
            }
            fills
        }));
    }

    std::thread::sleep(CHAOS);
    stop.store(true, Ordering::Relaxed);
    let mut counts = Vec::new();
    for t in threads {
        counts.push(t.join().expect("thread"));
    }
    println!(
        "kills per job {:?}, messages {}, log lines {}, disk fills {}",
        &counts[..5],
        counts[5],
        counts[6],
        counts[7]
    );
    assert!(
        counts[..5].iter().sum::<u64>() >= 10,
        "the injector must actually kill runs"
    );

    // Calm: no faults, space back, then every job converges.
    let _ = std::fs::remove_file(s.path("state/filler"));
    graph.clear_faults();
    hook.clear_faults();
    model.set_default(MFault::None);
    for _ in 0..4 {
        s.run(&bin("poll-teams"), &[]);
    }
    let last = s.run(&bin("poll-teams"), &[]);
    last.code(0);
    for job in ["check-ratelimit", "compact-memory", "backup-config"] {
        s.run(&bin(job), &[]);
        s.run(&bin(job), &["--wait-lock", "10"]).code(0);
    }

    // 1. Every state file parses.
    for e in std::fs::read_dir(s.path("state")).expect("state").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") {
            let t = std::fs::read_to_string(e.path()).expect("read");
            assert!(
                serde_json::from_str::<Value>(&t).is_ok(),
                "state/{name} does not parse:\n{t}"
            );
        }
    }
    // 2. Inbox events == the fake's allowed messages, each exactly once.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for sub in ["new", "cur"] {
        if let Ok(d) = std::fs::read_dir(s.path(&format!("state/inbox/teams/{sub}"))) {
            for e in d.flatten() {
                let v: Value =
                    serde_json::from_str(&std::fs::read_to_string(e.path()).expect("read"))
                        .unwrap_or_else(|err| panic!("inbox file {:?} is torn: {err}", e.path()));
                if v["event"] == "message" {
                    *seen
                        .entry(v["message_id"].as_str().unwrap_or("").to_string())
                        .or_default() += 1;
                }
            }
        }
    }
    let expected = expected.lock().expect("lock").clone();
    let dups: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dups.is_empty(), "messages delivered twice: {dups:?}");
    let got: BTreeSet<String> = seen.keys().cloned().collect();
    let missing: Vec<_> = expected.difference(&got).collect();
    let extra: Vec<_> = got.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "inbox != fake: missing {missing:?}, extra {extra:?}"
    );
    assert!(
        expected.len() > 20,
        "enough traffic to mean something ({})",
        expected.len()
    );
    // 3. No report published twice.
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    for r in hook.accepted() {
        let id = r
            .json()
            .and_then(|v| v["report_id"].as_str().map(String::from))
            .unwrap_or_default();
        *by_id.entry(id).or_default() += 1;
    }
    assert!(
        by_id.values().all(|n| *n == 1),
        "a report was published twice: {by_id:?}"
    );
    let published = std::fs::read_dir(s.path("reports/published"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".md"))
                .count()
        })
        .unwrap_or(0);
    assert!(published <= 1, "{published} report files for one period");
    // 4. No config snapshot lost or corrupt.
    s.run(&bin("backup-config"), &["verify"]).code(0);
    // 5. Every memory file in place or in the archive (outside memory/), byte for byte.
    let mut all: BTreeMap<String, Vec<String>> = BTreeMap::new();
    collect(&s.path("workspace/memory"), &mut all);
    collect(&s.path("workspace/memory-archive"), &mut all);
    for (name, text) in &files.memory_files {
        let copies = all.get(name).cloned().unwrap_or_default();
        assert!(
            copies.iter().any(|c| c == text),
            "memory file {name} lost (copies found: {})",
            copies.len()
        );
    }
    // 6. ENOSPC: clear errors naming the file; no panics anywhere.
    let lines = stderr_lines.lock().expect("lock");
    assert!(
        !lines.iter().any(|(_, l)| l.contains("panicked")),
        "a job panicked: {lines:?}"
    );
    let enospc: Vec<_> = lines
        .iter()
        .filter(|(_, l)| l.contains("No space left") || l.contains("os error 28"))
        .collect();
    for (job, l) in &enospc {
        assert!(
            l.starts_with(&format!("{job}: ")),
            "message names the job: {l}"
        );
        assert!(l.contains('/'), "ENOSPC message names a file: {l}");
    }
    if counts[7] > 0 {
        assert!(
            !enospc.is_empty(),
            "the disk was filled but no job reported ENOSPC"
        );
    }
    println!("ENOSPC reports: {}", enospc.len());
    let mut shown = BTreeSet::new();
    for (job, l) in &enospc {
        if shown.insert(job.clone()) {
            println!("  e.g. {l}");
        }
    }
}

fn fill(dir: &Path) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::File::create(dir.join("filler")) {
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
}

fn collect(dir: &Path, out: &mut BTreeMap<String, Vec<String>>) {
    if let Ok(d) = std::fs::read_dir(dir) {
        for e in d.flatten() {
            let p = e.path();
            if p.is_dir() {
                collect(&p, out);
            } else if let Ok(t) = std::fs::read_to_string(&p) {
                out.entry(e.file_name().to_string_lossy().into_owned())
                    .or_default()
                    .push(t);
            }
        }
    }
}
