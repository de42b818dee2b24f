//! `cutover demo` in a real terminal (tmux): the cockpit opens on the sandbox labelled
//! REHEARSAL, a DNS host console key changes the zone, the cockpit's own DNS watcher sees it on
//! the simulated clock (a journaled fact), the clock keys work, and `q` leaves cleanly.

use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "demo"])
    }

    fn key(&self, key: &str) {
        self.run(&["send-keys", "-t", "demo", key]);
        std::thread::sleep(Duration::from_millis(60));
    }

    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            if start.elapsed() > Duration::from_secs(30) {
                panic!("timed out waiting for {what}; the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_rehearsal_cockpit_runs_on_the_sandbox_and_its_console_keys_change_the_zone() {
    if !tmux_available() {
        if std::env::var("CUTOVER_REQUIRE_SERVERS").as_deref() == Ok("1") {
            panic!("tmux is required (CUTOVER_REQUIRE_SERVERS=1) but not installed");
        }
        eprintln!("SKIPPED: tmux is not installed");
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let kept = scratch.path().join("rehearsal");
    let tmux = Tmux {
        socket: format!("cutover-demo-{}", std::process::id()),
    };
    let shell = format!(
        "cd {} && PS1='READY$ ' exec bash --norc --noprofile",
        scratch.path().display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "demo",
        "-x",
        "120",
        "-y",
        "36",
        "-e",
        "NO_COLOR=1",
        &shell,
    ]);
    tmux.wait_for("the shell prompt", |s| s.contains("READY$"));
    let command = format!(
        "env -u CUTOVER_PLAN {} demo --mailboxes 2 --messages 16 --keep {}",
        env!("CARGO_BIN_EXE_cutover"),
        kept.display()
    );
    tmux.run(&["send-keys", "-t", "demo", "-l", &command]);
    tmux.key("Enter");
    tmux.wait_for("the REHEARSAL label", |s| s.contains("REHEARSAL"));

    // The DNS host console: lower the TTLs. The cockpit's watcher, on the simulated clock,
    // journals that every authoritative server now serves the lowered TTL.
    tmux.key("1");
    tmux.wait_for("the console's answer", |s| {
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
    tmux.key("p");
    tmux.wait_for("the pause", |s| s.contains("simulated time paused"));
    tmux.key("?");
    tmux.wait_for("the rehearsal keys in the help", |s| {
        s.contains("Rehearsal: DNS host console and clock")
    });
    tmux.key("Escape");
    tmux.key("q");
    tmux.wait_for("the shell again", |s| s.trim_end().ends_with("READY$"));
    assert!(kept.join("cutover.toml").exists());
}
