//! The way back (R18) against a real authoritative DNS server on loopback (hickory-server):
//! a rollback decided after each forward step, the rollback steps it appends in their order,
//! their records and gates, and the MX alarms guarding the reverse order.

#[path = "support/dns_plan.rs"]
mod dns_plan;
#[path = "support/dns_server.rs"]
mod dns_server;
#[path = "support/dovecot.rs"]
mod dovecot;

use cutover::check::Status;
use cutover::clock::{Clock, ManualClock};
use cutover::dns::{self, DnsFacts, DnsSnapshot};
use cutover::journal::{Entry, History};
use cutover::plan::Plan;
use cutover::runbook::rollback::{self, Refusal};
use cutover::runbook::timeline::build;
use cutover::runbook::{Evaluation, Runbook, StepState, evaluate};
use cutover::step::StepId;
use dns_server::TestDns;
use hickory_server::proto::rr::RecordType;
use jiff::{SignedDuration, Timestamp};

const APEX: &str = "example.com.";
const OLD_SPF: &str = "v=spf1 include:_spf.old.example ~all";
const MERGED_SPF: &str = "v=spf1 include:_spf.old.example include:_spf.new.example ~all";
const FINAL_SPF: &str = "v=spf1 include:_spf.new.example ~all";
/// The old server's terms merged back into the final record (order is immaterial to SPF).
const BACK_SPF: &str = "v=spf1 include:_spf.new.example include:_spf.old.example ~all";
const OLD: [(u16, &str); 2] = [(10, "mx1.old.example."), (20, "mx2.old.example.")];
const NEW: [(u16, &str); 1] = [(1, "smtp.new.example.")];
const BOTH: [(u16, &str); 3] = [
    (10, "mx1.old.example."),
    (20, "mx2.old.example."),
    (1, "smtp.new.example."),
];

/// How far the forward migration got before the rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Reached {
    AddNewMx,
    RemoveOldMx,
    DkimSpfFinal,
    RestoreTtl,
}

/// The forward migration replayed against the zone, up to `reached`, with its journal.
struct World {
    auth: TestDns,
    plan: Plan,
    clock: ManualClock,
    facts: DnsFacts,
    journal: Vec<Entry>,
    round: Option<DnsSnapshot>,
}

impl World {
    async fn start() -> World {
        let auth = TestDns::start(APEX).await;
        auth.set_mx(APEX, 3600, &OLD).await;
        auth.set_txt(APEX, 3600, &[OLD_SPF]).await;
        let mut plan = dns_plan::plan(vec![auth.addr], vec![]);
        // Validation never leaves a plan without working days; the timeline needs them.
        plan.working_days = {
            use jiff::civil::Weekday::*;
            vec![Monday, Tuesday, Wednesday, Thursday, Friday]
        };
        let clock = ManualClock::new("2026-12-07T09:00:00Z".parse().expect("time"));
        let mut world = World {
            auth,
            plan,
            clock,
            facts: DnsFacts::default(),
            journal: vec![],
            round: None,
        };
        world.observe().await;
        world
    }

    /// One DNS round after `secs`, its first-seen facts journaled as the recorder would.
    async fn after(&mut self, secs: i64) {
        self.clock.advance(SignedDuration::from_secs(secs));
        self.observe().await;
    }

    async fn observe(&mut self) {
        let round = dns::one_round(&self.plan, &self.clock).await;
        let (facts, entries) = dns::dns_facts(&self.plan, &self.facts, &round);
        self.facts = facts;
        self.journal.extend(entries);
        self.round = Some(round);
    }

    fn confirm(&mut self, step: StepId) {
        self.journal.push(Entry::Confirm {
            at: self.clock.now(),
            operator: "tester".into(),
            step,
            mailbox: None,
            evidence: vec![],
        });
    }

    fn history(&self) -> History {
        History::from_entries(&self.journal)
    }

    fn eval(&self) -> Evaluation {
        let runbook = Runbook::for_plan(&self.plan);
        let timeline = build(&self.plan, &runbook);
        let history = self.history();
        evaluate(&cutover::runbook::eval::Inputs {
            plan: &self.plan,
            runbook: &runbook,
            timeline: &timeline,
            history: &history,
            dns: self.round.as_ref(),
            mail: None,
            now: self.clock.now(),
        })
    }

    /// The forward steps done against the zone, up to `reached`.
    async fn forward(&mut self, reached: Reached) {
        self.auth.set_mx(APEX, 300, &OLD).await;
        self.auth.set_txt(APEX, 300, &[MERGED_SPF]).await;
        self.after(60).await;
        for step in [
            StepId::LowerTtl,
            StepId::SpfAddNew,
            StepId::NewServerReady,
            StepId::BulkCopy,
            StepId::UsersConnected,
            StepId::ClientsConfigured,
            StepId::Pop3Fetch,
            StepId::TtlWait,
        ] {
            self.confirm(step);
        }
        self.auth.set_mx(APEX, 300, &BOTH).await;
        self.after(3600).await;
        self.confirm(StepId::AddNewMx);
        if reached >= Reached::RemoveOldMx {
            self.auth.set_mx(APEX, 300, &NEW).await;
            self.after(600).await;
            self.confirm(StepId::RemoveOldMx);
        }
        if reached >= Reached::DkimSpfFinal {
            self.auth.set_txt(APEX, 300, &[FINAL_SPF]).await;
            self.after(600).await;
            self.confirm(StepId::DkimSpfFinal);
        }
        if reached >= Reached::RestoreTtl {
            self.confirm(StepId::Monitor24h);
            self.auth.set_mx(APEX, 86_400, &NEW).await;
            self.auth.set_txt(APEX, 21_600, &[FINAL_SPF]).await;
            self.after(86_400).await;
            self.confirm(StepId::RestoreTtl);
        }
    }

    fn roll_back(&mut self) {
        let entries = rollback::start(
            &self.history(),
            "tester",
            "the new server refuses every login",
            self.clock.now(),
        )
        .expect("a rollback is possible");
        self.journal.extend(entries);
    }
}

fn rollback_steps(e: &Evaluation) -> Vec<StepId> {
    e.steps
        .iter()
        .filter(|s| s.id.is_rollback())
        .map(|s| s.id.clone())
        .collect()
}

fn check_status(e: &Evaluation, step: &StepId, id: &str) -> Status {
    e.step(step)
        .expect("step")
        .checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("{step} has no check {id}"))
        .status
}

fn next(e: &Evaluation) -> StepId {
    e.next.as_ref().expect("a next step").step.clone()
}

/// Puts the old MX back and removes the new one as the guidance says, checking each gate.
async fn mx_back(w: &mut World) {
    let e = w.eval();
    assert_eq!(next(&e), StepId::RollbackAddOldMx);
    let records = e.next.as_ref().expect("next").records.clone();
    assert_eq!(
        records[..2],
        [
            "example.com. 300 IN MX 10 mx1.old.example.",
            "example.com. 300 IN MX 20 mx2.old.example."
        ]
    );
    w.auth.set_mx(APEX, 300, &BOTH).await;
    w.after(30).await;
    let e = w.eval();
    assert_eq!(
        check_status(&e, &StepId::RollbackAddOldMx, "old-mx-back-served"),
        Status::Pass
    );
    w.confirm(StepId::RollbackAddOldMx);
    let e = w.eval();
    assert_eq!(next(&e), StepId::RollbackRemoveNewMx);
    // Resolvers may hold the new-only set for its TTL (5 min) after the old hosts came back.
    let remove = e.step(&StepId::RollbackRemoveNewMx).expect("step");
    assert_eq!(remove.state, StepState::Waiting, "{:?}", remove.checks);
    assert!(remove.wait_until.is_some());
    w.after(300).await;
    let e = w.eval();
    assert_eq!(
        check_status(&e, &StepId::RollbackRemoveNewMx, "new-mx-ttl-passed"),
        Status::Pass
    );
    assert_eq!(
        e.step(&StepId::RollbackRemoveNewMx).expect("step").state,
        StepState::Ready
    );
    // The old hosts are served already: only the deletion is left to do (the records to
    // paste list what the step's DNS target still lacks).
    assert_eq!(
        e.next.as_ref().expect("next").records,
        vec!["; delete: example.com. 300 IN MX 1 smtp.new.example."]
    );
    w.auth.set_mx(APEX, 300, &OLD).await;
    w.after(30).await;
    let e = w.eval();
    assert_eq!(
        check_status(&e, &StepId::RollbackRemoveNewMx, "mx-only-old-served"),
        Status::Pass
    );
    w.confirm(StepId::RollbackRemoveNewMx);
    let e = w.eval();
    assert_eq!(next(&e), StepId::RollbackCopyBack);
    // Nothing judged the copy back yet: unknown, never green.
    assert_eq!(
        check_status(&e, &StepId::RollbackCopyBack, "copy-back-verified"),
        Status::Unknown
    );
    assert!(e.alarms.is_empty(), "{:?}", e.alarms);
}

#[tokio::test]
async fn rollback_after_add_new_mx_needs_no_wait_the_old_mx_never_left() {
    let mut w = World::start().await;
    w.forward(Reached::AddNewMx).await;
    w.roll_back();
    let e = w.eval();
    assert_eq!(
        rollback_steps(&e),
        [
            StepId::RollbackAddOldMx,
            StepId::RollbackRemoveNewMx,
            StepId::RollbackCopyBack
        ]
    );
    for step in [
        StepId::AddNewMx,
        StepId::RemoveOldMx,
        StepId::DecommissionOld,
    ] {
        assert_eq!(e.step(&step).expect("step").state, StepState::RolledBack);
    }
    // The old MX is served beside the new: the first rollback step's outcome already holds.
    assert_eq!(next(&e), StepId::RollbackAddOldMx);
    assert_eq!(
        check_status(&e, &StepId::RollbackAddOldMx, "old-mx-back-served"),
        Status::Pass
    );
    w.confirm(StepId::RollbackAddOldMx);
    let e = w.eval();
    // No resolver ever held a set without the old hosts: nothing to wait for.
    assert_eq!(
        check_status(&e, &StepId::RollbackRemoveNewMx, "new-mx-ttl-passed"),
        Status::Pass
    );
    assert_eq!(
        e.step(&StepId::RollbackRemoveNewMx).expect("step").state,
        StepState::Ready
    );
}

#[tokio::test]
async fn rollback_after_remove_old_mx_puts_the_old_mx_back_then_removes_the_new() {
    let mut w = World::start().await;
    w.forward(Reached::RemoveOldMx).await;
    w.roll_back();
    let e = w.eval();
    assert_eq!(
        rollback_steps(&e),
        [
            StepId::RollbackAddOldMx,
            StepId::RollbackRemoveNewMx,
            StepId::RollbackCopyBack
        ]
    );
    assert_eq!(
        check_status(&e, &StepId::RollbackAddOldMx, "old-mx-back-served"),
        Status::Fail
    );
    mx_back(&mut w).await;
}

#[tokio::test]
async fn during_a_rollback_world_canaries_belong_on_the_old_server_and_canary_old_means_the_new_mx()
{
    use cutover::canary::Expect;
    let mut w = World::start().await;
    w.forward(Reached::RemoveOldMx).await;
    let expect = |w: &World| rollback::world_canary_expect(&w.plan, &w.history(), w.clock.now());
    assert_eq!(
        expect(&w),
        Expect::Either,
        "forward, within the switch's TTL"
    );
    w.after(300).await;
    assert_eq!(expect(&w), Expect::New, "forward, after the switch's TTL");
    w.roll_back();
    // The old MX is not back yet: either server may take the world's mail.
    assert_eq!(expect(&w), Expect::Either);
    mx_back(&mut w).await;
    // `rollback-remove-new-mx` just confirmed: resolvers may hold the new MX for its TTL.
    assert_eq!(expect(&w), Expect::Either);
    w.after(300).await;
    assert_eq!(expect(&w), Expect::OldAfterRollback);
    // A canary then landing on the new server raises canary-old; its fix is the old MX.
    w.journal.push(Entry::Fact {
        at: w.clock.now(),
        key: "alarm-raised".into(),
        value: serde_json::json!({"id": "canary-old", "token": "c1"}),
        evidence: "world canary: fail — canary-old: landed on the new server".into(),
    });
    let e = w.eval();
    let alarm = e.alarms.first().expect("canary-old raised");
    assert_eq!(alarm.id, "canary-old");
    assert_eq!(
        alarm.fix.records,
        [
            "example.com. 300 IN MX 10 mx1.old.example.",
            "example.com. 300 IN MX 20 mx2.old.example."
        ]
    );
    assert!(
        alarm
            .fix
            .action
            .contains("senders still reach the new MX (smtp.new.example)"),
        "{}",
        alarm.fix.action
    );
}

#[tokio::test]
async fn removing_the_new_mx_before_the_old_is_back_raises_mx_empty_with_the_old_mx_as_fix() {
    let mut w = World::start().await;
    w.forward(Reached::RemoveOldMx).await;
    w.roll_back();
    // The wrong order: the new MX deleted while the old is not back.
    w.auth.delete(APEX, RecordType::MX).await;
    w.after(30).await;
    let e = w.eval();
    let alarm = e.alarms.first().expect("an alarm");
    assert_eq!(alarm.id, "mx-empty");
    // During a rollback the fix is the old MX, not the new one.
    assert_eq!(
        alarm.fix.records,
        vec![
            "example.com. 300 IN MX 10 mx1.old.example.",
            "example.com. 300 IN MX 20 mx2.old.example."
        ]
    );
    assert!(
        alarm.fix.action.contains("old MX back"),
        "{}",
        alarm.fix.action
    );
    let next = e.next.as_ref().expect("next");
    assert_eq!(next.alarm.as_deref(), Some("mx-empty"));
    // And removing the new MX may not be confirmed while it is raised.
    assert_eq!(
        check_status(&e, &StepId::RollbackRemoveNewMx, "old-mx-back-served"),
        Status::Fail
    );
    let blockers = cutover::actions::alarm_blockers(&StepId::RollbackRemoveNewMx, &e.alarms);
    assert!(!blockers.is_empty());
}

#[tokio::test]
async fn rollback_after_dkim_spf_final_puts_the_old_server_back_into_spf_first() {
    let mut w = World::start().await;
    w.forward(Reached::DkimSpfFinal).await;
    w.roll_back();
    let e = w.eval();
    assert_eq!(
        rollback_steps(&e),
        [
            StepId::RollbackSpf,
            StepId::RollbackAddOldMx,
            StepId::RollbackRemoveNewMx,
            StepId::RollbackCopyBack
        ]
    );
    assert_eq!(next(&e), StepId::RollbackSpf);
    assert_eq!(
        e.step(&StepId::RollbackAddOldMx).expect("step").state,
        StepState::Pending
    );
    assert_eq!(
        e.next.as_ref().expect("next").records[0],
        format!("example.com. 300 IN TXT \"{BACK_SPF}\"")
    );
    assert_eq!(
        check_status(&e, &StepId::RollbackSpf, "spf-old-and-new"),
        Status::Fail
    );
    w.auth.set_txt(APEX, 300, &[BACK_SPF]).await;
    w.after(30).await;
    let e = w.eval();
    assert_eq!(
        check_status(&e, &StepId::RollbackSpf, "spf-old-and-new"),
        Status::Pass
    );
    w.confirm(StepId::RollbackSpf);
    mx_back(&mut w).await;
}

#[tokio::test]
async fn rollback_after_restore_ttl_lowers_the_ttl_and_waits_out_the_restored_one() {
    let mut w = World::start().await;
    w.forward(Reached::RestoreTtl).await;
    w.roll_back();
    let e = w.eval();
    assert_eq!(
        rollback_steps(&e),
        [
            StepId::RollbackSpf,
            StepId::RollbackLowerTtl,
            StepId::RollbackAddOldMx,
            StepId::RollbackRemoveNewMx,
            StepId::RollbackCopyBack
        ]
    );
    assert_eq!(next(&e), StepId::RollbackSpf);
    w.auth.set_txt(APEX, 21_600, &[BACK_SPF]).await;
    w.after(30).await;
    assert_eq!(
        check_status(&w.eval(), &StepId::RollbackSpf, "spf-old-and-new"),
        Status::Pass
    );
    w.confirm(StepId::RollbackSpf);
    let e = w.eval();
    assert_eq!(next(&e), StepId::RollbackLowerTtl);
    assert_eq!(
        e.next.as_ref().expect("next").records,
        vec![
            "example.com. 300 IN MX 1 smtp.new.example.",
            format!("example.com. 300 IN TXT \"{BACK_SPF}\"").as_str(),
        ]
    );
    w.auth.set_mx(APEX, 300, &NEW).await;
    w.auth.set_txt(APEX, 300, &[BACK_SPF]).await;
    w.after(30).await;
    let e = w.eval();
    assert_eq!(
        check_status(&e, &StepId::RollbackLowerTtl, "mx-ttl-lowered"),
        Status::Pass
    );
    w.confirm(StepId::RollbackLowerTtl);
    let lowered = w.clock.now();
    let e = w.eval();
    // The restored TTL (24 h for MX) must pass before the MX changes.
    let add = e.step(&StepId::RollbackAddOldMx).expect("step");
    assert_eq!(add.state, StepState::Waiting, "{:?}", add.checks);
    assert_eq!(
        add.wait_until,
        Some(lowered + SignedDuration::from_hours(24))
    );
    w.after(86_400).await;
    mx_back(&mut w).await;
}

#[tokio::test]
async fn rollback_is_refused_before_the_switch_after_decommission_and_twice() {
    let mut w = World::start().await;
    let now = w.clock.now();
    assert_eq!(
        rollback::start(&w.history(), "tester", "too early to go", now),
        Err(Refusal::NotSwitched)
    );
    w.forward(Reached::AddNewMx).await;
    w.roll_back();
    assert!(matches!(
        rollback::start(&w.history(), "tester", "once more please", now),
        Err(Refusal::AlreadyRolledBack(_))
    ));
    let mut done = World::start().await;
    done.forward(Reached::AddNewMx).await;
    done.confirm(StepId::DecommissionOld);
    assert_eq!(
        rollback::start(&done.history(), "tester", "too late to go", now),
        Err(Refusal::Decommissioned)
    );
}

#[tokio::test]
async fn retry_makes_the_forward_steps_from_add_new_mx_pending_again() {
    let mut w = World::start().await;
    w.forward(Reached::RemoveOldMx).await;
    w.roll_back();
    mx_back(&mut w).await;
    let entries = rollback::retry(
        &w.history(),
        "tester",
        "the provider fixed it",
        w.clock.now(),
    )
    .expect("retry");
    w.journal.extend(entries);
    let e = w.eval();
    assert!(rollback_steps(&e).is_empty());
    assert!(rollback::active(&w.history()).is_none());
    // The old MX is served alone again: add-new-mx is the step to do, the rest wait for it.
    assert_eq!(next(&e), StepId::AddNewMx);
    for step in [StepId::RemoveOldMx, StepId::DkimSpfFinal, StepId::FinalCopy] {
        assert_eq!(
            e.step(&step).expect("step").state,
            StepState::Pending,
            "{step}"
        );
    }
    // A second rollback starts its steps afresh, not done from the first.
    w.confirm(StepId::AddNewMx);
    w.roll_back();
    let e = w.eval();
    assert!(
        !e.step(&StepId::RollbackAddOldMx)
            .expect("step")
            .state
            .is_finished()
    );
}

#[test]
fn a_rollback_decision_is_journaled_with_who_when_and_why() {
    let confirm = |step: StepId| Entry::Confirm {
        at: "2026-12-08T09:00:00Z".parse().expect("time"),
        operator: "tester".into(),
        step,
        mailbox: None,
        evidence: vec![],
    };
    let history = History::from_entries(&[confirm(StepId::AddNewMx)]);
    let at: Timestamp = "2026-12-08T18:00:00Z".parse().expect("time");
    let entries =
        rollback::start(&history, "alice", "logins fail on the new server", at).expect("rollback");
    let Some(Entry::Fact {
        at: when,
        key,
        value,
        evidence,
    }) = entries.last()
    else {
        panic!("{entries:?}")
    };
    assert_eq!((key.as_str(), *when), ("rollback", at));
    assert_eq!(value["operator"], "alice");
    assert_eq!(value["reason"], "logins fail on the new server");
    assert!(evidence.contains("alice") && evidence.contains("logins fail"));
    let active = rollback::active(&History::from_entries(&entries)).expect("active");
    assert_eq!(active.at, at);
}

#[tokio::test]
async fn stay_ends_on_the_old_server_spf_without_the_new_then_the_ttls_restored() {
    let mut w = World::start().await;
    w.forward(Reached::RemoveOldMx).await;
    w.roll_back();
    let now = w.clock.now();
    assert!(rollback::stay(&w.history(), "tester", "we stay with the old host", now).is_ok());
    mx_back(&mut w).await;
    let entries =
        rollback::stay(&w.history(), "tester", "we stay with the old host", now).expect("stay");
    w.journal.extend(entries);
    assert_eq!(
        rollback::stay(&w.history(), "tester", "twice is refused", now),
        Err(Refusal::AlreadyStaying)
    );
    let e = w.eval();
    let ids = rollback_steps(&e);
    assert_eq!(
        ids[ids.len() - 2..],
        [StepId::StaySpfOldOnly, StepId::StayRestoreTtl]
    );
    // The copy back may run on; SPF leads the end on the old server.
    assert_eq!(
        e.step(&StepId::StaySpfOldOnly).expect("step").state,
        StepState::Ready
    );
    assert_eq!(
        e.step(&StepId::StayRestoreTtl).expect("step").state,
        StepState::Pending
    );
    assert_eq!(
        cutover::dns::records_to_paste(&StepId::StaySpfOldOnly, &w.plan, w.round.as_ref())[0],
        format!("example.com. 300 IN TXT \"{OLD_SPF}\"")
    );
    assert_eq!(
        check_status(&e, &StepId::StaySpfOldOnly, "spf-new-removed"),
        Status::Fail
    );
    w.auth.set_txt(APEX, 300, &[OLD_SPF]).await;
    w.after(30).await;
    let e = w.eval();
    assert_eq!(
        check_status(&e, &StepId::StaySpfOldOnly, "spf-new-removed"),
        Status::Pass
    );
    w.confirm(StepId::StaySpfOldOnly);
    let e = w.eval();
    assert_eq!(
        cutover::dns::records_to_paste(&StepId::StayRestoreTtl, &w.plan, w.round.as_ref()),
        vec![
            "example.com. 86400 IN MX 10 mx1.old.example.",
            "example.com. 86400 IN MX 20 mx2.old.example.",
            format!("example.com. 21600 IN TXT \"{OLD_SPF}\"").as_str(),
        ]
    );
    assert_eq!(
        check_status(&e, &StepId::StayRestoreTtl, "mx-ttl-restored"),
        Status::Fail
    );
    w.auth.set_mx(APEX, 86_400, &OLD).await;
    w.auth.set_txt(APEX, 21_600, &[OLD_SPF]).await;
    w.after(30).await;
    let e = w.eval();
    for id in ["mx-only-old-served", "mx-ttl-restored", "txt-ttl-restored"] {
        assert_eq!(
            check_status(&e, &StepId::StayRestoreTtl, id),
            Status::Pass,
            "{id}"
        );
    }
}

/// The whole way back with mail: the forward migration against the zone up to `reached`,
/// mail arriving on the new server in between, the forward copy, the rollback by the
/// guidance, then the copy back against two real Dovecots.
async fn copy_back_after(reached: Reached) {
    use cutover::mail::credentials::CredentialSource;
    use cutover::mail::sync::{BackLog, MemoryLog, Reverse, SyncLog, SyncOptions, run_sync};
    use dovecot::{Dovecot, SeedMessage};
    const ALICE: &str = "alice@example.com";
    let (Some(old), Some(new)) = (Dovecot::start("old"), Dovecot::start("new")) else {
        return;
    };
    old.add_user(ALICE, "old-pw");
    new.add_user(ALICE, "new-pw");
    let dir = tempfile::tempdir().expect("dir");
    let secrets = dir.path().join("secrets.toml");
    dovecot::write_secrets(&secrets, &[(ALICE, "old-pw", "new-pw")], None);
    let msg = |id: &str, at: i64| {
        SeedMessage::new(format!(
            "Message-ID: <{id}@x>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\nFrom: c@x\r\nTo: {ALICE}\r\nSubject: {id}\r\n\r\n{id}\r\n"
        ))
        .date(at)
    };

    let mut w = World::start().await;
    let start = w.clock.now().as_second();
    old.seed(ALICE, "INBOX", &[msg("old-1", start - 86_400)]);
    new.seed(ALICE, "INBOX", &[msg("test-before", start)]);
    w.forward(reached).await;
    // The switch as the journal has it: the new MX first served.
    let switch = w
        .journal
        .iter()
        .find_map(|e| match e {
            Entry::Fact { at, key, value, .. } if key == "mx-set" && value["to"] == "old+new" => {
                Some(at.as_second())
            }
            _ => None,
        })
        .expect("the new MX was served");
    // Mail reached the new server after the switch, in two folders, at different times.
    new.seed(
        ALICE,
        "INBOX",
        &[
            msg("new-1", switch + 60),
            msg("new-2", w.clock.now().as_second() - 60),
        ],
    );
    new.seed(ALICE, "Sent", &[msg("sent-1", switch + 120).flags("S")]);

    let mut plan = dovecot::plan(&old, &new, &[ALICE], &secrets);
    plan.domain = w.plan.domain.clone();
    let creds = CredentialSource::new(plan.credentials.as_ref()).expect("creds");
    let log = MemoryLog::default();
    for e in &w.journal {
        log.record(e).expect("record");
    }
    // The forward copy ran before the rollback (the bulk copy, or the final one).
    let forward = run_sync(
        &plan,
        &creds,
        &cutover::clock::SystemClock,
        &SyncOptions::default(),
        &log,
        None,
    )
    .await;
    assert!(
        forward.mailboxes[0].verified(),
        "{}",
        forward.render_table()
    );

    // The rollback, by the guidance, to the copy back.
    w.roll_back();
    if reached >= Reached::DkimSpfFinal {
        w.auth.set_txt(APEX, 300, &[BACK_SPF]).await;
        w.after(30).await;
        w.confirm(StepId::RollbackSpf);
    }
    if reached >= Reached::RestoreTtl {
        w.auth.set_mx(APEX, 300, &NEW).await;
        w.after(30).await;
        w.confirm(StepId::RollbackLowerTtl);
        w.after(86_400).await;
    }
    if reached == Reached::AddNewMx {
        w.confirm(StepId::RollbackAddOldMx);
        w.auth.set_mx(APEX, 300, &OLD).await;
        w.after(30).await;
        w.confirm(StepId::RollbackRemoveNewMx);
    } else {
        mx_back(&mut w).await;
    }
    assert_eq!(next(&w.eval()), StepId::RollbackCopyBack);

    let new_before = new.doveadm(&[
        "fetch",
        "-u",
        ALICE,
        "mailbox date.received flags guid",
        "all",
    ]);
    // 5 messages: old-1 (copied forward), test-before, new-1, new-2, sent-1.
    assert!(
        new_before.contains("mailbox: Sent") && new_before.matches("guid:").count() == 5,
        "{new_before}"
    );
    let entries: Vec<Entry> = log
        .snapshot()
        .into_iter()
        .chain(w.journal.clone())
        .collect();
    let reverse =
        Reverse::from_journal(&entries, &History::from_entries(&entries)).expect("reverse");
    let back = SyncOptions {
        reverse: Some(reverse),
        ..SyncOptions::default()
    };
    let report = run_sync(
        &plan,
        &creds,
        &cutover::clock::SystemClock,
        &back,
        &BackLog(&log),
        None,
    )
    .await;
    assert!(report.mailboxes[0].verified(), "{}", report.render_table());
    let copied: u64 = report.mailboxes.iter().map(|m| m.copied()).sum();
    assert_eq!(copied, 3, "{reached:?}: {}", report.render_table());
    let on_old = |folder: &str| {
        let mut ids: Vec<String> = old
            .doveadm(&["fetch", "-u", ALICE, "hdr.message-id", "mailbox", folder])
            .lines()
            .filter_map(|l| {
                l.split('<')
                    .nth(1)
                    .map(|s| s.trim_end_matches('>').to_string())
            })
            .collect();
        ids.sort();
        ids
    };
    // Every message that reached the new server after the switch, once; nothing from before.
    assert_eq!(
        on_old("INBOX"),
        ["new-1@x", "new-2@x", "old-1@x"],
        "{reached:?}"
    );
    assert_eq!(on_old("Sent"), ["sent-1@x"], "{reached:?}");
    assert_eq!(
        new.doveadm(&[
            "fetch",
            "-u",
            ALICE,
            "mailbox date.received flags guid",
            "all"
        ]),
        new_before,
        "the new server is unchanged"
    );
    let again = run_sync(
        &plan,
        &creds,
        &cutover::clock::SystemClock,
        &back,
        &BackLog(&log),
        None,
    )
    .await;
    assert_eq!(again.mailboxes.iter().map(|m| m.copied()).sum::<u64>(), 0);
    // `--retry`, then a forward copy: nothing duplicated on the new server.
    let retry = rollback::retry(
        &w.history(),
        "tester",
        "the provider fixed it",
        w.clock.now(),
    )
    .expect("retry");
    w.journal.extend(retry);
    assert!(rollback::active(&w.history()).is_none());
    let forward = run_sync(
        &plan,
        &creds,
        &cutover::clock::SystemClock,
        &SyncOptions::default(),
        &log,
        None,
    )
    .await;
    assert_eq!(
        forward.mailboxes.iter().map(|m| m.copied()).sum::<u64>(),
        0,
        "{}",
        forward.render_table()
    );
    assert_eq!(
        new.doveadm(&[
            "fetch",
            "-u",
            ALICE,
            "mailbox date.received flags guid",
            "all"
        ]),
        new_before
    );
}

#[tokio::test]
async fn copy_back_after_add_new_mx() {
    copy_back_after(Reached::AddNewMx).await;
}

#[tokio::test]
async fn copy_back_after_remove_old_mx() {
    copy_back_after(Reached::RemoveOldMx).await;
}

#[tokio::test]
async fn copy_back_after_dkim_spf_final() {
    copy_back_after(Reached::DkimSpfFinal).await;
}

#[tokio::test]
async fn copy_back_after_restore_ttl() {
    copy_back_after(Reached::RestoreTtl).await;
}
