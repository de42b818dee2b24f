//! The commands, one file per group as cargo has them: the plan itself (`plan`), the
//! evaluation (`status`), what the operator did (`steps`), the copy (`sync`), DNS
//! (`dns`), the archive of the old server (`archive`), the migration report (`report`), and the
//! full-screen cockpit and rehearsal (`cockpit`). This file parses the
//! command line and sends each command to its file.
//!
//! A command ends with `Ok` or with a [`CommandFailure`], whose `exit_code()` is the
//! process's: 0 success; 1 refused (a check fails, or another cockpit drives); 2 an
//! invalid plan or wrong usage; for `sync`, 1 incomplete, 3 a login failed, 4 a server
//! unreachable.

mod archive;
mod canary;
mod cockpit;
mod dns;
mod new_mx;
mod plan;
mod report;
mod status;
mod status_report;
mod steps;
mod sync;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::clock::{Clock, SystemClock};
use crate::plan::Plan;
use crate::session::CommandFailure;

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
/// The command line: `--plan` and one command (none: the cockpit on a terminal, else `status`).
pub struct Cli {
    /// The plan file.
    #[arg(
        long,
        global = true,
        env = "CUTOVER_PLAN",
        default_value = "cutover.toml"
    )]
    pub(crate) plan: PathBuf,
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Write a complete, commented plan for a domain.
    #[command(
        long_about = "Write a complete, commented plan for a domain, which passes `cutover check` as written.\n\n\
--discover fills [old] (MX, the old mail host's SPF terms), [dns] authoritative and old_ttl from \
the domain's DNS: the NS are found through --resolver (else /etc/resolv.conf) and asked directly \
(or the --authoritative servers instead). --to and --from fill [new] and [old] from a provider \
preset (--list-providers). Exit codes: 0 written; 1 the DNS could not be asked or the domain \
does not exist (nothing written); 2 usage."
    )]
    Init {
        /// The mail domain that moves, e.g. example.com.
        #[arg(long, required_unless_present = "list_providers")]
        domain: Option<String>,
        /// Where to write it (default: the --plan path, ./cutover.toml).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
        /// Fill [old] and [dns] from the domain's DNS as served now.
        #[arg(long)]
        discover: bool,
        /// A resolver to find the NS through (repeatable); default: /etc/resolv.conf's.
        #[arg(long = "resolver", value_name = "ADDR[:PORT]", requires = "discover")]
        resolvers: Vec<String>,
        /// Ask this server instead of the NS hosts (repeatable).
        #[arg(
            long = "authoritative",
            value_name = "ADDR[:PORT]",
            requires = "discover"
        )]
        authoritative: Vec<String>,
        /// Fill [new] from this provider's preset (see --list-providers).
        #[arg(long, value_name = "PROVIDER")]
        to: Option<String>,
        /// Fill [old] from this provider's preset (with --discover: the old provider the SPF terms are attributed to).
        #[arg(long, value_name = "PROVIDER")]
        from: Option<String>,
        /// List the provider presets, one line each.
        #[arg(long, exclusive = true)]
        list_providers: bool,
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
        /// Ask the new MX now whether it accepts every address (RCPT TO, never DATA);
        /// without it, the journal's last answer is shown with its age.
        #[arg(long, conflicts_with = "offline")]
        probe_smtp: bool,
        /// Print the JSON Schema of `--json`'s document (assets/status.schema.json); no plan needed.
        #[arg(long, conflicts_with_all = ["json", "offline", "probe_smtp"])]
        json_schema: bool,
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
        /// Confirm although checks fail; the reason (at least 10 characters) is journaled
        /// verbatim.
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
    /// Roll back to the old server (R18), from add-new-mx's confirmation until decommission-old's.
    #[command(
        long_about = "Roll back to the old server (R18): possible once the new MX was added and until \
the old server is decommissioned. Journals who decided, when and why, shows the forward steps from \
the switch on as rolled back and appends the way back to the runbook: SPF and TTL first when \
they were changed, the old MX added back, the new MX removed once the old is served and its TTL \
has passed, the mail that reached the new server copied back (`cutover sync --reverse`), and the \
old account back in the programs of users who removed it. `status` shows each step with its \
records. --retry ends the rollback: the forward steps from the switch on are pending again. \
--stay ends the migration on the old server: the new server's terms leave SPF, then the TTLs \
are restored, each a step with its records. \
Exit codes: 0 recorded; 1 refused (not possible now, or another cockpit drives); 2 usage (a \
reason under 10 characters)."
    )]
    Rollback {
        /// Why (at least 10 characters); journaled verbatim.
        #[arg(long, value_name = "REASON")]
        reason: String,
        /// End the rollback and go forward again.
        #[arg(long, conflicts_with = "stay")]
        retry: bool,
        /// Stay on the old server: the new server's terms leave SPF, the TTLs are restored.
        #[arg(long)]
        stay: bool,
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
        /// The copy back after `cutover rollback` (R18): new → old, only what arrived on the
        /// new server after the switch; the one write to the old server. With `--detach`
        /// it runs in the background like the forward copy.
        #[arg(long)]
        reverse: bool,
    },
    /// The migration report from the plan and the journal: summary, timeline, overrides,
    /// alarms, DNS, mailboxes. Never contacts a server.
    #[command(
        long_about = "The migration report for the people who did not watch, from the plan and the \
journal alone (no server is contacted), at any point of the migration: a summary, every step with \
its planned and actual times, who confirmed it and its evidence as journaled, every override with \
its reason, every alarm with the journal lines between raise and clear, the DNS records at each \
stage, and one row per mailbox. Unfinished, it says \"in progress\" and as of which journal line.\n\n\
--format html writes one self-contained page (no script, nothing fetched, printable on A4); md the \
same sections as Markdown; csv the mailbox table only; json the whole report (its schema: \
--json-schema). Exit codes: 0 written; 1 the journal could not be read; 2 invalid plan, usage, or \
the file could not be written."
    )]
    Report {
        #[arg(long, value_enum, default_value_t = crate::report::Format::Md)]
        format: crate::report::Format,
        /// Write to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Print the JSON Schema of `--format json` (assets/report.schema.json) and exit.
        #[arg(long, exclusive = true)]
        json_schema: bool,
    },
    /// Keep the old server's mail in the archive ([archive] dir), or verify it.
    ///
    /// Reads from the old server only what the archive lacks (excluded folders, messages the
    /// copies did not read), within the [sync] limits and daily volume; refuses to start when
    /// it would not fit in the free space. --verify checks every file against
    /// MANIFEST.sha256 and every folder's count against archive.json and, unless --offline,
    /// every old message against the archive; it journals what it found. Exit codes: 0
    /// complete or verified; 1 incomplete, not verified, or no room; 2 plan or usage error.
    Archive {
        /// Only this mailbox (repeatable); default: every mailbox of the plan.
        #[arg(long = "mailbox", value_name = "ADDRESS")]
        mailboxes: Vec<String>,
        /// Verify the archive (DIR, default the plan's [archive] dir) instead of filling it in.
        #[arg(long, value_name = "DIR", num_args = 0..=1)]
        verify: Option<Option<PathBuf>>,
        /// With --verify: check the archive alone, without asking the old server.
        #[arg(long, requires = "verify")]
        offline: bool,
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
    /// Send canaries now and report where each landed (needs [canary] in the plan).
    #[command(
        long_about = "Prove that mail flows by sending it: a canary from the external mailbox through \
the MX the world sees (world), from this host on port 25 to each MX host with MAIL FROM:<> (direct), \
and from the canary mailbox through [new] submission to the external mailbox (outbound). Each is \
looked for by IMAP on the old and the new server (every folder) and at the external mailbox, \
removed where found (UID EXPUNGE of its own UID; never on the old server), and journaled.\n\n\
Exit codes: 0 every canary landed where expected (a warning included: Junk, or a route that cannot \
be tried from here); 1 one landed in the wrong place or was not found in time; 2 plan or usage \
error; 3 a login failed; 4 a server unreachable."
    )]
    Canary {
        /// Which route to send on.
        #[arg(long, value_enum, default_value_t = canary::RouteChoice::All)]
        route: canary::RouteChoice,
        /// Print JSON for scripts (`canaries[]`, as in `status --json`).
        #[arg(long)]
        json: bool,
        /// How long to look for the canaries (default 5m).
        #[arg(long, value_name = "DURATION")]
        timeout: Option<String>,
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
pub(crate) enum Format {
    Text,
    Markdown,
    Json,
}

/// Runs one command. `Ok` carries the exit code of a command that finished (0, or the
/// cockpit's or the rehearsal's); every other outcome is a [`CommandFailure`] with its own code.
pub fn run(cli: Cli) -> Result<ExitCode, CommandFailure> {
    let clock = SystemClock;
    let path = cli.plan.as_path();
    match cli.command {
        Some(Command::Init {
            list_providers: true,
            ..
        }) => plan::list_providers()?,
        Some(Command::Init {
            domain,
            output,
            force,
            discover,
            resolvers,
            authoritative,
            to,
            from,
            list_providers: false,
        }) => {
            let choice = plan::InitChoice {
                discover,
                resolvers,
                authoritative,
                to,
                from,
            };
            return plan::init(
                domain.as_deref().unwrap_or_default(),
                output.as_deref().unwrap_or(path),
                force,
                &choice,
                clock.now(),
            );
        }
        Some(Command::Check) => plan::check(path)?,
        Some(Command::Timeline { format }) => plan::timeline(&load_plan(path)?, format)?,
        Some(Command::Notice) => print!("{}", plan::notice(&load_plan(path)?)),
        Some(Command::Status {
            json_schema: true, ..
        }) => println!("{}", to_json(&status_report::schema())?),
        Some(Command::Status {
            json,
            offline,
            probe_smtp,
            json_schema: false,
        }) => status::run(&load_plan(path)?, json, offline, probe_smtp, &clock)?,
        None if std::io::IsTerminal::is_terminal(&std::io::stdout()) => {
            return cockpit::run(&load_plan(path)?, false).map(ExitCode::from);
        }
        None => status::run(&load_plan(path)?, false, false, false, &clock)?,
        Some(Command::Tui { offline }) => {
            return cockpit::run(&load_plan(path)?, offline).map(ExitCode::from);
        }
        Some(Command::Applied { step }) => steps::applied(&load_plan(path)?, &step, &clock)?,
        Some(Command::Confirm {
            step,
            mailbox,
            override_reason,
            offline,
        }) => steps::confirm(
            &load_plan(path)?,
            &step,
            mailbox.as_deref(),
            override_reason.as_deref(),
            offline,
            &clock,
        )?,
        Some(Command::Rollback {
            reason,
            retry,
            stay,
        }) => steps::rollback(&load_plan(path)?, &reason, retry, stay, &clock)?,
        Some(Command::Reopen { step, mailbox }) => {
            steps::reopen(&load_plan(path)?, &step, mailbox.as_deref(), &clock)?
        }
        Some(Command::Sync {
            mailboxes,
            dry_run,
            detach: true,
            reverse,
        }) => sync::detached(&load_plan(path)?, &mailboxes, dry_run, reverse)?,
        Some(Command::Sync {
            mailboxes,
            dry_run,
            detach: false,
            reverse,
        }) => sync::run(&load_plan(path)?, mailboxes, dry_run, reverse, &clock)?,
        Some(Command::Report {
            json_schema: true, ..
        }) => report::schema(),
        Some(Command::Report { format, out, .. }) => {
            report::run(&load_plan(path)?, format, out.as_deref())?
        }
        Some(Command::Archive {
            mailboxes,
            verify: None,
            ..
        }) => archive::fill(&load_plan(path)?, mailboxes, &clock)?,
        Some(Command::Archive {
            mailboxes,
            verify: Some(dir),
            offline,
        }) => match (crate::plan::load(path), dir) {
            // An archive alone (copied elsewhere, no plan beside it) still verifies offline.
            (Err(_), Some(dir)) => archive::verify_without_plan(&dir)?,
            (loaded, dir) => {
                let loaded = loaded.map_err(CommandFailure::InvalidPlan)?;
                for w in &loaded.warnings {
                    eprintln!("{w}");
                }
                archive::verify(&loaded.plan, dir, mailboxes, offline, &clock)?
            }
        },
        Some(Command::Dns { watch, json }) => dns::run(&load_plan(path)?, watch, json, &clock)?,
        Some(Command::Canary {
            route,
            json,
            timeout,
        }) => {
            let code = canary::run(&load_plan(path)?, route, json, timeout.as_deref(), &clock)?;
            return Ok(ExitCode::from(code));
        }
        Some(Command::Demo {
            speed,
            keep,
            autopilot,
            mistake,
            mailboxes,
            messages,
        }) => {
            let code = cockpit::demo(speed, keep, autopilot, mistake, mailboxes, messages);
            return Ok(ExitCode::from(code));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The document `cutover status --json` prints, at `clock`'s time: what tests compare and
/// validate against the schema (the binary reads only the wall clock).
pub fn status_json(
    plan: &Plan,
    offline: bool,
    probe_smtp: bool,
    clock: &dyn Clock,
) -> Result<serde_json::Value, CommandFailure> {
    serde_json::to_value(status::report(plan, offline, probe_smtp, clock)?)
        .map_err(CommandFailure::Json)
}

/// What `cutover status --json-schema` prints: the JSON Schema of `status --json`.
pub fn status_schema() -> serde_json::Value {
    status_report::schema().to_value()
}

/// Loads the plan, printing its warnings on stderr.
fn load_plan(path: &Path) -> Result<Plan, CommandFailure> {
    let loaded = crate::plan::load(path).map_err(CommandFailure::InvalidPlan)?;
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    Ok(loaded.plan)
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, CommandFailure> {
    serde_json::to_string_pretty(v).map_err(CommandFailure::Json)
}

/// The terminal's width for the DNS matrix: `$COLUMNS`, else the terminal's, else 100.
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
