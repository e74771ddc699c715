//! Secret redaction for everything that is logged or stored.
//!
//! Two layers: every secret value the run resolved (through `*_env` / `*_file` config keys, or
//! tokens received at run time) is registered with [`register`] and replaced verbatim; on top of
//! that, well-known shapes are masked whatever their value: `Bearer <token>`, and the values of
//! keys such as `password`, `client_secret`, `access_token`, `refresh_token`, `api_key`,
//! `authorization` in `key=value`, `"key": "value"` and `key: value` forms.

use std::borrow::Cow;
use std::sync::RwLock;

/// What a redacted value is replaced with.
pub const MASK: &str = "[REDACTED]";

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

const KEYS: &[&str] = &[
    "password",
    "passwd",
    "client_secret",
    "secret",
    "access_token",
    "refresh_token",
    "id_token",
    "api_key",
    "apikey",
    "api-key",
    "authorization",
    "token",
    "client_assertion",
];

/// Register a secret value so that it is masked wherever it appears later.
/// Values shorter than 4 characters are ignored (they would mask ordinary text).
pub fn register(secret: &str) {
    let s = secret.trim();
    if s.len() < 4 {
        return;
    }
    if let Ok(mut v) = SECRETS.write()
        && !v.iter().any(|x| x == s)
    {
        v.push(s.to_string());
        // Longest first, so a secret containing another is masked whole.
        v.sort_by_key(|x| std::cmp::Reverse(x.len()));
    }
}

/// Register the parts of a secret URL that a server may echo back on their own: the path with
/// its query (`/services/T0/B0/XXXX?token=…`, as in a request line), the query values, the
/// user-info password, and path segments that look like tokens (16+ characters, or 12+ with a
/// digit: a Slack or Teams webhook's token is a path segment).
/// The whole URL should be registered too ([`register`]). Short or purely numeric pieces are
/// left alone: they would mask ordinary text and numbers in state files.
pub fn register_url_parts(url: &str) {
    let Some((_, rest)) = url.trim().split_once("://") else {
        return;
    };
    let (authority, path_query) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let path_query = path_query.split('#').next().unwrap_or("");
    if let Some((userinfo, _)) = authority.rsplit_once('@')
        && let Some((_, password)) = userinfo.split_once(':')
    {
        register_piece(password);
    }
    let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
    if !query.is_empty() || path.len() >= 12 {
        register(path_query);
    }
    for segment in path.split('/') {
        if segment.len() >= 16
            || (segment.len() >= 12 && segment.bytes().any(|b| b.is_ascii_digit()))
        {
            register(segment);
        }
    }
    for pair in query.split('&') {
        if let Some((_, v)) = pair.split_once('=') {
            register_piece(v);
        }
    }
}

/// A URL piece worth masking: 8+ characters, not only digits.
fn register_piece(v: &str) {
    if v.len() >= 8 && !v.bytes().all(|b| b.is_ascii_digit()) {
        register(v);
    }
}

/// Mask only the registered secret values (raw and JSON-escaped) in `text`. Used on state
/// files, where shape-based masking could alter legitimate data.
pub fn scrub_registered(text: &str) -> Cow<'_, str> {
    let mut out: Cow<str> = Cow::Borrowed(text);
    if let Ok(v) = SECRETS.read() {
        for s in v.iter() {
            let escaped = serde_json::to_string(s).unwrap_or_default();
            let escaped = escaped.trim_matches('"');
            for form in [s.as_str(), escaped] {
                if !form.is_empty() && out.contains(form) {
                    out = Cow::Owned(out.replace(form, MASK));
                }
            }
        }
    }
    out
}

/// Mask registered secrets and well-known secret shapes in `text`.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out: Cow<str> = Cow::Borrowed(text);
    if let Ok(v) = SECRETS.read() {
        for s in v.iter() {
            if out.contains(s.as_str()) {
                out = Cow::Owned(out.replace(s.as_str(), MASK));
            }
        }
    }
    if let Some(masked) = mask_bearer(&out) {
        out = Cow::Owned(masked);
    }
    if let Some(masked) = mask_keys(&out) {
        out = Cow::Owned(masked);
    }
    out
}

fn mask_bearer(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    if !lower.contains("bearer ") {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut changed = false;
    while let Some(pos) = lower[i..].find("bearer ") {
        let start = i + pos + "bearer ".len();
        out.push_str(&text[i..start]);
        let end = text[start..]
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',')
            .map_or(text.len(), |e| start + e);
        if end - start >= 8 && &text[start..end] != MASK {
            out.push_str(MASK);
            changed = true;
        } else {
            out.push_str(&text[start..end]);
        }
        i = end;
    }
    out.push_str(&text[i..]);
    changed.then_some(out)
}

fn mask_keys(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    if !KEYS.iter().any(|k| lower.contains(k)) {
        return None;
    }
    let bytes = text.as_bytes();
    // Ranges of values to mask.
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for key in KEYS {
        let mut from = 0;
        while let Some(pos) = lower[from..].find(key) {
            let kstart = from + pos;
            let mut j = kstart + key.len();
            from = j;
            // The key must not continue as a longer word (`tokens`, `token_type`).
            if j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                continue;
            }
            if j < bytes.len() && (bytes[j] == b'"' || bytes[j] == b'\'') {
                j += 1;
            }
            while j < bytes.len() && bytes[j] == b' ' {
                j += 1;
            }
            if j >= bytes.len() || (bytes[j] != b'=' && bytes[j] != b':') {
                continue;
            }
            j += 1;
            while j < bytes.len() && bytes[j] == b' ' {
                j += 1;
            }
            let quoted = j < bytes.len() && (bytes[j] == b'"' || bytes[j] == b'\'');
            if quoted {
                j += 1;
            }
            let vstart = j;
            while j < bytes.len() {
                let c = bytes[j];
                let stop = if quoted {
                    c == b'"' || c == b'\''
                } else {
                    c == b'&' || c == b',' || c == b'}' || c.is_ascii_whitespace() || c == b'"'
                };
                if stop {
                    break;
                }
                j += 1;
            }
            // `Authorization: Bearer x` is handled by the bearer rule; `null`/numbers are not secrets.
            let value = &text[vstart..j];
            if value.is_empty()
                || value == MASK
                || value.eq_ignore_ascii_case("bearer")
                || value == "null"
                || value.starts_with('[')
                || value.starts_with('{')
            {
                continue;
            }
            ranges.push((vstart, j));
        }
    }
    if ranges.is_empty() {
        return None;
    }
    ranges.sort();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (s, e) in ranges {
        if s < last {
            continue;
        }
        out.push_str(&text[last..s]);
        out.push_str(MASK);
        last = e;
    }
    out.push_str(&text[last..]);
    Some(out)
}

#[cfg(test)]
mod url_tests {
    use super::*;

    #[test]
    fn url_secrets_mask_their_parts_alone() {
        for u in [
            "http://user:pa55word-xyz@127.0.0.1:9/report?token=SECRET-QUERY-123&x=1",
            "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX",
        ] {
            register(u);
            register_url_parts(u);
        }
        let echoed = "500: GET /report?token=SECRET-QUERY-123 auth pa55word-xyz path XXXXXXXXXXXXXXXXXXXXXXXX";
        let out = redact(echoed);
        assert!(!out.contains("SECRET-QUERY-123"), "{out}");
        assert!(!out.contains("pa55word-xyz"), "{out}");
        assert!(!out.contains("XXXXXXXXXXXXXXXXXXXXXXXX"), "{out}");
        assert!(out.contains("x=1") || !echoed.contains("x=1"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secret_is_masked() {
        register("hunter2-very-secret");
        assert_eq!(
            redact("login with hunter2-very-secret failed"),
            "login with [REDACTED] failed"
        );
    }

    #[test]
    fn bearer_and_keys_are_masked() {
        let s = redact("Authorization: Bearer eyJ0eXAiOiJKV1QiLCJhbGc.abc.def");
        assert!(!s.contains("eyJ0eX"), "{s}");
        let s = redact("grant_type=password&username=a@b.c&password=S3cr3t!x&client_secret=abc123");
        assert!(!s.contains("S3cr3t") && !s.contains("abc123"), "{s}");
        assert!(s.contains("username=a@b.c"), "{s}");
        let s = redact(
            r#"{"access_token":"tok-1234567","expires_in":3599,"refresh_token": "r-98765"}"#,
        );
        assert!(!s.contains("tok-1234567") && !s.contains("r-98765"), "{s}");
        assert!(s.contains("3599"), "{s}");
    }

    #[test]
    fn scrub_handles_json_escaping() {
        register("quo\"te-secret");
        let json = serde_json::to_string(&serde_json::json!({"m": "x quo\"te-secret y"})).unwrap();
        let out = scrub_registered(&json);
        assert!(!out.contains("te-secret"), "{out}");
        assert!(serde_json::from_str::<serde_json::Value>(&out).is_ok());
    }

    #[test]
    fn secret_parts_of_a_url_are_masked_on_their_own() {
        register_url_parts(
            "https://user:pw-url-secret-1@hooks.example.com/services/T0001/B0002/xoxUrlSegment99?sig=SigUrlSecret42&v=1&n=12345678",
        );
        let echo =
            "POST /services/T0001/B0002/xoxUrlSegment99?sig=SigUrlSecret42&v=1&n=12345678 HTTP/1.1";
        let out = redact(echo);
        assert!(
            !out.contains("SigUrlSecret42") && !out.contains("xoxUrlSegment99"),
            "{out}"
        );
        let out = redact("sig is SigUrlSecret42, segment xoxUrlSegment99, pw pw-url-secret-1");
        assert!(
            !out.contains("Secret42") && !out.contains("Segment99") && !out.contains("pw-url"),
            "{out}"
        );
        // Short and numeric pieces are not registered.
        assert_eq!(
            redact("v=1 n=12345678 T0001 services"),
            "v=1 n=12345678 T0001 services"
        );
    }

    #[test]
    fn ordinary_words_are_left_alone() {
        let t = "tokens per minute exceeded; max_tokens=100; \"token_type\":\"Bearer\"";
        assert_eq!(redact(t), t);
        let t = "429 You have exceeded the 5-hour usage quota";
        assert_eq!(redact(t), t);
    }
}
