//! Live DNS: the watcher task and the analysis of MX, SPF, DKIM, DMARC and MTA-STS.
//!
//! - [`query`]: one question to one server, directly (UDP, TCP on truncation).
//! - [`watch`]: a round over every server and question; the watcher task; `one_round`.
//! - [`matrix`]: the names × servers text matrix for `cutover dns` and `status`.
//! - [`spf`], [`dkim`], [`dmarc`], [`mx`], [`mta_sts`]: pure analysis of what was served
//!   (the grammar of names, MX texts and SPF records is `crate::syntax`'s).
//! - [`facts`]: first-seen facts for the journal, and their replay.
//! - [`checks`]: the DNS checks of the runbook's steps, and the records to paste.
//! - [`host_card`]: "at your DNS host now", what a DNS step changes as a diff with TTLs.
//! - [`target`]: what the authoritative servers must serve once a DNS step is done; the
//!   records to paste, the host card, the DNS pane and the checks all read it.
//!
//! How a one-shot command (`status`, `dns`) uses it:
//!
//! ```text
//! let facts = DnsFacts::from_entries(&journal_entries);        // what was seen before
//! let snapshot = one_round(&plan, &clock).await;               // ~ one dns.timeout
//! let (facts, new_entries) = dns_facts(&plan, &facts, &snapshot);
//! // append new_entries to the journal (they are Entry::Fact lines)
//! let checks = step_checks(&StepId::TtlWait, &plan, Some(&snapshot), &facts, applied_at, clock.now());
//! let lines = records_to_paste(&StepId::SpfAddNew, &plan, Some(&snapshot));
//! print!("{}", render_matrix(&snapshot, &plan, 100));
//! // `status --json`: serde_json::to_value(&snapshot) is the `dns` object.
//! ```
//!
//! The cockpit instead calls [`spawn_watcher`], receives whole [`DnsSnapshot`]s
//! on its channel and sends [`DnsCommand`]s on the one it gets back.

pub mod checks;
pub mod discover;
pub mod dkim;
pub mod dmarc;
pub mod facts;
pub mod host_card;
pub mod matrix;
pub mod mta_sts;
pub mod mx;
pub mod query;
pub mod spf;
pub(crate) mod target;
pub mod watch;

pub use mx::MxState;
pub use query::{Answer, AnswerStatus, Rtype};
pub use watch::{
    DnsCommand, DnsSnapshot, MtaStsView, Role, RoundOptions, ServerView, one_round, one_round_with,
    spawn_watcher,
};

pub use checks::{records_to_paste, step_checks};
pub use facts::{DnsFacts, OldTtlSource, dns_facts};
pub use matrix::render_matrix;
