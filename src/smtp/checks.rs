//! The check `smtp.new-mx-accepts`: does every new MX host accept every address?
//! Pure: judged from a probe (fresh or journaled) and the addresses the plan lists.

use crate::check::{Check, Kind, Status};
use crate::smtp::model::{AddressAnswer, HostReport, SmtpProbe, same_host};

/// The check's id, as the runbook names it.
pub const NEW_MX_ACCEPTS: &str = "smtp.new-mx-accepts";

/// How many items an evidence sentence names before "and N more".
const NAMED: usize = 5;

/// `pass` when every host accepts every address and rejects a made-up one; `fail`
/// naming each rejected address with its host and reply; `unknown` when a host could
/// not be asked, accepts anything, or gave no definite answer for some address.
pub fn new_mx_accepts(probe: &SmtpProbe, addresses: &[String]) -> Check {
    let verdict =
        |status, evidence: String| Check::new(NEW_MX_ACCEPTS, Kind::Gate, status, evidence);
    if probe.hosts.is_empty() {
        return verdict(
            Status::Unknown,
            "no new MX host has been asked about the addresses yet".to_string(),
        );
    }
    if addresses.is_empty() {
        return verdict(
            Status::Unknown,
            "the plan lists no address to ask about".to_string(),
        );
    }

    let mut rejected = Vec::new();
    let mut unsure = Vec::new();
    for host in &probe.hosts {
        unsure.extend(host_doubt(host));
        let mut undecided = Vec::new();
        let mut not_asked = Vec::new();
        for address in addresses {
            match answer_of(probe, host, address) {
                Some(a) if a.accepts == Some(false) => {
                    rejected.push(format!("{} at {} ({})", a.address, host.host, a.reply));
                }
                Some(a) if a.accepts == Some(true) => {}
                Some(a) => undecided.push(format!("{} ({})", a.address, a.reply)),
                None => not_asked.push(address.clone()),
            }
        }
        // A host never asked about any address has one line saying why, not one per address.
        let asked = host.reachable && host.probe_reply.is_some();
        if asked && !undecided.is_empty() {
            unsure.push(format!(
                "{} gave no definite answer for {}",
                host.host,
                named(&undecided)
            ));
        }
        if !not_asked.is_empty() {
            unsure.push(format!(
                "{} has not been asked about {} yet",
                host.host,
                named(&not_asked)
            ));
        }
    }

    if !rejected.is_empty() {
        let mut evidence = format!(
            "the new MX rejects {} (senders would get bounces after the switch): {}",
            crate::units::count(rejected.len() as u64, "address", "addresses"),
            named(&rejected)
        );
        if !unsure.is_empty() {
            evidence.push_str(&format!("; also: {}", unsure.join("; ")));
        }
        evidence.push_str(
            ". Create each at the new provider (a mailbox, an alias or a shared mailbox), then ask again: `cutover status --probe-smtp`",
        );
        return verdict(Status::Fail, evidence);
    }
    if !unsure.is_empty() {
        return verdict(Status::Unknown, unsure.join("; "));
    }
    let hosts: Vec<&str> = probe.hosts.iter().map(|h| h.host.as_str()).collect();
    verdict(
        Status::Pass,
        format!(
            "{} accepted by {} ({}), which {} a made-up address",
            match addresses.len() {
                1 => "the address is".to_string(),
                n => format!("all {n} addresses are"),
            },
            if hosts.len() == 1 {
                "the new MX".to_string()
            } else {
                format!("every new MX host ({})", hosts.len())
            },
            hosts.join(", "),
            if hosts.len() == 1 {
                "rejects"
            } else {
                "each reject"
            },
        ),
    )
}

/// Why a host's answers cannot be trusted or were not had, if so.
fn host_doubt(host: &HostReport) -> Option<String> {
    if !host.reachable {
        return Some(format!(
            "{}:{} could not be reached ({}); port {} may be blocked from this jump host: test from another host, then confirm with --override",
            host.host,
            host.port,
            host.error.as_deref().unwrap_or("no connection"),
            host.port
        ));
    }
    match host.accepts_anything {
        Some(true) => Some(format!(
            "{} accepts any address ({} was accepted: {}), so its answers prove nothing",
            host.host,
            host.probe_address,
            host.probe_reply.as_deref().unwrap_or("accepted")
        )),
        Some(false) => None,
        None => Some(match (&host.probe_reply, &host.error) {
            (Some(reply), _) => format!(
                "{} gave no definite answer for a made-up address ({reply}), so whether it accepts anything is not known",
                host.host
            ),
            (None, Some(error)) => format!("{} could not be asked: {error}", host.host),
            (None, None) => format!("{} could not be asked", host.host),
        }),
    }
}

fn answer_of<'a>(
    probe: &'a SmtpProbe,
    host: &HostReport,
    address: &str,
) -> Option<&'a AddressAnswer> {
    probe
        .answers
        .iter()
        .find(|a| same_host(&a.host, &host.host) && a.address.eq_ignore_ascii_case(address))
}

/// The first few items, then how many more.
fn named(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > NAMED {
        text.push_str(&format!(" and {} more", items.len() - NAMED));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, accepts_anything: Option<bool>) -> HostReport {
        HostReport {
            host: name.to_string(),
            port: 25,
            at: jiff::Timestamp::UNIX_EPOCH,
            reachable: true,
            banner: Some("220 mx.new.test ESMTP".to_string()),
            starttls: true,
            cert_valid: Some(true),
            cert_days_left: Some(60),
            tls_error: None,
            probe_address: "cutover-probe-0123456789abcdef@example.com".to_string(),
            probe_reply: Some(match accepts_anything {
                Some(true) => "250 2.1.5 Ok".to_string(),
                Some(false) => "550 5.1.1 User unknown".to_string(),
                None => "450 4.7.1 greylisted".to_string(),
            }),
            accepts_anything,
            error: None,
        }
    }

    fn answer(host: &str, address: &str, accepts: Option<bool>, reply: &str) -> AddressAnswer {
        AddressAnswer {
            host: host.to_string(),
            address: address.to_string(),
            accepts,
            reply: reply.to_string(),
        }
    }

    fn addresses() -> Vec<String> {
        vec![
            "alice@example.com".to_string(),
            "sales@example.com".to_string(),
        ]
    }

    #[test]
    fn every_address_accepted_everywhere_passes() {
        let probe = SmtpProbe {
            hosts: vec![
                host("mx1.new.test", Some(false)),
                host("mx2.new.test", Some(false)),
            ],
            answers: ["mx1.new.test", "mx2.new.test"]
                .iter()
                .flat_map(|h| {
                    addresses()
                        .into_iter()
                        .map(move |a| answer(h, &a, Some(true), "250 2.1.5 Ok"))
                })
                .collect(),
        };
        let check = new_mx_accepts(&probe, &addresses());
        assert_eq!(check.id, "smtp.new-mx-accepts");
        assert_eq!(check.kind, Kind::Gate);
        assert_eq!(check.status, Status::Pass, "{}", check.evidence);
        assert!(
            check.evidence.contains("mx1.new.test, mx2.new.test"),
            "{}",
            check.evidence
        );
    }

    #[test]
    fn a_rejected_address_fails_naming_it_the_host_and_the_reply() {
        let probe = SmtpProbe {
            hosts: vec![host("mx.new.test", Some(false))],
            answers: vec![
                answer(
                    "mx.new.test",
                    "alice@example.com",
                    Some(true),
                    "250 2.1.5 Ok",
                ),
                answer(
                    "mx.new.test",
                    "sales@example.com",
                    Some(false),
                    "550 5.1.1 <sales@example.com>: User unknown",
                ),
            ],
        };
        let check = new_mx_accepts(&probe, &addresses());
        assert_eq!(check.status, Status::Fail);
        assert!(
            check.evidence.contains(
                "sales@example.com at mx.new.test (550 5.1.1 <sales@example.com>: User unknown)"
            ),
            "{}",
            check.evidence
        );
        assert!(!check.evidence.contains("alice"), "{}", check.evidence);
    }

    #[test]
    fn a_host_accepting_anything_proves_nothing() {
        let probe = SmtpProbe {
            hosts: vec![host("mx.new.test", Some(true))],
            answers: addresses()
                .iter()
                .map(|a| answer("mx.new.test", a, Some(true), "250 Ok"))
                .collect(),
        };
        let check = new_mx_accepts(&probe, &addresses());
        assert_eq!(check.status, Status::Unknown);
        assert!(
            check.evidence.contains("accepts any address"),
            "{}",
            check.evidence
        );
        assert!(
            check.evidence.contains("prove nothing"),
            "{}",
            check.evidence
        );
    }

    #[test]
    fn an_unreachable_host_suggests_another_vantage_point_and_override() {
        let mut down = host("mx.new.test", None);
        down.reachable = false;
        down.probe_reply = None;
        down.error = Some("cannot connect to mx.new.test:25: Connection refused".to_string());
        let probe = SmtpProbe {
            hosts: vec![down],
            answers: addresses()
                .iter()
                .map(|a| answer("mx.new.test", a, None, "not asked: cannot connect"))
                .collect(),
        };
        let check = new_mx_accepts(&probe, &addresses());
        assert_eq!(check.status, Status::Unknown);
        for needle in [
            "could not be reached",
            "Connection refused",
            "port 25 may be blocked",
            "--override",
        ] {
            assert!(
                check.evidence.contains(needle),
                "{needle}: {}",
                check.evidence
            );
        }
        assert!(
            !check.evidence.contains("no definite answer"),
            "{}",
            check.evidence
        );
    }

    #[test]
    fn greylisting_and_unasked_addresses_are_named_as_unknown() {
        let probe = SmtpProbe {
            hosts: vec![host("mx.new.test", Some(false))],
            answers: vec![answer(
                "mx.new.test",
                "alice@example.com",
                None,
                "450 4.2.0 greylisted, try again",
            )],
        };
        let check = new_mx_accepts(&probe, &addresses());
        assert_eq!(check.status, Status::Unknown);
        assert!(
            check.evidence.contains(
                "no definite answer for alice@example.com (450 4.2.0 greylisted, try again)"
            ),
            "{}",
            check.evidence
        );
        assert!(
            check
                .evidence
                .contains("not been asked about sales@example.com"),
            "{}",
            check.evidence
        );
    }

    #[test]
    fn a_rejection_outweighs_doubts_and_still_mentions_them() {
        let probe = SmtpProbe {
            hosts: vec![
                host("mx1.new.test", Some(false)),
                host("mx2.new.test", None),
            ],
            answers: vec![
                answer("mx1.new.test", "alice@example.com", Some(false), "550 no"),
                answer("mx1.new.test", "sales@example.com", Some(true), "250 ok"),
                answer("mx2.new.test", "alice@example.com", None, "451 later"),
                answer("mx2.new.test", "sales@example.com", None, "451 later"),
            ],
        };
        let check = new_mx_accepts(&probe, &addresses());
        assert_eq!(check.status, Status::Fail);
        assert!(
            check
                .evidence
                .contains("alice@example.com at mx1.new.test (550 no)")
        );
        assert!(
            check.evidence.contains("also: mx2.new.test"),
            "{}",
            check.evidence
        );
    }

    #[test]
    fn nothing_probed_is_unknown_and_long_lists_are_cut() {
        assert_eq!(
            new_mx_accepts(&SmtpProbe::default(), &addresses()).status,
            Status::Unknown
        );
        let many: Vec<String> = (0..12).map(|i| format!("u{i}@example.com")).collect();
        let probe = SmtpProbe {
            hosts: vec![host("mx.new.test", Some(false))],
            answers: many
                .iter()
                .map(|a| answer("mx.new.test", a, Some(false), "550 no"))
                .collect(),
        };
        let check = new_mx_accepts(&probe, &many);
        assert_eq!(check.status, Status::Fail);
        assert!(
            check.evidence.contains("12 addresses"),
            "{}",
            check.evidence
        );
        assert!(check.evidence.contains("and 7 more"), "{}", check.evidence);
    }
}
