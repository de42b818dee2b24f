//! Untrusted text (DNS TXT, folder names, server greetings and errors) made safe for a terminal.

/// Replaces every control character (C0, DEL, C1, and so every escape sequence's
/// introducer) with a visible `\u{..}` form, so server text can never move the
/// cursor, change colours or retitle the operator's terminal.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || is_bidi_control(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Bidirectional overrides can make text read differently from what it is.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_become_visible() {
        assert_eq!(sanitize("v=spf1 \x1b[2J -all"), "v=spf1 \\u{1b}[2J -all");
        assert_eq!(sanitize("a\rb\u{9b}c"), "a\\u{d}b\\u{9b}c");
        assert_eq!(sanitize("Entwürfe"), "Entwürfe");
    }
}
