//! What can go wrong talking to a mail server, said so an operator can act on it.

use std::fmt;

use crate::plan::WhichSide;
use crate::sanitize::sanitize;

/// Which mailbox on which server an error is about. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub mailbox: String,
    pub side: WhichSide,
    /// The server as the plan names it (`imaps://host:port`).
    pub server: String,
}

impl Place {
    pub fn new(mailbox: &str, side: WhichSide, server: &str) -> Place {
        Place {
            mailbox: mailbox.to_string(),
            side,
            server: server.to_string(),
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on the {} server ({})",
            self.mailbox,
            self.side.as_str(),
            self.server
        )
    }
}

/// A mail error. `detail` is server or system text, already sanitised, never a password.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// TCP connect failed or timed out, or the server said BYE at once.
    #[error("{place}: unreachable: {detail}")]
    Unreachable { place: Place, detail: String },
    /// TLS handshake or certificate verification failed, or STARTTLS is not offered.
    #[error("{place}: TLS failed: {detail}")]
    Tls { place: Place, detail: String },
    /// The server refused the credentials.
    #[error("{place}: login refused for {login}: {detail}")]
    Auth {
        place: Place,
        login: String,
        detail: String,
    },
    /// The server asks us to slow down (`[THROTTLED]`, `[LIMIT]`, bandwidth limits).
    #[error("{place}: throttled by the server: {detail}")]
    Throttled { place: Place, detail: String },
    /// The server took too long to answer.
    #[error("{place}: no answer within {seconds} s during {during}")]
    Timeout {
        place: Place,
        during: String,
        seconds: u64,
    },
    /// Credentials could not be obtained (secrets file, password or token command).
    #[error("{place}: credentials: {detail}")]
    Credentials { place: Place, detail: String },
    /// A command failed or the connection broke after login.
    #[error("{place}: {during} failed: {detail}")]
    Protocol {
        place: Place,
        during: String,
        detail: String,
    },
}

impl MailError {
    pub fn place(&self) -> &Place {
        match self {
            MailError::Unreachable { place, .. }
            | MailError::Tls { place, .. }
            | MailError::Auth { place, .. }
            | MailError::Throttled { place, .. }
            | MailError::Timeout { place, .. }
            | MailError::Credentials { place, .. }
            | MailError::Protocol { place, .. } => place,
        }
    }

    pub fn is_auth(&self) -> bool {
        matches!(self, MailError::Auth { .. } | MailError::Credentials { .. })
    }

    pub fn is_unreachable(&self) -> bool {
        matches!(self, MailError::Unreachable { .. })
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, MailError::Tls { .. })
    }

    pub fn is_throttled(&self) -> bool {
        matches!(self, MailError::Throttled { .. })
    }

    /// Whether trying again later may help (a cut connection, a timeout, throttling).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            MailError::Throttled { .. } | MailError::Timeout { .. } | MailError::Protocol { .. }
        )
    }

    /// The error from an IMAP command, classified: throttling answers become
    /// `Throttled`, everything else `Protocol`.
    pub(crate) fn from_imap(
        place: &Place,
        during: &str,
        err: &async_imap::error::Error,
    ) -> MailError {
        let detail = sanitize(&err.to_string());
        if is_throttling_text(&detail) {
            MailError::Throttled {
                place: place.clone(),
                detail,
            }
        } else {
            MailError::Protocol {
                place: place.clone(),
                during: during.to_string(),
                detail,
            }
        }
    }
}

/// Throttling answers of the big providers and of RFC 5530.
pub fn is_throttling_text(text: &str) -> bool {
    let upper = text.to_ascii_uppercase();
    upper.contains("THROTTLED")
        || upper.contains("[LIMIT]")
        || upper.contains("LIMIT\"")
        || upper.contains("BANDWIDTH")
        || upper.contains("TOO MANY SIMULTANEOUS")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_answers_are_recognised() {
        assert!(is_throttling_text(
            "no response: code: None, info: Some(\"[THROTTLED] slow down\")"
        ));
        assert!(is_throttling_text("NO [LIMIT] too many"));
        assert!(is_throttling_text(
            "Request is throttled. Suggested Backoff Time: 3000 milliseconds"
        ));
        assert!(is_throttling_text(
            "[ALERT] Account exceeded command or bandwidth limits. (Failure)"
        ));
        assert!(!is_throttling_text(
            "[AUTHENTICATIONFAILED] Authentication failed."
        ));
    }

    #[test]
    fn error_names_mailbox_side_and_server() {
        let e = MailError::Auth {
            place: Place::new("alice@example.com", WhichSide::New, "imaps://mail.new:993"),
            login: "alice".into(),
            detail: "[AUTHENTICATIONFAILED]".into(),
        };
        let text = e.to_string();
        assert!(text.contains("alice@example.com on the new server (imaps://mail.new:993)"));
        assert!(e.is_auth() && !e.is_unreachable());
    }
}
