//! ip4 and ip6 addresses and CIDR lengths as RFC 7208 5.6 writes them.

use super::*;

/// Splits `example.com/24//64` into the domain and the CIDR part: at the first
/// `/` after which only slashes and digits follow. A `/` may appear inside a
/// domain-spec (it is a macro-literal), so only such a tail counts; whether
/// it is a well-formed dual-cidr-length is [`parse_dual_cidr`]'s to say.
pub(super) fn split_cidr(text: &str) -> Option<(&str, &str)> {
    let is_tail = |t: &str| t.chars().all(|c| c == '/' || c.is_ascii_digit());
    text.char_indices()
        .filter(|(_, c)| *c == '/')
        .map(|(i, _)| i)
        .find(|&i| is_tail(&text[i..]))
        .map(|i| text.split_at(i))
}

/// `/N`, `//N` or `/N//N` (RFC 7208 5.6 dual-cidr-length).
pub(super) fn parse_dual_cidr(text: &str) -> Result<DualCidr, Reason> {
    let bad = || Reason::BadCidr(text.to_string());
    let rest = text.strip_prefix('/').ok_or_else(bad)?;
    if let Some(v6) = rest.strip_prefix('/') {
        return Ok(DualCidr {
            ip4: None,
            ip6: Some(prefix(v6, 128)?),
        });
    }
    match rest.split_once("//") {
        Some((v4, v6)) => Ok(DualCidr {
            ip4: Some(prefix(v4, 32)?),
            ip6: Some(prefix(v6, 128)?),
        }),
        None if rest.contains('/') => Err(bad()),
        None => Ok(DualCidr {
            ip4: Some(prefix(rest, 32)?),
            ip6: None,
        }),
    }
}

/// A prefix length: digits, no leading zero, at most `max`.
pub(super) fn prefix(text: &str, max: u8) -> Result<u8, Reason> {
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_digit()) {
        return Err(Reason::BadCidr(format!("/{text}")));
    }
    if text.len() > 1 && text.starts_with('0') {
        return Err(Reason::PrefixLeadingZero(text.to_string()));
    }
    let over = || {
        if max == 32 {
            Reason::Ip4PrefixRange(text.to_string())
        } else {
            Reason::Ip6PrefixRange(text.to_string())
        }
    };
    match text.parse::<u16>() {
        Ok(n) if n <= u16::from(max) => u8::try_from(n).map_err(|_| over()),
        _ => Err(over()),
    }
}

/// `qnum "." qnum "." qnum "." qnum`: 0 to 255, no leading zeros (RFC 7208 5.6).
pub fn parse_ip4(text: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = text.split('.');
    for octet in &mut octets {
        let part = parts.next()?;
        let ok = !part.is_empty()
            && part.len() <= 3
            && part.chars().all(|c| c.is_ascii_digit())
            && !(part.len() > 1 && part.starts_with('0'));
        if !ok {
            return None;
        }
        *octet = part.parse().ok()?;
    }
    parts.next().is_none().then(|| Ipv4Addr::from(octets))
}

/// The text forms of RFC 4291 2.2: eight groups of 1-4 hex digits, `::` once
/// for a run of zero groups, and an embedded IPv4 address at the end.
pub fn parse_ip6(text: &str) -> Option<Ipv6Addr> {
    let allowed = text
        .chars()
        .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
    if !allowed || text.matches("::").count() > 1 || text.contains(":::") {
        return None;
    }
    // The embedded IPv4 part follows the RFC 7208 qnum rules too.
    if let Some((_, v4)) = text.rsplit_once(':')
        && v4.contains('.')
        && parse_ip4(v4).is_none()
    {
        return None;
    }
    text.parse().ok()
}
