//! The prober: per mailbox, on old and new, whether login works, the folders and their
//! counters, and how much of the old INBOX is already on the new side (POP3 fetch, R7).

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::clock::Clock;
use crate::mail::connect::{FolderName, Imap, SpecialUse, Timeouts, connect};
use crate::mail::credentials::CredentialSource;
use crate::mail::error::{MailError, Place};
use crate::mail::identity::IdentityCounts;
use crate::plan::{Mailbox, Plan, WhichSide};
use crate::sanitize::sanitize;

/// The share of the old INBOX that must be on the new side to call a POP3 fetch detected.
pub const FETCH_DETECTED_SHARE: f64 = 0.5;

/// Login result as `status --json` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoginState {
    Ok,
    AuthFailed,
    Unreachable,
    TlsFailed,
    Throttled,
    Unknown,
}

impl LoginState {
    pub fn from_error(e: &MailError) -> LoginState {
        if e.is_throttled() {
            LoginState::Throttled
        } else if e.is_tls() {
            LoginState::TlsFailed
        } else if e.is_unreachable() {
            LoginState::Unreachable
        } else if matches!(e, MailError::Auth { .. }) {
            LoginState::AuthFailed
        } else {
            LoginState::Unknown
        }
    }
}

/// One folder's counters. `name` is the UTF-8 name with control characters escaped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FolderProbe {
    pub name: String,
    pub messages: u32,
    pub uidnext: u32,
    pub uidvalidity: u32,
    #[serde(skip)]
    pub special_use: Option<SpecialUse>,
}

/// One side of one mailbox.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SideProbe {
    pub login: LoginState,
    /// Messages in all folders; `null` when not logged in.
    pub messages: Option<u64>,
    pub folders: Vec<FolderProbe>,
    /// What went wrong, sanitised; never a password.
    pub error: Option<String>,
    /// Shared with the prober's memory of it (an INBOX of 100,000 messages is megabytes).
    #[serde(skip)]
    pub inbox: Option<Arc<IdentityCounts>>,
    /// When the newest INBOX message arrived (its INTERNALDATE); `None` when empty or unread.
    #[serde(skip)]
    pub inbox_newest_at: Option<Timestamp>,
}

impl SideProbe {
    fn failed(e: &MailError) -> SideProbe {
        SideProbe {
            login: LoginState::from_error(e),
            messages: None,
            folders: Vec::new(),
            error: Some(sanitize(&e.to_string())),
            inbox: None,
            inbox_newest_at: None,
        }
    }

    /// UIDNEXT of INBOX (R10: the old INBOX stops growing after the switch).
    pub fn inbox_uidnext(&self) -> Option<u32> {
        self.folders
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case("INBOX"))
            .map(|f| f.uidnext)
    }
}

/// A folder's counters as a key: while they are unchanged, so are its messages' identities
/// and sizes (a new message takes a new UID, an expunge lowers the count, a reset changes
/// UIDVALIDITY).
type Counters = (u32, u32, u32);

fn counters(f: &FolderProbe) -> Counters {
    (f.uidvalidity, f.uidnext, f.messages)
}

/// What a probe of one side read message by message, kept by the cockpit's prober so that
/// the next round (every minute) reads again only the folders whose counters moved: a
/// provider sees one LIST-STATUS per mailbox and minute, not a scan of every message.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    inbox: Option<InboxScan>,
    /// Bytes per folder other than INBOX (wire name), with the counters they were read at.
    bytes: std::collections::HashMap<String, (Counters, u64)>,
}

/// The INBOX read message by message, at the counters it had then.
#[derive(Debug, Clone, Default)]
struct InboxScan {
    counters: Counters,
    identities: Arc<IdentityCounts>,
    /// When the newest message arrived (its INTERNALDATE).
    newest: Option<Timestamp>,
    bytes: u64,
}

/// Everything the prober learnt about one mailbox, in the `status --json` `mailboxes[]` shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MailboxProbe {
    pub address: String,
    pub old: SideProbe,
    pub new: SideProbe,
    /// Filled from the last copy's verification (`SyncReport`); `null` before any copy.
    pub synced_percent: Option<f64>,
    /// Whether most of the old INBOX is already in the new INBOX (a POP3 fetch runs, R7).
    pub fetch_detected: Option<bool>,
    /// The share behind `fetch_detected`, 0.0–1.0.
    pub fetch_share: Option<f64>,
    /// Filled from the last copy's verification; `null` before any copy.
    pub verified: Option<bool>,
    /// Bytes on the old server in the folders a copy would copy (virtual and excluded
    /// folders left out); `null` when not measured.
    pub old_bytes: Option<u64>,
    pub probed_at: Timestamp,
}

/// What the prober is asked to do, on its own channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeCommand {
    ProbeAll,
    ProbeOne(String),
    Stop,
}

/// How the prober connects and retries.
#[derive(Debug, Clone, Copy)]
pub struct ProbeOptions {
    pub timeouts: Timeouts,
    /// Attempts per side for transient failures (throttled, timeout); 1 for one-shot `status`.
    pub attempts: u32,
    /// First backoff; doubled per attempt.
    pub backoff: Duration,
}

impl Default for ProbeOptions {
    fn default() -> ProbeOptions {
        ProbeOptions {
            timeouts: Timeouts::default(),
            attempts: 3,
            backoff: Duration::from_secs(2),
        }
    }
}

impl ProbeOptions {
    /// One attempt per server, 5 s connect timeout, no backoff (`cutover status`).
    pub fn one_shot() -> ProbeOptions {
        ProbeOptions {
            timeouts: Timeouts {
                connect: Duration::from_secs(5),
                ..Timeouts::default()
            },
            attempts: 1,
            backoff: Duration::ZERO,
        }
    }
}

/// Probes one side of one mailbox and, on the old side, measures the bytes a copy would move;
/// what `known` measured at unchanged counters is reused.
async fn probe_side_sized(
    plan: &Plan,
    creds: &CredentialSource,
    mailbox: &Mailbox,
    side: WhichSide,
    opts: ProbeOptions,
    known: Option<&Measured>,
) -> (SideProbe, Option<u64>, Measured) {
    let sized = (side == WhichSide::Old).then_some(&plan.sync);
    let endpoint = &plan.side(side).imap;
    let place = Place::new(&mailbox.address, side, &endpoint.url);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = async {
            let login = creds
                .login(mailbox, side)
                .await
                .map_err(|e| MailError::Credentials {
                    place: place.clone(),
                    detail: e.to_string(),
                })?;
            let mut imap = connect(endpoint, &place, &login, opts.timeouts).await?;
            drop(login);
            let probe = read_side(&mut imap, sized, known).await;
            imap.logout().await;
            probe
        }
        .await;
        match result {
            Ok(probe) => return probe,
            Err(e) if e.is_transient() && attempt < opts.attempts => {
                tokio::time::sleep(opts.backoff * 2u32.pow(attempt - 1)).await;
            }
            // A failed probe forgets nothing: the next one may still reuse what was read.
            Err(e) => {
                return (
                    SideProbe::failed(&e),
                    None,
                    known.cloned().unwrap_or_default(),
                );
            }
        }
    }
}

async fn read_side(
    imap: &mut Imap,
    sized: Option<&crate::plan::SyncPlan>,
    known: Option<&Measured>,
) -> Result<(SideProbe, Option<u64>, Measured), MailError> {
    let mut names: Vec<FolderName> = Vec::new();
    let mut folders = Vec::new();
    let mut total = 0u64;
    for (f, status) in imap.folders_with_status().await? {
        let Some(status) = status else { continue };
        total += u64::from(status.messages);
        folders.push(FolderProbe {
            name: sanitize(&f.name),
            messages: status.messages,
            uidnext: status.uidnext,
            uidvalidity: status.uidvalidity,
            special_use: f.special_use,
        });
        names.push(f);
    }
    let inbox_counters = names
        .iter()
        .zip(&folders)
        .find(|(n, _)| n.wire.eq_ignore_ascii_case("INBOX"))
        .map(|(_, f)| counters(f));
    // An empty INBOX (STATUS said so) needs no EXAMINE and no scan; an unchanged one
    // needs no second scan.
    let inbox = match (inbox_counters, known.and_then(|k| k.inbox.as_ref())) {
        (Some((_, _, 0)), _) => InboxScan::default(),
        (Some(now), Some(then)) if then.counters == now => then.clone(),
        _ => {
            let inbox_status = imap.examine("INBOX").await?;
            let scanned = imap.scan(inbox_status.messages).await?;
            InboxScan {
                counters: inbox_counters.unwrap_or_default(),
                bytes: scanned.iter().map(|m| u64::from(m.size)).sum(),
                identities: Arc::new(scanned.into_iter().map(|m| m.identity).collect()),
                newest: newest_arrival(imap).await?,
            }
        }
    };
    let mut measured = Measured {
        inbox: Some(inbox.clone()),
        bytes: Default::default(),
    };
    let bytes = match sized {
        Some(sync) => {
            let mut total = inbox.bytes;
            for (name, f) in names.iter().zip(&folders) {
                if f.messages > 0
                    && !name.wire.eq_ignore_ascii_case("INBOX")
                    && copied_folder(name, sync)
                {
                    let now = counters(f);
                    let bytes = match known.and_then(|k| k.bytes.get(&name.wire)) {
                        Some((then, bytes)) if *then == now => *bytes,
                        _ => folder_bytes(imap, &name.wire).await?,
                    };
                    measured.bytes.insert(name.wire.clone(), (now, bytes));
                    total += bytes;
                }
            }
            Some(total)
        }
        None => None,
    };
    let side = SideProbe {
        login: LoginState::Ok,
        messages: Some(total),
        folders,
        error: None,
        inbox: Some(inbox.identities),
        inbox_newest_at: inbox.newest,
    };
    Ok((side, bytes, measured))
}

/// Whether the copy copies this folder: not a virtual one (Gmail's "All Mail", "Starred"),
/// not excluded by the plan.
fn copied_folder(f: &FolderName, sync: &crate::plan::SyncPlan) -> bool {
    !matches!(f.special_use, Some(SpecialUse::All | SpecialUse::Flagged))
        && !sync
            .exclude
            .iter()
            .any(|p| crate::mail::pattern::matches(p.as_bytes(), f.name.as_bytes(), None))
}

/// The sum of a folder's message sizes (EXAMINE, then RFC822.SIZE of every message).
async fn folder_bytes(imap: &mut Imap, wire: &str) -> Result<u64, MailError> {
    use futures_util::TryStreamExt;
    imap.examine(wire).await?;
    let limit = imap.timeouts.command;
    let session = &mut imap.session;
    let fetches =
        crate::mail::connect::timed(&imap.place, "FETCH 1:* (RFC822.SIZE)", limit, async {
            let stream = session.fetch("1:*", "(RFC822.SIZE)").await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
    Ok(fetches.iter().filter_map(|f| f.size).map(u64::from).sum())
}

/// The INTERNALDATE of the examined folder's newest message (highest UID): when it arrived,
/// which R10's quiet window is measured from (when cutover first saw it is only an upper bound).
async fn newest_arrival(imap: &mut Imap) -> Result<Option<Timestamp>, MailError> {
    use futures_util::TryStreamExt;
    let limit = imap.timeouts.command;
    let session = &mut imap.session;
    let fetches =
        crate::mail::connect::timed(&imap.place, "UID FETCH * (INTERNALDATE)", limit, async {
            let stream = session.uid_fetch("*", "(UID INTERNALDATE)").await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
    Ok(fetches
        .iter()
        .filter_map(|f| f.internal_date())
        .filter_map(|d| Timestamp::from_second(d.timestamp()).ok())
        .max())
}

/// Probes both sides of a mailbox (each under its server's connection limit), reusing what
/// an earlier probe of it read (`known`: old, new) where a folder's counters have not moved
/// since; also returns what this probe read, for the next.
async fn probe_mailbox(
    plan: &Plan,
    creds: &CredentialSource,
    mailbox: &Mailbox,
    limits: &ServerLimits,
    clock: &dyn Clock,
    opts: ProbeOptions,
    known: Option<&(Measured, Measured)>,
) -> (MailboxProbe, (Measured, Measured)) {
    // Each side under its server's connection limit.
    let side = async |which: WhichSide, limit: &Semaphore, known: Option<&Measured>| {
        let _permit = limit.acquire().await;
        probe_side_sized(plan, creds, mailbox, which, opts, known).await
    };
    let ((old, old_bytes, old_measured), (new, _, new_measured)) = tokio::join!(
        side(WhichSide::Old, &limits.old, known.map(|k| &k.0)),
        side(WhichSide::New, &limits.new, known.map(|k| &k.1))
    );
    let fetch_share = match (&old.inbox, &new.inbox) {
        (Some(o), Some(n)) if o.total() > 0 => Some(o.present_in(n) as f64 / o.total() as f64),
        _ => None,
    };
    let probe = MailboxProbe {
        address: mailbox.address.clone(),
        fetch_detected: fetch_share.map(|s| s >= FETCH_DETECTED_SHARE),
        fetch_share,
        old,
        new,
        synced_percent: None,
        verified: None,
        old_bytes,
        probed_at: clock.now(),
    };
    (probe, (old_measured, new_measured))
}

/// Connections allowed at once per server (`plan.sync.concurrency`).
#[derive(Debug, Clone)]
pub struct ServerLimits {
    pub old: Arc<Semaphore>,
    pub new: Arc<Semaphore>,
}

impl ServerLimits {
    pub fn new(per_server: usize) -> ServerLimits {
        let n = per_server.max(1);
        ServerLimits {
            old: Arc::new(Semaphore::new(n)),
            new: Arc::new(Semaphore::new(n)),
        }
    }
}

/// One-shot probe of every mailbox (`cutover status`): one attempt per server, 5 s connect timeout.
pub async fn probe_all_once(
    plan: &Plan,
    creds: &CredentialSource,
    clock: &dyn Clock,
) -> Vec<MailboxProbe> {
    probe_all(plan, creds, clock, ProbeOptions::one_shot()).await
}

/// Probes every mailbox with bounded concurrency; results in plan order.
pub async fn probe_all(
    plan: &Plan,
    creds: &CredentialSource,
    clock: &dyn Clock,
    opts: ProbeOptions,
) -> Vec<MailboxProbe> {
    let limits = ServerLimits::new(plan.sync.concurrency);
    // Built eagerly (a Vec, not a lazy stream: keeps the future `Send`); the per-server
    // semaphores bound the connections.
    let probes: Vec<_> = plan
        .mailboxes
        .iter()
        .map(|m| async {
            probe_mailbox(plan, creds, m, &limits, clock, opts, None)
                .await
                .0
        })
        .collect();
    futures_util::future::join_all(probes).await
}

/// The prober task: waits for commands, sends one `MailboxProbe` per probed mailbox.
/// Ends on `Stop`, when the command channel closes, or when nobody listens any more.
pub async fn run_prober(
    plan: Arc<Plan>,
    creds: Arc<CredentialSource>,
    clock: Arc<dyn Clock>,
    opts: ProbeOptions,
    mut commands: mpsc::Receiver<ProbeCommand>,
    results: mpsc::Sender<MailboxProbe>,
) {
    let limits = ServerLimits::new(plan.sync.concurrency);
    // What each mailbox's last probe read, by address: the next round reads again only
    // what moved.
    let known: Arc<std::sync::Mutex<std::collections::HashMap<String, (Measured, Measured)>>> =
        Arc::default();
    let mut running: JoinSet<()> = JoinSet::new();
    loop {
        tokio::select! {
            cmd = commands.recv() => {
                let targets: Vec<Mailbox> = match cmd {
                    None | Some(ProbeCommand::Stop) => break,
                    Some(ProbeCommand::ProbeAll) => plan.mailboxes.clone(),
                    Some(ProbeCommand::ProbeOne(address)) => plan
                        .mailboxes
                        .iter()
                        .filter(|m| m.address.eq_ignore_ascii_case(&address))
                        .cloned()
                        .collect(),
                };
                for mailbox in targets {
                    let (plan, creds, clock, limits, results, known) = (
                        plan.clone(),
                        creds.clone(),
                        clock.clone(),
                        limits.clone(),
                        results.clone(),
                        known.clone(),
                    );
                    running.spawn(async move {
                        let key = mailbox.address.to_lowercase();
                        let before = known
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get(&key)
                            .cloned();
                        let (probe, measured) = {
                            // A fast clock (the rehearsal's) stands still while the probe is in flight.
                            let _hold = clock.hold_for_io();
                            probe_mailbox(
                                &plan,
                                &creds,
                                &mailbox,
                                &limits,
                                clock.as_ref(),
                                opts,
                                before.as_ref(),
                            )
                            .await
                        };
                        known
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(key, measured);
                        let _ = results.send(probe).await;
                    });
                }
            }
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
        if results.is_closed() {
            break;
        }
    }
    running.abort_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `status` may run the one-shot probe on a spawned task: its future must be `Send`.
    #[allow(dead_code)]
    fn probe_all_once_can_be_spawned(plan: &Plan, creds: &CredentialSource) {
        fn send<T: Send>(_: T) {}
        send(probe_all_once(plan, creds, &crate::clock::SystemClock));
    }

    #[test]
    fn json_shape_matches_status_contract() {
        let side = SideProbe {
            login: LoginState::AuthFailed,
            messages: None,
            folders: vec![FolderProbe {
                name: "Entwürfe\\u{1b}".into(),
                messages: 3,
                uidnext: 4,
                uidvalidity: 99,
                special_use: None,
            }],
            error: Some("login refused".into()),
            inbox: None,
            inbox_newest_at: None,
        };
        let p = MailboxProbe {
            address: "a@example.com".into(),
            old: side.clone(),
            new: side,
            synced_percent: None,
            fetch_detected: Some(false),
            fetch_share: Some(0.0),
            verified: None,
            old_bytes: None,
            probed_at: Timestamp::UNIX_EPOCH,
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["old"]["login"], "auth_failed");
        assert_eq!(v["old"]["folders"][0]["name"], "Entwürfe\\u{1b}");
        assert_eq!(v["old"]["folders"][0]["uidvalidity"], 99);
        for key in [
            "address",
            "old",
            "new",
            "synced_percent",
            "fetch_detected",
            "verified",
        ] {
            assert!(v.get(key).is_some(), "{key} missing");
        }
        for (state, text) in [
            (LoginState::Ok, "ok"),
            (LoginState::Unreachable, "unreachable"),
            (LoginState::TlsFailed, "tls_failed"),
            (LoginState::Throttled, "throttled"),
            (LoginState::Unknown, "unknown"),
        ] {
            assert_eq!(serde_json::to_value(state).unwrap(), text);
        }
    }
}
