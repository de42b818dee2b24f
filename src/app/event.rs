//! What flows into the cockpit's loop (events) and out of it to workers (commands).

use jiff::Timestamp;
use ratatui::crossterm::event::KeyEvent;

use crate::journal::Entry;

/// Everything that can change the cockpit's state. Workers send data, never handles.
#[derive(Debug, Clone)]
pub enum Event {
    /// A key press.
    Key(KeyEvent),
    /// The 1 s clock tick, with the time now.
    Tick(Timestamp),
    /// The terminal has a new size (columns, rows).
    Resize(u16, u16),
    /// Entries other processes (or this one) appended to the journal.
    /// `restarted`: the journal was replaced and these are all of it.
    Journal {
        entries: Vec<Entry>,
        restarted: bool,
    },
    /// A new DNS round from the watcher.
    DnsRound(Box<crate::dns::DnsSnapshot>),
    /// A new probe of every mailbox from the prober.
    MailProbes(Vec<crate::mail::MailboxProbe>),
    /// A worker's one-line report for the status line (e.g. "copy started, pid 123").
    Notice(String),
    /// Who drives changed: the driver left and this cockpit took over, or another took over.
    Role(crate::app::Role),
    /// `cutover demo`: the sandbox's clock changed, or the summary of the run is ready.
    Rehearsal(crate::app::rehearsal::RehearsalUpdate),
    /// Quit now (a signal: SIGHUP, SIGTERM).
    Shutdown,
}

/// Side effects `update` asks for; the loop or a worker carries them out.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Append this entry to the journal (fsynced); show `done` once it is on disk. `then`
    /// is appended right after, only when `entry` was (the records a DNS step's
    /// confirmation was judged on).
    Append {
        entry: Entry,
        done: String,
        then: Option<Box<Entry>>,
    },
    /// Measure DNS and mailboxes now.
    Refresh,
    /// Send canaries now on every route, and journal where they landed.
    SendCanary,
    /// Start a detached `cutover sync --detach` (one mailbox, or all).
    /// `precopy`: before the 24 h gate of R12, labelled so. `reverse`: a rollback stands,
    /// so it is the copy back (`sync --reverse`), new → old.
    StartCopy {
        mailbox: Option<String>,
        precopy: bool,
        reverse: bool,
    },
    /// Pause a running copy: stop its process (the copy resumes from its checkpoints).
    PauseCopy { mailbox: String, pid: u32 },
    /// `cutover demo`: a DNS host console edit or a clock change for the sandbox.
    Rehearsal(crate::app::Rehearse),
    /// Leave the cockpit.
    Quit,
}
