//! Exit codes: the one contract between a job and cron (documented in README "Exit codes").
//!
//! Jobs never call `exit`. They return `anyhow::Result`; an error that must end with a
//! specific code carries a [`Coded`] somewhere in its chain (see [`coded`]), and the runtime maps
//! the chain to a code in exactly one place ([`code_of`]).

use std::fmt;

/// Process exit codes of every job (sysexits.h values where one fits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// 0: the run succeeded, or there was nothing to do.
    Ok = 0,
    /// 1: the job failed (after its retries).
    Failed = 1,
    /// 2: bad command line.
    Usage = 2,
    /// 65 (EX_DATAERR): bad input data or state file.
    DataErr = 65,
    /// 70 (EX_SOFTWARE): an internal error (a bug): a panic, reported as one line.
    Internal = 70,
    /// 75 (EX_TEMPFAIL): skipped: lock held, suite paused, circuit open where honoured.
    TempFail = 75,
    /// 78 (EX_CONFIG): configuration error.
    Config = 78,
    /// 130: interrupted by SIGINT (the current step was finished and progress saved).
    Interrupted = 130,
    /// 143: terminated by SIGTERM (the current step was finished and progress saved).
    Terminated = 143,
}

impl Exit {
    /// The numeric process exit status.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// Short name used in logs and state.
    pub fn name(self) -> &'static str {
        match self {
            Exit::Ok => "ok",
            Exit::Failed => "failed",
            Exit::Usage => "usage",
            Exit::DataErr => "bad data",
            Exit::Internal => "internal error",
            Exit::TempFail => "skipped",
            Exit::Config => "config error",
            Exit::Interrupted => "interrupted",
            Exit::Terminated => "terminated",
        }
    }

    /// Of two outcomes of one run, the one that should decide the exit status.
    /// Failures dominate skips, which dominate success; an interruption dominates everything.
    pub fn merge(self, other: Exit) -> Exit {
        fn rank(e: Exit) -> u8 {
            match e {
                Exit::Ok => 0,
                Exit::TempFail => 1,
                Exit::Failed => 2,
                Exit::DataErr => 3,
                Exit::Internal => 3,
                Exit::Config => 4,
                Exit::Usage => 5,
                Exit::Interrupted | Exit::Terminated => 6,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// An error marker carrying the exit code the process must end with.
#[derive(Debug)]
pub struct Coded {
    pub exit: Exit,
    pub message: String,
}

impl fmt::Display for Coded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Coded {}

/// Build an error that ends the process with `exit`.
pub fn coded(exit: Exit, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Coded {
        exit,
        message: message.into(),
    })
}

/// A configuration error (exit 78).
pub fn config_error(message: impl Into<String>) -> anyhow::Error {
    coded(Exit::Config, message)
}

/// A bad-data error (exit 65).
pub fn data_error(message: impl Into<String>) -> anyhow::Error {
    coded(Exit::DataErr, message)
}

/// A "skipped, try later" condition (exit 75).
pub fn skipped(message: impl Into<String>) -> anyhow::Error {
    coded(Exit::TempFail, message)
}

/// The exit code an error chain asks for: the first [`Coded`] found, else [`Exit::Failed`].
pub fn code_of(err: &anyhow::Error) -> Exit {
    err.chain()
        .find_map(|e| e.downcast_ref::<Coded>())
        .map(|c| c.exit)
        .unwrap_or(Exit::Failed)
}

/// The error chain on one line: `outer: inner: root cause`.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for (i, e) in err.chain().enumerate() {
        if i > 0 {
            out.push_str(": ");
        }
        out.push_str(&e.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn codes_are_the_documented_numbers() {
        let pairs = [
            (Exit::Ok, 0),
            (Exit::Failed, 1),
            (Exit::Usage, 2),
            (Exit::DataErr, 65),
            (Exit::TempFail, 75),
            (Exit::Config, 78),
            (Exit::Interrupted, 130),
            (Exit::Terminated, 143),
        ];
        for (e, n) in pairs {
            assert_eq!(e.code(), n, "{e:?}");
        }
    }

    #[test]
    fn coded_error_survives_context() {
        let err = Err::<(), _>(config_error("unknown key `x`"))
            .context("loading config.json")
            .unwrap_err();
        assert_eq!(code_of(&err), Exit::Config);
        assert_eq!(one_line(&err), "loading config.json: unknown key `x`");
    }

    #[test]
    fn plain_error_is_failure() {
        let err = anyhow::anyhow!("boom");
        assert_eq!(code_of(&err), Exit::Failed);
    }

    #[test]
    fn merge_prefers_the_worse() {
        assert_eq!(Exit::Ok.merge(Exit::Failed), Exit::Failed);
        assert_eq!(Exit::Failed.merge(Exit::Ok), Exit::Failed);
        assert_eq!(Exit::TempFail.merge(Exit::Config), Exit::Config);
        assert_eq!(Exit::Config.merge(Exit::Terminated), Exit::Terminated);
    }
}
