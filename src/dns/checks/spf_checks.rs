//! SPF checks: one record, the old and new servers' terms (R5, R9), valid to RFC 7208.

use super::*;

impl Ctx<'_> {
    pub(super) fn spf_txts<'s>(&self, server: &'s ServerView) -> Result<&'s [String], Judged> {
        match self.answer(server, &self.apex, Rtype::TXT) {
            Some(a) if a.status == AnswerStatus::Ok => Ok(&a.records),
            Some(a) if matches!(a.status, AnswerStatus::Nodata | AnswerStatus::Nxdomain) => Ok(&[]),
            other => Err(unmeasured(&self.who(server), other)),
        }
    }

    pub(super) fn spf_single_record(&self) -> Verdict {
        every(
            &self.auth,
            "authoritative",
            |s| match self.spf_txts(s) {
                Err(j) => j,
                Ok(txts) => match txts.iter().filter(|t| spf::is_spf(t)).count() {
                    1 => Judged::Good,
                    0 => Judged::Bad(format!(
                        "{} serves no SPF record for {}",
                        self.who(s),
                        self.plan.domain
                    )),
                    n => Judged::Bad(format!(
                        "{} serves {n} SPF records for {}: receivers treat that as an error (permerror), keep exactly one",
                        self.who(s),
                        self.plan.domain
                    )),
                },
            },
            format!(
                "Every authoritative server serves exactly one SPF record for {}.",
                self.plan.domain
            ),
        )
    }

    /// `with_old`: R5 (old and new present); otherwise R9 (old gone, new present).
    pub(super) fn spf_terms(&self, with_old: bool) -> Verdict {
        let plan = self.plan;
        every(
            &self.auth,
            "authoritative",
            |s| match self.spf_txts(s) {
                Err(j) => j,
                Ok(txts) => {
                    let a = spf::analyse(
                        &plan.domain,
                        txts,
                        &plan.old.spf,
                        &plan.new.spf,
                        &|_: &str, _: Rtype| spf::Fetched::Unknown,
                    );
                    let current = a.record.as_deref();
                    if a.record_count == 0 {
                        let publish = if with_old {
                            spf::merged_spf(None, &plan.old.spf, &plan.new.spf)
                        } else {
                            spf::final_spf(None, &plan.old.spf, &plan.new.spf)
                        };
                        return Judged::Bad(format!(
                            "{} serves no SPF record; publish \"{publish}\"",
                            self.who(s)
                        ));
                    }
                    let old_present =
                        a.missing_old.len() < plan.old.spf.len() || plan.old.spf.is_empty();
                    if !a.missing_new.is_empty() {
                        let publish = if with_old {
                            spf::merged_spf(current, &plan.old.spf, &plan.new.spf)
                        } else {
                            spf::final_spf(current, &plan.old.spf, &plan.new.spf)
                        };
                        Judged::Bad(format!(
                            "{}'s SPF record lacks the new server's {}; publish \"{}\"",
                            self.who(s),
                            a.missing_new.join(" "),
                            sanitize(&publish)
                        ))
                    } else if with_old && !a.missing_old.is_empty() {
                        Judged::Bad(format!(
                            "{}'s SPF record lacks the old server's {} while it still sends mail; publish \"{}\"",
                            self.who(s),
                            a.missing_old.join(" "),
                            sanitize(&spf::merged_spf(current, &plan.old.spf, &plan.new.spf))
                        ))
                    } else if !with_old && old_present && !plan.old.spf.is_empty() {
                        Judged::Bad(format!(
                            "{}'s SPF record still names the old server; publish \"{}\"",
                            self.who(s),
                            sanitize(&spf::final_spf(current, &plan.old.spf, &plan.new.spf))
                        ))
                    } else {
                        Judged::Good
                    }
                }
            },
            if with_old {
                "Every authoritative server's SPF record names both the old and the new server."
                    .to_string()
            } else {
                "Every authoritative server's SPF record names the new server and no longer the old one.".to_string()
            },
        )
    }

    /// `rollback --stay`: the SPF record names the old server and no longer the new one.
    pub(super) fn spf_back_to_old(&self) -> Verdict {
        let plan = self.plan;
        // The new server's terms taken out, the old server's kept (final_spf with the roles swapped).
        let publish = |current: Option<&str>| spf::final_spf(current, &plan.new.spf, &plan.old.spf);
        every(
            &self.auth,
            "authoritative",
            |s| match self.spf_txts(s) {
                Err(j) => j,
                Ok(txts) => {
                    let a = spf::analyse(
                        &plan.domain,
                        txts,
                        &plan.old.spf,
                        &plan.new.spf,
                        &|_: &str, _: Rtype| spf::Fetched::Unknown,
                    );
                    let current = a.record.as_deref();
                    let new_present =
                        a.missing_new.len() < plan.new.spf.len() && !plan.new.spf.is_empty();
                    if a.record_count == 0 {
                        Judged::Bad(format!(
                            "{} serves no SPF record; publish \"{}\"",
                            self.who(s),
                            sanitize(&publish(None))
                        ))
                    } else if !a.missing_old.is_empty() {
                        Judged::Bad(format!(
                            "{}'s SPF record lacks the old server's {}; publish \"{}\"",
                            self.who(s),
                            a.missing_old.join(" "),
                            sanitize(&publish(current))
                        ))
                    } else if new_present {
                        Judged::Bad(format!(
                            "{}'s SPF record still names the new server; publish \"{}\"",
                            self.who(s),
                            sanitize(&publish(current))
                        ))
                    } else {
                        Judged::Good
                    }
                }
            },
            "Every authoritative server's SPF record names the old server and no longer the new one."
                .to_string(),
        )
    }

    pub(super) fn spf_valid(&self) -> Verdict {
        // The first authoritative server with an SPF record speaks for the zone;
        // disagreement between servers is spf-single-record's and spf-*'s business.
        let found = self.auth.iter().find_map(|s| {
            self.spf_txts(s)
                .ok()
                .filter(|t| t.iter().any(|r| spf::is_spf(r)))
                .map(|t| (self.who(s), t))
        });
        let Some((server, txts)) = found else {
            return (
                Status::Unknown,
                "No authoritative server served an SPF record to count.".into(),
                None,
            );
        };
        let fetched = |name: &str, rtype: Rtype| self.snapshot.spf_fetched(name, rtype);
        let a = spf::analyse(
            &self.plan.domain,
            txts,
            &self.plan.old.spf,
            &self.plan.new.spf,
            &fetched,
        );
        if a.record_count != 1 {
            return (
                Status::Fail,
                format!(
                    "{server} serves {} SPF records; exactly one is valid.",
                    a.record_count
                ),
                None,
            );
        }
        let Some(verdict) = &a.verdict else {
            return (Status::Unknown, "No SPF record to judge.".into(), None);
        };
        match verdict.result {
            spf::SpfResult::Permerror => {
                return (
                    Status::Fail,
                    format!(
                        "Receivers reject the SPF record at {server} as a permerror ({}, limit {}; {} void, limit {}): {}.",
                        lookups(verdict.lookups),
                        spf::LOOKUP_LIMIT,
                        verdict.void_lookups,
                        spf::VOID_LIMIT,
                        spf::SpfVerdict::describe(&verdict.errors)
                    ),
                    None,
                );
            }
            spf::SpfResult::Temperror => {
                return (
                    Status::Unknown,
                    format!(
                        "The SPF record needs at least {} (limit {}); not everything could be looked up: {}.",
                        lookups(verdict.lookups),
                        spf::LOOKUP_LIMIT,
                        spf::SpfVerdict::describe(&verdict.unresolved)
                    ),
                    None,
                );
            }
            spf::SpfResult::Pass | spf::SpfResult::Warn => {}
        }
        if let Some(all) = &a.permissive_all {
            return (
                Status::Warn,
                format!(
                    "The SPF record ends in {all}: it lets anyone send as {}.",
                    self.plan.domain
                ),
                None,
            );
        }
        if verdict.result == spf::SpfResult::Warn {
            return (
                Status::Warn,
                format!(
                    "The SPF record parses and needs {} (limit {}), but: {}.",
                    lookups(verdict.lookups),
                    spf::LOOKUP_LIMIT,
                    spf::SpfVerdict::describe(&verdict.warnings)
                ),
                None,
            );
        }
        (
            Status::Pass,
            format!(
                "The SPF record parses and needs {} (limit {}).",
                lookups(verdict.lookups),
                spf::LOOKUP_LIMIT
            ),
            None,
        )
    }
}

/// "1 DNS lookup", "5 DNS lookups".
fn lookups(n: u32) -> String {
    crate::units::count(u64::from(n), "DNS lookup", "DNS lookups")
}
