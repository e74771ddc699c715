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
//! | HTTP with timeouts, backoff with full jitter, `Retry-After`, deadline | [`http`] |
//! | pause switch and rate-limit circuit | [`control`] |
//! | deduplicated alerts, recorded before delivery | [`alert`] |
//! | configured commands: argv, no shell, timeout | [`cmd`] |
//! | SIGINT/SIGTERM: finish the step, save, exit 130/143 | [`signals`] |

pub mod alert;
pub mod cmd;
pub mod config;
pub mod control;
pub mod exit;
pub mod fsutil;
pub mod graph;
pub mod html;
pub mod http;
pub mod lock;
pub mod logging;
pub mod model;
pub mod redact;
pub mod run;
pub mod signals;
pub mod state;

pub use alert::{Delivery, Severity};
pub use exit::{Exit, coded, config_error, data_error, skipped};
pub use run::{CommonArgs, Ctx, Job, Mode, Outcome, Paths, main};
pub use state::OutcomeKind;
