//! The three kinds of destination: how a report is sent to each and how each is asked
//! whether a report arrived.
//!
//! | kind | send | ask (after an ambiguous send or a crash) |
//! |---|---|---|
//! | directory | `<report id>.json` then `<report id>.md`, atomically | is the `.md` there with the id line? exact |
//! | webhook | JSON POST with `Idempotency-Key: <report id>` | cannot be asked |
//! | teams | a chat message through Microsoft Graph | is a message with the id line in the chat? a chat may show it late |

use crate::config::{DestKind, Destination};
use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use common::Ctx;
use common::http::{Http, Method, Retry};
use common::secret::Secret;
use graph::{Flow, Graph, GraphConfig, ListQuery};
use std::path::PathBuf;

/// What a send carries.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    pub report_id: &'a str,
    pub period_id: &'a str,
    pub period_kind: &'a str,
    pub markdown: &'a str,
    pub html: &'a str,
    pub overall: &'a str,
    pub headline: &'a str,
    pub generated_at: DateTime<Utc>,
    pub host: &'a str,
    /// The JSON report (directory destinations; `None` when resending a stored copy).
    pub json: Option<&'a [u8]>,
}

/// How a send ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Arrived: the destination's message id or path.
    Ok(String),
    /// Provably not delivered: refused, or never left the machine.
    NotDelivered(String),
    /// May have been delivered.
    Ambiguous(String),
}

/// What asking the destination found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Yes(String),
    /// Not there. `exact`: it cannot be missing if it arrived (a local directory); otherwise
    /// (a chat) a slow server may still show it.
    No {
        exact: bool,
    },
    CannotCheck(String),
}

/// A destination resolved for a run: secrets read, paths resolved, Graph client built.
pub struct Target<'a> {
    pub dest: &'a Destination,
    url: Option<Secret>,
    dir: Option<PathBuf>,
    graph: Option<Graph>,
    http: Option<Http>,
}

impl Target<'_> {
    /// Whether the destination can be asked if a report arrived.
    pub fn can_verify(&self) -> bool {
        can_verify(self.dest.kind)
    }
}

/// Whether destinations of `kind` can be asked if a report arrived.
pub fn can_verify(kind: DestKind) -> bool {
    matches!(kind, DestKind::Directory | DestKind::Teams)
}

fn http_for(ctx: &Ctx<crate::data::Data>, d: &Destination) -> Result<Http> {
    let mut hc = ctx.runtime.http.clone();
    if let Some(s) = d.timeout_secs {
        hc.timeout_secs = s;
    }
    Ok(Http::new(&hc, ctx.deadline())?.with_stop(ctx.stop.clone()))
}

/// The Graph settings of a Teams destination: its own `graph`, else the shared `graph` section
/// (or the deprecated `poll-teams.graph`).
fn graph_config(
    ctx: &Ctx<crate::data::Data>,
    d: &Destination,
    i: usize,
) -> Result<(GraphConfig, String)> {
    if let Some(g) = &d.graph {
        return Ok((g.clone(), format!("publish-report.destinations[{i}].graph")));
    }
    match ctx.config.graph_settings()? {
        Some(s) => Ok((s.cfg, s.key.to_string())),
        None => Err(common::config_error(format!(
            "{}: `publish-report.destinations[{i}]` is a teams destination but there are no Graph settings: add a top-level `graph` section (or `graph` in the destination)",
            ctx.config.path.display()
        ))),
    }
}

/// Resolve one destination (a config mistake is an error before anything is sent).
pub fn resolve<'a>(
    ctx: &Ctx<crate::data::Data>,
    d: &'a Destination,
    i: usize,
) -> Result<Target<'a>> {
    let key = format!("publish-report.destinations[{i}].url");
    let (url, graph, http) = match d.kind {
        DestKind::Teams => {
            let (g, gkey) = graph_config(ctx, d, i)?;
            let graph = Graph::new(http_for(ctx, d)?, g, &ctx.paths.root, &gkey, !ctx.dry_run)?;
            (None, Some(graph), None)
        }
        DestKind::Webhook => {
            let url = match &d.url {
                Some(u) => Some(Secret::new(u.clone())),
                None => ctx.secret(&key, d.url_env.as_deref(), d.url_file.as_deref())?,
            };
            if let Some(u) = &url {
                check_scheme(ctx, &key, u)?;
            }
            (url, None, Some(http_for(ctx, d)?))
        }
        DestKind::Directory => (None, None, None),
    };
    Ok(Target {
        dest: d,
        url,
        dir: d.path.as_ref().map(|p| ctx.paths.resolve(p)),
        graph,
        http,
    })
}

/// A webhook URL must be http(s): anything else would never leave and must not be recorded
/// as "maybe sent".
fn check_scheme(ctx: &Ctx<crate::data::Data>, key: &str, url: &Secret) -> Result<()> {
    let u = url.expose();
    if u.starts_with("http://") || u.starts_with("https://") {
        return Ok(());
    }
    Err(common::config_error(format!(
        "{}: `{key}`: the webhook URL must start with http:// or https://",
        ctx.config.path.display()
    )))
}

/// Send one report.
pub fn send(t: &mut Target<'_>, out: &Outgoing<'_>) -> Sent {
    match t.dest.kind {
        DestKind::Teams => send_teams(t, out),
        DestKind::Directory => send_directory(t, out),
        DestKind::Webhook => send_webhook(t, out),
    }
}

fn send_teams(t: &mut Target<'_>, out: &Outgoing<'_>) -> Sent {
    let (Some(g), Some(chat)) = (t.graph.as_mut(), t.dest.chat_id.as_deref()) else {
        return Sent::NotDelivered("no chat configured".into());
    };
    match g.post_message(chat, out.html) {
        Ok(p) => Sent::Ok(p.id),
        Err(e) => {
            let status = e
                .chain()
                .find_map(|c| c.downcast_ref::<graph::GraphError>())
                .map(|g| g.status);
            let msg = common::exit::one_line(&e);
            if common::http::maybe_sent(&e) {
                Sent::Ambiguous(format!("no answer after the request went out: {msg}"))
            } else if matches!(status, Some(500 | 502 | 504)) {
                // Graph may have created the message before failing.
                Sent::Ambiguous(msg)
            } else {
                Sent::NotDelivered(msg)
            }
        }
    }
}

fn send_directory(t: &Target<'_>, out: &Outgoing<'_>) -> Sent {
    let Some(dir) = &t.dir else {
        return Sent::NotDelivered("no path configured".into());
    };
    let write = || -> Result<String> {
        common::fsutil::ensure_dir_durable(dir, 0o755)?;
        let opts = common::fsutil::FileOptions {
            mode: Some(0o644),
            owner: None,
        };
        if let Some(json) = out.json {
            common::fsutil::write_atomic_with(
                &dir.join(format!("{}.json", out.report_id)),
                json,
                opts,
            )?;
        }
        // The Markdown copy (carrying the id line) is written last: it is what a check
        // looks for.
        let md = dir.join(format!("{}.md", out.report_id));
        common::fsutil::write_atomic_with(&md, out.markdown.as_bytes(), opts)?;
        Ok(md.display().to_string())
    };
    match write() {
        Ok(p) => Sent::Ok(p),
        Err(e) => Sent::NotDelivered(common::exit::one_line(&e)),
    }
}

fn send_webhook(t: &Target<'_>, out: &Outgoing<'_>) -> Sent {
    let (Some(url), Some(http)) = (&t.url, &t.http) else {
        return Sent::NotDelivered("no URL configured".into());
    };
    let body = serde_json::json!({
        "text": out.markdown,
        "html": out.html,
        "report_id": out.report_id,
        "period": out.period_id,
        "period_kind": out.period_kind,
        "overall": out.overall,
        "headline": out.headline,
        "generated_at": out.generated_at,
        "host": out.host,
    });
    let sent = http.send(Method::POST, url.expose(), Retry::Never, |req| {
        req.header("Idempotency-Key", out.report_id).json(&body)
    });
    match sent {
        Ok(resp) if resp.is_success() => Sent::Ok(webhook_id(&resp)),
        // A gateway timeout or bad gateway: the upstream may have taken it.
        Ok(resp) if matches!(resp.status, 502 | 504) => Sent::Ambiguous(format!(
            "webhook answered HTTP {} (a proxy error: the receiver may have taken it)",
            resp.status
        )),
        Ok(resp) => Sent::NotDelivered(format!(
            "webhook answered HTTP {}: {}",
            resp.status,
            crate::text::clean(&resp.text(), 200)
        )),
        Err(e) if common::http::maybe_sent(&e) => Sent::Ambiguous(format!(
            "no answer after the request went out: {}",
            common::exit::one_line(&e)
        )),
        Err(e) => Sent::NotDelivered(common::exit::one_line(&e)),
    }
}

/// The id a webhook returned (`id`, `message_id`, `messageId`, `ts`), else `HTTP <status>`.
fn webhook_id(resp: &common::http::Response) -> String {
    resp.json::<serde_json::Value>()
        .ok()
        .and_then(|v| {
            ["id", "message_id", "messageId", "ts"]
                .iter()
                .find_map(|k| match v.get(*k) {
                    Some(serde_json::Value::String(s)) => Some(crate::text::clean(s, 200)),
                    Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                })
        })
        .unwrap_or_else(|| format!("HTTP {}", resp.status))
}

/// Look for `report_id` at the destination; `since`: when the attempt began.
pub fn look_for(t: &mut Target<'_>, report_id: &str, since: DateTime<Utc>) -> Found {
    let needle = format!("report-id: {report_id}");
    match t.dest.kind {
        DestKind::Directory => {
            let Some(dir) = &t.dir else {
                return Found::CannotCheck("no path configured".into());
            };
            let p = dir.join(format!("{report_id}.md"));
            match std::fs::read_to_string(&p) {
                Ok(text) if text.contains(&needle) => Found::Yes(p.display().to_string()),
                Ok(_) => Found::No { exact: true },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Found::No { exact: true },
                Err(e) => Found::CannotCheck(format!("cannot read {}: {e}", p.display())),
            }
        }
        DestKind::Webhook => {
            Found::CannotCheck("a webhook cannot be asked what it received".into())
        }
        DestKind::Teams => look_in_chat(t, &needle, since),
    }
}

fn look_in_chat(t: &mut Target<'_>, needle: &str, since: DateTime<Utc>) -> Found {
    let (Some(g), Some(chat)) = (t.graph.as_mut(), t.dest.chat_id.as_deref()) else {
        return Found::CannotCheck("no chat configured".into());
    };
    // Every message changed since shortly before the attempt, all pages: exact however busy
    // the chat is.
    let q = ListQuery {
        modified_after: Some(since - Duration::minutes(5)),
        top: 50,
    };
    let mut found = None;
    let r = g.list_messages(chat, &q, |page| {
        found = page
            .messages
            .iter()
            .find(|m| m.content.contains(needle))
            .map(|m| m.id.clone());
        Ok(if found.is_some() {
            Flow::Stop
        } else {
            Flow::Continue
        })
    });
    match (r, found) {
        (_, Some(id)) => Found::Yes(id),
        (Ok(()), None) => Found::No { exact: false },
        (Err(e), None) => Found::CannotCheck(format!(
            "cannot list the chat to look for it: {}",
            common::exit::one_line(&e)
        )),
    }
}
