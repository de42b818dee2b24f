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
}

/// One folder of a mailbox, for the detail view: counts from the newest of the last probe
/// and the last copy's report, `missing` and `verified` from that copy.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderRow {
    pub name: String,
    pub old_messages: Option<u64>,
    pub new_messages: Option<u64>,
    /// Messages on the old side still missing on the new side, as the last copy verified.
    pub missing: Option<u64>,
    /// `None`: no copy has verified this folder.
    pub verified: Option<bool>,
}

/// A copy's speed, measured between two of its journal lines.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CopyRate {
    pub messages_per_sec: f64,
    pub bytes_per_sec: f64,
}

/// A copy in progress or ended, as its journal lines report it (`App::copies`).
#[derive(Debug, Clone, PartialEq)]
pub struct CopyProgress {
    pub state: String,
    pub messages_done: u64,
    pub messages_left: u64,
    pub bytes_done: u64,
    /// `None` until two progress lines some time apart.
    pub rate: Option<CopyRate>,
}

impl CopyProgress {
    pub fn running(&self) -> bool {
        self.state == "running"
    }

    /// Time left at the measured rate; `None` without a rate (or with none moving).
    pub fn time_left(&self) -> Option<jiff::SignedDuration> {
        let rate = self.rate?.messages_per_sec;
        if self.messages_left == 0 {
            return Some(jiff::SignedDuration::ZERO);
        }
        (rate > 0.0).then(|| {
            jiff::SignedDuration::from_secs((self.messages_left as f64 / rate).ceil() as i64)
        })
    }
}

/// What the synced share rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncedAs {
    /// No copy has verified this mailbox (or the share came from elsewhere).
    #[default]
    Unverified,
    /// The last copy verified it, and the old side is as it was then (as far as measured).
    Current,
    /// The old side changed since the last copy verified it (new mail, UIDNEXT moved).
    Stale,
}

/// One row of the mailbox table.
#[derive(Debug, Clone, PartialEq)]
pub struct MailboxRow {
    pub address: String,
    pub old_login: LoginState,
    pub new_login: LoginState,
    /// From the newest of the last probe and the last copy's report.
    pub old_messages: Option<u64>,
    pub new_messages: Option<u64>,
    /// The share of the old messages the last copy verified on the new side.
    pub synced_percent: Option<f32>,
    pub synced_as: SyncedAs,
    /// When the last copy's report was written.
    pub copied_at: Option<Timestamp>,
    /// A POP3 fetch into the new INBOX, as detected (`None`: not measured, or not measurable).
    pub fetch_detected: Option<bool>,
    pub throttled: bool,
    /// Server text: sanitised before display.
    pub last_error: Option<String>,
    pub folders: Vec<FolderRow>,
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
            synced_as: SyncedAs::Unverified,
            copied_at: None,
            fetch_detected: None,
            throttled: false,
            last_error: None,
            folders: Vec::new(),
        }
    }
}
