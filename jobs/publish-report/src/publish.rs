//! Publishing a report exactly once per period and destination.
//!
//! Promise: for one period and destination, a report is sent at most once unless an operator
//! says `--force`; a report that failed for certain is sent again by the next run.
//!
//! How: before anything leaves the machine the delivery is recorded as `sending` (with the
//! report id that the message carries) and the state is checkpointed; after the send it becomes
//! `sent` with the id the destination returned. A later run that finds `sending` (the previous
//! one died between the two) or a send whose result is ambiguous (a timeout or a connection cut
//! after the request went out) checks the destination where it can (a directory: is the file
//! there? a Teams chat: is a message with the report id there?) and otherwise records `unknown`,
//! raises an alert and does not send again. A chat may show a message late, so "not in the
//! chat" only counts as "never arrived" once `settle_secs` have passed since the attempt;
//! before that the delivery stays `unknown` and later runs look again. A webhook cannot be
//! asked: its `unknown` stays until an operator runs `--force`.
//!
//! Guardrails: at most `max_publishes_per_day` send attempts per destination per local day;
//! after `failure_threshold` failures in a row a destination is skipped for `cooloff_secs`
//! and an alert says so.

use crate::collect::Report;
use crate::config::{Config, DestKind, Destination};
use crate::period::Period;
use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use common::alert::Severity;
use common::http::{Http, Method, Retry};
use common::{Ctx, OutcomeKind};
use graph::{Flow, Graph, GraphConfig, ListQuery};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Periods kept in the delivery book.
const KEEP_PERIODS: usize = 120;

/// Where one delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Intent recorded; the send was (maybe) under way.
    Sending,
    Sent,
    /// Not delivered, for certain; the next run tries again.
    Failed,
    /// Maybe delivered; not sent again without `--force`.
    Unknown,
}

/// One delivery of one period's report to one destination.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub status: Status,
    /// The id embedded in the message (`report-id: …`).
    pub report_id: String,
    /// Send attempts for this period.
    pub attempts: u32,
    /// Forced re-sends so far (each gets its own report id).
    #[serde(default)]
    pub generation: u32,
    pub intent_at: DateTime<Utc>,
    #[serde(default)]
    pub sent_at: Option<DateTime<Utc>>,
    /// What the destination returned (message id, file path).
    #[serde(default)]
    pub message_id: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

/// Per-destination guardrail counters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct DestStats {
    /// Local day (`YYYY-MM-DD`) of `sends_today`.
    pub day: String,
    pub sends_today: u32,
    pub consecutive_failures: u32,
    pub cooloff_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub sent_total: u64,
}

/// The job's own state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Data {
    /// Period key (`daily:2026-11-21`) → destination name → delivery.
    pub deliveries: BTreeMap<String, BTreeMap<String, Delivery>>,
    pub destinations: BTreeMap<String, DestStats>,
    /// The last report written to `reports/`.
    pub last_report: Option<LastReport>,
    /// Model token use and budgets (analysis paragraph).
    pub tokens: model::TokenLedger,
}

/// The last report written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastReport {
    pub period: String,
    pub report_id: String,
    pub generated_at: DateTime<Utc>,
    pub overall: String,
}

/// What happened at one destination in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Result1 {
    Sent(String),
    /// Found at the destination after an interrupted run.
    Confirmed(String),
    AlreadySent,
    Unknown(String),
    Failed(String),
    Capped,
    CoolingOff(DateTime<Utc>),
    DryRun,
    Stopped,
}

impl Result1 {
    pub fn is_bad(&self) -> bool {
        matches!(
            self,
            Result1::Unknown(_) | Result1::Failed(_) | Result1::Capped | Result1::CoolingOff(_)
        )
    }
}

/// The outcome of a send.
enum Sent {
    Ok(String),
    /// The destination answered no, or the request never reached it.
    Definite(String),
    /// The request may have been delivered.
    Ambiguous(String),
}

/// What a destination check found.
enum Found {
    Yes(String),
    /// Not there. `exact`: the check cannot miss a report that arrived (a local directory);
    /// otherwise (a chat) a slow server may still add it.
    No {
        exact: bool,
    },
    CannotCheck(String),
}

/// The report id embedded in messages: stable per period and host, with a suffix per forced
/// re-send so a check never mistakes an older copy for the new one.
pub fn report_id(period: &Period, host: &str, generation: u32) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(host.as_bytes());
    let base = format!(
        "ajr-{}-{}-{:02x}{:02x}{:02x}",
        period.kind.as_str(),
        period.id,
        h[0],
        h[1],
        h[2]
    );
    if generation == 0 {
        base
    } else {
        format!("{base}-f{generation}")
    }
}

/// Resolved destination (secrets, paths, Graph client).
struct Target<'a> {
    d: &'a Destination,
    url: Option<common::config::Secret>,
    dir: Option<PathBuf>,
    graph: Option<Graph>,
}

fn local_day(now: DateTime<Utc>, cfg: &Config) -> String {
    now.with_timezone(&cfg.tz()).format("%Y-%m-%d").to_string()
}

fn http_for(ctx: &Ctx<Data>, d: &Destination) -> Result<Http> {
    let mut hc = ctx.runtime.http.clone();
    if let Some(s) = d.timeout_secs {
        hc.timeout_secs = s;
    }
    Ok(Http::new(&hc, ctx.deadline())?.with_stop(ctx.stop.clone()))
}

/// The Graph settings of a Teams destination: its own `graph`, else poll-teams' `graph`.
fn graph_config(ctx: &Ctx<Data>, d: &Destination, i: usize) -> Result<(GraphConfig, String)> {
    if let Some(g) = &d.graph {
        return Ok((g.clone(), format!("publish-report.destinations[{i}].graph")));
    }
    let raw = ctx
        .config
        .raw_section("poll-teams")
        .and_then(|v| v.get("graph"))
        .cloned()
        .ok_or_else(|| {
            common::config_error(format!(
                "{}: `publish-report.destinations[{i}]` is a teams destination but neither it nor `poll-teams` has a `graph` object",
                ctx.config.path.display()
            ))
        })?;
    let g: GraphConfig = serde_path_to_error::deserialize(raw).map_err(|e| {
        common::config_error(format!(
            "{}: `poll-teams.graph.{}`: {}",
            ctx.config.path.display(),
            e.path(),
            e.inner()
        ))
    })?;
    Ok((g, "poll-teams.graph".into()))
}

fn target<'a>(ctx: &Ctx<Data>, d: &'a Destination, i: usize) -> Result<Target<'a>> {
    let graph = match d.kind {
        DestKind::Teams => {
            let (g, key) = graph_config(ctx, d, i)?;
            Some(Graph::new(
                http_for(ctx, d)?,
                g,
                &ctx.paths.root,
                &key,
                !ctx.dry_run,
            )?)
        }
        _ => None,
    };
    let url = match d.kind {
        DestKind::Webhook => match &d.url {
            Some(u) => Some(common::config::Secret::new(u.clone())),
            None => ctx.secret(
                &format!("publish-report.destinations[{i}].url"),
                d.url_env.as_deref(),
                d.url_file.as_deref(),
            )?,
        },
        DestKind::Directory | DestKind::Teams => None,
    };
    Ok(Target {
        d,
        url,
        dir: d.path.as_ref().map(|p| ctx.paths.resolve(p)),
        graph,
    })
}

/// Publish `report` to every configured destination.
pub fn publish_all(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    report: &Report,
    period: &Period,
    force: bool,
) -> Result<Vec<(String, Result1)>> {
    let mut out = Vec::new();
    // Resolve every destination first: a config mistake stops the run before anything is sent.
    let mut targets = Vec::new();
    for (i, d) in cfg.destinations.iter().enumerate() {
        targets.push(target(ctx, d, i)?);
    }
    for mut t in targets {
        let d = t.d;
        if ctx.should_stop() {
            out.push((d.name.clone(), Result1::Stopped));
            continue;
        }
        let r = publish_one(ctx, cfg, &mut t, report, period, force)?;
        match &r {
            Result1::Sent(id) => log::info!("published {} to {}: {id}", period.key(), d.name),
            Result1::Confirmed(id) => log::warn!(
                "{}: the report for {} was already there ({id}) after an interrupted run; recorded it as sent",
                d.name,
                period.key()
            ),
            _ => {}
        }
        out.push((d.name.clone(), r));
    }
    prune(&mut ctx.state.data);
    Ok(out)
}

fn prune(data: &mut Data) {
    while data.deliveries.len() > KEEP_PERIODS {
        let Some(oldest) = data
            .deliveries
            .iter()
            .filter_map(|(k, m)| {
                m.values()
                    .map(|d| d.intent_at)
                    .max()
                    .map(|t| (t, k.clone()))
            })
            .min()
            .map(|(_, k)| k)
        else {
            break;
        };
        data.deliveries.remove(&oldest);
    }
}

fn set(ctx: &mut Ctx<Data>, key: &str, dest: &str, d: Delivery) {
    ctx.state
        .data
        .deliveries
        .entry(key.to_string())
        .or_default()
        .insert(dest.to_string(), d);
}

fn publish_one(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    t: &mut Target<'_>,
    report: &Report,
    period: &Period,
    force: bool,
) -> Result<Result1> {
    let name = t.d.name.as_str();
    let key = period.key();
    let now = Utc::now();
    let prev = ctx
        .state
        .data
        .deliveries
        .get(&key)
        .and_then(|m| m.get(name))
        .cloned();
    let mut generation = prev.as_ref().map_or(0, |p| p.generation);
    if let Some(p) = &prev {
        match p.status {
            Status::Sent if !force => return Ok(Result1::AlreadySent),
            Status::Unknown | Status::Sending if !force => {
                // `sending`: the previous run died between recording the intent and the result.
                // `unknown`: a send whose result was ambiguous. Look at the destination.
                let age = now - p.intent_at;
                let settled = age >= Duration::seconds(cfg.settle_secs as i64);
                match check(t, &p.report_id, p.intent_at) {
                    Found::Yes(id) => {
                        if ctx.dry_run {
                            return Ok(Result1::DryRun);
                        }
                        let mut d = p.clone();
                        d.status = Status::Sent;
                        d.sent_at = Some(now);
                        d.message_id = Some(id.clone());
                        d.error = None;
                        set(ctx, &key, name, d);
                        let st = ctx.state.data.destinations.entry(name.into()).or_default();
                        st.consecutive_failures = 0;
                        st.sent_total += 1;
                        ctx.checkpoint()?;
                        return Ok(Result1::Confirmed(id));
                    }
                    Found::No { exact: true } => log::info!(
                        "{name}: an interrupted run left {key} unfinished; the report is not at the destination, sending it now"
                    ),
                    Found::No { exact: false } if settled => log::warn!(
                        "{name}: the report {} for {key} is not in the chat {} min after the attempt; sending it again",
                        p.report_id,
                        age.num_minutes()
                    ),
                    found => {
                        let why = match found {
                            Found::CannotCheck(why) => why,
                            _ => format!(
                                "not in the chat yet; looked again {} s after the attempt (settles after {} s)",
                                age.num_seconds(),
                                cfg.settle_secs
                            ),
                        };
                        if p.status == Status::Unknown {
                            log::warn!(
                                "{name}: the report for {key} may or may not have been delivered ({}); not sending again: check {name} and rerun with --force to send it anyway",
                                p.error.as_deref().unwrap_or("outcome unknown")
                            );
                            return Ok(Result1::Unknown(
                                p.error.clone().unwrap_or_else(|| "outcome unknown".into()),
                            ));
                        }
                        let why = format!(
                            "a run died while sending (intent recorded {}); {why}",
                            p.intent_at.format("%Y-%m-%d %H:%M:%S UTC")
                        );
                        return mark_unknown(ctx, cfg, name, &key, p.clone(), why);
                    }
                }
            }
            Status::Sent | Status::Unknown | Status::Sending => {
                generation += 1;
                log::warn!(
                    "{name}: --force: sending the report for {key} again (previous status {:?})",
                    p.status
                );
            }
            Status::Failed => {}
        }
    }
    // Guardrails.
    let day = local_day(now, cfg);
    let cap = cfg.cap(t.d);
    {
        let st = ctx.state.data.destinations.entry(name.into()).or_default();
        if st.day != day {
            st.day = day.clone();
            st.sends_today = 0;
        }
        if let Some(until) = st.cooloff_until
            && until > now
            && !force
        {
            log::warn!(
                "{name}: cooling off after {} failures in a row until {}; not sending {key} (use --force to try now)",
                st.consecutive_failures,
                until.format("%Y-%m-%d %H:%M UTC")
            );
            return Ok(Result1::CoolingOff(until));
        }
        if st.sends_today >= cap {
            let msg = format!(
                "{name}: daily cap of {cap} publish(es) reached for {day}; not sending {key} (raise `max_per_day` or wait for tomorrow)"
            );
            ctx.alert(&format!("cap:{name}"), Severity::Warning, &msg)?;
            return Ok(Result1::Capped);
        }
    }
    let rid = report_id(period, &report.host, generation);
    if ctx.dry_run {
        log::warn!("dry run: would publish {key} to {name} as {rid}");
        return Ok(Result1::DryRun);
    }
    // Intent first.
    let attempts = prev.as_ref().map_or(0, |p| p.attempts) + 1;
    let intent = Delivery {
        status: Status::Sending,
        report_id: rid.clone(),
        attempts,
        generation,
        intent_at: now,
        sent_at: None,
        message_id: None,
        error: None,
    };
    set(ctx, &key, name, intent.clone());
    ctx.state
        .data
        .destinations
        .entry(name.into())
        .or_default()
        .sends_today += 1;
    ctx.checkpoint()?;

    let mut rep = report.clone();
    rep.report_id = rid.clone();
    let result = send(ctx, t, &rep, period);
    let result = match result {
        Sent::Ambiguous(e) => match check(t, &rid, now) {
            Found::Yes(id) => Sent::Ok(id),
            Found::No { exact: true } => Sent::Definite(e),
            Found::No { exact: false } => Sent::Ambiguous(format!(
                "{e}; not in the chat yet (looked right away; checked again by the next run)"
            )),
            Found::CannotCheck(why) => Sent::Ambiguous(format!("{e}; {why}")),
        },
        r => r,
    };
    match result {
        Sent::Ok(id) => {
            let mut d = intent;
            d.status = Status::Sent;
            d.sent_at = Some(Utc::now());
            d.message_id = Some(id.clone());
            set(ctx, &key, name, d);
            let st = ctx.state.data.destinations.entry(name.into()).or_default();
            st.consecutive_failures = 0;
            st.cooloff_until = None;
            st.last_error = None;
            st.sent_total += 1;
            ctx.metric_add("published", 1);
            ctx.checkpoint()?;
            Ok(Result1::Sent(id))
        }
        Sent::Definite(e) => {
            let mut d = intent;
            d.status = Status::Failed;
            d.error = Some(e.clone());
            set(ctx, &key, name, d);
            log::error!("{name}: publishing {key} failed: {e}");
            failure(ctx, cfg, name, &e)?;
            ctx.checkpoint()?;
            Ok(Result1::Failed(e))
        }
        Sent::Ambiguous(e) => mark_unknown(ctx, cfg, name, &key, intent, e),
    }
}

fn failure(ctx: &mut Ctx<Data>, cfg: &Config, name: &str, e: &str) -> Result<()> {
    ctx.metric_add("publish_failures", 1);
    let st = ctx.state.data.destinations.entry(name.into()).or_default();
    st.consecutive_failures += 1;
    st.last_error = Some(e.to_string());
    let n = st.consecutive_failures;
    if n >= cfg.failure_threshold {
        let until = Utc::now() + Duration::seconds(cfg.cooloff_secs as i64);
        st.cooloff_until = Some(until);
        let msg = format!(
            "destination {name} failed {n} times in a row (last: {e}); skipping it until {}",
            until.format("%Y-%m-%d %H:%M UTC")
        );
        ctx.checkpoint()?;
        ctx.alert(&format!("cooloff:{name}"), Severity::Warning, &msg)?;
    }
    Ok(())
}

fn mark_unknown(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    name: &str,
    key: &str,
    mut d: Delivery,
    why: String,
) -> Result<Result1> {
    d.status = Status::Unknown;
    d.error = Some(why.clone());
    let rid = d.report_id.clone();
    set(ctx, key, name, d);
    ctx.metric_add("publish_unknown", 1);
    ctx.checkpoint()?;
    // Counts toward the cool-off like a failure.
    failure(ctx, cfg, name, &why)?;
    ctx.checkpoint()?;
    let msg = format!(
        "the report {key} may or may not have reached {name} ({why}); look for `report-id: {rid}` there. It will not be sent again unless publish-report is run with --force"
    );
    ctx.alert_with_interval(
        &format!("unknown:{name}:{key}"),
        Severity::Warning,
        &msg,
        Some(std::time::Duration::ZERO),
    )?;
    Ok(Result1::Unknown(why))
}

/// Look for a report id at the destination (`since`: when the attempt began).
fn check(t: &mut Target<'_>, rid: &str, since: DateTime<Utc>) -> Found {
    let needle = format!("report-id: {rid}");
    match t.d.kind {
        DestKind::Directory => {
            let Some(dir) = &t.dir else {
                return Found::CannotCheck("no path configured".into());
            };
            let p = dir.join(format!("{rid}.md"));
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
        DestKind::Teams => {
            let (Some(g), Some(chat)) = (t.graph.as_mut(), t.d.chat_id.as_deref()) else {
                return Found::CannotCheck("no chat configured".into());
            };
            // Every message changed since shortly before the attempt, all pages: exact however
            // busy the chat is.
            let q = ListQuery {
                modified_after: Some(since - Duration::minutes(5)),
                top: 50,
            };
            let mut found = None;
            let r = g.list_messages(chat, &q, |page| {
                found = page
                    .messages
                    .iter()
                    .find(|m| m.content.contains(&needle))
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
    }
}

fn send(ctx: &Ctx<Data>, t: &mut Target<'_>, r: &Report, period: &Period) -> Sent {
    match t.d.kind {
        DestKind::Teams => {
            let (Some(g), Some(chat)) = (t.graph.as_mut(), t.d.chat_id.as_deref()) else {
                return Sent::Definite("no chat configured".into());
            };
            match g.post_message(chat, &crate::render::html_fragment(r)) {
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
                        Sent::Definite(msg)
                    }
                }
            }
        }
        DestKind::Directory => {
            let Some(dir) = &t.dir else {
                return Sent::Definite("no path configured".into());
            };
            let write = || -> Result<String> {
                std::fs::create_dir_all(dir)
                    .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
                let opts = common::fsutil::FileOptions {
                    mode: Some(0o644),
                    owner: None,
                };
                let json = crate::render::json(r)?;
                common::fsutil::write_atomic_with(
                    &dir.join(format!("{}.json", r.report_id)),
                    &json,
                    opts,
                )?;
                // The Markdown copy (carrying the id line) is written last: it is what a check
                // looks for.
                let md = dir.join(format!("{}.md", r.report_id));
                common::fsutil::write_atomic_with(
                    &md,
                    crate::render::markdown(r).as_bytes(),
                    opts,
                )?;
                Ok(md.display().to_string())
            };
            match write() {
                Ok(p) => Sent::Ok(p),
                Err(e) => Sent::Definite(common::exit::one_line(&e)),
            }
        }
        DestKind::Webhook => {
            let Some(url) = &t.url else {
                return Sent::Definite("no URL configured".into());
            };
            let body = serde_json::json!({
                "text": crate::render::markdown(r),
                "html": crate::render::html_fragment(r),
                "report_id": r.report_id,
                "period": period.id,
                "period_kind": period.kind.as_str(),
                "overall": r.overall,
                "headline": r.headline,
                "generated_at": r.generated_at,
                "host": r.host,
            });
            let http = match http_for(ctx, t.d) {
                Ok(h) => h,
                Err(e) => return Sent::Definite(common::exit::one_line(&e)),
            };
            match http.send(Method::POST, url.expose(), Retry::Never, |req| {
                req.header("Idempotency-Key", r.report_id.as_str())
                    .json(&body)
            }) {
                Ok(resp) if resp.is_success() => {
                    let id = resp
                        .json::<serde_json::Value>()
                        .ok()
                        .and_then(|v| {
                            ["id", "message_id", "messageId", "ts"]
                                .iter()
                                .find_map(|k| match v.get(*k) {
                                    Some(serde_json::Value::String(s)) => Some(s.clone()),
                                    Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                                    _ => None,
                                })
                        })
                        .unwrap_or_else(|| format!("HTTP {}", resp.status));
                    Sent::Ok(id)
                }
                // A gateway timeout or bad gateway: the upstream may have taken it.
                Ok(resp) if matches!(resp.status, 502 | 504) => Sent::Ambiguous(format!(
                    "webhook answered HTTP {} (a proxy error: the receiver may have taken it)",
                    resp.status
                )),
                Ok(resp) => {
                    let body: String = resp.text().chars().take(200).collect();
                    Sent::Definite(format!(
                        "webhook answered HTTP {}: {}",
                        resp.status,
                        body.trim()
                    ))
                }
                Err(e) if common::http::maybe_sent(&e) => Sent::Ambiguous(format!(
                    "no answer after the request went out: {}",
                    common::exit::one_line(&e)
                )),
                Err(e) => Sent::Definite(common::exit::one_line(&e)),
            }
        }
    }
}

/// Summarise the destinations' results into the run's outcome kind and one line.
pub fn summarise(results: &[(String, Result1)]) -> (OutcomeKind, String, Option<String>) {
    if results.is_empty() {
        return (OutcomeKind::Ok, "no destinations configured".into(), None);
    }
    let mut parts = Vec::new();
    let mut bad = Vec::new();
    let mut any_sent = false;
    for (n, r) in results {
        let s = match r {
            Result1::Sent(_) => {
                any_sent = true;
                "sent".to_string()
            }
            Result1::Confirmed(_) => {
                any_sent = true;
                "confirmed".to_string()
            }
            Result1::AlreadySent => "already sent".to_string(),
            Result1::Unknown(e) => format!("outcome unknown ({e})"),
            Result1::Failed(e) => format!("failed ({e})"),
            Result1::Capped => "daily cap reached".to_string(),
            Result1::CoolingOff(u) => format!("cooling off until {}", u.format("%H:%M UTC")),
            Result1::DryRun => "dry run".to_string(),
            Result1::Stopped => "not tried (stopping)".to_string(),
        };
        if r.is_bad() {
            bad.push(format!("{n}: {s}"));
        }
        parts.push(format!("{n}: {s}"));
    }
    let summary = parts.join("; ");
    if !bad.is_empty() {
        (OutcomeKind::Failed, summary, Some(bad.join("; ")))
    } else if any_sent {
        (OutcomeKind::Ok, summary, None)
    } else {
        (OutcomeKind::Noop, summary, None)
    }
}
