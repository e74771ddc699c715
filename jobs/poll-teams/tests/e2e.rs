//! End-to-end tests of poll-teams: the real binary against the fake identity platform and Graph
//! server, in a temporary suite root.

#![allow(clippy::unwrap_used)]

use fakes::graph::{AGENT_PASSWORD, AGENT_USER_ID, CLIENT_SECRET, FakeGraph, Fault, Route};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;
use testkit::{Run, Suite};

const BIN: &str = env!("CARGO_BIN_EXE_poll-teams");
const CHAT: &str = "19:2da4c29f6d7041eca70b638b43d45437@thread.v2";
const CHAT2: &str =
    "19:8ea0e38b-efb3-4757-924a-5f94061cf8c2_aaaaaaaa-0000-4000-8000-00000000a9e7@unq.gbl.spaces";
const OP: &str = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
const TRUSTED: &str = "8ea0e38b-efb3-4757-924a-5f94061cf8c2";
const STRANGER: &str = "670374fa-3b0e-4a3b-9d33-0e1bc5ff1956";

/// Merge `b` into `a` (objects recursively).
fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (a, b) => *a = b,
    }
}

fn suite(g: &FakeGraph, extra: Value) -> Suite {
    let s = Suite::new();
    let mut cfg = json!({
        "runtime": {"http": {"backoff_base_ms": 10, "backoff_max_secs": 0.2, "max_retries": 4,
                             "timeout_secs": 5, "connect_timeout_secs": 2}},
        "graph": g.user_config("PT_PASSWORD"),
        "poll-teams": {
            "chats": [CHAT],
            "self_user_id": AGENT_USER_ID,
            "operators": [OP],
            "trusted": [TRUSTED],
            "page_size": 50
        }
    });
    merge(&mut cfg, extra);
    s.config(cfg);
    s
}

fn cmd(s: &Suite, args: &[&str]) -> std::process::Command {
    let mut c = s.cmd(Path::new(BIN));
    c.env("PT_PASSWORD", AGENT_PASSWORD)
        .env("PT_SECRET", CLIENT_SECRET)
        .args(args);
    c
}

fn run(s: &Suite, args: &[&str]) -> Run {
    s.run_cmd(&mut cmd(s, args))
}

/// Every event file in new/ and cur/, parsed, with its file name.
fn events(s: &Suite) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let dir = s.path(&format!("state/inbox/teams/{sub}"));
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(e.path()).unwrap();
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|err| panic!("{name} is not JSON ({err}): {text}"));
            out.push((name, v));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// (message id, event kind) of every event.
fn kinds(s: &Suite) -> Vec<(String, String)> {
    events(s)
        .into_iter()
        .map(|(_, v)| {
            (
                v["message_id"].as_str().unwrap().to_string(),
                v["event"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn metric(s: &Suite, k: &str) -> u64 {
    s.state("poll-teams")["metrics"][k].as_u64().unwrap_or(0)
}

fn ago(secs: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() - chrono::Duration::seconds(secs)
}

mod paging {
    use super::*;

    #[test]
    fn many_pages_are_followed_and_every_message_delivered_once() {
        let g = FakeGraph::start();
        let mut want = BTreeSet::new();
        for i in 0..230 {
            want.insert(g.add_message(
                CHAT,
                TRUSTED,
                "Robin Kline",
                &format!("<p>message {i}</p>"),
            ));
        }
        let s = suite(&g, json!({"poll-teams": {"page_size": 10}}));
        run(&s, &[]).silent_success();
        let got: Vec<(String, String)> = kinds(&s);
        assert_eq!(got.len(), 230, "one event per message");
        let ids: BTreeSet<String> = got.iter().map(|(id, _)| id.clone()).collect();
        assert_eq!(ids, want);
        assert!(got.iter().all(|(_, k)| k == "message"));
        assert_eq!(metric(&s, "pages"), 23, "230 messages at 10 per page");
        assert_eq!(g.count(Route::List), 23);
        // The chat id was percent-encoded in the first request; nextLinks followed verbatim.
        let reqs = g.requests();
        assert!(
            reqs.iter().any(|r| r
                .contains("/chats/19%3A2da4c29f6d7041eca70b638b43d45437%40thread.v2/messages?")),
            "{reqs:?}"
        );
        assert!(reqs.iter().filter(|r| r.contains("skiptoken")).count() == 22);
        // File names sort in message order.
        let names: Vec<String> = events(&s).into_iter().map(|(n, _)| n).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn two_chats_and_an_unknown_chat_fails_alone() {
        let g = FakeGraph::start();
        g.add_message(CHAT, TRUSTED, "Robin", "one");
        g.add_message(CHAT2, TRUSTED, "Robin", "two");
        let s = suite(
            &g,
            json!({"poll-teams": {"chats": [CHAT, "19:missing@thread.v2", CHAT2]}}),
        );
        let r = run(&s, &[]);
        r.code(1).stderr_has("19:missing@thread.v2");
        assert_eq!(kinds(&s).len(), 2, "the good chats were delivered");
        let st = s.state("poll-teams");
        assert!(st["data"]["chats"]["19:missing@thread.v2"]["last_error"].is_string());
    }
}

mod exactly_once {
    use super::*;

    #[test]
    fn watermark_and_boundary_timestamp_across_restarts() {
        let g = FakeGraph::start();
        let t = ago(120);
        let mut want = BTreeSet::new();
        for i in 0..5 {
            want.insert(g.add_message_at(CHAT, TRUSTED, "R", &format!("same ms {i}"), Some(t)));
        }
        let s = suite(&g, json!({"poll-teams": {"page_size": 2}}));
        run(&s, &[]).silent_success();
        assert_eq!(kinds(&s).len(), 5);
        let st = s.state("poll-teams");
        assert_eq!(
            st["data"]["chats"][CHAT]["boundary"]
                .as_array()
                .unwrap()
                .len(),
            5
        );
        // Late arrivals sharing the boundary timestamp, and newer ones.
        for i in 0..3 {
            want.insert(g.add_message_at(CHAT, TRUSTED, "R", &format!("late {i}"), Some(t)));
        }
        for i in 0..2 {
            want.insert(g.add_message(CHAT, TRUSTED, "R", &format!("new {i}")));
        }
        run(&s, &[]).silent_success();
        let ids: Vec<String> = kinds(&s).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids.len(), 10, "no duplicates: {ids:?}");
        assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), want);
        // A third run finds nothing new.
        run(&s, &[]).silent_success();
        assert_eq!(kinds(&s).len(), 10);
        assert_eq!(s.state("poll-teams")["last_run"]["outcome"], "noop");
        assert!(metric(&s, "duplicates_skipped") >= 5);
    }

    #[test]
    fn first_run_backfills_only_the_configured_window() {
        let g = FakeGraph::start();
        g.add_message_at(CHAT, TRUSTED, "R", "two hours old", Some(ago(7200)));
        let recent = g.add_message_at(CHAT, TRUSTED, "R", "ten minutes old", Some(ago(600)));
        let s = suite(&g, json!({}));
        run(&s, &[]).silent_success();
        assert_eq!(kinds(&s), vec![(recent, "message".to_string())]);
    }

    #[test]
    fn consumed_events_in_cur_are_not_delivered_again_after_a_lost_checkpoint() {
        let g = FakeGraph::start();
        for i in 0..4 {
            g.add_message(CHAT, TRUSTED, "R", &format!("m{i}"));
        }
        let s = suite(&g, json!({}));
        run(&s, &[]).silent_success();
        // The agent consumed them; then the state is rolled back to before the run (as if the
        // run had died after writing the inbox and before saving its progress).
        for (name, _) in events(&s) {
            std::fs::rename(
                s.path(&format!("state/inbox/teams/new/{name}")),
                s.path(&format!("state/inbox/teams/cur/{name}")),
            )
            .unwrap();
        }
        let mut st = s.state("poll-teams");
        st["data"]["chats"] = json!({});
        s.write("state/poll-teams.json", &st.to_string());
        run(&s, &[]).silent_success();
        assert_eq!(kinds(&s).len(), 4);
        assert!(
            std::fs::read_dir(s.path("state/inbox/teams/new"))
                .unwrap()
                .count()
                == 0
        );
    }
}

mod edits {
    use super::*;

    #[test]
    fn edits_and_deletes_become_events_and_reactions_do_not() {
        let g = FakeGraph::start();
        let a = g.add_message(CHAT, TRUSTED, "R", "<p>original</p>");
        let b = g.add_message(CHAT, TRUSTED, "R", "<p>to be deleted</p>");
        let c = g.add_message(CHAT, TRUSTED, "R", "<p>liked</p>");
        let s = suite(&g, json!({}));
        run(&s, &[]).silent_success();
        assert_eq!(kinds(&s).len(), 3);
        std::thread::sleep(Duration::from_millis(5));
        assert!(g.edit_message(CHAT, &a, "<p>changed</p>"));
        assert!(g.delete_message(CHAT, &b));
        assert!(g.react(CHAT, &c));
        run(&s, &[]).silent_success();
        let evs = events(&s);
        let got: BTreeMap<(String, String), Value> = evs
            .iter()
            .map(|(_, v)| {
                (
                    (
                        v["message_id"].as_str().unwrap().to_string(),
                        v["event"].as_str().unwrap().to_string(),
                    ),
                    v.clone(),
                )
            })
            .collect();
        assert_eq!(evs.len(), 5, "{:?}", got.keys());
        let edited = &got[&(a.clone(), "edited".to_string())];
        assert_eq!(edited["text"], "changed");
        assert!(edited["edited"].is_string());
        assert!(got[&(b.clone(), "deleted".to_string())]["deleted"].is_string());
        assert!(!got.contains_key(&(c.clone(), "edited".to_string())));
        assert_eq!(metric(&s, "unchanged"), 1, "the reaction");
        // Nothing more on the next run.
        run(&s, &[]).silent_success();
        assert_eq!(events(&s).len(), 5);
    }
}

mod crash {
    use super::*;

    /// SIGKILL at random points of many runs while messages keep arriving (and some are
    /// edited): in the end the inbox holds exactly one event per message version.
    #[test]
    fn sigkill_at_random_points_loses_and_duplicates_nothing() {
        let g = FakeGraph::start();
        let s = suite(&g, json!({"poll-teams": {"page_size": 3}}));
        // Every page takes a few ms, as over a real network, so that runs last long enough
        // for most kills to land mid-run however fast the process starts.
        g.fail_times(
            Route::List,
            Fault::Delay(Duration::from_millis(4)),
            u32::MAX,
        );
        let mut want: BTreeSet<(String, String)> = BTreeSet::new();
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        let mut ids = Vec::new();
        let mut edited = BTreeSet::new();
        for i in 0..100 {
            for _ in 0..rng.usize(0..12) {
                let id = g.add_message(CHAT, TRUSTED, "R", &format!("<p>msg {i}</p>"));
                want.insert((id.clone(), "message".into()));
                ids.push(id);
            }
            if i % 10 == 5 && !ids.is_empty() {
                let id = ids[rng.usize(..ids.len())].clone();
                if edited.insert(id.clone()) {
                    std::thread::sleep(Duration::from_millis(2));
                    // Delivered before the edit: both events; otherwise only the edited one.
                    let delivered = kinds(&s).contains(&(id.clone(), "message".to_string()));
                    assert!(g.edit_message(CHAT, &id, &format!("<p>edit {i}</p>")));
                    if !delivered {
                        want.remove(&(id.clone(), "message".to_string()));
                    }
                    want.insert((id, "edited".into()));
                }
            }
            let child = cmd(&s, &[])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(rng.u64(2..45)));
            testkit::signal(&child, 9);
            let mut child = child;
            let _ = child.wait();
        }
        // A final run to completion (it may need two if a throttled edit landed late).
        run(&s, &[]).code(0);
        let got = kinds(&s);
        let set: BTreeSet<(String, String)> = got.iter().cloned().collect();
        assert_eq!(got.len(), set.len(), "duplicate events: {got:?}");
        let expect = want.clone();
        let missing: Vec<_> = expect.difference(&set).collect();
        let extra: Vec<_> = set.difference(&expect).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "missing {missing:?}\nextra {extra:?}"
        );
        assert!(!want.is_empty());
        let completed = s.state("poll-teams")["runs"]["total"].as_u64().unwrap_or(0);
        assert!(
            completed < 60,
            "most of the 100 runs must have been killed mid-way ({completed} completed)"
        );
        assert_eq!(
            std::fs::read_dir(s.path("state/inbox/teams/tmp"))
                .unwrap()
                .count(),
            0,
            "no temp files left"
        );
    }
}

mod faults {
    use super::*;

    #[test]
    fn storm_of_429s_is_ridden_out_with_retry_after() {
        let g = FakeGraph::start();
        for i in 0..12 {
            g.add_message(CHAT, TRUSTED, "R", &format!("m{i}"));
        }
        g.fail_next(Route::List, Fault::Throttle(Some("0.2".into())));
        g.fail_next(Route::List, Fault::Throttle(None));
        g.fail_next(Route::List, Fault::Throttle(Some("1".into())));
        g.fail_at(Route::List, 5, Fault::Unavailable(Some("0".into())));
        g.fail_at(Route::List, 6, Fault::GatewayTimeout);
        let s = suite(&g, json!({"poll-teams": {"page_size": 5}}));
        let t0 = std::time::Instant::now();
        run(&s, &[]).silent_success();
        assert!(
            t0.elapsed() >= Duration::from_millis(1200),
            "Retry-After was honoured"
        );
        assert_eq!(kinds(&s).len(), 12);
        assert_eq!(metric(&s, "throttled"), 3);
        assert!(metric(&s, "requests") >= 8, "3 pages + 5 retries");
    }

    #[test]
    fn throttling_beyond_the_retries_moves_nothing_and_the_next_run_catches_up() {
        let g = FakeGraph::start();
        for i in 0..3 {
            g.add_message(CHAT, TRUSTED, "R", &format!("m{i}"));
        }
        g.fail_times(Route::List, Fault::Throttle(Some("0".into())), 5);
        let s = suite(&g, json!({}));
        run(&s, &[]).code(1).stderr_has("429");
        assert!(kinds(&s).is_empty());
        assert!(s.state("poll-teams")["data"]["chats"][CHAT]["watermark"].is_null());
        run(&s, &[]).silent_success();
        assert_eq!(kinds(&s).len(), 3);
    }

    #[test]
    fn dropped_truncated_and_malformed_answers_are_retried() {
        let g = FakeGraph::start();
        for i in 0..7 {
            g.add_message(CHAT, TRUSTED, "R", &format!("m{i}"));
        }
        g.fail_next(Route::List, Fault::Drop);
        g.fail_next(Route::List, Fault::Truncated);
        g.fail_next(Route::List, Fault::Malformed);
        let s = suite(&g, json!({"poll-teams": {"page_size": 5}}));
        run(&s, &[]).code(0);
        assert_eq!(kinds(&s).len(), 7);
        // Malformed three times in a row: a clear error and nothing moves.
        g.add_message(CHAT, TRUSTED, "R", "later");
        g.fail_times(Route::List, Fault::Malformed, 3);
        run(&s, &[]).code(1).stderr_has("malformed JSON");
        assert_eq!(kinds(&s).len(), 7);
    }

    #[test]
    fn token_expiry_mid_run_refreshes_once() {
        let g = FakeGraph::start();
        for i in 0..20 {
            g.add_message(CHAT, TRUSTED, "R", &format!("m{i}"));
        }
        g.fail_at(Route::List, 3, Fault::ExpiredToken);
        let s = suite(&g, json!({"poll-teams": {"page_size": 5}}));
        run(&s, &[]).silent_success();
        assert_eq!(kinds(&s).len(), 20);
        assert_eq!(g.count(Route::Token), 2, "one refresh");
        // The cache is private and reused by the next run.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.path("state/graph.token.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let cache = s.read("state/graph.token.json");
        run(&s, &[]).silent_success();
        assert_eq!(g.count(Route::Token), 2, "cached token reused");
        // No secret in state or logs.
        let token = serde_json::from_str::<Value>(&cache).unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        for f in ["state/poll-teams.json", "logs/poll-teams.log"] {
            let t = s.read(f);
            assert!(
                !t.contains(&token) && !t.contains(AGENT_PASSWORD),
                "{f} leaks a secret"
            );
        }
    }

    #[test]
    fn a_second_401_is_fatal() {
        let g = FakeGraph::start();
        g.add_message(CHAT, TRUSTED, "R", "m");
        g.fail_times(Route::List, Fault::ExpiredToken, 2);
        let s = suite(&g, json!({}));
        run(&s, &[]).code(78).stderr_has("freshly issued token");
        assert!(kinds(&s).is_empty());
    }

    #[test]
    fn short_lived_tokens_are_renewed_early() {
        let g = FakeGraph::start();
        g.set_token_ttl(2);
        g.add_message(CHAT, TRUSTED, "R", "m");
        let s = suite(&g, json!({}));
        run(&s, &[]).silent_success();
        std::thread::sleep(Duration::from_millis(1100));
        run(&s, &[]).silent_success();
        assert_eq!(
            g.count(Route::Token),
            2,
            "renewed after half its 2 s life, without a 401"
        );
    }
}

mod aadsts {
    use super::*;

    fn expect_78(s: &Suite, needles: &[&str]) {
        let r = run(s, &[]);
        r.code(78);
        for n in needles {
            r.stderr_has(n);
        }
        assert!(!r.stderr.contains(AGENT_PASSWORD) && !r.stderr.contains(CLIENT_SECRET));
    }

    #[test]
    fn wrong_password() {
        let g = FakeGraph::start();
        g.set_user(fakes::graph::AGENT_USER, "another-password");
        let s = suite(&g, json!({}));
        expect_78(
            &s,
            &["AADSTS50126", "wrong user name or password", "PT_PASSWORD"],
        );
    }

    #[test]
    fn mfa_required() {
        let g = FakeGraph::start();
        g.require_mfa(fakes::graph::AGENT_USER);
        let s = suite(&g, json!({}));
        expect_78(&s, &["AADSTS50076", "multi-factor"]);
        g.clear_faults();
        let s = suite(&g, json!({}));
        g.fail_next(
            Route::Token,
            Fault::Aadsts(400, "interaction_required".into(), 50079),
        );
        // The MFA user is still configured; a scripted 50079 comes first.
        expect_78(&s, &["AADSTS50079", "multi-factor"]);
    }

    #[test]
    fn bad_or_expired_client_secret() {
        let g = FakeGraph::start();
        g.set_client_secret("rotated-secret");
        let s = suite(&g, json!({"graph": g.app_config("PT_SECRET")}));
        expect_78(
            &s,
            &[
                "AADSTS7000215",
                "client secret is invalid or expired",
                "PT_SECRET",
            ],
        );
        g.fail_next(
            Route::Token,
            Fault::Aadsts(401, "invalid_client".into(), 7000222),
        );
        expect_78(&s, &["AADSTS7000222"]);
    }

    #[test]
    fn app_not_in_tenant() {
        let g = FakeGraph::start();
        let s = suite(
            &g,
            json!({"graph": {"client_id": "99999999-0000-0000-0000-000000000000"}}),
        );
        expect_78(&s, &["AADSTS700016", "not found in tenant"]);
    }

    #[test]
    fn missing_consent_and_missing_scope() {
        let g = FakeGraph::start();
        g.fail_next(
            Route::Token,
            Fault::Aadsts(400, "invalid_grant".into(), 65001),
        );
        let s = suite(&g, json!({}));
        expect_78(&s, &["AADSTS65001", "consent"]);
        g.set_missing_scope(true);
        expect_78(&s, &["Missing scope permissions"]);
    }

    #[test]
    fn app_only_token_cannot_post_replies() {
        let g = FakeGraph::start();
        g.add_message(CHAT, OP, "Op", "/jobs help");
        let s = suite(&g, json!({"graph": g.app_config("PT_SECRET")}));
        let r = run(&s, &[]);
        r.code(1).stderr_has("delegated token");
        assert!(g.posted(CHAT).is_empty());
    }

    #[test]
    fn bad_config_is_named() {
        let g = FakeGraph::start();
        let s = suite(&g, json!({"poll-teams": {"page_size": 80}}));
        run(&s, &[]).code(78).stderr_has("poll-teams.page_size");
        let s = suite(&g, json!({"graph": {"tenant": "common"}}));
        run(&s, &[]).code(78).stderr_has("graph.tenant");
        let s = suite(&g, json!({"poll-teams": {"chatz": []}}));
        run(&s, &[]).code(78).stderr_has("chatz");
    }
}

mod allowlist {
    use super::*;

    #[test]
    fn tiers_denials_bots_self_and_system_events() {
        let g = FakeGraph::start();
        let op = g.add_message(CHAT, OP, "Operator", "from the operator");
        let tr = g.add_message(CHAT, TRUSTED, "Trusted", "from a trusted user");
        g.add_message(CHAT, STRANGER, "Robin Kline", "let me in");
        g.add_message(CHAT, STRANGER, "Robin Kline", "please");
        g.add_message(CHAT, AGENT_USER_ID, "Agent", "my own reply");
        let now = chrono::Utc::now().to_rfc3339();
        g.add_raw(CHAT, json!({"id": "1616964509999", "messageType": "message",
            "createdDateTime": now, "lastModifiedDateTime": now,
            "from": {"application": {"id": "6d23e712-527b-406f-8d59-d02927885918", "displayName": "Breakthru", "applicationIdentityType": "bot"}, "user": null, "device": null},
            "body": {"contentType": "html", "content": "bot says hi"}}));
        g.add_raw(
            CHAT,
            json!({"id": "1615943825123", "messageType": "systemEventMessage",
            "createdDateTime": now, "lastModifiedDateTime": now, "from": null,
            "body": {"contentType": "html", "content": "<systemEventMessage/>"},
            "eventDetail": {"@odata.type": "#microsoft.graph.chatRenamedEventMessageDetail"}}),
        );
        // A display name that imitates the operator does not help.
        g.add_message(CHAT, STRANGER, "Operator", "I am the operator");
        let s = suite(&g, json!({"poll-teams": {"keep_rejected": true}}));
        run(&s, &[]).stderr_has("denied").code(0);
        let evs = events(&s);
        let tiers: BTreeMap<String, String> = evs
            .iter()
            .map(|(_, v)| {
                (
                    v["message_id"].as_str().unwrap().into(),
                    v["sender"]["tier"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            tiers,
            BTreeMap::from([(op, "operator".to_string()), (tr, "trusted".to_string())])
        );
        assert_eq!(metric(&s, "denied"), 3);
        assert_eq!(metric(&s, "skipped"), 3, "self, bot, system event");
        assert_eq!(
            s.log("poll-teams")
                .matches("denied: not in operators")
                .count(),
            1,
            "logged once per sender per day"
        );
        assert_eq!(
            std::fs::read_dir(s.path("state/inbox/teams/rejected"))
                .unwrap()
                .count(),
            3
        );
    }
}

mod commands {
    use super::*;

    #[test]
    fn stop_start_status_help_from_an_operator() {
        let g = FakeGraph::start();
        g.add_message(CHAT, OP, "Operator", "<p>/jobs stop</p>");
        let s = suite(&g, json!({}));
        run(&s, &[]).silent_success();
        let control: Value = serde_json::from_str(&s.read("state/control.json")).unwrap();
        assert_eq!(control["paused"], true);
        assert_eq!(control["by"], "Operator");
        assert!(kinds(&s).is_empty(), "commands do not go to the inbox");
        assert_eq!(g.posted(CHAT).len(), 1);
        // poll-teams keeps working while paused, so /start can resume.
        g.add_message(CHAT, OP, "Operator", "/jobs status");
        g.add_message(CHAT, OP, "Operator", "/JOBS start");
        g.add_message(CHAT, OP, "Operator", "/jobs help");
        run(&s, &[]).silent_success();
        let control: Value = serde_json::from_str(&s.read("state/control.json")).unwrap();
        assert_eq!(control["paused"], false);
        let posted = g.posted(CHAT);
        assert_eq!(posted.len(), 4);
        let status = posted[1]["body"]["content"].as_str().unwrap();
        assert!(
            status.contains("Paused")
                && status.contains("poll-teams")
                && status.contains("backup-config"),
            "{status}"
        );
        assert!(
            posted[3]["body"]["content"]
                .as_str()
                .unwrap()
                .contains("/jobs restore")
        );
        assert_eq!(metric(&s, "commands"), 4);
        // The agent's own replies (now in the chat) are not delivered or executed.
        run(&s, &[]).silent_success();
        assert_eq!(g.posted(CHAT).len(), 4);
        assert!(kinds(&s).is_empty());
    }

    #[test]
    fn messages_before_a_command_count_as_delivered() {
        // Regression: events flushed ahead of a command were delivered but not counted, so
        // the run was recorded as a no-op.
        let g = FakeGraph::start();
        g.add_message(CHAT, OP, "Operator", "<p>numbers please</p>");
        g.add_message(CHAT, TRUSTED, "Robin", "<p>thanks</p>");
        g.add_message(CHAT, OP, "Operator", "/jobs help");
        let s = suite(&g, json!({}));
        run(&s, &[]).silent_success();
        assert_eq!(kinds(&s).len(), 2);
        let st = s.state("poll-teams");
        assert_eq!(st["last_run"]["outcome"], "ok", "{st}");
        assert!(
            st["last_run"]["summary"]
                .as_str()
                .unwrap()
                .starts_with("2 event(s) delivered"),
            "{st}"
        );
    }

    #[test]
    fn a_throttled_reply_is_posted_once_after_retry_after() {
        let g = FakeGraph::start();
        g.add_message(CHAT, OP, "Operator", "/jobs help");
        g.fail_next(Route::Post, Fault::Throttle(Some("0.3".into())));
        let s = suite(&g, json!({}));
        run(&s, &[]).silent_success();
        assert_eq!(g.count(Route::Post), 2, "one 429, one success");
        assert_eq!(g.posted(CHAT).len(), 1);
        // A 503 on the POST may have been processed: not repeated, reported.
        g.add_message(CHAT, OP, "Operator", "/jobs help");
        g.fail_next(Route::Post, Fault::Unavailable(None));
        run(&s, &[])
            .code(1)
            .stderr_has("cannot reply to /jobs help");
        assert_eq!(g.count(Route::Post), 3);
        run(&s, &[]).silent_success();
        assert_eq!(
            g.count(Route::Post),
            3,
            "a failed reply is not retried by later runs"
        );
    }

    #[test]
    fn commands_from_others_are_not_executed_or_answered() {
        let g = FakeGraph::start();
        g.add_message(CHAT, TRUSTED, "Trusted", "/jobs stop");
        g.add_message(CHAT, STRANGER, "Stranger", "/jobs restart-gateway");
        let s = suite(
            &g,
            json!({"poll-teams": {"commands": {"restart_gateway": ["sh", "-c", "touch reset-ran"]}}}),
        );
        run(&s, &[]).code(0);
        assert!(s.read("state/control.json").is_empty());
        assert!(!s.path("reset-ran").exists());
        assert!(g.posted(CHAT).is_empty());
        assert!(kinds(&s).is_empty());
        assert_eq!(metric(&s, "commands_refused"), 2);
    }

    #[test]
    fn restore_runs_the_configured_argv_and_reboot_needs_enabling() {
        let g = FakeGraph::start();
        g.add_message(CHAT, OP, "Operator", "/jobs restore");
        g.add_message(CHAT, OP, "Operator", "/jobs reboot");
        let s = suite(
            &g,
            json!({"poll-teams": {"commands": {
            "restore": ["sh", "-c", "echo restored openclaw.json; echo restore >> calls"],
            "reboot": ["sh", "-c", "echo reboot >> calls"]}}}),
        );
        run(&s, &[]).code(1);
        assert_eq!(s.read("calls"), "restore\n");
        let posted = g.posted(CHAT);
        assert_eq!(posted.len(), 2);
        assert!(
            posted[0]["body"]["content"]
                .as_str()
                .unwrap()
                .contains("restored openclaw.json")
        );
        assert!(
            posted[1]["body"]["content"]
                .as_str()
                .unwrap()
                .contains("disabled")
        );
    }

    #[test]
    fn a_command_runs_once_even_when_the_run_is_killed_during_or_right_after_it() {
        let g = FakeGraph::start();
        let s = suite(
            &g,
            json!({"poll-teams": {"commands": {
            "restart_gateway": ["sh", "-c", "echo x >> ran; sleep 0.3"]}}}),
        );
        for i in 1..=6u64 {
            g.add_message(CHAT, OP, "Operator", "/jobs restart-gateway");
            let mut child = cmd(&s, &[])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            assert!(testkit::wait_until(
                Duration::from_secs(10),
                || s.read("ran").lines().count() as u64 == i
            ));
            // Odd iterations: killed while the command runs; even: right after it finished.
            if i % 2 == 0 {
                std::thread::sleep(Duration::from_millis(320));
            }
            testkit::signal(&child, 9);
            let _ = child.wait();
            run(&s, &[]).code(0);
            run(&s, &[]).code(0);
            assert_eq!(
                s.read("ran").lines().count() as u64,
                i,
                "executed exactly once per message"
            );
        }
        // Schema 2: a command's outcome and its reply's are effects in the journal.
        let st = s.state("poll-teams");
        assert_eq!(st["data"]["commands"].as_object().unwrap().len(), 6);
        let effects = st["effects"].as_object().unwrap();
        let status = |prefix: &str| -> Vec<String> {
            effects
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(_, v)| v["status"].as_str().unwrap().to_string())
                .collect()
        };
        let commands = status("command/");
        assert_eq!(commands.len(), 6);
        assert!(commands.iter().any(|s| s == "unknown"), "{commands:?}");
        assert!(status("reply/").iter().all(|s| s != "started"));
        assert!(
            st["data"]["commands"]
                .as_object()
                .unwrap()
                .values()
                .all(|r| r["reply_html"] == ""),
            "no reply left pending"
        );
        let posted = g.posted(CHAT);
        assert!(posted.len() <= 6, "never more than one reply per command");
        assert!(posted.iter().any(|p| {
            p["body"]["content"]
                .as_str()
                .unwrap()
                .contains("outcome unknown")
        }));
    }
}

mod hostile {
    use super::*;

    #[test]
    fn nulls_unknown_types_huge_bodies_odd_ids_and_scripts_are_safe() {
        let g = FakeGraph::start();
        let now = chrono::Utc::now().to_rfc3339();
        let user =
            json!({"user": {"id": TRUSTED, "displayName": null, "userIdentityType": "aadUser"}});
        g.add_raw(CHAT, json!({"id": "1700000000001", "messageType": "message", "createdDateTime": now,
            "lastModifiedDateTime": null, "lastEditedDateTime": null, "deletedDateTime": null, "subject": null,
            "from": user, "body": null, "mentions": null, "attachments": null, "reactions": null}));
        g.add_raw(CHAT, json!({"id": "1700000000002", "messageType": "futureThing", "createdDateTime": now,
            "lastModifiedDateTime": now, "from": user, "body": {"contentType": "html", "content": "?"}}));
        g.add_raw(
            CHAT,
            json!({"id": "1700000000003", "messageType": "message", "createdDateTime": now,
            "lastModifiedDateTime": now, "from": user,
            "body": {"contentType": "html", "content": format!("<p>{}</p>", "A".repeat(1 << 20))}}),
        );
        g.add_raw(CHAT, json!({"id": "../../../etc/passwd\u{7}\n", "messageType": "message", "createdDateTime": now,
            "lastModifiedDateTime": now, "from": user,
            "body": {"contentType": "html", "content": "<p>hi</p><script>alert('pwned')</script><img src=x onerror=alert(1)>"}}));
        g.add_raw(
            CHAT,
            json!({"id": null, "messageType": "message", "lastModifiedDateTime": now}),
        );
        g.add_raw(
            CHAT,
            json!({"id": "1700000000005", "messageType": "message", "createdDateTime": "not a date",
            "lastModifiedDateTime": now, "from": user, "body": {"content": "x"}}),
        );
        g.add_raw(CHAT, json!("just a string"));
        let s = suite(&g, json!({"poll-teams": {"max_body_bytes": 4096}}));
        let r = run(&s, &[]);
        r.code(0).stderr_has("malformed");
        let evs = events(&s);
        assert_eq!(
            evs.len(),
            3,
            "{:?}",
            evs.iter().map(|e| &e.1["message_id"]).collect::<Vec<_>>()
        );
        for (name, v) in &evs {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'),
                "unsafe file name {name}"
            );
            assert!(!v["text"].as_str().unwrap().contains("alert"), "{v}");
        }
        let by_id: BTreeMap<String, &Value> = evs
            .iter()
            .map(|(_, v)| (v["message_id"].as_str().unwrap().to_string(), v))
            .collect();
        let big = by_id["1700000000003"];
        assert_eq!(big["truncated"], true);
        assert!(big["html"].as_str().unwrap().len() < 5000);
        assert!(
            big["text"]
                .as_str()
                .unwrap()
                .contains("[truncated: 1048583 bytes")
        );
        assert_eq!(by_id["../../../etc/passwd\u{7}\n"]["text"], "hi\n[image]");
        assert_eq!(by_id["1700000000001"]["text"], "");
        assert_eq!(
            metric(&s, "malformed"),
            2,
            "the string item is filtered out by the server"
        );
        assert!(!s.path("etc").exists() && !s.path("state/etc").exists());
    }
}

mod operating {
    use super::*;

    #[test]
    fn dry_run_writes_nothing() {
        let g = FakeGraph::start();
        g.add_message(CHAT, TRUSTED, "R", "m");
        g.add_message(CHAT, OP, "Op", "/jobs stop");
        let s = suite(&g, json!({}));
        let r = run(&s, &["--dry-run"]);
        r.code(0).stderr_has("dry run: would deliver 1 event");
        assert!(kinds(&s).is_empty());
        assert!(!s.path("state/poll-teams.json").exists());
        assert!(!s.path("state/control.json").exists());
        assert!(g.posted(CHAT).is_empty());
    }

    #[test]
    fn polls_while_the_suite_is_paused() {
        let g = FakeGraph::start();
        g.add_message(CHAT, TRUSTED, "R", "m");
        let s = suite(&g, json!({}));
        s.write(
            "state/control.json",
            r#"{"paused": true, "reason": "maintenance"}"#,
        );
        run(&s, &[]).silent_success();
        assert_eq!(kinds(&s).len(), 1);
    }

    #[test]
    fn watch_keeps_polling_inside_one_run() {
        let g = FakeGraph::start();
        g.add_message(CHAT, TRUSTED, "R", "first");
        let s = suite(&g, json!({"poll-teams": {"watch_interval_secs": 0.5}}));
        let child = cmd(&s, &["--watch", "2.5s"]).spawn().unwrap();
        assert!(testkit::wait_until(Duration::from_secs(5), || kinds(&s)
            .len()
            == 1));
        g.add_message(CHAT, TRUSTED, "R", "second");
        assert!(
            testkit::wait_until(Duration::from_secs(3), || kinds(&s).len() == 2),
            "delivered within the same run"
        );
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert!(metric(&s, "passes") >= 3);
        assert_eq!(s.state("poll-teams")["runs"]["total"], 1);
    }

    #[test]
    fn sigterm_stops_a_watch_cleanly_with_progress_saved() {
        let g = FakeGraph::start();
        g.add_message(CHAT, TRUSTED, "R", "m");
        let s = suite(&g, json!({"poll-teams": {"watch_interval_secs": 0.5}}));
        let child = cmd(&s, &["--watch", "60s"]).spawn().unwrap();
        assert!(testkit::wait_until(Duration::from_secs(5), || kinds(&s)
            .len()
            == 1));
        let t0 = std::time::Instant::now();
        testkit::signal(&child, 15);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(143));
        assert!(t0.elapsed() < Duration::from_secs(3));
        let st = s.state("poll-teams");
        assert!(st["data"]["chats"][CHAT]["watermark"].is_string(), "{st}");
        run(&s, &[]).silent_success();
        assert_eq!(kinds(&s).len(), 1);
    }

    #[test]
    fn status_subcommand_prints_watermarks() {
        let g = FakeGraph::start();
        g.add_message(CHAT, TRUSTED, "R", "m");
        let s = suite(&g, json!({}));
        run(&s, &[]).silent_success();
        let r = run(&s, &["status"]);
        r.code(0)
            .stdout_has(CHAT)
            .stdout_has("watermark: 20")
            .stdout_has("1 new");
    }
}

mod channels {
    use super::*;

    const TEAM: &str = "172b0cce-e65d-44ce-9a49-91d9f2e8493a";
    const CHANNEL: &str = "19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2";

    fn channel_events(s: &Suite) -> Vec<(String, String)> {
        events(s)
            .into_iter()
            .filter(|(_, v)| {
                v["channel_id"] == CHANNEL && v["team_id"] == TEAM && v["chat_id"].is_null()
            })
            .map(|(_, v)| {
                (
                    v["message_id"].as_str().unwrap().to_string(),
                    v["event"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn delta_link_reads_only_changes_and_recovers_from_expiry() {
        let g = FakeGraph::start();
        let mut ids = Vec::new();
        for i in 0..7 {
            ids.push(g.add_channel_message(TEAM, CHANNEL, TRUSTED, "R", &format!("<p>c{i}</p>")));
        }
        g.add_channel_message(TEAM, CHANNEL, OP, "Op", "/jobs stop");
        let s = suite(
            &g,
            json!({"poll-teams": {"chats": [], "page_size": 5,
                   "channels": [{"team": TEAM, "channel": CHANNEL}]}}),
        );
        run(&s, &[])
            .code(0)
            .stderr_has("commands are only taken in chats");
        assert_eq!(channel_events(&s).len(), 7);
        assert!(
            s.read("state/control.json").is_empty(),
            "no command from a channel"
        );
        let key = format!("{TEAM}/{CHANNEL}");
        assert!(s.state("poll-teams")["data"]["channels"][&key]["delta_link"].is_string());
        assert_eq!(g.count(Route::Delta), 2, "8 messages at 5 per page");
        // Changes only, through the stored delta link.
        std::thread::sleep(Duration::from_millis(3));
        assert!(g.edit_message(
            &FakeGraph::channel_key(TEAM, CHANNEL),
            &ids[2],
            "<p>c2 edited</p>"
        ));
        g.add_channel_message(TEAM, CHANNEL, TRUSTED, "R", "c7");
        run(&s, &[]).silent_success();
        assert_eq!(channel_events(&s).len(), 9);
        assert!(channel_events(&s).contains(&(ids[2].clone(), "edited".to_string())));
        assert!(g.requests().last().unwrap().contains("deltatoken"));
        // An expired delta link: read again from the watermark, no duplicates.
        g.expire_delta_links();
        g.add_channel_message(TEAM, CHANNEL, TRUSTED, "R", "c8");
        let r = run(&s, &[]);
        r.code(0).stderr_has("delta link expired");
        let evs = channel_events(&s);
        assert_eq!(evs.len(), 10, "{evs:?}");
        let set: BTreeSet<_> = evs.iter().cloned().collect();
        assert_eq!(set.len(), 10);
        run(&s, &[]).silent_success();
        assert_eq!(channel_events(&s).len(), 10);
    }
}

#[path = "support/fake_hooks.rs"]
mod fake_hooks;

/// A suite whose gateway is the contract fake: `gw/openclaw.json` with hooks enabled and its
/// log file, the suite's `gateway` section pointing there. `extra` is merged last.
fn gateway_suite(g: &FakeGraph, extra: Value) -> (Suite, fake_hooks::FakeHooks) {
    let s = suite(g, json!({}));
    let hooks = fake_hooks::FakeHooks::start(&s.path("gw/openclaw.log"));
    s.write(
        "gw/openclaw.json",
        &json!({"hooks": {"enabled": true, "token": hooks.token, "path": "/hooks"},
                "logging": {"file": s.path("gw/openclaw.log")}})
        .to_string(),
    );
    let mut cfg: Value = serde_json::from_str(&s.read("config.json")).unwrap();
    merge(
        &mut cfg,
        json!({"gateway": {"config": s.path("gw/openclaw.json"), "state_dir": s.path("gw"), "url": hooks.url()},
               "runtime": {"alerts": {"command": ["sh", "-c", "cat >> alerts.txt; echo >> alerts.txt"]}},
               "poll-teams": {"delivery": {"mode": "all"}}}),
    );
    merge(&mut cfg, extra);
    s.config(cfg);
    (s, hooks)
}

fn names_in(s: &Suite, sub: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(s.path(&format!("state/inbox/teams/{sub}")))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn alerts(s: &Suite) -> String {
    s.read("alerts.txt")
}

fn at(secs_from_now: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs_from_now)).to_rfc3339()
}

mod delivery {
    use super::fake_hooks::HookFault;
    use super::*;

    #[test]
    fn each_event_is_delivered_once_with_who_where_and_when() {
        let g = FakeGraph::start();
        let ids: Vec<String> = (0..3)
            .map(|i| {
                g.add_message(
                    CHAT,
                    TRUSTED,
                    "Robin Kline",
                    &format!("<p>question {i}</p>"),
                )
            })
            .collect();
        let (s, hooks) = gateway_suite(&g, json!({}));
        run(&s, &[]).silent_success();
        let runs = hooks.runs();
        assert_eq!(runs.len(), 3);
        for (r, id) in runs.iter().zip(&ids) {
            let b = &r.body;
            let msg = b["message"].as_str().unwrap();
            assert!(
                msg.starts_with(&format!(
                    "Robin Kline (trusted) wrote in the Teams chat {CHAT} at 20"
                )),
                "{msg}"
            );
            assert!(
                msg.contains("question") && msg.contains(id.as_str()),
                "{msg}"
            );
            assert_eq!(b["deliver"], false);
            assert!(
                b["idempotencyKey"]
                    .as_str()
                    .unwrap()
                    .starts_with("teams:20")
            );
            assert!(r.name.starts_with("Teams message "));
        }
        assert!(names_in(&s, "new").is_empty());
        assert_eq!(names_in(&s, "cur").len(), 3, "moved to cur/ after the 200");
        run(&s, &[]).silent_success();
        assert_eq!(hooks.requests(), 3, "nothing is posted twice");
        let st = s.state("poll-teams");
        assert_eq!(st["facts"]["delivered"], 3);
        assert_eq!(st["facts"]["pending"], 0);
        let log = s.log("poll-teams");
        assert!(
            !log.contains(&hooks.token),
            "the hook token never reaches the log"
        );
        assert!(!s.read("state/poll-teams.json").contains(&hooks.token));
    }

    #[test]
    fn journal_is_the_default_and_sends_nothing() {
        let g = FakeGraph::start();
        g.add_message(CHAT, TRUSTED, "Robin", "hello");
        let (s, hooks) = gateway_suite(&g, json!({"poll-teams": {"delivery": {"mode": null}}}));
        let mut cfg: Value = serde_json::from_str(&s.read("config.json")).unwrap();
        cfg["poll-teams"]["delivery"]
            .as_object_mut()
            .unwrap()
            .remove("mode");
        s.config(cfg);
        run(&s, &[]).silent_success();
        assert_eq!(hooks.requests(), 0);
        assert_eq!(names_in(&s, "new").len(), 1, "kept in the Maildir");
    }

    #[test]
    fn a_400_is_given_up_and_kept_with_its_reason() {
        let g = FakeGraph::start();
        g.add_message(CHAT, TRUSTED, "Robin", "first");
        g.add_message(CHAT, TRUSTED, "Robin", "second");
        let (s, hooks) = gateway_suite(&g, json!({}));
        // The real gateway's answer, captured (`gateway-hook-refusals`).
        let captured = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/openclaw-2026.9.6/gateway-hook-refusals/hook-channel-msteams.txt"
        ))
        .unwrap();
        let (status, body) = captured.split_once('\n').unwrap();
        hooks.push(HookFault::Status(
            status.trim().parse().unwrap(),
            serde_json::from_str(body.trim()).unwrap(),
        ));
        run(&s, &[]).code(1).stderr_has("channel must be last");
        let rejected = names_in(&s, "rejected");
        assert_eq!(rejected.len(), 2, "{rejected:?}");
        let reason = rejected.iter().find(|n| n.ends_with(".reason")).unwrap();
        assert!(
            s.read(&format!("state/inbox/teams/rejected/{reason}"))
                .contains("channel must be last")
        );
        assert_eq!(hooks.runs().len(), 1, "the next event still went through");
        run(&s, &[]).silent_success();
        assert_eq!(hooks.requests(), 2, "a refused event is not posted again");
        assert_eq!(s.state("poll-teams")["facts"]["rejected"], 1);
    }

    #[test]
    fn conflicts_and_5xx_are_retried_later_in_order() {
        let g = FakeGraph::start();
        let first = g.add_message(CHAT, TRUSTED, "Robin", "first");
        g.add_message(CHAT, TRUSTED, "Robin", "second");
        let (s, hooks) = gateway_suite(&g, json!({}));
        hooks.push(HookFault::Status(
            409,
            json!({"ok": false, "error": "hook configuration changed; retry request"}),
        ));
        run(&s, &[]).code(1).stderr_has("HTTP 409");
        assert_eq!(
            hooks.requests(),
            1,
            "the second waits behind the first (order per chat)"
        );
        run(&s, &[]).code(0);
        assert_eq!(hooks.requests(), 1, "not before the backoff");
        hooks.push(HookFault::Status(502, json!({"ok": false, "error": "hook agent run failed before entering the agent runner", "runId": "x"})));
        run(&s, &["--now", &at(20)]).code(1).stderr_has("HTTP 502");
        hooks.push(HookFault::Status(503, json!({"ok": false, "error": "hook agent run did not start before admission timeout", "runId": "y"})));
        run(&s, &["--now", &at(60)])
            .code(1)
            .stderr_has("admission timeout");
        run(&s, &["--now", &at(200)]).code(0);
        let runs = hooks.runs();
        assert_eq!(runs.len(), 2);
        assert!(
            runs[0].body["message"].as_str().unwrap().contains(&first),
            "in order"
        );
        assert_eq!(
            s.state("poll-teams")["data"]["delivery"]["retry"],
            json!({})
        );
    }

    #[test]
    fn a_restarting_gateway_is_waited_for_without_counting_attempts() {
        let g = FakeGraph::start();
        g.add_message(CHAT, TRUSTED, "Robin", "while restarting");
        let (s, hooks) = gateway_suite(&g, json!({}));
        hooks.push(HookFault::Restarting);
        run(&s, &[]).code(0);
        assert_eq!(names_in(&s, "new").len(), 1);
        assert!(s.state("poll-teams")["facts"]["gateway_down_since"].is_string());
        run(&s, &[]).silent_success();
        assert_eq!(hooks.runs().len(), 1);
        assert!(s.state("poll-teams")["facts"]["gateway_down_since"].is_null());
    }

    #[test]
    fn a_wrong_token_or_path_is_a_configuration_error() {
        let g = FakeGraph::start();
        g.add_message(CHAT, TRUSTED, "Robin", "hello");
        let (s, hooks) = gateway_suite(&g, json!({}));
        s.write("secrets/hook-token", "not-the-token\n");
        let mut cfg: Value = serde_json::from_str(&s.read("config.json")).unwrap();
        cfg["poll-teams"]["delivery"]["token_file"] = json!("secrets/hook-token");
        s.config(cfg.clone());
        run(&s, &[]).code(78).stderr_has("401");
        assert_eq!(
            names_in(&s, "new").len(),
            1,
            "kept until it can be delivered"
        );
        assert!(!s.log("poll-teams").contains("not-the-token"));
        cfg["poll-teams"]["delivery"]
            .as_object_mut()
            .unwrap()
            .remove("token_file");
        cfg["poll-teams"]["delivery"]["url"] = json!(format!("{}/hookz/agent", hooks.url()));
        s.config(cfg.clone());
        run(&s, &[]).code(78).stderr_has("404");
        cfg["poll-teams"]["delivery"]
            .as_object_mut()
            .unwrap()
            .remove("url");
        s.config(cfg);
        run(&s, &[]).silent_success();
        assert_eq!(hooks.runs().len(), 1);
    }

    #[test]
    fn hooks_disabled_in_the_gateway_is_refused_before_anything_is_sent() {
        let g = FakeGraph::start();
        g.add_message(CHAT, TRUSTED, "Robin", "hello");
        let (s, hooks) = gateway_suite(&g, json!({}));
        s.write("gw/openclaw.json", r#"{ hooks: { enabled: false } }"#);
        run(&s, &["--check-config"]).code(78).stderr_has("hooks");
        run(&s, &[]).code(78).stderr_has("hooks.enabled");
        assert_eq!(hooks.requests(), 0);
        // Nothing moved: the message is read again once the configuration is fixed.
        s.write(
            "gw/openclaw.json",
            &json!({"hooks": {"enabled": true, "token": hooks.token},
                    "logging": {"file": s.path("gw/openclaw.log")}})
            .to_string(),
        );
        run(&s, &[]).silent_success();
        assert_eq!(hooks.runs().len(), 1);
    }

    /// The hard case: the gateway admitted the run, the answer never arrived (the process was
    /// killed right after the POST, or the connection dropped). The gateway's own key memory is
    /// cleared (a restart); the log says the run happened, so it is not sent again.
    #[test]
    fn an_unknown_outcome_is_settled_from_the_gateways_log_not_its_key_memory() {
        let g = FakeGraph::start();
        g.add_message(CHAT, TRUSTED, "Robin", "one");
        let (s, hooks) = gateway_suite(&g, json!({}));
        let r = s.run_cmd(cmd(&s, &[]).env("AGENT_JOBS_TEST_CRASH_AT", "effect-acted:deliver/"));
        assert_ne!(r.code, 0, "killed after the POST");
        assert_eq!(hooks.runs().len(), 1);
        hooks.forget();
        run(&s, &[])
            .code(0)
            .stderr_has("interrupted by the end of an earlier run");
        assert_eq!(
            hooks.requests(),
            1,
            "settled from the log: not posted again"
        );
        assert_eq!(names_in(&s, "cur").len(), 1);
        // Killed after the intent, before the POST: not in the log, so it is sent.
        g.add_message(CHAT, TRUSTED, "Robin", "two");
        s.run_cmd(cmd(&s, &[]).env("AGENT_JOBS_TEST_CRASH_AT", "effect-intent:deliver/"));
        assert_eq!(hooks.requests(), 1);
        run(&s, &[]).code(0);
        assert_eq!(hooks.runs().len(), 2);
        // Admitted, then the connection dropped: the next pass finds it in the log.
        g.add_message(CHAT, TRUSTED, "Robin", "three");
        hooks.push(HookFault::AdmitThenDrop);
        run(&s, &[])
            .code(1)
            .stderr_has("no answer from the gateway");
        run(&s, &[]).code(0);
        assert_eq!(hooks.runs().len(), 3);
        assert!(hooks.runs_by_name().values().all(|n| *n == 1));
        assert!(names_in(&s, "new").is_empty());
    }

    #[test]
    fn without_a_readable_log_an_unknown_delivery_is_blocked_until_the_operator_decides() {
        let g = FakeGraph::start();
        g.add_message(CHAT, TRUSTED, "Robin", "one");
        let (s, hooks) = gateway_suite(&g, json!({}));
        s.write(
            "gw/openclaw.json",
            &json!({"hooks": {"enabled": true, "token": hooks.token},
                    "logging": {"file": s.path("gw/elsewhere.log")}})
            .to_string(),
        );
        hooks.push(HookFault::AdmitThenDrop);
        run(&s, &[]).code(1);
        run(&s, &[]).code(1).stderr_has("poll-teams redeliver");
        assert_eq!(hooks.requests(), 1, "never repeated blindly");
        assert_eq!(
            alerts(&s).matches("may or may not have happened").count(),
            1
        );
        run(&s, &[]).code(1);
        assert_eq!(
            alerts(&s).matches("may or may not have happened").count(),
            1,
            "alerted once"
        );
        run(&s, &["status"])
            .code(0)
            .stdout_has("unsettled delivery");
        let name = names_in(&s, "new").remove(0);
        run(&s, &["redeliver", &name]).code(0);
        run(&s, &[]).code(0);
        assert_eq!(hooks.requests(), 2, "the operator said: send it again");
        run(&s, &["redeliver", "nope.json"]).code(65);
    }

    /// SIGKILL at random points while events keep arriving, the gateway forgets its keys now
    /// and then (restarts) and drops answers after admitting: every event is admitted once.
    #[test]
    fn sigkill_during_delivery_admits_each_event_exactly_once() {
        let g = FakeGraph::start();
        let (s, hooks) = gateway_suite(&g, json!({"poll-teams": {"page_size": 5}}));
        let mut rng = fastrand::Rng::with_seed(0xdeed);
        let mut total = 0;
        for i in 0..60 {
            for _ in 0..rng.usize(0..4) {
                g.add_message(CHAT, TRUSTED, "R", &format!("<p>msg {i}</p>"));
                total += 1;
            }
            if i % 7 == 3 {
                hooks.forget();
            }
            if i % 11 == 5 {
                hooks.push(HookFault::AdmitThenDrop);
            }
            let mut child = cmd(&s, &[])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(rng.u64(5..60)));
            testkit::signal(&child, 9);
            let _ = child.wait();
        }
        run(&s, &[]);
        run(&s, &[]).code(0);
        let by_name = hooks.runs_by_name();
        assert_eq!(by_name.len(), total, "every event admitted");
        let twice: Vec<_> = by_name.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "admitted more than once: {twice:?}");
        assert!(names_in(&s, "new").is_empty());
        assert_eq!(names_in(&s, "cur").len(), total);
    }
}

mod modes {
    use super::*;

    #[test]
    fn catch_up_delivers_only_what_got_no_live_reply() {
        let g = FakeGraph::start();
        let answered = g.add_message(CHAT, TRUSTED, "Robin", "answered live");
        g.add_message(CHAT, AGENT_USER_ID, "Agent", "here you go");
        let (s, hooks) = gateway_suite(
            &g,
            json!({"poll-teams": {"delivery": {"mode": "catch-up"}}}),
        );
        run(&s, &[]).silent_success();
        assert_eq!(hooks.requests(), 0);
        assert_eq!(
            names_in(&s, "cur").len(),
            1,
            "answered live: consumed, not delivered"
        );
        let missed = g.add_message(CHAT, TRUSTED, "Robin", "nobody answers this");
        run(&s, &[]).silent_success();
        assert_eq!(hooks.requests(), 0, "waits for a live reply");
        run(&s, &["--now", &at(301)]).silent_success();
        let runs = hooks.runs();
        assert_eq!(runs.len(), 1);
        let m = runs[0].body["message"].as_str().unwrap();
        assert!(m.contains(&missed) && !m.contains(&answered), "{m}");
        assert!(m.contains("no agent reply within 5 min"), "{m}");
        assert_eq!(s.state("poll-teams")["facts"]["answered_live"], 1);
    }

    #[test]
    fn catch_up_delivers_at_once_what_arrived_while_the_gateway_was_down() {
        let g = FakeGraph::start();
        g.add_chat(CHAT);
        let (s, hooks) = gateway_suite(
            &g,
            json!({"poll-teams": {"delivery": {"mode": "catch-up"}}}),
        );
        run(&s, &[]).silent_success();
        hooks.set_live(false);
        let id = g.add_message(CHAT, TRUSTED, "Robin", "during the outage");
        run(&s, &[])
            .code(0)
            .stderr_has("the gateway does not answer");
        run(&s, &[]).silent_success();
        assert_eq!(hooks.requests(), 0);
        hooks.set_live(true);
        run(&s, &[]).silent_success();
        let runs = hooks.runs();
        assert_eq!(
            runs.len(),
            1,
            "no wait: the gateway could not have answered it"
        );
        assert!(runs[0].body["message"].as_str().unwrap().contains(&id));
        assert!(
            runs[0].body["message"]
                .as_str()
                .unwrap()
                .contains("while the gateway was down")
        );
    }

    #[test]
    fn per_chat_modes_reply_targets_and_gateway_commands() {
        let g = FakeGraph::start();
        g.add_message(CHAT, TRUSTED, "Robin", "to the group");
        g.add_message(CHAT2, TRUSTED, "Robin", "in the journal chat");
        g.add_message(CHAT, OP, "Op", "/stop");
        let (s, hooks) = gateway_suite(
            &g,
            json!({"poll-teams": {"chats": [
                {"id": CHAT, "name": "Ops group", "mode": "all",
                 "reply": {"channel": "msteams", "to": format!("conversation:{CHAT}")}},
                {"id": CHAT2, "mode": "journal"}]}}),
        );
        run(&s, &[]).silent_success();
        let runs = hooks.runs();
        assert_eq!(
            runs.len(),
            1,
            "the gateway's own /stop is not sent to the agent"
        );
        let b = &runs[0].body;
        assert_eq!(
            (b["deliver"].clone(), b["channel"].clone()),
            (json!(true), json!("msteams"))
        );
        assert_eq!(b["to"], format!("conversation:{CHAT}"));
        assert!(b["message"].as_str().unwrap().contains("\"Ops group\""));
        assert_eq!(
            names_in(&s, "new").len(),
            1,
            "the journal chat's event stays"
        );
        assert!(
            s.read("state/control.json").is_empty(),
            "bare /stop is not ours here"
        );
    }
}

mod bare_words {
    use super::*;

    #[test]
    fn prefixed_commands_run_and_bare_words_only_where_opted_in() {
        let g = FakeGraph::start();
        g.add_message(CHAT, OP, "Operator", "/stop");
        g.add_message(CHAT2, OP, "Operator", "/stop");
        let s = suite(
            &g,
            json!({"poll-teams": {"chats": [CHAT, {"id": CHAT2, "bare_commands": true}]}}),
        );
        run(&s, &[]).silent_success();
        let control: Value = serde_json::from_str(&s.read("state/control.json")).unwrap();
        assert_eq!(control["paused"], true, "opted in: executed");
        assert_eq!(g.posted(CHAT2).len(), 1);
        assert!(
            g.posted(CHAT).is_empty(),
            "not opted in: the gateway's word, not ours"
        );
        assert_eq!(
            kinds(&s).len(),
            1,
            "and it is an ordinary message in the inbox"
        );
        assert_eq!(metric(&s, "commands"), 1);
        g.add_message(CHAT, OP, "Operator", "/jobs start");
        run(&s, &[]).silent_success();
        run(&s, &[]).silent_success();
        let control: Value = serde_json::from_str(&s.read("state/control.json")).unwrap();
        assert_eq!(control["paused"], false);
        assert_eq!(g.posted(CHAT).len(), 1, "once");
    }

    #[test]
    fn an_idempotent_command_runs_again_after_a_crash_and_others_do_not() {
        let g = FakeGraph::start();
        g.add_message(CHAT, OP, "Operator", "/jobs status");
        let s = suite(&g, json!({}));
        let r = s.run_cmd(cmd(&s, &[]).env("AGENT_JOBS_TEST_CRASH_AT", "effect-intent:command/"));
        assert_ne!(r.code, 0);
        run(&s, &[]).code(0).stderr_has("it will be done again");
        let posted = g.posted(CHAT);
        assert_eq!(posted.len(), 1);
        assert!(
            posted[0]["body"]["content"]
                .as_str()
                .unwrap()
                .contains("agent-jobs status")
        );
        g.add_message(CHAT, OP, "Operator", "/jobs stop");
        s.run_cmd(cmd(&s, &[]).env("AGENT_JOBS_TEST_CRASH_AT", "effect-intent:command/"));
        run(&s, &[]).code(0);
        let posted = g.posted(CHAT);
        assert_eq!(posted.len(), 2);
        assert!(
            posted[1]["body"]["content"]
                .as_str()
                .unwrap()
                .contains("outcome unknown")
        );
        assert!(s.read("state/control.json").is_empty(), "not repeated");
    }
}

mod detectors {
    use super::*;

    fn detector_suite(g: &FakeGraph) -> Suite {
        suite(
            g,
            json!({"runtime": {"alerts": {"command": ["sh", "-c", "cat >> alerts.txt; echo >> alerts.txt"]}},
                   "poll-teams": {"chats": [{"id": CHAT, "expect_reply": true}]}}),
        )
    }

    #[test]
    fn an_unanswered_message_alerts_once_after_the_deadline() {
        let g = FakeGraph::start();
        let s = detector_suite(&g);
        let q = g.add_message(CHAT, TRUSTED, "Robin", "is the build green?");
        g.add_message(CHAT, AGENT_USER_ID, "Agent", "yes");
        let lost = g.add_message(CHAT, TRUSTED, "Robin", "and the deploy?");
        g.add_message(CHAT, OP, "Operator", "/new");
        run(&s, &[]).silent_success();
        run(&s, &["--now", &at(599)]).silent_success();
        assert!(alerts(&s).is_empty(), "not before 10 minutes");
        run(&s, &["--now", &at(601)])
            .code(0)
            .stderr_has("no agent reply within 10 min");
        run(&s, &["--now", &at(1200)]).code(0);
        let a = alerts(&s);
        assert_eq!(a.matches("no agent reply").count(), 1, "{a}");
        assert!(a.contains(&lost) && !a.contains(&q), "{a}");
        assert_eq!(s.state("poll-teams")["facts"]["unanswered"], 1);
        assert_eq!(g.posted(CHAT).len(), 0, "nothing posted into the chat");
    }

    #[test]
    fn a_duplicated_reply_alerts_once_and_normal_conversation_never() {
        let g = FakeGraph::start();
        let s = detector_suite(&g);
        g.add_message(CHAT, TRUSTED, "Robin", "status?");
        g.add_message(CHAT, AGENT_USER_ID, "Agent", "All green, nothing to do.");
        g.add_message(CHAT, TRUSTED, "Robin", "thanks, and backups?");
        g.add_message(CHAT, AGENT_USER_ID, "Agent", "Backups ran at 03:00.");
        g.add_message(CHAT, AGENT_USER_ID, "Agent", "Anything else I can check?");
        run(&s, &[]).silent_success();
        assert!(alerts(&s).is_empty(), "normal conversation");
        g.add_message(CHAT, TRUSTED, "Robin", "deploy?");
        g.add_message(
            CHAT,
            AGENT_USER_ID,
            "Agent",
            "<p>The deploy finished at noon.</p>",
        );
        let dup = g.add_message(
            CHAT,
            AGENT_USER_ID,
            "Agent",
            "<p>The deploy finished at noon!</p>",
        );
        run(&s, &[]).code(0).stderr_has("twice");
        run(&s, &[]).silent_success();
        run(&s, &["--now", &at(3600)]).code(0);
        let a = alerts(&s);
        assert_eq!(a.matches("twice").count(), 1, "{a}");
        assert!(a.contains(&dup));
        assert_eq!(s.state("poll-teams")["facts"]["duplicate_replies"], 1);
        assert_eq!(s.state("poll-teams")["facts"]["unanswered"], 0);
        assert!(g.posted(CHAT).is_empty());
    }
}

mod config_checks {
    use super::*;

    #[test]
    fn every_numeric_key_is_checked_where_it_is_parsed() {
        let g = FakeGraph::start();
        for (k, v) in [
            ("backfill_secs", json!(99_999_999_999_999u64)),
            ("backfill_secs", json!(-1)),
            ("backfill_secs", json!(1e300)),
            ("page_size", json!(0)),
            ("max_body_bytes", json!(4_294_967_295u64)),
            ("watch_interval_secs", json!(1e300)),
            ("remember_messages", json!(0)),
        ] {
            let s = suite(&g, json!({"poll-teams": {k: v}}));
            run(&s, &["--check-config"]).code(78).stderr_has(k);
            run(&s, &[]).code(78).stderr_has(k);
        }
        for (sec, k, v) in [
            ("delivery", "timeout_secs", json!(1e300)),
            ("delivery", "max_age_secs", json!(0)),
            ("delivery", "catch_up_after_secs", json!("5m")),
            (
                "commands",
                "timeout_secs",
                json!(18_446_744_073_709_551_615u64),
            ),
            ("detectors", "unanswered_after_secs", json!(-5)),
            ("detectors", "duplicate_similarity", json!(7)),
        ] {
            let s = suite(&g, json!({"poll-teams": {sec: {k: v}}}));
            run(&s, &["--check-config"])
                .code(78)
                .stderr_has(&format!("{sec}.{k}"));
        }
        // The largest accepted backfill runs.
        g.add_message(CHAT, TRUSTED, "R", "m");
        let s = suite(&g, json!({"poll-teams": {"backfill_secs": 31_536_000}}));
        run(&s, &["--check-config"]).code(0);
        run(&s, &[]).silent_success();
        assert_eq!(kinds(&s).len(), 1);
    }

    #[test]
    fn bare_words_in_a_chat_the_gateway_reads_and_allow_list_drift_are_reported() {
        let g = FakeGraph::start();
        g.add_chat(CHAT);
        let (s, hooks) = gateway_suite(
            &g,
            json!({"poll-teams": {"chats": [{"id": CHAT, "bare_commands": true, "mode": "catch-up"}, CHAT2],
                                  "allow_from_gateway": true}}),
        );
        s.write(
            "gw/openclaw.json",
            &format!(
                r#"{{ hooks: {{ enabled: true, token: "{}" }},
                     channels: {{ msteams: {{ groupAllowFrom: ["{CHAT}"],
                                              allowFrom: ["{OP}", "{STRANGER}", "accessGroup:ops"] }} }} }}"#,
                hooks.token
            ),
        );
        let r = run(&s, &["--check-config"]);
        r.code(0)
            .stderr_has("bare command words are on, but the gateway reads this chat")
            .stderr_has("accessGroup:ops")
            .stderr_has(&format!("not in poll-teams.operators/trusted: {STRANGER}"))
            .stderr_has(&format!(
                "not in the gateway's channels.msteams.allowFrom: {TRUSTED}"
            ));
        assert!(!r.stderr.contains(&hooks.token));
        // The gateway's list admits the stranger (as trusted); the access group is not resolved.
        g.add_message(CHAT2, STRANGER, "Robin Kline", "let me in");
        run(&s, &[]).code(0);
        let evs = events(&s);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].1["sender"]["tier"], "trusted");
    }

    #[test]
    fn the_deprecated_graph_section_still_works_and_is_reported() {
        let g = FakeGraph::start();
        g.add_message(CHAT, TRUSTED, "R", "m");
        let s = suite(&g, json!({}));
        let mut cfg: Value = serde_json::from_str(&s.read("config.json")).unwrap();
        let graph = cfg.as_object_mut().unwrap().remove("graph").unwrap();
        cfg["poll-teams"]["graph"] = graph;
        s.config(cfg);
        run(&s, &["--check-config"])
            .code(0)
            .stderr_has("deprecated");
        s.write("logs/poll-teams.log", "");
        run(&s, &[]).silent_success();
        assert_eq!(kinds(&s).len(), 1);
        // Said once per run in the log, not at every lookup of the settings.
        let log = s.read("logs/poll-teams.log");
        assert_eq!(
            log.matches("`poll-teams.graph` is deprecated").count(),
            1,
            "{log}"
        );
        let s = suite(&g, json!({}));
        let mut cfg: Value = serde_json::from_str(&s.read("config.json")).unwrap();
        cfg.as_object_mut().unwrap().remove("graph");
        s.config(cfg);
        run(&s, &["--check-config"])
            .code(78)
            .stderr_has("top-level `graph` section");
    }
}

mod migration {
    use super::*;

    #[test]
    fn a_schema_1_state_file_keeps_working() {
        let g = FakeGraph::start();
        let s = suite(&g, json!({}));
        let t = chrono::Utc::now() - chrono::Duration::minutes(5);
        s.write(
            "state/poll-teams.json",
            &json!({"schema_version": 1, "job": "poll-teams", "last_run": null, "last_success": null,
                "data": {"chats": {CHAT: {"watermark": t.to_rfc3339(), "boundary": ["1"], "known": {}}},
                         "commands": {format!("{CHAT}#1"): {"chat": CHAT, "message_id": "1", "command": "/help",
                             "from": OP, "from_name": "Op", "status": "done", "at": t.to_rfc3339(),
                             "finished_at": t.to_rfc3339(), "result": "listed the commands", "reply": "pending",
                             "reply_html": "<p>Commands (from before the upgrade)</p>"}},
                         "denied_logged": {}}})
            .to_string(),
        );
        g.add_message(CHAT, TRUSTED, "R", "after the upgrade");
        run(&s, &[]).silent_success();
        let st = s.state("poll-teams");
        assert_eq!(st["schema_version"], 2);
        assert_eq!(st["effects"][format!("command/{CHAT}#1")]["status"], "done");
        assert_eq!(st["effects"][format!("reply/{CHAT}#1")]["status"], "done");
        assert_eq!(g.posted(CHAT).len(), 1, "the pending reply was posted once");
        assert_eq!(kinds(&s).len(), 1, "the watermark was kept");
        run(&s, &[]).silent_success();
        assert_eq!(g.posted(CHAT).len(), 1);
    }
}

/// `status --json` and the metrics textfile.
mod operator_outputs {
    use super::*;

    #[test]
    fn status_json_and_gauges_agree_with_the_inbox() {
        let g = FakeGraph::start();
        g.add_message(CHAT, TRUSTED, "Robin", "<p>first</p>");
        g.add_message(CHAT, TRUSTED, "Robin", "<p>second</p>");
        let s = suite(&g, json!({"runtime": {"textfile_dir": "textfile"}}));
        std::fs::create_dir_all(s.path("textfile")).unwrap();
        run(&s, &[]).silent_success();
        let r = run(&s, &["status", "--json"]);
        r.code(0);
        let v: Value = serde_json::from_str(r.stdout.trim()).expect("one JSON document");
        assert_eq!(v["job"], "poll-teams");
        // Journal mode (the default): the events wait in the inbox and are counted.
        assert_eq!(v["facts"]["pending"], 2, "{v}");
        assert_eq!(v["inbox"]["new"], 2, "{v}");
        assert_eq!(v["sources"][0]["key"], CHAT);
        assert_eq!(v["sources"][0]["mode"], "journal");
        let prom = s.read("textfile/agent_jobs_poll_teams.prom");
        assert_eq!(
            testkit::prom::sample(
                &prom,
                "agent_jobs_inbox_pending_events",
                &[("job", "poll-teams")]
            ),
            Some(2.0),
            "{prom}"
        );
        testkit::prom::promtool_check(&prom);
    }

    #[test]
    fn the_pending_count_follows_a_reader_taking_events_from_new() {
        let g = FakeGraph::start();
        g.add_message(CHAT, TRUSTED, "Robin", "<p>first</p>");
        g.add_message(CHAT, TRUSTED, "Robin", "<p>second</p>");
        let s = suite(&g, json!({}));
        let new = s.path("state/inbox/teams/new");
        // The inbox quiet for a minute, as between two cron runs.
        let quiet = || {
            let past = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
            std::fs::File::open(&new)
                .unwrap()
                .set_modified(past)
                .unwrap();
        };
        let pending = |s: &testkit::Suite| -> (Value, Value) {
            let st: Value = serde_json::from_str(&s.read("state/poll-teams.json")).unwrap();
            (
                st["facts"]["pending"].clone(),
                st["data"]["delivery"]["pending_counted"]["count"].clone(),
            )
        };
        run(&s, &[]).silent_success();
        assert_eq!(
            pending(&s),
            (json!(2), Value::Null),
            "just written: not kept"
        );
        quiet();
        run(&s, &[]).silent_success();
        assert_eq!(pending(&s), (json!(2), json!(2)), "quiet: counted and kept");
        // A reader of the Maildir takes one event.
        let first = std::fs::read_dir(&new).unwrap().next().unwrap().unwrap();
        std::fs::rename(
            first.path(),
            s.path("state/inbox/teams/cur").join(first.file_name()),
        )
        .unwrap();
        run(&s, &[]).silent_success();
        assert_eq!(pending(&s).0, json!(1), "the change is seen at once");
        quiet();
        run(&s, &[]).silent_success();
        assert_eq!(pending(&s), (json!(1), json!(1)));
        g.add_message(CHAT, TRUSTED, "Robin", "<p>third</p>");
        run(&s, &[]).silent_success();
        assert_eq!(pending(&s).0, json!(2), "a new event is counted");
    }
}
