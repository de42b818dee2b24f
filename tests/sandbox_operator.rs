//! The rehearsal's operator: each console key (and each autopilot step) makes its change at
//! the sandbox's DNS host and mail servers, in any order, pressed twice included.

use cutover::sandbox::World;
use cutover::sandbox::demo::world_spec;
use cutover::sandbox::operator::{Action, perform};
use hickory_proto::rr::{RData, RecordType};

async fn zone_mx(world: &World) -> (u32, Vec<String>) {
    let (ttl, rdata) = world
        .zone
        .lookup("@", RecordType::MX)
        .await
        .unwrap_or_default();
    let hosts = rdata
        .iter()
        .filter_map(|r| match r {
            RData::MX(mx) => Some(mx.exchange.to_string()),
            _ => None,
        })
        .collect();
    (ttl, hosts)
}

async fn zone_txt(world: &World, name: &str) -> (u32, Vec<String>) {
    let (ttl, rdata) = world
        .zone
        .lookup(name, RecordType::TXT)
        .await
        .unwrap_or_default();
    let texts = rdata
        .iter()
        .filter_map(|r| match r {
            RData::TXT(txt) => Some(txt.to_string()),
            _ => None,
        })
        .collect();
    (ttl, texts)
}

#[tokio::test]
async fn every_action_changes_the_sandbox_as_the_runbook_asks() {
    let world = World::start(world_spec(3, 24, 0.0)).await.unwrap();

    let done = perform(&world, Action::LowerTtl).await.unwrap();
    assert_eq!(done.text, "MX and TXT TTLs set to 5 min at the DNS host");
    assert_eq!(zone_mx(&world).await.0, 300);
    assert_eq!(zone_txt(&world, "@").await.0, 300);

    perform(&world, Action::SpfAddNew).await.unwrap();
    assert_eq!(
        zone_txt(&world, "@").await.1,
        vec!["v=spf1 a:mail.old-host.test a:mx.new-host.test -all"]
    );

    // Mailboxes are created once; a second press finds them there.
    let made = perform(&world, Action::CreateMailboxes).await.unwrap();
    assert_eq!(made.text, "3 mailboxes created on the new server");
    let again = perform(&world, Action::CreateMailboxes).await.unwrap();
    assert_eq!(again.text, "0 mailboxes created on the new server");
    assert_eq!(world.new.store().folders("user1").unwrap().len(), 8);

    // Every other employee sets up a POP3 fetch; the caller runs them.
    let fetch = perform(&world, Action::StartPop3Fetch).await.unwrap();
    assert_eq!(fetch.fetches.len(), 2);
    assert_eq!(
        fetch.text,
        "2 employees set up POP3 fetch from the old server"
    );

    let added = perform(&world, Action::AddNewMx).await.unwrap();
    assert!(
        added.text.ends_with("(the old one stays)"),
        "{}",
        added.text
    );
    let (ttl, hosts) = zone_mx(&world).await;
    assert_eq!(ttl, 300, "adding a record keeps the set's TTL");
    assert_eq!(hosts, vec!["mail.old-host.test.", "mx.new-host.test."]);

    perform(&world, Action::DeleteOldMx).await.unwrap();
    assert_eq!(zone_mx(&world).await.1, vec!["mx.new-host.test."]);
    // Deleting it again is no error: it is gone.
    perform(&world, Action::DeleteOldMx).await.unwrap();
    assert_eq!(zone_mx(&world).await.1, vec!["mx.new-host.test."]);

    perform(&world, Action::DkimSpfFinal).await.unwrap();
    assert_eq!(
        zone_txt(&world, "@").await.1,
        vec!["v=spf1 a:mx.new-host.test -all"]
    );
    let (_, dkim) = zone_txt(&world, "rehearsal._domainkey").await;
    assert!(dkim[0].starts_with("v=DKIM1; k=rsa; p="), "{dkim:?}");

    let restored = perform(&world, Action::RestoreTtl).await.unwrap();
    assert_eq!(restored.text, "TTLs restored: 24 h for MX, 6 h for TXT");
    assert_eq!(zone_mx(&world).await.0, 86_400);
    assert_eq!(zone_txt(&world, "@").await.0, 21_600);
}

#[tokio::test]
async fn adding_the_new_mx_after_deleting_the_old_one_does_not_claim_the_old_one_stays() {
    let world = World::start(world_spec(1, 8, 0.0)).await.unwrap();
    perform(&world, Action::DeleteOldMx).await.unwrap();
    assert!(zone_mx(&world).await.1.is_empty());
    let added = perform(&world, Action::AddNewMx).await.unwrap();
    assert_eq!(added.text, "MX 10 mx.new-host.test added at the DNS host");
    assert_eq!(zone_mx(&world).await.1, vec!["mx.new-host.test."]);
}
