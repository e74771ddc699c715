//! Carrying out the plan: archive, digest, remove, for batches of periods.
//!
//! Order of every period's side effects, which is what makes a kill at any instant safe:
//! 1. new archive copies are written next to nothing (a hard link never replaces a file),
//!    fsynced, their directory fsynced, and re-read to check their sha256;
//! 2. only then the digest listing them is written (atomically);
//! 3. only then the originals are removed from `memory/`, each one checked unchanged first (a
//!    file that changed meanwhile stays and is compacted next run).
//!
//! So every line is in place or archived, and a digest never lists a source that is not
//! archived. State is a cache of what was done: a run that finds an original identical to an
//! archived copy just finishes the job (rebuilding the digest if state does not know it).

use crate::config::Config;
use crate::data::{Data, DigestRecord, Method, RunStats, SourceRecord};
use crate::layout::{self, Archived, Period};
use crate::plan::{self, DigestNow, NoteState, PeriodPlan};
use crate::rules::SourceText;
use crate::setup::Setup;
use crate::summary::{self, Header, ModelEnv, Summary};
use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use common::Ctx;
use common::exit::one_line;
use common::fsutil;
use common::hash::sha256_hex;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Mode of every file the job writes (archive copies, digests, notes put back): the gateway
/// keeps the agent's memory private to its user (its own atomic writes use 0600).
pub const FILE_MODE: u32 = 0o600;
/// Mode of every directory the job creates (`memory/digests`, the archive and its subdirs).
pub const DIR_MODE: u32 = 0o700;

/// Periods handled together: their archive copies, digests and removals are each fsynced as
/// one group (one directory fsync per group instead of one per file).
const BATCH_PERIODS: usize = 64;
/// Bytes of new archive copies held in memory at most per batch (roughly).
const BATCH_BYTES: usize = 64 << 20;
/// Files written in parallel (fsync latency, not CPU, is what they wait on).
const WRITERS: usize = 32;

/// What compaction did.
#[derive(Debug, Default)]
pub struct Done {
    pub stats: RunStats,
    /// Why the model was wanted and not used.
    pub degraded: Vec<String>,
    /// The run stopped early (signal, `--max-runtime`).
    pub stopped: Option<String>,
}

/// Compact every period of the plan, then retire digests no period has any more.
pub fn run(
    ctx: &mut Ctx<Data>,
    setup: &Setup,
    cfg: &Config,
    periods: &BTreeMap<String, PeriodPlan>,
    upgrade: bool,
    stats: RunStats,
) -> Done {
    let mut c = Compactor {
        setup,
        cfg,
        now: ctx.now(),
        upgrade: upgrade && cfg.model.enabled,
        model: ModelEnv::Unset,
        digest_files: list_files(&setup.memory.join("digests")),
        stats,
        degraded: Vec::new(),
    };
    let mut stopped = c.run_periods(ctx, periods);
    if stopped.is_none() {
        stopped = ctx.stop_reason();
    }
    if stopped.is_none() {
        c.retire_orphans(ctx, periods);
    }
    Done {
        stats: c.stats,
        degraded: c.degraded,
        stopped,
    }
}

struct Compactor<'a> {
    setup: &'a Setup,
    cfg: &'a Config,
    now: DateTime<Utc>,
    upgrade: bool,
    model: ModelEnv,
    /// File names in `memory/digests/` when the run started.
    digest_files: HashSet<String>,
    stats: RunStats,
    degraded: Vec<String>,
}

struct NewVersion {
    name: String,
    bytes: Vec<u8>,
    sha: String,
    rel: String,
}

/// Enough of a file's metadata to tell it was not modified or replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl Identity {
    fn of(m: &fs::Metadata) -> Identity {
        use std::os::unix::fs::MetadataExt;
        Identity {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
        }
    }
}

/// An original to remove once a digest lists its archived copy.
struct Removal {
    path: PathBuf,
    name: String,
    /// As it was when read and hashed.
    seen: Identity,
}

/// What one period needs, decided before anything is written.
struct Prepared {
    key: String,
    period: Period,
    complete: bool,
    archived: Vec<Archived>,
    /// Archive path → sha256 as the state's record lists it.
    known: HashMap<String, String>,
    /// Archive path → sha256 computed while preparing.
    archived_sha: HashMap<String, String>,
    new_versions: Vec<NewVersion>,
    removals: Vec<Removal>,
    rebuild: bool,
    upgrade_only: bool,
    failed: bool,
}

/// A source of a digest: its record, archive version and bytes.
type Src = (SourceRecord, u32, Vec<u8>);

impl Compactor<'_> {
    fn fail(&mut self, key: &str, e: &anyhow::Error) {
        let msg = format!("{key}: {}", one_line(e));
        log::error!("{msg}");
        self.stats.failed.push(msg);
    }

    /// Prepare periods one by one and carry them out in batches; `Some(why)` when stopped.
    fn run_periods(
        &mut self,
        ctx: &mut Ctx<Data>,
        periods: &BTreeMap<String, PeriodPlan>,
    ) -> Option<String> {
        let mut batch: Vec<Prepared> = Vec::new();
        let mut batch_bytes = 0usize;
        for (key, pp) in periods {
            if let Some(why) = ctx.stop_reason() {
                return Some(why);
            }
            match self.prepare(ctx, key, pp) {
                Ok(Some(p)) => {
                    batch_bytes += p.new_versions.iter().map(|n| n.bytes.len()).sum::<usize>();
                    batch.push(p);
                }
                Ok(None) => {}
                Err(e) => self.fail(key, &e),
            }
            if batch.len() >= BATCH_PERIODS || batch_bytes >= BATCH_BYTES {
                self.execute(ctx, std::mem::take(&mut batch));
                batch_bytes = 0;
            }
        }
        if !batch.is_empty() {
            self.execute(ctx, batch);
        }
        None
    }

    /// Read and hash the period's notes in place and their archived versions, and decide.
    fn prepare(&self, ctx: &Ctx<Data>, key: &str, pp: &PeriodPlan) -> Result<Option<Prepared>> {
        let rec = ctx.state.data.digests.get(key);
        let mut archived_sha: HashMap<String, String> = HashMap::new();
        let mut states = Vec::new();
        let mut reads = Vec::new();
        for f in &pp.in_place {
            let (state, read) = read_note(f, &pp.archived, &mut archived_sha)?;
            states.push(state);
            reads.push(read);
        }
        let digest_name = layout::digest_file_name(self.cfg.period, &pp.period);
        let now = DigestNow {
            record: rec,
            file_present: self.digest_files.contains(&digest_name)
                && rec.is_some_and(|r| r.path == format!("digests/{digest_name}")),
            upgrade: self.upgrade,
        };
        let archived_rels: Vec<String> = pp.archived.iter().map(|a| a.rel.clone()).collect();
        let Some(work) = plan::work(&states, &archived_rels, pp.complete, now) else {
            return Ok(None);
        };
        if ctx.dry_run {
            log_dry_run(key, &work, &states, &digest_name);
            return Ok(None);
        }
        let mut new_versions = Vec::new();
        let mut removals = Vec::new();
        for (
            Read {
                bytes,
                sha,
                seen,
                path,
            },
            st,
        ) in reads.into_iter().zip(&states)
        {
            if let Some((_, rel)) = work.new_versions.iter().find(|(n, _)| *n == st.name) {
                new_versions.push(NewVersion {
                    name: st.name.clone(),
                    bytes,
                    sha,
                    rel: rel.clone(),
                });
            }
            removals.push(Removal {
                path,
                name: st.name.clone(),
                seen,
            });
        }
        Ok(Some(Prepared {
            key: key.to_string(),
            period: pp.period.clone(),
            complete: pp.complete,
            archived: pp.archived.clone(),
            known: rec
                .iter()
                .flat_map(|r| r.sources.iter())
                .map(|s| (s.archive.clone(), s.sha256.clone()))
                .collect(),
            archived_sha,
            new_versions,
            removals,
            rebuild: work.rebuild,
            upgrade_only: work.upgrade_only,
            failed: false,
        }))
    }

    /// Archive, digest and remove for a batch of periods, in that order, each step fsynced
    /// as a group before the next begins.
    fn execute(&mut self, ctx: &mut Ctx<Data>, mut batch: Vec<Prepared>) {
        let t0 = std::time::Instant::now();
        self.archive_batch(&mut batch);
        let t_archive = t0.elapsed();
        self.digest_batch(ctx, &mut batch);
        let t_digests = t0.elapsed();
        let removed = self.remove_batch(ctx, &batch);
        log::debug!(
            "batch of {} period(s): archived by {} ms, digests by {} ms, removed {removed} by {} ms",
            batch.len(),
            t_archive.as_millis(),
            t_digests.as_millis(),
            t0.elapsed().as_millis()
        );
    }

    /// Step 1: new archive copies, written in parallel, fsynced, directories fsynced, verified.
    fn archive_batch(&mut self, batch: &mut [Prepared]) {
        let root = &self.setup.archive;
        let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
        let mut errors: Vec<(usize, anyhow::Error)> = Vec::new();
        for (i, p) in batch.iter().enumerate() {
            for n in &p.new_versions {
                let dir = parent(&root.join(&n.rel));
                if dirs.contains(&dir) {
                    continue;
                }
                match own_dir(root, &dir) {
                    Ok(()) => {
                        dirs.insert(dir);
                    }
                    Err(e) => {
                        errors.push((i, e));
                        break;
                    }
                }
            }
        }
        let jobs: Vec<(usize, &NewVersion)> = batch
            .iter()
            .enumerate()
            .filter(|(i, _)| !errors.iter().any(|(j, _)| j == i))
            .flat_map(|(i, p)| p.new_versions.iter().map(move |n| (i, n)))
            .collect();
        let results = parallel(&jobs, |(_, n)| write_copy(&root.join(&n.rel), n));
        let mut archived = 0;
        for ((i, _), r) in jobs.iter().zip(results) {
            match r {
                Ok(()) => archived += 1,
                Err(e) => errors.push((*i, e)),
            }
        }
        for d in &dirs {
            if let Err(e) = fsutil::sync_dir(d) {
                for (i, p) in batch.iter().enumerate() {
                    if p.new_versions
                        .iter()
                        .any(|n| root.join(&n.rel).starts_with(d))
                    {
                        errors.push((i, anyhow!("{}", one_line(&e))));
                    }
                }
            }
        }
        for (i, e) in errors {
            if !batch[i].failed {
                batch[i].failed = true;
                let key = batch[i].key.clone();
                self.fail(&key, &e);
            }
        }
        self.stats.files_archived += archived;
    }

    /// Step 2: digests: sources gathered, summarized (rules on every core, the model one call
    /// at a time), written in parallel, the directory fsynced once.
    fn digest_batch(&mut self, ctx: &mut Ctx<Data>, batch: &mut [Prepared]) {
        let mut gathered: Vec<(usize, Vec<Src>)> = Vec::new();
        for (i, p) in batch.iter_mut().enumerate() {
            if p.failed || !p.rebuild {
                continue;
            }
            match self.gather(p) {
                Ok(srcs) => gathered.push((i, srcs)),
                Err(e) => {
                    p.failed = true;
                    let key = p.key.clone();
                    self.fail(&key, &e);
                }
            }
        }
        let summaries = self.summarize_all(ctx, batch, &gathered);
        let mut writes: Vec<(usize, PathBuf, String, DigestRecord, Option<String>)> = Vec::new();
        for ((i, srcs), summary) in gathered.into_iter().zip(summaries) {
            let Some(summary) = summary else { continue };
            let p = &batch[i];
            if p.upgrade_only && summary.method != Method::Model {
                log::info!(
                    "{}: not upgraded ({}); the existing digest stays",
                    p.key,
                    summary.fallback.as_deref().unwrap_or("model unavailable")
                );
                continue;
            }
            let effect = summary.effect.clone();
            let (path, text, rec) = self.finish_digest(p, summary, srcs);
            writes.push((i, path, text, rec, effect));
        }
        if !writes.is_empty() {
            self.write_digests(ctx, batch, writes);
        }
    }

    /// One summary per gathered period, in order (`None`: stopped before it).
    fn summarize_all(
        &mut self,
        ctx: &mut Ctx<Data>,
        batch: &[Prepared],
        gathered: &[(usize, Vec<Src>)],
    ) -> Vec<Option<Summary>> {
        let cap = self.cfg.digest_max_chars;
        let model_on = self.cfg.model.enabled;
        let by_rules: Vec<usize> = (0..gathered.len())
            .filter(|&k| !(model_on && batch[gathered[k].0].complete))
            .collect();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let setup = self.setup;
        let ruled = parallel_n(&by_rules, cores, |&k| {
            let key = &batch[gathered[k].0].key;
            summary::rules_or_raw(key, &texts_of(setup, &gathered[k].1), cap, None)
        });
        let mut out: Vec<Option<Summary>> = (0..gathered.len()).map(|_| None).collect();
        for (k, sm) in by_rules.iter().zip(ruled) {
            out[*k] = Some(sm);
        }
        for (k, (i, srcs)) in gathered.iter().enumerate() {
            if out[k].is_some() {
                continue;
            }
            if ctx.should_stop() {
                break;
            }
            let texts = texts_of(self.setup, srcs);
            let key = &batch[*i].key;
            out[k] = Some(
                match summary::by_model(ctx, self.cfg, &mut self.model, key, &texts) {
                    Ok(s) => s,
                    Err(why) => {
                        if !self.degraded.contains(&why) {
                            self.degraded.push(why.clone());
                        }
                        summary::rules_or_raw(key, &texts, cap, Some(why))
                    }
                },
            );
        }
        out
    }

    fn write_digests(
        &mut self,
        ctx: &mut Ctx<Data>,
        batch: &mut [Prepared],
        writes: Vec<(usize, PathBuf, String, DigestRecord, Option<String>)>,
    ) {
        let dir = self.setup.memory.join("digests");
        let written: Vec<Result<()>> = match own_dir(&self.setup.memory, &dir) {
            Err(e) => {
                let m = one_line(&e);
                writes.iter().map(|_| Err(anyhow!("{m}"))).collect()
            }
            Ok(()) => parallel(&writes, |(_, path, text, _, _)| {
                fsutil::replace_unsynced(path, text.as_bytes(), file_options())
            }),
        };
        let synced = fsutil::sync_dir(&dir);
        for ((i, _, _, rec, effect), r) in writes.into_iter().zip(written) {
            let r = r.and_then(|()| {
                synced
                    .as_ref()
                    .map(|_| ())
                    .map_err(|e| anyhow!("{}", one_line(e)))
            });
            let key = batch[i].key.clone();
            if let Err(e) = r {
                batch[i].failed = true;
                self.fail(&key, &e);
                continue;
            }
            log::info!(
                "{key}: wrote memory/{} from {} source(s) ({})",
                rec.path,
                rec.sources.len(),
                rec.method.as_str()
            );
            *self
                .stats
                .by_method
                .entry(rec.method.as_str().to_string())
                .or_default() += 1;
            self.stats.digests_written += 1;
            ctx.metric_add(&format!("digests_{}", rec.method.as_str()), 1);
            if let Some(f) = &rec.fallback {
                self.stats.fallbacks.push(format!("{key}: {f}"));
            }
            // The model's answer is in the digest now: the journal need not keep it.
            if let Some(r) = effect.and_then(|k| ctx.state.effects.get_mut(&k)) {
                r.value = None;
            }
            ctx.state.data.digests.insert(key, rec);
        }
        if let Err(e) = ctx.checkpoint() {
            log::warn!("cannot save progress: {}", one_line(&e));
        }
    }

    /// Step 3: originals removed only where a digest listing their archived copies exists
    /// (in parallel: each unlink waits on the journal, not the CPU).
    fn remove_batch(&mut self, ctx: &Ctx<Data>, batch: &[Prepared]) -> u64 {
        let mut doomed: Vec<&Removal> = Vec::new();
        for p in batch.iter().filter(|p| !p.failed) {
            let rec = ctx.state.data.digests.get(&p.key);
            let listed: BTreeSet<&str> = rec
                .map(|r| r.sources.iter().map(|s| s.name.as_str()).collect())
                .unwrap_or_default();
            let digest_there = rec.is_some_and(|r| self.setup.memory.join(&r.path).is_file());
            for r in &p.removals {
                if digest_there && listed.contains(r.name.as_str()) {
                    doomed.push(r);
                } else {
                    log::warn!(
                        "{}: memory/{} left in place: no digest lists it yet (the next run retries)",
                        p.key,
                        r.name
                    );
                }
            }
        }
        let outcomes = parallel(&doomed, remove_unchanged);
        let mut removed = 0;
        for o in outcomes {
            match o {
                Ok(true) => removed += 1,
                Ok(false) => {}
                Err(e) => log::error!("{e}"),
            }
        }
        if removed > 0
            && let Err(e) = fsutil::sync_dir(&self.setup.memory)
        {
            log::error!("{}", one_line(&e));
        }
        self.stats.originals_removed += removed;
        removed
    }

    /// Every source of a period with its bytes: archived ones read from the archive, new ones
    /// taken from memory (they were just archived).
    fn gather(&self, p: &mut Prepared) -> Result<Vec<Src>> {
        let mut sources: Vec<Src> = Vec::new();
        for a in &p.archived {
            let bytes =
                fs::read(&a.path).with_context(|| format!("cannot read {}", a.path.display()))?;
            let sha = p
                .archived_sha
                .remove(&a.rel)
                .unwrap_or_else(|| sha256_hex(&bytes));
            if let Some(old) = p.known.get(&a.rel)
                && old != &sha
            {
                log::warn!(
                    "{} changed since it was archived (sha256 {} -> {}); the digest lists its current hash",
                    self.setup.show_archived(&a.rel),
                    &old[..old.len().min(12)],
                    &sha[..12]
                );
            }
            let rec = SourceRecord {
                name: a.name.clone(),
                archive: a.rel.clone(),
                sha256: sha,
                bytes: bytes.len() as u64,
            };
            sources.push((rec, a.version, bytes));
        }
        for n in p.new_versions.iter_mut() {
            let version = layout::parse_archive_name(n.rel.rsplit('/').next().unwrap_or(""))
                .map_or(1, |(_, v)| v);
            let rec = SourceRecord {
                name: n.name.clone(),
                archive: n.rel.clone(),
                sha256: n.sha.clone(),
                bytes: n.bytes.len() as u64,
            };
            sources.push((rec, version, std::mem::take(&mut n.bytes)));
        }
        sources.sort_by(|a, b| (&a.0.name, a.1).cmp(&(&b.0.name, b.1)));
        Ok(sources)
    }

    /// Render a period's digest and its state record.
    fn finish_digest(
        &self,
        p: &Prepared,
        summary: Summary,
        sources: Vec<Src>,
    ) -> (PathBuf, String, DigestRecord) {
        let records: Vec<SourceRecord> = sources.into_iter().map(|s| s.0).collect();
        let shown: Vec<SourceRecord> = records
            .iter()
            .map(|r| SourceRecord {
                archive: self.setup.show_archived(&r.archive),
                ..r.clone()
            })
            .collect();
        let archive = self.setup.show_archived("");
        let header = Header {
            key: &p.key,
            period: &p.period,
            complete: p.complete,
            now: self.now,
            model: &self.cfg.model.model,
            archive: archive.trim_end_matches('/'),
        };
        let text = summary::render(header, &summary, &shown);
        let rel = format!(
            "digests/{}",
            layout::digest_file_name(self.cfg.period, &p.period)
        );
        let rec = DigestRecord {
            path: rel.clone(),
            method: summary.method,
            complete: p.complete,
            written_at: self.now,
            chars: text.chars().count() as u64,
            sha256: sha256_hex(text.as_bytes()),
            fallback: summary.fallback,
            tokens: summary.tokens,
            sources: records,
        };
        (self.setup.memory.join(rel), text, rec)
    }

    /// Digests whose sources were all restored (held) or whose period kind changed: moved to
    /// the archive's `digests/`.
    fn retire_orphans(&mut self, ctx: &mut Ctx<Data>, periods: &BTreeMap<String, PeriodPlan>) {
        let orphans: Vec<String> = ctx
            .state
            .data
            .digests
            .keys()
            .filter(|k| !periods.contains_key(*k))
            .cloned()
            .collect();
        for key in orphans {
            let Some(rec) = ctx.state.data.digests.get(&key).cloned() else {
                continue;
            };
            if ctx.dry_run {
                log::info!(
                    "dry run: would retire memory/{} (no sources left)",
                    rec.path
                );
                continue;
            }
            match retire(self.setup, &self.setup.memory.join(&rec.path)) {
                Ok(dest) => {
                    if let Some(d) = dest {
                        log::info!(
                            "{key}: no sources left (restored); digest moved to {}",
                            d.display()
                        );
                    }
                    ctx.state.data.digests.remove(&key);
                }
                Err(e) => {
                    let msg = format!("{key}: {}", one_line(&e));
                    log::error!("{msg}");
                    self.stats.failed.push(msg);
                }
            }
        }
    }
}

/// A note in place as read: its bytes and hash, and its identity for the removal check.
struct Read {
    bytes: Vec<u8>,
    sha: String,
    seen: Identity,
    path: PathBuf,
}

/// Read and hash a note in place and its archived versions (hashes kept in `archived_sha`):
/// whether its text is archived already, and its highest version.
fn read_note(
    f: &layout::InPlace,
    archived: &[Archived],
    archived_sha: &mut HashMap<String, String>,
) -> Result<(NoteState, Read)> {
    let bytes = fs::read(&f.path).with_context(|| format!("cannot read {}", f.path.display()))?;
    let meta = fs::symlink_metadata(&f.path)
        .with_context(|| format!("cannot stat {}", f.path.display()))?;
    let sha = sha256_hex(&bytes);
    let versions: Vec<&Archived> = archived.iter().filter(|a| a.name == f.name).collect();
    let mut parts = Vec::new();
    for a in &versions {
        let b = fs::read(&a.path).with_context(|| format!("cannot read {}", a.path.display()))?;
        archived_sha.insert(a.rel.clone(), sha256_hex(&b));
        parts.push(b);
    }
    let archived_already = versions.iter().any(|a| archived_sha[&a.rel] == sha)
        || (versions.len() > 1 && sha256_hex(&layout::join_versions(parts)) == sha);
    let state = NoteState {
        name: f.name.clone(),
        date: f.date,
        archived_already,
        last_version: versions.iter().map(|a| a.version).max().unwrap_or(0),
    };
    let read = Read {
        bytes,
        sha,
        seen: Identity::of(&meta),
        path: f.path.clone(),
    };
    Ok((state, read))
}

fn texts_of<'s>(setup: &Setup, sources: &'s [Src]) -> Vec<SourceText<'s>> {
    sources
        .iter()
        .map(|(r, v, b)| SourceText {
            label: summary::label_of(&r.name, *v),
            archive: setup.show_archived(&r.archive),
            bytes: b,
        })
        .collect()
}

fn log_dry_run(key: &str, work: &plan::Work, states: &[NoteState], digest_name: &str) {
    for (name, rel) in &work.new_versions {
        log::info!("dry run: would archive {name} as {rel}");
    }
    if work.rebuild {
        log::info!("dry run: would write memory/digests/{digest_name} ({key})");
    }
    for st in states {
        log::info!("dry run: would remove memory/{} (archived)", st.name);
    }
}

/// Write one archive copy (never replacing a file) and check it reads back as hashed.
fn write_copy(path: &Path, n: &NewVersion) -> Result<()> {
    fsutil::write_new(path, &n.bytes, FILE_MODE)?;
    let back = fs::read(path).with_context(|| format!("cannot re-read {}", path.display()))?;
    if sha256_hex(&back) != n.sha {
        bail!(
            "the archived copy {} does not match memory/{} (sha256 differs); originals left in place",
            path.display(),
            n.name
        );
    }
    Ok(())
}

/// Remove an original that is still the file that was read and hashed: same inode, size and
/// modification time (an append changes the size and the time).
fn remove_unchanged(r: &&Removal) -> Result<bool, String> {
    let now = match fs::symlink_metadata(&r.path) {
        Ok(m) => Identity::of(&m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("cannot stat {}: {e}", r.path.display())),
    };
    if now != r.seen {
        log::warn!(
            "memory/{} changed while it was being compacted; left in place, it is compacted at the next run",
            r.name
        );
        return Ok(false);
    }
    fs::remove_file(&r.path)
        .map(|()| true)
        .map_err(|e| format!("cannot remove {}: {e}", r.path.display()))
}

/// Move a digest file into the archive's `digests/` (a new name if taken); `None` if it was
/// not there.
pub fn retire(setup: &Setup, path: &Path) -> Result<Option<PathBuf>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let dir = setup.archive.join("digests");
    own_dir(&setup.archive, &dir)?;
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "digest.md".into());
    let mut n = 1;
    let dest = loop {
        let name = if n == 1 {
            file.clone()
        } else {
            format!("{file}.v{n}")
        };
        let d = dir.join(name);
        if fs::symlink_metadata(&d).is_err() {
            break d;
        }
        n += 1;
    };
    fsutil::write_new(&dest, &bytes, FILE_MODE)?;
    fsutil::sync_dir(&dir)?;
    fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
    fsutil::sync_dir(&parent(path))?;
    Ok(Some(dest))
}

/// Create `dir` (mode [`DIR_MODE`], whatever the umask) under `root`, refusing to go through
/// a symbolic link anywhere from `root` down: the job writes only where it was configured to.
pub fn own_dir(root: &Path, dir: &Path) -> Result<()> {
    let mut cur = root.to_path_buf();
    let rest = dir.strip_prefix(root).unwrap_or(Path::new(""));
    let mut check = vec![cur.clone()];
    for c in rest.components() {
        cur.push(c);
        check.push(cur.clone());
    }
    for p in &check {
        if fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()) {
            bail!(
                "refusing to use {}: it is a symbolic link; replace it with a real directory (or set `compact-memory.archive_dir` to the target)",
                p.display()
            );
        }
    }
    fsutil::ensure_dir_durable(dir, DIR_MODE)
}

/// Options of every file the job writes.
pub fn file_options() -> fsutil::FileOptions {
    fsutil::FileOptions {
        mode: Some(FILE_MODE),
        owner: None,
    }
}

fn parent(p: &Path) -> PathBuf {
    p.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Regular file names in `dir` ("" set when it does not exist).
pub fn list_files(dir: &Path) -> HashSet<String> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Run `f` over `items` on up to [`WRITERS`] threads; results in input order.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    parallel_n(items, WRITERS, f)
}

/// Run `f` over `items` on up to `threads` threads; results in input order.
fn parallel_n<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let n = items.len().clamp(1, threads.max(1));
    if n == 1 {
        return items.iter().map(&f).collect();
    }
    let f = &f;
    let mut out: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|w| {
                s.spawn(move || {
                    items
                        .iter()
                        .enumerate()
                        .skip(w)
                        .step_by(n)
                        .map(|(i, it)| (i, f(it)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            if let Ok(done) = h.join() {
                for (i, r) in done {
                    out[i] = Some(r);
                }
            }
        }
    });
    out.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn own_dir_refuses_links_and_sets_its_mode() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("archive");
        own_dir(&root, &root.join("2026/02")).unwrap();
        let mode = fs::metadata(root.join("2026/02"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(mode, DIR_MODE);
        let elsewhere = d.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, root.join("2027")).unwrap();
        let e = own_dir(&root, &root.join("2027/01")).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(!elsewhere.join("01").exists());
    }

    #[test]
    fn parallel_keeps_order() {
        let items: Vec<u32> = (0..100).collect();
        assert_eq!(
            parallel_n(&items, 7, |x| x * 2),
            items.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
    }
}
