//! The `watch-gateway` binary: one call into the shared runtime.

fn main() -> std::process::ExitCode {
    common::main::<watch_gateway::WatchGateway>()
}
