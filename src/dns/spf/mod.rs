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

mod publish;

pub use publish::*;

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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

#[cfg(test)]
mod tests;
