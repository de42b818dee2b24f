//! `cutover demo` in a real terminal (tmux): the cockpit opens on the sandbox labelled
//! REHEARSAL, a DNS host console key changes the zone, the new provider's `c` creates the
//! alias its MX refused, the cockpit's own DNS watcher sees it on
//! the simulated clock (a journaled fact), the clock keys work, `>` skips the TTL wait the
//! cockpit counts down, and `q` leaves cleanly.

#[path = "support/tmux.rs"]
mod tmux;

use std::path::Path;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use tmux::{Tmux, require_tmux};

/// Starts `cutover demo` (2 mailboxes, files kept in `kept`) in tmux session `name`, and
/// starts its clock from the introduction with `p`.
fn start_demo(tmux: &Tmux, name: &str, dir: &Path, kept: &Path) {
    open_demo(tmux, name, dir, kept);
    tmux.keys_to(name, &["p"]);
    tmux.wait_on(name, "the clock running", |s| {
        s.contains("running") && !s.contains("Press p to start")
    });
}

/// Starts `cutover demo` in tmux session `name` and waits for its first screen.
fn open_demo(tmux: &Tmux, name: &str, dir: &Path, kept: &Path) {
    tmux.shell(name, dir, (120, 36), &["NO_COLOR=1"]);
    let command = format!(
        "env -u CUTOVER_PLAN {} demo --mailboxes 2 --messages 16 --keep {}",
        env!("CARGO_BIN_EXE_cutover"),
        kept.display()
    );
    tmux.run(&["send-keys", "-t", name, "-l", &command]);
    tmux.keys_to(name, &["Enter"]);
    tmux.wait_on(name, "the REHEARSAL label", |s| s.contains("REHEARSAL"));
}

/// When the journal's first `key` fact (whose value names `step`, if given) was recorded.
fn fact_at(journal: &Path, key: &str, step: Option<&str>) -> Option<Timestamp> {
    let text = std::fs::read_to_string(journal).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|entry| entry["key"] == key)
        .find(|entry| step.is_none_or(|step| entry["value"]["step"] == step))
        .and_then(|entry| entry["at"].as_str()?.parse().ok())
}

/// Waits (real time) until the journal holds that fact.
fn wait_for_fact(journal: &Path, key: &str, step: Option<&str>) -> Timestamp {
    let start = Instant::now();
    loop {
        if let Some(at) = fact_at(journal, key, step) {
            return at;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no {key} fact for {step:?} was journaled:\n{}",
            std::fs::read_to_string(journal).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

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
    start_demo(&tmux, "demo", scratch.path(), &kept);

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

    // The new provider's console: `c` creates the alias its MX refuses (the plan lists
    // sales@), once; a second `c` has nothing left to create.
    tmux.keys_to("demo", &["c"]);
    let screen = tmux.wait_on("demo", "the alias created", |s| {
        s.contains("created at the new provider")
    });
    assert!(screen.contains("alias sales@"), "{screen}");
    tmux.keys_to("demo", &["c"]);
    tmux.wait_on("demo", "nothing left to create", |s| {
        s.contains("the new provider already has every alias: nothing to create")
    });

    // The clock keys, and the help lists the rehearsal's keys from the one key table.
    tmux.keys_to("demo", &["p"]);
    tmux.wait_on("demo", "the pause", |s| s.contains("simulated time paused"));
    // The help scrolls; its end holds the rehearsal's keys.
    tmux.keys_to("demo", &["?", "End"]);
    tmux.wait_on("demo", "the rehearsal keys in the help", |s| {
        s.contains("Rehearsal: DNS host console and clock")
    });
    tmux.keys_to("demo", &["Escape"]);
    // `q` in the rehearsal asks first.
    tmux.keys_to("demo", &["q", "y"]);
    tmux.wait_on("demo", "the shell again", |s| {
        s.trim_end().ends_with("READY$")
    });
    assert!(kept.join("cutover.toml").exists());
}

#[test]
fn skipping_during_the_ttl_wait_jumps_to_when_the_old_ttl_has_run_out() {
    if !require_tmux() {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let kept = scratch.path().join("rehearsal");
    let journal = kept.join("cutover.journal");
    let tmux = Tmux {
        socket: format!("cutover-demo-skip-{}", std::process::id()),
    };
    start_demo(&tmux, "skip", scratch.path(), &kept);

    // Lower the TTLs at the console; the cockpit's watcher journals when they are served.
    tmux.keys_to("skip", &["1"]);
    let lowered = wait_for_fact(&journal, "ttl-lowered", None);
    // Mark lower-ttl applied and confirm it (the step under the cursor): the TTL wait starts.
    tmux.keys_to("skip", &["a"]);
    tmux.wait_on("skip", "lower-ttl applied", |s| {
        s.contains("Recorded: lower-ttl applied")
    });
    tmux.keys_to("skip", &["Enter"]);
    tmux.wait_on("skip", "the confirmation", |s| {
        s.contains("Every check holds")
    });
    tmux.keys_to("skip", &["y"]);
    tmux.wait_on("skip", "lower-ttl confirmed", |s| {
        s.contains("Recorded: lower-ttl confirmed")
    });
    // The cockpit counts the wait down (the old TTL, 24 h, from the lowering).
    tmux.wait_on("skip", "the TTL wait's countdown", |s| {
        s.contains("ttl-wait") && s.contains(" left")
    });

    // `>` skips to when the old TTL has run out; the next DNS round sees the resolvers hold
    // the lowered TTL, and ttl-wait is observed done at once, on day 2, not 23 h later.
    tmux.keys_to("skip", &[">"]);
    let clears = lowered + SignedDuration::from_hours(24);
    let done = wait_for_fact(&journal, "step-observed", Some("ttl-wait"));
    assert!(done >= clears, "ttl-wait done at {done}, before {clears}");
    assert!(
        done < clears + SignedDuration::from_hours(1),
        "ttl-wait done at {done}: `>` did not skip to {clears}"
    );
    tmux.wait_on("skip", "day 2", |s| s.contains("day 2 of 3"));
    tmux.keys_to("skip", &["q", "y"]);
    tmux.wait_on("skip", "the shell again", |s| {
        s.trim_end().ends_with("READY$")
    });
}

/// The header's simulated clock, e.g. "Mon 2 Mar 08:00".
fn shown_clock(screen: &str) -> Option<String> {
    let header = screen.lines().next()?;
    let at = header
        .find("Mon 2 Mar ")
        .or_else(|| header.find("Tue 3 Mar "))?;
    Some(header[at..at + 15].to_string())
}

#[test]
fn the_rehearsal_starts_paused_on_its_introduction_and_p_starts_it() {
    if !require_tmux() {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let kept = scratch.path().join("rehearsal");
    let tmux = Tmux {
        socket: format!("cutover-demo-intro-{}", std::process::id()),
    };
    open_demo(&tmux, "intro", scratch.path(), &kept);
    let first = tmux.wait_on("intro", "the introduction", |s| {
        s.contains("Press p to start") && s.contains("432× paused")
    });
    assert!(first.contains("Keys that matter"), "{first}");
    let clock = shown_clock(&first).unwrap_or_else(|| panic!("no clock:\n{first}"));
    // Paused: two real seconds (14 simulated minutes at 432×) later the clock has not moved,
    // and a console key does nothing while the introduction is open.
    std::thread::sleep(Duration::from_secs(2));
    tmux.keys_to("intro", &["1"]);
    std::thread::sleep(Duration::from_millis(500));
    let still = tmux.screen_of("intro");
    assert_eq!(
        shown_clock(&still).as_deref(),
        Some(clock.as_str()),
        "{still}"
    );
    assert!(still.contains("Press p to start"), "{still}");
    assert!(!still.contains("TTLs set to 5 min"), "{still}");
    // p closes the introduction and starts simulated time.
    tmux.keys_to("intro", &["p"]);
    tmux.wait_on("intro", "the clock running", |s| {
        s.contains("432× running") && !s.contains("Press p to start")
    });
    tmux.wait_on("intro", "simulated time moving", |s| {
        shown_clock(s).is_some_and(|c| c != clock)
    });
    // Dropping the tmux server hangs the cockpit up (SIGHUP): it closes cleanly.
}
