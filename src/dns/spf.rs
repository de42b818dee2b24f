//! SPF (RFC 7208): parse, count DNS-querying terms, and build the records to
//! publish during the migration (R5: old and new; R9: new only).
//!
//! A small parser of our own: mail-auth pulls a mail parser, RSA and its own
//! resolver for what is here a few dozen lines, and viaspf evaluates a sender
//! against a policy rather than reporting lookup counts.

use std::collections::BTreeSet;

/// SPF's limit on DNS-querying terms (RFC 7208 §4.6.4).
pub const LOOKUP_LIMIT: u32 = 10;
/// SPF's limit on lookups that return nothing (RFC 7208 §4.6.4).
pub const VOID_LIMIT: u32 = 2;
/// How deep includes are followed before we call it a loop.
const MAX_DEPTH: usize = 12;

/// One term of an SPF record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// `[qualifier]name[:value][/cidr]`, e.g. `include:_spf.example`, `-all`.
    Mechanism {
        qualifier: char,
        name: String,
        value: Option<String>,
    },
    /// `name=value`, e.g. `redirect=_spf.example`.
    Modifier { name: String, value: String },
}

impl Term {
    /// Whether evaluating this term costs a DNS lookup (RFC 7208 §4.6.4).
    pub fn queries_dns(&self) -> bool {
        match self {
            Term::Mechanism { name, .. } => {
                matches!(name.as_str(), "include" | "a" | "mx" | "ptr" | "exists")
            }
            Term::Modifier { name, .. } => name == "redirect",
        }
    }

    /// The domain whose SPF record this term pulls in (include, redirect).
    pub fn target(&self) -> Option<&str> {
        match self {
            Term::Mechanism {
                name,
                value: Some(v),
                ..
            } if name == "include" => Some(v),
            Term::Modifier { name, value } if name == "redirect" => Some(value),
            _ => None,
        }
    }
}

/// A parsed `v=spf1` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfRecord {
    pub terms: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpfError {
    /// The record does not start with `v=spf1`.
    #[error("the record does not start with v=spf1")]
    NotSpf,
    /// A term is not SPF syntax.
    #[error("\"{0}\" is not an SPF term")]
    BadTerm(String),
}

/// Whether a TXT record is an SPF record (RFC 7208 §4.5: `v=spf1` then a space or the end).
pub fn is_spf(txt: &str) -> bool {
    let lower = txt.trim_start().to_ascii_lowercase();
    lower == "v=spf1" || lower.starts_with("v=spf1 ")
}

pub fn parse(record: &str) -> Result<SpfRecord, SpfError> {
    if !is_spf(record) {
        return Err(SpfError::NotSpf);
    }
    let mut terms = Vec::new();
    for word in record.split_ascii_whitespace().skip(1) {
        terms.push(parse_term(word)?);
    }
    Ok(SpfRecord { terms })
}

const MECHANISMS: [&str; 8] = ["all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"];

fn parse_term(word: &str) -> Result<Term, SpfError> {
    let bad = || SpfError::BadTerm(word.to_string());
    // A modifier's name is alphanumeric and comes before '='; a mechanism may
    // hold '=' only inside its domain part (after ':').
    if let Some((name, value)) = word.split_once('=')
        && !name.is_empty()
        && !name.contains(':')
        && !name.contains('/')
    {
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return Err(bad());
        }
        return Ok(Term::Modifier {
            name: name.to_ascii_lowercase(),
            value: value.to_string(),
        });
    }
    let (qualifier, rest) = match word.chars().next() {
        Some(q @ ('+' | '-' | '~' | '?')) => (q, &word[1..]),
        _ => ('+', word),
    };
    let split_at = rest.find([':', '/']).unwrap_or(rest.len());
    let name = rest[..split_at].to_ascii_lowercase();
    if !MECHANISMS.contains(&name.as_str()) {
        return Err(bad());
    }
    let value = match rest[split_at..].strip_prefix(':') {
        Some("") => return Err(bad()),
        Some(v) => Some(v.to_string()),
        None if rest.len() > split_at => Some(rest[split_at..].to_string()),
        None => None,
    };
    if matches!(name.as_str(), "include" | "exists" | "ip4" | "ip6") && value.is_none() {
        return Err(bad());
    }
    if name == "all" && value.is_some() {
        return Err(bad());
    }
    Ok(Term::Mechanism {
        qualifier,
        name,
        value,
    })
}

/// What looking up a domain's SPF record gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The TXT records at that name.
    Records(Vec<String>),
    /// NXDOMAIN or no TXT: a void lookup.
    Void,
    /// Not looked up (or no definite answer).
    Unknown,
}

/// DNS-querying terms counted through includes and redirects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LookupCount {
    pub dns_terms: u32,
    pub void: u32,
    /// Included domains we have no answer for: their own terms are not counted.
    pub unresolved: Vec<String>,
    /// Included domains whose record is missing, doubled or broken.
    pub problems: Vec<String>,
}

impl LookupCount {
    pub fn within_limits(&self) -> bool {
        self.dns_terms <= LOOKUP_LIMIT && self.void <= VOID_LIMIT
    }
}

/// Counts DNS-querying terms of `record`, following include/redirect through `lookup`.
pub fn count_lookups(record: &SpfRecord, lookup: &dyn Fn(&str) -> Fetched) -> LookupCount {
    let mut count = LookupCount::default();
    let mut path = Vec::new();
    count_into(record, lookup, &mut count, &mut path);
    count
}

fn count_into(
    record: &SpfRecord,
    lookup: &dyn Fn(&str) -> Fetched,
    count: &mut LookupCount,
    path: &mut Vec<String>,
) {
    for term in &record.terms {
        if !term.queries_dns() {
            continue;
        }
        count.dns_terms = count.dns_terms.saturating_add(1);
        let Some(target) = term.target() else {
            continue;
        };
        let target = target.trim_end_matches('.').to_ascii_lowercase();
        if path.contains(&target) || path.len() >= MAX_DEPTH {
            count
                .problems
                .push(format!("{target} includes itself (a loop)"));
            // A loop never ends within the limit: make the count say so.
            count.dns_terms = count.dns_terms.max(LOOKUP_LIMIT + 1);
            continue;
        }
        match lookup(&target) {
            Fetched::Unknown => count.unresolved.push(target),
            Fetched::Void => {
                count.void = count.void.saturating_add(1);
                count.problems.push(format!("{target} has no SPF record"));
            }
            Fetched::Records(txts) => {
                let spfs: Vec<&String> = txts.iter().filter(|t| is_spf(t)).collect();
                match spfs.as_slice() {
                    [] => {
                        count.void = count.void.saturating_add(1);
                        count.problems.push(format!("{target} has no SPF record"));
                    }
                    [one] => match parse(one) {
                        Ok(inner) => {
                            path.push(target);
                            count_into(&inner, lookup, count, path);
                            path.pop();
                        }
                        Err(e) => count.problems.push(format!("{target}: {e}")),
                    },
                    _ => count
                        .problems
                        .push(format!("{target} has {} SPF records", spfs.len())),
                }
            }
        }
        if count.dns_terms > 10 * LOOKUP_LIMIT {
            return; // far past the limit; stop walking
        }
    }
}

/// A term as compared with the plan's: lowercase, `+` implied, no trailing dot.
pub fn normalise_term(term: &str) -> String {
    let t = term.trim().to_ascii_lowercase();
    let t = t.strip_prefix('+').unwrap_or(&t);
    t.trim_end_matches('.').to_string()
}

/// The SPF picture at the apex, as far as one set of TXT records shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfAnalysis {
    /// How many `v=spf1` records are published (exactly one is valid).
    pub record_count: usize,
    pub record: Option<String>,
    pub parse_error: Option<String>,
    pub lookups: LookupCount,
    /// `+all` or `?all` when present: the record lets anyone send as the domain.
    pub permissive_all: Option<String>,
    pub missing_old: Vec<String>,
    pub missing_new: Vec<String>,
}

impl SpfAnalysis {
    pub fn is_valid(&self) -> bool {
        self.record_count == 1 && self.parse_error.is_none() && self.lookups.within_limits()
    }
}

pub fn analyse(
    txts: &[String],
    old_terms: &[String],
    new_terms: &[String],
    lookup: &dyn Fn(&str) -> Fetched,
) -> SpfAnalysis {
    let spfs: Vec<&String> = txts.iter().filter(|t| is_spf(t)).collect();
    let mut analysis = SpfAnalysis {
        record_count: spfs.len(),
        record: spfs.first().map(|s| s.to_string()),
        parse_error: None,
        lookups: LookupCount::default(),
        permissive_all: None,
        missing_old: old_terms.to_vec(),
        missing_new: new_terms.to_vec(),
    };
    let Some(first) = spfs.first() else {
        return analysis;
    };
    match parse(first) {
        Err(e) => analysis.parse_error = Some(e.to_string()),
        Ok(record) => {
            analysis.lookups = count_lookups(&record, lookup);
            for term in &record.terms {
                if let Term::Mechanism {
                    qualifier: q @ ('+' | '?'),
                    name,
                    ..
                } = term
                    && name == "all"
                {
                    analysis.permissive_all = Some(format!("{q}all"));
                }
            }
            let present: BTreeSet<String> = present_terms(first);
            analysis.missing_old = missing(old_terms, &present);
            analysis.missing_new = missing(new_terms, &present);
        }
    }
    analysis
}

fn present_terms(record: &str) -> BTreeSet<String> {
    record
        .split_ascii_whitespace()
        .skip(1)
        .map(normalise_term)
        .collect()
}

fn missing(wanted: &[String], present: &BTreeSet<String>) -> Vec<String> {
    wanted
        .iter()
        .filter(|t| !present.contains(&normalise_term(t)))
        .cloned()
        .collect()
}

/// The record to publish for R5: the current one with every old and new term
/// present (new terms go before `all` and the modifiers, so they take effect).
/// Without a current record: `v=spf1 <old> <new> ~all`.
pub fn merged_spf(current: Option<&str>, old_terms: &[String], new_terms: &[String]) -> String {
    let current = current.filter(|c| is_spf(c));
    let Some(current) = current else {
        let mut words = vec!["v=spf1".to_string()];
        words.extend(old_terms.iter().cloned());
        words.extend(new_terms.iter().cloned());
        words.push("~all".to_string());
        return words.join(" ");
    };
    let mut words: Vec<String> = current
        .split_ascii_whitespace()
        .skip(1)
        .map(str::to_string)
        .collect();
    let mut present: BTreeSet<String> = words.iter().map(|w| normalise_term(w)).collect();
    // Where the `all` mechanism or the first modifier stands, or the end.
    let insert_at = words
        .iter()
        .position(|w| {
            let n = normalise_term(w);
            matches!(n.as_str(), "all" | "-all" | "~all" | "?all") || is_modifier(&n)
        })
        .unwrap_or(words.len());
    let mut added = Vec::new();
    for term in old_terms.iter().chain(new_terms) {
        if present.insert(normalise_term(term)) {
            added.push(term.clone());
        }
    }
    words.splice(insert_at..insert_at, added);
    let mut out = vec!["v=spf1".to_string()];
    out.extend(words);
    out.join(" ")
}

fn is_modifier(normalised: &str) -> bool {
    normalised
        .split_once('=')
        .is_some_and(|(name, _)| !name.contains(':') && !name.contains('/'))
}

/// The record to publish for R9: the merged record without the old side's terms.
pub fn final_spf(current: Option<&str>, old_terms: &[String], new_terms: &[String]) -> String {
    let merged = merged_spf(current, &[], new_terms);
    let old: BTreeSet<String> = old_terms.iter().map(|t| normalise_term(t)).collect();
    let kept: Vec<&str> = merged
        .split_ascii_whitespace()
        .filter(|w| !old.contains(&normalise_term(w)))
        .collect();
    kept.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn map_lookup(map: BTreeMap<&'static str, Fetched>) -> impl Fn(&str) -> Fetched {
        move |d: &str| map.get(d).cloned().unwrap_or(Fetched::Unknown)
    }

    #[test]
    fn merged_record_keeps_old_adds_new_before_all() {
        let old = s(&["include:_spf.old.example"]);
        let new = s(&["include:_spf.new.example"]);
        assert_eq!(
            merged_spf(Some("v=spf1 include:_spf.old.example ~all"), &old, &new),
            "v=spf1 include:_spf.old.example include:_spf.new.example ~all"
        );
        assert_eq!(
            merged_spf(None, &old, &new),
            "v=spf1 include:_spf.old.example include:_spf.new.example ~all"
        );
        // Already merged: unchanged.
        let merged = "v=spf1 include:_spf.old.example include:_spf.new.example ~all";
        assert_eq!(merged_spf(Some(merged), &old, &new), merged);
        assert_eq!(
            final_spf(Some(merged), &old, &new),
            "v=spf1 include:_spf.new.example ~all"
        );
        assert_eq!(
            merged_spf(
                Some("v=spf1 ip4:192.0.2.1 redirect=_spf.x.example"),
                &old,
                &new
            ),
            "v=spf1 ip4:192.0.2.1 include:_spf.old.example include:_spf.new.example redirect=_spf.x.example"
        );
    }

    #[test]
    fn lookups_are_counted_through_includes() {
        let lookup = map_lookup(BTreeMap::from([
            (
                "_spf.old.example",
                Fetched::Records(s(&["v=spf1 ip4:192.0.2.0/24 a mx -all"])),
            ),
            (
                "_spf.new.example",
                Fetched::Records(s(&["v=spf1 include:_n2.new.example -all"])),
            ),
            (
                "_n2.new.example",
                Fetched::Records(s(&["v=spf1 exists:%{i}.x.example -all"])),
            ),
            ("gone.example", Fetched::Void),
        ]));
        let record =
            parse("v=spf1 include:_spf.old.example include:_spf.new.example ~all").unwrap();
        let count = count_lookups(&record, &lookup);
        // 2 top includes + a + mx + include + exists
        assert_eq!(count.dns_terms, 6);
        assert_eq!(count.void, 0);
        assert!(count.within_limits());

        let record =
            parse("v=spf1 include:gone.example include:gone.example include:gone.example -all")
                .unwrap();
        let count = count_lookups(&record, &lookup);
        assert_eq!(count.void, 3);
        assert!(!count.within_limits());
    }

    #[test]
    fn too_many_lookups_and_loops_are_over_the_limit() {
        let record = parse("v=spf1 a mx a:x.example mx:y.example a a a a a a a -all").unwrap();
        assert_eq!(
            count_lookups(&record, &|_: &str| Fetched::Unknown).dns_terms,
            11
        );
        let looped = |_: &str| Fetched::Records(s(&["v=spf1 include:loop.example -all"]));
        let record = parse("v=spf1 include:loop.example -all").unwrap();
        assert!(!count_lookups(&record, &looped).within_limits());
    }

    #[test]
    fn analysis_flags_permissive_all_and_two_records() {
        let old = s(&["include:_spf.old.example"]);
        let new = s(&["include:_spf.new.example"]);
        let txts = s(&[
            "v=spf1 include:_spf.old.example +all",
            "google-site-verification=x",
        ]);
        let a = analyse(&txts, &old, &new, &|_: &str| Fetched::Unknown);
        assert_eq!(a.record_count, 1);
        assert_eq!(a.permissive_all.as_deref(), Some("+all"));
        assert!(a.missing_old.is_empty());
        assert_eq!(a.missing_new, new);
        let two = s(&["v=spf1 -all", "v=spf1 include:_spf.new.example -all"]);
        assert!(!analyse(&two, &old, &new, &|_: &str| Fetched::Unknown).is_valid());
    }

    #[test]
    fn bad_terms_are_errors() {
        assert_eq!(parse("v=spf10 -all"), Err(SpfError::NotSpf));
        assert!(parse("v=spf1 include -all").is_err());
        assert!(parse("v=spf1 bogus:x -all").is_err());
        assert!(parse("V=SPF1 IP4:192.0.2.1 -ALL").is_ok());
    }

    proptest::proptest! {
        #[test]
        fn nothing_panics_on_any_text(text in "\\PC{0,200}", old in "\\PC{0,30}") {
            let _ = parse(&text);
            let _ = merged_spf(Some(&text), std::slice::from_ref(&old), std::slice::from_ref(&old));
            let _ = final_spf(Some(&text), std::slice::from_ref(&old), &[]);
            let txts = vec![text.clone()];
            let _ = analyse(&txts, std::slice::from_ref(&old), &[], &|_: &str| Fetched::Records(vec![text.clone()]));
        }

        #[test]
        fn nothing_panics_on_spf_like_text(body in "(v=spf1)( [-+~?]?(all|include:[a-z.]{0,8}|a|mx|ip4:[0-9./]{0,12}|redirect=[a-z.]{0,6}|[a-z=:/]{0,6})){0,12}") {
            let _ = parse(&body);
            let _ = analyse(std::slice::from_ref(&body), &[], &[], &|_: &str| Fetched::Records(vec![body.clone()]));
        }
    }
}
