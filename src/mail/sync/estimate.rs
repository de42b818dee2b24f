//! How long a copy takes: per mailbox from its size on the old server, the plan's limits
//! (`bytes_per_day_per_mailbox`, `max_bytes_per_sec`, `concurrency`) and a rate, measured by
//! an earlier copy (the journal's [`RATE_FACT`]s) or else assumed; and for every mailbox,
//! `concurrency` of them copying at once. Unknown (`None`) when a size is not measured.

use jiff::Timestamp;
use serde::Serialize;

use crate::journal::Entry;
use crate::journal::history::History;
use crate::mail::MailboxProbe;
use crate::plan::{Plan, SyncPlan};

/// The journal fact key of a copy's measured rate: `{mailbox, bytes, seconds}`.
pub const RATE_FACT: &str = "mail-copy-rate";

/// The rate per mailbox assumed before any copy measured one: 2 MB/s (16 Mbit/s), a
/// cautious figure for IMAP APPENDs to a provider over the internet.
pub const ASSUMED_BYTES_PER_SEC: u64 = 2_000_000;

const DAY_SECS: u64 = 86_400;

/// The journal line of a copy's rate: what it moved and how long its passes ran (waits
/// for a daily volume excluded).
pub(super) fn rate_entry(at: Timestamp, mailbox: &str, bytes: u64, secs: f64) -> Entry {
    Entry::Fact {
        at,
        key: RATE_FACT.to_string(),
        value: serde_json::json!({ "mailbox": mailbox, "bytes": bytes, "seconds": secs }),
        evidence: format!(
            "{mailbox}: {} copied in {}, {}/s",
            crate::units::bytes(bytes),
            crate::units::duration_secs(secs.round() as u64),
            crate::units::bytes((bytes as f64 / secs.max(0.001)) as u64)
        ),
    }
}

/// The copy rate of one mailbox, and whether a copy measured it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Rate {
    pub bytes_per_sec: u64,
    pub measured: bool,
}

impl Rate {
    /// The latest measured rate of each mailbox, pooled (all bytes over all seconds); else assumed.
    pub fn from_history(history: &History) -> Rate {
        let mut latest = std::collections::HashMap::new();
        for f in history.facts.get(RATE_FACT).into_iter().flatten() {
            let (Some(m), Some(b), Some(s)) = (
                f.value.get("mailbox").and_then(|v| v.as_str()),
                f.value.get("bytes").and_then(|v| v.as_u64()),
                f.value.get("seconds").and_then(|v| v.as_f64()),
            ) else {
                continue;
            };
            latest.insert(m.to_ascii_lowercase(), (b, s));
        }
        let (bytes, secs) = latest
            .values()
            .fold((0u64, 0f64), |(b, s), (mb, ms)| (b + mb, s + ms));
        if bytes > 0 && secs > 0.0 {
            Rate {
                bytes_per_sec: ((bytes as f64 / secs) as u64).max(1),
                measured: true,
            }
        } else {
            Rate {
                bytes_per_sec: ASSUMED_BYTES_PER_SEC,
                measured: false,
            }
        }
    }

    /// "2 MB/s per mailbox (assumed: no copy has measured it yet)".
    pub fn describe(&self) -> String {
        let how = if self.measured {
            "measured by the last copies"
        } else {
            "assumed: no copy has measured it yet"
        };
        format!(
            "{}/s per mailbox ({how})",
            crate::units::bytes(self.bytes_per_sec)
        )
    }
}

/// Seconds to copy `bytes` of one mailbox: at the rate (or the plan's `max_bytes_per_sec`
/// when lower), a full daily volume per 24 h window and the rest in the last window.
pub fn mailbox_secs(sync: &SyncPlan, bytes: u64, rate: Rate) -> u64 {
    let r = sync
        .max_bytes_per_sec
        .map_or(rate.bytes_per_sec, |m| m.min(rate.bytes_per_sec))
        .max(1);
    let at_rate = |b: u64| b.div_ceil(r);
    match sync.bytes_per_day_per_mailbox {
        // A cap that the rate cannot reach in a day never makes the copy wait.
        Some(cap) if cap > 0 && at_rate(cap) < DAY_SECS && bytes > cap => {
            let full_windows = (bytes - 1) / cap;
            full_windows * DAY_SECS + at_rate(bytes - full_windows * cap)
        }
        _ => at_rate(bytes),
    }
}

/// Seconds to copy every mailbox, `concurrency` at once (longest first, each to the lane
/// free soonest), and no faster than the plan's `max_bytes_per_sec` for the whole run.
/// `None` when a size is unknown.
pub fn total_secs(sync: &SyncPlan, sizes: &[Option<u64>], rate: Rate) -> Option<u64> {
    let sizes: Vec<u64> = sizes.iter().copied().collect::<Option<_>>()?;
    let mut each: Vec<u64> = sizes.iter().map(|&b| mailbox_secs(sync, b, rate)).collect();
    each.sort_unstable_by(|a, b| b.cmp(a));
    let mut lanes = vec![0u64; sync.concurrency.max(1)];
    for secs in each {
        if let Some(lane) = lanes.iter_mut().min() {
            *lane += secs;
        }
    }
    let makespan = lanes.into_iter().max().unwrap_or(0);
    let throttled = sync
        .max_bytes_per_sec
        .map_or(0, |m| sizes.iter().sum::<u64>().div_ceil(m.max(1)));
    Some(makespan.max(throttled))
}

/// One mailbox's size on the old server and its copy time (`status --json` keys).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MailboxEstimate {
    pub address: String,
    pub old_bytes: Option<u64>,
    pub copy_estimate_s: Option<u64>,
}

/// The copy estimate of every mailbox, as `status` and the guidance show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CopyEstimate {
    pub mailboxes: Vec<MailboxEstimate>,
    /// Every mailbox, `concurrency` at once; `None` when a size is unknown.
    pub copy_estimate_s: Option<u64>,
    pub rate: Rate,
}

impl CopyEstimate {
    /// From the probes' old sizes (none measured: every estimate unknown) and the journal's rates.
    pub fn new(plan: &Plan, probes: Option<&[MailboxProbe]>, history: &History) -> CopyEstimate {
        let rate = Rate::from_history(history);
        let mailboxes: Vec<MailboxEstimate> = plan
            .mailboxes
            .iter()
            .map(|m| {
                let old_bytes = probes
                    .and_then(|ps| {
                        ps.iter()
                            .find(|p| p.address.eq_ignore_ascii_case(&m.address))
                    })
                    .and_then(|p| p.old_bytes);
                MailboxEstimate {
                    address: m.address.clone(),
                    old_bytes,
                    copy_estimate_s: old_bytes.map(|b| mailbox_secs(&plan.sync, b, rate)),
                }
            })
            .collect();
        let sizes: Vec<Option<u64>> = mailboxes.iter().map(|m| m.old_bytes).collect();
        CopyEstimate {
            copy_estimate_s: total_secs(&plan.sync, &sizes, rate),
            mailboxes,
            rate,
        }
    }

    pub fn mailbox(&self, address: &str) -> Option<&MailboxEstimate> {
        self.mailboxes
            .iter()
            .find(|m| m.address.eq_ignore_ascii_case(address))
    }

    /// The longest single mailbox's estimate, when any is known.
    pub fn longest(&self) -> Option<u64> {
        self.mailboxes
            .iter()
            .filter_map(|m| m.copy_estimate_s)
            .max()
    }

    /// One line: the total, what it assumes, and the rate and whether it was measured.
    pub fn summary(&self, sync: &SyncPlan) -> String {
        let measured = self
            .mailboxes
            .iter()
            .filter(|m| m.old_bytes.is_some())
            .count();
        let Some(total) = self.copy_estimate_s else {
            return format!(
                "Copy estimate: unknown: the old server's size of {} of {} mailboxes is not measured yet.",
                self.mailboxes.len() - measured,
                self.mailboxes.len()
            );
        };
        let bytes: u64 = self.mailboxes.iter().filter_map(|m| m.old_bytes).sum();
        let mut limits = vec![format!("{} at a time", sync.concurrency.max(1))];
        if let Some(cap) = sync.bytes_per_day_per_mailbox {
            limits.push(format!("{} per mailbox per 24 h", crate::units::bytes(cap)));
        }
        if let Some(c) = sync.connections_per_mailbox {
            limits.push(format!("{c} connections per mailbox"));
        }
        format!(
            "Copy estimate: {} for {} on the old server ({}), at {}.",
            crate::units::duration_secs(total),
            crate::units::bytes(bytes),
            limits.join(", "),
            self.rate.describe()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASSUMED: Rate = Rate {
        bytes_per_sec: 1_000_000,
        measured: false,
    };

    #[test]
    fn a_daily_volume_adds_a_day_per_window_used_up() {
        let mut sync = SyncPlan::default();
        // 7 GB at 1 MB/s: 7000 s without a cap.
        assert_eq!(mailbox_secs(&sync, 7_000_000_000, ASSUMED), 7000);
        // Under 2.5 GB a day: two full windows, then 2 GB at the rate.
        sync.bytes_per_day_per_mailbox = Some(2_500_000_000);
        assert_eq!(
            mailbox_secs(&sync, 7_000_000_000, ASSUMED),
            2 * 86_400 + 2000
        );
        // Exactly one window's worth fits in the first window.
        assert_eq!(mailbox_secs(&sync, 2_500_000_000, ASSUMED), 2500);
        // A rate slower than the cap per day never waits for a window.
        sync.max_bytes_per_sec = Some(10_000);
        assert_eq!(mailbox_secs(&sync, 7_000_000_000, ASSUMED), 700_000);
    }

    #[test]
    fn the_total_runs_mailboxes_side_by_side_and_is_unknown_without_every_size() {
        let sync = SyncPlan {
            concurrency: 2,
            ..SyncPlan::default()
        };
        let sizes = [Some(3_000_000), Some(2_000_000), Some(2_000_000)];
        // 3 s on one lane, 2 s + 2 s on the other.
        assert_eq!(total_secs(&sync, &sizes, ASSUMED), Some(4));
        assert_eq!(total_secs(&sync, &[Some(1), None], ASSUMED), None);
        let history = History::default();
        assert!(!Rate::from_history(&history).measured);
        let mut history = History::default();
        history.apply(&rate_entry(Timestamp::UNIX_EPOCH, "a@x", 10_000_000, 2.0));
        assert_eq!(
            Rate::from_history(&history),
            Rate {
                bytes_per_sec: 5_000_000,
                measured: true
            }
        );
    }
}
