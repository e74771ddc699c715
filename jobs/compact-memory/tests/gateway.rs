//! compact-memory against the real gateway (OpenClaw, pinned in `scripts/openclaw.pin`): the
//! gateway's own memory index and search before and after a run, its memory status, and the
//! budget report following the gateway's config. One test, several checks in order: a
//! gateway CLI call costs 5–40 s on a small machine.
//!
//! What it relies on (verified against OpenClaw 2026.9.6): the indexer reads `MEMORY.md`,
//! `USER.md` and every `*.md` under `memory/` at any depth; recency decay (30-day half-life)
//! applies to the first `YYYY-MM-DD` of a file name under `memory/`, other names never decay;
//! `memory.search.provider: "none"` searches by keywords only.

#![allow(clippy::unwrap_used)]

use chrono::{Datelike, NaiveDate, Utc};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use testkit::Suite;
use testkit::gateway::{self, Home, Provider};

const BIN: &str = env!("CARGO_BIN_EXE_compact-memory");
/// In this week's notes, a few old notes, the note MEMORY.md refers to, the dreaming report,
/// and the week an earlier version compacted (its archived copies and its digest).
const PHRASE: &str = "walrus pager rotation";

/// One search hit.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    score: f64,
}

fn hits(cli: &gateway::Cli) -> Vec<Hit> {
    cli.ok().json()["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results array\n{}", cli.dump()))
        .iter()
        .map(|r| Hit {
            path: r["path"].as_str().unwrap().to_string(),
            score: r["score"].as_f64().unwrap(),
        })
        .collect()
}

fn show(label: &str, hits: &[Hit]) {
    eprintln!("--- {label}: {} hit(s) for {PHRASE:?}", hits.len());
    for h in hits.iter().take(18) {
        eprintln!("{:>10.6} {}", h.score, h.path);
    }
}

/// The best score among hits whose path satisfies `f` (0 when none).
fn best(hits: &[Hit], f: impl Fn(&str) -> bool) -> f64 {
    hits.iter()
        .filter(|h| f(&h.path))
        .map(|h| h.score)
        .fold(0.0, f64::max)
}

/// The workspace: a year of notes, what an earlier version left, the dreaming paths.
struct Workspace {
    dir: PathBuf,
    today: NaiveDate,
    /// The ISO week an earlier version compacted.
    legacy_key: String,
    /// The note MEMORY.md refers to.
    referenced: String,
    /// Files the job must never touch: path → bytes.
    untouchable: BTreeMap<PathBuf, Vec<u8>>,
}

impl Workspace {
    fn write(dir: &Path, suite: &Suite, today: NaiveDate) -> Workspace {
        let day = |n: i64| today - chrono::Duration::days(n);
        let legacy_day = day(63);
        let monday = legacy_day
            - chrono::Duration::days(i64::from(legacy_day.weekday().num_days_from_monday()));
        let w = monday.iso_week();
        let legacy_key = format!("{}-W{:02}", w.year(), w.week());
        let referenced = format!("{}.md", day(45));
        let mut ws = Workspace {
            dir: dir.to_path_buf(),
            today,
            legacy_key: legacy_key.clone(),
            referenced: referenced.clone(),
            untouchable: BTreeMap::new(),
        };
        let mut legacy_sources = Vec::new();
        for n in 0..365 {
            let d = day(n);
            let with_phrase = n < 7
                || n % 30 == 20
                || n == 45
                || (d >= monday && d < monday + chrono::Duration::days(7));
            let text = format!(
                "# {d}\n\n## 09:14 standup\n- reviewed the build queue on {d}\n- decision {n}: keep going\n{}",
                if with_phrase {
                    format!("- {PHRASE} agreed for {d}\n")
                } else {
                    String::new()
                }
            );
            if d >= monday && d < monday + chrono::Duration::days(7) {
                // Compacted by an earlier version: archived inside memory/ (indexed).
                let rel = format!("archive/{}/{d}.md", d.format("%Y/%m"));
                ws.put(&format!("memory/{rel}"), &text);
                legacy_sources.push((format!("{d}.md"), rel, text));
            } else {
                ws.put(&format!("memory/{d}.md"), &text);
            }
            // Session-hook names (`-HHMM`, `-<slug>`) on some days.
            if n % 50 == 7 {
                ws.put(
                    &format!("memory/{d}-1430.md"),
                    &format!("# Session: {d} 14:30:00 UTC\n- build queue drained\n"),
                );
            }
            if n % 60 == 11 {
                ws.put(
                    &format!("memory/{d}-standup.md"),
                    &format!("# Session: {d} standup\n- rota agreed\n"),
                );
            }
        }
        ws.put_legacy_digest(&legacy_key, monday, &legacy_sources, suite);
        ws.put(
            "MEMORY.md",
            &format!("# Memory\n\n- the operator prefers short answers Source: memory/{referenced}#L3-L4 <!-- importance: 7 -->\n"),
        );
        ws.put("USER.md", &format!("# User\n{}", "u".repeat(4_001 - 7)));
        ws.put("AGENTS.md", &"a".repeat(12_001));
        for (rel, text) in [
            (
                "DREAMS.md".to_string(),
                "# Dreams\n- a pager theme\n".to_string(),
            ),
            (
                format!("memory/.dreams/session-corpus/{}.txt", day(3)),
                "corpus line\n".to_string(),
            ),
            (
                "memory/.dreams/events.jsonl".to_string(),
                "{\"type\":\"legacy\"}\n".to_string(),
            ),
            (
                format!("memory/dreaming/light/{}.md", day(2)),
                format!("# Light sleep\n- {PHRASE} came up again\n"),
            ),
        ] {
            ws.put(&rel, &text);
            ws.untouchable.insert(dir.join(&rel), text.into_bytes());
        }
        ws
    }

    fn put(&mut self, rel: &str, text: &str) {
        let p = self.dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
    }

    /// The digest an earlier version wrote (named by its period: never decays) and its state.
    fn put_legacy_digest(
        &mut self,
        key: &str,
        monday: NaiveDate,
        srcs: &[(String, String, String)],
        suite: &Suite,
    ) {
        let sha = |t: &str| testkit_sha(t.as_bytes());
        let mut text = format!(
            "<!-- compact-memory digest: period={key} method=rules complete=true -->\n# Memory digest {key} ({monday} to {})\n\nThe originals are archived byte for byte.\n\n## Sources\n\n| file | archived as | bytes | sha256 |\n|---|---|---|---|\n",
            monday + chrono::Duration::days(6)
        );
        for (name, rel, t) in srcs {
            text.push_str(&format!(
                "| {name} | `{rel}` | {} | `{}` |\n",
                t.len(),
                sha(t)
            ));
        }
        text.push_str(&format!(
            "\n## Summary\n\n### Decisions\n\n- {PHRASE} agreed for the week\n"
        ));
        self.put(&format!("memory/digests/{key}.md"), &text);
        let state = json!({
            "schema_version": 1, "job": "compact-memory",
            "data": {"digests": {key: {
                "path": format!("digests/{key}.md"), "method": "rules", "complete": true,
                "written_at": "2026-01-01T00:00:00Z", "chars": text.chars().count(), "sha256": sha(&text),
                "sources": srcs.iter().map(|(_, rel, t)| format!("{}  {rel}", sha(t))).collect::<Vec<_>>()
            }}}
        });
        suite.write(
            "state/compact-memory.json",
            &serde_json::to_string_pretty(&state).unwrap(),
        );
    }

    /// Every `.md` file the gateway's indexer reads: MEMORY.md, USER.md, `memory/**/*.md`.
    fn indexable(&self) -> Vec<String> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let t = e.file_type().unwrap();
                if t.is_dir() {
                    walk(root, &e.path(), out);
                } else if t.is_file() && e.file_name().to_string_lossy().ends_with(".md") {
                    out.push(e.path().strip_prefix(root).unwrap().display().to_string());
                }
            }
        }
        let mut out = vec!["MEMORY.md".to_string(), "USER.md".to_string()];
        walk(&self.dir, &self.dir.join("memory"), &mut out);
        out.sort();
        out
    }
}

fn testkit_sha(b: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn indexed_count(cli: &gateway::Cli) -> usize {
    cli.ok();
    let line = cli
        .stdout
        .lines()
        .find(|l| l.contains("files indexed"))
        .unwrap_or_else(|| panic!("no count\n{}", cli.dump()));
    line.split("): ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap()
}

#[test]
fn compaction_on_the_real_gateway() {
    let Some(install) = gateway::require("compaction_on_the_real_gateway") else {
        return;
    };
    let t0 = Instant::now();
    let home = Home::new(&install, Provider::anthropic("http://127.0.0.1:9"));
    let mut cfg = home.base_config();
    cfg["memory"] = json!({"search": {"provider": "none"}});
    cfg["agents"]["defaults"]["userTimezone"] = json!("UTC");
    cfg["agents"]["defaults"]["bootstrapMaxChars"] = json!(12000);
    cfg["agents"]["entries"] = json!({"main": {"bootstrapTotalMaxChars": 30000}});
    home.write_config(&cfg);
    let suite = Suite::new();
    suite.config(json!({
        "gateway": {"config": home.config_path(), "state_dir": home.state_dir()},
        "compact-memory": {}
    }));
    // The job runs "now" as of the start, so a test that crosses midnight UTC keeps its days.
    let start = Utc::now();
    let now = start.to_rfc3339();
    let today = start.date_naive();
    let ws = Workspace::write(&home.workspace(), &suite, today);

    // The gateway accepts the budget keys the job reads (checked while it indexes).
    let validate = std::thread::scope(|s| {
        let v = s.spawn(|| home.validate());
        let n = indexed_count(&home.memory_index());
        assert_eq!(
            n,
            ws.indexable().len(),
            "before: every .md under memory/ is indexed"
        );
        v.join().unwrap()
    });
    assert_eq!(validate.ok().json()["valid"], true, "{}", validate.dump());
    eprintln!(
        "[{:>5.1} s] validated and indexed",
        t0.elapsed().as_secs_f64()
    );

    // Before: the earlier layout's defects, as the gateway ranks them.
    let before = hits(&home.memory_search_ranked(PHRASE, 50));
    show("before", &before);
    let today_note = format!("memory/{today}.md");
    let legacy_digest = format!("memory/digests/{}.md", ws.legacy_key);
    let top_today = best(&before, |p| p == today_note);
    assert!(top_today > 0.0, "today's note is found");
    assert!(
        before.iter().any(|h| h.path.starts_with("memory/archive/")),
        "archived copies were indexed"
    );
    let legacy_before = best(&before, |p| p == legacy_digest);
    assert!(
        legacy_before >= 0.9 * top_today,
        "a period-named digest does not decay: {legacy_before} vs {top_today}"
    );
    eprintln!("[{:>5.1} s] searched (before)", t0.elapsed().as_secs_f64());

    // The run, then the budget report against a changed gateway config.
    let r = suite.run(Path::new(BIN), &["--now", &now]);
    r.code(0)
        .stderr_has("AGENTS.md is 12001 characters, over the per-file budget of 12000")
        .stderr_has("USER.md is 4001 characters, over the USER.md cap of 4000");
    let budget = suite.state("compact-memory")["data"]["budget"].clone();
    let source = budget["source"].as_str().unwrap().to_string();
    assert!(
        source.starts_with(&format!(
            "gateway config {} (agent main)",
            home.config_path().display()
        )) && source.contains("12000 from agents.defaults.bootstrapMaxChars")
            && source.contains("30000 from agents.entries.main.bootstrapTotalMaxChars"),
        "{source}"
    );
    cfg["agents"]["entries"]["main"]["bootstrapMaxChars"] = json!(13000);
    home.write_config(&cfg);
    let r2 = suite.run(Path::new(BIN), &["--now", &now]);
    r2.code(0)
        .stderr_has("USER.md is 4001 characters, over the USER.md cap of 4000");
    assert!(!r2.stderr.contains("AGENTS.md is"), "{}", r2.stderr);
    let st = suite.state("compact-memory");
    assert!(
        st["data"]["budget"]["source"]
            .as_str()
            .unwrap()
            .contains("13000 from agents.entries.main.bootstrapMaxChars"),
        "{:#}",
        st["data"]["budget"]
    );
    assert_eq!(
        st["facts"]["budget"]["source"],
        st["data"]["budget"]["source"]
    );
    assert_eq!(
        st["data"]["last"]["keep_days"], 15,
        "dreaming is on by default: 14 days + 1"
    );
    check_files(&ws);

    // After: the gateway's own index and search.
    let n = indexed_count(&home.memory_index());
    let indexable = ws.indexable();
    assert_eq!(n, indexable.len(), "after: {indexable:?}");
    assert!(
        indexable.iter().all(|p| !p.starts_with("memory/archive")),
        "{indexable:?}"
    );
    eprintln!(
        "[{:>5.1} s] compacted and indexed again ({n} files)",
        t0.elapsed().as_secs_f64()
    );
    // The search and the gateway's repair run side by side (the repair only drops entries
    // whose file is gone; the search records hits on files that exist).
    let moved: usize = before
        .iter()
        .filter(|h| recallable(&h.path) && !ws.dir.join(&h.path).is_file())
        .count();
    let (search, status) = std::thread::scope(|s| {
        let st = s.spawn(|| home.memory_status(true));
        let search = home.memory_search_ranked(PHRASE, 50);
        (search, st.join().unwrap())
    });
    let after = hits(&search);
    show("after", &after);
    check_ranking(&ws, &after);

    // The recall store: the before-search recorded hits on files that moved; the gateway's
    // repair (which its dreaming sweep runs before ranking) drops exactly those.
    let s = &status.ok().json()[0];
    assert_eq!(s["repair"]["removedDanglingEntries"], moved, "{s:#}");
    assert_eq!(s["audit"]["issues"], json!([]), "{s:#}");
    assert_eq!(s["audit"]["danglingEntryCount"], 0);
    assert_eq!(s["status"]["dirty"], false);
    assert_eq!(s["status"]["files"], n);
    assert_eq!(s["status"]["custom"]["indexIdentity"]["status"], "valid");
    assert_eq!(s["status"]["fts"]["available"], true);
    assert_eq!(s["scan"]["sources"][0]["issues"], json!([]));
    assert_eq!(s["dreamingAudit"]["issues"], json!([]));
    eprintln!("[{:>5.1} s] done", t0.elapsed().as_secs_f64());
}

/// Whether a hit is recorded into the gateway's recall store: a dated note name under
/// `memory/` at any depth, except dreaming's reports (`short-term-promotion-store`).
fn recallable(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let dated = NaiveDate::parse_from_str(name.get(..10).unwrap_or(""), "%Y-%m-%d").is_ok()
        && (name[10..].starts_with('-') || &name[10..] == ".md");
    path.starts_with("memory/") && !path.starts_with("memory/dreaming/") && dated
}

/// Where every file went.
fn check_files(ws: &Workspace) {
    for (p, bytes) in &ws.untouchable {
        assert_eq!(
            &std::fs::read(p).unwrap(),
            bytes,
            "{} was touched",
            p.display()
        );
    }
    let mem = ws.dir.join("memory");
    assert!(
        !mem.join("archive").exists(),
        "the earlier archive moved out of memory/"
    );
    assert!(
        mem.join(&ws.referenced).is_file(),
        "MEMORY.md's reference still resolves"
    );
    let kept: usize = (0..15)
        .filter(|n| {
            mem.join(format!("{}.md", ws.today - chrono::Duration::days(*n)))
                .is_file()
        })
        .count();
    assert_eq!(kept, 15, "notes younger than dreaming's window + 1 stay");
    let old = ws.today - chrono::Duration::days(100);
    assert!(!mem.join(format!("{old}.md")).exists());
    assert!(
        ws.dir
            .join(format!("memory-archive/{}/{old}.md", old.format("%Y/%m")))
            .is_file()
    );
    for e in std::fs::read_dir(mem.join("digests")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let date = NaiveDate::parse_from_str(name.get(..10).unwrap_or(""), "%Y-%m-%d");
        assert!(
            date.is_ok_and(|d| d < ws.today),
            "{name}: a digest is named by a past day"
        );
    }
}

/// After compaction: nothing archived is found, and this week's notes rank above every digest.
fn check_ranking(ws: &Workspace, after: &[Hit]) {
    assert!(
        after.iter().all(|h| !h.path.contains("archive/")),
        "an archived copy is indexed: {after:?}"
    );
    let digest = best(after, |p| p.starts_with("memory/digests/"));
    assert!(digest > 0.0, "digests are found");
    for n in 0..7 {
        let note = format!("memory/{}.md", ws.today - chrono::Duration::days(n));
        let s = best(after, |p| p == note);
        assert!(
            s > digest,
            "{note} ({s}) must rank above every digest ({digest})"
        );
    }
    let today_score = best(after, |p| p == format!("memory/{}.md", ws.today));
    let renamed = after
        .iter()
        .find(|h| {
            h.path.starts_with("memory/digests/")
                && h.path.ends_with(&format!("-digest-{}.md", ws.legacy_key))
        })
        .unwrap_or_else(|| panic!("the earlier digest, renamed, is found: {after:?}"));
    assert!(
        renamed.score < 0.5 * today_score,
        "renamed by its last day, it decays like its days: {} vs {today_score}",
        renamed.score
    );
    assert!(
        after
            .iter()
            .any(|h| h.path == format!("memory/{}", ws.referenced))
    );
}
