//! The cockpit's live workers: the DNS watcher, the mailbox prober and the new MX's SMTP
//! probe (hourly once the new server is ready), each a tokio task that
//! owns its I/O and talks to the loop only through channels, and their relays, which journal
//! the facts they observe first (DNS TTLs and MX transitions, old INBOX UIDNEXT) and hand
//! every round to the loop.
//!
//! The clock and the servers are parameters ([`Setup`]): the cockpit runs the workers on the
//! wall clock against the plan's servers, the rehearsal (`cutover demo`) runs the same workers
//! on its simulated clock against its loopback servers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::app::Event;
use crate::clock::{Clock, SystemClock};
use crate::dns::{DnsCommand, DnsSnapshot, RoundOptions};
use crate::mail::probe::ProbeOptions;
use crate::mail::{CredentialSource, MailboxProbe, ProbeCommand};
use crate::plan::{ImapEndpoint, Plan};
use crate::recorder::Recorder;
use crate::tui::{StartWorkers, Workers};

/// How often the cockpit probes every mailbox again (each probe is a login and a STATUS per
/// folder).
pub const PROBE_EVERY: Duration = Duration::from_secs(60);
/// Probes are handed to the loop at most this often, all at once (real time: it paces the
/// screen, not the migration).
const PROBE_BATCH: Duration = Duration::from_millis(500);

/// The servers the workers ask.
#[derive(Debug, Clone)]
pub struct Servers {
    /// The domain's authoritative DNS servers; empty: found through NS at the resolvers.
    pub authoritative: Vec<SocketAddr>,
    /// The public resolvers whose caches senders see.
    pub resolvers: Vec<SocketAddr>,
    /// The old and the new IMAP server.
    pub old_imap: ImapEndpoint,
    pub new_imap: ImapEndpoint,
}

impl Servers {
    /// The servers a plan names.
    pub fn of_plan(plan: &Plan) -> Servers {
        Servers {
            authoritative: plan.dns.authoritative.clone(),
            resolvers: plan.dns.resolvers.clone(),
            old_imap: plan.old.imap.clone(),
            new_imap: plan.new.imap.clone(),
        }
    }

    /// `plan` with these servers in place of its own (the workers read their servers from
    /// the plan they are given).
    fn in_plan(&self, plan: &Plan) -> Plan {
        let mut plan = plan.clone();
        plan.dns.authoritative = self.authoritative.clone();
        plan.dns.resolvers = self.resolvers.clone();
        plan.old.imap = self.old_imap.clone();
        plan.new.imap = self.new_imap.clone();
        plan
    }
}

/// What the workers need besides the plan.
#[derive(Clone)]
pub struct Setup {
    /// Where "now" comes from; the DNS poll and the probe period are counted on it.
    pub clock: Arc<dyn Clock>,
    pub servers: Servers,
    /// Every mailbox is probed again this often, in the clock's time.
    pub probe_every: Duration,
    pub dns: RoundOptions,
}

impl Setup {
    /// The cockpit: the wall clock and the plan's own servers.
    pub fn cockpit(plan: &Plan) -> Setup {
        Setup {
            clock: Arc::new(SystemClock),
            servers: Servers::of_plan(plan),
            probe_every: PROBE_EVERY,
            dns: RoundOptions::default(),
        }
    }
}

/// Starts the live workers for a cockpit on `plan`, on the wall clock and the plan's servers.
pub fn workers() -> StartWorkers {
    Box::new(|plan: &Plan, events: mpsc::Sender<Event>| start(plan, Setup::cockpit(plan), events))
}

/// Starts the DNS watcher and the prober with their relays on the current tokio runtime;
/// returns where to send "measure now". Facts go to `plan`'s journal, rounds to `events`.
pub fn start(plan: &Plan, setup: Setup, events: mpsc::Sender<Event>) -> Workers {
    let plan = setup.servers.in_plan(plan);
    let mut refreshers = vec![start_dns(&plan, &setup, events.clone())];
    let events_for_canary = events.clone();
    if let Some(refresh) = start_prober(&plan, &setup, events) {
        refreshers.push(refresh);
    }
    refreshers.push(start_smtp(&plan, &setup));
    Workers {
        refresh: refreshers,
        canary: start_canary(&plan, &setup, events_for_canary),
        ..Workers::default()
    }
}

/// The DNS watcher (a round every poll of the plan, on the setup's clock) and its relay.
fn start_dns(plan: &Plan, setup: &Setup, events: mpsc::Sender<Event>) -> mpsc::Sender<()> {
    let (snapshots_tx, snapshots) = mpsc::channel::<DnsSnapshot>(4);
    let (dns_commands, _watcher) = crate::dns::spawn_watcher(
        plan.clone(),
        setup.clock.clone(),
        setup.dns.clone(),
        snapshots_tx,
    );
    tokio::spawn(relay_dns(plan.clone(), snapshots, events));
    let (refresh, mut refresh_rx) = mpsc::channel::<()>(4);
    tokio::spawn(async move {
        while refresh_rx.recv().await.is_some() {
            if dns_commands.send(DnsCommand::RefreshNow).await.is_err() {
                break;
            }
        }
    });
    refresh
}

/// Starts the prober; without credentials the mailbox checks stay unknown and the log says why.
fn start_prober(
    plan: &Plan,
    setup: &Setup,
    events: mpsc::Sender<Event>,
) -> Option<mpsc::Sender<()>> {
    let Some(credentials) = &plan.credentials else {
        tracing::info!("no [credentials] in the plan: mailboxes are not probed");
        return None;
    };
    let creds = match CredentialSource::new(Some(credentials)) {
        Ok(creds) => creds,
        Err(e) => {
            tracing::info!("mailboxes are not probed: {e}");
            return None;
        }
    };
    let (commands, commands_rx) = mpsc::channel::<ProbeCommand>(8);
    let (results_tx, results) = mpsc::channel::<MailboxProbe>(256);
    tokio::spawn(crate::mail::run_prober(
        Arc::new(plan.clone()),
        Arc::new(creds),
        setup.clock.clone(),
        ProbeOptions::default(),
        commands_rx,
        results_tx,
    ));
    let (refresh, refresh_rx) = mpsc::channel::<()>(4);
    tokio::spawn(relay_probes(
        ProbeRelay {
            plan: plan.clone(),
            clock: setup.clock.clone(),
            every: setup.probe_every,
        },
        commands,
        refresh_rx,
        results,
        events,
    ));
    Some(refresh)
}

/// What the probe relay works with.
struct ProbeRelay {
    plan: Plan,
    clock: Arc<dyn Clock>,
    every: Duration,
}

/// Asks for a probe of every mailbox now, every period of the clock and on refresh; journals
/// old INBOX UIDNEXT changes; hands the loop every probe so far, in plan order.
async fn relay_probes(
    relay: ProbeRelay,
    commands: mpsc::Sender<ProbeCommand>,
    mut refresh: mpsc::Receiver<()>,
    mut results: mpsc::Receiver<MailboxProbe>,
    events: mpsc::Sender<Event>,
) {
    let ProbeRelay { plan, clock, every } = relay;
    let mut recorder = open_recorder(&plan, "mailbox facts");
    let mut latest: Vec<Option<MailboxProbe>> = vec![None; plan.mailboxes.len()];
    let index: HashMap<String, usize> = plan
        .mailboxes
        .iter()
        .enumerate()
        .map(|(i, m)| (m.address.to_lowercase(), i))
        .collect();
    let mut changed = false;
    let mut period = clock.wait(Duration::ZERO);
    let mut batch = tokio::time::interval(PROBE_BATCH);
    // When the round whose results are arriving was asked for: its facts carry it, so the
    // journal pane folds one round into one line however many batches it arrives in.
    let mut round = clock.now();
    loop {
        tokio::select! {
            _ = &mut period => {
                period = clock.wait(every);
                round = clock.now();
                if commands.send(ProbeCommand::ProbeAll).await.is_err() { break; }
            }
            Some(()) = refresh.recv() => {
                round = clock.now();
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
                if let Some(Err(e)) = recorder.as_mut().map(|r| r.mailbox_probes(&probes, clock.now(), Some(round))) {
                    tracing::error!(error = %e, "cannot journal a mailbox fact");
                }
                if events.send(Event::MailProbes(probes)).await.is_err() { break; }
            }
        }
    }
}

/// How often the SMTP worker looks whether the new MX is due to be asked again.
const SMTP_LOOK_EVERY: Duration = Duration::from_secs(60);

/// The SMTP worker: once the new server is ready, asks the new MX about every address
/// when the journal's last probe is an hour old (and on "measure now"), and journals the
/// answers; they reach the loop, like every fact, through its journal follower.
fn start_smtp(plan: &Plan, setup: &Setup) -> mpsc::Sender<()> {
    let (refresh, mut refresh_rx) = mpsc::channel::<()>(4);
    let (plan, clock) = (plan.clone(), setup.clock.clone());
    tokio::spawn(async move {
        let Some(mut recorder) = open_recorder(&plan, "the SMTP probe") else {
            return;
        };
        let mut look = clock.wait(Duration::ZERO);
        loop {
            let asked = tokio::select! {
                _ = &mut look => false,
                r = refresh_rx.recv() => match r { Some(()) => true, None => break },
            };
            look = clock.wait(SMTP_LOOK_EVERY);
            recorder.catch_up();
            let now = clock.now();
            let history = recorder.history();
            let ready = crate::smtp::steps::new_server_ready(history);
            if !(crate::smtp::steps::due(history, now) || asked && ready) {
                continue;
            }
            let probe = {
                let _hold = clock.hold_for_io();
                crate::smtp::steps::probe_plan(&plan, clock.as_ref()).await
            };
            let probe = match probe {
                Ok(probe) => probe,
                Err(e) => {
                    tracing::warn!(error = %e, "the new MX could not be asked");
                    continue;
                }
            };
            if let Err(e) = recorder.smtp_probe(&probe, clock.now()) {
                tracing::error!(error = %e, "cannot journal the SMTP probe");
            }
        }
    });
    refresh
}

/// How often the canary worker looks whether a world canary is due.
const CANARY_LOOK_EVERY: Duration = Duration::from_secs(60);

/// With `[canary]`: sends canaries on every route when asked (`m`), and a world canary when
/// one is due (after the switch, the last over an hour old); journals each round through
/// the recorder (the journal follower brings it to the Mail flow block) and says so.
fn start_canary(
    plan: &Plan,
    setup: &Setup,
    events: mpsc::Sender<Event>,
) -> Option<mpsc::Sender<()>> {
    plan.canary.as_ref()?;
    let credentials = match crate::mail::CredentialSource::new(plan.credentials.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "no canaries: the credentials cannot be read");
            return None;
        }
    };
    let (ask, mut asked_rx) = mpsc::channel::<()>(1);
    let (plan, clock) = (plan.clone(), setup.clock.clone());
    tokio::spawn(async move {
        let Some(mut recorder) = open_recorder(&plan, "canaries") else {
            return;
        };
        let mut look = clock.wait(CANARY_LOOK_EVERY);
        loop {
            let asked = tokio::select! {
                _ = &mut look => false,
                r = asked_rx.recv() => match r { Some(()) => true, None => break },
            };
            look = clock.wait(CANARY_LOOK_EVERY);
            recorder.catch_up();
            let now = clock.now();
            let due = crate::canary::checks::world_canary_due(&plan, recorder.history(), now);
            if !asked && !due {
                continue;
            }
            let routes = if asked {
                [
                    crate::canary::Route::World,
                    crate::canary::Route::Direct,
                    crate::canary::Route::Outbound,
                ]
                .into_iter()
                .collect()
            } else {
                [crate::canary::Route::World].into_iter().collect()
            };
            let options = crate::canary::Options {
                routes,
                timeout: crate::canary::DEFAULT_TIMEOUT,
                poll: Duration::from_secs(5),
                world_expect: crate::runbook::rollback::world_canary_expect(
                    &plan,
                    recorder.history(),
                    now,
                ),
                served_mx: vec![],
            };
            let results = {
                let _hold = clock.hold_for_io();
                crate::canary::run_round(&plan, &credentials, &options, clock.as_ref()).await
            };
            let notice = match results {
                Ok(results) => {
                    if let Err(e) = recorder.canary_round(&results, clock.now()) {
                        tracing::error!(error = %e, "cannot journal the canaries");
                    }
                    let passed = results
                        .iter()
                        .filter(|r| r.verdict == crate::check::Status::Pass)
                        .count();
                    format!(
                        "Canaries: {passed} of {} landed where expected (Mail flow).",
                        results.len()
                    )
                }
                Err(e) => format!("Canaries not sent: {e}"),
            };
            if events.send(Event::Notice(notice)).await.is_err() {
                break;
            }
        }
    });
    Some(ask)
}

/// Journals each round's first-seen facts, then hands the round to the loop.
async fn relay_dns(
    plan: Plan,
    mut snapshots: mpsc::Receiver<DnsSnapshot>,
    events: mpsc::Sender<Event>,
) {
    let mut recorder = open_recorder(&plan, "DNS facts");
    while let Some(snapshot) = snapshots.recv().await {
        let recorded = recorder.as_mut().map(|r| r.dns_round(&snapshot));
        if let Some(Err(e)) = recorded {
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

/// The worker's own recorder (each worker follows the journal itself); `None`, said in the
/// log, when the journal cannot be opened: the worker then observes without journaling.
fn open_recorder(plan: &Plan, what: &str) -> Option<Recorder> {
    match Recorder::open(plan) {
        Ok((recorder, _)) => Some(recorder),
        Err(e) => {
            tracing::error!(error = %e, "cannot open the journal for {what}");
            None
        }
    }
}
