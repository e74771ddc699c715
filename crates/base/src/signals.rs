//! SIGINT/SIGTERM: a job finishes its current step, checkpoints and exits 130/143.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Raised by SIGINT or SIGTERM; holds the signal number.
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicUsize>);

impl StopFlag {
    /// Register the handlers. Safe to call once per process.
    pub fn install() -> StopFlag {
        let flag = StopFlag::default();
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            let _ = signal_hook::flag::register_usize(sig, flag.0.clone(), sig as usize);
        }
        flag
    }

    /// The signal received, if any.
    pub fn raised(&self) -> Option<i32> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            n => Some(n as i32),
        }
    }

    /// Raise the flag by hand (tests, or a job stopping itself).
    pub fn raise(&self, sig: i32) {
        self.0.store(sig as usize, Ordering::Relaxed);
    }
}
