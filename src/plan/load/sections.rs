//! The plan's sections: start and calendar, `[dns]`, `[old]`/`[new]` with their
//! IMAP endpoints, `[credentials]`, `[sync]`, the plan's own steps.

use super::*;
use crate::step::StepId;

impl<'s> Loader<'s> {
    pub(super) fn domain(&mut self, raw: &str, span: &Range<usize>) -> Option<String> {
        match crate::syntax::domain::parse_domain(raw.trim()) {
            Ok(d) => Some(d),
            Err(why) => {
                self.error(
                    span,
                    format!(
                        "`{}` is not a domain name: {why}",
                        crate::sanitize::sanitize(raw)
                    ),
                    "write the mail domain itself, e.g. `domain = \"example.com\"` (internationalised names in their xn-- form)",
                );
                None
            }
        }
    }

    pub(super) fn start(&mut self, top: &DeTable<'s>) -> Option<DateTime> {
        let Some(v) = Self::value(top, "start") else {
            self.error(
                &(0..0),
                "`start` is missing",
                "add `start = \"2026-12-07T09:00\"`: the local time when day 1 begins",
            );
            return None;
        };
        let text = match v.get_ref() {
            DeValue::String(s) => s.to_string(),
            DeValue::Datetime(dt) => dt.to_string(),
            _ => String::new(),
        };
        match text.parse::<DateTime>() {
            Ok(dt) if !text.contains(['Z', '+']) && !text[10.min(text.len())..].contains('-') => {
                Some(dt)
            }
            _ => {
                self.error(
                    &v.span(),
                    format!("`start` is not a local date and time: {:?}", crate::sanitize::sanitize(&text)),
                    "write `start = \"2026-12-07T09:00\"` (local time in the plan's timezone, no offset)",
                );
                None
            }
        }
    }

    pub(super) fn timezone(&mut self, top: &DeTable<'s>, env: &Environment) -> (String, TimeZone) {
        if let Some((name, span)) = self.string(top, "timezone", "") {
            match jiff::tz::db().get(&name) {
                Ok(tz) => return (name, tz),
                Err(_) => self.error(
                    &span,
                    format!("unknown time zone `{}`", crate::sanitize::sanitize(&name)),
                    "write an IANA name such as `timezone = \"Europe/Vilnius\"`",
                ),
            }
        }
        match &env.system_timezone {
            Some(name) => match jiff::tz::db().get(name) {
                Ok(tz) => (name.clone(), tz),
                Err(_) => ("UTC".into(), TimeZone::UTC),
            },
            None => ("UTC".into(), TimeZone::UTC),
        }
    }

    pub(super) fn working_days(&mut self, top: &DeTable<'s>) -> Vec<Weekday> {
        let default = vec![
            Weekday::Monday,
            Weekday::Tuesday,
            Weekday::Wednesday,
            Weekday::Thursday,
            Weekday::Friday,
        ];
        let Some(items) = self.strings(top, "working_days", "") else {
            return default;
        };
        let mut days = Vec::new();
        for (name, span) in &items {
            match parse_weekday(name) {
                Some(d) if !days.contains(&d) => days.push(d),
                Some(_) => self.warn(span, format!("`{name}` is listed twice in working_days"), "list each day once"),
                None => self.error(
                    span,
                    format!("`{}` is not a day of the week", crate::sanitize::sanitize(name)),
                    "write three-letter days: \"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\"",
                ),
            }
        }
        if days.is_empty() && !items.is_empty() {
            return default;
        }
        if items.is_empty() {
            let span = Self::value(top, "working_days")
                .map(|v| v.span())
                .unwrap_or(0..0);
            self.error(
                &span,
                "`working_days` is empty",
                "list the days work happens, e.g. [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]",
            );
            return default;
        }
        days.sort_by_key(|d| d.to_monday_one_offset());
        days
    }

    pub(super) fn dns(&mut self, top: &DeTable<'s>) -> Option<DnsPlan> {
        let empty = DeTable::new();
        let dns = match self.table(top, "dns", "") {
            Some((t, _)) => t,
            None if Self::value(top, "dns").is_some() => return None,
            None => &empty,
        };
        self.check_keys(dns, DNS_KEYS, "dns");
        let mut ok = true;
        let migration_ttl = match Self::value(dns, "migration_ttl") {
            None => 300,
            Some(_) => match self.ttl(dns, "migration_ttl", "dns") {
                Some((t, span)) => {
                    if t < 60 {
                        self.warn(&span, format!("a migration TTL of {t} s is shorter than a minute: very short TTLs cause their own problems (R2)"), "write `migration_ttl = \"5m\"`");
                    } else if t > 3600 {
                        self.warn(
                            &span,
                            format!(
                                "a migration TTL of {} keeps a mistake alive that long",
                                crate::units::ttl(t)
                            ),
                            "the procedure uses `migration_ttl = \"5m\"`",
                        );
                    }
                    t
                }
                None => {
                    ok = false;
                    300
                }
            },
        };
        let (mut restore_mx, mut restore_txt) = (86_400, 21_600);
        if let Some(v) = Self::value(dns, "restore_ttl") {
            match v.get_ref() {
                DeValue::Table(t) => {
                    self.check_keys(t, &["mx", "txt"], "dns.restore_ttl");
                    if Self::value(t, "mx").is_some() {
                        match self.ttl(t, "mx", "dns.restore_ttl") {
                            Some((s, _)) => restore_mx = s,
                            None => ok = false,
                        }
                    }
                    if Self::value(t, "txt").is_some() {
                        match self.ttl(t, "txt", "dns.restore_ttl") {
                            Some((s, _)) => restore_txt = s,
                            None => ok = false,
                        }
                    }
                }
                _ => {
                    ok = false;
                    self.error(
                        &v.span(),
                        "`dns.restore_ttl` must be a table",
                        "write `restore_ttl = { mx = \"24h\", txt = \"6h\" }`",
                    );
                }
            }
        }
        let old_ttl = match Self::value(dns, "old_ttl") {
            None => None,
            Some(_) => match self.ttl(dns, "old_ttl", "dns") {
                Some((t, _)) => Some(t),
                None => {
                    ok = false;
                    None
                }
            },
        };
        let poll = self.duration_or(dns, "poll", Duration::from_secs(30), &mut ok);
        let timeout = self.duration_or(dns, "timeout", Duration::from_secs(3), &mut ok);
        if let Some(v) = Self::value(dns, "poll")
            && poll < Duration::from_secs(5)
        {
            self.warn(
                &v.span(),
                "polling DNS more often than every 5 s adds load and shows nothing new",
                "write `poll = \"30s\"`",
            );
        }
        if let Some(v) = Self::value(dns, "timeout")
            && (timeout.is_zero() || timeout > Duration::from_secs(30))
        {
            ok = false;
            self.error(
                &v.span(),
                "`dns.timeout` must be between 1 ms and 30 s",
                "write `timeout = \"3s\"`",
            );
        }
        let default_resolvers = ["1.1.1.1:53", "8.8.8.8:53", "9.9.9.9:53"]
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        let mut names = std::collections::BTreeMap::new();
        let resolvers = match Self::value(dns, "resolvers") {
            None => default_resolvers,
            Some(_) => self.servers(dns, "resolvers", &mut names, &mut ok),
        };
        let authoritative = match Self::value(dns, "authoritative") {
            None => vec![],
            Some(_) => self.servers(dns, "authoritative", &mut names, &mut ok),
        };
        ok.then_some(DnsPlan {
            migration_ttl,
            restore_ttl_mx: restore_mx,
            restore_ttl_txt: restore_txt,
            old_ttl,
            poll,
            timeout,
            resolvers,
            authoritative,
            names,
        })
    }

    /// A list of DNS servers: each "addr[:port]", or `{ address = "addr[:port]", name = "…" }`
    /// to give it the name the DNS pane heads its column with.
    fn servers(
        &mut self,
        table: &DeTable<'s>,
        key: &str,
        names: &mut std::collections::BTreeMap<SocketAddr, String>,
        ok: &mut bool,
    ) -> Vec<SocketAddr> {
        let section = format!("dns.{key}");
        let example = "write \"9.9.9.9\", \"9.9.9.9:53\", \"[2620:fe::fe]:53\" or { address = \"9.9.9.9\", name = \"Quad9\" }";
        let Some(v) = Self::value(table, key) else {
            return vec![];
        };
        let Some(array) = v.get_ref().as_array() else {
            *ok = false;
            self.error(
                &v.span(),
                format!("`{section}` must be a list of server addresses"),
                format!(
                    "write `{key} = [\"1.1.1.1\", {{ address = \"9.9.9.9\", name = \"Quad9\" }}]`"
                ),
            );
            return vec![];
        };
        let mut out: Vec<SocketAddr> = Vec::new();
        for item in array.iter() {
            let (text, span, name) = match item.get_ref() {
                DeValue::String(s) => (s.to_string(), item.span(), None),
                DeValue::Table(t) => {
                    self.check_keys(t, &["address", "name"], &section);
                    let name = self.string(t, "name", &section);
                    match self.string(t, "address", &section) {
                        Some((address, span)) => (address, span, name),
                        None => {
                            *ok = false;
                            if Self::value(t, "address").is_none() {
                                self.error(
                                    &item.span(),
                                    format!("`address` is missing in an entry of `{section}`"),
                                    example,
                                );
                            }
                            continue;
                        }
                    }
                }
                other => {
                    *ok = false;
                    self.error(
                        &item.span(),
                        format!("`{section}` must hold addresses (strings) or {{ address, name }} tables, not {}", type_name(other)),
                        example,
                    );
                    continue;
                }
            };
            let Some(addr) = parse_server_address(&text) else {
                *ok = false;
                self.error(
                    &span,
                    format!(
                        "`{}` is not an IP address with an optional port",
                        crate::sanitize::sanitize(&text)
                    ),
                    example,
                );
                continue;
            };
            if out.contains(&addr) {
                self.warn(
                    &span,
                    format!("{addr} is listed twice"),
                    "list each server once",
                );
                continue;
            }
            match name {
                Some((name, span)) if name.trim().is_empty() => {
                    *ok = false;
                    self.error(
                        &span,
                        format!("the name of {addr} is empty"),
                        "leave `name` out to show the address, or write what the server is called",
                    );
                }
                Some((name, _)) => {
                    names.insert(addr, name.trim().to_string());
                }
                None => {}
            }
            out.push(addr);
        }
        out
    }

    pub(super) fn side(&mut self, top: &DeTable<'s>, which: &str) -> Option<Side> {
        let Some((t, span)) = self.table(top, which, "") else {
            if Self::value(top, which).is_none() {
                self.error(
                    &(0..0),
                    format!("the [{which}] section is missing"),
                    format!("add [{which}] with `mx = [\"10 mx.{which}.example.\"]` and `imap = \"imaps://imap.{which}.example:993\"`"),
                );
            }
            return None;
        };
        self.check_keys(t, SIDE_KEYS, which);
        let mut ok = true;
        let name = self
            .string(t, "name", which)
            .map(|(s, _)| s)
            .unwrap_or_else(|| format!("{}{} host", which[..1].to_uppercase(), &which[1..]));
        let mut mx = Vec::new();
        match self.strings(t, "mx", which) {
            Some(items) if !items.is_empty() => {
                for (text, span) in items {
                    match parse_mx(&text) {
                        Ok(r) => mx.push(r),
                        Err(why) => {
                            ok = false;
                            self.error(
                                &span,
                                format!(
                                    "`{}` is not an MX record: {why}",
                                    crate::sanitize::sanitize(&text)
                                ),
                                "write the preference and the host: \"10 mx1.example.net.\"",
                            );
                        }
                    }
                }
            }
            Some(_) => {
                ok = false;
                let s = Self::value(t, "mx")
                    .map(|v| v.span())
                    .unwrap_or(span.clone());
                self.error(
                    &s,
                    format!("`{which}.mx` is empty"),
                    "list the MX records, e.g. `mx = [\"10 mx1.example.net.\"]`",
                );
            }
            None => {
                ok = false;
                if Self::value(t, "mx").is_none() {
                    self.error(
                        &span,
                        format!("`mx` is missing in [{which}]"),
                        "add `mx = [\"10 mx1.example.net.\"]`: the MX records of this side",
                    );
                }
            }
        }
        let spf: Vec<String> = match self.strings(t, "spf", which) {
            Some(items) => {
                let mut terms = Vec::new();
                for (term, span) in items {
                    match spf_term_problem(&term) {
                        None => terms.push(term),
                        Some(why) => {
                            ok = false;
                            self.error(
                                &span,
                                format!("`{}` is not an SPF mechanism: {why}", crate::sanitize::sanitize(&term)),
                                "write one mechanism per string, e.g. \"include:_spf.example.net\", \"ip4:192.0.2.0/24\", \"mx\"",
                            );
                        }
                    }
                }
                terms
            }
            None => {
                if Self::value(t, "spf").is_none() {
                    self.warn(&span, format!("[{which}] has no `spf` terms: SPF checks cannot tell this side's senders"), "add e.g. `spf = [\"include:_spf.example.net\"]`");
                }
                vec![]
            }
        };
        let dkim_selector = match self.string(t, "dkim_selector", which) {
            Some((s, span)) => {
                if s.is_empty()
                    || !s.split('.').all(|l| {
                        !l.is_empty()
                            && l.chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    })
                {
                    ok = false;
                    self.error(
                        &span,
                        format!("`{}` is not a DKIM selector", crate::sanitize::sanitize(&s)),
                        "write the selector alone, e.g. `dkim_selector = \"sel1\"`",
                    );
                    None
                } else {
                    Some(s)
                }
            }
            None => {
                if which == "new" && Self::value(t, "dkim_selector").is_none() {
                    self.warn(&span, "[new] has no `dkim_selector`: the DKIM record cannot be checked (R9)", "add the selector your new provider gave you, e.g. `dkim_selector = \"sel1\"`");
                }
                None
            }
        };
        let imap = match Self::value(t, "imap") {
            Some(v) => self.imap(v, which),
            None => {
                self.error(
                    &span,
                    format!("`imap` is missing in [{which}]"),
                    format!("add `imap = \"imaps://imap.{which}.example:993\"`"),
                );
                None
            }
        };
        let smtp = self.smtp_addresses(t, which, &mx, &mut ok);
        let submission = self.new_submission(t, which, &mut ok);
        if !ok {
            return None;
        }
        Some(Side {
            name,
            mx,
            spf,
            dkim_selector,
            imap: imap?,
            smtp,
            submission,
        })
    }

    pub(super) fn imap(&mut self, v: &Value<'s>, which: &str) -> Option<ImapEndpoint> {
        let section = format!("{which}.imap");
        let (url, url_span, tls, ca_file, insecure, pin) = match v.get_ref() {
            DeValue::String(s) => (s.to_string(), v.span(), None, None, false, None),
            DeValue::Table(t) => {
                self.check_keys(t, IMAP_KEYS, &section);
                let Some((url, span)) = self.string(t, "url", &section) else {
                    if Self::value(t, "url").is_none() {
                        self.error(
                            &v.span(),
                            format!("`url` is missing in `{section}`"),
                            "write `imap = { url = \"imaps://imap.example.net:993\" }`",
                        );
                    }
                    return None;
                };
                let tls = self.string(t, "tls", &section);
                let ca = self
                    .string(t, "ca_file", &section)
                    .map(|(p, span)| (self.resolve(&p), span));
                let insecure = self
                    .boolean(t, "insecure_skip_verify", &section)
                    .unwrap_or(false);
                let pin = self.string(t, "pin_sha256", &section);
                (url, span, tls, ca, insecure, pin)
            }
            _ => {
                self.error(
                    &v.span(),
                    format!("`{section}` must be a URL string or a table"),
                    "write `imap = \"imaps://imap.example.net:993\"`",
                );
                return None;
            }
        };
        let Some((scheme, host, port)) = parse_imap_url(&url) else {
            self.error(
                &url_span,
                format!("`{}` is not an IMAP URL", crate::sanitize::sanitize(&url)),
                "write `imaps://host:993` (TLS) or `imap://host:143` (STARTTLS); never put a password in it",
            );
            return None;
        };
        let mut security = if scheme == "imaps" {
            Security::Implicit
        } else {
            Security::StartTls
        };
        if let Some((tls, span)) = tls {
            match (tls.as_str(), security) {
                ("none", Security::StartTls) => security = Security::None,
                ("starttls", Security::StartTls) | ("implicit", Security::Implicit) => {}
                ("none" | "starttls", Security::Implicit) | ("implicit", Security::StartTls) => {
                    self.error(&span, format!("`tls = \"{tls}\"` contradicts the URL's `{scheme}://`"), "use `imaps://` for TLS from the start, or `imap://` with `tls = \"starttls\"` or `tls = \"none\"`");
                    return None;
                }
                _ => {
                    self.error(&span, format!("`tls = \"{}\"` is not a TLS mode", crate::sanitize::sanitize(&tls)), "write `tls = \"none\"` (plain text, loopback only), `\"starttls\"` or `\"implicit\"`");
                    return None;
                }
            }
            if security == Security::None && !is_loopback_host(&host) {
                self.warn(
                    &span,
                    format!("plain-text IMAP to {host}: passwords cross the network unencrypted"),
                    "use `imaps://` or `imap://` with STARTTLS",
                );
            }
        }
        if insecure {
            self.warn(
                &url_span,
                format!("TLS certificates of {host} will not be verified"),
                "give the server's CA with `ca_file = \"ca.pem\"` instead",
            );
        }
        if let Some((path, span)) = &ca_file
            && !path.is_file()
        {
            self.error(
                span,
                format!("the CA file {} does not exist", path.display()),
                "name a PEM file, relative to the plan file",
            );
            return None;
        }
        if let Some((text, span)) = &pin {
            if crate::tls::Fingerprint::parse(text).is_err() {
                self.error(
                    span,
                    format!(
                        "`{}` is not a SHA-256 fingerprint",
                        crate::sanitize::sanitize(text)
                    ),
                    "write the 64 hex digits `openssl x509 -fingerprint -sha256 -noout -in cert.pem` prints (colons allowed)",
                );
                return None;
            }
            if insecure || ca_file.is_some() {
                self.warn(
                    span,
                    format!("`pin_sha256` decides alone whether {host}'s certificate is accepted"),
                    "remove `ca_file` and `insecure_skip_verify` from this table",
                );
            }
        }
        Some(ImapEndpoint {
            url,
            host,
            port,
            security,
            ca_file: ca_file.map(|(p, _)| p),
            insecure_skip_verify: insecure,
            pin_sha256: pin.map(|(p, _)| p),
        })
    }

    pub(super) fn sync(&mut self, top: &DeTable<'s>) -> Option<SyncPlan> {
        let mut sync = SyncPlan::default();
        let Some((t, _)) = self.table(top, "sync", "") else {
            return Self::value(top, "sync").is_none().then_some(sync);
        };
        self.check_keys(t, SYNC_KEYS, "sync");
        let mut ok = true;
        if Self::value(t, "concurrency").is_some() {
            match self.integer(t, "concurrency", "sync", 1..65) {
                Some((n, span)) => {
                    if n > 10 {
                        self.warn(&span, format!("{n} connections per server: Dovecot allows 10 per user and address by default (mail_max_userip_connections)"), "keep `concurrency = 8` unless the servers allow more");
                    }
                    sync.concurrency = n as usize;
                }
                None => ok = false,
            }
        }
        if let Some(items) = self.strings(t, "exclude", "sync") {
            sync.exclude = items.into_iter().map(|(s, _)| s).collect();
        }
        if let Some(v) = Self::value(t, "folder_map") {
            match v.get_ref().as_table() {
                Some(map) => {
                    for (k, val) in map.iter() {
                        match val.get_ref().as_str() {
                            Some(to) if !to.is_empty() => sync
                                .folder_map
                                .push((k.get_ref().to_string(), to.to_string())),
                            _ => {
                                ok = false;
                                self.error(
                                    &val.span(),
                                    format!(
                                        "`sync.folder_map.\"{}\"` must name a folder",
                                        crate::sanitize::sanitize(k.get_ref())
                                    ),
                                    "write `folder_map = { \"Sent Items\" = \"Sent\" }`",
                                );
                            }
                        }
                    }
                }
                None => {
                    ok = false;
                    self.error(
                        &v.span(),
                        "`sync.folder_map` must be a table",
                        "write `folder_map = { \"Sent Items\" = \"Sent\" }`",
                    );
                }
            }
        }
        if Self::value(t, "max_bytes_per_sec").is_some() {
            match self.integer(t, "max_bytes_per_sec", "sync", 1024..u64::MAX) {
                Some((n, _)) => sync.max_bytes_per_sec = Some(n),
                None => ok = false,
            }
        }
        if Self::value(t, "max_messages_per_sec").is_some() {
            match self.integer(t, "max_messages_per_sec", "sync", 1..100_001) {
                Some((n, _)) => sync.max_messages_per_sec = Some(n as u32),
                None => ok = false,
            }
        }
        if Self::value(t, "connections_per_mailbox").is_some() {
            match self.integer(t, "connections_per_mailbox", "sync", 1..65) {
                Some((n, _)) => sync.connections_per_mailbox = Some(n as u32),
                None => ok = false,
            }
        }
        if Self::value(t, "bytes_per_day_per_mailbox").is_some() {
            match self.bytes_per_day(t) {
                Some(n) => sync.bytes_per_day_per_mailbox = Some(n),
                None => ok = false,
            }
        }
        ok.then_some(sync)
    }

    /// `[archive]`: `dir` (required in the section, a path) and `required` (default true).
    /// `Some(None)`: no section; `None`: the section is wrong (errors pushed).
    pub(super) fn archive(&mut self, top: &DeTable<'s>) -> Option<Option<ArchivePlan>> {
        let Some((t, span)) = self.table(top, "archive", "") else {
            return Self::value(top, "archive").is_none().then_some(None);
        };
        self.check_keys(t, ARCHIVE_KEYS, "archive");
        let required = match Self::value(t, "required") {
            None => Some(true),
            Some(_) => self.boolean(t, "required", "archive"),
        };
        let dir = match self.string(t, "dir", "archive") {
            Some((d, span)) if d.trim().is_empty() || d.contains('\0') => {
                self.error(
                    &span,
                    "`archive.dir` must name a directory",
                    "write `dir = \"cutover-archive\"` (relative to the plan's directory) or an absolute path",
                );
                None
            }
            Some((d, _)) => Some(self.resolve(&d)),
            None if Self::value(t, "dir").is_some() => None,
            None => {
                self.error(
                    &span,
                    "`[archive]` has no `dir`",
                    "write `dir = \"cutover-archive\"`: where the copies keep the old server's mail as a Maildir",
                );
                None
            }
        };
        Some(Some(ArchivePlan {
            dir: dir?,
            required: required?,
        }))
    }

    /// `bytes_per_day_per_mailbox`: a size as providers publish it ("2500MB", "2.5GB"), or bytes.
    fn bytes_per_day(&mut self, t: &DeTable<'s>) -> Option<u64> {
        let v = Self::value(t, "bytes_per_day_per_mailbox")?;
        let parsed = match v.get_ref() {
            DeValue::String(s) => crate::units::parse_bytes(s),
            DeValue::Integer(i) => i.as_str().replace('_', "").parse::<u64>().ok(),
            _ => None,
        };
        match parsed {
            // Under a megabyte a day nothing useful moves: surely a unit left out.
            Some(n) if n >= 1_000_000 => Some(n),
            _ => {
                self.error(
                    &v.span(),
                    "`sync.bytes_per_day_per_mailbox` is not a size of at least 1 MB",
                    "write it as the provider publishes it, e.g. `bytes_per_day_per_mailbox = \"2500MB\"` or `\"2.5GB\"` (KB, MB, GB, TB; KiB, MiB, GiB, TiB)",
                );
                None
            }
        }
    }

    pub(super) fn extra_steps(&mut self, top: &DeTable<'s>) -> Vec<ExtraStep> {
        let mut out = Vec::new();
        let Some(v) = Self::value(top, "step") else {
            return out;
        };
        let Some(array) = v.get_ref().as_array() else {
            self.error(
                &v.span(),
                "`step` must be a list of tables",
                "write each as a `[[step]]` section",
            );
            return out;
        };
        for item in array.iter() {
            let Some(t) = item.get_ref().as_table() else {
                self.error(
                    &item.span(),
                    "each step must be a `[[step]]` table",
                    "write `[[step]]` then `id = \"…\"`",
                );
                continue;
            };
            self.check_keys(t, STEP_KEYS, "step");
            let id = self.string(t, "id", "step");
            let title = self.string(t, "title", "step");
            let day = self.integer(t, "day", "step", 1..4);
            let what = self
                .string(t, "what", "step")
                .map(|(s, _)| s)
                .unwrap_or_default();
            let per_mailbox = self.boolean(t, "per_mailbox", "step").unwrap_or(false);
            let after = self.string(t, "after", "step");
            // An `after` names a built-in step or one of the plan's steps written above it.
            let after = match after {
                None => None,
                Some((a, span)) => {
                    let step = StepId::parse(&a);
                    // A rollback step exists only after a rollback: nothing may wait for it.
                    let known_step = (!step.is_plan_step() && !step.is_rollback())
                        || out.iter().any(|s| s.id == step);
                    if !known_step {
                        let known: Vec<&str> = StepId::BUILT_IN
                            .iter()
                            .chain(out.iter().map(|s| &s.id))
                            .map(StepId::as_str)
                            .collect();
                        self.error(
                            &span,
                            format!(
                                "`after = \"{}\"` names no step",
                                crate::sanitize::sanitize(&a)
                            ),
                            format!("name one of: {}", known.join(", ")),
                        );
                        continue;
                    }
                    Some(step)
                }
            };
            match (id, title, day) {
                (Some((id, span)), Some((title, _)), Some((day, _))) => {
                    let valid = !id.is_empty()
                        && id
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
                    if !valid {
                        self.error(
                            &span,
                            format!(
                                "step id `{}` must be lowercase letters, digits and dashes",
                                crate::sanitize::sanitize(&id)
                            ),
                            "write e.g. `id = \"move-shared-calendar\"`",
                        );
                    } else if StepId::built_in(&id).is_some()
                        || out.iter().any(|s: &ExtraStep| s.id == id.as_str())
                    {
                        self.error(
                            &span,
                            format!("step id `{id}` is already taken"),
                            "choose an id no other step has",
                        );
                    } else {
                        out.push(ExtraStep {
                            id: StepId::Plan(id.into()),
                            day: day as u8,
                            title,
                            after,
                            what,
                            per_mailbox,
                        });
                    }
                }
                (id, title, day) => {
                    let missing: Vec<&str> = [
                        ("id", id.is_none()),
                        ("title", title.is_none()),
                        ("day", day.is_none()),
                    ]
                    .into_iter()
                    .filter(|(k, missing)| *missing && Self::value(t, k).is_none())
                    .map(|(k, _)| k)
                    .collect();
                    if !missing.is_empty() {
                        self.error(
                            &item.span(),
                            format!("a [[step]] lacks {}", missing.join(", ")),
                            "write `id = \"check-printers\"`, `day = 3`, `title = \"…\"`",
                        );
                    }
                }
            }
        }
        out
    }

    pub(super) fn same_host_warnings(&mut self, top: &DeTable<'s>, old: &Side, new: &Side) {
        let span = Self::value(top, "new").map(|v| v.span()).unwrap_or(0..0);
        if old.imap.host.eq_ignore_ascii_case(&new.imap.host) && old.imap.port == new.imap.port {
            self.warn(
                &span,
                format!(
                    "old and new IMAP are the same server ({}:{})",
                    new.imap.host, new.imap.port
                ),
                "point [new] imap at the new provider's server",
            );
        }
        for mx in &new.mx {
            if old.mx.iter().any(|o| o.host == mx.host) {
                self.warn(
                    &span,
                    format!(
                        "{} is an MX host on both sides: the checks cannot tell old from new",
                        mx.host
                    ),
                    "list in [new] only the new provider's MX hosts",
                );
            }
        }
    }
}

pub(super) fn parse_weekday(name: &str) -> Option<Weekday> {
    let n = name.trim().to_ascii_lowercase();
    let day = match n.get(..3)? {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    };
    let full = format!("{day:?}").to_ascii_lowercase();
    (n.len() == 3 || full == n).then_some(day)
}

/// "addr" or "addr:port" (IPv6 as "[addr]:port" or bare); port 53 when left out.
pub fn parse_server_address(text: &str) -> Option<SocketAddr> {
    let t = text.trim();
    if let Ok(addr) = t.parse::<SocketAddr>() {
        return Some(addr);
    }
    let ip: IpAddr = t
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    Some(SocketAddr::new(ip, 53))
}

/// An MX record of the plan: `preference host`, the host stored with its final dot.
pub(super) fn parse_mx(text: &str) -> Result<MxRecord, crate::syntax::mx::MxError> {
    let mx = crate::syntax::mx::parse_mx(text)?;
    if mx.is_null() {
        // "0 ." says the domain takes no mail: never a side of a migration.
        return Err(crate::syntax::mx::MxError::NoHost(mx.preference));
    }
    Ok(MxRecord {
        preference: mx.preference,
        host: mx.host_fqdn(),
    })
}

/// What is wrong with one SPF term of a side, if anything. A side names a
/// mechanism other than `all` (the record's own policy), or a `redirect=` or
/// `exp=` modifier, valid by RFC 7208's grammar.
pub(super) fn spf_term_problem(term: &str) -> Option<String> {
    use crate::syntax::spf::{Modifier, TermKind, parse_term};
    match parse_term(term) {
        Ok(kind) if kind.is_all() => Some(
            "`all` ends the whole record; cutover writes it (the record to publish ends in ~all)"
                .into(),
        ),
        Ok(TermKind::Modifier(Modifier::Unknown { name, .. })) => Some(format!(
            "`{name}=` is not a modifier receivers know (redirect=, exp=)"
        )),
        Ok(_) => None,
        Err(why) => Some(why.to_string()),
    }
}

pub(super) fn parse_imap_url(url: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "imaps" => 993,
        "imap" => 143,
        _ => return None,
    };
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains(['@', '/', '?', '#', ' ']) {
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, tail) = v6.split_once(']')?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if tail.is_empty() => default_port,
            None => return None,
        };
        (h.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().ok()?),
            None => (authority.to_string(), default_port),
        }
    };
    (!host.is_empty() && port != 0).then_some((scheme, host.to_ascii_lowercase(), port))
}

pub(super) fn is_loopback_host(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
