//! The job registry is the repository's crontab: every crate under `jobs/` has exactly one
//! line there and every line a crate, and what a job needs besides its crate (config example,
//! docs page, README row, the scripts' list) follows from that one list.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo")
        .to_path_buf()
}

fn registry() -> Vec<String> {
    common::contracts::registry::names()
        .map(str::to_string)
        .collect()
}

#[test]
fn every_job_crate_is_registered_and_every_registered_job_has_a_crate() {
    let mut crates: Vec<String> = std::fs::read_dir(repo().join("jobs"))
        .expect("jobs/")
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    crates.sort();
    let mut reg = registry();
    reg.sort();
    assert_eq!(
        crates, reg,
        "jobs/ and the crontab (the registry) disagree: add the job's line to `crontab`"
    );
}

#[test]
fn what_a_job_needs_besides_its_crate() {
    let example: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("config.example.json")).expect("config.example.json"),
    )
    .expect("config.example.json parses");
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README");
    for job in registry() {
        assert!(
            repo().join("docs/jobs").join(format!("{job}.md")).is_file(),
            "docs/jobs/{job}.md"
        );
        assert!(
            repo()
                .join("jobs")
                .join(&job)
                .join("config.example.json")
                .is_file(),
            "jobs/{job}/config.example.json"
        );
        assert!(
            example.get(&job).is_some(),
            "config.example.json has no `{job}` section: run scripts/merge-config-example"
        );
        assert!(
            readme.contains(&format!("[`{job}`](docs/jobs/{job}.md)")),
            "README's job table has no row for {job}"
        );
    }
}

#[test]
fn the_scripts_list_the_registry() {
    let out = std::process::Command::new(repo().join("scripts/jobs"))
        .output()
        .expect("scripts/jobs");
    let listed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(listed, registry());
}
