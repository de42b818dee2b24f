//! Generated mailboxes for the rehearsal: realistic folders and messages, deterministic from a
//! seed, including the awkward cases a copy must survive (non-ASCII folder names, a message
//! without Message-ID, two distinct messages sharing one Message-ID).

use std::collections::BTreeSet;

use jiff::{SignedDuration, ZonedDateTime};

use super::store::{Mailstore, StoreError};
use crate::mail::SpecialUse;

/// One message to generate.
#[derive(Debug, Clone)]
pub struct MessageSpec {
    /// `None` writes no Message-ID header at all.
    pub message_id: Option<String>,
    pub date: ZonedDateTime,
    pub from: String,
    pub to: String,
    pub subject: String,
    /// Approximate size of the body in bytes (it is cut at a line end just past it).
    pub body_size: usize,
}

/// What [`seed_user`] creates.
#[derive(Debug, Clone)]
pub struct SeedSpec {
    pub login: String,
    pub password: String,
    /// The mail domain, for addresses and Message-IDs.
    pub domain: String,
    /// Messages put in each folder (INBOX also gets the three special cases).
    pub messages_per_folder: usize,
    pub body_size: usize,
    /// The newest message's date; older ones go back from here.
    pub newest: ZonedDateTime,
    /// Makes the generated text differ between users and runs.
    pub seed: u64,
}

/// What [`seed_user`] created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededUser {
    pub login: String,
    /// Every folder, UTF-8 names, INBOX first.
    pub folders: Vec<String>,
    /// Messages stored over all folders.
    pub messages: usize,
    /// The Message-ID carried by two distinct INBOX messages.
    pub shared_message_id: String,
}

/// The folders every seeded user gets besides INBOX, with their special use.
pub const SEEDED_FOLDERS: [(&str, Option<SpecialUse>); 7] = [
    ("Sent", Some(SpecialUse::Sent)),
    ("Entwürfe", Some(SpecialUse::Drafts)),
    ("Trash", Some(SpecialUse::Trash)),
    ("Junk", Some(SpecialUse::Junk)),
    ("Archive", Some(SpecialUse::Archive)),
    ("Archive/2025", None),
    ("Отправленные", None),
];

const WORDS: [&str; 24] = [
    "invoice",
    "meeting",
    "project",
    "Müller",
    "delivery",
    "quarter",
    "report",
    "budget",
    "customer",
    "schedule",
    "Grüße",
    "review",
    "contract",
    "agenda",
    "update",
    "office",
    "migration",
    "server",
    "weekend",
    "holiday",
    "draft",
    "order",
    "team",
    "thanks",
];

const SUBJECTS: [&str; 8] = [
    "Quarterly report",
    "Re: Delivery next week",
    "Invoice 2026-0042",
    "Team lunch on Friday",
    "Fwd: Contract draft",
    "Meeting notes",
    "Holiday schedule",
    "Re: Re: Server migration",
];

/// A small deterministic generator (xorshift64*): the same seed gives the same mail.
struct Dice(u64);

impl Dice {
    fn new(seed: u64) -> Dice {
        Dice(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let len = items.len().max(1) as u64;
        items[usize::try_from(self.next() % len).unwrap_or(0)]
    }
}

/// An RFC 5322 message (CRLF line ends, 8-bit UTF-8 body) built from `spec`.
pub fn generate_message(spec: &MessageSpec, seed: u64) -> Vec<u8> {
    let mut dice = Dice::new(seed);
    let date = spec.date.strftime("%a, %d %b %Y %H:%M:%S %z");
    let mut out = String::with_capacity(spec.body_size + 600);
    out.push_str(&format!(
        "Return-Path: <{}>\r\nReceived: from mail.sender.test by mx.rehearsal.test; {date}\r\n",
        spec.from
    ));
    if let Some(id) = &spec.message_id {
        out.push_str(&format!("Message-ID: <{id}>\r\n"));
    }
    out.push_str(&format!(
        "Date: {date}\r\nFrom: {}\r\nTo: {}\r\nSubject: {}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        spec.from, spec.to, spec.subject
    ));
    let body_start = out.len();
    let mut line = String::new();
    while out.len() - body_start < spec.body_size {
        let word = dice.pick(&WORDS);
        if line.len() + word.len() + 1 > 72 {
            out.push_str(&line);
            out.push_str("\r\n");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&line);
        out.push_str("\r\n");
    }
    out.into_bytes()
}

/// Creates a user with the [`SEEDED_FOLDERS`], each filled with generated mail; INBOX also
/// gets a message without Message-ID and two distinct messages sharing one Message-ID.
pub fn seed_user(store: &Mailstore, spec: &SeedSpec) -> Result<SeededUser, StoreError> {
    store.create_user(&spec.login, &spec.password)?;
    for (name, special_use) in SEEDED_FOLDERS {
        store.create_folder(&spec.login, name, special_use)?;
    }
    let address = format!("{}@{}", spec.login, spec.domain);
    let mut dice = Dice::new(spec.seed);
    let mut folders = vec!["INBOX".to_string()];
    folders.extend(SEEDED_FOLDERS.iter().map(|(name, _)| name.to_string()));
    let mut stored = 0;

    for (folder_index, folder) in folders.iter().enumerate() {
        let outgoing = folder == "Sent" || folder == "Отправленные";
        for i in 0..spec.messages_per_folder {
            let age = SignedDuration::from_mins(
                37 * i64::try_from(spec.messages_per_folder - i).unwrap_or(0),
            );
            let date = spec
                .newest
                .checked_sub(age)
                .unwrap_or_else(|_| spec.newest.clone());
            let correspondent = format!(
                "{}@partner-{}.test",
                dice.pick(&["eva", "jan", "li", "omar"]),
                dice.next() % 9
            );
            let (from, to) = if outgoing {
                (address.clone(), correspondent)
            } else {
                (correspondent, address.clone())
            };
            let message = MessageSpec {
                message_id: Some(format!(
                    "{}.{folder_index}.{i}.{}@{}",
                    spec.seed,
                    dice.next() % 100_000,
                    spec.domain
                )),
                date: date.clone(),
                from,
                to,
                subject: format!("{} #{i}", dice.pick(&SUBJECTS)),
                body_size: spec.body_size,
            };
            let raw = generate_message(&message, dice.next());
            let mut flags = BTreeSet::new();
            if outgoing || i % 2 == 0 {
                flags.insert("\\Seen".to_string());
            }
            store.append(&spec.login, folder, raw, flags, date)?;
            stored += 1;
        }
    }

    let shared_message_id = format!("shared.{}@{}", spec.seed, spec.domain);
    let specials = [
        MessageSpec {
            message_id: None,
            date: spec.newest.clone(),
            from: format!("scanner@{}", spec.domain),
            to: address.clone(),
            subject: "Scan from the office printer".to_string(),
            body_size: spec.body_size,
        },
        MessageSpec {
            message_id: Some(shared_message_id.clone()),
            date: spec.newest.clone(),
            from: "newsletter@partner-1.test".to_string(),
            to: address.clone(),
            subject: "Newsletter March".to_string(),
            body_size: spec.body_size,
        },
        MessageSpec {
            message_id: Some(shared_message_id.clone()),
            date: spec.newest.clone(),
            from: "newsletter@partner-1.test".to_string(),
            to: address.clone(),
            subject: "Newsletter March (corrected)".to_string(),
            body_size: spec.body_size,
        },
    ];
    for (i, message) in specials.iter().enumerate() {
        let raw = generate_message(message, spec.seed.wrapping_add(1_000 + i as u64));
        store.deliver(&spec.login, "INBOX", raw, message.date.clone())?;
        stored += 1;
    }

    Ok(SeededUser {
        login: spec.login.clone(),
        folders,
        messages: stored,
        shared_message_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SeedSpec {
        SeedSpec {
            login: "anna".into(),
            password: "pw".into(),
            domain: "example-firm.test".into(),
            messages_per_folder: 3,
            body_size: 500,
            newest: "2026-03-02T08:00:00+01:00[+01:00]".parse().unwrap(),
            seed: 7,
        }
    }

    #[test]
    fn generated_messages_have_the_headers_and_size_asked_for() {
        let message = MessageSpec {
            message_id: Some("abc@x.test".into()),
            date: "2026-03-02T08:00:00+01:00[+01:00]".parse().unwrap(),
            from: "a@x.test".into(),
            to: "b@y.test".into(),
            subject: "Hello".into(),
            body_size: 2_000,
        };
        let raw = String::from_utf8(generate_message(&message, 1)).unwrap();
        assert!(raw.contains("Message-ID: <abc@x.test>\r\n"));
        assert!(raw.contains("Date: Mon, 02 Mar 2026 08:00:00 +0100\r\n"));
        let body = raw.split("\r\n\r\n").nth(1).unwrap();
        assert!(
            (2_000..2_100).contains(&body.len()),
            "body is {} bytes",
            body.len()
        );
        assert_eq!(
            generate_message(&message, 1),
            raw.as_bytes(),
            "deterministic"
        );
    }

    #[test]
    fn a_seeded_user_has_every_folder_and_the_special_cases() {
        let store = Mailstore::new();
        let user = seed_user(&store, &spec()).unwrap();
        assert_eq!(user.folders.len(), 8);
        assert_eq!(user.messages, 8 * 3 + 3);
        let inbox = store.messages("anna", "INBOX").unwrap();
        let without_id = inbox
            .iter()
            .filter(|m| !String::from_utf8_lossy(&m.raw).contains("Message-ID:"))
            .count();
        assert_eq!(without_id, 1);
        let shared = inbox
            .iter()
            .filter(|m| String::from_utf8_lossy(&m.raw).contains(&user.shared_message_id))
            .count();
        assert_eq!(shared, 2);
        assert_eq!(store.messages("anna", "Entwürfe").unwrap().len(), 3);
    }
}
