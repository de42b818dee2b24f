//! The one identity of a message, shared by POP3-fetch detection, copy and verification.
//!
//! A message is known by its Message-ID together with a SHA-256 digest of its
//! Date, From, To and Subject headers (unfolded, whitespace-normalised). The
//! Received lines a POP3 fetcher adds and the byte size some servers change on
//! APPEND are deliberately left out. Without a Message-ID the digest alone
//! identifies it. Folders are compared as multisets, so two distinct messages
//! that share an identity are both kept.

use std::collections::HashMap;
use std::fmt;

use sha2::{Digest, Sha256};

/// The header fields a FETCH must return for [`Identity::from_header`].
pub(crate) const IDENTITY_FETCH: &str =
    "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID DATE FROM TO SUBJECT)]";

/// How every canary's Message-ID begins (`<cutover-canary-TOKEN@domain>`): the copy and
/// the prober's scans leave canaries out (R16: a canary is never copied, never counted).
pub(crate) const CANARY_MESSAGE_ID_PREFIX: &str = "cutover-canary-";

/// Whether a Message-ID (with or without angle brackets) is a canary's.
pub(crate) fn is_canary_message_id(message_id: &str) -> bool {
    message_id
        .trim()
        .trim_start_matches('<')
        .to_ascii_lowercase()
        .starts_with(CANARY_MESSAGE_ID_PREFIX)
}

/// A message's identity: compact, comparable, storable in the ledger.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity([u8; 16]);

impl Identity {
    /// The identity of a message from its header bytes (the whole message works too:
    /// only the header section, up to the first empty line, is read).
    pub fn from_header(raw: &[u8]) -> Identity {
        let fields = HeaderFields::parse(raw);
        let mut digest = Sha256::new();
        for value in [&fields.date, &fields.from, &fields.to, &fields.subject] {
            digest.update(value.as_deref().unwrap_or("").as_bytes());
            // A separator no header value contains, so fields cannot run into each other.
            digest.update([0u8]);
        }
        let fields_digest = digest.finalize();
        let mut id = Sha256::new();
        match &fields.message_id {
            Some(mid) => {
                id.update(b"mid:");
                id.update(mid.as_bytes());
            }
            None => id.update(b"no-mid"),
        }
        id.update([0u8]);
        id.update(fields_digest);
        let full = id.finalize();
        let mut short = [0u8; 16];
        short.copy_from_slice(&full[..16]);
        Identity(short)
    }

    /// Hex form, as written to the ledger.
    pub(crate) fn to_hex(self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn from_hex(hex: &str) -> Option<Identity> {
        if hex.len() != 32 || !hex.is_ascii() {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Identity(out))
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", self.to_hex())
    }
}

/// The header values the identity is built from, unfolded and whitespace-normalised.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct HeaderFields {
    pub message_id: Option<String>,
    pub date: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub subject: Option<String>,
}

impl HeaderFields {
    /// Reads the first occurrence of each field from the header section.
    pub fn parse(raw: &[u8]) -> HeaderFields {
        let header_end = find_header_end(raw);
        let text = String::from_utf8_lossy(&raw[..header_end]);
        let mut fields = HeaderFields::default();
        let mut current: Option<(String, String)> = None;
        for line in text.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.starts_with([' ', '\t']) {
                // A folded continuation belongs to the field before it.
                if let Some((_, value)) = current.as_mut() {
                    value.push(' ');
                    value.push_str(line);
                }
                continue;
            }
            if let Some((name, value)) = current.take() {
                fields.take(&name, &value);
            }
            if let Some((name, value)) = line.split_once(':') {
                current = Some((name.trim().to_ascii_lowercase(), value.to_string()));
            }
        }
        if let Some((name, value)) = current.take() {
            fields.take(&name, &value);
        }
        fields
    }

    fn take(&mut self, name: &str, value: &str) {
        let slot = match name {
            "message-id" => &mut self.message_id,
            "date" => &mut self.date,
            "from" => &mut self.from,
            "to" => &mut self.to,
            "subject" => &mut self.subject,
            _ => return,
        };
        if slot.is_none() {
            let normalised = normalise(value);
            // An empty Message-ID is no Message-ID.
            if !(name == "message-id" && normalised.is_empty()) {
                *slot = Some(normalised);
            }
        }
    }
}

/// Collapses every run of whitespace to one space and trims the ends.
fn normalise(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Where the header section ends (the empty line), or the whole input.
fn find_header_end(raw: &[u8]) -> usize {
    for (i, w) in raw.windows(2).enumerate() {
        if w == b"\n\n" {
            return i + 1;
        }
        if w == b"\n\r" && raw.get(i + 2) == Some(&b'\n') {
            return i + 1;
        }
    }
    raw.len()
}

/// A folder's messages as a multiset of identities.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IdentityCounts(HashMap<Identity, u32>);

impl IdentityCounts {
    pub fn add(&mut self, id: Identity) {
        *self.0.entry(id).or_insert(0) += 1;
    }

    pub fn count(&self, id: &Identity) -> u32 {
        self.0.get(id).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.0.values().map(|&n| u64::from(n)).sum()
    }

    /// How many of `self`'s messages (with multiplicity) `other` holds too.
    pub(crate) fn present_in(&self, other: &IdentityCounts) -> u64 {
        self.0
            .iter()
            .map(|(id, &n)| u64::from(n.min(other.count(id))))
            .sum()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Identity, &u32)> {
        self.0.iter()
    }
}

impl FromIterator<Identity> for IdentityCounts {
    fn from_iter<I: IntoIterator<Item = Identity>>(iter: I) -> IdentityCounts {
        let mut counts = IdentityCounts::default();
        for id in iter {
            counts.add(id);
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"Received: from a by b\r\nMessage-ID: <1@example.com>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nFrom: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: Budget\r\n 2024 review\r\n\r\nBody\r\nSubject: not a header\r\n";

    #[test]
    fn folding_and_whitespace_do_not_change_identity() {
        let unfolded = b"Message-ID:   <1@example.com>\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nFrom: Alice  <alice@example.com>\nTo: bob@example.com\nSubject: Budget 2024 review\n\nother body";
        assert_eq!(Identity::from_header(MSG), Identity::from_header(unfolded));
    }

    #[test]
    fn received_lines_added_by_a_fetcher_do_not_change_identity() {
        let mut fetched = b"Received: by pop3 fetcher\r\nX-Fetched: yes\r\n".to_vec();
        fetched.extend_from_slice(MSG);
        assert_eq!(Identity::from_header(MSG), Identity::from_header(&fetched));
    }

    #[test]
    fn same_message_id_different_subject_are_distinct() {
        let other = String::from_utf8_lossy(MSG).replace("Budget", "Holiday");
        assert_ne!(
            Identity::from_header(MSG),
            Identity::from_header(other.as_bytes())
        );
    }

    #[test]
    fn body_lines_are_not_headers() {
        let f = HeaderFields::parse(MSG);
        assert_eq!(f.subject.as_deref(), Some("Budget 2024 review"));
        assert_eq!(f.message_id.as_deref(), Some("<1@example.com>"));
    }

    #[test]
    fn without_message_id_the_digest_alone_identifies() {
        let a = b"Date: x\r\nFrom: a\r\nSubject: s\r\n\r\n1";
        let b = b"Date: x\r\nFrom: a\r\nSubject: s\r\n\r\n2 (different body, same identity)";
        let c = b"Date: y\r\nFrom: a\r\nSubject: s\r\n\r\n1";
        assert_eq!(Identity::from_header(a), Identity::from_header(b));
        assert_ne!(Identity::from_header(a), Identity::from_header(c));
        let with_empty_mid = b"Message-ID: \r\nDate: x\r\nFrom: a\r\nSubject: s\r\n\r\n";
        assert_eq!(
            Identity::from_header(a),
            Identity::from_header(with_empty_mid)
        );
    }

    #[test]
    fn hex_round_trip() {
        let id = Identity::from_header(MSG);
        assert_eq!(Identity::from_hex(&id.to_hex()), Some(id));
        assert_eq!(Identity::from_hex("zz"), None);
    }

    #[test]
    fn multiset_counts_duplicates() {
        let a = Identity::from_header(b"Subject: a\r\n\r\n");
        let b = Identity::from_header(b"Subject: b\r\n\r\n");
        let old: IdentityCounts = [a, a, b].into_iter().collect();
        let new: IdentityCounts = [a].into_iter().collect();
        assert_eq!(old.total(), 3);
        assert_eq!(old.present_in(&new), 1);
        assert_eq!(new.present_in(&old), 1);
    }
}
