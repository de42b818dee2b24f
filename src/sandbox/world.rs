//! The whole rehearsal world started in one call: the simulated clock, the rehearsal domain's
//! authoritative server with the old provider's records, the public resolvers, and the old and
//! new IMAP servers (the old one full of generated mail, the new one empty), and the new
//! MX's SMTP server, which lacks one alias the plan lists (the rehearsal's forgotten alias).

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::rr::RecordType;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::clock::SimClock;
use super::dns_zone::{ZoneError, ZoneSeed, ZoneServer};
use super::imap::{
    ImapServer, ImapServerError, Mailstore, SEEDED_FOLDERS, SeedSpec, StoreError, seed_user,
};
use super::mailflow::{MailRoutes, Sender};
use super::resolver::CachingResolver;
use super::smtp_server::SmtpServer;
use crate::clock::Clock;
use crate::plan::{ImapEndpoint, Security, WhichSide};

/// The local part of the alias the first employee has and the new provider forgot to
/// create: the new MX refuses it until the operator creates it (console key `c`).
pub const FORGOTTEN_ALIAS: &str = "sales";

/// What to build.
#[derive(Debug, Clone)]
pub struct WorldSpec {
    /// The rehearsal domain, e.g. `example-firm.test`.
    pub domain: String,
    /// MX host of the old provider (in the zone from the start).
    pub old_mx: String,
    /// MX host of the new provider (added by the operator during the rehearsal).
    pub new_mx: String,
    /// How many public resolvers.
    pub resolvers: usize,
    /// How many mailboxes (users `user1`, `user2`, ...).
    pub mailboxes: usize,
    pub messages_per_folder: usize,
    pub body_size: usize,
    /// Simulated time at the start.
    pub start: Timestamp,
    /// Simulated seconds per real second.
    pub speed: f64,
    /// Makes the generated mail differ between runs.
    pub seed: u64,
}

impl WorldSpec {
    /// A small company: 3 resolvers, 5 mailboxes of a few hundred messages.
    pub fn small(start: Timestamp) -> WorldSpec {
        WorldSpec {
            domain: "example-firm.test".to_string(),
            old_mx: "mail.old-host.test".to_string(),
            new_mx: "mx.new-host.test".to_string(),
            resolvers: 3,
            mailboxes: 5,
            messages_per_folder: 40,
            body_size: 2_000,
            start,
            speed: 400.0,
            seed: 1,
        }
    }
}

/// One employee's mailbox, on both servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Employee {
    pub address: String,
    /// Login on both servers.
    pub login: String,
    pub password: String,
    /// Other addresses delivered to this mailbox (the plan's `aliases`).
    pub aliases: Vec<String>,
}

/// Why the world could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorldError {
    #[error(transparent)]
    Dns(#[from] ZoneError),
    #[error(transparent)]
    Imap(#[from] ImapServerError),
    #[error("cannot seed the old server's mailboxes: {0}")]
    Seed(#[from] StoreError),
    #[error("cannot start the new MX's SMTP server: {0}")]
    Smtp(#[source] std::io::Error),
}

/// The running rehearsal world; dropping it stops every server.
pub struct World {
    pub clock: SimClock,
    pub zone: ZoneServer,
    pub resolvers: Vec<CachingResolver>,
    pub old: ImapServer,
    pub new: ImapServer,
    /// The new MX's SMTP server, accepting the employees' addresses (not their aliases,
    /// until [`World::create_missing_aliases`]).
    pub new_smtp: SmtpServer,
    pub employees: Vec<Employee>,
    /// Admin credentials valid on both servers (AUTHENTICATE PLAIN authzid or `user*admin`).
    pub admin: (String, String),
    pub spec: WorldSpec,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("zone", &self.zone.addr())
            .field("old", &self.old.addr())
            .field("new", &self.new.addr())
            .field("employees", &self.employees.len())
            .finish_non_exhaustive()
    }
}

impl World {
    /// Starts everything on 127.0.0.1 and seeds the old server. The clock starts running.
    pub async fn start(spec: WorldSpec) -> Result<World, WorldError> {
        let clock = SimClock::new(spec.start, spec.speed);
        let zone = ZoneServer::start(&ZoneSeed::realistic(&spec.domain, &spec.old_mx)).await?;
        let resolvers =
            CachingResolver::start_many(spec.resolvers, zone.origin(), zone.addr(), &clock).await?;

        let admin = ("cutover-admin".to_string(), format!("admin-{}", spec.seed));
        let old_store = Mailstore::new();
        let new_store = Mailstore::new();
        old_store.set_admin(&admin.0, &admin.1);
        new_store.set_admin(&admin.0, &admin.1);
        let newest = spec
            .start
            .checked_sub(SignedDuration::from_hours(1))
            .unwrap_or(spec.start)
            .to_zoned_datetime(TimeZone::UTC);
        let mut employees = Vec::with_capacity(spec.mailboxes);
        for n in 1..=spec.mailboxes {
            let login = format!("user{n}");
            let password = format!("pw-{n}-{}", spec.seed);
            seed_user(
                &old_store,
                &SeedSpec {
                    login: login.clone(),
                    password: password.clone(),
                    domain: spec.domain.clone(),
                    messages_per_folder: spec.messages_per_folder,
                    body_size: spec.body_size,
                    newest: newest.clone(),
                    seed: spec.seed.wrapping_mul(1_000).wrapping_add(n as u64),
                },
            )?;
            let aliases = if n == 1 {
                vec![format!("{FORGOTTEN_ALIAS}@{}", spec.domain)]
            } else {
                Vec::new()
            };
            employees.push(Employee {
                address: format!("{login}@{}", spec.domain),
                login,
                password,
                aliases,
            });
        }

        let dated: Arc<dyn Clock> = Arc::new(clock.clone());
        let old = ImapServer::start(old_store, dated.clone()).await?;
        let new = ImapServer::start(new_store, dated).await?;
        // The mailboxes' addresses only: the provider forgot the alias.
        let addresses: Vec<String> = employees.iter().map(|e| e.address.clone()).collect();
        let new_smtp = SmtpServer::start(&spec.new_mx, &addresses)
            .await
            .map_err(WorldError::Smtp)?;
        Ok(World {
            clock,
            zone,
            resolvers,
            old,
            new,
            new_smtp,
            employees,
            admin,
            spec,
        })
    }

    /// Sets up an employee's account on the new server (R6), with the usual folders.
    pub fn create_new_account(&self, employee: &Employee) -> Result<(), StoreError> {
        let store = self.new.store();
        store.create_user(&employee.login, &employee.password)?;
        for (name, special_use) in SEEDED_FOLDERS {
            store.create_folder(&employee.login, name, special_use)?;
        }
        Ok(())
    }

    /// Creates every alias the new provider lacks: its MX accepts them from now on.
    /// Returns what was created, each alias with its mailbox's address.
    pub fn create_missing_aliases(&self) -> Vec<(String, String)> {
        let mut created = Vec::new();
        for employee in &self.employees {
            for alias in &employee.aliases {
                if !self.new_smtp.accepts(alias) {
                    self.new_smtp.accept(alias);
                    created.push((alias.clone(), employee.address.clone()));
                }
            }
        }
        created
    }

    /// Where mail for each MX host lands.
    pub fn routes(&self) -> MailRoutes {
        let mut routes = MailRoutes::new();
        routes.add(&self.spec.old_mx, self.old.store().clone());
        routes.add_with_outage(
            &self.spec.new_mx,
            self.new.store().clone(),
            self.new_smtp.outage(),
        );
        routes
    }

    /// A sender on the internet that resolves through resolver `index` (0-based).
    pub fn sender(&self, index: usize) -> Option<Sender> {
        let resolver = self.resolvers.get(index)?;
        Some(Sender::new(
            resolver.addr(),
            self.zone.origin(),
            self.routes(),
            self.clock.clone(),
        ))
    }

    /// How a plan names the old or the new IMAP server: plain text on loopback.
    pub fn imap_endpoint(&self, side: WhichSide) -> ImapEndpoint {
        let addr = match side {
            WhichSide::Old => self.old.addr(),
            WhichSide::New => self.new.addr(),
        };
        ImapEndpoint {
            url: format!("imap://{addr}"),
            host: addr.ip().to_string(),
            port: addr.port(),
            security: Security::None,
            ca_file: None,
            insecure_skip_verify: false,
            pin_sha256: None,
        }
    }

    /// The resolvers' addresses, as a plan lists them.
    pub fn resolver_addrs(&self) -> Vec<SocketAddr> {
        self.resolvers.iter().map(CachingResolver::addr).collect()
    }

    /// The MX TTL the zone serves now (what a DNS host console shows).
    pub async fn mx_ttl(&self) -> Option<u32> {
        self.zone
            .lookup("@", RecordType::MX)
            .await
            .map(|(ttl, _)| ttl)
    }
}
