//! The archive on disk: one Maildir per old folder under `<dir>/<mailbox>/`, `archive.json`
//! (what was read, from where, when, with each file's SHA-256) and `MANIFEST.sha256`.
//!
//! Writers (the copy's readers, `cutover archive`) hand over each message as they read it;
//! it goes to `tmp/`, then is renamed into `cur/` with its flags and INTERNALDATE as mtime,
//! and a line naming it is appended to `.archive-pending.jsonl`. [`Archive::finish`] folds
//! those lines into `archive.json` and rewrites the manifest. A crash loses no record:
//! the next open folds the pending lines in first. One process writes at a time (a lock
//! file), so a copy and `cutover archive` never interleave their records.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ArchiveError;
use super::names;

/// The archive's description of itself, beside the mailboxes.
pub const ARCHIVE_JSON: &str = "archive.json";
/// One `<sha256>  <path>` line per message file (`sha256sum -c MANIFEST.sha256`).
pub const MANIFEST: &str = "MANIFEST.sha256";
const PENDING: &str = ".archive-pending.jsonl";
const LOCK: &str = ".archive.lock";

/// `archive.json`: per mailbox and folder what the old server had and what the archive holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArchiveIndex {
    pub format: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_at: Option<Timestamp>,
    /// By mailbox address (lowercase).
    pub mailboxes: BTreeMap<String, MailboxRecord>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MailboxRecord {
    /// Its directory, relative to the archive.
    pub dir: String,
    /// The old server it was read from (the plan's IMAP URL).
    pub server: String,
    /// By old folder name (UTF-8).
    pub folders: BTreeMap<String, FolderRecord>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FolderRecord {
    /// Its Maildir, relative to the archive.
    pub dir: String,
    /// What the old server reported when the folder was last read.
    pub uidvalidity: u32,
    pub old_messages: u64,
    pub old_bytes: u64,
    pub old_uidnext: u32,
    /// Every old message with a UID below this (under `uidvalidity`) is archived; 0: not known.
    pub covered_uidnext: u32,
    pub read_at: Option<Timestamp>,
    /// What the archive holds for this folder.
    pub messages: u64,
    pub bytes: u64,
    #[serde(with = "message_list")]
    pub list: BTreeMap<(u32, u32), MessageRecord>,
}

/// One archived message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    pub uidvalidity: u32,
    pub uid: u32,
    /// Relative to the archive.
    pub file: String,
    pub size: u64,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// IMAP flags and keywords as the old server gave them.
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_date: Option<Timestamp>,
    pub read_at: Timestamp,
}

/// `list` is written as an array sorted by (UIDVALIDITY, UID).
mod message_list {
    use super::*;
    pub(super) fn serialize<S: serde::Serializer>(
        list: &BTreeMap<(u32, u32), MessageRecord>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(list.values())
    }
    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<(u32, u32), MessageRecord>, D::Error> {
        let v: Vec<MessageRecord> = Vec::deserialize(d)?;
        Ok(v.into_iter().map(|m| ((m.uidvalidity, m.uid), m)).collect())
    }
}

/// A line of the pending log: what was written since `archive.json` was.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "line", rename_all = "kebab-case")]
enum Pending {
    Folder {
        mailbox: String,
        mailbox_dir: String,
        server: String,
        folder: String,
        head: FolderRecord,
    },
    Message {
        mailbox: String,
        folder: String,
        message: MessageRecord,
    },
    Covered {
        mailbox: String,
        folder: String,
        uidvalidity: u32,
        uidnext: u32,
    },
    /// A recorded file is gone (a crash before it reached the disk): read it again.
    Forget {
        mailbox: String,
        folder: String,
        uidvalidity: u32,
        uid: u32,
    },
}

impl ArchiveIndex {
    fn apply(&mut self, line: Pending) {
        match line {
            Pending::Folder {
                mailbox,
                mailbox_dir,
                server,
                folder,
                head,
            } => {
                let m = self.mailboxes.entry(mailbox).or_default();
                m.dir = mailbox_dir;
                m.server = server;
                let f = m.folders.entry(folder).or_default();
                let list = std::mem::take(&mut f.list);
                let covered = if f.uidvalidity == head.uidvalidity {
                    f.covered_uidnext
                } else {
                    0
                };
                *f = FolderRecord {
                    list,
                    covered_uidnext: covered,
                    ..head
                };
                f.recount();
            }
            Pending::Message {
                mailbox,
                folder,
                message,
            } => {
                let f = self
                    .mailboxes
                    .entry(mailbox)
                    .or_default()
                    .folders
                    .entry(folder)
                    .or_default();
                // Counted as it comes: a folder of 100,000 messages is never summed again.
                let size = message.size;
                match f.list.insert((message.uidvalidity, message.uid), message) {
                    Some(before) => f.bytes = f.bytes.saturating_sub(before.size) + size,
                    None => {
                        f.messages += 1;
                        f.bytes += size;
                    }
                }
            }
            Pending::Covered {
                mailbox,
                folder,
                uidvalidity,
                uidnext,
            } => {
                if let Some(f) = self
                    .mailboxes
                    .get_mut(&mailbox)
                    .and_then(|m| m.folders.get_mut(&folder))
                    && f.uidvalidity == uidvalidity
                {
                    f.covered_uidnext = f.covered_uidnext.max(uidnext);
                }
            }
            Pending::Forget {
                mailbox,
                folder,
                uidvalidity,
                uid,
            } => {
                if let Some(f) = self
                    .mailboxes
                    .get_mut(&mailbox)
                    .and_then(|m| m.folders.get_mut(&folder))
                    && f.list.remove(&(uidvalidity, uid)).is_some()
                {
                    f.covered_uidnext = 0;
                    f.recount();
                }
            }
        }
    }

    /// The manifest's text: one `<sha256>  <file>` line per message, sorted by file.
    pub fn manifest(&self) -> String {
        let mut lines: Vec<(&str, &str)> = self
            .mailboxes
            .values()
            .flat_map(|m| m.folders.values())
            .flat_map(|f| f.list.values())
            .map(|r| (r.file.as_str(), r.sha256.as_str()))
            .collect();
        lines.sort_unstable();
        let mut out = String::new();
        for (file, sha) in lines {
            out.push_str(sha);
            out.push_str("  ");
            out.push_str(file);
            out.push('\n');
        }
        out
    }

    /// Reads `archive.json` of the archive at `dir`; an archive not yet written is empty.
    pub fn read(dir: &Path) -> Result<ArchiveIndex, ArchiveError> {
        let path = dir.join(ARCHIVE_JSON);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ArchiveError::Corrupt {
                path,
                detail: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ArchiveIndex {
                format: 1,
                ..ArchiveIndex::default()
            }),
            Err(e) => Err(ArchiveError::io(&path, e)),
        }
    }
}

impl FolderRecord {
    fn recount(&mut self) {
        self.messages = self.list.len() as u64;
        self.bytes = self.list.values().map(|m| m.size).sum();
    }
}

/// What the archive gained in this run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    pub messages: u64,
    pub bytes: u64,
}

/// The archive, open for writing (it holds the lock until dropped).
#[derive(Debug)]
pub struct Archive {
    root: PathBuf,
    _lock: File,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    index: ArchiveIndex,
    pending: File,
    written: Written,
    /// What could not be archived in this run (the copy goes on; the command says so).
    problems: Vec<String>,
}

/// Where one folder of one mailbox is written.
#[derive(Debug, Clone)]
pub struct FolderWriter<'a> {
    archive: &'a Archive,
    mailbox: String,
    folder: String,
    /// Relative to the archive, with `/`.
    rel: String,
    uidvalidity: u32,
}

/// Creates `path` and its missing parents 0700.
fn private_dir(path: &Path) -> Result<(), ArchiveError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| ArchiveError::io(path, e))
}

/// Writes `bytes` to `path` through a temporary file and a rename, 0600, synced.
fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), ArchiveError> {
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| ArchiveError::io(path, e))
}

impl Archive {
    /// Opens (creating it 0700) the archive at `dir`, taking its lock; folds in what an
    /// interrupted run wrote but did not yet record in `archive.json`.
    pub fn open(dir: &Path) -> Result<Archive, ArchiveError> {
        private_dir(dir)?;
        let lock_path = dir.join(LOCK);
        let lock = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| ArchiveError::io(&lock_path, e))?;
        if rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
            return Err(ArchiveError::Busy {
                dir: dir.to_path_buf(),
            });
        }
        let mut index = ArchiveIndex::read(dir)?;
        index.format = 1;
        let pending_path = dir.join(PENDING);
        if let Ok(f) = File::open(&pending_path) {
            for line in BufReader::new(f).lines() {
                let line = line.map_err(|e| ArchiveError::io(&pending_path, e))?;
                // A torn last line (a crash mid-write) names a file that will be read again.
                if let Ok(p) = serde_json::from_str::<Pending>(&line) {
                    index.apply(p);
                }
            }
        }
        let pending = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&pending_path)
            .map_err(|e| ArchiveError::io(&pending_path, e))?;
        Ok(Archive {
            root: dir.to_path_buf(),
            _lock: lock,
            state: Mutex::new(State {
                index,
                pending,
                written: Written::default(),
                problems: Vec::new(),
            }),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.root
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What this run added so far.
    pub fn written(&self) -> Written {
        self.state().written
    }

    /// Keeps an error met while archiving during a copy (which goes on without it).
    pub fn note(&self, error: &ArchiveError) {
        tracing::error!("archive: {error}");
        self.state().problems.push(error.to_string());
    }

    /// The errors met while archiving in this run.
    pub fn problems(&self) -> Vec<String> {
        self.state().problems.clone()
    }

    /// The (UIDVALIDITY, UID) pairs archived for one folder.
    pub fn archived(&self, mailbox: &str, folder: &str) -> HashSet<(u32, u32)> {
        self.state()
            .index
            .mailboxes
            .get(&mailbox.to_lowercase())
            .and_then(|m| m.folders.get(folder))
            .map(|f| f.list.keys().copied().collect())
            .unwrap_or_default()
    }

    /// A copy of the index as it stands (pending lines included).
    pub fn index(&self) -> ArchiveIndex {
        self.state().index.clone()
    }

    /// Starts (or resumes) one folder: its Maildir exists afterwards, and files of ours
    /// that no record names (a run cut between the rename and its record) are removed,
    /// as they will be read again.
    pub fn begin_folder(
        &self,
        mailbox: &str,
        server: &str,
        folder: &str,
        delimiter: Option<&str>,
        status: crate::mail::FolderStatus,
        old_bytes: u64,
    ) -> Result<FolderWriter<'_>, ArchiveError> {
        let mailbox = mailbox.to_lowercase();
        let mailbox_dir = names::component(&mailbox);
        let folder_path = Path::new(&mailbox_dir).join(names::folder_dir(folder, delimiter));
        let abs = self.root.join(&folder_path);
        for sub in ["cur", "new", "tmp"] {
            private_dir(&abs.join(sub))?;
        }
        let rel = folder_path.to_string_lossy().into_owned();
        let records: Vec<(u32, u32, String)> = {
            let state = self.state();
            state
                .index
                .mailboxes
                .get(&mailbox)
                .and_then(|m| m.folders.get(folder))
                .map(|f| {
                    f.list
                        .values()
                        .map(|r| (r.uidvalidity, r.uid, r.file.clone()))
                        .collect()
                })
                .unwrap_or_default()
        };
        // A record whose file is gone is forgotten, so this run reads the message again.
        for (uidvalidity, uid, file) in &records {
            if !self.root.join(file).exists() {
                self.record(Pending::Forget {
                    mailbox: mailbox.clone(),
                    folder: folder.to_string(),
                    uidvalidity: *uidvalidity,
                    uid: *uid,
                })?;
            }
        }
        let known: HashSet<String> = records.into_iter().map(|(_, _, file)| file).collect();
        let cur = abs.join("cur");
        let entries = fs::read_dir(&cur).map_err(|e| ArchiveError::io(&cur, e))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let file = format!("{rel}/cur/{name}");
            if names::parse_message_key(&name).is_some() && !known.contains(&file) {
                let _ = fs::remove_file(entry.path());
            }
        }
        let head = FolderRecord {
            dir: rel.clone(),
            uidvalidity: status.uidvalidity,
            old_messages: u64::from(status.messages),
            old_bytes,
            old_uidnext: status.uidnext,
            read_at: Some(Timestamp::now()),
            ..FolderRecord::default()
        };
        self.record(Pending::Folder {
            mailbox: mailbox.clone(),
            mailbox_dir,
            server: server.to_string(),
            folder: folder.to_string(),
            head,
        })?;
        Ok(FolderWriter {
            archive: self,
            mailbox,
            folder: folder.to_string(),
            rel,
            uidvalidity: status.uidvalidity,
        })
    }

    fn record(&self, line: Pending) -> Result<(), ArchiveError> {
        let mut text = serde_json::to_string(&line).map_err(|e| ArchiveError::Corrupt {
            path: self.root.join(PENDING),
            detail: e.to_string(),
        })?;
        text.push('\n');
        let mut state = self.state();
        state
            .pending
            .write_all(text.as_bytes())
            .map_err(|e| ArchiveError::io(&self.root.join(PENDING), e))?;
        state.index.apply(line);
        Ok(())
    }

    /// Writes `archive.json` and `MANIFEST.sha256` from every record, then empties the
    /// pending log. Returns the manifest's SHA-256.
    pub fn finish(&self) -> Result<String, ArchiveError> {
        let mut state = self.state();
        state.index.written_at = Some(Timestamp::now());
        let json = serde_json::to_vec_pretty(&state.index).map_err(|e| ArchiveError::Corrupt {
            path: self.root.join(ARCHIVE_JSON),
            detail: e.to_string(),
        })?;
        replace_file(&self.root.join(ARCHIVE_JSON), &json)?;
        let manifest = state.index.manifest();
        replace_file(&self.root.join(MANIFEST), manifest.as_bytes())?;
        let pending = self.root.join(PENDING);
        state
            .pending
            .set_len(0)
            .and_then(|()| state.pending.sync_all())
            .map_err(|e| ArchiveError::io(&pending, e))?;
        Ok(sha256_hex(manifest.as_bytes()))
    }
}

/// Lowercase hex SHA-256, as `sha256sum` prints it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The Message-ID header's value (unfolded, sanitised), if the header block has one.
pub(crate) fn message_id(body: &[u8]) -> Option<String> {
    let end = body
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| body.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(body.len().min(64 * 1024));
    let head = String::from_utf8_lossy(&body[..end]);
    let mut value: Option<String> = None;
    for line in head.split('\n') {
        let line = line.trim_end_matches('\r');
        match &mut value {
            Some(v) if line.starts_with([' ', '\t']) => v.push_str(line.trim()),
            Some(_) => break,
            None => {
                if let Some((name, rest)) = line.split_once(':')
                    && name.trim().eq_ignore_ascii_case("message-id")
                {
                    value = Some(rest.trim().to_string());
                }
            }
        }
    }
    value
        .filter(|v| !v.is_empty())
        .map(|v| crate::sanitize::sanitize(&v.chars().take(998).collect::<String>()))
}

impl FolderWriter<'_> {
    /// Whether this UID (under this folder's UIDVALIDITY) is archived already.
    pub fn has(&self, uid: u32) -> bool {
        self.archive
            .state()
            .index
            .mailboxes
            .get(&self.mailbox)
            .and_then(|m| m.folders.get(&self.folder))
            .is_some_and(|f| f.list.contains_key(&(self.uidvalidity, uid)))
    }

    /// Writes one message exactly as read, unless it is archived already (false then).
    pub fn write(
        &self,
        uid: u32,
        body: &[u8],
        flags: Vec<String>,
        internal_date: Option<Timestamp>,
    ) -> Result<bool, ArchiveError> {
        if self.has(uid) {
            return Ok(false);
        }
        let size = body.len() as u64;
        let name = names::message_file(
            internal_date.map_or(0, |d| d.as_second()),
            self.uidvalidity,
            uid,
            size,
            &flags,
        );
        let dir = self.archive.root.join(&self.rel);
        let tmp = dir.join("tmp").join(&name);
        let cur = dir.join("cur").join(&name);
        let write = || -> std::io::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(body)?;
            if let Some(d) = internal_date {
                let when = std::time::SystemTime::try_from(d).unwrap_or(std::time::UNIX_EPOCH);
                f.set_times(fs::FileTimes::new().set_modified(when).set_accessed(when))?;
            }
            drop(f);
            fs::rename(&tmp, &cur)
        };
        write().map_err(|e| ArchiveError::io(&cur, e))?;
        let message = MessageRecord {
            uidvalidity: self.uidvalidity,
            uid,
            file: format!("{}/cur/{name}", self.rel),
            size,
            sha256: sha256_hex(body),
            message_id: message_id(body),
            flags,
            internal_date,
            read_at: Timestamp::now(),
        };
        self.archive.record(Pending::Message {
            mailbox: self.mailbox.clone(),
            folder: self.folder.clone(),
            message,
        })?;
        let mut state = self.archive.state();
        state.written.messages += 1;
        state.written.bytes += size;
        Ok(true)
    }

    /// Records that the archive covers the folder up to `uidnext` when every one of
    /// `old_uids` (the folder as scanned) is archived; returns whether it does.
    pub fn cover(
        &self,
        old_uids: impl IntoIterator<Item = u32>,
        uidnext: u32,
    ) -> Result<bool, ArchiveError> {
        let complete = {
            let state = self.archive.state();
            let list = state
                .index
                .mailboxes
                .get(&self.mailbox)
                .and_then(|m| m.folders.get(&self.folder))
                .map(|f| &f.list);
            old_uids
                .into_iter()
                .all(|uid| list.is_some_and(|l| l.contains_key(&(self.uidvalidity, uid))))
        };
        if complete {
            self.archive.record(Pending::Covered {
                mailbox: self.mailbox.clone(),
                folder: self.folder.clone(),
                uidvalidity: self.uidvalidity,
                uidnext,
            })?;
        }
        Ok(complete)
    }

    /// The archive this folder is written into.
    pub fn archive(&self) -> &Archive {
        self.archive
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::FolderStatus;
    use std::os::unix::fs::PermissionsExt;

    fn status(uidvalidity: u32, messages: u32, uidnext: u32) -> FolderStatus {
        FolderStatus {
            messages,
            uidnext,
            uidvalidity,
        }
    }

    #[test]
    fn a_message_is_written_once_private_dated_and_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("arch");
        let body = b"Message-ID: <a@x>\r\nSubject: hi\r\n\r\nbody\r\n";
        let date: Timestamp = "2024-01-01T10:00:00Z".parse().unwrap();
        {
            let archive = Archive::open(&root).unwrap();
            let w = archive
                .begin_folder(
                    "A@X",
                    "imaps://old",
                    "INBOX",
                    Some("/"),
                    status(9, 1, 2),
                    40,
                )
                .unwrap();
            assert!(w.write(1, body, vec!["\\Seen".into()], Some(date)).unwrap());
            assert!(!w.write(1, body, vec![], Some(date)).unwrap());
            assert!(w.cover([1], 2).unwrap());
            archive.finish().unwrap();
            // A second writer is refused while this one holds the lock.
            assert!(matches!(
                Archive::open(&root),
                Err(ArchiveError::Busy { .. })
            ));
        }
        let file = root.join("a@x/INBOX/cur/1704103200.U9_1.cutover,S=40:2,S");
        assert_eq!(fs::read(&file).unwrap(), body);
        let meta = fs::metadata(&file).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(
            meta.modified().unwrap(),
            std::time::SystemTime::try_from(date).unwrap()
        );
        assert_eq!(
            fs::metadata(&root).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let index = ArchiveIndex::read(&root).unwrap();
        let f = &index.mailboxes["a@x"].folders["INBOX"];
        assert_eq!((f.messages, f.bytes, f.covered_uidnext), (1, 40, 2));
        assert_eq!(f.list[&(9, 1)].message_id.as_deref(), Some("<a@x>"));
        let manifest = fs::read_to_string(root.join(MANIFEST)).unwrap();
        assert_eq!(
            manifest,
            format!(
                "{}  a@x/INBOX/cur/1704103200.U9_1.cutover,S=40:2,S\n",
                sha256_hex(body)
            )
        );
    }

    #[test]
    fn records_survive_a_run_that_never_finished() {
        let dir = tempfile::tempdir().unwrap();
        {
            let archive = Archive::open(dir.path()).unwrap();
            let w = archive
                .begin_folder("a@x", "s", "Sent", Some("/"), status(1, 2, 3), 10)
                .unwrap();
            w.write(1, b"one\r\n", vec![], None).unwrap();
            w.write(2, b"two\r\n", vec![], None).unwrap();
            // Not covered: UID 3 is not archived.
            assert!(!w.cover([1, 2, 3], 4).unwrap());
        }
        let archive = Archive::open(dir.path()).unwrap();
        assert_eq!(
            archive.archived("a@x", "Sent"),
            HashSet::from([(1, 1), (1, 2)])
        );
        let w = archive
            .begin_folder("a@x", "s", "Sent", Some("/"), status(1, 2, 3), 10)
            .unwrap();
        // The files are still there: not orphans, since their records were kept.
        assert_eq!(
            fs::read_dir(dir.path().join("a@x/Sent/cur"))
                .unwrap()
                .count(),
            2
        );
        assert!(w.has(2));
        drop(w);
        // A recorded file that never reached the disk is read again by the next run.
        let gone = archive.index().mailboxes["a@x"].folders["Sent"].list[&(1, 2)]
            .file
            .clone();
        fs::remove_file(dir.path().join(&gone)).unwrap();
        let w = archive
            .begin_folder("a@x", "s", "Sent", Some("/"), status(1, 2, 3), 10)
            .unwrap();
        assert!(w.has(1));
        assert!(!w.has(2));
        assert!(w.write(2, b"two\r\n", vec![], None).unwrap());
        archive.finish().unwrap();
        assert_eq!(archive.index().mailboxes["a@x"].folders["Sent"].messages, 2);
    }

    #[test]
    fn the_message_id_is_read_from_the_header_only() {
        assert_eq!(
            message_id(b"Subject: x\r\nMessage-Id:\r\n <f@o>\r\n\r\nMessage-ID: <no@x>\r\n"),
            Some("<f@o>".into())
        );
        assert_eq!(
            message_id(b"Subject: x\r\n\r\nMessage-ID: <no@x>\r\n"),
            None
        );
    }
}
