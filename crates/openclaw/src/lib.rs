//! The agent gateway (OpenClaw) as agent-jobs sees it. Every fact here was observed on the
//! gateway version pinned in `scripts/openclaw.pin` (2026.9.6) and is tested against what it
//! wrote (`tests/fixtures/openclaw-<version>/`); the source file or doc of each rule is cited
//! where it is implemented.
//!
//! | what | module |
//! |---|---|
//! | the suite's `gateway` config section: where the gateway's config, state and CLI are | [`settings`] |
//! | its JSON5 config, `$include` resolved, and the values jobs read from it | [`config`] |
//! | where its log files are (date, profile, fallback dir, `logging.file`) | [`logs`] |
//! | one record of its JSONL log file, read by type not by position | [`record`] |
//! | its CLI with bounded time and the JSON document it prints | [`cli`] |
//! | its hook ingress `POST <hooks.path>/agent`: request, answers, completed-run records | [`hooks`] |
//! | what its config says about the Teams channel (who and which chats it reads) | [`msteams`] |

pub mod cli;
pub mod config;
pub mod hooks;
pub mod logs;
pub mod msteams;
pub mod record;
pub mod settings;

pub use settings::{Gateway, GatewaySettings};
