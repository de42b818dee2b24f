//! The DNS watcher against real authoritative servers on loopback (hickory-server,
//! UDP and TCP), with zones changed while it runs and a manual clock.

#[path = "support/dns_plan.rs"]
mod dns_plan;
#[path = "support/dns_server.rs"]
mod dns_server;

use cutover::step::StepId;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cutover::check::{Check, Status};
use cutover::clock::{Clock, ManualClock};
use cutover::dns::{
    self, AnswerStatus, DnsCommand, DnsFacts, DnsSnapshot, MxState, OldTtlSource, RoundOptions,
    Rtype,
};
use cutover::journal::Entry;
use cutover::plan::Plan;
use dns_plan::plan;
use dns_server::{Behaviour, BlackHole, TestDns};
use hickory_server::proto::rr::RecordType;
use jiff::{SignedDuration, Timestamp};

const DOMAIN: &str = "example.com";
const APEX: &str = "example.com.";
const OLD_SPF: &str = "v=spf1 include:_spf.old.example ~all";
/// A whole 2048-bit RSA public key (SubjectPublicKeyInfo, generated with openssl).
const DKIM_KEY_2048: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu7i/VdKAwOIDU1TVdkHhRe3i8T+7x3ZxK76HGL9mwfEI/M/XhyhVQFBJR+M+cOfnrG2SQ364crZHb3oi5SWXurqUPSPiXHcyn0louDIM3b7YoQlCdE4sFmEB5V1esWZgIgCWeRt+ui84Eze4h8/kYxT2iy1UZ4VOzG65r+RpzA8VaKmjFnJ/69A5IHsxWqiPeo21R6OMo3Qwp7Qdi0ZI/Fu+rjy6RTQMe3uB3uAhI9DUyWOO3K+u6VDuCz2lGeiQe5e/XJ/VExEifAwVW5BJbPOx1CGVggSbJV2HxqlUljgN6GnmNu5UgsTQTilvsWt6Jb714zApJGu7hHbqcx4jCwIDAQAB";
const MERGED_SPF: &str = "v=spf1 include:_spf.old.example include:_spf.new.example ~all";

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
    // A real key, padded to 4000 bytes with a notes tag (n=), which verifiers ignore.
    let head = "v=DKIM1; k=rsa; n=";
    let tail = format!("; p={DKIM_KEY_2048}");
    let big = format!("{head}{}{tail}", "x".repeat(4000 - head.len() - tail.len()));
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
        &StepId::DkimSpfFinal,
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
    assert!(took < Duration::from_millis(1800), "round took {took:?}");
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
        &StepId::LowerTtl,
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
        &StepId::SpfAddNew,
        &plan,
        Some(&snapshot),
        &DnsFacts::default(),
        None,
        t0(),
    );
    for c in &checks {
        assert!(!c.evidence.chars().any(char::is_control), "{c:?}");
    }
    for line in dns::records_to_paste(&StepId::LowerTtl, &plan, Some(&snapshot)) {
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

/// The whole DNS side of a migration done right: every rule's check turns green
/// in order, the facts tell the story, and replaying them rebuilds the state.
#[tokio::test]
async fn a_migration_done_in_the_right_order_passes_every_dns_check() {
    let auth = TestDns::start(APEX).await;
    let auth2 = TestDns::start(APEX).await;
    let resolver = TestDns::start_zones(&[APEX, "old.example.", "new.example."]).await;
    for dns in [&auth, &auth2, &resolver] {
        old_zone(dns).await;
    }
    let plan = plan(vec![auth.addr, auth2.addr], vec![resolver.addr]);
    let clock = ManualClock::new(t0());
    let mut memory = Memory::new();

    // Day 1 morning: the old provider's zone. The baseline is recorded.
    let s = dns::one_round(&plan, &clock).await;
    let first = memory.see(&plan, &s);
    // The SPF record names the old server: from now on, losing that is an alarm (spf-lost).
    assert_eq!(
        keys(&first),
        vec!["ttl-baseline", "mx-set", "dmarc-policy", "spf-names-server"]
    );
    assert_eq!(memory.facts.mx_state, Some(MxState::Old));
    let lower = dns::step_checks(
        &StepId::LowerTtl,
        &plan,
        Some(&s),
        &memory.facts,
        None,
        clock.now(),
    );
    assert_eq!(check(&lower, "mx-ttl-lowered").status, Status::Fail);
    assert!(check(&lower, "mx-ttl-lowered").evidence.contains("1 h"));
    // Nothing to judge before the change is marked made: unknown, never green.
    assert_eq!(check(&lower, "ttl-honoured").status, Status::Unknown);
    assert!(
        check(&lower, "ttl-honoured")
            .evidence
            .contains("Not marked as applied yet"),
        "{}",
        check(&lower, "ttl-honoured").evidence
    );
    assert_eq!(
        dns::records_to_paste(&StepId::LowerTtl, &plan, Some(&s)),
        vec![
            "example.com. 300 IN MX 10 mx1.old.example.",
            "example.com. 300 IN MX 20 mx2.old.example.",
            "example.com. 300 IN TXT \"v=spf1 include:_spf.old.example ~all\"",
        ]
    );

    // R1: the operator lowers MX and TXT at both servers (only one first).
    let applied = clock.now();
    lower_ttls(&auth).await;
    clock.advance(SignedDuration::from_secs(60));
    let s = dns::one_round(&plan, &clock).await;
    assert!(
        keys(&memory.see(&plan, &s)).is_empty(),
        "one server is not lowered yet"
    );
    lower_ttls(&auth2).await;
    clock.advance(SignedDuration::from_secs(60));
    let lowered_at = clock.now();
    let s = dns::one_round(&plan, &clock).await;
    assert_eq!(keys(&memory.see(&plan, &s)), vec!["ttl-lowered"]);
    let lower = dns::step_checks(
        &StepId::LowerTtl,
        &plan,
        Some(&s),
        &memory.facts,
        Some(applied),
        clock.now(),
    );
    for id in [
        "mx-ttl-lowered",
        "txt-ttl-lowered",
        "other-ttls-untouched",
        "ttl-honoured",
    ] {
        assert_eq!(
            check(&lower, id).status,
            Status::Pass,
            "{:?}",
            check(&lower, id)
        );
    }

    // R4: the old TTL (1 h, observed before the lowering) must pass first.
    let old = memory.facts.old_ttl(&plan);
    assert_eq!((old.seconds, old.source), (3600, OldTtlSource::Observed));
    let wait = dns::step_checks(
        &StepId::TtlWait,
        &plan,
        Some(&s),
        &memory.facts,
        None,
        clock.now(),
    );
    let gate = check(&wait, "old-ttl-expired");
    assert_eq!(gate.status, Status::Fail);
    assert_eq!(gate.until, Some(lowered_at + SignedDuration::from_hours(1)));
    // The resolver still caches the 1 h answer.
    assert_eq!(check(&wait, "resolvers-ttl-low").status, Status::Fail);
    assert!(
        check(&wait, "resolvers-ttl-low")
            .evidence
            .contains(&resolver.addr.to_string())
    );

    // R5: merged SPF, exactly as pasted.
    let spf = dns::step_checks(
        &StepId::SpfAddNew,
        &plan,
        Some(&s),
        &memory.facts,
        None,
        clock.now(),
    );
    assert_eq!(check(&spf, "spf-old-and-new").status, Status::Fail);
    assert!(check(&spf, "spf-old-and-new").evidence.contains(MERGED_SPF));
    let paste = dns::records_to_paste(&StepId::SpfAddNew, &plan, Some(&s));
    assert_eq!(
        paste[0],
        format!("example.com. 300 IN TXT \"{MERGED_SPF}\"")
    );
    // The includes' own records are not published yet: the paste says so.
    assert_eq!(paste.len(), 2, "{paste:?}");
    assert!(
        paste[1].starts_with("; receivers would still reject this record")
            && paste[1].contains("term 2 \"include:_spf.new.example\"")
            && paste[1].contains("does not exist (NXDOMAIN)"),
        "{paste:?}"
    );
    for dns in [&auth, &auth2] {
        dns.set_txt(APEX, 300, &[MERGED_SPF]).await;
    }
    resolver
        .set_txt("_spf.old.example.", 300, &["v=spf1 ip4:192.0.2.0/24 -all"])
        .await;
    resolver
        .set_txt(
            "_spf.new.example.",
            300,
            &["v=spf1 include:_s2.new.example -all"],
        )
        .await;
    resolver
        .set_txt("_s2.new.example.", 300, &["v=spf1 a mx -all"])
        .await;
    resolver
        .set_mx(
            APEX,
            300,
            &[(10, "mx1.old.example."), (20, "mx2.old.example.")],
        )
        .await;

    clock.advance(SignedDuration::from_hours(1));
    let s = dns::one_round(&plan, &clock).await;
    memory.see(&plan, &s);
    let spf = dns::step_checks(
        &StepId::SpfAddNew,
        &plan,
        Some(&s),
        &memory.facts,
        None,
        clock.now(),
    );
    for id in ["spf-single-record", "spf-old-and-new", "spf-lookups"] {
        assert_eq!(
            check(&spf, id).status,
            Status::Pass,
            "{:?}",
            check(&spf, id)
        );
    }
    // include old + include new + include s2 + a + mx
    assert!(
        check(&spf, "spf-lookups")
            .evidence
            .contains("needs 5 DNS lookups"),
        "{spf:?}"
    );
    let wait = dns::step_checks(
        &StepId::TtlWait,
        &plan,
        Some(&s),
        &memory.facts,
        None,
        clock.now(),
    );
    assert_eq!(check(&wait, "old-ttl-expired").status, Status::Pass);
    assert_eq!(check(&wait, "resolvers-ttl-low").status, Status::Pass);

    // R8: add the new MX first ...
    let add = dns::step_checks(
        &StepId::AddNewMx,
        &plan,
        Some(&s),
        &memory.facts,
        None,
        clock.now(),
    );
    assert_eq!(check(&add, "mta-sts-covers-new").status, Status::Pass);
    assert_eq!(check(&add, "mx-old-and-new-served").status, Status::Fail);
    let remove = dns::step_checks(
        &StepId::RemoveOldMx,
        &plan,
        Some(&s),
        &memory.facts,
        None,
        clock.now(),
    );
    assert_eq!(
        check(&remove, "new-mx-served").status,
        Status::Fail,
        "the old MX may not go yet"
    );
    assert_eq!(
        dns::records_to_paste(&StepId::AddNewMx, &plan, Some(&s)),
        vec!["example.com. 300 IN MX 1 smtp.new.example."]
    );
    let both = [
        (10, "mx1.old.example."),
        (20, "mx2.old.example."),
        (1, "smtp.new.example."),
    ];
    for dns in [&auth, &auth2] {
        dns.set_mx(APEX, 300, &both).await;
    }
    clock.advance(SignedDuration::from_secs(30));
    let s = dns::one_round(&plan, &clock).await;
    assert_eq!(keys(&memory.see(&plan, &s)), vec!["mx-set"]);
    let add = dns::step_checks(
        &StepId::AddNewMx,
        &plan,
        Some(&s),
        &memory.facts,
        None,
        clock.now(),
    );
    assert_eq!(check(&add, "mx-old-and-new-served").status, Status::Pass);
    assert_eq!(check(&add, "mx-no-alarm").status, Status::Pass);

    // ... then remove the old one.
    let remove = dns::step_checks(
        &StepId::RemoveOldMx,
        &plan,
        Some(&s),
        &memory.facts,
        None,
        clock.now(),
    );
    assert_eq!(check(&remove, "new-mx-served").status, Status::Pass);
    for dns in [&auth, &auth2] {
        dns.set_mx(APEX, 300, &[(1, "smtp.new.example.")]).await;
    }
    clock.advance(SignedDuration::from_secs(30));
    let s = dns::one_round(&plan, &clock).await;
    assert_eq!(keys(&memory.see(&plan, &s)), vec!["mx-set"]);
    let remove = dns::step_checks(
        &StepId::RemoveOldMx,
        &plan,
        Some(&s),
        &memory.facts,
        None,
        clock.now(),
    );
    assert_eq!(check(&remove, "mx-only-new-served").status, Status::Pass);
    assert_eq!(check(&remove, "mx-order").status, Status::Pass);
    let propagation = check(&remove, "resolvers-new-mx");
    assert_eq!(
        propagation.status,
        Status::Fail,
        "the resolver still has the old MX"
    );
    assert!(propagation.evidence.contains(&resolver.addr.to_string()));
    assert_eq!(
        propagation.until,
        Some(clock.now() + SignedDuration::from_secs(300))
    );

    // R10: the resolver's cache runs out.
    resolver
        .set_mx(APEX, 299, &[(1, "smtp.new.example.")])
        .await;
    clock.advance(SignedDuration::from_secs(300));
    let s = dns::one_round(&plan, &clock).await;
    assert_eq!(keys(&memory.see(&plan, &s)), vec!["resolvers-new-mx"]);
    let monitor = dns::step_checks(
        &StepId::Monitor24h,
        &plan,
        Some(&s),
        &memory.facts,
        None,
        clock.now(),
    );
    assert_eq!(check(&monitor, "resolvers-new-mx").status, Status::Pass);
    assert_eq!(check(&monitor, "mx-no-alarm").status, Status::Pass);
    assert_eq!(check(&monitor, "dmarc-not-tightened").status, Status::Pass);
    // Tightening DMARC mid-way is reported.
    auth.set_txt("_dmarc.example.com.", 300, &["v=DMARC1; p=reject"])
        .await;
    let s = dns::one_round(&plan, &clock).await;
    assert_eq!(keys(&memory.see(&plan, &s)), vec!["dmarc-policy"]);
    let monitor = dns::step_checks(
        &StepId::Monitor24h,
        &plan,
        Some(&s),
        &memory.facts,
        None,
        clock.now(),
    );
    assert_eq!(check(&monitor, "dmarc-not-tightened").status, Status::Warn);
    assert!(dns::render_matrix(&s, &plan, 120).contains("DMARC policy: p=reject"));

    // R9: DKIM for the new server, SPF without the old server.
    let final_spf = "v=spf1 include:_spf.new.example ~all";
    assert_eq!(
        dns::records_to_paste(&StepId::DkimSpfFinal, &plan, Some(&s))[0],
        format!("example.com. 300 IN TXT \"{final_spf}\"")
    );
    for dns in [&auth, &auth2] {
        dns.set_txt(APEX, 300, &[final_spf]).await;
        dns.set_txt(
            "sel1._domainkey.example.com.",
            300,
            &["v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"],
        )
        .await;
    }
    // A key cut off at the DNS host fails with what to do about it.
    let s = dns::one_round(&plan, &clock).await;
    let cut = dns::step_checks(
        &StepId::DkimSpfFinal,
        &plan,
        Some(&s),
        &memory.facts,
        None,
        clock.now(),
    );
    let dkim = check(&cut, "dkim-valid");
    assert_eq!(dkim.status, Status::Fail, "{dkim:?}");
    assert!(
        dkim.evidence.contains("the key is cut off")
            && dkim.evidence.contains("paste the whole value"),
        "{dkim:?}"
    );
    for dns in [&auth, &auth2] {
        dns.set_txt(
            "sel1._domainkey.example.com.",
            300,
            &[&format!("v=DKIM1; k=rsa; p={DKIM_KEY_2048}")],
        )
        .await;
    }
    let s = dns::one_round(&plan, &clock).await;
    memory.see(&plan, &s);
    let fin = dns::step_checks(
        &StepId::DkimSpfFinal,
        &plan,
        Some(&s),
        &memory.facts,
        None,
        clock.now(),
    );
    for id in ["dkim-valid", "spf-old-removed", "spf-valid"] {
        assert_eq!(
            check(&fin, id).status,
            Status::Pass,
            "{:?}",
            check(&fin, id)
        );
    }

    // R11: TTLs restored.
    let restore = dns::step_checks(
        &StepId::RestoreTtl,
        &plan,
        Some(&s),
        &memory.facts,
        None,
        clock.now(),
    );
    assert_eq!(check(&restore, "mx-ttl-restored").status, Status::Fail);
    assert_eq!(
        dns::records_to_paste(&StepId::RestoreTtl, &plan, Some(&s)),
        vec![
            "example.com. 86400 IN MX 1 smtp.new.example.".to_string(),
            format!("example.com. 21600 IN TXT \"{final_spf}\""),
        ]
    );
    for dns in [&auth, &auth2] {
        dns.set_mx(APEX, 86400, &[(1, "smtp.new.example.")]).await;
        dns.set_txt(APEX, 21600, &[final_spf]).await;
    }
    let s = dns::one_round(&plan, &clock).await;
    memory.see(&plan, &s);
    let restore = dns::step_checks(
        &StepId::RestoreTtl,
        &plan,
        Some(&s),
        &memory.facts,
        None,
        clock.now(),
    );
    assert_eq!(check(&restore, "mx-ttl-restored").status, Status::Pass);
    assert_eq!(check(&restore, "txt-ttl-restored").status, Status::Pass);

    // A restarted cockpit rebuilds exactly this state from the journal.
    let lines: Vec<Entry> = memory
        .journal
        .iter()
        .map(|e| serde_json::from_str(&serde_json::to_string(e).unwrap()).unwrap())
        .collect();
    assert_eq!(DnsFacts::from_entries(&lines), memory.facts);
    assert!(memory.facts.seen_old_and_new);
    assert_eq!(memory.facts.mx_transitions.len(), 3);
}

/// The round follows SPF as far as receivers do (RFC 7208 4.6.4): an
/// 11-deep include chain is fetched to its end and fails, naming the include
/// in the domain's own record; `a`, `mx` and `exists` targets are looked up
/// and their void answers counted.
#[tokio::test]
async fn the_round_follows_spf_includes_and_lookups_to_the_limit() {
    let auth = TestDns::start(APEX).await;
    let resolver = TestDns::start_zones(&[APEX, "chain.example."]).await;
    for dns in [&auth, &resolver] {
        old_zone(dns).await;
    }
    for i in 1..=11 {
        let record = if i < 11 {
            format!("v=spf1 include:l{}.chain.example -all", i + 1)
        } else {
            "v=spf1 ip4:192.0.2.1 -all".to_string()
        };
        resolver
            .set_txt(&format!("l{i}.chain.example."), 300, &[&record])
            .await;
    }
    let plan = plan(vec![auth.addr], vec![resolver.addr]);
    let clock = ManualClock::new(t0());
    let spf_lookups = |s: &DnsSnapshot| {
        let checks = dns::step_checks(
            &StepId::SpfAddNew,
            &plan,
            Some(s),
            &DnsFacts::default(),
            None,
            t0(),
        );
        check(&checks, "spf-lookups").clone()
    };

    auth.set_txt(APEX, 300, &["v=spf1 include:l1.chain.example -all"])
        .await;
    let s = dns::one_round(&plan, &clock).await;
    let c = spf_lookups(&s);
    assert_eq!(c.status, Status::Fail, "{c:?}");
    assert!(
        c.evidence
            .contains("term 1 \"include:l1.chain.example\": via include:l1.chain.example → include:l2.chain.example"),
        "{c:?}"
    );
    assert!(c.evidence.contains("this is DNS lookup 11"), "{c:?}");

    // Ten deep is within the limit.
    resolver
        .set_txt("l10.chain.example.", 300, &["v=spf1 ip4:192.0.2.1 -all"])
        .await;
    let s = dns::one_round(&plan, &clock).await;
    let c = spf_lookups(&s);
    assert_eq!(c.status, Status::Pass, "{c:?}");
    assert!(c.evidence.contains("needs 10 DNS lookups"), "{c:?}");

    // Three names that do not exist, through a, mx and exists.
    auth.set_txt(
        APEX,
        300,
        &["v=spf1 a:none1.chain.example mx:none2.chain.example exists:none3.chain.example -all"],
    )
    .await;
    let s = dns::one_round(&plan, &clock).await;
    let c = spf_lookups(&s);
    assert_eq!(c.status, Status::Fail, "{c:?}");
    assert!(
        c.evidence.contains("term 3 \"exists:none3.chain.example\": none3.chain.example does not exist (NXDOMAIN): the third lookup that finds nothing"),
        "{c:?}"
    );
    for (name, rtype) in [
        ("none1.chain.example.", Rtype::A),
        ("none2.chain.example.", Rtype::MX),
        ("none3.chain.example.", Rtype::A),
    ] {
        assert!(
            s.spf_targets
                .iter()
                .any(|a| a.name == name && a.rtype == rtype && a.status == AnswerStatus::Nxdomain),
            "{name} {rtype:?} not asked: {:#?}",
            s.spf_targets
        );
    }
}

#[tokio::test]
async fn deleting_the_old_mx_first_raises_the_alarm() {
    let auth = TestDns::start(APEX).await;
    old_zone(&auth).await;
    lower_ttls(&auth).await;
    let plan = plan(vec![auth.addr], vec![]);
    let clock = ManualClock::new(t0());
    let mut memory = Memory::new();
    memory.see(&plan, &dns::one_round(&plan, &clock).await);

    auth.delete(APEX, RecordType::MX).await;
    clock.advance(SignedDuration::from_secs(30));
    let s = dns::one_round(&plan, &clock).await;
    let entries = memory.see(&plan, &s);
    // The MX alarm of 0.1 is still written, beside the alarm that leads (mx-empty).
    assert_eq!(keys(&entries), vec!["mx-alarm", "mx-set", "alarm-raised"]);
    let Entry::Fact { evidence, .. } = &entries[0] else {
        unreachable!()
    };
    assert!(
        evidence.starts_with("ALARM:") && evidence.contains("no MX record"),
        "{evidence}"
    );
    assert!(memory.facts.alarm_active);
    let remove = dns::step_checks(
        &StepId::RemoveOldMx,
        &plan,
        Some(&s),
        &memory.facts,
        None,
        clock.now(),
    );
    assert_eq!(check(&remove, "mx-no-alarm").status, Status::Fail);
    assert_eq!(check(&remove, "new-mx-served").status, Status::Fail);
    assert!(check(&remove, "new-mx-served").evidence.contains("ALARM"));

    // The alarm is raised once, not every poll.
    clock.advance(SignedDuration::from_secs(30));
    assert!(keys(&memory.see(&plan, &dns::one_round(&plan, &clock).await)).is_empty());

    // A foreign set is an alarm too; fixing it clears it, but history stays.
    auth.set_mx(APEX, 300, &[(1, "smtp.new.example.")]).await;
    clock.advance(SignedDuration::from_secs(30));
    let s = dns::one_round(&plan, &clock).await;
    assert_eq!(
        keys(&memory.see(&plan, &s)),
        vec!["mx-alarm-cleared", "mx-set", "alarm-cleared"]
    );
    let monitor = dns::step_checks(
        &StepId::Monitor24h,
        &plan,
        Some(&s),
        &memory.facts,
        None,
        clock.now(),
    );
    assert_eq!(check(&monitor, "mx-no-alarm").status, Status::Warn);
    assert_eq!(DnsFacts::from_entries(&memory.journal), memory.facts);
}

#[tokio::test]
async fn an_mx_set_with_neither_old_nor_new_hosts_is_an_alarm() {
    let auth = TestDns::start(APEX).await;
    old_zone(&auth).await;
    auth.set_mx(APEX, 300, &[(10, "mx.elsewhere.example.")])
        .await;
    let plan = plan(vec![auth.addr], vec![]);
    let clock = ManualClock::new(t0());
    let mut memory = Memory::new();
    let entries = memory.see(&plan, &dns::one_round(&plan, &clock).await);
    assert!(keys(&entries).contains(&"mx-alarm".to_string()));
    assert_eq!(memory.facts.alarms[0].state, MxState::Foreign);
}

#[tokio::test]
async fn old_to_new_between_two_polls_is_order_unproven() {
    let auth = TestDns::start(APEX).await;
    old_zone(&auth).await;
    let plan = plan(vec![auth.addr], vec![]);
    let clock = ManualClock::new(t0());
    let mut memory = Memory::new();
    memory.see(&plan, &dns::one_round(&plan, &clock).await);
    // Between two polls: new added and old deleted.
    auth.set_mx(APEX, 300, &[(1, "smtp.new.example.")]).await;
    clock.advance(SignedDuration::from_secs(30));
    let s = dns::one_round(&plan, &clock).await;
    assert_eq!(
        keys(&memory.see(&plan, &s)),
        vec!["mx-set", "mx-order-unproven"]
    );
    let remove = dns::step_checks(
        &StepId::RemoveOldMx,
        &plan,
        Some(&s),
        &memory.facts,
        None,
        clock.now(),
    );
    let order = check(&remove, "mx-order");
    assert_eq!(order.status, Status::Warn);
    assert!(order.evidence.contains("unproven"));
    assert_eq!(check(&remove, "mx-no-alarm").status, Status::Pass);
}

#[tokio::test]
async fn a_cockpit_started_after_the_lowering_never_concludes_a_5_minute_old_ttl() {
    let auth = TestDns::start(APEX).await;
    old_zone(&auth).await;
    lower_ttls(&auth).await; // lowered before cutover ever looked
    let mut plan = plan(vec![auth.addr], vec![]);
    let clock = ManualClock::new(t0());
    let mut memory = Memory::new();
    let s = dns::one_round(&plan, &clock).await;
    assert_eq!(
        keys(&memory.see(&plan, &s)),
        vec![
            "ttl-baseline",
            "ttl-lowered",
            "mx-set",
            "dmarc-policy",
            "spf-names-server"
        ]
    );

    let old = memory.facts.old_ttl(&plan);
    assert_eq!((old.seconds, old.source), (86400, OldTtlSource::Assumed));
    let wait = dns::step_checks(
        &StepId::TtlWait,
        &plan,
        Some(&s),
        &memory.facts,
        None,
        clock.now(),
    );
    let gate = check(&wait, "old-ttl-expired");
    assert_eq!(gate.status, Status::Fail);
    assert_eq!(gate.until, Some(t0() + SignedDuration::from_hours(24)));
    assert!(gate.evidence.contains("assumed"), "{}", gate.evidence);
    // Ten minutes later it still waits.
    clock.advance(SignedDuration::from_mins(10));
    let wait = dns::step_checks(
        &StepId::TtlWait,
        &plan,
        Some(&s),
        &memory.facts,
        None,
        clock.now(),
    );
    assert_eq!(check(&wait, "old-ttl-expired").status, Status::Fail);

    // The plan's old TTL is used when given.
    plan.dns.old_ttl = Some(7200);
    let old = memory.facts.old_ttl(&plan);
    assert_eq!((old.seconds, old.source), (7200, OldTtlSource::Plan));
    // Without a snapshot the wait is still timed from the journal (it fails until it
    // has passed, never passes early); what needs a round stays unknown.
    let offline = dns::step_checks(
        &StepId::TtlWait,
        &plan,
        None,
        &memory.facts,
        None,
        clock.now(),
    );
    assert_eq!(check(&offline, "old-ttl-expired").status, Status::Fail);
    assert_eq!(check(&offline, "resolvers-ttl-low").status, Status::Unknown);
    assert_eq!(
        check(&offline, "old-ttl-expired").until,
        Some(t0() + SignedDuration::from_hours(2))
    );
}

#[tokio::test]
async fn a_dns_host_that_ignores_the_ttl_blocks_after_ten_minutes() {
    let auth = TestDns::start(APEX).await;
    old_zone(&auth).await;
    let plan = plan(vec![auth.addr], vec![]);
    let clock = ManualClock::new(t0());
    let applied = t0();
    clock.advance(SignedDuration::from_mins(5));
    let s = dns::one_round(&plan, &clock).await;
    let facts = DnsFacts::default();
    let lower = dns::step_checks(
        &StepId::LowerTtl,
        &plan,
        Some(&s),
        &facts,
        Some(applied),
        clock.now(),
    );
    let honoured = check(&lower, "ttl-honoured");
    assert_eq!(honoured.status, Status::Unknown);
    assert_eq!(honoured.until, Some(t0() + SignedDuration::from_mins(10)));

    clock.advance(SignedDuration::from_mins(6));
    let s = dns::one_round(&plan, &clock).await;
    let lower = dns::step_checks(
        &StepId::LowerTtl,
        &plan,
        Some(&s),
        &facts,
        Some(applied),
        clock.now(),
    );
    let honoured = check(&lower, "ttl-honoured");
    assert_eq!(honoured.status, Status::Fail);
    assert!(
        honoured
            .evidence
            .contains("your DNS host seems to ignore the TTL you set")
            || honoured
                .evidence
                .contains("Your DNS host seems to ignore the TTL you set")
    );
    assert!(honoured.evidence.contains(&auth.addr.to_string()));
}

#[tokio::test]
async fn lowering_the_website_ttl_too_is_warned() {
    let auth = TestDns::start(APEX).await;
    old_zone(&auth).await;
    let plan = plan(vec![auth.addr], vec![]);
    let clock = ManualClock::new(t0());
    let mut memory = Memory::new();
    memory.see(&plan, &dns::one_round(&plan, &clock).await);
    lower_ttls(&auth).await;
    auth.set_a(&format!("www.{APEX}"), 300, &["192.0.2.10"])
        .await;
    let s = dns::one_round(&plan, &clock).await;
    memory.see(&plan, &s);
    let lower = dns::step_checks(
        &StepId::LowerTtl,
        &plan,
        Some(&s),
        &memory.facts,
        None,
        clock.now(),
    );
    let other = check(&lower, "other-ttls-untouched");
    assert_eq!(other.status, Status::Warn);
    assert!(
        other.evidence.contains("www.example.com."),
        "{}",
        other.evidence
    );
    // Without a baseline: a warning, not a pass.
    let lower = dns::step_checks(
        &StepId::LowerTtl,
        &plan,
        Some(&s),
        &DnsFacts::default(),
        None,
        clock.now(),
    );
    assert_eq!(check(&lower, "other-ttls-untouched").status, Status::Warn);
}

#[tokio::test]
async fn the_watcher_follows_zone_changes_and_obeys_commands() {
    let auth = TestDns::start(APEX).await;
    old_zone(&auth).await;
    let mut plan = plan(vec![auth.addr], vec![]);
    plan.dns.poll = Duration::from_secs(3600);
    let clock = ManualClock::new(t0());
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let (commands, handle) = dns::spawn_watcher(
        plan.clone(),
        Arc::new(clock.clone()),
        RoundOptions::default(),
        tx,
    );
    let first = rx.recv().await.unwrap();
    assert_eq!(first.round, 1);
    assert_eq!(
        first.servers[0].answer(DOMAIN, Rtype::MX).unwrap().ttl,
        3600
    );

    lower_ttls(&auth).await;
    clock.advance(SignedDuration::from_secs(30));
    commands.send(DnsCommand::RefreshNow).await.unwrap();
    let second = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.round, 2);
    assert_eq!(second.measured_at, t0() + SignedDuration::from_secs(30));
    assert_eq!(
        second.servers[0].answer(DOMAIN, Rtype::MX).unwrap().ttl,
        300
    );

    commands
        .send(DnsCommand::SetInterval(Duration::from_millis(50)))
        .await
        .unwrap();
    let third = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.round, 3);

    commands.send(DnsCommand::Stop).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn authoritative_servers_are_discovered_through_ns_at_the_resolvers() {
    let resolver = TestDns::start(APEX).await;
    resolver
        .set_a("ns1.example.com.", 300, &["127.0.0.1"])
        .await;
    let plan = plan(vec![], vec![resolver.addr]);
    let found = dns::watch::discover(&plan, &ManualClock::new(t0()))
        .await
        .unwrap();
    assert_eq!(found, vec!["127.0.0.1:53".parse::<SocketAddr>().unwrap()]);

    // No NS answer: the error is reported in the snapshot, the resolvers still asked.
    let empty = TestDns::start("example.org.").await;
    let plan = self::plan(vec![], vec![empty.addr]);
    let s = dns::one_round(&plan, &ManualClock::new(t0())).await;
    assert!(s.discovery_error.is_some());
    assert_eq!(s.servers.len(), 1);
    // A server that does not serve the zone refuses: its own status.
    assert_eq!(
        s.servers[0].answer(DOMAIN, Rtype::MX).unwrap().status,
        AnswerStatus::Refused
    );
    assert!(serde_json::to_value(&s).unwrap()["discovery_error"].is_string());
}

/// A server that answers every question with its id followed by noise, and
/// first with a datagram carrying another id (which must be ignored).
async fn noise_server() -> SocketAddr {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                return;
            };
            if n < 2 {
                continue;
            }
            let mut other = buf[..n].to_vec();
            other[0] ^= 0xff;
            let _ = socket.send_to(&other, from).await;
            let mut noise = vec![buf[0], buf[1], 0x81, 0x80, 0x00, 0x01, 0xff, 0xff];
            noise.extend_from_slice(&[0xc0, 0x0c, 0xde, 0xad]);
            let _ = socket.send_to(&noise, from).await;
        }
    });
    addr
}

#[tokio::test]
async fn an_unreadable_answer_is_a_server_failure_not_a_panic() {
    let noisy = noise_server().await;
    let plan = plan(vec![noisy], vec![noisy]);
    let s = dns::one_round(&plan, &ManualClock::new(t0())).await;
    for server in &s.servers {
        for answer in &server.answers {
            assert_eq!(answer.status, AnswerStatus::Servfail, "{answer:?}");
            assert!(
                answer.detail.as_deref().unwrap().contains("unreadable"),
                "{answer:?}"
            );
        }
    }
    let matrix = dns::render_matrix(&s, &plan, 120);
    assert!(matrix.contains("servfail"));
}

/// Folds the watcher's snapshots into facts until `done` holds (or 5 s pass).
async fn follow_until(
    rx: &mut tokio::sync::mpsc::Receiver<DnsSnapshot>,
    plan: &Plan,
    memory: &mut Memory,
    done: impl Fn(&DnsSnapshot) -> bool,
) -> DnsSnapshot {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = tokio::time::timeout_at(deadline.into(), rx.recv())
            .await
            .expect("the watcher stopped sending")
            .unwrap();
        memory.see(plan, &s);
        if done(&s) {
            return s;
        }
    }
}

fn mx_hosts(s: &DnsSnapshot) -> usize {
    s.servers[0]
        .answer(DOMAIN, Rtype::MX)
        .map_or(0, |a| a.records.len())
}

#[tokio::test]
async fn the_watcher_sees_the_switch_as_it_happens_and_the_wrong_order_alarms() {
    let auth = TestDns::start(APEX).await;
    old_zone(&auth).await;
    lower_ttls(&auth).await;
    let mut plan = plan(vec![auth.addr], vec![]);
    plan.dns.poll = Duration::from_millis(20);
    let clock = ManualClock::new(t0());
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let (commands, handle) = dns::spawn_watcher(
        plan.clone(),
        Arc::new(clock.clone()),
        RoundOptions::default(),
        tx,
    );
    let mut memory = Memory::new();
    follow_until(&mut rx, &plan, &mut memory, |s| mx_hosts(s) == 2).await;
    assert_eq!(memory.facts.mx_state, Some(MxState::Old));

    // The right order, while the watcher polls.
    auth.set_mx(
        APEX,
        300,
        &[
            (10, "mx1.old.example."),
            (20, "mx2.old.example."),
            (1, "smtp.new.example."),
        ],
    )
    .await;
    follow_until(&mut rx, &plan, &mut memory, |s| mx_hosts(s) == 3).await;
    auth.set_mx(APEX, 300, &[(1, "smtp.new.example.")]).await;
    follow_until(&mut rx, &plan, &mut memory, |s| mx_hosts(s) == 1).await;
    let path: Vec<MxState> = memory.facts.mx_transitions.iter().map(|t| t.to).collect();
    assert_eq!(path, vec![MxState::Old, MxState::OldAndNew, MxState::New]);
    assert!(memory.facts.order_unproven_at.is_none());

    // Then someone deletes every MX: the alarm fires within a poll.
    auth.delete(APEX, RecordType::MX).await;
    follow_until(&mut rx, &plan, &mut memory, |s| mx_hosts(s) == 0).await;
    assert!(memory.facts.alarm_active);
    assert_eq!(memory.facts.alarms.len(), 1);

    commands.send(DnsCommand::Stop).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn dmarc_reports_to_another_domain_are_checked_for_its_consent_at_the_resolvers() {
    let auth = TestDns::start(APEX).await;
    let resolver = TestDns::start_zones(&[APEX, "reports.example."]).await;
    for dns in [&auth, &resolver] {
        old_zone(dns).await;
        dns.set_txt(
            "_dmarc.example.com.",
            300,
            &["v=DMARC1; p=none; rua=mailto:agg@reports.example"],
        )
        .await;
    }
    let plan = plan(vec![auth.addr], vec![resolver.addr]);
    let clock = ManualClock::new(t0());
    let reports = |s: &DnsSnapshot| {
        dns::step_checks(
            &StepId::Monitor24h,
            &plan,
            Some(s),
            &DnsFacts::default(),
            None,
            clock.now(),
        )
        .into_iter()
        .find(|c| c.id == "dmarc-not-tightened")
        .expect("monitor-24h checks DMARC")
    };

    // reports.example has not authorised example.com's reports: a warning, not a gate.
    let s = dns::one_round(&plan, &clock).await;
    let query = "example.com._report._dmarc.reports.example.";
    let asked = s.judged.dmarc_reports.iter().find(|a| a.name == query);
    assert_eq!(
        asked.map(|a| a.status),
        Some(AnswerStatus::Nxdomain),
        "{:?}",
        s.judged.dmarc_reports
    );
    let warned = reports(&s);
    assert_eq!(warned.status, Status::Warn, "{warned:?}");
    assert!(
        warned
            .evidence
            .contains("example.com._report._dmarc.reports.example"),
        "{warned:?}"
    );
    let json = serde_json::to_value(&s).expect("json");
    assert_eq!(json["dmarc_reports"][0]["name"], query);

    resolver.set_txt(query, 300, &["v=DMARC1"]).await;
    let s = dns::one_round(&plan, &clock).await;
    let given = reports(&s);
    assert_eq!(given.status, Status::Pass, "{given:?}");
    assert!(
        given.evidence.contains("accepts DMARC reports"),
        "{given:?}"
    );
}
