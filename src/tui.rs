//! The cockpit on a real terminal: set-up and restore, the event loop, signals, workers.
//!
//! One loop owns the [`App`]. Input (a thread reading keys), the 1 s clock,
//! signals and the live workers send [`Event`]s over one channel; the journal
//! is followed every 500 ms. Each event goes through the pure
//! [`app::update`](crate::app::update); the commands it returns are carried
//! out here (journal appends, copies) or sent to a worker. A frame is drawn
//! only when something visible changed, inside a synchronized update, so an
//! idle cockpit writes almost nothing over SSH.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self as term_event, Event as TermEvent};
use ratatui::crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use ratatui::crossterm::{cursor, execute, queue};
use tokio::sync::mpsc;

use crate::app::{self, App, Command, Event, Role};
use crate::clock::{Clock, SystemClock};
use crate::journal::{Drive, Driver, DriverLock, Follower, Journal, JournalError};
use crate::plan::Plan;
use crate::runbook::{Evaluation, StepState};
use crate::sanitize::sanitize;

/// How often the journal is read for lines other processes appended.
const JOURNAL_POLL: Duration = Duration::from_millis(500);
/// How often an observer checks whether the driver has gone.
const TAKEOVER_POLL: Duration = Duration::from_secs(2);

/// Why the cockpit could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TuiError {
    /// The journal or its driver lock could not be used.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The terminal could not be set up or written to.
    #[error("the terminal: {0}")]
    Terminal(#[from] io::Error),
    /// The log file beside the plan could not be opened.
    #[error("cannot open the log file {}: {source}", path.display())]
    Log { path: PathBuf, source: io::Error },
}

/// How the cockpit starts.
#[derive(Clone, Default)]
pub struct Options {
    /// No network I/O: no DNS or mailbox workers are started.
    pub offline: bool,
    /// Where "now" comes from; the wall clock when `None` (the rehearsal injects its own).
    pub clock: Option<std::sync::Arc<dyn Clock>>,
    /// `cutover demo`: label the screen REHEARSAL and enable the rehearsal keys.
    pub rehearsal: bool,
    /// `cutover demo --keep DIR`: the rehearsal's files stay (quitting says so).
    pub rehearsal_kept: bool,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("offline", &self.offline)
            .field("injected_clock", &self.clock.is_some())
            .field("rehearsal", &self.rehearsal)
            .field("rehearsal_kept", &self.rehearsal_kept)
            .finish()
    }
}

/// A rehearsal key as the sandbox receives it; `skip_to` is when the next gate clears (see
/// [`next_gate_clears`]), for [`Rehearse::SkipToGate`](crate::app::Rehearse::SkipToGate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RehearsalRequest {
    pub what: crate::app::Rehearse,
    pub skip_to: Option<jiff::Timestamp>,
}

/// What the live parts (DNS watcher, mailbox prober) hand the loop: where
/// to send "measure now". They send their snapshots as events themselves.
#[derive(Debug, Default)]
pub struct Workers {
    pub refresh: Vec<mpsc::Sender<()>>,
    /// `cutover demo`: where the rehearsal keys go (the sandbox's console and clock).
    pub rehearsal: Option<mpsc::Sender<RehearsalRequest>>,
    /// `cutover demo`: copies run in the rehearsal itself, on its simulated clock
    /// (`None`: every mailbox), instead of a detached `cutover sync` on the wall clock.
    pub copy: Option<mpsc::Sender<Option<String>>>,
    /// With `[canary]`: where "send canaries now" goes (the canary worker).
    pub canary: Option<mpsc::Sender<()>>,
}

/// Starts the live workers; they send `Event::DnsRound` and `Event::MailProbes`
/// on the sender they are given.
pub type StartWorkers = Box<dyn FnOnce(&Plan, mpsc::Sender<Event>) -> Workers + Send>;

/// The log file of a plan: `<plan-dir>/<plan-stem>.log`.
pub fn log_path_for_plan(plan: &Path) -> PathBuf {
    crate::plan::beside(plan, "log")
}

/// Opens the cockpit on `plan` and runs it until the operator quits or a
/// signal arrives. Returns the process exit code.
pub fn run(plan: &Plan, options: Options, workers: Option<StartWorkers>) -> Result<u8, TuiError> {
    let started = Instant::now();
    let log_path = log_path_for_plan(&plan.path);
    start_logging(&log_path)?;
    tracing::info!(plan = %plan.path.display(), offline = options.offline, "cockpit starting");

    let clock: std::sync::Arc<dyn Clock> = options
        .clock
        .clone()
        .unwrap_or_else(|| std::sync::Arc::new(SystemClock));
    let journal = Journal::for_plan(plan)?;
    let mut drive = DriverLock::acquire(journal.path(), Driver::this_process(clock.now()))?;
    let replay = journal.replay()?;
    let mut follower = journal.follower_after(&replay);
    let role = match &drive {
        Drive::Driving(_) => Role::Driving,
        Drive::Observing(driver) => Role::Observing(driver.clone()),
    };
    let mut app = App::new(plan.clone(), &replay.entries, role, clock.now());
    app.offline = options.offline;
    app.rehearsal = options.rehearsal;
    app.rehearsal_kept = options.rehearsal_kept;
    app.no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    app.log_path = Some(log_path.clone());
    if let Some(torn) = &replay.torn {
        // The notice passes; the log keeps it.
        tracing::warn!(
            bytes = torn.bytes.len(),
            saved_to = %torn.saved_to.display(),
            "the journal's last line was torn"
        );
        app.notice = Some(format!(
            "The journal's last line was torn (a crash mid-write); {} bytes were set aside in {}.",
            torn.bytes.len(),
            torn.saved_to.display()
        ));
    }

    for bad in &replay.bad_lines {
        // As `status` warns on stderr: the line is skipped, the log says which and why.
        tracing::warn!(line = bad.line, error = %bad.error, "journal line skipped");
    }

    install_panic_hook(log_path);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let mut terminal = match enter() {
            Ok(terminal) => terminal,
            Err(err) => {
                restore();
                return Err(err.into());
            }
        };
        let result = run_loop(
            &mut terminal,
            &mut app,
            &mut Memory {
                journal: &journal,
                follower: &mut follower,
                drive: &mut drive,
            },
            options,
            workers,
            started,
        )
        .await;
        restore();
        // Its drop would print to stderr if the cursor cannot be shown, and
        // printing to a terminal that hung up (SIGHUP) panics: `restore` has
        // already shown the cursor, so the terminal is not dropped.
        std::mem::forget(terminal);
        result
    });
    // The input thread may sit in a blocking read: do not wait for it.
    runtime.shutdown_background();
    drop(drive);
    match &result {
        Ok(_) => tracing::info!("cockpit closed"),
        Err(err) => tracing::error!("cockpit closed: {err}"),
    }
    result
}

fn start_logging(path: &Path) -> Result<(), TuiError> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| TuiError::Log {
            path: path.to_path_buf(),
            source,
        })?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUTOVER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second cockpit in the same process (tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
    Ok(())
}

/// Raw mode and the alternate screen. Not `ratatui::init`: its panic hook
/// prints to stderr, which panics again when the terminal has hung up; ours
/// (installed before) restores silently.
fn enter() -> io::Result<DefaultTerminal> {
    ratatui::crossterm::terminal::enable_raw_mode()?;
    execute!(
        io::stdout(),
        ratatui::crossterm::terminal::EnterAlternateScreen
    )?;
    ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(io::stdout()))
}

/// Leaves raw mode and the alternate screen and shows the cursor again.
fn restore() {
    let _ = ratatui::try_restore();
    let _ = execute!(io::stdout(), cursor::Show);
}

/// A panic anywhere (also in a worker task) restores the terminal, writes the
/// report to the log and ends the process: a half-dead cockpit in raw mode
/// is worse than none.
fn install_panic_hook(log_path: PathBuf) {
    std::panic::set_hook(Box::new(move |info| {
        restore();
        let backtrace = std::backtrace::Backtrace::force_capture();
        tracing::error!("panic: {info}\n{backtrace}");
        let _ = writeln!(
            io::stderr(),
            "cutover: internal error: {info}\nThe report is in {}. Copies running in their own processes go on; restart the cockpit to continue where you were.",
            log_path.display()
        );
        std::process::exit(101);
    }));
}

fn draw(terminal: &mut DefaultTerminal, app: &App) -> io::Result<()> {
    queue!(terminal.backend_mut(), BeginSynchronizedUpdate)?;
    terminal.draw(|frame| crate::ui::render(frame, app))?;
    execute!(terminal.backend_mut(), EndSynchronizedUpdate)?;
    Ok(())
}

fn spawn_input(tx: mpsc::Sender<Event>) {
    std::thread::spawn(move || {
        loop {
            let event = match term_event::read() {
                Ok(TermEvent::Key(key)) => Event::Key(key),
                Ok(TermEvent::Resize(columns, rows)) => Event::Resize(columns, rows),
                Ok(_) => continue,
                Err(err) => {
                    tracing::warn!("reading the terminal failed: {err}");
                    Event::Shutdown
                }
            };
            let end = matches!(event, Event::Shutdown);
            if tx.blocking_send(event).is_err() || end {
                break;
            }
        }
    });
}

fn spawn_clock(tx: mpsc::Sender<Event>, clock: std::sync::Arc<dyn Clock>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            if tx.send(Event::Tick(clock.now())).await.is_err() {
                break;
            }
        }
    });
}

/// SIGHUP (the SSH link dropped) and SIGTERM end the cockpit cleanly; every
/// journal line is already fsynced, and copies go on in their own processes.
fn spawn_signals(tx: mpsc::Sender<Event>) -> io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = hangup.recv() => tracing::info!("SIGHUP: closing"),
            _ = terminate.recv() => tracing::info!("SIGTERM: closing"),
        }
        let _ = tx.send(Event::Shutdown).await;
    });
    Ok(())
}

async fn run_loop(
    terminal: &mut DefaultTerminal,
    app: &mut App,
    memory: &mut Memory<'_>,
    options: Options,
    start_workers: Option<StartWorkers>,
    started: Instant,
) -> Result<u8, TuiError> {
    let (tx, mut rx) = mpsc::channel::<Event>(1024);
    spawn_input(tx.clone());
    spawn_clock(
        tx.clone(),
        options
            .clock
            .clone()
            .unwrap_or_else(|| std::sync::Arc::new(SystemClock)),
    );
    spawn_signals(tx.clone())?;
    let workers = match (options.offline, start_workers) {
        (false, Some(start)) => start(&app.plan, tx.clone()),
        _ => Workers::default(),
    };
    inject_fault();
    let size = terminal.size()?;
    run_events(
        app,
        vec![Event::Resize(size.width, size.height)],
        memory,
        &workers,
        &tx,
    );
    draw(terminal, app)?;
    app.dirty = false;
    tracing::info!(
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "first frame drawn"
    );
    let mut journal_poll = tokio::time::interval(JOURNAL_POLL);
    journal_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut takeover = tokio::time::interval(TAKEOVER_POLL);
    takeover.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let mut events = Vec::new();
        tokio::select! {
            Some(event) = rx.recv() => events.push(event),
            _ = journal_poll.tick() => {
                if let Some(event) = follow(memory.follower) {
                    events.push(event);
                }
            }
            _ = takeover.tick(), if matches!(memory.drive, Drive::Observing(_)) => {
                if let Some(event) = try_to_drive(memory.journal, memory.drive) {
                    events.push(event);
                }
            }
        }
        // Take everything already waiting, so a burst costs one frame.
        while let Ok(event) = rx.try_recv() {
            events.push(event);
        }
        run_events(app, events, memory, &workers, &tx);
        if app.quit {
            return Ok(0);
        }
        if app.dirty {
            draw(terminal, app)?;
            app.dirty = false;
        }
    }
}

/// Applies each event and carries out every command it returns; what a command brings back
/// (the journal's echo of a line just appended, a notice) is applied the same way, so no
/// command is ever dropped (a guard set when a command was asked would never fire again).
fn run_events(
    app: &mut App,
    events: Vec<Event>,
    memory: &mut Memory<'_>,
    workers: &Workers,
    tx: &mpsc::Sender<Event>,
) {
    let mut queue: std::collections::VecDeque<Event> = events.into();
    while let Some(event) = queue.pop_front() {
        for command in app::update(app, event) {
            queue.extend(carry_out(command, app, memory, workers, tx));
        }
    }
}

/// Debug builds only, for the panic test: `CUTOVER_FAULT=worker-panic` makes
/// a worker task panic once the cockpit runs, as a bug in a worker would.
fn inject_fault() {
    if cfg!(debug_assertions) && std::env::var("CUTOVER_FAULT").as_deref() == Ok("worker-panic") {
        tokio::spawn(async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            panic!("injected fault: a worker task panicked (CUTOVER_FAULT=worker-panic)");
        });
    }
}

/// The journal as the loop uses it: appending, following, and who drives.
struct Memory<'a> {
    journal: &'a Journal,
    follower: &'a mut Follower,
    drive: &'a mut Drive,
}

/// An observer takes over once the driver has gone (its lock dies with it).
fn try_to_drive(journal: &Journal, drive: &mut Drive) -> Option<Event> {
    let Drive::Observing(current) = &*drive else {
        return None;
    };
    // Usually instant; it may wait a moment for a new driver to write its name.
    let attempt = tokio::task::block_in_place(|| {
        DriverLock::acquire(journal.path(), Driver::this_process(SystemClock.now()))
    });
    match attempt {
        Ok(Drive::Driving(guard)) => {
            tracing::info!("the driver left; this cockpit drives now");
            *drive = Drive::Driving(guard);
            Some(Event::Role(Role::Driving))
        }
        Ok(Drive::Observing(other)) if other != *current => {
            *drive = Drive::Observing(other.clone());
            Some(Event::Role(Role::Observing(other)))
        }
        Ok(Drive::Observing(_)) => None,
        Err(err) => {
            tracing::warn!("checking who drives: {err}");
            None
        }
    }
}

/// New journal lines as an event, or `None` when there are none.
fn follow(follower: &mut Follower) -> Option<Event> {
    match follower.poll() {
        Ok(entries) if entries.is_empty() && !follower.restarted() => None,
        Ok(entries) => Some(Event::Journal {
            entries,
            restarted: follower.restarted(),
        }),
        Err(err) => {
            tracing::warn!("following the journal: {err}");
            Some(Event::Notice(format!("Cannot read the journal: {err}")))
        }
    }
}

/// Does what a command asks; returns the events it gives back, for the loop to apply.
fn carry_out(
    command: Command,
    app: &App,
    memory: &mut Memory<'_>,
    workers: &Workers,
    tx: &mpsc::Sender<Event>,
) -> Vec<Event> {
    match command {
        Command::Append { entry, done, then } => {
            let notice = match memory.journal.append(&entry) {
                Ok(()) => {
                    tracing::info!("{done}");
                    match then.map(|then| memory.journal.append(&then)) {
                        Some(Err(err)) => {
                            tracing::error!("append failed: {err}");
                            format!("{done} Not recorded: the records served ({err}).")
                        }
                        _ => done,
                    }
                }
                Err(err) => {
                    tracing::error!("append failed: {err}");
                    format!("Not recorded: {err}")
                }
            };
            // Read our own line back at once so the screen shows it now.
            follow(memory.follower)
                .into_iter()
                .chain([Event::Notice(notice)])
                .collect()
        }
        Command::Refresh => {
            for worker in &workers.refresh {
                let _ = worker.try_send(());
            }
            match workers.refresh.is_empty() {
                true => vec![Event::Notice(
                    "No live watcher runs in this build; nothing to refresh.".into(),
                )],
                false => Vec::new(),
            }
        }
        Command::SendCanary => match &workers.canary {
            Some(worker) => match worker.try_send(()) {
                Ok(()) => Vec::new(),
                Err(_) => vec![Event::Notice(
                    "Canaries are being sent already; Mail flow shows them when found.".into(),
                )],
            },
            None => vec![Event::Notice(
                "No canary worker runs here (offline, no [canary], or the rehearsal).".into(),
            )],
        },
        Command::StartCopy {
            mailbox,
            precopy,
            reverse,
        } => match &workers.copy {
            Some(copier) => {
                let what = mailbox.clone().unwrap_or_else(|| "every mailbox".into());
                let notice = match copier.try_send(mailbox) {
                    Ok(()) => format!("Copy of {} started in the rehearsal.", sanitize(&what)),
                    Err(_) => "A copy is already queued in the rehearsal.".to_string(),
                };
                vec![Event::Notice(notice)]
            }
            None => vec![start_copy(app, mailbox, precopy, reverse, tx)],
        },
        Command::PauseCopy { mailbox, pid } => {
            let notice = match pause(pid) {
                Ok(()) => format!(
                    "Asked the copy of {} (pid {pid}) to stop; it resumes from its checkpoints when started again.",
                    sanitize(&mailbox)
                ),
                Err(err) => format!(
                    "Cannot pause the copy of {} (pid {pid}): {err}",
                    sanitize(&mailbox)
                ),
            };
            vec![Event::Notice(notice)]
        }
        Command::Rehearsal(what) => match &workers.rehearsal {
            Some(console) => {
                let skip_to = next_gate_clears(&app.eval, app.now);
                let _ = console.try_send(RehearsalRequest { what, skip_to });
                Vec::new()
            }
            None => vec![Event::Notice(
                "Rehearsal keys work only in `cutover demo`.".into(),
            )],
        },
        Command::Quit => Vec::new(),
    }
}

/// Where the rehearsal's `>` skips to: when the next gate clears, as every surface shows it —
/// the next step's `wait_until`; when the next step waits on no time (it is ready while the
/// TTL wait runs beside it), the earliest `wait_until` of any other open step.
pub fn next_gate_clears(eval: &Evaluation, now: Timestamp) -> Option<Timestamp> {
    let ahead = |at: &Timestamp| *at > now;
    eval.next
        .as_ref()
        .and_then(|next| next.wait_until)
        .filter(ahead)
        .or_else(|| {
            eval.steps
                .iter()
                .filter(|s| !s.state.is_finished() && s.state != StepState::Pending)
                .filter_map(|s| s.wait_until)
                .filter(ahead)
                .min()
        })
}

fn pause(pid: u32) -> io::Result<()> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| io::Error::other("not a process id"))?;
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).map_err(io::Error::from)
}

/// How often the cockpit looks whether a copy it started has ended.
const REAP_POLL: Duration = Duration::from_secs(1);

/// Starts `cutover sync --plan P [--mailbox X] [--reverse]` in a session of its own (the one way
/// `sync --detach` uses too), so neither quitting nor a dropped SSH link stops it; its
/// output goes to `<plan-stem>.sync.log`.
/// The notice it gives: started (with the command), or why not.
fn start_copy(
    app: &App,
    mailbox: Option<String>,
    precopy: bool,
    reverse: bool,
    tx: &mpsc::Sender<Event>,
) -> Event {
    let what = match (reverse, precopy) {
        (true, _) => "Copy back",
        (false, true) => "Early (bulk) copy",
        (false, false) => "Copy",
    };
    let mailboxes: Vec<String> = mailbox.into_iter().collect();
    let notice = match crate::detach::start_sync(&app.plan.path, &mailboxes, false, reverse) {
        Ok(started) => {
            let pid = started.child.id();
            let shown = started.shown;
            let log = started.log;
            tracing::info!(pid, command = %shown, precopy, "copy started");
            let notice = format!("{what} started (pid {pid}): {shown}");
            let mut child = started.child;
            let tx = tx.clone();
            // Reap it, and say so if it stopped with an error. Polled, not waited on a
            // thread, so quitting the cockpit never waits for the copy.
            tokio::spawn(async move {
                let mut every = tokio::time::interval(REAP_POLL);
                loop {
                    every.tick().await;
                    match child.try_wait() {
                        Ok(None) => continue,
                        Ok(Some(status)) if status.success() => break,
                        Ok(Some(status)) => {
                            tracing::warn!(%status, command = %shown, "copy process ended with an error");
                            let _ = tx
                                .send(Event::Notice(format!(
                                    "`{shown}` ended with {status}; see {}.",
                                    log.display()
                                )))
                                .await;
                            break;
                        }
                        Err(err) => {
                            tracing::warn!(%err, command = %shown, "cannot follow the copy process");
                            break;
                        }
                    }
                }
            });
            notice
        }
        Err(err) => format!("{what} not started: {err}"),
    };
    Event::Notice(notice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Check, Kind, Status};
    use crate::runbook::{Mode, Next, StepStatus};

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn step(id: &str, state: StepState, checks: Vec<Check>) -> StepStatus {
        StepStatus {
            id: id.into(),
            day: 1,
            title: id.into(),
            state,
            mode: Mode::Both,
            checks,
            wait_until: None,
            mailboxes: None,
            planned_start: String::new(),
            planned_end: String::new(),
        }
    }

    fn failing(id: &str, until: Option<&str>) -> Check {
        let check = Check::new(id, Kind::Gate, Status::Fail, "not yet");
        match until {
            Some(u) => check.until(at(u)),
            None => check,
        }
    }

    fn waiting(id: &str, until: &str) -> StepStatus {
        StepStatus {
            wait_until: Some(at(until)),
            ..step(
                id,
                StepState::Waiting,
                vec![failing("old-ttl-expired", Some(until))],
            )
        }
    }

    fn evaluation(steps: Vec<StepStatus>, next: &str) -> Evaluation {
        let status = steps.iter().find(|s| s.id == next);
        let state = status.map_or(StepState::Ready, |s| s.state);
        let wait_until = status.and_then(|s| s.wait_until);
        Evaluation {
            domain: "example.com".into(),
            now: String::new(),
            day: 1,
            alarms: vec![],
            steps,
            next: Some(Next {
                step: next.into(),
                title: next.into(),
                state,
                ready: state == StepState::Ready,
                why: String::new(),
                blocked_by: vec![],
                wait_until,
                actions: vec![],
                records: vec![],
                records_from_plan_only: false,
                also_ready: vec![],
                alarm: None,
                warnings: vec![],
            }),
            schedule: None,
        }
    }

    const NOW: &str = "2026-03-02T09:30:00Z";

    #[test]
    fn skipping_goes_to_the_next_steps_wait_until() {
        let eval = evaluation(
            vec![waiting("ttl-wait", "2026-03-03T08:31:00Z")],
            "ttl-wait",
        );
        assert_eq!(
            next_gate_clears(&eval, at(NOW)),
            Some(at("2026-03-03T08:31:00Z"))
        );
        // A blocked step (a failure with no time) gives nothing to skip to.
        let blocked = evaluation(
            vec![step(
                "ttl-wait",
                StepState::Blocked,
                vec![failing("resolvers-ttl-low", None)],
            )],
            "ttl-wait",
        );
        assert_eq!(next_gate_clears(&blocked, at(NOW)), None);
    }

    #[test]
    fn a_ready_next_step_skips_to_the_wait_running_beside_it_and_the_past_does_not_count() {
        let mut pending = waiting("monitor-24h", "2026-03-02T10:00:00Z");
        // A step whose predecessors are not done cannot be helped by waiting.
        pending.state = StepState::Pending;
        let eval = evaluation(
            vec![
                step("spf-add-new", StepState::Ready, vec![]),
                waiting("stale", "2026-03-02T09:00:00Z"),
                waiting("ttl-wait", "2026-03-03T08:31:00Z"),
                pending,
            ],
            "spf-add-new",
        );
        assert_eq!(
            next_gate_clears(&eval, at(NOW)),
            Some(at("2026-03-03T08:31:00Z"))
        );
        let nothing = evaluation(
            vec![step("spf-add-new", StepState::Ready, vec![])],
            "spf-add-new",
        );
        assert_eq!(next_gate_clears(&nothing, at(NOW)), None);
    }

    /// The journal's echo of the confirmation that finishes the last step asks for the
    /// rehearsal's summary, and that request reaches the sandbox: the command the echo's
    /// update returns is carried out, not dropped.
    #[test]
    fn the_echo_that_finishes_the_last_step_still_opens_the_rehearsal_summary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("acme.toml");
        std::fs::write(&path, include_str!("../assets/example.toml")).unwrap();
        let plan = crate::plan::load(&path).unwrap().plan;
        let now = at(NOW);
        let runbook = crate::runbook::Runbook::for_plan(&plan);
        let overridden = |id: &crate::step::StepId| crate::journal::Entry::Override {
            at: now,
            operator: "ann".into(),
            step: id.clone(),
            mailbox: None,
            reason: "rehearsal".into(),
            evidence: vec![],
        };
        let (last, before) = runbook.steps.split_last().unwrap();
        let entries: Vec<_> = before.iter().map(|s| overridden(&s.id)).collect();
        let journal = Journal::open(Journal::path_for_plan(&plan.path)).unwrap();
        entries.iter().for_each(|e| journal.append(e).unwrap());
        let mut follower = journal.follower();
        follower.poll().unwrap();
        let mut drive = DriverLock::acquire(journal.path(), Driver::this_process(now)).unwrap();
        let mut app = App::new(plan, &entries, app::Role::Driving, now);
        app.rehearsal = true;
        assert!(
            app.eval.steps.iter().any(|s| !s.state.is_finished()),
            "the last step is still open"
        );
        let (console, mut asked) = mpsc::channel(4);
        let workers = Workers {
            rehearsal: Some(console),
            ..Workers::default()
        };
        let (tx, _rx) = mpsc::channel(4);
        let mut memory = Memory {
            journal: &journal,
            follower: &mut follower,
            drive: &mut drive,
        };
        let append = Command::Append {
            entry: overridden(&last.id),
            done: "recorded".into(),
            then: None,
        };
        let echo = carry_out(append, &app, &mut memory, &workers, &tx);
        run_events(&mut app, echo, &mut memory, &workers, &tx);
        assert!(app.eval.steps.iter().all(|s| s.state.is_finished()));
        let request = asked
            .try_recv()
            .expect("the summary was asked of the sandbox");
        assert_eq!(request.what, crate::app::Rehearse::Summary);
    }
}
