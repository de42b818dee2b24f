//! `cutover status --probe-smtp` and `cutover confirm add-new-mx` against a real private
//! Postfix as the new MX, which lacks one alias of the plan: the probe is journaled (once
//! while nothing changes), the JSON says per address and per host what the server
//! answered, and the switch is refused naming the alias until it exists.

#[path = "support/dns_server.rs"]
mod dns_server;
#[path = "support/plans.rs"]
mod plans;
#[path = "support/postfix.rs"]
mod postfix;

use std::path::Path;
use std::process::Output;

use cutover::journal::{Entry, Journal};
use dns_server::TestDns;
use postfix::{MX_HOST, Postfix};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const SALES: &str = "sales@example.com";

/// The test plan with the new MX at the private Postfix, alice with the alias sales@,
/// and DNS at `dns` (nothing listens there when it is port 9).
fn plan_text(postfix: &Postfix, dns: &str) -> String {
    plans::PLAN
        .replace(
            "resolvers = [\"127.0.0.1:9\"]\nauthoritative = [\"127.0.0.1:9\"]",
            &format!("resolvers = [\"{dns}\"]\nauthoritative = [\"{dns}\"]"),
        )
        .replace(
            "mx = [\"1 smtp.new.example.\"]",
            &format!(
                "mx = [\"1 {MX_HOST}.\"]\nsmtp = [\"127.0.0.1:{}\"]",
                postfix.port
            ),
        )
        .replace(
            "imap = { url = \"imap://127.0.0.1:10143\", tls = \"none\" }",
            &format!(
                "imap = {{ url = \"imaps://127.0.0.1:10993\", ca_file = \"{}\" }}",
                postfix.ca_file.display()
            ),
        )
        .replace(
            "old_login = \"alice\"",
            &format!("old_login = \"alice\"\naliases = [\"{SALES}\"]"),
        )
}

fn cutover(plan: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .arg("--plan")
        .arg(plan)
        .env_remove("CUTOVER_PLAN")
        .output()
        .expect("run cutover")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn probe_facts(plan: &Path) -> Vec<serde_json::Value> {
    let journal = Journal::open(Journal::path_for_plan(plan)).expect("journal");
    journal
        .replay()
        .expect("replay")
        .entries
        .into_iter()
        .filter_map(|e| match e {
            Entry::Fact { key, value, .. } if key == "smtp-probe" => Some(value),
            _ => None,
        })
        .collect()
}

fn gate(status: &serde_json::Value) -> &serde_json::Value {
    status["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == "add-new-mx"))
        .and_then(|s| s["checks"].as_array())
        .and_then(|c| c.iter().find(|c| c["id"] == "smtp.new-mx-accepts"))
        .unwrap_or_else(|| panic!("no smtp.new-mx-accepts in add-new-mx: {status:#}"))
}

fn new_mx_of<'a>(status: &'a serde_json::Value, mailbox: &str) -> &'a Vec<serde_json::Value> {
    status["mailboxes"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["address"] == mailbox))
        .and_then(|m| m["new_mx"].as_array())
        .unwrap_or_else(|| panic!("no new_mx for {mailbox}: {status:#}"))
}

#[test]
fn status_probes_the_new_mx_journals_it_once_and_names_the_missing_alias() {
    let Some(postfix) = Postfix::start(&[ALICE, BOB]) else {
        return;
    };
    let (_dir, plan) = plans::write_plan(&plan_text(&postfix, "127.0.0.1:9"));

    // Never asked: unknown, saying how to ask, never green.
    let out = cutover(&plan, &["status", "--json", "--offline"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(gate(&v)["status"], "unknown", "{v:#}");
    assert!(
        gate(&v)["evidence"]
            .as_str()
            .unwrap()
            .contains("--probe-smtp")
    );
    assert_eq!(v["smtp"][0]["host"], format!("{MX_HOST}."));
    assert!(v["smtp"][0]["reachable"].is_null(), "{:#}", v["smtp"]);
    let answers = new_mx_of(&v, ALICE);
    assert_eq!(answers.len(), 2, "{answers:#?}");
    assert!(answers.iter().all(|a| a["accepts"].is_null()));

    let out = cutover(&plan, &["status", "--json", "--probe-smtp"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let host = &v["smtp"][0];
    assert_eq!(host["port"], postfix.port);
    assert_eq!(host["reachable"], true, "{host:#}");
    assert_eq!(host["starttls"], true, "{host:#}");
    assert_eq!(host["cert_valid"], true, "{host:#}");
    assert_eq!(host["accepts_anything"], false, "{host:#}");
    assert!(
        host["banner"]
            .as_str()
            .is_some_and(|b| b.starts_with("220 mx.new.test ESMTP")),
        "{host:#}"
    );
    assert!(host["error"].is_null(), "{host:#}");

    let answers = new_mx_of(&v, ALICE);
    let alice = answers.iter().find(|a| a["address"] == ALICE).unwrap();
    assert_eq!(alice["accepts"], true, "{alice:#}");
    assert!(alice["reply"].as_str().unwrap().starts_with("250 2.1.5"));
    let sales = answers.iter().find(|a| a["address"] == SALES).unwrap();
    assert_eq!(sales["host"], format!("{MX_HOST}."));
    assert_eq!(sales["accepts"], false, "{sales:#}");
    assert!(
        sales["reply"].as_str().unwrap().starts_with("550 5.1.1"),
        "{sales:#}"
    );
    assert_eq!(new_mx_of(&v, BOB)[0]["accepts"], true);

    let check = gate(&v);
    assert_eq!(check["status"], "fail", "{check:#}");
    let evidence = check["evidence"].as_str().unwrap();
    assert!(
        evidence.contains(&format!("{SALES} at {MX_HOST}. (550 5.1.1")),
        "{evidence}"
    );
    assert!(!evidence.contains(ALICE), "{evidence}");
    assert!(
        evidence.contains("Create each at the new provider"),
        "{evidence}"
    );
    assert_eq!(probe_facts(&plan).len(), 1);

    // Asked again within the hour with the same answers: nothing new in the journal.
    let out = cutover(&plan, &["status", "--probe-smtp"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("New MX (SMTP"), "{shown}");
    assert!(
        shown.contains(&format!("{SALES:<32} REFUSED  550 5.1.1")),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("{ALICE:<32} accepted 250 2.1.5")),
        "{shown}"
    );
    assert!(shown.contains("STARTTLS, certificate verified"), "{shown}");
    assert_eq!(probe_facts(&plan).len(), 1);

    // Without --probe-smtp: the journal's answer and its age.
    let shown = text(&cutover(&plan, &["status", "--offline"]));
    assert!(shown.contains("the journal's last probe, "), "{shown}");
    assert!(shown.contains(" REFUSED "), "{shown}");

    // Once the alias exists, the next probe is journaled (the answers changed) and passes.
    postfix.accept_only(&[ALICE, BOB, SALES]);
    let out = cutover(&plan, &["status", "--json", "--probe-smtp"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(gate(&v)["status"], "pass", "{:#}", gate(&v));
    assert_eq!(probe_facts(&plan).len(), 2);

    // Postfix's own log: every session asked RCPT and none sent DATA.
    let sessions = postfix.smtp_sessions(3);
    assert_eq!(sessions.len(), 3, "{}", postfix.log());
    for line in &sessions {
        assert!(line.contains(" rcpt="), "{line}");
        assert!(!line.contains(" data="), "DATA was sent: {line}");
    }
}

/// `cutover confirm add-new-mx`, off the runtime that serves the test's DNS.
async fn confirm_add_new_mx(plan: &Path) -> Output {
    let plan = plan.to_path_buf();
    tokio::task::spawn_blocking(move || cutover(&plan, &["confirm", "add-new-mx"]))
        .await
        .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_add_new_mx_is_refused_naming_the_missing_alias_until_it_exists() {
    let Some(postfix) = Postfix::start(&[ALICE, BOB]) else {
        return;
    };
    // DNS serves the old and the new MX (the step's outcome) and no MTA-STS policy.
    let dns = TestDns::start("example.com.").await;
    dns.set_mx(
        "example.com.",
        300,
        &[
            (1, "mx.new.test."),
            (10, "mx1.old.example."),
            (20, "mx2.old.example."),
        ],
    )
    .await;
    dns.set_txt(
        "example.com.",
        300,
        &["v=spf1 include:_spf.old.example include:_spf.new.example ~all"],
    )
    .await;
    let (_dir, plan) = plans::write_plan(&plan_text(&postfix, &dns.addr.to_string()));
    let journal = Journal::open(Journal::path_for_plan(&plan)).expect("journal");
    for step in cutover::step::StepId::BUILT_IN
        .iter()
        .take_while(|s| **s != cutover::step::StepId::AddNewMx)
    {
        journal
            .append(&Entry::Override {
                at: jiff::Timestamp::now(),
                operator: "tester".into(),
                step: step.clone(),
                mailbox: None,
                reason: "done before this test".into(),
                evidence: vec![],
            })
            .expect("append");
    }

    let out = confirm_add_new_mx(&plan).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("✗ smtp.new-mx-accepts (fail)"), "{said}");
    assert!(said.contains(&format!("{SALES} at {MX_HOST}.")), "{said}");
    assert!(said.contains("550 5.1.1"), "{said}");
    // Nothing else holds the step back.
    assert_eq!(said.matches(" (fail)").count(), 1, "{said}");
    assert!(!said.contains("(unknown)"), "{said}");
    // The guidance names the refused alias and what to do, from the journal alone.
    let status = tokio::task::spawn_blocking({
        let plan = plan.clone();
        move || text(&cutover(&plan, &["status", "--offline"]))
    })
    .await
    .expect("join");
    assert!(status.contains("Next: add-new-mx"), "{status}");
    assert!(
        status.contains(&format!(
            "✗ smtp.new-mx-accepts: the new MX rejects 1 address (senders would get bounces after the switch): {SALES} at {MX_HOST}."
        )),
        "{status}"
    );
    assert!(
        status.contains("Create each at the new provider"),
        "{status}"
    );

    postfix.accept_only(&[ALICE, BOB, SALES]);
    let out = confirm_add_new_mx(&plan).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("Recorded: add-new-mx confirmed."));
    let confirmed = journal
        .replay()
        .expect("replay")
        .entries
        .into_iter()
        .find_map(|e| match e {
            Entry::Confirm { step, evidence, .. } if step == "add-new-mx" => Some(evidence),
            _ => None,
        })
        .expect("add-new-mx confirmed");
    let smtp = confirmed
        .iter()
        .find(|c| c.id == "smtp.new-mx-accepts")
        .expect("the SMTP check is in the evidence");
    assert_eq!(smtp.status, cutover::check::Status::Pass, "{smtp:?}");
}
