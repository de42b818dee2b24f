//! The journal file itself: append one fsynced line, replay every line, set a torn tail aside.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

use super::{Entry, Follower, JournalError};
use crate::plan::Plan;
use crate::step::StepId;
use std::sync::Arc;

/// The journal may name operators and hold evidence; no one else needs to read it.
const FILE_MODE: u32 = 0o600;

/// How far back a torn tail is searched for its line start in one read.
const SCAN_CHUNK: u64 = 64 * 1024;

/// An append-only JSON-lines journal. Cheap to clone; each call opens the file
/// afresh, so any number of handles and processes may use the same journal.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
    steps: KnownSteps,
}

/// Which steps a journal line may name. A line naming any other step is a bad line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum KnownSteps {
    /// No plan is known (a journal opened by its path alone): any step is taken.
    #[default]
    Any,
    /// The built-in steps and these, the plan's own `[[step]]`s.
    Plan(Arc<[StepId]>),
}

impl KnownSteps {
    /// The steps of `plan`: the built-in ones and its own.
    pub fn of(plan: &Plan) -> KnownSteps {
        KnownSteps::Plan(plan.extra_steps.iter().map(|s| s.id.clone()).collect())
    }

    /// Why `entry` cannot be taken: it names a step that is neither built in nor the plan's.
    fn refuses(&self, entry: &Entry) -> Option<String> {
        let KnownSteps::Plan(own) = self else {
            return None;
        };
        let step = entry.step()?;
        (step.is_plan_step() && !own.contains(&step)).then(|| {
            format!(
                "no step `{step}` in the runbook or the plan (was it removed from the plan, or is this another plan's journal?)"
            )
        })
    }
}

/// Everything a journal held when it was replayed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replay {
    /// Every entry that parsed, in the order it was written.
    pub entries: Vec<Entry>,
    /// A last line without its `\n` (a power cut mid-write), now set aside.
    pub torn: Option<Torn>,
    /// Complete lines that did not parse; they were skipped and left in the file.
    pub bad_lines: Vec<BadLine>,
    /// Byte length of the complete lines read; a [`Follower`] continues from here.
    pub end: u64,
}

/// A torn last line that was moved out of the journal into `saved_to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Torn {
    /// Where in the journal the torn bytes started (the journal now ends here).
    pub offset: u64,
    /// The torn bytes, exactly as they were in the journal.
    pub bytes: Vec<u8>,
    /// The file they were appended to (`<journal>.torn`), followed by a `\n`.
    pub saved_to: PathBuf,
}

/// A complete journal line that is not a valid entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number in the journal.
    pub line: usize,
    /// Why it did not parse.
    pub error: String,
}

impl Journal {
    /// The journal that belongs to a plan: `<dir>/<plan-stem>.journal`.
    pub fn path_for_plan(plan: &Path) -> PathBuf {
        crate::plan::beside(plan, "journal")
    }

    /// A handle on the journal at `path`. The file is created by the first
    /// append; its directory must already exist.
    pub fn open(path: impl Into<PathBuf>) -> Result<Journal, JournalError> {
        let path = path.into();
        let dir = parent_dir(&path);
        if !dir.is_dir() {
            return Err(JournalError::NoDirectory {
                path: dir.to_path_buf(),
            });
        }
        Ok(Journal {
            path,
            steps: KnownSteps::Any,
        })
    }

    /// The journal beside `plan`, whose lines may name only the runbook's and the plan's
    /// steps: a line naming another step is reported and skipped like any bad line.
    pub fn for_plan(plan: &Plan) -> Result<Journal, JournalError> {
        Ok(Journal {
            steps: KnownSteps::of(plan),
            ..Journal::open(Journal::path_for_plan(&plan.path))?
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where torn tails are set aside: `<journal>.torn`.
    pub fn torn_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_os_string();
        name.push(".torn");
        PathBuf::from(name)
    }

    /// Appends one entry as one line and returns only once it is on disk.
    ///
    /// The line is written with a single `write` under an exclusive `flock`,
    /// so appends from other handles or processes never interleave with it.
    /// A torn tail left by an earlier crash is set aside first, so the new
    /// line never glues onto garbage. On any failure the file is put back as
    /// it was (as far as the disk lets us) and an error names what failed.
    pub fn append(&self, entry: &Entry) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(entry).map_err(|err| JournalError::Encode {
            path: self.path.clone(),
            message: err.to_string(),
        })?;
        // serde_json escapes control characters inside strings, so this is the only newline.
        line.push(b'\n');

        let (file, created) =
            open_journal(&self.path, true)?.ok_or_else(|| not_found(&self.path, "create"))?;
        let _lock = Locked::exclusive(&file, &self.path)?;

        let mut len = file_len(&file, &self.path)?;
        if len > 0 && !ends_with_newline(&file, &self.path, len)? {
            let keep = last_line_end(&file, &self.path, len, SCAN_CHUNK)?;
            let tail = read_range(&file, &self.path, keep, len)?;
            let torn = set_aside(&file, &self.path, &self.torn_path(), keep, tail)?;
            tracing::warn!(
                journal = %self.path.display(),
                offset = torn.offset,
                bytes = torn.bytes.len(),
                saved_to = %torn.saved_to.display(),
                "torn journal tail set aside before appending"
            );
            len = keep;
        }

        let written = loop {
            match (&file).write(&line) {
                Ok(written) => break written,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    roll_back(&file, len);
                    return Err(JournalError::io(&self.path, "append to", err));
                }
            }
        };
        if written < line.len() {
            roll_back(&file, len);
            return Err(JournalError::ShortWrite {
                path: self.path.clone(),
                written,
                len: line.len(),
            });
        }
        if let Err(err) = file.sync_data() {
            // Not known to be on disk, so it must not count as written: remove it.
            roll_back(&file, len);
            return Err(JournalError::io(&self.path, "fsync", err));
        }
        // The first line also needs the directory entry on disk, whoever created the file.
        if created || len == 0 {
            sync_dir(&self.path)?;
        }
        Ok(())
    }

    /// Reads every entry in order. A missing journal is an empty replay.
    ///
    /// A torn last line is set aside into [`Journal::torn_path`] and reported;
    /// a complete line that does not parse is reported and skipped, and the
    /// file is otherwise left as it is.
    pub fn replay(&self) -> Result<Replay, JournalError> {
        let Some((file, _)) = open_journal(&self.path, false)? else {
            return Ok(Replay::default());
        };
        let (data, torn) = {
            let _lock = Locked::exclusive(&file, &self.path)?;
            let len = file_len(&file, &self.path)?;
            let mut data = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
            (&file)
                .read_to_end(&mut data)
                .map_err(|err| JournalError::io(&self.path, "read", err))?;
            let keep = data
                .iter()
                .rposition(|&byte| byte == b'\n')
                .map_or(0, |at| at + 1);
            let torn = if keep < data.len() {
                let tail = data.split_off(keep);
                Some(set_aside(
                    &file,
                    &self.path,
                    &self.torn_path(),
                    keep as u64,
                    tail,
                )?)
            } else {
                None
            };
            (data, torn)
        };
        let (entries, bad_lines) = parse_lines(&data, 1, &self.steps);
        Ok(Replay {
            entries,
            torn,
            bad_lines,
            end: data.len() as u64,
        })
    }

    /// A follower that will first return every line already in the journal.
    pub fn follower(&self) -> Follower {
        Follower::starting_at(self.path.clone(), 0, 0, self.steps.clone())
    }

    /// A follower that continues exactly where `replay` ended.
    pub fn follower_after(&self, replay: &Replay) -> Follower {
        Follower::starting_at(
            self.path.clone(),
            replay.end,
            replay.entries.len() + replay.bad_lines.len(),
            self.steps.clone(),
        )
    }
}

/// Below this many bytes, parsing on one thread is faster than splitting the work.
const PARALLEL_MIN_BYTES: usize = 1 << 20;

/// Parses complete lines (`data` is empty or ends in `\n`); `first_line`
/// numbers the first. Long journals are parsed in chunks on all cores (the
/// cockpit starts by replaying the whole journal, so this is start-up time).
pub(super) fn parse_lines(
    data: &[u8],
    first_line: usize,
    steps: &KnownSteps,
) -> (Vec<Entry>, Vec<BadLine>) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || data.len() < PARALLEL_MIN_BYTES {
        return parse_chunk(data, first_line, steps);
    }
    let chunks = split_at_lines(data, threads);
    let parsed: Vec<(Vec<Entry>, Vec<BadLine>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = chunks
            .iter()
            .map(|chunk| scope.spawn(move || parse_chunk(chunk, 0, steps)))
            .collect();
        workers
            .into_iter()
            .map(|worker| match worker.join() {
                Ok(parsed) => parsed,
                // A panic inside serde_json is a bug; surface it where it happened.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    let mut entries = Vec::with_capacity(parsed.iter().map(|(e, _)| e.len()).sum());
    let mut bad_lines = Vec::new();
    // Each chunk numbered its lines from 0; every line is either an entry or bad.
    let mut chunk_first_line = first_line;
    for (chunk_entries, chunk_bad) in parsed {
        let chunk_lines = chunk_entries.len() + chunk_bad.len();
        entries.extend(chunk_entries);
        bad_lines.extend(chunk_bad.into_iter().map(|bad| BadLine {
            line: bad.line + chunk_first_line,
            ..bad
        }));
        chunk_first_line += chunk_lines;
    }
    (entries, bad_lines)
}

/// Splits complete lines into about `parts` pieces, each ending in `\n`.
fn split_at_lines(data: &[u8], parts: usize) -> Vec<&[u8]> {
    let mut chunks = Vec::with_capacity(parts);
    let mut rest = data;
    let target = data.len().div_ceil(parts).max(1);
    while !rest.is_empty() {
        let cut = if rest.len() <= target {
            rest.len()
        } else {
            rest[target..]
                .iter()
                .position(|&byte| byte == b'\n')
                .map_or(rest.len(), |at| target + at + 1)
        };
        let (chunk, tail) = rest.split_at(cut);
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

fn parse_chunk(data: &[u8], first_line: usize, steps: &KnownSteps) -> (Vec<Entry>, Vec<BadLine>) {
    let mut entries = Vec::new();
    let mut bad_lines = Vec::new();
    let Some(body) = data.strip_suffix(b"\n") else {
        return (entries, bad_lines);
    };
    for (index, line) in body.split(|&byte| byte == b'\n').enumerate() {
        match serde_json::from_slice::<Entry>(line) {
            Ok(entry) => match steps.refuses(&entry) {
                None => entries.push(entry),
                Some(error) => bad_lines.push(BadLine {
                    line: first_line + index,
                    error,
                }),
            },
            Err(err) => bad_lines.push(BadLine {
                line: first_line + index,
                error: err.to_string(),
            }),
        }
    }
    (entries, bad_lines)
}

/// Holds an exclusive `flock` on an open journal until dropped.
struct Locked<'a> {
    file: &'a File,
}

impl<'a> Locked<'a> {
    fn exclusive(file: &'a File, path: &Path) -> Result<Locked<'a>, JournalError> {
        loop {
            match flock(file, FlockOperation::LockExclusive) {
                Ok(()) => return Ok(Locked { file }),
                Err(rustix::io::Errno::INTR) => continue,
                Err(err) => return Err(JournalError::io(path, "lock", err.into())),
            }
        }
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // Closing the file would release it too; unlocking first keeps the lock short.
        let _ = flock(self.file, FlockOperation::Unlock);
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

fn not_found(path: &Path, action: &'static str) -> JournalError {
    JournalError::io(path, action, io::Error::from(io::ErrorKind::NotFound))
}

/// Opens `path` for reading and appending; with `create`, creates it (mode
/// 0600) and says whether this call did. Without `create`, a missing file is `None`.
fn open_journal(path: &Path, create: bool) -> Result<Option<(File, bool)>, JournalError> {
    let mut options = OpenOptions::new();
    options.read(true).append(true).mode(FILE_MODE);
    loop {
        match options.open(path) {
            Ok(file) => return Ok(Some((file, false))),
            Err(err) if err.kind() == io::ErrorKind::NotFound && create => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(JournalError::io(path, "open", err)),
        }
        match options.clone().create_new(true).open(path) {
            Ok(file) => return Ok(Some((file, true))),
            // Another process created it in between: open theirs.
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(JournalError::io(path, "create", err)),
        }
    }
}

fn file_len(file: &File, path: &Path) -> Result<u64, JournalError> {
    file.metadata()
        .map(|meta| meta.len())
        .map_err(|err| JournalError::io(path, "read the size of", err))
}

fn ends_with_newline(file: &File, path: &Path, len: u64) -> Result<bool, JournalError> {
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, len - 1)
        .map_err(|err| JournalError::io(path, "read", err))?;
    Ok(last[0] == b'\n')
}

/// The offset just past the last `\n` before `len` (0 if there is none),
/// searching backwards `chunk` bytes at a time.
fn last_line_end(file: &File, path: &Path, len: u64, chunk: u64) -> Result<u64, JournalError> {
    let mut end = len;
    let mut buf = Vec::new();
    while end > 0 {
        let start = end.saturating_sub(chunk);
        buf.resize((end - start) as usize, 0);
        file.read_exact_at(&mut buf, start)
            .map_err(|err| JournalError::io(path, "read", err))?;
        if let Some(at) = buf.iter().rposition(|&byte| byte == b'\n') {
            return Ok(start + at as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

fn read_range(file: &File, path: &Path, start: u64, end: u64) -> Result<Vec<u8>, JournalError> {
    let mut buf = vec![0u8; (end - start) as usize];
    file.read_exact_at(&mut buf, start)
        .map_err(|err| JournalError::io(path, "read", err))?;
    Ok(buf)
}

/// Moves a torn tail out of the (locked) journal: first appended and fsynced
/// into `torn_path`, only then cut from the journal — a crash in between
/// leaves the bytes in both places, never in neither.
fn set_aside(
    journal: &File,
    journal_path: &Path,
    torn_path: &Path,
    keep: u64,
    tail: Vec<u8>,
) -> Result<Torn, JournalError> {
    let (mut torn_file, created) =
        open_journal(torn_path, true)?.ok_or_else(|| not_found(torn_path, "create"))?;
    let mut record = tail.clone();
    // Separates one torn tail from the next in the `.torn` file.
    record.push(b'\n');
    torn_file
        .write_all(&record)
        .map_err(|err| JournalError::io(torn_path, "append to", err))?;
    torn_file
        .sync_data()
        .map_err(|err| JournalError::io(torn_path, "fsync", err))?;
    if created {
        sync_dir(torn_path)?;
    }
    journal
        .set_len(keep)
        .map_err(|err| JournalError::io(journal_path, "cut the torn tail from", err))?;
    journal
        .sync_data()
        .map_err(|err| JournalError::io(journal_path, "fsync", err))?;
    Ok(Torn {
        offset: keep,
        bytes: tail,
        saved_to: torn_path.to_path_buf(),
    })
}

/// Best effort after a failed append: the error is what gets reported, so a
/// failure here is ignored (the next append sets any leftover aside as torn).
fn roll_back(file: &File, len: u64) {
    let _ = file.set_len(len);
    let _ = file.sync_data();
}

fn sync_dir(path: &Path) -> Result<(), JournalError> {
    let dir = parent_dir(path);
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|err| JournalError::io(dir, "fsync the directory", err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_sits_beside_the_plan_with_the_plan_stem() {
        assert_eq!(
            Journal::path_for_plan(Path::new("/srv/acme/cutover.toml")),
            PathBuf::from("/srv/acme/cutover.journal")
        );
        assert_eq!(
            Journal::path_for_plan(Path::new("plan.toml")),
            PathBuf::from("plan.journal")
        );
        assert_eq!(
            Journal::path_for_plan(Path::new("acme.mail.toml")),
            PathBuf::from("acme.mail.journal")
        );
    }

    #[test]
    fn a_line_naming_no_step_of_the_plan_is_a_bad_line_with_its_number() {
        let line = |step: &str| {
            format!(
                "{{\"kind\":\"applied\",\"at\":\"2026-03-02T08:00:00Z\",\"operator\":\"ann\",\"step\":\"{step}\"}}\n"
            )
        };
        let observed = "{\"kind\":\"fact\",\"at\":\"2026-03-02T08:00:00Z\",\"key\":\"step-observed\",\"value\":{\"step\":\"gone\"},\"evidence\":\"\"}\n";
        let data = [
            line("lower-ttl"),
            line("printers"),
            line("faxes"),
            observed.to_string(),
        ]
        .concat();
        let plan_steps = KnownSteps::Plan(Arc::from([StepId::parse("printers")]));
        let (entries, bad) = parse_lines(data.as_bytes(), 1, &plan_steps);
        let steps: Vec<Option<StepId>> = entries.iter().map(Entry::step).collect();
        assert_eq!(
            steps,
            [Some(StepId::LowerTtl), Some(StepId::parse("printers"))]
        );
        assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), [3, 4]);
        assert!(
            bad[0]
                .error
                .starts_with("no step `faxes` in the runbook or the plan"),
            "{bad:?}"
        );
        // Without a plan, every step is taken.
        assert_eq!(parse_lines(data.as_bytes(), 1, &KnownSteps::Any).0.len(), 4);
    }

    #[test]
    fn parse_lines_numbers_bad_lines_from_the_given_start() {
        let data = b"{\"kind\":\"note\",\"at\":\"2026-03-02T08:00:00Z\",\"operator\":\"ann\",\"text\":\"hi\"}\nnot json\n";
        let (entries, bad) = parse_lines(data, 10, &KnownSteps::Any);
        assert_eq!(entries.len(), 1);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 11);
        assert!(parse_lines(b"", 1, &KnownSteps::Any).0.is_empty());
    }

    #[test]
    fn chunks_split_only_at_line_ends_and_cover_everything() {
        let data = b"a\nbb\nccc\ndddd\ne\n";
        for parts in 1..8 {
            let chunks = split_at_lines(data, parts);
            assert_eq!(chunks.concat(), data.to_vec(), "parts {parts}");
            assert!(chunks.iter().all(|chunk| chunk.ends_with(b"\n")));
        }
    }

    #[test]
    fn a_long_journal_parsed_in_parallel_keeps_order_and_line_numbers() {
        let good =
            b"{\"kind\":\"note\",\"at\":\"2026-03-02T08:00:00Z\",\"operator\":\"ann\",\"text\":\"";
        let mut data = Vec::new();
        let lines = 30_000;
        for n in 0..lines {
            if n == 25_000 {
                data.extend_from_slice(b"broken\n");
            } else {
                data.extend_from_slice(good);
                data.extend_from_slice(format!("{n}\"}}\n").as_bytes());
            }
        }
        assert!(data.len() > PARALLEL_MIN_BYTES);
        let (entries, bad) = parse_lines(&data, 1, &KnownSteps::Any);
        assert_eq!(entries.len(), lines - 1);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 25_001);
        let texts: Vec<usize> = entries
            .iter()
            .map(|entry| match entry {
                Entry::Note { text, .. } => text.parse().unwrap(),
                other => panic!("{other:?}"),
            })
            .collect();
        let expected: Vec<usize> = (0..lines).filter(|&n| n != 25_000).collect();
        assert_eq!(texts, expected);
    }

    #[test]
    fn last_line_end_searches_across_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        std::fs::write(&path, b"one\ntwo\nthree-is-long-and-torn").unwrap();
        let file = File::open(&path).unwrap();
        let len = file.metadata().unwrap().len();
        for chunk in [1, 2, 3, 7, 64] {
            assert_eq!(
                last_line_end(&file, &path, len, chunk).unwrap(),
                8,
                "chunk {chunk}"
            );
        }
        std::fs::write(&path, b"no newline at all").unwrap();
        let file = File::open(&path).unwrap();
        assert_eq!(last_line_end(&file, &path, 17, 4).unwrap(), 0);
    }
}
