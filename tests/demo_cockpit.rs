//! `cutover demo` in a real terminal (tmux): the cockpit opens on the sandbox labelled
//! REHEARSAL, a DNS host console key changes the zone, the cockpit's own DNS watcher sees it on
//! the simulated clock (a journaled fact), the clock keys work, and `q` leaves cleanly.

#[path = "support/tmux.rs"]
mod tmux;

use std::time::{Duration, Instant};

use tmux::{Tmux, require_tmux};

#[test]
fn the_rehearsal_cockpit_runs_on_the_sandbox_and_its_console_keys_change_the_zone() {
    if !require_tmux() {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let kept = scratch.path().join("rehearsal");
    let tmux = Tmux {
        socket: format!("cutover-demo-{}", std::process::id()),
    };
    tmux.shell("demo", scratch.path(), (120, 36), &["NO_COLOR=1"]);
    let command = format!(
        "env -u CUTOVER_PLAN {} demo --mailboxes 2 --messages 16 --keep {}",
        env!("CARGO_BIN_EXE_cutover"),
        kept.display()
    );
    tmux.run(&["send-keys", "-t", "demo", "-l", &command]);
    tmux.keys_to("demo", &["Enter"]);
    tmux.wait_on("demo", "the REHEARSAL label", |s| s.contains("REHEARSAL"));

    // The DNS host console: lower the TTLs. The cockpit's watcher, on the simulated clock,
    // journals that every authoritative server now serves the lowered TTL.
    tmux.keys_to("demo", &["1"]);
    tmux.wait_on("demo", "the console's answer", |s| {
        s.contains("MX and TXT TTLs set to 5 min")
    });
    let journal = kept.join("cutover.journal");
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(&journal).unwrap_or_default();
        if text.contains("\"key\":\"ttl-lowered\"") {
            // Journaled at simulated time: the rehearsal's first day, not today.
            assert!(text.contains("\"at\":\"2026-03-02T"), "{text}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the lowered TTL was never journaled:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The clock keys, and the help lists the rehearsal's keys from the one key table.
    tmux.keys_to("demo", &["p"]);
    tmux.wait_on("demo", "the pause", |s| s.contains("simulated time paused"));
    tmux.keys_to("demo", &["?"]);
    tmux.wait_on("demo", "the rehearsal keys in the help", |s| {
        s.contains("Rehearsal: DNS host console and clock")
    });
    tmux.keys_to("demo", &["Escape"]);
    tmux.keys_to("demo", &["q"]);
    tmux.wait_on("demo", "the shell again", |s| {
        s.trim_end().ends_with("READY$")
    });
    assert!(kept.join("cutover.toml").exists());
}
