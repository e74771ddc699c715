//! The hard stop: after SIGTERM/SIGINT or the `--max-runtime` deadline, the current step has a
//! grace time to finish; then the process writes one line to its log and exits 143 (SIGTERM,
//! deadline) or 130 (SIGINT), whatever it is doing.
//!
//! The kernel keeps the time, no thread does: the stop signal's handler arms `alarm(grace)`
//! (the deadline arms it at start), and the SIGALRM handler writes the prepared line and calls
//! `_exit`. A thread sleeping beside every run did this before; starting it, and the cross-CPU
//! TLB flushes that every later unmapping needs once a second thread exists, cost 0.1-0.3 ms
//! per run, a tenth of a run with nothing to do (docs/BENCHMARKS.md, "Runtime: no-op run").
//!
//! The only unsafe code of the workspace is here, and small. What the handlers do is
//! async-signal-safe: atomic loads and stores, `alarm`, `clock_gettime` (`SystemTime::now`),
//! `open`/`write`/`close` on a C string prepared beforehand and a buffer on the stack,
//! `_exit`. Nothing allocates or takes a lock. `alarm` is not inherited by the commands a job
//! starts, and their handlers are reset when they exec.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

/// Where the time goes in a prepared log line (same width as the real one).
pub const TIME_SLOT: &str = "0000-00-00T00:00:00.000Z";

/// Why the process stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    Sigterm = 0,
    Sigint = 1,
    Deadline = 2,
}

impl Cause {
    /// The exit code: 130 after SIGINT, 143 otherwise.
    pub fn code(self) -> i32 {
        match self {
            Cause::Sigint => 130,
            Cause::Sigterm | Cause::Deadline => 143,
        }
    }

    const ALL: [Cause; 3] = [Cause::Sigterm, Cause::Sigint, Cause::Deadline];
}

/// What to write when the grace runs out for one cause.
#[derive(Debug, Clone, Default)]
pub struct Message {
    /// The whole log line with its newline, [`TIME_SLOT`] where the time goes; empty: none.
    pub log_line: String,
    /// The line for stderr with its newline; empty: none.
    pub stderr_line: String,
}

/// The hard stop of this process.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    pub grace_secs: u32,
    pub deadline_secs: Option<u32>,
    /// The log file the line is appended to (created 0600 if missing, never through a symlink).
    pub log_file: Option<&'a Path>,
    /// By cause: SIGTERM, SIGINT, the deadline.
    pub messages: [Message; 3],
}

/// Longest line the handler writes (the rest is cut).
const MAX_LINE: usize = 2048;

/// One cause's prepared bytes.
struct Lines {
    /// The log line before and after the time, if there is a log line.
    log: Option<(Vec<u8>, Vec<u8>)>,
    stderr: Vec<u8>,
}

struct Armed {
    grace: u32,
    log_file: Option<CString>,
    /// By cause.
    lines: [Lines; 3],
}

static ARMED: OnceLock<Armed> = OnceLock::new();

const IDLE: u8 = 0;
const DEADLINE_PENDING: u8 = 1;
const GRACE_RUNNING: u8 = 2;
static PHASE: AtomicU8 = AtomicU8::new(IDLE);
static CAUSE: AtomicU8 = AtomicU8::new(0);

/// Arm the hard stop for this process (once; a second call is refused).
pub fn arm(plan: Plan) -> std::io::Result<()> {
    let lines = Cause::ALL.map(|c| {
        let m = &plan.messages[c as usize];
        let log = (!m.log_line.is_empty()).then(|| {
            let (before, after) = m
                .log_line
                .split_once(TIME_SLOT)
                .unwrap_or((m.log_line.as_str(), ""));
            let mut before = before.as_bytes().to_vec();
            let mut after = after.as_bytes().to_vec();
            before.truncate(MAX_LINE / 2);
            after.truncate(MAX_LINE / 2 - TIME_SLOT.len());
            (before, after)
        });
        let mut stderr = m.stderr_line.as_bytes().to_vec();
        stderr.truncate(MAX_LINE);
        Lines { log, stderr }
    });
    let armed = Armed {
        grace: plan.grace_secs.max(1),
        log_file: plan
            .log_file
            .and_then(|p| CString::new(p.as_os_str().as_bytes()).ok()),
        lines,
    };
    ARMED
        .set(armed)
        .map_err(|_| std::io::Error::other("the hard stop is already armed"))?;
    for (sig, cause) in [
        (signal_hook::consts::SIGTERM, Cause::Sigterm),
        (signal_hook::consts::SIGINT, Cause::Sigint),
    ] {
        // SAFETY: `on_stop` only touches atomics and calls alarm(2), both async-signal-safe.
        unsafe { signal_hook::low_level::register(sig, move || on_stop(cause)) }?;
    }
    // SAFETY: `on_alarm` is async-signal-safe (see the module documentation).
    unsafe { signal_hook::low_level::register(signal_hook::consts::SIGALRM, on_alarm) }?;
    if let Some(secs) = plan.deadline_secs {
        PHASE.store(DEADLINE_PENDING, Ordering::SeqCst);
        set_alarm(secs.max(1));
    }
    Ok(())
}

fn set_alarm(secs: u32) {
    // SAFETY: alarm(2) has no memory effects and cannot fail.
    unsafe {
        libc::alarm(secs);
    }
}

/// A stop signal: the first one starts the grace.
fn on_stop(cause: Cause) {
    let Some(armed) = ARMED.get() else { return };
    if PHASE.swap(GRACE_RUNNING, Ordering::SeqCst) != GRACE_RUNNING {
        CAUSE.store(cause as u8, Ordering::SeqCst);
        set_alarm(armed.grace);
    }
}

/// The alarm: the deadline starts the grace; the end of the grace ends the process.
fn on_alarm() {
    let Some(armed) = ARMED.get() else { return };
    match PHASE.load(Ordering::SeqCst) {
        DEADLINE_PENDING => {
            PHASE.store(GRACE_RUNNING, Ordering::SeqCst);
            CAUSE.store(Cause::Deadline as u8, Ordering::SeqCst);
            set_alarm(armed.grace);
        }
        GRACE_RUNNING => {
            let cause = Cause::ALL
                .get(CAUSE.load(Ordering::SeqCst) as usize)
                .copied()
                .unwrap_or(Cause::Sigterm);
            write_lines(armed, cause);
            signal_hook::low_level::exit(cause.code());
        }
        _ => {}
    }
}

/// Write the cause's lines with the time filled in (async-signal-safe: no allocation).
fn write_lines(armed: &Armed, cause: Cause) {
    let Lines { log, stderr: err } = &armed.lines[cause as usize];
    if let Some(path) = &armed.log_file
        && let Some((before, after)) = log
    {
        let mut buf = [0u8; MAX_LINE];
        let mut n = 0;
        for part in [before.as_slice(), &utc_millis(now_ms()), after.as_slice()] {
            let k = part.len().min(MAX_LINE - n);
            buf[n..n + k].copy_from_slice(&part[..k]);
            n += k;
        }
        // SAFETY: `path` is a valid C string; `buf[..n]` is initialized; the descriptor is
        // closed before returning.
        unsafe {
            let fd = libc::open(
                path.as_ptr(),
                libc::O_WRONLY
                    | libc::O_CREAT
                    | libc::O_APPEND
                    | libc::O_NOFOLLOW
                    | libc::O_CLOEXEC,
                0o600 as libc::c_uint,
            );
            if fd >= 0 {
                libc::write(fd, buf.as_ptr().cast(), n);
                libc::close(fd);
            }
        }
    }
    if !err.is_empty() {
        // SAFETY: `err` is initialized memory of its length; fd 2 may be closed (then EBADF).
        unsafe {
            libc::write(2, err.as_ptr().cast(), err.len());
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for a Unix time in milliseconds, without allocating (the
/// civil-from-days algorithm of H. Hinnant's `chrono`-compatible date library).
pub fn utc_millis(unix_ms: i64) -> [u8; 24] {
    let ms = unix_ms.rem_euclid(1000);
    let secs = unix_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = (yoe + era * 400 + i64::from(month <= 2)).clamp(0, 9999);
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: i64| {
        for i in (0..width).rev() {
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, sod / 3600);
    put(14, 2, sod % 3600 / 60);
    put(17, 2, sod % 60);
    put(20, 3, ms);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{SecondsFormat, TimeZone, Utc};

    #[test]
    fn utc_millis_matches_chrono() {
        let mut t: i64 = -86_400_000 * 365;
        let samples = [
            0,
            951_782_400_000,     // 2000-02-29
            4_107_542_399_999,   // 2100-02-28T23:59:59.999
            1_795_996_800_123,   // 2026-11-28
            253_402_300_799_999, // 9999-12-31T23:59:59.999
        ];
        for ms in samples.into_iter().chain(std::iter::from_fn(|| {
            t += 86_400_000 * 37 + 3_600_007;
            (t < 4_200_000_000_000).then_some(t)
        })) {
            let want = Utc
                .timestamp_millis_opt(ms)
                .unwrap()
                .to_rfc3339_opts(SecondsFormat::Millis, true);
            assert_eq!(std::str::from_utf8(&utc_millis(ms)).unwrap(), want, "{ms}");
        }
    }

    #[test]
    fn exit_codes() {
        assert_eq!(Cause::Sigint.code(), 130);
        assert_eq!(Cause::Sigterm.code(), 143);
        assert_eq!(Cause::Deadline.code(), 143);
    }
}
