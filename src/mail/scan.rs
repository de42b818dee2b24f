//! Reading a folder without touching it: EXAMINE and header-only identity scans.

use futures_util::TryStreamExt;

use crate::mail::connect::{FolderStatus, Imap, timed};
use crate::mail::error::MailError;
use crate::mail::identity::{HeaderFields, IDENTITY_FETCH, Identity, is_canary_message_id};
use crate::mail::utf7;
use crate::sanitize::sanitize;

/// One message as the identity scan sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedMessage {
    pub uid: u32,
    pub identity: Identity,
    pub size: u32,
    /// For people (lists of missing messages); sanitised.
    pub subject: String,
    /// Whether the message is marked \Deleted (still counted: it still exists).
    pub deleted: bool,
    /// When the server received it (INTERNALDATE), if it said: the copy back takes only
    /// what arrived after the switch.
    pub arrived: Option<jiff::Timestamp>,
}

impl Imap {
    /// Opens a folder read-only (EXAMINE): reading never changes a flag on it.
    pub async fn examine(&mut self, wire: &str) -> Result<FolderStatus, MailError> {
        let during = format!("EXAMINE {}", sanitize(&utf7::decode(wire)));
        let limit = self.timeouts.command;
        let mailbox = timed(&self.place, &during, limit, self.session.examine(wire)).await?;
        Ok(FolderStatus {
            messages: mailbox.exists,
            uidnext: mailbox.uid_next.unwrap_or(0),
            uidvalidity: mailbox.uid_validity.unwrap_or(0),
        })
    }

    /// The identity of every message in the examined folder, in UID order, canaries left
    /// out (never copied, never counted). Reads only a few header fields (BODY.PEEK), so it
    /// is cheap even for large folders.
    pub async fn scan(&mut self, messages: u32) -> Result<Vec<ScannedMessage>, MailError> {
        if messages == 0 {
            return Ok(Vec::new());
        }
        let limit = self.timeouts.command;
        let session = &mut self.session;
        let query = format!("(UID RFC822.SIZE FLAGS INTERNALDATE {IDENTITY_FETCH})");
        let fetches = timed(&self.place, "scan (UID FETCH headers)", limit, async {
            let stream = session.uid_fetch("1:*", &query).await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
        let mut out: Vec<ScannedMessage> = fetches
            .iter()
            .filter_map(|f| {
                let uid = f.uid?;
                let header = f.header().unwrap_or(b"");
                let fields = HeaderFields::parse(header);
                if fields
                    .message_id
                    .as_deref()
                    .is_some_and(is_canary_message_id)
                {
                    return None;
                }
                let subject = fields.subject.unwrap_or_default();
                Some(ScannedMessage {
                    uid,
                    identity: Identity::from_header(header),
                    size: f.size.unwrap_or(0),
                    subject: sanitize(&subject),
                    deleted: f
                        .flags()
                        .any(|fl| matches!(fl, async_imap::types::Flag::Deleted)),
                    arrived: f
                        .internal_date()
                        .and_then(|d| jiff::Timestamp::from_second(d.timestamp()).ok()),
                })
            })
            .collect();
        out.sort_by_key(|m| m.uid);
        out.dedup_by_key(|m| m.uid);
        Ok(out)
    }
}
