//! The APPEND pipeline: one reader fetching batches from the old server (BODY.PEEK, so
//! nothing changes there) and one writer appending them to the new one, pipelined with
//! LITERAL+ when offered, with a bounded amount of mail in between and the plan's rate
//! limits applied.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Semaphore, mpsc};

use super::report::MessageFailure;
use crate::mail::archive::FolderWriter;
use crate::mail::connect::{Imap, timed};
use crate::mail::error::{MailError, is_throttling_text, outcome_text, server_text};
use crate::mail::scan::ScannedMessage;
use crate::plan::SyncPlan;

/// Keeps bytes/s and messages/s under the plan's limits, across every connection of a run.
pub(super) struct Throttle {
    max_bytes_per_sec: Option<u64>,
    max_messages_per_sec: Option<u32>,
    start: Instant,
    /// Bytes and messages let through so far.
    passed: Mutex<(u64, u64)>,
}

impl Throttle {
    pub(super) fn new(plan: &SyncPlan) -> Throttle {
        Throttle {
            max_bytes_per_sec: plan.max_bytes_per_sec.filter(|&b| b > 0),
            max_messages_per_sec: plan.max_messages_per_sec.filter(|&m| m > 0),
            start: Instant::now(),
            passed: Mutex::new((0, 0)),
        }
    }

    /// Waits until one more message of `bytes` fits under the limits.
    pub(super) async fn pass(&self, bytes: u64) {
        if self.max_bytes_per_sec.is_none() && self.max_messages_per_sec.is_none() {
            return;
        }
        let (total_bytes, total_messages) = {
            let mut p = self.passed.lock().unwrap_or_else(|e| e.into_inner());
            p.0 += bytes;
            p.1 += 1;
            *p
        };
        let mut need = Duration::ZERO;
        if let Some(bps) = self.max_bytes_per_sec {
            need = need.max(Duration::from_secs_f64(total_bytes as f64 / bps as f64));
        }
        if let Some(mps) = self.max_messages_per_sec {
            need = need.max(Duration::from_secs_f64(
                total_messages as f64 / f64::from(mps),
            ));
        }
        let elapsed = self.start.elapsed();
        if need > elapsed {
            tokio::time::sleep(need - elapsed).await;
        }
    }
}

/// The APPEND flag list: system flags we keep and keywords; never \Deleted or \Recent.
fn append_flags(fetch: &async_imap::types::Fetch) -> String {
    use async_imap::types::Flag;
    let flags: Vec<String> = fetch
        .flags()
        .filter_map(|f| match f {
            Flag::Seen => Some("\\Seen".to_string()),
            Flag::Answered => Some("\\Answered".to_string()),
            Flag::Flagged => Some("\\Flagged".to_string()),
            Flag::Draft => Some("\\Draft".to_string()),
            Flag::Custom(k) if !k.starts_with('\\') && is_atom(&k) => Some(k.into_owned()),
            _ => None,
        })
        .collect();
    format!("({})", flags.join(" "))
}

fn is_atom(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b))
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Mail in flight between reading old and writing new, at most (KiB).
pub(super) const IN_FLIGHT_KIB: u32 = 16 * 1024;

/// What the reader hands the writer.
pub(super) enum Fetched {
    /// One message from old, holding its share of the in-flight budget.
    Message(async_imap::types::Fetch, tokio::sync::OwnedSemaphorePermit),
    /// Every message of batch `n` has been handed over.
    EndOfBatch(usize),
}

/// The flags of a fetched message as IMAP names them (system flags and keywords).
fn flag_names(fetch: &async_imap::types::Fetch) -> Vec<String> {
    use async_imap::types::Flag;
    fetch
        .flags()
        .filter_map(|f| match f {
            Flag::Seen => Some("\\Seen".to_string()),
            Flag::Answered => Some("\\Answered".to_string()),
            Flag::Flagged => Some("\\Flagged".to_string()),
            Flag::Deleted => Some("\\Deleted".to_string()),
            Flag::Draft => Some("\\Draft".to_string()),
            Flag::Custom(k) => Some(k.into_owned()),
            _ => None,
        })
        .collect()
}

/// Keeps one fetched message in the archive; an error is noted there and the read goes on.
fn archive_message(writer: &FolderWriter<'_>, uid: u32, fetch: &async_imap::types::Fetch) {
    let Some(body) = fetch.body() else { return };
    let date = fetch
        .internal_date()
        .and_then(|d| jiff::Timestamp::from_second(d.timestamp()).ok());
    if let Err(e) = writer.write(uid, body, flag_names(fetch), date) {
        writer.archive().note(&e);
    }
}

/// Reads the batches from old (one UID FETCH each, BODY.PEEK: nothing changes there),
/// keeping each message in the archive first when there is one. Stops quietly when the
/// writer has stopped.
pub(super) async fn read_batches(
    old: &mut Imap,
    batches: &[&[ScannedMessage]],
    budget: Arc<Semaphore>,
    tx: mpsc::Sender<Fetched>,
    archive: Option<&FolderWriter<'_>>,
) -> Result<(), MailError> {
    let limit = old.timeouts.command;
    let place = old.place.clone();
    for (index, batch) in batches.iter().enumerate() {
        let uids: Vec<String> = batch.iter().map(|m| m.uid.to_string()).collect();
        let uid_set = uids.join(",");
        let mut stream = timed(
            &place,
            "UID FETCH",
            limit,
            old.session
                .uid_fetch(&uid_set, "(UID FLAGS INTERNALDATE BODY.PEEK[])"),
        )
        .await?;
        loop {
            let next = timed(&place, "UID FETCH", limit, stream.try_next()).await?;
            let Some(fetch) = next else { break };
            let (Some(uid), Some(body)) = (fetch.uid, fetch.body()) else {
                continue;
            };
            if !batch.iter().any(|m| m.uid == uid) {
                continue; // an unsolicited FETCH (flag change) for another message
            }
            if let Some(writer) = archive {
                archive_message(writer, uid, &fetch);
            }
            let kib = u32::try_from(body.len() / 1024 + 1)
                .unwrap_or(u32::MAX)
                .min(IN_FLIGHT_KIB);
            let Ok(permit) = budget.clone().acquire_many_owned(kib).await else {
                return Ok(());
            };
            if tx.send(Fetched::Message(fetch, permit)).await.is_err() {
                return Ok(());
            }
        }
        drop(stream);
        if tx.send(Fetched::EndOfBatch(index)).await.is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Appends what the reader hands over (pipelined with LITERAL+ when offered) and
/// reports each batch's outcome: per message Ok, or the reason it failed. A broken
/// connection is an `Err` (the caller retries afresh; nothing is lost or doubled, as
/// every run compares identities first).
pub(super) async fn write_batches(
    new: &mut Imap,
    target_wire: &str,
    batches: &[&[ScannedMessage]],
    pipelined: bool,
    throttle: &Throttle,
    mut rx: mpsc::Receiver<Fetched>,
    mut on_batch: impl FnMut(usize, Vec<Result<(), MessageFailure>>),
) -> Result<(), MailError> {
    let mut results: HashMap<u32, Result<(), MessageFailure>> = HashMap::new();
    let mut pending: HashMap<String, u32> = HashMap::new();
    let mut n = 0u64;
    while let Some(item) = rx.recv().await {
        match item {
            Fetched::Message(fetch, permit) => {
                let (Some(uid), Some(body)) = (fetch.uid, fetch.body()) else {
                    continue;
                };
                let flags = append_flags(&fetch);
                let date = fetch
                    .internal_date()
                    .map(|d| quote(&d.format("%d-%b-%Y %H:%M:%S %z").to_string()));
                throttle.pass(body.len() as u64).await;
                if pipelined {
                    n += 1;
                    let tag = format!("P{n}");
                    let mut command = format!("{tag} APPEND {} {flags}", quote(target_wire));
                    if let Some(d) = &date {
                        command.push(' ');
                        command.push_str(d);
                    }
                    command.push_str(&format!(" {{{}+}}\r\n", body.len()));
                    let write = async {
                        let stream = new.session.get_mut();
                        stream.write_all(command.as_bytes()).await?;
                        stream.write_all(body).await?;
                        stream.write_all(b"\r\n").await?;
                        Ok::<(), async_imap::error::Error>(())
                    };
                    timed(&new.place, "APPEND", new.timeouts.command, write).await?;
                    pending.insert(tag, uid);
                } else {
                    let result =
                        append_one(new, target_wire, &flags, date.as_deref(), body).await?;
                    results.insert(uid, result);
                }
                drop(permit);
            }
            Fetched::EndOfBatch(index) => {
                if pipelined {
                    drain_appends(new, &mut pending, &mut results).await?;
                }
                let outcome = batches[index]
                    .iter()
                    .map(|m| {
                        results
                            .remove(&m.uid)
                            .unwrap_or(Err(MessageFailure::Vanished))
                    })
                    .collect();
                on_batch(index, outcome);
            }
        }
    }
    Ok(())
}

/// One APPEND with a round trip (servers without LITERAL+).
async fn append_one(
    new: &mut Imap,
    target_wire: &str,
    flags: &str,
    date: Option<&str>,
    body: &[u8],
) -> Result<Result<(), MessageFailure>, MailError> {
    let append = new.session.append(target_wire, Some(flags), date, body);
    match tokio::time::timeout(new.timeouts.command, append).await {
        Ok(Ok(())) => Ok(Ok(())),
        Ok(Err(e @ (async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_)))) => {
            let text = server_text(&e);
            if is_throttling_text(&text) {
                return Err(MailError::Throttled {
                    place: new.place.clone(),
                    detail: text,
                });
            }
            Ok(Err(MessageFailure::Refused(text)))
        }
        Ok(Err(e)) => Err(MailError::from_imap(&new.place, "APPEND", &e)),
        Err(_) => Err(MailError::Timeout {
            place: new.place.clone(),
            during: "APPEND".to_string(),
            seconds: new.timeouts.command.as_secs(),
        }),
    }
}

/// Reads the tagged answers of every pipelined APPEND still open.
async fn drain_appends(
    new: &mut Imap,
    pending: &mut HashMap<String, u32>,
    results: &mut HashMap<u32, Result<(), MessageFailure>>,
) -> Result<(), MailError> {
    let limit = new.timeouts.command;
    timed(&new.place, "APPEND", limit, async {
        new.session.get_mut().flush().await?;
        Ok(())
    })
    .await?;
    while !pending.is_empty() {
        let response = match tokio::time::timeout(limit, new.session.read_response()).await {
            Err(_) => {
                return Err(MailError::Timeout {
                    place: new.place.clone(),
                    during: "APPEND".to_string(),
                    seconds: limit.as_secs(),
                });
            }
            Ok(Err(e)) => return Err(MailError::from_imap(&new.place, "APPEND", &e.into())),
            Ok(Ok(None)) => {
                return Err(MailError::from_imap(
                    &new.place,
                    "APPEND",
                    &async_imap::error::Error::ConnectionLost,
                ));
            }
            Ok(Ok(Some(r))) => r,
        };
        if let async_imap::imap_proto::Response::Done {
            tag,
            status,
            outcome,
        } = response.parsed()
            && let Some(uid) = pending.remove(&tag.0)
        {
            let result = if matches!(status, async_imap::imap_proto::Status::Ok) {
                Ok(())
            } else {
                let text = outcome_text(outcome.code.as_ref(), outcome.information.as_deref());
                if is_throttling_text(&text) {
                    return Err(MailError::Throttled {
                        place: new.place.clone(),
                        detail: text,
                    });
                }
                Err(MessageFailure::Refused(text))
            };
            results.insert(uid, result);
        }
    }
    Ok(())
}

/// Splits the copy list into batches bounded by count and bytes.
pub(super) fn batches(
    list: &[ScannedMessage],
    max_messages: usize,
    max_bytes: u64,
) -> Vec<&[ScannedMessage]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, m) in list.iter().enumerate() {
        let size = u64::from(m.size);
        if i > start && (i - start >= max_messages.max(1) || bytes + size > max_bytes) {
            out.push(&list[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < list.len() {
        out.push(&list[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::identity::Identity;

    #[test]
    fn batches_bound_count_and_bytes() {
        let m = |uid, size| ScannedMessage {
            uid,
            identity: Identity::from_header(format!("Subject: {uid}\r\n\r\n").as_bytes()),
            size,
            subject: String::new(),
            deleted: false,
            arrived: None,
        };
        let list = vec![m(1, 10), m(2, 10), m(3, 100), m(4, 10), m(5, 10)];
        let b = batches(&list, 2, 50);
        let sizes: Vec<usize> = b.iter().map(|b| b.len()).collect();
        assert_eq!(sizes, vec![2, 1, 2]);
        assert!(batches(&[], 2, 50).is_empty());
    }
}
