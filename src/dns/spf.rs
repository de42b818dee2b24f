//! SPF (RFC 7208) judged as receivers judge it: the record's syntax
//! (`syntax::spf`), then the limits of section 4.6.4 over the whole
//! include/redirect tree; and the records to publish during the migration
//! (R5: old and new; R9: new only), which always pass that judgement's syntax.
//!
//! The evaluation is static: there is no sender, so every querying term is
//! taken as reached (as if nothing before it matched), up to the first `all`.
//! It asks its questions through a [`Lookup`] function, so that the same code
//! judges a DNS round's answers and plans which questions the round asks
//! (`dns::watch`).
//!
//! A parser and evaluator of our own: mail-auth pulls a mail parser, RSA and
//! its own resolver, and viaspf evaluates a sender against a policy rather
//! than reporting lookup counts and the term at fault.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::dns::query::Rtype;
use crate::sanitize::sanitize;
use crate::syntax::spf::{DomainSpec, Mechanism, Modifier, Record, Term, TermKind, parse_term};

pub use crate::syntax::spf::{SyntaxErrors, is_spf, parse};

/// SPF's limit on DNS-querying terms, over the whole tree (RFC 7208 4.6.4).
pub const LOOKUP_LIMIT: u32 = 10;
/// SPF's limit on lookups that find nothing (RFC 7208 4.6.4).
pub const VOID_LIMIT: u32 = 2;
/// The most MX hosts one `mx` term may name (RFC 7208 4.6.4).
pub const MX_HOSTS_LIMIT: usize = 10;

/// What one DNS question gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The records of the asked type (an empty list is a void answer).
    Records(Vec<String>),
    /// The name does not exist: a void lookup.
    NxDomain,
    /// The name exists without a record of that type: a void lookup.
    NoData,
    /// No definite answer (a timeout, SERVFAIL, a refusal), or not asked:
    /// receivers would return temperror, so the verdict is unknown.
    Unknown,
}

impl Fetched {
    fn is_void(&self) -> bool {
        match self {
            Fetched::Records(records) => records.is_empty(),
            Fetched::NxDomain | Fetched::NoData => true,
            Fetched::Unknown => false,
        }
    }
}

/// The evaluation's questions: TXT at include and redirect targets, A then
/// AAAA for `a`, A for `exists`, MX for `mx`. Names come without the final dot.
pub type Lookup<'a> = &'a dyn Fn(&str, Rtype) -> Fetched;

/// What receivers would make of the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpfResult {
    /// Within every limit, nothing to remark.
    Pass,
    /// Within every limit, with something to fix (e.g. `ptr`).
    Warn,
    /// Receivers reject the record as a permanent error.
    Permerror,
    /// A lookup had no definite answer: unknown, never a fail.
    Temperror,
}

/// One finding, at the term of the domain's own record that leads to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpfProblem {
    /// The term as written, control characters made visible.
    pub term: String,
    /// Its 1-based index among the record's terms (0: the `v=spf1` version).
    pub position: usize,
    /// What is wrong; for a finding deep in an include, the chain that leads there.
    pub reason: String,
}

/// The judgement of one SPF record (`status --json`'s `spf`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpfVerdict {
    pub result: SpfResult,
    /// `true` when receivers can use the record (pass or warn), `false` on a
    /// permerror, `null` when unknown (a temperror).
    pub valid: Option<bool>,
    /// DNS-querying terms counted across the tree. Past the limit nothing more
    /// is looked up, so it is then a lower bound.
    pub lookups: u32,
    pub void_lookups: u32,
    /// Why receivers return permerror.
    pub errors: Vec<SpfProblem>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<SpfProblem>,
    /// Lookups without a definite answer (temperror).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unresolved: Vec<SpfProblem>,
}

impl SpfVerdict {
    /// Every finding in one sentence-ready list: `term N "text": reason`.
    pub fn describe(problems: &[SpfProblem]) -> String {
        problems
            .iter()
            .map(|p| {
                if p.position == 0 {
                    format!("\"{}\": {}", p.term, p.reason)
                } else {
                    format!("term {} \"{}\": {}", p.position, p.term, p.reason)
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Judges the SPF record `record` published at `domain`.
pub fn evaluate(domain: &str, record: &str, lookup: Lookup) -> SpfVerdict {
    let domain = normalise_domain(domain);
    let mut walk = Walk {
        lookup,
        lookups: 0,
        void: 0,
        errors: vec![],
        warnings: vec![],
        unresolved: vec![],
    };
    match parse(record) {
        Err(SyntaxErrors(errors)) => {
            walk.errors = errors
                .into_iter()
                .map(|e| SpfProblem {
                    term: e.term,
                    position: e.position,
                    reason: e.reason.to_string(),
                })
                .collect();
        }
        Ok(parsed) => {
            let mut at = Place {
                domains: vec![domain.clone()],
                chain: vec![],
                origin: None,
            };
            walk.record(&domain, &parsed, &mut at);
        }
    }
    let result = if !walk.errors.is_empty() {
        SpfResult::Permerror
    } else if !walk.unresolved.is_empty() {
        SpfResult::Temperror
    } else if !walk.warnings.is_empty() {
        SpfResult::Warn
    } else {
        SpfResult::Pass
    };
    SpfVerdict {
        result,
        valid: match result {
            SpfResult::Pass | SpfResult::Warn => Some(true),
            SpfResult::Permerror => Some(false),
            SpfResult::Temperror => None,
        },
        lookups: walk.lookups,
        void_lookups: walk.void,
        errors: walk.errors,
        warnings: walk.warnings,
        unresolved: walk.unresolved,
    }
}

fn normalise_domain(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Where the walk stands: the domains on the way (for loops), the terms that
/// led here, and the top-level term findings are reported at.
struct Place {
    domains: Vec<String>,
    /// `include:a.example`, `redirect=b.example`, ... from the top record down.
    chain: Vec<String>,
    /// The top-level term (text, position) when inside an include or redirect.
    origin: Option<(String, usize)>,
}

struct Walk<'a> {
    lookup: Lookup<'a>,
    lookups: u32,
    void: u32,
    errors: Vec<SpfProblem>,
    warnings: Vec<SpfProblem>,
    unresolved: Vec<SpfProblem>,
}

enum Kind {
    Error,
    Warning,
    Unresolved,
}

impl Walk<'_> {
    fn note(&mut self, kind: Kind, at: &Place, term: &Term, reason: String) {
        let problem = match &at.origin {
            None => SpfProblem {
                term: sanitize(&term.text),
                position: term.position,
                reason,
            },
            Some((text, position)) => SpfProblem {
                term: text.clone(),
                position: *position,
                reason: format!(
                    "via {}, term {} \"{}\": {reason}",
                    at.chain.join(" → "),
                    term.position,
                    sanitize(&term.text)
                ),
            },
        };
        match kind {
            Kind::Error => self.errors.push(problem),
            Kind::Warning => self.warnings.push(problem),
            Kind::Unresolved => self.unresolved.push(problem),
        }
    }

    /// Past the limit receivers have stopped: nothing more is looked up.
    fn exhausted(&self) -> bool {
        self.lookups > LOOKUP_LIMIT
    }

    fn count_lookup(&mut self, at: &Place, term: &Term) {
        self.lookups = self.lookups.saturating_add(1);
        if self.lookups == LOOKUP_LIMIT + 1 {
            self.note(
                Kind::Error,
                at,
                term,
                format!(
                    "this is DNS lookup {}: receivers allow {LOOKUP_LIMIT} (include, a, mx, ptr, exists, redirect, counted across every included record; RFC 7208 4.6.4) and stop with a permerror",
                    self.lookups
                ),
            );
        }
    }

    fn count_void(&mut self, at: &Place, term: &Term, what: String) {
        self.void = self.void.saturating_add(1);
        if self.void == VOID_LIMIT + 1 {
            self.note(
                Kind::Error,
                at,
                term,
                format!(
                    "{what}: the third lookup that finds nothing (a void lookup); receivers allow {VOID_LIMIT} (RFC 7208 4.6.4) and stop with a permerror"
                ),
            );
        }
    }

    fn record(&mut self, domain: &str, record: &Record, at: &mut Place) {
        let mut after_all = false;
        for term in &record.terms {
            let TermKind::Mechanism { mechanism, .. } = &term.kind else {
                if let TermKind::Modifier(Modifier::Unknown { name, .. }) = &term.kind
                    && is_mechanism_name(name)
                {
                    self.note(
                        Kind::Warning,
                        at,
                        term,
                        format!("\"{name}=\" is a modifier receivers ignore; \"{name}:\" was probably meant"),
                    );
                }
                continue;
            };
            if after_all {
                if at.origin.is_none() {
                    self.note(
                        Kind::Warning,
                        at,
                        term,
                        "it comes after \"all\", so receivers never evaluate it (RFC 7208 5.1); move it before \"all\"".into(),
                    );
                }
                continue;
            }
            match mechanism {
                Mechanism::All => after_all = true,
                Mechanism::Ip4 { .. } | Mechanism::Ip6 { .. } => {}
                Mechanism::Include(spec) => {
                    self.count_lookup(at, term);
                    self.follow(term, spec, at);
                }
                Mechanism::A { domain: spec, .. } => {
                    self.count_lookup(at, term);
                    if let Some(target) = target_of(spec.as_ref(), domain) {
                        self.addresses(term, &target, at);
                    }
                }
                Mechanism::Mx { domain: spec, .. } => {
                    self.count_lookup(at, term);
                    if let Some(target) = target_of(spec.as_ref(), domain) {
                        self.mx(term, &target, at);
                    }
                }
                Mechanism::Ptr(_) => {
                    self.count_lookup(at, term);
                    self.note(
                        Kind::Warning,
                        at,
                        term,
                        "ptr is slow and unreliable, and RFC 7208 5.5 says not to use it: list the senders' addresses (ip4:, ip6:) or their provider's include instead".into(),
                    );
                }
                Mechanism::Exists(spec) => {
                    self.count_lookup(at, term);
                    if let Some(target) = spec.target() {
                        self.exists(term, &target, at);
                    }
                }
            }
        }
        if let Some((term, spec)) = record.redirect() {
            if record.has_all() {
                self.note(
                    Kind::Warning,
                    at,
                    term,
                    "receivers ignore redirect= in a record that has \"all\" (RFC 7208 6.1); remove one of them".into(),
                );
            } else {
                self.count_lookup(at, term);
                self.follow(term, spec, at);
            }
        }
    }

    /// An include or redirect: the target's one SPF record, walked in turn.
    fn follow(&mut self, term: &Term, spec: &DomainSpec, at: &mut Place) {
        let how = if matches!(term.kind, TermKind::Modifier(_)) {
            "a redirect= to it is a permerror (RFC 7208 6.1)"
        } else {
            "an include of it is a permerror (RFC 7208 5.2)"
        };
        let Some(target) = spec.target() else {
            self.note(
                Kind::Warning,
                at,
                term,
                "its target depends on the sender (a macro), so its own lookups cannot be counted here".into(),
            );
            return;
        };
        if at.domains.contains(&target) {
            let mut names = at.domains.clone();
            names.push(target);
            self.note(
                Kind::Error,
                at,
                term,
                format!(
                    "a loop: {} (receivers stop with a permerror)",
                    names.join(" → ")
                ),
            );
            return;
        }
        if self.exhausted() {
            return;
        }
        let spf = match (self.lookup)(&target, Rtype::TXT) {
            Fetched::Unknown => {
                self.note(
                    Kind::Unresolved,
                    at,
                    term,
                    format!("no definite answer for the TXT records of {target} (a timeout or server failure): receivers would return temperror"),
                );
                return;
            }
            fetched @ (Fetched::NxDomain | Fetched::NoData) => {
                let what = if fetched == Fetched::NxDomain {
                    format!("{target} does not exist (NXDOMAIN)")
                } else {
                    format!("{target} has no TXT record")
                };
                self.count_void(at, term, what.clone());
                self.note(Kind::Error, at, term, format!("{what}: {how}"));
                return;
            }
            Fetched::Records(txts) => {
                let spf: Vec<String> = txts.into_iter().filter(|t| is_spf(t)).collect();
                if spf.len() != 1 {
                    let what = if spf.is_empty() {
                        format!("{target} publishes no SPF record")
                    } else {
                        format!(
                            "{target} publishes {} SPF records (one is allowed, RFC 7208 4.5)",
                            spf.len()
                        )
                    };
                    self.note(Kind::Error, at, term, format!("{what}: {how}"));
                    return;
                }
                spf.into_iter().next().unwrap_or_default()
            }
        };
        let inner = match parse(&spf) {
            Ok(inner) => inner,
            Err(e) => {
                self.note(
                    Kind::Error,
                    at,
                    term,
                    format!("the SPF record of {target} is broken ({e}): {how}"),
                );
                return;
            }
        };
        let top = at.origin.is_none();
        if top {
            at.origin = Some((sanitize(&term.text), term.position));
        }
        at.chain.push(sanitize(&term.text));
        at.domains.push(target.clone());
        self.record(&target, &inner, at);
        at.domains.pop();
        at.chain.pop();
        if top {
            at.origin = None;
        }
    }

    /// `a`: A, then AAAA when there is no A (without a sender there is no
    /// telling which one receivers ask; a name with neither is void).
    fn addresses(&mut self, term: &Term, target: &str, at: &Place) {
        if self.exhausted() {
            return;
        }
        let outcome = match (self.lookup)(target, Rtype::A) {
            Fetched::Records(records) if !records.is_empty() => return,
            Fetched::Unknown => Fetched::Unknown,
            Fetched::NxDomain => Fetched::NxDomain,
            _ => (self.lookup)(target, Rtype::AAAA),
        };
        match outcome {
            Fetched::Unknown => self.note(
                Kind::Unresolved,
                at,
                term,
                format!("no definite answer for the addresses of {target}: receivers would return temperror"),
            ),
            Fetched::NxDomain => {
                self.count_void(at, term, format!("{target} does not exist (NXDOMAIN)"))
            }
            f if f.is_void() => {
                self.count_void(at, term, format!("{target} has no A or AAAA record"))
            }
            _ => {}
        }
    }

    /// `mx`: the MX set, at most 10 hosts (their addresses are not looked up here).
    fn mx(&mut self, term: &Term, target: &str, at: &Place) {
        if self.exhausted() {
            return;
        }
        match (self.lookup)(target, Rtype::MX) {
            Fetched::Unknown => self.note(
                Kind::Unresolved,
                at,
                term,
                format!(
                    "no definite answer for the MX of {target}: receivers would return temperror"
                ),
            ),
            Fetched::NxDomain => {
                self.count_void(at, term, format!("{target} does not exist (NXDOMAIN)"))
            }
            f if f.is_void() => self.count_void(at, term, format!("{target} has no MX record")),
            Fetched::Records(records) => {
                // Each MX record costs receivers an address lookup; the null MX names no host.
                let hosts = records
                    .iter()
                    .filter(|r| !crate::syntax::mx::parse_mx(r).is_ok_and(|mx| mx.is_null()))
                    .count();
                if hosts > MX_HOSTS_LIMIT {
                    self.note(
                        Kind::Error,
                        at,
                        term,
                        format!(
                            "{target} has {hosts} MX hosts; receivers look up the addresses of at most {MX_HOSTS_LIMIT} per mx term and return permerror past that (RFC 7208 4.6.4)"
                        ),
                    );
                }
            }
            _ => {}
        }
    }

    /// `exists`: an A lookup.
    fn exists(&mut self, term: &Term, target: &str, at: &Place) {
        if self.exhausted() {
            return;
        }
        match (self.lookup)(target, Rtype::A) {
            Fetched::Unknown => self.note(
                Kind::Unresolved,
                at,
                term,
                format!("no definite answer for the A record of {target}: receivers would return temperror"),
            ),
            Fetched::NxDomain => {
                self.count_void(at, term, format!("{target} does not exist (NXDOMAIN)"))
            }
            f if f.is_void() => self.count_void(at, term, format!("{target} has no A record")),
            _ => {}
        }
    }
}

/// The name an `a` or `mx` term looks up: its domain-spec, else the record's
/// own domain; `None` when a macro makes it depend on the sender.
fn target_of(spec: Option<&DomainSpec>, domain: &str) -> Option<String> {
    match spec {
        None => Some(domain.to_string()),
        Some(spec) => spec.target(),
    }
}

fn is_mechanism_name(name: &str) -> bool {
    matches!(
        name,
        "all" | "include" | "a" | "mx" | "ptr" | "ip4" | "ip6" | "exists"
    )
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
    /// How many `v=spf1` records are published (exactly one is valid, RFC 7208 4.5).
    pub record_count: usize,
    pub record: Option<String>,
    /// The judgement of the (first) record; `None` without one.
    pub verdict: Option<SpfVerdict>,
    /// `+all` or `?all` when present: the record lets anyone send as the domain.
    pub permissive_all: Option<String>,
    pub missing_old: Vec<String>,
    pub missing_new: Vec<String>,
}

impl SpfAnalysis {
    /// Exactly one record, which receivers can use.
    pub fn is_valid(&self) -> bool {
        self.record_count == 1 && self.verdict.as_ref().is_some_and(|v| v.valid == Some(true))
    }
}

/// The SPF records among `txts` (the TXT records at `domain`), judged, and
/// compared with the plan's old and new terms.
pub fn analyse(
    domain: &str,
    txts: &[String],
    old_terms: &[String],
    new_terms: &[String],
    lookup: Lookup,
) -> SpfAnalysis {
    let spfs: Vec<&String> = txts.iter().filter(|t| is_spf(t)).collect();
    let mut analysis = SpfAnalysis {
        record_count: spfs.len(),
        record: spfs.first().map(|s| s.to_string()),
        verdict: None,
        permissive_all: None,
        missing_old: old_terms.to_vec(),
        missing_new: new_terms.to_vec(),
    };
    let Some(first) = spfs.first() else {
        return analysis;
    };
    analysis.verdict = Some(evaluate(domain, first, lookup));
    if let Ok(record) = parse(first) {
        for term in &record.terms {
            if let TermKind::Mechanism {
                qualifier,
                mechanism: Mechanism::All,
            } = &term.kind
                && matches!(qualifier.as_char(), '+' | '?')
            {
                analysis.permissive_all = Some(format!("{}all", qualifier.as_char()));
            }
        }
    }
    let present: BTreeSet<String> = first
        .split_ascii_whitespace()
        .skip(1)
        .map(normalise_term)
        .collect();
    analysis.missing_old = missing(old_terms, &present);
    analysis.missing_new = missing(new_terms, &present);
    analysis
}

fn missing(wanted: &[String], present: &BTreeSet<String>) -> Vec<String> {
    wanted
        .iter()
        .filter(|t| !present.contains(&normalise_term(t)))
        .cloned()
        .collect()
}

/// A record to publish, and the terms of the current record left out of it
/// because receivers would reject them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub record: String,
    /// Left out, control characters made visible.
    pub dropped: Vec<String>,
}

/// A plan term as it goes into a merged record: `redirect=X` becomes
/// `include:X` (a record naming several senders cannot redirect to one of
/// them); `all` and anything not SPF syntax are left out (the plan loader
/// refuses them already).
fn plan_term(term: &str) -> Option<String> {
    let term = term.trim();
    match parse_term(term).ok()? {
        kind if kind.is_all() => None,
        TermKind::Modifier(Modifier::Redirect(spec)) => Some(format!("include:{spec}")),
        _ => Some(term.to_string()),
    }
}

fn kind_of(word: &str) -> Option<TermKind> {
    parse_term(word).ok()
}

/// The record to publish for R5: the current one with every old and new term
/// present (added before `all` and the modifiers, so they take effect), its
/// terms receivers would reject left out, separated by single spaces.
/// Without a current record: `v=spf1 <old> <new> ~all`.
pub fn merge(current: Option<&str>, old_terms: &[String], new_terms: &[String]) -> Merged {
    let plan_terms: Vec<String> = old_terms
        .iter()
        .chain(new_terms)
        .filter_map(|t| plan_term(t))
        .collect();
    let mut words: Vec<String> = Vec::new();
    let mut dropped = Vec::new();
    let mut from_scratch = true;
    if let Some(current) = current.filter(|c| is_spf(c)) {
        from_scratch = false;
        let (mut redirect, mut exp) = (false, false);
        for word in current.split_ascii_whitespace().skip(1) {
            match kind_of(word) {
                Some(TermKind::Modifier(Modifier::Redirect(_))) if redirect => {
                    dropped.push(sanitize(word))
                }
                Some(TermKind::Modifier(Modifier::Exp(_))) if exp => dropped.push(sanitize(word)),
                Some(kind) => {
                    redirect |= matches!(kind, TermKind::Modifier(Modifier::Redirect(_)));
                    exp |= matches!(kind, TermKind::Modifier(Modifier::Exp(_)));
                    words.push(word.to_string());
                }
                None => dropped.push(sanitize(word)),
            }
        }
    }
    let mut present: BTreeSet<String> = words.iter().map(|w| normalise_term(w)).collect();
    let mut has_exp = words
        .iter()
        .any(|w| matches!(kind_of(w), Some(TermKind::Modifier(Modifier::Exp(_)))));
    // Where the `all` mechanism or the first modifier stands, or the end.
    let insert_at = words
        .iter()
        .position(|w| kind_of(w).is_some_and(|k| k.is_all() || k.is_modifier()))
        .unwrap_or(words.len());
    let mut added = Vec::new();
    for term in plan_terms {
        let is_exp = matches!(kind_of(&term), Some(TermKind::Modifier(Modifier::Exp(_))));
        if is_exp && has_exp {
            continue;
        }
        if present.insert(normalise_term(&term)) {
            has_exp |= is_exp;
            added.push(term);
        }
    }
    words.splice(insert_at..insert_at, added);
    if from_scratch {
        words.push("~all".to_string());
    }
    let mut out = vec!["v=spf1".to_string()];
    out.extend(words);
    Merged {
        record: out.join(" "),
        dropped,
    }
}

/// [`merge`]'s record alone.
pub fn merged_spf(current: Option<&str>, old_terms: &[String], new_terms: &[String]) -> String {
    merge(current, old_terms, new_terms).record
}

/// The record to publish for R9: the current one with the new server's terms
/// and without the old server's (a term both sides name stays). When the old
/// side's `redirect=` was the record's policy, `~all` takes its place.
pub fn final_spf(current: Option<&str>, old_terms: &[String], new_terms: &[String]) -> String {
    let merged = merged_spf(current, &[], new_terms);
    let forms = |terms: &[String]| -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for term in terms {
            out.insert(normalise_term(term));
            if let Some(t) = plan_term(term) {
                out.insert(normalise_term(&t));
            }
            if let Some(TermKind::Modifier(Modifier::Redirect(spec))) = kind_of(term.trim()) {
                out.insert(normalise_term(&format!("redirect={spec}")));
            }
        }
        out
    };
    let new = forms(new_terms);
    let old: BTreeSet<String> = forms(old_terms).difference(&new).cloned().collect();
    let mut removed_policy = false;
    let mut kept: Vec<&str> = Vec::new();
    for word in merged.split(' ').skip(1) {
        if old.contains(&normalise_term(word)) {
            removed_policy |= matches!(
                kind_of(word),
                Some(TermKind::Modifier(Modifier::Redirect(_)))
            );
        } else {
            kept.push(word);
        }
    }
    let has_policy = kept.iter().any(|w| {
        kind_of(w)
            .is_some_and(|k| k.is_all() || matches!(k, TermKind::Modifier(Modifier::Redirect(_))))
    });
    let mut out = vec!["v=spf1"];
    out.extend(kept);
    if removed_policy && !has_policy {
        out.push("~all");
    }
    out.join(" ")
}

/// One include (or redirect) of a record and what it costs on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncludeCost {
    pub term: String,
    /// Its own lookup plus those of the records it pulls in.
    pub lookups: u32,
    /// False when part of it could not be looked up (the count is then a lower bound).
    pub complete: bool,
}

/// A record over the lookup limit, with its includes by cost, largest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverLimit {
    pub lookups: u32,
    pub largest: Vec<IncludeCost>,
}

impl OverLimit {
    /// What the operator reads: the count, the largest includes, what to do.
    pub fn describe(&self) -> String {
        let largest: Vec<String> = self
            .largest
            .iter()
            .map(|c| {
                format!(
                    "{} ({}{} lookup{})",
                    c.term,
                    if c.complete { "" } else { "at least " },
                    c.lookups,
                    if c.lookups == 1 { "" } else { "s" }
                )
            })
            .collect();
        let mut text = format!(
            "This record needs at least {} DNS lookups; receivers allow {LOOKUP_LIMIT} (RFC 7208 4.6.4) and reject it with a permerror.",
            self.lookups
        );
        if !largest.is_empty() {
            text.push_str(&format!(" The largest includes: {}.", largest.join(", ")));
        }
        text.push_str(" Flatten one (publish the ip4:/ip6: ranges it lists instead) or drop one the domain no longer sends through.");
        text
    }
}

/// When `record` at `domain` needs more than 10 DNS lookups: how many, and
/// its includes and redirect with their own counts, largest first.
pub fn over_limit(domain: &str, record: &str, lookup: Lookup) -> Option<OverLimit> {
    let verdict = evaluate(domain, record, lookup);
    if verdict.lookups <= LOOKUP_LIMIT {
        return None;
    }
    let parsed = parse(record).ok()?;
    let mut largest: Vec<IncludeCost> = parsed
        .terms
        .iter()
        .filter(|t| {
            matches!(
                t.kind,
                TermKind::Mechanism {
                    mechanism: Mechanism::Include(_),
                    ..
                } | TermKind::Modifier(Modifier::Redirect(_))
            )
        })
        .map(|t| {
            let alone = evaluate(domain, &format!("v=spf1 {}", t.text), lookup);
            IncludeCost {
                term: sanitize(&t.text),
                lookups: alone.lookups,
                complete: alone.unresolved.is_empty() && alone.lookups <= LOOKUP_LIMIT,
            }
        })
        .collect();
    largest.sort_by_key(|c| std::cmp::Reverse(c.lookups));
    Some(OverLimit {
        lookups: verdict.lookups,
        largest,
    })
}

/// Every record the round should be able to judge, for `dns::watch` to plan
/// its questions: the served records, the records to publish built from
/// them, and each of their includes alone (for [`over_limit`]).
pub fn records_to_judge(
    served: &[String],
    old_terms: &[String],
    new_terms: &[String],
) -> Vec<String> {
    let mut roots: Vec<String> = Vec::new();
    let currents: Vec<Option<&str>> = std::iter::once(None)
        .chain(served.iter().map(|s| Some(s.as_str())))
        .collect();
    for current in currents {
        if let Some(c) = current {
            roots.push(c.to_string());
        }
        roots.push(merged_spf(current, old_terms, new_terms));
        roots.push(final_spf(current, old_terms, new_terms));
    }
    let mut alone = Vec::new();
    for root in &roots {
        if let Ok(record) = parse(root) {
            for term in &record.terms {
                if matches!(
                    term.kind,
                    TermKind::Mechanism {
                        mechanism: Mechanism::Include(_),
                        ..
                    } | TermKind::Modifier(Modifier::Redirect(_))
                ) {
                    alone.push(format!("v=spf1 {}", term.text));
                }
            }
        }
    }
    roots.extend(alone);
    let mut seen = BTreeSet::new();
    roots.retain(|r| seen.insert(r.clone()));
    roots
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    /// A zone as receivers see it: a name absent is NXDOMAIN, a type absent
    /// at a present name is NODATA, a name listed as failing times out.
    #[derive(Default)]
    struct Zone {
        names: BTreeMap<String, Vec<(Rtype, Vec<String>)>>,
        failing: Vec<String>,
    }

    impl Zone {
        fn with(mut self, name: &str, rtype: Rtype, records: &[&str]) -> Zone {
            self.names
                .entry(name.to_string())
                .or_default()
                .push((rtype, s(records)));
            self
        }

        fn txt(self, name: &str, record: &str) -> Zone {
            self.with(name, Rtype::TXT, &[record])
        }

        fn failing(mut self, name: &str) -> Zone {
            self.failing.push(name.to_string());
            self
        }

        fn lookup(&self, name: &str, rtype: Rtype) -> Fetched {
            if self.failing.iter().any(|f| f == name) {
                return Fetched::Unknown;
            }
            match self.names.get(name) {
                None => Fetched::NxDomain,
                Some(sets) => match sets.iter().find(|(t, _)| *t == rtype) {
                    Some((_, records)) => Fetched::Records(records.clone()),
                    None => Fetched::NoData,
                },
            }
        }

        fn judge(&self, record: &str) -> SpfVerdict {
            evaluate("example.com", record, &|n: &str, t: Rtype| {
                self.lookup(n, t)
            })
        }
    }

    /// A verdict with exactly one error, at `term` in `position`, whose reason contains `says`.
    fn assert_one_error(v: &SpfVerdict, term: &str, position: usize, says: &str) {
        assert_eq!(v.result, SpfResult::Permerror, "{v:#?}");
        assert_eq!(v.valid, Some(false));
        assert_eq!(v.errors.len(), 1, "{v:#?}");
        let e = &v.errors[0];
        assert_eq!((e.term.as_str(), e.position), (term, position), "{v:#?}");
        assert!(e.reason.contains(says), "{:?} lacks {says:?}", e.reason);
    }

    fn google() -> Zone {
        Zone::default()
            .txt(
                "_spf.google.com",
                "v=spf1 include:_netblocks.google.com include:_netblocks2.google.com include:_netblocks3.google.com ~all",
            )
            .txt(
                "_netblocks.google.com",
                "v=spf1 ip4:35.190.247.0/24 ip4:64.233.160.0/19 ip4:66.102.0.0/20 ip4:66.249.80.0/20 ip4:72.14.192.0/18 ip4:74.125.0.0/16 ip4:108.177.8.0/21 ip4:173.194.0.0/16 ip4:209.85.128.0/17 ip4:216.58.192.0/19 ip4:216.239.32.0/19 ~all",
            )
            .txt(
                "_netblocks2.google.com",
                "v=spf1 ip6:2001:4860:4000::/36 ip6:2404:6800:4000::/36 ip6:2607:f8b0:4000::/36 ip6:2800:3f0:4000::/36 ip6:2a00:1450:4000::/36 ip6:2c0f:fb50:4000::/36 ~all",
            )
            .txt(
                "_netblocks3.google.com",
                "v=spf1 ip4:172.217.0.0/19 ip4:172.217.32.0/20 ip4:172.217.128.0/19 ip4:108.177.96.0/19 ip4:35.191.0.0/16 ip4:130.211.0.0/22 ~all",
            )
            .txt(
                "spf.protection.outlook.com",
                "v=spf1 ip4:40.92.0.0/15 ip4:40.107.0.0/16 ip4:52.100.0.0/15 ip4:52.102.0.0/16 ip4:52.103.0.0/17 ip4:104.47.0.0/17 ip6:2a01:111:f400::/48 ip6:2a01:111:f403::/49 ip6:2a01:111:f403:8000::/51 ip6:2a01:111:f403:c000::/51 ip6:2a01:111:f403:f000::/52 -all",
            )
            .with("example.com", Rtype::MX, &["10 mx1.example.com.", "20 mx2.example.com."])
            .with("example.com", Rtype::A, &["192.0.2.10"])
            .with("mail.example.com", Rtype::AAAA, &["2001:db8::25"])
    }

    #[test]
    fn real_world_trees_pass_with_their_counts() {
        let zone = google();
        let v = zone.judge("v=spf1 include:_spf.google.com ~all");
        assert_eq!(
            (v.result, v.lookups, v.void_lookups),
            (SpfResult::Pass, 4, 0),
            "{v:#?}"
        );
        assert_eq!(v.valid, Some(true));
        let v = zone.judge(
            "v=spf1 mx a a:mail.example.com include:_spf.google.com include:spf.protection.outlook.com -all",
        );
        assert_eq!(
            (v.result, v.lookups, v.void_lookups),
            (SpfResult::Pass, 8, 0),
            "{v:#?}"
        );
        let v = zone.judge("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all");
        assert_eq!((v.result, v.lookups), (SpfResult::Pass, 0));
    }

    #[test]
    fn an_include_without_a_usable_record_is_a_permerror() {
        let zone = google()
            .txt("nospf.example", "google-site-verification=abc")
            .txt("broken.example", "v=spf1 include +all")
            .with("twice.example", Rtype::TXT, &["v=spf1 -all", "v=spf1 ~all"])
            .with("notxt.example", Rtype::A, &["192.0.2.1"]);
        let v = zone.judge("v=spf1 include:_spf.google.com include:nospf.example -all");
        assert_one_error(
            &v,
            "include:nospf.example",
            2,
            "nospf.example publishes no SPF record: an include of it is a permerror (RFC 7208 5.2)",
        );
        let v = zone.judge("v=spf1 include:broken.example -all");
        assert_one_error(
            &v,
            "include:broken.example",
            1,
            "the SPF record of broken.example is broken (term 1 \"include\": include needs a domain",
        );
        let v = zone.judge("v=spf1 include:gone.example -all");
        assert_one_error(
            &v,
            "include:gone.example",
            1,
            "gone.example does not exist (NXDOMAIN)",
        );
        assert_eq!(v.void_lookups, 1);
        let v = zone.judge("v=spf1 include:notxt.example -all");
        assert_one_error(
            &v,
            "include:notxt.example",
            1,
            "notxt.example has no TXT record",
        );
        let v = zone.judge("v=spf1 include:twice.example -all");
        assert_one_error(&v, "include:twice.example", 1, "publishes 2 SPF records");
        let v = zone.judge("v=spf1 a redirect=nospf.example");
        assert_one_error(
            &v,
            "redirect=nospf.example",
            2,
            "a redirect= to it is a permerror (RFC 7208 6.1)",
        );
    }

    #[test]
    fn errors_deep_in_includes_name_the_chain_at_the_top_term() {
        let zone = google()
            .txt("_spf.a.example", "v=spf1 include:_spf.b.example -all")
            .txt(
                "_spf.b.example",
                "v=spf1 ip4:192.0.2.0/24 include:gone.example -all",
            );
        let v = zone.judge("v=spf1 mx include:_spf.a.example -all");
        assert_one_error(
            &v,
            "include:_spf.a.example",
            2,
            "via include:_spf.a.example → include:_spf.b.example, term 2 \"include:gone.example\": gone.example does not exist",
        );
    }

    #[test]
    fn void_lookups_count_for_a_mx_and_exists() {
        let zone = google().with("nomx.example", Rtype::A, &["192.0.2.1"]);
        let v = zone.judge("v=spf1 a:void1.example mx:nomx.example -all");
        assert_eq!((v.result, v.void_lookups), (SpfResult::Pass, 2), "{v:#?}");
        let v = zone.judge("v=spf1 a:void1.example mx:nomx.example exists:void3.example -all");
        assert_one_error(
            &v,
            "exists:void3.example",
            3,
            "void3.example does not exist (NXDOMAIN): the third lookup that finds nothing",
        );
        assert_eq!(v.void_lookups, 3);
        // `a` is void only when the name has neither A nor AAAA.
        let v = zone.judge(
            "v=spf1 a:mail.example.com a:nomx.example mx:nomx.example exists:void.example -all",
        );
        assert_eq!(v.void_lookups, 2, "{v:#?}");
        // An a term without a domain looks up the record's own domain, here in an include.
        let zone = zone.txt("_spf.x.example", "v=spf1 a mx -all");
        let v = zone.judge("v=spf1 include:_spf.x.example exists:gone.example -all");
        assert_one_error(
            &v,
            "exists:gone.example",
            2,
            "the third lookup that finds nothing",
        );
    }

    #[test]
    fn an_mx_term_naming_eleven_hosts_is_a_permerror() {
        let hosts: Vec<String> = (1..=11)
            .map(|i| format!("{i} mx{i}.big.example."))
            .collect();
        let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
        let zone = google().with("big.example", Rtype::MX, &hosts).with(
            "ten.example",
            Rtype::MX,
            &hosts[..10],
        );
        let v = zone.judge("v=spf1 mx:ten.example mx:big.example -all");
        assert_one_error(&v, "mx:big.example", 2, "big.example has 11 MX hosts");
    }

    /// l1 includes l2 ... l10 includes l11: eleven lookups from one include.
    fn chain(depth: usize) -> Zone {
        let mut zone = google();
        for i in 1..depth {
            zone = zone.txt(
                &format!("l{i}.example"),
                &format!("v=spf1 include:l{}.example -all", i + 1),
            );
        }
        zone.txt(&format!("l{depth}.example"), "v=spf1 ip4:192.0.2.1 -all")
    }

    #[test]
    fn an_eleven_deep_include_chain_fails_not_warns() {
        let v = chain(11).judge("v=spf1 include:l1.example -all");
        assert_one_error(
            &v,
            "include:l1.example",
            1,
            "term 1 \"include:l11.example\": this is DNS lookup 11",
        );
        assert!(
            v.errors[0]
                .reason
                .starts_with("via include:l1.example → include:l2.example → "),
            "{v:#?}"
        );
        assert_eq!(v.lookups, 11);
        let v = chain(10).judge("v=spf1 include:l1.example -all");
        assert_eq!((v.result, v.lookups), (SpfResult::Pass, 10), "{v:#?}");
        // Counted across siblings too: 10 + 1.
        let v = chain(10).judge("v=spf1 include:l1.example a -all");
        assert_one_error(&v, "a", 2, "this is DNS lookup 11");
    }

    #[test]
    fn redirect_is_ignored_when_the_record_has_all() {
        let zone = chain(10).txt("_spf.redirect.example", "v=spf1 a -all");
        let v = zone.judge("v=spf1 a include:l1.example -all redirect=l1.example");
        assert_eq!(
            v.result,
            SpfResult::Permerror,
            "11 lookups from the mechanisms alone"
        );
        let v = zone.judge("v=spf1 a -all redirect=l1.example");
        assert_eq!((v.result, v.lookups), (SpfResult::Warn, 1), "{v:#?}");
        assert_eq!(v.warnings[0].position, 3);
        assert!(v.warnings[0].reason.contains("RFC 7208 6.1"));
        let v = zone.judge("v=spf1 a redirect=_spf.redirect.example");
        assert_eq!((v.result, v.lookups), (SpfResult::Pass, 3), "{v:#?}");
    }

    #[test]
    fn loops_are_permerrors_naming_the_loop() {
        let zone = google()
            .txt("a.example", "v=spf1 include:b.example -all")
            .txt("b.example", "v=spf1 redirect=a.example");
        let v = zone.judge("v=spf1 include:a.example -all");
        assert_one_error(
            &v,
            "include:a.example",
            1,
            "a loop: example.com → a.example → b.example → a.example",
        );
        let v = zone.judge("v=spf1 include:example.com -all");
        assert_one_error(
            &v,
            "include:example.com",
            1,
            "a loop: example.com → example.com",
        );
        // The same include twice, side by side, is no loop.
        let v = zone.judge("v=spf1 include:_spf.google.com include:_spf.google.com -all");
        assert_eq!((v.result, v.lookups), (SpfResult::Pass, 8));
    }

    #[test]
    fn a_timeout_is_unknown_never_a_fail() {
        let zone = google().failing("slow.example");
        let v = zone.judge("v=spf1 include:slow.example -all");
        assert_eq!((v.result, v.valid), (SpfResult::Temperror, None), "{v:#?}");
        assert_eq!(v.unresolved[0].term, "include:slow.example");
        assert!(v.errors.is_empty());
        let v = zone.judge("v=spf1 a:slow.example mx:slow.example exists:slow.example -all");
        assert_eq!(
            (v.result, v.unresolved.len(), v.void_lookups),
            (SpfResult::Temperror, 3, 0)
        );
        // A certain permerror stays one.
        let v = zone.judge("v=spf1 include:slow.example a a a a a a a a a a -all");
        assert_one_error(&v, "a", 11, "this is DNS lookup 11");
    }

    #[test]
    fn ptr_and_macros() {
        let zone = google();
        let v = zone.judge("v=spf1 ptr -all");
        assert_eq!((v.result, v.lookups), (SpfResult::Warn, 1));
        assert_eq!(
            (v.warnings[0].term.as_str(), v.warnings[0].position),
            ("ptr", 1)
        );
        assert!(v.warnings[0].reason.contains("RFC 7208 5.5"));
        // A term with a macro counts one lookup and is not resolved.
        let nothing = |_: &str, _: Rtype| -> Fetched { panic!("looked up a macro") };
        let v = evaluate(
            "example.com",
            "v=spf1 exists:%{i}._spf.mta.salesforce.com a:%{d}.example.com -all",
            &nothing,
        );
        assert_eq!((v.result, v.lookups), (SpfResult::Pass, 2), "{v:#?}");
        let v = evaluate(
            "example.com",
            "v=spf1 include:%{ir}.%{v}._spf.%{d2} -all",
            &nothing,
        );
        assert_eq!((v.result, v.lookups), (SpfResult::Warn, 1));
        assert!(v.warnings[0].reason.contains("depends on the sender"));
    }

    #[test]
    fn syntax_errors_and_other_remarks() {
        let zone = google();
        let v = zone.judge("v=spf1 a/33 mx -all");
        assert_one_error(&v, "a/33", 1, "the IPv4 prefix length /33 is over 32");
        let v = zone.judge("v=spf1 a mx\r\n-all");
        assert_one_error(&v, "mx\\u{d}\\u{a}-all", 2, "a carriage return");
        let v = zone.judge("v=spf1 -all include:_spf.google.com");
        assert_eq!((v.result, v.lookups), (SpfResult::Warn, 0), "{v:#?}");
        assert_eq!(v.warnings[0].position, 2);
        let v = zone.judge("v=spf1 include=_spf.google.com -all");
        assert_eq!(v.result, SpfResult::Warn);
        assert!(
            v.warnings[0]
                .reason
                .contains("\"include:\" was probably meant")
        );
    }

    /// Issue 11's list of records receivers reject and cutover used to pass:
    /// each a permerror naming its term and position.
    #[test]
    fn the_records_cutover_used_to_pass_are_permerrors() {
        let zone = google();
        for (record, term, position) in [
            ("v=spf1 ip4:1.2.3.4/33 -all", "ip4:1.2.3.4/33", 1),
            ("v=spf1 mx ip4:1.2.3 -all", "ip4:1.2.3", 2),
            ("v=spf1 ip6::CAFE::BABE -all", "ip6::CAFE::BABE", 1),
            ("v=spf1 a/33 -all", "a/33", 1),
            ("v=spf1 mx//129 -all", "mx//129", 1),
            (
                "v=spf1 exists:mail.example.com/24 -all",
                "exists:mail.example.com/24",
                1,
            ),
            ("v=spf1 ptr/0 -all", "ptr/0", 1),
            ("v=spf1 a:foo-bar -all", "a:foo-bar", 1),
            ("v=spf1 a:abc.123 -all", "a:abc.123", 1),
            ("v=spf1 a:example.-com -all", "a:example.-com", 1),
            ("v=spf1 a:example.com:8080 -all", "a:example.com:8080", 1),
            (
                "v=spf1 -exists:%(ir).sbl.example.org",
                "-exists:%(ir).sbl.example.org",
                1,
            ),
            ("v=spf1 a:%{a}.example.com -all", "a:%{a}.example.com", 1),
            ("v=spf1 1up=foo -all", "1up=foo", 1),
            ("v=spf1 -all exp=", "exp=", 2),
            (
                "v=spf1 redirect=a.example redirect=b.example",
                "redirect=b.example",
                2,
            ),
            ("v=spf1 a\r\n-all", "a\\u{d}\\u{a}-all", 1),
            ("v=spf1 mx\n-all", "mx\\u{a}-all", 1),
            ("v=spf1 include -all", "include", 1),
        ] {
            let v = zone.judge(record);
            assert_eq!(v.result, SpfResult::Permerror, "{record:?}: {v:#?}");
            assert_eq!(v.errors.len(), 1, "{record:?}: {v:#?}");
            assert_eq!(
                (v.errors[0].term.as_str(), v.errors[0].position),
                (term, position),
                "{record:?}"
            );
        }
    }

    #[test]
    fn the_verdict_serialises_as_status_json_wants_it() {
        let v = google().judge("v=spf1 a/33 -all");
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["valid"], false);
        assert_eq!(json["lookups"], 0);
        assert_eq!(json["void_lookups"], 0);
        assert_eq!(json["errors"][0]["term"], "a/33");
        assert_eq!(json["errors"][0]["position"], 1);
        assert!(json["errors"][0]["reason"].is_string());
        assert_eq!(json["result"], "permerror");
        let v = google()
            .failing("x.example")
            .judge("v=spf1 include:x.example -all");
        assert!(serde_json::to_value(&v).unwrap()["valid"].is_null());
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
    fn records_to_publish_always_pass_the_syntax() {
        let old = s(&["include:_spf.old.example"]);
        let new = s(&["include:_spf.new.example"]);
        // A broken current record: its broken terms are left out and said so.
        let m = merge(
            Some(
                "v=spf1 a/33 mx\r\ninclude:_spf.old.example -all redirect=x.example redirect=y.example",
            ),
            &old,
            &new,
        );
        assert_eq!(
            m.record,
            "v=spf1 mx include:_spf.old.example include:_spf.new.example -all redirect=x.example"
        );
        assert_eq!(m.dropped, s(&["a/33", "redirect=y.example"]));
        assert!(parse(&m.record).is_ok());
        // Sides that redirect: two redirects cannot stand in one record.
        let old = s(&["redirect=_spf.old.example"]);
        let new = s(&["redirect=_spf.new.example"]);
        let current = "v=spf1 redirect=_spf.old.example";
        let merged = merged_spf(Some(current), &old, &new);
        assert_eq!(
            merged,
            "v=spf1 include:_spf.old.example include:_spf.new.example redirect=_spf.old.example"
        );
        assert!(parse(&merged).is_ok());
        assert_eq!(
            final_spf(Some(&merged), &old, &new),
            "v=spf1 include:_spf.new.example ~all"
        );
        assert_eq!(
            final_spf(None, &old, &new),
            "v=spf1 include:_spf.new.example ~all"
        );
        // A term both sides name stays at the end.
        let both = s(&["mx"]);
        assert_eq!(
            final_spf(
                Some("v=spf1 mx include:_spf.old.example -all"),
                &s(&["mx", "include:_spf.old.example"]),
                &both
            ),
            "v=spf1 mx -all"
        );
    }

    #[test]
    fn an_over_limit_merge_names_the_largest_includes() {
        let zone = chain(6).txt(
            "_spf.new.example",
            "v=spf1 include:_spf.google.com a mx -all",
        );
        let merged = merged_spf(
            Some("v=spf1 include:l1.example ~all"),
            &s(&["include:l1.example"]),
            &s(&["include:_spf.new.example"]),
        );
        let lookup = |n: &str, t: Rtype| zone.lookup(n, t);
        let over = over_limit("example.com", &merged, &lookup).expect("over the limit");
        // 6 + 7: past the limit nothing more is fetched, but the terms in hand still count.
        assert_eq!(over.lookups, 13);
        assert_eq!(
            over.largest,
            vec![
                IncludeCost {
                    term: "include:_spf.new.example".into(),
                    lookups: 7,
                    complete: true
                },
                IncludeCost {
                    term: "include:l1.example".into(),
                    lookups: 6,
                    complete: true
                },
            ]
        );
        let text = over.describe();
        assert!(
            text.contains("include:_spf.new.example (7 lookups), include:l1.example (6 lookups)"),
            "{text}"
        );
        assert!(
            over_limit(
                "example.com",
                "v=spf1 include:_spf.google.com -all",
                &lookup
            )
            .is_none()
        );
    }

    #[test]
    fn the_analysis_flags_permissive_all_and_two_records() {
        let old = s(&["include:_spf.old.example"]);
        let new = s(&["include:_spf.new.example"]);
        let unknown = |_: &str, _: Rtype| Fetched::Unknown;
        let txts = s(&[
            "v=spf1 include:_spf.old.example +all",
            "google-site-verification=x",
        ]);
        let a = analyse("example.com", &txts, &old, &new, &unknown);
        assert_eq!(a.record_count, 1);
        assert_eq!(a.permissive_all.as_deref(), Some("+all"));
        assert!(a.missing_old.is_empty());
        assert_eq!(a.missing_new, new);
        assert_eq!(
            a.verdict.as_ref().map(|v| v.result),
            Some(SpfResult::Temperror)
        );
        let two = s(&["v=spf1 -all", "v=spf1 include:_spf.new.example -all"]);
        assert!(!analyse("example.com", &two, &old, &new, &unknown).is_valid());
        assert!(analyse("example.com", &s(&["v=spf1 -all"]), &old, &new, &unknown).is_valid());
    }

    #[test]
    fn the_records_to_judge_cover_what_will_be_published() {
        let roots = records_to_judge(
            &s(&["v=spf1 include:_spf.old.example ~all"]),
            &s(&["include:_spf.old.example"]),
            &s(&["include:_spf.new.example"]),
        );
        for wanted in [
            "v=spf1 include:_spf.old.example ~all",
            "v=spf1 include:_spf.old.example include:_spf.new.example ~all",
            "v=spf1 include:_spf.new.example ~all",
            "v=spf1 include:_spf.new.example",
        ] {
            assert!(roots.iter().any(|r| r == wanted), "{wanted}: {roots:#?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn nothing_panics_and_what_to_publish_parses(
            text in "\\PC{0,200}|v=spf1( [-+~?]?(all|include:[a-z.]{0,8}|a|mx|ip4:[0-9./]{0,12}|redirect=[a-z.]{0,6}|exp=[a-z.]{0,6}|[a-z=:/%\\r\\n\\t]{0,6})){0,12}",
            old in "\\PC{0,30}|(include:|redirect=|exp=|a:|mx)[a-z.]{0,10}",
            new in "\\PC{0,30}|(include:|redirect=|exp=|a:|mx)[a-z.]{0,10}",
        ) {
            let old = vec![old];
            let new = vec![new];
            let echo = |_: &str, _: Rtype| Fetched::Records(vec![text.clone()]);
            let v = evaluate("example.com", &text, &echo);
            for p in v.errors.iter().chain(&v.warnings).chain(&v.unresolved) {
                proptest::prop_assert!(!p.term.chars().any(char::is_control), "{p:?}");
                proptest::prop_assert!(!p.reason.chars().any(char::is_control), "{p:?}");
            }
            let m = merge(Some(&text), &old, &new);
            proptest::prop_assert!(parse(&m.record).is_ok(), "{:?} from {text:?}", m.record);
            proptest::prop_assert!(!m.dropped.iter().any(|d| d.chars().any(char::is_control)));
            let f = final_spf(Some(&text), &old, &new);
            proptest::prop_assert!(parse(&f).is_ok(), "{f:?} from {text:?}");
            proptest::prop_assert!(parse(&merged_spf(None, &old, &new)).is_ok());
            let _ = analyse("example.com", std::slice::from_ref(&text), &old, &new, &echo);
            let _ = over_limit("example.com", &text, &echo);
        }
    }
}
