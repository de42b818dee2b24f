//! The rehearsal's mail traffic: senders that deliver where the MX they resolve points, and the
//! POP3 fetch an employee sets up to pull old mail into the new mailbox.
//!
//! A sender behaves like a sending MTA: it asks one caching resolver for the domain's MX (so a
//! stale cache sends mail to the old server), tries the hosts in preference order, skips hosts
//! that run no mail server, and defers when none is left (an empty MX set, or one naming
//! neither server). A host that runs a server but has no such user bounces the message: that
//! is mail lost, and the rehearsal must say so. A host in an outage answers 4xx: the sender
//! tries the next MX host, and defers when none is left.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, RecordType};
use jiff::tz::TimeZone;

use super::clock::SimClock;
use super::imap::Mailstore;
use super::resolver::query_udp;
use super::smtp_server::Outage;
use crate::clock::Clock;

/// What happened to one message a sender sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Stored in the user's INBOX on the server answering for `host`.
    Delivered { host: String, uid: u32 },
    /// Not delivered now; a real sender retries later (and gives up after days).
    Deferred { reason: DeferReason },
    /// Refused for good by `host` ("no such user"): the message is lost.
    Bounced { host: String, user: String },
}

/// Why a sender deferred.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeferReason {
    /// The resolver did not answer (or answered SERVFAIL).
    ResolverFailed,
    /// The domain has no MX records (empty set, NODATA or NXDOMAIN).
    NoMx,
    /// Every MX host named runs no mail server the rehearsal knows.
    NoReachableHost { hosts: Vec<String> },
    /// The MX host answered with a temporary failure (4xx), and no other host took it.
    TemporaryFailure { host: String, reply: String },
}

/// The mail servers of the rehearsal by MX host name.
#[derive(Debug, Clone, Default)]
pub struct MailRoutes {
    routes: Vec<(Name, Mailstore, Option<Outage>)>,
}

impl MailRoutes {
    pub fn new() -> MailRoutes {
        MailRoutes::default()
    }

    /// Mail for MX host `host` lands in `store` (host name, trailing dot optional).
    pub fn add(&mut self, host: &str, store: Mailstore) -> &mut MailRoutes {
        self.push(host, store, None)
    }

    /// As [`MailRoutes::add`], for a host whose server may be in an outage (answering 4xx).
    pub fn add_with_outage(
        &mut self,
        host: &str,
        store: Mailstore,
        outage: Outage,
    ) -> &mut MailRoutes {
        self.push(host, store, Some(outage))
    }

    fn push(&mut self, host: &str, store: Mailstore, outage: Option<Outage>) -> &mut MailRoutes {
        if let Ok(mut name) = Name::from_ascii(host) {
            name.set_fqdn(true);
            self.routes.push((name, store, outage));
        }
        self
    }

    fn route_for(&self, host: &Name) -> Option<(&Mailstore, Option<String>)> {
        self.routes
            .iter()
            .find(|(name, ..)| name == host)
            .map(|(_, store, outage)| (store, outage.as_ref().and_then(Outage::reply)))
    }
}

/// A sending MTA out on the internet, resolving through one public resolver.
#[derive(Debug, Clone)]
pub struct Sender {
    resolver: SocketAddr,
    domain: Name,
    routes: MailRoutes,
    clock: SimClock,
}

impl Sender {
    /// A sender for mail to `domain`, asking `resolver` for its MX.
    pub fn new(resolver: SocketAddr, domain: &Name, routes: MailRoutes, clock: SimClock) -> Sender {
        Sender {
            resolver,
            domain: domain.clone(),
            routes,
            clock,
        }
    }

    /// Sends one message to `user` of the domain, now (simulated time).
    pub async fn send(&self, user: &str, raw: Vec<u8>) -> Delivery {
        let reply = {
            // The DNS round is I/O: simulated time stands still meanwhile.
            let _guard = self.clock.io_guard();
            query_udp(self.resolver, self.domain.clone(), RecordType::MX, true).await
        };
        let Some(reply) = reply else {
            return Delivery::Deferred {
                reason: DeferReason::ResolverFailed,
            };
        };
        match reply.metadata.response_code {
            ResponseCode::NoError | ResponseCode::NXDomain => {}
            _ => {
                return Delivery::Deferred {
                    reason: DeferReason::ResolverFailed,
                };
            }
        }
        let mut hosts: Vec<(u16, Name)> = reply
            .answers
            .iter()
            .filter_map(|record| match &record.data {
                RData::MX(mx) => Some((mx.preference, mx.exchange.clone())),
                _ => None,
            })
            .collect();
        if hosts.is_empty() {
            return Delivery::Deferred {
                reason: DeferReason::NoMx,
            };
        }
        hosts.sort();
        let now = self.clock.now().to_zoned_datetime(TimeZone::UTC);
        let mut temporary: Option<(String, String)> = None;
        for (_, host) in &hosts {
            let Some((store, outage)) = self.routes.route_for(host) else {
                continue;
            };
            let host = host.to_string();
            if let Some(reply) = outage {
                // A 4xx: a sending MTA tries the next MX host, and retries later.
                temporary.get_or_insert((host, reply));
                continue;
            }
            return match store.deliver(user, "INBOX", raw, now) {
                Ok(uid) => Delivery::Delivered { host, uid },
                Err(_) => Delivery::Bounced {
                    host,
                    user: user.to_string(),
                },
            };
        }
        if let Some((host, reply)) = temporary {
            return Delivery::Deferred {
                reason: DeferReason::TemporaryFailure { host, reply },
            };
        }
        Delivery::Deferred {
            reason: DeferReason::NoReachableHost {
                hosts: hosts.iter().map(|(_, host)| host.to_string()).collect(),
            },
        }
    }
}

/// An employee's POP3 fetch: the new mailbox pulls the old INBOX, leaving the originals on the
/// old server and adding a `Received:` line to each copy, as real fetchers do.
#[derive(Debug, Clone)]
pub struct Pop3Fetch {
    pub old: Mailstore,
    pub old_user: String,
    pub new: Mailstore,
    pub new_user: String,
    /// Old INBOX UIDs already fetched (a fetcher remembers them, like POP3 UIDL).
    pub fetched: BTreeSet<u32>,
}

impl Pop3Fetch {
    pub fn new(old: Mailstore, old_user: &str, new: Mailstore, new_user: &str) -> Pop3Fetch {
        Pop3Fetch {
            old,
            old_user: old_user.to_string(),
            new,
            new_user: new_user.to_string(),
            fetched: BTreeSet::new(),
        }
    }

    /// One fetch round at `now`: copies what arrived in the old INBOX since the last round.
    /// Returns how many messages were copied.
    pub fn run(&mut self, clock: &dyn Clock) -> Result<usize, super::imap::StoreError> {
        let now = clock.now().to_zoned_datetime(TimeZone::UTC);
        let stamp = now.strftime("%a, %d %b %Y %H:%M:%S %z").to_string();
        let mut copied = 0;
        for message in self.old.messages(&self.old_user, "INBOX")? {
            if self.fetched.contains(&message.uid) {
                continue;
            }
            let mut raw = format!(
                "Received: from old-server by new-server with POP3 (fetch for {}); {stamp}\r\n",
                self.new_user
            )
            .into_bytes();
            raw.extend_from_slice(&message.raw);
            self.new
                .deliver(&self.new_user, "INBOX", raw, now.clone())?;
            self.fetched.insert(message.uid);
            copied += 1;
        }
        Ok(copied)
    }
}
