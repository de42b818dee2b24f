//! The rehearsal's "public resolvers": caching DNS servers whose cache ages on the simulated clock.
//!
//! Each one is a DNS server on 127.0.0.1 (UDP and TCP, one ephemeral port) that answers queries
//! for names in the rehearsal zone by asking the zone's authoritative server, then serves each
//! RRset from its own cache until the TTL has run out on the [`SimClock`], answering with the
//! remaining TTL, as a real recursive resolver does. This is what makes a too-early MX switch
//! visible: a resolver that cached the old MX with a 24 h TTL keeps answering it for 24
//! simulated hours. hickory's own resolver cache runs on real time, so it is not used here.
//!
//! Not a real recursor: there is no recursion to the internet, ever. The mail providers'
//! hosts it is told of ([`CachingResolver::add_host`]) have an address, as on the internet
//! (the SPF `a:` terms name them); any other name outside the rehearsal zone does not exist
//! in the rehearsal's world: NXDOMAIN, answered without asking
//! anyone (a refusal would be a DNS failure, and the SPF evaluation would call every `a:`
//! term naming a provider's host unknown). Queries are answered the same whether RD is set
//! or not; anything but one plain query is REFUSED.
//! Negative answers (NXDOMAIN, NODATA) are cached for the SOA's negative TTL (RFC 2308).
//! A resolver can be made to stop answering ([`CachingResolver::set_answering`]) for failure
//! drills; it then drops queries silently, like an unreachable server.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{
    Edns, Header, HeaderCounts, Message, MessageType, Metadata, OpCode, Query, ResponseCode,
};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use jiff::{SignedDuration, Timestamp};
use tokio::net::UdpSocket;

use super::clock::SimClock;
use super::dns_zone::{ZoneError, bind_udp_and_tcp};
use crate::clock::Clock;

/// The TTL of a provider host's address ([`CachingResolver::add_host`]).
const HOST_TTL: u32 = 86_400;
/// How long a resolver waits for the authoritative server before answering SERVFAIL.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// A caching "public resolver" for the rehearsal zone; dropping it stops the server.
pub struct CachingResolver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _server: Mutex<Server<ResolverHandler>>,
}

impl std::fmt::Debug for CachingResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingResolver")
            .field("label", &self.shared.label)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

struct Shared {
    label: String,
    zone: LowerName,
    upstream: SocketAddr,
    clock: SimClock,
    cache: Mutex<HashMap<(LowerName, RecordType), Cached>>,
    answering: AtomicBool,
    upstream_queries: AtomicU64,
    /// The mail providers' host addresses the rehearsal's world knows beyond the zone
    /// (their SPF `a:` terms and their MX hosts must resolve, as on the internet).
    hosts: Mutex<HashMap<LowerName, std::net::Ipv4Addr>>,
}

/// One cached answer: the RRset (or the negative answer's SOA) and when it expires.
#[derive(Clone)]
struct Cached {
    response_code: ResponseCode,
    answers: Vec<Record>,
    /// The SOA of a negative answer (authority section).
    soa: Vec<Record>,
    expires: Timestamp,
}

impl CachingResolver {
    /// Starts a resolver called `label` (shown in drills and logs) that serves `zone` from the
    /// authoritative server at `upstream`, ageing its cache on `clock`.
    pub async fn start(
        label: &str,
        zone: &Name,
        upstream: SocketAddr,
        clock: SimClock,
    ) -> Result<CachingResolver, ZoneError> {
        let shared = Arc::new(Shared {
            label: label.to_string(),
            zone: LowerName::new(zone),
            upstream,
            clock,
            cache: Mutex::new(HashMap::new()),
            answering: AtomicBool::new(true),
            upstream_queries: AtomicU64::new(0),
            hosts: Mutex::new(HashMap::new()),
        });
        let (udp, tcp) = bind_udp_and_tcp().await?;
        let addr = udp.local_addr().map_err(ZoneError::Bind)?;
        let mut server = Server::new(ResolverHandler {
            shared: shared.clone(),
        });
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(10), 64 * 1024);
        Ok(CachingResolver {
            addr,
            shared,
            _server: Mutex::new(server),
        })
    }

    /// Starts `count` resolvers labelled `resolver-1`, `resolver-2`, ... (the rehearsal's
    /// "public resolvers"), all serving `zone` from `upstream` on the same clock.
    pub(crate) async fn start_many(
        count: usize,
        zone: &Name,
        upstream: SocketAddr,
        clock: &SimClock,
    ) -> Result<Vec<CachingResolver>, ZoneError> {
        let mut resolvers = Vec::with_capacity(count);
        for n in 1..=count {
            let label = format!("resolver-{n}");
            resolvers.push(CachingResolver::start(&label, zone, upstream, clock.clone()).await?);
        }
        Ok(resolvers)
    }

    /// Where to send queries (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn label(&self) -> &str {
        &self.shared.label
    }

    /// A host outside the zone (a mail provider's server) answered with `ip` from now on,
    /// with a day's TTL.
    pub fn add_host(&self, host: &str, ip: std::net::Ipv4Addr) {
        if let Ok(mut name) = Name::from_ascii(host) {
            name.set_fqdn(true);
            if let Ok(mut hosts) = self.shared.hosts.lock() {
                hosts.insert(LowerName::new(&name), ip);
            }
        }
    }

    /// `false` makes the resolver drop every query unanswered (a failure drill); `true` heals it.
    pub fn set_answering(&self, answering: bool) {
        self.shared.answering.store(answering, Ordering::SeqCst);
    }

    /// Forgets everything cached (a resolver restart).
    pub fn flush(&self) {
        self.shared.lock_cache().clear();
    }

    /// How many times this resolver asked the authoritative server (cache misses).
    pub fn upstream_queries(&self) -> u64 {
        self.shared.upstream_queries.load(Ordering::SeqCst)
    }

    /// The records this resolver would answer for (name, type) right now without asking
    /// upstream, with their remaining TTLs; `None` when not cached or expired.
    pub fn cached(&self, name: &Name, rtype: RecordType) -> Option<Vec<Record>> {
        let now = self.shared.clock.now();
        let entry = self
            .shared
            .lock_cache()
            .get(&(LowerName::new(name), rtype))
            .cloned()?;
        is_fresh(&entry, now).then(|| aged(&entry, now).0)
    }
}

impl Shared {
    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<(LowerName, RecordType), Cached>> {
        // The cache map is only ever replaced entry by entry; a panic elsewhere cannot leave a
        // half-written entry, so a poisoned lock is still usable.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The answer for one question: from the cache while fresh, else from upstream.
    async fn resolve(&self, name: &LowerName, rtype: RecordType) -> Cached {
        let key = (name.clone(), rtype);
        let now = self.clock.now();
        if let Some(entry) = self.lock_cache().get(&key).cloned()
            && is_fresh(&entry, now)
        {
            return entry;
        }
        self.upstream_queries.fetch_add(1, Ordering::SeqCst);
        // The upstream round trip is I/O: simulated time stands still meanwhile.
        let guard = self.clock.io_guard();
        let reply = query_udp(self.upstream, name.into(), rtype, false).await;
        drop(guard);
        let Some(reply) = reply else {
            return Cached {
                response_code: ResponseCode::ServFail,
                answers: Vec::new(),
                soa: Vec::new(),
                expires: now,
            };
        };
        // Read again: a skip_to may have moved time while the query was out.
        let now = self.clock.now();
        let entry = cache_entry(reply, now);
        if entry.expires > now {
            self.lock_cache().insert(key, entry.clone());
        }
        entry
    }
}

/// Whether a cached entry may still be served: at least one whole second of TTL left.
fn is_fresh(entry: &Cached, now: Timestamp) -> bool {
    entry.expires.duration_since(now) >= SignedDuration::from_secs(1)
}

/// The entry's (answers, SOA) with TTLs counted down to what remains at `now`.
fn aged(entry: &Cached, now: Timestamp) -> (Vec<Record>, Vec<Record>) {
    let remaining = entry.expires.duration_since(now).max(SignedDuration::ZERO);
    let ttl = u32::try_from(remaining.as_secs()).unwrap_or(u32::MAX);
    let age = |records: &[Record]| {
        records
            .iter()
            .map(|record| {
                let mut record = record.clone();
                record.ttl = record.ttl.min(ttl);
                record
            })
            .collect::<Vec<_>>()
    };
    (age(&entry.answers), age(&entry.soa))
}

/// What to cache from an authoritative reply, and until when (RFC 2308 for negative answers).
fn cache_entry(reply: Message, now: Timestamp) -> Cached {
    let response_code = reply.metadata.response_code;
    let soa: Vec<Record> = reply
        .authorities
        .iter()
        .filter(|r| r.record_type() == RecordType::SOA)
        .cloned()
        .collect();
    let ttl = if reply.answers.is_empty() {
        // Negative answer: min(SOA TTL, SOA MINIMUM).
        soa.iter()
            .map(|r| match &r.data {
                RData::SOA(data) => r.ttl.min(data.minimum),
                _ => r.ttl,
            })
            .min()
            .unwrap_or(0)
    } else {
        reply.answers.iter().map(|r| r.ttl).min().unwrap_or(0)
    };
    let expires = now
        .checked_add(SignedDuration::from_secs(i64::from(ttl)))
        .unwrap_or(now);
    let accepted = matches!(
        response_code,
        ResponseCode::NoError | ResponseCode::NXDomain
    );
    Cached {
        response_code,
        answers: if accepted { reply.answers } else { Vec::new() },
        soa: if accepted { soa } else { Vec::new() },
        // Errors (SERVFAIL, REFUSED) are passed on, never cached.
        expires: if accepted { expires } else { now },
    }
}

/// One query over UDP (to the authoritative server without RD, to a resolver with it);
/// `None` on timeout or garbage.
pub(crate) async fn query_udp(
    upstream: SocketAddr,
    name: Name,
    rtype: RecordType,
    recursion_desired: bool,
) -> Option<Message> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.ok()?;
    let mut query = Message::query();
    query.metadata.recursion_desired = recursion_desired;
    query.add_query(Query::query(name, rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    query.set_edns(edns);
    let id = query.metadata.id;
    let bytes = query.to_vec().ok()?;
    socket.send_to(&bytes, upstream).await.ok()?;
    let mut buf = vec![0u8; 65_535];
    let exchange = async {
        loop {
            let (len, from) = socket.recv_from(&mut buf).await.ok()?;
            if from != upstream {
                continue;
            }
            let Ok(reply) = Message::from_vec(&buf[..len]) else {
                continue;
            };
            if reply.metadata.id == id && reply.metadata.message_type == MessageType::Response {
                return Some(reply);
            }
        }
    };
    tokio::time::timeout(UPSTREAM_TIMEOUT, exchange)
        .await
        .ok()
        .flatten()
}

struct ResolverHandler {
    shared: Arc<Shared>,
}

#[async_trait::async_trait]
impl RequestHandler for ResolverHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.recursion_available = true;
        let not_sent = |metadata: Metadata| {
            ResponseInfo::from(Header {
                metadata,
                counts: HeaderCounts::default(),
            })
        };
        if !self.shared.answering.load(Ordering::SeqCst) {
            return not_sent(metadata);
        }

        let mut response_edns = None;
        if request.edns.is_some() {
            let mut edns = Edns::new();
            edns.set_max_payload(4096);
            response_edns = Some(edns);
        }
        let builder = MessageResponseBuilder::new(&request.queries, response_edns.as_ref());

        let question = match request.queries.queries() {
            [question] => Some(question),
            _ => None,
        };
        let (Some(question), OpCode::Query, MessageType::Query) = (
            question,
            request.metadata.op_code,
            request.metadata.message_type,
        ) else {
            metadata.response_code = ResponseCode::Refused;
            let response = builder.build_no_records(metadata);
            return response_handle
                .send_response(response)
                .await
                .unwrap_or_else(|_| not_sent(metadata));
        };
        let host = self
            .shared
            .hosts
            .lock()
            .ok()
            .and_then(|hosts| hosts.get(question.name()).copied());
        if let Some(ip) = host {
            // A provider's host: its address for A, no data for any other type.
            let answers: Vec<Record> = if question.query_type() == RecordType::A {
                vec![Record::from_rdata(
                    Name::from(question.name().clone()),
                    HOST_TTL,
                    RData::A(hickory_proto::rr::rdata::A(ip)),
                )]
            } else {
                Vec::new()
            };
            let none: [Record; 0] = [];
            let response = builder.build(
                metadata,
                answers.iter(),
                none.iter(),
                none.iter(),
                none.iter(),
            );
            return response_handle
                .send_response(response)
                .await
                .unwrap_or_else(|_| not_sent(metadata));
        }
        if !self.shared.zone.zone_of(question.name()) {
            metadata.response_code = ResponseCode::NXDomain;
            let response = builder.build_no_records(metadata);
            return response_handle
                .send_response(response)
                .await
                .unwrap_or_else(|_| not_sent(metadata));
        }

        let entry = self
            .shared
            .resolve(question.name(), question.query_type())
            .await;
        let now = self.shared.clock.now();
        metadata.response_code = entry.response_code;
        let (answers, soa) = aged(&entry, now);
        let none: [Record; 0] = [];
        let response = builder.build(
            metadata,
            answers.iter(),
            none.iter(),
            soa.iter(),
            none.iter(),
        );
        response_handle
            .send_response(response)
            .await
            .unwrap_or_else(|_| not_sent(metadata))
    }
}
