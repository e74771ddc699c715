//! Durations typed by an operator on the command line: `90`, `90s`, `500ms`, `5m`, `1.5h`, `2d`.

use std::time::Duration;

/// Parse a duration between `min` and `max` (inclusive). A bare number is seconds. The error
/// names the value and what would be accepted.
pub fn parse(s: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as 55s, 10m or 1h"))?;
    let mult = match unit {
        "ms" => 0.001,
        "s" | "sec" | "secs" => 1.0,
        "m" | "min" | "mins" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => {
            return Err(format!(
                "`{s}`: unknown unit `{unit}` (use ms, s, m, h or d)"
            ));
        }
    };
    let secs = n * mult;
    if !(secs.is_finite() && secs >= min.as_secs_f64() && secs <= max.as_secs_f64()) {
        return Err(format!(
            "`{s}` must be between {} and {}",
            human(min),
            human(max)
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `1 ms`, `55 s`, `10 m`, `24 h`, `7 d`: the largest whole unit.
fn human(d: Duration) -> String {
    let ms = d.as_millis();
    let s = d.as_secs();
    if !ms.is_multiple_of(1000) || s == 0 {
        format!("{ms} ms")
    } else if s.is_multiple_of(86400) {
        format!("{} d", s / 86400)
    } else if s.is_multiple_of(3600) {
        format!("{} h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{} m", s / 60)
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const DAY: Duration = Duration::from_secs(86400);

    #[test]
    fn units_and_bounds() {
        assert_eq!(parse("55s", MS, DAY).unwrap().as_secs(), 55);
        assert_eq!(parse("90", MS, DAY).unwrap().as_secs(), 90);
        assert_eq!(parse("500ms", MS, DAY).unwrap().as_millis(), 500);
        assert_eq!(parse("1.5h", MS, DAY).unwrap().as_secs(), 5400);
        assert_eq!(parse("1d", MS, DAY).unwrap().as_secs(), 86400);
        assert_eq!(
            parse("0s", MS, DAY).unwrap_err(),
            "`0s` must be between 1 ms and 1 d"
        );
        assert!(parse("2d", MS, DAY).is_err());
        assert!(
            parse("5x", MS, DAY)
                .unwrap_err()
                .contains("unknown unit `x`")
        );
        assert!(
            parse("fast", MS, DAY)
                .unwrap_err()
                .contains("not a duration")
        );
        assert!(parse("NaNs", MS, DAY).is_err());
        assert_eq!(
            parse("0.5s", Duration::from_secs(1), DAY).unwrap_err(),
            "`0.5s` must be between 1 s and 1 d"
        );
    }
}
