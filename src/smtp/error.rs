//! What can go wrong asking an MX host, said so an operator can act on it.

/// An SMTP probe error. Every text field is already sanitised (it may hold server text).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SmtpError {
    /// The trust anchors (the system's, or an extra CA file) could not be set up.
    #[error(transparent)]
    Trust(crate::tls::TlsError),
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
}
