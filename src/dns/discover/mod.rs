//! `cutover init --discover`: what a domain's DNS says about its mail today, and the plan
//! written from it.
//!
//! The NS are found through a stub resolver (`--resolver`, else /etc/resolv.conf); the
//! authoritative servers (those NS, or `--authoritative`) are then asked directly, one
//! question each, so TTLs are the configured ones and nothing comes from a cache.
//! [`discover`] does the I/O and returns a plain [`Discovery`]; [`plan_overrides`] and
//! [`plan_text`] are pure and turn it into the plan.

mod plan_text;

pub use plan_text::*;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::client::{Client, ClientHandle};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::udp::UdpClientStream;
use hickory_resolver::proto::rr::{DNSClass, Name, RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use jiff::Timestamp;

use crate::dns::query::{self, AnswerStatus, Ask, Rtype};
use crate::dns::spf;
use crate::plan::WhichSide;
use crate::plan::init::{Overrides, Provider, commented, toml_array, toml_string};
use crate::sanitize::sanitize;
use crate::syntax::spf::{Modifier, TermKind};

/// The DKIM selectors tried, the common providers' and hosting panels' conventions.
pub(crate) const DKIM_SELECTORS: [&str; 12] = [
    "default",
    "selector1",
    "selector2",
    "google",
    "k1",
    "mail",
    "dkim",
    "s1",
    "s2",
    "fm1",
    "fm2",
    "fm3",
];

/// Where to look.
#[derive(Debug, Clone)]
pub struct DiscoverOptions {
    /// Resolvers to find the NS through; empty: the system's (/etc/resolv.conf).
    pub resolvers: Vec<SocketAddr>,
    /// The servers to ask instead of the NS; empty: the NS hosts' addresses.
    pub authoritative: Vec<SocketAddr>,
    /// The port the NS hosts are asked on: 53, except in tests on loopback.
    pub ns_port: u16,
    /// Per question.
    pub timeout: Duration,
}

impl DiscoverOptions {
    pub fn new(resolvers: Vec<SocketAddr>, authoritative: Vec<SocketAddr>) -> DiscoverOptions {
        DiscoverOptions {
            resolvers,
            authoritative,
            ns_port: 53,
            timeout: Duration::from_secs(3),
        }
    }
}

/// An RRset as served by an authoritative server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rrset {
    /// Presentation form, sorted; raw server text (sanitise before display).
    pub records: Vec<String>,
    /// Seconds, as configured at the authoritative server.
    pub ttl: u32,
}

/// One NS host and the addresses it was found at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsHost {
    pub name: String,
    pub addresses: Vec<IpAddr>,
}

/// A DKIM selector that is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimFound {
    pub selector: String,
    /// Where the selector's CNAME points, when it is one.
    pub cname: Option<String>,
    /// The key record, when found (at the CNAME's target for a CNAME).
    pub record: Option<String>,
}

/// What the domain's DNS served, with no interpretation yet.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Discovery {
    /// Lowercase, no trailing dot.
    pub domain: String,
    /// The NS records (with the addresses found for them when they were resolved).
    pub ns: Vec<NsHost>,
    /// The servers asked.
    pub servers: Vec<SocketAddr>,
    /// Whether `servers` came from `--authoritative` rather than from the NS.
    pub servers_given: bool,
    /// The server that answered the MX question.
    pub answered_by: Option<SocketAddr>,
    pub mx: Option<Rrset>,
    /// The addresses of each MX host (for `ip4`/`ip6` terms); empty when not found.
    pub mx_addresses: Vec<(String, Vec<IpAddr>)>,
    /// The apex SPF record and the TTL of the apex TXT RRset.
    pub spf: Option<(String, u32)>,
    pub dmarc: Option<String>,
    pub mta_sts: Option<String>,
    /// Apex and `www` A/AAAA: (owner, type, RRset).
    pub web: Vec<(String, Rtype, Rrset)>,
    pub dkim: Vec<DkimFound>,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("{domain} does not exist: {server} answered NXDOMAIN")]
    NoSuchDomain { domain: String, server: String },
    #[error("cannot find the name servers of {domain}: {why}")]
    NoNameServers { domain: String, why: String },
    #[error("no authoritative server answered for {domain} (asked {servers}: {detail})")]
    NoAnswer {
        domain: String,
        servers: String,
        detail: String,
    },
    #[error(
        "no resolver to ask: /etc/resolv.conf names none ({0}); give one with --resolver ADDR[:PORT]"
    )]
    NoResolver(String),
    #[error("cannot start the DNS resolver: {0}")]
    Resolver(String),
}

/// A stub resolver asking `servers` (each with its own port), nothing cached.
fn stub_resolver(
    servers: &[SocketAddr],
    timeout: Duration,
) -> Result<TokioResolver, DiscoverError> {
    let name_servers = servers
        .iter()
        .map(|addr| {
            let mut udp = ConnectionConfig::udp();
            udp.port = addr.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = addr.port();
            NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
        })
        .collect();
    let config = ResolverConfig::from_parts(None, vec![], name_servers);
    let mut builder = Resolver::builder_with_config(config, TokioRuntimeProvider::default());
    let options = builder.options_mut();
    options.timeout = timeout;
    options.attempts = 1;
    options.cache_size = 0;
    builder
        .build()
        .map_err(|e| DiscoverError::Resolver(e.to_string()))
}

/// The `nameserver` lines of /etc/resolv.conf, on port 53.
fn system_resolvers() -> Result<Vec<SocketAddr>, DiscoverError> {
    let text = std::fs::read_to_string("/etc/resolv.conf")
        .map_err(|e| DiscoverError::NoResolver(e.to_string()))?;
    let servers: Vec<SocketAddr> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| {
            // "fe80::1%eth0": the zone is of no use to a socket address here.
            let ip = rest.trim().split('%').next().unwrap_or("");
            IpAddr::from_str(ip).ok()
        })
        .map(|ip| SocketAddr::new(ip, 53))
        .collect();
    if servers.is_empty() {
        return Err(DiscoverError::NoResolver("no nameserver line".into()));
    }
    Ok(servers)
}

/// Asks the domain's DNS what it serves; see the module's documentation.
pub async fn discover(domain: &str, o: &DiscoverOptions) -> Result<Discovery, DiscoverError> {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let now = Timestamp::now();
    let resolvers = if o.resolvers.is_empty() {
        system_resolvers()
    } else {
        Ok(o.resolvers.clone())
    };
    // With --authoritative, a resolver is only needed for names outside the zone (MX
    // hosts' addresses, DKIM CNAME targets): its absence is no failure then.
    let stub = match resolvers {
        Ok(r) => Some(stub_resolver(&r, o.timeout)?),
        Err(e) if o.authoritative.is_empty() => return Err(e),
        Err(_) => None,
    };
    let mut d = Discovery {
        domain: domain.clone(),
        ..Discovery::default()
    };
    if o.authoritative.is_empty() {
        let Some(stub) = &stub else {
            return Err(DiscoverError::NoResolver(String::new()));
        };
        d.ns = find_ns(stub, &domain).await?;
        let mut servers = Vec::new();
        for ns in &d.ns {
            for ip in &ns.addresses {
                let addr = SocketAddr::new(*ip, o.ns_port);
                if !servers.contains(&addr) {
                    servers.push(addr);
                }
            }
        }
        if servers.is_empty() {
            return Err(DiscoverError::NoNameServers {
                domain,
                why: "none of its NS host names has an address".into(),
            });
        }
        d.servers = servers;
    } else {
        d.servers = o.authoritative.clone();
        d.servers_given = true;
    }

    let ask = |name: String, rtype: Rtype| {
        let servers = d.servers.clone();
        let timeout = o.timeout;
        async move { ask_any(&servers, &name, rtype, timeout, now).await }
    };

    // The MX question first: it tells whether the domain exists and a server answers.
    let (mx, by) = ask(domain.clone(), Rtype::MX).await;
    match mx.status {
        AnswerStatus::Nxdomain => {
            return Err(DiscoverError::NoSuchDomain {
                domain,
                server: by.map(|s| s.to_string()).unwrap_or_default(),
            });
        }
        AnswerStatus::Ok => {
            d.mx = Some(Rrset {
                records: mx.records.clone(),
                ttl: mx.ttl,
            })
        }
        AnswerStatus::Nodata => {}
        other => {
            return Err(DiscoverError::NoAnswer {
                domain,
                servers: d
                    .servers
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                detail: format!(
                    "{}{}",
                    other.as_str(),
                    mx.detail.map(|d| format!(": {d}")).unwrap_or_default()
                ),
            });
        }
    }
    d.answered_by = by;

    if d.servers_given {
        let (ns, _) = ask(domain.clone(), Rtype::NS).await;
        d.ns = ns
            .records
            .iter()
            .map(|n| NsHost {
                name: n.to_ascii_lowercase(),
                addresses: vec![],
            })
            .collect();
    }

    let (txt, _) = ask(domain.clone(), Rtype::TXT).await;
    d.spf = txt
        .records
        .iter()
        .find(|r| spf::is_spf(r))
        .map(|r| (r.clone(), txt.ttl));
    let (dmarc, _) = ask(format!("_dmarc.{domain}"), Rtype::TXT).await;
    d.dmarc = dmarc
        .records
        .iter()
        .find(|r| r.to_ascii_lowercase().starts_with("v=dmarc1"))
        .cloned();
    let (sts, _) = ask(format!("_mta-sts.{domain}"), Rtype::TXT).await;
    d.mta_sts = sts
        .records
        .iter()
        .find(|r| r.to_ascii_lowercase().starts_with("v=stsv1"))
        .cloned();
    for owner in [domain.clone(), format!("www.{domain}")] {
        for rtype in [Rtype::A, Rtype::AAAA] {
            let (a, _) = ask(owner.clone(), rtype).await;
            if a.status == AnswerStatus::Ok {
                d.web.push((
                    owner.clone(),
                    rtype,
                    Rrset {
                        records: a.records,
                        ttl: a.ttl,
                    },
                ));
            }
        }
    }

    // The MX hosts' addresses, for ip4/ip6 terms: from the zone when the host is in it.
    for host in mx_hosts(&d) {
        let mut addresses = Vec::new();
        if in_zone(&host, &domain) {
            for rtype in [Rtype::A, Rtype::AAAA] {
                let (a, _) = ask(host.clone(), rtype).await;
                addresses.extend(a.records.iter().filter_map(|r| r.parse::<IpAddr>().ok()));
            }
        } else if let Some(stub) = &stub
            && let Ok(Ok(ips)) =
                tokio::time::timeout(o.timeout, stub.lookup_ip(host.as_str())).await
        {
            addresses.extend(ips.iter());
        }
        d.mx_addresses.push((host, addresses));
    }

    let lookups = DKIM_SELECTORS.iter().map(|selector| {
        let servers = d.servers.clone();
        let domain = domain.clone();
        let stub = stub.clone();
        let timeout = o.timeout;
        async move { dkim_at(selector, &domain, &servers, stub.as_ref(), timeout, now).await }
    });
    d.dkim = futures_util::future::join_all(lookups)
        .await
        .into_iter()
        .flatten()
        .collect();
    Ok(d)
}

/// The NS host names of `domain` (or of the zone above it, for a mail domain that is not
/// a zone of its own) and their addresses, through the stub resolver.
async fn find_ns(stub: &TokioResolver, domain: &str) -> Result<Vec<NsHost>, DiscoverError> {
    let mut zone = domain.to_string();
    loop {
        match stub.ns_lookup(format!("{zone}.").as_str()).await {
            Ok(lookup) => {
                let names: BTreeSet<String> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::NS(ns) => Some(ns.0.to_ascii().to_ascii_lowercase()),
                        _ => None,
                    })
                    .collect();
                if !names.is_empty() {
                    let mut hosts = Vec::new();
                    for name in names {
                        let addresses = match stub.lookup_ip(name.as_str()).await {
                            Ok(ips) => ips.iter().collect(),
                            Err(_) => vec![],
                        };
                        hosts.push(NsHost { name, addresses });
                    }
                    return Ok(hosts);
                }
            }
            Err(e) if e.is_nx_domain() => {
                return Err(DiscoverError::NoSuchDomain {
                    domain: domain.to_string(),
                    server: "the resolver".into(),
                });
            }
            Err(e) if e.is_no_records_found() => {}
            Err(e) => {
                return Err(DiscoverError::NoNameServers {
                    domain: domain.to_string(),
                    why: e.to_string(),
                });
            }
        }
        // No NS here: the zone is further up (but never a top-level domain alone).
        match zone.split_once('.') {
            Some((_, parent)) if parent.contains('.') => zone = parent.to_string(),
            _ => {
                return Err(DiscoverError::NoNameServers {
                    domain: domain.to_string(),
                    why: "no NS records at it or above it".into(),
                });
            }
        }
    }
}

/// The first definite answer among `servers`, else the last answer; and who gave it.
async fn ask_any(
    servers: &[SocketAddr],
    name: &str,
    rtype: Rtype,
    timeout: Duration,
    now: Timestamp,
) -> (query::Answer, Option<SocketAddr>) {
    let mut last = None;
    for server in servers {
        let a = query::ask(
            Ask {
                server: *server,
                recursion_desired: false,
                timeout,
            },
            name,
            rtype,
            now,
        )
        .await;
        if a.status.is_definite() {
            return (a, Some(*server));
        }
        last = Some((a, Some(*server)));
    }
    last.unwrap_or_else(|| {
        (
            query::Answer {
                name: query::fqdn(name),
                rtype,
                status: AnswerStatus::Unreachable,
                ttl: 0,
                records: vec![],
                measured_at: now,
                latency_ms: 0,
                tcp: false,
                detail: Some("no server to ask".into()),
            },
            None,
        )
    })
}

/// A CNAME at `name` on `server`, if it serves one (query.rs reports the asked type only).
async fn cname_at(server: SocketAddr, name: &str, timeout: Duration) -> Option<String> {
    let name = Name::from_ascii(query::fqdn(name)).ok()?;
    let stream = UdpClientStream::builder(server, TokioRuntimeProvider::default())
        .with_timeout(Some(timeout))
        .build();
    let (mut client, background) = Client::<TokioRuntimeProvider>::from_sender(stream);
    let task = tokio::spawn(background);
    let response =
        tokio::time::timeout(timeout, client.query(name, DNSClass::IN, RecordType::CNAME)).await;
    task.abort();
    response
        .ok()?
        .ok()?
        .answers
        .iter()
        .find_map(|r| match &r.data {
            RData::CNAME(c) => Some(c.0.to_ascii().to_ascii_lowercase()),
            _ => None,
        })
}

/// The DKIM record at one selector: a TXT, or a CNAME followed to its TXT.
async fn dkim_at(
    selector: &str,
    domain: &str,
    servers: &[SocketAddr],
    stub: Option<&TokioResolver>,
    timeout: Duration,
    now: Timestamp,
) -> Option<DkimFound> {
    let owner = format!("{selector}._domainkey.{domain}");
    let (txt, by) = ask_any(servers, &owner, Rtype::TXT, timeout, now).await;
    let cname = match by {
        Some(server) if txt.status != AnswerStatus::Nxdomain => {
            cname_at(server, &owner, timeout).await
        }
        _ => None,
    };
    let record = match &cname {
        None => txt.records.first().cloned(),
        Some(target) if in_zone(target, domain) => {
            let (t, _) = ask_any(servers, target, Rtype::TXT, timeout, now).await;
            t.records.first().cloned()
        }
        Some(target) => match stub {
            Some(stub) => {
                match tokio::time::timeout(timeout, stub.txt_lookup(target.as_str())).await {
                    Ok(Ok(lookup)) => lookup.answers().iter().find_map(|r| match &r.data {
                        RData::TXT(t) => Some(
                            t.txt_data
                                .iter()
                                .map(|part| String::from_utf8_lossy(part).into_owned())
                                .collect::<String>(),
                        ),
                        _ => None,
                    }),
                    _ => None,
                }
            }
            None => None,
        },
    };
    (cname.is_some() || record.is_some()).then(|| DkimFound {
        selector: selector.to_string(),
        cname,
        record,
    })
}

/// Whether `host` is `domain` or below it.
fn in_zone(host: &str, domain: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == domain || host.ends_with(&format!(".{domain}"))
}
