//! Streaming scan of a byte source in large buffers: only complete lines are examined, a
//! partial last line is left for the next run, and memory stays bounded by the buffer size and
//! `max_line_bytes` however long a line is.
//!
//! The automaton runs over the whole buffer; line boundaries are looked for only around a
//! candidate, so the cost per byte is that of the literal search.

use crate::records::{self, Observation, Verdict};
use crate::vocab::Extra;
use aho_corasick::{AhoCorasick, Input, MatchKind};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use memchr::{memchr, memrchr};
use std::io::{ErrorKind, Read};
use std::sync::OnceLock;

/// Finds candidate lines (the gateway's event needles) and judges them.
pub struct Matcher {
    /// Built on first use: a run with nothing new to read never pays for it.
    needles: OnceLock<AhoCorasick>,
    exclude: Option<AhoCorasick>,
    extra: Extra,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Matcher")
    }
}

impl Matcher {
    /// The gateway's needles, the configured exclusions (case-insensitive) and extra phrases.
    pub fn new(
        include: &[String],
        quota_include: &[String],
        exclude: &[String],
    ) -> Result<Matcher> {
        let exclude = if exclude.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .build(exclude)
                    .context("cannot compile the `exclude` phrases")?,
            )
        };
        Ok(Matcher {
            needles: OnceLock::new(),
            exclude,
            extra: Extra::new(include, quota_include),
        })
    }

    /// The automaton of the search keys.
    fn needles(&self) -> std::io::Result<&AhoCorasick> {
        if let Some(n) = self.needles.get() {
            return Ok(n);
        }
        let built = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(records::SEARCH_KEYS)
            .map_err(|e| {
                std::io::Error::other(format!("cannot compile the record needles: {e}"))
            })?;
        Ok(self.needles.get_or_init(|| built))
    }

    /// The first candidate at or after `from` in `hay`: (start, end) of the needle.
    fn next_candidate(needles: &AhoCorasick, hay: &[u8], from: usize) -> Option<(usize, usize)> {
        needles
            .find(Input::new(hay).range(from..hay.len()))
            .map(|m| (m.start(), m.end()))
    }

    /// Judge one candidate line.
    pub fn judge(&self, line: &[u8], now: DateTime<Utc>, source: &str) -> Verdict {
        if self.exclude.as_ref().is_some_and(|x| x.is_match(line)) {
            return Verdict::Excluded;
        }
        records::interpret(line, now, source, &self.extra)
    }
}

/// Bytes read per chunk.
pub const CHUNK: usize = 2 * 1024 * 1024;

/// Counters of one scan.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Stats {
    pub bytes: u64,
    pub candidates: u64,
    pub excluded: u64,
    pub garbage: u64,
    pub oversized: u64,
}

impl Stats {
    pub fn add(&mut self, o: &Stats) {
        self.bytes += o.bytes;
        self.candidates += o.candidates;
        self.excluded += o.excluded;
        self.garbage += o.garbage;
        self.oversized += o.oversized;
    }
}

/// Where a scan stopped.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Progress {
    /// Bytes consumed from the start (always ends at a line boundary, or inside a long line
    /// being skipped).
    pub consumed: u64,
    /// Inside a line longer than `max_line_bytes`: skip up to the next newline.
    pub skipping: bool,
}

/// A streaming scanner with its buffer.
pub struct Scanner<'r> {
    matcher: &'r Matcher,
    max_line: usize,
    buf: Vec<u8>,
    now: DateTime<Utc>,
    source: String,
}

impl<'r> Scanner<'r> {
    /// A scanner for one source (`source` names it in the signals; `now` stands in for lines
    /// without a time).
    pub fn new(matcher: &'r Matcher, max_line: usize, now: DateTime<Utc>, source: &str) -> Self {
        Scanner {
            matcher,
            max_line,
            buf: Vec::new(),
            now,
            source: source.to_string(),
        }
    }

    /// Scan `r` to its end. `on_chunk(progress, found, stats)` is called after each chunk with
    /// what that chunk yielded; returning `false` stops the scan there (progress kept).
    pub fn scan<R: Read>(
        &mut self,
        mut r: R,
        skipping_at_start: bool,
        mut on_chunk: impl FnMut(&Progress, Vec<Observation>, &Stats) -> bool,
    ) -> std::io::Result<Progress> {
        let needles = self.matcher.needles()?;
        let cap = CHUNK + self.max_line;
        if self.buf.len() != cap {
            self.buf = vec![0u8; cap];
        }
        let mut carry = 0usize;
        let mut prog = Progress {
            consumed: 0,
            skipping: skipping_at_start,
        };
        loop {
            let n = read_full(&mut r, &mut self.buf[carry..carry + CHUNK])?;
            if n == 0 {
                return Ok(prog);
            }
            let mut stats = Stats {
                bytes: n as u64,
                ..Default::default()
            };
            let len = carry + n;
            let mut start = 0usize;
            if prog.skipping {
                // carry is 0 while skipping
                match memchr(b'\n', &self.buf[..len]) {
                    Some(i) => {
                        prog.skipping = false;
                        stats.oversized += 1;
                        start = i + 1;
                        prog.consumed += start as u64;
                    }
                    None => {
                        prog.consumed += len as u64;
                        if !on_chunk(&prog, Vec::new(), &stats) {
                            return Ok(prog);
                        }
                        continue;
                    }
                }
            }
            let mut found = Vec::new();
            match memrchr(b'\n', &self.buf[start..len]) {
                Some(j) => {
                    let end = start + j + 1;
                    self.lines(needles, start, end, &mut found, &mut stats);
                    prog.consumed += (end - start) as u64;
                    self.buf.copy_within(end..len, 0);
                    carry = len - end;
                }
                None => {
                    self.buf.copy_within(start..len, 0);
                    carry = len - start;
                }
            }
            if carry > self.max_line {
                // A line longer than allowed: consume what we have and skip to its end.
                prog.consumed += carry as u64;
                carry = 0;
                prog.skipping = true;
            }
            if !on_chunk(&prog, found, &stats) {
                return Ok(prog);
            }
        }
    }

    /// Examine the complete lines in `buf[from..to]` (`to` just after a newline).
    fn lines(
        &self,
        needles: &AhoCorasick,
        from: usize,
        to: usize,
        found: &mut Vec<Observation>,
        stats: &mut Stats,
    ) {
        let hay = &self.buf[..to];
        let mut pos = from;
        while let Some((ms, me)) = Matcher::next_candidate(needles, hay, pos) {
            let ls = memrchr(b'\n', &hay[pos..ms]).map_or(pos, |i| pos + i + 1);
            let le = memchr(b'\n', &hay[me..]).map_or(to, |i| me + i);
            stats.candidates += 1;
            let line = &hay[ls..le];
            if line.len() > self.max_line {
                stats.oversized += 1;
            } else {
                match self.matcher.judge(line, self.now, &self.source) {
                    Verdict::Seen(o) => found.push(o),
                    Verdict::Nothing => {}
                    Verdict::Excluded => stats.excluded += 1,
                    Verdict::Garbage(why) => {
                        stats.garbage += 1;
                        if stats.garbage <= 3 {
                            log::info!(
                                "skipped a line with {why} ({} bytes) in {}",
                                line.len(),
                                self.source
                            );
                        }
                    }
                }
            }
            pos = le + 1;
            if pos >= to {
                break;
            }
        }
    }
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const REFUSAL: &str = r#"{"0":"{\"subsystem\":\"agent/embedded\"}","1":{"event":"embedded_run_agent_end","runId":"r","isError":true,"error":"⚠️ API rate limit reached. Please try again later.","failoverReason":"rate_limit","model":"fake-model","provider":"fake","rawErrorPreview":"429: x"},"2":"embedded run agent end","_meta":{"date":"2026-11-28T04:13:31.109Z","logLevelName":"WARN"}}"#;

    fn scan_all(
        input: &[u8],
        max_line: usize,
        skipping: bool,
    ) -> (Progress, Vec<Observation>, Stats) {
        let m = Matcher::new(&[], &[], &[]).unwrap();
        let now = "2026-11-28T05:00:00Z".parse().unwrap();
        let mut s = Scanner::new(&m, max_line, now, "t");
        let mut all = Vec::new();
        let mut st = Stats::default();
        let p = s
            .scan(input, skipping, |_, f, s| {
                all.extend(f);
                st.add(s);
                true
            })
            .unwrap();
        (p, all, st)
    }

    #[test]
    fn partial_last_line_is_not_consumed() {
        let input = format!("a\n{REFUSAL}\n{}", &REFUSAL[..40]);
        let (p, f, _) = scan_all(input.as_bytes(), 4096, false);
        assert_eq!(f.len(), 1);
        assert_eq!(p.consumed as usize, input.len() - 40);
        assert!(!p.skipping);
    }

    #[test]
    fn one_observation_per_line_even_with_several_needles() {
        let input = format!(
            "{}\nnothing\n",
            REFUSAL.replace(
                "embedded run agent end",
                "[model-fetch] embedded run agent end: "
            )
        );
        let (_, f, st) = scan_all(input.as_bytes(), 4096, false);
        assert_eq!(f.len(), 1);
        assert_eq!(st.candidates, 1);
    }

    #[test]
    fn long_lines_are_skipped_with_bounded_memory() {
        let mut input = Vec::new();
        input.extend_from_slice(b"[model-fetch] start ");
        input.extend(std::iter::repeat_n(b'x', 3 * CHUNK));
        input.extend_from_slice(format!("\n{REFUSAL}\n").as_bytes());
        let (p, f, st) = scan_all(&input, 4096, false);
        assert_eq!(f.len(), 1, "only the short line counts");
        assert_eq!(st.oversized, 1);
        assert_eq!(p.consumed as usize, input.len());
    }

    #[test]
    fn skipping_carries_over_between_runs() {
        let input = format!("tail of a long line [model-fetch] start\n{REFUSAL}\n");
        let (p, f, st) = scan_all(input.as_bytes(), 4096, true);
        assert_eq!(f.len(), 1);
        assert_eq!(st.oversized, 1);
        assert_eq!(p.consumed as usize, input.len());
    }
}
