//! What the SMTP probe saw, per new MX host and per address: plain data that is
//! journaled, put in `status --json` and judged by [`crate::smtp::checks`].

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One new MX host as the probe found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HostReport {
    /// The MX host name (certificates are verified for it).
    pub host: String,
    pub port: u16,
    /// When the probe of this host started.
    #[schemars(with = "String")] // an RFC 3339 time (jiff 1 has no JsonSchema)
    pub at: Timestamp,
    /// A TCP connection opened.
    pub reachable: bool,
    /// The server's greeting, sanitised (`None` when none was read).
    #[serde(default)]
    pub banner: Option<String>,
    /// The server offered STARTTLS in its EHLO answer.
    pub starttls: bool,
    /// `Some(true)`: TLS was set up and the certificate verified for `host`;
    /// `Some(false)`: the handshake or the verification failed (see `tls_error`);
    /// `None`: no TLS was tried (not offered, or refused).
    pub cert_valid: Option<bool>,
    /// Whole days until the end-entity certificate expires (after a verified handshake).
    pub cert_days_left: Option<i64>,
    /// Why TLS could not be used, sanitised (the addresses were then asked without TLS).
    pub tls_error: Option<String>,
    /// The made-up address asked to find out whether the server accepts anything.
    pub probe_address: String,
    /// The server's answer to it, sanitised (`None` if it was never asked).
    pub probe_reply: Option<String>,
    /// `Some(true)`: the made-up address was accepted, so acceptance proves nothing;
    /// `Some(false)`: it was rejected (5xx); `None`: no definite answer.
    pub accepts_anything: Option<bool>,
    /// Why the session ended before every address was asked, sanitised.
    pub error: Option<String>,
}

/// The answer of one host about one address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AddressAnswer {
    pub host: String,
    pub address: String,
    /// `Some(true)` for a 2xx to `RCPT TO`, `Some(false)` for a 5xx, `None` for
    /// anything else (4xx, a timeout, a dropped connection, a refusal before `RCPT`).
    pub accepts: Option<bool>,
    /// The server's reply, or why the address was not asked; sanitised, one line.
    pub reply: String,
}

/// The probe of one or more hosts: a report per host and an answer per host and address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpProbe {
    pub hosts: Vec<HostReport>,
    pub answers: Vec<AddressAnswer>,
}

impl SmtpProbe {
    /// The report of one host (names compared without case or a trailing dot).
    pub fn host(&self, host: &str) -> Option<&HostReport> {
        self.hosts.iter().find(|h| same_host(&h.host, host))
    }

    /// Every host's answer about one address (compared without case).
    pub fn answers_for<'a>(&'a self, address: &'a str) -> impl Iterator<Item = &'a AddressAnswer> {
        self.answers
            .iter()
            .filter(move |a| a.address.eq_ignore_ascii_case(address))
    }

    /// Takes in a newer probe: its hosts' reports and answers replace the ones held
    /// for those hosts (a host is probed again on its own).
    pub fn merge(&mut self, newer: SmtpProbe) {
        for report in &newer.hosts {
            self.hosts.retain(|h| !same_host(&h.host, &report.host));
            self.answers.retain(|a| !same_host(&a.host, &report.host));
        }
        self.hosts.extend(newer.hosts);
        self.answers.extend(newer.answers);
    }
}

/// Host names compared as DNS does: without case, with or without the trailing dot.
pub(crate) fn same_host(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(host: &str) -> HostReport {
        HostReport {
            host: host.to_string(),
            port: 25,
            at: Timestamp::UNIX_EPOCH,
            reachable: true,
            banner: Some("220 mx.new.test ESMTP".to_string()),
            starttls: false,
            cert_valid: None,
            cert_days_left: None,
            tls_error: None,
            probe_address: "cutover-probe-00@example.com".to_string(),
            probe_reply: None,
            accepts_anything: Some(false),
            error: None,
        }
    }

    fn answer(host: &str, address: &str, accepts: Option<bool>) -> AddressAnswer {
        AddressAnswer {
            host: host.to_string(),
            address: address.to_string(),
            accepts,
            reply: "250 2.1.5 Ok".to_string(),
        }
    }

    #[test]
    fn a_newer_probe_of_one_host_replaces_only_that_host() {
        let mut probe = SmtpProbe {
            hosts: vec![report("mx1.new.test."), report("mx2.new.test.")],
            answers: vec![
                answer("mx1.new.test.", "a@example.com", Some(false)),
                answer("mx2.new.test.", "a@example.com", Some(true)),
            ],
        };
        probe.merge(SmtpProbe {
            hosts: vec![report("MX1.new.test")],
            answers: vec![answer("MX1.new.test", "a@example.com", Some(true))],
        });
        assert_eq!(probe.hosts.len(), 2);
        let answers: Vec<_> = probe.answers_for("A@example.com").collect();
        assert_eq!(answers.len(), 2);
        assert!(answers.iter().all(|a| a.accepts == Some(true)));
        assert!(probe.host("mx2.new.test").is_some());
    }

    #[test]
    fn it_round_trips_through_json_with_null_for_unknown() {
        let probe = SmtpProbe {
            hosts: vec![report("mx.new.test")],
            answers: vec![answer("mx.new.test", "a@example.com", None)],
        };
        let json = serde_json::to_value(&probe).expect("serialise");
        assert_eq!(json["answers"][0]["accepts"], serde_json::Value::Null);
        assert_eq!(json["hosts"][0]["accepts_anything"], false);
        let back: SmtpProbe = serde_json::from_value(json).expect("deserialise");
        assert_eq!(back, probe);
    }
}
