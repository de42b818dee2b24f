//! The autopilot's report: what happened in the rehearsal, what the checks caught, what the
//! mail did, and the verdict with its exit code (`cutover demo --autopilot`).

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;

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
    pub step: String,
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
    pub overrides: Vec<(Timestamp, String, String)>,
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
}

impl Report {
    /// 0 no check alarmed, nothing deferred or lost; 1 an alarm (or a blocked gate overridden)
    /// or deferred mail, nothing lost; 2 mail lost (or the run could not prove none was).
    pub fn exit_code(&self) -> u8 {
        if !self.lost.is_empty()
            || !self.bounced.is_empty()
            || !self.missing_at_end.is_empty()
            || self.still_queued > 0
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

    /// The report as printed by `cutover demo --autopilot`.
    pub fn render(&self) -> String {
        let when = |at: Timestamp| {
            at.to_zoned_datetime(TimeZone::UTC)
                .strftime("%a %-d %b %H:%M")
                .to_string()
        };
        let mut s = String::new();
        s.push_str(&format!(
            "REHEARSAL — cutover autopilot{}\n",
            match self.mistake {
                Some(m) => format!(", with the mistake `{}`", m.as_str()),
                None => String::new(),
            }
        ));
        if let (Some(a), Some(b)) = (self.start, self.end) {
            s.push_str(&format!("Simulated {} → {} (UTC)\n", when(a), when(b)));
        }
        s.push_str("\nTimeline\n");
        for e in &self.events {
            s.push_str(&format!("  {}  {}\n", when(e.at), e.text));
        }
        if !self.blocked.is_empty() || !self.alarms.is_empty() {
            s.push_str("\nWhat the checks held back, blocked or alarmed\n");
            for c in self.alarms.iter().chain(&self.blocked) {
                let until = c
                    .until
                    .map(|u| format!(" (clears {})", when(u)))
                    .unwrap_or_default();
                s.push_str(&format!(
                    "  {}  {} {} on {}: {}{until}\n",
                    when(c.at),
                    c.status.as_str().to_uppercase(),
                    c.check,
                    c.step,
                    crate::sanitize::sanitize(&c.evidence)
                ));
            }
        }
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
        if !self.lost.is_empty() {
            s.push_str(&format!(
                "\nLOST: {} messages were on the old server and not on the new one when it was shut down\n",
                self.lost.len()
            ));
            for m in self.lost.iter().take(20) {
                s.push_str(&format!(
                    "  {} / {}: {}\n",
                    m.mailbox,
                    m.folder,
                    crate::sanitize::sanitize(&m.subject)
                ));
            }
            if self.lost.len() > 20 {
                s.push_str(&format!("  … and {} more\n", self.lost.len() - 20));
            }
        }
        if !self.missing_at_end.is_empty() && self.lost.is_empty() {
            s.push_str(&format!(
                "\n{} messages of the old server are not on the new one\n",
                self.missing_at_end.len()
            ));
        }
        s.push_str(&format!(
            "\nVerdict (exit {}): {}\n",
            self.exit_code(),
            self.verdict()
        ));
        s
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
                    why.push(format!("{} alarm(s)", self.alarms.len()));
                }
                if !self.overrides.is_empty() {
                    why.push(format!("{} check(s) overridden", self.overrides.len()));
                }
                if self.deferrals > 0 {
                    why.push(format!("{} messages deferred", self.deferred_messages));
                }
                if !self.finished {
                    why.push("the procedure did not finish".to_string());
                }
                format!("no mail lost, but: {}.", why.join(", "))
            }
            _ => format!(
                "MAIL LOST: {} messages lost at shutdown, {} bounced, {} never delivered, {} not on the new server.",
                self.lost.len(),
                self.bounced.len(),
                self.still_queued,
                self.missing_at_end.len()
            ),
        }
    }
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
                step: "add-new-mx".into(),
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
