//! The `compact-memory` binary: the job and its entry point live in the library ([`compact_memory::main`]: the
//! shared runtime instantiated for the job), so this only links.

fn main() -> std::process::ExitCode {
    compact_memory::main()
}
