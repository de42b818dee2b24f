//! SMTP replies (RFC 5321 4.2): a three-digit code and one or more text lines,
//! read from the wire with limits, and said readably with server text sanitised.

use crate::sanitize::sanitize;

/// The longest reply line we accept (RFC 5321 allows 512 octets; servers exceed it).
pub(crate) const MAX_LINE_BYTES: usize = 4096;
/// The most lines one reply may have (a long EHLO list has ~20).
pub(crate) const MAX_REPLY_LINES: usize = 100;
/// Longest reply text kept in a result, in characters, after sanitising.
const MAX_TEXT_CHARS: usize = 512;

/// One reply: its code and its text lines, as the server sent them (not yet sanitised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    /// 2 (positive), 3 (intermediate), 4 (transient failure) or 5 (permanent failure).
    pub(crate) fn class(&self) -> u16 {
        self.code / 100
    }

    pub(crate) fn is_positive(&self) -> bool {
        self.class() == 2
    }

    /// The reply in one readable line, safe for a terminal or a log: the code, then the
    /// lines' text joined by spaces, a repeated enhanced status code (`5.1.1`) said once.
    pub fn text(&self) -> String {
        let mut parts: Vec<&str> = Vec::with_capacity(self.lines.len());
        let enhanced = self.lines.first().and_then(|l| enhanced_code(l));
        for (i, line) in self.lines.iter().enumerate() {
            let mut line = line.trim();
            if i > 0
                && let Some(code) = enhanced
                && let Some(rest) = line.strip_prefix(code)
            {
                line = rest.trim_start();
            }
            if !line.is_empty() {
                parts.push(line);
            }
        }
        let joined = if parts.is_empty() {
            self.code.to_string()
        } else {
            format!("{} {}", self.code, parts.join(" "))
        };
        shorten(&sanitize(&joined))
    }

    /// The EHLO keywords after the greeting line, upper-case (`STARTTLS`, `PIPELINING`…).
    pub(crate) fn ehlo_keywords(&self) -> Vec<String> {
        self.lines
            .iter()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
            .map(|k| k.to_ascii_uppercase())
            .collect()
    }
}

/// The enhanced status code (RFC 3463, `5.1.1`) at the start of a reply line, if any.
fn enhanced_code(line: &str) -> Option<&str> {
    let word = line.split_whitespace().next()?;
    let mut parts = word.split('.');
    let class = parts.next()?;
    let subject = parts.next()?;
    let detail = parts.next()?;
    let ok = matches!(class, "2" | "4" | "5")
        && parts.next().is_none()
        && [subject, detail]
            .iter()
            .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    ok.then_some(word)
}

/// Cuts a long text at a character boundary with an ellipsis.
fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_TEXT_CHARS {
        return text.to_string();
    }
    let mut out: String = text.chars().take(MAX_TEXT_CHARS - 1).collect();
    out.push('…');
    out
}

/// One reply line: its code, whether more lines follow (`250-`), and its text.
/// `None` when the line is not an SMTP reply line.
pub(crate) fn parse_line(line: &str) -> Option<(u16, bool, &str)> {
    let bytes = line.as_bytes();
    if bytes.len() < 3 || !bytes[..3].iter().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let code: u16 = line[..3].parse().ok()?;
    if !(200..=599).contains(&code) {
        return None;
    }
    match bytes.get(3) {
        None => Some((code, false, "")),
        Some(b' ') => Some((code, false, &line[4..])),
        Some(b'-') => Some((code, true, &line[4..])),
        Some(_) => None,
    }
}

/// A line for an error message: sanitised and short.
pub(crate) fn quote_line(raw: &str) -> String {
    shorten(&sanitize(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(code: u16, lines: &[&str]) -> Reply {
        Reply {
            code,
            lines: lines.iter().map(|l| l.to_string()).collect(),
        }
    }

    #[test]
    fn lines_are_parsed_with_their_continuation_mark() {
        assert_eq!(
            parse_line("220-mx.new.test ESMTP"),
            Some((220, true, "mx.new.test ESMTP"))
        );
        assert_eq!(parse_line("250 OK"), Some((250, false, "OK")));
        assert_eq!(parse_line("250"), Some((250, false, "")));
        assert_eq!(parse_line("25O OK"), None);
        assert_eq!(parse_line("250_OK"), None);
        assert_eq!(parse_line("HTTP/1.1 400"), None);
        assert_eq!(parse_line("999 what"), None);
    }

    #[test]
    fn a_multi_line_reply_reads_as_one_sentence() {
        let r = reply(
            550,
            &[
                "5.1.1 The email account that you tried to reach does not exist. Please try",
                "5.1.1 double-checking the recipient's email address.",
            ],
        );
        assert_eq!(
            r.text(),
            "550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address."
        );
        assert_eq!(reply(250, &[""]).text(), "250");
    }

    #[test]
    fn control_characters_never_survive() {
        let r = reply(550, &["5.1.1 \x1b[31mred\x1b[0m \u{9b}2J", "bell\x07"]);
        let text = r.text();
        assert!(!text.chars().any(|c| c.is_control()), "{text:?}");
        assert!(text.contains("\\u{1b}[31mred"), "{text}");
        assert!(quote_line("a\rb").contains("\\u{d}"));
    }

    #[test]
    fn a_huge_reply_is_cut() {
        let long = "x".repeat(5000);
        let text = reply(250, &[&long]).text();
        assert_eq!(text.chars().count(), 512);
        assert!(text.ends_with('…'));
    }

    #[test]
    fn ehlo_keywords_skip_the_greeting() {
        let r = reply(
            250,
            &["mx.new.test Hello", "PIPELINING", "starttls", "SIZE 1000"],
        );
        assert_eq!(r.ehlo_keywords(), ["PIPELINING", "STARTTLS", "SIZE"]);
    }
}
