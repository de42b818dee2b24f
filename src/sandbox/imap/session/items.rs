//! The pieces of a session's answers: FETCH items, SEARCH keys, sequence sets,
//! header fields, folder names and dates on the wire.

use super::*;

pub(super) fn auth_failed() -> Refusal {
    no(code_other("AUTHENTICATIONFAILED"), "Authentication failed.")
}

pub(super) fn attribute(name: &'static str) -> FlagNameAttribute<'static> {
    FlagNameAttribute::from(Atom::unvalidated(name))
}

/// 1 for a counter that is 0 (UIDVALIDITY and UIDNEXT are never 0 here; this keeps it total).
pub(super) fn non_zero(value: u32) -> NonZeroU32 {
    NonZeroU32::new(value).unwrap_or(NonZeroU32::MIN)
}

pub(super) fn position_seq(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

/// Where a message stands in its folder: its sequence number and the folder's `*` values.
#[derive(Clone, Copy)]
pub(super) struct Position {
    pub(super) seq: u32,
    pub(super) max_seq: u32,
    pub(super) max_uid: u32,
}

impl Position {
    pub(super) fn new(index: usize, messages: &[StoredMessage]) -> Position {
        Position {
            seq: position_seq(index),
            max_seq: u32::try_from(messages.len()).unwrap_or(u32::MAX),
            max_uid: messages.last().map_or(0, |m| m.uid),
        }
    }
}

/// Whether `value` is in the set, `*` standing for `max` (RFC 3501: `n:*` with n above the
/// largest value still matches the largest one).
pub(super) fn in_set(set: &SequenceSet, value: u32, max: u32) -> bool {
    let resolve = |bound: &SeqOrUid| match bound {
        SeqOrUid::Value(v) => v.get(),
        SeqOrUid::Asterisk => max,
    };
    set.0.as_ref().iter().any(|sequence| match sequence {
        Sequence::Single(single) => resolve(single) == value,
        Sequence::Range(a, b) => {
            let (a, b) = (resolve(a), resolve(b));
            (a.min(b)..=a.max(b)).contains(&value)
        }
    })
}

/// Whether every explicit number in a sequence set names an existing message.
pub(super) fn sequence_numbers_exist(set: &SequenceSet, exists: usize) -> bool {
    let fits = |bound: &SeqOrUid| match bound {
        SeqOrUid::Value(v) => usize::try_from(v.get()).is_ok_and(|v| v <= exists),
        SeqOrUid::Asterisk => true,
    };
    set.0.as_ref().iter().all(|sequence| match sequence {
        Sequence::Single(single) => fits(single),
        Sequence::Range(a, b) => fits(a) && fits(b),
    })
}

pub(super) fn matches_key(
    key: &SearchKey<'_>,
    position: Position,
    message: &StoredMessage,
) -> Result<bool, Refusal> {
    Ok(match key {
        SearchKey::All => true,
        SearchKey::Uid(set) => in_set(set, message.uid, position.max_uid),
        SearchKey::SequenceSet(set) => in_set(set, position.seq, position.max_seq),
        SearchKey::Seen => message.is_seen(),
        SearchKey::Unseen => !message.is_seen(),
        SearchKey::Deleted => message.flags.contains("\\Deleted"),
        SearchKey::Undeleted => !message.flags.contains("\\Deleted"),
        SearchKey::Not(inner) => !matches_key(inner, position, message)?,
        SearchKey::And(keys) => {
            let mut all = true;
            for key in keys.as_ref() {
                all &= matches_key(key, position, message)?;
            }
            all
        }
        SearchKey::Header(field, value) => {
            // The named field's lines (plus the closing empty line); an empty value matches
            // any message that has the field (RFC 3501 6.4.4).
            let header = header_fields(
                split_message(&message.raw).0,
                std::slice::from_ref(field),
                true,
            );
            header.len() > 2 && contains_ignore_case(&header, value.as_ref())
        }
        SearchKey::Or(a, b) => {
            matches_key(a, position, message)? || matches_key(b, position, message)?
        }
        _ => return Err(bad("SEARCH key not supported by the rehearsal server.")),
    })
}

/// Case-insensitive (ASCII) substring search, as IMAP SEARCH HEADER does.
pub(super) fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window.eq_ignore_ascii_case(needle))
}

pub(super) fn supported_item(name: &MessageDataItemName<'_>) -> Result<(), Refusal> {
    match name {
        MessageDataItemName::Uid
        | MessageDataItemName::Flags
        | MessageDataItemName::InternalDate
        | MessageDataItemName::Rfc822Size
        | MessageDataItemName::Rfc822
        | MessageDataItemName::Rfc822Header
        | MessageDataItemName::Rfc822Text => Ok(()),
        MessageDataItemName::BodyExt { section, .. } => match section {
            None
            | Some(Section::Header(None))
            | Some(Section::HeaderFields(None, _))
            | Some(Section::HeaderFieldsNot(None, _))
            | Some(Section::Text(None)) => Ok(()),
            _ => Err(bad(
                "Body part sections are not supported by the rehearsal server.",
            )),
        },
        _ => Err(bad("FETCH item not supported by the rehearsal server.")),
    }
}

pub(super) fn fetch_flags(message: &StoredMessage) -> Vec<FlagFetch<'static>> {
    message
        .flags
        .iter()
        .filter_map(|flag| Flag::try_from(flag.as_str()).ok())
        .map(|flag| FlagFetch::Flag(flag.into_static()))
        .collect()
}

/// Bytes as a literal. Invariant: stored messages never contain NUL (refused at APPEND and
/// delivery), the one thing an IMAP4rev1 literal cannot carry.
pub(super) fn nstring(bytes: &[u8]) -> NString<'_> {
    NString(Some(IString::Literal(Literal::unvalidated(bytes))))
}

pub(super) fn fetch_item<'m>(
    name: &MessageDataItemName<'_>,
    message: &'m StoredMessage,
) -> Result<MessageDataItem<'m>, Refusal> {
    let raw: &[u8] = &message.raw;
    Ok(match name {
        MessageDataItemName::Uid => MessageDataItem::Uid(non_zero(message.uid)),
        MessageDataItemName::Flags => MessageDataItem::Flags(fetch_flags(message)),
        MessageDataItemName::InternalDate => {
            MessageDataItem::InternalDate(imap_date(&message.internal_date))
        }
        MessageDataItemName::Rfc822Size => {
            MessageDataItem::Rfc822Size(u32::try_from(raw.len()).unwrap_or(u32::MAX))
        }
        MessageDataItemName::Rfc822 => MessageDataItem::Rfc822(nstring(raw)),
        MessageDataItemName::Rfc822Header => {
            MessageDataItem::Rfc822Header(nstring(split_message(raw).0))
        }
        MessageDataItemName::Rfc822Text => {
            MessageDataItem::Rfc822Text(nstring(split_message(raw).1))
        }
        MessageDataItemName::BodyExt {
            section, partial, ..
        } => {
            let selected: Cow<'m, [u8]> = match section {
                None => Cow::Borrowed(raw),
                Some(Section::Header(None)) => Cow::Borrowed(split_message(raw).0),
                Some(Section::Text(None)) => Cow::Borrowed(split_message(raw).1),
                Some(Section::HeaderFields(None, fields)) => {
                    Cow::Owned(header_fields(split_message(raw).0, fields.as_ref(), true))
                }
                Some(Section::HeaderFieldsNot(None, fields)) => {
                    Cow::Owned(header_fields(split_message(raw).0, fields.as_ref(), false))
                }
                _ => {
                    return Err(bad(
                        "Body part sections are not supported by the rehearsal server.",
                    ));
                }
            };
            let (data, origin) = match partial {
                Some((start, length)) => {
                    let start = usize::try_from(*start)
                        .unwrap_or(usize::MAX)
                        .min(selected.len());
                    let end = start
                        .saturating_add(usize::try_from(length.get()).unwrap_or(usize::MAX))
                        .min(selected.len());
                    let slice: Cow<'m, [u8]> = match selected {
                        Cow::Borrowed(b) => Cow::Borrowed(&b[start..end]),
                        Cow::Owned(o) => Cow::Owned(o[start..end].to_vec()),
                    };
                    (slice, partial.map(|(s, _)| s))
                }
                None => (selected, None),
            };
            MessageDataItem::BodyExt {
                section: section.clone().map(IntoStatic::into_static),
                origin,
                data: NString(Some(IString::Literal(Literal::unvalidated(data)))),
            }
        }
        _ => return Err(bad("FETCH item not supported by the rehearsal server.")),
    })
}

/// (header including the blank line, text) of an RFC 5322 message; one pass, stopping at
/// the first empty line (CRLF or bare LF).
pub(super) fn split_message(raw: &[u8]) -> (&[u8], &[u8]) {
    let mut from = 0;
    while let Some(offset) = raw[from..].iter().position(|&b| b == b'\n') {
        let after = from + offset + 1;
        let rest = &raw[after..];
        if rest.starts_with(b"\r\n") {
            return raw.split_at(after + 2);
        }
        if rest.starts_with(b"\n") {
            return raw.split_at(after + 1);
        }
        from = after;
    }
    (raw, &[])
}

/// The header fields named (or, with `keep == false`, not named) in `fields`, folded lines
/// included, ending with the blank line, as servers return HEADER.FIELDS.
pub(super) fn header_fields(header: &[u8], fields: &[AString<'_>], keep: bool) -> Vec<u8> {
    let wanted = |line: &[u8]| {
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        let named = fields
            .iter()
            .any(|field| field.as_ref().eq_ignore_ascii_case(name.trim_ascii()));
        named == keep
    };
    let mut out = Vec::new();
    let mut include = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if !(line.starts_with(b" ") || line.starts_with(b"\t")) {
            include = wanted(line);
        }
        if include {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The UTF-8 folder name a client means; BAD when the wire name is not modified UTF-7.
pub(super) fn folder_name(mailbox: &Mailbox<'_>) -> Result<String, Refusal> {
    match mailbox {
        Mailbox::Inbox => Ok("INBOX".to_string()),
        Mailbox::Other(other) => {
            let name = utf7::try_decode(other.as_ref())
                .ok_or_else(|| bad("Mailbox name is not valid modified UTF-7."))?;
            Ok(name.trim_end_matches('/').to_string())
        }
    }
}

/// A UTF-8 folder name as it goes on the wire.
pub(super) fn wire_mailbox(name: &str) -> Mailbox<'static> {
    // Modified UTF-7 output is printable ASCII, always a valid astring.
    Mailbox::try_from(utf7::encode(name)).unwrap_or(Mailbox::Inbox)
}

pub(super) fn imap_date(date: &ZonedDateTime) -> DateTime {
    let utc = chrono::DateTime::from_timestamp(date.timestamp().as_second(), 0)
        .unwrap_or(chrono::DateTime::UNIX_EPOCH);
    let local = match chrono::FixedOffset::east_opt(date.offset().seconds()) {
        Some(offset) => utc.with_timezone(&offset),
        None => utc.fixed_offset(),
    };
    DateTime::try_from(local).unwrap_or_else(|_| DateTime::unvalidated(local))
}

pub(super) fn zoned_from_imap(date: &DateTime) -> ZonedDateTime {
    let chrono_date = date.as_ref();
    let offset =
        Offset::from_seconds(chrono_date.offset().local_minus_utc()).unwrap_or(Offset::UTC);
    let timestamp = jiff::Timestamp::from_second(chrono_date.timestamp())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    timestamp.to_zoned_datetime(TimeZone::fixed(offset))
}
