//! The rehearsal's autopilot on the sandbox: a clean migration passes, and each classic mistake
//! is caught by the check that should catch it, at the right simulated time, with the right
//! exit code.

use cutover::check::Status;
use cutover::sandbox::autopilot::{Mistake, Report, Server};
use cutover::sandbox::demo::{DemoOptions, rehearse};
use jiff::{SignedDuration, Timestamp};

async fn rehearsal(mistake: Option<Mistake>) -> Report {
    let opts = DemoOptions {
        autopilot: true,
        mistake,
        mailboxes: 3,
        messages: 60,
        ..DemoOptions::default()
    };
    rehearse(&opts).await.expect("the rehearsal runs").report
}

/// The clean rehearsal, and its journal's lines read before its directory goes.
async fn rehearsal_and_journal() -> (Report, Vec<cutover::journal::Entry>) {
    let opts = DemoOptions {
        autopilot: true,
        mailboxes: 3,
        messages: 60,
        ..DemoOptions::default()
    };
    let run = rehearse(&opts).await.expect("the rehearsal runs");
    let journal =
        cutover::journal::Journal::open(cutover::journal::Journal::path_for_plan(&run.plan_path))
            .expect("the journal");
    let entries = journal.replay().expect("the journal replays").entries;
    (run.report, entries)
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_careful_migration_ends_with_every_message_verified_on_the_new_server() {
    let (report, journal) = rehearsal_and_journal().await;
    let text = report.render();
    // The employees' POP3 fetches were seen by the autopilot's probes, through the one
    // recorder, as the cockpit sees them: one fact per mailbox fetched into.
    let fetch_seen: Vec<&str> = journal
        .iter()
        .filter_map(|e| match e {
            cutover::journal::Entry::Fact { key, value, .. } if key == "pop3-fetch-seen" => {
                value["mailbox"].as_str()
            }
            _ => None,
        })
        .collect();
    assert!(report.pop3_fetched > 0, "{text}");
    assert!(
        !fetch_seen.is_empty(),
        "no pop3-fetch-seen fact in the journal\n{text}"
    );
    let distinct: std::collections::BTreeSet<&str> = fetch_seen.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        fetch_seen.len(),
        "journaled once per mailbox: {fetch_seen:?}"
    );
    // At each DNS step's confirmation, what the authoritative servers served is journaled
    // (the migration report's DNS section, as served).
    let dns_confirmed: std::collections::BTreeSet<&str> = journal
        .iter()
        .filter_map(|e| match e {
            cutover::journal::Entry::Confirm {
                step,
                mailbox: None,
                ..
            }
            | cutover::journal::Entry::Override {
                step,
                mailbox: None,
                ..
            } if step.changes_dns() => Some(step.as_str()),
            _ => None,
        })
        .collect();
    let served: std::collections::BTreeSet<&str> = journal
        .iter()
        .filter_map(|e| match e {
            cutover::journal::Entry::Fact { key, value, .. } if key == "dns-records" => {
                assert!(
                    value["servers"].as_object().is_some_and(|s| !s.is_empty()),
                    "{value:#}"
                );
                value["step"].as_str()
            }
            _ => None,
        })
        .collect();
    assert!(dns_confirmed.contains("remove-old-mx"), "{dns_confirmed:?}");
    assert_eq!(served, dns_confirmed, "\n{text}");
    // The printed report is the migration report the operator will hand over, then the
    // rehearsal's own ground truth, verdict and exit code.
    assert!(
        text.starts_with("# Migration report: example-firm.test\n"),
        "{text}"
    );
    let ground_truth = text
        .find("\n---\n\nREHEARSAL — cutover autopilot\n")
        .unwrap_or_else(|| panic!("the ground truth follows the migration report:\n{text}"));
    let migration = &text[..ground_truth];
    for section in ["## Summary", "## Timeline", "## DNS", "## Mailboxes"] {
        assert!(migration.contains(section), "{section} in\n{migration}");
    }
    // Its DNS stages after the switch are as served, with the TTLs.
    let switched = migration
        .split("### ")
        .find(|s| s.starts_with("After the switch"))
        .unwrap_or_else(|| panic!("a stage after the switch in\n{migration}"));
    assert!(switched.contains("| MX | "), "{switched}");
    assert!(!switched.contains("Not recorded"), "{switched}");
    assert!(
        text[ground_truth..].contains("\nVerdict (exit 0): clean"),
        "{text}"
    );
    assert_eq!(report.exit_code(), 0, "{text}");
    assert!(report.finished, "{text}");
    assert!(report.alarms.is_empty(), "{text}");
    assert!(report.overrides.is_empty(), "{text}");
    assert_eq!(report.deferrals, 0, "{text}");
    assert!(report.missing_at_end.is_empty(), "{text}");
    assert!(report.lost.is_empty(), "{text}");
    // Mail flowed to the old server before the switch and to the new one after it.
    assert!(report.delivered_to(Server::Old) > 0, "{text}");
    assert!(report.delivered_to(Server::New) > 0, "{text}");
    let last = report.copies.last().expect("a copy ran");
    assert!(last.verified, "{text}");
    // The final copy waited for 24 h after the switch (day 2 morning → day 3).
    assert!(report.copies[0].at >= at("2026-03-04T08:00:00Z"), "{text}");
    assert!(text.contains("Verdict (exit 0): clean"), "{text}");
    // The old server's mail was archived and verified (against its manifest and the old
    // server) before the shutdown, through the recorder, so decommission-old's gate held.
    let verified: Vec<&serde_json::Value> = journal
        .iter()
        .filter_map(|e| match e {
            cutover::journal::Entry::Fact { key, value, .. } if key == "archive-verified" => {
                Some(value)
            }
            _ => None,
        })
        .collect();
    let fact = verified.last().expect("an archive-verified fact");
    assert_eq!(
        (&fact["ok"], &fact["online"]),
        (&serde_json::json!(true), &serde_json::json!(true)),
        "{fact:#}"
    );
    let archived: u64 = fact["mailboxes"]
        .as_array()
        .expect("mailboxes")
        .iter()
        .map(|m| m["messages"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(archived, report.old_messages_at_end, "{fact:#}\n{text}");
    let shutdown = journal
        .iter()
        .position(|e| matches!(e, cutover::journal::Entry::Confirm { step, .. } if step == "decommission-old"))
        .expect("decommission-old confirmed");
    let archived_at = journal
        .iter()
        .position(
            |e| matches!(e, cutover::journal::Entry::Fact { key, .. } if key == "archive-verified"),
        )
        .expect("the fact");
    assert!(archived_at < shutdown, "archived before the shutdown");
    assert!(
        report.events.iter().any(|e| e.text.starts_with("archive: ")
            && e.text
                .contains("verified against the manifest and the old server")),
        "{text}"
    );
    // Mail flow was proven by canaries on all three routes, judged through the recorder
    // (the gate of add-new-mx and the outcomes of remove-old-mx and dkim-spf-final).
    let canaries: Vec<&serde_json::Value> = journal
        .iter()
        .filter_map(|e| match e {
            cutover::journal::Entry::Fact { key, value, .. } if key == "canary" => Some(value),
            _ => None,
        })
        .collect();
    for route in ["direct", "world", "outbound"] {
        let last = canaries
            .iter()
            .rev()
            .find(|c| c["route"] == route)
            .unwrap_or_else(|| panic!("no {route} canary journaled\n{text}"));
        assert_eq!(last["verdict"], "pass", "{last:#}");
    }
    let outbound = canaries
        .iter()
        .rev()
        .find(|c| c["route"] == "outbound")
        .expect("an outbound canary");
    assert_eq!(
        (&outbound["dkim"]["result"], &outbound["dkim"]["selector"]),
        (&serde_json::json!("pass"), &serde_json::json!("rehearsal")),
        "{outbound:#}"
    );
    assert_eq!(outbound["spf"]["result"], "pass", "{outbound:#}");
    assert_eq!(
        outbound["receiver"]["authserv_id"], "mx.external-provider.test",
        "{outbound:#}"
    );
    assert!(
        report.events.iter().any(|e| e.text.starts_with(
            "outbound canary (domain → world): pass — landed on the external mailbox"
        ) && e.text.contains(
            "DKIM pass (d=example-firm.test, s=rehearsal, aligned), SPF pass for 192.0.2.25"
        )),
        "{text}"
    );
    assert!(
        report.canaries.iter().all(|(_, status)| status.holds()),
        "{text}"
    );
    // The alias the new provider forgot: the gate of add-new-mx names it, the operator
    // presses the console key, and the new MX asked again accepts it.
    let refused = report
        .caught("smtp.new-mx-accepts")
        .expect("the forgotten alias was caught");
    assert_eq!(
        (refused.step.as_ref().map(|s| s.as_str()), refused.status),
        (Some("add-new-mx"), Status::Fail)
    );
    assert!(
        refused.evidence.contains("sales@example-firm.test at "),
        "{text}"
    );
    let pressed = report
        .events
        .iter()
        .position(|e| {
            e.text.contains("refuses sales@example-firm.test") && e.text.contains("(console key c)")
        })
        .unwrap_or_else(|| panic!("the key press is in the timeline\n{text}"));
    assert!(
        report.events[pressed + 1]
            .text
            .starts_with("alias sales@example-firm.test (to user1@example-firm.test) created"),
        "{text}"
    );
    assert_eq!(
        report.events[pressed + 2].text,
        "the new MX asked again: smtp.new-mx-accepts pass",
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_mx_without_the_ttl_wait_is_blocked_by_old_ttl_expired_and_mail_lands_on_the_old_server()
 {
    let report = rehearsal(Some(Mistake::NoTtlWait)).await;
    let text = report.render();
    assert_eq!(report.exit_code(), 1, "{text}");
    let caught = report.caught("old-ttl-expired").expect("ttl-wait blocked");
    assert_eq!(caught.step, Some("ttl-wait".into()));
    assert_eq!(caught.status, Status::Fail);
    // Seen on day 1 right after the lowering; it clears 24 h (the old TTL) after it.
    assert!(caught.at < at("2026-03-02T09:30:00Z"), "{text}");
    assert_eq!(caught.until, Some(at("2026-03-03T08:05:00Z")), "{text}");
    assert!(
        report
            .overrides
            .iter()
            .any(|(_, step, _)| step == "ttl-wait"),
        "{text}"
    );
    // The resolvers kept the old MX for the rest of their 24 h cache: mail kept landing on
    // the old server on day 2 although the MX had been switched on day 1.
    assert!(
        report
            .delivered
            .get(&(2, Server::Old))
            .copied()
            .unwrap_or(0)
            > 0,
        "{text}"
    );
    assert!(
        report.lost.is_empty() && report.missing_at_end.is_empty(),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_old_mx_first_raises_the_mx_alarm_and_senders_defer() {
    let report = rehearsal(Some(Mistake::DeleteOldMxFirst)).await;
    let text = report.render();
    assert_eq!(report.exit_code(), 1, "{text}");
    let alarm = report.caught("mx-no-alarm").expect("the MX alarm fired");
    assert_eq!(alarm.status, Status::Fail);
    // The old MX goes at the earliest switch time (day 2, 08:05); the next DNS round sees it.
    let mistake = report
        .events
        .iter()
        .find(|e| e.text.starts_with("MISTAKE"))
        .expect("the mistake is in the timeline");
    assert!(alarm.at >= mistake.at, "{text}");
    assert!(
        alarm.at.duration_since(mistake.at) <= SignedDuration::from_mins(5),
        "{text}"
    );
    assert!(report.deferred_messages > 0, "{text}");
    assert_eq!(report.still_queued, 0, "{text}");
    assert!(report.missing_at_end.is_empty(), "{text}");
    // The operator recovers by the alarm's fix: the old MX back, then the procedure in order.
    let fix = report
        .events
        .iter()
        .position(|e| {
            e.text
                .contains("follows the fix of alarm mx-empty: Put the old MX back now")
        })
        .unwrap_or_else(|| panic!("the fix is in the timeline\n{text}"));
    assert!(
        report.events[fix + 1]
            .text
            .contains("put back at the DNS host"),
        "{text}"
    );
    assert!(text.contains("deferred"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_final_copy_is_blocked_by_switch_24h_elapsed_and_later_mail_needs_the_next_copy() {
    let report = rehearsal(Some(Mistake::EarlyFinalCopy)).await;
    let text = report.render();
    assert_eq!(report.exit_code(), 1, "{text}");
    let caught = report
        .blocked
        .iter()
        .find(|c| c.step == Some("final-copy".into()) && c.check == "switch-24h-elapsed")
        .expect("the 24 h gate blocked the copy");
    assert_eq!(caught.status, Status::Fail);
    let until = caught.until.expect("the gate says when it clears");
    assert_eq!(
        until.duration_since(caught.at),
        SignedDuration::from_hours(24),
        "{text}"
    );
    assert!(report.copies.len() >= 2, "{text}");
    assert!(report.copies[0].at < until, "{text}");
    assert!(report.caught_by_next_copy > 0, "{text}");
    assert!(report.missing_at_end.is_empty(), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_decommission_is_blocked_by_old_inbox_quiet_and_the_report_names_the_lost_mail() {
    let report = rehearsal(Some(Mistake::EarlyDecommission)).await;
    let text = report.render();
    assert_eq!(report.exit_code(), 2, "{text}");
    let caught = report
        .blocked
        .iter()
        .find(|c| c.step == Some("decommission-old".into()) && c.check == "mail.old-inbox-quiet")
        .expect("the quiet gate blocked the shutdown");
    assert_eq!(caught.status, Status::Fail);
    assert!(caught.until.is_some_and(|u| u > caught.at), "{text}");
    assert!(!report.lost.is_empty(), "{text}");
    assert!(text.contains("LOST:"), "{text}");
    assert!(text.contains(&report.lost[0].subject), "{text}");
    lost_mail_adds_up(&report, &text);
    report_is_in_time_order(&text);
}

/// Two hours after the switch the new MX answers 451 to every message: the hourly SMTP probe
/// shows it, the autopilot rolls back by the guidance (SPF, old MX back, new MX removed, the
/// copy back) and stays on the old server; the deferred mail reaches the old server once its
/// MX is back, counted in its mailstore, and nothing on the new server is missing there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_new_server_breaks_the_autopilot_rolls_back_and_no_deferred_mail_is_lost() {
    let report = rehearsal(Some(Mistake::NewServerBreaks)).await;
    let text = report.render();
    // Deferred mail and the check that showed the breakdown: exit 1, nothing lost.
    assert_eq!(report.exit_code(), 1, "{text}");
    assert!(report.finished, "{text}");
    let w = report.way_back.as_ref().expect("the way back is reported");
    let switch = report.switch_at.expect("the switch");
    let broke = w.broke_at.expect("the new server broke");
    assert_eq!(
        broke.duration_since(switch),
        SignedDuration::from_hours(2),
        "{text}"
    );
    // Noticed by the SMTP probe (hourly), not by reading the sandbox's flag.
    let noticed = w.noticed_at.expect("noticed");
    assert!(noticed > broke && noticed.duration_since(broke) <= SignedDuration::from_mins(61));
    assert!(
        w.noticed_by.starts_with("smtp.new-mx-accepts unknown: "),
        "{text}"
    );
    assert!(w.noticed_by.contains("451 4.3.0"), "{text}");
    // Listed with the alarms (the forgotten alias of day 1 is a blocked gate, not this).
    let caught = report
        .alarms
        .iter()
        .find(|c| c.check == "smtp.new-mx-accepts")
        .expect("the check is listed");
    assert_eq!(
        (caught.at, caught.status),
        (noticed, Status::Unknown),
        "{text}"
    );
    // The way back in its order, each step confirmed as the guidance says.
    let order = [
        "ROLLBACK decided",
        "rollback-spf: confirmed",
        "rollback-add-old-mx: confirmed",
        "rollback-remove-new-mx: confirmed",
        "employees turn off their POP3 fetch",
        "rollback-copy-back: `cutover sync --reverse`",
        "decides to stay on the old server",
        "stay-spf-old-only: confirmed",
        "stay-restore-ttl: confirmed",
        "every step of the runbook is finished",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|o| {
            report
                .events
                .iter()
                .position(|e| e.text.contains(o))
                .unwrap_or_else(|| panic!("{o} in the timeline\n{text}"))
        })
        .collect();
    assert!(positions.windows(2).all(|p| p[0] < p[1]), "{text}");
    assert!(w.rolled_back_at.is_some_and(|at| at == noticed), "{text}");
    assert!(w.old_mx_back_at.is_some_and(|at| at > noticed), "{text}");
    // Mail reached the new server between the switch and the breakdown: copied back, verified.
    assert!(report.delivered_to(Server::New) > 0, "{text}");
    assert_eq!(
        w.copied_back,
        Some(report.delivered_to(Server::New)),
        "{text}"
    );
    assert!(w.copy_back_verified, "{text}");
    // Senders deferred while the new MX answered 451; every one is in an old INBOX now.
    assert!(w.deferred > 0, "{text}");
    assert_eq!(w.deferred_on_old, w.deferred, "{text}");
    assert_eq!(w.deferred_queued, 0, "{text}");
    assert_eq!(report.still_queued, 0, "{text}");
    assert!(w.not_on_old.is_empty(), "{text}");
    assert!(report.bounced.is_empty(), "{text}");
    // What a user reads: the cost, the verdict, and the migration report's rollback section.
    let cost = section(&text, "What the mistake cost").join("\n");
    assert!(
        cost.contains(&format!(
            "Senders deferred {} messages while the new MX answered 4xx; counted at the end: {} in the old server's INBOXes (delivered once its MX was back), 0 still queued.",
            w.deferred, w.deferred
        )),
        "{cost}"
    );
    assert!(
        cost.contains("at the end the new server holds 0 messages the old one lacks."),
        "{cost}"
    );
    assert!(
        text.contains(&format!(
            "\nVerdict (exit 1): no mail lost (every message that reached the new server is on the old one, where the migration ends, and {0} of the {0} deferred while the new MX answered 4xx were delivered there), but: 1 alarm, {0} messages deferred.\n",
            w.deferred
        )),
        "{text}"
    );
    let migration = report.migration.as_deref().expect("the migration report");
    assert!(migration.contains("## Rollback"), "{migration}");
    assert!(
        migration.contains("Finished on the old server: the way back is done"),
        "{migration}"
    );
    report_is_in_time_order(&text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dkim_key_under_another_selector_fails_the_outbound_canary_naming_the_selector_used() {
    let report = rehearsal(Some(Mistake::DkimWrongSelector)).await;
    let text = report.render();
    assert_eq!(report.exit_code(), 1, "{text}");
    // The records check passes (a key is published at the plan's selector); the outbound
    // canary, signed with the selector the new server really uses, fails and names it.
    let caught = report
        .caught("canary.outbound-auth")
        .expect("the outbound canary caught it");
    assert_eq!(caught.step, Some("dkim-spf-final".into()));
    assert_eq!(caught.status, Status::Fail);
    assert!(
        caught
            .evidence
            .starts_with("DKIM permerror for selector s2026 (d=example-firm.test): no key is published at s2026._domainkey.example-firm.test"),
        "{text}"
    );
    assert!(
        caught
            .evidence
            .contains("put `dkim_selector = \"s2026\"` in [new] of the plan"),
        "{text}"
    );
    assert!(
        report
            .overrides
            .iter()
            .any(|(_, step, _)| step == "dkim-spf-final"),
        "{text}"
    );
    let cost = section(&text, "What the mistake cost").join("\n");
    assert!(
        cost.contains("canary.outbound-auth failed at ") && cost.contains("selector s2026"),
        "{text}"
    );
    assert!(
        cost.contains(
            "outbound canaries sent through the new server failed at the external mailbox"
        ),
        "{text}"
    );
    assert!(
        cost.contains("dkim-spf-final was confirmed by override at ")
            && cost.contains(
                "failed DKIM (the selector it signs with has no key), so only SPF vouched for it"
            ),
        "{text}"
    );
    assert!(
        report.missing_at_end.is_empty() && report.lost.is_empty(),
        "{text}"
    );
    report_is_in_time_order(&text);
}

/// The `Mon 2 Mar 08:05` a report line starts with, as (day of March, minute of the day).
fn stamp(line: &str) -> Option<(u32, u32)> {
    let mut words = line.split_whitespace();
    let _weekday = words.next()?;
    let day: u32 = words.next()?.parse().ok()?;
    if words.next()? != "Mar" {
        return None;
    }
    let (h, m) = words.next()?.split_once(':')?;
    Some((day, h.parse::<u32>().ok()? * 60 + m.parse::<u32>().ok()?))
}

/// The lines of a report section, from its title to the next blank line.
fn section<'a>(text: &'a str, title: &str) -> Vec<&'a str> {
    text.lines()
        .skip_while(|l| !l.starts_with(title))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect()
}

/// The timeline and what the checks held back are each listed in time order.
fn report_is_in_time_order(text: &str) {
    for title in ["Timeline", "What the checks held back"] {
        let stamps: Vec<(u32, u32)> = section(text, title)
            .iter()
            .filter_map(|l| stamp(l))
            .collect();
        assert!(stamps.len() > 1, "{title} has no dated lines:\n{text}");
        assert!(
            stamps.windows(2).all(|w| w[0] <= w[1]),
            "{title} is out of time order:\n{text}"
        );
    }
}

/// The lost mail's counts agree: by kind, by mailbox and folder, and in the verdict.
fn lost_mail_adds_up(report: &Report, text: &str) {
    let lost = report.lost.len() as u64;
    let lost_section = section(text, "LOST:");
    // By kind (old mail, delivered during the rehearsal, sent copies): they add up.
    let by_kind: u64 = lost_section
        .iter()
        .take_while(|l| !l.contains("By mailbox and folder"))
        .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(by_kind, lost, "the kinds do not add up:\n{text}");
    // Per mailbox, with its folders: each mailbox's folders add up to it, and the mailboxes
    // to the total.
    let mailboxes: Vec<&str> = lost_section
        .iter()
        .skip_while(|l| !l.contains("By mailbox and folder"))
        .skip(1)
        .take_while(|l| !l.contains("For example"))
        .copied()
        .collect();
    assert!(mailboxes.len() > 1, "no per-mailbox summary:\n{text}");
    let mut total = 0;
    for line in &mailboxes {
        let (_, rest) = line.split_once(": ").expect("mailbox: count (folders)");
        let (count, folders) = rest.split_once(" (").expect("count (folders)");
        let count: u64 = count.parse().expect("a count");
        let folders: u64 = folders
            .trim_end_matches(')')
            .split(", ")
            .map(|f| f.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(folders, count, "{line}\n{text}");
        total += count;
    }
    assert_eq!(total, lost, "the mailboxes do not add up:\n{text}");
    // The per-folder summary comes before the examples, which span mailboxes.
    let examples: Vec<&str> = lost_section
        .iter()
        .skip_while(|l| !l.contains("For example"))
        .skip(1)
        .copied()
        .collect();
    let example_mailboxes: std::collections::BTreeSet<&str> = examples
        .iter()
        .filter_map(|l| l.trim().split(" / ").next())
        .collect();
    assert!(example_mailboxes.len() > 1, "{text}");
    let folders: u64 = report.lost_by_folder().values().sum();
    assert_eq!(folders, lost);
    // The verdict's total is the sum of its parts, and no part contradicts the loss.
    let verdict = text
        .lines()
        .find(|l| l.starts_with("Verdict"))
        .expect("a verdict");
    let parts: u64 = report.losses().iter().map(|(n, _)| n).sum();
    assert!(
        verdict.contains(&format!("MAIL LOST: {parts} messages")),
        "{verdict}"
    );
    assert!(
        !verdict.contains(" 0 "),
        "a zero count in the verdict: {verdict}"
    );
    assert!(!text.contains("0 not on the new server"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cost_of_not_waiting_out_the_ttl_is_the_held_switch_and_mail_to_the_old_server() {
    let report = rehearsal(Some(Mistake::NoTtlWait)).await;
    let text = report.render();
    let cost = section(&text, "What the mistake cost").join("\n");
    assert!(cost.contains("ttl-wait was overridden"), "{text}");
    // The resolvers kept the old MX: the step that needs them on the new one waited for it.
    assert!(
        cost.lines()
            .any(|l| l.contains("remove-old-mx was held") && l.contains(" h ")),
        "{text}"
    );
    assert!(report.old_after_switch > 0, "{text}");
    assert!(
        cost.contains(&format!(
            "senders still delivered {} messages to the old server",
            report.old_after_switch
        )),
        "{text}"
    );
    report_is_in_time_order(&text);
}

/// The summary screen of `cutover demo` (its lines are this render's) leads with the
/// migration report of the run's plan and journal, then the rehearsal's ground truth.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_of_a_run_a_person_drove_leads_with_the_migration_report() {
    let mut spec = cutover::sandbox::WorldSpec::small(at("2026-03-02T08:00:00Z"));
    spec.mailboxes = 2;
    spec.messages_per_folder = 3;
    spec.speed = 0.0;
    let world = cutover::sandbox::World::start(spec)
        .await
        .expect("the world starts");
    let dir = tempfile::tempdir().expect("a directory");
    let path = cutover::sandbox::demo::write_plan(dir.path(), &world).expect("the plan");
    let plan = cutover::plan::load(&path).expect("the plan loads").plan;
    let runbook = cutover::runbook::Runbook::for_plan(&plan);
    let note = cutover::journal::Entry::Note {
        at: at("2026-03-02T08:30:00Z"),
        operator: "rehearsal".into(),
        text: "the rehearsal started".into(),
    };
    let summary = cutover::sandbox::autopilot::interactive_report(
        &plan,
        Report::default(),
        &[],
        std::slice::from_ref(&note),
        &runbook,
        &world,
        at("2026-03-02T09:00:00Z"),
    );
    let text = summary.render();
    assert!(
        text.starts_with("# Migration report: example-firm.test\n"),
        "{text}"
    );
    let ground_truth = text
        .find("\n---\n\nREHEARSAL — summary of your run\n")
        .unwrap_or_else(|| panic!("the ground truth follows the migration report:\n{text}"));
    assert!(text[..ground_truth].contains("## Timeline"), "{text}");
    assert!(text[ground_truth..].contains("\nVerdict (exit "), "{text}");
}

/// After a rollback in a rehearsal a person drove, the summary judges the old server, where
/// the migration ends: a message only on the new server is mail lost until the copy back
/// puts it on the old one; then nothing is lost (the old mail never copied to the new
/// server does not count against it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_rollback_the_summary_of_a_run_a_person_drove_counts_what_the_old_server_lacks() {
    use cutover::journal::Entry;
    use cutover::step::StepId;
    let mut spec = cutover::sandbox::WorldSpec::small(at("2026-03-02T08:00:00Z"));
    spec.mailboxes = 2;
    spec.messages_per_folder = 3;
    spec.speed = 0.0;
    let world = cutover::sandbox::World::start(spec)
        .await
        .expect("the world starts");
    let dir = tempfile::tempdir().expect("a directory");
    let path = cutover::sandbox::demo::write_plan(dir.path(), &world).expect("the plan");
    let plan = cutover::plan::load(&path).expect("the plan loads").plan;
    let runbook = cutover::runbook::Runbook::for_plan(&plan);
    cutover::sandbox::operator::perform(
        &world,
        cutover::sandbox::operator::OperatorAction::CreateMailboxes,
    )
    .await
    .expect("the new mailboxes");
    let switched = at("2026-03-03T08:15:00Z");
    let mut entries = vec![Entry::Confirm {
        at: switched,
        operator: "rehearsal".into(),
        step: StepId::AddNewMx,
        mailbox: None,
        evidence: vec![],
    }];
    let history = cutover::journal::History::from_entries(entries.iter());
    entries.extend(
        cutover::runbook::rollback::start(
            &history,
            "rehearsal",
            "the new MX answers 451 to every message",
            at("2026-03-03T10:30:00Z"),
        )
        .expect("a rollback"),
    );
    let raw = b"Message-ID: <after-switch@rehearsal.test>\r\nSubject: only on the new server\r\nFrom: a@elsewhere.test\r\nTo: user1@example-firm.test\r\n\r\nhi\r\n".to_vec();
    let arrived = at("2026-03-03T09:00:00Z").to_zoned_datetime(jiff::tz::TimeZone::UTC);
    world
        .new
        .store()
        .deliver("user1", "INBOX", raw.clone(), arrived.clone())
        .expect("delivered to the new server");
    let summary = |entries: &[Entry]| {
        cutover::sandbox::autopilot::interactive_report(
            &plan,
            Report::default(),
            &[],
            entries,
            &runbook,
            &world,
            at("2026-03-03T11:00:00Z"),
        )
    };
    let before = summary(&entries);
    let text = before.render();
    assert_eq!(before.exit_code(), 2, "{text}");
    assert!(
        text.contains(
            "\nVerdict (exit 2): MAIL LOST: 1 message: 1 on the new server and not on the old one, where the migration ends.\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("ROLLBACK: rollback decided by rehearsal"),
        "{text}"
    );
    // The copy back puts it on the old server: nothing is lost by staying there.
    world
        .old
        .store()
        .deliver("user1", "INBOX", raw, arrived)
        .expect("copied back");
    let after = summary(&entries);
    let text = after.render();
    assert_eq!(after.exit_code(), 1, "{text}");
    assert!(
        text.contains(
            "\nVerdict (exit 1): no mail lost (every message that reached the new server is on the old one, where the migration ends), but: the procedure did not finish.\n"
        ),
        "{text}"
    );
    assert!(!text.contains("NOT COPIED"), "{text}");
}
