//! `cutover canary`: sends canaries now, waits for them, and journals where they landed;
//! and `status`'s view of the last canary per route (`canaries[]`).

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::json;

use crate::canary::{CanaryResult, Options, Problem, Route};
use crate::check::Status;
use crate::clock::Clock;
use crate::journal::History;
use crate::plan::Plan;
use crate::sanitize::sanitize;
use crate::session::{CommandFailure, Session};

pub(crate) use crate::canary::NOT_PROVEN;

/// Which routes `--route` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum RouteChoice {
    World,
    Direct,
    Outbound,
    All,
}

impl RouteChoice {
    fn routes(self) -> BTreeSet<Route> {
        match self {
            RouteChoice::World => BTreeSet::from([Route::World]),
            RouteChoice::Direct => BTreeSet::from([Route::Direct]),
            RouteChoice::Outbound => BTreeSet::from([Route::Outbound]),
            RouteChoice::All => BTreeSet::from([Route::World, Route::Direct, Route::Outbound]),
        }
    }
}

/// `cutover canary`: the exit code is 0 when every canary landed where expected (a
/// warning included: Junk, or a route that cannot be tried from here), 1 a canary in the
/// wrong place or not found in time, 3 a login failed, 4 a server unreachable.
pub(crate) fn run(
    plan: &Plan,
    choice: RouteChoice,
    json: bool,
    timeout: Option<&str>,
    clock: &dyn Clock,
) -> Result<u8, CommandFailure> {
    if plan.canary.is_none() {
        return Err(CommandFailure::Usage(NOT_PROVEN.to_string()));
    }
    let timeout = match timeout {
        None => crate::canary::DEFAULT_TIMEOUT,
        Some(text) => crate::units::parse_duration(text)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                CommandFailure::Usage(format!(
                    "--timeout {} is not a duration: write e.g. `--timeout 5m` or `--timeout 90s`",
                    sanitize(text)
                ))
            })?,
    };
    let credentials = crate::mail::CredentialSource::new(plan.credentials.as_ref())
        .map_err(CommandFailure::Credentials)?;
    let mut session = Session::open(plan)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CommandFailure::Runtime)?;
    let now = clock.now();
    let routes = choice.routes();
    let served_mx = if routes.contains(&Route::Direct) {
        runtime.block_on(served_mx(plan, now))
    } else {
        vec![]
    };
    let options = Options {
        routes,
        timeout,
        poll: Duration::from_secs(5)
            .min(timeout / 4)
            .max(Duration::from_millis(200)),
        world_expect: crate::runbook::rollback::world_canary_expect(plan, session.history(), now),
        served_mx,
    };
    if !json {
        eprintln!(
            "Sending canaries ({}); looking for them for up to {}…",
            options
                .routes
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            crate::units::duration_secs(timeout.as_secs())
        );
    }
    let results = runtime
        .block_on(crate::canary::run_round(
            plan,
            &credentials,
            &options,
            clock,
        ))
        .map_err(|e| CommandFailure::Usage(e.to_string()))?;
    session.recorder.canary_round(&results, clock.now())?;
    let text = if json {
        format!(
            "{}\n",
            super::to_json(&json!({ "canaries": results, "exit_code": exit_code(&results) }))?
        )
    } else {
        results.iter().map(result_text).collect::<String>()
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(exit_code(&results))
}

/// How long `status` looks for the world canary it sends when one is due.
const STATUS_TIMEOUT: Duration = Duration::from_secs(120);

/// `status` (not offline): sends a world canary when one is due (after the switch and the
/// old MX's TTL, the last one over an hour old) and journals it, so `canary.world-new` is
/// judged on a fresh one. A canary that cannot be sent is journaled like any other; missing
/// credentials leave it unsent (the check says none is recent).
pub(crate) fn send_when_due(
    session: &mut Session,
    clock: &dyn Clock,
) -> Result<(), CommandFailure> {
    let plan = session.plan.clone();
    if !crate::canary::checks::world_canary_due(&plan, session.history(), clock.now()) {
        return Ok(());
    }
    let Ok(credentials) = crate::mail::CredentialSource::new(plan.credentials.as_ref()) else {
        return Ok(());
    };
    eprintln!(
        "Sending a world canary (the last one is over an hour old); looking for it for up to {}…",
        crate::units::duration_secs(STATUS_TIMEOUT.as_secs())
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CommandFailure::Runtime)?;
    let options = Options {
        routes: BTreeSet::from([Route::World]),
        timeout: STATUS_TIMEOUT,
        poll: Duration::from_secs(5),
        world_expect: crate::runbook::rollback::world_canary_expect(
            &plan,
            session.history(),
            clock.now(),
        ),
        served_mx: vec![],
    };
    if let Ok(results) = runtime.block_on(crate::canary::run_round(
        &plan,
        &credentials,
        &options,
        clock,
    )) {
        session.recorder.canary_round(&results, clock.now())?;
    }
    Ok(())
}

/// The MX hosts the plan's resolvers serve for the domain (direct canaries go to each).
async fn served_mx(plan: &Plan, now: Timestamp) -> Vec<String> {
    use crate::dns::query::{Ask, Rtype, ask};
    let mut hosts = BTreeSet::new();
    for server in &plan.dns.resolvers {
        let answer = ask(
            Ask {
                server: *server,
                recursion_desired: true,
                timeout: plan.dns.timeout,
            },
            &plan.domain,
            Rtype::MX,
            now,
        )
        .await;
        hosts.extend(crate::dns::mx::hosts(&answer.records));
    }
    hosts.into_iter().collect()
}

/// 3 a login failed, 4 unreachable, 1 a canary failed, else 0.
fn exit_code(results: &[CanaryResult]) -> u8 {
    if results
        .iter()
        .any(|r| r.problem == Some(Problem::LoginFailed))
    {
        3
    } else if results
        .iter()
        .any(|r| r.problem == Some(Problem::Unreachable))
    {
        4
    } else if results
        .iter()
        .any(|r| matches!(r.verdict, Status::Fail | Status::Unknown))
    {
        1
    } else {
        0
    }
}

/// One canary for people: its verdict and evidence, then the details.
fn result_text(r: &CanaryResult) -> String {
    let target = r
        .target
        .as_ref()
        .map(|t| format!(" to {t}"))
        .unwrap_or_default();
    let mut s = format!(
        "{} {} canary{target} ({}): {} — {}\n",
        r.verdict.mark(),
        r.route.as_str(),
        r.route.describe(),
        r.verdict.as_str(),
        sanitize(&r.evidence)
    );
    s.push_str(&format!(
        "    token {}, Message-ID <{}>, sent {}\n",
        r.token, r.message_id, r.sent_at
    ));
    if let Some(reply) = &r.reply {
        s.push_str(&format!("    reply: {}\n", sanitize(reply)));
    }
    for (i, hop) in r.hops.iter().enumerate() {
        s.push_str(&format!("    hop {}: {}\n", i + 1, sanitize(hop)));
    }
    if let Some(cleanup) = &r.cleanup {
        s.push_str(&format!("    {}\n", sanitize(cleanup)));
    }
    s.push_str(&auth_text(r));
    s
}

/// An outbound canary's authentication as cutover verified it, the receiver's verdict
/// beside it, and the warnings; or why it was not judged.
pub(crate) fn auth_text(r: &CanaryResult) -> String {
    let mut s = String::new();
    if let Some(note) = &r.auth_note {
        s.push_str(&format!("    {}\n", sanitize(note)));
    }
    let Some(auth) = &r.auth else {
        return s;
    };
    let or_q = |v: &Option<String>| v.as_deref().map(sanitize).unwrap_or_else(|| "?".into());
    let aligned = |a: bool| if a { "aligned" } else { "not aligned" };
    let dkim = &auth.dkim;
    s.push_str(&format!(
        "    DKIM {} (d={}, s={}, {}){}\n",
        dkim.result.as_str(),
        or_q(&dkim.domain),
        or_q(&dkim.selector),
        aligned(dkim.aligned),
        dkim.reason
            .as_deref()
            .map(|r| format!(": {}", sanitize(r)))
            .unwrap_or_default()
    ));
    let spf = &auth.spf;
    s.push_str(&format!(
        "    SPF {} for {} at {} ({}){}\n",
        spf.result.as_str(),
        spf.ip
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "?".into()),
        or_q(&spf.domain),
        aligned(spf.aligned),
        spf.reason
            .as_deref()
            .map(|r| format!(": {}", sanitize(r)))
            .unwrap_or_default()
    ));
    s.push_str(&format!(
        "    DMARC {} (policy {})\n",
        auth.dmarc.result.as_str(),
        auth.dmarc
            .policy
            .as_deref()
            .map(sanitize)
            .unwrap_or_else(|| "none published".into())
    ));
    if let Some(receiver) = &auth.receiver {
        let said = |v: &Option<String>| {
            v.as_deref()
                .map(sanitize)
                .unwrap_or_else(|| "(not said)".into())
        };
        s.push_str(&format!(
            "    the receiver ({}) wrote dkim={} spf={} dmarc={}\n",
            receiver
                .authserv_id
                .as_deref()
                .map(sanitize)
                .unwrap_or_else(|| "no authserv-id".into()),
            said(&receiver.dkim),
            said(&receiver.spf),
            said(&receiver.dmarc)
        ));
    }
    for warning in &auth.warnings {
        s.push_str(&format!("    warning: {}\n", sanitize(warning)));
    }
    s
}

/// `status --json` `canaries[]`: the last canary per route (per MX host for direct ones).
pub(crate) fn status_canaries(history: &History) -> Vec<CanaryResult> {
    crate::canary::facts::last_per_route(history)
}

/// `cutover check`'s offer: the `dkim_selector = "…"` line for `[new]` when the last outbound
/// canary in the journal was signed with another selector than the plan's (or the plan
/// names none). Empty without one, or when the journal cannot be read.
pub(crate) fn selector_line(plan: &Plan) -> String {
    if plan.canary.is_none() {
        return String::new();
    }
    let Ok(journal) = crate::journal::Journal::for_plan(plan) else {
        return String::new();
    };
    let Ok(replay) = journal.replay() else {
        return String::new();
    };
    let history = History::from_entries(&replay.entries);
    let Some(found) = crate::canary::checks::selector_found(plan, &history) else {
        return String::new();
    };
    let mut s = format!(
        "{}: the last outbound canary was signed with DKIM selector {}: put this line in [new]:\n    {}\n",
        plan.path.display(),
        found.selector,
        found.plan_line
    );
    if let Some(record) = found.record {
        s.push_str(&format!(
            "  and publish its key (the provider shows it): {record}\n"
        ));
    }
    s
}

/// `status --json` `mail_flow_note`: why mail flow is not proven, without `[canary]`.
pub(crate) fn mail_flow_note(plan: &Plan) -> Option<String> {
    plan.canary.is_none().then(|| NOT_PROVEN.to_string())
}

/// `status`'s "Mail flow" lines: the last canary per route with its age, or why mail flow
/// is not proven.
pub(crate) fn status_text(plan: &Plan, history: &History, now: Timestamp) -> String {
    let mut s = String::from("\nMail flow\n");
    if plan.canary.is_none() {
        s.push_str(&format!("  {NOT_PROVEN}\n"));
        return s;
    }
    let last = crate::canary::facts::last_per_route(history);
    if last.is_empty() {
        s.push_str("  No canary sent yet: run `cutover canary` to prove that mail flows.\n");
        return s;
    }
    for r in &last {
        let target = r
            .target
            .as_ref()
            .map(|t| format!(" to {t}"))
            .unwrap_or_default();
        s.push_str(&format!(
            "  {} {}{target}, {} ago: {}\n",
            r.verdict.mark(),
            r.route.as_str(),
            crate::units::duration(now.duration_since(r.sent_at)),
            sanitize(&r.evidence)
        ));
        s.push_str(&auth_text(r));
    }
    s
}
