//! The service clients a run may use, built from the shared config sections: the Microsoft
//! Graph client (section `graph`, used by poll-teams, publish-report's Teams destination and
//! Teams alerts alike).

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
        log::warn!(
            "{}: `poll-teams.graph` is deprecated: move it to a top-level `graph` section (shared by poll-teams, publish-report and Teams alerts)",
            self.path.display()
        );
        Ok(Some(GraphSettings {
            cfg,
            key: "poll-teams.graph",
        }))
    }
}

impl<D: Serialize + DeserializeOwned + Default> Ctx<D> {
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
