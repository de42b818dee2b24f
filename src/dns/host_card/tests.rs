use super::*;
use crate::dns::checks::tests_support::plan;
use crate::dns::query::Answer;
use crate::dns::watch::{Findings, Role};
use crate::step::StepId;
use jiff::Timestamp;

fn answer(name: &str, rtype: Rtype, ttl: u32, records: &[&str]) -> Answer {
    Answer {
        name: fqdn(name),
        rtype,
        status: if records.is_empty() {
            AnswerStatus::Nodata
        } else {
            AnswerStatus::Ok
        },
        ttl,
        records: records.iter().map(|r| r.to_string()).collect(),
        measured_at: Timestamp::UNIX_EPOCH,
        latency_ms: 1,
        tcp: false,
        detail: None,
    }
}

/// One authoritative server serving `mx` and `txt` with `ttl`.
fn served(ttl: u32, mx: &[&str], txt: &[&str]) -> DnsSnapshot {
    DnsSnapshot {
        round: 1,
        measured_at: Timestamp::UNIX_EPOCH,
        servers: vec![ServerView {
            address: "127.0.0.1:5300".parse().unwrap(),
            role: Role::Authoritative,
            ns_host: None,
            answers: vec![
                answer("example.com", Rtype::MX, ttl, mx),
                answer("example.com", Rtype::TXT, ttl, txt),
            ],
        }],
        discovery_error: None,
        spf_targets: vec![],
        mta_sts: None,
        judged: Findings::default(),
    }
}

fn lines(card: &HostCard) -> Vec<String> {
    card.lines
        .iter()
        .map(|l| format!("{} {}", l.change.sign(), l.record))
        .collect()
}

#[test]
fn lowering_the_ttl_is_each_record_out_at_the_old_ttl_and_in_at_the_new() {
    let plan = plan(None);
    let round = served(
        86_400,
        &["10 mx1.old.example."],
        &["v=spf1 include:_spf.old.example ~all"],
    );
    let card = host_card(&StepId::LowerTtl, &plan, Some(&round)).unwrap();
    assert_eq!(card.served_by.as_deref(), Some("127.0.0.1:5300"));
    assert_eq!(
        lines(&card),
        [
            "- example.com. 86400 IN MX 10 mx1.old.example.",
            "+ example.com. 300 IN MX 10 mx1.old.example.",
            "- example.com. 86400 IN TXT \"v=spf1 include:_spf.old.example ~all\"",
            "+ example.com. 300 IN TXT \"v=spf1 include:_spf.old.example ~all\"",
        ]
    );
    // Once lowered, the same step's card says there is nothing left to do.
    let lowered = served(
        300,
        &["10 mx1.old.example."],
        &["v=spf1 include:_spf.old.example ~all"],
    );
    let card = host_card(&StepId::LowerTtl, &plan, Some(&lowered)).unwrap();
    assert!(card.nothing_to_change(), "{card:?}");
    assert!(card.heading().contains("nothing to change"));
}

#[test]
fn adding_the_new_mx_keeps_the_old_and_removing_it_keeps_the_new() {
    let plan = plan(None);
    let spf = "v=spf1 include:_spf.old.example include:_spf.new.example ~all";
    let before = served(300, &["10 mx1.old.example."], &[spf]);
    let card = host_card(&StepId::AddNewMx, &plan, Some(&before)).unwrap();
    assert_eq!(
        lines(&card),
        [
            "  example.com. 300 IN MX 10 mx1.old.example.",
            "+ example.com. 300 IN MX 10 smtp.new.example.",
            &format!("  example.com. 300 IN TXT \"{spf}\""),
        ]
    );
    let both = served(
        300,
        &["10 mx1.old.example.", "10 smtp.new.example."],
        &[spf],
    );
    let card = host_card(&StepId::RemoveOldMx, &plan, Some(&both)).unwrap();
    assert_eq!(
        lines(&card)[..2],
        [
            "- example.com. 300 IN MX 10 mx1.old.example.",
            "  example.com. 300 IN MX 10 smtp.new.example.",
        ]
    );
}

#[test]
fn the_spf_step_replaces_the_record_and_keeps_other_txt() {
    let plan = plan(None);
    let round = served(
        300,
        &["10 mx1.old.example."],
        &[
            "google-site-verification=abc",
            "v=spf1 include:_spf.old.example ~all",
        ],
    );
    let card = host_card(&StepId::SpfAddNew, &plan, Some(&round)).unwrap();
    let text = lines(&card);
    assert!(
        text.contains(&"  example.com. 300 IN TXT \"google-site-verification=abc\"".to_string()),
        "{text:?}"
    );
    assert!(
        text.contains(
            &"- example.com. 300 IN TXT \"v=spf1 include:_spf.old.example ~all\"".to_string()
        ),
        "{text:?}"
    );
    let added: Vec<&String> = text.iter().filter(|l| l.starts_with('+')).collect();
    assert_eq!(added.len(), 1, "{text:?}");
    assert!(
        added[0].contains("include:_spf.old.example")
            && added[0].contains("include:_spf.new.example")
    );
}

#[test]
fn unmeasured_the_card_lists_what_must_be_and_says_now_is_unknown() {
    let plan = plan(None);
    let card = host_card(&StepId::AddNewMx, &plan, None).unwrap();
    assert_eq!(card.served_by, None);
    assert!(card.lines.iter().all(|l| l.change == Change::Add));
    assert!(card.heading().contains("unknown"), "{}", card.heading());
    assert!(!card.nothing_to_change());
    assert!(host_card(&StepId::FinalCopy, &plan, None).is_none());
    assert!(host_card(&StepId::TtlWait, &plan, None).is_none());
}

#[test]
fn the_text_form_has_the_signs_and_the_notes() {
    let plan = plan(None);
    let round = served(300, &["10 mx1.old.example."], &[]);
    let text = host_card(&StepId::RestoreTtl, &plan, Some(&round))
        .unwrap()
        .text("  ");
    assert!(text.contains("    - example.com. 300 IN MX 10 mx1.old.example.\n    + example.com. 86400 IN MX 10 mx1.old.example.\n"), "{text}");
    assert!(
        !text.contains("TXT"),
        "no TXT served, none invented: {text}"
    );
}
