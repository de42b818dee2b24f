//! `cutover init`: a complete, commented plan for a domain, which passes `cutover check` as written.

use jiff::Timestamp;
use jiff::civil::Weekday;

const TEMPLATE: &str = include_str!("../../assets/plan-template.toml");

/// The plan for `domain`, starting next Monday at 09:00 in the system's time zone.
pub fn render(domain: &str, now: Timestamp) -> Result<String, String> {
    let d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let valid = d.contains('.')
        && d.split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if !valid {
        return Err(format!(
            "`{}` is not a domain name — write the mail domain, e.g. --domain example.com",
            crate::sanitize::sanitize(domain)
        ));
    }
    let tz = jiff::tz::TimeZone::system();
    let tz_name = tz.iana_name().unwrap_or("UTC").to_string();
    let today = now.to_zoned_datetime(tz).date();
    let mut start = today.tomorrow().unwrap_or(today);
    while start.weekday() != Weekday::Monday {
        start = start.tomorrow().unwrap_or(start);
    }
    Ok(fill(&d, &format!("{start}T09:00"), &tz_name))
}

/// The template with its three values filled; other `{…}` stay as written.
pub fn fill(domain: &str, start: &str, timezone: &str) -> String {
    TEMPLATE
        .replace("{domain}", domain)
        .replace("{start}", start)
        .replace("{timezone}", timezone)
}
