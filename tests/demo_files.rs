//! `cutover demo` writes only into its rehearsal directory: the plan, the secrets (0600) and
//! the journal; without `--keep` the directory is gone afterwards.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn the_rehearsal_writes_nothing_outside_its_directory_and_keeps_it_only_when_asked() {
    let scratch = tempfile::tempdir().unwrap();
    let cwd = scratch.path().join("cwd");
    let tmp = scratch.path().join("tmp");
    let home = scratch.path().join("home");
    for d in [&cwd, &tmp, &home] {
        std::fs::create_dir(d).unwrap();
    }
    let demo = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args([
                "demo",
                "--autopilot",
                "--mailboxes",
                "2",
                "--messages",
                "32",
            ])
            .args(extra)
            .current_dir(&cwd)
            .env("TMPDIR", &tmp)
            .env("HOME", &home)
            .env_remove("CUTOVER_PLAN")
            .output()
            .unwrap()
    };

    // Without --keep: a temp dir under TMPDIR, removed at the end; nothing anywhere else.
    let out = demo(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("REHEARSAL"), "{stdout}");
    assert!(listing(&cwd).is_empty());
    assert!(listing(&tmp).is_empty(), "{:?}", listing(&tmp));
    assert!(listing(&home).is_empty());

    // With --keep: the plan, its secrets (owner-only) and the journal, in that directory only.
    let kept = scratch.path().join("kept");
    let out = demo(&["--keep", kept.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(listing(&cwd).is_empty());
    assert!(listing(&tmp).is_empty());
    let files = listing(&kept);
    for f in ["cutover.toml", "secrets.toml", "cutover.journal"] {
        assert!(files.contains(f), "{files:?}");
    }
    let mode = std::fs::metadata(kept.join("secrets.toml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The kept plan is a valid plan, and its journal holds the rehearsal's confirmations.
    let check = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["check", "--plan"])
        .arg(kept.join("cutover.toml"))
        .output()
        .unwrap();
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let journal = std::fs::read_to_string(kept.join("cutover.journal")).unwrap();
    assert!(journal.contains("\"step\":\"decommission-old\""));
    assert!(!journal.contains("pw-1-"), "no password in the journal");
}
