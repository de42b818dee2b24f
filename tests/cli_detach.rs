//! One way to start a background copy: the cockpit's `s` key starts `cutover sync` as
//! `sync --detach` does, in a session of its own with its output in
//! `<plan-stem>.sync.log`, and says so when the copy ends with an error.

#[path = "support/plans.rs"]
mod plans;
#[path = "support/tmux.rs"]
mod tmux;

use tmux::{Tmux, require_tmux};

#[test]
fn the_cockpit_starts_the_copy_like_sync_detach_and_reports_its_failure() {
    if !require_tmux() {
        return;
    }
    // No [credentials]: the copy starts, then stops at once with exit code 2.
    let (dir, plan) = plans::write_plan(plans::PLAN);
    let tmux = Tmux {
        socket: format!("cutover-detach-{}", std::process::id()),
    };
    tmux.shell("e2e", dir.path(), (200, 40), &["NO_COLOR=1"]);
    tmux.type_text(&format!(
        "env -u CUTOVER_PLAN {} tui --offline --plan {}",
        env!("CARGO_BIN_EXE_cutover"),
        plan.display()
    ));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the cockpit", |s| s.contains("DRIVING"));

    tmux.keys(&["s"]);
    // Before the final copy's gate, s says this is an early (bulk) copy and asks.
    tmux.wait_for("the early-copy question", |s| {
        s.contains("Start the early copy")
    });
    tmux.keys(&["y"]);
    let screen = tmux.wait_for("the copy to start", |s| s.contains("started (pid"));
    assert!(
        screen.contains(&format!("cutover sync --plan {}", plan.display())),
        "the notice shows the command: {screen}"
    );
    let log = dir.path().join("cutover.sync.log");
    let screen = tmux.wait_for("the copy's failure", |s| {
        s.contains("ended with exit status: 2")
    });
    assert!(
        screen.contains("cutover.sync.log"),
        "the notice names the log: {screen}"
    );
    let said = std::fs::read_to_string(&log).expect("the copy's log");
    assert_eq!(
        said,
        "cutover: the plan has no [credentials]: add `secrets_file = \"secrets.toml\"` (or a password_command) to copy mail\n"
    );
    tmux.keys(&["q"]);
    tmux.wait_for("the shell after quitting", |s| {
        !s.contains("DRIVING") && s.trim_end().ends_with("READY$")
    });
}

/// During a rollback the same key copies back (`sync --reverse`), never forward: the
/// notice names the command, and the copy back's own refusal comes back from its log.
#[test]
fn during_a_rollback_the_copy_key_starts_the_copy_back() {
    if !require_tmux() {
        return;
    }
    let (dir, plan) = plans::write_plan(plans::PLAN);
    let cutover = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args(args)
            .arg("--plan")
            .arg(&plan)
            .env_remove("CUTOVER_PLAN")
            .output()
            .expect("run cutover");
        assert!(out.status.success(), "{args:?}: {out:?}");
    };
    cutover(&[
        "confirm",
        "add-new-mx",
        "--offline",
        "--override",
        "rehearsed in a test",
    ]);
    cutover(&["rollback", "--reason", "the new MX defers every message"]);
    let tmux = Tmux {
        socket: format!("cutover-detach-back-{}", std::process::id()),
    };
    tmux.shell("e2e", dir.path(), (200, 40), &["NO_COLOR=1"]);
    tmux.type_text(&format!(
        "env -u CUTOVER_PLAN {} tui --offline --plan {}",
        env!("CARGO_BIN_EXE_cutover"),
        plan.display()
    ));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the cockpit", |s| s.contains("DRIVING"));
    tmux.keys(&["s"]);
    let screen = tmux.wait_for("the copy back to start", |s| {
        s.contains("Copy back started (pid")
    });
    assert!(
        screen.contains(&format!("cutover sync --plan {} --reverse", plan.display())),
        "the notice shows the command: {screen}"
    );
    tmux.wait_for("the copy back's end", |s| {
        s.contains("ended with exit status: 2")
    });
    let said = std::fs::read_to_string(dir.path().join("cutover.sync.log")).expect("the log");
    // The journal has the rollback but never saw the new MX served: nothing to copy back.
    assert!(said.contains("nothing to copy back"), "{said}");
    tmux.keys(&["q"]);
    tmux.wait_for("the shell after quitting", |s| {
        !s.contains("DRIVING") && s.trim_end().ends_with("READY$")
    });
}
