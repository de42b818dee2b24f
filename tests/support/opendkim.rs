//! A private OpenDKIM for tests, as a Postfix milter on a loopback port, configured from
//! a temp dir (never the system config), stopped on drop: a signer for the new server's
//! outgoing mail, or a verifier at the receiver that writes Authentication-Results and
//! reads keys from the test's DNS server (through libunbound, told to ask it).
//!
//! `OpenDkim::signer` and `OpenDkim::verifier` return `None` after printing a SKIPPED line
//! when OpenDKIM is not installed, unless `CUTOVER_REQUIRE_SERVERS=1` (CI), where they
//! panic instead: the tests never pass silently without their server.

#![allow(dead_code)]

use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const OPENDKIM: &str = "/usr/sbin/opendkim";
const GENKEY: &str = "/usr/sbin/opendkim-genkey";

/// A DKIM key pair made by `opendkim-genkey`.
pub struct Key {
    pub domain: String,
    pub selector: String,
    /// The private key (PEM), for the signer.
    pub private: PathBuf,
    /// The TXT record's text as `opendkim-genkey` wrote it (`v=DKIM1; h=sha256; k=rsa; p=…`).
    pub record: String,
}

/// One running OpenDKIM.
pub struct OpenDkim {
    dir: tempfile::TempDir,
    child: Child,
    /// Its milter port on 127.0.0.1 (`smtpd_milters = inet:127.0.0.1:PORT`).
    pub port: u16,
}

fn servers_required() -> bool {
    std::env::var("CUTOVER_REQUIRE_SERVERS").is_ok_and(|v| v == "1")
}

fn installed() -> bool {
    if Path::new(OPENDKIM).exists() && Path::new(GENKEY).exists() {
        return true;
    }
    if servers_required() {
        panic!(
            "opendkim not installed and CUTOVER_REQUIRE_SERVERS=1: install opendkim opendkim-tools"
        );
    }
    println!("SKIPPED: opendkim not installed (apt-get install opendkim opendkim-tools)");
    false
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// Makes a 2048-bit RSA key for `selector._domainkey.domain` in `dir`; `None` when
/// OpenDKIM is not installed (and not required).
pub fn genkey(dir: &Path, domain: &str, selector: &str) -> Option<Key> {
    if !installed() {
        return None;
    }
    let out = Command::new(GENKEY)
        .args(["-b", "2048", "-s", selector, "-d", domain, "-D"])
        .arg(dir)
        .output()
        .expect("run opendkim-genkey");
    assert!(
        out.status.success(),
        "opendkim-genkey: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `sel._domainkey IN TXT ( "v=DKIM1; h=sha256; k=rsa; " "p=MIIB…" "…" ) ; comment`:
    // the record is the quoted strings joined.
    let zone_text = fs::read_to_string(dir.join(format!("{selector}.txt"))).expect("read key .txt");
    let record: String = zone_text.split('"').skip(1).step_by(2).collect();
    assert!(record.contains("p="), "no key in {zone_text}");
    Some(Key {
        domain: domain.to_string(),
        selector: selector.to_string(),
        private: dir.join(format!("{selector}.private")),
        record,
    })
}

impl OpenDkim {
    /// Signs mail whose From is at `from_domain` with `key` (its own `d=` and selector,
    /// which need not be `from_domain`'s: a provider signing with its own domain), for
    /// clients on 127.0.0.0/8.
    pub fn signer(from_domain: &str, key: &Key) -> Option<OpenDkim> {
        if !installed() {
            return None;
        }
        let config = |dir: &Path| {
            let d = dir.display();
            fs::write(
                dir.join("signing.table"),
                format!("*@{from_domain} signing-key\n"),
            )
            .expect("write signing table");
            fs::write(
                dir.join("key.table"),
                format!(
                    "signing-key {}:{}:{}\n",
                    key.domain,
                    key.selector,
                    key.private.display()
                ),
            )
            .expect("write key table");
            format!(
                "Mode s
SigningTable refile:{d}/signing.table
KeyTable file:{d}/key.table
InternalHosts 127.0.0.0/8
Canonicalization relaxed/simple
# The key lies in a temp dir under /tmp (world-writable, sticky): not a key a server
# should trust, but the test's own.
RequireSafeKeys false
"
            )
        };
        Some(OpenDkim::start(config))
    }

    /// Verifies every message and adds `Authentication-Results: {authserv_id}; dkim=…`
    /// (also `dkim=none` for unsigned mail), reading keys from `dns` for `zones`.
    pub fn verifier(authserv_id: &str, dns: SocketAddr, zones: &[&str]) -> Option<OpenDkim> {
        if !installed() {
            return None;
        }
        let config = |dir: &Path| {
            // libunbound: ask the test's server as the authority of each zone, on its port
            // (unbound refuses loopback servers unless told otherwise).
            let stubs: String = zones
                .iter()
                .map(|z| {
                    format!(
                        "stub-zone:\n    name: \"{z}\"\n    stub-addr: {}@{}\n",
                        dns.ip(),
                        dns.port()
                    )
                })
                .collect();
            fs::write(
                dir.join("unbound.conf"),
                // Unbound answers NXDOMAIN itself for RFC 6761 names such as `.test`
                // unless told not to.
                format!(
                    "server:\n    do-not-query-localhost: no\n    local-zone: \"test.\" nodefault\n{stubs}"
                ),
            )
            .expect("write unbound.conf");
            format!(
                "Mode v
AuthservID {authserv_id}
AlwaysAddARHeader yes
ResolverConfiguration {}/unbound.conf
InternalHosts 192.0.2.1
# OpenDKIM strips fields in its own name that arrive with a message; not every receiver
# does. Kept here, so the tests can show that a sender's forgery is never believed.
RemoveARFrom nothing.invalid
",
                dir.display()
            )
        };
        Some(OpenDkim::start(config))
    }

    /// Writes `opendkim.conf` (the mode's lines from `mode`, the rest common), starts
    /// `opendkim -f` and waits for its milter port.
    fn start(mode: impl Fn(&Path) -> String) -> OpenDkim {
        let mut last = String::new();
        // Three tries: a port picked free may be taken by a parallel test first.
        for _ in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix("cutover-opendkim-")
                .tempdir()
                .expect("temp dir");
            let port = free_port();
            let specific = mode(dir.path());
            let d = dir.path().display();
            fs::write(
                dir.path().join("opendkim.conf"),
                format!(
                    "{specific}Socket inet:{port}@127.0.0.1
PidFile {d}/opendkim.pid
Syslog no
Background no
UMask 007
"
                ),
            )
            .expect("write opendkim.conf");
            let log = fs::File::create(dir.path().join("opendkim.log")).expect("log file");
            let child = Command::new(OPENDKIM)
                .arg("-f")
                .arg("-x")
                .arg(dir.path().join("opendkim.conf"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log file"))
                .stderr(log)
                .spawn()
                .expect("start opendkim");
            let mut opendkim = OpenDkim { dir, child, port };
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return opendkim;
                }
                if let Ok(Some(status)) = opendkim.child.try_wait() {
                    last = format!("opendkim exited ({status}): {}", opendkim.log());
                    break;
                }
                if Instant::now() > deadline {
                    last = format!("port {port} never opened: {}", opendkim.log());
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("opendkim did not start: {last}");
    }

    /// What OpenDKIM printed (start-up errors; it logs nothing else without syslog).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("opendkim.log")).unwrap_or_default()
    }
}

impl Drop for OpenDkim {
    fn drop(&mut self) {
        // The process this harness started, by its own handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
