//! The one recorder: every process that observes the world (`status` and `confirm`, the
//! cockpit's workers, the autopilot) hands each observation round to a [`Recorder`], and only
//! here does a round become journal facts. It follows the journal, so a fact another process
//! recorded first is never recorded twice, and its [`History`] is what was recorded so far.
//!
//! The facts a round gives are decided by pure functions beside the observations they read
//! (`dns::dns_facts`, `mail::steps::mail_facts`, `smtp::steps::probe_fact`,
//! `canary::facts::round_facts`, `runbook::eval::observed_steps`); [`keys`] lists every fact key in one place. The copy's own
//! lines (checkpoints, ledger, progress and its verified result) are written by the copy as it
//! goes, through its `SyncLog`.

use crate::dns::DnsSnapshot;
use crate::dns::{AnswerStatus, Role};
use crate::journal::{Entry, Follower, History, Journal, JournalError, Replay};
use crate::mail::probe::MailboxProbe;
use crate::plan::Plan;
use crate::runbook::Evaluation;
use crate::smtp::SmtpProbe;
use crate::step::StepId;

/// Every fact key the journal holds, whoever decides it: a list to read, so most names are
/// not used through it.
#[allow(unused_imports)]
pub mod keys {
    pub use crate::canary::facts::CANARY_FACT as CANARY;
    pub use crate::journal::dns_facts::keys::*;
    pub use crate::journal::history::STEP_OBSERVED;
    pub use crate::mail::archive::ARCHIVE_FACT as ARCHIVE_VERIFIED;
    pub use crate::mail::steps::{OLD_INBOX_UIDNEXT, POP3_FETCH_SEEN};
    pub use crate::mail::sync::{
        COPY_BACK_RESULT_FACT, COPY_RESULT_FACT, LEDGER_FACT, RATE_FACT, WINDOW_FACT,
    };
    pub use crate::runbook::bulk_copy::VERIFIED as BULK_COPY_VERIFIED;
    pub use crate::runbook::rollback::FACT as ROLLBACK;
    pub use crate::smtp::steps::PROBE_FACT as SMTP_PROBE;
    /// The records and TTLs every authoritative server served when a DNS step was confirmed:
    /// `{"step": id, "servers": {server: [{"name", "type", "ttl", "data"}]}}` (the report's
    /// DNS section "as served"). Journals written before it have only the MX-set and TTL facts.
    pub const DNS_RECORDS: &str = "dns-records";
}

/// Journals what observation rounds show for the first time, and keeps the history of the
/// journal as it grows (its own lines and every other process's).
pub struct Recorder {
    plan: Plan,
    journal: Journal,
    follower: Follower,
    history: History,
}

impl Recorder {
    /// Opens the plan's journal and folds it; the replay is returned for its warnings (a torn
    /// last line, bad lines).
    pub fn open(plan: &Plan) -> Result<(Recorder, Replay), JournalError> {
        let journal = Journal::for_plan(plan)?;
        let replay = journal.replay()?;
        let recorder = Recorder {
            plan: plan.clone(),
            follower: journal.follower_after(&replay),
            history: History::from_entries(&replay.entries),
            journal,
        };
        Ok((recorder, replay))
    }

    /// Everything journaled so far, as of the last round or [`Recorder::catch_up`].
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The journal file itself (its path, its driver lock).
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Folds what was appended since the last look (by this process or another). A journal
    /// that was replaced is folded again from its start. False when the journal could not be
    /// read; the history then stays as it was.
    pub fn catch_up(&mut self) -> bool {
        match self.follower.poll() {
            Ok(entries) => {
                if self.follower.restarted() {
                    self.history = History::default();
                }
                entries.iter().for_each(|e| self.history.apply(e));
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot follow the journal");
                false
            }
        }
    }

    /// Appends one line (a confirmation, a note, a fact) and folds it into the history, with
    /// whatever other processes appended before it, in the file's order.
    pub fn append(&mut self, entry: &Entry) -> Result<(), JournalError> {
        self.journal.append(entry)?;
        if !self.catch_up() {
            // Unreadable right now: fold our own line so the next decision still knows it.
            self.history.apply(entry);
        }
        Ok(())
    }

    /// A DNS round: the TTL baseline, the lowered TTL, MX transitions and alarms seen first.
    pub fn dns_round(&mut self, snapshot: &DnsSnapshot) -> Result<Vec<Entry>, JournalError> {
        self.catch_up();
        let (_, entries) = crate::dns::dns_facts(&self.plan, &self.history.dns, snapshot);
        self.append_all(entries)
    }

    /// A mailbox probe round: each old INBOX's UIDNEXT when it moved, and a POP3 fetch into a
    /// mailbox no copy has touched yet. `round`: when the round was asked for, when its
    /// results arrive in several batches (the cockpit's prober), so the journal pane folds
    /// them into one line.
    pub fn mailbox_probes(
        &mut self,
        probes: &[MailboxProbe],
        now: jiff::Timestamp,
        round: Option<jiff::Timestamp>,
    ) -> Result<Vec<Entry>, JournalError> {
        self.catch_up();
        let mut entries = crate::mail::steps::mail_facts(&self.history, probes, now);
        if let Some(round) = round {
            for entry in &mut entries {
                if let Entry::Fact { value, .. } = entry {
                    value[crate::mail::steps::ROUND] = serde_json::json!(round.to_string());
                }
            }
        }
        entries.extend(crate::mail::steps::pop3_fetch_facts(
            &self.history,
            probes,
            now,
        ));
        self.append_all(entries)
    }

    /// What the new MX answered for every address, when it changed or the journal's answer
    /// is an hour old.
    pub fn smtp_probe(
        &mut self,
        probe: &SmtpProbe,
        now: jiff::Timestamp,
    ) -> Result<Option<Entry>, JournalError> {
        self.catch_up();
        let fact = crate::smtp::steps::probe_fact(&self.plan, &self.history, probe, now);
        Ok(self.append_all(fact.into_iter().collect())?.pop())
    }

    /// A canary round: each canary as a fact (its Message-ID kept, so the copy and the quiet
    /// check skip one left on the old server), and `canary-lost`/`canary-old` raised or cleared.
    pub fn canary_round(
        &mut self,
        results: &[crate::canary::CanaryResult],
        now: jiff::Timestamp,
    ) -> Result<Vec<Entry>, JournalError> {
        self.catch_up();
        let entries = crate::canary::facts::round_facts(&self.history, results, now);
        self.append_all(entries)
    }

    /// The automatic steps an evaluation shows done for the first time, so they stay done.
    pub fn observed_steps(
        &mut self,
        eval: &Evaluation,
        now: jiff::Timestamp,
    ) -> Result<Vec<Entry>, JournalError> {
        self.catch_up();
        let entries = crate::runbook::eval::observed_steps(eval, &self.history, now);
        self.append_all(entries)
    }

    /// What `archive --verify` found: the directory, its manifest's SHA-256, and per mailbox
    /// the counts and the old INBOX UIDNEXT it covers (the gate of `decommission-old`).
    pub fn archive_verification(
        &mut self,
        verification: &crate::mail::archive::Verification,
        at: jiff::Timestamp,
    ) -> Result<Entry, JournalError> {
        let entry = crate::mail::archive::archive_fact(verification, at);
        self.append(&entry)?;
        Ok(entry)
    }

    /// At a DNS step's confirmation (see [`StepId::changes_dns`]): what every authoritative
    /// server served in `snapshot`, the round the confirmation was judged on. Nothing for
    /// another step, or when no authoritative server answered.
    pub fn dns_records(
        &mut self,
        step: &StepId,
        snapshot: &DnsSnapshot,
        at: jiff::Timestamp,
    ) -> Result<Option<Entry>, JournalError> {
        let fact = Recorder::dns_records_fact(step, snapshot, at);
        if let Some(entry) = &fact {
            self.append(entry)?;
        }
        Ok(fact)
    }

    /// The [`keys::DNS_RECORDS`] fact for `step`'s confirmation at `at`, from the round it was
    /// judged on: every record each authoritative server answered with, with the TTL it
    /// served. Pure, so the cockpit (which journals through its own command) builds the same.
    pub fn dns_records_fact(
        step: &StepId,
        snapshot: &DnsSnapshot,
        at: jiff::Timestamp,
    ) -> Option<Entry> {
        if !step.changes_dns() {
            return None;
        }
        let mut servers = serde_json::Map::new();
        for server in snapshot
            .servers
            .iter()
            .filter(|s| s.role == Role::Authoritative)
        {
            let records: Vec<serde_json::Value> = server
                .answers
                .iter()
                .filter(|a| a.status == AnswerStatus::Ok)
                .flat_map(|a| {
                    a.records.iter().map(|data| {
                        serde_json::json!({
                            "name": a.name,
                            "type": a.rtype.as_str(),
                            "ttl": a.ttl,
                            "data": data,
                        })
                    })
                })
                .collect();
            if !records.is_empty() {
                servers.insert(server.address.to_string(), records.into());
            }
        }
        if servers.is_empty() {
            return None;
        }
        let evidence = format!(
            "Records served at {step}'s confirmation by {} (round {} at {}).",
            crate::units::count(
                servers.len() as u64,
                "authoritative server",
                "authoritative servers"
            ),
            snapshot.round,
            snapshot.measured_at,
        );
        Some(Entry::Fact {
            at,
            key: keys::DNS_RECORDS.to_string(),
            value: serde_json::json!({ "step": step.as_str(), "servers": servers }),
            evidence,
        })
    }

    fn append_all(&mut self, entries: Vec<Entry>) -> Result<Vec<Entry>, JournalError> {
        for entry in &entries {
            self.append(entry)?;
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::probe::SideProbe;

    fn probe(address: &str) -> MailboxProbe {
        let side = SideProbe {
            login: crate::mail::LoginState::Ok,
            messages: Some(4),
            folders: Vec::new(),
            error: None,
            inbox: None,
            inbox_newest_at: None,
        };
        MailboxProbe {
            address: address.into(),
            old: side.clone(),
            new: side,
            synced_percent: None,
            fetch_detected: Some(true),
            fetch_share: Some(0.5),
            verified: None,
            old_bytes: None,
            probed_at: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    fn plan_in(dir: &std::path::Path) -> Plan {
        let path = dir.join("acme.toml");
        std::fs::write(&path, include_str!("../assets/example.toml")).unwrap();
        crate::plan::load(&path).unwrap().plan
    }

    fn answer(
        name: &str,
        rtype: crate::dns::Rtype,
        status: AnswerStatus,
        ttl: u32,
        records: &[&str],
    ) -> crate::dns::Answer {
        crate::dns::Answer {
            name: name.into(),
            rtype,
            status,
            ttl,
            records: records.iter().map(|r| r.to_string()).collect(),
            measured_at: jiff::Timestamp::UNIX_EPOCH,
            latency_ms: 1,
            tcp: false,
            detail: None,
        }
    }

    fn server(
        address: &str,
        role: Role,
        answers: Vec<crate::dns::Answer>,
    ) -> crate::dns::ServerView {
        crate::dns::ServerView {
            address: address.parse().unwrap(),
            role,
            ns_host: None,
            answers,
        }
    }

    fn snapshot(servers: Vec<crate::dns::ServerView>) -> DnsSnapshot {
        DnsSnapshot {
            round: 7,
            measured_at: jiff::Timestamp::UNIX_EPOCH,
            servers,
            discovery_error: None,
            spf_targets: Vec::new(),
            mta_sts: None,
            judged: Default::default(),
        }
    }

    /// What each authoritative server served, with its TTL, becomes the fact; resolvers
    /// (cache TTLs) and answers without records are left out.
    #[test]
    fn a_dns_step_records_every_authoritative_servers_records_and_ttls() {
        use crate::dns::Rtype;
        let round = snapshot(vec![
            server(
                "192.0.2.1:53",
                Role::Authoritative,
                vec![
                    answer(
                        "example.com.",
                        Rtype::MX,
                        AnswerStatus::Ok,
                        300,
                        &["10 mx.new.test."],
                    ),
                    answer(
                        "example.com.",
                        Rtype::TXT,
                        AnswerStatus::Ok,
                        300,
                        &["v=spf1 a:mx.new.test -all"],
                    ),
                    answer(
                        "_dmarc.example.com.",
                        Rtype::TXT,
                        AnswerStatus::Nxdomain,
                        0,
                        &[],
                    ),
                ],
            ),
            server(
                "192.0.2.2:53",
                Role::Authoritative,
                vec![answer(
                    "example.com.",
                    Rtype::MX,
                    AnswerStatus::Ok,
                    3600,
                    &["10 mx.old.test.", "20 mx.new.test."],
                )],
            ),
            server(
                "9.9.9.9:53",
                Role::Resolver,
                vec![answer(
                    "example.com.",
                    Rtype::MX,
                    AnswerStatus::Ok,
                    12,
                    &["10 mx.old.test."],
                )],
            ),
        ]);
        let at: jiff::Timestamp = "2026-03-03T09:15:00Z".parse().unwrap();
        let Some(Entry::Fact {
            at: when,
            key,
            value,
            evidence,
        }) = Recorder::dns_records_fact(&StepId::RemoveOldMx, &round, at)
        else {
            panic!("a DNS step's confirmation gives the fact");
        };
        assert_eq!(when, at);
        assert_eq!(key, keys::DNS_RECORDS);
        assert_eq!(
            value,
            serde_json::json!({
                "step": "remove-old-mx",
                "servers": {
                    "192.0.2.1:53": [
                        {"name": "example.com.", "type": "MX", "ttl": 300, "data": "10 mx.new.test."},
                        {"name": "example.com.", "type": "TXT", "ttl": 300, "data": "v=spf1 a:mx.new.test -all"},
                    ],
                    "192.0.2.2:53": [
                        {"name": "example.com.", "type": "MX", "ttl": 3600, "data": "10 mx.old.test."},
                        {"name": "example.com.", "type": "MX", "ttl": 3600, "data": "20 mx.new.test."},
                    ],
                }
            })
        );
        assert!(evidence.contains("2 authoritative servers"), "{evidence}");
    }

    #[test]
    fn no_fact_for_a_step_that_does_not_change_dns_or_a_round_with_nothing_served() {
        use crate::dns::Rtype;
        let served = snapshot(vec![server(
            "192.0.2.1:53",
            Role::Authoritative,
            vec![answer(
                "example.com.",
                Rtype::MX,
                AnswerStatus::Ok,
                300,
                &["10 mx.new.test."],
            )],
        )]);
        let at = jiff::Timestamp::UNIX_EPOCH;
        assert!(Recorder::dns_records_fact(&StepId::BulkCopy, &served, at).is_none());
        assert!(
            Recorder::dns_records_fact(&StepId::parse("check-printers"), &served, at).is_none()
        );
        let timed_out = snapshot(vec![server(
            "192.0.2.1:53",
            Role::Authoritative,
            vec![answer(
                "example.com.",
                Rtype::MX,
                AnswerStatus::Timeout,
                0,
                &[],
            )],
        )]);
        assert!(Recorder::dns_records_fact(&StepId::LowerTtl, &timed_out, at).is_none());
        for step in StepId::BUILT_IN.iter().filter(|s| s.changes_dns()) {
            assert!(
                Recorder::dns_records_fact(step, &served, at).is_some(),
                "{step}"
            );
        }
    }

    /// Two processes observing the same fetch (a cockpit's prober and a `status` run): the
    /// second sees the first one's fact by following the journal and records nothing.
    #[test]
    fn a_fact_another_process_recorded_is_not_recorded_again() {
        let dir = tempfile::tempdir().unwrap();
        let plan = plan_in(dir.path());
        let (mut cockpit, _) = Recorder::open(&plan).unwrap();
        let (mut status, _) = Recorder::open(&plan).unwrap();
        let now = jiff::Timestamp::UNIX_EPOCH;
        let probes = [probe("alice@example.com")];
        let first = cockpit.mailbox_probes(&probes, now, None).unwrap();
        assert_eq!(first.len(), 1, "{first:?}");
        assert!(
            status
                .mailbox_probes(&probes, now, None)
                .unwrap()
                .is_empty()
        );
        assert!(
            cockpit
                .mailbox_probes(&probes, now, None)
                .unwrap()
                .is_empty()
        );
        // Both histories hold the fact once.
        for r in [&cockpit, &status] {
            let seen = r.history().facts.get(keys::POP3_FETCH_SEEN).map(Vec::len);
            assert_eq!(seen, Some(1));
        }
        let lines = std::fs::read_to_string(Journal::path_for_plan(&plan.path)).unwrap();
        assert_eq!(lines.lines().count(), 1, "{lines}");
    }
}
