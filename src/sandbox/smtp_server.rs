//! The rehearsal's SMTP servers: enough of RFC 5321 (and RFC 4954 AUTH PLAIN) for cutover's
//! probe and canaries, one session engine for two roles.
//!
//! - [`SmtpServer`], the new MX on port "25": it accepts the addresses it is given (the new
//!   provider's mailboxes and aliases) and refuses every other with a 550, as a real MX does;
//!   with an [`Inbound`] it takes the message (`DATA`) and hands it on (the new server's
//!   INBOX), else `DATA` is refused (the probe never sends it).
//! - the submission servers of `super::provider` run the same session behind implicit TLS,
//!   with AUTH PLAIN required before `MAIL`, relaying to any address.
//!
//! During a rehearsed outage of the new provider ([`Outage`]) the new MX answers every
//! `RCPT TO` with a 4xx, as the rehearsal's senders then hear it too (`mailflow`): they
//! defer and retry.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::imap::Mailstore;

/// The longest command line read; a longer one ends the session.
const MAX_LINE: usize = 1024;
/// The largest message taken (canaries and test mail are a few kB).
pub(crate) const MAX_MESSAGE: usize = 1024 * 1024;

/// One message as the session took it.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    /// The name the client gave in EHLO/HELO.
    pub helo: String,
    /// The connecting address.
    pub peer: IpAddr,
    /// `MAIL FROM`, without angle brackets (empty for `<>`).
    pub mail_from: String,
    /// `RCPT TO` addresses, lower case.
    pub rcpts: Vec<String>,
    /// The user AUTH logged in as (submission).
    pub login: Option<String>,
}

/// What a server does with a message it accepted (`DATA`).
#[async_trait::async_trait]
pub(crate) trait Inbound: Send + Sync {
    /// Stores or relays `raw` (dot-unstuffed, CRLF line ends); `Ok` is the text of the 250
    /// reply, `Err` a whole failure reply (`554 5.x.x …`).
    async fn take(&self, envelope: &Envelope, raw: Vec<u8>) -> Result<String, String>;
}

/// The new MX's reply while the new provider is broken, shared by its SMTP server and the
/// rehearsal's senders: `None` while it works.
#[derive(Debug, Clone, Default)]
pub struct Outage(Arc<Mutex<Option<String>>>);

/// What the broken new MX answers to every message (`cutover demo --mistake
/// new-server-breaks`, and the rehearsal console's key).
pub const OUTAGE_REPLY: &str =
    "451 4.3.0 Temporary failure: the mail store is unavailable, try again later";

impl Outage {
    /// From now on every message is answered with `reply` (a 4xx: senders retry).
    pub fn begin(&self, reply: &str) {
        if let Ok(mut now) = self.0.lock() {
            *now = Some(reply.to_string());
        }
    }

    /// The reply every message gets now, if the server is broken.
    pub fn reply(&self) -> Option<String> {
        self.0.lock().ok().and_then(|now| now.clone())
    }
}

/// How one kind of server behaves in a session.
#[derive(Clone)]
pub(crate) struct Policy {
    /// The name it greets with and writes in `Received`.
    pub host: String,
    /// The addresses `RCPT TO` accepts; `None`: any (submission, once logged in).
    pub accepted: Option<Arc<Mutex<HashSet<String>>>>,
    /// AUTH PLAIN against these users is required before `MAIL`.
    pub auth: Option<Mailstore>,
    /// Where accepted messages go; `None`: `DATA` is refused.
    pub inbound: Option<Arc<dyn Inbound>>,
    /// The new MX's outage: while it stands every `RCPT TO` gets its 4xx.
    pub outage: Outage,
}

/// A running SMTP responder on 127.0.0.1; stops when dropped.
pub struct SmtpServer {
    addr: SocketAddr,
    accepted: Arc<Mutex<HashSet<String>>>,
    outage: Outage,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpServer {
    /// Listens on an ephemeral loopback port, greeting as `host`, accepting `addresses`;
    /// it takes no message.
    pub async fn start(host: &str, addresses: &[String]) -> std::io::Result<SmtpServer> {
        SmtpServer::start_with(host, addresses, None).await
    }

    /// As [`SmtpServer::start`], and each message sent to an accepted address is handed
    /// to `inbound`.
    pub(crate) async fn start_with(
        host: &str,
        addresses: &[String],
        inbound: Option<Arc<dyn Inbound>>,
    ) -> std::io::Result<SmtpServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let accepted = Arc::new(Mutex::new(
            addresses.iter().map(|a| a.to_lowercase()).collect(),
        ));
        let outage = Outage::default();
        let policy = Policy {
            host: host.trim_end_matches('.').to_string(),
            accepted: Some(accepted.clone()),
            auth: None,
            inbound,
            outage: outage.clone(),
        };
        let task = tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                tokio::spawn(session(stream, peer.ip(), policy.clone()));
            }
        });
        Ok(SmtpServer {
            addr,
            accepted,
            outage,
            task,
        })
    }

    /// Its outage, shared with the senders that deliver to it.
    pub fn outage(&self) -> Outage {
        self.outage.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The provider creates an address (a mailbox or an alias): accepted from now on.
    pub fn accept(&self, address: &str) {
        if let Ok(mut set) = self.accepted.lock() {
            set.insert(address.to_lowercase());
        }
    }

    /// The provider removes an address: refused from now on.
    pub fn refuse(&self, address: &str) {
        if let Ok(mut set) = self.accepted.lock() {
            set.remove(&address.to_lowercase());
        }
    }

    /// Whether the address is accepted now.
    pub fn accepts(&self, address: &str) -> bool {
        self.accepted
            .lock()
            .is_ok_and(|set| set.contains(&address.to_lowercase()))
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One SMTP session on `stream` (plain TCP, or TLS already set up by the caller).
pub(crate) async fn session<S>(stream: S, peer: IpAddr, policy: Policy)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = BufReader::new(read);
    let host = policy.host.clone();
    if write
        .write_all(format!("220 {host} ESMTP cutover rehearsal\r\n").as_bytes())
        .await
        .is_err()
    {
        return;
    }
    let mut envelope = Envelope {
        helo: String::new(),
        peer,
        mail_from: String::new(),
        rcpts: Vec::new(),
        login: None,
    };
    let mut in_transaction = false;
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(n) if n > MAX_LINE => {
                let _ = write.write_all(b"500 5.5.2 line too long\r\n").await;
                return;
            }
            Ok(_) => {}
        }
        let command = line.trim_end().to_string();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" | "HELO" => {
                envelope.helo = command
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string();
                if verb == "HELO" {
                    format!("250 {host}\r\n")
                } else if policy.auth.is_some() {
                    format!("250-{host}\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 AUTH PLAIN\r\n")
                } else {
                    format!("250-{host}\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
                }
            }
            "AUTH" => match &policy.auth {
                None => "502 5.5.1 AUTH not available here\r\n".to_string(),
                Some(_) if envelope.login.is_some() => {
                    "503 5.5.1 already authenticated\r\n".to_string()
                }
                Some(users) => {
                    let mut words = command.split_whitespace().skip(1);
                    if !words
                        .next()
                        .is_some_and(|m| m.eq_ignore_ascii_case("PLAIN"))
                    {
                        "504 5.5.4 only AUTH PLAIN\r\n".to_string()
                    } else {
                        let initial = match words.next() {
                            Some(initial) => Some(initial.to_string()),
                            None => {
                                if write.write_all(b"334 \r\n").await.is_err() {
                                    return;
                                }
                                line.clear();
                                match lines.read_line(&mut line).await {
                                    Ok(n) if n > 0 && n <= MAX_LINE => {
                                        Some(line.trim_end().to_string())
                                    }
                                    _ => return,
                                }
                            }
                        };
                        match initial.as_deref().and_then(|i| plain(users, i)) {
                            Some(user) => {
                                envelope.login = Some(user);
                                "235 2.7.0 Authentication successful\r\n".to_string()
                            }
                            None => "535 5.7.8 Authentication credentials invalid\r\n".to_string(),
                        }
                    }
                }
            },
            "MAIL" if policy.auth.is_some() && envelope.login.is_none() => {
                "530 5.7.0 Authentication required\r\n".to_string()
            }
            "MAIL" => match path(&command) {
                Some(from) => {
                    envelope.mail_from = from;
                    envelope.rcpts.clear();
                    in_transaction = true;
                    "250 2.1.0 Ok\r\n".to_string()
                }
                None => "501 5.5.4 write MAIL FROM:<address>\r\n".to_string(),
            },
            "RCPT" if policy.outage.reply().is_some() => {
                format!("{}\r\n", policy.outage.reply().unwrap_or_default())
            }
            "RCPT" => match path(&command) {
                None => "501 5.5.4 write RCPT TO:<address>\r\n".to_string(),
                Some(address) => {
                    let known = match &policy.accepted {
                        None => true,
                        Some(set) => set
                            .lock()
                            .is_ok_and(|set| set.contains(&address.to_lowercase())),
                    };
                    if !known {
                        format!(
                            "550 5.1.1 <{address}>: Recipient address rejected: User unknown\r\n"
                        )
                    } else if !in_transaction {
                        "503 5.5.1 MAIL first\r\n".to_string()
                    } else {
                        envelope.rcpts.push(address.to_lowercase());
                        "250 2.1.5 Ok\r\n".to_string()
                    }
                }
            },
            "DATA" => match &policy.inbound {
                None => "554 5.5.1 this rehearsal server takes no message\r\n".to_string(),
                Some(_) if !in_transaction || envelope.rcpts.is_empty() => {
                    "503 5.5.1 RCPT first\r\n".to_string()
                }
                Some(inbound) => {
                    if write
                        .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                    let Some(raw) = read_data(&mut lines).await else {
                        let _ = write.write_all(b"552 5.3.4 message too big\r\n").await;
                        return;
                    };
                    in_transaction = false;
                    match inbound.take(&envelope, raw).await {
                        Ok(text) => format!("250 2.0.0 {text}\r\n"),
                        Err(reply) => format!("{reply}\r\n"),
                    }
                }
            },
            "RSET" => {
                in_transaction = false;
                envelope.rcpts.clear();
                "250 2.0.0 Ok\r\n".to_string()
            }
            "NOOP" => "250 2.0.0 Ok\r\n".to_string(),
            "QUIT" => {
                let _ = write.write_all(b"221 2.0.0 Bye\r\n").await;
                return;
            }
            _ => "502 5.5.2 command not recognised\r\n".to_string(),
        };
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// AUTH PLAIN's `authzid NUL authcid NUL password` checked against `users`.
fn plain(users: &Mailstore, initial: &str) -> Option<String> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(initial)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let mut parts = text.split('\0');
    let (authzid, authcid, password) = (parts.next()?, parts.next()?, parts.next()?);
    users.check_plain(authzid, authcid, password)
}

/// The address of `MAIL FROM:<…>` or `RCPT TO:<…>` (parameters after it ignored).
fn path(command: &str) -> Option<String> {
    command
        .split_once(':')
        .map(|(_, rest)| rest.trim())
        .and_then(|rest| rest.strip_prefix('<'))
        .and_then(|rest| rest.split_once('>'))
        .map(|(address, _)| address.to_string())
}

/// The message after `354`, up to the line with a single dot, dot-unstuffed; `None` when
/// it is larger than [`MAX_MESSAGE`] or the connection ends first.
async fn read_data<R: tokio::io::AsyncBufRead + Unpin>(lines: &mut R) -> Option<Vec<u8>> {
    let mut raw = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = lines.read_until(b'\n', &mut line).await.ok()?;
        if n == 0 {
            return None;
        }
        if line == b".\r\n" || line == b".\n" {
            return Some(raw);
        }
        let body = line.strip_prefix(b".").unwrap_or(&line);
        raw.extend_from_slice(body);
        if raw.len() > MAX_MESSAGE {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_probe_hears_accepted_and_refused_addresses() {
        let server = SmtpServer::start("mx.new-host.test", &["a@x.test".to_string()])
            .await
            .expect("start");
        let target =
            crate::smtp::MxTarget::at("mx.new-host.test.", "127.0.0.1", server.addr().port());
        let options = crate::smtp::ProbeOptions::new(crate::smtp::tls_config(None).expect("tls"));
        let asked = ["a@x.test".to_string(), "b@x.test".to_string()];
        let ask = || {
            crate::smtp::probe_host(
                &target,
                "x.test",
                &asked,
                &options,
                &crate::clock::SystemClock,
            )
        };
        let probe = ask().await;
        assert_eq!(probe.hosts[0].accepts_anything, Some(false), "{probe:?}");
        assert_eq!(probe.answers[0].accepts, Some(true), "{probe:?}");
        assert_eq!(probe.answers[1].accepts, Some(false), "{probe:?}");
        assert!(probe.answers[1].reply.starts_with("550 5.1.1 <b@x.test>"));

        server.accept("B@x.test");
        assert!(server.accepts("b@x.test"));
        let probe = ask().await;
        assert!(probe.answers.iter().all(|a| a.accepts == Some(true)));

        // Broken: every address gets the 4xx, so the probe has no definite answer and the
        // check is no longer a pass.
        server.outage().begin(OUTAGE_REPLY);
        let probe = ask().await;
        assert!(
            probe.answers.iter().all(|a| a.accepts.is_none()),
            "{probe:?}"
        );
        assert!(probe.answers[0].reply.starts_with("451 4.3.0"), "{probe:?}");
        let check = crate::smtp::checks::new_mx_accepts(&probe, &asked);
        assert_eq!(
            check.status,
            crate::check::Status::Unknown,
            "{}",
            check.evidence
        );
        assert!(check.evidence.contains("451 4.3.0"), "{}", check.evidence);
    }

    #[tokio::test]
    async fn data_is_dot_unstuffed_up_to_the_lone_dot() {
        let input: &[u8] = b"Subject: x\r\n\r\n..leading dot\r\nbody\r\n.\r\nQUIT\r\n";
        let mut reader = tokio::io::BufReader::new(input);
        let raw = read_data(&mut reader).await.expect("a message");
        assert_eq!(raw, b"Subject: x\r\n\r\n.leading dot\r\nbody\r\n");
        let cut: &[u8] = b"Subject: x\r\n\r\nno end";
        let mut reader = tokio::io::BufReader::new(cut);
        assert_eq!(read_data(&mut reader).await, None);
    }
}
