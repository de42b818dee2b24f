//! The SMTP probe of the new MX: against a real private Postfix (addresses present,
//! missing, of another domain; STARTTLS with a verified certificate; batches; never
//! DATA, as Postfix's own log shows), and against small fake servers for the edge
//! cases (a drop after EHLO, 421/554 banners, a multi-line banner, 452 after N
//! recipients, a server that accepts anything, control characters, a timeout,
//! nothing listening).

#[path = "support/postfix.rs"]
mod postfix;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cutover::check::Status;
use cutover::clock::SystemClock;
use cutover::smtp::{
    MxTarget, ProbeOptions, SmtpProbe, Timeouts, new_mx_accepts, probe_host, probe_hosts,
    tls_config,
};
use postfix::{DOMAIN, MX_HOST, Postfix};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const SALES: &str = "sales@example.com";

fn addresses(list: &[&str]) -> Vec<String> {
    list.iter().map(|a| a.to_string()).collect()
}

/// Trusting the system's roots and the test CA, with timeouts short enough for tests.
fn options(ca_file: Option<&std::path::Path>) -> ProbeOptions {
    let mut options = ProbeOptions::new(tls_config(ca_file).expect("TLS configuration"));
    options.timeouts = Timeouts {
        connect: Duration::from_secs(5),
        banner: Duration::from_secs(5),
        command: Duration::from_secs(5),
    };
    options
}

fn postfix_target(postfix: &Postfix) -> MxTarget {
    MxTarget::at(MX_HOST, "127.0.0.1", postfix.port)
}

async fn probe_postfix(postfix: &Postfix, list: &[&str]) -> SmtpProbe {
    probe_host(
        &postfix_target(postfix),
        DOMAIN,
        &addresses(list),
        &options(Some(&postfix.ca_file)),
        &SystemClock,
    )
    .await
}

/// Postfix's session lines (`disconnect from … commands=…`) once there are `sessions`,
/// after checking its log shows no DATA (nor BDAT) and no message queued.
fn sessions_without_data(postfix: &Postfix, sessions: usize) -> Vec<String> {
    let lines = postfix.smtp_sessions(sessions);
    let log = postfix.log();
    assert_eq!(lines.len(), sessions, "{log}");
    for line in &lines {
        assert!(!line.contains(" data="), "DATA was sent: {line}");
        assert!(!line.contains(" bdat="), "BDAT was sent: {line}");
    }
    assert!(!log.contains("message-id="), "a message was queued: {log}");
    assert!(
        !log.contains("postfix/qmgr"),
        "a message reached the queue manager: {log}"
    );
    lines
}

#[tokio::test]
async fn every_address_present_passes_over_verified_starttls_and_no_data_is_sent() {
    let Some(postfix) = Postfix::start(&[ALICE, BOB]) else {
        return;
    };
    let probe = probe_postfix(&postfix, &[ALICE, BOB]).await;

    let host = &probe.hosts[0];
    assert_eq!(host.host, MX_HOST);
    assert!(host.reachable, "{host:?}");
    assert!(host.starttls, "{host:?}");
    assert_eq!(host.cert_valid, Some(true), "{host:?}");
    assert_eq!(host.tls_error, None);
    // The test CA signed a leaf valid 30 days from now.
    assert!(
        matches!(host.cert_days_left, Some(29..=30)),
        "{:?}",
        host.cert_days_left
    );
    // The made-up address is refused, so the other answers mean something.
    assert_eq!(host.accepts_anything, Some(false), "{host:?}");
    assert!(host.probe_address.starts_with("cutover-probe-"));
    assert!(
        host.probe_reply
            .as_deref()
            .is_some_and(|r| r.starts_with("550 5.1.1") && r.contains("User unknown")),
        "{host:?}"
    );
    assert_eq!(host.error, None);
    assert_eq!(probe.answers.len(), 2);
    for answer in &probe.answers {
        assert_eq!(answer.accepts, Some(true), "{answer:?}");
        assert!(answer.reply.starts_with("250 2.1.5"), "{answer:?}");
    }

    let check = new_mx_accepts(&probe, &addresses(&[ALICE, BOB]));
    assert_eq!(check.status, Status::Pass, "{}", check.evidence);
    assert!(check.evidence.contains(MX_HOST), "{}", check.evidence);

    let sessions = sessions_without_data(&postfix, 1);
    // EHLO before and after STARTTLS, one transaction, 3 recipients of which 2 accepted.
    assert!(
        sessions[0].contains("ehlo=2 starttls=1 mail=1 rcpt=2/3 rset=1 quit=1"),
        "{}",
        sessions[0]
    );
}

#[tokio::test]
async fn a_missing_address_fails_naming_it_with_postfix_reply_until_it_is_created() {
    let Some(postfix) = Postfix::start(&[ALICE]) else {
        return;
    };
    let wanted = addresses(&[ALICE, SALES]);
    let probe = probe_postfix(&postfix, &[ALICE, SALES]).await;

    let sales = probe
        .answers_for(SALES)
        .next()
        .expect("an answer for sales");
    assert_eq!(sales.host, MX_HOST);
    assert_eq!(sales.accepts, Some(false), "{sales:?}");
    assert_eq!(
        sales.reply,
        "550 5.1.1 <sales@example.com>: Recipient address rejected: User unknown in virtual mailbox table"
    );
    let alice = probe
        .answers_for(ALICE)
        .next()
        .expect("an answer for alice");
    assert_eq!(alice.accepts, Some(true), "{alice:?}");

    let check = new_mx_accepts(&probe, &wanted);
    assert_eq!(check.status, Status::Fail, "{}", check.evidence);
    assert!(
        check.evidence.contains(
            "sales@example.com at mx.new.test (550 5.1.1 <sales@example.com>: Recipient address rejected: User unknown in virtual mailbox table)"
        ),
        "{}",
        check.evidence
    );
    assert!(!check.evidence.contains(ALICE), "{}", check.evidence);

    // The administrator creates the alias at the new MX; the next probe passes.
    postfix.accept_only(&[ALICE, SALES]);
    let mut latest = probe.clone();
    let mut probes = 1;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        latest.merge(probe_postfix(&postfix, &[ALICE, SALES]).await);
        probes += 1;
        let check = new_mx_accepts(&latest, &wanted);
        if check.status == Status::Pass {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still not accepted after the reload: {}",
            check.evidence
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(latest.hosts.len(), 1);
    assert_eq!(latest.answers.len(), 2);
    sessions_without_data(&postfix, probes);
}

#[tokio::test]
async fn another_domains_address_gets_postfix_relay_denied() {
    let Some(postfix) = Postfix::start(&[ALICE]) else {
        return;
    };
    let probe = probe_postfix(&postfix, &["someone@other.test"]).await;
    let answer = &probe.answers[0];
    assert_eq!(answer.accepts, Some(false), "{answer:?}");
    assert_eq!(
        answer.reply,
        "554 5.7.1 <someone@other.test>: Relay access denied"
    );
    sessions_without_data(&postfix, 1);
}

#[tokio::test]
async fn more_than_fifty_addresses_are_asked_in_transactions_of_fifty() {
    let many: Vec<String> = (0..120).map(|i| format!("user{i}@{DOMAIN}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let Some(postfix) = Postfix::start(&refs) else {
        return;
    };
    let probe = probe_postfix(&postfix, &refs).await;
    assert_eq!(probe.answers.len(), 120);
    assert!(probe.answers.iter().all(|a| a.accepts == Some(true)));
    assert_eq!(
        new_mx_accepts(&probe, &many).status,
        Status::Pass,
        "{}",
        new_mx_accepts(&probe, &many).evidence
    );
    let sessions = sessions_without_data(&postfix, 1);
    // 121 recipients (with the made-up one) in 3 transactions; RSET between and at the end.
    assert!(
        sessions[0].contains("ehlo=2 starttls=1 mail=3 rcpt=120/121 rset=3 quit=1"),
        "{}",
        sessions[0]
    );
}

#[tokio::test]
async fn a_certificate_for_another_name_is_invalid_and_the_addresses_are_asked_without_tls() {
    let Some(postfix) = Postfix::start(&[ALICE]) else {
        return;
    };
    // The plan names the host mx.other.test; Postfix's certificate is for mx.new.test.
    let target = MxTarget::at("mx.other.test", "127.0.0.1", postfix.port);
    let probe = probe_host(
        &target,
        DOMAIN,
        &addresses(&[ALICE]),
        &options(Some(&postfix.ca_file)),
        &SystemClock,
    )
    .await;
    let host = &probe.hosts[0];
    assert!(host.starttls);
    assert_eq!(host.cert_valid, Some(false), "{host:?}");
    assert_eq!(host.cert_days_left, None);
    assert!(
        host.tls_error
            .as_deref()
            .is_some_and(|e| e.contains("certificate") && e.contains("mx.other.test")),
        "{host:?}"
    );
    assert_eq!(probe.answers[0].accepts, Some(true), "{:?}", probe.answers);
    assert_eq!(host.accepts_anything, Some(false));

    // Without the test CA, the certificate is not trusted either.
    let untrusted = probe_host(
        &postfix_target(&postfix),
        DOMAIN,
        &addresses(&[ALICE]),
        &options(None),
        &SystemClock,
    )
    .await;
    assert_eq!(untrusted.hosts[0].cert_valid, Some(false));
    assert!(
        untrusted.hosts[0]
            .tls_error
            .as_deref()
            .is_some_and(|e| e.contains("UnknownIssuer")),
        "{:?}",
        untrusted.hosts[0]
    );
    // Two sessions each: the failed handshake, then the plain one.
    let sessions = sessions_without_data(&postfix, 4);
    assert_eq!(
        sessions
            .iter()
            .filter(|l| l.contains("mail=1 rcpt=1/2"))
            .count(),
        2,
        "{sessions:?}"
    );
}

// ---------------------------------------------------------------------------------
// Fake servers for the edge cases.

/// What the fake does with one command.
enum Say {
    Reply(String),
    /// Reply, then close the connection.
    Close(String),
    /// Close without a word.
    Drop,
    /// Never answer.
    Silence,
}

fn reply(text: &str) -> Say {
    Say::Reply(text.to_string())
}

/// A plain SMTP server on 127.0.0.1: a banner, then `answer(command, recipients so far)`.
/// Every command it receives is kept, to show that DATA never comes.
struct Fake {
    addr: SocketAddr,
    commands: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    async fn start<F>(banner: &str, answer: F) -> Fake
    where
        F: Fn(&str, usize) -> Say + Send + Sync + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let commands = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(answer);
        let banner = banner.to_string();
        let seen = commands.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (answer, banner, seen) = (answer.clone(), banner.clone(), seen.clone());
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    if write.write_all(banner.as_bytes()).await.is_err() {
                        return;
                    }
                    let mut recipients = 0;
                    while let Ok(Some(line)) = lines.next_line().await {
                        seen.lock().expect("commands").push(line.clone());
                        if line.to_ascii_uppercase().starts_with("RCPT TO:") {
                            recipients += 1;
                        }
                        match answer(&line, recipients) {
                            Say::Reply(text) => {
                                if write.write_all(text.as_bytes()).await.is_err() {
                                    return;
                                }
                            }
                            Say::Close(text) => {
                                let _ = write.write_all(text.as_bytes()).await;
                                return;
                            }
                            Say::Drop => return,
                            Say::Silence => {
                                tokio::time::sleep(Duration::from_secs(3600)).await;
                                return;
                            }
                        }
                    }
                });
            }
        });
        Fake { addr, commands }
    }

    fn target(&self) -> MxTarget {
        MxTarget::at("fake.test", "127.0.0.1", self.addr.port())
    }

    async fn probe(&self, list: &[&str]) -> SmtpProbe {
        let mut options = options(None);
        options.timeouts.command = Duration::from_secs(1);
        probe_host(
            &self.target(),
            DOMAIN,
            &addresses(list),
            &options,
            &SystemClock,
        )
        .await
    }

    fn commands(&self) -> Vec<String> {
        self.commands.lock().expect("commands").clone()
    }

    fn assert_no_data(&self) {
        let commands = self.commands();
        assert!(
            !commands
                .iter()
                .any(|c| c.to_ascii_uppercase().starts_with("DATA")),
            "{commands:?}"
        );
    }
}

/// A well-behaved server knowing `known` addresses.
fn knows(known: &'static [&'static str]) -> impl Fn(&str, usize) -> Say + Send + Sync {
    move |command: &str, _| {
        let upper = command.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            reply("250-fake.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
        } else if upper.starts_with("MAIL FROM:") || upper == "RSET" {
            reply("250 2.0.0 Ok\r\n")
        } else if upper.starts_with("RCPT TO:") {
            if known.iter().any(|k| command.contains(&format!("<{k}>"))) {
                reply("250 2.1.5 Ok\r\n")
            } else {
                reply(
                    "550-5.1.1 The email account that you tried to reach does not exist.\r\n550 5.1.1 Please check the address.\r\n",
                )
            }
        } else if upper == "QUIT" {
            Say::Close("221 2.0.0 Bye\r\n".to_string())
        } else {
            reply("502 5.5.2 not here\r\n")
        }
    }
}

#[tokio::test]
async fn a_multi_line_banner_is_read_whole() {
    let fake = Fake::start(
        "220-fake.test ESMTP\r\n220-No unsolicited mail.\r\n220 Really.\r\n",
        knows(&[ALICE]),
    )
    .await;
    let probe = fake.probe(&[ALICE, SALES]).await;
    let host = &probe.hosts[0];
    assert_eq!(host.error, None, "{host:?}");
    assert!(!host.starttls);
    assert_eq!(host.cert_valid, None);
    assert_eq!(host.accepts_anything, Some(false));
    assert_eq!(probe.answers[0].accepts, Some(true));
    assert_eq!(probe.answers[1].accepts, Some(false));
    // A multi-line reply reads as one sentence.
    assert_eq!(
        probe.answers[1].reply,
        "550 5.1.1 The email account that you tried to reach does not exist. Please check the address."
    );
    let check = new_mx_accepts(&probe, &addresses(&[ALICE, SALES]));
    assert_eq!(check.status, Status::Fail);
    assert!(
        check
            .evidence
            .contains("sales@example.com at fake.test (550 5.1.1 The email account"),
        "{}",
        check.evidence
    );
    // The first command came only after the whole banner: it was EHLO, nothing else.
    let commands = fake.commands();
    assert!(commands[0].starts_with("EHLO ["), "{commands:?}");
    assert_eq!(commands.last().map(String::as_str), Some("QUIT"));
    assert!(commands.contains(&"RSET".to_string()));
    fake.assert_no_data();
}

#[tokio::test]
async fn a_server_dropping_after_ehlo_leaves_every_address_unknown() {
    let fake = Fake::start("220 fake.test ESMTP\r\n", |command: &str, _| {
        if command.to_ascii_uppercase().starts_with("EHLO") {
            Say::Drop
        } else {
            reply("250 Ok\r\n")
        }
    })
    .await;
    let probe = fake.probe(&[ALICE, BOB]).await;
    let host = &probe.hosts[0];
    assert!(host.reachable);
    assert_eq!(host.accepts_anything, None);
    let error = host.error.as_deref().expect("an error");
    assert!(
        error.contains("EHLO") && error.contains("closed the connection"),
        "{error}"
    );
    for answer in &probe.answers {
        assert_eq!(answer.accepts, None, "{answer:?}");
        assert!(answer.reply.starts_with("not asked: EHLO"), "{answer:?}");
    }
    let check = new_mx_accepts(&probe, &addresses(&[ALICE, BOB]));
    assert_eq!(check.status, Status::Unknown);
    assert!(
        check.evidence.contains("fake.test could not be asked")
            && check.evidence.contains("closed the connection"),
        "{}",
        check.evidence
    );
}

#[tokio::test]
async fn a_421_or_554_banner_refuses_the_session_before_any_recipient() {
    for banner in [
        "421 4.3.2 Service not available, closing channel\r\n",
        "554 5.7.1 Your address is on a blocklist\r\n",
    ] {
        let fake = Fake::start(banner, knows(&[ALICE])).await;
        let probe = fake.probe(&[ALICE]).await;
        let host = &probe.hosts[0];
        let code = &banner[..9];
        let error = host.error.as_deref().expect("an error");
        assert!(
            error.starts_with("the server refused the session: ") && error.contains(code),
            "{error}"
        );
        assert_eq!(host.accepts_anything, None);
        assert_eq!(probe.answers[0].accepts, None);
        assert!(
            probe.answers[0].reply.contains(code),
            "{:?}",
            probe.answers[0]
        );
        let check = new_mx_accepts(&probe, &addresses(&[ALICE]));
        assert_eq!(check.status, Status::Unknown, "{}", check.evidence);
        assert!(check.evidence.contains(code), "{}", check.evidence);
        // Nothing but a polite QUIT after such a banner.
        assert_eq!(fake.commands(), ["QUIT"]);
    }
}

#[tokio::test]
async fn a_452_after_some_recipients_leaves_the_rest_unknown() {
    let known = &[ALICE, BOB, SALES];
    let fake = Fake::start(
        "220 fake.test ESMTP\r\n",
        move |command: &str, recipients| {
            if command.to_ascii_uppercase().starts_with("RCPT") && recipients > 2 {
                reply("452 4.5.3 Too many recipients\r\n")
            } else {
                knows(known)(command, recipients)
            }
        },
    )
    .await;
    let probe = fake.probe(&[ALICE, BOB, SALES]).await;
    // The made-up address and alice were answered; bob and sales got 452.
    assert_eq!(probe.hosts[0].accepts_anything, Some(false));
    let accepts: Vec<Option<bool>> = probe.answers.iter().map(|a| a.accepts).collect();
    assert_eq!(accepts, [Some(true), None, None]);
    assert_eq!(probe.answers[1].reply, "452 4.5.3 Too many recipients");
    let check = new_mx_accepts(&probe, &addresses(&[ALICE, BOB, SALES]));
    assert_eq!(check.status, Status::Unknown);
    assert!(
        check.evidence.contains(
            "fake.test gave no definite answer for bob@example.com (452 4.5.3 Too many recipients), sales@example.com (452"
        ),
        "{}",
        check.evidence
    );
    fake.assert_no_data();
}

#[tokio::test]
async fn a_server_accepting_every_address_proves_nothing() {
    let fake = Fake::start("220 fake.test ESMTP\r\n", |command: &str, n| {
        if command.to_ascii_uppercase().starts_with("RCPT") {
            reply("250 2.1.5 Ok\r\n")
        } else {
            knows(&[])(command, n)
        }
    })
    .await;
    let probe = fake.probe(&[ALICE, BOB]).await;
    let host = &probe.hosts[0];
    assert_eq!(host.accepts_anything, Some(true));
    assert!(probe.answers.iter().all(|a| a.accepts == Some(true)));
    let check = new_mx_accepts(&probe, &addresses(&[ALICE, BOB]));
    assert_eq!(check.status, Status::Unknown);
    assert!(
        check.evidence.contains("fake.test accepts any address")
            && check.evidence.contains(&host.probe_address)
            && check.evidence.contains("so its answers prove nothing"),
        "{}",
        check.evidence
    );
    // The made-up address was asked first, at the plan's domain.
    let commands = fake.commands();
    let first_rcpt = commands
        .iter()
        .find(|c| c.starts_with("RCPT"))
        .expect("a RCPT");
    assert!(
        first_rcpt.starts_with("RCPT TO:<cutover-probe-") && first_rcpt.ends_with("@example.com>"),
        "{first_rcpt}"
    );
    fake.assert_no_data();
}

/// A server offering STARTTLS that answers it with `starttls_reply`, otherwise knowing alice.
fn offers_starttls(starttls_reply: &'static str) -> impl Fn(&str, usize) -> Say + Send + Sync {
    move |command: &str, n| {
        let upper = command.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            reply("250-fake.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n")
        } else if upper == "STARTTLS" {
            reply(starttls_reply)
        } else {
            knows(&[ALICE])(command, n)
        }
    }
}

#[tokio::test]
async fn starttls_refused_or_followed_by_injected_data_falls_back_to_plain_text() {
    // A refusal (RFC 3207): the same session goes on without TLS.
    let refusing = Fake::start(
        "220 fake.test ESMTP\r\n",
        offers_starttls("454 4.7.0 TLS not available\r\n"),
    )
    .await;
    let probe = refusing.probe(&[ALICE]).await;
    let host = &probe.hosts[0];
    assert!(host.starttls);
    assert_eq!(host.cert_valid, None);
    assert_eq!(
        host.tls_error.as_deref(),
        Some("the server refused STARTTLS: 454 4.7.0 TLS not available")
    );
    assert_eq!(probe.answers[0].accepts, Some(true));
    let commands = refusing.commands();
    assert_eq!(
        commands.iter().filter(|c| c.starts_with("EHLO")).count(),
        1,
        "{commands:?}"
    );

    // Bytes after the 220 would be read as if they came over TLS: never trusted.
    let injecting = Fake::start(
        "220 fake.test ESMTP\r\n",
        offers_starttls("220 2.0.0 Ready to start TLS\r\n250 2.1.5 injected\r\n"),
    )
    .await;
    let probe = injecting.probe(&[ALICE]).await;
    let host = &probe.hosts[0];
    assert_eq!(host.cert_valid, Some(false), "{host:?}");
    assert!(
        host.tls_error
            .as_deref()
            .is_some_and(|e| e.contains("sent data after its STARTTLS answer")),
        "{host:?}"
    );
    // Asked again on a new connection, without TLS.
    assert_eq!(probe.answers[0].accepts, Some(true));
    assert_eq!(probe.answers[0].reply, "250 2.1.5 Ok");
    let commands = injecting.commands();
    assert_eq!(
        commands.iter().filter(|c| *c == "STARTTLS").count(),
        1,
        "{commands:?}"
    );
    assert_eq!(
        commands.iter().filter(|c| c.starts_with("EHLO")).count(),
        2,
        "{commands:?}"
    );
    injecting.assert_no_data();
}

/// Every string in the probe and the check, to look for control characters.
fn all_text(probe: &SmtpProbe, evidence: &str) -> Vec<String> {
    fn walk(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            serde_json::Value::Object(o) => o.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = vec![evidence.to_string()];
    walk(&serde_json::to_value(probe).expect("json"), &mut out);
    out
}

#[tokio::test]
async fn control_characters_in_replies_never_reach_the_result() {
    // Replies to RCPT carry escape sequences, a bell and a bare CR.
    let rcpt_escapes = Fake::start("220 fake.test \x1b[2J ESMTP\r\n", |command: &str, n| {
        if command.to_ascii_uppercase().starts_with("RCPT") {
            reply("550 5.1.1 \x1b[31mno\x1b[0m such user\x07 \rhere\r\n")
        } else {
            knows(&[])(command, n)
        }
    })
    .await;
    // A refusal of EHLO, with an OSC title change, ends the session: the error path.
    let ehlo_escapes = Fake::start("220 fake.test ESMTP\r\n", |command: &str, n| {
        if command.to_ascii_uppercase().starts_with("EHLO") {
            reply("554 5.7.1 \x1b]0;pwned\x07 go away \u{9b}2J\r\n")
        } else {
            knows(&[])(command, n)
        }
    })
    .await;
    let targets = [rcpt_escapes.target(), ehlo_escapes.target()];
    let targets = [
        targets[0].clone(),
        MxTarget::at("other.fake.test", "127.0.0.1", targets[1].port),
    ];
    let probe = probe_hosts(
        &targets,
        DOMAIN,
        &addresses(&[ALICE]),
        &options(None),
        &SystemClock,
    )
    .await;
    let check = new_mx_accepts(&probe, &addresses(&[ALICE]));
    assert_eq!(check.status, Status::Fail, "{}", check.evidence);
    let texts = all_text(&probe, &check.evidence);
    for text in &texts {
        assert!(!text.chars().any(char::is_control), "{text:?}");
    }
    // The text is still there, made visible.
    assert!(
        texts
            .iter()
            .any(|t| t.contains("\\u{1b}[31mno\\u{1b}[0m such user\\u{7}")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("\\u{1b}]0;pwned\\u{7} go away")),
        "{texts:?}"
    );
}

#[tokio::test]
async fn a_server_that_stops_answering_times_out_and_says_so() {
    let fake = Fake::start("220 fake.test ESMTP\r\n", |command: &str, n| {
        if command.contains(BOB) {
            Say::Silence
        } else {
            knows(&[ALICE])(command, n)
        }
    })
    .await;
    let probe = fake.probe(&[ALICE, BOB, SALES]).await;
    let accepts: Vec<Option<bool>> = probe.answers.iter().map(|a| a.accepts).collect();
    assert_eq!(accepts, [Some(true), None, None]);
    assert_eq!(
        probe.answers[1].reply,
        "RCPT TO:<bob@example.com>: no answer within 1 s"
    );
    assert!(
        probe.answers[2]
            .reply
            .starts_with("not asked: RCPT TO:<bob@example.com>: no answer within 1 s"),
        "{:?}",
        probe.answers[2]
    );
    let check = new_mx_accepts(&probe, &addresses(&[ALICE, BOB, SALES]));
    assert_eq!(check.status, Status::Unknown);
    assert!(
        check
            .evidence
            .contains("no definite answer for bob@example.com"),
        "{}",
        check.evidence
    );
}

#[tokio::test]
async fn nothing_listening_is_unreachable_and_unknown_with_advice() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let target = MxTarget::at(MX_HOST, "127.0.0.1", port);
    let probe = probe_host(
        &target,
        DOMAIN,
        &addresses(&[ALICE]),
        &options(None),
        &SystemClock,
    )
    .await;
    let host = &probe.hosts[0];
    assert!(!host.reachable);
    assert_eq!(host.accepts_anything, None);
    let error = host.error.as_deref().expect("an error");
    assert!(
        error.starts_with(&format!("cannot connect to 127.0.0.1:{port}")),
        "{error}"
    );
    assert_eq!(probe.answers[0].accepts, None);
    let check = new_mx_accepts(&probe, &addresses(&[ALICE]));
    assert_eq!(check.status, Status::Unknown);
    for needle in [
        "could not be reached",
        "may be blocked from this jump host",
        "test from another host",
        "--override",
    ] {
        assert!(
            check.evidence.contains(needle),
            "{needle}: {}",
            check.evidence
        );
    }
}
