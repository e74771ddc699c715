//! Reading a Prometheus textfile in tests: one sample's value, and `promtool check metrics`
//! where promtool is installed (`AGENT_JOBS_REQUIRE_PROMTOOL=1`, which CI sets, makes its
//! absence a failure; otherwise the check prints `SKIPPED` and passes).

use std::io::Write;
use std::process::{Command, Stdio};

/// The value of the sample of `family` whose labels include every `(name, value)` of `labels`
/// (`None` when there is none). Label values are compared unescaped.
pub fn sample(text: &str, family: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(parse_line)
        .find(|(name, ls, _)| {
            name == family
                && labels
                    .iter()
                    .all(|(k, v)| ls.iter().any(|(a, b)| a == k && b == v))
        })
        .map(|(_, _, v)| v)
}

/// `# TYPE <family> <kind>` as written (`None` when the family has no TYPE line).
pub fn kind(text: &str, family: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .find(|(n, _)| *n == family)
        .map(|(_, k)| k.trim().to_string())
}

type Sample = (String, Vec<(String, String)>, f64);

fn parse_line(line: &str) -> Option<Sample> {
    let (name, rest) = match line.find('{') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => {
            let (n, v) = line.split_once(' ')?;
            return Some((n.to_string(), Vec::new(), v.trim().parse().ok()?));
        }
    };
    let mut labels = Vec::new();
    let mut chars = rest.char_indices().peekable();
    let mut key = String::new();
    let mut end = None;
    while let Some((i, c)) = chars.next() {
        match c {
            '}' => {
                end = Some(i);
                break;
            }
            ',' | ' ' => {}
            '=' => {
                chars.next(); // the opening quote
                let mut val = String::new();
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => match chars.next().map(|x| x.1) {
                            Some('n') => val.push('\n'),
                            Some(x) => val.push(x),
                            None => {}
                        },
                        '"' => break,
                        x => val.push(x),
                    }
                }
                labels.push((std::mem::take(&mut key), val));
            }
            x => key.push(x),
        }
    }
    let value = rest
        .get(end? + 1..)?
        .trim()
        .split(' ')
        .next()?
        .parse()
        .ok()?;
    Some((name.to_string(), labels, value))
}

/// `promtool check metrics` on `text`; panics with its output when it rejects it.
pub fn promtool_check(text: &str) {
    let have = Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        if std::env::var("AGENT_JOBS_REQUIRE_PROMTOOL").as_deref() == Ok("1") {
            panic!("promtool is required (AGENT_JOBS_REQUIRE_PROMTOOL=1) but not installed");
        }
        eprintln!("SKIPPED promtool check: promtool not installed (Debian package prometheus)");
        return;
    }
    let mut c = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    c.stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = c.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- input ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_found_by_family_and_labels() {
        let t = "# HELP agent_jobs_x X.\n# TYPE agent_jobs_x gauge\n\
                 agent_jobs_x{job=\"a\",file=\"M.md\"} 3\n\
                 agent_jobs_x{job=\"a\",file=\"q\\\"x\"} 4.5\n\
                 plain 7\n";
        assert_eq!(sample(t, "agent_jobs_x", &[("file", "M.md")]), Some(3.0));
        assert_eq!(sample(t, "agent_jobs_x", &[("file", "q\"x")]), Some(4.5));
        assert_eq!(sample(t, "agent_jobs_x", &[("file", "nope")]), None);
        assert_eq!(sample(t, "plain", &[]), Some(7.0));
        assert_eq!(kind(t, "agent_jobs_x").as_deref(), Some("gauge"));
    }
}
