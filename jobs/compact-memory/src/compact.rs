//! The nightly run: measure the memory budget, then fold every old-enough day into its
//! period's digest.
//!
//! Order of every period's side effects, which is what makes a kill at any instant safe:
//! 1. new archive copies are written next to nothing (a hard link never replaces a file),
//!    fsynced, their directory fsynced, and re-read to check their sha256;
//! 2. only then the digest listing them is written (atomically);
//! 3. only then the originals are removed from `memory/`, each one re-hashed first (a file
//!    that changed meanwhile stays and is compacted next run).
//!
//! So every line is in place or archived, and a digest never lists a source that is not
//! archived. State is a cache of what was done: a run that finds an original identical to an
//! archived copy just finishes the job (rebuilding the digest if state does not know it).

use crate::layout::{self, Archived, InPlace, Period, ScanNotes};
use crate::rules::{self, SourceText};
use crate::{Args, Config, Data, DigestRecord, InFlight, Method, RunStats, SourceRecord, Zone};
use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, NaiveDate, Utc};
use common::config::Secret;
use common::exit::one_line;
use common::fsutil;
use common::http::Http;
use common::{Ctx, Outcome, config_error};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Create a file that must not exist yet (see [`fsutil::write_new`]).
pub use common::fsutil::write_new as write_new_file;

/// Create `dir` and its missing parents, fsyncing each parent that gained an entry.
pub fn ensure_dir_durable(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut cur = Some(dir);
    while let Some(d) = cur {
        if d.is_dir() {
            break;
        }
        missing.push(d.to_path_buf());
        cur = d.parent();
    }
    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))?;
    for d in missing.iter().rev() {
        if let Some(p) = d.parent() {
            fsutil::sync_dir(p)?;
        }
    }
    Ok(())
}

/// The model as this run sees it: set up on first use, switched off for the rest of the run
/// by the first failure or budget stop.
enum ModelEnv {
    Unset,
    Ready { http: Http, key: Option<Secret> },
    Off(String),
}

impl ModelEnv {
    fn ready(&mut self, ctx: &Ctx<Data>, cfg: &Config) -> Result<(), String> {
        if let ModelEnv::Unset = self {
            *self = if ctx.dry_run {
                ModelEnv::Off("dry run: the model is not called".into())
            } else {
                let circuit = ctx.circuit();
                if circuit.is_open() {
                    ModelEnv::Off(format!(
                        "the rate-limit circuit is open{}",
                        circuit
                            .reason
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    ))
                } else {
                    let key = ctx.secret(
                        "compact-memory.model.api_key",
                        cfg.model.api_key_env.as_deref(),
                        cfg.model.api_key_file.as_deref(),
                    );
                    match key {
                        Err(e) => ModelEnv::Off(format!("model key unavailable: {}", one_line(&e))),
                        Ok(key) => match cfg.model.client(&ctx.runtime.http, ctx.deadline()) {
                            Ok(http) => ModelEnv::Ready {
                                http: http.with_stop(ctx.stop.clone()),
                                key,
                            },
                            Err(e) => ModelEnv::Off(format!("no HTTP client: {}", one_line(&e))),
                        },
                    }
                }
            };
            if let ModelEnv::Off(why) = self {
                log::info!("model not used this run: {why}");
            }
        }
        match self {
            ModelEnv::Off(why) => Err(why.clone()),
            _ => Ok(()),
        }
    }
}

/// One period's work list.
#[derive(Debug, Default)]
struct Plan {
    period: Option<Period>,
    complete: bool,
    in_place: Vec<InPlace>,
    archived: Vec<Archived>,
}

/// The result of summarizing a period.
struct Summary {
    body: String,
    method: Method,
    fallback: Option<String>,
    tokens: u64,
}

struct Runner<'a> {
    cfg: &'a Config,
    memory: PathBuf,
    now: DateTime<Utc>,
    upgrade: bool,
    model: ModelEnv,
    /// File names in `memory/digests/` when the run started.
    digest_files: std::collections::HashSet<String>,
    stats: RunStats,
    degraded: Vec<String>,
}

/// The nightly run.
pub fn run(ctx: &mut Ctx<Data>, cfg: &Config, args: &Args) -> Result<Outcome> {
    let now = ctx.now();
    let zone = Zone::parse(&cfg.timezone)?;
    let today = zone.today(now);
    let workspace = ctx.paths.resolve(&cfg.workspace);
    if !workspace.is_dir() {
        return Err(config_error(format!(
            "`compact-memory.workspace`: {} is not a directory (set it to the agent's workspace, e.g. ~/.openclaw/workspace)",
            workspace.display()
        )));
    }
    let memory = workspace.join("memory");

    if let Some(f) = ctx.state.data.model_call_in_flight.take() {
        log::warn!(
            "a model call for {} started at {} did not finish (the run was killed); its token use is unknown and not counted",
            f.period,
            f.started_at.to_rfc3339()
        );
    }

    // The budget report.
    let report = crate::budget::measure(
        &workspace,
        &cfg.bootstrap_files,
        cfg.per_file_chars,
        cfg.total_chars,
        now,
    );
    for p in &report.problems {
        log::warn!("memory budget: {p}");
    }
    ctx.metric_set("memory_total_chars", report.total_chars);
    ctx.metric_set("memory_budget_over", report.over);
    ctx.state.data.budget = Some(report);

    ctx.state.data.tokens.start_run(today);
    let mut r = Runner {
        cfg,
        memory: memory.clone(),
        now,
        upgrade: args.upgrade,
        model: ModelEnv::Unset,
        digest_files: Default::default(),
        stats: RunStats {
            today: Some(today),
            ..Default::default()
        },
        degraded: Vec::new(),
    };

    if !memory.is_dir() {
        ctx.state.data.last = Some(r.stats);
        return Ok(Outcome::noop(format!(
            "no memory directory at {}; nothing to compact",
            memory.display()
        )));
    }

    let mut notes = ScanNotes::default();
    let in_place = layout::scan_memory(&memory, &mut notes)?;
    let archived = layout::scan_archive(&memory, &mut notes)?;
    sweep_memory_temps(&notes.temp_files);
    if let Ok(entries) = fs::read_dir(memory.join("digests")) {
        r.digest_files = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
    }
    for p in fsutil::sweep_temp_files(&memory.join("digests"))? {
        log::info!(
            "removed leftover temp file {} from a killed run",
            p.display()
        );
    }
    let mut skipped = Vec::new();
    for n in &notes.bad_dates {
        skipped.push(format!("{n} (no such date)"));
    }
    for n in &notes.not_regular {
        skipped.push(format!("{n} (not a regular file)"));
    }
    for n in &notes.archive_strays {
        skipped.push(format!("{n} (not an archived note)"));
    }
    if !skipped.is_empty() {
        log::info!(
            "left alone {} dated-looking file(s) it cannot compact: {}",
            skipped.len(),
            skipped.join(", ")
        );
    }
    ctx.metric_set("skipped_files", skipped.len() as u64);
    r.stats.skipped_names = skipped;

    // Plan: which day goes where.
    let floor = i64::from(cfg.keep_days.max(2));
    let held = ctx.state.data.held.clone();
    let eligible = |d: NaiveDate| (today - d).num_days() >= floor && !held.contains(&d);
    let mut plans: BTreeMap<String, Plan> = BTreeMap::new();
    let mut slot = |d: NaiveDate| -> String {
        let p = cfg.period.of(d);
        let key = p.key.clone();
        let e = plans.entry(key.clone()).or_default();
        if e.period.is_none() {
            e.complete = (today - p.last).num_days() >= floor
                && !held.iter().any(|h| *h >= p.first && *h <= p.last);
            e.period = Some(p);
        }
        key
    };
    let mut waiting = 0u64;
    let mut placed: Vec<(String, InPlace)> = Vec::new();
    for f in in_place {
        if eligible(f.date) {
            placed.push((slot(f.date), f));
        } else {
            waiting += 1;
        }
    }
    let mut placed_a: Vec<(String, Archived)> = Vec::new();
    for a in archived {
        if !held.contains(&a.date) {
            placed_a.push((slot(a.date), a));
        }
    }
    for (k, f) in placed {
        if let Some(p) = plans.get_mut(&k) {
            p.in_place.push(f);
        }
    }
    for (k, a) in placed_a {
        if let Some(p) = plans.get_mut(&k) {
            p.archived.push(a);
        }
    }
    ctx.metric_set("daily_files_waiting", waiting);

    let mut stopped = None;
    let mut batch: Vec<Prepared> = Vec::new();
    let mut batch_bytes = 0usize;
    for (key, plan) in &plans {
        if let Some(why) = ctx.stop_reason() {
            stopped = Some(why);
            break;
        }
        match r.prepare(ctx, key, plan) {
            Ok(Some(p)) => {
                batch_bytes += p.new_versions.iter().map(|n| n.bytes.len()).sum::<usize>();
                batch.push(p);
            }
            Ok(None) => {}
            Err(e) => r.fail(key, &e),
        }
        if batch.len() >= BATCH_PERIODS || batch_bytes >= BATCH_BYTES {
            r.execute(ctx, std::mem::take(&mut batch));
            batch_bytes = 0;
        }
    }
    if stopped.is_none() && !batch.is_empty() {
        r.execute(ctx, batch);
    }
    if stopped.is_none() {
        stopped = ctx.stop_reason();
    }
    // Digests whose sources are all held (restored): retire them.
    if stopped.is_none() {
        let orphans: Vec<String> = ctx
            .state
            .data
            .digests
            .keys()
            .filter(|k| !plans.contains_key(*k))
            .cloned()
            .collect();
        for key in orphans {
            if let Err(e) = r.retire(ctx, &key) {
                let msg = format!("{key}: {}", one_line(&e));
                log::error!("{msg}");
                r.stats.failed.push(msg);
            }
        }
    }

    let s = &r.stats;
    let methods: Vec<String> = s
        .by_method
        .iter()
        .map(|(m, n)| format!("{n} {m}"))
        .collect();
    let mut summary = format!(
        "archived {} file(s), removed {} original(s), wrote {} digest(s){}",
        s.files_archived,
        s.originals_removed,
        s.digests_written,
        if methods.is_empty() {
            String::new()
        } else {
            format!(" ({})", methods.join(", "))
        }
    );
    if let Some(why) = &stopped {
        summary.push_str(&format!("; stopped early ({why}), the next run continues"));
    }
    ctx.metric_add("files_archived", s.files_archived);
    ctx.metric_add("originals_removed", s.originals_removed);
    ctx.metric_add("digests_written", s.digests_written);
    let total_digests = ctx.state.data.digests.len() as u64;
    ctx.metric_set("digests", total_digests);
    ctx.metric_set("model_tokens_today", ctx.state.data.tokens.day_tokens);
    let failed = s.failed.clone();
    let idle = s.files_archived == 0 && s.originals_removed == 0 && s.digests_written == 0;
    let degraded = r.degraded.clone();
    ctx.state.data.last = Some(r.stats);
    if !failed.is_empty() {
        return Ok(Outcome::failed(summary, failed.join("; ")));
    }
    if !degraded.is_empty() {
        return Ok(Outcome::degraded(format!(
            "{summary}; {}",
            degraded.join("; ")
        )));
    }
    if idle && stopped.is_none() {
        return Ok(Outcome::noop("nothing to compact"));
    }
    Ok(Outcome::ok(summary))
}

fn sweep_memory_temps(temps: &[PathBuf]) {
    for p in temps {
        let alive = layout::temp_pid(p)
            .is_some_and(|pid| pid != std::process::id() && fsutil::pid_alive(pid));
        if !alive && fs::remove_file(p).is_ok() {
            log::info!(
                "removed leftover temp file {} from a killed run",
                p.display()
            );
        }
    }
}

/// A short label for a source in a digest: `02-13`, `02-13-teams-sync`, `02-13 v2`.
fn label_of(name: &str, version: u32) -> String {
    let stem = name.strip_suffix(".md").unwrap_or(name);
    let short = stem.get(5..).unwrap_or(stem);
    if version > 1 {
        format!("{short} v{version}")
    } else {
        short.to_string()
    }
}

/// Periods handled together: their archive copies, digests and removals are each fsynced as
/// one group (one directory fsync per group instead of one per file).
const BATCH_PERIODS: usize = 64;
/// Bytes of new archive copies held in memory at most per batch (roughly).
const BATCH_BYTES: usize = 64 << 20;
/// Files written in parallel (fsync latency, not CPU, is what they wait on).
const WRITERS: usize = 32;

struct NewVersion {
    name: String,
    bytes: Vec<u8>,
    sha: String,
    rel: String,
    mode: u32,
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
    len: u64,
}

/// What one period needs, decided before anything is written.
struct Prepared {
    key: String,
    period: Period,
    complete: bool,
    archived: Vec<Archived>,
    known: HashMap<String, String>,
    archived_sha: HashMap<String, String>,
    new_versions: Vec<NewVersion>,
    /// Originals to remove once the digest exists.
    removals: Vec<Removal>,
    /// The digest must be (re)written.
    rebuild: bool,
    /// Only to try the model on an unchanged period (`--upgrade`).
    upgrade_only: bool,
    failed: bool,
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

/// Replace `path` with `bytes` (temp file, fsync, rename); the caller fsyncs the directory.
fn write_replace(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    fsutil::replace_unsynced(
        path,
        bytes,
        fsutil::FileOptions {
            mode: Some(mode),
            owner: None,
        },
    )
}

impl Runner<'_> {
    fn fail(&mut self, key: &str, e: &anyhow::Error) {
        let msg = format!("{key}: {}", one_line(e));
        log::error!("{msg}");
        self.stats.failed.push(msg);
    }

    /// Read and hash the period's originals in place and decide what to do.
    fn prepare(&mut self, ctx: &Ctx<Data>, key: &str, plan: &Plan) -> Result<Option<Prepared>> {
        let period = plan
            .period
            .clone()
            .ok_or_else(|| anyhow!("internal: period without dates"))?;
        let rec = ctx.state.data.digests.get(key);
        let known: HashMap<String, String> = rec
            .iter()
            .flat_map(|r| r.sources.iter())
            .map(|s| (s.archive.clone(), s.sha256.clone()))
            .collect();
        let mut archived_sha: HashMap<String, String> = HashMap::new();

        let mut new_versions: Vec<NewVersion> = Vec::new();
        let mut removals: Vec<Removal> = Vec::new();
        for f in &plan.in_place {
            let bytes =
                fs::read(&f.path).with_context(|| format!("cannot read {}", f.path.display()))?;
            let meta = fs::metadata(&f.path)
                .with_context(|| format!("cannot stat {}", f.path.display()))?;
            let mode = meta.permissions().mode() & 0o7777;
            let sha = sha256_hex(&bytes);
            let len = bytes.len() as u64;
            let versions: Vec<&Archived> =
                plan.archived.iter().filter(|a| a.name == f.name).collect();
            let mut matched = false;
            if !versions.is_empty() {
                let mut all = Vec::new();
                for a in &versions {
                    let b = fs::read(&a.path)
                        .with_context(|| format!("cannot read {}", a.path.display()))?;
                    let s = sha256_hex(&b);
                    if s == sha {
                        matched = true;
                    }
                    archived_sha.insert(a.rel.clone(), s);
                    all.push(b);
                }
                // Restored (versions joined) and unchanged since.
                if versions.len() > 1 && sha256_hex(&layout::join_versions(all)) == sha {
                    matched = true;
                }
            }
            if !matched {
                let version = versions
                    .iter()
                    .map(|a| a.version)
                    .max()
                    .map_or(1, |v| v + 1);
                if version > 1 {
                    log::info!(
                        "{} changed after it was compacted; archiving the new text as version {version}",
                        f.name
                    );
                }
                new_versions.push(NewVersion {
                    name: f.name.clone(),
                    rel: layout::archive_rel(&f.name, f.date, version),
                    bytes,
                    sha: sha.clone(),
                    mode,
                });
            }
            removals.push(Removal {
                path: f.path.clone(),
                name: f.name.clone(),
                seen: Identity::of(&meta),
                len,
            });
        }

        let mut desired: Vec<String> = plan.archived.iter().map(|a| a.rel.clone()).collect();
        desired.extend(new_versions.iter().map(|n| n.rel.clone()));
        desired.sort();
        let same_sources = rec.is_some_and(|r| {
            let mut have: Vec<String> = r.sources.iter().map(|s| s.archive.clone()).collect();
            have.sort();
            have == desired && r.complete == plan.complete
        }) && self.digest_files.contains(&format!("{key}.md"));
        let wants_upgrade = self.upgrade
            && self.cfg.model.enabled
            && plan.complete
            && rec.is_some_and(|r| r.method != Method::Model);
        let rebuild = !(new_versions.is_empty() && same_sources) || wants_upgrade;
        if !rebuild && removals.is_empty() {
            return Ok(None);
        }
        if ctx.dry_run {
            for n in &new_versions {
                log::info!("dry run: would archive {} as memory/{}", n.name, n.rel);
            }
            if rebuild {
                log::info!(
                    "dry run: would write memory/digests/{key}.md from {} source(s)",
                    desired.len()
                );
            }
            for Removal { name, .. } in &removals {
                log::info!("dry run: would remove memory/{name} (archived)");
            }
            return Ok(None);
        }
        Ok(Some(Prepared {
            key: key.to_string(),
            period,
            complete: plan.complete,
            archived: plan.archived.clone(),
            known,
            archived_sha,
            upgrade_only: new_versions.is_empty() && same_sources,
            new_versions,
            removals,
            rebuild,
            failed: false,
        }))
    }

    /// Archive, digest and remove for a batch of periods, in that order, each step fsynced
    /// as a group before the next begins.
    fn execute(&mut self, ctx: &mut Ctx<Data>, mut batch: Vec<Prepared>) {
        let t0 = std::time::Instant::now();
        // 1. Archive copies: written in parallel, fsynced, directories fsynced, verified.
        let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
        for p in batch.iter_mut() {
            for n in &p.new_versions {
                let dir = self
                    .memory
                    .join(&n.rel)
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| self.memory.clone());
                if !dirs.contains(&dir) {
                    if let Err(e) = ensure_dir_durable(&dir) {
                        p.failed = true;
                        self.fail(&p.key, &e);
                        break;
                    }
                    dirs.insert(dir);
                }
            }
        }
        let jobs: Vec<(usize, &NewVersion)> = batch
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.failed)
            .flat_map(|(i, p)| p.new_versions.iter().map(move |n| (i, n)))
            .collect();
        let memory = &self.memory;
        let results = parallel(&jobs, |(_, n)| -> Result<()> {
            let path = memory.join(&n.rel);
            write_new_file(&path, &n.bytes, n.mode)?;
            let back =
                fs::read(&path).with_context(|| format!("cannot re-read {}", path.display()))?;
            if sha256_hex(&back) != n.sha {
                bail!(
                    "the archived copy {} does not match memory/{} (sha256 differs); originals left in place",
                    path.display(),
                    n.name
                );
            }
            Ok(())
        });
        let mut errors: Vec<(usize, anyhow::Error)> = Vec::new();
        let mut archived = 0;
        for ((i, _), r) in jobs.iter().zip(results) {
            match r {
                Ok(()) => archived += 1,
                Err(e) => errors.push((*i, e)),
            }
        }
        for d in &dirs {
            if let Err(e) = fsutil::sync_dir(d) {
                // Which periods used it: all with a new version in it.
                for (i, p) in batch.iter().enumerate() {
                    if p.new_versions
                        .iter()
                        .any(|n| self.memory.join(&n.rel).starts_with(d))
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
        let t_archive = t0.elapsed();

        // 2. Digests: sources gathered, summarized (rules on every core, the model one call
        // at a time), written in parallel, directory fsynced once.
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
        let cap = self.cfg.digest_max_chars;
        let model_on = self.cfg.model.enabled;
        let by_rules: Vec<usize> = (0..gathered.len())
            .filter(|&k| !(model_on && batch[gathered[k].0].complete))
            .collect();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let ruled = parallel_n(&by_rules, cores, |&k| {
            rules_or_raw(
                &batch[gathered[k].0].key,
                &texts_of(&gathered[k].1),
                cap,
                None,
            )
        });
        let mut summaries: Vec<Option<Summary>> = (0..gathered.len()).map(|_| None).collect();
        for (k, sm) in by_rules.iter().zip(ruled) {
            summaries[*k] = Some(sm);
        }
        for (k, (i, srcs)) in gathered.iter().enumerate() {
            if summaries[k].is_some() {
                continue;
            }
            if ctx.should_stop() {
                break;
            }
            let (key, complete) = (batch[*i].key.clone(), batch[*i].complete);
            summaries[k] = Some(self.summarize(ctx, &key, complete, srcs));
        }
        let mut writes: Vec<(usize, PathBuf, String, DigestRecord)> = Vec::new();
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
            let (path, text, rec) = self.finish_digest(p, summary, srcs);
            writes.push((i, path, text, rec));
        }
        if !writes.is_empty() {
            let dir = self.memory.join("digests");
            let written: Vec<Result<()>> = match ensure_dir_durable(&dir) {
                Err(e) => {
                    let m = one_line(&e);
                    writes.iter().map(|_| Err(anyhow!("{m}"))).collect()
                }
                Ok(()) => parallel(&writes, |(_, path, text, _)| {
                    write_replace(path, text.as_bytes(), 0o644)
                }),
            };
            let synced = fsutil::sync_dir(&dir);
            for ((i, _, _, rec), r) in writes.into_iter().zip(written) {
                let r = r.and_then(|()| {
                    synced
                        .as_ref()
                        .map(|_| ())
                        .map_err(|e| anyhow!("{}", one_line(e)))
                });
                let key = batch[i].key.clone();
                match r {
                    Ok(()) => {
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
                        ctx.state.data.digests.insert(key, rec);
                    }
                    Err(e) => {
                        batch[i].failed = true;
                        self.fail(&key, &e);
                    }
                }
            }
            if let Err(e) = ctx.checkpoint() {
                log::warn!("cannot save progress: {}", one_line(&e));
            }
        }

        let t_digests = t0.elapsed();
        // 3. Originals: removed only where a digest listing their archived copies exists
        // (in parallel: each unlink waits on the journal, not the CPU).
        let mut doomed: Vec<&Removal> = Vec::new();
        for p in &batch {
            if p.failed || p.removals.is_empty() {
                continue;
            }
            let listed: BTreeSet<&str> = ctx
                .state
                .data
                .digests
                .get(&p.key)
                .map(|r| r.sources.iter().map(|s| s.name.as_str()).collect())
                .unwrap_or_default();
            let digest = self.memory.join(format!("digests/{}.md", p.key));
            let digest_there = digest.is_file();
            for r in &p.removals {
                if !digest_there || !listed.contains(r.name.as_str()) {
                    log::warn!(
                        "{}: memory/{} left in place: no digest lists it yet (the next run retries)",
                        p.key,
                        r.name
                    );
                    continue;
                }
                doomed.push(r);
            }
        }
        let outcomes = parallel(&doomed, |r| -> Result<bool, String> {
            // The same file, untouched since it was read and hashed: same inode, size and
            // modification time (an append changes the size and the time).
            let now = match fs::metadata(&r.path) {
                Ok(m) => Identity::of(&m),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(format!("cannot stat {}: {e}", r.path.display())),
            };
            if now != r.seen || now.len != r.len {
                log::warn!(
                    "memory/{} changed while it was being compacted; left in place, it is compacted at the next run",
                    r.name
                );
                return Ok(false);
            }
            fs::remove_file(&r.path)
                .map(|()| true)
                .map_err(|e| format!("cannot remove {}: {e}", r.path.display()))
        });
        let mut removed = 0;
        for o in outcomes {
            match o {
                Ok(true) => removed += 1,
                Ok(false) => {}
                Err(e) => log::error!("{e}"),
            }
        }
        let any = removed > 0;
        if any && let Err(e) = fsutil::sync_dir(&self.memory) {
            log::error!("{}", one_line(&e));
        }
        self.stats.originals_removed += removed;
        log::debug!(
            "batch of {} period(s): archived {archived} file(s) by {} ms, digests by {} ms, removed {removed} by {} ms",
            batch.len(),
            t_archive.as_millis(),
            t_digests.as_millis(),
            t0.elapsed().as_millis()
        );
    }

    /// Every source of a period with its bytes: archived ones read from the archive, new ones
    /// taken from memory (they were just archived).
    fn gather(&mut self, p: &mut Prepared) -> Result<Vec<Src>> {
        let mut sources: Vec<Src> = Vec::new();
        for a in &p.archived {
            let bytes =
                fs::read(&a.path).with_context(|| format!("cannot read {}", a.path.display()))?;
            let sha = match p.archived_sha.remove(&a.rel) {
                Some(s) => s,
                None => sha256_hex(&bytes),
            };
            if let Some(old) = p.known.get(&a.rel)
                && old != &sha
            {
                log::warn!(
                    "memory/{} changed since it was archived (sha256 {} -> {}); the digest lists its current hash",
                    a.rel,
                    &old[..old.len().min(12)],
                    &sha[..12]
                );
            }
            sources.push((
                SourceRecord {
                    name: a.name.clone(),
                    archive: a.rel.clone(),
                    sha256: sha,
                    bytes: bytes.len() as u64,
                },
                a.version,
                bytes,
            ));
        }
        for n in p.new_versions.iter_mut() {
            let version = layout::parse_archive_name(n.rel.rsplit('/').next().unwrap_or(""))
                .map_or(1, |(_, v)| v);
            sources.push((
                SourceRecord {
                    name: n.name.clone(),
                    archive: n.rel.clone(),
                    sha256: n.sha.clone(),
                    bytes: n.bytes.len() as u64,
                },
                version,
                std::mem::take(&mut n.bytes),
            ));
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
        let text = render(
            &p.key,
            &p.period,
            p.complete,
            &summary,
            &records,
            self.now,
            &self.cfg.model.model,
        );
        let rel = format!("digests/{}.md", p.key);
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
        (self.memory.join(rel), text, rec)
    }

    /// The model's summary if it is wanted and works, else [`rules_or_raw`].
    fn summarize(
        &mut self,
        ctx: &mut Ctx<Data>,
        key: &str,
        complete: bool,
        sources: &[Src],
    ) -> Summary {
        let texts = texts_of(sources);
        let mut fallback = None;
        if self.cfg.model.enabled && complete {
            match self.try_model(ctx, key, &texts) {
                Ok(s) => return s,
                Err(why) => {
                    if !self.degraded.contains(&why) {
                        self.degraded.push(why.clone());
                    }
                    fallback = Some(why);
                }
            }
        }
        rules_or_raw(key, &texts, self.cfg.digest_max_chars, fallback)
    }

    /// Ask the model; `Err` says why not (for the digest and the log).
    fn try_model(
        &mut self,
        ctx: &mut Ctx<Data>,
        key: &str,
        texts: &[SourceText<'_>],
    ) -> Result<Summary, String> {
        self.model.ready(ctx, self.cfg)?;
        if let Err(stop) = ctx.state.data.tokens.check(&self.cfg.model) {
            let why = stop.to_string();
            log::warn!("{why}: the remaining digests use the rule-based summary");
            ctx.state.data.tokens.last_stop = Some(format!("{}: {why}", self.now.to_rfc3339()));
            self.model = ModelEnv::Off(why.clone());
            return Err(why);
        }
        let ModelEnv::Ready { http, key: secret } = &self.model else {
            return Err("model unavailable".into());
        };
        let prompt = build_prompt(key, texts, self.cfg.model_input_max_chars);
        ctx.state.data.model_call_in_flight = Some(InFlight {
            period: key.to_string(),
            started_at: Utc::now(),
        });
        if let Err(e) = ctx.checkpoint() {
            log::warn!("cannot save state before the model call: {}", one_line(&e));
        }
        let result = model::complete(
            http,
            &self.cfg.model,
            secret.as_ref(),
            SYSTEM_PROMPT,
            &prompt,
        );
        ctx.state.data.model_call_in_flight = None;
        let out = match result {
            Ok(c) => {
                ctx.state.data.tokens.record(&c);
                ctx.metric_add("model_tokens", c.total_tokens());
                let mut body: String = c
                    .text
                    .chars()
                    .filter(|ch| !ch.is_control() || *ch == '\n')
                    .take(self.cfg.digest_max_chars * 2)
                    .collect();
                body.push('\n');
                Ok(Summary {
                    body,
                    method: Method::Model,
                    fallback: None,
                    tokens: c.total_tokens(),
                })
            }
            Err(e) => {
                ctx.state.data.tokens.record_failure(&e);
                let why = format!("{e}");
                log::warn!(
                    "{key}: {why}; falling back to the rule-based summary for the rest of the run"
                );
                self.model = ModelEnv::Off(why.clone());
                Err(why)
            }
        };
        // Tokens are spent: keep the count even if the run dies before the digest is written.
        if let Err(e) = ctx.checkpoint() {
            log::warn!("cannot save state after the model call: {}", one_line(&e));
        }
        out
    }

    /// Move the digest of a period with no sources left (all restored) into the archive.
    fn retire(&mut self, ctx: &mut Ctx<Data>, key: &str) -> Result<()> {
        let Some(rec) = ctx.state.data.digests.get(key).cloned() else {
            return Ok(());
        };
        let path = self.memory.join(&rec.path);
        if ctx.dry_run {
            log::info!(
                "dry run: would retire memory/{} (no sources left)",
                rec.path
            );
            return Ok(());
        }
        if path.is_file() {
            let dir = self.memory.join("archive").join("digests");
            ensure_dir_durable(&dir)?;
            let bytes =
                fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let mut n = 1;
            let dest = loop {
                let name = if n == 1 {
                    format!("{key}.md")
                } else {
                    format!("{key}.md.v{n}")
                };
                let d = dir.join(name);
                if !d.exists() {
                    break d;
                }
                n += 1;
            };
            write_new_file(&dest, &bytes, 0o644)?;
            fsutil::sync_dir(&dir)?;
            fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
            fsutil::sync_dir(path.parent().unwrap_or(&self.memory))?;
            log::info!(
                "{key}: no sources left (restored); digest moved to {}",
                dest.display()
            );
        }
        ctx.state.data.digests.remove(key);
        Ok(())
    }
}

/// A source of a digest: its record, archive version and bytes.
type Src = (SourceRecord, u32, Vec<u8>);

fn texts_of(sources: &[Src]) -> Vec<SourceText<'_>> {
    sources
        .iter()
        .map(|(r, v, b)| SourceText {
            label: label_of(&r.name, *v),
            archive: r.archive.clone(),
            bytes: b,
        })
        .collect()
}

/// The rule-based summary, or the raw text when rules find nothing.
fn rules_or_raw(
    key: &str,
    texts: &[SourceText<'_>],
    cap: usize,
    fallback: Option<String>,
) -> Summary {
    match rules::rules_digest(texts, cap) {
        Ok(body) => Summary {
            body,
            method: Method::Rules,
            fallback,
            tokens: 0,
        },
        Err(why) => {
            log::warn!("{key}: rule-based digest impossible ({why}); writing the raw text");
            let why = format!("rules: {why}");
            Summary {
                body: rules::raw_digest(texts, cap),
                method: Method::Raw,
                fallback: Some(match fallback {
                    Some(f) => format!("{f}; {why}"),
                    None => why,
                }),
                tokens: 0,
            }
        }
    }
}

const SYSTEM_PROMPT: &str = "You condense an agent's daily memory notes into a compact digest the agent will reload later. \
Keep every decision, lesson, open TODO, person, number, date and file path that could matter later; drop chatter and repetition. \
Answer in Markdown with short bullet lists under the headings Decisions, Lessons, TODOs, People, Facts and numbers, Timeline. \
Do not invent anything. Do not add a title.";

fn build_prompt(key: &str, texts: &[SourceText<'_>], max: usize) -> String {
    let mut out = format!("Daily notes of period {key}, one section per file:\n\n");
    let per = (max / texts.len().max(1)).max(500);
    for t in texts {
        out.push_str(&format!("=== {} ({})\n", t.label, t.archive));
        if rules::looks_binary(t.bytes) {
            out.push_str("(binary data omitted)\n\n");
            continue;
        }
        let text = String::from_utf8_lossy(t.bytes);
        let mut n = 0;
        for line in text.lines() {
            let l = rules::clean_line(line, 1000);
            n += l.chars().count() + 1;
            if n > per {
                out.push_str("(… truncated)\n");
                break;
            }
            out.push_str(&l);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// The digest file.
fn render(
    key: &str,
    period: &Period,
    complete: bool,
    summary: &Summary,
    sources: &[SourceRecord],
    now: DateTime<Utc>,
    model: &str,
) -> String {
    let mut s = format!(
        "<!-- compact-memory digest: period={key} method={} complete={complete} -->\n# Memory digest {key} ({} to {})\n\n",
        summary.method.as_str(),
        period.first,
        period.last
    );
    let how = match summary.method {
        Method::Model => format!("summarized by the model `{model}`"),
        Method::Rules => {
            "extracted by rules (headings, decisions, lessons, TODOs, people, numbers)".into()
        }
        Method::Raw => "raw text, truncated".into(),
    };
    s.push_str(&format!(
        "Method: **{}** — {how}.{}\n",
        summary.method.as_str(),
        summary
            .fallback
            .as_deref()
            .map(|f| format!(" Fallback because: {}.", f.replace('\n', " ")))
            .unwrap_or_default()
    ));
    if !complete {
        s.push_str(
            "The period is still open: this digest is rewritten as more days are compacted.\n",
        );
    }
    s.push_str(&format!(
        "Written {}. The originals are archived byte for byte; `compact-memory restore <date>` puts a day back.\n\n## Sources\n\n| file | archived as | bytes | sha256 |\n|---|---|---|---|\n",
        now.format("%Y-%m-%d %H:%M UTC")
    ));
    for src in sources {
        s.push_str(&format!(
            "| {} | `{}` | {} | `{}` |\n",
            src.name, src.archive, src.bytes, src.sha256
        ));
    }
    s.push_str("\n## Summary\n\n");
    s.push_str(summary.body.trim_end());
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(label_of("2026-02-13.md", 1), "02-13");
        assert_eq!(label_of("2026-02-13-sync.md", 2), "02-13-sync v2");
    }

    #[test]
    fn sha_is_hex() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
