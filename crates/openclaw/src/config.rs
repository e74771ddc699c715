//! The gateway's config file (`openclaw.json`, JSON5) as the gateway reads it: `$include`
//! resolved, then the values jobs need, each resolved the way the gateway resolves it.
//!
//! `$include` (gateway source `src/config/includes.ts`; docs
//! `gateway/configuration/common-tasks.md`): a key `"$include"` in any object, a path or an
//! array of paths relative to the including file, confined to the config's directory, at most
//! 10 levels deep, each file at most 2 MiB. One include replaces the object; several are
//! deep-merged left to right (objects recurse, arrays concatenate, later scalars win); sibling
//! keys are merged on top. Cycles, missing files and escapes are errors naming the path.

use anyhow::{Result, anyhow, bail};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Deepest include chain the gateway accepts.
pub const MAX_INCLUDE_DEPTH: usize = 10;
/// Largest included file the gateway reads.
pub const MAX_INCLUDE_BYTES: u64 = 2 * 1024 * 1024;

/// The gateway's default per-file bootstrap budget (source `bootstrap.ts`).
pub const DEFAULT_BOOTSTRAP_MAX_CHARS: u64 = 20_000;
/// The gateway's default total bootstrap budget.
pub const DEFAULT_BOOTSTRAP_TOTAL_MAX_CHARS: u64 = 60_000;
/// `USER.md`'s own cap (`USER_BOOTSTRAP_MAX_CHARS`); `bootstrapMaxChars` can only lower it.
pub const USER_BOOTSTRAP_MAX_CHARS: u64 = 4_000;

/// A loaded gateway config.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The root file.
    pub path: PathBuf,
    /// The merged value, as the gateway sees it.
    pub value: Value,
    /// Every file read: the root first, then each included file once, in the order met.
    pub files: Vec<PathBuf>,
}

/// Parse JSON5 text; errors name the file and, where the parser says, line and column.
pub fn parse_json5(text: &str, path: &Path) -> Result<Value> {
    json5::from_str::<Value>(text).map_err(|e| anyhow!("{}: not valid JSON5: {e}", path.display()))
}

/// Read and resolve the gateway's config file.
pub fn load(path: &Path) -> Result<GatewayConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow!("cannot read the gateway's config {}: {e}", path.display()))?;
    load_text(path, &text).map(|set| set.config)
}

/// A config and the bytes of every file it includes, as they were read (for callers that
/// snapshot or hash the whole set: what was resolved is exactly what they store).
#[derive(Debug, Clone)]
pub struct LoadedSet {
    pub config: GatewayConfig,
    /// Each included file once, in the order met (its real path, symlinks resolved).
    pub included: Vec<IncludedFile>,
}

/// One file read through `$include`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncludedFile {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

/// Resolve the `$include`s of a root file whose text the caller already read (so the root it
/// judged is the root resolved). Errors are the gateway's own wording, naming the path.
pub fn load_text(path: &Path, text: &str) -> Result<LoadedSet> {
    let root_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let value = parse_json5(text, path)?;
    let mut files = vec![path.to_path_buf()];
    let mut chain = vec![path.to_path_buf()];
    let mut included = Vec::new();
    let mut walk = Walk {
        root: &root_dir,
        chain: &mut chain,
        files: &mut files,
        included: &mut included,
    };
    let value = walk.resolve(value, &root_dir)?;
    Ok(LoadedSet {
        config: GatewayConfig {
            path: path.to_path_buf(),
            value,
            files,
        },
        included,
    })
}

/// Whether a text mentions `$include` at all (a cheap test before resolving).
pub fn mentions_include(text: &[u8]) -> bool {
    text.windows(8).any(|w| w == b"$include")
}

/// The state of one `$include` walk.
struct Walk<'a> {
    root: &'a Path,
    chain: &'a mut Vec<PathBuf>,
    files: &'a mut Vec<PathBuf>,
    included: &'a mut Vec<IncludedFile>,
}

impl Walk<'_> {
    fn resolve(&mut self, value: Value, dir: &Path) -> Result<Value> {
        resolve(value, dir, self)
    }
}

fn resolve(value: Value, dir: &Path, w: &mut Walk<'_>) -> Result<Value> {
    match value {
        Value::Object(mut map) => {
            let include = map.remove("$include");
            let mut rest = Map::new();
            for (k, v) in map {
                rest.insert(k, resolve(v, dir, w)?);
            }
            let Some(inc) = include else {
                return Ok(Value::Object(rest));
            };
            let paths: Vec<String> = match inc {
                Value::String(s) => vec![s],
                Value::Array(a) => a
                    .into_iter()
                    .map(|x| match x {
                        Value::String(s) => Ok(s),
                        other => Err(anyhow!(
                            "Invalid $include array item: expected string, got {}",
                            type_name(&other)
                        )),
                    })
                    .collect::<Result<_>>()?,
                other => bail!(
                    "Invalid $include value: expected string or array of strings, got {}",
                    type_name(&other)
                ),
            };
            let mut included = Value::Null;
            for p in &paths {
                let v = include_file(p, dir, w)?;
                included = if included.is_null() {
                    v
                } else {
                    deep_merge(included, v)
                };
            }
            if rest.is_empty() {
                return Ok(included);
            }
            if !included.is_object() {
                bail!(
                    "{}: Sibling keys require included content to be an object",
                    w.chain
                        .last()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                );
            }
            Ok(deep_merge(included, Value::Object(rest)))
        }
        Value::Array(a) => Ok(Value::Array(
            a.into_iter()
                .map(|v| resolve(v, dir, w))
                .collect::<Result<_>>()?,
        )),
        other => Ok(other),
    }
}

fn include_file(rel: &str, dir: &Path, w: &mut Walk<'_>) -> Result<Value> {
    let root = w.root;
    let p = dir.join(expand_home(rel));
    let resolved = std::path::absolute(&p).unwrap_or(p);
    let real_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let real = std::fs::canonicalize(&resolved).map_err(|e| {
        anyhow!(
            "Failed to read include file: {rel} (resolved: {}): {e}",
            resolved.display()
        )
    })?;
    if !real.starts_with(&real_root) {
        bail!(
            "Include path escapes config directory: {rel} (root: {})",
            root.display()
        );
    }
    if w.chain.len() >= MAX_INCLUDE_DEPTH {
        bail!(
            "Maximum include depth ({MAX_INCLUDE_DEPTH}) exceeded at: {}",
            real.display()
        );
    }
    if w.chain
        .iter()
        .any(|c| std::fs::canonicalize(c).map(|c| c == real).unwrap_or(false))
    {
        let mut names: Vec<String> = w.chain.iter().map(|c| c.display().to_string()).collect();
        names.push(real.display().to_string());
        bail!("Circular include detected: {}", names.join(" -> "));
    }
    let meta = std::fs::metadata(&real)?;
    if !meta.is_file() || meta.len() > MAX_INCLUDE_BYTES {
        bail!(
            "Include file failed security checks (regular file, max {MAX_INCLUDE_BYTES} bytes): {}",
            real.display()
        );
    }
    let bytes = std::fs::read(&real).map_err(|e| {
        anyhow!(
            "Failed to read include file: {rel} (resolved: {}): {e}",
            real.display()
        )
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        anyhow!(
            "Failed to parse include file: {rel} (resolved: {}): not UTF-8 text: {e}",
            real.display()
        )
    })?;
    let v = parse_json5(text, &real).map_err(|e| {
        anyhow!(
            "Failed to parse include file: {rel} (resolved: {}): {e}",
            real.display()
        )
    })?;
    if !w.files.contains(&real) {
        w.files.push(real.clone());
        w.included.push(IncludedFile {
            path: real.clone(),
            bytes: bytes.clone(),
        });
    }
    w.chain.push(real.clone());
    let sub_dir = real.parent().map(Path::to_path_buf).unwrap_or_default();
    let out = resolve(v, &sub_dir, w);
    w.chain.pop();
    out
}

fn expand_home(p: &str) -> PathBuf {
    if let Some(rest) = p.strip_prefix("~/")
        && let Some(h) = std::env::var_os("HOME")
    {
        return PathBuf::from(h).join(rest);
    }
    PathBuf::from(p)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The gateway's merge: objects recurse, arrays concatenate, otherwise `b` wins.
pub fn deep_merge(a: Value, b: Value) -> Value {
    match (a, b) {
        (Value::Object(mut x), Value::Object(y)) => {
            for (k, v) in y {
                let merged = match x.remove(&k) {
                    Some(old) => deep_merge(old, v),
                    None => v,
                };
                x.insert(k, merged);
            }
            Value::Object(x)
        }
        (Value::Array(mut x), Value::Array(y)) => {
            x.extend(y);
            Value::Array(x)
        }
        (_, b) => b,
    }
}

/// The bootstrap budgets of one agent and where each came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budgets {
    pub per_file: u64,
    pub total: u64,
    /// `USER.md`'s cap: `min(per_file, 4000)`.
    pub user_md: u64,
    /// `always`, `continuation-skip` or `never`.
    pub context_injection: String,
    /// The config keys the values came from (`agents.entries.main.bootstrapMaxChars`, or
    /// `default` for the gateway's built-in value).
    pub per_file_from: String,
    pub total_from: String,
}

impl GatewayConfig {
    /// A value by dotted path (`gateway.port`).
    pub fn get(&self, dotted: &str) -> Option<&Value> {
        dotted.split('.').try_fold(&self.value, |v, k| v.get(k))
    }

    /// `gateway.port`.
    pub fn port(&self) -> Option<u16> {
        self.get("gateway.port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
    }

    /// `logging.file` (`~` expanded), if set.
    pub fn log_file(&self) -> Option<PathBuf> {
        self.get("logging.file")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(expand_home)
    }

    /// `logging.level` (default `info`).
    pub fn log_level(&self) -> String {
        self.get("logging.level")
            .and_then(Value::as_str)
            .unwrap_or("info")
            .to_string()
    }

    /// The agent's entry: `agents.entries.<id>`, else the legacy `agents.list[]` item.
    pub fn agent_entry(&self, id: &str) -> Option<(&Value, String)> {
        if let Some(e) = self.get("agents.entries").and_then(|e| e.get(id)) {
            return Some((e, format!("agents.entries.{id}")));
        }
        self.get("agents.list")
            .and_then(Value::as_array)?
            .iter()
            .enumerate()
            .find(|(_, a)| a.get("id").and_then(Value::as_str) == Some(id))
            .map(|(i, a)| (a, format!("agents.list[{i}]")))
    }

    /// The agents defined (keyed entries, then legacy list), or `["main"]` when none is.
    pub fn agent_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .get("agents.entries")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        for a in self
            .get("agents.list")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(id) = a.get("id").and_then(Value::as_str)
                && !ids.iter().any(|x| x == id)
            {
                ids.push(id.to_string());
            }
        }
        if ids.is_empty() {
            ids.push("main".into());
        }
        ids
    }

    /// The agent that owns the default workspace: a single `default: true` entry, else the
    /// only agent, else `main`.
    pub fn default_agent(&self) -> String {
        let ids = self.agent_ids();
        let flagged: Vec<&String> = ids
            .iter()
            .filter(|id| {
                self.agent_entry(id)
                    .and_then(|(e, _)| e.get("default"))
                    .and_then(Value::as_bool)
                    == Some(true)
            })
            .collect();
        match (flagged.as_slice(), ids.as_slice()) {
            ([one], _) => (*one).clone(),
            (_, [only]) => only.clone(),
            _ => "main".into(),
        }
    }

    /// The agent's workspace, resolved as the gateway does (source
    /// `agent-scope-config` `resolveAgentWorkspaceDir`): the entry's `workspace`; for the
    /// default agent `agents.defaults.workspace`, else `$OPENCLAW_WORKSPACE_DIR`, else
    /// `<state dir>/workspace` (the state dir already reflects `OPENCLAW_STATE_DIR` and
    /// profiles); for other agents `<agents.defaults.workspace>/<id>`, else
    /// `<state dir>/workspace-<id>`.
    pub fn workspace(&self, agent: &str, state_dir: &Path) -> PathBuf {
        if let Some(w) = self
            .agent_entry(agent)
            .and_then(|(e, _)| e.get("workspace"))
            .and_then(Value::as_str)
        {
            return expand_home(w);
        }
        let default_ws = self
            .get("agents.defaults.workspace")
            .and_then(Value::as_str)
            .map(expand_home);
        if agent == self.default_agent() {
            if let Some(w) = default_ws {
                return w;
            }
            if let Some(w) = std::env::var_os("OPENCLAW_WORKSPACE_DIR").filter(|v| !v.is_empty()) {
                return PathBuf::from(w);
            }
            return state_dir.join("workspace");
        }
        match default_ws {
            Some(w) => w.join(agent),
            None => state_dir.join(format!("workspace-{agent}")),
        }
    }

    /// The agent's bootstrap budgets (source `bootstrap.ts` `resolveBootstrapCharLimit`: the
    /// agent's entry, else `agents.defaults`, else the built-in defaults).
    pub fn budgets(&self, agent: &str) -> Budgets {
        let entry = self.agent_entry(agent);
        let pick = |key: &str, default: u64| -> (u64, String) {
            if let Some((e, at)) = &entry
                && let Some(n) = e.get(key).and_then(positive)
            {
                return (n, format!("{at}.{key}"));
            }
            if let Some(n) = self
                .get(&format!("agents.defaults.{key}"))
                .and_then(positive)
            {
                return (n, format!("agents.defaults.{key}"));
            }
            (default, "default".into())
        };
        let (per_file, per_file_from) = pick("bootstrapMaxChars", DEFAULT_BOOTSTRAP_MAX_CHARS);
        let (total, total_from) = pick("bootstrapTotalMaxChars", DEFAULT_BOOTSTRAP_TOTAL_MAX_CHARS);
        let context_injection = entry
            .as_ref()
            .and_then(|(e, _)| e.get("contextInjection"))
            .or_else(|| self.get("agents.defaults.contextInjection"))
            .and_then(Value::as_str)
            .unwrap_or("always")
            .to_string();
        Budgets {
            per_file,
            total,
            user_md: per_file.min(USER_BOOTSTRAP_MAX_CHARS),
            context_injection,
            per_file_from,
            total_from,
        }
    }

    /// The hooks ingress (`hooks.*`, docs `gateway/config-hooks.md`).
    pub fn hooks(&self) -> Hooks {
        let h = self.get("hooks");
        let s = |k: &str| {
            h.and_then(|h| h.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let path = s("path").unwrap_or_else(|| "/hooks".into());
        let path = format!("/{}", path.trim_matches('/'));
        Hooks {
            enabled: h
                .and_then(|h| h.get("enabled"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            token: s("token"),
            path,
            allowed_agent_ids: h
                .and_then(|h| h.get("allowedAgentIds"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                }),
        }
    }

    /// The Teams channel's sender allow-list (`channels.msteams.allowFrom`), if configured.
    pub fn msteams_allow_from(&self) -> Option<Vec<String>> {
        self.get("channels.msteams.allowFrom")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
    }
}

/// The gateway's bootstrap files in prompt order (source `workspace-bootstrap-policy.ts`
/// `WORKSPACE_BOOTSTRAP_FILENAMES`). `BOOTSTRAP.md` is dropped once workspace setup is complete
/// (`bootstrap-files.ts` `filterCompletedWorkspaceBootstrapFile`).
pub const BOOTSTRAP_FILES: [&str; 6] = [
    "AGENTS.md",
    "SOUL.md",
    "IDENTITY.md",
    "USER.md",
    "BOOTSTRAP.md",
    "MEMORY.md",
];

/// Workspace files the gateway no longer injects; `doctor` asks to migrate them
/// (`doctor-health-contributions`: HEARTBEAT.md into cron scratch, TOOLS.md into AGENTS.md).
pub const RETIRED_BOOTSTRAP_FILES: [&str; 2] = ["TOOLS.md", "HEARTBEAT.md"];

/// Dreaming's daily ingestion reads top-level `memory/` notes of the last
/// `max(14, phase lookbackDays)` days (`dreaming-phases.ts` `DEFAULT_DAILY_INGESTION_LOOKBACK_DAYS`).
pub const DAILY_INGESTION_LOOKBACK_DAYS: u64 = 14;
/// Default `lookbackDays` of the light and REM phases (`dreaming.ts`).
pub const DEFAULT_LIGHT_LOOKBACK_DAYS: u64 = 2;
pub const DEFAULT_REM_LOOKBACK_DAYS: u64 = 7;

/// The memory plugin's dreaming settings as the gateway resolves them (`dreaming.ts`
/// `resolveMemoryDreamingConfig`; docs `concepts/dreaming.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dreaming {
    /// On by default; off with `plugins.entries.<memory plugin>.config.dreaming.enabled: false`
    /// or with the memory slot set to `none`.
    pub enabled: bool,
    /// Days of top-level daily notes its ingestion reads: `max(14, light and REM lookbackDays)`.
    pub window_days: u64,
    /// The config key the window came from (`default` for the built-in 14 days).
    pub window_from: String,
    /// `dreaming.timezone`, if set.
    pub timezone: Option<String>,
}

impl GatewayConfig {
    /// `agents.defaults.userTimezone` (the zone the gateway writes note dates in), if set.
    pub fn user_timezone(&self) -> Option<&str> {
        self.get("agents.defaults.userTimezone")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }

    /// The memory plugin's id: `plugins.slots.memory`, else `memory-core`; `None` when the
    /// slot is `none` (memory off).
    pub fn memory_plugin(&self) -> Option<String> {
        match self
            .get("plugins.slots.memory")
            .and_then(Value::as_str)
            .map(str::trim)
        {
            Some(s) if s.eq_ignore_ascii_case("none") => None,
            Some(s) if !s.is_empty() => Some(s.to_string()),
            _ => Some("memory-core".into()),
        }
    }

    /// Dreaming as the gateway resolves it.
    pub fn dreaming(&self) -> Dreaming {
        let Some(plugin) = self.memory_plugin() else {
            return Dreaming {
                enabled: false,
                window_days: DAILY_INGESTION_LOOKBACK_DAYS,
                window_from: "plugins.slots.memory (none)".into(),
                timezone: None,
            };
        };
        let entry = self.get("plugins.entries").and_then(|e| e.get(&plugin));
        let plugin_on = entry
            .and_then(|e| e.get("enabled"))
            .and_then(Value::as_bool)
            != Some(false);
        let base = format!("plugins.entries.{plugin}.config.dreaming");
        let d = entry
            .and_then(|e| e.get("config"))
            .and_then(|c| c.get("dreaming"));
        let enabled =
            plugin_on && d.and_then(|d| d.get("enabled")).and_then(Value::as_bool) != Some(false);
        let mut window_days = DAILY_INGESTION_LOOKBACK_DAYS;
        let mut window_from = "default".to_string();
        for (phase, default) in [
            ("light", DEFAULT_LIGHT_LOOKBACK_DAYS),
            ("rem", DEFAULT_REM_LOOKBACK_DAYS),
        ] {
            let n = d
                .and_then(|d| d.get("phases"))
                .and_then(|p| p.get(phase))
                .and_then(|p| p.get("lookbackDays"))
                .and_then(Value::as_u64)
                .unwrap_or(default);
            if n > window_days {
                window_days = n;
                window_from = format!("{base}.phases.{phase}.lookbackDays");
            }
        }
        Dreaming {
            enabled,
            window_days,
            window_from,
            timezone: d
                .and_then(|d| d.get("timezone"))
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }

    /// `memory.search.extraPaths` plus the agent's own (`agents.entries.<id>.memory.search.
    /// extraPaths`), combined as the gateway does (docs `reference/memory-config.md`): the
    /// paths as written (absolute or workspace-relative).
    pub fn memory_extra_paths(&self, agent: &str) -> Vec<String> {
        let mut out = Vec::new();
        let global = self.get("memory.search.extraPaths");
        let own = self
            .agent_entry(agent)
            .and_then(|(e, _)| e.get("memory"))
            .and_then(|m| m.get("search"))
            .and_then(|s| s.get("extraPaths"));
        for list in [global, own].into_iter().flatten() {
            for item in list.as_array().into_iter().flatten() {
                let p = match item {
                    Value::String(s) => Some(s.as_str()),
                    Value::Object(o) => o.get("path").and_then(Value::as_str),
                    _ => None,
                };
                if let Some(p) = p.map(str::trim).filter(|p| !p.is_empty()) {
                    out.push(p.to_string());
                }
            }
        }
        out
    }
}

fn positive(v: &Value) -> Option<u64> {
    v.as_f64()
        .filter(|f| f.is_finite() && *f >= 1.0)
        .map(|f| f.floor() as u64)
}

/// `hooks.*` of the gateway's config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hooks {
    pub enabled: bool,
    /// The shared hook secret (never log it).
    pub token: Option<String>,
    /// Base path, `/hooks` by default.
    pub path: String,
    /// `None`: unrestricted.
    pub allowed_agent_ids: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn includes_merge_like_the_gateway() {
        let d = tempfile::tempdir().unwrap();
        let root = write(
            d.path(),
            "openclaw.json",
            r#"// main
            { gateway: { mode: "local", port: 18790 },
              agents: { $include: "./agents.json5", defaults: { bootstrapMaxChars: 12000 } },
              list: { $include: ["./a.json5", "./b.json5"] }, }"#,
        );
        write(
            d.path(),
            "agents.json5",
            r#"{ defaults: { bootstrapMaxChars: 9000, bootstrapTotalMaxChars: 30000 },
                 entries: { main: { default: true, bootstrapMaxChars: 5000 } } }"#,
        );
        write(d.path(), "a.json5", r#"{ xs: [1], k: "a" }"#);
        write(d.path(), "b.json5", r#"{ xs: [2], k: "b" }"#);
        let c = load(&root).unwrap();
        assert_eq!(c.files.len(), 4, "{:?}", c.files);
        assert_eq!(c.port(), Some(18790));
        assert_eq!(
            c.get("agents.defaults.bootstrapMaxChars"),
            Some(&Value::from(12000)),
            "siblings win"
        );
        assert_eq!(
            c.get("list.xs"),
            Some(&serde_json::json!([1, 2])),
            "arrays concatenate"
        );
        assert_eq!(c.get("list.k"), Some(&Value::from("b")));
        let b = c.budgets("main");
        assert_eq!((b.per_file, b.total, b.user_md), (5000, 30000, 4000));
        assert_eq!(b.per_file_from, "agents.entries.main.bootstrapMaxChars");
        assert_eq!(b.total_from, "agents.defaults.bootstrapTotalMaxChars");
    }

    #[test]
    fn load_text_returns_the_included_bytes() {
        let d = tempfile::tempdir().unwrap();
        let root = write(
            d.path(),
            "openclaw.json",
            r#"{ agents: { $include: "./sub/agents.json5" }, x: { $include: "./sub/agents.json5" } }"#,
        );
        write(
            d.path(),
            "sub/agents.json5",
            "{ defaults: { $include: './d.json5' } }",
        );
        write(d.path(), "sub/d.json5", "{ a: 1 }");
        let text = std::fs::read_to_string(&root).unwrap();
        assert!(mentions_include(text.as_bytes()));
        let set = load_text(&root, &text).unwrap();
        let names: Vec<String> = set
            .included
            .iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["agents.json5", "d.json5"], "each file once");
        assert_eq!(set.included[1].bytes, b"{ a: 1 }");
        assert_eq!(set.config.get("x.defaults.a"), Some(&Value::from(1)));
        assert!(!mentions_include(b"{ a: 1 }"));
    }

    #[test]
    fn include_errors_name_the_path() {
        let d = tempfile::tempdir().unwrap();
        let root = write(
            d.path(),
            "openclaw.json",
            r#"{ a: { $include: "./nope.json5" } }"#,
        );
        let e = load(&root).unwrap_err().to_string();
        assert!(
            e.contains("Failed to read include file: ./nope.json5"),
            "{e}"
        );
        write(d.path(), "x.json5", r#"{ $include: "./y.json5" }"#);
        write(d.path(), "y.json5", r#"{ $include: "./x.json5" }"#);
        let root = write(
            d.path(),
            "openclaw.json",
            r#"{ a: { $include: "./x.json5" } }"#,
        );
        let e = load(&root).unwrap_err().to_string();
        assert!(e.contains("Circular include detected"), "{e}");
        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "o.json5", "{}");
        let root = write(
            d.path(),
            "openclaw.json",
            &format!(
                r#"{{ a: {{ $include: "{}" }} }}"#,
                outside.path().join("o.json5").display()
            ),
        );
        let e = load(&root).unwrap_err().to_string();
        assert!(e.contains("escapes config directory"), "{e}");
    }

    #[test]
    fn budgets_default_and_legacy_list() {
        let d = tempfile::tempdir().unwrap();
        let root = write(
            d.path(),
            "openclaw.json",
            r#"{ agents: { list: [ { id: "ops", default: true, bootstrapTotalMaxChars: 1000 } ] } }"#,
        );
        let c = load(&root).unwrap();
        assert_eq!(c.default_agent(), "ops");
        let b = c.budgets("ops");
        assert_eq!((b.per_file, b.total), (20000, 1000));
        assert_eq!(b.total_from, "agents.list[0].bootstrapTotalMaxChars");
        assert_eq!(b.per_file_from, "default");
        assert_eq!(
            c.workspace("ops", Path::new("/st")),
            PathBuf::from("/st/workspace")
        );
        assert_eq!(
            c.workspace("other", Path::new("/st")),
            PathBuf::from("/st/workspace-other")
        );
    }

    #[test]
    fn dreaming_window_timezone_and_extra_paths() {
        let d = tempfile::tempdir().unwrap();
        let root = write(d.path(), "openclaw.json", "{}");
        let c = load(&root).unwrap();
        let dr = c.dreaming();
        assert!(dr.enabled);
        assert_eq!((dr.window_days, dr.window_from.as_str()), (14, "default"));
        assert_eq!(c.user_timezone(), None);
        let root = write(
            d.path(),
            "openclaw.json",
            r#"{ agents: { defaults: { userTimezone: "Europe/Berlin" },
                           entries: { main: { memory: { search: { extraPaths: ["../own"] } } } } },
                 memory: { search: { extraPaths: ["/srv/notes", { path: "docs", pattern: "**/*.md" }] } },
                 plugins: { entries: { "memory-core": { config: { dreaming: {
                     phases: { rem: { lookbackDays: 21 } }, timezone: "UTC" } } } } } }"#,
        );
        let c = load(&root).unwrap();
        let dr = c.dreaming();
        assert_eq!(dr.window_days, 21);
        assert_eq!(
            dr.window_from,
            "plugins.entries.memory-core.config.dreaming.phases.rem.lookbackDays"
        );
        assert_eq!(dr.timezone.as_deref(), Some("UTC"));
        assert_eq!(c.user_timezone(), Some("Europe/Berlin"));
        assert_eq!(
            c.memory_extra_paths("main"),
            ["/srv/notes", "docs", "../own"]
        );
        let root = write(
            d.path(),
            "openclaw.json",
            r#"{ plugins: { entries: { "memory-core": { config: { dreaming: { enabled: false } } } } } }"#,
        );
        assert!(!load(&root).unwrap().dreaming().enabled);
        let root = write(
            d.path(),
            "openclaw.json",
            r#"{ plugins: { slots: { memory: "none" } } }"#,
        );
        assert!(!load(&root).unwrap().dreaming().enabled);
    }

    #[test]
    fn hooks_and_teams() {
        let d = tempfile::tempdir().unwrap();
        let root = write(
            d.path(),
            "openclaw.json",
            r#"{ hooks: { enabled: true, token: "t0k", path: "/in/" },
                 channels: { msteams: { allowFrom: ["a-b-c"] } } }"#,
        );
        let c = load(&root).unwrap();
        let h = c.hooks();
        assert!(h.enabled);
        assert_eq!(h.path, "/in");
        assert_eq!(h.token.as_deref(), Some("t0k"));
        assert_eq!(c.msteams_allow_from(), Some(vec!["a-b-c".to_string()]));
    }
}
