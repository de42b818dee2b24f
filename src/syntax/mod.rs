//! Pure grammar of the names and records a migration touches: domain names,
//! MX record texts and SPF records (RFC 7208 section 12), each with errors an
//! operator can act on. A leaf: it imports nothing from the crate but
//! [`crate::sanitize`], so the plan loader and the DNS analysis share one parser.
//!
//! - [`domain`]: the one domain-name validator of the crate.
//! - [`mx`]: the one parser of an MX record text (`10 mx1.example.`).
//! - [`spf`]: an SPF record parsed to the ABNF, every error naming its term and position.

pub mod domain;
pub mod mx;
pub mod spf;
