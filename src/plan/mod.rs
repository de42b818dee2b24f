//! The plan file: what operators write by hand, loaded and validated into a `Plan`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use jiff::civil::{DateTime, Weekday};
use jiff::tz::TimeZone;

/// A validated migration plan. Every path in it is absolute (resolved against the plan file).
#[derive(Debug, Clone)]
pub struct Plan {
    /// The plan file itself.
    pub path: PathBuf,
    /// The migrated domain, lowercase, without a trailing dot.
    pub domain: String,
    /// Local time when day 1 begins.
    pub start: DateTime,
    pub timezone_name: String,
    pub timezone: TimeZone,
    pub working_days: Vec<Weekday>,
    pub operator: String,
    pub dns: DnsPlan,
    pub old: Side,
    pub new: Side,
    pub credentials: Option<Credentials>,
    pub sync: SyncPlan,
    /// `[archive]`: where the old server's mail is kept as a verified Maildir (R19).
    pub archive: Option<ArchivePlan>,
    pub mailboxes: Vec<Mailbox>,
    /// Manual steps the plan adds to the runbook.
    pub extra_steps: Vec<ExtraStep>,
    /// `[canary]`: how mail flow is proven by sending mail; `None`: it is not proven.
    pub canary: Option<CanaryPlan>,
}

/// `[canary]`: the plan mailbox that receives canaries, the external mailbox that sends
/// and receives them, and the From of the direct canaries.
#[derive(Debug, Clone)]
pub struct CanaryPlan {
    /// The address of one of the plan's mailboxes (its logins and secrets are the plan's).
    pub mailbox: String,
    pub external: ExternalMailbox,
    /// The From of direct canaries (default: the external address, on another domain).
    pub direct_from: String,
}

#[cfg(test)]
impl CanaryPlan {
    /// A `[canary]` for unit tests: `canary@example.com`, an external mailbox `t@ext.test`
    /// read at `imap`, no receiver patterns.
    pub(crate) fn for_tests(imap: ImapEndpoint) -> CanaryPlan {
        CanaryPlan {
            mailbox: "canary@example.com".into(),
            direct_from: "t@ext.test".into(),
            external: ExternalMailbox {
                address: "t@ext.test".into(),
                imap,
                submission: Submission {
                    url: "smtp://s.ext.test".into(),
                    host: "s.ext.test".into(),
                    port: 587,
                    implicit_tls: false,
                    ca_file: None,
                },
                login: "t@ext.test".into(),
                auth: ExternalAuth::Password,
                authserv_id: None,
                received_by: vec![],
            },
        }
    }
}

/// A mailbox at another provider, on another domain, that cutover sends from and reads.
#[derive(Debug, Clone)]
pub struct ExternalMailbox {
    pub address: String,
    pub imap: ImapEndpoint,
    pub submission: Submission,
    /// Its login (default: the address).
    pub login: String,
    pub auth: ExternalAuth,
    /// How its receiving servers name themselves in Authentication-Results (a `*`
    /// pattern), when known.
    pub authserv_id: Option<String>,
    /// Its own inbound hosts as they sign `Received` fields (`by mx.google.com`), names or
    /// `*` patterns: the connecting address SPF is judged for is read from the lowest of the
    /// block they added at the top. Default: the preset's, else `authserv_id`.
    pub received_by: Vec<String>,
}

/// How the external mailbox logs in (IMAP and submission alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternalAuth {
    /// A password (or app password) from the secrets file or `password_command`.
    Password,
    /// An OAuth2 access token from `token_command`.
    XOAuth2,
}

/// A submission server: `smtp://host:587` (STARTTLS, required) or `smtps://host:465`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// As written in the plan.
    pub url: String,
    pub host: String,
    pub port: u16,
    /// `smtps://`: TLS from the first byte; else STARTTLS.
    pub implicit_tls: bool,
    /// A CA to trust beside the system's.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct DnsPlan {
    /// TTL (seconds) MX and TXT are lowered to for the migration.
    pub migration_ttl: u32,
    pub restore_ttl_mx: u32,
    pub restore_ttl_txt: u32,
    /// The TTL before lowering, if the operator knows it (seconds).
    pub old_ttl: Option<u32>,
    pub poll: Duration,
    /// Per DNS query.
    pub timeout: Duration,
    /// Public resolvers, each queried on its own.
    pub resolvers: Vec<SocketAddr>,
    /// Authoritative servers; empty means "discover from NS".
    pub authoritative: Vec<SocketAddr>,
    /// The names the plan gives servers (`{ address = "…", name = "…" }` entries).
    pub names: BTreeMap<SocketAddr, String>,
}

impl DnsPlan {
    /// What to call a server on screen: the plan's name for it, else the operator of a
    /// well-known public resolver, else nothing (the address stands for itself).
    pub fn server_name(&self, address: SocketAddr) -> Option<String> {
        self.names
            .get(&address)
            .cloned()
            .or_else(|| well_known_resolver(address).map(str::to_string))
    }
}

/// The operator of a well-known public resolver address, asked on port 53.
pub fn well_known_resolver(address: SocketAddr) -> Option<&'static str> {
    if address.port() != 53 {
        return None;
    }
    // IpAddr's text is canonical: "2620:00fe::fe" reads "2620:fe::fe".
    let ip = address.ip().to_string();
    let operator = match ip.as_str() {
        "1.1.1.1" | "1.0.0.1" | "2606:4700:4700::1111" | "2606:4700:4700::1001" => "Cloudflare",
        "8.8.8.8" | "8.8.4.4" | "2001:4860:4860::8888" | "2001:4860:4860::8844" => "Google",
        "9.9.9.9" | "149.112.112.112" | "2620:fe::fe" | "2620:fe::9" => "Quad9",
        "208.67.222.222" | "208.67.220.220" | "2620:119:35::35" | "2620:119:53::53" => "OpenDNS",
        "94.140.14.14" | "94.140.15.15" => "AdGuard",
        "76.76.2.0" | "76.76.10.0" => "Control D",
        _ => return None,
    };
    Some(operator)
}

/// One side of the migration: the old or the new mail service.
#[derive(Debug, Clone)]
pub struct Side {
    pub name: String,
    pub mx: Vec<MxRecord>,
    /// SPF terms this side needs, e.g. `include:_spf.old.example`.
    pub spf: Vec<String>,
    pub dkim_selector: Option<String>,
    pub imap: ImapEndpoint,
    /// `smtp`: where to reach each MX host (the SMTP probe, direct canaries), in the order
    /// of `mx` (a test server, a provider's separate inbound host); empty: each MX host
    /// by its name on port 25.
    pub smtp: Vec<SmtpAddress>,
    /// `[new] submission`: where the canary mailbox submits outbound canaries.
    pub submission: Option<Submission>,
}

/// Where an MX host's SMTP server listens: a name or an IP address, and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpAddress {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for SmtpAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// An MX record as planned: preference and host (lowercase, with trailing dot).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MxRecord {
    pub preference: u16,
    pub host: String,
}

impl std::fmt::Display for MxRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.preference, self.host)
    }
}

/// How the IMAP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `imaps://`: TLS from the first byte.
    Implicit,
    /// `imap://`: STARTTLS, required.
    StartTls,
    /// `tls = "none"` written out: plain text.
    None,
}

#[derive(Debug, Clone)]
pub struct ImapEndpoint {
    /// As written in the plan (no credentials are ever in it).
    pub url: String,
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub ca_file: Option<PathBuf>,
    pub insecure_skip_verify: bool,
    /// `pin_sha256`: the SHA-256 fingerprint of the one certificate to accept, as written
    /// (hex, colons allowed, any case); read by `crate::tls::Fingerprint::parse`.
    pub pin_sha256: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhichSide {
    Old,
    New,
}

impl WhichSide {
    pub fn as_str(self) -> &'static str {
        match self {
            WhichSide::Old => "old",
            WhichSide::New => "new",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub secrets_file: Option<PathBuf>,
    /// Run through `sh -c` with `{side}` and `{login}` replaced; prints the password.
    pub password_command: Option<String>,
    /// Same, prints an OAuth2 access token for XOAUTH2.
    pub token_command: Option<String>,
    pub admin: Option<Admin>,
}

#[derive(Debug, Clone)]
pub struct Admin {
    pub old: Option<String>,
    pub new: Option<String>,
    pub mode: AdminMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminMode {
    /// AUTHENTICATE PLAIN with the user as authorization identity.
    Authzid,
    /// Dovecot master user: login `user*admin` with the admin's password.
    Master,
}

#[derive(Debug, Clone)]
pub struct SyncPlan {
    pub concurrency: usize,
    /// Folder names or `*` patterns never copied.
    pub exclude: Vec<String>,
    /// Old folder name → new folder name, in the order written.
    pub folder_map: Vec<(String, String)>,
    pub max_bytes_per_sec: Option<u64>,
    pub max_messages_per_sec: Option<u32>,
    /// Connections one mailbox's copy holds at once on each server, at most (a provider's
    /// published limit); `None`: the copy's own default.
    pub connections_per_mailbox: Option<u32>,
    /// Bytes one mailbox may copy per 24 h window (a provider's daily upload or download
    /// limit); when used up, that mailbox pauses until the next window. `None`: no cap.
    pub bytes_per_day_per_mailbox: Option<u64>,
}

impl Default for SyncPlan {
    fn default() -> SyncPlan {
        SyncPlan {
            concurrency: 8,
            exclude: vec![],
            folder_map: vec![],
            max_bytes_per_sec: None,
            max_messages_per_sec: None,
            connections_per_mailbox: None,
            bytes_per_day_per_mailbox: None,
        }
    }
}

/// `[archive]`: the Maildir archive of the old server the copies write as they read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivePlan {
    /// The archive's directory (relative paths are from the plan's directory).
    pub dir: PathBuf,
    /// Whether `decommission-old` waits for a verified archive (false: a warning only, for
    /// companies whose old provider keeps its own export).
    pub required: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mailbox {
    pub address: String,
    pub old_login: String,
    pub new_login: String,
    /// Other addresses that deliver to this mailbox (`aliases = [...]`): the new MX
    /// must accept them too.
    pub aliases: Vec<String>,
}

impl Mailbox {
    pub fn login(&self, side: WhichSide) -> &str {
        match side {
            WhichSide::Old => &self.old_login,
            WhichSide::New => &self.new_login,
        }
    }
}

/// A manual step the plan adds: `[[step]]`.
#[derive(Debug, Clone)]
pub struct ExtraStep {
    pub id: crate::step::StepId,
    pub day: u8,
    pub title: String,
    pub after: Option<crate::step::StepId>,
    pub what: String,
    pub per_mailbox: bool,
}

/// A file beside the plan named after it: `beside("/x/cutover.toml", "journal")` is `/x/cutover.journal`.
pub fn beside(plan: &std::path::Path, extension: &str) -> PathBuf {
    let mut name = plan
        .file_stem()
        .map(|stem| stem.to_os_string())
        .unwrap_or_else(|| std::ffi::OsString::from("cutover"));
    name.push(".");
    name.push(extension);
    plan.with_file_name(name)
}

impl Plan {
    pub fn side(&self, which: WhichSide) -> &Side {
        match which {
            WhichSide::Old => &self.old,
            WhichSide::New => &self.new,
        }
    }

    /// Whether `address` is the `[canary]` mailbox: it receives only canaries, so the quiet
    /// check and the old server's last arrival leave it out.
    pub fn is_canary_mailbox(&self, address: &str) -> bool {
        self.canary
            .as_ref()
            .is_some_and(|c| c.mailbox.eq_ignore_ascii_case(address))
    }

    /// Every address the new MX must accept: each mailbox's address, then its aliases,
    /// in the plan's order, each once (compared without case).
    pub fn addresses(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        self.mailboxes
            .iter()
            .flat_map(|m| std::iter::once(&m.address).chain(&m.aliases))
            .filter(|a| seen.insert(a.to_lowercase()))
            .cloned()
            .collect()
    }
}

pub mod init;
pub mod load;

pub use load::{PlanErrors, Severity, load};
