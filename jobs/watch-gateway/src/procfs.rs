//! The gateway's process as Linux shows it: its lock file, `/proc/<pid>/stat`, and who
//! listens on its port (`/proc/net/tcp{,6}` and `/proc/<pid>/fd`). Read-only; no libc.
//!
//! Lock files (verified against OpenClaw 2026.9.6, docs `gateway/gateway-lock.md`, source
//! `gateway-lock-*.mjs`): a running gateway writes `gateway.state.lock` and
//! `gateway.<sha256(configPath)[:8]>.lock` in `<state dir>/tmp/openclaw-<uid>/`, pretty JSON
//! followed by whitespace padding: `{"pid", "ownerId", "createdAt", "configPath", "stateDir",
//! "port", "startTime"}`, where `startTime` is field 22 of `/proc/<pid>/stat`. A clean stop
//! removes them; a killed gateway leaves them behind (stale: the pid is gone or reused).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a gateway lock file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    pub pid: u32,
    #[serde(default, rename = "createdAt")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, rename = "configPath")]
    pub config_path: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    /// `/proc/<pid>/stat` field 22 when the gateway wrote the lock.
    #[serde(default, rename = "startTime")]
    pub start_time: Option<u64>,
    /// The file it came from.
    #[serde(skip)]
    pub file: PathBuf,
}

/// Parse a lock file's text (JSON, then padding).
pub fn parse_lock(text: &str, file: &Path) -> Option<Lock> {
    let mut l: Lock = serde_json::from_str(text.trim()).ok()?;
    l.file = file.to_path_buf();
    Some(l)
}

/// The lock of the gateway using `config` (by `configPath`), else the first readable one,
/// from `<state_dir>/tmp/openclaw-*/gateway.*.lock`. `None`: no lock file (no gateway runs,
/// or it stopped cleanly).
pub fn read_lock(state_dir: &Path, config: &Path) -> Option<Lock> {
    let tmp = state_dir.join("tmp");
    let mut found: Vec<Lock> = Vec::new();
    for dir in std::fs::read_dir(&tmp).ok()?.flatten() {
        if !dir.file_name().to_string_lossy().starts_with("openclaw-") {
            continue;
        }
        let Ok(files) = std::fs::read_dir(dir.path()) else {
            continue;
        };
        for f in files.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if !(name.starts_with("gateway.") && name.ends_with(".lock")) {
                continue;
            }
            // Never follow a planted symlink.
            if f.file_type().map(|t| !t.is_file()).unwrap_or(true) {
                continue;
            }
            if let Some(l) = std::fs::read_to_string(f.path())
                .ok()
                .and_then(|t| parse_lock(&t, &f.path()))
            {
                found.push(l);
            }
        }
    }
    let want = std::fs::canonicalize(config).unwrap_or_else(|_| config.to_path_buf());
    let ours = found.iter().position(|l| {
        l.config_path
            .as_deref()
            .is_some_and(|c| std::fs::canonicalize(c).unwrap_or_else(|_| PathBuf::from(c)) == want)
    });
    match ours {
        Some(i) => Some(found.swap_remove(i)),
        None => found.into_iter().next(),
    }
}

/// `/proc/<pid>/stat`: (state letter, start time in clock ticks since boot).
pub fn stat(pid: u32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Parse `/proc/<pid>/stat` text (the command name may hold spaces and parentheses).
pub fn parse_stat(text: &str) -> Option<(char, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After "(comm)": field 3 (state) is index 0, field 22 (starttime) index 19.
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// Whether `pid` runs (not a zombie), and, when `start_ticks` is given, is the same process
/// (not a reused pid).
pub fn alive(pid: u32, start_ticks: Option<u64>) -> bool {
    match stat(pid) {
        Some((state, start)) => {
            state != 'Z' && state != 'X' && start_ticks.is_none_or(|s| s == start)
        }
        None => false,
    }
}

/// `/proc/<pid>/comm` (the process name), if readable.
pub fn comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// A process listening on a TCP port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    pub address: String,
    pub inode: u64,
    pub pid: Option<u32>,
    pub command: Option<String>,
}

/// Listening sockets on `port` from `/proc/net/tcp` and `/proc/net/tcp6`, with the owning
/// process where `/proc/<pid>/fd` can be read (scans every process: for diagnostics only).
pub fn listeners(port: u16) -> Vec<Listener> {
    let mut out = Vec::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(t) = std::fs::read_to_string(f) {
            out.extend(parse_listeners(&t, port));
        }
    }
    if out.is_empty() {
        return out;
    }
    let owners = socket_owners(&out.iter().map(|l| l.inode).collect::<Vec<_>>());
    for l in &mut out {
        if let Some(pid) = owners.iter().find(|(i, _)| *i == l.inode).map(|(_, p)| *p) {
            l.pid = Some(pid);
            l.command = comm(pid);
        }
    }
    out
}

/// Parse `/proc/net/tcp{,6}` text: sockets in state LISTEN (`0A`) on `port`.
pub fn parse_listeners(text: &str, port: u16) -> Vec<Listener> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 || f[3] != "0A" {
            continue;
        }
        let Some((addr, p)) = f[1].rsplit_once(':') else {
            continue;
        };
        if u16::from_str_radix(p, 16).ok() != Some(port) {
            continue;
        }
        let Ok(inode) = f[9].parse::<u64>() else {
            continue;
        };
        out.push(Listener {
            address: format!("{}:{port}", hex_addr(addr)),
            inode,
            pid: None,
            command: None,
        });
    }
    out
}

/// `0100007F` → `127.0.0.1`; IPv6 is shown as its hex words.
fn hex_addr(h: &str) -> String {
    if h.len() == 8
        && let Ok(n) = u32::from_str_radix(h, 16)
    {
        let b = n.to_le_bytes();
        return format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3]);
    }
    format!("[{h}]")
}

/// (inode, pid) for the given socket inodes.
fn socket_owners(inodes: &[u64]) -> Vec<(u64, u32)> {
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let t = target.to_string_lossy();
            if let Some(i) = t
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<u64>().ok())
                && inodes.contains(&i)
            {
                out.push((i, pid));
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lock_files_with_padding_parse() {
        // As OpenClaw 2026.9.6 writes it: pretty JSON, then tabs and spaces.
        let text = "{\n  \"pid\": 12825,\n  \"ownerId\": \"7f9e62f8-3327-4e66-be88-b013a5e9da3f\",\n  \"cronOwnerProjection\": \"dynamic-default-v1\",\n  \"createdAt\": \"2026-11-28T04:40:24.001Z\",\n  \"configPath\": \"/tmp/h/.openclaw/openclaw.json\",\n  \"stateDir\": \"/tmp/h/.openclaw\",\n  \"port\": 38911,\n  \"startTime\": 236834\n}\n\t\t \t  \t\n   \t";
        let l = parse_lock(text, Path::new("/x/gateway.state.lock")).unwrap();
        assert_eq!(l.pid, 12825);
        assert_eq!(l.port, Some(38911));
        assert_eq!(l.start_time, Some(236834));
        assert_eq!(
            l.created_at.unwrap().to_rfc3339(),
            "2026-11-28T04:40:24.001+00:00"
        );
        assert!(parse_lock("not json", Path::new("/x")).is_none());
    }

    #[test]
    fn stat_lines_with_odd_names() {
        let s = "4242 (openclaw) gw) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 2 0 0 20 0 11 0 236834 1000 200 18446744073709551615";
        assert_eq!(parse_stat(s), Some(('S', 236834)));
        let me = std::process::id();
        let (state, start) = stat(me).unwrap();
        assert_ne!(state, 'Z');
        assert!(alive(me, Some(start)));
        assert!(
            !alive(me, Some(start + 1)),
            "a reused pid is not the same process"
        );
        assert!(!alive(999_999_999, None));
    }

    #[test]
    fn listeners_of_a_port() {
        let t = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:983F 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:983F 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000000000000 100 0 0 10 0\n";
        let l = parse_listeners(t, 0x983F);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].address, format!("127.0.0.1:{}", 0x983F));
        assert_eq!(l[0].inode, 123456);
        // A real socket of this process is found with its owner.
        let sock = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = sock.local_addr().unwrap().port();
        let found = listeners(port);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].pid, Some(std::process::id()));
    }
}
