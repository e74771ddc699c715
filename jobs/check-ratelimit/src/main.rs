//! The `check-ratelimit` binary: the job and its entry point live in the library ([`check_ratelimit::main`]: the
//! shared runtime instantiated for the job), so this only links.

fn main() -> std::process::ExitCode {
    check_ratelimit::main()
}
