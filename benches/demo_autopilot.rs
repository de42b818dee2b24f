//! Benchmark: the whole autopilot rehearsal with 50 mailboxes and 20,000 old messages.
//!
//! `cargo bench --bench demo_autopilot` (env `CUTOVER_BENCH_MAILBOXES`, default 50;
//! `CUTOVER_BENCH_MESSAGES`, default 20000). The rehearsal runs in a child process so its peak
//! memory (VmHWM) is its own. Targets: wall time < 60 s, peak memory < 200 MiB.

use std::process::Command;
use std::time::Instant;

use cutover::sandbox::demo::{DemoOptions, rehearse};

const CHILD: &str = "CUTOVER_BENCH_DEMO_CHILD";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn child() {
    let opts = DemoOptions {
        autopilot: true,
        mailboxes: env_usize("CUTOVER_BENCH_MAILBOXES", 50),
        messages: env_usize("CUTOVER_BENCH_MESSAGES", 20_000),
        ..DemoOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let rehearsal = runtime.block_on(rehearse(&opts)).unwrap();
    let wall = started.elapsed();
    let report = &rehearsal.report;
    let copied: u64 = report.copies.iter().map(|c| c.copied).sum();
    println!(
        "RESULT wall_s={:.2} peak_mib={:.1} exit={} old_messages={} copied={} delivered_old={} delivered_new={}",
        wall.as_secs_f64(),
        peak_rss_kib() as f64 / 1024.0,
        report.exit_code(),
        report.old_messages_at_end,
        copied,
        report.delivered_to(cutover::sandbox::autopilot::Server::Old),
        report.delivered_to(cutover::sandbox::autopilot::Server::New),
    );
}

fn main() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe).env(CHILD, "1").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let Some(line) = stdout.lines().find(|l| l.starts_with("RESULT")) else {
        panic!(
            "the rehearsal child failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let field = |name: &str| -> f64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let (wall, peak) = (field("wall_s"), field("peak_mib"));
    println!("demo autopilot: {line}");
    println!(
        "wall time {wall:.1} s (target < 60 s) {}; peak memory {peak:.1} MiB (target < 200 MiB) {}",
        if wall < 60.0 { "OK" } else { "MISSED" },
        if peak < 200.0 { "OK" } else { "MISSED" }
    );
}
