//! Mail authentication judged on a message actually received: DKIM, SPF and DMARC
//! verified by cutover (Stalwart's `mail-auth` over the plan's resolvers), beside the
//! receiver's own `Authentication-Results`, and the `canary.outbound-auth` check.
//!
//! - [`authentication_results`]: RFC 8601 fields parsed; the receiver's own chosen by
//!   its authserv-id pattern (none for Outlook.com), a sender's forgery below never believed.
//! - [`received`]: the connecting address, from the lowest `Received` field of the block
//!   the receiver's own hosts added at the top.
//! - [`verify`]: the raw message judged: every DKIM signature, SPF at that address for
//!   the envelope sender, DMARC with alignment; warnings when DMARC rests on one mechanism
//!   or the receiver disagrees.
//! - [`model`]: the verdict (`dkim`, `spf`, `dmarc`, `receiver`), serialisable with a schema.
//! - [`checks`]: `canary.outbound-auth` and the selector the provider signs with.
//!
//! ```text
//! let resolver = verify::resolver(&plan.dns.resolvers, timeout)?;
//! let auth = verify::verify_received(&raw, &receiver, resolver).await?;
//! let check = checks::outbound_auth_check(Some(&auth), &plan.domain, plan.new.dkim_selector.as_deref());
//! ```

pub mod authentication_results;
pub mod checks;
pub mod model;
pub mod received;
pub mod verify;
