//! The hourly check of one watched config: gather what it looks like ([`observe`]) and what
//! each validator says, decide ([`decide`]), then act: snapshot a new valid version, alert once
//! per distinct bad content, auto-restore when enabled, prune. The live files are never
//! written here, except by an enabled auto-restore ([`crate::restore`]).

use crate::config::{Config, FileConfig, Toggle};
use crate::data::{Data, FileState, Status, ValidatorVerdict, Validity};
use crate::decide::{self, Judgement, LastGood, Required};
use crate::observe::{self, FileMeta, Seen, Version};
use crate::store;
use crate::validate::{self, verdict};
use crate::versions::{self, NewVersion, put};
use anyhow::Result;
use common::{Ctx, Delivery, Outcome, Severity};
use std::path::Path;
use std::time::Duration;

/// "Once per distinct content": the dedup interval of content-keyed alerts.
pub const ONCE: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// What one run did, for the outcome and summary.
#[derive(Debug, Default)]
pub struct Report {
    pub parts: Vec<String>,
    pub errors: Vec<String>,
    pub new_problems: usize,
    pub changed: usize,
}

impl Report {
    /// ok (something new), noop, degraded (a new problem alerted) or failed (exit 1).
    pub fn outcome(self) -> Outcome {
        let summary = self.parts.join("; ");
        if !self.errors.is_empty() {
            Outcome::failed(summary, self.errors.join("; "))
        } else if self.new_problems > 0 {
            Outcome::degraded(summary)
        } else if self.changed > 0 {
            Outcome::ok(summary)
        } else {
            Outcome::noop(summary)
        }
    }
}

/// Raise an alert deduplicated for good by `key`; a delivered one counts as a new problem.
pub fn alert_once(
    ctx: &mut Ctx<Data>,
    key: &str,
    sev: Severity,
    text: &str,
    report: &mut Report,
) -> Result<bool> {
    let fresh = ctx.alert_with_interval(key, sev, text, Some(ONCE))? != Delivery::Suppressed;
    if fresh {
        report.new_problems += 1;
    }
    Ok(fresh)
}

/// The gateway this file belongs to, when the gateway's checks apply to it.
pub fn gateway_of(ctx: &Ctx<Data>, fc: &FileConfig, live: &Path) -> Option<openclaw::Gateway> {
    let gw = match fc.gateway_checks {
        Toggle::Off => return None,
        _ => ctx.gateway().ok()?,
    };
    (fc.gateway_checks == Toggle::On || same_file(live, &gw.config)).then_some(gw)
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => a == b,
    }
}

/// Check one watched config.
pub fn check_file(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    fc: &FileConfig,
    accept: bool,
    report: &mut Report,
) -> Result<()> {
    let name = fc.name();
    let live = ctx.paths.resolve(&fc.path);
    let gateway = gateway_of(ctx, fc, &live);
    let now = ctx.now();
    let mut st = ctx.state.data.files.get(&name).cloned().unwrap_or_default();
    st.path = live.display().to_string();
    st.checked_at = Some(now);
    match observe::look(&live, fc, &st, accept, now, gateway.is_some()) {
        Seen::Missing => on_absent(ctx, cfg, fc, &live, st, None, report)?,
        Seen::Unreadable(why) => on_absent(ctx, cfg, fc, &live, st, Some(&why), report)?,
        Seen::Unchanged(meta) => {
            remember_meta(ctx, &name, &mut st, meta);
            if let Some(sha) = st.current_sha256.clone()
                && let Some(snap) = st.snapshot_mut(&sha)
            {
                snap.last_seen_at = now;
            }
            put(ctx, &name, &st);
            report.parts.push(format!("{name}: unchanged"));
        }
        Seen::Read(meta, v) => {
            remember_meta(ctx, &name, &mut st, meta);
            on_version(
                ctx,
                cfg,
                fc,
                &live,
                st,
                *v,
                gateway.as_ref(),
                accept,
                report,
            )?;
            upkeep(ctx, cfg, fc, &live)?;
        }
    }
    versions::prune(ctx, cfg, &name, &cfg.snapshot_dir(&ctx.paths, fc), now)
}

/// The file is there and readable: note its mode, owner and stat, and forget the alerts of
/// its absence (the same breakage later is a new incident).
fn remember_meta(ctx: &mut Ctx<Data>, name: &str, st: &mut FileState, m: FileMeta) {
    st.mode = Some(m.mode);
    st.uid = Some(m.uid);
    st.gid = Some(m.gid);
    st.stat = Some(m.stat);
    for k in ["missing", "unreadable"] {
        ctx.forget_effect(&common::alert::effect_key(&format!("{k}:{name}")));
    }
}

/// Temp files of killed runs and restores, and untracked snapshots, are handled on the slow
/// path only: it is taken whenever a file changed, and at least once a day.
fn upkeep(ctx: &mut Ctx<Data>, cfg: &Config, fc: &FileConfig, live: &Path) -> Result<()> {
    if ctx.dry_run {
        return Ok(());
    }
    let dir = cfg.snapshot_dir(&ctx.paths, fc);
    let mut swept = store::sweep_temps_of(live);
    for d in [
        dir.clone(),
        cfg.replaced_dir(&ctx.paths, fc),
        cfg.rejected_dir(&ctx.paths, fc),
    ] {
        swept.extend(store::sweep_temps(&d));
    }
    for p in swept {
        log::info!(
            "removed leftover temp file {} from a killed run",
            p.display()
        );
    }
    let root_name = live
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    versions::adopt_untracked(ctx, &dir, fc, &root_name)?;
    Ok(())
}

/// The file is missing (`why` = None) or exists but cannot be read as a config.
fn on_absent(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    fc: &FileConfig,
    live: &Path,
    mut st: FileState,
    why: Option<&str>,
    report: &mut Report,
) -> Result<()> {
    let name = fc.name();
    let now = ctx.now();
    let (status, problem, key) = match why {
        None => (
            Status::Missing,
            "the file does not exist".to_string(),
            format!("missing:{name}"),
        ),
        Some(w) => (
            Status::Error,
            format!("cannot read it: {w}"),
            format!("unreadable:{name}"),
        ),
    };
    if st.status != status || st.problem.as_deref() != Some(problem.as_str()) {
        st.changed_at = Some(now);
    }
    st.status = status;
    st.problem = Some(problem);
    st.current_sha256 = None;
    st.current_size = None;
    st.stat = None;
    st.verdicts.clear();
    st.invalid_runs += 1;
    st.invalid_since.get_or_insert(now);
    put(ctx, &name, &st);
    let root = ctx.paths.root.clone();
    let good = st.last_good_snapshot();
    let text = match why {
        None => decide::missing_text(&root, live, &name, good),
        Some(w) => decide::unreadable_text(&root, live, &name, w, good),
    };
    alert_once(ctx, &key, Severity::Critical, &text, report)?;
    report.parts.push(format!(
        "{name}: {}",
        if why.is_some() {
            "unreadable"
        } else {
            "missing"
        }
    ));
    if why.is_none() {
        maybe_auto_restore(ctx, cfg, fc, report)?;
    }
    Ok(())
}

/// A version was read: judge it (cached when the content and settings did not change).
#[allow(clippy::too_many_arguments)]
fn on_version(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    fc: &FileConfig,
    live: &Path,
    mut st: FileState,
    v: Version,
    gw: Option<&openclaw::Gateway>,
    accept: bool,
    report: &mut Report,
) -> Result<()> {
    let now = ctx.now();
    let vkey = fc.validation_key();
    let same = st.current_sha256.as_deref() == Some(v.sha.as_str()) && st.validation_key == vkey;
    if !same {
        st.changed_at = Some(now);
    }
    st.hashed_at = Some(now);
    st.current_sha256 = Some(v.sha.clone());
    st.current_size = Some(v.content.size());
    st.members = if v.content.includes.is_empty() {
        Vec::new()
    } else {
        v.content.members()
    };
    st.member_stats = v.member_stats.clone();
    st.validation_key = vkey;
    if gw.is_some() {
        st.gateway_log_file = v.log_file.clone().or(st.gateway_log_file.take());
    }
    let cached = same
        && matches!(
            st.status,
            Status::Good | Status::Suspicious | Status::Invalid
        );
    let judgement = if cached {
        match st.status {
            Status::Invalid => Judgement::Invalid(st.problem.clone().unwrap_or_default()),
            _ => Judgement::Valid,
        }
    } else {
        st.verdicts = validators(ctx, cfg, fc, live, &v, &st, gw);
        let required = Required {
            command: true,
            openclaw: fc.gateway_checks == Toggle::On,
        };
        decide::judge(&st.verdicts, required)
    };
    match judgement {
        Judgement::Valid => on_valid(ctx, cfg, fc, live, st, &v, accept, report),
        Judgement::Invalid(reason) => on_invalid(ctx, cfg, fc, live, st, &v, &reason, report),
        Judgement::Unjudged(why) => {
            let name = fc.name();
            let msg = format!("{name}: {why}: the file was not judged");
            st.status = Status::Error;
            st.problem = Some(msg.clone());
            st.stat = None;
            put(ctx, &name, &st);
            report.parts.push(format!("{name}: not judged"));
            report.errors.push(msg);
            Ok(())
        }
    }
}

/// What every validator says about a new version (built-in with the wipe rule, the
/// configured command when the built-in checks pass, the gateway's own).
fn validators(
    ctx: &Ctx<Data>,
    cfg: &Config,
    fc: &FileConfig,
    live: &Path,
    v: &Version,
    st: &FileState,
    gw: Option<&openclaw::Gateway>,
) -> Vec<ValidatorVerdict> {
    let checked = validate::check_version(&v.content.root.1, fc, v.resolved.as_ref());
    let size = v.content.size();
    let mut builtin = checked.verdict();
    if checked.problem.is_none() && !checked.has_meta {
        let g = st.last_good_snapshot();
        let last = g.map(|g| LastGood {
            size: g.size,
            had_meta: None,
        });
        if decide::shrunk(size, last, fc.min_size_ratio) {
            let had_meta = g.and_then(|g| last_good_had_meta(ctx, cfg, fc, live, g));
            let last = g.map(|g| LastGood {
                size: g.size,
                had_meta,
            });
            if let Some(w) = decide::wipe(false, size, last, fc.min_size_ratio) {
                builtin = verdict("built-in", "rejected", &w);
            }
        }
    }
    let mut out = vec![builtin.clone()];
    if let Some(argv) = &fc.validator
        && !builtin.rejected()
    {
        out.push(
            match validate::run_validator(argv, fc.validator_timeout_secs, live) {
                Ok(validate::Verdict::Valid) => verdict("command", "ok", ""),
                Ok(validate::Verdict::Invalid(why)) => verdict("command", "rejected", &why),
                Err(e) => verdict("command", "not run", &common::exit::one_line(&e)),
            },
        );
    }
    if let Some(gw) = gw {
        let cli = gw.cli();
        let timeout = Duration::from_secs(fc.validator_timeout_secs).min(cli.timeout);
        let scratch = cfg.snapshot_dir(&ctx.paths, fc);
        let said = validate::run_gateway(&cli, &v.content, live, &scratch, timeout);
        log::info!("{}: {}", fc.name(), said.line());
        out.push(said);
    }
    out
}

/// Whether the last good version had a `meta` block (read back from its snapshot).
fn last_good_had_meta(
    ctx: &Ctx<Data>,
    cfg: &Config,
    fc: &FileConfig,
    live: &Path,
    g: &crate::data::Snapshot,
) -> Option<bool> {
    let dir = cfg.snapshot_dir(&ctx.paths, fc);
    let name = live.file_name()?.to_string_lossy().into_owned();
    let c = store::read_verified(&dir, g, &name).ok()?;
    Some(validate::check_version(&c.root.1, fc, None).has_meta)
}

#[allow(clippy::too_many_arguments)]
fn on_valid(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    fc: &FileConfig,
    live: &Path,
    mut st: FileState,
    v: &Version,
    accept: bool,
    report: &mut Report,
) -> Result<()> {
    let name = fc.name();
    let now = ctx.now();
    let size = v.content.size();
    let g = st.last_good_snapshot().cloned();
    let last = g.as_ref().map(|g| LastGood {
        size: g.size,
        had_meta: None,
    });
    let already_good = st
        .snapshot(&v.sha)
        .is_some_and(|s| s.validity == Validity::Good);
    let is_last_good = st.last_good.as_deref() == Some(v.sha.as_str());
    let (validity, accepted) = decide::validity(
        size,
        last,
        fc.min_size_ratio,
        accept,
        already_good,
        is_last_good,
    );
    let dir = cfg.snapshot_dir(&ctx.paths, fc);
    let nv = NewVersion {
        content: &v.content,
        sha: &v.sha,
        validity,
        accepted,
    };
    let new = versions::record(ctx, &dir, &name, &mut st, nv, now)?;
    if new {
        report.changed += 1;
    }
    st.invalid_runs = 0;
    st.invalid_since = None;
    if validity == Validity::Good {
        let was_good = st.status == Status::Good && is_last_good;
        st.status = Status::Good;
        st.problem = None;
        st.last_good = Some(v.sha.clone());
        put(ctx, &name, &st);
        versions::clear_alerts(ctx, &name);
        report.parts.push(if new {
            format!(
                "{name}: snapshot {} ({size} bytes)",
                store::snapshot_id(now, &v.sha)
            )
        } else if was_good {
            format!("{name}: unchanged")
        } else {
            report.changed += 1;
            format!("{name}: good again ({})", &v.sha[..store::PREFIX_LEN])
        });
        return Ok(());
    }
    on_suspicious(ctx, fc, live, st, v, g.as_ref(), report)
}

/// A valid version much smaller than the last good one: kept, not taken, warned about once.
fn on_suspicious(
    ctx: &mut Ctx<Data>,
    fc: &FileConfig,
    live: &Path,
    mut st: FileState,
    v: &Version,
    good: Option<&crate::data::Snapshot>,
    report: &mut Report,
) -> Result<()> {
    let name = fc.name();
    let change = good
        .map(|g| decide::size_change(g.size, v.content.size()))
        .unwrap_or_default();
    let problem = format!(
        "much smaller than the last good version ({change}, threshold {:.0}%)",
        fc.min_size_ratio * 100.0
    );
    st.status = Status::Suspicious;
    st.problem = Some(problem.clone());
    put(ctx, &name, &st);
    let text = decide::suspicious_text(&ctx.paths.root, live, &name, &problem, good);
    let key = format!("suspicious:{name}:{}", &v.sha[..store::PREFIX_LEN]);
    alert_once(ctx, &key, Severity::Warning, &text, report)?;
    report
        .parts
        .push(format!("{name}: suspicious size drop ({change})"));
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn on_invalid(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    fc: &FileConfig,
    live: &Path,
    mut st: FileState,
    v: &Version,
    reason: &str,
    report: &mut Report,
) -> Result<()> {
    let name = fc.name();
    st.status = Status::Invalid;
    st.problem = Some(reason.to_string());
    st.invalid_runs += 1;
    st.invalid_since.get_or_insert(ctx.now());
    st.stat = None;
    put(ctx, &name, &st);
    let g = st.last_good_snapshot().cloned();
    let text = decide::invalid_text(
        &ctx.paths.root,
        live,
        &name,
        reason,
        v.content.size(),
        g.as_ref(),
    );
    let key = format!("invalid:{name}:{}", &v.sha[..store::PREFIX_LEN]);
    if alert_once(ctx, &key, Severity::Critical, &text, report)? {
        ctx.metric_add("invalid_versions_seen", 1);
    } else {
        log::info!("{name} is still invalid ({reason}); already alerted for this content");
    }
    report.parts.push(format!("{name}: invalid"));
    maybe_auto_restore(ctx, cfg, fc, report)
}

fn maybe_auto_restore(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    fc: &FileConfig,
    report: &mut Report,
) -> Result<()> {
    let name = fc.name();
    if !cfg.auto_restore {
        return Ok(());
    }
    let Some(st) = ctx.state.data.files.get(&name).cloned() else {
        return Ok(());
    };
    if st.invalid_runs < cfg.auto_restore_after_runs {
        log::info!(
            "{name}: not good for {} of {} runs before an automatic restore",
            st.invalid_runs,
            cfg.auto_restore_after_runs
        );
        return Ok(());
    }
    let Some(snap) = st.last_good_snapshot().cloned() else {
        log::warn!("{name}: auto-restore is on but there is no good snapshot to restore");
        return Ok(());
    };
    let done = crate::restore::restore(ctx, cfg, fc, &snap, true)?;
    report.changed += 1;
    report
        .parts
        .push(format!("{name}: auto-restored {}", snap.id));
    let text = format!("AUTOMATIC RESTORE: {}", done.message);
    ctx.alert_with_interval(
        &format!("auto-restore:{name}:{}", &snap.sha256[..store::PREFIX_LEN]),
        Severity::Critical,
        &text,
        Some(Duration::ZERO),
    )?;
    ctx.metric_add("auto_restores", 1);
    Ok(())
}
