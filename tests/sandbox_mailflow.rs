//! Mail traffic in the rehearsal: senders follow the MX their resolver has cached, so a
//! too-early switch keeps mail landing on the old server; wrong MX sets defer or bounce mail.

use cutover::clock::{Clock, ManualClock};
use cutover::sandbox::{
    CachingResolver, DeferReason, Delivery, MailRoutes, Mailstore, Pop3Fetch, Sender, SimClock,
    ZoneSeed, ZoneServer,
};
use jiff::{SignedDuration, Timestamp};

const DOMAIN: &str = "example-firm.test";
const OLD_MX: &str = "mail.old-host.test";
const NEW_MX: &str = "mx.new-host.test";

fn start() -> Timestamp {
    "2026-03-02T08:00:00Z".parse().unwrap()
}

fn message(n: u32) -> Vec<u8> {
    format!("Message-ID: <m{n}@sender.test>\r\nSubject: n{n}\r\n\r\nhello\r\n").into_bytes()
}

struct World {
    zone: ZoneServer,
    _resolver: CachingResolver,
    clock: SimClock,
    old: Mailstore,
    new: Mailstore,
    sender: Sender,
}

async fn world() -> World {
    let zone = ZoneServer::start(&ZoneSeed::realistic(DOMAIN, OLD_MX))
        .await
        .unwrap();
    let clock = SimClock::new(start(), 0.0);
    let resolver = CachingResolver::start("resolver-1", zone.origin(), zone.addr(), clock.clone())
        .await
        .unwrap();
    let old = Mailstore::new();
    let new = Mailstore::new();
    old.create_user("anna", "pw").unwrap();
    new.create_user("anna", "pw").unwrap();
    let mut routes = MailRoutes::new();
    routes.add(OLD_MX, old.clone()).add(NEW_MX, new.clone());
    let sender = Sender::new(resolver.addr(), zone.origin(), routes, clock.clone());
    World {
        zone,
        _resolver: resolver,
        clock,
        old,
        new,
        sender,
    }
}

fn landed_on(delivery: &Delivery) -> &str {
    match delivery {
        Delivery::Delivered { host, .. } => host,
        other => panic!("not delivered: {other:?}"),
    }
}

#[tokio::test]
async fn a_switch_without_waiting_out_the_ttl_keeps_mail_on_the_old_server() {
    let w = world().await;
    assert_eq!(
        landed_on(&w.sender.send("anna", message(1)).await),
        "mail.old-host.test."
    );

    // The mistake: lower the TTL and switch at once; the resolver cached the 24 h MX.
    w.zone
        .set_ttl("@", hickory_proto::rr::RecordType::MX, 300)
        .await
        .unwrap();
    w.zone.set_mx(&[(10, NEW_MX)], 300).await.unwrap();
    w.clock.skip_to(start() + SignedDuration::from_hours(6));
    assert_eq!(
        landed_on(&w.sender.send("anna", message(2)).await),
        "mail.old-host.test."
    );

    w.clock.skip_to(start() + SignedDuration::from_hours(24));
    assert_eq!(
        landed_on(&w.sender.send("anna", message(3)).await),
        "mx.new-host.test."
    );
    assert_eq!(w.old.messages("anna", "INBOX").unwrap().len(), 2);
    assert_eq!(w.new.messages("anna", "INBOX").unwrap().len(), 1);
    assert_eq!(
        w.new.messages("anna", "INBOX").unwrap()[0]
            .internal_date
            .timestamp(),
        start() + SignedDuration::from_hours(24),
        "delivery is dated on the simulated clock"
    );
}

#[tokio::test]
async fn senders_prefer_the_lowest_preference_then_fall_back_then_defer() {
    let w = world().await;
    w.zone
        .set_mx(&[(5, "mx.nowhere.test"), (10, NEW_MX), (20, OLD_MX)], 300)
        .await
        .unwrap();
    // The resolver has nothing cached yet: it sees the new set at once.
    assert_eq!(
        landed_on(&w.sender.send("anna", message(1)).await),
        "mx.new-host.test."
    );

    w.clock.skip_to(start() + SignedDuration::from_mins(10));
    w.zone.set_mx(&[], 300).await.unwrap();
    assert_eq!(
        w.sender.send("anna", message(2)).await,
        Delivery::Deferred {
            reason: DeferReason::NoMx
        }
    );

    w.zone
        .set_mx(&[(10, "mx.nowhere.test")], 300)
        .await
        .unwrap();
    // The empty answer stays cached for the SOA's negative TTL (1 h here, RFC 2308).
    w.clock.skip_to(start() + SignedDuration::from_mins(30));
    assert_eq!(
        w.sender.send("anna", message(3)).await,
        Delivery::Deferred {
            reason: DeferReason::NoMx
        }
    );
    w.clock.skip_to(start() + SignedDuration::from_mins(71));
    assert!(matches!(
        w.sender.send("anna", message(4)).await,
        Delivery::Deferred {
            reason: DeferReason::NoReachableHost { .. }
        }
    ));
}

#[tokio::test]
async fn mail_for_a_user_not_set_up_on_the_new_server_bounces() {
    let w = world().await;
    w.zone.set_mx(&[(10, NEW_MX)], 300).await.unwrap();
    assert_eq!(
        w.sender.send("bob", message(1)).await,
        Delivery::Bounced {
            host: "mx.new-host.test.".into(),
            user: "bob".into()
        }
    );
}

#[test]
fn pop3_fetch_copies_each_old_message_once_with_a_received_line() {
    let old = Mailstore::new();
    let new = Mailstore::new();
    old.create_user("anna", "pw").unwrap();
    new.create_user("anna.k", "pw").unwrap();
    let date = "2026-03-02T08:00:00+00:00[UTC]".parse().unwrap();
    old.deliver("anna", "INBOX", message(1), date).unwrap();
    let clock = ManualClock::new(start());
    let mut fetch = Pop3Fetch::new(old.clone(), "anna", new.clone(), "anna.k");
    assert_eq!(fetch.run(&clock).unwrap(), 1);
    assert_eq!(fetch.run(&clock).unwrap(), 0, "already fetched");
    let date = "2026-03-02T09:00:00+00:00[UTC]".parse().unwrap();
    old.deliver("anna", "INBOX", message(2), date).unwrap();
    clock.advance(SignedDuration::from_mins(5));
    assert_eq!(fetch.run(&clock).unwrap(), 1);

    let copies = new.messages("anna.k", "INBOX").unwrap();
    assert_eq!(copies.len(), 2);
    let first = String::from_utf8_lossy(&copies[0].raw).into_owned();
    assert!(
        first.starts_with("Received: from old-server by new-server with POP3"),
        "{first}"
    );
    assert!(first.ends_with(&String::from_utf8(message(1)).unwrap()));
    assert_eq!(
        old.messages("anna", "INBOX").unwrap().len(),
        2,
        "originals stay"
    );
    assert_eq!(copies[1].internal_date.timestamp(), clock.now());
}
