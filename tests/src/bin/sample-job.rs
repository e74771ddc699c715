//! A fixture job for the runtime's end-to-end tests: it goes through exactly the same
//! process boundary as the real jobs (`common::main`) and does scriptable work, so lock,
//! state, crash, signal and log behaviour can be tested without any job's domain logic.

use anyhow::Result;
use common::{Ctx, Job, Outcome, Severity};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::time::Duration;

#[derive(Debug, clap::Args)]
struct Args {
    /// Sleep this long while "working" (checks for stop requests every 10 ms).
    #[arg(long, default_value_t = 0)]
    work_ms: u64,
    /// Save this many checkpoints, each growing the state.
    #[arg(long, default_value_t = 0)]
    checkpoints: u32,
    /// Fail with this message.
    #[arg(long)]
    fail: Option<String>,
    /// Raise an alert with this key.
    #[arg(long)]
    alert: Option<String>,
    /// Log this text at WARN level (to test redaction).
    #[arg(long)]
    say: Option<String>,
    /// Resolve the secret of `sample.password` from this env var.
    #[arg(long)]
    secret_env: Option<String>,
    /// Resolve the secret of `sample.password` from this file.
    #[arg(long)]
    secret_file: Option<std::path::PathBuf>,
    /// Return a noop outcome.
    #[arg(long)]
    noop: bool,
    /// Return a degraded outcome with this reason.
    #[arg(long)]
    degraded: Option<String>,
    /// A step that never returns and ignores stop requests (the hard stop must end it).
    #[arg(long)]
    hang: bool,
    /// Panic (the runtime must report it as an internal error, exit 70).
    #[arg(long)]
    panic: bool,
    /// Perform the side effect KEY through the effect journal: append a line to `effects.log`.
    #[arg(long)]
    effect: Option<String>,
    /// Declare the effect idempotent (at least once).
    #[arg(long)]
    idempotent: bool,
    /// Give the effect a verify step that looks for its line in `effects.log`.
    #[arg(long)]
    verify: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Config {}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Data {
    generation: u64,
    blob: Vec<String>,
}

struct Sample;

impl Job for Sample {
    const NAME: &'static str = "sample-job";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const ABOUT: &'static str = "Fixture job for the runtime tests.";
    const EXAMPLES: &'static str = "  sample-job --work-ms 100";
    type Args = Args;
    type Config = Config;
    type Data = Data;
    type Facts = common::contracts::facts::NoFacts;

    fn run(ctx: &mut Ctx<Data>, _cfg: &Config, args: &Args) -> Result<Outcome> {
        if args.secret_env.is_some() || args.secret_file.is_some() {
            let s = ctx.secret(
                "sample.password",
                args.secret_env.as_deref(),
                args.secret_file.as_deref(),
            )?;
            if let Some(s) = s {
                // Deliberately logs the secret: the test checks that the logger masks it.
                log::warn!("using password {} for login", s.expose());
                ctx.metric_set("last_login", format!("password={}", s.expose()));
            }
        }
        if let Some(t) = &args.say {
            log::warn!("{t}");
        }
        if args.panic {
            panic!("deliberate panic (sample-job --panic)");
        }
        if args.hang {
            loop {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if let Some(key) = &args.effect {
            let log_path = ctx.paths.root.join("effects.log");
            let line = format!("{key} {}\n", std::process::id());
            let found = {
                let key = key.clone();
                let p = log_path.clone();
                move || {
                    std::fs::read_to_string(&p)
                        .unwrap_or_default()
                        .lines()
                        .any(|l| l.split(' ').next() == Some(key.as_str()))
                }
            };
            let mut e = ctx
                .effect(
                    format!("sample/{key}"),
                    format!("append {key} to effects.log"),
                )
                .idempotent(args.idempotent);
            if args.verify {
                let found = found.clone();
                e = e.verify(move |_, _| {
                    if found() {
                        common::effect::Verified::Happened("found in effects.log".into(), None)
                    } else {
                        common::effect::Verified::NotHappened
                    }
                });
            }
            let out = e.run(|_| {
                let r = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log_path)
                    .and_then(|mut f| f.write_all(line.as_bytes()));
                match r {
                    Ok(()) => common::effect::Act::done("appended"),
                    Err(e) => common::effect::Act::NotDone(e.to_string()),
                }
            })?;
            log::info!("effect outcome: {out:?}");
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(ctx.paths.root.join("work.log"))?;
        writeln!(f, "start {}", std::process::id())?;
        let mut waited = 0;
        while waited < args.work_ms && !ctx.should_stop() {
            std::thread::sleep(Duration::from_millis(10));
            waited += 10;
        }
        for i in 0..args.checkpoints {
            ctx.state.data.generation += 1;
            ctx.state
                .data
                .blob
                .push(format!("{i:08}-{}", "x".repeat(200)));
            ctx.checkpoint()?;
        }
        writeln!(f, "end {}", std::process::id())?;
        if let Some(k) = &args.alert {
            ctx.alert(k, Severity::Warning, "sample alert text")?;
        }
        if let Some(m) = &args.fail {
            anyhow::bail!("{m}");
        }
        ctx.metric_add("runs_seen", 1);
        if args.noop {
            return Ok(Outcome::noop("nothing to do"));
        }
        if let Some(why) = &args.degraded {
            return Ok(Outcome::degraded(why.clone()));
        }
        Ok(Outcome::ok(format!(
            "generation {}",
            ctx.state.data.generation
        )))
    }
}

fn main() -> std::process::ExitCode {
    common::main::<Sample>()
}
