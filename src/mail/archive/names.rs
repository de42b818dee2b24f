//! Names inside the archive: a folder's directory (`LAYOUT=fs`, UTF-8, never escaping the
//! archive), a mailbox's directory, and a message's Maildir file name with its `:2,` info.

use std::path::PathBuf;

/// One path component for an untrusted name (a folder level or a mailbox address):
/// percent-encodes what a file system or a Maildir reader would take for something
/// else, so no name can climb out of the archive or land on a Maildir's own directories.
///
/// Encoded: control characters, `/`, `\`, `%` itself, a leading `.` (so `.`, `..` and
/// Maildir++ style hidden names stay plain names), and a whole name `cur`, `new` or
/// `tmp` (a folder's own Maildir directories). An empty level becomes `%`.
pub(crate) fn component(name: &str) -> String {
    if name.is_empty() {
        return "%".to_string();
    }
    let mut out = String::with_capacity(name.len());
    for (i, c) in name.chars().enumerate() {
        let encode = c.is_control()
            || matches!(c, '/' | '\\' | '%')
            || (i == 0 && c == '.')
            || (i == 0 && matches!(name, "cur" | "new" | "tmp"));
        if encode {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A folder's directory under its mailbox's directory: one directory per hierarchy level
/// (`LAYOUT=fs`), each level made safe by [`component`]. INBOX is `INBOX` whatever case
/// the server gave it (a restoring Dovecot is given `INBOX=…/INBOX`).
pub(crate) fn folder_dir(name: &str, delimiter: Option<&str>) -> PathBuf {
    if name.eq_ignore_ascii_case("INBOX") {
        return PathBuf::from("INBOX");
    }
    let levels: Vec<&str> = match delimiter {
        Some(d) if !d.is_empty() => name.split(d).collect(),
        _ => vec![name],
    };
    levels.iter().map(|level| component(level)).collect()
}

/// Maildir flag letters (`:2,` info, in ASCII order) for the IMAP system flags a message
/// carries; keywords have no letter of their own here (archive.json keeps them).
pub(crate) fn info_letters(flags: &[String]) -> String {
    let mut letters: Vec<char> = flags
        .iter()
        .filter_map(|f| match f.to_ascii_lowercase().as_str() {
            "\\draft" => Some('D'),
            "\\flagged" => Some('F'),
            "\\answered" => Some('R'),
            "\\seen" => Some('S'),
            "\\deleted" => Some('T'),
            _ => None,
        })
        .collect();
    letters.sort_unstable();
    letters.dedup();
    letters.into_iter().collect()
}

/// A message's file name: unique per folder by UIDVALIDITY and UID, its size as Dovecot's
/// `,S=` (so a restoring Dovecot need not stat it), and its flags in the `:2,` info.
pub(crate) fn message_file(
    internal_date: i64,
    uidvalidity: u32,
    uid: u32,
    size: u64,
    flags: &[String],
) -> String {
    format!(
        "{internal_date}.{}.cutover,S={size}:2,{}",
        message_key(uidvalidity, uid),
        info_letters(flags)
    )
}

/// The part of a file name that names the old server's message (`U<uidvalidity>_<uid>`).
pub(crate) fn message_key(uidvalidity: u32, uid: u32) -> String {
    format!("U{uidvalidity}_{uid}")
}

/// The UIDVALIDITY and UID a file name of ours carries, if it is one of ours.
pub(crate) fn parse_message_key(file: &str) -> Option<(u32, u32)> {
    let base = file.split(':').next()?;
    let key = base.split('.').nth(1)?;
    let (v, u) = key.strip_prefix('U')?.split_once('_')?;
    Some((v.parse().ok()?, u.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Component;

    #[test]
    fn hostile_names_stay_single_plain_components() {
        for hostile in [
            "..",
            ".",
            "../../etc",
            "a/b",
            "\\x",
            "cur",
            "new",
            "tmp",
            "",
            "\u{1b}[2J",
            "%2E",
        ] {
            let c = component(hostile);
            assert!(!c.contains('/'), "{hostile:?} → {c:?}");
            assert!(!c.starts_with('.'), "{hostile:?} → {c:?}");
            assert!(!c.chars().any(char::is_control), "{hostile:?} → {c:?}");
            assert!(!["cur", "new", "tmp", ""].contains(&c.as_str()));
            let p = PathBuf::from(&c);
            assert!(
                p.components().all(|x| matches!(x, Component::Normal(_))),
                "{hostile:?} → {c:?}"
            );
        }
        assert_eq!(component(".."), "%2E.");
        assert_eq!(component("a/b"), "a%2Fb");
        assert_eq!(component("Entwürfe"), "Entwürfe");
        assert_eq!(component("100%"), "100%25");
        // Distinct names stay distinct.
        assert_ne!(component("%2E."), component(".."));
    }

    #[test]
    fn folders_become_one_directory_per_level() {
        assert_eq!(folder_dir("inbox", Some("/")), PathBuf::from("INBOX"));
        assert_eq!(
            folder_dir("Archiv/2023", Some("/")),
            PathBuf::from("Archiv").join("2023")
        );
        assert_eq!(
            folder_dir("Projekte.Ä", Some(".")),
            PathBuf::from("Projekte").join("Ä")
        );
        // A "/" in a name whose server uses "." is part of the name, not a level.
        assert_eq!(folder_dir("a/b", Some(".")), PathBuf::from("a%2Fb"));
        // Empty levels (".." split at ".") are levels of their own, never a climb.
        assert_eq!(
            folder_dir("a/..", Some(".")),
            PathBuf::from("a%2F").join("%").join("%")
        );
        assert_eq!(
            folder_dir("../x", Some("/")),
            PathBuf::from("%2E.").join("x")
        );
        assert_eq!(
            folder_dir("x/cur", Some("/")),
            PathBuf::from("x").join("%63ur")
        );
    }

    #[test]
    fn file_names_carry_the_uid_and_the_flags() {
        let flags = vec!["\\Seen".to_string(), "\\Flagged".into(), "$Label1".into()];
        let name = message_file(1_700_000_000, 7, 42, 1234, &flags);
        assert_eq!(name, "1700000000.U7_42.cutover,S=1234:2,FS");
        assert_eq!(parse_message_key(&name), Some((7, 42)));
        assert_eq!(parse_message_key("1700000000.M1P2.host:2,S"), None);
        assert_eq!(
            info_letters(&["\\Deleted".into(), "\\Answered".into()]),
            "RT"
        );
    }
}
