//! Canaries: mail flow proven by sending mail (R16). Three routes, each a message with a
//! unique token: from the outside world through the MX the world sees, straight to each MX
//! host, and out through the new server's submission. Each is looked for by IMAP on the
//! old and the new server (every folder) and at the external mailbox, judged by where it
//! landed, and removed where cutover may change mail (never on the old server).
//!
//! - `message.rs` the token and the message; `send.rs` lettre and what a reply means;
//!   `find.rs` the search and the removal (`UID EXPUNGE` of the canary's own UID);
//!   `facts.rs` what a round journals (through `recorder::Recorder::canary_round`) and
//!   what the journal says back.

pub mod checks;
pub mod facts;
pub mod find;
pub mod message;
pub mod send;

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::check::Status;
use crate::clock::Clock;
use crate::mail::{CredentialSource, Imap, Login, MailError, Place, SpecialUse, Timeouts};
use crate::mailauth::model::OutboundAuth;
use crate::mailauth::verify::Receiver;
use crate::plan::{CanaryPlan, ImapEndpoint, Mailbox, Plan, SmtpAddress, WhichSide};

use find::{Found, Removal};
use send::Sent;

/// What `status`, `check` and the cockpit say without `[canary]`.
pub const NOT_PROVEN: &str = "Mail flow is not proven: nothing sends a message. Add a [canary] table (a dedicated plan mailbox such as cutover-canary@ your domain, and an external mailbox at another provider: `external = { preset = \"gmail\", address = \"…\" }`), then run `cutover canary`.";

/// How long a canary is looked for unless `--timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The way a canary travels.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    /// From the external mailbox, through its provider, to the canary mailbox: the MX the
    /// world resolves.
    World,
    /// From the jump host on port 25 to one MX host.
    Direct,
    /// From the canary mailbox through the new server's submission to the external mailbox.
    Outbound,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::World => "world",
            Route::Direct => "direct",
            Route::Outbound => "outbound",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Route::World => "world → domain",
            Route::Direct => "direct → MX host",
            Route::Outbound => "domain → world",
        }
    }

    pub fn parse(text: &str) -> Option<Route> {
        match text {
            "world" => Some(Route::World),
            "direct" => Some(Route::Direct),
            "outbound" => Some(Route::Outbound),
            _ => None,
        }
    }
}

/// Where a canary was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Landed {
    New,
    Old,
    Both,
    /// At the external mailbox (the outbound route).
    External,
    None,
}

impl Landed {
    pub fn as_str(self) -> &'static str {
        match self {
            Landed::New => "new",
            Landed::Old => "old",
            Landed::Both => "both",
            Landed::External => "external",
            Landed::None => "none",
        }
    }
}

/// Where a canary should land.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    New,
    Old,
    /// During the switch, when the world's MX may name either.
    Either,
    External,
    /// After a rollback removed the new MX and its TTL passed: only the old server; a
    /// canary on the new one means senders still reach the new MX.
    OldAfterRollback,
}

/// A rollback standing (R18), as the canaries need it. `runbook::rollback` decides it (a
/// layer above this one), so the callers pass it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollingBack {
    /// When `rollback-remove-new-mx` was confirmed, if it was.
    pub new_mx_removed_at: Option<Timestamp>,
    /// The TTL the new MX was last served with: resolvers may hold it that long after.
    pub new_mx_ttl: u32,
}

/// Where the world's canary should land now: on the old server before `add-new-mx`, on
/// the new one once the switch is older than the old MX's (migration) TTL, either between.
/// While a rollback stands: either, until the new MX was removed and its TTL passed since;
/// then only the old server.
pub fn expect_world(
    plan: &Plan,
    history: &crate::journal::History,
    rolling_back: Option<RollingBack>,
    now: Timestamp,
) -> Expect {
    if let Some(rollback) = rolling_back {
        let ttl = jiff::SignedDuration::from_secs(i64::from(rollback.new_mx_ttl));
        return match rollback.new_mx_removed_at {
            Some(at) if at.checked_add(ttl).is_ok_and(|t| t <= now) => Expect::OldAfterRollback,
            _ => Expect::Either,
        };
    }
    let ttl = jiff::SignedDuration::from_secs(i64::from(plan.dns.migration_ttl));
    match history.switch_at() {
        Some(at) if at.checked_add(ttl).is_ok_and(|t| t <= now) => Expect::New,
        Some(_) => Expect::Either,
        None if history
            .step(&crate::step::StepId::AddNewMx)
            .is_some_and(|r| r.confirmed.is_some()) =>
        {
            Expect::Either
        }
        None => Expect::Old,
    }
}

/// Why a route's canary could not be judged on its landing: for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    LoginFailed,
    Unreachable,
}

/// One canary and its verdict: what `status --json` `canaries[]` shows and the journal keeps.
/// An outbound canary judged at the external mailbox also carries `dkim`, `spf`, `dmarc`,
/// `receiver` (null when the receiver wrote no Authentication-Results), `signatures`,
/// `warnings` and `from_domain`; they are absent when it was not judged (`auth_note`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CanaryResult {
    pub route: Route,
    /// The MX host of a direct canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub token: String,
    /// Without angle brackets; kept so the copy and the quiet check skip it on the old server.
    pub message_id: String,
    /// When it was sent (RFC 3339).
    #[schemars(with = "String")]
    pub sent_at: Timestamp,
    pub landed: Landed,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// Whether the folder is a Junk folder (special-use `\Junk` or named so).
    #[serde(default)]
    pub junk: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_s: Option<u64>,
    /// `Received` headers, first hop first.
    #[serde(default)]
    pub hops: Vec<String>,
    pub verdict: Status,
    /// The sending server's reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// One sentence: what was seen and, when it is not a pass, what to do.
    pub evidence: String,
    /// What was done with it once found (removed, left `\Seen`, never touched on old).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
    /// An outbound canary found at the external mailbox: DKIM, SPF and DMARC as cutover
    /// verified them on the bytes the receiver kept, and the receiver's own verdict beside
    /// them (`dkim`, `spf`, `dmarc`, `receiver`, `signatures`, `warnings`, `from_domain`).
    /// The keys are absent when the canary was not judged: another route, not found, or
    /// not verifiable (`auth_note` says why). Journals written before have none.
    #[serde(flatten)]
    pub auth: Option<OutboundAuth>,
    /// Why an outbound canary found at the external mailbox was not judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_note: Option<String>,
}

/// What a round should do.
#[derive(Debug, Clone)]
pub struct Options {
    pub routes: BTreeSet<Route>,
    /// How long to look for the canaries after sending them.
    pub timeout: Duration,
    /// How often to look.
    pub poll: Duration,
    /// Where the world's canary should land now (from the migration's progress).
    pub world_expect: Expect,
    /// The MX hosts of direct canaries (besides the plan's new ones): what the resolvers
    /// serve for the domain.
    pub served_mx: Vec<String>,
}

/// A plan error a round cannot start with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CanaryError {
    #[error(
        "mail flow is not proven: the plan has no [canary]; add one with a dedicated mailbox and an external mailbox (see `cutover init` and README, \"Canaries\")"
    )]
    NotConfigured,
    #[error("[canary] mailbox {0} is not one of the plan's mailboxes")]
    NoMailbox(String),
}

/// One canary in flight.
struct InFlight {
    result: CanaryResult,
    expect: Expect,
    sent: bool,
}

/// Sends the chosen routes' canaries, looks for them until all are found or the timeout,
/// removes them where cutover may, and judges each.
pub async fn run_round(
    plan: &Plan,
    credentials: &CredentialSource,
    options: &Options,
    clock: &dyn Clock,
) -> Result<Vec<CanaryResult>, CanaryError> {
    let canary = plan.canary.as_ref().ok_or(CanaryError::NotConfigured)?;
    let mailbox = plan
        .mailboxes
        .iter()
        .find(|m| m.address.eq_ignore_ascii_case(&canary.mailbox))
        .ok_or_else(|| CanaryError::NoMailbox(canary.mailbox.clone()))?;
    let send_timeout = Duration::from_secs(30).min(options.timeout.max(Duration::from_secs(5)));
    let mut flights: Vec<InFlight> = Vec::new();
    if options.routes.contains(&Route::World) {
        flights.push(send_world(canary, credentials, options, clock, send_timeout).await);
    }
    if options.routes.contains(&Route::Direct) {
        for (host, address, expect) in direct_targets(plan, &options.served_mx) {
            flights.push(
                send_direct(plan, canary, &host, &address, expect, clock, send_timeout).await,
            );
        }
    }
    if options.routes.contains(&Route::Outbound) {
        flights.push(send_outbound(plan, canary, mailbox, credentials, clock, send_timeout).await);
    }
    look(
        plan,
        canary,
        mailbox,
        credentials,
        options,
        clock,
        &mut flights,
    )
    .await;
    Ok(flights.into_iter().map(|f| f.result).collect())
}

fn unsent(route: Route, target: Option<String>, from: &str, now: Timestamp) -> CanaryResult {
    let token = message::new_token(now);
    CanaryResult {
        route,
        target,
        message_id: message::message_id(&token, from),
        token,
        sent_at: now,
        landed: Landed::None,
        folder: None,
        junk: false,
        delay_s: None,
        hops: vec![],
        verdict: Status::Unknown,
        reply: None,
        evidence: String::new(),
        cleanup: None,
        problem: None,
        auth: None,
        auth_note: None,
    }
}

/// Applies a send's outcome: accepted canaries are looked for; the others are judged now.
fn after_send(mut result: CanaryResult, expect: Expect, sent: Sent, server: &str) -> InFlight {
    let mut in_flight = true;
    match sent {
        Sent::Accepted { reply } => result.reply = Some(reply),
        Sent::CannotTry { reply, advice } => {
            in_flight = false;
            result.verdict = Status::Warn;
            result.evidence = format!("could not be tried at {server}: {advice}");
            result.reply = (!reply.is_empty()).then_some(reply);
        }
        Sent::LoginFailed { reply } => {
            in_flight = false;
            result.verdict = Status::Fail;
            result.problem = Some(Problem::LoginFailed);
            result.evidence = format!("{server} refused the login: check the password or token");
            result.reply = Some(reply);
        }
        Sent::Unreachable { detail } => {
            in_flight = false;
            result.verdict = Status::Fail;
            result.problem = Some(Problem::Unreachable);
            result.evidence = format!("{server} unreachable: {detail}");
        }
        Sent::Refused { reply } => {
            in_flight = false;
            result.verdict = Status::Fail;
            result.evidence = format!("{server} refused the canary");
            result.reply = Some(reply);
        }
    }
    InFlight {
        result,
        expect,
        sent: in_flight,
    }
}

async fn send_world(
    canary: &CanaryPlan,
    credentials: &CredentialSource,
    options: &Options,
    clock: &dyn Clock,
    timeout: Duration,
) -> InFlight {
    let external = &canary.external;
    let now = clock.now();
    let mut result = unsent(Route::World, None, &external.address, now);
    let server = format!("the external submission {}", external.submission.url);
    let login = match credentials.external_login(external).await {
        Ok(l) => l,
        Err(e) => {
            result.verdict = Status::Fail;
            result.problem = Some(Problem::LoginFailed);
            result.evidence = format!("no login for the external mailbox: {e}");
            return InFlight {
                result,
                expect: options.world_expect,
                sent: false,
            };
        }
    };
    let sent = match message::build(
        Route::World,
        &result.token,
        &external.address,
        &canary.mailbox,
        now,
    ) {
        Ok(raw) => {
            send::submit(
                &external.submission,
                external.submission.ca_file.as_deref(),
                &login,
                &external.address,
                &canary.mailbox,
                &raw,
                timeout,
            )
            .await
        }
        Err(e) => Sent::Refused {
            reply: e.to_string(),
        },
    };
    after_send(result, options.world_expect, sent, &server)
}

async fn send_direct(
    plan: &Plan,
    canary: &CanaryPlan,
    host: &str,
    address: &SmtpAddress,
    expect: Expect,
    clock: &dyn Clock,
    timeout: Duration,
) -> InFlight {
    let now = clock.now();
    let result = unsent(
        Route::Direct,
        Some(host.to_string()),
        &canary.direct_from,
        now,
    );
    let ca_file = match expect {
        Expect::Old => plan.old.imap.ca_file.as_deref(),
        _ => plan.new.imap.ca_file.as_deref(),
    };
    let sent = match message::build(
        Route::Direct,
        &result.token,
        &canary.direct_from,
        &canary.mailbox,
        now,
    ) {
        Ok(raw) => send::direct(host, address, ca_file, &canary.mailbox, &raw, timeout).await,
        Err(e) => Sent::Refused {
            reply: e.to_string(),
        },
    };
    after_send(result, expect, sent, &format!("MX host {host} ({address})"))
}

async fn send_outbound(
    plan: &Plan,
    canary: &CanaryPlan,
    mailbox: &Mailbox,
    credentials: &CredentialSource,
    clock: &dyn Clock,
    timeout: Duration,
) -> InFlight {
    let now = clock.now();
    let mut result = unsent(Route::Outbound, None, &canary.mailbox, now);
    let Some(submission) = &plan.new.submission else {
        result.verdict = Status::Warn;
        result.evidence = "[new] has no `submission`: add the new provider's submission URL (`submission = \"smtp://smtp.example.net:587\"`) to send the outbound canary".to_string();
        return InFlight {
            result,
            expect: Expect::External,
            sent: false,
        };
    };
    let server = format!("the new server's submission {}", submission.url);
    let login = match credentials.login(mailbox, WhichSide::New).await {
        Ok(l) => l,
        Err(e) => {
            result.verdict = Status::Fail;
            result.problem = Some(Problem::LoginFailed);
            result.evidence = format!("no login for the canary mailbox: {e}");
            return InFlight {
                result,
                expect: Expect::External,
                sent: false,
            };
        }
    };
    let ca_file = submission
        .ca_file
        .as_deref()
        .or(plan.new.imap.ca_file.as_deref());
    let sent = match message::build(
        Route::Outbound,
        &result.token,
        &canary.mailbox,
        &canary.external.address,
        now,
    ) {
        Ok(raw) => {
            send::submit(
                submission,
                ca_file,
                &login,
                &canary.mailbox,
                &canary.external.address,
                &raw,
                timeout,
            )
            .await
        }
        Err(e) => Sent::Refused {
            reply: e.to_string(),
        },
    };
    after_send(result, Expect::External, sent, &server)
}

/// Each MX host a direct canary goes to: the plan's new MX hosts, then the hosts the
/// resolvers serve; where each is reached (`smtp` of its side, else port 25), and where
/// its canary should land.
pub fn direct_targets(plan: &Plan, served: &[String]) -> Vec<(String, SmtpAddress, Expect)> {
    let norm = |h: &str| h.trim_end_matches('.').to_ascii_lowercase();
    let mut out: Vec<(String, SmtpAddress, Expect)> = Vec::new();
    let hosts = plan
        .new
        .mx
        .iter()
        .map(|m| norm(&m.host))
        .chain(served.iter().map(|h| norm(h)));
    for host in hosts {
        if host.is_empty() || out.iter().any(|(h, _, _)| *h == host) {
            continue;
        }
        let on = |side: &crate::plan::Side| {
            side.mx
                .iter()
                .position(|m| norm(&m.host) == host)
                .map(|i| side.smtp.get(i).cloned())
        };
        let (address, expect) = match (on(&plan.new), on(&plan.old)) {
            (Some(address), _) => (address, Expect::New),
            (None, Some(address)) => (address, Expect::Old),
            (None, None) => (None, Expect::Either),
        };
        let address = address.unwrap_or_else(|| SmtpAddress {
            host: host.clone(),
            port: 25,
        });
        out.push((host, address, expect));
    }
    out
}

/// The IMAP places searched: old and new as the canary mailbox, and the external mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Where {
    Old,
    New,
    External,
}

async fn open(
    which: Where,
    plan: &Plan,
    canary: &CanaryPlan,
    mailbox: &Mailbox,
    credentials: &CredentialSource,
) -> Result<Imap, MailError> {
    let (endpoint, login, place): (&ImapEndpoint, Result<Login, _>, Place) = match which {
        Where::Old | Where::New => {
            let side = if which == Where::Old {
                WhichSide::Old
            } else {
                WhichSide::New
            };
            let endpoint = &plan.side(side).imap;
            (
                endpoint,
                credentials.login(mailbox, side).await,
                Place::new(&mailbox.address, side, &endpoint.host),
            )
        }
        Where::External => {
            let endpoint = &canary.external.imap;
            (
                endpoint,
                credentials.external_login(&canary.external).await,
                Place::new(&canary.external.address, WhichSide::New, &endpoint.host),
            )
        }
    };
    let login = login.map_err(|e| MailError::Credentials {
        place: place.clone(),
        detail: e.to_string(),
    })?;
    crate::mail::connect(endpoint, &place, &login, Timeouts::default()).await
}

fn is_junk(found: &Found) -> bool {
    found.special_use == Some(SpecialUse::Junk) || {
        let name = found.folder.to_ascii_lowercase();
        name == "junk" || name == "spam" || name.ends_with("/junk") || name.ends_with("/spam")
    }
}

/// Looks for every sent canary until all are found or the time is up, then removes
/// them on the new server and at the external mailbox, and judges each.
async fn look(
    plan: &Plan,
    canary: &CanaryPlan,
    mailbox: &Mailbox,
    credentials: &CredentialSource,
    options: &Options,
    clock: &dyn Clock,
    flights: &mut [InFlight],
) {
    let started = std::time::Instant::now();
    // Found per flight: (where, found).
    let mut seen: Vec<Vec<(Where, Found)>> = vec![Vec::new(); flights.len()];
    // Sent copies the provider kept of submitted canaries: (where, token, found).
    let mut sent_copies: Vec<(Where, String, Found)> = Vec::new();
    let mut errors: Vec<(Where, MailError)> = Vec::new();
    let inbound: Vec<String> = flights
        .iter()
        .filter(|f| f.sent && f.result.route != Route::Outbound)
        .map(|f| f.result.token.clone())
        .collect();
    let outbound: Vec<String> = flights
        .iter()
        .filter(|f| f.sent && f.result.route == Route::Outbound)
        .map(|f| f.result.token.clone())
        .collect();
    let world: Vec<String> = flights
        .iter()
        .filter(|f| f.sent && f.result.route == Route::World)
        .map(|f| f.result.token.clone())
        .collect();
    loop {
        errors.clear();
        let mut places: Vec<(Where, Vec<String>)> = Vec::new();
        if !inbound.is_empty() {
            places.push((Where::Old, inbound.clone()));
        }
        if !inbound.is_empty() || !outbound.is_empty() {
            // The new server: inbound canaries, and the Sent copy of the outbound one.
            places.push((Where::New, [inbound.clone(), outbound.clone()].concat()));
        }
        if !outbound.is_empty() || !world.is_empty() {
            places.push((Where::External, [outbound.clone(), world.clone()].concat()));
        }
        for (place, tokens) in places {
            let found = match open(place, plan, canary, mailbox, credentials).await {
                Ok(mut imap) => {
                    let found = find::search(&mut imap, &tokens).await;
                    imap.logout().await;
                    found
                }
                Err(e) => Err(e),
            };
            match found {
                Ok(found) => {
                    for (token, f) in found {
                        let Some(i) = flights.iter().position(|x| x.result.token == token) else {
                            continue;
                        };
                        let route = flights[i].result.route;
                        let copy = match (route, place) {
                            // A submitted canary in the sender's own mailbox is its Sent copy.
                            (Route::Outbound, Where::New) | (Route::World, Where::External) => true,
                            _ => false,
                        };
                        if copy {
                            if !sent_copies.iter().any(|(_, t, c)| *t == token && c == &f) {
                                sent_copies.push((place, token, f));
                            }
                        } else if !seen[i].iter().any(|(w, c)| *w == place && c == &f) {
                            seen[i].push((place, f));
                        }
                    }
                }
                Err(e) => errors.push((place, e)),
            }
        }
        let all_found = flights
            .iter()
            .enumerate()
            .all(|(i, f)| !f.sent || !seen[i].is_empty());
        if all_found || started.elapsed() >= options.timeout {
            break;
        }
        tokio::time::sleep(
            options
                .poll
                .min(options.timeout.saturating_sub(started.elapsed())),
        )
        .await;
    }
    // Remove what cutover may remove: never on the old server.
    let mut removals: Vec<(String, Removal)> = Vec::new();
    let mut removal_errors: Vec<String> = Vec::new();
    let mut raws: Vec<(String, Result<Vec<u8>, MailError>)> = Vec::new();
    for place in [Where::New, Where::External] {
        let mut targets: Vec<(String, Found)> = Vec::new();
        for (i, flight) in flights.iter().enumerate() {
            for (w, f) in &seen[i] {
                if *w == place {
                    targets.push((flight.result.token.clone(), f.clone()));
                }
            }
        }
        for (w, token, f) in &sent_copies {
            if *w == place {
                targets.push((token.clone(), f.clone()));
            }
        }
        if targets.is_empty() {
            continue;
        }
        match open(place, plan, canary, mailbox, credentials).await {
            Ok(mut imap) => {
                // The outbound canary's bytes, read before it is removed, to judge its
                // authentication as the receiver got it.
                if place == Where::External {
                    for (i, flight) in flights.iter().enumerate() {
                        if flight.result.route != Route::Outbound {
                            continue;
                        }
                        if let Some((_, f)) = seen[i].iter().find(|(w, _)| *w == Where::External) {
                            raws.push((
                                flight.result.token.clone(),
                                find::fetch_raw(&mut imap, f).await,
                            ));
                        }
                    }
                }
                for (token, f) in targets {
                    match find::remove(&mut imap, &f, &token).await {
                        Ok(r) => removals.push((token, r)),
                        Err(e) => removal_errors.push(format!("{token}: {e}")),
                    }
                }
                imap.logout().await;
            }
            Err(e) => removal_errors.push(e.to_string()),
        }
    }
    let now = clock.now();
    for (i, flight) in flights.iter_mut().enumerate() {
        if !flight.sent {
            continue;
        }
        judge(
            &mut flight.result,
            flight.expect,
            &seen[i],
            &errors,
            &new_mx_hosts(plan),
            now,
        );
        let token = &flight.result.token;
        let mut notes: Vec<&str> = Vec::new();
        for (t, r) in &removals {
            if t == token {
                notes.push(match r {
                    Removal::Expunged => "removed (UID EXPUNGE of its UID)",
                    Removal::LeftSeen => {
                        "left, marked \\Seen: the server lacks UIDPLUS, and a plain EXPUNGE would remove other deleted mail"
                    }
                });
            }
        }
        if seen[i].iter().any(|(w, _)| *w == Where::Old) {
            notes.push("left untouched on the old server (its Message-ID is journaled)");
        }
        notes.dedup();
        let mut cleanup = notes.join("; ");
        for e in removal_errors
            .iter()
            .filter(|e| e.starts_with(token.as_str()))
        {
            cleanup.push_str(&format!("; not removed: {e}"));
        }
        flight.result.cleanup = (!cleanup.is_empty()).then_some(cleanup);
        if flight.result.route == Route::Outbound && flight.result.landed == Landed::External {
            let raw = raws.iter().find(|(t, _)| t == token).map(|(_, r)| r);
            judge_auth(plan, canary, &mut flight.result, raw).await;
        }
    }
}

/// Who received the outbound canary, as the plan names its servers.
pub fn receiver(canary: &CanaryPlan) -> Receiver {
    Receiver {
        hosts: canary.external.received_by.clone(),
        authserv_id: canary.external.authserv_id.clone(),
    }
}

/// DKIM, SPF and DMARC of the outbound canary as the external mailbox holds it, verified
/// over the plan's resolvers (what the world sees); or why it could not be.
async fn judge_auth(
    plan: &Plan,
    canary: &CanaryPlan,
    result: &mut CanaryResult,
    raw: Option<&Result<Vec<u8>, MailError>>,
) {
    let raw = match raw {
        Some(Ok(raw)) if !raw.is_empty() => raw,
        Some(Ok(_)) => {
            result.auth_note = Some(
                "its authentication was not judged: the external mailbox gave no message bytes"
                    .to_string(),
            );
            return;
        }
        None => {
            result.auth_note = Some(
                "its authentication was not judged: the external mailbox could not be opened again to read it (see the cleanup note)"
                    .to_string(),
            );
            return;
        }
        Some(Err(e)) => {
            result.auth_note = Some(format!(
                "its authentication was not judged: the message could not be read ({e})"
            ));
            return;
        }
    };
    let verified = match crate::mailauth::verify::resolver(&plan.dns.resolvers, plan.dns.timeout) {
        Ok(resolver) => {
            crate::mailauth::verify::verify_received(raw, &receiver(canary), resolver).await
        }
        Err(e) => Err(e),
    };
    match verified {
        Ok(auth) => result.auth = Some(auth),
        Err(e) => {
            result.auth_note = Some(format!("its authentication was not judged: {e}"));
        }
    }
}

/// The plan's new MX hosts, as the evidence names them ("mx1.new.example, mx2…").
fn new_mx_hosts(plan: &Plan) -> String {
    let hosts: Vec<&str> = plan
        .new
        .mx
        .iter()
        .map(|m| m.host.trim_end_matches('.'))
        .collect();
    hosts.join(", ")
}

/// The verdict of a sent canary from where it was found (`new_mx`: the new MX hosts, named
/// when a canary still reaches them after a rollback).
fn judge(
    result: &mut CanaryResult,
    expect: Expect,
    seen: &[(Where, Found)],
    errors: &[(Where, MailError)],
    new_mx: &str,
    now: Timestamp,
) {
    let on = |w: Where| seen.iter().find(|(p, _)| *p == w).map(|(_, f)| f);
    let (old, new, ext) = (on(Where::Old), on(Where::New), on(Where::External));
    result.landed = match (old, new, ext) {
        (_, _, Some(_)) => Landed::External,
        (Some(_), Some(_), _) => Landed::Both,
        (Some(_), None, _) => Landed::Old,
        (None, Some(_), _) => Landed::New,
        (None, None, None) => Landed::None,
    };
    let first = match expect {
        Expect::Old | Expect::OldAfterRollback => old.or(new),
        _ => ext.or(new).or(old),
    };
    if let Some(f) = first {
        result.folder = Some(f.folder.clone());
        result.junk = is_junk(f);
        result.hops = f.hops.clone();
        let arrived = f.arrived.unwrap_or(now);
        result.delay_s =
            Some(u64::try_from(arrived.as_second() - result.sent_at.as_second()).unwrap_or(0));
    }
    let where_ = |landed: Landed| match landed {
        Landed::New => "the new server",
        Landed::Old => "the old server",
        Landed::Both => "both servers",
        Landed::External => "the external mailbox",
        Landed::None => "nowhere",
    };
    let delay = result
        .delay_s
        .map(|d| format!(" after {}", crate::units::duration_secs(d)))
        .unwrap_or_default();
    let folder = result.folder.clone().unwrap_or_default();
    let right_side = matches!(
        (expect, result.landed),
        (Expect::New, Landed::New)
            | (Expect::Old | Expect::OldAfterRollback, Landed::Old)
            | (Expect::Either, Landed::New | Landed::Old)
            | (Expect::External, Landed::External)
    );
    if result.landed == Landed::None {
        let unread: Vec<String> = errors.iter().map(|(_, e)| e.to_string()).collect();
        if !unread.is_empty() {
            result.verdict = Status::Unknown;
            result.problem = Some(if errors.iter().any(|(_, e)| e.is_auth()) {
                Problem::LoginFailed
            } else {
                Problem::Unreachable
            });
            result.evidence = format!(
                "not found, and not every mailbox could be read: {}",
                unread.join("; ")
            );
            return;
        }
        result.verdict = Status::Fail;
        result.evidence = "canary-lost: found nowhere in time (old, new and external searched, every folder): the server may have dropped it or holds it in quarantine (Microsoft 365, Google Workspace admin quarantine): look there, and at its delivery logs".to_string();
        return;
    }
    if !right_side {
        result.verdict = Status::Fail;
        result.evidence = match (expect, result.landed) {
            (Expect::New, Landed::Old) => format!(
                "canary-old: landed on the old server ({folder}){delay}: senders still use the old MX; check that the old MX records are gone everywhere and their TTL has passed"
            ),
            // The alarm is the same as after the switch: the canary reached the server the
            // mail is leaving (here the new one, which the rollback took out of the MX).
            (Expect::OldAfterRollback, Landed::New) => format!(
                "canary-old: landed on the new server ({folder}){delay}, though the rollback removed its MX ({new_mx}) and the TTL it was served with has passed: senders still reach the new MX; check that no authoritative server still serves {new_mx} (`cutover dns`), that nothing at the new provider forwards or accepts mail for the domain from elsewhere, then send another with `cutover canary --route world`"
            ),
            (_, Landed::Both) => format!(
                "landed on both servers{delay}: something copies or forwards mail between them"
            ),
            (_, landed) => format!("landed on {}{delay}, not where expected", where_(landed)),
        };
        return;
    }
    if result.junk {
        result.verdict = Status::Warn;
        result.evidence = format!(
            "landed on {} in Junk ({folder}){delay}: the receiver's spam filter took it; check SPF, DKIM and DMARC of the sender and the filter's rules",
            where_(result.landed)
        );
        return;
    }
    result.verdict = Status::Pass;
    result.evidence = format!(
        "landed on {} in {folder}{delay}, {} hops",
        where_(result.landed),
        result.hops.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Entry, History};

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).expect("time")
    }

    fn plan() -> Plan {
        let text = include_str!("../../assets/example.toml");
        crate::plan::load::parse(
            &std::env::temp_dir().join("acme.toml"),
            text,
            &crate::plan::load::Environment {
                login_user: "t".into(),
                system_timezone: None,
            },
        )
        .expect("example plan")
        .plan
    }

    /// A journal switched to the new MX at 100 000 s.
    fn switched() -> History {
        History::from_entries(&[Entry::Fact {
            at: at(100_000),
            key: "mx-set".into(),
            value: serde_json::json!({"to": "new"}),
            evidence: String::new(),
        }])
    }

    fn found() -> Found {
        Found {
            wire: "INBOX".into(),
            folder: "INBOX".into(),
            special_use: None,
            uid: 7,
            arrived: Some(at(1_060)),
            hops: vec!["from ext.test".into()],
        }
    }

    fn sent() -> CanaryResult {
        unsent(Route::World, None, "t@ext.test", at(1_000))
    }

    #[test]
    fn during_a_rollback_the_world_canary_goes_to_the_old_server_once_the_new_mx_ttl_passed() {
        let plan = plan();
        let history = switched();
        let ttl = plan.dns.migration_ttl;
        let late = at(200_000);
        // Forward: after the switch and its TTL, only the new server.
        assert_eq!(expect_world(&plan, &history, None, late), Expect::New);
        // Rolled back, the new MX still served: either server is right.
        let standing = RollingBack {
            new_mx_removed_at: None,
            new_mx_ttl: ttl,
        };
        assert_eq!(
            expect_world(&plan, &history, Some(standing), late),
            Expect::Either
        );
        // The new MX removed: either until its TTL passed, then only the old server.
        let removed = RollingBack {
            new_mx_removed_at: Some(at(150_000)),
            new_mx_ttl: ttl,
        };
        let ttl = i64::from(ttl);
        assert_eq!(
            expect_world(&plan, &history, Some(removed), at(150_000 + ttl - 1)),
            Expect::Either
        );
        assert_eq!(
            expect_world(&plan, &history, Some(removed), at(150_000 + ttl)),
            Expect::OldAfterRollback
        );
    }

    #[test]
    fn a_canary_on_the_old_server_during_a_rollback_passes_and_raises_nothing() {
        for expect in [Expect::Either, Expect::OldAfterRollback] {
            let mut result = sent();
            judge(
                &mut result,
                expect,
                &[(Where::Old, found())],
                &[],
                "mx.new.test",
                at(1_100),
            );
            assert_eq!(
                result.verdict,
                Status::Pass,
                "{expect:?}: {}",
                result.evidence
            );
            assert_eq!(result.landed, Landed::Old);
            assert!(!result.evidence.starts_with("canary-old"));
        }
    }

    #[test]
    fn a_canary_on_the_new_server_after_the_rollback_removed_its_mx_names_it_and_what_to_check() {
        let mut result = sent();
        judge(
            &mut result,
            Expect::OldAfterRollback,
            &[(Where::New, found())],
            &[],
            "mx1.new.test, mx2.new.test",
            at(1_100),
        );
        assert_eq!(result.verdict, Status::Fail);
        assert_eq!(result.landed, Landed::New);
        let evidence = &result.evidence;
        assert!(evidence.starts_with("canary-old:"), "{evidence}");
        assert!(
            evidence.contains("landed on the new server (INBOX) after 1 min"),
            "{evidence}"
        );
        assert!(
            evidence.contains("senders still reach the new MX"),
            "{evidence}"
        );
        assert!(
            evidence.contains("mx1.new.test, mx2.new.test"),
            "{evidence}"
        );
        assert!(evidence.contains("`cutover dns`"), "{evidence}");
        // Between the rollback and the new MX's TTL, the new server is still a right place.
        let mut between = sent();
        judge(
            &mut between,
            Expect::Either,
            &[(Where::New, found())],
            &[],
            "mx1.new.test",
            at(1_100),
        );
        assert_eq!(between.verdict, Status::Pass, "{}", between.evidence);
    }
}
