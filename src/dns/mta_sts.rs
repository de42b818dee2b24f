//! MTA-STS (RFC 8461): a published policy in `enforce` mode must list the new
//! MX hosts before they are added, or senders that honour it refuse to deliver.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::dns::mx::normalise_host;

/// The largest policy we read (RFC 8461 §3.3 limits policies to 64 KiB).
const MAX_POLICY_BYTES: usize = 64 * 1024;

/// Whether a TXT record at `_mta-sts.<domain>` announces a policy (`v=STSv1`).
pub(crate) fn is_sts_txt(txt: &str) -> bool {
    txt.trim_start().starts_with("v=STSv1")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Testing,
    None,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

/// A parsed policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// `mx:` patterns as written (`mail.example.com`, `*.example.net`).
    pub mx: Vec<String>,
    pub max_age: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum MtaStsError {
    #[error("the policy has no \"version: STSv1\" line")]
    NoVersion,
    #[error("the policy has no valid mode (enforce, testing, none)")]
    NoMode,
    #[error("fetching https://mta-sts.{domain}/.well-known/mta-sts.txt failed: {why}")]
    Fetch { domain: String, why: String },
}

pub(crate) fn parse_policy(text: &str) -> Result<Policy, MtaStsError> {
    let mut version = false;
    let mut mode = None;
    let mut mx = Vec::new();
    let mut max_age = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "version" => version = value == "STSv1",
            "mode" => {
                mode = match value {
                    "enforce" => Some(Mode::Enforce),
                    "testing" => Some(Mode::Testing),
                    "none" => Some(Mode::None),
                    _ => None,
                }
            }
            "mx" => mx.push(value.to_string()),
            "max_age" => max_age = value.parse().ok(),
            _ => {}
        }
    }
    if !version {
        return Err(MtaStsError::NoVersion);
    }
    Ok(Policy {
        mode: mode.ok_or(MtaStsError::NoMode)?,
        mx,
        max_age,
    })
}

/// Whether an `mx:` pattern matches a host (RFC 8461 §4.1: a leading `*.`
/// matches exactly one label).
pub(crate) fn pattern_matches(pattern: &str, host: &str) -> bool {
    let pattern = normalise_host(pattern);
    let host = normalise_host(host);
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == host,
    }
}

/// The hosts of `hosts` no `mx:` pattern of the policy covers.
pub fn uncovered<'a>(policy: &Policy, hosts: &'a [String]) -> Vec<&'a String> {
    hosts
        .iter()
        .filter(|h| !policy.mx.iter().any(|p| pattern_matches(p, h)))
        .collect()
}

/// The policy file to publish so that both old and new hosts are covered:
/// the current lines, with an `mx:` line per uncovered host added.
pub(crate) fn policy_to_publish(current: &Policy, uncovered_hosts: &[&String]) -> Vec<String> {
    let mut lines = vec![
        "version: STSv1".to_string(),
        format!("mode: {}", current.mode.as_str()),
    ];
    for mx in &current.mx {
        lines.push(format!("mx: {mx}"));
    }
    for host in uncovered_hosts {
        lines.push(format!("mx: {}", normalise_host(host)));
    }
    lines.push(format!("max_age: {}", current.max_age.unwrap_or(86400)));
    lines
}

/// Fetches `https://mta-sts.<domain>/.well-known/mta-sts.txt` (HTTP/1.1 GET over
/// rustls, `tls` usually from [`crate::tls::tls_config`]). `connect_to` overrides where to
/// connect (tests, rehearsal); the certificate is always checked against `mta-sts.<domain>`.
pub(crate) async fn fetch_policy(
    domain: &str,
    tls: Arc<rustls::ClientConfig>,
    connect_to: Option<SocketAddr>,
    timeout: Duration,
) -> Result<String, MtaStsError> {
    let host = format!("mta-sts.{}", domain.trim_end_matches('.'));
    let fail = |why: String| MtaStsError::Fetch {
        domain: domain.to_string(),
        why,
    };
    let work = async {
        let stream = match connect_to {
            Some(addr) => TcpStream::connect(addr).await,
            None => TcpStream::connect((host.as_str(), 443)).await,
        }
        .map_err(|e| fail(format!("cannot connect: {e}")))?;
        let server_name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|e| fail(format!("bad host name: {e}")))?;
        let mut tls_stream = tokio_rustls::TlsConnector::from(tls)
            .connect(server_name, stream)
            .await
            .map_err(|e| fail(format!("TLS: {e}")))?;
        let request = format!(
            "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {host}\r\nUser-Agent: cutover\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
        );
        tls_stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| fail(e.to_string()))?;
        let mut raw = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            match tls_stream.read(&mut chunk).await {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&chunk[..n]),
                // Servers often close without close_notify; what we have is the answer.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(fail(e.to_string())),
            }
            if raw.len() > MAX_POLICY_BYTES + 16 * 1024 {
                return Err(fail("the answer is larger than 64 KiB".to_string()));
            }
        }
        parse_http_response(&raw).map_err(|e| fail(e.to_string()))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| fail(format!("no answer within {} ms", timeout.as_millis())))?
}

/// Why a policy answer is not a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum HttpError {
    #[error("the answer is not HTTP")]
    NotHttp,
    /// Any status but 200, as the server wrote it (sanitised).
    #[error("the server answered \"{0}\"")]
    Status(String),
    #[error("a chunk is cut short")]
    ChunkCut,
    #[error("a chunk size is unreadable")]
    ChunkSize,
    #[error("a chunk is cut short or too large")]
    ChunkTooLarge,
}

/// The body of a `200` HTTP/1.1 response (plain or chunked).
fn parse_http_response(raw: &[u8]) -> Result<String, HttpError> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(HttpError::NotHttp)?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let body = &raw[split + 4..];
    let mut lines = head.lines();
    let status = lines.next().unwrap_or("");
    let code = status.split_whitespace().nth(1).unwrap_or("");
    if code != "200" {
        return Err(HttpError::Status(crate::sanitize::sanitize(status)));
    }
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, HttpError> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or(HttpError::ChunkCut)?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| HttpError::ChunkSize)?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size || out.len() + size > MAX_POLICY_BYTES {
            return Err(HttpError::ChunkTooLarge);
        }
        out.extend_from_slice(&body[..size]);
        body = body.get(size + 2..).unwrap_or(&[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = "version: STSv1\r\nmode: enforce\r\nmx: mx1.old.example\r\nmx: *.old.example\r\nmax_age: 604800\r\n";

    #[test]
    fn enforce_policy_without_new_host_lists_lines_to_publish() {
        let policy = parse_policy(POLICY).unwrap();
        assert_eq!(policy.mode, Mode::Enforce);
        let hosts = vec![
            "smtp.new.example.".to_string(),
            "mx2.old.example.".to_string(),
        ];
        let missing = uncovered(&policy, &hosts);
        assert_eq!(missing, vec![&hosts[0]]);
        assert_eq!(
            policy_to_publish(&policy, &missing),
            vec![
                "version: STSv1",
                "mode: enforce",
                "mx: mx1.old.example",
                "mx: *.old.example",
                "mx: smtp.new.example",
                "max_age: 604800"
            ]
        );
    }

    #[test]
    fn wildcards_match_one_label_only() {
        assert!(pattern_matches("*.example.com", "mx.example.com."));
        assert!(!pattern_matches("*.example.com", "a.b.example.com"));
        assert!(!pattern_matches("*.example.com", "example.com"));
        assert!(pattern_matches("MX.Example.com.", "mx.example.com"));
    }

    #[test]
    fn http_answers_are_read_plain_and_chunked() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nversion: STSv1\r\n";
        assert_eq!(parse_http_response(plain).unwrap(), "version: STSv1\r\n");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nversion\r\n9\r\n: STSv1\r\n\r\n0\r\n\r\n";
        assert_eq!(parse_http_response(chunked).unwrap(), "version: STSv1\r\n");
        assert!(parse_http_response(b"HTTP/1.1 404 Not Found\r\n\r\n").is_err());
    }

    proptest::proptest! {
        #[test]
        fn nothing_panics_on_any_input(text in "\\PC{0,300}", bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse_policy(&text);
            let _ = pattern_matches(&text, &text);
            let _ = parse_http_response(&bytes);
            let mut framed = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            framed.extend_from_slice(&bytes);
            let _ = parse_http_response(&framed);
        }
    }
}
