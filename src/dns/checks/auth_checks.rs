//! DKIM (R9), DMARC and MTA-STS checks.

use super::*;
use crate::dns::dmarc;

impl Ctx<'_> {
    /// Every authoritative server serves a DKIM key verifiers can use
    /// (RFC 6376 3.6.1, RFC 8301, RFC 8463): a cut-off, revoked or short key
    /// fails; a key under 2048 bits or `t=y` warns.
    pub(super) fn dkim_valid(&self) -> Verdict {
        let Some(selector) = &self.plan.new.dkim_selector else {
            return (
                Status::Fail,
                "The plan names no new.dkim_selector, so the new server's DKIM record cannot be checked.".into(),
                None,
            );
        };
        let name = format!("{selector}._domainkey.{}", self.apex);
        if self.auth.is_empty() {
            return (
                Status::Unknown,
                "No authoritative server is known, so nothing was measured.".into(),
                None,
            );
        }
        let (mut bad, mut warned, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
        let mut good: Option<dkim::DkimVerdict> = None;
        for s in &self.auth {
            match self.answer(s, &name, Rtype::TXT) {
                Some(a) if a.status == AnswerStatus::Ok => {
                    // Verifiers read one record; several are a mistake at the
                    // DNS host, so the first is judged and the rest must agree.
                    let verdicts: Vec<dkim::DkimVerdict> =
                        a.records.iter().map(|r| dkim::judge(r)).collect();
                    match verdicts.iter().find(|v| v.result == dkim::DkimResult::Fail) {
                        Some(v) => bad.push(format!(
                            "the DKIM record at {name} on {} fails: {}",
                            s.address,
                            v.errors.join("; ")
                        )),
                        None => match verdicts.first() {
                            None => {
                                bad.push(format!("{} serves no DKIM record at {name}", s.address))
                            }
                            Some(v) if v.result == dkim::DkimResult::Warn => {
                                warned.push(format!(
                                    "the DKIM key at {name} on {} ({}): {}",
                                    s.address,
                                    key_summary(v),
                                    v.warnings.join("; ")
                                ));
                            }
                            Some(v) => good = Some(v.clone()),
                        },
                    }
                }
                Some(a) if matches!(a.status, AnswerStatus::Nodata | AnswerStatus::Nxdomain) => {
                    bad.push(format!(
                        "{} serves no DKIM record at {name}: mail signed by the new server will fail DKIM",
                        s.address
                    ));
                }
                other => {
                    if let Judged::Unmeasured(why) = unmeasured(s.address, other) {
                        unknown.push(why);
                    }
                }
            }
        }
        if !bad.is_empty() {
            (Status::Fail, sentence(&bad), None)
        } else if !unknown.is_empty() {
            (Status::Unknown, sentence(&unknown), None)
        } else if !warned.is_empty() {
            (Status::Warn, sentence(&warned), None)
        } else {
            let what = good.as_ref().map(key_summary).unwrap_or_default();
            (
                Status::Pass,
                format!("Every authoritative server serves a valid DKIM key at {name} ({what})."),
                None,
            )
        }
    }

    pub(super) fn dmarc_not_tightened(&self) -> Verdict {
        let rank = |p: &str| match p {
            "reject" => 2,
            "quarantine" => 1,
            _ => 0,
        };
        let now = crate::dns::facts::dmarc_policy(self.plan, self.snapshot);
        match (&self.facts.dmarc_first, now) {
            // Advice, never a gate: a monitoring record changes nothing for delivery.
            (_, None) => (
                Status::Pass,
                dmarc::monitoring_advice(&self.plan.domain),
                None,
            ),
            (Some(first), Some(now)) if rank(&now) > rank(first) => (
                Status::Warn,
                format!(
                    "The DMARC policy was tightened from p={first} to p={now} during the migration: mail the new server does not sign yet may be {}.",
                    if now == "reject" {
                        "rejected"
                    } else {
                        "quarantined"
                    }
                ),
                None,
            ),
            (_, Some(now)) => (
                Status::Pass,
                format!("The DMARC policy is p={now}, not tightened during the migration."),
                None,
            ),
        }
    }

    /// RFC 7489 7.1: report addresses in another domain need that domain's
    /// consent. A help, never a gate: missing or unknown consent warns.
    pub(super) fn dmarc_reports_authorised(&self) -> Verdict {
        let Some(record) = self.snapshot.dmarc(&self.plan.domain) else {
            return (
                Status::Pass,
                dmarc::monitoring_advice(&self.plan.domain),
                None,
            );
        };
        let reports = dmarc::external_reports(&self.plan.domain, &record);
        if reports.is_empty() {
            return (
                Status::Pass,
                format!(
                    "{}'s DMARC reports go to its own domain: nothing to authorise.",
                    self.plan.domain
                ),
                None,
            );
        }
        let (mut given, mut missing) = (Vec::new(), Vec::new());
        for report in &reports {
            let answer = self.snapshot.dmarc_report_answer(&report.query);
            let (authorisation, sentence) =
                dmarc::judge_authorisation(&self.plan.domain, report, answer);
            match authorisation {
                dmarc::Authorisation::Given => given.push(sentence),
                dmarc::Authorisation::Missing | dmarc::Authorisation::Unknown => {
                    missing.push(sentence)
                }
            }
        }
        if missing.is_empty() {
            (Status::Pass, given.join(" "), None)
        } else {
            (Status::Warn, missing.join(" "), None)
        }
    }

    pub(super) fn mta_sts_covers_new(&self) -> Verdict {
        let Some(view) = &self.snapshot.mta_sts else {
            return (
                Status::Pass,
                format!("{} publishes no MTA-STS policy.", self.plan.domain),
                None,
            );
        };
        let Some(text) = &view.policy else {
            return (
                Status::Warn,
                format!(
                    "_mta-sts.{} announces an MTA-STS policy, but it could not be fetched: {}.",
                    self.plan.domain,
                    sanitize(view.error.as_deref().unwrap_or("unknown error"))
                ),
                None,
            );
        };
        let policy = match mta_sts::parse_policy(text) {
            Ok(p) => p,
            Err(e) => {
                return (
                    Status::Warn,
                    format!("The MTA-STS policy does not parse: {e}."),
                    None,
                );
            }
        };
        let hosts: Vec<String> = self.plan.new.mx.iter().map(|m| m.host.clone()).collect();
        let missing = mta_sts::uncovered(&policy, &hosts);
        if missing.is_empty() {
            return (
                Status::Pass,
                format!(
                    "The MTA-STS policy ({}) covers the new MX hosts.",
                    policy.mode.as_str()
                ),
                None,
            );
        }
        let names: Vec<String> = missing.iter().map(|h| mx::normalise_host(h)).collect();
        let lines = mta_sts::policy_to_publish(&policy, &missing);
        let status = if policy.mode == mta_sts::Mode::Enforce {
            Status::Fail
        } else {
            Status::Warn
        };
        (
            status,
            format!(
                "The MTA-STS policy in {} mode does not list {}: senders that honour it would refuse the new server; first publish at https://mta-sts.{}/.well-known/mta-sts.txt \"{}\" and change the id in _mta-sts.{}.",
                policy.mode.as_str(),
                names.join(", "),
                self.plan.domain,
                sanitize(&lines.join("\\n")),
                self.plan.domain
            ),
            None,
        )
    }
}

/// "rsa, 2048 bits" for the evidence.
fn key_summary(verdict: &dkim::DkimVerdict) -> String {
    match (verdict.key_type, verdict.key_bits) {
        (Some(t), Some(bits)) => format!("{}, {bits} bits", t.as_str()),
        (Some(t), None) => t.as_str().to_string(),
        _ => "key not read".to_string(),
    }
}
