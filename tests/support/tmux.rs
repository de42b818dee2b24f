//! A private tmux server for end-to-end tests of the real binary in a real terminal.

#![allow(dead_code)]

use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of our own, so the test never touches the user's sessions.
pub struct Tmux {
    pub socket: String,
}

impl Tmux {
    /// Opens session `name` (columns × rows) running a bare bash in `dir` with the prompt
    /// `READY$ `, with `env` (`KEY=value`) set, and waits for the prompt.
    pub fn shell(&self, name: &str, dir: &std::path::Path, size: (u16, u16), env: &[&str]) {
        let shell = format!(
            "cd {} && PS1='READY$ ' exec bash --norc --noprofile",
            dir.display()
        );
        let (columns, rows) = (size.0.to_string(), size.1.to_string());
        let mut args = vec!["new-session", "-d", "-s", name, "-x", &columns, "-y", &rows];
        for e in env {
            args.extend(["-e", e]);
        }
        args.push(&shell);
        self.run(&args);
        self.wait_on(name, "the shell prompt", |s| s.contains("READY$"));
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn screen_of(&self, target: &str) -> String {
        self.run(&["capture-pane", "-p", "-t", target])
    }

    pub fn keys(&self, keys: &[&str]) {
        self.keys_to("e2e", keys)
    }

    pub fn keys_to(&self, target: &str, keys: &[&str]) {
        for k in keys {
            self.run(&["send-keys", "-t", target, k]);
            // A lone Esc followed at once by another key reads as Alt+key.
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    pub fn type_text(&self, text: &str) {
        self.type_to("e2e", text)
    }

    pub fn type_to(&self, target: &str, text: &str) {
        self.run(&["send-keys", "-t", target, "-l", text]);
    }

    /// Waits until the screen satisfies `pred`, or fails with the screen.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.wait_on("e2e", what, pred)
    }

    pub fn wait_on(&self, target: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen_of(target);
            if pred(&screen) {
                return screen;
            }
            if start.elapsed() > Duration::from_secs(30) {
                panic!("timed out waiting for {what}; the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

/// Skips (or fails under `CUTOVER_REQUIRE_SERVERS=1`) when tmux is missing.
pub fn require_tmux() -> bool {
    if tmux_available() {
        return true;
    }
    if std::env::var("CUTOVER_REQUIRE_SERVERS").as_deref() == Ok("1") {
        panic!("tmux is required (CUTOVER_REQUIRE_SERVERS=1) but not installed");
    }
    eprintln!("SKIPPED: tmux is not installed");
    false
}

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}
