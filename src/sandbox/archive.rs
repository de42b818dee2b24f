//! The rehearsal keeps the old server's mail as an operator would: its copies write the
//! plan's archive, and before the shutdown `cutover archive` and `cutover archive --verify`
//! run (the same fill and online comparison as the CLI's), for the autopilot and the copy
//! key of the interactive rehearsal alike.

use std::sync::Arc;

use crate::clock::Clock;
use crate::mail::CredentialSource;
use crate::mail::archive::{Archive, ArchiveError, Verification, verify_offline};
use crate::mail::sync::{
    SyncLog, SyncOptions, compare_archive_with_old, fill_archive, plan_archive,
};
use crate::plan::Plan;

/// The plan's archive, open for one copy (its lock is held until it is dropped); none
/// without `[archive]`.
pub(crate) fn open(plan: &Plan) -> Result<Option<Arc<Archive>>, ArchiveError> {
    let Some(archive) = &plan.archive else {
        return Ok(None);
    };
    Archive::open(&archive.dir).map(|a| Some(Arc::new(a)))
}

/// What `archive` then `archive --verify` found: the messages the copies had not read and
/// that were archived now, and the verification to journal through the recorder.
pub(crate) struct Kept {
    pub(crate) added: u64,
    pub(crate) verification: Verification,
}

/// `cutover archive` then `cutover archive --verify` (online); none without `[archive]`.
pub(crate) async fn fill_and_verify(
    plan: &Plan,
    creds: &CredentialSource,
    clock: &dyn Clock,
    log: &dyn SyncLog,
) -> Result<Option<Kept>, ArchiveError> {
    let Some(archive) = open(plan)? else {
        return Ok(None);
    };
    let opts = SyncOptions::default();
    let planned = plan_archive(plan, creds, &opts, Some(&archive)).await;
    let filled = fill_archive(plan, creds, clock, &opts, log, &archive, &planned, None).await;
    archive.finish()?;
    let dir = archive.dir().to_path_buf();
    // Verified under the archive's lock, as `archive --verify` holds it: nothing writes meanwhile.
    let mut verification = verify_offline(&dir)?;
    compare_archive_with_old(plan, creds, &opts, &dir, &mut verification).await?;
    drop(archive);
    Ok(Some(Kept {
        added: filled.iter().map(|f| f.messages).sum(),
        verification,
    }))
}
