//! What was discovered, written as the plan: which SPF terms are the old mail
//! host's, which stay untouched, and the plan's `[old]`/`[dns]` text with comments
//! saying where each value came from. Pure.

use super::*;
use crate::step::StepId;

/// The MX host names, lowercase with the trailing dot, in MX order.
pub fn mx_hosts(d: &Discovery) -> Vec<String> {
    d.mx.iter()
        .flat_map(|m| m.records.iter())
        .filter_map(|r| r.split_whitespace().nth(1))
        .map(|h| format!("{}.", h.trim_end_matches('.').to_ascii_lowercase()))
        .filter(|h| h != ".") // a null MX names no host
        .collect()
}

/// Whose an SPF term is, as far as the DNS tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attribution {
    /// The old mail host's (it goes to `[old] spf`); the reason.
    Old(String),
    /// Someone else's, e.g. a CRM's or a newsletter service's include: it stays in the record.
    Stays(String),
    /// Cannot tell whose: left out of `[old] spf`, with the reason.
    Unknown(String),
    /// Not a sender (`all`, `exp=`): nothing to decide.
    NotASender,
}

/// The provider the MX hosts point at: `from` when given, else the first preset that owns
/// any MX host.
pub(crate) fn old_provider<'a>(
    d: &Discovery,
    from: Option<&'a Provider>,
    providers: &'a [Provider],
) -> Option<&'a Provider> {
    from.or_else(|| {
        let hosts = mx_hosts(d);
        providers
            .iter()
            .find(|p| hosts.iter().any(|h| p.owns_mx_host(h)))
    })
}

/// Each term of the SPF record with whose it is. Pure: from what was discovered only.
pub(crate) fn attribute_spf(
    d: &Discovery,
    old: Option<&Provider>,
    providers: &[Provider],
) -> Vec<(String, Attribution)> {
    let Some((record, _)) = &d.spf else {
        return vec![];
    };
    let hosts = mx_hosts(d);
    let mx_ips: Vec<IpAddr> = d
        .mx_addresses
        .iter()
        .flat_map(|(_, ips)| ips.iter().copied())
        .collect();
    let apex_ips: Vec<IpAddr> = d
        .web
        .iter()
        .filter(|(owner, _, _)| owner == &d.domain)
        .flat_map(|(_, _, set)| set.records.iter().filter_map(|r| r.parse().ok()))
        .collect();
    // Words as written (qualifier kept) beside the parsed terms; the parse is the
    // judge of what a term is.
    let words: Vec<&str> = record.split_ascii_whitespace().skip(1).collect();
    let Ok(parsed) = crate::syntax::spf::parse(record) else {
        return words
            .iter()
            .map(|w| {
                (
                    w.to_string(),
                    Attribution::Unknown("the record does not parse as SPF".into()),
                )
            })
            .collect();
    };
    words
        .iter()
        .zip(parsed.terms.iter())
        .map(|(word, term)| {
            let a = match &term.kind {
                TermKind::Modifier(Modifier::Redirect(value)) => {
                    match provider_of_include(value.as_str(), old, providers) {
                        Some((p, true)) => Attribution::Old(format!("{}'s SPF", p.name)),
                        _ => Attribution::Unknown(
                            "a redirect hands the whole policy elsewhere".into(),
                        ),
                    }
                }
                TermKind::Modifier(_) => Attribution::NotASender,
                TermKind::Mechanism { mechanism, .. } => {
                    // The argument as written, after the name's colon (CIDR lengths included).
                    let value = term
                        .text
                        .trim_start_matches(['+', '-', '~', '?'])
                        .split_once(':')
                        .map(|(_, v)| v);
                    attribute_mechanism(
                        mechanism.name(),
                        value,
                        d,
                        &hosts,
                        &mx_ips,
                        &apex_ips,
                        old,
                        providers,
                    )
                }
            };
            (word.to_string(), a)
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn attribute_mechanism(
    name: &str,
    value: Option<&str>,
    d: &Discovery,
    hosts: &[String],
    mx_ips: &[IpAddr],
    apex_ips: &[IpAddr],
    old: Option<&Provider>,
    providers: &[Provider],
) -> Attribution {
    // "a:host/24" and "mx:domain/24": the domain part before any CIDR length.
    let target = value.map(|v| {
        let host = v.split('/').next().unwrap_or("");
        format!("{}.", host.trim_end_matches('.').to_ascii_lowercase())
    });
    let apex = format!("{}.", d.domain);
    match (name, target.as_deref()) {
        ("all", _) => Attribution::NotASender,
        ("mx", None) => Attribution::Old("`mx` covers the MX hosts".into()),
        ("mx", Some(t)) if t == apex => Attribution::Old("`mx` covers the MX hosts".into()),
        ("a", Some(t)) if hosts.iter().any(|h| h == t) => {
            Attribution::Old(format!("{} is an MX host", t))
        }
        ("a", None) if apex_ips.iter().any(|ip| mx_ips.contains(ip)) => {
            Attribution::Old("the domain's address is an MX host's".into())
        }
        ("ip4" | "ip6", Some(_)) => match value.and_then(network) {
            Some(net) if mx_ips.iter().any(|ip| net.contains(ip)) => {
                Attribution::Old("an MX host's address".into())
            }
            Some(_) if mx_ips.is_empty() => {
                Attribution::Unknown("the MX hosts' addresses were not found".into())
            }
            Some(_) => Attribution::Unknown("none of the MX hosts' addresses".into()),
            None => Attribution::Unknown("not an address".into()),
        },
        ("include", Some(t)) => match provider_of_include(t, old, providers) {
            Some((p, true)) => Attribution::Old(format!("{}'s SPF include", p.name)),
            Some((p, false)) => Attribution::Stays(format!("{}'s SPF include", p.name)),
            None if names_mx_domain(t, hosts, &d.domain) => {
                Attribution::Old("names the MX hosts' domain".into())
            }
            None => Attribution::Stays(
                "another service's include, e.g. a CRM's or a newsletter's".into(),
            ),
        },
        _ => Attribution::Unknown("does not name the MX hosts or the old provider".into()),
    }
}

/// The preset whose SPF include `target` is, and whether it is the old provider.
fn provider_of_include<'a>(
    target: &str,
    old: Option<&'a Provider>,
    providers: &'a [Provider],
) -> Option<(&'a Provider, bool)> {
    let t = target.trim_end_matches('.').to_ascii_lowercase();
    let names = |p: &Provider| {
        p.spf.iter().any(|term| {
            term.strip_prefix("include:")
                .is_some_and(|i| i.trim_end_matches('.').eq_ignore_ascii_case(&t))
        })
    };
    if let Some(p) = old.filter(|p| names(p)) {
        return Some((p, true));
    }
    providers
        .iter()
        .find(|p| names(p))
        .map(|p| (p, old.is_some_and(|o| o.id == p.id)))
}

/// Whether an include's domain lies under the domain of an MX host (mx1.host.example →
/// host.example), that domain not being the migrated domain itself.
fn names_mx_domain(target: &str, hosts: &[String], domain: &str) -> bool {
    let t = target.trim_end_matches('.').to_ascii_lowercase();
    hosts.iter().any(|h| {
        let h = h.trim_end_matches('.');
        let Some((_, parent)) = h.split_once('.') else {
            return false;
        };
        parent.contains('.')
            && !in_zone(parent, domain)
            && (t == parent || t.ends_with(&format!(".{parent}")))
    })
}

/// An `ip4`/`ip6` value as (network, prefix length).
struct Network {
    ip: IpAddr,
    prefix: u32,
}

impl Network {
    fn contains(&self, ip: &IpAddr) -> bool {
        match (self.ip, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix.min(32)).unwrap_or(0);
                u32::from(n) & mask == u32::from(*a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - self.prefix.min(128))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(*a) & mask
            }
            _ => false,
        }
    }
}

fn network(value: &str) -> Option<Network> {
    let (ip, prefix) = match value.split_once('/') {
        Some((ip, p)) => (ip.parse::<IpAddr>().ok()?, p.parse::<u32>().ok()?),
        None => {
            let ip = value.parse::<IpAddr>().ok()?;
            (ip, if ip.is_ipv4() { 32 } else { 128 })
        }
    };
    Some(Network { ip, prefix })
}

/// A TTL as the plan writes durations: "24h", "1h30m", "1m30s".
fn plan_duration(secs: u32) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

fn server_text(addr: &SocketAddr) -> String {
    if addr.port() == 53 {
        addr.ip().to_string()
    } else {
        addr.to_string()
    }
}

/// The plan's values from a discovery: `[old]`, `[dns] authoritative` and `old_ttl`, with
/// comments saying where each came from. `from` is the old provider named on the command
/// line; `migration_ttl` the plan's.
pub fn plan_overrides(
    d: &Discovery,
    from: Option<&Provider>,
    providers: &[Provider],
    migration_ttl: u32,
) -> Overrides {
    let old = old_provider(d, from, providers);
    let hosts = mx_hosts(d);
    let mut t: Vec<String> = Vec::new();
    let asked = d
        .answered_by
        .map(|s| server_text(&s))
        .unwrap_or_else(|| "the authoritative servers".into());
    t.push(format!(
        "[old]                            # discovered from the domain's DNS, asked at {asked}"
    ));
    t.push(match (old, from) {
        (Some(p), Some(_)) => commented(
            &format!("name = {}", toml_string(&p.name)),
            &format!("from --from {}", p.id),
        ),
        (Some(p), None) => commented(
            &format!("name = {}", toml_string(&p.name)),
            "the provider the MX hosts point at",
        ),
        (None, _) => "name = \"Old host\"".into(),
    });
    // Which provider each MX host points at.
    for host in &hosts {
        let whose = providers
            .iter()
            .find(|p| p.owns_mx_host(host))
            .map(|p| format!("{} (preset `{}`)", p.name, p.id))
            .unwrap_or_else(|| "no provider cutover knows".into());
        t.push(format!("# MX host {}: {whose}", sanitize(host)));
    }
    // A null MX ("0 .", RFC 7505) says the domain takes no mail: not a server to plan for.
    let served: Vec<String> =
        d.mx.iter()
            .flat_map(|m| m.records.iter())
            .filter(|r| r.split_whitespace().nth(1).is_some_and(|h| h != "."))
            .map(|r| sanitize(r))
            .collect();
    match &d.mx {
        Some(mx) if !served.is_empty() => t.push(format!(
            "mx = {}   # the domain's MX records, TTL {}",
            toml_array(&served),
            crate::units::ttl(mx.ttl)
        )),
        _ => {
            t.push(
                "# The domain serves no MX record of a mail server: write the old server's here."
                    .into(),
            );
            t.push("mx = [\"10 mx1.old.example.\"]".into());
        }
    }
    t.push(match &d.spf {
        Some((record, ttl)) => format!(
            "# SPF record served (TTL {}): {}",
            crate::units::ttl(*ttl),
            sanitize(record)
        ),
        None => "# The domain publishes no SPF record.".into(),
    });
    let terms = attribute_spf(d, old, providers);
    let mut old_terms = Vec::new();
    let (mut stays, mut unknown) = (Vec::new(), Vec::new());
    for (term, a) in &terms {
        let term = sanitize(term);
        match a {
            Attribution::Old(why) => {
                t.push(format!("#   {term}: the old mail host's ({why})"));
                old_terms.push(term);
            }
            Attribution::Stays(why) => stays.push(format!("{term} ({why})")),
            Attribution::Unknown(why) => unknown.push(format!("{term} ({why})")),
            Attribution::NotASender => {}
        }
    }
    if !stays.is_empty() {
        t.push(format!(
            "# Stay in the record untouched (not the old mail host's; {} keeps them): {}",
            StepId::DkimSpfFinal,
            stays.join(", ")
        ));
    }
    if !unknown.is_empty() {
        t.push(format!(
            "# Left out: cannot tell whose these are; add any that is the old mail host's, since {} removes every term listed here: {}",
            StepId::DkimSpfFinal,
            unknown.join(", ")
        ));
    }
    t.push(format!("spf = {}", toml_array(&old_terms)));
    match old {
        Some(p) => t.push(format!(
            "imap = {}   # {}'s IMAP server (preset `{}`)",
            toml_string(&p.imap_for(&d.domain)),
            p.name,
            p.id
        )),
        None => t.push(
            "imap = \"imaps://imap.old.example:993\"   # not discovered: write the old server's IMAP address"
                .into(),
        ),
    }
    if let Some(p) = old {
        t.extend(p.login_and_limits_comments());
    }
    // What else the DNS holds, for the record.
    for found in &d.dkim {
        let what = match (&found.cname, &found.record) {
            (Some(c), Some(_)) => format!("CNAME to {}, key found there", sanitize(c)),
            (Some(c), None) => format!("CNAME to {}, key not found", sanitize(c)),
            (None, _) => "TXT key".into(),
        };
        t.push(format!("# DKIM selector {}: {what}", found.selector));
    }
    if d.dkim.is_empty() {
        t.push(format!(
            "# DKIM: no key at the common selectors ({})",
            DKIM_SELECTORS.join(", ")
        ));
    }
    t.push(match &d.dmarc {
        Some(r) => format!("# DMARC (_dmarc): {}", sanitize(r)),
        None => "# DMARC (_dmarc): none published".into(),
    });
    t.push(match &d.mta_sts {
        Some(r) => format!("# MTA-STS (_mta-sts): {}", sanitize(r)),
        None => "# MTA-STS (_mta-sts): none published".into(),
    });
    for (owner, rtype, set) in &d.web {
        t.push(format!(
            "# {} {rtype}: {} (TTL {}); the migration does not change it",
            sanitize(owner),
            sanitize(&set.records.join(" ")),
            crate::units::ttl(set.ttl)
        ));
    }

    let servers: Vec<String> = d.servers.iter().map(server_text).collect();
    let source = if d.servers_given {
        "as given with --authoritative".to_string()
    } else {
        format!(
            "the addresses of the NS hosts {}",
            d.ns.iter()
                .map(|n| sanitize(&n.name))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let authoritative = commented(
        &format!("authoritative = {}", toml_array(&servers)),
        &source,
    );

    let seen: Vec<(&str, u32)> =
        d.mx.as_ref()
            .map(|m| ("MX", m.ttl))
            .into_iter()
            .chain(d.spf.as_ref().map(|(_, ttl)| ("SPF TXT", *ttl)))
            .collect();
    let largest = seen.iter().map(|(_, ttl)| *ttl).max();
    let seen_text = seen
        .iter()
        .map(|(what, ttl)| format!("{what} {}", crate::units::ttl(*ttl)))
        .collect::<Vec<_>>()
        .join(", ");
    let old_ttl = match largest {
        Some(ttl) if ttl > migration_ttl => commented(
            &format!("old_ttl = {}", toml_string(&plan_duration(ttl))),
            &format!("the largest TTL served before the lowering ({seen_text})"),
        ),
        Some(_) => format!(
            "# old_ttl unset: the TTLs served now ({seen_text}) are at or under the migration TTL, so say nothing of the old one; 24 h will be assumed"
        ),
        None => "# old_ttl unset: no MX or SPF TTL was seen; 24 h will be assumed".into(),
    };
    Overrides {
        header: Some(format!(
            "# [old], [dns] authoritative and old_ttl were discovered from {}'s DNS by `cutover init --discover`.",
            d.domain
        )),
        old: Some(t.join("\n")),
        new: None,
        authoritative: Some(authoritative),
        old_ttl: Some(old_ttl),
        sync_limits: None,
    }
}

/// The whole plan for a discovery: the template with [`plan_overrides`] applied, and
/// `[new]` from `to` when given.
pub fn plan_text(
    d: &Discovery,
    from: Option<&Provider>,
    to: Option<&Provider>,
    providers: &[Provider],
    now: Timestamp,
) -> Result<String, crate::plan::init::BadDomain> {
    let text = crate::plan::init::render(&d.domain, now)?;
    let mut o = plan_overrides(
        d,
        from,
        providers,
        crate::plan::init::TEMPLATE_MIGRATION_TTL,
    );
    o.new = to.map(|p| p.side_table(WhichSide::New, &d.domain));
    o.sync_limits = crate::plan::init::sync_limits(old_provider(d, from, providers), to);
    Ok(crate::plan::init::apply(&text, &o))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::init::providers;

    fn discovery(mx: &[&str], spf: &str) -> Discovery {
        Discovery {
            domain: "example.com".into(),
            servers: vec!["192.0.2.53:53".parse().unwrap()],
            mx: Some(Rrset {
                records: mx.iter().map(|s| s.to_string()).collect(),
                ttl: 86_400,
            }),
            spf: Some((spf.into(), 3600)),
            ..Discovery::default()
        }
    }

    fn whose(d: &Discovery, term: &str) -> Attribution {
        let all = providers().unwrap();
        let old = old_provider(d, None, &all);
        attribute_spf(d, old, &all)
            .into_iter()
            .find(|(t, _)| t == term)
            .map(|(_, a)| a)
            .unwrap_or_else(|| panic!("no term {term}"))
    }

    #[test]
    fn terms_covering_the_mx_hosts_are_the_old_hosts() {
        let mut d = discovery(
            &["10 mx1.oldhost.example.", "20 mx2.oldhost.example."],
            "v=spf1 mx a:mx2.oldhost.example ip4:198.51.100.0/24 ip4:203.0.113.9 ~all",
        );
        d.mx_addresses = vec![(
            "mx1.oldhost.example.".into(),
            vec!["198.51.100.7".parse().unwrap()],
        )];
        assert!(matches!(whose(&d, "mx"), Attribution::Old(_)));
        assert!(matches!(
            whose(&d, "a:mx2.oldhost.example"),
            Attribution::Old(_)
        ));
        assert!(matches!(
            whose(&d, "ip4:198.51.100.0/24"),
            Attribution::Old(_)
        ));
        assert!(matches!(
            whose(&d, "ip4:203.0.113.9"),
            Attribution::Unknown(_)
        ));
        assert_eq!(whose(&d, "~all"), Attribution::NotASender);
    }

    #[test]
    fn the_old_providers_include_is_old_and_a_crms_stays() {
        let d = discovery(
            &["1 aspmx.l.google.com."],
            "v=spf1 include:_spf.google.com include:servers.mcsv.net include:spf.protection.outlook.com -all",
        );
        assert!(matches!(
            whose(&d, "include:_spf.google.com"),
            Attribution::Old(_)
        ));
        assert!(matches!(
            whose(&d, "include:servers.mcsv.net"),
            Attribution::Stays(_)
        ));
        // Another mail provider's include is not the old host's either.
        assert!(matches!(
            whose(&d, "include:spf.protection.outlook.com"),
            Attribution::Stays(_)
        ));
    }

    #[test]
    fn an_include_under_the_mx_hosts_domain_is_the_old_hosts() {
        let d = discovery(
            &["10 mx1.oldhost.example."],
            "v=spf1 include:_spf.oldhost.example include:mail.example.com ~all",
        );
        assert!(matches!(
            whose(&d, "include:_spf.oldhost.example"),
            Attribution::Old(_)
        ));
        assert!(matches!(
            whose(&d, "include:mail.example.com"),
            Attribution::Stays(_)
        ));
    }

    #[test]
    fn the_plan_lists_old_terms_and_comments_the_others() {
        let d = discovery(
            &["1 aspmx.l.google.com."],
            "v=spf1 include:_spf.google.com include:servers.mcsv.net ptr ~all",
        );
        let all = providers().unwrap();
        let o = plan_overrides(&d, None, &all, 300);
        let old = o.old.unwrap();
        assert!(old.contains("spf = [\"include:_spf.google.com\"]"), "{old}");
        assert!(
            old.contains("untouched") && old.contains("include:servers.mcsv.net"),
            "{old}"
        );
        assert!(old.contains("cannot tell") && old.contains("ptr"), "{old}");
        assert!(
            old.contains("Google Workspace (preset `google-workspace`)"),
            "{old}"
        );
        assert!(old.contains("imap.gmail.com"), "{old}");
        assert!(o.old_ttl.unwrap().starts_with("old_ttl = \"24h\""));
    }

    #[test]
    fn a_lowered_ttl_leaves_old_ttl_unset() {
        let mut d = discovery(&["10 mx1.oldhost.example."], "v=spf1 mx -all");
        d.mx.as_mut().unwrap().ttl = 300;
        d.spf.as_mut().unwrap().1 = 60;
        let o = plan_overrides(&d, None, &providers().unwrap(), 300);
        let line = o.old_ttl.unwrap();
        assert!(
            line.starts_with('#') && line.contains("24 h will be assumed"),
            "{line}"
        );
    }

    #[test]
    fn a_null_mx_is_no_server_to_plan_for() {
        let d = discovery(&["0 ."], "v=spf1 -all");
        assert!(mx_hosts(&d).is_empty());
        let old = plan_overrides(&d, None, &providers().unwrap(), 300)
            .old
            .unwrap();
        assert!(old.contains("mx = [\"10 mx1.old.example.\"]"), "{old}");
        assert!(old.contains("no MX record of a mail server"), "{old}");
    }

    #[test]
    fn durations_are_written_as_the_plan_reads_them() {
        assert_eq!(plan_duration(86_400), "24h");
        assert_eq!(plan_duration(3600), "1h");
        assert_eq!(plan_duration(5400), "1h30m");
        assert_eq!(plan_duration(90), "1m30s");
        assert_eq!(plan_duration(172_800 + 3600), "49h");
    }
}
