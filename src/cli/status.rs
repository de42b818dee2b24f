//! `cutover status`: every step's state and what to do next, as text or JSON.

use crate::step::StepId;
use std::io::Write;

use jiff::Timestamp;

use super::status_report::{
    MailboxRow, NextReport, Probed, SCHEMA_VERSION, StatusReport, StepReport,
};
use super::{terminal_width, to_json};
use crate::clock::Clock;
use crate::mail::LoginState;
use crate::mail::probe::SideProbe;
use crate::plan::Plan;
use crate::runbook::Evaluation;
use crate::sanitize::sanitize;
use crate::session::{CommandFailure, Observations, Session};
use crate::units::countdown;

/// `status --json`'s `mailboxes[]`: the probes (or, unmeasured, every login `unknown`),
/// with `synced_percent` and `verified` from the copies the journal records, each
/// mailbox's `copy_estimate_s` (`null` while its `old_bytes` is unmeasured) and what the
/// new MX answered for its addresses.
fn mailbox_rows(
    session: &Session,
    observed: &Observations,
    new_mx: &super::new_mx::Shown,
    estimate: &crate::mail::sync::CopyEstimate,
) -> Vec<MailboxRow> {
    let unknown_side = || SideProbe {
        login: LoginState::Unknown,
        messages: None,
        folders: Vec::new(),
        error: observed.mail_note.clone(),
        inbox: None,
        inbox_newest_at: None,
    };
    let plan = &session.plan;
    let row = |address: &str, old: SideProbe, new: SideProbe| MailboxRow {
        address: address.to_string(),
        old,
        new,
        synced_percent: None,
        fetch_detected: None,
        probed: None,
        verified: None,
        old_bytes: None,
        new_mx: new_mx.mailbox_answers(plan, address),
        copy_estimate_s: estimate.mailbox(address).and_then(|m| m.copy_estimate_s),
    };
    let mut rows: Vec<MailboxRow> = match &observed.mail {
        Some(probes) => probes
            .iter()
            .map(|p| MailboxRow {
                synced_percent: p.synced_percent,
                fetch_detected: p.fetch_detected,
                probed: Some(Probed {
                    fetch_share: p.fetch_share,
                    probed_at: p.probed_at,
                }),
                verified: p.verified,
                old_bytes: p.old_bytes,
                ..row(&p.address, p.old.clone(), p.new.clone())
            })
            .collect(),
        None => plan
            .mailboxes
            .iter()
            .map(|m| row(&m.address, unknown_side(), unknown_side()))
            .collect(),
    };
    for row in &mut rows {
        if let Some(sync) = session.history().sync.get(&row.address) {
            let total = sync.messages_done + sync.messages_left;
            if row.synced_percent.is_none() && total > 0 {
                row.synced_percent = Some(sync.messages_done as f64 * 100.0 / total as f64);
            }
            if row.verified.is_none() {
                row.verified = Some(sync.state == "verified");
            }
        }
    }
    rows
}

/// What one `status` run saw and decided, before it is written as text or JSON.
struct Round {
    session: Session,
    observed: Observations,
    new_mx: super::new_mx::Shown,
    eval: Evaluation,
    estimate: crate::mail::sync::CopyEstimate,
    now: Timestamp,
}

/// One live round (none offline), the SMTP probe when asked, the automatic steps it
/// shows done journaled, then the evaluation.
fn observe_round(
    plan: &Plan,
    offline: bool,
    probe_smtp: bool,
    clock: &dyn Clock,
) -> Result<Round, CommandFailure> {
    let mut session = Session::open(plan)?;
    let observed = session.observe(clock, offline)?;
    if !offline {
        super::canary::send_when_due(&mut session, clock)?;
    }
    let (fresh, failed) = match probe_smtp && !offline {
        true => match session.probe_smtp(clock)? {
            Ok(probe) => (Some(probe), None),
            Err(why) => (None, Some(why)),
        },
        false => (None, None),
    };
    let now = clock.now();
    let new_mx = super::new_mx::Shown::pick(session.history(), fresh, failed, now);
    let eval = session.evaluate(now, &observed);
    let eval = session.record_observed_steps(eval, now, &observed)?;
    let estimate =
        crate::mail::sync::CopyEstimate::new(plan, observed.mail.as_deref(), session.history());
    Ok(Round {
        session,
        observed,
        new_mx,
        eval,
        estimate,
        now,
    })
}

/// `status --json`'s document for one round.
fn report_of(round: Round) -> StatusReport {
    let mailboxes = mailbox_rows(
        &round.session,
        &round.observed,
        &round.new_mx,
        &round.estimate,
    );
    let plan = &round.session.plan;
    let dns_host_card = host_card(&round.eval, plan, &round.observed);
    let eval = round.eval;
    StatusReport {
        schema_version: SCHEMA_VERSION,
        domain: eval.domain,
        now: eval.now,
        day: eval.day,
        alarms: eval.alarms,
        steps: eval.steps.into_iter().map(StepReport::from).collect(),
        next: eval.next.map(NextReport::from),
        schedule: eval.schedule,
        smtp: round.new_mx.hosts(plan, round.now),
        dns: round.observed.dns,
        mailboxes,
        dns_host_card,
        copy_estimate_s: round.estimate.copy_estimate_s,
        copy_rate: round.estimate.rate,
        canaries: super::canary::status_canaries(round.session.history()),
        mail_flow_note: super::canary::mail_flow_note(plan),
    }
}

/// `status --json`'s document, at `clock`'s time.
pub(super) fn report(
    plan: &Plan,
    offline: bool,
    probe_smtp: bool,
    clock: &dyn Clock,
) -> Result<StatusReport, CommandFailure> {
    Ok(report_of(observe_round(plan, offline, probe_smtp, clock)?))
}

/// `cutover status`: one round, then the evaluation as text or JSON.
pub(crate) fn run(
    plan: &Plan,
    json: bool,
    offline: bool,
    probe_smtp: bool,
    clock: &dyn Clock,
) -> Result<(), CommandFailure> {
    let round = observe_round(plan, offline, probe_smtp, clock)?;
    let text = if json {
        format!("{}\n", to_json(&report_of(round))?)
    } else {
        let Round {
            session,
            observed,
            new_mx,
            eval,
            estimate,
            ..
        } = &round;
        let mut text = status_text(session, eval);
        if let Some(card) = host_card(eval, plan, observed) {
            text.push('\n');
            text.push_str(&card.text("  "));
        }
        if let Some(snapshot) = &observed.dns {
            text.push_str("\nDNS\n");
            text.push_str(&crate::dns::render_matrix(snapshot, plan, terminal_width()));
        }
        text.push_str(&mailboxes_text(session, observed, estimate));
        text.push_str(&new_mx.text(plan));
        text.push_str(&super::canary::status_text(
            plan,
            session.history(),
            round.now,
        ));
        text
    };
    // A closed pipe (`| head`) is not worth an error: the reader has what it wanted.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(())
}

/// "At your DNS host now" for the next step, when it changes records there.
fn host_card(
    eval: &Evaluation,
    plan: &Plan,
    observed: &Observations,
) -> Option<crate::dns::host_card::HostCard> {
    let next = eval.next.as_ref()?;
    crate::dns::host_card::host_card(&next.step, plan, observed.dns.as_ref())
}

/// The mailboxes in short: logins and counts on both sides, the old size and the copy
/// estimate, copy state; at most 20 rows; then the whole copy's estimate and its rate.
fn mailboxes_text(
    session: &Session,
    observed: &Observations,
    estimate: &crate::mail::sync::CopyEstimate,
) -> String {
    const SHOWN: usize = 20;
    let mut s = String::from("\nMailboxes\n");
    if let Some(note) = &observed.mail_note {
        s.push_str(&format!("  {}\n", sanitize(note)));
    }
    let Some(probes) = &observed.mail else {
        if observed.mail_note.is_none() {
            // Only --offline measures nothing without a note: an empty table never reads as "none".
            s.push_str("  not measured (--offline): without it cutover logs in to every mailbox\n");
        }
        return s;
    };
    let word = |l: crate::mail::LoginState| {
        serde_json::to_value(l)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let count = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_else(|| "?".into());
    s.push_str(&format!(
        "  {:<32} {:<13} {:<13} {:>7} {:>7} {:>8} {:>11}  copy\n",
        "address", "old login", "new login", "old #", "new #", "old size", "copy time"
    ));
    for p in probes.iter().take(SHOWN) {
        let copy = session
            .history()
            .sync
            .get(&p.address)
            .map(|c| {
                format!(
                    "{} ({} copied, {} left)",
                    c.state, c.messages_done, c.messages_left
                )
            })
            .unwrap_or_else(|| "-".into());
        let each = estimate.mailbox(&p.address);
        let size = each
            .and_then(|m| m.old_bytes)
            .map_or_else(|| "?".into(), crate::units::bytes);
        let time = each
            .and_then(|m| m.copy_estimate_s)
            .map_or_else(|| "?".into(), crate::units::duration_secs);
        s.push_str(&format!(
            "  {:<32} {:<13} {:<13} {:>7} {:>7} {:>8} {:>11}  {}\n",
            sanitize(&p.address),
            word(p.old.login),
            word(p.new.login),
            count(p.old.messages),
            count(p.new.messages),
            size,
            time,
            sanitize(&copy)
        ));
    }
    if probes.len() > SHOWN {
        s.push_str(&format!(
            "  … and {} more (`status --json` lists every one)\n",
            probes.len() - SHOWN
        ));
    }
    s.push_str(&format!("  {}\n", estimate.summary(&session.plan.sync)));
    s
}

/// The status as an operator reads it on a terminal or in a mail.
fn status_text(session: &Session, eval: &Evaluation) -> String {
    let plan = &session.plan;
    let mut s = String::new();
    // Alarms lead: the first lines, above everything else, with their fix and its records.
    for a in &eval.alarms {
        s.push_str(&format!(
            "ALARM {} since {}: {}\n  Fix: {}\n",
            a.id,
            a.since,
            sanitize(&a.evidence),
            sanitize(&a.fix.action)
        ));
        for r in &a.fix.records {
            s.push_str(&format!("    {r}\n"));
        }
    }
    let day = match eval.day {
        0 => "before day 1".to_string(),
        4 => "after day 3".to_string(),
        d => format!("day {d} of 3"),
    };
    s.push_str(&format!(
        "{} — {} → {} — {} — {}\n",
        plan.domain,
        sanitize(&plan.old.name),
        sanitize(&plan.new.name),
        day,
        eval.now
    ));
    if let Some(sch) = &eval.schedule {
        s.push_str(&format!("Schedule: {}\n", sch.text));
    }
    s.push_str("\nSteps\n");
    // The way back has no day: it follows its decision. Its steps say "back" where the
    // forward ones say their day; the columns widen only when a rollback is listed.
    let rolling_back = eval.steps.iter().any(|st| st.id.is_rollback());
    let day_width = if rolling_back { 4 } else { 2 };
    let state_width = eval
        .steps
        .iter()
        .map(|st| st.state.as_str().len())
        .max()
        .unwrap_or(0)
        .max(10);
    let id_width = eval
        .steps
        .iter()
        .map(|st| st.id.as_str().len())
        .max()
        .unwrap_or(0)
        .max(20);
    for st in &eval.steps {
        let ticks = st
            .mailboxes
            .as_ref()
            .map(|t| format!(" ({}/{} mailboxes)", t.ticked, t.total))
            .unwrap_or_default();
        let until = st
            .wait_until
            .map(|u| format!(" — until {}", crate::runbook::eval::local(plan, u)))
            .unwrap_or_default();
        let day = if st.id.is_rollback() {
            "back".to_string()
        } else {
            format!("d{}", st.day)
        };
        s.push_str(&format!(
            "  {} {:<state_width$} {day:<day_width$} {:<id_width$} {}{}{}\n",
            st.state.glyph(),
            st.state.as_str(),
            st.id.as_str(),
            st.title,
            ticks,
            until
        ));
    }
    if let Some(next) = &eval.next {
        s.push_str(&format!(
            "\nNext: {} — {} ({})\n",
            next.step,
            next.title,
            next.state.as_str()
        ));
        if let Some(alarm) = &next.alarm {
            s.push_str(&format!(
                "  First, alarm {alarm}: fix it before anything else.\n"
            ));
        }
        for w in &next.warnings {
            s.push_str(&format!("  Warning: {}\n", sanitize(w)));
        }
        s.push_str(&format!("  Why: {}\n", next.why));
        if let Some(until) = next.wait_until {
            s.push_str(&format!(
                "  Waiting until {} ({})\n",
                crate::runbook::eval::local(plan, until),
                countdown(until.duration_since(session_now(eval)))
            ));
        }
        if !next.blocked_by.is_empty() {
            s.push_str("  Blocked by:\n");
            for c in &next.blocked_by {
                s.push_str(&format!(
                    "    {} {}: {}\n",
                    c.status.mark(),
                    c.id,
                    sanitize(&c.evidence)
                ));
            }
        }
        s.push_str("  Do:\n");
        for a in &next.actions {
            s.push_str(&format!("    {a}\n"));
        }
        if !next.records.is_empty() {
            s.push_str(if next.records_from_plan_only {
                "  Records (from the plan; measure live DNS to merge with what is served now):\n"
            } else {
                "  Records:\n"
            });
            for r in &next.records {
                s.push_str(&format!("    {r}\n"));
            }
        }
        if !next.also_ready.is_empty() {
            s.push_str(&format!(
                "  Also ready: {}\n",
                StepId::join(&next.also_ready, ", ")
            ));
        }
    } else {
        s.push_str("\nEvery step is done.\n");
    }
    s
}

fn session_now(eval: &Evaluation) -> Timestamp {
    eval.now.parse().unwrap_or(Timestamp::UNIX_EPOCH)
}
