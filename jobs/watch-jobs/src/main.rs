//! The watch-jobs binary: the shared runtime around [`watch_jobs::WatchJobs`].

fn main() -> std::process::ExitCode {
    common::main::<watch_jobs::WatchJobs>()
}
