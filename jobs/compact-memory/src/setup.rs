//! Where everything is and which limits apply, resolved once per run from the gateway's own
//! config (`gateway` section of config.json → the gateway's `openclaw.json`, JSON5 with
//! `$include`) and this job's section.
//!
//! | what | from the gateway (verified against OpenClaw 2026.9.6) | this job's key |
//! |---|---|---|
//! | agent | its default agent (`agent-scope-config`) | `agent` picks another |
//! | workspace | `resolveAgentWorkspaceDir` | `workspace` overrides |
//! | budgets | `bootstrapMaxChars` / `bootstrapTotalMaxChars` of the agent, else `agents.defaults`, else 20000 / 60000; USER.md `min(per-file, 4000)` (`bootstrap.ts`) | `per_file_chars` / `total_chars` only when the gateway has no config file |
//! | context injection | `contextInjection` of the agent, else defaults, else `always` | – |
//! | time zone | `agents.defaults.userTimezone` (the zone note names are written in) | `timezone` overrides |
//! | keep days | dreaming's window `max(14, light/rem lookbackDays)` + 1 while dreaming is on | `keep_days` (raised to that floor) |
//! | indexed paths | `memory.search.extraPaths` (the archive must not be under one) | – |

use crate::config::{Config, Zone};
use anyhow::Result;
use common::{Ctx, config_error};
use openclaw::config::{
    BOOTSTRAP_FILES, DEFAULT_BOOTSTRAP_MAX_CHARS, DEFAULT_BOOTSTRAP_TOTAL_MAX_CHARS, Dreaming,
    GatewayConfig, RETIRED_BOOTSTRAP_FILES, USER_BOOTSTRAP_MAX_CHARS,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Component, Path, PathBuf};

/// The budgets that apply and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub per_file: u64,
    pub total: u64,
    pub user_md: u64,
    /// `always`, `continuation-skip` or `never`.
    pub context_injection: String,
    /// One line for the budget report: the file and keys, or the fallback used.
    pub source: String,
}

/// The minimum age of a note that may be compacted, and why it is what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keep {
    pub days: u32,
    pub why: String,
}

/// Everything a run needs to know about where things are.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The gateway's config file (whether or not it exists).
    pub gateway_config: PathBuf,
    pub gateway_found: bool,
    pub agent: String,
    pub workspace: PathBuf,
    /// `<workspace>/memory`
    pub memory: PathBuf,
    /// The archive directory (absolute).
    pub archive: PathBuf,
    pub zone: Zone,
    pub keep: Keep,
    pub limits: Limits,
    pub dreaming: Dreaming,
    /// Files measured against the budgets, in the gateway's prompt order.
    pub bootstrap_files: Vec<String>,
    /// Files the gateway no longer injects (reported when present).
    pub retired_files: Vec<String>,
}

impl Setup {
    /// Read the gateway's config and resolve everything. Config errors (exit 78) name the file
    /// and key they come from.
    pub fn gather<D: Serialize + DeserializeOwned + Default>(
        ctx: &Ctx<D>,
        cfg: &Config,
    ) -> Result<Setup> {
        let ours = ctx.paths.config.clone();
        let gw = ctx.gateway()?;
        let (gc, found) = load_gateway_config(&gw.config)?;
        let agent = resolve_agent(cfg, &gc, found, &ours)?;
        let (workspace, ws_from) = match &cfg.workspace {
            Some(w) => (
                ctx.paths.resolve(w),
                format!("{}: `compact-memory.workspace`", ours.display()),
            ),
            None => (
                gc.workspace(&agent, &gw.state_dir),
                gateway_origin(
                    &gw.config,
                    found,
                    &format!("the workspace of agent {agent}"),
                ),
            ),
        };
        if !workspace.is_dir() {
            return Err(config_error(format!(
                "{ws_from}: the workspace {} is not a directory; set `compact-memory.workspace` in {} (or `gateway.config` to the gateway's config file)",
                workspace.display(),
                ours.display()
            )));
        }
        let memory = workspace.join("memory");
        let archive = normalize(&common::secret::resolve_path(&workspace, &cfg.archive_dir));
        let extra: Vec<PathBuf> = gc
            .memory_extra_paths(&agent)
            .iter()
            .map(|p| normalize(&common::secret::resolve_path(&workspace, Path::new(p))))
            .collect();
        check_archive(&normalize(&memory), &archive, &extra).map_err(|why| {
            config_error(format!(
                "{}: `compact-memory.archive_dir`: {why} (gateway config {})",
                ours.display(),
                gw.config.display()
            ))
        })?;
        let zone = resolve_zone(cfg, &gc, &ours)?;
        let dreaming = gc.dreaming();
        Ok(Setup {
            keep: keep_days(cfg.keep_days, &dreaming),
            limits: limits(cfg, &gw.config, found.then_some(&gc), &agent, &ours),
            bootstrap_files: cfg
                .bootstrap_files
                .clone()
                .unwrap_or_else(|| BOOTSTRAP_FILES.iter().map(|s| s.to_string()).collect())
                .into_iter()
                .filter(|f| !RETIRED_BOOTSTRAP_FILES.contains(&f.as_str()))
                .collect(),
            retired_files: RETIRED_BOOTSTRAP_FILES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            gateway_config: gw.config,
            gateway_found: found,
            agent,
            workspace,
            memory,
            archive,
            zone,
            dreaming,
        })
    }

    /// How a path under the archive is shown to people and to the agent: relative to the
    /// workspace when the archive is inside it (`memory-archive/2026/02/2026-02-13.md`).
    pub fn show_archived(&self, rel: &str) -> String {
        let p = self.archive.join(rel);
        p.strip_prefix(&self.workspace)
            .map(|r| r.display().to_string())
            .unwrap_or_else(|_| p.display().to_string())
    }

    /// The legacy archive directory of versions before schema 2.
    pub fn legacy_archive(&self) -> PathBuf {
        self.memory.join("archive")
    }
}

/// The gateway's config, or an empty one when the file does not exist (the gateway then runs
/// on its defaults too). A file that exists and cannot be read is a config error.
fn load_gateway_config(path: &Path) -> Result<(GatewayConfig, bool)> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((
            GatewayConfig {
                path: path.to_path_buf(),
                value: serde_json::json!({}),
                files: Vec::new(),
            },
            false,
        )),
        _ => openclaw::config::load(path)
            .map(|c| (c, true))
            .map_err(|e| {
                config_error(format!(
                    "{} (compact-memory reads the workspace, budgets and dreaming settings from it; fix it, or point `gateway.config` at the right file)",
                    common::exit::one_line(&e)
                ))
            }),
    }
}

fn resolve_agent(cfg: &Config, gc: &GatewayConfig, found: bool, ours: &Path) -> Result<String> {
    let Some(a) = &cfg.agent else {
        return Ok(gc.default_agent());
    };
    let ids = gc.agent_ids();
    if found && !ids.iter().any(|i| i == a) {
        return Err(config_error(format!(
            "{}: `compact-memory.agent`: {a:?} is not an agent of the gateway's config {} (agents: {})",
            ours.display(),
            gc.path.display(),
            ids.join(", ")
        )));
    }
    Ok(a.clone())
}

fn resolve_zone(cfg: &Config, gc: &GatewayConfig, ours: &Path) -> Result<Zone> {
    if let Some(tz) = &cfg.timezone {
        return Zone::parse(tz).map_err(|why| {
            config_error(format!(
                "{}: `compact-memory.timezone`: {why}",
                ours.display()
            ))
        });
    }
    match gc.user_timezone() {
        None => Ok(Zone::Local),
        Some(tz) => Zone::parse(tz).map_err(|why| {
            config_error(format!(
                "{}: `agents.defaults.userTimezone`: {why}; fix it there or set `compact-memory.timezone` in {}",
                gc.path.display(),
                ours.display()
            ))
        }),
    }
}

fn gateway_origin(path: &Path, found: bool, what: &str) -> String {
    if found {
        format!("{}: {what}", path.display())
    } else {
        format!(
            "{what} by the gateway's defaults (no gateway config at {})",
            path.display()
        )
    }
}

/// The minimum age to compact at: `keep_days`, raised while dreaming is on to one day past
/// its daily-ingestion window. A day `D` is inside the window while
/// `D 23:59:59.999 UTC >= now - window days` (`dreaming-phases.ts` `isDayWithinLookback`), so a
/// note of age `window` is still read; at `window + 1` dreaming has had its last look.
pub fn keep_days(configured: u32, d: &Dreaming) -> Keep {
    if !d.enabled {
        return Keep {
            days: configured,
            why: "compact-memory.keep_days (the gateway's dreaming is off)".into(),
        };
    }
    let floor = u32::try_from(d.window_days.saturating_add(1)).unwrap_or(u32::MAX);
    if configured >= floor {
        return Keep {
            days: configured,
            why: format!(
                "compact-memory.keep_days (dreaming reads the last {} days)",
                d.window_days
            ),
        };
    }
    Keep {
        days: floor,
        why: format!(
            "raised from keep_days {configured}: dreaming reads top-level notes of the last {} days ({}), so notes stay until dreaming has read them",
            d.window_days, d.window_from
        ),
    }
}

/// The budgets: the gateway's (agent entry, defaults, built-in) when its config exists, else
/// this job's fallbacks, else the gateway's built-in defaults.
pub fn limits(
    cfg: &Config,
    gateway_config: &Path,
    gc: Option<&GatewayConfig>,
    agent: &str,
    ours: &Path,
) -> Limits {
    let Some(gc) = gc else {
        let pick = |v: Option<u64>, key: &str, default: u64| match v {
            Some(n) => (n, format!("compact-memory.{key} in {}", ours.display())),
            None => (default, "the gateway's built-in default".to_string()),
        };
        let (per_file, pf) = pick(
            cfg.per_file_chars,
            "per_file_chars",
            DEFAULT_BOOTSTRAP_MAX_CHARS,
        );
        let (total, tf) = pick(
            cfg.total_chars,
            "total_chars",
            DEFAULT_BOOTSTRAP_TOTAL_MAX_CHARS,
        );
        return Limits {
            per_file,
            total,
            user_md: per_file.min(USER_BOOTSTRAP_MAX_CHARS),
            context_injection: "always".into(),
            source: format!(
                "no gateway config at {}: bootstrapMaxChars {per_file} from {pf}, bootstrapTotalMaxChars {total} from {tf}",
                gateway_config.display()
            ),
        };
    };
    let b = gc.budgets(agent);
    let from = |k: &str| {
        if k == "default" {
            "the gateway's built-in default".to_string()
        } else {
            k.to_string()
        }
    };
    for (key, v, used) in [
        ("per_file_chars", cfg.per_file_chars, b.per_file),
        ("total_chars", cfg.total_chars, b.total),
    ] {
        if let Some(n) = v.filter(|n| *n != used) {
            log::info!(
                "compact-memory.{key} ({n}) is not used: the gateway's config {} says {used}",
                gc.path.display()
            );
        }
    }
    Limits {
        per_file: b.per_file,
        total: b.total,
        user_md: b.user_md,
        context_injection: b.context_injection.clone(),
        source: format!(
            "gateway config {} (agent {agent}): bootstrapMaxChars {} from {}, bootstrapTotalMaxChars {} from {}",
            gc.path.display(),
            b.per_file,
            from(&b.per_file_from),
            b.total,
            from(&b.total_from)
        ),
    }
}

/// The archive must not be where the gateway indexes: inside `memory/` or under one of
/// `memory.search.extraPaths` (and no indexed path may lie inside it).
pub fn check_archive(memory: &Path, archive: &Path, extra: &[PathBuf]) -> Result<(), String> {
    if archive.starts_with(memory) {
        return Err(format!(
            "{} is inside {}, which the gateway indexes (every copy would be found again by memory search); use a directory outside it such as \"memory-archive\"",
            archive.display(),
            memory.display()
        ));
    }
    if memory.starts_with(archive) {
        return Err(format!(
            "{} holds the memory directory {}; use a directory of its own",
            archive.display(),
            memory.display()
        ));
    }
    for e in extra {
        if archive.starts_with(e) || e.starts_with(archive) {
            return Err(format!(
                "{} overlaps {}, which the gateway indexes (memory.search.extraPaths)",
                archive.display(),
                e.display()
            ));
        }
    }
    Ok(())
}

/// A path without `.` and with `..` applied (lexically; symlinks are not resolved).
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dreaming(enabled: bool, window: u64) -> Dreaming {
        Dreaming {
            enabled,
            window_days: window,
            window_from: "default".into(),
            timezone: None,
        }
    }

    #[test]
    fn dreaming_raises_keep_days_to_one_past_its_window() {
        assert_eq!(keep_days(7, &dreaming(true, 14)).days, 15);
        assert!(
            keep_days(7, &dreaming(true, 14))
                .why
                .contains("raised from keep_days 7")
        );
        assert_eq!(keep_days(30, &dreaming(true, 14)).days, 30);
        assert_eq!(keep_days(7, &dreaming(true, 21)).days, 22);
        assert_eq!(keep_days(7, &dreaming(false, 14)).days, 7);
        assert_eq!(keep_days(0, &dreaming(false, 14)).days, 0);
    }

    fn gateway(text: &str) -> GatewayConfig {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("openclaw.json");
        std::fs::write(&p, text).unwrap();
        openclaw::config::load(&p).unwrap()
    }

    #[test]
    fn budgets_follow_the_gateway_and_say_where_from() {
        let cfg = Config {
            per_file_chars: Some(9999),
            ..Default::default()
        };
        let ours = Path::new("/suite/config.json");
        let gc = gateway(
            r#"{ agents: { defaults: { bootstrapMaxChars: 12000, contextInjection: "never" },
                           entries: { ops: { bootstrapTotalMaxChars: 30000 } } } }"#,
        );
        let l = limits(&cfg, &gc.path, Some(&gc), "ops", ours);
        assert_eq!((l.per_file, l.total, l.user_md), (12000, 30000, 4000));
        assert_eq!(l.context_injection, "never");
        assert!(
            l.source.contains("agents.defaults.bootstrapMaxChars")
                && l.source
                    .contains("agents.entries.ops.bootstrapTotalMaxChars"),
            "{}",
            l.source
        );
        let l = limits(
            &cfg,
            Path::new("/h/.openclaw/openclaw.json"),
            None,
            "main",
            ours,
        );
        assert_eq!((l.per_file, l.total, l.user_md), (9999, 60000, 4000));
        assert!(
            l.source
                .starts_with("no gateway config at /h/.openclaw/openclaw.json")
                && l.source
                    .contains("compact-memory.per_file_chars in /suite/config.json")
                && l.source
                    .contains("60000 from the gateway's built-in default"),
            "{}",
            l.source
        );
        let small = Config {
            per_file_chars: Some(3000),
            ..Default::default()
        };
        assert_eq!(
            limits(&small, Path::new("/x"), None, "main", ours).user_md,
            3000
        );
    }

    #[test]
    fn the_archive_must_stay_out_of_the_index() {
        let m = Path::new("/ws/memory");
        let ok = check_archive(m, Path::new("/ws/memory-archive"), &[]);
        assert!(ok.is_ok());
        assert!(check_archive(m, Path::new("/ws/memory/archive"), &[]).is_err());
        assert!(check_archive(m, Path::new("/ws"), &[]).is_err());
        let extra = [PathBuf::from("/ws/memory-archive/2026")];
        assert!(check_archive(m, Path::new("/ws/memory-archive"), &extra).is_err());
        let extra = [PathBuf::from("/srv")];
        assert!(check_archive(m, Path::new("/srv/archive"), &extra).is_err());
        assert_eq!(
            normalize(Path::new("/ws/./x/../memory/archive")),
            PathBuf::from("/ws/memory/archive")
        );
    }
}
