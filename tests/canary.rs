//! Canaries against real mail servers on loopback (tests/support/mailflow.rs): Postfix as
//! the old, the new and an external MX, each delivering over LMTP to its own Dovecot; the
//! external server's transport map is the world's MX lookup, flipped at the switch.

#[path = "support/mailflow.rs"]
mod mailflow;

use std::collections::BTreeSet;
use std::time::Duration;

use cutover::canary::{CanaryResult, Expect, Landed, Options, Route, run_round};
use cutover::check::Status;
use cutover::clock::SystemClock;
use cutover::mail::CredentialSource;
use mailflow::{CANARY, EXTERNAL, MailFlow, Mx, PERSON};

fn options(routes: &[Route], expect: Expect, timeout_s: u64) -> Options {
    Options {
        routes: routes.iter().copied().collect::<BTreeSet<_>>(),
        timeout: Duration::from_secs(timeout_s),
        poll: Duration::from_millis(500),
        world_expect: expect,
        served_mx: vec![],
    }
}

async fn round(flow: &MailFlow, extra: &str, options: &Options) -> Vec<CanaryResult> {
    let path = flow.write_plan(extra);
    let plan = cutover::plan::load(&path)
        .unwrap_or_else(|e| panic!("plan: {e}"))
        .plan;
    let credentials = CredentialSource::new(plan.credentials.as_ref()).expect("credentials");
    run_round(&plan, &credentials, options, &SystemClock)
        .await
        .expect("a round")
}

fn only(results: &[CanaryResult], route: Route) -> &CanaryResult {
    let of_route: Vec<&CanaryResult> = results.iter().filter(|r| r.route == route).collect();
    assert_eq!(of_route.len(), 1, "{results:#?}");
    of_route[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_world_canary_lands_on_old_before_the_switch_and_on_new_after() {
    let Some(flow) = MailFlow::start() else {
        return;
    };
    let before = round(&flow, "", &options(&[Route::World], Expect::Old, 60)).await;
    let world = only(&before, Route::World);
    assert_eq!(
        world.landed,
        Landed::Old,
        "{world:#?}\n{}",
        flow.external.postfix.log()
    );
    assert_eq!(world.verdict, Status::Pass, "{world:#?}");
    assert_eq!(world.folder.as_deref(), Some("INBOX"));
    assert!(
        world.hops.len() >= 2,
        "hops through external and old: {world:#?}"
    );
    assert!(
        world.hops[0].contains("mx.ext.test")
            || world.hops.iter().any(|h| h.contains("mx.ext.test")),
        "{world:#?}"
    );
    // The old server is never touched: the canary stays there.
    assert_eq!(flow.old.count(CANARY, "INBOX"), 1);
    assert!(
        world.cleanup.as_deref().unwrap_or("").contains("untouched"),
        "{world:#?}"
    );

    flow.world_mx(Mx::New);
    let after = round(&flow, "", &options(&[Route::World], Expect::New, 60)).await;
    let world = only(&after, Route::World);
    assert_eq!(world.landed, Landed::New, "{world:#?}");
    assert_eq!(world.verdict, Status::Pass, "{world:#?}");
    assert!(
        world.hops.iter().any(|h| h.contains("mx.new.test")),
        "{world:#?}"
    );
    // Removed from the new server once found; the old one still holds the first canary only.
    assert_eq!(flow.new.count(CANARY, "INBOX"), 0, "{world:#?}");
    assert_eq!(flow.old.count(CANARY, "INBOX"), 1);
    assert!(world.delay_s.is_some_and(|d| d < 60), "{world:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_world_canary_still_landing_on_old_after_the_switch_is_canary_old() {
    let Some(flow) = MailFlow::start() else {
        return;
    };
    let results = round(&flow, "", &options(&[Route::World], Expect::New, 60)).await;
    let world = only(&results, Route::World);
    assert_eq!(world.landed, Landed::Old, "{world:#?}");
    assert_eq!(world.verdict, Status::Fail);
    assert!(
        world.evidence.starts_with("canary-old"),
        "{}",
        world.evidence
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_canary_goes_to_each_new_mx_host_and_lands_in_its_inbox() {
    let Some(flow) = MailFlow::start() else {
        return;
    };
    let results = round(&flow, "", &options(&[Route::Direct], Expect::Old, 60)).await;
    let direct = only(&results, Route::Direct);
    assert_eq!(direct.target.as_deref(), Some("mx.new.test"));
    assert_eq!(direct.landed, Landed::New, "{direct:#?}");
    assert_eq!(direct.verdict, Status::Pass, "{direct:#?}");
    assert_eq!(direct.folder.as_deref(), Some("INBOX"));
    assert!(
        flow.new.postfix.log().contains("from=<>"),
        "the direct canary is sent with MAIL FROM:<>"
    );
    assert_eq!(flow.new.count(CANARY, "INBOX"), 0, "removed once found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_mx_that_drops_mail_gives_canary_lost() {
    let Some(flow) = MailFlow::start() else {
        return;
    };
    flow.new_server_drops_mail();
    flow.world_mx(Mx::New);
    let results = round(&flow, "", &options(&[Route::World], Expect::New, 8)).await;
    let world = only(&results, Route::World);
    assert_eq!(world.landed, Landed::None, "{world:#?}");
    assert_eq!(world.verdict, Status::Fail);
    assert!(
        world.evidence.starts_with("canary-lost"),
        "{}",
        world.evidence
    );
    assert!(world.evidence.contains("quarantine"), "{}", world.evidence);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_filed_to_junk_is_a_warning() {
    let Some(flow) = MailFlow::start() else {
        return;
    };
    flow.new.dovecot.sieve_before(
        "require [\"fileinto\", \"mailbox\"];\nif exists \"X-Cutover-Canary\" { fileinto :create \"Junk\"; stop; }\n",
    );
    flow.world_mx(Mx::New);
    let results = round(&flow, "", &options(&[Route::World], Expect::New, 60)).await;
    let world = only(&results, Route::World);
    assert_eq!(
        world.landed,
        Landed::New,
        "{world:#?}\n{}",
        flow.new.dovecot.log()
    );
    assert_eq!(
        world.folder.as_deref(),
        Some("Junk"),
        "{}",
        flow.new.dovecot.log()
    );
    assert!(world.junk);
    assert_eq!(world.verdict, Status::Warn, "{world:#?}");
    assert!(world.evidence.contains("Junk"), "{}", world.evidence);
    assert_eq!(flow.new.count(CANARY, "Junk"), 0, "removed from Junk too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_without_smtp_auth_is_a_warning_with_the_reply() {
    let Some(flow) = MailFlow::start() else {
        return;
    };
    flow.new.postfix.submission_auth(false);
    let results = round(&flow, "", &options(&[Route::Outbound], Expect::Old, 20)).await;
    let outbound = only(&results, Route::Outbound);
    assert_eq!(outbound.verdict, Status::Warn, "{outbound:#?}");
    assert_eq!(outbound.landed, Landed::None);
    assert!(
        outbound.evidence.contains("SMTP AUTH"),
        "{}",
        outbound.evidence
    );
    assert!(outbound.reply.is_some(), "{outbound:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbound_canary_lands_at_the_external_mailbox_and_is_removed_there() {
    let Some(flow) = MailFlow::start() else {
        return;
    };
    let results = round(&flow, "", &options(&[Route::Outbound], Expect::Old, 60)).await;
    let outbound = only(&results, Route::Outbound);
    assert_eq!(
        outbound.landed,
        Landed::External,
        "{outbound:#?}\n{}",
        flow.new.postfix.log()
    );
    assert_eq!(outbound.verdict, Status::Pass, "{outbound:#?}");
    assert!(
        outbound.hops.iter().any(|h| h.contains("mx.new.test")),
        "{outbound:#?}"
    );
    assert_eq!(
        flow.external.count(EXTERNAL, "INBOX"),
        0,
        "removed once found"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uid_expunge_removes_only_the_canary_never_another_deleted_message() {
    let Some(flow) = MailFlow::start() else {
        return;
    };
    // A message the user marked \Deleted but has not expunged: a plain EXPUNGE would take it.
    flow.new.dovecot.seed(
        CANARY,
        "INBOX",
        &[mailflow::SeedMessage::new(
            "From: a@example.org\r\nTo: cutover-canary@example.com\r\nSubject: keep me\r\nMessage-ID: <keep@example.org>\r\n\r\nstill here\r\n",
        )
        .flags("T")],
    );
    flow.world_mx(Mx::New);
    let results = round(&flow, "", &options(&[Route::World], Expect::New, 60)).await;
    let world = only(&results, Route::World);
    assert_eq!(world.verdict, Status::Pass, "{world:#?}");
    assert!(
        world
            .cleanup
            .as_deref()
            .unwrap_or("")
            .contains("UID EXPUNGE"),
        "{world:#?}"
    );
    assert_eq!(
        flow.new.subjects(CANARY, "INBOX"),
        vec!["keep me".to_string()]
    );
    // A person's mailbox is never involved.
    assert_eq!(flow.new.count(PERSON, "INBOX"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_providers_sent_copy_of_a_world_canary_is_removed_too() {
    let Some(flow) = MailFlow::start() else {
        return;
    };
    flow.external_keeps_sent_copies();
    flow.world_mx(Mx::New);
    let results = round(&flow, "", &options(&[Route::World], Expect::New, 60)).await;
    let world = only(&results, Route::World);
    assert_eq!(world.verdict, Status::Pass, "{world:#?}");
    // The copy was kept (the provider's log says where it went), and is gone now.
    let log = flow.external.dovecot.log();
    assert!(log.contains("stored mail into mailbox 'Sent'"), "{log}");
    assert_eq!(flow.external.count(EXTERNAL, "Sent"), 0, "{world:#?}");
    assert_eq!(flow.new.count(CANARY, "INBOX"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_uidplus_a_canary_is_left_marked_seen_and_cutover_says_so() {
    let Some(flow) = MailFlow::start() else {
        return;
    };
    flow.new
        .dovecot
        .imap_capability("IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT THREAD=REFERENCES MULTIAPPEND UNSELECT CHILDREN NAMESPACE LIST-EXTENDED SPECIAL-USE MOVE");
    flow.world_mx(Mx::New);
    let results = round(&flow, "", &options(&[Route::World], Expect::New, 60)).await;
    let world = only(&results, Route::World);
    assert_eq!(world.verdict, Status::Pass, "{world:#?}");
    let cleanup = world.cleanup.as_deref().unwrap_or("");
    assert!(cleanup.contains("left, marked \\Seen"), "{cleanup}");
    assert!(cleanup.contains("UIDPLUS"), "{cleanup}");
    // Still there, seen: a plain EXPUNGE was never sent.
    assert_eq!(flow.new.count(CANARY, "INBOX"), 1);
    let flags = flow
        .new
        .dovecot
        .doveadm(&["fetch", "-u", CANARY, "flags", "mailbox", "INBOX"]);
    assert!(flags.contains("\\Seen"), "{flags}");
    assert!(!flags.contains("\\Deleted"), "{flags}");
}

/// On Gmail an expunge outside the Trash only takes a label off: a server that says it is
/// Gmail (X-GM-EXT-1) has the canary moved to its Trash and expunged there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_gmail_a_canary_is_moved_to_the_trash_and_expunged_there() {
    let Some(flow) = MailFlow::start() else {
        return;
    };
    flow.new
        .dovecot
        .doveadm(&["mailbox", "create", "-u", CANARY, "Trash"]);
    flow.new.dovecot.imap_capability("+X-GM-EXT-1");
    flow.world_mx(Mx::New);
    let results = round(&flow, "", &options(&[Route::World], Expect::New, 60)).await;
    let world = only(&results, Route::World);
    assert_eq!(world.verdict, Status::Pass, "{world:#?}");
    assert_eq!(flow.new.count(CANARY, "INBOX"), 0, "{world:#?}");
    assert_eq!(
        flow.new.count(CANARY, "Trash"),
        0,
        "expunged in the Trash too"
    );
    // The Trash received it (its UIDNEXT moved) before it was expunged there.
    let status = flow
        .new
        .dovecot
        .doveadm(&["mailbox", "status", "-u", CANARY, "uidnext", "Trash"]);
    assert!(status.contains("uidnext=2"), "{status}");
}
