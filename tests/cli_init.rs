//! `cutover init --discover` against a real authoritative DNS server on loopback
//! (hickory-server), and `cutover init --to/--from` from the provider presets: the plan
//! written matches the zone (or the preset) and `cutover check` accepts it as written.

#[path = "support/dns_server.rs"]
mod dns_server;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use cutover::dns::discover::{DiscoverOptions, discover};
use dns_server::TestDns;
use hickory_server::proto::rr::rdata::CNAME;
use hickory_server::proto::rr::{Name, RData, RecordType};

async fn cutover(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .env_remove("CUTOVER_PLAN")
        .output()
        .await
        .expect("run cutover")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// `cutover check` on the file, which must pass; then the plan as loaded.
async fn checked(plan: &Path) -> cutover::plan::Plan {
    let out = cutover(&["check", "--plan", path(plan)]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "check refused the written plan:\n{}\n{}",
        text(&out),
        std::fs::read_to_string(plan).unwrap_or_default()
    );
    cutover::plan::load(plan).expect("loads").plan
}

/// example.com with two MX at an old host, an SPF record with the old host's terms, an
/// address no MX host has and a newsletter service's include, and DKIM keys at `default`
/// (TXT), `selector1` (CNAME in the zone) and `fm1` (CNAME to another zone). The same
/// server serves the old host's zone and the DKIM provider's, so a resolver pointed at
/// it finds the MX hosts' addresses and the CNAME's target.
async fn old_host_zone() -> TestDns {
    let dns =
        TestDns::start_zones(&["example.com.", "oldhost.example.", "dkimhost.example."]).await;
    dns.set_a("mx1.oldhost.example.", 3_600, &["198.51.100.7"])
        .await;
    dns.set_mx(
        "example.com.",
        86_400,
        &[(10, "mx1.oldhost.example."), (20, "mx2.oldhost.example.")],
    )
    .await;
    dns.set_txt(
        "example.com.",
        3_600,
        &[
            "v=spf1 mx include:_spf.oldhost.example ip4:198.51.100.7 ip4:203.0.113.9 include:servers.mcsv.net ~all",
            "google-site-verification=abc",
        ],
    )
    .await;
    dns.set_txt("_dmarc.example.com.", 3_600, &["v=DMARC1; p=none"])
        .await;
    dns.set_a("example.com.", 3_600, &["192.0.2.10"]).await;
    dns.set_txt(
        "default._domainkey.example.com.",
        3_600,
        &["v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC"],
    )
    .await;
    let target = Name::from_ascii("selector1-example-com._domainkey.example.com.").unwrap();
    dns.set(
        "selector1._domainkey.example.com.",
        RecordType::CNAME,
        3_600,
        vec![RData::CNAME(CNAME(target))],
    )
    .await;
    dns.set_txt(
        "selector1-example-com._domainkey.example.com.",
        3_600,
        &["v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"],
    )
    .await;
    let outside = Name::from_ascii("fm1.example.com.dkimhost.example.").unwrap();
    dns.set(
        "fm1._domainkey.example.com.",
        RecordType::CNAME,
        3_600,
        vec![RData::CNAME(CNAME(outside))],
    )
    .await;
    dns.set_txt(
        "fm1.example.com.dkimhost.example.",
        3_600,
        &["v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQD"],
    )
    .await;
    dns
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discover_writes_old_from_the_zone_and_check_accepts_it() {
    let dns = old_host_zone().await;
    let addr = dns.addr.to_string();
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("cutover.toml");

    // --resolver to the same server: names outside the zone get a quick REFUSED there
    // rather than a wait on whatever /etc/resolv.conf names.
    let out = cutover(&[
        "init",
        "--domain",
        "example.com",
        "--discover",
        "--authoritative",
        &addr,
        "--resolver",
        &addr,
        "--to",
        "microsoft-365",
        "-o",
        path(&plan),
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let written = std::fs::read_to_string(&plan).unwrap();
    let p = checked(&plan).await;

    let mx: Vec<String> = p.old.mx.iter().map(|m| m.to_string()).collect();
    assert_eq!(
        mx,
        ["10 mx1.oldhost.example.", "20 mx2.oldhost.example."],
        "{written}"
    );
    // Only the old host's terms; the newsletter service's include stays, named in a comment.
    assert_eq!(
        p.old.spf,
        ["mx", "include:_spf.oldhost.example", "ip4:198.51.100.7"],
        "{written}"
    );
    let unknown = written
        .lines()
        .find(|l| l.contains("cannot tell"))
        .unwrap_or_else(|| panic!("no comment on the terms left out:\n{written}"));
    assert!(unknown.contains("ip4:203.0.113.9"), "{unknown}");
    let stays = written
        .lines()
        .find(|l| l.contains("untouched"))
        .unwrap_or_else(|| panic!("no comment on the terms that stay:\n{written}"));
    assert!(stays.contains("include:servers.mcsv.net"), "{stays}");
    assert_eq!(p.dns.authoritative, [dns.addr]);
    assert_eq!(p.dns.old_ttl, Some(86_400), "the MX TTL, above 5 min");
    assert!(
        written.contains("# DKIM selector selector1: CNAME to selector1-example-com._domainkey.example.com., key found there"),
        "{written}"
    );
    assert!(
        written.contains("# DKIM selector default: TXT key"),
        "{written}"
    );
    assert!(
        written.contains(
            "# DKIM selector fm1: CNAME to fm1.example.com.dkimhost.example., key found there"
        ),
        "{written}"
    );
    assert!(written.contains("v=DMARC1; p=none"), "{written}");
    // --to fills [new] at the same time.
    assert_eq!(p.new.name, "Microsoft 365");
    assert_eq!(p.new.mx[0].host, "example-com.mail.protection.outlook.com.");
    dns.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lowered_ttl_leaves_old_ttl_unset_and_says_so() {
    let dns = TestDns::start("example.com.").await;
    dns.set_mx("example.com.", 300, &[(1, "aspmx.l.google.com.")])
        .await;
    dns.set_txt(
        "example.com.",
        300,
        &["v=spf1 include:_spf.google.com include:mail.zendesk.com ~all"],
    )
    .await;
    let addr = dns.addr.to_string();
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("cutover.toml");
    let out = cutover(&[
        "init",
        "--domain",
        "example.com",
        "--discover",
        "--authoritative",
        &addr,
        "--resolver",
        &addr,
        "-o",
        path(&plan),
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let written = std::fs::read_to_string(&plan).unwrap();
    let p = checked(&plan).await;
    assert_eq!(p.dns.old_ttl, None, "{written}");
    assert!(written.contains("24 h will be assumed"), "{written}");
    // The MX hosts point at Google: its include is the old host's, Zendesk's stays.
    assert_eq!(p.old.spf, ["include:_spf.google.com"]);
    assert_eq!(p.old.name, "Google Workspace");
    assert!(
        written.contains("# MX host aspmx.l.google.com.: Google Workspace"),
        "{written}"
    );
    dns.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nxdomain_exits_1_and_writes_nothing() {
    let dns = old_host_zone().await;
    let addr = dns.addr.to_string();
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("cutover.toml");
    let out = cutover(&[
        "init",
        "--domain",
        "nosuch.example.com",
        "--discover",
        "--authoritative",
        &addr,
        "-o",
        path(&plan),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nosuch.example.com does not exist"), "{err}");
    assert!(!plan.exists(), "a plan was written");
    dns.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_exits_1_and_writes_nothing() {
    // A port nothing listens on: the question is refused by the system at once.
    let closed: SocketAddr = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("cutover.toml");
    let out = cutover(&[
        "init",
        "--domain",
        "example.com",
        "--discover",
        "--authoritative",
        &closed.to_string(),
        "-o",
        path(&plan),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no authoritative server answered"),
        "{}",
        text(&out)
    );
    assert!(!plan.exists(), "a plan was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ns_are_found_through_the_resolver() {
    let dns = old_host_zone().await;
    dns.set_a("ns1.example.com.", 3_600, &["127.0.0.1"]).await;

    // The library with the NS asked on the test server's port: the whole path from the
    // resolver to the authoritative answers.
    let mut options = DiscoverOptions::new(vec![dns.addr], vec![]);
    options.ns_port = dns.addr.port();
    options.timeout = Duration::from_secs(2);
    let d = discover("example.com", &options).await.expect("discovered");
    assert_eq!(d.ns.len(), 1, "{:?}", d.ns);
    assert_eq!(d.ns[0].name, "ns1.example.com.");
    assert_eq!(
        d.ns[0].addresses,
        ["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(d.servers, [dns.addr]);
    assert!(!d.servers_given);
    assert_eq!(d.mx.as_ref().map(|m| m.records.len()), Some(2));

    // The command asks the NS on port 53; the NS it found is named in what it says.
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("cutover.toml");
    let out = cutover(&[
        "init",
        "--domain",
        "example.com",
        "--discover",
        "--resolver",
        &dns.addr.to_string(),
        "-o",
        path(&plan),
    ])
    .await;
    if out.status.code() == Some(0) {
        // Something answers on 127.0.0.1:53 here: then the plan names it.
        let p = checked(&plan).await;
        assert_eq!(p.dns.authoritative, ["127.0.0.1:53".parse().unwrap()]);
    } else {
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains("127.0.0.1:53"), "{}", text(&out));
        assert!(!plan.exists());
    }

    // An unknown domain through the resolver: NXDOMAIN, exit 1.
    let out = cutover(&[
        "init",
        "--domain",
        "nosuch.example.com",
        "--discover",
        "--resolver",
        &dns.addr.to_string(),
        "-o",
        path(&plan),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("does not exist"), "{}", text(&out));
    dns.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presets_fill_new_and_old_and_pass_check() {
    let dir = tempfile::tempdir().unwrap();

    let m365 = dir.path().join("m365.toml");
    let out = cutover(&[
        "init",
        "--domain",
        "example.com",
        "--to",
        "microsoft-365",
        "-o",
        path(&m365),
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let written = std::fs::read_to_string(&m365).unwrap();
    assert!(written.contains("admin centre"), "{written}");
    let p = checked(&m365).await;
    assert_eq!(
        p.new.mx[0].to_string(),
        "0 example-com.mail.protection.outlook.com."
    );
    assert_eq!(p.new.spf, ["include:spf.protection.outlook.com"]);
    assert_eq!(p.new.dkim_selector.as_deref(), Some("selector1"));
    assert_eq!(p.new.imap.host, "outlook.office365.com");

    let google = dir.path().join("google.toml");
    let out = cutover(&[
        "init",
        "--domain",
        "example.com",
        "--to",
        "google-workspace",
        "--from",
        "fastmail",
        "-o",
        path(&google),
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let written = std::fs::read_to_string(&google).unwrap();
    assert!(written.contains("2500 MB per day downloaded"), "{written}");
    assert!(written.contains("Gmail bandwidth limits"), "{written}");
    let p = checked(&google).await;
    assert_eq!(p.new.mx[0].to_string(), "1 smtp.google.com.");
    assert_eq!(p.new.spf, ["include:_spf.google.com"]);
    assert_eq!(p.old.name, "Fastmail");
    assert_eq!(p.old.spf, ["include:spf.messagingengine.com"]);
    assert_eq!(p.old.imap.host, "imap.fastmail.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_are_listed_and_an_unknown_one_is_refused() {
    let out = cutover(&["init", "--list-providers"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let list = String::from_utf8_lossy(&out.stdout);
    for id in ["google-workspace", "microsoft-365", "fastmail", "generic"] {
        assert!(
            list.lines().any(|l| l.starts_with(id)),
            "{id} not listed:\n{list}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("cutover.toml");
    let out = cutover(&[
        "init",
        "--domain",
        "example.com",
        "--to",
        "gmail",
        "-o",
        path(&plan),
    ])
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("gmail") && err.contains("google-workspace") && err.contains("generic"),
        "{err}"
    );
    assert!(!plan.exists());
}
