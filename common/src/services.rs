//! The service clients a run may use, built from the shared config sections: the Microsoft
//! Graph client (section `graph`, used by poll-teams, publish-report's Teams destination and
//! Teams alerts alike) and the agent gateway (section `gateway`: its config, state dir, CLI and
//! URL, used by every job that reads the gateway's files or runs its CLI).

use crate::run::Ctx;
use anyhow::Result;
use base::exit::config_error;
use graph::{Graph, GraphConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Where the Graph settings were found.
#[derive(Debug, Clone)]
pub struct GraphSettings {
    pub cfg: GraphConfig,
    /// The config key they came from (`graph`, or the deprecated `poll-teams.graph`).
    pub key: &'static str,
}

impl crate::config::ConfigFile {
    /// The Graph settings: the top-level `graph` section, else (deprecated, with a warning)
    /// `poll-teams.graph`, else `None`.
    pub fn graph_settings(&self) -> Result<Option<GraphSettings>> {
        if self.has_section("graph") {
            let cfg: GraphConfig = self.section("graph")?;
            return Ok(Some(GraphSettings { cfg, key: "graph" }));
        }
        let Some(v) = self.raw_section("poll-teams").and_then(|p| p.get("graph")) else {
            return Ok(None);
        };
        let cfg: GraphConfig = serde_path_to_error::deserialize(v.clone()).map_err(|e| {
            config_error(format!(
                "{}: `poll-teams.graph.{}`: {}",
                self.path.display(),
                e.path(),
                e.inner()
            ))
        })?;
        Ok(Some(GraphSettings {
            cfg,
            key: "poll-teams.graph",
        }))
    }
}

impl crate::config::ConfigFile {
    /// The `gateway` section, validated (defaults when absent).
    pub fn gateway_settings(&self) -> Result<openclaw::GatewaySettings> {
        let s: openclaw::GatewaySettings = self.section("gateway")?;
        s.validate(&self.path)?;
        Ok(s)
    }

    /// Check the shared sections a job may use (`graph`, `gateway`): for `--check-config`
    /// and before every run, so a bad shared value fails early with exit 78.
    pub fn validate_shared(&self) -> Result<()> {
        if let Some(g) = self.graph_settings()? {
            g.cfg.validate(g.key)?;
            if g.key != "graph" {
                // Once per run, here (every lookup of the settings used to say it again).
                // Logged at INFO (the log file, not cron's mail on every run); `--check-config`
                // prints it as a warning.
                log::info!("{}", deprecated_graph_note(&self.path));
            }
        }
        self.gateway_settings()?;
        Ok(())
    }
}

/// What `--check-config` says about the deprecated `poll-teams.graph`.
pub fn deprecated_graph_note(file: &std::path::Path) -> String {
    format!(
        "{}: `poll-teams.graph` is deprecated: move it to a top-level `graph` section (shared by poll-teams, publish-report and Teams alerts)",
        file.display()
    )
}

impl<D: Serialize + DeserializeOwned + Default> Ctx<D> {
    /// The agent gateway of this suite (section `gateway`), paths resolved.
    pub fn gateway(&self) -> Result<openclaw::Gateway> {
        Ok(self.config.gateway_settings()?.resolve(&self.paths.root))
    }

    /// A Graph client from the shared `graph` section; `purpose` says who needs it, for the
    /// error when the section is missing (`runtime.alerts.teams_chat_id`).
    pub fn graph(&self, purpose: &str) -> Result<Graph> {
        let s = self.config.graph_settings()?.ok_or_else(|| {
            config_error(format!(
                "{}: {purpose} needs Microsoft Graph settings: add a top-level `graph` section (see config.example.json)",
                self.config.path.display()
            ))
        })?;
        self.graph_with(&s.cfg, s.key)
    }

    /// A Graph client from explicit settings (`key` names them in messages). In `--dry-run`
    /// the token cache is read but not written.
    pub fn graph_with(&self, cfg: &GraphConfig, key: &str) -> Result<Graph> {
        let http = self.http()?.clone();
        Graph::new(http, cfg.clone(), &self.paths.root, key, !self.dry_run)
    }
}
