//! Following the journal: the complete lines other processes appended since the last look.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::file::{BadLine, KnownSteps, parse_lines};
use super::{Entry, JournalError};

/// Reads a journal incrementally. The caller polls (every ~500 ms is plenty);
/// each poll returns only entries on complete lines not returned before. A
/// partial last line (being written, or torn) is left for a later poll.
#[derive(Debug, Clone)]
pub struct Follower {
    path: PathBuf,
    /// Bytes of complete lines already returned.
    offset: u64,
    /// Lines already returned (good or bad), to number bad lines.
    lines: usize,
    /// (device, inode) of the file last read, to notice it being replaced.
    identity: Option<(u64, u64)>,
    restarted: bool,
    bad_lines: Vec<BadLine>,
    /// The steps a line may name (the plan's, when the journal was opened for it).
    steps: KnownSteps,
}

impl Follower {
    /// Follows `path` from its beginning: the first poll returns every entry.
    pub fn new(path: impl Into<PathBuf>) -> Follower {
        Follower::starting_at(path.into(), 0, 0, KnownSteps::Any)
    }

    /// Follows `path` from byte `offset`, `lines` complete lines in.
    pub(super) fn starting_at(
        path: PathBuf,
        offset: u64,
        lines: usize,
        steps: KnownSteps,
    ) -> Follower {
        Follower {
            path,
            offset,
            lines,
            identity: None,
            restarted: false,
            bad_lines: Vec::new(),
            steps,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Entries on complete lines appended since the last poll. A missing
    /// journal yields nothing. If the file was replaced or truncated, reading
    /// starts over from its beginning and [`Follower::restarted`] says so.
    pub fn poll(&mut self) -> Result<Vec<Entry>, JournalError> {
        self.restarted = false;
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(JournalError::io(&self.path, "open", err)),
        };
        let meta = file
            .metadata()
            .map_err(|err| JournalError::io(&self.path, "read the size of", err))?;
        let identity = (meta.dev(), meta.ino());
        let replaced = self.identity.is_some_and(|known| known != identity);
        if replaced || meta.len() < self.offset {
            self.offset = 0;
            self.lines = 0;
            self.restarted = true;
        }
        self.identity = Some(identity);
        if meta.len() == self.offset {
            return Ok(Vec::new());
        }

        let mut data = Vec::with_capacity(usize::try_from(meta.len() - self.offset).unwrap_or(0));
        file.seek(SeekFrom::Start(self.offset))
            .and_then(|_| file.read_to_end(&mut data))
            .map_err(|err| JournalError::io(&self.path, "read", err))?;
        let Some(last_newline) = data.iter().rposition(|&byte| byte == b'\n') else {
            return Ok(Vec::new());
        };
        let complete = &data[..=last_newline];
        let (entries, bad_lines) = parse_lines(complete, self.lines + 1, &self.steps);
        for bad in &bad_lines {
            tracing::warn!(
                journal = %self.path.display(),
                line = bad.line,
                error = %bad.error,
                "journal line skipped"
            );
        }
        self.lines += entries.len() + bad_lines.len();
        self.offset += complete.len() as u64;
        self.bad_lines.extend(bad_lines);
        Ok(entries)
    }

    /// Whether the last poll started over because the journal was replaced or
    /// truncated; its entries are then the whole journal, not an increment.
    pub fn restarted(&self) -> bool {
        self.restarted
    }

    /// Lines skipped because they did not parse, since the last call.
    pub fn take_bad_lines(&mut self) -> Vec<BadLine> {
        std::mem::take(&mut self.bad_lines)
    }
}
