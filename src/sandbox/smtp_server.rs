//! The rehearsal's new MX speaks SMTP: enough of RFC 5321 for cutover's probe to ask it
//! whether it accepts each address (`RCPT TO`). It accepts the addresses it is given
//! (the new provider's mailboxes and aliases) and refuses every other with a 550, as a
//! real MX does; it takes no message (`DATA` is refused: the probe never sends it).
//! During a rehearsed outage ([`Outage`]) it answers every `RCPT TO` with a 4xx, as the
//! rehearsal's senders then hear it too (`mailflow`): they defer and retry.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The longest command line read; a longer one ends the session.
const MAX_LINE: usize = 1024;

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

/// A running SMTP responder on 127.0.0.1; stops when dropped.
pub struct SmtpServer {
    addr: SocketAddr,
    accepted: Arc<Mutex<HashSet<String>>>,
    outage: Outage,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpServer {
    /// Listens on an ephemeral loopback port, greeting as `host`, accepting `addresses`.
    pub async fn start(host: &str, addresses: &[String]) -> std::io::Result<SmtpServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let accepted = Arc::new(Mutex::new(
            addresses.iter().map(|a| a.to_lowercase()).collect(),
        ));
        let host = host.trim_end_matches('.').to_string();
        let shared = accepted.clone();
        let outage = Outage::default();
        let broken = outage.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(
                    stream,
                    host.clone(),
                    shared.clone(),
                    broken.clone(),
                ));
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

async fn session(
    stream: TcpStream,
    host: String,
    accepted: Arc<Mutex<HashSet<String>>>,
    outage: Outage,
) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    if write
        .write_all(format!("220 {host} ESMTP cutover rehearsal\r\n").as_bytes())
        .await
        .is_err()
    {
        return;
    }
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
        let command = line.trim_end();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" => format!("250-{host}\r\n250-PIPELINING\r\n250 8BITMIME\r\n"),
            "HELO" => format!("250 {host}\r\n"),
            "MAIL" | "RSET" | "NOOP" => "250 2.0.0 Ok\r\n".to_string(),
            "RCPT" => match outage.reply() {
                Some(reply) => format!("{reply}\r\n"),
                None => rcpt(command, &accepted),
            },
            "DATA" => "554 5.5.1 this rehearsal server takes no message\r\n".to_string(),
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

/// `RCPT TO:<address>`: 250 for an accepted address, 550 for any other.
fn rcpt(command: &str, accepted: &Mutex<HashSet<String>>) -> String {
    let address = command
        .split_once(':')
        .map(|(_, rest)| rest.trim())
        .and_then(|rest| rest.strip_prefix('<'))
        .and_then(|rest| rest.split_once('>'))
        .map(|(address, _)| address.to_string());
    let Some(address) = address else {
        return "501 5.5.4 write RCPT TO:<address>\r\n".to_string();
    };
    let known = accepted
        .lock()
        .is_ok_and(|set| set.contains(&address.to_lowercase()));
    if known {
        "250 2.1.5 Ok\r\n".to_string()
    } else {
        format!("550 5.1.1 <{address}>: Recipient address rejected: User unknown\r\n")
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
}
