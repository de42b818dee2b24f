//! Durations, parsed and written one way everywhere: "23 h 27 min", "5 min", "40 s".
//!
//! Every screen, status line, evidence string and report writes a duration
//! through [`duration`], so one wait never reads as "77968 s" in one place and
//! "1435 min" in another.

use std::time::Duration;

use jiff::SignedDuration;

/// "5m", "24h", "1h30m", "2d", "90s" (what a person writes in the plan).
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let span: jiff::Span = text.trim().parse().ok()?;
    let secs = span
        .total((
            jiff::Unit::Second,
            jiff::SpanRelativeTo::days_are_24_hours(),
        ))
        .ok()?;
    (secs >= 0.0 && secs.is_finite()).then(|| Duration::from_secs_f64(secs))
}

/// A size as a plan or a provider writes it: "2500MB", "2.5 GB", "500 MiB", "1048576" (bytes).
/// KB, MB, GB, TB are powers of 1000 (as providers publish them); KiB … TiB powers of 1024.
pub(crate) fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.replace('_', "").parse().ok()?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let bytes = (number * factor).round();
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// A size in its largest decimal unit, one decimal below 10: "2.5 GB", "500 MB", "12 KB", "999 B".
pub fn bytes(n: u64) -> String {
    let units = [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "KB")];
    for (size, unit) in units {
        let v = n as f64 / size;
        if v >= 1.0 {
            let shown = if v < 10.0 && (v * 10.0).round() % 10.0 != 0.0 {
                format!("{:.1}", v)
            } else {
                format!("{:.0}", v)
            };
            return format!("{shown} {unit}");
        }
    }
    format!("{n} B")
}

/// A length of time in its two largest units, the smaller left out when zero:
/// "23 h 27 min", "24 h", "5 min", "5 min 40 s", "40 s"; from two days on,
/// "3 d 4 h". Seconds are dropped once there are hours: nobody waits on them then.
pub fn duration_secs(secs: u64) -> String {
    if secs >= 2 * 86_400 {
        let (d, h) = (secs / 86_400, (secs % 86_400) / 3600);
        return if h == 0 {
            format!("{d} d")
        } else {
            format!("{d} d {h} h")
        };
    }
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, 0, _) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

/// [`duration_secs`] for a TTL or another count of seconds as DNS writes them.
pub fn ttl(secs: u32) -> String {
    duration_secs(u64::from(secs))
}

/// [`ttl`] in the fewest characters, for a narrow table: "5m", "24h", "23h27m", "40s", "3d4h".
pub fn ttl_short(secs: u32) -> String {
    ttl(secs).replace(" min", "m").replace(' ', "")
}

/// [`duration_secs`] for a signed span; a negative one reads as "0 s".
pub fn duration(d: SignedDuration) -> String {
    duration_secs(u64::try_from(d.as_secs()).unwrap_or(0))
}

/// "1 mailbox", "3 mailboxes": a count with its noun in agreement.
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "all 3 mailboxes", "the one mailbox": every one of `n` things.
pub fn all(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("the one {one}")
    } else {
        format!("all {n} {many}")
    }
}

/// "in 23 h 27 min": time left until something happens.
pub fn countdown(d: SignedDuration) -> String {
    format!("in {}", duration(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(count(1, "mailbox", "mailboxes"), "1 mailbox");
        assert_eq!(count(0, "mailbox", "mailboxes"), "0 mailboxes");
        assert_eq!(count(2, "DNS lookup", "DNS lookups"), "2 DNS lookups");
        assert_eq!(all(1, "mailbox", "mailboxes"), "the one mailbox");
        assert_eq!(all(3, "mailbox", "mailboxes"), "all 3 mailboxes");
    }

    #[test]
    fn durations_as_humans_write_them() {
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("24h"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("2d"), Some(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("five"), None);
    }

    #[test]
    fn one_way_of_writing_a_duration() {
        assert_eq!(duration_secs(84_420), "23 h 27 min");
        assert_eq!(duration_secs(86_400), "24 h");
        assert_eq!(duration_secs(300), "5 min");
        assert_eq!(duration_secs(340), "5 min 40 s");
        assert_eq!(duration_secs(40), "40 s");
        assert_eq!(duration_secs(0), "0 s");
        assert_eq!(ttl_short(84_420), "23h27m");
        assert_eq!(ttl_short(300), "5m");
        assert_eq!(ttl_short(340), "5m40s");
        assert_eq!(ttl_short(200_000), "2d7h");
        assert_eq!(duration_secs(77_968), "21 h 39 min");
        assert_eq!(duration_secs(47 * 3600 + 59 * 60), "47 h 59 min");
        assert_eq!(duration_secs(2 * 86_400), "2 d");
        assert_eq!(duration_secs(272 * 86_400 + 10 * 3600 + 360), "272 d 10 h");
        assert_eq!(duration(SignedDuration::from_secs(-5)), "0 s");
        assert_eq!(countdown(SignedDuration::from_mins(90)), "in 1 h 30 min");
    }

    #[test]
    fn sizes_as_providers_write_them() {
        assert_eq!(parse_bytes("2500MB"), Some(2_500_000_000));
        assert_eq!(parse_bytes("2.5GB"), Some(2_500_000_000));
        assert_eq!(parse_bytes(" 500 MB "), Some(500_000_000));
        assert_eq!(parse_bytes("1 MiB"), Some(1_048_576));
        assert_eq!(parse_bytes("4096"), Some(4096));
        assert_eq!(parse_bytes("2.5 GiG"), None);
        assert_eq!(parse_bytes("MB"), None);
        assert_eq!(parse_bytes("-1GB"), None);
        assert_eq!(bytes(2_500_000_000), "2.5 GB");
        assert_eq!(bytes(500_000_000), "500 MB");
        assert_eq!(bytes(7_000_000_000), "7 GB");
        assert_eq!(bytes(999), "999 B");
    }
}
