//! What the new MX said of each mailbox (its own address and its aliases), from the
//! journal's newest SMTP probe: the mailbox table's `mx` column and the detail's replies.

use std::collections::HashMap;

use jiff::Timestamp;

use crate::journal::History;
use crate::plan::Plan;
use crate::smtp::{AddressAnswer, SmtpProbe};

/// The new MX's answers about one mailbox's addresses, from one probe.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMxAnswers {
    /// When the probe was journaled.
    pub at: Timestamp,
    pub answers: Vec<AddressAnswer>,
    /// A host answering them also accepted a made-up address: acceptance proves nothing.
    pub accepts_anything: bool,
}

impl NewMxAnswers {
    /// `Some(false)` when any address was refused, `Some(true)` when every one was
    /// accepted by a host that refuses made-up addresses, `None` otherwise.
    pub fn verdict(&self) -> Option<bool> {
        if self.answers.iter().any(|a| a.accepts == Some(false)) {
            return Some(false);
        }
        let all = !self.answers.is_empty() && self.answers.iter().all(|a| a.accepts == Some(true));
        (all && !self.accepts_anything).then_some(true)
    }
}

/// Per mailbox (lowercase address), what the journal's newest probe said of it;
/// empty when no probe was journaled. Built once per probe, not per frame.
pub fn new_mx_by_mailbox(plan: &Plan, history: &History) -> HashMap<String, NewMxAnswers> {
    let Some((at, probe)) = crate::smtp::steps::journaled(history) else {
        return HashMap::new();
    };
    by_mailbox(plan, at, &probe)
}

fn by_mailbox(plan: &Plan, at: Timestamp, probe: &SmtpProbe) -> HashMap<String, NewMxAnswers> {
    // One pass over the answers, not one per mailbox: a plan may hold thousands.
    let mut by_address: HashMap<String, Vec<&AddressAnswer>> = HashMap::new();
    for a in &probe.answers {
        by_address
            .entry(a.address.to_lowercase())
            .or_default()
            .push(a);
    }
    plan.mailboxes
        .iter()
        .map(|m| {
            let answers: Vec<AddressAnswer> = std::iter::once(&m.address)
                .chain(&m.aliases)
                .flat_map(|addr| {
                    by_address
                        .get(&addr.to_lowercase())
                        .into_iter()
                        .flatten()
                        .map(|a| (*a).clone())
                })
                .collect();
            let accepts_anything = answers.iter().any(|a| {
                probe
                    .host(&a.host)
                    .is_some_and(|h| h.accepts_anything == Some(true))
            });
            (
                m.address.to_lowercase(),
                NewMxAnswers {
                    at,
                    answers,
                    accepts_anything,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(address: &str, accepts: Option<bool>) -> AddressAnswer {
        AddressAnswer {
            host: "mx.new.test.".into(),
            address: address.into(),
            accepts,
            reply: match accepts {
                Some(true) => "250 2.1.5 Ok".into(),
                Some(false) => "550 5.1.1 User unknown".into(),
                None => "451 4.3.0 try later".into(),
            },
        }
    }

    fn answers(list: &[(&str, Option<bool>)], accepts_anything: bool) -> NewMxAnswers {
        NewMxAnswers {
            at: Timestamp::UNIX_EPOCH,
            answers: list.iter().map(|(a, ok)| answer(a, *ok)).collect(),
            accepts_anything,
        }
    }

    #[test]
    fn a_refused_alias_fails_the_mailbox_and_nothing_measured_is_unknown() {
        let ok = answers(
            &[("alice@x.test", Some(true)), ("sales@x.test", Some(true))],
            false,
        );
        assert_eq!(ok.verdict(), Some(true));
        let refused = answers(
            &[("alice@x.test", Some(true)), ("sales@x.test", Some(false))],
            false,
        );
        assert_eq!(refused.verdict(), Some(false));
        let greylisted = answers(&[("alice@x.test", None)], false);
        assert_eq!(greylisted.verdict(), None);
        assert_eq!(answers(&[], false).verdict(), None);
        // A host that takes any address proves nothing by accepting.
        assert_eq!(
            answers(&[("alice@x.test", Some(true))], true).verdict(),
            None
        );
    }
}
