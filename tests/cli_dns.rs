//! `cutover status` and `cutover dns` against a real authoritative DNS server on loopback
//! (hickory-server in this test): the JSON keys scripts rely on, first-seen facts in the
//! journal, and `lower-ttl` confirmed only once the lowered TTL is actually served.

#[path = "support/dns_server.rs"]
mod dns_server;
#[path = "support/plans.rs"]
mod plans;

use std::path::Path;
use std::process::Output;

use cutover::journal::{Entry, Journal};
use dns_server::TestDns;

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

fn check<'a>(status: &'a serde_json::Value, step: &str, id: &str) -> &'a serde_json::Value {
    status["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["id"] == step))
        .and_then(|s| s["checks"].as_array())
        .and_then(|checks| checks.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("{step} has no check {id}: {status:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_measures_dns_journals_facts_and_gates_lower_ttl() {
    let dns = TestDns::start("example.com.").await;
    dns.set_mx(
        "example.com.",
        86_400,
        &[(10, "mx1.old.example."), (20, "mx2.old.example.")],
    )
    .await;
    dns.set_txt(
        "example.com.",
        86_400,
        &["v=spf1 include:_spf.old.example ~all"],
    )
    .await;
    dns.set_a("example.com.", 3_600, &["192.0.2.10"]).await;
    let addr = dns.addr.to_string();
    let (_dir, plan) = plans::write_plan(&plan_text(&addr));

    let out = cutover(&plan, &["status", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let servers = v["dns"]["servers"].as_array().expect("dns.servers");
    let auth = servers
        .iter()
        .find(|s| s["role"] == "authoritative")
        .expect("authoritative");
    assert_eq!(auth["address"], addr.as_str());
    let mx = auth["answers"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|x| x["type"] == "MX" && x["name"] == "example.com.")
        })
        .expect("MX answer");
    assert_eq!(mx["status"], "ok");
    assert_eq!(mx["ttl"], 86_400);
    assert!(mx["records"].as_array().is_some_and(|r| r.len() == 2));
    assert!(mx["measured_at"].is_string() && mx["latency_ms"].is_number());
    assert_eq!(check(&v, "lower-ttl", "mx-ttl-lowered")["status"], "fail");
    // A higher TTL before the change is marked made says nothing about the DNS host yet.
    let honoured = check(&v, "lower-ttl", "ttl-honoured");
    assert_eq!(honoured["status"], "unknown", "{honoured:#}");
    assert!(
        honoured["evidence"]
            .as_str()
            .is_some_and(|e| e.contains("Not marked as applied yet")),
        "{honoured:#}"
    );

    // The first-seen TTLs are the baseline of R1 and R4.
    let journal = Journal::open(Journal::path_for_plan(&plan)).expect("journal");
    let facts: Vec<String> = journal
        .replay()
        .expect("replay")
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Fact { key, .. } => Some(key.clone()),
            _ => None,
        })
        .collect();
    assert!(facts.contains(&"ttl-baseline".to_string()), "{facts:?}");

    // Not lowered yet: confirming is refused with the served TTL as evidence.
    let out = cutover(&plan, &["confirm", "lower-ttl"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("mx-ttl-lowered (fail)"),
        "{}",
        text(&out)
    );

    // The operator lowers MX and TXT at the DNS host.
    dns.set_mx(
        "example.com.",
        300,
        &[(10, "mx1.old.example."), (20, "mx2.old.example.")],
    )
    .await;
    dns.set_txt(
        "example.com.",
        300,
        &["v=spf1 include:_spf.old.example ~all"],
    )
    .await;
    let out = cutover(&plan, &["status", "--json"]).await;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(check(&v, "lower-ttl", "mx-ttl-lowered")["status"], "pass");
    assert_eq!(check(&v, "lower-ttl", "txt-ttl-lowered")["status"], "pass");
    // ttl-wait now counts down from the moment the lowered TTL was first served everywhere.
    let wait = check(&v, "ttl-wait", "old-ttl-expired");
    assert_eq!(wait["status"], "fail");
    assert!(wait["until"].is_string(), "{wait:#}");
    // Every authoritative server serves the migration TTL: the DNS host honours it, whether
    // or not the change was marked made (no ceremony without information).
    let honoured = check(&v, "lower-ttl", "ttl-honoured");
    assert_eq!(honoured["status"], "pass", "{honoured:#}");

    // So `confirm lower-ttl` needs no `applied` first.
    let out = cutover(&plan, &["confirm", "lower-ttl"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let entries = journal.replay().expect("replay").entries;
    assert!(
        entries
            .iter()
            .any(|e| matches!(e, Entry::Fact { key, .. } if key == "ttl-lowered"))
    );
    let confirmed = entries.iter().find_map(|e| match e {
        Entry::Confirm { step, evidence, .. } if step == "lower-ttl" => Some(evidence.clone()),
        _ => None,
    });
    let evidence = confirmed.expect("the confirmation is journaled");
    assert!(
        evidence
            .iter()
            .any(|c| c.id == "mx-ttl-lowered" && c.evidence.contains("at most 5 min")),
        "{evidence:?}"
    );

    // At the confirmation, what the authoritative server served is journaled, TTLs included.
    let served = entries
        .iter()
        .find_map(|e| match e {
            Entry::Fact { key, value, .. } if key == "dns-records" => Some(value.clone()),
            _ => None,
        })
        .expect("the records served at lower-ttl's confirmation are journaled");
    assert_eq!(served["step"], "lower-ttl", "{served:#}");
    let records = served["servers"][addr.as_str()]
        .as_array()
        .unwrap_or_else(|| panic!("records of {addr}: {served:#}"));
    for (rtype, data) in [
        ("MX", "10 mx1.old.example."),
        ("MX", "20 mx2.old.example."),
        ("TXT", "v=spf1 include:_spf.old.example ~all"),
    ] {
        assert!(
            records.iter().any(|r| r["name"] == "example.com."
                && r["type"] == rtype
                && r["ttl"] == 300
                && r["data"] == data),
            "{rtype} {data} at TTL 300 in {served:#}"
        );
    }

    // The report's DNS section shows them as served, not "not recorded".
    let out = cutover(&plan, &["report", "--format", "md"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let md = String::from_utf8_lossy(&out.stdout);
    let lowered = md
        .split("### ")
        .find(|s| s.starts_with("TTLs lowered"))
        .unwrap_or_else(|| panic!("a lowered stage in {md}"));
    assert!(
        lowered.contains(&format!(
            "| {addr} | example.com. | MX | 300 | 10 mx1.old.example. |"
        )),
        "{lowered}"
    );
    assert!(
        lowered.contains(&format!(
            "| {addr} | example.com. | TXT | 300 | v=spf1 include:\\_spf.old.example ~all |"
        )),
        "{lowered}"
    );
    assert!(!lowered.contains("Not recorded"), "{lowered}");

    // The matrix shows the served TTLs.
    let out = cutover(&plan, &["dns"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let matrix = String::from_utf8_lossy(&out.stdout);
    assert!(matrix.contains("MX"), "{matrix}");
    assert!(matrix.contains("300"), "{matrix}");
    dns.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_dns_server_still_gives_a_status_within_about_one_timeout() {
    // Nothing listens on port 9: every query is unreachable or times out, and status still answers.
    let (_dir, plan) = plans::write_plan(plans::PLAN);
    let started = std::time::Instant::now();
    let out = cutover(&plan, &["status", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let answers = v["dns"]["servers"][0]["answers"]
        .as_array()
        .expect("answers");
    assert!(
        answers
            .iter()
            .all(|a| a["status"] == "unreachable" || a["status"] == "timeout"),
        "{answers:#?}"
    );
    // Nothing measured is never green.
    assert_eq!(
        check(&v, "lower-ttl", "mx-ttl-lowered")["status"],
        "unknown"
    );
}

/// The old MX deleted before the new one is served: `status` leads with the `mx-empty`
/// alarm and the records that put the old MX back, confirming a held step is refused,
/// and once the MX is served again the alarm clears (both journaled).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_mx_set_raises_an_alarm_that_leads_until_the_mx_is_back() {
    let dns = TestDns::start("example.com.").await;
    let old_mx = [(10, "mx1.old.example."), (20, "mx2.old.example.")];
    dns.set_mx("example.com.", 300, &old_mx).await;
    dns.set_txt(
        "example.com.",
        300,
        &["v=spf1 include:_spf.old.example ~all"],
    )
    .await;
    dns.set_a("example.com.", 3_600, &["192.0.2.10"]).await;
    let (_dir, plan) = plans::write_plan(&plan_text(&dns.addr.to_string()));

    let out = cutover(&plan, &["status", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["alarms"], serde_json::json!([]));
    assert!(v["next"]["alarm"].is_null());

    dns.delete("example.com.", hickory_server::proto::rr::RecordType::MX)
        .await;
    let out = cutover(&plan, &["status"]).await;
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(shown.starts_with("ALARM mx-empty since "), "{shown}");
    let first_lines: String = shown.lines().take(4).collect::<Vec<_>>().join("\n");
    assert!(
        first_lines.contains("Put the old MX back now")
            && first_lines.contains("example.com. 300 IN MX 10 mx1.old.example."),
        "{shown}"
    );
    assert!(
        shown.find("ALARM").unwrap() < shown.find("Steps").unwrap(),
        "{shown}"
    );

    let out = cutover(&plan, &["status", "--json"]).await;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let alarms = v["alarms"].as_array().expect("alarms[]");
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    assert_eq!(alarms[0]["id"], "mx-empty");
    assert!(
        alarms[0]["since"]
            .as_str()
            .is_some_and(|s| s.parse::<jiff::Timestamp>().is_ok()),
        "{alarms:?}"
    );
    assert!(
        alarms[0]["evidence"]
            .as_str()
            .is_some_and(|e| e.contains("serves no MX record for example.com")),
        "{alarms:?}"
    );
    let old_records = [
        "example.com. 300 IN MX 10 mx1.old.example.",
        "example.com. 300 IN MX 20 mx2.old.example.",
    ];
    assert_eq!(alarms[0]["fix"]["records"], serde_json::json!(old_records));
    assert_eq!(v["next"]["alarm"], "mx-empty");
    assert_eq!(v["next"]["records"], serde_json::json!(old_records));
    assert!(
        v["next"]["actions"][0].as_str().is_some_and(|a| a
            .starts_with("Put the old MX back now: `example.com. 300 IN MX 10 mx1.old.example.`")),
        "{}",
        v["next"]
    );

    // A step the alarm holds back is refused without --override, naming the alarm.
    let out = cutover(&plan, &["confirm", "add-new-mx"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("alarm:mx-empty"), "{}", text(&out));

    dns.set_mx("example.com.", 300, &old_mx).await;
    let out = cutover(&plan, &["status", "--json"]).await;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["alarms"], serde_json::json!([]), "{}", v["alarms"]);
    assert!(v["next"]["alarm"].is_null());
    let out = cutover(&plan, &["status"]).await;
    assert!(!String::from_utf8_lossy(&out.stdout).contains("ALARM"));

    let facts: Vec<(String, serde_json::Value)> = Journal::open(Journal::path_for_plan(&plan))
        .expect("journal")
        .replay()
        .expect("replay")
        .entries
        .into_iter()
        .filter_map(|e| match e {
            Entry::Fact { key, value, .. } if key.starts_with("alarm-") => Some((key, value)),
            _ => None,
        })
        .collect();
    assert_eq!(
        facts,
        [
            (
                "alarm-raised".to_string(),
                serde_json::json!({"id": "mx-empty"})
            ),
            (
                "alarm-cleared".to_string(),
                serde_json::json!({"id": "mx-empty"})
            ),
        ]
    );
    dns.stop().await;
}

/// One watched resolver never answers, another still caches the 24 h MX from before the
/// lowering (a caching resolver on a paused simulated clock, as the rehearsal's public
/// resolvers are, fed by the test's authoritative server): `resolvers-ttl-low` carries when
/// that cache runs out and names the silent one, and `ttl-wait` is `waiting` until then in
/// `steps[]`, `next` and the status text, not `blocked` with no end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_resolver_does_not_hide_when_the_ttl_wait_ends() {
    use jiff::{SignedDuration, Timestamp};
    let dns = TestDns::start("example.com.").await;
    dns.set_mx(
        "example.com.",
        86_400,
        &[(10, "mx1.old.example."), (20, "mx2.old.example.")],
    )
    .await;
    dns.set_txt(
        "example.com.",
        86_400,
        &["v=spf1 include:_spf.old.example ~all"],
    )
    .await;
    let clock = cutover::sandbox::clock::SimClock::new(Timestamp::now(), 1.0);
    clock.pause();
    let caching = cutover::sandbox::resolver::CachingResolver::start(
        "caching",
        &"example.com.".parse().expect("name"),
        dns.addr,
        clock.clone(),
    )
    .await
    .expect("caching resolver");
    let silent = dns_server::BlackHole::start();

    let now = Timestamp::now();
    let start = now
        .checked_sub(SignedDuration::from_hours(30))
        .unwrap()
        .round(jiff::Unit::Minute)
        .unwrap()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC);
    let text_plan = plans::PLAN
        .replace(
            "start = \"2026-12-07T09:00\"",
            &format!("start = \"{}\"", start.strftime("%Y-%m-%dT%H:%M")),
        )
        .replace(
            "timezone = \"Europe/Vilnius\"",
            "timezone = \"UTC\"\nworking_days = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"]",
        )
        .replace(
            "resolvers = [\"127.0.0.1:9\"]\nauthoritative = [\"127.0.0.1:9\"]",
            &format!(
                "resolvers = [\"{}\", \"{}\"]\nauthoritative = [\"{}\"]\nold_ttl = 86400",
                caching.addr(),
                silent.addr,
                dns.addr
            ),
        );
    let (_dir, plan) = plans::write_plan(&text_plan);

    // Before the lowering: the caching resolver takes the MX with its 24 h TTL.
    let out = cutover(&plan, &["status", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        caching.upstream_queries() > 0,
        "the caching resolver was asked"
    );
    clock.skip(SignedDuration::from_mins(1));

    // The TTL was lowered 25 h ago (the journal says so) and the steps before the wait are done.
    dns.set_mx(
        "example.com.",
        300,
        &[(10, "mx1.old.example."), (20, "mx2.old.example.")],
    )
    .await;
    dns.set_txt(
        "example.com.",
        300,
        &["v=spf1 include:_spf.old.example ~all"],
    )
    .await;
    let lowered = now.checked_sub(SignedDuration::from_hours(25)).unwrap();
    let journal = Journal::open(Journal::path_for_plan(&plan)).expect("journal");
    for step in [
        "lower-ttl",
        "spf-add-new",
        "new-server-ready",
        "users-connected",
        "clients-configured",
        "pop3-fetch",
    ] {
        journal
            .append(&Entry::Override {
                at: lowered,
                operator: "tester".into(),
                step: step.into(),
                mailbox: None,
                reason: "test".into(),
                evidence: vec![],
            })
            .expect("append");
    }
    journal
        .append(&Entry::Fact {
            at: lowered,
            key: "ttl-lowered".into(),
            value: serde_json::json!({"mx_ttl": 300, "txt_ttl": 300, "servers": 1}),
            evidence: "MX and TXT served with TTL 300 by 1 of 1 authoritative servers".into(),
        })
        .expect("append");

    let asked = Timestamp::now();
    let out = cutover(&plan, &["status", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let at = |v: &serde_json::Value| v.as_str().and_then(|s| s.parse::<Timestamp>().ok());
    let low = check(&v, "ttl-wait", "resolvers-ttl-low");
    assert_eq!(low["status"], "fail", "{low:#}");
    let evidence = low["evidence"].as_str().expect("evidence");
    assert!(
        evidence.contains(&format!(
            "Resolver {} still holds the MX with 23 h 59 min to go",
            caching.addr()
        )),
        "{evidence}"
    );
    assert!(
        evidence.contains(&format!(
            "resolver {} gave no usable answer (no answer in time)",
            silent.addr
        )),
        "{evidence}"
    );
    // The cache runs out 23 h 59 min after it was measured.
    let until = at(&low["until"]).unwrap_or_else(|| panic!("until: {low:#}"));
    let left = SignedDuration::from_secs(86_340);
    assert!(
        until
            >= asked
                .checked_add(left)
                .unwrap()
                .round(jiff::Unit::Second)
                .unwrap()
                - SignedDuration::from_secs(1)
            && until <= Timestamp::now().checked_add(left).unwrap(),
        "{until}"
    );
    assert_eq!(check(&v, "ttl-wait", "old-ttl-expired")["status"], "pass");
    let step = v["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == "ttl-wait"))
        .expect("ttl-wait");
    assert_eq!(step["state"], "waiting", "{step:#}");
    assert_eq!(at(&step["wait_until"]), Some(until), "{step:#}");
    assert_eq!(v["next"]["step"], "ttl-wait", "{:#}", v["next"]);
    assert_eq!(at(&v["next"]["wait_until"]), Some(until), "{:#}", v["next"]);

    let shown = until
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .strftime("%a %-d %b %H:%M UTC")
        .to_string();
    let status = text(&cutover(&plan, &["status"]).await);
    assert!(
        status.contains(&format!("Waiting until {shown}")),
        "{shown}\n{status}"
    );
    dns.stop().await;
}
