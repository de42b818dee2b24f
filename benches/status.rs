//! Benchmark: load a plan with 5,000 mailboxes, replay a 100,000-line journal, evaluate status.
//!
//! Reports the time of the whole `status --offline` path and, as a reference
//! measured in the same process, the time to merely read the journal file and
//! count its lines: the ratio says how much the work costs beyond the I/O.

use std::time::{Duration, Instant};

use cutover::journal::History;
use cutover::journal::{Entry, Journal};
use cutover::runbook::eval::Inputs;
use cutover::runbook::timeline;
use cutover::runbook::{Runbook, evaluate};

const MAILBOXES: usize = 5_000;
const LINES: usize = 100_000;

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

    // A journal of the shape a long migration leaves: mostly copy progress and
    // checkpoints, with facts, ticks and confirmations among them.
    let journal_path = Journal::path_for_plan(&plan_path);
    let mut text = String::with_capacity(LINES * 160);
    let at: jiff::Timestamp = "2026-12-07T07:00:00Z".parse().expect("time");
    for i in 0..LINES {
        let mailbox = format!("user{}@example.com", i % MAILBOXES);
        let entry = match i % 10 {
            0 => Entry::Confirm {
                at,
                operator: "bench".into(),
                step: "clients-configured".into(),
                mailbox: Some(mailbox),
                evidence: vec![],
            },
            1 => Entry::Fact {
                at,
                key: "mx-set".into(),
                value: serde_json::json!({"from": "old", "to": "old+new"}),
                evidence: "served by 2 of 2 authoritative servers".into(),
            },
            2..=5 => Entry::Checkpoint {
                at,
                mailbox,
                folder: "INBOX".into(),
                uidvalidity: 1,
                last_uid: i as u32,
            },
            _ => Entry::Sync {
                at,
                mailbox,
                pid: 4242,
                state: "copying".into(),
                messages_done: i as u64,
                messages_left: 10,
                bytes_done: (i as u64) * 4096,
                detail: None,
            },
        };
        text.push_str(&serde_json::to_string(&entry).expect("json"));
        text.push('\n');
    }
    std::fs::write(&journal_path, text).expect("write journal");

    let runs = 15;
    let mut reference = Vec::new();
    let mut full = Vec::new();
    let mut evaluated_steps = 0;
    for _ in 0..runs {
        let t0 = Instant::now();
        let bytes = std::fs::read(&journal_path).expect("read");
        let lines = bytes.iter().filter(|b| **b == b'\n').count();
        assert_eq!(lines, LINES);
        reference.push(t0.elapsed());

        let t0 = Instant::now();
        let loaded = cutover::plan::load(&plan_path).expect("plan");
        let plan = loaded.plan;
        let runbook = Runbook::for_plan(&plan);
        let tl = timeline::build(&plan, &runbook);
        let replay = Journal::open(&journal_path)
            .expect("journal")
            .replay()
            .expect("replay");
        let history = History::from_entries(&replay.entries);
        let eval = evaluate(&Inputs {
            plan: &plan,
            runbook: &runbook,
            timeline: &tl,
            history: &history,
            dns: None,
            mail: None,
            now: at,
        });
        let json = serde_json::to_string(&eval).expect("json");
        full.push(t0.elapsed());
        evaluated_steps = eval.steps.len();
        assert!(json.len() > 1000);
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (r, f) = (median(&mut reference), median(&mut full));
    println!(
        "status bench: plan with {MAILBOXES} mailboxes, journal of {LINES} lines, {evaluated_steps} steps evaluated"
    );
    println!(
        "  load + replay + evaluate + JSON: median {:.1} ms over {runs} runs (target < 150 ms)",
        f.as_secs_f64() * 1e3
    );
    println!(
        "  reference (read journal, count lines): median {:.2} ms",
        r.as_secs_f64() * 1e3
    );
    println!(
        "  ratio full / reference: {:.1}",
        f.as_secs_f64() / r.as_secs_f64()
    );
}
