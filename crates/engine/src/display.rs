//! Ids, ages and sizes as Docker prints them, in one place so that `ps`, `images`,
//! `history`, pull progress, prune and `stats` agree with each other and with Docker:
//! `stringid.TruncateID`, and go-units' `HumanDuration`, `HumanSizeWithPrecision`,
//! `HumanSize` and `BytesSize`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Docker's `stringid.TruncateID` unless `no_trunc`: the algorithm prefix (`sha256:`)
/// dropped and 12 characters kept. Shorter ids (`<missing>`) stay as they are.
pub fn short_id(id: &str, no_trunc: bool) -> String {
    if no_trunc {
        return id.to_string();
    }
    let hex = id.split_once(':').map_or(id, |(_, hex)| hex);
    hex.chars().take(12).collect()
}

/// go-units' `HumanDuration`: "Less than a second", "N seconds", "About a minute",
/// "N minutes", "About an hour", "N hours" (rounded), then days, weeks, months, years.
pub fn human_duration(d: Duration) -> String {
    const HOUR: u128 = 3_600_000_000_000;
    let secs = d.as_secs();
    let minutes = secs / 60;
    // Go rounds the hours half away from zero (`math.Round(d.Hours())`), and truncates
    // them for the years; in whole nanoseconds both are exact.
    let hours = (d.as_nanos() + HOUR / 2) / HOUR;
    let whole_hours = d.as_nanos() / HOUR;
    match secs {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{secs} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", whole_hours / 24 / 365),
    }
}

/// [`human_duration`] of the time from `then` to now; a time in the future (a clock
/// step) is "Less than a second", as Docker's negative durations are.
pub fn human_since(then: SystemTime) -> String {
    human_duration(SystemTime::now().duration_since(then).unwrap_or_default())
}

/// Docker's CREATED columns (`ps`, `images`, `history`): "2 hours ago". Docker's API
/// gives creation times in whole seconds, so the fraction of `created` is dropped first;
/// that decides "Less than a second ago" against "1 second ago".
pub fn created_ago(created: SystemTime) -> String {
    let secs = created.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("{} ago", human_since(UNIX_EPOCH + Duration::from_secs(secs)))
}

/// The instant of an RFC 3339 time, `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` (no zone reads
/// as UTC); `None` before 1970 or when malformed.
pub fn parse_rfc3339(t: &str) -> Option<SystemTime> {
    let n = |a: usize, b: usize| t.get(a..b)?.parse::<i64>().ok();
    let (y, m, d) = (n(0, 4)?, n(5, 7)?, n(8, 10)?);
    let (hh, mm, ss) = (n(11, 13)?, n(14, 16)?, n(17, 19)?);
    let rest = t.get(19..)?;
    let (frac, zone) = match rest.strip_prefix('.') {
        Some(r) => r.split_at(r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len())),
        None => ("", rest),
    };
    // Nanoseconds: the first nine digits, padded.
    let nanos = frac.bytes().chain(std::iter::repeat(b'0')).take(9);
    let nanos = nanos.fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0'));
    let offset = match zone {
        "" | "Z" | "z" => 0,
        z => {
            let sign = match z.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh = z.get(1..3)?.parse::<i64>().ok()?;
            let om = z.get(4..6)?.parse::<i64>().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    // Days from civil (Howard Hinnant), the inverse of berth_sys::time's conversion.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss - offset).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Docker's SIZE columns (`images`, `history`, `ps --size`):
/// `HumanSizeWithPrecision(bytes, 3)`, e.g. `4.26MB`.
pub fn size_column(bytes: u64) -> String {
    decimal_size(bytes as f64, 3)
}

/// go-units' `HumanSize`, four significant digits, e.g. `4.261MB`: what Docker prints for
/// pull progress and "Total reclaimed space".
pub fn human_size(bytes: u64) -> String {
    decimal_size(bytes as f64, 4)
}

/// go-units' `BytesSize`: binary units, four significant digits, e.g. `1.5MiB`: what
/// `docker stats` and `docker info` print for memory.
pub fn bytes_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    scaled(bytes as f64, 1024.0, &UNITS, 4)
}

/// go-units' `HumanSizeWithPrecision`: decimal units (`kB`, `MB`, …).
fn decimal_size(size: f64, precision: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    scaled(size, 1000.0, &UNITS, precision)
}

/// go-units' `getSizeAndUnit` and `%.*g%s`: divided by `base` while at least `base`.
fn scaled(mut size: f64, base: f64, units: &[&str], precision: usize) -> String {
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    format!("{}{}", go_g(size, precision), units[i])
}

/// Go's `%.*g` of a finite `v >= 0`: `precision` significant digits, trailing zeros
/// dropped, and the exponent form once the exponent reaches `precision`. That happens
/// when rounding carries into a fourth digit: Docker really prints 999.7kB as `1e+03kB`.
fn go_g(v: f64, precision: usize) -> String {
    let precision = precision.max(1);
    // Rust's `{:e}` rounds exactly, ties to even, as Go's strconv does.
    let sci = format!("{:.*e}", precision - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let all: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = all.trim_end_matches('0');
    if digits.is_empty() {
        return "0".into();
    }
    let nd = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let shown = i32::try_from(precision).unwrap_or(i32::MAX);
    let dp = exp + 1;
    let eprec = if shown > nd && nd >= dp { nd } else { shown };
    if exp < -4 || exp >= eprec {
        let (first, more) = digits.split_at(1);
        let dot = if more.is_empty() { "" } else { "." };
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{first}{dot}{more}e{sign}{:02}", exp.abs());
    }
    // Fixed form: every significant digit, the point placed by the exponent.
    if dp <= 0 {
        return format!("0.{}{digits}", "0".repeat(dp.unsigned_abs() as usize));
    }
    let dp = usize::try_from(dp).unwrap_or(0);
    if digits.len() <= dp {
        format!("{digits}{}", "0".repeat(dp - digits.len()))
    } else {
        format!("{}.{}", &digits[..dp], &digits[dp..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_as_truncate_id() {
        assert_eq!(short_id("sha256:0123456789abcdef", false), "0123456789ab");
        assert_eq!(short_id("0123456789abcdef0123", false), "0123456789ab");
        assert_eq!(short_id("<missing>", false), "<missing>");
        assert_eq!(short_id("sha256:0123456789abcdef", true), "sha256:0123456789abcdef");
    }

    #[test]
    fn durations_at_go_units_thresholds() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        let (min, hour, day) = (60, 3600, 86_400);
        let cases = [
            (ms(999), "Less than a second"),
            (ms(1000), "1 second"),
            (ms(1999), "1 second"),
            (s(2), "2 seconds"),
            (ms(59_999), "59 seconds"),
            (s(min), "About a minute"),
            (s(2 * min - 1), "About a minute"),
            (s(2 * min), "2 minutes"),
            (s(hour - 1), "59 minutes"),
            (s(hour), "About an hour"),
            (s(hour + 29 * min), "About an hour"),
            (s(hour + 30 * min) - ms(1), "About an hour"),
            // Go rounds 1.5 hours up.
            (s(hour + 30 * min), "2 hours"),
            (s(3 * hour + 31 * min), "4 hours"),
            (s(36 * hour), "36 hours"),
            (s(47 * hour + 29 * min), "47 hours"),
            (s(47 * hour + 30 * min), "2 days"),
            (s(13 * day + 5 * hour), "13 days"),
            (s(14 * day), "2 weeks"),
            (s(30 * day), "4 weeks"),
            (s(60 * day) - s(31 * min), "8 weeks"),
            (s(60 * day), "2 months"),
            (s(24 * 30 * day), "24 months"),
            (s(730 * day), "2 years"),
            (s(3 * 365 * day + 60 * day), "3 years"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(d), want, "{d:?}");
        }
    }

    #[test]
    fn created_ago_drops_the_fraction_as_dockers_api() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        // A moment ago in whole seconds is at least the fraction of now ago; 5 s is 5 s.
        let at = |d: Duration| UNIX_EPOCH + (now - d);
        assert_eq!(created_ago(at(Duration::from_secs(5))), "5 seconds ago");
        let future = SystemTime::now() + Duration::from_secs(60);
        assert_eq!(human_since(future), "Less than a second");
    }

    #[test]
    fn rfc3339_times() {
        let t = |s: &str| parse_rfc3339(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap());
        assert_eq!(t("1970-01-01T00:00:00Z"), Some(Duration::ZERO));
        assert_eq!(t("2024-01-01T00:00:01.5Z"), Some(Duration::new(1_704_067_201, 500_000_000)));
        assert_eq!(t("2024-01-01T00:00:01.123456789123Z").unwrap().subsec_nanos(), 123_456_789);
        assert_eq!(t("2024-01-01T02:00:01+02:00"), t("2024-01-01T00:00:01Z"));
        assert_eq!(t("2023-12-31T19:00:01.5-05:00"), t("2024-01-01T00:00:01.5Z"));
        assert_eq!(t("2024-01-01T00:00:01"), t("2024-01-01T00:00:01Z"));
        for bad in ["garbage", "1969-12-31T23:59:59Z", "2024-01-01T00:00:01 UTC", ""] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    #[test]
    fn sizes_as_go_units() {
        // go-units' own test values (HumanSize, BytesSize).
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1024), "1.024kB");
        assert_eq!(human_size(1_000_000), "1MB");
        assert_eq!(human_size(1_048_576), "1.049MB");
        assert_eq!(human_size(3_420_000_000), "3.42GB");
        assert_eq!(human_size(5_372_000_000_000), "5.372TB");
        assert_eq!(decimal_size(1e13 * 1e15, 4), "1e+04YB");
        assert_eq!(bytes_size(1024), "1KiB");
        assert_eq!(bytes_size(2 << 20), "2MiB");
        assert_eq!(bytes_size(3_672_136_220), "3.42GiB");
        assert_eq!(bytes_size(64 << 20), "64MiB");
        // The SIZE columns at their thresholds: three digits, units of 1000.
        assert_eq!(size_column(0), "0B");
        assert_eq!(size_column(999), "999B");
        assert_eq!(size_column(1000), "1kB");
        assert_eq!(size_column(1_500), "1.5kB");
        assert_eq!(size_column(3_000), "3kB");
        assert_eq!(size_column(4_261_000), "4.26MB");
        assert_eq!(size_column(9_996_000), "10MB");
        assert_eq!(size_column(12_345_678), "12.3MB");
        assert_eq!(size_column(99_960_000), "100MB");
        assert_eq!(size_column(123_456_789), "123MB");
        assert_eq!(size_column(999_499), "999kB");
        // Rounding carries past three digits before the unit changes: Go's exponent form.
        assert_eq!(size_column(999_600), "1e+03kB");
        // Reported against docker images (docker/for-mac#4142): 999674558 bytes.
        assert_eq!(size_column(999_674_558), "1e+03MB");
        assert_eq!(human_size(999_960), "1000kB");
        assert_eq!(human_size(999_949), "999.9kB");
        // Exact ties round to even, as Go's strconv.
        assert_eq!(size_column(1_125), "1.12kB");
        assert_eq!(size_column(2_500), "2.5kB");
        assert_eq!(size_column(u64::MAX), "18.4EB");
    }

    #[test]
    fn go_g_forms() {
        assert_eq!(go_g(0.0, 3), "0");
        assert_eq!(go_g(0.000_123_4, 3), "0.000123");
        assert_eq!(go_g(0.000_012_34, 3), "1.23e-05");
        assert_eq!(go_g(100.0, 3), "100");
        assert_eq!(go_g(10.5, 3), "10.5");
        assert_eq!(go_g(1234.0, 3), "1.23e+03");
    }
}
