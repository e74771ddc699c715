//! From the [`Report`] to its [`Document`]: what each section says, decided once for every
//! backend. A section whose source has published no facts is left out.

use super::doc::*;
use crate::contents::*;
use crate::text::{Text, span, when, when_or_dash};
use contracts::facts::check_ratelimit::HourCount;
use contracts::facts::poll_teams::InboxFacts;

/// The document of a report.
pub fn document(r: &Report) -> Document {
    let sections = [
        analysis(r),
        Some(jobs(r)),
        Some(run_charts()),
        Some(rate_limits(r)),
        gateway(r),
        Some(config(r)),
        memory(r),
        inbox(r),
        clock(r),
        inputs(r),
    ];
    Document {
        title: format!(
            "agent-jobs {} report {} — {}",
            r.period_kind, r.period, r.overall
        ),
        overall: r.overall.clone(),
        headline: r.headline.clone(),
        subtitle: Text::plain(format!(
            "Period {} → {} ({}), host ",
            when(r.from),
            when(r.as_of),
            r.timezone
        ))
        .val(&r.host),
        banners: banners(r),
        sections: sections.into_iter().flatten().collect(),
        footer: Text::plain(format!(
            "Logs: {} warning and {} error lines in the period.",
            r.log_warnings, r.log_errors
        )),
        id_line: id_line(r),
    }
}

/// The line every published copy carries: how a destination is searched for a report.
pub fn id_line(r: &Report) -> String {
    format!("report-id: {}", r.report_id)
}

fn banners(r: &Report) -> Vec<Banner> {
    let mut out = Vec::new();
    if let Some(p) = &r.suite_paused {
        let mut t = Text::new().strong("Suite paused");
        if let Some(b) = &p.by {
            t = t.words(" by ").val(b);
        }
        if let Some(a) = p.at {
            t = t.words(format!(" at {}", when(a)));
        }
        if let Some(x) = &p.reason {
            t = t.words(": ").val(x);
        }
        out.push(Banner {
            class: "paused",
            text: t,
        });
    }
    if let Some(m) = &r.maintenance {
        let mut t = Text::new().strong("Planned maintenance");
        if let Some(u) = m.until {
            t = t.words(format!(" until {}", when(u)));
        }
        if let Some(x) = &m.reason {
            t = t.words(": ").val(x);
        }
        out.push(Banner {
            class: "paused",
            text: t.words(" (nothing is restarted or alerted)"),
        });
    }
    out
}

fn analysis(r: &Report) -> Option<Section> {
    let a = r.analysis.as_ref()?;
    let mut blocks = vec![Block::Prose(a.clone())];
    if r.analysis_source.as_deref() == Some("model") {
        blocks.push(Block::Note(Text::plain(
            "Written by the model from the facts below.",
        )));
    }
    Some(Section {
        id: "analysis",
        title: "Analysis",
        blocks,
        chat: vec![Text::plain(a.clone())],
    })
}

fn duration(ms: u64) -> String {
    match ms {
        ms if ms < 1000 => format!("{ms} ms"),
        ms if ms < 120_000 => format!("{:.1} s", ms as f64 / 1000.0),
        ms => format!("{:.1} min", ms as f64 / 60_000.0),
    }
}

fn schedule(j: &JobReport) -> Text {
    match (j.schedules.is_empty(), j.paused_schedules.is_empty()) {
        (false, _) => Text::value(j.schedules.join(", ")),
        (true, false) => Text::value(format!("# {}", j.paused_schedules.join(", "))),
        (true, true) => Text::plain("—"),
    }
}

fn jobs(r: &Report) -> Section {
    let rows = r
        .jobs
        .iter()
        .map(|j| {
            let last = j.last_run.as_ref();
            vec![
                Cell::Job(j.name.clone()),
                Cell::Status(j.status),
                last.map_or_else(|| "never".into(), |l| when(l.started_at))
                    .into(),
                last.map_or_else(
                    || "—".into(),
                    |l| format!("{} in {}", l.outcome.as_str(), duration(l.duration_ms)),
                )
                .into(),
                Cell::Text(schedule(j)),
                format!("{} ({})", j.runs_in_period.total, j.runs_in_period.failed).into(),
                format!("{}/{}", j.log_warnings, j.log_errors).into(),
                when_or_dash(j.next_due).into(),
            ]
        })
        .collect();
    let mut blocks = vec![Block::Table(Table {
        id: Some("jobs"),
        head: vec![
            "job",
            "status",
            "last run",
            "result",
            "schedule",
            "runs (failed)",
            "warn/error lines",
            "next run",
        ],
        rows,
    })];
    let notes: Vec<Text> = r
        .jobs
        .iter()
        .filter(|j| j.status != JobStatus::Ok)
        .map(|j| {
            Text::new()
                .strong(&j.name)
                .words(format!(" ({}): ", j.status.as_str()))
                .then(j.detail.clone())
        })
        .collect();
    if !notes.is_empty() {
        blocks.push(Block::List(notes));
    }
    let chat = r
        .jobs
        .iter()
        .map(|j| {
            Text::plain(format!("{} ", badge(j.status)))
                .strong(&j.name)
                .words(format!(": {} — ", j.status.as_str()))
                .then(j.detail.clone())
        })
        .collect();
    Section {
        id: "jobs-section",
        title: "Jobs",
        blocks,
        chat,
    }
}

fn run_charts() -> Section {
    Section {
        id: "runs",
        title: "Last 50 runs",
        blocks: vec![Block::RunCharts],
        chat: vec![],
    }
}

fn circuit_line(c: &CircuitView) -> Text {
    if !c.open {
        return Text::plain("Circuit closed.");
    }
    let mut t = Text::plain("Circuit ").strong("open");
    if let Some(k) = &c.kind {
        t = t.words(" (").val(k).words(")");
    }
    if let Some(s) = c.since {
        t = t.words(format!(" since {}", when(s)));
    }
    if let Some(s) = c.reset_at {
        t = t.words(format!(", reset expected {}", when(s)));
    }
    if c.refusals > 0 {
        t = t.words(format!(", {} refusal(s) counted", c.refusals));
    }
    if let Some(x) = &c.reason {
        t = t.words(": ").val(x);
    }
    t.words(".")
}

fn rate_limits(r: &Report) -> Section {
    let mut blocks = vec![Block::Para(circuit_line(&r.circuit))];
    let mut chat = Vec::new();
    if r.circuit.open {
        chat.push(Text::plain("Rate-limit ").then(circuit_line(&r.circuit)));
    } else if !r.incidents.is_empty() {
        chat.push(Text::plain(format!(
            "{} rate-limit incident(s) in the period, none open now.",
            r.incidents.len()
        )));
    }
    if let Some(v) = &r.ratelimit {
        blocks.push(Block::Para(calls_line(v)));
        if !v.hours.is_empty() {
            blocks.push(Block::Table(calls_table(&v.hours)));
        }
        if !v.idle_burn.is_empty() {
            blocks.push(Block::Para(
                Text::new()
                    .strong("Idle burn")
                    .words(" (model calls nothing explains):"),
            ));
            blocks.push(Block::List(
                v.idle_burn
                    .iter()
                    .map(|e| Text::plain(format!("{}: ", when(e.at))).val(&e.message))
                    .collect(),
            ));
        }
        chat.push(calls_line(v));
    }
    if r.incidents.is_empty() {
        blocks.push(Block::Para(Text::plain("No incidents in the period.")));
    } else {
        blocks.push(Block::Table(incidents_table(r)));
    }
    Section {
        id: "rate-limits",
        title: "Rate limits",
        blocks,
        chat,
    }
}

fn calls_line(v: &RatelimitView) -> Text {
    let mut s = format!("Model calls in the period: {}", v.calls);
    if let Some(t) = v.tokens {
        s.push_str(&format!(" ({t} tokens)"));
    }
    if let Some(b) = v
        .hours
        .iter()
        .max_by_key(|h| (h.calls, std::cmp::Reverse(h.hour)))
    {
        s.push_str(&format!(
            "; busiest hour {} with {} calls",
            when(b.hour),
            b.calls
        ));
    }
    Text::plain(s + ".")
}

/// Calls per hour (a daily period) or per day (longer periods).
fn calls_table(hours: &[HourCount]) -> Table {
    let daily = hours.len() > 24;
    let mut rows: Vec<(String, u64, Option<u64>)> = Vec::new();
    for h in hours {
        let key = if daily {
            h.hour.format("%Y-%m-%d").to_string()
        } else {
            when(h.hour)
        };
        match rows.last_mut() {
            Some(last) if last.0 == key => {
                last.1 += h.calls;
                last.2 = match (last.2, h.tokens) {
                    (Some(a), Some(b)) => Some(a.saturating_add(b)),
                    (a, b) => a.or(b),
                };
            }
            _ => rows.push((key, h.calls, h.tokens)),
        }
    }
    Table {
        id: Some("calls"),
        head: vec![if daily { "day" } else { "hour" }, "model calls", "tokens"],
        rows: rows
            .into_iter()
            .map(|(k, c, t)| {
                vec![
                    k.into(),
                    c.to_string().into(),
                    t.map_or_else(|| "—".into(), |t| t.to_string()).into(),
                ]
            })
            .collect(),
    }
}

fn incidents_table(r: &Report) -> Table {
    let opt = |v: &Option<String>| v.as_deref().map_or_else(|| Text::plain("—"), Text::value);
    let rows = r
        .incidents
        .iter()
        .map(|i| {
            let who = [&i.provider, &i.model, &i.profile]
                .iter()
                .map(|v| opt(v))
                .reduce(|a, b| a.words(" / ").then(b))
                .unwrap_or_default();
            vec![
                Text::value(&i.id).into(),
                Text::value(&i.kind).into(),
                Cell::Text(who),
                when(i.started_at).into(),
                i.ended_at.map_or_else(|| "open".into(), when).into(),
                i.refusals.to_string().into(),
                Text::value(&i.reason).into(),
            ]
        })
        .collect();
    Table {
        id: Some("incidents"),
        head: vec![
            "incident",
            "kind",
            "provider / model / profile",
            "started",
            "ended",
            "refusals",
            "reason",
        ],
        rows,
    }
}

fn gateway(r: &Report) -> Option<Section> {
    let g = r.gateway.as_ref()?;
    let mut blocks = Vec::new();
    let mut chat = Vec::new();
    if let Some(h) = &g.health {
        let line = health_line(h);
        chat.push(line.clone());
        blocks.push(Block::Para(line));
        if !h.incidents.is_empty() {
            blocks.push(Block::Table(gateway_incidents(h)));
        }
    }
    if let Some(l) = &g.log {
        blocks.push(Block::Para(gateway_log_line(l)));
    }
    Some(Section {
        id: "gateway",
        title: "Gateway",
        blocks,
        chat,
    })
}

fn health_line(h: &GatewayHealth) -> Text {
    let mut t = Text::plain("Gateway ").strong(&h.health);
    if let Some(s) = h.since {
        t = t.words(format!(" since {}", when(s)));
    }
    if let Some(p) = h.last_probe_at {
        t = t.words(format!(" (last probe {})", when(p)));
    }
    t = t.words(format!(
        "; {} restart(s) in the last hour",
        h.restarts_last_hour
    ));
    let recovered: Vec<i64> = h.incidents.iter().filter_map(|i| i.recover_secs).collect();
    if !recovered.is_empty() {
        let worst = recovered.iter().copied().max().unwrap_or(0);
        t = t.words(format!(
            "; {} incident(s) in the period, longest {} to recover",
            h.incidents.len(),
            span(worst)
        ));
    }
    if let Some(x) = &h.halted {
        t = t.words("; ").strong("recovery halted").words(": ").val(x);
    }
    t.words(".")
}

fn gateway_incidents(h: &GatewayHealth) -> Table {
    let rows = h
        .incidents
        .iter()
        .map(|i| {
            vec![
                Text::value(&i.id).into(),
                when_or_dash(i.started_at).into(),
                i.recovered_at.map_or_else(|| "not yet".into(), when).into(),
                i.recover_secs.map_or_else(|| "—".into(), span).into(),
                Text::value(i.steps.join(" → ")).into(),
                i.diagnosis
                    .as_deref()
                    .map_or_else(|| Text::plain("—"), Text::value)
                    .into(),
            ]
        })
        .collect();
    Table {
        id: Some("gateway-incidents"),
        head: vec![
            "incident",
            "started",
            "recovered",
            "time to recover",
            "steps",
            "diagnosis",
        ],
        rows,
    }
}

fn gateway_log_line(l: &GatewayLog) -> Text {
    let mut t = Text::plain("Gateway log (").val(&l.source).words(format!(
        "): {} record(s) in the period, {} warning(s), {} error(s); newest record {}",
        l.records,
        l.warnings,
        l.errors,
        when_or_dash(l.last_record_at)
    ));
    if l.files.is_empty() {
        t = t.words("; no log file written in the period");
    }
    if let Some(e) = &l.last_error {
        t = t.words(". Last error: ").val(e);
    }
    t.words(".")
}

fn config(r: &Report) -> Section {
    let mut blocks = Vec::new();
    let mut chat = Vec::new();
    match &r.backups {
        Some(b) => backup_blocks(b, &mut blocks),
        None => blocks.push(Block::Para(Text::plain("No facts from backup-config yet."))),
    }
    if r.config_problems.is_empty() {
        blocks.push(Block::Para(Text::plain("No config problems.")));
    } else {
        blocks.push(Block::List(r.config_problems.clone()));
        chat.push(Text::plain(format!(
            "{} config problem(s).",
            r.config_problems.len()
        )));
    }
    Section {
        id: "config",
        title: "Config and backups",
        blocks,
        chat,
    }
}

fn backup_blocks(b: &BackupView, blocks: &mut Vec<Block>) {
    blocks.push(Block::Para(Text::plain(format!(
        "Snapshots: {}; latest {}.",
        b.snapshots,
        when_or_dash(b.latest_snapshot)
    ))));
    if !b.files.is_empty() {
        blocks.push(Block::Table(configs_table(b)));
    }
    if !b.databases.is_empty() {
        blocks.push(Block::Table(databases_table(b)));
    }
    blocks.extend(events(
        "The gateway's own rollbacks in the period:",
        &b.rollbacks,
    ));
    blocks.extend(events(
        "Invalid or suspicious versions seen in the period:",
        &b.invalid_events,
    ));
}

/// Each watched config with its verdicts by validator.
fn configs_table(b: &BackupView) -> Table {
    let rows = b
        .files
        .iter()
        .map(|f| {
            let verdicts = f
                .verdicts
                .iter()
                .map(Text::value)
                .reduce(|a, x| a.words("; ").then(x));
            vec![
                Text::value(&f.name)
                    .words(" ")
                    .then(Text::value(&f.path))
                    .into(),
                Text::value(&f.status).into(),
                f.snapshots.to_string().into(),
                when_or_dash(f.latest_snapshot_at).into(),
                when_or_dash(f.last_good_at).into(),
                Cell::Text(verdicts.unwrap_or_else(|| Text::plain("—"))),
            ]
        })
        .collect();
    Table {
        id: Some("configs"),
        head: vec![
            "config",
            "status",
            "snapshots",
            "latest snapshot",
            "last good",
            "verdicts by validator",
        ],
        rows,
    }
}

fn databases_table(b: &BackupView) -> Table {
    let rows = b
        .databases
        .iter()
        .map(|d| {
            vec![
                Text::value(&d.path).into(),
                d.snapshots.to_string().into(),
                when_or_dash(d.latest_snapshot_at).into(),
                d.problem
                    .as_deref()
                    .map_or_else(|| Text::plain("ok"), Text::value)
                    .into(),
            ]
        })
        .collect();
    Table {
        id: Some("databases"),
        head: vec!["gateway database", "snapshots", "latest snapshot", "state"],
        rows,
    }
}

/// A titled list of events (none when there are none).
fn events(title: &str, ev: &[contracts::facts::Event]) -> Vec<Block> {
    if ev.is_empty() {
        return Vec::new();
    }
    vec![
        Block::Para(Text::new().strong(title)),
        Block::List(
            ev.iter()
                .map(|e| Text::plain(format!("{}: ", when(e.at))).val(&e.message))
                .collect(),
        ),
    ]
}

fn memory(r: &Report) -> Option<Section> {
    let m = r.memory.as_ref()?;
    let mut blocks = Vec::new();
    let mut chat = Vec::new();
    if m.over_budget {
        blocks.push(Block::Para(Text::new().strong("Over budget.")));
        chat.push(Text::plain("Memory over budget."));
    }
    match &m.budget {
        Some(b) => {
            blocks.push(Block::Para(
                Text::plain("Budget source: ").val(&b.source).words(format!(
                    ". Total {} of {} characters (per file {}); measured {}.",
                    b.total_chars,
                    b.total_limit,
                    b.per_file_limit,
                    when_or_dash(b.measured_at)
                )),
            ));
            if !b.problems.is_empty() {
                blocks.push(Block::List(
                    b.problems
                        .iter()
                        .map(|p| Text::plain("⚠️ ").val(p))
                        .collect(),
                ));
            }
            let rows = b
                .files
                .iter()
                .map(|f| {
                    let state = if f.retired {
                        "retired (no longer injected)"
                    } else if f.over {
                        "over"
                    } else {
                        "ok"
                    };
                    vec![
                        Text::value(&f.name).into(),
                        f.chars.to_string().into(),
                        f.limit.to_string().into(),
                        state.into(),
                    ]
                })
                .collect();
            blocks.push(Block::Table(Table {
                id: Some("budget"),
                head: vec!["file", "chars", "limit", "state"],
                rows,
            }));
        }
        None => blocks.push(Block::Para(Text::plain(
            "No budget report from compact-memory yet.",
        ))),
    }
    blocks.push(Block::Para(Text::plain(format!(
        "Digests written: {}; notes archived: {}; newest day compacted: {}.",
        m.digests,
        m.archived,
        m.last_compacted_day
            .map_or_else(|| "—".into(), |d| d.to_string())
    ))));
    Some(Section {
        id: "memory",
        title: "Memory budget",
        blocks,
        chat,
    })
}

fn inbox(r: &Report) -> Option<Section> {
    let i: &InboxFacts = r.inbox.as_ref()?;
    let intake = Text::plain(format!(
        "Inbox: {} pending, {} delivered to the gateway, {} rejected; last message {}, last delivery {}.",
        i.pending,
        i.delivered,
        i.rejected,
        when_or_dash(i.last_message_at),
        when_or_dash(i.last_delivery_at)
    ));
    let replies = Text::plain(format!(
        "Replies: {} message(s) left unanswered, {} duplicated agent reply(ies) (since records began).",
        i.unanswered, i.duplicate_replies
    ));
    let chat = (i.pending > 0 || i.unanswered > 0 || i.duplicate_replies > 0)
        .then(|| {
            Text::plain(format!(
                "Inbox: {} pending, {} unanswered, {} duplicated replies.",
                i.pending, i.unanswered, i.duplicate_replies
            ))
        })
        .into_iter()
        .collect();
    Some(Section {
        id: "inbox",
        title: "Teams inbox",
        blocks: vec![Block::Para(intake), Block::Para(replies)],
        chat,
    })
}

fn clock(r: &Report) -> Option<Section> {
    if r.clock_skew.is_empty() {
        return None;
    }
    let rows = r
        .clock_skew
        .iter()
        .map(|c| {
            vec![
                Text::value(&c.source).into(),
                Text::value(&c.what).into(),
                when(c.value).into(),
                span(c.ahead_secs).into(),
            ]
        })
        .collect();
    let worst = r.clock_skew.iter().map(|c| c.ahead_secs).max().unwrap_or(0);
    Some(Section {
        id: "clock",
        title: "Clock skew",
        blocks: vec![
            Block::Para(Text::plain(
                "These times are later than this machine's clock: the clock or the writer is wrong. \
                 The dead-man check does not trust them; it uses the run history and the log files' times instead.",
            )),
            Block::Table(Table {
                id: Some("clock-skew"),
                head: vec!["file", "what", "time", "ahead by"],
                rows,
            }),
        ],
        chat: vec![Text::plain(format!(
            "Clock skew: {} time(s) up to {} ahead of the clock.",
            r.clock_skew.len(),
            span(worst)
        ))],
    })
}

fn inputs(r: &Report) -> Option<Section> {
    if r.input_problems.is_empty() {
        return None;
    }
    Some(Section {
        id: "input-problems",
        title: "Inputs that could not be read",
        blocks: vec![Block::List(
            r.input_problems.iter().map(Text::value).collect(),
        )],
        chat: vec![],
    })
}
