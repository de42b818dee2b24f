//! `cutover init`: a complete, commented plan for a domain, which passes `cutover check` as written.

use jiff::Timestamp;
use jiff::civil::Weekday;

const TEMPLATE: &str = include_str!("../../assets/plan-template.toml");

/// The plan for `domain`, starting next Monday at 09:00 in the system's time zone.
pub fn render(domain: &str, now: Timestamp) -> Result<String, String> {
    let d = match crate::syntax::domain::parse_domain(domain.trim()) {
        Ok(d) => d,
        Err(why) => {
            return Err(format!(
                "`{}` is not a domain name: {why} — write the mail domain, e.g. --domain example.com",
                crate::sanitize::sanitize(domain)
            ));
        }
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_domain_is_checked_as_the_plan_loader_checks_it() {
        let now = Timestamp::UNIX_EPOCH;
        let e = render("-x.com", now).unwrap_err();
        assert!(e.contains("starts or ends with a hyphen"), "{e}");
        assert!(render("abc.123", now).is_err());
        assert!(render("localhost", now).is_err());
        let plan = render(" Example.COM. ", now).unwrap();
        assert!(plan.contains("example.com"), "{plan}");
    }
}
