//! `cutover demo` at 80×24 in a real terminal (tmux): after the DNS host console lowers the
//! TTL (key `1`), the DNS tab shows the MX TTL the authoritative server serves as a number.

#[path = "support/tmux.rs"]
mod tmux;

use tmux::{Tmux, require_tmux};

/// The MX row of the DNS pane, when the DNS tab is on screen.
fn mx_row(screen: &str) -> Option<String> {
    if !screen.contains("DNS · measured") {
        return None;
    }
    screen
        .lines()
        .find(|l| l.trim_start_matches('│').starts_with("MX "))
        .map(str::to_string)
}

#[test]
fn at_80x24_the_dns_tab_shows_the_lowered_mx_ttl() {
    if !require_tmux() {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let kept = scratch.path().join("rehearsal");
    let tmux = Tmux {
        socket: format!("cutover-dns-pane-{}", std::process::id()),
    };
    tmux.shell("dns", scratch.path(), (80, 24), &["NO_COLOR=1"]);
    let command = format!(
        "env -u CUTOVER_PLAN {} demo --mailboxes 2 --messages 16 --keep {}",
        env!("CARGO_BIN_EXE_cutover"),
        kept.display()
    );
    tmux.run(&["send-keys", "-t", "dns", "-l", &command]);
    tmux.keys_to("dns", &["Enter"]);
    let screen = tmux.wait_on("dns", "the REHEARSAL label", |s| s.contains("REHEARSAL"));
    // The rehearsal opens paused on its introduction: p starts it.
    assert!(screen.contains("Press p to start"), "{screen}");
    tmux.keys_to("dns", &["p"]);
    // The DNS tab, whichever tab the cockpit opens on.
    for _ in 0..5 {
        if tmux.screen_of("dns").contains("DNS · measured") {
            break;
        }
        tmux.keys_to("dns", &["Tab"]);
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let before = tmux.wait_on("dns", "the DNS tab with a measured MX row", |s| {
        mx_row(s).is_some()
    });
    let row = mx_row(&before).unwrap_or_default();
    assert!(!row.contains(" 5m"), "not lowered yet, yet 5m:\n{before}");

    tmux.keys_to("dns", &["1"]);
    let after = tmux.wait_on(
        "dns",
        "the MX TTL of 5 min at the authoritative server",
        |s| mx_row(s).is_some_and(|row| row.contains(" 5m ")),
    );
    // The authoritative column comes first: its cell reads `✓ old 5m` (mark, value, TTL).
    let row = mx_row(&after).unwrap_or_default();
    let words: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(words.get(3), Some(&"5m"), "{row:?} in\n{after}");
    assert!(
        after.contains("authoritative") || after.contains("auth"),
        "{after}"
    );

    // Quitting the rehearsal asks first.
    tmux.keys_to("dns", &["q"]);
    tmux.keys_to("dns", &["y"]);
}
