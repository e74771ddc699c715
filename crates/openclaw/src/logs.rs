//! Where the gateway writes its log files (gateway source `logger.ts`
//! `resolveDefaultRollingLogFile`, `resolveLogProfileSegment`, `rotateLogFile`,
//! `pruneOldRollingLogs`; docs `logging.md`), verified on 2026.9.6:
//!
//! - default: `/tmp/openclaw/openclaw-YYYY-MM-DD.log`, the date in the gateway process's local
//!   time zone; when `/tmp/openclaw` is unsafe (not a real dir owned by the user, or group/world
//!   writable) the gateway uses `<TMPDIR or /tmp>/openclaw-<uid>/` instead;
//! - a named profile writes `openclaw-<segment>-YYYY-MM-DD.log` into the same directory;
//! - `logging.file` replaces the default: a name of the form `openclaw-YYYY-MM-DD.log` still
//!   rolls daily in that directory, any other name is one fixed file;
//! - every file rotates by size (100 MB) to `<stem>.1.log` … `<stem>.5.log`; dated files older
//!   than 24 h are pruned.

use crate::config::GatewayConfig;
use std::path::{Path, PathBuf};

/// The gateway's default log directory.
pub const DEFAULT_DIR: &str = "/tmp/openclaw";

/// Where one gateway's log files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLocation {
    pub dir: PathBuf,
    /// A fixed `logging.file` (no daily roll), else `None`.
    pub fixed: Option<PathBuf>,
    /// File-name stem before the date: `openclaw` or `openclaw-<profile segment>`.
    pub stem: String,
    /// Where the choice came from, for messages and `--check-config`.
    pub source: String,
}

impl LogLocation {
    /// Glob patterns matching every file of this gateway (current, dated and rotated), and no
    /// file of another profile.
    pub fn globs(&self) -> Vec<String> {
        if let Some(f) = &self.fixed {
            let s = f.display().to_string();
            let rotated = match s.strip_suffix(".log") {
                Some(base) => format!("{base}.[1-9].log"),
                None => format!("{s}.[1-9]"),
            };
            return vec![s, rotated];
        }
        let date = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]";
        let d = self.dir.display();
        vec![
            format!("{d}/{}-{date}.log", self.stem),
            format!("{d}/{}-{date}.[1-9].log", self.stem),
        ]
    }
}

impl LogLocation {
    /// The files of this gateway that exist now (current, dated and rotated), oldest name
    /// first: what [`LogLocation::globs`] matches, listed without a glob engine.
    pub fn files(&self) -> Vec<PathBuf> {
        if let Some(f) = &self.fixed {
            let mut out: Vec<PathBuf> = Vec::new();
            let s = f.display().to_string();
            for n in (1..=9).rev() {
                let rotated = match s.strip_suffix(".log") {
                    Some(base) => PathBuf::from(format!("{base}.{n}.log")),
                    None => PathBuf::from(format!("{s}.{n}")),
                };
                if rotated.is_file() {
                    out.push(rotated);
                }
            }
            if f.is_file() {
                out.push(f.clone());
            }
            return out;
        }
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out: Vec<PathBuf> = rd
            .flatten()
            .filter(|e| self.is_own_file(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        out.sort();
        out
    }

    /// `<stem>-YYYY-MM-DD.log` or `<stem>-YYYY-MM-DD.<1-9>.log`.
    fn is_own_file(&self, name: &str) -> bool {
        let Some(rest) = name.strip_prefix(&format!("{}-", self.stem)) else {
            return false;
        };
        let Some(rest) = rest.strip_suffix(".log") else {
            return false;
        };
        let (date, n) = match rest.split_once('.') {
            Some((d, n)) => (d, Some(n)),
            None => (rest, None),
        };
        n.is_none_or(|n| n.len() == 1 && n.bytes().all(|b| (b'1'..=b'9').contains(&b)))
            && rolling_name(&format!("openclaw-{date}.log"))
            && date != "YYYY-MM-DD"
    }
}

/// The log location of a gateway: its config's `logging.file` if set, else the default
/// directory (or its per-user fallback) with the profile's stem.
pub fn location(cfg: Option<&GatewayConfig>, profile: Option<&str>) -> LogLocation {
    let stem = stem(profile);
    if let Some(file) = cfg.and_then(GatewayConfig::log_file) {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let source = format!(
            "logging.file in {}",
            cfg.map(|c| c.path.display().to_string())
                .unwrap_or_default()
        );
        if rolling_name(&name) {
            return LogLocation {
                dir,
                fixed: None,
                stem: "openclaw".into(),
                source,
            };
        }
        return LogLocation {
            dir,
            fixed: Some(file),
            stem,
            source,
        };
    }
    let dir = default_dir();
    LogLocation {
        source: format!("the gateway's default directory {}", dir.display()),
        dir,
        fixed: None,
        stem,
    }
}

/// `openclaw-YYYY-MM-DD.log` (a `logging.file` with this name still rolls daily).
fn rolling_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("openclaw-") else {
        return false;
    };
    let Some(date) = rest.strip_suffix(".log") else {
        return false;
    };
    date == "YYYY-MM-DD"
        || (date.len() == 10
            && date.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            }))
}

/// `/tmp/openclaw` when it is safe for the gateway to use, else `<TMPDIR or /tmp>/openclaw-<uid>`.
pub fn default_dir() -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let uid = current_uid();
    let safe = std::fs::symlink_metadata(DEFAULT_DIR).is_ok_and(|m| {
        m.is_dir()
            && !m.file_type().is_symlink()
            && uid.is_none_or(|u| m.uid() == u)
            && m.mode() & 0o022 == 0
    });
    if safe || !Path::new(DEFAULT_DIR).exists() {
        return PathBuf::from(DEFAULT_DIR);
    }
    let tmp = std::env::var_os("TMPDIR")
        .filter(|t| !t.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    tmp.join(format!("openclaw-{}", uid.unwrap_or(0)))
}

/// Both directories the gateway may use for its default log files: `/tmp/openclaw` and the
/// per-user fallback `<TMPDIR or /tmp>/openclaw-<uid>` (`resolveSecureTempRoot`). A reader
/// that cannot know which one the gateway chose (it decides at its own start, by ownership and
/// mode) follows both.
pub fn default_dirs() -> Vec<PathBuf> {
    let tmp = std::env::var_os("TMPDIR")
        .filter(|t| !t.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    let fallback = tmp.join(format!("openclaw-{}", current_uid().unwrap_or(0)));
    let mut v = vec![PathBuf::from(DEFAULT_DIR)];
    if fallback != v[0] {
        v.push(fallback);
    }
    v
}

/// The current user id, from `/proc/self/status` (no libc in this workspace).
pub fn current_uid() -> Option<u32> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `openclaw` or `openclaw-<segment>` for a named profile (`default` is no profile).
pub fn stem(profile: Option<&str>) -> String {
    match profile.filter(|p| !p.is_empty() && *p != "default") {
        Some(p) => format!("openclaw-{}", profile_segment(p)),
        None => "openclaw".into(),
    }
}

/// The gateway's encoding of a profile name in file names (`resolveLogProfileSegment`):
/// `[a-z0-9]` kept, `-` → `--`, `_` → `-0`, `A-Z` → `-1<lower>`, anything else
/// `-2<hex code point>-`; names longer than 220 after encoding become `-3<sha256 hex>`
/// (not reproduced here: such a profile must set `logs` explicitly).
pub fn profile_segment(p: &str) -> String {
    let mut out = String::new();
    for c in p.chars() {
        match c {
            'a'..='z' | '0'..='9' => out.push(c),
            '-' => out.push_str("--"),
            '_' => out.push_str("-0"),
            'A'..='Z' => {
                out.push_str("-1");
                out.push(c.to_ascii_lowercase());
            }
            other => out.push_str(&format!("-2{:x}-", other as u32)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_are_encoded_like_the_gateway() {
        assert_eq!(stem(None), "openclaw");
        assert_eq!(stem(Some("default")), "openclaw");
        assert_eq!(stem(Some("dev")), "openclaw-dev");
        assert_eq!(stem(Some("Work")), "openclaw--1work");
        assert_eq!(profile_segment("a-b_c"), "a--b-0c");
    }

    #[test]
    fn logging_file_rolling_or_fixed() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("openclaw.json");
        std::fs::write(
            &p,
            r#"{ logging: { file: "/var/log/oc/openclaw-2026-01-01.log" } }"#,
        )
        .unwrap();
        let c = crate::config::load(&p).unwrap();
        let l = location(Some(&c), Some("dev"));
        assert_eq!(l.fixed, None);
        assert_eq!(l.dir, PathBuf::from("/var/log/oc"));
        assert_eq!(l.stem, "openclaw");
        std::fs::write(&p, r#"{ logging: { file: "/var/log/oc/gw.log" } }"#).unwrap();
        let c = crate::config::load(&p).unwrap();
        let l = location(Some(&c), None);
        assert_eq!(
            l.globs(),
            vec!["/var/log/oc/gw.log", "/var/log/oc/gw.[1-9].log"]
        );
    }

    #[test]
    fn files_lists_own_dated_and_rotated_files_only() {
        let d = tempfile::tempdir().unwrap();
        for n in [
            "openclaw-2026-11-27.log",
            "openclaw-2026-11-28.log",
            "openclaw-2026-11-28.1.log",
            "openclaw-dev-2026-11-28.log",
            "openclaw-notes.log",
        ] {
            std::fs::write(d.path().join(n), "").unwrap();
        }
        let l = LogLocation {
            dir: d.path().to_path_buf(),
            fixed: None,
            stem: "openclaw".into(),
            source: String::new(),
        };
        let names: Vec<String> = l
            .files()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "openclaw-2026-11-27.log",
                "openclaw-2026-11-28.1.log",
                "openclaw-2026-11-28.log"
            ]
        );
        let fixed = LogLocation {
            fixed: Some(d.path().join("openclaw-notes.log")),
            ..l
        };
        assert_eq!(fixed.files(), vec![d.path().join("openclaw-notes.log")]);
    }

    #[test]
    fn default_globs_keep_profiles_apart() {
        let l = LogLocation {
            dir: "/tmp/openclaw".into(),
            fixed: None,
            stem: "openclaw".into(),
            source: String::new(),
        };
        let g = l.globs();
        assert!(g[0].starts_with("/tmp/openclaw/openclaw-[0-9]"), "{g:?}");
        // A profile's files (`openclaw-dev-2026-…`) do not match `openclaw-[0-9]…`.
        assert!(g.iter().all(|x| !x.contains("openclaw-*")), "{g:?}");
    }
}
