//! The DNS facts the journal holds: what was first seen, and when (R1's
//! baseline, R4's lowering, R8's MX order). The journal replayed rebuilds the
//! state, so a restarted cockpit continues; `dns::facts` writes these facts
//! from what a DNS round observed.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::journal::Entry;
use crate::plan::Plan;

/// Where a served MX set stands between the old and the new server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MxState {
    /// Only old hosts: before the switch.
    Old,
    /// Old and new hosts: the safe middle of the switch.
    #[serde(rename = "old+new")]
    OldAndNew,
    /// Only new hosts: switched.
    New,
    /// No MX at all: senders fall back to the apex A record or defer (alarm).
    Empty,
    /// Neither old nor new hosts: mail goes somewhere else (alarm).
    Foreign,
    /// Authoritative servers disagree with each other.
    Mixed,
    /// Not measured (no definite answer).
    Unknown,
}

impl MxState {
    pub fn as_str(self) -> &'static str {
        match self {
            MxState::Old => "old",
            MxState::OldAndNew => "old+new",
            MxState::New => "new",
            MxState::Empty => "empty",
            MxState::Foreign => "foreign",
            MxState::Mixed => "mixed",
            MxState::Unknown => "unknown",
        }
    }

    pub fn from_str_lossy(text: &str) -> MxState {
        match text {
            "old" => MxState::Old,
            "old+new" => MxState::OldAndNew,
            "new" => MxState::New,
            "empty" => MxState::Empty,
            "foreign" => MxState::Foreign,
            "mixed" => MxState::Mixed,
            _ => MxState::Unknown,
        }
    }

    /// A set that loses or misroutes mail.
    pub fn is_alarm(self) -> bool {
        matches!(self, MxState::Empty | MxState::Foreign)
    }
}

/// Fact keys this module writes (`Entry::Fact { key, .. }`).
pub mod keys {
    pub const TTL_BASELINE: &str = "ttl-baseline";
    pub const TTL_LOWERED: &str = "ttl-lowered";
    pub const MX_SET: &str = "mx-set";
    pub const MX_ALARM: &str = "mx-alarm";
    pub const MX_ALARM_CLEARED: &str = "mx-alarm-cleared";
    pub const MX_ORDER_UNPROVEN: &str = "mx-order-unproven";
    pub const RESOLVERS_NEW_MX: &str = "resolvers-new-mx";
    pub const DMARC_POLICY: &str = "dmarc-policy";
    /// An alarm raised (`{"id": ...}`): `mx-empty`, `mx-neither`, `spf-lost`, `ttl-ignored`,
    /// `canary-lost`, `canary-old`.
    pub const ALARM_RAISED: &str = "alarm-raised";
    /// An alarm whose condition is no longer observed (`{"id": ...}`).
    pub const ALARM_CLEARED: &str = "alarm-cleared";
    /// An SPF record naming the old or the new server was served (once; `spf-lost` needs it).
    pub const SPF_NAMES_SERVER: &str = "spf-names-server";
    /// A step's DNS records first served by every authoritative server (its DNS outcome
    /// checks all passing in one round), `{"step": id}`: an outbound canary sent after it
    /// speaks for them. Written for `dkim-spf-final`, with `[canary]` only.
    pub const RECORDS_SERVED: &str = "records-served";
}

/// The alarm ids, in the order they lead.
pub mod alarm_ids {
    pub const MX_EMPTY: &str = "mx-empty";
    pub const MX_NEITHER: &str = "mx-neither";
    pub const SPF_LOST: &str = "spf-lost";
    pub const TTL_IGNORED: &str = "ttl-ignored";
    /// A canary found nowhere in time (raised by a canary round, `canary::facts`).
    pub const CANARY_LOST: &str = "canary-lost";
    /// A canary that landed on the old server after the switch and its TTL.
    pub const CANARY_OLD: &str = "canary-old";
    pub const ALL: [&str; 6] = [
        MX_EMPTY,
        MX_NEITHER,
        SPF_LOST,
        TTL_IGNORED,
        CANARY_LOST,
        CANARY_OLD,
    ];
}

/// An alarm raised and not cleared: since when, and what was observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaisedAlarm {
    pub id: String,
    pub since: Timestamp,
    pub evidence: String,
}

/// 24 h: the old TTL assumed when nothing better is known (R4).
pub const ASSUMED_OLD_TTL: u32 = 86_400;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxTransition {
    pub at: Timestamp,
    pub from: Option<MxState>,
    pub to: MxState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxAlarm {
    pub at: Timestamp,
    pub state: MxState,
    pub server: String,
}

/// What the journal knows about DNS so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsFacts {
    /// First-observed TTLs at the authoritative servers (largest across them),
    /// keyed `"<TYPE> <fqdn>"`, e.g. `"MX example.com."`.
    pub baseline: Option<BTreeMap<String, u32>>,
    pub baseline_at: Option<Timestamp>,
    /// When MX and TXT were first served at or under the migration TTL by all
    /// authoritative servers.
    pub lowered_at: Option<Timestamp>,
    /// The last MX state seen at the authoritative servers.
    pub mx_state: Option<MxState>,
    pub mx_transitions: Vec<MxTransition>,
    pub seen_old_and_new: bool,
    pub order_unproven_at: Option<Timestamp>,
    /// An authoritative server serves an empty or foreign MX set right now.
    pub alarm_active: bool,
    pub alarms: Vec<MxAlarm>,
    /// When every watched resolver first answered the new MX set.
    pub resolvers_new_mx_at: Option<Timestamp>,
    /// The DMARC policy (`p=`) first seen, and the latest one.
    pub dmarc_first: Option<String>,
    pub dmarc_latest: Option<String>,
    /// The alarms raised now, by id (`alarm_ids::ALL`), with when and what was seen.
    pub raised: BTreeMap<String, RaisedAlarm>,
    /// An SPF record naming the old or the new server was seen.
    pub spf_named: bool,
    /// When each step's DNS records were first served by every authoritative server, by
    /// step id ([`keys::RECORDS_SERVED`]).
    pub records_served: BTreeMap<String, Timestamp>,
}

impl DnsFacts {
    /// The raised alarms in the order they lead (`alarm_ids::ALL`).
    pub fn raised_alarms(&self) -> Vec<&RaisedAlarm> {
        alarm_ids::ALL
            .iter()
            .filter_map(|id| self.raised.get(*id))
            .collect()
    }
}

/// Where the old TTL used by `ttl-wait` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldTtlSource {
    /// The largest MX/TXT TTL observed before the lowering.
    Observed,
    /// The plan's `dns.old_ttl`.
    Plan,
    /// Neither is known: 24 h assumed.
    Assumed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OldTtl {
    pub seconds: u32,
    pub source: OldTtlSource,
}

impl OldTtl {
    pub fn describe(&self) -> String {
        let how = match self.source {
            OldTtlSource::Observed => "observed before the lowering",
            OldTtlSource::Plan => "from the plan's dns.old_ttl",
            OldTtlSource::Assumed => {
                "assumed: no TTL was observed before the lowering and the plan sets no dns.old_ttl"
            }
        };
        format!("{} ({how})", crate::units::ttl(self.seconds))
    }
}

/// The key of a baseline TTL: `"<TYPE> <fqdn>"`, e.g. `"MX example.com."`.
pub fn baseline_key(rtype: &str, name: &str) -> String {
    format!(
        "{rtype} {}.",
        name.trim_end_matches('.').to_ascii_lowercase()
    )
}

impl DnsFacts {
    /// Rebuilds the state from a replayed journal (other entries are ignored).
    pub fn from_entries(entries: &[Entry]) -> DnsFacts {
        let mut facts = DnsFacts::default();
        for entry in entries {
            facts.apply(entry);
        }
        facts
    }

    /// Folds one journal entry into the state.
    pub fn apply(&mut self, entry: &Entry) {
        let Entry::Fact { at, key, value, .. } = entry else {
            return;
        };
        let state = |field: &str| {
            value
                .get(field)
                .and_then(|v| v.as_str())
                .map(MxState::from_str_lossy)
        };
        match key.as_str() {
            keys::TTL_BASELINE if self.baseline.is_none() => {
                let ttls = value
                    .get("ttls")
                    .and_then(|t| t.as_object())
                    .map(|o| {
                        o.iter()
                            .filter_map(|(k, v)| {
                                Some((k.clone(), u32::try_from(v.as_u64()?).ok()?))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                self.baseline = Some(ttls);
                self.baseline_at = Some(*at);
            }
            keys::TTL_LOWERED => {
                self.lowered_at.get_or_insert(*at);
            }
            keys::MX_SET => {
                if let Some(to) = state("to") {
                    if to == MxState::OldAndNew {
                        self.seen_old_and_new = true;
                    }
                    self.mx_transitions.push(MxTransition {
                        at: *at,
                        from: state("from"),
                        to,
                    });
                    self.mx_state = Some(to);
                }
            }
            keys::MX_ORDER_UNPROVEN => {
                self.order_unproven_at.get_or_insert(*at);
            }
            keys::MX_ALARM => {
                self.alarm_active = true;
                self.alarms.push(MxAlarm {
                    at: *at,
                    state: state("state").unwrap_or(MxState::Unknown),
                    server: value
                        .get("server")
                        .and_then(|s| s.as_str())
                        .unwrap_or("")
                        .to_string(),
                });
            }
            keys::MX_ALARM_CLEARED => self.alarm_active = false,
            keys::DMARC_POLICY => {
                if let Some(policy) = value.get("policy").and_then(|p| p.as_str()) {
                    self.dmarc_first.get_or_insert_with(|| policy.to_string());
                    self.dmarc_latest = Some(policy.to_string());
                }
            }
            keys::RESOLVERS_NEW_MX => {
                self.resolvers_new_mx_at.get_or_insert(*at);
            }
            keys::ALARM_RAISED => {
                if let Some(id) = value.get("id").and_then(|v| v.as_str()) {
                    let evidence = match entry {
                        Entry::Fact { evidence, .. } => evidence.clone(),
                        _ => String::new(),
                    };
                    self.raised
                        .entry(id.to_string())
                        .or_insert_with(|| RaisedAlarm {
                            id: id.to_string(),
                            since: *at,
                            evidence,
                        });
                }
            }
            keys::ALARM_CLEARED => {
                if let Some(id) = value.get("id").and_then(|v| v.as_str()) {
                    self.raised.remove(id);
                }
            }
            keys::SPF_NAMES_SERVER => self.spf_named = true,
            keys::RECORDS_SERVED => {
                if let Some(step) = value.get("step").and_then(|v| v.as_str()) {
                    self.records_served.entry(step.to_string()).or_insert(*at);
                }
            }
            _ => {}
        }
    }

    /// The largest MX or apex TXT TTL in the baseline, if it was taken before the lowering.
    pub fn observed_before_lowering(&self, plan: &Plan) -> Option<u32> {
        let baseline = self.baseline.as_ref()?;
        // A baseline value already at the migration TTL was taken after that
        // record was lowered: it says nothing about the old TTL.
        ["MX", "TXT"]
            .iter()
            .filter_map(|t| baseline.get(&baseline_key(t, &plan.domain)))
            .copied()
            .filter(|ttl| *ttl > plan.dns.migration_ttl)
            .max()
    }

    /// Whether the baseline caught MX or TXT already lowered (the cockpit was
    /// first started after some of the lowering): their old TTL was never seen.
    fn lowering_missed(&self, plan: &Plan) -> bool {
        match &self.baseline {
            None => true,
            Some(baseline) => ["MX", "TXT"]
                .iter()
                .filter_map(|t| baseline.get(&baseline_key(t, &plan.domain)))
                .any(|ttl| *ttl <= plan.dns.migration_ttl),
        }
    }

    /// The old TTL `ttl-wait` waits out (R4): the largest of what was observed
    /// before the lowering and the plan's `dns.old_ttl`. When a record's old TTL
    /// was never seen and the plan gives none, 24 h is assumed (and said so):
    /// never the lowered TTL itself.
    pub fn old_ttl(&self, plan: &Plan) -> OldTtl {
        let mut candidates = Vec::new();
        if let Some(seen) = self.observed_before_lowering(plan) {
            candidates.push(OldTtl {
                seconds: seen,
                source: OldTtlSource::Observed,
            });
        }
        if let Some(planned) = plan.dns.old_ttl {
            candidates.push(OldTtl {
                seconds: planned,
                source: OldTtlSource::Plan,
            });
        } else if self.lowering_missed(plan) || candidates.is_empty() {
            candidates.push(OldTtl {
                seconds: ASSUMED_OLD_TTL,
                source: OldTtlSource::Assumed,
            });
        }
        // Ties go to the first: observed before plan before assumed.
        let mut best = candidates[0];
        for c in &candidates[1..] {
            if c.seconds > best.seconds {
                best = *c;
            }
        }
        best
    }
}
