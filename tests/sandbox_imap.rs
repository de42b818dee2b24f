//! The rehearsal IMAP server, driven by async-imap (the client cutover uses) over loopback TCP.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Instant;

use async_imap::imap_proto::NameAttribute;
use async_imap::types::Flag;
use cutover::clock::ManualClock;
use cutover::sandbox::imap::{
    Fault, ImapServer, Mailstore, SeedSpec, decode_folder_name, encode_folder_name, seed_user,
};
use futures_util::TryStreamExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const USER: &str = "anna";
const PASSWORD: &str = "anna-secret";
const ADMIN: &str = "admin";
const ADMIN_PASSWORD: &str = "master-secret";
const PER_FOLDER: usize = 6;

type Client = async_imap::Client<TcpStream>;
type Session = async_imap::Session<TcpStream>;

async fn server() -> ImapServer {
    let store = Mailstore::new();
    seed_user(
        &store,
        &SeedSpec {
            login: USER.into(),
            password: PASSWORD.into(),
            domain: "example-firm.test".into(),
            messages_per_folder: PER_FOLDER,
            body_size: 1_500,
            newest: "2026-03-02T08:00:00+01:00[+01:00]".parse().unwrap(),
            seed: 42,
        },
    )
    .unwrap();
    store.create_user("bob", "bob-secret").unwrap();
    store.set_admin(ADMIN, ADMIN_PASSWORD);
    let clock = Arc::new(ManualClock::new("2026-03-02T09:00:00Z".parse().unwrap()));
    ImapServer::start(store, clock).await.unwrap()
}

async fn connect(server: &ImapServer) -> Client {
    let tcp = TcpStream::connect(server.addr()).await.unwrap();
    let mut client = async_imap::Client::new(tcp);
    let greeting = client.read_response().await.unwrap();
    assert!(greeting.is_some(), "no greeting");
    client
}

async fn login(server: &ImapServer) -> Session {
    connect(server)
        .await
        .login(USER, PASSWORD)
        .await
        .map_err(|(e, _)| e)
        .unwrap()
}

struct Plain(String);

impl async_imap::Authenticator for &Plain {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> String {
        self.0.clone()
    }
}

/// Which user a session acts as: the INBOX it sees.
async fn inbox_size(session: &mut Session) -> u32 {
    session.examine("INBOX").await.unwrap().exists
}

#[tokio::test]
async fn login_works_and_a_wrong_password_is_refused() {
    let server = server().await;
    let mut session = login(&server).await;
    assert_eq!(inbox_size(&mut session).await, PER_FOLDER as u32 + 3);
    session.logout().await.unwrap();

    let refused = connect(&server).await.login(USER, "wrong").await;
    let Err((error, _)) = refused else {
        panic!("a wrong password must be refused");
    };
    assert!(
        matches!(&error, async_imap::error::Error::No(text) if text.contains("AUTHENTICATIONFAILED")),
        "{error:?}"
    );
}

#[tokio::test]
async fn authenticate_plain_for_oneself_and_by_the_admin_for_a_user() {
    let server = server().await;
    let own = Plain(format!("\0{USER}\0{PASSWORD}"));
    let mut session = connect(&server)
        .await
        .authenticate("PLAIN", &own)
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    assert_eq!(inbox_size(&mut session).await, PER_FOLDER as u32 + 3);

    let for_user = Plain(format!("{USER}\0{ADMIN}\0{ADMIN_PASSWORD}"));
    let mut session = connect(&server)
        .await
        .authenticate("PLAIN", &for_user)
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    assert_eq!(inbox_size(&mut session).await, PER_FOLDER as u32 + 3);

    let wrong_admin = Plain(format!("{USER}\0{ADMIN}\0{PASSWORD}"));
    assert!(
        connect(&server)
            .await
            .authenticate("PLAIN", &wrong_admin)
            .await
            .is_err()
    );
    let user_for_user = Plain(format!("{USER}\0bob\0bob-secret"));
    assert!(
        connect(&server)
            .await
            .authenticate("PLAIN", &user_for_user)
            .await
            .is_err(),
        "only the admin may act for another user"
    );
}

#[tokio::test]
async fn dovecot_style_master_login_acts_as_the_user() {
    let server = server().await;
    let mut session = connect(&server)
        .await
        .login(format!("{USER}*{ADMIN}"), ADMIN_PASSWORD)
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    assert_eq!(inbox_size(&mut session).await, PER_FOLDER as u32 + 3);
    let bob = connect(&server)
        .await
        .login(format!("bob*{ADMIN}"), "bob-secret")
        .await;
    assert!(bob.is_err(), "master login needs the admin's password");
}

#[tokio::test]
async fn list_shows_special_use_and_non_ascii_names_round_trip() {
    let server = server().await;
    let mut session = login(&server).await;
    let names: Vec<_> = session
        .list(Some(""), Some("*"))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut folders = BTreeSet::new();
    for name in &names {
        assert_eq!(name.delimiter(), Some("/"));
        let utf8 = decode_folder_name(name.name().as_bytes()).unwrap();
        let attributes = name.attributes();
        let expected = match utf8.as_str() {
            "Sent" => Some(NameAttribute::Sent),
            "Entwürfe" => Some(NameAttribute::Drafts),
            "Trash" => Some(NameAttribute::Trash),
            "Junk" => Some(NameAttribute::Junk),
            "Archive" => Some(NameAttribute::Archive),
            _ => None,
        };
        if let Some(expected) = expected {
            assert!(attributes.contains(&expected), "{utf8}: {attributes:?}");
        }
        folders.insert(utf8);
    }
    let expected: BTreeSet<String> = [
        "INBOX",
        "Sent",
        "Entwürfe",
        "Trash",
        "Junk",
        "Archive",
        "Archive/2025",
        "Отправленные",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(folders, expected);

    // A folder created under a non-ASCII name comes back under the same name.
    let new = "Ärger/Événements 2026";
    session.create(encode_folder_name(new)).await.unwrap();
    let listed: Vec<_> = session
        .list(Some(""), Some("*"))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(
        listed
            .iter()
            .any(|n| decode_folder_name(n.name().as_bytes()).as_deref() == Some(new))
    );
    let stored: Vec<String> = server
        .store()
        .folders(USER)
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert!(stored.contains(&new.to_string()), "{stored:?}");
    let russian = session
        .examine(encode_folder_name("Отправленные"))
        .await
        .unwrap();
    assert_eq!(russian.exists, PER_FOLDER as u32);

    let duplicate = session.create(encode_folder_name("Entwürfe")).await;
    assert!(
        duplicate.is_err(),
        "an existing folder cannot be created again"
    );
}

#[tokio::test]
async fn status_reports_what_the_store_holds() {
    let server = server().await;
    let mut session = login(&server).await;
    let status = session
        .status("INBOX", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)")
        .await
        .unwrap();
    let info = server.store().folder_info(USER, "INBOX").unwrap();
    assert_eq!(status.exists, info.messages);
    assert_eq!(status.uid_next, Some(info.uid_next));
    assert_eq!(status.uid_validity, Some(info.uid_validity));
    assert_eq!(status.unseen, Some(info.unseen));
    assert!(info.unseen > 0);
    let missing = session.status("Nowhere", "(MESSAGES)").await;
    assert!(missing.is_err());
}

#[tokio::test]
async fn examine_and_peek_never_set_seen_but_a_select_read_does() {
    let server = server().await;
    let store = server.store().clone();
    let unseen_before = store.folder_info(USER, "INBOX").unwrap().unseen;
    let mut session = login(&server).await;

    let mailbox = session.examine("INBOX").await.unwrap();
    assert!(mailbox.permanent_flags.is_empty(), "EXAMINE is read-only");
    let fetched: Vec<_> = session
        .uid_fetch("1:*", "(UID FLAGS RFC822.SIZE BODY.PEEK[])")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let stored = store.messages(USER, "INBOX").unwrap();
    assert_eq!(fetched.len(), stored.len());
    for (fetch, message) in fetched.iter().zip(&stored) {
        assert_eq!(fetch.uid, Some(message.uid));
        assert_eq!(fetch.body(), Some(message.raw.as_slice()));
        assert_eq!(fetch.size, Some(message.raw.len() as u32));
    }
    // Even BODY[] without PEEK changes nothing in an EXAMINEd folder.
    let _: Vec<_> = session
        .uid_fetch("1:*", "BODY[]")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        store.folder_info(USER, "INBOX").unwrap().unseen,
        unseen_before
    );

    session.select("INBOX").await.unwrap();
    let unseen_uid = stored.iter().find(|m| !m.is_seen()).unwrap().uid;
    let read: Vec<_> = session
        .uid_fetch(unseen_uid.to_string(), "BODY[]")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(
        read[0].flags().any(|f| f == Flag::Seen),
        "the server reports the new flag"
    );
    assert_eq!(
        store.folder_info(USER, "INBOX").unwrap().unseen,
        unseen_before - 1
    );
}

#[tokio::test]
async fn header_fields_uid_search_and_sequence_fetch() {
    let server = server().await;
    let mut session = login(&server).await;
    session.examine("INBOX").await.unwrap();

    let all = session.uid_search("ALL").await.unwrap();
    assert_eq!(all.len(), PER_FOLDER + 3);
    let some = session.uid_search("UID 2:4").await.unwrap();
    assert_eq!(some, HashSet::from([2, 3, 4]));
    let newsletters = session
        .uid_search("HEADER Subject newsletter")
        .await
        .unwrap();
    assert_eq!(
        newsletters.len(),
        2,
        "the two messages sharing a Message-ID"
    );
    let with_id = session.uid_search("HEADER Message-ID \"\"").await.unwrap();
    assert_eq!(
        with_id.len(),
        PER_FOLDER + 2,
        "all but the one without Message-ID"
    );

    let headers: Vec<_> = session
        .uid_fetch(
            "1",
            "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID DATE FROM TO SUBJECT)])",
        )
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let header = String::from_utf8(headers[0].header().unwrap().to_vec()).unwrap();
    assert!(header.starts_with("Message-ID: <"), "{header}");
    assert!(header.contains("\r\nSubject: "));
    assert!(
        !header.contains("Received:"),
        "only the fields asked for: {header}"
    );
    assert!(header.ends_with("\r\n\r\n"));

    let by_seq: Vec<_> = session
        .fetch("2", "(UID FLAGS INTERNALDATE RFC822.SIZE)")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(by_seq[0].message, 2);
    // Beware: async-imap ends a FETCH stream silently on the tagged BAD (or NO) the server
    // sends for a sequence number past EXISTS, so a failed FETCH looks like an empty one.
    // The BAD itself is checked on a raw socket below.
    let past_the_end = session.fetch("999", "(UID)").await.unwrap();
    assert!(
        past_the_end
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .is_empty()
    );
    let by_uid = session.uid_fetch("999", "(UID)").await.unwrap();
    assert!(
        by_uid.try_collect::<Vec<_>>().await.unwrap().is_empty(),
        "no such UID: empty, OK"
    );
    assert_eq!(by_seq[0].uid, Some(2));
    assert_eq!(
        by_seq[0]
            .internal_date()
            .unwrap()
            .offset()
            .local_minus_utc(),
        3600,
        "INTERNALDATE keeps its offset"
    );
}

#[tokio::test]
async fn append_keeps_flags_and_internaldate_and_takes_the_uid_uidnext_promised() {
    let server = server().await;
    let mut session = login(&server).await;
    let before = session.status("Sent", "(UIDNEXT)").await.unwrap();
    let raw = b"Message-ID: <copied-1@example-firm.test>\r\nSubject: copied\r\n\r\nHello\r\n";
    session
        .append(
            "Sent",
            Some("(\\Seen $Forwarded)"),
            Some("\"02-Mar-2026 08:15:00 +0100\""),
            raw,
        )
        .await
        .unwrap();
    let stored = server.store().messages(USER, "Sent").unwrap();
    let appended = stored.last().unwrap();
    assert_eq!(Some(appended.uid), before.uid_next);
    assert_eq!(appended.raw.as_slice(), raw);
    assert_eq!(
        appended.flags,
        BTreeSet::from(["\\Seen".to_string(), "$Forwarded".to_string()])
    );
    assert_eq!(
        appended.internal_date.timestamp(),
        "2026-03-02T07:15:00Z".parse().unwrap()
    );
    assert_eq!(appended.internal_date.offset().seconds(), 3600);

    session.examine("Sent").await.unwrap();
    let fetched: Vec<_> = session
        .uid_fetch(appended.uid.to_string(), "(FLAGS INTERNALDATE)")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let date = fetched[0].internal_date().unwrap();
    assert_eq!(date.to_rfc3339(), "2026-03-02T08:15:00+01:00");
    assert!(fetched[0].flags().any(|f| f == Flag::Seen));

    let missing = session.append("Nowhere", None, None, raw).await;
    assert!(
        missing.is_err(),
        "APPEND to a missing folder is refused (TRYCREATE)"
    );
}

#[tokio::test]
async fn a_20_mb_message_goes_in_and_comes_back_byte_for_byte() {
    let server = server().await;
    let mut session = login(&server).await;
    let mut raw = b"Message-ID: <big@example-firm.test>\r\nSubject: big\r\n\r\n".to_vec();
    let line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n";
    while raw.len() < 20 * 1024 * 1024 {
        raw.extend_from_slice(line);
    }
    let started = Instant::now();
    session.append("INBOX", None, None, &raw).await.unwrap();
    let uid = server
        .store()
        .messages(USER, "INBOX")
        .unwrap()
        .last()
        .unwrap()
        .uid;
    session.examine("INBOX").await.unwrap();
    let fetched: Vec<_> = session
        .uid_fetch(uid.to_string(), "BODY.PEEK[]")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert!(
        fetched[0].body() == Some(raw.as_slice()),
        "the 20 MB body differs"
    );
    eprintln!("20 MB append + fetch: {:?}", started.elapsed());
}

#[tokio::test]
async fn many_connections_at_once() {
    let server = server().await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let addr = server.addr();
        tasks.push(tokio::spawn(async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let mut client = async_imap::Client::new(tcp);
            client.read_response().await.unwrap();
            let mut session = client
                .login(USER, PASSWORD)
                .await
                .map_err(|(e, _)| e)
                .unwrap();
            for n in 0..10 {
                let raw =
                    format!("Message-ID: <c{i}.{n}@example-firm.test>\r\n\r\nbody {i} {n}\r\n");
                session.append("Archive", None, None, raw).await.unwrap();
            }
            session.examine("INBOX").await.unwrap();
            let fetched: Vec<_> = session
                .uid_fetch("1:*", "(UID BODY.PEEK[])")
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            session.logout().await.unwrap();
            fetched.len()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), PER_FOLDER + 3);
    }
    let archive = server.store().messages(USER, "Archive").unwrap();
    assert_eq!(archive.len(), PER_FOLDER + 80);
    let uids: BTreeSet<u32> = archive.iter().map(|m| m.uid).collect();
    assert_eq!(uids.len(), archive.len(), "every APPEND got its own UID");
}

#[tokio::test]
async fn unsupported_commands_are_bad_and_throttling_says_no() {
    let server = server().await;
    let mut session = login(&server).await;
    session.select("INBOX").await.unwrap();
    let store = session
        .run_command_and_check_ok("STORE 1 +FLAGS (\\Deleted)")
        .await;
    assert!(
        matches!(store, Err(async_imap::error::Error::Bad(_))),
        "{store:?}"
    );

    server.store().set_fault(Fault::Throttled);
    let throttled = session.status("INBOX", "(MESSAGES)").await;
    assert!(
        matches!(&throttled, Err(async_imap::error::Error::No(text)) if text.contains("THROTTLED")),
        "{throttled:?}"
    );
    // The hazard for a copy engine: async-imap turns a throttled UID FETCH into an empty
    // result, not an error; only EXISTS/STATUS can tell the folder is not empty.
    let throttled_fetch = session.uid_fetch("1:*", "(UID)").await.unwrap();
    assert!(
        throttled_fetch
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .is_empty()
    );
    server.store().set_fault(Fault::None);
    assert!(session.status("INBOX", "(MESSAGES)").await.is_ok());
}

#[tokio::test]
async fn the_drop_drill_cuts_a_connection_mid_fetch() {
    let server = server().await;
    let mut session = login(&server).await;
    session.examine("INBOX").await.unwrap();
    server.store().set_fault(Fault::DropAfterBytes(4_000));
    let fetched: Result<Vec<_>, _> = match session.uid_fetch("1:*", "BODY.PEEK[]").await {
        Ok(stream) => stream.try_collect().await,
        Err(e) => Err(e),
    };
    let expected = server.store().messages(USER, "INBOX").unwrap().len();
    let complete = matches!(&fetched, Ok(all) if all.len() == expected);
    assert!(!complete, "the fetch cannot complete past the cut");
    assert!(session.noop().await.is_err(), "the connection must be gone");

    // Once the drill is off, a new connection works again.
    server.store().set_fault(Fault::None);
    let mut again = login(&server).await;
    assert_eq!(inbox_size(&mut again).await as usize, expected);
}

/// What async-imap cannot send: a LITERAL+ APPEND, and new mail announced by NOOP.
#[tokio::test]
async fn literal_plus_append_and_new_mail_on_noop_over_a_raw_socket() {
    let server = server().await;
    let tcp = TcpStream::connect(server.addr()).await.unwrap();
    let (read, mut write) = tcp.into_split();
    let mut lines = BufReader::new(read).lines();
    let greeting = lines.next_line().await.unwrap().unwrap();
    // Capability names are case-insensitive; imap-codec writes IMAP4REV1.
    assert!(
        greeting
            .to_ascii_uppercase()
            .starts_with("* OK [CAPABILITY IMAP4REV1 LITERAL+ AUTH=PLAIN SPECIAL-USE]"),
        "{greeting}"
    );

    async fn until_tagged(
        lines: &mut tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
        tag: &str,
    ) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let line = lines.next_line().await.unwrap().unwrap();
            let done = line.starts_with(&format!("{tag} "));
            seen.push(line);
            if done {
                return seen;
            }
        }
    }

    write
        .write_all(format!("a1 LOGIN {USER} {PASSWORD}\r\na2 SELECT INBOX\r\n").as_bytes())
        .await
        .unwrap();
    until_tagged(&mut lines, "a1").await;
    until_tagged(&mut lines, "a2").await;

    write.write_all(b"a0 LIST \"\" \"\"\r\n").await.unwrap();
    let delimiter = until_tagged(&mut lines, "a0").await;
    assert_eq!(
        delimiter[0], "* LIST (\\Noselect) \"/\" \"\"",
        "{delimiter:?}"
    );

    write
        .write_all(b"a3 APPEND INBOX (\\Flagged) {14+}\r\nSubject: x\r\n\r\n\r\n")
        .await
        .unwrap();
    let appended = until_tagged(&mut lines, "a3").await;
    assert!(
        appended.last().unwrap().starts_with("a3 OK"),
        "{appended:?}"
    );
    assert!(
        !appended.iter().any(|l| l.starts_with('+')),
        "LITERAL+ needs no continuation: {appended:?}"
    );
    let expected = format!("* {} EXISTS", PER_FOLDER + 4);
    assert!(appended.contains(&expected), "{appended:?}");

    server
        .store()
        .deliver(
            USER,
            "INBOX",
            b"Subject: delivered\r\n\r\nhi\r\n".to_vec(),
            "2026-03-02T09:00:00+00:00[UTC]".parse().unwrap(),
        )
        .unwrap();
    write.write_all(b"a4 NOOP\r\n").await.unwrap();
    let noop = until_tagged(&mut lines, "a4").await;
    assert!(
        noop.contains(&format!("* {} EXISTS", PER_FOLDER + 5)),
        "{noop:?}"
    );

    write.write_all(b"a45 FETCH 999 (UID)\r\n").await.unwrap();
    let invalid = until_tagged(&mut lines, "a45").await;
    assert!(
        invalid.last().unwrap().starts_with("a45 BAD"),
        "{invalid:?}"
    );

    write.write_all(b"a5 LOGOUT\r\n").await.unwrap();
    let bye = until_tagged(&mut lines, "a5").await;
    assert!(bye[0].starts_with("* BYE"), "{bye:?}");
}

#[tokio::test]
async fn a_server_shut_down_refuses_connections_and_comes_back_on_its_port_with_its_mail() {
    let server = server().await;
    let addr = server.addr();
    let store = server.store().clone();
    server.shutdown().await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "a stopped server must refuse"
    );

    let clock = Arc::new(ManualClock::new("2026-03-02T10:00:00Z".parse().unwrap()));
    let again = ImapServer::start_on(addr, store, clock).await.unwrap();
    let mut session = login(&again).await;
    assert_eq!(inbox_size(&mut session).await, PER_FOLDER as u32 + 3);
}
