//! The `backup-config` binary: one call into the shared runtime.

fn main() -> std::process::ExitCode {
    common::main::<backup_config::BackupConfig>()
}
