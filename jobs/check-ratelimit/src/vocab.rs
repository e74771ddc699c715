//! The gateway's words for a provider refusal, for the records that carry only text (the
//! console and the journal, where `embedded run agent end: … error=… rawError=…` has no
//! `failoverReason`), and for telling long-window limits from short ones.
//!
//! Derived from OpenClaw 2026.9.6's classifier (verified against that version): the pattern
//! tables `ERROR_PATTERNS` (`dist/message-patterns-*.mjs`: buckets `rateLimit`, `overloaded`,
//! `billing`, `PERIODIC_USAGE_LIMIT_RE`), `classifyFailoverClassificationFromMessage` and
//! `classifyFailoverClassificationFromHttpStatus` (`dist/classify-core-*.mjs`, with
//! `PROVIDER_SPECIFIC_PATTERNS`), `classify402Message`, and `LONG_WINDOW_RATE_LIMIT_RE` /
//! `SHORT_RATE_LIMIT_UNIT_RE` (`dist/retry-evidence-*.mjs`, `classifyRateLimitWindow`). The
//! gateway lower-cases the text before matching (`matchesErrorPatterns`), so every match here
//! is case-insensitive. Regular expressions are rendered as word-bounded phrases; where a
//! pattern allows anything between two words (`concurrency limit … reached`) both words must
//! appear. The user copy the gateway writes for each reason (`dist/user-copy-*.mjs`) is read
//! first: it is the gateway's own verdict.
//!
//! This vocabulary is never run over arbitrary log lines (a Teams typing indicator's
//! `status code 429 "API calls quota exceeded"` would match it): only over the provider message
//! inside a record the gateway writes for a refused model request.

use crate::data::Class;

/// The gateway's `rateLimit` bucket and its rate-limit provider patterns (`ERROR_PATTERNS.
/// rateLimit`; `PROVIDER_SPECIFIC_PATTERNS` `workers_ai … quota limit exceeded`; the together
/// and xai plugins' patterns).
pub const RATE_LIMIT: &[&str] = &[
    "rate limit",
    "rate_limit",
    "rate-limited",
    "too many requests",
    "too many concurrent requests",
    "throttlingexception",
    "throttling_exception",
    "throttling",
    "throttled",
    "model_cooldown",
    "exceeded your current quota",
    "resource exhausted",
    "resource_exhausted",
    "resource-exhausted",
    "resourceexhausted",
    "quota exceeded",
    "quota_exceeded",
    "quota-exceeded",
    "quotaexceeded",
    "usage limit",
    "tpm",
    "tokens per minute",
    "tokens per day",
    "请求过于频繁",
    "调用频率",
    "频率限制",
    "配额不足",
    "配额已用尽",
    "额度不足",
    "额度已用尽",
];

/// `concurrency limit … (breached|reached)` (`ERROR_PATTERNS.rateLimit`, together plugin).
const CONCURRENCY: (&str, &[&str]) = ("concurrency limit", &["breached", "reached"]);

/// `PERIODIC_USAGE_LIMIT_RE`: `(daily|weekly|monthly) (usage )?limit(s)?`: rate limit, or
/// billing when the text is also a billing text.
const PERIODS: &[&str] = &["daily", "weekly", "monthly"];

/// The gateway's `overloaded` bucket (`ERROR_PATTERNS.overloaded`) and
/// `PROVIDER_SPECIFIC_PATTERNS` `/\bmodelnotreadyexception\b/i` → overloaded.
pub const OVERLOADED: &[&str] = &[
    "overloaded",
    "model is at capacity",
    "model at capacity",
    "selected model is at capacity",
    "service unavailable",
    "service_unavailable",
    "service temporarily unavailable",
    "service_temporarily_unavailable",
    "high demand",
    "high load",
    "modelnotreadyexception",
    "服务过载",
    "当前负载过高",
    "访问量过大",
];

/// The gateway's `billing` bucket (`ERROR_PATTERNS.billing`), phrases of its regexes included.
pub const BILLING: &[&str] = &[
    "payment required",
    "insufficient credits",
    "used all available credits",
    "spend limit",
    "spending limit",
    "insufficient_quota",
    "insufficient quota",
    "gousagelimiterror",
    "freeusagelimiterror",
    "available balance",
    "out of budget",
    "credit balance",
    "plans & billing",
    "insufficient_balance",
    "insufficient balance",
    "requires more credits",
    "require more credits",
    "out of extra usage",
    "draw from your extra usage",
    "extra usage is required",
    "余额不足",
    "欠费",
    "invalidsubscription",
    "does not have a valid coding plan subscription",
    "http 402",
    "status=402",
    "status: 402",
    "\"status\":402",
    "error code 402",
    "402 payment",
];

/// `classify402Message` step 3: explicit billing in a 402 answer.
const BILLING_402: &[&str] = &[
    "insufficient credits",
    "insufficient quota",
    "credit balance",
    "insufficient balance",
    "plans & billing",
    "add more credits",
    "top up",
    "billing hard limit",
    "hard limit reached",
];

/// `LONG_WINDOW_RATE_LIMIT_RE` (word-bounded).
const LONG_WINDOW: &[&str] = &[
    "daily",
    "weekly",
    "monthly",
    "tokens per day",
    "requests per day",
    "per day",
    "per-day",
    "per week",
    "per-week",
    "per month",
    "per-month",
    "usage limit",
    "subscription",
    "insufficient quota",
    "insufficient_quota",
    "insufficient-quota",
    "insufficientquota",
    "current quota",
    "quota exceeded",
    "quota_exceeded",
    "quota-exceeded",
    "quotaexceeded",
    "gousagelimiterror",
    "freeusagelimiterror",
    "available balance",
    "out of budget",
];

/// `SHORT_RATE_LIMIT_UNIT_RE` (word-bounded): a per-minute limit is short even if the text
/// also says "usage limit".
const SHORT_WINDOW: &[&str] = &[
    "requests per minute",
    "tokens per minute",
    "per-minute",
    "rpm",
    "tpm",
];

/// The gateway's user copy per reason (`dist/user-copy-*.mjs`), lower-cased: the text of
/// `error=` in `embedded run agent end` and of `lane task error`.
const COPY: &[(&str, Class)] = &[
    ("api rate limit reached", Class::RateLimit),
    ("temporarily rate-limited", Class::RateLimit),
    ("temporarily overloaded", Class::Overload),
    ("is at capacity", Class::Overload),
    ("returned a billing error", Class::Quota),
];

/// Extra phrases from the config (`include`, `quota_include`), lower-cased.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    pub rate_limit: Vec<String>,
    pub quota: Vec<String>,
}

impl Extra {
    pub fn new(rate_limit: &[String], quota: &[String]) -> Extra {
        let low = |v: &[String]| v.iter().map(|s| s.to_lowercase()).collect();
        Extra {
            rate_limit: low(rate_limit),
            quota: low(quota),
        }
    }
}

/// The gateway's failover reason → our class (`FAILOVER_REASONS`): `rate_limit`, `billing`,
/// `overloaded`; every other reason (auth, timeout, format, …) is not a provider limit.
pub fn class_of_reason(reason: &str) -> Option<Class> {
    match reason.trim().to_ascii_lowercase().as_str() {
        "rate_limit" => Some(Class::RateLimit),
        "billing" => Some(Class::Quota),
        "overloaded" => Some(Class::Overload),
        _ => None,
    }
}

/// The class of a refusal from its text alone (the gateway's copy, then the provider message
/// with its HTTP status), as the gateway would classify it; `None` when it is not a provider
/// limit.
pub fn classify(copy: &str, raw: &str, extra: &Extra) -> Option<Class> {
    let copy_l = copy.to_lowercase();
    if let Some((_, c)) = COPY.iter().find(|(p, _)| copy_l.contains(p)) {
        return Some(*c);
    }
    let raw_l = raw.to_lowercase();
    let text = format!("{raw_l} {copy_l}");
    if extra.quota.iter().any(|p| text.contains(p.as_str())) {
        return Some(Class::Quota);
    }
    if extra.rate_limit.iter().any(|p| text.contains(p.as_str())) {
        return Some(Class::RateLimit);
    }
    match status_prefix(raw) {
        Some(402) => return Some(classify_402(&text)),
        // `classifyFailoverClassificationFromHttpStatus`: 429 is rate_limit unless the text is
        // a billing text; 529 is overloaded unconditionally.
        Some(429) if is_billing(&text) => return Some(Class::Quota),
        Some(429) => return Some(Class::RateLimit),
        Some(529) => return Some(Class::Overload),
        _ => {}
    }
    classify_message(&text)
}

/// `classifyFailoverClassificationFromMessage`, the buckets that are provider limits, in its
/// order: billing (unless the text starts with HTTP 429), periodic usage limits, rate limit,
/// overloaded.
fn classify_message(text: &str) -> Option<Class> {
    if is_billing(text) && !text.trim_start().starts_with("429") {
        return Some(Class::Quota);
    }
    if is_periodic_limit(text) {
        return Some(if is_billing(text) {
            Class::Quota
        } else {
            Class::RateLimit
        });
    }
    if is_rate_limit(text) {
        return Some(Class::RateLimit);
    }
    if is_overloaded(text) {
        return Some(Class::Overload);
    }
    None
}

/// `classify402Message`: explicit billing → billing; rate-limit words or a retryable signal
/// (try again/retry/temporary + a limit; daily/weekly/monthly + a limit; organization or
/// workspace + a spend/usage limit) → rate limit; otherwise billing.
fn classify_402(text: &str) -> Class {
    let has = |w: &str| text.contains(w);
    let plan = [
        "upgrade your plan",
        "upgrade plan",
        "current plan",
        "subscription",
    ];
    if BILLING_402.iter().any(|p| has(p))
        || (plan.iter().any(|p| has(p)) && has("limit"))
        || (has("maximum allowed") && has("limit"))
    {
        return Class::Quota;
    }
    if is_rate_limit(text) {
        return Class::RateLimit;
    }
    let retry = ["try again", "retry", "temporary", "cooldown"]
        .iter()
        .any(|p| has(p));
    let usage = ["usage limit", "rate limit", "organization usage"]
        .iter()
        .any(|p| has(p));
    let period = PERIODS.iter().any(|p| has(p));
    let spend = has("spend limit") || has("spending limit");
    let org = has("organization") || has("workspace");
    let reached = ["billing period", "exceeded", "reached", "exhausted"]
        .iter()
        .any(|p| has(p));
    if (retry && usage)
        || (period && (has("usage limit") || spend))
        || (period && has("limit") && has("reset"))
        || (org && has("limit") && (spend || reached))
    {
        return Class::RateLimit;
    }
    Class::Quota
}

fn is_billing(text: &str) -> bool {
    BILLING.iter().any(|p| text.contains(p))
}

fn is_rate_limit(text: &str) -> bool {
    RATE_LIMIT.iter().any(|p| contains_word(text, p))
        || (text.contains(CONCURRENCY.0) && CONCURRENCY.1.iter().any(|w| text.contains(w)))
        || (contains_word(text, "workers_ai") && text.contains("quota limit exceeded"))
        || has_status(text, 429)
}

fn is_overloaded(text: &str) -> bool {
    OVERLOADED.iter().any(|p| text.contains(p))
}

/// `PERIODIC_USAGE_LIMIT_RE`.
fn is_periodic_limit(text: &str) -> bool {
    PERIODS.iter().any(|p| {
        contains_word(text, &format!("{p} limit"))
            || contains_word(text, &format!("{p} limits"))
            || contains_word(text, &format!("{p} usage limit"))
            || contains_word(text, &format!("{p} usage limits"))
    })
}

/// A long-window limit (the gateway does not retry it; its own cooldown is shorter than the
/// provider's window): `LONG_WINDOW_RATE_LIMIT_RE` unless `SHORT_RATE_LIMIT_UNIT_RE`, or a
/// retry-after longer than a minute.
pub fn is_long_window(text: &str) -> bool {
    let t = text.to_lowercase();
    if SHORT_WINDOW.iter().any(|p| contains_word(&t, p)) {
        return false;
    }
    LONG_WINDOW.iter().any(|p| contains_word(&t, p)) || retry_after_secs(&t).is_some_and(|s| s > 60)
}

/// `429` in `429: {…}` (the gateway's `rawErrorPreview` starts with the status).
pub fn status_prefix(raw: &str) -> Option<u16> {
    let t = raw.trim_start();
    let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
    if digits.len() != 3 {
        return None;
    }
    let rest = &t[3..];
    if !(rest.is_empty() || rest.starts_with(':') || rest.starts_with(' ')) {
        return None;
    }
    digits.parse().ok().filter(|s| (100..600).contains(s))
}

/// `status=429`, `status: 429`, `http 429`, `"status":429`, `"code":429`, a leading `429`.
fn has_status(text: &str, code: u16) -> bool {
    let c = code.to_string();
    if status_prefix(text) == Some(code) {
        return true;
    }
    [
        "status=",
        "status: ",
        "status code ",
        "http ",
        "http/1.1 ",
        "\"status\":",
        "\"code\":",
    ]
    .iter()
    .any(|k| contains_word(text, &format!("{k}{c}")))
}

/// The seconds in `; Retry-After: 2 seconds` (the transport appends it to the error text,
/// `projectProviderError`) or `retry-after: 2`.
pub fn retry_after_secs(text: &str) -> Option<u64> {
    let t = text.to_lowercase();
    let i = t.find("retry-after")?;
    let rest = t[i + "retry-after".len()..].trim_start_matches([':', '=', ' ', '"']);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|s| *s <= 7 * 86_400)
}

/// `needle` in `hay` with no letter or digit right before or after it.
pub fn contains_word(hay: &str, needle: &str) -> bool {
    let mut from = 0;
    while let Some(i) = hay[from..].find(needle) {
        let s = from + i;
        let e = s + needle.len();
        let before = hay[..s].chars().next_back();
        let after = hay[e..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        if boundary(before) && boundary(after) {
            return true;
        }
        from = s + needle.len().max(1);
        while from < hay.len() && !hay.is_char_boundary(from) {
            from += 1;
        }
        if from >= hay.len() {
            break;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(raw: &str) -> Option<Class> {
        classify("", raw, &Extra::default())
    }

    /// The verdicts the gateway's own classifier gave for these texts (research notes,
    /// `cls.out`, OpenClaw 2026.9.6, provider anthropic).
    #[test]
    fn texts_are_classified_like_the_gateway() {
        use Class::*;
        for (raw, want) in [
            ("402: daily limit reached, resets tomorrow", Some(RateLimit)),
            ("402: organization spending limit exceeded", Some(RateLimit)),
            ("402: weekly usage limit exhausted", Some(RateLimit)),
            (
                "402: You have reached your usage limit, please try again later",
                Some(RateLimit),
            ),
            ("402: Payment Required", Some(Quota)),
            ("402: insufficient credits", Some(Quota)),
            ("402: Your credit balance is too low", Some(Quota)),
            ("HTTP 402: insufficient quota", Some(Quota)),
            (
                "429: You exceeded your current quota, please check your plan and billing details.",
                Some(RateLimit),
            ),
            (
                r#"429: {"error":{"type":"insufficient_quota","message":"x"}}"#,
                Some(Quota),
            ),
            (
                "429: Your credit balance is too low to access the API",
                Some(Quota),
            ),
            (
                "429 You have exceeded the 5-hour usage quota",
                Some(RateLimit),
            ),
            ("weekly limit reached", Some(RateLimit)),
            ("monthly limit exhausted", Some(RateLimit)),
            ("RESOURCE_EXHAUSTED: Quota exceeded", Some(RateLimit)),
            ("Too many concurrent requests", Some(RateLimit)),
            ("ThrottlingException: Rate exceeded", Some(RateLimit)),
            ("concurrency limit reached", Some(RateLimit)),
            ("workers_ai: quota limit exceeded", Some(RateLimit)),
            ("throttled", Some(RateLimit)),
            ("resource exhausted", Some(RateLimit)),
            ("API RATE LIMIT REACHED", Some(RateLimit)),
            ("Rate-limited — ready in ~30s", Some(RateLimit)),
            (
                "529: {\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}",
                Some(Overload),
            ),
            (
                "ModelNotReadyException: the model is loading",
                Some(Overload),
            ),
            ("503: Service Unavailable", Some(Overload)),
            ("quota limit exceeded", None),
            ("500: internal server error", None),
            ("invalid x-api-key", None),
        ] {
            assert_eq!(c(raw), want, "{raw}");
        }
    }

    #[test]
    fn the_gateway_copy_is_its_verdict() {
        let e = Extra::default();
        assert_eq!(
            classify(
                "⚠️ API rate limit reached. Please try again later.",
                "402: Your organization spending limit exceeded",
                &e
            ),
            Some(Class::RateLimit)
        );
        assert_eq!(
            classify(
                "The AI service is temporarily overloaded. Please try again in a moment.",
                "",
                &e
            ),
            Some(Class::Overload)
        );
        let e = Extra::new(
            &["upstream said slow down".into()],
            &["account suspended".into()],
        );
        assert_eq!(
            classify("", "Upstream said SLOW DOWN", &e),
            Some(Class::RateLimit)
        );
        assert_eq!(classify("", "Account suspended", &e), Some(Class::Quota));
    }

    #[test]
    fn long_and_short_windows() {
        assert!(is_long_window(
            "You exceeded your current quota, please check your plan"
        ));
        assert!(is_long_window("weekly usage limit exhausted"));
        assert!(is_long_window("429: x; Retry-After: 3600 seconds"));
        assert!(!is_long_window(
            "Number of request tokens has exceeded your per-minute rate limit; Retry-After: 2 seconds"
        ));
        assert!(!is_long_window(
            "You have reached your specified API usage limits."
        ));
        assert_eq!(
            retry_after_secs("429: {…}; Retry-After: 2 seconds"),
            Some(2)
        );
        assert_eq!(status_prefix("429: {"), Some(429));
        assert_eq!(status_prefix("4290 tokens"), None);
        assert!(contains_word("a tpm b", "tpm") && !contains_word("atpmb", "tpm"));
        assert!(!has_status("runid=4291-429a durationms=429", 429));
    }
}
