//! The canary checks, pure functions of the plan, the journal's canaries and the time:
//! `canary.direct-new` (a gate of `add-new-mx`) and `canary.world-new` (an outcome of
//! `remove-old-mx` and `monitor-24h`). Only a plan with `[canary]` has them.

use jiff::{SignedDuration, Timestamp};

use crate::check::{Check, Kind, Status};
use crate::journal::History;
use crate::plan::Plan;
use crate::step::StepId;

use super::{CanaryResult, Landed, Route};

pub const DIRECT_NEW: &str = "canary.direct-new";
pub const WORLD_NEW: &str = "canary.world-new";

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
        }
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).expect("time")
    }

    fn canary_plan(plan: &Plan) -> crate::plan::CanaryPlan {
        crate::plan::CanaryPlan {
            mailbox: "canary@example.com".into(),
            direct_from: "t@ext.test".into(),
            external: crate::plan::ExternalMailbox {
                address: "t@ext.test".into(),
                imap: plan.old.imap.clone(),
                submission: crate::plan::Submission {
                    url: "smtp://s.ext.test".into(),
                    host: "s.ext.test".into(),
                    port: 587,
                    implicit_tls: false,
                    ca_file: None,
                },
                login: "t@ext.test".into(),
                auth: crate::plan::ExternalAuth::Password,
                authserv_id: None,
            },
        }
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
}
