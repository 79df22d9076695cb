//! Times given on the command line (`logs --since` and `--until`), read as Docker reads
//! them: its client's `GetTimestamp`, then its daemon's `ParseTimestamps`. Three forms:
//!
//! - a Go duration (`10m`, `1h30m`, `1.5h`, `-5m`), meaning that long before now, in whole
//!   seconds as Docker's client sends it; `0` alone is not one (it is Unix time 0);
//! - a date and time, `YYYY-MM-DD[THH[:MM[:SS[.FRACTION]]]][Z|±HH:MM]`, checked field by
//!   field as Go's `time.Parse` checks it; without a zone it is UTC (Docker takes the
//!   client's local zone: the same on a UTC host; berth has no zone database);
//! - Unix time, `SECONDS[.FRACTION]`.
//!
//! A value that looks like a date (it has a `-`) and is not a valid one is refused rather
//! than read as a number, as Docker refuses it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::display::parse_rfc3339;

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// The instant `value` names (see the module docs); `now` is what a duration counts back
/// from. `None` when it is none of the forms.
pub fn parse(value: &str, now: SystemTime) -> Option<SystemTime> {
    if value != "0" {
        if let Some(back) = go_duration(value) {
            let then = nanos_since_epoch(now) - back;
            // Docker's client sends `reference.Add(-d).Unix()`: the second, rounded down.
            return Some(instant(then.div_euclid(NANOS_PER_SEC) * NANOS_PER_SEC));
        }
    }
    if value.contains('-') {
        return date_time(value);
    }
    unix(value)
}

/// Go's `time.ParseDuration` in nanoseconds: an optional sign, then one or more numbers
/// (`5`, `1.5`, `.5`, `5.`) each with its unit (`ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`);
/// `0` alone is zero. Go's limit, about 292 years, holds.
pub fn go_duration(value: &str) -> Option<i128> {
    let (negative, mut rest) = match value.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, value.strip_prefix('+').unwrap_or(value)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let (whole, r) = split_digits(rest);
        let (fraction, r) = match r.strip_prefix('.') {
            Some(r) => split_digits(r),
            None => ("", r),
        };
        if whole.is_empty() && fraction.is_empty() {
            return None; // no number where one must be (`h`, `.s`)
        }
        let unit_len = r.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(r.len());
        let (unit, r) = r.split_at(unit_len);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3600 * NANOS_PER_SEC,
            _ => return None, // missing or unknown unit
        };
        total = total.checked_add(number_times(whole, fraction, scale)?)?;
        if total > i128::from(i64::MAX) + i128::from(negative) {
            return None; // Go's Duration overflows
        }
        rest = r;
    }
    Some(if negative { -total } else { total })
}

/// `whole.fraction × scale`, the fraction's part rounded down as Go drops it.
fn number_times(whole: &str, fraction: &str, scale: i128) -> Option<i128> {
    let whole: i128 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let mut value = whole.checked_mul(scale)?;
    // Digits past nanoseconds of an hour cannot count.
    let fraction = &fraction[..fraction.len().min(18)];
    if !fraction.is_empty() {
        let digits: i128 = fraction.parse().ok()?;
        value += digits * scale / 10i128.pow(u32::try_from(fraction.len()).ok()?);
    }
    Some(value)
}

fn split_digits(s: &str) -> (&str, &str) {
    s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()))
}

/// `YYYY-MM-DD`, then optionally `T` and an hour (one or two digits), minutes and seconds
/// (two each; a fraction only after seconds), then optionally `Z` or `±HH:MM`: the forms
/// Docker's `GetTimestamp` tries, completed to a full RFC 3339 time for `parse_rfc3339`.
fn date_time(value: &str) -> Option<SystemTime> {
    let date = value.get(..10)?;
    let date_shape = date.bytes().enumerate().all(|(i, b)| match i {
        4 | 7 => b == b'-',
        _ => b.is_ascii_digit(),
    });
    if !date_shape {
        return None;
    }
    let (year, month, day) = (num(&date[..4])?, num(&date[5..7])?, num(&date[8..])?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let rest = &value[10..];
    let (clock, tail) = match rest.strip_prefix('T') {
        Some(r) => r.split_at(r.find(|c: char| !c.is_ascii_digit() && c != ':').unwrap_or(r.len())),
        None => ("", rest),
    };
    let fields: Vec<&str> = if clock.is_empty() { Vec::new() } else { clock.split(':').collect() };
    if (rest.starts_with('T') && fields.is_empty()) || fields.len() > 3 {
        return None;
    }
    let widths_ok =
        fields.iter().enumerate().all(|(i, f)| f.len() == 2 || (i == 0 && f.len() == 1));
    if !widths_ok {
        return None;
    }
    let field = |i: usize| fields.get(i).map_or(Some(0), |f| num(f));
    let (hour, minute, second) = (field(0)?, field(1)?, field(2)?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let (fraction, zone) = match tail.strip_prefix('.') {
        Some(r) => r.split_at(r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len())),
        None => ("", tail),
    };
    // A fraction needs seconds before it and a digit in it.
    if tail.starts_with('.') && (fields.len() != 3 || fraction.is_empty()) {
        return None;
    }
    let zone_shape = match zone.as_bytes() {
        [] | [b'Z'] => true,
        [sign, h1, h2, b':', m1, m2] => {
            matches!(sign, b'+' | b'-') && [h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit())
        }
        _ => false,
    };
    if !zone_shape {
        return None;
    }
    let dot = if fraction.is_empty() { "" } else { "." };
    parse_rfc3339(&format!("{date}T{hour:02}:{minute:02}:{second:02}{dot}{fraction}{zone}"))
}

fn num(digits: &str) -> Option<u32> {
    digits.bytes().all(|b| b.is_ascii_digit()).then(|| digits.parse().ok()).flatten()
}

fn days_in_month(year: u32, month: u32) -> u32 {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `SECONDS[.FRACTION]` since the epoch; the fraction cut to nanoseconds.
fn unix(value: &str) -> Option<SystemTime> {
    let (secs, fraction) = match value.split_once('.') {
        Some((s, f)) => (s, Some(f)),
        None => (value, None),
    };
    let secs: i64 = secs.strip_prefix('+').unwrap_or(secs).parse().ok()?;
    let mut nanos: i128 = 0;
    if let Some(f) = fraction {
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let nine: String = f.chars().chain(std::iter::repeat('0')).take(9).collect();
        nanos = nine.parse().ok()?;
    }
    Some(instant(i128::from(secs) * NANOS_PER_SEC + nanos))
}

fn nanos_since_epoch(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
        Err(before) => -i128::try_from(before.duration().as_nanos()).unwrap_or(i128::MAX),
    }
}

/// The instant `nanos` after the epoch (before it when negative).
fn instant(nanos: i128) -> SystemTime {
    let magnitude = nanos.unsigned_abs();
    let d = Duration::new(
        u64::try_from(magnitude / 1_000_000_000).unwrap_or(u64::MAX),
        u32::try_from(magnitude % 1_000_000_000).unwrap_or(0),
    );
    let t = if nanos < 0 { UNIX_EPOCH.checked_sub(d) } else { UNIX_EPOCH.checked_add(d) };
    t.unwrap_or(UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i128 = 3600 * NANOS_PER_SEC;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn go_durations() {
        let s = NANOS_PER_SEC;
        let cases: &[(&str, i128)] = &[
            ("10m", 600 * s),
            ("1h30m", HOUR + 1800 * s),
            ("42s", 42 * s),
            ("1.5h", HOUR * 3 / 2),
            (".5s", s / 2),
            ("5.s", 5 * s),
            ("-5m", -300 * s),
            ("+5m", 300 * s),
            ("0", 0),
            ("-0", 0),
            ("1h1m1s1ms1us1ns", HOUR + 61 * s + 1_001_001),
            ("2\u{b5}s", 2000),
            ("2\u{3bc}s", 2000),
            ("1.000000001s", s + 1),
            ("2562047h", 2_562_047 * HOUR),
        ];
        for (text, nanos) in cases {
            assert_eq!(go_duration(text), Some(*nanos), "{text}");
        }
        for bad in ["", "-", "10", "1x", "h", ".s", "1.5", "1h 2m", "3000000h", "1hh", "1e3s"] {
            assert_eq!(go_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_duration_is_that_long_before_now_in_whole_seconds() {
        let now = at(1_700_000_000, 750_000_000);
        assert_eq!(parse("10m", now), Some(at(1_700_000_000 - 600, 0)));
        assert_eq!(parse("1h30m", now), Some(at(1_700_000_000 - 5400, 0)));
        assert_eq!(parse("1.5s", now), Some(at(1_699_999_999, 0)), "rounded down, not up");
        assert_eq!(parse("-1h", now), Some(at(1_700_003_600, 0)), "a negative one is ahead");
        // `0` alone is Unix time, not "no time before now".
        assert_eq!(parse("0", now), Some(UNIX_EPOCH));
    }

    #[test]
    fn dates_and_times_with_and_without_zones() {
        let now = SystemTime::now();
        let t = |s: &str| parse(s, now);
        let base = 1_704_164_645; // 2024-01-02T03:04:05Z
        assert_eq!(t("2024-01-02T03:04:05Z"), Some(at(base, 0)));
        assert_eq!(t("2024-01-02T03:04:05"), Some(at(base, 0)), "no zone: UTC");
        assert_eq!(t("2024-01-02T03:04:05.5Z"), Some(at(base, 500_000_000)));
        assert_eq!(t("2024-01-02T03:04:05.123456789"), Some(at(base, 123_456_789)));
        assert_eq!(t("2024-01-02T03:04:05.1234567891Z"), Some(at(base, 123_456_789)));
        assert_eq!(t("2024-01-02T05:04:05+02:00"), Some(at(base, 0)));
        assert_eq!(t("2024-01-01T22:04:05.25-05:00"), Some(at(base, 250_000_000)));
        // Docker's shorter forms: hour only, hour and minute, the date alone.
        assert_eq!(t("2024-01-02T03"), Some(at(base - 245, 0)));
        assert_eq!(t("2024-01-02T3"), Some(at(base - 245, 0)), "Go's hour may be one digit");
        assert_eq!(t("2024-01-02T03:04"), Some(at(base - 5, 0)));
        assert_eq!(t("2024-01-02T03:04Z"), Some(at(base - 5, 0)));
        assert_eq!(t("2024-01-02T03Z"), Some(at(base - 245, 0)));
        assert_eq!(t("2024-01-02"), Some(at(base - 11_045, 0)));
        assert_eq!(t("2024-01-02Z"), Some(at(base - 11_045, 0)));
        assert_eq!(t("2024-01-02+01:00"), Some(at(base - 11_045 - 3600, 0)));
        assert_eq!(t("2024-02-29"), Some(at(1_709_164_800, 0)), "a leap day");
        for bad in [
            "2024-01-02T",
            "2024-1-02",
            "2024-13-02",
            "2023-02-29",
            "2024-04-31",
            "2024-01-02T24:00",
            "2024-01-02T03:60",
            "2024-01-02T03:04:60",
            "2024-01-02T03:4",
            "2024-01-02T03:04:05:06",
            "2024-01-02T03:04.5",
            "2024-01-02.5",
            "2024-01-02T03:04:05.Z",
            "2024-01-02T03:04:05z",
            "2024-01-02T03:04:05+0100",
            "2024-01-02T03:04:05 UTC",
            "2024-01-02 03:04:05",
            "1969-12-31",
            "-1",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    #[test]
    fn unix_timestamps() {
        let now = SystemTime::now();
        let t = |s: &str| parse(s, now);
        assert_eq!(t("1700000000"), Some(at(1_700_000_000, 0)));
        assert_eq!(t("1700000000.5"), Some(at(1_700_000_000, 500_000_000)));
        assert_eq!(t("1700000000.000000001"), Some(at(1_700_000_000, 1)));
        assert_eq!(t("1700000000.1234567899"), Some(at(1_700_000_000, 123_456_789)));
        assert_eq!(t("42"), Some(at(42, 0)), "a bare number is seconds, not a duration");
        for bad in ["", "1700000000.", ".5", "1.2.3", "17e8", "now", "1700000000.5x", "abc"] {
            assert_eq!(t(bad), None, "{bad:?}");
        }
    }
}
