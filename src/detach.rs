//! Starting `cutover sync` in the background, one way for `sync --detach` and the cockpit:
//! a session of its own (a dropped SSH link or a quitting cockpit never stops it), its
//! output in `<plan-stem>.sync.log`, its progress in the journal.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Why a background copy could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DetachError {
    /// The copy's log beside the plan could not be opened for appending.
    #[error("cannot open the copy's log {}: {source}", path.display())]
    Log { path: PathBuf, source: io::Error },
    /// The running binary could not be found, so it cannot be started again.
    #[error("cannot find the cutover binary to run in the background: {0}")]
    Binary(#[source] io::Error),
    /// The system refused to start the process.
    #[error("cannot start the copy in the background: {0}")]
    Spawn(#[source] io::Error),
}

/// A copy running in the background.
#[derive(Debug)]
pub(crate) struct BackgroundSync {
    /// The process; whoever keeps it may reap it, dropping it leaves it running.
    pub(crate) child: Child,
    /// Where its output goes.
    pub(crate) log: PathBuf,
    /// The command as an operator would type it, for notices and logs.
    pub(crate) shown: String,
}

/// `<plan-dir>/<plan-stem>.sync.log`: where a background copy writes what it would print.
pub(crate) fn sync_log_path(plan: &Path) -> PathBuf {
    crate::plan::beside(plan, "sync.log")
}

/// Starts `cutover sync --plan PLAN [--mailbox M]… [--dry-run]` as the leader of a new
/// session, with no terminal, its output appended to the plan's `sync.log`.
pub(crate) fn start_sync(
    plan: &Path,
    mailboxes: &[String],
    dry_run: bool,
    reverse: bool,
) -> Result<BackgroundSync, DetachError> {
    let log_path = sync_log_path(plan);
    let log_error = |source| DetachError::Log {
        path: log_path.clone(),
        source,
    };
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(log_error)?;
    let err_log = log.try_clone().map_err(log_error)?;
    let exe = std::env::current_exe().map_err(DetachError::Binary)?;
    let mut rest: Vec<String> = Vec::new();
    for m in mailboxes {
        rest.push("--mailbox".into());
        rest.push(m.clone());
    }
    if dry_run {
        rest.push("--dry-run".into());
    }
    if reverse {
        rest.push("--reverse".into());
    }
    let mut cmd = Command::new(exe);
    cmd.arg("sync").arg("--plan").arg(plan).args(&rest);
    cmd.stdin(Stdio::null()).stdout(log).stderr(err_log);
    // SAFETY: setsid is async-signal-safe and touches no memory of this process.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setsid().map_err(io::Error::from)?;
            Ok(())
        });
    }
    let mut shown = format!("cutover sync --plan {}", plan.display());
    for arg in &rest {
        shown.push(' ');
        shown.push_str(arg);
    }
    let child = cmd.spawn().map_err(DetachError::Spawn)?;
    Ok(BackgroundSync {
        child,
        log: log_path,
        shown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_sits_beside_the_plan() {
        assert_eq!(
            sync_log_path(Path::new("/srv/acme/cutover.toml")),
            PathBuf::from("/srv/acme/cutover.sync.log")
        );
    }

    #[test]
    fn a_missing_plan_directory_names_the_log_it_could_not_open() {
        let err = start_sync(
            Path::new("/nonexistent-dir/cutover.toml"),
            &[],
            false,
            false,
        )
        .expect_err("no directory, no log");
        assert!(
            err.to_string()
                .starts_with("cannot open the copy's log /nonexistent-dir/cutover.sync.log: "),
            "{err}"
        );
    }
}
