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
                            self.who(s),
                            v.errors.join("; ")
                        )),
                        None => match verdicts.first() {
                            None => {
                                bad.push(format!("{} serves no DKIM record at {name}", self.who(s)))
                            }
                            Some(v) if v.result == dkim::DkimResult::Warn => {
                                warned.push(format!(
                                    "the DKIM key at {name} on {} ({}): {}",
                                    self.who(s),
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
                        self.who(s)
                    ));
                }
                other => {
                    if let Judged::Unmeasured(why) = unmeasured(&self.who(s), other) {
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

    /// The DMARC policy not tightened during the migration, and its report
    /// addresses in other domains authorised by them (RFC 7489 7.1). Both are
    /// warnings at most: DMARC reports are a help, never a condition of the
    /// switch. Without a DMARC record, the monitoring record is advised.
    pub(super) fn dmarc_not_tightened(&self) -> Verdict {
        let (status, evidence, until) = self.dmarc_policy_kept();
        match self.dmarc_reports_authorised() {
            None => (status, evidence, until),
            Some((reports, sentence)) => {
                let status = if reports == Status::Warn {
                    Status::Warn
                } else {
                    status
                };
                (status, format!("{evidence} {sentence}"), until)
            }
        }
    }

    fn dmarc_policy_kept(&self) -> Verdict {
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
    /// consent; missing or unknown consent warns. `None`: nothing to authorise.
    fn dmarc_reports_authorised(&self) -> Option<(Status, String)> {
        let record = self.snapshot.dmarc(&self.plan.domain)?;
        let reports = dmarc::external_reports(&self.plan.domain, &record);
        if reports.is_empty() {
            return None;
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
        Some(if missing.is_empty() {
            (Status::Pass, given.join(" "))
        } else {
            (Status::Warn, missing.join(" "))
        })
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

#[cfg(test)]
mod tests {
    use super::super::tests_support::plan;
    use super::*;
    use crate::dns::dkim::tests::{ED25519, RSA_512, RSA_1024, RSA_2048};
    use crate::dns::watch::{Findings, Role};

    fn answer(name: &str, status: AnswerStatus, records: &[&str]) -> Answer {
        Answer {
            name: fqdn(name),
            rtype: Rtype::TXT,
            status,
            ttl: 300,
            records: records.iter().map(|r| r.to_string()).collect(),
            measured_at: Timestamp::UNIX_EPOCH,
            latency_ms: 1,
            tcp: false,
            detail: None,
        }
    }

    /// One authoritative server serving `answers`; `reports`: the round's
    /// answers at the DMARC report authorisation names.
    fn snapshot(answers: Vec<Answer>, reports: Vec<Answer>) -> DnsSnapshot {
        DnsSnapshot {
            round: 1,
            measured_at: Timestamp::UNIX_EPOCH,
            servers: vec![ServerView {
                address: "127.0.0.1:5300".parse().unwrap(),
                role: Role::Authoritative,
                ns_host: None,
                answers,
            }],
            discovery_error: None,
            spf_targets: vec![],
            mta_sts: None,
            judged: Findings {
                dmarc_reports: reports,
                ..Findings::default()
            },
        }
    }

    fn run(step: &StepId, id: &str, snapshot: &DnsSnapshot) -> Check {
        let plan = plan(None);
        step_checks(
            step,
            &plan,
            Some(snapshot),
            &DnsFacts::default(),
            None,
            Timestamp::UNIX_EPOCH,
        )
        .into_iter()
        .find(|c| c.id == id)
        .unwrap()
    }

    fn dkim_check(record: &str) -> Check {
        let s = snapshot(
            vec![answer(
                "sel1._domainkey.example.com",
                AnswerStatus::Ok,
                &[record],
            )],
            vec![],
        );
        run(&StepId::DkimSpfFinal, "dkim-valid", &s)
    }

    #[test]
    fn dkim_valid_judges_the_key_itself() {
        let whole = dkim_check(&format!("v=DKIM1; k=rsa; p={RSA_2048}"));
        assert_eq!(whole.status, Status::Pass, "{whole:?}");
        assert!(whole.evidence.contains("rsa, 2048 bits"), "{whole:?}");

        let ed = dkim_check(&format!("v=DKIM1; k=ed25519; p={ED25519}"));
        assert_eq!(ed.status, Status::Pass, "{ed:?}");

        let cut = dkim_check(&format!("v=DKIM1; k=rsa; p={}", &RSA_2048[..200]));
        assert_eq!(cut.status, Status::Fail, "{cut:?}");
        assert!(
            cut.evidence.contains("the key is cut off")
                && cut.evidence.contains("it was cut at 200 characters"),
            "{cut:?}"
        );

        let revoked = dkim_check("v=DKIM1; k=rsa; p=");
        assert_eq!(revoked.status, Status::Fail, "{revoked:?}");
        assert!(
            revoked.evidence.contains("the key is revoked"),
            "{revoked:?}"
        );

        let short = dkim_check(&format!("v=DKIM1; k=rsa; p={RSA_512}"));
        assert_eq!(short.status, Status::Fail, "{short:?}");
        assert!(short.evidence.contains("512 bits"), "{short:?}");

        let weak = dkim_check(&format!("v=DKIM1; k=rsa; p={RSA_1024}"));
        assert_eq!(weak.status, Status::Warn, "{weak:?}");
        assert!(weak.evidence.contains("1024 bits"), "{weak:?}");

        let testing = dkim_check(&format!("v=DKIM1; k=rsa; t=y; p={RSA_2048}"));
        assert_eq!(testing.status, Status::Warn, "{testing:?}");
        assert!(testing.evidence.contains("t=y"), "{testing:?}");
    }

    #[test]
    fn dkim_valid_fails_without_a_record_and_is_unknown_without_an_answer() {
        let none = snapshot(
            vec![answer(
                "sel1._domainkey.example.com",
                AnswerStatus::Nxdomain,
                &[],
            )],
            vec![],
        );
        assert_eq!(
            run(&StepId::DkimSpfFinal, "dkim-valid", &none).status,
            Status::Fail
        );
        let timeout = snapshot(
            vec![answer(
                "sel1._domainkey.example.com",
                AnswerStatus::Timeout,
                &[],
            )],
            vec![],
        );
        assert_eq!(
            run(&StepId::DkimSpfFinal, "dkim-valid", &timeout).status,
            Status::Unknown
        );
    }

    const REPORTS_QUERY: &str = "example.com._report._dmarc.reports.example";

    fn dmarc_check(record: Option<&str>, reports: Vec<Answer>) -> Check {
        let answers = match record {
            Some(r) => vec![answer("_dmarc.example.com", AnswerStatus::Ok, &[r])],
            None => vec![answer("_dmarc.example.com", AnswerStatus::Nxdomain, &[])],
        };
        run(
            &StepId::Monitor24h,
            "dmarc-not-tightened",
            &snapshot(answers, reports),
        )
    }

    #[test]
    fn report_addresses_in_another_domain_need_its_consent_but_never_gate() {
        let record = "v=DMARC1; p=none; rua=mailto:agg@reports.example";
        let missing = dmarc_check(
            Some(record),
            vec![answer(REPORTS_QUERY, AnswerStatus::Nxdomain, &[])],
        );
        assert_eq!(missing.status, Status::Warn, "{missing:?}");
        assert!(missing.evidence.contains(REPORTS_QUERY), "{missing:?}");
        assert!(
            missing.status.holds(),
            "a warning never blocks a confirmation"
        );

        let given = dmarc_check(
            Some(record),
            vec![answer(REPORTS_QUERY, AnswerStatus::Ok, &["v=DMARC1"])],
        );
        assert_eq!(given.status, Status::Pass, "{given:?}");
        assert!(
            given.evidence.contains("accepts DMARC reports"),
            "{given:?}"
        );

        // Not asked or not answered: unknown, said so, still not a gate.
        let unknown = dmarc_check(Some(record), vec![]);
        assert_eq!(unknown.status, Status::Warn, "{unknown:?}");
        assert!(unknown.evidence.contains("Not known"), "{unknown:?}");

        let own = dmarc_check(Some("v=DMARC1; p=none; rua=mailto:d@example.com"), vec![]);
        assert_eq!(own.status, Status::Pass, "{own:?}");
        assert!(!own.evidence.contains("_report._dmarc"), "{own:?}");
    }

    #[test]
    fn without_a_dmarc_record_the_monitoring_record_is_advised_not_required() {
        let none = dmarc_check(None, vec![]);
        assert_eq!(none.status, Status::Pass, "{none:?}");
        assert!(none.evidence.contains(dmarc::MONITORING_RECORD), "{none:?}");
        assert!(
            none.evidence.contains("publish a monitoring one"),
            "{none:?}"
        );
    }
}
