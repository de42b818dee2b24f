//! The rehearsal's mail providers beyond the IMAP servers, so the three canary routes really
//! carry mail:
//!
//! - the new MX stores what it accepts in the new server's INBOX ([`MailboxInbound`]);
//! - the new provider's submission (implicit TLS, AUTH PLAIN against the new server's users)
//!   DKIM-signs with the key the rehearsal publishes ([`DkimSigning`]) and delivers to the
//!   external provider ([`ToExternal`]);
//! - the external provider's inbound MX ([`ExternalInbox`]) adds its `Received` line and its
//!   own `Authentication-Results`, computed from DNS as the world serves it;
//! - the external provider's submission relays to the rehearsal domain where its MX resolves
//!   ([`ToDomain`], a [`Sender`]): old or new server.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use jiff::tz::TimeZone;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::clock::SimClock;
use super::imap::Mailstore;
use super::mailflow::{Delivery, Sender};
use super::smtp_server::{Envelope, Inbound, Outage, Policy, session};
use crate::clock::Clock;

/// The CA that signed the submission servers' certificate (the rehearsal plan's `ca_file`).
/// Made once with openssl (P-256, valid 100 years); only the rehearsal's plans trust it.
pub const SUBMISSION_CA: &str = include_str!("../../assets/rehearsal/submission-ca.pem");
/// The submission servers' certificate: `127.0.0.1`, `smtp.new-host.test`,
/// `smtp.external-provider.test`.
const SUBMISSION_CERT: &str = include_str!("../../assets/rehearsal/submission-cert.pem");
/// Its key; it only ever serves loopback in a rehearsal.
const SUBMISSION_KEY: &str = include_str!("../../assets/rehearsal/submission-key.pem");

/// The address the new provider's outgoing server connects from, as receivers record it
/// (the zone's SPF names the new MX host, which the resolvers answer with this address).
pub const NEW_OUTBOUND_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 25);
/// The old provider's mail host's address (the resolvers answer it for its name).
pub const OLD_HOST_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 110);

/// The new provider's DKIM key for the rehearsal domain (Ed25519, RFC 8463) and the
/// selector its outgoing server signs with.
#[derive(Debug)]
pub struct DkimSigning {
    domain: String,
    selector: Mutex<String>,
    /// The Ed25519 private key as PKCS#8 DER.
    pkcs8: Vec<u8>,
}

impl DkimSigning {
    /// A key derived from `seed` (so a rehearsal is repeatable), signing as `selector`.
    pub fn new(domain: &str, selector: &str, seed: u64) -> DkimSigning {
        use sha2::Digest;
        let secret = sha2::Sha256::digest(format!("cutover rehearsal DKIM key {seed}"));
        // RFC 8410 PrivateKeyInfo for Ed25519: a fixed prefix, then the 32-byte secret.
        let mut pkcs8 = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        pkcs8.extend_from_slice(&secret);
        DkimSigning {
            domain: domain.to_string(),
            selector: Mutex::new(selector.to_string()),
            pkcs8,
        }
    }

    fn key(&self) -> Result<Ed25519Key, String> {
        Ed25519Key::from_pkcs8_der(&self.pkcs8).map_err(|e| e.to_string())
    }

    /// The selector the outgoing server signs with now.
    pub fn selector(&self) -> String {
        self.selector.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The provider signs with another selector from now on.
    pub fn set_selector(&self, selector: &str) {
        if let Ok(mut s) = self.selector.lock() {
            *s = selector.to_string();
        }
    }

    /// The TXT record that publishes the public key: `v=DKIM1; k=ed25519; p=…`.
    pub fn record(&self) -> String {
        let public = self.key().map(|k| k.public_key()).unwrap_or_default();
        format!(
            "v=DKIM1; k=ed25519; p={}",
            base64::engine::general_purpose::STANDARD.encode(public)
        )
    }

    /// The `DKIM-Signature` field for `raw`, with a CRLF.
    fn sign(&self, raw: &[u8]) -> Result<String, String> {
        let signature = DkimSigner::from_key(self.key()?)
            .domain(self.domain.clone())
            .selector(self.selector())
            .headers(["From", "To", "Subject", "Date", "Message-ID"])
            .sign(raw)
            .map_err(|e| e.to_string())?;
        Ok(signature.to_header())
    }
}

/// An RFC 5322 date for a `Received` field, on the rehearsal's clock.
fn stamp(clock: &SimClock) -> String {
    clock
        .now()
        .to_zoned_datetime(TimeZone::UTC)
        .strftime("%a, %d %b %Y %H:%M:%S %z")
        .to_string()
}

fn received(helo: &str, ip: IpAddr, by: &str, with: &str, clock: &SimClock) -> String {
    format!(
        "Received: from {helo} ({helo} [{ip}])\r\n\tby {by} with {with}; {}\r\n",
        stamp(clock)
    )
}

/// The new MX's delivery: each accepted address's mailbox on the new server, INBOX.
pub(crate) struct MailboxInbound {
    pub host: String,
    pub store: Mailstore,
    /// Address (mailbox or alias, lower case) → the mailbox's login.
    pub logins: HashMap<String, String>,
    pub clock: SimClock,
}

#[async_trait::async_trait]
impl Inbound for MailboxInbound {
    async fn take(&self, envelope: &Envelope, raw: Vec<u8>) -> Result<String, String> {
        let now = self.clock.now().to_zoned_datetime(TimeZone::UTC);
        let mut uids = Vec::new();
        for rcpt in &envelope.rcpts {
            let Some(login) = self.logins.get(rcpt) else {
                return Err(format!("550 5.1.1 <{rcpt}>: no mailbox here"));
            };
            let mut message = received(
                &envelope.helo,
                envelope.peer,
                &self.host,
                "ESMTP",
                &self.clock,
            )
            .into_bytes();
            message.extend_from_slice(&raw);
            let uid = self
                .store
                .deliver(login, "INBOX", message, now.clone())
                .map_err(|e| format!("451 4.3.0 <{rcpt}>: {e}"))?;
            uids.push(uid.to_string());
        }
        Ok(format!("Ok: delivered as UID {}", uids.join(", ")))
    }
}

/// The external provider's inbound MX: stores mail for its users, with its `Received`
/// line and its own `Authentication-Results` (DKIM, SPF for the connecting address, DMARC)
/// from DNS as the rehearsal's public resolvers serve it.
pub(crate) struct ExternalInbox {
    /// Its inbound host (`by` of its `Received`, its authserv-id).
    pub host: String,
    pub domain: String,
    pub store: Mailstore,
    /// Address (lower case) → login.
    pub logins: HashMap<String, String>,
    pub resolvers: Vec<SocketAddr>,
    pub clock: SimClock,
}

impl ExternalInbox {
    /// Takes a message from `helo` at `ip` for `rcpt`; the UID it got.
    async fn receive(
        &self,
        helo: &str,
        ip: IpAddr,
        mail_from: &str,
        rcpt: &str,
        raw: &[u8],
    ) -> Result<u32, String> {
        let login = self
            .logins
            .get(rcpt)
            .ok_or_else(|| format!("550 5.1.1 <{rcpt}>: no such user here"))?;
        let mut message = format!("Return-Path: <{mail_from}>\r\n").into_bytes();
        message.extend_from_slice(received(helo, ip, &self.host, "ESMTPS", &self.clock).as_bytes());
        message.extend_from_slice(raw);
        let results = self.authentication_results(&message).await;
        let mut stored = format!("Authentication-Results: {results}\r\n").into_bytes();
        stored.extend_from_slice(&message);
        let now = self.clock.now().to_zoned_datetime(TimeZone::UTC);
        self.store
            .deliver(login, "INBOX", stored, now)
            .map_err(|e| format!("451 4.3.0 <{rcpt}>: {e}"))
    }

    /// What this receiver concludes: cutover's verifier run as the receiver (its own hop,
    /// DNS through the public resolvers), written as RFC 8601 results.
    async fn authentication_results(&self, message: &[u8]) -> String {
        let receiver = crate::mailauth::verify::Receiver {
            hosts: vec![self.host.clone()],
            authserv_id: None,
        };
        let verified = {
            let _guard = self.clock.io_guard();
            match crate::mailauth::verify::resolver(&self.resolvers, Duration::from_secs(2)) {
                Ok(resolver) => {
                    crate::mailauth::verify::verify_received(message, &receiver, resolver).await
                }
                Err(e) => Err(e),
            }
        };
        let host = &self.host;
        let Ok(auth) = verified else {
            return format!("{host}; dkim=temperror; spf=temperror; dmarc=temperror");
        };
        let or_none = |v: &Option<String>| v.clone().unwrap_or_default();
        let mut dkim = format!("dkim={}", auth.dkim.result.as_str());
        if auth.dkim.domain.is_some() {
            dkim.push_str(&format!(
                " header.d={} header.s={}",
                or_none(&auth.dkim.domain),
                or_none(&auth.dkim.selector)
            ));
        }
        format!(
            "{host};\r\n\t{dkim};\r\n\tspf={} smtp.mailfrom={};\r\n\tdmarc={} header.from={}",
            auth.spf.result.as_str(),
            or_none(&auth.spf.domain),
            auth.dmarc.result.as_str(),
            or_none(&auth.from_domain)
        )
    }
}

/// The new provider's outgoing server: signs with the domain's DKIM key and delivers to
/// the external provider (the only other domain the rehearsal's world has).
pub(crate) struct ToExternal {
    /// Its name in HELO (the new MX host, which the zone's SPF names).
    pub helo: String,
    pub signing: Arc<DkimSigning>,
    pub external: Arc<ExternalInbox>,
}

#[async_trait::async_trait]
impl Inbound for ToExternal {
    async fn take(&self, envelope: &Envelope, raw: Vec<u8>) -> Result<String, String> {
        let mut submitted = received(
            &envelope.helo,
            envelope.peer,
            &self.helo,
            "ESMTPSA",
            &self.external.clock,
        )
        .into_bytes();
        submitted.extend_from_slice(&raw);
        let signature = self
            .signing
            .sign(&submitted)
            .map_err(|e| format!("451 4.7.0 cannot sign: {e}"))?;
        let mut signed = signature.into_bytes();
        signed.extend_from_slice(&submitted);
        for rcpt in &envelope.rcpts {
            if !rcpt.ends_with(&format!("@{}", self.external.domain)) {
                return Err(format!(
                    "550 5.7.1 <{rcpt}>: the rehearsal's world has no such domain"
                ));
            }
            self.external
                .receive(
                    &self.helo,
                    IpAddr::V4(NEW_OUTBOUND_IP),
                    &envelope.mail_from,
                    rcpt,
                    &signed,
                )
                .await?;
        }
        Ok("Ok: delivered to the external provider".to_string())
    }
}

/// The external provider's outgoing server: mail to the rehearsal domain goes where the
/// domain's MX resolves (through one public resolver), as any sender's would.
pub(crate) struct ToDomain {
    pub helo: String,
    pub domain: String,
    pub sender: Sender,
    pub clock: SimClock,
}

#[async_trait::async_trait]
impl Inbound for ToDomain {
    async fn take(&self, envelope: &Envelope, raw: Vec<u8>) -> Result<String, String> {
        let mut message = received(
            &envelope.helo,
            envelope.peer,
            &self.helo,
            "ESMTPSA",
            &self.clock,
        )
        .into_bytes();
        message.extend_from_slice(&raw);
        let mut said = Vec::new();
        for rcpt in &envelope.rcpts {
            let Some(local) = rcpt.strip_suffix(&format!("@{}", self.domain)) else {
                return Err(format!(
                    "550 5.7.1 <{rcpt}>: the rehearsal's world has no such domain"
                ));
            };
            match self.sender.send(local, message.clone()).await {
                Delivery::Delivered { host, .. } => said.push(format!("{rcpt} via {host}")),
                Delivery::Deferred { reason } => {
                    return Err(format!("451 4.4.3 <{rcpt}>: deferred ({reason:?})"));
                }
                Delivery::Bounced { host, .. } => {
                    return Err(format!("550 5.1.1 <{rcpt}>: refused by {host}"));
                }
            }
        }
        Ok(format!("Ok: delivered ({})", said.join(", ")))
    }
}

/// A submission server on 127.0.0.1: implicit TLS (`smtps://`), AUTH PLAIN against
/// `users`, then any recipient, handed to `onward`. Stops when dropped.
pub struct SubmissionServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl SubmissionServer {
    pub(crate) async fn start(
        host: &str,
        users: Mailstore,
        onward: Arc<dyn Inbound>,
    ) -> std::io::Result<SubmissionServer> {
        let acceptor = acceptor()?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let policy = Policy {
            host: host.to_string(),
            accepted: None,
            auth: Some(users),
            inbound: Some(onward),
            outage: Outage::default(),
        };
        let task = tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                let (acceptor, policy) = (acceptor.clone(), policy.clone());
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        session(tls, peer.ip(), policy).await;
                    }
                });
            }
        });
        Ok(SubmissionServer { addr, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for SubmissionServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn acceptor() -> std::io::Result<TlsAcceptor> {
    let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(SUBMISSION_CERT.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| invalid(format!("the rehearsal's submission certificate: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(SUBMISSION_KEY.as_bytes())
        .map_err(|e| invalid(format!("the rehearsal's submission key: {e}")))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| invalid(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| invalid(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
