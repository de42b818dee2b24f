//! DMARC policy records (RFC 7489 6.3, 6.4) checked tag by tag, the
//! authorisation of report addresses in other domains (7.1), and the
//! monitoring record to suggest when a domain has none. A migration should
//! not tighten the policy mid-way; none of this is ever a gate.

use crate::dns::dkim::{TagListError, parse_tag_list};
use crate::dns::query::{Answer, AnswerStatus};
use crate::sanitize::sanitize;
use crate::syntax::domain::parse_domain;

/// The record suggested when a domain publishes none (to fill in, as advice).
pub const MONITORING_RECORD: &str = "v=DMARC1; p=none; rua=mailto:<fill in>";

/// A DMARC policy record as receivers apply it, with what is wrong in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dmarc {
    /// `p=` as receivers apply it: none, quarantine or reject (lowercase).
    pub policy: String,
    pub subdomain_policy: Option<String>,
    pub pct: Option<u8>,
    /// `adkim=`, `aspf=`: `r` (relaxed) or `s` (strict).
    pub adkim: Option<char>,
    pub aspf: Option<char>,
    /// The valid `rua=` and `ruf=` URIs, as written.
    pub rua: Vec<ReportUri>,
    pub ruf: Vec<ReportUri>,
    pub fo: Option<String>,
    pub ri: Option<u32>,
    /// Values receivers reject or ignore (the record still applies).
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

/// One `mailto:` report address with its optional size limit (`!10m`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportUri {
    /// As written, e.g. `mailto:dmarc@example.com!10m`.
    pub uri: String,
    /// The address, e.g. `dmarc@example.com`.
    pub address: String,
    /// The address's domain, lowercase.
    pub domain: String,
}

/// Why receivers ignore the whole record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DmarcError {
    #[error("the record does not start with v=DMARC1")]
    NotDmarc,
    #[error("the record is not a tag list: {0}")]
    NotTagList(TagListError),
    #[error(
        "the record has no valid p= policy (none, quarantine, reject) right after v=DMARC1, nor a valid rua= to fall back on: receivers ignore it"
    )]
    NoPolicy,
}

/// Whether a TXT record is meant as a DMARC record.
pub fn is_dmarc(txt: &str) -> bool {
    txt.trim_start().starts_with("v=DMARC1")
}

const POLICIES: [&str; 3] = ["none", "quarantine", "reject"];

/// Parses a DMARC record; tag errors are collected in the result, the error
/// is for a record receivers ignore altogether.
pub fn parse_dmarc(record: &str) -> Result<Dmarc, DmarcError> {
    if !is_dmarc(record) {
        return Err(DmarcError::NotDmarc);
    }
    let tags = parse_tag_list(record).map_err(DmarcError::NotTagList)?;
    // DMARC's tag names are case-insensitive (RFC 7489 6.4's ABNF).
    let tags: Vec<(String, String)> = tags
        .into_iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v))
        .collect();
    if tags.first().is_none_or(|(n, v)| n != "v" || v != "DMARC1") {
        return Err(DmarcError::NotDmarc);
    }
    let mut d = Dmarc {
        policy: String::new(),
        subdomain_policy: None,
        pct: None,
        adkim: None,
        aspf: None,
        rua: vec![],
        ruf: vec![],
        fo: None,
        ri: None,
        errors: vec![],
        warnings: vec![],
    };
    for (name, value) in tags.iter().skip(1) {
        let shown = sanitize(value);
        match name.as_str() {
            "p" => {}
            "sp" => match policy(value) {
                Some(p) => d.subdomain_policy = Some(p),
                None => d.errors.push(format!(
                    "sp={shown} is not none, quarantine or reject: receivers apply p= to subdomains instead"
                )),
            },
            "pct" => match value.parse::<u8>() {
                Ok(n) if n <= 100 && value.chars().all(|c| c.is_ascii_digit()) => {
                    d.pct = Some(n)
                }
                _ => d.errors.push(format!(
                    "pct={shown} is not a whole number from 0 to 100: receivers apply the policy to all mail"
                )),
            },
            "adkim" | "aspf" => match value.as_str() {
                "r" | "s" => {
                    let mode = value.chars().next();
                    if name == "adkim" {
                        d.adkim = mode;
                    } else {
                        d.aspf = mode;
                    }
                }
                _ => d.errors.push(format!(
                    "{name}={shown} is not r (relaxed) or s (strict): receivers use r"
                )),
            },
            "rua" | "ruf" => {
                let (uris, problems, remarks) = report_uris(name, value);
                d.errors.extend(problems);
                d.warnings.extend(remarks);
                if name == "rua" {
                    d.rua = uris;
                } else {
                    d.ruf = uris;
                }
            }
            "fo" => {
                let ok = value
                    .split(':')
                    .all(|o| matches!(o.trim(), "0" | "1" | "d" | "s"));
                if ok {
                    d.fo = Some(value.clone());
                } else {
                    d.errors.push(format!(
                        "fo={shown} is not a colon-separated list of 0, 1, d and s: receivers use 0"
                    ));
                }
            }
            "ri" => match value.parse::<u32>() {
                Ok(n) if value.chars().all(|c| c.is_ascii_digit()) => d.ri = Some(n),
                _ => d.errors.push(format!(
                    "ri={shown} is not a whole number of seconds: receivers send daily reports"
                )),
            },
            "rf" => {
                if !value.split(':').any(|f| f.trim().eq_ignore_ascii_case("afrf")) {
                    d.errors.push(format!(
                        "rf={shown} names no report format receivers know (afrf)"
                    ));
                }
            }
            "v" => d.errors.push("v= appears again after the first tag".into()),
            other => d.warnings.push(format!(
                "{}= is not a DMARC tag: receivers ignore it",
                sanitize(other)
            )),
        }
    }
    match tags.iter().position(|(n, _)| n == "p") {
        Some(at) => {
            let value = &tags[at].1;
            match policy(value) {
                Some(p) => d.policy = p,
                None => d.errors.push(format!(
                    "p={} is not none, quarantine or reject",
                    sanitize(value)
                )),
            }
            // Most receivers read it anywhere, but the grammar puts it second.
            if at != 1 {
                d.errors
                    .push("p= must come right after v=DMARC1 (RFC 7489 6.3)".into());
            }
        }
        None => d.errors.push("the record has no p= policy".into()),
    }
    if d.policy.is_empty() {
        // RFC 7489 6.6.3: without a valid p=, a valid rua= makes it p=none.
        if d.rua.is_empty() {
            return Err(DmarcError::NoPolicy);
        }
        d.policy = "none".into();
        d.warnings
            .push("without a valid p=, receivers act as if p=none (RFC 7489 6.6.3)".into());
    }
    Ok(d)
}

fn policy(value: &str) -> Option<String> {
    let lower = value.trim().to_ascii_lowercase();
    POLICIES.contains(&lower.as_str()).then_some(lower)
}

/// `dmarc-uri *( "," dmarc-uri )`, `dmarc-uri = URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]`.
fn report_uris(tag: &str, value: &str) -> (Vec<ReportUri>, Vec<String>, Vec<String>) {
    let (mut uris, mut errors, mut warnings) = (vec![], vec![], vec![]);
    for raw in value.split(',') {
        let uri = raw.trim();
        let shown = sanitize(uri);
        let (target, size) = match uri.rsplit_once('!') {
            Some((t, s)) => (t, Some(s)),
            None => (uri, None),
        };
        if let Some(size) = size {
            let digits = size.trim_end_matches(['k', 'm', 'g', 't', 'K', 'M', 'G', 'T']);
            let unit_len = size.len() - digits.len();
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) || unit_len > 1 {
                errors.push(format!(
                    "{tag}= \"{shown}\": the size limit after ! is digits and an optional k, m, g or t (e.g. !10m)"
                ));
                continue;
            }
        }
        let Some((scheme, rest)) = target.split_once(':') else {
            errors.push(format!(
                "{tag}= \"{shown}\" is not a URI: write mailto:address"
            ));
            continue;
        };
        if !scheme.eq_ignore_ascii_case("mailto") {
            warnings.push(format!(
                "{tag}= \"{shown}\": receivers send reports to mailto: addresses only"
            ));
            continue;
        }
        let address = rest.split('?').next().unwrap_or(rest);
        let domain = address
            .rsplit_once('@')
            .filter(|(local, _)| !local.is_empty() && !local.contains(char::is_whitespace))
            .and_then(|(_, d)| parse_domain(d).ok());
        match domain {
            Some(domain) => uris.push(ReportUri {
                uri: uri.to_string(),
                address: address.to_string(),
                domain,
            }),
            None => errors.push(format!(
                "{tag}= \"{shown}\" is not mailto:local@domain (a comma inside an address is written %2C)"
            )),
        }
    }
    (uris, errors, warnings)
}

/// A report address in another domain, and the TXT name that authorises it
/// (RFC 7489 7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalReport {
    pub address: String,
    pub their_domain: String,
    /// `<your-domain>._report._dmarc.<their-domain>`
    pub query: String,
}

/// For each `rua`/`ruf` address outside `domain`, the name to query.
/// "Outside" is judged without the public suffix list: the address's domain
/// is neither `domain`, nor one of its subdomains, nor one of its parents.
pub fn external_reports(domain: &str, dmarc: &Dmarc) -> Vec<ExternalReport> {
    let ours = domain.trim_end_matches('.').to_ascii_lowercase();
    let related = |theirs: &str| {
        theirs == ours
            || theirs.ends_with(&format!(".{ours}"))
            || ours.ends_with(&format!(".{theirs}"))
    };
    let mut out: Vec<ExternalReport> = Vec::new();
    for uri in dmarc.rua.iter().chain(&dmarc.ruf) {
        if related(&uri.domain) || out.iter().any(|r| r.their_domain == uri.domain) {
            continue;
        }
        out.push(ExternalReport {
            address: uri.address.clone(),
            their_domain: uri.domain.clone(),
            query: format!("{ours}._report._dmarc.{}", uri.domain),
        });
    }
    out
}

/// What the authorisation lookup said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorisation {
    /// A `v=DMARC1` record is there: receivers send the reports.
    Given,
    /// No such record: receivers do not send reports there (a warning).
    Missing,
    /// No definite answer: unknown.
    Unknown,
}

/// Judges the answer to an [`ExternalReport`]'s query, with the sentence to
/// show. Never a gate: reports are a help, not a condition of delivery.
pub fn judge_authorisation(
    domain: &str,
    report: &ExternalReport,
    answer: Option<&Answer>,
) -> (Authorisation, String) {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    match answer {
        Some(a) if a.status == AnswerStatus::Ok && a.records.iter().any(|r| is_dmarc(r)) => (
            Authorisation::Given,
            format!(
                "{} accepts DMARC reports for {domain} ({} is published).",
                report.their_domain, report.query
            ),
        ),
        Some(a) if a.status.is_definite() => (
            Authorisation::Missing,
            format!(
                "DMARC reports for {domain} go to {}, but {} has not authorised them: receivers will not send them until {} publishes TXT \"v=DMARC1\" at {} (RFC 7489 7.1).",
                sanitize(&report.address),
                report.their_domain,
                report.their_domain,
                report.query
            ),
        ),
        _ => (
            Authorisation::Unknown,
            format!(
                "Not known whether {} accepts DMARC reports for {domain}: {} was not answered.",
                report.their_domain, report.query
            ),
        ),
    }
}

/// The advice when `domain` publishes no DMARC record: a monitoring one.
pub fn monitoring_advice(domain: &str) -> String {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    format!(
        "{domain} publishes no DMARC record. To see who sends mail as {domain} during the migration, publish a monitoring one, which changes nothing for delivery: _dmarc.{domain} TXT \"{MONITORING_RECORD}\" (fill in an address that collects the reports)."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(record: &str) -> Vec<String> {
        parse_dmarc(record)
            .map(|d| d.errors)
            .unwrap_or_else(|e| vec![e.to_string()])
    }

    fn assert_error(record: &str, says: &str) {
        let errors = errors_of(record);
        assert!(
            errors.iter().any(|e| e.contains(says)),
            "{says:?} not in {errors:#?} for {record:?}"
        );
    }

    #[test]
    fn a_full_record_is_read() {
        let d = parse_dmarc(
            "v=DMARC1; p=quarantine; sp=reject; pct=50; adkim=s; aspf=r; rua=mailto:d@example.com,mailto:x@reports.example.net!10m; ruf=mailto:f@example.com; fo=0:1:d:s; ri=86400; rf=afrf",
        )
        .unwrap();
        assert_eq!(d.errors, Vec::<String>::new());
        assert_eq!(d.policy, "quarantine");
        assert_eq!(d.subdomain_policy.as_deref(), Some("reject"));
        assert_eq!(
            (d.pct, d.adkim, d.aspf, d.ri),
            (Some(50), Some('s'), Some('r'), Some(86400))
        );
        assert_eq!(d.rua.len(), 2);
        assert_eq!(d.rua[1].address, "x@reports.example.net");
        assert_eq!(d.rua[1].domain, "reports.example.net");
        assert_eq!(d.policy, "quarantine");
        assert_eq!(parse_dmarc("v=DMARC1; p=reject").unwrap().policy, "reject");
        assert_eq!(parse_dmarc("v=DMARC1; P=None").unwrap().policy, "none");
    }

    #[test]
    fn each_tag_s_bad_values() {
        assert_eq!(parse_dmarc("v=spf1 -all"), Err(DmarcError::NotDmarc));
        assert_eq!(parse_dmarc("v=DMARC1; p=bogus"), Err(DmarcError::NoPolicy));
        assert_eq!(parse_dmarc("v=DMARC1"), Err(DmarcError::NoPolicy));
        assert_eq!(parse_dmarc("v=DMARC1x; p=none"), Err(DmarcError::NotDmarc));
        assert!(matches!(
            parse_dmarc("v=DMARC1; p=none; p=reject"),
            Err(DmarcError::NotTagList(_))
        ));
        assert_error(
            "v=DMARC1; sp=none; p=reject",
            "p= must come right after v=DMARC1",
        );
        assert_error(
            "v=DMARC1; p=none; sp=all",
            "sp=all is not none, quarantine or reject",
        );
        assert_error(
            "v=DMARC1; p=none; pct=101",
            "pct=101 is not a whole number from 0 to 100",
        );
        assert_error("v=DMARC1; p=none; pct=-1", "pct=-1");
        assert_error("v=DMARC1; p=none; pct=50%", "pct=50%");
        assert_error(
            "v=DMARC1; p=none; adkim=relaxed",
            "adkim=relaxed is not r (relaxed) or s (strict)",
        );
        assert_error("v=DMARC1; p=none; aspf=x", "aspf=x is not r");
        assert_error(
            "v=DMARC1; p=none; rua=d@example.com",
            "is not a URI: write mailto:address",
        );
        assert_error(
            "v=DMARC1; p=none; rua=mailto:example.com",
            "is not mailto:local@domain",
        );
        assert_error(
            "v=DMARC1; p=none; rua=mailto:d@example.com!10x",
            "the size limit after !",
        );
        assert_error(
            "v=DMARC1; p=none; rua=mailto:d@example.com!m",
            "the size limit after !",
        );
        assert_error(
            "v=DMARC1; p=none; ruf=mailto:d@-bad.example",
            "ruf= \"mailto:d@-bad.example\" is not mailto:local@domain",
        );
        assert_error(
            "v=DMARC1; p=none; fo=2",
            "fo=2 is not a colon-separated list",
        );
        assert_error("v=DMARC1; p=none; fo=0:x", "fo=0:x");
        assert_error(
            "v=DMARC1; p=none; ri=1d",
            "ri=1d is not a whole number of seconds",
        );
        assert_error(
            "v=DMARC1; p=none; rf=iodef",
            "rf=iodef names no report format",
        );
        let d = parse_dmarc("v=DMARC1; p=none; rua=https://example.com/r; foo=bar").unwrap();
        assert_eq!(d.warnings.len(), 2, "{d:#?}");
        // No valid p=, but a valid rua=: receivers act as p=none (RFC 7489 6.6.3).
        let d = parse_dmarc("v=DMARC1; p=maybe; rua=mailto:d@example.com").unwrap();
        assert_eq!(d.policy, "none");
        assert!(d.errors[0].contains("p=maybe"));
    }

    #[test]
    fn reports_to_other_domains_need_their_authorisation() {
        let d = parse_dmarc(
            "v=DMARC1; p=none; rua=mailto:d@example.com,mailto:a@mail.example.com,mailto:x@dmarc.vendor.example; ruf=mailto:y@dmarc.vendor.example",
        )
        .unwrap();
        let external = external_reports("Example.com.", &d);
        assert_eq!(
            external,
            vec![ExternalReport {
                address: "x@dmarc.vendor.example".into(),
                their_domain: "dmarc.vendor.example".into(),
                query: "example.com._report._dmarc.dmarc.vendor.example".into(),
            }]
        );
        let answer = |status: AnswerStatus, records: &[&str]| Answer {
            name: format!("{}.", external[0].query),
            rtype: crate::dns::Rtype::TXT,
            status,
            ttl: 300,
            records: records.iter().map(|r| r.to_string()).collect(),
            measured_at: jiff::Timestamp::UNIX_EPOCH,
            latency_ms: 1,
            tcp: false,
            detail: None,
        };
        let (given, _) = judge_authorisation(
            "example.com",
            &external[0],
            Some(&answer(AnswerStatus::Ok, &["v=DMARC1"])),
        );
        assert_eq!(given, Authorisation::Given);
        let (missing, text) = judge_authorisation(
            "example.com",
            &external[0],
            Some(&answer(AnswerStatus::Nxdomain, &[])),
        );
        assert_eq!(missing, Authorisation::Missing);
        assert!(
            text.contains(
                "publishes TXT \"v=DMARC1\" at example.com._report._dmarc.dmarc.vendor.example"
            ),
            "{text}"
        );
        let (unknown, _) = judge_authorisation(
            "example.com",
            &external[0],
            Some(&answer(AnswerStatus::Timeout, &[])),
        );
        assert_eq!(unknown, Authorisation::Unknown);
        assert_eq!(
            judge_authorisation("example.com", &external[0], None).0,
            Authorisation::Unknown
        );
    }

    #[test]
    fn a_monitoring_record_is_suggested() {
        let text = monitoring_advice("Example.com.");
        assert!(
            text.contains("_dmarc.example.com TXT \"v=DMARC1; p=none; rua=mailto:<fill in>\""),
            "{text}"
        );
    }

    proptest::proptest! {
        #[test]
        fn nothing_panics_and_messages_are_printable(
            text in "\\PC{0,300}|v=DMARC1;( ?[a-z]{1,5}=[a-zA-Z0-9@.:!,%\\x00-\\x1f -]{0,30};?){0,8}",
        ) {
            match parse_dmarc(&text) {
                Ok(d) => {
                    for e in d.errors.iter().chain(&d.warnings) {
                        proptest::prop_assert!(!e.chars().any(char::is_control), "{e:?}");
                    }
                    proptest::prop_assert!(POLICIES.contains(&d.policy.as_str()));
                    for r in external_reports("example.com", &d) {
                        let (_, text) = judge_authorisation("example.com", &r, None);
                        proptest::prop_assert!(!text.chars().any(char::is_control));
                    }
                }
                Err(e) => proptest::prop_assert!(!e.to_string().chars().any(char::is_control)),
            }
        }
    }
}
