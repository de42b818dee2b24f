//! The mailboxes and how to log in to them: `[[mailbox]]` tables and
//! `mailboxes_csv` (positions in the plan or in the CSV file), `[credentials]`.

use super::*;

/// Where the CSV's mailboxes go: beside the plan's own, checked against them.
struct CsvRead<'a> {
    seen: &'a mut HashSet<String>,
    out: &'a mut Vec<Mailbox>,
    aliases: &'a mut Vec<(usize, String, Loc)>,
}

/// `local@domain.tld`, without spaces or control characters.
fn is_address(address: &str) -> bool {
    match address.rsplit_once('@') {
        Some((local, host)) => {
            !local.is_empty()
                && host.contains('.')
                && !address.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

impl<'s> Loader<'s> {
    pub(super) fn mailboxes(
        &mut self,
        top: &DeTable<'s>,
        domain: Option<&str>,
        whole: &Range<usize>,
    ) -> Option<Vec<Mailbox>> {
        let mut out: Vec<Mailbox> = Vec::new();
        let mut ok = true;
        let mut seen: HashSet<String> = HashSet::new();
        // (mailbox index, alias, where written): checked once every address is known.
        let mut aliases: Vec<(usize, String, Loc)> = Vec::new();
        let csv = self.string(top, "mailboxes_csv", "");
        if let Some(v) = Self::value(top, "mailbox") {
            match v.get_ref().as_array() {
                Some(array) => {
                    for item in array.iter() {
                        let Some(t) = item.get_ref().as_table() else {
                            ok = false;
                            self.error(
                                &item.span(),
                                "each mailbox must be a `[[mailbox]]` table",
                                "write `[[mailbox]]` then `address = \"alice@example.com\"`",
                            );
                            continue;
                        };
                        self.check_keys(t, MAILBOX_KEYS, "mailbox");
                        let Some((address, span)) = self.string(t, "address", "mailbox") else {
                            ok = false;
                            if Self::value(t, "address").is_none() {
                                self.error(
                                    &item.span(),
                                    "a [[mailbox]] has no `address`",
                                    "add `address = \"alice@example.com\"`",
                                );
                            }
                            continue;
                        };
                        let old_login = self.string(t, "old_login", "mailbox").map(|(s, _)| s);
                        let new_login = self.string(t, "new_login", "mailbox").map(|(s, _)| s);
                        let listed = match Self::value(t, "aliases") {
                            None => vec![],
                            Some(_) => self.strings(t, "aliases", "mailbox").unwrap_or_else(|| {
                                ok = false;
                                vec![]
                            }),
                        };
                        let at = Loc::Plan(span);
                        match self.mailbox(address, old_login, new_login, domain, &at, &mut seen) {
                            Ok(Some(m)) => {
                                aliases.extend(
                                    listed
                                        .into_iter()
                                        .map(|(a, span)| (out.len(), a, Loc::Plan(span))),
                                );
                                out.push(m);
                            }
                            Ok(None) => {}
                            Err(()) => ok = false,
                        }
                    }
                }
                None => {
                    ok = false;
                    self.error(
                        &v.span(),
                        "`mailbox` must be a list of tables",
                        "write each as a `[[mailbox]]` section",
                    );
                }
            }
        }
        if let Some((p, span)) = csv {
            let path = self.resolve(&p);
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let mut read = CsvRead {
                        seen: &mut seen,
                        out: &mut out,
                        aliases: &mut aliases,
                    };
                    if !self.csv_mailboxes(&path, &text, domain, &mut read) {
                        ok = false;
                    }
                }
                Err(e) => {
                    ok = false;
                    self.error(&span, format!("cannot read {}: {e}", path.display()), "name a CSV file with the header `address,old_login,new_login`, relative to the plan");
                }
            }
        }
        if !self.aliases(&mut out, aliases, domain) {
            ok = false;
        }
        if out.is_empty() && ok {
            self.error(
                &(whole.end..whole.end),
                "the plan lists no mailboxes",
                "add `[[mailbox]]` sections with `address = \"alice@example.com\"`, or `mailboxes_csv = \"users.csv\"`",
            );
            return None;
        }
        ok.then_some(out)
    }

    pub(super) fn mailbox(
        &mut self,
        address: String,
        old_login: Option<String>,
        new_login: Option<String>,
        domain: Option<&str>,
        at: &Loc,
        seen: &mut HashSet<String>,
    ) -> Result<Option<Mailbox>, ()> {
        let address = address.trim().to_string();
        if !is_address(&address) {
            self.push_at(
                at,
                Severity::Error,
                format!(
                    "`{}` is not an email address",
                    crate::sanitize::sanitize(&address)
                ),
                "write `address = \"alice@example.com\"`",
            );
            return Err(());
        }
        let key = address.to_lowercase();
        if !seen.insert(key) {
            self.push_at(
                at,
                Severity::Warning,
                format!("{address} is listed twice"),
                "list each mailbox once; the first entry is used",
            );
            return Ok(None);
        }
        if let Some(domain) = domain
            && !address.to_lowercase().ends_with(&format!("@{domain}"))
        {
            self.push_at(
                at,
                Severity::Warning,
                format!(
                    "{address} is not in {domain}: its mail does not move with this domain's MX"
                ),
                "check the address",
            );
        }
        Ok(Some(Mailbox {
            old_login: old_login.unwrap_or_else(|| address.clone()),
            new_login: new_login.unwrap_or_else(|| address.clone()),
            address,
            aliases: vec![],
        }))
    }

    /// Puts each alias on its mailbox: an email address, not a mailbox's own address,
    /// listed once (a repeat is a warning and the first is kept).
    fn aliases(
        &mut self,
        out: &mut [Mailbox],
        aliases: Vec<(usize, String, Loc)>,
        domain: Option<&str>,
    ) -> bool {
        let mailboxes: HashSet<String> = out.iter().map(|m| m.address.to_lowercase()).collect();
        let mut seen: HashSet<String> = HashSet::new();
        let mut ok = true;
        for (index, alias, at) in aliases {
            let alias = alias.trim().to_string();
            let key = alias.to_lowercase();
            if !is_address(&alias) {
                ok = false;
                self.push_at(
                    &at,
                    Severity::Error,
                    format!(
                        "the alias `{}` is not an email address",
                        crate::sanitize::sanitize(&alias)
                    ),
                    "write `aliases = [\"sales@example.com\"]`",
                );
            } else if mailboxes.contains(&key) {
                ok = false;
                self.push_at(
                    &at,
                    Severity::Error,
                    format!("the alias {alias} is a mailbox of the plan"),
                    "remove it from `aliases`: a mailbox's own address is asked already",
                );
            } else if !seen.insert(key.clone()) {
                self.push_at(
                    &at,
                    Severity::Warning,
                    format!("the alias {alias} is listed twice"),
                    "list each alias once, on the mailbox it delivers to",
                );
            } else {
                if let Some(domain) = domain
                    && !key.ends_with(&format!("@{domain}"))
                {
                    self.push_at(
                        &at,
                        Severity::Warning,
                        format!(
                            "the alias {alias} is not in {domain}: the new MX of this domain may rightly refuse it"
                        ),
                        "check the alias",
                    );
                }
                if let Some(m) = out.get_mut(index) {
                    m.aliases.push(alias);
                }
            }
        }
        ok
    }

    /// `address,old_login,new_login[,aliases]` with a header line, read with the `csv`
    /// crate (quoted fields, commas inside quotes, `#` comment lines); the aliases
    /// separated by spaces or `;`; errors point into the CSV file.
    fn csv_mailboxes(
        &mut self,
        path: &Path,
        text: &str,
        domain: Option<&str>,
        read: &mut CsvRead<'_>,
    ) -> bool {
        let plan_file = std::mem::replace(&mut self.file, path.display().to_string());
        let mut ok = true;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .comment(Some(b'#'))
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let header: Vec<String> = match reader.headers() {
            Ok(h) => h.iter().map(|f| f.to_ascii_lowercase()).collect(),
            Err(e) => {
                ok = false;
                let line = e.position().map_or(1, |p| p.line() as usize);
                self.csv_error(line, &e.to_string(), "write `address,old_login,new_login`");
                Vec::new()
            }
        };
        if ok
            && (header.first().map(String::as_str) != Some("address")
                || header.iter().any(|h| !MAILBOX_KEYS.contains(&h.as_str())))
        {
            self.csv_error(
                1,
                "the first line must be the header",
                "write `address,old_login,new_login`",
            );
            ok = false;
        }
        if ok {
            for record in reader.records() {
                let record = match record {
                    Ok(r) => r,
                    Err(e) => {
                        ok = false;
                        let line = e.position().map_or(1, |p| p.line() as usize);
                        let message = match e.kind() {
                            csv::ErrorKind::Utf8 { .. } => "this line is not UTF-8".to_string(),
                            _ => crate::sanitize::sanitize(&e.to_string()),
                        };
                        self.csv_error(line, &message, "save the file as UTF-8 CSV");
                        continue;
                    }
                };
                let line = record.position().map_or(1, |p| p.line() as usize);
                if record.len() > header.len() {
                    ok = false;
                    self.csv_error(
                        line,
                        &format!(
                            "{} fields where the header has {}",
                            record.len(),
                            header.len()
                        ),
                        "one line per mailbox: address,old_login,new_login (quote a field that holds a comma)",
                    );
                    continue;
                }
                let get = |name: &str| -> Option<String> {
                    header
                        .iter()
                        .position(|c| c == name)
                        .and_then(|i| record.get(i))
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                };
                let at = Loc::File {
                    file: self.file.clone(),
                    line,
                    column: 1,
                };
                match self.mailbox(
                    get("address").unwrap_or_default(),
                    get("old_login"),
                    get("new_login"),
                    domain,
                    &at,
                    read.seen,
                ) {
                    Ok(Some(m)) => {
                        let listed = get("aliases").unwrap_or_default();
                        for alias in listed.split([' ', ';']).filter(|a| !a.is_empty()) {
                            let at = Loc::File {
                                file: self.file.clone(),
                                line,
                                column: 1,
                            };
                            read.aliases.push((read.out.len(), alias.to_string(), at));
                        }
                        read.out.push(m);
                    }
                    Ok(None) => {}
                    Err(()) => ok = false,
                }
            }
        }
        self.file = plan_file;
        ok
    }

    /// An error at a line of the CSV file being read.
    fn csv_error(&mut self, line: usize, message: &str, instead: &str) {
        self.diags.push(Diagnostic {
            severity: Severity::Error,
            file: self.file.clone(),
            line,
            column: 1,
            message: message.to_string(),
            instead: instead.to_string(),
        });
    }

    pub(super) fn credentials(&mut self, top: &DeTable<'s>) -> Option<Credentials> {
        let (t, _) = self.table(top, "credentials", "")?;
        self.check_keys(t, CREDENTIAL_KEYS, "credentials");
        let mut creds = Credentials::default();
        if let Some((p, span)) = self.string(t, "secrets_file", "credentials") {
            let path = self.resolve(&p);
            self.secrets_file_permissions(&path, &span);
            creds.secrets_file = Some(path);
        }
        creds.password_command = self
            .string(t, "password_command", "credentials")
            .map(|(s, _)| s);
        creds.token_command = self
            .string(t, "token_command", "credentials")
            .map(|(s, _)| s);
        if let Some(v) = Self::value(t, "admin") {
            match v.get_ref().as_table() {
                Some(a) => {
                    self.check_keys(a, ADMIN_KEYS, "credentials.admin");
                    let old = self.string(a, "old", "credentials.admin").map(|(s, _)| s);
                    let new = self.string(a, "new", "credentials.admin").map(|(s, _)| s);
                    let mode = match self.string(a, "mode", "credentials.admin") {
                        None => Some(AdminMode::Authzid),
                        Some((m, span)) => match m.as_str() {
                            "authzid" => Some(AdminMode::Authzid),
                            "master" => Some(AdminMode::Master),
                            _ => {
                                self.error(&span, format!("`{}` is not an administrator mode", crate::sanitize::sanitize(&m)), "write `mode = \"authzid\"` (AUTHENTICATE PLAIN for a user) or `mode = \"master\"` (Dovecot's user*admin)");
                                None
                            }
                        },
                    };
                    if let Some(mode) = mode {
                        creds.admin = Some(Admin { old, new, mode });
                    }
                }
                None => self.error(&v.span(), "`credentials.admin` must be a table", "write `admin = { old = \"admin\", new = \"admin@example.com\", mode = \"authzid\" }`"),
            }
        }
        if creds.secrets_file.is_none()
            && creds.password_command.is_none()
            && creds.token_command.is_none()
        {
            let span = Self::value(top, "credentials")
                .map(|v| v.span())
                .unwrap_or(0..0);
            self.warn(&span, "[credentials] names no source of passwords: mailbox checks will be unknown", "add `secrets_file = \"secrets.toml\"` or `password_command = \"pass show mail/{side}/{login}\"`");
        }
        Some(creds)
    }

    /// A secrets file others can read is refused; a missing one is only a warning (it may come later).
    pub(super) fn secrets_file_permissions(&mut self, path: &Path, span: &Range<usize>) {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(path) {
            Err(_) => self.warn(
                span,
                format!("the secrets file {} does not exist yet: mailbox checks will be unknown until it does", path.display()),
                format!("create it readable by you alone: `install -m 600 /dev/null {}`", path.display()),
            ),
            Ok(m) if m.permissions().mode() & 0o077 != 0 => self.error(
                span,
                format!("the secrets file {} may be read by group or others (mode {:o})", path.display(), m.permissions().mode() & 0o777),
                format!("run `chmod 600 {}`", path.display()),
            ),
            Ok(_) => {}
        }
    }
}
