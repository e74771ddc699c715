//! Durable file primitives: atomic replace, private directories, stale temp-file sweep.
//!
//! Promise: after [`write_atomic`] returns `Ok`, the file holds the new bytes and survives a
//! crash or power loss; if the process dies at any instant before that, the file holds the old
//! bytes (or does not exist, if it never did). Never a torn mix.
//!
//! How: the bytes go to a temp file in the same directory (`.<name>.tmp.<pid>.<n>`), which is
//! flushed and fsynced, renamed over the target, and then the directory is fsynced so the rename
//! itself is durable. A temp file left behind by a killed process is removed by
//! [`sweep_temp_files`] at the next start, once its pid is gone.
//!
//! Limitations: Linux semantics (rename is atomic within one filesystem; `/proc` tells whether a
//! pid is alive); a symlink at the target is replaced, not followed; extended attributes and ACLs
//! are not copied.

use anyhow::{Context, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Mode and ownership for a file written by [`write_atomic_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct FileOptions {
    /// Permission bits of the new file (default 0600).
    pub mode: Option<u32>,
    /// Owner and group to give the new file (needs privileges unless unchanged).
    pub owner: Option<(u32, u32)>,
}

/// Atomically replace `path` with `bytes`, mode 0600. See the module docs for the promise.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, bytes, FileOptions::default())
}

/// Atomically replace `path`, keeping the mode and owner of the file it replaces (if any).
pub fn write_atomic_preserving(path: &Path, bytes: &[u8]) -> Result<()> {
    let opts = match fs::metadata(path) {
        Ok(m) => FileOptions {
            mode: Some(m.permissions().mode() & 0o7777),
            owner: Some((m.uid(), m.gid())),
        },
        Err(_) => FileOptions::default(),
    };
    write_atomic_with(path, bytes, opts)
}

/// Atomically replace `path` with `bytes` using the given mode/owner.
pub fn write_atomic_with(path: &Path, bytes: &[u8], opts: FileOptions) -> Result<()> {
    replace_unsynced(path, bytes, opts)?;
    sync_dir(parent_of(path))
}

/// Like [`write_atomic_with`] but without the directory fsync, for callers that replace many
/// files in one directory and then call [`sync_dir`] once. Until then the rename may not
/// survive a power loss (the file holds the old or the new bytes either way).
pub fn replace_unsynced(path: &Path, bytes: &[u8], opts: FileOptions) -> Result<()> {
    let tmp = write_temp(path, bytes, opts)?;
    fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))
        .map_err(|e| {
            let _ = fs::remove_file(&tmp);
            e.context(format!(
                "could not write {} (the previous version, if any, is intact)",
                path.display()
            ))
        })
}

/// Create `path` with `bytes`, durably, failing rather than replacing anything that exists
/// there: temp file, fsync, hard link to the final name, temp name removed. The directory is
/// not fsynced (call [`sync_dir`], once for a batch).
pub fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let tmp = write_temp(
        path,
        bytes,
        FileOptions {
            mode: Some(mode),
            owner: None,
        },
    )?;
    let linked = fs::hard_link(&tmp, path).with_context(|| {
        format!(
            "cannot create {} (it must not exist yet; nothing was replaced)",
            path.display()
        )
    });
    let _ = fs::remove_file(&tmp);
    linked
}

/// Write `bytes` to a fresh temp file next to `path` (mode, owner, fsync) and return its path.
/// On error nothing is left behind.
fn write_temp(path: &Path, bytes: &[u8], opts: FileOptions) -> Result<PathBuf> {
    let dir = parent_of(path);
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?
        .to_string_lossy();
    let tmp = dir.join(format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| -> Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(opts.mode.unwrap_or(0o600))
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(bytes)
            .and_then(|_| f.flush())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        if let Some(mode) = opts.mode {
            // The umask may have narrowed the mode given to open(2).
            f.set_permissions(fs::Permissions::from_mode(mode))
                .with_context(|| format!("cannot set mode of {}", tmp.display()))?;
        }
        if let Some((uid, gid)) = opts.owner {
            let m = f.metadata()?;
            if m.uid() != uid || m.gid() != gid {
                std::os::unix::fs::fchown(&f, Some(uid), Some(gid)).with_context(|| {
                    format!("cannot give {} to uid {uid} gid {gid}", tmp.display())
                })?;
            }
        }
        f.sync_all()
            .with_context(|| format!("cannot fsync {}", tmp.display()))
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e.context(format!(
                "could not write {} (the previous version, if any, is intact)",
                path.display()
            )))
        }
    }
}

/// fsync a directory so that renames and creations inside it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot fsync directory {}", dir.display()))
}

/// Create `dir` (and parents) with mode 0700 if missing, whatever the umask. An existing
/// directory is left as is.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    ensure_dir_durable(dir, 0o700)
}

/// Create `dir` and its missing parents with `mode` (independent of the umask), fsyncing each
/// parent that gained an entry, so the new directories survive a crash. An existing directory
/// is left as it is.
pub fn ensure_dir_durable(dir: &Path, mode: u32) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.is_dir() || d.as_os_str().is_empty() {
            break;
        }
        missing.push(d.to_path_buf());
        cur = d.parent();
    }
    for d in missing.iter().rev() {
        match fs::DirBuilder::new().mode(mode).create(d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && d.is_dir() => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("cannot create directory {}", d.display()));
            }
        }
        // The umask may have narrowed the mode given to mkdir(2).
        fs::set_permissions(d, fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set mode of {}", d.display()))?;
        sync_dir(parent_of(d))?;
    }
    Ok(())
}

/// Durably copy `src` to `dst` (atomic, fsynced), returning the bytes copied.
pub fn copy_atomic(src: &Path, dst: &Path, opts: FileOptions) -> Result<Vec<u8>> {
    let bytes = fs::read(src).with_context(|| format!("cannot read {}", src.display()))?;
    write_atomic_with(dst, &bytes, opts)?;
    Ok(bytes)
}

/// Remove temp files left in `dir` by [`write_atomic`] calls of processes that no longer exist.
/// Returns the paths removed.
pub fn sweep_temp_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = temp_owner(&name.to_string_lossy()) else {
            continue;
        };
        if pid == std::process::id() || !pid_alive(pid) {
            let p = entry.path();
            if fs::remove_file(&p).is_ok() {
                removed.push(p);
            }
        }
    }
    Ok(removed)
}

/// The temp-file name [`write_atomic`] uses for `name` (without the pid and counter):
/// `.<name>.tmp.`. Every crate that sweeps temp files matches names through
/// [`temp_owner`] and [`temp_target`], never by its own parsing.
pub fn temp_prefix(name: &str) -> String {
    format!(".{name}.tmp.")
}

/// The file a temp name stands for (`.<name>.tmp.<pid>.<n>` → `<name>`), if it is one.
pub fn temp_target(temp_name: &str) -> Option<&str> {
    temp_owner(temp_name)?;
    let inner = temp_name.strip_prefix('.')?;
    let (target, _) = inner.rsplit_once(".tmp.")?;
    Some(target)
}

/// Whether a temp file's writer is gone (its pid is not alive, or is this very process: a
/// temp file of ours from before the current write is a leftover too).
pub fn temp_is_stale(temp_name: &str) -> bool {
    temp_owner(temp_name).is_some_and(|pid| pid == std::process::id() || !pid_alive(pid))
}

/// The pid embedded in a temp-file name made by [`write_atomic`], if it is one.
pub fn temp_owner(name: &str) -> Option<u32> {
    if !name.starts_with('.') {
        return None;
    }
    let (_, tail) = name.rsplit_once(".tmp.")?;
    let (pid, n) = tail.split_once('.')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

/// Whether a process with this pid exists (Linux `/proc`).
pub fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Open `path` without following a symlink at its last component (`O_NOFOLLOW`): a link
/// planted where a job keeps its lock, log or data file is refused with an error naming the
/// path, never written through. `opts` says how to open; the descriptor is close-on-exec.
pub fn open_nofollow(path: &Path, opts: &mut OpenOptions) -> Result<File> {
    match opts
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => Ok(f),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => Err(anyhow::anyhow!(
            "refusing to open {}: it is a symbolic link (a job never writes through a link in its own directories); remove it and run again",
            path.display()
        )),
        Err(e) => Err(e).with_context(|| format!("cannot open {}", path.display())),
    }
}

/// Fail with an error naming `dir` when it exists and is a symbolic link (the jobs create
/// their directories themselves and never write through a link planted in their place).
pub fn refuse_symlinked_dir(dir: &Path) -> Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => Err(anyhow::anyhow!(
            "refusing to use {}: it is a symbolic link; replace it with a real directory (or point the config at the target)",
            dir.display()
        )),
        _ => Ok(()),
    }
}

/// The machine's host name (for lock holders and run records).
pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_and_leave_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(d.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1);
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn preserving_keeps_mode() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c.json");
        fs::write(&p, b"old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic_preserving(&p, b"new").unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o640
        );
    }

    #[test]
    fn failed_write_keeps_old_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub").join("x.json");
        // parent missing: the write fails and says which file
        let err = write_atomic(&p, b"x").unwrap_err();
        assert!(format!("{err:#}").contains("x.json"), "{err:#}");
    }

    #[test]
    fn write_new_never_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a.md");
        write_new(&p, b"one", 0o640).unwrap();
        let err = write_new(&p, b"two", 0o640).unwrap_err();
        assert!(format!("{err:#}").contains("must not exist"), "{err:#}");
        assert_eq!(fs::read(&p).unwrap(), b"one");
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1, "no temp left");
    }

    #[test]
    fn sweep_removes_only_dead_owners() {
        let d = tempfile::tempdir().unwrap();
        let dead = d.path().join(".s.json.tmp.999999999.0");
        let live = d.path().join(format!(".s.json.tmp.{}.7", 1)); // pid 1 always exists
        let other = d.path().join(".hidden");
        for p in [&dead, &live, &other] {
            fs::write(p, b"x").unwrap();
        }
        let removed = sweep_temp_files(d.path()).unwrap();
        assert_eq!(removed, vec![dead.clone()]);
        assert!(live.exists() && other.exists());
    }

    #[test]
    fn nofollow_refuses_a_planted_link() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("precious");
        fs::write(&target, b"keep me").unwrap();
        let link = d.path().join("job.lock");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = open_nofollow(&link, OpenOptions::new().write(true).create(true)).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(fs::read(&target).unwrap(), b"keep me");
        let dlink = d.path().join("dlink");
        std::os::unix::fs::symlink(d.path(), &dlink).unwrap();
        assert!(refuse_symlinked_dir(&dlink).is_err());
        assert!(refuse_symlinked_dir(d.path()).is_ok());
    }

    #[test]
    fn durable_dirs_get_their_mode_whatever_the_umask() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b/c");
        ensure_dir_durable(&p, 0o750).unwrap();
        for sub in ["a", "a/b", "a/b/c"] {
            let m = fs::metadata(d.path().join(sub))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(m, 0o750, "{sub}");
        }
        ensure_dir_durable(&p, 0o700).unwrap();
    }

    #[test]
    fn temp_names_round_trip() {
        assert_eq!(
            temp_target(".openclaw.json.tmp.42.0"),
            Some("openclaw.json")
        );
        assert_eq!(temp_target(".a.tmp.b.tmp.7.3"), Some("a.tmp.b"));
        assert_eq!(temp_target("openclaw.json.tmp.42.0"), None);
        assert_eq!(temp_target(".x.tmp.pid.0"), None);
        assert!(temp_prefix("s.json") == ".s.json.tmp.");
        assert!(temp_is_stale(&format!(".x.tmp.{}.0", std::process::id())));
    }

    #[test]
    fn temp_owner_parses_names() {
        assert_eq!(temp_owner(".a.json.tmp.42.3"), Some(42));
        assert_eq!(temp_owner("a.json.tmp.42.3"), None);
        assert_eq!(temp_owner(".a.json"), None);
        assert_eq!(temp_owner(".a.tmp.x.3"), None);
    }
}
