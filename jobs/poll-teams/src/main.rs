//! `poll-teams`: the binary is one call into the shared runtime; the job lives in the library.

fn main() -> std::process::ExitCode {
    common::main::<poll_teams::PollTeams>()
}
