//! The probe: one SMTP session per new MX host asking `RCPT TO` for every address,
//! and for one made-up address, then `RSET` and `QUIT`. It never sends `DATA`.
//!
//! Per host: connect, banner, `EHLO`, `STARTTLS` when offered (certificate verified
//! for the MX host name; when TLS fails the host is asked again without it, as a
//! sending server would), `EHLO` again, then `MAIL FROM:<>` and at most
//! [`MAX_RECIPIENTS_PER_TRANSACTION`] `RCPT TO` per transaction (`RSET` between).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::clock::Clock;
use crate::sanitize::sanitize;
use crate::smtp::error::SmtpError;
use crate::smtp::model::{AddressAnswer, HostReport, SmtpProbe};
use crate::smtp::reply::{MAX_LINE_BYTES, MAX_REPLY_LINES, Reply, parse_line, quote_line};
use crate::smtp::tls::days_left;

/// RFC 5321 4.5.3.1.8 lets a server refuse more than 100 recipients; we stay well under.
pub const MAX_RECIPIENTS_PER_TRANSACTION: usize = 50;

/// One new MX host to ask, and where to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxTarget {
    /// The MX host name: named in the results, and the name its certificate must carry.
    pub host: String,
    /// Where to connect: a name or an IP address (the host itself unless the plan
    /// says otherwise, e.g. a test server or a provider's separate inbound host).
    pub connect_to: String,
    pub port: u16,
}

impl MxTarget {
    /// The host itself, on port 25.
    pub fn new(host: &str) -> MxTarget {
        MxTarget {
            host: host.to_string(),
            connect_to: host.trim_end_matches('.').to_string(),
            port: 25,
        }
    }

    /// The host reached at another address and port; its certificate is still
    /// verified for `host`.
    pub fn at(host: &str, connect_to: &str, port: u16) -> MxTarget {
        MxTarget {
            host: host.to_string(),
            connect_to: connect_to.to_string(),
            port,
        }
    }
}

/// How long each phase may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    /// Until the banner (servers that tarpit delay it on purpose).
    pub banner: Duration,
    /// Every command's answer, and the TLS handshake.
    pub command: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(10),
            banner: Duration::from_secs(30),
            command: Duration::from_secs(30),
        }
    }
}

/// How to probe.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// From [`crate::smtp::tls_config`]: the system's roots, plus a CA file in tests.
    pub tls: Arc<rustls::ClientConfig>,
    /// The name we give in `EHLO`; `None` gives our address as a literal
    /// (`[192.0.2.1]`), which servers checking for a fully-qualified name accept.
    pub ehlo_name: Option<String>,
    pub timeouts: Timeouts,
    /// Recipients per transaction, at most [`MAX_RECIPIENTS_PER_TRANSACTION`].
    pub batch_size: usize,
}

impl ProbeOptions {
    pub fn new(tls: Arc<rustls::ClientConfig>) -> ProbeOptions {
        ProbeOptions {
            tls,
            ehlo_name: None,
            timeouts: Timeouts::default(),
            batch_size: MAX_RECIPIENTS_PER_TRANSACTION,
        }
    }
}

/// Probes every host, each on its own single connection, all at once.
pub async fn probe_hosts(
    targets: &[MxTarget],
    domain: &str,
    addresses: &[String],
    options: &ProbeOptions,
    clock: &dyn Clock,
) -> SmtpProbe {
    let probes = targets
        .iter()
        .map(|t| probe_host(t, domain, addresses, options, clock));
    let mut all = SmtpProbe::default();
    for probe in futures_util::future::join_all(probes).await {
        all.hosts.extend(probe.hosts);
        all.answers.extend(probe.answers);
    }
    all
}

/// Probes one host: a report and one answer per address (in the order given).
/// Never fails: what went wrong is in the report and in the answers.
pub async fn probe_host(
    target: &MxTarget,
    domain: &str,
    addresses: &[String],
    options: &ProbeOptions,
    clock: &dyn Clock,
) -> SmtpProbe {
    let probe_address = made_up_address(domain);
    let mut report = HostReport {
        host: target.host.clone(),
        port: target.port,
        at: clock.now(),
        reachable: false,
        banner: None,
        starttls: false,
        cert_valid: None,
        cert_days_left: None,
        tls_error: None,
        probe_address: probe_address.clone(),
        probe_reply: None,
        accepts_anything: None,
        error: None,
    };
    // The made-up address goes first: whether the server accepts anything decides
    // whether any other answer means something.
    let mut asked: Vec<&str> = vec![&probe_address];
    asked.extend(addresses.iter().map(String::as_str));
    let mut answers: Vec<Option<Answer>> = vec![None; asked.len()];

    let mut session = Session {
        target,
        options,
        clock,
        asked: &asked,
        answers: &mut answers,
        report: &mut report,
    };
    let mut outcome = session.run(TlsMode::IfOffered).await;
    if let Err(Ended::TlsFailed(detail)) = &outcome {
        // A sending server falls back to plain text too: the answers still count.
        session.report.cert_valid = Some(false);
        session.report.tls_error = Some(detail.clone());
        outcome = session.run(TlsMode::Never).await;
    }
    let reason = match outcome {
        Ok(()) => None,
        Err(Ended::Stopped(why)) | Err(Ended::TlsFailed(why)) => Some(why),
    };
    report.error = reason.clone();

    let not_asked = |reason: &Option<String>| {
        format!(
            "not asked: {}",
            reason.as_deref().unwrap_or("the session ended")
        )
    };
    if let Some(Some(answer)) = answers.first() {
        report.accepts_anything = answer.accepts;
        report.probe_reply = Some(answer.reply.clone());
    }
    let answers = answers
        .into_iter()
        .zip(&asked)
        .skip(1)
        .map(|(answer, address)| {
            let (accepts, reply) = match answer {
                Some(a) => (a.accepts, a.reply),
                None => (None, not_asked(&reason)),
            };
            AddressAnswer {
                host: target.host.clone(),
                address: address.to_string(),
                accepts,
                reply,
            }
        })
        .collect();
    SmtpProbe {
        hosts: vec![report],
        answers,
    }
}

/// `cutover-probe-<16 hex digits>@domain`: an address no one has.
fn made_up_address(domain: &str) -> String {
    let mut bytes = [0u8; 8];
    let provider = rustls::crypto::ring::default_provider();
    if provider.secure_random.fill(&mut bytes).is_err() {
        // Only needs to be unguessable by the server's configuration, not secret.
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        bytes = h.finish().to_be_bytes();
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "cutover-probe-{hex}@{}",
        domain.trim_end_matches('.').to_ascii_lowercase()
    )
}

/// What one `RCPT TO` told.
#[derive(Debug, Clone)]
struct Answer {
    accepts: Option<bool>,
    reply: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsMode {
    IfOffered,
    Never,
}

/// Why a session stopped before the end, already sanitised.
#[derive(Debug)]
enum Ended {
    /// TLS could not be set up; the host is asked again without it.
    TlsFailed(String),
    Stopped(String),
}

impl From<SmtpError> for Ended {
    fn from(e: SmtpError) -> Ended {
        Ended::Stopped(e.to_string())
    }
}

/// One attempt at asking one host (two when TLS fails).
struct Session<'a> {
    target: &'a MxTarget,
    options: &'a ProbeOptions,
    clock: &'a dyn Clock,
    asked: &'a [&'a str],
    answers: &'a mut [Option<Answer>],
    report: &'a mut HostReport,
}

impl Session<'_> {
    async fn run(&mut self, mode: TlsMode) -> Result<(), Ended> {
        let timeouts = self.options.timeouts;
        let tcp = connect(self.target, timeouts.connect).await?;
        self.report.reachable = true;
        let ehlo_name = match &self.options.ehlo_name {
            Some(name) => name.clone(),
            None => address_literal(tcp.local_addr().ok()),
        };
        let mut conn = Conn::new(tcp);
        let banner = conn.read_reply("banner", timeouts.banner).await?;
        self.report.banner = Some(banner.text());
        if banner.code != 220 {
            conn.quit(timeouts).await;
            return Err(Ended::Stopped(format!(
                "the server refused the session: {}",
                banner.text()
            )));
        }
        let ehlo = conn.ehlo(&ehlo_name, timeouts).await?;
        let offered = ehlo.ehlo_keywords().iter().any(|k| k == "STARTTLS");
        self.report.starttls = offered;
        if !offered || mode == TlsMode::Never {
            return self.ask(&mut conn).await;
        }
        let reply = conn.command("STARTTLS", timeouts.command).await?;
        if reply.code != 220 {
            // RFC 3207: after a refusal the session goes on in plain text.
            self.report.tls_error = Some(format!("the server refused STARTTLS: {}", reply.text()));
            return self.ask(&mut conn).await;
        }
        if !conn.buffered.is_empty() {
            // Bytes sent before the handshake would be read as if protected (CVE-2011-0411).
            return Err(Ended::TlsFailed(
                "the server sent data after its STARTTLS answer, before the handshake".to_string(),
            ));
        }
        let tls = self.handshake(conn.stream).await?;
        let mut conn = Conn::new(tls);
        conn.ehlo(&ehlo_name, timeouts).await?;
        self.ask(&mut conn).await
    }

    async fn handshake(
        &mut self,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Ended> {
        let host = self.target.host.trim_end_matches('.').to_string();
        let name = ServerName::try_from(host.clone())
            .map_err(|e| Ended::TlsFailed(sanitize(&format!("{host} is not a host name: {e}"))))?;
        let connector = tokio_rustls::TlsConnector::from(self.options.tls.clone());
        let limit = self.options.timeouts.command;
        let tls = match tokio::time::timeout(limit, connector.connect(name, tcp)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => return Err(Ended::TlsFailed(sanitize(&e.to_string()))),
            Err(_) => {
                return Err(Ended::TlsFailed(format!(
                    "no TLS handshake within {} s",
                    limit.as_secs()
                )));
            }
        };
        self.report.cert_valid = Some(true);
        self.report.cert_days_left = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|leaf| days_left(leaf, self.clock.now()));
        Ok(tls)
    }

    /// `MAIL FROM:<>` and `RCPT TO` for every address not yet answered, in
    /// transactions of at most `batch_size`; then `RSET` and `QUIT`. Never `DATA`.
    async fn ask<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Conn<S>,
    ) -> Result<(), Ended> {
        let timeouts = self.options.timeouts;
        let batch = self
            .options
            .batch_size
            .clamp(1, MAX_RECIPIENTS_PER_TRANSACTION);
        let pending: Vec<usize> = (0..self.asked.len())
            .filter(|&i| self.answers[i].is_none())
            .collect();
        for (n, chunk) in pending.chunks(batch).enumerate() {
            if n > 0 {
                let reply = conn.command("RSET", timeouts.command).await?;
                if !reply.is_positive() {
                    return Err(Ended::Stopped(format!(
                        "the server refused RSET: {}",
                        reply.text()
                    )));
                }
            }
            let reply = conn.command("MAIL FROM:<>", timeouts.command).await?;
            if !reply.is_positive() {
                conn.quit(timeouts).await;
                return Err(Ended::Stopped(format!(
                    "the server refused MAIL FROM:<> (the null sender, as bounces use): {}",
                    reply.text()
                )));
            }
            for &i in chunk {
                let address = self.asked[i];
                if !is_plain_address(address) {
                    self.answers[i] = Some(Answer {
                        accepts: None,
                        reply: "not asked: not a plain address (spaces, angle brackets or control characters)".to_string(),
                    });
                    continue;
                }
                let reply = match conn
                    .command(&format!("RCPT TO:<{address}>"), timeouts.command)
                    .await
                {
                    Ok(reply) => reply,
                    Err(e) => {
                        let why = e.to_string();
                        self.answers[i] = Some(Answer {
                            accepts: None,
                            reply: why.clone(),
                        });
                        return Err(Ended::Stopped(why));
                    }
                };
                // Only a permanent failure says "no such address"; 4xx may mean anything.
                let accepts = match reply.class() {
                    2 => Some(true),
                    5 => Some(false),
                    _ => None,
                };
                self.answers[i] = Some(Answer {
                    accepts,
                    reply: reply.text(),
                });
                if reply.code == 421 {
                    return Err(Ended::Stopped(format!(
                        "the server ended the session: {}",
                        reply.text()
                    )));
                }
            }
        }
        // Leave no transaction open, and say goodbye; their answers change nothing.
        let _ = conn.command("RSET", timeouts.command).await;
        conn.quit(timeouts).await;
        Ok(())
    }
}

/// An address we may put in `RCPT TO:<…>` as it is (nothing that could end the command).
fn is_plain_address(address: &str) -> bool {
    address.contains('@')
        && !address
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>')
}

/// Our address as an EHLO literal (RFC 5321 4.1.3).
fn address_literal(local: Option<SocketAddr>) -> String {
    match local {
        Some(SocketAddr::V4(a)) => format!("[{}]", a.ip()),
        Some(SocketAddr::V6(a)) => format!("[IPv6:{}]", a.ip()),
        None => "[127.0.0.1]".to_string(),
    }
}

async fn connect(target: &MxTarget, limit: Duration) -> Result<TcpStream, SmtpError> {
    let place = sanitize(&format!("{}:{}", target.connect_to, target.port));
    let attempt = TcpStream::connect((target.connect_to.as_str(), target.port));
    match tokio::time::timeout(limit, attempt).await {
        Ok(Ok(tcp)) => Ok(tcp),
        Ok(Err(e)) => Err(SmtpError::Connect {
            target: place,
            detail: sanitize(&e.to_string()),
        }),
        Err(_) => Err(SmtpError::Connect {
            target: place,
            detail: format!("no connection within {} s", limit.as_secs()),
        }),
    }
}

/// A connection with our own read buffer (so we know what was read ahead of TLS).
struct Conn<S> {
    stream: S,
    buffered: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    fn new(stream: S) -> Conn<S> {
        Conn {
            stream,
            buffered: Vec::new(),
        }
    }

    /// Sends one command line and reads its reply, within `limit`.
    async fn command(&mut self, line: &str, limit: Duration) -> Result<Reply, SmtpError> {
        // The verb and, for RCPT, the address name the step in errors.
        let during = sanitize(line);
        let write = async {
            self.stream
                .write_all(format!("{line}\r\n").as_bytes())
                .await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(limit, write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(io_error(&during, &e)),
            Err(_) => {
                return Err(SmtpError::Timeout {
                    during,
                    seconds: limit.as_secs(),
                });
            }
        }
        self.read_reply(&during, limit).await
    }

    async fn ehlo(&mut self, name: &str, timeouts: Timeouts) -> Result<Reply, Ended> {
        let reply = self
            .command(&format!("EHLO {name}"), timeouts.command)
            .await?;
        if !reply.is_positive() {
            self.quit(timeouts).await;
            return Err(Ended::Stopped(format!(
                "the server refused EHLO: {}",
                reply.text()
            )));
        }
        Ok(reply)
    }

    /// `QUIT`, briefly, its answer ignored: the session is over either way.
    async fn quit(&mut self, timeouts: Timeouts) {
        let limit = timeouts.command.min(Duration::from_secs(5));
        let _ = self.command("QUIT", limit).await;
    }

    async fn read_reply(&mut self, during: &str, limit: Duration) -> Result<Reply, SmtpError> {
        match tokio::time::timeout(limit, self.read_reply_now(during)).await {
            Ok(reply) => reply,
            Err(_) => Err(SmtpError::Timeout {
                during: during.to_string(),
                seconds: limit.as_secs(),
            }),
        }
    }

    async fn read_reply_now(&mut self, during: &str) -> Result<Reply, SmtpError> {
        let mut code = None;
        let mut lines = Vec::new();
        loop {
            let raw = self.read_line(during).await?;
            let line = String::from_utf8_lossy(&raw);
            let Some((line_code, more, text)) = parse_line(&line) else {
                return Err(SmtpError::NotSmtp {
                    during: during.to_string(),
                    line: quote_line(&line),
                });
            };
            let code = *code.get_or_insert(line_code);
            lines.push(text.to_string());
            if !more {
                return Ok(Reply { code, lines });
            }
            if lines.len() >= MAX_REPLY_LINES {
                return Err(SmtpError::NotSmtp {
                    during: during.to_string(),
                    line: format!("more than {MAX_REPLY_LINES} lines in one reply"),
                });
            }
        }
    }

    /// One line without its CRLF (a bare LF is tolerated).
    async fn read_line(&mut self, during: &str) -> Result<Vec<u8>, SmtpError> {
        loop {
            if let Some(end) = self.buffered.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buffered.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buffered.len() > MAX_LINE_BYTES {
                return Err(SmtpError::NotSmtp {
                    during: during.to_string(),
                    line: format!("a line longer than {MAX_LINE_BYTES} bytes"),
                });
            }
            let mut chunk = [0u8; 4096];
            let n = self
                .stream
                .read(&mut chunk)
                .await
                .map_err(|e| io_error(during, &e))?;
            if n == 0 {
                return Err(SmtpError::Closed {
                    during: during.to_string(),
                });
            }
            self.buffered.extend_from_slice(&chunk[..n]);
        }
    }
}

fn io_error(during: &str, e: &std::io::Error) -> SmtpError {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::UnexpectedEof
        | ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe => SmtpError::Closed {
            during: during.to_string(),
        },
        _ => SmtpError::Io {
            during: during.to_string(),
            detail: sanitize(&e.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_made_up_address_is_new_each_time_and_in_the_domain() {
        let a = made_up_address("Example.com.");
        let b = made_up_address("example.com");
        assert_ne!(a, b);
        assert!(
            a.starts_with("cutover-probe-") && a.ends_with("@example.com"),
            "{a}"
        );
        assert_eq!(a.len(), "cutover-probe-".len() + 16 + "@example.com".len());
    }

    #[test]
    fn only_plain_addresses_are_put_in_a_command() {
        assert!(is_plain_address("alice@example.com"));
        assert!(is_plain_address("jürgen@example.com"));
        assert!(!is_plain_address("a@example.com>\r\nDATA"));
        assert!(!is_plain_address("a b@example.com"));
        assert!(!is_plain_address("nobody"));
    }

    #[test]
    fn our_ehlo_name_is_an_address_literal() {
        assert_eq!(
            address_literal(Some("192.0.2.1:4000".parse().expect("addr"))),
            "[192.0.2.1]"
        );
        assert_eq!(
            address_literal(Some("[2001:db8::1]:4000".parse().expect("addr"))),
            "[IPv6:2001:db8::1]"
        );
    }
}
