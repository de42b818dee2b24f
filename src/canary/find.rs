//! Where a canary landed (every folder searched for its token, read-only) and how it is
//! removed where cutover may remove it: `UID EXPUNGE` of its own UID only.

use futures_util::TryStreamExt;
use jiff::Timestamp;

use crate::mail::connect::timed;
use crate::mail::{Imap, MailError, SpecialUse};
use crate::sanitize::sanitize;

use super::message::CANARY_HEADER;

/// One canary found in a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The folder's wire name (for SELECT) and its name for people.
    pub wire: String,
    pub folder: String,
    pub special_use: Option<SpecialUse>,
    pub uid: u32,
    /// When the server filed it (INTERNALDATE).
    pub arrived: Option<Timestamp>,
    /// The `Received` headers, first hop first.
    pub hops: Vec<String>,
}

/// Searches every selectable folder (EXAMINE: nothing changes) for each token; returns
/// what was found, per token, in folder order (INBOX first).
pub async fn search(imap: &mut Imap, tokens: &[String]) -> Result<Vec<(String, Found)>, MailError> {
    let mut found = Vec::new();
    if tokens.is_empty() {
        return Ok(found);
    }
    let folders = imap.folders().await?;
    for folder in folders.iter().filter(|f| f.selectable) {
        let status = imap.examine(&folder.wire).await?;
        if status.messages == 0 {
            continue;
        }
        for token in tokens {
            let limit = imap.timeouts.command;
            let query = format!("HEADER {CANARY_HEADER} {token}");
            let session = &mut imap.session;
            let uids = timed(&imap.place, "UID SEARCH", limit, session.uid_search(&query)).await?;
            let mut uids: Vec<u32> = uids.into_iter().collect();
            uids.sort_unstable();
            for uid in uids {
                let (arrived, hops) = read_arrival(imap, uid).await?;
                found.push((
                    token.clone(),
                    Found {
                        wire: folder.wire.clone(),
                        folder: sanitize(&folder.name),
                        special_use: folder.special_use,
                        uid,
                        arrived,
                        hops,
                    },
                ));
            }
        }
    }
    Ok(found)
}

/// INTERNALDATE and the Received headers of one message of the examined folder.
async fn read_arrival(
    imap: &mut Imap,
    uid: u32,
) -> Result<(Option<Timestamp>, Vec<String>), MailError> {
    let limit = imap.timeouts.command;
    let session = &mut imap.session;
    let fetches = timed(&imap.place, "UID FETCH", limit, async {
        let stream = session
            .uid_fetch(
                uid.to_string(),
                "(UID INTERNALDATE BODY.PEEK[HEADER.FIELDS (RECEIVED)])",
            )
            .await?;
        stream.try_collect::<Vec<_>>().await
    })
    .await?;
    let Some(fetch) = fetches.iter().find(|f| f.uid == Some(uid)) else {
        return Ok((None, vec![]));
    };
    let arrived = fetch
        .internal_date()
        .and_then(|d| Timestamp::from_second(d.timestamp()).ok());
    let header = fetch.header().unwrap_or(b"");
    Ok((arrived, received_hops(&String::from_utf8_lossy(header))))
}

/// The `Received` fields of a header block, unfolded, first hop first (each server puts
/// its own on top).
pub fn received_hops(header: &str) -> Vec<String> {
    let mut fields: Vec<String> = Vec::new();
    for line in header.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("received")
        {
            fields.push(value.trim().to_string());
        }
    }
    fields.reverse();
    fields.iter().map(|f| sanitize(f)).collect()
}

/// The whole message as the server holds it (`BODY.PEEK[]`: read-only, no `\Seen`), for
/// the outbound canary's authentication to be judged on the bytes the receiver kept.
pub async fn fetch_raw(imap: &mut Imap, found: &Found) -> Result<Vec<u8>, MailError> {
    imap.examine(&found.wire).await?;
    let limit = imap.timeouts.command;
    let session = &mut imap.session;
    let fetches = timed(&imap.place, "UID FETCH BODY.PEEK[]", limit, async {
        let stream = session
            .uid_fetch(found.uid.to_string(), "(UID BODY.PEEK[])")
            .await?;
        stream.try_collect::<Vec<_>>().await
    })
    .await?;
    Ok(fetches
        .iter()
        .find(|f| f.uid == Some(found.uid))
        .and_then(|f| f.body())
        .map(<[u8]>::to_vec)
        .unwrap_or_default())
}

/// What was done with a canary found on a server cutover may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// `UID EXPUNGE` of its UID (on Gmail: moved to the Trash and expunged there).
    Expunged,
    /// No UIDPLUS: a plain EXPUNGE would also remove the user's other `\Deleted` messages,
    /// so the canary is left, marked `\Seen`.
    LeftSeen,
}

/// Removes one canary: `UID STORE +FLAGS (\Deleted)` and `UID EXPUNGE` of its UID only
/// (UIDPLUS), never a plain EXPUNGE; on Gmail (where an expunge outside the Trash only
/// takes a label off) it is moved to the Trash first and expunged there.
pub async fn remove(imap: &mut Imap, found: &Found, token: &str) -> Result<Removal, MailError> {
    let limit = imap.timeouts.command;
    let during = format!("SELECT {}", found.folder);
    let session = &mut imap.session;
    timed(&imap.place, &during, limit, session.select(&found.wire)).await?;
    if !imap.has_capability("UIDPLUS") {
        store(imap, found.uid, "+FLAGS.SILENT (\\Seen)").await?;
        return Ok(Removal::LeftSeen);
    }
    let gmail = imap.has_capability("X-GM-EXT-1");
    if gmail && found.special_use != Some(SpecialUse::Trash) {
        let trash = imap
            .folders()
            .await?
            .into_iter()
            .find(|f| f.special_use == Some(SpecialUse::Trash));
        if let Some(trash) = trash {
            let session = &mut imap.session;
            timed(
                &imap.place,
                "UID MOVE",
                limit,
                session.uid_mv(found.uid.to_string(), &trash.wire),
            )
            .await?;
            let session = &mut imap.session;
            timed(
                &imap.place,
                "SELECT Trash",
                limit,
                session.select(&trash.wire),
            )
            .await?;
            let query = format!("HEADER {CANARY_HEADER} {token}");
            let session = &mut imap.session;
            let uids = timed(&imap.place, "UID SEARCH", limit, session.uid_search(&query)).await?;
            for uid in uids {
                expunge_one(imap, uid).await?;
            }
            return Ok(Removal::Expunged);
        }
    }
    expunge_one(imap, found.uid).await?;
    Ok(Removal::Expunged)
}

async fn expunge_one(imap: &mut Imap, uid: u32) -> Result<(), MailError> {
    store(imap, uid, "+FLAGS.SILENT (\\Deleted)").await?;
    let limit = imap.timeouts.command;
    let session = &mut imap.session;
    timed(&imap.place, "UID EXPUNGE", limit, async {
        let stream = session.uid_expunge(uid.to_string()).await?;
        stream.try_collect::<Vec<_>>().await
    })
    .await?;
    Ok(())
}

async fn store(imap: &mut Imap, uid: u32, what: &str) -> Result<(), MailError> {
    let limit = imap.timeouts.command;
    let session = &mut imap.session;
    timed(&imap.place, "UID STORE", limit, async {
        let stream = session.uid_store(uid.to_string(), what).await?;
        stream.try_collect::<Vec<_>>().await
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hops_are_unfolded_and_first_hop_first() {
        let header = "Received: from mx.new.test\r\n\tby imap.new.test; Mon, 7 Dec 2026\r\nReceived: from ext.test\r\n by mx.new.test\r\nX-Other: 1\r\n\r\n";
        assert_eq!(
            received_hops(header),
            vec![
                "from ext.test by mx.new.test".to_string(),
                "from mx.new.test by imap.new.test; Mon, 7 Dec 2026".to_string(),
            ]
        );
    }
}
