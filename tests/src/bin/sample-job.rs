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
        Ok(Outcome::ok(format!(
            "generation {}",
            ctx.state.data.generation
        )))
    }
}

fn main() -> std::process::ExitCode {
    common::main::<Sample>()
}
