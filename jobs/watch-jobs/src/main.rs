//! The `watch-jobs` binary: the job and its entry point live in the library ([`watch_jobs::main`]: the
//! shared runtime instantiated for the job), so this only links.

fn main() -> std::process::ExitCode {
    watch_jobs::main()
}
