//! DKIM, SPF and DMARC verified on the raw bytes of a message a receiver got, with
//! Stalwart's `mail-auth` asking the plan's resolvers (what the world sees), and the
//! receiver's own `Authentication-Results` read beside cutover's verdict.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::{Resolver, TokioResolver};
use mail_auth::dkim::Signature;
use mail_auth::dmarc::Alignment;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, DkimOutput, DkimResult, DmarcResult, MessageAuthenticator, SpfResult,
};

use super::authentication_results::{self, AuthenticationResults};
use super::model::{
    AuthResult, DkimVerdict, DmarcVerdict, OutboundAuth, ReceiverVerdict, SpfVerdict,
};
use super::received;
use crate::sanitize::sanitize;

/// Who received the message: how its servers name themselves.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// Its inbound hosts as they sign `Received` fields (`by mx.google.com`): names or
    /// `*` patterns. The connecting address is read from the lowest of their block.
    pub hosts: Vec<String>,
    /// How it names itself in `Authentication-Results` (a `*` pattern); `None` for a
    /// receiver that names none (Outlook.com).
    pub authserv_id: Option<String>,
}

/// Why a message could not be judged at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The bytes are not a message (no header section).
    #[error("the received message could not be parsed as a message")]
    NotAMessage,
    /// No resolver to ask, or one that could not be built.
    #[error("cannot ask the plan's resolvers: {0}")]
    Resolver(String),
}

/// A resolver over the plan's resolver set (each with its own port), so keys and
/// policies are read as the world reads them. Answers are cached for one verification
/// only (a new resolver each time): a record just published is seen at once.
pub fn resolver(servers: &[SocketAddr], timeout: Duration) -> Result<TokioResolver, VerifyError> {
    if servers.is_empty() {
        return Err(VerifyError::Resolver(
            "the plan names no resolver ([dns] resolvers)".to_string(),
        ));
    }
    let name_servers = servers
        .iter()
        .map(|addr| {
            let mut udp = ConnectionConfig::udp();
            udp.port = addr.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = addr.port();
            NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
        })
        .collect();
    let config = ResolverConfig::from_parts(None, vec![], name_servers);
    let mut builder = Resolver::builder_with_config(config, TokioRuntimeProvider::default());
    let options = builder.options_mut();
    options.timeout = timeout;
    options.attempts = 2;
    builder
        .build()
        .map_err(|e| VerifyError::Resolver(e.to_string()))
}

/// Verifies every DKIM signature, SPF at the receiver's inbound hop and DMARC, and reads
/// the receiver's own verdict. Only the message's own bytes and DNS are used.
pub async fn verify_received(
    raw: &[u8],
    receiver: &Receiver,
    resolver: TokioResolver,
) -> Result<OutboundAuth, VerifyError> {
    let message = AuthenticatedMessage::parse(raw).ok_or(VerifyError::NotAMessage)?;
    let authenticator = MessageAuthenticator(resolver);
    let fields = Fields::of(&message);
    let from_domain = message
        .froms()
        .first()
        .and_then(|f| f.rsplit_once('@'))
        .map(|(_, d)| sanitize(&d.to_ascii_lowercase()));

    let dkim_outputs = authenticator.verify_dkim(&message).await;

    let hop = received::inbound_hop(fields.received.iter().map(String::as_str), &receiver.hosts);
    let sender = fields.return_path.clone().unwrap_or_default();
    let sender_domain = sender
        .rsplit_once('@')
        .map(|(_, d)| sanitize(&d.to_ascii_lowercase()))
        .filter(|d| !d.is_empty());
    let (spf_output, spf) = match &hop {
        Ok(hop) => {
            let helo = hop.helo.clone().unwrap_or_else(|| hop.ip.to_string());
            let params = if sender.is_empty() {
                SpfParameters::verify_ehlo(hop.ip, &helo, &hop.by)
            } else {
                SpfParameters::verify_mail_from(hop.ip, &helo, &hop.by, &sender)
            };
            let output = authenticator.verify_spf(params).await;
            let result = spf_result(output.result());
            let verdict = SpfVerdict {
                result,
                ip: Some(hop.ip),
                domain: sender_domain.clone().or_else(|| Some(sanitize(&helo))),
                aligned: false, // known once the DMARC record's aspf is read
                reason: (result != AuthResult::Pass).then(|| {
                    format!(
                        "{} is not permitted by the SPF record of {}",
                        hop.ip,
                        sender_domain.as_deref().unwrap_or(&helo)
                    )
                }),
            };
            (Some(output), verdict)
        }
        Err(e) => (
            None,
            SpfVerdict {
                result: AuthResult::None,
                ip: None,
                domain: sender_domain.clone(),
                aligned: false,
                reason: Some(sanitize(&format!("not evaluated: {e}"))),
            },
        ),
    };
    // DMARC with no trusted hop: SPF counts as not evaluated.
    let no_spf = mail_auth::SpfOutput::default();
    let dmarc_output = authenticator
        .verify_dmarc(DmarcParameters::new(
            &message,
            &dkim_outputs,
            sender_domain.as_deref().unwrap_or(""),
            spf_output.as_ref().unwrap_or(&no_spf),
        ))
        .await;

    let record = dmarc_output.dmarc_record();
    let strict_dkim = record.is_some_and(|r| r.adkim == Alignment::Strict);
    let strict_spf = record.is_some_and(|r| r.aspf == Alignment::Strict);
    let from = from_domain.as_deref().unwrap_or("");

    let signatures: Vec<DkimVerdict> = dkim_outputs
        .iter()
        .map(|o| dkim_verdict(o, from, strict_dkim))
        .collect();
    let dkim = decisive(&signatures);

    let mut spf = spf;
    spf.aligned = spf.result == AuthResult::Pass
        && sender_domain
            .as_deref()
            .is_some_and(|d| aligned(d, from, strict_spf));

    let dmarc = DmarcVerdict {
        result: match dmarc_output.result() {
            DmarcResult::Pass => AuthResult::Pass,
            DmarcResult::Fail(_) => AuthResult::Fail,
            DmarcResult::TempError(_) => AuthResult::TempError,
            DmarcResult::PermError(_) => AuthResult::PermError,
            DmarcResult::None => AuthResult::None,
        },
        policy: record.map(|_| dmarc_output.policy().to_string()),
        domain: from_domain.clone(),
    };

    let mut warnings = Vec::new();
    let receiver_verdict = match authentication_results::receiver_verdict(
        fields.authentication_results.iter().map(String::as_str),
        receiver.authserv_id.as_deref(),
    ) {
        Some(Ok(ar)) => Some(receiver_summary(&ar, dkim.domain.as_deref())),
        Some(Err(e)) => {
            warnings.push(format!(
                "the receiver's Authentication-Results could not be read ({e}): its verdict is unknown"
            ));
            None
        }
        None => {
            warnings.push(format!(
                "the message carries no Authentication-Results by {}: the receiver's verdict is unknown",
                receiver
                    .authserv_id
                    .as_deref()
                    .unwrap_or("a receiver naming no authserv-id")
            ));
            None
        }
    };
    warnings.extend(resting_on_one(from, &dkim, &spf));
    if let Some(r) = &receiver_verdict {
        warnings.extend(disagreements(r, &dkim, &spf, &dmarc));
    }

    Ok(OutboundAuth {
        from_domain,
        dkim,
        signatures,
        spf,
        dmarc,
        receiver: receiver_verdict,
        warnings,
    })
}

/// The header fields read here, each in the message's order (topmost first).
struct Fields {
    received: Vec<String>,
    authentication_results: Vec<String>,
    /// The topmost `Return-Path`, without its angle brackets (empty: the null sender).
    return_path: Option<String>,
}

impl Fields {
    fn of(message: &AuthenticatedMessage<'_>) -> Fields {
        let mut fields = Fields {
            received: Vec::new(),
            authentication_results: Vec::new(),
            return_path: None,
        };
        for (name, value) in message.raw_parsed_headers() {
            let value = String::from_utf8_lossy(value).into_owned();
            let name = String::from_utf8_lossy(name);
            let name = name.trim();
            if name.eq_ignore_ascii_case("Received") {
                fields.received.push(value);
            } else if name.eq_ignore_ascii_case("Authentication-Results") {
                fields.authentication_results.push(value);
            } else if name.eq_ignore_ascii_case("Return-Path") && fields.return_path.is_none() {
                let path = value.trim().trim_start_matches('<').trim_end_matches('>');
                fields.return_path = Some(path.trim().to_string());
            }
        }
        fields
    }
}

/// Whether `domain` is aligned with the From domain: strict, the same name; relaxed,
/// the same organisational domain, taken here as one being the other or under it
/// (`mail.example.com` and `example.com`; cutover's From is the migrated domain).
pub fn aligned(domain: &str, from: &str, strict: bool) -> bool {
    let (d, f) = (domain.to_ascii_lowercase(), from.to_ascii_lowercase());
    let (d, f) = (d.trim_end_matches('.'), f.trim_end_matches('.'));
    if d.is_empty() || f.is_empty() {
        return false;
    }
    if strict {
        return d == f;
    }
    d == f || d.ends_with(&format!(".{f}")) || (d.contains('.') && f.ends_with(&format!(".{d}")))
}

fn dkim_verdict(output: &DkimOutput<'_>, from: &str, strict: bool) -> DkimVerdict {
    let signature: Option<&Signature> = output.signature();
    let (result, reason) = match output.result() {
        DkimResult::Pass => (AuthResult::Pass, None),
        DkimResult::Neutral(e) => (AuthResult::Neutral, Some(e)),
        DkimResult::Fail(e) => (AuthResult::Fail, Some(e)),
        DkimResult::PermError(e) => (AuthResult::PermError, Some(e)),
        DkimResult::TempError(e) => (AuthResult::TempError, Some(e)),
        DkimResult::None => (AuthResult::None, None),
    };
    let domain = signature.map(|s| s.d.to_ascii_lowercase());
    let selector = signature.map(|s| s.s.clone());
    let reason = reason.map(|e| match (e, &domain, &selector) {
        (mail_auth::Error::Dns(mail_auth::DnsError::RecordNotFound(_)), Some(d), Some(s)) => {
            format!("no key is published at {s}._domainkey.{d}")
        }
        (e, _, _) => sanitize(&e.to_string()),
    });
    DkimVerdict {
        result,
        aligned: result == AuthResult::Pass
            && domain.as_deref().is_some_and(|d| aligned(d, from, strict)),
        domain: domain.map(|d| sanitize(&d)),
        selector: selector.map(|s| sanitize(&s)),
        reason,
    }
}

/// The signature that decides: the first passing and aligned, else the first passing,
/// else the first; an unsigned message has a `none` verdict.
fn decisive(signatures: &[DkimVerdict]) -> DkimVerdict {
    signatures
        .iter()
        .find(|s| s.result == AuthResult::Pass && s.aligned)
        .or_else(|| signatures.iter().find(|s| s.result == AuthResult::Pass))
        .or_else(|| signatures.first())
        .cloned()
        .unwrap_or(DkimVerdict {
            result: AuthResult::None,
            domain: None,
            selector: None,
            aligned: false,
            reason: Some("the message carries no DKIM signature".to_string()),
        })
}

fn spf_result(result: SpfResult) -> AuthResult {
    match result {
        SpfResult::Pass => AuthResult::Pass,
        SpfResult::Fail => AuthResult::Fail,
        SpfResult::SoftFail => AuthResult::SoftFail,
        SpfResult::Neutral => AuthResult::Neutral,
        SpfResult::TempError => AuthResult::TempError,
        SpfResult::PermError => AuthResult::PermError,
        SpfResult::None => AuthResult::None,
    }
}

/// The receiver's results as written; for DKIM the signature of the same `d=` as
/// cutover's decisive one when there are several.
fn receiver_summary(ar: &AuthenticationResults, dkim_domain: Option<&str>) -> ReceiverVerdict {
    let first = |method: &str| ar.method(method).next().map(|r| sanitize(&r.result));
    let dkim = ar
        .method("dkim")
        .find(|r| {
            dkim_domain.is_some_and(|d| {
                r.property("header", "d")
                    .or_else(|| r.property("header", "i").map(|i| i.trim_start_matches('@')))
                    .is_some_and(|v| v.eq_ignore_ascii_case(d))
            })
        })
        .map(|r| sanitize(&r.result))
        .or_else(|| first("dkim"));
    ReceiverVerdict {
        authserv_id: ar.authserv_id.as_deref().map(sanitize),
        dkim,
        spf: first("spf"),
        dmarc: first("dmarc"),
    }
}

/// DMARC resting on one mechanism: a passing signature by another domain, or a
/// return-path at the provider's domain.
fn resting_on_one(from: &str, dkim: &DkimVerdict, spf: &SpfVerdict) -> Vec<String> {
    let mut warnings = Vec::new();
    if dkim.result == AuthResult::Pass && !dkim.aligned {
        warnings.push(format!(
            "signed by d={}, not {from}: DMARC rests on SPF alone, which fails at every forwarder and mailing list; have the provider sign as {from} and publish its key",
            dkim.domain.as_deref().unwrap_or("?")
        ));
    }
    if spf.result == AuthResult::Pass && !spf.aligned {
        warnings.push(format!(
            "the return-path is at {}, the provider's own domain, not {from}: SPF cannot align, so DMARC rests on DKIM alone",
            spf.domain.as_deref().unwrap_or("?")
        ));
    }
    warnings
}

/// Where the receiver's stated result differs from cutover's.
fn disagreements(
    receiver: &ReceiverVerdict,
    dkim: &DkimVerdict,
    spf: &SpfVerdict,
    dmarc: &DmarcVerdict,
) -> Vec<String> {
    let who = receiver
        .authserv_id
        .clone()
        .unwrap_or_else(|| "the receiver".to_string());
    [
        ("dkim", &receiver.dkim, dkim.result),
        ("spf", &receiver.spf, spf.result),
        ("dmarc", &receiver.dmarc, dmarc.result),
    ]
    .into_iter()
    .filter_map(|(method, theirs, ours)| {
        let theirs = theirs.as_deref()?;
        let same = AuthResult::from_receiver(theirs).is_some_and(|t| t == ours);
        (!same).then(|| {
            format!(
                "{who} says {method}={theirs}, cutover found {method}={}: the receiver sees the message differently (another key or record served to it, or a change on the way)",
                ours.as_str()
            )
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_is_strict_or_relaxed_as_the_record_says() {
        assert!(aligned("example.com", "example.com", true));
        assert!(!aligned("mail.example.com", "example.com", true));
        assert!(aligned("mail.example.com", "example.com", false));
        assert!(aligned("example.com", "news.example.com", false));
        assert!(aligned("Example.COM.", "example.com", true));
        assert!(!aligned(
            "example-com.20230601.gappssmtp.com",
            "example.com",
            false
        ));
        assert!(!aligned("notexample.com", "example.com", false));
        assert!(!aligned("", "example.com", false));
    }

    fn verdict(result: AuthResult, domain: &str, aligned: bool) -> DkimVerdict {
        DkimVerdict {
            result,
            domain: Some(domain.to_string()),
            selector: Some("s1".to_string()),
            aligned,
            reason: None,
        }
    }

    #[test]
    fn the_decisive_signature_is_the_aligned_pass_then_any_pass_then_the_first() {
        let third = verdict(AuthResult::Pass, "provider.test", false);
        let own_fail = verdict(AuthResult::Fail, "example.com", false);
        let own_pass = verdict(AuthResult::Pass, "example.com", true);
        assert_eq!(decisive(&[third.clone(), own_pass.clone()]), own_pass);
        assert_eq!(decisive(&[own_fail.clone(), third.clone()]), third);
        assert_eq!(decisive(std::slice::from_ref(&own_fail)), own_fail);
        assert_eq!(decisive(&[]).result, AuthResult::None);
    }

    #[test]
    fn a_receiver_disagreeing_is_named_and_agreement_is_silent() {
        let receiver = ReceiverVerdict {
            authserv_id: Some("mx.google.com".to_string()),
            dkim: Some("fail".to_string()),
            spf: Some("pass".to_string()),
            dmarc: None,
        };
        let dkim = verdict(AuthResult::Pass, "example.com", true);
        let spf = SpfVerdict {
            result: AuthResult::Pass,
            ip: None,
            domain: Some("example.com".to_string()),
            aligned: true,
            reason: None,
        };
        let dmarc = DmarcVerdict {
            result: AuthResult::Pass,
            policy: Some("reject".to_string()),
            domain: Some("example.com".to_string()),
        };
        let found = disagreements(&receiver, &dkim, &spf, &dmarc);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("mx.google.com says dkim=fail, cutover found dkim=pass"));
    }
}
