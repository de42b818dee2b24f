//! Where passwords and tokens come from, and how they are kept out of logs and errors.
//!
//! Order, per mailbox and side: the plan's `token_command` (XOAUTH2, for
//! providers that refuse passwords); the user's own password from the secrets
//! file; the administrator (`credentials.admin`, password from the secrets
//! file's `[admin]` table or the `password_command` with `{login}` = the
//! admin); finally the `password_command` for the user.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::plan::{AdminMode, Credentials, Mailbox, WhichSide};
use crate::sanitize::sanitize;

/// A password or token. Its Debug and Display print `***`; its bytes are zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(text: &str) -> Secret {
        Secret(text.as_bytes().to_vec())
    }

    /// The secret itself, for the one place that sends it to the server.
    pub(crate) fn expose(&self) -> &str {
        // Built only from `&str`, so always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.fill(0);
    }
}

/// How to authenticate one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    /// The user's password: AUTHENTICATE PLAIN when offered, else LOGIN.
    Password,
    /// The user's password with the LOGIN command.
    Login,
    /// The user's password with AUTHENTICATE PLAIN.
    Plain,
    /// An OAuth2 access token with AUTHENTICATE XOAUTH2.
    XOAuth2,
    /// AUTHENTICATE PLAIN as `admin` with the user as authorization identity.
    Authzid { admin: String },
    /// Dovecot master user: LOGIN `user*admin` with the admin's password.
    Master { admin: String },
}

/// Everything needed to log one mailbox in on one side.
#[derive(Debug, Clone)]
pub struct Login {
    /// The user's login on that side.
    pub user: String,
    pub method: AuthMethod,
    pub secret: Secret,
}

impl Login {
    /// The name the server sees as the authenticating identity (for errors).
    pub(crate) fn shown_as(&self) -> String {
        match &self.method {
            AuthMethod::Master { admin } => format!("{}*{admin}", self.user),
            AuthMethod::Authzid { admin } => format!("{admin} (as {})", self.user),
            _ => self.user.clone(),
        }
    }
}

/// Why credentials could not be had. Never contains a secret.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The secrets file may be read by group or others: refused until `chmod 600`.
    #[error(
        "secrets file {path} may be read by group or others (mode {mode:o}); run: chmod 600 {path}"
    )]
    SecretsFileOpen { path: PathBuf, mode: u32 },
    /// The secrets file could not be read or parsed.
    #[error("secrets file {path}: {detail}")]
    SecretsFile { path: PathBuf, detail: String },
    /// A password or token command could not run, failed, or printed nothing.
    #[error("command for {login} ({side}) failed: {detail}")]
    Command {
        login: String,
        side: &'static str,
        detail: String,
    },
    /// No source in the plan has a secret for this login.
    #[error(
        "no password or token for {login} on the {side} side: the plan names no source that has it"
    )]
    Missing { login: String, side: &'static str },
}

/// What is wrong in a secrets file's text. Names tables and keys, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsFileError {
    /// Not TOML; where, as a byte offset (toml's own message quotes the line: a password).
    #[error("not valid TOML{}", near_byte.map(|at| format!(" near byte {at}")).unwrap_or_default())]
    NotToml { near_byte: Option<usize> },
    /// A top-level key that is not a table of `old` and `new`.
    #[error("`{key}` must be a table with `old` and/or `new`")]
    NotATable { key: String },
    /// An `old` or `new` that is not a string.
    #[error("`{key}.{side}` must be a string")]
    NotAString { key: String, side: &'static str },
}

/// The secrets file: `["alice@example.com"] old = "…" new = "…"` and `[admin] old/new`.
#[derive(Default)]
pub(crate) struct SecretsFile {
    users: HashMap<String, (Option<Secret>, Option<Secret>)>,
    /// `["someone@gmail.com"] password = "…"`: mailboxes outside the migration (the
    /// canaries' external mailbox), which have one password, not an old and a new.
    others: HashMap<String, Secret>,
    admin: (Option<Secret>, Option<Secret>),
}

impl fmt::Debug for SecretsFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretsFile")
            .field("users", &self.users.len())
            .finish_non_exhaustive()
    }
}

impl SecretsFile {
    /// Reads the file, refusing it if group or others may read it.
    pub fn load(path: &Path) -> Result<SecretsFile, CredentialError> {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| CredentialError::SecretsFile {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(CredentialError::SecretsFileOpen {
                path: path.to_path_buf(),
                mode,
            });
        }
        let text = std::fs::read_to_string(path).map_err(|e| CredentialError::SecretsFile {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        SecretsFile::parse(&text).map_err(|e| CredentialError::SecretsFile {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })
    }

    /// Parses the TOML text. Errors name the table, never a value.
    pub fn parse(text: &str) -> Result<SecretsFile, SecretsFileError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            // toml's message quotes the offending line, which may hold a password.
            SecretsFileError::NotToml {
                near_byte: e.span().map(|span| span.start),
            }
        })?;
        let mut file = SecretsFile::default();
        for (key, value) in table {
            let Some(sides) = value.as_table() else {
                return Err(SecretsFileError::NotATable {
                    key: sanitize(&key),
                });
            };
            let get = |side: &'static str| -> Result<Option<Secret>, SecretsFileError> {
                match sides.get(side) {
                    None => Ok(None),
                    Some(toml::Value::String(s)) => Ok(Some(Secret::new(s))),
                    Some(_) => Err(SecretsFileError::NotAString {
                        key: sanitize(&key),
                        side,
                    }),
                }
            };
            if let Some(password) = get("password")? {
                file.others.insert(key.to_ascii_lowercase(), password);
            }
            let pair = (get("old")?, get("new")?);
            if key == "admin" {
                file.admin = pair;
            } else {
                file.users.insert(key.to_ascii_lowercase(), pair);
            }
        }
        Ok(file)
    }

    pub fn user(&self, address: &str, side: WhichSide) -> Option<&Secret> {
        let pair = self.users.get(&address.to_ascii_lowercase())?;
        pick(pair, side)
    }

    /// The one password of a mailbox outside the migration (`password = "…"`).
    pub fn other(&self, address: &str) -> Option<&Secret> {
        self.others.get(&address.to_ascii_lowercase())
    }

    pub fn admin(&self, side: WhichSide) -> Option<&Secret> {
        pick(&self.admin, side)
    }
}

fn pick(pair: &(Option<Secret>, Option<Secret>), side: WhichSide) -> Option<&Secret> {
    match side {
        WhichSide::Old => pair.0.as_ref(),
        WhichSide::New => pair.1.as_ref(),
    }
}

/// Resolves logins from the plan's credential sources (the secrets file is read once).
#[derive(Debug, Default)]
pub struct CredentialSource {
    plan: Credentials,
    secrets: Option<SecretsFile>,
}

impl CredentialSource {
    /// Loads the secrets file if the plan names one.
    pub fn new(plan: Option<&Credentials>) -> Result<CredentialSource, CredentialError> {
        let plan = plan.cloned().unwrap_or_default();
        let secrets = match &plan.secrets_file {
            Some(path) => Some(SecretsFile::load(path)?),
            None => None,
        };
        Ok(CredentialSource { plan, secrets })
    }

    /// How `mailbox` logs in on `side` (see the module doc for the order).
    pub async fn login(
        &self,
        mailbox: &Mailbox,
        side: WhichSide,
    ) -> Result<Login, CredentialError> {
        let user = mailbox.login(side).to_string();
        if let Some(cmd) = &self.plan.token_command {
            let token = run_secret_command(cmd, side, &user).await?;
            return Ok(Login {
                user,
                method: AuthMethod::XOAuth2,
                secret: token,
            });
        }
        if let Some(secret) = self.secrets.as_ref().and_then(|s| {
            s.user(&mailbox.address, side)
                .or_else(|| s.user(mailbox.login(side), side))
        }) {
            return Ok(Login {
                user,
                method: AuthMethod::Password,
                secret: secret.clone(),
            });
        }
        if let Some(admin) = &self.plan.admin {
            let name = match side {
                WhichSide::Old => admin.old.as_ref(),
                WhichSide::New => admin.new.as_ref(),
            };
            if let Some(name) = name {
                let secret = match self.secrets.as_ref().and_then(|s| s.admin(side)) {
                    Some(s) => s.clone(),
                    None => match &self.plan.password_command {
                        Some(cmd) => run_secret_command(cmd, side, name).await?,
                        None => {
                            return Err(CredentialError::Missing {
                                login: name.clone(),
                                side: side.as_str(),
                            });
                        }
                    },
                };
                let method = match admin.mode {
                    AdminMode::Authzid => AuthMethod::Authzid {
                        admin: name.clone(),
                    },
                    AdminMode::Master => AuthMethod::Master {
                        admin: name.clone(),
                    },
                };
                return Ok(Login {
                    user,
                    method,
                    secret,
                });
            }
        }
        if let Some(cmd) = &self.plan.password_command {
            let secret = run_secret_command(cmd, side, &user).await?;
            return Ok(Login {
                user,
                method: AuthMethod::Password,
                secret,
            });
        }
        Err(CredentialError::Missing {
            login: user,
            side: side.as_str(),
        })
    }
}

impl CredentialSource {
    /// How the canaries' external mailbox logs in (IMAP and submission): with
    /// `auth = "xoauth2"` a token from `token_command` (`{side}` = `external`); with a
    /// password, the secrets file's `["address"] password = "…"`, else `password_command`.
    pub async fn external_login(
        &self,
        external: &crate::plan::ExternalMailbox,
    ) -> Result<Login, CredentialError> {
        const SIDE: &str = "external";
        let user = external.login.clone();
        let missing = || CredentialError::Missing {
            login: user.clone(),
            side: SIDE,
        };
        if external.auth == crate::plan::ExternalAuth::XOAuth2 {
            let cmd = self.plan.token_command.as_ref().ok_or_else(missing)?;
            let token = run_secret_command_for(cmd, SIDE, &user).await?;
            return Ok(Login {
                user,
                method: AuthMethod::XOAuth2,
                secret: token,
            });
        }
        if let Some(secret) = self.secrets.as_ref().and_then(|s| {
            s.other(&external.address)
                .or_else(|| s.other(&external.login))
        }) {
            return Ok(Login {
                user,
                method: AuthMethod::Password,
                secret: secret.clone(),
            });
        }
        match &self.plan.password_command {
            Some(cmd) => Ok(Login {
                secret: run_secret_command_for(cmd, SIDE, &user).await?,
                user,
                method: AuthMethod::Password,
            }),
            None => Err(missing()),
        }
    }
}

/// Quotes a value for `sh` so a login can never become shell syntax.
pub(crate) fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

/// The command line with `{side}` and `{login}` replaced by quoted values.
/// Write the placeholders unquoted in the plan (`pass show mail/{login}`): inside
/// the template's own double quotes the shell would still expand `$(…)`.
/// `{side}` is `old`, `new`, or `external` for the canaries' external mailbox.
pub(crate) fn expand_command(template: &str, side: &str, login: &str) -> String {
    template
        .replace("{side}", &shell_quote(side))
        .replace("{login}", &shell_quote(login))
}

/// Runs a password or token command (`sh -c`); its first output line is the secret.
pub(crate) async fn run_secret_command(
    template: &str,
    side: WhichSide,
    login: &str,
) -> Result<Secret, CredentialError> {
    run_secret_command_for(template, side.as_str(), login).await
}

/// The same with `{side}` any name (`external`).
async fn run_secret_command_for(
    template: &str,
    side: &'static str,
    login: &str,
) -> Result<Secret, CredentialError> {
    let fail = |detail: String| CredentialError::Command {
        login: login.to_string(),
        side,
        detail,
    };
    let line = expand_command(template, side, login);
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&line)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| fail(format!("cannot run sh: {e}")))?;
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .map_err(|_| fail("no answer within 30 s".to_string()))?
        .map_err(|e| fail(e.to_string()))?;
    if !output.status.success() {
        // stderr is the command's own complaint; shortened, sanitised, never stdout (the secret).
        let err: String = String::from_utf8_lossy(&output.stderr)
            .chars()
            .take(200)
            .collect();
        return Err(fail(format!("{}: {}", output.status, sanitize(err.trim()))));
    }
    let text = String::from_utf8(output.stdout).map_err(|_| fail("output is not UTF-8".into()))?;
    let first = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if first.is_empty() {
        return Err(fail("printed nothing".to_string()));
    }
    Ok(Secret::new(first))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secret_never_shows_in_debug() {
        let login = Login {
            user: "alice".into(),
            method: AuthMethod::Password,
            secret: Secret::new("hunter2"),
        };
        assert!(!format!("{login:?}").contains("hunter2"));
        assert_eq!(login.secret.expose(), "hunter2");
    }

    #[test]
    fn secrets_file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.toml");
        std::fs::write(
            &path,
            "[\"alice@example.com\"]\nold = \"pw-old\"\nnew = \"pw-new\"\n[admin]\nnew = \"adm\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = SecretsFile::load(&path).unwrap_err();
        assert!(
            matches!(err, CredentialError::SecretsFileOpen { mode: 0o644, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let file = SecretsFile::load(&path).unwrap();
        assert_eq!(
            file.user("Alice@Example.com", WhichSide::Old)
                .unwrap()
                .expose(),
            "pw-old"
        );
        assert_eq!(file.admin(WhichSide::New).unwrap().expose(), "adm");
        assert!(file.admin(WhichSide::Old).is_none());
    }

    #[test]
    fn broken_secrets_file_error_does_not_quote_the_line() {
        let err = SecretsFile::parse("[\"a@b\"]\nold = \"s3cret-value")
            .err()
            .unwrap();
        assert!(matches!(err, SecretsFileError::NotToml { .. }), "{err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let err = SecretsFile::parse("[\"a@b\"]\nold = 42").err().unwrap();
        assert_eq!(err.to_string(), "`a@b.old` must be a string");
    }

    #[test]
    fn substituted_values_cannot_escape_quoting() {
        let line = expand_command(
            "pass show mail/{side}/{login}",
            WhichSide::Old.as_str(),
            "x'; rm -rf / #",
        );
        assert_eq!(line, "pass show mail/'old'/'x'\\''; rm -rf / #'");
    }

    #[tokio::test]
    async fn password_command_output_first_line() {
        let s = run_secret_command(
            "printf '%s\\n' pw-for-{login}; echo second",
            WhichSide::New,
            "bob$(id)",
        )
        .await
        .unwrap();
        // The login arrives quoted: `$(id)` is passed literally, never run.
        assert_eq!(s.expose(), "pw-for-bob$(id)");
        let err = run_secret_command("echo oops >&2; exit 3", WhichSide::Old, "bob")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("oops"));
    }
}
