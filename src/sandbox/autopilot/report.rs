//! The autopilot's report: what happened in the rehearsal, what the checks caught, what the
//! mail did, and the verdict with its exit code (`cutover demo --autopilot`).

use crate::step::StepId;
use crate::units::count;
use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::Mistake;
use crate::check::Status;

/// Which mail server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Server {
    Old,
    New,
}

impl Server {
    pub fn as_str(self) -> &'static str {
        match self {
            Server::Old => "old",
            Server::New => "new",
        }
    }
}

/// A check that blocked a step, or alarmed, when the autopilot looked.
#[derive(Debug, Clone, PartialEq)]
pub struct Caught {
    pub at: Timestamp,
    /// The step it was seen on; `None` for an alarm read from the journal, which holds
    /// back every step after the switch.
    pub step: Option<StepId>,
    pub check: String,
    pub status: Status,
    pub evidence: String,
    pub until: Option<Timestamp>,
}

/// One line of the rehearsal's timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at: Timestamp,
    pub text: String,
}

/// One copy run.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyRun {
    pub at: Timestamp,
    pub copied: u64,
    pub verified: bool,
}

/// A message that is on the old server and not on the new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingMessage {
    pub mailbox: String,
    pub folder: String,
    pub subject: String,
    pub origin: Origin,
}

/// Where a message on the old server came from: this says why it was not copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// There before the rehearsal began (the mail a copy must move).
    OldMail,
    /// Delivered by a sender during the rehearsal, while the MX still led to the old server.
    Delivered,
    /// A sent copy an employee saved through the old account.
    SentViaOld,
}

impl Origin {
    /// From the rehearsal's own Message-IDs (`traffic::message`): `live-N-customer` for
    /// senders, `live-N-<login>` for sent copies; anything else was seeded before the start.
    pub fn of(raw: &[u8]) -> Origin {
        let head = String::from_utf8_lossy(&raw[..raw.len().min(2_000)]).to_string();
        let id = head
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: <live-"))
            .unwrap_or_default()
            .to_string();
        match (id.is_empty(), id.contains("-customer@")) {
            (true, _) => Origin::OldMail,
            (false, true) => Origin::Delivered,
            (false, false) => Origin::SentViaOld,
        }
    }

    pub fn short(self) -> &'static str {
        match self {
            Origin::OldMail => "old mail",
            Origin::Delivered => "delivered during the rehearsal",
            Origin::SentViaOld => "sent copies",
        }
    }

    pub fn explain(self) -> &'static str {
        match self {
            Origin::OldMail => "old mail, there before the rehearsal began",
            Origin::Delivered => "delivered by senders to the old server during the rehearsal",
            Origin::SentViaOld => "sent copies employees saved through their old account",
        }
    }
}

/// A step held back by failing checks, from when it could otherwise have gone on until it did.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub step: StepId,
    /// The checks that held it, first seen.
    pub checks: Vec<String>,
    pub from: Timestamp,
    /// `None`: still held when the run ended.
    pub to: Option<Timestamp>,
    /// The step is one of the runbook's waits: being held is what it is for.
    pub wait: bool,
}

/// What happened, for the operator and the tests.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub mistake: Option<Mistake>,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub events: Vec<Event>,
    /// Gates that blocked a step the autopilot wanted to do, first sighting per (step, check).
    pub blocked: Vec<Caught>,
    /// Checks that alarmed (MX alarm), first sighting per (step, check).
    pub alarms: Vec<Caught>,
    /// (at, step, reason) of every override.
    pub overrides: Vec<(Timestamp, StepId, String)>,
    /// Mail delivered by the senders, per working day (1-based) and server.
    pub delivered: BTreeMap<(u32, Server), u64>,
    /// Sent copies employees saved on the old server through their old account.
    pub sent_via_old: u64,
    /// Delivery attempts deferred by senders (each retried every tick).
    pub deferrals: u64,
    /// Distinct messages deferred at least once.
    pub deferred_messages: u64,
    /// Messages still queued at the senders when the run ended.
    pub still_queued: u64,
    pub bounced: Vec<String>,
    pub pop3_fetched: u64,
    pub copies: Vec<CopyRun>,
    /// Messages that arrived on the old server after an early final copy, caught by the next one.
    pub caught_by_next_copy: u64,
    /// When the old server was shut down, what was on it and not on the new one: lost.
    pub lost: Vec<MissingMessage>,
    /// At the end: old messages (seeded and delivered) not on the new server.
    pub missing_at_end: Vec<MissingMessage>,
    /// Messages on the old server at the end (all folders, all mailboxes).
    pub old_messages_at_end: u64,
    /// Every runbook step finished.
    pub finished: bool,
    /// A person drove the rehearsal (`cutover demo`), not the autopilot.
    pub interactive: bool,
    /// When senders were first seen using the new MX (the switch).
    pub switch_at: Option<Timestamp>,
    /// Messages senders still delivered to the old server after the switch, and the last one.
    pub old_after_switch: u64,
    pub last_old_delivery: Option<Timestamp>,
    /// Steps held back by checks, and for how long.
    pub held: Vec<Held>,
    /// Every canary the autopilot sent, with its verdict.
    pub canaries: Vec<(crate::canary::Route, Status)>,
    /// The migration report (`cutover report --format md`) of this rehearsal's plan and
    /// journal: what the operator will hand over, shown before the rehearsal's own ground
    /// truth.
    pub migration: Option<String>,
    /// The new server broken and the way back (`--mistake new-server-breaks`).
    pub way_back: Option<super::WayBackReport>,
}

/// The migration report's Markdown form, from the rehearsal's plan and journal, as
/// `cutover report --format md` writes it.
pub fn migration_markdown(plan: &crate::plan::Plan, entries: &[crate::journal::Entry]) -> String {
    crate::report::build(plan, entries).render(crate::report::Format::Md)
}

impl Report {
    /// 0 no check alarmed, nothing deferred or lost; 1 an alarm (or a blocked gate overridden)
    /// or deferred mail, nothing lost; 2 mail lost (or the run could not prove none was).
    pub fn exit_code(&self) -> u8 {
        if !self.lost.is_empty()
            || !self.bounced.is_empty()
            || !self.missing_at_end.is_empty()
            || self.still_queued > 0
            || self
                .way_back
                .as_ref()
                .is_some_and(|w| !w.not_on_old.is_empty())
        {
            2
        } else if !self.alarms.is_empty()
            || !self.overrides.is_empty()
            || self.deferrals > 0
            || !self.finished
        {
            1
        } else {
            0
        }
    }

    /// "direct 1 (1 pass), world 3 (3 pass), outbound 1 (1 warn)": canaries per route by verdict.
    pub fn canary_counts(&self) -> String {
        let mut routes: Vec<crate::canary::Route> = self.canaries.iter().map(|(r, _)| *r).collect();
        routes.sort();
        routes.dedup();
        routes
            .iter()
            .map(|route| {
                let mut verdicts: BTreeMap<&str, u64> = BTreeMap::new();
                for (_, status) in self.canaries.iter().filter(|(r, _)| r == route) {
                    *verdicts.entry(status.as_str()).or_insert(0) += 1;
                }
                let total: u64 = verdicts.values().sum();
                let parts: Vec<String> = verdicts.iter().map(|(v, n)| format!("{n} {v}")).collect();
                format!("{} {total} ({})", route.as_str(), parts.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The first time `check` blocked or alarmed (any step).
    pub fn caught(&self, check: &str) -> Option<&Caught> {
        self.alarms
            .iter()
            .chain(&self.blocked)
            .filter(|c| c.check == check)
            .min_by_key(|c| c.at)
    }

    pub fn delivered_to(&self, server: Server) -> u64 {
        self.delivered
            .iter()
            .filter(|((_, s), _)| *s == server)
            .map(|(_, n)| n)
            .sum()
    }

    /// Lost messages per (mailbox, folder), in that order.
    pub fn lost_by_folder(&self) -> BTreeMap<(String, String), u64> {
        let mut out = BTreeMap::new();
        for m in &self.lost {
            *out.entry((m.mailbox.clone(), m.folder.clone()))
                .or_insert(0) += 1;
        }
        out
    }

    /// Every message the rehearsal lost or failed to deliver, by kind, with what the old
    /// server's messages were; the kinds add up to the total the verdict gives.
    pub fn losses(&self) -> Vec<(u64, String)> {
        let (old, what) = if self.lost.is_empty() {
            (
                &self.missing_at_end,
                "on the old server and not on the new one at the end",
            )
        } else {
            (
                &self.lost,
                "on the old server and not on the new one when it was shut down",
            )
        };
        let mut kinds: BTreeMap<Origin, u64> = BTreeMap::new();
        for m in old {
            *kinds.entry(m.origin).or_insert(0) += 1;
        }
        let origins: Vec<String> = kinds
            .iter()
            .map(|(o, n)| format!("{n} {}", o.short()))
            .collect();
        let not_on_old = self
            .way_back
            .as_ref()
            .map_or(0, |w| w.not_on_old.len() as u64);
        [
            (old.len() as u64, format!("{what} ({})", origins.join(", "))),
            (
                not_on_old,
                "on the new server and not on the old one, where the migration ends".to_string(),
            ),
            (
                self.bounced.len() as u64,
                "bounced back to their senders".to_string(),
            ),
            (
                self.still_queued,
                "never delivered (still queued at the senders)".to_string(),
            ),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .collect()
    }

    /// The report as printed by `cutover demo --autopilot` (and the rehearsal's summary):
    /// the migration report first, then what the sandbox knows happened (mail delivered,
    /// deferred, bounced, lost), the verdict and the exit code.
    pub fn render(&self) -> String {
        let mut s = String::new();
        if let Some(migration) = &self.migration {
            s.push_str(migration);
            if !migration.ends_with('\n') {
                s.push('\n');
            }
            s.push_str("\n---\n\n");
        }
        s.push_str(&match (self.interactive, self.mistake) {
            (true, _) => "REHEARSAL — summary of your run\n".to_string(),
            (false, Some(m)) => format!(
                "REHEARSAL — cutover autopilot, with the mistake `{}`\n",
                m.as_str()
            ),
            (false, None) => "REHEARSAL — cutover autopilot\n".to_string(),
        });
        if let (Some(a), Some(b)) = (self.start, self.end) {
            s.push_str(&format!("Simulated {} → {} (UTC)\n", when(a), when(b)));
        }
        s.push_str("\nTimeline\n");
        let mut events: Vec<&Event> = self.events.iter().collect();
        // Stable: events of one instant keep the order they happened in.
        events.sort_by_key(|e| e.at);
        for e in events {
            s.push_str(&format!("  {}  {}\n", when(e.at), e.text));
        }
        self.render_caught(&mut s);
        self.render_cost(&mut s);
        self.render_mail(&mut s);
        self.render_lost(&mut s);
        s.push_str(&format!(
            "\nVerdict (exit {}): {}\n",
            self.exit_code(),
            self.verdict()
        ));
        s
    }

    fn render_caught(&self, s: &mut String) {
        if self.blocked.is_empty() && self.alarms.is_empty() {
            return;
        }
        s.push_str("\nWhat the checks held back, blocked or alarmed\n");
        let mut caught: Vec<&Caught> = self.alarms.iter().chain(&self.blocked).collect();
        caught.sort_by_key(|c| c.at);
        for c in caught {
            let until = c
                .until
                .map(|u| format!(" (clears {})", when(u)))
                .unwrap_or_default();
            s.push_str(&format!(
                "  {}  {} {} on {}: {}{until}\n",
                when(c.at),
                c.status.as_str().to_uppercase(),
                c.check,
                c.step
                    .as_ref()
                    .map_or("every step after the switch", StepId::as_str),
                crate::sanitize::sanitize(&c.evidence)
            ));
        }
    }

    /// The mistake's cost in its own terms.
    fn render_cost(&self, s: &mut String) {
        let Some(mistake) = self.mistake else {
            return;
        };
        s.push_str("\nWhat the mistake cost\n");
        let overridden = |step: StepId| self.overrides.iter().find(|(_, id, _)| *id == step);
        match mistake {
            Mistake::NoTtlWait => {
                if let Some((at, ..)) = overridden(StepId::TtlWait) {
                    s.push_str(&format!(
                        "  {} was overridden at {}, before the old TTL had run out.\n",
                        StepId::TtlWait,
                        when(*at)
                    ));
                    // What it cost: the steps the resolvers' caches then held back.
                    for held in self.held.iter().filter(|h| {
                        let to = h.to.or(self.end).unwrap_or(h.from);
                        h.from >= *at
                            && !h.wait
                            && to.duration_since(h.from) >= SignedDuration::from_mins(30)
                    }) {
                        s.push_str(&format!("  {}\n", held_text(held, self.end)));
                    }
                }
                self.after_switch(s);
            }
            Mistake::DeleteOldMxFirst => {
                s.push_str(&format!(
                    "  Senders found no MX and deferred {} messages ({} attempts); {} still queued at the end.\n",
                    self.deferred_messages, self.deferrals, self.still_queued
                ));
                for held in &self.held {
                    if held.checks.iter().any(|c| c.starts_with("mx-")) {
                        s.push_str(&format!("  {}\n", held_text(held, self.end)));
                    }
                }
            }
            Mistake::EarlyFinalCopy => {
                s.push_str(&format!(
                    "  {} messages reached the old server after the early copy; only the next copy caught them.\n",
                    self.caught_by_next_copy
                ));
                self.after_switch(s);
            }
            Mistake::EarlyDecommission => {
                s.push_str(&format!(
                    "  {} messages were lost with the old server (see LOST below).\n",
                    self.lost.len()
                ));
                self.after_switch(s);
            }
            Mistake::NewServerBreaks => {
                if let Some(w) = &self.way_back {
                    s.push_str(&w.render());
                }
            }
            Mistake::DkimWrongSelector => self.wrong_selector_cost(s),
        }
    }

    /// `dkim-wrong-selector`: what the outbound canary found, and what receivers did with
    /// the new server's mail meanwhile.
    fn wrong_selector_cost(&self, s: &mut String) {
        let check = crate::canary::checks::OUTBOUND_AUTH;
        let failed = self
            .canaries
            .iter()
            .filter(|(r, v)| *r == crate::canary::Route::Outbound && *v == Status::Fail)
            .count();
        if let Some(c) = self.caught(check) {
            s.push_str(&format!(
                "  {check} failed at {}: {}\n",
                when(c.at),
                crate::sanitize::sanitize(&c.evidence)
            ));
        }
        if failed > 0 {
            s.push_str(&format!(
                "  {} sent through the new server failed at the external mailbox.\n",
                count(failed as u64, "outbound canary", "outbound canaries")
            ));
        }
        for held in self.held.iter().filter(|h| h.step == StepId::DkimSpfFinal) {
            s.push_str(&format!("  {}\n", held_text(held, self.end)));
        }
        if let Some((at, ..)) = self
            .overrides
            .iter()
            .find(|(_, id, _)| *id == StepId::DkimSpfFinal)
        {
            s.push_str(&format!(
                "  {} was confirmed by override at {}: from then on every message the new server sent failed DKIM (the selector it signs with has no key), so only SPF vouched for it: mail forwarded or sent through a mailing list arrives from another address, fails SPF too, and has nothing left that passes: spam, or refused once the domain publishes a DMARC policy that asks for it.\n",
                StepId::DkimSpfFinal,
                when(*at)
            ));
        }
    }

    fn after_switch(&self, s: &mut String) {
        if let Some(switch) = self.switch_at {
            let last = match self.last_old_delivery {
                Some(at) if self.old_after_switch > 0 => format!(", the last at {}", when(at)),
                _ => String::new(),
            };
            s.push_str(&format!(
                "  After the switch ({}), senders still delivered {} to the old server{last}.\n",
                when(switch),
                count(self.old_after_switch, "message", "messages")
            ));
        }
    }

    fn render_mail(&self, s: &mut String) {
        s.push_str("\nMail delivered by senders\n  day   old server   new server\n");
        let days: std::collections::BTreeSet<u32> =
            self.delivered.keys().map(|(d, _)| *d).collect();
        for day in days {
            let n = |server| self.delivered.get(&(day, server)).copied().unwrap_or(0);
            s.push_str(&format!(
                "  {day:>3}   {:>10}   {:>10}\n",
                n(Server::Old),
                n(Server::New)
            ));
        }
        if let Some(switch) = self.switch_at {
            s.push_str(&format!(
                "  after the switch ({}): {} to the old server\n",
                when(switch),
                self.old_after_switch
            ));
        }
        s.push_str(&format!(
            "  deferred attempts: {} ({} messages), still queued: {}, bounced: {}\n",
            self.deferrals,
            self.deferred_messages,
            self.still_queued,
            self.bounced.len()
        ));
        s.push_str(&format!(
            "  sent copies saved on the old server by employees: {}; POP3-fetched: {}\n",
            self.sent_via_old, self.pop3_fetched
        ));
        if !self.canaries.is_empty() {
            s.push_str(&format!("  canaries: {}\n", self.canary_counts()));
        }
        s.push_str("\nCopies\n");
        if self.copies.is_empty() {
            s.push_str("  none\n");
        }
        for c in &self.copies {
            s.push_str(&format!(
                "  {}  {} messages copied, {}\n",
                when(c.at),
                c.copied,
                if c.verified {
                    "verified complete"
                } else {
                    "NOT verified complete"
                }
            ));
        }
        if self.caught_by_next_copy > 0 {
            s.push_str(&format!(
                "  {} messages reached the old server after the early copy and were only caught by the next one\n",
                self.caught_by_next_copy
            ));
        }
    }

    /// What was lost: by kind, then per mailbox and folder, then a few examples.
    fn render_lost(&self, s: &mut String) {
        let (list, title) = if !self.lost.is_empty() {
            (
                &self.lost,
                "messages were on the old server and not on the new one when it was shut down",
            )
        } else if !self.missing_at_end.is_empty() {
            (
                &self.missing_at_end,
                "messages of the old server are not on the new one",
            )
        } else {
            return;
        };
        let label = if self.lost.is_empty() {
            "NOT COPIED"
        } else {
            "LOST"
        };
        s.push_str(&format!("\n{label}: {} {title}\n", list.len()));
        let mut kinds: BTreeMap<Origin, u64> = BTreeMap::new();
        for m in list {
            *kinds.entry(m.origin).or_insert(0) += 1;
        }
        for (origin, n) in &kinds {
            s.push_str(&format!("  {n:>6}  {}\n", origin.explain()));
        }
        if !self.lost.is_empty() && self.copies.is_empty() {
            s.push_str("  (no copy had run before the shutdown)\n");
        }
        if self.pop3_fetched > 0 {
            s.push_str(&format!(
                "  (POP3 fetch had already brought {} from old INBOXes to the new server: not lost)\n",
                count(self.pop3_fetched, "message", "messages")
            ));
        }
        let mut by_mailbox: BTreeMap<&str, Vec<(&str, u64)>> = BTreeMap::new();
        let mut per_folder: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for m in list {
            *per_folder
                .entry((m.mailbox.as_str(), m.folder.as_str()))
                .or_insert(0) += 1;
        }
        for ((mailbox, folder), n) in &per_folder {
            by_mailbox.entry(mailbox).or_default().push((folder, *n));
        }
        s.push_str("  By mailbox and folder:\n");
        const MAILBOX_LINES: usize = 20;
        for (mailbox, folders) in by_mailbox.iter().take(MAILBOX_LINES) {
            let total: u64 = folders.iter().map(|(_, n)| n).sum();
            let parts: Vec<String> = folders
                .iter()
                .map(|(f, n)| format!("{} {n}", crate::sanitize::sanitize(f)))
                .collect();
            s.push_str(&format!("    {mailbox}: {total} ({})\n", parts.join(", ")));
        }
        if by_mailbox.len() > MAILBOX_LINES {
            let rest: u64 = by_mailbox
                .values()
                .skip(MAILBOX_LINES)
                .flatten()
                .map(|(_, n)| n)
                .sum();
            s.push_str(&format!(
                "    … and {} more mailboxes ({rest} messages)\n",
                by_mailbox.len() - MAILBOX_LINES
            ));
        }
        // A few examples, from as many mailboxes and folders as there are.
        s.push_str("  For example:\n");
        let mut seen = std::collections::BTreeSet::new();
        let firsts: Vec<&MissingMessage> = list
            .iter()
            .filter(|m| seen.insert((m.mailbox.as_str(), m.folder.as_str())))
            .collect();
        let mut examples: Vec<&MissingMessage> = Vec::new();
        for round in 0.. {
            let before = examples.len();
            for mailbox in by_mailbox.keys() {
                if let Some(m) = firsts.iter().filter(|m| m.mailbox == *mailbox).nth(round) {
                    examples.push(m);
                }
            }
            if examples.len() >= 5 || examples.len() == before {
                break;
            }
        }
        for m in examples.into_iter().take(5) {
            s.push_str(&format!(
                "    {} / {}: {}\n",
                m.mailbox,
                crate::sanitize::sanitize(&m.folder),
                crate::sanitize::sanitize(&m.subject)
            ));
        }
    }

    fn verdict(&self) -> String {
        match self.exit_code() {
            0 => format!(
                "clean. Every message — {} on the old server, old mail and mail delivered during the rehearsal — is on the new server, verified.",
                self.old_messages_at_end
            ),
            1 => {
                let mut why = Vec::new();
                if !self.alarms.is_empty() {
                    why.push(count(self.alarms.len() as u64, "alarm", "alarms"));
                }
                if !self.overrides.is_empty() {
                    why.push(format!(
                        "{} overridden",
                        count(self.overrides.len() as u64, "check", "checks")
                    ));
                }
                if self.deferrals > 0 {
                    why.push(format!(
                        "{} deferred",
                        count(self.deferred_messages, "message", "messages")
                    ));
                }
                if !self.finished {
                    why.push("the procedure did not finish".to_string());
                }
                let lost = match &self.way_back {
                    Some(w) if w.rolled_back_at.is_some() => {
                        let deferred = match w.deferred {
                            0 => String::new(),
                            n => format!(
                                ", and {} of the {n} deferred while the new MX answered 4xx were delivered there",
                                w.deferred_on_old
                            ),
                        };
                        format!(
                            "no mail lost (every message that reached the new server is on the old one, where the migration ends{deferred})"
                        )
                    }
                    _ => "no mail lost".to_string(),
                };
                format!("{lost}, but: {}.", why.join(", "))
            }
            _ => {
                let losses = self.losses();
                let total: u64 = losses.iter().map(|(n, _)| n).sum();
                let parts: Vec<String> = losses
                    .iter()
                    .map(|(n, what)| format!("{n} {what}"))
                    .collect();
                format!(
                    "MAIL LOST: {}: {}.",
                    count(total, "message", "messages"),
                    parts.join("; ")
                )
            }
        }
    }
}

pub(super) fn when(at: Timestamp) -> String {
    at.to_zoned_datetime(TimeZone::UTC)
        .strftime("%a %-d %b %H:%M")
        .to_string()
}

/// "add-new-mx was held 23 h 55 min (Mon 2 Mar 09:20 → Tue 3 Mar 09:15) by resolvers-new-mx".
fn held_text(held: &Held, end: Option<Timestamp>) -> String {
    let to = held.to.or(end).unwrap_or(held.from);
    format!(
        "{} was held {} ({} → {}{}) by {}",
        held.step,
        crate::units::duration(to.duration_since(held.from)),
        when(held.from),
        when(to),
        if held.to.is_none() {
            ", still held at the end"
        } else {
            ""
        },
        held.checks.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn the_exit_code_says_lost_over_alarmed_over_clean() {
        let clean = Report {
            finished: true,
            ..Report::default()
        };
        assert_eq!(clean.exit_code(), 0);
        let deferred = Report {
            deferrals: 3,
            deferred_messages: 1,
            ..clean.clone()
        };
        assert_eq!(deferred.exit_code(), 1);
        let alarmed = Report {
            alarms: vec![Caught {
                at: t("2026-03-03T08:10:00Z"),
                step: Some(StepId::AddNewMx),
                check: "mx-no-alarm".into(),
                status: Status::Fail,
                evidence: "empty MX set".into(),
                until: None,
            }],
            ..clean.clone()
        };
        assert_eq!(alarmed.exit_code(), 1);
        let unfinished = Report {
            finished: false,
            ..clean.clone()
        };
        assert_eq!(unfinished.exit_code(), 1);
        let lost = Report {
            lost: vec![MissingMessage {
                mailbox: "user1@example-firm.test".into(),
                folder: "Sent".into(),
                subject: "Quarterly report".into(),
                origin: Origin::SentViaOld,
            }],
            ..deferred
        };
        assert_eq!(lost.exit_code(), 2);
        assert!(lost.render().contains("Quarterly report"));
        let never_delivered = Report {
            still_queued: 2,
            ..clean
        };
        assert_eq!(never_delivered.exit_code(), 2);
    }
}
