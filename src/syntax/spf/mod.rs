//! SPF records parsed to the ABNF of RFC 7208 section 12, with every error
//! naming the term, its position and what is wrong.
//!
//! Pure syntax: nothing here looks anything up. What the terms cost in DNS
//! lookups, and whether the includes hold, is `dns::spf`'s business.
//!
//! Positions: the `v=spf1` version is position 0; the terms after it are
//! numbered from 1, left to right (`v=spf1 a mx -all`: `mx` is term 2).

mod addresses;

use addresses::{parse_dual_cidr, prefix, split_cidr};
pub use addresses::{parse_ip4, parse_ip6};

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::sanitize::sanitize;
use crate::syntax::domain::{MAX_LABEL, MAX_NAME, describe_char};

/// The version section every SPF record starts with (RFC 7208 4.5).
pub const VERSION: &str = "v=spf1";

/// What a mechanism's match yields (RFC 7208 4.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    /// `+`, the default.
    Pass,
    /// `-`
    Fail,
    /// `~`
    SoftFail,
    /// `?`
    Neutral,
}

impl Qualifier {
    pub fn as_char(self) -> char {
        match self {
            Qualifier::Pass => '+',
            Qualifier::Fail => '-',
            Qualifier::SoftFail => '~',
            Qualifier::Neutral => '?',
        }
    }

    fn from_char(c: char) -> Option<Qualifier> {
        match c {
            '+' => Some(Qualifier::Pass),
            '-' => Some(Qualifier::Fail),
            '~' => Some(Qualifier::SoftFail),
            '?' => Some(Qualifier::Neutral),
            _ => None,
        }
    }
}

/// A `domain-spec`: a macro-string ending in a dot and a top label, or in a macro.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainSpec {
    text: String,
    has_macro: bool,
}

impl DomainSpec {
    /// As written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The name to look up (lowercase, no final dot), when there is no macro.
    pub fn target(&self) -> Option<String> {
        (!self.has_macro).then(|| {
            self.text
                .strip_suffix('.')
                .unwrap_or(&self.text)
                .to_ascii_lowercase()
        })
    }
}

impl fmt::Display for DomainSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `[ "/" ip4-cidr ] [ "//" ip6-cidr ]` of `a` and `mx` (RFC 7208 5.6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DualCidr {
    pub ip4: Option<u8>,
    pub ip6: Option<u8>,
}

/// A mechanism (RFC 7208 5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    All,
    Include(DomainSpec),
    A {
        domain: Option<DomainSpec>,
        cidr: DualCidr,
    },
    Mx {
        domain: Option<DomainSpec>,
        cidr: DualCidr,
    },
    Ptr(Option<DomainSpec>),
    Ip4 {
        network: Ipv4Addr,
        prefix: Option<u8>,
    },
    Ip6 {
        network: Ipv6Addr,
        prefix: Option<u8>,
    },
    Exists(DomainSpec),
}

impl Mechanism {
    pub fn name(&self) -> &'static str {
        match self {
            Mechanism::All => "all",
            Mechanism::Include(_) => "include",
            Mechanism::A { .. } => "a",
            Mechanism::Mx { .. } => "mx",
            Mechanism::Ptr(_) => "ptr",
            Mechanism::Ip4 { .. } => "ip4",
            Mechanism::Ip6 { .. } => "ip6",
            Mechanism::Exists(_) => "exists",
        }
    }
}

/// A modifier (RFC 7208 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modifier {
    Redirect(DomainSpec),
    Exp(DomainSpec),
    /// Any other `name=value`: receivers ignore it (RFC 7208 6).
    Unknown {
        name: String,
        value: String,
    },
}

/// What a term is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TermKind {
    Mechanism {
        qualifier: Qualifier,
        mechanism: Mechanism,
    },
    Modifier(Modifier),
}

impl TermKind {
    /// The mechanism, if it is one.
    pub fn mechanism(&self) -> Option<&Mechanism> {
        match self {
            TermKind::Mechanism { mechanism, .. } => Some(mechanism),
            TermKind::Modifier(_) => None,
        }
    }

    pub fn is_all(&self) -> bool {
        matches!(self.mechanism(), Some(Mechanism::All))
    }

    pub fn is_modifier(&self) -> bool {
        matches!(self, TermKind::Modifier(_))
    }
}

/// One term of a record, with its text as written and its position (from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub text: String,
    pub position: usize,
    pub kind: TermKind,
}

/// A syntactically valid SPF record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub terms: Vec<Term>,
}

impl Record {
    /// Whether an `all` mechanism stands anywhere (then `redirect` is ignored, RFC 7208 6.1).
    pub fn has_all(&self) -> bool {
        self.terms.iter().any(|t| t.kind.is_all())
    }

    /// The `redirect=` term, if any (at most one in a valid record).
    pub fn redirect(&self) -> Option<(&Term, &DomainSpec)> {
        self.terms.iter().find_map(|t| match &t.kind {
            TermKind::Modifier(Modifier::Redirect(d)) => Some((t, d)),
            _ => None,
        })
    }
}

/// Why a term is not SPF syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Reason {
    #[error("the record does not start with v=spf1")]
    NotSpf,
    #[error(
        "the record starts with {0}; receivers look for v=spf1 at the very start and ignore this record"
    )]
    LeadingWhitespace(String),
    #[error("it contains {0}; SPF terms are separated by spaces only (RFC 7208 12)")]
    Whitespace(String),
    #[error("it contains the control character {0}")]
    ControlCharacter(String),
    #[error("it contains {0}; SPF records are plain ASCII")]
    NonAscii(String),
    #[error(
        "\"{0}\" is neither a mechanism (all, include, a, mx, ptr, ip4, ip6, exists) nor a modifier (name=value)"
    )]
    UnknownMechanism(String),
    #[error("{0} needs a domain after a colon, e.g. {0}:_spf.example.com")]
    MissingDomain(&'static str),
    #[error("{0} needs an address after a colon, e.g. {1}")]
    MissingAddress(&'static str, &'static str),
    #[error("all takes no argument")]
    AllTakesNothing,
    #[error("{mechanism} takes no CIDR length, yet \"{cidr}\" follows")]
    NoCidrAllowed {
        mechanism: &'static str,
        cidr: String,
    },
    #[error("the IPv4 prefix length /{0} is over 32")]
    Ip4PrefixRange(String),
    #[error("the IPv6 prefix length /{0} is over 128")]
    Ip6PrefixRange(String),
    #[error("the prefix length /{0} has a leading zero")]
    PrefixLeadingZero(String),
    #[error("\"{0}\" is not a CIDR length: write /24 for IPv4, //64 for IPv6, or /24//64")]
    BadCidr(String),
    #[error(
        "\"{0}\" is not an IPv4 address: four numbers from 0 to 255 without leading zeros, e.g. 192.0.2.1"
    )]
    BadIp4(String),
    #[error("\"{0}\" is not an IPv6 address (RFC 4291 2.2), e.g. 2001:db8::1")]
    BadIp6(String),
    #[error("\"{0}\" has no dot: a domain ends in a dot and a top label, e.g. example.com")]
    DomainNoDot(String),
    #[error(
        "\"{spec}\" ends in \"{label}\", which is not a top label (letters and digits with at least one letter; hyphens only inside)"
    )]
    BadTopLabel { spec: String, label: String },
    #[error("\"{0}\" has an empty label (two dots in a row, or a dot at the start)")]
    EmptyLabel(String),
    #[error("\"{0}\" has a label over 63 characters")]
    LabelTooLong(String),
    #[error("\"{0}\" is over 253 characters")]
    NameTooLong(String),
    #[error("\"{spec}\": a % must be followed by {{, %, _ or - (write %% for a literal %)")]
    LonePercent { spec: String },
    #[error(
        "\"{spec}\": %{{{letter}...}} is not a macro (letters s, l, o, d, i, p, h, v; c, r, t only in explanation text)"
    )]
    BadMacroLetter { spec: String, letter: String },
    #[error("\"{spec}\": the macro %{{{letter}}} is allowed only in explanation (exp) text")]
    MacroOnlyInExp { spec: String, letter: char },
    #[error("\"{spec}\": the digit transformer in a macro must not be 0 (RFC 7208 7.3)")]
    ZeroDigitTransformer { spec: String },
    #[error(
        "\"{spec}\": a macro is %{{letter, digits, r, delimiters (. - + , / _ =)}}; this one is not closed properly"
    )]
    MalformedMacro { spec: String },
    #[error(
        "\"{0}\" is not a modifier name: it starts with a letter, then letters, digits, -, _ or ."
    )]
    BadModifierName(String),
    #[error("a modifier takes no qualifier (+ - ~ ?)")]
    QualifiedModifier,
    #[error("{0}= needs a domain after the =")]
    EmptyModifier(&'static str),
    #[error("{0}= appears more than once; a record may have it once (RFC 7208 6)")]
    DuplicateModifier(&'static str),
}

/// A syntax error: the term as written (made printable), its position and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SyntaxError {
    /// The term, control characters made visible (`\u{d}`).
    pub term: String,
    /// 0 for the version, 1 for the first term after it.
    pub position: usize,
    pub reason: Reason,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.position == 0 {
            write!(f, "\"{}\": {}", self.term, self.reason)
        } else {
            write!(
                f,
                "term {} \"{}\": {}",
                self.position, self.term, self.reason
            )
        }
    }
}

/// Every syntax error of a record (at least one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SyntaxErrors(pub Vec<SyntaxError>);

impl fmt::Display for SyntaxErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [] => f.write_str("the record is not SPF syntax"),
            [one] => write!(f, "{one}"),
            [first, rest @ ..] => write!(f, "{first} (and {} more)", rest.len()),
        }
    }
}

/// Whether a TXT record is meant as an SPF record: `v=spf1` (any case) at
/// the start, then whitespace or the end (RFC 7208 4.5). Leading whitespace
/// and whitespace other than a space are accepted here so that [`parse`] can
/// say what is wrong with them rather than the record going unnoticed.
pub fn is_spf(txt: &str) -> bool {
    let t = txt.trim_start();
    match (t.get(..VERSION.len()), t.get(VERSION.len()..)) {
        (Some(version), Some(rest)) => {
            version.eq_ignore_ascii_case(VERSION)
                && rest.chars().next().is_none_or(char::is_whitespace)
        }
        _ => false,
    }
}

/// Parses a whole record; all its syntax errors at once.
pub fn parse(record: &str) -> Result<Record, SyntaxErrors> {
    let mut errors = Vec::new();
    if let Some(first) = record.chars().next()
        && first.is_whitespace()
    {
        errors.push(SyntaxError {
            term: sanitize(record.split(' ').find(|t| !t.is_empty()).unwrap_or("")),
            position: 0,
            reason: Reason::LeadingWhitespace(describe_char(first)),
        });
    }
    let mut words = record.split(' ').filter(|w| !w.is_empty());
    let version = words.next().unwrap_or("");
    if !version.eq_ignore_ascii_case(VERSION) {
        let problem = char_problem(version).filter(|_| is_spf(version));
        let not_spf = problem.is_none();
        errors.push(SyntaxError {
            term: sanitize(version),
            position: 0,
            reason: problem.unwrap_or(Reason::NotSpf),
        });
        if not_spf {
            // Not an SPF record at all: its words are not terms.
            return Err(SyntaxErrors(errors));
        }
    }
    let mut terms = Vec::new();
    let (mut redirects, mut exps) = (0, 0);
    for (index, word) in words.enumerate() {
        let position = index + 1;
        let error = |reason| SyntaxError {
            term: sanitize(word),
            position,
            reason,
        };
        match parse_term(word) {
            Ok(kind) => {
                let duplicate = match &kind {
                    TermKind::Modifier(Modifier::Redirect(_)) => {
                        redirects += 1;
                        (redirects > 1).then_some("redirect")
                    }
                    TermKind::Modifier(Modifier::Exp(_)) => {
                        exps += 1;
                        (exps > 1).then_some("exp")
                    }
                    _ => None,
                };
                if let Some(name) = duplicate {
                    errors.push(error(Reason::DuplicateModifier(name)));
                }
                terms.push(Term {
                    text: word.to_string(),
                    position,
                    kind,
                });
            }
            Err(reason) => errors.push(error(reason)),
        }
    }
    if errors.is_empty() {
        Ok(Record { terms })
    } else {
        Err(SyntaxErrors(errors))
    }
}

/// The first character of `word` that no SPF term may hold.
fn char_problem(word: &str) -> Option<Reason> {
    let bad = word.chars().find(|c| !c.is_ascii_graphic())?;
    Some(if bad.is_whitespace() {
        Reason::Whitespace(describe_char(bad))
    } else if bad.is_control() {
        Reason::ControlCharacter(describe_char(bad))
    } else {
        Reason::NonAscii(describe_char(bad))
    })
}

/// Parses one term (`-all`, `include:_spf.example.com`, `redirect=_spf.example.com`).
pub fn parse_term(word: &str) -> Result<TermKind, Reason> {
    if let Some(problem) = char_problem(word) {
        return Err(problem);
    }
    let (qualifier, rest) = match word.chars().next().and_then(Qualifier::from_char) {
        Some(q) => (Some(q), &word[1..]),
        None => (None, word),
    };
    // A modifier's name is followed by "=" before any ":" or "/" (RFC 7208 4.6.1).
    let name_end = rest.find([':', '/', '=']).unwrap_or(rest.len());
    let (name, arg) = rest.split_at(name_end);
    if let Some(value) = arg.strip_prefix('=') {
        if qualifier.is_some() {
            return Err(Reason::QualifiedModifier);
        }
        return parse_modifier(name, value).map(TermKind::Modifier);
    }
    let mechanism = parse_mechanism(name, arg)?;
    Ok(TermKind::Mechanism {
        qualifier: qualifier.unwrap_or(Qualifier::Pass),
        mechanism,
    })
}

fn parse_modifier(name: &str, value: &str) -> Result<Modifier, Reason> {
    let mut chars = name.chars();
    let name_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !name_ok {
        return Err(Reason::BadModifierName(name.to_string()));
    }
    if name.eq_ignore_ascii_case("redirect") {
        if value.is_empty() {
            return Err(Reason::EmptyModifier("redirect"));
        }
        return parse_domain_spec(value).map(Modifier::Redirect);
    }
    if name.eq_ignore_ascii_case("exp") {
        if value.is_empty() {
            return Err(Reason::EmptyModifier("exp"));
        }
        return parse_domain_spec(value).map(Modifier::Exp);
    }
    // unknown-modifier = name "=" macro-string: any macro letter may appear.
    tokens(value, true)?;
    Ok(Modifier::Unknown {
        name: name.to_ascii_lowercase(),
        value: value.to_string(),
    })
}

fn parse_mechanism(name: &str, arg: &str) -> Result<Mechanism, Reason> {
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "all" if arg.is_empty() => Ok(Mechanism::All),
        "all" => Err(Reason::AllTakesNothing),
        "include" => domain_only("include", arg).map(Mechanism::Include),
        "exists" => domain_only("exists", arg).map(Mechanism::Exists),
        "ptr" => match arg.strip_prefix(':') {
            None if arg.is_empty() => Ok(Mechanism::Ptr(None)),
            None => Err(Reason::NoCidrAllowed {
                mechanism: "ptr",
                cidr: arg.to_string(),
            }),
            Some(spec) => {
                if let Some((_, cidr)) = split_cidr(spec) {
                    return Err(Reason::NoCidrAllowed {
                        mechanism: "ptr",
                        cidr: cidr.to_string(),
                    });
                }
                if spec.is_empty() {
                    return Err(Reason::MissingDomain("ptr"));
                }
                parse_domain_spec(spec).map(|d| Mechanism::Ptr(Some(d)))
            }
        },
        "a" | "mx" => {
            let mechanism = if lower == "a" { "a" } else { "mx" };
            let (domain, cidr) = match arg.strip_prefix(':') {
                Some(rest) => {
                    let (spec, cidr) = match split_cidr(rest) {
                        Some((spec, cidr)) => (spec, parse_dual_cidr(cidr)?),
                        None => (rest, DualCidr::default()),
                    };
                    if spec.is_empty() {
                        return Err(Reason::MissingDomain(mechanism));
                    }
                    (Some(parse_domain_spec(spec)?), cidr)
                }
                None if arg.is_empty() => (None, DualCidr::default()),
                None => (None, parse_dual_cidr(arg)?),
            };
            Ok(if mechanism == "a" {
                Mechanism::A { domain, cidr }
            } else {
                Mechanism::Mx { domain, cidr }
            })
        }
        "ip4" => {
            let rest = arg
                .strip_prefix(':')
                .filter(|r| !r.is_empty())
                .ok_or(Reason::MissingAddress("ip4", "ip4:192.0.2.0/24"))?;
            let (address, prefix) = match rest.split_once('/') {
                Some((a, p)) => (a, Some(prefix(p, 32)?)),
                None => (rest, None),
            };
            let network = parse_ip4(address).ok_or_else(|| Reason::BadIp4(address.to_string()))?;
            Ok(Mechanism::Ip4 { network, prefix })
        }
        "ip6" => {
            let rest = arg
                .strip_prefix(':')
                .filter(|r| !r.is_empty())
                .ok_or(Reason::MissingAddress("ip6", "ip6:2001:db8::/32"))?;
            let (address, prefix) = match rest.split_once('/') {
                Some((a, p)) => (a, Some(prefix(p, 128)?)),
                None => (rest, None),
            };
            let network = parse_ip6(address).ok_or_else(|| Reason::BadIp6(address.to_string()))?;
            Ok(Mechanism::Ip6 { network, prefix })
        }
        _ => Err(Reason::UnknownMechanism(name.to_string())),
    }
}

/// `include:` and `exists:` take a domain-spec and nothing else.
fn domain_only(mechanism: &'static str, arg: &str) -> Result<DomainSpec, Reason> {
    let spec = match arg.strip_prefix(':') {
        Some(spec) => spec,
        None if arg.is_empty() => return Err(Reason::MissingDomain(mechanism)),
        None => {
            return Err(Reason::NoCidrAllowed {
                mechanism,
                cidr: arg.to_string(),
            });
        }
    };
    if let Some((_, cidr)) = split_cidr(spec) {
        return Err(Reason::NoCidrAllowed {
            mechanism,
            cidr: cidr.to_string(),
        });
    }
    if spec.is_empty() {
        return Err(Reason::MissingDomain(mechanism));
    }
    parse_domain_spec(spec)
}

/// A piece of a macro-string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `%{...}`, `%%`, `%_` or `%-`.
    Macro,
}

/// Tokenises a macro-string (RFC 7208 7.1); `explain` allows `c`, `r`, `t`.
fn tokens(spec: &str, explain: bool) -> Result<Vec<Token>, Reason> {
    let mut out = Vec::new();
    let mut chars = spec.chars().peekable();
    let owned = || spec.to_string();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(Token::Literal(c));
            continue;
        }
        match chars.next() {
            Some('%' | '_' | '-') => out.push(Token::Macro),
            Some('{') => {
                let letter = chars
                    .next()
                    .ok_or_else(|| Reason::MalformedMacro { spec: owned() })?;
                let lower = letter.to_ascii_lowercase();
                if !"slodiphcrtv".contains(lower) || !letter.is_ascii_alphabetic() {
                    return Err(Reason::BadMacroLetter {
                        spec: owned(),
                        letter: letter.to_string(),
                    });
                }
                if !explain && "crt".contains(lower) {
                    return Err(Reason::MacroOnlyInExp {
                        spec: owned(),
                        letter: lower,
                    });
                }
                let mut digits = String::new();
                while let Some(d) = chars.next_if(char::is_ascii_digit) {
                    digits.push(d);
                }
                if !digits.is_empty() && digits.chars().all(|d| d == '0') {
                    return Err(Reason::ZeroDigitTransformer { spec: owned() });
                }
                chars.next_if(|c| c.eq_ignore_ascii_case(&'r'));
                while chars
                    .next_if(|c| matches!(c, '.' | '-' | '+' | ',' | '/' | '_' | '='))
                    .is_some()
                {}
                if chars.next() != Some('}') {
                    return Err(Reason::MalformedMacro { spec: owned() });
                }
                out.push(Token::Macro);
            }
            _ => return Err(Reason::LonePercent { spec: owned() }),
        }
    }
    Ok(out)
}

/// `domain-spec = macro-string domain-end`, `domain-end = ( "." toplabel [ "." ] ) / macro-expand`.
fn parse_domain_spec(spec: &str) -> Result<DomainSpec, Reason> {
    let tokens = tokens(spec, false)?;
    let has_macro = tokens.contains(&Token::Macro);
    if tokens.last() != Some(&Token::Macro) {
        // The literal characters after the last macro (or all of them).
        let tail_start = tokens
            .iter()
            .rposition(|t| *t == Token::Macro)
            .map_or(0, |i| i + 1);
        let tail: String = tokens[tail_start..]
            .iter()
            .filter_map(|t| match t {
                Token::Literal(c) => Some(*c),
                Token::Macro => None,
            })
            .collect();
        let tail = tail.strip_suffix('.').unwrap_or(&tail);
        let Some((_, top)) = tail.rsplit_once('.') else {
            return Err(Reason::DomainNoDot(spec.to_string()));
        };
        if !is_toplabel(top) {
            return Err(Reason::BadTopLabel {
                spec: spec.to_string(),
                label: top.to_string(),
            });
        }
    }
    if !has_macro {
        let name = spec.strip_suffix('.').unwrap_or(spec);
        if name.split('.').any(str::is_empty) {
            return Err(Reason::EmptyLabel(spec.to_string()));
        }
        if name.split('.').any(|l| l.len() > MAX_LABEL) {
            return Err(Reason::LabelTooLong(spec.to_string()));
        }
        if name.len() > MAX_NAME {
            return Err(Reason::NameTooLong(spec.to_string()));
        }
    }
    Ok(DomainSpec {
        text: spec.to_string(),
        has_macro,
    })
}

/// `toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )`.
fn is_toplabel(label: &str) -> bool {
    let chars_ok =
        !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !chars_ok {
        return false;
    }
    if label.contains('-') {
        !label.starts_with('-') && !label.ends_with('-')
    } else {
        label.chars().any(|c| c.is_ascii_alphabetic())
    }
}

#[cfg(test)]
mod tests;
