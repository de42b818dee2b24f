//! Modified UTF-7 (RFC 3501 5.1.3): how IMAP4rev1 carries non-ASCII folder names on the wire.

use base64::Engine;
use base64::alphabet::IMAP_MUTF7;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &IMAP_MUTF7,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// Encodes a UTF-8 folder name for the wire: `Entwürfe` → `Entw&APw-rfe`.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|unit| unit.to_be_bytes()).collect();
        out.push('&');
        out.push_str(&ENGINE.encode(bytes));
        out.push('-');
        pending.clear();
    };
    for ch in name.chars() {
        if (' '..='~').contains(&ch) {
            flush(&mut pending, &mut out);
            if ch == '&' {
                out.push_str("&-");
            } else {
                out.push(ch);
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(ch.encode_utf16(&mut units));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Decodes a wire folder name to UTF-8; `None` when it is not valid modified UTF-7.
pub fn decode(wire: &[u8]) -> Option<String> {
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
                    // A shifted run must not carry what could have been written directly.
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
    fn known_names_round_trip() {
        for (utf8, wire) in [
            ("INBOX", "INBOX"),
            ("Entwürfe", "Entw&APw-rfe"),
            ("Отправленные", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"),
            ("Tom & Jerry", "Tom &- Jerry"),
            ("日本語", "&ZeVnLIqe-"),
            ("😀 mail", "&2D3eAA- mail"),
        ] {
            assert_eq!(encode(utf8), wire, "encoding {utf8}");
            assert_eq!(
                decode(wire.as_bytes()).as_deref(),
                Some(utf8),
                "decoding {wire}"
            );
        }
    }

    #[test]
    fn malformed_names_are_rejected() {
        assert_eq!(decode(b"&APw"), None, "unterminated shift");
        assert_eq!(decode(b"&AGE-"), None, "ASCII inside a shift");
        assert_eq!(decode("ü".as_bytes()), None, "raw 8-bit");
    }
}
