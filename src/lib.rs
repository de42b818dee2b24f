//! cutover: a terminal cockpit for moving a company's email to a new mail
//! server with no downtime and no lost message.
//!
//! - [`plan`]: the plan file, validated with line:column errors; the timeline.
//! - [`runbook`]: the procedure's steps, their checks, and the guidance engine.
//! - [`journal`]: the append-only memory of what was done and seen.
//! - [`syntax`]: domain names, MX record texts and SPF records parsed to their RFCs' grammar.
//! - [`dns`]: the DNS watcher and SPF/DKIM/DMARC/MX analysis.
//! - [`mail`]: IMAP connections, the mailbox prober and the copy engine.
//! - [`mailauth`]: DKIM, SPF and DMARC verified on a received message, beside the receiver's verdict.
//! - [`canary`]: mail flow proven by sending mail: three routes, where each canary landed.
//! - [`smtp`]: asks each new MX host whether it accepts every address (never sends mail).
//! - [`app`], [`ui`], [`tui`]: the cockpit's state and update, its views, and its terminal loop.
//! - [`tls`]: one TLS client configuration for every client: system roots, a CA file, a pinned certificate.
//! - [`report`]: the migration report (HTML, Markdown, CSV, JSON) from the plan and the journal.
//! - [`sandbox`]: the rehearsal's own DNS and IMAP servers and simulated clock.

pub mod actions;
pub mod app;
pub mod canary;
pub mod check;
pub mod cli;
pub mod clock;
pub(crate) mod detach;
pub mod dns;
pub mod journal;
pub mod live;
pub mod mail;
pub mod mailauth;
pub mod plan;
pub(crate) mod recorder;
pub mod report;
pub mod runbook;
pub mod sandbox;
pub(crate) mod sanitize;
pub(crate) mod session;
pub mod smtp;
pub mod step;
pub(crate) mod syntax;
pub mod tls;
pub mod tui;
pub mod ui;
pub(crate) mod units;
