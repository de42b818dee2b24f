//! Made-up cockpit state for screen snapshots and benchmarks: a plan, the DNS
//! and mailbox view models, and measured verdicts, put straight into an `App`.
//! Whole screens are drawn from state alone, so these give the panes exact,
//! stable content. Tests of what real data means send the workers' own events
//! (`Event::DnsRound` with a round from `rounds.rs`, `Event::MailProbes`) instead.

#![allow(dead_code)] // each test binary and bench uses a different part of it

use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::{Weekday, date};
use jiff::tz::TimeZone;

use cutover::app::App;
use cutover::app::model::{
    DnsCell, DnsRow, DnsView, FolderRow, LoginState, MailboxRow, RecordKind, ServerColumn,
    ServerRole, Tone,
};
use cutover::check::Check;
use cutover::plan::{DnsPlan, ImapEndpoint, Mailbox, MxRecord, Plan, Security, Side, SyncPlan};

/// A plan for example.com (Vilnius time, day 1 on Monday 7 December 2026 at 09:00)
/// with `mailboxes` mailboxes named user0000@example.com and on.
pub fn plan(path: PathBuf, mailboxes: usize) -> Plan {
    let side = |name: &str, mx: Vec<MxRecord>, spf: &str, host: &str| Side {
        name: name.to_string(),
        mx,
        spf: vec![spf.to_string()],
        dkim_selector: Some("sel1".into()),
        imap: ImapEndpoint {
            url: format!("imaps://{host}:993"),
            host: host.to_string(),
            port: 993,
            security: Security::Implicit,
            ca_file: None,
            insecure_skip_verify: false,
            pin_sha256: None,
        },
        smtp: vec![],
        submission: None,
    };
    Plan {
        path,
        domain: "example.com".into(),
        start: date(2026, 12, 7).at(9, 0, 0, 0),
        timezone_name: "Europe/Vilnius".into(),
        timezone: TimeZone::get("Europe/Vilnius").unwrap_or(TimeZone::UTC),
        working_days: vec![
            Weekday::Monday,
            Weekday::Tuesday,
            Weekday::Wednesday,
            Weekday::Thursday,
            Weekday::Friday,
        ],
        operator: "ann".into(),
        dns: DnsPlan {
            migration_ttl: 300,
            restore_ttl_mx: 86_400,
            restore_ttl_txt: 21_600,
            old_ttl: Some(3_600),
            poll: Duration::from_secs(30),
            timeout: Duration::from_secs(3),
            resolvers: vec![],
            authoritative: vec![],
            names: Default::default(),
        },
        old: side(
            "Old host",
            vec![
                MxRecord {
                    preference: 10,
                    host: "mx1.old.example.".into(),
                },
                MxRecord {
                    preference: 20,
                    host: "mx2.old.example.".into(),
                },
            ],
            "include:_spf.old.example",
            "imap.old.example",
        ),
        new: side(
            "New host",
            vec![MxRecord {
                preference: 1,
                host: "smtp.new.example.".into(),
            }],
            "include:_spf.new.example",
            "imap.new.example",
        ),
        credentials: None,
        sync: SyncPlan::default(),
        archive: None,
        mailboxes: (0..mailboxes)
            .map(|i| {
                let login = format!("user{i:04}");
                Mailbox {
                    address: format!("{login}@example.com"),
                    old_login: login.clone(),
                    new_login: format!("{login}@example.com"),
                    ..Mailbox::default()
                }
            })
            .collect(),
        extra_steps: vec![],
        canary: None,
    }
}

/// Day 1, 09:05 Vilnius time (07:05 UTC): just after the start.
pub fn day1_morning() -> Timestamp {
    "2026-12-07T07:05:00Z"
        .parse()
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A DNS matrix: two authoritative servers and two resolvers, mid-switch.
/// With `alarm`, ns2 serves an empty MX set.
pub fn dns_view(at: Timestamp, alarm: bool) -> DnsView {
    let column = |label: &str, full: &str, role| ServerColumn {
        label: label.into(),
        full: full.into(),
        role,
    };
    let servers = vec![
        column(
            "ns1",
            "ns1.example.com (192.0.2.53)",
            ServerRole::Authoritative,
        ),
        column(
            "ns2",
            "ns2.example.com (192.0.2.54)",
            ServerRole::Authoritative,
        ),
        column("Cloudflare", "Cloudflare (1.1.1.1)", ServerRole::Resolver),
        column("Google", "Google (8.8.8.8)", ServerRole::Resolver),
    ];
    let cell = |short: &str, ttl: u32, tone: Tone, records: &[&str]| DnsCell {
        short: short.into(),
        ttl: Some(ttl),
        tone,
        definite: true,
        records: records.iter().map(|r| r.to_string()).collect(),
        detail: "ok at 07:00:00 UTC in 3 ms".into(),
    };
    let both = [
        "10 mx1.old.example.",
        "20 mx2.old.example.",
        "1 smtp.new.example.",
    ];
    let spf_both = ["v=spf1 include:_spf.old.example include:_spf.new.example ~all"];
    let mx_ns2 = if alarm {
        DnsCell {
            short: "empty".into(),
            ttl: None,
            tone: Tone::Missing,
            definite: true,
            records: vec![],
            detail: "nodata at 07:00:00 UTC in 3 ms: senders fall back to the A record".into(),
        }
    } else {
        cell("old+new", 300, Tone::Both, &both)
    };
    let none = DnsCell {
        short: "none".into(),
        ttl: None,
        tone: Tone::Missing,
        definite: true,
        records: vec![],
        detail: "nxdomain at 07:00:00 UTC in 3 ms".into(),
    };
    let row = |label: &str, name: &str, kind, cells| DnsRow {
        label: label.into(),
        name: name.into(),
        rtype: if kind == RecordKind::Mx { "MX" } else { "TXT" }.into(),
        kind,
        cells,
    };
    DnsView {
        servers,
        rows: vec![
            row(
                "MX",
                "@",
                RecordKind::Mx,
                vec![
                    cell("old+new", 300, Tone::Both, &both),
                    mx_ns2,
                    cell("old", 3600, Tone::Old, &both[..2]),
                    cell("old+new", 212, Tone::Both, &both),
                ],
            ),
            row(
                "SPF",
                "@",
                RecordKind::Spf,
                vec![
                    cell("old+new", 300, Tone::Both, &spf_both),
                    cell("old+new", 300, Tone::Both, &spf_both),
                    cell(
                        "old",
                        2400,
                        Tone::Old,
                        &["v=spf1 include:_spf.old.example ~all"],
                    ),
                    cell("old+new", 300, Tone::Both, &spf_both),
                ],
            ),
            row(
                "DKIM sel1",
                "sel1._domainkey",
                RecordKind::Dkim,
                vec![
                    none.clone(),
                    none.clone(),
                    DnsCell {
                        short: "servfail".into(),
                        ttl: None,
                        tone: Tone::Error,
                        definite: false,
                        records: vec![],
                        detail: "servfail at 07:00:00 UTC in 40 ms".into(),
                    },
                    none,
                ],
            ),
        ],
        other_rows: vec![],
        alarm: alarm.then(|| {
            "ns2 serves an empty MX set for example.com: mail is deferred or goes to the A record"
                .to_string()
        }),
        measured_at: at,
    }
}

/// Mailbox rows for `plan`, the first `synced` fraction of them fully copied,
/// the rest part way, a few with errors.
pub fn mailbox_rows(plan: &Plan, synced: f32) -> Vec<MailboxRow> {
    let n = plan.mailboxes.len();
    plan.mailboxes
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let old = 500 + (i as u64 * 37) % 4_000;
            let done = (i as f32) < synced * n as f32;
            let new = if done { old } else { old * (i as u64 % 7) / 10 };
            let error = (i % 97 == 13).then(|| "NO [LIMIT] too many connections".to_string());
            MailboxRow {
                address: m.address.clone(),
                old_login: LoginState::Ok,
                new_login: if error.is_some() {
                    LoginState::Failed
                } else {
                    LoginState::Ok
                },
                old_messages: Some(old),
                new_messages: Some(new),
                synced_percent: Some(100.0 * new as f32 / old as f32),
                fetch_detected: Some(i % 5 == 0),
                throttled: i % 41 == 7,
                last_error: error,
                folders: vec![
                    FolderRow {
                        name: "INBOX".into(),
                        old_messages: Some(old * 2 / 3),
                        new_messages: Some(new * 2 / 3),
                        missing: Some(old * 2 / 3 - new * 2 / 3),
                        verified: Some(done),
                    },
                    FolderRow {
                        name: "Sent Items".into(),
                        old_messages: Some(old - old * 2 / 3),
                        new_messages: Some(new - new * 2 / 3),
                        missing: Some((old - old * 2 / 3).saturating_sub(new - new * 2 / 3)),
                        verified: Some(done),
                    },
                ],
                ..MailboxRow::unmeasured(&m.address)
            }
        })
        .collect()
}

/// Shows `view` in the DNS pane, as a round the watcher measured would (the
/// steps' DNS checks are not touched: no round stands behind a made-up view).
pub fn show_dns(app: &mut App, view: DnsView) {
    app.dns = Some(view);
    app.dirty = true;
}

/// Fills the mailbox table with `rows`, as the prober's probes would (the
/// mailbox checks are not touched).
pub fn show_mailboxes(app: &mut App, rows: Vec<MailboxRow>) {
    app.mailboxes = rows;
    app.reorder_mailboxes();
    app.dirty = true;
}

/// Shows `checks` as the verdicts on `step`'s checks of the same ids (each keeps
/// the kind the runbook gives it), with the next-step pane's list of what holds
/// the step back to match. States are not derived again: give verdicts that
/// leave the step where it is, as the screens using this do (a ready step's
/// outcomes measured, a waiting step's other outcome passing).
pub fn measured(app: &mut App, step: &str, checks: Vec<Check>) {
    let status = app
        .eval
        .steps
        .iter_mut()
        .find(|s| s.id == step)
        .unwrap_or_else(|| panic!("{step} is not a step of the runbook"));
    for given in checks {
        let slot = status
            .checks
            .iter_mut()
            .find(|c| c.id == given.id)
            .unwrap_or_else(|| panic!("{step} has no check {}", given.id));
        *slot = Check {
            kind: slot.kind,
            ..given
        };
    }
    let checks = status.checks.clone();
    if let Some(next) = app.eval.next.as_mut().filter(|n| n.step == step) {
        next.blocked_by = next
            .blocked_by
            .iter()
            .filter_map(|b| checks.iter().find(|c| c.id == b.id && !c.status.holds()))
            .cloned()
            .collect();
    }
    app.dirty = true;
}
