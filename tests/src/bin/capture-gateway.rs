//! Drive the real agent gateway through the scenarios the jobs care about and store what it
//! wrote under `tests/fixtures/openclaw-<version>/`, secrets and temp paths masked.
//!
//! usage: capture-gateway [--out DIR] [--only SCENARIO]... [--list]
//!
//! Run through `scripts/capture-gateway-fixtures` (builds this and installs the pinned gateway
//! first). Each scenario gets a fresh isolated gateway home (so its log holds only its own
//! records) against one loopback fake model provider whose answers the scenario scripts.
//! Every scenario writes `<scenario>/` files and a line to `MANIFEST.md`; see docs/TESTING.md.

use fakes::model::{FakeModel, Fault};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use testkit::gateway::{self, Home, Provider, json_document};

/// A scenario: name, what it shows, how to run it.
struct Scenario {
    name: &'static str,
    about: &'static str,
    run: fn(&Ctx, &Path) -> Result<String, String>,
}

struct Ctx {
    install: gateway::Install,
    model: FakeModel,
}

impl Ctx {
    fn home(&self) -> Home {
        self.model.reset();
        Home::new(&self.install, Provider::anthropic(&self.model.url()))
    }
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "turn-ok",
        about: "one embedded agent turn answered 200 (streamed)",
        run: turn_ok,
    },
    Scenario {
        name: "turn-429-retried",
        about: "one 429 rate_limit_error (Retry-After: 2) that the gateway retries, then 200",
        run: turn_429_retried,
    },
    Scenario {
        name: "turn-429-cooldown",
        about: "429s on every attempt with the key stored as an auth profile: the gateway's retries, then its cooldown; `models status --json` during the cooldown",
        run: turn_429_cooldown,
    },
    Scenario {
        name: "turn-529-overloaded",
        about: "529 overloaded_error on every attempt",
        run: turn_529,
    },
    Scenario {
        name: "turn-402-spending",
        about: "402 billing_error \"organization spending limit exceeded\" on every attempt",
        run: turn_402,
    },
    Scenario {
        name: "turn-debug",
        about: "with `logging.level: \"debug\"`: one turn refused once (429, Retry-After: 1) and retried, then one answered at once: every model call's records",
        run: turn_debug,
    },
    Scenario {
        name: "turn-long-window",
        about: "429 rate_limit_error \"You exceeded your current quota\" (a long-window limit) with the key stored as an auth profile: no same-model retry, the cooldown at once; `models status --json` during the cooldown",
        run: turn_long_window,
    },
    Scenario {
        name: "turn-402-billing",
        about: "402 billing_error \"Your credit balance is too low…\" with the key stored as an auth profile: not retried, the profile disabled; `models status --json` after it",
        run: turn_402_billing,
    },
    Scenario {
        name: "turn-quote",
        about: "a user message quoting the gateway's rate-limit text, answered 200",
        run: turn_quote,
    },
    Scenario {
        name: "config-cases",
        about: "`config validate --json` and `doctor --fix` on each config corruption case",
        run: config_cases,
    },
    Scenario {
        name: "memory",
        about: "a memory workspace through `memory index --force` and `memory search`",
        run: memory,
    },
    Scenario {
        name: "gateway-hooks",
        about: "`gateway run` on loopback: /health, /healthz, /readyz, POST /hooks/agent (bad token, a key twice, another key, bad body)",
        run: gateway_hooks,
    },
    Scenario {
        name: "gateway-hook-refusals",
        about: "POST /hooks/agent refused: a channel without its plugin (msteams), a sessionKey not allowed, an unknown agent, an unknown sub-path, a body over 256 KiB",
        run: gateway_hook_refusals,
    },
    Scenario {
        name: "gateway-health",
        about: "a gateway's health as a watchdog sees it: probes when ready, its lock file, `gateway health --json` up and down, `sessions --json`, `gateway restart --safe --json`; then starts that fail: the port held by another process, an invalid config",
        run: gateway_health,
    },
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut only = Vec::new();
    let mut out = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--only" => {
                only.push(args.get(i + 1).cloned().unwrap_or_default());
                i += 1;
            }
            "--out" => {
                out = args.get(i + 1).map(PathBuf::from);
                i += 1;
            }
            "--list" => {
                for s in SCENARIOS {
                    println!("{:22} {}", s.name, s.about);
                }
                return;
            }
            other => {
                eprintln!("capture-gateway: unknown argument {other}");
                std::process::exit(2);
            }
        }
        i += 1;
    }
    let install = match gateway::find() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("capture-gateway: {e}");
            std::process::exit(69);
        }
    };
    let out = out.unwrap_or_else(|| install.pin.fixtures_dir());
    std::fs::create_dir_all(&out).expect("create the fixtures dir");
    let model = FakeModel::start().expect("start the fake model");
    let ctx = Ctx { install, model };
    let mut failed = 0;
    for s in SCENARIOS
        .iter()
        .filter(|s| only.is_empty() || only.iter().any(|o| o == s.name))
    {
        let dir = out.join(s.name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir scenario");
        let t0 = Instant::now();
        eprintln!("capture-gateway: {} ...", s.name);
        match (s.run)(&ctx, &dir) {
            Ok(summary) => {
                let took = t0.elapsed().as_secs();
                eprintln!("capture-gateway: {} done in {took} s: {summary}", s.name);
                write(
                    &dir,
                    "ABOUT.md",
                    &format!(
                        "# {}\n\n{}.\n\nCaptured from openclaw {} on node {} by `scripts/capture-gateway-fixtures` ({took} s).\n\n{summary}\n",
                        s.name, s.about, ctx.install.pin.openclaw, ctx.install.pin.node
                    ),
                );
            }
            Err(e) => {
                failed += 1;
                eprintln!("capture-gateway: {} FAILED: {e}", s.name);
            }
        }
    }
    if failed > 0 {
        std::process::exit(1);
    }
}

// ---- helpers ----

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("write {name}: {e}"));
}

/// Mask what must not be stored or differs per run: the temp home, keys and tokens.
fn mask(home: &Home, text: &str) -> String {
    let mut t = text.replace(&home.home().display().to_string(), "$OC_HOME");
    t = t.replace(&home.install.dir.display().to_string(), "$OC_PREFIX");
    for secret in [home.provider.api_key.as_str(), HOOK_TOKEN] {
        t = t.replace(secret, "MASKED");
    }
    t
}

fn write_log(home: &Home, dir: &Path, mark: u64) -> usize {
    let text = mask(home, &home.log_since(mark));
    write(dir, "gateway.log.jsonl", &text);
    text.lines().count()
}

fn served_json(ctx: &Ctx) -> String {
    let v: Vec<Value> = ctx
        .model
        .served()
        .iter()
        .map(|s| json!({"at": s.at, "path": s.path, "model": s.model, "stream": s.stream, "status": s.status, "fault": s.fault}))
        .collect();
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

/// The parts of `openclaw agent --json` output a job may care about (the full output holds
/// the whole tool catalog and system prompt report).
fn agent_summary(out: &str) -> String {
    let Some(v) = json_document(out) else {
        return out.to_string();
    };
    let meta = &v["meta"];
    let s = json!({
        "payloads": v["payloads"],
        "stopReason": meta["stopReason"],
        "finalAssistantVisibleText": meta["finalAssistantVisibleText"],
        "executionTrace": meta["executionTrace"],
        "completion": meta["completion"],
        "agentMeta": meta["agentMeta"],
        "error": v["error"],
    });
    serde_json::to_string_pretty(&s).unwrap_or_default() + "\n"
}

fn turn(ctx: &Ctx, dir: &Path, home: &Home, session: &str, message: &str) -> gateway::Cli {
    let mark = home.log_len();
    let out = home.agent_turn(session, message, Duration::from_secs(240));
    write(
        dir,
        "agent.stdout.json",
        &mask(home, &agent_summary(&out.stdout)),
    );
    write(dir, "console.txt", &mask(home, &out.stderr));
    write(dir, "exit-code.txt", &format!("{}\n", out.code));
    write_log(home, dir, mark);
    write(dir, "provider-requests.json", &served_json(ctx));
    out
}

fn count_events(home: &Home, dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("gateway.log.jsonl")).unwrap_or_default();
    let recs = gateway::log_records(&text);
    let mut events: std::collections::BTreeMap<String, usize> = Default::default();
    for r in &recs {
        let key = gateway::record_event(r)
            .map(str::to_string)
            .unwrap_or_else(|| {
                let t = gateway::record_text(r);
                t.split([' ', ':']).take(2).collect::<Vec<_>>().join(" ")
            });
        *events.entry(key).or_default() += 1;
    }
    let _ = home;
    format!(
        "{} log records; {} provider requests. Records by event (structured) or first words (text):\n\n{}",
        recs.len(),
        std::fs::read_to_string(dir.join("provider-requests.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Vec<Value>>(&t).ok())
            .map(|v| v.len())
            .unwrap_or(0),
        events
            .iter()
            .map(|(k, n)| format!("- `{k}`: {n}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

// ---- agent turns ----

fn turn_ok(ctx: &Ctx, dir: &Path) -> Result<String, String> {
    let home = ctx.home();
    let out = turn(
        ctx,
        dir,
        &home,
        "capture-ok",
        "What is on the agenda today?",
    );
    if out.code != 0 {
        return Err(out.dump());
    }
    let st = home.models_status();
    write(dir, "models-status.json", &mask(&home, &st.stdout));
    Ok(count_events(&home, dir))
}

fn turn_429_retried(ctx: &Ctx, dir: &Path) -> Result<String, String> {
    let home = ctx.home();
    ctx.model.push(Fault::RateLimit {
        retry_after: Some(2),
    });
    let out = turn(
        ctx,
        dir,
        &home,
        "capture-429-once",
        "Summarise yesterday's notes.",
    );
    if out.code != 0 {
        return Err(out.dump());
    }
    Ok(count_events(&home, dir))
}

fn turn_429_cooldown(ctx: &Ctx, dir: &Path) -> Result<String, String> {
    let home = ctx.home();
    let paste = home.paste_api_key();
    write(
        dir,
        "paste-api-key.txt",
        &mask(
            &home,
            &format!("exit {}\n{}\n{}", paste.code, paste.stdout, paste.stderr),
        ),
    );
    ctx.model.set_default(Fault::RateLimit {
        retry_after: Some(2),
    });
    let _ = turn(
        ctx,
        dir,
        &home,
        "capture-429-cooldown",
        "Draft the weekly summary.",
    );
    let st = home.models_status();
    write(
        dir,
        "models-status-during-cooldown.json",
        &mask(&home, &st.stdout),
    );
    ctx.model.set_default(Fault::None);
    Ok(count_events(&home, dir))
}

fn turn_529(ctx: &Ctx, dir: &Path) -> Result<String, String> {
    let home = ctx.home();
    ctx.model.set_default(Fault::Overloaded);
    let _ = turn(ctx, dir, &home, "capture-529", "Check the build status.");
    let st = home.models_status();
    write(dir, "models-status.json", &mask(&home, &st.stdout));
    ctx.model.set_default(Fault::None);
    Ok(count_events(&home, dir))
}

fn turn_402(ctx: &Ctx, dir: &Path) -> Result<String, String> {
    let home = ctx.home();
    let paste = home.paste_api_key();
    if paste.code != 0 {
        return Err(paste.dump());
    }
    ctx.model.set_default(Fault::PaymentRequired(
        "Your organization spending limit exceeded for this billing period.".into(),
    ));
    let _ = turn(ctx, dir, &home, "capture-402", "Plan tomorrow.");
    let st = home.models_status();
    write(dir, "models-status.json", &mask(&home, &st.stdout));
    ctx.model.set_default(Fault::None);
    Ok(count_events(&home, dir))
}

fn turn_402_billing(ctx: &Ctx, dir: &Path) -> Result<String, String> {
    let home = ctx.home();
    let paste = home.paste_api_key();
    if paste.code != 0 {
        return Err(paste.dump());
    }
    ctx.model.set_default(Fault::PaymentRequired(
        "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.".into(),
    ));
    let _ = turn(ctx, dir, &home, "capture-402-billing", "Plan tomorrow.");
    let st = home.models_status();
    write(dir, "models-status.json", &mask(&home, &st.stdout));
    ctx.model.set_default(Fault::None);
    Ok(count_events(&home, dir))
}

fn turn_quote(ctx: &Ctx, dir: &Path) -> Result<String, String> {
    let home = ctx.home();
    let out = turn(
        ctx,
        dir,
        &home,
        "capture-quote",
        "Yesterday the bot said \"⚠️ API rate limit reached. Please try again later.\" and 429 Too Many Requests; what does that mean?",
    );
    if out.code != 0 {
        return Err(out.dump());
    }
    Ok(count_events(&home, dir))
}

fn turn_debug(ctx: &Ctx, dir: &Path) -> Result<String, String> {
    let home = ctx.home();
    let mut cfg = home.base_config();
    cfg["logging"]["level"] = json!("debug");
    home.write_config(&cfg);
    ctx.model.push(Fault::RateLimit {
        retry_after: Some(1),
    });
    let mark = home.log_len();
    let first = home.agent_turn(
        "capture-debug",
        "What changed since yesterday?",
        Duration::from_secs(240),
    );
    if first.code != 0 {
        return Err(first.dump());
    }
    let second = home.agent_turn(
        "capture-debug",
        "And what is next?",
        Duration::from_secs(240),
    );
    if second.code != 0 {
        return Err(second.dump());
    }
    write(
        dir,
        "console.txt",
        &mask(&home, &format!("{}{}", first.stderr, second.stderr)),
    );
    write(dir, "exit-code.txt", &format!("{}\n", second.code));
    write_log(&home, dir, mark);
    write(dir, "provider-requests.json", &served_json(ctx));
    Ok(count_events(&home, dir))
}

fn turn_long_window(ctx: &Ctx, dir: &Path) -> Result<String, String> {
    let fixed = gateway::FixedProvider::start(429, gateway::QUOTA_429_BODY);
    let home = Home::new(&ctx.install, Provider::anthropic(&fixed.url()));
    let paste = home.paste_api_key();
    if paste.code != 0 {
        return Err(paste.dump());
    }
    let mark = home.log_len();
    let out = home.agent_turn(
        "capture-long-window",
        "Draft the weekly summary.",
        Duration::from_secs(240),
    );
    write(
        dir,
        "agent.stdout.json",
        &mask(&home, &agent_summary(&out.stdout)),
    );
    write(dir, "console.txt", &mask(&home, &out.stderr));
    write(dir, "exit-code.txt", &format!("{}\n", out.code));
    write_log(&home, dir, mark);
    write(
        dir,
        "provider-requests.json",
        &(serde_json::to_string_pretty(
            &(0..fixed.served())
                .map(|_| json!({"status": 429, "body": gateway::QUOTA_429_BODY}))
                .collect::<Vec<_>>(),
        )
        .unwrap_or_default()
            + "\n"),
    );
    let st = home.models_status();
    write(
        dir,
        "models-status-during-cooldown.json",
        &mask(&home, &st.stdout),
    );
    Ok(count_events(&home, dir))
}

// ---- config ----

/// The corruption cases: (name, what, how to damage the good config).
/// A corruption case: name, what it is, how it damages a good config (`None`: delete it).
type Case = (&'static str, &'static str, fn(&str) -> Option<String>);

fn corruption_cases() -> Vec<Case> {
    vec![
        ("valid", "the harness's valid config", |g| {
            Some(g.to_string())
        }),
        ("json5", "JSON5: a comment and a trailing comma", |g| {
            Some(
                format!(
                    "// agent gateway config\n{},\n",
                    g.trim_end().trim_end_matches('}').trim_end()
                ) + "}\n",
            )
        }),
        (
            "stub",
            "the 43-byte stub {\"gateway\":{\"mode\":\"local\"}}",
            |_| Some("{\"gateway\":{\"mode\":\"local\"}}".into()),
        ),
        ("truncated", "the file cut in half", |g| {
            let mut n = g.len() / 2;
            while !g.is_char_boundary(n) {
                n -= 1;
            }
            Some(g[..n].to_string())
        }),
        ("prefix", "a non-JSON prefix before the object", |g| {
            Some(format!("garbage from an editor\n{g}"))
        }),
        (
            "deleted",
            "the file deleted (after the gateway made its .bak)",
            |_| None,
        ),
        ("unknownkey", "an unknown top-level key", |g| {
            let mut v: Value = serde_json::from_str(g).ok()?;
            v["bogusKey"] = json!(true);
            serde_json::to_string_pretty(&v).ok()
        }),
        ("nomode", "gateway.mode removed", |g| {
            let mut v: Value = serde_json::from_str(g).ok()?;
            v["gateway"].as_object_mut()?.remove("mode");
            serde_json::to_string_pretty(&v).ok()
        }),
    ]
}

fn listing(dir: &Path) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_file())
                .map(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                    format!("{n} ({len} bytes)")
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.join("\n") + "\n"
}

fn config_cases_run(ctx: &Ctx, dir: &Path) -> Result<String, String> {
    let mut summary = Vec::new();
    for (name, what, damage) in corruption_cases() {
        let home = ctx.home();
        // A good config the gateway has seen (so it keeps a .bak and a last-known-good).
        let v0 = home.validate();
        let _ = home.doctor_fix();
        let good = std::fs::read_to_string(home.config_path()).map_err(|e| e.to_string())?;
        match damage(&good) {
            Some(text) => std::fs::write(home.config_path(), text).map_err(|e| e.to_string())?,
            None => std::fs::remove_file(home.config_path()).map_err(|e| e.to_string())?,
        }
        let damaged = std::fs::read_to_string(home.config_path()).unwrap_or_default();
        let mark = home.log_len();
        let v = home.validate();
        let d = home.doctor_fix();
        let after = std::fs::read_to_string(home.config_path()).unwrap_or_default();
        let case = dir.join(name);
        std::fs::create_dir_all(&case).map_err(|e| e.to_string())?;
        write(&case, "input.json5", &mask(&home, &damaged));
        write(&case, "validate.stdout.json", &mask(&home, &v.stdout));
        write(&case, "validate.exit-code.txt", &format!("{}\n", v.code));
        write(&case, "doctor.stdout.txt", &mask(&home, &d.stdout));
        write(&case, "doctor.stderr.txt", &mask(&home, &d.stderr));
        write(&case, "doctor.exit-code.txt", &format!("{}\n", d.code));
        write(&case, "after-doctor.json5", &mask(&home, &after));
        write(&case, "files-after.txt", &listing(&home.state_dir()));
        write_log(&home, &case, mark);
        let valid = json_document(&v.stdout).map(|j| j["valid"].clone());
        summary.push(format!(
            "- `{name}` ({what}): validate exit {} valid={}; doctor exit {}; config after doctor {} bytes (first validate before damage: exit {})",
            v.code,
            valid.map(|x| x.to_string()).unwrap_or_else(|| "?".into()),
            d.code,
            after.len(),
            v0.code
        ));
    }
    Ok(summary.join("\n"))
}

fn config_cases(ctx: &Ctx, dir: &Path) -> Result<String, String> {
    config_cases_run(ctx, dir)
}

// ---- memory ----

fn memory(ctx: &Ctx, dir: &Path) -> Result<String, String> {
    let home = ctx.home();
    let ws = home.workspace();
    let today = chrono::Utc::now().date_naive();
    let phrase = "zebrafish deploy checklist";
    let day = |n: i64| {
        (today - chrono::Duration::days(n))
            .format("%Y-%m-%d")
            .to_string()
    };
    let files = vec![
        (
            "MEMORY.md".to_string(),
            format!("# Memory\n\n- the {phrase} lives in ops/deploy.md\n"),
        ),
        (
            format!("memory/{}.md", day(0)),
            format!("# {}\n\n- reviewed the {phrase} with the team\n", day(0)),
        ),
        (
            format!("memory/{}.md", day(1)),
            format!("# {}\n\n- drafted the {phrase}\n", day(1)),
        ),
        (
            format!("memory/{}.md", day(60)),
            format!("# {}\n\n- first idea of a {phrase}\n", day(60)),
        ),
        (
            format!("memory/archive/2026/01/{}.md", day(90)),
            format!("# {}\n\n- archived: {phrase}\n", day(90)),
        ),
        (
            "memory/digests/2026-W02.md".to_string(),
            format!("# Week 2\n\n- digest: {phrase}\n"),
        ),
        (
            format!("memory/digests/{}.md", day(90)),
            format!("# digest\n\n- dated digest: {phrase}\n"),
        ),
        (
            "memory/notes/topic.md".to_string(),
            format!("# topic\n\n- topic note: {phrase}\n"),
        ),
        (".dreams-placeholder".to_string(), String::new()),
    ];
    for (rel, text) in &files {
        if rel.starts_with('.') {
            continue;
        }
        let p = ws.join(rel);
        std::fs::create_dir_all(p.parent().unwrap_or(&ws)).map_err(|e| e.to_string())?;
        std::fs::write(&p, text).map_err(|e| e.to_string())?;
    }
    std::fs::create_dir_all(ws.join("memory/.dreams")).map_err(|e| e.to_string())?;
    std::fs::write(
        ws.join("memory/.dreams/state.md"),
        format!("dream state: {phrase}\n"),
    )
    .map_err(|e| e.to_string())?;
    write(
        dir,
        "workspace-files.txt",
        &(files
            .iter()
            .filter(|(r, _)| !r.starts_with('.'))
            .map(|(r, _)| r.clone())
            .collect::<Vec<_>>()
            .join("\n")
            + "\nmemory/.dreams/state.md\n"),
    );
    let idx = home.memory_index();
    write(
        dir,
        "index.txt",
        &mask(
            &home,
            &format!("exit {}\n{}\n{}", idx.code, idx.stdout, idx.stderr),
        ),
    );
    let search = home.cli(
        &[
            "memory",
            "search",
            "--query",
            phrase,
            "--max-results",
            "50",
            "--min-score",
            "0",
            "--json",
        ],
        Duration::from_secs(120),
    );
    write(dir, "search.json", &mask(&home, &search.stdout));
    let status = home.cli(&["memory", "status", "--json"], Duration::from_secs(120));
    write(dir, "status.json", &mask(&home, &status.stdout));
    let results = json_document(&search.stdout)
        .and_then(|v| v.get("results").cloned().or(Some(v)))
        .unwrap_or(Value::Null);
    let lines = results
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| format!("- `{}`: {}", r["path"].as_str().unwrap_or("?"), r["score"]))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_else(|| "(no results array)".into());
    Ok(format!(
        "index exit {}, search exit {}; scores for \"{phrase}\":\n\n{lines}",
        idx.code, search.code
    ))
}

// ---- gateway server and hooks ----

const HOOK_TOKEN: &str = "hook-token-for-tests-7f3a9c";

fn gateway_hooks(ctx: &Ctx, dir: &Path) -> Result<String, String> {
    let home = ctx.home();
    let mut cfg = home.base_config();
    cfg["hooks"] = json!({"enabled": true, "token": HOOK_TOKEN, "path": "/hooks", "allowedAgentIds": ["main"]});
    home.write_config(&cfg);
    let t0 = Instant::now();
    let mut server = home.start(0, Duration::from_secs(180));
    let started = t0.elapsed().as_secs();
    let port = server.port;
    let mut lines = vec![format!("/health answered {started} s after start")];
    for path in ["/health", "/healthz", "/ready", "/readyz"] {
        let r = gateway::http_get(port, path);
        let (code, body) = r.unwrap_or((0, String::new()));
        write(
            dir,
            &format!("get{}.txt", path.replace('/', "-")),
            &format!("{code}\n{body}\n"),
        );
        lines.push(format!("GET {path}: {code}"));
    }
    let auth = format!("Bearer {HOOK_TOKEN}");
    type Post<'a> = (&'a str, Vec<(&'a str, &'a str)>, String);
    let posts: Vec<Post> = vec![
        ("bad-token", vec![("Authorization", "Bearer wrong")], json!({"message": "hello", "name": "Teams"}).to_string()),
        ("first", vec![("Authorization", &auth)], json!({"message": "hello from Teams", "name": "Teams", "agentId": "main", "idempotencyKey": "teams:chat1:msg1:v1", "deliver": false}).to_string()),
        ("same-key", vec![("Authorization", &auth)], json!({"message": "hello from Teams", "name": "Teams", "agentId": "main", "idempotencyKey": "teams:chat1:msg1:v1", "deliver": false}).to_string()),
        ("other-key", vec![("Authorization", &auth)], json!({"message": "second message", "name": "Teams", "agentId": "main", "idempotencyKey": "teams:chat1:msg2:v1", "deliver": false}).to_string()),
        ("no-message", vec![("Authorization", &auth)], json!({"name": "Teams"}).to_string()),
        ("not-json", vec![("Authorization", &auth)], "{not json".to_string()),
    ];
    for (name, headers, body) in posts {
        let r = gateway::http_request(port, "POST", "/hooks/agent", &headers, Some(&body));
        let (code, resp) = r.unwrap_or((0, String::new()));
        write(
            dir,
            &format!("hook-{name}.txt"),
            &format!("{code}\n{}\n", mask(&home, &resp)),
        );
        lines.push(format!(
            "POST /hooks/agent ({name}): {code} {}",
            mask(&home, resp.trim())
        ));
    }
    // Let the admitted runs finish before stopping.
    std::thread::sleep(Duration::from_secs(20));
    server.stop();
    write(
        dir,
        "console.txt",
        &mask(
            &home,
            &std::fs::read_to_string(&server.console).unwrap_or_default(),
        ),
    );
    write_log(&home, dir, 0);
    write(dir, "provider-requests.json", &served_json(ctx));
    lines.push(format!("provider requests: {}", ctx.model.served().len()));
    Ok(lines
        .iter()
        .map(|l| format!("- {l}"))
        .collect::<Vec<_>>()
        .join("\n"))
}

fn gateway_hook_refusals(ctx: &Ctx, dir: &Path) -> Result<String, String> {
    let home = ctx.home();
    let mut cfg = home.base_config();
    cfg["hooks"] = json!({"enabled": true, "token": HOOK_TOKEN, "path": "/hooks"});
    home.write_config(&cfg);
    let mut server = home.start(0, Duration::from_secs(180));
    let port = server.port;
    let auth = format!("Bearer {HOOK_TOKEN}");
    let big = "x".repeat(300 * 1024);
    let posts: Vec<(&str, &str, String)> = vec![
        ("channel-msteams", "/hooks/agent", json!({"message": "hello", "name": "Teams", "deliver": true, "channel": "msteams", "to": "conversation:19:aaaa@thread.v2"}).to_string()),
        ("session-key", "/hooks/agent", json!({"message": "hello", "name": "Teams", "sessionKey": "hook:teams"}).to_string()),
        ("unknown-agent", "/hooks/agent", json!({"message": "hello", "name": "Teams", "agentId": "ops"}).to_string()),
        ("unknown-path", "/hooks/nope", json!({"message": "hello", "name": "Teams"}).to_string()),
        ("too-large", "/hooks/agent", json!({"message": big, "name": "Teams"}).to_string()),
    ];
    let mut lines = Vec::new();
    for (name, path, body) in posts {
        let headers = [("Authorization", auth.as_str())];
        let r = gateway::http_request(port, "POST", path, &headers, Some(&body));
        let (code, resp) = r.unwrap_or((0, String::new()));
        write(
            dir,
            &format!("hook-{name}.txt"),
            &format!("{code}\n{}\n", mask(&home, &resp)),
        );
        lines.push(format!(
            "POST {path} ({name}): {code} {}",
            mask(&home, resp.trim())
        ));
    }
    server.stop();
    write_log(&home, dir, 0);
    lines.push(format!("provider requests: {}", ctx.model.served().len()));
    Ok(lines
        .iter()
        .map(|l| format!("- {l}"))
        .collect::<Vec<_>>()
        .join("\n"))
}

// ---- gateway health, restarts and failed starts (watch-gateway) ----

fn gateway_health(ctx: &Ctx, dir: &Path) -> Result<String, String> {
    let home = ctx.home();
    // The CLI finds a running gateway through `gateway.port` of its config.
    let port = gateway::free_port();
    let mut base = home.base_config();
    base["gateway"]["port"] = json!(port);
    home.write_config(&base);
    let mut lines = Vec::new();
    let t0 = Instant::now();
    let mut server = home.start(port, Duration::from_secs(180));
    let port = server.port;
    lines.push(format!(
        "/health answered {} s after start",
        t0.elapsed().as_secs()
    ));
    // Ready once channels and sidecars settle.
    let ready_by = Instant::now() + Duration::from_secs(120);
    let mut ready = None;
    while Instant::now() < ready_by {
        ready = gateway::http_get(port, "/readyz").filter(|(c, _)| *c == 200);
        if ready.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let (code, body) = ready.ok_or("/readyz never answered 200")?;
    write(dir, "get-readyz-ready.txt", &format!("{code}\n{body}\n"));
    for path in ["/healthz", "/startupz"] {
        let (code, body) = gateway::http_get(port, path).unwrap_or((0, String::new()));
        write(
            dir,
            &format!("get{}.txt", path.replace('/', "-")),
            &format!("{code}\n{body}\n"),
        );
        lines.push(format!("GET {path}: {code}"));
    }
    let lock_dir = home.state_dir().join("tmp");
    let lock = std::fs::read_dir(&lock_dir)
        .ok()
        .and_then(|mut d| {
            d.find_map(|e| {
                e.ok()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("openclaw-"))
            })
        })
        .and_then(|d| std::fs::read_to_string(d.path().join("gateway.state.lock")).ok())
        .ok_or("no gateway.state.lock under <state>/tmp/openclaw-<uid>/")?;
    write(dir, "gateway.state.lock.txt", &mask(&home, &lock));
    lines.push(format!(
        "lock file: {} bytes (JSON, then padding)",
        lock.len()
    ));
    let health = home.cli(&["gateway", "health", "--json"], Duration::from_secs(120));
    write(dir, "gateway-health.json", &mask(&home, &health.stdout));
    lines.push(format!(
        "gateway health --json (up): exit {} in {:.1} s",
        health.code,
        health.took.as_secs_f64()
    ));
    let sessions = home.cli(
        &["sessions", "--json", "--all-agents"],
        Duration::from_secs(120),
    );
    write(dir, "sessions.json", &mask(&home, &sessions.stdout));
    lines.push(format!(
        "sessions --json --all-agents: exit {}",
        sessions.code
    ));
    let restart = home.cli(
        &["gateway", "restart", "--safe", "--json"],
        Duration::from_secs(120),
    );
    write(dir, "restart-safe.json", &mask(&home, &restart.stdout));
    lines.push(format!(
        "gateway restart --safe --json: exit {} in {:.1} s",
        restart.code,
        restart.took.as_secs_f64()
    ));
    if !server.wait_healthy(Duration::from_secs(120)) {
        return Err("the gateway did not come back after restart --safe".into());
    }
    server.stop();
    write(dir, "console.txt", &mask(&home, &server.console()));
    let down = home.cli(&["gateway", "health", "--json"], Duration::from_secs(120));
    write(dir, "gateway-health-down.json", &mask(&home, &down.stdout));
    lines.push(format!("gateway health --json (down): exit {}", down.code));
    // The port held by another process: the start fails.
    let holder = std::net::TcpListener::bind(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let p = port.to_string();
    let busy = home.cli(
        &["gateway", "run", "--port", &p, "--bind", "loopback"],
        Duration::from_secs(120),
    );
    drop(holder);
    write(
        dir,
        "console-port-in-use.txt",
        &mask(&home, &format!("{}{}", busy.stdout, busy.stderr)),
    );
    lines.push(format!(
        "gateway run with the port held: exit {} after {:.0} s",
        busy.code,
        busy.took.as_secs_f64()
    ));
    // An invalid config: the start fails.
    let mut cfg = base.clone();
    cfg["bogusKey"] = json!(true);
    home.write_config(&cfg);
    let bad = home.cli(
        &["gateway", "run", "--port", &p, "--bind", "loopback"],
        Duration::from_secs(120),
    );
    write(
        dir,
        "console-invalid-config.txt",
        &mask(&home, &format!("{}{}", bad.stdout, bad.stderr)),
    );
    lines.push(format!(
        "gateway run with an invalid config: exit {} after {:.0} s",
        bad.code,
        bad.took.as_secs_f64()
    ));
    write_log(&home, dir, 0);
    Ok(lines
        .iter()
        .map(|l| format!("- {l}"))
        .collect::<Vec<_>>()
        .join("\n"))
}
