//! The SPF records to publish: the old and new servers' terms merged during the
//! migration (R5), the new server's alone at the end (R9), always a record the
//! evaluation passes, and what to cut when the merge needs too many lookups.

use super::*;

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
