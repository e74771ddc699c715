//! The `check-ratelimit` binary: everything lives in the library; the process boundary is the
//! shared runtime's.

fn main() -> std::process::ExitCode {
    common::main::<check_ratelimit::CheckRatelimit>()
}
