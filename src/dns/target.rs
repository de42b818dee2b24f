//! What each authoritative server must serve once a DNS step is done: the one
//! answer that the records to paste (`checks::records_to_paste`), the DNS host
//! card (`host_card`), the DNS pane's ✓/✗ (`app::dns_view`) and the DNS checks
//! (`checks`) all read.
//!
//! A target has two halves:
//! - [`DnsTarget::rrsets`]: the record sets the step itself sets, whole and with
//!   their one TTL, built from what is served now (else from the plan). A step
//!   changes only what it is for: every record set it does not name stays as
//!   served, and a TTL the operator set lower than the migration TTL is kept
//!   (raising it would lengthen the cache window).
//! - [`Expectation`]: what the checks and the pane hold the served records to
//!   once the step is done (the MX state, the SPF terms, a DKIM key, the TTLs),
//!   cumulative over the steps before it.
//!
//! The property test in `app/dns_target_tests.rs` (it reaches up to the pane) runs
//! every step over generated plans and served records: serving a step's target
//! satisfies its expectation as the checks and the pane judge it, and the card's
//! `+` lines are the pasted records.
//!
//! A new step that changes DNS (e.g. a rollback step) gets its target the same way:
//! give it an arm in [`expectation`] and in [`dns_target`] (and a place in
//! [`DNS_STEPS`] if the steps after it build on it), then call
//! `dns_target(&step, plan, served)` with the records served now ([`Served::in_round`]
//! from a round, [`Served::of`] for one server, or a `Served` built from journal
//! facts; `None` when nothing was measured).

use crate::dns::mx::{normalise_host, parse_mx};
use crate::dns::query::{AnswerStatus, Rtype, fqdn};
use crate::dns::spf;
use crate::dns::watch::{DnsSnapshot, ServerView};
use crate::journal::dns_facts::MxState;
use crate::plan::{MxRecord, Plan};
use crate::step::StepId;

/// One record set as served or as it must be: a name and type, one TTL, its records
/// (MX as `(preference, host)`, TXT as text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RrSet {
    /// Fully qualified, with the trailing dot.
    pub(crate) name: String,
    pub(crate) rtype: Rtype,
    pub(crate) ttl: u32,
    pub(crate) records: Vec<Record>,
}

/// One record's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record {
    /// An MX record; the host normalised (lowercase, no final dot).
    Mx { preference: u16, host: String },
    /// A TXT record's text, as served (strings joined).
    Txt(String),
    /// The new server's DKIM key, which only its provider can give: a line to fill in.
    DkimKeyToFill { provider: String },
}

/// A record in zone-file form with the key it is compared by (letter case and a
/// host's final dot ignored; the TTL counted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ZoneLine {
    pub(crate) key: String,
    pub(crate) line: String,
    /// The DKIM key line the operator completes (pasted as a `;` comment).
    pub(crate) to_fill: bool,
}

impl RrSet {
    /// Its records as zone-file lines (server text escaped).
    pub(crate) fn lines(&self) -> Vec<ZoneLine> {
        let name = &self.name;
        let ttl = self.ttl;
        self.records
            .iter()
            .map(|r| match r {
                Record::Mx { preference, host } => ZoneLine {
                    key: format!("{} MX {ttl} {preference} {host}", name.to_ascii_lowercase()),
                    line: format!("{name} {ttl} IN MX {preference} {}", fqdn(host)),
                    to_fill: false,
                },
                Record::Txt(text) => ZoneLine {
                    key: format!("{} TXT {ttl} {text}", name.to_ascii_lowercase()),
                    line: crate::dns::checks::txt_line(name, ttl, text),
                    to_fill: false,
                },
                Record::DkimKeyToFill { provider } => ZoneLine {
                    key: format!("{} DKIM-TO-FILL", name.to_ascii_lowercase()),
                    line: format!(
                        "{name} {ttl} IN TXT \"v=DKIM1; k=rsa; p=<the public key {provider} gives you>\""
                    ),
                    to_fill: true,
                },
            })
            .collect()
    }

    fn is(&self, name: &str, rtype: Rtype) -> bool {
        self.rtype == rtype && self.name.eq_ignore_ascii_case(name)
    }
}

/// What one authoritative server serves of the records the DNS steps touch: the apex
/// MX and TXT sets and the new DKIM key. `None` for a set the server gave no definite
/// answer for; an empty set for "none there".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Served {
    pub(crate) mx: Option<RrSet>,
    pub(crate) txt: Option<RrSet>,
    pub(crate) dkim: Option<RrSet>,
}

impl Served {
    /// What `server` serves. The DKIM set is asked at `plan.new.dkim_selector`.
    pub(crate) fn of(plan: &Plan, server: &ServerView) -> Served {
        let apex = fqdn(&plan.domain);
        let set = |name: &str, rtype: Rtype| -> Option<RrSet> {
            let a = server.answer(name, rtype)?;
            let records = match a.status {
                AnswerStatus::Ok => {
                    a.records
                        .iter()
                        .filter_map(|r| match rtype {
                            Rtype::MX => parse_mx(r)
                                .map(|(preference, host)| Record::Mx { preference, host }),
                            _ => Some(Record::Txt(r.clone())),
                        })
                        .collect()
                }
                AnswerStatus::Nodata | AnswerStatus::Nxdomain => vec![],
                _ => return None,
            };
            Some(RrSet {
                name: fqdn(name),
                rtype,
                ttl: if records.is_empty() { 0 } else { a.ttl },
                records,
            })
        };
        Served {
            mx: set(&apex, Rtype::MX),
            txt: set(&apex, Rtype::TXT),
            dkim: dkim_name(plan).and_then(|name| set(&name, Rtype::TXT)),
        }
    }

    /// The server that speaks for the zone in a round: the first authoritative server
    /// that answered both MX and TXT definitely, with what it serves.
    pub(crate) fn in_round<'s>(
        plan: &Plan,
        snapshot: Option<&'s DnsSnapshot>,
    ) -> Option<(&'s ServerView, Served)> {
        snapshot?.authoritative().find_map(|server| {
            let served = Served::of(plan, server);
            (served.mx.is_some() && served.txt.is_some()).then_some((server, served))
        })
    }

    /// Every record served, as zone-file lines: MX, then apex TXT, then DKIM.
    pub(crate) fn lines(&self) -> Vec<ZoneLine> {
        [&self.mx, &self.txt, &self.dkim]
            .into_iter()
            .flatten()
            .flat_map(RrSet::lines)
            .collect()
    }

    fn set(&self, name: &str, rtype: Rtype) -> Option<&RrSet> {
        [&self.mx, &self.txt, &self.dkim]
            .into_iter()
            .flatten()
            .find(|s| s.is(name, rtype))
    }
}

/// The DKIM key's name, `<selector>._domainkey.<domain>.`, when the plan names a selector.
pub(crate) fn dkim_name(plan: &Plan) -> Option<String> {
    let apex = fqdn(&plan.domain);
    plan.new
        .dkim_selector
        .as_ref()
        .map(|s| format!("{s}._domainkey.{apex}"))
}

/// The DNS steps, in runbook order, then the way back's (R18) and staying on the old
/// server's, which a rollback appends.
pub(crate) const DNS_STEPS: [StepId; 14] = [
    StepId::LowerTtl,
    StepId::SpfAddNew,
    StepId::TtlWait,
    StepId::AddNewMx,
    StepId::RemoveOldMx,
    StepId::DkimSpfFinal,
    StepId::Monitor24h,
    StepId::RestoreTtl,
    StepId::RollbackSpf,
    StepId::RollbackLowerTtl,
    StepId::RollbackAddOldMx,
    StepId::RollbackRemoveNewMx,
    StepId::StaySpfOldOnly,
    StepId::StayRestoreTtl,
];

impl Served {
    /// What the plan says is served before `step` when nothing was measured: the old
    /// MX hosts and the old SPF record at the old TTL, changed by every DNS step before
    /// `step` as its target says.
    pub(crate) fn assumed_before(step: &StepId, plan: &Plan) -> Served {
        let apex = fqdn(&plan.domain);
        let old_ttl = plan.dns.old_ttl.unwrap_or(86_400);
        let mut served = Served {
            mx: Some(RrSet {
                name: apex.clone(),
                rtype: Rtype::MX,
                ttl: old_ttl,
                records: plan_mx(&plan.old.mx)
                    .into_iter()
                    .map(|(preference, host)| Record::Mx { preference, host })
                    .collect(),
            }),
            txt: Some(RrSet {
                name: apex,
                rtype: Rtype::TXT,
                ttl: old_ttl,
                records: vec![Record::Txt(spf::merged_spf(None, &plan.old.spf, &[]))],
            }),
            dkim: None,
        };
        for before in DNS_STEPS.iter().take_while(|s| *s != step) {
            if let Some(target) = dns_target(before, plan, Some(&served)) {
                served = served.with(&target.rrsets);
            }
        }
        served
    }

    /// What is served once `sets` replace the sets of their name and type.
    pub(crate) fn with(&self, sets: &[RrSet]) -> Served {
        let mut after = self.clone();
        for set in sets {
            let slot = if set.rtype == Rtype::MX {
                &mut after.mx
            } else if set.name.to_ascii_lowercase().contains("._domainkey.") {
                &mut after.dkim
            } else {
                &mut after.txt
            };
            *slot = Some(set.clone());
        }
        after
    }
}

/// What the SPF record must say once a step is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpfTerms {
    /// The new server's terms and still the old server's (R5).
    OldAndNew,
    /// The new server's terms and no longer the old server's (R9).
    NewOnly,
    /// The old server's terms and no longer the new server's (a rollback that stays).
    OldOnly,
}

/// What the apex MX and TXT TTLs must be once a step is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TtlRule {
    /// At most this many seconds (the migration TTL, R1), everywhere.
    AtMost(u32),
    /// Exactly these at the authoritative servers (R11).
    Restored { mx: u32, txt: u32 },
}

/// What the checks and the DNS pane hold the served records to once a step is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expectation {
    /// The MX states accepted at each authoritative server, when the step judges MX.
    pub(crate) mx: Option<&'static [MxState]>,
    pub(crate) spf: Option<SpfTerms>,
    /// Whether a valid DKIM key for the new server must be served.
    pub(crate) dkim_key: bool,
    pub(crate) ttl: TtlRule,
}

/// The expectation of a DNS step (`None` for a step that expects nothing of DNS).
pub(crate) fn expectation(step: &StepId, plan: &Plan) -> Option<Expectation> {
    const ADDED: &[MxState] = &[MxState::OldAndNew, MxState::New];
    const NEW: &[MxState] = &[MxState::New];
    const BACK: &[MxState] = &[MxState::OldAndNew, MxState::Old];
    const OLD: &[MxState] = &[MxState::Old];
    let lowered = TtlRule::AtMost(plan.dns.migration_ttl);
    let e = |mx, spf, dkim_key, ttl| Expectation {
        mx,
        spf,
        dkim_key,
        ttl,
    };
    Some(match step {
        StepId::LowerTtl | StepId::TtlWait => e(None, None, false, lowered),
        StepId::SpfAddNew => e(None, Some(SpfTerms::OldAndNew), false, lowered),
        // add-new-mx's outcome accepts the new hosts alone too (R8 notes the order).
        StepId::AddNewMx => e(Some(ADDED), Some(SpfTerms::OldAndNew), false, lowered),
        StepId::RemoveOldMx => e(Some(NEW), Some(SpfTerms::OldAndNew), false, lowered),
        StepId::DkimSpfFinal => e(Some(NEW), Some(SpfTerms::NewOnly), true, lowered),
        StepId::Monitor24h => e(Some(NEW), None, false, lowered),
        StepId::RestoreTtl => e(
            Some(NEW),
            Some(SpfTerms::NewOnly),
            true,
            TtlRule::Restored {
                mx: plan.dns.restore_ttl_mx,
                txt: plan.dns.restore_ttl_txt,
            },
        ),
        // The way back (R18): SPF names both servers again before any MX changes.
        StepId::RollbackSpf | StepId::RollbackLowerTtl => {
            e(None, Some(SpfTerms::OldAndNew), false, lowered)
        }
        StepId::RollbackAddOldMx => e(Some(BACK), Some(SpfTerms::OldAndNew), false, lowered),
        StepId::RollbackRemoveNewMx => e(Some(OLD), Some(SpfTerms::OldAndNew), false, lowered),
        StepId::StaySpfOldOnly => e(Some(OLD), Some(SpfTerms::OldOnly), false, lowered),
        StepId::StayRestoreTtl => e(
            Some(OLD),
            Some(SpfTerms::OldOnly),
            false,
            TtlRule::Restored {
                mx: plan.dns.restore_ttl_mx,
                txt: plan.dns.restore_ttl_txt,
            },
        ),
        _ => return None,
    })
}

/// What the authoritative servers must serve once a DNS step is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DnsTarget {
    pub(crate) step: StepId,
    /// The record sets the step sets, whole (an RRset has one TTL); empty for a step
    /// that changes nothing at the DNS host (ttl-wait, monitor-24h).
    pub(crate) rrsets: Vec<RrSet>,
    pub(crate) expect: Expectation,
    /// Remarks for the operator: SPF terms left out, a DKIM selector missing.
    pub(crate) notes: Vec<String>,
}

impl DnsTarget {
    /// Every record the servers must serve after the step, as zone-file lines: the
    /// step's own record sets, and every other set as `served` has it.
    pub(crate) fn after(&self, served: &Served) -> Vec<ZoneLine> {
        let mut lines = Vec::new();
        for now in [&served.mx, &served.txt, &served.dkim]
            .into_iter()
            .flatten()
        {
            match self.rrsets.iter().find(|t| t.is(&now.name, now.rtype)) {
                Some(target) => lines.extend(target.lines()),
                None => lines.extend(now.lines()),
            }
        }
        for target in &self.rrsets {
            if served.set(&target.name, target.rtype).is_none() {
                lines.extend(target.lines());
            }
        }
        lines
    }

    /// The step's records that are not served as they must be (the card's `+` lines,
    /// the records to paste); unmeasured, those the steps before would not have left.
    pub(crate) fn to_add(&self, plan: &Plan, served: Option<&Served>) -> Vec<ZoneLine> {
        let now = match served {
            Some(served) => served.lines(),
            None => Served::assumed_before(&self.step, plan).lines(),
        };
        self.rrsets
            .iter()
            .flat_map(RrSet::lines)
            .filter(|l| !now.iter().any(|n| n.key == l.key))
            .collect()
    }
}

/// What the authoritative servers must serve once `step` is done, built from what
/// `served` (one authoritative server, [`Served::in_round`]) serves now; without it,
/// from the plan, as the steps before would have left it ([`Served::assumed_before`]).
/// `None` for a step that is not a DNS step.
pub(crate) fn dns_target(step: &StepId, plan: &Plan, served: Option<&Served>) -> Option<DnsTarget> {
    let expect = expectation(step, plan)?;
    let apex = fqdn(&plan.domain);
    let migration = plan.dns.migration_ttl;
    let mut notes = Vec::new();
    // What the step starts from: as served; a set nothing definite was said of, as the
    // steps before would have left it.
    let assumed = served
        .is_none_or(|s| s.mx.is_none() || s.txt.is_none())
        .then(|| Served::assumed_before(step, plan));
    let assumed_set = |pick: fn(&Served) -> Option<&RrSet>| assumed.as_ref().and_then(pick);
    let served_mx = served.and_then(|s| s.mx.as_ref());
    let served_txt = served.and_then(|s| s.txt.as_ref());
    let mx_now: Vec<(u16, String)> = served_mx
        .or_else(|| assumed_set(|s| s.mx.as_ref()))
        .map(|set| {
            set.records
                .iter()
                .filter_map(|r| match r {
                    Record::Mx { preference, host } => Some((*preference, host.clone())),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let txt_now: Vec<String> = served_txt
        .or_else(|| assumed_set(|s| s.txt.as_ref()))
        .map(|set| {
            set.records
                .iter()
                .filter_map(|r| match r {
                    Record::Txt(t) => Some(t.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let current_spf = txt_now.iter().find(|t| spf::is_spf(t)).cloned();
    // A changed set keeps a TTL the operator lowered further than the migration TTL.
    let lowered = |set: Option<&RrSet>| {
        set.filter(|s| !s.records.is_empty())
            .map_or(migration, |s| s.ttl.min(migration))
    };
    let mx_set = |set: Vec<(u16, String)>, ttl: u32| RrSet {
        name: apex.clone(),
        rtype: Rtype::MX,
        ttl,
        records: set
            .into_iter()
            .map(|(preference, host)| Record::Mx { preference, host })
            .collect(),
    };
    // The apex TXT set with the SPF record replaced.
    let txt_set = |spf_record: Option<&str>, ttl: u32| RrSet {
        name: apex.clone(),
        rtype: Rtype::TXT,
        ttl,
        records: txt_now
            .iter()
            .filter(|t| spf_record.is_none() || !spf::is_spf(t))
            .cloned()
            .chain(spf_record.map(str::to_string))
            .map(Record::Txt)
            .collect(),
    };
    // The MX set once the old hosts are gone and the new ones served.
    let without_old = || {
        let old: Vec<String> = plan_mx(&plan.old.mx).into_iter().map(|(_, h)| h).collect();
        with_new(
            plan,
            mx_now
                .iter()
                .filter(|(_, h)| !old.contains(h))
                .cloned()
                .collect(),
        )
    };
    // The MX set once the old hosts are served again (and, `drop_new`, the new ones gone).
    let old_back = |drop_new: bool| {
        let new: Vec<String> = plan_mx(&plan.new.mx).into_iter().map(|(_, h)| h).collect();
        let mut set: Vec<(u16, String)> = mx_now
            .iter()
            .filter(|(_, h)| !drop_new || !new.contains(h))
            .cloned()
            .collect();
        for m in plan_mx(&plan.old.mx) {
            if !set.iter().any(|(_, h)| *h == m.1) {
                set.push(m);
            }
        }
        set
    };
    let dropped_note = |dropped: Vec<String>| {
        (!dropped.is_empty()).then(|| {
            format!(
                "left out of the SPF record because receivers reject them: {}",
                dropped.join(" ")
            )
        })
    };
    let rrsets = match step {
        StepId::LowerTtl | StepId::RollbackLowerTtl => vec![
            mx_set(mx_now.clone(), lowered(served_mx)),
            txt_set(None, lowered(served_txt)),
        ],
        // A rollback after dkim-spf-final puts spf-add-new's merged record back (R18).
        StepId::SpfAddNew | StepId::RollbackSpf => {
            let merged = spf::merge(current_spf.as_deref(), &plan.old.spf, &plan.new.spf);
            notes.extend(dropped_note(merged.dropped));
            vec![txt_set(Some(&merged.record), lowered(served_txt))]
        }
        StepId::AddNewMx => vec![mx_set(with_new(plan, mx_now.clone()), lowered(served_mx))],
        StepId::RemoveOldMx => vec![mx_set(without_old(), lowered(served_mx))],
        StepId::DkimSpfFinal => {
            let record = spf::final_spf(current_spf.as_deref(), &plan.old.spf, &plan.new.spf);
            // Terms receivers would reject were already left out by the merge.
            notes.extend(dropped_note(
                spf::merge(current_spf.as_deref(), &[], &plan.new.spf).dropped,
            ));
            let mut sets = vec![txt_set(Some(&record), lowered(served_txt))];
            let served_key = served
                .and_then(|s| s.dkim.as_ref())
                .is_some_and(|d| !d.records.is_empty());
            match dkim_name(plan) {
                // A key already served stays as it is; dkim-valid judges it.
                Some(_) if served_key => {}
                Some(name) => sets.push(RrSet {
                    name,
                    rtype: Rtype::TXT,
                    ttl: migration,
                    records: vec![Record::DkimKeyToFill {
                        provider: plan.new.name.clone(),
                    }],
                }),
                None => notes.push(
                    "the plan names no new.dkim_selector: set it to see where the DKIM key goes"
                        .into(),
                ),
            }
            sets
        }
        // The MX set remove-old-mx leaves (as served once it is done): restoring a 24 h
        // TTL on old hosts still served would hold them in caches for a day.
        StepId::RestoreTtl => vec![
            mx_set(without_old(), plan.dns.restore_ttl_mx),
            txt_set(None, plan.dns.restore_ttl_txt),
        ],
        StepId::RollbackAddOldMx => vec![mx_set(old_back(false), lowered(served_mx))],
        StepId::RollbackRemoveNewMx => vec![mx_set(old_back(true), lowered(served_mx))],
        StepId::StaySpfOldOnly => {
            let record = spf::final_spf(current_spf.as_deref(), &plan.new.spf, &plan.old.spf);
            vec![txt_set(Some(&record), lowered(served_txt))]
        }
        StepId::StayRestoreTtl => vec![
            mx_set(old_back(true), plan.dns.restore_ttl_mx),
            txt_set(None, plan.dns.restore_ttl_txt),
        ],
        _ => vec![],
    };
    Some(DnsTarget {
        step: step.clone(),
        rrsets,
        expect,
        notes,
    })
}

fn plan_mx(mx: &[MxRecord]) -> Vec<(u16, String)> {
    mx.iter()
        .map(|m| (m.preference, normalise_host(&m.host)))
        .collect()
}

/// `set` with every new MX host the plan names that it lacks.
fn with_new(plan: &Plan, mut set: Vec<(u16, String)>) -> Vec<(u16, String)> {
    for m in plan_mx(&plan.new.mx) {
        if !set.iter().any(|(_, h)| *h == m.1) {
            set.push(m);
        }
    }
    set
}
