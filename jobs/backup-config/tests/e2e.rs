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
            std::thread::sleep(Duration::from_millis(rng.u64(0..full * 5 / 4)));
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
            std::thread::sleep(Duration::from_millis(rng.u64(0..full * 5 / 4)));
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
