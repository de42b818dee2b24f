//! The daily volume a provider allows one mailbox (`[sync] bytes_per_day_per_mailbox`): the
//! bytes copied in the current 24 h window, journaled before they are copied (so a rerun
//! keeps counting and a crash over-counts rather than under-counts), and when the window is
//! used up, when the next one begins.

use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

use crate::journal::Entry;
use crate::mail::scan::ScannedMessage;

/// The journal fact key of a mailbox's window: `{mailbox, start, bytes}`.
pub const WINDOW_FACT: &str = "mail-copy-window";

/// How long one window of the daily volume lasts.
pub(super) const WINDOW: SignedDuration = SignedDuration::from_hours(24);

/// What a lane may copy now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reserved {
    /// The first `n` messages fit in the window (with this fact to journal first, if any).
    Take(usize),
    /// The window is used up: nothing more until `resume_at`.
    Full { resume_at: Timestamp },
}

#[derive(Debug, Clone, Copy)]
struct State {
    start: Timestamp,
    used: u64,
}

/// One mailbox's window, shared by its connection lanes and kept across retries and pauses.
#[derive(Debug)]
pub(super) struct DayWindow {
    mailbox: String,
    cap: Option<u64>,
    state: Mutex<Option<State>>,
}

impl DayWindow {
    /// The window of `mailbox`, resumed from the log's last window fact when it is still open.
    pub(super) fn new(
        mailbox: &str,
        cap: Option<u64>,
        entries: &[Entry],
        now: Timestamp,
    ) -> DayWindow {
        let last = entries.iter().rev().find_map(|e| match e {
            Entry::Fact { key, value, .. }
                if key == WINDOW_FACT
                    && value
                        .get("mailbox")
                        .and_then(|m| m.as_str())
                        .is_some_and(|m| m.eq_ignore_ascii_case(mailbox)) =>
            {
                let start: Timestamp = value.get("start")?.as_str()?.parse().ok()?;
                let used = value.get("bytes")?.as_u64()?;
                Some(State { start, used })
            }
            _ => None,
        });
        let open = last.filter(|s| s.start.checked_add(WINDOW).is_ok_and(|end| now < end));
        DayWindow {
            mailbox: mailbox.to_string(),
            cap,
            state: Mutex::new(open),
        }
    }

    pub(super) fn cap(&self) -> Option<u64> {
        self.cap
    }

    /// Takes the longest prefix of `messages` that fits in what is left of the window, and
    /// counts it as used. A fresh window takes at least one message, however large, so a
    /// message over the cap still moves. Returns the fact to journal before copying.
    pub(super) fn reserve(
        &self,
        messages: &[ScannedMessage],
        now: Timestamp,
    ) -> (Reserved, Option<Entry>) {
        let Some(cap) = self.cap else {
            return (Reserved::Take(messages.len()), None);
        };
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let current = match *state {
            Some(s) if s.start.checked_add(WINDOW).is_ok_and(|end| now < end) => s,
            _ => State {
                start: now,
                used: 0,
            },
        };
        let mut used = current.used;
        let mut n = 0;
        for m in messages {
            let size = u64::from(m.size);
            if used + size > cap && !(n == 0 && used == 0) {
                break;
            }
            used += size;
            n += 1;
        }
        if n == 0 {
            *state = Some(current);
            let resume_at = current.start.checked_add(WINDOW).unwrap_or(now);
            return (Reserved::Full { resume_at }, None);
        }
        let next = State {
            start: current.start,
            used,
        };
        *state = Some(next);
        let fact = Entry::Fact {
            at: now,
            key: WINDOW_FACT.to_string(),
            value: serde_json::json!({
                "mailbox": self.mailbox,
                "start": next.start.to_string(),
                "bytes": next.used,
            }),
            evidence: format!(
                "{} of the daily {} counted in the window that began {}",
                crate::units::bytes(next.used),
                crate::units::bytes(cap),
                next.start
            ),
        };
        (Reserved::Take(n), Some(fact))
    }

    /// Bytes counted in the current window.
    pub(super) fn used(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map_or(0, |s| s.used)
    }
}

/// Waits on the clock until the next window, journaling that the mailbox pauses, why, and
/// when it resumes (and that it resumed). Polls the clock every second, so a simulated or
/// test clock moved past the window wakes it promptly.
#[allow(clippy::too_many_arguments)]
pub(super) async fn pause(
    plan: &crate::plan::Plan,
    clock: &dyn crate::clock::Clock,
    opts: &super::SyncOptions,
    log: &dyn super::SyncLog,
    window: &DayWindow,
    mailbox: &crate::plan::Mailbox,
    progress: &Option<tokio::sync::mpsc::Sender<super::SyncProgress>>,
    carried: &Carried,
    resume_at: Timestamp,
) {
    let (messages_done, bytes_done) = carried.totals();
    let now = clock.now();
    let local = resume_at
        .to_zoned_datetime(plan.timezone.clone())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string();
    let cap = window.cap().map(crate::units::bytes).unwrap_or_default();
    let detail = format!(
        "paused: {} copied in this 24 h window reached the daily limit of {cap} per mailbox \
(bytes_per_day_per_mailbox); resumes at {local} ({})",
        crate::units::bytes(window.used()),
        crate::units::countdown(resume_at.duration_since(now))
    );
    tracing::info!("{}: {detail}", mailbox.address);
    // Still "running": the process lives and holds the copy; the detail says it waits.
    let line = |detail: String, at: Timestamp| Entry::Sync {
        at,
        mailbox: mailbox.address.clone(),
        pid: std::process::id(),
        state: "running".to_string(),
        messages_done,
        messages_left: 0,
        bytes_done,
        detail: Some(detail),
    };
    let _ = log.record(&line(detail, now));
    if let Some(tx) = progress {
        let _ = tx.try_send(super::SyncProgress {
            mailbox: mailbox.address.clone(),
            folder: String::new(),
            messages_done,
            messages_left: 0,
            bytes_done,
            bytes_left: 0,
            messages_per_sec: 0.0,
            eta_secs: None,
            paused_until: Some(resume_at),
        });
    }
    loop {
        let now = clock.now();
        if now >= resume_at {
            break;
        }
        let left = std::time::Duration::try_from(resume_at.duration_since(now)).unwrap_or_default();
        clock.wait(left.min(opts.pause_poll)).await;
    }
    let _ = log.record(&line(
        format!("resumed: a new 24 h window of {cap} began"),
        clock.now(),
    ));
}

/// What the passes of one mailbox's copy that ended at a used-up daily volume copied, per
/// old folder, and how long every pass ran (the measured rate excludes the waits).
#[derive(Debug, Default)]
pub(super) struct Carried {
    pub(super) passes: u32,
    folders: std::collections::HashMap<String, (u64, u64)>,
    pub(super) active: std::time::Duration,
}

impl Carried {
    pub(super) fn add(&mut self, report: &super::MailboxReport) {
        self.passes += 1;
        for f in &report.folders {
            let slot = self.folders.entry(f.old.clone()).or_default();
            slot.0 += f.copied;
            slot.1 += f.bytes_copied;
        }
    }

    /// Messages and bytes copied by the passes so far.
    pub(super) fn totals(&self) -> (u64, u64) {
        self.folders
            .values()
            .fold((0, 0), |(m, b), (cm, cb)| (m + cm, b + cb))
    }

    /// The last pass's report with what earlier passes copied counted as copied, not present.
    pub(super) fn merge_into(&self, report: &mut super::MailboxReport) {
        for f in report.folders.iter_mut() {
            if let Some((copied, bytes)) = self.folders.get(&f.old) {
                f.copied += copied;
                f.bytes_copied += bytes;
                f.already_present = f.already_present.saturating_sub(*copied);
            }
        }
    }

    /// Journals the rate this copy moved mail at (`estimate::RATE_FACT`), when it moved
    /// enough (1 MB) to say something about the link.
    pub(super) fn record_rate(
        &self,
        log: &dyn super::SyncLog,
        clock: &dyn crate::clock::Clock,
        mailbox: &crate::plan::Mailbox,
        report: &super::MailboxReport,
        dry_run: bool,
    ) {
        let bytes: u64 = report.folders.iter().map(|f| f.bytes_copied).sum();
        let secs = self.active.as_secs_f64();
        if dry_run || bytes < 1_000_000 || secs <= 0.0 {
            return;
        }
        let _ = log.record(&super::estimate::rate_entry(
            clock.now(),
            &mailbox.address,
            bytes,
            secs,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::identity::Identity;

    fn m(uid: u32, size: u32) -> ScannedMessage {
        ScannedMessage {
            uid,
            identity: Identity::from_header(format!("Subject: {uid}\r\n\r\n").as_bytes()),
            size,
            subject: String::new(),
            deleted: false,
            arrived: None,
        }
    }

    #[test]
    fn a_window_takes_what_fits_then_waits_for_the_next_one() {
        let t0: Timestamp = "2026-12-07T09:00:00Z".parse().unwrap();
        let w = DayWindow::new("a@x", Some(100), &[], t0);
        let list = [m(1, 40), m(2, 40), m(3, 40)];
        let (r, fact) = w.reserve(&list, t0);
        assert_eq!(r, Reserved::Take(2));
        assert!(fact.is_some());
        let later = t0.checked_add(SignedDuration::from_hours(1)).unwrap();
        let end = t0.checked_add(WINDOW).unwrap();
        assert_eq!(
            w.reserve(&list[2..], later).0,
            Reserved::Full { resume_at: end }
        );
        // The next window starts afresh; a message over the cap still moves alone.
        assert_eq!(w.reserve(&[m(4, 500), m(5, 1)], end).0, Reserved::Take(1));
        assert_eq!(w.used(), 500);
    }

    #[test]
    fn a_rerun_keeps_counting_in_an_open_window_only() {
        let t0: Timestamp = "2026-12-07T09:00:00Z".parse().unwrap();
        let w = DayWindow::new("a@x", Some(100), &[], t0);
        let (_, fact) = w.reserve(&[m(1, 90)], t0);
        let entries = vec![fact.unwrap()];
        let soon = t0.checked_add(SignedDuration::from_hours(2)).unwrap();
        let rerun = DayWindow::new("A@X", Some(100), &entries, soon);
        assert_eq!(rerun.used(), 90);
        assert!(matches!(
            rerun.reserve(&[m(2, 20)], soon).0,
            Reserved::Full { .. }
        ));
        let next_day = t0.checked_add(SignedDuration::from_hours(25)).unwrap();
        assert_eq!(
            DayWindow::new("a@x", Some(100), &entries, next_day).used(),
            0
        );
        // Without a cap everything fits and nothing is journaled.
        let free = DayWindow::new("a@x", None, &[], t0);
        assert!(matches!(
            free.reserve(&[m(1, 90)], t0),
            (Reserved::Take(1), None)
        ));
    }
}
