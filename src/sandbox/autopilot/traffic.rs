//! The rehearsal's mail traffic under the autopilot: senders on the internet delivering where
//! the MX they resolve points, employees saving sent copies on the old server, and the POP3
//! fetches they set up.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::super::mailflow::{DeferReason, Delivery, MailRoutes, Sender};
use super::super::world::World;
use super::{Autopilot, AutopilotError, Server};

/// A message a sender still has to deliver.
pub(super) struct Queued {
    user: String,
    raw: Vec<u8>,
    deferred: bool,
    /// Deferred at least once because the MX answered 4xx (the new server broken).
    pub(super) outage: bool,
}

/// One sender per public resolver; `with_old` false once the old server is shut down.
pub(super) fn senders(world: &World, with_old: bool) -> Vec<Sender> {
    let mut routes = MailRoutes::new();
    if with_old {
        routes.add(&world.spec.old_mx, world.old.store().clone());
    }
    routes.add_with_outage(
        &world.spec.new_mx,
        world.new.store().clone(),
        world.new_smtp.outage(),
    );
    world
        .resolvers
        .iter()
        .map(|r| {
            Sender::new(
                r.addr(),
                world.zone.origin(),
                routes.clone(),
                world.clock.clone(),
            )
        })
        .collect()
}

impl Autopilot {
    /// This tick's mail: new messages from the senders, retries of deferred ones, and sent
    /// copies employees save on the old server while they still use the old account.
    pub(super) async fn send_mail(&mut self) {
        let now = self.now();
        self.mail_due += self.opts.mail_per_hour * self.opts.tick.as_secs_f64() / 3600.0;
        let users: Vec<String> = self
            .world
            .employees
            .iter()
            .map(|e| e.login.clone())
            .collect();
        while self.mail_due >= 1.0 {
            self.mail_due -= 1.0;
            self.sent += 1;
            let user = users[(self.sent as usize) % users.len()].clone();
            let raw = message(self.sent, &user, &self.world.spec.domain, now, "customer");
            self.queue.push(Queued {
                user,
                raw,
                deferred: false,
                outage: false,
            });
        }
        let queue = std::mem::take(&mut self.queue);
        let senders = self.senders.clone();
        let day = self.day(now);
        for (i, mut item) in queue.into_iter().enumerate() {
            let sender = &senders[i % senders.len()];
            match sender.send(&item.user, item.raw.clone()).await {
                Delivery::Delivered { host, .. } => {
                    let server = if host.trim_end_matches('.') == self.world.spec.old_mx {
                        Server::Old
                    } else {
                        Server::New
                    };
                    *self.report.delivered.entry((day, server)).or_insert(0) += 1;
                    if server == Server::Old && self.report.switch_at.is_some_and(|at| at <= now) {
                        self.report.old_after_switch += 1;
                        self.report.last_old_delivery = Some(now);
                    }
                }
                Delivery::Deferred { reason } => {
                    self.report.deferrals += 1;
                    if matches!(reason, DeferReason::TemporaryFailure { .. }) && !item.outage {
                        item.outage = true;
                        let id = crate::mail::identity::Identity::from_header(&item.raw);
                        self.way_back.deferred.push((item.user.clone(), id));
                    }
                    if !item.deferred {
                        item.deferred = true;
                        self.report.deferred_messages += 1;
                        if self.report.deferred_messages == 1 {
                            self.event(format!(
                                "senders start deferring mail: {}",
                                defer_text(&reason)
                            ));
                        }
                    }
                    self.queue.push(item);
                }
                Delivery::Bounced { host, user } => {
                    self.report.bounced.push(format!("{user} at {host}"));
                }
            }
        }
        // Every third employee still sends from the old account on a phone, once an hour in
        // working hours, until the evening of the switch day (their sent copies stay there).
        let zoned = now.to_zoned_datetime(TimeZone::UTC);
        let working = (8..18).contains(&zoned.hour()) && zoned.minute() == 0;
        let still = self.old_account_until.is_none_or(|until| now < until);
        if working && still && !self.decommissioned {
            for (n, employee) in self.world.employees.iter().enumerate().step_by(3) {
                let raw = message(
                    self.sent * 1000 + n as u64,
                    "colleague",
                    &self.world.spec.domain,
                    now,
                    &employee.login,
                );
                if self
                    .world
                    .old
                    .store()
                    .deliver(&employee.login, "Sent", raw, zoned.clone())
                    .is_ok()
                {
                    self.report.sent_via_old += 1;
                }
            }
        }
    }

    /// The rehearsal day `at` falls on, counted in calendar days from the first (1-based).
    fn day(&self, at: Timestamp) -> u32 {
        let date = |t: Timestamp| t.to_zoned_datetime(TimeZone::UTC).date();
        let start = date(self.report.start.unwrap_or(at));
        let days = start
            .until(date(at))
            .map(|span| span.get_days())
            .unwrap_or(0);
        u32::try_from(days).unwrap_or(0) + 1
    }

    pub(super) fn run_fetches(&mut self) -> Result<(), AutopilotError> {
        if self.decommissioned {
            return Ok(());
        }
        let clock = self.world.clock.clone();
        for fetch in &mut self.fetches {
            let copied = fetch.run(&clock).map_err(|e| AutopilotError::Store {
                what: format!("the POP3 fetch for {}", fetch.new_user),
                detail: e.to_string(),
            })?;
            self.report.pop3_fetched += copied as u64;
        }
        Ok(())
    }
}

fn defer_text(reason: &DeferReason) -> String {
    match reason {
        DeferReason::ResolverFailed => "the resolver did not answer".to_string(),
        DeferReason::NoMx => "the domain has no MX records".to_string(),
        DeferReason::NoReachableHost { hosts } => format!("no mail server at {}", hosts.join(", ")),
        DeferReason::TemporaryFailure { host, reply } => format!("{host} answers \"{reply}\""),
    }
}

/// One generated message of the rehearsal's live traffic.
pub(crate) fn message(n: u64, to: &str, domain: &str, at: Timestamp, from: &str) -> Vec<u8> {
    let date = at
        .to_zoned_datetime(TimeZone::UTC)
        .strftime("%a, %d %b %Y %H:%M:%S %z")
        .to_string();
    format!(
        "Message-ID: <live-{n}-{from}@rehearsal.test>\r\n\
Date: {date}\r\n\
From: {from}@elsewhere.test\r\n\
To: {to}@{domain}\r\n\
Subject: rehearsal mail {n} from {from} to {to}\r\n\
\r\n\
Sent during the rehearsal at {date}.\r\n"
    )
    .into_bytes()
}
