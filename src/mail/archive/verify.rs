//! Verifying the archive: every file against `MANIFEST.sha256` and every folder's count
//! against `archive.json` (offline); the old server's messages against what is archived
//! (online, with [`compare_with_old`]); the journal fact a verification yields; and the
//! `archive-verified` gate `decommission-old` waits for.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::store::{ARCHIVE_JSON, ArchiveIndex, MANIFEST, hex, sha256_hex};
use super::{ArchiveError, names};
use crate::check::{Check, Kind, Status};
use crate::journal::{Entry, History};
use crate::mail::steps::OLD_INBOX_UIDNEXT;
use crate::plan::Plan;
use crate::sanitize::sanitize;

/// The journal fact of a verification: `{dir, manifest_sha256, ok, online, problems, mailboxes}`.
pub const ARCHIVE_FACT: &str = "archive-verified";

/// Problems listed in a fact, at most (the count is always whole).
const PROBLEMS_KEPT: usize = 20;

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub dir: PathBuf,
    /// SHA-256 of `MANIFEST.sha256` as it was verified.
    pub manifest_sha256: String,
    /// Message files checked against the manifest.
    pub files: u64,
    /// Each names the file or folder it is about.
    pub problems: Vec<String>,
    /// Whether the old server's messages were compared too.
    pub online: bool,
    pub mailboxes: Vec<MailboxCoverage>,
}

/// One mailbox as the archive holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailboxCoverage {
    pub address: String,
    pub folders: u64,
    pub messages: u64,
    pub bytes: u64,
    /// Every old INBOX message with a UID below this is archived (None: not known).
    pub inbox_uidnext: Option<u32>,
    /// The old server's message count over every folder (online only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_messages: Option<u64>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One folder as the old server has it now (online verification).
#[derive(Debug, Clone, PartialEq)]
pub struct OldFolder {
    pub name: String,
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub uids: Vec<u32>,
}

/// The SHA-256 of a file, read in pieces (bounded memory for any size).
fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Checks every file against the manifest, the manifest against `archive.json`, and every
/// folder's file count against `archive.json`, reading nothing but the archive.
pub fn verify_offline(dir: &Path) -> Result<Verification, ArchiveError> {
    if !dir.join(ARCHIVE_JSON).exists() {
        return Err(ArchiveError::Corrupt {
            path: dir.join(ARCHIVE_JSON),
            detail: "missing: this is not an archive cutover wrote (or nothing was archived yet)"
                .into(),
        });
    }
    let index = ArchiveIndex::read(dir)?;
    let manifest_path = dir.join(MANIFEST);
    let manifest =
        std::fs::read(&manifest_path).map_err(|e| ArchiveError::io(&manifest_path, e))?;
    let mut problems = Vec::new();
    let mut listed: BTreeMap<String, String> = BTreeMap::new();
    for (n, line) in String::from_utf8_lossy(&manifest).lines().enumerate() {
        let Some((sha, file)) = line.split_once("  ") else {
            problems.push(format!("{MANIFEST} line {}: not `<sha256>  <file>`", n + 1));
            continue;
        };
        // A manifest naming a file outside the archive is never followed.
        if !Path::new(file)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            problems.push(format!(
                "{MANIFEST} line {}: {} is not a path inside the archive",
                n + 1,
                sanitize(file)
            ));
            continue;
        }
        listed.insert(file.to_string(), sha.to_string());
    }
    let mut files = 0;
    for (file, sha) in &listed {
        files += 1;
        match file_sha256(&dir.join(file)) {
            Ok(actual) if actual == *sha => {}
            Ok(_) => problems.push(format!(
                "{}: its SHA-256 differs from the manifest (the file changed)",
                sanitize(file)
            )),
            Err(e) => problems.push(format!("{}: {e}", sanitize(file))),
        }
    }
    let mut mailboxes = Vec::new();
    for (address, m) in &index.mailboxes {
        let mut coverage = MailboxCoverage {
            address: address.clone(),
            folders: m.folders.len() as u64,
            messages: 0,
            bytes: 0,
            inbox_uidnext: None,
            old_messages: None,
        };
        for (name, f) in &m.folders {
            coverage.messages += f.messages;
            coverage.bytes += f.bytes;
            if name.eq_ignore_ascii_case("INBOX") && f.covered_uidnext > 0 {
                coverage.inbox_uidnext = Some(f.covered_uidnext);
            }
            for r in f.list.values() {
                if listed.get(&r.file) != Some(&r.sha256) {
                    problems.push(format!(
                        "{}: in {ARCHIVE_JSON} but not in the manifest as recorded",
                        sanitize(&r.file)
                    ));
                }
            }
            let on_disk = ["cur", "new"]
                .iter()
                .filter_map(|sub| std::fs::read_dir(dir.join(&f.dir).join(sub)).ok())
                .flat_map(|entries| entries.flatten())
                .filter(|e| names::parse_message_key(&e.file_name().to_string_lossy()).is_some())
                .count() as u64;
            if on_disk != f.messages {
                problems.push(format!(
                    "{address} {}: {on_disk} message files, {ARCHIVE_JSON} says {}",
                    sanitize(name),
                    f.messages
                ));
            }
        }
        mailboxes.push(coverage);
    }
    Ok(Verification {
        dir: dir.to_path_buf(),
        manifest_sha256: sha256_hex(&manifest),
        files,
        problems,
        online: false,
        mailboxes,
    })
}

/// Compares one mailbox's old folders (as the old server has them now) with the archive:
/// every old message must be archived; an old folder not archived at all is named.
/// `skipped` are folders not archived on purpose (virtual views of other folders).
pub fn compare_with_old(
    v: &mut Verification,
    index: &ArchiveIndex,
    mailbox: &str,
    old: &[OldFolder],
) {
    v.online = true;
    let key = mailbox.to_lowercase();
    let record = index.mailboxes.get(&key);
    let mut inbox_covered = None;
    for folder in old {
        let archived: HashSet<(u32, u32)> = record
            .and_then(|m| m.folders.get(&folder.name))
            .map(|f| f.list.keys().copied().collect())
            .unwrap_or_default();
        let missing = folder
            .uids
            .iter()
            .filter(|u| !archived.contains(&(folder.uidvalidity, **u)))
            .count();
        if missing > 0 {
            v.problems.push(format!(
                "{mailbox} {}: {} on the old server not in the archive",
                sanitize(&folder.name),
                crate::units::count(missing as u64, "message", "messages")
            ));
        } else if folder.name.eq_ignore_ascii_case("INBOX") {
            inbox_covered = Some(folder.uidnext);
        }
    }
    let old_messages = old.iter().map(|f| f.uids.len() as u64).sum();
    match v.mailboxes.iter_mut().find(|m| m.address == key) {
        Some(m) => {
            m.old_messages = Some(old_messages);
            m.inbox_uidnext = m.inbox_uidnext.max(inbox_covered);
        }
        None => v.mailboxes.push(MailboxCoverage {
            address: key,
            folders: 0,
            messages: 0,
            bytes: 0,
            inbox_uidnext: inbox_covered,
            old_messages: Some(old_messages),
        }),
    }
}

/// The journal fact of a verification; `Recorder::archive_verification` journals it.
pub fn archive_fact(v: &Verification, at: Timestamp) -> Entry {
    let messages: u64 = v.mailboxes.iter().map(|m| m.messages).sum();
    let value = serde_json::json!({
        "dir": v.dir.display().to_string(),
        "manifest_sha256": v.manifest_sha256,
        "ok": v.ok(),
        "online": v.online,
        "files": v.files,
        "problem_count": v.problems.len(),
        "problems": v.problems.iter().take(PROBLEMS_KEPT).collect::<Vec<_>>(),
        "mailboxes": v.mailboxes,
    });
    let how = if v.online {
        "and against the old server"
    } else {
        "offline"
    };
    let evidence = if v.ok() {
        format!(
            "archive {} verified {how}: {} in {}, manifest SHA-256 {}",
            v.dir.display(),
            crate::units::count(messages, "message", "messages"),
            crate::units::count(v.mailboxes.len() as u64, "mailbox", "mailboxes"),
            &v.manifest_sha256
        )
    } else {
        format!(
            "archive {} failed verification {how}: {}; first: {}",
            v.dir.display(),
            crate::units::count(v.problems.len() as u64, "problem", "problems"),
            v.problems.first().map(String::as_str).unwrap_or_default()
        )
    };
    Entry::Fact {
        at,
        key: ARCHIVE_FACT.to_string(),
        value,
        evidence: sanitize(&evidence),
    }
}

/// The `archive-verified` gate of `decommission-old`: the plan's archive verified, every
/// mailbox in it, each covering its old INBOX up to the latest `old-inbox-uidnext` fact
/// (the last arrival on the old server). `[archive] required = false` makes a failure a
/// warning.
pub fn archive_verified(plan: &Plan, history: &History, now: Timestamp) -> Check {
    let id = crate::mail::steps::ARCHIVE_VERIFIED;
    let Some(archive) = &plan.archive else {
        return Check::new(
            id,
            Kind::Gate,
            Status::Fail,
            "the plan has no [archive]: nothing of the old server would be kept once it is off; \
add `[archive]` with `dir = \"cutover-archive\"`, then `cutover archive` and `cutover archive --verify` \
(with `required = false` too when the old provider keeps its own export: then a warning only)",
        );
    };
    let short = if archive.required {
        Status::Fail
    } else {
        Status::Warn
    };
    let dir = archive.dir.display().to_string();
    let Some(fact) = history.last_fact(ARCHIVE_FACT) else {
        return Check::new(
            id,
            Kind::Gate,
            short,
            format!("the archive {dir} was never verified: run `cutover archive --verify`"),
        );
    };
    let value = &fact.value;
    let ago = crate::units::duration(now.duration_since(fact.at));
    if value.get("dir").and_then(|d| d.as_str()) != Some(dir.as_str()) {
        return Check::new(
            id,
            Kind::Gate,
            short,
            format!(
                "the last verification ({ago} ago) was of {}, not the plan's {dir}: run `cutover archive --verify`",
                sanitize(value.get("dir").and_then(|d| d.as_str()).unwrap_or("?"))
            ),
        );
    }
    if value.get("ok").and_then(|o| o.as_bool()) != Some(true) {
        return Check::new(
            id,
            Kind::Gate,
            short,
            format!(
                "the last verification of {dir} ({ago} ago) failed: {}",
                sanitize(&fact.evidence)
            ),
        );
    }
    // Offline, only the archive was read: an old folder never archived would go unnoticed.
    if value.get("online").and_then(|o| o.as_bool()) != Some(true) {
        return Check::new(
            id,
            Kind::Gate,
            short,
            format!(
                "the archive {dir} was verified offline only ({ago} ago): the old server's folders were not compared; run `cutover archive --verify` without --offline"
            ),
        );
    }
    let coverage: Vec<MailboxCoverage> = value
        .get("mailboxes")
        .and_then(|m| serde_json::from_value(m.clone()).ok())
        .unwrap_or_default();
    let last_uidnext = latest_old_uidnext(history);
    let (mut absent, mut behind, mut unwatched) = (Vec::new(), Vec::new(), Vec::new());
    for mailbox in &plan.mailboxes {
        let key = mailbox.address.to_lowercase();
        let covered = coverage
            .iter()
            .find(|c| c.address == key)
            .map(|c| c.inbox_uidnext);
        match (covered, last_uidnext.get(&key)) {
            (None, _) => absent.push(mailbox.address.clone()),
            (Some(_), None) => unwatched.push(mailbox.address.clone()),
            (Some(c), Some(&latest)) if c.unwrap_or(0) < latest => {
                behind.push(mailbox.address.clone())
            }
            _ => {}
        }
    }
    if !absent.is_empty() || !behind.is_empty() {
        let mut parts = Vec::new();
        if !absent.is_empty() {
            parts.push(format!("not archived: {}", list(&absent)));
        }
        if !behind.is_empty() {
            parts.push(format!(
                "older than the last arrival in the old INBOX: {}",
                list(&behind)
            ));
        }
        return Check::new(
            id,
            Kind::Gate,
            short,
            format!(
                "the archive {dir} (verified {ago} ago) is incomplete: {}; run `cutover archive`, then `cutover archive --verify`",
                parts.join("; ")
            ),
        );
    }
    if !unwatched.is_empty() {
        return Check::new(
            id,
            Kind::Gate,
            if archive.required {
                Status::Unknown
            } else {
                Status::Warn
            },
            format!(
                "the last arrival in the old INBOX was never observed for {}: cannot tell whether the archive covers it",
                list(&unwatched)
            ),
        );
    }
    let messages: u64 = coverage.iter().map(|c| c.messages).sum();
    Check::new(
        id,
        Kind::Gate,
        Status::Pass,
        format!(
            "the archive {dir} was verified {ago} ago ({}, manifest SHA-256 {}…), covering every old INBOX up to its last arrival",
            crate::units::count(messages, "message", "messages"),
            value
                .get("manifest_sha256")
                .and_then(|s| s.as_str())
                .map(|s| s.chars().take(12).collect::<String>())
                .unwrap_or_default()
        ),
    )
}

/// Mailbox (lowercase) → the latest UIDNEXT its old INBOX was seen at.
fn latest_old_uidnext(history: &History) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for fact in history.facts.get(OLD_INBOX_UIDNEXT).into_iter().flatten() {
        let mailbox = fact.value.get("mailbox").and_then(|v| v.as_str());
        let uidnext = fact.value.get("uidnext").and_then(|v| v.as_u64());
        if let (Some(m), Some(u)) = (mailbox, uidnext) {
            out.insert(m.to_lowercase(), u32::try_from(u).unwrap_or(u32::MAX));
        }
    }
    out
}

fn list(names: &[String]) -> String {
    let shown: Vec<String> = names.iter().take(3).map(|n| sanitize(n)).collect();
    if names.len() > 3 {
        format!("{} and {} more", shown.join(", "), names.len() - 3)
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::FolderStatus;
    use crate::mail::archive::Archive;
    use jiff::SignedDuration;
    use serde_json::json;

    fn plan(mailboxes: &[&str], dir: &Path, required: bool) -> Plan {
        let mut plan = crate::plan::load::parse(
            Path::new("/nonexistent/p.toml"),
            "domain = \"x.test\"\nstart = \"2026-03-02T09:00\"\ntimezone = \"UTC\"\n\
             [old]\nmx = [\"1 a.x.\"]\nspf = [\"mx\"]\nimap = \"imaps://a.x\"\n\
             [new]\nmx = [\"1 b.x.\"]\nspf = [\"mx\"]\ndkim_selector = \"s\"\nimap = \"imaps://b.x\"\n\
             [[mailbox]]\naddress = \"z@x.test\"\n",
            &crate::plan::load::Environment {
                login_user: "t".into(),
                system_timezone: None,
            },
        )
        .expect("plan")
        .plan;
        plan.mailboxes = mailboxes
            .iter()
            .map(|a| crate::plan::Mailbox {
                address: a.to_string(),
                old_login: a.to_string(),
                new_login: a.to_string(),
                ..crate::plan::Mailbox::default()
            })
            .collect();
        plan.archive = Some(crate::plan::ArchivePlan {
            dir: dir.to_path_buf(),
            required,
        });
        plan
    }

    fn uidnext(at: Timestamp, mailbox: &str, uidnext: u32) -> Entry {
        Entry::Fact {
            at,
            key: OLD_INBOX_UIDNEXT.into(),
            value: json!({"mailbox": mailbox, "uidnext": uidnext}),
            evidence: String::new(),
        }
    }

    /// An archive of a@x's INBOX with UIDs 1..=n, covered up to n+1.
    fn archive_of(dir: &Path, n: u32) {
        let archive = Archive::open(dir).unwrap();
        let status = FolderStatus {
            messages: n,
            uidnext: n + 1,
            uidvalidity: 5,
        };
        let w = archive
            .begin_folder("a@x", "imaps://old", "INBOX", Some("/"), status, 0)
            .unwrap();
        for uid in 1..=n {
            let body = format!("Subject: {uid}\r\n\r\nbody {uid}\r\n");
            w.write(uid, body.as_bytes(), vec![], None).unwrap();
        }
        w.cover(1..=n, n + 1).unwrap();
        archive.finish().unwrap();
    }

    #[test]
    fn a_flipped_byte_fails_verification_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        archive_of(dir.path(), 3);
        let v = verify_offline(dir.path()).unwrap();
        assert!(v.ok(), "{:?}", v.problems);
        assert_eq!(v.files, 3);
        assert_eq!(v.mailboxes[0].inbox_uidnext, Some(4));
        let cur = dir.path().join("a@x/INBOX/cur");
        let victim = std::fs::read_dir(&cur).unwrap().next().unwrap().unwrap();
        let mut bytes = std::fs::read(victim.path()).unwrap();
        bytes[0] ^= 1;
        std::fs::write(victim.path(), bytes).unwrap();
        let v = verify_offline(dir.path()).unwrap();
        assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
        let name = victim.file_name().to_string_lossy().into_owned();
        assert!(v.problems[0].contains(&name), "{}", v.problems[0]);
        // A removed file is named too, and the folder's count no longer matches.
        std::fs::remove_file(victim.path()).unwrap();
        let v = verify_offline(dir.path()).unwrap();
        assert_eq!(v.problems.len(), 2, "{:?}", v.problems);
    }

    #[test]
    fn the_gate_wants_a_verified_archive_covering_the_last_arrival() {
        let dir = tempfile::tempdir().unwrap();
        archive_of(dir.path(), 3);
        let t0: Timestamp = "2026-03-03T08:00:00Z".parse().unwrap();
        let h = |n: i64| t0.checked_add(SignedDuration::from_hours(n)).unwrap();
        let plan = plan(&["a@x"], dir.path(), true);
        // Never verified.
        let c = archive_verified(&plan, &History::default(), h(0));
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.evidence.contains("never verified"), "{}", c.evidence);
        let offline = verify_offline(dir.path()).unwrap();
        // Verified offline only: the old server's folders were never compared.
        let only_offline = archive_fact(&offline, h(1));
        let c = archive_verified(&plan, &History::from_entries([&only_offline]), h(2));
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.evidence.contains("offline only"), "{}", c.evidence);
        let v = Verification {
            online: true,
            ..offline
        };
        let fact = archive_fact(&v, h(1));
        // Verified, but the old INBOX was never watched: not measured.
        let c = archive_verified(&plan, &History::from_entries([&fact]), h(2));
        assert_eq!(c.status, Status::Unknown, "{c:?}");
        // Covers UIDNEXT 4: passes while the old INBOX is at 4.
        let at_4 = uidnext(h(0), "a@x", 4);
        let c = archive_verified(&plan, &History::from_entries([&at_4, &fact]), h(2));
        assert_eq!(c.status, Status::Pass, "{c:?}");
        // A later arrival (UIDNEXT 5) makes the archive older than the last arrival.
        let at_5 = uidnext(h(3), "a@x", 5);
        let c = archive_verified(&plan, &History::from_entries([&at_4, &fact, &at_5]), h(4));
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(
            c.evidence.contains("older than the last arrival"),
            "{}",
            c.evidence
        );
        // `required = false`: the same is a warning.
        let lenient = super::tests::plan(&["a@x"], dir.path(), false);
        let c = archive_verified(
            &lenient,
            &History::from_entries([&at_4, &fact, &at_5]),
            h(4),
        );
        assert_eq!(c.status, Status::Warn, "{c:?}");
        // A mailbox of the plan not in the archive fails.
        let two = super::tests::plan(&["a@x", "b@x"], dir.path(), true);
        let c = archive_verified(&two, &History::from_entries([&at_4, &fact]), h(2));
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.evidence.contains("not archived: b@x"), "{}", c.evidence);
        // A failed verification fails the gate.
        let mut broken = v.clone();
        broken.problems.push("x: changed".into());
        let bad = archive_fact(&broken, h(5));
        let c = archive_verified(&plan, &History::from_entries([&at_4, &fact, &bad]), h(6));
        assert_eq!(c.status, Status::Fail, "{c:?}");
        // No [archive] at all fails.
        let mut none = plan.clone();
        none.archive = None;
        assert_eq!(
            archive_verified(&none, &History::default(), h(0)).status,
            Status::Fail
        );
    }

    #[test]
    fn online_comparison_names_old_messages_not_archived() {
        let dir = tempfile::tempdir().unwrap();
        archive_of(dir.path(), 2);
        let index = ArchiveIndex::read(dir.path()).unwrap();
        let mut v = verify_offline(dir.path()).unwrap();
        let inbox = |uids: Vec<u32>, uidnext| OldFolder {
            name: "INBOX".into(),
            uidvalidity: 5,
            uidnext,
            uids,
        };
        compare_with_old(&mut v, &index, "A@X", &[inbox(vec![1, 2], 3)]);
        assert!(v.ok() && v.online, "{:?}", v.problems);
        assert_eq!(v.mailboxes[0].old_messages, Some(2));
        let sent = OldFolder {
            name: "Sent".into(),
            uidvalidity: 1,
            uidnext: 2,
            uids: vec![1],
        };
        compare_with_old(&mut v, &index, "a@x", &[inbox(vec![1, 2, 3], 4), sent]);
        assert_eq!(v.problems.len(), 2, "{:?}", v.problems);
        assert!(v.problems[0].contains("1 message on the old server"));
        assert!(v.problems[1].contains("Sent"));
    }
}
