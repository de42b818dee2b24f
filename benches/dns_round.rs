//! One full DNS watch round against 2 authoritative servers and 6 resolvers on
//! loopback, each answering after an injected 20 ms delay. Reports the round's
//! wall time against its slowest single query (target < 1.5: the round is
//! parallel) and the process CPU time per round (getrusage).

#[path = "../tests/support/dns_server.rs"]
mod dns_server;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cutover::clock::SystemClock;
use cutover::dns;
use cutover::plan::{DnsPlan, ImapEndpoint, MxRecord, Plan, Security, Side, SyncPlan};
use dns_server::TestDns;

const ROUNDS: usize = 30;

fn side(mx: &str, spf: &str) -> Side {
    Side {
        name: "host".into(),
        mx: vec![MxRecord {
            preference: 10,
            host: mx.into(),
        }],
        spf: vec![spf.into()],
        dkim_selector: Some("sel1".into()),
        imap: ImapEndpoint {
            url: "imap://127.0.0.1:1".into(),
            host: "127.0.0.1".into(),
            port: 1,
            security: Security::None,
            ca_file: None,
            insecure_skip_verify: false,
            pin_sha256: None,
        },
        smtp: vec![],
        submission: None,
    }
}

fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut servers = Vec::new();
        for _ in 0..8 {
            let dns = TestDns::start("example.com.").await;
            dns.set_mx("example.com.", 300, &[(10, "mx1.old.example.")]).await;
            dns.set_txt("example.com.", 300, &["v=spf1 ip4:192.0.2.0/24 ~all"]).await;
            dns.set_a("example.com.", 3600, &["192.0.2.10"]).await;
            dns.set_a("www.example.com.", 3600, &["192.0.2.10"]).await;
            dns.set_txt("_dmarc.example.com.", 3600, &["v=DMARC1; p=none"]).await;
            dns.set_delay(Duration::from_millis(20));
            servers.push(dns);
        }
        let plan = Plan {
            path: PathBuf::from("/tmp/bench.toml"),
            domain: "example.com".into(),
            start: "2026-12-07T09:00".parse().unwrap(),
            timezone_name: "UTC".into(),
            timezone: jiff::tz::TimeZone::UTC,
            working_days: vec![],
            operator: "bench".into(),
            dns: DnsPlan {
                migration_ttl: 300,
                restore_ttl_mx: 86400,
                restore_ttl_txt: 21600,
                old_ttl: None,
                poll: Duration::from_secs(30),
                timeout: Duration::from_secs(3),
                resolvers: servers[2..].iter().map(|s| s.addr).collect(),
                authoritative: servers[..2].iter().map(|s| s.addr).collect(),
                names: Default::default(),
            },
            old: side("mx1.old.example.", "ip4:192.0.2.0/24"),
            new: side("smtp.new.example.", "ip4:198.51.100.0/24"),
            credentials: None,
            sync: SyncPlan::default(),
            archive: None,
            mailboxes: vec![],
            extra_steps: vec![],
            canary: None,
        };
        // Warm-up round (sockets, allocator).
        let _ = dns::one_round(&plan, &SystemClock).await;

        let mut ratios = Vec::new();
        let mut walls = Vec::new();
        let cpu_before = cpu_time();
        let mut queries = 0;
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let snapshot = dns::one_round(&plan, &SystemClock).await;
            let wall = started.elapsed();
            let answers: Vec<&dns::Answer> = snapshot.servers.iter().flat_map(|s| &s.answers).collect();
            queries = answers.len();
            assert!(answers.iter().all(|a| a.status.is_definite()), "a query failed");
            let slowest = answers.iter().map(|a| a.latency_ms).max().unwrap_or(1).max(1);
            ratios.push(wall.as_secs_f64() * 1000.0 / slowest as f64);
            walls.push(wall);
        }
        let cpu = cpu_time() - cpu_before;
        ratios.sort_by(f64::total_cmp);
        walls.sort();
        let median = |v: &[f64]| v[v.len() / 2];
        println!("dns_round: {ROUNDS} rounds, {queries} queries per round (2 authoritative + 6 resolvers, 20 ms injected delay)");
        println!(
            "  round wall time: median {:.1} ms, max {:.1} ms",
            walls[walls.len() / 2].as_secs_f64() * 1000.0,
            walls[walls.len() - 1].as_secs_f64() * 1000.0
        );
        println!(
            "  round / slowest single query: median {:.2}, worst {:.2} (target < 1.5)",
            median(&ratios),
            ratios[ratios.len() - 1]
        );
        println!(
            "  CPU time per round (user+sys, whole process incl. the 8 test servers): {:.2} ms",
            cpu.as_secs_f64() * 1000.0 / ROUNDS as f64
        );
    });
}
