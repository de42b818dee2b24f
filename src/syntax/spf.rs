//! SPF records parsed to the ABNF of RFC 7208 section 12, with every error
//! naming the term, its position and what is wrong.
//!
//! Pure syntax: nothing here looks anything up. What the terms cost in DNS
//! lookups, and whether the includes hold, is `dns::spf`'s business.
//!
//! Positions: the `v=spf1` version is position 0; the terms after it are
//! numbered from 1, left to right (`v=spf1 a mx -all`: `mx` is term 2).

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

    /// Whether it holds a macro (`%{..}`, `%%`, `%_`, `%-`): its name depends on
    /// the sender, so it cannot be looked up ahead of time.
    pub fn has_macro(&self) -> bool {
        self.has_macro
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
    /// Whether evaluating it costs a DNS lookup under RFC 7208 4.6.4's limit
    /// (`include`, `a`, `mx`, `ptr`, `exists`, `redirect`).
    pub fn queries_dns(&self) -> bool {
        match self {
            TermKind::Mechanism { mechanism, .. } => matches!(
                mechanism,
                Mechanism::Include(_)
                    | Mechanism::A { .. }
                    | Mechanism::Mx { .. }
                    | Mechanism::Ptr(_)
                    | Mechanism::Exists(_)
            ),
            TermKind::Modifier(m) => matches!(m, Modifier::Redirect(_)),
        }
    }

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

/// Splits `example.com/24//64` into the domain and the CIDR part: at the first
/// `/` after which only slashes and digits follow. A `/` may appear inside a
/// domain-spec (it is a macro-literal), so only such a tail counts; whether
/// it is a well-formed dual-cidr-length is [`parse_dual_cidr`]'s to say.
fn split_cidr(text: &str) -> Option<(&str, &str)> {
    let is_tail = |t: &str| t.chars().all(|c| c == '/' || c.is_ascii_digit());
    text.char_indices()
        .filter(|(_, c)| *c == '/')
        .map(|(i, _)| i)
        .find(|&i| is_tail(&text[i..]))
        .map(|i| text.split_at(i))
}

/// `/N`, `//N` or `/N//N` (RFC 7208 5.6 dual-cidr-length).
fn parse_dual_cidr(text: &str) -> Result<DualCidr, Reason> {
    let bad = || Reason::BadCidr(text.to_string());
    let rest = text.strip_prefix('/').ok_or_else(bad)?;
    if let Some(v6) = rest.strip_prefix('/') {
        return Ok(DualCidr {
            ip4: None,
            ip6: Some(prefix(v6, 128)?),
        });
    }
    match rest.split_once("//") {
        Some((v4, v6)) => Ok(DualCidr {
            ip4: Some(prefix(v4, 32)?),
            ip6: Some(prefix(v6, 128)?),
        }),
        None if rest.contains('/') => Err(bad()),
        None => Ok(DualCidr {
            ip4: Some(prefix(rest, 32)?),
            ip6: None,
        }),
    }
}

/// A prefix length: digits, no leading zero, at most `max`.
fn prefix(text: &str, max: u8) -> Result<u8, Reason> {
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit()) {
        return Err(Reason::BadCidr(format!("/{text}")));
    }
    if text.len() > 1 && text.starts_with('0') {
        return Err(Reason::PrefixLeadingZero(text.to_string()));
    }
    let over = || {
        if max == 32 {
            Reason::Ip4PrefixRange(text.to_string())
        } else {
            Reason::Ip6PrefixRange(text.to_string())
        }
    };
    match text.parse::<u16>() {
        Ok(n) if n <= u16::from(max) => u8::try_from(n).map_err(|_| over()),
        _ => Err(over()),
    }
}

/// `qnum "." qnum "." qnum "." qnum`: 0 to 255, no leading zeros (RFC 7208 5.6).
pub fn parse_ip4(text: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = text.split('.');
    for octet in &mut octets {
        let part = parts.next()?;
        let ok = !part.is_empty()
            && part.len() <= 3
            && part.chars().all(|c| c.is_ascii_digit())
            && !(part.len() > 1 && part.starts_with('0'));
        if !ok {
            return None;
        }
        *octet = part.parse().ok()?;
    }
    parts.next().is_none().then(|| Ipv4Addr::from(octets))
}

/// The text forms of RFC 4291 2.2: eight groups of 1-4 hex digits, `::` once
/// for a run of zero groups, and an embedded IPv4 address at the end.
pub fn parse_ip6(text: &str) -> Option<Ipv6Addr> {
    let allowed = text
        .chars()
        .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
    if !allowed || text.matches("::").count() > 1 || text.contains(":::") {
        return None;
    }
    // The embedded IPv4 part follows the RFC 7208 qnum rules too.
    if let Some((_, v4)) = text.rsplit_once(':')
        && v4.contains('.')
        && parse_ip4(v4).is_none()
    {
        return None;
    }
    text.parse().ok()
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
mod tests {
    use super::*;

    /// The one error of a record that has exactly one.
    fn error(record: &str) -> SyntaxError {
        match parse(record) {
            Ok(r) => panic!("{record:?} parsed: {r:?}"),
            Err(SyntaxErrors(errors)) => {
                assert_eq!(errors.len(), 1, "{record:?}: {errors:#?}");
                errors.into_iter().next().unwrap()
            }
        }
    }

    fn assert_error(record: &str, term: &str, position: usize, check: impl Fn(&Reason) -> bool) {
        let e = error(record);
        assert_eq!(e.term, term, "{record:?}: {e}");
        assert_eq!(e.position, position, "{record:?}: {e}");
        assert!(check(&e.reason), "{record:?}: unexpected reason {e}");
    }

    #[test]
    fn the_rfc_examples_parse() {
        // RFC 7208 appendix A and sections 5, 6, 7 and 8.
        for record in [
            "v=spf1 +all",
            "v=spf1 a -all",
            "v=spf1 a:example.org -all",
            "v=spf1 mx -all",
            "v=spf1 mx:example.org -all",
            "v=spf1 mx mx:example.org -all",
            "v=spf1 mx/30 mx:example.org/30 -all",
            "v=spf1 ptr -all",
            "v=spf1 ip4:192.0.2.128/28 -all",
            "v=spf1 mx -all exp=explain._spf.%{d}",
            "v=spf1 -all",
            "v=spf1 a:authorized-spf.example.com -all",
            "v=spf1 mx:example.com -all",
            "v=spf1 ip4:192.0.2.0/24 mx -all",
            "v=spf1 -ip4:192.0.2.0/24 a/24 mx -all",
            "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} -all",
            "v=spf1 include:example.com include:example.net -all",
            "v=spf1 redirect=_spf.example.com",
            "v=spf1 mx -all redirect=_spf.example.com",
            "v=spf1 -exists:%{ir}.sbl.example.org",
            "v=spf1 a:%{d}",
            "v=spf1 include:%{ir}.%{v}._spf.%{d2}",
            "v=spf1 include:%{lr-}.lp._spf.%{d2}",
            "v=spf1 include:%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
            "v=spf1 include:%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
            "v=spf1 include:%{d2}.trusted-domains.example.net",
            "v=spf1 -include:ip4._spf.%{d} -include:ptr._spf.%{d} +all",
            "v=spf1 -ip4:192.0.2.0/24 +all",
            "v=spf1 ip6:2001:db8::/32 ip6:::1 ip6:::ffff:192.0.2.1 ip6:1:2:3:4:5:6:7:8/128 -all",
            "v=spf1 a/24//64 mx//64 a:example.com//128 -all",
            "v=spf1 ip4:0.0.0.0/0 ip6:::/0 ?all",
            "V=SPF1 IP4:192.0.2.1 MX:EXAMPLE.COM -ALL",
            "v=spf1",
            "v=spf1 ",
            "v=spf1  a   -all  ",
            "v=spf1 -all foo=bar x-y.z=%{c}%{r}%{t} ra=",
            "v=spf1 a:example.com. -all",
            "v=spf1 a:x.1-2 include:x.1-2. -all",
            "v=spf1 exists:%{i}.%%.%_.%-.example.com -all",
            // Real-world records.
            "v=spf1 include:_spf.google.com ~all",
            "v=spf1 include:spf.protection.outlook.com -all",
            "v=spf1 ip4:35.190.247.0/24 ip4:64.233.160.0/19 ip4:66.102.0.0/20 ip4:66.249.80.0/20 ip4:72.14.192.0/18 ip4:74.125.0.0/16 ip4:108.177.8.0/21 ip4:173.194.0.0/16 ip4:209.85.128.0/17 ip4:216.58.192.0/19 ip4:216.239.32.0/19 ~all",
            "v=spf1 ip6:2001:4860:4000::/36 ip6:2404:6800:4000::/36 ip6:2607:f8b0:4000::/36 ip6:2800:3f0:4000::/36 ip6:2a00:1450:4000::/36 ip6:2c0f:fb50:4000::/36 ~all",
            "v=spf1 ip4:40.92.0.0/15 ip4:40.107.0.0/16 ip4:52.100.0.0/15 ip4:52.102.0.0/16 ip4:52.103.0.0/17 ip4:104.47.0.0/17 ip6:2a01:111:f400::/48 ip6:2a01:111:f403::/49 ip6:2a01:111:f403:8000::/51 ip6:2a01:111:f403:c000::/51 ip6:2a01:111:f403:f000::/52 -all",
            "v=spf1 include:_netblocks.google.com include:_netblocks2.google.com include:_netblocks3.google.com ~all",
            "v=spf1 exists:%{i}._spf.mta.salesforce.com -all",
            "v=spf1 include:mail.zendesk.com include:servers.mcsv.net include:sendgrid.net include:amazonses.com ~all",
        ] {
            assert!(
                parse(record).is_ok(),
                "{record:?}: {}",
                parse(record).unwrap_err()
            );
        }
    }

    #[test]
    fn terms_are_read_with_their_positions() {
        let r = parse(
            "v=spf1 -ip4:192.0.2.0/24 a/24//64 include:_spf.example.com ~all redirect=x.example",
        )
        .unwrap();
        assert_eq!(r.terms.len(), 5);
        assert_eq!(r.terms[0].position, 1);
        assert_eq!(
            r.terms[0].kind,
            TermKind::Mechanism {
                qualifier: Qualifier::Fail,
                mechanism: Mechanism::Ip4 {
                    network: Ipv4Addr::new(192, 0, 2, 0),
                    prefix: Some(24)
                }
            }
        );
        assert_eq!(
            r.terms[1].kind.mechanism(),
            Some(&Mechanism::A {
                domain: None,
                cidr: DualCidr {
                    ip4: Some(24),
                    ip6: Some(64)
                }
            })
        );
        let Some(Mechanism::Include(spec)) = r.terms[2].kind.mechanism() else {
            panic!("{:?}", r.terms[2]);
        };
        assert_eq!(spec.target().as_deref(), Some("_spf.example.com"));
        assert!(r.has_all());
        assert_eq!(r.redirect().map(|(t, _)| t.position), Some(5));
        assert!(r.terms[4].kind.queries_dns());
        assert!(!r.terms[0].kind.queries_dns());
    }

    #[test]
    fn arguments_are_checked() {
        use Reason::*;
        assert_error("v=spf1 ip4:1.2.3.4/33 -all", "ip4:1.2.3.4/33", 1, |r| {
            *r == Ip4PrefixRange("33".into())
        });
        assert_error("v=spf1 ip4:1.2.3 -all", "ip4:1.2.3", 1, |r| {
            matches!(r, BadIp4(_))
        });
        assert_error("v=spf1 a ip4:01.2.3.4", "ip4:01.2.3.4", 2, |r| {
            matches!(r, BadIp4(_))
        });
        assert_error("v=spf1 ip4:256.2.3.4", "ip4:256.2.3.4", 1, |r| {
            matches!(r, BadIp4(_))
        });
        assert_error("v=spf1 ip4:1.2.3.4/024", "ip4:1.2.3.4/024", 1, |r| {
            matches!(r, PrefixLeadingZero(_))
        });
        assert_error("v=spf1 ip4:1.2.3.4/", "ip4:1.2.3.4/", 1, |r| {
            matches!(r, BadCidr(_))
        });
        assert_error("v=spf1 ip4:", "ip4:", 1, |r| {
            matches!(r, MissingAddress("ip4", _))
        });
        assert_error("v=spf1 ip4", "ip4", 1, |r| {
            matches!(r, MissingAddress("ip4", _))
        });
        assert_error("v=spf1 ip6::CAFE::BABE", "ip6::CAFE::BABE", 1, |r| {
            matches!(r, BadIp6(_))
        });
        assert_error("v=spf1 ip6:1::2::3", "ip6:1::2::3", 1, |r| {
            matches!(r, BadIp6(_))
        });
        assert_error("v=spf1 ip6:1:2:3:4:5:6:7", "ip6:1:2:3:4:5:6:7", 1, |r| {
            matches!(r, BadIp6(_))
        });
        assert_error("v=spf1 ip6:12345::", "ip6:12345::", 1, |r| {
            matches!(r, BadIp6(_))
        });
        assert_error(
            "v=spf1 ip6:::ffff:1.2.3.04",
            "ip6:::ffff:1.2.3.04",
            1,
            |r| matches!(r, BadIp6(_)),
        );
        assert_error("v=spf1 ip6:fe80::1%eth0", "ip6:fe80::1%eth0", 1, |r| {
            matches!(r, BadIp6(_))
        });
        assert_error("v=spf1 ip6:2001:db8::/129", "ip6:2001:db8::/129", 1, |r| {
            *r == Ip6PrefixRange("129".into())
        });
        assert_error("v=spf1 ip4:2001:db8::", "ip4:2001:db8::", 1, |r| {
            matches!(r, BadIp4(_))
        });
        assert_error("v=spf1 a/33", "a/33", 1, |r| {
            *r == Ip4PrefixRange("33".into())
        });
        assert_error("v=spf1 mx//129", "mx//129", 1, |r| {
            *r == Ip6PrefixRange("129".into())
        });
        assert_error(
            "v=spf1 a:example.com/24/64",
            "a:example.com/24/64",
            1,
            |r| matches!(r, BadCidr(_)),
        );
        assert_error("v=spf1 a/", "a/", 1, |r| matches!(r, BadCidr(_)));
        assert_error("v=spf1 mx:example.com//", "mx:example.com//", 1, |r| {
            matches!(r, BadCidr(_))
        });
        assert_error(
            "v=spf1 exists:mail.example.com/24",
            "exists:mail.example.com/24",
            1,
            |r| matches!(r, NoCidrAllowed { mechanism: "exists", cidr } if cidr == "/24"),
        );
        assert_error("v=spf1 ptr/0", "ptr/0", 1, |r| {
            matches!(
                r,
                NoCidrAllowed {
                    mechanism: "ptr",
                    ..
                }
            )
        });
        assert_error("v=spf1 ptr:example.com/8", "ptr:example.com/8", 1, |r| {
            matches!(
                r,
                NoCidrAllowed {
                    mechanism: "ptr",
                    ..
                }
            )
        });
        assert_error(
            "v=spf1 include:_spf.example.com/24",
            "include:_spf.example.com/24",
            1,
            |r| {
                matches!(
                    r,
                    NoCidrAllowed {
                        mechanism: "include",
                        ..
                    }
                )
            },
        );
        assert_error("v=spf1 include -all", "include", 1, |r| {
            *r == MissingDomain("include")
        });
        assert_error("v=spf1 include: -all", "include:", 1, |r| {
            *r == MissingDomain("include")
        });
        assert_error("v=spf1 exists", "exists", 1, |r| {
            *r == MissingDomain("exists")
        });
        assert_error("v=spf1 a: -all", "a:", 1, |r| *r == MissingDomain("a"));
        assert_error("v=spf1 all:x", "all:x", 1, |r| *r == AllTakesNothing);
        assert_error("v=spf1 -all/24", "-all/24", 1, |r| *r == AllTakesNothing);
        assert_error("v=spf1 bogus:x -all", "bogus:x", 1, |r| {
            *r == UnknownMechanism("bogus".into())
        });
        assert_error("v=spf1 ip:1.2.3.4", "ip:1.2.3.4", 1, |r| {
            matches!(r, UnknownMechanism(_))
        });
        assert_error("v=spf1 +", "+", 1, |r| matches!(r, UnknownMechanism(_)));
    }

    #[test]
    fn domain_specs_follow_the_toplabel_rules() {
        use Reason::*;
        assert_error("v=spf1 a:foo-bar -all", "a:foo-bar", 1, |r| {
            matches!(r, DomainNoDot(_))
        });
        assert_error(
            "v=spf1 a:abc.123 -all",
            "a:abc.123",
            1,
            |r| matches!(r, BadTopLabel { label, .. } if label == "123"),
        );
        assert_error(
            "v=spf1 a:example.-com -all",
            "a:example.-com",
            1,
            |r| matches!(r, BadTopLabel { label, .. } if label == "-com"),
        );
        assert_error("v=spf1 a:example.com- -all", "a:example.com-", 1, |r| {
            matches!(r, BadTopLabel { .. })
        });
        assert_error(
            "v=spf1 a:example.com:8080 -all",
            "a:example.com:8080",
            1,
            |r| matches!(r, BadTopLabel { label, .. } if label == "com:8080"),
        );
        assert_error(
            "v=spf1 include:example.com.. -all",
            "include:example.com..",
            1,
            |r| matches!(r, BadTopLabel { .. }),
        );
        assert_error(
            "v=spf1 include:a..example.com",
            "include:a..example.com",
            1,
            |r| matches!(r, EmptyLabel(_)),
        );
        assert_error("v=spf1 include:.com", "include:.com", 1, |r| {
            matches!(r, EmptyLabel(_))
        });
        let long = format!("v=spf1 include:{}.com", "a".repeat(64));
        assert!(matches!(error(&long).reason, LabelTooLong(_)));
        assert_error("v=spf1 a:%{d}x -all", "a:%{d}x", 1, |r| {
            matches!(r, DomainNoDot(_))
        });
        assert_error("v=spf1 include:%{d}.1", "include:%{d}.1", 1, |r| {
            matches!(r, BadTopLabel { .. })
        });
    }

    #[test]
    fn macros_are_checked() {
        use Reason::*;
        assert_error(
            "v=spf1 -exists:%(ir).sbl.example.org",
            "-exists:%(ir).sbl.example.org",
            1,
            |r| matches!(r, LonePercent { .. }),
        );
        assert_error(
            "v=spf1 a:%{a}.example.com",
            "a:%{a}.example.com",
            1,
            |r| matches!(r, BadMacroLetter { letter, .. } if letter == "a"),
        );
        assert_error(
            "v=spf1 exists:%{c}.example.com",
            "exists:%{c}.example.com",
            1,
            |r| matches!(r, MacroOnlyInExp { letter: 'c', .. }),
        );
        assert_error(
            "v=spf1 exists:%{T}.example.com",
            "exists:%{T}.example.com",
            1,
            |r| matches!(r, MacroOnlyInExp { letter: 't', .. }),
        );
        assert_error(
            "v=spf1 exists:%{d0}.example.com",
            "exists:%{d0}.example.com",
            1,
            |r| matches!(r, ZeroDigitTransformer { .. }),
        );
        assert_error(
            "v=spf1 exists:%{ir.example.com",
            "exists:%{ir.example.com",
            1,
            |r| matches!(r, MalformedMacro { .. }),
        );
        assert_error(
            "v=spf1 exists:%{i}.example.com%",
            "exists:%{i}.example.com%",
            1,
            |r| matches!(r, LonePercent { .. }),
        );
        assert_error("v=spf1 exists:%{", "exists:%{", 1, |r| {
            matches!(r, MalformedMacro { .. })
        });
        assert_error("v=spf1 exists:%{i!}.x.com", "exists:%{i!}.x.com", 1, |r| {
            matches!(r, MalformedMacro { .. })
        });
        assert_error(
            "v=spf1 exp=%{c}.example.com",
            "exp=%{c}.example.com",
            1,
            |r| matches!(r, MacroOnlyInExp { .. }),
        );
        // Every macro form of RFC 7208 7.4, upper case included.
        for spec in [
            "%{s}",
            "%{o}",
            "%{d}",
            "%{d4}",
            "%{d3}",
            "%{d2}",
            "%{d1}",
            "%{dr}",
            "%{d2r}",
            "%{l}",
            "%{l-}",
            "%{lr}",
            "%{lr-}",
            "%{l1r-}",
            "%{S}",
            "%{IR}",
            "%{h}",
            "%{p}",
            "%{v}",
            "%{i10r.-+,/_=}",
        ] {
            let record = format!("v=spf1 exists:{spec}.example.com");
            assert!(
                parse(&record).is_ok(),
                "{record}: {}",
                parse(&record).unwrap_err()
            );
        }
    }

    #[test]
    fn modifiers_are_checked() {
        use Reason::*;
        assert_error("v=spf1 1up=foo", "1up=foo", 1, |r| {
            *r == BadModifierName("1up".into())
        });
        assert_error("v=spf1 =foo", "=foo", 1, |r| {
            *r == BadModifierName(String::new())
        });
        assert_error("v=spf1 exp=", "exp=", 1, |r| *r == EmptyModifier("exp"));
        assert_error("v=spf1 redirect=", "redirect=", 1, |r| {
            *r == EmptyModifier("redirect")
        });
        assert_error(
            "v=spf1 -redirect=x.example",
            "-redirect=x.example",
            1,
            |r| *r == QualifiedModifier,
        );
        assert_error(
            "v=spf1 redirect=a.example REDIRECT=b.example",
            "REDIRECT=b.example",
            2,
            |r| *r == DuplicateModifier("redirect"),
        );
        assert_error(
            "v=spf1 exp=a.example -all exp=b.example",
            "exp=b.example",
            3,
            |r| *r == DuplicateModifier("exp"),
        );
        assert_error("v=spf1 redirect=foo", "redirect=foo", 1, |r| {
            matches!(r, DomainNoDot(_))
        });
        assert_error("v=spf1 foo=%", "foo=%", 1, |r| {
            matches!(r, LonePercent { .. })
        });
        // a=b is an unknown modifier named "a", which the ABNF allows.
        assert!(parse("v=spf1 a=b foo.bar_baz-1=x:y/z -all").is_ok());
    }

    #[test]
    fn only_spaces_separate_terms() {
        use Reason::*;
        assert_error("v=spf1 mx\r\n-all", "mx\\u{d}\\u{a}-all", 1, |r| {
            *r == Whitespace("a carriage return (\\r)".into())
        });
        assert_error("v=spf1 a mx\n-all", "mx\\u{a}-all", 2, |r| {
            *r == Whitespace("a line feed (\\n)".into())
        });
        assert_error("v=spf1 a\tmx", "a\\u{9}mx", 1, |r| {
            *r == Whitespace("a tab (\\t)".into())
        });
        assert_error("v=spf1\t-all", "v=spf1\\u{9}-all", 0, |r| {
            matches!(r, Whitespace(_))
        });
        assert_error(
            "v=spf1 a:\u{1b}[2J.example.com",
            "a:\\u{1b}[2J.example.com",
            1,
            |r| matches!(r, ControlCharacter(_)),
        );
        assert_error("v=spf1 a:bücher.example", "a:bücher.example", 1, |r| {
            matches!(r, NonAscii(_))
        });
        assert_error(" v=spf1 -all", "v=spf1", 0, |r| {
            matches!(r, LeadingWhitespace(_))
        });
        assert_error("v=spf10 -all", "v=spf10", 0, |r| *r == NotSpf);
    }

    #[test]
    fn all_errors_come_at_once() {
        let SyntaxErrors(errors) = parse("v=spf1 a/33 mx include ip4:1.2.3 -all exp=").unwrap_err();
        let positions: Vec<usize> = errors.iter().map(|e| e.position).collect();
        assert_eq!(positions, vec![1, 3, 4, 6]);
        let shown = SyntaxErrors(errors).to_string();
        assert!(
            shown
                .starts_with("term 1 \"a/33\": the IPv4 prefix length /33 is over 32 (and 3 more)"),
            "{shown}"
        );
    }

    #[test]
    fn spf_records_are_recognised() {
        assert!(is_spf("v=spf1"));
        assert!(is_spf("V=SPF1 -all"));
        assert!(is_spf(" v=spf1 -all"));
        assert!(is_spf("v=spf1\t-all"));
        assert!(!is_spf("v=spf10 -all"));
        assert!(!is_spf("v=spf"));
        assert!(!is_spf("google-site-verification=x"));
        assert!(!is_spf("v=spf1é"));
    }

    proptest::proptest! {
        #[test]
        fn nothing_panics_and_errors_are_printable(
            text in "\\PC{0,120}|v=spf1( [-+~?]?(all|include:[a-z%{}.]{0,10}|a|mx|ptr|exists:[a-z%{}.]{0,8}|ip4:[0-9./]{0,16}|ip6:[0-9a-f:./]{0,20}|redirect=[a-z.%{}]{0,8}|exp=[a-z.]{0,6}|[a-z0-9=:/%{}.\\x00-\\x1f\\x7f-]{0,10})){0,10}"
        ) {
            match parse(&text) {
                Ok(record) => {
                    for term in &record.terms {
                        proptest::prop_assert!(term.position >= 1);
                    }
                }
                Err(SyntaxErrors(errors)) => {
                    proptest::prop_assert!(!errors.is_empty());
                    for e in &errors {
                        proptest::prop_assert!(!e.to_string().chars().any(char::is_control), "{e:?}");
                        proptest::prop_assert!(!e.term.chars().any(char::is_control), "{e:?}");
                    }
                }
            }
        }
    }
}
