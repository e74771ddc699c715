//! agent-jobs' shared job runtime.
//!
//! Every job binary is a thin `main` calling [`main`] with a type implementing [`Job`]; this
//! crate owns the process boundary and the promises the jobs share:
//!
//! | promise | module |
//! |---|---|
//! | one exit-code contract | [`exit`] |
//! | config parsed in two stages, errors naming the key path, secrets via `_env`/`_file` | [`config`] |
//! | at most one run per job (flock lock file, holder named) | [`lock`] |
//! | state written atomically, corrupt state never overwritten, schema versions | [`state`], [`fsutil`] |
//! | own log file with rotation; silent on success; secrets redacted | [`logging`], [`redact`] |
//! | HTTP with timeouts, backoff with full jitter, `Retry-After`, deadline | [`http`] (from `base`) |
//! | pause switch and rate-limit circuit | [`control`] |
//! | deduplicated alerts, recorded before delivery | [`alert`] |
//! | every side effect once: intent → act → result, recovery at load | [`effect`] |
//! | configured commands: argv, no shell, timeout | [`cmd`] |
//! | SIGINT/SIGTERM: finish the step, save, exit 130/143; bounded by a grace | [`signals`], [`run`] |
//! | dead-man pings with exit codes and the log's tail | [`ping`] |
//! | Prometheus textfile metrics | [`metrics`] |

pub mod alert;
pub mod config;
pub mod control;
pub mod effect;
pub mod lock;
pub mod logging;
pub mod metrics;
pub mod ping;
pub mod run;
pub mod services;
pub mod state;

// The bottom layer, re-exported so jobs name one crate for the runtime's primitives.
pub use base::{cmd, duration, exit, fsutil, hash, html, http, redact, secret, signals};
pub use contracts;

pub use alert::{Delivery, Severity};
pub use exit::{Exit, coded, config_error, data_error, skipped};
pub use run::{CommonArgs, Ctx, Job, Mode, Outcome, Paths, main};
pub use state::OutcomeKind;
