//! DKIM, SPF and DMARC judged on a message the new server really sent, as a receiver got
//! it: the new server (Postfix on 127.0.0.3, OpenDKIM signing) relays a submission to
//! an external receiver (Postfix on 127.0.0.4 with OpenDKIM verifying, delivering into
//! a Dovecot mailbox), keys and policies served by a test DNS server; the message is read
//! back over IMAP and judged by `cutover::mailauth` over that DNS server.
//!
//! Cases: DKIM pass (the receiver's own Authentication-Results agreeing, a forged one
//! by the sender ignored); the key published under another selector (fail, the selector
//! named); a cut-off key; `d=` of another domain (pass, not aligned: DMARC rests on SPF);
//! SPF fail when the new server's address is not in SPF.

#[path = "support/dns_server.rs"]
mod dns_server;
#[path = "support/dovecot.rs"]
mod dovecot;
#[path = "support/opendkim.rs"]
mod opendkim;
#[path = "support/postfix.rs"]
mod postfix;

use std::time::Duration;

use cutover::check::Status;
use cutover::mail::credentials::{AuthMethod, Login, Secret};
use cutover::mail::{Place, Timeouts, connect};
use cutover::mailauth::checks::{outbound_auth_check, selector_advice};
use cutover::mailauth::model::{AuthResult, OutboundAuth};
use cutover::mailauth::verify::{Receiver, resolver, verify_received};
use cutover::plan::{Security, WhichSide};
use dns_server::TestDns;
use dovecot::Dovecot;
use futures_util::TryStreamExt;
use opendkim::{Key, OpenDkim, genkey};
use postfix::{Postfix, Setup};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const DOMAIN: &str = "example.com";
const PROVIDER: &str = "provider.test";
const EXTERNAL: &str = "external.test";
const RECEIVER_HOST: &str = "mx.external.test";
const BOB: &str = "bob@external.test";
const BOB_PASSWORD: &str = "bob-pw";
const NEW_SERVER_IP: &str = "127.0.0.3";
const EXTERNAL_IP: &str = "127.0.0.4";
/// The plan's selector: where the tests publish the domain's key unless told otherwise.
const PLAN_SELECTOR: &str = "cutover";

/// How the new server signs and what DNS serves, per case.
struct Case {
    /// `d=` and selector the new server signs with.
    sign_domain: &'static str,
    sign_selector: &'static str,
    /// Where the public key is published (owner name), and whether it is cut short.
    publish_at: String,
    cut_key: bool,
    spf: &'static str,
    /// The envelope sender (the return-path the receiver records).
    mail_from: &'static str,
}

impl Case {
    fn signed_as_planned() -> Case {
        Case {
            sign_domain: DOMAIN,
            sign_selector: PLAN_SELECTOR,
            publish_at: format!("{PLAN_SELECTOR}._domainkey.{DOMAIN}"),
            cut_key: false,
            spf: "v=spf1 ip4:127.0.0.3 -all",
            mail_from: "alice@example.com",
        }
    }
}

/// Everything one case runs on; dropped in reverse order of start.
struct World {
    dns: TestDns,
    _keys: tempfile::TempDir,
    _maps: tempfile::TempDir,
    new_server: Postfix,
    _signer: OpenDkim,
    external: Postfix,
    _verifier: OpenDkim,
    mailbox: Dovecot,
    smtp_port: u16,
    mail_from: &'static str,
}

async fn world(case: Case) -> Option<World> {
    // The parents too: DMARC's tree walk (RFC 9989) asks `_dmarc.com`, which the world's
    // DNS answers with NXDOMAIN, not a refusal.
    let dns = TestDns::start_zones(&[DOMAIN, PROVIDER, "com", "test"]).await;
    let keys = tempfile::tempdir().expect("key dir");
    let key: Key = genkey(keys.path(), case.sign_domain, case.sign_selector)?;
    let record = if case.cut_key {
        // Pasted at the DNS host without its last 40 characters.
        key.record[..key.record.len() - 40].to_string()
    } else {
        key.record.clone()
    };
    dns.set_txt(&case.publish_at, 300, &[&record]).await;
    dns.set_txt(DOMAIN, 300, &[case.spf]).await;
    // The provider's own bounce domain lets the new server send.
    dns.set_txt(PROVIDER, 300, &["v=spf1 ip4:127.0.0.3 -all"])
        .await;
    dns.set_txt(&format!("_dmarc.{DOMAIN}"), 300, &["v=DMARC1; p=reject"])
        .await;

    let mailbox = Dovecot::start("external")?;
    mailbox.add_user(BOB, BOB_PASSWORD);
    // The maildir exists, owned by the mail user, before Postfix delivers into it.
    mailbox.seed(BOB, "INBOX", &[]);
    let verifier = OpenDkim::verifier(RECEIVER_HOST, dns.addr, &[DOMAIN, PROVIDER])?;
    let maps = tempfile::tempdir().expect("map dir");
    std::fs::write(
        maps.path().join("external-mailboxes"),
        format!("{BOB} {}/\n", mailbox.folder_dir(BOB, "INBOX").display()),
    )
    .expect("write mailbox map");
    let m = maps.path().display();
    let external_cf = format!(
        "inet_interfaces = all
smtp_bind_address = {EXTERNAL_IP}
smtpd_peername_lookup = no
virtual_mailbox_domains = {EXTERNAL}
virtual_mailbox_maps = texthash:{m}/external-mailboxes
virtual_mailbox_base = /
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{uid}
smtpd_milters = inet:127.0.0.1:{milter}
milter_default_action = tempfail
",
        uid = dovecot::MAIL_UID,
        milter = verifier.port,
    );
    let external = Postfix::start_with(Setup {
        host_name: RECEIVER_HOST.to_string(),
        bind: EXTERNAL_IP.to_string(),
        domain: DOMAIN.to_string(),
        accepted: Vec::new(),
        lmtp_port: None,
        sasl_port: None,
        submission_auth: true,
        ca_dir: None,
        main_cf: external_cf,
    })?;

    let signer = OpenDkim::signer(DOMAIN, &key)?;
    std::fs::write(
        maps.path().join("transport"),
        format!("{EXTERNAL} smtp:[{EXTERNAL_IP}]:{}\n", external.port),
    )
    .expect("write transport map");
    let new_cf = format!(
        "inet_interfaces = all
smtp_bind_address = {NEW_SERVER_IP}
smtpd_peername_lookup = no
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
transport_maps = texthash:{m}/transport
smtp_tls_security_level = none
smtpd_milters = inet:127.0.0.1:{milter}
milter_default_action = tempfail
",
        milter = signer.port,
    );
    let new_server = Postfix::start_with(Setup {
        host_name: "mx.new.test".to_string(),
        bind: NEW_SERVER_IP.to_string(),
        domain: DOMAIN.to_string(),
        accepted: Vec::new(),
        lmtp_port: None,
        sasl_port: None,
        submission_auth: true,
        ca_dir: None,
        main_cf: new_cf,
    })?;
    let smtp_port = new_server.port;
    Some(World {
        dns,
        _keys: keys,
        _maps: maps,
        new_server,
        _signer: signer,
        external,
        _verifier: verifier,
        mailbox,
        smtp_port,
        mail_from: case.mail_from,
    })
}

/// A small SMTP client: one message From alice@example.com to bob with the envelope
/// sender `mail_from`, submitted to the new server from 127.0.0.1 (a trusted network,
/// so it relays and signs).
async fn submit(
    port: u16,
    mail_from: &str,
    token: &str,
    extra_headers: &str,
) -> Result<(), String> {
    let stream = tokio::net::TcpStream::connect((NEW_SERVER_IP, port))
        .await
        .expect("connect to the new server");
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    async fn reply(
        lines: &mut tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
    ) -> String {
        loop {
            let line = lines.next_line().await.expect("read").expect("a reply");
            if line.as_bytes().get(3) != Some(&b'-') {
                return line;
            }
        }
    }
    let greeting = reply(&mut lines).await;
    assert!(greeting.starts_with("220"), "{greeting}");
    let message = format!(
        "From: Alice <alice@{DOMAIN}>\r\nTo: <{BOB}>\r\nSubject: canary {token}\r\nDate: Mon, 7 Dec 2026 16:40:00 +0000\r\nMessage-ID: <{token}@{DOMAIN}>\r\n{extra_headers}X-Cutover-Canary: {token}\r\n\r\nA canary, {token}.\r\n.\r\n"
    );
    for (command, expect) in [
        ("EHLO client.test\r\n".to_string(), "250"),
        (format!("MAIL FROM:<{mail_from}>\r\n"), "250"),
        (format!("RCPT TO:<{BOB}>\r\n"), "250"),
        ("DATA\r\n".to_string(), "354"),
        (message, "250"),
        ("QUIT\r\n".to_string(), "221"),
    ] {
        write.write_all(command.as_bytes()).await.expect("write");
        let answer = reply(&mut lines).await;
        if !answer.starts_with(expect) {
            return Err(format!("{command:?} → {answer}"));
        }
    }
    Ok(())
}

/// The message with `token` from bob's INBOX over IMAP, waiting up to 30 s for delivery.
async fn fetch(world: &World, token: &str) -> Vec<u8> {
    let login = Login {
        user: BOB.to_string(),
        method: AuthMethod::Password,
        secret: Secret::new(BOB_PASSWORD),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut imap = connect(
            &world.mailbox.endpoint(Security::Implicit),
            &Place::new(BOB, WhichSide::New, "external"),
            &login,
            Timeouts::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", world.mailbox.log()));
        imap.session.examine("INBOX").await.expect("examine");
        let uids = imap
            .session
            .uid_search(format!("HEADER X-Cutover-Canary {token}"))
            .await
            .expect("search");
        if let Some(uid) = uids.into_iter().next() {
            let fetched: Vec<_> = imap
                .session
                .uid_fetch(uid.to_string(), "BODY.PEEK[]")
                .await
                .expect("fetch")
                .try_collect()
                .await
                .expect("fetch stream");
            let body = fetched
                .iter()
                .find_map(|f| f.body())
                .expect("the message's bytes")
                .to_vec();
            imap.logout().await;
            return body;
        }
        imap.logout().await;
        assert!(
            tokio::time::Instant::now() < deadline,
            "the canary never arrived.\nnew server:\n{}\nexternal:\n{}",
            world.new_server.log(),
            world.external.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn send_and_judge(
    world: &World,
    token: &str,
    extra_headers: &str,
) -> (OutboundAuth, Vec<u8>) {
    if let Err(e) = submit(world.smtp_port, world.mail_from, token, extra_headers).await {
        panic!(
            "the new server refused the canary: {e}\nnew server's log:\n{}\nsigner:\n{}",
            world.new_server.log(),
            world._signer.log()
        );
    }
    let raw = fetch(world, token).await;
    let receiver = Receiver {
        hosts: vec![RECEIVER_HOST.to_string()],
        authserv_id: Some(RECEIVER_HOST.to_string()),
    };
    let resolver = resolver(&[world.dns.addr], Duration::from_secs(2)).expect("resolver");
    let auth = verify_received(&raw, &receiver, resolver)
        .await
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&raw)));
    (auth, raw)
}

fn text(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_signed_at_the_planned_selector_passes_and_the_receiver_agrees() {
    let Some(world) = world(Case::signed_as_planned()).await else {
        return;
    };
    // The sender writes a field in the receiver's name saying everything failed: it
    // sits below the receiver's own and is never believed.
    let forged = format!(
        "Authentication-Results: {RECEIVER_HOST}; dkim=fail header.d={DOMAIN}; spf=fail; dmarc=fail\r\n"
    );
    let (auth, raw) = send_and_judge(&world, "pass-7f3a", &forged).await;
    let raw = text(&raw);
    assert!(
        raw.contains("dkim=fail header.d=example.com; spf=fail"),
        "the forgery was delivered: {raw}"
    );

    assert_eq!(auth.dkim.result, AuthResult::Pass, "{auth:#?}\n{raw}");
    assert_eq!(auth.dkim.domain.as_deref(), Some(DOMAIN));
    assert_eq!(auth.dkim.selector.as_deref(), Some(PLAN_SELECTOR));
    assert!(auth.dkim.aligned);
    assert_eq!(auth.signatures.len(), 1);
    assert_eq!(auth.spf.result, AuthResult::Pass, "{auth:#?}");
    assert_eq!(
        auth.spf.ip.map(|ip| ip.to_string()).as_deref(),
        Some(NEW_SERVER_IP)
    );
    assert_eq!(auth.spf.domain.as_deref(), Some(DOMAIN));
    assert!(auth.spf.aligned);
    assert_eq!(auth.dmarc.result, AuthResult::Pass);
    assert_eq!(auth.dmarc.policy.as_deref(), Some("reject"));

    // The receiver's own verdict (OpenDKIM writes DKIM only), read from its topmost field.
    let receiver = auth.receiver.as_ref().expect("the receiver's field");
    assert_eq!(receiver.authserv_id.as_deref(), Some(RECEIVER_HOST));
    assert_eq!(receiver.dkim.as_deref(), Some("pass"), "{raw}");
    assert_eq!(
        receiver.spf, None,
        "the forged spf=fail is not the receiver's"
    );
    assert!(auth.warnings.is_empty(), "{:?}", auth.warnings);

    let check = outbound_auth_check(Some(&auth), DOMAIN, Some(PLAN_SELECTOR));
    assert_eq!(check.status, Status::Pass, "{}", check.evidence);
    assert!(check.evidence.starts_with("DKIM pass (d=example.com, s=cutover, aligned), SPF pass for 127.0.0.3 at example.com, DMARC pass (policy reject); mx.external.test wrote dkim=pass"), "{}", check.evidence);
    // The plan without a selector is offered the one the provider signs with.
    let advice = selector_advice(&auth, DOMAIN, None).expect("advice");
    assert_eq!(advice.plan_line, "dkim_selector = \"cutover\"");
    assert_eq!(advice.record, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_published_under_another_selector_fails_naming_the_selector_used() {
    let Some(world) = world(Case {
        // The provider signs with s2026; the operator published the key at the plan's.
        sign_selector: "s2026",
        ..Case::signed_as_planned()
    })
    .await
    else {
        return;
    };
    let forged =
        format!("Authentication-Results: {RECEIVER_HOST}; dkim=pass header.d={DOMAIN}\r\n");
    let (auth, raw) = send_and_judge(&world, "selector-91c2", &forged).await;
    let raw = text(&raw);

    assert_eq!(auth.dkim.result, AuthResult::PermError, "{auth:#?}\n{raw}");
    assert_eq!(auth.dkim.selector.as_deref(), Some("s2026"));
    assert_eq!(
        auth.dkim.reason.as_deref(),
        Some("no key is published at s2026._domainkey.example.com")
    );
    // SPF still passes and aligns, so DMARC passes on SPF.
    assert_eq!(auth.spf.result, AuthResult::Pass);
    assert_eq!(auth.dmarc.result, AuthResult::Pass);
    // The receiver did not find the key either; the sender's `dkim=pass` is ignored.
    let receiver = auth.receiver.as_ref().expect("the receiver's field");
    assert_ne!(receiver.dkim.as_deref(), Some("pass"), "{raw}");

    let check = outbound_auth_check(Some(&auth), DOMAIN, Some(PLAN_SELECTOR));
    assert_eq!(check.status, Status::Fail);
    assert!(
        check.evidence.contains("DKIM permerror for selector s2026 (d=example.com): no key is published at s2026._domainkey.example.com; publish the key of selector s2026: `s2026._domainkey.example.com. TXT \"v=DKIM1; k=<its key type, rsa or ed25519>; p=<the public key your provider shows for selector s2026>\"`"),
        "{}",
        check.evidence
    );
    assert!(
        check.evidence.contains("the provider signs with selector s2026, not cutover as the plan says: put `dkim_selector = \"s2026\"` in [new]"),
        "{}",
        check.evidence
    );
    let advice = selector_advice(&auth, DOMAIN, Some(PLAN_SELECTOR)).expect("advice");
    assert_eq!(advice.plan_line, "dkim_selector = \"s2026\"");
    assert!(
        advice
            .record
            .is_some_and(|r| r.starts_with("s2026._domainkey.example.com. TXT"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_key_fails_and_says_to_paste_the_whole_key() {
    let Some(world) = world(Case {
        cut_key: true,
        ..Case::signed_as_planned()
    })
    .await
    else {
        return;
    };
    let (auth, raw) = send_and_judge(&world, "cutkey-5d10", "").await;
    assert_ne!(
        auth.dkim.result,
        AuthResult::Pass,
        "{auth:#?}\n{}",
        text(&raw)
    );
    assert_eq!(auth.dkim.selector.as_deref(), Some(PLAN_SELECTOR));
    let receiver = auth.receiver.as_ref().expect("the receiver's field");
    assert_ne!(receiver.dkim.as_deref(), Some("pass"));
    let check = outbound_auth_check(Some(&auth), DOMAIN, Some(PLAN_SELECTOR));
    assert_eq!(check.status, Status::Fail);
    assert!(
        check.evidence.contains("the key at cutover._domainkey.example.com does not match the signature (cut off, or another key): paste the provider's whole key again"),
        "{}",
        check.evidence
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_by_the_providers_domain_passes_unaligned_and_dmarc_rests_on_spf() {
    let Some(world) = world(Case {
        sign_domain: PROVIDER,
        sign_selector: "pk1",
        publish_at: format!("pk1._domainkey.{PROVIDER}"),
        ..Case::signed_as_planned()
    })
    .await
    else {
        return;
    };
    let (auth, raw) = send_and_judge(&world, "provider-2b7e", "").await;
    assert_eq!(
        auth.dkim.result,
        AuthResult::Pass,
        "{auth:#?}\n{}",
        text(&raw)
    );
    assert_eq!(auth.dkim.domain.as_deref(), Some(PROVIDER));
    assert!(!auth.dkim.aligned);
    assert_eq!(auth.spf.result, AuthResult::Pass);
    assert!(auth.spf.aligned);
    assert_eq!(
        auth.dmarc.result,
        AuthResult::Pass,
        "DMARC passes on SPF alone"
    );
    assert!(
        auth.warnings.iter().any(|w| w.starts_with(
            "signed by d=provider.test, not example.com: DMARC rests on SPF alone, which fails at every forwarder and mailing list"
        )),
        "{:?}",
        auth.warnings
    );
    let receiver = auth.receiver.as_ref().expect("the receiver's field");
    assert_eq!(receiver.dkim.as_deref(), Some("pass"), "{}", text(&raw));
    let check = outbound_auth_check(Some(&auth), DOMAIN, Some(PLAN_SELECTOR));
    assert_eq!(check.status, Status::Fail, "{}", check.evidence);
    assert!(check.evidence.contains("DKIM passes but is signed by d=provider.test, not example.com: turn on DKIM signing for example.com at the provider"), "{}", check.evidence);
    // No signature of the domain's own: no selector to put in the plan.
    assert_eq!(selector_advice(&auth, DOMAIN, None), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_new_servers_address_missing_from_spf_fails_spf_naming_the_address() {
    let Some(world) = world(Case {
        spf: "v=spf1 ip4:192.0.2.25 -all",
        ..Case::signed_as_planned()
    })
    .await
    else {
        return;
    };
    let (auth, raw) = send_and_judge(&world, "spf-c4e8", "").await;
    assert_eq!(
        auth.spf.result,
        AuthResult::Fail,
        "{auth:#?}\n{}",
        text(&raw)
    );
    assert_eq!(
        auth.spf.ip.map(|ip| ip.to_string()).as_deref(),
        Some(NEW_SERVER_IP)
    );
    assert!(!auth.spf.aligned);
    // DKIM still aligned: DMARC passes on it.
    assert_eq!(auth.dkim.result, AuthResult::Pass);
    assert_eq!(auth.dmarc.result, AuthResult::Pass);
    let check = outbound_auth_check(Some(&auth), DOMAIN, Some(PLAN_SELECTOR));
    assert_eq!(check.status, Status::Fail);
    assert!(
        check.evidence.contains("SPF fail for 127.0.0.3 (the new server's address as the receiver saw it) at example.com: add `ip4:127.0.0.3` or your provider's `include:` to the SPF record of example.com"),
        "{}",
        check.evidence
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_path_at_the_providers_domain_passes_spf_unaligned_and_dmarc_rests_on_dkim() {
    let Some(world) = world(Case {
        mail_from: "bounces+alice=example.com@provider.test",
        ..Case::signed_as_planned()
    })
    .await
    else {
        return;
    };
    let (auth, raw) = send_and_judge(&world, "bounce-0a9d", "").await;
    assert_eq!(
        auth.spf.result,
        AuthResult::Pass,
        "{auth:#?}\n{}",
        text(&raw)
    );
    assert_eq!(auth.spf.domain.as_deref(), Some(PROVIDER));
    assert!(!auth.spf.aligned);
    assert!(auth.dkim.aligned);
    assert_eq!(
        auth.dmarc.result,
        AuthResult::Pass,
        "DMARC passes on DKIM alone"
    );
    assert_eq!(
        auth.warnings,
        [
            "the return-path is at provider.test, the provider's own domain, not example.com: SPF cannot align, so DMARC rests on DKIM alone"
        ]
    );
    let check = outbound_auth_check(Some(&auth), DOMAIN, Some(PLAN_SELECTOR));
    assert_eq!(check.status, Status::Warn, "{}", check.evidence);
    assert!(
        check.evidence.contains("DMARC rests on DKIM alone"),
        "{}",
        check.evidence
    );
}
