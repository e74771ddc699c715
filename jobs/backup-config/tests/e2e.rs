//! End-to-end tests of `backup-config` through the real binary, as cron and operators run it:
//! a temp suite root, the live config under `<root>/gw/`, alerts captured by an alert command.

#![allow(clippy::unwrap_used)]

use backup_config::store::sha256_hex;
use serde_json::{Value, json};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use testkit::{Run, Suite};

const BIN: &str = env!("CARGO_BIN_EXE_backup-config");

fn bin() -> &'static Path {
    Path::new(BIN)
}

/// A realistic gateway config in JSON5 (comments, trailing commas, unquoted keys).
const GOOD: &str = r#"// OpenClaw gateway config (edited by hand)
{
  meta: { lastTouchedVersion: "2026.2.19", lastTouchedAt: "2026-02-20T22:07:39.706Z" },
  env: { ANTHROPIC_API_KEY: "sk-ant-OLDSECRET-1111" },
  auth: {
    profiles: { "anthropic:default": { provider: "anthropic", mode: "api_key" } },
    order: { anthropic: ["anthropic:default"] },
  },
  agents: {
    defaults: {
      workspace: "/home/agent/.openclaw/workspace",
      model: { primary: "anthropic/claude-sonnet-4-6", fallbacks: ["openai/gpt-5.4"] },
      heartbeat: { every: "30m" }, // was 10m: too many tokens
      bootstrapMaxChars: 20000,
      bootstrapTotalMaxChars: 60000,
    },
    list: [{ id: "main", default: true }],
  },
  channels: {
    msteams: {
      enabled: true,
      appId: "00000000-0000-0000-0000-000000000001",
      appPassword: "pw-OLD-2222",
      tenantId: "00000000-0000-0000-0000-0000000000aa",
      dmPolicy: "allowlist",
      allowFrom: ["3f2504e0-4f89-11d3-9a0c-0305e82c3301"],
    },
  },
  cron: { enabled: true, maxConcurrentRuns: 1 },
  logging: { level: "info" },
  gateway: {
    mode: "local",
    port: 18789,
    bind: "loopback",
    auth: { mode: "token", token: "${OPENCLAW_GATEWAY_TOKEN}" },
  },
}
"#;

const LIVE: &str = "gw/openclaw.json";
const SNAPDIR: &str = "backups/openclaw.json";

/// A suite watching `gw/openclaw.json`, alerts appended to `<root>/alerts.txt`.
fn suite_with(extra: Value) -> Suite {
    let s = Suite::new();
    let alerts = s.path("alerts.txt");
    let mut section = json!({ "files": [{ "path": LIVE }] });
    if let (Some(obj), Value::Object(e)) = (section.as_object_mut(), extra) {
        for (k, v) in e {
            obj.insert(k, v);
        }
    }
    s.config(json!({
        "runtime": { "alerts": { "command": [
            "sh", "-c", "cat >> \"$0\"; printf '\\n---\\n' >> \"$0\"", alerts.display().to_string()
        ] } },
        "backup-config": section,
    }));
    fs::create_dir_all(s.path("gw")).unwrap();
    s
}

fn suite() -> Suite {
    suite_with(json!({}))
}

fn run(s: &Suite, args: &[&str]) -> Run {
    s.run(bin(), args)
}

fn alerts(s: &Suite) -> Vec<String> {
    s.read("alerts.txt")
        .split("\n---\n")
        .filter(|a| !a.trim().is_empty())
        .map(String::from)
        .collect()
}

fn snapshots(s: &Suite) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(s.path(SNAPDIR))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let n = p.file_name().unwrap().to_string_lossy().into_owned();
                    !n.starts_with('.') && n.ends_with(".json")
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn file_state(s: &Suite) -> Value {
    s.state("backup-config")["data"]["files"]["openclaw.json"].clone()
}

fn write_live(s: &Suite, text: &str) {
    fs::write(s.path(LIVE), text).unwrap();
}

fn live_bytes(s: &Suite) -> Vec<u8> {
    fs::read(s.path(LIVE)).unwrap()
}

/// The copies restores kept of what they replaced: `backups/<name>/replaced/<stamp>/<file>`
/// (before schema 2 they were `<file>.clobbered.<UTC>` next to the live file, the gateway's own
/// name for its repairs).
fn clobbered(s: &Suite) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(s.path("backups/openclaw.json/replaced"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path().join("openclaw.json"))
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    // and nothing of ours is next to the live file under the gateway's names
    let beside: Vec<String> = fs::read_dir(s.path("gw"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("openclaw.json."))
        .collect();
    assert!(
        beside.is_empty(),
        "files next to the live config: {beside:?}"
    );
    v
}

/// A second good version: same shape, one more agent and a changed secret.
fn good_v2() -> String {
    GOOD.replace(
        "list: [{ id: \"main\", default: true }],",
        "list: [{ id: \"main\", default: true }, { id: \"ops\" }],",
    )
}

mod snapshots {
    use super::*;

    #[test]
    fn json5_config_with_comments_is_snapshotted_privately_and_once() {
        let s = suite();
        write_live(&s, GOOD);
        run(&s, &[]).silent_success();
        let snaps = snapshots(&s);
        assert_eq!(snaps.len(), 1, "{snaps:?}");
        let name = snaps[0].file_name().unwrap().to_string_lossy().into_owned();
        let sha = sha256_hex(GOOD.as_bytes());
        assert!(name.ends_with(&format!("Z-{}.json", &sha[..12])), "{name}");
        assert!(!name.contains(".bak"));
        assert_eq!(fs::read(&snaps[0]).unwrap(), GOOD.as_bytes());
        assert_eq!(fs::metadata(&snaps[0]).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(s.path(SNAPDIR)).unwrap().mode() & 0o777, 0o700);
        // nothing was written next to the live config
        let beside: Vec<_> = fs::read_dir(s.path("gw")).unwrap().flatten().collect();
        assert_eq!(beside.len(), 1);

        let st = file_state(&s);
        assert_eq!(st["status"], "good");
        assert_eq!(st["last_good"], sha.as_str());
        let snap = &st["snapshots"][0];
        assert_eq!(snap["sha256"], sha.as_str());
        assert_eq!(snap["size"], GOOD.len() as u64);
        assert_eq!(snap["validity"], "good");
        assert!(snap["taken_at"].is_string());

        // unchanged: a silent no-op, still one snapshot
        run(&s, &[]).silent_success();
        assert_eq!(snapshots(&s).len(), 1);
        assert_eq!(s.state("backup-config")["last_run"]["outcome"], "noop");
    }

    #[test]
    fn a_same_size_edit_with_the_old_mtime_put_back_is_still_seen() {
        let s = suite();
        write_live(&s, GOOD);
        let touch = |s: &Suite| {
            let ok = std::process::Command::new("touch")
                .args(["-d", "2026-01-01 00:00:00"])
                .arg(s.path(LIVE))
                .status()
                .unwrap()
                .success();
            assert!(ok, "touch failed");
        };
        touch(&s);
        run(&s, &[]).silent_success();
        run(&s, &[]).silent_success(); // unchanged: stat-only path
        let edited = GOOD.replace("level: \"info\"", "level: \"warn\"");
        assert_eq!(edited.len(), GOOD.len());
        write_live(&s, &edited);
        touch(&s);
        run(&s, &[]).silent_success();
        assert_eq!(snapshots(&s).len(), 2, "the edit was missed");
        assert_eq!(
            file_state(&s)["last_good"],
            sha256_hex(edited.as_bytes()).as_str()
        );
    }

    #[test]
    fn identical_content_is_never_stored_twice() {
        let s = suite();
        let v2 = good_v2();
        for text in [GOOD, v2.as_str(), GOOD, v2.as_str(), GOOD] {
            write_live(&s, text);
            run(&s, &[]).silent_success();
        }
        let snaps = snapshots(&s);
        assert_eq!(snaps.len(), 2, "{snaps:?}");
        let st = file_state(&s);
        assert_eq!(st["snapshots"].as_array().unwrap().len(), 2);
        assert_eq!(st["last_good"], sha256_hex(GOOD.as_bytes()).as_str());
    }

    #[test]
    fn retention_prunes_and_logs_but_keeps_the_last_good() {
        let s = suite_with(json!({ "keep_last": 2, "keep_daily_days": 0, "keep_weekly_weeks": 0 }));
        for i in 0..5 {
            write_live(&s, &GOOD.replace("30m", &format!("{}m", 30 + i)));
            run(&s, &[]).silent_success();
        }
        assert_eq!(snapshots(&s).len(), 2);
        let log = s.log("backup-config");
        assert_eq!(
            log.matches("pruned snapshot openclaw.json/").count(),
            3,
            "{log}"
        );
        // the live version is the last good one and is kept
        let last = sha256_hex(GOOD.replace("30m", "34m").as_bytes());
        assert!(
            snapshots(&s)
                .iter()
                .any(|p| p.to_string_lossy().contains(&last[..12]))
        );
    }

    #[test]
    fn verify_reports_a_damaged_snapshot() {
        let s = suite();
        write_live(&s, GOOD);
        run(&s, &[]).silent_success();
        run(&s, &["verify"])
            .code(0)
            .stdout_has("1 of 1 snapshots intact");
        let snap = &snapshots(&s)[0];
        fs::write(snap, &GOOD[..100]).unwrap();
        let r = run(&s, &["verify"]);
        r.code(65)
            .stdout_has("DAMAGED openclaw.json/")
            .stdout_has("[the last good version]");
        r.stderr_has("1 damaged snapshot");
        // and a damaged snapshot is never restored
        write_live(&s, "{}");
        run(&s, &["restore"]).code(65).stderr_has("is damaged");
        assert_eq!(live_bytes(&s), b"{}");
    }
}

mod invalid {
    use super::*;

    /// Good run first, then `corrupt`, then a run: the alert must contain every `needle`.
    fn detect(corrupt: impl FnOnce(&Suite), needles: &[&str]) -> Suite {
        let s = suite();
        write_live(&s, GOOD);
        run(&s, &[]).silent_success();
        corrupt(&s);
        let before = fs::read(s.path(LIVE)).ok();
        let r = run(&s, &[]);
        r.code(0);
        let a = alerts(&s);
        assert_eq!(a.len(), 1, "{a:?}\n{}", r.dump());
        for n in needles {
            assert!(a[0].contains(n), "alert lacks {n:?}: {}", a[0]);
            assert!(r.stderr.contains(n), "stderr lacks {n:?}\n{}", r.dump());
        }
        let root = s.root().display().to_string();
        assert!(
            a[0].contains(&format!(
                "backup-config --root {root} restore openclaw.json"
            )),
            "{}",
            a[0]
        );
        assert_eq!(
            fs::read(s.path(LIVE)).ok(),
            before,
            "the live file was touched"
        );
        assert_eq!(snapshots(&s).len(), 1, "a bad version was snapshotted");
        s
    }

    #[test]
    fn the_43_byte_wipe_is_a_missing_key_with_the_size_drop() {
        let wiped = "{\n  \"gateway\": {\n    \"mode\": \"local\"\n  }\n}\n";
        assert_eq!(wiped.len(), 43);
        let s = detect(
            |s| write_live(s, wiped),
            &[
                "required key `meta` is missing",
                &format!("{} → 43 bytes (-", GOOD.len()),
            ],
        );
        assert_eq!(file_state(&s)["status"], "invalid");
    }

    #[test]
    fn a_truncated_file_names_line_and_column() {
        // 421 bytes, cut mid-string like #40410
        let cut = &GOOD[..421];
        let (line, col) = backup_config::parse::line_col(cut, cut.len());
        detect(
            |s| write_live(s, cut),
            &[
                "not valid JSON5",
                &format!("line {line}, column"),
                "(truncated file?)",
                &format!("{} → 421 bytes", GOOD.len()),
            ],
        );
        let _ = col;
    }

    #[test]
    fn a_non_json_prefix_is_reported_at_line_1() {
        detect(
            |s| write_live(s, &format!("Config overwrite: ok\n{GOOD}")),
            &[
                "not valid JSON5: line 1, column 1",
                "unexpected word `Config`",
            ],
        );
    }

    #[test]
    fn a_missing_nested_key_is_named() {
        detect(
            |s| write_live(s, &GOOD.replace("mode: \"local\",", "")),
            &["required key `gateway.mode` is missing (`gateway` has no key `mode`)"],
        );
    }

    #[test]
    fn a_deleted_file_is_reported_not_treated_as_empty() {
        let s = detect(
            |s| fs::remove_file(s.path(LIVE)).unwrap(),
            &["is missing: the file does not exist"],
        );
        assert_eq!(file_state(&s)["status"], "missing");
        assert!(!s.path(LIVE).exists(), "the job recreated the file");
        // and restore brings it back
        run(&s, &["restore"])
            .code(0)
            .stdout_has("The file was missing");
        assert_eq!(live_bytes(&s), GOOD.as_bytes());
    }

    #[test]
    fn an_external_validator_decides() {
        let s = suite_with(json!({ "files": [{
            "path": LIVE,
            "validator": ["sh", "-c", "grep -q ops \"$1\" || { echo 'agents.list: ops required' >&2; exit 1; }", "sh", "{file}"]
        }]}));
        write_live(&s, &good_v2());
        run(&s, &[]).silent_success();
        write_live(&s, GOOD);
        run(&s, &[]).code(0).stderr_has("agents.list: ops required");
        assert_eq!(file_state(&s)["status"], "invalid");
        assert_eq!(snapshots(&s).len(), 1);
    }

    #[test]
    fn strict_json_files_reject_comments() {
        let s = suite_with(
            json!({ "files": [{ "path": LIVE, "format": "json", "required_keys": [] }] }),
        );
        write_live(&s, "{\"a\": 1}\n");
        run(&s, &[]).silent_success();
        write_live(&s, "{\n  // note\n  \"a\": 1\n}\n");
        run(&s, &[])
            .code(0)
            .stderr_has("not valid JSON: line 2, column");
    }

    #[test]
    fn alert_once_per_bad_content() {
        let s = suite();
        write_live(&s, GOOD);
        run(&s, &[]).silent_success();
        write_live(&s, &GOOD[..300]);
        run(&s, &[]).code(0);
        for _ in 0..3 {
            // same bad content: no new alert, and silent for cron
            run(&s, &[]).silent_success();
        }
        assert_eq!(alerts(&s).len(), 1);
        write_live(&s, &GOOD[..200]);
        run(&s, &[]).code(0);
        run(&s, &[]).silent_success();
        assert_eq!(alerts(&s).len(), 2);
        let st = s.state("backup-config");
        let keys: Vec<&String> = st["effects"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with("alert/"))
            .collect();
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert!(
            keys.iter()
                .all(|k| k.starts_with("alert/invalid:openclaw.json:"))
        );
        // fixed: records cleared, so the same breakage later is a new incident
        write_live(&s, GOOD);
        run(&s, &[]).silent_success();
        assert!(
            !s.state("backup-config")["effects"]
                .as_object()
                .unwrap()
                .keys()
                .any(|k| k.starts_with("alert/"))
        );
        write_live(&s, &GOOD[..300]);
        run(&s, &[]).code(0);
        assert_eq!(alerts(&s).len(), 3);
    }

    #[test]
    fn size_drop_guard_needs_accept() {
        let s = suite();
        let big = GOOD.replace(
            "logging: { level: \"info\" },",
            &format!(
                "logging: {{ level: \"info\" }},\n  ui: {{ note: \"{}\" }},",
                "x".repeat(4000)
            ),
        );
        write_live(&s, &big);
        run(&s, &[]).silent_success();
        let good_sha = sha256_hex(big.as_bytes());
        // valid but less than half the size
        write_live(&s, GOOD);
        let r = run(&s, &[]);
        r.code(0)
            .stderr_has("much smaller than the last good version");
        let st = file_state(&s);
        assert_eq!(st["status"], "suspicious");
        assert_eq!(st["last_good"], good_sha.as_str());
        let snaps = st["snapshots"].as_array().unwrap();
        assert_eq!(snaps.len(), 2, "the smaller version is kept, not lost");
        assert_eq!(snaps[1]["validity"], "suspicious");
        assert_eq!(alerts(&s).len(), 1);
        assert!(alerts(&s)[0].contains("--accept"));
        // restore with no argument goes back to the big one, not the suspicious one
        run(&s, &["restore", "--dry-run"])
            .code(0)
            .stdout_has("Dry run: would restore");
        assert_eq!(live_bytes(&s), GOOD.as_bytes());
        // --accept takes it
        run(&s, &["--accept"]).silent_success();
        let st = file_state(&s);
        assert_eq!(st["status"], "good");
        assert_eq!(st["last_good"], sha256_hex(GOOD.as_bytes()).as_str());
        assert_eq!(st["snapshots"][1]["validity"], "good");
        assert!(st["snapshots"][1]["accepted_at"].is_string());
    }

    #[test]
    fn auto_restore_waits_for_consecutive_invalid_runs() {
        let s = suite_with(json!({ "auto_restore": true, "auto_restore_after_runs": 3 }));
        write_live(&s, GOOD);
        run(&s, &[]).silent_success();
        write_live(&s, "{\"gateway\":{\"mode\":\"local\"}}");
        run(&s, &[]).code(0);
        run(&s, &[]).silent_success();
        assert!(clobbered(&s).is_empty(), "restored too early");
        let r = run(&s, &[]);
        r.code(0);
        assert_eq!(live_bytes(&s), GOOD.as_bytes(), "{}", r.dump());
        let c = clobbered(&s);
        assert_eq!(c.len(), 1);
        assert_eq!(
            fs::read(&c[0]).unwrap(),
            b"{\"gateway\":{\"mode\":\"local\"}}"
        );
        let a = alerts(&s);
        assert!(a.last().unwrap().contains("AUTOMATIC RESTORE"), "{a:?}");
        assert!(a.last().unwrap().contains(&c[0].display().to_string()));
        assert_eq!(
            s.state("backup-config")["data"]["restores"][0]["automatic"],
            true
        );
    }
}

mod restore {
    use super::*;

    #[test]
    fn restore_keeps_mode_owner_and_the_clobbered_copy_and_can_be_undone() {
        let s = suite();
        let live = s.path(LIVE);
        write_live(&s, GOOD);
        fs::set_permissions(&live, fs::Permissions::from_mode(0o640)).unwrap();
        let root = nix_is_root();
        let owner = if root { (4321, 4322) } else { owner_of(&live) };
        if root {
            std::os::unix::fs::chown(&live, Some(owner.0), Some(owner.1)).unwrap();
        }
        run(&s, &[]).silent_success();
        let v1 = file_state(&s)["snapshots"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let v2 = good_v2();
        write_live(&s, &v2);
        run(&s, &[]).silent_success();

        // break it, then `restore` with no argument = last good (v2)
        fs::write(&live, &GOOD[..421]).unwrap();
        let r = run(&s, &["restore"]);
        r.code(0).stdout_has("Restored ").stdout_has("is kept as");
        assert!(r.stderr.is_empty(), "{}", r.dump());
        assert_eq!(
            r.stdout.trim().lines().count(),
            1,
            "one paragraph: {}",
            r.stdout
        );
        assert_eq!(live_bytes(&s), v2.as_bytes());
        assert_eq!(fs::metadata(&live).unwrap().mode() & 0o7777, 0o640);
        assert_eq!(owner_of(&live), owner);
        let c = clobbered(&s);
        assert_eq!(c.len(), 1);
        assert_eq!(fs::read(&c[0]).unwrap(), &GOOD.as_bytes()[..421]);
        assert!(r.stdout.contains(&c[0].display().to_string()));

        // restore an older snapshot by id, then restore the restore
        run(&s, &["restore", &v1]).code(0);
        assert_eq!(live_bytes(&s), GOOD.as_bytes());
        let v2_id = file_state(&s)["snapshots"][1]["id"]
            .as_str()
            .unwrap()
            .to_string();
        // by a sha256 prefix
        let r = run(&s, &["restore", &v2_id[v2_id.len() - 12..v2_id.len() - 4]]);
        r.code(0);
        assert_eq!(live_bytes(&s), v2.as_bytes());
        let c = clobbered(&s);
        assert_eq!(c.len(), 3, "every replaced version kept: {c:?}");
        let kept: Vec<Vec<u8>> = c.iter().map(|p| fs::read(p).unwrap()).collect();
        assert!(kept.contains(&v2.as_bytes().to_vec()));
        assert!(kept.contains(&GOOD.as_bytes().to_vec()));
        assert_eq!(fs::metadata(&live).unwrap().mode() & 0o7777, 0o640);
        assert_eq!(owner_of(&live), owner);
        for p in &c {
            assert_eq!(fs::metadata(p).unwrap().mode() & 0o777, 0o600);
        }
        // state records them and the next run is a quiet no-op
        assert_eq!(
            s.state("backup-config")["data"]["restores"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        run(&s, &[]).silent_success();
        // restoring what is already live changes nothing
        run(&s, &["restore"])
            .code(0)
            .stdout_has("Nothing to restore");
        assert_eq!(clobbered(&s).len(), 3);
    }

    #[test]
    fn dry_run_restore_changes_nothing() {
        let s = suite();
        write_live(&s, GOOD);
        run(&s, &[]).silent_success();
        write_live(&s, "broken {");
        let state_before = s.read("state/backup-config.json");
        run(&s, &["restore", "--dry-run"])
            .code(0)
            .stdout_has("Dry run: would restore");
        assert_eq!(live_bytes(&s), b"broken {");
        assert!(clobbered(&s).is_empty());
        assert_eq!(s.read("state/backup-config.json"), state_before);
    }

    #[test]
    fn unknown_snapshot_is_a_usage_error() {
        let s = suite();
        write_live(&s, GOOD);
        run(&s, &[]).silent_success();
        run(&s, &["restore", "20990101T000000Z-ffffffffffff"])
            .code(2)
            .stderr_has("no snapshot matches");
        run(&s, &["restore", "--file", "nope.json"])
            .code(2)
            .stderr_has("watched: openclaw.json");
    }

    fn owner_of(p: &Path) -> (u32, u32) {
        let m = fs::metadata(p).unwrap();
        (m.uid(), m.gid())
    }

    fn nix_is_root() -> bool {
        fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false)
    }
}

mod diff {
    use super::*;

    #[test]
    fn secrets_are_masked_unless_asked() {
        let s = suite();
        write_live(&s, GOOD);
        run(&s, &[]).silent_success();
        let changed = GOOD
            .replace("sk-ant-OLDSECRET-1111", "sk-ant-NEWSECRET-3333")
            .replace("pw-OLD-2222", "pw-NEW-4444")
            .replace("level: \"info\"", "level: \"debug\"");
        write_live(&s, &changed);
        let r = run(&s, &["diff"]);
        r.code(0);
        for secret in ["OLDSECRET", "NEWSECRET", "pw-OLD", "pw-NEW"] {
            assert!(!r.stdout.contains(secret), "{secret} leaked:\n{}", r.stdout);
        }
        assert!(
            r.stdout.contains("-  logging: { level: \"info\" },"),
            "{}",
            r.stdout
        );
        assert!(
            r.stdout.contains("+  logging: { level: \"debug\" },"),
            "{}",
            r.stdout
        );
        assert!(
            r.stdout.contains("-  env: { ANTHROPIC_API_KEY: \"***\" },"),
            "{}",
            r.stdout
        );
        assert!(
            r.stdout
                .contains("+  env: { ANTHROPIC_API_KEY: \"*** (changed)\" },"),
            "{}",
            r.stdout
        );
        assert!(r.stdout.starts_with("--- openclaw.json/"), "{}", r.stdout);

        let r = run(&s, &["diff", "--show-secrets"]);
        r.code(0)
            .stdout_has("-  env: { ANTHROPIC_API_KEY: \"sk-ant-OLDSECRET-1111\" },");
        r.stdout_has("+      appPassword: \"pw-NEW-4444\",");

        // a change of one secret is shown as such, without its value
        write_live(&s, &GOOD.replace("pw-OLD-2222", "pw-NEW-4444"));
        let r = run(&s, &["diff"]);
        r.code(0)
            .stdout_has("+      appPassword: \"*** (changed)\",");
        assert_eq!(
            r.stdout
                .lines()
                .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
                .count(),
            1
        );
        assert!(
            !r.stdout.contains("pw-NEW") && !r.stdout.contains("pw-OLD"),
            "{}",
            r.stdout
        );
        // and a broken file still diffs, masked
        write_live(&s, &GOOD[..760]);
        let r = run(&s, &["diff"]);
        r.code(0);
        assert!(
            !r.stdout.contains("pw-OLD") && !r.stdout.contains("OLDSECRET"),
            "{}",
            r.stdout
        );
    }

    #[test]
    fn list_shows_snapshots_and_markers() {
        let s = suite();
        write_live(&s, GOOD);
        run(&s, &[]).silent_success();
        write_live(&s, &good_v2());
        run(&s, &[]).silent_success();
        let r = run(&s, &["list"]);
        r.code(0)
            .stdout_has("openclaw.json")
            .stdout_has("status: good");
        let lines: Vec<&str> = r.stdout.lines().filter(|l| l.contains("Z-")).collect();
        assert_eq!(lines.len(), 2, "{}", r.stdout);
        assert!(lines[0].contains("last good, live"), "{}", r.stdout);
        assert!(!lines[1].contains("last good"), "{}", r.stdout);
        assert!(r.stderr.is_empty());
        run(&s, &["list", "other.json"]).code(2);
    }
}

mod failures {
    use super::*;

    #[test]
    fn a_snapshot_dir_that_cannot_be_written_fails_the_run_and_spares_the_live_file() {
        let s = suite();
        write_live(&s, GOOD);
        // the snapshot directory's place is taken by a file: every write into it fails
        fs::create_dir_all(s.path("backups")).unwrap();
        fs::write(s.path(SNAPDIR), b"not a dir").unwrap();
        let before = fs::metadata(s.path(LIVE)).unwrap();
        let r = run(&s, &[]);
        r.code(1)
            .stderr_has("cannot write a snapshot of openclaw.json")
            .stderr_has("the live config was not touched");
        let after = fs::metadata(s.path(LIVE)).unwrap();
        assert_eq!(live_bytes(&s), GOOD.as_bytes());
        assert_eq!(before.ino(), after.ino());
        assert_eq!(before.mtime_nsec(), after.mtime_nsec());
        assert_eq!(file_state(&s)["last_good"], Value::Null);
    }

    #[test]
    fn a_full_disk_during_the_snapshot_fails_cleanly() {
        // Writes past RLIMIT_FSIZE fail with EFBIG once SIGXFSZ is ignored: the same path
        // through write(2) as ENOSPC on a full disk, without needing root or a mount.
        let s = suite();
        let big = GOOD.replace("30m", &format!("30m{}", "z".repeat(64 * 1024)));
        write_live(&s, &big);
        let mut c = s.cmd(Path::new("sh"));
        c.args(["-c", "trap '' XFSZ; ulimit -f 32; exec \"$0\"", BIN]);
        let r = s.run_cmd(&mut c);
        r.code(1)
            .stderr_has("cannot write a snapshot of openclaw.json")
            .stderr_has("File too large");
        assert_eq!(live_bytes(&s), big.as_bytes());
        assert!(snapshots(&s).is_empty());
        // temp files are gone (removed on failure or swept by the next run)
        run(&s, &[]).silent_success();
        assert_eq!(snapshots(&s).len(), 1);
        let leftovers: Vec<_> = fs::read_dir(s.path(SNAPDIR))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn config_errors_name_the_key() {
        let s = Suite::new();
        s.config(
            json!({ "backup-config": { "files": [{ "path": "gw/a.json", "min_size_ratio": 3 }] } }),
        );
        run(&s, &[]).code(78).stderr_has("files[0].min_size_ratio");
        s.config(
            json!({ "backup-config": { "files": [{ "path": "gw/a.json" }], "backups_dir": "gw" } }),
        );
        run(&s, &[]).code(78).stderr_has("backups_dir");
        s.config(json!({ "backup-config": { "keep": 3 } }));
        run(&s, &[]).code(78).stderr_has("keep");
    }
}

mod sigkill {
    use super::*;
    use std::time::Duration;

    fn big_config(tag: usize) -> String {
        let mut t = String::from(
            "{\n  meta: { lastTouchedVersion: \"2026.2.19\" },\n  gateway: { mode: \"local\" },\n  // bulk\n  skills: [\n",
        );
        let mut i = 0;
        while t.len() < 3 << 20 {
            t.push_str(&format!(
                "    {{ id: \"skill-{tag}-{i}\", enabled: true, note: \"{}\" }},\n",
                "n".repeat(60)
            ));
            i += 1;
        }
        t.push_str("  ],\n}\n");
        t
    }

    /// Every snapshot file holds exactly the content its name's hash prefix says.
    fn assert_snapshots_whole(s: &Suite) {
        for p in snapshots(s) {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let prefix = &name[name.len() - 17..name.len() - 5];
            let sha = sha256_hex(&fs::read(&p).unwrap());
            assert_eq!(&sha[..12], prefix, "torn snapshot {name}");
        }
    }

    #[test]
    fn sigkill_during_snapshot_never_tears_the_live_file_or_a_snapshot() {
        let s = suite();
        // calibrate: how long a snapshotting run takes on this machine and build
        write_live(&s, &big_config(999));
        let t0 = std::time::Instant::now();
        run(&s, &[]).silent_success();
        let full = t0.elapsed().as_millis() as u64 + 1;
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        let mut killed = 0;
        for n in 0..40 {
            let text = big_config(n);
            write_live(&s, &text);
            let child = s.spawn(bin(), &[]);
            // The calibrated duration drifts on a loaded (or idle) machine: past half the
            // rounds, narrow the window while too few runs were killed mid-way.
            let span = if n >= 20 && killed < 10 {
                (full / 2).max(1)
            } else {
                full * 5 / 4
            };
            std::thread::sleep(Duration::from_millis(rng.u64(0..span)));
            testkit::signal(&child, 9);
            let out = child.wait_with_output().unwrap();
            if out.status.code().is_none() {
                killed += 1;
            }
            assert_eq!(
                live_bytes(&s),
                text.as_bytes(),
                "iteration {n}: live file changed"
            );
            assert_snapshots_whole(&s);
        }
        assert!(killed >= 10, "only {killed} runs were killed mid-way");
        // the next runs finish the job: no duplicate content, everything verifies
        run(&s, &[]).code(0);
        run(&s, &["verify"]).code(0);
        let shas: Vec<String> = snapshots(&s)
            .iter()
            .map(|p| sha256_hex(&fs::read(p).unwrap()))
            .collect();
        let mut uniq = shas.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), shas.len(), "identical content stored twice");
        assert!(shas.contains(&sha256_hex(&live_bytes(&s))));
    }

    #[test]
    fn sigkill_during_restore_leaves_old_or_new_never_torn() {
        let s = suite_with(json!({ "keep_last": 50 }));
        let a = big_config(1);
        let b = big_config(2);
        write_live(&s, &a);
        run(&s, &[]).silent_success();
        write_live(&s, &b);
        run(&s, &[]).silent_success();
        let ids: Vec<String> = file_state(&s)["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap().to_string())
            .collect();
        let (sa, sb) = (sha256_hex(a.as_bytes()), sha256_hex(b.as_bytes()));
        // calibrate: one full restore
        let t0 = std::time::Instant::now();
        run(&s, &["restore", &ids[0]]).code(0);
        let full = t0.elapsed().as_millis() as u64 + 1;
        // A reader polling the live file the whole time (as the gateway might) must never see
        // it missing or at another length than the two versions (both are the same size).
        assert_eq!(a.len(), b.len());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watcher = {
            let stop = stop.clone();
            let live = s.path(LIVE);
            let want = a.len() as u64;
            std::thread::spawn(move || {
                let (mut looks, mut bad) = (0u64, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    looks += 1;
                    match fs::metadata(&live) {
                        Ok(m) if m.len() == want => {}
                        Ok(m) => bad.push(format!("length {}", m.len())),
                        Err(e) => bad.push(e.to_string()),
                    }
                }
                (looks, bad)
            })
        };
        let mut rng = fastrand::Rng::with_seed(0xdead);
        let mut killed = 0;
        let mut seen_new = 0;
        for n in 0..40 {
            let cur = sha256_hex(&live_bytes(&s));
            let target = if cur == sa { &ids[1] } else { &ids[0] };
            let child = s.spawn(bin(), &["restore", target]);
            // Kill at a random instant of a restore's duration; on a loaded machine that
            // duration drifts from the calibration, so the second half of the rounds widens
            // (or narrows) the window until both outcomes have been seen.
            let span = match (n >= 20, seen_new, killed) {
                (true, 0, _) => full * 3,
                (true, _, k) if k < 10 => (full / 2).max(1),
                _ => full * 5 / 4,
            };
            std::thread::sleep(Duration::from_millis(rng.u64(0..span)));
            testkit::signal(&child, 9);
            let out = child.wait_with_output().unwrap();
            if out.status.code().is_none() {
                killed += 1;
            }
            let now = sha256_hex(&live_bytes(&s));
            assert!(now == sa || now == sb, "iteration {n}: torn live file");
            if now != cur {
                seen_new += 1;
            }
            for p in clobbered(&s) {
                let h = sha256_hex(&fs::read(&p).unwrap());
                assert!(h == sa || h == sb, "torn clobbered copy {}", p.display());
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (looks, bad) = watcher.join().unwrap();
        assert!(
            bad.is_empty(),
            "a reader saw a torn live file: {:?}",
            &bad[..bad.len().min(5)]
        );
        assert!(looks > 1000, "the reader only looked {looks} times");
        assert!(killed >= 10, "only {killed} restores were killed mid-way");
        assert!(seen_new >= 1, "no restore ever completed");
        // state stays loadable; an interrupted restore is reported, not replayed
        run(&s, &["restore", &ids[1]]).code(0);
        assert_eq!(live_bytes(&s), b.as_bytes());
        assert_eq!(
            s.state("backup-config")["data"]["pending_restore"],
            Value::Null
        );
        run(&s, &["verify"]).code(0);
        // temp files of killed restores are swept
        let temps: Vec<_> = fs::read_dir(s.path("gw"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(temps.is_empty(), "{temps:?}");
    }
}

/// The gateway as its captures show it (`tests/fixtures/openclaw-2026.9.6/config-cases/`):
/// a fake `openclaw` that answers `config validate --json` with a captured answer, the
/// captured log lines and `.clobbered.*` files of a rollback. Never hand-written gateway text.
mod gateway_captures {
    use super::*;

    fn case_dir(case: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/openclaw-2026.9.6/config-cases")
            .join(case)
    }

    /// A captured file with the gateway's home (`$OC_HOME`) replaced by ours.
    fn captured(s: &Suite, case: &str, file: &str) -> String {
        fs::read_to_string(case_dir(case).join(file))
            .unwrap()
            .replace("$OC_HOME", &s.path("gwhome").display().to_string())
    }

    const CFG: &str = "gwhome/.openclaw/openclaw.json";

    /// A fake `openclaw` replaying the captured `config validate --json` of `$CAPTURE`.
    fn fake_cli(s: &Suite) -> PathBuf {
        let p = s.path("bin/openclaw");
        s.write(
            "bin/openclaw",
            "#!/bin/sh\nif [ \"$1 $2\" = \"config validate\" ]; then\n  cat \"$CAPTURE/validate.stdout.json\"; exit $(cat \"$CAPTURE/validate.exit-code.txt\")\nfi\necho '{\"ok\":false,\"error\":{\"type\":\"cli_error\",\"message\":\"not captured\"}}'; exit 1\n",
        );
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// A suite watching the gateway's config (found through the `gateway` section), the
    /// gateway's answers replayed from `case`.
    fn gateway_suite(s: &Suite, case: &str, cli: &Path) {
        let alerts = s.path("alerts.txt");
        s.config(json!({
            "runtime": { "alerts": { "command": [
                "sh", "-c", "cat >> \"$0\"; printf '\\n---\\n' >> \"$0\"", alerts.display().to_string()
            ] } },
            "gateway": {
                "config": CFG, "state_dir": "gwhome/.openclaw", "openclaw": cli.display().to_string(),
                "env": { "CAPTURE": case_dir(case).display().to_string() }
            },
            "backup-config": { "files": [{ "path": CFG }], "gateway_state": { "enabled": "off" } },
        }));
    }

    fn cfg_state(s: &Suite) -> Value {
        s.state("backup-config")["data"]["files"]["openclaw.json"].clone()
    }

    /// Each corruption case through the binary, with the gateway's own captured verdict and
    /// what its `doctor --fix` did, side by side with ours. They agree except where the
    /// gateway's validator is blind (the stub, a missing `gateway.mode`: schema-valid) and
    /// where ours is (an unknown key): either one's rejection is a rejection.
    #[test]
    fn corruption_cases_side_by_side_with_the_gateways_verdicts() {
        let expected: &[(&str, &str, &str, &str)] = &[
            // case, gateway validate, ours (built-in), the job's status
            ("valid", "ok", "ok", "good"),
            ("json5", "ok", "ok", "good"),
            ("stub", "ok", "rejected", "invalid"),
            ("nomode", "ok", "rejected", "invalid"),
            ("unknownkey", "rejected", "ok", "invalid"),
            ("truncated", "rejected", "rejected", "invalid"),
            ("prefix", "rejected", "rejected", "invalid"),
            ("deleted", "rejected", "-", "missing"),
        ];
        let mut table =
            String::from("case        gateway   built-in  status    doctor --fix (captured)\n");
        for (case, gw, ours, status) in expected {
            let s = Suite::new();
            let cli = fake_cli(&s);
            gateway_suite(&s, "valid", &cli);
            fs::create_dir_all(s.path("gwhome/.openclaw")).unwrap();
            s.write(CFG, &captured(&s, "valid", "input.json5"));
            run(&s, &[]).code(0);
            assert_eq!(cfg_state(&s)["status"], "good");
            gateway_suite(&s, case, &cli);
            if *case == "deleted" {
                fs::remove_file(s.path(CFG)).unwrap();
            } else {
                s.write(CFG, &captured(&s, case, "input.json5"));
            }
            let r = run(&s, &[]);
            r.code(0);
            let st = cfg_state(&s);
            let said = |v: &str| {
                st["verdicts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|x| x["validator"] == v)
                    .map(|x| x["verdict"].as_str().unwrap().to_string())
                    .unwrap_or_else(|| "-".into())
            };
            let doctor = fs::read_to_string(case_dir(case).join("doctor.exit-code.txt")).unwrap();
            let repaired = fs::read_to_string(case_dir(case).join("files-after.txt")).unwrap();
            table.push_str(&format!(
                "{case:<11} {:<9} {:<9} {:<9} exit {}{}\n",
                if *case == "deleted" {
                    "rejected".to_string()
                } else {
                    said("openclaw")
                },
                said("built-in"),
                st["status"].as_str().unwrap(),
                doctor.trim(),
                if repaired.contains(".clobbered.") {
                    ", kept the original as .clobbered.*"
                } else {
                    ""
                }
            ));
            if *case != "deleted" {
                assert_eq!(
                    said("openclaw"),
                    *gw,
                    "{case}: the gateway's verdict\n{}",
                    r.dump()
                );
                assert_eq!(said("built-in"), *ours, "{case}: ours\n{}", r.dump());
            }
            assert_eq!(st["status"], *status, "{case}\n{}", r.dump());
            let a = alerts(&s);
            assert_eq!(
                a.len(),
                usize::from(*status != "good"),
                "{case}: one alert when broken\n{a:?}"
            );
            if *gw == "rejected" && *case != "deleted" {
                assert!(
                    a[0].contains(
                        "the gateway's validator (`openclaw config validate`) rejected it"
                    ),
                    "{case}: {}",
                    a[0]
                );
            }
        }
        eprintln!("{table}");
        // what the gateway says about the cases its validator passes, and ours rejects
        let s = Suite::new();
        let stub = captured(&s, "stub", "files-after.txt");
        assert!(
            stub.contains("openclaw.json.bak.1 (28 bytes)"),
            "doctor --fix kept the stub as the newest backup: {stub}"
        );
    }

    #[test]
    fn unknown_key_verdicts_show_in_list_and_facts() {
        let s = Suite::new();
        let cli = fake_cli(&s);
        gateway_suite(&s, "valid", &cli);
        fs::create_dir_all(s.path("gwhome/.openclaw")).unwrap();
        s.write(CFG, &captured(&s, "valid", "input.json5"));
        run(&s, &[]).code(0);
        gateway_suite(&s, "unknownkey", &cli);
        s.write(CFG, &captured(&s, "unknownkey", "input.json5"));
        run(&s, &[]).code(0);
        let r = run(&s, &["list"]);
        r.code(0).stdout_has(
            "validators: built-in: ok; openclaw: rejected (Unrecognized key: \"bogusKey\")",
        );
        let facts = &s.state("backup-config")["facts"];
        assert_eq!(
            facts["files"][0]["verdicts"][1],
            "openclaw: rejected (Unrecognized key: \"bogusKey\")"
        );
        assert_eq!(facts["files"][0]["status"], "invalid");
        // validated as a private copy (same layout), never in the gateway's directory
        let beside: Vec<String> = fs::read_dir(s.path("gwhome/.openclaw"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(beside, ["openclaw.json"]);
    }

    /// A hand-written config without `meta` that both validators accept is not broken (the
    /// gateway itself overwrites such configs from `.bak`: openclaw #90546).
    #[test]
    fn a_config_without_meta_that_both_accept_is_good() {
        let s = Suite::new();
        let cli = fake_cli(&s);
        gateway_suite(&s, "valid", &cli);
        fs::create_dir_all(s.path("gwhome/.openclaw")).unwrap();
        let mut v: Value = serde_json::from_str(&captured(&s, "valid", "input.json5")).unwrap();
        s.write(CFG, &serde_json::to_string_pretty(&v).unwrap());
        run(&s, &[]).code(0);
        v.as_object_mut().unwrap().remove("meta");
        v["agents"]["defaults"]["heartbeat"]["every"] = json!("1h");
        s.write(CFG, &serde_json::to_string_pretty(&v).unwrap());
        run(&s, &[]).silent_success();
        let st = cfg_state(&s);
        assert_eq!(st["status"], "good");
        assert_eq!(st["snapshots"].as_array().unwrap().len(), 2);
        assert!(alerts(&s).is_empty());
    }

    /// The gateway's own rollback as it was captured: `gateway run` found `gateway.mode`
    /// removed by hand, put its `.bak` back, kept the edit as `.clobbered.<ts>` and logged it.
    #[test]
    fn the_gateways_rollback_is_alerted_once_with_what_was_lost() {
        let s = Suite::new();
        gateway_suite(&s, "valid", Path::new("/nonexistent/openclaw"));
        fs::create_dir_all(s.path("gwhome/.openclaw")).unwrap();
        fs::create_dir_all(s.path("gwhome/logs")).unwrap();
        let good = captured(&s, "valid", "input.json5");
        s.write(CFG, &good);
        run(&s, &[]).code(0);
        run(&s, &[]).silent_success();
        // the gateway's act, replayed: the edit kept under its name, its log line written
        s.write(
            "gwhome/.openclaw/openclaw.json.clobbered.2026-11-28T04-24-20-545Z",
            &captured(&s, "nomode", "input.json5"),
        );
        let lines = captured(&s, "nomode", "gateway.log.jsonl");
        s.write("gwhome/logs/openclaw.log", &lines);
        let r = run(&s, &[]);
        r.code(0);
        let a = alerts(&s);
        assert_eq!(a.len(), 1, "{a:?}\n{}", r.dump());
        let t = &a[0];
        for needle in [
            "The gateway rolled back",
            "auto-restored from backup: gateway-mode-missing-vs-last-good",
            "What was lost (secrets masked):",
            "+    \"mode\": \"local\",",
            "kept by the gateway as",
            "by backup-config as",
            "To apply it again: the lost version has no `gateway.mode`",
        ] {
            assert!(t.contains(needle), "alert lacks {needle:?}:\n{t}");
        }
        assert!(!t.contains("sk-ant-"), "a secret leaked:\n{t}");
        let st = s.state("backup-config");
        let rb = &st["data"]["rollbacks"][0];
        assert_eq!(rb["kind"], "auto-restored from backup");
        let kept = rb["kept"].as_str().unwrap();
        assert!(kept.contains("/backups/openclaw.json/rejected/"), "{kept}");
        assert_eq!(
            fs::read_to_string(kept).unwrap(),
            captured(&s, "nomode", "input.json5")
        );
        assert!(
            st["facts"]["rollbacks"][0]["message"]
                .as_str()
                .unwrap()
                .contains("auto-restored from backup")
        );
        // once: the next runs say nothing, also when the gateway logs the same line again
        run(&s, &[]).silent_success();
        assert_eq!(alerts(&s).len(), 1);
        // an anomaly alone is no rollback
        let stub_lines = captured(&s, "nomode", "gateway.log.jsonl");
        let anomaly: String = stub_lines
            .lines()
            .filter(|l| l.contains("observe anomaly"))
            .map(|l| format!("{l}\n"))
            .collect();
        let mut log = s.read("gwhome/logs/openclaw.log");
        log.push_str(&anomaly);
        s.write("gwhome/logs/openclaw.log", &log);
        run(&s, &[]).silent_success();
        assert_eq!(alerts(&s).len(), 1);
        let r = run(&s, &["list"]);
        r.code(0)
            .stdout_has("rollbacks by the gateway")
            .stdout_has("auto-restored from backup (gateway-mode-missing-vs-last-good)");
    }
}

mod includes {
    use super::*;

    const ROOT: &str = "{\n  // split config\n  meta: { lastTouchedVersion: \"2026.9.6\" },\n  gateway: { mode: \"local\" },\n  agents: { $include: \"./agents.json5\" },\n}\n";
    const AGENTS_1: &str = "{ defaults: { heartbeat: { every: \"30m\" } } }\n";
    const AGENTS_2: &str = "{ defaults: { heartbeat: { every: \"2h\" } } }\n";

    fn set_suite() -> Suite {
        let s = suite();
        write_live(&s, ROOT);
        s.write("gw/agents.json5", AGENTS_1);
        s
    }

    fn entries(s: &Suite) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(s.path(SNAPDIR))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.') && n != "replaced")
            .collect();
        v.sort();
        v
    }

    #[test]
    fn an_included_file_changing_is_a_new_version_of_the_set() {
        let s = set_suite();
        run(&s, &[]).silent_success();
        let e = entries(&s);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].ends_with(".set"), "{e:?}");
        let set = s.path(SNAPDIR).join(&e[0]);
        assert_eq!(fs::read_to_string(set.join("openclaw.json")).unwrap(), ROOT);
        assert_eq!(
            fs::read_to_string(set.join("agents.json5")).unwrap(),
            AGENTS_1
        );
        // only the included file changes (as `openclaw config set` on an included section does)
        s.write("gw/agents.json5", AGENTS_2);
        run(&s, &[]).silent_success();
        assert_eq!(entries(&s).len(), 2);
        let st = file_state(&s);
        assert_eq!(st["members"][1]["rel"], "agents.json5");
        assert_eq!(st["snapshots"][1]["members"].as_array().unwrap().len(), 2);
        // unchanged: the stat of both files is enough
        run(&s, &[]).silent_success();
        assert_eq!(entries(&s).len(), 2);
        // a broken include is named
        fs::remove_file(s.path("gw/agents.json5")).unwrap();
        let r = run(&s, &[]);
        r.code(0)
            .stderr_has("`$include`: Failed to read include file: ./agents.json5");
    }

    #[test]
    fn restore_puts_back_every_file_of_the_set() {
        let s = set_suite();
        run(&s, &[]).silent_success();
        let v1 = file_state(&s)["snapshots"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let root2 = ROOT.replace("local", "local\", port: 18790, x: \"y");
        write_live(&s, &root2);
        s.write("gw/agents.json5", AGENTS_2);
        run(&s, &[]).silent_success();
        let r = run(&s, &["restore", &v1]);
        r.code(0).stdout_has("The 2 files it replaced");
        assert_eq!(s.read(LIVE), ROOT);
        assert_eq!(s.read("gw/agents.json5"), AGENTS_1);
        let kept: Vec<_> = fs::read_dir(s.path("backups/openclaw.json/replaced"))
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(kept.len(), 1);
        assert_eq!(
            fs::read_to_string(kept[0].path().join("agents.json5")).unwrap(),
            AGENTS_2
        );
        assert_eq!(
            fs::read_to_string(kept[0].path().join("openclaw.json")).unwrap(),
            root2
        );
    }

    #[test]
    fn a_kill_in_the_middle_of_a_set_restore_is_finished_by_the_next_run() {
        let s = set_suite();
        run(&s, &[]).silent_success();
        let v1 = file_state(&s)["snapshots"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let root2 = ROOT.replace("split config", "split config, edited");
        write_live(&s, &root2);
        s.write("gw/agents.json5", AGENTS_2);
        run(&s, &[]).silent_success();
        let mut c = s.cmd(bin());
        c.args(["restore", &v1])
            .env("BACKUP_CONFIG_TEST_KILL_AFTER_FILES", "1");
        let r = s.run_cmd(&mut c);
        assert_ne!(r.code, 0, "the restore was killed\n{}", r.dump());
        // killed with the included file restored and the root not yet: inconsistent
        assert_eq!(s.read("gw/agents.json5"), AGENTS_1);
        assert_eq!(s.read(LIVE), root2);
        let st = s.state("backup-config");
        let plans = st["data"]["restore_plans"].as_object().unwrap();
        assert_eq!(plans.len(), 1);
        let key = plans.keys().next().unwrap().clone();
        assert_eq!(st["effects"][&key]["status"], "started");
        // the next run finishes it from the verified snapshot
        let r = run(&s, &[]);
        r.code(0)
            .stderr_has("was interrupted: finished after an interrupted run");
        assert_eq!(s.read(LIVE), ROOT);
        assert_eq!(s.read("gw/agents.json5"), AGENTS_1);
        let st = s.state("backup-config");
        assert_eq!(st["data"]["restore_plans"], json!({}));
        assert_eq!(st["effects"][&key]["status"], "done");
        let last = st["data"]["restores"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["result"], "finished after an interrupted run");
        run(&s, &[]).silent_success();
        run(&s, &["verify"]).code(0);
    }

    #[test]
    fn a_kill_before_any_file_is_replaced_is_not_repeated() {
        let s = set_suite();
        run(&s, &[]).silent_success();
        let v1 = file_state(&s)["snapshots"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        s.write("gw/agents.json5", AGENTS_2);
        run(&s, &[]).silent_success();
        let mut c = s.cmd(bin());
        c.args(["restore", &v1])
            .env("AGENT_JOBS_TEST_CRASH_AT", "effect-intent:restore/");
        s.run_cmd(&mut c);
        assert_eq!(s.read("gw/agents.json5"), AGENTS_2);
        let r = run(&s, &[]);
        r.code(0)
            .stderr_has("not applied (interrupted before the replace)");
        assert_eq!(s.read("gw/agents.json5"), AGENTS_2, "not repeated");
        let st = s.state("backup-config");
        assert_eq!(st["data"]["restore_plans"], json!({}));
    }
}

mod upgrades {
    use super::*;

    /// A state file and a kept copy from version 1: the copy named like the gateway's repairs
    /// moves to our directory (the gateway's own stays), the pending restore is settled.
    #[test]
    fn old_clobbered_copies_move_and_a_pending_restore_is_settled() {
        let s = suite();
        write_live(&s, GOOD);
        run(&s, &[]).silent_success();
        let mut st = s.state("backup-config");
        let sha = sha256_hex(GOOD.as_bytes());
        let id = st["data"]["files"]["openclaw.json"]["snapshots"][0]["id"].clone();
        let live = s.path(LIVE).display().to_string();
        let ours = s.path("gw/openclaw.json.clobbered.20260220T220739Z");
        let ours2 = s.path("gw/openclaw.json.clobbered.20260220T220739Z.1");
        let theirs = s.path("gw/openclaw.json.clobbered.2026-11-28T03-16-32-516Z");
        for (p, t) in [
            (&ours, "old one"),
            (&ours2, "old two"),
            (&theirs, "the gateway's"),
        ] {
            fs::write(p, t).unwrap();
        }
        st["schema_version"] = json!(1);
        st["data"]["pending_restore"] = json!({
            "file": "openclaw.json", "snapshot": id, "target_sha256": sha, "previous_sha256": "00",
            "clobbered": ours.display().to_string(), "started_at": "2026-02-20T22:07:39Z", "automatic": false
        });
        st["data"]["restores"] = json!([{ "file": "openclaw.json", "snapshot": id, "at": "2026-02-20T22:07:39Z",
            "clobbered": ours.display().to_string(), "automatic": false, "result": "done" }]);
        st["data"].as_object_mut().unwrap().remove("legacy_checked");
        s.write(
            "state/backup-config.json",
            &serde_json::to_string_pretty(&st).unwrap(),
        );
        let r = run(&s, &[]);
        r.code(0)
            .stderr_has("done (confirmed after an interrupted run)");
        assert!(!ours.exists() && !ours2.exists(), "ours moved");
        assert_eq!(
            fs::read_to_string(&theirs).unwrap(),
            "the gateway's",
            "the gateway's file is left alone"
        );
        let moved = s.path("backups/openclaw.json/replaced/20260220T220739Z-legacy/openclaw.json");
        assert_eq!(fs::read_to_string(&moved).unwrap(), "old one");
        assert!(
            s.path("backups/openclaw.json/replaced/20260220T220739Z.1-legacy/openclaw.json")
                .is_file()
        );
        let st = s.state("backup-config");
        assert_eq!(st["schema_version"], 2);
        assert!(st["data"].get("pending_restore").is_none());
        let restores = st["data"]["restores"].as_array().unwrap();
        assert_eq!(restores[0]["kept"], moved.display().to_string().as_str());
        assert_eq!(
            restores[1]["result"],
            "done (confirmed after an interrupted run)"
        );
        let _ = live;
        // once only
        run(&s, &[]).silent_success();
    }

    #[test]
    fn a_killed_runs_snapshot_of_older_content_is_adopted() {
        let s = suite();
        write_live(&s, GOOD);
        run(&s, &[]).silent_success();
        // a snapshot written by a run killed before it saved state, of a version since replaced
        let v2 = good_v2();
        let sha = sha256_hex(v2.as_bytes());
        let name = format!("20260101T000000Z-{}.json", &sha[..12]);
        fs::write(s.path(SNAPDIR).join(&name), &v2).unwrap();
        write_live(&s, &GOOD.replace("30m", "31m"));
        run(&s, &[]).silent_success();
        let snaps = file_state(&s)["snapshots"].as_array().unwrap().clone();
        assert_eq!(snaps.len(), 3, "{snaps:?}");
        assert!(snaps.iter().any(|x| x["sha256"] == sha.as_str()));
        run(&s, &["verify"])
            .code(0)
            .stdout_has("3 of 3 snapshots intact");
        assert!(!run(&s, &["verify"]).stdout.contains("untracked"));
    }
}

mod unreadable {
    use super::*;

    #[test]
    fn a_directory_or_a_mode_000_file_is_alerted_like_a_missing_one() {
        let s = suite();
        write_live(&s, GOOD);
        run(&s, &[]).silent_success();
        fs::set_permissions(s.path(LIVE), fs::Permissions::from_mode(0o000)).unwrap();
        let r = run(&s, &[]);
        r.code(0).stderr_has("cannot be read: its mode is 0000");
        let a = alerts(&s);
        assert_eq!(a.len(), 1, "{a:?}");
        assert!(
            a[0].contains("chmod 600") && a[0].contains("restore openclaw.json"),
            "{}",
            a[0]
        );
        run(&s, &[]).silent_success();
        assert_eq!(alerts(&s).len(), 1, "once");
        fs::set_permissions(s.path(LIVE), fs::Permissions::from_mode(0o600)).unwrap();
        run(&s, &[]).silent_success();
        fs::remove_file(s.path(LIVE)).unwrap();
        fs::create_dir(s.path(LIVE)).unwrap();
        let r = run(&s, &[]);
        r.code(0).stderr_has("it is a directory, not a file");
        assert_eq!(alerts(&s).len(), 2);
        assert_eq!(file_state(&s)["status"], "error");
    }

    #[test]
    fn restore_through_a_symlink_replaces_its_target_and_keeps_the_link() {
        let s = suite();
        s.write("dotfiles/openclaw.json", GOOD);
        std::os::unix::fs::symlink("../dotfiles/openclaw.json", s.path(LIVE)).unwrap();
        run(&s, &[]).silent_success();
        fs::write(s.path("dotfiles/openclaw.json"), "broken {").unwrap();
        let r = run(&s, &["restore"]);
        r.code(0).stdout_has("written through the symlink");
        assert!(
            fs::symlink_metadata(s.path(LIVE))
                .unwrap()
                .file_type()
                .is_symlink(),
            "the link is kept"
        );
        assert_eq!(s.read("dotfiles/openclaw.json"), GOOD);
    }
}

mod example {
    use super::*;

    /// `config.example.json` passes `--check-config`, and every numeric key out of its range
    /// is refused naming the key.
    #[test]
    fn the_example_is_valid_and_ranges_are_checked() {
        let s = Suite::new();
        s.write("config.json", include_str!("../config.example.json"));
        run(&s, &["--check-config"]).code(0);
        for (key, value) in [
            ("keep_last", json!(0)),
            ("keep_weekly_weeks", json!(1_000_000)),
            ("auto_restore_after_runs", json!(-1)),
            ("gateway_state", json!({ "min_interval_hours": 9000 })),
            ("gateway_state", json!({ "keep_last": 0 })),
            ("gateway_state", json!({ "enabled": "sometimes" })),
            (
                "files",
                json!([{ "path": "gw/a.json", "validator_timeout_secs": 0 }]),
            ),
            (
                "files",
                json!([{ "path": "gw/a.json", "gateway_checks": true }]),
            ),
        ] {
            s.config(json!({ "backup-config": { key: value } }));
            let r = run(&s, &["--check-config"]);
            r.code(78).stderr_has(key);
        }
    }
}

/// What operators' tools read: the Prometheus textfile and the `--json` documents.
mod operator {
    use super::*;
    use testkit::prom;

    const ROOT: &str = "{\n  // split config\n  meta: { lastTouchedVersion: \"2026.9.6\" },\n  gateway: { mode: \"local\" },\n  agents: { $include: \"./agents.json5\" },\n}\n";
    const AGENTS_1: &str = "{ defaults: { heartbeat: { every: \"30m\" } } }\n";
    const AGENTS_2: &str = "{ defaults: { heartbeat: { every: \"2h\" } } }\n";

    fn with_textfile(s: &Suite) {
        let mut c: Value = serde_json::from_str(&s.read("config.json")).unwrap();
        c["runtime"]["textfile_dir"] = json!("textfile");
        s.config(c);
        fs::create_dir_all(s.path("textfile")).unwrap();
    }

    fn json_of(r: &Run) -> Value {
        assert_eq!(r.stdout.lines().count(), 1, "one line: {}", r.stdout);
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.dump()))
    }

    fn has_keys(v: &Value, keys: &[&str]) {
        for k in keys {
            assert!(v.get(k).is_some(), "{k} missing: {v}");
        }
    }

    #[test]
    fn the_textfile_has_validity_snapshots_and_the_last_good_time() {
        let s = suite();
        with_textfile(&s);
        write_live(&s, GOOD);
        run(&s, &[]).silent_success();
        write_live(&s, &good_v2());
        run(&s, &[]).silent_success();
        let prom = s.read("textfile/agent_jobs_backup_config.prom");
        prom::promtool_check(&prom);
        let file = [("file", "openclaw.json")];
        assert_eq!(
            prom::sample(&prom, "agent_jobs_config_valid", &file),
            Some(1.0),
            "{prom}"
        );
        assert_eq!(
            prom::sample(&prom, "agent_jobs_config_snapshots", &file),
            Some(2.0)
        );
        let facts = &s.state("backup-config")["facts"]["files"][0];
        let last_good: chrono::DateTime<chrono::Utc> =
            facts["last_good_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            prom::sample(
                &prom,
                "agent_jobs_config_last_good_timestamp_seconds",
                &file
            ),
            Some(last_good.timestamp_millis() as f64 / 1000.0)
        );
        assert_eq!(
            prom::sample(&prom, "agent_jobs_config_rollbacks", &file),
            Some(0.0)
        );
        // An invalid version: valid 0, nothing snapshotted.
        write_live(&s, "{ broken");
        run(&s, &[]).code(0);
        let prom = s.read("textfile/agent_jobs_backup_config.prom");
        prom::promtool_check(&prom);
        assert_eq!(
            prom::sample(&prom, "agent_jobs_config_valid", &file),
            Some(0.0),
            "{prom}"
        );
        assert_eq!(
            prom::sample(&prom, "agent_jobs_config_snapshots", &file),
            Some(2.0)
        );
    }

    #[test]
    fn list_verify_and_diff_stat_as_json_agree_with_the_text() {
        let s = suite();
        write_live(&s, ROOT);
        s.write("gw/agents.json5", AGENTS_1);
        run(&s, &[]).silent_success();
        s.write("gw/agents.json5", AGENTS_2);

        // list
        let doc = json_of(run(&s, &["list", "--json"]).code(0));
        has_keys(&doc, &["job", "as_of", "facts", "files"]);
        let f = &doc["files"][0];
        has_keys(
            f,
            &[
                "name",
                "path",
                "checked",
                "live_sha256",
                "live_missing",
                "changed_since_check",
                "snapshot_dir",
                "snapshots",
            ],
        );
        assert_eq!(doc["facts"]["files"][0]["status"], "good");
        assert_eq!(f["changed_since_check"], true);
        let snap = &f["snapshots"][0];
        assert_eq!(snap["last_good"], true);
        assert_eq!(snap["live"], false);
        assert_eq!(snap["files"], json!(["openclaw.json", "agents.json5"]));
        let id = snap["id"].as_str().unwrap();
        let text = run(&s, &["list"]);
        text.code(0)
            .stdout_has("changed since the last check")
            .stdout_has(id);
        let rows = text.stdout.lines().filter(|l| l.contains("Z-")).count();
        assert_eq!(f["snapshots"].as_array().unwrap().len(), rows);
        assert_eq!(doc["facts"]["files"][0]["snapshots"], rows);

        // diff --stat
        let doc = json_of(run(&s, &["diff", "--stat", "--json"]).code(0));
        has_keys(
            &doc,
            &[
                "job", "as_of", "file", "snapshot", "same", "added", "removed", "files",
            ],
        );
        assert_eq!(doc["snapshot"], id);
        assert_eq!(doc["same"], false);
        assert_eq!(doc["files"][0]["state"], "same");
        assert_eq!(doc["files"][1]["rel"], "agents.json5");
        assert_eq!(doc["files"][1]["state"], "changed");
        assert_eq!(
            (doc["added"].as_u64(), doc["removed"].as_u64()),
            (Some(1), Some(1))
        );
        run(&s, &["diff", "--stat"]).code(0).stdout_has(&format!(
            "1 of 2 file(s) differ from snapshot {id}: 1 line(s) added, 1 removed"
        ));
        let full = run(&s, &["diff"]);
        full.code(0);
        let plus = full
            .stdout
            .lines()
            .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
            .count();
        assert_eq!(doc["added"], plus as u64, "{}", full.stdout);
        run(&s, &["diff", "--json"])
            .code(2)
            .stderr_has("needs --stat");

        // verify, intact then damaged
        let doc = json_of(run(&s, &["verify", "--json"]).code(0));
        has_keys(
            &doc,
            &[
                "job",
                "as_of",
                "ok",
                "intact",
                "damaged",
                "files",
                "databases",
            ],
        );
        assert_eq!(doc["ok"], true);
        assert_eq!(doc["intact"], 1);
        run(&s, &["verify"])
            .code(0)
            .stdout_has("openclaw.json: 1 of 1 snapshots intact");
        s.write(&format!("{SNAPDIR}/{id}.set/agents.json5"), "{}");
        let r = run(&s, &["verify", "--json"]);
        r.code(65).stderr_has("1 damaged snapshot");
        let doc = json_of(&r);
        assert_eq!(doc["ok"], false);
        assert_eq!(doc["damaged"], 1);
        assert_eq!(doc["files"][0]["damaged"][0]["id"], id);
        assert_eq!(doc["files"][0]["damaged"][0]["last_good"], true);
        run(&s, &["verify"])
            .code(65)
            .stdout_has(&format!(
                "DAMAGED openclaw.json/{id} [the last good version]"
            ))
            .stdout_has("openclaw.json: 0 of 1 snapshots intact");
    }
}
