//! `status --json` is an interface operators' scripts read: for each fixture its document
//! stays what it was when the expected files in `tests/fixtures/status-json/` were taken
//! (compared as parsed JSON, so key order aside), at a fixed time.
//!
//! The expected files were written by the `serde_json::Value`-patching `status` of commit
//! 115d9eb, before the report had types; the only key added since is `schema_version`.
//! Nothing is masked: `status` runs at each fixture's fixed time.

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

/// The document equals the expected one (parsed, so key order aside), once its
/// `schema_version`, added since, is taken out: it must be 1.
fn assert_same_document(name: &str, got: &Value) {
    let mut got = got.clone();
    let version = got.as_object_mut().and_then(|o| o.remove("schema_version"));
    assert_eq!(version, Some(json!(1)), "{name}: schema_version");
    let want = expected(name);
    let mut out = Vec::new();
    differences("", &got, &want, &mut out);
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

const SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/status.schema.json");

/// `assets/status.schema.json` compiled for validation.
fn checked_in_schema() -> (boon::Schemas, boon::SchemaIndex) {
    let text = std::fs::read_to_string(SCHEMA).expect("read assets/status.schema.json");
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler
        .add_resource("urn:cutover:status", schema)
        .expect("add the schema");
    let index = compiler
        .compile("urn:cutover:status", &mut schemas)
        .expect("the schema compiles");
    (schemas, index)
}

fn assert_valid(name: &str, doc: &Value) {
    let (schemas, index) = checked_in_schema();
    if let Err(e) = schemas.validate(doc, index) {
        panic!("{name} does not validate against assets/status.schema.json:\n{e}");
    }
}

#[test]
fn the_checked_in_schema_is_the_one_the_types_give() {
    let regenerate = "regenerate it with\n  \
         cargo run -- status --json-schema > assets/status.schema.json\nand review the diff";
    let checked_in = std::fs::read_to_string(SCHEMA).expect("read assets/status.schema.json");
    let parsed: Value = serde_json::from_str(&checked_in).expect("the schema is JSON");
    assert!(
        parsed == cutover::cli::status_schema(),
        "assets/status.schema.json is not the schema of status --json's types; {regenerate}"
    );
    // The command prints it, word for word, with no plan to read.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args([
            "status",
            "--json-schema",
            "--plan",
            "/nonexistent/cutover.toml",
        ])
        .env_remove("CUTOVER_PLAN")
        .output()
        .expect("run cutover");
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout) == checked_in,
        "`cutover status --json-schema` prints another text than assets/status.schema.json; {regenerate}"
    );
}

#[test]
fn every_fixture_validates_against_the_schema() {
    assert_valid("the 0.1 rehearsal", &status_offline(&v01_rehearsal()));
    assert_valid("a fresh plan", &status_offline(&fresh_plan()));
    assert_valid("a journaled plan", &status_offline(&journaled_plan()));
}

/// Spoils a valid document in one way.
type Breaking = fn(&mut Value);

#[test]
fn the_schema_refuses_a_document_that_breaks_it() {
    let good = status_offline(&journaled_plan());
    let broken: [(&str, Breaking); 5] = [
        ("a step state not known", |d| {
            d["steps"][0]["state"] = json!("finished")
        }),
        ("no mailboxes", |d| {
            d.as_object_mut().map(|o| o.remove("mailboxes"));
        }),
        ("a check without evidence", |d| {
            d["steps"][0]["checks"][0]
                .as_object_mut()
                .map(|o| o.remove("evidence"));
        }),
        ("an SMTP host half asked", |d| {
            d["smtp"][0]["reachable"] = Value::Null
        }),
        ("a schema_version as text", |d| {
            d["schema_version"] = json!("1")
        }),
    ];
    let (schemas, index) = checked_in_schema();
    for (what, breaking) in broken {
        let mut doc = good.clone();
        breaking(&mut doc);
        assert!(
            schemas.validate(&doc, index).is_err(),
            "{what}: the schema accepts it"
        );
    }
}

/// A live round against the rehearsal world (its DNS, both IMAP servers, the new MX's
/// SMTP server), one mailbox set up on the new server: the document with a DNS round,
/// probed mailboxes and a fresh SMTP probe validates too.
#[test]
fn a_live_round_validates_against_the_schema() {
    use cutover::sandbox::world::{World, WorldSpec};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let start = at("2026-12-07T08:00:00Z");
    let world = runtime
        .block_on(World::start(WorldSpec::small(start)))
        .expect("the rehearsal world starts");
    world
        .create_new_account(&world.employees[0])
        .expect("an account on the new server");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = cutover::sandbox::demo::write_plan(dir.path(), &world).expect("plan");
    let plan = cutover::plan::load(&path).expect("the plan loads").plan;
    // `status` runs its own runtime; the world's servers run on this one's threads.
    let doc = cutover::cli::status_json(&plan, false, true, &ManualClock::new(start))
        .expect("status runs");
    assert!(
        doc["dns"]["servers"]
            .as_array()
            .is_some_and(|s| !s.is_empty()),
        "{doc}"
    );
    assert_eq!(doc["mailboxes"][0]["new"]["login"], "ok", "{doc}");
    assert!(doc["mailboxes"][0]["probed_at"].is_string(), "{doc}");
    assert_eq!(doc["smtp"][0]["reachable"], true, "{doc}");
    assert_valid("a live round", &doc);
    drop(world);
}
