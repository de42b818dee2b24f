//! A private Dovecot for tests: "old" and "new" mail servers on loopback ports,
//! configured from a temp dir (never the system config), stopped on drop.
//!
//! `Dovecot::start("old")` returns `None` after printing a SKIPPED line when
//! Dovecot is not installed, unless `CUTOVER_REQUIRE_SERVERS=1` (CI), where it
//! panics instead: the tests never pass silently without their server.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cutover::plan::{ImapEndpoint, Security};

/// The uid that owns every test mailbox (Dovecot refuses to run mail processes as root).
pub const MAIL_UID: u32 = 5000;
/// The master user every instance knows (`user*admin` logins, or PLAIN with an authzid).
pub const MASTER_USER: &str = "admin";
pub const MASTER_PASSWORD: &str = "master-secret";

/// One running private Dovecot instance.
pub struct Dovecot {
    pub name: String,
    dir: tempfile::TempDir,
    /// Short unix-socket directory (socket paths are limited to ~108 bytes).
    base_dir: tempfile::TempDir,
    conf: PathBuf,
    /// Plain port: STARTTLS offered, plaintext login allowed (for `tls = "none"`).
    pub imap_port: u16,
    /// Implicit TLS port.
    pub imaps_port: u16,
    /// The CA that signed the server's certificate (for `ca_file`); with
    /// [`Dovecot::start_self_signed`], the server's certificate itself.
    pub ca_file: PathBuf,
    /// The certificate the server serves (PEM).
    pub server_cert: PathBuf,
    /// Whether Dovecot may have read the users file already (a login or a doveadm call).
    used: std::sync::atomic::AtomicBool,
    /// With [`Dovecot::start_for_mail_flow`]: the LMTP port a Postfix delivers to.
    pub lmtp_port: Option<u16>,
    /// With [`Dovecot::start_for_mail_flow`]: the auth port a Postfix's SASL asks.
    pub auth_port: Option<u16>,
}

/// One message to write into a maildir.
pub struct SeedMessage {
    pub raw: Vec<u8>,
    /// Maildir flag letters, e.g. "FS" (Flagged, Seen); keyword letters `a`.. per `keywords`.
    pub flags: String,
    /// INTERNALDATE (file mtime), seconds since the epoch.
    pub internal_date: i64,
}

impl SeedMessage {
    pub fn new(raw: impl Into<Vec<u8>>) -> SeedMessage {
        SeedMessage {
            raw: raw.into(),
            flags: String::new(),
            internal_date: 1_700_000_000,
        }
    }
    pub fn flags(mut self, flags: &str) -> SeedMessage {
        self.flags = flags.to_string();
        self
    }
    pub fn date(mut self, unix: i64) -> SeedMessage {
        self.internal_date = unix;
        self
    }
}

/// Whether a missing Dovecot fails the test (CI) or skips it.
fn servers_required() -> bool {
    std::env::var("CUTOVER_REQUIRE_SERVERS").is_ok_and(|v| v == "1")
}

fn dovecot_binary() -> Option<PathBuf> {
    // CUTOVER_DOVECOT_BIN names another binary (or a missing one, to try the skip path).
    if let Some(path) = std::env::var_os("CUTOVER_DOVECOT_BIN") {
        let path = PathBuf::from(path);
        return path.exists().then_some(path);
    }
    ["/usr/sbin/dovecot", "/usr/local/sbin/dovecot"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1/localhost (rustls refuses a CA as end entity).
fn make_certificates(dir: &Path) {
    let d = |f: &str| dir.join(f).to_string_lossy().into_owned();
    run(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=cutover test CA",
        "-keyout",
        &d("ca.key"),
        "-out",
        &d("ca.pem"),
    ]));
    fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write ext.cnf");
    run(Command::new("openssl").args([
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        &d("server.key"),
        "-out",
        &d("server.csr"),
    ]));
    run(Command::new("openssl").args([
        "x509",
        "-req",
        "-in",
        &d("server.csr"),
        "-CA",
        &d("ca.pem"),
        "-CAkey",
        &d("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &d("ext.cnf"),
        "-out",
        &d("server.pem"),
    ]));
}

/// A self-signed server certificate as old servers have them: `openssl req -x509` marks it
/// `CA:TRUE`, which rustls refuses as a server's certificate even when it is the trust anchor.
fn make_self_signed_certificate(dir: &Path) {
    let d = |f: &str| dir.join(f).to_string_lossy().into_owned();
    run(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=mail.old.example",
        "-keyout",
        &d("server.key"),
        "-out",
        &d("server.pem"),
    ]));
}

/// Which certificate a private instance serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Certificate {
    /// Signed by a test CA, valid for 127.0.0.1 and localhost.
    FromTestCa,
    /// Self-signed with `openssl req -x509` (CA:TRUE), for mail.old.example.
    SelfSigned,
}

/// How a private instance is set up for its load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sizing {
    /// A process per session, mail on the temp dir's disk: every session starts clean.
    Tests,
    /// As Dovecot's documentation advises for many users (imap processes reused, a few
    /// started ahead), with the mail in RAM (`/dev/shm`) when the machine has it: what a
    /// provider's server looks like, and not the inode allocator of a VM's disk, which was
    /// a sixth of the machine's time in a profile of the 1,000-mailbox probe.
    ManyUsers,
    /// As `Tests`, and a mail server's back end too: LMTP delivery with a Sieve script run
    /// before the user's (empty until [`Dovecot::sieve_before`]), and an auth listener
    /// for Postfix's SASL.
    MailFlow,
}

impl Dovecot {
    /// Starts a private instance, or returns `None` (after saying so) when Dovecot
    /// is not installed and the servers are not required.
    pub fn start(name: &str) -> Option<Dovecot> {
        Dovecot::start_serving(name, Certificate::FromTestCa, Sizing::Tests, None)
    }

    /// A Dovecot serving a cutover archive as it is (read a message and it is the archived
    /// file): `LAYOUT=fs`, UTF-8 names, INBOX in `INBOX/`, and its index and control files
    /// outside the archive, so serving it adds nothing inside and renames nothing.
    /// Mail processes run as the test mail uid: the archive is handed to it (`chown`).
    #[allow(dead_code)]
    pub fn start_serving_archive(name: &str, archive: &Path) -> Option<Dovecot> {
        Dovecot::start_serving(
            name,
            Certificate::FromTestCa,
            Sizing::Tests,
            Some(archive.to_path_buf()),
        )
    }

    /// Like [`Dovecot::start`], serving a self-signed `openssl req -x509` certificate.
    pub fn start_self_signed(name: &str) -> Option<Dovecot> {
        Dovecot::start_serving(name, Certificate::SelfSigned, Sizing::Tests, None)
    }

    /// Like [`Dovecot::start`], also taking mail over LMTP (through a Sieve script the
    /// test sets with [`Dovecot::sieve_before`]) and answering Postfix's SASL on a port.
    pub fn start_for_mail_flow(name: &str) -> Option<Dovecot> {
        Dovecot::start_serving(name, Certificate::FromTestCa, Sizing::MailFlow, None)
    }

    /// Like [`Dovecot::start`], set up for many users (the benchmarks).
    pub fn start_for_many_users(name: &str) -> Option<Dovecot> {
        Dovecot::start_serving(name, Certificate::FromTestCa, Sizing::ManyUsers, None)
    }

    fn start_serving(
        name: &str,
        certificate: Certificate,
        sizing: Sizing,
        archive: Option<PathBuf>,
    ) -> Option<Dovecot> {
        let Some(binary) = dovecot_binary() else {
            if servers_required() {
                panic!(
                    "dovecot not installed and CUTOVER_REQUIRE_SERVERS=1: install dovecot-imapd"
                );
            }
            println!("SKIPPED: dovecot not installed (apt-get install dovecot-imapd)");
            return None;
        };
        // Dovecot's master runs as root and mail files belong to MAIL_UID (chown).
        if !rustix::process::geteuid().is_root() {
            if servers_required() {
                panic!("the private Dovecot needs root and CUTOVER_REQUIRE_SERVERS=1");
            }
            println!("SKIPPED: the private Dovecot needs root");
            return None;
        }
        // Two tries: a port picked free may be taken by a parallel test before Dovecot binds it.
        let mut last = String::new();
        for _ in 0..3 {
            match Dovecot::try_start(&binary, name, certificate, sizing, archive.as_deref()) {
                Ok(d) => return Some(d),
                Err(e) => last = e,
            }
        }
        panic!("dovecot {name} did not start: {last}");
    }

    fn try_start(
        binary: &Path,
        name: &str,
        certificate: Certificate,
        sizing: Sizing,
        archive: Option<&Path>,
    ) -> Result<Dovecot, String> {
        let ram = Path::new("/dev/shm");
        let dir = tempfile::Builder::new()
            .prefix(&format!("cutover-dovecot-{name}-"))
            .tempdir_in(if sizing == Sizing::ManyUsers && ram.is_dir() {
                ram.to_path_buf()
            } else {
                std::env::temp_dir()
            })
            .map_err(|e| e.to_string())?;
        let base_dir = tempfile::Builder::new()
            .prefix("cdv")
            .tempdir_in("/tmp")
            .map_err(|e| e.to_string())?;
        // Mail processes run as MAIL_UID: they must traverse the temp dir.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        fs::set_permissions(base_dir.path(), fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        let root = dir.path();
        match certificate {
            Certificate::FromTestCa => make_certificates(root),
            Certificate::SelfSigned => make_self_signed_certificate(root),
        }
        for sub in ["mail", "state"] {
            fs::create_dir_all(root.join(sub)).map_err(|e| e.to_string())?;
        }
        rustix::fs::chown(
            root.join("mail"),
            Some(rustix::fs::Uid::from_raw(MAIL_UID)),
            Some(rustix::fs::Gid::from_raw(MAIL_UID)),
        )
        .map_err(|e| e.to_string())?;
        fs::write(root.join("users"), "").map_err(|e| e.to_string())?;
        fs::write(
            root.join("masters"),
            format!("{MASTER_USER}:{{PLAIN}}{MASTER_PASSWORD}\n"),
        )
        .map_err(|e| e.to_string())?;
        let imap_port = free_port();
        let imaps_port = free_port();
        let r = root.display();
        let conf = root.join("dovecot.conf");
        let instance = format!("cutover-{name}-{imap_port}");
        let mail_location = match archive {
            None => format!("maildir:{}/mail/%u", root.display()),
            Some(a) => {
                run(Command::new("chown").args([
                    "-R",
                    &format!("{MAIL_UID}:{MAIL_UID}"),
                    &a.to_string_lossy(),
                ]));
                format!(
                    "maildir:{a}/%u:LAYOUT=fs:UTF-8:INBOX={a}/%u/INBOX:INDEX={r}/mail/index/%u:CONTROL={r}/mail/control/%u",
                    a = a.display(),
                    r = root.display()
                )
            }
        };
        let (lmtp_port, auth_port) = match sizing {
            Sizing::MailFlow => (Some(free_port()), Some(free_port())),
            Sizing::Tests | Sizing::ManyUsers => (None, None),
        };
        let mail_flow = match (lmtp_port, auth_port) {
            (Some(lmtp), Some(auth)) => {
                fs::create_dir_all(root.join("sieve")).map_err(|e| e.to_string())?;
                fs::write(root.join("sieve/before.sieve"), "keep;\n").map_err(|e| e.to_string())?;
                rustix::fs::chown(
                    root.join("sieve"),
                    Some(rustix::fs::Uid::from_raw(MAIL_UID)),
                    Some(rustix::fs::Gid::from_raw(MAIL_UID)),
                )
                .map_err(|e| e.to_string())?;
                format!(
                    r#"protocols = imap lmtp
service lmtp {{
  inet_listener lmtp {{
    port = {lmtp}
  }}
}}
service auth {{
  inet_listener {{
    port = {auth}
  }}
}}
protocol lmtp {{
  mail_plugins = $mail_plugins sieve
}}
plugin {{
  sieve_before = {r}/sieve/before.sieve
  sieve_extensions = +fileinto
}}
lmtp_save_to_detail_mailbox = no
postmaster_address = postmaster@example.com
"#
                )
            }
            _ => "protocols = imap\n".to_string(),
        };
        let imap_processes = match sizing {
            Sizing::Tests | Sizing::MailFlow => "",
            // Not 0 (unlimited): Dovecot's docs warn that a process never restarted may leak.
            Sizing::ManyUsers => "  service_count = 100\n  process_min_avail = 4\n",
        };
        fs::write(
            &conf,
            format!(
                r#"instance_name = {instance}
base_dir = {base}
state_dir = {r}/state
log_path = {r}/dovecot.log
{mail_flow}listen = 127.0.0.1
ssl = yes
ssl_cert = <{r}/server.pem
ssl_key = <{r}/server.key
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
auth_master_user_separator = *
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1000
mail_location = {mail_location}
mail_max_userip_connections = 100
mail_fsync = never
login_trusted_networks =
service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
    ssl = yes
  }}
  service_count = 0
  process_min_avail = 1
}}
service imap {{
  process_limit = 1024
{imap_processes}}}
passdb {{
  driver = passwd-file
  master = yes
  args = scheme=PLAIN {r}/masters
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {r}/users
}}
userdb {{
  driver = passwd-file
  args = {r}/users
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \Sent
  }}
  mailbox Drafts {{
    special_use = \Drafts
  }}
  mailbox Trash {{
    special_use = \Trash
  }}
  mailbox Junk {{
    special_use = \Junk
  }}
  mailbox "All Mail" {{
    special_use = \All
  }}
}}
"#,
                base = base_dir.path().display(),
            ),
        )
        .map_err(|e| e.to_string())?;
        // Dovecot daemonizes; its children would hold a stdout pipe open forever, so
        // its start-up complaints go to a file instead.
        let startup_log = fs::File::create(root.join("startup.log")).map_err(|e| e.to_string())?;
        let status = Command::new(binary)
            .arg("-c")
            .arg(&conf)
            .stdin(std::process::Stdio::null())
            .stdout(startup_log.try_clone().map_err(|e| e.to_string())?)
            .stderr(startup_log)
            .status()
            .map_err(|e| e.to_string())?;
        let server_cert = root.join("server.pem");
        let ca_file = match certificate {
            Certificate::FromTestCa => root.join("ca.pem"),
            Certificate::SelfSigned => server_cert.clone(),
        };
        let dovecot = Dovecot {
            name: name.to_string(),
            dir,
            base_dir,
            conf,
            imap_port,
            imaps_port,
            ca_file,
            server_cert,
            used: std::sync::atomic::AtomicBool::new(false),
            lmtp_port,
            auth_port,
        };
        if !status.success() {
            let startup =
                fs::read_to_string(dovecot.dir.path().join("startup.log")).unwrap_or_default();
            return Err(format!("{startup} {}", dovecot.log()));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for port in [Some(imap_port), Some(imaps_port), lmtp_port, auth_port]
            .into_iter()
            .flatten()
        {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if Instant::now() > deadline {
                    return Err(format!("port {port} never opened: {}", dovecot.log()));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(dovecot)
    }

    /// The server's log so far (for assertion messages).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// Replaces the Sieve script LMTP runs before each user's own (a mail-flow instance):
    /// e.g. `fileinto "Junk";` under a condition, as a provider's spam filter would.
    pub fn sieve_before(&self, script: &str) {
        let path = self.dir.path().join("sieve/before.sieve");
        fs::write(&path, script).expect("write the sieve script");
        // Dovecot compiles the script again when it is newer than its binary.
        let _ = fs::remove_file(self.dir.path().join("sieve/before.svbin"));
    }

    /// Replaces the capabilities announced after login (`imap_capability`), e.g. a server
    /// without UIDPLUS, and makes Dovecot read its configuration again.
    pub fn imap_capability(&self, capabilities: &str) {
        use std::io::Write;
        fs::OpenOptions::new()
            .append(true)
            .open(&self.conf)
            .and_then(|mut f| writeln!(f, "imap_capability = {capabilities}"))
            .expect("append to dovecot.conf");
        self.doveadm(&["reload"]);
        // The reload restarts the listeners: wait until they answer again.
        std::thread::sleep(Duration::from_millis(500));
    }

    /// Adds a user (login with domain, e.g. `alice@example.com`); takes effect at once.
    pub fn add_user(&self, login: &str, password: &str) {
        self.add_users(&[(login, password)]);
    }

    /// Adds users in one write; takes effect at once.
    pub fn add_users(&self, users: &[(&str, &str)]) {
        use std::io::Write;
        let mut text = String::new();
        for (login, password) in users {
            let home = self.dir.path().join("mail").join(login);
            text.push_str(&format!(
                "{login}:{{PLAIN}}{password}:{MAIL_UID}:{MAIL_UID}::{}::\n",
                home.display()
            ));
        }
        fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("users"))
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .expect("write users file");
        // Dovecot looks at the passwd-file at most once per wall-clock second: once it
        // has read it, a change is seen only from the next second on.
        if self.used.load(std::sync::atomic::Ordering::SeqCst) {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            std::thread::sleep(
                Duration::from_millis(1_050) - Duration::from_nanos(u64::from(now.subsec_nanos())),
            );
        }
    }

    /// The maildir of a folder (`INBOX` or a folder name in UTF-8, `/` separated).
    pub fn folder_dir(&self, login: &str, folder: &str) -> PathBuf {
        let root = self.dir.path().join("mail").join(login);
        if folder.eq_ignore_ascii_case("INBOX") {
            root
        } else {
            // Maildir++: `.` + the modified-UTF-7 name with `/` as `.`.
            let encoded = cutover::mail::utf7::encode(folder).replace('/', ".");
            root.join(format!(".{encoded}"))
        }
    }

    /// Writes messages into a folder's `cur/` (creating it) and lets Dovecot index them.
    pub fn seed(&self, login: &str, folder: &str, messages: &[SeedMessage]) {
        let dir = self.folder_dir(login, folder);
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(dir.join(sub)).expect("create maildir");
        }
        if !folder.eq_ignore_ascii_case("INBOX") {
            fs::write(dir.join("maildirfolder"), "").expect("maildirfolder");
        }
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        for m in messages {
            let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut flags: Vec<char> = m.flags.chars().collect();
            flags.sort_unstable();
            let flags: String = flags.into_iter().collect();
            let file = dir.join("cur").join(format!(
                "{}.M{n}P{}.cutover-test,S={}:2,{flags}",
                m.internal_date,
                std::process::id(),
                m.raw.len()
            ));
            fs::write(&file, &m.raw).expect("write message");
            let time = std::time::UNIX_EPOCH + Duration::from_secs(m.internal_date as u64);
            let f = fs::File::options()
                .write(true)
                .open(&file)
                .expect("open message");
            f.set_times(fs::FileTimes::new().set_modified(time).set_accessed(time))
                .expect("set mtime");
        }
        self.chown_mail();
        self.doveadm(&["mailbox", "status", "-u", login, "messages", "*"]);
    }

    /// Declares a keyword for a folder: messages seeded with flag letter `a` + index carry it.
    pub fn seed_keywords(&self, login: &str, folder: &str, keywords: &[&str]) {
        let dir = self.folder_dir(login, folder);
        fs::create_dir_all(&dir).expect("create maildir");
        let text: String = keywords
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{i} {k}\n"))
            .collect();
        fs::write(dir.join("dovecot-keywords"), text).expect("write dovecot-keywords");
        self.chown_mail();
    }

    fn chown_mail(&self) {
        run(Command::new("chown").args([
            "-R",
            &format!("{MAIL_UID}:{MAIL_UID}"),
            &self.dir.path().join("mail").to_string_lossy(),
        ]));
    }

    /// Runs doveadm against this instance (never the system config); returns stdout.
    pub fn doveadm(&self, args: &[&str]) -> String {
        self.used.store(true, std::sync::atomic::Ordering::SeqCst);
        let out = Command::new("doveadm")
            .arg("-c")
            .arg(&self.conf)
            .args(args)
            .output()
            .expect("run doveadm");
        assert!(
            out.status.success(),
            "doveadm {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// How many IMAP sessions of `login` the server still has (`doveadm who`): a session
    /// whose client is gone lives on until it has finished the commands it had received.
    pub fn sessions(&self, login: &str) -> usize {
        self.doveadm(&["who", "-1", login])
            .lines()
            .filter(|line| line.split_whitespace().next() == Some(login))
            .count()
    }

    /// Waits (at most 10 s) until the server has no session of `login` left.
    pub fn wait_until_no_sessions(&self, login: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.sessions(login) > 0 {
            assert!(
                Instant::now() < deadline,
                "{login} still has sessions after 10 s: {}",
                self.doveadm(&["who", "-1", login])
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every message file of a user (path relative to the maildir → contents),
    /// Dovecot's own index and state files left out: a byte-for-byte picture of the mail.
    pub fn message_files(&self, login: &str) -> BTreeMap<String, Vec<u8>> {
        let root = self.dir.path().join("mail").join(login);
        let mut files = BTreeMap::new();
        fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<String, Vec<u8>>) {
            let Ok(entries) = fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(root, &path, files);
                } else {
                    let parent = path
                        .parent()
                        .and_then(|p| p.file_name())
                        .unwrap_or_default();
                    if parent == "cur" || parent == "new" {
                        let rel = path.strip_prefix(root).unwrap_or(&path);
                        files.insert(
                            rel.to_string_lossy().into_owned(),
                            fs::read(&path).unwrap_or_default(),
                        );
                    }
                }
            }
        }
        walk(&root, &root, &mut files);
        files
    }

    /// An endpoint for the plan: implicit TLS, STARTTLS or plain, verified against our CA.
    pub fn endpoint(&self, security: Security) -> ImapEndpoint {
        self.used.store(true, std::sync::atomic::Ordering::SeqCst);
        let (scheme, port) = match security {
            Security::Implicit => ("imaps", self.imaps_port),
            Security::StartTls | Security::None => ("imap", self.imap_port),
        };
        ImapEndpoint {
            url: format!("{scheme}://127.0.0.1:{port}"),
            host: "127.0.0.1".to_string(),
            port,
            security,
            ca_file: Some(self.ca_file.clone()),
            insecure_skip_verify: false,
            pin_sha256: None,
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM to the master, not waited for: its shutdown takes seconds (`doveadm stop`
        // waits for it), and a test has no use for it once dropped.
        let master = fs::read_to_string(self.base_dir.path().join("master.pid"))
            .ok()
            .and_then(|pid| pid.trim().parse::<libc::pid_t>().ok());
        if let Some(pid) = master
            // SAFETY: kill(2) with a pid read from this instance's own pid file.
            && unsafe { libc::kill(pid, libc::SIGTERM) } == 0
        {
            return;
        }
        let _ = Command::new("doveadm")
            .arg("-c")
            .arg(&self.conf)
            .arg("stop")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// A plan for copying between two private instances: the given mailboxes (address = login on
/// both sides), passwords from a 0600 secrets file the caller wrote, implicit TLS.
pub fn plan(
    old: &Dovecot,
    new: &Dovecot,
    addresses: &[&str],
    secrets_file: &Path,
) -> cutover::plan::Plan {
    plan_for_endpoints(
        old.endpoint(Security::Implicit),
        new.endpoint(Security::Implicit),
        addresses,
        secrets_file,
    )
}

/// The same plan for any two endpoints (e.g. a proxy in front of a server).
pub fn plan_for_endpoints(
    old: ImapEndpoint,
    new: ImapEndpoint,
    addresses: &[&str],
    secrets_file: &Path,
) -> cutover::plan::Plan {
    use cutover::plan::*;
    let side = |imap: ImapEndpoint, name: &str| Side {
        name: name.to_string(),
        mx: vec![],
        spf: vec![],
        dkim_selector: None,
        imap,
        smtp: vec![],
        submission: None,
    };
    Plan {
        path: secrets_file.with_file_name("plan.toml"),
        domain: "example.com".to_string(),
        start: jiff::civil::date(2026, 1, 5).at(8, 0, 0, 0),
        timezone_name: "UTC".to_string(),
        timezone: jiff::tz::TimeZone::UTC,
        working_days: vec![],
        operator: "test".to_string(),
        dns: DnsPlan {
            migration_ttl: 300,
            restore_ttl_mx: 86400,
            restore_ttl_txt: 21600,
            old_ttl: None,
            poll: Duration::from_secs(30),
            timeout: Duration::from_secs(2),
            resolvers: vec![],
            authoritative: vec![],
            names: Default::default(),
        },
        old: side(old, "old"),
        new: side(new, "new"),
        credentials: Some(Credentials {
            secrets_file: Some(secrets_file.to_path_buf()),
            ..Credentials::default()
        }),
        sync: SyncPlan::default(),
        archive: None,
        mailboxes: addresses
            .iter()
            .map(|a| Mailbox {
                address: a.to_string(),
                old_login: a.to_string(),
                new_login: a.to_string(),
                ..Mailbox::default()
            })
            .collect(),
        extra_steps: vec![],
        canary: None,
    }
}

/// The plan file (TOML) the CLI tests write for two private instances: implicit TLS with
/// each test CA, DNS on a loopback port nothing answers, passwords from `secrets.toml`
/// beside it; `tables` (e.g. `[archive]`) goes before the mailboxes.
pub fn plan_text(old: &Dovecot, new: &Dovecot, addresses: &[&str], tables: &str) -> String {
    let side = |d: &Dovecot| {
        let e = d.endpoint(Security::Implicit);
        format!(
            "{{ url = \"{}\", ca_file = \"{}\" }}",
            e.url,
            e.ca_file.expect("test CA").display()
        )
    };
    let mailboxes: String = addresses
        .iter()
        .map(|a| format!("\n[[mailbox]]\naddress = \"{a}\"\n"))
        .collect();
    format!(
        r#"domain = "example.com"
start = "2026-12-07T09:00"
timezone = "Europe/Vilnius"
operator = "tester"

[dns]
resolvers = ["127.0.0.1:9"]
authoritative = ["127.0.0.1:9"]
timeout = "300ms"

[old]
mx = ["10 mx1.old.example."]
spf = ["include:_spf.old.example"]
imap = {}

[new]
mx = ["1 smtp.new.example."]
spf = ["include:_spf.new.example"]
dkim_selector = "sel1"
imap = {}

[credentials]
secrets_file = "secrets.toml"
{tables}{mailboxes}"#,
        side(old),
        side(new)
    )
}

/// Writes a secrets file (mode 0600): `(address, old password, new password)` and an optional admin.
pub fn write_secrets(path: &Path, users: &[(&str, &str, &str)], admin: Option<(&str, &str)>) {
    let mut text = String::new();
    for (address, old, new) in users {
        text.push_str(&format!(
            "[\"{address}\"]\nold = \"{old}\"\nnew = \"{new}\"\n"
        ));
    }
    if let Some((old, new)) = admin {
        text.push_str(&format!("[admin]\nold = \"{old}\"\nnew = \"{new}\"\n"));
    }
    fs::write(path, text).expect("write secrets");
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).expect("chmod secrets");
}
