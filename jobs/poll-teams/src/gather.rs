//! What a run needs before it starts: the inbox, the Graph client, who is allowed (with the
//! gateway's `allowFrom` when asked), the gateway's hook endpoint, and what other jobs say
//! about the gateway. Also the checks `--check-config` adds for the gateway's side.

use crate::config::{Config, Mode};
use crate::data::{Data, DownWindow};
use crate::hook::HookTarget;
use crate::inbox::Inbox;
use crate::intake::People;
use anyhow::Result;
use chrono::{DateTime, Utc};
use common::config::ConfigFile;
use common::contracts::facts::watch_gateway::GatewayFacts;
use common::contracts::state::PublicState;
use common::{Ctx, Paths, config_error};
use graph::Graph;
use openclaw::msteams::{Reads, Teams};

/// Everything a run works with.
pub struct World {
    pub inbox: Inbox,
    pub graph: Graph,
    pub people: People,
    /// The gateway's hook endpoint (`None`: every chat is in journal mode).
    pub target: Option<std::result::Result<HookTarget, String>>,
}

/// Set up a run: inbox ready, Graph client, allow-list, hook endpoint.
pub fn setup(ctx: &mut Ctx<Data>, cfg: &Config) -> Result<World> {
    let inbox = Inbox::new(ctx.paths.resolve(&cfg.inbox_dir));
    if !ctx.dry_run {
        inbox.prepare()?;
    }
    let graph = ctx.graph("poll-teams")?;
    let allow = gateway_allow_from(ctx, cfg)?;
    let target = cfg
        .delivers()
        .then(|| crate::hook::resolve(ctx, cfg).map_err(|e| common::exit::one_line(&e)));
    Ok(World {
        inbox,
        graph,
        people: People::new(cfg, &allow),
        target,
    })
}

/// The AAD ids of the gateway's `channels.msteams.allowFrom`, when `allow_from_gateway` is on.
/// Entries that are not ids (`accessGroup:…`, `*`) are not supported: logged, not used.
pub fn gateway_allow_from(ctx: &Ctx<Data>, cfg: &Config) -> Result<Vec<String>> {
    if !cfg.allow_from_gateway {
        return Ok(Vec::new());
    }
    let gw = ctx.gateway()?;
    let gcfg = openclaw::config::load(&gw.config).map_err(|e| {
        config_error(format!(
            "poll-teams.allow_from_gateway is on but the gateway's config cannot be read: {}",
            common::exit::one_line(&e)
        ))
    })?;
    let (ids, other) = Teams::from_config(&gcfg).allow_from_ids();
    if !other.is_empty() {
        log::info!(
            "{}: channels.msteams.allowFrom entries {} are not supported (only AAD object ids are used)",
            gw.config.display(),
            other.join(", ")
        );
    }
    Ok(ids)
}

/// Windows in which watch-gateway saw the gateway down (its public facts), if it runs.
pub fn watch_gateway_windows(ctx: &Ctx<Data>, now: DateTime<Utc>) -> Vec<DownWindow> {
    let path = ctx.paths.state_file("watch-gateway");
    let Ok(bytes) = std::fs::read(&path) else {
        return Vec::new();
    };
    let Ok(st) = serde_json::from_slice::<PublicState<GatewayFacts>>(&bytes) else {
        log::debug!(
            "{} does not parse as watch-gateway's public state",
            path.display()
        );
        return Vec::new();
    };
    st.facts
        .map(|f| f.incidents)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|i| {
            Some(DownWindow {
                from: i.started_at?,
                to: i.recovered_at.unwrap_or(now),
            })
        })
        .collect()
}

/// What makes a run impossible on the gateway's side (exit 78 at `--check-config` and before
/// every run): no Graph settings; a chat delivers but the hook endpoint or token cannot be
/// found, or the gateway's hooks are off or refuse the agent; `allow_from_gateway` without a
/// readable gateway config. Reads files only.
pub fn validate(cfg: &Config, paths: &Paths) -> Result<()> {
    let file = ConfigFile::load(&paths.config)?;
    if file.graph_settings()?.is_none() {
        return Err(config_error(format!(
            "{}: poll-teams needs Microsoft Graph settings: add a top-level `graph` section (see config.example.json)",
            file.path.display()
        )));
    }
    let d = &cfg.delivery;
    if cfg.delivers() {
        common::secret::resolve_secret(
            "poll-teams.delivery.token",
            d.token_env.as_deref(),
            d.token_file.as_deref(),
            &paths.root,
        )?;
    }
    if !cfg.delivers() && !cfg.allow_from_gateway {
        return Ok(());
    }
    let gw = file.gateway_settings()?.resolve(&paths.root);
    match openclaw::config::load(&gw.config) {
        Ok(g) => hooks_errors(cfg, &g),
        Err(e) => {
            let why = common::exit::one_line(&e);
            if cfg.delivers() && (d.url.is_none() || no_token(cfg)) {
                return Err(config_error(format!(
                    "{}: a chat delivers to the gateway (mode all or catch-up) but {why}; point the `gateway` section at the gateway's openclaw.json, or set poll-teams.delivery.url and token_file",
                    file.path.display()
                )));
            }
            if cfg.allow_from_gateway {
                return Err(config_error(format!(
                    "{}: poll-teams.allow_from_gateway is on but {why}",
                    file.path.display()
                )));
            }
            Ok(())
        }
    }
}

/// `--check-config`: what will not work as expected, as far as the gateway's config tells.
pub fn warnings(cfg: &Config, paths: &Paths, file: &ConfigFile) -> Vec<String> {
    let gw = match file.gateway_settings() {
        Ok(s) => s.resolve(&paths.root),
        Err(e) => return vec![common::exit::one_line(&e)],
    };
    match openclaw::config::load(&gw.config) {
        Ok(g) => {
            let mut w = hooks_warnings(cfg, &g);
            w.extend(teams_warnings(cfg, &g));
            w
        }
        Err(e) => vec![format!(
            "cannot check against the gateway's config: {}",
            common::exit::one_line(&e)
        )],
    }
}

fn no_token(cfg: &Config) -> bool {
    cfg.delivery.token_env.is_none() && cfg.delivery.token_file.is_none()
}

fn hooks_errors(cfg: &Config, g: &openclaw::config::GatewayConfig) -> Result<()> {
    if !cfg.delivers() {
        return Ok(());
    }
    let h = g.hooks();
    if no_token(cfg) && (!h.enabled || h.token.as_deref().is_none_or(|t| t.trim().is_empty())) {
        return Err(config_error(format!(
            "{}: a chat delivers to the gateway (mode all or catch-up) but its hooks are not enabled: set `hooks.enabled: true` and `hooks.token` there, or set those chats to mode journal",
            g.path.display()
        )));
    }
    let agent = cfg
        .delivery
        .agent_id
        .clone()
        .unwrap_or_else(|| g.default_agent());
    if let Some(allowed) = &h.allowed_agent_ids
        && !allowed.iter().any(|a| a == "*" || *a == agent)
    {
        return Err(config_error(format!(
            "{}: `hooks.allowedAgentIds` does not allow agent `{agent}`, so every delivery would be refused (400)",
            g.path.display()
        )));
    }
    Ok(())
}

fn hooks_warnings(cfg: &Config, g: &openclaw::config::GatewayConfig) -> Vec<String> {
    let mut warnings = Vec::new();
    if !cfg.delivers() {
        return warnings;
    }
    let sessions = cfg.chats.iter().any(|c| c.session_key.is_some())
        || cfg.channels.iter().any(|c| c.session_key.is_some());
    if sessions && g.get("hooks.allowRequestSessionKey") != Some(&serde_json::Value::Bool(true)) {
        warnings.push(format!(
            "a chat sets session_key but {} does not set `hooks.allowRequestSessionKey: true`: the gateway refuses such requests (400)",
            g.path.display()
        ));
    }
    let replies = cfg
        .sources()
        .iter()
        .any(|s| s.reply.is_some_and(|r| r.channel == "msteams"));
    if replies {
        warnings.push(
            "a chat's reply target uses channel msteams: the gateway accepts it only with the @openclaw/msteams plugin installed (without it every delivery is refused: `channel must be last`, 400)".into(),
        );
    }
    warnings
}

fn teams_warnings(cfg: &Config, g: &openclaw::config::GatewayConfig) -> Vec<String> {
    let mut warnings = Vec::new();
    let teams = Teams::from_config(g);
    for s in cfg.sources() {
        let reads = teams.reads(&s.key);
        if s.bare_commands {
            match &reads {
                Reads::Yes(why) => warnings.push(format!(
                    "chat {}: bare command words are on, but the gateway reads this chat ({why}): `/stop`, `/status`, `/help` there are also the gateway's own commands; use the prefix {} instead",
                    s.name, cfg.commands.prefix
                )),
                Reads::Maybe(why) => warnings.push(format!(
                    "chat {}: bare command words are on and the gateway may read this chat ({why}); if it does, one message does two things",
                    s.name
                )),
                Reads::No(_) => {}
            }
        }
        if s.mode == Mode::All && matches!(reads, Reads::Yes(_)) {
            warnings.push(format!(
                "chat {}: mode all, but the gateway reads this chat itself: every message would be answered twice; use catch-up",
                s.name
            ));
        }
    }
    if !cfg.allow_from_gateway && !teams.enabled {
        return warnings;
    }
    let (ids, other) = teams.allow_from_ids();
    if !other.is_empty() {
        warnings.push(format!(
            "channels.msteams.allowFrom entries {} are not supported by poll-teams (only AAD object ids): those senders are not admitted from the gateway's list",
            other.join(", ")
        ));
    }
    let ours: std::collections::BTreeSet<&String> =
        cfg.operators.iter().chain(&cfg.trusted).collect();
    let only_gateway: Vec<&String> = ids.iter().filter(|i| !ours.contains(i)).collect();
    let only_ours: Vec<&&String> = ours.iter().filter(|i| !ids.contains(i)).collect();
    if !only_gateway.is_empty() {
        warnings.push(format!(
            "allow-lists differ: in the gateway's channels.msteams.allowFrom but not in poll-teams.operators/trusted: {}{}",
            only_gateway.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
            if cfg.allow_from_gateway { " (admitted as trusted: allow_from_gateway is on)" } else { "" }
        ));
    }
    if !only_ours.is_empty() && teams.enabled {
        warnings.push(format!(
            "allow-lists differ: in poll-teams.operators/trusted but not in the gateway's channels.msteams.allowFrom: {}",
            only_ours.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    warnings
}
