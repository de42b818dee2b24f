//! Benchmark: the rehearsal IMAP server under async-imap, at the sizes the autopilot needs
//! (50 mailboxes, 20,000 messages): seeding the store, APPEND on one connection, UID FETCH of
//! identity headers and of whole bodies, and 50 connections reading at once.

use std::sync::Arc;
use std::time::Instant;

use cutover::clock::ManualClock;
use cutover::sandbox::imap::{ImapServer, Mailstore, SeedSpec, seed_user};
use futures_util::TryStreamExt;
use tokio::net::TcpStream;

const MAILBOXES: usize = 50;
/// 50 mailboxes × 8 folders × 50 messages (+3 specials each) ≈ 20,150 messages.
const PER_FOLDER: usize = 50;

async fn session(addr: std::net::SocketAddr, login: &str) -> async_imap::Session<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    // async-imap writes a command in several small writes (tag, space, text, CRLF); without
    // TCP_NODELAY each one waits out the peer's delayed ACK (≈40 ms per command on Linux).
    tcp.set_nodelay(true).expect("nodelay");
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.expect("greeting");
    client
        .login(login, "pw")
        .await
        .map_err(|(e, _)| e)
        .expect("login")
}

#[tokio::main]
async fn main() {
    let store = Mailstore::new();
    let started = Instant::now();
    let mut total = 0;
    for i in 0..MAILBOXES {
        let seeded = seed_user(
            &store,
            &SeedSpec {
                login: format!("user{i}"),
                password: "pw".into(),
                domain: "example-firm.test".into(),
                messages_per_folder: PER_FOLDER,
                body_size: 2_000,
                newest: "2026-03-02T08:00:00+01:00[+01:00]".parse().expect("date"),
                seed: i as u64,
            },
        )
        .expect("seed");
        total += seeded.messages;
    }
    println!(
        "seed {total} messages in {MAILBOXES} mailboxes: {:?}",
        started.elapsed()
    );

    let clock = Arc::new(ManualClock::new(
        "2026-03-02T09:00:00Z".parse().expect("time"),
    ));
    let server = ImapServer::start(store.clone(), clock)
        .await
        .expect("server");
    let addr = server.addr();

    let mut one = session(addr, "user0").await;
    let raw = "Message-ID: <bench@example-firm.test>\r\nSubject: bench\r\n\r\n".to_string()
        + &"x".repeat(2_000)
        + "\r\n";
    let started = Instant::now();
    for _ in 0..1_000 {
        one.append("Archive", Some("(\\Seen)"), None, &raw)
            .await
            .expect("append");
    }
    let elapsed = started.elapsed();
    println!(
        "APPEND 1,000 × 2 KB on one connection: {elapsed:?} ({:.0} messages/s)",
        1_000.0 / elapsed.as_secs_f64()
    );

    one.examine("Archive").await.expect("examine");
    let started = Instant::now();
    let headers: Vec<_> = one
        .uid_fetch(
            "1:*",
            "(UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID DATE FROM TO SUBJECT)])",
        )
        .await
        .expect("fetch")
        .try_collect()
        .await
        .expect("collect");
    println!(
        "UID FETCH identity headers of {} messages: {:?}",
        headers.len(),
        started.elapsed()
    );
    let started = Instant::now();
    let bodies: Vec<_> = one
        .uid_fetch("1:*", "(UID BODY.PEEK[])")
        .await
        .expect("fetch")
        .try_collect()
        .await
        .expect("collect");
    println!(
        "UID FETCH BODY.PEEK[] of {} messages: {:?}",
        bodies.len(),
        started.elapsed()
    );

    // Every mailbox read at once: all folders' identity headers, as a prober would.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..MAILBOXES {
        tasks.push(tokio::spawn(async move {
            let mut session = session(addr, &format!("user{i}")).await;
            let mut seen = 0;
            for folder in ["INBOX", "Sent", "Trash", "Junk", "Archive"] {
                session.examine(folder).await.expect("examine");
                let fetched: Vec<_> = session
                    .uid_fetch(
                        "1:*",
                        "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID DATE FROM TO SUBJECT)])",
                    )
                    .await
                    .expect("fetch")
                    .try_collect()
                    .await
                    .expect("collect");
                seen += fetched.len();
            }
            session.logout().await.expect("logout");
            seen
        }));
    }
    let mut seen = 0;
    for task in tasks {
        seen += task.await.expect("task");
    }
    println!(
        "{MAILBOXES} connections at once, headers of {seen} messages in 5 folders each: {:?}",
        started.elapsed()
    );
}
