//! The rehearsal's authoritative DNS server: one zone, served over UDP and TCP on loopback,
//! editable live through the calls a DNS host's web console offers.
//!
//! It is hickory-server's own in-memory zone handler behind a `Catalog`, so what a client sees
//! is exactly what a real authoritative server sends: the TTL as configured, the AA flag,
//! NXDOMAIN/NODATA with the SOA, no recursion. Every edit replaces a whole RRset (a DNS host's
//! console edits records, not diffs) and bumps the SOA serial, like a real provider.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::rdata::{A, AAAA, MX, NS, SOA, TXT};
use hickory_proto::rr::{LowerName, Name, RData, RecordSet, RecordType, RrKey};
use hickory_server::Server;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use tokio::net::{TcpListener, UdpSocket};

/// Why the zone server could not start or an edit was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZoneError {
    /// No loopback port could be bound for both UDP and TCP.
    #[error("cannot bind the rehearsal DNS server on 127.0.0.1: {0}")]
    Bind(#[source] std::io::Error),
    /// A name given to the console is not a valid DNS name.
    #[error("'{name}' is not a valid DNS name: {reason}")]
    BadName { name: String, reason: String },
    /// A name outside the rehearsal zone.
    #[error("'{name}' is outside the zone {origin}")]
    OutOfZone { name: String, origin: String },
    /// `set_ttl` on a record set that does not exist.
    #[error("there is no {rtype} record at {name} to change")]
    NoSuchRecords { name: String, rtype: RecordType },
    /// hickory refused to build the zone (a bug in the seed).
    #[error("the rehearsal zone {origin} cannot be built: {reason}")]
    Zone { origin: String, reason: String },
}

/// What the zone holds when the rehearsal starts: the old provider's records.
#[derive(Debug, Clone)]
pub struct ZoneSeed {
    /// The rehearsal domain, e.g. `example-firm.test`.
    pub origin: String,
    /// TTL of every record the seed creates (the old provider's 24 h).
    pub ttl: u32,
    /// The old mail servers: (preference, host).
    pub mx: Vec<(u16, String)>,
    /// The apex SPF record, if any (`v=spf1 ...`).
    pub spf: Option<String>,
    /// The website's address at the apex and `www`.
    pub a: Ipv4Addr,
    pub aaaa: Ipv6Addr,
}

impl ZoneSeed {
    /// A realistic small-company zone: MX on the old host, SPF for it, web site records, all
    /// with a 24 h TTL.
    pub fn realistic(origin: &str, old_mx_host: &str) -> ZoneSeed {
        ZoneSeed {
            origin: origin.to_string(),
            ttl: 86_400,
            mx: vec![(10, old_mx_host.to_string())],
            spf: Some(format!("v=spf1 a:{old_mx_host} -all")),
            a: Ipv4Addr::new(192, 0, 2, 10),
            aaaa: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10),
        }
    }
}

/// A running authoritative server for one zone; dropping it stops the server.
pub struct ZoneServer {
    addr: SocketAddr,
    origin: Name,
    default_ttl: u32,
    zone: Arc<InMemoryZoneHandler>,
    /// Edits are serialised so two edits never bump the serial to the same value.
    edits: tokio::sync::Mutex<()>,
    /// `false` plays a DNS host that silently keeps its own TTL (rule R3's drill).
    honours_ttl: std::sync::atomic::AtomicBool,
    /// Kept alive: dropping the server's task set stops serving.
    _server: std::sync::Mutex<Server<Catalog>>,
}

impl std::fmt::Debug for ZoneServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZoneServer")
            .field("addr", &self.addr)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl ZoneServer {
    /// Starts serving `seed` on 127.0.0.1, UDP and TCP on the same ephemeral port.
    pub async fn start(seed: &ZoneSeed) -> Result<ZoneServer, ZoneError> {
        let origin = parse_fqdn(&seed.origin)?;
        let records = seed_records(seed, &origin)?;
        let zone =
            InMemoryZoneHandler::new(origin.clone(), records, ZoneType::Primary, AxfrPolicy::Deny)
                .map_err(|reason| ZoneError::Zone {
                    origin: origin.to_string(),
                    reason,
                })?;
        let zone = Arc::new(zone);

        let mut catalog = Catalog::new();
        let handler: Arc<dyn ZoneHandler> = zone.clone();
        catalog.upsert(LowerName::new(&origin), vec![handler]);

        let (udp, tcp) = bind_udp_and_tcp().await?;
        let addr = udp.local_addr().map_err(ZoneError::Bind)?;
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(10), 64 * 1024);

        Ok(ZoneServer {
            addr,
            origin,
            default_ttl: seed.ttl,
            zone,
            edits: tokio::sync::Mutex::new(()),
            honours_ttl: std::sync::atomic::AtomicBool::new(true),
            _server: std::sync::Mutex::new(server),
        })
    }

    /// Where to send queries (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The zone's apex, fully qualified.
    pub fn origin(&self) -> &Name {
        &self.origin
    }

    /// `false` makes the console accept TTL changes but keep serving the old TTL (and the
    /// seed's TTL for new record sets), like DNS hosts that do not allow per-record TTLs.
    pub fn set_honours_ttl(&self, honours: bool) {
        self.honours_ttl
            .store(honours, std::sync::atomic::Ordering::SeqCst);
    }

    /// Replaces the MX set with `mx` (preference, host) at `ttl`; an empty list deletes it.
    pub async fn set_mx(&self, mx: &[(u16, &str)], ttl: u32) -> Result<(), ZoneError> {
        let data = mx_rdata(mx)?;
        let apex = self.origin.clone();
        self.replace(&apex, RecordType::MX, ttl, data).await
    }

    /// Adds one MX host to the set, keeping the set's TTL ("create the new MX record").
    pub async fn add_mx(&self, preference: u16, host: &str) -> Result<(), ZoneError> {
        let apex = self.origin.clone();
        let (ttl, mut data) = self
            .rrset(&apex, RecordType::MX)
            .await
            .unwrap_or((self.default_ttl, Vec::new()));
        let new = mx_rdata(&[(preference, host)])?;
        for rdata in new {
            if !data.contains(&rdata) {
                data.push(rdata);
            }
        }
        self.replace(&apex, RecordType::MX, ttl, data).await
    }

    /// Deletes every MX record pointing at `host` ("delete the old MX record").
    pub async fn remove_mx(&self, host: &str) -> Result<(), ZoneError> {
        let apex = self.origin.clone();
        let host = parse_fqdn(host)?;
        let Some((ttl, data)) = self.rrset(&apex, RecordType::MX).await else {
            return Ok(());
        };
        let kept = data
            .into_iter()
            .filter(|rdata| !matches!(rdata, RData::MX(mx) if mx.exchange == host))
            .collect();
        self.replace(&apex, RecordType::MX, ttl, kept).await
    }

    /// Replaces the TXT set at `name` ("@" for the apex, or relative like
    /// `sel._domainkey`) with one record per text; an empty list deletes it.
    pub async fn set_txt(&self, name: &str, texts: &[&str], ttl: u32) -> Result<(), ZoneError> {
        let owner = self.owner(name)?;
        let data = texts
            .iter()
            .map(|text| RData::TXT(TXT::new(split_txt(text))))
            .collect();
        self.replace(&owner, RecordType::TXT, ttl, data).await
    }

    /// Replaces the A set at `name`; an empty list deletes it.
    pub async fn set_a(&self, name: &str, addrs: &[Ipv4Addr], ttl: u32) -> Result<(), ZoneError> {
        let owner = self.owner(name)?;
        let data = addrs.iter().map(|ip| RData::A(A(*ip))).collect();
        self.replace(&owner, RecordType::A, ttl, data).await
    }

    /// Changes only the TTL of an existing RRset.
    pub async fn set_ttl(&self, name: &str, rtype: RecordType, ttl: u32) -> Result<(), ZoneError> {
        let owner = self.owner(name)?;
        let Some((_, data)) = self.rrset(&owner, rtype).await else {
            return Err(ZoneError::NoSuchRecords {
                name: owner.to_string(),
                rtype,
            });
        };
        self.replace(&owner, rtype, ttl, data).await
    }

    /// Deletes the whole RRset of `rtype` at `name`.
    pub async fn remove(&self, name: &str, rtype: RecordType) -> Result<(), ZoneError> {
        let owner = self.owner(name)?;
        self.replace(&owner, rtype, 0, Vec::new()).await
    }

    /// What the zone holds at `name` for `rtype`: (TTL, records), as the console shows it.
    pub async fn lookup(&self, name: &str, rtype: RecordType) -> Option<(u32, Vec<RData>)> {
        let owner = self.owner(name).ok()?;
        self.rrset(&owner, rtype).await
    }

    /// The SOA serial now served.
    pub async fn serial(&self) -> u32 {
        self.zone.serial().await
    }

    /// `name` as the console reads it: "@" or "" is the apex, a name ending in '.' is absolute,
    /// anything else is relative to the apex.
    fn owner(&self, name: &str) -> Result<Name, ZoneError> {
        let owner = if name.is_empty() || name == "@" {
            self.origin.clone()
        } else if name.ends_with('.') {
            parse_fqdn(name)?
        } else {
            let relative = Name::from_str(name).map_err(|e| ZoneError::BadName {
                name: name.to_string(),
                reason: e.to_string(),
            })?;
            relative
                .append_domain(&self.origin)
                .map_err(|e| ZoneError::BadName {
                    name: name.to_string(),
                    reason: e.to_string(),
                })?
        };
        if !self.origin.zone_of(&owner) {
            return Err(ZoneError::OutOfZone {
                name: name.to_string(),
                origin: self.origin.to_string(),
            });
        }
        Ok(owner)
    }

    async fn rrset(&self, owner: &Name, rtype: RecordType) -> Option<(u32, Vec<RData>)> {
        let records = self.zone.records().await;
        let set = records.get(&RrKey::new(LowerName::new(owner), rtype))?;
        let data: Vec<RData> = set
            .records_without_rrsigs()
            .map(|record| record.data.clone())
            .collect();
        if data.is_empty() {
            return None;
        }
        Some((set.ttl(), data))
    }

    /// Replaces (or with no data deletes) one RRset and bumps the SOA serial.
    async fn replace(
        &self,
        owner: &Name,
        rtype: RecordType,
        ttl: u32,
        data: Vec<RData>,
    ) -> Result<(), ZoneError> {
        let _edit = self.edits.lock().await;
        let mut records = self.zone.records_mut().await;
        let key = RrKey::new(LowerName::new(owner), rtype);
        let ttl = if self.honours_ttl.load(std::sync::atomic::Ordering::SeqCst) {
            ttl
        } else {
            records.get(&key).map_or(self.default_ttl, |set| set.ttl())
        };
        if data.is_empty() {
            records.remove(&key);
        } else {
            let mut set = RecordSet::with_ttl(owner.clone(), rtype, ttl);
            for rdata in data {
                set.add_rdata(rdata);
            }
            records.insert(key, Arc::new(set));
        }
        bump_serial(&mut records, &self.origin);
        Ok(())
    }
}

fn bump_serial(records: &mut BTreeMap<RrKey, Arc<RecordSet>>, origin: &Name) {
    let key = RrKey::new(LowerName::new(origin), RecordType::SOA);
    let Some(set) = records.get(&key) else {
        return;
    };
    let ttl = set.ttl();
    let Some(RData::SOA(soa)) = set.records_without_rrsigs().next().map(|r| r.data.clone()) else {
        return;
    };
    let mut soa = soa;
    soa.serial = soa.serial.wrapping_add(1);
    let mut set = RecordSet::with_ttl(origin.clone(), RecordType::SOA, ttl);
    set.add_rdata(RData::SOA(soa));
    records.insert(key, Arc::new(set));
}

fn seed_records(seed: &ZoneSeed, origin: &Name) -> Result<BTreeMap<RrKey, RecordSet>, ZoneError> {
    let ttl = seed.ttl;
    let ns1 = child(origin, "ns1")?;
    let ns2 = child(origin, "ns2")?;
    let www = child(origin, "www")?;
    let hostmaster = child(origin, "hostmaster")?;

    let mut sets: Vec<(Name, RecordType, Vec<RData>)> = vec![
        (
            origin.clone(),
            RecordType::SOA,
            vec![RData::SOA(SOA::new(
                ns1.clone(),
                hostmaster,
                // YYYYMMDDnn, the convention most DNS hosts use.
                2026010101,
                7200,
                3600,
                1_209_600,
                3600,
            ))],
        ),
        (
            origin.clone(),
            RecordType::NS,
            vec![RData::NS(NS(ns1.clone())), RData::NS(NS(ns2.clone()))],
        ),
        (
            ns1,
            RecordType::A,
            vec![RData::A(A(Ipv4Addr::new(192, 0, 2, 53)))],
        ),
        (
            ns2,
            RecordType::A,
            vec![RData::A(A(Ipv4Addr::new(192, 0, 2, 54)))],
        ),
        (origin.clone(), RecordType::A, vec![RData::A(A(seed.a))]),
        (
            origin.clone(),
            RecordType::AAAA,
            vec![RData::AAAA(AAAA(seed.aaaa))],
        ),
        (www.clone(), RecordType::A, vec![RData::A(A(seed.a))]),
        (www, RecordType::AAAA, vec![RData::AAAA(AAAA(seed.aaaa))]),
    ];
    let mx: Vec<(u16, &str)> = seed.mx.iter().map(|(p, h)| (*p, h.as_str())).collect();
    if !mx.is_empty() {
        sets.push((origin.clone(), RecordType::MX, mx_rdata(&mx)?));
    }
    if let Some(spf) = &seed.spf {
        sets.push((
            origin.clone(),
            RecordType::TXT,
            vec![RData::TXT(TXT::new(split_txt(spf)))],
        ));
    }

    let mut records = BTreeMap::new();
    for (name, rtype, data) in sets {
        let mut set = RecordSet::with_ttl(name.clone(), rtype, ttl);
        for rdata in data {
            set.add_rdata(rdata);
        }
        records.insert(RrKey::new(LowerName::new(&name), rtype), set);
    }
    Ok(records)
}

fn child(origin: &Name, label: &str) -> Result<Name, ZoneError> {
    Name::from_str(label)
        .and_then(|n| n.append_domain(origin))
        .map_err(|e| ZoneError::BadName {
            name: format!("{label}.{origin}"),
            reason: e.to_string(),
        })
}

fn mx_rdata(mx: &[(u16, &str)]) -> Result<Vec<RData>, ZoneError> {
    mx.iter()
        .map(|(pref, host)| Ok(RData::MX(MX::new(*pref, parse_fqdn(host)?))))
        .collect()
}

/// Parses a host name as fully qualified (a trailing dot is optional).
fn parse_fqdn(name: &str) -> Result<Name, ZoneError> {
    let mut parsed = Name::from_str(name).map_err(|e| ZoneError::BadName {
        name: name.to_string(),
        reason: e.to_string(),
    })?;
    parsed.set_fqdn(true);
    Ok(parsed)
}

/// A TXT record's text in strings of at most 255 bytes (the wire limit per string), cut on
/// character boundaries; resolvers and SPF checkers join them back.
fn split_txt(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    for ch in text.chars() {
        if current.len() + ch.len_utf8() > 255 {
            parts.push(std::mem::take(&mut current));
        }
        current.push(ch);
    }
    if !current.is_empty() || parts.is_empty() {
        parts.push(current);
    }
    parts
}

/// Binds UDP and TCP on the same ephemeral loopback port (clients use one port for both).
pub(crate) async fn bind_udp_and_tcp() -> Result<(UdpSocket, TcpListener), ZoneError> {
    let mut last_error = None;
    for _ in 0..32 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(ZoneError::Bind)?;
        let port = udp.local_addr().map_err(ZoneError::Bind)?.port();
        match TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            // The TCP port is taken by someone else: try another UDP port.
            Err(e) => last_error = Some(e),
        }
    }
    Err(ZoneError::Bind(last_error.unwrap_or_else(|| {
        std::io::Error::other("no free port for UDP and TCP")
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_txt_is_split_into_255_byte_strings() {
        let text = "v=DKIM1; k=rsa; p=".to_string() + &"A".repeat(400);
        let parts = split_txt(&text);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.len() <= 255));
        assert_eq!(parts.concat(), text);
    }
}
