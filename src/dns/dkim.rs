//! DKIM key records (RFC 6376 §3.6.1) and DMARC policies (RFC 7489 §6.3): the
//! tag=value lists a migration must get right (R9) and should not tighten mid-way.

/// Splits `a=1; b=2` into trimmed (lowercase tag, value) pairs; None when a part has no `=`.
fn tags(record: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for part in record.split(';') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (tag, value) = part.split_once('=')?;
        out.push((tag.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    Some(out)
}

/// What a DKIM key record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimKey {
    /// `k=`, `rsa` when absent.
    pub key_type: String,
    /// Length of `p=` without whitespace; 0 means the key is revoked.
    pub key_len: usize,
}

impl DkimKey {
    pub fn is_revoked(&self) -> bool {
        self.key_len == 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DkimError {
    #[error("the record is not a tag=value list")]
    NotTagList,
    #[error("the record's version is \"{0}\", not DKIM1")]
    WrongVersion(String),
    #[error("the record has no p= (public key) tag")]
    NoKey,
    #[error("the key type \"{0}\" is not one DKIM verifiers know (rsa, ed25519)")]
    UnknownKeyType(String),
    #[error("the p= key is not base64")]
    KeyNotBase64,
}

pub fn parse_dkim(record: &str) -> Result<DkimKey, DkimError> {
    let tags = tags(record).ok_or(DkimError::NotTagList)?;
    let get = |name: &str| {
        tags.iter()
            .find(|(t, _)| t == name)
            .map(|(_, v)| v.as_str())
    };
    if let Some(v) = get("v")
        && v != "DKIM1"
    {
        return Err(DkimError::WrongVersion(v.to_string()));
    }
    let key_type = get("k").unwrap_or("rsa").to_ascii_lowercase();
    if key_type != "rsa" && key_type != "ed25519" {
        return Err(DkimError::UnknownKeyType(key_type));
    }
    let key: String = get("p")
        .ok_or(DkimError::NoKey)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if !key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=')
    {
        return Err(DkimError::KeyNotBase64);
    }
    Ok(DkimKey {
        key_type,
        key_len: key.len(),
    })
}

/// A DMARC policy record's main tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dmarc {
    /// `p=`: none, quarantine or reject.
    pub policy: String,
    pub subdomain_policy: Option<String>,
    pub pct: Option<u8>,
    pub rua: Option<String>,
}

impl Dmarc {
    /// How strict the policy is: none < quarantine < reject.
    pub fn strictness(&self) -> u8 {
        match self.policy.as_str() {
            "reject" => 2,
            "quarantine" => 1,
            _ => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DmarcError {
    #[error("the record does not start with v=DMARC1")]
    NotDmarc,
    #[error("the record has no valid p= policy (none, quarantine, reject)")]
    NoPolicy,
}

pub fn is_dmarc(txt: &str) -> bool {
    txt.trim_start().starts_with("v=DMARC1")
}

pub fn parse_dmarc(record: &str) -> Result<Dmarc, DmarcError> {
    if !is_dmarc(record) {
        return Err(DmarcError::NotDmarc);
    }
    let tags = tags(record).ok_or(DmarcError::NotDmarc)?;
    let get = |name: &str| tags.iter().find(|(t, _)| t == name).map(|(_, v)| v.clone());
    let policy = get("p")
        .map(|p| p.to_ascii_lowercase())
        .filter(|p| matches!(p.as_str(), "none" | "quarantine" | "reject"))
        .ok_or(DmarcError::NoPolicy)?;
    Ok(Dmarc {
        policy,
        subdomain_policy: get("sp").map(|p| p.to_ascii_lowercase()),
        pct: get("pct").and_then(|p| p.parse().ok()),
        rua: get("rua"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dkim_key_parses_and_revocation_is_seen() {
        let key = parse_dkim("v=DKIM1; k=rsa; p=MIIBIjANBgkq hkiG9w0BAQEFAAOCAQ8A").unwrap();
        assert_eq!(key.key_type, "rsa");
        assert!(!key.is_revoked());
        assert!(parse_dkim("v=DKIM1; p=").unwrap().is_revoked());
        assert_eq!(
            parse_dkim("v=DKIM2; p=abc"),
            Err(DkimError::WrongVersion("DKIM2".into()))
        );
        assert_eq!(parse_dkim("v=DKIM1; k=rsa"), Err(DkimError::NoKey));
        assert_eq!(parse_dkim("hello"), Err(DkimError::NotTagList));
        assert!(matches!(
            parse_dkim("v=DKIM1; k=dsa; p=abc"),
            Err(DkimError::UnknownKeyType(_))
        ));
    }

    #[test]
    fn dmarc_policy_is_read() {
        let d = parse_dmarc("v=DMARC1; p=quarantine; rua=mailto:d@example.com; pct=50").unwrap();
        assert_eq!(d.policy, "quarantine");
        assert_eq!(d.pct, Some(50));
        assert_eq!(d.strictness(), 1);
        assert_eq!(parse_dmarc("v=DMARC1; p=bogus"), Err(DmarcError::NoPolicy));
        assert_eq!(parse_dmarc("v=spf1 -all"), Err(DmarcError::NotDmarc));
    }

    proptest::proptest! {
        #[test]
        fn nothing_panics_on_any_text(text in "\\PC{0,300}") {
            let _ = parse_dkim(&text);
            let _ = parse_dmarc(&text);
        }
    }
}
