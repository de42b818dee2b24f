//! A journal written by cutover 0.1, the release before the layered crate
//! (commit 7a04f2f), still loads, reads back as it was written, and evaluates
//! as that release evaluated it.
//!
//! `tests/fixtures/journal-v0.1/` holds what that release wrote (its README
//! says how): the plan, secrets and journal of a whole rehearsal, and
//! `expected-status.json`, that release's `status --json --offline` on them at
//! the time of the journal's last entry. The old binary reads the wall clock
//! only, so the expected document was taken from its library at that fixed
//! time, through the same `status` code the command runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use cutover::journal::{Entry, History, Journal};
use cutover::runbook::eval::Inputs;
use cutover::runbook::{Runbook, evaluate, timeline};
use jiff::Timestamp;
use serde_json::Value;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/journal-v0.1");

/// The fixture's plan, secrets and journal, copied to a fresh directory: the
/// commands write beside the plan, and the secrets file must be private
/// (git does not keep its mode 0600).
fn fixture_copy() -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["cutover.toml", "secrets.toml", "cutover.journal"] {
        let to = dir.path().join(name);
        std::fs::copy(Path::new(FIXTURE).join(name), &to).expect("copy the fixture");
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let plan = dir.path().join("cutover.toml");
    (dir, plan)
}

fn journal_lines() -> Vec<String> {
    std::fs::read_to_string(Path::new(FIXTURE).join("cutover.journal"))
        .expect("read the fixture journal")
        .lines()
        .map(str::to_string)
        .collect()
}

fn expected_status() -> Value {
    let text = std::fs::read_to_string(Path::new(FIXTURE).join("expected-status.json"))
        .expect("read the expected status");
    serde_json::from_str(&text).expect("expected-status.json is JSON")
}

/// The time the expected document was taken at: the journal's last entry.
fn last_entry_time() -> Timestamp {
    let lines = journal_lines();
    let last: Value = serde_json::from_str(lines.last().expect("a journal line")).expect("JSON");
    last["at"]
        .as_str()
        .expect("at")
        .parse()
        .expect("a timestamp")
}

/// Where two JSON documents differ, one path per line (the first 20).
fn differences(path: &str, got: &Value, want: &Value, out: &mut Vec<String>) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            let keys: std::collections::BTreeSet<&String> = g.keys().chain(w.keys()).collect();
            for k in keys {
                let (g, w) = (g.get(k), w.get(k));
                match (g, w) {
                    (Some(g), Some(w)) => differences(&format!("{path}.{k}"), g, w, out),
                    _ => out.push(format!("{path}.{k}: {g:?} where {w:?} was expected")),
                }
            }
        }
        (Value::Array(g), Value::Array(w)) if g.len() == w.len() => {
            for (i, (g, w)) in g.iter().zip(w).enumerate() {
                differences(&format!("{path}[{i}]"), g, w, out);
            }
        }
        _ if got != want => out.push(format!("{path}: {got} where {want} was expected")),
        _ => {}
    }
}

/// Keys `status --json` gained after 0.1 (issue 10), removed from `got` only while they hold
/// the value that means "nothing": an old journal raises no alarm and, at its end, waits on
/// nothing, so any other value is a real difference.
fn without_keys_added_since(got: &Value) -> Value {
    let mut got = got.clone();
    let drop_if = |v: &mut Value, key: &str, empty: Value| {
        if let Some(o) = v.as_object_mut()
            && o.get(key) == Some(&empty)
        {
            o.remove(key);
        }
    };
    drop_if(&mut got, "alarms", serde_json::json!([]));
    // Issue 18's typed document: its version, 1.
    drop_if(&mut got, "schema_version", serde_json::json!(1));
    // Issue 12's DNS-host card: null when the next step changes nothing at the DNS host.
    drop_if(&mut got, "dns_host_card", Value::Null);
    if let Some(next) = got.get_mut("next") {
        drop_if(next, "alarm", Value::Null);
        drop_if(next, "warnings", serde_json::json!([]));
    }
    if let Some(steps) = got.get_mut("steps").and_then(Value::as_array_mut) {
        for step in steps.iter_mut() {
            drop_if(step, "wait_until", Value::Null);
            // Issue 13's gate: an old journal holds no SMTP probe, so it is unknown.
            if let Some(checks) = step.get_mut("checks").and_then(Value::as_array_mut) {
                checks.retain(|c| !(c["id"] == "smtp.new-mx-accepts" && c["status"] == "unknown"));
                // Issue 23's gate: the 0.1 plan has no [archive], so decommission-old's
                // archive gate fails (saying how to add one); any other status is a difference.
                checks.retain(|c| !(c["id"] == "mail.archive-verified" && c["status"] == "fail"));
            }
        }
        // Issue 14's bulk-copy step: at the old journal's end every mailbox's copy is
        // verified, so it can only be done (by that evidence); any other state is a difference.
        steps.retain(|s| !(s["id"] == "bulk-copy" && s["state"] == "done"));
    }
    // Issue 13's SMTP probe: never asked, every answer is null.
    let unasked = |rows: &Value, key: &str| {
        rows.as_array()
            .is_some_and(|rows| rows.iter().all(|r| r[key].is_null()))
    };
    if let Some(o) = got.as_object_mut()
        && o.get("smtp").is_some_and(|s| unasked(s, "reachable"))
    {
        o.remove("smtp");
    }
    if let Some(mailboxes) = got.get_mut("mailboxes").and_then(Value::as_array_mut) {
        for mailbox in mailboxes {
            if let Some(o) = mailbox.as_object_mut()
                && o.get("new_mx").is_some_and(|n| unasked(n, "accepts"))
            {
                o.remove("new_mx");
            }
        }
    }
    // Issue 20's canaries: a 0.1 plan has no [canary], so none were sent and the note says
    // mail flow is not proven.
    drop_if(&mut got, "canaries", serde_json::json!([]));
    if got["mail_flow_note"]
        .as_str()
        .is_some_and(|n| n.starts_with("Mail flow is not proven"))
    {
        got.as_object_mut().map(|o| o.remove("mail_flow_note"));
    }
    // Issue 14's copy estimate: offline nothing is measured, and 0.1 journaled no rate.
    drop_if(&mut got, "copy_estimate_s", Value::Null);
    drop_if(
        &mut got,
        "copy_rate",
        serde_json::json!({"bytes_per_sec": 2_000_000, "measured": false}),
    );
    if let Some(rows) = got.get_mut("mailboxes").and_then(Value::as_array_mut) {
        for row in rows {
            drop_if(row, "old_bytes", Value::Null);
            drop_if(row, "copy_estimate_s", Value::Null);
        }
    }
    got
}

fn assert_same(got: &Value, want: &Value) {
    let got = &without_keys_added_since(got);
    let mut out = Vec::new();
    differences("", got, want, &mut out);
    out.truncate(20);
    assert!(
        out.is_empty(),
        "differs from the old release:\n{}",
        out.join("\n")
    );
}

#[test]
fn every_line_of_the_old_journal_reads_back_as_it_was_written() {
    let lines = journal_lines();
    let mut kinds = std::collections::BTreeSet::new();
    for (n, line) in lines.iter().enumerate() {
        let entry: Entry =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}: {line}", n + 1));
        assert!(
            !matches!(entry, Entry::Other),
            "line {}: kind not known: {line}",
            n + 1
        );
        let written: Value = serde_json::from_str(line).expect("JSON");
        let again = serde_json::to_value(&entry).expect("encode");
        assert_eq!(again, written, "line {} is spelled differently now", n + 1);
        kinds.insert(written["kind"].as_str().expect("kind").to_string());
    }
    // Every kind the old release wrote in a rehearsal (it never writes a note).
    let want = [
        "applied",
        "checkpoint",
        "confirm",
        "fact",
        "override",
        "reopen",
        "sync",
    ];
    assert_eq!(kinds.iter().map(String::as_str).collect::<Vec<_>>(), want);

    let (_dir, plan) = fixture_copy();
    let replay = Journal::open(Journal::path_for_plan(&plan))
        .expect("open")
        .replay()
        .expect("replay");
    assert!(replay.torn.is_none() && replay.bad_lines.is_empty());
    assert_eq!(replay.entries.len(), lines.len());
}

#[test]
fn the_old_journal_evaluates_as_the_old_release_did() {
    let (_dir, path) = fixture_copy();
    let plan = cutover::plan::load(&path).expect("the old plan loads").plan;
    let replay = Journal::open(Journal::path_for_plan(&path))
        .expect("open")
        .replay()
        .expect("replay");
    let runbook = Runbook::for_plan(&plan);
    let timeline = timeline::build(&plan, &runbook);
    let history = History::from_entries(&replay.entries);
    // Offline, as `status --offline`: no DNS round, no mailbox probes.
    let eval = evaluate(&Inputs {
        plan: &plan,
        runbook: &runbook,
        timeline: &timeline,
        history: &history,
        dns: None,
        mail: None,
        now: last_entry_time(),
    });
    let mut want = expected_status();
    // `dns` and `mailboxes` are the command's, beside the evaluation (next test).
    let object = want.as_object_mut().expect("an object");
    object.remove("dns");
    object.remove("mailboxes");
    // Durations are written one way now; this delay reads as 0.1 wrote it.
    assert_eq!(want["schedule"]["behind_minutes"], 392_286);
    assert_eq!(
        want["schedule"]["text"],
        "behind the timeline by 272 d 10 h"
    );
    assert_same(&serde_json::to_value(&eval).expect("encode"), &want);
}

#[test]
fn status_json_on_the_old_journal_is_what_the_old_release_printed() {
    let (_dir, plan) = fixture_copy();
    let output = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["status", "--json", "--offline", "--plan"])
        .arg(&plan)
        .env_remove("CUTOVER_PLAN")
        .output()
        .expect("run cutover");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut got: Value = serde_json::from_slice(&output.stdout).expect("status --json is JSON");
    let mut want = expected_status();
    // The binary reads the wall clock; the expected document was taken at the
    // journal's last entry. Masked: `now` itself, and how far behind the
    // timeline that is (`schedule.behind_minutes` and its `text`). `day` is not
    // masked: any time after the rehearsal's three days is day 4.
    for doc in [&mut got, &mut want] {
        doc["now"] = Value::from("[now]");
        doc["schedule"]["behind_minutes"] = Value::from("[depends on now]");
        doc["schedule"]["text"] = Value::from("[depends on now]");
    }
    assert_same(&got, &want);
}
