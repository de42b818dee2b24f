//! `Authentication-Results` header fields (RFC 8601) read back: who wrote one
//! (authserv-id), and each method's result with its reason, properties and comments.
//!
//! Written for the headers real receivers add, quirks included: Microsoft writes no
//! authserv-id (`spf=pass (sender IP is …) smtp.mailfrom=…`) and bare properties
//! (`action=none`, `compauth=pass reason=100`); Fastmail's authserv-id is per host
//! (`mx3.messagingengine.com`) and some of its properties carry no `ptype.` either
//! (`score=-100`); every receiver folds long fields over several lines; comments nest.
//!
//! A message may carry many such fields, some written by the sender itself: only the
//! topmost one written by the receiver is believed ([`receiver_verdict`]).

use serde::Serialize;

/// One parsed `Authentication-Results` field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthenticationResults {
    /// The receiving server that wrote it; `None` when it names none (Microsoft).
    pub authserv_id: Option<String>,
    /// The `authres-version` after the authserv-id (only `1` is defined).
    pub version: Option<u32>,
    /// One entry per `resinfo`; empty for `authserv-id; none`.
    pub results: Vec<MethodResult>,
}

/// One method's verdict: `dkim=pass (comment) header.d=example.com`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MethodResult {
    /// Lower case: `dkim`, `spf`, `dmarc`, `arc`, `iprev`, `compauth`, `x-…`.
    pub method: String,
    /// `dkim/1=pass`: the method's version.
    pub method_version: Option<u32>,
    /// Lower case: `pass`, `fail`, `softfail`, `none`, `neutral`, `temperror`, `permerror`, …
    pub result: String,
    /// `reason=` (quotes removed).
    pub reason: Option<String>,
    /// `ptype.property=value` in order; a bare `name=value` has an empty `ptype`.
    pub properties: Vec<Property>,
    /// Every comment's text (outer parentheses removed, nested ones kept), in order.
    pub comments: Vec<String>,
}

/// `header.d=example.com`: ptype `header`, property `d`, value `example.com`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Property {
    pub ptype: String,
    pub property: String,
    pub value: String,
}

impl MethodResult {
    /// The value of `ptype.property` (case-insensitive names), the first if repeated.
    pub fn property(&self, ptype: &str, property: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|p| {
                p.ptype.eq_ignore_ascii_case(ptype) && p.property.eq_ignore_ascii_case(property)
            })
            .map(|p| p.value.as_str())
    }
}

impl AuthenticationResults {
    /// Every result of `method` (there is one per DKIM signature), in order.
    pub fn method<'a>(&'a self, method: &'a str) -> impl Iterator<Item = &'a MethodResult> + 'a {
        self.results
            .iter()
            .filter(move |r| r.method.eq_ignore_ascii_case(method))
    }
}

/// Why a field could not be read: what was expected, at which character.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Authentication-Results: {expected} expected at character {at}")]
pub struct ParseError {
    pub at: usize,
    pub expected: &'static str,
}

/// Parses the value of one `Authentication-Results` field (after the colon; folded or not).
pub fn parse(value: &str) -> Result<AuthenticationResults, ParseError> {
    let mut p = Parser::new(value);
    let (authserv_id, version) = p.head()?;
    let mut comments = Vec::new();
    let mut results = Vec::new();
    let mut first = true;
    loop {
        p.skip_cfws(&mut comments)?;
        if p.peek().is_none() {
            break;
        }
        // Between resinfos a `;`; before the first only when there is an authserv-id.
        if p.peek() == Some(';') {
            p.at += 1;
            p.skip_cfws(&mut comments)?;
        } else if !(first && authserv_id.is_none()) {
            return Err(p.error("`;`"));
        }
        first = false;
        if p.peek().is_none() {
            // A trailing `;` (Microsoft ends some fields with one).
            break;
        }
        let method = p.keyword().ok_or_else(|| p.error("a method name"))?;
        let mut own_comments = std::mem::take(&mut comments);
        p.skip_cfws(&mut own_comments)?;
        if method.eq_ignore_ascii_case("none") && matches!(p.peek(), None | Some(';')) {
            // `authserv-id; none`: nothing was evaluated.
            continue;
        }
        let mut method_version = None;
        if p.peek() == Some('/') {
            p.at += 1;
            p.skip_cfws(&mut own_comments)?;
            method_version = Some(p.digits().ok_or_else(|| p.error("a method version"))?);
            p.skip_cfws(&mut own_comments)?;
        }
        p.expect('=', "`=` after the method")?;
        p.skip_cfws(&mut own_comments)?;
        let result = p.keyword().ok_or_else(|| p.error("a result"))?;
        let mut entry = MethodResult {
            method: method.to_ascii_lowercase(),
            method_version,
            result: result.to_ascii_lowercase(),
            reason: None,
            properties: Vec::new(),
            comments: own_comments,
        };
        // reason= and the properties, until the next `;`.
        loop {
            p.skip_cfws(&mut entry.comments)?;
            if matches!(p.peek(), None | Some(';')) {
                break;
            }
            let name = p.keyword().ok_or_else(|| p.error("a property"))?;
            p.skip_cfws(&mut entry.comments)?;
            p.expect('=', "`=` after a property name")?;
            p.skip_cfws(&mut entry.comments)?;
            let value = p.property_value()?;
            if name.eq_ignore_ascii_case("reason") {
                entry.reason = Some(value);
            } else {
                let (ptype, property) = name.split_once('.').unwrap_or(("", name.as_str()));
                entry.properties.push(Property {
                    ptype: ptype.to_ascii_lowercase(),
                    property: property.to_string(),
                    value,
                });
            }
        }
        results.push(entry);
    }
    Ok(AuthenticationResults {
        authserv_id,
        version,
        results,
    })
}

/// Whether `id` matches `pattern`: case-insensitive, `*` for any run of characters
/// (`*.messagingengine.com`, `mx*.messagingengine.com`).
pub fn authserv_id_matches(pattern: &str, id: &str) -> bool {
    fn glob(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
            Some((c, rest)) => s
                .split_first()
                .is_some_and(|(d, s_rest)| c.eq_ignore_ascii_case(d) && glob(rest, s_rest)),
        }
    }
    glob(pattern.as_bytes(), id.as_bytes())
}

/// The receiver's own verdict: of the fields in message order (topmost first), the first
/// written by the receiver: its authserv-id matches `authserv_id`, or, with `None`
/// (Outlook.com), it names none. Fields lower down were added before the receiver got
/// the message (a sender can write any it likes): never believed, even when the
/// receiver's own field cannot be read (that is the error returned).
pub fn receiver_verdict<'a>(
    fields: impl IntoIterator<Item = &'a str>,
    authserv_id: Option<&str>,
) -> Option<Result<AuthenticationResults, ParseError>> {
    fields.into_iter().find_map(|field| {
        // A field whose very beginning cannot be read names no one: not the receiver's.
        let (id, _) = Parser::new(field).head().ok()?;
        let receivers = match (authserv_id, id.as_deref()) {
            (Some(pattern), Some(id)) => authserv_id_matches(pattern, id),
            (None, None) => true,
            _ => false,
        };
        receivers.then(|| parse(field))
    })
}

struct Parser {
    chars: Vec<char>,
    at: usize,
}

impl Parser {
    fn new(text: &str) -> Parser {
        Parser {
            chars: text.chars().collect(),
            at: 0,
        }
    }

    /// The authserv-id and version, if any. An authserv-id is a value not followed by
    /// `=`: Microsoft's fields begin with a resinfo instead.
    fn head(&mut self) -> Result<(Option<String>, Option<u32>), ParseError> {
        let mut ignored = Vec::new();
        self.skip_cfws(&mut ignored)?;
        let checkpoint = self.at;
        let Some(word) = self.value()? else {
            return Ok((None, None));
        };
        self.skip_cfws(&mut ignored)?;
        if matches!(self.peek(), Some('=' | '/')) {
            self.at = checkpoint;
            return Ok((None, None));
        }
        let version = self.digits();
        Ok((Some(word), version))
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn error(&self, expected: &'static str) -> ParseError {
        ParseError {
            at: self.at,
            expected,
        }
    }

    fn expect(&mut self, c: char, expected: &'static str) -> Result<(), ParseError> {
        if self.peek() == Some(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(expected))
        }
    }

    /// Folding whitespace and comments; each comment's text is pushed to `comments`.
    fn skip_cfws(&mut self, comments: &mut Vec<String>) -> Result<(), ParseError> {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => self.at += 1,
                Some('(') => {
                    let text = self.comment()?;
                    comments.push(text);
                }
                _ => return Ok(()),
            }
        }
    }

    /// A comment with nested comments and quoted pairs; returns its inner text.
    fn comment(&mut self) -> Result<String, ParseError> {
        let start = self.at;
        self.at += 1;
        let mut depth = 1;
        let mut text = String::new();
        while let Some(c) = self.peek() {
            self.at += 1;
            match c {
                '\\' => {
                    if let Some(next) = self.peek() {
                        text.push(next);
                        self.at += 1;
                    }
                }
                '(' => {
                    depth += 1;
                    text.push(c);
                }
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(collapse_whitespace(&text));
                    }
                    text.push(c);
                }
                _ => text.push(c),
            }
        }
        Err(ParseError {
            at: start,
            expected: "`)` closing the comment",
        })
    }

    fn quoted(&mut self) -> Result<String, ParseError> {
        let start = self.at;
        self.at += 1;
        let mut text = String::new();
        while let Some(c) = self.peek() {
            self.at += 1;
            match c {
                '\\' => {
                    if let Some(next) = self.peek() {
                        text.push(next);
                        self.at += 1;
                    }
                }
                '"' => return Ok(text),
                _ => text.push(c),
            }
        }
        Err(ParseError {
            at: start,
            expected: "`\"` closing the quoted string",
        })
    }

    /// A keyword: method, result or property name (letters, digits, `-`, `_`, `.`).
    fn keyword(&mut self) -> Option<String> {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            self.at += 1;
        }
        (self.at > start).then(|| self.chars[start..self.at].iter().collect())
    }

    /// A run of digits ending the token (`1;`, `1 `); digits run into a word are not.
    fn digits(&mut self) -> Option<u32> {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        let ends_token = self
            .peek()
            .is_none_or(|c| !(c.is_alphanumeric() || matches!(c, '.' | '-' | '_')));
        if self.at == start || !ends_token {
            self.at = start;
            return None;
        }
        self.chars[start..self.at]
            .iter()
            .collect::<String>()
            .parse()
            .ok()
    }

    /// A token or a quoted string (the authserv-id); `None` when neither starts here.
    fn value(&mut self) -> Result<Option<String>, ParseError> {
        if self.peek() == Some('"') {
            return self.quoted().map(Some);
        }
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| !(c.is_whitespace() || matches!(c, ';' | '(' | ')' | '"' | '=' | '/')))
        {
            self.at += 1;
        }
        Ok((self.at > start).then(|| self.chars[start..self.at].iter().collect()))
    }

    /// A property's value: a quoted string, or everything up to whitespace, `;` or a
    /// comment (`header.b=` values are base64 and may end in `=`; `header.i=@example.com`).
    fn property_value(&mut self) -> Result<String, ParseError> {
        if self.peek() == Some('"') {
            return self.quoted();
        }
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| !(c.is_whitespace() || matches!(c, ';' | '(')))
        {
            self.at += 1;
        }
        if self.at == start {
            return Err(self.error("a property value"));
        }
        Ok(self.chars[start..self.at].iter().collect())
    }
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gmail, as received at a Gmail mailbox (folded with spaces, CRLF).
    const GMAIL: &str = " mx.google.com;\r\n       dkim=pass header.i=@example.com header.s=s2024 header.b=Xk9fQ2mB;\r\n       spf=pass (google.com: domain of alice@example.com designates 203.0.113.5 as permitted sender) smtp.mailfrom=alice@example.com;\r\n       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.com";

    /// Gmail when the signature is by the provider's own domain, not aligned.
    const GMAIL_THIRD_PARTY: &str = " mx.google.com;\r\n       dkim=pass header.i=@example-com.20230601.gappssmtp.com header.s=20230601 header.b=\"q1/w+E==\";\r\n       arc=pass (i=1 spf=pass spfdomain=example.com dkim=pass dkdomain=example.com dmarc=pass fromdomain=example.com);\r\n       spf=pass (google.com: domain of bob@example.com designates 2a00:1450:4864:20::62b as permitted sender) smtp.mailfrom=bob@example.com;\r\n       dmarc=fail (p=QUARANTINE sp=QUARANTINE dis=QUARANTINE) header.from=example.com";

    /// Outlook.com / Microsoft 365: no authserv-id, bare properties, a trailing `;`.
    const OUTLOOK: &str = " spf=pass (sender IP is 203.0.113.5)\r\n smtp.mailfrom=example.com; dkim=pass (signature was verified)\r\n header.d=example.com;dmarc=pass action=none\r\n header.from=example.com;compauth=pass reason=100;";

    /// Microsoft 365 when nothing is signed and SPF has no record.
    const OUTLOOK_NONE: &str = " spf=none (sender IP is 198.51.100.7)\r\n smtp.mailfrom=example.net; dkim=none (message not signed)\r\n header.d=none;dmarc=none action=none header.from=example.net;compauth=fail\r\n reason=451";

    /// Fastmail: per-host authserv-id, long folded field, bare `score=`.
    const FASTMAIL: &str = " mx3.messagingengine.com;\r\n    dkim=pass (2048-bit rsa key sha256) header.d=example.com\r\n      header.i=@example.com header.b=AbCd1234 header.a=rsa-sha256\r\n      header.s=fm1 x-bits=2048;\r\n    dmarc=pass policy.published-domain-policy=reject\r\n      policy.applied-disposition=none policy.evaluated-disposition=none\r\n      (p=reject,d=none,d.eval=none) policy.policy-from=p\r\n      header.from=example.com;\r\n    iprev=pass smtp.remote-ip=203.0.113.5 (mail.example.com);\r\n    spf=pass smtp.mailfrom=alice@example.com\r\n      smtp.helo=mail.example.com;\r\n    x-aligned-from=pass (Address match);\r\n    x-me-sender=none;\r\n    x-tls=pass smtp.version=TLSv1.3 smtp.cipher=TLS_AES_256_GCM_SHA384\r\n      smtp.bits=256/256;\r\n    x-vs=clean score=-100 state=0";

    /// OpenDKIM in verify mode (what the tests' external receiver writes).
    const OPENDKIM: &str = " mx.external.test;\n\tdkim=pass (2048-bit key; unprotected) header.d=example.com header.i=@example.com header.a=rsa-sha256 header.s=cutover header.b=kP0wDsTx";

    /// RFC 8601's own shapes: a version, `none`, `reason=` quoted, a method version.
    const RFC_VERSION: &str = " example.com 1; spf=pass smtp.mailfrom=example.net";
    const RFC_NONE: &str = " example.org 1; none";
    const RFC_REASON: &str = " example.com;\r\n          auth=pass (cram-md5) smtp.auth=sender@example.net;\r\n          spf=fail reason=\"SPF record (v=spf1 -all) says no\" smtp.mailfrom=example.net;\r\n          dkim/1=pass header.i=@mail-router.example.net (nested (comment) here)";
    const QUOTED_ID: &str = " \"mx.example.com\"; dkim=neutral (bad format) header.d=example.com";

    struct Expect {
        name: &'static str,
        field: &'static str,
        authserv_id: Option<&'static str>,
        version: Option<u32>,
        /// method=result pairs, in order.
        results: &'static [(&'static str, &'static str)],
    }

    #[test]
    fn real_receivers_fields_parse_to_their_methods_and_results() {
        let table = [
            Expect {
                name: "gmail",
                field: GMAIL,
                authserv_id: Some("mx.google.com"),
                version: None,
                results: &[("dkim", "pass"), ("spf", "pass"), ("dmarc", "pass")],
            },
            Expect {
                name: "gmail third-party signature",
                field: GMAIL_THIRD_PARTY,
                authserv_id: Some("mx.google.com"),
                version: None,
                results: &[
                    ("dkim", "pass"),
                    ("arc", "pass"),
                    ("spf", "pass"),
                    ("dmarc", "fail"),
                ],
            },
            Expect {
                name: "outlook",
                field: OUTLOOK,
                authserv_id: None,
                version: None,
                results: &[
                    ("spf", "pass"),
                    ("dkim", "pass"),
                    ("dmarc", "pass"),
                    ("compauth", "pass"),
                ],
            },
            Expect {
                name: "outlook, unsigned",
                field: OUTLOOK_NONE,
                authserv_id: None,
                version: None,
                results: &[
                    ("spf", "none"),
                    ("dkim", "none"),
                    ("dmarc", "none"),
                    ("compauth", "fail"),
                ],
            },
            Expect {
                name: "fastmail",
                field: FASTMAIL,
                authserv_id: Some("mx3.messagingengine.com"),
                version: None,
                results: &[
                    ("dkim", "pass"),
                    ("dmarc", "pass"),
                    ("iprev", "pass"),
                    ("spf", "pass"),
                    ("x-aligned-from", "pass"),
                    ("x-me-sender", "none"),
                    ("x-tls", "pass"),
                    ("x-vs", "clean"),
                ],
            },
            Expect {
                name: "opendkim",
                field: OPENDKIM,
                authserv_id: Some("mx.external.test"),
                version: None,
                results: &[("dkim", "pass")],
            },
            Expect {
                name: "version",
                field: RFC_VERSION,
                authserv_id: Some("example.com"),
                version: Some(1),
                results: &[("spf", "pass")],
            },
            Expect {
                name: "none",
                field: RFC_NONE,
                authserv_id: Some("example.org"),
                version: Some(1),
                results: &[],
            },
            Expect {
                name: "reason and method version",
                field: RFC_REASON,
                authserv_id: Some("example.com"),
                version: None,
                results: &[("auth", "pass"), ("spf", "fail"), ("dkim", "pass")],
            },
            Expect {
                name: "quoted authserv-id",
                field: QUOTED_ID,
                authserv_id: Some("mx.example.com"),
                version: None,
                results: &[("dkim", "neutral")],
            },
        ];
        for case in table {
            let ar = parse(case.field).unwrap_or_else(|e| panic!("{}: {e}", case.name));
            assert_eq!(ar.authserv_id.as_deref(), case.authserv_id, "{}", case.name);
            assert_eq!(ar.version, case.version, "{}", case.name);
            let got: Vec<(&str, &str)> = ar
                .results
                .iter()
                .map(|r| (r.method.as_str(), r.result.as_str()))
                .collect();
            assert_eq!(got, case.results, "{}", case.name);
        }
    }

    #[test]
    fn properties_comments_and_reasons_are_kept() {
        let gmail = parse(GMAIL).expect("gmail");
        let dkim = &gmail.results[0];
        assert_eq!(dkim.property("header", "i"), Some("@example.com"));
        assert_eq!(dkim.property("header", "s"), Some("s2024"));
        let spf = &gmail.results[1];
        assert_eq!(spf.property("smtp", "mailfrom"), Some("alice@example.com"));
        assert_eq!(
            spf.comments,
            ["google.com: domain of alice@example.com designates 203.0.113.5 as permitted sender"]
        );
        assert_eq!(gmail.results[2].comments, ["p=REJECT sp=REJECT dis=NONE"]);

        // A quoted base64 value ending in `==` and a comment full of `=`.
        let third = parse(GMAIL_THIRD_PARTY).expect("gmail third party");
        assert_eq!(third.results[0].property("header", "b"), Some("q1/w+E=="));
        assert_eq!(
            third.results[1].comments,
            [
                "i=1 spf=pass spfdomain=example.com dkim=pass dkdomain=example.com dmarc=pass fromdomain=example.com"
            ]
        );

        // Microsoft: bare properties have no ptype; `reason=` of compauth is a reason.
        let outlook = parse(OUTLOOK).expect("outlook");
        assert_eq!(outlook.results[0].comments, ["sender IP is 203.0.113.5"]);
        assert_eq!(outlook.results[2].property("", "action"), Some("none"));
        assert_eq!(
            outlook.results[2].property("header", "from"),
            Some("example.com")
        );
        assert_eq!(outlook.results[3].reason.as_deref(), Some("100"));

        // Fastmail: a folded property list and a comment between properties.
        let fastmail = parse(FASTMAIL).expect("fastmail");
        let dkim = &fastmail.results[0];
        assert_eq!(dkim.property("header", "s"), Some("fm1"));
        assert_eq!(dkim.property("header", "d"), Some("example.com"));
        assert_eq!(dkim.comments, ["2048-bit rsa key sha256"]);
        let dmarc = &fastmail.results[1];
        assert_eq!(
            dmarc.property("policy", "published-domain-policy"),
            Some("reject")
        );
        assert_eq!(dmarc.comments, ["p=reject,d=none,d.eval=none"]);
        assert_eq!(fastmail.results[7].property("", "score"), Some("-100"));

        let rfc = parse(RFC_REASON).expect("rfc");
        assert_eq!(
            rfc.results[1].reason.as_deref(),
            Some("SPF record (v=spf1 -all) says no")
        );
        assert_eq!(rfc.results[2].method_version, Some(1));
        assert_eq!(rfc.results[2].comments, ["nested (comment) here"]);
    }

    #[test]
    fn malformed_fields_say_what_was_expected_where() {
        let cases = [
            (" mx.example.com; dkim", "`=` after the method"),
            (
                " mx.example.com; dkim=pass (unclosed",
                "`)` closing the comment",
            ),
            (
                " mx.example.com; dkim=pass header.d",
                "`=` after a property name",
            ),
            (" mx.example.com dkim=pass", "`;`"),
            (" mx.example.com; =pass", "a method name"),
            (
                " mx.example.com; spf=pass reason=\"open",
                "`\"` closing the quoted string",
            ),
        ];
        for (field, expected) in cases {
            let err = parse(field).expect_err(field);
            assert_eq!(err.expected, expected, "{field}");
        }
    }

    #[test]
    fn authserv_id_patterns_match_whole_names_case_insensitively() {
        assert!(authserv_id_matches("mx.google.com", "MX.Google.com"));
        assert!(!authserv_id_matches(
            "mx.google.com",
            "mx.google.com.evil.test"
        ));
        assert!(authserv_id_matches(
            "*.messagingengine.com",
            "mx3.messagingengine.com"
        ));
        assert!(authserv_id_matches(
            "mx*.messagingengine.com",
            "mx10.messagingengine.com"
        ));
        assert!(!authserv_id_matches(
            "*.messagingengine.com",
            "messagingengine.com.evil.test"
        ));
        assert!(!authserv_id_matches(
            "mx*.messagingengine.com",
            "smtp.messagingengine.com"
        ));
    }

    #[test]
    fn the_receivers_topmost_field_is_chosen_and_a_senders_forgery_below_it_ignored() {
        // Topmost first, as in the message: another hop's, the receiver's own, then one
        // the sender wrote claiming to be the receiver.
        let forged = " mx.google.com; dkim=pass header.d=example.com; spf=pass; dmarc=pass";
        let genuine = " mx.google.com; dkim=fail header.d=example.com; spf=pass; dmarc=fail";
        let other = " relay.example.net; dkim=pass";
        let chosen = receiver_verdict([other, genuine, forged], Some("mx.google.com"))
            .expect("the receiver's field")
            .expect("parses");
        assert_eq!(chosen.results[0].result, "fail");

        // Outlook.com: no authserv-id; a field naming one is some other hop's.
        let chosen = receiver_verdict([other, OUTLOOK, OUTLOOK_NONE], None)
            .expect("outlook's")
            .expect("parses");
        assert_eq!(chosen.results[0].result, "pass");

        // The receiver's own field unreadable: that is the answer, never the one below it.
        let chosen = receiver_verdict(
            [" mx3.messagingengine.com; dkim", FASTMAIL],
            Some("*.messagingengine.com"),
        )
        .expect("fastmail's");
        assert_eq!(chosen.map_err(|e| e.expected), Err("`=` after the method"));

        // None of the receiver's: none.
        assert_eq!(
            receiver_verdict([GMAIL, other], Some("*.messagingengine.com")),
            None
        );
    }
}
