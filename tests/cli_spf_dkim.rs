//! SPF and DKIM judged to their RFCs against a real DNS server on loopback
//! (hickory-server, serving the domain and its includes' zones): what
//! `cutover status --json` shows in `dns.spf` and `dns.dkim`, and
//! `cutover confirm` refusing `spf-add-new` over an 11-deep include chain and
//! `dkim-spf-final` over a key cut off at the DNS host.

#[path = "support/dns_server.rs"]
mod dns_server;
#[path = "support/plans.rs"]
mod plans;

use cutover::step::StepId;
use std::path::Path;
use std::process::Output;

use dns_server::TestDns;
use serde_json::Value;

const APEX: &str = "example.com.";
/// A whole 2048-bit RSA public key (SubjectPublicKeyInfo, generated with openssl).
const KEY_2048: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu7i/VdKAwOIDU1TVdkHhRe3i8T+7x3ZxK76HGL9mwfEI/M/XhyhVQFBJR+M+cOfnrG2SQ364crZHb3oi5SWXurqUPSPiXHcyn0louDIM3b7YoQlCdE4sFmEB5V1esWZgIgCWeRt+ui84Eze4h8/kYxT2iy1UZ4VOzG65r+RpzA8VaKmjFnJ/69A5IHsxWqiPeo21R6OMo3Qwp7Qdi0ZI/Fu+rjy6RTQMe3uB3uAhI9DUyWOO3K+u6VDuCz2lGeiQe5e/XJ/VExEifAwVW5BJbPOx1CGVggSbJV2HxqlUljgN6GnmNu5UgsTQTilvsWt6Jb714zApJGu7hHbqcx4jCwIDAQAB";
const MERGED_SPF: &str = "v=spf1 include:_spf.old.example include:_spf.new.example ~all";
const FINAL_SPF: &str = "v=spf1 include:_spf.new.example ~all";

/// The plan with this one server as both resolver and authoritative server.
fn plan_text(server: &str) -> String {
    plans::PLAN.replace(
        "resolvers = [\"127.0.0.1:9\"]\nauthoritative = [\"127.0.0.1:9\"]",
        &format!("resolvers = [\"{server}\"]\nauthoritative = [\"{server}\"]"),
    )
}

async fn cutover(plan: &Path, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_cutover"));
    cmd.args(args)
        .arg("--plan")
        .arg(plan)
        .env_remove("CUTOVER_PLAN");
    cmd.output().await.expect("run cutover")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn status(plan: &Path) -> Value {
    let out = cutover(plan, &["status", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("status --json is JSON")
}

fn check<'a>(status: &'a Value, step: &str, id: &str) -> &'a Value {
    status["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["id"] == step))
        .and_then(|s| s["checks"].as_array())
        .and_then(|checks| checks.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("{step} has no check {id}: {status:#}"))
}

/// The domain with the old MX, and the zones its SPF includes live in.
async fn server() -> TestDns {
    let dns = TestDns::start_zones(&[APEX, "old.example.", "new.example."]).await;
    dns.set_mx(
        APEX,
        300,
        &[(10, "mx1.old.example."), (20, "mx2.old.example.")],
    )
    .await;
    dns.set_txt("_spf.old.example.", 300, &["v=spf1 ip4:192.0.2.0/24 -all"])
        .await;
    dns.set_txt(
        "_spf.new.example.",
        300,
        &["v=spf1 ip4:198.51.100.0/24 -all"],
    )
    .await;
    dns
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_11_deep_include_chain_fails_and_spf_add_new_is_refused() {
    let dns = server().await;
    dns.set_txt(APEX, 300, &[MERGED_SPF]).await;
    // _spf.new.example -> l1 -> ... -> l10: eleven includes deep, twelve lookups in all.
    dns.set_txt(
        "_spf.new.example.",
        300,
        &["v=spf1 include:l1.new.example -all"],
    )
    .await;
    for level in 1..10 {
        let record = format!("v=spf1 include:l{}.new.example -all", level + 1);
        dns.set_txt(&format!("l{level}.new.example."), 300, &[&record])
            .await;
    }
    dns.set_txt(
        "l10.new.example.",
        300,
        &["v=spf1 ip4:198.51.100.0/24 -all"],
    )
    .await;
    let (_dir, plan) = plans::write_plan(&plan_text(&dns.addr.to_string()));

    let v = status(&plan).await;
    let spf = &v["dns"]["spf"];
    assert_eq!(spf["valid"], false, "{spf:#}");
    assert!(spf["lookups"].as_u64().is_some_and(|n| n > 10), "{spf:#}");
    assert_eq!(spf["void_lookups"], 0, "{spf:#}");
    let error = &spf["errors"][0];
    assert_eq!(error["term"], "include:_spf.new.example", "{spf:#}");
    assert_eq!(error["position"], 2, "{spf:#}");
    assert!(error["reason"].is_string(), "{spf:#}");
    assert_eq!(check(&v, "spf-add-new", "spf-lookups")["status"], "fail");
    // Both servers are named, so only the limit is wrong.
    assert_eq!(
        check(&v, "spf-add-new", "spf-old-and-new")["status"],
        "pass"
    );

    let out = cutover(&plan, &["confirm", "spf-add-new"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let refusal = text(&out);
    let line = refusal
        .lines()
        .find(|l| l.contains("spf-lookups (fail)"))
        .unwrap_or_else(|| panic!("no spf-lookups line: {refusal}"));
    assert!(
        line.contains("term 2 \"include:_spf.new.example\""),
        "{refusal}"
    );

    let out = cutover(&plan, &["dns", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let dns_json: Value = serde_json::from_slice(&out.stdout).expect("dns --json");
    assert_eq!(dns_json["spf"], *spf, "dns --json shows the same judgement");

    // The record to paste says the merge is over the limit and what costs most.
    let parsed = plans::plan_from(&plan_text(&dns.addr.to_string()));
    let clock = cutover::clock::ManualClock::new("2026-12-07T09:00:00Z".parse().expect("time"));
    let round = cutover::dns::one_round(&parsed, &clock).await;
    let paste = cutover::dns::records_to_paste(&StepId::SpfAddNew, &parsed, Some(&round));
    assert_eq!(
        paste[0],
        format!("example.com. 300 IN TXT \"{MERGED_SPF}\"")
    );
    let note = paste
        .iter()
        .find(|l| l.starts_with("; This record needs at least"))
        .unwrap_or_else(|| panic!("no over-limit note: {paste:#?}"));
    assert!(
        note.contains("The largest includes: include:_spf.new.example (at least 11 lookups), include:_spf.old.example (1 lookup)"),
        "{note}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_dkim_key_fails_dkim_spf_final_and_a_whole_key_passes() {
    let dns = server().await;
    dns.set_txt(APEX, 300, &[FINAL_SPF]).await;
    // The DNS host kept the first 255 characters of the value.
    let cut = format!("v=DKIM1; k=rsa; p={KEY_2048}");
    dns.set_txt("sel1._domainkey.example.com.", 300, &[&cut[..255]])
        .await;
    let (_dir, plan) = plans::write_plan(&plan_text(&dns.addr.to_string()));

    let v = status(&plan).await;
    let dkim = &v["dns"]["dkim"];
    assert_eq!(dkim["valid"], false, "{dkim:#}");
    assert_eq!(dkim["key_type"], "rsa", "{dkim:#}");
    assert!(dkim["key_bits"].is_null(), "{dkim:#}");
    assert_eq!(dkim["testing"], false, "{dkim:#}");
    assert!(
        dkim["errors"][0]
            .as_str()
            .is_some_and(|e| e.starts_with("the key is cut off")),
        "{dkim:#}"
    );
    let spf = &v["dns"]["spf"];
    assert_eq!(spf["valid"], true, "{spf:#}");
    assert_eq!(spf["lookups"], 1, "{spf:#}");
    assert_eq!(spf["errors"], serde_json::json!([]), "{spf:#}");

    let out = cutover(&plan, &["confirm", "dkim-spf-final"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let refusal = text(&out);
    let line = refusal
        .lines()
        .find(|l| l.contains("dkim-valid (fail)"))
        .unwrap_or_else(|| panic!("no dkim-valid line: {refusal}"));
    assert!(
        line.contains("the key is cut off")
            && line.contains("paste the whole value (it was cut at 237 characters)"),
        "{refusal}"
    );

    // The operator pastes the whole key.
    dns.set_txt("sel1._domainkey.example.com.", 300, &[&cut])
        .await;
    let v = status(&plan).await;
    assert_eq!(
        v["dns"]["dkim"],
        serde_json::json!({
            "valid": true,
            "key_type": "rsa",
            "key_bits": 2048,
            "testing": false,
            "errors": [],
        })
    );
    let dkim_check = check(&v, "dkim-spf-final", "dkim-valid");
    assert_eq!(dkim_check["status"], "pass", "{dkim_check:#}");
    // Only the earlier steps, not done in this test, still stand in the way.
    let out = cutover(&plan, &["confirm", "dkim-spf-final"]).await;
    let refusal = text(&out);
    assert!(!refusal.contains("dkim-valid ("), "{refusal}");
    let blockers: Vec<&str> = refusal
        .lines()
        .filter(|l| l.starts_with("  ") && l.contains(" ("))
        .collect();
    assert!(
        blockers.iter().all(|l| l.contains(" done:")),
        "only step-order checks block: {refusal}"
    );
}
