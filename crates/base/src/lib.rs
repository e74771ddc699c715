//! agent-jobs' bottom layer: what every crate above needs and that knows no job, no service
//! and no config file. The runtime (`common`) and the service clients (`graph`, `model`,
//! `openclaw`) build on it; it depends on nothing of the workspace.
//!
//! | promise | module |
//! |---|---|
//! | one exit-code contract, errors carrying their code | [`exit`] |
//! | secrets from `_env` / `_file`, never shown by `Debug` | [`secret`] |
//! | every known secret scrubbed from text that leaves the process | [`redact`] |
//! | durable writes (temp, fsync, rename, fsync dir), private dirs, temp-file names | [`fsutil`] |
//! | sha256 of content | [`hash`] |
//! | HTTP with timeouts, backoff with full jitter, `Retry-After`, deadline | [`http`] |
//! | configured commands: argv, no shell, timeout, bounded output | [`cmd`] |
//! | SIGINT/SIGTERM as a flag the work loops check | [`signals`] |
//! | the exit after the stop grace, kept by the kernel's alarm, not a thread | [`hardstop`] |
//! | HTML escaping for messages and pages | [`html`] |
//! | durations typed on the command line (`55s`, `10m`, `2d`) within bounds | [`duration`] |

pub mod cmd;
pub mod duration;
pub mod exit;
pub mod fsutil;
pub mod hardstop;
pub mod hash;
pub mod html;
pub mod http;
pub mod redact;
pub mod secret;
pub mod signals;
