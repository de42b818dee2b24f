//! `cutover report` on journal fixtures: a clean migration, one with an override and an
//! alarm (and hostile text from DNS and a folder name), one in progress, one rolled back
//! (decisions, rollback steps, copy back, a stay), and the 0.1 journal. Every format
//! renders; Markdown and CSV are snapshots; the HTML parses with html5ever's exact errors
//! and none; no format shows a secret; a real browser (headless Chromium, network off)
//! shows every section and prints it on A4 within page bounds.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::Command;

use html5ever::tendril::TendrilSink;
use html5ever::tokenizer::TokenizerOpts;
use html5ever::tree_builder::TreeBuilderOpts;
use html5ever::{ParseOpts, parse_document};
use markup5ever_rcdom::{Handle, NodeData, RcDom};
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// The fixtures: a name for snapshots, and the directory under tests/fixtures.
const ALL: [(&str, &str); 5] = [
    ("clean", "report/clean"),
    ("override_alarm", "report/override-alarm"),
    ("in_progress", "report/in-progress"),
    ("v0_1", "journal-v0.1"),
    ("rolled_back", "report/rolled-back"),
];

const FORMATS: [&str; 4] = ["html", "md", "csv", "json"];

/// A fixture's plan, secrets and journal, copied to a fresh directory (the report
/// replays the journal, which may set a torn tail aside beside it).
fn fixture_copy(dir: &str) -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("temp dir");
    for name in ["cutover.toml", "secrets.toml", "cutover.journal"] {
        let to = tmp.path().join(name);
        std::fs::copy(Path::new(FIXTURES).join(dir).join(name), &to).expect("copy the fixture");
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let plan = tmp.path().join("cutover.toml");
    (tmp, plan)
}

fn cutover(plan: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cutover"))
        .arg("--plan")
        .arg(plan)
        .args(args)
        .env_remove("CUTOVER_PLAN")
        .output()
        .expect("run cutover")
}

/// `cutover report --format FORMAT` on a fixture, to stdout; it must exit 0.
fn report(dir: &str, format: &str) -> String {
    let (_tmp, plan) = fixture_copy(dir);
    let out = cutover(&plan, &["report", "--format", format]);
    assert!(
        out.status.success(),
        "report --format {format} on {dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn markdown_and_csv_of_every_fixture_are_as_reviewed() {
    for (name, dir) in ALL {
        insta::assert_snapshot!(format!("report_{name}_md"), report(dir, "md"));
        insta::assert_snapshot!(format!("report_{name}_csv"), report(dir, "csv"));
    }
}

#[test]
fn the_report_is_written_to_the_out_file_and_stdout_stays_empty() {
    let (tmp, plan) = fixture_copy("report/clean");
    let file = tmp.path().join("report.html");
    let out = cutover(
        &plan,
        &[
            "report",
            "--format",
            "html",
            "--out",
            file.to_str().expect("path"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let html = std::fs::read_to_string(&file).expect("the file is written");
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    // An unwritable place: exit 2, naming the file.
    let out = cutover(&plan, &["report", "--out", "/nonexistent-dir/report.md"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/nonexistent-dir/report.md"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_summary_says_where_the_migration_stands_and_what_is_missing() {
    let clean = report("report/clean", "md");
    assert!(
        clean.contains("\nFinished. As of Wed 4 Mar 2026 08:20 UTC.\n"),
        "{clean}"
    );
    assert!(
        clean.contains(
            "| **Old-server messages not on the new server at the last verified copy** | **0** |"
        ),
        "{clean}"
    );
    assert!(
        clean.contains("| Messages on the old server | 1905 (all 5 mailboxes"),
        "{clean}"
    );

    let progress = report("report/in-progress", "md");
    assert!(
        progress.contains("\nIn progress, as of Tue 3 Mar 2026 08:10 UTC.\n"),
        "{progress}"
    );
    assert!(progress.contains("next: remove-old-mx"), "{progress}");
    assert!(
        progress.contains("unknown: no copy has run yet"),
        "{progress}"
    );

    let alarmed = report("report/override-alarm", "json");
    let json: Value = serde_json::from_str(&alarmed).expect("JSON");
    let summary = &json["summary"];
    assert_eq!(summary["missing"], 2, "{summary}");
    assert_eq!(
        summary["missing_folders"][0]["mailbox"],
        "user2@example-firm.test"
    );
    assert_eq!(summary["overrides"], 1);
    assert_eq!(summary["alarms"], 1);
    let alarm = &json["alarms"][0];
    assert_eq!(alarm["id"], "mx-empty");
    assert_eq!(alarm["raised_at"], "2026-03-03T08:10:00Z");
    assert_eq!(alarm["cleared_at"], "2026-03-03T08:45:00Z");
    assert_eq!(alarm["duration_s"], 35 * 60);
    assert!(!alarm["entries"].as_array().expect("entries").is_empty());
    let overridden = &json["overrides"][0];
    assert_eq!(overridden["step"], "remove-old-mx");
    assert_eq!(overridden["overrode"][0]["check"], "mx-order");
    assert_eq!(overridden["overrode"][0]["status"], "fail");
}

#[test]
fn a_section_with_nothing_to_show_is_absent() {
    let clean = report("report/clean", "md");
    assert!(!clean.contains("## Overrides"), "{clean}");
    assert!(!clean.contains("## Alarms"), "{clean}");
    let html = report("report/clean", "html");
    assert!(!html.contains("id=\"overrides\""));
    assert!(!html.contains("id=\"alarms\""));
    let alarmed = report("report/override-alarm", "md");
    for heading in [
        "## Summary",
        "## Timeline",
        "## Overrides",
        "## Alarms",
        "## DNS",
        "## Mailboxes",
    ] {
        assert!(alarmed.contains(heading), "{heading} in\n{alarmed}");
    }
}

#[test]
fn dns_stages_say_what_an_older_journal_did_not_record_and_show_recorded_records() {
    let json: Value = serde_json::from_str(&report("report/override-alarm", "json")).expect("JSON");
    let stages: Vec<&str> = json["dns"]
        .as_array()
        .expect("dns")
        .iter()
        .map(|s| s["stage"].as_str().expect("stage"))
        .collect();
    assert_eq!(
        stages,
        [
            "before",
            "lowered",
            "switched",
            "after:dkim-spf-final",
            "restored"
        ]
    );
    let before = &json["dns"][0];
    assert!(
        before["not_recorded"]
            .as_str()
            .expect("a note")
            .contains("TXT (SPF)")
    );
    let recorded = &json["dns"][3];
    assert!(recorded["not_recorded"].is_null(), "{recorded}");
    assert_eq!(recorded["records"][1]["type"], "TXT");
    assert_eq!(recorded["records"][1]["ttl"], 300);
    let restored = &json["dns"][4];
    assert!(restored["records"].as_array().expect("records").is_empty());
    assert!(
        restored["not_recorded"]
            .as_str()
            .expect("a note")
            .contains("no records")
    );
}

/// Every element's name and attributes, and all text, of a parsed document.
fn walk(node: &Handle, elements: &mut Vec<(String, Vec<(String, String)>)>, text: &mut String) {
    match &node.data {
        NodeData::Element { name, attrs, .. } => {
            let attrs = attrs
                .borrow()
                .iter()
                .map(|a| (a.name.local.to_string(), a.value.to_string()))
                .collect();
            elements.push((name.local.to_string(), attrs));
        }
        NodeData::Text { contents } => text.push_str(&contents.borrow()),
        _ => {}
    }
    for child in node.children.borrow().iter() {
        walk(child, elements, text);
    }
}

fn parse_strictly(html: &str) -> RcDom {
    let opts = ParseOpts {
        tokenizer: TokenizerOpts {
            exact_errors: true,
            ..TokenizerOpts::default()
        },
        tree_builder: TreeBuilderOpts {
            exact_errors: true,
            ..TreeBuilderOpts::default()
        },
    };
    parse_document(RcDom::default(), opts).one(html)
}

#[test]
fn the_html_parses_without_error_runs_nothing_fetches_nothing_and_escapes_hostile_text() {
    for (name, dir) in ALL {
        let html = report(dir, "html");
        let dom = parse_strictly(&html);
        let errors: &RefCell<Vec<_>> = &dom.errors;
        assert!(errors.borrow().is_empty(), "{name}: {:?}", errors.borrow());
        assert!(!html.to_ascii_lowercase().contains("<script"), "{name}");
        let (mut elements, mut text) = (Vec::new(), String::new());
        walk(&dom.document, &mut elements, &mut text);
        for (element, attrs) in &elements {
            assert!(
                !["script", "iframe", "img", "link", "object", "embed", "a"]
                    .contains(&element.as_str()),
                "{name}: a <{element}>"
            );
            for (attr, value) in attrs {
                assert!(
                    ![
                        "src",
                        "href",
                        "srcset",
                        "action",
                        "formaction",
                        "background",
                        "poster"
                    ]
                    .contains(&attr.as_str())
                        && !attr.starts_with("on"),
                    "{name}: <{element} {attr}={value:?}>"
                );
            }
        }
        // The style fetches nothing either.
        let style = html
            .split("<style>")
            .nth(1)
            .and_then(|s| s.split("</style>").next())
            .expect("a style element");
        assert!(
            !style.contains("url(") && !style.contains("@import"),
            "{name}"
        );
        for heading in ["Summary", "Timeline", "Mailboxes"] {
            assert!(
                elements.iter().any(|(e, _)| e == "h2") && text.contains(heading),
                "{name}: {heading}"
            );
        }
        if name == "override_alarm" {
            // The hostile TXT record and folder name, escaped in the source, as text in the page.
            assert!(
                html.contains("-all &lt;script&gt;alert(&quot;txt&quot;)&lt;/script&gt; | [click](https://evil.example/spf)"),
                "{html}"
            );
            assert!(
                html.contains("&lt;img src=x onerror=alert(1)&gt;"),
                "{html}"
            );
            assert!(text.contains("<script>alert(\"txt\")</script>"));
            assert!(text.contains("<img src=x onerror=alert(1)>"));
            assert!(
                text.contains("<b>ok</b>"),
                "the override's reason, verbatim"
            );
        }
    }
}

#[test]
fn markdown_escapes_pipes_links_and_html_from_servers_and_operators() {
    let md = report("report/override-alarm", "md");
    // No `<`, `[` or `]` that Markdown would read: each one from a text is escaped.
    for (i, c) in md
        .char_indices()
        .filter(|(_, c)| ['<', '[', ']'].contains(c))
    {
        assert!(
            md[..i].ends_with('\\'),
            "an unescaped {c} at {i}: {}",
            &md[i.saturating_sub(40)..i + 1]
        );
    }
    assert!(
        md.contains(
            "\\<script\\>alert(\"txt\")\\</script\\> \\| \\[click\\](https://evil.example/spf)"
        ),
        "{md}"
    );
    assert!(
        md.contains("=HYPERLINK(\"https://evil.example\")\\|\\<img src=x onerror=alert(1)\\>"),
        "{md}"
    );
    assert!(
        md.contains("Old MX went first \\| senders deferred"),
        "{md}"
    );
    // Every table row still has its columns: no `|` from a text split a cell.
    for line in md.lines().filter(|l| l.starts_with("| ")) {
        let cells = line.replace("\\|", "").matches('|').count();
        assert!([3, 4, 6, 7, 8].contains(&cells), "{cells} bars: {line}");
    }
}

#[test]
fn csv_cells_that_would_run_as_a_formula_start_with_a_quote() {
    let csv = report("report/override-alarm", "csv");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a row")).collect();
    let user2 = rows
        .iter()
        .find(|r| &r[0] == "user2@example-firm.test")
        .expect("user2's row");
    let why = &user2[6];
    assert!(why.starts_with("'=HYPERLINK("), "{why}");
    for row in &rows {
        for cell in row {
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "a formula cell: {cell}"
            );
        }
    }
}

#[test]
fn csv_columns_are_the_json_mailbox_fields_in_the_same_order() {
    let csv = report("report/clean", "csv");
    let header: Vec<&str> = csv.lines().next().expect("a header").split(',').collect();
    let json: Value = serde_json::from_str(&report("report/clean", "json")).expect("JSON");
    let fields: Vec<&str> = json["mailboxes"][0]
        .as_object()
        .expect("a mailbox")
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted_header = header.clone();
    sorted_header.sort_unstable();
    let mut sorted_fields = fields.clone();
    sorted_fields.sort_unstable();
    assert_eq!(sorted_header, sorted_fields);
}

#[test]
fn no_format_shows_a_password_or_the_secrets_file() {
    for (name, dir) in ALL {
        let secrets = std::fs::read_to_string(Path::new(FIXTURES).join(dir).join("secrets.toml"))
            .expect("the fixture's secrets");
        let passwords: Vec<String> = secrets
            .lines()
            .filter_map(|l| {
                l.split_once('=')
                    .map(|(_, v)| v.trim().trim_matches('"').to_string())
            })
            .filter(|v| !v.is_empty())
            .collect();
        assert!(!passwords.is_empty(), "{name}: the fixture has secrets");
        for format in FORMATS {
            let text = report(dir, format);
            for secret in passwords.iter().map(String::as_str).chain([
                "secrets.toml",
                "secrets_file",
                "password_command",
            ]) {
                assert!(!text.contains(secret), "{name} {format} shows {secret:?}");
            }
        }
    }
}

/// `assets/report.schema.json` compiled for validation, made strict: an object may hold
/// only the properties its schema names (schemars leaves `additionalProperties` open), and
/// `date-time` formats are asserted.
fn strict_report_schema(schema: &Value) -> (boon::Schemas, boon::SchemaIndex) {
    fn close_objects(node: &mut Value) {
        match node {
            Value::Object(map) => {
                if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                    map.insert("additionalProperties".into(), Value::Bool(false));
                }
                map.values_mut().for_each(close_objects);
            }
            Value::Array(items) => items.iter_mut().for_each(close_objects),
            _ => {}
        }
    }
    let mut strict = schema.clone();
    close_objects(&mut strict);
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    compiler
        .add_resource("urn:cutover:report", strict)
        .expect("add the schema");
    let index = compiler
        .compile("urn:cutover:report", &mut schemas)
        .expect("the schema compiles");
    (schemas, index)
}

#[test]
fn the_json_schema_is_checked_in_and_every_fixture_validates_against_it() {
    let (_tmp, plan) = fixture_copy("report/clean");
    let out = cutover(&plan, &["report", "--json-schema"]);
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).expect("UTF-8");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/report.schema.json");
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        generated == checked_in,
        "assets/report.schema.json differs from the types: regenerate it with \
         `cargo run -- report --json-schema > assets/report.schema.json`"
    );
    let schema: Value = serde_json::from_str(&generated).expect("the schema is JSON");
    let (schemas, index) = strict_report_schema(&schema);
    for (name, dir) in ALL {
        let json: Value = serde_json::from_str(&report(dir, "json")).expect("JSON");
        if let Err(e) = schemas.validate(&json, index) {
            panic!("{name}'s report does not validate against assets/report.schema.json:\n{e}");
        }
        assert_eq!(json["schema_version"], 1);
        // The validation judges: a field the schema does not name, a wrong type deep in a
        // section, or a time that is not RFC 3339 is refused.
        let mut unnamed = json.clone();
        unnamed["summary"]["unnamed"] = Value::Bool(true);
        let mut mistyped = json.clone();
        mistyped["dns"] = serde_json::json!([{"stage": "before", "records": "none"}]);
        let mut bad_time = json.clone();
        bad_time["as_of"] = Value::String("yesterday".into());
        for (what, doc) in [
            ("an unnamed field", unnamed),
            ("a mistyped DNS stage", mistyped),
            ("a time that is not RFC 3339", bad_time),
        ] {
            assert!(
                schemas.validate(&doc, index).is_err(),
                "{name}: {what} validates"
            );
        }
    }
}

/// The rehearsal's clean run: its mailbox CSV adds up to the autopilot's count of
/// messages on the old server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rehearsal_mailbox_csv_adds_up_to_the_autopilot_count() {
    let keep = tempfile::tempdir().expect("temp dir");
    let opts = cutover::sandbox::demo::DemoOptions {
        autopilot: true,
        keep: Some(keep.path().to_path_buf()),
        mailboxes: 3,
        messages: 60,
        ..Default::default()
    };
    let rehearsal = cutover::sandbox::demo::rehearse(&opts)
        .await
        .expect("the rehearsal runs");
    assert_eq!(rehearsal.report.exit_code(), 0);
    let on_old = rehearsal.report.old_messages_at_end;
    assert!(on_old > 0);
    let plan = keep.path().join("cutover.toml");
    let out = cutover(&plan, &["report", "--format", "csv"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let column = reader
        .headers()
        .expect("a header")
        .iter()
        .position(|h| h == "old_messages")
        .expect("an old_messages column");
    let sum: u64 = reader
        .records()
        .map(|r| r.expect("a row")[column].parse::<u64>().expect("a count"))
        .sum();
    assert_eq!(sum, on_old);
}

/// Headless Chromium, or `None` after saying why the test is skipped (a failure with
/// `CUTOVER_REQUIRE_SERVERS=1`).
fn chromium() -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        if std::env::var("CUTOVER_REQUIRE_SERVERS").is_ok_and(|v| v == "1") {
            panic!(
                "chromium not installed and CUTOVER_REQUIRE_SERVERS=1: apt-get install chromium"
            );
        }
        println!("SKIPPED: chromium not installed (apt-get install chromium)");
    }
    found
}

/// Chromium with the network off: in a fresh network namespace (loopback only, down)
/// where the system allows it, and in any case resolving no name and using no proxy.
fn headless(chromium: &Path, args: &[&str]) -> std::process::Output {
    let isolated = Command::new("unshare")
        .args(["-n", "true"])
        .status()
        .is_ok_and(|s| s.success());
    let mut command = if isolated {
        let mut c = Command::new("unshare");
        c.arg("-n").arg(chromium);
        c
    } else {
        Command::new(chromium)
    };
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=127.0.0.1:9",
            "--disable-background-networking",
        ])
        .args(args)
        .output()
        .expect("run chromium")
}

#[test]
fn chromium_shows_every_section_and_prints_it_on_a4_within_page_bounds() {
    let Some(chromium) = chromium() else { return };
    // (fixture, its section headings, the pages the printed report may have)
    let cases: [(&str, &[&str], std::ops::RangeInclusive<usize>); 4] = [
        (
            "report/clean",
            &["Summary", "Timeline", "DNS", "Mailboxes"],
            6..=10,
        ),
        (
            "report/override-alarm",
            &[
                "Summary",
                "Timeline",
                "Overrides",
                "Alarms",
                "DNS",
                "Mailboxes",
            ],
            8..=12,
        ),
        (
            "report/in-progress",
            &["Summary", "Timeline", "DNS", "Mailboxes"],
            5..=9,
        ),
        (
            "report/rolled-back",
            &["Summary", "Timeline", "Rollback", "DNS", "Mailboxes"],
            7..=11,
        ),
    ];
    for (dir, headings, pages) in cases {
        let (tmp, plan) = fixture_copy(dir);
        let file = tmp.path().join("report.html");
        let out = cutover(
            &plan,
            &[
                "report",
                "--format",
                "html",
                "--out",
                file.to_str().expect("path"),
            ],
        );
        assert!(out.status.success());
        let url = format!("file://{}", file.display());
        let dom = headless(&chromium, &["--dump-dom", &url]);
        let dom = String::from_utf8_lossy(&dom.stdout);
        for heading in headings {
            assert!(
                dom.contains(&format!("<h2>{heading}</h2>")),
                "{dir}: {heading}\n{dom}"
            );
        }
        let pdf = tmp.path().join("report.pdf");
        let printed = headless(
            &chromium,
            &[
                "--no-pdf-header-footer",
                &format!("--print-to-pdf={}", pdf.display()),
                &url,
            ],
        );
        let bytes = std::fs::read(&pdf).unwrap_or_else(|e| {
            panic!(
                "{dir}: no PDF ({e}): {}",
                String::from_utf8_lossy(&printed.stderr)
            )
        });
        let text = String::from_utf8_lossy(&bytes);
        // Each page object says `/Type /Page` (the page tree says `/Type /Pages`).
        let count = text.matches("/Type /Page").count() - text.matches("/Type /Pages").count();
        assert!(
            pages.contains(&count),
            "{dir}: {count} pages, expected {pages:?}"
        );
        // A4 is 210 × 297 mm: 595 × 842 points, which Chromium writes as 594.96 × 841.92.
        let boxes = text.matches("/MediaBox [0 0 594.95996 841.91998]").count();
        assert_eq!(boxes, count, "{dir}: every page A4");
        // With poppler's pdftotext: no blank page, and each section after the summary starts
        // a page of its own (none begins at the foot of another's last page).
        let poppler = Command::new("pdftotext")
            .arg("-v")
            .output()
            .is_ok_and(|o| o.status.success());
        if !poppler {
            if std::env::var("CUTOVER_REQUIRE_SERVERS").is_ok_and(|v| v == "1") {
                panic!(
                    "pdftotext not installed and CUTOVER_REQUIRE_SERVERS=1: apt-get install poppler-utils"
                );
            }
            println!(
                "SKIPPED: the blank-page and page-start checks (apt-get install poppler-utils)"
            );
        }
        if poppler {
            let mut first_lines = Vec::new();
            for page in 1..=count {
                let text = Command::new("pdftotext")
                    .args(["-f", &page.to_string(), "-l", &page.to_string()])
                    .arg(&pdf)
                    .arg("-")
                    .output()
                    .expect("pdftotext");
                let text = String::from_utf8_lossy(&text.stdout).to_string();
                assert!(!text.trim().is_empty(), "{dir}: page {page} is blank");
                first_lines.push(text.lines().next().unwrap_or_default().trim().to_string());
            }
            for heading in &headings[1..] {
                assert!(
                    first_lines.iter().any(|l| l == heading),
                    "{dir}: {heading} does not start a page: {first_lines:?}"
                );
            }
        }
    }
}

/// With an `archive --verify` journaled, every format shows the archive: its path, the
/// manifest's SHA-256 and each mailbox's counts; without one there is no such section
/// (`archive` is null in the JSON).
#[test]
fn the_archive_section_shows_the_last_verification_and_only_when_there_is_one() {
    let (tmp, plan) = fixture_copy("report/clean");
    let run = |format: &str| {
        let out = cutover(&plan, &["report", "--format", format]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    assert!(!run("md").contains("Archive"), "no fact, no section");
    assert!(!run("html").contains("id=\"archive\""));
    let json: Value = serde_json::from_str(&run("json")).expect("JSON");
    assert!(json["archive"].is_null(), "{:#}", json["archive"]);

    let sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let fact = serde_json::json!({
        "kind": "fact",
        "at": "2026-03-04T08:10:00Z",
        "key": "archive-verified",
        "value": {
            "dir": "/srv/cutover-archive",
            "manifest_sha256": sha,
            "ok": true,
            "online": true,
            "files": 123,
            "problem_count": 0,
            "problems": [],
            "mailboxes": [{
                "address": "alice@example.com",
                "folders": 3,
                "messages": 123,
                "bytes": 45678,
                "inbox_uidnext": 58,
                "old_messages": 123
            }]
        },
        "evidence": "archive /srv/cutover-archive verified and against the old server"
    });
    let journal = tmp.path().join("cutover.journal");
    let mut lines = std::fs::read_to_string(&journal).expect("journal");
    lines.push_str(&format!("{fact}\n"));
    std::fs::write(&journal, lines).expect("journal");

    let md = run("md");
    assert!(md.contains("## Archive of the old server"), "{md}");
    assert!(
        md.contains("Verified against its manifest and the old server on Wed 4 Mar 2026"),
        "{md}"
    );
    assert!(md.contains("| Path | /srv/cutover-archive |"), "{md}");
    assert!(
        md.contains(&format!("| Manifest SHA-256 | {sha} |")),
        "{md}"
    );
    assert!(
        md.contains("| alice@example.com | 3 | 123 | 45678 | 58 | 123 |"),
        "{md}"
    );
    let html = run("html");
    assert!(html.contains("<section id=\"archive\">"), "{html}");
    assert!(html.contains(sha), "{html}");
    let json: Value = serde_json::from_str(&run("json")).expect("JSON");
    let archive = &json["archive"];
    assert_eq!(archive["path"], "/srv/cutover-archive", "{archive:#}");
    assert_eq!(archive["manifest_sha256"], sha, "{archive:#}");
    assert_eq!(archive["ok"], true, "{archive:#}");
    assert_eq!(archive["mailboxes"][0]["messages"], 123, "{archive:#}");
    assert_eq!(archive["mailboxes"][0]["inbox_uidnext"], 58, "{archive:#}");
    // The mailbox CSV is the mailbox table: the archive adds no column to it.
    let csv = run("csv");
    assert!(!csv.contains("archive"), "{csv}");
}

/// The canaries the journal holds are a section of their own (route, where each landed,
/// its verdict), with what the servers wrote escaped; a journal with none has no such section.
#[test]
fn the_canaries_journaled_are_a_section_with_server_text_escaped() {
    assert!(!report("report/clean", "md").contains("## Mail flow"));
    let (_tmp, plan) = fixture_copy("report/clean");
    let journal = plan.with_extension("journal");
    let canary = serde_json::json!({
        "kind": "fact",
        "at": "2026-03-03T10:00:00Z",
        "key": "canary",
        "value": {
            "route": "world",
            "token": "t1",
            "message_id": "cutover-canary-t1@ext.test",
            "sent_at": "2026-03-03T09:58:00Z",
            "landed": "new",
            "folder": "INBOX",
            "delay_s": 42,
            "verdict": "pass",
            "evidence": "landed on the new server <b>|[x](http://evil)</b>",
        },
        "evidence": "world canary landed on new",
    });
    let mut text = std::fs::read_to_string(&journal).expect("journal");
    text.push_str(&format!("{canary}\n"));
    std::fs::write(&journal, text).expect("append");
    let md = cutover(&plan, &["report", "--format", "md"]);
    let md = String::from_utf8(md.stdout).expect("UTF-8");
    assert!(md.contains("## Mail flow (canaries)"), "{md}");
    let row = md
        .lines()
        .find(|l| l.contains("world → domain"))
        .unwrap_or_else(|| panic!("a canary row in\n{md}"));
    assert!(row.contains("| new | INBOX | 42 s |"), "{row}");
    // Markdown escapes the server's markup, pipe and link syntax: they show as text.
    assert!(row.contains(r"\<b\>\|\[x\](http://evil)\</b\>"), "{row}");
    assert_eq!(row.matches(" | ").count(), 7, "eight cells: {row}");
    let html = cutover(&plan, &["report", "--format", "html"]);
    let html = String::from_utf8(html.stdout).expect("UTF-8");
    assert!(
        html.contains("<h2>Mail flow (canaries)</h2>"),
        "canary section in the HTML"
    );
    assert!(
        html.contains("&lt;b&gt;"),
        "server text escaped in the HTML"
    );
    assert!(!html.contains("<b>|"), "no raw server markup in the HTML");
}

/// A rollback is a section of its own: each decision (who, when, why), the rollback steps
/// with their states and evidence, the copy back per mailbox; its reason escaped; the CSV
/// and JSON carry the copy back per mailbox. A journal without a rollback has none of it.
#[test]
fn the_rollback_section_shows_each_decision_the_steps_and_the_copy_back_only_after_one() {
    for dir in ["report/clean", "report/in-progress"] {
        assert!(!report(dir, "md").contains("## Rollback"), "{dir}");
        assert!(!report(dir, "html").contains("id=\"rollback\""), "{dir}");
        let json: Value = serde_json::from_str(&report(dir, "json")).expect("JSON");
        assert!(json["rollback"].is_null(), "{dir}");
        assert!(json["mailboxes"][0]["copied_back"].is_null(), "{dir}");
    }
    let md = report("report/rolled-back", "md");
    let section = md
        .split("\n## Rollback\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .unwrap_or_else(|| panic!("a rollback section in\n{md}"));
    assert!(
        section.contains("staying on the old server, decided on Tue 3 Mar 11:00 by bob: 3 of 5 steps of the way back done."),
        "{section}"
    );
    assert!(
        section.contains("| Tue 3 Mar 10:15 | roll back (steps: rollback-add-old-mx, rollback-remove-new-mx, rollback-copy-back) | alice | the new MX answers 451 to every message \\| see \\<ticket\\> \\[#42\\](http://evil) |"),
        "the reason escaped: {section}"
    );
    assert!(
        section.contains("| Tue 3 Mar 11:00 | stay on the old server | bob |"),
        "{section}"
    );
    assert!(
        section.contains("| rollback-remove-new-mx — Delete the new MX records | Tue 3 Mar 10:30 | Tue 3 Mar 10:32 | alice | confirmed |"),
        "{section}"
    );
    assert!(
        section
            .contains("| stay-spf-old-only — Remove the new server from SPF | — | — | — | ready |"),
        "{section}"
    );
    assert!(
        section.contains("  - pass new-mx-ttl-passed: The old MX hosts are served everywhere"),
        "{section}"
    );
    // Two runs for user1 (3 then 0): the copy back counts both; the rerun copied nothing.
    assert!(
        section.contains("| user1@example-firm.test | 3 | 0 | verified |"),
        "{section}"
    );
    assert!(
        section.contains("| user3@example-firm.test | 2 | 0 | verified |"),
        "{section}"
    );
    let html = report("report/rolled-back", "html");
    assert!(html.contains("<h2>Rollback</h2>"));
    assert!(
        html.contains("&lt;ticket&gt;"),
        "the reason escaped in the HTML"
    );
    assert!(!html.contains("<ticket>"));
    let json: Value = serde_json::from_str(&report("report/rolled-back", "json")).expect("JSON");
    let rollback = &json["rollback"];
    assert_eq!(rollback["outcome"], "staying");
    let actions: Vec<&str> = rollback["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .map(|d| d["action"].as_str().expect("action"))
        .collect();
    assert_eq!(actions, ["rollback", "stay"]);
    assert_eq!(rollback["steps"][2]["id"], "rollback-copy-back");
    assert_eq!(rollback["steps"][2]["how"], "observed");
    let copied: Vec<(String, u64)> = json["mailboxes"]
        .as_array()
        .expect("mailboxes")
        .iter()
        .map(|m| {
            (
                m["copy_back_state"].as_str().expect("state").to_string(),
                m["copied_back"].as_u64().expect("copied back"),
            )
        })
        .collect();
    assert_eq!(copied.iter().map(|(_, n)| n).sum::<u64>(), 6);
    assert!(copied.iter().all(|(state, _)| state == "verified"));
    let csv = report("report/rolled-back", "csv");
    assert!(
        csv.lines()
            .next()
            .expect("header")
            .ends_with("copied_back,copy_back_state,copy_back_missing")
    );
    assert!(
        csv.lines()
            .any(|l| l.starts_with("user1@example-firm.test,") && l.ends_with(",3,verified,0")),
        "{csv}"
    );
}
