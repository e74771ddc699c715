//! A small HTTP/1.1 server on loopback for fakes: one thread per connection, `Connection:
//! close` after every response, and scriptable faults that a real server produces: dropped
//! connections, truncated bodies, delays.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// A parsed request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The raw request target (path and query, as sent).
    pub target: String,
    /// The path, percent-decoded.
    pub path: String,
    /// Query parameters, percent-decoded (`+` as space), names as sent.
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// A header value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// A query parameter; `$top` also matches `%24top` and is case-insensitive.
    pub fn param(&self, name: &str) -> Option<&str> {
        let want = name.trim_start_matches('$').to_ascii_lowercase();
        self.query
            .iter()
            .find(|(k, _)| k.trim_start_matches('$').to_ascii_lowercase() == want)
            .map(|(_, v)| v.as_str())
    }
    /// Form-encoded body fields.
    pub fn form(&self) -> Vec<(String, String)> {
        parse_query(&String::from_utf8_lossy(&self.body))
    }
    pub fn form_value(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
    /// The body as JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// What the server does with a request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A normal response.
    Response {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Close the connection without answering.
    Drop,
    /// Send the status line, headers and only the first `keep` bytes of the body, then close.
    Truncated {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        keep: usize,
    },
    /// Wait, then reply.
    Delay(Duration, Box<Reply>),
}

impl Reply {
    /// A JSON response.
    pub fn json(status: u16, v: &serde_json::Value) -> Reply {
        Reply::Response {
            status,
            headers: vec![(
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: serde_json::to_vec(v).unwrap_or_default(),
        }
    }
    /// A response with a raw body.
    pub fn raw(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply::Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
        }
    }
    /// The status this reply sends (0 for a dropped connection).
    pub fn status(&self) -> u16 {
        match self {
            Reply::Response { status, .. } | Reply::Truncated { status, .. } => *status,
            Reply::Delay(_, inner) => inner.status(),
            Reply::Drop => 0,
        }
    }
    /// Add a header to a response.
    pub fn with_header(mut self, k: &str, v: &str) -> Reply {
        match &mut self {
            Reply::Response { headers, .. } | Reply::Truncated { headers, .. } => {
                headers.push((k.into(), v.into()))
            }
            Reply::Delay(_, inner) => **inner = (**inner).clone().with_header(k, v),
            Reply::Drop => {}
        }
        self
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// A running server; stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    scheme: &'static str,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Server({})", self.addr)
    }
}

impl Server {
    /// Serve on `127.0.0.1:<port>` (0 = any free port).
    pub fn start(
        port: u16,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> std::io::Result<Server> {
        Self::serve(port, None, Arc::new(handler))
    }

    /// Serve HTTPS on `127.0.0.1:<port>` with this certificate chain and private key (PEM):
    /// for clients that must verify a private CA, such as an API server's.
    pub fn start_tls(
        port: u16,
        cert_chain_pem: &[u8],
        key_pem: &[u8],
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> std::io::Result<Server> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let bad = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
        let certs = CertificateDer::pem_slice_iter(cert_chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("certificate PEM: {e}")))?;
        let key =
            PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| bad(format!("key PEM: {e}")))?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(e.to_string()))?;
        Self::serve(port, Some(Arc::new(config)), Arc::new(handler))
    }

    fn serve(
        port: u16,
        tls: Option<Arc<rustls::ServerConfig>>,
        handler: Arc<Handler>,
    ) -> std::io::Result<Server> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let h = handler.clone();
                let tls = tls.clone();
                std::thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
                    match tls {
                        None => {
                            let _ = handle(conn, &*h);
                        }
                        Some(cfg) => {
                            let Ok(session) = rustls::ServerConnection::new(cfg) else {
                                return;
                            };
                            let _ = handle(rustls::StreamOwned::new(session, conn), &*h);
                        }
                    }
                });
            }
        });
        Ok(Server {
            addr,
            scheme,
            stop,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port>` (`https://` for [`Server::start_tls`]).
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }
}

/// A connection the server answers on: plain TCP or TLS over it.
trait Conn: Read + Write {
    /// End the connection (TLS: after its close_notify).
    fn close(&mut self, how: Shutdown);
}

impl Conn for TcpStream {
    fn close(&mut self, how: Shutdown) {
        let _ = self.shutdown(how);
    }
}

impl Conn for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    fn close(&mut self, how: Shutdown) {
        self.conn.send_close_notify();
        let _ = self.flush();
        let _ = self.sock.shutdown(how);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn handle(conn: impl Conn, handler: &Handler) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(());
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    let (raw_path, raw_query) = target.split_once('?').unwrap_or((&target, ""));
    let req = Request {
        method,
        path: decode(raw_path, false),
        query: parse_query(raw_query),
        target: target.clone(),
        headers,
        body,
    };
    let reply = handler(&req);
    write_reply(reader.into_inner(), reply)
}

fn write_reply(mut conn: impl Conn, reply: Reply) -> std::io::Result<()> {
    match reply {
        Reply::Delay(d, inner) => {
            std::thread::sleep(d);
            write_reply(conn, *inner)
        }
        Reply::Drop => {
            conn.close(Shutdown::Both);
            Ok(())
        }
        Reply::Response {
            status,
            headers,
            body,
        } => {
            conn.write_all(&head(status, &headers, body.len()))?;
            conn.write_all(&body)?;
            conn.flush()?;
            conn.close(Shutdown::Write);
            Ok(())
        }
        Reply::Truncated {
            status,
            headers,
            body,
            keep,
        } => {
            conn.write_all(&head(status, &headers, body.len()))?;
            conn.write_all(&body[..keep.min(body.len())])?;
            conn.flush()?;
            conn.close(Shutdown::Both);
            Ok(())
        }
    }
}

fn head(status: u16, headers: &[(String, String)], len: usize) -> Vec<u8> {
    let mut s = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str(&format!(
        "Content-Length: {len}\r\nConnection: close\r\n\r\n"
    ));
    s.into_bytes()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Overloaded",
        _ => "Status",
    }
}

/// Percent-decode; `plus_space` turns `+` into a space (query strings and forms).
pub fn decode(s: &str, plus_space: bool) -> String {
    let s = if plus_space {
        s.replace('+', " ")
    } else {
        s.to_string()
    };
    percent_encoding::percent_decode_str(&s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Parse `a=1&b=x%20y` into decoded pairs.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k, true), decode(v, true))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = parse_query("%24top=50&$orderby=lastModifiedDateTime+desc&x=a%20b");
        assert_eq!(q[0], ("$top".into(), "50".into()));
        assert_eq!(q[1].1, "lastModifiedDateTime desc");
        assert_eq!(q[2].1, "a b");
    }
}
