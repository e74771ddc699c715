//! The reply detectors. poll-teams sees every message of the chats it reads, the agent's own
//! replies included (its user account `self_user_id`, its bot `bot_app_ids`). Two things go
//! wrong often enough with the gateway's Teams channel to watch for:
//!
//! - **unanswered**: a message from an allowed person, in a chat that expects replies, with no
//!   agent reply after `unanswered_after_secs` (the wait starts after quiet hours);
//! - **duplicate reply**: two agent replies to one message (no human message between them),
//!   within `duplicate_within_secs`, with identical or near-identical text.
//!
//! Each case alerts the operator once (through the runtime's alerts, never into the chat) and
//! is counted in the facts. The decisions here are pure; [`raise`] sends the alerts.

use crate::config::{DetectorsConfig, QuietHours};
use crate::data::{
    AWAITING_KEPT, CASES_KEPT, Case, Conversation, Data, HUMANS_KEPT, HumanMessage, REPLIES_KEPT,
    ReplySeen, push_bounded,
};
use anyhow::Result;
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use common::{Ctx, Severity};

/// Characters of a reply kept for comparison.
const TEXT_KEPT: usize = 2000;

/// Quiet hours, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct QuietWindow {
    from: NaiveTime,
    to: NaiveTime,
    tz: chrono_tz::Tz,
}

impl QuietWindow {
    /// Parse `{"from": "22:00", "to": "07:00", "timezone": "Europe/Berlin"}`.
    pub fn parse(q: &QuietHours) -> std::result::Result<QuietWindow, String> {
        let t = |k: &str, s: &str| {
            NaiveTime::parse_from_str(s.trim(), "%H:%M")
                .map_err(|_| format!("`{k}` {s:?} is not a time such as 22:00"))
        };
        let tz: chrono_tz::Tz = q.timezone.parse().map_err(|_| {
            format!(
                "`timezone` {:?} is not an IANA time zone such as Europe/Berlin or UTC",
                q.timezone
            )
        })?;
        let w = QuietWindow {
            from: t("from", &q.from)?,
            to: t("to", &q.to)?,
            tz,
        };
        if w.from == w.to {
            return Err("`from` and `to` are equal: remove quiet_hours instead".into());
        }
        Ok(w)
    }

    /// Whether `t` falls in the quiet hours.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let local = t.with_timezone(&self.tz).time();
        if self.from < self.to {
            local >= self.from && local < self.to
        } else {
            local >= self.from || local < self.to
        }
    }

    /// The end of the quiet hours `t` falls in (or `t` itself outside them).
    pub fn end_of(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        if !self.contains(t) {
            return t;
        }
        let local = t.with_timezone(&self.tz);
        let mut day = local.date_naive();
        if self.from > self.to && local.time() >= self.from {
            day = day.succ_opt().unwrap_or(day);
        }
        self.tz
            .from_local_datetime(&day.and_time(self.to))
            .earliest()
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or(t)
    }
}

/// Lowercase, punctuation dropped, whitespace collapsed, cut.
pub fn normalize(text: &str) -> String {
    let mut out = String::new();
    for w in text
        .split(|c: char| c.is_whitespace())
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(w.chars().flat_map(char::to_lowercase));
        if out.len() >= TEXT_KEPT {
            break;
        }
    }
    let mut i = out.len().min(TEXT_KEPT);
    while !out.is_char_boundary(i) {
        i -= 1;
    }
    out.truncate(i);
    out
}

/// Similarity of two normalized texts, 0.0–1.0: 1.0 when equal, else the Dice coefficient of
/// their character trigrams.
pub fn similarity(a: &str, b: &str) -> f64 {
    if a == b {
        return 1.0;
    }
    let grams = |s: &str| {
        let c: Vec<char> = s.chars().collect();
        let mut v: Vec<[char; 3]> = c.windows(3).map(|w| [w[0], w[1], w[2]]).collect();
        v.sort_unstable();
        v
    };
    let (ga, gb) = (grams(a), grams(b));
    if ga.is_empty() || gb.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < ga.len() && j < gb.len() {
        match ga[i].cmp(&gb[j]) {
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
        }
    }
    2.0 * common as f64 / (ga.len() + gb.len()) as f64
}

/// Record a message from an allowed person (idempotent by id).
pub fn note_human(conv: &mut Conversation, msg: HumanMessage, expect_reply: bool) {
    if conv.humans.iter().any(|h| h.id == msg.id) {
        return;
    }
    let answered = conv.last_reply_at.is_some_and(|r| r > msg.at);
    if expect_reply && !answered && conv.awaiting.len() < AWAITING_KEPT {
        conv.awaiting.push(msg.clone());
    }
    push_bounded(&mut conv.humans, msg, HUMANS_KEPT);
}

/// A duplicated reply, found when its second copy is recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Duplicate {
    pub message_id: Option<String>,
    pub first: String,
    pub second: String,
    pub gap_secs: i64,
    pub similarity: f64,
}

/// Record an agent reply (idempotent by id): it answers every waiting message older than it;
/// returns a duplicate when an earlier reply to the same message is close and alike.
pub fn note_reply(
    conv: &mut Conversation,
    id: &str,
    at: DateTime<Utc>,
    text: &str,
    cfg: &DetectorsConfig,
) -> Option<Duplicate> {
    if conv.replies.iter().any(|r| r.id == id) {
        return None;
    }
    conv.last_reply_at = Some(conv.last_reply_at.map_or(at, |l| l.max(at)));
    conv.awaiting.retain(|h| h.at >= at);
    let after = conv
        .humans
        .iter()
        .filter(|h| h.at <= at)
        .max_by_key(|h| h.at)
        .map(|h| h.id.clone());
    let text = normalize(text);
    let dup = (cfg.duplicate_within_secs > 0)
        .then(|| {
            conv.replies.iter().find_map(|r| {
                let gap = (at - r.at).num_seconds().abs();
                let sim = similarity(&r.text, &text);
                (r.after == after
                    && gap <= cfg.duplicate_within_secs as i64
                    && !text.is_empty()
                    && sim >= cfg.duplicate_similarity)
                    .then(|| Duplicate {
                        message_id: after.clone(),
                        first: r.id.clone(),
                        second: id.to_string(),
                        gap_secs: gap,
                        similarity: sim,
                    })
            })
        })
        .flatten();
    push_bounded(
        &mut conv.replies,
        ReplySeen {
            id: id.to_string(),
            at,
            after,
            text,
        },
        REPLIES_KEPT,
    );
    dup
}

/// When the wait for a reply to a message sent at `at` ends.
pub fn deadline(at: DateTime<Utc>, after_secs: u64, quiet: Option<&QuietWindow>) -> DateTime<Utc> {
    let start = quiet.map_or(at, |q| q.end_of(at));
    start
        .checked_add_signed(
            Duration::try_seconds(i64::try_from(after_secs).unwrap_or(i64::MAX))
                .unwrap_or(Duration::MAX),
        )
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The waiting messages whose deadline has passed (removed from `awaiting`). None during quiet
/// hours.
pub fn take_unanswered(
    conv: &mut Conversation,
    now: DateTime<Utc>,
    cfg: &DetectorsConfig,
    quiet: Option<&QuietWindow>,
) -> Vec<HumanMessage> {
    if cfg.unanswered_after_secs == 0 || quiet.is_some_and(|q| q.contains(now)) {
        return Vec::new();
    }
    let (due, keep): (Vec<HumanMessage>, Vec<HumanMessage>) = std::mem::take(&mut conv.awaiting)
        .into_iter()
        .partition(|h| deadline(h.at, cfg.unanswered_after_secs, quiet) <= now);
    conv.awaiting = keep;
    due
}

/// Run the unanswered detector over every chat, then alert every case not alerted yet.
pub fn raise(ctx: &mut Ctx<Data>, cfg: &crate::config::Config) -> Result<u64> {
    find_unanswered(ctx, cfg);
    alert_cases(ctx)
}

fn find_unanswered(ctx: &mut Ctx<Data>, cfg: &crate::config::Config) {
    let now = ctx.now();
    let sources = cfg.sources();
    let quiet = cfg
        .detectors
        .quiet_hours
        .as_ref()
        .and_then(|q| QuietWindow::parse(q).ok());
    let after = cfg.detectors.unanswered_after_secs;
    let wait = if after >= 60 {
        format!("{} min", after / 60)
    } else {
        format!("{after} s")
    };
    let keys: Vec<String> = ctx.state.data.conversations.keys().cloned().collect();
    for k in keys {
        let due = match ctx.state.data.conversations.get_mut(&k) {
            Some(c) => take_unanswered(c, now, &cfg.detectors, quiet.as_ref()),
            None => continue,
        };
        let name = sources
            .iter()
            .find(|s| s.key == k)
            .map_or_else(|| k.clone(), |s| s.name.clone());
        for h in due {
            let detail = format!(
                "no agent reply within {wait} to {} ({}) in {name}, message {} sent {}",
                h.sender,
                h.tier,
                h.id,
                h.at.format("%Y-%m-%d %H:%M:%S UTC")
            );
            record_case(ctx, "unanswered", &k, &h.id, now, detail);
        }
    }
}

/// Alert each case once (a case key never repeats, however long ago the last alert was).
fn alert_cases(ctx: &mut Ctx<Data>) -> Result<u64> {
    let pending: Vec<Case> = ctx
        .state
        .data
        .detections
        .cases
        .iter()
        .filter(|c| !c.alerted)
        .cloned()
        .collect();
    for c in &pending {
        let key = format!("{}/{}#{}", c.kind, c.chat, c.message_id);
        ctx.alert_with_interval(
            &key,
            Severity::Warning,
            &format!("poll-teams: {}", c.detail),
            Some(std::time::Duration::from_secs(u64::MAX)),
        )?;
        if let Some(x) = ctx.state.data.detections.cases.iter_mut().find(|x| *x == c) {
            x.alerted = true;
        }
    }
    if !pending.is_empty() {
        ctx.checkpoint()?;
    }
    Ok(pending.len() as u64)
}

/// Count a case and queue its alert.
pub fn record_case(
    ctx: &mut Ctx<Data>,
    kind: &str,
    chat: &str,
    message_id: &str,
    at: DateTime<Utc>,
    detail: String,
) {
    let d = &mut ctx.state.data.detections;
    match kind {
        "unanswered" => d.unanswered += 1,
        _ => d.duplicate_replies += 1,
    }
    push_bounded(
        &mut d.cases,
        Case {
            kind: kind.to_string(),
            chat: chat.to_string(),
            message_id: message_id.to_string(),
            at,
            detail,
            alerted: false,
        },
        CASES_KEPT,
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn human(id: &str, at: &str) -> HumanMessage {
        HumanMessage {
            id: id.into(),
            at: t(at),
            sender: "Robin".into(),
            tier: "trusted".into(),
        }
    }

    #[test]
    fn a_reply_answers_what_came_before_it() {
        let cfg = DetectorsConfig::default();
        let mut c = Conversation::default();
        note_human(&mut c, human("1", "2026-01-01T10:00:00Z"), true);
        note_human(&mut c, human("1", "2026-01-01T10:00:00Z"), true);
        assert_eq!(c.awaiting.len(), 1, "idempotent");
        assert!(note_reply(&mut c, "r1", t("2026-01-01T10:00:30Z"), "Sure, done.", &cfg).is_none());
        assert!(c.awaiting.is_empty());
        note_human(&mut c, human("2", "2026-01-01T10:05:00Z"), true);
        let now = t("2026-01-01T10:14:59Z");
        assert!(take_unanswered(&mut c, now, &cfg, None).is_empty());
        let due = take_unanswered(&mut c, t("2026-01-01T10:15:00Z"), &cfg, None);
        assert_eq!(due.len(), 1);
        assert!(
            take_unanswered(&mut c, t("2026-01-01T11:00:00Z"), &cfg, None).is_empty(),
            "once"
        );
    }

    #[test]
    fn duplicates_are_close_alike_and_to_one_message() {
        let cfg = DetectorsConfig::default();
        let mut c = Conversation::default();
        note_human(&mut c, human("1", "2026-01-01T10:00:00Z"), true);
        assert!(
            note_reply(
                &mut c,
                "r1",
                t("2026-01-01T10:00:10Z"),
                "The build is green.",
                &cfg
            )
            .is_none()
        );
        let d = note_reply(
            &mut c,
            "r2",
            t("2026-01-01T10:00:14Z"),
            "The build is green!",
            &cfg,
        )
        .unwrap();
        assert_eq!(
            (d.first.as_str(), d.second.as_str(), d.message_id.as_deref()),
            ("r1", "r2", Some("1"))
        );
        assert!(
            note_reply(
                &mut c,
                "r2",
                t("2026-01-01T10:00:14Z"),
                "The build is green!",
                &cfg
            )
            .is_none(),
            "once per reply"
        );
        // Normal conversation: a new question, a different answer, or a late similar one.
        note_human(&mut c, human("2", "2026-01-01T10:01:00Z"), true);
        assert!(
            note_reply(
                &mut c,
                "r3",
                t("2026-01-01T10:01:05Z"),
                "The build is green.",
                &cfg
            )
            .is_none(),
            "another message"
        );
        assert!(
            note_reply(
                &mut c,
                "r4",
                t("2026-01-01T10:01:09Z"),
                "And the deploy finished at noon.",
                &cfg
            )
            .is_none()
        );
        assert!(
            note_reply(
                &mut c,
                "r5",
                t("2026-01-01T10:03:00Z"),
                "The build is green.",
                &cfg
            )
            .is_none(),
            "too late"
        );
    }

    #[test]
    fn quiet_hours_postpone_the_wait() {
        let q = QuietWindow::parse(&QuietHours {
            from: "22:00".into(),
            to: "07:00".into(),
            timezone: "UTC".into(),
        })
        .unwrap();
        assert!(q.contains(t("2026-01-01T23:00:00Z")) && q.contains(t("2026-01-02T06:59:00Z")));
        assert!(!q.contains(t("2026-01-02T07:00:00Z")));
        assert_eq!(
            deadline(t("2026-01-01T23:30:00Z"), 600, Some(&q)),
            t("2026-01-02T07:10:00Z")
        );
        assert_eq!(
            deadline(t("2026-01-02T03:00:00Z"), 600, Some(&q)),
            t("2026-01-02T07:10:00Z")
        );
        assert_eq!(
            deadline(t("2026-01-02T12:00:00Z"), 600, Some(&q)),
            t("2026-01-02T12:10:00Z")
        );
        let cfg = DetectorsConfig::default();
        let mut c = Conversation::default();
        note_human(&mut c, human("1", "2026-01-01T21:55:00Z"), true);
        assert!(
            take_unanswered(&mut c, t("2026-01-01T22:30:00Z"), &cfg, Some(&q)).is_empty(),
            "quiet now"
        );
        assert_eq!(
            take_unanswered(&mut c, t("2026-01-02T07:00:00Z"), &cfg, Some(&q)).len(),
            1
        );
        assert!(
            QuietWindow::parse(&QuietHours {
                from: "25:00".into(),
                to: "07:00".into(),
                timezone: "UTC".into()
            })
            .is_err()
        );
        assert!(
            QuietWindow::parse(&QuietHours {
                from: "22:00".into(),
                to: "07:00".into(),
                timezone: "Mars/Base".into()
            })
            .is_err()
        );
    }

    #[test]
    fn similarity_is_bounded() {
        assert_eq!(similarity("abc def", "abc def"), 1.0);
        assert!(
            similarity(
                &normalize("Hello there, Robin!"),
                &normalize("hello there robin")
            ) == 1.0
        );
        assert!(similarity("the build is green", "the deploy is red") < 0.6);
        assert_eq!(similarity("", "abc"), 0.0);
    }
}
