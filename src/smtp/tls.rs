//! TLS for the probe: the crate's one client configuration, and the days left on a certificate.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;

use crate::smtp::error::SmtpError;

/// The crate's one client configuration (`crate::tls`): the system's roots
/// plus, when given, the certificates of `extra_ca_file` (PEM).
pub fn tls_config(extra_ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, SmtpError> {
    crate::tls::tls_config(extra_ca_file).map_err(SmtpError::Trust)
}

/// Whole days from `now` until the certificate's notAfter (negative once expired);
/// `None` when the certificate cannot be parsed.
pub(crate) fn days_left(cert: &CertificateDer<'_>, now: jiff::Timestamp) -> Option<i64> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(cert.as_ref()).ok()?;
    let not_after = cert
        .tbs_certificate()
        .validity()
        .not_after
        .to_unix_duration()
        .as_secs();
    let not_after = i64::try_from(not_after).ok()?;
    Some((not_after - now.as_second()).div_euclid(86_400))
}

#[cfg(test)]
mod tests {
    use super::*;
    // The MTA-STS test certificate, notAfter 2126-11-05 04:24:07 UTC.
    use crate::tls::tests::CERT;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn days_left_count_whole_days_to_not_after() {
        let cert = CertificateDer::from_pem_slice(CERT.as_bytes()).expect("pem");
        let not_after: jiff::Timestamp = "2126-11-05T04:24:07Z".parse().expect("time");
        let day = jiff::SignedDuration::from_hours(24);
        assert_eq!(days_left(&cert, not_after - day * 30), Some(30));
        assert_eq!(
            days_left(
                &cert,
                not_after - day * 30 + jiff::SignedDuration::from_secs(1)
            ),
            Some(29)
        );
        assert_eq!(days_left(&cert, not_after + day), Some(-1));
        assert_eq!(
            days_left(&CertificateDer::from(vec![1u8, 2, 3]), not_after),
            None
        );
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_named() {
        let dir = std::env::temp_dir().join(format!("cutover-smtp-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").expect("write");
        let e = tls_config(Some(&empty)).expect_err("empty");
        assert!(e.to_string().contains("holds no certificate"), "{e}");
        let e = tls_config(Some(&dir.join("missing.pem"))).expect_err("missing");
        assert!(e.to_string().contains("missing.pem"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
