//! The DNS watcher: each round asks every server every question at once and
//! sends the whole picture (a `DnsSnapshot`) to the app; it obeys commands on
//! its own channel. `one_round` is the same round for one-shot commands.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::clock::Clock;
use crate::dns::dkim;
use crate::dns::dmarc;
use crate::dns::mta_sts;
use crate::dns::query::{Answer, AnswerStatus, Ask, Rtype, ask, fqdn};
use crate::dns::spf;
use crate::plan::Plan;

/// What a server is to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Serves the zone: we see the configured TTL and what the DNS host publishes.
    Authoritative,
    /// A public resolver: we see what senders see, with the remaining cache TTL.
    Resolver,
}

/// One server's answers in one round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ServerView {
    /// Always with its port (`"ip:port"` in JSON).
    pub address: SocketAddr,
    pub role: Role,
    /// The NS host name an authoritative server was found under (discovered servers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns_host: Option<String>,
    pub answers: Vec<Answer>,
}

impl ServerView {
    pub fn answer(&self, name: &str, rtype: Rtype) -> Option<&Answer> {
        let name = fqdn(name);
        self.answers
            .iter()
            .find(|a| a.rtype == rtype && a.name.eq_ignore_ascii_case(&name))
    }
}

/// The MTA-STS policy, when `_mta-sts.<domain>` announces one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MtaStsView {
    /// The `v=STSv1` TXT record as served.
    pub txt: String,
    /// The policy file as fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Why the policy could not be fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Everything one round saw. The JSON form is `status --json`'s `dns`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DnsSnapshot {
    pub round: u64,
    #[schemars(with = "String")] // an RFC 3339 time (jiff 1 has no JsonSchema)
    pub measured_at: Timestamp,
    /// Authoritative servers first, then resolvers, in plan order.
    pub servers: Vec<ServerView>,
    /// Why the authoritative servers could not be discovered, if they could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_error: Option<String>,
    /// The answers the SPF evaluation needs beyond the apex (asked at the
    /// resolvers): TXT at include and redirect targets, A/AAAA for `a` and
    /// `exists`, MX for `mx`, across the whole tree, up to the lookup limit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spf_targets: Vec<Answer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mta_sts: Option<MtaStsView>,
    /// What the round judged from its answers (flattened into the JSON:
    /// `spf`, `dkim`, `dmarc_reports`).
    #[serde(flatten, default)]
    pub judged: Findings,
}

/// The round's judgements of what it was served, beside the raw answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Findings {
    /// The answers at `<domain>._report._dmarc.<their-domain>` for each
    /// DMARC report address in another domain (asked at the resolvers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dmarc_reports: Vec<Answer>,
    /// The domain's SPF record judged over the whole tree (`null` when none
    /// is served).
    #[serde(default)]
    pub spf: Option<SpfSummary>,
    /// The new server's DKIM key record judged (`null` when none is served
    /// or the plan names no selector).
    #[serde(default)]
    pub dkim: Option<DkimSummary>,
}

/// `status --json`'s `dns.spf`: what receivers make of the served record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SpfSummary {
    /// `null` when a lookup had no definite answer (unknown, not a fail).
    pub valid: Option<bool>,
    pub lookups: u32,
    pub void_lookups: u32,
    /// Each with the term and its 1-based position in the record.
    pub errors: Vec<spf::SpfProblem>,
}

/// `status --json`'s `dns.dkim`: what verifiers make of the served key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DkimSummary {
    pub valid: bool,
    pub key_type: Option<dkim::KeyType>,
    pub key_bits: Option<u32>,
    pub testing: bool,
    pub errors: Vec<String>,
}

impl DnsSnapshot {
    pub fn authoritative(&self) -> impl Iterator<Item = &ServerView> {
        self.servers
            .iter()
            .filter(|s| s.role == Role::Authoritative)
    }

    pub fn resolvers(&self) -> impl Iterator<Item = &ServerView> {
        self.servers.iter().filter(|s| s.role == Role::Resolver)
    }

    /// The SPF lookup function over what this round fetched (unknown when
    /// not fetched).
    pub fn spf_fetched(&self, name: &str, rtype: Rtype) -> spf::Fetched {
        self.spf_answer(name, rtype)
            .map(fetched)
            .unwrap_or(spf::Fetched::Unknown)
    }

    fn spf_answer(&self, name: &str, rtype: Rtype) -> Option<&Answer> {
        let name = fqdn(name);
        self.spf_targets
            .iter()
            .find(|a| a.rtype == rtype && a.name.eq_ignore_ascii_case(&name))
    }

    /// The first definite answer for `name`, authoritative servers first.
    fn served(&self, name: &str, rtype: Rtype) -> Option<&Answer> {
        self.authoritative()
            .chain(self.resolvers())
            .filter_map(|s| s.answer(name, rtype))
            .find(|a| a.status.is_definite())
    }

    /// The DMARC record at `_dmarc.<domain>`, parsed, when one is served.
    pub fn dmarc(&self, domain: &str) -> Option<dmarc::Dmarc> {
        let name = format!("_dmarc.{}", fqdn(domain));
        self.served(&name, Rtype::TXT)?
            .records
            .iter()
            .filter(|r| dmarc::is_dmarc(r))
            .find_map(|r| dmarc::parse_dmarc(r).ok())
    }

    /// The answer this round got for a DMARC report authorisation query.
    pub fn dmarc_report_answer(&self, query: &str) -> Option<&Answer> {
        let name = fqdn(query);
        self.judged
            .dmarc_reports
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(&name))
    }

    /// Judges the domain's SPF record (the first authoritative server serving
    /// one speaks for the zone, as in the `spf-valid` check).
    fn judge_spf(&self, plan: &Plan) -> Option<SpfSummary> {
        let apex = fqdn(&plan.domain);
        let record = self
            .authoritative()
            .filter_map(|s| s.answer(&apex, Rtype::TXT))
            .filter(|a| a.status == AnswerStatus::Ok)
            .find_map(|a| a.records.iter().find(|r| spf::is_spf(r)))?;
        let lookup = |name: &str, rtype: Rtype| self.spf_fetched(name, rtype);
        let verdict = spf::evaluate(&plan.domain, record, &lookup);
        Some(SpfSummary {
            valid: verdict.valid,
            lookups: verdict.lookups,
            void_lookups: verdict.void_lookups,
            errors: verdict.errors,
        })
    }

    /// Judges the new server's DKIM key record, as the first authoritative
    /// server serves it.
    fn judge_dkim(&self, plan: &Plan) -> Option<DkimSummary> {
        let selector = plan.new.dkim_selector.as_ref()?;
        let name = format!("{selector}._domainkey.{}", fqdn(&plan.domain));
        let record = self
            .authoritative()
            .filter_map(|s| s.answer(&name, Rtype::TXT))
            .filter(|a| a.status == AnswerStatus::Ok)
            .find_map(|a| a.records.first())?;
        let verdict = dkim::judge(record);
        Some(DkimSummary {
            valid: verdict.valid,
            key_type: verdict.key_type,
            key_bits: verdict.key_bits,
            testing: verdict.testing,
            errors: verdict.errors,
        })
    }
}

/// An answer as the SPF evaluation reads it.
fn fetched(answer: &Answer) -> spf::Fetched {
    match answer.status {
        AnswerStatus::Ok => spf::Fetched::Records(answer.records.clone()),
        AnswerStatus::Nxdomain => spf::Fetched::NxDomain,
        AnswerStatus::Nodata => spf::Fetched::NoData,
        _ => spf::Fetched::Unknown,
    }
}

/// Commands the app sends to the watcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsCommand {
    RefreshNow,
    SetInterval(Duration),
    Stop,
}

/// Knobs that tests and the rehearsal turn; the defaults are the real world.
#[derive(Clone, Default)]
pub struct RoundOptions {
    /// Where to connect for the MTA-STS policy instead of `mta-sts.<domain>:443`.
    pub mta_sts_connect: Option<SocketAddr>,
    /// TLS trust for the MTA-STS fetch; the system roots when absent.
    pub mta_sts_tls: Option<Arc<rustls::ClientConfig>>,
}

/// The questions asked of every server: (name, type).
pub fn questions(plan: &Plan) -> Vec<(String, Rtype)> {
    let apex = fqdn(&plan.domain);
    let mut out = vec![(apex.clone(), Rtype::MX), (apex.clone(), Rtype::TXT)];
    if let Some(selector) = &plan.new.dkim_selector {
        out.push((format!("{selector}._domainkey.{apex}"), Rtype::TXT));
    }
    out.push((format!("_dmarc.{apex}"), Rtype::TXT));
    out.push((format!("_mta-sts.{apex}"), Rtype::TXT));
    out.push((apex.clone(), Rtype::A));
    out.push((apex.clone(), Rtype::AAAA));
    out.push((format!("www.{apex}"), Rtype::A));
    out.push((format!("www.{apex}"), Rtype::AAAA));
    out.push((apex.clone(), Rtype::NS));
    out.push((apex, Rtype::SOA));
    out
}

/// One round, for one-shot commands: one attempt per query, discovery included.
pub async fn one_round(plan: &Plan, clock: &dyn Clock) -> DnsSnapshot {
    one_round_with(plan, clock, &RoundOptions::default(), 1).await
}

pub async fn one_round_with(
    plan: &Plan,
    clock: &dyn Clock,
    options: &RoundOptions,
    round: u64,
) -> DnsSnapshot {
    let (authoritative, discovery_error) = authoritative_servers(plan, clock).await;
    run_round(plan, clock, options, round, &authoritative, discovery_error).await
}

/// The plan's authoritative servers, or those found through NS at the resolvers.
async fn authoritative_servers(plan: &Plan, clock: &dyn Clock) -> (Vec<NsServer>, Option<String>) {
    if !plan.dns.authoritative.is_empty() {
        let given = plan.dns.authoritative.iter().map(|&a| (a, None)).collect();
        return (given, None);
    }
    match discover_named(plan, clock).await {
        Ok(found) => (found, None),
        Err(why) => (vec![], Some(why.to_string())),
    }
}

/// Why the authoritative servers could not be found through the resolvers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NsNotFound {
    /// The plan names neither.
    #[error("no authoritative servers in the plan and no resolvers to find them")]
    NoResolvers,
    /// The resolvers answered, but not with NS records (NXDOMAIN, SERVFAIL, no data).
    #[error("the resolvers answered {answer} for the NS of {domain}")]
    Answered {
        answer: &'static str,
        domain: String,
    },
    /// No resolver answered in time.
    #[error("no resolver answered for the NS of {domain}")]
    NoAnswer { domain: String },
    /// The NS host names have no address at the resolvers.
    #[error("the name servers of {domain} have no address the resolvers know")]
    NoAddress { domain: String },
}

/// An authoritative server and the NS host name it was found under.
type NsServer = (SocketAddr, Option<String>);

/// NS of the domain at the resolvers, then the NS hosts' A/AAAA, port 53.
pub async fn discover(plan: &Plan, clock: &dyn Clock) -> Result<Vec<SocketAddr>, NsNotFound> {
    Ok(discover_named(plan, clock)
        .await?
        .into_iter()
        .map(|(a, _)| a)
        .collect())
}

/// [`discover`], each address with the NS host it was found under.
async fn discover_named(plan: &Plan, clock: &dyn Clock) -> Result<Vec<NsServer>, NsNotFound> {
    if plan.dns.resolvers.is_empty() {
        return Err(NsNotFound::NoResolvers);
    }
    let now = clock.now();
    let ns = first_definite(plan, &plan.domain, Rtype::NS, now).await;
    let hosts = match ns {
        Some(a) if a.status == AnswerStatus::Ok => a.records,
        Some(a) => {
            return Err(NsNotFound::Answered {
                answer: a.status.as_str(),
                domain: plan.domain.clone(),
            });
        }
        None => {
            return Err(NsNotFound::NoAnswer {
                domain: plan.domain.clone(),
            });
        }
    };
    let mut lookups = JoinSet::new();
    for host in hosts {
        for rtype in [Rtype::A, Rtype::AAAA] {
            let plan_resolvers = plan.dns.resolvers.clone();
            let timeout = plan.dns.timeout;
            let host = host.clone();
            lookups.spawn(async move {
                let answer = first_definite_at(&plan_resolvers, timeout, &host, rtype, now).await;
                (host, answer)
            });
        }
    }
    let mut found: Vec<NsServer> = Vec::new();
    while let Some(done) = lookups.join_next().await {
        if let Ok((host, Some(answer))) = done {
            for record in &answer.records {
                if let Ok(ip) = record.parse::<std::net::IpAddr>() {
                    found.push((SocketAddr::new(ip, 53), Some(host.clone())));
                }
            }
        }
    }
    // One column per address; two NS names on one address keep the first in name order.
    found.sort();
    found.dedup_by(|a, b| a.0 == b.0);
    if found.is_empty() {
        return Err(NsNotFound::NoAddress {
            domain: plan.domain.clone(),
        });
    }
    Ok(found)
}

async fn first_definite(plan: &Plan, name: &str, rtype: Rtype, now: Timestamp) -> Option<Answer> {
    first_definite_at(&plan.dns.resolvers, plan.dns.timeout, name, rtype, now).await
}

/// Asks all resolvers at once; the first definite answer wins (the rest are dropped).
async fn first_definite_at(
    resolvers: &[SocketAddr],
    timeout: Duration,
    name: &str,
    rtype: Rtype,
    now: Timestamp,
) -> Option<Answer> {
    let mut asks = JoinSet::new();
    for &server in resolvers {
        let name = name.to_string();
        let how = Ask {
            server,
            recursion_desired: true,
            timeout,
        };
        asks.spawn(async move { ask(how, &name, rtype, now).await });
    }
    let mut last = None;
    while let Some(done) = asks.join_next().await {
        if let Ok(answer) = done {
            if answer.status.is_definite() {
                return Some(answer);
            }
            last = Some(answer);
        }
    }
    last
}

async fn run_round(
    plan: &Plan,
    clock: &dyn Clock,
    options: &RoundOptions,
    round: u64,
    authoritative: &[NsServer],
    discovery_error: Option<String>,
) -> DnsSnapshot {
    let measured_at = clock.now();
    let mut servers: Vec<ServerView> = authoritative
        .iter()
        .map(|(address, ns_host)| ServerView {
            address: *address,
            role: Role::Authoritative,
            ns_host: ns_host.clone(),
            answers: vec![],
        })
        .chain(plan.dns.resolvers.iter().map(|&address| ServerView {
            address,
            role: Role::Resolver,
            ns_host: None,
            answers: vec![],
        }))
        .collect();
    let questions = questions(plan);
    let mut asks = JoinSet::new();
    for (index, server) in servers.iter().enumerate() {
        for (qi, (name, rtype)) in questions.iter().enumerate() {
            let how = Ask {
                server: server.address,
                recursion_desired: server.role == Role::Resolver,
                timeout: plan.dns.timeout,
            };
            let name = name.clone();
            let rtype = *rtype;
            asks.spawn(async move { (index, qi, ask(how, &name, rtype, measured_at).await) });
        }
    }
    let mut collected: Vec<(usize, usize, Answer)> = Vec::new();
    while let Some(done) = asks.join_next().await {
        if let Ok(item) = done {
            collected.push(item);
        }
    }
    collected.sort_by_key(|(i, q, _)| (*i, *q));
    for (index, _, answer) in collected {
        servers[index].answers.push(answer);
    }
    let mut snapshot = DnsSnapshot {
        round,
        measured_at,
        servers,
        discovery_error,
        spf_targets: Vec::new(),
        mta_sts: None,
        judged: Findings::default(),
    };
    fetch_spf_targets(plan, &mut snapshot).await;
    snapshot.judged.dmarc_reports = fetch_dmarc_reports(plan, &snapshot).await;
    snapshot.mta_sts = fetch_mta_sts(plan, &snapshot, options).await;
    snapshot.judged.spf = snapshot.judge_spf(plan);
    snapshot.judged.dkim = snapshot.judge_dkim(plan);
    snapshot
}

/// At most this many rounds of SPF questions: each goes one include deeper
/// (or from A to AAAA), and the lookup limit ends any tree within it.
const SPF_ROUNDS: u32 = spf::LOOKUP_LIMIT + 3;
/// At most this many SPF questions in one DNS round, whatever is served.
const SPF_QUESTIONS: usize = 200;

/// Asks the resolvers what the SPF evaluation of the served records, and of
/// the records to publish, needs: the evaluation itself says which questions
/// it could not answer yet, round after round, until it needs nothing more.
/// It stops looking past the 10-lookup limit, which bounds the questions.
/// Only resolvers that answered this round are asked, so a dead one cannot
/// add another timeout to the round.
async fn fetch_spf_targets(plan: &Plan, snapshot: &mut DnsSnapshot) {
    let healthy: Vec<SocketAddr> = snapshot
        .resolvers()
        .filter(|s| s.answers.iter().any(|a| a.status.is_definite()))
        .map(|s| s.address)
        .collect();
    if healthy.is_empty() {
        return;
    }
    let apex = fqdn(&plan.domain);
    let mut served: Vec<String> = snapshot
        .servers
        .iter()
        .filter_map(|s| s.answer(&apex, Rtype::TXT))
        .flat_map(|a| a.records.iter().filter(|r| spf::is_spf(r)).cloned())
        .collect();
    served.sort();
    served.dedup();
    let roots = spf::records_to_judge(&served, &plan.old.spf, &plan.new.spf);
    let mut asked = 0;
    for _round in 0..SPF_ROUNDS {
        let wanted = RefCell::new(BTreeSet::new());
        {
            let lookup = |name: &str, rtype: Rtype| match snapshot.spf_answer(name, rtype) {
                Some(answer) => fetched(answer),
                None => {
                    wanted.borrow_mut().insert((name.to_string(), rtype));
                    spf::Fetched::Unknown
                }
            };
            for root in &roots {
                spf::evaluate(&plan.domain, root, &lookup);
            }
        }
        let wanted: Vec<(String, Rtype)> = wanted
            .into_inner()
            .into_iter()
            .take(SPF_QUESTIONS.saturating_sub(asked))
            .collect();
        if wanted.is_empty() {
            return;
        }
        asked += wanted.len();
        let mut asks = JoinSet::new();
        for (name, rtype) in wanted {
            let resolvers = healthy.clone();
            let timeout = plan.dns.timeout;
            let at = snapshot.measured_at;
            asks.spawn(async move {
                let answer = first_definite_at(&resolvers, timeout, &name, rtype, at).await;
                (name, rtype, answer)
            });
        }
        let mut answers = Vec::new();
        while let Some(done) = asks.join_next().await {
            if let Ok((name, rtype, answer)) = done {
                // Without any answer the question still counts as asked (unknown).
                answers.push(answer.unwrap_or_else(|| Answer {
                    name: fqdn(&name),
                    rtype,
                    status: AnswerStatus::Timeout,
                    ttl: 0,
                    records: vec![],
                    measured_at: snapshot.measured_at,
                    latency_ms: 0,
                    tcp: false,
                    detail: Some("no resolver answered".into()),
                }));
            }
        }
        answers.sort_by(|a, b| (&a.name, a.rtype).cmp(&(&b.name, b.rtype)));
        snapshot.spf_targets.extend(answers);
    }
}

/// At most this many report domains are asked about: a record naming more
/// is unusual, and each costs a question per round.
const DMARC_REPORT_QUESTIONS: usize = 8;

/// Asks the resolvers (the report domains are other zones) for each
/// `<domain>._report._dmarc.<their-domain>` the DMARC record needs (RFC 7489 7.1).
async fn fetch_dmarc_reports(plan: &Plan, snapshot: &DnsSnapshot) -> Vec<Answer> {
    let Some(record) = snapshot.dmarc(&plan.domain) else {
        return vec![];
    };
    let healthy: Vec<SocketAddr> = snapshot
        .resolvers()
        .filter(|s| s.answers.iter().any(|a| a.status.is_definite()))
        .map(|s| s.address)
        .collect();
    if healthy.is_empty() {
        return vec![];
    }
    let mut asks = JoinSet::new();
    for report in dmarc::external_reports(&plan.domain, &record)
        .into_iter()
        .take(DMARC_REPORT_QUESTIONS)
    {
        let resolvers = healthy.clone();
        let timeout = plan.dns.timeout;
        let at = snapshot.measured_at;
        asks.spawn(async move {
            first_definite_at(&resolvers, timeout, &report.query, Rtype::TXT, at).await
        });
    }
    let mut answers = Vec::new();
    while let Some(done) = asks.join_next().await {
        if let Ok(Some(answer)) = done {
            answers.push(answer);
        }
    }
    answers.sort_by(|a, b| a.name.cmp(&b.name));
    answers
}

async fn fetch_mta_sts(
    plan: &Plan,
    snapshot: &DnsSnapshot,
    options: &RoundOptions,
) -> Option<MtaStsView> {
    let name = format!("_mta-sts.{}", fqdn(&plan.domain));
    let txt = snapshot
        .servers
        .iter()
        .filter_map(|s| s.answer(&name, Rtype::TXT))
        .flat_map(|a| a.records.iter())
        .find(|r| mta_sts::is_sts_txt(r))?
        .clone();
    let tls = match &options.mta_sts_tls {
        Some(tls) => Ok(tls.clone()),
        None => crate::tls::tls_config(None).map_err(|e| e.to_string()),
    };
    let fetched = match tls {
        Err(why) => Err(why),
        Ok(tls) => {
            mta_sts::fetch_policy(&plan.domain, tls, options.mta_sts_connect, plan.dns.timeout)
                .await
                .map_err(|e| e.to_string())
        }
    };
    Some(match fetched {
        Ok(policy) => MtaStsView {
            txt,
            policy: Some(policy),
            error: None,
        },
        Err(error) => MtaStsView {
            txt,
            policy: None,
            error: Some(error),
        },
    })
}

/// How often the watcher finds the authoritative servers again (in rounds).
const REDISCOVER_EVERY: u64 = 20;

/// The watcher task: a round now, then one per interval of `clock`'s time (or on `RefreshNow`),
/// each snapshot sent whole. Ends on `Stop`, or when either channel closes.
pub async fn run_watcher(
    plan: Plan,
    clock: Arc<dyn Clock>,
    options: RoundOptions,
    snapshots: mpsc::Sender<DnsSnapshot>,
    mut commands: mpsc::Receiver<DnsCommand>,
) {
    let mut interval = plan.dns.poll;
    let mut round: u64 = 0;
    let mut authoritative: Vec<NsServer> = vec![];
    let mut discovery_error: Option<String> = None;
    loop {
        round += 1;
        // A fast clock (the rehearsal's) stands still while the round is in flight.
        let hold = clock.hold_for_io();
        let rediscover = plan.dns.authoritative.is_empty()
            && (authoritative.is_empty() || round % REDISCOVER_EVERY == 1);
        if rediscover || round == 1 {
            let (found, error) = authoritative_servers(&plan, clock.as_ref()).await;
            // Keep the last good list when a later discovery fails.
            if !found.is_empty() || authoritative.is_empty() {
                authoritative = found;
            }
            discovery_error = error;
        }
        let round_work = run_round(
            &plan,
            clock.as_ref(),
            &options,
            round,
            &authoritative,
            discovery_error.clone(),
        );
        // Commands that arrive during a round are honoured right after it.
        let snapshot = round_work.await;
        drop(hold);
        if snapshots.send(snapshot).await.is_err() {
            return; // the app is gone
        }
        // The poll is counted on the injected clock, so simulated time drives it too.
        let mut sleep = clock.wait(interval);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                command = commands.recv() => match command {
                    None | Some(DnsCommand::Stop) => return,
                    Some(DnsCommand::RefreshNow) => break,
                    Some(DnsCommand::SetInterval(every)) => {
                        interval = every.max(Duration::from_millis(10));
                        sleep = clock.wait(interval);
                    }
                },
            }
        }
    }
}

/// Starts the watcher on the current tokio runtime; returns its command channel.
pub fn spawn_watcher(
    plan: Plan,
    clock: Arc<dyn Clock>,
    options: RoundOptions,
    snapshots: mpsc::Sender<DnsSnapshot>,
) -> (mpsc::Sender<DnsCommand>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(8);
    let handle = tokio::spawn(run_watcher(plan, clock, options, snapshots, rx));
    (tx, handle)
}
