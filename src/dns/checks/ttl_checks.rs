//! TTL checks: lowered (R1), left alone elsewhere, honoured by the DNS host (R3),
//! the old TTL waited out (R4), resolvers' caches, restored (R11).

use super::*;

impl Ctx<'_> {
    pub(super) fn ttl_lowered(&self, rtype: Rtype) -> Verdict {
        let limit = self.plan.dns.migration_ttl;
        let (mut status, mut evidence, until) = every(
            &self.auth,
            "authoritative",
            |s| match self.answer(s, &self.apex, rtype) {
                Some(a) if a.status == AnswerStatus::Ok && a.ttl <= limit => Judged::Good,
                Some(a) if a.status == AnswerStatus::Ok => Judged::Bad(format!(
                    "{} still serves {rtype} with TTL {} (the migration TTL is {})",
                    self.who(s),
                    human_seconds(a.ttl),
                    human_seconds(limit)
                )),
                Some(a)
                    if rtype == Rtype::TXT
                        && matches!(a.status, AnswerStatus::Nodata | AnswerStatus::Nxdomain) =>
                {
                    Judged::Good
                }
                Some(a) if matches!(a.status, AnswerStatus::Nodata | AnswerStatus::Nxdomain) => {
                    Judged::Bad(format!(
                        "{} serves no {rtype} record for {}",
                        self.who(s),
                        self.plan.domain
                    ))
                }
                other => unmeasured(&self.who(s), other),
            },
            format!(
                "Every authoritative server serves {rtype} at {} with a TTL of at most {}.",
                self.plan.domain,
                human_seconds(limit)
            ),
        );
        if status == Status::Pass && limit < 60 {
            status = Status::Warn;
            evidence = format!(
                "{evidence} A TTL under 60 s causes problems of its own (R2): 5 min is the usual value."
            );
        }
        (status, evidence, until)
    }

    pub(super) fn other_ttls_untouched(&self) -> Verdict {
        let Some(baseline) = &self.facts.baseline else {
            return (
                Status::Warn,
                "No baseline TTLs were recorded before the change, so a lowered A/AAAA TTL cannot be noticed.".into(),
                None,
            );
        };
        let names = [self.apex.clone(), format!("www.{}", self.apex)];
        let mut lowered = Vec::new();
        let mut measured = false;
        for server in &self.auth {
            for name in &names {
                for rtype in [Rtype::A, Rtype::AAAA] {
                    let Some(a) = self.answer(server, name, rtype) else {
                        continue;
                    };
                    if a.status != AnswerStatus::Ok {
                        continue;
                    }
                    measured = true;
                    let key = format!("{} {}", rtype.as_str(), name.to_ascii_lowercase());
                    if let Some(&before) = baseline.get(&key)
                        && a.ttl < before
                    {
                        lowered.push(format!(
                            "{} serves {rtype} for {name} with TTL {} (first seen {})",
                            self.who(server),
                            human_seconds(a.ttl),
                            human_seconds(before)
                        ));
                    }
                }
            }
        }
        if !lowered.is_empty() {
            (
                Status::Warn,
                format!(
                    "{} R1 says to lower only MX and TXT: a low TTL on the website's records slows it down.",
                    sentence(&lowered)
                ),
                None,
            )
        } else if !measured {
            (
                Status::Unknown,
                "No A or AAAA answer came from the authoritative servers for the apex or www."
                    .into(),
                None,
            )
        } else {
            (
                Status::Pass,
                "The A/AAAA TTLs at the apex and www are as first observed.".into(),
                None,
            )
        }
    }

    pub(super) fn ttl_honoured(&self, applied_at: Option<Timestamp>, now: Timestamp) -> Verdict {
        let Some(applied) = applied_at else {
            // Nothing to judge before the change is made: not measured, never green.
            return (
                Status::Unknown,
                format!(
                    "Not marked as applied yet: `cutover applied {}` (or `a`) once the TTL is set at the DNS host; then whether the host serves it is judged.",
                    StepId::LowerTtl
                ),
                None,
            );
        };
        let limit = self.plan.dns.migration_ttl;
        let mut still_high = Vec::new();
        let mut measured = !self.auth.is_empty();
        for server in &self.auth {
            for rtype in [Rtype::MX, Rtype::TXT] {
                match self.answer(server, &self.apex, rtype) {
                    Some(a) if a.status == AnswerStatus::Ok && a.ttl > limit => {
                        still_high.push(format!(
                            "{} still serves {rtype} with TTL {}",
                            self.who(server),
                            human_seconds(a.ttl)
                        ))
                    }
                    Some(a) if a.status.is_definite() => {}
                    _ => measured = false,
                }
            }
        }
        let since = now.duration_since(applied);
        let grace_end = applied.checked_add(TTL_GRACE).unwrap_or(applied);
        if still_high.is_empty() && measured {
            (
                Status::Pass,
                format!(
                    "Every authoritative server serves MX and TXT at {} with a TTL of at most {} since the change was marked made at {}.",
                    self.plan.domain,
                    human_seconds(limit),
                    applied.strftime("%Y-%m-%d %H:%M UTC")
                ),
                None,
            )
        } else if !still_high.is_empty() && since >= TTL_GRACE {
            (
                Status::Fail,
                format!(
                    "Your DNS host seems to ignore the TTL you set: {}, {} after the change was marked made; move the zone to a DNS host that allows per-record TTLs (R3).",
                    still_high.join(", "),
                    crate::units::duration(since)
                ),
                None,
            )
        } else if !still_high.is_empty() {
            (
                Status::Unknown,
                format!(
                    "The change was marked made {} ago and {}; the DNS host gets until {} to serve it.",
                    crate::units::duration(since),
                    still_high.join(", "),
                    grace_end.strftime("%H:%M UTC")
                ),
                Some(grace_end),
            )
        } else {
            (
                Status::Unknown,
                "Not every authoritative server answered for MX and TXT.".into(),
                None,
            )
        }
    }

    pub(super) fn old_ttl_expired(&self, now: Timestamp) -> Verdict {
        old_ttl_expired(self.plan, self.facts, now)
    }

    /// Each resolver's remaining cache TTL clears by itself: a failing verdict carries
    /// the latest time a watched resolver may still hold the old MX.
    pub(super) fn resolvers_ttl_low(&self) -> Verdict {
        let limit = self.plan.dns.migration_ttl;
        let (status, evidence, _) = every(
            &self.resolvers,
            "resolver",
            |s| match self.answer(s, &self.apex, Rtype::MX) {
                Some(a) if a.status == AnswerStatus::Ok && a.ttl <= limit => Judged::Good,
                Some(a) if a.status == AnswerStatus::Ok => Judged::Bad(format!(
                    "resolver {} still holds the MX with {} to go (until {})",
                    self.who(s),
                    human_seconds(a.ttl),
                    cache_expiry(a).strftime("%Y-%m-%d %H:%M UTC")
                )),
                other => unmeasured(&self.who(s), other),
            },
            format!(
                "Every watched resolver holds the MX for at most {}.",
                human_seconds(limit)
            ),
        );
        // Only a cached TTL that is too high clears by itself; a resolver that gave no answer does not.
        let all_timed = self.resolvers.iter().all(|s| {
            self.answer(s, &self.apex, Rtype::MX)
                .is_some_and(|a| a.status == AnswerStatus::Ok)
        });
        let until = (status == Status::Fail && all_timed)
            .then(|| {
                self.resolvers
                    .iter()
                    .filter_map(|s| self.answer(s, &self.apex, Rtype::MX))
                    .filter(|a| a.ttl > limit)
                    .map(cache_expiry)
                    .max()
            })
            .flatten();
        (status, evidence, until)
    }

    pub(super) fn ttl_restored(&self, rtype: Rtype, wanted: u32) -> Verdict {
        every(
            &self.auth,
            "authoritative",
            |s| match self.answer(s, &self.apex, rtype) {
                Some(a) if a.status == AnswerStatus::Ok && a.ttl == wanted => Judged::Good,
                Some(a) if a.status == AnswerStatus::Ok => Judged::Bad(format!(
                    "{} serves {rtype} with TTL {}; the plan restores {}",
                    self.who(s),
                    human_seconds(a.ttl),
                    human_seconds(wanted)
                )),
                Some(a)
                    if rtype == Rtype::TXT
                        && matches!(a.status, AnswerStatus::Nodata | AnswerStatus::Nxdomain) =>
                {
                    Judged::Good
                }
                other => unmeasured(&self.who(s), other),
            },
            format!(
                "Every authoritative server serves {rtype} with the restored TTL of {}.",
                human_seconds(wanted)
            ),
        )
    }
}

/// When a resolver's cached answer runs out: when it was measured plus the TTL it had left.
fn cache_expiry(a: &Answer) -> Timestamp {
    a.measured_at
        .checked_add(SignedDuration::from_secs(i64::from(a.ttl)))
        .unwrap_or(a.measured_at)
}
