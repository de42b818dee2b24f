//! The crate's layers: a module imports only from its own layer or below.
//!
//! Reads every `src/**/*.rs`, collects each `crate::…` path outside comments
//! and fails naming the file, the line and both modules for any import that
//! goes up a layer. The order is the one list below; the README's
//! architecture section draws the same picture.

use std::path::{Path, PathBuf};

/// Lowest first. Modules on one line share a layer and may import each other.
const LAYERS: &[&[&str]] = &[
    // Leaves: pure, no crate imports beyond each other.
    &[
        "check", "clock", "sanitize", "units", "step", "syntax", "tls",
    ],
    &["plan"],
    // The journal and its projection (step records, facts, copies).
    &["journal"],
    // I/O against the world: DNS, IMAP, SMTP; canaries (mail sent and found again); mail
    // authentication judged on a received message.
    &["dns", "mail", "smtp", "canary", "mailauth"],
    // Steps, checks, guidance; the confirmation rule; the evaluation context; starting a
    // background copy (for the cockpit and `sync --detach`).
    &["runbook", "actions", "session", "recorder", "detach"],
    // The cockpit's state, events, pure update and view models.
    &["app"],
    // The migration report, from the plan and the journal (reads the cockpit's mailbox facts).
    &["report"],
    // Pure rendering.
    &["ui"],
    // The terminal.
    &["tui"],
    // The cockpit's real workers.
    &["live"],
    // The rehearsal.
    &["sandbox"],
    // The commands.
    &["cli"],
    &["main"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`src/dns/watch.rs` → `dns`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib").then(|| name.to_string())
}

/// The top-level modules named by `crate::` paths on one line of code,
/// including grouped imports such as `crate::{dns, mail::probe}`.
fn imported_modules(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        // `cutover::crate::` never occurs; a preceding identifier char means another path (e.g. `subcrate::`).
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    found.push(name);
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
    }
    found
}

/// Every import that goes up a layer, as "file:line: a (layer n) imports b (layer m)".
fn upward_imports(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    for file in files {
        let Some(module) = module_of(src, &file) else {
            continue;
        };
        let Some(own) = layer_of(&module) else {
            problems.push(format!(
                "{}: module `{module}` is in no layer: add it to LAYERS in tests/layers.rs",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("read a source file");
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for target in imported_modules(line) {
                if target == module || target == "self" || target == "super" {
                    continue;
                }
                match layer_of(&target) {
                    Some(theirs) if theirs <= own => {}
                    Some(theirs) => problems.push(format!(
                        "{}:{}: `{module}` (layer {own}) imports `{target}` (layer {theirs}), a higher layer",
                        file.display(),
                        n + 1
                    )),
                    None => problems.push(format!(
                        "{}:{}: `{module}` imports `{target}`, which is in no layer: add it to LAYERS in tests/layers.rs",
                        file.display(),
                        n + 1
                    )),
                }
            }
        }
    }
    problems
}

#[test]
fn no_module_imports_from_a_higher_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let problems = upward_imports(&src);
    assert!(
        problems.is_empty(),
        "imports that go up a layer:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_scanner_sees_plain_and_grouped_paths_and_skips_comments() {
    assert_eq!(imported_modules("use crate::ui::model::X;"), ["ui"]);
    assert_eq!(
        imported_modules("use crate::{dns, mail::probe, units};"),
        ["dns", "mail", "units"]
    );
    assert_eq!(
        imported_modules("let x = crate::cli::glyph(s); // crate::tui"),
        ["cli"]
    );
    assert!(imported_modules("use subcrate::thing;").is_empty());
}

#[test]
fn an_upward_import_is_reported_with_file_line_and_both_modules() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("plan")).expect("mkdir");
    std::fs::write(
        src.join("plan/load.rs"),
        "//! doc mentioning crate::runbook is fine\nuse crate::check::Check;\nuse crate::runbook::Runbook;\n",
    )
    .expect("write");
    let problems = upward_imports(&src);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].ends_with(
            "plan/load.rs:3: `plan` (layer 1) imports `runbook` (layer 4), a higher layer"
        ),
        "{}",
        problems[0]
    );
}
