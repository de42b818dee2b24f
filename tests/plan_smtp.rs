//! The plan keys of the SMTP probe: `[new] smtp` (where to reach each new MX host) and a
//! mailbox's `aliases` (addresses the new MX must accept too), with their errors at
//! their line and column.

use std::path::Path;

use cutover::plan::load::{Environment, parse};
use cutover::plan::{Plan, Severity, SmtpAddress};

const BASE: &str = r#"domain = "example.com"
start = "2026-12-07T09:00"
timezone = "Europe/Vilnius"

[old]
mx = ["10 mx1.old.example."]
spf = ["include:_spf.old.example"]
imap = "imaps://imap.old.example:993"

[new]
mx = ["1 mx1.new.example.", "2 mx2.new.example."]
spf = ["include:_spf.new.example"]
dkim_selector = "sel1"
imap = { url = "imap://127.0.0.1:10143", tls = "none" }
"#;

const MAILBOXES: &str = r#"
[[mailbox]]
address = "alice@example.com"
aliases = ["sales@example.com", "Info@example.com"]

[[mailbox]]
address = "bob@example.com"
"#;

fn env() -> Environment {
    Environment {
        login_user: "tester".into(),
        system_timezone: Some("Europe/Vilnius".into()),
    }
}

fn load(dir: &Path, text: &str) -> Result<(Plan, Vec<String>), Vec<String>> {
    let path = dir.join("plan.toml");
    let strip = |s: String| s.replace(&format!("{}/", dir.display()), "");
    match parse(&path, text, &env()) {
        Ok(l) => Ok((
            l.plan,
            l.warnings.iter().map(|d| strip(d.to_string())).collect(),
        )),
        Err(e) => Err(e
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| strip(d.to_string()))
            .collect()),
    }
}

fn plan(text: &str) -> (Plan, Vec<String>) {
    let dir = tempfile::tempdir().expect("dir");
    load(dir.path(), text).unwrap_or_else(|e| panic!("{e:#?}"))
}

fn errors(text: &str) -> Vec<String> {
    let dir = tempfile::tempdir().expect("dir");
    match load(dir.path(), text) {
        Ok(_) => panic!("the plan loaded:\n{text}"),
        Err(e) => e,
    }
}

/// The 1-based number of the first line of `text` starting with `start`.
fn line_of(text: &str, start: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(start))
        .expect("the line is there")
        + 1
}

/// `BASE` with `line` added at the end of `[new]`.
fn with_new(line: &str) -> String {
    format!("{BASE}{line}\n{MAILBOXES}")
}

#[test]
fn without_the_keys_the_mx_hosts_are_asked_and_only_the_addresses() {
    let (plan, warnings) = plan(&format!(
        "{BASE}\n[[mailbox]]\naddress = \"alice@example.com\"\n"
    ));
    assert!(plan.new.smtp.is_empty());
    assert!(plan.mailboxes[0].aliases.is_empty());
    assert_eq!(plan.addresses(), vec!["alice@example.com".to_string()]);
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn smtp_addresses_and_aliases_are_read_in_order() {
    let (plan, warnings) = plan(&with_new(
        "smtp = [\"127.0.0.1:2525\", \"Inbound.Provider.example:25\"]",
    ));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        plan.new.smtp,
        vec![
            SmtpAddress {
                host: "127.0.0.1".into(),
                port: 2525
            },
            SmtpAddress {
                host: "inbound.provider.example".into(),
                port: 25
            },
        ]
    );
    assert_eq!(
        plan.mailboxes[0].aliases,
        vec!["sales@example.com".to_string(), "Info@example.com".into()]
    );
    // Every address the new MX must accept: each mailbox, then its aliases, once.
    assert_eq!(
        plan.addresses(),
        vec![
            "alice@example.com",
            "sales@example.com",
            "Info@example.com",
            "bob@example.com"
        ]
    );
}

#[test]
fn a_bad_smtp_address_is_an_error_at_its_column_with_the_forms_to_write() {
    let text = with_new("smtp = [\"127.0.0.1:2525\", \"mx2:port\"]");
    let line = line_of(&text, "smtp");
    assert_eq!(
        errors(&text),
        vec![format!(
            "plan.toml:{line}:27: `mx2:port` is not a host and port to reach an SMTP server at — \
write \"mx1.example.net:25\", \"192.0.2.7:2525\" or \"[2001:db8::7]:25\""
        )]
    );
}

#[test]
fn one_smtp_address_per_mx_host_or_the_error_names_the_hosts() {
    let text = with_new("smtp = [\"127.0.0.1:2525\"]");
    let line = line_of(&text, "smtp");
    let errors = errors(&text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with(&format!(
            "plan.toml:{line}:8: `new.smtp` lists 1 address for 2 MX hosts (mx1.new.example., mx2.new.example.)"
        )),
        "{errors:?}"
    );
    assert!(
        errors[0].contains("in the same order, or leave `smtp` out"),
        "{errors:?}"
    );
}

#[test]
fn smtp_in_old_is_read_per_mx_host_and_a_typo_is_an_error() {
    // [old] smtp: where direct canaries reach the old MX hosts, one per host as in [new].
    let text = BASE.replace(
        "imap = \"imaps://imap.old.example:993\"",
        "imap = \"imaps://imap.old.example:993\"\nsmtp = [\"127.0.0.2:2525\"]",
    ) + MAILBOXES;
    let (plan, _) = plan(&text);
    assert_eq!(
        plan.old.smtp,
        vec![SmtpAddress {
            host: "127.0.0.2".into(),
            port: 2525
        }]
    );
    let text = BASE.replace(
        "imap = \"imaps://imap.old.example:993\"",
        "imap = \"imaps://imap.old.example:993\"\nsmtp = [\"127.0.0.1:25\", \"127.0.0.1:26\"]",
    ) + MAILBOXES;
    let errors_old = errors(&text);
    assert_eq!(errors_old.len(), 1, "{errors_old:?}");
    assert!(
        errors_old[0].starts_with(&format!(
            "plan.toml:{}:8: `old.smtp` lists 2 addresses for 1 MX host (mx1.old.example.)",
            line_of(&text, "smtp")
        )),
        "{errors_old:?}"
    );
    // `submission` belongs to [new] only: the outbound canary leaves through the new server.
    let text = BASE.replace(
        "imap = \"imaps://imap.old.example:993\"",
        "imap = \"imaps://imap.old.example:993\"\nsubmission = \"smtp://smtp.old.example:587\"",
    ) + MAILBOXES;
    assert_eq!(
        errors(&text),
        vec![format!(
            "plan.toml:{}:14: `submission` is read only in [new], not in [old] — move it to [new]: the outbound canary is sent through the new server",
            line_of(&text, "submission")
        )]
    );

    let text = format!(
        "{BASE}\n[[mailbox]]\naddress = \"alice@example.com\"\nalias = [\"sales@example.com\"]\n"
    );
    assert_eq!(
        errors(&text),
        vec![format!(
            "plan.toml:{}:1: unknown key `alias` in [mailbox] — did you mean `aliases`?",
            line_of(&text, "alias =")
        )]
    );
}

#[test]
fn bad_aliases_are_errors_and_repeats_warnings() {
    let text = format!(
        "{BASE}\n[[mailbox]]\naddress = \"alice@example.com\"\naliases = [\"sales\", \"bob@example.com\", 7]\n\n[[mailbox]]\naddress = \"bob@example.com\"\n"
    );
    let line = line_of(&text, "aliases");
    assert_eq!(
        errors(&text),
        vec![
            format!(
                "plan.toml:{line}:12: the alias `sales` is not an email address — write `aliases = [\"sales@example.com\"]`"
            ),
            format!(
                "plan.toml:{line}:21: the alias bob@example.com is a mailbox of the plan — remove it from `aliases`: a mailbox's own address is asked already"
            ),
            format!(
                "plan.toml:{line}:40: `mailbox.aliases` must hold only strings, not a number — put the value in double quotes"
            ),
        ]
    );

    let text = format!(
        "{BASE}\n[[mailbox]]\naddress = \"alice@example.com\"\naliases = [\"sales@example.com\", \"sales@other.example\"]\n\n[[mailbox]]\naddress = \"bob@example.com\"\naliases = [\"SALES@example.com\"]\n"
    );
    let (plan, warnings) = plan(&text);
    let first = line_of(&text, "aliases");
    assert_eq!(
        warnings,
        vec![
            format!(
                "plan.toml:{first}:33: warning: the alias sales@other.example is not in example.com: the new MX of this domain may rightly refuse it — check the alias"
            ),
            format!(
                "plan.toml:{}:12: warning: the alias SALES@example.com is listed twice — list each alias once, on the mailbox it delivers to",
                first + 4
            ),
        ]
    );
    assert!(plan.mailboxes[1].aliases.is_empty());
}

#[test]
fn a_csv_aliases_column_is_read_and_its_errors_point_into_the_csv() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("users.csv"),
        "address,old_login,new_login,aliases\n\
         alice@example.com,alice,,sales@example.com info@example.com\n\
         bob@example.com,,,\n\
         carol@example.com,,,nobody\n",
    )
    .expect("csv");
    let text = BASE.replacen("[old]", "mailboxes_csv = \"users.csv\"\n\n[old]", 1);
    assert_eq!(
        load(dir.path(), &text).err(),
        Some(vec![
            "users.csv:4:1: the alias `nobody` is not an email address — write `aliases = [\"sales@example.com\"]`".to_string()
        ])
    );
    std::fs::write(
        dir.path().join("users.csv"),
        "address,old_login,new_login,aliases\nalice@example.com,alice,,sales@example.com;info@example.com\nbob@example.com\n",
    )
    .expect("csv");
    let (plan, _) = load(dir.path(), &text).expect("loads");
    assert_eq!(
        plan.mailboxes[0].aliases,
        vec!["sales@example.com".to_string(), "info@example.com".into()]
    );
    assert!(plan.mailboxes[1].aliases.is_empty());
}
