//! Plans for tests: a small valid plan, written to a temp dir, with knobs.

#![allow(dead_code)]

use std::path::PathBuf;

use cutover::plan::Plan;
use cutover::plan::load::{Environment, parse};

pub const PLAN: &str = r#"domain = "example.com"
start = "2026-12-07T09:00"
timezone = "Europe/Vilnius"
operator = "tester"

# Tests never query the internet: nothing listens on these loopback ports.
[dns]
resolvers = ["127.0.0.1:9"]
authoritative = ["127.0.0.1:9"]
timeout = "300ms"

[old]
mx = ["10 mx1.old.example.", "20 mx2.old.example."]
spf = ["include:_spf.old.example"]
imap = "imaps://imap.old.example:993"

[new]
mx = ["1 smtp.new.example."]
spf = ["include:_spf.new.example"]
dkim_selector = "sel1"
imap = { url = "imap://127.0.0.1:10143", tls = "none" }

[[mailbox]]
address = "alice@example.com"
old_login = "alice"

[[mailbox]]
address = "bob@example.com"
"#;

pub fn env() -> Environment {
    Environment {
        login_user: "tester".into(),
        system_timezone: Some("Europe/Vilnius".into()),
    }
}

/// A plan file in a fresh temp dir; the dir lives as long as the returned guard.
pub fn write_plan(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cutover.toml");
    std::fs::write(&path, text).expect("write plan");
    (dir, path)
}

pub fn plan_from(text: &str) -> Plan {
    parse(
        std::path::Path::new("/nonexistent/cutover.toml"),
        text,
        &env(),
    )
    .expect("test plan is valid")
    .plan
}
