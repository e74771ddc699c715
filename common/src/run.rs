//! The process boundary every job goes through: [`main`].
//!
//! Flow of one run: parse the command line → set up logging → load config → take the lock
//! (exit 75 if held) → sweep stale temp files → load state (exit 65 if corrupt) → honour the
//! pause switch → dead-man `/start` ping → `Job::run` → record the run → save state atomically →
//! dead-man result ping → exit code. Errors are printed once, as `<job>: error: <chain>`.

use crate::config::{ConfigFile, RuntimeConfig, Secret, resolve_path, resolve_secret};
use crate::exit::{Exit, code_of, one_line};
use crate::fsutil::{self, ensure_private_dir, hostname};
use crate::http::Http;
use crate::lock::{self, Holder};
use crate::logging::{self, LogOptions};
use crate::ping::{EndPing, Pinger};
use crate::signals::StopFlag;
use crate::state::{OutcomeKind, RunRecord, State, StateStore};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::{Args, Command, FromArgMatches};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::cell::OnceCell;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Flags every job has.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Suite root holding config.json, state/ and logs/ [default: $AGENT_JOBS_ROOT, else the current directory]
    #[arg(long, value_name = "DIR", global = true)]
    pub root: Option<PathBuf>,
    /// Config file [default: <root>/config.json]
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Do everything except side effects; write no state; say what would be done
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// If another run holds the lock, wait up to SECS for it instead of exiting 75
    #[arg(long, value_name = "SECS", global = true, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub wait_lock: Option<u64>,
    /// Move an unreadable state file aside (<job>.json.corrupt-<UTC time>) and start fresh
    #[arg(long, global = true)]
    pub reset_state: bool,
    /// Stop cleanly after SECS, progress saved; the next run continues
    #[arg(long, value_name = "SECS", global = true, value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub max_runtime: Option<u64>,
    /// Check the config file (this job's section and `runtime`) and exit: 0 if valid, 78 if not
    #[arg(long, global = true)]
    pub check_config: bool,
    /// More output: -v shows info on stderr and debug in the log, -vv debug on stderr
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Less output: -q shows only errors on stderr, -qq nothing
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose")]
    pub quiet: u8,
    /// Print machine-readable JSON (--check-config and the read-only subcommands)
    #[arg(long, global = true)]
    pub json: bool,
    /// Run as if it were TIME (RFC 3339): for replays of old logs and for tests
    #[arg(long, value_name = "TIME", hide = true, global = true)]
    pub now: Option<DateTime<Utc>>,
}

/// How a command line uses the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A normal (cron) run: lock, pause switch, run recorded in state, pings.
    Run,
    /// A manual command that changes state (restore, open, close): lock, state saved,
    /// not recorded as a run, pause switch ignored.
    Command,
    /// Read-only inspection (status, list, diff): no lock, nothing written.
    ReadOnly,
}

/// What a job returns from a run.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub kind: OutcomeKind,
    /// One line for the log and state (`delivered 3 messages`).
    pub summary: String,
    /// For `failed` outcomes: why (recorded in `errors`).
    pub error: Option<String>,
    /// Override of the exit code (e.g. 75 for "circuit open").
    pub exit: Option<Exit>,
}

impl Outcome {
    pub fn ok(summary: impl Into<String>) -> Self {
        Self::new(OutcomeKind::Ok, summary)
    }
    pub fn noop(summary: impl Into<String>) -> Self {
        Self::new(OutcomeKind::Noop, summary)
    }
    pub fn degraded(summary: impl Into<String>) -> Self {
        Self::new(OutcomeKind::Degraded, summary)
    }
    /// The run went on but some items failed (exit 1).
    pub fn failed(summary: impl Into<String>, error: impl Into<String>) -> Self {
        let mut o = Self::new(OutcomeKind::Failed, summary);
        o.error = Some(error.into());
        o
    }
    /// The run chose not to work (exit 75 by default).
    pub fn skipped(summary: impl Into<String>) -> Self {
        let mut o = Self::new(OutcomeKind::Skipped, summary);
        o.exit = Some(Exit::TempFail);
        o
    }
    fn new(kind: OutcomeKind, summary: impl Into<String>) -> Self {
        Outcome {
            kind,
            summary: summary.into(),
            error: None,
            exit: None,
        }
    }
    /// Set the exit code explicitly.
    pub fn with_exit(mut self, exit: Exit) -> Self {
        self.exit = Some(exit);
        self
    }
    fn exit_code(&self) -> Exit {
        self.exit.unwrap_or(match self.kind {
            OutcomeKind::Failed => Exit::Failed,
            OutcomeKind::Skipped => Exit::TempFail,
            _ => Exit::Ok,
        })
    }
}

/// One job of the suite. A job's library has `pub fn main() -> ExitCode { common::main::<TheJob>() }`
/// and its `main.rs` calls that.
pub trait Job {
    /// Binary and config-section name, e.g. `poll-teams`.
    const NAME: &'static str;
    /// Version (use `env!("CARGO_PKG_VERSION")`).
    const VERSION: &'static str;
    /// One-line description for `--help`.
    const ABOUT: &'static str;
    /// Examples shown at the end of `--help`.
    const EXAMPLES: &'static str;
    /// Whether the job stops while the suite is paused (`state/control.json`).
    const HONOURS_PAUSE: bool = true;
    /// Version of the state file; bump it and implement [`Job::migrate`] on incompatible changes.
    const SCHEMA_VERSION: u32 = 1;
    /// Days a settled effect record is kept in the journal (its key cannot repeat before).
    const EFFECT_RETENTION_DAYS: i64 = 30;

    /// Job-specific flags and subcommands.
    type Args: Args + std::fmt::Debug;
    /// The job's section of config.json (`#[serde(deny_unknown_fields, default)]`).
    type Config: DeserializeOwned + Default;
    /// The job's own part of its state file.
    type Data: Serialize + DeserializeOwned + Default;
    /// What the job publishes to the others (`contracts::facts`; `NoFacts` for nothing).
    type Facts: Serialize;

    /// How this command line uses the runtime.
    fn mode(_args: &Self::Args) -> Mode {
        Mode::Run
    }

    /// Migrate a state file (whole JSON) from an older `schema_version`.
    fn migrate(_from: u32, state: Value) -> Result<Value> {
        Ok(state)
    }

    /// The job's public facts, built from its data at the end of a run (stored under `facts`).
    fn facts(_data: &Self::Data, _now: DateTime<Utc>) -> Option<Self::Facts> {
        None
    }

    /// The job's own gauges for the Prometheus textfile (`runtime.textfile_dir`), from its facts.
    fn gauges(_facts: &Self::Facts) -> Vec<crate::metrics::Gauge> {
        Vec::new()
    }

    /// Checks of the config that serde cannot express (run before the lock is taken).
    fn validate(_cfg: &Self::Config, _ctx: &Paths) -> Result<()> {
        Ok(())
    }

    /// Warnings `--check-config` prints without failing (e.g. a log glob that matches no
    /// file yet). Called only by `--check-config`; `config` is the whole file (shared
    /// sections such as `gateway`).
    fn config_warnings(_cfg: &Self::Config, _paths: &Paths, _config: &ConfigFile) -> Vec<String> {
        Vec::new()
    }

    /// Do the work. Keep `ctx.state.data` consistent at every point: it is saved as is even
    /// when the run fails or is interrupted.
    fn run(ctx: &mut Ctx<Self::Data>, cfg: &Self::Config, args: &Self::Args) -> Result<Outcome>;
}

/// Where everything lives for one root.
#[derive(Debug, Clone)]
pub struct Paths {
    pub root: PathBuf,
    pub config: PathBuf,
    pub state_dir: PathBuf,
    pub logs_dir: PathBuf,
}

impl Paths {
    pub fn new(root: PathBuf, config: Option<PathBuf>) -> Paths {
        let config = config.unwrap_or_else(|| root.join("config.json"));
        Paths {
            state_dir: root.join("state"),
            logs_dir: root.join("logs"),
            config,
            root,
        }
    }
    /// `state/<job>.json`
    pub fn state_file(&self, job: &str) -> PathBuf {
        self.state_dir.join(format!("{job}.json"))
    }
    /// `state/<job>.lock`
    pub fn lock_file(&self, job: &str) -> PathBuf {
        self.state_dir.join(format!("{job}.lock"))
    }
    /// Resolve a configured path (`~`, relative to the root).
    pub fn resolve(&self, p: &Path) -> PathBuf {
        resolve_path(&self.root, p)
    }
}

/// Everything a job needs during a run.
pub struct Ctx<D> {
    pub job: &'static str,
    pub version: &'static str,
    pub paths: Paths,
    pub config: ConfigFile,
    pub runtime: RuntimeConfig,
    pub run_id: String,
    pub host: String,
    pub started_at: DateTime<Utc>,
    /// `--now`: the run's clock is fixed (tests, replays).
    fixed_now: Option<DateTime<Utc>>,
    /// `--json`: read-only output as one JSON document.
    pub json: bool,
    pub dry_run: bool,
    pub mode: Mode,
    pub stop: StopFlag,
    pub state: State<D>,
    store: StateStore,
    deadline: Option<Instant>,
    http: OnceCell<Http>,
}

impl<D> std::fmt::Debug for Ctx<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("job", &self.job)
            .field("root", &self.paths.root)
            .field("run_id", &self.run_id)
            .finish_non_exhaustive()
    }
}

impl<D: Serialize + DeserializeOwned + Default> Ctx<D> {
    /// The run's idea of now: `--now` if given, else the clock. Decisions take it as an input.
    pub fn now(&self) -> DateTime<Utc> {
        self.fixed_now.unwrap_or_else(Utc::now)
    }

    /// Persist progress now (state saved atomically; the run itself is recorded at the end).
    /// Does nothing in `--dry-run` and read-only mode.
    pub fn checkpoint(&mut self) -> Result<()> {
        if self.dry_run || self.mode == Mode::ReadOnly {
            return Ok(());
        }
        self.store.save(&self.state)
    }

    /// The run should stop now: a signal arrived or the `--max-runtime` deadline passed.
    pub fn should_stop(&self) -> bool {
        self.stop.raised().is_some() || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Why the run should stop, if it should.
    pub fn stop_reason(&self) -> Option<String> {
        if let Some(sig) = self.stop.raised() {
            return Some(format!("signal {sig}"));
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Some("--max-runtime reached".into());
        }
        None
    }

    /// The run's deadline (`--max-runtime`), if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The HTTP client, built on first use.
    pub fn http(&self) -> Result<&Http> {
        if let Some(h) = self.http.get() {
            return Ok(h);
        }
        let h = Http::new(&self.runtime.http, self.deadline)?.with_stop(self.stop.clone());
        Ok(self.http.get_or_init(|| h))
    }

    /// Add `n` to the counter metric `key`.
    pub fn metric_add(&mut self, key: &str, n: u64) {
        let cur = self
            .state
            .metrics
            .get(key)
            .and_then(Value::as_u64)
            .unwrap_or(0);
        self.state.metrics.insert(key.into(), Value::from(cur + n));
    }

    /// Set the gauge metric `key`.
    pub fn metric_set(&mut self, key: &str, v: impl Into<Value>) {
        self.state.metrics.insert(key.into(), v.into());
    }

    /// Resolve a secret from `<key>_env` / `<key>_file` config values.
    pub fn secret(
        &self,
        key: &str,
        env: Option<&str>,
        file: Option<&Path>,
    ) -> Result<Option<Secret>> {
        resolve_secret(key, env, file, &self.paths.root)
    }

    /// The circuit written by check-ratelimit. An unreadable file counts as open (logged).
    pub fn circuit(&self) -> crate::control::Circuit {
        match crate::control::read_circuit(&self.paths.state_dir) {
            Ok(c) => c,
            Err(e) => {
                log::error!("{}; treating the circuit as open", one_line(&e));
                crate::control::Circuit {
                    state: crate::control::CircuitState::Open,
                    reason: Some("circuit.json unreadable".into()),
                    ..Default::default()
                }
            }
        }
    }
}

/// Entry point of every job binary, called from the job's library (`pub fn main() -> ExitCode
/// { common::main::<Job>() }`, which `src/main.rs` calls): the runtime is instantiated for the
/// job there, once, and the binary only links; instantiated in the binary as well, the generic
/// code was compiled twice (docs/BENCHMARKS.md, "Build").
pub fn main<J: Job>() -> std::process::ExitCode {
    // First of all, so a signal that arrives while the run is still starting is a request to
    // stop, not the default action (killed with no record).
    let _ = STOP.set(StopFlag::install());
    install_panic_hook(J::NAME);
    let code = run_with_args::<J>(std::env::args_os().collect());
    log::logger().flush();
    std::process::ExitCode::from(code.code() as u8)
}

/// The process's stop flag, installed first thing in [`main`].
static STOP: std::sync::OnceLock<StopFlag> = std::sync::OnceLock::new();

/// A panic is a bug, never a way to report an error: it is logged and printed as one line
/// naming the place, and the process exits 70 (EX_SOFTWARE) instead of aborting with a
/// backtrace in cron's mail. The state file holds its last checkpoint (writes are atomic).
fn install_panic_hook(job: &'static str) {
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let line = format!(
            "internal error (a bug in {job}, please report it): {}{at}; the state file holds the last checkpoint",
            crate::redact::redact(&msg)
        );
        log::error!("{line}");
        log::logger().flush();
        if log::max_level() == log::LevelFilter::Off {
            eprintln!("{job}: error: {line}");
        }
        std::process::exit(Exit::Internal.code());
    }));
}

/// After a stop signal or the `--max-runtime` deadline, the current step has `grace` to
/// finish; then the process exits (143 after SIGTERM or the deadline, 130 after SIGINT)
/// whatever it is doing, with one line in the log. The state file holds its last checkpoint
/// (writes are atomic, and a killed run is something every job recovers from). The kernel's
/// alarm keeps the time ([`base::hardstop`]).
fn arm_hard_stop(deadline_secs: Option<u64>, grace: Duration) {
    let secs = grace.as_secs();
    let message = |why: &str, code: i32| {
        crate::logging::error_line(&format!(
            "the current step did not finish within {secs} s of {why}; exiting now with {code} (the state file holds the last checkpoint; the next run continues from there)"
        ))
    };
    let (log_file, term) = message("SIGTERM", base::hardstop::Cause::Sigterm.code());
    let (_, int) = message("SIGINT", base::hardstop::Cause::Sigint.code());
    let (_, deadline) = message(
        "the --max-runtime deadline",
        base::hardstop::Cause::Deadline.code(),
    );
    let plan = base::hardstop::Plan {
        grace_secs: u32::try_from(secs).unwrap_or(u32::MAX),
        deadline_secs: deadline_secs.map(|s| u32::try_from(s).unwrap_or(u32::MAX)),
        log_file: log_file.as_deref(),
        messages: [term, int, deadline],
    };
    if let Err(e) = base::hardstop::arm(plan) {
        log::warn!("cannot arm the stop grace: {e}");
    }
}

fn build_cli<J: Job>() -> Command {
    let cmd = Command::new(J::NAME)
        .version(J::VERSION)
        .about(J::ABOUT)
        .after_help(format!(
            "Examples:\n{}\n\nExit codes: 0 ok or nothing to do, 1 failed, 2 usage, 65 bad data or state, \
             70 internal error (a bug), 75 skipped (lock held, paused, circuit open), 78 config error, \
             130/143 interrupted.",
            J::EXAMPLES
        ));
    let cmd = CommonArgs::augment_args(cmd);
    // The derives set `about` from their doc comments; the job's own description wins.
    J::Args::augment_args(cmd).about(J::ABOUT)
}

/// Run a job with explicit arguments (argv[0] included) and return its exit code.
pub fn run_with_args<J: Job>(argv: Vec<OsString>) -> Exit {
    let matches = match build_cli::<J>().try_get_matches_from(&argv) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => Exit::Ok,
                _ => Exit::Usage,
            };
        }
    };
    let parsed = CommonArgs::from_arg_matches(&matches)
        .and_then(|c| J::Args::from_arg_matches(&matches).map(|a| (c, a)));
    let (common, args) = match parsed {
        Ok(p) => p,
        Err(e) => {
            let _ = e.print();
            return Exit::Usage;
        }
    };
    let argv: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match run_inner::<J>(common, args, argv) {
        Ok(code) => code,
        Err(e) => {
            let code = code_of(&e);
            report_error(J::NAME, &e, code);
            code
        }
    }
}

fn report_error(job: &str, e: &anyhow::Error, code: Exit) {
    let msg = one_line(e);
    if log::max_level() == log::LevelFilter::Off {
        // Logging was never set up (failure before init).
        eprintln!("{job}: error: {}", crate::redact::redact(&msg));
    } else if code == Exit::TempFail {
        log::warn!("{msg}");
    } else {
        log::error!("{msg}");
    }
}

fn resolve_root(flag: Option<PathBuf>) -> Result<PathBuf> {
    let root = match flag {
        Some(r) => r,
        None => match std::env::var_os("AGENT_JOBS_ROOT") {
            Some(r) if !r.is_empty() => PathBuf::from(r),
            _ => std::env::current_dir().context("cannot read the current directory")?,
        },
    };
    if !root.is_dir() {
        return Err(crate::exit::config_error(format!(
            "root {} is not a directory (set --root or AGENT_JOBS_ROOT)",
            root.display()
        )));
    }
    Ok(std::path::absolute(&root).unwrap_or(root))
}

fn run_inner<J: Job>(common: CommonArgs, args: J::Args, argv: Vec<String>) -> Result<Exit> {
    let started_at = common.now.unwrap_or_else(Utc::now);
    let t0 = Instant::now();
    let root = resolve_root(common.root.clone())?;
    let config_path = common.config.as_ref().map(|c| resolve_path(&root, c));
    let paths = Paths::new(root, config_path);
    let mode = J::mode(&args);

    // Logging first, so every later error lands in the log too. The runtime section is read
    // leniently here for the rotation settings; it is validated strictly right after.
    let config_result = ConfigFile::load(&paths.config);
    let pre_runtime: RuntimeConfig = config_result
        .as_ref()
        .ok()
        .and_then(|c| c.section("runtime").ok())
        .unwrap_or_default();
    if mode != Mode::ReadOnly || paths.logs_dir.is_dir() {
        ensure_private_dir(&paths.logs_dir)?;
    }
    let run_id = logging::init(
        J::NAME,
        &paths.logs_dir,
        &LogOptions {
            verbose: common.verbose,
            quiet: common.quiet,
            rust_log: std::env::var("RUST_LOG").ok(),
            // Read before validation: clamped so a bad value cannot stall the first rotation.
            max_bytes: pre_runtime.log_max_bytes.min(1 << 40),
            keep: pre_runtime.log_keep.min(100),
            json: pre_runtime.log_format == crate::config::LogFormat::Json,
        },
    );
    let config = config_result?;
    let runtime: RuntimeConfig = config.section("runtime")?;
    // From here on a failure is reported to the dead-man check too (its URL is known).
    let pinger = Pinger::new(
        (!common.dry_run && mode == Mode::Run && !common.check_config)
            .then(|| runtime.pings.get(J::NAME).map(String::as_str))
            .flatten(),
        &run_id,
        started_at,
        runtime.ping_timeout_secs.clamp(1, 60),
    );
    let textfile = (!common.dry_run && mode == Mode::Run && !common.check_config)
        .then(|| runtime.textfile_dir.clone())
        .flatten()
        .map(|d| {
            let dir = paths.resolve(&d);
            // A directory under the root is the suite's own (on Kubernetes, `metrics` on its
            // volume, read by the overlay's node_exporter): created when missing, readable by
            // others. A directory elsewhere is node_exporter's and must exist (a typo there
            // should be a warning, not a new directory).
            if d.is_relative() && !d.starts_with("~") {
                let _ = crate::fsutil::ensure_dir_durable(&dir, 0o755);
            }
            dir
        });
    let early = EarlyEnd {
        pinger: &pinger,
        textfile: textfile.as_deref(),
        started_at,
        t0,
        job: J::NAME,
        run_id: &run_id,
    };
    let result = run_configured::<J>(
        common,
        args,
        argv,
        paths,
        config,
        runtime,
        run_id.clone(),
        started_at,
        t0,
        &pinger,
        textfile.as_deref(),
    );
    if let Err(e) = &result {
        early.report(e);
    }
    result
}

/// What a run that ends before its state is loaded still reports: a ping with its exit code
/// (or `/log` for a lock held by another run) and the textfile's last-run metrics.
struct EarlyEnd<'a> {
    pinger: &'a Pinger,
    textfile: Option<&'a Path>,
    started_at: DateTime<Utc>,
    t0: Instant,
    job: &'static str,
    run_id: &'a str,
}

impl EarlyEnd<'_> {
    fn report(&self, e: &anyhow::Error) {
        let code = code_of(e);
        let body = format!(
            "{} run {} ended before its work: {} (exit {})\n{}",
            self.job,
            self.run_id,
            one_line(e),
            code.code(),
            crate::logging::recent_lines().join("\n")
        );
        if self.pinger.enabled() {
            let kind = if code == Exit::TempFail {
                EndPing::LogOnly
            } else {
                EndPing::Exit(code)
            };
            self.pinger.end(kind, &body);
            self.pinger.log_early();
        }
        if let Some(dir) = self.textfile
            && code != Exit::TempFail
        {
            let facts: crate::metrics::RunFacts<'_, ()> = crate::metrics::RunFacts {
                job: self.job,
                started_at: self.started_at,
                duration_secs: self.t0.elapsed().as_secs_f64(),
                exit_code: code.code(),
                state: None,
                gauges: Vec::new(),
            };
            if let Err(e) = crate::metrics::write(dir, &facts) {
                log::warn!("cannot write the metrics textfile: {}", one_line(&e));
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run_configured<J: Job>(
    common: CommonArgs,
    args: J::Args,
    argv: Vec<String>,
    paths: Paths,
    config: ConfigFile,
    runtime: RuntimeConfig,
    run_id: String,
    started_at: DateTime<Utc>,
    t0: Instant,
    pinger: &Pinger,
    textfile: Option<&Path>,
) -> Result<Exit> {
    let mode = J::mode(&args);
    runtime.validate(&config.path, J::NAME)?;
    config.validate_shared()?;
    let job_cfg: J::Config = config.section(J::NAME)?;
    J::validate(&job_cfg, &paths)?;
    if common.check_config {
        runtime.check_secrets(&paths.root, &config.path)?;
        if let Some(g) = config.graph_settings()?
            && g.key != "graph"
        {
            eprintln!(
                "{}: warning: {}",
                J::NAME,
                crate::services::deprecated_graph_note(&config.path)
            );
        }
        let warnings = J::config_warnings(&job_cfg, &paths, &config);
        if common.json {
            let doc = serde_json::json!({
                "job": J::NAME,
                "config": config.path,
                "valid": true,
                "section": config.has_section(J::NAME),
                "warnings": warnings,
            });
            println!("{doc}");
        } else {
            for w in &warnings {
                eprintln!("{}: warning: {w}", J::NAME);
            }
            println!(
                "{}: {} is valid{}",
                J::NAME,
                config.path.display(),
                if config.has_section(J::NAME) {
                    ""
                } else {
                    " (no section for this job: defaults apply)"
                }
            );
        }
        return Ok(Exit::Ok);
    }

    ensure_private_dir(&paths.state_dir)?;
    let host = hostname();
    let lock = if mode == Mode::ReadOnly {
        None
    } else {
        let me = Holder {
            pid: std::process::id(),
            started_at,
            host: host.clone(),
            argv: argv.clone(),
            records_run: mode == Mode::Run && !common.dry_run,
        };
        Some(lock::acquire(
            &paths.lock_file(J::NAME),
            common.wait_lock.map(Duration::from_secs),
            &me,
        )?)
    };
    if mode != Mode::ReadOnly {
        for p in fsutil::sweep_temp_files(&paths.state_dir)? {
            log::info!(
                "removed leftover temp file {} from a killed run",
                p.display()
            );
        }
    }

    let store = StateStore {
        path: paths.state_file(J::NAME),
        job: J::NAME,
        schema_version: J::SCHEMA_VERSION,
    };
    if common.reset_state
        && mode != Mode::ReadOnly
        && let Some(dest) = store.move_aside()?
    {
        log::warn!(
            "--reset-state: moved {} to {}; starting with fresh state",
            store.path.display(),
            dest.display()
        );
    }
    let mut state: State<J::Data> = store.load(J::migrate)?;
    state.adopt_legacy_alerts();
    crate::effect::recover(&mut state.effects);
    let previous_killed = lock
        .as_ref()
        .and_then(|l| l.previous.as_ref())
        .and_then(|p| previous_run_died(p, &state));
    if let Some(note) = &previous_killed {
        log::warn!("{note}");
        if mode == Mode::Run {
            state.push_error(Utc::now(), note.clone(), &run_id);
        }
    }

    let deadline = common.max_runtime.map(|s| t0 + Duration::from_secs(s));
    let stop = STOP.get_or_init(StopFlag::install).clone();
    if mode != Mode::ReadOnly {
        arm_hard_stop(
            common.max_runtime,
            Duration::from_secs(runtime.stop_grace_secs),
        );
    }
    let mut ctx = Ctx {
        job: J::NAME,
        version: J::VERSION,
        paths,
        config,
        runtime,
        run_id,
        host,
        started_at,
        fixed_now: common.now,
        json: common.json,
        dry_run: common.dry_run,
        mode,
        stop,
        state,
        store,
        deadline,
        http: OnceCell::new(),
    };
    let end = RunEnd {
        pinger,
        textfile,
        previous_killed,
        t0,
    };

    if mode == Mode::Run && J::HONOURS_PAUSE {
        let control = crate::control::read_control(&ctx.paths.state_dir)?;
        if control.paused {
            let msg = format!(
                "skipped: the suite is paused{}{}{} (resume with /start or by setting \"paused\": false in {})",
                control
                    .by
                    .as_deref()
                    .map(|b| format!(" by {b}"))
                    .unwrap_or_default(),
                control
                    .at
                    .map(|a| format!(
                        " at {}",
                        a.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ))
                    .unwrap_or_default(),
                control
                    .reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default(),
                ctx.paths.state_dir.join("control.json").display()
            );
            log::info!("{msg}");
            let outcome = Outcome::skipped(msg);
            let exit = finish::<J>(&mut ctx, Ok(outcome), &end);
            drop(lock);
            return exit;
        }
    }

    if mode == Mode::Run {
        pinger.send(
            "start",
            &format!("{} run {} started on {}", J::NAME, ctx.run_id, ctx.host),
        );
    }
    let result = J::run(&mut ctx, &job_cfg, &args);
    let exit = finish::<J>(&mut ctx, result, &end);
    drop(lock);
    exit
}

/// What the end of a run reports besides the state.
struct RunEnd<'a> {
    pinger: &'a Pinger,
    textfile: Option<&'a Path>,
    previous_killed: Option<String>,
    t0: Instant,
}

/// The previous holder of the lock was a run that records itself, started after the last
/// recorded run, and is gone: it ended without recording its result (killed, out of memory,
/// power loss, or it failed before reading its state).
fn previous_run_died<D>(prev: &Holder, state: &State<D>) -> Option<String> {
    if !prev.records_run || prev.pid == std::process::id() {
        return None;
    }
    let last = state.last_run.as_ref()?.started_at;
    (prev.started_at > last + chrono::Duration::milliseconds(1)).then(|| {
        format!(
            "the previous run (pid {}, started {}) ended without recording its result: it was killed, crashed, or failed before reading its state; work resumes from the last checkpoint",
            prev.pid,
            prev.started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    })
}

/// Record the run, save state, ping, write metrics, and decide the exit code.
fn finish<J: Job>(
    ctx: &mut Ctx<J::Data>,
    result: Result<Outcome>,
    end: &RunEnd<'_>,
) -> Result<Exit> {
    let duration_ms = end.t0.elapsed().as_millis() as u64;
    let signal = ctx.stop.raised();
    let (mut outcome, mut exit, error) = match result {
        Ok(o) => {
            let exit = o.exit_code();
            let err = o.error.clone();
            (o, exit, err)
        }
        Err(e) => {
            let exit = code_of(&e);
            let msg = one_line(&e);
            (Outcome::failed("error", msg.clone()), exit, Some(msg))
        }
    };
    let mut error = error.map(|e| crate::redact::redact(&e).into_owned());
    if let Some(sig) = signal {
        exit = exit.merge(if sig == signal_hook::consts::SIGINT {
            Exit::Interrupted
        } else {
            Exit::Terminated
        });
        if outcome.kind != OutcomeKind::Failed {
            outcome.kind = OutcomeKind::Failed;
        }
        error.get_or_insert_with(|| format!("interrupted by signal {sig}; progress saved"));
    }
    let record = RunRecord {
        started_at: ctx.started_at,
        finished_at: ctx.started_at + chrono::Duration::milliseconds(duration_ms as i64),
        duration_ms,
        outcome: outcome.kind,
        exit_code: exit.code(),
        error: error.clone(),
        summary: Some(crate::redact::redact(&outcome.summary).into_owned())
            .filter(|s| !s.is_empty()),
        pid: std::process::id(),
        host: ctx.host.clone(),
        version: ctx.version.to_string(),
        run_id: ctx.run_id.clone(),
    };
    match ctx.mode {
        Mode::Run => ctx.state.record_run(record),
        Mode::Command => {
            if let Some(e) = &error {
                ctx.state.push_error(Utc::now(), e.clone(), &ctx.run_id);
            }
        }
        Mode::ReadOnly => {}
    }
    let writes = !(ctx.dry_run || ctx.mode == Mode::ReadOnly);
    let now = ctx.now();
    let facts = J::facts(&ctx.state.data, now);
    let save = if writes {
        crate::effect::prune(
            &mut ctx.state.effects,
            now - chrono::Duration::days(J::EFFECT_RETENTION_DAYS),
        );
        match facts.as_ref().map(serde_json::to_value) {
            Some(Ok(v)) => ctx.state.facts = v,
            Some(Err(e)) => log::error!("cannot serialize the job's facts: {e}"),
            None => {}
        }
        ctx.store.save(&ctx.state)
    } else {
        Ok(())
    };
    if let Err(e) = save {
        // The job's result stands in the log; the state file keeps its previous version.
        log::error!("{}", one_line(&e));
        exit = exit.merge(Exit::Failed);
    }
    let kind = outcome.kind.as_str();
    let summary = &outcome.summary;
    match (&error, exit) {
        (Some(e), Exit::TempFail) => log::warn!("{e}"),
        (Some(e), x) if x != Exit::Ok => log::error!("{e}"),
        (Some(e), _) => log::warn!("{e}"),
        (None, _) => {}
    }
    if outcome.kind == OutcomeKind::Degraded {
        log::warn!("degraded: {summary}");
    }
    if ctx.mode != Mode::ReadOnly {
        log::info!(
            "finished: {kind} (exit {}) in {duration_ms} ms: {summary}",
            exit.code()
        );
    }
    if ctx.mode == Mode::Run && end.pinger.enabled() {
        let ping = match outcome.kind {
            OutcomeKind::Skipped if exit == Exit::TempFail => EndPing::PlannedSkip,
            OutcomeKind::Degraded if exit == Exit::Ok => EndPing::Degraded,
            _ => EndPing::Exit(exit),
        };
        end.pinger.end(
            ping,
            &ping_body(ctx, kind, exit, duration_ms, summary, error.as_deref(), end),
        );
        let before = ctx.state.pings.clone();
        end.pinger.record(&mut ctx.state.pings, now);
        if writes
            && ctx.state.pings != before
            && let Err(e) = ctx.store.save(&ctx.state)
        {
            log::error!("{}", one_line(&e));
        }
    }
    if let Some(dir) = end.textfile {
        let gauges = facts.as_ref().map(J::gauges).unwrap_or_default();
        let rf = crate::metrics::RunFacts {
            job: ctx.job,
            started_at: ctx.started_at,
            duration_secs: duration_ms as f64 / 1000.0,
            exit_code: exit.code(),
            state: Some(&ctx.state),
            gauges,
        };
        if let Err(e) = crate::metrics::write(dir, &rf) {
            log::warn!("cannot write the metrics textfile: {}", one_line(&e));
        }
    }
    Ok(exit)
}

/// The dead-man ping's body: what happened, then the run's last log lines.
fn ping_body<D>(
    ctx: &Ctx<D>,
    kind: &str,
    exit: Exit,
    duration_ms: u64,
    summary: &str,
    error: Option<&str>,
    end: &RunEnd<'_>,
) -> String {
    let mut b = format!(
        "{} run {} on {}: {kind} (exit {}) in {duration_ms} ms: {summary}\n",
        ctx.job,
        ctx.run_id,
        ctx.host,
        exit.code()
    );
    if let Some(e) = error {
        b.push_str(&format!("error: {e}\n"));
    }
    if let Some(p) = &end.previous_killed {
        b.push_str(&format!("note: {p}\n"));
    }
    b.push_str("--- log ---\n");
    b.push_str(&crate::logging::recent_lines().join("\n"));
    b
}
