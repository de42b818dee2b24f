//! The cockpit's live workers: the DNS watcher (and, once it lands, the mailbox prober),
//! each a tokio task that owns its I/O and talks to the loop only through channels.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::app::Event;
use crate::clock::SystemClock;
use crate::dns::{DnsCommand, DnsFacts, DnsSnapshot, RoundOptions};
use crate::journal::{Follower, Journal};
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
        let journal_path = Journal::path_for_plan(&plan.path);
        tokio::spawn(relay_dns(plan.clone(), journal_path, snapshots, events));
        let (refresh, mut refresh_rx) = mpsc::channel::<()>(4);
        tokio::spawn(async move {
            while refresh_rx.recv().await.is_some() {
                if dns_commands.send(DnsCommand::RefreshNow).await.is_err() {
                    break;
                }
            }
        });
        Workers {
            refresh: vec![refresh],
            ..Workers::default()
        }
    })
}

/// Journals each round's first-seen facts, then hands the round to the loop.
/// Its DNS facts follow the journal, so facts another process (a `status`
/// run) recorded are not recorded twice.
async fn relay_dns(
    plan: Plan,
    journal_path: PathBuf,
    mut snapshots: mpsc::Receiver<DnsSnapshot>,
    events: mpsc::Sender<Event>,
) {
    let journal = match Journal::open(&journal_path) {
        Ok(j) => j,
        Err(e) => {
            let _ = events
                .send(Event::Notice(format!("DNS facts are not journaled: {e}")))
                .await;
            return;
        }
    };
    let mut facts = DnsFacts::default();
    let mut follower = Follower::new(&journal_path);
    while let Some(snapshot) = snapshots.recv().await {
        match follower.poll() {
            Ok(entries) => {
                if follower.restarted() {
                    facts = DnsFacts::default();
                }
                for e in &entries {
                    facts.apply(e);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot follow the journal for DNS facts"),
        }
        let (_, new_facts) = crate::dns::dns_facts(&plan, &facts, &snapshot);
        for entry in &new_facts {
            match journal.append(entry) {
                Ok(()) => facts.apply(entry),
                Err(e) => {
                    tracing::error!(error = %e, "cannot journal a DNS fact");
                    let _ = events
                        .send(Event::Notice(format!("cannot journal a DNS fact: {e}")))
                        .await;
                }
            }
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
