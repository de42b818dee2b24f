//! The rehearsal's DNS servers, queried over the wire with hickory's own client: the zone
//! server answers like a real DNS host, the caching resolvers age their cache on the
//! simulated clock.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use cutover::clock::Clock;
use cutover::sandbox::{CachingResolver, SimClock, ZoneSeed, ZoneServer};
use hickory_resolver::net::client::{Client, ClientHandle};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::tcp::TcpClientStream;
use hickory_resolver::net::udp::UdpClientStream;
use hickory_resolver::proto::op::{DnsResponse, ResponseCode};
use hickory_resolver::proto::rr::{DNSClass, Name, RData, RecordType};
use jiff::{SignedDuration, Timestamp};

const DOMAIN: &str = "example-firm.test";
const OLD_MX: &str = "mail.old-host.test";
const NEW_MX: &str = "mx.new-host.test";

async fn udp_client(addr: SocketAddr) -> Client<TokioRuntimeProvider> {
    let stream = UdpClientStream::builder(addr, TokioRuntimeProvider::default())
        .with_timeout(Some(Duration::from_millis(500)))
        .build();
    let (client, background) = Client::<TokioRuntimeProvider>::from_sender(stream);
    tokio::spawn(background);
    client
}

async fn query(addr: SocketAddr, name: &str, rtype: RecordType) -> DnsResponse {
    let mut client = udp_client(addr).await;
    client
        .query(Name::from_str(name).unwrap(), DNSClass::IN, rtype)
        .await
        .unwrap()
}

fn mx_hosts(response: &DnsResponse) -> Vec<(u16, String)> {
    let mut hosts: Vec<(u16, String)> = response
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::MX(mx) => Some((mx.preference, mx.exchange.to_string())),
            _ => None,
        })
        .collect();
    hosts.sort();
    hosts
}

fn ttls(response: &DnsResponse) -> Vec<u32> {
    response.answers.iter().map(|r| r.ttl).collect()
}

fn start() -> Timestamp {
    "2026-03-02T08:00:00Z".parse().unwrap()
}

#[tokio::test]
async fn zone_server_answers_with_the_configured_ttl_and_the_aa_flag() {
    let zone = ZoneServer::start(&ZoneSeed::realistic(DOMAIN, OLD_MX))
        .await
        .unwrap();
    let mx = query(zone.addr(), "example-firm.test.", RecordType::MX).await;
    assert!(mx.metadata.authoritative, "AA must be set");
    assert_eq!(mx.metadata.response_code, ResponseCode::NoError);
    assert_eq!(mx_hosts(&mx), vec![(10, format!("{OLD_MX}."))]);
    assert_eq!(ttls(&mx), vec![86_400]);

    for rtype in [
        RecordType::A,
        RecordType::AAAA,
        RecordType::NS,
        RecordType::SOA,
    ] {
        let response = query(zone.addr(), "example-firm.test.", rtype).await;
        assert!(!response.answers.is_empty(), "{rtype} missing at the apex");
        assert!(response.metadata.authoritative);
    }
    let txt = query(zone.addr(), "example-firm.test.", RecordType::TXT).await;
    let RData::TXT(spf) = &txt.answers[0].data else {
        panic!("apex TXT is not TXT: {txt:?}");
    };
    assert_eq!(spf.to_string(), format!("v=spf1 a:{OLD_MX} -all"));

    let missing = query(zone.addr(), "nothing.example-firm.test.", RecordType::A).await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn console_edits_are_served_at_once_and_bump_the_serial() {
    let zone = ZoneServer::start(&ZoneSeed::realistic(DOMAIN, OLD_MX))
        .await
        .unwrap();
    let serial_before = zone.serial().await;

    zone.set_ttl("@", RecordType::MX, 300).await.unwrap();
    zone.set_ttl("@", RecordType::TXT, 300).await.unwrap();
    zone.add_mx(5, NEW_MX).await.unwrap();
    let mx = query(zone.addr(), "example-firm.test.", RecordType::MX).await;
    assert_eq!(
        mx_hosts(&mx),
        vec![(5, format!("{NEW_MX}.")), (10, format!("{OLD_MX}."))]
    );
    assert_eq!(ttls(&mx), vec![300, 300]);

    zone.remove_mx(OLD_MX).await.unwrap();
    let mx = query(zone.addr(), "example-firm.test.", RecordType::MX).await;
    assert_eq!(mx_hosts(&mx), vec![(5, format!("{NEW_MX}."))]);

    zone.set_txt("sel1._domainkey", &["v=DKIM1; k=rsa; p=MIIBIjAN"], 3600)
        .await
        .unwrap();
    let dkim = query(
        zone.addr(),
        "sel1._domainkey.example-firm.test.",
        RecordType::TXT,
    )
    .await;
    assert_eq!(ttls(&dkim), vec![3600]);

    // The website's A record was never touched (R1).
    let a = query(zone.addr(), "example-firm.test.", RecordType::A).await;
    assert_eq!(ttls(&a), vec![86_400]);

    let soa = query(zone.addr(), "example-firm.test.", RecordType::SOA).await;
    let RData::SOA(data) = &soa.answers[0].data else {
        panic!("not an SOA: {soa:?}");
    };
    assert_eq!(data.serial, serial_before + 5);

    zone.set_mx(&[], 300).await.unwrap();
    let mx = query(zone.addr(), "example-firm.test.", RecordType::MX).await;
    assert!(
        mx.answers.is_empty(),
        "an empty MX set must be served empty"
    );
    assert_eq!(mx.metadata.response_code, ResponseCode::NoError);
}

#[tokio::test]
async fn zone_server_answers_over_tcp_on_the_same_port() {
    let zone = ZoneServer::start(&ZoneSeed::realistic(DOMAIN, OLD_MX))
        .await
        .unwrap();
    let (stream, sender) =
        TcpClientStream::new(zone.addr(), None, None, TokioRuntimeProvider::default());
    let (mut client, background) =
        Client::<TokioRuntimeProvider>::new(stream.await.unwrap(), sender);
    tokio::spawn(background);
    let mx = client
        .query(
            Name::from_str("example-firm.test.").unwrap(),
            DNSClass::IN,
            RecordType::MX,
        )
        .await
        .unwrap();
    assert_eq!(mx_hosts(&mx), vec![(10, format!("{OLD_MX}."))]);
    assert!(mx.metadata.authoritative);
}

#[tokio::test]
async fn a_resolver_keeps_the_old_mx_until_its_cached_ttl_runs_out() {
    let zone = ZoneServer::start(&ZoneSeed::realistic(DOMAIN, OLD_MX))
        .await
        .unwrap();
    // Speed 0: simulated time moves only by skip_to, so the test needs no sleeps.
    let clock = SimClock::new(start(), 0.0);
    let resolver = CachingResolver::start("resolver-1", zone.origin(), zone.addr(), clock.clone())
        .await
        .unwrap();

    let first = query(resolver.addr(), "example-firm.test.", RecordType::MX).await;
    assert!(
        !first.metadata.authoritative,
        "a resolver's answer is not authoritative"
    );
    assert!(first.metadata.recursion_available);
    assert_eq!(ttls(&first), vec![86_400]);

    // The classic mistake: the MX is switched right after lowering the TTL.
    zone.set_mx(&[(10, NEW_MX)], 300).await.unwrap();

    clock.skip_to(start() + SignedDuration::from_hours(1));
    let an_hour_later = query(resolver.addr(), "example-firm.test.", RecordType::MX).await;
    assert_eq!(mx_hosts(&an_hour_later), vec![(10, format!("{OLD_MX}."))]);
    assert_eq!(ttls(&an_hour_later), vec![86_400 - 3600]);
    assert_eq!(resolver.upstream_queries(), 1);

    clock.skip_to(start() + SignedDuration::from_hours(24) - SignedDuration::from_secs(2));
    let almost = query(resolver.addr(), "example-firm.test.", RecordType::MX).await;
    assert_eq!(mx_hosts(&almost), vec![(10, format!("{OLD_MX}."))]);
    assert_eq!(ttls(&almost), vec![2]);

    clock.skip_to(start() + SignedDuration::from_hours(24));
    let expired = query(resolver.addr(), "example-firm.test.", RecordType::MX).await;
    assert_eq!(mx_hosts(&expired), vec![(10, format!("{NEW_MX}."))]);
    assert_eq!(ttls(&expired), vec![300]);
    assert_eq!(resolver.upstream_queries(), 2);
    assert_eq!(clock.now(), start() + SignedDuration::from_hours(24));
}

#[tokio::test]
async fn names_outside_the_rehearsal_zone_do_not_exist_and_are_answered_locally() {
    let zone = ZoneServer::start(&ZoneSeed::realistic(DOMAIN, OLD_MX))
        .await
        .unwrap();
    let clock = SimClock::new(start(), 0.0);
    let resolver = CachingResolver::start("resolver-1", zone.origin(), zone.addr(), clock)
        .await
        .unwrap();
    let outside = query(resolver.addr(), "example.com.", RecordType::A).await;
    assert_eq!(outside.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(resolver.upstream_queries(), 0);

    let nx = query(resolver.addr(), "nothing.example-firm.test.", RecordType::A).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    let again = query(resolver.addr(), "nothing.example-firm.test.", RecordType::A).await;
    assert_eq!(again.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(
        resolver.upstream_queries(),
        1,
        "negative answers are cached"
    );
}

#[tokio::test]
async fn a_resolver_that_stops_answering_times_out_and_heals() {
    let zone = ZoneServer::start(&ZoneSeed::realistic(DOMAIN, OLD_MX))
        .await
        .unwrap();
    let clock = SimClock::new(start(), 0.0);
    let resolver = CachingResolver::start("resolver-2", zone.origin(), zone.addr(), clock)
        .await
        .unwrap();
    resolver.set_answering(false);
    let mut client = udp_client(resolver.addr()).await;
    let silent = client
        .query(
            Name::from_str("example-firm.test.").unwrap(),
            DNSClass::IN,
            RecordType::MX,
        )
        .await;
    assert!(
        silent.is_err(),
        "a silenced resolver must not answer: {silent:?}"
    );

    resolver.set_answering(true);
    let healed = query(resolver.addr(), "example-firm.test.", RecordType::MX).await;
    assert_eq!(mx_hosts(&healed), vec![(10, format!("{OLD_MX}."))]);
}

#[tokio::test]
async fn a_dns_host_that_ignores_ttls_keeps_serving_the_old_one() {
    let zone = ZoneServer::start(&ZoneSeed::realistic(DOMAIN, OLD_MX))
        .await
        .unwrap();
    zone.set_honours_ttl(false);
    zone.set_ttl("@", RecordType::MX, 300).await.unwrap();
    zone.add_mx(5, NEW_MX).await.unwrap();
    let mx = query(zone.addr(), "example-firm.test.", RecordType::MX).await;
    assert_eq!(
        ttls(&mx),
        vec![86_400, 86_400],
        "the change is accepted, the TTL is not"
    );
    assert_eq!(mx_hosts(&mx).len(), 2, "record edits still work");

    zone.set_honours_ttl(true);
    zone.set_ttl("@", RecordType::MX, 300).await.unwrap();
    let mx = query(zone.addr(), "example-firm.test.", RecordType::MX).await;
    assert_eq!(ttls(&mx), vec![300, 300]);
}
