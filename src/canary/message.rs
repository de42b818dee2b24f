//! One canary message: a unique token in its Message-ID, its Subject and its
//! `X-Cutover-Canary` header, built with lettre's message builder.

use jiff::Timestamp;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};

use super::Route;

/// The header that marks a canary; its value is `TOKEN ROUTE`.
pub const CANARY_HEADER: &str = "X-Cutover-Canary";

/// A fresh token: the send time and 48 random bits, lowercase letters and digits only (so
/// it needs no quoting in an IMAP SEARCH and survives every header folding).
pub fn new_token(now: Timestamp) -> String {
    // std's RandomState is seeded from the OS per process and per instance: enough to keep
    // two canaries of one second apart, which is all a token must do.
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_i128(now.as_nanosecond());
    let random = hasher.finish() & 0xffff_ffff_ffff;
    format!("c{}{random:012x}", now.as_second())
}

/// The Message-ID of a canary (without angle brackets): the token at the From's domain.
pub fn message_id(token: &str, from: &str) -> String {
    let domain = from
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or("cutover.invalid");
    format!(
        "{}{token}@{domain}",
        crate::mail::identity::CANARY_MESSAGE_ID_PREFIX
    )
}

/// Why a canary could not be built: an address lettre refuses.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot build the canary: {0}")]
pub struct BuildError(pub String);

/// The message bytes (CRLF) of a canary from `from` to `to`.
pub fn build(
    route: Route,
    token: &str,
    from: &str,
    to: &str,
    sent_at: Timestamp,
) -> Result<Vec<u8>, BuildError> {
    let from_box: Mailbox = format!("cutover canary <{from}>")
        .parse()
        .map_err(|e| BuildError(format!("From {from}: {e}")))?;
    let to_box: Mailbox = to
        .parse()
        .map_err(|e| BuildError(format!("To {to}: {e}")))?;
    let header = HeaderName::new_from_ascii_str(CANARY_HEADER);
    let message = Message::builder()
        .from(from_box)
        .to(to_box)
        .subject(format!("cutover canary {token} ({})", route.as_str()))
        .message_id(Some(format!("<{}>", message_id(token, from))))
        .date(std::time::SystemTime::try_from(sent_at).unwrap_or(std::time::SystemTime::UNIX_EPOCH))
        .raw_header(HeaderValue::new(header, format!("{token} {}", route.as_str())))
        .body(format!(
            "A test message sent by cutover to prove that mail flows ({} route), sent at {sent_at}.\r\n\
             It is removed once found. If you see it, nothing needs to be done.\r\n",
            route.describe()
        ))
        .map_err(|e| BuildError(e.to_string()))?;
    Ok(message.formatted())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_and_need_no_quoting() {
        let now = Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
        let a = new_token(now);
        let b = new_token(now);
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }

    #[test]
    fn the_token_is_in_message_id_subject_and_header() {
        let now = Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
        let raw = build(
            Route::World,
            "c1abc",
            "tester@ext.test",
            "canary@example.com",
            now,
        )
        .expect("builds");
        let text = String::from_utf8(raw).expect("ascii");
        assert!(
            text.contains("Message-ID: <cutover-canary-c1abc@ext.test>"),
            "{text}"
        );
        assert!(
            text.contains("Subject: cutover canary c1abc (world)"),
            "{text}"
        );
        assert!(text.contains("X-Cutover-Canary: c1abc world"), "{text}");
    }
}
