//! The journal: cutover's memory, an append-only JSON-lines file beside the plan.
//!
//! - [`Journal`] appends one fsynced line per [`Entry`] under a short exclusive
//!   `flock` (any cutover process may append at the same time) and replays the
//!   file on start, setting a torn last line aside into `<journal>.torn`.
//! - [`Follower`] reads only the complete lines appended since its last poll;
//!   observers and the cockpit follow the journal with it.
//! - [`DriverLock`] decides which cockpit *drives* (may confirm steps); every
//!   other one observes and can say who drives.
//!
//! ```
//! use cutover::journal::{Drive, Driver, DriverLock, Entry, Journal};
//! # let dir = tempfile::tempdir().unwrap();
//! # let plan = dir.path().join("acme.toml");
//! let journal = Journal::open(Journal::path_for_plan(&plan))?;
//! let now: jiff::Timestamp = "2026-03-02T08:00:00Z".parse().unwrap();
//!
//! // On start: who drives, and where we are.
//! let drive = DriverLock::acquire(journal.path(), Driver::this_process(now))?;
//! let replay = journal.replay()?;
//! if let Some(torn) = &replay.torn {
//!     eprintln!("{} torn bytes set aside in {}", torn.bytes.len(), torn.saved_to.display());
//! }
//! let mut follower = journal.follower_after(&replay);
//!
//! if let Drive::Driving(_guard) = &drive {
//!     journal.append(&Entry::Note { at: now, operator: "ann".into(), text: "starting".into() })?;
//! }
//! // Every ~500 ms: what other processes (a detached copy, say) appended.
//! let new_entries = follower.poll()?;
//! assert_eq!(new_entries.len(), 1);
//! # Ok::<(), cutover::journal::JournalError>(())
//! ```

pub mod dns_facts;
mod driver;
pub mod entry;
mod file;
mod follow;
pub mod history;

use std::path::PathBuf;
use std::sync::Arc;

pub use driver::{Drive, Driver, DriverLock};
pub use entry::Entry;
pub use file::{Journal, Replay};
pub use follow::Follower;
pub use history::History;

/// Why the journal (or its driver lock) could not be used. Each variant names
/// the file, so the operator knows where to look.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// A system call on a journal file failed; `action` says what was being done.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        source: Arc<std::io::Error>,
    },
    /// The write stopped part way (the disk filled up); the partial line was removed.
    #[error("cannot append to {}: only {written} of {len} bytes could be written (disk full?)", path.display())]
    ShortWrite {
        path: PathBuf,
        written: usize,
        len: usize,
    },
    /// An entry could not be turned into JSON (a bug, not an operator error).
    #[error("cannot encode a journal entry for {}: {message}", path.display())]
    Encode { path: PathBuf, message: String },
    /// The journal's directory does not exist.
    #[error("the journal's directory {} does not exist (is the plan file's directory right?)", path.display())]
    NoDirectory { path: PathBuf },
    /// Another process holds the driver lock but who it is could not be read.
    #[error("the driver lock {} is held by another process, but its owner could not be read", path.display())]
    DriverUnreadable { path: PathBuf },
}

impl JournalError {
    fn io(path: impl Into<PathBuf>, action: &'static str, source: std::io::Error) -> JournalError {
        JournalError::Io {
            path: path.into(),
            action,
            source: Arc::new(source),
        }
    }

    /// Whether the failure is a full disk (or quota), so the operator knows to free space.
    pub fn is_disk_full(&self) -> bool {
        match self {
            JournalError::ShortWrite { .. } => true,
            JournalError::Io { source, .. } => matches!(
                source.raw_os_error(),
                Some(code) if code == rustix::io::Errno::NOSPC.raw_os_error()
                    || code == rustix::io::Errno::DQUOT.raw_os_error()
            ),
            _ => false,
        }
    }
}
