//! The suite's `gateway` config section: where the agent gateway lives. One owner for these
//! paths, shared by every job that reads the gateway's files or runs its CLI.
//!
//! Defaults follow the gateway's own resolution (docs `gateway/configuration.md`, env vars
//! `OPENCLAW_CONFIG_PATH`, `OPENCLAW_STATE_DIR`, `OPENCLAW_PROFILE`): config
//! `$OPENCLAW_CONFIG_PATH`, else `<state dir>/openclaw.json`; state dir `$OPENCLAW_STATE_DIR`,
//! else `~/.openclaw`. Under cron those variables are usually unset, so set the keys when the
//! gateway runs with them.

use crate::cli::Cli;
use anyhow::Result;
use base::exit::config_error;
use base::secret::resolve_path;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `gateway` in the suite's config.json.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    /// The gateway's config file (`openclaw.json`).
    pub config: Option<PathBuf>,
    /// The gateway's state dir (`~/.openclaw`).
    pub state_dir: Option<PathBuf>,
    /// The gateway's CLI: a path, or a name looked up on `PATH`.
    pub openclaw: String,
    /// The named profile the gateway runs under (`OPENCLAW_PROFILE`), if any: it names the log
    /// files `openclaw-<profile>-YYYY-MM-DD.log`.
    pub profile: Option<String>,
    /// Base URL of the gateway's HTTP server; default `http://127.0.0.1:<gateway.port>` from
    /// its config (18789 when unset).
    pub url: Option<String>,
    /// Longest one CLI call may take (the CLI needs 2–30 s on a small machine).
    pub cli_timeout_secs: u64,
    /// Extra environment for CLI calls (for example `HOME` of the gateway's user).
    pub env: BTreeMap<String, String>,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            config: None,
            state_dir: None,
            openclaw: "openclaw".into(),
            profile: None,
            url: None,
            cli_timeout_secs: 60,
            env: BTreeMap::new(),
        }
    }
}

/// The default HTTP port of the gateway (docs `gateway/configuration-reference.md`).
pub const DEFAULT_PORT: u16 = 18789;

/// Largest accepted `cli_timeout_secs`.
pub const MAX_CLI_TIMEOUT_SECS: u64 = 3600;

impl GatewaySettings {
    /// Checks serde cannot express; `file` is the suite config, for messages.
    pub fn validate(&self, file: &Path) -> Result<()> {
        if self.openclaw.trim().is_empty() {
            return Err(config_error(format!(
                "{}: `gateway.openclaw`: must name the gateway's CLI (a path or a command on PATH)",
                file.display()
            )));
        }
        if !(1..=MAX_CLI_TIMEOUT_SECS).contains(&self.cli_timeout_secs) {
            return Err(config_error(format!(
                "{}: `gateway.cli_timeout_secs`: {} is out of range 1..={MAX_CLI_TIMEOUT_SECS}",
                file.display(),
                self.cli_timeout_secs
            )));
        }
        if let Some(u) = &self.url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(config_error(format!(
                "{}: `gateway.url`: {u:?} must start with http:// or https://",
                file.display()
            )));
        }
        Ok(())
    }

    /// Resolve against the suite root and the environment.
    pub fn resolve(&self, root: &Path) -> Gateway {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let state_dir = self
            .state_dir
            .as_ref()
            .map(|p| resolve_path(root, p))
            .or_else(|| env("OPENCLAW_STATE_DIR"))
            .unwrap_or_else(|| resolve_path(root, Path::new("~/.openclaw")));
        let config = self
            .config
            .as_ref()
            .map(|p| resolve_path(root, p))
            .or_else(|| env("OPENCLAW_CONFIG_PATH"))
            .unwrap_or_else(|| state_dir.join("openclaw.json"));
        let profile = self.profile.clone().or_else(|| {
            std::env::var("OPENCLAW_PROFILE")
                .ok()
                .filter(|p| !p.is_empty() && p != "default")
        });
        Gateway {
            config,
            state_dir,
            profile,
            url: self.url.clone(),
            cli: Cli {
                program: self.openclaw.clone(),
                timeout: Duration::from_secs(self.cli_timeout_secs),
                env: self.env.clone().into_iter().collect(),
                config: None,
                state_dir: None,
            },
        }
    }
}

/// The gateway of one suite, with every path resolved.
#[derive(Debug, Clone)]
pub struct Gateway {
    /// Its config file.
    pub config: PathBuf,
    /// Its state dir.
    pub state_dir: PathBuf,
    /// Its named profile, if any.
    pub profile: Option<String>,
    /// Configured base URL (else derived from the config's port).
    pub url: Option<String>,
    /// Its CLI (runs with `OPENCLAW_CONFIG_PATH` / `OPENCLAW_STATE_DIR` of this gateway).
    pub cli: Cli,
}

impl Gateway {
    /// The CLI, pointed at this gateway's config and state dir.
    pub fn cli(&self) -> Cli {
        let mut c = self.cli.clone();
        c.config = Some(self.config.clone());
        c.state_dir = Some(self.state_dir.clone());
        c
    }

    /// The base URL of the gateway's HTTP server.
    pub fn base_url(&self, cfg: Option<&crate::config::GatewayConfig>) -> String {
        if let Some(u) = &self.url {
            return u.trim_end_matches('/').to_string();
        }
        let port = cfg.and_then(|c| c.port()).unwrap_or(DEFAULT_PORT);
        format!("http://127.0.0.1:{port}")
    }

    /// The gateway's global state database (`<state>/state/openclaw.sqlite`).
    pub fn state_db(&self) -> PathBuf {
        self.state_dir.join("state").join("openclaw.sqlite")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_keys_win_and_are_resolved_against_the_root() {
        let s = GatewaySettings {
            config: Some("gw/openclaw.json".into()),
            state_dir: Some("/srv/oc".into()),
            ..Default::default()
        };
        let g = s.resolve(Path::new("/suite"));
        assert_eq!(g.config, PathBuf::from("/suite/gw/openclaw.json"));
        assert_eq!(g.state_dir, PathBuf::from("/srv/oc"));
        assert_eq!(g.state_db(), PathBuf::from("/srv/oc/state/openclaw.sqlite"));
        assert_eq!(g.base_url(None), "http://127.0.0.1:18789");
    }

    #[test]
    fn config_defaults_into_the_state_dir() {
        let s = GatewaySettings {
            state_dir: Some("/x/.openclaw".into()),
            ..Default::default()
        };
        if std::env::var_os("OPENCLAW_CONFIG_PATH").is_none() {
            let g = s.resolve(Path::new("/suite"));
            assert_eq!(g.config, PathBuf::from("/x/.openclaw/openclaw.json"));
        }
    }

    #[test]
    fn ranges_are_checked() {
        let f = Path::new("config.json");
        let mut s = GatewaySettings {
            cli_timeout_secs: 0,
            ..Default::default()
        };
        assert!(
            s.validate(f)
                .unwrap_err()
                .to_string()
                .contains("cli_timeout_secs")
        );
        s.cli_timeout_secs = 10;
        s.url = Some("file:///x".into());
        assert!(
            s.validate(f)
                .unwrap_err()
                .to_string()
                .contains("gateway.url")
        );
        s.url = None;
        s.openclaw = " ".into();
        assert!(s.validate(f).is_err());
    }
}
