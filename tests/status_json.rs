//! `status --json` is an interface operators' scripts read: for each fixture its document
//! stays what it was when the expected files in `tests/fixtures/status-json/` were taken
//! (compared as parsed JSON, so key order aside), at a fixed time.
//!
//! The expected files were written by the `serde_json::Value`-patching `status` of commit
//! 115d9eb, before the report had types; the only key added since is `schema_version`.

#[path = "support/plans.rs"]
mod plans;

use std::path::{Path, PathBuf};

use cutover::clock::ManualClock;
use cutover::journal::{Entry, Journal};
use jiff::Timestamp;
use serde_json::{Value, json};

const EXPECTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/status-json");
const V01: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/journal-v0.1");

/// A fixture: a plan (with its journal beside it) and the time `status` runs at.
struct Fixture {
    _dir: tempfile::TempDir,
    plan: PathBuf,
    now: Timestamp,
}

fn at(text: &str) -> Timestamp {
    text.parse().expect("a timestamp")
}

/// The 0.1 release's rehearsal (plan, secrets, journal), at its journal's last entry.
fn v01_rehearsal() -> Fixture {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["cutover.toml", "secrets.toml", "cutover.journal"] {
        let to = dir.path().join(name);
        std::fs::copy(Path::new(V01).join(name), &to).expect("copy the fixture");
        // The secrets file must be private; git does not keep its mode.
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    Fixture {
        plan: dir.path().join("cutover.toml"),
        _dir: dir,
        now: at("2026-12-01T23:06:10.522691243Z"),
    }
}

/// The tests' small plan, nothing journaled, the evening before its day 1.
fn fresh_plan() -> Fixture {
    let (dir, plan) = plans::write_plan(plans::PLAN);
    Fixture {
        _dir: dir,
        plan,
        now: at("2026-12-06T18:00:00Z"),
    }
}

/// The tests' small plan on day 2 with a journal like a rehearsal's: the TTL lowered and
/// confirmed, the SPF step overridden, the new MX applied, an SMTP probe that refused one
/// address, one mailbox's copy verified and the other's running.
fn journaled_plan() -> Fixture {
    let (dir, plan) = plans::write_plan(plans::PLAN);
    let journal = Journal::open(Journal::path_for_plan(&plan)).expect("journal");
    let operator = "tester".to_string();
    let probe = json!({
        "hosts": [{
            "host": "smtp.new.example", "port": 25, "at": "2026-12-08T07:30:00Z",
            "reachable": true, "banner": "220 smtp.new.example ESMTP", "starttls": true,
            "cert_valid": true, "cert_days_left": 61, "tls_error": null,
            "probe_address": "cutover-probe-1@example.com",
            "probe_reply": "550 5.1.1 no such user", "accepts_anything": false, "error": null
        }],
        "answers": [
            {"host": "smtp.new.example", "address": "alice@example.com", "accepts": true,
             "reply": "250 2.1.5 Ok"},
            {"host": "smtp.new.example", "address": "bob@example.com", "accepts": false,
             "reply": "550 5.1.1 bob@example.com: user unknown"}
        ]
    });
    let entries = [
        Entry::Applied {
            at: at("2026-12-07T07:10:00Z"),
            operator: operator.clone(),
            step: "lower-ttl".into(),
        },
        Entry::Confirm {
            at: at("2026-12-07T07:40:00Z"),
            operator: operator.clone(),
            step: "lower-ttl".into(),
            mailbox: None,
            evidence: Vec::new(),
        },
        Entry::Override {
            at: at("2026-12-07T08:00:00Z"),
            operator: operator.clone(),
            step: "spf-add-new".into(),
            mailbox: None,
            reason: "the DNS host's panel shows the record".into(),
            evidence: Vec::new(),
        },
        Entry::Fact {
            at: at("2026-12-08T07:30:05Z"),
            key: "smtp-probe".into(),
            value: probe,
            evidence: "bob@example.com refused".into(),
        },
        Entry::Sync {
            at: at("2026-12-08T07:45:00Z"),
            mailbox: "alice@example.com".into(),
            pid: 4242,
            state: "verified".into(),
            messages_done: 120,
            messages_left: 0,
            bytes_done: 2_400_000,
            detail: None,
        },
        Entry::Sync {
            at: at("2026-12-08T07:50:00Z"),
            mailbox: "bob@example.com".into(),
            pid: 4243,
            state: "running".into(),
            messages_done: 30,
            messages_left: 90,
            bytes_done: 600_000,
            detail: None,
        },
        Entry::Applied {
            at: at("2026-12-08T07:55:00Z"),
            operator,
            step: "add-new-mx".into(),
        },
    ];
    for entry in &entries {
        journal.append(entry).expect("append");
    }
    Fixture {
        _dir: dir,
        plan,
        now: at("2026-12-08T08:00:00Z"),
    }
}

/// `status --json --offline` on a fixture, at its time.
fn status_offline(fixture: &Fixture) -> Value {
    let plan = cutover::plan::load(&fixture.plan)
        .expect("the plan loads")
        .plan;
    cutover::cli::status_json(&plan, true, false, &ManualClock::new(fixture.now))
        .expect("status runs")
}

fn expected(name: &str) -> Value {
    let path = Path::new(EXPECTED).join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("the expected document is JSON")
}

/// Where two documents differ, one path per line.
fn differences(path: &str, got: &Value, want: &Value, out: &mut Vec<String>) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            let keys: std::collections::BTreeSet<&String> = g.keys().chain(w.keys()).collect();
            for k in keys {
                match (g.get(k), w.get(k)) {
                    (Some(g), Some(w)) => differences(&format!("{path}.{k}"), g, w, out),
                    (g, w) => out.push(format!("{path}.{k}: {g:?} where {w:?} was expected")),
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

/// The document equals the expected one (parsed, so key order aside).
fn assert_same_document(name: &str, got: &Value) {
    let want = expected(name);
    let mut out = Vec::new();
    differences("", got, &want, &mut out);
    out.truncate(30);
    assert!(
        out.is_empty(),
        "status --json differs from {name}:\n{}",
        out.join("\n")
    );
}

#[test]
fn the_old_rehearsal_journal_gives_the_same_document() {
    assert_same_document("v0.1-rehearsal.json", &status_offline(&v01_rehearsal()));
}

#[test]
fn a_fresh_plan_gives_the_same_document() {
    assert_same_document("fresh-plan.json", &status_offline(&fresh_plan()));
}

#[test]
fn a_journaled_plan_gives_the_same_document() {
    assert_same_document("journaled-plan.json", &status_offline(&journaled_plan()));
}
