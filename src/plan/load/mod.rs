//! Reading a plan file: every error at once, each as `FILE:LINE:COLUMN: what is wrong — what to write instead`.
//!
//! The TOML is parsed into toml's spanned document tree (`DeTable`) and walked
//! by hand rather than deserialised with serde derive: serde stops at the
//! first error and loses positions for semantic errors (a bad time zone, an
//! unreachable-looking address), while operators need all of them, each with
//! its line and column and a suggestion.

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::civil::{DateTime, Weekday};
use jiff::tz::TimeZone;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

mod canary;
mod diagnostics;
mod mailboxes;
mod sections;
mod smtp;

use diagnostics::*;
pub use diagnostics::{Diagnostic, PlanErrors, Severity};
pub use sections::parse_server_address;

use super::{
    Admin, AdminMode, ArchivePlan, CanaryPlan, Credentials, DnsPlan, ExternalAuth, ExternalMailbox,
    ExtraStep, ImapEndpoint, Mailbox, MxRecord, Plan, Security, Side, SmtpAddress, Submission,
    SyncPlan,
};

/// A loaded plan and the warnings about legal-but-dangerous values in it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub plan: Plan,
    pub warnings: Vec<Diagnostic>,
}

/// Facts from outside the file that defaults come from (so tests can fix them).
#[derive(Debug, Clone)]
pub struct Environment {
    pub login_user: String,
    pub system_timezone: Option<String>,
}

impl Environment {
    pub(crate) fn from_system() -> Environment {
        let login_user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| format!("uid-{}", rustix::process::getuid().as_raw()));
        Environment {
            login_user,
            system_timezone: TimeZone::system().iana_name().map(str::to_string),
        }
    }
}

/// Loads and validates the plan at `path`.
pub fn load(path: &Path) -> Result<Loaded, PlanErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| PlanErrors {
        diagnostics: vec![Diagnostic {
            severity: Severity::Error,
            file: path.display().to_string(),
            line: 1,
            column: 1,
            message: format!("cannot read the plan: {e}"),
            instead: "pass an existing plan with --plan FILE, or write one with `cutover init --domain example.com`".into(),
        }],
    })?;
    parse(path, &text, &Environment::from_system())
}

/// Validates plan text as if read from `path` (relative paths in it are relative to `path`'s folder).
pub fn parse(path: &Path, text: &str, env: &Environment) -> Result<Loaded, PlanErrors> {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let base_dir = abs.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut loader = Loader {
        file: path.display().to_string(),
        src: text,
        diags: Vec::new(),
        base_dir,
    };
    let plan = loader.plan(abs, env);
    loader
        .diags
        .sort_by_key(|d| (d.file.clone(), d.line, d.column));
    let has_error = loader.diags.iter().any(|d| d.severity == Severity::Error);
    match plan {
        Some(plan) if !has_error => Ok(Loaded {
            plan,
            warnings: loader.diags,
        }),
        _ => Err(PlanErrors {
            diagnostics: loader.diags,
        }),
    }
}

type Value<'i> = Spanned<DeValue<'i>>;

/// Where a diagnostic points: a plan position (resolved to line:column only
/// when a diagnostic is made, so large plans load in linear time), or a line of
/// a file the plan names.
enum Loc {
    Plan(Range<usize>),
    File {
        file: String,
        line: usize,
        column: usize,
    },
}

struct Loader<'s> {
    file: String,
    src: &'s str,
    diags: Vec<Diagnostic>,
    base_dir: PathBuf,
}

const TOP_KEYS: &[&str] = &[
    "domain",
    "start",
    "timezone",
    "working_days",
    "operator",
    "mailboxes_csv",
    "dns",
    "old",
    "new",
    "credentials",
    "sync",
    "archive",
    "mailbox",
    "step",
    "canary",
];
const DNS_KEYS: &[&str] = &[
    "migration_ttl",
    "restore_ttl",
    "old_ttl",
    "poll",
    "timeout",
    "resolvers",
    "authoritative",
];
const SIDE_KEYS: &[&str] = &[
    "name",
    "mx",
    "spf",
    "dkim_selector",
    "imap",
    "smtp",
    "submission",
];
const IMAP_KEYS: &[&str] = &[
    "url",
    "tls",
    "ca_file",
    "insecure_skip_verify",
    "pin_sha256",
];
const CREDENTIAL_KEYS: &[&str] = &["secrets_file", "password_command", "token_command", "admin"];
const ADMIN_KEYS: &[&str] = &["old", "new", "mode"];
const SYNC_KEYS: &[&str] = &[
    "concurrency",
    "exclude",
    "folder_map",
    "max_bytes_per_sec",
    "max_messages_per_sec",
    "connections_per_mailbox",
    "bytes_per_day_per_mailbox",
];
const ARCHIVE_KEYS: &[&str] = &["dir", "required"];
const MAILBOX_KEYS: &[&str] = &["address", "old_login", "new_login", "aliases"];
const STEP_KEYS: &[&str] = &["id", "day", "title", "after", "what", "per_mailbox"];

impl<'s> Loader<'s> {
    pub(super) fn position(&self, offset: usize) -> (usize, usize) {
        position_in(self.src, offset)
    }

    pub(super) fn push(
        &mut self,
        severity: Severity,
        span: &Range<usize>,
        message: String,
        instead: String,
    ) {
        let (line, column) = self.position(span.start);
        self.diags.push(Diagnostic {
            severity,
            file: self.file.clone(),
            line,
            column,
            message,
            instead,
        });
    }

    pub(super) fn push_at(&mut self, at: &Loc, severity: Severity, message: String, instead: &str) {
        match at {
            Loc::Plan(span) => self.push(severity, span, message, instead.to_string()),
            Loc::File { file, line, column } => self.diags.push(Diagnostic {
                severity,
                file: file.clone(),
                line: *line,
                column: *column,
                message,
                instead: instead.to_string(),
            }),
        }
    }

    pub(super) fn error(
        &mut self,
        span: &Range<usize>,
        message: impl Into<String>,
        instead: impl Into<String>,
    ) {
        self.push(Severity::Error, span, message.into(), instead.into());
    }

    pub(super) fn warn(
        &mut self,
        span: &Range<usize>,
        message: impl Into<String>,
        instead: impl Into<String>,
    ) {
        self.push(Severity::Warning, span, message.into(), instead.into());
    }

    pub(super) fn plan(&mut self, path: PathBuf, env: &Environment) -> Option<Plan> {
        let doc = match DeTable::parse(self.src) {
            Ok(doc) => doc,
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let message = e.message().trim().replace('\n', " ");
                self.error(
                    &span,
                    format!("this is not valid TOML: {message}"),
                    "write `key = value` lines, strings in double quotes, tables as `[name]`",
                );
                return None;
            }
        };
        let whole = doc.span();
        let top = doc.get_ref();
        self.check_keys(top, TOP_KEYS, "");

        let domain = match self.string(top, "domain", "") {
            Some((d, span)) => self.domain(&d, &span),
            None => {
                self.error(
                    &(0..0),
                    "`domain` is missing",
                    "add `domain = \"example.com\"` at the top",
                );
                None
            }
        };
        let start = self.start(top);
        let (timezone_name, timezone) = self.timezone(top, env);
        let working_days = self.working_days(top);
        let operator = self
            .string(top, "operator", "")
            .map(|(s, _)| s)
            .unwrap_or_else(|| env.login_user.clone());
        let dns = self.dns(top);
        let old = self.side(top, "old");
        let new = self.side(top, "new");
        let credentials = self.credentials(top);
        let sync = self.sync(top);
        let archive = self.archive(top);
        let mailboxes = self.mailboxes(top, domain.as_deref(), &whole);
        let extra_steps = self.extra_steps(top);
        let canary = self.canary(top, domain.as_deref(), mailboxes.as_deref(), new.as_ref());

        if let (Some(old), Some(new)) = (&old, &new) {
            self.same_host_warnings(top, old, new);
        }
        Some(Plan {
            path,
            domain: domain?,
            start: start?,
            timezone_name,
            timezone,
            working_days,
            operator,
            dns: dns?,
            old: old?,
            new: new?,
            credentials,
            sync: sync?,
            archive: archive?,
            mailboxes: mailboxes?,
            extra_steps,
            canary: canary?,
        })
    }

    /// Unknown keys are errors: a typo must never fall back to a default silently.
    pub(super) fn check_keys(&mut self, table: &DeTable<'_>, allowed: &[&str], section: &str) {
        for key in table.keys() {
            let name = key.get_ref().as_ref();
            if allowed.contains(&name) {
                continue;
            }
            let where_ = if section.is_empty() {
                "at the top of the plan".to_string()
            } else {
                format!("in [{section}]")
            };
            let instead = match closest(name, allowed) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("known keys here: {}", allowed.join(", ")),
            };
            self.error(
                &key.span(),
                format!("unknown key `{name}` {where_}"),
                instead,
            );
        }
    }

    pub(super) fn value<'t>(table: &'t DeTable<'s>, key: &str) -> Option<&'t Value<'s>> {
        table.get(key)
    }

    pub(super) fn key_name(section: &str, key: &str) -> String {
        if section.is_empty() {
            key.to_string()
        } else {
            format!("{section}.{key}")
        }
    }

    pub(super) fn string(
        &mut self,
        table: &DeTable<'s>,
        key: &str,
        section: &str,
    ) -> Option<(String, Range<usize>)> {
        let v = Self::value(table, key)?;
        match v.get_ref().as_str() {
            Some(s) => Some((s.to_string(), v.span())),
            None => {
                self.error(
                    &v.span(),
                    format!(
                        "`{}` must be a string, not {}",
                        Self::key_name(section, key),
                        type_name(v.get_ref())
                    ),
                    format!("write it in double quotes: {key} = \"…\""),
                );
                None
            }
        }
    }

    pub(super) fn boolean(
        &mut self,
        table: &DeTable<'s>,
        key: &str,
        section: &str,
    ) -> Option<bool> {
        let v = Self::value(table, key)?;
        match v.get_ref().as_bool() {
            Some(b) => Some(b),
            None => {
                self.error(
                    &v.span(),
                    format!("`{}` must be true or false", Self::key_name(section, key)),
                    format!("write `{key} = true` or `{key} = false`"),
                );
                None
            }
        }
    }

    pub(super) fn integer(
        &mut self,
        table: &DeTable<'s>,
        key: &str,
        section: &str,
        range: Range<u64>,
    ) -> Option<(u64, Range<usize>)> {
        let v = Self::value(table, key)?;
        let parsed = v
            .get_ref()
            .as_integer()
            .and_then(|i| u64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok());
        match parsed {
            Some(n) if range.contains(&n) => Some((n, v.span())),
            _ => {
                self.error(
                    &v.span(),
                    format!(
                        "`{}` must be a whole number from {} to {}",
                        Self::key_name(section, key),
                        range.start,
                        range.end - 1
                    ),
                    format!("write e.g. `{key} = {}`", range.start.max(1)),
                );
                None
            }
        }
    }

    /// An array of strings; each bad element is its own error.
    pub(super) fn strings(
        &mut self,
        table: &DeTable<'s>,
        key: &str,
        section: &str,
    ) -> Option<Vec<(String, Range<usize>)>> {
        let v = Self::value(table, key)?;
        let Some(array) = v.get_ref().as_array() else {
            self.error(
                &v.span(),
                format!(
                    "`{}` must be a list of strings",
                    Self::key_name(section, key)
                ),
                format!("write `{key} = [\"…\", \"…\"]`"),
            );
            return None;
        };
        let mut out = Vec::new();
        for item in array.iter() {
            match item.get_ref().as_str() {
                Some(s) => out.push((s.to_string(), item.span())),
                None => self.error(
                    &item.span(),
                    format!(
                        "`{}` must hold only strings, not {}",
                        Self::key_name(section, key),
                        type_name(item.get_ref())
                    ),
                    "put the value in double quotes",
                ),
            }
        }
        Some(out)
    }

    pub(super) fn table<'t>(
        &mut self,
        table: &'t DeTable<'s>,
        key: &str,
        section: &str,
    ) -> Option<(&'t DeTable<'s>, Range<usize>)> {
        let v = Self::value(table, key)?;
        match v.get_ref().as_table() {
            Some(t) => Some((t, v.span())),
            None => {
                self.error(
                    &v.span(),
                    format!("`{}` must be a table", Self::key_name(section, key)),
                    format!("write it as a `[{}]` section", Self::key_name(section, key)),
                );
                None
            }
        }
    }

    /// A duration as humans write it ("5m", "24h", "30s"), or whole seconds.
    pub(super) fn duration(
        &mut self,
        table: &DeTable<'s>,
        key: &str,
        section: &str,
    ) -> Option<(Duration, Range<usize>)> {
        let v = Self::value(table, key)?;
        let span = v.span();
        let parsed = match v.get_ref() {
            DeValue::String(s) => crate::units::parse_duration(s),
            DeValue::Integer(i) => i
                .as_str()
                .replace('_', "")
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs),
            _ => None,
        };
        match parsed {
            Some(d) => Some((d, span)),
            None => {
                self.error(
                    &span,
                    format!("`{}` is not a duration", Self::key_name(section, key)),
                    format!("write it as humans do: `{key} = \"5m\"` (s, m, h, d)"),
                );
                None
            }
        }
    }

    pub(super) fn ttl(
        &mut self,
        table: &DeTable<'s>,
        key: &str,
        section: &str,
    ) -> Option<(u32, Range<usize>)> {
        let (d, span) = self.duration(table, key, section)?;
        match u32::try_from(d.as_secs()) {
            Ok(s) if s > 0 && d.subsec_nanos() == 0 => Some((s, span)),
            _ => {
                self.error(
                    &span,
                    format!(
                        "`{}` must be a whole number of seconds above zero",
                        Self::key_name(section, key)
                    ),
                    format!("write e.g. `{key} = \"5m\"`"),
                );
                None
            }
        }
    }

    pub(super) fn duration_or(
        &mut self,
        table: &DeTable<'s>,
        key: &str,
        default: Duration,
        ok: &mut bool,
    ) -> Duration {
        if Self::value(table, key).is_none() {
            return default;
        }
        match self.duration(table, key, "dns") {
            Some((d, _)) => d,
            None => {
                *ok = false;
                default
            }
        }
    }

    pub(super) fn resolve(&self, p: &str) -> PathBuf {
        let path = Path::new(p);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sections::*;
    use super::*;

    #[test]
    fn server_addresses_get_port_53() {
        assert_eq!(parse_server_address("9.9.9.9"), "9.9.9.9:53".parse().ok());
        assert_eq!(
            parse_server_address("127.0.0.1:5353"),
            "127.0.0.1:5353".parse().ok()
        );
        assert_eq!(parse_server_address("::1"), "[::1]:53".parse().ok());
        assert_eq!(parse_server_address("dns.google"), None);
    }

    #[test]
    fn mx_is_normalised() {
        assert_eq!(
            parse_mx("10 MX1.Old.Example"),
            Ok(MxRecord {
                preference: 10,
                host: "mx1.old.example.".into()
            })
        );
        assert!(parse_mx("mx1.old.example").is_err());
        assert!(parse_mx("0 .").is_err());
    }

    #[test]
    fn spf_terms_follow_the_rfc_grammar() {
        for good in [
            "include:_spf.example.net",
            "ip4:192.0.2.0/24",
            "ip6:2001:db8::/32",
            "mx",
            "a:mail.example.net/28",
            "exists:%{i}._spf.example.net",
            "redirect=_spf.example.net",
            "?include:x.example.net",
        ] {
            assert_eq!(spf_term_problem(good), None, "{good}");
        }
        for (bad, says) in [
            ("include", "include needs a domain"),
            ("ip4:1.2.3.4/33", "over 32"),
            ("a:foo-bar", "no dot"),
            ("-all", "`all` ends the whole record"),
            ("foo=bar", "not a modifier receivers know"),
            ("include:x.example mx", "it contains a space"),
        ] {
            let why = spf_term_problem(bad).unwrap_or_default();
            assert!(why.contains(says), "{bad}: {why}");
        }
    }

    #[test]
    fn typos_get_suggestions() {
        assert_eq!(closest("migraton_ttl", DNS_KEYS), Some("migration_ttl"));
        assert_eq!(closest("zzz", DNS_KEYS), None);
    }

    #[test]
    fn positions_count_characters() {
        assert_eq!(position_in("a = 1\nbé = x", 10), (2, 4));
    }
}
