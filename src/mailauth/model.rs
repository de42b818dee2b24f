//! What cutover found on a received message: DKIM, SPF and DMARC as it verified them,
//! and the receiver's own verdict beside them. `status --json` carries it as is.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// A method's result, in RFC 8601's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthResult {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    None,
    TempError,
    PermError,
}

impl AuthResult {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthResult::Pass => "pass",
            AuthResult::Fail => "fail",
            AuthResult::SoftFail => "softfail",
            AuthResult::Neutral => "neutral",
            AuthResult::None => "none",
            AuthResult::TempError => "temperror",
            AuthResult::PermError => "permerror",
        }
    }

    /// The result a receiver wrote (`pass`, `hardfail`, `policy`…), when it is one of ours.
    pub fn from_receiver(text: &str) -> Option<AuthResult> {
        Some(match text.to_ascii_lowercase().as_str() {
            "pass" => AuthResult::Pass,
            "fail" | "hardfail" => AuthResult::Fail,
            "softfail" => AuthResult::SoftFail,
            "neutral" => AuthResult::Neutral,
            "none" => AuthResult::None,
            "temperror" => AuthResult::TempError,
            "permerror" => AuthResult::PermError,
            _ => return None,
        })
    }
}

/// One DKIM signature verified against the key the plan's resolvers serve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DkimVerdict {
    pub result: AuthResult,
    /// The signing domain, `d=`.
    pub domain: Option<String>,
    /// `s=`: the key was looked up at `<selector>._domainkey.<domain>`.
    pub selector: Option<String>,
    /// `d=` aligned with the From domain (relaxed or strict, as the DMARC record says).
    pub aligned: bool,
    /// Why it did not pass, in the verifier's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// SPF evaluated for the envelope sender at the address that handed the message over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SpfVerdict {
    pub result: AuthResult,
    /// The connecting address, from the receiver's inbound `Received` field.
    #[schemars(with = "Option<String>")]
    pub ip: Option<IpAddr>,
    /// The envelope sender's domain (`Return-Path`), whose SPF record was evaluated.
    pub domain: Option<String>,
    /// That domain aligned with the From domain.
    pub aligned: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// DMARC: the From domain's policy evaluated with alignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DmarcVerdict {
    pub result: AuthResult,
    /// `none`, `quarantine`, `reject`; `None` when no record was found.
    pub policy: Option<String>,
    /// The From domain.
    pub domain: Option<String>,
}

/// What the receiver itself wrote in its `Authentication-Results`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReceiverVerdict {
    /// `None` for a receiver that names none (Outlook.com).
    pub authserv_id: Option<String>,
    /// Each as written (`pass`, `fail`, …); `None` when the receiver did not say.
    pub dkim: Option<String>,
    pub spf: Option<String>,
    pub dmarc: Option<String>,
}

/// cutover's verdict on one received message, with the receiver's beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OutboundAuth {
    /// The From domain.
    pub from_domain: Option<String>,
    /// The signature that decides (the first passing and aligned, else the first passing,
    /// else the first); `result: none` with no domain when the message was not signed.
    pub dkim: DkimVerdict,
    /// Every signature, in the message's order.
    pub signatures: Vec<DkimVerdict>,
    pub spf: SpfVerdict,
    pub dmarc: DmarcVerdict,
    /// `None` when the message carries no field by the receiver.
    pub receiver: Option<ReceiverVerdict>,
    /// What an operator should know beyond the results: DMARC resting on one mechanism,
    /// the receiver disagreeing with cutover, the receiver's field unreadable.
    pub warnings: Vec<String>,
}

impl OutboundAuth {
    /// One line for a report: each mechanism's result, the receiver's beside, the warnings.
    /// Server text is inside; the caller escapes it for its format.
    pub fn one_line(&self) -> String {
        let or_q = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".to_string());
        let aligned = |a: bool| if a { "aligned" } else { "not aligned" };
        let mut line = format!(
            "DKIM {} (d={}, s={}, {}); SPF {} for {} at {} ({}); DMARC {} (policy {})",
            self.dkim.result.as_str(),
            or_q(&self.dkim.domain),
            or_q(&self.dkim.selector),
            aligned(self.dkim.aligned),
            self.spf.result.as_str(),
            self.spf
                .ip
                .map(|ip| ip.to_string())
                .unwrap_or_else(|| "?".to_string()),
            or_q(&self.spf.domain),
            aligned(self.spf.aligned),
            self.dmarc.result.as_str(),
            self.dmarc.policy.as_deref().unwrap_or("none published"),
        );
        if let Some(r) = &self.receiver {
            let said = |v: &Option<String>| v.clone().unwrap_or_else(|| "(not said)".to_string());
            line.push_str(&format!(
                "; {} wrote dkim={} spf={} dmarc={}",
                r.authserv_id.as_deref().unwrap_or("the receiver"),
                said(&r.dkim),
                said(&r.spf),
                said(&r.dmarc)
            ));
        }
        for w in &self.warnings {
            line.push_str(&format!("; warning: {w}"));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON shape `status --json` will carry for an outbound canary (issue 21):
    /// `dkim{result, domain, selector, aligned}`, `spf{result, ip, domain, aligned}`,
    /// `dmarc{result, policy}`, `receiver{authserv_id, dkim, spf, dmarc}`.
    #[test]
    fn the_verdict_serialises_to_the_documented_keys_and_has_a_schema() {
        let dkim = DkimVerdict {
            result: AuthResult::Pass,
            domain: Some("example.com".into()),
            selector: Some("s1".into()),
            aligned: true,
            reason: None,
        };
        let auth = OutboundAuth {
            from_domain: Some("example.com".into()),
            signatures: vec![dkim.clone()],
            dkim,
            spf: SpfVerdict {
                result: AuthResult::SoftFail,
                ip: Some("2001:db8::25".parse().expect("ip")),
                domain: Some("example.com".into()),
                aligned: false,
                reason: Some("2001:db8::25 is not permitted".into()),
            },
            dmarc: DmarcVerdict {
                result: AuthResult::Fail,
                policy: Some("quarantine".into()),
                domain: Some("example.com".into()),
            },
            receiver: Some(ReceiverVerdict {
                authserv_id: None,
                dkim: Some("pass".into()),
                spf: Some("softfail".into()),
                dmarc: None,
            }),
            warnings: vec![],
        };
        let json = serde_json::to_value(&auth).expect("serialise");
        assert_eq!(
            json["dkim"],
            serde_json::json!({"result": "pass", "domain": "example.com", "selector": "s1", "aligned": true})
        );
        assert_eq!(
            json["spf"],
            serde_json::json!({"result": "softfail", "ip": "2001:db8::25", "domain": "example.com", "aligned": false, "reason": "2001:db8::25 is not permitted"})
        );
        assert_eq!(json["dmarc"]["result"], "fail");
        assert_eq!(json["dmarc"]["policy"], "quarantine");
        assert_eq!(
            json["receiver"],
            serde_json::json!({"authserv_id": null, "dkim": "pass", "spf": "softfail", "dmarc": null})
        );
        let back: OutboundAuth = serde_json::from_value(json).expect("read back");
        assert_eq!(back, auth);

        // As `status --json`'s schema is made: a key always written is required.
        let schema = schemars::generate::SchemaSettings::draft2020_12()
            .for_serialize()
            .into_generator()
            .into_root_schema_for::<OutboundAuth>();
        let schema = serde_json::to_value(&schema).expect("schema");
        let required = schema["required"].as_array().expect("required keys");
        for key in ["dkim", "spf", "dmarc", "receiver", "signatures", "warnings"] {
            assert!(required.iter().any(|k| k == key), "{key} in {required:?}");
        }
    }
}
