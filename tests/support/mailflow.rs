//! Mail flow on loopback, for canaries: the migrated domain's old and new mail servers and
//! an external mail server on another domain, each a private Postfix on its own 127.0.0.x
//! (listening and sending from it) that delivers over LMTP to its own private Dovecot
//! (Sieve run before delivery), with a submission port (STARTTLS required, SMTP AUTH
//! through that Dovecot's SASL) on the new and the external server.
//!
//! The external server's transport map stands in for the world's MX lookup: the test flips
//! it with [`MailFlow::world_mx`], as the DNS switch does for every sender.
//!
//! `MailFlow::start()` returns `None` (after the SKIPPED line of `postfix.rs` or
//! `dovecot.rs`) when the servers cannot run here, unless `CUTOVER_REQUIRE_SERVERS=1`.

#![allow(dead_code, unused_imports)]

#[path = "dovecot.rs"]
mod dovecot;
#[path = "postfix.rs"]
mod postfix;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub use dovecot::{Dovecot, SeedMessage};
pub use postfix::{Postfix, Setup};

/// The migrated domain.
pub const DOMAIN: &str = "example.com";
/// The external mailbox's domain (another provider).
pub const EXTERNAL_DOMAIN: &str = "ext.test";
/// The plan's canary mailbox, on the old and the new server.
pub const CANARY: &str = "cutover-canary@example.com";
/// A person's mailbox, on the old and the new server.
pub const PERSON: &str = "alice@example.com";
/// The external mailbox.
pub const EXTERNAL: &str = "tester@ext.test";
pub const CANARY_OLD_PASSWORD: &str = "canary-old-secret";
pub const CANARY_NEW_PASSWORD: &str = "canary-new-secret";
pub const EXTERNAL_PASSWORD: &str = "external-secret";
pub const OLD_MX: &str = "mx.old.test";
pub const NEW_MX: &str = "mx.new.test";
pub const EXTERNAL_MX: &str = "mx.ext.test";

/// One mail server: Postfix in front, Dovecot behind.
pub struct MailServer {
    pub postfix: Postfix,
    pub dovecot: Dovecot,
    /// Its MX host name (the certificate's name, the banner's).
    pub host_name: String,
}

impl MailServer {
    fn start(
        name: &str,
        host_name: &str,
        bind: &str,
        domain: &str,
        users: &[(&str, &str)],
        submission: bool,
    ) -> Option<MailServer> {
        let dovecot = Dovecot::start_for_mail_flow(name)?;
        dovecot.add_users(users);
        // The Postfix's certificate is signed by the Dovecot's CA: one `ca_file` trusts both.
        let ca_dir = dovecot
            .ca_file
            .parent()
            .map(Path::to_path_buf)
            .expect("the CA file is in the instance's folder");
        let postfix = Postfix::start_with(Setup {
            host_name: host_name.to_string(),
            bind: bind.to_string(),
            domain: domain.to_string(),
            accepted: users.iter().map(|(login, _)| login.to_string()).collect(),
            lmtp_port: dovecot.lmtp_port,
            sasl_port: if submission { dovecot.auth_port } else { None },
            submission_auth: true,
            ca_dir: Some(ca_dir),
            main_cf: String::new(),
        })?;
        Some(MailServer {
            postfix,
            dovecot,
            host_name: host_name.to_string(),
        })
    }

    /// `host:port` of its MX (port 25 stand-in).
    pub fn smtp(&self) -> String {
        format!("{}:{}", self.postfix.bind, self.postfix.port)
    }

    /// `smtp://host:port` of its submission port (STARTTLS).
    pub fn submission_url(&self) -> String {
        let port = self
            .postfix
            .submission_port
            .expect("this server was started with a submission port");
        format!("smtp://{}:{port}", self.postfix.bind)
    }

    /// `imaps://127.0.0.1:port` of its Dovecot.
    pub fn imap_url(&self) -> String {
        format!("imaps://127.0.0.1:{}", self.dovecot.imaps_port)
    }

    /// The CA file that trusts its IMAP and SMTP certificates.
    pub fn ca_file(&self) -> &Path {
        &self.dovecot.ca_file
    }

    /// How many messages a user's folder holds now (`doveadm`), 0 for a missing folder.
    pub fn count(&self, login: &str, folder: &str) -> u32 {
        let out = self
            .dovecot
            .doveadm(&["mailbox", "status", "-u", login, "messages", "*"]);
        out.lines()
            .find_map(|line| {
                let (name, rest) = line.rsplit_once(" messages=")?;
                (name == folder).then(|| rest.trim().parse().ok())?
            })
            .unwrap_or(0)
    }

    /// The Subject lines of a user's folder (`doveadm fetch`), in UID order.
    pub fn subjects(&self, login: &str, folder: &str) -> Vec<String> {
        let out = self
            .dovecot
            .doveadm(&["fetch", "-u", login, "hdr.subject", "mailbox", folder]);
        out.lines()
            .filter_map(|line| {
                line.strip_prefix("hdr.subject: ")
                    .map(|s| s.trim().to_string())
            })
            .collect()
    }
}

/// The three servers of a mail flow.
pub struct MailFlow {
    pub old: MailServer,
    pub new: MailServer,
    pub external: MailServer,
    /// Holds the plan and the secrets file of [`MailFlow::write_plan`].
    pub dir: tempfile::TempDir,
}

/// What [`MailFlow::write_plan_with`] adds to the plan.
#[derive(Debug, Clone, Default)]
pub struct PlanDns {
    /// The DNS server the plan asks, as the world's resolver and the domain's authority.
    pub server: Option<std::net::SocketAddr>,
    /// Keys appended inside `[canary] external = { … }`, each starting with `, `.
    pub external_extra: String,
}

/// Which of the migrated domain's servers the world's MX names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mx {
    Old,
    New,
}

impl MailFlow {
    /// Starts the old (127.0.0.2), new (127.0.0.3) and external (127.0.0.4) servers, the
    /// world's MX on the old one; or `None` when the servers cannot run here.
    pub fn start() -> Option<MailFlow> {
        let users = [(CANARY, ""), (PERSON, "alice-secret")];
        let with = |canary: &'static str| -> Vec<(&'static str, &'static str)> {
            users
                .iter()
                .map(|(u, p)| if *u == CANARY { (*u, canary) } else { (*u, *p) })
                .collect()
        };
        // Each Postfix takes seconds to open its port: the three start side by side.
        let (old, new, external) = std::thread::scope(|s| {
            let old = s.spawn(|| {
                MailServer::start(
                    "old",
                    OLD_MX,
                    "127.0.0.2",
                    DOMAIN,
                    &with(CANARY_OLD_PASSWORD),
                    false,
                )
            });
            let new = s.spawn(|| {
                MailServer::start(
                    "new",
                    NEW_MX,
                    "127.0.0.3",
                    DOMAIN,
                    &with(CANARY_NEW_PASSWORD),
                    true,
                )
            });
            let external = s.spawn(|| {
                MailServer::start(
                    "ext",
                    EXTERNAL_MX,
                    "127.0.0.4",
                    EXTERNAL_DOMAIN,
                    &[(EXTERNAL, EXTERNAL_PASSWORD)],
                    true,
                )
            });
            let join = |h: std::thread::ScopedJoinHandle<'_, Option<MailServer>>| {
                h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
            };
            (join(old), join(new), join(external))
        });
        let (old, new, external) = (old?, new?, external?);
        // The migrated domain's servers reach the external one directly.
        let to_external = format!("smtp:[{}]:{}", external.postfix.bind, external.postfix.port);
        old.postfix.route(&[(EXTERNAL_DOMAIN, &to_external)]);
        new.postfix.route(&[(EXTERNAL_DOMAIN, &to_external)]);
        let dir = tempfile::Builder::new()
            .prefix("cutover-mailflow-")
            .tempdir()
            .expect("temp dir");
        let flow = MailFlow {
            old,
            new,
            external,
            dir,
        };
        flow.world_mx(Mx::Old);
        Some(flow)
    }

    /// Points the world's MX for the migrated domain at the old or the new server (the
    /// external server's transport map: how every sender finds the domain).
    pub fn world_mx(&self, mx: Mx) {
        let server = match mx {
            Mx::Old => &self.old,
            Mx::New => &self.new,
        };
        let nexthop = format!("smtp:[{}]:{}", server.postfix.bind, server.postfix.port);
        self.external.postfix.route(&[(DOMAIN, &nexthop)]);
    }

    /// Makes the new server drop every message for the migrated domain (Postfix
    /// `discard`): a server that silently loses mail.
    pub fn new_server_drops_mail(&self) {
        let to_external = format!(
            "smtp:[{}]:{}",
            self.external.postfix.bind, self.external.postfix.port
        );
        self.new
            .postfix
            .route(&[(DOMAIN, "discard:"), (EXTERNAL_DOMAIN, &to_external)]);
    }

    /// Makes the external provider keep a Sent copy of what its mailbox submits, as Gmail
    /// and Microsoft 365 do: Postfix sends a copy back to the sender (`sender_bcc_maps`) and
    /// Sieve files it into Sent.
    pub fn external_keeps_sent_copies(&self) {
        let map = self
            .external
            .postfix
            .write_file("sender_bcc", &format!("{EXTERNAL} {EXTERNAL}\n"));
        self.external
            .postfix
            .set(&[("sender_bcc_maps", &format!("texthash:{}", map.display()))]);
        self.external.dovecot.sieve_before(&format!(
            "require [\"fileinto\", \"mailbox\"];\nif address :is \"from\" \"{EXTERNAL}\" {{ fileinto :create \"Sent\"; stop; }}\n"
        ));
    }

    /// Writes the secrets file (0600) and a plan for the three servers with `[canary]`
    /// (`extra` appended at the end of the plan); returns the plan's path.
    pub fn write_plan(&self, extra: &str) -> PathBuf {
        self.write_plan_with(&PlanDns::default(), extra)
    }

    /// As [`MailFlow::write_plan`], with `[dns]` naming a DNS server (the world's resolver
    /// and the domain's authority) and keys added to `[canary] external`.
    pub fn write_plan_with(&self, dns: &PlanDns, extra: &str) -> PathBuf {
        let dir = self.dir.path();
        let secrets = dir.join("secrets.toml");
        fs::write(
            &secrets,
            format!(
                "[\"{CANARY}\"]\nold = \"{CANARY_OLD_PASSWORD}\"\nnew = \"{CANARY_NEW_PASSWORD}\"\n\
                 [\"{PERSON}\"]\nold = \"alice-secret\"\nnew = \"alice-secret\"\n\
                 [\"{EXTERNAL}\"]\npassword = \"{EXTERNAL_PASSWORD}\"\n"
            ),
        )
        .expect("write secrets");
        fs::set_permissions(&secrets, fs::Permissions::from_mode(0o600)).expect("chmod secrets");
        let plan = dir.join("cutover.toml");
        let (old, new, ext) = (&self.old, &self.new, &self.external);
        fs::write(
            &plan,
            format!(
                r#"domain = "{DOMAIN}"
start = "2026-01-05T08:00"
timezone = "UTC"

[dns]
resolvers = [{servers}]
authoritative = [{servers}]

[old]
mx = ["10 {OLD_MX}."]
spf = ["ip4:127.0.0.2"]
imap = {{ url = "{old_imap}", ca_file = "{old_ca}" }}
smtp = ["{old_smtp}"]

[new]
mx = ["10 {NEW_MX}."]
spf = ["ip4:127.0.0.3"]
dkim_selector = "sel1"
imap = {{ url = "{new_imap}", ca_file = "{new_ca}" }}
smtp = ["{new_smtp}"]
submission = "{new_submission}"

[credentials]
secrets_file = "secrets.toml"

[[mailbox]]
address = "{CANARY}"

[[mailbox]]
address = "{PERSON}"

[canary]
mailbox = "{CANARY}"
external = {{ address = "{EXTERNAL}", imap = {{ url = "{ext_imap}", ca_file = "{ext_ca}" }}, submission = {{ url = "{ext_submission}", ca_file = "{ext_ca}" }}, auth = "password"{external_extra} }}
{extra}"#,
                old_imap = old.imap_url(),
                old_ca = old.ca_file().display(),
                old_smtp = old.smtp(),
                new_imap = new.imap_url(),
                new_ca = new.ca_file().display(),
                new_smtp = new.smtp(),
                new_submission = new.submission_url(),
                ext_imap = ext.imap_url(),
                ext_ca = ext.ca_file().display(),
                ext_submission = ext.submission_url(),
                servers = dns
                    .server
                    .map(|a| format!("\"{a}\""))
                    .unwrap_or_default(),
                external_extra = dns.external_extra,
            ),
        )
        .expect("write plan");
        plan
    }
}
