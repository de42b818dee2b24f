//! The commands about the plan itself: `init`, `check`, `timeline` and `notice`.

use crate::step::StepId;
use std::path::Path;
use std::process::ExitCode;

use jiff::Timestamp;

use super::{Format, to_json};
use crate::dns::discover::{DiscoverOptions, Discovery, discover, plan_text};
use crate::plan::Plan;
use crate::runbook::Runbook;
use crate::runbook::timeline;
use crate::sanitize::sanitize;
use crate::session::CommandFailure;

/// What `cutover init` fills beyond the template.
#[derive(Debug, Default)]
pub(crate) struct InitChoice {
    pub(crate) discover: bool,
    /// As written after --resolver and --authoritative: "addr" or "addr:port".
    pub(crate) resolvers: Vec<String>,
    pub(crate) authoritative: Vec<String>,
    /// Provider preset ids.
    pub(crate) to: Option<String>,
    pub(crate) from: Option<String>,
}

/// `cutover init`: writes a complete, commented plan for `domain` to `output`. Exit 1
/// (nothing written) when `--discover` could not ask the DNS or the domain does not exist.
pub(crate) fn init(
    domain: &str,
    output: &Path,
    force: bool,
    choice: &InitChoice,
    now: Timestamp,
) -> Result<ExitCode, CommandFailure> {
    use crate::plan::WhichSide;
    use crate::plan::init::{Overrides, apply, provider, providers, render};

    let preset = |id: &Option<String>| {
        id.as_deref()
            .map(provider)
            .transpose()
            .map_err(|e| CommandFailure::Usage(e.to_string()))
    };
    let to = preset(&choice.to)?;
    let from = preset(&choice.from)?;
    let all = providers().map_err(|e| CommandFailure::Usage(e.to_string()))?;
    let addresses = |texts: &[String], flag: &str| {
        texts
            .iter()
            .map(|t| {
                crate::plan::load::parse_server_address(t).ok_or_else(|| {
                    CommandFailure::Usage(format!(
                        "{flag} `{}` is not an IP address with an optional port; write e.g. 9.9.9.9 or 127.0.0.1:5353",
                        sanitize(t)
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let resolvers = addresses(&choice.resolvers, "--resolver")?;
    let authoritative = addresses(&choice.authoritative, "--authoritative")?;
    // `to_string`: the template's error is a message for the operator, whatever its type.
    let template = render(domain, now).map_err(|e| CommandFailure::Usage(e.to_string()))?;
    if output.exists() && !force {
        return Err(CommandFailure::WouldOverwrite(output.to_path_buf()));
    }
    let text = if choice.discover {
        let options = DiscoverOptions::new(resolvers, authoritative);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(CommandFailure::Runtime)?;
        match runtime.block_on(discover(domain, &options)) {
            Ok(found) => {
                let text = plan_text(&found, from.as_ref(), to.as_ref(), &all, now)
                    .map_err(|e| CommandFailure::Usage(e.to_string()))?;
                println!("{}", discovery_summary(&found));
                text
            }
            Err(e) => {
                eprintln!("cutover: {e}\nNo plan was written.");
                return Ok(ExitCode::from(1));
            }
        }
    } else {
        let overrides = Overrides {
            old: from
                .as_ref()
                .map(|p| p.side_table(WhichSide::Old, domain_of(&template))),
            new: to
                .as_ref()
                .map(|p| p.side_table(WhichSide::New, domain_of(&template))),
            sync_limits: crate::plan::init::sync_limits(from.as_ref(), to.as_ref()),
            ..Overrides::default()
        };
        apply(&template, &overrides)
    };
    std::fs::write(output, text).map_err(|source| CommandFailure::Write {
        path: output.to_path_buf(),
        source,
    })?;
    println!(
        "Wrote {}. Edit the [old], [new] and [[mailbox]] sections, then run `cutover check --plan {}`.",
        output.display(),
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The domain as the template wrote it (lowercase, no trailing dot), from its `domain =` line.
fn domain_of(template: &str) -> &str {
    template
        .lines()
        .find_map(|l| l.strip_prefix("domain = \""))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
}

/// One line on what discovery found, for the terminal.
fn discovery_summary(d: &Discovery) -> String {
    format!(
        "Discovered {}: {} MX, {}, {}, asked at {}.",
        d.domain,
        d.mx.as_ref().map_or(0, |m| m.records.len()),
        if d.spf.is_some() {
            "an SPF record"
        } else {
            "no SPF record"
        },
        crate::units::count(d.dkim.len() as u64, "DKIM selector", "DKIM selectors"),
        d.servers
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// `cutover init --list-providers`: one line per preset.
pub(crate) fn list_providers() -> Result<(), CommandFailure> {
    let all = crate::plan::init::providers().map_err(|e| CommandFailure::Usage(e.to_string()))?;
    let width = all.iter().map(|p| p.id.len()).max().unwrap_or(0);
    for p in all {
        println!("{:width$}  {}", p.id, p.summary);
    }
    Ok(())
}

/// `cutover check`: every diagnostic on stdout as FILE:LINE:COLUMN, then a one-line verdict.
pub(crate) fn check(path: &Path) -> Result<(), CommandFailure> {
    match crate::plan::load(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                println!("{w}");
            }
            let p = &loaded.plan;
            println!(
                "{}: the plan is valid: {} → {}, {}, day 1 on {}{}",
                path.display(),
                sanitize(&p.old.name),
                sanitize(&p.new.name),
                crate::units::count(p.mailboxes.len() as u64, "mailbox", "mailboxes"),
                timeline::working_dates(p, 1)
                    .first()
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                if loaded.warnings.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({})",
                        crate::units::count(loaded.warnings.len() as u64, "warning", "warnings")
                    )
                }
            );
            if p.canary.is_none() {
                println!("{}", super::canary::NOT_PROVEN);
            }
            print!("{}", super::canary::selector_line(p));
            Ok(())
        }
        Err(errors) => {
            for d in &errors.diagnostics {
                println!("{d}");
            }
            Err(CommandFailure::PlanHasErrors(errors))
        }
    }
}

/// `cutover timeline`: the three working days, as text, Markdown or JSON.
/// The waits' ends come from the journal (never the network).
pub(crate) fn timeline(plan: &Plan, format: Format) -> Result<(), CommandFailure> {
    use crate::clock::Clock;
    let session = crate::session::Session::open(plan)?;
    let eval = session.evaluate(
        crate::clock::SystemClock.now(),
        &crate::session::Observations::default(),
    );
    let mut t = session.timeline.clone();
    t.set_wait_ends(&eval.steps);
    t.replan(plan, &session.runbook, &eval.steps, session.history());
    match format {
        Format::Text => print!("{}", t.text()),
        Format::Markdown => print!("{}", t.markdown()),
        Format::Json => println!("{}", to_json(&t)?),
    }
    Ok(())
}

/// The timeline re-planned from the journal (never the network), at `now`; the plan's
/// timeline when the journal cannot be read.
fn replanned(plan: &Plan) -> timeline::Timeline {
    use crate::clock::Clock;
    match crate::session::Session::open(plan) {
        Ok(session) => {
            let eval = session.evaluate(
                crate::clock::SystemClock.now(),
                &crate::session::Observations::default(),
            );
            let mut t = session.timeline.clone();
            t.set_wait_ends(&eval.steps);
            t.replan(plan, &session.runbook, &eval.steps, session.history());
            t
        }
        Err(_) => timeline::build(plan, &Runbook::for_plan(plan)),
    }
}

/// The announcement to employees (R13), dated from the timeline re-planned from the
/// journal, saying "(moved from …)" where a date differs from the plan's.
pub(crate) fn notice(plan: &Plan) -> String {
    let t = replanned(plan);
    let dated = |id: StepId, format: &str| {
        t.step(&id)
            .map(|s| {
                let expected = s.expected_start.strftime(format).to_string();
                let planned = s.start.strftime(format).to_string();
                if expected == planned {
                    expected
                } else {
                    format!("{expected} (moved from {planned})")
                }
            })
            .unwrap_or_default()
    };
    let when = |id: StepId| dated(id, "%A %-d %B at %H:%M");
    let day = |id: StepId| dated(id, "%A %-d %B %Y");
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
        switch = when(StepId::AddNewMx),
        copy = when(StepId::FinalCopy),
        shutdown = day(StepId::DecommissionOld),
        operator = sanitize(&plan.operator),
    )
}
