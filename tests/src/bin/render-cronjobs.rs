//! Print `deploy/kubernetes/cronjobs.yaml`: the suite's CronJobs, generated from the registry
//! (see `testkit::kube`). `scripts/render-cronjobs` writes it; a test fails when they differ.

use std::process::ExitCode;

fn main() -> ExitCode {
    match testkit::kube::render_cronjobs() {
        Ok(y) => {
            print!("{y}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("render-cronjobs: {e}");
            ExitCode::from(65)
        }
    }
}
