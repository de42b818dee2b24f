//! The journal as the copy engine's log: checkpoints, ledger and progress go where every cockpit follows them.

use crate::journal::{Entry, Journal, JournalError};
use crate::mail::SyncLog;

impl SyncLog for Journal {
    fn record(&self, entry: &Entry) -> Result<(), JournalError> {
        self.append(entry)
    }

    fn entries(&self) -> Result<Vec<Entry>, JournalError> {
        self.replay().map(|r| r.entries)
    }
}
