//! `canary.outbound-auth`: did mail the new server sent pass DKIM (aligned), SPF and
//! DMARC at a real receiver, and which DKIM selector does the provider sign with.
//! Pure: a function of what [`super::verify`] found and the plan's domain and selector.

use crate::check::{Check, Kind, Status};

use super::model::{AuthResult, DkimVerdict, OutboundAuth};

/// The check's id (an outcome of `dkim-spf-final`, only with `[canary]`).
pub const OUTBOUND_AUTH: &str = "canary.outbound-auth";

/// What to publish and what to put in the plan when the provider signs with a
/// selector the plan does not name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectorAdvice {
    /// The selector the message was signed with.
    pub selector: String,
    /// The line for `[new]` in the plan (`cutover check` offers it).
    pub plan_line: String,
    /// The record to paste at the DNS host, when the key is not served yet.
    pub record: Option<String>,
}

/// The selector the provider signs `domain`'s mail with, when the plan has none or
/// another: the `dkim_selector = "…"` line, and the record when the key is not served.
pub fn selector_advice(
    auth: &OutboundAuth,
    domain: &str,
    plan_selector: Option<&str>,
) -> Option<SelectorAdvice> {
    let own = auth
        .signatures
        .iter()
        .find(|s| {
            s.domain
                .as_deref()
                .is_some_and(|d| d.eq_ignore_ascii_case(domain))
        })
        .or(Some(&auth.dkim).filter(|s| s.aligned))?;
    let selector = own.selector.clone()?;
    if plan_selector.is_some_and(|p| p.eq_ignore_ascii_case(&selector)) {
        return None;
    }
    let key_missing = own.result != AuthResult::Pass;
    Some(SelectorAdvice {
        plan_line: format!("dkim_selector = \"{selector}\""),
        record: key_missing.then(|| key_record(&selector, domain)),
        selector,
    })
}

/// The DKIM record to publish for `selector`; the key itself is the provider's.
fn key_record(selector: &str, domain: &str) -> String {
    format!(
        "{selector}._domainkey.{domain}. TXT \"v=DKIM1; k=<its key type, rsa or ed25519>; p=<the public key your provider shows for selector {selector}>\""
    )
}

/// `canary.outbound-auth` for the newest outbound canary received at `external`
/// (`None`: none received yet, so nothing was measured).
pub fn outbound_auth_check(
    auth: Option<&OutboundAuth>,
    domain: &str,
    plan_selector: Option<&str>,
) -> Check {
    let Some(auth) = auth else {
        return Check::new(
            OUTBOUND_AUTH,
            Kind::Outcome,
            Status::Unknown,
            "no outbound canary received at the external mailbox yet: DKIM, SPF and DMARC are unmeasured",
        );
    };
    let mut failures = Vec::new();
    let mut unknown = Vec::new();
    let mut advice = Vec::new();

    if auth.dkim.result == AuthResult::TempError {
        // A DNS answer missing is no verdict on the key.
        unknown.push(format!(
            "DKIM could not be verified (temperror: {})",
            auth.dkim
                .reason
                .as_deref()
                .unwrap_or("a DNS answer was missing")
        ));
    } else {
        dkim_findings(auth, domain, plan_selector, &mut failures, &mut advice);
    }

    let spf = &auth.spf;
    match (spf.result, spf.ip) {
        (AuthResult::Pass, _) => {}
        (AuthResult::None, Some(ip)) => {
            let d = spf.domain.as_deref().unwrap_or(domain);
            let family = if ip.is_ipv4() { "ip4" } else { "ip6" };
            failures.push(format!(
                "no SPF record at {d}: publish `{d}. TXT \"v=spf1 {family}:{ip} -all\"` (or your provider's `include:`)"
            ))
        }
        (AuthResult::TempError, _) => unknown.push(format!(
            "SPF could not be evaluated (temperror: a DNS answer was missing) for {}",
            spf.domain.as_deref().unwrap_or("the envelope sender")
        )),
        (_, None) => unknown.push(format!(
            "SPF not evaluated: {}",
            spf.reason.as_deref().unwrap_or("no connecting address")
        )),
        (result, Some(ip)) => {
            let family = if ip.is_ipv4() { "ip4" } else { "ip6" };
            failures.push(format!(
                "SPF {} for {ip} (the new server's address as the receiver saw it) at {}: add `{family}:{ip}` or your provider's `include:` to the SPF record of {}",
                result.as_str(),
                spf.domain.as_deref().unwrap_or("?"),
                spf.domain.as_deref().unwrap_or(domain),
            ))
        }
    }

    let dmarc = &auth.dmarc;
    match dmarc.result {
        AuthResult::Pass => {}
        AuthResult::None => advice.push(format!(
            "no DMARC record for {domain}: publish `_dmarc.{domain}. TXT \"v=DMARC1; p=none; rua=mailto:postmaster@{domain}\"`"
        )),
        AuthResult::TempError => unknown.push("DMARC could not be evaluated (temperror)".into()),
        result => failures.push(format!(
            "DMARC {} (policy {}): neither an aligned DKIM signature nor an aligned SPF pass",
            result.as_str(),
            dmarc.policy.as_deref().unwrap_or("none")
        )),
    }

    let mut evidence = Vec::new();
    let status = if !failures.is_empty() {
        evidence.extend(failures);
        Status::Fail
    } else if !unknown.is_empty() {
        evidence.extend(unknown);
        Status::Unknown
    } else if !advice.is_empty() || !auth.warnings.is_empty() {
        Status::Warn
    } else {
        Status::Pass
    };
    if status == Status::Pass || status == Status::Warn {
        evidence.push(summary(auth));
    }
    evidence.extend(advice);
    evidence.extend(auth.warnings.iter().cloned());
    if let Some(r) = &auth.receiver {
        evidence.push(format!(
            "{} wrote dkim={} spf={} dmarc={}",
            r.authserv_id.as_deref().unwrap_or("the receiver"),
            r.dkim.as_deref().unwrap_or("(not said)"),
            r.spf.as_deref().unwrap_or("(not said)"),
            r.dmarc.as_deref().unwrap_or("(not said)"),
        ));
    }
    Check::new(OUTBOUND_AUTH, Kind::Outcome, status, evidence.join("; "))
}

fn dkim_findings(
    auth: &OutboundAuth,
    domain: &str,
    plan_selector: Option<&str>,
    failures: &mut Vec<String>,
    advice: &mut Vec<String>,
) {
    let dkim: &DkimVerdict = &auth.dkim;
    let selector = dkim.selector.as_deref().unwrap_or("?");
    let d = dkim.domain.as_deref().unwrap_or("?");
    match (dkim.result, dkim.aligned) {
        (AuthResult::Pass, true) => {}
        (AuthResult::Pass, false) => failures.push(format!(
            "DKIM passes but is signed by d={d}, not {domain}: turn on DKIM signing for {domain} at the provider and publish the key it shows"
        )),
        (AuthResult::None, _) if dkim.domain.is_none() => failures.push(format!(
            "the message carries no DKIM signature: turn on DKIM signing for {domain} at the provider and publish the key it shows"
        )),
        (result, _) => {
            let why = dkim.reason.as_deref().unwrap_or("no reason given");
            let fix = if why.starts_with("no key is published") {
                format!(
                    "publish the key of selector {selector}: `{}`",
                    key_record(selector, d)
                )
            } else {
                format!(
                    "the key at {selector}._domainkey.{d} does not match the signature (cut off, or another key): paste the provider's whole key again as one TXT record"
                )
            };
            failures.push(format!(
                "DKIM {} for selector {selector} (d={d}): {why}; {fix}",
                result.as_str()
            ));
        }
    }
    if let Some(advice_for) = selector_advice(auth, domain, plan_selector) {
        advice.push(match plan_selector {
            None => format!(
                "the provider signs with selector {}: put `{}` in [new] of the plan",
                advice_for.selector, advice_for.plan_line
            ),
            Some(planned) => format!(
                "the provider signs with selector {}, not {planned} as the plan says: put `{}` in [new] of the plan",
                advice_for.selector, advice_for.plan_line
            ),
        });
    }
}

fn summary(auth: &OutboundAuth) -> String {
    format!(
        "DKIM pass (d={}, s={}, aligned), SPF pass for {} at {}, {}",
        auth.dkim.domain.as_deref().unwrap_or("?"),
        auth.dkim.selector.as_deref().unwrap_or("?"),
        auth.spf
            .ip
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "?".into()),
        auth.spf.domain.as_deref().unwrap_or("?"),
        match (auth.dmarc.result, auth.dmarc.policy.as_deref()) {
            (AuthResult::None, None) => "no DMARC record".to_string(),
            (result, policy) => format!(
                "DMARC {} (policy {})",
                result.as_str(),
                policy.unwrap_or("none")
            ),
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailauth::model::{DmarcVerdict, ReceiverVerdict, SpfVerdict};

    fn passing() -> OutboundAuth {
        let dkim = DkimVerdict {
            result: AuthResult::Pass,
            domain: Some("example.com".into()),
            selector: Some("s1".into()),
            aligned: true,
            reason: None,
        };
        OutboundAuth {
            from_domain: Some("example.com".into()),
            signatures: vec![dkim.clone()],
            dkim,
            spf: SpfVerdict {
                result: AuthResult::Pass,
                ip: Some("192.0.2.3".parse().expect("ip")),
                domain: Some("example.com".into()),
                aligned: true,
                reason: None,
            },
            dmarc: DmarcVerdict {
                result: AuthResult::Pass,
                policy: Some("reject".into()),
                domain: Some("example.com".into()),
            },
            receiver: Some(ReceiverVerdict {
                authserv_id: Some("mx.google.com".into()),
                dkim: Some("pass".into()),
                spf: Some("pass".into()),
                dmarc: Some("pass".into()),
            }),
            warnings: vec![],
        }
    }

    #[test]
    fn nothing_received_is_unknown_never_green() {
        let check = outbound_auth_check(None, "example.com", Some("s1"));
        assert_eq!(check.status, Status::Unknown);
        assert_eq!(check.id, OUTBOUND_AUTH);
        assert_eq!(check.kind, Kind::Outcome);
    }

    #[test]
    fn all_three_passing_at_the_planned_selector_passes_with_the_evidence() {
        let check = outbound_auth_check(Some(&passing()), "example.com", Some("s1"));
        assert_eq!(check.status, Status::Pass, "{}", check.evidence);
        assert_eq!(
            check.evidence,
            "DKIM pass (d=example.com, s=s1, aligned), SPF pass for 192.0.2.3 at example.com, DMARC pass (policy reject); mx.google.com wrote dkim=pass spf=pass dmarc=pass"
        );
    }

    #[test]
    fn another_selector_than_the_plans_is_a_warning_with_the_plan_line() {
        let check = outbound_auth_check(Some(&passing()), "example.com", Some("selector1"));
        assert_eq!(check.status, Status::Warn);
        assert!(
            check.evidence.contains(
                "the provider signs with selector s1, not selector1 as the plan says: put `dkim_selector = \"s1\"` in [new]"
            ),
            "{}",
            check.evidence
        );
        let none = outbound_auth_check(Some(&passing()), "example.com", None);
        assert_eq!(none.status, Status::Warn);
        let advice = selector_advice(&passing(), "example.com", None).expect("advice");
        assert_eq!(advice.plan_line, "dkim_selector = \"s1\"");
        assert_eq!(advice.record, None, "the key is served: nothing to paste");
    }

    #[test]
    fn a_missing_key_fails_naming_the_selector_and_the_record_to_publish() {
        let mut auth = passing();
        auth.dkim.result = AuthResult::PermError;
        auth.dkim.aligned = false;
        auth.dkim.reason = Some("no key is published at s1._domainkey.example.com".into());
        auth.signatures = vec![auth.dkim.clone()];
        auth.dmarc.result = AuthResult::Pass; // aligned SPF still carries DMARC
        let check = outbound_auth_check(Some(&auth), "example.com", Some("selector1"));
        assert_eq!(check.status, Status::Fail);
        assert!(check.evidence.starts_with("DKIM permerror for selector s1 (d=example.com): no key is published at s1._domainkey.example.com; publish the key of selector s1: `s1._domainkey.example.com. TXT \"v=DKIM1; k=<its key type, rsa or ed25519>; p=<the public key your provider shows for selector s1>\"`"), "{}", check.evidence);
        let advice = selector_advice(&auth, "example.com", Some("selector1")).expect("advice");
        assert!(
            advice
                .record
                .is_some_and(|r| r.starts_with("s1._domainkey.example.com. TXT"))
        );
    }

    #[test]
    fn a_third_party_signature_spf_failure_and_dmarc_failure_each_name_their_fix() {
        let mut auth = passing();
        auth.dkim.domain = Some("example-com.gappssmtp.com".into());
        auth.dkim.aligned = false;
        auth.signatures = vec![auth.dkim.clone()];
        auth.spf.result = AuthResult::Fail;
        auth.spf.aligned = false;
        auth.dmarc.result = AuthResult::Fail;
        let check = outbound_auth_check(Some(&auth), "example.com", None);
        assert_eq!(check.status, Status::Fail);
        for needle in [
            "DKIM passes but is signed by d=example-com.gappssmtp.com, not example.com",
            "SPF fail for 192.0.2.3 (the new server's address as the receiver saw it) at example.com: add `ip4:192.0.2.3`",
            "DMARC fail (policy reject)",
        ] {
            assert!(
                check.evidence.contains(needle),
                "{needle} in {}",
                check.evidence
            );
        }
        // No signature of the domain's own: no selector to offer.
        assert_eq!(selector_advice(&auth, "example.com", None), None);
    }

    #[test]
    fn spf_not_evaluated_is_unknown_and_warnings_lower_a_pass() {
        let mut auth = passing();
        auth.spf.result = AuthResult::None;
        auth.spf.ip = None;
        auth.spf.reason =
            Some("not evaluated: no Received field was added by the receiver's hosts".into());
        let check = outbound_auth_check(Some(&auth), "example.com", Some("s1"));
        assert_eq!(check.status, Status::Unknown, "{}", check.evidence);

        let mut auth = passing();
        auth.warnings
            .push("mx.google.com says dkim=fail, cutover found dkim=pass".into());
        let check = outbound_auth_check(Some(&auth), "example.com", Some("s1"));
        assert_eq!(check.status, Status::Warn);
        assert!(check.evidence.contains("says dkim=fail"));
    }

    #[test]
    fn no_spf_record_says_which_record_to_publish_and_a_dns_failure_is_no_verdict() {
        let mut auth = passing();
        auth.spf.result = AuthResult::None;
        auth.spf.aligned = false;
        let check = outbound_auth_check(Some(&auth), "example.com", Some("s1"));
        assert_eq!(check.status, Status::Fail);
        assert!(
            check.evidence.starts_with(
                "no SPF record at example.com: publish `example.com. TXT \"v=spf1 ip4:192.0.2.3 -all\"`"
            ),
            "{}",
            check.evidence
        );

        let mut auth = passing();
        auth.dkim.result = AuthResult::TempError;
        auth.dkim.aligned = false;
        auth.dkim.reason = Some("DNS resolution error: timed out".into());
        let check = outbound_auth_check(Some(&auth), "example.com", Some("s1"));
        assert_eq!(check.status, Status::Unknown, "{}", check.evidence);
        assert!(check.evidence.starts_with(
            "DKIM could not be verified (temperror: DNS resolution error: timed out)"
        ));
    }
}
