//! The rehearsal's autopilot on the sandbox: a clean migration passes, and each classic mistake
//! is caught by the check that should catch it, at the right simulated time, with the right
//! exit code.

use cutover::check::Status;
use cutover::sandbox::autopilot::{Mistake, Report, Server};
use cutover::sandbox::demo::{DemoOptions, rehearse};
use jiff::{SignedDuration, Timestamp};

async fn rehearsal(mistake: Option<Mistake>) -> Report {
    let opts = DemoOptions {
        autopilot: true,
        mistake,
        mailboxes: 3,
        messages: 60,
        ..DemoOptions::default()
    };
    rehearse(&opts).await.expect("the rehearsal runs").report
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_careful_migration_ends_with_every_message_verified_on_the_new_server() {
    let report = rehearsal(None).await;
    let text = report.render();
    assert_eq!(report.exit_code(), 0, "{text}");
    assert!(report.finished, "{text}");
    assert!(report.alarms.is_empty(), "{text}");
    assert!(report.overrides.is_empty(), "{text}");
    assert_eq!(report.deferrals, 0, "{text}");
    assert!(report.missing_at_end.is_empty(), "{text}");
    assert!(report.lost.is_empty(), "{text}");
    // Mail flowed to the old server before the switch and to the new one after it.
    assert!(report.delivered_to(Server::Old) > 0, "{text}");
    assert!(report.delivered_to(Server::New) > 0, "{text}");
    let last = report.copies.last().expect("a copy ran");
    assert!(last.verified, "{text}");
    // The final copy waited for 24 h after the switch (day 2 morning → day 3).
    assert!(report.copies[0].at >= at("2026-03-04T08:00:00Z"), "{text}");
    assert!(text.contains("Verdict (exit 0): clean"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_mx_without_the_ttl_wait_is_blocked_by_old_ttl_expired_and_mail_lands_on_the_old_server()
 {
    let report = rehearsal(Some(Mistake::NoTtlWait)).await;
    let text = report.render();
    assert_eq!(report.exit_code(), 1, "{text}");
    let caught = report.caught("old-ttl-expired").expect("ttl-wait blocked");
    assert_eq!(caught.step, "ttl-wait");
    assert_eq!(caught.status, Status::Fail);
    // Seen on day 1 right after the lowering; it clears 24 h (the old TTL) after it.
    assert!(caught.at < at("2026-03-02T09:30:00Z"), "{text}");
    assert_eq!(caught.until, Some(at("2026-03-03T08:05:00Z")), "{text}");
    assert!(
        report
            .overrides
            .iter()
            .any(|(_, step, _)| step == "ttl-wait"),
        "{text}"
    );
    // The resolvers kept the old MX for the rest of their 24 h cache: mail kept landing on
    // the old server on day 2 although the MX had been switched on day 1.
    assert!(
        report
            .delivered
            .get(&(2, Server::Old))
            .copied()
            .unwrap_or(0)
            > 0,
        "{text}"
    );
    assert!(
        report.lost.is_empty() && report.missing_at_end.is_empty(),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_old_mx_first_raises_the_mx_alarm_and_senders_defer() {
    let report = rehearsal(Some(Mistake::DeleteOldMxFirst)).await;
    let text = report.render();
    assert_eq!(report.exit_code(), 1, "{text}");
    let alarm = report.caught("mx-no-alarm").expect("the MX alarm fired");
    assert_eq!(alarm.status, Status::Fail);
    // The old MX goes at the earliest switch time (day 2, 08:05); the next DNS round sees it.
    let mistake = report
        .events
        .iter()
        .find(|e| e.text.starts_with("MISTAKE"))
        .expect("the mistake is in the timeline");
    assert!(alarm.at >= mistake.at, "{text}");
    assert!(
        alarm.at.duration_since(mistake.at) <= SignedDuration::from_mins(5),
        "{text}"
    );
    assert!(report.deferred_messages > 0, "{text}");
    assert_eq!(report.still_queued, 0, "{text}");
    assert!(report.missing_at_end.is_empty(), "{text}");
    // The operator recovers by the alarm's fix: the old MX back, then the procedure in order.
    let fix = report
        .events
        .iter()
        .position(|e| {
            e.text
                .contains("follows the fix of alarm mx-empty: Put the old MX back now")
        })
        .unwrap_or_else(|| panic!("the fix is in the timeline\n{text}"));
    assert!(
        report.events[fix + 1]
            .text
            .contains("put back at the DNS host"),
        "{text}"
    );
    assert!(text.contains("deferred"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_final_copy_is_blocked_by_switch_24h_elapsed_and_later_mail_needs_the_next_copy() {
    let report = rehearsal(Some(Mistake::EarlyFinalCopy)).await;
    let text = report.render();
    assert_eq!(report.exit_code(), 1, "{text}");
    let caught = report
        .blocked
        .iter()
        .find(|c| c.step == "final-copy" && c.check == "switch-24h-elapsed")
        .expect("the 24 h gate blocked the copy");
    assert_eq!(caught.status, Status::Fail);
    let until = caught.until.expect("the gate says when it clears");
    assert_eq!(
        until.duration_since(caught.at),
        SignedDuration::from_hours(24),
        "{text}"
    );
    assert!(report.copies.len() >= 2, "{text}");
    assert!(report.copies[0].at < until, "{text}");
    assert!(report.caught_by_next_copy > 0, "{text}");
    assert!(report.missing_at_end.is_empty(), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_decommission_is_blocked_by_old_inbox_quiet_and_the_report_names_the_lost_mail() {
    let report = rehearsal(Some(Mistake::EarlyDecommission)).await;
    let text = report.render();
    assert_eq!(report.exit_code(), 2, "{text}");
    let caught = report
        .blocked
        .iter()
        .find(|c| c.step == "decommission-old" && c.check == "mail.old-inbox-quiet")
        .expect("the quiet gate blocked the shutdown");
    assert_eq!(caught.status, Status::Fail);
    assert!(caught.until.is_some_and(|u| u > caught.at), "{text}");
    assert!(!report.lost.is_empty(), "{text}");
    assert!(text.contains("LOST:"), "{text}");
    assert!(text.contains(&report.lost[0].subject), "{text}");
}
