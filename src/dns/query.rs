//! One DNS question to one server, directly: UDP first, TCP when the answer was truncated.
//!
//! Each server is asked on its own (never through a pooled resolver), so what a
//! given authoritative server serves, or what a given resolver has cached, is
//! visible as it is: the TTL as served, the response code as sent.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// The record types the watcher asks for.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[allow(clippy::upper_case_acronyms)]
pub enum Rtype {
    A,
    AAAA,
    MX,
    TXT,
    NS,
    SOA,
}

impl Rtype {
    pub fn as_str(self) -> &'static str {
        match self {
            Rtype::A => "A",
            Rtype::AAAA => "AAAA",
            Rtype::MX => "MX",
            Rtype::TXT => "TXT",
            Rtype::NS => "NS",
            Rtype::SOA => "SOA",
        }
    }

    fn wire(self) -> RecordType {
        match self {
            Rtype::A => RecordType::A,
            Rtype::AAAA => RecordType::AAAA,
            Rtype::MX => RecordType::MX,
            Rtype::TXT => RecordType::TXT,
            Rtype::NS => RecordType::NS,
            Rtype::SOA => RecordType::SOA,
        }
    }
}

impl std::fmt::Display for Rtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What came back, in the terms an operator acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AnswerStatus {
    /// Records of the asked type.
    Ok,
    /// The name does not exist.
    Nxdomain,
    /// The name exists, but has no record of this type.
    Nodata,
    /// The server failed (or sent something unreadable).
    Servfail,
    /// The server refuses to answer us (not authoritative, or not open to us).
    Refused,
    /// No answer within the timeout.
    Timeout,
    /// The server could not be reached at all (port closed, no route).
    Unreachable,
}

impl AnswerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerStatus::Ok => "ok",
            AnswerStatus::Nxdomain => "nxdomain",
            AnswerStatus::Nodata => "nodata",
            AnswerStatus::Servfail => "servfail",
            AnswerStatus::Refused => "refused",
            AnswerStatus::Timeout => "timeout",
            AnswerStatus::Unreachable => "unreachable",
        }
    }

    /// Whether the server answered with a definite statement about the name
    /// (records, or "there are none").
    pub fn is_definite(self) -> bool {
        matches!(
            self,
            AnswerStatus::Ok | AnswerStatus::Nxdomain | AnswerStatus::Nodata
        )
    }
}

/// One server's answer to one question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Answer {
    /// Fully qualified, with the trailing dot.
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: Rtype,
    pub status: AnswerStatus,
    /// Seconds, as served: the configured TTL at an authoritative server, the
    /// remaining cache TTL at a resolver. 0 when no record came back.
    pub ttl: u32,
    /// Presentation form, sorted. TXT strings of one record are joined without
    /// spaces (RFC 7208 §3.3). Raw server text: sanitise before display.
    pub records: Vec<String>,
    #[schemars(with = "String")] // an RFC 3339 time (jiff 1 has no JsonSchema)
    pub measured_at: Timestamp,
    pub latency_ms: u64,
    /// Whether the answer came over TCP after a truncated UDP answer.
    #[serde(default)]
    pub tcp: bool,
    /// What went wrong, when something did (network error, unreadable answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// How to ask one server.
#[derive(Debug, Clone, Copy)]
pub struct Ask {
    pub server: SocketAddr,
    /// On for resolvers, off for authoritative servers (we want what they serve).
    pub recursion_desired: bool,
    pub timeout: Duration,
}

/// EDNS payload size we announce: the DNS flag day 2020 value, so large
/// answers come truncated and are fetched over TCP.
const EDNS_PAYLOAD: u16 = 1232;

/// Asks `server` one question; one attempt, bounded by `ask.timeout` in total
/// (UDP and the TCP retry together). Never fails: every outcome is an `Answer`.
pub async fn ask(ask: Ask, name: &str, rtype: Rtype, measured_at: Timestamp) -> Answer {
    let started = Instant::now();
    let fqdn = fqdn(name);
    let mut answer = Answer {
        name: fqdn.clone(),
        rtype,
        status: AnswerStatus::Timeout,
        ttl: 0,
        records: vec![],
        measured_at,
        latency_ms: 0,
        tcp: false,
        detail: None,
    };
    let outcome = tokio::time::timeout(ask.timeout, exchange(ask, &fqdn, rtype)).await;
    match outcome {
        Err(_) => answer.detail = Some(format!("no answer within {} ms", ask.timeout.as_millis())),
        Ok(Err(QueryFailure::Unreachable(why))) => {
            answer.status = AnswerStatus::Unreachable;
            answer.detail = Some(why);
        }
        Ok(Err(QueryFailure::Unreadable(why))) => {
            answer.status = AnswerStatus::Servfail;
            answer.detail = Some(why);
        }
        Ok(Ok((message, tcp))) => {
            answer.tcp = tcp;
            read_message(&message, rtype, &mut answer);
        }
    }
    answer.latency_ms = started.elapsed().as_millis().min(u64::MAX as u128) as u64;
    answer
}

/// `name` with exactly one trailing dot.
pub fn fqdn(name: &str) -> String {
    let trimmed = name.trim_end_matches('.');
    format!("{trimmed}.")
}

enum QueryFailure {
    Unreachable(String),
    Unreadable(String),
}

fn build_query(fqdn: &str, rtype: Rtype, recursion_desired: bool) -> Result<Message, QueryFailure> {
    let name = Name::from_ascii(fqdn)
        .map_err(|e| QueryFailure::Unreadable(format!("cannot ask for {fqdn}: {e}")))?;
    let mut message = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = recursion_desired;
    message.add_query(Query::query(name, rtype.wire()));
    let mut edns = Edns::new();
    edns.set_max_payload(EDNS_PAYLOAD);
    message.set_edns(edns);
    Ok(message)
}

/// A query id that differs between concurrent queries; not a security
/// measure (each query has its own socket, connected to one server).
fn rand_id() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id()
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
    (seed.wrapping_add(NEXT.fetch_add(0x9e37, Ordering::Relaxed)) & 0xffff) as u16
}

async fn exchange(ask: Ask, fqdn: &str, rtype: Rtype) -> Result<(Message, bool), QueryFailure> {
    let query = build_query(fqdn, rtype, ask.recursion_desired)?;
    let bytes = query
        .to_vec()
        .map_err(|e| QueryFailure::Unreadable(format!("cannot encode the query: {e}")))?;
    let udp = exchange_udp(ask.server, &bytes, query.metadata.id).await?;
    if !udp.metadata.truncation {
        return Ok((udp, false));
    }
    let tcp = exchange_tcp(ask.server, &bytes, query.metadata.id).await?;
    Ok((tcp, true))
}

fn unreachable(server: SocketAddr, e: std::io::Error) -> QueryFailure {
    QueryFailure::Unreachable(format!("{server}: {e}"))
}

async fn exchange_udp(server: SocketAddr, query: &[u8], id: u16) -> Result<Message, QueryFailure> {
    let local: SocketAddr = match server.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| unreachable(server, e))?;
    socket
        .connect(server)
        .await
        .map_err(|e| unreachable(server, e))?;
    socket
        .send(query)
        .await
        .map_err(|e| unreachable(server, e))?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = socket
            .recv(&mut buf)
            .await
            .map_err(|e| unreachable(server, e))?;
        // A stray or forged datagram with another id is ignored, not fatal.
        match Message::from_vec(&buf[..n]) {
            Ok(message) if message.metadata.id == id => return Ok(message),
            Ok(_) => continue,
            Err(e) if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id => {
                return Err(QueryFailure::Unreadable(format!(
                    "{server} sent an unreadable answer: {e}"
                )));
            }
            Err(_) => continue,
        }
    }
}

async fn exchange_tcp(server: SocketAddr, query: &[u8], id: u16) -> Result<Message, QueryFailure> {
    let mut stream = TcpStream::connect(server)
        .await
        .map_err(|e| unreachable(server, e))?;
    let len = u16::try_from(query.len())
        .map_err(|_| QueryFailure::Unreadable("query too long for TCP".to_string()))?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(query);
    stream
        .write_all(&framed)
        .await
        .map_err(|e| unreachable(server, e))?;
    let mut len_buf = [0u8; 2];
    stream
        .read_exact(&mut len_buf)
        .await
        .map_err(|e| unreachable(server, e))?;
    let mut body = vec![0u8; u16::from_be_bytes(len_buf) as usize];
    stream
        .read_exact(&mut body)
        .await
        .map_err(|e| unreachable(server, e))?;
    let message = Message::from_vec(&body).map_err(|e| {
        QueryFailure::Unreadable(format!("{server} sent an unreadable answer over TCP: {e}"))
    })?;
    if message.metadata.id != id {
        return Err(QueryFailure::Unreadable(format!(
            "{server} answered another question over TCP"
        )));
    }
    Ok(message)
}

fn read_message(message: &Message, rtype: Rtype, answer: &mut Answer) {
    match message.metadata.response_code {
        ResponseCode::NoError => {}
        ResponseCode::NXDomain => {
            answer.status = AnswerStatus::Nxdomain;
            return;
        }
        ResponseCode::Refused => {
            answer.status = AnswerStatus::Refused;
            return;
        }
        other => {
            answer.status = AnswerStatus::Servfail;
            if other != ResponseCode::ServFail {
                answer.detail = Some(format!("the server answered {other}"));
            }
            return;
        }
    }
    let mut ttl: Option<u32> = None;
    let mut records = Vec::new();
    for record in &message.answers {
        if record.record_type() != rtype.wire() {
            continue; // e.g. a CNAME on the way; we report the asked type only
        }
        ttl = Some(ttl.map_or(record.ttl, |t| t.min(record.ttl)));
        records.push(presentation(&record.data));
    }
    records.sort();
    records.dedup();
    if records.is_empty() {
        answer.status = AnswerStatus::Nodata;
    } else {
        answer.status = AnswerStatus::Ok;
        answer.ttl = ttl.unwrap_or(0);
        answer.records = records;
    }
}

/// One record's data as text. TXT strings are concatenated without spaces, as
/// RFC 7208 §3.3 says SPF (and DKIM, DMARC) records are read.
fn presentation(data: &RData) -> String {
    match data {
        RData::TXT(txt) => {
            let mut bytes = Vec::new();
            for part in txt.txt_data.iter() {
                bytes.extend_from_slice(part);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        RData::MX(mx) => format!(
            "{} {}",
            mx.preference,
            mx.exchange.to_ascii().to_lowercase()
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank(rtype: Rtype) -> Answer {
        Answer {
            name: "example.com.".into(),
            rtype,
            status: AnswerStatus::Timeout,
            ttl: 0,
            records: vec![],
            measured_at: Timestamp::UNIX_EPOCH,
            latency_ms: 0,
            tcp: false,
            detail: None,
        }
    }

    proptest::proptest! {
        /// Whatever bytes a server sends, reading them never panics.
        #[test]
        fn any_answer_bytes_are_read_without_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            if let Ok(message) = Message::from_vec(&bytes) {
                for rtype in [Rtype::MX, Rtype::TXT, Rtype::A, Rtype::SOA] {
                    let mut answer = blank(rtype);
                    read_message(&message, rtype, &mut answer);
                }
            }
        }

        /// A real answer with bytes flipped: also no panic.
        #[test]
        fn mutated_answers_are_read_without_panic(flips in proptest::collection::vec((0usize..200, proptest::num::u8::ANY), 1..8)) {
            let mut message = build_query("example.com.", Rtype::TXT, false).ok().unwrap();
            message.metadata.message_type = MessageType::Response;
            let name = Name::from_ascii("example.com.").unwrap();
            message.add_answer(hickory_proto::rr::Record::from_rdata(
                name,
                300,
                RData::TXT(hickory_proto::rr::rdata::TXT::new(vec!["v=spf1 -all".into()])),
            ));
            let mut bytes = message.to_vec().unwrap();
            for (at, value) in flips {
                if let Some(b) = bytes.get_mut(at) {
                    *b = value;
                }
            }
            if let Ok(message) = Message::from_vec(&bytes) {
                let mut answer = blank(Rtype::TXT);
                read_message(&message, Rtype::TXT, &mut answer);
            }
        }
    }

    #[test]
    fn fqdn_has_one_trailing_dot() {
        assert_eq!(fqdn("example.com"), "example.com.");
        assert_eq!(fqdn("example.com.."), "example.com.");
    }
}
