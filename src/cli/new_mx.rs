//! `status`'s view of the SMTP probe: does the new MX accept every address? From the
//! probe just made (`--probe-smtp`) or else the journal's last one, with its age; never
//! a green answer without one.

use super::status_report::{ProbedHost, SmtpHost, UnaskedHost};
use crate::plan::Plan;
use crate::sanitize::sanitize;
use crate::smtp::model::AddressAnswer;
use crate::smtp::steps::{journaled, targets};
use crate::smtp::{HostReport, SmtpProbe};
use jiff::Timestamp;

/// What status shows: the probe and when it was made, or why there is none.
pub(super) struct Shown {
    pub probe: Option<(Timestamp, SmtpProbe)>,
    /// Why the new MX was not asked, or not just now.
    pub note: String,
}

impl Shown {
    /// The fresh probe when there is one, else the journal's.
    pub fn pick(
        history: &crate::journal::History,
        fresh: Option<SmtpProbe>,
        failed: Option<String>,
        now: Timestamp,
    ) -> Shown {
        if let Some(probe) = fresh {
            return Shown {
                probe: Some((now, probe)),
                note: String::new(),
            };
        }
        let how = "ask it with `cutover status --probe-smtp`";
        match (journaled(history), failed) {
            (probe, Some(why)) => Shown {
                probe,
                note: sanitize(&why),
            },
            (Some((at, probe)), None) => Shown {
                note: format!(
                    "the journal's last probe, {} old; {how}",
                    crate::units::duration(now.duration_since(at))
                ),
                probe: Some((at, probe)),
            },
            (None, None) => Shown {
                probe: None,
                note: format!("not asked yet whether the new MX accepts every address: {how}"),
            },
        }
    }

    fn report(&self, host: &str) -> Option<&HostReport> {
        self.probe.as_ref().and_then(|(_, p)| p.host(host))
    }

    /// Why a host's answer is not known.
    fn unknown(&self) -> String {
        if self.probe.is_some() {
            "not asked: the plan lists it since the last probe; ask with `cutover status --probe-smtp`".to_string()
        } else {
            self.note.clone()
        }
    }

    /// `mailboxes[].new_mx`: one entry per new MX host and address (the aliases included).
    pub fn mailbox_answers(&self, plan: &Plan, address: &str) -> Vec<AddressAnswer> {
        let Some(mailbox) = plan
            .mailboxes
            .iter()
            .find(|m| m.address.eq_ignore_ascii_case(address))
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for target in targets(plan) {
            for asked in std::iter::once(&mailbox.address).chain(&mailbox.aliases) {
                let answer = self.report(&target.host).and_then(|_| {
                    self.probe.as_ref().and_then(|(_, p)| {
                        p.answers_for(asked)
                            .find(|a| crate::smtp::model::same_host(&a.host, &target.host))
                    })
                });
                let (accepts, reply) = match answer {
                    Some(a) => (a.accepts, a.reply.clone()),
                    None => (None, self.unknown()),
                };
                out.push(AddressAnswer {
                    host: target.host.clone(),
                    address: asked.clone(),
                    accepts,
                    reply,
                });
            }
        }
        out
    }

    /// The top-level `smtp[]`: per new MX host, what the probe saw with its age, or
    /// nulls and `error` saying why it was not asked.
    pub fn hosts(&self, plan: &Plan, now: Timestamp) -> Vec<SmtpHost> {
        targets(plan)
            .into_iter()
            .map(|target| match self.report(&target.host) {
                Some(report) => SmtpHost::Probed(ProbedHost {
                    report: report.clone(),
                    age: crate::units::duration(now.duration_since(report.at)),
                }),
                None => {
                    SmtpHost::NotAsked(UnaskedHost::new(&target.host, target.port, self.unknown()))
                }
            })
            .collect()
    }

    /// The text section: each host in a line, then each address accepted or refused
    /// with the server's reply (at most 20 lines of addresses).
    pub fn text(&self, plan: &Plan) -> String {
        const SHOWN: usize = 20;
        let mut s = String::from("\nNew MX (SMTP: does it accept every address?)\n");
        if !self.note.is_empty() {
            s.push_str(&format!("  {}\n", self.note));
        }
        let Some((_, probe)) = &self.probe else {
            return s;
        };
        let targets = targets(plan);
        for target in &targets {
            match probe.host(&target.host) {
                Some(h) => s.push_str(&format!("  {}\n", host_line(h))),
                None => s.push_str(&format!("  {}: {}\n", target.host, self.unknown())),
            }
        }
        let mut lines = Vec::new();
        for address in plan.addresses() {
            for target in &targets {
                let answer = probe
                    .answers_for(&address)
                    .find(|a| crate::smtp::model::same_host(&a.host, &target.host));
                let (word, reply) = match answer {
                    Some(a) => (
                        match a.accepts {
                            Some(true) => "accepted",
                            Some(false) => "REFUSED",
                            None => "unknown",
                        },
                        a.reply.clone(),
                    ),
                    None => ("unknown", "not asked yet".to_string()),
                };
                let host = if targets.len() > 1 {
                    format!(" at {}", target.host)
                } else {
                    String::new()
                };
                lines.push(format!(
                    "  {:<32} {:<8} {}{host}\n",
                    sanitize(&address),
                    word,
                    sanitize(&reply)
                ));
            }
        }
        // Refusals first: they are what must be fixed before the switch.
        lines.sort_by_key(|l| !l.contains(" REFUSED "));
        let total = lines.len();
        for line in lines.into_iter().take(SHOWN) {
            s.push_str(&line);
        }
        if total > SHOWN {
            s.push_str(&format!(
                "  … and {} more (`status --json` lists every one)\n",
                total - SHOWN
            ));
        }
        s
    }
}

/// `mx.new.example:25 — reachable, STARTTLS, certificate verified (29 d left), …`.
fn host_line(h: &HostReport) -> String {
    let mut parts = Vec::new();
    if !h.reachable {
        parts.push(format!(
            "unreachable: {}",
            h.error.as_deref().unwrap_or("no connection")
        ));
        return format!("{}:{} — {}", h.host, h.port, sanitize(&parts.join(", ")));
    }
    parts.push("reachable".to_string());
    if let Some(banner) = &h.banner {
        parts.push(format!("banner \"{banner}\""));
    }
    parts.push(match (h.starttls, h.cert_valid) {
        (false, _) => "no STARTTLS".to_string(),
        (true, Some(true)) => match h.cert_days_left {
            Some(days) => format!("STARTTLS, certificate verified ({days} d left)"),
            None => "STARTTLS, certificate verified".to_string(),
        },
        (true, _) => format!(
            "STARTTLS, certificate NOT verified: {}",
            h.tls_error.as_deref().unwrap_or("no handshake")
        ),
    });
    parts.push(
        match h.accepts_anything {
            Some(false) => "rejects a made-up address",
            Some(true) => "ACCEPTS ANY ADDRESS (its answers prove nothing)",
            None => "no definite answer for a made-up address",
        }
        .to_string(),
    );
    if let Some(error) = &h.error {
        parts.push(format!("stopped: {error}"));
    }
    format!("{}:{} — {}", h.host, h.port, sanitize(&parts.join(", ")))
}
