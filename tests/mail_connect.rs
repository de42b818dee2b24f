//! Connections and logins against a real private Dovecot.

#[path = "support/dovecot.rs"]
mod dovecot;

use cutover::mail::credentials::{AuthMethod, Login, Secret};
use cutover::mail::{Place, Timeouts, connect};
use cutover::plan::{Security, WhichSide};
use dovecot::{Dovecot, MASTER_PASSWORD, MASTER_USER, SeedMessage};

const USER: &str = "alice@example.com";
const PASSWORD: &str = "alice-pw-\"quoted\"";

fn login(method: AuthMethod, secret: &str) -> Login {
    Login {
        user: USER.to_string(),
        method,
        secret: Secret::new(secret),
    }
}

fn place(server: &Dovecot) -> Place {
    Place::new(USER, WhichSide::Old, &format!("dovecot {}", server.name))
}

/// A loopback listener for a small fake server, and its port.
async fn fake_listener() -> (tokio::net::TcpListener, u16) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// The endpoint of a fake server on loopback `port` (no certificate to check).
fn fake_endpoint(port: u16, security: Security) -> cutover::plan::ImapEndpoint {
    cutover::plan::ImapEndpoint {
        url: format!("imap://127.0.0.1:{port}"),
        host: "127.0.0.1".into(),
        port,
        security,
        ca_file: None,
        insecure_skip_verify: false,
        pin_sha256: None,
    }
}

fn server() -> Option<Dovecot> {
    let d = Dovecot::start("old")?;
    d.add_user(USER, PASSWORD);
    d.seed(
        USER,
        "INBOX",
        &[SeedMessage::new("Subject: hello\r\n\r\nhi\r\n")],
    );
    Some(d)
}

#[tokio::test]
async fn every_security_mode_and_auth_method_logs_in() {
    let Some(d) = server() else { return };
    let cases = [
        (Security::Implicit, AuthMethod::Password, PASSWORD),
        (Security::StartTls, AuthMethod::Plain, PASSWORD),
        (Security::None, AuthMethod::Login, PASSWORD),
        (
            Security::Implicit,
            AuthMethod::Master {
                admin: MASTER_USER.into(),
            },
            MASTER_PASSWORD,
        ),
        (
            Security::StartTls,
            AuthMethod::Authzid {
                admin: MASTER_USER.into(),
            },
            MASTER_PASSWORD,
        ),
    ];
    for (security, method, secret) in cases {
        let what = format!("{security:?} {method:?}");
        let mut imap = connect(
            &d.endpoint(security),
            &place(&d),
            &login(method, secret),
            Timeouts::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}\n{}", d.log()));
        let folders = imap.folders().await.expect("LIST");
        assert!(
            folders.iter().any(|f| f.wire == "INBOX"),
            "{what}: {folders:?}"
        );
        // Capabilities after login are known (from LOGIN's answer or CAPABILITY): the copy
        // engine pipelines APPENDs only when LITERAL+ is among them.
        assert!(
            imap.has_capability("LITERAL+"),
            "{what}: {:?}",
            imap.capabilities
        );
        // Every login, the admin ones included, opened alice's own mailbox.
        assert_eq!(
            imap.status("INBOX").await.expect("STATUS").messages,
            1,
            "{what}"
        );
        imap.logout().await;
    }
}

#[tokio::test]
async fn wrong_password_is_an_auth_failure_that_never_shows_the_password() {
    let Some(d) = server() else { return };
    let wrong = "Wr0ng-S3cret";
    for security in [Security::Implicit, Security::StartTls] {
        let err = connect(
            &d.endpoint(security),
            &place(&d),
            &login(AuthMethod::Plain, wrong),
            Timeouts::default(),
        )
        .await
        .expect_err("wrong password must fail");
        assert!(err.is_auth(), "{err}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(wrong), "{shown}");
        assert!(shown.contains(USER) && shown.contains("old"), "{shown}");
        // The server's own words, not the IMAP library's debug text.
        assert!(
            err.to_string().ends_with(&format!(
                "login refused for {USER}: [AUTHENTICATIONFAILED] Authentication failed."
            )),
            "{err}"
        );
    }
    let err = connect(
        &d.endpoint(Security::Implicit),
        &place(&d),
        &login(
            AuthMethod::Master {
                admin: MASTER_USER.into(),
            },
            "not-the-master-pw",
        ),
        Timeouts::default(),
    )
    .await
    .expect_err("wrong master password must fail");
    assert!(err.is_auth(), "{err}");
}

#[tokio::test]
async fn unknown_certificate_is_a_tls_failure_unless_skipping_is_written_out() {
    let Some(d) = server() else { return };
    for security in [Security::Implicit, Security::StartTls] {
        let mut endpoint = d.endpoint(security);
        endpoint.ca_file = None;
        let err = connect(
            &endpoint,
            &place(&d),
            &login(AuthMethod::Password, PASSWORD),
            Timeouts::default(),
        )
        .await
        .expect_err("a certificate from an unknown CA must be refused");
        assert!(err.is_tls(), "{err}");
        endpoint.insecure_skip_verify = true;
        let imap = connect(
            &endpoint,
            &place(&d),
            &login(AuthMethod::Password, PASSWORD),
            Timeouts::default(),
        )
        .await
        .expect("insecure_skip_verify connects");
        imap.logout().await;
    }
    // A wrong host name for the certificate is refused too.
    let mut endpoint = d.endpoint(Security::Implicit);
    endpoint.host = "127.0.0.2".into();
    let err = connect(
        &endpoint,
        &place(&d),
        &login(AuthMethod::Password, PASSWORD),
        Timeouts::default(),
    )
    .await
    .expect_err("name mismatch");
    assert!(err.is_tls() || err.is_unreachable(), "{err}");
}

/// What `openssl x509 -fingerprint -sha256 -noout` and `-enddate -noout` print for a PEM
/// certificate, without their `…=` prefixes.
fn openssl_says(pem: &std::path::Path, what: &str) -> String {
    let out = std::process::Command::new("openssl")
        .args(["x509", what, "-noout", "-in"])
        .arg(pem)
        .args(if what == "-fingerprint" {
            &["-sha256"][..]
        } else {
            &[][..]
        })
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "{out:?}");
    let line = String::from_utf8(out.stdout).expect("openssl prints text");
    let (_, value) = line.trim().split_once('=').expect("openssl's KEY=VALUE");
    value.to_string()
}

/// Old servers serve `openssl req -x509` certificates (CA:TRUE), which rustls refuses even as
/// their own trust anchor. Named in `ca_file` or pinned, the login works; refused (another
/// certificate in `ca_file`, none, a wrong pin), the error names the served certificate so
/// the operator can check it by another channel.
#[tokio::test]
async fn a_self_signed_certificate_is_accepted_from_ca_file_or_pinned_and_named_when_refused() {
    let Some(d) = Dovecot::start_self_signed("old") else {
        return;
    };
    d.add_user(USER, PASSWORD);
    let fingerprint = openssl_says(&d.server_cert, "-fingerprint");
    let not_after = jiff::fmt::strtime::parse("%b %d %H:%M:%S %Y GMT", {
        // openssl pads a one-digit day with a space: "Dec  3 …".
        openssl_says(&d.server_cert, "-enddate")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    })
    .and_then(|t| t.to_datetime())
    .expect("openssl's notAfter")
    .strftime("%Y-%m-%d %H:%M:%S UTC")
    .to_string();
    let try_with = |endpoint: cutover::plan::ImapEndpoint| {
        let place = place(&d);
        async move {
            connect(
                &endpoint,
                &place,
                &login(AuthMethod::Password, PASSWORD),
                Timeouts::default(),
            )
            .await
        }
    };
    // `ca_file` holding exactly the certificate served (what operators try first, and what
    // mbsync and imapsync accept): trusted as if pinned, the login works.
    let mut endpoint = d.endpoint(Security::Implicit);
    endpoint.ca_file = Some(d.server_cert.clone());
    let mut imap = try_with(endpoint.clone())
        .await
        .unwrap_or_else(|e| panic!("ca_file holding the served certificate: {e}\n{}", d.log()));
    assert_eq!(imap.status("INBOX").await.expect("STATUS").messages, 0);
    imap.logout().await;
    // Another self-signed certificate in `ca_file`, or none: refused, and the error says
    // what was served.
    let other = tempfile::tempdir().expect("temp dir");
    let other_cert = other.path().join("other.pem");
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=mail.old.example", "-keyout"])
        .arg(other.path().join("other.key"))
        .arg("-out")
        .arg(&other_cert)
        .output()
        .expect("run openssl");
    assert!(made.status.success(), "{made:?}");
    for ca_file in [Some(other_cert), None] {
        endpoint.ca_file = ca_file.clone();
        let err = try_with(endpoint.clone())
            .await
            .expect_err("a self-signed certificate neither in ca_file nor pinned");
        assert!(err.is_tls(), "{ca_file:?}: {err}");
        let text = err.to_string();
        assert!(
            text.contains(&format!(
                "the server's certificate: SHA-256 {fingerprint}, subject CN=mail.old.example, valid until {not_after}"
            )),
            "{text}"
        );
        assert!(
            text.ends_with(&format!("pin_sha256 = \"{fingerprint}\"")),
            "{text}"
        );
    }
    // Pinned as openssl prints it, or in lower case without colons: the login works.
    for pin in [
        fingerprint.clone(),
        fingerprint.replace(':', "").to_ascii_lowercase(),
    ] {
        endpoint.pin_sha256 = Some(pin);
        let mut imap = try_with(endpoint.clone())
            .await
            .unwrap_or_else(|e| panic!("pinned: {e}\n{}", d.log()));
        assert_eq!(imap.status("INBOX").await.expect("STATUS").messages, 0);
        imap.logout().await;
    }
    // A wrong pin is refused, even with `insecure_skip_verify` also written.
    let last = fingerprint.chars().last().expect("a fingerprint");
    let wrong = format!(
        "{}{}",
        &fingerprint[..fingerprint.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    endpoint.pin_sha256 = Some(wrong.clone());
    endpoint.insecure_skip_verify = true;
    let err = try_with(endpoint.clone()).await.expect_err("a wrong pin");
    assert!(err.is_tls(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("does not match pin_sha256")
            && text.contains(&format!("SHA-256 {fingerprint}"))
            && text.contains(&format!("the plan pins {wrong}")),
        "{text}"
    );
    // A pin that is no fingerprint is said so before anything is sent.
    endpoint.pin_sha256 = Some("AB:CD".into());
    let err = try_with(endpoint).await.expect_err("not a fingerprint");
    assert!(
        err.is_tls() && err.to_string().contains("64 hex digits"),
        "{err}"
    );
}

#[tokio::test]
async fn closed_port_is_unreachable() {
    let Some(d) = server() else { return };
    let mut endpoint = d.endpoint(Security::Implicit);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    endpoint.port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = connect(
        &endpoint,
        &place(&d),
        &login(AuthMethod::Password, PASSWORD),
        Timeouts::default(),
    )
    .await
    .expect_err("nothing listens");
    assert!(err.is_unreachable(), "{err}");
}

/// A server that never offers STARTTLS: the password must not be sent in the clear.
#[tokio::test]
async fn starttls_not_offered_is_refused_before_login() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (listener, port) = fake_listener().await;
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        s.write_all(b"* OK fake IMAP ready\r\n").await.unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            let n = s.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            if seen.ends_with(b"CAPABILITY\r\n") {
                s.write_all(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\ns1 OK done\r\n")
                    .await
                    .unwrap();
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    let endpoint = fake_endpoint(port, Security::StartTls);
    let p = Place::new(USER, WhichSide::New, &endpoint.url);
    let err = connect(
        &endpoint,
        &p,
        &login(AuthMethod::Password, "pw-never-sent"),
        Timeouts::default(),
    )
    .await
    .expect_err("no STARTTLS");
    assert!(err.is_tls(), "{err}");
    assert!(err.to_string().contains("STARTTLS"), "{err}");
    let seen = server.await.unwrap();
    assert!(
        !seen.contains("pw-never-sent") && !seen.contains("LOGIN"),
        "{seen}"
    );
}

/// XOAUTH2 (Gmail, Microsoft 365): the token comes from the plan's `token_command` and
/// goes out in the providers' SASL format; checked by a small fake server.
#[tokio::test]
async fn xoauth2_sends_the_token_from_the_token_command() {
    use base64::Engine as _;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (listener, port) = fake_listener().await;
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read).lines();
        write.write_all(b"* OK fake ready\r\n").await.unwrap();
        let mut sasl = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let tag = line.split_whitespace().next().unwrap_or("*").to_string();
            if line.contains("AUTHENTICATE XOAUTH2") {
                write.write_all(b"+ \r\n").await.unwrap();
                let answer = lines.next_line().await.unwrap().unwrap();
                sasl = String::from_utf8(
                    base64::engine::general_purpose::STANDARD
                        .decode(answer.trim())
                        .unwrap(),
                )
                .unwrap();
                write
                    .write_all(format!("{tag} OK [CAPABILITY IMAP4rev1] logged in\r\n").as_bytes())
                    .await
                    .unwrap();
            } else if line.contains("LOGOUT") {
                write
                    .write_all(format!("* BYE\r\n{tag} OK bye\r\n").as_bytes())
                    .await
                    .unwrap();
                break;
            } else {
                write
                    .write_all(format!("{tag} OK done\r\n").as_bytes())
                    .await
                    .unwrap();
            }
        }
        sasl
    });
    let credentials = cutover::plan::Credentials {
        token_command: Some("printf 'tok-%s-%s\\n' {side} {login}".to_string()),
        ..Default::default()
    };
    let source = cutover::mail::CredentialSource::new(Some(&credentials)).unwrap();
    let mailbox = cutover::plan::Mailbox {
        address: USER.into(),
        old_login: USER.into(),
        new_login: "alice@new.example".into(),
        ..Default::default()
    };
    let login = source.login(&mailbox, WhichSide::New).await.unwrap();
    assert_eq!(login.method, AuthMethod::XOAuth2);
    let endpoint = fake_endpoint(port, Security::None);
    let imap = connect(
        &endpoint,
        &Place::new(USER, WhichSide::New, &endpoint.url),
        &login,
        Timeouts::default(),
    )
    .await
    .expect("XOAUTH2 login");
    imap.logout().await;
    let sasl = server.await.unwrap();
    assert_eq!(
        sasl,
        "user=alice@new.example\x01auth=Bearer tok-new-alice@new.example\x01\x01"
    );
}

/// The probe reads every folder's counters in one LIST … RETURN (STATUS) where the server
/// offers LIST-STATUS, and folder by folder where it does not: both give the same answer,
/// names decoded, roles kept, a parent that cannot be selected without counters.
#[tokio::test]
async fn folder_counters_are_the_same_with_and_without_list_status() {
    let Some(d) = server() else { return };
    let two = [
        SeedMessage::new("Subject: a\r\n\r\na\r\n"),
        SeedMessage::new("Subject: b\r\n\r\nb\r\n"),
    ];
    d.seed(USER, "Sent", &two);
    d.seed(USER, "Projekte/Übergabe", &two[..1]);
    // The server quotes these with escapes; the name must come back as it was written.
    d.seed(USER, r#"Bills\2026 "Q1""#, &two);
    let mut imap = connect(
        &d.endpoint(Security::Implicit),
        &place(&d),
        &login(AuthMethod::Password, PASSWORD),
        Timeouts::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", d.log()));
    assert!(
        imap.has_capability("LIST-STATUS"),
        "{:?}",
        imap.capabilities
    );
    let one_round_trip = imap.folders_with_status().await.expect("LIST-STATUS");
    imap.capabilities.retain(|c| c != "LIST-STATUS");
    let folder_by_folder = imap.folders_with_status().await.expect("LIST, STATUS");
    assert_eq!(one_round_trip, folder_by_folder);
    let find = |name: &str| {
        one_round_trip
            .iter()
            .find(|(f, _)| f.name == name)
            .unwrap_or_else(|| panic!("{name} not listed: {one_round_trip:?}"))
    };
    assert_eq!(one_round_trip[0].0.wire, "INBOX", "INBOX first");
    assert_eq!(find("INBOX").1.map(|s| s.messages), Some(1));
    let (sent, sent_status) = find("Sent");
    assert_eq!(sent.special_use, Some(cutover::mail::SpecialUse::Sent));
    assert_eq!(sent_status.map(|s| (s.messages, s.uidnext)), Some((2, 3)));
    let (handover, status) = find("Projekte/Übergabe");
    assert_ne!(handover.wire, handover.name, "sent in modified UTF-7");
    assert_eq!(status.map(|s| s.messages), Some(1));
    assert!(status.is_some_and(|s| s.uidvalidity > 0));
    let (bills, status) = find(r#"Bills\2026 "Q1""#);
    assert_eq!(bills.wire, bills.name);
    assert_eq!(status.map(|s| s.messages), Some(2));
    if let Some((parent, status)) = one_round_trip.iter().find(|(f, _)| f.name == "Projekte") {
        assert_eq!(parent.selectable, status.is_some(), "{parent:?} {status:?}");
    }
}

/// A server that offers LIST-STATUS but refuses the extended LIST (seen on servers that
/// advertise more than they parse): the counters are read the plain way, LIST then STATUS
/// per folder, and the probe still gets them.
#[tokio::test]
async fn a_refused_list_status_falls_back_to_list_and_status() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (listener, port) = fake_listener().await;
    let server = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        let (read, mut write) = s.into_split();
        let mut lines = BufReader::new(read).lines();
        write
            .write_all(b"* OK [CAPABILITY IMAP4rev1 LIST-STATUS] fake IMAP ready\r\n")
            .await
            .unwrap();
        let mut seen = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let (tag, command) = line.split_once(' ').unwrap_or((&line, ""));
            let answer = if command.starts_with("LOGIN") {
                format!("{tag} OK [CAPABILITY IMAP4rev1 LIST-STATUS] logged in\r\n")
            } else if command.contains("RETURN") {
                format!("{tag} BAD unknown LIST return option\r\n")
            } else if command.starts_with("LIST") {
                format!(
                    "* LIST (\\HasNoChildren) \"/\" INBOX\r\n* LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n{tag} OK LIST done\r\n"
                )
            } else if command.starts_with("STATUS") && command.contains("INBOX") {
                format!(
                    "* STATUS INBOX (MESSAGES 2 UIDNEXT 3 UIDVALIDITY 7)\r\n{tag} OK STATUS done\r\n"
                )
            } else if command.starts_with("STATUS") {
                format!(
                    "* STATUS Sent (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 8)\r\n{tag} OK STATUS done\r\n"
                )
            } else {
                format!("* BYE\r\n{tag} OK bye\r\n")
            };
            seen.push(command.to_string());
            if write.write_all(answer.as_bytes()).await.is_err() {
                break;
            }
        }
        seen
    });
    let endpoint = fake_endpoint(port, Security::None);
    let p = Place::new(USER, WhichSide::Old, &endpoint.url);
    let mut imap = connect(
        &endpoint,
        &p,
        &login(AuthMethod::Password, "pw"),
        Timeouts::default(),
    )
    .await
    .expect("login");
    let folders = imap.folders_with_status().await.expect("counters");
    imap.logout().await;
    let counts: Vec<(String, Option<u32>, Option<u32>)> = folders
        .iter()
        .map(|(f, s)| {
            (
                f.name.clone(),
                s.map(|s| s.messages),
                s.map(|s| s.uidvalidity),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("INBOX".to_string(), Some(2), Some(7)),
            ("Sent".to_string(), Some(1), Some(8))
        ]
    );
    assert_eq!(
        folders[1].0.special_use,
        Some(cutover::mail::SpecialUse::Sent)
    );
    let seen = server.await.unwrap();
    let asked: Vec<&str> = seen
        .iter()
        .map(|c| c.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(
        asked,
        ["LOGIN", "LIST", "LIST", "STATUS", "STATUS", "LOGOUT"],
        "{seen:?}"
    );
    assert!(seen[1].contains("RETURN (STATUS"), "{seen:?}");
}
