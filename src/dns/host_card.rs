//! "At your DNS host now": for a DNS step, the records as the authoritative
//! servers serve them now and as they must be after the step, as a diff with
//! TTLs. Pure (plan, latest round, step in; card out): `cutover status` prints
//! it, the cockpit draws it.

use crate::dns::checks::txt_line;
use crate::dns::mx::{normalise_host, parse_mx};
use crate::dns::query::{AnswerStatus, Rtype, fqdn};
use crate::dns::spf;
use crate::dns::watch::{DnsSnapshot, ServerView};
use crate::plan::{MxRecord, Plan};
use crate::sanitize::sanitize;
use crate::step::StepId;

/// What happens to one record line in the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Served now and stays as it is.
    Keep,
    /// Served now and goes (or changes: its new form is an `Add`).
    Remove,
    /// Not served now and must be.
    Add,
}

impl Change {
    /// The diff's prefix: `-`, `+` or a space.
    pub fn sign(self) -> char {
        match self {
            Change::Keep => ' ',
            Change::Remove => '-',
            Change::Add => '+',
        }
    }
}

/// One record in zone-file form (server text escaped), with what happens to it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct CardLine {
    pub change: Change,
    pub record: String,
}

/// The card of one DNS step.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct HostCard {
    pub step: StepId,
    /// The authoritative server whose records are "now", e.g. `192.0.2.53:53`;
    /// `None` when nothing was measured (then every line is an `Add`: what must be).
    pub served_by: Option<String>,
    pub lines: Vec<CardLine>,
    /// Remarks: servers that disagree, records only the operator has.
    pub notes: Vec<String>,
}

impl HostCard {
    /// Whether the DNS host already serves what the step needs.
    pub fn nothing_to_change(&self) -> bool {
        self.served_by.is_some() && self.lines.iter().all(|l| l.change == Change::Keep)
    }

    /// The card as text, for `cutover status` (each line indented by `indent`).
    pub fn text(&self, indent: &str) -> String {
        let mut out = format!("{indent}{}\n", self.heading());
        for line in &self.lines {
            out.push_str(&format!(
                "{indent}  {} {}\n",
                line.change.sign(),
                line.record
            ));
        }
        for note in &self.notes {
            out.push_str(&format!("{indent}  ; {note}\n"));
        }
        out
    }

    /// The card's first line.
    pub fn heading(&self) -> String {
        match &self.served_by {
            None => format!(
                "At your DNS host, {} needs (nothing measured yet, so what is served now is unknown):",
                self.step
            ),
            Some(_) if self.nothing_to_change() => format!(
                "At your DNS host now: already as {} needs it, nothing to change.",
                self.step
            ),
            Some(server) => format!(
                "At your DNS host now (as {server} serves it; - goes, + comes, for {}):",
                self.step
            ),
        }
    }
}

/// The steps whose card this is: those that change records at the DNS host.
pub fn has_card(step_id: &StepId) -> bool {
    matches!(
        step_id,
        StepId::LowerTtl
            | StepId::SpfAddNew
            | StepId::AddNewMx
            | StepId::RemoveOldMx
            | StepId::DkimSpfFinal
            | StepId::RestoreTtl
            | StepId::RollbackSpf
            | StepId::RollbackLowerTtl
            | StepId::RollbackAddOldMx
            | StepId::RollbackRemoveNewMx
            | StepId::StaySpfOldOnly
            | StepId::StayRestoreTtl
    )
}

/// A record as compared: its zone-file line, and a key that ignores letter case
/// and a host's final dot.
#[derive(Debug, Clone)]
struct Rec {
    key: String,
    line: String,
}

fn mx_rec(apex: &str, ttl: u32, preference: u16, host: &str) -> Rec {
    let host = normalise_host(host);
    Rec {
        key: format!("MX {ttl} {preference} {host}"),
        line: format!("{apex} {ttl} IN MX {preference} {}", fqdn(&host)),
    }
}

fn txt_rec(name: &str, ttl: u32, text: &str) -> Rec {
    Rec {
        key: format!("TXT {} {ttl} {text}", name.to_ascii_lowercase()),
        line: txt_line(name, ttl, text),
    }
}

/// What one server serves for a name and type: `None` unless it gave a definite
/// answer; no records (and TTL 0) for "none".
fn served(server: &ServerView, name: &str, rtype: Rtype) -> Option<(u32, Vec<String>)> {
    let a = server.answer(name, rtype)?;
    match a.status {
        AnswerStatus::Ok => Some((a.ttl, a.records.clone())),
        AnswerStatus::Nodata | AnswerStatus::Nxdomain => Some((0, vec![])),
        _ => None,
    }
}

/// The card for `step_id`, or `None` when the step changes nothing at the DNS host.
pub fn host_card(
    step_id: &StepId,
    plan: &Plan,
    snapshot: Option<&DnsSnapshot>,
) -> Option<HostCard> {
    if !has_card(step_id) {
        return None;
    }
    let apex = fqdn(&plan.domain);
    let dkim_name = plan
        .new
        .dkim_selector
        .as_ref()
        .map(|s| format!("{s}._domainkey.{apex}"));
    // The first authoritative server that answered MX and TXT definitely speaks for the zone.
    let server = snapshot.and_then(|s| {
        s.authoritative().find(|v| {
            served(v, &apex, Rtype::MX).is_some() && served(v, &apex, Rtype::TXT).is_some()
        })
    });
    let mut notes = Vec::new();
    let (now, after) = match server {
        Some(server) => {
            let now = now_records(server, &apex, dkim_name.as_deref());
            let after = target(
                step_id,
                plan,
                Some(server),
                &apex,
                dkim_name.as_deref(),
                &mut notes,
            );
            if let Some(snapshot) = snapshot {
                let differ: Vec<String> = snapshot
                    .authoritative()
                    .filter(|other| other.address != server.address)
                    .filter(|other| {
                        let theirs = now_records(other, &apex, dkim_name.as_deref());
                        keys(&theirs) != keys(&now)
                    })
                    .map(|other| other.address.to_string())
                    .collect();
                if !differ.is_empty() {
                    notes.push(format!(
                        "{} {} something else: the change has not reached every authoritative server yet",
                        differ.join(", "),
                        if differ.len() == 1 { "serves" } else { "serve" }
                    ));
                }
            }
            (Some(now), after)
        }
        None => (
            None,
            target(step_id, plan, None, &apex, dkim_name.as_deref(), &mut notes),
        ),
    };
    let lines = match &now {
        None => after
            .iter()
            .map(|r| CardLine {
                change: Change::Add,
                record: r.line.clone(),
            })
            .collect(),
        Some(now) => diff(now, &after),
    };
    Some(HostCard {
        step: step_id.clone(),
        served_by: server.map(|s| {
            let name = plan.dns.names.get(&s.address).cloned().or_else(|| {
                s.ns_host
                    .as_ref()
                    .map(|h| h.trim_end_matches('.').to_string())
            });
            match name {
                Some(name) => sanitize(&format!("{name} ({})", s.address)),
                None => s.address.to_string(),
            }
        }),
        lines,
        notes: notes.into_iter().map(|n| sanitize(&n)).collect(),
    })
}

fn keys(recs: &[Rec]) -> Vec<&str> {
    let mut k: Vec<&str> = recs.iter().map(|r| r.key.as_str()).collect();
    k.sort_unstable();
    k
}

/// Every record of `now` that is not in `after` goes, every one of `after` not in
/// `now` comes; `now`'s order first, then what comes.
fn diff(now: &[Rec], after: &[Rec]) -> Vec<CardLine> {
    let has = |set: &[Rec], key: &str| set.iter().any(|r| r.key == key);
    let mut lines: Vec<CardLine> = now
        .iter()
        .map(|r| CardLine {
            change: if has(after, &r.key) {
                Change::Keep
            } else {
                Change::Remove
            },
            record: r.line.clone(),
        })
        .collect();
    // What comes stands under the records of its name and type (a changed record's new
    // form right under its old one).
    for r in after.iter().filter(|r| !has(now, &r.key)) {
        let at = lines
            .iter()
            .rposition(|l| same_owner_type(&l.record, &r.line))
            .map_or(lines.len(), |i| i + 1);
        lines.insert(
            at,
            CardLine {
                change: Change::Add,
                record: r.line.clone(),
            },
        );
    }
    lines
}

/// Whether two zone-file lines are of one name and type (`name ttl IN TYPE …`).
fn same_owner_type(a: &str, b: &str) -> bool {
    let head = |l: &str| {
        let mut w = l.split_whitespace();
        (
            w.next().map(str::to_ascii_lowercase),
            w.nth(2).map(str::to_string),
        )
    };
    head(a) == head(b)
}

/// What the server serves of the records the steps touch: the apex MX and TXT, the DKIM key.
fn now_records(server: &ServerView, apex: &str, dkim: Option<&str>) -> Vec<Rec> {
    let mut out = Vec::new();
    if let Some((ttl, records)) = served(server, apex, Rtype::MX) {
        for r in &records {
            if let Some((preference, host)) = parse_mx(r) {
                out.push(mx_rec(apex, ttl, preference, &host));
            }
        }
    }
    if let Some((ttl, records)) = served(server, apex, Rtype::TXT) {
        out.extend(records.iter().map(|t| txt_rec(apex, ttl, t)));
    }
    if let Some(name) = dkim
        && let Some((ttl, records)) = served(server, name, Rtype::TXT)
    {
        out.extend(records.iter().map(|t| txt_rec(name, ttl, t)));
    }
    out
}

/// The records as they must be after the step (from what is served, else from the plan).
fn target(
    step_id: &StepId,
    plan: &Plan,
    server: Option<&ServerView>,
    apex: &str,
    dkim: Option<&str>,
    notes: &mut Vec<String>,
) -> Vec<Rec> {
    let migration = plan.dns.migration_ttl;
    let served_mx: Option<(u32, Vec<(u16, String)>)> = server
        .and_then(|s| served(s, apex, Rtype::MX))
        .map(|(ttl, rs)| (ttl, rs.iter().filter_map(|r| parse_mx(r)).collect()));
    let served_txt: Option<(u32, Vec<String>)> = server.and_then(|s| served(s, apex, Rtype::TXT));
    let served_dkim = server
        .zip(dkim)
        .and_then(|(s, name)| served(s, name, Rtype::TXT));
    let plan_mx = |mx: &[MxRecord]| -> Vec<(u16, String)> {
        mx.iter()
            .map(|m| (m.preference, normalise_host(&m.host)))
            .collect()
    };
    let current_spf = served_txt
        .as_ref()
        .and_then(|(_, t)| t.iter().find(|r| spf::is_spf(r)).cloned());
    // The MX set the step starts from: as served, else the plan's old hosts.
    let mx_now = served_mx
        .as_ref()
        .map(|(_, m)| m.clone())
        .unwrap_or_else(|| plan_mx(&plan.old.mx));
    // The TXT records at the apex as served, else the SPF record the plan implies.
    let txt_now: Vec<String> = served_txt
        .as_ref()
        .map(|(_, t)| t.clone())
        .unwrap_or_else(|| vec![spf::merged_spf(None, &plan.old.spf, &[])]);
    let mxs = |set: &[(u16, String)], ttl: u32| -> Vec<Rec> {
        set.iter().map(|(p, h)| mx_rec(apex, ttl, *p, h)).collect()
    };
    // The apex TXT records with the SPF record replaced (one TTL for the whole set).
    let txts = |spf_record: Option<&str>, ttl: u32| -> Vec<Rec> {
        let mut out: Vec<Rec> = txt_now
            .iter()
            .filter(|t| !spf::is_spf(t))
            .map(|t| txt_rec(apex, ttl, t))
            .collect();
        if let Some(record) = spf_record {
            out.push(txt_rec(apex, ttl, record));
        }
        out
    };
    let keep_dkim = |out: &mut Vec<Rec>| {
        if let (Some(name), Some((ttl, records))) = (dkim, &served_dkim) {
            out.extend(records.iter().map(|t| txt_rec(name, *ttl, t)));
        }
    };
    let mx_ttl_now = served_mx.as_ref().map_or(migration, |(t, _)| *t);
    let txt_ttl_now = served_txt
        .as_ref()
        .filter(|(_, t)| !t.is_empty())
        .map_or(migration, |(t, _)| *t);
    let mut out = Vec::new();
    match step_id {
        StepId::LowerTtl | StepId::RollbackLowerTtl => {
            out.extend(mxs(&mx_now, migration));
            out.extend(txt_now.iter().map(|t| txt_rec(apex, migration, t)));
            keep_dkim(&mut out);
        }
        StepId::SpfAddNew | StepId::RollbackSpf => {
            out.extend(mxs(&mx_now, mx_ttl_now));
            let merged = spf::merge(current_spf.as_deref(), &plan.old.spf, &plan.new.spf);
            out.extend(txts(Some(&merged.record), txt_ttl_now.min(migration)));
            if !merged.dropped.is_empty() {
                notes.push(format!(
                    "left out of the SPF record because receivers reject them: {}",
                    merged.dropped.join(" ")
                ));
            }
            keep_dkim(&mut out);
        }
        StepId::AddNewMx => {
            let mut set = mx_now.clone();
            for m in plan_mx(&plan.new.mx) {
                if !set.iter().any(|(_, h)| *h == m.1) {
                    set.push(m);
                }
            }
            out.extend(mxs(&set, mx_ttl_now.min(migration)));
            out.extend(txts(current_spf.as_deref(), txt_ttl_now));
            keep_dkim(&mut out);
        }
        StepId::RemoveOldMx => {
            let old: Vec<String> = plan_mx(&plan.old.mx).into_iter().map(|(_, h)| h).collect();
            let mut set: Vec<(u16, String)> = mx_now
                .iter()
                .filter(|(_, h)| !old.contains(h))
                .cloned()
                .collect();
            for m in plan_mx(&plan.new.mx) {
                if !set.iter().any(|(_, h)| *h == m.1) {
                    set.push(m);
                }
            }
            out.extend(mxs(&set, mx_ttl_now.min(migration)));
            out.extend(txts(current_spf.as_deref(), txt_ttl_now));
            keep_dkim(&mut out);
        }
        StepId::DkimSpfFinal => {
            out.extend(mxs(&mx_now, mx_ttl_now));
            let record = spf::final_spf(current_spf.as_deref(), &plan.old.spf, &plan.new.spf);
            out.extend(txts(Some(&record), txt_ttl_now.min(migration)));
            match (dkim, &served_dkim) {
                (Some(_), Some((_, records))) if !records.is_empty() => keep_dkim(&mut out),
                (Some(name), _) => out.push(Rec {
                    key: format!("DKIM {name}"),
                    line: format!(
                        "{name} {migration} IN TXT \"v=DKIM1; k=rsa; p=<the public key {} gives you>\"",
                        plan.new.name
                    ),
                }),
                (None, _) => notes.push(
                    "the plan names no new.dkim_selector: set it to see where the DKIM key goes"
                        .into(),
                ),
            }
        }
        // The way back (R18): the old hosts added to what is served, then the new ones removed.
        StepId::RollbackAddOldMx => {
            let mut set = mx_now.clone();
            for m in plan_mx(&plan.old.mx) {
                if !set.iter().any(|(_, h)| *h == m.1) {
                    set.push(m);
                }
            }
            out.extend(mxs(&set, mx_ttl_now.min(migration)));
            out.extend(txts(current_spf.as_deref(), txt_ttl_now));
            keep_dkim(&mut out);
        }
        StepId::RollbackRemoveNewMx => {
            let new: Vec<String> = plan_mx(&plan.new.mx).into_iter().map(|(_, h)| h).collect();
            let mut set: Vec<(u16, String)> = mx_now
                .iter()
                .filter(|(_, h)| !new.contains(h))
                .cloned()
                .collect();
            for m in plan_mx(&plan.old.mx) {
                if !set.iter().any(|(_, h)| *h == m.1) {
                    set.push(m);
                }
            }
            out.extend(mxs(&set, mx_ttl_now.min(migration)));
            out.extend(txts(current_spf.as_deref(), txt_ttl_now));
            keep_dkim(&mut out);
        }
        StepId::StaySpfOldOnly => {
            out.extend(mxs(&mx_now, mx_ttl_now));
            let record = spf::final_spf(current_spf.as_deref(), &plan.new.spf, &plan.old.spf);
            out.extend(txts(Some(&record), txt_ttl_now.min(migration)));
            keep_dkim(&mut out);
        }
        StepId::RestoreTtl | StepId::StayRestoreTtl => {
            out.extend(mxs(&mx_now, plan.dns.restore_ttl_mx));
            out.extend(
                txt_now
                    .iter()
                    .map(|t| txt_rec(apex, plan.dns.restore_ttl_txt, t)),
            );
            keep_dkim(&mut out);
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests;
