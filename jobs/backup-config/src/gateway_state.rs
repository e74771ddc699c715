//! The gateway's SQLite state: consistent snapshots of its databases, retention, and a check
//! that its cron jobs did not vanish between two runs.
//!
//! Since 2026.6 the gateway keeps its last-known-good config fingerprints, cron jobs, auth
//! cooldowns and run history in SQLite (`<state>/state/openclaw.sqlite`, WAL mode, and one
//! `openclaw-agent.sqlite` per agent); upgrade bugs lost users' cron jobs (#90072, #90510,
//! #91435, #96617). A plain copy of a live WAL database is not a backup, so snapshots are made
//! by the gateway's own `openclaw backup sqlite create --global|--agent <id> --repository <dir>
//! --json` (docs `cli/backup.md`: online backup API, `VACUUM`, verified, published as a
//! directory with `manifest.json` and `database.sqlite`; works with the gateway running or
//! not; verified against OpenClaw 2026.9.6). `backup-config verify` re-hashes each
//! `database.sqlite` against its manifest; `openclaw backup sqlite verify|restore` do the rest.
//!
//! The cron list (`openclaw cron list --all --json`) only works through a running gateway (no
//! offline mode): when it is not reachable the check says so and is skipped, never failing
//! the run. A drop is alerted once, naming the jobs gone and the newest snapshot that still
//! holds them.

use crate::config::{Config, Toggle};
use crate::data::{CronState, Data, DatabaseSnapshot, DatabaseState};
use crate::decide::fmt_time;
use crate::hourly::{Report, alert_once};
use crate::store;
use anyhow::{Result, anyhow};
use chrono::{DateTime, Duration, Utc};
use common::{Ctx, Severity};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One database to snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// `global` or `agent:<id>`.
    pub key: String,
    /// The CLI's selector: `["--global"]` or `["--agent", id]`.
    pub args: Vec<String>,
    /// Its repository directory name under `gateway_state.dir`.
    pub repo: String,
}

/// Whether a database is due for a snapshot (pure).
pub fn due(last: Option<DateTime<Utc>>, now: DateTime<Utc>, min_interval_hours: u32) -> bool {
    last.is_none_or(|t| {
        now.signed_duration_since(t) >= Duration::hours(i64::from(min_interval_hours))
    })
}

/// Which snapshots to remove: all but the newest `keep` (pure; oldest first in, ids out).
pub fn to_prune(snaps: &[DatabaseSnapshot], keep: usize) -> Vec<String> {
    let mut v: Vec<&DatabaseSnapshot> = snaps.iter().collect();
    v.sort_by_key(|s| std::cmp::Reverse(s.created_at));
    v.into_iter().skip(keep).map(|s| s.id.clone()).collect()
}

/// The gateway's cron jobs as one listing saw them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CronList {
    pub jobs: BTreeMap<String, String>,
    pub total: u64,
    /// Every job is in `jobs` (no further page).
    pub complete: bool,
}

/// Parse `openclaw cron list --all --json` (`{"jobs": [{id, name, …}], "total", "hasMore"}`).
pub fn parse_cron_list(doc: &Value) -> Option<CronList> {
    let jobs = doc.get("jobs")?.as_array()?;
    let map: BTreeMap<String, String> = jobs
        .iter()
        .filter_map(|j| {
            let id = j.get("id")?.as_str()?.to_string();
            let name = j
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            Some((id, name))
        })
        .collect();
    Some(CronList {
        total: doc
            .get("total")
            .and_then(Value::as_u64)
            .unwrap_or(map.len() as u64),
        complete: !doc.get("hasMore").and_then(Value::as_bool).unwrap_or(false),
        jobs: map,
    })
}

/// Jobs that vanished since the last listing (pure). `None`: nothing dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronDrop {
    /// `(id, name)` of each job gone (empty when only the count is known).
    pub vanished: Vec<(String, String)>,
    pub before: u64,
    pub after: u64,
}

pub fn cron_drop(prev: &CronState, now: &CronList) -> Option<CronDrop> {
    prev.listed_at?;
    let vanished: Vec<(String, String)> = if now.complete {
        prev.jobs
            .iter()
            .filter(|(id, _)| !now.jobs.contains_key(*id))
            .map(|(i, n)| (i.clone(), n.clone()))
            .collect()
    } else {
        Vec::new()
    };
    (!vanished.is_empty() || now.total < prev.total).then_some(CronDrop {
        vanished,
        before: prev.total,
        after: now.total,
    })
}

/// Snapshot the gateway's databases when due, check its cron jobs, prune.
pub fn run(ctx: &mut Ctx<Data>, cfg: &Config, report: &mut Report) -> Result<()> {
    let gs = &cfg.gateway_state;
    if gs.enabled == Toggle::Off {
        return Ok(());
    }
    let gw = ctx.gateway()?;
    if gs.enabled == Toggle::Auto && !gw.state_db().is_file() {
        return Ok(());
    }
    if gs.cron_check {
        check_cron(ctx, &gw, report)?;
    }
    for source in sources(&gw, gs.agents) {
        if ctx.should_stop() {
            break;
        }
        let last = ctx
            .state
            .data
            .databases
            .get(&source.key)
            .and_then(|d| d.snapshots.iter().map(|s| s.created_at).max());
        if due(last, ctx.now(), gs.min_interval_hours) {
            snapshot(ctx, cfg, &gw, &source, report)?;
        }
        prune(ctx, cfg, &source)?;
    }
    Ok(())
}

/// The global database, and each agent's when it exists.
fn sources(gw: &openclaw::Gateway, agents: bool) -> Vec<Source> {
    let mut v = vec![Source {
        key: "global".into(),
        args: vec!["--global".into()],
        repo: "global".into(),
    }];
    if !agents {
        return v;
    }
    let ids = openclaw::config::load(&gw.config)
        .map(|c| c.agent_ids())
        .unwrap_or_else(|_| vec!["main".into()]);
    for id in ids {
        let db = gw
            .state_dir
            .join("agents")
            .join(&id)
            .join("agent/openclaw-agent.sqlite");
        let safe = !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if safe && db.is_file() {
            v.push(Source {
                key: format!("agent:{id}"),
                args: vec!["--agent".into(), id.clone()],
                repo: format!("agent-{id}"),
            });
        }
    }
    v
}

fn repository(ctx: &Ctx<Data>, cfg: &Config, source: &Source) -> PathBuf {
    ctx.paths.resolve(&cfg.gateway_state.dir).join(&source.repo)
}

/// `openclaw backup sqlite create … --json` into our repository; recorded in state.
fn snapshot(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    gw: &openclaw::Gateway,
    source: &Source,
    report: &mut Report,
) -> Result<()> {
    let repo = repository(ctx, cfg, source);
    let now = ctx.now();
    let mut db = ctx
        .state
        .data
        .databases
        .get(&source.key)
        .cloned()
        .unwrap_or_default();
    db.source = source.args.join(" ");
    db.repository = repo.display().to_string();
    db.last_attempt_at = Some(now);
    if ctx.dry_run {
        log::warn!(
            "dry run: would snapshot the gateway's {} database into {}",
            source.key,
            repo.display()
        );
        return Ok(());
    }
    adopt(&repo, &mut db);
    match store::ensure_dir(&repo).and_then(|_| create(gw, source, &repo)) {
        Ok(s) => made(ctx, source, db, s, report),
        Err(e) => failed(ctx, cfg, source, db, &e, report),
    }
}

/// Record a new database snapshot (with the cron jobs the gateway listed in this run).
fn made(
    ctx: &mut Ctx<Data>,
    source: &Source,
    mut db: DatabaseState,
    mut s: DatabaseSnapshot,
    report: &mut Report,
) -> Result<()> {
    s.cron_jobs = ctx
        .state
        .data
        .cron
        .as_ref()
        .filter(|c| c.skipped.is_none() && c.listed_at.is_some())
        .map(|c| c.total);
    log::info!(
        "snapshot of the gateway's {} database: {} ({} bytes)",
        source.key,
        s.id,
        s.size
    );
    report.parts.push(format!(
        "gateway {} database: snapshot {}",
        source.key, s.id
    ));
    report.changed += 1;
    ctx.metric_add("database_snapshots_written", 1);
    db.problem = None;
    db.snapshots.push(s);
    ctx.state.data.databases.insert(source.key.clone(), db);
    ctx.forget_effects(
        &common::alert::effect_key(&format!("database:{}:", source.key)),
        |_, _| false,
    );
    Ok(())
}

/// A snapshot that failed: recorded, alerted once per distinct error; fails the run when
/// `gateway_state.enabled` is `on`.
fn failed(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    source: &Source,
    mut db: DatabaseState,
    e: &anyhow::Error,
    report: &mut Report,
) -> Result<()> {
    let why = common::exit::one_line(e);
    let text = format!(
        "The snapshot of the gateway's {} database failed: {why}. The earlier ones are kept in {}.",
        source.key, db.repository
    );
    db.problem = Some(why.clone());
    ctx.state.data.databases.insert(source.key.clone(), db);
    let key = format!(
        "database:{}:{}",
        source.key,
        &common::hash::sha256_hex(why.as_bytes())[..12]
    );
    alert_once(ctx, &key, Severity::Warning, &text, report)?;
    if cfg.gateway_state.enabled == Toggle::On {
        report
            .errors
            .push(format!("gateway {} database: {why}", source.key));
    }
    Ok(())
}

fn create(gw: &openclaw::Gateway, source: &Source, repo: &Path) -> Result<DatabaseSnapshot> {
    let cli = gw.cli();
    let repo_s = repo.display().to_string();
    let mut args: Vec<&str> = vec!["backup", "sqlite", "create"];
    args.extend(source.args.iter().map(String::as_str));
    args.extend(["--repository", &repo_s, "--json"]);
    let out = cli.run(&args)?;
    let doc = out.json();
    if !out.success()
        || doc
            .as_ref()
            .and_then(|d| d.get("ok"))
            .and_then(Value::as_bool)
            != Some(true)
    {
        let msg = doc
            .as_ref()
            .and_then(|d| d.pointer("/error/message"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| out.last_error_line().map(str::to_string))
            .unwrap_or_default();
        return Err(anyhow!("`{}` {}: {msg}", out.command, out.describe()));
    }
    let doc = doc.unwrap_or_default();
    let dir = doc
        .get("snapshotPath")
        .and_then(Value::as_str)
        .map(PathBuf::from);
    let id = dir
        .as_ref()
        .and_then(|d| d.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| anyhow!("`{}` printed no snapshotPath", out.command))?;
    from_manifest(&id, doc.get("manifest").unwrap_or(&Value::Null))
        .ok_or_else(|| anyhow!("`{}` printed no usable manifest", out.command))
}

/// A recorded snapshot from its manifest (`createdAt`, `artifact.sha256`, `artifact.sizeBytes`).
pub fn from_manifest(id: &str, m: &Value) -> Option<DatabaseSnapshot> {
    let created = m.get("createdAt")?.as_str()?;
    Some(DatabaseSnapshot {
        id: id.to_string(),
        created_at: DateTime::parse_from_rfc3339(created)
            .ok()?
            .with_timezone(&Utc),
        sha256: m.pointer("/artifact/sha256")?.as_str()?.to_string(),
        size: m
            .pointer("/artifact/sizeBytes")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        user_version: m.pointer("/database/userVersion").and_then(Value::as_u64),
        cron_jobs: None,
    })
}

/// Record snapshot directories that state does not know (a run killed after the CLI made one).
fn adopt(repo: &Path, db: &mut DatabaseState) {
    for e in std::fs::read_dir(repo).into_iter().flatten().flatten() {
        let id = e.file_name().to_string_lossy().into_owned();
        if id.starts_with('.') || db.snapshots.iter().any(|s| s.id == id) {
            continue;
        }
        let m = std::fs::read_to_string(e.path().join("manifest.json")).ok();
        if let Some(s) = m
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|m| from_manifest(&id, &m))
        {
            log::info!(
                "adopted the gateway database snapshot {} (left by a killed run)",
                e.path().display()
            );
            db.snapshots.push(s);
        }
    }
    db.snapshots.sort_by_key(|s| s.created_at);
}

/// Keep the newest `keep_last` snapshots of a database; older directories are removed (only
/// ones that hold exactly `manifest.json` and `database.sqlite`).
fn prune(ctx: &mut Ctx<Data>, cfg: &Config, source: &Source) -> Result<()> {
    let Some(mut db) = ctx.state.data.databases.get(&source.key).cloned() else {
        return Ok(());
    };
    let gone = to_prune(&db.snapshots, cfg.gateway_state.keep_last);
    if gone.is_empty() || ctx.dry_run {
        return Ok(());
    }
    db.snapshots.retain(|s| !gone.contains(&s.id));
    ctx.state.data.databases.insert(source.key.clone(), db);
    ctx.checkpoint()?;
    let repo = repository(ctx, cfg, source);
    for id in gone {
        let dir = repo.join(&id);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        if names == ["database.sqlite", "manifest.json"] {
            std::fs::remove_dir_all(&dir)?;
            log::info!(
                "pruned the gateway database snapshot {} (keep {})",
                dir.display(),
                cfg.gateway_state.keep_last
            );
        } else if !names.is_empty() {
            log::warn!(
                "left {} in place: it holds other files than a snapshot ({})",
                dir.display(),
                names.join(", ")
            );
        }
    }
    store::ensure_dir(&repo).ok();
    common::fsutil::sync_dir(&repo).ok();
    Ok(())
}

/// List the gateway's cron jobs; alert once when some vanished since the last listing.
fn check_cron(ctx: &mut Ctx<Data>, gw: &openclaw::Gateway, report: &mut Report) -> Result<()> {
    let now = ctx.now();
    let listed = list_cron(gw);
    let mut state = ctx.state.data.cron.clone().unwrap_or_default();
    let list = match listed {
        Ok(l) => l,
        Err(why) => {
            log::info!("cron jobs not checked: {why}");
            report
                .parts
                .push("cron check skipped (the gateway did not answer)".into());
            state.skipped_at = Some(now);
            state.skipped = Some(why);
            ctx.state.data.cron = Some(state);
            return Ok(());
        }
    };
    if let Some(drop) = cron_drop(&state, &list) {
        let text = cron_text(ctx, &state, &drop);
        let ids: Vec<&str> = drop.vanished.iter().map(|(i, _)| i.as_str()).collect();
        let key = format!(
            "cron-dropped:{}",
            &common::hash::sha256_hex(format!("{}|{}", ids.join(","), drop.after).as_bytes())[..12]
        );
        alert_once(ctx, &key, Severity::Warning, &text, report)?;
        report.parts.push(format!(
            "gateway cron jobs dropped {} → {}",
            drop.before, drop.after
        ));
    }
    ctx.state.data.cron = Some(CronState {
        listed_at: Some(now),
        jobs: list.jobs,
        total: list.total,
        skipped_at: None,
        skipped: None,
    });
    Ok(())
}

fn list_cron(gw: &openclaw::Gateway) -> std::result::Result<CronList, String> {
    let out = gw
        .cli()
        .run(&["cron", "list", "--all", "--json"])
        .map_err(|e| common::exit::one_line(&e))?;
    let doc = out.json();
    if out.success()
        && let Some(l) = doc.as_ref().and_then(parse_cron_list)
    {
        return Ok(l);
    }
    let msg = doc
        .as_ref()
        .and_then(|d| d.pointer("/error/message"))
        .and_then(Value::as_str)
        .map(|m| m.lines().next().unwrap_or_default().to_string())
        .or_else(|| out.last_error_line().map(str::to_string))
        .unwrap_or_default();
    Err(format!("`{}` {}: {msg}", out.command, out.describe()))
}

fn cron_text(ctx: &Ctx<Data>, before: &CronState, drop: &CronDrop) -> String {
    let names: Vec<String> = drop
        .vanished
        .iter()
        .map(|(id, n)| {
            if n.is_empty() {
                id.clone()
            } else {
                format!("\"{n}\" ({id})")
            }
        })
        .collect();
    let gone = if names.is_empty() {
        format!("{} job(s)", drop.before.saturating_sub(drop.after))
    } else {
        names.join(", ")
    };
    let mut t = format!(
        "The gateway's cron jobs dropped from {} to {} since {}: gone: {gone}. If nobody deleted them on purpose (upgrades have lost cron jobs: openclaw #90072, #96617), ",
        drop.before,
        drop.after,
        before.listed_at.map(fmt_time).unwrap_or_default()
    );
    let newest = ctx.state.data.databases.get("global").and_then(|d| {
        d.snapshots
            .iter()
            .max_by_key(|s| s.created_at)
            .map(|s| (d.repository.clone(), s.clone()))
    });
    match newest {
        Some((repo, s)) => t.push_str(&format!(
            "they are in the gateway database snapshot {repo}/{} (taken {}): `openclaw backup sqlite restore {repo}/{} --target <new file>` gives a copy to take them from (table cron_jobs).",
            s.id,
            fmt_time(s.created_at),
            s.id
        )),
        None => t.push_str("no snapshot of the gateway's database exists yet to take them from."),
    }
    t
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn snap(id: &str, h: u32) -> DatabaseSnapshot {
        DatabaseSnapshot {
            id: id.into(),
            created_at: Utc.with_ymd_and_hms(2026, 11, 28, h, 0, 0).unwrap(),
            sha256: "aa".into(),
            size: 1,
            user_version: Some(18),
            cron_jobs: None,
        }
    }

    #[test]
    fn due_and_retention() {
        let t = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        assert!(due(None, t, 24));
        assert!(!due(Some(t - Duration::hours(3)), t, 24));
        assert!(due(Some(t - Duration::hours(24)), t, 24));
        assert!(due(Some(t), t, 0));
        let s = vec![snap("a", 1), snap("c", 3), snap("b", 2)];
        assert_eq!(to_prune(&s, 2), ["a"]);
        assert!(to_prune(&s, 7).is_empty());
    }

    #[test]
    fn manifests_as_the_gateway_prints_them() {
        let m = json!({"schemaVersion":1,"snapshotId":"x","createdAt":"2026-11-28T04:11:52.155Z",
            "database":{"role":"global","basename":"openclaw.sqlite","userVersion":18},
            "artifact":{"path":"database.sqlite","sha256":"ab12","sizeBytes":1585152}});
        let s = from_manifest("2026-11-28T04-11-52-155Z-uuid", &m).unwrap();
        assert_eq!(
            (s.size, s.user_version, s.sha256.as_str()),
            (1585152, Some(18), "ab12")
        );
    }

    #[test]
    fn vanished_cron_jobs_are_found_once_listed() {
        let doc = json!({"jobs":[{"id":"j1","name":"Memory Dreaming Promotion"},{"id":"j2","name":"rj-probe"}],"total":2,"hasMore":false});
        let first = parse_cron_list(&doc).unwrap();
        let before = CronState {
            listed_at: Some(Utc::now()),
            jobs: first.jobs.clone(),
            total: 2,
            ..Default::default()
        };
        assert_eq!(
            cron_drop(&CronState::default(), &first),
            None,
            "the first listing is the baseline"
        );
        assert_eq!(cron_drop(&before, &first), None);
        let after = parse_cron_list(
            &json!({"jobs":[{"id":"j1","name":"Memory Dreaming Promotion"}],"total":1}),
        )
        .unwrap();
        let d = cron_drop(&before, &after).unwrap();
        assert_eq!(d.vanished, [("j2".to_string(), "rj-probe".to_string())]);
        assert_eq!((d.before, d.after), (2, 1));
        let partial = CronList {
            jobs: BTreeMap::new(),
            total: 1,
            complete: false,
        };
        assert!(cron_drop(&before, &partial).unwrap().vanished.is_empty());
        assert!(parse_cron_list(&json!({"ok": false})).is_none());
    }
}
