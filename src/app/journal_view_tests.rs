use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::*;

fn t(minutes: i64) -> Timestamp {
    "2026-12-08T09:00:00Z"
        .parse::<Timestamp>()
        .unwrap()
        .checked_add(SignedDuration::from_mins(minutes))
        .unwrap()
}

fn uidnext(at: Timestamp, mailbox: &str, value: u32) -> Entry {
    Entry::Fact {
        at,
        key: OLD_INBOX_UIDNEXT.into(),
        value: json!({ "mailbox": mailbox, "uidnext": value }),
        evidence: format!("{mailbox}: old INBOX UIDNEXT {value}"),
    }
}

fn round(at: Timestamp, alice: u32) -> Vec<Entry> {
    vec![
        uidnext(at, "alice@x.test", alice),
        uidnext(at, "bob@x.test", 7),
        uidnext(at, "carol@x.test", 7),
        uidnext(at, "dan@x.test", 7),
        uidnext(at, "eve@x.test", 7),
    ]
}

fn view(entries: &[Entry]) -> JournalView {
    JournalView::from_entries(entries, 2_000, 2_000)
}

#[test]
fn a_round_of_uidnext_facts_is_one_line_naming_who_changed() {
    let mut entries = round(t(0), 7);
    entries.extend(round(t(30), 8));
    let v = view(&entries);
    let folds: Vec<&Fold> = v.newest_first().map(|i| &i.fold).collect();
    assert_eq!(
        folds,
        [
            &Fold::Uidnext {
                mailboxes: 5,
                changed: vec!["alice@x.test".into()],
                round: None,
            },
            // The first round only saw each mailbox for the first time: nothing changed.
            &Fold::Uidnext {
                mailboxes: 5,
                changed: vec![],
                round: None,
            },
        ]
    );
    // A value seen before the tail still counts: the second round alone is a change too.
    let tail_only = JournalView::from_entries(&entries, 5, 2_000);
    assert!(matches!(
        tail_only.newest_first().next().map(|i| &i.fold),
        Some(Fold::Uidnext { changed, .. }) if changed == &["alice@x.test".to_string()]
    ));
}

#[test]
fn a_copy_s_checkpoints_fold_into_its_line() {
    let sync = |at, state: &str, done| Entry::Sync {
        at,
        mailbox: "alice@x.test".into(),
        pid: 4,
        state: state.into(),
        messages_done: done,
        messages_left: 10 - done,
        bytes_done: done * 100,
        detail: None,
    };
    let checkpoint = |folder: &str| Entry::Checkpoint {
        at: t(1),
        mailbox: "alice@x.test".into(),
        folder: folder.into(),
        uidvalidity: 1,
        last_uid: 5,
    };
    let ledger = Entry::Fact {
        at: t(1),
        key: LEDGER_FACT.into(),
        value: json!({ "mailbox": "alice@x.test", "folder": "INBOX", "ids": {} }),
        evidence: "5 messages copied".into(),
    };
    let v = view(&[
        sync(t(0), "running", 0),
        ledger.clone(),
        checkpoint("INBOX"),
        sync(t(1), "running", 5),
        ledger,
        checkpoint("INBOX"),
        checkpoint("Sent"),
        sync(t(2), "verified", 10),
        // The next copy of the same mailbox is a line of its own.
        sync(t(60), "running", 0),
    ]);
    assert_eq!(v.len(), 2);
    let Fold::Copy(first) = &v.newest_first().nth(1).unwrap().fold else {
        panic!("a copy line");
    };
    assert_eq!(first.state.as_deref(), Some("verified"));
    assert_eq!((first.messages_done, first.checkpoints), (10, 3));
    assert_eq!(first.folders, ["INBOX", "Sent"]);
    assert_eq!(first.ledger_lines, 2);
}

#[test]
fn the_filter_shows_one_kind_at_a_time() {
    let confirm = Entry::Confirm {
        at: t(0),
        operator: "ann".into(),
        step: "lower-ttl".into(),
        mailbox: None,
        evidence: vec![],
    };
    let alarm = Entry::Fact {
        at: t(1),
        key: "alarm-raised".into(),
        value: json!({ "alarm": "mx-empty" }),
        evidence: "an empty MX set".into(),
    };
    let copy = Entry::Sync {
        at: t(2),
        mailbox: "a@x.test".into(),
        pid: 1,
        state: "running".into(),
        messages_done: 0,
        messages_left: 0,
        bytes_done: 0,
        detail: None,
    };
    let mut v = view(&[confirm, alarm, uidnext(t(3), "a@x.test", 3), copy]);
    let kinds = |v: &JournalView| v.newest_first().map(|i| i.kind).collect::<Vec<_>>();
    assert_eq!(kinds(&v).len(), 4);
    let mut seen = Vec::new();
    for _ in 0..4 {
        v.filter = v.filter.next();
        seen.push((v.filter.as_str(), kinds(&v)));
    }
    assert_eq!(
        seen,
        [
            ("confirmations", vec![JournalKind::Confirmation]),
            ("alarms", vec![JournalKind::Alarm]),
            ("facts", vec![JournalKind::Fact]),
            ("copies", vec![JournalKind::Copy]),
        ]
    );
    assert_eq!(v.filter.next(), JournalFilter::All);
}

#[test]
fn the_view_keeps_at_most_its_cap_of_lines() {
    let entries: Vec<Entry> = (0..50)
        .map(|i| Entry::Note {
            at: t(i),
            operator: "ann".into(),
            text: format!("note {i}"),
        })
        .collect();
    let v = JournalView::from_entries(&entries, 2_000, 10);
    assert_eq!(v.len(), 10);
    assert!(matches!(
        v.newest_first().next().map(|i| &i.fold),
        Some(Fold::One(Entry::Note { text, .. })) if text == "note 49"
    ));
}
