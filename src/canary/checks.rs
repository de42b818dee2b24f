//! The canary checks, pure functions of the plan, the journal's canaries and the time:
//! `canary.direct-new` (a gate of `add-new-mx`), `canary.world-new` (an outcome of
//! `remove-old-mx` and `monitor-24h`) and `canary.outbound-auth` (an outcome of
//! `dkim-spf-final`, judged by `mailauth::checks`). Only a plan with `[canary]` has them.

use jiff::{SignedDuration, Timestamp};

use crate::check::{Check, Kind, Status};
use crate::journal::History;
use crate::plan::Plan;
use crate::step::StepId;

use super::{CanaryResult, Landed, Route};

pub const DIRECT_NEW: &str = "canary.direct-new";
pub const WORLD_NEW: &str = "canary.world-new";
pub use crate::mailauth::checks::OUTBOUND_AUTH;

/// A direct canary older than this no longer speaks for the new MX host.
const DIRECT_FRESH: SignedDuration = SignedDuration::from_hours(24);
/// `status` and the cockpit send a world canary when the last is older than this.
pub const WORLD_RESEND: SignedDuration = SignedDuration::from_hours(1);
/// `canary.world-new` is a warning when no world canary is younger than this.
const WORLD_FRESH: SignedDuration = SignedDuration::from_hours(2);

/// The canary check ids a step gets (none without `[canary]`).
pub fn check_ids(plan: &Plan, step_id: &StepId) -> &'static [&'static str] {
    if plan.canary.is_none() {
        return &[];
    }
    match step_id {
        StepId::AddNewMx => &[DIRECT_NEW],
        StepId::RemoveOldMx | StepId::Monitor24h => &[WORLD_NEW],
        StepId::DkimSpfFinal => &[OUTBOUND_AUTH],
        _ => &[],
    }
}

/// Whether a canary check gates its step or judges its outcome.
pub fn kind(id: &str) -> Kind {
    if id == DIRECT_NEW {
        Kind::Gate
    } else {
        Kind::Outcome
    }
}

/// The canary checks of one step (`rolled_back_at`: when the rollback standing now was
/// decided, if one stands).
pub fn step_checks(
    plan: &Plan,
    step_id: &StepId,
    history: &History,
    rolled_back_at: Option<Timestamp>,
    now: Timestamp,
) -> Vec<Check> {
    let canaries = super::facts::journaled(history);
    check_ids(plan, step_id)
        .iter()
        .map(|id| match (*id, rolled_back_at) {
            (DIRECT_NEW, _) => direct_new(plan, &canaries, now),
            (OUTBOUND_AUTH, _) => outbound_auth(
                plan,
                history
                    .dns
                    .records_served
                    .get(StepId::DkimSpfFinal.as_str())
                    .copied(),
                &canaries,
                now,
            ),
            (_, Some(at)) => world_new_rolled_back(at),
            _ => world_new(plan, history.switch_at(), &canaries, now),
        })
        .collect()
}

/// `canary.world-new` while a rollback stands: it judges the forward steps, which the
/// rollback undid, so a canary on the old server (where mail goes now) is no failure of it.
fn world_new_rolled_back(rolled_back_at: Timestamp) -> Check {
    Check::new(
        WORLD_NEW,
        Kind::Outcome,
        Status::Unknown,
        format!(
            "not judged: a rollback stands since {} UTC, the forward steps are rolled back and world canaries are expected on the old server",
            rolled_back_at.strftime("%Y-%m-%d %H:%M")
        ),
    )
}

fn ago(now: Timestamp, at: Timestamp) -> String {
    crate::units::duration(now.duration_since(at))
}

/// A gate of `add-new-mx`: the last direct canary to each new MX host landed in the new
/// server's INBOX, within the last 24 h.
pub fn direct_new(plan: &Plan, canaries: &[CanaryResult], now: Timestamp) -> Check {
    let verdict = |status, evidence: String| Check::new(DIRECT_NEW, Kind::Gate, status, evidence);
    let norm = |h: &str| h.trim_end_matches('.').to_ascii_lowercase();
    let how = "send one with `cutover canary --route direct`";
    let mut worst = Status::Pass;
    let mut lines = Vec::new();
    for mx in &plan.new.mx {
        let host = norm(&mx.host);
        let last = canaries.iter().rev().find(|c| {
            c.route == Route::Direct && c.target.as_deref().map(norm) == Some(host.clone())
        });
        let (status, line) = match last {
            None => (
                Status::Unknown,
                format!("{host}: no direct canary sent yet; {how}"),
            ),
            Some(c) if now.duration_since(c.sent_at) > DIRECT_FRESH => (
                Status::Unknown,
                format!(
                    "{host}: the last direct canary is {} old; {how}",
                    ago(now, c.sent_at)
                ),
            ),
            Some(c) if c.verdict == Status::Pass && c.landed == Landed::New => (
                Status::Pass,
                format!("{host}: {} ({} ago)", c.evidence, ago(now, c.sent_at)),
            ),
            Some(c) => (
                worse(c.verdict, Status::Warn),
                format!("{host}: {}", c.evidence),
            ),
        };
        worst = worse(worst, status);
        lines.push(line);
    }
    verdict(worst, lines.join("; "))
}

/// An outcome of `remove-old-mx` and `monitor-24h`: a world canary sent once the old MX's
/// TTL passed since its removal landed on the new server, in INBOX; a warning when none is
/// younger than 2 h.
pub fn world_new(
    plan: &Plan,
    switch_at: Option<Timestamp>,
    canaries: &[CanaryResult],
    now: Timestamp,
) -> Check {
    let verdict = |status, evidence: String| Check::new(WORLD_NEW, Kind::Outcome, status, evidence);
    let how = "send one with `cutover canary --route world`";
    let Some(switch_at) = switch_at else {
        return verdict(
            Status::Unknown,
            "the MX has not switched to the new server yet: a world canary proves nothing before"
                .to_string(),
        );
    };
    let ttl = SignedDuration::from_secs(i64::from(plan.dns.migration_ttl));
    let since = switch_at.checked_add(ttl).unwrap_or(switch_at);
    if now < since {
        return verdict(
            Status::Unknown,
            format!(
                "the old MX's TTL ({}) has not passed since the switch: senders may still use it",
                crate::units::ttl(plan.dns.migration_ttl)
            ),
        )
        .until(since);
    }
    let Some(last) = canaries
        .iter()
        .rev()
        .find(|c| c.route == Route::World && c.sent_at >= since)
    else {
        return verdict(
            Status::Unknown,
            format!("no world canary sent since the old MX's TTL passed; {how}"),
        );
    };
    let age = now.duration_since(last.sent_at);
    match (last.verdict, last.landed) {
        (Status::Pass, Landed::New) if age > WORLD_FRESH => verdict(
            Status::Warn,
            format!(
                "the last world canary is {} old ({}): none younger than 2 h; {how}",
                ago(now, last.sent_at),
                last.evidence
            ),
        ),
        (Status::Pass, Landed::New) => verdict(
            Status::Pass,
            format!("{} ({} ago)", last.evidence, ago(now, last.sent_at)),
        ),
        (status, _) => verdict(worse(status, Status::Warn), last.evidence.clone()),
    }
}

/// An outcome of `dkim-spf-final`: the newest outbound canary sent once the step's records
/// were served by every authoritative server (`records_served`, a journal fact) passed DKIM
/// (aligned), SPF and DMARC at the external mailbox. An older canary, or none, is no
/// measurement of the final records: `unknown`, with what the last one found.
pub fn outbound_auth(
    plan: &Plan,
    records_served: Option<Timestamp>,
    canaries: &[CanaryResult],
    now: Timestamp,
) -> Check {
    let unknown =
        |evidence: String| Check::new(OUTBOUND_AUTH, Kind::Outcome, Status::Unknown, evidence);
    let how = "run `cutover canary --route outbound`";
    let step = StepId::DkimSpfFinal;
    let selector = plan.new.dkim_selector.as_deref();
    let outbound = || canaries.iter().rev().filter(|c| c.route == Route::Outbound);
    // What the newest judged canary found, for an operator who waits on the records.
    let last_found = || {
        outbound()
            .find_map(|c| c.auth.as_ref().map(|a| (c, a)))
            .map(|(c, auth)| {
                let check = crate::mailauth::checks::outbound_auth_check(
                    Some(auth),
                    &plan.domain,
                    selector,
                );
                format!(
                    "; the last outbound canary ({} ago) found: {} {}",
                    ago(now, c.sent_at),
                    check.status.as_str(),
                    check.evidence
                )
            })
            .unwrap_or_default()
    };
    let Some(served) = records_served else {
        return unknown(format!(
            "{step}'s records (the DKIM key{}, the final SPF) are not yet served by every authoritative server: only a canary sent after that speaks for them{}",
            selector
                .map(|s| format!(" at {s}._domainkey.{}", plan.domain))
                .unwrap_or_default(),
            last_found()
        ));
    };
    let Some(newest) = outbound().find(|c| c.sent_at >= served) else {
        return unknown(format!(
            "no outbound canary sent since {step}'s records were served by every authoritative server ({} ago); {how}{}",
            ago(now, served),
            last_found()
        ));
    };
    match &newest.auth {
        Some(auth) => {
            let check =
                crate::mailauth::checks::outbound_auth_check(Some(auth), &plan.domain, selector);
            Check::new(
                OUTBOUND_AUTH,
                Kind::Outcome,
                check.status,
                format!(
                    "{} (outbound canary sent {} ago)",
                    check.evidence,
                    ago(now, newest.sent_at)
                ),
            )
        }
        None => unknown(format!(
            "the last outbound canary was not judged: {}; {how}",
            newest.auth_note.as_deref().unwrap_or(&newest.evidence)
        )),
    }
}

/// The selector the provider signs the domain's mail with, read from the newest outbound
/// canary cutover judged, when the plan names none or another: the `dkim_selector` line
/// for the plan and, when its key is not served, the record to publish.
pub fn selector_found(
    plan: &Plan,
    history: &History,
) -> Option<crate::mailauth::checks::SelectorAdvice> {
    let canaries = super::facts::journaled(history);
    let auth = canaries
        .iter()
        .rev()
        .filter(|c| c.route == Route::Outbound)
        .find_map(|c| c.auth.as_ref())?;
    crate::mailauth::checks::selector_advice(auth, &plan.domain, plan.new.dkim_selector.as_deref())
}

/// What `dkim-spf-final`'s guidance adds when the provider signs with a selector the plan
/// does not name: which selector, the record to publish, the line for the plan.
pub fn selector_guidance(plan: &Plan, history: &History) -> Vec<String> {
    if plan.canary.is_none() {
        return vec![];
    }
    let Some(found) = selector_found(plan, history) else {
        return vec![];
    };
    let planned = match plan.new.dkim_selector.as_deref() {
        Some(p) => format!("not {p} as the plan says"),
        None => "and the plan names none".to_string(),
    };
    let mut lines = vec![format!(
        "The last outbound canary was signed with DKIM selector {} ({planned}): put `{}` in [new] of the plan.",
        found.selector, found.plan_line
    )];
    if let Some(record) = found.record {
        lines.push(format!(
            "Its key is not served: publish `{record}` with the key your provider shows for selector {}.",
            found.selector
        ));
    }
    lines
}

/// The worse of two verdicts: fail, then unknown, then warn, then pass (with `Warn` as
/// the floor: a canary that did not land where the check needs is never a pass).
fn worse(a: Status, b: Status) -> Status {
    let rank = |s: Status| match s {
        Status::Pass => 0,
        Status::Warn => 1,
        Status::Unknown => 2,
        Status::Fail => 3,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// Whether `status` or the cockpit should send a world canary now: `[canary]` is set, the
/// switch is older than the old MX's TTL, and the last world canary is over an hour old.
pub fn world_canary_due(plan: &Plan, history: &History, now: Timestamp) -> bool {
    if plan.canary.is_none() {
        return false;
    }
    let Some(switch_at) = history.switch_at() else {
        return false;
    };
    let ttl = SignedDuration::from_secs(i64::from(plan.dns.migration_ttl));
    if switch_at.checked_add(ttl).is_ok_and(|t| t > now) {
        return false;
    }
    let last = super::facts::journaled(history)
        .into_iter()
        .rev()
        .find(|c| c.route == Route::World)
        .map(|c| c.sent_at);
    last.is_none_or(|at| now.duration_since(at) > WORLD_RESEND)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailauth::model::{AuthResult, DkimVerdict, DmarcVerdict, OutboundAuth, SpfVerdict};

    fn plan() -> Plan {
        let text = include_str!("../../assets/example.toml");
        let dir = std::env::temp_dir();
        let mut plan = crate::plan::load::parse(
            &dir.join("acme.toml"),
            text,
            &crate::plan::load::Environment {
                login_user: "t".into(),
                system_timezone: None,
            },
        )
        .expect("example plan")
        .plan;
        plan.new.mx = vec![crate::plan::MxRecord {
            preference: 1,
            host: "mx.new.test.".into(),
        }];
        plan
    }

    fn canary(route: Route, at: i64, verdict: Status, landed: Landed) -> CanaryResult {
        CanaryResult {
            route,
            target: (route == Route::Direct).then(|| "mx.new.test".to_string()),
            token: format!("c{at}"),
            message_id: format!("cutover-canary-c{at}@ext.test"),
            sent_at: Timestamp::from_second(at).expect("time"),
            landed,
            folder: Some("INBOX".into()),
            junk: false,
            delay_s: Some(2),
            hops: vec![],
            verdict,
            reply: None,
            evidence: format!("canary {at}"),
            cleanup: None,
            problem: None,
            auth: None,
            auth_note: None,
        }
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).expect("time")
    }

    fn canary_plan(plan: &Plan) -> crate::plan::CanaryPlan {
        crate::plan::CanaryPlan::for_tests(plan.old.imap.clone())
    }

    #[test]
    fn the_world_outcome_does_not_fail_while_a_rollback_stands() {
        let mut plan = plan();
        plan.canary = Some(canary_plan(&plan));
        let ttl = i64::from(plan.dns.migration_ttl);
        let mut entries = vec![crate::journal::Entry::Fact {
            at: at(100_000),
            key: "mx-set".into(),
            value: serde_json::json!({"to": "new"}),
            evidence: String::new(),
        }];
        // After the switch's TTL a world canary landed on the old server: a failure forward.
        let on_old = canary(Route::World, 100_000 + ttl, Status::Fail, Landed::Old);
        entries.extend(super::super::facts::round_facts(
            &History::default(),
            &[on_old],
            at(100_000 + ttl),
        ));
        let history = History::from_entries(&entries);
        let now = at(100_000 + ttl + 60);
        let forward = step_checks(&plan, &StepId::Monitor24h, &history, None, now);
        assert_eq!(forward[0].status, Status::Fail, "{}", forward[0].evidence);
        let rolled_back = step_checks(&plan, &StepId::Monitor24h, &history, Some(at(100_000)), now);
        assert_eq!(rolled_back.len(), 1);
        assert_eq!(rolled_back[0].id, WORLD_NEW);
        assert_eq!(rolled_back[0].status, Status::Unknown);
        assert!(
            rolled_back[0]
                .evidence
                .contains("a rollback stands since 1970-01-02 03:46 UTC"),
            "{}",
            rolled_back[0].evidence
        );
    }

    #[test]
    fn the_direct_gate_needs_a_recent_canary_in_the_new_inbox_per_host() {
        let plan = plan();
        let none = direct_new(&plan, &[], at(10_000));
        assert_eq!(none.status, Status::Unknown, "{}", none.evidence);
        assert!(none.evidence.contains("cutover canary --route direct"));
        let landed = [canary(Route::Direct, 1_000, Status::Pass, Landed::New)];
        assert_eq!(direct_new(&plan, &landed, at(2_000)).status, Status::Pass);
        assert_eq!(
            direct_new(&plan, &landed, at(1_000 + 25 * 3600)).status,
            Status::Unknown
        );
        let lost = [
            canary(Route::Direct, 1_000, Status::Pass, Landed::New),
            canary(Route::Direct, 1_500, Status::Fail, Landed::None),
        ];
        assert_eq!(direct_new(&plan, &lost, at(2_000)).status, Status::Fail);
        let cannot = [canary(Route::Direct, 1_500, Status::Warn, Landed::None)];
        assert_eq!(direct_new(&plan, &cannot, at(2_000)).status, Status::Warn);
    }

    #[test]
    fn a_world_canary_is_due_an_hour_after_the_last_once_the_switch_ttl_passed() {
        let mut plan = plan();
        let fact = |at: i64, key: &str, value: serde_json::Value| crate::journal::Entry::Fact {
            at: Timestamp::from_second(at).expect("time"),
            key: key.into(),
            value,
            evidence: String::new(),
        };
        let switched = vec![fact(100_000, "mx-set", serde_json::json!({"to": "new"}))];
        let history = History::from_entries(&switched);
        // Without [canary]: never.
        assert!(!world_canary_due(&plan, &history, at(200_000)));
        plan.canary = Some(canary_plan(&plan));
        assert!(
            !world_canary_due(&plan, &History::default(), at(200_000)),
            "before the switch"
        );
        assert!(
            !world_canary_due(&plan, &history, at(100_001)),
            "within the old MX's TTL"
        );
        assert!(
            world_canary_due(&plan, &history, at(200_000)),
            "none sent yet"
        );
        let mut with_canary = switched.clone();
        with_canary.extend(super::super::facts::round_facts(
            &history,
            &[canary(Route::World, 150_000, Status::Pass, Landed::New)],
            at(150_000),
        ));
        let history = History::from_entries(&with_canary);
        assert!(!world_canary_due(&plan, &history, at(150_000 + 3_000)));
        assert!(world_canary_due(&plan, &history, at(150_000 + 3_700)));
    }

    #[test]
    fn the_world_outcome_counts_only_canaries_after_the_old_ttl() {
        let plan = plan();
        let ttl = i64::from(plan.dns.migration_ttl);
        let switch = at(100_000);
        assert_eq!(
            world_new(&plan, None, &[], at(200_000)).status,
            Status::Unknown
        );
        let early = world_new(&plan, Some(switch), &[], at(100_000 + ttl - 1));
        assert_eq!(early.until, Some(at(100_000 + ttl)));
        // Sent before the TTL passed: proves nothing.
        let before = [canary(Route::World, 100_000, Status::Pass, Landed::New)];
        assert_eq!(
            world_new(&plan, Some(switch), &before, at(100_000 + ttl + 60)).status,
            Status::Unknown
        );
        let after = [canary(
            Route::World,
            100_000 + ttl,
            Status::Pass,
            Landed::New,
        )];
        assert_eq!(
            world_new(&plan, Some(switch), &after, at(100_000 + ttl + 60)).status,
            Status::Pass
        );
        // None younger than 2 h: a warning.
        assert_eq!(
            world_new(&plan, Some(switch), &after, at(100_000 + ttl + 3 * 3600)).status,
            Status::Warn
        );
        let on_old = [canary(
            Route::World,
            100_000 + ttl,
            Status::Fail,
            Landed::Old,
        )];
        assert_eq!(
            world_new(&plan, Some(switch), &on_old, at(100_000 + ttl + 60)).status,
            Status::Fail
        );
    }

    fn auth(dkim_selector: &str, dkim_result: AuthResult) -> OutboundAuth {
        let dkim = DkimVerdict {
            result: dkim_result,
            domain: Some("example.com".into()),
            selector: Some(dkim_selector.into()),
            aligned: dkim_result == AuthResult::Pass,
            reason: (dkim_result != AuthResult::Pass)
                .then(|| format!("no key is published at {dkim_selector}._domainkey.example.com")),
        };
        OutboundAuth {
            from_domain: Some("example.com".into()),
            signatures: vec![dkim.clone()],
            dkim,
            spf: SpfVerdict {
                result: AuthResult::Pass,
                ip: Some("192.0.2.3".parse().expect("ip")),
                domain: Some("example.com".into()),
                aligned: true,
                reason: None,
            },
            dmarc: DmarcVerdict {
                result: AuthResult::Pass,
                policy: Some("reject".into()),
                domain: Some("example.com".into()),
            },
            receiver: None,
            warnings: vec![],
        }
    }

    fn outbound(at: i64, auth: Option<OutboundAuth>) -> CanaryResult {
        CanaryResult {
            auth,
            ..canary(Route::Outbound, at, Status::Pass, Landed::External)
        }
    }

    #[test]
    fn the_outbound_outcome_judges_only_a_canary_sent_after_the_records_were_served() {
        let mut plan = plan();
        plan.new.dkim_selector = Some("sel1".into());
        let now = at(10_000);
        // The records not served yet: unknown, with what the last canary found.
        let early = [outbound(1_000, Some(auth("sel1", AuthResult::Pass)))];
        let check = outbound_auth(&plan, None, &early, now);
        assert_eq!(check.status, Status::Unknown, "{}", check.evidence);
        assert!(
            check
                .evidence
                .contains("not yet served by every authoritative server")
                && check.evidence.contains("the last outbound canary"),
            "{}",
            check.evidence
        );
        // Served at 5 000: the canary of 1 000 is older, so nothing speaks for them.
        let check = outbound_auth(&plan, Some(at(5_000)), &early, now);
        assert_eq!(check.status, Status::Unknown, "{}", check.evidence);
        assert!(
            check.evidence.contains("cutover canary --route outbound"),
            "{}",
            check.evidence
        );
        let none = outbound_auth(&plan, Some(at(5_000)), &[], now);
        assert_eq!(none.status, Status::Unknown);

        // A canary sent after: its verdict decides.
        let passed = [outbound(6_000, Some(auth("sel1", AuthResult::Pass)))];
        let check = outbound_auth(&plan, Some(at(5_000)), &passed, now);
        assert_eq!(check.status, Status::Pass, "{}", check.evidence);
        assert_eq!(check.kind, Kind::Outcome);

        // Signed with another selector whose key is not published: fails naming it.
        let other = [outbound(6_000, Some(auth("s2", AuthResult::PermError)))];
        let check = outbound_auth(&plan, Some(at(5_000)), &other, now);
        assert_eq!(check.status, Status::Fail, "{}", check.evidence);
        assert!(
            check.evidence.contains("selector s2")
                && check.evidence.contains("dkim_selector = \"s2\""),
            "{}",
            check.evidence
        );

        // Found but not judged (no resolver): unknown, saying why.
        let mut unjudged = outbound(6_000, None);
        unjudged.auth_note = Some("its authentication was not judged: no resolver".into());
        let check = outbound_auth(&plan, Some(at(5_000)), &[unjudged], now);
        assert_eq!(check.status, Status::Unknown);
        assert!(check.evidence.contains("no resolver"), "{}", check.evidence);
    }

    #[test]
    fn the_selector_the_provider_signs_with_is_offered_with_its_record() {
        let mut plan = with_canary(plan());
        plan.new.dkim_selector = Some("sel1".into());
        let journal = |auth: OutboundAuth| {
            History::from_entries(&super::super::facts::round_facts(
                &History::default(),
                &[outbound(1_000, Some(auth))],
                at(1_000),
            ))
        };
        // Signed as planned: nothing to say.
        let history = journal(auth("sel1", AuthResult::Pass));
        assert!(selector_guidance(&plan, &history).is_empty());
        // Signed with s2, whose key is not served: the selector, the line, the record.
        let history = journal(auth("s2", AuthResult::PermError));
        let lines = selector_guidance(&plan, &history);
        assert_eq!(
            lines,
            vec![
                "The last outbound canary was signed with DKIM selector s2 (not sel1 as the plan says): put `dkim_selector = \"s2\"` in [new] of the plan.".to_string(),
                "Its key is not served: publish `s2._domainkey.example.com. TXT \"v=DKIM1; k=<its key type, rsa or ed25519>; p=<the public key your provider shows for selector s2>\"` with the key your provider shows for selector s2.".to_string(),
            ]
        );
        // The plan names none, and the key is served: only the line.
        plan.new.dkim_selector = None;
        let history = journal(auth("s2", AuthResult::Pass));
        let lines = selector_guidance(&plan, &history);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("(and the plan names none)"), "{lines:?}");
    }

    fn with_canary(mut plan: Plan) -> Plan {
        plan.canary = Some(crate::plan::CanaryPlan::for_tests(plan.old.imap.clone()));
        plan
    }

    #[test]
    fn only_a_plan_with_a_canary_has_the_outbound_check_on_dkim_spf_final() {
        let plan = plan();
        assert!(check_ids(&plan, &StepId::DkimSpfFinal).is_empty());
        let plan = with_canary(plan);
        assert_eq!(check_ids(&plan, &StepId::DkimSpfFinal), &[OUTBOUND_AUTH]);
        assert_eq!(kind(OUTBOUND_AUTH), Kind::Outcome);
    }
}
