//! A fake webhook receiver (Slack/Teams incoming-webhook style: JSON POST, `200` with a small
//! body) with scriptable faults and a record of what it received and what it accepted.
//!
//! Faults are queued per request: the next request gets the next fault, then the receiver
//! goes back to answering normally. The faults that matter for exactly-once publishing are:
//! - [`Fault::Status`]: answer with an error status (the message is *not* accepted);
//! - [`Fault::AcceptThenTimeout`]: accept the message, then answer only after a delay longer
//!   than the client's timeout;
//! - [`Fault::AcceptThenDrop`]: accept the message, then close the connection unanswered.
//!
//! [`Webhook::accepted`] lists the messages a real receiver would have delivered: a test that
//! publishes exactly once asserts it never holds two copies of one report.

use crate::http::{Reply, Request, Server};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the receiver does with one request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and a JSON error body; not accepted.
    Status(u16),
    /// Accept, then wait this long before answering 200.
    AcceptThenTimeout(Duration),
    /// Accept, then close the connection without an answer.
    AcceptThenDrop,
    /// Close the connection without reading further or accepting.
    Drop,
}

/// One received request.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the receiver took the message (a real receiver would deliver it).
    pub accepted: bool,
    /// The id returned (or that would have been returned) for an accepted message.
    pub id: Option<String>,
}

impl Received {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
struct Inner {
    faults: VecDeque<Fault>,
    received: Vec<Received>,
    next_id: u64,
}

/// A running fake webhook receiver; stops when dropped.
#[derive(Debug)]
pub struct Webhook {
    server: Server,
    inner: Arc<Mutex<Inner>>,
}

impl Webhook {
    /// Start on a free loopback port.
    pub fn start() -> std::io::Result<Webhook> {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let i2 = inner.clone();
        let server = Server::start(0, move |req: &Request| handle(&i2, req))?;
        Ok(Webhook { server, inner })
    }

    /// The URL to post to (`http://127.0.0.1:<port>/hook`).
    pub fn url(&self) -> String {
        format!("{}/hook", self.server.url())
    }

    /// Queue a fault for the next request (faults are used in order, one per request).
    pub fn push_fault(&self, f: Fault) {
        if let Ok(mut g) = self.inner.lock() {
            g.faults.push_back(f);
        }
    }

    /// Drop all queued faults.
    pub fn clear_faults(&self) {
        if let Ok(mut g) = self.inner.lock() {
            g.faults.clear();
        }
    }

    /// Every request received, in order.
    pub fn received(&self) -> Vec<Received> {
        self.inner
            .lock()
            .map(|g| g.received.clone())
            .unwrap_or_default()
    }

    /// The requests the receiver accepted (would have delivered).
    pub fn accepted(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.accepted).collect()
    }

    /// Accepted messages whose JSON `text` or `report_id` mentions `needle`.
    pub fn accepted_with(&self, needle: &str) -> usize {
        self.accepted()
            .iter()
            .filter(|r| String::from_utf8_lossy(&r.body).contains(needle))
            .count()
    }
}

fn handle(inner: &Arc<Mutex<Inner>>, req: &Request) -> Reply {
    let Ok(mut g) = inner.lock() else {
        return Reply::json(500, &serde_json::json!({"error": "poisoned"}));
    };
    if req.method != "POST" {
        return Reply::json(405, &serde_json::json!({"error": "method not allowed"}));
    }
    let fault = g.faults.pop_front();
    let valid = serde_json::from_slice::<serde_json::Value>(&req.body).is_ok();
    let accepts = valid
        && matches!(
            fault,
            None | Some(Fault::AcceptThenTimeout(_)) | Some(Fault::AcceptThenDrop)
        );
    let id = accepts.then(|| {
        g.next_id += 1;
        format!("msg-{}", g.next_id)
    });
    g.received.push(Received {
        path: req.path.clone(),
        headers: req.headers.clone(),
        body: req.body.clone(),
        accepted: accepts,
        id: id.clone(),
    });
    drop(g);
    if !valid {
        return Reply::json(400, &serde_json::json!({"error": "body is not JSON"}));
    }
    let ok = || Reply::json(200, &serde_json::json!({"ok": true, "id": id}));
    match fault {
        None => ok(),
        Some(Fault::Status(s)) => Reply::json(
            s,
            &serde_json::json!({"ok": false, "error": format!("fake failure {s}")}),
        ),
        Some(Fault::AcceptThenTimeout(d)) => Reply::Delay(d, Box::new(ok())),
        Some(Fault::AcceptThenDrop) | Some(Fault::Drop) => Reply::Drop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn post(url: &str, body: &str) -> std::io::Result<String> {
        let rest = url.trim_start_matches("http://");
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let mut s = std::net::TcpStream::connect(host)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            s,
            "POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    }

    #[test]
    fn records_and_faults_in_order() {
        let w = Webhook::start().unwrap();
        w.push_fault(Fault::Status(500));
        w.push_fault(Fault::AcceptThenDrop);
        let r1 = post(&w.url(), r#"{"text":"a"}"#).unwrap();
        assert!(r1.starts_with("HTTP/1.1 500"), "{r1}");
        let r2 = post(&w.url(), r#"{"text":"b"}"#).unwrap_or_default();
        assert!(r2.is_empty(), "dropped: {r2}");
        let r3 = post(&w.url(), r#"{"text":"c"}"#).unwrap();
        assert!(
            r3.starts_with("HTTP/1.1 200") && r3.contains("msg-2"),
            "{r3}"
        );
        let rec = w.received();
        assert_eq!(rec.len(), 3);
        assert_eq!(
            rec.iter().map(|r| r.accepted).collect::<Vec<_>>(),
            [false, true, true]
        );
        assert_eq!(w.accepted_with("\"b\""), 1);
        let bad = post(&w.url(), "not json").unwrap();
        assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
        assert_eq!(w.accepted().len(), 2);
    }
}
