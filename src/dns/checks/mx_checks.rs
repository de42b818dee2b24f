//! MX checks: the sets served (R8), no alarm, resolvers following, the order proven.

use super::*;

impl Ctx<'_> {
    /// What the authoritative servers serve, in words and records, e.g. "only the new MX
    /// hosts (1 smtp.new.example.)": evidence is built from the observation.
    pub(super) fn served_mx(&self) -> String {
        let mut states: Vec<MxState> = Vec::new();
        let mut sets: Vec<String> = Vec::new();
        for s in &self.auth {
            let state = server_mx_state(self.plan, s);
            if !states.contains(&state) {
                states.push(state);
            }
            if let Some(a) = self.answer(s, &self.apex, Rtype::MX)
                && a.status == AnswerStatus::Ok
            {
                let set = sanitize(&a.records.join(", "));
                if !sets.contains(&set) {
                    sets.push(set);
                }
            }
        }
        let what = match states.as_slice() {
            [MxState::OldAndNew] => "the old and the new MX hosts",
            [MxState::New] => "only the new MX hosts",
            [MxState::Old] => "only the old MX hosts",
            _ => "MX sets that differ between servers",
        };
        format!("{what} ({})", sets.join("; "))
    }

    pub(super) fn auth_mx(&self, wanted: &[MxState]) -> Verdict {
        every(
            &self.auth,
            "authoritative",
            |s| {
                let state = server_mx_state(self.plan, s);
                if wanted.contains(&state) {
                    return Judged::Good;
                }
                let answer = self.answer(s, &self.apex, Rtype::MX);
                match state {
                    MxState::Unknown => unmeasured(&self.who(s), answer),
                    MxState::Empty => Judged::Bad(format!(
                        "ALARM: {} serves no MX record at all: senders fall back to the apex A record or defer",
                        self.who(s)
                    )),
                    MxState::Foreign => Judged::Bad(format!(
                        "ALARM: {} serves MX hosts that are neither old nor new ({})",
                        self.who(s),
                        sanitize(&answer.map(|a| a.records.join(", ")).unwrap_or_default())
                    )),
                    MxState::Old => Judged::Bad(format!(
                        "{} still serves only the old MX hosts",
                        self.who(s)
                    )),
                    MxState::OldAndNew => Judged::Bad(format!(
                        "{} still serves the old MX hosts beside the new ones",
                        self.who(s)
                    )),
                    MxState::New | MxState::Mixed => {
                        Judged::Bad(format!("{} serves {}", self.who(s), state.as_str()))
                    }
                }
            },
            format!("Every authoritative server serves {}.", self.served_mx()),
        )
    }

    pub(super) fn no_alarm(&self) -> Verdict {
        if self.facts.alarm_active {
            let last = self.facts.alarms.last();
            return (
                Status::Fail,
                format!(
                    "ALARM: since {} {} serves {} MX set; mail is deferred or lost until old or new hosts are served again.",
                    last.map(|a| a.at.strftime("%Y-%m-%d %H:%M UTC").to_string())
                        .unwrap_or_default(),
                    last.map(|a| a.server.as_str())
                        .unwrap_or("an authoritative server"),
                    last.map(|a| if a.state == MxState::Empty {
                        "an empty"
                    } else {
                        "a foreign"
                    })
                    .unwrap_or("a broken")
                ),
                None,
            );
        }
        if let Some(last) = self.facts.alarms.last() {
            return (
                Status::Warn,
                format!(
                    "No MX alarm now, but at {} {} served {} MX set; mail sent then may have been deferred.",
                    last.at.strftime("%Y-%m-%d %H:%M UTC"),
                    last.server,
                    if last.state == MxState::Empty {
                        "an empty"
                    } else {
                        "a foreign"
                    }
                ),
                None,
            );
        }
        (
            Status::Pass,
            "No empty or foreign MX set has been seen at the authoritative servers.".into(),
            None,
        )
    }

    pub(super) fn resolvers_new_mx(&self, now: Timestamp) -> Verdict {
        let mut longest = 0u32;
        for r in &self.resolvers {
            if let Some(a) = self.answer(r, &self.apex, Rtype::MX)
                && a.status == AnswerStatus::Ok
                && server_mx_state(self.plan, r) != MxState::New
            {
                longest = longest.max(a.ttl);
            }
        }
        let (status, evidence, _) = every(
            &self.resolvers,
            "resolver",
            |s| {
                let state = server_mx_state(self.plan, s);
                let answer = self.answer(s, &self.apex, Rtype::MX);
                match (state, answer) {
                    (MxState::New, _) => Judged::Good,
                    (MxState::Unknown, a) => unmeasured(&self.who(s), a),
                    (state, Some(a)) => Judged::Bad(format!(
                        "resolver {} still answers the {} MX set for another {}",
                        self.who(s),
                        state.as_str(),
                        human_seconds(a.ttl)
                    )),
                    (_, None) => unmeasured(&self.who(s), None),
                }
            },
            "Every watched resolver answers the new MX hosts.".to_string(),
        );
        let until = (status == Status::Fail)
            .then(|| {
                now.checked_add(SignedDuration::from_secs(i64::from(longest)))
                    .ok()
            })
            .flatten();
        (status, evidence, until)
    }

    pub(super) fn mx_order(&self) -> Verdict {
        if let Some(at) = self.facts.order_unproven_at {
            return (
                Status::Warn,
                format!(
                    "At {} the MX set went from old to new between two polls without old+new being seen: the order is unproven (R8 wants the new MX added before the old is deleted).",
                    at.strftime("%Y-%m-%d %H:%M UTC")
                ),
                None,
            );
        }
        if self.facts.seen_old_and_new {
            return (
                Status::Pass,
                "Old and new MX hosts were served together before the old ones went: the order was right.".into(),
                None,
            );
        }
        (
            Status::Unknown,
            "The old+new MX set has not been seen yet.".into(),
            None,
        )
    }
}

impl Ctx<'_> {
    /// R18: the new MX may go once resolvers have let go of any set without the old hosts:
    /// the MX TTL served now has passed since the old hosts were served again, for good, by
    /// every authoritative server (the journal's MX transitions).
    pub(super) fn new_mx_ttl_passed(&self, now: Timestamp) -> Verdict {
        let holds_old = |state: MxState| matches!(state, MxState::Old | MxState::OldAndNew);
        let mut since = None;
        for transition in self.facts.mx_transitions.iter().rev() {
            if !holds_old(transition.to) {
                break;
            }
            since = Some(transition.at);
        }
        let served_now = self.facts.mx_state.is_some_and(holds_old);
        let Some(since) = since.filter(|_| served_now) else {
            return (
                Status::Fail,
                "The old MX hosts are not served by every authoritative server yet: the new MX must stay until they are.".into(),
                None,
            );
        };
        let ttls: Vec<u32> = self
            .auth
            .iter()
            .filter_map(|s| self.answer(s, &self.apex, Rtype::MX))
            .filter(|a| a.status == AnswerStatus::Ok)
            .map(|a| a.ttl)
            .collect();
        let Some(ttl) = ttls.iter().copied().max() else {
            return (
                Status::Unknown,
                "No authoritative server answered for MX: the TTL to wait out is not known.".into(),
                None,
            );
        };
        let until = since
            .checked_add(SignedDuration::from_secs(i64::from(ttl)))
            .unwrap_or(since);
        if now >= until {
            (
                Status::Pass,
                format!(
                    "The old MX hosts are served everywhere since {}; the MX TTL of {} has passed since, so no resolver still holds a set without them.",
                    since.strftime("%Y-%m-%d %H:%M UTC"),
                    human_seconds(ttl)
                ),
                None,
            )
        } else {
            (
                Status::Fail,
                format!(
                    "The old MX hosts are served everywhere since {}; resolvers may hold the set without them for the MX TTL of {}: wait until {}.",
                    since.strftime("%Y-%m-%d %H:%M UTC"),
                    human_seconds(ttl),
                    until.strftime("%Y-%m-%d %H:%M UTC")
                ),
                Some(until),
            )
        }
    }
}
