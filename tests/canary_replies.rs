//! What an MX host's reply means for a direct canary, against a small scripted SMTP server
//! on loopback (the real servers cannot be made to greylist on cue): a 4xx and a 5.7.x
//! are "cannot be tried" warnings with the reply, an unknown recipient is a refusal, and
//! nothing listening on the port is port 25 blocked.

use std::time::Duration;

use cutover::canary::send::{Sent, direct};
use cutover::plan::SmtpAddress;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Serves one SMTP session: EHLO without STARTTLS, MAIL accepted, RCPT answered `rcpt`.
async fn scripted(rcpt: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let _ = write.write_all(b"220 mx.fake.test ESMTP\r\n").await;
        while let Ok(Some(line)) = lines.next_line().await {
            let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
            let reply = match verb.as_str() {
                "EHLO" => "250-mx.fake.test\r\n250 8BITMIME\r\n".to_string(),
                "MAIL" => "250 2.1.0 Ok\r\n".to_string(),
                "RCPT" => format!("{rcpt}\r\n"),
                "QUIT" => {
                    let _ = write.write_all(b"221 2.0.0 Bye\r\n").await;
                    return;
                }
                _ => "250 2.0.0 Ok\r\n".to_string(),
            };
            if write.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    port
}

async fn send_to(port: u16) -> Sent {
    let raw = b"From: a@ext.test\r\nTo: canary@example.com\r\nSubject: t\r\n\r\nbody\r\n";
    direct(
        "mx.fake.test",
        &SmtpAddress {
            host: "127.0.0.1".into(),
            port,
        },
        None,
        "canary@example.com",
        raw,
        Duration::from_secs(5),
    )
    .await
}

#[tokio::test]
async fn greylisting_is_a_warning_with_the_reply_and_what_to_do() {
    let port =
        scripted("450 4.7.1 <canary@example.com>: Recipient address rejected: Greylisted").await;
    match send_to(port).await {
        Sent::CannotTry { reply, advice } => {
            assert!(reply.starts_with("450 4.7.1"), "{reply}");
            assert!(reply.contains("Greylisted"), "{reply}");
            assert!(advice.contains("again in a few minutes"), "{advice}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_policy_refusal_is_a_warning_not_a_failure_of_the_server() {
    let port = scripted("554 5.7.1 Service unavailable; client host blocked").await;
    match send_to(port).await {
        Sent::CannotTry { reply, advice } => {
            assert!(reply.starts_with("554 5.7.1"), "{reply}");
            assert!(advice.contains("policy"), "{advice}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_unknown_recipient_is_a_refusal() {
    let port =
        scripted("550 5.1.1 <canary@example.com>: Recipient address rejected: User unknown").await;
    match send_to(port).await {
        Sent::Refused { reply } => assert!(reply.starts_with("550 5.1.1"), "{reply}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn nothing_listening_on_the_port_is_port_25_blocked() {
    // Bound, then closed: nothing listens there now.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    match send_to(port).await {
        Sent::CannotTry { advice, .. } => {
            assert!(advice.contains("port 25"), "{advice}");
        }
        other => panic!("{other:?}"),
    }
}

/// The reply texts Microsoft 365 gives when SMTP AUTH is disabled for the mailbox, and any
/// server for a wrong password, mean the same wherever they come (the mapping is shared by
/// submission and direct sends).
#[tokio::test]
async fn microsoft_365s_5_7_139_is_explained_and_a_535_is_a_refused_login() {
    let port = scripted(
        "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox",
    )
    .await;
    match send_to(port).await {
        Sent::CannotTry { reply, advice } => {
            assert!(reply.contains("5.7.139"), "{reply}");
            assert!(advice.contains("Authenticated SMTP"), "{advice}");
            assert!(advice.contains("SMTP.Send"), "{advice}");
        }
        other => panic!("{other:?}"),
    }
    let port = scripted("535 5.7.8 Error: authentication failed").await;
    match send_to(port).await {
        Sent::LoginFailed { reply } => assert!(reply.starts_with("535 5.7.8"), "{reply}"),
        other => panic!("{other:?}"),
    }
}
