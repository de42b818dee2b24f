//! Fitting text into cells: cut at a word with an ellipsis, wrap at words, never mid-word silently.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` in at most `max` columns: whole if it fits, else cut (at a word
/// boundary when one is near) with a trailing `…`.
pub fn fit(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > max - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    // Prefer ending at a space if one is within the last third.
    if let Some(space) = out.rfind(' ')
        && space >= out.len() * 2 / 3
        && space > 0
    {
        out.truncate(space);
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out.push('…');
    out
}

/// `s` padded with spaces (or fitted) to exactly `w` columns.
pub fn pad(s: &str, w: usize) -> String {
    let f = fit(s, w);
    let n = w.saturating_sub(width(&f));
    format!("{f}{}", " ".repeat(n))
}

/// Right-aligned in `w` columns.
pub fn pad_left(s: &str, w: usize) -> String {
    let f = fit(s, w);
    let n = w.saturating_sub(width(&f));
    format!("{}{f}", " ".repeat(n))
}

/// Word-wraps `s` to `max` columns; a word longer than a line is fitted with `…`.
/// Leading spaces of each paragraph are kept; `indent` starts continuation lines.
pub fn wrap(s: &str, max: usize, indent: &str) -> Vec<String> {
    let max = max.max(1);
    let mut lines = Vec::new();
    for paragraph in s.split('\n') {
        let lead = &paragraph[..paragraph.len() - paragraph.trim_start_matches(' ').len()];
        let mut line = String::new();
        let mut first = true;
        for word in paragraph.split(' ').filter(|w| !w.is_empty()) {
            if !line.is_empty() && width(&line) + 1 + width(word) > max {
                lines.push(std::mem::take(&mut line));
                first = false;
            }
            if line.is_empty() {
                let prefix = if first { lead } else { indent };
                line = fit(&format!("{prefix}{word}"), max);
            } else {
                line.push(' ');
                line.push_str(word);
            }
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_ends_with_an_ellipsis_at_a_word() {
        assert_eq!(
            fit("Lower the TTL of MX and TXT records", 20),
            "Lower the TTL of…"
        );
        assert_eq!(fit("short", 20), "short");
        assert_eq!(
            width(&fit("alice.with.a.very.long.name@example.com", 12)),
            12
        );
    }

    #[test]
    fn wrapping_keeps_words_whole() {
        let lines = wrap("one two three four five", 9, "");
        assert_eq!(lines, vec!["one two", "three", "four five"]);
        for l in wrap("a verylongwordthatcannotfit here", 8, "  ") {
            assert!(width(&l) <= 8, "{l}");
        }
    }
}
