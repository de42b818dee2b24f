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

    pub(crate) fn is_throttled(&self) -> bool {
        matches!(self, MailError::Throttled { .. })
    }

    /// Whether trying again later may help (a cut connection, a timeout, throttling).
    pub(crate) fn is_transient(&self) -> bool {
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
        let detail = server_text(err);
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

/// What an IMAP error says, in words: for a NO or BAD answer, the server's own text
/// (`[AUTHENTICATIONFAILED] Authentication failed.`), never the library's debug text.
/// Sanitised (the server's text is untrusted).
pub(crate) fn server_text(err: &async_imap::error::Error) -> String {
    use async_imap::error::{Error, ParseError};
    let text = match err {
        // async-imap keeps only `format!("code: {code:?}, info: {information:?}")` (or the
        // whole outcome's Debug) of the answer; the server's words are read back out of it.
        Error::No(debug) | Error::Bad(debug) => {
            reply_from_debug(debug).unwrap_or_else(|| debug.clone())
        }
        Error::Io(e) => format!("connection error: {e}"),
        Error::ConnectionLost => "the server closed the connection".to_string(),
        Error::Parse(ParseError::Invalid(raw)) => format!(
            "unreadable answer: {}",
            String::from_utf8_lossy(raw).trim_end()
        ),
        Error::Parse(ParseError::Unexpected(_)) => "an unexpected answer".to_string(),
        Error::Parse(ParseError::Authentication(..)) => {
            "an unreadable authentication challenge".to_string()
        }
        Error::Parse(ParseError::DataNotUtf8(..)) => "an answer that is not UTF-8".to_string(),
        Error::Parse(ParseError::ExpectedResponseNotFound(what)) => {
            format!("no answer to {what}")
        }
        Error::Validate(_) => {
            "a command argument holds a line break or another character IMAP cannot carry"
                .to_string()
        }
        Error::Append => "the server refused the message".to_string(),
        other => other.to_string(),
    };
    sanitize(&text)
}

/// An answer's text as the server wrote it: `[CODE] words`, or either alone. Sanitised.
pub(crate) fn outcome_text(
    code: Option<&async_imap::imap_proto::ResponseCode<'_>>,
    information: Option<&str>,
) -> String {
    // One table of code names: the variant's name, which is also all async-imap keeps.
    let code = code.map(|c| code_atom(&format!("{c:?}")));
    sanitize(&join_reply(code.as_deref(), information))
}

fn join_reply(code: Option<&str>, information: Option<&str>) -> String {
    match (code, information.map(str::trim).filter(|i| !i.is_empty())) {
        (Some(code), Some(info)) => format!("[{code}] {info}"),
        (Some(code), None) => format!("[{code}]"),
        (None, Some(info)) => info.to_string(),
        (None, None) => "(the server gave no text)".to_string(),
    }
}

/// Reads `code: Some(Alert), info: Some("…")` (or an `Outcome { code: …, information: … }`)
/// back into `[ALERT] …`; `None` when the text has another shape.
fn reply_from_debug(debug: &str) -> Option<String> {
    let code_at = debug.find("code: ")? + "code: ".len();
    let info_key = code_at + debug[code_at..].find(", info")?;
    let code = &debug[code_at..info_key];
    let (_, value) = debug[info_key..].split_once(": ")?;
    let information = match value.strip_prefix("Some(") {
        Some(quoted) => Some(unquote_debug(quoted)?),
        None if value.starts_with("None") => None,
        None => return None,
    };
    let code = match code.strip_prefix("Some(") {
        Some(variant) => Some(code_atom(variant)),
        None if code == "None" => None,
        None => return None,
    };
    Some(join_reply(code.as_deref(), information.as_deref()))
}

/// The string at the start of `quoted` as Rust's Debug writes it (`"a \"b\""` → `a "b"`).
fn unquote_debug(quoted: &str) -> Option<String> {
    let mut chars = quoted.strip_prefix('"')?.chars();
    let mut out = String::new();
    loop {
        match chars.next()? {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                '0' => out.push('\0'),
                'u' => {
                    let rest: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    let hex = rest.strip_prefix('{')?;
                    out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
}

/// The IMAP spelling of a response code from its variant name (`TryCreate(…)` → `TRYCREATE`).
fn code_atom(variant: &str) -> String {
    let name: String = variant
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    match name.as_str() {
        "ReadOnly" => "READ-ONLY".to_string(),
        "ReadWrite" => "READ-WRITE".to_string(),
        "Capabilities" => "CAPABILITY".to_string(),
        "MetadataLongEntries" => "METADATA LONGENTRIES".to_string(),
        "MetadataMaxSize" => "METADATA MAXSIZE".to_string(),
        "MetadataTooMany" => "METADATA TOOMANY".to_string(),
        "MetadataNoPrivate" => "METADATA NOPRIVATE".to_string(),
        _ => name.to_ascii_uppercase(),
    }
}

/// Throttling answers of the big providers and of RFC 5530.
pub(crate) fn is_throttling_text(text: &str) -> bool {
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
    fn server_replies_are_shown_as_the_server_wrote_them() {
        use async_imap::error::Error;
        let no = Error::No(
            "code: None, info: Some(\"[AUTHENTICATIONFAILED] Authentication failed.\")".into(),
        );
        assert_eq!(
            server_text(&no),
            "[AUTHENTICATIONFAILED] Authentication failed."
        );
        let bad = Error::Bad(
            "code: Some(TryCreate), info: Some(\"Mailbox \\\"X\\\" doesn't exist\")".into(),
        );
        assert_eq!(server_text(&bad), "[TRYCREATE] Mailbox \"X\" doesn't exist");
        let outcome =
            Error::No("outcome: Outcome { code: Some(ReadOnly), information: None }".into());
        assert_eq!(server_text(&outcome), "[READ-ONLY]");
        // Control characters from the server never reach a screen.
        let sneaky = Error::No("code: None, info: Some(\"a\\u{1b}[2Jb\\r\\nc\")".into());
        let shown = server_text(&sneaky);
        assert!(
            !shown.contains('\u{1b}') && !shown.contains('\n'),
            "{shown:?}"
        );
        assert!(shown.starts_with('a') && shown.ends_with('c'), "{shown:?}");
        // Another shape is kept as it came rather than lost.
        assert_eq!(server_text(&Error::No("odd".into())), "odd");
        assert_eq!(
            server_text(&Error::ConnectionLost),
            "the server closed the connection"
        );
        assert_eq!(outcome_text(None, None), "(the server gave no text)");
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
