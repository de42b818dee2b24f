//! DKIM (R9), DMARC and MTA-STS checks.

use super::*;

impl Ctx<'_> {
    pub(super) fn dkim_valid(&self) -> Verdict {
        let Some(selector) = &self.plan.new.dkim_selector else {
            return (
                Status::Fail,
                "The plan names no new.dkim_selector, so the new server's DKIM record cannot be checked.".into(),
                None,
            );
        };
        let name = format!("{selector}._domainkey.{}", self.apex);
        every(
            &self.auth,
            "authoritative",
            |s| match self.answer(s, &name, Rtype::TXT) {
                Some(a) if a.status == AnswerStatus::Ok => {
                    let parsed: Vec<Result<dkim::DkimKey, dkim::DkimError>> =
                        a.records.iter().map(|r| dkim::parse_dkim(r)).collect();
                    if parsed.iter().any(|p| matches!(p, Ok(k) if !k.is_revoked())) {
                        Judged::Good
                    } else if parsed.iter().any(|p| matches!(p, Ok(k) if k.is_revoked())) {
                        Judged::Bad(format!(
                            "{} serves a revoked DKIM key (empty p=) at {name}",
                            s.address
                        ))
                    } else {
                        let why = parsed
                            .iter()
                            .find_map(|p| p.as_ref().err().map(|e| e.to_string()))
                            .unwrap_or_default();
                        Judged::Bad(format!(
                            "the DKIM record at {name} on {} does not parse: {why}",
                            s.address
                        ))
                    }
                }
                Some(a) if matches!(a.status, AnswerStatus::Nodata | AnswerStatus::Nxdomain) => {
                    Judged::Bad(format!(
                        "{} serves no DKIM record at {name}: mail signed by the new server will fail DKIM",
                        s.address
                    ))
                }
                other => unmeasured(s.address, other),
            },
            format!("Every authoritative server serves a valid DKIM key at {name}."),
        )
    }

    pub(super) fn dmarc_not_tightened(&self) -> Verdict {
        let rank = |p: &str| match p {
            "reject" => 2,
            "quarantine" => 1,
            _ => 0,
        };
        let now = crate::dns::facts::dmarc_policy(self.plan, self.snapshot);
        match (&self.facts.dmarc_first, now) {
            (_, None) => (
                Status::Pass,
                format!("{} publishes no DMARC policy.", self.plan.domain),
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
