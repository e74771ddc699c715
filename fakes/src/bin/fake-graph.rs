//! `fake-graph`: the fake identity platform + Graph server as a process, for the demo and the
//! poll-teams benchmark. Prints its base URL on the first line of stdout, then serves until
//! it is killed.
//!
//! ```text
//! fake-graph [--port N] [--seed FILE] [--generate N --chat ID --from AADID] [--token-ttl SECS]
//! ```
//! `--seed FILE`: `{"chats": {"<chat id>": [{"from": "<aad id>", "name": "…", "html": "…",
//! "minutes_ago": 5, "kind": "user|bot|system"}]}}`.
//! `--generate N`: N messages from `--from` in `--chat`, spread over the last 30 minutes.

use fakes::graph::FakeGraph;
use serde_json::{Value, json};
use std::io::Write;

fn usage(msg: &str) -> ! {
    eprintln!("fake-graph: {msg}");
    eprintln!(
        "usage: fake-graph [--port N] [--seed FILE] [--generate N --chat ID --from AADID] [--token-ttl SECS]"
    );
    std::process::exit(2)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut port = 0u16;
    let mut seed = None;
    let mut generate = 0usize;
    let mut chat = String::from("19:bench0000000000000000000000000000@thread.v2");
    let mut from = String::from("8ea0e38b-efb3-4757-924a-5f94061cf8c2");
    let mut ttl = None;
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--port" => port = val().parse().unwrap_or_else(|_| usage("bad --port")),
            "--seed" => seed = Some(val()),
            "--generate" => generate = val().parse().unwrap_or_else(|_| usage("bad --generate")),
            "--chat" => chat = val(),
            "--from" => from = val(),
            "--token-ttl" => ttl = Some(val().parse().unwrap_or_else(|_| usage("bad --token-ttl"))),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let g = FakeGraph::start_on(port).unwrap_or_else(|e| usage(&format!("cannot listen: {e}")));
    if let Some(t) = ttl {
        g.set_token_ttl(t);
    }
    if let Some(path) = seed {
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| usage(&format!("cannot read {path}: {e}")));
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| usage(&format!("{path} is not JSON: {e}")));
        let chats = v
            .get("chats")
            .and_then(Value::as_object)
            .unwrap_or_else(|| usage(&format!("{path}: no `chats` object")));
        for (chat_id, msgs) in chats {
            g.add_chat(chat_id);
            let mut msgs: Vec<Value> = msgs.as_array().cloned().unwrap_or_default();
            msgs.sort_by(|a, b| {
                let m = |v: &Value| v.get("minutes_ago").and_then(Value::as_f64).unwrap_or(0.0);
                m(b).total_cmp(&m(a))
            });
            for m in msgs {
                let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                let mins = m.get("minutes_ago").and_then(Value::as_f64).unwrap_or(0.0);
                let at =
                    chrono::Utc::now() - chrono::Duration::milliseconds((mins * 60_000.0) as i64);
                let ms = at.timestamp_millis().to_string();
                let ts = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                match s("kind").as_str() {
                    "bot" => g.add_raw(
                        chat_id,
                        json!({"id": ms, "messageType": "message", "createdDateTime": ts,
                               "lastModifiedDateTime": ts, "from": {"user": null, "device": null,
                               "application": {"id": s("from"), "displayName": s("name"),
                                               "applicationIdentityType": "bot"}},
                               "body": {"contentType": "html", "content": s("html")},
                               "attachments": [], "mentions": [], "reactions": []}),
                    ),
                    "system" => g.add_raw(
                        chat_id,
                        json!({"id": ms, "messageType": "systemEventMessage", "createdDateTime": ts,
                               "lastModifiedDateTime": ts, "from": null,
                               "body": {"contentType": "html", "content": "<systemEventMessage/>"},
                               "eventDetail": {"@odata.type": "#microsoft.graph.chatRenamedEventMessageDetail",
                                               "chatDisplayName": s("html")}}),
                    ),
                    _ => {
                        g.add_message_at(chat_id, &s("from"), &s("name"), &s("html"), Some(at));
                    }
                }
            }
        }
    }
    if generate > 0 {
        g.add_chat(&chat);
        let now = chrono::Utc::now();
        for i in 0..generate {
            let back = (generate - i) as i64 * 1_800_000 / generate as i64;
            let at = now - chrono::Duration::milliseconds(back);
            g.add_message_at(
                &chat,
                &from,
                "Bench User",
                &format!("<p>benchmark message {i}: the quarterly numbers are in <a href=\"https://contoso.example/q/{i}\">the sheet</a></p>"),
                Some(at),
            );
        }
    }
    println!("{}", g.url());
    let _ = std::io::stdout().flush();
    // Serve until killed.
    loop {
        std::thread::park();
    }
}
