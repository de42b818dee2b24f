//! The journal under real files and real processes: round trips, torn writes,
//! concurrent appenders, followers, the driver lock, and `kill -9` in a loop.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use cutover::check::{Check, Kind, Status};
use cutover::journal::{Drive, Driver, DriverLock, Entry, Follower, Journal};
use jiff::Timestamp;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn note(text: &str) -> Entry {
    Entry::Note {
        at: at("2026-03-02T08:00:00Z"),
        operator: "ann".to_string(),
        text: text.to_string(),
    }
}

fn note_text(entry: &Entry) -> &str {
    match entry {
        Entry::Note { text, .. } => text,
        other => panic!("expected a note, got {other:?}"),
    }
}

/// One of every kind of entry, with text that could break a naive line format.
fn every_variant() -> Vec<Entry> {
    let evidence = vec![
        Check::new(
            "mx-new-served",
            Kind::Outcome,
            Status::Pass,
            "ns1, ns2 serve 10 mx.new.example",
        ),
        Check::new("ttl-wait", Kind::Gate, Status::Warn, "ends soon")
            .until(at("2026-03-03T09:00:00Z")),
    ];
    vec![
        Entry::Applied {
            at: at("2026-03-02T08:01:00Z"),
            operator: "ann".into(),
            step: "lower-ttl".into(),
        },
        Entry::Confirm {
            at: at("2026-03-02T08:02:00Z"),
            operator: "ann".into(),
            step: "users-connected".into(),
            mailbox: Some("bob@example.com".into()),
            evidence: evidence.clone(),
        },
        Entry::Confirm {
            at: at("2026-03-02T08:02:30Z"),
            operator: "ann".into(),
            step: "lower-ttl".into(),
            mailbox: None,
            evidence: vec![],
        },
        Entry::Override {
            at: at("2026-03-02T08:03:00Z"),
            operator: "ann".into(),
            step: "remove-old-mx".into(),
            mailbox: None,
            reason: "resolver \"8.8.8.8\" lags;\nCEO says go — ok ✓".into(),
            evidence,
        },
        Entry::Reopen {
            at: at("2026-03-02T08:04:00Z"),
            operator: "ann".into(),
            step: "remove-old-mx".into(),
            mailbox: Some("carol@example.com".into()),
        },
        Entry::Fact {
            at: at("2026-03-02T08:05:00Z"),
            key: "ttl.lowered-everywhere".into(),
            value: serde_json::json!({"mx": 300, "servers": ["ns1", "ns2"]}),
            evidence: "ns1 and ns2 serve MX TTL 300".into(),
        },
        Entry::Checkpoint {
            at: at("2026-03-04T10:00:00Z"),
            mailbox: "bob@example.com".into(),
            folder: "INBOX/Rechnungen 2025".into(),
            uidvalidity: 1_700_000_000,
            last_uid: 4242,
        },
        Entry::Sync {
            at: at("2026-03-04T10:00:01Z"),
            mailbox: "bob@example.com".into(),
            pid: 4711,
            state: "copying".into(),
            messages_done: 10,
            messages_left: 90,
            bytes_done: 123_456,
            detail: Some("folder Sent".into()),
        },
        Entry::Note {
            at: at("2026-03-04T10:05:00Z"),
            operator: "ann".into(),
            text: "tab\there\u{1b}[31m and a NUL \u{0}".into(),
        },
        Entry::Other,
    ]
}

fn journal_in(dir: &Path) -> Journal {
    Journal::open(Journal::path_for_plan(&dir.join("acme.toml"))).unwrap()
}

fn append_raw(path: &Path, bytes: &[u8]) {
    let mut file = OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(bytes).unwrap();
}

#[test]
fn every_entry_kind_survives_append_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal_in(dir.path());
    for entry in every_variant() {
        journal.append(&entry).unwrap();
    }
    let replay = journal.replay().unwrap();
    assert_eq!(replay.entries, every_variant());
    assert_eq!(replay.torn, None);
    assert!(replay.bad_lines.is_empty());

    let text = fs::read_to_string(journal.path()).unwrap();
    assert_eq!(
        text.lines().count(),
        every_variant().len(),
        "one line per entry"
    );
    let mode = fs::metadata(journal.path()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the journal is private to its owner");
}

#[test]
fn an_entry_kind_from_a_newer_cutover_replays_as_other() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal_in(dir.path());
    journal.append(&note("before")).unwrap();
    append_raw(
        journal.path(),
        b"{\"kind\":\"hologram\",\"at\":\"2030-01-01T00:00:00Z\"}\n",
    );
    journal.append(&note("after")).unwrap();
    let replay = journal.replay().unwrap();
    assert_eq!(
        replay.entries,
        vec![note("before"), Entry::Other, note("after")]
    );
    assert!(replay.bad_lines.is_empty());
}

#[test]
fn a_missing_journal_replays_empty_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal_in(dir.path());
    let replay = journal.replay().unwrap();
    assert!(replay.entries.is_empty() && replay.torn.is_none() && replay.bad_lines.is_empty());
    assert!(!journal.path().exists());
}

#[test]
fn a_journal_in_a_missing_directory_is_refused_with_the_directory_named() {
    let err = Journal::open("/nonexistent-cutover-dir/acme.journal").unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent-cutover-dir"),
        "{err}"
    );
}

#[test]
fn a_torn_last_line_is_set_aside_reported_and_the_next_append_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal_in(dir.path());
    journal.append(&note("one")).unwrap();
    journal.append(&note("two")).unwrap();
    let clean_len = fs::metadata(journal.path()).unwrap().len();
    // A power cut in the middle of writing the third line.
    let half = br#"{"kind":"note","at":"2026-03-02T08:00:00Z","operator":"ann","te"#;
    append_raw(journal.path(), half);

    let replay = journal.replay().unwrap();
    assert_eq!(replay.entries, vec![note("one"), note("two")]);
    assert!(replay.bad_lines.is_empty());
    let torn = replay.torn.expect("the torn line is reported");
    assert_eq!(torn.bytes, half.to_vec());
    assert_eq!(torn.offset, clean_len);
    assert_eq!(torn.saved_to, journal.torn_path());
    let mut saved = half.to_vec();
    saved.push(b'\n');
    assert_eq!(fs::read(journal.torn_path()).unwrap(), saved);
    assert_eq!(fs::metadata(journal.path()).unwrap().len(), clean_len);

    journal.append(&note("three")).unwrap();
    let replay = journal.replay().unwrap();
    assert_eq!(
        replay.entries,
        vec![note("one"), note("two"), note("three")]
    );
    assert_eq!(replay.torn, None, "reported once, not again");
    assert!(replay.bad_lines.is_empty());
}

#[test]
fn an_append_after_a_torn_line_sets_it_aside_instead_of_gluing_onto_it() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal_in(dir.path());
    journal.append(&note("one")).unwrap();
    append_raw(journal.path(), b"{\"kind\":\"no");
    journal.append(&note("two")).unwrap();

    let replay = journal.replay().unwrap();
    assert_eq!(replay.entries, vec![note("one"), note("two")]);
    assert!(replay.bad_lines.is_empty(), "{:?}", replay.bad_lines);
    assert_eq!(replay.torn, None);
    assert_eq!(fs::read(journal.torn_path()).unwrap(), b"{\"kind\":\"no\n");
}

#[test]
fn a_bad_line_in_the_middle_is_reported_skipped_and_left_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal_in(dir.path());
    journal.append(&note("one")).unwrap();
    append_raw(journal.path(), b"this is not json\n");
    journal.append(&note("three")).unwrap();
    let before = fs::read(journal.path()).unwrap();

    let replay = journal.replay().unwrap();
    assert_eq!(replay.entries, vec![note("one"), note("three")]);
    assert_eq!(replay.bad_lines.len(), 1);
    assert_eq!(replay.bad_lines[0].line, 2);
    assert!(!replay.bad_lines[0].error.is_empty());
    assert_eq!(replay.torn, None);
    assert_eq!(
        fs::read(journal.path()).unwrap(),
        before,
        "file left as it was"
    );
    assert!(!journal.torn_path().exists());
}

#[test]
fn eight_concurrent_appenders_never_interleave_lines() {
    const THREADS: usize = 8;
    const EACH: usize = 500;
    let dir = tempfile::tempdir().unwrap();
    let path = Journal::path_for_plan(&dir.path().join("acme.toml"));
    // Long lines make a torn or interleaved write far more likely to show.
    let padding = "x".repeat(300);
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let path = path.clone();
            let padding = padding.as_str();
            scope.spawn(move || {
                // Each thread its own handle; each append its own open file description.
                let journal = Journal::open(path).unwrap();
                for seq in 0..EACH {
                    journal
                        .append(&note(&format!("{thread} {seq} {padding}")))
                        .unwrap();
                }
            });
        }
    });

    let journal = Journal::open(&path).unwrap();
    let replay = journal.replay().unwrap();
    assert!(replay.bad_lines.is_empty(), "{:?}", &replay.bad_lines[..1]);
    assert_eq!(replay.torn, None);
    assert_eq!(replay.entries.len(), THREADS * EACH);
    let mut next = [0usize; THREADS];
    for entry in &replay.entries {
        let mut words = note_text(entry).split(' ');
        let thread: usize = words.next().unwrap().parse().unwrap();
        let seq: usize = words.next().unwrap().parse().unwrap();
        assert_eq!(words.next(), Some(padding.as_str()));
        assert_eq!(seq, next[thread], "thread {thread}'s lines in order");
        next[thread] += 1;
    }
    assert_eq!(next, [EACH; THREADS]);
}

#[test]
fn a_full_disk_is_a_clear_error_naming_the_file() {
    // /dev/full answers every write with ENOSPC, as a full disk would.
    let journal = Journal::open("/dev/full").unwrap();
    let err = journal.append(&note("lost?")).unwrap_err();
    assert!(err.is_disk_full(), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("/dev/full"), "{message}");
    assert!(message.contains("append"), "{message}");
}

#[test]
fn follower_returns_only_new_complete_lines() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal_in(dir.path());
    let mut follower = journal.follower();
    assert!(follower.poll().unwrap().is_empty(), "no journal yet");

    journal.append(&note("one")).unwrap();
    journal.append(&note("two")).unwrap();
    assert_eq!(follower.poll().unwrap(), vec![note("one"), note("two")]);
    assert!(follower.poll().unwrap().is_empty(), "nothing new");

    // A line being written: half of it now, the rest later.
    let line = serde_json::to_string(&note("three")).unwrap() + "\n";
    let (first, rest) = line.split_at(line.len() / 2);
    append_raw(journal.path(), first.as_bytes());
    assert!(follower.poll().unwrap().is_empty(), "never a partial line");
    append_raw(journal.path(), rest.as_bytes());
    assert_eq!(follower.poll().unwrap(), vec![note("three")]);
    assert!(!follower.restarted());

    append_raw(journal.path(), b"garbage\n");
    journal.append(&note("four")).unwrap();
    assert_eq!(follower.poll().unwrap(), vec![note("four")]);
    let bad = follower.take_bad_lines();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].line, 4);
}

#[test]
fn follower_starts_over_when_the_journal_is_replaced_or_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal_in(dir.path());
    journal.append(&note("old one")).unwrap();
    journal.append(&note("old two")).unwrap();
    let mut follower = journal.follower();
    assert_eq!(follower.poll().unwrap().len(), 2);

    // Replaced by a restored copy holding one different line.
    let restored = dir.path().join("restored");
    fs::write(
        &restored,
        serde_json::to_string(&note("restored")).unwrap() + "\n",
    )
    .unwrap();
    fs::rename(&restored, journal.path()).unwrap();
    assert_eq!(follower.poll().unwrap(), vec![note("restored")]);
    assert!(follower.restarted());

    journal.append(&note("next")).unwrap();
    assert_eq!(follower.poll().unwrap(), vec![note("next")]);
    assert!(!follower.restarted());

    // Truncated in place.
    fs::write(journal.path(), b"").unwrap();
    journal.append(&note("fresh")).unwrap();
    assert_eq!(follower.poll().unwrap(), vec![note("fresh")]);
    assert!(follower.restarted());
}

#[test]
fn follower_after_replay_continues_exactly_where_replay_ended() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal_in(dir.path());
    journal.append(&note("one")).unwrap();
    append_raw(journal.path(), b"{\"kind\":\"torn");
    let replay = journal.replay().unwrap();
    assert!(replay.torn.is_some());
    let mut follower = journal.follower_after(&replay);
    assert!(follower.poll().unwrap().is_empty());
    journal.append(&note("two")).unwrap();
    assert_eq!(follower.poll().unwrap(), vec![note("two")]);
}

#[test]
fn follower_polling_during_appends_sees_every_line_once_in_order() {
    const COUNT: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let journal = journal_in(dir.path());
    let mut follower = Follower::new(journal.path());
    let mut seen = Vec::new();
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            for n in 0..COUNT {
                journal
                    .append(&note(&format!("{n} {}", "y".repeat(n))))
                    .unwrap();
            }
        });
        while !writer.is_finished() {
            seen.extend(follower.poll().unwrap());
        }
    });
    seen.extend(follower.poll().unwrap());
    assert!(follower.take_bad_lines().is_empty());
    let numbers: Vec<usize> = seen
        .iter()
        .map(|entry| note_text(entry).split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(numbers, (0..COUNT).collect::<Vec<_>>());
}

fn driver(user: &str) -> Driver {
    Driver {
        user: user.to_string(),
        pid: std::process::id(),
        host: "jump-1".to_string(),
        since: at("2026-03-02T07:55:00Z"),
    }
}

#[test]
fn a_second_cockpit_observes_the_driver_until_the_guard_drops() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal_in(dir.path());
    assert_eq!(DriverLock::current(journal.path()).unwrap(), None);

    let Drive::Driving(guard) = DriverLock::acquire(journal.path(), driver("ann")).unwrap() else {
        panic!("nobody drove, ann should drive");
    };
    assert_eq!(guard.driver(), &driver("ann"));
    match DriverLock::acquire(journal.path(), driver("bob")).unwrap() {
        Drive::Observing(other) => assert_eq!(other, driver("ann")),
        Drive::Driving(_) => panic!("two drivers at once"),
    }
    let current = DriverLock::current(journal.path()).unwrap().unwrap();
    assert_eq!(
        format!("driven by {current}"),
        format!(
            "driven by ann (pid {} on jump-1) since 2026-03-02T07:55:00Z",
            std::process::id()
        )
    );

    drop(guard);
    assert_eq!(DriverLock::current(journal.path()).unwrap(), None);
    let Drive::Driving(guard) = DriverLock::acquire(journal.path(), driver("bob")).unwrap() else {
        panic!("ann left, bob should drive");
    };
    assert_eq!(
        DriverLock::current(journal.path()).unwrap(),
        Some(driver("bob"))
    );
    drop(guard);
}

#[test]
fn this_process_names_our_pid_and_user() {
    let me = Driver::this_process(at("2026-03-02T07:55:00Z"));
    assert_eq!(me.pid, std::process::id());
    assert!(!me.user.is_empty() && !me.host.is_empty());
}

// ---- other processes: the test binary re-invoked as a child -------------

const CHILD_JOURNAL: &str = "CUTOVER_TEST_CHILD_JOURNAL";
const CHILD_ROUND: &str = "CUTOVER_TEST_CHILD_ROUND";

/// Runs one `#[ignore]`d helper test of this binary as a child process.
fn spawn_child(helper: &str, journal: &Path, round: usize) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            helper,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_JOURNAL, journal)
        .env(CHILD_ROUND, round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The child's stdout, line by line, through a channel (closed at its EOF).
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if send.send(line).is_err() {
                break;
            }
        }
    });
    receive
}

fn child_journal() -> Option<(PathBuf, usize)> {
    let path = std::env::var_os(CHILD_JOURNAL)?;
    let round = std::env::var(CHILD_ROUND).ok()?.parse().ok()?;
    Some((PathBuf::from(path), round))
}

#[test]
#[ignore = "helper: run as a child process by kill_9_in_a_loop_never_loses_a_reported_append"]
fn helper_child_appends_until_killed() {
    let (path, round) = child_journal().expect("run only as a child");
    let journal = Journal::open(path).unwrap();
    for n in 0.. {
        journal
            .append(&note(&format!("round {round} n {n}")))
            .unwrap();
        // Reported done only after append returned.
        // The harness may print "test NAME ... " on the same line first.
        println!("@done {n}");
    }
}

#[test]
#[ignore = "helper: run as a child process by a_killed_driver_releases_the_lock"]
fn helper_child_drives_until_killed() {
    let (path, _) = child_journal().expect("run only as a child");
    let me = Driver {
        user: "child-operator".to_string(),
        ..Driver::this_process(at("2026-03-02T07:00:00Z"))
    };
    let Drive::Driving(_guard) = DriverLock::acquire(&path, me).unwrap() else {
        panic!("the child should drive");
    };
    println!("@driving");
    std::thread::sleep(Duration::from_secs(60));
}

/// A small xorshift generator, seeded from the clock, so kill times vary run to run.
struct Jitter(u64);

impl Jitter {
    fn new() -> Jitter {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        Jitter(u64::from(nanos) | 1)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

#[test]
fn kill_9_in_a_loop_never_loses_a_reported_append() {
    const ROUNDS: usize = 24;
    let dir = tempfile::tempdir().unwrap();
    let journal = journal_in(dir.path());
    let mut jitter = Jitter::new();
    let mut total_reported = 0;
    for round in 0..ROUNDS {
        let mut child = spawn_child("helper_child_appends_until_killed", journal.path(), round);
        let lines = lines_of(&mut child);
        let mut reported = Vec::new();
        // Kill only once it is really appending, then at a random moment.
        loop {
            match lines.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => {
                    let appending = line.contains("@done ");
                    reported.push(line);
                    if appending {
                        break;
                    }
                }
                Err(err) => {
                    let _ = child.kill();
                    panic!("round {round}: the child never appended: {err}");
                }
            }
        }
        std::thread::sleep(Duration::from_millis(jitter.below(40)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reported.extend(lines.iter());

        let reported: Vec<usize> = reported
            .iter()
            .filter_map(|line| line.split_once("@done ").map(|(_, n)| n))
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(reported, (0..reported.len()).collect::<Vec<_>>());
        total_reported += reported.len();

        let replay = journal
            .replay()
            .unwrap_or_else(|err| panic!("round {round}: the journal must replay: {err}"));
        assert!(
            replay.bad_lines.is_empty(),
            "round {round}: {:?}",
            replay.bad_lines
        );
        let prefix = format!("round {round} n ");
        let in_journal: Vec<usize> = replay
            .entries
            .iter()
            .filter_map(|entry| note_text(entry).strip_prefix(&prefix))
            .map(|n| n.parse().unwrap())
            .collect();
        // Everything reported done is there, in order; at most the one append
        // that finished before the kill landed on the print is extra.
        assert!(
            in_journal.len() == reported.len() || in_journal.len() == reported.len() + 1,
            "round {round}: reported {} appends, journal holds {}",
            reported.len(),
            in_journal.len()
        );
        assert_eq!(in_journal, (0..in_journal.len()).collect::<Vec<_>>());
    }
    assert!(total_reported >= ROUNDS, "every round reported appends");
}

#[test]
fn a_killed_driver_releases_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let journal = journal_in(dir.path());
    let mut child = spawn_child("helper_child_drives_until_killed", journal.path(), 0);
    let lines = lines_of(&mut child);
    let started = Instant::now();
    loop {
        match lines.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.ends_with("@driving") => break,
            Ok(_) => continue,
            Err(err) => {
                let _ = child.kill();
                panic!("the child never drove: {err}");
            }
        }
    }
    assert!(started.elapsed() < Duration::from_secs(20));

    match DriverLock::acquire(journal.path(), driver("ann")).unwrap() {
        Drive::Observing(other) => {
            assert_eq!(other.user, "child-operator");
            assert_eq!(other.pid, child.id());
        }
        Drive::Driving(_) => panic!("the child drives; we must observe"),
    }
    let current = DriverLock::current(journal.path()).unwrap().unwrap();
    assert_eq!(current.pid, child.id());

    child.kill().unwrap(); // SIGKILL: no destructor runs, the record stays in the file
    child.wait().unwrap();
    assert_eq!(DriverLock::current(journal.path()).unwrap(), None);
    match DriverLock::acquire(journal.path(), driver("ann")).unwrap() {
        Drive::Driving(guard) => assert_eq!(guard.driver().user, "ann"),
        Drive::Observing(other) => panic!("a dead driver still drives: {other}"),
    }
}

#[derive(Debug, Clone)]
enum Step {
    Append(String),
    Tear(Vec<u8>),
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        "[a-z ]{0,20}".prop_map(Step::Append),
        // Any bytes but a newline: what a cut-off write leaves behind.
        proptest::collection::vec(
            any::<u8>().prop_filter("no newline", |b| *b != b'\n'),
            1..40
        )
        .prop_map(Step::Tear),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Whatever mix of appends and torn writes happened, replay gives back
    /// exactly the appended entries, and every torn byte sits in `.torn`.
    #[test]
    fn appends_and_torn_writes_in_any_order_lose_nothing(
        steps in proptest::collection::vec(step(), 1..12)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let journal = journal_in(dir.path());
        let mut expected = Vec::new();
        let mut pending_torn: Vec<u8> = Vec::new();
        let mut expected_torn_file: Vec<u8> = Vec::new();
        for step in &steps {
            match step {
                Step::Append(text) => {
                    journal.append(&note(text)).unwrap();
                    if !pending_torn.is_empty() {
                        expected_torn_file.append(&mut pending_torn);
                        expected_torn_file.push(b'\n');
                    }
                    expected.push(note(text));
                }
                Step::Tear(bytes) => {
                    if !journal.path().exists() {
                        fs::write(journal.path(), b"").unwrap();
                    }
                    append_raw(journal.path(), bytes);
                    pending_torn.extend(bytes);
                }
            }
        }
        let replay = journal.replay().unwrap();
        proptest::prop_assert_eq!(&replay.entries, &expected);
        proptest::prop_assert!(replay.bad_lines.is_empty());
        match replay.torn {
            Some(torn) => {
                proptest::prop_assert_eq!(&torn.bytes, &pending_torn);
                expected_torn_file.extend(&pending_torn);
                expected_torn_file.push(b'\n');
            }
            None => proptest::prop_assert!(pending_torn.is_empty()),
        }
        let torn_file = fs::read(journal.torn_path()).unwrap_or_default();
        proptest::prop_assert_eq!(torn_file, expected_torn_file);
    }
}
