//! Mailboxes: IMAP connections, the prober and the verified copy engine.
//!
//! - [`archive`]: the old server kept as a byte-exact Maildir with a SHA-256 manifest, verified.
//! - [`checks`]: the runbook's mail checks (new logins, POP3 fetch, old INBOX quiet, copy verified).
//! - [`connect`]: TLS, STARTTLS, login (password, PLAIN, XOAUTH2, admin modes), timeouts.
//! - [`credentials`]: secrets file, password and token commands; secrets never shown.
//! - [`identity`]: the one message identity used by probe, copy and verification.
//! - [`pattern`]: folder-name patterns (`*`, and `%` for IMAP LIST), for excludes and the rehearsal's LIST.
//! - [`probe`]: login, folders, counters and POP3-fetch share per mailbox and side.
//! - [`scan`]: EXAMINE and header-only identity scans (the old side is never modified).
//! - [`sync`]: the copy engine: folder mapping, ledger, checkpoints, verification, report.
//! - [`utf7`]: modified UTF-7 folder names (the rehearsal's server uses it too).
//!
//! For the integrator: `CredentialSource::new(plan.credentials.as_ref())` once (it
//! refuses a secrets file others may read); `probe_all_once(&plan, &creds, &clock)` for
//! `status --json` (`mailboxes[]` is the `Vec<MailboxProbe>` serialised, completed with
//! `MailboxProbe::with_sync`); `run_prober(...)` as the cockpit's prober task (commands
//! in, `MailboxProbe`s out); `run_sync(&plan, &creds, &clock, &SyncOptions, &log,
//! progress)` for `cutover sync`, with the journal behind [`SyncLog`]; then
//! `SyncReport::render_table()` and `SyncReport::exit_code()`.

pub mod archive;
pub mod checks;
pub mod connect;
pub mod credentials;
pub mod error;
pub mod identity;
pub mod log;
pub mod pattern;
pub mod probe;
pub mod scan;
pub mod steps;
pub mod sync;
pub mod utf7;

pub use connect::{FolderStatus, Imap, SpecialUse, Timeouts, connect};
pub use credentials::{AuthMethod, CredentialSource, Login, Secret};
pub use error::{MailError, Place};
pub use probe::{LoginState, MailboxProbe, ProbeCommand, probe_all_once, run_prober};
pub use sync::{MemoryLog, SyncLog, SyncOptions, SyncProgress, SyncReport, run_sync};
