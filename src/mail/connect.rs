//! IMAP connections: TCP, TLS (implicit or STARTTLS, rustls with ring), greeting and login,
//! each with a timeout, every failure classified and named by mailbox and side.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::imap_proto::{MailboxDatum, Response, Status, StatusAttribute};
use async_imap::types::NameAttribute;
use futures_util::TryStreamExt;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::mail::credentials::{AuthMethod, Login};
use crate::mail::error::{MailError, Place, is_throttling_text, outcome_text, server_text};
use crate::mail::utf7;
use crate::plan::{ImapEndpoint, Security};
use crate::sanitize::sanitize;
use crate::tls::{self, Fingerprint, TlsError, Trust};

/// How long each phase may take.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub greeting: Duration,
    pub login: Duration,
    /// Every other command (a large FETCH or APPEND gets this per message).
    pub command: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(5),
            greeting: Duration::from_secs(10),
            login: Duration::from_secs(30),
            command: Duration::from_secs(120),
        }
    }
}

/// The byte stream under an IMAP session: plain TCP or TLS.
pub enum MailStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl fmt::Debug for MailStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MailStream::Plain(_) => f.write_str("MailStream::Plain"),
            MailStream::Tls(_) => f.write_str("MailStream::Tls"),
        }
    }
}

impl AsyncRead for MailStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MailStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_flush(cx),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

pub type Session = async_imap::Session<MailStream>;

/// A special-use role (RFC 6154) a folder plays: read from servers' LIST answers, and
/// announced by the rehearsal's server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpecialUse {
    Sent,
    Drafts,
    Trash,
    Junk,
    Archive,
    /// A virtual folder showing every message (Gmail's "All Mail").
    All,
    /// A virtual folder showing the flagged messages (Gmail's "Starred").
    Flagged,
}

impl SpecialUse {
    /// The LIST attribute without its backslash (`Sent` for `\Sent`).
    pub fn attribute(self) -> &'static str {
        match self {
            SpecialUse::Sent => "Sent",
            SpecialUse::Drafts => "Drafts",
            SpecialUse::Trash => "Trash",
            SpecialUse::Junk => "Junk",
            SpecialUse::Archive => "Archive",
            SpecialUse::All => "All",
            SpecialUse::Flagged => "Flagged",
        }
    }
}

/// One folder as LIST shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderName {
    /// The name on the wire (modified UTF-7), used in commands.
    pub wire: String,
    /// The name in UTF-8, for people and for mapping.
    pub name: String,
    pub delimiter: Option<String>,
    pub special_use: Option<SpecialUse>,
    pub selectable: bool,
}

/// A folder's STATUS counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FolderStatus {
    pub messages: u32,
    pub uidnext: u32,
    pub uidvalidity: u32,
}

/// A logged-in IMAP connection for one mailbox on one side.
pub struct Imap {
    pub session: Session,
    pub place: Place,
    pub timeouts: Timeouts,
    /// Capabilities after login, upper-case.
    pub capabilities: Vec<String>,
}

impl fmt::Debug for Imap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Imap")
            .field("place", &self.place)
            .finish_non_exhaustive()
    }
}

/// Runs one IMAP step under a time limit, classifying its failure.
pub(crate) async fn timed<T>(
    place: &Place,
    during: &str,
    limit: Duration,
    fut: impl Future<Output = async_imap::error::Result<T>>,
) -> Result<T, MailError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(MailError::from_imap(place, during, &e)),
        Err(_) => Err(MailError::Timeout {
            place: place.clone(),
            during: during.to_string(),
            seconds: limit.as_secs(),
        }),
    }
}

/// A LIST answer as cutover names a folder: wire and decoded name, role, selectable.
fn folder_name(
    wire: &str,
    delimiter: Option<&str>,
    attributes: &[NameAttribute<'_>],
) -> FolderName {
    let mut special_use = None;
    let mut selectable = true;
    for a in attributes {
        match a {
            NameAttribute::NoSelect => selectable = false,
            NameAttribute::Extension(e) if e.eq_ignore_ascii_case("\\NonExistent") => {
                selectable = false
            }
            NameAttribute::Sent => special_use = Some(SpecialUse::Sent),
            NameAttribute::Drafts => special_use = Some(SpecialUse::Drafts),
            NameAttribute::Trash => special_use = Some(SpecialUse::Trash),
            NameAttribute::Junk => special_use = Some(SpecialUse::Junk),
            NameAttribute::Archive => special_use = Some(SpecialUse::Archive),
            NameAttribute::All => special_use = Some(SpecialUse::All),
            NameAttribute::Flagged => special_use = Some(SpecialUse::Flagged),
            _ => {}
        }
    }
    let wire = unescape(wire);
    FolderName {
        name: utf7::decode(&wire),
        wire,
        delimiter: delimiter.map(unescape),
        special_use,
        selectable,
    }
}

/// A name as the server meant it. imap-proto hands a quoted string over with its escapes
/// (`"Bills\\2026"` gives `Bills\\2026`), so a folder whose name holds `\` or `"` would be
/// asked for under another name (async-imap quotes again) and refused. Servers send a
/// literal only for CR, LF or 8-bit bytes, which modified UTF-7 names do not hold.
fn unescape(quoted: &str) -> String {
    let mut out = String::with_capacity(quoted.len());
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some(next @ ('\\' | '"'))) => {
                out.push(next);
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// A name as an IMAP quoted string (RFC 3501 9: `\\` and `"` escaped); CR and LF cannot be.
fn quote(name: &str) -> Result<String, async_imap::error::ValidateError> {
    if let Some(bad) = name.chars().find(|c| matches!(c, '\r' | '\n')) {
        return Err(async_imap::error::ValidateError(bad));
    }
    Ok(format!(
        "\"{}\"",
        name.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// INBOX first, then by name: stable output for people and tests.
fn sort_folders(folders: &mut [FolderName]) {
    folders.sort_by(|a, b| {
        (!a.wire.eq_ignore_ascii_case("INBOX"), &a.name)
            .cmp(&(!b.wire.eq_ignore_ascii_case("INBOX"), &b.name))
    });
}

/// MESSAGES, UIDNEXT and UIDVALIDITY from a STATUS answer (0 where the server left one out).
fn folder_status(attributes: &[StatusAttribute]) -> FolderStatus {
    let mut status = FolderStatus {
        messages: 0,
        uidnext: 0,
        uidvalidity: 0,
    };
    for a in attributes {
        match a {
            StatusAttribute::Messages(n) => status.messages = *n,
            StatusAttribute::UidNext(n) => status.uidnext = *n,
            StatusAttribute::UidValidity(n) => status.uidvalidity = *n,
            _ => {}
        }
    }
    status
}

impl Imap {
    pub fn has_capability(&self, cap: &str) -> bool {
        self.capabilities
            .iter()
            .any(|c| c.eq_ignore_ascii_case(cap))
    }

    /// Every folder (LIST "" "*"), with special-use roles.
    pub async fn folders(&mut self) -> Result<Vec<FolderName>, MailError> {
        let limit = self.timeouts.command;
        let session = &mut self.session;
        let names = timed(&self.place, "LIST", limit, async {
            let stream = session.list(Some(""), Some("*")).await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
        let mut folders: Vec<FolderName> = names
            .iter()
            .map(|n| folder_name(n.name(), n.delimiter(), n.attributes()))
            .collect();
        sort_folders(&mut folders);
        Ok(folders)
    }

    /// Every folder with its counters (`None` for one that cannot be selected). One round
    /// trip where the server offers LIST-STATUS (RFC 5819), instead of one per folder: over
    /// a 40 ms link, a mailbox of 20 folders answers in 40 ms instead of 840 ms.
    pub async fn folders_with_status(
        &mut self,
    ) -> Result<Vec<(FolderName, Option<FolderStatus>)>, MailError> {
        let mut answered = std::collections::HashMap::new();
        let extended = if self.has_capability("LIST-STATUS") {
            self.list_with_status(&mut answered).await?
        } else {
            None
        };
        let mut folders = match extended {
            Some(folders) => folders,
            None => self.folders().await?,
        };
        sort_folders(&mut folders);
        let mut out = Vec::with_capacity(folders.len());
        for f in folders {
            let status = if !f.selectable {
                None
            } else if let Some(s) = answered.remove(&f.wire) {
                Some(s)
            } else {
                // Not offered, or the server left this folder out of its answer.
                Some(self.status(&f.wire).await?)
            };
            out.push((f, status));
        }
        Ok(out)
    }

    /// `LIST … RETURN (STATUS …)`: the folders, with each answered STATUS put in `answered`.
    /// `None` when the server refuses the extended form although it offers LIST-STATUS
    /// (NO or BAD): the caller asks the plain way, as for a server that does not offer it.
    async fn list_with_status(
        &mut self,
        answered: &mut std::collections::HashMap<String, FolderStatus>,
    ) -> Result<Option<Vec<FolderName>>, MailError> {
        let limit = self.timeouts.command;
        // An extended LIST names the roles only when asked to (RFC 6154, 5.1).
        let roles = if self.has_capability("SPECIAL-USE") {
            "SPECIAL-USE "
        } else {
            ""
        };
        let command =
            format!(r#"LIST "" "*" RETURN ({roles}STATUS (MESSAGES UIDNEXT UIDVALIDITY))"#);
        let session = &mut self.session;
        let answer = timed(&self.place, "LIST … RETURN (STATUS)", limit, async {
            let tag = session.run_command(&command).await?;
            let mut folders = Vec::new();
            loop {
                let Some(response) = session.read_response().await? else {
                    return Err(async_imap::error::Error::ConnectionLost);
                };
                match response.parsed() {
                    Response::MailboxData(MailboxDatum::List(list)) => folders.push(folder_name(
                        &list.name,
                        list.delimiter.as_deref(),
                        &list.name_attributes,
                    )),
                    Response::MailboxData(MailboxDatum::Status { mailbox, status }) => {
                        answered.insert(unescape(mailbox), folder_status(status));
                    }
                    Response::Done {
                        tag: done,
                        status,
                        outcome,
                    } if *done == tag => {
                        return Ok(match status {
                            Status::Ok => Ok(folders),
                            _ => Err(outcome_text(
                                outcome.code.as_ref(),
                                outcome.information.as_deref(),
                            )),
                        });
                    }
                    // Anything else (an untagged OK, a CAPABILITY) holds no counter.
                    _ => {}
                }
            }
        })
        .await?;
        match answer {
            Ok(folders) => Ok(Some(folders)),
            Err(refusal) => {
                tracing::debug!(place = %self.place, refusal = %sanitize(&refusal), "LIST-STATUS refused; listing the plain way");
                answered.clear();
                Ok(None)
            }
        }
    }

    /// MESSAGES, UIDNEXT and UIDVALIDITY of a folder, without selecting it. Asked by hand:
    /// async-imap's `status` compares the answer's (escaped) name with the asked one, so
    /// for a name holding `\\` or `"` it drops the answer and gives zeros.
    pub async fn status(&mut self, wire: &str) -> Result<FolderStatus, MailError> {
        let limit = self.timeouts.command;
        let during = format!("STATUS {}", sanitize(&utf7::decode(wire)));
        let session = &mut self.session;
        timed(&self.place, &during, limit, async {
            let command = format!("STATUS {} (MESSAGES UIDNEXT UIDVALIDITY)", quote(wire)?);
            let tag = session.run_command(&command).await?;
            let mut answer = None;
            loop {
                let Some(response) = session.read_response().await? else {
                    return Err(async_imap::error::Error::ConnectionLost);
                };
                match response.parsed() {
                    Response::MailboxData(MailboxDatum::Status { mailbox, status })
                        if unescape(mailbox) == wire =>
                    {
                        answer = Some(folder_status(status));
                    }
                    Response::Done {
                        tag: done,
                        status,
                        outcome,
                    } if *done == tag => {
                        let refusal =
                            || outcome_text(outcome.code.as_ref(), outcome.information.as_deref());
                        return match (status, answer) {
                            (Status::Ok, Some(answer)) => Ok(answer),
                            (Status::Ok, None) => Err(async_imap::error::Error::Bad(
                                "the server answered OK without the folder's STATUS".into(),
                            )),
                            (Status::No, _) => Err(async_imap::error::Error::No(refusal())),
                            _ => Err(async_imap::error::Error::Bad(refusal())),
                        };
                    }
                    _ => {}
                }
            }
        })
        .await
    }

    /// Ends the session politely; errors are irrelevant by then.
    pub async fn logout(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.session.logout()).await;
    }
}

/// Connects, protects, greets and logs in.
pub async fn connect(
    endpoint: &ImapEndpoint,
    place: &Place,
    login: &Login,
    timeouts: Timeouts,
) -> Result<Imap, MailError> {
    let unreachable = |detail: String| MailError::Unreachable {
        place: place.clone(),
        detail,
    };
    let tcp = match tokio::time::timeout(
        timeouts.connect,
        TcpStream::connect((endpoint.host.as_str(), endpoint.port)),
    )
    .await
    {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(e)) => return Err(unreachable(e.to_string())),
        Err(_) => {
            return Err(unreachable(format!(
                "no connection within {} s",
                timeouts.connect.as_secs()
            )));
        }
    };
    let _ = tcp.set_nodelay(true);
    let stream = match endpoint.security {
        Security::None => MailStream::Plain(tcp),
        Security::Implicit => {
            let tls = handshake(endpoint, place, tcp, timeouts).await?;
            MailStream::Tls(Box::new(tls))
        }
        Security::StartTls => {
            let tcp = starttls_preamble(tcp, place, timeouts).await?;
            let tls = handshake(endpoint, place, tcp, timeouts).await?;
            MailStream::Tls(Box::new(tls))
        }
    };
    let mut client = async_imap::Client::new(stream);
    if endpoint.security != Security::StartTls {
        read_greeting(&mut client, place, timeouts).await?;
    }
    let (mut session, from_login) = authenticate(client, place, login, timeouts).await?;
    let capabilities = match from_login {
        Some(caps) => caps,
        None => {
            timed(
                place,
                "CAPABILITY",
                timeouts.command,
                session.capabilities(),
            )
            .await?
        }
    };
    let capabilities = capabilities
        .iter()
        .map(|c| match c {
            async_imap::types::Capability::Imap4rev1 => "IMAP4REV1".to_string(),
            async_imap::types::Capability::Auth(a) => format!("AUTH={}", a.to_ascii_uppercase()),
            async_imap::types::Capability::Atom(a) => a.to_ascii_uppercase(),
        })
        .collect();
    Ok(Imap {
        session,
        place: place.clone(),
        timeouts,
        capabilities,
    })
}

async fn read_greeting(
    client: &mut async_imap::Client<MailStream>,
    place: &Place,
    timeouts: Timeouts,
) -> Result<(), MailError> {
    let unreachable = |detail: String| MailError::Unreachable {
        place: place.clone(),
        detail,
    };
    let greeting = match tokio::time::timeout(timeouts.greeting, client.read_response()).await {
        Err(_) => return Err(unreachable("no greeting from the server".to_string())),
        Ok(Err(e)) => return Err(unreachable(format!("reading the greeting: {e}"))),
        Ok(Ok(None)) => {
            return Err(unreachable(
                "connection closed before the greeting".to_string(),
            ));
        }
        Ok(Ok(Some(g))) => g,
    };
    match greeting.parsed() {
        Response::Data {
            status: Status::Ok | Status::PreAuth,
            ..
        } => Ok(()),
        Response::Data {
            status: Status::Bye,
            outcome,
        } => {
            let text = outcome_text(outcome.code.as_ref(), outcome.information.as_deref());
            if is_throttling_text(&text) {
                Err(MailError::Throttled {
                    place: place.clone(),
                    detail: text,
                })
            } else {
                Err(unreachable(format!("server said BYE: {text}")))
            }
        }
        Response::Data { status, outcome } => Err(unreachable(format!(
            "unexpected greeting: {} {}",
            match status {
                Status::No => "NO",
                Status::Bad => "BAD",
                _ => "(another status)",
            },
            outcome_text(outcome.code.as_ref(), outcome.information.as_deref())
        ))),
        _ => Err(unreachable(
            "unexpected greeting: not an OK, PREAUTH or BYE line".to_string(),
        )),
    }
}

/// Reads one CRLF line byte by byte, so nothing sent before TLS is ever buffered past it.
async fn read_line(tcp: &mut TcpStream) -> io::Result<String> {
    let mut line = Vec::new();
    loop {
        let b = tcp.read_u8().await?;
        line.push(b);
        if b == b'\n' {
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
        if line.len() > 16 * 1024 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
        }
    }
}

/// Greeting, CAPABILITY and STARTTLS in the clear; refuses if STARTTLS is not offered.
async fn starttls_preamble(
    mut tcp: TcpStream,
    place: &Place,
    timeouts: Timeouts,
) -> Result<TcpStream, MailError> {
    let unreachable = |detail: String| MailError::Unreachable {
        place: place.clone(),
        detail,
    };
    let greeting = tokio::time::timeout(timeouts.greeting, read_line(&mut tcp))
        .await
        .map_err(|_| unreachable("no greeting from the server".to_string()))?
        .map_err(|e| unreachable(format!("reading the greeting: {e}")))?;
    if !greeting.starts_with("* OK") {
        return Err(unreachable(format!(
            "unexpected greeting: {}",
            sanitize(greeting.trim_end())
        )));
    }
    let exchange = async {
        tcp.write_all(b"s1 CAPABILITY\r\n").await?;
        let mut offered = false;
        loop {
            let line = read_line(&mut tcp).await?;
            if line.to_ascii_uppercase().starts_with("* CAPABILITY")
                && line
                    .to_ascii_uppercase()
                    .split_whitespace()
                    .any(|w| w == "STARTTLS")
            {
                offered = true;
            }
            if line.starts_with("s1 ") {
                break;
            }
        }
        if !offered {
            return Ok(false);
        }
        tcp.write_all(b"s2 STARTTLS\r\n").await?;
        loop {
            let line = read_line(&mut tcp).await?;
            if line.starts_with("s2 ") {
                return if line.to_ascii_uppercase().starts_with("S2 OK") {
                    Ok(true)
                } else {
                    Err(io::Error::other(format!(
                        "STARTTLS refused: {}",
                        line.trim_end()
                    )))
                };
            }
        }
    };
    let offered = tokio::time::timeout(timeouts.login, exchange)
        .await
        .map_err(|_| unreachable("no answer to STARTTLS".to_string()))?
        .map_err(|e| MailError::Tls {
            place: place.clone(),
            detail: sanitize(&e.to_string()),
        })?;
    if !offered {
        return Err(MailError::Tls {
            place: place.clone(),
            detail: "the server does not offer STARTTLS; refusing to log in without TLS (write `tls = \"none\"` in the plan only for a trusted network)".to_string(),
        });
    }
    Ok(tcp)
}

/// How this endpoint's certificate is trusted: a pin wins (it names exactly one
/// certificate, whatever else the plan says), then `insecure_skip_verify`, then the system's
/// roots plus `ca_file`.
pub fn trust(endpoint: &ImapEndpoint) -> Result<Trust, TlsError> {
    if let Some(pin) = &endpoint.pin_sha256 {
        return Ok(Trust::Pinned(Fingerprint::parse(pin)?));
    }
    if endpoint.insecure_skip_verify {
        return Ok(Trust::Anything);
    }
    Ok(Trust::Roots {
        extra_ca: endpoint.ca_file.clone(),
    })
}

/// The TLS handshake; a failure says why and what the server served (fingerprint,
/// subject, expiry), so the operator can check it by another channel and pin it.
async fn handshake(
    endpoint: &ImapEndpoint,
    place: &Place,
    tcp: TcpStream,
    timeouts: Timeouts,
) -> Result<TlsStream<TcpStream>, MailError> {
    let tls_failed = |detail: String| MailError::Tls {
        place: place.clone(),
        detail,
    };
    let trust = trust(endpoint).map_err(|e| tls_failed(e.to_string()))?;
    let (config, served) = tls::watched_tls_config(&trust, &endpoint.host, endpoint.port)
        .map_err(|e| tls_failed(e.to_string()))?;
    let name = ServerName::try_from(endpoint.host.clone())
        .map_err(|e| tls_failed(format!("server name {}: {e}", sanitize(&endpoint.host))))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    match tokio::time::timeout(timeouts.greeting, connector.connect(name, tcp)).await {
        Ok(Ok(tls)) => {
            let resumed = tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
            tracing::debug!(host = %sanitize(&endpoint.host), port = endpoint.port, resumed, "TLS handshake done");
            Ok(tls)
        }
        Ok(Err(e)) => Err(tls_failed(tls::describe_failure(
            &e,
            &trust,
            served.summary().as_ref(),
        ))),
        Err(_) => Err(tls_failed("TLS handshake timed out".to_string())),
    }
}

/// SASL PLAIN: `authzid NUL authcid NUL password`.
struct Plain {
    message: Vec<u8>,
}

impl async_imap::Authenticator for Plain {
    type Response = Vec<u8>;
    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        // Sent once; a second challenge gets an empty answer so the server ends the exchange.
        std::mem::take(&mut self.message)
    }
}

impl Drop for Plain {
    fn drop(&mut self) {
        self.message.fill(0);
    }
}

fn sasl_plain(authzid: &str, authcid: &str, password: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(authzid.len() + authcid.len() + password.len() + 2);
    m.extend_from_slice(authzid.as_bytes());
    m.push(0);
    m.extend_from_slice(authcid.as_bytes());
    m.push(0);
    m.extend_from_slice(password.as_bytes());
    m
}

/// The XOAUTH2 initial response (Google's and Microsoft's format).
pub(crate) fn xoauth2_message(user: &str, token: &str) -> Vec<u8> {
    format!("user={user}\x01auth=Bearer {token}\x01\x01").into_bytes()
}

async fn authenticate(
    client: async_imap::Client<MailStream>,
    place: &Place,
    login: &Login,
    timeouts: Timeouts,
) -> Result<(Session, Option<async_imap::types::Capabilities>), MailError> {
    let secret = login.secret.expose();
    let attempt = async {
        match &login.method {
            // LOGIN's answer usually carries the capabilities: one round trip saved.
            AuthMethod::Password | AuthMethod::Login => {
                client.login_with_capabilities(&login.user, secret).await
            }
            AuthMethod::Master { admin } => {
                client
                    .login_with_capabilities(format!("{}*{admin}", login.user), secret)
                    .await
            }
            AuthMethod::Plain => {
                let message = sasl_plain("", &login.user, secret);
                client
                    .authenticate("PLAIN", Plain { message })
                    .await
                    .map(|s| (s, None))
            }
            AuthMethod::Authzid { admin } => {
                let message = sasl_plain(&login.user, admin, secret);
                client
                    .authenticate("PLAIN", Plain { message })
                    .await
                    .map(|s| (s, None))
            }
            AuthMethod::XOAuth2 => {
                let message = xoauth2_message(&login.user, secret);
                client
                    .authenticate("XOAUTH2", Plain { message })
                    .await
                    .map(|s| (s, None))
            }
        }
    };
    match tokio::time::timeout(timeouts.login, attempt).await {
        Err(_) => Err(MailError::Timeout {
            place: place.clone(),
            during: "login".to_string(),
            seconds: timeouts.login.as_secs(),
        }),
        Ok(Ok(session)) => Ok(session),
        Ok(Err((e, _client))) => {
            // The server's text never contains the password (it is never echoed); sanitised anyway.
            let detail = server_text(&e);
            Err(match e {
                _ if is_throttling_text(&detail) => MailError::Throttled {
                    place: place.clone(),
                    detail,
                },
                async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_) => {
                    MailError::Auth {
                        place: place.clone(),
                        login: login.shown_as(),
                        detail,
                    }
                }
                async_imap::error::Error::Validate(_) => MailError::Credentials {
                    place: place.clone(),
                    detail: "the login or password contains a line break".to_string(),
                },
                _ => MailError::Protocol {
                    place: place.clone(),
                    during: "login".to_string(),
                    detail,
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_messages() {
        assert_eq!(sasl_plain("alice", "admin", "pw"), b"alice\0admin\0pw");
        assert_eq!(
            xoauth2_message("a@b.c", "tok"),
            b"user=a@b.c\x01auth=Bearer tok\x01\x01".to_vec()
        );
    }

    #[test]
    fn a_quoted_name_loses_its_escapes_only() {
        assert_eq!(unescape(r#"Bills\\2026 \"Q1\""#), r#"Bills\2026 "Q1""#);
        assert_eq!(unescape(r"a\b"), r"a\b", "a lone backslash is kept");
        assert_eq!(unescape("\\"), "\\");
        assert_eq!(unescape("trailing\\"), "trailing\\");
        let name = r#"Bills\2026 "Q1""#;
        assert_eq!(quote(name).unwrap(), r#""Bills\\2026 \"Q1\"""#);
        assert!(quote("a\r\nb").is_err(), "a line break cannot be quoted");
    }
}
