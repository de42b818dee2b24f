//! The rehearsal IMAP server's storage: users → folders → messages, in memory, shared by every
//! connection and by the rehearsal itself (which delivers mail and inspects mailboxes directly).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use jiff::ZonedDateTime;

use crate::mail::SpecialUse;

/// One stored message. `raw` is shared, so snapshots are cheap.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub uid: u32,
    /// Flags as IMAP writes them: `\Seen`, `\Answered`, `$Forwarded`.
    pub flags: BTreeSet<String>,
    /// INTERNALDATE, with the offset it was given in.
    pub internal_date: ZonedDateTime,
    pub raw: Arc<Vec<u8>>,
}

impl StoredMessage {
    pub fn is_seen(&self) -> bool {
        self.flags.contains("\\Seen")
    }
}

/// A folder's counters and attributes, as STATUS and LIST report them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderInfo {
    /// The folder's name in UTF-8 (the wire form is modified UTF-7).
    pub name: String,
    pub special_use: Option<SpecialUse>,
    pub uid_validity: u32,
    pub uid_next: u32,
    pub messages: u32,
    pub unseen: u32,
}

/// A drill the operator can switch on while the rehearsal runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    /// Behave.
    #[default]
    None,
    /// Every connection is cut once the server has sent this many bytes on it.
    DropAfterBytes(u64),
    /// Every command but LOGOUT is answered `NO [THROTTLED]`.
    Throttled,
}

/// Why a mailstore operation was refused; names the user and folder concerned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("no user '{user}' on this server")]
    NoSuchUser { user: String },
    #[error("user '{user}' already exists")]
    UserExists { user: String },
    #[error("user '{user}' has no folder '{folder}'")]
    NoSuchFolder { user: String, folder: String },
    #[error("user '{user}' already has a folder '{folder}'")]
    FolderExists { user: String, folder: String },
    #[error("'{folder}' is not a valid folder name")]
    BadFolderName { folder: String },
    #[error("a message for '{user}' in '{folder}' contains a NUL byte, which IMAP cannot carry")]
    NulInMessage { user: String, folder: String },
}

/// The mail of every user of one rehearsal server; cheap to clone, shared by all connections.
#[derive(Debug, Clone, Default)]
pub struct Mailstore {
    inner: Arc<Mutex<Store>>,
}

#[derive(Debug, Default)]
struct Store {
    users: BTreeMap<String, User>,
    /// Credentials that may act for any user (AUTHENTICATE PLAIN authzid, `user*admin`).
    admin: Option<(String, String)>,
    fault: Fault,
    /// Gives each folder a distinct UIDVALIDITY, as real servers do.
    next_uid_validity: u32,
}

#[derive(Debug)]
struct User {
    password: String,
    /// In creation order; INBOX first.
    folders: Vec<Folder>,
}

#[derive(Debug)]
struct Folder {
    name: String,
    special_use: Option<SpecialUse>,
    uid_validity: u32,
    uid_next: u32,
    messages: Vec<StoredMessage>,
}

impl Folder {
    fn info(&self) -> FolderInfo {
        FolderInfo {
            name: self.name.clone(),
            special_use: self.special_use,
            uid_validity: self.uid_validity,
            uid_next: self.uid_next,
            messages: u32::try_from(self.messages.len()).unwrap_or(u32::MAX),
            unseen: u32::try_from(self.messages.iter().filter(|m| !m.is_seen()).count())
                .unwrap_or(u32::MAX),
        }
    }
}

/// IMAP says INBOX is case-insensitive; every other name is compared exactly.
fn same_folder(a: &str, b: &str) -> bool {
    if a.eq_ignore_ascii_case("INBOX") {
        b.eq_ignore_ascii_case("INBOX")
    } else {
        a == b
    }
}

impl Store {
    fn user(&self, user: &str) -> Result<&User, StoreError> {
        self.users.get(user).ok_or_else(|| StoreError::NoSuchUser {
            user: user.to_string(),
        })
    }

    fn user_mut(&mut self, user: &str) -> Result<&mut User, StoreError> {
        self.users
            .get_mut(user)
            .ok_or_else(|| StoreError::NoSuchUser {
                user: user.to_string(),
            })
    }

    fn folder(&self, user: &str, folder: &str) -> Result<&Folder, StoreError> {
        self.user(user)?
            .folders
            .iter()
            .find(|f| same_folder(&f.name, folder))
            .ok_or_else(|| StoreError::NoSuchFolder {
                user: user.to_string(),
                folder: folder.to_string(),
            })
    }

    fn folder_mut(&mut self, user: &str, folder: &str) -> Result<&mut Folder, StoreError> {
        self.user_mut(user)?
            .folders
            .iter_mut()
            .find(|f| same_folder(&f.name, folder))
            .ok_or_else(|| StoreError::NoSuchFolder {
                user: user.to_string(),
                folder: folder.to_string(),
            })
    }

    fn new_folder(&mut self, name: &str, special_use: Option<SpecialUse>) -> Folder {
        self.next_uid_validity = self.next_uid_validity.max(1_700_000_000) + 1;
        Folder {
            name: name.to_string(),
            special_use,
            uid_validity: self.next_uid_validity,
            uid_next: 1,
            messages: Vec::new(),
        }
    }
}

impl Mailstore {
    pub fn new() -> Mailstore {
        Mailstore::default()
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        // Every mutation below completes or returns before touching the store, so a panic in
        // another holder cannot leave it half-written; keep serving after a poisoned lock.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a user with an empty INBOX.
    pub fn create_user(&self, login: &str, password: &str) -> Result<(), StoreError> {
        let mut store = self.lock();
        if store.users.contains_key(login) {
            return Err(StoreError::UserExists {
                user: login.to_string(),
            });
        }
        let inbox = store.new_folder("INBOX", None);
        store.users.insert(
            login.to_string(),
            User {
                password: password.to_string(),
                folders: vec![inbox],
            },
        );
        Ok(())
    }

    /// Sets the credentials that may log in on behalf of any user: AUTHENTICATE PLAIN with an
    /// authorization identity, or Dovecot's master-user login `user*admin`.
    pub fn set_admin(&self, login: &str, password: &str) {
        self.lock().admin = Some((login.to_string(), password.to_string()));
    }

    /// Switches a drill on (or off with [`Fault::None`]) for every connection.
    pub fn set_fault(&self, fault: Fault) {
        self.lock().fault = fault;
    }

    pub fn fault(&self) -> Fault {
        self.lock().fault
    }

    /// Creates a folder (UTF-8 name, `/` as hierarchy delimiter).
    pub(crate) fn create_folder(
        &self,
        user: &str,
        folder: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<(), StoreError> {
        let trimmed = folder.trim_end_matches('/');
        if trimmed.is_empty() || trimmed.split('/').any(str::is_empty) {
            return Err(StoreError::BadFolderName {
                folder: folder.to_string(),
            });
        }
        let mut store = self.lock();
        if store.folder(user, trimmed).is_ok() {
            return Err(StoreError::FolderExists {
                user: user.to_string(),
                folder: trimmed.to_string(),
            });
        }
        store.user(user)?;
        let new = store.new_folder(trimmed, special_use);
        store.user_mut(user)?.folders.push(new);
        Ok(())
    }

    /// Puts a message into a folder as new mail (no flags); returns its UID.
    pub fn deliver(
        &self,
        user: &str,
        folder: &str,
        raw: Vec<u8>,
        internal_date: ZonedDateTime,
    ) -> Result<u32, StoreError> {
        self.append(user, folder, raw, BTreeSet::new(), internal_date)
    }

    /// Puts a message into a folder with flags (what APPEND does); returns its UID.
    pub fn append(
        &self,
        user: &str,
        folder: &str,
        raw: Vec<u8>,
        flags: BTreeSet<String>,
        internal_date: ZonedDateTime,
    ) -> Result<u32, StoreError> {
        if raw.contains(&0) {
            return Err(StoreError::NulInMessage {
                user: user.to_string(),
                folder: folder.to_string(),
            });
        }
        let mut store = self.lock();
        let folder = store.folder_mut(user, folder)?;
        let uid = folder.uid_next;
        folder.uid_next += 1;
        folder.messages.push(StoredMessage {
            uid,
            flags,
            internal_date,
            raw: Arc::new(raw),
        });
        Ok(uid)
    }

    /// A snapshot of a folder's messages, in UID order.
    pub fn messages(&self, user: &str, folder: &str) -> Result<Vec<StoredMessage>, StoreError> {
        Ok(self.lock().folder(user, folder)?.messages.clone())
    }

    /// Every folder of a user, INBOX first.
    pub fn folders(&self, user: &str) -> Result<Vec<FolderInfo>, StoreError> {
        Ok(self
            .lock()
            .user(user)?
            .folders
            .iter()
            .map(Folder::info)
            .collect())
    }

    pub fn folder_info(&self, user: &str, folder: &str) -> Result<FolderInfo, StoreError> {
        Ok(self.lock().folder(user, folder)?.info())
    }

    pub fn users(&self) -> Vec<String> {
        self.lock().users.keys().cloned().collect()
    }

    /// Which user a login with these credentials acts as, if any: the user's own password,
    /// or `user*admin` with the admin's password (Dovecot master-user syntax).
    pub(crate) fn check_login(&self, login: &str, password: &str) -> Option<String> {
        let store = self.lock();
        if let Some(user) = store.users.get(login) {
            return (user.password == password).then(|| login.to_string());
        }
        let (user, master) = login.rsplit_once('*')?;
        let (admin, admin_password) = store.admin.as_ref()?;
        (master == admin && password == admin_password && store.users.contains_key(user))
            .then(|| user.to_string())
    }

    /// AUTHENTICATE PLAIN: `authcid` proves itself with `password` and acts as `authzid`
    /// (itself when empty); only the admin may act for another user.
    pub(crate) fn check_plain(
        &self,
        authzid: &str,
        authcid: &str,
        password: &str,
    ) -> Option<String> {
        if authzid.is_empty() || authzid == authcid {
            return self.check_login(authcid, password);
        }
        let store = self.lock();
        let (admin, admin_password) = store.admin.as_ref()?;
        (authcid == admin && password == admin_password && store.users.contains_key(authzid))
            .then(|| authzid.to_string())
    }

    /// Marks messages `\Seen` (BODY[] fetched read-write); returns the UIDs whose flags changed.
    pub(crate) fn mark_seen(
        &self,
        user: &str,
        folder: &str,
        uids: &[u32],
    ) -> Result<Vec<u32>, StoreError> {
        let mut store = self.lock();
        let folder = store.folder_mut(user, folder)?;
        let mut changed = Vec::new();
        for message in folder.messages.iter_mut() {
            if uids.contains(&message.uid) && message.flags.insert("\\Seen".to_string()) {
                changed.push(message.uid);
            }
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date() -> ZonedDateTime {
        "2026-03-02T08:00:00+01:00[+01:00]".parse().unwrap()
    }

    #[test]
    fn uids_grow_and_uid_validity_differs_per_folder() {
        let store = Mailstore::new();
        store.create_user("anna", "pw").unwrap();
        store
            .create_folder("anna", "Sent", Some(SpecialUse::Sent))
            .unwrap();
        assert_eq!(store.deliver("anna", "inbox", b"a".to_vec(), date()), Ok(1));
        assert_eq!(store.deliver("anna", "INBOX", b"b".to_vec(), date()), Ok(2));
        let folders = store.folders("anna").unwrap();
        assert_eq!(folders[0].uid_next, 3);
        assert_eq!(folders[0].messages, 2);
        assert_eq!(folders[0].unseen, 2);
        assert_ne!(folders[0].uid_validity, folders[1].uid_validity);
        assert_eq!(
            store.deliver("anna", "Drafts", b"c".to_vec(), date()),
            Err(StoreError::NoSuchFolder {
                user: "anna".into(),
                folder: "Drafts".into()
            })
        );
    }

    #[test]
    fn master_login_and_authzid_need_the_admin_password() {
        let store = Mailstore::new();
        store.create_user("anna", "pw").unwrap();
        store.set_admin("admin", "secret");
        assert_eq!(store.check_login("anna", "pw"), Some("anna".into()));
        assert_eq!(store.check_login("anna", "nope"), None);
        assert_eq!(
            store.check_login("anna*admin", "secret"),
            Some("anna".into())
        );
        assert_eq!(store.check_login("anna*admin", "pw"), None);
        assert_eq!(store.check_login("bob*admin", "secret"), None);
        assert_eq!(
            store.check_plain("anna", "admin", "secret"),
            Some("anna".into())
        );
        assert_eq!(store.check_plain("admin", "anna", "pw"), None);
        assert_eq!(store.check_plain("", "anna", "pw"), Some("anna".into()));
    }
}
