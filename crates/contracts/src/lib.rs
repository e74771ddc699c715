//! The contracts between agent-jobs' jobs, typed once.
//!
//! Everything one job writes and another (or an operator's tool) reads is defined here, with
//! no I/O: a writer serializes these types, a reader deserializes the same types, and a
//! renamed field fails to compile on both sides instead of silently blanking a report section.
//!
//! | contract | module | written by | read by |
//! |---|---|---|---|
//! | the jobs of the suite and their schedules | [`registry`] | the repository's `crontab` | runtime, tests, scripts, publish-report |
//! | a run's record, history, errors, counters | [`run`] | the runtime, every run | publish-report, poll-teams `/status`, metrics |
//! | a state file's public part (run bookkeeping + the job's facts) | [`state`] | the runtime | every reader of `state/<job>.json` |
//! | each job's public facts | [`facts`] | that job (through the runtime) | publish-report, poll-teams `/status`, `status --json` |
//! | the suite's control files | [`control`] | poll-teams, check-ratelimit, watch-gateway, operators | every job |
//! | the effect journal's records | [`effect`] | the runtime | the runtime, reports |
//! | a job log line | [`logline`] | the runtime's logger | publish-report |

pub mod control;
pub mod effect;
pub mod facts;
pub mod logline;
pub mod registry;
pub mod run;
pub mod state;
