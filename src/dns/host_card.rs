//! "At your DNS host now": for a DNS step, the records as the authoritative
//! servers serve them now and as they must be after the step, as a diff with
//! TTLs. Pure (plan, latest round, step in; card out): `cutover status` prints
//! it, the cockpit draws it.

use crate::dns::target::{Served, ZoneLine, dns_target};
use crate::dns::watch::DnsSnapshot;
use crate::plan::Plan;
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

    /// The record lines as drawn `width` columns wide: each record whole, its sign
    /// and a space first, the rest of a longer record on continuation lines marked
    /// [`CONTINUED`]; each row with the change of its record.
    pub fn rows(&self, width: usize) -> Vec<(Change, String)> {
        let room = width.saturating_sub(2).max(1);
        let mut rows = Vec::new();
        for line in &self.lines {
            for (i, piece) in pieces(&line.record, room).into_iter().enumerate() {
                let mark = if i == 0 {
                    line.change.sign()
                } else {
                    CONTINUED
                };
                rows.push((line.change, format!("{mark} {piece}")));
            }
        }
        rows
    }

    /// Whether a record needs more than one row `width` columns wide.
    pub fn wraps(&self, width: usize) -> bool {
        self.rows(width).len() > self.lines.len()
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

/// The mark of a row that continues the record above it.
pub const CONTINUED: char = '↳';

/// What the card says under its records when one did not fit on a row.
pub const ONE_LINE_NOTE: &str = "; ↳ continues the record above it: `cutover status` prints each record on one line for copying";

/// `text` cut into pieces of at most `room` columns, every character kept: a piece
/// ends after a space when one is in its second half, else at `room`.
fn pieces(text: &str, room: usize) -> Vec<String> {
    use unicode_width::UnicodeWidthChar;
    let mut out = Vec::new();
    let mut rest: Vec<char> = text.chars().collect();
    loop {
        let mut used = 0;
        let mut end = 0;
        while end < rest.len() {
            let w = rest[end].width().unwrap_or(0);
            if used + w > room && end > 0 {
                break;
            }
            used += w;
            end += 1;
        }
        if end < rest.len()
            && let Some(space) = rest[..end].iter().rposition(|c| *c == ' ')
            && space + 1 > end / 2
        {
            end = space + 1;
        }
        out.push(rest[..end].iter().collect());
        rest.drain(..end);
        if rest.is_empty() {
            return out;
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

/// The card for `step_id`, or `None` when the step changes nothing at the DNS host.
/// What must be comes from the step's DNS target (`dns::target`); what is, from the
/// first authoritative server that answered MX and TXT definitely.
pub fn host_card(
    step_id: &StepId,
    plan: &Plan,
    snapshot: Option<&DnsSnapshot>,
) -> Option<HostCard> {
    if !has_card(step_id) {
        return None;
    }
    let round = Served::in_round(plan, snapshot);
    let target = dns_target(step_id, plan, round.as_ref().map(|(_, served)| served))?;
    let mut notes = target.notes.clone();
    let lines = match &round {
        None => target
            .to_add(plan, None)
            .into_iter()
            .map(|l| CardLine {
                change: Change::Add,
                record: l.line,
            })
            .collect(),
        Some((server, served)) => {
            if let Some(snapshot) = snapshot {
                let served_lines = served.lines();
                let now = keys(&served_lines);
                let differ: Vec<String> = snapshot
                    .authoritative()
                    .filter(|other| other.address != server.address)
                    .filter(|other| {
                        let theirs = Served::of(plan, other).lines();
                        keys(&theirs) != now
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
            diff(&served.lines(), &target.after(served))
        }
    };
    Some(HostCard {
        step: step_id.clone(),
        served_by: round.map(|(s, _)| {
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

fn keys(lines: &[ZoneLine]) -> Vec<&str> {
    let mut k: Vec<&str> = lines.iter().map(|r| r.key.as_str()).collect();
    k.sort_unstable();
    k
}

/// Every record of `now` that is not in `after` goes, every one of `after` not in
/// `now` comes; `now`'s order first, then what comes.
fn diff(now: &[ZoneLine], after: &[ZoneLine]) -> Vec<CardLine> {
    let has = |set: &[ZoneLine], key: &str| set.iter().any(|r| r.key == key);
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

#[cfg(test)]
mod tests;
