//! SMTP: asks each new MX host, before the MX switch, whether it accepts every
//! address of the plan (`RCPT TO`, never `DATA`), and judges the answers.
//!
//! - [`probe`]: one session per host: banner, EHLO, STARTTLS (certificate verified
//!   for the MX name, days left), `MAIL FROM:<>`, `RCPT TO` in batches of 50, plus a
//!   made-up address to catch servers that accept anything; `RSET`, `QUIT`.
//! - [`model`]: what was seen, per host and per address (serde: journal, JSON).
//! - [`checks`]: the check `smtp.new-mx-accepts`.
//! - [`steps`]: the probe in a migration: a plan's targets, the journaled probe, the gate
//!   of `add-new-mx`.
//! - [`tls`]: the client configuration (system roots plus an optional CA file).
//!
//! How a command uses it:
//!
//! ```text
//! let tls = smtp::tls_config(None)?;                       // once
//! let targets = vec![MxTarget::new("mx1.new.example.")];    // or MxTarget::at(host, addr, port)
//! let probe = smtp::probe_hosts(&targets, &plan.domain, &addresses, &ProbeOptions::new(tls), &clock).await;
//! let check = smtp::new_mx_accepts(&probe, &addresses);    // Kind::Gate of add-new-mx
//! // journal `probe` (serde), or `journaled.merge(probe)` after re-probing one host.
//! ```

pub mod checks;
pub mod error;
pub mod model;
pub mod probe;
mod reply;
pub mod steps;
pub mod tls;

pub use checks::{NEW_MX_ACCEPTS, new_mx_accepts};
pub use error::SmtpError;
pub use model::{AddressAnswer, HostReport, SmtpProbe};
pub use probe::{MxTarget, ProbeOptions, Timeouts, probe_host, probe_hosts};
pub use tls::tls_config;
