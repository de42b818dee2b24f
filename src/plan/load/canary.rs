//! `[canary]` (the plan mailbox canaries go to, the external mailbox that sends and reads
//! them, the From of direct canaries) and `[new] submission`.

use super::*;

const CANARY_KEYS: &[&str] = &["mailbox", "external", "direct_from"];
const EXTERNAL_KEYS: &[&str] = &[
    "preset",
    "address",
    "imap",
    "submission",
    "login",
    "auth",
    "authserv_id",
    "received_by",
];
const SUBMISSION_KEYS: &[&str] = &["url", "ca_file"];

impl<'s> Loader<'s> {
    /// `[canary]`: `Some(None)` when absent, `None` when it is wrong (errors written).
    pub(super) fn canary(
        &mut self,
        top: &DeTable<'s>,
        domain: Option<&str>,
        mailboxes: Option<&[Mailbox]>,
        new: Option<&Side>,
    ) -> Option<Option<CanaryPlan>> {
        let Some((t, span)) = self.table(top, "canary", "") else {
            return Self::value(top, "canary").is_none().then_some(None);
        };
        self.check_keys(t, CANARY_KEYS, "canary");
        let mut ok = true;
        let mailbox = match self.string(t, "mailbox", "canary") {
            Some((address, at)) => {
                let address = address.trim().to_ascii_lowercase();
                let listed = mailboxes
                    .is_none_or(|all| all.iter().any(|m| m.address.eq_ignore_ascii_case(&address)));
                if !listed {
                    ok = false;
                    self.error(
                        &at,
                        format!(
                            "`{}` is not one of the plan's mailboxes",
                            crate::sanitize::sanitize(&address)
                        ),
                        "add a [[mailbox]] for a dedicated mailbox (e.g. cutover-canary@ your domain) on both servers, never a person's: it receives a canary every hour",
                    );
                }
                Some(address)
            }
            None => {
                ok = false;
                if Self::value(t, "mailbox").is_none() {
                    self.error(
                        &span,
                        "`mailbox` is missing in [canary]",
                        "add `mailbox = \"cutover-canary@example.com\"`, a dedicated plan mailbox",
                    );
                }
                None
            }
        };
        let external = match Self::value(t, "external") {
            Some(v) => match v.get_ref().as_table() {
                Some(e) => self.external(e, &v.span(), domain),
                None => {
                    self.error(
                        &v.span(),
                        "`canary.external` must be a table",
                        "write `external = { preset = \"gmail\", address = \"someone@gmail.com\" }`",
                    );
                    None
                }
            },
            None => {
                self.error(
                    &span,
                    "`external` is missing in [canary]",
                    "add `external = { preset = \"gmail\", address = \"someone@gmail.com\" }`: a mailbox at another provider that cutover sends from and reads",
                );
                None
            }
        };
        let direct_from = match self.string(t, "direct_from", "canary") {
            Some((from, at)) => {
                let from = from.trim().to_ascii_lowercase();
                if !is_address(&from) {
                    ok = false;
                    self.error(
                        &at,
                        format!(
                            "`{}` is not an email address",
                            crate::sanitize::sanitize(&from)
                        ),
                        "write `direct_from = \"canary@another-domain.example\"`",
                    );
                } else if let Some(domain) = domain
                    && under_domain(&from, domain)
                {
                    self.warn(
                        &at,
                        format!(
                            "direct canaries from {from} are judged by {domain}'s own SPF and DMARC, which the migration changes"
                        ),
                        "leave `direct_from` out (the external mailbox's address) or use an address at another domain",
                    );
                }
                Some(from)
            }
            None => None,
        };
        if new.is_some_and(|n| n.submission.is_none()) {
            self.warn(
                &span,
                "[new] has no `submission`: the outbound canary (domain → world) cannot be sent",
                "add `submission = \"smtp://smtp.example.net:587\"` to [new] (the provider presets fill it)",
            );
        }
        if !ok {
            return None;
        }
        let external = external?;
        Some(Some(CanaryPlan {
            mailbox: mailbox?,
            direct_from: direct_from.unwrap_or_else(|| external.address.clone()),
            external,
        }))
    }

    /// `external = { preset, address, imap, submission, login, auth, authserv_id, received_by }`.
    fn external(
        &mut self,
        t: &DeTable<'s>,
        span: &Range<usize>,
        domain: Option<&str>,
    ) -> Option<ExternalMailbox> {
        const SECTION: &str = "canary.external";
        self.check_keys(t, EXTERNAL_KEYS, SECTION);
        let mut ok = true;
        let preset = match self.string(t, "preset", SECTION) {
            Some((id, at)) => match crate::plan::init::external_preset(&id) {
                Ok(p) => Some(p),
                Err(e) => {
                    self.error(
                        &at,
                        e.to_string(),
                        "leave `preset` out and write `imap`, `submission` and `auth` yourself",
                    );
                    return None;
                }
            },
            None => None,
        };
        let address = match self.string(t, "address", SECTION) {
            Some((a, at)) => {
                let a = a.trim().to_ascii_lowercase();
                if !is_address(&a) {
                    ok = false;
                    self.error(
                        &at,
                        format!(
                            "`{}` is not an email address",
                            crate::sanitize::sanitize(&a)
                        ),
                        "write `address = \"someone@gmail.com\"`",
                    );
                } else if let Some(domain) = domain
                    && under_domain(&a, domain)
                {
                    ok = false;
                    self.error(
                        &at,
                        format!("{a} is under the migrated domain {domain}: it cannot stand for the outside world"),
                        "use a mailbox at another provider, on another domain",
                    );
                }
                Some(a)
            }
            None => {
                ok = false;
                if Self::value(t, "address").is_none() {
                    self.error(
                        span,
                        "`address` is missing in `canary.external`",
                        "add `address = \"someone@gmail.com\"`",
                    );
                }
                None
            }
        };
        let imap = match (Self::value(t, "imap"), &preset) {
            (Some(v), _) => self.imap(v, SECTION),
            (None, Some(p)) => {
                let url = p.imap.clone();
                let (_, host, port) = sections::parse_imap_url(&url)?;
                Some(ImapEndpoint {
                    url,
                    host,
                    port,
                    security: Security::Implicit,
                    ca_file: None,
                    insecure_skip_verify: false,
                    pin_sha256: None,
                })
            }
            (None, None) => {
                self.error(
                    span,
                    "`imap` is missing in `canary.external`",
                    "add `imap = \"imaps://imap.example.net:993\"`, or `preset = \"gmail\"` (gmail, outlook, fastmail)",
                );
                None
            }
        };
        let submission = match (Self::value(t, "submission"), &preset) {
            (Some(v), _) => self.submission(v, SECTION),
            (None, Some(p)) => {
                parse_submission_url(&p.submission).map(|(host, port, implicit_tls)| Submission {
                    url: p.submission.clone(),
                    host,
                    port,
                    implicit_tls,
                    ca_file: None,
                })
            }
            (None, None) => {
                self.error(
                    span,
                    "`submission` is missing in `canary.external`",
                    "add `submission = \"smtp://smtp.example.net:587\"` (STARTTLS) or `\"smtps://smtp.example.net:465\"`",
                );
                None
            }
        };
        let auth = match self.string(t, "auth", SECTION) {
            Some((a, at)) => match a.as_str() {
                "password" => Some(ExternalAuth::Password),
                "xoauth2" => Some(ExternalAuth::XOAuth2),
                other => {
                    self.error(
                        &at,
                        format!("`auth = \"{}\"` is not a way to log in", crate::sanitize::sanitize(other)),
                        "write `auth = \"password\"` (or an app password) or `auth = \"xoauth2\"` (a token from token_command)",
                    );
                    None
                }
            },
            None => Some(match &preset {
                Some(p) if p.auth == crate::plan::init::Auth::Xoauth2 => ExternalAuth::XOAuth2,
                _ => ExternalAuth::Password,
            }),
        };
        let login = self
            .string(t, "login", SECTION)
            .map(|(l, _)| l.trim().to_string());
        let authserv_id = self
            .string(t, "authserv_id", SECTION)
            .map(|(a, _)| a)
            .or_else(|| preset.as_ref().and_then(|p| p.authserv_id.clone()));
        let received_by = match self.strings(t, "received_by", SECTION) {
            Some(hosts) => hosts
                .into_iter()
                .map(|(h, _)| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            None => preset
                .as_ref()
                .map(|p| p.received_by.clone())
                .filter(|hosts| !hosts.is_empty())
                .or_else(|| authserv_id.clone().map(|a| vec![a]))
                .unwrap_or_default(),
        };
        if !ok {
            return None;
        }
        let address = address?;
        Some(ExternalMailbox {
            login: login.unwrap_or_else(|| address.clone()),
            address,
            imap: imap?,
            submission: submission?,
            auth: auth?,
            authserv_id,
            received_by,
        })
    }

    /// `[new] submission` (only there): where the canary mailbox submits.
    pub(super) fn new_submission(
        &mut self,
        t: &DeTable<'s>,
        which: &str,
        ok: &mut bool,
    ) -> Option<Submission> {
        let v = Self::value(t, "submission")?;
        if which != "new" {
            *ok = false;
            self.error(
                &v.span(),
                format!("`submission` is read only in [new], not in [{which}]"),
                "move it to [new]: the outbound canary is sent through the new server",
            );
            return None;
        }
        let submission = self.submission(v, which);
        if submission.is_none() {
            *ok = false;
        }
        submission
    }

    /// A submission server: `"smtp://host:587"`, `"smtps://host:465"`, or
    /// `{ url = "…", ca_file = "…" }`.
    fn submission(&mut self, v: &Value<'s>, section: &str) -> Option<Submission> {
        let section = format!("{section}.submission");
        let (url, at, ca_file) = match v.get_ref() {
            DeValue::String(s) => (s.to_string(), v.span(), None),
            DeValue::Table(t) => {
                self.check_keys(t, SUBMISSION_KEYS, &section);
                let Some((url, at)) = self.string(t, "url", &section) else {
                    if Self::value(t, "url").is_none() {
                        self.error(
                            &v.span(),
                            format!("`url` is missing in `{section}`"),
                            "write `submission = { url = \"smtp://smtp.example.net:587\" }`",
                        );
                    }
                    return None;
                };
                let ca = self
                    .string(t, "ca_file", &section)
                    .map(|(p, span)| (self.resolve(&p), span));
                if let Some((path, span)) = &ca
                    && !path.is_file()
                {
                    self.error(
                        span,
                        format!("the CA file {} does not exist", path.display()),
                        "name a PEM file, relative to the plan file",
                    );
                    return None;
                }
                (url, at, ca.map(|(p, _)| p))
            }
            _ => {
                self.error(
                    &v.span(),
                    format!("`{section}` must be a URL string or a table"),
                    "write `submission = \"smtp://smtp.example.net:587\"`",
                );
                return None;
            }
        };
        match parse_submission_url(&url) {
            Some((host, port, implicit_tls)) => Some(Submission {
                url,
                host,
                port,
                implicit_tls,
                ca_file,
            }),
            None => {
                self.error(
                    &at,
                    format!("`{}` is not a submission URL", crate::sanitize::sanitize(&url)),
                    "write `smtp://host:587` (STARTTLS) or `smtps://host:465` (TLS); never put a password in it",
                );
                None
            }
        }
    }
}

/// `smtp://host[:587]` (STARTTLS) or `smtps://host[:465]`: host, port, implicit TLS.
pub(super) fn parse_submission_url(url: &str) -> Option<(String, u16, bool)> {
    let (scheme, rest) = url.split_once("://")?;
    let implicit = match scheme.to_ascii_lowercase().as_str() {
        "smtp" | "submission" => false,
        "smtps" => true,
        _ => return None,
    };
    let as_imap = format!("{}://{}", if implicit { "imaps" } else { "imap" }, rest);
    let (_, host, port) = sections::parse_imap_url(&as_imap)?;
    let port = if rest.trim_end_matches('/').contains(':') && !rest.starts_with('[')
        || rest.contains("]:")
    {
        port
    } else if implicit {
        465
    } else {
        587
    };
    Some((host, port, implicit))
}

/// `local@domain` with a domain name after the `@`.
fn is_address(text: &str) -> bool {
    match text.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !local.contains(char::is_whitespace)
                && crate::syntax::domain::is_domain(domain)
        }
        None => false,
    }
}

/// Whether the address's domain is `domain` or one of its subdomains.
fn under_domain(address: &str, domain: &str) -> bool {
    let at = address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    at.eq_ignore_ascii_case(domain) || at.to_ascii_lowercase().ends_with(&format!(".{domain}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submission_urls_default_their_ports() {
        assert_eq!(
            parse_submission_url("smtp://smtp.example.net"),
            Some(("smtp.example.net".into(), 587, false))
        );
        assert_eq!(
            parse_submission_url("smtps://smtp.example.net"),
            Some(("smtp.example.net".into(), 465, true))
        );
        assert_eq!(
            parse_submission_url("smtp://127.0.0.3:2587"),
            Some(("127.0.0.3".into(), 2587, false))
        );
        assert_eq!(parse_submission_url("imaps://x.example.net"), None);
        assert_eq!(parse_submission_url("smtp://user@x.example.net"), None);
    }

    #[test]
    fn addresses_under_the_domain_are_told_apart() {
        assert!(under_domain("a@example.com", "example.com"));
        assert!(under_domain("a@mail.example.com", "example.com"));
        assert!(!under_domain("a@notexample.com", "example.com"));
        assert!(is_address("a@example.com"));
        assert!(!is_address("example.com"));
    }
}
