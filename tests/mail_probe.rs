//! The prober against two real private Dovecots.

#[path = "support/dovecot.rs"]
mod dovecot;

use std::sync::Arc;

use cutover::clock::SystemClock;
use cutover::mail::credentials::CredentialSource;
use cutover::mail::probe::{LoginState, ProbeCommand, probe_all_once, run_prober};
use dovecot::{Dovecot, SeedMessage, plan, write_secrets};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

/// An old and a new private Dovecot, each with these users (login, password).
fn servers(users: &[(&str, &str)]) -> Option<(Dovecot, Dovecot)> {
    let old = Dovecot::start("old")?;
    let new = Dovecot::start("new")?;
    for d in [&old, &new] {
        d.add_users(users);
    }
    Some((old, new))
}

fn msg(n: u32) -> Vec<u8> {
    format!("Message-ID: <{n}@x>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nFrom: a@x\r\nTo: {ALICE}\r\nSubject: m{n}\r\n\r\nbody\r\n").into_bytes()
}

/// As a POP3 fetcher would deliver it: a Received line on top, otherwise the same message.
fn fetched(n: u32) -> Vec<u8> {
    let mut m = b"Received: from pop3 fetcher by new; Mon, 1 Jan 2024 11:00:00 +0000\r\n".to_vec();
    m.extend_from_slice(&msg(n));
    m
}

#[tokio::test]
async fn probe_reports_logins_folders_counters_and_pop3_fetch() {
    let Some((old, new)) = servers(&[(ALICE, "alice-pw"), (BOB, "bob-pw")]) else {
        return;
    };
    old.seed(
        ALICE,
        "INBOX",
        &(1..=4)
            .map(|n| SeedMessage::new(msg(n)))
            .collect::<Vec<_>>(),
    );
    old.seed(ALICE, "Entwürfe", &[SeedMessage::new(msg(9))]);
    // Three of the four old INBOX messages arrived on new by POP3 fetch.
    new.seed(
        ALICE,
        "INBOX",
        &(1..=3)
            .map(|n| SeedMessage::new(fetched(n)))
            .collect::<Vec<_>>(),
    );
    old.seed(BOB, "INBOX", &[SeedMessage::new(msg(20))]);
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.toml");
    write_secrets(
        &secrets,
        &[(ALICE, "alice-pw", "alice-pw"), (BOB, "bob-pw", "WRONG")],
        None,
    );
    let mut plan = plan(&old, &new, &[ALICE, BOB], &secrets);
    let creds = CredentialSource::new(plan.credentials.as_ref()).unwrap();

    let probes = probe_all_once(&plan, &creds, &SystemClock).await;
    assert_eq!(probes.len(), 2);
    let alice = &probes[0];
    assert_eq!(
        (alice.old.login, alice.new.login),
        (LoginState::Ok, LoginState::Ok)
    );
    assert_eq!(alice.old.messages, Some(5));
    let draft = alice
        .old
        .folders
        .iter()
        .find(|f| f.name == "Entwürfe")
        .expect("non-ASCII folder listed");
    assert_eq!(draft.messages, 1);
    assert!(draft.uidvalidity > 0 && draft.uidnext == 2);
    assert_eq!(alice.old.inbox_uidnext(), Some(5));
    // The newest INBOX message's arrival (INTERNALDATE), read from the real server.
    let arrived = alice
        .old
        .inbox_newest_at
        .expect("INTERNALDATE of the newest message");
    assert!(
        arrived <= jiff::Timestamp::now() + jiff::SignedDuration::from_mins(1),
        "{arrived}"
    );
    assert_eq!(alice.fetch_share, Some(0.75));
    assert_eq!(alice.fetch_detected, Some(true));

    let bob = &probes[1];
    assert_eq!(
        (bob.old.login, bob.new.login),
        (LoginState::Ok, LoginState::AuthFailed)
    );
    let error = bob.new.error.as_deref().unwrap();
    assert!(
        error.contains(BOB) && error.contains("new") && !error.contains("WRONG"),
        "{error}"
    );
    assert_eq!(bob.fetch_detected, None);

    // The `status --json` shape.
    let json = serde_json::to_value(&probes).unwrap();
    assert_eq!(json[1]["new"]["login"], "auth_failed");
    assert_eq!(json[0]["old"]["folders"][0]["name"], "INBOX");
    assert!(json[0]["new"]["error"].is_null());
    assert!(json[0].get("synced_percent").is_some() && json[0].get("verified").is_some());

    // An unreachable server.
    plan.new.imap.port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let probes = probe_all_once(&plan, &creds, &SystemClock).await;
    assert_eq!(probes[0].new.login, LoginState::Unreachable);
    assert_eq!(probes[0].old.login, LoginState::Ok);
}

#[tokio::test]
async fn prober_task_answers_commands_on_its_channel() {
    let Some((old, new)) = servers(&[(ALICE, "alice-pw"), (BOB, "bob-pw")]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.toml");
    write_secrets(
        &secrets,
        &[(ALICE, "alice-pw", "alice-pw"), (BOB, "bob-pw", "bob-pw")],
        None,
    );
    let plan = Arc::new(plan(&old, &new, &[ALICE, BOB], &secrets));
    let (cmd_tx, mut res_rx, task) = start_prober(&plan);
    let timeout = std::time::Duration::from_secs(20);

    cmd_tx
        .send(ProbeCommand::ProbeOne(BOB.to_string()))
        .await
        .unwrap();
    let p = tokio::time::timeout(timeout, res_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.address, BOB);
    assert_eq!(p.new.login, LoginState::Ok);

    cmd_tx.send(ProbeCommand::ProbeAll).await.unwrap();
    let mut seen = vec![
        tokio::time::timeout(timeout, res_rx.recv())
            .await
            .unwrap()
            .unwrap()
            .address,
        tokio::time::timeout(timeout, res_rx.recv())
            .await
            .unwrap()
            .unwrap()
            .address,
    ];
    seen.sort();
    assert_eq!(seen, vec![ALICE.to_string(), BOB.to_string()]);

    cmd_tx.send(ProbeCommand::Stop).await.unwrap();
    tokio::time::timeout(timeout, task).await.unwrap().unwrap();
}

/// The cockpit's prober on its own task: its command channel, its results, the task.
fn start_prober(
    plan: &Arc<cutover::plan::Plan>,
) -> (
    tokio::sync::mpsc::Sender<ProbeCommand>,
    tokio::sync::mpsc::Receiver<cutover::mail::MailboxProbe>,
    tokio::task::JoinHandle<()>,
) {
    let creds = Arc::new(CredentialSource::new(plan.credentials.as_ref()).unwrap());
    let (cmd_tx, cmd_rx) = tokio::sync::mpsc::channel(8);
    let (res_tx, res_rx) = tokio::sync::mpsc::channel(8);
    let task = tokio::spawn(run_prober(
        plan.clone(),
        creds,
        Arc::new(SystemClock),
        Default::default(),
        cmd_rx,
        res_tx,
    ));
    (cmd_tx, res_rx, task)
}

/// A server that answers every login with a throttling answer; counts connections.
async fn throttling_server(answer: &'static str) -> (u16, Arc<std::sync::atomic::AtomicU32>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"* OK fake server ready\r\n").await;
                while let Ok(Some(line)) = lines.next_line().await {
                    let tag = line.split_whitespace().next().unwrap_or("*").to_string();
                    let _ = write
                        .write_all(format!("{tag} {answer}\r\n").as_bytes())
                        .await;
                }
            });
        }
    });
    (port, connections)
}

#[tokio::test]
async fn throttling_answers_show_as_throttled_and_one_shot_tries_once() {
    let (old_port, old_connections) = throttling_server(
        "NO [THROTTLED] Request is throttled. Suggested Backoff Time: 3000 milliseconds",
    )
    .await;
    let (new_port, _) = throttling_server("NO [LIMIT] too many logins").await;
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.toml");
    write_secrets(&secrets, &[(ALICE, "pw", "pw")], None);
    let endpoint = |port: u16| cutover::plan::ImapEndpoint {
        url: format!("imap://127.0.0.1:{port}"),
        host: "127.0.0.1".into(),
        port,
        security: cutover::plan::Security::None,
        ca_file: None,
        insecure_skip_verify: false,
        pin_sha256: None,
    };
    let plan =
        dovecot::plan_for_endpoints(endpoint(old_port), endpoint(new_port), &[ALICE], &secrets);
    let creds = CredentialSource::new(plan.credentials.as_ref()).unwrap();
    let probes = probe_all_once(&plan, &creds, &SystemClock).await;
    assert_eq!(
        probes[0].old.login,
        LoginState::Throttled,
        "{:?}",
        probes[0].old.error
    );
    assert_eq!(
        probes[0].new.login,
        LoginState::Throttled,
        "{:?}",
        probes[0].new.error
    );
    // `status` makes one attempt per server: no retry, no backoff.
    assert_eq!(old_connections.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// The `in=` byte counts of a user's finished sessions, from Dovecot's logout lines, oldest
/// first: what the client sent in each session.
fn sent_per_session(d: &Dovecot, user: &str) -> Vec<u64> {
    d.log()
        .lines()
        .filter(|l| l.contains(&format!("imap({user})")) && l.contains("Logged out"))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("in="))
                .and_then(|n| n.trim_end_matches(',').parse().ok())
        })
        .collect()
}

/// The cockpit's prober probes every minute. A second round over unchanged folders reads
/// no message again (the old server sees a short session: no EXAMINE, no FETCH), and the
/// same answer comes back; once mail arrives, the moved folders are read again and the
/// sizes and counts follow.
#[tokio::test]
async fn a_repeat_probe_reads_again_only_the_folders_whose_counters_moved() {
    let Some((old, new)) = servers(&[(ALICE, "alice-pw")]) else {
        return;
    };
    let inbox: Vec<SeedMessage> = (1..=4).map(|n| SeedMessage::new(msg(n))).collect();
    old.seed(ALICE, "INBOX", &inbox);
    old.seed(ALICE, "Archiv", &[SeedMessage::new(msg(9))]);
    new.seed(ALICE, "INBOX", &[SeedMessage::new(fetched(1))]);
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.toml");
    write_secrets(&secrets, &[(ALICE, "alice-pw", "alice-pw")], None);
    let plan = Arc::new(plan(&old, &new, &[ALICE], &secrets));
    let (cmd_tx, mut res_rx, task) = start_prober(&plan);
    let timeout = std::time::Duration::from_secs(20);
    let mut probe = async || {
        cmd_tx
            .send(ProbeCommand::ProbeOne(ALICE.to_string()))
            .await
            .unwrap();
        let p = tokio::time::timeout(timeout, res_rx.recv())
            .await
            .unwrap()
            .unwrap();
        // Dovecot logs the logout once the session is over.
        old.wait_until_no_sessions(ALICE);
        new.wait_until_no_sessions(ALICE);
        p
    };
    let first = probe().await;
    let second = probe().await;
    assert_eq!(first.old, second.old);
    assert_eq!(first.new, second.new);
    assert_eq!(first.old_bytes, second.old_bytes);
    assert_eq!(second.fetch_share, Some(0.25));
    let sent = sent_per_session(&old, ALICE);
    assert_eq!(sent.len(), 2, "{}", old.log());
    assert!(
        sent[1] * 2 < sent[0],
        "the second session should send far less (no EXAMINE, no FETCH): {sent:?}"
    );

    // Mail arrives in the old Archiv: its size is read again, the INBOX is not.
    let bigger = SeedMessage::new(format!(
        "{}{}",
        String::from_utf8(msg(10)).unwrap(),
        "x".repeat(5000)
    ));
    old.seed(ALICE, "Archiv", &[bigger]);
    let third = probe().await;
    let grown = third.old_bytes.unwrap() - second.old_bytes.unwrap();
    assert!((5000..6000).contains(&grown), "{grown}");
    assert_eq!(third.old.messages, Some(6));
    assert_eq!(third.fetch_share, Some(0.25));
    // And a POP3 fetch brings two more of the INBOX to the new side: the share follows.
    new.seed(
        ALICE,
        "INBOX",
        &[SeedMessage::new(fetched(2)), SeedMessage::new(fetched(3))],
    );
    let fourth = probe().await;
    assert_eq!(fourth.fetch_share, Some(0.75));
    assert_eq!(fourth.old_bytes, third.old_bytes);

    cmd_tx.send(ProbeCommand::Stop).await.unwrap();
    tokio::time::timeout(timeout, task).await.unwrap().unwrap();
}
