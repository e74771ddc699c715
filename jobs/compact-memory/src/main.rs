//! The compact-memory binary: the shared runtime around [`compact_memory::CompactMemory`].

fn main() -> std::process::ExitCode {
    common::main::<compact_memory::CompactMemory>()
}
