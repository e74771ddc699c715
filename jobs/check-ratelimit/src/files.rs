//! The rotation-aware cursor: which log files exist now, which of them we already know (by
//! device and inode, confirmed by a fingerprint of their first bytes), and where to resume in
//! each, so nothing is counted twice and nothing is skipped.
//!
//! Cases: a file renamed by rotation keeps its inode and is finished from its offset; a file
//! truncated in place (copy-truncate) or rewritten restarts at 0, and its copy (a new inode whose
//! first bytes match the old fingerprint) resumes at the old offset; a new file starts at 0
//! (at its end on the very first run, unless `--from-start`); a vanished file is forgotten.

pub use crate::data::Cursor;
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Bytes of a file's head hashed into its fingerprint.
pub const FP_MAX: usize = 256;

/// A log file found by the globs, opened.
#[derive(Debug)]
pub struct Found {
    pub path: PathBuf,
    pub file: File,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: SystemTime,
    pub head: Vec<u8>,
}

impl Found {
    fn fp_of(&self, len: usize) -> Option<String> {
        (self.head.len() >= len).then(|| hex_sha(&self.head[..len]))
    }
}

fn hex_sha(b: &[u8]) -> String {
    common::hash::sha256_hex(b)
}

/// Expand the globs (already resolved to absolute patterns) and open every regular file.
/// Files that vanish between listing and opening are simply not there this run.
pub fn discover(patterns: &[PathBuf]) -> Result<Vec<Found>> {
    let mut out: Vec<Found> = Vec::new();
    let mut seen = HashSet::new();
    for pat in patterns {
        let s = pat.to_string_lossy();
        let paths = glob::glob(&s).with_context(|| format!("bad glob {s}"))?;
        for p in paths.flatten() {
            let file = match File::open(&p) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot open log file {}", p.display()));
                }
            };
            let meta = file
                .metadata()
                .with_context(|| format!("cannot stat {}", p.display()))?;
            if !meta.is_file() || !seen.insert((meta.dev(), meta.ino())) {
                continue;
            }
            let mut head = vec![0u8; FP_MAX.min(meta.len() as usize)];
            let n = read_at_full(&file, &mut head, 0)
                .with_context(|| format!("cannot read {}", p.display()))?;
            head.truncate(n);
            out.push(Found {
                path: p,
                dev: meta.dev(),
                ino: meta.ino(),
                size: meta.len(),
                mtime: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                head,
                file,
            });
        }
    }
    out.sort_by(|a, b| a.mtime.cmp(&b.mtime).then_with(|| a.path.cmp(&b.path)));
    Ok(out)
}

fn read_at_full(f: &File, buf: &mut [u8], off: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], off + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// What to do with one file this run.
#[derive(Debug)]
pub struct Plan {
    pub found: Found,
    pub start: u64,
    pub skipping: bool,
    /// Why it starts there (for the log).
    pub why: &'static str,
}

impl Plan {
    /// The cursor to store for this file after consuming `consumed` more bytes.
    pub fn cursor(&self, consumed: u64, skipping: bool, now: DateTime<Utc>) -> Cursor {
        let fp_len = self.found.head.len();
        Cursor {
            path: self.found.path.clone(),
            dev: self.found.dev,
            ino: self.found.ino,
            offset: self.start + consumed,
            fp: hex_sha(&self.found.head),
            fp_len: fp_len as u64,
            skipping_long_line: skipping,
            size: self.found.size.max(self.start + consumed),
            updated_at: Some(now),
        }
    }

    /// Open the file positioned at the start offset.
    pub fn reader(&self) -> Result<impl Read + '_> {
        let mut f = &self.found.file;
        f.seek(SeekFrom::Start(self.start))
            .with_context(|| format!("cannot seek in {}", self.found.path.display()))?;
        Ok(f)
    }
}

/// One event of the plan, for the log and metrics.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Renamed {
        from: PathBuf,
        to: PathBuf,
    },
    Truncated {
        path: PathBuf,
        offset: u64,
    },
    CopyOf {
        copy: PathBuf,
        of: PathBuf,
        offset: u64,
    },
    New {
        path: PathBuf,
    },
    Vanished {
        path: PathBuf,
        offset: u64,
        size: u64,
    },
}

/// Decide where to start in each found file given the stored cursors.
pub fn plan(
    cursors: &[Cursor],
    found: Vec<Found>,
    initialized: bool,
    from_start: bool,
) -> Result<(Vec<Plan>, Vec<Event>)> {
    let mut plans = Vec::new();
    let mut events = Vec::new();
    // Cursors whose bytes may live on in a copy: their file was truncated, rewritten or vanished.
    let mut orphans: Vec<(Cursor, bool)> = Vec::new(); // (cursor, file still exists)
    let mut rest = Vec::new();
    for f in found {
        let Some(c) = cursors.iter().find(|c| c.dev == f.dev && c.ino == f.ino) else {
            rest.push(f);
            continue;
        };
        let same = c.fp_len == 0 || f.fp_of(c.fp_len as usize).is_some_and(|fp| fp == c.fp);
        if !same || f.size < c.offset {
            events.push(Event::Truncated {
                path: f.path.clone(),
                offset: c.offset,
            });
            orphans.push((c.clone(), true));
            plans.push(Plan {
                found: f,
                start: 0,
                skipping: false,
                why: "truncated or rewritten",
            });
        } else {
            if f.path != c.path {
                events.push(Event::Renamed {
                    from: c.path.clone(),
                    to: f.path.clone(),
                });
            }
            plans.push(Plan {
                start: c.offset,
                skipping: c.skipping_long_line,
                found: f,
                why: "known",
            });
        }
    }
    for c in cursors {
        if !plans
            .iter()
            .any(|p| p.found.dev == c.dev && p.found.ino == c.ino)
        {
            orphans.push((c.clone(), false));
        }
    }
    let mut copied = HashSet::new();
    for f in rest {
        let copy_of = orphans.iter().enumerate().find(|(i, (c, _))| {
            !copied.contains(i)
                && c.fp_len > 0
                && f.size >= c.offset
                && f.fp_of(c.fp_len as usize).is_some_and(|fp| fp == c.fp)
        });
        if let Some((i, (c, _))) = copy_of {
            copied.insert(i);
            events.push(Event::CopyOf {
                copy: f.path.clone(),
                of: c.path.clone(),
                offset: c.offset,
            });
            plans.push(Plan {
                start: c.offset,
                skipping: c.skipping_long_line,
                found: f,
                why: "copy of a truncated file",
            });
        } else if !initialized && !from_start {
            let (start, skipping) = end_of_last_line(&f)?;
            plans.push(Plan {
                found: f,
                start,
                skipping,
                why: "first run: starting at the end",
            });
        } else {
            events.push(Event::New {
                path: f.path.clone(),
            });
            plans.push(Plan {
                found: f,
                start: 0,
                skipping: false,
                why: "new file",
            });
        }
    }
    for (i, (c, exists)) in orphans.iter().enumerate() {
        if !exists && !copied.contains(&i) {
            events.push(Event::Vanished {
                path: c.path.clone(),
                offset: c.offset,
                size: c.size,
            });
        }
    }
    plans.sort_by(|a, b| {
        a.found
            .mtime
            .cmp(&b.found.mtime)
            .then_with(|| a.found.path.cmp(&b.found.path))
    });
    Ok((plans, events))
}

/// The offset just after the last newline (within the last 64 KiB); if there is none there,
/// the end of the file with "skip the rest of this long line".
fn end_of_last_line(f: &Found) -> Result<(u64, bool)> {
    const TAIL: u64 = 64 * 1024;
    if f.size == 0 {
        return Ok((0, false));
    }
    let from = f.size.saturating_sub(TAIL);
    let mut buf = vec![0u8; (f.size - from) as usize];
    let n = read_at_full(&f.file, &mut buf, from)
        .with_context(|| format!("cannot read {}", f.path.display()))?;
    buf.truncate(n);
    match memchr::memrchr(b'\n', &buf) {
        Some(i) => Ok((from + i as u64 + 1, false)),
        None if from == 0 => Ok((0, false)),
        None => Ok((f.size, true)),
    }
}

/// Resolve a configured glob against the root (`~`, relative paths).
pub fn resolve_glob(paths: &common::Paths, g: &str) -> PathBuf {
    paths.resolve(Path::new(g))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;

    fn append(p: &Path, s: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap();
        f.write_all(s.as_bytes()).unwrap();
    }

    fn line(i: usize) -> String {
        format!(
            "2026-03-05T00:00:{:02}.000Z [gateway] line {i} {}\n",
            i % 60,
            "x".repeat(40)
        )
    }

    fn cursors_after(plans: &[Plan]) -> Vec<Cursor> {
        plans
            .iter()
            .map(|p| p.cursor(p.found.size - p.start, false, Utc::now()))
            .collect()
    }

    #[test]
    fn rename_rotation_finishes_old_then_new() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("gw-1.log");
        for i in 0..10 {
            append(&a, &line(i));
        }
        let pat = vec![d.path().join("gw-*.log")];
        let (p, _) = plan(&[], discover(&pat).unwrap(), false, true).unwrap();
        let cur = cursors_after(&p);
        append(&a, &line(10));
        let rotated = d.path().join("gw-1.1.log");
        std::fs::rename(&a, &rotated).unwrap();
        append(&a, &line(11));
        let (p, ev) = plan(&cur, discover(&pat).unwrap(), true, false).unwrap();
        assert_eq!(p.len(), 2);
        let old = p.iter().find(|x| x.found.path == rotated).unwrap();
        assert_eq!(old.start, cur[0].offset);
        let new = p.iter().find(|x| x.found.path == a).unwrap();
        assert_eq!(new.start, 0);
        assert!(ev.iter().any(|e| matches!(e, Event::Renamed { .. })));
    }

    #[test]
    fn copy_truncate_resumes_in_the_copy() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("gw.log");
        for i in 0..10 {
            append(&a, &line(i));
        }
        let pat = vec![d.path().join("gw*.log")];
        let (p, _) = plan(&[], discover(&pat).unwrap(), true, false).unwrap();
        let cur = cursors_after(&p);
        append(&a, &line(10));
        std::fs::copy(&a, d.path().join("gw.1.log")).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&a)
            .unwrap();
        append(&a, &line(11));
        let (p, ev) = plan(&cur, discover(&pat).unwrap(), true, false).unwrap();
        let copy = p
            .iter()
            .find(|x| x.found.path.ends_with("gw.1.log"))
            .unwrap();
        assert_eq!(copy.start, cur[0].offset);
        let orig = p.iter().find(|x| x.found.path == a).unwrap();
        assert_eq!(orig.start, 0);
        assert!(ev.iter().any(|e| matches!(e, Event::CopyOf { .. })));
        assert!(ev.iter().any(|e| matches!(e, Event::Truncated { .. })));
    }

    #[test]
    fn first_run_starts_after_the_last_complete_line() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("gw.log");
        append(&a, &line(0));
        append(&a, "partial");
        let pat = vec![d.path().join("gw.log")];
        let (p, _) = plan(&[], discover(&pat).unwrap(), false, false).unwrap();
        assert_eq!(p[0].start as usize, line(0).len());
    }
}
