//! Benchmark: `cutover report` on a plan with 5,000 mailboxes and a 100,000-line journal.
//!
//! The journal has the shape a long migration leaves: copy progress, checkpoints, a copy
//! report of 8 folders and old INBOX facts per mailbox, confirmations with their evidence,
//! per-mailbox ticks, an override and an alarm raised for 20,000 lines. Each format is
//! timed from the plan's loading to the rendered text (target < 1 s), against replaying
//! the journal alone in the same run: the ratio says what the report costs beyond that.

use std::time::{Duration, Instant};

use cutover::check::{Check, Kind, Status};
use cutover::journal::{Entry, Journal};
use cutover::report::Format;

const MAILBOXES: usize = 5_000;
const LINES: usize = 100_000;
const FOLDERS: [&str; 8] = [
    "INBOX",
    "Sent",
    "Drafts",
    "Archive",
    "Archive/2025",
    "Junk",
    "Trash",
    "Notes",
];

fn evidence(step: &str) -> Vec<Check> {
    (0..6)
        .map(|i| {
            Check::new(
                &format!("{step}-check-{i}"),
                Kind::Outcome,
                Status::Pass,
                "Every authoritative server serves the records the step needs, with the TTL it set.",
            )
        })
        .collect()
}

fn journal_lines(at: jiff::Timestamp) -> Vec<Entry> {
    let mut lines = Vec::with_capacity(LINES);
    let minute = |n: usize| at + jiff::SignedDuration::from_secs(60 * n as i64);
    for step in cutover::step::StepId::BUILT_IN {
        lines.push(Entry::Applied {
            at,
            operator: "bench".into(),
            step: step.clone(),
        });
        lines.push(Entry::Confirm {
            at,
            operator: "bench".into(),
            step: step.clone(),
            mailbox: None,
            evidence: evidence(step.as_str()),
        });
    }
    lines.push(Entry::Override {
        at,
        operator: "bench".into(),
        step: "remove-old-mx".into(),
        mailbox: None,
        reason: "the DNS host's panel shows the change; its servers lag".into(),
        evidence: evidence("remove-old-mx"),
    });
    for i in 0..MAILBOXES {
        let mailbox = format!("user{i}@example.com");
        lines.push(Entry::Confirm {
            at,
            operator: "bench".into(),
            step: "clients-configured".into(),
            mailbox: Some(mailbox.clone()),
            evidence: vec![],
        });
        let folders: Vec<serde_json::Value> = FOLDERS
            .iter()
            .map(|f| {
                serde_json::json!({"old": f, "new": f, "old_messages": 120, "old_uidnext": 121,
                    "missing": 0, "verified": true})
            })
            .collect();
        lines.push(Entry::Fact {
            at,
            key: "mail-copy-result".into(),
            value: serde_json::json!({"mailbox": mailbox, "state": "verified", "folders": folders}),
            evidence: format!("{mailbox}: 960 of 960 old messages on the new server, verified"),
        });
    }
    lines.push(Entry::Fact {
        at,
        key: "alarm-raised".into(),
        value: serde_json::json!({"id": "mx-empty"}),
        evidence: "192.0.2.53 serves no MX record for example.com.".into(),
    });
    let mut i = 0;
    while lines.len() < LINES {
        let mailbox = format!("user{}@example.com", i % MAILBOXES);
        lines.push(match i % 10 {
            0 => Entry::Fact {
                at: minute(i),
                key: "old-inbox-uidnext".into(),
                value: serde_json::json!({"mailbox": mailbox, "uidnext": 121 + i / MAILBOXES,
                    "arrived": minute(i).to_string()}),
                evidence: format!("{mailbox}: old INBOX UIDNEXT {}", 121 + i / MAILBOXES),
            },
            1..=4 => Entry::Checkpoint {
                at: minute(i),
                mailbox,
                folder: FOLDERS[i % FOLDERS.len()].into(),
                uidvalidity: 1,
                last_uid: i as u32,
            },
            _ => Entry::Sync {
                at: minute(i),
                mailbox,
                pid: 4242,
                state: if i % 10 == 9 { "verified" } else { "running" }.into(),
                messages_done: 10,
                messages_left: 0,
                bytes_done: 40_960,
                detail: None,
            },
        });
        if i == 20_000 {
            lines.push(Entry::Fact {
                at: minute(i),
                key: "alarm-cleared".into(),
                value: serde_json::json!({"id": "mx-empty"}),
                evidence: "Alarm mx-empty cleared: its condition is no longer observed.".into(),
            });
        }
        i += 1;
    }
    lines
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan_path = dir.path().join("bench.toml");
    let mut plan = String::from(
        "domain = \"example.com\"\nstart = \"2026-12-07T09:00\"\ntimezone = \"Europe/Vilnius\"\noperator = \"bench\"\n\
         [old]\nmx = [\"10 mx1.old.example.\"]\nspf = [\"include:_spf.old.example\"]\nimap = \"imaps://imap.old.example:993\"\n\
         [new]\nmx = [\"1 smtp.new.example.\"]\nspf = [\"include:_spf.new.example\"]\ndkim_selector = \"s\"\nimap = \"imaps://imap.new.example:993\"\n",
    );
    for i in 0..MAILBOXES {
        plan.push_str(&format!(
            "[[mailbox]]\naddress = \"user{i}@example.com\"\nold_login = \"user{i}\"\n"
        ));
    }
    std::fs::write(&plan_path, plan).expect("write plan");
    let at: jiff::Timestamp = "2026-12-07T07:00:00Z".parse().expect("time");
    let mut text = String::with_capacity(LINES * 200);
    for entry in journal_lines(at) {
        text.push_str(&serde_json::to_string(&entry).expect("json"));
        text.push('\n');
    }
    let journal_path = Journal::path_for_plan(&plan_path);
    std::fs::write(&journal_path, text).expect("write journal");

    let runs = 9;
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let replay = median(
        (0..runs)
            .map(|_| {
                let t0 = Instant::now();
                let replay = Journal::open(&journal_path)
                    .expect("journal")
                    .replay()
                    .expect("replay");
                assert_eq!(replay.entries.len(), LINES);
                t0.elapsed()
            })
            .collect(),
    );
    println!("report bench: plan with {MAILBOXES} mailboxes, journal of {LINES} lines");
    println!(
        "  reference (journal replay alone): median {:.1} ms over {runs} runs",
        replay.as_secs_f64() * 1e3
    );
    for (name, format) in [
        ("html", Format::Html),
        ("md", Format::Md),
        ("csv", Format::Csv),
        ("json", Format::Json),
    ] {
        let mut size = 0;
        let (mut full, mut built, mut rendered) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let t0 = Instant::now();
            let plan = cutover::plan::load(&plan_path).expect("plan").plan;
            let replay = Journal::open(&journal_path)
                .expect("journal")
                .replay()
                .expect("replay");
            let t1 = Instant::now();
            let report = cutover::report::build(&plan, &replay.entries);
            let t2 = Instant::now();
            let text = report.render(format);
            full.push(t0.elapsed());
            built.push(t2 - t1);
            rendered.push(t2.elapsed());
            size = text.len();
            assert_eq!(report.mailboxes.len(), MAILBOXES);
            assert_eq!(report.alarms.len(), 1);
        }
        let full = median(full);
        println!(
            "  {name:>4}: plan + replay + report + render: median {:.1} ms (target < 1000 ms), {:.2} × the replay alone \
             (the report's model {:.1} ms, rendering {:.1} ms), {} KiB",
            full.as_secs_f64() * 1e3,
            full.as_secs_f64() / replay.as_secs_f64(),
            median(built).as_secs_f64() * 1e3,
            median(rendered).as_secs_f64() * 1e3,
            size / 1024
        );
    }
}
