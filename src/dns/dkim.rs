//! DKIM key records (RFC 6376 3.6.1) judged as verifiers read them: the
//! tag list, `k=`, `h=`, `s=`, `t=`, and the key in `p=` decoded and parsed
//! (RSA as SubjectPublicKeyInfo or PKCS#1 RSAPublicKey with its size, RFC
//! 8301; Ed25519 as 32 bytes, RFC 8463). The new server's key must be whole
//! before R9's switch: a key cut off at the DNS host fails every signature.
//!
//! DER is read with RustCrypto's `spki` and `pkcs1` (four small crates, no
//! RSA arithmetic, no resolver); mail-auth would bring a mail parser, an RSA
//! implementation and a resolver for the same few lines.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use pkcs1::der::{self, Decode};
use serde::{Deserialize, Serialize};

use crate::sanitize::sanitize;

/// Verifiers reject RSA keys under this size (RFC 8301 3.2).
pub const RSA_MIN_BITS: u32 = 1024;
/// Signers should use at least this size (RFC 8301 3.2).
pub const RSA_RECOMMENDED_BITS: u32 = 2048;
/// Verifiers need not handle larger keys (RFC 8301 3.2).
pub const RSA_MAX_VERIFIED_BITS: u32 = 4096;
/// An Ed25519 public key (RFC 8463 4).
pub const ED25519_KEY_BYTES: usize = 32;

/// `id-Ed25519` (RFC 8410 3).
const ED25519_OID: pkcs1::ObjectIdentifier = pkcs1::ObjectIdentifier::new_unwrap("1.3.101.112");

/// Why a text is not a tag list (RFC 6376 3.2), which DKIM and DMARC records are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TagListError {
    #[error("\"{0}\" has no = (a tag list is name=value pairs separated by ;)")]
    NoEquals(String),
    #[error("\"{0}\" is not a tag name (a letter, then letters, digits or _)")]
    BadName(String),
    #[error("the tag {0}= appears twice; the whole record is then invalid (RFC 6376 3.2)")]
    Duplicate(String),
    #[error("two semicolons in a row (an empty tag)")]
    EmptyTag,
    #[error("the value of {tag}= contains {what}")]
    BadCharacter { tag: String, what: String },
}

/// Splits a tag list into (name, value) pairs, names as written (DKIM's are
/// case-sensitive), values with surrounding whitespace removed and inner
/// whitespace kept.
pub fn parse_tag_list(record: &str) -> Result<Vec<(String, String)>, TagListError> {
    let parts: Vec<&str> = record.split(';').collect();
    let mut out: Vec<(String, String)> = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        if part.trim().is_empty() {
            // A trailing ";" (and whitespace after it) is allowed.
            if index + 1 == parts.len() && index > 0 {
                continue;
            }
            return Err(TagListError::EmptyTag);
        }
        let (name, value) = part
            .split_once('=')
            .ok_or_else(|| TagListError::NoEquals(sanitize(part.trim())))?;
        let name = name.trim();
        let mut chars = name.chars();
        let name_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !name_ok {
            return Err(TagListError::BadName(sanitize(name)));
        }
        let value = value.trim();
        // tag-value: printable ASCII except ";", with spaces, tabs and line breaks between.
        if let Some(bad) = value
            .chars()
            .find(|c| !(c.is_ascii_graphic() || matches!(c, ' ' | '\t' | '\r' | '\n')))
        {
            return Err(TagListError::BadCharacter {
                tag: name.to_string(),
                what: crate::syntax::domain::describe_char(bad),
            });
        }
        if out.iter().any(|(n, _)| n == name) {
            return Err(TagListError::Duplicate(name.to_string()));
        }
        out.push((name.to_string(), value.to_string()));
    }
    Ok(out)
}

/// The key algorithm, from `k=` or from the key itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    Rsa,
    Ed25519,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa => "rsa",
            KeyType::Ed25519 => "ed25519",
        }
    }
}

/// What verifiers would make of the key record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DkimResult {
    Pass,
    Warn,
    Fail,
}

/// The judgement of one DKIM key record (`status --json`'s `dkim`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DkimVerdict {
    pub result: DkimResult,
    /// Whether verifiers can check signatures with it (pass or warn).
    pub valid: bool,
    /// The key's algorithm as read from the key (else from `k=`).
    pub key_type: Option<KeyType>,
    /// RSA modulus size; 256 for Ed25519.
    pub key_bits: Option<u32>,
    /// `t=y`: the domain says it is testing DKIM.
    pub testing: bool,
    pub errors: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Judges a DKIM key record (the TXT at `<selector>._domainkey.<domain>`).
pub fn judge(record: &str) -> DkimVerdict {
    let mut v = DkimVerdict {
        result: DkimResult::Pass,
        valid: true,
        key_type: None,
        key_bits: None,
        testing: false,
        errors: vec![],
        warnings: vec![],
    };
    match parse_tag_list(record) {
        Err(e) => v
            .errors
            .push(format!("the record is not a DKIM tag list: {e}")),
        Ok(tags) => judge_tags(&tags, &mut v),
    }
    v.result = if !v.errors.is_empty() {
        DkimResult::Fail
    } else if !v.warnings.is_empty() {
        DkimResult::Warn
    } else {
        DkimResult::Pass
    };
    v.valid = v.result != DkimResult::Fail;
    v
}

fn judge_tags(tags: &[(String, String)], v: &mut DkimVerdict) {
    let get = |name: &str| {
        tags.iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    };
    if let Some(version) = get("v") {
        if version != "DKIM1" {
            v.errors.push(format!(
                "v={} is not DKIM1: verifiers ignore the record",
                sanitize(version)
            ));
        } else if tags.first().is_some_and(|(n, _)| n != "v") {
            v.errors
                .push("v=DKIM1 must be the first tag (RFC 6376 3.6.1)".into());
        }
    }
    let declared = match get("k").map(str::trim) {
        None => Some(KeyType::Rsa),
        Some("rsa") => Some(KeyType::Rsa),
        Some("ed25519") => Some(KeyType::Ed25519),
        Some(other) => {
            v.errors.push(format!(
                "k={} is not a key type verifiers know (rsa, ed25519)",
                sanitize(other)
            ));
            None
        }
    };
    if let Some(h) = get("h") {
        let algorithms: Vec<&str> = h.split(':').map(str::trim).collect();
        if algorithms.contains(&"sha256") {
        } else if algorithms.contains(&"sha1") {
            v.errors.push(format!(
                "h={} allows only sha1, which verifiers no longer accept (RFC 8301): write h=sha256 or leave h= out",
                sanitize(h)
            ));
        } else {
            v.errors.push(format!(
                "h={} names no hash verifiers know (sha256): leave h= out",
                sanitize(h)
            ));
        }
    }
    if let Some(s) = get("s") {
        let services: Vec<&str> = s.split(':').map(str::trim).collect();
        if !services.iter().any(|s| matches!(*s, "*" | "email")) {
            v.errors.push(format!(
                "s={} does not include email (or *): verifiers will not use the key for mail",
                sanitize(s)
            ));
        }
    }
    if let Some(t) = get("t")
        && t.split(':').any(|flag| flag.trim() == "y")
    {
        v.testing = true;
        v.warnings.push(
            "t=y: the domain says it is testing DKIM, so receivers may ignore failed signatures; remove t=y once mail from the new server verifies".into(),
        );
    }
    if tags.iter().any(|(n, _)| n == "P" || n == "K") && get("p").is_none() {
        v.errors
            .push("tag names are case-sensitive: write p= and k= in lower case".into());
    }
    let Some(p) = get("p") else {
        v.errors
            .push("the record has no p= tag (the public key)".into());
        return;
    };
    let base64: String = p.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if base64.is_empty() {
        v.errors.push(
            "p= is empty: the key is revoked (RFC 6376 3.6.1), so every signature made with it fails; publish the key the new server gives you".into(),
        );
        return;
    }
    let key = match decode_base64(&base64) {
        Ok(bytes) => bytes,
        Err(why) => {
            v.errors.push(why.to_string());
            return;
        }
    };
    match read_key(&key, base64.len(), declared) {
        Err(why) => {
            v.key_type = declared;
            v.errors.push(why.to_string());
        }
        Ok((found, bits)) => {
            v.key_type = Some(found);
            v.key_bits = Some(bits);
            if let Some(declared) = declared
                && declared != found
            {
                v.errors.push(if declared == KeyType::Rsa && get("k").is_none() {
                    format!(
                        "p= holds an {} key but the record has no k= (which means rsa): add k={}",
                        found.as_str(),
                        found.as_str()
                    )
                } else {
                    format!(
                        "k={} but p= holds an {} key: verifiers cannot use it",
                        declared.as_str(),
                        found.as_str()
                    )
                });
            }
            if found == KeyType::Rsa {
                if bits < RSA_MIN_BITS {
                    v.errors.push(format!(
                        "the RSA key is {bits} bits: verifiers reject keys under {RSA_MIN_BITS} bits (RFC 8301); publish a {RSA_RECOMMENDED_BITS}-bit key"
                    ));
                } else if bits < RSA_RECOMMENDED_BITS {
                    v.warnings.push(format!(
                        "the RSA key is {bits} bits; RFC 8301 asks for {RSA_RECOMMENDED_BITS}: ask the new server for a {RSA_RECOMMENDED_BITS}-bit key"
                    ));
                } else if bits > RSA_MAX_VERIFIED_BITS {
                    v.warnings.push(format!(
                        "the RSA key is {bits} bits; verifiers need only handle up to {RSA_MAX_VERIFIED_BITS} (RFC 8301), so some may not check it"
                    ));
                }
            }
        }
    }
}

/// Base64 with whitespace already removed; padding may be missing (a value cut
/// short), a stray single character at the end is set aside.
fn decode_base64(text: &str) -> Result<Vec<u8>, KeyProblem> {
    let body = text.trim_end_matches('=');
    if text.len() - body.len() > 2 {
        return Err(KeyProblem::TooMuchPadding);
    }
    if let Some(bad) = body
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/')))
    {
        return Err(KeyProblem::NotBase64Char(
            crate::syntax::domain::describe_char(bad),
        ));
    }
    // A single leftover character carries no whole byte: the value was cut there.
    let usable = if body.len() % 4 == 1 {
        &body[..body.len() - 1]
    } else {
        body
    };
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    LENIENT
        .decode(usable)
        .map_err(|e| KeyProblem::NotBase64(e.to_string()))
}

/// The key's type and size, from its bytes; `chars`: the base64 length, for
/// the message when the key is cut off.
/// `declared`: the `k=` type, which settles a 32-byte key that happens to
/// start like DER.
fn read_key(
    key: &[u8],
    chars: usize,
    declared: Option<KeyType>,
) -> Result<(KeyType, u32), KeyProblem> {
    const DER_SEQUENCE: u8 = 0x30;
    if key.len() == ED25519_KEY_BYTES
        && (declared == Some(KeyType::Ed25519) || key.first() != Some(&DER_SEQUENCE))
    {
        return Ok((KeyType::Ed25519, 256));
    }
    let spki = spki::SubjectPublicKeyInfoRef::from_der(key);
    match &spki {
        Ok(info) if info.algorithm.oid == pkcs1::ALGORITHM_OID => {
            let inner = info
                .subject_public_key
                .as_bytes()
                .ok_or(KeyProblem::RsaBitString)?;
            return rsa_bits(inner, chars);
        }
        Ok(info) if info.algorithm.oid == ED25519_OID => {
            let raw = info.subject_public_key.raw_bytes();
            return Err(KeyProblem::WrappedEd25519 {
                bytes: key.len(),
                bare: base64::engine::general_purpose::STANDARD.encode(raw),
            });
        }
        Ok(info) => {
            return Err(KeyProblem::OtherAlgorithm(info.algorithm.oid.to_string()));
        }
        Err(_) => {}
    }
    let pkcs1 = pkcs1::RsaPublicKeyRef::from_der(key);
    match pkcs1 {
        Ok(_) => rsa_bits(key, chars),
        Err(e) => {
            let cut = [spki.err(), Some(e)]
                .into_iter()
                .flatten()
                .any(|e| matches!(e.kind(), der::ErrorKind::Incomplete { .. }));
            if declared == Some(KeyType::Ed25519) {
                Err(KeyProblem::Ed25519Size(key.len()))
            } else if cut {
                Err(KeyProblem::CutOff {
                    bytes: key.len(),
                    chars,
                })
            } else {
                Err(KeyProblem::NotAKey(key.len()))
            }
        }
    }
}

/// Why the bytes of `p=` are not a key a verifier can use; each says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum KeyProblem {
    #[error("p= ends in more than two = signs: it is not base64")]
    TooMuchPadding,
    /// The character, described.
    #[error(
        "p= is not base64: it contains {0} (copy the key again, without quotes or line breaks from the provider's page)"
    )]
    NotBase64Char(String),
    #[error("p= is not base64 ({0})")]
    NotBase64(String),
    #[error("the RSA key's bit string is malformed")]
    RsaBitString,
    #[error(
        "p= holds an Ed25519 key wrapped in SubjectPublicKeyInfo ({bytes} bytes); DKIM wants the bare 32-byte key (RFC 8463): p={bare}"
    )]
    WrappedEd25519 { bytes: usize, bare: String },
    /// The algorithm's OID.
    #[error("p= holds a key of algorithm {0}, neither RSA nor Ed25519")]
    OtherAlgorithm(String),
    #[error(
        "an Ed25519 key is {ED25519_KEY_BYTES} bytes (RFC 8463); p= holds {0}: paste the key exactly as the new server gives it"
    )]
    Ed25519Size(usize),
    /// The DER ends early: the value was cut at `chars` base64 characters.
    #[error(
        "the key is cut off: {bytes} bytes do not form an RSA key — paste the whole value (it was cut at {chars} characters); DNS hosts often split long TXT values into several quoted strings, which is fine"
    )]
    CutOff { bytes: usize, chars: usize },
    #[error(
        "{0} bytes do not form a public key (neither an RSA key nor a 32-byte Ed25519 key): paste the key exactly as the new server gives it"
    )]
    NotAKey(usize),
    /// The DER parser's own words.
    #[error("the RSA key does not parse ({0})")]
    RsaUnreadable(String),
    #[error("the RSA key's modulus is empty")]
    EmptyModulus,
}

/// The modulus size of a PKCS#1 RSAPublicKey.
fn rsa_bits(der_bytes: &[u8], chars: usize) -> Result<(KeyType, u32), KeyProblem> {
    let key = pkcs1::RsaPublicKeyRef::from_der(der_bytes).map_err(|e| {
        if matches!(e.kind(), der::ErrorKind::Incomplete { .. }) {
            KeyProblem::CutOff {
                bytes: der_bytes.len(),
                chars,
            }
        } else {
            KeyProblem::RsaUnreadable(e.to_string())
        }
    })?;
    let modulus = key.modulus.as_bytes();
    let Some(first) = modulus.first() else {
        return Err(KeyProblem::EmptyModulus);
    };
    let bytes = u32::try_from(modulus.len()).unwrap_or(u32::MAX);
    let bits = bytes
        .saturating_sub(1)
        .saturating_mul(8)
        .saturating_add(8 - first.leading_zeros());
    Ok((KeyType::Rsa, bits))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `openssl genrsa 2048 | openssl rsa -pubout`, base64 of the SubjectPublicKeyInfo.
    pub(crate) const RSA_2048: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu7i/VdKAwOIDU1TVdkHhRe3i8T+7x3ZxK76HGL9mwfEI/M/XhyhVQFBJR+M+cOfnrG2SQ364crZHb3oi5SWXurqUPSPiXHcyn0louDIM3b7YoQlCdE4sFmEB5V1esWZgIgCWeRt+ui84Eze4h8/kYxT2iy1UZ4VOzG65r+RpzA8VaKmjFnJ/69A5IHsxWqiPeo21R6OMo3Qwp7Qdi0ZI/Fu+rjy6RTQMe3uB3uAhI9DUyWOO3K+u6VDuCz2lGeiQe5e/XJ/VExEifAwVW5BJbPOx1CGVggSbJV2HxqlUljgN6GnmNu5UgsTQTilvsWt6Jb714zApJGu7hHbqcx4jCwIDAQAB";
    /// The same key as a bare PKCS#1 RSAPublicKey (`openssl rsa -RSAPublicKey_out`).
    const RSA_2048_PKCS1: &str = "MIIBCgKCAQEAu7i/VdKAwOIDU1TVdkHhRe3i8T+7x3ZxK76HGL9mwfEI/M/XhyhVQFBJR+M+cOfnrG2SQ364crZHb3oi5SWXurqUPSPiXHcyn0louDIM3b7YoQlCdE4sFmEB5V1esWZgIgCWeRt+ui84Eze4h8/kYxT2iy1UZ4VOzG65r+RpzA8VaKmjFnJ/69A5IHsxWqiPeo21R6OMo3Qwp7Qdi0ZI/Fu+rjy6RTQMe3uB3uAhI9DUyWOO3K+u6VDuCz2lGeiQe5e/XJ/VExEifAwVW5BJbPOx1CGVggSbJV2HxqlUljgN6GnmNu5UgsTQTilvsWt6Jb714zApJGu7hHbqcx4jCwIDAQAB";
    /// `openssl genrsa 1024 | openssl rsa -pubout`.
    pub(crate) const RSA_1024: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDpMzjMue7bUiuV2C4KR85slrte+H8BIdQm+mOKMnaLbdT0tHFDuJ73N6c13EP2Tv2QJxXP848Y6HAnLJ2uZkExzYeELrZucQxohTid1zPf1tjaVmz0HigPMgyqXlK9BOvbHbuM9xoRgBEvfEHbr0Wj1gfZoHPji3lEHtzIUdLvmQIDAQAB";
    /// `openssl genrsa 512 | openssl rsa -pubout`.
    pub(crate) const RSA_512: &str = "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBALNVPmtoRPUtPCxiWOntBFcbDskYKksfmKrsvtg+MhAvZW0m8G7lZ5LZ6fquNe19GsCwtDO+z4DxDq+DoO6wkCkCAwEAAQ==";
    /// `openssl genpkey -algorithm ed25519`: the bare 32-byte public key, and as SubjectPublicKeyInfo.
    pub(crate) const ED25519: &str = "K9B5pMlEfm8NPrzqALwUGP4Ut8RKya6s52ZE9n3ad6I=";
    const ED25519_SPKI: &str = "MCowBQYDK2VwAyEAK9B5pMlEfm8NPrzqALwUGP4Ut8RKya6s52ZE9n3ad6I=";

    fn assert_fails_with(record: &str, says: &str) -> DkimVerdict {
        let v = judge(record);
        assert_eq!((v.result, v.valid), (DkimResult::Fail, false), "{v:#?}");
        assert!(
            v.errors.iter().any(|e| e.contains(says)),
            "{says:?} not in {:#?}",
            v.errors
        );
        v
    }

    #[test]
    fn a_whole_2048_bit_key_passes_in_either_form() {
        for key in [RSA_2048, RSA_2048_PKCS1] {
            let v = judge(&format!("v=DKIM1; k=rsa; p={key}"));
            assert_eq!(v.result, DkimResult::Pass, "{v:#?}");
            assert_eq!(
                (v.key_type, v.key_bits, v.testing),
                (Some(KeyType::Rsa), Some(2048), false)
            );
        }
        // Whitespace inside p= (a key pasted in pieces), no k=, no v=.
        let spaced: String = RSA_2048
            .as_bytes()
            .chunks(60)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(" \t");
        let v = judge(&format!("p={spaced};"));
        assert_eq!(
            (v.result, v.key_bits),
            (DkimResult::Pass, Some(2048)),
            "{v:#?}"
        );
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["valid"], true);
        assert_eq!(json["key_type"], "rsa");
        assert_eq!(json["key_bits"], 2048);
        assert_eq!(json["testing"], false);
        assert_eq!(json["errors"], serde_json::json!([]));
    }

    #[test]
    fn a_key_cut_at_255_characters_fails_saying_so() {
        let cut = &RSA_2048[..255];
        let v = assert_fails_with(
            &format!("v=DKIM1; k=rsa; p={cut}"),
            "the key is cut off: 191 bytes do not form an RSA key — paste the whole value (it was cut at 255 characters); DNS hosts often split long TXT values into several quoted strings, which is fine",
        );
        assert_eq!(v.key_bits, None);
        // Cut at 200 and at 100 as well, with and without the SPKI wrapper.
        for cut in [&RSA_2048[..200], &RSA_2048[..100], &RSA_2048_PKCS1[..200]] {
            assert_fails_with(&format!("v=DKIM1; p={cut}"), "the key is cut off");
        }
    }

    #[test]
    fn key_sizes_follow_rfc_8301() {
        let v = judge(&format!("v=DKIM1; k=rsa; p={RSA_1024}"));
        assert_eq!(
            (v.result, v.valid, v.key_bits),
            (DkimResult::Warn, true, Some(1024)),
            "{v:#?}"
        );
        assert!(v.warnings[0].contains("RFC 8301 asks for 2048"));
        let v = assert_fails_with(
            &format!("v=DKIM1; k=rsa; p={RSA_512}"),
            "the RSA key is 512 bits",
        );
        assert_eq!(v.key_bits, Some(512));
    }

    #[test]
    fn ed25519_keys_are_32_bytes_and_k_must_match() {
        let v = judge(&format!("v=DKIM1; k=ed25519; p={ED25519}"));
        assert_eq!(
            (v.result, v.key_type, v.key_bits),
            (DkimResult::Pass, Some(KeyType::Ed25519), Some(256)),
            "{v:#?}"
        );
        assert_fails_with(
            &format!("v=DKIM1; p={ED25519}"),
            "has no k= (which means rsa): add k=ed25519",
        );
        assert_fails_with(
            &format!("v=DKIM1; k=ed25519; p={RSA_2048}"),
            "k=ed25519 but p= holds an rsa key",
        );
        assert_fails_with(
            &format!("v=DKIM1; k=rsa; p={ED25519}"),
            "k=rsa but p= holds an ed25519 key",
        );
        assert_fails_with(
            &format!("v=DKIM1; k=ed25519; p={ED25519_SPKI}"),
            &format!(
                "wrapped in SubjectPublicKeyInfo (44 bytes); DKIM wants the bare 32-byte key (RFC 8463): p={ED25519}"
            ),
        );
        assert_fails_with(
            &format!("v=DKIM1; k=ed25519; p={}", &ED25519[..40]),
            "an Ed25519 key is 32 bytes (RFC 8463); p= holds 30",
        );
        assert_fails_with(
            &format!("v=DKIM1; k=dsa; p={RSA_2048}"),
            "k=dsa is not a key type",
        );
    }

    #[test]
    fn revoked_testing_and_the_other_tags() {
        assert_fails_with("v=DKIM1; k=rsa; p=", "the key is revoked");
        assert_fails_with("v=DKIM1; k=rsa; p= ;", "the key is revoked");
        let v = judge(&format!("v=DKIM1; t=y; p={RSA_2048}"));
        assert_eq!(
            (v.result, v.valid, v.testing),
            (DkimResult::Warn, true, true),
            "{v:#?}"
        );
        let v = judge(&format!("v=DKIM1; t=s:y; p={RSA_2048}"));
        assert!(v.testing);
        let v = judge(&format!(
            "v=DKIM1; t=s; h=sha1:sha256; s=email; n=note; p={RSA_2048}"
        ));
        assert_eq!(v.result, DkimResult::Pass, "{v:#?}");
        assert_fails_with(&format!("v=DKIM1; h=sha1; p={RSA_2048}"), "only sha1");
        assert_fails_with(&format!("v=DKIM1; h=md5; p={RSA_2048}"), "names no hash");
        assert_fails_with(
            &format!("v=DKIM1; s=tlsrpt; p={RSA_2048}"),
            "does not include email",
        );
        assert!(judge(&format!("v=DKIM1; s=*; p={RSA_2048}")).valid);
        assert_fails_with(&format!("v=DKIM2; p={RSA_2048}"), "v=DKIM2 is not DKIM1");
        assert_fails_with(
            &format!("k=rsa; v=DKIM1; p={RSA_2048}"),
            "must be the first tag",
        );
        assert_fails_with("v=DKIM1; k=rsa", "no p= tag");
        assert_fails_with(&format!("v=DKIM1; P={RSA_2048}"), "case-sensitive");
        assert_fails_with(
            &format!("v=DKIM1; p={RSA_2048}; p={RSA_2048}"),
            "appears twice",
        );
        assert_fails_with(
            "v=DKIM1; p=MIIB\"IjAN",
            "p= is not base64: it contains \"\"\"",
        );
        assert_fails_with("v=DKIM1; p=MIIB===", "more than two =");
        assert_fails_with("hello", "has no =");
        assert_fails_with("v=DKIM1;; p=x", "two semicolons");
    }

    #[test]
    fn tag_lists() {
        assert_eq!(
            parse_tag_list("v=DKIM1; k=rsa;\r\n\tp=ab cd ;"),
            Ok(vec![
                ("v".into(), "DKIM1".into()),
                ("k".into(), "rsa".into()),
                ("p".into(), "ab cd".into())
            ])
        );
        assert_eq!(
            parse_tag_list("1v=x"),
            Err(TagListError::BadName("1v".into()))
        );
        assert!(matches!(
            parse_tag_list("p=a\u{1b}b"),
            Err(TagListError::BadCharacter { .. })
        ));
        assert_eq!(parse_tag_list(""), Err(TagListError::EmptyTag));
    }

    proptest::proptest! {
        #[test]
        fn nothing_panics_and_messages_are_printable(
            text in "\\PC{0,300}|v=DKIM1;( ?[a-zA-Z]{1,2}=[a-zA-Z0-9+/= :;\\x00-\\x1f]{0,40};?){0,6}",
            cut in 0usize..392,
        ) {
            for record in [text.clone(), format!("v=DKIM1; p={}", &RSA_2048[..cut]), format!("p={}{text}", &RSA_2048[..cut])] {
                let v = judge(&record);
                for e in v.errors.iter().chain(&v.warnings) {
                    proptest::prop_assert!(!e.chars().any(char::is_control), "{e:?}");
                }
                proptest::prop_assert_eq!(v.valid, v.result != DkimResult::Fail);
            }
            // A cut key never passes.
            if cut < RSA_2048.len() - 4 {
                let v = judge(&format!("v=DKIM1; p={}", &RSA_2048[..cut]));
                proptest::prop_assert!(!v.valid, "{cut}: {v:?}");
            }
        }
    }
}
