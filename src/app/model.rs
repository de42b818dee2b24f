//! View models the live parts fill: what the DNS watcher and the mailbox prober measured, shaped for the screen.
//!
//! The panes never read DNS or IMAP types directly: `update` turns the
//! watcher's `Event::DnsRound` and the prober's `Event::MailProbes` into these
//! (`dns_view`, `mail_view`). Until then the panes say "not measured yet", never green.

use jiff::Timestamp;

/// How a DNS answer relates to the migration; decides its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tone {
    /// Only the old server's records.
    Old,
    /// Only the new server's records.
    New,
    /// Old and new together (the safe middle of the switch).
    Both,
    /// No record where one is expected (an empty MX set is an alarm).
    Missing,
    /// The server did not answer or answered with an error.
    Error,
    /// Nothing to say (a TTL, a TXT that is neither old nor new).
    Neutral,
}

/// Whether a server is authoritative for the domain or a caching resolver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerRole {
    Authoritative,
    Resolver,
}

/// One column of the DNS matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerColumn {
    /// The heading: an NS host's first label (`ns1`), a resolver's name
    /// (`Cloudflare`), else the address (`192.0.2.53`, `127.0.0.1:5301`).
    pub label: String,
    /// Name and address for the detail, e.g. `ns1.example.com (192.0.2.53:53)`.
    pub full: String,
    pub role: ServerRole,
}

/// Which record a row of the matrix is: decides what a step expects of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Mx,
    /// The TXT records at the apex, judged by their SPF record.
    Spf,
    /// The new server's DKIM key.
    Dkim,
    Dmarc,
    MtaSts,
    /// A/AAAA/NS/SOA: shown in the detail only.
    Other,
}

/// One answer: what one server says for one name and type.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsCell {
    /// The answer in a few characters, e.g. `old`, `old+new`, `none`, `servfail`.
    pub short: String,
    /// As measured: served at an authoritative server, left in the cache at a resolver.
    pub ttl: Option<u32>,
    pub tone: Tone,
    /// The server answered definitely (records, or that there are none).
    pub definite: bool,
    /// The records, decoded, one per entry (server text: sanitised before display).
    pub records: Vec<String>,
    /// How the answer came: status, time, latency (server text: sanitised before display).
    pub detail: String,
}

/// One row of the DNS matrix: a name and record type, one cell per server.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsRow {
    /// The row's label, e.g. `MX`, `SPF`, `DKIM sel1`.
    pub label: String,
    /// The name relative to the domain: `@`, `_dmarc`, `sel1._domainkey`.
    pub name: String,
    pub rtype: String,
    pub kind: RecordKind,
    pub cells: Vec<DnsCell>,
}

/// The DNS pane: authoritative servers first, then resolvers.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsView {
    pub servers: Vec<ServerColumn>,
    /// The records the steps change or read: MX, SPF, DKIM, DMARC, MTA-STS.
    pub rows: Vec<DnsRow>,
    /// A/AAAA/NS/SOA, for the detail of a server's cells.
    pub other_rows: Vec<DnsRow>,
    /// A red alarm across the screen, e.g. "an empty MX set was served by ns1".
    pub alarm: Option<String>,
    pub measured_at: Timestamp,
}

/// Whether a login to one side works.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LoginState {
    /// Not tried yet (or offline).
    #[default]
    Unknown,
    Ok,
    /// Refused or failed; the reason is in `MailboxRow::last_error`.
    Failed,
    /// No credentials for this mailbox and side.
    NoCredentials,
}

/// One folder of a mailbox, for the detail view.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderRow {
    pub name: String,
    pub old_messages: Option<u64>,
    pub new_messages: Option<u64>,
    /// Messages on the old side still missing on the new side.
    pub missing: Option<u64>,
    pub verified: bool,
}

/// A copy in progress, as the prober or a copy process reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyProgress {
    pub state: String,
    pub messages_done: u64,
    pub messages_left: u64,
    pub bytes_done: u64,
}

/// One row of the mailbox table.
#[derive(Debug, Clone, PartialEq)]
pub struct MailboxRow {
    pub address: String,
    pub old_login: LoginState,
    pub new_login: LoginState,
    pub old_messages: Option<u64>,
    pub new_messages: Option<u64>,
    pub synced_percent: Option<f32>,
    pub fetch_detected: Option<bool>,
    pub throttled: bool,
    /// Server text: sanitised before display.
    pub last_error: Option<String>,
    pub folders: Vec<FolderRow>,
    pub copy: Option<CopyProgress>,
}

impl MailboxRow {
    /// A mailbox nothing has been measured for yet.
    pub fn unmeasured(address: &str) -> MailboxRow {
        MailboxRow {
            address: address.to_string(),
            old_login: LoginState::Unknown,
            new_login: LoginState::Unknown,
            old_messages: None,
            new_messages: None,
            synced_percent: None,
            fetch_detected: None,
            throttled: false,
            last_error: None,
            folders: Vec::new(),
            copy: None,
        }
    }
}
