//! `cutover init`: a complete, commented plan for a domain, which passes `cutover check` as written.

use jiff::Timestamp;
use jiff::civil::Weekday;

const TEMPLATE: &str = include_str!("../../assets/plan-template.toml");

/// `--domain` is not a domain name.
#[derive(Debug, thiserror::Error)]
#[error("`{given}` is not a domain name: {why} — write the mail domain, e.g. --domain example.com")]
pub struct BadDomain {
    /// As given, sanitised.
    pub given: String,
    pub why: String,
}

/// The plan for `domain`, starting next Monday at 09:00 in the system's time zone.
pub fn render(domain: &str, now: Timestamp) -> Result<String, BadDomain> {
    let d = crate::syntax::domain::parse_domain(domain.trim()).map_err(|why| BadDomain {
        given: crate::sanitize::sanitize(domain),
        why: why.to_string(),
    })?;
    let tz = jiff::tz::TimeZone::system();
    let tz_name = tz.iana_name().unwrap_or("UTC").to_string();
    let today = now.to_zoned_datetime(tz).date();
    let mut start = today.tomorrow().unwrap_or(today);
    while start.weekday() != Weekday::Monday {
        start = start.tomorrow().unwrap_or(start);
    }
    Ok(fill(&d, &format!("{start}T09:00"), &tz_name))
}

/// The template with its three values filled; other `{…}` stay as written.
pub fn fill(domain: &str, start: &str, timezone: &str) -> String {
    TEMPLATE
        .replace("{domain}", domain)
        .replace("{start}", start)
        .replace("{timezone}", timezone)
}

// ---- Provider presets: `cutover init --to PROVIDER [--from PROVIDER]` ----

const PROVIDERS: &str = include_str!("../../assets/providers.toml");

/// The MX and TXT TTL the template sets for the migration (`migration_ttl = "5m"`): an
/// old TTL at or under it says nothing of the TTL before the lowering.
pub(crate) const TEMPLATE_MIGRATION_TTL: u32 = 300;

/// One mail provider from `assets/providers.toml`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    pub id: String,
    pub name: String,
    pub summary: String,
    /// "preference host"; `{domain}` and `{domain_dashes}` are filled per domain.
    pub mx: Vec<String>,
    #[serde(default)]
    pub mx_note: Option<String>,
    /// Host name endings (with the trailing dot) that identify this provider's MX hosts.
    pub mx_patterns: Vec<String>,
    pub spf: Vec<String>,
    pub dkim_selectors: Vec<String>,
    pub dkim_cname: bool,
    pub imap: String,
    pub auth: Auth,
    /// The submission URL its mailboxes send through (`[new] submission`), when known.
    #[serde(default)]
    pub submission: Option<String>,
    /// A comment written above `submission` (what the provider requires of it).
    #[serde(default)]
    pub submission_note: Option<String>,
    /// Only what the provider publishes; `None` when it publishes nothing.
    #[serde(default)]
    pub limits: Option<Limits>,
}

/// How mailboxes log in at a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    Xoauth2,
    Password,
}

/// IMAP limits a provider publishes, and where.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default)]
    pub connections_per_mailbox: Option<u32>,
    /// As published, e.g. "2500 MB".
    #[serde(default)]
    pub download_per_day: Option<String>,
    #[serde(default)]
    pub upload_per_day: Option<String>,
    /// The document that publishes them.
    pub source: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PresetError {
    /// The built-in file does not parse: a bug in the release, caught by the tests.
    #[error("assets/providers.toml does not parse: {0}")]
    Unreadable(#[from] toml::de::Error),
    #[error("no provider `{name}`; the providers are: {}", .known.join(", "))]
    Unknown { name: String, known: Vec<String> },
}

/// A mail service the canaries' external mailbox may be at (`[canary] external`'s `preset`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalPreset {
    pub id: String,
    pub name: String,
    pub imap: String,
    pub submission: String,
    pub auth: Auth,
    /// How its receiving servers name themselves in Authentication-Results (a `*`
    /// pattern); `None` when they name none.
    #[serde(default)]
    pub authserv_id: Option<String>,
    /// Its inbound hosts as they sign `Received` fields (patterns), internal hops included.
    #[serde(default)]
    pub received_by: Vec<String>,
}

#[derive(serde::Deserialize)]
struct ProvidersFile {
    provider: Vec<Provider>,
    external: Vec<ExternalPreset>,
}

/// The external mailbox preset `id` (gmail, outlook, fastmail), or an error naming them.
pub fn external_preset(id: &str) -> Result<ExternalPreset, PresetError> {
    let file: ProvidersFile = toml::from_str(PROVIDERS)?;
    let known = file.external.iter().map(|p| p.id.clone()).collect();
    file.external
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| PresetError::Unknown {
            name: crate::sanitize::sanitize(id),
            known,
        })
}

/// Every provider, in the file's order.
pub fn providers() -> Result<Vec<Provider>, PresetError> {
    let file: ProvidersFile = toml::from_str(PROVIDERS)?;
    Ok(file.provider)
}

/// The provider `id`, or an error naming the known ones.
pub fn provider(id: &str) -> Result<Provider, PresetError> {
    let all = providers()?;
    let known = all.iter().map(|p| p.id.clone()).collect();
    all.into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| PresetError::Unknown {
            name: crate::sanitize::sanitize(id),
            known,
        })
}

impl Provider {
    fn fill(&self, text: &str, domain: &str) -> String {
        text.replace("{domain_dashes}", &domain.replace('.', "-"))
            .replace("{domain}", domain)
    }

    /// Its MX records for `domain`, e.g. `0 example-com.mail.protection.outlook.com.`.
    pub(crate) fn mx_for(&self, domain: &str) -> Vec<String> {
        self.mx.iter().map(|m| self.fill(m, domain)).collect()
    }

    pub(crate) fn spf_for(&self, domain: &str) -> Vec<String> {
        self.spf.iter().map(|t| self.fill(t, domain)).collect()
    }

    pub(crate) fn imap_for(&self, domain: &str) -> String {
        self.fill(&self.imap, domain)
    }

    /// Whether an MX host (any case, with or without the trailing dot) is one of this provider's.
    pub(crate) fn owns_mx_host(&self, host: &str) -> bool {
        let host = format!("{}.", host.trim_end_matches('.').to_ascii_lowercase());
        self.mx_patterns.iter().any(|p| {
            let p = format!("{}.", p.trim_end_matches('.').to_ascii_lowercase());
            host == p || host.ends_with(&format!(".{p}"))
        })
    }

    /// Comment lines on how mailboxes log in and the limits the provider publishes.
    pub(crate) fn login_and_limits_comments(&self) -> Vec<String> {
        let mut lines = vec![match self.auth {
            Auth::Xoauth2 => format!(
                "# {} logs mailboxes in with XOAUTH2: set `token_command` in [credentials].",
                self.name
            ),
            Auth::Password => format!(
                "# {} logs mailboxes in with a password (an app password where the account has two-step login).",
                self.name
            ),
        }];
        if let Some(l) = &self.limits {
            let mut parts = Vec::new();
            if let Some(c) = l.connections_per_mailbox {
                parts.push(format!("{c} connections per mailbox"));
            }
            if let Some(d) = &l.download_per_day {
                parts.push(format!("{d} per day downloaded"));
            }
            if let Some(u) = &l.upload_per_day {
                parts.push(format!("{u} per day uploaded"));
            }
            lines.push(format!(
                "# Published IMAP limits: {} (source: {}).",
                parts.join(", "),
                l.source
            ));
        }
        lines
    }

    /// The `[old]` or `[new]` table for `domain`, as the plan writes it.
    pub(crate) fn side_table(&self, which: crate::plan::WhichSide, domain: &str) -> String {
        use crate::plan::WhichSide;
        let mut t = vec![format!(
            "[{}]{}# {} (preset `{}`)",
            which.as_str(),
            " ".repeat(31 - which.as_str().len()),
            self.name,
            self.id
        )];
        t.push(format!("name = {}", toml_string(&self.name)));
        if let Some(note) = &self.mx_note {
            t.push(format!("# {}", self.fill(note, domain)));
        }
        t.push(format!("mx = {}", toml_array(&self.mx_for(domain))));
        t.push(format!(
            "spf = {}   # {}'s SPF terms",
            toml_array(&self.spf_for(domain)),
            self.name
        ));
        if which == WhichSide::New
            && let Some(first) = self.dkim_selectors.first()
        {
            let how = if self.dkim_cname {
                " as CNAMEs to its keys"
            } else {
                ""
            };
            t.push(format!(
                "dkim_selector = {}   # {} publishes {}{how}",
                toml_string(first),
                self.name,
                self.dkim_selectors.join(", ")
            ));
        }
        let url = toml_string(&self.imap_for(domain));
        t.push(match which {
            WhichSide::Old => format!("imap = {url}"),
            WhichSide::New => format!("imap = {{ url = {url} }}"),
        });
        if which == WhichSide::New
            && let Some(submission) = &self.submission
        {
            if let Some(note) = &self.submission_note {
                t.push(format!("# {note}"));
            }
            t.push(format!(
                "submission = {}   # where the canary mailbox sends the outbound canary",
                toml_string(submission)
            ));
        }
        if which == WhichSide::New {
            t.push(
                "# smtp = [\"192.0.2.25:2525\"]   # where the SMTP probe asks each MX host (one \"host:port\" each, in mx's order); unset: each by name, port 25"
                    .to_string(),
            );
        }
        t.extend(self.login_and_limits_comments());
        t.join("\n")
    }
}

/// The `[sync]` limit lines from the presets' published limits: the fewest connections
/// either side allows, and the smaller of the old side's daily download and the new side's
/// daily upload (the copy moves each byte once out of one and into the other), each with
/// its source; `None` when neither side publishes a limit.
pub fn sync_limits(from: Option<&Provider>, to: Option<&Provider>) -> Option<String> {
    use crate::plan::WhichSide;
    let sides = [(WhichSide::Old, from), (WhichSide::New, to)];
    let published = sides
        .iter()
        .filter_map(|(which, p)| p.and_then(|p| p.limits.as_ref().map(|l| (*which, p, l))));
    let mut connections: Option<(u32, String)> = None;
    let mut per_day: Option<(u64, String, String)> = None;
    for (which, p, l) in published {
        if let Some(c) = l.connections_per_mailbox
            && connections.as_ref().is_none_or(|(n, _)| c < *n)
        {
            connections = Some((c, format!("{} ({}): {}", p.name, which.as_str(), l.source)));
        }
        // The copy downloads from the old side and uploads to the new one.
        let (limit, direction) = match which {
            WhichSide::Old => (&l.download_per_day, "download"),
            WhichSide::New => (&l.upload_per_day, "upload"),
        };
        if let Some(text) = limit
            && let Some(n) = crate::units::parse_bytes(text)
            && per_day.as_ref().is_none_or(|(m, ..)| n < *m)
        {
            let why = format!(
                "{} ({}) {direction} limit {text}: {}",
                p.name,
                which.as_str(),
                l.source
            );
            per_day = Some((n, text.replace(' ', ""), why));
        }
    }
    let mut lines = Vec::new();
    if let Some((n, why)) = connections {
        lines.push(commented(&format!("connections_per_mailbox = {n}"), &why));
    }
    if let Some((_, text, why)) = per_day {
        lines.push(commented(
            &format!("bytes_per_day_per_mailbox = {}", toml_string(&text)),
            &why,
        ));
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// A TOML basic string.
pub(crate) fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// `code` with `# comment` after it, in the template's comment column.
pub fn commented(code: &str, comment: &str) -> String {
    format!("{code:<32} # {comment}")
}

/// A one-line TOML array of strings.
pub(crate) fn toml_array(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| toml_string(s)).collect();
    format!("[{}]", inner.join(", "))
}

/// What `init` writes instead of the template's placeholders; `None` keeps the template's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// Comment lines put after the file's first line (where the values came from).
    pub header: Option<String>,
    /// The whole `[old]` table, up to (not including) the blank line after it.
    pub old: Option<String>,
    pub new: Option<String>,
    /// The `authoritative = …` line of `[dns]`.
    pub authoritative: Option<String>,
    /// The `old_ttl` line of `[dns]` (set or commented out).
    pub old_ttl: Option<String>,
    /// The `[sync]` limit lines ([`sync_limits`]) instead of the template's commented ones.
    pub sync_limits: Option<String>,
}

/// The rendered template with the overrides applied.
pub fn apply(text: &str, o: &Overrides) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if let Some(block) = &o.old {
        replace_table(&mut lines, "[old]", block);
    }
    if let Some(block) = &o.new {
        replace_table(&mut lines, "[new]", block);
    }
    if let Some(line) = &o.authoritative {
        replace_line(&mut lines, "authoritative =", line);
    }
    if let Some(line) = &o.old_ttl {
        // The template's old_ttl comment runs on to a second, indented line: both go.
        if let Some(at) = lines.iter().position(|l| l.starts_with("# old_ttl =")) {
            let continued = lines
                .get(at + 1)
                .is_some_and(|l| l.starts_with(' ') && l.trim_start().starts_with('#'));
            let end = if continued { at + 2 } else { at + 1 };
            lines.splice(at..end, [line.clone()]);
        }
    }
    if let Some(block) = &o.sync_limits
        && let Some(start) = lines
            .iter()
            .position(|l| l.starts_with("# connections_per_mailbox ="))
        && let Some(last) = lines
            .iter()
            .position(|l| l.starts_with("# bytes_per_day_per_mailbox ="))
    {
        // The template's bytes_per_day comment runs on to an indented line: it goes too.
        let continued = lines
            .get(last + 1)
            .is_some_and(|l| l.starts_with(' ') && l.trim_start().starts_with('#'));
        let end = if continued { last + 2 } else { last + 1 };
        lines.splice(start..end, block.lines().map(str::to_string));
    }
    if let Some(header) = &o.header
        && !lines.is_empty()
    {
        lines.insert(1, header.clone());
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Replaces the lines from `heading` up to the next blank line with `block`.
fn replace_table(lines: &mut Vec<String>, heading: &str, block: &str) {
    let Some(start) = lines.iter().position(|l| l.starts_with(heading)) else {
        return;
    };
    let end = lines[start..]
        .iter()
        .position(|l| l.trim().is_empty())
        .map_or(lines.len(), |n| start + n);
    lines.splice(start..end, block.lines().map(str::to_string));
}

fn replace_line(lines: &mut [String], prefix: &str, new: &str) {
    if let Some(line) = lines.iter_mut().find(|l| l.starts_with(prefix)) {
        *line = new.to_string();
    }
}

#[cfg(test)]
mod preset_tests {
    use super::*;
    use crate::plan::WhichSide;

    #[test]
    fn the_presets_parse_and_name_the_four_providers() {
        let ids: Vec<String> = providers().unwrap().into_iter().map(|p| p.id).collect();
        for id in ["google-workspace", "microsoft-365", "fastmail", "generic"] {
            assert!(ids.iter().any(|i| i == id), "{id} missing from {ids:?}");
        }
    }

    #[test]
    fn microsoft_mx_is_derived_from_the_domain() {
        let p = provider("microsoft-365").unwrap();
        assert_eq!(
            p.mx_for("example.co.uk"),
            vec!["0 example-co-uk.mail.protection.outlook.com."]
        );
        let table = p.side_table(WhichSide::New, "example.com");
        assert!(table.contains("admin centre"), "{table}");
        assert!(table.contains("20 connections per mailbox"), "{table}");
    }

    #[test]
    fn an_unknown_provider_names_the_known_ones() {
        let e = provider("gmail").unwrap_err().to_string();
        assert!(
            e.contains("google-workspace") && e.contains("fastmail"),
            "{e}"
        );
    }

    #[test]
    fn mx_hosts_are_matched_by_their_ending_only() {
        let g = provider("google-workspace").unwrap();
        assert!(g.owns_mx_host("ASPMX.L.GOOGLE.COM."));
        assert!(g.owns_mx_host("smtp.google.com"));
        assert!(!g.owns_mx_host("mx.notgoogle.com."));
    }

    #[test]
    fn overrides_replace_whole_tables_and_lines() {
        let text = fill("example.com", "2026-01-05T09:00", "UTC");
        let out = apply(
            &text,
            &Overrides {
                old: Some("[old]\nname = \"X\"".into()),
                authoritative: Some("authoritative = [\"192.0.2.1\"]".into()),
                ..Overrides::default()
            },
        );
        assert!(out.contains("[old]\nname = \"X\"\n\n[new]"), "{out}");
        assert!(!out.contains("mx1.old.example"));
        assert!(out.contains("authoritative = [\"192.0.2.1\"]\n"));
        let out = apply(
            &text,
            &Overrides {
                old_ttl: Some("old_ttl = \"2h\"".into()),
                ..Overrides::default()
            },
        );
        assert!(out.contains("\nold_ttl = \"2h\"\npoll ="), "{out}");
    }

    #[test]
    fn presets_fill_the_copy_limits_with_the_tighter_side_and_its_source() {
        let google = provider("google-workspace").unwrap();
        let microsoft = provider("microsoft-365").unwrap();
        // Google to Microsoft: Google's 2500 MB download and Microsoft's 20 connections.
        let lines = sync_limits(Some(&google), Some(&microsoft)).unwrap();
        assert!(lines.contains("connections_per_mailbox = 20"), "{lines}");
        assert!(
            lines.contains("bytes_per_day_per_mailbox = \"2500MB\"")
                && lines.contains("Gmail bandwidth limits"),
            "{lines}"
        );
        // Into Google: its 500 MB upload is the tighter limit.
        let lines = sync_limits(Some(&google), Some(&google)).unwrap();
        assert!(
            lines.contains("\"500MB\"") && lines.contains("upload"),
            "{lines}"
        );
        assert_eq!(
            sync_limits(None, Some(&provider("fastmail").unwrap())),
            None
        );
        let text = fill("example.com", "2026-01-05T09:00", "UTC");
        let out = apply(
            &text,
            &Overrides {
                sync_limits: Some(lines),
                ..Overrides::default()
            },
        );
        assert!(!out.contains("# bytes_per_day_per_mailbox"), "{out}");
        assert!(
            out.contains("\nbytes_per_day_per_mailbox = \"500MB\""),
            "{out}"
        );
        let plan = crate::plan::load::parse(
            std::path::Path::new("/tmp/p.toml"),
            &out,
            &crate::plan::load::Environment {
                login_user: "ops".into(),
                system_timezone: None,
            },
        );
        let plan = plan.unwrap_or_else(|e| panic!("the filled template loads: {e:?}"));
        assert_eq!(plan.plan.sync.bytes_per_day_per_mailbox, Some(500_000_000));
    }

    #[test]
    fn the_domain_is_checked_as_the_plan_loader_checks_it() {
        let now = Timestamp::UNIX_EPOCH;
        let e = render("-x.com", now).unwrap_err();
        assert!(
            e.to_string().contains("starts or ends with a hyphen"),
            "{e}"
        );
        assert!(render("abc.123", now).is_err());
        assert!(render("localhost", now).is_err());
        let plan = render(" Example.COM. ", now).unwrap();
        assert!(plan.contains("example.com"), "{plan}");
    }
}
