//! The one parser of an MX record's text as the plan writes it and DNS
//! serves it: `preference host`, e.g. `10 mx1.old.example.` (RFC 1035 3.3.9),
//! including the "null MX" `0 .` of a domain that takes no mail (RFC 7505).

use crate::sanitize::sanitize;
use crate::syntax::domain::{DomainError, parse_domain};

/// One MX record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mx {
    pub preference: u16,
    /// Lowercase, without the final dot; empty for the null MX (`.`).
    pub host: String,
}

impl Mx {
    /// The "null MX" (`0 .`, RFC 7505): the domain accepts no mail.
    pub fn is_null(&self) -> bool {
        self.host.is_empty()
    }

    /// The host with its final dot, as a zone file writes it (`.` for the null MX).
    pub fn host_fqdn(&self) -> String {
        format!("{}.", self.host)
    }
}

/// Why a text is not an MX record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MxError {
    #[error("the record is empty; write the preference and the host, e.g. 10 mx1.example.net.")]
    Empty,
    #[error("\"{0}\" is not a preference (a whole number from 0 to 65535) followed by a host")]
    BadPreference(String),
    #[error("the preference {0} has no host after it")]
    NoHost(u16),
    #[error("\"{0}\" follows the host; an MX record is just a preference and a host")]
    TrailingText(String),
    #[error("the host \"{host}\" is not a host name: {why}")]
    BadHost { host: String, why: DomainError },
}

/// Parses `preference host` (any whitespace between; the host's case and
/// final dot do not matter).
pub fn parse_mx(text: &str) -> Result<Mx, MxError> {
    let mut parts = text.split_whitespace();
    let first = parts.next().ok_or(MxError::Empty)?;
    let preference: u16 = match first.parse() {
        Ok(p) if first.chars().all(|c| c.is_ascii_digit()) => p,
        _ => return Err(MxError::BadPreference(sanitize(first))),
    };
    let host = parts.next().ok_or(MxError::NoHost(preference))?;
    let rest: Vec<&str> = parts.collect();
    if !rest.is_empty() {
        return Err(MxError::TrailingText(sanitize(&rest.join(" "))));
    }
    if host == "." {
        return Ok(Mx {
            preference,
            host: String::new(),
        });
    }
    match parse_domain(host) {
        Ok(host) => Ok(Mx { preference, host }),
        Err(why) => Err(MxError::BadHost {
            host: sanitize(host),
            why,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_as_written_and_as_served() {
        assert_eq!(
            parse_mx("10 MX1.Old.Example."),
            Ok(Mx {
                preference: 10,
                host: "mx1.old.example".into()
            })
        );
        assert_eq!(
            parse_mx("  5\tsmtp.new.example  ").map(|m| m.host_fqdn()),
            Ok("smtp.new.example.".into())
        );
        let null = parse_mx("0 .").unwrap();
        assert!(null.is_null());
        assert_eq!(null.host_fqdn(), ".");
    }

    #[test]
    fn malformed_records_say_what_is_wrong() {
        assert_eq!(parse_mx(""), Err(MxError::Empty));
        assert_eq!(
            parse_mx("mx1.old.example"),
            Err(MxError::BadPreference("mx1.old.example".into()))
        );
        assert_eq!(
            parse_mx("+10 mx.example"),
            Err(MxError::BadPreference("+10".into()))
        );
        assert_eq!(
            parse_mx("70000 mx.example"),
            Err(MxError::BadPreference("70000".into()))
        );
        assert_eq!(parse_mx("10"), Err(MxError::NoHost(10)));
        assert_eq!(
            parse_mx("10 mx.example extra"),
            Err(MxError::TrailingText("extra".into()))
        );
        assert!(matches!(
            parse_mx("10 -mx.example"),
            Err(MxError::BadHost { .. })
        ));
        assert!(matches!(
            parse_mx("10 192.0.2.1"),
            Err(MxError::BadHost { .. })
        ));
        assert!(matches!(
            parse_mx("10 mx_1.example"),
            Err(MxError::BadHost { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_errors_are_printable(text in "\\PC{0,60}|[0-9]{1,6}[ \\t\\r\\n\\x1b][a-zA-Z0-9._\\x00-\\x1f-]{0,30}") {
            if let Err(e) = parse_mx(&text) {
                proptest::prop_assert!(!e.to_string().chars().any(char::is_control), "{e:?}");
            }
        }
    }
}
