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
}

/// Another server of a mail flow (the probe's target is [`Postfix::start`]'s): its own
/// host name, its own loopback address to listen on and send from (so SPF can tell the
/// servers apart), and main.cf lines that replace the probe target's of the same name or
/// add to them. Replace, never repeat: each repeated name makes every Postfix process
/// warn at start, and a burst of warnings fills postlogd's own socket before it reads it
/// (a deadlock: the instance never delivers and `postfix stop` hangs).
pub struct Instance<'a> {
    pub host_name: &'a str,
    pub bind: &'a str,
    pub main_cf: &'a str,
}

const PROBE_TARGET: Instance<'static> = Instance {
    host_name: MX_HOST,
    bind: "127.0.0.1",
    main_cf: "",
};

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

/// A test CA and a leaf for `mx.new.test` it signed, valid 30 days (rustls refuses a
/// self-signed CA:TRUE certificate as a server's, so the leaf is a real end entity).
fn make_certificates(dir: &Path) {
    let d = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(Command::new("openssl")
        .args(["req", "-x509"])
        .args(ec)
        .args(["-days", "30", "-subj", "/CN=cutover test CA"])
        .args(["-keyout", &d("ca.key"), "-out", &d("ca.pem")]));
    fs::write(
        dir.join("ext.cnf"),
        format!(
            "subjectAltName=DNS:{MX_HOST}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
        ),
    )
    .expect("write ext.cnf");
    run(Command::new("openssl")
        .arg("req")
        .args(ec)
        .args(["-subj", &format!("/CN={MX_HOST}")])
        .args(["-keyout", &d("server.key"), "-out", &d("server.csr")]));
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
        "30",
        "-extfile",
        &d("ext.cnf"),
        "-out",
        &d("server.pem"),
    ]));
}

impl Postfix {
    /// Starts a private instance accepting exactly `accepted` (addresses at
    /// [`DOMAIN`]), or returns `None` (after saying so) when it cannot run here and
    /// the servers are not required.
    pub fn start(accepted: &[&str]) -> Option<Postfix> {
        Postfix::start_instance(accepted, &PROBE_TARGET)
    }

    /// Starts another server of a mail flow, as [`Instance`] says; `None` as [`Postfix::start`].
    pub fn start_instance(accepted: &[&str], instance: &Instance) -> Option<Postfix> {
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
            match Postfix::try_start(&binary, accepted, instance) {
                Ok(p) => return Some(p),
                Err(e) => last = e,
            }
        }
        panic!("postfix did not start: {last}");
    }

    fn try_start(binary: &Path, accepted: &[&str], instance: &Instance) -> Result<Postfix, String> {
        let dir = tempfile::Builder::new()
            .prefix("cutover-postfix-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        // The `postfix` user must reach its data directory below this one.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        let root = dir.path();
        make_certificates(root);
        fs::create_dir_all(root.join("queue")).map_err(|e| e.to_string())?;
        fs::create_dir_all(root.join("data")).map_err(|e| e.to_string())?;
        run(Command::new("chown").arg("postfix").arg(root.join("data")));
        write_addresses(&root.join("vmailbox"), accepted)?;

        let port = free_port();
        let r = root.display();
        let (host_name, bind, extra) = (instance.host_name, instance.bind, instance.main_cf);
        let base = format!(
            "compatibility_level = 3.7
queue_directory = {r}/queue
data_directory = {r}/data
maillog_file = {r}/maillog
maillog_file_prefixes = {r}
myhostname = {host_name}
smtpd_banner = $myhostname ESMTP
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
alias_maps =
alias_database =
virtual_mailbox_domains = {DOMAIN}
virtual_mailbox_maps = texthash:{r}/vmailbox
smtpd_relay_restrictions = reject_unauth_destination
smtpd_tls_cert_file = {r}/server.pem
smtpd_tls_key_file = {r}/server.key
smtpd_tls_security_level = may
"
        );
        fs::write(root.join("main.cf"), replace_settings(&base, extra))
            .map_err(|e| e.to_string())?;
        let proto =
            fs::read_to_string("/etc/postfix/master.cf.proto").map_err(|e| e.to_string())?;
        let mut replaced = false;
        let master_cf: String = proto
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
        fs::write(root.join("master.cf"), master_cf).map_err(|e| e.to_string())?;

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
            ca_file: root.join("ca.pem"),
            dir,
            master,
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect((bind, port)).is_err() {
            if let Ok(Some(status)) = postfix.master.try_wait() {
                return Err(format!(
                    "postfix start-fg exited ({status}): {} {}",
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
        write_addresses(&self.dir.path().join("vmailbox"), accepted).expect("write vmailbox");
        run(Command::new(&self.binary)
            .arg("-c")
            .arg(self.dir.path())
            .arg("reload"));
    }
}

/// `base` main.cf text with each `name = value` line of `extra` replacing the line of
/// the same name, or added at the end.
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

fn write_addresses(path: &Path, accepted: &[&str]) -> Result<(), String> {
    let text: String = accepted
        .iter()
        .map(|a| format!("{a} {DOMAIN}/{a}/\n"))
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
