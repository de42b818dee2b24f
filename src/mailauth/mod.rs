//! Mail authentication judged on a message actually received: DKIM, SPF and DMARC
//! verified by cutover (Stalwart's `mail-auth` over the plan's resolvers), beside the
//! receiver's own `Authentication-Results`.
//!
//! - [`authentication_results`]: RFC 8601 fields parsed; the receiver's own chosen.
pub mod authentication_results;
