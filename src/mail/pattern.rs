//! Folder-name patterns: one matcher for the plan's `exclude` list and for IMAP LIST
//! (RFC 3501 §6.3.8). `*` matches any run of characters; `%` matches any run within one
//! hierarchy level when a delimiter is given, and is an ordinary character otherwise.

/// Whether `name` matches `pattern`. Byte-wise, which for UTF-8 text is the same as
/// character-wise (a character's bytes never match inside another character's).
/// Polynomial in the lengths, whatever the number of wildcards.
pub fn matches(pattern: &[u8], name: &[u8], delimiter: Option<u8>) -> bool {
    // row[j]: the pattern so far matches the first j bytes of the name.
    let mut row = vec![false; name.len() + 1];
    row[0] = true;
    for &p in pattern {
        let mut next = vec![false; name.len() + 1];
        match (p, delimiter) {
            (b'*', _) => {
                next[0] = row[0];
                for j in 1..=name.len() {
                    next[j] = row[j] || next[j - 1];
                }
            }
            (b'%', Some(delimiter)) => {
                next[0] = row[0];
                for j in 1..=name.len() {
                    next[j] = row[j] || (next[j - 1] && name[j - 1] != delimiter);
                }
            }
            _ => {
                for j in 1..=name.len() {
                    next[j] = row[j - 1] && name[j - 1] == p;
                }
            }
        }
        row = next;
    }
    row[name.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclude_patterns() {
        let m = |p: &str, n: &str| matches(p.as_bytes(), n.as_bytes(), None);
        assert!(m("Junk", "Junk"));
        assert!(m("Archiv/*", "Archiv/2019"));
        assert!(m("*Spam*", "Mein Spam Ordner"));
        assert!(m("Entwü*", "Entwürfe"));
        assert!(!m("Archiv/*", "Archive"));
        assert!(!m("Junk", "Junk2"));
        // Without a delimiter `%` is an ordinary character.
        assert!(m("100%", "100%") && !m("100%", "1000"));
    }

    #[test]
    fn list_patterns_follow_rfc_3501() {
        let m = |p: &str, n: &str| matches(p.as_bytes(), n.as_bytes(), Some(b'/'));
        assert!(m("*", "Archive/2025"));
        assert!(!m("%", "Archive/2025"));
        assert!(m("Archive/%", "Archive/2025"));
        assert!(m("%/2025", "Archive/2025"));
        assert!(m("Entw&APw-rfe", "Entw&APw-rfe"));
        assert!(!m("Sent", "Sent Items"));
        assert!(m("", "") && !m("", "INBOX"));
    }

    #[test]
    fn many_wildcards_stay_fast() {
        let pattern = "*a".repeat(40);
        let name = "a".repeat(39) + "b";
        assert!(!matches(pattern.as_bytes(), name.as_bytes(), Some(b'/')));
    }
}
