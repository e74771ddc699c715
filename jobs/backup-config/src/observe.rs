//! Gather: what a watched config looks like now. One `stat` of every file of the set when
//! nothing changed (the fast path); otherwise the root file is read, its `$include`s resolved
//! through `openclaw::config` (confined to the config's directory, cycles and missing files
//! are errors naming the path), and every file of the set is kept as read, so what is judged
//! is exactly what is snapshotted.

use crate::config::{FileConfig, Format};
use crate::data::{FileState, StatKey};
use crate::decide;
use crate::store::Content;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Mode, owner and stat of the live root file.
#[derive(Debug, Clone, Copy)]
pub struct FileMeta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub stat: StatKey,
}

/// What a watched config looks like now.
#[derive(Debug)]
pub enum Seen {
    /// The root file does not exist.
    Missing,
    /// It exists but cannot be a readable config (a directory, mode 000, EACCES…).
    Unreadable(String),
    /// Same stat as when last found good: not read.
    Unchanged(FileMeta),
    /// Read.
    Read(FileMeta, Box<Version>),
}

/// One version as read.
#[derive(Debug)]
pub struct Version {
    pub content: Content,
    pub sha: String,
    /// `stat` of each included file, by its real path.
    pub member_stats: BTreeMap<String, StatKey>,
    /// For a root that uses `$include` (or a gateway config): the merged config, or why it
    /// could not be resolved.
    pub resolved: Option<Result<Value, String>>,
    /// The gateway's `logging.file` of this config (gateway configs).
    pub log_file: Option<String>,
}

/// Look at a watched config. `gateway`: it is the gateway's config (its log file is wanted).
pub fn look(
    live: &Path,
    fc: &FileConfig,
    st: &FileState,
    accept: bool,
    now: DateTime<Utc>,
    gateway: bool,
) -> Seen {
    let meta = match std::fs::metadata(live) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Seen::Missing,
        Err(e) => return Seen::Unreadable(e.to_string()),
    };
    if meta.is_dir() {
        return Seen::Unreadable("it is a directory, not a file".into());
    }
    if !meta.is_file() {
        return Seen::Unreadable("it is not a regular file".into());
    }
    if meta.mode() & 0o400 == 0 {
        return Seen::Unreadable(format!(
            "its mode is {:04o}: its owner (uid {}) cannot read it",
            meta.mode() & 0o7777,
            meta.uid()
        ));
    }
    let fm = FileMeta {
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        stat: StatKey::of(&meta),
    };
    if !accept
        && decide::stat_unchanged(st, &fm.stat, &fc.validation_key(), now)
        && members_unchanged(st)
    {
        return Seen::Unchanged(fm);
    }
    let bytes = match std::fs::read(live) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Seen::Missing,
        Err(e) => return Seen::Unreadable(e.to_string()),
    };
    Seen::Read(fm, Box::new(version(live, fc, bytes, gateway)))
}

/// Every included file has the stat it had when last hashed.
fn members_unchanged(st: &FileState) -> bool {
    st.member_stats.iter().all(|(p, was)| {
        std::fs::metadata(p)
            .is_ok_and(|m| decide::member_unchanged(was, &StatKey::of(&m), st.hashed_at))
    })
}

/// The version of a root file's bytes: its includes resolved when it has any.
pub fn version(live: &Path, fc: &FileConfig, bytes: Vec<u8>, gateway: bool) -> Version {
    let name = live
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config".into());
    let wants =
        fc.format == Format::Json5 && (gateway || openclaw::config::mentions_include(&bytes));
    let text = std::str::from_utf8(&bytes)
        .ok()
        .filter(|_| wants)
        .map(str::to_string);
    let mut content = Content::single(&name, bytes);
    let mut member_stats = BTreeMap::new();
    let mut resolved = None;
    let mut log_file = None;
    if let Some(text) = text {
        match openclaw::config::load_text(live, &text).and_then(|set| {
            let files = included(live, &set.included)?;
            Ok((set, files))
        }) {
            Ok((set, files)) => {
                for (rel, path, bytes) in files {
                    if let Ok(m) = std::fs::metadata(&path) {
                        member_stats.insert(path.display().to_string(), StatKey::of(&m));
                    }
                    content.includes.push((rel, bytes));
                }
                log_file = set.config.log_file().map(|p| p.display().to_string());
                resolved = Some(Ok(set.config.value));
            }
            Err(e) => resolved = Some(Err(common::exit::one_line(&e))),
        }
    }
    let sha = content.sha();
    // A gateway config without `$include` is still a single file.
    if content.includes.is_empty() && !openclaw::config::mentions_include(&content.root.1) {
        resolved = None;
    }
    Version {
        content,
        sha,
        member_stats,
        resolved,
        log_file,
    }
}

/// Each included file as `(path relative to the root's directory, real path, bytes)`.
fn included(
    live: &Path,
    files: &[openclaw::config::IncludedFile],
) -> anyhow::Result<Vec<(String, PathBuf, Vec<u8>)>> {
    let dir = live.parent().unwrap_or(Path::new("."));
    let real_dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    files
        .iter()
        .map(|f| {
            let rel = f.path.strip_prefix(&real_dir).map_err(|_| {
                anyhow::anyhow!(
                    "Include path escapes config directory: {} (root: {})",
                    f.path.display(),
                    dir.display()
                )
            })?;
            Ok((rel.display().to_string(), f.path.clone(), f.bytes.clone()))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn includes_become_members_with_relative_paths() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("openclaw.json");
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(
            &root,
            "{gateway:{mode:'local'}, agents:{$include:'./sub/agents.json5'}}",
        )
        .unwrap();
        std::fs::write(d.path().join("sub/agents.json5"), "{defaults:{x:1}}").unwrap();
        let fc = FileConfig::default();
        let v = version(&root, &fc, std::fs::read(&root).unwrap(), false);
        assert_eq!(v.content.includes.len(), 1);
        assert_eq!(v.content.includes[0].0, "sub/agents.json5");
        assert_eq!(v.member_stats.len(), 1);
        assert!(matches!(&v.resolved, Some(Ok(val)) if val["agents"]["defaults"]["x"] == 1));
        assert_eq!(v.sha, v.content.sha());
        std::fs::remove_file(d.path().join("sub/agents.json5")).unwrap();
        let v = version(&root, &fc, std::fs::read(&root).unwrap(), false);
        assert!(
            matches!(&v.resolved, Some(Err(e)) if e.contains("Failed to read include file")),
            "{:?}",
            v.resolved
        );
        // no include: a single file, nothing resolved
        std::fs::write(&root, "{gateway:{mode:'local'}}").unwrap();
        let v = version(&root, &fc, std::fs::read(&root).unwrap(), true);
        assert!(v.resolved.is_none() && v.content.includes.is_empty());
    }

    #[test]
    fn a_directory_or_mode_000_is_unreadable_not_missing() {
        let d = tempfile::tempdir().unwrap();
        let fc = FileConfig::default();
        let st = FileState::default();
        let now = Utc::now();
        let p = d.path().join("openclaw.json");
        assert!(matches!(
            look(&p, &fc, &st, false, now, false),
            Seen::Missing
        ));
        std::fs::create_dir(&p).unwrap();
        assert!(
            matches!(look(&p, &fc, &st, false, now, false), Seen::Unreadable(w) if w.contains("directory"))
        );
        std::fs::remove_dir(&p).unwrap();
        std::fs::write(&p, "{}").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
        assert!(
            matches!(look(&p, &fc, &st, false, now, false), Seen::Unreadable(w) if w.contains("mode is 0000"))
        );
    }
}
