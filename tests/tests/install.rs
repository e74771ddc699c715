//! scripts/install-crontab against a stand-in `crontab` command (a script that keeps the
//! user's crontab in a file), so these tests run without a cron daemon. The real daemon is
//! exercised by the suite's cron end-to-end test.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    fn new(initial: Option<&str>) -> Fake {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("mkdir");
        let script = r#"#!/bin/sh
f="$FAKE_CRONTAB"
if [ "$1" = "-l" ]; then
  if [ -f "$f" ]; then cat "$f"; exit 0; fi
  echo "no crontab for $(id -un)" >&2; exit 1
fi
if [ "$1" = "-" ] || [ -z "$1" ]; then cat > "$f"; else cat "$1" > "$f"; fi
"#;
        std::fs::write(bin.join("crontab"), script).expect("write");
        Command::new("chmod")
            .arg("+x")
            .arg(bin.join("crontab"))
            .status()
            .expect("chmod");
        if let Some(t) = initial {
            std::fs::write(dir.path().join("tab"), t).expect("write");
        }
        std::fs::create_dir(dir.path().join("root")).expect("root");
        std::fs::copy(repo().join("crontab"), dir.path().join("root/crontab")).expect("copy");
        Fake { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let path = format!(
            "{}:{}",
            self.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = Command::new("bash")
            .arg(repo().join("scripts/install-crontab"))
            .arg("--root")
            .arg(self.root())
            .args(args)
            .env("PATH", path)
            .env("FAKE_CRONTAB", self.dir.path().join("tab"))
            .output()
            .expect("run installer");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn tab(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tab")).unwrap_or_default()
    }
}

const USER_TAB: &str = "MAILTO=me@example.com\n# my backups\n0 2 * * * /usr/local/bin/backup --all  # nightly\n@reboot /home/me/start.sh\n";

#[test]
fn install_keeps_user_lines_and_sets_the_root() {
    let f = Fake::new(Some(USER_TAB));
    let (code, _, err) = f.run(&[]);
    assert_eq!(code, 0, "{err}");
    let tab = f.tab();
    assert!(
        tab.starts_with(USER_TAB),
        "user lines first, untouched:\n{tab}"
    );
    assert!(
        tab.contains("# BEGIN agent-jobs\n") && tab.ends_with("# END agent-jobs\n"),
        "{tab}"
    );
    assert!(
        tab.contains(&format!("AGENT_JOBS_ROOT={}\n", f.root().display())),
        "{tab}"
    );
    for job in common::contracts::registry::names() {
        let line = tab
            .lines()
            .find(|l| l.contains(&format!("target/release/{job}")) && !l.starts_with('#'))
            .unwrap_or_else(|| panic!("{job} line missing:\n{tab}"));
        assert!(
            line.contains("cd \"$AGENT_JOBS_ROOT\" && target/release/"),
            "{line}"
        );
    }
    // Idempotent.
    f.run(&[]);
    assert_eq!(f.tab(), tab);
}

#[test]
fn paused_job_stays_paused_on_reinstall() {
    let f = Fake::new(None);
    f.run(&[]);
    // The operator pauses compact-memory by commenting out its line.
    let paused = f
        .tab()
        .lines()
        .map(|l| {
            if l.contains("target/release/compact-memory") && !l.starts_with('#') {
                format!("#{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    std::fs::write(f.dir.path().join("tab"), &paused).expect("write");
    f.run(&[]);
    let tab = f.tab();
    let cm: Vec<_> = tab
        .lines()
        .filter(|l| l.contains("target/release/compact-memory"))
        .collect();
    assert_eq!(cm.len(), 1, "{tab}");
    assert!(cm[0].starts_with('#'), "still paused: {tab}");
    assert!(
        tab.lines()
            .any(|l| l.contains("target/release/backup-config") && !l.starts_with('#')),
        "others active: {tab}"
    );
    // --resume brings it back; --pause takes another out.
    let (code, _, err) = f.run(&["--resume", "compact-memory", "--pause", "poll-teams"]);
    assert_eq!(code, 0, "{err}");
    let tab = f.tab();
    assert!(
        tab.lines()
            .any(|l| l.contains("target/release/compact-memory") && !l.starts_with('#')),
        "{tab}"
    );
    assert!(
        tab.lines()
            .any(|l| l.starts_with("# ") && l.contains("target/release/poll-teams")),
        "{tab}"
    );
    let (code, _, err) = f.run(&["--pause", "no-such-job"]);
    assert_eq!(code, 2);
    assert!(err.contains("no-such-job"), "{err}");
}

#[test]
fn print_installs_nothing_and_uninstall_restores_bytes() {
    let f = Fake::new(Some(USER_TAB));
    let (code, out, _) = f.run(&["--print"]);
    assert_eq!(code, 0);
    assert!(out.contains("# BEGIN agent-jobs"));
    assert_eq!(f.tab(), USER_TAB, "--print changes nothing");
    f.run(&[]);
    f.run(&[]);
    assert_ne!(f.tab(), USER_TAB);
    let (code, _, err) = f.run(&["--uninstall"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(f.tab(), USER_TAB, "byte-identical after uninstall");
}

#[test]
fn empty_crontab_and_bad_root() {
    let f = Fake::new(None);
    let (code, _, err) = f.run(&[]);
    assert_eq!(code, 0, "{err}");
    assert!(f.tab().starts_with("# BEGIN agent-jobs\n"));
    let out = Command::new("bash")
        .arg(repo().join("scripts/install-crontab"))
        .args(["--root", "/nonexistent/agent-jobs", "--print"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(78));
}

#[test]
fn an_unbalanced_block_is_refused_and_nothing_changes() {
    for (name, tab, line) in [
        (
            "begin without end",
            format!("{USER_TAB}# BEGIN agent-jobs\nSHELL=/bin/sh\n5 4 * * * /usr/local/bin/mine\n"),
            "line 5",
        ),
        (
            "end without begin",
            format!("{USER_TAB}# END agent-jobs\n"),
            "line 5",
        ),
        (
            "two blocks",
            format!(
                "{USER_TAB}# BEGIN agent-jobs\n# END agent-jobs\n# BEGIN agent-jobs\n# END agent-jobs\n"
            ),
            "line 7",
        ),
    ] {
        let f = Fake::new(Some(&tab));
        let (code, _, err) = f.run(&[]);
        assert_eq!(code, 65, "{name}: {err}");
        assert!(
            err.contains(line) && err.contains("Nothing was changed"),
            "{name}: {err}"
        );
        assert_eq!(f.tab(), tab, "{name}: the crontab is untouched");
        let (code, _, _) = f.run(&["--uninstall"]);
        assert_eq!(code, 65, "{name}: uninstall refuses too");
        assert_eq!(f.tab(), tab);
    }
}

#[test]
fn crlf_markers_are_recognised() {
    let f = Fake::new(Some(USER_TAB));
    f.run(&[]);
    let crlf = f
        .tab()
        .replace("# BEGIN agent-jobs\n", "# BEGIN agent-jobs\r\n")
        .replace("# END agent-jobs\n", "# END agent-jobs\r\n");
    std::fs::write(f.dir.path().join("tab"), &crlf).expect("write");
    let (code, _, err) = f.run(&[]);
    assert_eq!(code, 0, "{err}");
    let markers = f
        .tab()
        .lines()
        .filter(|l| l.trim_end() == "# BEGIN agent-jobs")
        .count();
    assert_eq!(markers, 1, "one block, not two:\n{}", f.tab());
}

#[test]
fn another_checkouts_block_needs_replace() {
    let f = Fake::new(Some(USER_TAB));
    f.run(&["--pause", "compact-memory"]);
    let other = f
        .tab()
        .replace(&f.root().display().to_string(), "/srv/other-checkout");
    std::fs::write(f.dir.path().join("tab"), &other).expect("write");
    let (code, _, err) = f.run(&[]);
    assert_eq!(code, 75, "{err}");
    assert!(
        err.contains("/srv/other-checkout") && err.contains("--replace"),
        "{err}"
    );
    assert_eq!(f.tab(), other, "nothing changed");
    let (code, _, err) = f.run(&["--replace"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("stay paused") && err.contains("compact-memory"),
        "{err}"
    );
    assert!(
        f.tab()
            .contains(&format!("AGENT_JOBS_ROOT={}", f.root().display()))
    );
}
