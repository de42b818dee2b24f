//! The plan file as operators write it: every error kind with its line and column, all at once.

use std::path::{Path, PathBuf};
use std::process::Command;

use cutover::plan::load::{Environment, parse};
use cutover::plan::{Security, Severity};

const BASE: &str = r#"domain = "example.com"
start = "2026-12-07T09:00"
timezone = "Europe/Vilnius"

[old]
mx = ["10 mx1.old.example."]
spf = ["include:_spf.old.example"]
imap = "imaps://imap.old.example:993"

[new]
mx = ["1 smtp.new.example."]
spf = ["include:_spf.new.example"]
dkim_selector = "sel1"
imap = { url = "imap://127.0.0.1:10143", tls = "none" }

[[mailbox]]
address = "alice@example.com"
"#;

fn env() -> Environment {
    Environment {
        login_user: "tester".into(),
        system_timezone: Some("Europe/Vilnius".into()),
    }
}

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Every diagnostic as `plan.toml:L:C: message — instead`, relative file name.
fn diagnostics_in(dir: &Path, text: &str) -> Vec<String> {
    let path = dir.join("plan.toml");
    match parse(&path, text, &env()) {
        Ok(loaded) => loaded
            .warnings
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>(),
        Err(e) => e.diagnostics.iter().map(|d| d.to_string()).collect(),
    }
    .into_iter()
    .map(|s| s.replace(&format!("{}/", dir.display()), ""))
    .collect()
}

fn diagnostics(text: &str) -> Vec<String> {
    diagnostics_in(dir().path(), text)
}

fn errors(text: &str) -> Vec<String> {
    let d = dir();
    let path = d.path().join("plan.toml");
    match parse(&path, text, &env()) {
        Ok(_) => vec![],
        Err(e) => e
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| d.to_string().replace(&format!("{}/", d_path(&d.file)), ""))
            .collect(),
    }
}

fn d_path(file: &str) -> String {
    Path::new(file)
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// The single error for a plan, which must start with `plan.toml:LINE:COL: `.
fn assert_error(text: &str, at: &str, fragment: &str, instead: &str) {
    let errs = errors(text);
    assert!(
        errs.iter()
            .any(|e| e.starts_with(&format!("plan.toml:{at}: "))
                && e.contains(fragment)
                && e.contains(&format!("— {instead}"))),
        "expected an error at {at} containing {fragment:?} — {instead:?}; got {errs:#?}"
    );
}

#[test]
fn the_base_plan_is_valid_and_complete() {
    let d = dir();
    let loaded = parse(&d.path().join("plan.toml"), BASE, &env()).expect("valid");
    let p = loaded.plan;
    assert_eq!(p.domain, "example.com");
    assert_eq!(p.dns.migration_ttl, 300);
    assert_eq!(p.dns.restore_ttl_mx, 86_400);
    assert_eq!(p.dns.restore_ttl_txt, 21_600);
    assert_eq!(p.dns.resolvers.len(), 3);
    assert_eq!(p.dns.resolvers[0].to_string(), "1.1.1.1:53");
    assert_eq!(p.operator, "tester");
    assert_eq!(p.new.imap.security, Security::None);
    assert_eq!(p.new.imap.port, 10143);
    assert_eq!(p.old.imap.security, Security::Implicit);
    assert_eq!(p.mailboxes[0].old_login, "alice@example.com");
    assert_eq!(p.sync.concurrency, 8);
}

#[test]
fn broken_toml_points_at_the_break() {
    assert_error(
        &BASE.replace(
            "timezone = \"Europe/Vilnius\"",
            "timezone = \"Europe/Vilnius",
        ),
        "3:27",
        "not valid TOML: invalid basic string",
        "write `key = value` lines",
    );
}

#[test]
fn unknown_keys_are_errors_with_a_suggestion() {
    let text = BASE.replace("[old]\n", "[old]\nnmae = \"Old\"\n");
    assert_error(
        &text,
        "6:1",
        "unknown key `nmae` in [old]",
        "did you mean `name`?",
    );
    let text = format!("{BASE}\n[dns]\nmigraton_ttl = \"5m\"\n");
    assert_error(
        &text,
        "20:1",
        "unknown key `migraton_ttl` in [dns]",
        "did you mean `migration_ttl`?",
    );
    let text = format!("colour = 1\n{BASE}");
    assert_error(
        &text,
        "1:1",
        "unknown key `colour` at the top",
        "known keys here:",
    );
}

#[test]
fn all_errors_come_at_once() {
    let text = BASE
        .replace("\"2026-12-07T09:00\"", "\"next monday\"")
        .replace("Europe/Vilnius", "Europe/Atlantis")
        .replace("10 mx1.old.example.", "mx1.old.example.");
    let errs = errors(&text);
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(errs[0].starts_with("plan.toml:2:9: `start`"), "{errs:#?}");
    assert!(
        errs[1].starts_with("plan.toml:3:12: unknown time zone"),
        "{errs:#?}"
    );
    assert!(
        errs[2].starts_with("plan.toml:6:7: `mx1.old.example.` is not an MX record"),
        "{errs:#?}"
    );
}

#[test]
fn wrong_types_say_what_to_write() {
    assert_error(
        &BASE.replace("domain = \"example.com\"", "domain = 42"),
        "1:10",
        "`domain` must be a string, not a number",
        "write it in double quotes",
    );
    assert_error(
        &BASE.replace(
            "spf = [\"include:_spf.old.example\"]",
            "spf = \"include:_spf.old.example\"",
        ),
        "7:7",
        "`old.spf` must be a list of strings",
        "write `spf = [",
    );
}

#[test]
fn missing_required_parts() {
    assert_error(
        &BASE.replace("domain = \"example.com\"\n", ""),
        "1:1",
        "`domain` is missing",
        "add `domain = ",
    );
    assert_error(
        &BASE.replace("start = \"2026-12-07T09:00\"\n", ""),
        "1:1",
        "`start` is missing",
        "add `start = ",
    );
    let no_new = BASE.split("[new]").next().unwrap_or_default().to_string()
        + "[[mailbox]]\naddress = \"a@example.com\"\n";
    assert_error(&no_new, "1:1", "the [new] section is missing", "add [new]");
    assert_error(
        &BASE.replace("imap = \"imaps://imap.old.example:993\"\n", ""),
        "5:1",
        "`imap` is missing in [old]",
        "add `imap = ",
    );
    let no_mailbox = BASE.replace("[[mailbox]]\naddress = \"alice@example.com\"\n", "");
    let errs = errors(&no_mailbox);
    assert!(
        errs.iter()
            .any(|e| e.contains("the plan lists no mailboxes") && e.contains("[[mailbox]]")),
        "{errs:#?}"
    );
}

#[test]
fn bad_values_in_each_section() {
    assert_error(
        &BASE.replace("\"example.com\"", "\"exa mple\""),
        "1:10",
        "is not a domain name",
        "write the mail domain",
    );
    assert_error(
        &BASE.replace("\"2026-12-07T09:00\"", "\"2026-12-07T09:00+02:00\""),
        "2:9",
        "is not a local date and time",
        "write `start = \"2026-12-07T09:00\"`",
    );
    assert_error(
        &format!("working_days = [\"mon\", \"funday\"]\n{BASE}"),
        "1:24",
        "`funday` is not a day of the week",
        "write three-letter days",
    );
    assert_error(
        &format!("{BASE}\n[dns]\nmigration_ttl = \"five minutes please\"\n"),
        "20:17",
        "`dns.migration_ttl` is not a duration",
        "write it as humans do",
    );
    assert_error(
        &format!("{BASE}\n[dns]\nresolvers = [\"1.1.1.1\", \"dns.google\"]\n"),
        "20:25",
        "`dns.google` is not an IP address",
        "write \"9.9.9.9\"",
    );
    assert_error(
        &BASE.replace(
            "include:_spf.old.example\"]",
            "include:_spf.old.example\", \"-all\"]",
        ),
        "7:36",
        "`-all` is not an SPF mechanism",
        "write one mechanism per string",
    );
    assert_error(
        &BASE.replace("imaps://imap.old.example:993", "https://imap.old.example"),
        "8:8",
        "is not an IMAP URL",
        "write `imaps://host:993`",
    );
    assert_error(
        &BASE.replace(
            "imap://127.0.0.1:10143\", tls = \"none\"",
            "imaps://127.0.0.1:993\", tls = \"none\"",
        ),
        "14:47",
        "contradicts the URL's `imaps://`",
        "use `imaps://`",
    );
    assert_error(
        &BASE.replace("tls = \"none\"", "tls = \"off\""),
        "14:48",
        "`tls = \"off\"` is not a TLS mode",
        "write `tls = \"none\"`",
    );
    assert_error(
        &format!("{BASE}\n[sync]\nconcurrency = 500\n"),
        "20:15",
        "`sync.concurrency` must be a whole number from 1 to 64",
        "write e.g. `concurrency = 1`",
    );
    assert_error(
        &format!(
            "{BASE}\n[credentials]\nsecrets_file = \"s.toml\"\nadmin = {{ old = \"a\", mode = \"root\" }}\n"
        ),
        "21:29",
        "`root` is not an administrator mode",
        "write `mode = \"authzid\"`",
    );
    assert_error(
        &BASE.replace("alice@example.com", "alice"),
        "17:11",
        "`alice` is not an email address",
        "write `address = \"alice@example.com\"`",
    );
    assert_error(
        &format!(
            "{BASE}\n[[step]]\nid = \"printers\"\nday = 3\ntitle = \"Printers\"\nafter = \"lunch\"\n"
        ),
        "23:9",
        "`after = \"lunch\"` names no step",
        "name one of: lower-ttl",
    );
    assert_error(
        &format!("{BASE}\n[[step]]\nid = \"final-copy\"\nday = 3\ntitle = \"Again\"\n"),
        "20:6",
        "step id `final-copy` is already taken",
        "choose an id",
    );
}

/// A `[[step]]`'s `after` names a built-in step or one of the plan's own steps above it;
/// any other id is an error at its position that lists every id there is.
#[test]
fn a_plan_step_after_an_unknown_step_is_an_error_listing_the_known_ids() {
    let steps = format!(
        "{BASE}\n[[step]]\nid = \"printers\"\nday = 3\ntitle = \"Printers\"\nafter = \"final-copy\"\n\
         \n[[step]]\nid = \"scanners\"\nday = 3\ntitle = \"Scanners\"\nafter = \"printers\"\n"
    );
    let d = dir();
    let plan = parse(&d.path().join("plan.toml"), &steps, &env())
        .expect("an after naming a plan step above it is valid")
        .plan;
    let after: Vec<Option<String>> = plan
        .extra_steps
        .iter()
        .map(|s| s.after.as_ref().map(|a| a.to_string()))
        .collect();
    assert_eq!(
        after,
        [Some("final-copy".to_string()), Some("printers".to_string())]
    );
    assert!(plan.extra_steps.iter().all(|s| s.id.is_plan_step()));

    let unknown = format!(
        "{steps}\n[[step]]\nid = \"faxes\"\nday = 3\ntitle = \"Faxes\"\nafter = \"fax-machines\"\n"
    );
    let known: Vec<&str> = cutover::step::StepId::BUILT_IN
        .iter()
        .map(|s| s.as_str())
        .chain(["printers", "scanners"])
        .collect();
    assert_error(
        &unknown,
        "35:9",
        "`after = \"fax-machines\"` names no step",
        &format!("name one of: {}", known.join(", ")),
    );
}

#[test]
fn a_secrets_file_others_may_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let d = dir();
    let secrets = d.path().join("secrets.toml");
    std::fs::write(&secrets, "[\"alice@example.com\"]\nold = \"x\"\n").expect("write");
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let text = format!("{BASE}\n[credentials]\nsecrets_file = \"secrets.toml\"\n");
    let diags = diagnostics_in(d.path(), &text);
    assert!(
        diags
            .iter()
            .any(|e| e.starts_with("plan.toml:20:16: the secrets file")
                && e.contains("may be read by group or others (mode 644)")
                && e.contains("— run `chmod 600")),
        "{diags:#?}"
    );
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    assert_eq!(diagnostics_in(d.path(), &text), Vec::<String>::new());
}

#[test]
fn mailboxes_from_csv_with_errors_pointing_into_the_csv() {
    let d = dir();
    std::fs::write(
        d.path().join("users.csv"),
        "address,old_login,new_login\nalice@example.com,alice,\nnot-an-address,x,y\nbob@example.com,,\n",
    )
    .expect("write csv");
    let text = BASE
        .replace("[[mailbox]]\naddress = \"alice@example.com\"\n", "")
        .replace(
            "domain = \"example.com\"\n",
            "domain = \"example.com\"\nmailboxes_csv = \"users.csv\"\n",
        );
    let diags = diagnostics_in(d.path(), &text);
    assert_eq!(
        diags,
        vec![
            "users.csv:3:1: `not-an-address` is not an email address — write `address = \"alice@example.com\"`"
        ]
    );
    let fixed = "address,old_login,new_login\nalice@example.com,alice,\nbob@example.com,,\n";
    std::fs::write(d.path().join("users.csv"), fixed).expect("write csv");
    let plan = parse(&d.path().join("plan.toml"), &text, &env())
        .expect("valid")
        .plan;
    assert_eq!(plan.mailboxes.len(), 2);
    assert_eq!(plan.mailboxes[0].old_login, "alice");
    assert_eq!(plan.mailboxes[0].new_login, "alice@example.com");
}

#[test]
fn dangerous_but_legal_values_are_warnings() {
    let text = format!(
        "{}\n[dns]\nmigration_ttl = \"30s\"\n\n[[mailbox]]\naddress = \"alice@example.com\"\n",
        BASE.replace(
            "imap://127.0.0.1:10143\", tls = \"none\"",
            "imaps://imap.old.example:993\""
        )
    );
    let diags = diagnostics(&text);
    assert!(diags.iter().any(|d| d.starts_with("plan.toml:10:1: warning: old and new IMAP are the same server")), "{diags:#?}");
    assert!(
        diags.iter().any(|d| d.starts_with(
            "plan.toml:20:17: warning: a migration TTL of 30 s is shorter than a minute"
        )),
        "{diags:#?}"
    );
    assert!(
        diags
            .iter()
            .any(|d| d.starts_with("plan.toml:23:11: warning: alice@example.com is listed twice")),
        "{diags:#?}"
    );
    // Warnings alone never stop the plan from loading.
    assert!(errors(&text).is_empty());
}

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cutover"))
}

#[test]
fn init_writes_a_plan_that_passes_check_and_refuses_to_overwrite() {
    let d = dir();
    let plan = d.path().join("cutover.toml");
    let out = Command::new(bin())
        .args(["init", "--domain", "acme.lt", "-o"])
        .arg(&plan)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&plan).expect("written");
    for key in [
        "migration_ttl",
        "restore_ttl",
        "old_ttl",
        "poll",
        "timeout",
        "resolvers",
        "authoritative",
        "dkim_selector",
        "secrets_file",
        "password_command",
        "token_command",
        "admin",
        "concurrency",
        "exclude",
        "folder_map",
        "mailboxes_csv",
    ] {
        assert!(text.contains(key), "init documents `{key}`");
    }
    let check = Command::new(bin())
        .arg("check")
        .arg("--plan")
        .arg(&plan)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("warning: the secrets file"),
        "a missing secrets file is a warning: {stdout}"
    );
    let again = Command::new(bin())
        .args(["init", "--domain", "acme.lt", "-o"])
        .arg(&plan)
        .output()
        .expect("run");
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    let forced = Command::new(bin())
        .args(["init", "--domain", "acme.lt", "--force", "-o"])
        .arg(&plan)
        .output()
        .expect("run");
    assert!(forced.status.success());
}

#[test]
fn check_exits_2_with_every_error_listed() {
    let d = dir();
    let plan = d.path().join("bad.toml");
    std::fs::write(
        &plan,
        BASE.replace("Europe/Vilnius", "Mars/Olympus")
            .replace("\"1 smtp.new.example.\"", "\"smtp\""),
    )
    .expect("write");
    let out = Command::new(bin())
        .arg("check")
        .arg("--plan")
        .arg(&plan)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("bad.toml:3:12: unknown time zone `Mars/Olympus` — write an IANA name"),
        "{stdout}"
    );
    assert!(
        stdout.contains("bad.toml:11:7: `smtp` is not an MX record"),
        "{stdout}"
    );
}

#[test]
fn the_example_plan_in_assets_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/example.toml");
    let loaded = cutover::plan::load(&path).expect("assets/example.toml is valid");
    assert_eq!(loaded.plan.domain, "example.com");
}

#[test]
fn the_mailbox_csv_takes_quoted_fields_and_commas_inside_quotes() {
    let d = dir();
    let csv = "address,old_login,new_login\n# the sales team\n\"alice@example.com\",\"Alice, Sales\",\n  bob@example.com , bob ,\"bob@new\"\n\"carol@example.com\",a,b,c\n";
    std::fs::write(d.path().join("users.csv"), csv).expect("write csv");
    let text = BASE
        .replace("[[mailbox]]\naddress = \"alice@example.com\"\n", "")
        .replace(
            "domain = \"example.com\"\n",
            "domain = \"example.com\"\nmailboxes_csv = \"users.csv\"\n",
        );
    assert_eq!(
        diagnostics_in(d.path(), &text),
        vec![
            "users.csv:5:1: 4 fields where the header has 3 — one line per mailbox: address,old_login,new_login (quote a field that holds a comma)"
        ]
    );
    std::fs::write(
        d.path().join("users.csv"),
        csv.replace("\"carol@example.com\",a,b,c\n", ""),
    )
    .expect("write csv");
    let plan = parse(&d.path().join("plan.toml"), &text, &env())
        .expect("valid")
        .plan;
    assert_eq!(plan.mailboxes.len(), 2);
    assert_eq!(plan.mailboxes[0].old_login, "Alice, Sales");
    assert_eq!(plan.mailboxes[1].address, "bob@example.com");
    assert_eq!(plan.mailboxes[1].old_login, "bob");
    assert_eq!(plan.mailboxes[1].new_login, "bob@new");
}

#[test]
fn a_pinned_certificate_is_a_fingerprint() {
    let pinned = |pin: &str| {
        BASE.replace(
            "imap = \"imaps://imap.old.example:993\"",
            &format!("imap = {{ url = \"imaps://imap.old.example:993\", pin_sha256 = \"{pin}\" }}"),
        )
    };
    let good = "sha256 Fingerprint=AB:".to_string() + &["CD"; 31].join(":");
    let plan = parse(&dir().path().join("plan.toml"), &pinned(&good), &env())
        .expect("a fingerprint as openssl prints it")
        .plan;
    assert_eq!(plan.old.imap.pin_sha256.as_deref(), Some(good.as_str()));
    assert_error(
        &pinned("ab:cd"),
        "8:61",
        "`ab:cd` is not a SHA-256 fingerprint",
        "write the 64 hex digits",
    );
}

#[test]
fn dns_servers_may_be_named_and_public_resolvers_are_named_by_default() {
    let text = format!(
        "{BASE}\n[dns]\nresolvers = [\"8.8.8.8\", {{ address = \"203.0.113.7:5353\", name = \"office\" }}, \"192.0.2.1\", \"1.1.1.1:5353\"]\nauthoritative = [{{ address = \"192.0.2.53\", name = \"ns1.example.com\" }}]\n"
    );
    let plan = parse(&dir().path().join("plan.toml"), &text, &env())
        .expect("valid")
        .plan;
    let addr = |s: &str| s.parse::<std::net::SocketAddr>().unwrap();
    assert_eq!(
        plan.dns.resolvers,
        [
            addr("8.8.8.8:53"),
            addr("203.0.113.7:5353"),
            addr("192.0.2.1:53"),
            addr("1.1.1.1:5353")
        ]
    );
    assert_eq!(plan.dns.authoritative, [addr("192.0.2.53:53")]);
    let name = |s: &str| plan.dns.server_name(addr(s));
    assert_eq!(name("8.8.8.8:53").as_deref(), Some("Google"));
    assert_eq!(name("203.0.113.7:5353").as_deref(), Some("office"));
    assert_eq!(name("192.0.2.53:53").as_deref(), Some("ns1.example.com"));
    // An unknown address, or a public one on another port, shows its address.
    assert_eq!(name("192.0.2.1:53"), None);
    assert_eq!(name("1.1.1.1:5353"), None);
    // The default resolvers are the public ones, named after their operators.
    let plan = parse(&dir().path().join("plan.toml"), BASE, &env())
        .expect("valid")
        .plan;
    let names: Vec<Option<String>> = plan
        .dns
        .resolvers
        .iter()
        .map(|a| plan.dns.server_name(*a))
        .collect();
    assert_eq!(
        names,
        [
            Some("Cloudflare".to_string()),
            Some("Google".to_string()),
            Some("Quad9".to_string())
        ]
    );
}

#[test]
fn a_bad_named_server_is_an_error_with_its_line_and_column() {
    assert_error(
        &format!("{BASE}\n[dns]\nresolvers = [\"1.1.1.1\", {{ name = \"office\" }}]\n"),
        "20:25",
        "`address` is missing in an entry of `dns.resolvers`",
        "write \"9.9.9.9\"",
    );
    assert_error(
        &format!(
            "{BASE}\n[dns]\nresolvers = [{{ address = \"dns.google\", name = \"Google\" }}]\n"
        ),
        "20:26",
        "`dns.google` is not an IP address",
        "write \"9.9.9.9\"",
    );
    assert_error(
        &format!(
            "{BASE}\n[dns]\nauthoritative = [{{ address = \"192.0.2.53\", nmae = \"ns1\" }}]\n"
        ),
        "20:44",
        "unknown key `nmae` in [dns.authoritative]",
        "did you mean `name`?",
    );
    assert_error(
        &format!("{BASE}\n[dns]\nresolvers = [53]\n"),
        "20:14",
        "`dns.resolvers` must hold addresses (strings) or { address, name } tables",
        "write \"9.9.9.9\"",
    );
}
