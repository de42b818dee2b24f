//! The archive of the old server (R19): a byte-exact Maildir per mailbox, written while
//! the copies read the old server, filled in by `cutover archive`, verified against its
//! SHA-256 manifest and, online, against the old server's counts.
//!
//! - [`names`]: folder and message file names, safe whatever the old server calls things.
//! - [`store`]: the writer ([`Archive`], [`FolderWriter`]), `archive.json`, the manifest.
//! - [`verify`]: the offline and online verification, the journal fact it yields
//!   ([`archive_fact`]) and the `archive-verified` gate ([`archive_verified`]).

pub(crate) mod names;
pub mod store;
pub mod verify;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use store::{ARCHIVE_JSON, Archive, ArchiveIndex, FolderWriter, MANIFEST, Written, sha256_hex};
pub use verify::{
    ARCHIVE_FACT, MailboxCoverage, OldFolder, Verification, archive_fact, archive_verified,
    compare_with_old, verify_offline,
};

/// What can go wrong with the archive, said so an operator can act on it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// A file or directory of the archive could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: Arc<std::io::Error>,
    },
    /// Another process (a copy, or `cutover archive`) is writing this archive.
    #[error(
        "{} is being written by another cutover process (a copy or `cutover archive`); wait for it to end",
        dir.display()
    )]
    Busy { dir: PathBuf },
    /// `archive.json` or the manifest cannot be read as written.
    #[error("{}: cannot be read: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    /// The old mailboxes do not fit in the free space.
    #[error(
        "{} has {} free, but the messages still to archive need {}: free {} more, or set [archive] dir elsewhere",
        dir.display(),
        crate::units::bytes(*free),
        crate::units::bytes(*need),
        crate::units::bytes(need.saturating_sub(*free))
    )]
    NoSpace { dir: PathBuf, need: u64, free: u64 },
}

impl ArchiveError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> ArchiveError {
        ArchiveError::Io {
            path: path.to_path_buf(),
            source: Arc::new(source),
        }
    }
}

/// Bytes free for an unprivileged writer in the file system holding `dir` (or its nearest
/// existing parent), and its block size.
pub fn free_space(dir: &Path) -> Result<(u64, u64), ArchiveError> {
    let mut at = dir;
    while !at.exists() {
        match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => at = p,
            _ => {
                at = Path::new(".");
                break;
            }
        }
    }
    let st = rustix::fs::statvfs(at).map_err(|e| ArchiveError::io(at, e.into()))?;
    Ok((st.f_bavail.saturating_mul(st.f_frsize), st.f_frsize.max(1)))
}

/// The room `sizes` take as files (each rounded up to a block) plus their records.
pub fn space_needed(sizes: impl IntoIterator<Item = u64>, block: u64) -> u64 {
    sizes
        .into_iter()
        .map(|s| s.div_ceil(block).max(1) * block + 512)
        .sum()
}
