//! What can go wrong asking an MX host, said so an operator can act on it.

/// An SMTP probe error. Every text field is already sanitised (it may hold server text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SmtpError {
    /// The extra trust anchor (a CA file for tests or a private CA) could not be used.
    #[error("CA file {path}: {detail}")]
    CaFile { path: String, detail: String },
    /// rustls refused to build a client configuration.
    #[error("TLS configuration: {detail}")]
    TlsConfig { detail: String },
    /// No TCP connection (refused, unroutable, no such name, or no answer in time).
    #[error("cannot connect to {target}: {detail}")]
    Connect { target: String, detail: String },
    /// The server did not answer in time.
    #[error("{during}: no answer within {seconds} s")]
    Timeout { during: String, seconds: u64 },
    /// The server closed the connection.
    #[error("{during}: the server closed the connection")]
    Closed { during: String },
    /// Reading or writing failed.
    #[error("{during}: {detail}")]
    Io { during: String, detail: String },
    /// The answer is not an SMTP reply (or one too long to be one).
    #[error("{during}: the answer is not SMTP: {line}")]
    NotSmtp { during: String, line: String },
    /// The TLS handshake or the certificate verification failed.
    #[error("TLS: {detail}")]
    Tls { detail: String },
}

impl SmtpError {
    /// Whether no TCP connection could be opened (port 25 is often blocked outbound).
    pub fn is_connect(&self) -> bool {
        matches!(self, SmtpError::Connect { .. })
    }
}
