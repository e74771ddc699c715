//! The agent's Teams inbox, Maildir style: `<inbox>/tmp/`, `new/`, `cur/`, `rejected/`.
//!
//! An event is written to `tmp/`, fsynced, renamed into `new/`, and `new/` is fsynced, so a
//! reader never sees a partial file and a written event survives a crash. Whatever consumes an
//! event moves it from `new/` to `cur/` keeping its name: the delivery step after the gateway
//! admitted it, or another reader of the Maildir. An event the gateway refused for good moves
//! to `rejected/` with a `<name>.reason` file beside it. File names are
//! `<UTC modification time>-<hash>.json`: sortable by time and derived only from the chat id,
//! message id, event kind and version (never from untrusted text), so delivering the same event
//! twice produces the same name and is detected.

use crate::data::NewCount;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

/// What happened to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Message,
    Edited,
    Deleted,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::Edited => "edited",
            Kind::Deleted => "deleted",
        }
    }
}

/// The sender as the agent sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SenderInfo {
    pub id: Option<String>,
    pub name: Option<String>,
    /// `operator` or `trusted` (denied senders never reach the inbox).
    pub tier: Option<String>,
}

/// One inbox event (the JSON file).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    pub schema: u32,
    pub event: Kind,
    /// The chat (null for channel messages).
    pub chat_id: Option<String>,
    /// The team and channel (null for chat messages).
    pub team_id: Option<String>,
    pub channel_id: Option<String>,
    pub message_id: String,
    pub sender: SenderInfo,
    pub created: Option<DateTime<Utc>>,
    pub modified: Option<DateTime<Utc>>,
    pub edited: Option<DateTime<Utc>>,
    pub deleted: Option<DateTime<Utc>>,
    pub content_type: String,
    pub html: String,
    pub text: String,
    /// The body was longer than `max_body_bytes` and was cut (see `original_bytes`).
    pub truncated: bool,
    pub original_bytes: usize,
    #[serde(skip_deserializing)]
    pub mentions: Vec<graph::Mention>,
    #[serde(skip_deserializing)]
    pub attachments: Vec<graph::Attachment>,
    pub received_at: DateTime<Utc>,
}

/// Hex SHA-256 of the parts, each followed by a NUL byte, first `n` hex digits.
pub fn hash(parts: &[&str], n: usize) -> String {
    let mut bytes = Vec::new();
    for p in parts {
        bytes.extend_from_slice(p.as_bytes());
        bytes.push(0);
    }
    let mut s = common::hash::sha256_hex(&bytes);
    s.truncate(n);
    s
}

/// The file name of an event: time of the version, then a hash of its identity.
pub fn file_name(chat: &str, id: &str, kind: Kind, version: DateTime<Utc>) -> String {
    let v = version.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    format!(
        "{}-{}.json",
        version.format("%Y%m%dT%H%M%S%.3fZ"),
        hash(&[chat, id, kind.as_str(), &v], 24)
    )
}

/// How long after a directory's last change a count of it may be reused (see
/// [`Inbox::count_new`]): far above the file-time clock's tick.
pub const SETTLED: std::time::Duration = std::time::Duration::from_secs(2);

/// The inbox directories.
#[derive(Debug, Clone)]
pub struct Inbox {
    pub dir: PathBuf,
}

impl Inbox {
    pub fn new(dir: PathBuf) -> Inbox {
        Inbox { dir }
    }

    /// Create `tmp/`, `new/`, `cur/` (mode 0700) and remove leftovers in `tmp/` from a killed run.
    /// A symbolic link in place of the inbox or one of them is refused: events are never
    /// written through a link planted there.
    pub fn prepare(&self) -> Result<()> {
        common::fsutil::refuse_symlinked_dir(&self.dir)?;
        for d in ["tmp", "new", "cur"] {
            let d = self.dir.join(d);
            common::fsutil::refuse_symlinked_dir(&d)?;
            common::fsutil::ensure_private_dir(&d)?;
        }
        if let Ok(entries) = std::fs::read_dir(self.dir.join("tmp")) {
            for e in entries.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(())
    }

    /// Whether an event with this name was already delivered (in `new/` or `cur/`).
    pub fn contains(&self, name: &str) -> bool {
        self.dir.join("new").join(name).exists() || self.dir.join("cur").join(name).exists()
    }

    /// Write events durably into `new/`: every file is written to `tmp/`, all are fsynced (in
    /// parallel, so the filesystem can commit them together), then renamed into `new/`, and
    /// `new/` is fsynced once. Returns when every one is durable; a crash before that leaves at
    /// most complete files in `tmp/` (removed at the next start) or in `new/`.
    pub fn deliver(&self, events: &[(String, Vec<u8>)]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let tmp = self.dir.join("tmp");
        let new = self.dir.join("new");
        let mut files = Vec::with_capacity(events.len());
        for (name, bytes) in events {
            let t = tmp.join(format!("{name}.{}", std::process::id()));
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&t)
                .with_context(|| format!("cannot create {}", t.display()))?;
            f.write_all(bytes)
                .with_context(|| format!("cannot write {}", t.display()))?;
            files.push((t, f));
        }
        sync_all_parallel(&files)?;
        for ((t, _), (name, _)) in files.iter().zip(events) {
            std::fs::rename(t, new.join(name))
                .with_context(|| format!("cannot move {} into {}", t.display(), new.display()))?;
        }
        common::fsutil::sync_dir(&new)
    }

    /// The event files in `new/`, oldest first (names sort by time).
    pub fn list_new(&self) -> Result<Vec<String>> {
        let dir = self.dir.join("new");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
            .collect();
        names.sort();
        Ok(names)
    }

    /// How many events wait in `new/`, reusing `last` while the directory is unchanged; returns
    /// the count and what to keep for the next call. Listing a directory of 10,000 events
    /// costs about 7 ms, every run, where nothing consumes them (`journal` mode); one `stat`
    /// tells whether it changed. A count is kept only when the listing started at least
    /// [`SETTLED`] after the directory's last change: any change made while listing or later
    /// gets a later modification time (the kernel's file-time clock ticks every few ms), so
    /// an unchanged time then means an unchanged count (git's "racy clean" rule).
    pub fn count_new(&self, last: Option<NewCount>) -> Result<(u64, Option<NewCount>)> {
        let dir = self.dir.join("new");
        let listing_at = std::time::SystemTime::now();
        let meta = std::fs::metadata(&dir)
            .with_context(|| format!("cannot read the metadata of {}", dir.display()))?;
        let stamp = |count| NewCount {
            dev: meta.dev(),
            ino: meta.ino(),
            mtime_sec: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
            count,
        };
        if let Some(l) = last
            && l == stamp(l.count)
        {
            return Ok((l.count, Some(l)));
        }
        let count = self.list_new()?.len() as u64;
        let settled = meta
            .modified()
            .ok()
            .and_then(|m| listing_at.duration_since(m).ok())
            .is_some_and(|age| age >= SETTLED);
        Ok((count, settled.then(|| stamp(count))))
    }

    /// Read an event in `new/`.
    pub fn read_new(&self, name: &str) -> Result<Event> {
        let p = self.dir.join("new").join(name);
        let bytes = std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not an inbox event", p.display()))
    }

    /// Move an event from `new/` to `cur/` durably (consumed). Already moved is fine.
    pub fn consume(&self, name: &str) -> Result<()> {
        self.move_from_new(name, "cur")
    }

    /// Move an event from `new/` to `rejected/` with the reason beside it (`<name>.reason`).
    pub fn give_up(&self, name: &str, reason: &str) -> Result<()> {
        let dir = self.dir.join("rejected");
        common::fsutil::refuse_symlinked_dir(&dir)?;
        common::fsutil::ensure_private_dir(&dir)?;
        common::fsutil::write_atomic(
            &dir.join(format!("{name}.reason")),
            format!("{reason}\n").as_bytes(),
        )?;
        self.move_from_new(name, "rejected")
    }

    fn move_from_new(&self, name: &str, to: &str) -> Result<()> {
        let from = self.dir.join("new").join(name);
        let dest_dir = self.dir.join(to);
        let dest = dest_dir.join(name);
        match std::fs::rename(&from, &dest) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && dest.exists() => return Ok(()),
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "cannot move {} to {}",
                    from.display(),
                    dest_dir.display()
                )));
            }
        }
        common::fsutil::sync_dir(&dest_dir)?;
        common::fsutil::sync_dir(&self.dir.join("new"))
    }

    /// Keep a copy of a denied message in `rejected/` (atomic).
    pub fn reject(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let dir = self.dir.join("rejected");
        common::fsutil::refuse_symlinked_dir(&dir)?;
        common::fsutil::ensure_private_dir(&dir)?;
        common::fsutil::write_atomic(&dir.join(name), bytes)
    }
}

/// Threads used to fsync a batch (concurrent fsyncs share journal commits).
const SYNC_THREADS: usize = 16;

fn sync_all_parallel(files: &[(PathBuf, std::fs::File)]) -> Result<()> {
    let chunk = files.len().div_ceil(SYNC_THREADS).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || -> Result<()> {
                    for (p, f) in part {
                        f.sync_all()
                            .with_context(|| format!("cannot fsync {}", p.display()))?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("an fsync thread panicked"))??;
        }
        Ok(())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_did_not_change_with_the_shared_hash() {
        let t = DateTime::parse_from_rfc3339("2026-03-05T08:03:55.512Z")
            .unwrap()
            .with_timezone(&Utc);
        // The name an earlier version wrote for this event: a changed name would deliver
        // events again after an upgrade.
        assert_eq!(
            file_name("19:x@thread.v2", "1700000000001", Kind::Message, t),
            "20260305T080355.512Z-6942371e3e2288fe153e4269.json"
        );
    }

    #[test]
    fn names_are_safe_stable_and_distinct() {
        let t = DateTime::parse_from_rfc3339("2026-03-05T08:03:55.512Z")
            .unwrap()
            .with_timezone(&Utc);
        let a = file_name("19:x@thread.v2", "../../etc/passwd", Kind::Message, t);
        assert_eq!(
            a,
            file_name("19:x@thread.v2", "../../etc/passwd", Kind::Message, t)
        );
        assert!(a.starts_with("20260305T080355.512Z-"), "{a}");
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'),
            "{a}"
        );
        assert_ne!(
            a,
            file_name("19:x@thread.v2", "../../etc/passwd", Kind::Edited, t)
        );
        assert_ne!(
            a,
            file_name("19:y@thread.v2", "../../etc/passwd", Kind::Message, t)
        );
    }

    #[test]
    fn deliver_is_visible_and_detected() {
        let d = tempfile::tempdir().unwrap();
        let ib = Inbox::new(d.path().join("inbox"));
        ib.prepare().unwrap();
        ib.deliver(&[("a.json".into(), b"{}".to_vec())]).unwrap();
        assert!(ib.contains("a.json"));
        std::fs::rename(
            d.path().join("inbox/new/a.json"),
            d.path().join("inbox/cur/a.json"),
        )
        .unwrap();
        assert!(ib.contains("a.json"));
        assert!(!ib.contains("b.json"));
        assert_eq!(
            std::fs::read_dir(d.path().join("inbox/tmp"))
                .unwrap()
                .count(),
            0
        );
    }

    /// Sets `new/`'s modification time `ago` in the past (what a quiet inbox looks like).
    fn age_new(ib: &Inbox, ago: std::time::Duration) {
        let past = std::time::SystemTime::now() - ago;
        std::fs::File::open(ib.dir.join("new"))
            .unwrap()
            .set_modified(past)
            .unwrap();
    }

    #[test]
    fn a_count_of_new_is_reused_only_while_the_directory_is_unchanged() {
        let d = tempfile::tempdir().unwrap();
        let ib = Inbox::new(d.path().join("inbox"));
        ib.prepare().unwrap();
        let ev = |n: &str| (format!("{n}.json"), b"{}".to_vec());
        ib.deliver(&[ev("a"), ev("b"), ev("c")]).unwrap();

        // Just changed: counted, but not kept (a change in the same clock tick would not show).
        let (n, kept) = ib.count_new(None).unwrap();
        assert_eq!((n, kept), (3, None));

        // Quiet for a minute: counted and kept.
        age_new(&ib, std::time::Duration::from_secs(60));
        let (n, kept) = ib.count_new(None).unwrap();
        assert_eq!(n, 3);
        let kept = kept.expect("a settled count is kept");
        assert_eq!(kept.count, 3);

        // Unchanged directory: the kept count is used, not a listing. (A file slipped in with
        // the old time restored proves it: a listing would say 4.)
        std::fs::write(ib.dir.join("new/d.json"), b"{}").unwrap();
        age_new(&ib, std::time::Duration::from_secs(60));
        let meta = std::fs::metadata(ib.dir.join("new")).unwrap();
        let kept = NewCount {
            mtime_sec: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
            ..kept
        };
        assert_eq!(ib.count_new(Some(kept)).unwrap(), (3, Some(kept)));

        // Any change (a consumer moving an event to cur/) changes the time: counted again.
        std::fs::rename(ib.dir.join("new/a.json"), ib.dir.join("cur/a.json")).unwrap();
        let (n, again) = ib.count_new(Some(kept)).unwrap();
        assert_eq!((n, again), (3, None), "b, c, d; just changed, so not kept");

        // Another directory in the same place (same time restored) is not taken for the old one.
        age_new(&ib, std::time::Duration::from_secs(60));
        let (_, settled) = ib.count_new(None).unwrap();
        let settled = settled.unwrap();
        let moved = NewCount {
            ino: settled.ino + 1,
            count: 99,
            ..settled
        };
        assert_eq!(ib.count_new(Some(moved)).unwrap().0, 3);
    }

    #[test]
    fn a_symlink_planted_for_the_inbox_or_new_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let ib = Inbox::new(d.path().join("inbox"));
        std::fs::create_dir_all(&ib.dir).unwrap();
        std::os::unix::fs::symlink(outside.path(), ib.dir.join("new")).unwrap();
        let e = ib.prepare().unwrap_err().to_string();
        assert!(e.contains("symbolic link") && e.contains("new"), "{e}");

        let linked = Inbox::new(d.path().join("linked"));
        std::os::unix::fs::symlink(outside.path(), &linked.dir).unwrap();
        assert!(linked.prepare().is_err());
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }
}
