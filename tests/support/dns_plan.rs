//! The plan the DNS tests watch: example.com moving from two old MX hosts to one new one,
//! with the given authoritative servers and resolvers (on loopback).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use cutover::plan::{DnsPlan, ImapEndpoint, MxRecord, Plan, Security, Side, SyncPlan};

fn mx(preference: u16, host: &str) -> MxRecord {
    MxRecord {
        preference,
        host: host.to_string(),
    }
}

fn side(name: &str, mxs: Vec<MxRecord>, spf: &str, selector: Option<&str>) -> Side {
    Side {
        name: name.to_string(),
        mx: mxs,
        spf: vec![spf.to_string()],
        dkim_selector: selector.map(str::to_string),
        imap: ImapEndpoint {
            url: "imap://127.0.0.1:1".into(),
            host: "127.0.0.1".into(),
            port: 1,
            security: Security::None,
            ca_file: None,
            insecure_skip_verify: false,
            pin_sha256: None,
        },
        smtp: vec![],
        submission: None,
    }
}

/// Per-query timeout 800 ms: a dead server costs a round at most that.
pub fn plan(authoritative: Vec<SocketAddr>, resolvers: Vec<SocketAddr>) -> Plan {
    Plan {
        path: PathBuf::from("/tmp/cutover.toml"),
        domain: "example.com".into(),
        start: "2026-12-07T09:00".parse().unwrap(),
        timezone_name: "UTC".into(),
        timezone: jiff::tz::TimeZone::UTC,
        working_days: vec![],
        operator: "ops".into(),
        dns: DnsPlan {
            migration_ttl: 300,
            restore_ttl_mx: 86400,
            restore_ttl_txt: 21600,
            old_ttl: None,
            poll: Duration::from_secs(30),
            timeout: Duration::from_millis(800),
            resolvers,
            authoritative,
            names: Default::default(),
        },
        old: side(
            "Old host",
            vec![mx(10, "mx1.old.example."), mx(20, "mx2.old.example.")],
            "include:_spf.old.example",
            None,
        ),
        new: side(
            "New host",
            vec![mx(1, "smtp.new.example.")],
            "include:_spf.new.example",
            Some("sel1"),
        ),
        credentials: None,
        sync: SyncPlan::default(),
        archive: None,
        mailboxes: vec![],
        extra_steps: vec![],
        canary: None,
    }
}
