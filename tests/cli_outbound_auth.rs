//! `canary.outbound-auth` end to end, at the user interfaces: the new server (Postfix on
//! 127.0.0.3 with OpenDKIM signing its submission) sends the outbound canary to the external
//! server (Postfix on 127.0.0.4 with OpenDKIM verifying, delivering to its Dovecot); the
//! domain's records are served by a hickory-server zone, the plan's resolver and authority.
//! `cutover canary --route outbound --json`, `cutover status --json` and `cutover check` are
//! run as the operator runs them.
//!
//! One server setup for three cases, in the order a migration meets them: a canary sent
//! before dkim-spf-final's records were served (unknown); one sent after (pass, the
//! receiver's own verdict beside); the provider signing with another selector (fail, the
//! selector named, `cutover check` offering the `dkim_selector` line).

#[path = "support/dns_server.rs"]
mod dns_server;
#[path = "support/mailflow.rs"]
mod mailflow;
#[path = "support/opendkim.rs"]
mod opendkim;

use std::path::{Path, PathBuf};
use std::process::Output;

use dns_server::TestDns;
use mailflow::{DOMAIN, EXTERNAL_MX, MailFlow, PlanDns};
use opendkim::{OpenDkim, genkey};

/// The plan's selector (`[new] dkim_selector` of `MailFlow::write_plan`).
const PLAN_SELECTOR: &str = "sel1";
/// The selector the provider turns out to sign with in the last case.
const OTHER_SELECTOR: &str = "s2";

async fn cutover(plan: &Path, args: &[&str]) -> Output {
    let (plan, args): (PathBuf, Vec<String>) = (
        plan.to_path_buf(),
        args.iter().map(|a| a.to_string()).collect(),
    );
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args(&args)
            .arg("--plan")
            .arg(&plan)
            .env_remove("CUTOVER_PLAN")
            .output()
            .expect("run cutover")
    })
    .await
    .expect("cutover ran")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The one outbound canary of a `cutover canary --route outbound --json` run.
async fn outbound_canary(plan: &Path) -> serde_json::Value {
    let out = cutover(
        plan,
        &[
            "canary",
            "--route",
            "outbound",
            "--json",
            "--timeout",
            "60s",
        ],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let value: serde_json::Value = serde_json::from_str(&stdout).expect("canary JSON");
    let canary = value["canaries"][0].clone();
    assert_eq!(canary["route"], "outbound", "{stdout}");
    assert_eq!(canary["landed"], "external", "{stdout}");
    canary
}

/// `canary.outbound-auth` on dkim-spf-final, and `canaries[]`'s outbound entry, as
/// `cutover status --json` (online: it journals what the authoritative server serves).
async fn status(plan: &Path) -> (serde_json::Value, serde_json::Value) {
    let out = cutover(plan, &["status", "--json"]).await;
    let status: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status JSON: {e}: {}", text(&out.stderr)));
    let check = status["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["id"] == "dkim-spf-final"))
        .and_then(|s| s["checks"].as_array())
        .and_then(|checks| checks.iter().find(|c| c["id"] == "canary.outbound-auth"))
        .cloned()
        .unwrap_or_else(|| panic!("no canary.outbound-auth on dkim-spf-final: {status}"));
    let canary = status["canaries"]
        .as_array()
        .and_then(|all| all.iter().find(|c| c["route"] == "outbound"))
        .cloned()
        .unwrap_or_default();
    (check, canary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbound_canary_judges_dkim_spf_and_dmarc_of_dkim_spf_final() {
    let Some(flow) = MailFlow::start() else {
        return;
    };
    // The parents too: DMARC's tree walk asks `_dmarc.com`, answered NXDOMAIN here.
    let dns = TestDns::start_zones(&[DOMAIN, "com", "test"]).await;
    let keys = tempfile::tempdir().expect("key dir");
    let Some(key) = genkey(keys.path(), DOMAIN, PLAN_SELECTOR) else {
        return;
    };
    let other = genkey(keys.path(), DOMAIN, OTHER_SELECTOR).expect("second key");
    // dkim-spf-final's records: the key at the plan's selector, SPF naming only the new server.
    dns.set_mx(DOMAIN, 300, &[(10, "mx.new.test.")]).await;
    dns.set_txt(
        &format!("{PLAN_SELECTOR}._domainkey.{DOMAIN}"),
        300,
        &[&key.record],
    )
    .await;
    dns.set_txt(DOMAIN, 300, &["v=spf1 ip4:127.0.0.3 -all"])
        .await;
    dns.set_txt(&format!("_dmarc.{DOMAIN}"), 300, &["v=DMARC1; p=reject"])
        .await;

    // The new server signs its domain's mail; the external one verifies and writes
    // Authentication-Results as mx.ext.test.
    let signer = OpenDkim::signer(DOMAIN, &key).expect("signer");
    flow.new
        .postfix
        .set(&[("smtpd_milters", &format!("inet:127.0.0.1:{}", signer.port))]);
    let verifier = OpenDkim::verifier(EXTERNAL_MX, dns.addr, &[DOMAIN]).expect("verifier");
    flow.external.postfix.set(&[(
        "smtpd_milters",
        &format!("inet:127.0.0.1:{}", verifier.port),
    )]);
    // The external provider's hosts: its MX, and its Dovecot, which adds the top Received
    // field when it takes the message over LMTP under the machine's name.
    let machine = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .to_ascii_lowercase();
    let plan = flow.write_plan_with(
        &PlanDns {
            server: Some(dns.addr),
            external_extra: format!(
                ", authserv_id = \"{EXTERNAL_MX}\", received_by = [\"{EXTERNAL_MX}\", \"{machine}\"]"
            ),
        },
        "",
    );

    // 1. A canary sent before the records were ever seen served proves nothing about them.
    let early = outbound_canary(&plan).await;
    assert_eq!(early["dkim"]["result"], "pass", "{early}");
    let (check, _) = status(&plan).await;
    assert_eq!(check["status"], "unknown", "{check}");
    let evidence = check["evidence"].as_str().unwrap_or("");
    assert!(
        evidence.contains("no outbound canary sent since dkim-spf-final's records were served")
            && evidence.contains("cutover canary --route outbound"),
        "{check}"
    );

    // 2. Sent after: DKIM (aligned), SPF and DMARC pass, the receiver agreeing.
    let canary = outbound_canary(&plan).await;
    assert_eq!(
        canary["dkim"],
        serde_json::json!({"result": "pass", "domain": DOMAIN, "selector": PLAN_SELECTOR, "aligned": true}),
        "{canary}"
    );
    assert_eq!(
        canary["spf"],
        serde_json::json!({"result": "pass", "ip": "127.0.0.3", "domain": DOMAIN, "aligned": true}),
        "{canary}"
    );
    assert_eq!(canary["dmarc"]["result"], "pass", "{canary}");
    assert_eq!(canary["dmarc"]["policy"], "reject", "{canary}");
    assert_eq!(canary["receiver"]["authserv_id"], EXTERNAL_MX, "{canary}");
    assert_eq!(canary["receiver"]["dkim"], "pass", "{canary}");
    let (check, listed) = status(&plan).await;
    assert_eq!(check["status"], "pass", "{check}");
    assert!(
        check["evidence"]
            .as_str()
            .unwrap_or("")
            .starts_with("DKIM pass (d=example.com, s=sel1, aligned), SPF pass for 127.0.0.3"),
        "{check}"
    );
    assert_eq!(listed["token"], canary["token"], "{listed}");
    for key in ["dkim", "spf", "dmarc", "receiver"] {
        assert_eq!(listed[key], canary[key], "{key} in status: {listed}");
    }
    let out = cutover(&plan, &["check"]).await;
    assert!(
        !text(&out.stdout).contains("dkim_selector = "),
        "the plan's selector is the one used: nothing to offer\n{}",
        text(&out.stdout)
    );

    // 3. The provider signs with another selector, whose key nobody published.
    let resigner = OpenDkim::signer(DOMAIN, &other).expect("second signer");
    flow.new.postfix.set(&[(
        "smtpd_milters",
        &format!("inet:127.0.0.1:{}", resigner.port),
    )]);
    drop(signer);
    let canary = outbound_canary(&plan).await;
    assert_eq!(canary["dkim"]["result"], "permerror", "{canary}");
    assert_eq!(canary["dkim"]["selector"], OTHER_SELECTOR, "{canary}");
    assert_eq!(canary["dkim"]["aligned"], false, "{canary}");
    let (check, _) = status(&plan).await;
    assert_eq!(check["status"], "fail", "{check}");
    let evidence = check["evidence"].as_str().unwrap_or("");
    assert!(
        evidence.contains("DKIM permerror for selector s2 (d=example.com): no key is published at s2._domainkey.example.com")
            && evidence.contains("s2._domainkey.example.com. TXT \"v=DKIM1; k=<its key type, rsa or ed25519>; p=")
            && evidence.contains("put `dkim_selector = \"s2\"` in [new]"),
        "{check}"
    );
    let out = cutover(&plan, &["check"]).await;
    let shown = text(&out.stdout);
    assert!(
        shown.contains("the last outbound canary was signed with DKIM selector s2: put this line in [new]:\n    dkim_selector = \"s2\"\n")
            && shown.contains("and publish its key (the provider shows it): s2._domainkey.example.com. TXT"),
        "{shown}\n{}",
        text(&out.stderr)
    );

    // `status` (text) shows it under the outbound canary, beside the receiver's verdict.
    let out = cutover(&plan, &["status", "--offline"]).await;
    let shown = text(&out.stdout);
    assert!(
        shown.contains("    DKIM permerror (d=example.com, s=s2, not aligned): no key is published at s2._domainkey.example.com\n")
            && shown.contains("    the receiver (mx.ext.test) wrote dkim="),
        "{shown}"
    );

    // The report's canary section shows each outbound canary's verdict.
    let out = cutover(&plan, &["report", "--format", "md"]).await;
    let report = text(&out.stdout);
    assert!(
        report.contains(
            "Authentication of the outbound canaries, as received at the external mailbox:"
        ),
        "{report}"
    );
    assert!(
        report.contains("DKIM pass (d=example.com, s=sel1, aligned); SPF pass for 127.0.0.3 at example.com (aligned); DMARC pass (policy reject); mx.ext.test wrote dkim=pass"),
        "{report}"
    );
    assert!(
        report.contains("DKIM permerror (d=example.com, s=s2, not aligned)"),
        "{report}"
    );
}
