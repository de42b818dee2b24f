//! `cutover demo`: starts the sandbox world, writes a plan (and its secrets and journal) for it
//! into one rehearsal directory, and runs the rehearsal there.
//!
//! Nothing outside the rehearsal directory is written: the plan, `secrets.toml` (mode 0600) and
//! the journal beside the plan. Without `--keep` the directory is a fresh one under the system's
//! temporary directory and is removed at the end.

use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::autopilot::{self, AutopilotOptions, Mistake, Report};
use super::operator::{DKIM_SELECTOR, MIGRATION_TTL, RESTORED_MX_TTL, RESTORED_TXT_TTL};
use super::provider::SUBMISSION_CA;
use super::world::{EXTERNAL_MX, World, WorldError, WorldSpec};
use crate::plan::WhichSide;

/// What the operator asked `cutover demo` for.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Simulated seconds per real second; `None`: the default (interactive) or as fast as
    /// possible (autopilot).
    pub speed: Option<f64>,
    /// Keep the rehearsal's plan, secrets and journal in this directory.
    pub keep: Option<PathBuf>,
    pub autopilot: bool,
    pub mistake: Option<Mistake>,
    pub mailboxes: usize,
    /// Old mail in total, spread over the mailboxes and their folders.
    pub messages: usize,
}

impl Default for DemoOptions {
    fn default() -> DemoOptions {
        DemoOptions {
            speed: None,
            keep: None,
            autopilot: false,
            mistake: None,
            mailboxes: 5,
            messages: 400,
        }
    }
}

/// Simulated seconds per real second so the three days take about ten minutes of wall time.
pub const DEFAULT_SPEED: f64 = 432.0;

/// The rehearsal domain's first working day begins here (a Monday, UTC).
pub const REHEARSAL_START: &str = "2026-03-02T08:00:00Z";

/// The CA of the rehearsal's submission servers, written beside the plan (its `ca_file`).
const SUBMISSION_CA_FILE: &str = "rehearsal-ca.pem";

/// Folders each rehearsal mailbox is seeded with (INBOX and the sandbox's seeded folders).
const FOLDERS_PER_MAILBOX: usize = 8;

/// Why the rehearsal could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    #[error("cannot start the rehearsal world: {0}")]
    World(#[from] WorldError),
    #[error("cannot write the rehearsal files in {dir}: {source}")]
    Files {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the generated rehearsal plan {path} does not load (a bug): {detail}")]
    Plan { path: PathBuf, detail: String },
    #[error(transparent)]
    Autopilot(#[from] autopilot::AutopilotError),
    #[error("the rehearsal cockpit: {0}")]
    Cockpit(String),
}

/// The rehearsal directory: kept (`--keep`) or removed when dropped.
#[derive(Debug)]
pub struct RehearsalDir {
    pub path: PathBuf,
    keep: bool,
}

impl RehearsalDir {
    /// `keep` as given (created if missing), else a fresh directory under the temp dir.
    pub fn create(keep: Option<&Path>) -> Result<RehearsalDir, DemoError> {
        let (path, kept) = match keep {
            Some(dir) => (dir.to_path_buf(), true),
            None => {
                let nanos = Timestamp::now().as_nanosecond();
                let name = format!("cutover-rehearsal-{}-{nanos}", std::process::id());
                (std::env::temp_dir().join(name), false)
            }
        };
        std::fs::create_dir_all(&path).map_err(|source| DemoError::Files {
            dir: path.clone(),
            source,
        })?;
        Ok(RehearsalDir { path, keep: kept })
    }
}

impl Drop for RehearsalDir {
    fn drop(&mut self) {
        if !self.keep {
            // Best effort: a temp dir left behind is harmless and the OS cleans it eventually.
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The world for a rehearsal of `mailboxes` mailboxes and about `messages` old messages.
pub fn world_spec(mailboxes: usize, messages: usize, speed: f64) -> WorldSpec {
    let start: Timestamp = REHEARSAL_START.parse().unwrap_or(Timestamp::UNIX_EPOCH);
    let mut spec = WorldSpec::small(start);
    spec.mailboxes = mailboxes.max(1);
    spec.messages_per_folder = (messages / spec.mailboxes / FOLDERS_PER_MAILBOX).max(1);
    spec.body_size = 1_500;
    spec.speed = speed;
    spec
}

/// Writes `cutover.toml` and `secrets.toml` (mode 0600) for `world` into `dir`; returns the
/// plan's path. The journal will be `cutover.journal` beside it.
pub fn write_plan(dir: &Path, world: &World) -> Result<PathBuf, DemoError> {
    let spec = &world.spec;
    let files = |source| DemoError::Files {
        dir: dir.to_path_buf(),
        source,
    };
    // Named as an operator would name them, so the DNS pane's columns read as roles.
    let resolvers = world
        .resolver_addrs()
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{{ address = \"{a}\", name = \"resolver {}\" }}", i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    let mut plan = format!(
        "# cutover rehearsal plan: every server runs in-process on 127.0.0.1 (cutover demo).\n\
domain = \"{domain}\"\n\
start = \"{start}\"\n\
timezone = \"UTC\"\n\
working_days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]\n\
operator = \"rehearsal\"\n\
\n\
[dns]\n\
migration_ttl = \"{migration}m\"\n\
restore_ttl = {{ mx = \"{restore_mx}h\", txt = \"{restore_txt}h\" }}\n\
poll = \"5m\"\n\
timeout = \"2s\"\n\
resolvers = [{resolvers}]\n\
authoritative = [{{ address = \"{zone}\", name = \"ns1.{domain}\" }}]\n\
\n\
[old]\n\
name = \"Old host (rehearsal)\"\n\
mx = [\"10 {old_mx}.\"]\n\
spf = [\"a:{old_mx}\"]\n\
imap = {{ url = \"{old}\", tls = \"none\" }}\n\
\n\
[new]\n\
name = \"New host (rehearsal)\"\n\
mx = [\"10 {new_mx}.\"]\n\
spf = [\"a:{new_mx}\"]\n\
dkim_selector = \"{DKIM_SELECTOR}\"\n\
imap = {{ url = \"{new}\", tls = \"none\" }}\n\
smtp = [\"{new_smtp}\"]\n\
submission = {{ url = \"smtps://{new_submission}\", ca_file = \"{SUBMISSION_CA_FILE}\" }}\n\
\n\
[credentials]\n\
secrets_file = \"secrets.toml\"\n\
\n\
[sync]\n\
concurrency = 8\n\
\n\
[archive]\n\
dir = \"archive\"\n\
\n\
# Mail flow proven by sending mail: a dedicated mailbox on the domain, and a mailbox at an\n\
# external provider whose inbound MX writes Authentication-Results.\n\
[canary]\n\
mailbox = \"{canary}\"\n\
external = {{ address = \"{external}\", imap = {{ url = \"{external_imap}\", tls = \"none\" }}, submission = {{ url = \"smtps://{external_submission}\", ca_file = \"{SUBMISSION_CA_FILE}\" }}, auth = \"password\", authserv_id = \"{EXTERNAL_MX}\", received_by = [\"{EXTERNAL_MX}\"] }}\n",
        domain = spec.domain,
        migration = MIGRATION_TTL / 60,
        restore_mx = RESTORED_MX_TTL / 3600,
        restore_txt = RESTORED_TXT_TTL / 3600,
        start = REHEARSAL_START.trim_end_matches(":00Z"),
        zone = world.zone.addr(),
        old_mx = spec.old_mx,
        new_mx = spec.new_mx,
        old = world.imap_endpoint(WhichSide::Old).url,
        new = world.imap_endpoint(WhichSide::New).url,
        new_smtp = world.new_smtp.addr(),
        new_submission = world.new_submission.addr(),
        canary = world.canary.address,
        external = world.external_account.address,
        external_imap = world.external_imap().url,
        external_submission = world.external_submission.addr(),
    );
    std::fs::write(dir.join(SUBMISSION_CA_FILE), SUBMISSION_CA).map_err(files)?;
    let mut secrets = String::from("# Rehearsal passwords (generated; valid only for this run).\n");
    for employee in world.employees.iter().chain([&world.canary]) {
        plan.push_str(&format!(
            "\n[[mailbox]]\naddress = \"{}\"\nold_login = \"{}\"\nnew_login = \"{}\"\n",
            employee.address, employee.login, employee.login
        ));
        // The new MX lacks it at first: the rehearsal's refused address to fix (key `c`).
        if !employee.aliases.is_empty() {
            let aliases: Vec<String> = employee
                .aliases
                .iter()
                .map(|a| format!("\"{a}\""))
                .collect();
            plan.push_str(&format!("aliases = [{}]\n", aliases.join(", ")));
        }
        secrets.push_str(&format!(
            "\n[\"{}\"]\nold = \"{}\"\nnew = \"{}\"\n",
            employee.address, employee.password, employee.password
        ));
    }
    secrets.push_str(&format!(
        "\n[\"{}\"]\npassword = \"{}\"\n",
        world.external_account.address, world.external_account.password
    ));
    let plan_path = dir.join("cutover.toml");
    std::fs::write(&plan_path, plan).map_err(files)?;
    write_private(&dir.join("secrets.toml"), secrets.as_bytes()).map_err(files)?;
    Ok(plan_path)
}

/// Creates `path` readable by its owner only, then writes `bytes`.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// What a finished rehearsal leaves: the report and where its files are.
#[derive(Debug)]
pub struct Rehearsal {
    pub report: Report,
    pub dir: RehearsalDir,
    pub plan_path: PathBuf,
}

/// Runs the autopilot rehearsal (the caller's tokio runtime must be multi-threaded or
/// current-thread with I/O and time enabled).
pub async fn rehearse(opts: &DemoOptions) -> Result<Rehearsal, DemoError> {
    let dir = RehearsalDir::create(opts.keep.as_deref())?;
    // The autopilot drives simulated time itself: the clock stands still between its steps.
    let world = World::start(world_spec(opts.mailboxes, opts.messages, 0.0)).await?;
    let plan_path = write_plan(&dir.path, &world)?;
    let plan = crate::plan::load(&plan_path)
        .map_err(|errors| DemoError::Plan {
            path: plan_path.clone(),
            detail: errors.to_string(),
        })?
        .plan;
    let mut autopilot_opts = AutopilotOptions::for_mailboxes(opts.mailboxes);
    autopilot_opts.mistake = opts.mistake;
    autopilot_opts.pace = opts.speed;
    let report = autopilot::run(world, plan, autopilot_opts).await?;
    Ok(Rehearsal {
        report,
        dir,
        plan_path,
    })
}

/// `cutover demo`: returns the process exit code.
pub fn run(opts: &DemoOptions) -> u8 {
    if !opts.autopilot {
        return match run_interactive(opts) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("cutover demo: {e}");
                3
            }
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cutover demo: cannot start the I/O runtime: {e}");
            return 3;
        }
    };
    match runtime.block_on(rehearse(opts)) {
        Ok(rehearsal) => {
            print!("{}", rehearsal.report.render());
            if opts.keep.is_some() {
                println!(
                    "\nThe rehearsal's plan and journal are kept in {}.",
                    rehearsal.dir.path.display()
                );
            }
            rehearsal.report.exit_code()
        }
        Err(e) => {
            eprintln!("cutover demo: {e}");
            3
        }
    }
}

/// The interactive rehearsal: the cockpit on the sandbox, on its simulated clock.
mod interactive {
    use std::sync::Arc;
    use std::time::Duration;

    use jiff::SignedDuration;
    use tokio::sync::mpsc;

    use std::sync::Mutex;

    use jiff::Timestamp;

    use super::super::SimClock;
    use super::super::autopilot::{CopyRun, Report, Server, interactive_report, message};
    use super::super::mailflow::{Delivery, Pop3Fetch, Sender};
    use super::super::operator::{self, OperatorAction};
    use super::super::world::World;
    use crate::app::rehearsal::RehearsalUpdate;
    use crate::app::{Event, Rehearse};
    use crate::clock::Clock;
    use crate::journal::Journal;
    use crate::live::{Servers, Setup};
    use crate::mail::CredentialSource;
    use crate::plan::{Plan, WhichSide};
    use crate::tui::{RehearsalRequest, StartWorkers};

    /// Mail to the domain per simulated hour in the interactive rehearsal, per mailbox.
    const MAIL_PER_MAILBOX_HOUR: f64 = 4.0;

    /// Every mailbox is probed again this often, in simulated time.
    const PROBE_EVERY: Duration = Duration::from_secs(30 * 60);

    /// What the sandbox counts while a person drives, for the summary at the end.
    #[derive(Default)]
    pub struct Tally {
        /// The report's mail and copy counts (the rest comes from the journal at the end).
        pub report: Report,
        /// When each message a sender delivered reached the old server.
        pub old_deliveries: Vec<Timestamp>,
    }

    pub type SharedTally = Arc<Mutex<Tally>>;

    fn counting(tally: &SharedTally) -> std::sync::MutexGuard<'_, Tally> {
        // Counters only: a poisoned lock still holds usable numbers.
        tally.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The summary of this run so far, from its journal, the sandbox's counts and the servers.
    pub fn summary(plan: &Plan, world: &World, tally: &SharedTally) -> Option<Report> {
        let journal = Journal::for_plan(plan).ok()?;
        let entries = journal.replay().ok()?.entries;
        let runbook = crate::runbook::Runbook::for_plan(plan);
        let (report, old) = {
            let t = counting(tally);
            (t.report.clone(), t.old_deliveries.clone())
        };
        Some(interactive_report(
            plan,
            report,
            &old,
            &entries,
            &runbook,
            world,
            world.clock.now(),
        ))
    }

    fn clock_update(clock: &SimClock) -> Event {
        Event::Rehearsal(RehearsalUpdate::Clock {
            speed: clock.speed(),
            paused: clock.is_paused(),
            now: clock.now(),
        })
    }

    /// The cockpit's own workers (DNS watcher, prober, the facts they journal) on the
    /// sandbox's clock and servers; besides them, the senders and POP3 fetches, the copy key's
    /// engine, and the DNS host console behind the rehearsal keys.
    pub fn workers(
        world: Arc<World>,
        sandbox: tokio::runtime::Handle,
        tally: SharedTally,
    ) -> StartWorkers {
        Box::new(move |plan: &Plan, events: mpsc::Sender<Event>| {
            let mut workers = crate::live::start(plan, setup(&world), events.clone());
            // The header shows the clock from the first frame: paused, on the introduction.
            let _ = events.try_send(clock_update(&world.clock));
            let (console_tx, console_rx) = mpsc::channel::<RehearsalRequest>(16);
            let (fetches_tx, fetches_rx) = mpsc::channel::<Vec<Pop3Fetch>>(4);
            let (fetches_off_tx, fetches_off_rx) = mpsc::channel::<Vec<String>>(4);
            let copy = start_copier(
                plan.clone(),
                world.clone(),
                events.clone(),
                tally.clone(),
                fetches_off_tx,
            );
            sandbox.spawn(mail_traffic(
                world.clone(),
                fetches_rx,
                fetches_off_rx,
                tally.clone(),
            ));
            sandbox.spawn(console(
                Console {
                    world: world.clone(),
                    plan: plan.clone(),
                    tally,
                },
                console_rx,
                events,
                workers.refresh.clone(),
                fetches_tx,
            ));
            workers.rehearsal = Some(console_tx);
            workers.copy = Some(copy);
            workers
        })
    }

    /// The live workers' setup in the sandbox: its simulated clock and its loopback servers.
    fn setup(world: &World) -> Setup {
        Setup {
            clock: Arc::new(world.clock.clone()),
            servers: Servers {
                authoritative: vec![world.zone.addr()],
                resolvers: world.resolver_addrs(),
                old_imap: world.imap_endpoint(WhichSide::Old),
                new_imap: world.imap_endpoint(WhichSide::New),
            },
            probe_every: PROBE_EVERY,
            dns: crate::dns::RoundOptions::default(),
        }
    }

    /// The copy key in the rehearsal: the copy engine on the simulated clock (frozen while it
    /// runs), journaling its checkpoints and result as a detached `cutover sync` would.
    /// It runs on a thread of its own with its own runtime, so a long copy takes no time from
    /// the cockpit's loop or the sandbox's servers.
    fn start_copier(
        plan: Plan,
        world: Arc<World>,
        events: mpsc::Sender<Event>,
        tally: SharedTally,
        fetches_off: mpsc::Sender<Vec<String>>,
    ) -> mpsc::Sender<Option<String>> {
        let (tx, mut rx) = mpsc::channel::<Option<String>>(1);
        std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let creds = match CredentialSource::new(plan.credentials.as_ref()) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = events.send(Event::Notice(format!("rehearsal credentials: {e}"))).await;
                        return;
                    }
                };
                let Ok(journal) = Journal::open(Journal::path_for_plan(&plan.path)) else {
                    return;
                };
                let Ok((mut recorder, _)) = crate::recorder::Recorder::open(&plan) else {
                    return;
                };
                while let Some(mailbox) = rx.recv().await {
                    // During a rollback the copy key makes the copy back (`sync --reverse`).
                    recorder.catch_up();
                    if crate::runbook::rollback::active(recorder.history()).is_some() {
                        let notice =
                            copy_back_key(&plan, &world, &creds, &journal, &recorder, &fetches_off)
                                .await;
                        if events.send(Event::Notice(notice)).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    // As `cutover sync` does: what the copy reads is kept in the archive too.
                    let archive = super::super::archive::open(&plan).ok().flatten();
                    let options = crate::mail::SyncOptions {
                        mailboxes: mailbox.into_iter().collect(),
                        archive: archive.clone(),
                        ..crate::mail::SyncOptions::default()
                    };
                    let report = {
                        let _guard = world.clock.io_guard();
                        crate::mail::run_sync(&plan, &creds, &world.clock, &options, &journal, None).await
                    };
                    // The copy's handle on the archive goes first: its lock is released with the last one.
                    drop(options);
                    let finished = archive.map(|a| a.finish());
                    // Then `cutover archive` and `cutover archive --verify`, so the shutdown's
                    // archive gate can hold in the rehearsal too.
                    let kept = match finished {
                        Some(Ok(_)) => {
                            let _guard = world.clock.io_guard();
                            super::super::archive::fill_and_verify(&plan, &creds, &world.clock, &journal).await
                        }
                        Some(Err(e)) => Err(e),
                        None => Ok(None),
                    };
                    let copied: u64 = report.mailboxes.iter().map(|m| m.copied()).sum();
                    let verified = report.mailboxes.iter().filter(|m| m.verified()).count();
                    counting(&tally).report.copies.push(CopyRun {
                        at: world.clock.now(),
                        copied,
                        verified: verified == report.mailboxes.len(),
                    });
                    let mut notice = format!(
                        "Copy done: {copied} messages copied; {verified} of {} mailboxes verified complete.",
                        report.mailboxes.len()
                    );
                    let failed: Vec<String> = report
                        .mailboxes
                        .iter()
                        .filter_map(|m| m.error.as_ref())
                        .map(|e| crate::sanitize::sanitize(&e.to_string()))
                        .collect();
                    if let Some(first) = failed.first() {
                        notice.push_str(&format!(" {} failed, e.g. {first}", failed.len()));
                    }
                    match kept {
                        Ok(Some(kept)) => {
                            let v = &kept.verification;
                            let _ = recorder.archive_verification(v, world.clock.now());
                            notice.push_str(&if v.ok() {
                                format!(
                                    " Archive verified: {} messages.",
                                    v.mailboxes.iter().map(|m| m.messages).sum::<u64>()
                                )
                            } else {
                                format!(
                                    " Archive NOT verified: {}",
                                    v.problems.first().map(String::as_str).unwrap_or("?")
                                )
                            });
                        }
                        Ok(None) => {}
                        Err(e) => notice.push_str(&format!(" Archive: {e}")),
                    }
                    if events.send(Event::Notice(notice)).await.is_err() {
                        return;
                    }
                }
            });
        });
        tx
    }

    /// The copy key during a rollback: the employees whose mailbox may be copied back turn
    /// their POP3 fetch of the old server off (what ticking them in `rollback-copy-back`
    /// says), then the copy back runs as `cutover sync --reverse` would.
    async fn copy_back_key(
        plan: &Plan,
        world: &World,
        creds: &CredentialSource,
        journal: &Journal,
        recorder: &crate::recorder::Recorder,
        fetches_off: &mpsc::Sender<Vec<String>>,
    ) -> String {
        let (now, _) = crate::mail::sync::copy_back_select(plan, recorder.history(), &[]);
        let _ = fetches_off.send(now).await;
        let run = {
            let _guard = world.clock.io_guard();
            super::super::copy_back::run(plan, creds, &world.clock, journal, recorder.history())
                .await
        };
        match run {
            Err(why) => format!("Copy back not possible: {why}"),
            Ok(run) => {
                let mut notice = format!(
                    "Copy back done: {} copied to the old server from {}; {}.",
                    crate::units::count(run.copied, "message", "messages"),
                    crate::units::count(run.mailboxes.len() as u64, "mailbox", "mailboxes"),
                    if run.verified {
                        "verified"
                    } else {
                        "NOT verified complete"
                    }
                );
                if !run.waiting.is_empty() {
                    notice.push_str(&format!(
                        " Waiting for their POP3 fetch to be off: {} (tick each in {}, then press the copy key again).",
                        run.waiting.join(", "),
                        crate::step::StepId::RollbackCopyBack
                    ));
                }
                notice
            }
        }
    }

    /// Senders deliver through the public resolvers every simulated minute; the POP3 fetches
    /// the employees set up (key 4) run every quarter hour, until the employee turns theirs
    /// off (`fetches_off`, by address) for the copy back.
    async fn mail_traffic(
        world: Arc<World>,
        mut set_up: mpsc::Receiver<Vec<Pop3Fetch>>,
        mut fetches_off: mpsc::Receiver<Vec<String>>,
        tally: SharedTally,
    ) {
        // The new MX's route carries its outage: a broken new server (key `b`) defers mail.
        let routes = world.routes();
        let senders: Vec<Sender> = world
            .resolvers
            .iter()
            .map(|r| {
                Sender::new(
                    r.addr(),
                    world.zone.origin(),
                    routes.clone(),
                    world.clock.clone(),
                )
            })
            .collect();
        let users: Vec<String> = world.employees.iter().map(|e| e.login.clone()).collect();
        let mut fetches: Vec<Pop3Fetch> = Vec::new();
        let per_minute = MAIL_PER_MAILBOX_HOUR * users.len() as f64 / 60.0;
        let mut due = 0.0;
        let mut sent: u64 = 0;
        // (user, message, deferred before)
        let mut queue: Vec<(String, Vec<u8>, bool)> = Vec::new();
        let mut minute: u64 = 0;
        let start = world.clock.now();
        loop {
            let now = world.clock.now();
            let day = start
                .to_zoned_datetime(jiff::tz::TimeZone::UTC)
                .date()
                .until(now.to_zoned_datetime(jiff::tz::TimeZone::UTC).date())
                .map_or(0, |span| span.get_days());
            let day = u32::try_from(day).unwrap_or(0) + 1;
            due += per_minute;
            while due >= 1.0 && !users.is_empty() {
                due -= 1.0;
                sent += 1;
                let user = users[(sent as usize) % users.len()].clone();
                queue.push((
                    user.clone(),
                    message(sent, &user, &world.spec.domain, now, "customer"),
                    false,
                ));
            }
            let (mut deferred, mut first_deferred) = (0, 0);
            let mut delivered = Vec::new();
            let mut bounced = Vec::new();
            for (i, (user, raw, before)) in std::mem::take(&mut queue).into_iter().enumerate() {
                let sender = &senders[i % senders.len()];
                match sender.send(&user, raw.clone()).await {
                    Delivery::Deferred { .. } => {
                        deferred += 1;
                        first_deferred += u64::from(!before);
                        queue.push((user, raw, true));
                    }
                    Delivery::Delivered { host, .. } => {
                        delivered.push(if host.trim_end_matches('.') == world.spec.old_mx {
                            Server::Old
                        } else {
                            Server::New
                        })
                    }
                    Delivery::Bounced { host, user } => bounced.push(format!("{user} at {host}")),
                }
            }
            {
                let mut t = counting(&tally);
                for server in delivered {
                    *t.report.delivered.entry((day, server)).or_insert(0) += 1;
                    if server == Server::Old {
                        t.old_deliveries.push(now);
                    }
                }
                t.report.deferrals += deferred;
                t.report.deferred_messages += first_deferred;
                t.report.bounced.extend(bounced);
                t.report.still_queued = queue.len() as u64;
            }
            // The fetches are set up once; pressing the key again changes nothing.
            while let Ok(new) = set_up.try_recv() {
                if fetches.is_empty() {
                    fetches = new;
                }
            }
            while let Ok(off) = fetches_off.try_recv() {
                let logins: Vec<&str> = world
                    .employees
                    .iter()
                    .filter(|e| off.iter().any(|a| a.eq_ignore_ascii_case(&e.address)))
                    .map(|e| e.login.as_str())
                    .collect();
                fetches.retain(|f| !logins.contains(&f.new_user.as_str()));
            }
            if minute.is_multiple_of(15) {
                for fetch in &mut fetches {
                    if let Ok(n) = fetch.run(&world.clock) {
                        counting(&tally).report.pop3_fetched += n as u64;
                    }
                }
            }
            minute += 1;
            let next = now.checked_add(SignedDuration::from_mins(1)).unwrap_or(now);
            world.clock.sleep_until(next).await;
        }
    }

    /// The DNS host console, the mail servers and the clock, behind the rehearsal keys; after
    /// each key the live workers measure again.
    /// What the console acts on.
    struct Console {
        world: Arc<World>,
        plan: Plan,
        tally: SharedTally,
    }

    async fn console(
        console: Console,
        mut requests: mpsc::Receiver<RehearsalRequest>,
        events: mpsc::Sender<Event>,
        refresh: Vec<mpsc::Sender<()>>,
        fetches: mpsc::Sender<Vec<Pop3Fetch>>,
    ) {
        let world = &console.world;
        while let Some(request) = requests.recv().await {
            if request.what == Rehearse::Summary {
                if let Some(report) = summary(&console.plan, world, &console.tally) {
                    let lines = report.render().lines().map(str::to_string).collect();
                    let update = Event::Rehearsal(RehearsalUpdate::Summary(lines));
                    if events.send(update).await.is_err() {
                        return;
                    }
                }
                continue;
            }
            let notice = match OperatorAction::for_key(request.what) {
                Some(action) => match operator::perform(world, action).await {
                    Ok(done) => {
                        if !done.fetches.is_empty() {
                            let _ = fetches.send(done.fetches).await;
                        }
                        format!("REHEARSAL: {}", done.text)
                    }
                    Err(why) => format!("REHEARSAL: {why}"),
                },
                None => {
                    let text = clock_key(&world.clock, request);
                    if events.send(clock_update(&world.clock)).await.is_err() {
                        return;
                    }
                    format!("REHEARSAL: {text}")
                }
            };
            for worker in &refresh {
                let _ = worker.try_send(());
            }
            if events.send(Event::Notice(notice)).await.is_err() {
                return;
            }
        }
    }

    /// The clock keys: pause, faster, slower, and skip to when the next gate clears.
    fn clock_key(clock: &SimClock, request: RehearsalRequest) -> String {
        match request.what {
            Rehearse::PauseClock if clock.is_paused() => {
                clock.resume();
                "simulated time runs again".into()
            }
            Rehearse::PauseClock => {
                clock.pause();
                "simulated time paused (p resumes)".into()
            }
            Rehearse::Faster | Rehearse::Slower => {
                let factor = if request.what == Rehearse::Faster {
                    2.0
                } else {
                    0.5
                };
                let speed = (clock.speed() * factor).clamp(1.0, 100_000.0);
                clock.set_speed(speed);
                format!("simulated time runs {speed:.0}× real time")
            }
            Rehearse::SkipToGate => match request.skip_to {
                Some(at) => {
                    clock.skip_to(at);
                    format!(
                        "skipped to {}, when the next gate clears",
                        at.strftime("%a %-d %b %H:%M UTC")
                    )
                }
                None => "nothing is waiting on time: no gate to skip to".into(),
            },
            // The other keys are the operator's (`OperatorAction::for_key`) and never come here.
            other => format!("{other:?} is not a clock key"),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// During a rollback the copy key makes the copy back: the mail that reached the new
        /// server since the switch goes to the old server, verified; a mailbox that fetched
        /// the old server by POP3 waits for its tick, and its employee's fetch goes off once
        /// it is copied back.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn during_a_rollback_the_copy_key_copies_the_new_mail_back_to_the_old_server() {
            use crate::journal::Entry;
            use crate::step::StepId;
            let start = super::super::REHEARSAL_START.parse().unwrap();
            let world = Arc::new(
                World::start(super::super::WorldSpec::small(start))
                    .await
                    .unwrap(),
            );
            let dir = tempfile::tempdir().unwrap();
            let path = super::super::write_plan(dir.path(), &world).unwrap();
            let plan = crate::plan::load(&path).unwrap().plan;
            operator::perform(&world, OperatorAction::CreateMailboxes)
                .await
                .unwrap();
            // The switch, then mail on the new server, then the rollback, as journaled.
            let now = world.clock.now();
            let (mut recorder, _) = crate::recorder::Recorder::open(&plan).unwrap();
            let lines = [
                Entry::Fact {
                    at: now,
                    key: "mx-set".into(),
                    value: serde_json::json!({"from": "old+new", "to": "new"}),
                    evidence: String::new(),
                },
                Entry::Confirm {
                    at: now,
                    operator: "rehearsal".into(),
                    step: StepId::AddNewMx,
                    mailbox: None,
                    evidence: vec![],
                },
                // user2 fetched the old server by POP3: it waits for its tick.
                Entry::Fact {
                    at: now,
                    key: crate::mail::steps::POP3_FETCH_SEEN.into(),
                    value: serde_json::json!({"mailbox": "user2@example-firm.test"}),
                    evidence: String::new(),
                },
            ];
            for line in &lines {
                recorder.append(line).unwrap();
            }
            let arrived = now.to_zoned_datetime(jiff::tz::TimeZone::UTC);
            for (n, login) in [(1, "user1"), (2, "user2")] {
                let raw = message(9_000 + n, login, &world.spec.domain, now, "customer");
                world
                    .new
                    .store()
                    .deliver(login, "INBOX", raw, arrived.clone())
                    .unwrap();
            }
            let rollback = crate::runbook::rollback::start(
                recorder.history(),
                "rehearsal",
                "the new MX answers 451",
                now,
            )
            .unwrap();
            for line in &rollback {
                recorder.append(line).unwrap();
            }
            let (events, mut rx) = mpsc::channel(16);
            let (fetches_off, mut off) = mpsc::channel(4);
            let copy = start_copier(
                plan.clone(),
                world.clone(),
                events,
                SharedTally::default(),
                fetches_off,
            );
            copy.send(None).await.unwrap();
            let notice = loop {
                match rx.recv().await {
                    Some(Event::Notice(n)) => break n,
                    Some(_) => continue,
                    None => panic!("the copier ended without a notice"),
                }
            };
            assert!(
                notice.starts_with(
                    "Copy back done: 1 message copied to the old server from 5 mailboxes; verified."
                ),
                "{notice}"
            );
            assert!(
                notice.contains("Waiting for their POP3 fetch to be off: user2@example-firm.test (tick each in rollback-copy-back"),
                "{notice}"
            );
            let turned_off = off.recv().await.unwrap();
            assert_eq!(
                turned_off.len(),
                4 + 1,
                "the canary mailbox too: {turned_off:?}"
            );
            assert!(!turned_off.iter().any(|a| a.starts_with("user2@")));
            let on_old = |login: &str, n: u64| {
                world
                    .old
                    .store()
                    .messages(login, "INBOX")
                    .unwrap()
                    .iter()
                    .any(|m| {
                        String::from_utf8_lossy(&m.raw).contains(&format!("<live-{n}-customer@"))
                    })
            };
            assert!(
                on_old("user1", 9_001),
                "user1's new mail is on the old server"
            );
            assert!(!on_old("user2", 9_002), "user2 waits for its tick");
            recorder.catch_up();
            let results = recorder
                .history()
                .facts
                .get(crate::mail::sync::COPY_BACK_RESULT_FACT)
                .map_or(0, Vec::len);
            assert_eq!(
                results, 6,
                "one result per mailbox (the canary mailbox too), user2's `waiting`"
            );
        }

        /// The copy key copies, then keeps the old server's mail in the rehearsal's archive
        /// and verifies it, journaling the fact decommission-old's gate reads.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn the_copy_key_keeps_the_old_servers_mail_in_a_verified_archive() {
            let start = super::super::REHEARSAL_START.parse().unwrap();
            let world = Arc::new(
                World::start(super::super::WorldSpec::small(start))
                    .await
                    .unwrap(),
            );
            let dir = tempfile::tempdir().unwrap();
            let path = super::super::write_plan(dir.path(), &world).unwrap();
            let plan = crate::plan::load(&path).unwrap().plan;
            // The employees' new mailboxes exist (new-server-ready), so the copy can log in.
            operator::perform(&world, OperatorAction::CreateMailboxes)
                .await
                .unwrap();
            let (events, mut rx) = mpsc::channel(16);
            let (fetches_off, _) = mpsc::channel(1);
            let copy = start_copier(
                plan.clone(),
                world.clone(),
                events,
                SharedTally::default(),
                fetches_off,
            );
            copy.send(None).await.unwrap();
            let notice = loop {
                match rx.recv().await {
                    Some(Event::Notice(n)) => break n,
                    Some(_) => continue,
                    None => panic!("the copier ended without a notice"),
                }
            };
            assert!(notice.contains("Archive verified: "), "{notice}");
            let (recorder, _) = crate::recorder::Recorder::open(&plan).unwrap();
            let fact = recorder
                .history()
                .last_fact(crate::recorder::keys::ARCHIVE_VERIFIED)
                .expect("the archive-verified fact");
            assert_eq!(fact.value["ok"], true, "{:#}", fact.value);
            assert_eq!(fact.value["online"], true, "{:#}", fact.value);
            assert!(dir.path().join("archive/MANIFEST.sha256").is_file());
        }
    }
}

/// The cockpit's log, without a line per query the sandbox's own DNS servers answer (hickory
/// logs each at `info`, megabytes per rehearsal). Installed before the cockpit's, which then
/// keeps it; `CUTOVER_LOG` still decides when set.
fn quiet_sandbox_logs(path: &Path) {
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUTOVER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,hickory_server=warn"));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
}

/// `cutover demo` without `--autopilot`: the cockpit on the sandbox. Returns the exit code.
fn run_interactive(opts: &DemoOptions) -> Result<u8, DemoError> {
    let dir = RehearsalDir::create(opts.keep.as_deref())?;
    // The sandbox runs on its own runtime; the cockpit builds its own for the terminal.
    let sandbox = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|source| DemoError::Files {
            dir: dir.path.clone(),
            source,
        })?;
    let speed = opts.speed.unwrap_or(DEFAULT_SPEED);
    let world = sandbox.block_on(World::start(world_spec(
        opts.mailboxes,
        opts.messages,
        speed,
    )))?;
    let plan_path = write_plan(&dir.path, &world)?;
    let plan = crate::plan::load(&plan_path)
        .map_err(|errors| DemoError::Plan {
            path: plan_path.clone(),
            detail: errors.to_string(),
        })?
        .plan;
    quiet_sandbox_logs(&crate::tui::log_path_for_plan(&plan_path));
    // Paused on the introduction until the operator presses p.
    world.clock.pause();
    let world = std::sync::Arc::new(world);
    let clock: std::sync::Arc<dyn crate::clock::Clock> = std::sync::Arc::new(world.clock.clone());
    let tally = interactive::SharedTally::default();
    let workers = interactive::workers(world.clone(), sandbox.handle().clone(), tally.clone());
    let code = crate::tui::run(
        &plan,
        crate::tui::Options {
            offline: false,
            clock: Some(clock),
            rehearsal: true,
            rehearsal_kept: opts.keep.is_some(),
        },
        Some(workers),
    )
    .map_err(|e| DemoError::Cockpit(e.to_string()))?;
    // Quitting after the switch: the summary of the run stays on the terminal.
    if let Some(report) = interactive::summary(&plan, &world, &tally)
        && report.switch_at.is_some()
    {
        print!("{}", report.render());
    }
    if opts.keep.is_some() {
        println!(
            "The rehearsal's plan and journal are kept in {}.",
            dir.path.display()
        );
    }
    drop(world);
    sandbox.shutdown_background();
    Ok(code)
}
