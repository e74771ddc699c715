//! The gateway's silent rollbacks of its own config, and what they cost the user.
//!
//! OpenClaw 2026.9.6 repairs its config by itself (research `config.md` §3, gateway source
//! `io.snapshot`, `doctor-config-preflight`, `io.write`): at start and on `doctor --fix` it
//! replaces a "suspicious" config with its `.bak` (`Config auto-restored from backup: <cfg>
//! (<reasons>)`), `doctor --fix` restores `.last-good` over an invalid one (`Config
//! auto-restored from last-known-good: …`) or strips a non-JSON prefix (`Config auto-stripped
//! non-JSON prefix: …`), and a gateway-owned write it finds suspicious is refused (`Config
//! write rejected: …`). Each keeps what it threw away as `<cfg>.clobbered.<ts>` or
//! `<cfg>.rejected.<ts>` (`<ts>` = ISO time with `:` and `.` as `-`) and writes one line to
//! its console, which also lands in its JSONL log: the configured `logging.file`, or the
//! default `/tmp/openclaw/openclaw-YYYY-MM-DD.log` when the config it read had none (both are
//! read here). The user's edit is gone without a word (#90546, #90551, #126806).
//!
//! Gather: new `.clobbered.*` / `.rejected.*` files next to the watched files (the first look
//! only takes note), the new lines of the gateway's logs since the last run (the first look
//! starts at their end), and whether the config went back to an earlier snapshot's content.
//! Decide (pure): one rollback per gateway act — a message and the file it kept, written
//! within seconds of each other, are one rollback, also across two runs. Act: one alert per
//! rollback, with a masked diff of what was lost against what is live now and how to apply
//! it again; a copy of the lost version under `<backups>/<name>/rejected/` (the gateway keeps
//! only its newest 32 `.clobbered.*`); a record for the report.

use crate::config::{Config, FileConfig};
use crate::data::{Data, LogCursor, ROLLBACKS_KEPT, Rollback};
use crate::decide::fmt_time;
use crate::hourly::{Report, alert_once};
use crate::store;
use anyhow::Result;
use chrono::{DateTime, NaiveDateTime, Utc};
use common::{Ctx, Severity};
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Two pieces of evidence this close in time are the same rollback.
const SAME_ACT_SECS: i64 = 10;
/// Most bytes of one log file read per run (the rest is skipped, logged).
const MAX_LOG_READ: u64 = 16 << 20;

/// The messages the gateway writes when it rolls its config back (or notices it would).
pub const MESSAGES: [(&str, &str); 5] = [
    (
        "Config auto-restored from backup: ",
        "auto-restored from backup",
    ),
    (
        "Config auto-restored from last-known-good: ",
        "auto-restored from last-known-good",
    ),
    (
        "Config auto-stripped non-JSON prefix: ",
        "stripped a non-JSON prefix",
    ),
    ("Config write rejected: ", "write rejected"),
    ("Config observe anomaly: ", "anomaly"),
];

/// One gateway message about a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: &'static str,
    pub path: String,
    pub reasons: Vec<String>,
    /// The file the gateway says it kept (`original saved as …`, `payload saved to …`).
    pub saved: Option<String>,
    pub at: Option<DateTime<Utc>>,
    pub log: String,
}

/// Parse a gateway log text (a record's message) into a [`Message`], if it is one.
pub fn parse_message(text: &str, at: Option<DateTime<Utc>>, log: &str) -> Option<Message> {
    let (prefix, kind) = MESSAGES.iter().find(|(p, _)| text.starts_with(p))?;
    let rest = &text[prefix.len()..];
    let (path, tail) = match rest.find(" (") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (rest.trim_end_matches('.'), ""),
    };
    let inner = tail.split(')').next().unwrap_or_default();
    let saved = ["original saved as ", "Rejected payload saved to "]
        .iter()
        .find_map(|m| text.split(m).nth(1))
        .map(|s| s.trim_end_matches(['.', ')']).trim().to_string());
    let reasons = if inner.starts_with("original saved as") {
        Vec::new()
    } else {
        inner
            .split(", ")
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect()
    };
    Some(Message {
        kind,
        path: path.trim().to_string(),
        reasons,
        saved,
        at,
        log: log.to_string(),
    })
}

/// A file the gateway kept next to a config: `<name>.clobbered.<ts>` or `<name>.rejected.<ts>`
/// with the gateway's timestamp (`2026-11-28T04-10-44-225Z`, `-NN` on a collision): its kind
/// and time. Our own files never match (they use `20261128T041044Z`).
pub fn parse_artifact(file_name: &str, config_name: &str) -> Option<(&'static str, DateTime<Utc>)> {
    let rest = file_name.strip_prefix(config_name)?;
    let (kind, ts) = if let Some(ts) = rest.strip_prefix(".clobbered.") {
        ("clobbered", ts)
    } else {
        ("rejected", rest.strip_prefix(".rejected.")?)
    };
    Some((kind, gateway_time(ts)?))
}

/// The gateway's artifact timestamp: `new Date().toISOString()` with `:` and `.` as `-`.
pub fn gateway_time(ts: &str) -> Option<DateTime<Utc>> {
    let base = ts.get(..24)?;
    let suffix = &ts[24..];
    if !(suffix.is_empty()
        || (suffix.len() == 3
            && suffix.starts_with('-')
            && suffix[1..].bytes().all(|b| b.is_ascii_digit())))
    {
        return None;
    }
    NaiveDateTime::parse_from_str(base, "%Y-%m-%dT%H-%M-%S-%3fZ")
        .ok()
        .map(|t| t.and_utc())
}

/// A new piece of evidence about one watched config.
#[derive(Debug, Clone, PartialEq)]
pub enum Evidence {
    /// A new `.clobbered.*` / `.rejected.*` file.
    Artifact {
        path: String,
        kind: &'static str,
        at: DateTime<Utc>,
    },
    /// A gateway message naming the config.
    Message(Message),
    /// The config went back to the content of an earlier snapshot.
    Revert { from: String, to: String },
}

/// Group one file's new evidence into rollbacks (pure). Messages and artifacts within
/// [`SAME_ACT_SECS`] are one rollback; a message matching a rollback recorded by an earlier
/// run completes that one (returned in the second list by index) instead of making a new one.
/// Anomalies (no change on disk) are not rollbacks.
pub fn group(
    file: &str,
    evidence: &[Evidence],
    earlier: &[Rollback],
    now: DateTime<Utc>,
) -> (Vec<Rollback>, Vec<(usize, Rollback)>) {
    let near = |a: DateTime<Utc>, b: DateTime<Utc>| (a - b).num_seconds().abs() <= SAME_ACT_SECS;
    let mut new: Vec<Rollback> = evidence
        .iter()
        .filter_map(|e| match e {
            Evidence::Artifact { path, kind, at } => {
                let mut r = blank(file, *at, now);
                r.kind = if *kind == "rejected" {
                    "write rejected"
                } else {
                    "repaired"
                }
                .into();
                r.artifact = Some(path.clone());
                Some(r)
            }
            _ => None,
        })
        .collect();
    let mut updated: Vec<(usize, Rollback)> = Vec::new();
    for e in evidence {
        let Evidence::Message(m) = e else { continue };
        if m.kind == "anomaly" {
            continue;
        }
        let at = m.at.unwrap_or(now);
        if let Some(r) = new.iter_mut().find(|r| r.log.is_none() && near(r.at, at)) {
            fill(r, m);
        } else if let Some(i) = earlier
            .iter()
            .rposition(|r| r.file == file && r.log.is_none() && near(r.at, at))
        {
            let mut r = earlier[i].clone();
            fill(&mut r, m);
            updated.push((i, r));
        } else {
            let mut r = blank(file, at, now);
            fill(&mut r, m);
            new.push(r);
        }
    }
    let revert = evidence.iter().find_map(|e| match e {
        Evidence::Revert { to, .. } => Some(to.clone()),
        _ => None,
    });
    if let Some(to) = revert {
        if new.is_empty() {
            let mut r = blank(file, now, now);
            r.kind = "reverted to an earlier version (no gateway record of it)".into();
            new.push(r);
        }
        if let Some(r) = new.last_mut() {
            r.back_to = Some(to);
        }
    }
    (new, updated)
}

fn blank(file: &str, at: DateTime<Utc>, now: DateTime<Utc>) -> Rollback {
    Rollback {
        file: file.into(),
        at,
        noticed_at: now,
        kind: String::new(),
        reasons: Vec::new(),
        artifact: None,
        log: None,
        kept: None,
        back_to: None,
    }
}

/// What a gateway message adds to a rollback: its kind, reasons, log, and the file it kept.
fn fill(r: &mut Rollback, m: &Message) {
    r.kind = m.kind.into();
    r.reasons = m.reasons.clone();
    r.log = Some(m.log.clone());
    if r.artifact.is_none() {
        r.artifact = m.saved.clone();
    }
}

/// How to apply a lost edit again, from the gateway's reasons (pure).
pub fn reapply_hint(r: &Rollback) -> String {
    let has = |w: &str| r.reasons.iter().any(|x| x.contains(w));
    let mut hints = Vec::new();
    if r.kind.starts_with("stripped") {
        hints.push(
            "only the text before the JSON object was removed; nothing else was lost".to_string(),
        );
    }
    if has("gateway-mode") {
        hints.push("the lost version has no `gateway.mode`: keep `gateway.mode` (e.g. \"local\") in your edit and apply it again".into());
    }
    if has("missing-meta") {
        hints.push("the lost version has no `meta` block: the gateway puts its backup back over configs without `meta` (openclaw #90546); apply the change with `openclaw config set <key> <value>` (the gateway's own writes keep `meta`), or keep the `meta` block in your edit".into());
    }
    if has("size-drop") {
        hints.push("the lost version was less than half the size of the last one the gateway trusted: if the cut was intended, make it with `openclaw config set/unset` or in smaller steps".into());
    }
    if r.kind == "write rejected" {
        hints.push("the gateway refused the write, so nothing changed on disk; fix what its reason names and run the command again".into());
    }
    if r.kind.contains("last-known-good") {
        hints.push("the lost version was invalid for the gateway (its reason is above): fix it, check it with `openclaw config validate`, and put it back".into());
    }
    if hints.is_empty() {
        hints.push("compare the versions above and apply what you still want with `openclaw config set`, or copy the lost version back by hand and run `openclaw config validate`".into());
    }
    hints.join("; ")
}

/// Watch the gateway's rollbacks of every gateway config; `prev` is each file's hash before
/// this run's check (for reverts). Alerts once per rollback.
pub fn watch(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    gateways: &[(FileConfig, openclaw::Gateway)],
    prev: &BTreeMap<String, Option<String>>,
    report: &mut Report,
) -> Result<()> {
    if gateways.is_empty() {
        return Ok(());
    }
    let messages = read_logs(ctx, gateways);
    for (fc, gw) in gateways {
        let name = fc.name();
        let live = ctx.paths.resolve(&fc.path);
        let mut evidence = artifacts(ctx, &name, &live);
        let paths = [live.display().to_string(), gw.config.display().to_string()];
        evidence.extend(
            messages
                .iter()
                .filter(|m| paths.contains(&m.path))
                .cloned()
                .map(Evidence::Message),
        );
        if let Some(r) = revert(ctx, &name, prev.get(&name).cloned().flatten()) {
            evidence.push(r);
        }
        for m in messages
            .iter()
            .filter(|m| paths.contains(&m.path) && m.kind == "anomaly")
        {
            log::info!(
                "the gateway noticed an anomaly in {} ({}) without changing it",
                m.path,
                m.reasons.join(", ")
            );
            ctx.metric_add("gateway_anomalies_seen", 1);
        }
        let now = ctx.now();
        let (new, updated) = group(&name, &evidence, &ctx.state.data.rollbacks, now);
        for (i, r) in updated {
            if let Some(slot) = ctx.state.data.rollbacks.get_mut(i) {
                *slot = r;
            }
        }
        let current = ctx.state.data.files.get(&name).and_then(|st| {
            let sha = st.current_sha256.as_ref()?;
            st.snapshot(sha).map(|s| s.id.clone())
        });
        for mut r in new {
            r.back_to = r.back_to.or_else(|| current.clone());
            act(ctx, cfg, fc, &live, r, report)?;
        }
    }
    Ok(())
}

/// New gateway artifacts next to the files of a watched config (the first look takes note).
fn artifacts(ctx: &mut Ctx<Data>, name: &str, live: &Path) -> Vec<Evidence> {
    let Some(mut st) = ctx.state.data.files.get(name).cloned() else {
        return Vec::new();
    };
    let dir = live.parent().unwrap_or(Path::new("."));
    let mut files: Vec<PathBuf> = vec![live.to_path_buf()];
    let real_dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    files.extend(st.members.iter().skip(1).map(|m| real_dir.join(&m.rel)));
    let mut now_seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for f in &files {
        let (Some(d), Some(base)) = (f.parent(), f.file_name()) else {
            continue;
        };
        let base = base.to_string_lossy();
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            let Some((kind, at)) = parse_artifact(&n, &base) else {
                continue;
            };
            let path = e.path().display().to_string();
            if st.gateway_artifacts_baselined && !st.gateway_artifacts.contains(&path) {
                out.push(Evidence::Artifact {
                    path: path.clone(),
                    kind,
                    at,
                });
            }
            now_seen.insert(path);
        }
    }
    st.gateway_artifacts = now_seen;
    st.gateway_artifacts_baselined = true;
    ctx.state.data.files.insert(name.to_string(), st);
    out
}

/// The config went back to an earlier snapshot's content (not by a restore of ours: a restore
/// makes the restored version current before the next check).
fn revert(ctx: &Ctx<Data>, name: &str, before: Option<String>) -> Option<Evidence> {
    let st = ctx.state.data.files.get(name)?;
    let now = st.current_sha256.clone()?;
    let before = before?;
    if before == now {
        return None;
    }
    let was = st.snapshot(&before)?;
    let back = st.snapshot(&now)?;
    (back.taken_at < was.taken_at).then(|| Evidence::Revert {
        from: was.id.clone(),
        to: back.id.clone(),
    })
}

/// The gateway's messages written since the last run, from every log it may have used.
fn read_logs(ctx: &mut Ctx<Data>, gateways: &[(FileConfig, openclaw::Gateway)]) -> Vec<Message> {
    let mut files: Vec<PathBuf> = Vec::new();
    for (fc, gw) in gateways {
        let logged = ctx
            .state
            .data
            .files
            .get(&fc.name())
            .and_then(|s| s.gateway_log_file.clone());
        let gcfg = logged.map(|f| openclaw::config::GatewayConfig {
            path: gw.config.clone(),
            value: serde_json::json!({"logging": {"file": f}}),
            files: Vec::new(),
        });
        for loc in [
            openclaw::logs::location(gcfg.as_ref(), gw.profile.as_deref()),
            openclaw::logs::location(None, gw.profile.as_deref()),
        ] {
            for f in log_files(&loc) {
                if !files.contains(&f) {
                    files.push(f);
                }
            }
        }
    }
    let baselined = ctx.state.data.gateway_logs_baselined;
    let mut out = Vec::new();
    let mut cursors = BTreeMap::new();
    for f in files {
        let key = f.display().to_string();
        let old = ctx.state.data.gateway_logs.get(&key).copied();
        if let Some((cursor, msgs)) = read_new(&f, old, baselined) {
            out.extend(msgs);
            cursors.insert(key, cursor);
        }
    }
    ctx.state.data.gateway_logs = cursors;
    ctx.state.data.gateway_logs_baselined = true;
    out
}

/// The files of a log location worth reading: a fixed file, or the two newest dated files.
fn log_files(loc: &openclaw::logs::LogLocation) -> Vec<PathBuf> {
    if let Some(f) = &loc.fixed {
        return vec![f.clone()];
    }
    let prefix = format!("{}-", loc.stem);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&loc.dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_prefix(&prefix)
                .and_then(|r| r.strip_suffix(".log"))
                .is_some_and(|d| {
                    d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit() || b == b'-')
                })
        })
        .map(|e| e.path())
        .collect();
    v.sort();
    let n = v.len();
    v.into_iter().skip(n.saturating_sub(2)).collect()
}

/// Read a log file from its cursor; the messages in complete new lines and the new cursor.
/// A file seen for the first time before any baseline is taken at its end.
fn read_new(
    path: &Path,
    old: Option<LogCursor>,
    baselined: bool,
) -> Option<(LogCursor, Vec<Message>)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    let same = old.filter(|c| c.dev == meta.dev() && c.ino == meta.ino() && c.offset <= meta.len());
    let mut start = match (same, baselined) {
        (Some(c), _) => c.offset,
        (None, true) => 0,
        (None, false) => meta.len(),
    };
    if meta.len().saturating_sub(start) > MAX_LOG_READ {
        log::warn!(
            "{}: more than {} MiB new since the last run; reading only the end",
            path.display(),
            MAX_LOG_READ >> 20
        );
        start = meta.len() - MAX_LOG_READ;
    }
    let mut f = std::fs::File::open(path).ok()?;
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = Vec::new();
    f.take(meta.len() - start).read_to_end(&mut buf).ok()?;
    let complete = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let text = String::from_utf8_lossy(&buf[..complete]);
    let log = path.display().to_string();
    let msgs = text
        .lines()
        .filter(|l| l.contains("\"Config "))
        .filter_map(|l| {
            let r = openclaw::record::Record::parse(l)?;
            let t = r.text();
            let t = if t.starts_with("Config ") {
                t
            } else {
                r.message()?
            };
            parse_message(&t, r.date(), &log)
        })
        .collect();
    let cursor = LogCursor {
        dev: meta.dev(),
        ino: meta.ino(),
        offset: start + complete as u64,
    };
    Some((cursor, msgs))
}

/// Keep a copy of what was lost, alert once with the masked diff, record the rollback.
fn act(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    fc: &FileConfig,
    live: &Path,
    mut r: Rollback,
    report: &mut Report,
) -> Result<()> {
    let name = fc.name();
    let lost = r.artifact.as_ref().and_then(|p| std::fs::read(p).ok());
    if let Some(bytes) = &lost
        && !ctx.dry_run
    {
        let rel = live
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let files = vec![(rel, bytes.clone())];
        let sha = common::hash::sha256_hex(bytes);
        match store::keep_copies(&cfg.rejected_dir(&ctx.paths, fc), r.at, &sha, &files, None) {
            Ok(d) => r.kept = Some(d.join(&files[0].0).display().to_string()),
            Err(e) => log::warn!(
                "could not keep a copy of {}: {}",
                r.artifact.as_deref().unwrap_or_default(),
                common::exit::one_line(&e)
            ),
        }
    }
    let text = alert_text(ctx, cfg, live, &r, lost.as_deref());
    let key = format!(
        "rollback:{name}:{}",
        r.artifact
            .as_deref()
            .and_then(|a| Path::new(a).file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| r.at.format(store::TS_FORMAT).to_string())
    );
    let sev = if r.log.is_none() && r.artifact.is_none() {
        Severity::Info
    } else {
        Severity::Warning
    };
    alert_once(ctx, &key, sev, &text, report)?;
    report.parts.push(format!("{name}: the gateway {}", r.kind));
    ctx.metric_add("gateway_rollbacks_seen", 1);
    let data = &mut ctx.state.data;
    data.rollbacks.push(r);
    while data.rollbacks.len() > ROLLBACKS_KEPT {
        data.rollbacks.remove(0);
    }
    Ok(())
}

fn alert_text(
    ctx: &Ctx<Data>,
    cfg: &Config,
    live: &Path,
    r: &Rollback,
    lost: Option<&[u8]>,
) -> String {
    let mut t = format!(
        "The gateway rolled back {} by itself ({}{}) at {}.",
        live.display(),
        r.kind,
        if r.reasons.is_empty() {
            String::new()
        } else {
            format!(": {}", r.reasons.join(", "))
        },
        fmt_time(r.at)
    );
    if let Some(to) = &r.back_to {
        t.push_str(&format!(" It is now the version of snapshot {to}."));
    }
    let now = std::fs::read(live).unwrap_or_default();
    match lost {
        Some(bytes) => {
            let diff = crate::mask::masked_diff(
                &String::from_utf8_lossy(bytes),
                &String::from_utf8_lossy(&now),
                ("lost (the version the gateway replaced)", "live now"),
                &cfg.mask_keys,
                60,
            );
            match diff {
                None => {
                    t.push_str(" The lost version is the same as the live one: nothing was lost.")
                }
                Some(d) if d.is_empty() => {
                    t.push_str(" They differ only in secret values (masked).")
                }
                Some(d) => t.push_str(&format!(" What was lost (secrets masked):\n{d}")),
            }
        }
        None => t.push_str(" The gateway's copy of the lost version is not there (rotated away?)."),
    }
    let kept = [
        r.artifact
            .as_ref()
            .map(|a| format!("by the gateway as {a}")),
        r.kept.as_ref().map(|k| format!("by backup-config as {k}")),
    ];
    let kept: Vec<String> = kept.into_iter().flatten().collect();
    if !kept.is_empty() {
        t.push_str(&format!(
            "\nThe lost version is kept {}.",
            kept.join(" and ")
        ));
    }
    t.push_str(&format!(" To apply it again: {}.", reapply_hint(r)));
    let _ = ctx;
    t
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/openclaw-2026.9.6/config-cases"
    );

    fn captured(case: &str) -> Vec<Message> {
        let t = std::fs::read_to_string(format!("{FIXTURES}/{case}/gateway.log.jsonl")).unwrap();
        t.lines()
            .filter_map(|l| {
                let r = openclaw::record::Record::parse(l)?;
                parse_message(&r.text(), r.date(), "gateway.log")
            })
            .collect()
    }

    /// The same messages as the gateway printed them on stderr (the cases whose config had no
    /// readable `logging.file`, so the log line went to the default `/tmp/openclaw` log).
    fn printed(case: &str) -> Vec<Message> {
        let t = std::fs::read_to_string(format!("{FIXTURES}/{case}/doctor.stderr.txt")).unwrap();
        t.lines()
            .filter_map(|l| parse_message(l.trim(), None, "stderr"))
            .collect()
    }

    #[test]
    fn the_captured_messages_parse() {
        let m = captured("nomode");
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(m[0].kind, "auto-restored from backup");
        assert_eq!(m[0].path, "$OC_HOME/.openclaw/openclaw.json");
        assert_eq!(m[0].reasons, ["gateway-mode-missing-vs-last-good"]);
        assert_eq!(m[1].kind, "anomaly");
        assert_eq!(m[1].reasons, ["size-drop-vs-last-good:2772->1097"]);
        let p = printed("prefix");
        let strip = p.iter().find(|x| x.kind.starts_with("stripped")).unwrap();
        assert_eq!(
            strip.saved.as_deref(),
            Some("$OC_HOME/.openclaw/openclaw.json.clobbered.2026-11-28T04-22-57-662Z")
        );
        assert!(strip.reasons.is_empty());
        let s = printed("stub");
        assert!(s.iter().all(|x| x.kind == "anomaly"), "{s:?}");
        assert_eq!(
            s[0].reasons,
            [
                "size-drop-vs-last-good:2772->28",
                "missing-meta-vs-last-good"
            ]
        );
        let w = parse_message(
            "Config write rejected: /h/openclaw.json (gateway-mode-removed). Rejected payload saved to /h/openclaw.json.rejected.2026-11-28T04-11-29-810Z.",
            None,
            "x",
        )
        .unwrap();
        assert_eq!(w.reasons, ["gateway-mode-removed"]);
        assert_eq!(
            w.saved.as_deref(),
            Some("/h/openclaw.json.rejected.2026-11-28T04-11-29-810Z")
        );
        assert!(parse_message("Config overwrite: /x", None, "x").is_none());
    }

    #[test]
    fn artifact_names_are_the_gateways_only() {
        let (k, at) = parse_artifact(
            "openclaw.json.clobbered.2026-11-28T04-24-20-545Z",
            "openclaw.json",
        )
        .unwrap();
        assert_eq!(k, "clobbered");
        assert_eq!(
            at,
            Utc.with_ymd_and_hms(2026, 11, 28, 4, 24, 20).unwrap() + Duration::milliseconds(545)
        );
        assert!(
            parse_artifact(
                "openclaw.json.clobbered.2026-11-28T04-24-20-545Z-01",
                "openclaw.json"
            )
            .is_some()
        );
        assert_eq!(
            parse_artifact(
                "openclaw.json.rejected.2026-11-28T04-11-29-810Z",
                "openclaw.json"
            )
            .unwrap()
            .0,
            "rejected"
        );
        // our own (earlier versions) and unrelated names do not count
        assert!(
            parse_artifact("openclaw.json.clobbered.20261128T041044Z", "openclaw.json").is_none()
        );
        assert!(parse_artifact("openclaw.json.bak.1", "openclaw.json").is_none());
        assert!(
            parse_artifact(
                "agents.json5.clobbered.2026-11-28T04-24-20-545Z",
                "openclaw.json"
            )
            .is_none()
        );
    }

    #[test]
    fn a_message_and_its_file_are_one_rollback_even_across_runs() {
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 4, 24, 20).unwrap();
        let now = at + Duration::minutes(30);
        let msg = captured("nomode").remove(0);
        let art = Evidence::Artifact {
            path: "/h/openclaw.json.clobbered.x".into(),
            kind: "clobbered",
            at,
        };
        let (new, upd) = group(
            "openclaw.json",
            &[art.clone(), Evidence::Message(msg.clone())],
            &[],
            now,
        );
        assert_eq!(new.len(), 1);
        assert!(upd.is_empty());
        assert_eq!(new[0].kind, "auto-restored from backup");
        assert_eq!(
            new[0].artifact.as_deref(),
            Some("/h/openclaw.json.clobbered.x")
        );
        // the file in one run, the message in the next: still one
        let (first, _) = group("openclaw.json", &[art], &[], now);
        let (new, upd) = group(
            "openclaw.json",
            &[Evidence::Message(msg.clone())],
            &first,
            now,
        );
        assert!(new.is_empty());
        assert_eq!(upd[0].0, 0);
        assert_eq!(upd[0].1.reasons, ["gateway-mode-missing-vs-last-good"]);
        // anomalies are not rollbacks; a lone revert is one, without gateway evidence
        let anomaly = printed("stub").remove(0);
        assert!(
            group("openclaw.json", &[Evidence::Message(anomaly)], &[], now)
                .0
                .is_empty()
        );
        let (new, _) = group(
            "openclaw.json",
            &[Evidence::Revert {
                from: "b".into(),
                to: "a".into(),
            }],
            &[],
            now,
        );
        assert!(new[0].kind.starts_with("reverted") && new[0].back_to.as_deref() == Some("a"));
    }

    #[test]
    fn hints_follow_the_gateways_reasons() {
        let r = Rollback {
            file: "openclaw.json".into(),
            at: Utc::now(),
            noticed_at: Utc::now(),
            kind: "auto-restored from backup".into(),
            reasons: vec![
                "size-drop-vs-last-good:938->28".into(),
                "missing-meta-vs-last-good".into(),
            ],
            artifact: None,
            log: None,
            kept: None,
            back_to: None,
        };
        let h = reapply_hint(&r);
        assert!(h.contains("`meta`") && h.contains("less than half"), "{h}");
    }

    #[test]
    fn logs_are_read_from_where_the_last_run_stopped() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("openclaw.log");
        let lines =
            std::fs::read_to_string(format!("{FIXTURES}/nomode/gateway.log.jsonl")).unwrap();
        std::fs::write(&p, &lines).unwrap();
        let (c, m) = read_new(&p, None, false).unwrap();
        assert!(m.is_empty(), "the first look starts at the end");
        let mut more = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        std::io::Write::write_all(&mut more, lines.as_bytes()).unwrap();
        std::io::Write::write_all(&mut more, b"{\"0\":\"Config auto-restored from bac").unwrap();
        let (c2, m) = read_new(&p, Some(c), true).unwrap();
        assert_eq!(m.len(), 2, "the two new messages, not the partial line");
        let (_, m) = read_new(&p, Some(c2), true).unwrap();
        assert!(m.is_empty());
        // a file that appears after the baseline is read from its start
        let q = d.path().join("openclaw-2026-11-29.log");
        std::fs::write(&q, &lines).unwrap();
        assert_eq!(read_new(&q, None, true).unwrap().1.len(), 2);
    }
}
