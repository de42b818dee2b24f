//! The commands that record what the operator did: `applied`, `confirm` and `reopen`.
//! Each is refused while another process drives the migration.

use crate::actions::{MIN_REASON_CHARS, Refusal, confirmation_entry, reason_is_enough};
use crate::clock::Clock;
use crate::journal::Entry;
use crate::plan::Plan;
use crate::runbook::eval::confirm_blockers;
use crate::sanitize::sanitize;
use crate::session::{CommandFailure, Session};

/// `cutover applied STEP`: the operator made the step's change; no gate.
pub(crate) fn applied(plan: &Plan, step: &str, clock: &dyn Clock) -> Result<(), CommandFailure> {
    let mut session = Session::open(plan)?;
    let def = session.step_def(step)?;
    session.ensure_not_observing()?;
    // Gates judged from the journal alone (no network round): a warning, never a refusal.
    let eval = session.evaluate(clock.now(), &crate::session::Observations::default());
    if let Some(warning) = eval
        .step(&def.id)
        .and_then(crate::runbook::eval::applied_warning)
    {
        eprintln!("warning: {warning}; recorded anyway.");
    }
    session.append(&Entry::Applied {
        at: clock.now(),
        operator: plan.operator.clone(),
        step: def.id.clone(),
    })?;
    println!(
        "Recorded: {} applied. cutover now watches for its outcome.",
        def.id
    );
    Ok(())
}

/// `cutover confirm STEP`: records the step done with the evidence now, or by override
/// with a reason; refused while a check does not hold.
pub(crate) fn confirm(
    plan: &Plan,
    step: &str,
    mailbox: Option<&str>,
    override_reason: Option<&str>,
    offline: bool,
    clock: &dyn Clock,
) -> Result<(), CommandFailure> {
    let mut session = Session::open(plan)?;
    let def = session.step_def(step)?;
    session.ensure_not_observing()?;
    // Before any measuring: a missing reason is a usage error, whatever the checks say.
    if let Some(reason) = override_reason
        && !reason_is_enough(reason)
    {
        return Err(short_reason(reason));
    }
    let mailbox = match mailbox {
        Some(m) if !def.per_mailbox => {
            return Err(CommandFailure::Usage(format!(
                "{} is not a per-mailbox step; confirm it without --mailbox ({})",
                def.id,
                sanitize(m)
            )));
        }
        Some(m) => Some(session.mailbox(m)?),
        None => None,
    };
    // The new MX is asked afresh when this step is gated on its answers.
    if !offline
        && def.gate.iter().any(|g| g == crate::smtp::NEW_MX_ACCEPTS)
        && let Err(why) = session.probe_smtp(clock)?
    {
        eprintln!("warning: {why}");
    }
    let observed = session.observe(clock, offline)?;
    let now = clock.now();
    let eval = session.evaluate(now, &observed);
    let status = eval
        .step(&def.id)
        .ok_or_else(|| CommandFailure::Usage(format!("no step {}", def.id)))?;
    let mut blockers = confirm_blockers(status, mailbox.is_some());
    blockers.extend(crate::actions::alarm_blockers(&def.id, &eval.alarms));
    let what = match &mailbox {
        Some(m) => format!("{} for {m}", def.id),
        None => def.id.to_string(),
    };
    let entry = match confirmation_entry(
        status,
        mailbox,
        override_reason,
        &plan.operator,
        now,
        &eval.alarms,
    ) {
        Ok(entry) => entry,
        Err(Refusal::ShortReason) => return Err(short_reason(override_reason.unwrap_or(""))),
        Err(Refusal::Blocked(blockers)) => {
            return Err(CommandFailure::Refused {
                what,
                blockers,
                offline,
            });
        }
    };
    session.append(&entry)?;
    // What the authoritative servers served when the DNS was judged changed: the report's
    // DNS section "as served". A mailbox's tick is not the step's confirmation.
    if let (Some(snapshot), None) = (&observed.dns, entry_mailbox(&entry)) {
        session.recorder.dns_records(&def.id, snapshot, now)?;
    }
    match entry {
        Entry::Override { .. } => println!(
            "Recorded: {what} confirmed by override ({} did not hold).",
            crate::units::count(blockers.len() as u64, "check", "checks")
        ),
        _ => println!("Recorded: {what} confirmed."),
    }
    Ok(())
}

fn entry_mailbox(entry: &Entry) -> Option<&str> {
    match entry {
        Entry::Confirm { mailbox, .. } | Entry::Override { mailbox, .. } => mailbox.as_deref(),
        _ => None,
    }
}

/// The refusal of an override whose reason is too short (exit 2).
fn short_reason(reason: &str) -> CommandFailure {
    let typed = reason.trim().chars().count();
    let given = match typed {
        0 => "an empty one".to_string(),
        1 => "one of 1 character".to_string(),
        n => format!("one of {n} characters"),
    };
    CommandFailure::Usage(format!(
        "--override needs a reason of at least {MIN_REASON_CHARS} characters, not {given}: say why the failing checks may be ignored (it is journaled verbatim), e.g. --override \"TTL checked by phone with the DNS host\""
    ))
}

/// `cutover reopen STEP`: takes back a confirmation, or one mailbox's tick.
pub(crate) fn reopen(
    plan: &Plan,
    step: &str,
    mailbox: Option<&str>,
    clock: &dyn Clock,
) -> Result<(), CommandFailure> {
    let mut session = Session::open(plan)?;
    let def = session.step_def(step)?;
    session.ensure_not_observing()?;
    let mailbox = mailbox.map(|m| session.mailbox(m)).transpose()?;
    session.append(&Entry::Reopen {
        at: clock.now(),
        operator: plan.operator.clone(),
        step: def.id.clone(),
        mailbox: mailbox.clone(),
    })?;
    match mailbox {
        Some(m) => println!("Recorded: {} reopened for {m}.", def.id),
        None => println!("Recorded: {} reopened.", def.id),
    }
    Ok(())
}

/// `cutover rollback --reason …`: decides the way back (R18), journaled with who, when and
/// why; the rollback steps it needs follow in the runbook. `--retry` goes forward again.
pub(crate) fn rollback(
    plan: &Plan,
    reason: &str,
    retry: bool,
    stay: bool,
    clock: &dyn Clock,
) -> Result<(), CommandFailure> {
    let mut session = Session::open(plan)?;
    session.ensure_not_observing()?;
    if !reason_is_enough(reason) {
        return Err(CommandFailure::Usage(format!(
            "--reason needs at least {MIN_REASON_CHARS} characters: say why (it is journaled verbatim), e.g. --reason \"new server refuses logins since 14:00\""
        )));
    }
    let now = clock.now();
    let history = session.history();
    let entries = if retry {
        crate::runbook::rollback::retry(history, &plan.operator, reason, now)
    } else if stay {
        crate::runbook::rollback::stay(history, &plan.operator, reason, now)
    } else {
        crate::runbook::rollback::start(history, &plan.operator, reason, now)
    }
    .map_err(CommandFailure::RollbackRefused)?;
    for entry in &entries {
        session.append(entry)?;
    }
    let eval = session.evaluate(now, &crate::session::Observations::default());
    if stay {
        println!(
            "Recorded: the migration ends on the old server; {} and {} follow the way back.",
            crate::step::StepId::StaySpfOldOnly,
            crate::step::StepId::StayRestoreTtl
        );
    } else if retry {
        println!(
            "Recorded: rollback ended; the steps from {} on are pending again.",
            crate::step::StepId::AddNewMx
        );
    } else {
        let steps: Vec<String> = eval
            .steps
            .iter()
            .filter(|s| s.id.is_rollback())
            .map(|s| format!("  {} {}", s.id, s.title))
            .collect();
        println!(
            "Recorded: rollback decided. The way back:\n{}",
            steps.join("\n")
        );
    }
    if let Some(next) = &eval.next {
        println!("Next: {} ({})", next.step, next.title);
    }
    Ok(())
}
