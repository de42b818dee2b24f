//! How long a cockpit takes to replay (and a follower to first read) a long journal.
//!
//! `cargo bench --bench journal_replay`; target: 100,000 lines well under 100 ms.

use std::io::{BufWriter, Write};
use std::time::{Duration, Instant};

use cutover::check::{Check, Kind, Status};
use cutover::journal::{Entry, Follower, Journal};
use jiff::{SignedDuration, Timestamp};

const LINES: usize = 100_000;
const RUNS: usize = 10;

/// A realistic mix: mostly copy progress and checkpoints, some confirmations with evidence.
fn entry(n: usize, start: Timestamp) -> Entry {
    let at = start + SignedDuration::from_secs(n as i64);
    let mailbox = format!("user{}@example.com", n % 40);
    match n % 10 {
        0 => Entry::Confirm {
            at,
            operator: "ann".into(),
            step: "users-connected".into(),
            mailbox: Some(mailbox),
            evidence: vec![
                Check::new(
                    "login-new",
                    Kind::Outcome,
                    Status::Pass,
                    "login to imap.new.example:993 works",
                ),
                Check::new(
                    "pop3-share",
                    Kind::Outcome,
                    Status::Warn,
                    "62% of old INBOX Message-IDs present on new",
                ),
                Check::new(
                    "ttl-wait",
                    Kind::Gate,
                    Status::Pass,
                    "old TTL 86400 s elapsed since lowered TTL first served everywhere",
                ),
            ],
        },
        1 => Entry::Fact {
            at,
            key: "mx.transition".into(),
            value: serde_json::json!({"from": ["10 mx.old.example"], "to": ["10 mx.old.example", "20 mx.new.example"]}),
            evidence: "ns1.example, ns2.example serve both MX".into(),
        },
        2..=5 => Entry::Checkpoint {
            at,
            mailbox,
            folder: "INBOX/Projects 2025".into(),
            uidvalidity: 1_700_000_000,
            last_uid: n as u32,
        },
        _ => Entry::Sync {
            at,
            mailbox,
            pid: 4711,
            state: "copying".into(),
            messages_done: n as u64,
            messages_left: (LINES - n) as u64,
            bytes_done: n as u64 * 48_000,
            detail: Some("folder Sent".into()),
        },
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = Journal::open(dir.path().join("bench.journal")).expect("journal");
    let start: Timestamp = "2026-03-02T08:00:00Z".parse().expect("timestamp");
    {
        // Written in bulk (not fsynced line by line): this measures reading.
        let file = std::fs::File::create(journal.path()).expect("create");
        let mut out = BufWriter::new(file);
        for n in 0..LINES {
            serde_json::to_writer(&mut out, &entry(n, start)).expect("encode");
            out.write_all(b"\n").expect("write");
        }
        out.flush().expect("flush");
    }
    let size = std::fs::metadata(journal.path()).expect("size").len();

    let mut replays = Vec::new();
    for _ in 0..RUNS {
        let began = Instant::now();
        let replay = journal.replay().expect("replay");
        replays.push(began.elapsed());
        assert_eq!(replay.entries.len(), LINES);
    }
    let mut follows = Vec::new();
    for _ in 0..RUNS {
        let mut follower = Follower::new(journal.path());
        let began = Instant::now();
        let entries = follower.poll().expect("poll");
        follows.push(began.elapsed());
        assert_eq!(entries.len(), LINES);
    }
    let appends = 200;
    let began = Instant::now();
    for n in 0..appends {
        journal.append(&entry(n, start)).expect("append");
    }
    let per_append = began.elapsed() / appends as u32;

    println!(
        "replay {LINES} lines ({:.1} MB): median {:?}, min {:?}",
        size as f64 / 1e6,
        median(replays.clone()),
        replays.iter().min().expect("runs")
    );
    println!(
        "follower first poll of {LINES} lines: median {:?}",
        median(follows)
    );
    println!("append (locked, fsynced): {per_append:?} each");
}
