//! Modified UTF-7 (RFC 3501 §5.1.3): how IMAP servers spell non-ASCII folder names on the
//! wire. The one codec of the crate: the client reads names leniently ([`decode`]), the
//! rehearsal's server checks them strictly ([`try_decode`]).

use base64::Engine;
use base64::alphabet::IMAP_MUTF7;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Modified base64 (`,` for `/`, no padding).
const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &IMAP_MUTF7,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// Encodes a UTF-8 folder name for the wire ("Entwürfe" → "Entw&APw-rfe").
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Writes pending UTF-16 units as one `&…-` run.
fn flush(pending: &mut Vec<u16>, out: &mut String) {
    if pending.is_empty() {
        return;
    }
    let bytes: Vec<u8> = pending.iter().flat_map(|unit| unit.to_be_bytes()).collect();
    out.push('&');
    out.push_str(&ENGINE.encode(bytes));
    out.push('-');
    pending.clear();
}

/// Decodes a wire name to UTF-8 for a client. A name that is not valid modified UTF-7 is
/// returned as it came (the server's spelling is then still usable to address the folder).
pub fn decode(wire: &str) -> String {
    try_decode(wire.as_bytes()).unwrap_or_else(|| wire.to_string())
}

/// Decodes a wire name to UTF-8; `None` when it is not valid modified UTF-7 (raw 8-bit
/// bytes, an unterminated shift, or a shift carrying what could have been written directly).
pub fn try_decode(wire: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(wire.len());
    let mut rest = wire;
    while let Some((&byte, tail)) = rest.split_first() {
        match byte {
            b'&' => {
                let end = tail.iter().position(|&b| b == b'-')?;
                let (encoded, after) = (&tail[..end], &tail[end + 1..]);
                if encoded.is_empty() {
                    out.push('&');
                } else {
                    let bytes = ENGINE.decode(encoded).ok()?;
                    if bytes.len() % 2 != 0 {
                        return None;
                    }
                    let units: Vec<u16> = bytes
                        .chunks_exact(2)
                        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                        .collect();
                    let text = String::from_utf16(&units).ok()?;
                    // A shift must not carry what could have been written directly.
                    if text.chars().any(|c| (' '..='~').contains(&c)) {
                        return None;
                    }
                    out.push_str(&text);
                }
                rest = after;
            }
            0x20..=0x7e => {
                out.push(char::from(byte));
                rest = tail;
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_spellings() {
        for (utf8, wire) in [
            ("INBOX", "INBOX"),
            ("Entwürfe", "Entw&APw-rfe"),
            ("Gesendete Objekte", "Gesendete Objekte"),
            ("Отправленные", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"),
            ("Tom & Jerry", "Tom &- Jerry"),
            ("日本語", "&ZeVnLIqe-"),
            ("😀 mail", "&2D3eAA- mail"),
        ] {
            assert_eq!(encode(utf8), wire, "encoding {utf8}");
            assert_eq!(decode(wire), utf8, "decoding {wire}");
            assert_eq!(try_decode(wire.as_bytes()).as_deref(), Some(utf8));
        }
    }

    #[test]
    fn malformed_names_are_refused_strictly_and_kept_leniently() {
        for (wire, why) in [
            ("&APw", "unterminated shift"),
            ("&AGE-", "ASCII inside a shift"),
            ("ü", "raw 8-bit"),
            ("broken&AB", "odd bytes in a shift"),
        ] {
            assert_eq!(try_decode(wire.as_bytes()), None, "{why}");
            assert_eq!(decode(wire), wire, "{why}");
        }
    }

    #[test]
    fn round_trip_with_astral_characters() {
        for name in ["Příchozí/Účty 😀", "a&b", "Корзина", "~peter/mail/台北"] {
            assert_eq!(decode(&encode(name)), name);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_name_round_trips(name in "\\PC{0,20}") {
            proptest::prop_assert_eq!(try_decode(encode(&name).as_bytes()), Some(name));
        }
    }
}
