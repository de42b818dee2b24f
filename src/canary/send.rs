//! Sending a canary with lettre: through a submission server (STARTTLS or implicit TLS,
//! SMTP AUTH) or directly to an MX host on its port 25 (`MAIL FROM:<>`), and what the
//! server's reply means for the canary.

use std::path::Path;
use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncTransport, Tokio1Executor};

use crate::mail::{AuthMethod, Login};
use crate::plan::{SmtpAddress, Submission};
use crate::sanitize::sanitize;

/// What became of one attempt to send a canary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// The server took the message (its reply).
    Accepted { reply: String },
    /// The route cannot be tried from here: port 25 blocked, SMTP AUTH disabled, a 5.7.x
    /// policy refusal, a 4xx (greylisting). Not a failure of the server: a `warn`.
    CannotTry { reply: String, advice: String },
    /// The submission server refused the login (535, 534).
    LoginFailed { reply: String },
    /// No connection, or TLS failed.
    Unreachable { detail: String },
    /// A permanent refusal of the message itself (an unknown recipient…).
    Refused { reply: String },
}

/// Submits `raw` from `from` to `to` through `submission`, logged in as `login`.
pub async fn submit(
    submission: &Submission,
    ca_file: Option<&Path>,
    login: &Login,
    from: &str,
    to: &str,
    raw: &[u8],
    timeout: Duration,
) -> Sent {
    let mechanisms = match &login.method {
        AuthMethod::XOAuth2 => vec![Mechanism::Xoauth2],
        AuthMethod::Password | AuthMethod::Plain | AuthMethod::Login => {
            vec![Mechanism::Plain, Mechanism::Login]
        }
        AuthMethod::Authzid { .. } | AuthMethod::Master { .. } => {
            return Sent::CannotTry {
                reply: String::new(),
                advice: format!(
                    "{} logs in through an administrator, which SMTP submission does not take: give it its own password in the secrets file",
                    login.user
                ),
            };
        }
    };
    let params = match tls_parameters(&submission.host, ca_file) {
        Ok(p) => p,
        Err(detail) => return Sent::Unreachable { detail },
    };
    let tls = if submission.implicit_tls {
        Tls::Wrapper(params)
    } else {
        Tls::Required(params)
    };
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&submission.host)
        .port(submission.port)
        .tls(tls)
        .hello_name(hello_name())
        .credentials(Credentials::new(
            login.user.clone(),
            login.secret.expose().to_string(),
        ))
        .authentication(mechanisms)
        .timeout(Some(timeout))
        .build();
    let envelope = match envelope(Some(from), to) {
        Ok(e) => e,
        Err(detail) => return Sent::Refused { reply: detail },
    };
    let outcome = transport.send_raw(&envelope, raw).await;
    judge(outcome, Via::Submission)
}

/// Sends `raw` straight to an MX host (`MAIL FROM:<>`, as a bounce would), TLS when
/// offered, the certificate checked for the MX host's name.
pub async fn direct(
    mx_host: &str,
    address: &SmtpAddress,
    ca_file: Option<&Path>,
    to: &str,
    raw: &[u8],
    timeout: Duration,
) -> Sent {
    let params = match tls_parameters(mx_host.trim_end_matches('.'), ca_file) {
        Ok(p) => p,
        Err(detail) => return Sent::Unreachable { detail },
    };
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&address.host)
        .port(address.port)
        .tls(Tls::Opportunistic(params))
        .hello_name(hello_name())
        .timeout(Some(timeout))
        .build();
    let envelope = match envelope(None, to) {
        Ok(e) => e,
        Err(detail) => return Sent::Refused { reply: detail },
    };
    let outcome = transport.send_raw(&envelope, raw).await;
    judge(outcome, Via::Port25)
}

/// The name we greet with: the jump host's own name (a bare `localhost` is refused by
/// some receivers).
fn hello_name() -> ClientId {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_string();
    if name.contains('.') && crate::syntax::domain::is_domain(&name) {
        ClientId::Domain(name)
    } else {
        ClientId::default()
    }
}

fn envelope(from: Option<&str>, to: &str) -> Result<Envelope, String> {
    let parse = |a: &str| {
        a.parse::<Address>()
            .map_err(|e| format!("{}: {e}", sanitize(a)))
    };
    let from = from.map(parse).transpose()?;
    Envelope::new(from, vec![parse(to)?]).map_err(|e| e.to_string())
}

/// The system's roots and the plan's CA file, for certificates of `domain`.
fn tls_parameters(domain: &str, ca_file: Option<&Path>) -> Result<TlsParameters, String> {
    let mut builder = TlsParameters::builder(domain.to_string());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("CA file {}: {e}", path.display()))?;
        let cert =
            Certificate::from_pem(&pem).map_err(|e| format!("CA file {}: {e}", path.display()))?;
        builder = builder.add_root_certificate(cert);
    }
    builder
        .build_rustls()
        .map_err(|e| format!("TLS set-up: {e}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Submission,
    Port25,
}

/// What a send's result means for the canary.
fn judge(
    outcome: Result<lettre::transport::smtp::response::Response, lettre::transport::smtp::Error>,
    via: Via,
) -> Sent {
    let e = match outcome {
        Ok(response) => {
            let text: Vec<&str> = response.message().collect();
            return Sent::Accepted {
                reply: sanitize(&format!("{} {}", response.code(), text.join(" "))),
            };
        }
        Err(e) => e,
    };
    let reply = reply_text(&e);
    if let Some(code) = e.status() {
        let code = code.to_string();
        let class_57 = reply.contains(" 5.7.") || reply.starts_with("5.7.");
        if e.is_transient() {
            return Sent::CannotTry {
                advice: "a temporary refusal (greylisting or a rate limit): send the canary again in a few minutes".to_string(),
                reply,
            };
        }
        if reply.contains("5.7.139") {
            return Sent::CannotTry {
                advice: "Microsoft 365 refuses SMTP AUTH for this mailbox (5.7.139): enable Authenticated SMTP for the canary mailbox in the admin centre (and, with XOAUTH2, use a token with the SMTP.Send scope)".to_string(),
                reply,
            };
        }
        if code == "535" || code == "534" {
            return Sent::LoginFailed { reply };
        }
        if class_57 || code == "530" {
            return Sent::CannotTry {
                advice: "the server refuses by policy (5.7.x): check that this sender may send here, or that the recipient accepts outside mail".to_string(),
                reply,
            };
        }
        return Sent::Refused { reply };
    }
    let text = sanitize(&e.to_string());
    if text.contains("No compatible authentication mechanism") {
        return Sent::CannotTry {
            reply: text,
            advice: "the submission server offers no SMTP AUTH we can use (disabled, or only after STARTTLS): enable SMTP AUTH for the mailbox, or give another submission URL".to_string(),
        };
    }
    if e.is_tls() {
        return Sent::Unreachable {
            detail: format!("TLS failed: {text}"),
        };
    }
    match via {
        // Providers block outbound port 25 (AWS, GCP, Azure): a jump host cannot tell.
        Via::Port25 => Sent::CannotTry {
            reply: text,
            advice: "no SMTP session on port 25 from this jump host (outbound port 25 is often blocked by cloud providers): run the direct canary from a host that may send on port 25".to_string(),
        },
        Via::Submission => Sent::Unreachable { detail: text },
    }
}

/// The server's reply as "CODE text", from lettre's error (`permanent error (550): …`).
fn reply_text(e: &lettre::transport::smtp::Error) -> String {
    let text = e.to_string();
    match (e.status(), text.split_once("): ")) {
        (Some(code), Some((_, rest))) => sanitize(&format!("{code} {rest}")),
        (Some(code), None) => code.to_string(),
        (None, _) => sanitize(&text),
    }
}
