//! The headless commands: init, check, timeline, status, applied, confirm, reopen, notice.
//!
//! Exit codes: 0 success; 1 refused (a check fails, or another cockpit
//! drives); 2 an invalid plan or wrong usage.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use jiff::Timestamp;

use crate::actions::{Refusal, confirmation_entry};
use crate::clock::{Clock, SystemClock};
use crate::journal::Entry;
use crate::plan::{Plan, Severity};
use crate::runbook::eval::confirm_blockers;
use crate::runbook::timeline;
use crate::runbook::{Evaluation, Runbook};
use crate::sanitize::sanitize;
pub use crate::session::{Failure, Observations, Session};

#[derive(Debug, Parser)]
#[command(
    name = "cutover",
    version,
    about = "A terminal cockpit for moving a company's email to a new mail server with no downtime and no lost message",
    long_about = "A terminal cockpit for moving a company's email to a new mail server with no downtime \
and no lost message.\n\nThe plan file defaults to ./cutover.toml or $CUTOVER_PLAN. The journal \
(every confirmation with its evidence) is written beside it as <plan-stem>.journal.\n\n\
Exit codes: 0 success; 1 refused (a check fails, or another cockpit drives); 2 invalid plan or usage."
)]
pub struct Cli {
    /// The plan file.
    #[arg(
        long,
        global = true,
        env = "CUTOVER_PLAN",
        default_value = "cutover.toml"
    )]
    pub plan: PathBuf,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a complete, commented plan for a domain.
    Init {
        /// The mail domain that moves, e.g. example.com.
        #[arg(long)]
        domain: String,
        /// Where to write it (default: the --plan path, ./cutover.toml).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Validate the plan: every error as FILE:LINE:COLUMN, exit 0 or 2.
    Check,
    /// The three working days with every step and wait.
    Timeline {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Evaluate every step and print what to do next (exit 0 whenever it could evaluate).
    Status {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
        /// No network I/O: checks that need live data are unknown.
        #[arg(long)]
        offline: bool,
    },
    /// Record that you made a step's change (at the DNS host or elsewhere); no gate.
    Applied {
        /// A step id, e.g. lower-ttl.
        step: String,
    },
    /// Confirm a step with the evidence now; refused (exit 1) while a check fails.
    Confirm {
        step: String,
        /// Tick one mailbox of a per-mailbox step.
        #[arg(long)]
        mailbox: Option<String>,
        /// Confirm although checks fail; the reason is journaled verbatim.
        #[arg(long = "override", value_name = "REASON")]
        override_reason: Option<String>,
        /// No network I/O: record the latest evidence the journal holds.
        #[arg(long)]
        offline: bool,
    },
    /// Take back a confirmation (or one mailbox's tick).
    Reopen {
        step: String,
        #[arg(long)]
        mailbox: Option<String>,
    },
    /// The announcement to employees (R13), with the dates from the timeline.
    Notice,
    /// Copy the mail the new server lacks from the old one, verified; the old server is only read.
    ///
    /// Runs at any time (a pre-copy before the switch makes the final copy short); only
    /// confirming `final-copy` waits for its 24 h gate. Checkpoints and progress go to the
    /// journal, so a rerun resumes and the cockpit follows. Exit codes: 0 every mailbox
    /// verified complete; 1 some incomplete; 2 plan or usage error; 3 authentication
    /// failed; 4 a server unreachable.
    Sync {
        /// Copy only this mailbox (repeatable); default: every mailbox of the plan.
        #[arg(long = "mailbox", value_name = "ADDRESS")]
        mailboxes: Vec<String>,
        /// List what would be copied; change nothing anywhere.
        #[arg(long)]
        dry_run: bool,
        /// Run in the background, surviving the end of the SSH session; output goes to
        /// <plan-dir>/<plan-stem>.sync.log.
        #[arg(long)]
        detach: bool,
    },
    /// The DNS matrix: every name and type at every authoritative server and resolver.
    Dns {
        /// Query again every `dns.poll` until interrupted.
        #[arg(long)]
        watch: bool,
        /// Print the round as JSON (the `dns` object of `status --json`).
        #[arg(long, conflicts_with = "watch")]
        json: bool,
    },
    /// Open the cockpit (the default on a terminal). Logs go to <plan-dir>/<plan-stem>.log.
    #[command(
        long_about = "Open the full-screen cockpit: timeline, next step, DNS, mailboxes, journal. \
It is also what `cutover` does with no command when stdout is a terminal (else it prints `status`).\n\n\
Logs go to <plan-dir>/<plan-stem>.log (e.g. ./cutover.log), never to the screen. A second cockpit \
on the same plan observes (read-only) while the first drives. Press ? inside for the keys."
    )]
    Tui {
        /// No network I/O: start no DNS or mailbox watcher; live checks stay unknown.
        #[arg(long)]
        offline: bool,
    },
    /// Rehearse the whole migration on a sandbox on 127.0.0.1 (needs nothing installed).
    #[command(
        long_about = "Rehearse the whole three-day migration on a sandbox: an authoritative DNS server, \
three caching public resolvers and an old and a new IMAP server, all in-process on 127.0.0.1, \
with a simulated clock. The rehearsal's plan, secrets (mode 0600), journal and cockpit log are written to a \
fresh temporary directory, removed at the end; --keep DIR keeps them in DIR instead. Nothing \
else is written.\n\n--autopilot runs the procedure without the cockpit and prints a report; \
--mistake makes one classic mistake on purpose. Exit codes with --autopilot: 0 clean; 1 a check \
alarmed (or was overridden) or mail was deferred, nothing lost; 2 mail would have been lost; \
3 the rehearsal could not run."
    )]
    Demo {
        /// Simulated seconds per real second (default: 432, three days in about ten minutes;
        /// with --autopilot: as fast as possible).
        #[arg(long)]
        speed: Option<f64>,
        /// Keep the rehearsal's plan, secrets and journal in DIR.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
        /// Run the whole procedure without the cockpit and print a report.
        #[arg(long)]
        autopilot: bool,
        /// Make this mistake on purpose (with --autopilot).
        #[arg(long, value_enum, requires = "autopilot")]
        mistake: Option<crate::sandbox::autopilot::Mistake>,
        /// How many mailboxes the rehearsal company has.
        #[arg(long, default_value_t = 5)]
        mailboxes: usize,
        /// Old messages in total on the old server.
        #[arg(long, default_value_t = 400)]
        messages: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

/// Runs the CLI; returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let clock = SystemClock;
    let result = match cli.command {
        Some(Command::Init {
            domain,
            output,
            force,
        }) => init(
            &domain,
            output.as_deref().unwrap_or(&cli.plan),
            force,
            clock.now(),
        ),
        Some(Command::Check) => check(&cli.plan),
        Some(Command::Timeline { format }) => {
            with_plan(&cli.plan, |plan| timeline_cmd(plan, format))
        }
        Some(Command::Status { json, offline }) => {
            with_plan(&cli.plan, |plan| status(plan, json, offline, &clock))
        }
        None if std::io::IsTerminal::is_terminal(&std::io::stdout()) => {
            with_plan(&cli.plan, |plan| cockpit(plan, false))
        }
        None => with_plan(&cli.plan, |plan| status(plan, false, false, &clock)),
        Some(Command::Tui { offline }) => with_plan(&cli.plan, |plan| cockpit(plan, offline)),
        Some(Command::Applied { step }) => {
            with_plan(&cli.plan, |plan| applied(plan, &step, &clock))
        }
        Some(Command::Confirm {
            step,
            mailbox,
            override_reason,
            offline,
        }) => with_plan(&cli.plan, |plan| {
            confirm(
                plan,
                &step,
                mailbox.as_deref(),
                override_reason.as_deref(),
                offline,
                &clock,
            )
        }),
        Some(Command::Reopen { step, mailbox }) => with_plan(&cli.plan, |plan| {
            reopen(plan, &step, mailbox.as_deref(), &clock)
        }),
        Some(Command::Sync {
            mailboxes,
            dry_run,
            detach,
        }) => with_plan(&cli.plan, |plan| {
            if detach {
                sync_detached(plan, &mailboxes, dry_run)
            } else {
                sync_cmd(plan, mailboxes, dry_run, &clock)
            }
        }),
        Some(Command::Dns { watch, json }) => {
            with_plan(&cli.plan, |plan| dns_cmd(plan, watch, json, &clock))
        }
        Some(Command::Demo {
            speed,
            keep,
            autopilot,
            mistake,
            mailboxes,
            messages,
        }) => Ok(crate::sandbox::demo::run(
            &crate::sandbox::demo::DemoOptions {
                speed,
                keep,
                autopilot,
                mistake,
                mailboxes,
                messages,
            },
        )),
        Some(Command::Notice) => with_plan(&cli.plan, |plan| {
            print!("{}", notice(plan));
            Ok(0)
        }),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("cutover: {e}");
            ExitCode::from(e.code)
        }
    }
}

fn with_plan(path: &Path, f: impl FnOnce(&Plan) -> Result<u8, Failure>) -> Result<u8, Failure> {
    match crate::plan::load(path) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("{w}");
            }
            f(&loaded.plan)
        }
        Err(errors) => Err(Failure::new(2, errors.to_string())),
    }
}

fn init(domain: &str, output: &Path, force: bool, now: Timestamp) -> Result<u8, Failure> {
    let text = crate::plan::init::render(domain, now).map_err(|e| Failure::new(2, e))?;
    if output.exists() && !force {
        return Err(Failure::new(
            2,
            format!(
                "{} exists; use --force to overwrite it, or -o to write elsewhere",
                output.display()
            ),
        ));
    }
    std::fs::write(output, text)
        .map_err(|e| Failure::new(2, format!("cannot write {}: {e}", output.display())))?;
    println!(
        "Wrote {}. Edit the [old], [new] and [[mailbox]] sections, then run `cutover check --plan {}`.",
        output.display(),
        output.display()
    );
    Ok(0)
}

fn check(path: &Path) -> Result<u8, Failure> {
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
            Ok(0)
        }
        Err(errors) => {
            for d in &errors.diagnostics {
                println!("{d}");
            }
            Err(Failure::new(
                2,
                format!(
                    "{} error(s) in the plan",
                    errors
                        .diagnostics
                        .iter()
                        .filter(|d| d.severity == Severity::Error)
                        .count()
                ),
            ))
        }
    }
}

fn cockpit(plan: &Plan, offline: bool) -> Result<u8, Failure> {
    crate::tui::run(
        plan,
        crate::tui::Options {
            offline,
            ..crate::tui::Options::default()
        },
        Some(crate::live::workers()),
    )
    .map_err(|e| Failure {
        code: 1,
        message: e.to_string(),
    })
}

fn timeline_cmd(plan: &Plan, format: Format) -> Result<u8, Failure> {
    let t = timeline::build(plan, &Runbook::for_plan(plan));
    match format {
        Format::Text => print!("{}", t.text()),
        Format::Markdown => print!("{}", t.markdown()),
        Format::Json => println!("{}", to_json(&t)?),
    }
    Ok(0)
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, Failure> {
    serde_json::to_string_pretty(v).map_err(|e| Failure::new(1, format!("cannot encode JSON: {e}")))
}

/// `status --json`'s `mailboxes[]`: the probes (or, unmeasured, every login `unknown`),
/// with `synced_percent` and `verified` from the copies the journal records.
fn mailboxes_json(session: &Session, observed: &Observations) -> serde_json::Value {
    let unknown_side = |login: &str| serde_json::json!({"login": login, "messages": null, "folders": [], "error": observed.mail_note});
    let mut rows: Vec<serde_json::Value> = match &observed.mail {
        Some(probes) => probes
            .iter()
            .map(|p| serde_json::to_value(p).unwrap_or(serde_json::Value::Null))
            .collect(),
        None => session
            .plan
            .mailboxes
            .iter()
            .map(|m| {
                serde_json::json!({
                    "address": m.address,
                    "old": unknown_side("unknown"),
                    "new": unknown_side("unknown"),
                    "synced_percent": null,
                    "fetch_detected": null,
                    "verified": null,
                })
            })
            .collect(),
    };
    for row in &mut rows {
        let address = row["address"].as_str().unwrap_or_default().to_string();
        if let Some(sync) = session.history.sync.get(&address) {
            let total = sync.messages_done + sync.messages_left;
            if row["synced_percent"].is_null() && total > 0 {
                row["synced_percent"] =
                    serde_json::json!(sync.messages_done as f64 * 100.0 / total as f64);
            }
            if row["verified"].is_null() {
                row["verified"] = serde_json::json!(sync.state == "verified");
            }
        }
    }
    serde_json::Value::Array(rows)
}

fn status(plan: &Plan, json: bool, offline: bool, clock: &dyn Clock) -> Result<u8, Failure> {
    let mut session = Session::open(plan)?;
    let observed = session.observe(clock, offline)?;
    let now = clock.now();
    let eval = session.evaluate(now, &observed);
    let eval = session.record_observed_steps(eval, now, &observed)?;
    let text = if json {
        let mut value = serde_json::to_value(&eval)
            .map_err(|e| Failure::new(1, format!("cannot encode JSON: {e}")))?;
        value["dns"] = match &observed.dns {
            Some(snapshot) => serde_json::to_value(snapshot)
                .map_err(|e| Failure::new(1, format!("cannot encode JSON: {e}")))?,
            None => serde_json::Value::Null,
        };
        value["mailboxes"] = mailboxes_json(&session, &observed);
        format!("{}\n", to_json(&value)?)
    } else {
        let mut text = status_text(&session, &eval);
        if let Some(snapshot) = &observed.dns {
            text.push_str("\nDNS\n");
            text.push_str(&crate::dns::render_matrix(snapshot, plan, terminal_width()));
        }
        text.push_str(&mailboxes_text(&session, &observed));
        text
    };
    // A closed pipe (`| head`) is not worth an error: the reader has what it wanted.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(0)
}

/// The mailboxes in short: logins and counts on both sides, copy state; at most 20 rows.
fn mailboxes_text(session: &Session, observed: &Observations) -> String {
    const SHOWN: usize = 20;
    let mut s = String::from("\nMailboxes\n");
    if let Some(note) = &observed.mail_note {
        s.push_str(&format!("  {}\n", sanitize(note)));
    }
    let Some(probes) = &observed.mail else {
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
        "  {:<32} {:<13} {:<13} {:>7} {:>7}  copy\n",
        "address", "old login", "new login", "old #", "new #"
    ));
    for p in probes.iter().take(SHOWN) {
        let copy = session
            .history
            .sync
            .get(&p.address)
            .map(|c| {
                format!(
                    "{} ({} copied, {} left)",
                    c.state, c.messages_done, c.messages_left
                )
            })
            .unwrap_or_else(|| "-".into());
        s.push_str(&format!(
            "  {:<32} {:<13} {:<13} {:>7} {:>7}  {}\n",
            sanitize(&p.address),
            word(p.old.login),
            word(p.new.login),
            count(p.old.messages),
            count(p.new.messages),
            sanitize(&copy)
        ));
    }
    if probes.len() > SHOWN {
        s.push_str(&format!(
            "  … and {} more (`status --json` lists every one)\n",
            probes.len() - SHOWN
        ));
    }
    s
}

/// The status as an operator reads it on a terminal or in a mail.
pub fn status_text(session: &Session, eval: &Evaluation) -> String {
    let plan = &session.plan;
    let mut s = String::new();
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
    for st in &eval.steps {
        let ticks = st
            .mailboxes
            .as_ref()
            .map(|t| format!(" ({}/{} mailboxes)", t.ticked, t.total))
            .unwrap_or_default();
        s.push_str(&format!(
            "  {} {:<10} d{} {:<20} {}{}\n",
            st.state.glyph(),
            st.state.as_str(),
            st.day,
            st.id,
            st.title,
            ticks
        ));
    }
    if let Some(next) = &eval.next {
        s.push_str(&format!(
            "\nNext: {} — {} ({})\n",
            next.step,
            next.title,
            next.state.as_str()
        ));
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
            s.push_str(&format!("  Also ready: {}\n", next.also_ready.join(", ")));
        }
    } else {
        s.push_str("\nEvery step is done.\n");
    }
    s
}

fn session_now(eval: &Evaluation) -> Timestamp {
    eval.now.parse().unwrap_or(Timestamp::UNIX_EPOCH)
}

use crate::units::countdown;

/// `<plan-dir>/<plan-stem>.sync.log`: where a detached copy writes what it would print.
pub fn sync_log_path(plan: &Path) -> PathBuf {
    crate::plan::beside(plan, "sync.log")
}

/// Starts this same copy as a process of its own session, so a dropped SSH link never stops it.
fn sync_detached(plan: &Plan, mailboxes: &[String], dry_run: bool) -> Result<u8, Failure> {
    use std::os::unix::process::CommandExt;
    let log_path = sync_log_path(&plan.path);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| {
            Failure::new(
                2,
                format!("cannot open the copy's log {}: {e}", log_path.display()),
            )
        })?;
    let exe = std::env::current_exe().map_err(|e| {
        Failure::new(
            2,
            format!("cannot find the cutover binary to run in the background: {e}"),
        )
    })?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("sync").arg("--plan").arg(&plan.path);
    for m in mailboxes {
        cmd.arg("--mailbox").arg(m);
    }
    if dry_run {
        cmd.arg("--dry-run");
    }
    let err_log = log.try_clone().map_err(|e| {
        Failure::new(
            2,
            format!("cannot open the copy's log {}: {e}", log_path.display()),
        )
    })?;
    cmd.stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(err_log);
    // SAFETY: setsid is async-signal-safe and touches no memory of this process.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| Failure::new(2, format!("cannot start the copy in the background: {e}")))?;
    println!(
        "The copy runs in the background as pid {}. Its output: {}. Its progress is in the journal \
(the cockpit and `cutover status` follow it).",
        child.id(),
        log_path.display()
    );
    Ok(0)
}

fn sync_cmd(
    plan: &Plan,
    mailboxes: Vec<String>,
    dry_run: bool,
    clock: &dyn Clock,
) -> Result<u8, Failure> {
    let session = Session::open(plan)?;
    for m in &mailboxes {
        session.mailbox(m)?;
    }
    let Some(credentials) = &plan.credentials else {
        return Err(Failure::new(
            2,
            "the plan has no [credentials]: add `secrets_file = \"secrets.toml\"` (or a password_command) to copy mail",
        ));
    };
    let creds = crate::mail::CredentialSource::new(Some(credentials))
        .map_err(|e| Failure::new(2, format!("cannot read the credentials: {e}")))?;
    // Before the 24 h gate this is a pre-copy: useful, but `final-copy` still waits.
    let now = clock.now();
    if let Some(gate) = session
        .history
        .switch_at()
        .and_then(|s| s.checked_add(jiff::SignedDuration::from_hours(24)).ok())
        && now < gate
    {
        println!(
            "Pre-copy: the switch was less than 24 h ago; `final-copy` waits until {} and the copy must run again then.",
            crate::runbook::eval::local(plan, gate)
        );
    } else if session.history.switch_at().is_none() {
        println!(
            "Pre-copy: MX has not switched yet; `final-copy` runs again 24 h after the switch."
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::new(1, format!("cannot start the I/O runtime: {e}")))?;
    let options = crate::mail::SyncOptions {
        mailboxes,
        dry_run,
        ..crate::mail::SyncOptions::default()
    };
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let report = runtime.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<crate::mail::SyncProgress>(64);
        let printer = tokio::spawn(async move {
            let mut last_line = std::time::Instant::now();
            while let Some(p) = rx.recv().await {
                let line = format!(
                    "{}: {} copied, {} left, {:.0} msg/s{}",
                    sanitize(&p.mailbox),
                    p.messages_done,
                    p.messages_left,
                    p.messages_per_sec,
                    p.eta_secs
                        .map(|s| format!(
                            ", about {} left",
                            countdown(jiff::SignedDuration::from_secs(s as i64))
                                .trim_start_matches("in ")
                        ))
                        .unwrap_or_default()
                );
                if interactive {
                    print!("\r\x1b[2K{line}");
                    let _ = std::io::stdout().flush();
                } else if last_line.elapsed() >= std::time::Duration::from_secs(5)
                    || p.messages_left == 0
                {
                    println!("{line}");
                    last_line = std::time::Instant::now();
                }
            }
            if interactive {
                println!();
            }
        });
        let report =
            crate::mail::run_sync(plan, &creds, clock, &options, &session.journal, Some(tx)).await;
        let _ = printer.await;
        report
    });
    print!("{}", report.render_table());
    Ok(u8::try_from(report.exit_code()).unwrap_or(1))
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .or_else(|| {
            ratatui::crossterm::terminal::size()
                .ok()
                .map(|(w, _)| usize::from(w))
        })
        .unwrap_or(100)
        .clamp(60, 240)
}

fn dns_cmd(plan: &Plan, watch: bool, json: bool, clock: &dyn Clock) -> Result<u8, Failure> {
    let mut session = Session::open(plan)?;
    loop {
        let observed = session.observe(clock, false)?;
        let Some(snapshot) = observed.dns else {
            return Ok(0);
        };
        if json {
            println!("{}", to_json(&snapshot)?);
            return Ok(0);
        }
        let matrix = crate::dns::render_matrix(&snapshot, plan, terminal_width());
        if watch && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            // Clear and home, so the matrix redraws in place.
            print!("\x1b[2J\x1b[H");
        }
        println!(
            "{} — DNS at {}\n{matrix}",
            plan.domain,
            crate::runbook::eval::local(plan, snapshot.measured_at)
        );
        if !watch {
            return Ok(0);
        }
        std::thread::sleep(plan.dns.poll);
    }
}

fn applied(plan: &Plan, step: &str, clock: &dyn Clock) -> Result<u8, Failure> {
    let session = Session::open(plan)?;
    let def = session.step_def(step)?;
    session.ensure_not_observing()?;
    session.journal.append(&Entry::Applied {
        at: clock.now(),
        operator: plan.operator.clone(),
        step: def.id.clone(),
    })?;
    println!(
        "Recorded: {} applied. cutover now watches for its outcome.",
        def.id
    );
    Ok(0)
}

fn confirm(
    plan: &Plan,
    step: &str,
    mailbox: Option<&str>,
    override_reason: Option<&str>,
    offline: bool,
    clock: &dyn Clock,
) -> Result<u8, Failure> {
    let mut session = Session::open(plan)?;
    let def = session.step_def(step)?.clone();
    session.ensure_not_observing()?;
    let mailbox = match mailbox {
        Some(m) if !def.per_mailbox => {
            return Err(Failure::new(
                2,
                format!(
                    "{} is not a per-mailbox step; confirm it without --mailbox ({})",
                    def.id,
                    sanitize(m)
                ),
            ));
        }
        Some(m) => Some(session.mailbox(m)?),
        None => None,
    };
    let observed = session.observe(clock, offline)?;
    let now = clock.now();
    let eval = session.evaluate(now, &observed);
    let status = eval
        .step(&def.id)
        .ok_or_else(|| Failure::new(2, format!("no step {}", def.id)))?;
    let blockers = confirm_blockers(status, mailbox.is_some());
    let what = match &mailbox {
        Some(m) => format!("{} for {m}", def.id),
        None => def.id.clone(),
    };
    let entry = match confirmation_entry(status, mailbox, override_reason, &plan.operator, now) {
        Ok(entry) => entry,
        Err(Refusal::EmptyReason) => {
            return Err(Failure::new(
                2,
                "--override needs a reason: say why the failing checks may be ignored",
            ));
        }
        Err(Refusal::Blocked(blockers)) => {
            let mut msg =
                format!("refused: {what} cannot be confirmed while these checks do not hold:\n");
            for c in &blockers {
                msg.push_str(&format!(
                    "  {} {} ({}): {}\n",
                    c.status.mark(),
                    c.id,
                    c.status.as_str(),
                    sanitize(&c.evidence)
                ));
            }
            msg.push_str(&format!(
                "Fix them, or confirm anyway with --override \"REASON\" (the reason is journaled).{}",
                if offline { " Without --offline, cutover measures the live checks." } else { "" }
            ));
            return Err(Failure::new(1, msg));
        }
    };
    session.journal.append(&entry)?;
    match entry {
        Entry::Override { .. } => println!(
            "Recorded: {what} confirmed by override ({} check(s) did not hold).",
            blockers.len()
        ),
        _ => println!("Recorded: {what} confirmed."),
    }
    Ok(0)
}

fn reopen(
    plan: &Plan,
    step: &str,
    mailbox: Option<&str>,
    clock: &dyn Clock,
) -> Result<u8, Failure> {
    let session = Session::open(plan)?;
    let def = session.step_def(step)?.clone();
    session.ensure_not_observing()?;
    let mailbox = mailbox.map(|m| session.mailbox(m)).transpose()?;
    session.journal.append(&Entry::Reopen {
        at: clock.now(),
        operator: plan.operator.clone(),
        step: def.id.clone(),
        mailbox: mailbox.clone(),
    })?;
    match mailbox {
        Some(m) => println!("Recorded: {} reopened for {m}.", def.id),
        None => println!("Recorded: {} reopened.", def.id),
    }
    Ok(0)
}

/// The announcement to employees (R13), dated from the timeline.
pub fn notice(plan: &Plan) -> String {
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
