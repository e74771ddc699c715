//! The publish-report binary: everything lives in the library, the runtime owns the process.
fn main() -> std::process::ExitCode {
    common::main::<publish_report::PublishReport>()
}
