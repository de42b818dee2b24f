//! The real binary in a real terminal (tmux, 80×24): start on a plan, look at the
//! screen, open help, confirm a step by override, quit, and check the terminal
//! came back and the journal holds the confirmation.

#[path = "support/plans.rs"]
mod plans;
#[path = "support/tmux.rs"]
mod tmux;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tmux::{Tmux, require_tmux};

/// Writes the test plan and opens the offline cockpit on it at 80×24 in its own tmux
/// server (`socket` plus this process's id); returns the plan's directory, the terminal and
/// the command line that started the cockpit (to start it again).
fn open_cockpit(socket: &str) -> (tempfile::TempDir, Tmux, String) {
    let (dir, plan) = plans::write_plan(plans::PLAN);
    let tmux = Tmux {
        socket: format!("{socket}-{}", std::process::id()),
    };
    tmux.shell("e2e", dir.path(), (80, 24), &["NO_COLOR=1"]);
    let command = format!(
        "env -u CUTOVER_PLAN {} tui --offline --plan {}",
        env!("CARGO_BIN_EXE_cutover"),
        plan.display()
    );
    tmux.type_text(&command);
    tmux.keys(&["Enter"]);
    // The whole first frame: over a loaded machine tmux can show one half-drawn.
    tmux.wait_for("the cockpit", |s| {
        s.contains("DRIVING") && s.contains("? help")
    });
    (dir, tmux, command)
}

/// Enter in the Next step pane: offline, lower-ttl's checks are unknown, so it is confirmed
/// by override, with a reason.
fn override_lower_ttl(tmux: &Tmux) {
    tmux.keys(&["Enter"]);
    tmux.wait_for("the confirm popup", |s| s.contains("Confirm lower-ttl"));
    tmux.type_text("verified at the DNS host by phone");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the confirmation", |s| s.contains("confirmed by override"));
}

#[test]
fn the_cockpit_confirms_a_step_in_a_real_terminal_and_restores_it() {
    if !require_tmux() {
        return;
    }
    let (dir, tmux, command) = open_cockpit("cutover-e2e");

    // Header and panes (80×24: the panes are tabs).
    let screen = tmux.screen_of("e2e");
    let header = screen.lines().next().unwrap_or_default();
    assert!(header.contains("example.com"), "{screen}");
    assert!(header.contains("OFFLINE"), "{screen}");
    assert!(
        screen.contains("Next step │ Timeline │ DNS │ Mailboxes │ Journal"),
        "{screen}"
    );
    assert!(screen.contains("lower-ttl"), "{screen}");
    assert!(screen.contains("? help"), "{screen}");

    // Help, generated from the key table; Esc closes it.
    tmux.keys(&["?"]);
    tmux.wait_for("the help", |s| s.contains("Keys (? or Esc closes)"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("the help to close", |s| !s.contains("Keys (? or Esc"));

    override_lower_ttl(&tmux);

    // Quit: the shell is back, the UI gone.
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("the shell after quitting", |s| {
        !s.contains("DRIVING") && s.trim_end().ends_with("READY$")
    });
    assert!(!screen.contains("Timeline"), "{screen}");

    let journal = std::fs::read_to_string(Path::new(dir.path()).join("cutover.journal"))
        .expect("the journal exists");
    let entry: serde_json::Value =
        serde_json::from_str(journal.lines().last().expect("one line")).unwrap();
    assert_eq!(entry["kind"], "override");
    assert_eq!(entry["step"], "lower-ttl");
    assert_eq!(entry["reason"], "verified at the DNS host by phone");
    assert!(entry["evidence"].as_array().is_some_and(|e| !e.is_empty()));
    // Started again, it is where it was; SIGTERM (as SIGHUP) closes it cleanly.
    tmux.type_text(&command);
    tmux.keys(&["Enter"]);
    tmux.wait_for("the cockpit again", |s| s.contains("DRIVING"));
    tmux.keys(&["Tab"]);
    tmux.wait_for("the timeline tab with the override", |s| {
        s.contains("! 09:00 lower-ttl")
    });
    let driver: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("cutover.driver")).expect("driver file"),
    )
    .unwrap();
    let pid = driver["pid"].as_u64().expect("driver pid").to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    tmux.wait_for("the shell after SIGTERM", |s| {
        !s.contains("DRIVING") && s.trim_end().ends_with("READY$")
    });

    // The log went to the file beside the plan, never to the screen.
    let log = std::fs::read_to_string(dir.path().join("cutover.log")).expect("log file");
    assert!(log.contains("first frame drawn"), "{log}");
    assert!(log.contains("SIGTERM: closing"), "{log}");
}

/// In the override popup `y` is a letter of the reason, not a yes: `y` then Enter records
/// nothing and the cockpit says what is needed.
#[test]
fn y_then_enter_in_the_override_popup_records_nothing() {
    if !require_tmux() {
        return;
    }
    let (dir, tmux, _) = open_cockpit("cutover-e2e-y");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the override popup", |s| {
        s.contains("Confirm lower-ttl") && s.contains("Override reason (at least 10 characters")
    });
    tmux.keys(&["y", "Enter"]);
    let screen = tmux.wait_for("what is needed", |s| {
        s.contains("a reason of at least 10 characters (1 typed)")
    });
    assert!(
        screen.contains("Confirm lower-ttl"),
        "the popup stays: {screen}"
    );
    assert!(
        screen.contains(" y▏"),
        "the y is in the reason field: {screen}"
    );
    // `n` is a letter too; Esc cancels.
    tmux.keys(&["n", "Enter"]);
    tmux.wait_for("still not enough", |s| s.contains("(2 typed)"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("the popup to close", |s| !s.contains("Confirm lower-ttl"));
    tmux.keys(&["q"]);
    tmux.wait_for("the shell after quitting", |s| {
        !s.contains("DRIVING") && s.trim_end().ends_with("READY$")
    });
    let journal = std::fs::read_to_string(dir.path().join("cutover.journal")).unwrap_or_default();
    assert!(
        !journal.contains("\"override\"") && !journal.contains("\"confirm\""),
        "nothing was confirmed: {journal}"
    );
}

/// `q` in the rehearsal asks first and says its directory is deleted (no `--keep`); `n`
/// keeps it running; `y` quits, and the directory is gone.
#[test]
fn q_in_the_rehearsal_asks_and_n_keeps_it_running() {
    if !require_tmux() {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let tmux = Tmux {
        socket: format!("cutover-e2e-demo-q-{}", std::process::id()),
    };
    tmux.shell("e2e", scratch.path(), (80, 24), &["NO_COLOR=1"]);
    tmux.type_text(&format!(
        "env -u CUTOVER_PLAN {} demo --mailboxes 2 --messages 16",
        env!("CARGO_BIN_EXE_cutover")
    ));
    tmux.keys(&["Enter"]);
    // It opens paused on its introduction; p starts it.
    tmux.wait_for("the rehearsal's introduction", |s| {
        s.contains("Press p to start")
    });
    tmux.keys(&["p"]);
    tmux.wait_for("the rehearsal running", |s| s.contains("running"));
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("the quit question", |s| {
        s.contains("Quit the rehearsal?") && s.contains("y quit")
    });
    assert!(screen.contains("is deleted"), "{screen}");
    assert!(screen.contains("cutover demo --keep"), "{screen}");
    let dir = screen
        .split_whitespace()
        .find(|w| w.contains("cutover-rehearsal-"))
        // The popup's border stands before the path.
        .and_then(|w| w.find('/').map(|at| std::path::PathBuf::from(&w[at..])))
        .unwrap_or_else(|| panic!("no rehearsal directory named: {screen}"));
    assert!(dir.join("cutover.toml").exists(), "{}", dir.display());
    tmux.keys(&["n"]);
    tmux.wait_for("the question to close", |s| {
        !s.contains("Quit the rehearsal?")
    });
    // Still running: the clock keys answer.
    tmux.keys(&["p"]);
    let screen = tmux.wait_for("the rehearsal to answer", |s| {
        s.contains("simulated time paused")
    });
    assert!(screen.contains("REHEARSAL"), "{screen}");
    assert!(dir.exists(), "{}", dir.display());
    tmux.keys(&["q"]);
    tmux.wait_for("the quit question again", |s| {
        s.contains("Quit the rehearsal?")
    });
    tmux.keys(&["y"]);
    tmux.wait_for("the shell after quitting", |s| {
        !s.contains("REHEARSAL") && s.trim_end().ends_with("READY$")
    });
    let start = Instant::now();
    while dir.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{} was not deleted",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_panic_in_a_worker_restores_the_terminal_and_exits_with_the_report_in_the_log() {
    if !require_tmux() {
        return;
    }
    let (dir, plan) = plans::write_plan(plans::PLAN);
    let tmux = Tmux {
        socket: format!("cutover-e2e-panic-{}", std::process::id()),
    };
    tmux.shell("e2e", dir.path(), (80, 24), &[]);
    // The fault hook exists in debug builds only (tests build debug).
    tmux.type_text(&format!(
        "env -u CUTOVER_PLAN CUTOVER_FAULT=worker-panic {} tui --offline --plan {}; echo EXIT=$?",
        env!("CARGO_BIN_EXE_cutover"),
        plan.display()
    ));
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("the shell after the panic", |s| {
        s.lines().any(|l| l.starts_with("EXIT="))
    });
    assert!(screen.lines().any(|l| l == "EXIT=101"), "{screen}");
    assert!(screen.contains("cutover: internal error"), "{screen}");
    assert!(!screen.contains("DRIVING"), "the UI is gone: {screen}");
    // The shell works normally again (raw mode is off: a typed line echoes).
    tmux.type_text("echo back-to-normal");
    tmux.keys(&["Enter"]);
    tmux.wait_for("the shell to echo", |s| {
        s.matches("back-to-normal").count() >= 2
    });
    let log = std::fs::read_to_string(dir.path().join("cutover.log")).expect("log file");
    assert!(log.contains("injected fault"), "{log}");
}

#[test]
fn a_second_cockpit_observes_follows_live_and_takes_over_when_the_driver_leaves() {
    if !require_tmux() {
        return;
    }
    let (dir, plan) = plans::write_plan(plans::PLAN);
    let tmux = Tmux {
        socket: format!("cutover-e2e-observe-{}", std::process::id()),
    };
    for name in ["driver", "observer"] {
        tmux.shell(name, dir.path(), (100, 30), &[]);
    }
    let command = format!(
        "env -u CUTOVER_PLAN {} tui --offline --plan {}",
        env!("CARGO_BIN_EXE_cutover"),
        plan.display()
    );
    tmux.type_to("driver", &command);
    tmux.keys_to("driver", &["Enter"]);
    tmux.wait_on("driver", "the driver", |s| s.contains("DRIVING"));
    tmux.type_to("observer", &command);
    tmux.keys_to("observer", &["Enter"]);
    let screen = tmux.wait_on("observer", "the observer banner", |s| {
        s.contains("OBSERVING (read-only): driven by")
    });
    assert!(screen.contains("pid "), "{screen}");

    // The observer refuses to record, and says who drives.
    tmux.keys_to("observer", &["a"]);
    tmux.wait_on("observer", "the refusal", |s| s.contains("Read-only"));

    // The driver confirms; the observer sees it within a poll or two.
    tmux.keys_to("driver", &["g", "Enter"]);
    tmux.wait_on("driver", "the popup", |s| s.contains("Confirm lower-ttl"));
    tmux.type_to("driver", "checked with the DNS host");
    tmux.keys_to("driver", &["Enter"]);
    tmux.wait_on("driver", "the confirmation", |s| {
        s.contains("confirmed by override")
    });
    tmux.wait_on("observer", "the confirmation, followed live", |s| {
        s.contains("! 09:00 lower-ttl")
    });

    // The driver quits: the observer takes over.
    tmux.keys_to("driver", &["q"]);
    tmux.wait_on("driver", "the driver's shell", |s| {
        s.trim_end().ends_with("READY$")
    });
    tmux.wait_on("observer", "the takeover", |s| {
        s.contains("DRIVING") && s.contains("this cockpit now drives")
    });
    tmux.keys_to("observer", &["q"]);
    tmux.wait_on("observer", "the observer's shell", |s| {
        s.trim_end().ends_with("READY$")
    });
    drop(dir);
}

#[test]
fn a_dropped_link_sighup_closes_the_cockpit_cleanly() {
    if !require_tmux() {
        return;
    }
    let (dir, plan) = plans::write_plan(plans::PLAN);
    let tmux = Tmux {
        socket: format!("cutover-e2e-hup-{}", std::process::id()),
    };
    tmux.shell("e2e", dir.path(), (80, 24), &[]);
    tmux.type_text(&format!(
        "env -u CUTOVER_PLAN {} tui --offline --plan {}",
        env!("CARGO_BIN_EXE_cutover"),
        plan.display()
    ));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the cockpit", |s| s.contains("DRIVING"));
    let journal = dir.path().join("cutover.journal");
    assert!(
        cutover::journal::DriverLock::current(&journal)
            .unwrap()
            .is_some()
    );
    // Closing the terminal hangs up its processes, as a dropped SSH link does.
    tmux.run(&["kill-session", "-t", "e2e"]);
    let start = Instant::now();
    while cutover::journal::DriverLock::current(&journal)
        .unwrap()
        .is_some()
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the cockpit did not exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(dir.path().join("cutover.log")).expect("log file");
    assert!(log.contains("SIGHUP: closing"), "{log}");
    assert!(log.contains("cockpit closed"), "{log}");
}

/// `f` in the journal pane shows one kind at a time, says which in the pane's title, says
/// when a kind has nothing, and comes back round to everything; the file keeps every line.
#[test]
fn f_filters_the_journal_pane_by_kind_in_a_real_terminal() {
    if !require_tmux() {
        return;
    }
    let (dir, tmux, _) = open_cockpit("cutover-e2e-filter");
    override_lower_ttl(&tmux);
    // Next step, Timeline, DNS, Mailboxes, Journal.
    tmux.keys(&["Tab", "Tab", "Tab", "Tab"]);
    let override_line = "OVERRIDE  lower-ttl by tester: verified at the DNS host by phone";
    tmux.wait_for("the journal tab", |s| {
        s.contains("┌ Journal ─") && s.contains(override_line)
    });
    tmux.keys(&["f"]);
    tmux.wait_for("confirmations only", |s| {
        s.contains("Journal · confirmations only · f: next kind") && s.contains(override_line)
    });
    tmux.keys(&["f"]);
    let screen = tmux.wait_for("alarms only", |s| s.contains("Journal · alarms only"));
    assert!(!screen.contains(override_line), "{screen}");
    assert!(screen.contains("no alarms in the last 1 line"), "{screen}");
    tmux.keys(&["f"]);
    tmux.wait_for("facts only", |s| s.contains("Journal · facts only"));
    tmux.keys(&["f"]);
    tmux.wait_for("copies only", |s| s.contains("Journal · copies only"));
    tmux.keys(&["f"]);
    tmux.wait_for("everything again", |s| {
        s.contains("┌ Journal ─") && s.contains(override_line)
    });
    tmux.keys(&["q"]);
    tmux.wait_for("the shell after quitting", |s| {
        !s.contains("DRIVING") && s.trim_end().ends_with("READY$")
    });
    let journal = std::fs::read_to_string(dir.path().join("cutover.journal")).expect("journal");
    assert_eq!(journal.lines().count(), 1, "{journal}");
    assert!(
        journal.contains("verified at the DNS host by phone"),
        "{journal}"
    );
}
