use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::*;
use crate::mail::probe::FolderProbe;
use crate::mail::steps::fetch_measurable;
use crate::plan::Mailbox;

fn t(minutes: i64) -> Timestamp {
    "2026-12-08T09:00:00Z"
        .parse::<Timestamp>()
        .unwrap()
        .checked_add(SignedDuration::from_mins(minutes))
        .unwrap()
}

fn plan(addresses: &[&str]) -> Plan {
    let mut plan = crate::dns::checks::tests_support::plan(Some(3600));
    plan.mailboxes = addresses
        .iter()
        .map(|a| Mailbox {
            address: a.to_string(),
            old_login: a.to_string(),
            new_login: a.to_string(),
            aliases: Vec::new(),
        })
        .collect();
    plan
}

fn side(inbox: u32, uidnext: u32) -> SideProbe {
    SideProbe {
        login: Probed::Ok,
        messages: Some(u64::from(inbox)),
        folders: vec![FolderProbe {
            name: "INBOX".into(),
            messages: inbox,
            uidnext,
            uidvalidity: 1,
            special_use: None,
        }],
        error: None,
        inbox: None,
        inbox_newest_at: None,
    }
}

fn probe(address: &str, at: Timestamp, old: (u32, u32), new: u32, fetch: bool) -> MailboxProbe {
    MailboxProbe {
        address: address.into(),
        old: side(old.0, old.1),
        new: side(new, new + 1),
        synced_percent: None,
        fetch_detected: Some(fetch),
        fetch_share: Some(if fetch { 0.9 } else { 0.0 }),
        verified: None,
        old_bytes: None,
        probed_at: at,
    }
}

/// The lines a copy of one mailbox writes: running, then its end and report.
fn copy(address: &str, at: Timestamp, old: u64, uidnext: u32, missing: u64) -> Vec<Entry> {
    let state = if missing == 0 {
        "verified"
    } else {
        "incomplete"
    };
    vec![
        Entry::Sync {
            at,
            mailbox: address.into(),
            pid: 7,
            state: "running".into(),
            messages_done: 0,
            messages_left: 0,
            bytes_done: 0,
            detail: None,
        },
        Entry::Sync {
            at,
            mailbox: address.into(),
            pid: 7,
            state: state.into(),
            messages_done: old - missing,
            messages_left: missing,
            bytes_done: 1000,
            detail: None,
        },
        Entry::Fact {
            at,
            key: COPY_RESULT_FACT.into(),
            value: serde_json::to_value(CopyResult {
                mailbox: address.into(),
                state: state.into(),
                folders: vec![CopiedFolder {
                    old: "INBOX".into(),
                    new: "INBOX".into(),
                    old_messages: old,
                    old_uidnext: uidnext,
                    missing,
                    verified: missing == 0,
                }],
            })
            .unwrap(),
            evidence: String::new(),
        },
    ]
}

#[test]
fn a_row_after_an_early_copy_adds_up_and_goes_stale_when_the_old_side_changes() {
    let plan = plan(&["alice@x.test"]);
    // Probed before the copy: 177 old, nothing new yet.
    let before = [probe("alice@x.test", t(0), (177, 178), 0, false)];
    let history = History::from_entries(&copy("alice@x.test", t(10), 177, 178, 0));
    let row = &mailbox_rows(&plan, &before, &history)[0];
    // The copy's report is newer than the probe: its counts, its share, its folders.
    assert_eq!((row.old_messages, row.new_messages), (Some(177), Some(177)));
    assert_eq!(row.synced_percent, Some(100.0));
    assert_eq!(row.synced_as, SyncedAs::Current);
    assert_eq!(row.folders[0].missing, Some(0));
    assert_eq!(row.folders[0].verified, Some(true));

    // A later probe sees the same old side: still current, its counts now.
    let same = [probe("alice@x.test", t(20), (177, 178), 177, false)];
    let row = &mailbox_rows(&plan, &same, &history)[0];
    assert_eq!(row.synced_as, SyncedAs::Current);
    assert_eq!(row.new_messages, Some(177));

    // New mail on the old side: the share the copy verified is stale.
    let moved = [probe("alice@x.test", t(30), (178, 179), 177, false)];
    let row = &mailbox_rows(&plan, &moved, &history)[0];
    assert_eq!(row.synced_as, SyncedAs::Stale);
    assert_eq!(row.old_messages, Some(178));

    // Without a newer probe, a newer old INBOX UIDNEXT fact says so as well.
    let mut entries = copy("alice@x.test", t(10), 177, 178, 0);
    entries.push(Entry::Fact {
        at: t(40),
        key: OLD_INBOX_UIDNEXT.into(),
        value: json!({ "mailbox": "alice@x.test", "uidnext": 180 }),
        evidence: String::new(),
    });
    let history = History::from_entries(&entries);
    let row = &mailbox_rows(&plan, &before, &history)[0];
    assert_eq!(row.synced_as, SyncedAs::Stale);
}

#[test]
fn pop3_fetch_is_shown_only_for_mailboxes_it_was_detected_in() {
    let plan = plan(&["a@x.test", "b@x.test", "c@x.test"]);
    let probes = [
        probe("a@x.test", t(0), (10, 11), 9, true),
        probe("b@x.test", t(0), (10, 11), 0, false),
    ];
    let rows = mailbox_rows(&plan, &probes, &History::default());
    let fetch: Vec<Option<bool>> = rows.iter().map(|r| r.fetch_detected).collect();
    assert_eq!(fetch, [Some(true), Some(false), None]);

    // After a copy every new INBOX holds the old mail: a probe's share proves nothing then.
    // Only the fetch seen before the copy (journaled) still shows.
    let mut entries = copy("a@x.test", t(5), 10, 11, 0);
    entries.extend(copy("b@x.test", t(5), 10, 11, 0));
    entries.push(Entry::Fact {
        at: t(0),
        key: POP3_FETCH_SEEN.into(),
        value: json!({ "mailbox": "a@x.test", "share": 0.9 }),
        evidence: String::new(),
    });
    let history = History::from_entries(&entries);
    let after = [
        probe("a@x.test", t(20), (10, 11), 10, true),
        probe("b@x.test", t(20), (10, 11), 10, true),
    ];
    let rows = mailbox_rows(&plan, &after, &history);
    let fetch: Vec<Option<bool>> = rows.iter().map(|r| r.fetch_detected).collect();
    assert_eq!(fetch, [Some(true), None, None]);
    assert!(!fetch_measurable(&history, "b@x.test"));
}

#[test]
fn copy_rate_and_time_left_are_unknown_until_two_samples_apart() {
    let line = |at: Timestamp, done: u64, left: u64| Entry::Sync {
        at,
        mailbox: "a@x.test".into(),
        pid: 9,
        state: "running".into(),
        messages_done: done,
        messages_left: left,
        bytes_done: done * 1000,
        detail: None,
    };
    let mut runs = CopyRuns::from_entries(&[line(t(0), 0, 0)]);
    let p = runs.progress("a@x.test").unwrap();
    assert_eq!((p.rate, p.time_left()), (None, None));
    runs.apply(&line(t(1), 600, 1200));
    let p = runs.progress("a@x.test").unwrap();
    assert_eq!(p.rate.map(|r| r.messages_per_sec), Some(10.0));
    assert_eq!(p.time_left(), Some(SignedDuration::from_mins(2)));
    let (n, total) = runs.total().unwrap();
    assert_eq!(
        (n, total.messages_done, total.messages_left),
        (1, 600, 1200)
    );
    // Its end: no longer counted as running.
    let mut end = line(t(3), 1800, 0);
    if let Entry::Sync { state, .. } = &mut end {
        *state = "verified".into();
    }
    runs.apply(&end);
    assert!(runs.total().is_none());
}
