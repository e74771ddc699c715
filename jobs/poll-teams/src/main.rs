//! The `poll-teams` binary: the job and its entry point live in the library ([`poll_teams::main`]: the
//! shared runtime instantiated for the job), so this only links.

fn main() -> std::process::ExitCode {
    poll_teams::main()
}
