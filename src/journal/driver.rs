//! The driver lock: exactly one cockpit drives (may confirm steps); the others observe.
//!
//! The lock is a `flock` on `<stem>.driver` beside the journal, held for the
//! driver's lifetime. The kernel drops it when the process dies, however it
//! dies, so a crashed driver never blocks the next one; the file's contents
//! (who drives) only mean something while the lock is held.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use rustix::fs::{FlockOperation, flock};
use serde::{Deserialize, Serialize};

use super::JournalError;
use crate::sanitize::sanitize;

/// How often, and how long apart, an observer re-reads a driver file that
/// is being (re)written by a driver that has only just taken the lock.
const READ_ATTEMPTS: u32 = 100;
const READ_PAUSE: Duration = Duration::from_millis(10);

/// Who drives: written into the driver file by the process holding the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Driver {
    pub user: String,
    pub pid: u32,
    pub host: String,
    pub since: Timestamp,
}

impl Driver {
    /// This process, run by the current user on this host, driving since `since`.
    pub fn this_process(since: Timestamp) -> Driver {
        Driver {
            user: current_user(),
            pid: std::process::id(),
            host: this_host(),
            since,
        }
    }
}

impl fmt::Display for Driver {
    /// "USER (pid P on HOST) since T", for "driven by …" refusals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (pid {} on {}) since {}",
            sanitize(&self.user),
            self.pid,
            sanitize(&self.host),
            self.since
        )
    }
}

/// The outcome of trying to drive.
#[derive(Debug)]
pub enum Drive {
    /// This process drives for as long as it keeps the guard.
    Driving(DriverGuard),
    /// Someone else drives; this process may only observe.
    Observing(Driver),
}

/// Holds the driver lock; dropping it (or the process dying) lets another cockpit drive.
#[derive(Debug)]
pub struct DriverGuard {
    file: File,
    driver: Driver,
}

impl DriverGuard {
    pub fn driver(&self) -> &Driver {
        &self.driver
    }
}

impl Drop for DriverGuard {
    fn drop(&mut self) {
        // Empty the record while still holding the lock, so nobody reads a
        // driver who has gone; closing the file then releases the lock.
        let _ = self.file.set_len(0);
    }
}

/// Namespace for taking and inspecting the driver lock of a journal.
pub struct DriverLock;

impl DriverLock {
    /// The lock file for a journal: `<dir>/<stem>.driver`.
    pub(crate) fn path_for_journal(journal: &Path) -> PathBuf {
        journal.with_extension("driver")
    }

    /// Tries to drive without waiting: `Driving` with the guard if the lock was
    /// free (and `me` is now recorded as the driver), else `Observing` with
    /// whoever holds it.
    pub fn acquire(journal: &Path, me: Driver) -> Result<Drive, JournalError> {
        let path = DriverLock::path_for_journal(journal);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|err| JournalError::io(&path, "open the driver lock", err))?;
        for _ in 0..READ_ATTEMPTS {
            if try_lock(&file, &path, FlockOperation::NonBlockingLockExclusive)? {
                record(&file, &path, &me)?;
                return Ok(Drive::Driving(DriverGuard { file, driver: me }));
            }
            if let Some(other) = read_live_driver(&file) {
                return Ok(Drive::Observing(other));
            }
            std::thread::sleep(READ_PAUSE);
        }
        Err(JournalError::DriverUnreadable { path })
    }

    /// Who drives now, or `None` if nobody holds the lock. `confirm`, `applied`
    /// and `reopen` use it to refuse while another process drives.
    pub fn current(journal: &Path) -> Result<Option<Driver>, JournalError> {
        let path = DriverLock::path_for_journal(journal);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(JournalError::io(&path, "open the driver lock", err)),
        };
        for _ in 0..READ_ATTEMPTS {
            // A shared lock is only granted when nobody holds the exclusive one.
            if try_lock(&file, &path, FlockOperation::NonBlockingLockShared)? {
                let _ = flock(&file, FlockOperation::Unlock);
                return Ok(None);
            }
            if let Some(driver) = read_live_driver(&file) {
                return Ok(Some(driver));
            }
            std::thread::sleep(READ_PAUSE);
        }
        Err(JournalError::DriverUnreadable { path })
    }
}

/// `true` if the lock was taken, `false` if another open file holds it.
fn try_lock(file: &File, path: &Path, operation: FlockOperation) -> Result<bool, JournalError> {
    loop {
        match flock(file, operation) {
            Ok(()) => return Ok(true),
            Err(rustix::io::Errno::WOULDBLOCK) => return Ok(false),
            Err(rustix::io::Errno::INTR) => continue,
            Err(err) => return Err(JournalError::io(path, "lock the driver lock", err.into())),
        }
    }
}

fn record(file: &File, path: &Path, me: &Driver) -> Result<(), JournalError> {
    let json = serde_json::to_vec(me).map_err(|err| JournalError::Encode {
        path: path.to_path_buf(),
        message: err.to_string(),
    })?;
    file.set_len(0)
        .and_then(|()| file.write_all_at(&json, 0))
        .and_then(|()| file.sync_data())
        .map_err(|err| JournalError::io(path, "write the driver into", err))
}

/// The driver recorded in the file, if it reads as one that is alive. An
/// empty or half-written file, or a record left by a dead process on this
/// host, means the new holder has not written itself yet: `None`, read again.
fn read_live_driver(file: &File) -> Option<Driver> {
    let mut data = Vec::new();
    let mut reader = file;
    reader.seek(SeekFrom::Start(0)).ok()?;
    reader.read_to_end(&mut data).ok()?;
    let driver: Driver = serde_json::from_slice(&data).ok()?;
    if driver.host == this_host() && !process_alive(driver.pid) {
        return None;
    }
    Some(driver)
}

fn process_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        // It exists but belongs to someone else.
        Err(rustix::io::Errno::PERM) => true,
        Err(_) => false,
    }
}

fn current_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|name| !name.is_empty()))
        .unwrap_or_else(|| format!("uid {}", rustix::process::getuid().as_raw()))
}

fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}
