//! MX sets as served, compared with the plan's old and new sets (R8's order).

use std::collections::BTreeSet;

use crate::plan::MxRecord;

pub use crate::journal::dns_facts::MxState;

/// A host name normalised for comparison: lowercase, no trailing dot.
pub(crate) fn normalise_host(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Parses one served MX record ("10 mx1.example.") into (preference, host);
/// the null MX ("0 .") has an empty host. The grammar is `syntax::mx`'s.
pub(crate) fn parse_mx(record: &str) -> Option<(u16, String)> {
    crate::syntax::mx::parse_mx(record)
        .ok()
        .map(|mx| (mx.preference, mx.host))
}

/// The hosts of a served MX set (preference ignored: a changed preference is
/// not a changed destination).
pub fn hosts(records: &[String]) -> BTreeSet<String> {
    records
        .iter()
        .map(|r| {
            parse_mx(r)
                .map(|(_, h)| h)
                .unwrap_or_else(|| normalise_host(r))
        })
        .collect()
}

pub(crate) fn planned_hosts(planned: &[MxRecord]) -> BTreeSet<String> {
    planned.iter().map(|m| normalise_host(&m.host)).collect()
}

/// Classifies one served MX set against the plan.
pub(crate) fn classify(served: &[String], old: &[MxRecord], new: &[MxRecord]) -> MxState {
    let served = hosts(served);
    if served.is_empty() {
        return MxState::Empty;
    }
    let old = planned_hosts(old);
    let new = planned_hosts(new);
    let has_old = served.iter().any(|h| old.contains(h));
    let has_new = served.iter().any(|h| new.contains(h));
    match (has_old, has_new) {
        (false, false) => MxState::Foreign,
        (true, false) => MxState::Old,
        (true, true) => MxState::OldAndNew,
        (false, true) => MxState::New,
    }
}

/// One state for several servers: theirs when they agree, `Mixed` otherwise;
/// servers without a definite answer are left out (`Unknown` when none has one).
pub(crate) fn combine(states: &[MxState]) -> MxState {
    let known: Vec<MxState> = states
        .iter()
        .copied()
        .filter(|s| *s != MxState::Unknown)
        .collect();
    match known.first() {
        None => MxState::Unknown,
        Some(first) if known.iter().all(|s| s == first) => *first,
        Some(_) => MxState::Mixed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mx(p: u16, h: &str) -> MxRecord {
        MxRecord {
            preference: p,
            host: h.to_string(),
        }
    }

    #[test]
    fn case_trailing_dot_and_preference_do_not_matter() {
        let old = [mx(10, "mx1.old.example."), mx(20, "mx2.old.example.")];
        let new = [mx(1, "smtp.new.example.")];
        let served = vec!["5 MX1.Old.Example".to_string()];
        assert_eq!(classify(&served, &old, &new), MxState::Old);
        let both = vec!["10 mx1.old.example.".into(), "1 smtp.new.example".into()];
        assert_eq!(classify(&both, &old, &new), MxState::OldAndNew);
        assert_eq!(
            classify(&["1 smtp.new.example.".into()], &old, &new),
            MxState::New
        );
        assert_eq!(classify(&[], &old, &new), MxState::Empty);
        assert_eq!(classify(&["0 .".into()], &old, &new), MxState::Foreign);
        assert_eq!(
            classify(&["10 mx.other.example.".into()], &old, &new),
            MxState::Foreign
        );
    }

    #[test]
    fn disagreeing_servers_are_mixed() {
        assert_eq!(combine(&[MxState::Old, MxState::Old]), MxState::Old);
        assert_eq!(combine(&[MxState::Old, MxState::Unknown]), MxState::Old);
        assert_eq!(combine(&[MxState::Old, MxState::New]), MxState::Mixed);
        assert_eq!(combine(&[]), MxState::Unknown);
    }
}
