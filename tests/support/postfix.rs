//! A private Postfix for tests: the new MX on a loopback port, configured from a temp
//! dir (never the system config), accepting only the addresses it is given, with
//! STARTTLS and a certificate for `mx.new.test` signed by a test CA; stopped on drop.
//!
//! `Postfix::start(&[..])` returns `None` after printing a SKIPPED line when Postfix is
//! not installed or we are not root, unless `CUTOVER_REQUIRE_SERVERS=1` (CI), where it
//! panics instead: the tests never pass silently without their server.

#![allow(dead_code)]

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The name the server's certificate and banner carry.
pub const MX_HOST: &str = "mx.new.test";
/// The domain whose addresses it accepts (those listed, and no others).
pub const DOMAIN: &str = "example.com";

/// One running private Postfix.
pub struct Postfix {
    dir: tempfile::TempDir,
    binary: PathBuf,
    /// `postfix start-fg`: Postfix's master runs in it until `postfix stop`.
    master: Child,
    pub port: u16,
    /// The CA that signed the server's certificate (the probe's extra trust anchor).
    pub ca_file: PathBuf,
    /// The submission port (STARTTLS required, SMTP AUTH through Dovecot's SASL), when set up.
    pub submission_port: Option<u16>,
    /// The loopback address it listens on and sends from.
    pub bind: String,
    setup: Setup,
}

/// How one private Postfix is set up: [`Postfix::start`] is the new MX of the SMTP probe's
/// tests; [`Postfix::start_with`] a mail server of a mail flow (`tests/support/mailflow.rs`).
#[derive(Debug, Clone)]
pub struct Setup {
    /// `myhostname`, the banner and the certificate's name.
    pub host_name: String,
    /// The loopback address it listens on (master.cf's `address:port`; `inet_interfaces`
    /// only takes addresses configured on an interface, and lo has 127.0.0.1 alone) and
    /// sends from (`smtp_bind_address`), so each instance is its own host.
    pub bind: String,
    /// The domain whose listed addresses it accepts.
    pub domain: String,
    pub accepted: Vec<String>,
    /// Deliver accepted mail over LMTP to this port on 127.0.0.1 (a Dovecot); else the
    /// mail stays queued (the SMTP probe never sends DATA).
    pub lmtp_port: Option<u16>,
    /// Offer a submission port whose SMTP AUTH asks Dovecot's auth service on this port.
    pub sasl_port: Option<u16>,
    /// Whether the submission port offers SMTP AUTH (off: a provider that disabled it).
    pub submission_auth: bool,
    /// Sign the certificate with this CA (`ca.pem` and `ca.key` in the folder), e.g. the
    /// Dovecot's of the same server, so one `ca_file` trusts both; else a CA of its own.
    pub ca_dir: Option<PathBuf>,
    /// main.cf lines that replace the base's of the same name or add to them (a milter, a
    /// relay for `mynetworks`). Replace, never repeat: each repeated name makes every
    /// Postfix process warn at start, and a burst of warnings fills postlogd's own socket
    /// before it reads it (a deadlock: the instance never delivers and `postfix stop` hangs).
    pub main_cf: String,
}

impl Setup {
    fn probe_target(accepted: &[&str]) -> Setup {
        Setup {
            host_name: MX_HOST.to_string(),
            bind: "127.0.0.1".to_string(),
            domain: DOMAIN.to_string(),
            accepted: accepted.iter().map(|a| a.to_string()).collect(),
            lmtp_port: None,
            sasl_port: None,
            submission_auth: true,
            ca_dir: None,
            main_cf: String::new(),
        }
    }
}

/// Whether a missing Postfix fails the test (CI) or skips it.
fn servers_required() -> bool {
    std::env::var("CUTOVER_REQUIRE_SERVERS").is_ok_and(|v| v == "1")
}

fn postfix_binary() -> Option<PathBuf> {
    // CUTOVER_POSTFIX_BIN names another binary (or a missing one, to try the skip path).
    if let Some(path) = std::env::var_os("CUTOVER_POSTFIX_BIN") {
        let path = PathBuf::from(path);
        return path.exists().then_some(path);
    }
    ["/usr/sbin/postfix", "/usr/local/sbin/postfix"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn free_port(ip: &str) -> u16 {
    let listener = TcpListener::bind((ip, 0)).expect("bind an ephemeral port");
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

/// A leaf for the host name and its loopback address, valid 30 days, signed by the CA in
/// `ca_dir` or by a test CA made here (rustls refuses a self-signed CA:TRUE certificate as
/// a server's, so the leaf is a real end entity). Returns the CA's PEM file.
fn make_certificates(dir: &Path, setup: &Setup) -> PathBuf {
    let d = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let (ca_pem, ca_key) = match &setup.ca_dir {
        Some(ca) => (ca.join("ca.pem"), ca.join("ca.key")),
        None => {
            run(Command::new("openssl")
                .args(["req", "-x509"])
                .args(ec)
                .args(["-days", "30", "-subj", "/CN=cutover test CA"])
                .args(["-keyout", &d("ca.key"), "-out", &d("ca.pem")]));
            (dir.join("ca.pem"), dir.join("ca.key"))
        }
    };
    let host = &setup.host_name;
    fs::write(
        dir.join("ext.cnf"),
        format!(
            "subjectAltName=DNS:{host},IP:{}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
            setup.bind
        ),
    )
    .expect("write ext.cnf");
    run(Command::new("openssl")
        .arg("req")
        .args(ec)
        .args(["-subj", &format!("/CN={host}")])
        .args(["-keyout", &d("server.key"), "-out", &d("server.csr")]));
    run(Command::new("openssl").args([
        "x509",
        "-req",
        "-in",
        &d("server.csr"),
        "-CA",
        &ca_pem.to_string_lossy(),
        "-CAkey",
        &ca_key.to_string_lossy(),
        "-CAserial",
        &d("ca.srl"),
        "-CAcreateserial",
        "-days",
        "30",
        "-extfile",
        &d("ext.cnf"),
        "-out",
        &d("server.pem"),
    ]));
    ca_pem
}

impl Postfix {
    /// Starts a private instance accepting exactly `accepted` (addresses at
    /// [`DOMAIN`]), or returns `None` (after saying so) when it cannot run here and
    /// the servers are not required.
    pub fn start(accepted: &[&str]) -> Option<Postfix> {
        Postfix::start_with(Setup::probe_target(accepted))
    }

    /// Starts a private instance set up as `setup` says, or returns `None` as [`Postfix::start`].
    pub fn start_with(setup: Setup) -> Option<Postfix> {
        let Some(binary) = postfix_binary() else {
            if servers_required() {
                panic!("postfix not installed and CUTOVER_REQUIRE_SERVERS=1: install postfix");
            }
            println!("SKIPPED: postfix not installed (apt-get install postfix)");
            return None;
        };
        // Postfix's master runs as root and drops to the `postfix` user.
        if !rustix::process::geteuid().is_root() {
            if servers_required() {
                panic!("the private Postfix needs root and CUTOVER_REQUIRE_SERVERS=1");
            }
            println!("SKIPPED: the private Postfix needs root");
            return None;
        }
        // Three tries: a port picked free may be taken by a parallel test before Postfix binds it.
        let mut last = String::new();
        for _ in 0..3 {
            match Postfix::try_start(&binary, &setup) {
                Ok(p) => return Some(p),
                Err(e) => last = e,
            }
        }
        panic!("postfix did not start: {last}");
    }

    fn try_start(binary: &Path, setup: &Setup) -> Result<Postfix, String> {
        let dir = tempfile::Builder::new()
            .prefix("cutover-postfix-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        // The `postfix` user must reach its data directory below this one.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        let root = dir.path();
        let ca_file = make_certificates(root, setup);
        fs::create_dir_all(root.join("queue")).map_err(|e| e.to_string())?;
        fs::create_dir_all(root.join("data")).map_err(|e| e.to_string())?;
        run(Command::new("chown").arg("postfix").arg(root.join("data")));
        let accepted: Vec<&str> = setup.accepted.iter().map(String::as_str).collect();
        write_addresses(&root.join("vmailbox"), &setup.domain, &accepted)?;
        fs::write(root.join("transport"), "").map_err(|e| e.to_string())?;

        let bind = &setup.bind;
        let port = free_port(bind);
        let submission_port = setup.sasl_port.map(|_| free_port(bind));
        let r = root.display();
        let delivery = match setup.lmtp_port {
            Some(lmtp) => format!("virtual_transport = lmtp:inet:127.0.0.1:{lmtp}\n"),
            None => String::new(),
        };
        let sasl = match setup.sasl_port {
            Some(sasl) => {
                format!("smtpd_sasl_type = dovecot\nsmtpd_sasl_path = inet:127.0.0.1:{sasl}\n")
            }
            None => String::new(),
        };
        let base = format!(
            "compatibility_level = 3.7
queue_directory = {r}/queue
data_directory = {r}/data
maillog_file = {r}/maillog
maillog_file_prefixes = {r}
myhostname = {host}
smtpd_banner = $myhostname ESMTP
mydestination =
inet_interfaces = all
inet_protocols = ipv4
smtp_bind_address = {bind}
smtpd_peername_lookup = no
alias_maps =
alias_database =
virtual_mailbox_domains = {domain}
virtual_mailbox_maps = texthash:{r}/vmailbox
transport_maps = texthash:{r}/transport
smtpd_relay_restrictions = reject_unauth_destination
smtpd_tls_cert_file = {r}/server.pem
smtpd_tls_key_file = {r}/server.key
smtpd_tls_security_level = may
smtp_tls_security_level = may
{delivery}{sasl}",
            host = setup.host_name,
            domain = setup.domain,
        );
        fs::write(
            root.join("main.cf"),
            replace_settings(&base, &setup.main_cf),
        )
        .map_err(|e| e.to_string())?;
        write_master_cf(root, bind, port, submission_port, setup.submission_auth)?;

        // Start-up complaints (before the log file is open) go to a file, never a pipe.
        let startup = fs::File::create(root.join("startup.log")).map_err(|e| e.to_string())?;
        let master = Command::new(binary)
            .arg("-c")
            .arg(root)
            .arg("start-fg")
            .stdin(Stdio::null())
            .stdout(startup.try_clone().map_err(|e| e.to_string())?)
            .stderr(startup)
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut postfix = Postfix {
            binary: binary.to_path_buf(),
            ca_file,
            dir,
            master,
            port,
            submission_port,
            bind: bind.clone(),
            setup: setup.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect((bind.as_str(), port)).is_err()
            || submission_port.is_some_and(|p| TcpStream::connect((bind.as_str(), p)).is_err())
        {
            if let Ok(Some(status)) = postfix.master.try_wait() {
                // `postfix check` says what start-fg did not (it prints nothing without syslog).
                let check = Command::new(&postfix.binary)
                    .arg("-c")
                    .arg(postfix.dir.path())
                    .arg("check")
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                    .unwrap_or_default();
                return Err(format!(
                    "postfix start-fg exited ({status}): {} {} {check}",
                    postfix.startup_log(),
                    postfix.log()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "port {port} never opened: {} {}",
                    postfix.startup_log(),
                    postfix.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(postfix)
    }

    /// The server's log so far (`maillog_file`).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    fn startup_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("startup.log")).unwrap_or_default()
    }

    /// The log once it holds a line containing `needle` (postlogd writes a little
    /// after the fact); the log as it is after 10 s otherwise.
    pub fn log_once(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.contains(needle) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// smtpd's `disconnect from … ehlo=2 starttls=1 mail=1 rcpt=2/3 …` lines, one per SMTP
    /// session, once there are at least `sessions` of them (or after 10 s). The harness's
    /// own readiness check (a connection without a command, `commands=0/0`) is left out.
    pub fn smtp_sessions(&self, sessions: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines: Vec<String> = self
                .log()
                .lines()
                .filter(|l| l.contains("disconnect from") && !l.ends_with(" commands=0/0"))
                .map(str::to_string)
                .collect();
            if lines.len() >= sessions || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Replaces the accepted addresses and makes Postfix read them again.
    pub fn accept_only(&self, accepted: &[&str]) {
        write_addresses(
            &self.dir.path().join("vmailbox"),
            &self.setup.domain,
            accepted,
        )
        .expect("write vmailbox");
        self.reload();
    }

    /// Replaces the transport map (`domain` → `nexthop`, e.g. `smtp:[127.0.0.3]:2525`, or
    /// `discard:` to drop the domain's mail) and makes Postfix read it again: at the
    /// external server, the world's MX lookup for the migrated domain.
    pub fn route(&self, routes: &[(&str, &str)]) {
        let text: String = routes
            .iter()
            .map(|(domain, nexthop)| format!("{domain} {nexthop}\n"))
            .collect();
        fs::write(self.dir.path().join("transport"), text).expect("write transport");
        self.reload();
    }

    /// Sets main.cf parameters (`postconf -e`) and makes Postfix read them again.
    pub fn set(&self, parameters: &[(&str, &str)]) {
        for (name, value) in parameters {
            run(Command::new("postconf")
                .arg("-c")
                .arg(self.dir.path())
                .arg("-e")
                .arg(format!("{name}={value}")));
        }
        self.reload();
    }

    /// Writes a file in the instance's folder (a map a parameter names); returns its path.
    pub fn write_file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::write(&path, text).expect("write a Postfix file");
        path
    }

    /// Switches SMTP AUTH on the submission port on or off (a provider that disabled it).
    pub fn submission_auth(&self, enabled: bool) {
        write_master_cf(
            self.dir.path(),
            &self.bind,
            self.port,
            self.submission_port,
            enabled,
        )
        .expect("write master.cf");
        self.reload();
    }

    /// Waits (at most 20 s) until the queue is empty: every message delivered or dropped.
    pub fn wait_for_empty_queue(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = Command::new("postqueue")
                .arg("-c")
                .arg(self.dir.path())
                .arg("-j")
                .output()
                .expect("run postqueue");
            if out.stdout.is_empty() || Instant::now() > deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn reload(&self) {
        run(Command::new(&self.binary)
            .arg("-c")
            .arg(self.dir.path())
            .arg("reload"));
    }
}

/// master.cf from Postfix's own prototype: smtpd on the instance's address and port, and
/// with a submission port, a second smtpd there that requires STARTTLS and (if `auth`)
/// offers SMTP AUTH, relaying only for those who authenticated.
fn write_master_cf(
    root: &Path,
    bind: &str,
    port: u16,
    submission_port: Option<u16>,
    auth: bool,
) -> Result<(), String> {
    let proto = fs::read_to_string("/etc/postfix/master.cf.proto").map_err(|e| e.to_string())?;
    let mut replaced = false;
    let mut master_cf: String = proto
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.first() == Some(&"smtp") && fields.get(1) == Some(&"inet") {
                replaced = true;
                format!("{bind}:{port} inet n - n - - smtpd")
            } else {
                line.to_string()
            }
        })
        .map(|line| line + "\n")
        .collect();
    if !replaced {
        return Err("no `smtp inet` line in /etc/postfix/master.cf.proto".to_string());
    }
    if let Some(submission) = submission_port {
        let relay = if auth {
            "permit_sasl_authenticated,reject"
        } else {
            "reject"
        };
        master_cf.push_str(&format!(
            "{bind}:{submission} inet n - n - - smtpd
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable={}
  -o smtpd_relay_restrictions={relay}
  -o smtpd_recipient_restrictions=
",
            if auth { "yes" } else { "no" }
        ));
    }
    fs::write(root.join("master.cf"), master_cf).map_err(|e| e.to_string())
}

/// `base` with every setting `extra` names replaced by `extra`'s line, and `extra`'s new
/// settings added.
fn replace_settings(base: &str, extra: &str) -> String {
    let name = |line: &str| line.split('=').next().unwrap_or("").trim().to_string();
    let replaced: Vec<String> = extra
        .lines()
        .filter(|l| l.contains('='))
        .map(name)
        .collect();
    let mut text: String = base
        .lines()
        .filter(|l| !replaced.contains(&name(l)))
        .map(|l| format!("{l}\n"))
        .collect();
    for line in extra.lines().filter(|l| !l.trim().is_empty()) {
        text.push_str(line);
        text.push('\n');
    }
    text
}

fn write_addresses(path: &Path, domain: &str, accepted: &[&str]) -> Result<(), String> {
    let text: String = accepted
        .iter()
        .map(|a| format!("{a} {domain}/{a}/\n"))
        .collect();
    fs::write(path, text).map_err(|e| e.to_string())
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new(&self.binary)
            .arg("-c")
            .arg(self.dir.path())
            .arg("stop")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // The master exits on `stop`; wait for it (never leave it behind), briefly.
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.master.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if matches!(self.master.try_wait(), Ok(None)) {
            let _ = self.master.kill();
            let _ = self.master.wait();
        }
    }
}
