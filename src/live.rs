//! The cockpit's live workers: the DNS watcher and the mailbox prober, each a tokio
//! task that owns its I/O and talks to the loop only through channels. Each journals
//! the facts it observes first (DNS TTLs and MX transitions, old INBOX UIDNEXT).

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::app::Event;
use crate::clock::SystemClock;
use crate::dns::{DnsCommand, DnsFacts, DnsSnapshot, RoundOptions};
use crate::journal::History;
use crate::journal::{Follower, Journal};
use crate::mail::{CredentialSource, MailboxProbe, ProbeCommand};
use crate::plan::Plan;
use crate::tui::{StartWorkers, Workers};

/// Starts the live workers for a cockpit on `plan`.
pub fn workers() -> StartWorkers {
    Box::new(|plan: &Plan, events: mpsc::Sender<Event>| {
        let (snapshots_tx, snapshots) = mpsc::channel::<DnsSnapshot>(4);
        let (dns_commands, _watcher) = crate::dns::spawn_watcher(
            plan.clone(),
            Arc::new(SystemClock),
            RoundOptions::default(),
            snapshots_tx,
        );
        tokio::spawn(relay_dns(plan.clone(), snapshots, events.clone()));
        let (refresh, mut refresh_rx) = mpsc::channel::<()>(4);
        tokio::spawn(async move {
            while refresh_rx.recv().await.is_some() {
                if dns_commands.send(DnsCommand::RefreshNow).await.is_err() {
                    break;
                }
            }
        });
        let mut refreshers = vec![refresh];
        match start_prober(plan, events) {
            Ok(refresh) => refreshers.push(refresh),
            Err(why) => tracing::info!("{why}"),
        }
        Workers {
            refresh: refreshers,
            ..Workers::default()
        }
    })
}

/// How often every mailbox is probed again (each probe is a login and a STATUS per folder).
const PROBE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);
/// Probes are handed to the loop at most this often, all at once.
const PROBE_BATCH: std::time::Duration = std::time::Duration::from_millis(500);

/// Starts the prober; without credentials the mailbox checks stay unknown and it says why.
fn start_prober(plan: &Plan, events: mpsc::Sender<Event>) -> Result<mpsc::Sender<()>, String> {
    let creds = match &plan.credentials {
        None => return Err("no [credentials] in the plan: mailboxes are not probed".into()),
        Some(c) => {
            CredentialSource::new(Some(c)).map_err(|e| format!("mailboxes are not probed: {e}"))?
        }
    };
    let (commands, commands_rx) = mpsc::channel::<ProbeCommand>(8);
    let (results_tx, results) = mpsc::channel::<MailboxProbe>(256);
    tokio::spawn(crate::mail::run_prober(
        Arc::new(plan.clone()),
        Arc::new(creds),
        Arc::new(SystemClock),
        crate::mail::probe::ProbeOptions::default(),
        commands_rx,
        results_tx,
    ));
    let (refresh, refresh_rx) = mpsc::channel::<()>(4);
    tokio::spawn(relay_probes(
        plan.clone(),
        commands,
        refresh_rx,
        results,
        events,
    ));
    Ok(refresh)
}

/// Asks for a probe of every mailbox now, every minute and on refresh; journals
/// old INBOX UIDNEXT changes; hands the loop every probe so far, in plan order.
async fn relay_probes(
    plan: Plan,
    commands: mpsc::Sender<ProbeCommand>,
    mut refresh: mpsc::Receiver<()>,
    mut results: mpsc::Receiver<MailboxProbe>,
    events: mpsc::Sender<Event>,
) {
    let mut facts = MailFacts::new(&plan);
    let mut latest: Vec<Option<MailboxProbe>> = vec![None; plan.mailboxes.len()];
    let index: std::collections::HashMap<String, usize> = plan
        .mailboxes
        .iter()
        .enumerate()
        .map(|(i, m)| (m.address.to_lowercase(), i))
        .collect();
    let mut changed = false;
    let mut every = tokio::time::interval(PROBE_EVERY);
    let mut batch = tokio::time::interval(PROBE_BATCH);
    loop {
        tokio::select! {
            _ = every.tick() => {
                if commands.send(ProbeCommand::ProbeAll).await.is_err() { break; }
            }
            Some(()) = refresh.recv() => {
                if commands.send(ProbeCommand::ProbeAll).await.is_err() { break; }
            }
            probe = results.recv() => {
                let Some(probe) = probe else { break };
                if let Some(&i) = index.get(&probe.address.to_lowercase()) {
                    latest[i] = Some(probe);
                    changed = true;
                }
            }
            _ = batch.tick(), if changed => {
                changed = false;
                let probes: Vec<MailboxProbe> = latest.iter().flatten().cloned().collect();
                facts.record(&probes, crate::clock::Clock::now(&SystemClock));
                if events.send(Event::MailProbes(probes)).await.is_err() { break; }
            }
        }
    }
}

/// Journals each round's first-seen facts, then hands the round to the loop.
async fn relay_dns(
    plan: Plan,
    mut snapshots: mpsc::Receiver<DnsSnapshot>,
    events: mpsc::Sender<Event>,
) {
    let mut facts = DnsFactsRecorder::new(&plan);
    while let Some(snapshot) = snapshots.recv().await {
        if let Err(e) = facts.record(&snapshot) {
            tracing::error!(error = %e, "cannot journal a DNS fact");
            let _ = events
                .send(Event::Notice(format!("cannot journal a DNS fact: {e}")))
                .await;
        }
        // The facts just written reach the loop through its own journal follower.
        if events
            .send(Event::DnsRound(Box::new(snapshot)))
            .await
            .is_err()
        {
            break;
        }
    }
}

/// Journals what DNS rounds show first (TTL baseline, lowered TTL, MX transitions,
/// alarms), following the journal so facts another process (a `status` run)
/// recorded are not recorded twice.
pub(crate) struct DnsFactsRecorder {
    plan: Plan,
    journal: Option<Journal>,
    follower: Follower,
    facts: DnsFacts,
}

impl DnsFactsRecorder {
    pub(crate) fn new(plan: &Plan) -> DnsFactsRecorder {
        let path = Journal::path_for_plan(&plan.path);
        DnsFactsRecorder {
            plan: plan.clone(),
            journal: Journal::open(&path).ok(),
            follower: Follower::new(&path),
            facts: DnsFacts::default(),
        }
    }

    pub(crate) fn record(
        &mut self,
        snapshot: &DnsSnapshot,
    ) -> Result<(), crate::journal::JournalError> {
        match self.follower.poll() {
            Ok(entries) => {
                if self.follower.restarted() {
                    self.facts = DnsFacts::default();
                }
                entries.iter().for_each(|e| self.facts.apply(e));
            }
            Err(e) => tracing::warn!(error = %e, "cannot follow the journal for DNS facts"),
        }
        let Some(journal) = &self.journal else {
            return Ok(());
        };
        let (_, new_facts) = crate::dns::dns_facts(&self.plan, &self.facts, snapshot);
        for entry in &new_facts {
            journal.append(entry)?;
            self.facts.apply(entry);
        }
        Ok(())
    }
}

/// Journals what mailbox probes show first (an old INBOX's UIDNEXT when it changes),
/// following the journal so facts another process recorded are not recorded twice.
pub(crate) struct MailFacts {
    journal: Option<Journal>,
    follower: Follower,
    history: History,
}

impl MailFacts {
    pub(crate) fn new(plan: &Plan) -> MailFacts {
        let path = Journal::path_for_plan(&plan.path);
        MailFacts {
            journal: Journal::open(&path).ok(),
            follower: Follower::new(&path),
            history: History::default(),
        }
    }

    pub(crate) fn record(&mut self, probes: &[MailboxProbe], now: jiff::Timestamp) {
        match self.follower.poll() {
            Ok(entries) => {
                if self.follower.restarted() {
                    self.history = History::default();
                }
                entries.iter().for_each(|e| self.history.apply(e));
            }
            Err(e) => tracing::warn!(error = %e, "cannot follow the journal for mailbox facts"),
        }
        let Some(journal) = &self.journal else { return };
        for fact in crate::mail::steps::mail_facts(&self.history, probes, now) {
            match journal.append(&fact) {
                Ok(()) => self.history.apply(&fact),
                Err(e) => tracing::error!(error = %e, "cannot journal a mailbox fact"),
            }
        }
    }
}
