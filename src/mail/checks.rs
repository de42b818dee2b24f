//! The mail checks of the runbook: pure verdicts on probe results, copy reports and time.
//!
//! Each returns a [`Check`] with one sentence of evidence; the runbook decides which
//! step each gates. Ids: `mail.new-login`, `mail.pop3-fetch`, `mail.old-inbox-quiet`,
//! `mail.copy-verified`.

use jiff::{SignedDuration, Timestamp};

use crate::check::{Check, Kind, Status};
use crate::mail::probe::{LoginState, MailboxProbe};

/// R6: every mailbox can log in to the new server (`new-server-ready`, `users-connected`).
pub fn new_logins(probes: &[MailboxProbe], expected: usize) -> Check {
    let id = "mail.new-login";
    if probes.is_empty() || probes.len() < expected {
        return Check::new(
            id,
            Kind::Outcome,
            Status::Unknown,
            format!(
                "{} of {} probed on the new server so far",
                probes.len(),
                crate::units::count(expected as u64, "mailbox", "mailboxes")
            ),
        );
    }
    let failing: Vec<String> = probes
        .iter()
        .filter(|p| p.new.login != LoginState::Ok)
        .map(|p| format!("{} ({})", p.address, login_word(p.new.login)))
        .collect();
    if failing.is_empty() {
        Check::new(
            id,
            Kind::Outcome,
            Status::Pass,
            format!(
                "cutover logged in to {} on the new server: the accounts work (each employee's own login is the operator's tick)",
                crate::units::all(probes.len() as u64, "mailbox", "mailboxes")
            ),
        )
    } else if probes
        .iter()
        .all(|p| matches!(p.new.login, LoginState::Ok | LoginState::Throttled))
    {
        Check::new(
            id,
            Kind::Outcome,
            Status::Warn,
            format!(
                "the new server throttles {}; logins otherwise work",
                failing.join(", ")
            ),
        )
    } else {
        Check::new(
            id,
            Kind::Outcome,
            Status::Fail,
            format!(
                "cutover cannot log in to {} of {} on the new server, so those accounts do not work yet: {}",
                failing.len(),
                crate::units::count(probes.len() as u64, "mailbox", "mailboxes"),
                failing.join(", ")
            ),
        )
    }
}

fn login_word(state: LoginState) -> &'static str {
    match state {
        LoginState::Ok => "ok",
        LoginState::AuthFailed => "bad credentials",
        LoginState::Unreachable => "unreachable",
        LoginState::TlsFailed => "TLS failure",
        LoginState::Throttled => "throttled",
        LoginState::Unknown => "unknown",
    }
}

/// R7: per mailbox, whether the user's POP3 fetch brings the old INBOX into the new one.
/// Advice only: a mailbox without fetch is a warning, never a failure.
pub fn pop3_fetch(probe: &MailboxProbe) -> Check {
    let id = "mail.pop3-fetch";
    match (
        probe.fetch_share,
        probe.old.inbox.as_ref().map(|c| c.total()),
    ) {
        (Some(share), _) if probe.fetch_detected == Some(true) => Check::new(
            id,
            Kind::Outcome,
            Status::Pass,
            format!(
                "{}: {:.0} % of the old INBOX is already in the new INBOX",
                probe.address,
                share * 100.0
            ),
        ),
        (Some(share), _) => Check::new(
            id,
            Kind::Outcome,
            Status::Warn,
            format!(
                "{}: only {:.0} % of the old INBOX is in the new INBOX; no POP3 fetch seen",
                probe.address,
                share * 100.0
            ),
        ),
        (None, Some(0)) => Check::new(
            id,
            Kind::Outcome,
            Status::Pass,
            format!(
                "{}: the old INBOX is empty; nothing to fetch",
                probe.address
            ),
        ),
        _ => Check::new(
            id,
            Kind::Outcome,
            Status::Unknown,
            format!("{}: INBOX not probed on both servers yet", probe.address),
        ),
    }
}

/// R10/R14: the old INBOX stopped growing. `history` is (time, UIDNEXT) of the old
/// INBOX, oldest first; quiet means UIDNEXT unchanged for at least `window`.
pub fn old_inbox_quiet(
    address: &str,
    history: &[(Timestamp, u32)],
    now: Timestamp,
    window: SignedDuration,
) -> Check {
    let id = "mail.old-inbox-quiet";
    let Some(&(_, latest)) = history.last() else {
        return Check::new(
            id,
            Kind::Outcome,
            Status::Unknown,
            format!("{address}: old INBOX not probed yet"),
        );
    };
    // The first time UIDNEXT had its current value, counting back from the end.
    let since = history
        .iter()
        .rev()
        .take_while(|(_, uidnext)| *uidnext == latest)
        .last()
        .map(|(at, _)| *at)
        .unwrap_or(now);
    let quiet_for = now.duration_since(since);
    if quiet_for >= window {
        Check::new(
            id,
            Kind::Outcome,
            Status::Pass,
            format!(
                "{address}: no new mail on the old server for {}",
                human(quiet_for)
            ),
        )
    } else {
        // Said to have received mail only when it did; otherwise it was not watched long enough.
        let grew = history.iter().any(|(_, uidnext)| *uidnext != latest);
        let evidence = if grew {
            format!(
                "{address}: old INBOX received mail {} ago (UIDNEXT {latest}); needs {} quiet",
                human(quiet_for),
                human(window)
            )
        } else {
            format!(
                "{address}: no mail seen in the old INBOX, but not watched for {} yet (watched for {})",
                human(window),
                human(quiet_for)
            )
        };
        let check = Check::new(id, Kind::Outcome, Status::Fail, evidence);
        match since.checked_add(window) {
            Ok(until) => check.until(until),
            Err(_) => check,
        }
    }
}

use crate::units::duration as human;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_needs_the_whole_window() {
        let t0: Timestamp = "2026-01-05T08:00:00Z".parse().unwrap();
        let h = |n: i64| t0.checked_add(SignedDuration::from_hours(n)).unwrap();
        let history = [(t0, 10), (h(1), 12), (h(2), 12), (h(20), 12)];
        let day = SignedDuration::from_hours(24);
        let c = old_inbox_quiet("a@x", &history, h(20), day);
        assert_eq!(c.status, Status::Fail);
        assert_eq!(c.until, Some(h(25)));
        assert_eq!(
            old_inbox_quiet("a@x", &history, h(25), day).status,
            Status::Pass
        );
        assert_eq!(
            old_inbox_quiet("a@x", &[], h(25), day).status,
            Status::Unknown
        );
    }

    #[test]
    fn no_copy_is_unknown_never_green() {
        assert_eq!(new_logins(&[], 3).status, Status::Unknown);
    }

    fn probe(address: &str, new_login: LoginState) -> MailboxProbe {
        use crate::mail::probe::{FolderProbe, SideProbe};
        let side = |login, messages: u64| SideProbe {
            login,
            messages: Some(messages),
            folders: vec![FolderProbe {
                name: "INBOX".into(),
                messages: messages as u32,
                uidnext: messages as u32 + 1,
                uidvalidity: 7,
                special_use: None,
            }],
            error: None,
            inbox: None,
            inbox_newest_at: None,
        };
        MailboxProbe {
            address: address.into(),
            old: side(LoginState::Ok, 12),
            new: side(new_login, 3),
            synced_percent: None,
            fetch_detected: None,
            fetch_share: None,
            verified: None,
            old_bytes: None,
            probed_at: Timestamp::UNIX_EPOCH,
        }
    }

    /// `mail.new-login` is cutover's own login: it proves the account works, and says so
    /// (the employee's login is the operator's tick), naming the mailboxes that fail.
    #[test]
    fn new_login_evidence_says_the_accounts_work_or_which_do_not() {
        let ok = [probe("a@x", LoginState::Ok), probe("b@x", LoginState::Ok)];
        let c = new_logins(&ok, 2);
        assert_eq!(c.status, Status::Pass);
        assert!(
            c.evidence.contains("cutover logged in to all 2 mailboxes"),
            "{c:?}"
        );
        assert!(c.evidence.contains("the accounts work"), "{c:?}");
        let bad = [
            probe("a@x", LoginState::Ok),
            probe("b@x", LoginState::AuthFailed),
        ];
        let c = new_logins(&bad, 2);
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.evidence.contains("cutover cannot log in to 1 of 2"),
            "{c:?}"
        );
        assert!(c.evidence.contains("b@x"), "{c:?}");
    }

    #[test]
    fn old_inbox_quiet_evidence_names_the_mailbox_and_the_times() {
        let t0: Timestamp = "2026-01-05T08:00:00Z".parse().unwrap();
        let h = |n: i64| t0.checked_add(SignedDuration::from_hours(n)).unwrap();
        let day = SignedDuration::from_hours(24);
        let c = old_inbox_quiet("a@x", &[(t0, 10), (h(2), 12)], h(30), day);
        assert_eq!(c.status, Status::Pass);
        assert!(
            c.evidence
                .contains("a@x: no new mail on the old server for"),
            "{c:?}"
        );
        let c = old_inbox_quiet("a@x", &[(t0, 10), (h(2), 12)], h(3), day);
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.evidence.contains("a@x") && c.evidence.contains("UIDNEXT 12"),
            "{c:?}"
        );
        assert_eq!(c.until, Some(h(26)));
    }
}
