//! TLS client configurations, one set for the whole crate (rustls with the ring provider):
//! the system's roots plus an optional CA file, a pinned server certificate, or, when a plan
//! writes it out, no verification at all; and, when a handshake fails, what the server served,
//! in words an operator can check by another channel.
//!
//! Old mail servers often serve a self-signed certificate made with `openssl req -x509`,
//! which marks it `CA:TRUE`; rustls refuses such a certificate as a server's even when it is
//! the only trust anchor. A pin ([`Trust::Pinned`]) accepts exactly that certificate, and so
//! does a `ca_file` holding it: the operator named that very certificate, as mbsync and
//! imapsync users do.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{VerifierBuilderError, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use sha2::{Digest, Sha256};

use crate::sanitize::sanitize;

/// Why a TLS client configuration could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The extra CA file is missing, unreadable, holds no certificate, or holds one rustls cannot use.
    #[error("CA file {path}: {detail}")]
    CaFile { path: String, detail: String },
    /// A pin that is not a SHA-256 fingerprint (64 hex digits, colons allowed).
    #[error(
        "pin_sha256 \"{pin}\" is not a SHA-256 fingerprint: write the 64 hex digits (colons allowed) that `openssl x509 -fingerprint -sha256 -noout -in cert.pem` prints"
    )]
    BadPin { pin: String },
    /// rustls refused the configuration itself (no protocol version the provider supports).
    #[error("TLS set-up: {detail}")]
    Config { detail: String },
}

/// A certificate's SHA-256 fingerprint (of its DER bytes, as openssl computes it).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER certificate.
    pub fn of(der: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(der).into())
    }

    /// Reads a pin: 64 hex digits in any case, with or without colons or spaces; openssl's
    /// whole line (`sha256 Fingerprint=AB:CD:…`) is accepted too.
    pub fn parse(text: &str) -> Result<Fingerprint, TlsError> {
        let bad = || TlsError::BadPin {
            pin: sanitize(text),
        };
        let hex = text.rsplit_once('=').map_or(text, |(_, after)| after);
        let digits: Vec<u8> = hex
            .bytes()
            .filter(|b| !matches!(b, b':' | b' ' | b'\t'))
            .collect();
        if digits.len() != 64 {
            return Err(bad());
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(Fingerprint(bytes))
    }
}

impl FromStr for Fingerprint {
    type Err = TlsError;
    fn from_str(text: &str) -> Result<Fingerprint, TlsError> {
        Fingerprint::parse(text)
    }
}

/// Colon-separated upper-case hex, as `openssl x509 -fingerprint -sha256` prints it.
impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{byte:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// How a client decides to trust a server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Signed by a CA the system trusts, or by one in this PEM file; valid for the host name.
    /// A certificate the file holds itself is trusted as if pinned.
    Roots {
        extra_ca: Option<std::path::PathBuf>,
    },
    /// Exactly the certificate with this fingerprint, whoever signed it, whatever its CA
    /// flags, names or dates: the operator has checked it by another channel.
    Pinned(Fingerprint),
    /// Any certificate (`insecure_skip_verify`): the last resort, written out in the plan.
    Anything,
}

/// What a server served, in words: enough to check it by another channel and to pin it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSummary {
    pub fingerprint: Fingerprint,
    /// The subject as RFC 4514 writes it (`CN=mail.example.com`), sanitised; `None` when the
    /// certificate cannot be parsed.
    pub subject: Option<String>,
    /// notAfter; `None` when the certificate cannot be parsed.
    pub not_after: Option<jiff::Timestamp>,
}

impl CertificateSummary {
    pub fn of(der: &[u8]) -> CertificateSummary {
        use x509_cert::der::Decode;
        let parsed = x509_cert::Certificate::from_der(der).ok();
        let tbs = parsed.as_ref().map(|c| c.tbs_certificate());
        CertificateSummary {
            fingerprint: Fingerprint::of(der),
            subject: tbs.map(|t| sanitize(&t.subject().to_string())),
            not_after: tbs.and_then(|t| {
                let secs = t.validity().not_after.to_unix_duration().as_secs();
                jiff::Timestamp::from_second(i64::try_from(secs).ok()?).ok()
            }),
        }
    }
}

impl fmt::Display for CertificateSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SHA-256 {}", self.fingerprint)?;
        match &self.subject {
            Some(subject) if !subject.is_empty() => write!(f, ", subject {subject}")?,
            Some(_) => f.write_str(", no subject")?,
            None => f.write_str(", not a readable X.509 certificate")?,
        }
        if let Some(not_after) = self.not_after {
            write!(
                f,
                ", valid until {}",
                not_after.strftime("%Y-%m-%d %H:%M:%S UTC")
            )?;
        }
        Ok(())
    }
}

/// The certificate an endpoint last served and had refused, through its configuration from
/// [`watched_tls_config`]; read it after a handshake failed on the certificate, to say
/// what was refused.
#[derive(Debug, Clone, Default)]
pub struct ServedCertificate(Arc<Mutex<Option<CertificateDer<'static>>>>);

impl ServedCertificate {
    /// The end-entity certificate last refused, if a server got that far.
    pub fn summary(&self) -> Option<CertificateSummary> {
        let served = self.0.lock().unwrap_or_else(|e| e.into_inner());
        served.as_ref().map(|der| CertificateSummary::of(der))
    }

    fn keep(&self, der: &CertificateDer<'_>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(der.clone().into_owned());
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Certificates the system trusts, loaded once per process.
fn native_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// The system's roots plus every certificate of `extra_ca` (PEM).
pub(crate) fn root_store(extra_ca: Option<&Path>) -> Result<RootCertStore, TlsError> {
    let extra = match extra_ca {
        Some(path) => ca_file_certificates(path)?,
        None => Vec::new(),
    };
    roots_with(extra_ca, extra)
}

/// The system's roots plus `extra`, the certificates read from the CA file at `extra_ca`.
fn roots_with(
    extra_ca: Option<&Path>,
    extra: Vec<CertificateDer<'static>>,
) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    // One unreadable system certificate should not stop the others.
    let (_added, _ignored) = roots.add_parsable_certificates(native_roots().iter().cloned());
    for cert in extra {
        roots.add(cert).map_err(|e| TlsError::CaFile {
            path: sanitize(
                &extra_ca
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            ),
            detail: sanitize(&e.to_string()),
        })?;
    }
    Ok(roots)
}

/// Every certificate of the PEM file at `path`; at least one.
fn ca_file_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let ca_error = |detail: String| TlsError::CaFile {
        path: sanitize(&path.display().to_string()),
        detail: sanitize(&detail),
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| ca_error(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| ca_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(ca_error("holds no certificate".to_string()));
    }
    Ok(certs)
}

/// A client configuration trusting the system's roots and, when given, the certificates of
/// `extra_ca` (PEM) as further trust anchors. One configuration serves many connections.
pub fn tls_config(extra_ca: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    tls_config_with_roots(root_store(extra_ca)?)
}

/// A client configuration trusting exactly `roots` (tests, the rehearsal).
pub fn tls_config_with_roots(roots: RootCertStore) -> Result<Arc<ClientConfig>, TlsError> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config {
            detail: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A trust setting as the cache knows it: a CA file by its path and its bytes, so that a
/// file the operator fixed is read afresh.
#[derive(PartialEq, Eq, Hash)]
enum TrustKey {
    Roots(Option<(std::path::PathBuf, Vec<u8>)>),
    Pinned(Fingerprint),
    Anything,
}

/// The client configuration for connections to `host`:`port` trusted as `trust` says, and
/// the certificate that endpoint last served and had refused, so that a failed handshake
/// can say what was refused (see [`describe_failure`]).
///
/// One configuration per endpoint and trust, built on first use and kept for the process:
/// building the check parses the system's roots (about a millisecond, which a probe of
/// 1,000 mailboxes paid 2,000 times), and sessions resume only under the very verifier that
/// checked them (rustls compares it), so a shared configuration is what lets a TLS 1.3
/// handshake resume: a fresh key is still agreed, but the certificate is neither signed
/// nor checked again. A change of trust (pin, CA file, skip) is a new configuration that
/// resumes nothing made under the old one. A CA file that cannot be read or used is never
/// kept, so its error is reported on every connection.
pub fn watched_tls_config(
    trust: &Trust,
    host: &str,
    port: u16,
) -> Result<(Arc<ClientConfig>, ServedCertificate), TlsError> {
    type Cache =
        std::collections::HashMap<(TrustKey, String, u16), (Arc<ClientConfig>, ServedCertificate)>;
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    let key = match trust {
        Trust::Roots { extra_ca: None } => TrustKey::Roots(None),
        Trust::Roots {
            extra_ca: Some(path),
        } => match std::fs::read(path) {
            Ok(bytes) => TrustKey::Roots(Some((path.clone(), bytes))),
            // root_store names the file and why it cannot be read.
            Err(_) => return build_watched(trust),
        },
        Trust::Pinned(pin) => TrustKey::Pinned(*pin),
        Trust::Anything => TrustKey::Anything,
    };
    let key = (key, host.to_ascii_lowercase(), port);
    let cache = CACHE.get_or_init(Default::default);
    if let Some(found) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(found.clone());
    }
    let built = build_watched(trust)?;
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, built.clone());
    Ok(built)
}

fn build_watched(trust: &Trust) -> Result<(Arc<ClientConfig>, ServedCertificate), TlsError> {
    let provider = provider();
    let check = match trust {
        Trust::Roots { extra_ca } => {
            let extra = match extra_ca {
                Some(path) => ca_file_certificates(path)?,
                None => Vec::new(),
            };
            let named = extra.iter().map(|der| Fingerprint::of(der)).collect();
            let roots = Arc::new(roots_with(extra_ca.as_deref(), extra)?);
            let webpki = match WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
            {
                Ok(webpki) => Some(webpki),
                // No root at all (a bare container, no CA file): every certificate is unknown.
                Err(VerifierBuilderError::NoRootAnchors) => None,
                Err(e) => {
                    return Err(TlsError::Config {
                        detail: e.to_string(),
                    });
                }
            };
            Check::Roots { webpki, named }
        }
        Trust::Pinned(pin) => Check::Pinned(*pin),
        Trust::Anything => Check::Anything,
    };
    let served = ServedCertificate::default();
    let verifier = Watched {
        check,
        provider: provider.clone(),
        served: served.clone(),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config {
            detail: e.to_string(),
        })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok((Arc::new(config), served))
}

/// A failed handshake in words: why it failed, and what the server served, with the pin to
/// write once the operator has checked the fingerprint by another channel.
pub fn describe_failure(
    error: &std::io::Error,
    trust: &Trust,
    served: Option<&CertificateSummary>,
) -> String {
    let rustls_error = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let why = match rustls_error {
        Some(rustls::Error::InvalidCertificate(e)) => certificate_problem(e),
        Some(e) => sanitize(&e.to_string()),
        None => sanitize(&error.to_string()),
    };
    // Only a refused certificate is described: the one kept is the last refused here.
    let (Some(served), Some(rustls::Error::InvalidCertificate(_))) = (served, rustls_error) else {
        return why;
    };
    let advice = match trust {
        Trust::Pinned(pin) => format!(
            "the plan pins {pin}; if the server's certificate was replaced, check the new fingerprint by another channel before pinning it"
        ),
        Trust::Roots { .. } | Trust::Anything => format!(
            "if this is the server's own certificate (compare the fingerprint on the server: `openssl x509 -fingerprint -sha256 -noout -in cert.pem`), pin it in the plan's imap table: pin_sha256 = \"{}\"",
            served.fingerprint
        ),
    };
    format!("{why}; the server's certificate: {served}; {advice}")
}

/// The usual certificate refusals in plain words; the others as rustls says them.
fn certificate_problem(e: &CertificateError) -> String {
    match e {
        CertificateError::UnknownIssuer => {
            "the certificate is not signed by a CA this machine trusts (nor by `ca_file`), nor is it a certificate `ca_file` holds".into()
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the certificate has expired".into()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!(
                "the certificate is not valid for the server's name ({})",
                sanitize(&e.to_string())
            )
        }
        CertificateError::Other(other) if other.0.is::<PinMismatch>() => {
            "the certificate's SHA-256 fingerprint does not match pin_sha256".into()
        }
        // webpki's own error, shown by its variant name.
        CertificateError::Other(other) if other.0.to_string() == "CaUsedAsEndEntity" => {
            "the server's certificate is itself a CA certificate (as `openssl req -x509` makes them), which rustls refuses as a server's certificate unless `ca_file` holds exactly this certificate or it is pinned".into()
        }
        _ => format!("invalid certificate: {}", sanitize(&e.to_string())),
    }
}

/// A served certificate whose fingerprint is not the pinned one.
#[derive(Debug)]
struct PinMismatch;

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the certificate's SHA-256 fingerprint does not match pin_sha256")
    }
}

impl std::error::Error for PinMismatch {}

#[derive(Debug)]
enum Check {
    /// The certificates the CA file holds are trusted as if pinned (the operator named that
    /// very certificate); any other is checked by webpki against the roots (`None` when
    /// there is no root to check against).
    Roots {
        webpki: Option<Arc<WebPkiServerVerifier>>,
        named: Vec<Fingerprint>,
    },
    Pinned(Fingerprint),
    Anything,
}

/// Checks the certificate as [`Trust`] says and keeps a refused one in `served`. The handshake's
/// signatures are always verified against the certificate's key: a pin or `Anything` trusts
/// a certificate, never a peer that merely replays it.
#[derive(Debug)]
struct Watched {
    check: Check,
    provider: Arc<CryptoProvider>,
    served: ServedCertificate,
}

impl ServerCertVerifier for Watched {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = match &self.check {
            Check::Roots { named, .. } if named.contains(&Fingerprint::of(end_entity)) => {
                Ok(ServerCertVerified::assertion())
            }
            Check::Roots {
                webpki: Some(webpki),
                ..
            } => webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            Check::Roots { webpki: None, .. } => Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
            Check::Pinned(pin) if Fingerprint::of(end_entity) == *pin => {
                Ok(ServerCertVerified::assertion())
            }
            Check::Pinned(_) => Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(PinMismatch)),
            ))),
            Check::Anything => Ok(ServerCertVerified::assertion()),
        };
        if verdict.is_err() {
            self.served.keep(end_entity);
        }
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A certificate for mta-sts.example.com signed by "cutover test CA",
    /// notAfter 2126-11-05 04:24:07 UTC (the one tests/dns_mta_sts.rs serves).
    pub(crate) const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIB0zCCAXmgAwIBAgIUPE/96fMYNO/rKShS1Pc+eIspwLgwCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPY3V0b3ZlciB0ZXN0IENBMCAXDTI2MTEyOTA0MjQwN1oYDzIx
MjYxMTA1MDQyNDA3WjAeMRwwGgYDVQQDDBNtdGEtc3RzLmV4YW1wbGUuY29tMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEE7vVYAbXLHi+vBSPbMErlPZrlWMvkSuI
N1YC1O3RA5C31+5pkiYgonE9jvctk1KiZ/tQXQVAWATupZ9aj7vMpKOBljCBkzAe
BgNVHREEFzAVghNtdGEtc3RzLmV4YW1wbGUuY29tMAwGA1UdEwEB/wQCMAAwDgYD
VR0PAQH/BAQDAgeAMBMGA1UdJQQMMAoGCCsGAQUFBwMBMB0GA1UdDgQWBBQdCS5m
bgr+Rl66r7z0F0+JMSXtwTAfBgNVHSMEGDAWgBSc8bujPQ8bSDhFfOhdVlFNkIW0
QjAKBggqhkjOPQQDAgNIADBFAiEA2u6mOyQG5BZ0jmKQzSZli5aEGUIazfgQeMP2
W62SXAcCIF3MHmWYIfIw35nqFATHp5Sd8BxieBh+ffXsCYxagIYv
-----END CERTIFICATE-----";

    fn cert() -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(CERT.as_bytes()).expect("test certificate")
    }

    #[test]
    fn pins_are_read_in_every_spelling_openssl_and_people_use() {
        let colons = "0B:7C:2E:AD:95:46:46:1B:60:FC:2F:B7:E2:D3:D9:7A:3A:D9:5C:E5:1C:63:5A:4D:18:35:7E:FD:D8:2E:AD:7B";
        let pin = Fingerprint::parse(colons).expect("colon hex");
        assert_eq!(pin.to_string(), colons);
        let bare_lower = colons.replace(':', "").to_ascii_lowercase();
        assert_eq!(Fingerprint::parse(&bare_lower), Ok(pin));
        assert_eq!(
            Fingerprint::parse(&format!("sha256 Fingerprint={colons}")),
            Ok(pin)
        );
        for bad in [
            "",
            "AB:CD",
            &format!("{colons}:00"),
            &colons.replace('0', "G"),
        ] {
            let e = Fingerprint::parse(bad).expect_err(bad);
            assert!(
                matches!(e, TlsError::BadPin { .. }) && e.to_string().contains("64 hex digits"),
                "{e}"
            );
        }
    }

    #[test]
    fn a_summary_names_fingerprint_subject_and_expiry() {
        let der = cert();
        let summary = CertificateSummary::of(&der);
        assert_eq!(summary.fingerprint, Fingerprint::of(&der));
        assert_eq!(summary.subject.as_deref(), Some("CN=mta-sts.example.com"));
        let text = summary.to_string();
        assert!(
            text.ends_with(", subject CN=mta-sts.example.com, valid until 2126-11-05 04:24:07 UTC"),
            "{text}"
        );
        let junk = CertificateSummary::of(b"not a certificate");
        assert!(
            junk.to_string()
                .contains("not a readable X.509 certificate")
        );
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").expect("write");
        let e = tls_config(Some(&empty)).expect_err("empty");
        assert!(
            matches!(e, TlsError::CaFile { .. }) && e.to_string().contains("holds no certificate"),
            "{e}"
        );
        let e = tls_config(Some(&dir.path().join("missing.pem"))).expect_err("missing");
        assert!(e.to_string().contains("missing.pem"), "{e}");
        let e = watched_tls_config(
            &Trust::Roots {
                extra_ca: Some(empty),
            },
            "mail.old.example",
            993,
        )
        .expect_err("empty");
        assert!(matches!(e, TlsError::CaFile { .. }), "{e}");
    }

    /// Sessions resume only under the configuration that made them: one endpoint under one
    /// trust keeps its configuration; another trust, CA file content or endpoint gets its own.
    #[test]
    fn one_configuration_per_endpoint_and_trust_and_a_fixed_ca_file_is_read_afresh() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, CERT).expect("write");
        let roots = Trust::Roots {
            extra_ca: Some(ca.clone()),
        };
        let config = |trust: &Trust, host: &str, port: u16| {
            watched_tls_config(trust, host, port).expect("config").0
        };
        let first = config(&roots, "mail.old.example", 993);
        assert!(Arc::ptr_eq(
            &first,
            &config(&roots, "MAIL.old.example", 993)
        ));
        assert!(!Arc::ptr_eq(
            &first,
            &config(&roots, "mail.old.example", 994)
        ));
        assert!(!Arc::ptr_eq(
            &first,
            &config(&roots, "mail.new.example", 993)
        ));
        let pinned = Trust::Pinned(Fingerprint::of(&cert()));
        assert!(!Arc::ptr_eq(
            &first,
            &config(&pinned, "mail.old.example", 993)
        ));
        std::fs::write(&ca, format!("{CERT}\n{CERT}")).expect("rewrite");
        assert!(!Arc::ptr_eq(
            &first,
            &config(&roots, "mail.old.example", 993)
        ));
    }

    #[test]
    fn an_accepted_certificate_is_not_kept_as_refused() {
        let anything = verifier(Check::Anything);
        assert!(verify(&anything).is_ok());
        assert!(anything.served.summary().is_none());
    }

    fn verifier(check: Check) -> Watched {
        Watched {
            check,
            provider: provider(),
            served: ServedCertificate::default(),
        }
    }

    fn verify(v: &Watched) -> Result<ServerCertVerified, rustls::Error> {
        let name = ServerName::try_from("mail.old.example").expect("name");
        v.verify_server_cert(&cert(), &[], &name, &[], UnixTime::now())
    }

    #[test]
    fn a_pin_accepts_its_certificate_whatever_the_name_and_refuses_others() {
        let right = verifier(Check::Pinned(Fingerprint::of(&cert())));
        assert!(verify(&right).is_ok());
        let wrong = verifier(Check::Pinned(Fingerprint([7; 32])));
        let e = verify(&wrong).expect_err("wrong pin");
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let served = wrong.served.summary().expect("kept");
        let text = describe_failure(&io, &Trust::Pinned(Fingerprint([7; 32])), Some(&served));
        assert!(text.starts_with("the certificate's SHA-256 fingerprint does not match pin_sha256; the server's certificate: SHA-256 "), "{text}");
        assert!(
            text.contains(&Fingerprint::of(&cert()).to_string()),
            "{text}"
        );
    }

    /// The operator named this very certificate in `ca_file`: trusted as a pin would be,
    /// whatever its CA flags or names; a certificate the file does not hold goes to webpki.
    #[test]
    fn a_certificate_the_ca_file_holds_is_trusted_as_if_pinned() {
        let named = verifier(Check::Roots {
            webpki: None,
            named: vec![Fingerprint::of(&cert())],
        });
        assert!(verify(&named).is_ok());
        assert!(named.served.summary().is_none());
        let other = verifier(Check::Roots {
            webpki: None,
            named: vec![Fingerprint([7; 32])],
        });
        assert!(verify(&other).is_err());
        assert!(other.served.summary().is_some());
    }

    #[test]
    fn an_unknown_issuer_is_explained_with_the_pin_to_write() {
        let none = verifier(Check::Roots {
            webpki: None,
            named: Vec::new(),
        });
        let e = verify(&none).expect_err("no roots");
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let served = none.served.summary().expect("kept");
        let text = describe_failure(&io, &Trust::Roots { extra_ca: None }, Some(&served));
        assert!(
            text.starts_with("the certificate is not signed by a CA"),
            "{text}"
        );
        assert!(
            text.ends_with(&format!("pin_sha256 = \"{}\"", Fingerprint::of(&cert()))),
            "{text}"
        );
    }
}
