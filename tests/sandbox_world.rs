//! The whole rehearsal world on loopback: every part answers, and the parts agree.

use cutover::sandbox::{Delivery, World, WorldSpec};
use hickory_resolver::net::client::{Client, ClientHandle};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::udp::UdpClientStream;
use hickory_resolver::proto::rr::{DNSClass, Name, RData, RecordType};
use std::str::FromStr;
use tokio::net::TcpStream;

struct AdminFor(String);

impl async_imap::Authenticator for &AdminFor {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> String {
        self.0.clone()
    }
}

#[tokio::test]
async fn a_started_world_serves_dns_and_both_imap_servers() {
    let mut spec = WorldSpec::small("2026-03-02T08:00:00Z".parse().unwrap());
    spec.mailboxes = 3;
    spec.messages_per_folder = 5;
    spec.speed = 0.0;
    let world = World::start(spec).await.unwrap();
    assert_eq!(world.resolvers.len(), 3);
    assert_eq!(world.mx_ttl().await, Some(86_400));

    for addr in world.resolver_addrs() {
        let stream = UdpClientStream::builder(addr, TokioRuntimeProvider::default()).build();
        let (mut client, bg) = Client::<TokioRuntimeProvider>::from_sender(stream);
        tokio::spawn(bg);
        let mx = client
            .query(
                Name::from_str("example-firm.test.").unwrap(),
                DNSClass::IN,
                RecordType::MX,
            )
            .await
            .unwrap();
        let hosts: Vec<String> = mx
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::MX(mx) => Some(mx.exchange.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(hosts, vec!["mail.old-host.test.".to_string()]);
    }

    // The cutover admin reads any old mailbox through AUTHENTICATE PLAIN with authzid.
    let employee = &world.employees[1];
    let tcp = TcpStream::connect(world.old.addr()).await.unwrap();
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.unwrap();
    let auth = AdminFor(format!(
        "{}\0{}\0{}",
        employee.login, world.admin.0, world.admin.1
    ));
    let mut session = client
        .authenticate("PLAIN", &auth)
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    let inbox = session.examine("INBOX").await.unwrap();
    assert_eq!(inbox.exists, 5 + 3);

    // The new server has no accounts until the operator sets them up (R6): mail bounces.
    let sender = world.sender(0).unwrap();
    world
        .zone
        .set_mx(&[(10, &world.spec.new_mx)], 300)
        .await
        .unwrap();
    world.resolvers[0].flush();
    let bounced = sender
        .send(&employee.login, b"Subject: hi\r\n\r\nhi\r\n".to_vec())
        .await;
    assert!(matches!(bounced, Delivery::Bounced { .. }), "{bounced:?}");
    world.create_new_account(employee).unwrap();
    let delivered = sender
        .send(&employee.login, b"Subject: hi\r\n\r\nhi\r\n".to_vec())
        .await;
    assert!(
        matches!(delivered, Delivery::Delivered { .. }),
        "{delivered:?}"
    );
    assert_eq!(world.new.store().folders(&employee.login).unwrap().len(), 8);
}
