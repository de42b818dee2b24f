//! The rehearsal sandbox: real DNS and IMAP servers on loopback and a simulated clock, so a
//! whole migration can be rehearsed (and tested) with nothing installed.
//!
//! - [`clock`]: [`SimClock`], simulated time with a speed factor, pause, skip and an I/O guard.
//! - [`dns_zone`]: [`ZoneServer`], the authoritative server of the rehearsal domain, with the
//!   DNS host console's edits.
//! - [`resolver`]: [`CachingResolver`], "public resolvers" that cache on the simulated clock.
//! - [`imap`]: [`ImapServer`] and its [`Mailstore`], a small in-memory IMAP4rev1 server.
//! - [`mailflow`]: [`Sender`]s that deliver where the MX they resolve points, and the
//!   employees' [`Pop3Fetch`].
//! - [`smtp_server`]: [`SmtpServer`], the new MX answering `RCPT TO` for the probe and taking
//!   canaries into the new server's INBOX; the SMTP session the submission servers share.
//! - [`provider`]: the new provider's submission (DKIM-signing with the key the rehearsal
//!   publishes) and the external provider (its submission, its inbound MX writing
//!   `Authentication-Results`), so every canary route carries mail.
//! - [`operator`]: every change made by hand at the DNS host and on the mail servers, for the
//!   console keys and the autopilot alike.
//! - [`world`]: [`World`], all of the above started together, the old server seeded.
//! - [`demo`]: `cutover demo`: the rehearsal's plan and files, and its runner.
//! - `archive`: the old server's mail kept and verified before the shutdown, as an operator
//!   runs `cutover archive` and `cutover archive --verify`.
//! - [`autopilot`]: the whole procedure run on the sandbox in simulated time, with a report
//!   (the driver, its mail traffic, its mistakes and its report).

mod archive;
pub mod autopilot;
pub mod clock;
mod copy_back;
pub mod demo;
pub mod dns_zone;
pub mod imap;
pub mod mailflow;
pub mod operator;
pub mod provider;
pub mod resolver;
pub mod smtp_server;
pub mod world;

pub use clock::{IoGuard, SimClock};
pub use dns_zone::{ZoneError, ZoneSeed, ZoneServer};
pub use imap::{ImapServer, ImapServerError, Mailstore};
pub use mailflow::{DeferReason, Delivery, MailRoutes, Pop3Fetch, Sender};
pub use resolver::CachingResolver;
pub use smtp_server::SmtpServer;
pub use world::{Employee, World, WorldError, WorldSpec};
