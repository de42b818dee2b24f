//! Which address handed a message to the receiver, read from its `Received` fields.
//!
//! Each server that takes a message adds a `Received` field at the top, so the fields
//! read top down walk back along the route. Only those the receiver's own hosts added
//! are believed (anyone before them, the sender included, can write anything): the
//! contiguous block at the top whose `by` is one of the receiver's hosts. The lowest of
//! that block is where the receiver's inbound MX took the message; its `from` clause
//! names the connecting address and the HELO name SPF is evaluated for.

use std::net::IpAddr;

/// One `Received` field's route clauses (RFC 5321 4.4): `from HELO (… [IP]) by HOST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The name the client gave in HELO/EHLO.
    pub helo: Option<String>,
    /// The connecting address the server recorded (`[203.0.113.5]`, `[IPv6:2001:db8::1]`).
    pub ip: Option<IpAddr>,
    /// The server that added the field.
    pub by: Option<String>,
}

/// The hop where the receiver took the message from the outside world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundHop {
    pub ip: IpAddr,
    pub helo: Option<String>,
    /// The receiver's host that recorded it.
    pub by: String,
}

/// Why no connecting address could be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HopError {
    #[error(
        "no Received field was added by the receiver's hosts ({hosts}); the topmost is by {top}"
    )]
    NoReceiverHop { hosts: String, top: String },
    #[error("the receiver's inbound Received field (by {by}) names no connecting address")]
    NoAddress { by: String },
}

/// Reads the `from` and `by` clauses of one field's value (folded or not).
pub fn parse(value: &str) -> Received {
    // The date follows the last `;`; clauses are before it.
    let clauses = value.rsplit_once(';').map_or(value, |(c, _)| c);
    let words: Vec<&str> = clauses.split_whitespace().collect();
    let mut received = Received {
        helo: None,
        ip: None,
        by: None,
    };
    let mut i = 0;
    while i < words.len() {
        let word = words[i];
        if word.eq_ignore_ascii_case("from") && received.helo.is_none() && received.by.is_none() {
            received.helo = words
                .get(i + 1)
                .map(|w| w.trim_end_matches('.').to_string());
            // The comment after the HELO name: `(rdns [ip])`, `(unknown [ip])`, `([ip])`.
            let mut j = i + 2;
            if words.get(j).is_some_and(|w| w.starts_with('(')) {
                let mut depth = 0i32;
                while let Some(w) = words.get(j) {
                    depth += w.matches('(').count() as i32 - w.matches(')').count() as i32;
                    if received.ip.is_none() {
                        received.ip = bracketed_ip(w);
                    }
                    j += 1;
                    if depth <= 0 {
                        break;
                    }
                }
            }
            i = j;
            continue;
        }
        if word.eq_ignore_ascii_case("by") && received.by.is_none() {
            received.by = words
                .get(i + 1)
                .map(|w| w.trim_end_matches('.').to_ascii_lowercase());
            i += 2;
            continue;
        }
        i += 1;
    }
    received
}

/// `[203.0.113.5]`, `[IPv6:2001:db8::1]`, inside any surrounding punctuation.
fn bracketed_ip(word: &str) -> Option<IpAddr> {
    let start = word.find('[')?;
    let end = start + word[start..].find(']')?;
    let inner = &word[start + 1..end];
    let inner = inner
        .strip_prefix("IPv6:")
        .or_else(|| inner.strip_prefix("ipv6:"))
        .unwrap_or(inner);
    inner.parse().ok()
}

/// Whether `host` is one of the receiver's: each pattern a name or `*.domain`
/// (case-insensitive; `*` matches any run of characters).
pub fn is_receivers(host: &str, patterns: &[String]) -> bool {
    patterns
        .iter()
        .any(|p| super::authentication_results::authserv_id_matches(p, host))
}

/// The receiver's inbound hop from the `Received` field values, topmost first: the
/// lowest of the contiguous block at the top added by the receiver's own hosts.
pub fn inbound_hop<'a>(
    fields: impl IntoIterator<Item = &'a str>,
    receiver_hosts: &[String],
) -> Result<InboundHop, HopError> {
    let mut lowest: Option<Received> = None;
    let mut top = None;
    for field in fields {
        let received = parse(field);
        if top.is_none() {
            top = Some(received.by.clone().unwrap_or_else(|| "no host".to_string()));
        }
        let ours = received
            .by
            .as_deref()
            .is_some_and(|by| is_receivers(by, receiver_hosts));
        if !ours {
            break;
        }
        lowest = Some(received);
    }
    let Some(hop) = lowest else {
        return Err(HopError::NoReceiverHop {
            hosts: receiver_hosts.join(", "),
            top: top.unwrap_or_else(|| "none (no Received field)".to_string()),
        });
    };
    let by = hop.by.unwrap_or_default();
    match hop.ip {
        Some(ip) => Ok(InboundHop {
            ip,
            helo: hop.helo,
            by,
        }),
        None => Err(HopError::NoAddress { by }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POSTFIX: &str = " from mx.new.test (unknown [127.0.0.3])\r\n\tby mx.external.test (Postfix) with ESMTPS id 4dL2xq0Z3Rz9sWk\r\n\tfor <bob@external.test>; Mon,  7 Dec 2026 16:40:01 +0000 (UTC)";
    const LMTP: &str = " from mx.external.test ([127.0.0.1])\r\n\tby imap.external.test with LMTP\r\n\tid kO3qBvEqQmnAIAAA (envelope-from <alice@example.com>)\r\n\tfor <bob@external.test>; Mon, 07 Dec 2026 16:40:01 +0000";
    const SENDER_SIDE: &str = " from [192.0.2.10] (unknown [192.0.2.10])\r\n\tby mx.new.test (Postfix) with ESMTPSA id 4dL2xp6xYyz9sWj\r\n\tfor <bob@external.test>; Mon,  7 Dec 2026 16:40:00 +0000 (UTC)";
    const GMAIL: &str = " from mail.example.com (mail.example.com. [203.0.113.5])\r\n        by mx.google.com with ESMTPS id a640c23a62f3a-a9a0f2c6b1asi123456766b.412.2026.12.07.08.40.01\r\n        for <bob@gmail.com>\r\n        (version=TLS1_3 cipher=TLS_AES_256_GCM_SHA384 bits=256/256);\r\n        Mon, 07 Dec 2026 08:40:01 -0800 (PST)";
    const GMAIL_INNER: &str = " by 2002:a05:6a10:9e4c:b0:5a1:1b2c:3d4e with SMTP id pz12csp1234567pxb;\r\n        Mon, 7 Dec 2026 08:40:02 -0800 (PST)";
    const OUTLOOK: &str = " from EUR05-AM6-obe.outbound.protection.outlook.com (mail-am6eur05on2071.outbound.protection.outlook.com [IPv6:2a01:111:f403:2612::71])\r\n by AM3PEPF0000A78E.mail.protection.outlook.com (10.167.16.117) with Microsoft SMTP Server (version=TLS1_3, cipher=TLS_AES_256_GCM_SHA384) id 15.20.8207.12 via Frontend Transport; Mon, 7 Dec 2026 16:40:01 +0000";

    #[test]
    fn from_and_by_clauses_are_read_from_real_fields() {
        let cases = [
            (
                POSTFIX,
                Some("mx.new.test"),
                Some("127.0.0.3"),
                Some("mx.external.test"),
            ),
            (
                LMTP,
                Some("mx.external.test"),
                Some("127.0.0.1"),
                Some("imap.external.test"),
            ),
            (
                SENDER_SIDE,
                Some("[192.0.2.10]"),
                Some("192.0.2.10"),
                Some("mx.new.test"),
            ),
            (
                GMAIL,
                Some("mail.example.com"),
                Some("203.0.113.5"),
                Some("mx.google.com"),
            ),
            (
                GMAIL_INNER,
                None,
                None,
                Some("2002:a05:6a10:9e4c:b0:5a1:1b2c:3d4e"),
            ),
            (
                OUTLOOK,
                Some("EUR05-AM6-obe.outbound.protection.outlook.com"),
                Some("2a01:111:f403:2612::71"),
                Some("am3pepf0000a78e.mail.protection.outlook.com"),
            ),
        ];
        for (field, helo, ip, by) in cases {
            let r = parse(field);
            assert_eq!(r.helo.as_deref(), helo, "{field}");
            assert_eq!(r.ip.map(|ip| ip.to_string()).as_deref(), ip, "{field}");
            assert_eq!(r.by.as_deref(), by, "{field}");
        }
    }

    #[test]
    fn the_lowest_of_the_receivers_own_block_gives_the_connecting_address() {
        let hosts = vec![
            "mx.external.test".to_string(),
            "imap.external.test".to_string(),
        ];
        let hop = inbound_hop([LMTP, POSTFIX, SENDER_SIDE], &hosts).expect("hop");
        assert_eq!(hop.ip.to_string(), "127.0.0.3");
        assert_eq!(hop.helo.as_deref(), Some("mx.new.test"));
        assert_eq!(hop.by, "mx.external.test");

        // A field the sender forged below the receiver's block is never reached, even
        // when it claims to be by the receiver: the block ends at the first foreign hop.
        let forged =
            " from friendly (friendly [198.51.100.1]) by mx.external.test; Mon, 7 Dec 2026";
        let hop = inbound_hop([LMTP, POSTFIX, SENDER_SIDE, forged], &hosts).expect("hop");
        assert_eq!(hop.ip.to_string(), "127.0.0.3");

        // Gmail: the topmost field is by an internal hop named by an IPv6 address, with
        // no `from`; its patterns must name those hops too, or no hop is trusted.
        let gmail = vec!["mx.google.com".to_string()];
        assert!(inbound_hop([GMAIL_INNER, GMAIL, SENDER_SIDE], &gmail).is_err());
        let gmail = vec!["mx.google.com".to_string(), "2002:*".to_string()];
        let hop = inbound_hop([GMAIL_INNER, GMAIL, SENDER_SIDE], &gmail).expect("gmail hop");
        assert_eq!(hop.ip.to_string(), "203.0.113.5");
        assert_eq!(hop.helo.as_deref(), Some("mail.example.com"));

        // Patterns: Microsoft's hosts.
        let ms = vec!["*.outlook.com".to_string()];
        let hop = inbound_hop([OUTLOOK, SENDER_SIDE], &ms).expect("outlook hop");
        assert_eq!(hop.ip.to_string(), "2a01:111:f403:2612::71");
    }

    #[test]
    fn no_receiver_hop_says_whose_field_is_on_top() {
        let hosts = vec!["mx.external.test".to_string()];
        let err = inbound_hop([SENDER_SIDE], &hosts).expect_err("not the receiver's");
        assert_eq!(
            err.to_string(),
            "no Received field was added by the receiver's hosts (mx.external.test); the topmost is by mx.new.test"
        );
        let err = inbound_hop([GMAIL_INNER], &["2002:*".to_string()]).expect_err("no from");
        assert!(matches!(err, HopError::NoAddress { .. }), "{err}");
    }
}
