use super::*;

#[test]
fn txt_lines_are_quoted_split_and_escaped() {
    assert_eq!(
        txt_line(
            "example.com.",
            300,
            "v=spf1 include:_spf.old.example include:_spf.new.example ~all"
        ),
        "example.com. 300 IN TXT \"v=spf1 include:_spf.old.example include:_spf.new.example ~all\""
    );
    assert_eq!(txt_line("x.", 1, "a\"b\x1b"), "x. 1 IN TXT \"a\\\"b\\027\"");
    let long = "a".repeat(300);
    assert!(txt_line("x.", 1, &long).ends_with(&format!("\" \"{}\"", "a".repeat(45))));
}

use crate::dns::facts::{DnsFacts, dns_facts};
use crate::dns::matrix::render_matrix;
use crate::dns::query::{Answer, AnswerStatus};
use crate::dns::watch::{DnsSnapshot, Role, ServerView, questions};
use proptest::prelude::*;

const STEPS: [StepId; 9] = [
    StepId::LowerTtl,
    StepId::SpfAddNew,
    StepId::TtlWait,
    StepId::AddNewMx,
    StepId::RemoveOldMx,
    StepId::DkimSpfFinal,
    StepId::Monitor24h,
    StepId::RestoreTtl,
    StepId::FinalCopy,
];

fn record() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("10 mx1.old.example.".to_string()),
        Just("1 smtp.new.example.".to_string()),
        Just("0 .".to_string()),
        Just("v=spf1 include:_spf.old.example ~all".to_string()),
        Just("v=spf1 include:_spf.new.example +all".to_string()),
        Just("v=DKIM1; k=rsa; p=".to_string()),
        Just("v=DMARC1; p=reject".to_string()),
        Just("v=STSv1; id=1".to_string()),
        "[\\x00-\\x1f\\x7f a-z0-9=:;.+~?\"\\\\-]{0,40}",
        "\\PC{0,60}",
    ]
}

fn status() -> impl Strategy<Value = AnswerStatus> {
    prop_oneof![
        Just(AnswerStatus::Ok),
        Just(AnswerStatus::Ok),
        Just(AnswerStatus::Nxdomain),
        Just(AnswerStatus::Nodata),
        Just(AnswerStatus::Servfail),
        Just(AnswerStatus::Refused),
        Just(AnswerStatus::Timeout),
        Just(AnswerStatus::Unreachable),
    ]
}

fn snapshot(
    round: u64,
    cells: Vec<(AnswerStatus, u32, Vec<String>)>,
    policy: Option<String>,
) -> DnsSnapshot {
    let plan = tests_support::plan(None);
    let qs = questions(&plan);
    let at = Timestamp::UNIX_EPOCH + SignedDuration::from_hours(round as i64);
    let mut cells = cells.into_iter();
    let servers = [
        ("127.0.0.1:5300", Role::Authoritative),
        ("127.0.0.1:5301", Role::Resolver),
    ]
    .iter()
    .map(|(addr, role)| ServerView {
        address: addr.parse().unwrap(),
        role: *role,
        ns_host: None,
        answers: qs
            .iter()
            .map(|(name, rtype)| {
                let (status, ttl, records) =
                    cells.next().unwrap_or((AnswerStatus::Timeout, 0, vec![]));
                Answer {
                    name: name.clone(),
                    rtype: *rtype,
                    status,
                    ttl,
                    records: if status == AnswerStatus::Ok {
                        records
                    } else {
                        vec![]
                    },
                    measured_at: at,
                    latency_ms: 1,
                    tcp: false,
                    detail: None,
                }
            })
            .collect(),
    })
    .collect();
    DnsSnapshot {
        round,
        measured_at: at,
        servers,
        discovery_error: None,
        spf_targets: Default::default(),
        judged: Default::default(),
        mta_sts: policy.map(|p| crate::dns::watch::MtaStsView {
            txt: "v=STSv1; id=1".into(),
            policy: Some(p),
            error: None,
        }),
    }
}

fn cell() -> impl Strategy<Value = (AnswerStatus, u32, Vec<String>)> {
    (
        status(),
        prop_oneof![Just(300u32), Just(3600u32), any::<u32>()],
        proptest::collection::vec(record(), 0..4),
    )
}

fn no_control(text: &str) -> bool {
    !text.chars().any(|c| c.is_control() && c != '\n')
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// Whatever servers answer, over several rounds: facts, checks, the
    /// matrix and the lines to paste never panic and never carry a raw
    /// control character to the screen.
    #[test]
    fn any_answers_give_safe_checks_and_text(
        rounds in proptest::collection::vec(
            (proptest::collection::vec(cell(), 22), proptest::option::of("\\PC{0,80}|version: STSv1\nmode: enforce\nmx: [a-z.*]{0,12}")),
            1..4,
        ),
        applied in proptest::option::of(0i64..100_000),
    ) {
        let plan = tests_support::plan(None);
        let mut facts = DnsFacts::default();
        let mut journal = Vec::new();
        for (i, (cells, policy)) in rounds.into_iter().enumerate() {
            let snap = snapshot(i as u64 + 1, cells, policy);
            let (next, entries) = dns_facts(&plan, &facts, &snap);
            for e in &entries {
                if let crate::journal::Entry::Fact { evidence, .. } = e {
                    prop_assert!(no_control(evidence), "{evidence:?}");
                }
            }
            journal.extend(entries);
            facts = next;
            let now = snap.measured_at + SignedDuration::from_mins(30);
            let applied_at = applied.map(|s| Timestamp::UNIX_EPOCH + SignedDuration::from_secs(s));
            for step in &STEPS {
                for c in step_checks(step, &plan, Some(&snap), &facts, applied_at, now) {
                    prop_assert!(no_control(&c.evidence), "{c:?}");
                    prop_assert!(!c.evidence.is_empty());
                }
                // Without a round nothing is measured, except R4's wait, which the journal times.
                for c in step_checks(step, &plan, None, &facts, applied_at, now) {
                    let journal_timed = c.id == "old-ttl-expired" && facts.lowered_at.is_some();
                    prop_assert!(c.status == Status::Unknown || journal_timed, "{c:?}");
                }
                for line in records_to_paste(step, &plan, Some(&snap)) {
                    prop_assert!(no_control(&line), "{line:?}");
                }
            }
            let matrix = render_matrix(&snap, &plan, 80);
            prop_assert!(no_control(&matrix), "{matrix:?}");
            let json = serde_json::to_string(&snap).unwrap();
            let back: DnsSnapshot = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, snap);
        }
        prop_assert_eq!(DnsFacts::from_entries(&journal), facts);
    }
}
