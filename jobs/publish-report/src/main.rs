//! The `publish-report` binary: the job and its entry point live in the library ([`publish_report::main`]: the
//! shared runtime instantiated for the job), so this only links.

fn main() -> std::process::ExitCode {
    publish_report::main()
}
