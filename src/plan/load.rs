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

use super::{
    Admin, AdminMode, Credentials, DnsPlan, ExtraStep, ImapEndpoint, Mailbox, MxRecord, Plan,
    Security, Side, SyncPlan,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in a plan (or in a file it names), with where it is and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub instead: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        write!(
            f,
            "{}:{}:{}: {}{}",
            self.file, self.line, self.column, level, self.message
        )?;
        if !self.instead.is_empty() {
            write!(f, " — {}", self.instead)?;
        }
        Ok(())
    }
}

/// A plan that could not be loaded: every error found, and the warnings beside them.
#[derive(Debug, Clone)]
pub struct PlanErrors {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.diagnostics {
            writeln!(f, "{d}")?;
        }
        let errors = self
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        write!(f, "{errors} error(s): the plan was not loaded")
    }
}

impl std::error::Error for PlanErrors {}

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
    pub fn from_system() -> Environment {
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
    "mailbox",
    "step",
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
const SIDE_KEYS: &[&str] = &["name", "mx", "spf", "dkim_selector", "imap"];
const IMAP_KEYS: &[&str] = &["url", "tls", "ca_file", "insecure_skip_verify"];
const CREDENTIAL_KEYS: &[&str] = &["secrets_file", "password_command", "token_command", "admin"];
const ADMIN_KEYS: &[&str] = &["old", "new", "mode"];
const SYNC_KEYS: &[&str] = &[
    "concurrency",
    "exclude",
    "folder_map",
    "max_bytes_per_sec",
    "max_messages_per_sec",
];
const MAILBOX_KEYS: &[&str] = &["address", "old_login", "new_login"];
const STEP_KEYS: &[&str] = &["id", "day", "title", "after", "what", "per_mailbox"];

impl<'s> Loader<'s> {
    fn position(&self, offset: usize) -> (usize, usize) {
        position_in(self.src, offset)
    }

    fn push(&mut self, severity: Severity, span: &Range<usize>, message: String, instead: String) {
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

    fn push_at(&mut self, at: &Loc, severity: Severity, message: String, instead: &str) {
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

    fn error(
        &mut self,
        span: &Range<usize>,
        message: impl Into<String>,
        instead: impl Into<String>,
    ) {
        self.push(Severity::Error, span, message.into(), instead.into());
    }

    fn warn(
        &mut self,
        span: &Range<usize>,
        message: impl Into<String>,
        instead: impl Into<String>,
    ) {
        self.push(Severity::Warning, span, message.into(), instead.into());
    }

    fn plan(&mut self, path: PathBuf, env: &Environment) -> Option<Plan> {
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
        let mailboxes = self.mailboxes(top, domain.as_deref(), &whole);
        let extra_steps = self.extra_steps(top);

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
            mailboxes: mailboxes?,
            extra_steps,
        })
    }

    /// Unknown keys are errors: a typo must never fall back to a default silently.
    fn check_keys(&mut self, table: &DeTable<'_>, allowed: &[&str], section: &str) {
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

    fn value<'t>(table: &'t DeTable<'s>, key: &str) -> Option<&'t Value<'s>> {
        table.get(key)
    }

    fn key_name(section: &str, key: &str) -> String {
        if section.is_empty() {
            key.to_string()
        } else {
            format!("{section}.{key}")
        }
    }

    fn string(
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

    fn boolean(&mut self, table: &DeTable<'s>, key: &str, section: &str) -> Option<bool> {
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

    fn integer(
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
    fn strings(
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

    fn table<'t>(
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
    fn duration(
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

    fn ttl(
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

    fn domain(&mut self, raw: &str, span: &Range<usize>) -> Option<String> {
        match crate::syntax::domain::parse_domain(raw.trim()) {
            Ok(d) => Some(d),
            Err(why) => {
                self.error(
                    span,
                    format!(
                        "`{}` is not a domain name: {why}",
                        crate::sanitize::sanitize(raw)
                    ),
                    "write the mail domain itself, e.g. `domain = \"example.com\"` (internationalised names in their xn-- form)",
                );
                None
            }
        }
    }

    fn start(&mut self, top: &DeTable<'s>) -> Option<DateTime> {
        let Some(v) = Self::value(top, "start") else {
            self.error(
                &(0..0),
                "`start` is missing",
                "add `start = \"2026-12-07T09:00\"`: the local time when day 1 begins",
            );
            return None;
        };
        let text = match v.get_ref() {
            DeValue::String(s) => s.to_string(),
            DeValue::Datetime(dt) => dt.to_string(),
            _ => String::new(),
        };
        match text.parse::<DateTime>() {
            Ok(dt) if !text.contains(['Z', '+']) && !text[10.min(text.len())..].contains('-') => {
                Some(dt)
            }
            _ => {
                self.error(
                    &v.span(),
                    format!("`start` is not a local date and time: {:?}", crate::sanitize::sanitize(&text)),
                    "write `start = \"2026-12-07T09:00\"` (local time in the plan's timezone, no offset)",
                );
                None
            }
        }
    }

    fn timezone(&mut self, top: &DeTable<'s>, env: &Environment) -> (String, TimeZone) {
        if let Some((name, span)) = self.string(top, "timezone", "") {
            match jiff::tz::db().get(&name) {
                Ok(tz) => return (name, tz),
                Err(_) => self.error(
                    &span,
                    format!("unknown time zone `{}`", crate::sanitize::sanitize(&name)),
                    "write an IANA name such as `timezone = \"Europe/Vilnius\"`",
                ),
            }
        }
        match &env.system_timezone {
            Some(name) => match jiff::tz::db().get(name) {
                Ok(tz) => (name.clone(), tz),
                Err(_) => ("UTC".into(), TimeZone::UTC),
            },
            None => ("UTC".into(), TimeZone::UTC),
        }
    }

    fn working_days(&mut self, top: &DeTable<'s>) -> Vec<Weekday> {
        let default = vec![
            Weekday::Monday,
            Weekday::Tuesday,
            Weekday::Wednesday,
            Weekday::Thursday,
            Weekday::Friday,
        ];
        let Some(items) = self.strings(top, "working_days", "") else {
            return default;
        };
        let mut days = Vec::new();
        for (name, span) in &items {
            match parse_weekday(name) {
                Some(d) if !days.contains(&d) => days.push(d),
                Some(_) => self.warn(span, format!("`{name}` is listed twice in working_days"), "list each day once"),
                None => self.error(
                    span,
                    format!("`{}` is not a day of the week", crate::sanitize::sanitize(name)),
                    "write three-letter days: \"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"",
                ),
            }
        }
        if days.is_empty() && !items.is_empty() {
            return default;
        }
        if items.is_empty() {
            let span = Self::value(top, "working_days")
                .map(|v| v.span())
                .unwrap_or(0..0);
            self.error(
                &span,
                "`working_days` is empty",
                "list the days work happens, e.g. [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]",
            );
            return default;
        }
        days.sort_by_key(|d| d.to_monday_one_offset());
        days
    }

    fn dns(&mut self, top: &DeTable<'s>) -> Option<DnsPlan> {
        let empty = DeTable::new();
        let dns = match self.table(top, "dns", "") {
            Some((t, _)) => t,
            None if Self::value(top, "dns").is_some() => return None,
            None => &empty,
        };
        self.check_keys(dns, DNS_KEYS, "dns");
        let mut ok = true;
        let migration_ttl = match Self::value(dns, "migration_ttl") {
            None => 300,
            Some(_) => match self.ttl(dns, "migration_ttl", "dns") {
                Some((t, span)) => {
                    if t < 60 {
                        self.warn(&span, format!("a migration TTL of {t} s is shorter than a minute: very short TTLs cause their own problems (R2)"), "write `migration_ttl = \"5m\"`");
                    } else if t > 3600 {
                        self.warn(
                            &span,
                            format!(
                                "a migration TTL of {} keeps a mistake alive that long",
                                crate::units::ttl(t)
                            ),
                            "the procedure uses `migration_ttl = \"5m\"`",
                        );
                    }
                    t
                }
                None => {
                    ok = false;
                    300
                }
            },
        };
        let (mut restore_mx, mut restore_txt) = (86_400, 21_600);
        if let Some(v) = Self::value(dns, "restore_ttl") {
            match v.get_ref() {
                DeValue::Table(t) => {
                    self.check_keys(t, &["mx", "txt"], "dns.restore_ttl");
                    if Self::value(t, "mx").is_some() {
                        match self.ttl(t, "mx", "dns.restore_ttl") {
                            Some((s, _)) => restore_mx = s,
                            None => ok = false,
                        }
                    }
                    if Self::value(t, "txt").is_some() {
                        match self.ttl(t, "txt", "dns.restore_ttl") {
                            Some((s, _)) => restore_txt = s,
                            None => ok = false,
                        }
                    }
                }
                _ => {
                    ok = false;
                    self.error(
                        &v.span(),
                        "`dns.restore_ttl` must be a table",
                        "write `restore_ttl = { mx = \"24h\", txt = \"6h\" }`",
                    );
                }
            }
        }
        let old_ttl = match Self::value(dns, "old_ttl") {
            None => None,
            Some(_) => match self.ttl(dns, "old_ttl", "dns") {
                Some((t, _)) => Some(t),
                None => {
                    ok = false;
                    None
                }
            },
        };
        let poll = self.duration_or(dns, "poll", Duration::from_secs(30), &mut ok);
        let timeout = self.duration_or(dns, "timeout", Duration::from_secs(3), &mut ok);
        if let Some(v) = Self::value(dns, "poll")
            && poll < Duration::from_secs(5)
        {
            self.warn(
                &v.span(),
                "polling DNS more often than every 5 s adds load and shows nothing new",
                "write `poll = \"30s\"`",
            );
        }
        if let Some(v) = Self::value(dns, "timeout")
            && (timeout.is_zero() || timeout > Duration::from_secs(30))
        {
            ok = false;
            self.error(
                &v.span(),
                "`dns.timeout` must be between 1 ms and 30 s",
                "write `timeout = \"3s\"`",
            );
        }
        let default_resolvers = ["1.1.1.1:53", "8.8.8.8:53", "9.9.9.9:53"]
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        let resolvers = match Self::value(dns, "resolvers") {
            None => default_resolvers,
            Some(_) => self.addresses(dns, "resolvers", &mut ok),
        };
        let authoritative = match Self::value(dns, "authoritative") {
            None => vec![],
            Some(_) => self.addresses(dns, "authoritative", &mut ok),
        };
        ok.then_some(DnsPlan {
            migration_ttl,
            restore_ttl_mx: restore_mx,
            restore_ttl_txt: restore_txt,
            old_ttl,
            poll,
            timeout,
            resolvers,
            authoritative,
        })
    }

    fn duration_or(
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

    fn addresses(&mut self, table: &DeTable<'s>, key: &str, ok: &mut bool) -> Vec<SocketAddr> {
        let Some(items) = self.strings(table, key, "dns") else {
            *ok = false;
            return vec![];
        };
        let mut out: Vec<SocketAddr> = Vec::new();
        for (text, span) in items {
            match parse_server_address(&text) {
                Some(addr) if out.contains(&addr) => self.warn(
                    &span,
                    format!("{addr} is listed twice"),
                    "list each server once",
                ),
                Some(addr) => out.push(addr),
                None => {
                    *ok = false;
                    self.error(
                        &span,
                        format!(
                            "`{}` is not an IP address with an optional port",
                            crate::sanitize::sanitize(&text)
                        ),
                        "write \"9.9.9.9\", \"9.9.9.9:53\" or \"[2620:fe::fe]:53\"",
                    );
                }
            }
        }
        out
    }

    fn side(&mut self, top: &DeTable<'s>, which: &str) -> Option<Side> {
        let Some((t, span)) = self.table(top, which, "") else {
            if Self::value(top, which).is_none() {
                self.error(
                    &(0..0),
                    format!("the [{which}] section is missing"),
                    format!("add [{which}] with `mx = [\"10 mx.{which}.example.\"]` and `imap = \"imaps://imap.{which}.example:993\"`"),
                );
            }
            return None;
        };
        self.check_keys(t, SIDE_KEYS, which);
        let mut ok = true;
        let name = self
            .string(t, "name", which)
            .map(|(s, _)| s)
            .unwrap_or_else(|| format!("{}{} host", which[..1].to_uppercase(), &which[1..]));
        let mut mx = Vec::new();
        match self.strings(t, "mx", which) {
            Some(items) if !items.is_empty() => {
                for (text, span) in items {
                    match parse_mx(&text) {
                        Ok(r) => mx.push(r),
                        Err(why) => {
                            ok = false;
                            self.error(
                                &span,
                                format!(
                                    "`{}` is not an MX record: {why}",
                                    crate::sanitize::sanitize(&text)
                                ),
                                "write the preference and the host: \"10 mx1.example.net.\"",
                            );
                        }
                    }
                }
            }
            Some(_) => {
                ok = false;
                let s = Self::value(t, "mx")
                    .map(|v| v.span())
                    .unwrap_or(span.clone());
                self.error(
                    &s,
                    format!("`{which}.mx` is empty"),
                    "list the MX records, e.g. `mx = [\"10 mx1.example.net.\"]`",
                );
            }
            None => {
                ok = false;
                if Self::value(t, "mx").is_none() {
                    self.error(
                        &span,
                        format!("`mx` is missing in [{which}]"),
                        "add `mx = [\"10 mx1.example.net.\"]`: the MX records of this side",
                    );
                }
            }
        }
        let spf: Vec<String> = match self.strings(t, "spf", which) {
            Some(items) => {
                let mut terms = Vec::new();
                for (term, span) in items {
                    match spf_term_problem(&term) {
                        None => terms.push(term),
                        Some(why) => {
                            ok = false;
                            self.error(
                                &span,
                                format!("`{}` is not an SPF mechanism: {why}", crate::sanitize::sanitize(&term)),
                                "write one mechanism per string, e.g. \"include:_spf.example.net\", \"ip4:192.0.2.0/24\", \"mx\"",
                            );
                        }
                    }
                }
                terms
            }
            None => {
                if Self::value(t, "spf").is_none() {
                    self.warn(&span, format!("[{which}] has no `spf` terms: SPF checks cannot tell this side's senders"), "add e.g. `spf = [\"include:_spf.example.net\"]`");
                }
                vec![]
            }
        };
        let dkim_selector = match self.string(t, "dkim_selector", which) {
            Some((s, span)) => {
                if s.is_empty()
                    || !s.split('.').all(|l| {
                        !l.is_empty()
                            && l.chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    })
                {
                    ok = false;
                    self.error(
                        &span,
                        format!("`{}` is not a DKIM selector", crate::sanitize::sanitize(&s)),
                        "write the selector alone, e.g. `dkim_selector = \"sel1\"`",
                    );
                    None
                } else {
                    Some(s)
                }
            }
            None => {
                if which == "new" && Self::value(t, "dkim_selector").is_none() {
                    self.warn(&span, "[new] has no `dkim_selector`: the DKIM record cannot be checked (R9)", "add the selector your new provider gave you, e.g. `dkim_selector = \"sel1\"`");
                }
                None
            }
        };
        let imap = match Self::value(t, "imap") {
            Some(v) => self.imap(v, which),
            None => {
                self.error(
                    &span,
                    format!("`imap` is missing in [{which}]"),
                    format!("add `imap = \"imaps://imap.{which}.example:993\"`"),
                );
                None
            }
        };
        if !ok {
            return None;
        }
        Some(Side {
            name,
            mx,
            spf,
            dkim_selector,
            imap: imap?,
        })
    }

    fn imap(&mut self, v: &Value<'s>, which: &str) -> Option<ImapEndpoint> {
        let section = format!("{which}.imap");
        let (url, url_span, tls, ca_file, insecure) = match v.get_ref() {
            DeValue::String(s) => (s.to_string(), v.span(), None, None, false),
            DeValue::Table(t) => {
                self.check_keys(t, IMAP_KEYS, &section);
                let Some((url, span)) = self.string(t, "url", &section) else {
                    if Self::value(t, "url").is_none() {
                        self.error(
                            &v.span(),
                            format!("`url` is missing in `{section}`"),
                            "write `imap = { url = \"imaps://imap.example.net:993\" }`",
                        );
                    }
                    return None;
                };
                let tls = self.string(t, "tls", &section);
                let ca = self
                    .string(t, "ca_file", &section)
                    .map(|(p, span)| (self.resolve(&p), span));
                let insecure = self
                    .boolean(t, "insecure_skip_verify", &section)
                    .unwrap_or(false);
                (url, span, tls, ca, insecure)
            }
            _ => {
                self.error(
                    &v.span(),
                    format!("`{section}` must be a URL string or a table"),
                    "write `imap = \"imaps://imap.example.net:993\"`",
                );
                return None;
            }
        };
        let Some((scheme, host, port)) = parse_imap_url(&url) else {
            self.error(
                &url_span,
                format!("`{}` is not an IMAP URL", crate::sanitize::sanitize(&url)),
                "write `imaps://host:993` (TLS) or `imap://host:143` (STARTTLS); never put a password in it",
            );
            return None;
        };
        let mut security = if scheme == "imaps" {
            Security::Implicit
        } else {
            Security::StartTls
        };
        if let Some((tls, span)) = tls {
            match (tls.as_str(), security) {
                ("none", Security::StartTls) => security = Security::None,
                ("starttls", Security::StartTls) | ("implicit", Security::Implicit) => {}
                ("none" | "starttls", Security::Implicit) | ("implicit", Security::StartTls) => {
                    self.error(&span, format!("`tls = \"{tls}\"` contradicts the URL's `{scheme}://`"), "use `imaps://` for TLS from the start, or `imap://` with `tls = \"starttls\"` or `tls = \"none\"`");
                    return None;
                }
                _ => {
                    self.error(&span, format!("`tls = \"{}\"` is not a TLS mode", crate::sanitize::sanitize(&tls)), "write `tls = \"none\"` (plain text, loopback only), `\"starttls\"` or `\"implicit\"`");
                    return None;
                }
            }
            if security == Security::None && !is_loopback_host(&host) {
                self.warn(
                    &span,
                    format!("plain-text IMAP to {host}: passwords cross the network unencrypted"),
                    "use `imaps://` or `imap://` with STARTTLS",
                );
            }
        }
        if insecure {
            self.warn(
                &url_span,
                format!("TLS certificates of {host} will not be verified"),
                "give the server's CA with `ca_file = \"ca.pem\"` instead",
            );
        }
        if let Some((path, span)) = &ca_file
            && !path.is_file()
        {
            self.error(
                span,
                format!("the CA file {} does not exist", path.display()),
                "name a PEM file, relative to the plan file",
            );
            return None;
        }
        Some(ImapEndpoint {
            url,
            host,
            port,
            security,
            ca_file: ca_file.map(|(p, _)| p),
            insecure_skip_verify: insecure,
            pin_sha256: None,
        })
    }

    fn resolve(&self, p: &str) -> PathBuf {
        let path = Path::new(p);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    fn credentials(&mut self, top: &DeTable<'s>) -> Option<Credentials> {
        let (t, _) = self.table(top, "credentials", "")?;
        self.check_keys(t, CREDENTIAL_KEYS, "credentials");
        let mut creds = Credentials::default();
        if let Some((p, span)) = self.string(t, "secrets_file", "credentials") {
            let path = self.resolve(&p);
            self.secrets_file_permissions(&path, &span);
            creds.secrets_file = Some(path);
        }
        creds.password_command = self
            .string(t, "password_command", "credentials")
            .map(|(s, _)| s);
        creds.token_command = self
            .string(t, "token_command", "credentials")
            .map(|(s, _)| s);
        if let Some(v) = Self::value(t, "admin") {
            match v.get_ref().as_table() {
                Some(a) => {
                    self.check_keys(a, ADMIN_KEYS, "credentials.admin");
                    let old = self.string(a, "old", "credentials.admin").map(|(s, _)| s);
                    let new = self.string(a, "new", "credentials.admin").map(|(s, _)| s);
                    let mode = match self.string(a, "mode", "credentials.admin") {
                        None => Some(AdminMode::Authzid),
                        Some((m, span)) => match m.as_str() {
                            "authzid" => Some(AdminMode::Authzid),
                            "master" => Some(AdminMode::Master),
                            _ => {
                                self.error(&span, format!("`{}` is not an administrator mode", crate::sanitize::sanitize(&m)), "write `mode = \"authzid\"` (AUTHENTICATE PLAIN for a user) or `mode = \"master\"` (Dovecot's user*admin)");
                                None
                            }
                        },
                    };
                    if let Some(mode) = mode {
                        creds.admin = Some(Admin { old, new, mode });
                    }
                }
                None => self.error(&v.span(), "`credentials.admin` must be a table", "write `admin = { old = \"admin\", new = \"admin@example.com\", mode = \"authzid\" }`"),
            }
        }
        if creds.secrets_file.is_none()
            && creds.password_command.is_none()
            && creds.token_command.is_none()
        {
            let span = Self::value(top, "credentials")
                .map(|v| v.span())
                .unwrap_or(0..0);
            self.warn(&span, "[credentials] names no source of passwords: mailbox checks will be unknown", "add `secrets_file = \"secrets.toml\"` or `password_command = \"pass show mail/{side}/{login}\"`");
        }
        Some(creds)
    }

    /// A secrets file others can read is refused; a missing one is only a warning (it may come later).
    fn secrets_file_permissions(&mut self, path: &Path, span: &Range<usize>) {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(path) {
            Err(_) => self.warn(
                span,
                format!("the secrets file {} does not exist yet: mailbox checks will be unknown until it does", path.display()),
                format!("create it readable by you alone: `install -m 600 /dev/null {}`", path.display()),
            ),
            Ok(m) if m.permissions().mode() & 0o077 != 0 => self.error(
                span,
                format!("the secrets file {} may be read by group or others (mode {:o})", path.display(), m.permissions().mode() & 0o777),
                format!("run `chmod 600 {}`", path.display()),
            ),
            Ok(_) => {}
        }
    }

    fn sync(&mut self, top: &DeTable<'s>) -> Option<SyncPlan> {
        let mut sync = SyncPlan::default();
        let Some((t, _)) = self.table(top, "sync", "") else {
            return Self::value(top, "sync").is_none().then_some(sync);
        };
        self.check_keys(t, SYNC_KEYS, "sync");
        let mut ok = true;
        if Self::value(t, "concurrency").is_some() {
            match self.integer(t, "concurrency", "sync", 1..65) {
                Some((n, span)) => {
                    if n > 10 {
                        self.warn(&span, format!("{n} connections per server: Dovecot allows 10 per user and address by default (mail_max_userip_connections)"), "keep `concurrency = 8` unless the servers allow more");
                    }
                    sync.concurrency = n as usize;
                }
                None => ok = false,
            }
        }
        if let Some(items) = self.strings(t, "exclude", "sync") {
            sync.exclude = items.into_iter().map(|(s, _)| s).collect();
        }
        if let Some(v) = Self::value(t, "folder_map") {
            match v.get_ref().as_table() {
                Some(map) => {
                    for (k, val) in map.iter() {
                        match val.get_ref().as_str() {
                            Some(to) if !to.is_empty() => sync
                                .folder_map
                                .push((k.get_ref().to_string(), to.to_string())),
                            _ => {
                                ok = false;
                                self.error(
                                    &val.span(),
                                    format!(
                                        "`sync.folder_map.\"{}\"` must name a folder",
                                        crate::sanitize::sanitize(k.get_ref())
                                    ),
                                    "write `folder_map = { \"Sent Items\" = \"Sent\" }`",
                                );
                            }
                        }
                    }
                }
                None => {
                    ok = false;
                    self.error(
                        &v.span(),
                        "`sync.folder_map` must be a table",
                        "write `folder_map = { \"Sent Items\" = \"Sent\" }`",
                    );
                }
            }
        }
        if Self::value(t, "max_bytes_per_sec").is_some() {
            match self.integer(t, "max_bytes_per_sec", "sync", 1024..u64::MAX) {
                Some((n, _)) => sync.max_bytes_per_sec = Some(n),
                None => ok = false,
            }
        }
        if Self::value(t, "max_messages_per_sec").is_some() {
            match self.integer(t, "max_messages_per_sec", "sync", 1..100_001) {
                Some((n, _)) => sync.max_messages_per_sec = Some(n as u32),
                None => ok = false,
            }
        }
        ok.then_some(sync)
    }

    fn mailboxes(
        &mut self,
        top: &DeTable<'s>,
        domain: Option<&str>,
        whole: &Range<usize>,
    ) -> Option<Vec<Mailbox>> {
        let mut out: Vec<Mailbox> = Vec::new();
        let mut ok = true;
        let mut seen: HashSet<String> = HashSet::new();
        let csv = self.string(top, "mailboxes_csv", "");
        if let Some(v) = Self::value(top, "mailbox") {
            match v.get_ref().as_array() {
                Some(array) => {
                    for item in array.iter() {
                        let Some(t) = item.get_ref().as_table() else {
                            ok = false;
                            self.error(
                                &item.span(),
                                "each mailbox must be a `[[mailbox]]` table",
                                "write `[[mailbox]]` then `address = \"alice@example.com\"`",
                            );
                            continue;
                        };
                        self.check_keys(t, MAILBOX_KEYS, "mailbox");
                        let Some((address, span)) = self.string(t, "address", "mailbox") else {
                            ok = false;
                            if Self::value(t, "address").is_none() {
                                self.error(
                                    &item.span(),
                                    "a [[mailbox]] has no `address`",
                                    "add `address = \"alice@example.com\"`",
                                );
                            }
                            continue;
                        };
                        let old_login = self.string(t, "old_login", "mailbox").map(|(s, _)| s);
                        let new_login = self.string(t, "new_login", "mailbox").map(|(s, _)| s);
                        let at = Loc::Plan(span);
                        match self.mailbox(address, old_login, new_login, domain, &at, &mut seen) {
                            Ok(m) => out.extend(m),
                            Err(()) => ok = false,
                        }
                    }
                }
                None => {
                    ok = false;
                    self.error(
                        &v.span(),
                        "`mailbox` must be a list of tables",
                        "write each as a `[[mailbox]]` section",
                    );
                }
            }
        }
        if let Some((p, span)) = csv {
            let path = self.resolve(&p);
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    if !self.csv_mailboxes(&path, &text, domain, &mut seen, &mut out) {
                        ok = false;
                    }
                }
                Err(e) => {
                    ok = false;
                    self.error(&span, format!("cannot read {}: {e}", path.display()), "name a CSV file with the header `address,old_login,new_login`, relative to the plan");
                }
            }
        }
        if out.is_empty() && ok {
            self.error(
                &(whole.end..whole.end),
                "the plan lists no mailboxes",
                "add `[[mailbox]]` sections with `address = \"alice@example.com\"`, or `mailboxes_csv = \"users.csv\"`",
            );
            return None;
        }
        ok.then_some(out)
    }

    fn mailbox(
        &mut self,
        address: String,
        old_login: Option<String>,
        new_login: Option<String>,
        domain: Option<&str>,
        at: &Loc,
        seen: &mut HashSet<String>,
    ) -> Result<Option<Mailbox>, ()> {
        let address = address.trim().to_string();
        let valid = match address.rsplit_once('@') {
            Some((local, host)) => {
                !local.is_empty()
                    && host.contains('.')
                    && !address.chars().any(|c| c.is_whitespace() || c.is_control())
            }
            None => false,
        };
        if !valid {
            self.push_at(
                at,
                Severity::Error,
                format!(
                    "`{}` is not an email address",
                    crate::sanitize::sanitize(&address)
                ),
                "write `address = \"alice@example.com\"`",
            );
            return Err(());
        }
        let key = address.to_lowercase();
        if !seen.insert(key) {
            self.push_at(
                at,
                Severity::Warning,
                format!("{address} is listed twice"),
                "list each mailbox once; the first entry is used",
            );
            return Ok(None);
        }
        if let Some(domain) = domain
            && !address.to_lowercase().ends_with(&format!("@{domain}"))
        {
            self.push_at(
                at,
                Severity::Warning,
                format!(
                    "{address} is not in {domain}: its mail does not move with this domain's MX"
                ),
                "check the address",
            );
        }
        Ok(Some(Mailbox {
            old_login: old_login.unwrap_or_else(|| address.clone()),
            new_login: new_login.unwrap_or_else(|| address.clone()),
            address,
        }))
    }

    /// `address,old_login,new_login` with a header line; errors point into the CSV file.
    fn csv_mailboxes(
        &mut self,
        path: &Path,
        text: &str,
        domain: Option<&str>,
        seen: &mut HashSet<String>,
        out: &mut Vec<Mailbox>,
    ) -> bool {
        let plan_file = std::mem::replace(&mut self.file, path.display().to_string());
        let csv_src: &str = text;
        let mut ok = true;
        let mut offset = 0;
        let mut columns: Option<Vec<String>> = None;
        for (index, line) in csv_src.split_inclusive('\n').enumerate() {
            let line_no = index + 1;
            let start = offset;
            offset += line.len();
            let row = line.trim_end_matches(['\n', '\r']);
            if row.trim().is_empty() || row.trim_start().starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = row.split(',').map(|f| f.trim().trim_matches('"')).collect();
            let Some(cols) = &columns else {
                let header: Vec<String> = fields.iter().map(|f| f.to_ascii_lowercase()).collect();
                if header.first().map(String::as_str) != Some("address")
                    || header.iter().any(|h| !MAILBOX_KEYS.contains(&h.as_str()))
                {
                    ok = false;
                    self.diags.push(csv_diag(
                        &self.file,
                        csv_src,
                        start,
                        "the first line must be the header",
                        "write `address,old_login,new_login`",
                    ));
                    break;
                }
                columns = Some(header);
                continue;
            };
            let get = |name: &str| -> Option<String> {
                cols.iter()
                    .position(|c| c == name)
                    .and_then(|i| fields.get(i))
                    .filter(|s| !s.is_empty())
                    .map(|s| s.to_string())
            };
            if fields.len() > cols.len() {
                ok = false;
                self.diags.push(csv_diag(
                    &self.file,
                    csv_src,
                    start,
                    &format!(
                        "{} fields where the header has {}",
                        fields.len(),
                        cols.len()
                    ),
                    "one line per mailbox: address,old_login,new_login (no commas inside)",
                ));
                continue;
            }
            let address = get("address").unwrap_or_default();
            let at = Loc::File {
                file: self.file.clone(),
                line: line_no,
                column: 1,
            };
            let m = self.mailbox(
                address,
                get("old_login"),
                get("new_login"),
                domain,
                &at,
                seen,
            );
            match m {
                Ok(m) => out.extend(m),
                Err(()) => ok = false,
            }
        }
        self.file = plan_file;
        ok
    }

    fn extra_steps(&mut self, top: &DeTable<'s>) -> Vec<ExtraStep> {
        let mut out = Vec::new();
        let Some(v) = Self::value(top, "step") else {
            return out;
        };
        let Some(array) = v.get_ref().as_array() else {
            self.error(
                &v.span(),
                "`step` must be a list of tables",
                "write each as a `[[step]]` section",
            );
            return out;
        };
        let known = crate::step_ids::STEP_IDS;
        for item in array.iter() {
            let Some(t) = item.get_ref().as_table() else {
                self.error(
                    &item.span(),
                    "each step must be a `[[step]]` table",
                    "write `[[step]]` then `id = \"…\"`",
                );
                continue;
            };
            self.check_keys(t, STEP_KEYS, "step");
            let id = self.string(t, "id", "step");
            let title = self.string(t, "title", "step");
            let day = self.integer(t, "day", "step", 1..4);
            let what = self
                .string(t, "what", "step")
                .map(|(s, _)| s)
                .unwrap_or_default();
            let per_mailbox = self.boolean(t, "per_mailbox", "step").unwrap_or(false);
            let after = self.string(t, "after", "step");
            if let Some((a, span)) = &after
                && !known.contains(&a.as_str())
                && !out.iter().any(|s: &ExtraStep| &s.id == a)
            {
                self.error(
                    span,
                    format!(
                        "`after = \"{}\"` names no step",
                        crate::sanitize::sanitize(a)
                    ),
                    format!("name one of: {}", known.join(", ")),
                );
                continue;
            }
            match (id, title, day) {
                (Some((id, span)), Some((title, _)), Some((day, _))) => {
                    let valid = !id.is_empty()
                        && id
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
                    if !valid {
                        self.error(
                            &span,
                            format!(
                                "step id `{}` must be lowercase letters, digits and dashes",
                                crate::sanitize::sanitize(&id)
                            ),
                            "write e.g. `id = \"move-shared-calendar\"`",
                        );
                    } else if known.contains(&id.as_str())
                        || out.iter().any(|s: &ExtraStep| s.id == id)
                    {
                        self.error(
                            &span,
                            format!("step id `{id}` is already taken"),
                            "choose an id no other step has",
                        );
                    } else {
                        out.push(ExtraStep {
                            id,
                            day: day as u8,
                            title,
                            after: after.map(|(a, _)| a),
                            what,
                            per_mailbox,
                        });
                    }
                }
                (id, title, day) => {
                    let missing: Vec<&str> = [
                        ("id", id.is_none()),
                        ("title", title.is_none()),
                        ("day", day.is_none()),
                    ]
                    .into_iter()
                    .filter(|(k, missing)| *missing && Self::value(t, k).is_none())
                    .map(|(k, _)| k)
                    .collect();
                    if !missing.is_empty() {
                        self.error(
                            &item.span(),
                            format!("a [[step]] lacks {}", missing.join(", ")),
                            "write `id = \"check-printers\"`, `day = 3`, `title = \"…\"`",
                        );
                    }
                }
            }
        }
        out
    }

    fn same_host_warnings(&mut self, top: &DeTable<'s>, old: &Side, new: &Side) {
        let span = Self::value(top, "new").map(|v| v.span()).unwrap_or(0..0);
        if old.imap.host.eq_ignore_ascii_case(&new.imap.host) && old.imap.port == new.imap.port {
            self.warn(
                &span,
                format!(
                    "old and new IMAP are the same server ({}:{})",
                    new.imap.host, new.imap.port
                ),
                "point [new] imap at the new provider's server",
            );
        }
        for mx in &new.mx {
            if old.mx.iter().any(|o| o.host == mx.host) {
                self.warn(
                    &span,
                    format!(
                        "{} is an MX host on both sides: the checks cannot tell old from new",
                        mx.host
                    ),
                    "list in [new] only the new provider's MX hosts",
                );
            }
        }
    }
}

fn csv_diag(file: &str, src: &str, offset: usize, message: &str, instead: &str) -> Diagnostic {
    let (line, column) = position_in(src, offset);
    Diagnostic {
        severity: Severity::Error,
        file: file.to_string(),
        line,
        column,
        message: message.to_string(),
        instead: instead.to_string(),
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn position_in(src: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "a number",
        DeValue::Float(_) => "a number",
        DeValue::Boolean(_) => "true/false",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

/// The known key closest to a typo, if it is close enough to be what was meant.
fn closest<'a>(typo: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(&typo.to_ascii_lowercase(), k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn parse_weekday(name: &str) -> Option<Weekday> {
    let n = name.trim().to_ascii_lowercase();
    let day = match n.get(..3)? {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    };
    let full = format!("{day:?}").to_ascii_lowercase();
    (n.len() == 3 || full == n).then_some(day)
}

/// "addr" or "addr:port" (IPv6 as "[addr]:port" or bare); port 53 when left out.
pub fn parse_server_address(text: &str) -> Option<SocketAddr> {
    let t = text.trim();
    if let Ok(addr) = t.parse::<SocketAddr>() {
        return Some(addr);
    }
    let ip: IpAddr = t
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    Some(SocketAddr::new(ip, 53))
}

/// An MX record of the plan: `preference host`, the host stored with its final dot.
fn parse_mx(text: &str) -> Result<MxRecord, crate::syntax::mx::MxError> {
    let mx = crate::syntax::mx::parse_mx(text)?;
    if mx.is_null() {
        // "0 ." says the domain takes no mail: never a side of a migration.
        return Err(crate::syntax::mx::MxError::NoHost(mx.preference));
    }
    Ok(MxRecord {
        preference: mx.preference,
        host: mx.host_fqdn(),
    })
}

/// What is wrong with one SPF term of a side, if anything. A side names a
/// mechanism other than `all` (the record's own policy), or a `redirect=` or
/// `exp=` modifier, valid by RFC 7208's grammar.
fn spf_term_problem(term: &str) -> Option<String> {
    use crate::syntax::spf::{Modifier, TermKind, parse_term};
    match parse_term(term) {
        Ok(kind) if kind.is_all() => Some(
            "`all` ends the whole record; cutover writes it (the record to publish ends in ~all)"
                .into(),
        ),
        Ok(TermKind::Modifier(Modifier::Unknown { name, .. })) => Some(format!(
            "`{name}=` is not a modifier receivers know (redirect=, exp=)"
        )),
        Ok(_) => None,
        Err(why) => Some(why.to_string()),
    }
}

fn parse_imap_url(url: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "imaps" => 993,
        "imap" => 143,
        _ => return None,
    };
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains(['@', '/', '?', '#', ' ']) {
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, tail) = v6.split_once(']')?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if tail.is_empty() => default_port,
            None => return None,
        };
        (h.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().ok()?),
            None => (authority.to_string(), default_port),
        }
    };
    (!host.is_empty() && port != 0).then_some((scheme, host.to_ascii_lowercase(), port))
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
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
