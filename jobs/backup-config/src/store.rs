//! Snapshots and kept copies on disk, all under `<backups_dir>/<name>/` (directory 0700, files
//! 0600), never next to the live config and never under a name the gateway uses:
//!
//! - a version of a single file: `<UTC timestamp>-<sha256 prefix>.json`, written atomically
//!   (temp file, fsync, rename, fsync directory);
//! - a version of a config with `$include`s: a directory `<UTC timestamp>-<set hash prefix>.set/`
//!   holding the root file under its own name and every included file under its path relative
//!   to the root's directory, written into a temp directory that is fsynced and renamed into
//!   place (a reader sees the whole set or nothing);
//! - `replaced/<UTC timestamp>-<hash prefix>/<relative path>`: what a restore replaced;
//! - `rejected/<UTC timestamp>-<hash prefix>/<relative path>`: a copy of what the gateway
//!   rejected in one of its own rollbacks (its `.clobbered.*` file rotates away after 32).
//!
//! Temp names follow `common::fsutil` (`.<name>.tmp.<pid>.<n>`), so a killed run's leftovers
//! are recognised by the shared helpers and swept once their process is gone.

use crate::data::{Member, Snapshot};
use anyhow::{Context, Result, bail};
use chrono::{DateTime, NaiveDateTime, Utc};
use common::fsutil::{self, FileOptions};
pub use common::hash::sha256_hex;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Hex characters of the hash in a snapshot's name.
pub const PREFIX_LEN: usize = 12;

/// Compact UTC timestamp used in our file names (never the gateway's `2026-11-28T04-10-44-225Z`).
pub const TS_FORMAT: &str = "%Y%m%dT%H%M%SZ";

static COUNTER: AtomicU64 = AtomicU64::new(0);

pub fn snapshot_id(at: DateTime<Utc>, sha: &str) -> String {
    format!(
        "{}-{}",
        at.format(TS_FORMAT),
        &sha[..PREFIX_LEN.min(sha.len())]
    )
}

/// The time in a snapshot id, if it has one.
pub fn id_time(id: &str) -> Option<DateTime<Utc>> {
    let ts = id.get(..16)?;
    NaiveDateTime::parse_from_str(ts, TS_FORMAT)
        .ok()
        .map(|t| t.and_utc())
}

/// The content of one version: the root file and, for a set, its included files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// The root file's name and bytes.
    pub root: (String, Vec<u8>),
    /// `(relative path, bytes)` of each included file, in the order met.
    pub includes: Vec<(String, Vec<u8>)>,
}

impl Content {
    /// A single file.
    pub fn single(name: &str, bytes: Vec<u8>) -> Content {
        Content {
            root: (name.to_string(), bytes),
            includes: Vec::new(),
        }
    }
    /// The members (root first) with their hashes.
    pub fn members(&self) -> Vec<Member> {
        std::iter::once(&self.root)
            .chain(self.includes.iter())
            .map(|(rel, b)| Member {
                rel: rel.clone(),
                sha256: sha256_hex(b),
                size: b.len() as u64,
            })
            .collect()
    }
    /// The version's hash: the file's own for a single file, else [`set_sha`].
    pub fn sha(&self) -> String {
        if self.includes.is_empty() {
            sha256_hex(&self.root.1)
        } else {
            set_sha(&self.members())
        }
    }
    /// Bytes of every file together.
    pub fn size(&self) -> u64 {
        self.root.1.len() as u64
            + self
                .includes
                .iter()
                .map(|(_, b)| b.len() as u64)
                .sum::<u64>()
    }
    /// Each file's relative path and bytes, root first.
    pub fn files(&self) -> impl Iterator<Item = (&str, &[u8])> {
        std::iter::once(&self.root)
            .chain(self.includes.iter())
            .map(|(r, b)| (r.as_str(), b.as_slice()))
    }
}

/// The hash of a set: sha256 of a canonical list of its members (root first, then the included
/// files by path), so the same files give the same id whatever order they were met in.
pub fn set_sha(members: &[Member]) -> String {
    let mut text = String::from("agent-jobs config set 1\n");
    if let Some((root, rest)) = members.split_first() {
        text.push_str(&format!("{}\t{}\n", root.rel, root.sha256));
        let mut rest: Vec<&Member> = rest.iter().collect();
        rest.sort_by(|a, b| a.rel.cmp(&b.rel));
        for m in rest {
            text.push_str(&format!("{}\t{}\n", m.rel, m.sha256));
        }
    }
    sha256_hex(text.as_bytes())
}

/// A relative path inside a set: no `..`, not absolute, not empty.
pub fn check_rel(rel: &str) -> Result<&Path> {
    let p = Path::new(rel);
    if rel.is_empty() || p.components().any(|c| !matches!(c, Component::Normal(_))) {
        bail!("`{rel}` is not a plain relative path inside the config's directory");
    }
    Ok(p)
}

/// Create a private directory (0700; an existing one is narrowed to 0700).
pub fn ensure_dir(dir: &Path) -> Result<()> {
    fsutil::ensure_dir_durable(dir, 0o700)?;
    let meta =
        fs::symlink_metadata(dir).with_context(|| format!("cannot stat {}", dir.display()))?;
    if !meta.is_dir() {
        bail!("{} exists but is not a directory", dir.display());
    }
    if meta.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot chmod 700 {}", dir.display()))?;
    }
    Ok(())
}

/// Write one version durably as `<id>.json` or `<id>.set/`. On error nothing is left behind
/// but the previous files (a temp left by a kill is swept later).
pub fn write(dir: &Path, id: &str, content: &Content) -> Result<PathBuf> {
    ensure_dir(dir)?;
    if content.includes.is_empty() {
        let path = dir.join(format!("{id}.json"));
        fsutil::write_atomic(&path, &content.root.1)?;
        return Ok(path);
    }
    let path = dir.join(format!("{id}.set"));
    write_tree(&path, content.files(), None)?;
    Ok(path)
}

/// Write files into a new directory `dest` (which must not exist) through a temp directory
/// renamed into place; each file 0600 (with `owner` if given and permitted).
pub fn write_tree<'a>(
    dest: &Path,
    files: impl Iterator<Item = (&'a str, &'a [u8])>,
    owner: Option<(u32, u32)>,
) -> Result<()> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(
        "{}{}.{}",
        fsutil::temp_prefix(&name),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| -> Result<()> {
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut dirs = vec![tmp.clone()];
        for (rel, bytes) in files {
            let p = tmp.join(check_rel(rel)?);
            if let Some(d) = p.parent()
                && !d.is_dir()
            {
                fsutil::ensure_dir_durable(d, 0o700)?;
                dirs.push(d.to_path_buf());
            }
            write_private(&p, bytes, owner)?;
        }
        for d in dirs.iter().rev() {
            fsutil::sync_dir(d)?;
        }
        fs::rename(&tmp, dest)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), dest.display()))?;
        fsutil::sync_dir(parent)
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

/// Write a file 0600, durably, with the given owner when permitted (else as the current user).
pub fn write_private(path: &Path, bytes: &[u8], owner: Option<(u32, u32)>) -> Result<()> {
    let with = |owner| FileOptions {
        mode: Some(0o600),
        owner,
    };
    match fsutil::write_atomic_with(path, bytes, with(owner)) {
        Ok(()) => Ok(()),
        Err(e) if owner.is_some() => {
            log::warn!(
                "could not give {} its original owner ({}); kept as the current user",
                path.display(),
                common::exit::one_line(&e)
            );
            fsutil::write_atomic_with(path, bytes, with(None))
        }
        Err(e) => Err(e),
    }
}

/// Keep copies of files in a new directory `<base>/<stamp>-<hash prefix>[-N]/`; returns it.
pub fn keep_copies(
    base: &Path,
    at: DateTime<Utc>,
    sha: &str,
    files: &[(String, Vec<u8>)],
    owner: Option<(u32, u32)>,
) -> Result<PathBuf> {
    ensure_dir(base)?;
    let stem = snapshot_id(at, sha);
    let mut dest = base.join(&stem);
    let mut n = 1;
    while fs::symlink_metadata(&dest).is_ok() {
        dest = base.join(format!("{stem}-{n}"));
        n += 1;
    }
    write_tree(
        &dest,
        files.iter().map(|(r, b)| (r.as_str(), b.as_slice())),
        owner,
    )?;
    Ok(dest)
}

/// Problems found when re-reading a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    Missing,
    Unreadable(String),
    WrongHash {
        actual: String,
        size: u64,
    },
    /// A file of a set is missing or changed.
    Member {
        rel: String,
        why: String,
    },
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::Missing => f.write_str("file is missing"),
            Damage::Unreadable(e) => write!(f, "cannot be read: {e}"),
            Damage::WrongHash { actual, size } => write!(
                f,
                "content changed: sha256 is now {} ({size} bytes)",
                &actual[..PREFIX_LEN.min(actual.len())]
            ),
            Damage::Member { rel, why } => write!(f, "{rel}: {why}"),
        }
    }
}

fn read_file(p: &Path) -> Result<Vec<u8>, Damage> {
    match fs::read(p) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Damage::Missing),
        Err(e) => Err(Damage::Unreadable(e.to_string())),
    }
}

/// Read a snapshot and check every hash. `root_name` is the live root file's name (a single
/// file's snapshot does not store it).
pub fn read_verified(dir: &Path, snap: &Snapshot, root_name: &str) -> Result<Content, Damage> {
    let p = dir.join(snap.file_name());
    if !snap.is_set() {
        let bytes = read_file(&p)?;
        let actual = sha256_hex(&bytes);
        if actual != snap.sha256 {
            return Err(Damage::WrongHash {
                actual,
                size: bytes.len() as u64,
            });
        }
        return Ok(Content::single(root_name, bytes));
    }
    if !p.is_dir() {
        return Err(Damage::Missing);
    }
    let mut files = Vec::new();
    for m in &snap.members {
        let rel = check_rel(&m.rel).map_err(|e| Damage::Member {
            rel: m.rel.clone(),
            why: e.to_string(),
        })?;
        let bytes = read_file(&p.join(rel)).map_err(|d| Damage::Member {
            rel: m.rel.clone(),
            why: d.to_string(),
        })?;
        let actual = sha256_hex(&bytes);
        if actual != m.sha256 {
            return Err(Damage::Member {
                rel: m.rel.clone(),
                why: Damage::WrongHash {
                    actual,
                    size: bytes.len() as u64,
                }
                .to_string(),
            });
        }
        files.push((m.rel.clone(), bytes));
    }
    let mut it = files.into_iter();
    let root = it.next().ok_or(Damage::Missing)?;
    let content = Content {
        root,
        includes: it.collect(),
    };
    let sha = set_sha(&content.members());
    if sha != snap.sha256 {
        return Err(Damage::WrongHash {
            actual: sha,
            size: content.size(),
        });
    }
    Ok(content)
}

/// Snapshot entries in `dir` (names of `*.json` files and `*.set` directories).
pub fn list_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.') && (n.ends_with(".json") || n.ends_with(".set")))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// An untracked entry (a run killed between writing a snapshot and recording it), read back:
/// its id and content, if its name is one of ours and its bytes hash to what the name says.
pub fn read_untracked(dir: &Path, entry: &str, root_name: &str) -> Option<(String, Content)> {
    let (id, is_set) = match (entry.strip_suffix(".json"), entry.strip_suffix(".set")) {
        (Some(id), _) => (id, false),
        (_, Some(id)) => (id, true),
        _ => return None,
    };
    id_time(id)?;
    let prefix = id.rsplit('-').next()?;
    if prefix.len() != PREFIX_LEN {
        return None;
    }
    let p = dir.join(entry);
    let content = if is_set {
        read_tree(&p, root_name)?
    } else {
        Content::single(root_name, fs::read(&p).ok()?)
    };
    content
        .sha()
        .starts_with(prefix)
        .then(|| (id.to_string(), content))
}

/// The files of a set directory: `root_name` and every other regular file below it.
fn read_tree(dir: &Path, root_name: &str) -> Option<Content> {
    let mut files = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in fs::read_dir(dir.join(&rel)).ok()?.flatten() {
            let ft = e.file_type().ok()?;
            let r = rel.join(e.file_name());
            if ft.is_dir() {
                stack.push(r);
            } else if ft.is_file() {
                files.push((r.to_string_lossy().into_owned(), fs::read(e.path()).ok()?));
            }
        }
    }
    let i = files.iter().position(|(r, _)| r == root_name)?;
    let root = files.remove(i);
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Some(Content {
        root,
        includes: files,
    })
}

/// Remove a pruned snapshot (already dropped from state) and fsync the directory.
pub fn remove(dir: &Path, snap: &Snapshot) -> Result<()> {
    let p = dir.join(snap.file_name());
    let r = if snap.is_set() {
        fs::remove_dir_all(&p)
    } else {
        fs::remove_file(&p)
    };
    match r {
        Ok(()) => fsutil::sync_dir(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", p.display())),
    }
}

/// Remove temp files and directories of killed runs of ours in `dir` (not recursive).
pub fn sweep_temps(dir: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return removed;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !fsutil::temp_is_stale(&name) {
            continue;
        }
        let p = e.path();
        let gone = match e.file_type() {
            Ok(t) if t.is_dir() => fs::remove_dir_all(&p).is_ok(),
            _ => fs::remove_file(&p).is_ok(),
        };
        if gone {
            removed.push(p);
        }
    }
    removed
}

/// Remove temp files that a killed restore of ours left next to `target`: our atomic writes
/// (`.<name>.tmp.<pid>.<n>`) and, from versions before 2, `.<name>.clobbered.<ts>.tmp.<pid>.<n>`.
/// Only names derived from `target` and whose writer is gone are touched.
pub fn sweep_temps_of(target: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        return removed;
    };
    let name = name.to_string_lossy();
    let legacy = format!("{name}.clobbered.");
    let Ok(entries) = fs::read_dir(dir) else {
        return removed;
    };
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let ours = fsutil::temp_target(&n).is_some_and(|t| t == name || t.starts_with(&legacy));
        if ours && fsutil::temp_is_stale(&n) && fs::remove_file(e.path()).is_ok() {
            removed.push(e.path());
        }
    }
    removed
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::data::Validity;
    use chrono::TimeZone;

    fn snap_of(id: &str, c: &Content) -> Snapshot {
        let at = Utc::now();
        Snapshot {
            id: id.into(),
            sha256: c.sha(),
            size: c.size(),
            taken_at: at,
            last_seen_at: at,
            validity: Validity::Good,
            accepted_at: None,
            members: if c.includes.is_empty() {
                vec![]
            } else {
                c.members()
            },
        }
    }

    #[test]
    fn ids_are_timestamp_and_hash_prefix_never_bak() {
        let at = Utc.with_ymd_and_hms(2026, 2, 20, 22, 7, 39).unwrap();
        let sha = sha256_hex(b"{}");
        assert_eq!(
            sha,
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        let id = snapshot_id(at, &sha);
        assert_eq!(id, "20260220T220739Z-44136fa355b3");
        assert!(!id.contains(".bak"));
        assert_eq!(id_time(&id), Some(at));
    }

    #[test]
    fn write_is_private_and_verifiable() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("b/openclaw.json");
        let c = Content::single("openclaw.json", b"{a:1}".to_vec());
        let id = snapshot_id(Utc::now(), &c.sha());
        let p = write(&dir, &id, &c).unwrap();
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let s = snap_of(&id, &c);
        assert_eq!(read_verified(&dir, &s, "openclaw.json").unwrap(), c);
        fs::write(&p, b"{a:2}").unwrap();
        assert!(matches!(
            read_verified(&dir, &s, "openclaw.json"),
            Err(Damage::WrongHash { .. })
        ));
        fs::remove_file(&p).unwrap();
        assert_eq!(
            read_verified(&dir, &s, "openclaw.json"),
            Err(Damage::Missing)
        );
    }

    #[test]
    fn a_set_is_one_directory_and_one_hash() {
        let d = tempfile::tempdir().unwrap();
        let c = Content {
            root: (
                "openclaw.json".into(),
                b"{agents:{$include:'./a.json5'}}".to_vec(),
            ),
            includes: vec![("sub/a.json5".into(), b"{x:1}".to_vec())],
        };
        let mut swapped = c.clone();
        swapped
            .includes
            .insert(0, ("b.json5".into(), b"{}".to_vec()));
        let mut reordered = swapped.clone();
        reordered.includes.reverse();
        assert_eq!(swapped.sha(), reordered.sha(), "order does not matter");
        assert_ne!(c.sha(), swapped.sha());
        let id = snapshot_id(Utc::now(), &c.sha());
        let p = write(d.path(), &id, &c).unwrap();
        assert!(p.ends_with(format!("{id}.set")));
        assert_eq!(
            fs::read(p.join("sub/a.json5")).unwrap(),
            b"{x:1}",
            "plain files"
        );
        let s = snap_of(&id, &c);
        assert_eq!(read_verified(d.path(), &s, "openclaw.json").unwrap(), c);
        // adoption reads it back by walking the directory
        let (aid, ac) = read_untracked(d.path(), &format!("{id}.set"), "openclaw.json").unwrap();
        assert_eq!((aid, ac.sha()), (id.clone(), c.sha()));
        fs::write(p.join("sub/a.json5"), b"{x:2}").unwrap();
        let e = read_verified(d.path(), &s, "openclaw.json").unwrap_err();
        assert!(
            e.to_string().starts_with("sub/a.json5: content changed"),
            "{e}"
        );
        assert!(read_untracked(d.path(), &format!("{id}.set"), "openclaw.json").is_none());
        remove(d.path(), &s).unwrap();
        assert!(!p.exists());
        // nothing but the snapshot was ever left in the directory
        assert!(fs::read_dir(d.path()).unwrap().next().is_none());
    }

    #[test]
    fn relative_paths_stay_inside() {
        assert!(check_rel("a/b.json5").is_ok());
        for bad in ["", "../x", "/etc/passwd", "a/../../b"] {
            assert!(check_rel(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kept_copies_get_unique_directories() {
        let d = tempfile::tempdir().unwrap();
        let at = Utc.with_ymd_and_hms(2026, 2, 20, 22, 7, 39).unwrap();
        let files = vec![("openclaw.json".to_string(), b"x".to_vec())];
        let a = keep_copies(d.path(), at, "ab".repeat(32).as_str(), &files, None).unwrap();
        let b = keep_copies(d.path(), at, "ab".repeat(32).as_str(), &files, None).unwrap();
        assert_ne!(a, b);
        assert_eq!(fs::read(a.join("openclaw.json")).unwrap(), b"x");
        assert!(b.to_string_lossy().ends_with("-1"));
    }

    #[test]
    fn temp_sweeps_touch_only_dead_writers_of_ours() {
        let d = tempfile::tempdir().unwrap();
        let live = d.path().join("openclaw.json");
        let dead = ".openclaw.json.tmp.999999999.0";
        let legacy = ".openclaw.json.clobbered.20260101T000000Z.tmp.999999999.1";
        let other = ".other.json.tmp.999999999.0";
        let alive = ".openclaw.json.tmp.1.0";
        for n in [dead, legacy, other, alive] {
            fs::write(d.path().join(n), b"x").unwrap();
        }
        let mut removed = sweep_temps_of(&live);
        removed.sort();
        assert_eq!(removed, vec![d.path().join(legacy), d.path().join(dead)]);
        fs::create_dir(d.path().join(".x.set.tmp.999999999.3")).unwrap();
        fs::write(d.path().join(".x.set.tmp.999999999.3/f"), b"x").unwrap();
        let swept = sweep_temps(d.path());
        assert!(
            swept.contains(&d.path().join(".x.set.tmp.999999999.3")),
            "{swept:?}"
        );
        assert!(d.path().join(alive).exists());
    }
}
