//! A step is a `StepId`, not a string: no step id is written as a string literal in
//! non-test code outside its definition (`src/step.rs`).
//!
//! Reads every `src/**/*.rs` with a small lexer (comments, strings, raw strings and
//! char literals told apart), leaves out `#[cfg(test)]` items and test-only files
//! (`tests.rs`, `*_tests.rs`), and fails naming the file, the line and the literal
//! for every string literal in which a built-in step id stands as a word (`"ttl-wait"`,
//! `"done:ttl-wait"`, "step `final-copy`"; not the check id `"mail.pop3-fetch"`).

use std::path::{Path, PathBuf};

use cutover::step::StepId;

/// The one file that may spell the ids.
const DEFINITION: &str = "step.rs";

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

/// Files that only tests compile (declared `#[cfg(test)] mod …;` by convention of name).
fn is_test_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name == "tests.rs" || name.ends_with("_tests.rs")
}

/// A string literal of non-test code: its 1-based line and its text as written.
#[derive(Debug)]
struct Literal {
    line: usize,
    text: String,
}

/// The string literals of `source` outside comments and outside `#[cfg(test)]` items.
fn code_literals(source: &str) -> Vec<Literal> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let mut depth = 0usize;
    // While inside a `#[cfg(test)]` item: the depth it started at, and whether its body opened.
    let mut test_item: Option<(usize, bool)> = None;
    let at = |i: usize, s: &str| {
        s.chars()
            .enumerate()
            .all(|(k, c)| chars.get(i + k) == Some(&c))
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if at(i, "//") {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if at(i, "/*") {
            let mut nested = 0;
            while i < chars.len() {
                if at(i, "/*") {
                    nested += 1;
                    i += 2;
                } else if at(i, "*/") {
                    nested -= 1;
                    i += 2;
                    if nested == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if at(i, "#[cfg(test)]") && test_item.is_none() {
            test_item = Some((depth, false));
            i += "#[cfg(test)]".len();
        } else if c == '"' || ((c == 'r' || c == 'b') && raw_or_byte_string_starts(&chars, i)) {
            let start_line = line;
            let (text, end) = string_literal(&chars, i);
            line += text.matches('\n').count();
            if test_item.is_none() {
                out.push(Literal {
                    line: start_line,
                    text,
                });
            }
            i = end;
        } else if c == '\'' {
            i = after_char_or_lifetime(&chars, i);
        } else {
            match c {
                '{' => {
                    depth += 1;
                    if let Some((_, opened)) = test_item.as_mut() {
                        *opened = true;
                    }
                }
                '}' => {
                    depth = depth.saturating_sub(1);
                    if let Some((at_depth, true)) = test_item
                        && depth == at_depth
                    {
                        test_item = None;
                    }
                }
                ';' => {
                    // `#[cfg(test)] mod tests;` or a bodiless item ends here.
                    if let Some((at_depth, false)) = test_item
                        && depth == at_depth
                    {
                        test_item = None;
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
    out
}

/// Whether `r"`, `r#"`, `b"`, `br"` or `br#"` starts at `i` (not an identifier ending in r or b).
fn raw_or_byte_string_starts(chars: &[char], i: usize) -> bool {
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return false;
    }
    let mut j = i;
    if chars.get(j) == Some(&'b') {
        j += 1;
    }
    if chars.get(j) == Some(&'r') {
        j += 1;
        while chars.get(j) == Some(&'#') {
            j += 1;
        }
    }
    j > i && chars.get(j) == Some(&'"')
}

/// The text of the string literal starting at `i` and the index just after it.
fn string_literal(chars: &[char], i: usize) -> (String, usize) {
    let mut j = i;
    if chars[j] == 'b' {
        j += 1;
    }
    let raw = chars[j] == 'r';
    if raw {
        j += 1;
    }
    let mut hashes = 0;
    while chars[j] == '#' {
        hashes += 1;
        j += 1;
    }
    j += 1; // the opening quote
    let mut text = String::new();
    while j < chars.len() {
        let c = chars[j];
        if !raw && c == '\\' {
            text.push(c);
            if let Some(next) = chars.get(j + 1) {
                text.push(*next);
            }
            j += 2;
            continue;
        }
        if c == '"' && (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) {
            return (text, j + 1 + hashes);
        }
        text.push(c);
        j += 1;
    }
    (text, j)
}

/// Skips a char literal (`'a'`, `'\''`, `'"'`) or a lifetime (`'a`), starting at the quote.
fn after_char_or_lifetime(chars: &[char], i: usize) -> usize {
    if chars.get(i + 1) == Some(&'\\') {
        let mut j = i + 3;
        while j < chars.len() && chars[j] != '\'' {
            j += 1;
        }
        return j + 1;
    }
    if chars.get(i + 2) == Some(&'\'') {
        return i + 3;
    }
    i + 1
}

/// Whether `text` holds `id` as a word: not inside a longer id or a dotted check id.
fn names_step(text: &str, id: &str) -> bool {
    let part_of_id = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
    text.match_indices(id).any(|(at, _)| {
        let before = text[..at].chars().last();
        let after = text[at + id.len()..].chars().next();
        !before.is_some_and(part_of_id) && !after.is_some_and(part_of_id)
    })
}

/// Every step-id literal in non-test code, as "file:line: \"literal\"".
fn step_literals(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap_or(&file);
        if relative == Path::new(DEFINITION) || is_test_file(&file) {
            continue;
        }
        let source = std::fs::read_to_string(&file).expect("read a source file");
        for literal in code_literals(&source) {
            if StepId::BUILT_IN
                .iter()
                .chain(StepId::ROLLBACK)
                .any(|step| names_step(&literal.text, step.as_str()))
            {
                found.push(format!(
                    "{}:{}: \"{}\"",
                    file.display(),
                    literal.line,
                    literal.text
                ));
            }
        }
    }
    found
}

#[test]
fn no_step_id_is_a_string_literal_outside_its_definition() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = step_literals(&src);
    assert!(
        found.is_empty(),
        "step ids written as strings (name the StepId variant instead, e.g. `StepId::TtlWait`, \
         or format it into the text):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scanner_sees_code_literals_and_skips_comments_tests_and_check_ids() {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("app")).expect("mkdir");
    std::fs::write(
        src.join("app/view.rs"),
        r##"//! `ttl-wait` in a doc comment is fine
/* and "final-copy" in a block comment */
const QUOTE: char = '"';
fn f<'a>(x: &'a str) -> bool {
    x == "add-new-mx" // caught
}
const GATE: &str = "done:ttl-wait";
const PROSE: &str = r#"run `cutover confirm final-copy` now"#;
const CHECK: &str = "mail.pop3-fetch";
const LONGER: &str = "lower-ttl-ish";
#[cfg(test)]
mod tests;
#[cfg(test)]
mod inline {
    const IN_TEST: &str = "remove-old-mx";
    fn g() { let _ = "{"; }
}
const AFTER: &str = "restore-ttl";
"##,
    )
    .expect("write");
    std::fs::write(src.join("app/tests.rs"), "const T: &str = \"lower-ttl\";\n").expect("write");
    std::fs::write(src.join(DEFINITION), "const D: &str = \"lower-ttl\";\n").expect("write");
    let found = step_literals(&src);
    let lines: Vec<&str> = found
        .iter()
        .map(|f| {
            f.split_once("view.rs:")
                .map_or(f.as_str(), |(_, rest)| rest)
        })
        .collect();
    assert_eq!(
        lines,
        [
            "5: \"add-new-mx\"",
            "7: \"done:ttl-wait\"",
            "8: \"run `cutover confirm final-copy` now\"",
            "18: \"restore-ttl\"",
        ],
        "{found:#?}"
    );
}
