//! End-to-end tests of compact-memory: the real binary on a generated workspace, as cron runs
//! it, with a local fake model provider. One test binary, one module per area.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use testkit::Suite;

const BIN: &str = env!("CARGO_BIN_EXE_compact-memory");

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn date(s: &str) -> chrono::NaiveDate {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A realistic daily note for day `i` (deterministic).
fn day_text(d: chrono::NaiveDate, i: usize, pad_to: usize) -> String {
    let people = ["Robin Kline", "Isaiah Langer", "Mara Okafor", "Jon Berg"];
    let topics = [
        "Q1 numbers",
        "Graph throttling",
        "backup drill",
        "release notes",
        "on-call rota",
    ];
    let mut s = format!("# {d}\n\n");
    let mut k = 0;
    while s.len() < pad_to || k < 2 {
        let p = people[(i + k) % people.len()];
        let t = topics[(i * 3 + k) % topics.len()];
        s.push_str(&format!(
            "## {:02}:{:02} Teams: {p} asked about the {t}\n- pulled figures for {t}, saved to reports/{i}-{k}.md\n- decision {i}.{k}: {t} summary goes out Mondays 08:00\n- lesson {i}.{k}: Graph throttles chat GETs above {} rps\n- TODO {i}.{k}: follow up with {p} on {t}\n- usage was {}% of quota on day {i}\n- chatter line {i}.{k} that only the timeline keeps\n\n",
            8 + k % 10,
            (k * 7) % 60,
            20 + k % 5,
            40 + (i + k) % 50
        ));
        k += 1;
    }
    s
}

/// The workspace of a test: daily notes with fragments, the do-not-touch paths, MEMORY.md.
struct Ws {
    suite: Suite,
    /// Every original written: memory file name -> bytes.
    originals: BTreeMap<String, Vec<u8>>,
}

const DO_NOT_TOUCH: &[(&str, &str)] = &[
    ("ws/memory/.dreams/lock", "dreaming lock 4242\n"),
    ("ws/memory/.dreams/2026-01-05.md", "# dream of 2026-01-05\n"),
    (
        "ws/memory/dreaming/2026-01-06.md",
        "# dreaming 2026-01-06\n",
    ),
    ("ws/memory/dreaming/state.json", "{\"phase\":\"rem\"}\n"),
    (
        "ws/memory/heartbeat-state.json",
        "{\"last\":\"2026-01-01T00:00:00Z\"}\n",
    ),
    ("ws/DREAMS.md", "# Dreams\n- 2026-01-05 something\n"),
    (
        "ws/MEMORY.md",
        "# Memory\n- operator prefers short answers\n",
    ),
    ("ws/memory/notes.md", "loose notes, not dated\n"),
    ("ws/memory/2026-02-30.md", "impossible date\n"),
];

/// The gateway's config in the test's HOME (`~/.openclaw/openclaw.json`, where the `gateway`
/// section looks by default): dreaming off, so `keep_days` is taken as given. Tests of the
/// dreaming floor write their own.
const GATEWAY_NO_DREAMING: &str = r#"// the agent gateway's config (JSON5)
{ plugins: { entries: { "memory-core": { config: { dreaming: { enabled: false } } } } } }
"#;

impl Ws {
    fn new() -> Ws {
        let suite = Suite::new();
        for (p, t) in DO_NOT_TOUCH {
            suite.write(p, t);
        }
        suite.write("home/.openclaw/openclaw.json", GATEWAY_NO_DREAMING);
        Ws {
            suite,
            originals: BTreeMap::new(),
        }
    }

    /// Replace the gateway's config.
    fn gateway(&self, text: &str) {
        self.suite.write("home/.openclaw/openclaw.json", text);
    }

    fn put(&mut self, name: &str, bytes: &[u8]) {
        let p = self.suite.path(&format!("ws/memory/{name}"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        self.originals.insert(name.to_string(), bytes.to_vec());
    }

    /// Days `from..from+n` with a daily file each, a fragment every third day and a stray
    /// `-HHMM` fragment every fifth.
    fn days(&mut self, from: &str, n: usize, size: usize) {
        let start = date(from);
        for i in 0..n {
            let d = start + chrono::Duration::days(i as i64);
            self.put(&format!("{d}.md"), day_text(d, i, size).as_bytes());
            if i % 3 == 0 {
                self.put(
                    &format!("{d}-teams-sync.md"),
                    format!("# {d} session: teams-sync\n- decided to mute the #ops channel on day {i}\n- met with Mara Okafor about rota\n").as_bytes(),
                );
            }
            if i % 5 == 0 {
                self.put(
                    &format!("{d}-1405.md"),
                    format!("- 14:05 reminder: renew the cert (day {i})\n").as_bytes(),
                );
            }
        }
    }

    fn config(&self, extra: Value) {
        let mut c = json!({
            "workspace": "ws",
            "timezone": "UTC",
            "keep_days": 7,
            "period": "week",
        });
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        self.suite.config(json!({ "compact-memory": c }));
    }

    fn run(&self, now: &str, extra: &[&str]) -> testkit::Run {
        let mut args = vec!["--now", now];
        args.extend_from_slice(extra);
        self.suite.run(Path::new(BIN), &args)
    }

    fn run_env(&self, now: &str, extra: &[&str], env: &[(&str, &str)]) -> testkit::Run {
        let mut c = self.suite.cmd(Path::new(BIN));
        c.arg("--now").arg(now).args(extra);
        for (k, v) in env {
            c.env(k, v);
        }
        self.suite.run_cmd(&mut c)
    }

    fn mem(&self, rel: &str) -> PathBuf {
        self.suite.path(&format!("ws/memory/{rel}"))
    }

    /// A path in the archive (`ws/memory-archive/`, outside `memory/`).
    fn arch(&self, rel: &str) -> PathBuf {
        self.suite.path(&format!("ws/memory-archive/{rel}"))
    }

    fn state(&self) -> Value {
        self.suite.state("compact-memory")
    }

    /// The digest of a period (found by its first line; the file is named by the period's
    /// last day).
    fn digest(&self, key: &str) -> String {
        let marker = format!("<!-- compact-memory digest: period={key} ");
        std::fs::read_dir(self.mem("digests"))
            .unwrap_or_else(|e| panic!("digest {key}: {e}"))
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| std::fs::read_to_string(e.path()).unwrap())
            .find(|t| t.starts_with(&marker))
            .unwrap_or_else(|| panic!("no digest of {key}"))
    }

    /// Every byte of every original is in place or in the archive: the archived versions
    /// joined, followed by what is in place (a day appended to after compaction).
    fn assert_nothing_lost(&self) {
        for (name, bytes) in &self.originals {
            let here = std::fs::read(self.mem(name)).ok();
            if here.as_ref() == Some(bytes) {
                continue;
            }
            let d = date(&name[..10]);
            let base = self.arch(&format!("{}/{name}", d.format("%Y/%m")));
            // Versions: a later one that starts with all before it (the file grew in place)
            // replaces them; another (recreated with only new lines) is appended. What is in
            // place is either already archived (killed before removal) or comes after.
            let mut parts: Vec<Vec<u8>> = std::fs::read(&base).into_iter().collect();
            let mut v = 2;
            while let Ok(more) = std::fs::read(format!("{}.v{v}", base.display())) {
                parts.push(more);
                v += 1;
            }
            let join = |parts: &[Vec<u8>]| {
                let mut joined: Vec<u8> = Vec::new();
                for p in parts {
                    if p.starts_with(&joined) {
                        joined = p.clone();
                    } else {
                        joined.extend(p);
                    }
                }
                joined
            };
            let mut joined = join(&parts);
            if let Some(h) = here
                && !parts.contains(&h)
            {
                parts.push(h);
                joined = join(&parts);
            }
            assert!(
                &joined == bytes,
                "memory/{name}: in place + archived ({} bytes) differ from the original ({} bytes)",
                joined.len(),
                bytes.len()
            );
        }
    }

    /// Every digest lists only sources that are archived with the listed hash.
    fn assert_digests_consistent(&self) -> usize {
        let dir = self.mem("digests");
        let mut n = 0;
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return 0;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let text = std::fs::read_to_string(e.path()).unwrap();
            let rows = digest_sources(&text);
            assert!(!rows.is_empty(), "{name} lists no sources:\n{text}");
            // Named by the period's last day, so the gateway's recency decay ages it like
            // its newest day.
            let last = text
                .lines()
                .nth(1)
                .and_then(|h| h.rsplit_once(" to "))
                .map(|(_, l)| l.trim_end_matches(')'))
                .unwrap_or_else(|| panic!("{name}: no period in its heading"));
            assert!(name.starts_with(last), "{name} must start with {last}");
            for (archive, hash) in rows {
                let b = std::fs::read(self.suite.path(&format!("ws/{archive}")))
                    .unwrap_or_else(|_| panic!("{name} lists {archive}, which is not archived"));
                assert_eq!(sha(&b), hash, "{name}: hash of {archive}");
            }
            n += 1;
        }
        n
    }

    /// Every file under the workspace: path -> sha256.
    fn snapshot(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        walk(&self.suite.path("ws"), &self.suite.path("ws"), &mut out);
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            out.insert(rel, sha(&std::fs::read(&p).unwrap()));
        }
    }
}

/// (archive path, sha256) rows of a digest's source table.
fn digest_sources(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| l.starts_with("| ") && l.contains("`memory-archive/"))
        .map(|l| {
            let cols: Vec<&str> = l.split('|').map(str::trim).collect();
            (
                cols[2].trim_matches('`').to_string(),
                cols[4].trim_matches('`').to_string(),
            )
        })
        .collect()
}

mod compaction {
    use super::*;

    #[test]
    fn a_year_of_notes_becomes_weekly_digests_and_nothing_else_is_touched() {
        let mut ws = Ws::new();
        ws.days("2025-03-01", 365, 1500);
        ws.config(json!({}));
        let before = ws.snapshot();
        // 2026-03-01 is a Sunday; keep_days 7: days up to 2026-02-22 are old enough.
        ws.run("2026-03-01T03:00:00Z", &[]).silent_success();
        ws.assert_nothing_lost();
        let digests = ws.assert_digests_consistent();
        // 2025-03-01 is in 2025-W09; 2026-02-22 ends 2026-W08; 2025 has 52 ISO weeks.
        assert_eq!(digests, 52);
        for (p, _) in DO_NOT_TOUCH {
            let rel = p.strip_prefix("ws/").unwrap();
            assert_eq!(before.get(rel), ws.snapshot().get(rel), "{rel} was touched");
        }
        // Recent days stay; old ones are archived byte for byte.
        for d in ["2026-02-23", "2026-02-28"] {
            assert!(ws.mem(&format!("{d}.md")).is_file(), "{d} must stay");
        }
        assert!(!ws.mem("2026-02-22.md").exists());
        assert!(ws.arch("2026/02/2026-02-22.md").is_file());
        assert!(ws.arch("2025/03/2025-03-01-teams-sync.md").is_file());
        let w = ws.digest("2026-W07");
        assert!(
            w.contains("period=2026-W07 method=rules complete=true"),
            "{w}"
        );
        assert!(
            w.contains("### Decisions") && w.contains("### Lessons") && w.contains("### TODOs"),
            "{w}"
        );
        assert!(w.contains("Robin Kline"), "{w}");
        assert!(
            w.chars().count() < 6000 + 3000,
            "digest within its cap: {}",
            w.chars().count()
        );
        let st = ws.state();
        assert_eq!(st["data"]["digests"]["2026-W07"]["method"], "rules");
        assert_eq!(st["data"]["digests"].as_object().unwrap().len(), 52);
        assert_eq!(st["data"]["budget"]["over"], false);
        assert_eq!(st["data"]["budget"]["files"][0]["name"], "MEMORY.md");
        assert_eq!(st["last_run"]["outcome"], "ok");
        // The impossible date is left alone and counted.
        assert_eq!(st["metrics"]["skipped_files"], 1);
        assert!(ws.mem("2026-02-30.md").is_file());
    }

    #[test]
    fn a_second_run_changes_nothing() {
        let mut ws = Ws::new();
        ws.days("2026-01-01", 40, 800);
        ws.config(json!({}));
        ws.run("2026-02-12T01:00:00Z", &[]).silent_success();
        let snap = ws.snapshot();
        let digests = ws.state()["data"]["digests"].clone();
        ws.run("2026-02-12T02:00:00Z", &[]).silent_success();
        assert_eq!(ws.snapshot(), snap, "an idempotent re-run changes no file");
        let st = ws.state();
        assert_eq!(st["data"]["digests"], digests);
        assert_eq!(st["last_run"]["outcome"], "noop");
    }

    #[test]
    fn a_day_edited_after_compaction_is_recompacted() {
        let mut ws = Ws::new();
        ws.days("2026-01-05", 14, 600); // 2026-W02 and W03
        ws.config(json!({}));
        ws.run("2026-02-01T12:00:00Z", &[]).silent_success();
        let old = ws.digest("2026-W02");
        assert!(!ws.mem("2026-01-07.md").exists());
        // Someone appends to an old day: the file reappears with the new lines.
        let extra = b"- decision late: archive tapes go offsite on Fridays\n";
        std::fs::write(ws.mem("2026-01-07.md"), extra).unwrap();
        ws.run("2026-02-01T13:00:00Z", &[]).silent_success();
        assert!(!ws.mem("2026-01-07.md").exists());
        let v2 = ws.arch("2026/01/2026-01-07.md.v2");
        assert_eq!(std::fs::read(&v2).unwrap(), extra);
        let new = ws.digest("2026-W02");
        assert_ne!(old, new);
        assert!(new.contains("archive tapes go offsite"), "{new}");
        assert!(
            new.contains(&sha(extra)),
            "new version listed with its hash: {new}"
        );
        ws.assert_digests_consistent();
        let mut full = ws.originals["2026-01-07.md"].clone();
        full.extend_from_slice(extra);
        ws.originals.insert("2026-01-07.md".into(), full);
        ws.assert_nothing_lost();
        // The other week was not rewritten.
        let st = ws.state();
        let srcs = st["data"]["digests"]["2026-W02"]["sources"]
            .as_array()
            .unwrap();
        assert!(
            srcs.iter()
                .any(|s| { s.as_str().unwrap().ends_with("  2026/01/2026-01-07.md.v2") })
        );
    }

    #[test]
    fn dry_run_changes_nothing_and_says_what_it_would_do() {
        let mut ws = Ws::new();
        ws.days("2026-01-01", 20, 500);
        ws.config(json!({}));
        let snap = ws.snapshot();
        let r = ws.run("2026-02-01T00:00:00Z", &["--dry-run", "-v"]);
        r.code(0).stderr_has("dry run: would archive 2026-01-01.md");
        assert_eq!(ws.snapshot(), snap);
        assert!(!ws.suite.path("state/compact-memory.json").exists());
    }

    #[test]
    fn hostile_content_never_crashes_the_rules_digest() {
        let mut ws = Ws::new();
        let mut huge = b"# 2026-01-05\n- decision: keep going\n".to_vec();
        huge.extend(std::iter::repeat_n(b'x', 4_000_000));
        huge.extend(b"\n- lesson: long lines happen\n");
        ws.put("2026-01-05.md", &huge);
        let binary: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
            .collect();
        ws.put("2026-01-06.md", &binary);
        ws.put(
            "2026-01-07.md",
            b"# 2026-01-07\n- decision: caf\xc3 \xff\xfe\x00 invalid utf-8 \x1b[31m\n",
        );
        ws.put("2026-01-08.md", b"");
        // A week with nothing but binary: the raw fallback.
        ws.put("2026-01-12.md", &binary);
        ws.config(json!({ "digest_max_chars": 2000 }));
        ws.run("2026-02-01T00:00:00Z", &[]).code(0);
        ws.assert_nothing_lost();
        ws.assert_digests_consistent();
        let w2 = ws.digest("2026-W02");
        assert!(w2.contains("method=rules"), "{w2}");
        assert!(
            w2.contains("decision: keep going") && w2.contains("long lines happen"),
            "{w2}"
        );
        assert!(
            w2.lines().all(|l| l.chars().count() < 400),
            "no huge line in the digest"
        );
        assert!(!w2.contains('\u{1b}') && !w2.contains('\u{0}'));
        assert!(w2.chars().count() < 6000, "{}", w2.chars().count());
        let w3 = ws.digest("2026-W03");
        assert!(
            w3.contains("method=raw") && w3.contains("binary data"),
            "{w3}"
        );
        assert_eq!(ws.state()["data"]["digests"]["2026-W03"]["method"], "raw");
    }

    #[test]
    fn over_budget_memory_warns_and_is_recorded() {
        let ws = Ws::new();
        ws.suite.write("ws/MEMORY.md", &"é".repeat(20_001));
        ws.suite.write("ws/AGENTS.md", &"a".repeat(45_000));
        ws.suite.write("ws/SOUL.md", &"s".repeat(19_000));
        ws.suite.write("ws/IDENTITY.md", &"i".repeat(19_000));
        ws.config(json!({}));
        let r = ws.run("2026-02-01T00:00:00Z", &[]);
        // The gateway cuts each file to its per-file budget first, then applies the total in
        // prompt order (AGENTS, SOUL, IDENTITY, USER, BOOTSTRAP, MEMORY).
        r.code(0)
            .stderr_has("MEMORY.md is 20001 characters, over the per-file budget of 20000")
            .stderr_has("AGENTS.md is 45000 characters, over the per-file budget of 20000")
            .stderr_has("total 78000 characters after their per-file limits, over the total budget of 60000");
        let b = &ws.state()["data"]["budget"];
        assert_eq!(b["over"], true);
        assert_eq!(b["total_chars"], 103_001);
        assert_eq!(b["injected_chars"], 60_000);
        let mem = b["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "MEMORY.md")
            .unwrap();
        assert_eq!(mem["chars"], 20001);
        assert_eq!(mem["over"], true);
        assert_eq!(
            std::fs::read_to_string(ws.suite.path("ws/MEMORY.md")).unwrap(),
            "é".repeat(20_001),
            "MEMORY.md never rewritten"
        );
    }

    #[test]
    fn bad_config_names_the_key() {
        let ws = Ws::new();
        ws.config(json!({ "timezone": "Mars/Olympus" }));
        ws.run("2026-02-01T00:00:00Z", &[])
            .code(78)
            .stderr_has("compact-memory.timezone");
        ws.config(json!({ "keep_dayz": 3 }));
        ws.run("2026-02-01T00:00:00Z", &[])
            .code(78)
            .stderr_has("keep_dayz");
        ws.config(json!({ "workspace": "nope" }));
        ws.run("2026-02-01T00:00:00Z", &[])
            .code(78)
            .stderr_has("compact-memory.workspace");
    }
}

mod edges {
    use super::*;

    fn three_days(ws: &mut Ws, days: &[&str]) {
        for d in days {
            ws.put(
                &format!("{d}.md"),
                format!("# {d}\n- decision: note of {d}\n").as_bytes(),
            );
        }
    }

    fn in_place(ws: &Ws, d: &str) -> bool {
        ws.mem(&format!("{d}.md")).is_file()
    }

    #[test]
    fn keep_days_boundary_and_today_and_yesterday_are_never_touched() {
        let mut ws = Ws::new();
        three_days(
            &mut ws,
            &[
                "2026-03-07",
                "2026-03-08",
                "2026-03-09",
                "2026-03-10",
                "2026-03-11",
            ],
        );
        ws.config(json!({ "keep_days": 3, "period": "day" }));
        // Today is 2026-03-11: ages 4, 3, 2, 1, 0.
        ws.run("2026-03-11T12:00:00Z", &[]).silent_success();
        assert!(
            !in_place(&ws, "2026-03-07") && !in_place(&ws, "2026-03-08"),
            "age >= keep_days compacted"
        );
        assert!(in_place(&ws, "2026-03-09"), "age 2 < keep_days 3 stays");
        // keep_days 0 still never touches today and yesterday.
        ws.config(json!({ "keep_days": 0, "period": "day" }));
        ws.run("2026-03-11T12:00:00Z", &[]).silent_success();
        assert!(
            !in_place(&ws, "2026-03-09"),
            "day before yesterday compacted"
        );
        assert!(
            in_place(&ws, "2026-03-10") && in_place(&ws, "2026-03-11"),
            "yesterday and today stay"
        );
        ws.assert_nothing_lost();
        assert_eq!(ws.assert_digests_consistent(), 3);
    }

    #[test]
    fn midnight_in_the_agents_time_zone_decides() {
        let mut ws = Ws::new();
        three_days(&mut ws, &["2026-03-08", "2026-03-09"]);
        ws.config(json!({ "keep_days": 2, "period": "day", "timezone": "America/Los_Angeles" }));
        // 06:59:59Z is 23:59:59 on 03-10 in Los Angeles (PDT since 03-08): 03-09 is yesterday.
        ws.run("2026-03-11T06:59:59Z", &[]).silent_success();
        assert!(!in_place(&ws, "2026-03-08"));
        assert!(
            in_place(&ws, "2026-03-09"),
            "still yesterday in Los Angeles"
        );
        // One second later it is 03-11 there: 03-09 is two days old.
        ws.run("2026-03-11T07:00:00Z", &[]).silent_success();
        assert!(!in_place(&ws, "2026-03-09"));
        ws.assert_nothing_lost();
    }

    #[test]
    fn the_same_instant_is_a_different_day_in_tokyo() {
        for (tz, compacted) in [("UTC", false), ("Asia/Tokyo", true)] {
            let mut ws = Ws::new();
            three_days(&mut ws, &["2026-03-09"]);
            ws.config(json!({ "keep_days": 2, "period": "day", "timezone": tz }));
            // 23:30Z on 03-10 is 08:30 on 03-11 in Tokyo.
            ws.run("2026-03-10T23:30:00Z", &[]).silent_success();
            assert_eq!(!in_place(&ws, "2026-03-09"), compacted, "{tz}");
        }
    }

    #[test]
    fn an_open_week_is_digested_and_rewritten_when_more_days_age() {
        let mut ws = Ws::new();
        ws.days("2026-03-02", 7, 300); // Mon..Sun of 2026-W10
        ws.config(json!({ "keep_days": 7 }));
        // The week has ended (its digest is named by its Sunday, which must not lie in the
        // future); Mon..Thu are 7 days old.
        ws.run("2026-03-12T10:00:00Z", &[]).silent_success();
        let st = ws.state();
        assert_eq!(st["data"]["digests"]["2026-W10"]["complete"], false);
        assert_eq!(
            st["data"]["digests"]["2026-W10"]["path"],
            "digests/2026-03-08-digest-2026-W10.md"
        );
        assert!(ws.digest("2026-W10").contains("still open"));
        assert!(ws.mem("2026-03-06.md").is_file(), "Friday is 6 days old");
        ws.run("2026-03-16T10:00:00Z", &[]).silent_success();
        let st = ws.state();
        assert_eq!(st["data"]["digests"]["2026-W10"]["complete"], true);
        let n = st["data"]["digests"]["2026-W10"]["sources"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(
            n,
            7 + 3 + 2,
            "7 daily files, 3 session fragments, 2 stray fragments"
        );
        ws.assert_nothing_lost();
        ws.assert_digests_consistent();
    }
}

mod restore {
    use super::*;

    #[test]
    fn restore_puts_a_day_back_holds_it_and_release_lets_it_go() {
        let mut ws = Ws::new();
        ws.days("2026-01-05", 7, 700);
        ws.config(json!({}));
        ws.run("2026-02-01T00:00:00Z", &[]).silent_success();
        assert!(!ws.mem("2026-01-08.md").exists());
        let r = ws.run("2026-02-01T00:00:00Z", &["restore", "2026-01-08"]);
        r.code(0)
            .stdout_has("restored: memory/2026-01-08.md")
            .stdout_has("restored: memory/2026-01-08-teams-sync.md");
        assert_eq!(
            std::fs::read(ws.mem("2026-01-08.md")).unwrap(),
            ws.originals["2026-01-08.md"]
        );
        assert_eq!(ws.state()["data"]["held"], json!(["2026-01-08"]));
        // The next run leaves the held day alone and drops it from the digest.
        ws.run("2026-02-01T01:00:00Z", &[]).silent_success();
        assert!(ws.mem("2026-01-08.md").is_file());
        assert!(!ws.arch("2026/01/2026-01-08.md.v2").exists());
        let d = ws.digest("2026-W02");
        assert!(!d.contains("2026-01-08.md"), "{d}");
        assert!(
            ws.arch("2026/01/2026-01-08.md").is_file(),
            "archive copy kept"
        );
        // Release: the next run takes it again without archiving a second copy.
        ws.run("2026-02-01T02:00:00Z", &["release", "2026-01-08"])
            .code(0)
            .stdout_has("released");
        ws.run("2026-02-01T03:00:00Z", &[]).silent_success();
        assert!(!ws.mem("2026-01-08.md").exists());
        assert!(!ws.arch("2026/01/2026-01-08.md.v2").exists());
        assert!(ws.digest("2026-W02").contains("2026-01-08.md"));
        ws.assert_nothing_lost();
        ws.assert_digests_consistent();
    }

    #[test]
    fn restoring_a_day_that_was_never_archived_is_a_clear_error() {
        let ws = Ws::new();
        ws.config(json!({}));
        ws.run("2026-02-01T00:00:00Z", &["restore", "2026-01-08"])
            .code(65)
            .stderr_has("nothing is archived for 2026-01-08");
        ws.run("2026-02-01T00:00:00Z", &["restore", "08/01/2026"])
            .code(2)
            .stderr_has("YYYY-MM-DD");
    }
}

mod crash {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sigkill_at_random_points_loses_no_line() {
        let mut ws = Ws::new();
        ws.days("2026-01-01", 150, 2500);
        ws.config(json!({ "keep_days": 2 }));
        let start = date("2026-01-01");
        let mut kills = 0;
        let mut window_ms = 60u64;
        for i in 0..45 {
            // Each round three more days become old enough.
            let now = start + chrono::Duration::days(3 + 3 * i as i64);
            let now = format!("{now}T03:00:00Z");
            // Sometimes an old day is appended to after compaction.
            if i % 9 == 4 {
                let d = start + chrono::Duration::days(i as i64);
                let name = format!("{d}.md");
                let extra = format!("- decision late {i}: appended after compaction\n");
                let p = ws.mem(&name);
                let mut cur = std::fs::read(&p).unwrap_or_default();
                cur.extend(extra.as_bytes());
                std::fs::write(&p, &cur).unwrap();
                let full = ws.originals.get_mut(&name).unwrap();
                full.extend(extra.as_bytes());
            }
            let child = ws.suite.spawn(Path::new(BIN), &["--now", &now]);
            std::thread::sleep(Duration::from_millis(fastrand::u64(0..window_ms)));
            testkit::signal(&child, 9);
            let out = child.wait_with_output().unwrap();
            // Keep the kills landing inside runs whatever the machine's speed: a run that
            // finished narrows the window, a killed one widens it a little.
            if out.status.code().is_none() {
                kills += 1;
                window_ms = (window_ms * 11 / 10 + 1).min(200);
            } else {
                window_ms = (window_ms * 7 / 10).max(3);
            }
            ws.assert_nothing_lost();
            ws.assert_digests_consistent();
        }
        assert!(
            kills >= 10,
            "only {kills} runs were killed mid-way; the test proves little"
        );
        // A final undisturbed run finishes everything.
        ws.run("2026-06-15T03:00:00Z", &[]).code(0);
        ws.assert_nothing_lost();
        let n = ws.assert_digests_consistent();
        assert!(n >= 21, "{n} digests");
        let remaining: Vec<_> = std::fs::read_dir(ws.mem(""))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("2026-0") && n != "2026-02-30.md")
            .collect();
        assert!(
            remaining.is_empty(),
            "all old days compacted: {remaining:?}"
        );
        let temps: Vec<_> = ws
            .snapshot()
            .into_keys()
            .filter(|k| k.contains(".tmp."))
            .collect();
        assert!(temps.is_empty(), "temp files left: {temps:?}");
    }
}

mod stop {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sigterm_stops_cleanly_and_the_next_run_finishes() {
        let mut ws = Ws::new();
        ws.days("2025-06-01", 200, 3000);
        ws.config(json!({}));
        let mut stopped = 0;
        for delay in [5u64, 15, 30, 60, 120] {
            let child = ws
                .suite
                .spawn(Path::new(BIN), &["--now", "2026-01-15T03:00:00Z"]);
            std::thread::sleep(Duration::from_millis(delay));
            testkit::signal(&child, 15);
            let out = child.wait_with_output().unwrap();
            let code = out.status.code();
            // `None`: the signal came before the runtime installed its handler (a loaded
            // machine can take longer than 5 ms to get there); nothing had been touched yet.
            assert!(
                matches!(code, None | Some(0) | Some(143)),
                "SIGTERM: exit {code:?}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            if code == Some(143) {
                stopped += 1;
                assert_eq!(ws.state()["last_run"]["exit_code"], 143);
            }
            ws.assert_nothing_lost();
            ws.assert_digests_consistent();
        }
        assert!(
            stopped >= 1,
            "no run was stopped by SIGTERM; the test proves nothing"
        );
        ws.run("2026-01-15T04:00:00Z", &[]).code(0);
        ws.assert_nothing_lost();
        assert_eq!(ws.assert_digests_consistent(), 30); // 2025-W22 to 2025-W51
    }
}

mod model {
    use super::*;
    use fakes::model::{FakeModel, Fault};
    use std::time::Duration;

    const KEY: (&str, &str) = ("TEST_MODEL_KEY", "sk-ant-test-0123456789");

    fn setup(fake: &FakeModel, provider: &str, extra: Value) -> Ws {
        let mut ws = Ws::new();
        ws.days("2026-01-05", 21, 400); // 2026-W02..W04
        let url = if provider == "openai" {
            fake.openai_url()
        } else {
            fake.anthropic_url()
        };
        let mut model = json!({
            "enabled": true,
            "provider": provider,
            "url": url,
            "model": "claude-haiku-4-5",
            "api_key_env": KEY.0,
            "max_retries": 0,
            "timeout_secs": 1.0,
        });
        for (k, v) in extra.as_object().unwrap() {
            model[k] = v.clone();
        }
        ws.config(json!({ "model": model }));
        ws
    }

    fn run(ws: &Ws, extra: &[&str]) -> testkit::Run {
        ws.run_env("2026-02-15T03:00:00Z", extra, &[KEY])
    }

    fn methods(ws: &Ws) -> Vec<String> {
        ws.state()["data"]["digests"]
            .as_object()
            .unwrap()
            .values()
            .map(|d| d["method"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn the_model_writes_digests_and_tokens_are_counted() {
        let fake = FakeModel::start().unwrap();
        fake.require_key(KEY.1);
        fake.set_usage(1200, 300);
        let ws = setup(&fake, "anthropic", json!({}));
        run(&ws, &[]).silent_success();
        assert_eq!(methods(&ws), ["model", "model", "model"]);
        assert_eq!(fake.anthropic_requests(), 3);
        let d = ws.digest("2026-W03");
        assert!(
            d.contains("method=model") && d.contains("Model summary of"),
            "{d}"
        );
        let t = &ws.state()["data"]["tokens"];
        assert_eq!(t["run_tokens"], 4500);
        assert_eq!(t["day_tokens"], 4500);
        assert_eq!(t["calls"], 3);
        assert_eq!(ws.state()["data"]["digests"]["2026-W03"]["tokens"], 1500);
        let body = &fake.bodies()[0];
        assert_eq!(body["model"], "claude-haiku-4-5");
        assert!(
            body["messages"][0]["content"]
                .as_str()
                .unwrap()
                .contains("decision")
        );
        assert!(
            !ws.suite.log("compact-memory").contains(KEY.1),
            "key never logged"
        );
        ws.assert_nothing_lost();
        ws.assert_digests_consistent();
        // Each call is on the effect journal; the answer is dropped once the digest holds it.
        let st = ws.state();
        let calls: Vec<(&String, &Value)> = st["effects"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with("model/"))
            .collect();
        assert_eq!(calls.len(), 3, "{:#}", st["effects"]);
        for (k, r) in calls {
            assert_eq!(r["status"], "done", "{k}");
            assert_eq!(r["idempotent"], true, "{k}");
            assert!(r["value"].is_null(), "{k}: {r:#}");
        }
    }

    #[test]
    fn a_run_killed_after_the_model_answered_is_redone_and_loses_nothing() {
        let fake = FakeModel::start().unwrap();
        let ws = setup(&fake, "anthropic", json!({}));
        let r = ws.run_env(
            "2026-02-15T03:00:00Z",
            &[],
            &[
                KEY,
                ("AGENT_JOBS_TEST_CRASH_AT", "effect-acted:model/2026-W03/"),
            ],
        );
        assert_eq!(r.code, -1, "killed at the crash point\n{}", r.dump());
        assert_eq!(fake.requests(), 2, "W02 and W03 were asked");
        let st = ws.state();
        let w03: Vec<&Value> = st["effects"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with("model/2026-W03/"))
            .map(|(_, v)| v)
            .collect();
        assert_eq!(w03[0]["status"], "started");
        ws.assert_nothing_lost();
        // The next run: W02's answer was kept in the journal (the kill came before any digest
        // of the batch was written) and is reused, not paid again; W03's call has an unknown
        // outcome and is idempotent, so it is made again (at least once); then W04.
        run(&ws, &[])
            .code(0)
            .stderr_has("interrupted by the end of an earlier run")
            .stderr_has("it will be done again (idempotent)");
        assert_eq!(methods(&ws), ["model", "model", "model"]);
        assert_eq!(fake.requests(), 4, "W02 reused; W03 again; W04");
        ws.assert_nothing_lost();
        ws.assert_digests_consistent();
    }

    #[test]
    fn an_openai_compatible_server_works_too() {
        let fake = FakeModel::start().unwrap();
        let ws = setup(&fake, "openai", json!({}));
        run(&ws, &[]).silent_success();
        assert_eq!(methods(&ws), ["model", "model", "model"]);
        assert_eq!(fake.openai_requests(), 3);
    }

    #[test]
    fn failure_timeout_rate_limit_and_spend_cap_fall_back_to_rules() {
        let cases = [
            (Fault::ServerError, "other (HTTP 500)"),
            (Fault::Delay(Duration::from_secs(3)), "model timeout"),
            (
                Fault::RateLimit { retry_after: None },
                "rate_limit (HTTP 429)",
            ),
            (
                Fault::RateLimit {
                    retry_after: Some(23),
                },
                "rate_limit (HTTP 429)",
            ),
            (Fault::Overloaded, "overloaded (HTTP 529)"),
            (Fault::SpendCap, "quota (HTTP 429)"),
            (Fault::Malformed, "malformed JSON"),
            (Fault::Auth, "auth (HTTP 401)"),
        ];
        for (fault, want) in cases {
            let fake = FakeModel::start().unwrap();
            fake.set_default(fault.clone());
            let ws = setup(
                &fake,
                "anthropic",
                json!({ "max_retries": 1, "retry_after_max_secs": 5 }),
            );
            let r = run(&ws, &[]);
            r.code(0).stderr_has("degraded").stderr_has(want);
            assert_eq!(methods(&ws), ["rules", "rules", "rules"], "{fault:?}");
            let st = ws.state();
            let fb = st["data"]["digests"]["2026-W02"]["fallback"]
                .as_str()
                .unwrap();
            assert!(fb.contains(want), "{fault:?}: {fb}");
            assert!(
                ws.digest("2026-W02").contains("Fallback because"),
                "{fault:?}"
            );
            // The first failure stops model use for the run; only transient errors are retried once.
            let expected = match fault {
                Fault::RateLimit {
                    retry_after: Some(_),
                }
                | Fault::SpendCap
                | Fault::Auth
                | Fault::Malformed => 1,
                _ => 2,
            };
            assert_eq!(fake.requests(), expected, "{fault:?}");
            assert_eq!(st["last_run"]["outcome"], "degraded");
            ws.assert_nothing_lost();
        }
    }

    #[test]
    fn an_open_circuit_skips_the_model() {
        let fake = FakeModel::start().unwrap();
        let ws = setup(&fake, "anthropic", json!({}));
        ws.suite.write(
            "state/circuit.json",
            r#"{"state":"open","kind":"rate_limit","reason":"429 storm since 02:10"}"#,
        );
        run(&ws, &[])
            .code(0)
            .stderr_has("rate-limit circuit is open");
        assert_eq!(fake.requests(), 0);
        assert_eq!(methods(&ws), ["rules", "rules", "rules"]);
        assert!(
            ws.digest("2026-W04")
                .contains("circuit is open (429 storm since 02:10)")
        );
        // Circuit closed again: --upgrade turns the rule-based digests into model digests.
        std::fs::remove_file(ws.suite.path("state/circuit.json")).unwrap();
        run(&ws, &[]).silent_success();
        assert_eq!(fake.requests(), 0, "no upgrade without --upgrade");
        run(&ws, &["--upgrade"]).silent_success();
        assert_eq!(methods(&ws), ["model", "model", "model"]);
        assert_eq!(fake.requests(), 3);
        ws.assert_digests_consistent();
    }

    #[test]
    fn a_token_budget_stops_model_use_mid_run() {
        let fake = FakeModel::start().unwrap();
        fake.set_usage(1000, 500);
        let ws = setup(&fake, "anthropic", json!({ "run_token_budget": 3000 }));
        run(&ws, &[])
            .code(0)
            .stderr_has("per-run token budget reached (3000 of 3000 tokens)");
        assert_eq!(methods(&ws), ["model", "model", "rules"]);
        assert_eq!(fake.requests(), 2);
        let st = ws.state();
        assert_eq!(st["data"]["tokens"]["run_tokens"], 3000);
        assert!(
            st["data"]["tokens"]["last_stop"]
                .as_str()
                .unwrap()
                .contains("per-run token budget")
        );
        // The day budget carries over to the next run of the same day.
        let fake2 = FakeModel::start().unwrap();
        let ws2 = setup(
            &fake2,
            "anthropic",
            json!({ "day_token_budget": 1500, "run_token_budget": 0 }),
        );
        fake2.set_usage(1000, 500);
        run(&ws2, &[])
            .code(0)
            .stderr_has("per-day token budget reached");
        assert_eq!(fake2.requests(), 1);
        run(&ws2, &["--upgrade"])
            .code(0)
            .stderr_has("per-day token budget reached");
        assert_eq!(fake2.requests(), 1, "same day: no more calls");
        ws2.run_env("2026-02-16T03:00:00Z", &["--upgrade"], &[KEY])
            .code(0);
        assert_eq!(fake2.requests(), 2, "a new day: one more call");
    }
}

/// The gateway's own config decides the workspace, the budgets, the time zone and how long
/// notes stay (dreaming's window).
mod gateway_config {
    use super::*;

    fn budget(ws: &Ws) -> Value {
        ws.state()["data"]["budget"].clone()
    }

    #[test]
    fn budgets_follow_the_gateway_config_and_say_where_from() {
        let ws = Ws::new();
        ws.gateway(
            r#"{ plugins: { entries: { "memory-core": { config: { dreaming: { enabled: false } } } } },
                 agents: { defaults: { bootstrapMaxChars: 12000 },
                           entries: { main: { bootstrapTotalMaxChars: 30000 } } } }"#,
        );
        ws.suite.write("ws/AGENTS.md", &"a".repeat(12_001));
        ws.suite.write("ws/USER.md", &"u".repeat(4_001));
        ws.suite.write("ws/TOOLS.md", "# Tools\n- old notes\n");
        // The list earlier example configs carried: the retired names are not measured.
        ws.config(
            json!({ "bootstrap_files": ["AGENTS.md", "SOUL.md", "TOOLS.md", "IDENTITY.md",
            "USER.md", "HEARTBEAT.md", "BOOTSTRAP.md", "MEMORY.md"] }),
        );
        let r = ws.run("2026-02-01T00:00:00Z", &[]);
        r.code(0)
            .stderr_has("AGENTS.md is 12001 characters, over the per-file budget of 12000")
            .stderr_has("USER.md is 4001 characters, over the USER.md cap of 4000")
            .stderr_has("TOOLS.md is present but retired");
        let b = budget(&ws);
        let gw = ws.suite.path("home/.openclaw/openclaw.json");
        let source = b["source"].as_str().unwrap();
        assert!(
            source.starts_with(&format!("gateway config {} (agent main)", gw.display()))
                && source
                    .contains("bootstrapMaxChars 12000 from agents.defaults.bootstrapMaxChars")
                && source.contains(
                    "bootstrapTotalMaxChars 30000 from agents.entries.main.bootstrapTotalMaxChars"
                ),
            "{source}"
        );
        assert_eq!(
            (b["per_file_limit"].as_u64(), b["total_limit"].as_u64()),
            (Some(12000), Some(30000))
        );
        let tools: Vec<&Value> = b["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["name"] == "TOOLS.md")
            .collect();
        assert_eq!(tools.len(), 1, "{b:#}");
        assert_eq!(tools[0]["retired"], true);
        assert_eq!(tools[0]["limit"], 0);
        // The public facts carry the same report and its source.
        let facts = &ws.state()["facts"]["budget"];
        assert_eq!(facts["source"], b["source"]);
        assert_eq!(facts["over"], true);
        // A per-agent override wins over the defaults; the report follows at the next run.
        ws.gateway(
            r#"{ plugins: { entries: { "memory-core": { config: { dreaming: { enabled: false } } } } },
                 agents: { defaults: { bootstrapMaxChars: 12000 },
                           entries: { main: { bootstrapMaxChars: 13000 } } } }"#,
        );
        let r = ws.run("2026-02-01T01:00:00Z", &[]);
        assert!(!r.stderr.contains("AGENTS.md is"), "{}", r.stderr);
        r.stderr_has("USER.md is 4001 characters, over the USER.md cap of 4000");
        let b = budget(&ws);
        assert!(
            b["source"]
                .as_str()
                .unwrap()
                .contains("bootstrapMaxChars 13000 from agents.entries.main.bootstrapMaxChars"),
            "{b:#}"
        );
        assert_eq!(b["total_limit"], 60000);
        // contextInjection "never": nothing is injected, so nothing is over.
        ws.gateway(
            r#"{ plugins: { entries: { "memory-core": { config: { dreaming: { enabled: false } } } } },
                 agents: { defaults: { contextInjection: "never" } } }"#,
        );
        std::fs::remove_file(ws.suite.path("ws/TOOLS.md")).unwrap();
        ws.run("2026-02-01T02:00:00Z", &[]).silent_success();
        assert_eq!(budget(&ws)["over"], false);
    }

    #[test]
    fn without_a_gateway_config_the_fallbacks_apply_and_are_named() {
        let ws = Ws::new();
        std::fs::remove_file(ws.suite.path("home/.openclaw/openclaw.json")).unwrap();
        ws.suite.write("ws/MEMORY.md", &"m".repeat(9_001));
        ws.config(json!({ "per_file_chars": 9000, "keep_days": 15 }));
        ws.run("2026-02-01T00:00:00Z", &[])
            .code(0)
            .stderr_has("MEMORY.md is 9001 characters, over the per-file budget of 9000");
        let source = budget(&ws)["source"].as_str().unwrap().to_string();
        assert!(
            source.starts_with("no gateway config at ")
                && source.contains("bootstrapMaxChars 9000 from compact-memory.per_file_chars in")
                && source
                    .contains("bootstrapTotalMaxChars 60000 from the gateway's built-in default"),
            "{source}"
        );
    }

    #[test]
    fn the_workspace_and_time_zone_come_from_the_gateway() {
        let mut ws = Ws::new();
        ws.put("2026-03-09.md", b"# 2026-03-09\n- decision: tokyo\n");
        let root = ws.suite.root().display().to_string();
        ws.gateway(&format!(
            r#"{{ plugins: {{ entries: {{ "memory-core": {{ config: {{ dreaming: {{ enabled: false }} }} }} }} }},
                 agents: {{ defaults: {{ workspace: "{root}/ws", userTimezone: "Asia/Tokyo" }} }} }}"#
        ));
        ws.suite
            .config(json!({ "compact-memory": { "keep_days": 2, "period": "day" } }));
        // 23:30Z on 03-10 is 08:30 on 03-11 in Tokyo: 03-09 is two days old there.
        ws.run("2026-03-10T23:30:00Z", &[]).silent_success();
        assert!(!ws.mem("2026-03-09.md").exists());
        ws.assert_nothing_lost();
        // A bad zone in the gateway's config names that file and key.
        ws.gateway(&format!(
            r#"{{ agents: {{ defaults: {{ workspace: "{root}/ws", userTimezone: "Mars/Olympus" }} }} }}"#
        ));
        ws.run("2026-03-10T23:30:00Z", &[]).code(78).stderr_has(
            "home/.openclaw/openclaw.json: `agents.defaults.userTimezone`: unknown time zone",
        );
        // A gateway config that does not parse is a config error naming it.
        ws.gateway("{ agents: ");
        ws.run("2026-03-10T23:30:00Z", &[])
            .code(78)
            .stderr_has("openclaw.json: not valid JSON5");
        // An agent the gateway does not have.
        ws.gateway(&format!(
            r#"{{ agents: {{ defaults: {{ workspace: "{root}/ws" }} }} }}"#
        ));
        ws.suite
            .config(json!({ "compact-memory": { "agent": "ops" } }));
        ws.run("2026-03-10T23:30:00Z", &[])
            .code(78)
            .stderr_has("`compact-memory.agent`: \"ops\" is not an agent");
    }

    #[test]
    fn an_empty_workspace_is_a_config_error_naming_the_key() {
        let ws = Ws::new();
        ws.config(json!({ "workspace": "" }));
        let cfg = ws.suite.path("config.json").display().to_string();
        for args in [&["--check-config"][..], &[]] {
            ws.run("2026-02-01T00:00:00Z", args)
                .code(78)
                .stderr_has(&format!("{cfg}: `compact-memory.workspace`: is empty"));
        }
        ws.config(json!({ "timezone": "Mars/Olympus" }));
        ws.run("2026-02-01T00:00:00Z", &[])
            .code(78)
            .stderr_has(&format!("{cfg}: `compact-memory.timezone`"));
        ws.config(json!({ "archive_dir": "memory/old" }));
        ws.run("2026-02-01T00:00:00Z", &["--check-config"])
            .code(78)
            .stderr_has("`compact-memory.archive_dir`: memory/old is inside memory/");
    }

    #[test]
    fn dreamings_window_is_the_keep_floor() {
        let mut ws = Ws::new();
        // Dreaming on (the gateway's default): it reads the last 14 days of notes.
        ws.gateway("{}");
        for d in ["2026-03-01", "2026-03-05", "2026-03-10", "2026-03-14"] {
            ws.put(
                &format!("{d}.md"),
                format!("# {d}\n- decision: {d}\n").as_bytes(),
            );
        }
        ws.config(json!({ "keep_days": 7, "period": "day" }));
        // 2026-03-20: ages 19, 15, 10, 6. keep_days 7 is raised to 15.
        ws.run("2026-03-20T03:00:00Z", &[]).silent_success();
        assert!(!ws.mem("2026-03-01.md").exists() && !ws.mem("2026-03-05.md").exists());
        assert!(
            ws.mem("2026-03-10.md").is_file(),
            "dreaming still reads a 10-day-old note"
        );
        assert_eq!(ws.state()["data"]["last"]["keep_days"], 15);
        assert_eq!(ws.state()["facts"]["keep_days"], 15);
        // A longer REM lookback raises it further.
        ws.gateway(
            r#"{ plugins: { entries: { "memory-core": { config: { dreaming: { phases: { rem: { lookbackDays: 21 } } } } } } } }"#,
        );
        ws.run("2026-03-30T03:00:00Z", &[]).silent_success();
        assert!(ws.mem("2026-03-10.md").is_file(), "20 days old, window 21");
        ws.run("2026-04-01T03:00:00Z", &[]).silent_success();
        assert!(!ws.mem("2026-03-10.md").exists(), "22 days old");
        let st = ws.run("2026-04-01T03:00:00Z", &["status"]);
        st.code(0)
            .stdout_has("keep: notes younger than 22 days stay")
            .stdout_has("plugins.entries.memory-core.config.dreaming.phases.rem.lookbackDays");
        ws.assert_nothing_lost();
    }
}

/// MEMORY.md's source references (written by dreaming's promotion) keep resolving.
mod references {
    use super::*;

    #[test]
    fn notes_memory_md_refers_to_stay_in_place() {
        let mut ws = Ws::new();
        ws.days("2026-01-05", 14, 400); // 2026-W02, W03
        ws.suite.write(
            "ws/MEMORY.md",
            "# Memory\n- weekly summary on Mondays Source: memory/2026-01-06.md#L3-L4 <!-- importance: 7 -->\n\
             <!-- openclaw-memory-promotion:memory:memory/2026-01-14-teams-sync.md:2:3 -->\n\
             - mute #ops [score=0.8 signals=5 recalls=3 avg=0.7 source=memory/2026-01-14-teams-sync.md:2-3]\n",
        );
        ws.config(json!({}));
        ws.run("2026-02-15T03:00:00Z", &[]).silent_success();
        assert_eq!(
            std::fs::read(ws.mem("2026-01-06.md")).unwrap(),
            ws.originals["2026-01-06.md"]
        );
        assert!(ws.mem("2026-01-14-teams-sync.md").is_file());
        assert!(
            !ws.mem("2026-01-07.md").exists(),
            "the others are compacted"
        );
        assert!(!ws.digest("2026-W02").contains("| 2026-01-06.md |"));
        let st = ws.state();
        assert_eq!(
            st["data"]["last"]["kept_for_references"],
            json!(["2026-01-06.md", "2026-01-14-teams-sync.md"])
        );
        assert_eq!(st["metrics"]["kept_for_references"], 2);
        ws.assert_nothing_lost();
        ws.assert_digests_consistent();
        // The reference is removed from MEMORY.md: the note is compacted like the others.
        ws.suite.write("ws/MEMORY.md", "# Memory\n");
        ws.run("2026-02-15T04:00:00Z", &[]).silent_success();
        assert!(!ws.mem("2026-01-06.md").exists());
        assert!(ws.digest("2026-W02").contains("| 2026-01-06.md |"));
        ws.assert_nothing_lost();
        // An archived note MEMORY.md refers to (again) is put back.
        ws.suite
            .write("ws/MEMORY.md", "- Source: memory/2026-01-08.md#L1-L2\n");
        ws.run("2026-02-15T05:00:00Z", &[]).code(0);
        assert_eq!(
            std::fs::read(ws.mem("2026-01-08.md")).unwrap(),
            ws.originals["2026-01-08.md"]
        );
        assert_eq!(
            ws.state()["data"]["last"]["put_back"],
            json!(["2026-01-08.md"])
        );
        ws.run("2026-02-15T06:00:00Z", &[]).silent_success();
        assert!(ws.mem("2026-01-08.md").is_file(), "kept while referenced");
        ws.assert_nothing_lost();
        ws.assert_digests_consistent();
    }
}

/// Workspaces compacted by earlier versions: archive in `memory/archive/`, digests named by
/// period, state schema 1.
mod migration {
    use super::*;
    use chrono::Datelike;
    use std::time::Duration;

    /// Lay out what an earlier version left for `days` starting at `from` (archived) and
    /// return the legacy archive paths with their bytes.
    fn legacy(ws: &mut Ws, from: &str, n: usize) -> Vec<(String, Vec<u8>)> {
        let start = date(from);
        let mut files = Vec::new();
        let mut by_week: BTreeMap<String, Vec<(String, String, Vec<u8>)>> = BTreeMap::new();
        for i in 0..n {
            let d = start + chrono::Duration::days(i as i64);
            let name = format!("{d}.md");
            let bytes = day_text(d, i, 300).into_bytes();
            let rel = format!("archive/{}/{name}", d.format("%Y/%m"));
            let p = ws.mem(&rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, &bytes).unwrap();
            ws.originals.insert(name.clone(), bytes.clone());
            let w = d.iso_week();
            by_week
                .entry(format!("{}-W{:02}", w.year(), w.week()))
                .or_default()
                .push((name, rel.clone(), bytes.clone()));
            files.push((rel, bytes));
        }
        let mut digests = serde_json::Map::new();
        for (key, srcs) in by_week {
            let first = date(&srcs[0].0[..10]);
            let monday =
                first - chrono::Duration::days(i64::from(first.weekday().num_days_from_monday()));
            let sunday = monday + chrono::Duration::days(6);
            let mut text = format!(
                "<!-- compact-memory digest: period={key} method=rules complete=true -->\n# Memory digest {key} ({monday} to {sunday})\n\nWritten 2026-02-01 00:00 UTC. The originals are archived byte for byte; `compact-memory restore <date>` puts a day back.\n\n## Sources\n\n| file | archived as | bytes | sha256 |\n|---|---|---|---|\n"
            );
            for (name, rel, b) in &srcs {
                text.push_str(&format!(
                    "| {name} | `{rel}` | {} | `{}` |\n",
                    b.len(),
                    sha(b)
                ));
            }
            text.push_str("\n## Summary\n\n- decision: walrus pager rotation\n");
            ws.suite
                .write(&format!("ws/memory/digests/{key}.md"), &text);
            digests.insert(
                key.clone(),
                json!({"path": format!("digests/{key}.md"), "method": "rules", "complete": true,
                       "written_at": "2026-02-01T00:00:00Z", "chars": text.chars().count(), "sha256": sha(text.as_bytes()),
                       "sources": srcs.iter().map(|(_, rel, b)| format!("{}  {rel}", sha(b))).collect::<Vec<_>>()}),
            );
        }
        // A digest an earlier version retired (all its days restored).
        ws.suite.write(
            "ws/memory/archive/digests/2025-W50.md",
            "<!-- compact-memory digest: period=2025-W50 method=rules complete=true -->\n",
        );
        ws.suite.write(
            "state/compact-memory.json",
            &serde_json::to_string_pretty(&json!({
                "schema_version": 1, "job": "compact-memory",
                "data": {"digests": digests,
                         "model_call_in_flight": {"period": "2026-W04", "started_at": "2026-02-01T03:00:00Z"}}
            }))
            .unwrap(),
        );
        files
    }

    #[test]
    fn an_earlier_layout_moves_out_of_the_index_and_restore_still_works() {
        let mut ws = Ws::new();
        let files = legacy(&mut ws, "2026-01-05", 14); // 2026-W02, W03
        ws.suite.write(
            "ws/MEMORY.md",
            "- fact Source: memory/archive/2026/01/2026-01-06.md#L1-L2\n",
        );
        ws.config(json!({}));
        let r = ws.run("2026-02-15T03:00:00Z", &[]);
        r.code(0).stderr_has(
            "summarize 2026-W04 with the model: interrupted by the end of an earlier run",
        );
        for (rel, bytes) in &files {
            let moved = ws.arch(rel.strip_prefix("archive/").unwrap());
            assert_eq!(&std::fs::read(&moved).unwrap(), bytes, "{rel}");
        }
        // Only the file MEMORY.md names stays in the old place.
        let left: Vec<String> = ws
            .snapshot()
            .into_keys()
            .filter(|k| k.starts_with("memory/archive/"))
            .collect();
        assert_eq!(left, ["memory/archive/2026/01/2026-01-06.md"]);
        assert!(ws.arch("digests/2025-W50.md").is_file());
        assert!(!ws.mem("digests/2026-W02.md").exists());
        assert!(ws.mem("digests/2026-01-11-digest-2026-W02.md").is_file());
        let d = ws.digest("2026-W02");
        assert!(
            d.contains("`memory-archive/2026/01/2026-01-05.md`") && !d.contains("`archive/"),
            "{d}"
        );
        let st = ws.state();
        assert_eq!(st["schema_version"], 2);
        assert_eq!(
            st["data"]["digests"]["2026-W02"]["path"],
            "digests/2026-01-11-digest-2026-W02.md"
        );
        assert_eq!(
            st["effects"]["model/2026-W04/interrupted"]["status"],
            "unknown"
        );
        assert!(
            st["data"]["archive_dir"]
                .as_str()
                .unwrap()
                .ends_with("ws/memory-archive")
        );
        assert_eq!(st["data"]["last"]["migrated"], 14 + 1 + 2 - 1);
        ws.assert_nothing_lost();
        ws.assert_digests_consistent();
        // Restore finds the moved copies; a second run changes nothing.
        ws.run("2026-02-15T04:00:00Z", &["restore", "2026-01-07"])
            .code(0)
            .stdout_has("restored: memory/2026-01-07.md");
        assert_eq!(
            std::fs::read(ws.mem("2026-01-07.md")).unwrap(),
            ws.originals["2026-01-07.md"]
        );
        ws.run("2026-02-15T05:00:00Z", &["release", "2026-01-07"])
            .code(0);
        ws.run("2026-02-15T06:00:00Z", &[]).silent_success();
        let snap = ws.snapshot();
        ws.run("2026-02-15T07:00:00Z", &[]).silent_success();
        assert_eq!(ws.snapshot(), snap);
        ws.assert_nothing_lost();
    }

    #[test]
    fn restore_right_after_an_upgrade_finds_the_old_archive() {
        let mut ws = Ws::new();
        legacy(&mut ws, "2026-01-05", 7);
        ws.config(json!({}));
        ws.run("2026-02-15T03:00:00Z", &["restore", "2026-01-08"])
            .code(0)
            .stdout_has("restored: memory/2026-01-08.md");
        assert_eq!(
            std::fs::read(ws.mem("2026-01-08.md")).unwrap(),
            ws.originals["2026-01-08.md"]
        );
        assert!(!ws.mem("archive").exists());
    }

    #[test]
    fn a_changed_archive_dir_moves_the_archive_along() {
        let mut ws = Ws::new();
        ws.days("2026-01-05", 14, 300);
        ws.config(json!({}));
        ws.run("2026-02-15T03:00:00Z", &[]).silent_success();
        ws.config(json!({ "archive_dir": "../notes-archive" }));
        ws.run("2026-02-15T04:00:00Z", &[]).code(0);
        assert!(!ws.suite.path("ws/memory-archive").exists());
        let moved = ws.suite.path("notes-archive/2026/01/2026-01-05.md");
        assert_eq!(std::fs::read(moved).unwrap(), ws.originals["2026-01-05.md"]);
        let d = ws.digest("2026-W02");
        let abs = ws.suite.path("notes-archive");
        assert!(
            d.contains(&format!("`{}/2026/01/2026-01-05.md`", abs.display())),
            "{d}"
        );
    }

    #[test]
    fn a_kill_during_the_move_loses_nothing() {
        let mut ws = Ws::new();
        let files = legacy(&mut ws, "2025-06-02", 140);
        ws.config(json!({}));
        let mut kills = 0;
        for _ in 0..12 {
            let child = ws
                .suite
                .spawn(Path::new(BIN), &["--now", "2026-02-15T03:00:00Z"]);
            std::thread::sleep(Duration::from_millis(fastrand::u64(0..40)));
            testkit::signal(&child, 9);
            if child.wait_with_output().unwrap().status.code().is_none() {
                kills += 1;
            }
            for (rel, bytes) in &files {
                let old = std::fs::read(ws.mem(rel)).ok();
                let new = std::fs::read(ws.arch(rel.strip_prefix("archive/").unwrap())).ok();
                assert!(
                    old.as_ref() == Some(bytes) || new.as_ref() == Some(bytes),
                    "{rel} lost (old {:?} bytes, new {:?} bytes)",
                    old.map(|b| b.len()),
                    new.map(|b| b.len())
                );
            }
        }
        assert!(kills >= 3, "only {kills} runs were killed mid-way");
        ws.run("2026-02-15T04:00:00Z", &[]).code(0);
        assert!(
            !ws.mem("archive").exists(),
            "the old archive is gone once moved"
        );
        ws.assert_nothing_lost();
        ws.assert_digests_consistent();
    }
}

/// Where the job writes, and with which modes.
mod placement {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn modes_are_explicit_whatever_the_umask() {
        let mut ws = Ws::new();
        ws.days("2026-01-05", 7, 300);
        ws.config(json!({}));
        let mut c = ws.suite.cmd(Path::new("sh"));
        c.args([
            "-c",
            "umask 000; exec \"$0\" --now 2026-02-15T03:00:00Z",
            BIN,
        ]);
        ws.suite.run_cmd(&mut c).silent_success();
        for d in [
            "ws/memory-archive",
            "ws/memory-archive/2026",
            "ws/memory-archive/2026/01",
            "ws/memory/digests",
        ] {
            assert_eq!(mode(&ws.suite.path(d)), 0o700, "{d}");
        }
        assert_eq!(mode(&ws.arch("2026/01/2026-01-05.md")), 0o600);
        assert_eq!(
            mode(&ws.mem("digests/2026-01-11-digest-2026-W02.md")),
            0o600
        );
    }

    #[test]
    fn a_planted_link_is_never_written_through() {
        let mut ws = Ws::new();
        ws.days("2026-01-05", 7, 300);
        let outside = ws.suite.path("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, ws.suite.path("ws/memory-archive")).unwrap();
        ws.config(json!({}));
        ws.run("2026-02-15T03:00:00Z", &[])
            .code(1)
            .stderr_has("memory-archive: it is a symbolic link");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        ws.assert_nothing_lost();
    }

    #[test]
    fn an_archive_the_gateway_would_index_is_refused() {
        let ws = Ws::new();
        ws.gateway(
            r#"{ plugins: { entries: { "memory-core": { config: { dreaming: { enabled: false } } } } },
                 memory: { search: { extraPaths: ["memory-archive"] } } }"#,
        );
        ws.config(json!({}));
        ws.run("2026-02-15T03:00:00Z", &[])
            .code(78)
            .stderr_has("`compact-memory.archive_dir`")
            .stderr_has("memory.search.extraPaths");
    }
}

#[test]
fn the_config_example_is_valid() {
    let s = Suite::new();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.json"))
        .unwrap();
    s.write("config.json", &text);
    s.run(Path::new(BIN), &["--check-config"]).code(0);
}

/// What operators' tools read: the Prometheus textfile and `status --json`.
mod operator {
    use super::*;
    use testkit::prom;

    /// The number after `prefix` on the text line starting with it.
    fn number_after(text: &str, prefix: &str) -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|rest| {
                rest.split(|c: char| !c.is_ascii_digit())
                    .find(|w| !w.is_empty())
            })
            .unwrap_or_else(|| panic!("no `{prefix}` line in:\n{text}"))
            .parse()
            .unwrap()
    }

    #[test]
    fn the_textfile_and_status_json_agree_with_the_text() {
        let mut ws = Ws::new();
        ws.suite.write("ws/MEMORY.md", &"é".repeat(20_001));
        ws.suite.write("ws/AGENTS.md", &"a".repeat(1000));
        ws.days("2026-01-01", 20, 300);
        ws.config(json!({}));
        let mut c: Value = serde_json::from_str(&ws.suite.read("config.json")).unwrap();
        c["runtime"] = json!({"textfile_dir": "textfile"});
        ws.suite.config(c);
        std::fs::create_dir_all(ws.suite.path("textfile")).unwrap();
        let now = "2026-02-01T03:00:00Z";
        ws.run(now, &[]).code(0);

        let prom = ws.suite.read("textfile/agent_jobs_compact_memory.prom");
        prom::promtool_check(&prom);
        let g = |name: &str, labels: &[(&str, &str)]| {
            prom::sample(&prom, name, labels).unwrap_or_else(|| panic!("{name} in:\n{prom}"))
        };
        assert_eq!(
            g(
                "agent_jobs_memory_over_budget",
                &[("job", "compact-memory")]
            ),
            1.0
        );
        assert_eq!(
            g(
                "agent_jobs_memory_bootstrap_chars",
                &[("file", "MEMORY.md")]
            ),
            20_001.0
        );
        assert_eq!(
            g(
                "agent_jobs_memory_bootstrap_limit_chars",
                &[("file", "MEMORY.md")]
            ),
            20_000.0
        );
        assert_eq!(
            g(
                "agent_jobs_memory_bootstrap_chars",
                &[("file", "AGENTS.md")]
            ),
            1000.0
        );
        let st = ws.state();
        let digests = st["data"]["digests"].as_object().unwrap();
        assert!(!digests.is_empty());
        assert_eq!(g("agent_jobs_memory_digests", &[]), digests.len() as f64);
        assert_eq!(
            g("agent_jobs_memory_archived_notes", &[]),
            st["facts"]["archived"].as_f64().unwrap()
        );

        let r = ws.run(now, &["status", "--json"]);
        r.code(0);
        assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
        let doc: Value = serde_json::from_str(&r.stdout).unwrap();
        for k in [
            "job",
            "as_of",
            "last_run",
            "last_success",
            "facts",
            "workspace",
            "agent",
            "memory_dir",
            "archive_dir",
            "keep",
            "daily_notes_in_place",
            "held",
            "digests",
            "model_tokens",
        ] {
            assert!(doc.get(k).is_some(), "{k} missing: {doc}");
        }
        assert_eq!(doc["job"], "compact-memory");
        assert_eq!(doc["facts"], st["facts"], "the facts the run published");
        let text = ws.run(now, &["status"]);
        text.code(0);
        let t = &text.stdout;
        assert_eq!(doc["facts"]["digests"], number_after(t, "digests: "));
        assert_eq!(
            doc["facts"]["archived"],
            number_after(t.split_once("), listing ").unwrap().1, "")
        );
        assert_eq!(doc["digests"].as_array().unwrap().len(), digests.len());
        assert_eq!(
            doc["daily_notes_in_place"],
            number_after(t, "daily notes in place: ")
        );
        assert_eq!(
            doc["keep"]["days"],
            number_after(t, "keep: notes younger than ")
        );
        let mem = doc["facts"]["budget"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "MEMORY.md")
            .unwrap();
        assert_eq!(mem["chars"], number_after(t, "  MEMORY.md: "));
        assert_eq!(
            doc["facts"]["budget"]["total_chars"],
            number_after(t.split_once("): total ").unwrap().1, "")
        );
        assert_eq!(
            doc["model_tokens"]["total_tokens"],
            number_after(t.split_once(", total ").unwrap().1, "")
        );
        assert!(!t.trim_start().starts_with('{'), "text stays the default");
    }
}
