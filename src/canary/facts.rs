//! What a canary round leaves in the journal (decided here, written by the recorder): one
//! `canary` fact per canary, and the alarms `canary-lost` and `canary-old` raised and
//! cleared; and what the journal says back: the last canary per route. (The copy knows a
//! canary by its Message-ID's `cutover-canary-` prefix, `mail::identity`.)

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::check::Status;
use crate::journal::{Entry, History};

use super::{CanaryResult, Route};

/// The fact key of one canary: its [`CanaryResult`] as the value.
pub const CANARY_FACT: &str = "canary";
pub use crate::journal::dns_facts::alarm_ids::{CANARY_LOST, CANARY_OLD};

/// The facts of one round: each canary, then each alarm whose state the round changes
/// (raised when a canary of the world or direct route shows it, cleared when one of
/// those routes' canaries landed where it should).
pub fn round_facts(history: &History, results: &[CanaryResult], now: Timestamp) -> Vec<Entry> {
    let mut entries: Vec<Entry> = results
        .iter()
        .filter_map(|r| {
            let value = serde_json::to_value(r).ok()?;
            Some(Entry::Fact {
                at: now,
                key: CANARY_FACT.to_string(),
                value,
                evidence: summary(r),
            })
        })
        .collect();
    let inbound: Vec<&CanaryResult> = results
        .iter()
        .filter(|r| r.route != Route::Outbound)
        .collect();
    let landed_right = inbound
        .iter()
        .any(|r| r.verdict == Status::Pass || (r.verdict == Status::Warn && r.junk));
    for id in [CANARY_LOST, CANARY_OLD] {
        let shown: Vec<&&CanaryResult> = inbound
            .iter()
            .filter(|r| r.evidence.starts_with(id))
            .collect();
        let raised = history.dns.raised.contains_key(id);
        if let Some(first) = shown.first()
            && !raised
        {
            entries.push(Entry::Fact {
                at: now,
                key: crate::journal::dns_facts::keys::ALARM_RAISED.to_string(),
                value: serde_json::json!({ "id": id, "token": first.token }),
                evidence: summary(first),
            });
        } else if shown.is_empty() && raised && landed_right {
            entries.push(Entry::Fact {
                at: now,
                key: crate::journal::dns_facts::keys::ALARM_CLEARED.to_string(),
                value: serde_json::json!({ "id": id }),
                evidence: format!("{id} cleared: a canary landed where it should"),
            });
        }
    }
    entries
}

/// One line for the journal and the screen: `world canary: pass — landed on the new server…`.
pub fn summary(r: &CanaryResult) -> String {
    let target = r
        .target
        .as_ref()
        .map(|t| format!(" to {t}"))
        .unwrap_or_default();
    format!(
        "{} canary{target}: {} — {}",
        r.route.as_str(),
        r.verdict.as_str(),
        r.evidence
    )
}

/// Every canary the journal holds, oldest first.
pub fn journaled(history: &History) -> Vec<CanaryResult> {
    history
        .facts
        .get(CANARY_FACT)
        .map(|facts| {
            facts
                .iter()
                .filter_map(|f| serde_json::from_value(f.value.clone()).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The last canary per route (and per MX host for direct canaries), in route order.
pub fn last_per_route(history: &History) -> Vec<CanaryResult> {
    let mut last: BTreeMap<(Route, Option<String>), CanaryResult> = BTreeMap::new();
    for r in journaled(history) {
        last.insert((r.route, r.target.clone()), r);
    }
    last.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::Landed;

    fn result(route: Route, verdict: Status, evidence: &str) -> CanaryResult {
        CanaryResult {
            route,
            target: None,
            token: "c1".into(),
            message_id: "cutover-canary-c1@ext.test".into(),
            sent_at: Timestamp::UNIX_EPOCH,
            landed: Landed::None,
            folder: None,
            junk: false,
            delay_s: None,
            hops: vec![],
            verdict,
            reply: None,
            evidence: evidence.into(),
            cleanup: None,
            problem: None,
            auth: None,
            auth_note: None,
        }
    }

    fn fold(entries: &[Entry]) -> History {
        History::from_entries(entries)
    }

    #[test]
    fn a_lost_canary_raises_its_alarm_once_and_a_landed_one_clears_it() {
        let now = Timestamp::UNIX_EPOCH;
        let lost = [result(
            Route::World,
            Status::Fail,
            "canary-lost: found nowhere",
        )];
        let first = round_facts(&History::default(), &lost, now);
        assert_eq!(first.len(), 2, "{first:?}");
        let history = fold(&first);
        assert!(history.dns.raised.contains_key(CANARY_LOST));
        // Lost again: the alarm is already raised.
        let again = round_facts(&history, &lost, now);
        assert_eq!(again.len(), 1, "{again:?}");
        // An outbound canary that landed proves nothing about inbound mail.
        let outbound = [result(Route::Outbound, Status::Pass, "landed")];
        assert_eq!(round_facts(&history, &outbound, now).len(), 1);
        let landed = [result(
            Route::World,
            Status::Pass,
            "landed on the new server",
        )];
        let cleared = round_facts(&history, &landed, now);
        assert_eq!(cleared.len(), 2, "{cleared:?}");
        let mut all = first.clone();
        all.extend(cleared);
        assert!(!fold(&all).dns.raised.contains_key(CANARY_LOST));
    }

    #[test]
    fn the_journal_gives_back_the_last_canary_per_route() {
        let mut on_old = result(Route::World, Status::Pass, "landed on the old server");
        on_old.landed = Landed::Old;
        on_old.message_id = "Cutover-Canary-C1@ext.test".into();
        let mut on_new = result(Route::World, Status::Pass, "landed on the new server");
        on_new.landed = Landed::New;
        on_new.message_id = "cutover-canary-c2@ext.test".into();
        let history = fold(&round_facts(
            &History::default(),
            &[on_old, on_new],
            Timestamp::UNIX_EPOCH,
        ));
        let last = last_per_route(&history);
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].message_id, "cutover-canary-c2@ext.test");
    }

    #[test]
    fn a_canary_fact_written_before_authentication_was_judged_still_loads() {
        // A line as issue 20's cutover wrote it: no dkim, spf, dmarc or receiver keys.
        let old = serde_json::json!({
            "route": "outbound", "token": "c9", "message_id": "cutover-canary-c9@example.com",
            "sent_at": "2026-12-07T10:00:00Z", "landed": "external", "folder": "INBOX",
            "junk": false, "delay_s": 2, "hops": [], "verdict": "pass",
            "evidence": "landed on the external mailbox in INBOX after 2 s, 2 hops"
        });
        let history = fold(&[Entry::Fact {
            at: Timestamp::UNIX_EPOCH,
            key: CANARY_FACT.into(),
            value: old,
            evidence: String::new(),
        }]);
        let loaded = journaled(&history);
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].auth, None);
        // And a judged one keeps its verdict through the journal, flat beside the others.
        let mut judged = result(Route::Outbound, Status::Pass, "landed");
        judged.auth = Some(crate::mailauth::model::OutboundAuth {
            from_domain: Some("example.com".into()),
            dkim: crate::mailauth::model::DkimVerdict {
                result: crate::mailauth::model::AuthResult::Pass,
                domain: Some("example.com".into()),
                selector: Some("sel1".into()),
                aligned: true,
                reason: None,
            },
            signatures: vec![],
            spf: crate::mailauth::model::SpfVerdict {
                result: crate::mailauth::model::AuthResult::Pass,
                ip: None,
                domain: Some("example.com".into()),
                aligned: true,
                reason: None,
            },
            dmarc: crate::mailauth::model::DmarcVerdict {
                result: crate::mailauth::model::AuthResult::Pass,
                policy: Some("reject".into()),
                domain: Some("example.com".into()),
            },
            receiver: None,
            warnings: vec![],
        });
        let entries = round_facts(
            &History::default(),
            std::slice::from_ref(&judged),
            Timestamp::UNIX_EPOCH,
        );
        let Entry::Fact { value, .. } = &entries[0] else {
            panic!("a fact");
        };
        assert_eq!(value["dkim"]["selector"], "sel1");
        assert_eq!(value["dmarc"]["policy"], "reject");
        assert_eq!(journaled(&fold(&entries))[0], judged);
    }
}
