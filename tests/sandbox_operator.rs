//! The rehearsal's operator: each console key (and each autopilot step) makes its change at
//! the sandbox's DNS host and mail servers, in any order, pressed twice included.

use cutover::clock::Clock;
use cutover::sandbox::World;
use cutover::sandbox::demo::world_spec;
use cutover::sandbox::operator::{OperatorAction, perform};
use cutover::step::StepId;
use hickory_proto::rr::{RData, RecordType};

async fn zone_mx(world: &World) -> (u32, Vec<String>) {
    let (ttl, rdata) = world
        .zone
        .lookup("@", RecordType::MX)
        .await
        .unwrap_or_default();
    let hosts = rdata
        .iter()
        .filter_map(|r| match r {
            RData::MX(mx) => Some(mx.exchange.to_string()),
            _ => None,
        })
        .collect();
    (ttl, hosts)
}

async fn zone_txt(world: &World, name: &str) -> (u32, Vec<String>) {
    let (ttl, rdata) = world
        .zone
        .lookup(name, RecordType::TXT)
        .await
        .unwrap_or_default();
    let texts = rdata
        .iter()
        .filter_map(|r| match r {
            RData::TXT(txt) => Some(txt.to_string()),
            _ => None,
        })
        .collect();
    (ttl, texts)
}

#[tokio::test]
async fn every_action_changes_the_sandbox_as_the_runbook_asks() {
    let world = World::start(world_spec(3, 24, 0.0)).await.unwrap();

    let done = perform(&world, OperatorAction::LowerTtl).await.unwrap();
    assert_eq!(done.text, "MX and TXT TTLs set to 5 min at the DNS host");
    assert_eq!(zone_mx(&world).await.0, 300);
    assert_eq!(zone_txt(&world, "@").await.0, 300);

    perform(&world, OperatorAction::SpfAddNew).await.unwrap();
    assert_eq!(
        zone_txt(&world, "@").await.1,
        vec!["v=spf1 a:mail.old-host.test a:mx.new-host.test -all"]
    );

    // Mailboxes are created once; a second press finds them there.
    let made = perform(&world, OperatorAction::CreateMailboxes)
        .await
        .unwrap();
    // The three employees' and the canary mailbox.
    assert_eq!(made.text, "4 mailboxes created on the new server");
    let again = perform(&world, OperatorAction::CreateMailboxes)
        .await
        .unwrap();
    assert_eq!(again.text, "0 mailboxes created on the new server");
    assert_eq!(world.new.store().folders("user1").unwrap().len(), 8);

    // Every other employee sets up a POP3 fetch; the caller runs them.
    let fetch = perform(&world, OperatorAction::StartPop3Fetch)
        .await
        .unwrap();
    assert_eq!(fetch.fetches.len(), 2);
    assert_eq!(
        fetch.text,
        "2 employees set up POP3 fetch from the old server"
    );

    let added = perform(&world, OperatorAction::AddNewMx).await.unwrap();
    assert!(
        added.text.ends_with("(the old one stays)"),
        "{}",
        added.text
    );
    let (ttl, hosts) = zone_mx(&world).await;
    assert_eq!(ttl, 300, "adding a record keeps the set's TTL");
    assert_eq!(hosts, vec!["mail.old-host.test.", "mx.new-host.test."]);

    perform(&world, OperatorAction::DeleteOldMx).await.unwrap();
    assert_eq!(zone_mx(&world).await.1, vec!["mx.new-host.test."]);
    // Deleting it again is no error: it is gone.
    perform(&world, OperatorAction::DeleteOldMx).await.unwrap();
    assert_eq!(zone_mx(&world).await.1, vec!["mx.new-host.test."]);

    perform(&world, OperatorAction::DkimSpfFinal).await.unwrap();
    assert_eq!(
        zone_txt(&world, "@").await.1,
        vec!["v=spf1 a:mx.new-host.test -all"]
    );
    let (_, dkim) = zone_txt(&world, "rehearsal._domainkey").await;
    // The key the new server signs with (Ed25519, RFC 8463).
    assert_eq!(dkim, vec![world.dkim.record()]);
    assert!(dkim[0].starts_with("v=DKIM1; k=ed25519; p="), "{dkim:?}");

    let restored = perform(&world, OperatorAction::RestoreTtl).await.unwrap();
    assert_eq!(restored.text, "TTLs restored: 24 h for MX, 6 h for TXT");
    assert_eq!(zone_mx(&world).await.0, 86_400);
    assert_eq!(zone_txt(&world, "@").await.0, 21_600);
}

#[tokio::test]
async fn adding_the_new_mx_after_deleting_the_old_one_does_not_claim_the_old_one_stays() {
    let world = World::start(world_spec(1, 8, 0.0)).await.unwrap();
    perform(&world, OperatorAction::DeleteOldMx).await.unwrap();
    assert!(zone_mx(&world).await.1.is_empty());
    let added = perform(&world, OperatorAction::AddNewMx).await.unwrap();
    assert_eq!(added.text, "MX 10 mx.new-host.test added at the DNS host");
    assert_eq!(zone_mx(&world).await.1, vec!["mx.new-host.test."]);
}

/// Asks the rehearsal's new MX about every address of the plan, journals the answer as the
/// cockpit does, and returns the gate of `add-new-mx` judged from the journal.
async fn probe_and_gate(
    world: &World,
    plan: &cutover::plan::Plan,
    entries: &mut Vec<cutover::journal::Entry>,
) -> cutover::check::Check {
    use cutover::smtp::steps;
    let now = world.clock.now();
    let probe = steps::probe_plan(plan, &world.clock).await.unwrap();
    let history = cutover::journal::History::from_entries(entries.iter());
    entries.extend(steps::probe_fact(plan, &history, &probe, now));
    let history = cutover::journal::History::from_entries(entries.iter());
    let mut gate = steps::step_checks(&StepId::AddNewMx, plan, &history, now);
    assert_eq!(gate.len(), 1, "{gate:?}");
    gate.remove(0)
}

/// Pressing `c` in a started rehearsal cockpit on `entries`: the command it sends the sandbox,
/// and the add-new-mx gate's evidence as the cockpit shows it (rehearsal or not).
fn cockpit(
    plan: &cutover::plan::Plan,
    entries: &[cutover::journal::Entry],
    world: &World,
    rehearsal: bool,
) -> (Vec<cutover::app::Command>, String) {
    use cutover::app::{App, Event, Role, update};
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut app = App::new(plan.clone(), entries, Role::Driving, world.clock.now());
    app.rehearsal = rehearsal;
    app.rehearsal_screens.started = true;
    app.reevaluate();
    let evidence = app
        .eval
        .step(&StepId::AddNewMx)
        .and_then(|s| s.checks.iter().find(|c| c.id == "smtp.new-mx-accepts"))
        .map(|c| c.evidence.clone())
        .unwrap_or_default();
    let key = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::NONE);
    (update(&mut app, Event::Key(key)), evidence)
}

#[tokio::test]
async fn the_new_mx_refuses_the_forgotten_alias_until_the_console_key_creates_it() {
    use cutover::app::{Command, Rehearse};
    use cutover::check::Status;
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(world_spec(2, 8, 0.0)).await.unwrap();
    let plan_path = cutover::sandbox::demo::write_plan(dir.path(), &world).unwrap();
    let plan = cutover::plan::load(&plan_path).unwrap().plan;
    let alias = "sales@example-firm.test";
    assert_eq!(plan.mailboxes[0].aliases, vec![alias.to_string()]);
    assert!(plan.mailboxes[1].aliases.is_empty());

    // The plan lists the alias; the provider forgot it: the gate of add-new-mx fails naming it.
    let mut entries = Vec::new();
    let gate = probe_and_gate(&world, &plan, &mut entries).await;
    assert_eq!(gate.status, Status::Fail, "{}", gate.evidence);
    assert!(
        gate.evidence.contains(&format!(
            "the new MX rejects 1 address (senders would get bounces after the switch): {alias} at mx.new-host.test. (550 5.1.1 <{alias}>"
        )),
        "{}",
        gate.evidence
    );
    assert!(!gate.evidence.contains("user1@"), "{}", gate.evidence);

    // The rehearsal's guidance names the key; a real cockpit's does not.
    let (commands, shown) = cockpit(&plan, &entries, &world, true);
    assert!(
        shown.contains("In this rehearsal: press c to create it at the new provider"),
        "{shown}"
    );
    assert!(
        commands.contains(&Command::Rehearsal(Rehearse::CreateAlias)),
        "{commands:?}"
    );
    let (commands, shown) = cockpit(&plan, &entries, &world, false);
    assert!(
        shown.contains(alias) && !shown.contains("press c"),
        "{shown}"
    );
    assert!(
        !commands.contains(&Command::Rehearsal(Rehearse::CreateAlias)),
        "{commands:?}"
    );

    // The key's action creates the alias at the new provider, once.
    let action = OperatorAction::for_key(Rehearse::CreateAlias).expect("c is a console key");
    let done = perform(&world, action).await.unwrap();
    assert_eq!(
        done.text,
        format!(
            "alias {alias} (to user1@example-firm.test) created at the new provider; its MX accepts it now"
        )
    );
    let again = perform(&world, action).await.unwrap();
    assert_eq!(
        again.text,
        "the new provider already has every alias: nothing to create"
    );

    // The next probe passes the gate.
    let gate = probe_and_gate(&world, &plan, &mut entries).await;
    assert_eq!(gate.status, Status::Pass, "{}", gate.evidence);
    let (_, shown) = cockpit(&plan, &entries, &world, true);
    assert!(!shown.contains("press c"), "{shown}");
}

/// The way back rehearsed by hand: `b` breaks the new server (its MX answers 451 to every
/// message, senders defer, the SMTP probe of the new MX no longer passes), `9` puts the old
/// MX back (senders then deliver to the old server), `x` deletes the new MX and `z` leaves
/// SPF with the old server only.
#[tokio::test]
async fn the_break_key_breaks_the_new_mx_and_the_way_back_keys_bring_mail_back_to_the_old_server() {
    use cutover::app::{App, Command, Event, Rehearse, Role, update};
    use cutover::check::Status;
    use cutover::sandbox::{DeferReason, Delivery};
    use jiff::SignedDuration;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let dir = tempfile::tempdir().unwrap();
    let world = World::start(world_spec(2, 8, 0.0)).await.unwrap();
    let plan_path = cutover::sandbox::demo::write_plan(dir.path(), &world).unwrap();
    let plan = cutover::plan::load(&plan_path).unwrap().plan;
    // Switched: the new MX alone, with the migration TTL, the mailboxes there.
    for action in [
        OperatorAction::LowerTtl,
        OperatorAction::CreateMailboxes,
        OperatorAction::CreateAlias,
        OperatorAction::AddNewMx,
        OperatorAction::DeleteOldMx,
    ] {
        perform(&world, action).await.unwrap();
    }
    let sender = world.sender(0).expect("a sender");
    let raw = |n: u64| {
        format!(
            "Message-ID: <way-back-{n}@rehearsal.test>\r\nSubject: {n}\r\nFrom: a@elsewhere.test\r\nTo: user1@example-firm.test\r\n\r\nhello\r\n"
        )
        .into_bytes()
    };
    assert!(matches!(
        sender.send("user1", raw(1)).await,
        Delivery::Delivered { host, .. } if host == "mx.new-host.test."
    ));

    // In the rehearsal cockpit, `b` asks the sandbox to break the new server.
    let mut app = App::new(plan.clone(), &[], Role::Driving, world.clock.now());
    app.rehearsal = true;
    app.rehearsal_screens.started = true;
    let key = |c| Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    for (c, what) in [
        ('b', Rehearse::BreakNewServer),
        ('x', Rehearse::DeleteNewMx),
        ('z', Rehearse::SpfOldOnly),
    ] {
        let commands = update(&mut app, key(c));
        assert!(
            commands.contains(&Command::Rehearsal(what)),
            "{c}: {commands:?}"
        );
    }

    // Once rolled back, the Next step pane names the console key of each DNS step.
    let now = world.clock.now();
    let mut rolled_back = vec![cutover::journal::Entry::Confirm {
        at: now,
        operator: "rehearsal".into(),
        step: StepId::AddNewMx,
        mailbox: None,
        evidence: vec![],
    }];
    let history = cutover::journal::History::from_entries(rolled_back.iter());
    rolled_back.extend(
        cutover::runbook::rollback::start(&history, "rehearsal", "the new MX answers 451", now)
            .expect("a rollback"),
    );
    let mut app = App::new(plan.clone(), &rolled_back, Role::Driving, now);
    app.rehearsal = true;
    app.rehearsal_screens.started = true;
    app.reevaluate();
    let next = app.eval.next.as_ref().expect("a next step");
    assert_eq!(next.step, StepId::RollbackAddOldMx);
    assert!(
        next.actions
            .iter()
            .any(|a| a.ends_with("In this rehearsal, the DNS host is the console: press 9.")),
        "{:?}",
        next.actions
    );

    let broken = perform(
        &world,
        OperatorAction::for_key(Rehearse::BreakNewServer).expect("b is a console key"),
    )
    .await
    .unwrap();
    assert_eq!(
        broken.text,
        "the new provider breaks: its MX mx.new-host.test answers \"451 4.3.0 Temporary failure: the mail store is unavailable, try again later\" to every message; senders defer and retry"
    );
    let deferred = sender.send("user1", raw(2)).await;
    assert!(
        matches!(
            &deferred,
            Delivery::Deferred { reason: DeferReason::TemporaryFailure { host, reply } }
                if host == "mx.new-host.test." && reply.starts_with("451 4.3.0")
        ),
        "{deferred:?}"
    );
    // What the cockpit measures: the SMTP probe of the new MX gets no definite answer.
    let mut entries = Vec::new();
    let gate = probe_and_gate(&world, &plan, &mut entries).await;
    assert_eq!(gate.status, Status::Unknown, "{}", gate.evidence);
    assert!(gate.evidence.contains("451 4.3.0"), "{}", gate.evidence);

    // `9` puts the old MX back beside the broken new one: once the resolver's cached set
    // expires, the sender's retry goes to the old server (the new one answers 451).
    perform(&world, OperatorAction::RestoreOldMx).await.unwrap();
    world
        .clock
        .skip_to(world.clock.now() + SignedDuration::from_secs(301));
    assert!(
        matches!(
            sender.send("user1", raw(2)).await,
            Delivery::Delivered { host, .. } if host == "mail.old-host.test."
        ),
        "the deferred message reaches the old server"
    );
    let on_old = world.old.store().messages("user1", "INBOX").unwrap();
    assert!(
        on_old
            .iter()
            .any(|m| String::from_utf8_lossy(&m.raw).contains("<way-back-2@rehearsal.test>"))
    );

    perform(
        &world,
        OperatorAction::for_key(Rehearse::DeleteNewMx).expect("x is a console key"),
    )
    .await
    .unwrap();
    assert_eq!(zone_mx(&world).await.1, vec!["mail.old-host.test."]);
    let spf = perform(
        &world,
        OperatorAction::for_key(Rehearse::SpfOldOnly).expect("z is a console key"),
    )
    .await
    .unwrap();
    assert_eq!(spf.text, "SPF is now \"v=spf1 a:mail.old-host.test -all\"");
    assert_eq!(
        zone_txt(&world, "@").await.1,
        vec!["v=spf1 a:mail.old-host.test -all"]
    );
}
