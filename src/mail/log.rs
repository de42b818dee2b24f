//! The journal as the copy engine's log: checkpoints, ledger and progress go where every cockpit follows them.

use crate::journal::{Entry, Journal};
use crate::mail::SyncLog;

impl SyncLog for Journal {
    fn record(&self, entry: &Entry) -> Result<(), String> {
        self.append(entry).map_err(|e| e.to_string())
    }

    fn entries(&self) -> Result<Vec<Entry>, String> {
        self.replay().map(|r| r.entries).map_err(|e| e.to_string())
    }
}
