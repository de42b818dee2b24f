//! The cockpit's SMTP worker in the sandbox: once the new server is ready it asks the new
//! MX about every address and journals the answers; "measure now" asks again, and a
//! removed address shows as refused, naming it in the gate of `add-new-mx`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cutover::app::Event;
use cutover::check::Status;
use cutover::clock::Clock;
use cutover::dns::RoundOptions;
use cutover::journal::{Entry, History, Journal};
use cutover::live::{Servers, Setup};
use cutover::plan::WhichSide;
use cutover::sandbox::World;
use cutover::sandbox::demo::{world_spec, write_plan};
use tokio::sync::mpsc;

/// The journal's SMTP probe facts, once there are at least `n` (or after 20 s).
async fn probe_facts(journal: &Journal, n: usize) -> History {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let entries = journal.replay().expect("replay").entries;
        let facts = entries
            .iter()
            .filter(|e| matches!(e, Entry::Fact { key, .. } if key == "smtp-probe"))
            .count();
        if facts >= n || Instant::now() > deadline {
            return History::from_entries(&entries);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smtp_worker_asks_the_new_mx_once_the_new_server_is_ready() {
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(world_spec(2, 4, 600.0)).await.unwrap();
    let plan_path = write_plan(dir.path(), &world).unwrap();
    let plan = cutover::plan::load(&plan_path).unwrap().plan;
    let journal = Journal::open(Journal::path_for_plan(&plan_path)).unwrap();
    let setup = Setup {
        clock: Arc::new(world.clock.clone()),
        servers: Servers {
            authoritative: vec![world.zone.addr()],
            resolvers: world.resolver_addrs(),
            old_imap: world.imap_endpoint(WhichSide::Old),
            new_imap: world.imap_endpoint(WhichSide::New),
        },
        probe_every: Duration::from_secs(30 * 60),
        dns: RoundOptions::default(),
    };
    let (events, mut rx) = mpsc::channel::<Event>(256);
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let workers = cutover::live::start(&plan, setup, events);

    // Before the new server is ready, the new MX is not asked.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let history = probe_facts(&journal, 0).await;
    assert!(cutover::smtp::steps::journaled(&history).is_none());
    // The rehearsal's forgotten alias, created first (the console's `c`).
    world.create_missing_aliases();

    journal
        .append(&Entry::Confirm {
            at: world.clock.now(),
            operator: "rehearsal".into(),
            step: "new-server-ready".into(),
            mailbox: None,
            evidence: vec![],
        })
        .unwrap();
    let history = probe_facts(&journal, 1).await;
    let (_, probe) = cutover::smtp::steps::journaled(&history).expect("a probe journaled");
    // Two mailboxes, the first one's alias and the canary mailbox.
    assert_eq!(probe.answers.len(), 4, "{probe:?}");
    assert!(
        probe.answers.iter().all(|a| a.accepts == Some(true)),
        "{probe:?}"
    );
    let check = cutover::smtp::steps::new_mx_check(&plan, &history, world.clock.now());
    assert_eq!(check.status, Status::Pass, "{}", check.evidence);

    // The provider loses an address; "measure now" asks again at once.
    let lost = world.employees[1].address.clone();
    world.new_smtp.refuse(&lost);
    for refresh in &workers.refresh {
        let _ = refresh.send(()).await;
    }
    let history = probe_facts(&journal, 2).await;
    let check = cutover::smtp::steps::new_mx_check(&plan, &history, world.clock.now());
    assert_eq!(check.status, Status::Fail, "{}", check.evidence);
    assert!(
        check
            .evidence
            .contains(&format!("{lost} at mx.new-host.test. (550 5.1.1")),
        "{}",
        check.evidence
    );
}
