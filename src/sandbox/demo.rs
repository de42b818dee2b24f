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
use super::world::{World, WorldError, WorldSpec};

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
    #[error(
        "the interactive rehearsal cannot open the cockpit yet; run `cutover demo --autopilot`"
    )]
    InteractiveNotReady,
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

/// The DKIM selector the rehearsal's new provider "gave" the operator.
pub const DKIM_SELECTOR: &str = "rehearsal";

/// Writes `cutover.toml` and `secrets.toml` (mode 0600) for `world` into `dir`; returns the
/// plan's path. The journal will be `cutover.journal` beside it.
pub fn write_plan(dir: &Path, world: &World) -> Result<PathBuf, DemoError> {
    let spec = &world.spec;
    let files = |source| DemoError::Files {
        dir: dir.to_path_buf(),
        source,
    };
    let quoted = |addrs: Vec<String>| {
        addrs
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let resolvers = quoted(
        world
            .resolver_addrs()
            .iter()
            .map(|a| a.to_string())
            .collect(),
    );
    let mut plan = format!(
        "# cutover rehearsal plan: every server runs in-process on 127.0.0.1 (cutover demo).\n\
domain = \"{domain}\"\n\
start = \"{start}\"\n\
timezone = \"UTC\"\n\
working_days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]\n\
operator = \"rehearsal\"\n\
\n\
[dns]\n\
migration_ttl = \"5m\"\n\
restore_ttl = {{ mx = \"24h\", txt = \"6h\" }}\n\
poll = \"5m\"\n\
timeout = \"2s\"\n\
resolvers = [{resolvers}]\n\
authoritative = [\"{zone}\"]\n\
\n\
[old]\n\
name = \"Old host (rehearsal)\"\n\
mx = [\"10 {old_mx}.\"]\n\
spf = [\"a:{old_mx}\"]\n\
imap = {{ url = \"imap://{old}\", tls = \"none\" }}\n\
\n\
[new]\n\
name = \"New host (rehearsal)\"\n\
mx = [\"10 {new_mx}.\"]\n\
spf = [\"a:{new_mx}\"]\n\
dkim_selector = \"{DKIM_SELECTOR}\"\n\
imap = {{ url = \"imap://{new}\", tls = \"none\" }}\n\
\n\
[credentials]\n\
secrets_file = \"secrets.toml\"\n\
\n\
[sync]\n\
concurrency = 8\n",
        domain = spec.domain,
        start = REHEARSAL_START.trim_end_matches(":00Z"),
        zone = world.zone.addr(),
        old_mx = spec.old_mx,
        new_mx = spec.new_mx,
        old = world.old.addr(),
        new = world.new.addr(),
    );
    let mut secrets = String::from("# Rehearsal passwords (generated; valid only for this run).\n");
    for employee in &world.employees {
        plan.push_str(&format!(
            "\n[[mailbox]]\naddress = \"{}\"\nold_login = \"{}\"\nnew_login = \"{}\"\n",
            employee.address, employee.login, employee.login
        ));
        secrets.push_str(&format!(
            "\n[\"{}\"]\nold = \"{}\"\nnew = \"{}\"\n",
            employee.address, employee.password, employee.password
        ));
    }
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
        eprintln!("cutover demo: {}", DemoError::InteractiveNotReady);
        return 2;
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
