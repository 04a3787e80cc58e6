//! Durations as operators write them: `90d`, `12h`, `1y`, `30m`, `2w`, `45s`.

use time::Duration;

/// The longest validity or window pkictl accepts; longer is a typo, not a plan.
pub const MAX_DAYS: i64 = 100 * 365;

/// Parses a positive duration: a whole number followed by one unit (s, m, h, d, w, y;
/// a year is 365 days).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    // Not trimmed: a stray newline or space is refused, not silently dropped.
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| invalid(text, "it has no unit"))?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(invalid(text, "it must start with a positive whole number"));
    }
    let amount: i64 = digits.parse().map_err(|_| invalid(text, "the number is too large"))?;
    let seconds_per_unit: i64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "y" => 365 * 86_400,
        _ => return Err(invalid(text, "the unit must be one of s, m, h, d, w, y")),
    };
    if amount == 0 {
        return Err(invalid(text, "it must be longer than zero"));
    }
    let seconds = amount
        .checked_mul(seconds_per_unit)
        .filter(|s| *s <= MAX_DAYS * 86_400)
        .ok_or_else(|| invalid(text, "it is longer than 100 years"))?;
    Ok(Duration::seconds(seconds))
}

fn invalid(text: &str, why: &str) -> String {
    format!("invalid duration \"{}\": {why} (examples: 90d, 12h, 1y)", crate::error::excerpt(text))
}

/// Formats a duration the way `parse_duration` reads it, in the largest exact unit.
pub fn format_duration(d: Duration) -> String {
    let s = d.whole_seconds();
    for (unit, size) in [("y", 365 * 86_400), ("w", 7 * 86_400), ("d", 86_400), ("h", 3_600), ("m", 60)] {
        if s != 0 && s % size == 0 {
            return format!("{}{unit}", s / size);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_each_unit() {
        assert_eq!(parse_duration("90d").unwrap(), Duration::days(90));
        assert_eq!(parse_duration("12h").unwrap(), Duration::hours(12));
        assert_eq!(parse_duration("1y").unwrap(), Duration::days(365));
        assert_eq!(parse_duration("2w").unwrap(), Duration::days(14));
        assert_eq!(parse_duration("30m").unwrap(), Duration::minutes(30));
        assert_eq!(parse_duration("45s").unwrap(), Duration::seconds(45));
    }

    #[test]
    fn refuses_nonsense() {
        for bad in
            ["", "d", "-1d", "0d", "99999y", "10", "1.5d", "1 d x", "1D", "1dd", "99999999999999999999d"]
        {
            assert!(parse_duration(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn formats_round_trip() {
        for text in ["90d", "12h", "1y", "2w", "45s"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }
}
