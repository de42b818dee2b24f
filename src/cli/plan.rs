//! The commands about the plan itself: `init`, `check`, `timeline` and `notice`.

use std::path::Path;

use jiff::Timestamp;

use super::{Format, to_json};
use crate::plan::Plan;
use crate::runbook::Runbook;
use crate::runbook::timeline;
use crate::sanitize::sanitize;
use crate::session::Failure;

/// `cutover init`: writes a complete, commented plan for `domain` to `output`.
pub(crate) fn init(
    domain: &str,
    output: &Path,
    force: bool,
    now: Timestamp,
) -> Result<(), Failure> {
    // `to_string`: the template's error is a message for the operator, whatever its type.
    let text = crate::plan::init::render(domain, now).map_err(|e| Failure::Usage(e.to_string()))?;
    if output.exists() && !force {
        return Err(Failure::WouldOverwrite(output.to_path_buf()));
    }
    std::fs::write(output, text).map_err(|source| Failure::Write {
        path: output.to_path_buf(),
        source,
    })?;
    println!(
        "Wrote {}. Edit the [old], [new] and [[mailbox]] sections, then run `cutover check --plan {}`.",
        output.display(),
        output.display()
    );
    Ok(())
}

/// `cutover check`: every diagnostic on stdout as FILE:LINE:COLUMN, then a one-line verdict.
pub(crate) fn check(path: &Path) -> Result<(), Failure> {
    match crate::plan::load(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                println!("{w}");
            }
            let p = &loaded.plan;
            println!(
                "{}: the plan is valid: {} → {}, {} mailboxes, day 1 on {}{}",
                path.display(),
                sanitize(&p.old.name),
                sanitize(&p.new.name),
                p.mailboxes.len(),
                timeline::working_dates(p, 1)
                    .first()
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                if loaded.warnings.is_empty() {
                    String::new()
                } else {
                    format!(" ({} warning(s))", loaded.warnings.len())
                }
            );
            Ok(())
        }
        Err(errors) => {
            for d in &errors.diagnostics {
                println!("{d}");
            }
            Err(Failure::PlanHasErrors(errors))
        }
    }
}

/// `cutover timeline`: the three working days, as text, Markdown or JSON.
pub(crate) fn timeline(plan: &Plan, format: Format) -> Result<(), Failure> {
    let t = timeline::build(plan, &Runbook::for_plan(plan));
    match format {
        Format::Text => print!("{}", t.text()),
        Format::Markdown => print!("{}", t.markdown()),
        Format::Json => println!("{}", to_json(&t)?),
    }
    Ok(())
}

/// The announcement to employees (R13), dated from the timeline.
pub(crate) fn notice(plan: &Plan) -> String {
    let t = timeline::build(plan, &Runbook::for_plan(plan));
    let when = |id: &str| {
        t.step(id)
            .map(|s| s.start.strftime("%A %-d %B at %H:%M").to_string())
            .unwrap_or_default()
    };
    let day = |id: &str| {
        t.step(id)
            .map(|s| s.start.strftime("%A %-d %B %Y").to_string())
            .unwrap_or_default()
    };
    format!(
        "Subject: Our email moves to {new} — what to do before {shutdown}\n\
\n\
Dear colleagues,\n\
\n\
Our email (@{domain}) moves from {old} to {new}. Nothing stops: you keep\n\
receiving and sending mail throughout.\n\
\n\
- Today and tomorrow: log in to your new mailbox with the credentials you\n\
  received, and set it up on your phone and in Outlook. Ask us now if\n\
  anything is unclear.\n\
- From {switch}, new mail arrives only in the new mailbox.\n\
- Your remaining old mail is copied to the new mailbox from {copy}.\n\
- Move your calendars, contacts and files from {old} before {shutdown}.\n\
\n\
The old mail server will be shut down on {shutdown}. Anything left there\n\
after that is lost. Before that date, please:\n\
- remove the old account from Outlook and your phone (archive it first if it\n\
  was POP3), and\n\
- turn off any POP3 fetch from the old mailbox into the new one.\n\
\n\
Thank you,\n\
{operator}\n",
        domain = plan.domain,
        old = sanitize(&plan.old.name),
        new = sanitize(&plan.new.name),
        switch = when("add-new-mx"),
        copy = when("final-copy"),
        shutdown = day("decommission-old"),
        operator = sanitize(&plan.operator),
    )
}
