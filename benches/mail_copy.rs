//! Benchmark: cutover's copy engine against mbsync (isync) between two private Dovecots,
//! and a probe of many mailboxes.
//!
//! `cargo bench --bench mail_copy` (env `CUTOVER_BENCH_MESSAGES`, default 10000;
//! `CUTOVER_BENCH_MAILBOXES`, default 1000). Prints wall times, the ratio
//! cutover/mbsync (target ≤ 1.0) and cutover's peak memory (target < 64 MiB).
//!
//! `CUTOVER_BENCH_RTT_MS=40` puts a delay proxy in front of every server (each byte
//! delayed by half the round trip in each direction, bandwidth unlimited), for cutover and
//! mbsync alike: a link to a provider, where the target is cutover ≤ 0.2 × mbsync.
//!
//! Then the probe of 1,000 mailboxes on both servers (target < 5 s), twice: first when
//! the servers create the mailboxes' stores, then again as the cockpit repeats it; and,
//! between them, the same sessions doing nothing but log in and out (the floor any
//! prober stands on), to quote the probe as a ratio of it. The Dovecots are set up as
//! Dovecot advises for many users, their mail in RAM (see `Sizing::ManyUsers`);
//! `CUTOVER_BENCH_DOVECOT=per-session` starts the tests' Dovecots instead.

#[path = "../tests/support/dovecot.rs"]
mod dovecot;
#[path = "support/mailbox.rs"]
mod mailbox;

use std::process::Command;
use std::time::{Duration, Instant};

use cutover::clock::SystemClock;
use cutover::mail::credentials::CredentialSource;
use cutover::mail::probe::probe_all;
use cutover::mail::sync::{MemoryLog, SyncOptions, run_sync};
use dovecot::{Dovecot, SeedMessage, write_secrets};
use mailbox::{ALICE, FOLDERS, env_usize, message, which};

/// User plus system CPU seconds of this process so far.
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<f64>().ok()))
        .sum::<f64>()
        / 100.0
}

/// User and system CPU seconds of this process so far.
fn cpu_time() -> String {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    format!("{:.2} s user, {:.2} s system", tick(11), tick(12))
}

/// The machine's busy and total CPU ticks so far (all cores, from `/proc/stat`).
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal …: idle and iowait are not busy.
    let total: u64 = cpu.iter().take(8).sum();
    let idle = cpu.get(3).copied().unwrap_or(0) + cpu.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The child: copy old → new once, report wall time and peak memory, then a rerun.
fn child_copy() {
    // Retries and pauses are logged as warnings: the bench shows them on its stderr.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_writer(std::io::stderr)
        .try_init();
    let env = |k: &str| std::env::var(k).unwrap();
    let endpoint = |port: String, ca: String| cutover::plan::ImapEndpoint {
        url: format!("imaps://127.0.0.1:{port}"),
        host: "127.0.0.1".into(),
        port: port.parse().unwrap(),
        security: cutover::plan::Security::Implicit,
        ca_file: Some(ca.into()),
        insecure_skip_verify: false,
        pin_sha256: None,
    };
    let secrets = std::path::PathBuf::from(env("CUTOVER_BENCH_SECRETS"));
    let plan = dovecot::plan_for_endpoints(
        endpoint(env("CUTOVER_BENCH_OLD"), env("CUTOVER_BENCH_OLD_CA")),
        endpoint(env("CUTOVER_BENCH_NEW"), env("CUTOVER_BENCH_NEW_CA")),
        &[ALICE],
        &secrets,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let creds = CredentialSource::new(plan.credentials.as_ref()).unwrap();
    let rss_before = peak_rss_kib();
    let log = MemoryLog::default();
    let opts = SyncOptions {
        connections_per_mailbox: env_usize(
            "CUTOVER_BENCH_LANES",
            SyncOptions::default().connections_per_mailbox,
        ),
        batch_messages: env_usize("CUTOVER_BENCH_BATCH", SyncOptions::default().batch_messages),
        ..SyncOptions::default()
    };
    let t = Instant::now();
    let report = runtime.block_on(run_sync(&plan, &creds, &SystemClock, &opts, &log, None));
    let secs = t.elapsed().as_secs_f64();
    println!(
        "cutover: {} messages copied in {secs:.2} s, verified: {}, exit code {}",
        report.mailboxes[0].copied(),
        report.mailboxes[0].verified(),
        report.exit_code()
    );
    println!("cutover-seconds {secs}");
    println!("cutover CPU time: {}", cpu_time());
    println!(
        "cutover peak RSS (whole process): {:.1} MiB (at start: {:.1} MiB)",
        peak_rss_kib() as f64 / 1024.0,
        rss_before as f64 / 1024.0
    );
    let t = Instant::now();
    let again = runtime.block_on(run_sync(&plan, &creds, &SystemClock, &opts, &log, None));
    println!(
        "cutover rerun (compare and verify only): {} copied in {:.2} s",
        again.mailboxes[0].copied(),
        t.elapsed().as_secs_f64()
    );
}

fn main() {
    if std::env::var("CUTOVER_BENCH_CHILD").is_ok() {
        child_copy();
        return;
    }
    let messages = env_usize("CUTOVER_BENCH_MESSAGES", 10_000);
    let mailboxes = env_usize("CUTOVER_BENCH_MAILBOXES", 1_000);
    // `CUTOVER_BENCH_DOVECOT=per-session`: the tests' Dovecots instead (a process per
    // session, mail on the temp dir's disk), where the probe is bound by the servers.
    let start = if std::env::var("CUTOVER_BENCH_DOVECOT").as_deref() == Ok("per-session") {
        Dovecot::start
    } else {
        Dovecot::start_for_many_users
    };
    let Some(old) = start("old") else {
        return;
    };
    let Some(new) = start("new") else {
        return;
    };
    let Some(new_mbsync) = start("new-mbsync") else {
        return;
    };
    for d in [&old, &new, &new_mbsync] {
        d.add_user(ALICE, "pw");
    }
    let started = Instant::now();
    let mut bytes = 0usize;
    for (i, folder) in FOLDERS.iter().enumerate() {
        let count = messages / FOLDERS.len() + usize::from(i < messages % FOLDERS.len());
        let mut chunk = Vec::new();
        for n in 0..count {
            let m = message(i * 1_000_000 + n, folder);
            bytes += m.len();
            chunk.push(SeedMessage::new(m).flags(if n % 2 == 0 { "S" } else { "" }));
            if chunk.len() == 1_000 {
                old.seed(ALICE, folder, &chunk);
                chunk.clear();
            }
        }
        old.seed(ALICE, folder, &chunk);
    }
    println!(
        "seeded {messages} messages, {:.1} MiB, in {} folders ({:.1} s)",
        bytes as f64 / 1048576.0,
        FOLDERS.len(),
        started.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.toml");
    write_secrets(&secrets, &[(ALICE, "pw", "pw")], None);

    // With a round trip asked for, every IMAP connection goes through a delay proxy.
    let rtt_ms = env_usize("CUTOVER_BENCH_RTT_MS", 0);
    let proxies = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let port = |d: &Dovecot| {
        if rtt_ms == 0 {
            d.imaps_port
        } else {
            delay_proxy(
                &proxies,
                d.imaps_port,
                Duration::from_millis(rtt_ms as u64 / 2),
            )
        }
    };
    let (old_port, new_port, new_mbsync_port) = (port(&old), port(&new), port(&new_mbsync));
    if rtt_ms > 0 {
        println!("every connection through a delay proxy: {rtt_ms} ms round trip");
    }

    // mbsync, for reference (isync; pipelined, Far = old, Near = new).
    // Rounds alternate mbsync and cutover, each onto an emptied new server; the best
    // round of each is compared (the machine is shared: the minimum is the least disturbed).
    let rounds = env_usize("CUTOVER_BENCH_ROUNDS", 3).max(1);
    let mbsync = which("mbsync");
    let rc = dir.path().join("mbsyncrc");
    let state = dir.path().join("state");
    std::fs::write(
        &rc,
        format!(
            "IMAPAccount old\nHost localhost\nPort {}\nUser {ALICE}\nPass pw\nSSLType IMAPS\nCertificateFile {}\nPipelineDepth 50\n\n\
             IMAPStore old\nAccount old\n\n\
             IMAPAccount new\nHost localhost\nPort {}\nUser {ALICE}\nPass pw\nSSLType IMAPS\nCertificateFile {}\nPipelineDepth 50\n\n\
             IMAPStore new\nAccount new\n\n\
             Channel copy\nFar :old:\nNear :new:\nPatterns *\nCreate Near\nSync Pull\nSyncState {}/\n",
            old_port,
            old.ca_file.display(),
            new_mbsync_port,
            new_mbsync.ca_file.display(),
            state.display()
        ),
    )
    .unwrap();
    let count = |d: &Dovecot| -> u64 {
        d.doveadm(&[
            "-f", "flow", "mailbox", "status", "-u", ALICE, "messages", "*",
        ])
        .split_whitespace()
        .filter_map(|w| {
            w.strip_prefix("messages=")
                .and_then(|n| n.parse::<u64>().ok())
        })
        .sum()
    };
    let mut mbsync_times = Vec::new();
    let mut cutover_times = Vec::new();
    for round in 1..=rounds {
        if let Some(bin) = &mbsync {
            new_mbsync.doveadm(&["expunge", "-u", ALICE, "mailbox", "*", "all"]);
            let _ = std::fs::remove_dir_all(&state);
            std::fs::create_dir_all(&state).unwrap();
            let t = Instant::now();
            let out = Command::new(bin)
                .arg("-c")
                .arg(&rc)
                .arg("-a")
                .arg("-q")
                .output()
                .unwrap();
            let secs = t.elapsed().as_secs_f64();
            if !out.status.success() {
                println!("mbsync failed: {}", String::from_utf8_lossy(&out.stderr));
            }
            println!(
                "round {round} mbsync:  {} of {messages} messages copied in {secs:.2} s",
                count(&new_mbsync)
            );
            mbsync_times.push(secs);
        }
        // cutover's copy runs in a child process of its own, so that its peak memory is its own.
        new.doveadm(&["expunge", "-u", ALICE, "mailbox", "*", "all"]);
        let child = Command::new(std::env::current_exe().unwrap())
            .env("CUTOVER_BENCH_CHILD", "copy")
            .env("CUTOVER_BENCH_OLD", old_port.to_string())
            .env("CUTOVER_BENCH_NEW", new_port.to_string())
            .env("CUTOVER_BENCH_OLD_CA", &old.ca_file)
            .env("CUTOVER_BENCH_NEW_CA", &new.ca_file)
            .env("CUTOVER_BENCH_SECRETS", &secrets)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&child.stdout);
        for line in out.lines().filter(|l| !l.starts_with("cutover-seconds")) {
            println!("round {round} {line}");
        }
        eprint!("{}", String::from_utf8_lossy(&child.stderr));
        if let Some(secs) = out
            .lines()
            .find_map(|l| l.strip_prefix("cutover-seconds "))
            .and_then(|v| v.trim().parse::<f64>().ok())
        {
            cutover_times.push(secs);
        }
    }
    let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    if !mbsync_times.is_empty() && !cutover_times.is_empty() {
        let target = if rtt_ms > 0 { "0.2" } else { "1.0" };
        println!(
            "best of {rounds} ({rtt_ms} ms round trip): mbsync {:.2} s, cutover {:.2} s; ratio cutover/mbsync: {:.2} (target <= {target})",
            best(&mbsync_times),
            best(&cutover_times),
            best(&cutover_times) / best(&mbsync_times)
        );
    }
    if env_usize("CUTOVER_BENCH_SKIP_PROBE", 0) == 1 {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    // The cockpit's prober on the copied mailbox (10,000 messages on each side): its first
    // round scans both INBOXes and sizes every old folder; a repeat over unchanged folders
    // reads the counters only.
    let alice_plan = std::sync::Arc::new(dovecot::plan(&old, &new, &[ALICE], &secrets));
    let rounds_of_prober = runtime.block_on(prober_rounds(&alice_plan, 3));
    println!(
        "prober on {ALICE} ({messages} messages): first round {:.0} ms, repeats {} ms; a repeat is {:.3}× the first",
        rounds_of_prober[0] * 1000.0,
        rounds_of_prober[1..]
            .iter()
            .map(|s| format!("{:.0}", s * 1000.0))
            .collect::<Vec<_>>()
            .join(", "),
        rounds_of_prober[1..]
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
            / rounds_of_prober[0]
    );

    // Probe many mailboxes on both servers.
    let addresses: Vec<String> = (0..mailboxes)
        .map(|i| format!("user{i}@example.com"))
        .collect();
    let mut lines = String::new();
    for a in &addresses {
        lines.push_str(&format!("[\"{a}\"]\nold = \"pw\"\nnew = \"pw\"\n"));
    }
    std::fs::write(&secrets, lines).unwrap();
    let users: Vec<(&str, &str)> = addresses.iter().map(|a| (a.as_str(), "pw")).collect();
    for d in [&old, &new] {
        d.add_users(&users);
    }
    let refs: Vec<&str> = addresses.iter().map(String::as_str).collect();
    let mut probe_plan = dovecot::plan(&old, &new, &refs, &secrets);
    probe_plan.sync.concurrency = env_usize(
        "CUTOVER_BENCH_PROBE_CONCURRENCY",
        probe_plan.sync.concurrency,
    );
    let creds = CredentialSource::new(probe_plan.credentials.as_ref()).unwrap();
    // The first round meets mailboxes nobody opened yet (the servers create their stores);
    // the second is what the cockpit repeats every round.
    // Between them, the floor any prober stands on: the same 2 × 1,000 sessions doing
    // nothing but connect, TLS, log in and out, under the same per-server limit.
    let mut floor = f64::NAN;
    for round in ["first", "again"] {
        if round == "again" {
            floor = runtime.block_on(bare_logins(&probe_plan, &creds));
            println!(
                "bare logins: {} sessions (connect, TLS, login, logout) in {floor:.2} s",
                2 * mailboxes
            );
        }
        let t = Instant::now();
        let ticks = machine_ticks();
        let bench_cpu = process_cpu_seconds();
        let probes = runtime.block_on(probe_all(
            &probe_plan,
            &creds,
            &SystemClock,
            Default::default(),
        ));
        let secs = t.elapsed().as_secs_f64();
        let (busy, total) = machine_ticks();
        let ok = probes
            .iter()
            .filter(|p| {
                p.old.login == cutover::mail::LoginState::Ok
                    && p.new.login == cutover::mail::LoginState::Ok
            })
            .count();
        for p in probes
            .iter()
            .filter(|p| p.old.error.is_some() || p.new.error.is_some())
            .take(3)
        {
            println!("probe failure: {:?} / {:?}", p.old.error, p.new.error);
        }
        let busy_share = (busy - ticks.0) as f64 / (total - ticks.1).max(1) as f64;
        let cutover_cpu = process_cpu_seconds() - bench_cpu;
        // Of the CPU the machine spent meanwhile, the share that was cutover's (the rest is
        // the two Dovecots and the system).
        let machine_cpu = (busy - ticks.0) as f64 / 100.0;
        let against_floor = if floor.is_nan() {
            String::new()
        } else {
            format!(", {:.2}× the bare logins", secs / floor)
        };
        println!(
            "probe {round}: {mailboxes} mailboxes on both servers in {secs:.2} s ({ok} ok; target < 5 s){against_floor}; \
             machine busy {:.0}% of its cores; cutover used {cutover_cpu:.2} s CPU, {:.0}% of the machine's",
            100.0 * busy_share,
            100.0 * cutover_cpu / machine_cpu.max(0.01),
        );
    }
}

/// Seconds of each of `rounds` probes of the plan's mailboxes by one cockpit prober.
async fn prober_rounds(plan: &std::sync::Arc<cutover::plan::Plan>, rounds: usize) -> Vec<f64> {
    use cutover::mail::probe::{ProbeCommand, run_prober};
    let creds = std::sync::Arc::new(CredentialSource::new(plan.credentials.as_ref()).unwrap());
    let (commands, command_rx) = tokio::sync::mpsc::channel(4);
    let (result_tx, mut results) = tokio::sync::mpsc::channel(plan.mailboxes.len().max(1));
    let task = tokio::spawn(run_prober(
        plan.clone(),
        creds,
        std::sync::Arc::new(SystemClock),
        Default::default(),
        command_rx,
        result_tx,
    ));
    let mut times = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        commands.send(ProbeCommand::ProbeAll).await.unwrap();
        for _ in &plan.mailboxes {
            let probe = results.recv().await.expect("a probe");
            assert!(probe.old.error.is_none(), "{:?}", probe.old.error);
        }
        times.push(t.elapsed().as_secs_f64());
    }
    commands.send(ProbeCommand::Stop).await.unwrap();
    let _ = task.await;
    times
}

/// Seconds to open and close one session per mailbox on each server, `sync.concurrency` at
/// once per server, as the prober does, reading nothing.
async fn bare_logins(plan: &cutover::plan::Plan, creds: &CredentialSource) -> f64 {
    use cutover::mail::{Place, connect};
    use cutover::plan::WhichSide;
    let limits = [WhichSide::Old, WhichSide::New]
        .map(|_| std::sync::Arc::new(tokio::sync::Semaphore::new(plan.sync.concurrency.max(1))));
    let t = Instant::now();
    let sessions = plan.mailboxes.iter().flat_map(|m| {
        [(WhichSide::Old, &limits[0]), (WhichSide::New, &limits[1])].map(
            |(side, limit)| async move {
                let _permit = limit.acquire().await;
                let endpoint = &plan.side(side).imap;
                let place = Place::new(&m.address, side, &endpoint.url);
                let login = creds.login(m, side).await.expect("credentials");
                let imap = connect(endpoint, &place, &login, Default::default())
                    .await
                    .expect("login");
                imap.logout().await;
            },
        )
    });
    futures_util::future::join_all(sessions).await;
    t.elapsed().as_secs_f64()
}

/// A TCP proxy on 127.0.0.1 in front of `upstream`: every chunk read is written on after
/// `one_way`, in each direction, in order (latency without a bandwidth limit). Returns its port.
fn delay_proxy(runtime: &tokio::runtime::Runtime, upstream: u16, one_way: Duration) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    // One direction: read as it comes, write each chunk once its delay has passed.
    async fn pump(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        one_way: Duration,
    ) {
        let (tx, mut rx) =
            tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
        let writer = tokio::spawn(async move {
            while let Some((due, chunk)) = rx.recv().await {
                tokio::time::sleep_until(due).await;
                if to.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            let _ = to.shutdown().await;
        });
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = from.read(&mut buf).await {
            if n == 0
                || tx
                    .send((tokio::time::Instant::now() + one_way, buf[..n].to_vec()))
                    .is_err()
            {
                break;
            }
        }
        drop(tx);
        let _ = writer.await;
    }
    runtime.spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::join!(pump(cr, sw, one_way), pump(sr, cw, one_way));
            });
        }
    });
    port
}
