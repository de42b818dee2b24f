//! A real authoritative DNS server on loopback for tests (hickory-server,
//! in-process, UDP and TCP on one port): serve a zone, change RRsets while it
//! serves, and make it slow, failing (SERVFAIL) or silent.
#![allow(dead_code)] // each test binary uses a different part of it

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_server::Server;
use hickory_server::net::runtime::{Time, TokioRuntimeProvider};
use hickory_server::proto::op::{Header, HeaderCounts, Metadata, ResponseCode};
use hickory_server::proto::rr::rdata::{MX, SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordSet, RecordType, RrKey};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, MessageResponseBuilder, ZoneType};

/// How the server treats questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers from the zone.
    Answer,
    /// Answers SERVFAIL to everything.
    ServFail,
    /// Never answers (a dead server that still accepts packets).
    Silent,
}

struct Faults {
    delay: Duration,
    behaviour: Behaviour,
}

type Zone = InMemoryZoneHandler<TokioRuntimeProvider>;

/// One running authoritative server for one zone.
pub struct TestDns {
    pub addr: SocketAddr,
    /// The zones served, most specific first is not required: lookups pick the longest match.
    zones: Vec<(Name, Arc<Zone>)>,
    faults: Arc<Mutex<Faults>>,
    serial: Mutex<u32>,
    server: Server<FaultyCatalog>,
}

struct FaultyCatalog {
    catalog: Catalog,
    faults: Arc<Mutex<Faults>>,
}

#[async_trait::async_trait]
impl RequestHandler for FaultyCatalog {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let (delay, behaviour) = {
            let f = self.faults.lock().unwrap();
            (f.delay, f.behaviour)
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match behaviour {
            Behaviour::Answer => {
                self.catalog
                    .handle_request::<R, T>(request, response_handle)
                    .await
            }
            Behaviour::ServFail => {
                let response = MessageResponseBuilder::from_message_request(request)
                    .error_msg(&request.metadata, ResponseCode::ServFail);
                match response_handle.send_response(response).await {
                    Ok(info) => info,
                    Err(_) => servfail_info(request),
                }
            }
            Behaviour::Silent => servfail_info(request),
        }
    }
}

fn servfail_info(request: &Request) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(&request.metadata);
    metadata.response_code = ResponseCode::ServFail;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

fn name(text: &str) -> Name {
    let mut n = Name::from_str(text).unwrap();
    n.set_fqdn(true);
    n
}

impl TestDns {
    /// Starts a server for `origin` (SOA and NS only) on 127.0.0.1, UDP and TCP on one port.
    pub async fn start(origin: &str) -> TestDns {
        TestDns::start_zones(&[origin]).await
    }

    /// Starts a server for several zones (e.g. the domain and the SPF includes' domains).
    pub async fn start_zones(origins: &[&str]) -> TestDns {
        let mut catalog = Catalog::new();
        let mut zones = Vec::new();
        for origin in origins {
            let zone = Arc::new(empty_zone(origin));
            catalog.upsert(LowerName::new(&name(origin)), vec![zone.clone()]);
            zones.push((name(origin), zone));
        }
        let faults = Arc::new(Mutex::new(Faults {
            delay: Duration::ZERO,
            behaviour: Behaviour::Answer,
        }));
        let mut server = Server::new(FaultyCatalog {
            catalog,
            faults: faults.clone(),
        });
        // UDP first on an ephemeral port, then TCP on the same port (retry if taken).
        let (udp, tcp) = loop {
            let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let port = udp.local_addr().unwrap().port();
            if let Ok(tcp) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().unwrap();
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 64 * 1024);
        let dns = TestDns {
            addr,
            zones,
            faults,
            serial: Mutex::new(1),
            server,
        };
        for origin in origins {
            let ns = hickory_server::proto::rr::rdata::NS(name(&format!("ns1.{origin}")));
            dns.set(origin, RecordType::NS, 86400, vec![RData::NS(ns)])
                .await;
        }
        dns
    }

    fn next_serial(&self) -> u32 {
        let mut s = self.serial.lock().unwrap();
        *s += 1;
        *s
    }

    /// Replaces the whole RRset of (`owner`, `rtype`); an empty `data` deletes it.
    pub async fn set(&self, owner: &str, rtype: RecordType, ttl: u32, data: Vec<RData>) {
        let owner = name(owner);
        let key = RrKey::new(LowerName::new(&owner), rtype);
        let serial = self.next_serial();
        let zone = self
            .zones
            .iter()
            .filter(|(origin, _)| origin.zone_of(&owner))
            .max_by_key(|(origin, _)| origin.num_labels())
            .map(|(_, zone)| zone.clone())
            .unwrap_or_else(|| panic!("{owner} is in none of this server's zones"));
        let mut records = zone.records_mut().await;
        if data.is_empty() {
            records.remove(&key);
            return;
        }
        let mut set = RecordSet::with_ttl(owner.clone(), rtype, ttl);
        for d in data {
            set.insert(Record::from_rdata(owner.clone(), ttl, d), serial);
        }
        records.insert(key, Arc::new(set));
    }

    /// MX records as `(preference, host)`.
    pub async fn set_mx(&self, owner: &str, ttl: u32, hosts: &[(u16, &str)]) {
        let data = hosts
            .iter()
            .map(|(p, h)| RData::MX(MX::new(*p, name(h))))
            .collect();
        self.set(owner, RecordType::MX, ttl, data).await;
    }

    /// TXT records; each text is split into 255-byte strings as DNS requires.
    pub async fn set_txt(&self, owner: &str, ttl: u32, texts: &[&str]) {
        let data = texts
            .iter()
            .map(|t| RData::TXT(TXT::from_bytes(t.as_bytes().chunks(255).collect())))
            .collect();
        self.set(owner, RecordType::TXT, ttl, data).await;
    }

    pub async fn set_a(&self, owner: &str, ttl: u32, ips: &[&str]) {
        let data = ips
            .iter()
            .map(|ip| RData::A(hickory_server::proto::rr::rdata::A(ip.parse().unwrap())))
            .collect();
        self.set(owner, RecordType::A, ttl, data).await;
    }

    pub async fn delete(&self, owner: &str, rtype: RecordType) {
        self.set(owner, rtype, 0, vec![]).await;
    }

    /// Every answer waits this long first.
    pub fn set_delay(&self, delay: Duration) {
        self.faults.lock().unwrap().delay = delay;
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.faults.lock().unwrap().behaviour = behaviour;
    }

    pub async fn stop(mut self) {
        let _ = self.server.shutdown_gracefully().await;
    }
}

/// A UDP socket that receives and never answers, and no TCP: a black hole.
pub struct BlackHole {
    pub addr: SocketAddr,
    _socket: std::net::UdpSocket,
}

impl BlackHole {
    pub fn start() -> BlackHole {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        BlackHole {
            addr: socket.local_addr().unwrap(),
            _socket: socket,
        }
    }
}

fn empty_zone(origin: &str) -> Zone {
    let origin_name = name(origin);
    let mut records = BTreeMap::new();
    let soa = SOA::new(
        name(&format!("ns1.{origin}")),
        name(&format!("hostmaster.{origin}")),
        1,
        3600,
        600,
        86400,
        300,
    );
    let mut soa_set = RecordSet::with_ttl(origin_name.clone(), RecordType::SOA, 3600);
    soa_set.add_rdata(RData::SOA(soa));
    records.insert(
        RrKey::new(LowerName::new(&origin_name), RecordType::SOA),
        soa_set,
    );
    Zone::new(origin_name, records, ZoneType::Primary, AxfrPolicy::Deny).unwrap()
}
