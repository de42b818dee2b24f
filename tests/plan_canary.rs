//! `[canary]` and `[new] submission` in the plan: presets, defaults, and every mistake at
//! its line and column.

use cutover::plan::load::{Environment, parse};
use cutover::plan::{ExternalAuth, Plan, Severity};

const BASE: &str = r#"domain = "example.com"
start = "2026-12-07T09:00"
timezone = "Europe/Vilnius"

[old]
mx = ["10 mx1.old.example."]
spf = ["include:_spf.old.example"]
imap = "imaps://imap.old.example:993"

[new]
mx = ["1 mx1.new.example."]
spf = ["include:_spf.new.example"]
dkim_selector = "sel1"
imap = "imaps://imap.new.example:993"
submission = "smtp://smtp.new.example"

[[mailbox]]
address = "alice@example.com"

[[mailbox]]
address = "cutover-canary@example.com"
"#;

fn env() -> Environment {
    Environment {
        login_user: "tester".into(),
        system_timezone: Some("Europe/Vilnius".into()),
    }
}

fn load(text: &str) -> Result<(Plan, Vec<String>), Vec<String>> {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("plan.toml");
    let strip = |s: String| s.replace(&format!("{}/", dir.path().display()), "");
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

fn line_of(text: &str, start: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(start))
        .expect("the line is there")
        + 1
}

#[test]
fn without_canary_mail_flow_is_not_configured() {
    let (plan, warnings) = load(BASE).expect("loads");
    assert!(plan.canary.is_none());
    assert!(warnings.is_empty(), "{warnings:?}");
    let submission = plan.new.submission.expect("[new] submission");
    assert_eq!(
        (submission.host.as_str(), submission.port),
        ("smtp.new.example", 587)
    );
    assert!(!submission.implicit_tls);
}

#[test]
fn a_gmail_preset_fills_the_external_mailbox() {
    let text = format!(
        "{BASE}\n[canary]\nmailbox = \"cutover-canary@example.com\"\nexternal = {{ preset = \"gmail\", address = \"Someone@Gmail.com\" }}\n"
    );
    let (plan, warnings) = load(&text).expect("loads");
    assert!(warnings.is_empty(), "{warnings:?}");
    let canary = plan.canary.expect("[canary]");
    assert_eq!(canary.mailbox, "cutover-canary@example.com");
    let external = &canary.external;
    assert_eq!(external.address, "someone@gmail.com");
    assert_eq!(external.login, "someone@gmail.com");
    assert_eq!(external.auth, ExternalAuth::XOAuth2);
    assert_eq!(external.imap.host, "imap.gmail.com");
    assert_eq!(
        (external.submission.host.as_str(), external.submission.port),
        ("smtp.gmail.com", 587)
    );
    assert_eq!(external.authserv_id.as_deref(), Some("mx.google.com"));
    // Its inbound hosts as they sign Received fields, Gmail's internal hops included.
    assert_eq!(external.received_by, ["mx.google.com", "2002:*"]);
    // Direct canaries come from the external mailbox's domain unless told otherwise.
    assert_eq!(canary.direct_from, "someone@gmail.com");
}

#[test]
fn a_fastmail_external_submits_over_implicit_tls_with_a_password() {
    let text = format!(
        "{BASE}\n[canary]\nmailbox = \"cutover-canary@example.com\"\nexternal = {{ preset = \"fastmail\", address = \"me@fastmail.com\", login = \"me@fastmail.com\" }}\n"
    );
    let (plan, _) = load(&text).expect("loads");
    let external = plan.canary.expect("[canary]").external;
    assert_eq!(external.auth, ExternalAuth::Password);
    assert!(external.submission.implicit_tls);
    assert_eq!(external.submission.port, 465);
    assert_eq!(
        external.authserv_id.as_deref(),
        Some("mx*.messagingengine.com")
    );
}

#[test]
fn received_by_is_written_or_else_the_authserv_id() {
    let explicit = format!(
        "{BASE}\n[canary]\nmailbox = \"cutover-canary@example.com\"\nexternal = {{ preset = \"gmail\", address = \"me@gmail.com\", received_by = [\"MX.Ext.Test\", \"imap.ext.test\"] }}\n"
    );
    let (plan, _) = load(&explicit).expect("loads");
    assert_eq!(
        plan.canary.expect("[canary]").external.received_by,
        ["mx.ext.test", "imap.ext.test"]
    );
    let own = format!(
        "{BASE}\n[canary]\nmailbox = \"cutover-canary@example.com\"\nexternal = {{ address = \"me@ext.test\", imap = \"imaps://imap.ext.test:993\", submission = \"smtp://smtp.ext.test:587\", authserv_id = \"mx.ext.test\" }}\n"
    );
    let (plan, _) = load(&own).expect("loads");
    assert_eq!(
        plan.canary.expect("[canary]").external.received_by,
        ["mx.ext.test"]
    );
    let bad = format!(
        "{BASE}\n[canary]\nmailbox = \"cutover-canary@example.com\"\nexternal = {{ preset = \"gmail\", address = \"me@gmail.com\", received_by = \"mx.google.com\" }}\n"
    );
    let errors = load(&bad).expect_err("a string is not a list");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("`canary.external.received_by` must be a list of strings")),
        "{errors:?}"
    );
}

#[test]
fn direct_from_under_the_migrated_domain_is_a_warning() {
    let text = format!(
        "{BASE}\n[canary]\nmailbox = \"cutover-canary@example.com\"\nexternal = {{ preset = \"outlook\", address = \"me@outlook.com\" }}\ndirect_from = \"probe@example.com\"\n"
    );
    let (plan, warnings) = load(&text).expect("loads with a warning");
    assert_eq!(
        plan.canary.expect("[canary]").direct_from,
        "probe@example.com"
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with(&format!(
            "plan.toml:{}:15: warning: direct canaries from probe@example.com are judged by example.com's own SPF and DMARC",
            line_of(&text, "direct_from")
        )),
        "{warnings:?}"
    );
}

#[test]
fn every_mistake_is_named_at_its_line_and_column() {
    let text = format!(
        "{BASE}\n[canary]\nmailbox = \"bob@example.com\"\nexternal = {{ preset = \"yahoo\", address = \"x@yahoo.com\" }}\n"
    );
    let errors = load(&text).expect_err("refused");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with(&format!(
            "plan.toml:{}:11: `bob@example.com` is not one of the plan's mailboxes",
            line_of(&text, "mailbox =")
        )),
        "{errors:?}"
    );
    assert!(
        errors[1].starts_with(&format!(
            "plan.toml:{}:23: no provider `yahoo`; the providers are: gmail, outlook, fastmail",
            line_of(&text, "external =")
        )),
        "{errors:?}"
    );

    let text = format!(
        "{BASE}\n[canary]\nmailbox = \"cutover-canary@example.com\"\nexternal = {{ address = \"someone@example.com\", imap = \"imaps://imap.example.net\", submission = \"smtp://smtp.example.net\", auth = \"oauth\" }}\n"
    );
    let errors = load(&text).expect_err("refused");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].contains("someone@example.com is under the migrated domain example.com"),
        "{errors:?}"
    );
    assert!(
        errors[1].contains("`auth = \"oauth\"` is not a way to log in"),
        "{errors:?}"
    );

    let text = format!("{BASE}\n[canary]\nmailbox = \"cutover-canary@example.com\"\n");
    let errors = load(&text).expect_err("refused");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("`external` is missing in [canary]"),
        "{errors:?}"
    );

    let text = BASE.replace("smtp://smtp.new.example", "http://smtp.new.example");
    let errors = load(&text).expect_err("refused");
    assert!(
        errors[0].starts_with(&format!(
            "plan.toml:{}:14: `http://smtp.new.example` is not a submission URL",
            line_of(&text, "submission")
        )),
        "{errors:?}"
    );
}

#[test]
fn without_new_submission_the_outbound_canary_is_warned_about() {
    let text = BASE.replace("submission = \"smtp://smtp.new.example\"\n", "")
        + "\n[canary]\nmailbox = \"cutover-canary@example.com\"\nexternal = { preset = \"gmail\", address = \"someone@gmail.com\" }\n";
    let (_, warnings) = load(&text).expect("loads");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("[new] has no `submission`"),
        "{warnings:?}"
    );
}
