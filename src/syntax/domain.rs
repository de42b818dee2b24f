//! The one domain-name validator of the crate: the plan's mail domain, MX
//! hosts and `cutover init --domain` all go through [`parse_domain`].
//!
//! Rules (RFC 1035 2.3.1 "preferred name syntax", RFC 1123 2.1, RFC 3696 2):
//! letters, digits and hyphens (LDH); no label starts or ends with a hyphen;
//! labels of 1 to 63 octets; at most 253 octets in all (without the final
//! dot); the top label is not all digits (so an IP address is not a domain);
//! and, since a mail domain is never a bare top-level domain, at least two
//! labels. Internationalised names are written in their `xn--` form.

use crate::sanitize::sanitize;

/// The longest domain name in text form, without the final dot (RFC 1035 3.1: 255 octets on the wire).
pub const MAX_NAME: usize = 253;
/// The longest label (RFC 1035 2.3.4).
pub const MAX_LABEL: usize = 63;

/// Why a text is not a domain name; every variant says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// Nothing was written.
    #[error("the name is empty")]
    Empty,
    /// Over 253 octets.
    #[error("the name is {0} characters long; a domain name has at most 253")]
    TooLong(usize),
    /// One label only: a mail domain has a dot.
    #[error("\"{0}\" has no dot; write the whole domain, e.g. example.com")]
    SingleLabel(String),
    /// Two dots in a row, or a dot at the start.
    #[error("the name has an empty label (two dots in a row, or a dot at the start)")]
    EmptyLabel,
    /// A label over 63 octets.
    #[error("the label \"{label}\" is {len} characters long; a label has at most 63")]
    LabelTooLong { label: String, len: usize },
    /// A character that is not a letter, digit or hyphen.
    #[error(
        "the label \"{label}\" contains {what}; only letters, digits and hyphens are allowed (internationalised names in their xn-- form)"
    )]
    BadCharacter { label: String, what: String },
    /// A label that starts or ends with a hyphen.
    #[error("the label \"{0}\" starts or ends with a hyphen")]
    HyphenAtEdge(String),
    /// The last label is all digits.
    #[error("the top label \"{0}\" is all digits; a domain name ends in a name such as com or org")]
    NumericTopLabel(String),
}

/// Validates a domain name and returns it normalised: lowercase, without the
/// final dot. The text is taken as written: surrounding spaces are an error
/// (callers trim what a person typed).
pub fn parse_domain(text: &str) -> Result<String, DomainError> {
    let name = text.strip_suffix('.').unwrap_or(text);
    if name.is_empty() {
        return Err(DomainError::Empty);
    }
    if name.len() > MAX_NAME {
        return Err(DomainError::TooLong(name.len()));
    }
    let labels: Vec<&str> = name.split('.').collect();
    for label in &labels {
        check_label(label)?;
    }
    if labels.len() < 2 {
        return Err(DomainError::SingleLabel(sanitize(name)));
    }
    let top = labels.last().copied().unwrap_or_default();
    if top.chars().all(|c| c.is_ascii_digit()) {
        return Err(DomainError::NumericTopLabel(top.to_string()));
    }
    Ok(name.to_ascii_lowercase())
}

/// Whether `text` is a domain name by [`parse_domain`]'s rules.
pub fn is_domain(text: &str) -> bool {
    parse_domain(text).is_ok()
}

fn check_label(label: &str) -> Result<(), DomainError> {
    if label.is_empty() {
        return Err(DomainError::EmptyLabel);
    }
    if let Some(bad) = label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(DomainError::BadCharacter {
            label: sanitize(label),
            what: describe_char(bad),
        });
    }
    if label.len() > MAX_LABEL {
        return Err(DomainError::LabelTooLong {
            label: label.to_string(),
            len: label.len(),
        });
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(DomainError::HyphenAtEdge(label.to_string()));
    }
    Ok(())
}

/// A character named so that a person can find it: `"_"`, `a space`, `U+00E9`.
pub fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_string(),
        '\t' => "a tab (\\t)".to_string(),
        '\r' => "a carriage return (\\r)".to_string(),
        '\n' => "a line feed (\\n)".to_string(),
        c if c.is_ascii_graphic() => format!("\"{c}\""),
        c => format!("U+{:04X}", c as u32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass_normalised() {
        assert_eq!(parse_domain("Example.COM."), Ok("example.com".into()));
        assert_eq!(
            parse_domain("mx1.old.example"),
            Ok("mx1.old.example".into())
        );
        assert_eq!(
            parse_domain("xn--bcher-kva.example"),
            Ok("xn--bcher-kva.example".into())
        );
        assert_eq!(parse_domain("3com.com"), Ok("3com.com".into()));
        assert_eq!(parse_domain("a-b.c-d"), Ok("a-b.c-d".into()));
    }

    #[test]
    fn each_rule_is_enforced() {
        assert_eq!(parse_domain(""), Err(DomainError::Empty));
        assert_eq!(parse_domain("."), Err(DomainError::Empty));
        assert_eq!(
            parse_domain("-x.com"),
            Err(DomainError::HyphenAtEdge("-x".into()))
        );
        assert_eq!(
            parse_domain("x-.com"),
            Err(DomainError::HyphenAtEdge("x-".into()))
        );
        assert_eq!(
            parse_domain("example.-com"),
            Err(DomainError::HyphenAtEdge("-com".into()))
        );
        assert_eq!(parse_domain("a..com"), Err(DomainError::EmptyLabel));
        assert_eq!(parse_domain(".a.com"), Err(DomainError::EmptyLabel));
        assert_eq!(
            parse_domain("localhost"),
            Err(DomainError::SingleLabel("localhost".into()))
        );
        assert_eq!(
            parse_domain("192.0.2.1"),
            Err(DomainError::NumericTopLabel("1".into()))
        );
        assert_eq!(
            parse_domain("abc.123"),
            Err(DomainError::NumericTopLabel("123".into()))
        );
        assert!(matches!(
            parse_domain("_spf.example.com"),
            Err(DomainError::BadCharacter { .. })
        ));
        assert!(matches!(
            parse_domain("exa mple.com"),
            Err(DomainError::BadCharacter { .. })
        ));
        assert!(matches!(
            parse_domain("bücher.example"),
            Err(DomainError::BadCharacter { .. })
        ));
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(matches!(
            parse_domain(&long_label),
            Err(DomainError::LabelTooLong { len: 64, .. })
        ));
        assert!(parse_domain(&format!("{}.com", "a".repeat(63))).is_ok());
        // 4 labels of 63 + 3 dots = 255 > 253.
        let long = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(63),
        ]
        .join(".");
        assert_eq!(parse_domain(&long), Err(DomainError::TooLong(255)));
        let just = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61),
        ]
        .join(".");
        assert_eq!(just.len(), 253);
        assert!(parse_domain(&just).is_ok());
    }

    #[test]
    fn messages_name_the_label_and_carry_no_control_character() {
        let e = parse_domain("a\u{1b}[2J.com").unwrap_err().to_string();
        assert!(e.contains("U+001B"), "{e}");
        assert!(!e.chars().any(char::is_control), "{e:?}");
        assert_eq!(
            parse_domain("-x.com").unwrap_err().to_string(),
            "the label \"-x\" starts or ends with a hyphen"
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_errors_are_printable(text in "\\PC{0,80}|[a-z0-9.-]{0,80}|[\\x00-\\x20a-z.\\x7f-\\u{a0}]{0,40}") {
            match parse_domain(&text) {
                Ok(d) => {
                    proptest::prop_assert!(d.len() <= MAX_NAME);
                    proptest::prop_assert_eq!(parse_domain(&d), Ok(d.clone()));
                }
                Err(e) => proptest::prop_assert!(!e.to_string().chars().any(char::is_control)),
            }
        }
    }
}
