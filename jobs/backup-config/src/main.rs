//! The `backup-config` binary: the job and its entry point live in the library ([`backup_config::main`]: the
//! shared runtime instantiated for the job), so this only links.

fn main() -> std::process::ExitCode {
    backup_config::main()
}
