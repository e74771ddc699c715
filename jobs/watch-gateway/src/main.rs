//! The `watch-gateway` binary: the job and its entry point live in the library ([`watch_gateway::main`]: the
//! shared runtime instantiated for the job), so this only links.

fn main() -> std::process::ExitCode {
    watch_gateway::main()
}
