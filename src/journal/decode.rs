//! Fast decoding of journal lines as cutover writes them, for quick replays.
//!
//! `Entry` is an internally tagged enum, which serde decodes by first copying
//! the whole line into an intermediate tree; that more than doubles replay
//! time. cutover always writes `"kind"` first, so here the tag is read first
//! and the rest of the line goes straight into the variant's fields. Any line
//! this path does not accept exactly (tag not first, a field it does not know,
//! a kind from a newer cutover) falls back to the ordinary decoder, so both
//! give the same `Entry` and only speed differs. The `From` conversions name
//! every field, so a change to `Entry` fails to compile here until mirrored.

use std::fmt;

use jiff::Timestamp;
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

use super::Entry;
use crate::check::Check;

/// Decodes one journal line (without its `\n`).
pub(super) fn decode_line(line: &[u8]) -> Result<Entry, serde_json::Error> {
    fast(line).or_else(|_| serde_json::from_slice(line))
}

/// The fast path alone; an error means "use the ordinary decoder".
fn fast(line: &[u8]) -> Result<Entry, serde_json::Error> {
    let mut input = serde_json::Deserializer::from_slice(line);
    let entry = TagFirst.deserialize(&mut input)?;
    input.end()?;
    Ok(entry)
}

struct TagFirst;

impl<'de> DeserializeSeed<'de> for TagFirst {
    type Value = Entry;

    fn deserialize<D: Deserializer<'de>>(self, input: D) -> Result<Entry, D::Error> {
        input.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TagFirst {
    type Value = Entry;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a journal entry with \"kind\" first")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
        let key: Option<std::borrow::Cow<'de, str>> = map.next_key()?;
        if key.as_deref() != Some("kind") {
            return Err(de::Error::custom("\"kind\" is not the first field"));
        }
        let kind: std::borrow::Cow<'de, str> = map.next_value()?;
        let rest = MapAccessDeserializer::new(map);
        Ok(match kind.as_ref() {
            "applied" => Applied::deserialize(rest)?.into(),
            "confirm" => Confirm::deserialize(rest)?.into(),
            "override" => Override::deserialize(rest)?.into(),
            "reopen" => Reopen::deserialize(rest)?.into(),
            "fact" => Fact::deserialize(rest)?.into(),
            "checkpoint" => Checkpoint::deserialize(rest)?.into(),
            "sync" => Sync::deserialize(rest)?.into(),
            "note" => Note::deserialize(rest)?.into(),
            other => return Err(de::Error::custom(format!("kind {other} left to serde"))),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Applied {
    at: Timestamp,
    operator: String,
    step: String,
}

impl From<Applied> for Entry {
    fn from(Applied { at, operator, step }: Applied) -> Entry {
        Entry::Applied { at, operator, step }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Confirm {
    at: Timestamp,
    operator: String,
    step: String,
    #[serde(default)]
    mailbox: Option<String>,
    evidence: Vec<Check>,
}

impl From<Confirm> for Entry {
    fn from(c: Confirm) -> Entry {
        let Confirm {
            at,
            operator,
            step,
            mailbox,
            evidence,
        } = c;
        Entry::Confirm {
            at,
            operator,
            step,
            mailbox,
            evidence,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Override {
    at: Timestamp,
    operator: String,
    step: String,
    #[serde(default)]
    mailbox: Option<String>,
    reason: String,
    evidence: Vec<Check>,
}

impl From<Override> for Entry {
    fn from(o: Override) -> Entry {
        let Override {
            at,
            operator,
            step,
            mailbox,
            reason,
            evidence,
        } = o;
        Entry::Override {
            at,
            operator,
            step,
            mailbox,
            reason,
            evidence,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reopen {
    at: Timestamp,
    operator: String,
    step: String,
    #[serde(default)]
    mailbox: Option<String>,
}

impl From<Reopen> for Entry {
    fn from(r: Reopen) -> Entry {
        let Reopen {
            at,
            operator,
            step,
            mailbox,
        } = r;
        Entry::Reopen {
            at,
            operator,
            step,
            mailbox,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fact {
    at: Timestamp,
    key: String,
    value: serde_json::Value,
    evidence: String,
}

impl From<Fact> for Entry {
    fn from(f: Fact) -> Entry {
        let Fact {
            at,
            key,
            value,
            evidence,
        } = f;
        Entry::Fact {
            at,
            key,
            value,
            evidence,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Checkpoint {
    at: Timestamp,
    mailbox: String,
    folder: String,
    uidvalidity: u32,
    last_uid: u32,
}

impl From<Checkpoint> for Entry {
    fn from(c: Checkpoint) -> Entry {
        let Checkpoint {
            at,
            mailbox,
            folder,
            uidvalidity,
            last_uid,
        } = c;
        Entry::Checkpoint {
            at,
            mailbox,
            folder,
            uidvalidity,
            last_uid,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Sync {
    at: Timestamp,
    mailbox: String,
    pid: u32,
    state: String,
    messages_done: u64,
    messages_left: u64,
    bytes_done: u64,
    #[serde(default)]
    detail: Option<String>,
}

impl From<Sync> for Entry {
    fn from(s: Sync) -> Entry {
        let Sync {
            at,
            mailbox,
            pid,
            state,
            messages_done,
            messages_left,
            bytes_done,
            detail,
        } = s;
        Entry::Sync {
            at,
            mailbox,
            pid,
            state,
            messages_done,
            messages_left,
            bytes_done,
            detail,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Note {
    at: Timestamp,
    operator: String,
    text: String,
}

impl From<Note> for Entry {
    fn from(Note { at, operator, text }: Note) -> Entry {
        Entry::Note { at, operator, text }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Kind, Status};

    fn at() -> Timestamp {
        "2026-03-02T08:00:00Z".parse().unwrap()
    }

    /// Every variant with every optional field both present and absent.
    fn samples() -> Vec<Entry> {
        let evidence = vec![
            Check::new("a", Kind::Gate, Status::Pass, "ok").until(at()),
            Check::new("b", Kind::Outcome, Status::Unknown, "not measured"),
        ];
        let mut samples = Vec::new();
        for mailbox in [None, Some("bob@example.com".to_string())] {
            samples.push(Entry::Confirm {
                at: at(),
                operator: "ann".into(),
                step: "users-connected".into(),
                mailbox: mailbox.clone(),
                evidence: evidence.clone(),
            });
            samples.push(Entry::Override {
                at: at(),
                operator: "ann".into(),
                step: "remove-old-mx".into(),
                mailbox: mailbox.clone(),
                reason: "line\nbreak \"quoted\"".into(),
                evidence: evidence.clone(),
            });
            samples.push(Entry::Reopen {
                at: at(),
                operator: "ann".into(),
                step: "s".into(),
                mailbox: mailbox.clone(),
            });
            samples.push(Entry::Sync {
                at: at(),
                mailbox: "bob@example.com".into(),
                pid: 7,
                state: "done".into(),
                messages_done: 1,
                messages_left: 0,
                bytes_done: u64::MAX,
                detail: mailbox,
            });
        }
        samples.push(Entry::Applied {
            at: at(),
            operator: "ann".into(),
            step: "lower-ttl".into(),
        });
        samples.push(Entry::Fact {
            at: at(),
            key: "k".into(),
            value: serde_json::json!([1, {"x": null}]),
            evidence: "e".into(),
        });
        samples.push(Entry::Checkpoint {
            at: at(),
            mailbox: "m".into(),
            folder: "INBOX".into(),
            uidvalidity: u32::MAX,
            last_uid: 0,
        });
        samples.push(Entry::Note {
            at: at(),
            operator: "ann".into(),
            text: "\u{1b}[2J".into(),
        });
        samples
    }

    #[test]
    fn the_fast_path_decodes_every_written_entry_as_serde_does() {
        for entry in samples() {
            let line = serde_json::to_vec(&entry).unwrap();
            let fast =
                fast(&line).unwrap_or_else(|err| panic!("fast path refused {entry:?}: {err}"));
            assert_eq!(fast, entry);
            assert_eq!(fast, serde_json::from_slice::<Entry>(&line).unwrap());
        }
    }

    #[test]
    fn lines_the_fast_path_does_not_know_still_decode_as_serde_does() {
        let lines: [&[u8]; 4] = [
            // Tag not first.
            br#"{"at":"2026-03-02T08:00:00Z","kind":"note","operator":"ann","text":"t"}"#,
            // A field added by a newer cutover.
            br#"{"kind":"note","at":"2026-03-02T08:00:00Z","operator":"ann","text":"t","mood":1}"#,
            // A kind added by a newer cutover.
            br#"{"kind":"hologram","at":"2026-03-02T08:00:00Z"}"#,
            // Whitespace serde_json would not write.
            br#"{ "kind" : "note", "at":"2026-03-02T08:00:00Z","operator":"ann","text":"t" }"#,
        ];
        for line in lines {
            let expected: Entry = serde_json::from_slice(line).unwrap();
            assert_eq!(decode_line(line).unwrap(), expected);
        }
        assert!(decode_line(b"{\"kind\":\"note\"").is_err());
        assert!(decode_line(b"{\"kind\":\"note\",\"at\":\"2026-03-02T08:00:00Z\",\"operator\":\"ann\",\"text\":\"t\"} trailing").is_err());
    }
}
