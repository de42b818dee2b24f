//! `cutover canary` end to end against the mail flow of tests/support/mailflow.rs: every
//! route before the switch, its exit codes, the journal's facts, and `status`'s view.

#[path = "support/mailflow.rs"]
mod mailflow;

use std::path::Path;
use std::process::Output;

use mailflow::{CANARY, MailFlow};

fn cutover(plan: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .arg("--plan")
        .arg(plan)
        .env_remove("CUTOVER_PLAN")
        .output()
        .expect("run cutover")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn every_route_before_the_switch_lands_where_expected_and_is_journaled() {
    let Some(flow) = MailFlow::start() else {
        return;
    };
    let plan = flow.write_plan("");
    let out = cutover(&plan, &["canary", "--json", "--timeout", "60s"]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let value: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let canaries = value["canaries"].as_array().expect("canaries[]");
    let landed: Vec<(&str, &str, &str)> = canaries
        .iter()
        .map(|c| {
            (
                c["route"].as_str().unwrap_or(""),
                c["landed"].as_str().unwrap_or(""),
                c["verdict"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        landed,
        vec![
            ("world", "old", "pass"),
            ("direct", "new", "pass"),
            ("outbound", "external", "pass")
        ],
        "{stdout}"
    );
    for c in canaries {
        for key in ["sent_at", "token", "folder", "delay_s", "hops", "reply"] {
            assert!(!c[key].is_null(), "{key} in {c}");
        }
    }
    // The world canary stays on the old server, never touched; its Message-ID is journaled.
    assert_eq!(flow.old.count(CANARY, "INBOX"), 1);
    let journal = std::fs::read_to_string(plan.with_extension("journal")).expect("journal");
    assert_eq!(
        journal.matches("\"key\":\"canary\"").count(),
        3,
        "{journal}"
    );
    let world_id = canaries[0]["message_id"].as_str().expect("message_id");
    assert!(journal.contains(world_id), "{journal}");

    // `status` reads the last canary per route from the journal, without sending.
    let out = cutover(&plan, &["status", "--json", "--offline"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(
        status["canaries"].as_array().map(Vec::len),
        Some(3),
        "{status}"
    );
    // The direct canary to the new MX host is add-new-mx's gate.
    let gate = status["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["id"] == "add-new-mx"))
        .and_then(|s| s["checks"].as_array())
        .and_then(|checks| checks.iter().find(|c| c["id"] == "canary.direct-new"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(gate["status"], "pass", "{gate}");
    assert_eq!(gate["kind"], "gate", "{gate}");
    let out = cutover(&plan, &["status", "--offline"]);
    let shown = text(&out.stdout);
    assert!(shown.contains("Mail flow\n"), "{shown}");
    assert!(shown.contains("✓ world"), "{shown}");
}

#[test]
fn a_canary_the_new_mx_drops_raises_canary_lost_with_its_fix_and_fails_the_gate() {
    let Some(flow) = MailFlow::start() else {
        return;
    };
    flow.new_server_drops_mail();
    let plan = flow.write_plan("");
    let out = cutover(&plan, &["canary", "--route", "direct", "--timeout", "8s"]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("canary-lost"), "{stdout}");
    let out = cutover(&plan, &["status", "--json", "--offline"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    let alarm = &status["alarms"][0];
    assert_eq!(alarm["id"], "canary-lost", "{status}");
    assert!(
        alarm["fix"]["action"]
            .as_str()
            .unwrap_or("")
            .contains("quarantine"),
        "{alarm}"
    );
    let gate = status["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["id"] == "add-new-mx"))
        .and_then(|s| s["checks"].as_array())
        .and_then(|checks| checks.iter().find(|c| c["id"] == "canary.direct-new"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(gate["status"], "fail", "{gate}");
    // Once a canary lands again, the alarm clears.
    flow.new.postfix.route(&[]);
    let out = cutover(&plan, &["canary", "--route", "direct", "--timeout", "60s"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = cutover(&plan, &["status", "--json", "--offline"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(
        status["alarms"].as_array().map(Vec::len),
        Some(0),
        "{status}"
    );
}

#[test]
fn a_refused_login_exits_3_and_a_missing_canary_table_exits_2() {
    let Some(flow) = MailFlow::start() else {
        return;
    };
    let plan = flow.write_plan("");
    let secrets = plan.with_file_name("secrets.toml");
    let text_secrets = std::fs::read_to_string(&secrets).expect("secrets");
    std::fs::write(
        &secrets,
        text_secrets.replace(mailflow::EXTERNAL_PASSWORD, "wrong-password"),
    )
    .expect("write");
    let out = cutover(&plan, &["canary", "--route", "world", "--timeout", "10s"]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("refused the login"), "{stdout}");
    assert!(stdout.contains("reply: 535"), "{stdout}");

    // Without [canary]: a usage error that says how to set it up; `check` says it too.
    let plain = std::fs::read_to_string(&plan).expect("plan");
    let cut = plain.find("[canary]").expect("[canary] in the plan");
    std::fs::write(&plan, &plain[..cut]).expect("write");
    let out = cutover(&plan, &["canary"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("Mail flow is not proven"),
        "{}",
        text(&out.stderr)
    );
    let out = cutover(&plan, &["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("Mail flow is not proven"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn an_unreachable_submission_exits_4() {
    let Some(flow) = MailFlow::start() else {
        return;
    };
    let plan = flow.write_plan("");
    let text_plan = std::fs::read_to_string(&plan).expect("plan");
    // Nothing listens on 127.0.0.3:1.
    let submission = flow.new.submission_url();
    std::fs::write(
        &plan,
        text_plan.replace(
            &format!("submission = \"{submission}\""),
            "submission = \"smtp://127.0.0.3:1\"",
        ),
    )
    .expect("write");
    let out = cutover(
        &plan,
        &["canary", "--route", "outbound", "--timeout", "10s"],
    );
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("unreachable"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn the_copy_never_copies_a_canary_left_on_the_old_server() {
    let Some(flow) = MailFlow::start() else {
        return;
    };
    let plan = flow.write_plan("");
    let out = cutover(&plan, &["canary", "--route", "world", "--timeout", "60s"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    // A real message beside it, which the copy must bring.
    flow.old.dovecot.seed(
        CANARY,
        "INBOX",
        &[mailflow::SeedMessage::new(
            "From: a@example.org\r\nTo: cutover-canary@example.com\r\nSubject: a real one\r\nMessage-ID: <real@example.org>\r\n\r\nbody\r\n",
        )],
    );
    assert_eq!(flow.old.count(CANARY, "INBOX"), 2);
    let out = cutover(&plan, &["sync", "--mailbox", CANARY]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        flow.new.subjects(CANARY, "INBOX"),
        vec!["a real one".to_string()],
        "only the real message is copied"
    );
    // The old server still holds the canary: cutover never touches it there.
    assert_eq!(flow.old.count(CANARY, "INBOX"), 2);
}

#[path = "support/dns_server.rs"]
mod dns_server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_canary_goes_to_every_mx_host_the_resolvers_serve_too() {
    let Some(flow) = MailFlow::start() else {
        return;
    };
    // The world's resolvers still serve the old MX: it gets a direct canary as well.
    let dns = dns_server::TestDns::start("example.com.").await;
    dns.set_mx("example.com.", 300, &[(10, "mx.old.test.")])
        .await;
    let plan = flow.write_plan("");
    let text_plan = std::fs::read_to_string(&plan).expect("plan");
    std::fs::write(
        &plan,
        text_plan.replace("resolvers = []", &format!("resolvers = [\"{}\"]", dns.addr)),
    )
    .expect("write");
    let out = tokio::task::spawn_blocking(move || {
        cutover(
            &plan,
            &["canary", "--route", "direct", "--json", "--timeout", "60s"],
        )
    })
    .await
    .expect("cutover ran");
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let value: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let landed: Vec<(&str, &str)> = value["canaries"]
        .as_array()
        .expect("canaries[]")
        .iter()
        .map(|c| {
            (
                c["target"].as_str().unwrap_or(""),
                c["landed"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        landed,
        vec![("mx.new.test", "new"), ("mx.old.test", "old")],
        "{stdout}"
    );
    assert!(
        flow.old.postfix.log().contains("from=<>"),
        "MAIL FROM:<> at the old MX too"
    );
}

#[test]
fn after_the_switch_a_world_canary_on_old_is_canary_old_and_one_on_new_proves_the_outcome() {
    let Some(flow) = MailFlow::start() else {
        return;
    };
    let plan = flow.write_plan("");
    // The journal says the MX switched to the new server an hour ago (the old TTL is 5 min).
    let switched = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    std::fs::write(
        plan.with_extension("journal"),
        format!(
            "{}\n",
            serde_json::json!({
                "kind": "fact", "at": switched.to_string(), "key": "mx-set",
                "value": {"from": "both", "to": "new"}, "evidence": "only the new MX served"
            })
        ),
    )
    .expect("write the journal");
    // The world still reaches the old MX (a resolver that kept it, a forgotten record).
    let out = cutover(&plan, &["canary", "--route", "world", "--timeout", "60s"]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("canary-old"), "{stdout}");
    let out = cutover(&plan, &["status", "--json", "--offline"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(status["alarms"][0]["id"], "canary-old", "{status}");
    let outcome = |status: &serde_json::Value| {
        status["steps"]
            .as_array()
            .and_then(|steps| steps.iter().find(|s| s["id"] == "remove-old-mx"))
            .and_then(|s| s["checks"].as_array())
            .and_then(|checks| checks.iter().find(|c| c["id"] == "canary.world-new"))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(outcome(&status)["status"], "fail", "{status}");
    assert_eq!(outcome(&status)["kind"], "outcome");

    flow.world_mx(mailflow::Mx::New);
    let out = cutover(&plan, &["canary", "--route", "world", "--timeout", "60s"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = cutover(&plan, &["status", "--json", "--offline"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(
        status["alarms"].as_array().map(Vec::len),
        Some(0),
        "{status}"
    );
    assert_eq!(outcome(&status)["status"], "pass", "{status}");

    // Rolled back (R18): while the new MX may still be held by resolvers, a world canary on
    // the old server passes, raises nothing, and the forward outcome is not judged.
    let append = |line: serde_json::Value| {
        use std::io::Write;
        let mut journal = std::fs::OpenOptions::new()
            .append(true)
            .open(plan.with_extension("journal"))
            .expect("open the journal");
        writeln!(journal, "{line}").expect("append");
    };
    append(serde_json::json!({
        "kind": "confirm", "at": switched.to_string(), "operator": "tester",
        "step": "add-new-mx", "evidence": []
    }));
    let out = cutover(
        &plan,
        &["rollback", "--reason", "the new server refuses every login"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    flow.world_mx(mailflow::Mx::Old);
    let out = cutover(&plan, &["canary", "--route", "world", "--timeout", "60s"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let out = cutover(&plan, &["status", "--json", "--offline"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(
        status["alarms"].as_array().map(Vec::len),
        Some(0),
        "{status}"
    );
    assert_eq!(outcome(&status)["status"], "unknown", "{status}");
    // Once the new MX was removed and its TTL passed, a canary still reaching the new server
    // raises canary-old, naming the new MX, with the old MX as its fix.
    let removed = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(10);
    append(serde_json::json!({
        "kind": "confirm", "at": removed.to_string(), "operator": "tester",
        "step": "rollback-remove-new-mx", "evidence": []
    }));
    flow.world_mx(mailflow::Mx::New);
    let out = cutover(&plan, &["canary", "--route", "world", "--timeout", "60s"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("senders still reach the new MX"),
        "{stdout}"
    );
    let out = cutover(&plan, &["status", "--json", "--offline"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(status["alarms"][0]["id"], "canary-old", "{status}");
    let fix = status["alarms"][0]["fix"]["action"].as_str().unwrap_or("");
    assert!(
        fix.starts_with("During the rollback mail must reach the old server only"),
        "{status}"
    );
}
