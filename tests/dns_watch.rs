//! The DNS watcher against real authoritative servers on loopback (hickory-server,
//! UDP and TCP), with zones changed while it runs and a manual clock.

#[path = "support/dns_server.rs"]
mod dns_server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cutover::check::{Check, Status};
use cutover::clock::{Clock, ManualClock};
use cutover::dns::{
    self, AnswerStatus, DnsCommand, DnsFacts, DnsSnapshot, MxState, OldTtlSource, RoundOptions,
    Rtype,
};
use cutover::journal::Entry;
use cutover::plan::{DnsPlan, ImapEndpoint, MxRecord, Plan, Security, Side, SyncPlan};
use dns_server::{Behaviour, BlackHole, TestDns};
use hickory_server::proto::rr::RecordType;
use jiff::{SignedDuration, Timestamp};

const DOMAIN: &str = "example.com";
const APEX: &str = "example.com.";
const OLD_SPF: &str = "v=spf1 include:_spf.old.example ~all";
const MERGED_SPF: &str = "v=spf1 include:_spf.old.example include:_spf.new.example ~all";

fn mx(preference: u16, host: &str) -> MxRecord {
    MxRecord {
        preference,
        host: host.to_string(),
    }
}

fn side(name: &str, mxs: Vec<MxRecord>, spf: &str, selector: Option<&str>) -> Side {
    Side {
        name: name.to_string(),
        mx: mxs,
        spf: vec![spf.to_string()],
        dkim_selector: selector.map(str::to_string),
        imap: ImapEndpoint {
            url: "imap://127.0.0.1:1".into(),
            host: "127.0.0.1".into(),
            port: 1,
            security: Security::None,
            ca_file: None,
            insecure_skip_verify: false,
        },
    }
}

fn plan(authoritative: Vec<SocketAddr>, resolvers: Vec<SocketAddr>) -> Plan {
    Plan {
        path: PathBuf::from("/tmp/cutover.toml"),
        domain: DOMAIN.into(),
        start: "2026-12-07T09:00".parse().unwrap(),
        timezone_name: "UTC".into(),
        timezone: jiff::tz::TimeZone::UTC,
        working_days: vec![],
        operator: "ops".into(),
        dns: DnsPlan {
            migration_ttl: 300,
            restore_ttl_mx: 86400,
            restore_ttl_txt: 21600,
            old_ttl: None,
            poll: Duration::from_secs(30),
            timeout: Duration::from_millis(800),
            resolvers,
            authoritative,
        },
        old: side(
            "Old host",
            vec![mx(10, "mx1.old.example."), mx(20, "mx2.old.example.")],
            "include:_spf.old.example",
            None,
        ),
        new: side(
            "New host",
            vec![mx(1, "smtp.new.example.")],
            "include:_spf.new.example",
            Some("sel1"),
        ),
        credentials: None,
        sync: SyncPlan::default(),
        mailboxes: vec![],
        extra_steps: vec![],
    }
}

/// The old provider's zone: old MX and SPF at a 1 h TTL, a website at 1 h.
async fn old_zone(dns: &TestDns) {
    dns.set_mx(
        APEX,
        3600,
        &[(10, "mx1.old.example."), (20, "mx2.old.example.")],
    )
    .await;
    dns.set_txt(APEX, 3600, &[OLD_SPF]).await;
    dns.set_a(APEX, 3600, &["192.0.2.10"]).await;
    dns.set_a(&format!("www.{APEX}"), 3600, &["192.0.2.10"])
        .await;
    dns.set_txt(&format!("_dmarc.{APEX}"), 3600, &["v=DMARC1; p=none"])
        .await;
}

async fn lower_ttls(dns: &TestDns) {
    dns.set_mx(
        APEX,
        300,
        &[(10, "mx1.old.example."), (20, "mx2.old.example.")],
    )
    .await;
    dns.set_txt(APEX, 300, &[OLD_SPF]).await;
}

fn t0() -> Timestamp {
    "2026-12-07T09:00:00Z".parse().unwrap()
}

fn check<'a>(checks: &'a [Check], id: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id} in {checks:#?}"))
}

/// A cockpit's memory: facts folded from every snapshot, entries kept as the journal would.
struct Memory {
    facts: DnsFacts,
    journal: Vec<Entry>,
}

impl Memory {
    fn new() -> Memory {
        Memory {
            facts: DnsFacts::default(),
            journal: vec![],
        }
    }

    fn see(&mut self, plan: &Plan, snapshot: &DnsSnapshot) -> Vec<Entry> {
        let (facts, entries) = dns::dns_facts(plan, &self.facts, snapshot);
        self.facts = facts;
        self.journal.extend(entries.clone());
        entries
    }
}

fn keys(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Fact { key, .. } => Some(key.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn answers_carry_the_served_ttl_and_json_has_the_status_shape() {
    let auth = TestDns::start(APEX).await;
    old_zone(&auth).await;
    let plan = plan(vec![auth.addr], vec![auth.addr]);
    let clock = ManualClock::new(t0());
    let snapshot = dns::one_round(&plan, &clock).await;

    let server = &snapshot.servers[0];
    let mx = server.answer(DOMAIN, Rtype::MX).unwrap();
    assert_eq!(mx.status, AnswerStatus::Ok);
    assert_eq!(mx.ttl, 3600);
    assert_eq!(
        mx.records,
        vec!["10 mx1.old.example.", "20 mx2.old.example."]
    );
    assert_eq!(mx.measured_at, t0());
    let dkim = server
        .answer("sel1._domainkey.example.com", Rtype::TXT)
        .unwrap();
    assert_eq!(dkim.status, AnswerStatus::Nxdomain);
    let aaaa = server.answer(DOMAIN, Rtype::AAAA).unwrap();
    assert_eq!(aaaa.status, AnswerStatus::Nodata);

    let json = serde_json::to_value(&snapshot).unwrap();
    let first = &json["servers"][0];
    assert_eq!(first["address"], auth.addr.to_string());
    assert!(first["address"].as_str().unwrap().contains(':'));
    assert_eq!(first["role"], "authoritative");
    assert_eq!(json["servers"][1]["role"], "resolver");
    let answer = &first["answers"][0];
    assert_eq!(answer["name"], APEX);
    assert_eq!(answer["type"], "MX");
    assert_eq!(answer["status"], "ok");
    assert_eq!(answer["ttl"], 3600);
    assert_eq!(answer["records"][0], "10 mx1.old.example.");
    assert_eq!(answer["measured_at"], "2026-12-07T09:00:00Z");
    assert!(answer["latency_ms"].is_u64());
    assert_eq!(first["answers"][2]["status"], "nxdomain");
}

#[tokio::test]
async fn a_4000_byte_txt_record_comes_whole_over_tcp() {
    let auth = TestDns::start(APEX).await;
    old_zone(&auth).await;
    let big = format!("v=DKIM1; k=rsa; p={}", "A".repeat(4000 - 18));
    auth.set_txt(&format!("sel1._domainkey.{APEX}"), 300, &[&big])
        .await;
    let plan = plan(vec![auth.addr], vec![]);
    let snapshot = dns::one_round(&plan, &ManualClock::new(t0())).await;
    let answer = snapshot.servers[0]
        .answer("sel1._domainkey.example.com.", Rtype::TXT)
        .unwrap();
    assert_eq!(answer.status, AnswerStatus::Ok, "{answer:?}");
    assert!(
        answer.tcp,
        "a 4000-byte answer cannot fit a 1232-byte UDP payload"
    );
    assert_eq!(answer.records, vec![big.clone()]);
    assert_eq!(answer.records[0].len(), 4000);
    let checks = dns::step_checks(
        "dkim-spf-final",
        &plan,
        Some(&snapshot),
        &DnsFacts::default(),
        None,
        t0(),
    );
    assert_eq!(check(&checks, "dkim-valid").status, Status::Pass);
}

#[tokio::test]
async fn a_dead_resolver_does_not_delay_the_round_and_servfail_is_its_own_status() {
    let auth = TestDns::start(APEX).await;
    old_zone(&auth).await;
    let failing = TestDns::start(APEX).await;
    failing.set_behaviour(Behaviour::ServFail);
    let silent = TestDns::start(APEX).await;
    silent.set_behaviour(Behaviour::Silent);
    let hole = BlackHole::start();
    let plan = plan(vec![auth.addr], vec![failing.addr, silent.addr, hole.addr]);

    let started = Instant::now();
    let snapshot = dns::one_round(&plan, &ManualClock::new(t0())).await;
    let took = started.elapsed();
    // ~45 queries, two servers never answer: about one timeout (800 ms), not many.
    assert!(took < Duration::from_millis(1500), "round took {took:?}");
    assert!(
        took >= Duration::from_millis(790),
        "the silent servers had their full timeout"
    );

    let status = |addr: SocketAddr| {
        snapshot
            .servers
            .iter()
            .find(|s| s.address == addr)
            .unwrap()
            .answer(DOMAIN, Rtype::MX)
            .unwrap()
            .status
    };
    assert_eq!(status(auth.addr), AnswerStatus::Ok);
    assert_eq!(status(failing.addr), AnswerStatus::Servfail);
    assert_eq!(status(silent.addr), AnswerStatus::Timeout);
    assert_eq!(status(hole.addr), AnswerStatus::Timeout);

    // A closed port is "unreachable", not a timeout.
    let closed = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    let plan2 = self::plan(vec![closed], vec![]);
    let snapshot = dns::one_round(&plan2, &ManualClock::new(t0())).await;
    assert_eq!(
        snapshot.servers[0]
            .answer(DOMAIN, Rtype::MX)
            .unwrap()
            .status,
        AnswerStatus::Unreachable
    );
    // Unmeasured is never green.
    let checks = dns::step_checks(
        "lower-ttl",
        &plan2,
        Some(&snapshot),
        &DnsFacts::default(),
        None,
        t0(),
    );
    assert_eq!(check(&checks, "mx-ttl-lowered").status, Status::Unknown);
    assert!(
        check(&checks, "mx-ttl-lowered")
            .evidence
            .contains(&closed.to_string())
    );
}

#[tokio::test]
async fn terminal_escapes_in_a_txt_record_are_shown_sanitised() {
    let auth = TestDns::start(APEX).await;
    old_zone(&auth).await;
    let evil = "v=spf1 \x1b]0;pwned\x07\x1b[2J include:_spf.old.example ~all";
    auth.set_txt(APEX, 300, &[evil]).await;
    let plan = plan(vec![auth.addr], vec![]);
    let snapshot = dns::one_round(&plan, &ManualClock::new(t0())).await;
    // The data keeps the bytes as served (it is evidence) ...
    assert_eq!(
        snapshot.servers[0]
            .answer(DOMAIN, Rtype::TXT)
            .unwrap()
            .records[0],
        evil
    );
    // ... but no screen text holds a control character.
    let matrix = dns::render_matrix(&snapshot, &plan, 200);
    assert!(
        !matrix.chars().any(|c| c.is_control() && c != '\n'),
        "{matrix:?}"
    );
    assert!(matrix.contains("\\u{1b}"), "{matrix}");
    let checks = dns::step_checks(
        "spf-add-new",
        &plan,
        Some(&snapshot),
        &DnsFacts::default(),
        None,
        t0(),
    );
    for c in &checks {
        assert!(!c.evidence.chars().any(char::is_control), "{c:?}");
    }
    for line in dns::records_to_paste("lower-ttl", &plan, Some(&snapshot)) {
        assert!(!line.chars().any(char::is_control), "{line:?}");
    }
}

#[tokio::test]
async fn the_matrix_shows_names_by_servers_with_ttls() {
    let auth = TestDns::start(APEX).await;
    old_zone(&auth).await;
    let failing = TestDns::start(APEX).await;
    failing.set_behaviour(Behaviour::ServFail);
    let plan = plan(vec![auth.addr], vec![failing.addr]);
    let snapshot = dns::one_round(&plan, &ManualClock::new(t0())).await;
    let matrix = dns::render_matrix(&snapshot, &plan, 100);
    let mx_row = matrix.lines().find(|l| l.starts_with("@ MX")).unwrap();
    assert!(
        mx_row.contains("old mx1.old.example,mx2.old.example 3600")
            || mx_row.contains("old mx1.old.exa"),
        "{matrix}"
    );
    assert!(mx_row.contains("servfail"), "{matrix}");
    assert!(matrix.contains(&auth.addr.to_string()));
    assert!(matrix.lines().any(|l| l.starts_with("_dmarc TXT")));
    assert!(
        matrix
            .lines()
            .any(|l| l.starts_with("sel1._domainkey TXT") && l.contains("nxdomain"))
    );
    for line in matrix.lines().skip(1) {
        assert!(line.chars().count() <= 100, "line too wide: {line}");
    }
}
