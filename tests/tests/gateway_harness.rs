//! The real-gateway harness itself, against the installed gateway (SKIPPED without it; a
//! failure under `AGENT_JOBS_REQUIRE_GATEWAY=1`): the pinned version is what runs, an isolated
//! home validates and answers an agent turn through the loopback fake provider, and what the
//! gateway writes for a retried 429 still has the shape of the captured fixture (so a gateway
//! upgrade that changes its records fails here first, pointing at
//! `scripts/capture-gateway-fixtures`).

use std::time::Duration;
use testkit::fakes::model::{FakeModel, Fault};
use testkit::gateway::{self, Home, Provider, log_records, record_event, record_text};

/// The sequence of record kinds: the structured event name, or the text's first word(s).
fn kinds(text: &str) -> Vec<String> {
    log_records(text)
        .iter()
        .map(|r| {
            record_event(r).map(str::to_string).unwrap_or_else(|| {
                let t = record_text(r);
                if t.starts_with("[model-fetch]") {
                    "[model-fetch]".into()
                } else if t.starts_with("transient same-model retry") {
                    "transient-retry".into()
                } else {
                    "other".into()
                }
            })
        })
        .filter(|k| k != "other")
        .collect()
}

#[test]
fn the_pinned_gateway_runs_a_turn_and_writes_what_the_fixture_shows() {
    let Some(install) = gateway::require("gateway_harness") else {
        return;
    };
    let v = gateway::run_with_timeout(
        {
            let mut c = std::process::Command::new(&install.openclaw);
            c.arg("--version");
            c
        },
        &["--version"],
        Duration::from_secs(60),
    );
    assert!(
        v.stdout.contains(&install.pin.openclaw),
        "the installed gateway is the pinned one\n{}",
        v.dump()
    );
    let model = FakeModel::start().expect("fake model");
    let home = Home::new(&install, Provider::anthropic(&model.url()));
    let valid = home.validate();
    valid.ok();
    assert_eq!(valid.json()["valid"], true, "{}", valid.dump());

    model.push(Fault::RateLimit {
        retry_after: Some(1),
    });
    let mark = home.log_len();
    let turn = home.agent_turn("harness", "Say hello.", Duration::from_secs(180));
    turn.ok();
    assert_eq!(
        model.served().len(),
        2,
        "one refusal, one retry: {:?}",
        model.served()
    );
    let live = kinds(&home.log_since(mark));
    let fixture = std::fs::read_to_string(
        install
            .pin
            .fixtures_dir()
            .join("turn-429-retried/gateway.log.jsonl"),
    )
    .expect("fixture turn-429-retried (run scripts/capture-gateway-fixtures)");
    assert_eq!(
        live,
        kinds(&fixture),
        "the gateway's records for a retried 429 changed: re-capture the fixtures and re-check the jobs"
    );
}
