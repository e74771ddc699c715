//! A period's summary and the digest file around it. The model is asked through the effect
//! journal (`model/<period>/<input hash>`, idempotent: a call whose outcome is unknown may be
//! paid for again, never more than the token budgets allow); its answer is kept in the
//! journal until the digest is written, so a run killed in between reuses it instead of paying
//! twice. Without the model (off, failed, over budget, circuit open) the rule-based extract is
//! used, and raw text when rules find nothing.

use crate::config::Config;
use crate::data::{Data, Method, SourceRecord};
use crate::layout::Period;
use crate::rules::{self, SourceText};
use chrono::{DateTime, Utc};
use common::Ctx;
use common::config::Secret;
use common::effect::{Act, EffectOutcome, EffectStatus};
use common::exit::one_line;
use common::hash::sha256_hex;
use common::http::Http;
use serde_json::json;
use std::fmt::Write as _;

/// A period's summary.
#[derive(Debug, Clone)]
pub struct Summary {
    pub body: String,
    pub method: Method,
    /// Why a better method was not used, if it was wanted.
    pub fallback: Option<String>,
    pub tokens: u64,
    /// The journal key of the model call that made it (its stored answer is dropped once the
    /// digest is written).
    pub effect: Option<String>,
}

/// The model as this run sees it: set up on first use, switched off for the rest of the run
/// by the first failure or budget stop.
#[derive(Default)]
pub enum ModelEnv {
    #[default]
    Unset,
    Ready {
        http: Http,
        key: Option<Secret>,
    },
    Off(String),
}

impl ModelEnv {
    /// Set up the client on first use; `Err` says why the model is not used this run.
    pub fn ready(&mut self, ctx: &Ctx<Data>, cfg: &Config) -> Result<(), String> {
        if let ModelEnv::Unset = self {
            *self = match Self::set_up(ctx, cfg) {
                Ok((http, key)) => ModelEnv::Ready { http, key },
                Err(why) => {
                    log::info!("model not used this run: {why}");
                    ModelEnv::Off(why)
                }
            };
        }
        match self {
            ModelEnv::Off(why) => Err(why.clone()),
            _ => Ok(()),
        }
    }

    fn set_up(ctx: &Ctx<Data>, cfg: &Config) -> Result<(Http, Option<Secret>), String> {
        if ctx.dry_run {
            return Err("dry run: the model is not called".into());
        }
        let circuit = ctx.circuit();
        if circuit.is_open() {
            let why = circuit
                .reason
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            return Err(format!("the rate-limit circuit is open{why}"));
        }
        let key = ctx
            .secret(
                "compact-memory.model.api_key",
                cfg.model.api_key_env.as_deref(),
                cfg.model.api_key_file.as_deref(),
            )
            .map_err(|e| format!("model key unavailable: {}", one_line(&e)))?;
        let http = cfg
            .model
            .client(&ctx.runtime.http, ctx.deadline())
            .map_err(|e| format!("no HTTP client: {}", one_line(&e)))?;
        Ok((http.with_stop(ctx.stop.clone()), key))
    }
}

/// Ask the model for a period's summary, through the effect journal. `Err` says why not (for
/// the digest's `Fallback because:` line and the log); the model is then off for the run.
pub fn by_model(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    env: &mut ModelEnv,
    key: &str,
    texts: &[SourceText<'_>],
) -> Result<Summary, String> {
    env.ready(ctx, cfg)?;
    if let Err(stop) = ctx.state.data.tokens.check(&cfg.model) {
        let why = stop.to_string();
        log::warn!("{why}: the remaining digests use the rule-based summary");
        ctx.state.data.tokens.last_stop = Some(format!("{}: {why}", ctx.now().to_rfc3339()));
        *env = ModelEnv::Off(why.clone());
        return Err(why);
    }
    let ModelEnv::Ready { http, key: secret } = &*env else {
        return Err("model unavailable".into());
    };
    let prompt = build_prompt(key, texts, cfg.model_input_max_chars);
    let input = sha256_hex(format!("{}\n{SYSTEM_PROMPT}\n{prompt}", cfg.model.model).as_bytes());
    let ekey = format!("model/{key}/{}", &input[..16]);
    // A done call whose answer was already used has nothing left to give: ask again.
    if ctx
        .effect_record(&ekey)
        .is_some_and(|r| r.status == EffectStatus::Done && r.value.is_none())
    {
        ctx.forget_effect(&ekey);
    }
    let what = format!(
        "summarize {key} with the model {} ({} characters of notes)",
        cfg.model.model,
        prompt.chars().count()
    );
    let outcome = ctx
        .effect(ekey.clone(), what)
        .idempotent(true)
        .retry_failed(true)
        .run(|ctx| call(ctx, cfg, http, secret.as_ref(), &prompt));
    let result = match outcome {
        Ok(EffectOutcome::Ran(r) | EffectOutcome::AlreadyDone(r))
            if r.status == EffectStatus::Done =>
        {
            answer(r.value.as_ref(), cfg.digest_max_chars, ekey)
        }
        Ok(EffectOutcome::Ran(r)) => Err(r.result.unwrap_or_else(|| "model call failed".into())),
        Ok(EffectOutcome::Skipped(why)) => Err(why),
        Ok(other) => Err(format!(
            "the model call was not repeated: {}",
            other
                .record()
                .and_then(|r| r.result.clone())
                .unwrap_or_else(|| "an earlier attempt's outcome is unknown".into())
        )),
        Err(e) => Err(one_line(&e)),
    };
    if let Err(why) = &result {
        log::warn!("{key}: {why}; falling back to the rule-based summary for the rest of the run");
        *env = ModelEnv::Off(why.clone());
    }
    result
}

/// The act: one completion; tokens are counted as soon as they are spent.
fn call(
    ctx: &mut Ctx<Data>,
    cfg: &Config,
    http: &Http,
    secret: Option<&Secret>,
    prompt: &str,
) -> Act {
    match model::complete(http, &cfg.model, secret, SYSTEM_PROMPT, prompt) {
        Ok(c) => {
            ctx.state.data.tokens.record(&c);
            ctx.metric_add("model_tokens", c.total_tokens());
            let value = json!({"text": c.text, "tokens": c.total_tokens()});
            Act::Done(format!("{} tokens", c.total_tokens()), Some(value))
        }
        Err(e) => {
            ctx.state.data.tokens.record_failure(&e);
            // A request that timed out may have been processed (and billed).
            if e.kind == model::ErrorKind::Timeout {
                Act::Unsure(e.to_string())
            } else {
                Act::NotDone(e.to_string())
            }
        }
    }
}

fn answer(
    value: Option<&serde_json::Value>,
    max_chars: usize,
    ekey: String,
) -> Result<Summary, String> {
    let text = value
        .and_then(|v| v.get("text"))
        .and_then(|t| t.as_str())
        .ok_or("the model's answer was not kept")?;
    let mut body: String = text
        .chars()
        .filter(|ch| !ch.is_control() || *ch == '\n')
        .take(max_chars * 2)
        .collect();
    body.push('\n');
    Ok(Summary {
        body,
        method: Method::Model,
        fallback: None,
        tokens: value
            .and_then(|v| v.get("tokens"))
            .and_then(|t| t.as_u64())
            .unwrap_or(0),
        effect: Some(ekey),
    })
}

/// The rule-based summary, or the raw text when rules find nothing.
pub fn rules_or_raw(
    key: &str,
    texts: &[SourceText<'_>],
    cap: usize,
    fallback: Option<String>,
) -> Summary {
    match rules::rules_digest(texts, cap) {
        Ok(body) => Summary {
            body,
            method: Method::Rules,
            fallback,
            tokens: 0,
            effect: None,
        },
        Err(why) => {
            log::warn!("{key}: rule-based digest impossible ({why}); writing the raw text");
            let why = format!("rules: {why}");
            Summary {
                body: rules::raw_digest(texts, cap),
                method: Method::Raw,
                fallback: Some(match fallback {
                    Some(f) => format!("{f}; {why}"),
                    None => why,
                }),
                tokens: 0,
                effect: None,
            }
        }
    }
}

const SYSTEM_PROMPT: &str = "You condense an agent's daily memory notes into a compact digest the agent will reload later. \
Keep every decision, lesson, open TODO, person, number, date and file path that could matter later; drop chatter and repetition. \
Answer in Markdown with short bullet lists under the headings Decisions, Lessons, TODOs, People, Facts and numbers, Timeline. \
Do not invent anything. Do not add a title.";

fn build_prompt(key: &str, texts: &[SourceText<'_>], max: usize) -> String {
    let mut out = format!("Daily notes of period {key}, one section per file:\n\n");
    let per = (max / texts.len().max(1)).max(500);
    for t in texts {
        let _ = writeln!(out, "=== {} ({})", t.label, t.archive);
        if rules::looks_binary(t.bytes) {
            out.push_str("(binary data omitted)\n\n");
            continue;
        }
        let text = String::from_utf8_lossy(t.bytes);
        let mut n = 0;
        for line in text.lines() {
            let l = rules::clean_line(line, 1000);
            n += l.chars().count() + 1;
            if n > per {
                out.push_str("(… truncated)\n");
                break;
            }
            out.push_str(&l);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// What a digest says about itself besides its summary.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    pub key: &'a str,
    pub period: &'a Period,
    pub complete: bool,
    pub now: DateTime<Utc>,
    pub model: &'a str,
    /// The archive directory as shown (`memory-archive`).
    pub archive: &'a str,
}

/// The digest file. `sources` carry the archive path as shown to the agent.
pub fn render(h: Header<'_>, summary: &Summary, sources: &[SourceRecord]) -> String {
    let mut s = format!(
        "<!-- compact-memory digest: period={} method={} complete={} -->\n# Memory digest {} ({} to {})\n\n",
        h.key,
        summary.method.as_str(),
        h.complete,
        h.key,
        h.period.first,
        h.period.last
    );
    let how = match summary.method {
        Method::Model => format!("summarized by the model `{}`", h.model),
        Method::Rules => {
            "extracted by rules (headings, decisions, lessons, TODOs, people, numbers)".into()
        }
        Method::Raw => "raw text, truncated".into(),
    };
    let fallback = summary
        .fallback
        .as_deref()
        .map(|f| format!(" Fallback because: {}.", f.replace('\n', " ")))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "Method: **{}** — {how}.{fallback}",
        summary.method.as_str()
    );
    if !h.complete {
        s.push_str(
            "The period is still open: this digest is rewritten as more days are compacted.\n",
        );
    }
    let _ = write!(
        s,
        "Written {}. The original notes are archived byte for byte in `{}/` (outside `memory/`, so memory search finds this digest, not the copies); `compact-memory restore <date>` puts a day back.\n\n## Sources\n\n| file | archived as | bytes | sha256 |\n|---|---|---|---|\n",
        h.now.format("%Y-%m-%d %H:%M UTC"),
        h.archive
    );
    for src in sources {
        let _ = writeln!(
            s,
            "| {} | `{}` | {} | `{}` |",
            src.name, src.archive, src.bytes, src.sha256
        );
    }
    s.push_str("\n## Summary\n\n");
    s.push_str(summary.body.trim_end());
    s.push('\n');
    s
}

/// A short label for a source in a digest: `02-13`, `02-13-teams-sync`, `02-13 v2`.
pub fn label_of(name: &str, version: u32) -> String {
    let stem = name.strip_suffix(".md").unwrap_or(name);
    let short = stem.get(5..).unwrap_or(stem);
    if version > 1 {
        format!("{short} v{version}")
    } else {
        short.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::PeriodKind;

    #[test]
    fn labels() {
        assert_eq!(label_of("2026-02-13.md", 1), "02-13");
        assert_eq!(label_of("2026-02-13-sync.md", 2), "02-13-sync v2");
    }

    #[test]
    fn the_digest_points_at_the_archive() {
        let p = PeriodKind::Week.of(chrono::NaiveDate::from_ymd_opt(2026, 2, 13).unwrap());
        let s = Summary {
            body: "- decision: x\n".into(),
            method: Method::Rules,
            fallback: Some("model timeout".into()),
            tokens: 0,
            effect: None,
        };
        let src = SourceRecord {
            name: "2026-02-13.md".into(),
            archive: "memory-archive/2026/02/2026-02-13.md".into(),
            sha256: "ab".into(),
            bytes: 3,
        };
        let h = Header {
            key: &p.key,
            period: &p,
            complete: false,
            now: DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            model: "m",
            archive: "memory-archive",
        };
        let text = render(h, &s, &[src]);
        assert!(text.starts_with(
            "<!-- compact-memory digest: period=2026-W07 method=rules complete=false -->\n# Memory digest 2026-W07 (2026-02-09 to 2026-02-15)"
        ));
        assert!(text.contains("Fallback because: model timeout."));
        assert!(text.contains("still open"));
        assert!(text.contains("archived byte for byte in `memory-archive/`"));
        assert!(
            text.contains("| 2026-02-13.md | `memory-archive/2026/02/2026-02-13.md` | 3 | `ab` |")
        );
    }
}
