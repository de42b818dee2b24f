//! The cockpit's own live workers run in the sandbox: they poll on the simulated clock they are
//! given and ask the servers they are given, as `cutover demo` starts them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cutover::app::Event;
use cutover::dns::RoundOptions;
use cutover::live::{Servers, Setup};
use cutover::mail::LoginState;
use cutover::plan::WhichSide;
use cutover::sandbox::World;
use cutover::sandbox::demo::{world_spec, write_plan};
use jiff::SignedDuration;
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cockpits_workers_poll_on_the_sandbox_clock_and_ask_the_servers_they_are_given() {
    let dir = tempfile::tempdir().unwrap();
    // 3,000 simulated seconds per real second: the plan's 5 min poll is a tenth of a second.
    let world = World::start(world_spec(2, 16, 3_000.0)).await.unwrap();
    let plan_path = write_plan(dir.path(), &world).unwrap();
    let mut plan = cutover::plan::load(&plan_path).unwrap().plan;
    // The servers come from the setup, not the plan: the plan's point nowhere.
    let nowhere: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    plan.dns.authoritative = vec![nowhere];
    plan.dns.resolvers = vec![nowhere];
    plan.old.imap.port = 9;
    plan.new.imap.port = 9;
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
    let workers = cutover::live::start(&plan, setup, events);
    assert_eq!(
        workers.refresh.len(),
        3,
        "a DNS watcher, a prober and the SMTP probe"
    );

    let started = Instant::now();
    let mut rounds = Vec::new();
    let mut probes = None;
    while rounds.len() < 3 || probes.is_none() {
        let event = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("the workers keep measuring")
            .expect("the workers run");
        match event {
            Event::DnsRound(snapshot) => rounds.push(snapshot),
            // Two employees' mailboxes and the canary mailbox.
            Event::MailProbes(p) if p.len() == 3 => probes = Some(p),
            _ => {}
        }
    }
    // Three rounds a simulated poll apart, in well under the real 10 minutes they would take.
    assert!(started.elapsed() < Duration::from_secs(20));
    for pair in rounds.windows(2) {
        let apart = pair[1].measured_at.duration_since(pair[0].measured_at);
        assert!(apart >= SignedDuration::from_mins(5), "{apart:?}");
    }
    let first = &rounds[0];
    assert!(first.measured_at >= world.spec.start);
    let asked: Vec<_> = first.servers.iter().map(|s| s.address).collect();
    let mut expected = vec![world.zone.addr()];
    expected.extend(world.resolver_addrs());
    assert_eq!(asked, expected);
    assert!(
        first
            .servers
            .iter()
            .all(|s| s.answers.iter().any(|a| a.ttl > 0))
    );
    // The old server's logins work; the new one has no accounts yet (key 3 creates them).
    let probes = probes.unwrap();
    assert!(
        probes.iter().all(|p| p.old.login == LoginState::Ok),
        "{probes:?}"
    );
    assert!(
        probes.iter().all(|p| p.new.login == LoginState::AuthFailed),
        "{probes:?}"
    );

    // The relays journal what they saw first, at simulated time.
    let journal = std::fs::read_to_string(dir.path().join("cutover.journal")).unwrap();
    assert!(journal.contains("\"key\":\"ttl-baseline\""), "{journal}");
    assert!(journal.contains("\"at\":\"2026-03-02T"), "{journal}");
}
