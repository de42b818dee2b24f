//! How a command fails, as an operator sees it: an expected failure is one plain
//! `cutover: …` line with its documented exit code; an unexpected one (the cockpit
//! cannot use the terminal) is a report with its causes.

#[path = "support/dovecot.rs"]
mod dovecot;
#[path = "support/plans.rs"]
mod plans;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use cutover::plan::Security;
use dovecot::{Dovecot, write_secrets};
use plans::{PLAN, write_plan};

fn cutover(plan: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .arg("--plan")
        .arg(plan)
        .env_remove("CUTOVER_PLAN")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .output()
        .expect("run cutover")
}

fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn check_on_a_missing_plan_exits_2_with_one_plain_line() {
    let dir = tempfile::tempdir().expect("dir");
    let plan = dir.path().join("nowhere.toml");
    let out = cutover(&plan, &["check"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        stderr_lines(&out),
        ["cutover: 1 error in the plan"],
        "one plain line, no report"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("nowhere.toml:1:1: cannot read the plan:"),
        "the diagnostic is on stdout: {stdout}"
    );
}

#[test]
fn an_unknown_step_exits_2_naming_the_steps_there_are() {
    let (_dir, plan) = write_plan(PLAN);
    let out = cutover(&plan, &["applied", "lower"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("cutover: no step `lower`; the steps are: lower-ttl, "),
        "{lines:?}"
    );
}

#[test]
fn a_server_nobody_listens_on_makes_sync_exit_4_with_one_plain_line() {
    // Port 9 (discard) on loopback: nothing listens in the test environment.
    let text = PLAN
        .replace(
            "imap = \"imaps://imap.old.example:993\"",
            "imap = { url = \"imap://127.0.0.1:9\", tls = \"none\" }",
        )
        .replace(
            "[[mailbox]]\naddress = \"alice@example.com\"",
            "[credentials]\nsecrets_file = \"secrets.toml\"\n\n[[mailbox]]\naddress = \"alice@example.com\"",
        );
    let (dir, plan) = write_plan(&text);
    write_secrets(
        &dir.path().join("secrets.toml"),
        &[
            ("alice@example.com", "a-old", "a-new"),
            ("bob@example.com", "b-old", "b-new"),
        ],
        None,
    );
    let out = cutover(&plan, &["sync", "--mailbox", "alice@example.com"]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(
            "cutover: alice@example.com on the old server (imap://127.0.0.1:9): unreachable: "
        ),
        "{lines:?}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no: alice@example.com on the old server"),
        "the table says it too: {out:?}"
    );
}

#[test]
fn a_refused_login_makes_sync_exit_3_with_one_plain_line_and_no_password() {
    let (Some(old), Some(new)) = (Dovecot::start("old"), Dovecot::start("new")) else {
        return;
    };
    for d in [&old, &new] {
        d.add_users(&[("alice@example.com", "alice-pw")]);
    }
    let side = |d: &Dovecot| {
        let e = d.endpoint(Security::Implicit);
        format!(
            "{{ url = \"{}\", ca_file = \"{}\" }}",
            e.url,
            e.ca_file.expect("test CA").display()
        )
    };
    let text = PLAN
        .replace(
            "imap = \"imaps://imap.old.example:993\"",
            &format!("imap = {}", side(&old)),
        )
        .replace(
            "imap = { url = \"imap://127.0.0.1:10143\", tls = \"none\" }",
            &format!("imap = {}", side(&new)),
        )
        .replace("old_login = \"alice\"\n", "")
        .replace(
            "[[mailbox]]\naddress = \"alice@example.com\"",
            "[credentials]\nsecrets_file = \"secrets.toml\"\n\n[[mailbox]]\naddress = \"alice@example.com\"",
        );
    let (dir, plan) = write_plan(&text);
    write_secrets(
        &dir.path().join("secrets.toml"),
        &[
            ("alice@example.com", "alice-pw", "Sup3rSecret-typo"),
            ("bob@example.com", "-", "-"),
        ],
        None,
    );
    let out = cutover(&plan, &["sync", "--mailbox", "alice@example.com"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("cutover: alice@example.com on the new server (")
            && lines[0].contains("login refused for alice@example.com")
            && lines[0].contains("[AUTHENTICATIONFAILED] Authentication failed."),
        "{lines:?}"
    );
    assert!(!lines[0].contains("Sup3rSecret-typo"), "{lines:?}");
}

#[test]
fn a_cockpit_without_a_terminal_is_an_unexpected_failure_reported_with_its_causes() {
    let (_dir, plan) = write_plan(PLAN);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cutover"));
    cmd.args(["tui", "--offline", "--plan"])
        .arg(&plan)
        .env_remove("CUTOVER_PLAN")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null());
    // A session of its own has no controlling terminal, so the cockpit cannot open
    // /dev/tty (and never takes over the terminal the tests run in).
    // SAFETY: setsid is async-signal-safe and touches no memory of this process.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().expect("run cutover");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("cutover: unexpected error:\n"), "{err}");
    assert!(err.contains("0: the cockpit stopped"), "{err}");
    assert!(
        err.contains("1: the terminal: "),
        "every cause is listed: {err}"
    );
    assert!(
        !err.contains("\x1b["),
        "no colour when stderr is not a terminal: {err}"
    );
}
