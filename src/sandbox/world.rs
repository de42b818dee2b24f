//! The whole rehearsal world started in one call: the simulated clock, the rehearsal domain's
//! authoritative server with the old provider's records, the public resolvers, and the old and
//! new IMAP servers (the old one full of generated mail, the new one empty), and the new
//! MX's SMTP server, which lacks one alias the plan lists (the rehearsal's forgotten alias).
//! For the canaries: a mailbox on the domain that receives them, the new provider's
//! submission (DKIM-signing with the key the rehearsal publishes) and an external provider
//! (its IMAP server, its submission, its inbound MX writing Authentication-Results).

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
use super::provider::{
    DkimSigning, ExternalInbox, MailboxInbound, NEW_OUTBOUND_IP, OLD_HOST_IP, SubmissionServer,
    ToDomain, ToExternal,
};
use super::resolver::CachingResolver;
use super::smtp_server::SmtpServer;
use crate::clock::Clock;
use crate::plan::{ImapEndpoint, Security, WhichSide};

/// The local part of the alias the first employee has and the new provider forgot to
/// create: the new MX refuses it until the operator creates it (console key `c`).
pub const FORGOTTEN_ALIAS: &str = "sales";

/// The login of the mailbox on the domain that receives canaries (`[canary] mailbox`): a
/// dedicated one, on both servers, never an employee's.
pub const CANARY_LOGIN: &str = "cutover-canary";
/// The external provider's domain, where the canaries' external mailbox is.
pub const EXTERNAL_DOMAIN: &str = "external-provider.test";
/// The external provider's inbound MX: `by` of its `Received`, its authserv-id.
pub const EXTERNAL_MX: &str = "mx.external-provider.test";
/// The external provider's submission host.
pub const EXTERNAL_SUBMISSION: &str = "smtp.external-provider.test";
/// The new provider's submission host.
pub const NEW_SUBMISSION: &str = "smtp.new-host.test";

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
    #[error("cannot start a submission server: {0}")]
    Submission(#[source] std::io::Error),
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
    /// The mailbox that receives canaries (on the old server from the start, on the new one
    /// with the employees'); no one sends it mail but cutover.
    pub canary: Employee,
    /// The new provider's submission (`smtps://`), signing with [`World::dkim`].
    pub new_submission: SubmissionServer,
    /// The new provider's DKIM key and the selector it signs with.
    pub dkim: Arc<DkimSigning>,
    /// The external provider's IMAP server (the canaries' external mailbox).
    pub external: ImapServer,
    /// The external provider's submission (`smtps://`): mail to the domain goes where its MX
    /// resolves.
    pub external_submission: SubmissionServer,
    /// The external mailbox's account (address, login, password).
    pub external_account: Employee,
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

        let canary = Employee {
            address: format!("{CANARY_LOGIN}@{}", spec.domain),
            login: CANARY_LOGIN.to_string(),
            password: format!("pw-canary-{}", spec.seed),
            aliases: Vec::new(),
        };
        old_store.create_user(&canary.login, &canary.password)?;
        let external_account = Employee {
            address: format!("rehearsal@{EXTERNAL_DOMAIN}"),
            login: format!("rehearsal@{EXTERNAL_DOMAIN}"),
            password: format!("pw-external-{}", spec.seed),
            aliases: Vec::new(),
        };
        let external_store = Mailstore::new();
        external_store.create_user(&external_account.login, &external_account.password)?;
        for (name, special_use) in SEEDED_FOLDERS {
            external_store.create_folder(&external_account.login, name, special_use)?;
        }
        // The providers' hosts resolve, as on the internet: SPF's `a:` terms need them.
        for resolver in &resolvers {
            resolver.add_host(&spec.new_mx, NEW_OUTBOUND_IP);
            resolver.add_host(&spec.old_mx, OLD_HOST_IP);
        }

        let dated: Arc<dyn Clock> = Arc::new(clock.clone());
        let old = ImapServer::start(old_store.clone(), dated.clone()).await?;
        let new = ImapServer::start(new_store.clone(), dated.clone()).await?;
        let external = ImapServer::start(external_store.clone(), dated).await?;
        // The mailboxes' addresses only: the provider forgot the alias.
        let addresses: Vec<String> = employees
            .iter()
            .chain([&canary])
            .map(|e| e.address.clone())
            .collect();
        let logins = employees
            .iter()
            .chain([&canary])
            .flat_map(|e| {
                [e.address.clone()]
                    .into_iter()
                    .chain(e.aliases.iter().cloned())
                    .map(|a| (a.to_lowercase(), e.login.clone()))
            })
            .collect();
        let inbox = MailboxInbound {
            host: spec.new_mx.clone(),
            store: new_store.clone(),
            logins,
            clock: clock.clone(),
        };
        let new_smtp = SmtpServer::start_with(&spec.new_mx, &addresses, Some(Arc::new(inbox)))
            .await
            .map_err(WorldError::Smtp)?;

        let dkim = Arc::new(DkimSigning::new(
            &spec.domain,
            super::operator::DKIM_SELECTOR,
            spec.seed,
        ));
        let external_inbox = Arc::new(ExternalInbox {
            host: EXTERNAL_MX.to_string(),
            domain: EXTERNAL_DOMAIN.to_string(),
            store: external_store.clone(),
            logins: [(
                external_account.address.clone(),
                external_account.login.clone(),
            )]
            .into_iter()
            .collect(),
            resolvers: resolvers.iter().map(CachingResolver::addr).collect(),
            clock: clock.clone(),
        });
        let new_submission = SubmissionServer::start(
            NEW_SUBMISSION,
            new_store,
            Arc::new(ToExternal {
                helo: spec.new_mx.clone(),
                signing: dkim.clone(),
                external: external_inbox,
            }),
        )
        .await
        .map_err(WorldError::Submission)?;
        let mut routes = MailRoutes::new();
        routes
            .add(&spec.old_mx, old_store)
            .add(&spec.new_mx, new.store().clone());
        let world_sender = Sender::new(
            resolvers
                .first()
                .map(CachingResolver::addr)
                .unwrap_or(zone.addr()),
            zone.origin(),
            routes,
            clock.clone(),
        );
        let external_submission = SubmissionServer::start(
            EXTERNAL_SUBMISSION,
            external_store,
            Arc::new(ToDomain {
                helo: EXTERNAL_SUBMISSION.to_string(),
                domain: spec.domain.clone(),
                sender: world_sender,
                clock: clock.clone(),
            }),
        )
        .await
        .map_err(WorldError::Submission)?;
        Ok(World {
            canary,
            new_submission,
            dkim,
            external,
            external_submission,
            external_account,
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
        plain_imap(addr)
    }

    /// How a plan names the external provider's IMAP server: plain text on loopback.
    pub fn external_imap(&self) -> ImapEndpoint {
        plain_imap(self.external.addr())
    }
}

/// An IMAP server of the rehearsal as a plan names it: plain text on loopback.
fn plain_imap(addr: SocketAddr) -> ImapEndpoint {
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

impl World {
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
