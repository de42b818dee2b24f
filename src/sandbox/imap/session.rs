//! One IMAP connection's state machine: a parsed command in, the encoded responses out.
//!
//! Parsing and encoding are imap-codec's; this file only decides what to answer.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;

use imap_codec::ResponseCodec;
use imap_codec::encode::Encoder;
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::auth::{AuthMechanism, AuthenticateData};
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::core::{
    AString, Atom, IString, Literal, NString, QuotedChar, Tag, Text, Vec1,
};
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::fetch::{
    Macro, MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName, Section,
};
use imap_codec::imap_types::flag::{Flag, FlagFetch, FlagNameAttribute, FlagPerm};
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use imap_codec::imap_types::response::{
    Capability, Code, CodeOther, CommandContinuationRequest, Data, Greeting, Response, Status,
    StatusKind,
};
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use imap_codec::imap_types::status::{StatusDataItem, StatusDataItemName};
use imap_codec::{GreetingCodec, encode::Encoded};
use jiff::ZonedDateTime;
use jiff::tz::{Offset, TimeZone};

use super::store::{Fault, Mailstore, StoreError, StoredMessage};
use crate::clock::Clock;
use crate::mail::{pattern, utf7};

/// What the connection loop does after a command.
pub(super) enum Next {
    /// Read the next command.
    Command,
    /// Read one line of SASL data for this AUTHENTICATE.
    AuthenticateData(Tag<'static>),
    /// Close the connection (after LOGOUT).
    Close,
}

enum State {
    NotAuthenticated,
    Authenticated {
        user: String,
    },
    Selected {
        user: String,
        folder: String,
        read_only: bool,
        /// EXISTS last reported, so new mail is announced once.
        exists: u32,
    },
}

pub(super) struct Session {
    store: Mailstore,
    clock: Arc<dyn Clock>,
    state: State,
}

/// A command the rehearsal server answers BAD or NO to, with why.
struct Refusal {
    kind: StatusKind,
    code: Option<Code<'static>>,
    text: &'static str,
}

fn bad(text: &'static str) -> Refusal {
    Refusal {
        kind: StatusKind::Bad,
        code: None,
        text,
    }
}

fn no(code: Option<Code<'static>>, text: &'static str) -> Refusal {
    Refusal {
        kind: StatusKind::No,
        code,
        text,
    }
}

fn code_other(name: &'static str) -> Option<Code<'static>> {
    Some(Code::Other(CodeOther::unvalidated(name.as_bytes())))
}

impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Refusal {
        match error {
            StoreError::NoSuchFolder { .. } => {
                no(code_other("NONEXISTENT"), "Mailbox doesn't exist.")
            }
            StoreError::FolderExists { .. } => {
                no(code_other("ALREADYEXISTS"), "Mailbox already exists.")
            }
            StoreError::BadFolderName { .. } => no(None, "Invalid mailbox name."),
            StoreError::NulInMessage { .. } => no(None, "Message contains NUL characters."),
            StoreError::NoSuchUser { .. } | StoreError::UserExists { .. } => {
                no(code_other("UNAVAILABLE"), "User is gone.")
            }
        }
    }
}

pub(super) fn capabilities() -> Vec1<Capability<'static>> {
    let mut caps = vec![
        Capability::Imap4Rev1,
        Capability::LiteralPlus,
        Capability::Auth(AuthMechanism::Plain),
    ];
    if let Ok(atom) = Atom::try_from("SPECIAL-USE") {
        caps.push(Capability::from(atom));
    }
    // Invariant: the list above is never empty.
    Vec1::try_from(caps).unwrap_or_else(|_| Vec1::from(Capability::Imap4Rev1))
}

pub(super) fn greeting() -> Vec<u8> {
    match Greeting::ok(
        Some(Code::Capability(capabilities())),
        "cutover rehearsal IMAP server ready.",
    ) {
        Ok(greeting) => GreetingCodec::default().encode(&greeting).dump(),
        Err(_) => b"* OK cutover rehearsal IMAP server ready.\r\n".to_vec(),
    }
}

fn encode(out: &mut Vec<u8>, response: &Response<'_>) {
    let encoded: Encoded = ResponseCodec::default().encode(response);
    out.extend_from_slice(&encoded.dump());
}

pub(super) fn status(
    out: &mut Vec<u8>,
    tag: Option<&Tag<'_>>,
    kind: StatusKind,
    code: Option<Code<'_>>,
    text: &str,
) {
    let tag = tag.map(|t| t.clone().into_static());
    let code = code.map(IntoStatic::into_static);
    let text = Text::try_from(text.to_string()).unwrap_or_else(|_| Text::unvalidated("Done."));
    let status = match kind {
        StatusKind::Ok => Status::ok(tag, code, text),
        StatusKind::No => Status::no(tag, code, text),
        StatusKind::Bad => Status::bad(tag, code, text),
    };
    match status {
        Ok(status) => encode(out, &Response::Status(status)),
        Err(_) => out.extend_from_slice(b"* BAD Internal error.\r\n"),
    }
}

/// The `+ ` line that invites a synchronising literal.
pub(super) fn literal_continuation() -> Vec<u8> {
    let mut out = Vec::new();
    match CommandContinuationRequest::basic(None, "Ready for literal data.") {
        Ok(request) => encode(&mut out, &Response::CommandContinuationRequest(request)),
        Err(_) => out.extend_from_slice(b"+ Ready for literal data.\r\n"),
    }
    out
}

fn sasl_continuation() -> Vec<u8> {
    let mut out = Vec::new();
    // PLAIN has no server challenge: an empty one ("+ ").
    encode(
        &mut out,
        &Response::CommandContinuationRequest(CommandContinuationRequest::base64(&b""[..])),
    );
    out
}

impl Session {
    pub(super) fn new(store: Mailstore, clock: Arc<dyn Clock>) -> Session {
        Session {
            store,
            clock,
            state: State::NotAuthenticated,
        }
    }

    /// Answers one command; `out` receives every response line.
    pub(super) fn handle(&mut self, command: Command<'static>, out: &mut Vec<u8>) -> Next {
        let tag = command.tag.clone();
        let is_logout = matches!(command.body, CommandBody::Logout);
        if !is_logout && self.store.fault() == Fault::Throttled {
            status(
                out,
                Some(&tag),
                StatusKind::No,
                code_other("THROTTLED"),
                "Too many requests, slow down.",
            );
            return Next::Command;
        }
        let result = self.dispatch(command, out);
        self.report_new_mail(out);
        match result {
            Ok((next, text, code)) => {
                if !matches!(next, Next::AuthenticateData(_)) {
                    status(out, Some(&tag), StatusKind::Ok, code, text);
                }
                next
            }
            Err(refusal) => {
                status(out, Some(&tag), refusal.kind, refusal.code, refusal.text);
                Next::Command
            }
        }
    }

    /// Finishes an AUTHENTICATE PLAIN with the client's SASL line.
    pub(super) fn authenticate_data(
        &mut self,
        tag: Tag<'static>,
        data: AuthenticateData<'_>,
        out: &mut Vec<u8>,
    ) {
        let result = match data {
            AuthenticateData::Continue(secret) => self.plain(secret.declassify()),
            AuthenticateData::Cancel => Err(bad("Authentication aborted by client.")),
        };
        match result {
            Ok(()) => status(
                out,
                Some(&tag),
                StatusKind::Ok,
                Some(Code::Capability(capabilities())),
                "Logged in",
            ),
            Err(refusal) => status(out, Some(&tag), refusal.kind, refusal.code, refusal.text),
        }
    }

    fn plain(&mut self, response: &[u8]) -> Result<(), Refusal> {
        let mut parts = response.split(|&b| b == 0);
        let (Some(authzid), Some(authcid), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("Invalid PLAIN response."));
        };
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        match self
            .store
            .check_plain(&text(authzid), &text(authcid), &text(password))
        {
            Some(user) => {
                self.state = State::Authenticated { user };
                Ok(())
            }
            None => Err(auth_failed()),
        }
    }

    fn user(&self) -> Result<String, Refusal> {
        match &self.state {
            State::Authenticated { user } | State::Selected { user, .. } => Ok(user.clone()),
            State::NotAuthenticated => Err(bad("Log in first.")),
        }
    }

    fn selected(&self) -> Result<(String, String, bool), Refusal> {
        match &self.state {
            State::Selected {
                user,
                folder,
                read_only,
                ..
            } => Ok((user.clone(), folder.clone(), *read_only)),
            _ => Err(bad("No mailbox selected.")),
        }
    }

    /// Announces mail that arrived in the selected folder since the last report.
    fn report_new_mail(&mut self, out: &mut Vec<u8>) {
        let State::Selected {
            user,
            folder,
            exists,
            ..
        } = &mut self.state
        else {
            return;
        };
        if let Ok(info) = self.store.folder_info(user, folder)
            && info.messages > *exists
        {
            *exists = info.messages;
            encode(out, &Response::Data(Data::Exists(info.messages)));
        }
    }

    fn dispatch(
        &mut self,
        command: Command<'static>,
        out: &mut Vec<u8>,
    ) -> Result<(Next, &'static str, Option<Code<'static>>), Refusal> {
        let done = |text| Ok((Next::Command, text, None));
        match command.body {
            CommandBody::Capability => {
                encode(out, &Response::Data(Data::Capability(capabilities())));
                done("Capability completed.")
            }
            CommandBody::Noop | CommandBody::Check => done("NOOP completed."),
            CommandBody::Logout => {
                // Nothing more is reported on a connection that is closing.
                self.state = State::NotAuthenticated;
                if let Ok(bye) = Status::bye(None, "Logging out") {
                    encode(out, &Response::Status(bye));
                }
                Ok((Next::Close, "Logout completed.", None))
            }
            CommandBody::Login { username, password } => {
                if !matches!(self.state, State::NotAuthenticated) {
                    return Err(bad("Already logged in."));
                }
                let login = String::from_utf8_lossy(username.as_ref()).into_owned();
                let password = String::from_utf8_lossy(password.declassify().as_ref()).into_owned();
                match self.store.check_login(&login, &password) {
                    Some(user) => {
                        self.state = State::Authenticated { user };
                        Ok((
                            Next::Command,
                            "Logged in",
                            Some(Code::Capability(capabilities())),
                        ))
                    }
                    None => Err(auth_failed()),
                }
            }
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => {
                if !matches!(self.state, State::NotAuthenticated) {
                    return Err(bad("Already logged in."));
                }
                if mechanism != AuthMechanism::Plain {
                    return Err(no(None, "Unsupported authentication mechanism."));
                }
                match initial_response {
                    Some(response) => {
                        self.plain(response.declassify())?;
                        Ok((
                            Next::Command,
                            "Logged in",
                            Some(Code::Capability(capabilities())),
                        ))
                    }
                    None => {
                        out.extend_from_slice(&sasl_continuation());
                        Ok((Next::AuthenticateData(command.tag), "", None))
                    }
                }
            }
            CommandBody::List {
                reference,
                mailbox_wildcard,
            }
            | CommandBody::Lsub {
                reference,
                mailbox_wildcard,
            } => {
                let user = self.user()?;
                self.list(&user, &reference, &mailbox_wildcard, out)?;
                done("List completed.")
            }
            CommandBody::Status {
                mailbox,
                item_names,
            } => {
                let user = self.user()?;
                let folder = folder_name(&mailbox)?;
                let info = self.store.folder_info(&user, &folder)?;
                let mut items = Vec::new();
                for name in item_names.iter() {
                    items.push(match name {
                        StatusDataItemName::Messages => StatusDataItem::Messages(info.messages),
                        StatusDataItemName::Recent => StatusDataItem::Recent(0),
                        StatusDataItemName::UidNext => {
                            StatusDataItem::UidNext(non_zero(info.uid_next))
                        }
                        StatusDataItemName::UidValidity => {
                            StatusDataItem::UidValidity(non_zero(info.uid_validity))
                        }
                        StatusDataItemName::Unseen => StatusDataItem::Unseen(info.unseen),
                        _ => return Err(bad("STATUS item not supported by the rehearsal server.")),
                    });
                }
                encode(
                    out,
                    &Response::Data(Data::Status {
                        mailbox: wire_mailbox(&info.name),
                        items: Cow::Owned(items),
                    }),
                );
                done("Status completed.")
            }
            CommandBody::Select { mailbox, .. } => self.select(&mailbox, false, out),
            CommandBody::Examine { mailbox, .. } => self.select(&mailbox, true, out),
            CommandBody::Close | CommandBody::Unselect => {
                let (user, _, _) = self.selected()?;
                self.state = State::Authenticated { user };
                done("Close completed.")
            }
            CommandBody::Create { mailbox } => {
                let user = self.user()?;
                let folder = folder_name(&mailbox)?;
                if folder.eq_ignore_ascii_case("INBOX") {
                    return Err(no(code_other("ALREADYEXISTS"), "Mailbox already exists."));
                }
                self.store.create_folder(&user, &folder, None)?;
                done("Create completed.")
            }
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                let user = self.user()?;
                let folder = folder_name(&mailbox)?;
                let LiteralOrLiteral8::Literal(literal) = message else {
                    return Err(bad("BINARY is not supported by the rehearsal server."));
                };
                let flags: BTreeSet<String> = flags.iter().map(ToString::to_string).collect();
                let internal_date = match date {
                    Some(date) => zoned_from_imap(&date),
                    None => self.clock.now().to_zoned_datetime(TimeZone::UTC),
                };
                match self.store.append(
                    &user,
                    &folder,
                    literal.into_inner().into_owned(),
                    flags,
                    internal_date,
                ) {
                    Ok(_) => done("Append completed."),
                    Err(StoreError::NoSuchFolder { .. }) => {
                        Err(no(Some(Code::TryCreate), "Mailbox doesn't exist."))
                    }
                    Err(error) => Err(error.into()),
                }
            }
            CommandBody::Search {
                charset: _,
                criteria,
                uid,
            } => {
                let (user, folder, _) = self.selected()?;
                let messages = self.store.messages(&user, &folder)?;
                let mut found = Vec::new();
                for (index, message) in messages.iter().enumerate() {
                    let position = Position::new(index, &messages);
                    let mut hit = true;
                    for key in criteria.as_ref() {
                        hit &= matches_key(key, position, message)?;
                    }
                    if hit {
                        found.push(non_zero(if uid { message.uid } else { position.seq }));
                    }
                }
                encode(out, &Response::Data(Data::Search(found)));
                done("Search completed.")
            }
            CommandBody::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                ..
            } => {
                self.fetch(&sequence_set, macro_or_item_names, uid, out)?;
                done("Fetch completed.")
            }
            _ => Err(bad("Command not supported by the rehearsal server.")),
        }
    }

    fn list(
        &self,
        user: &str,
        reference: &Mailbox<'_>,
        wildcard: &ListMailbox<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), Refusal> {
        let reference: &[u8] = match reference {
            Mailbox::Inbox => b"INBOX",
            Mailbox::Other(other) => other.as_ref(),
        };
        let pattern: &[u8] = match wildcard {
            ListMailbox::Token(token) => token.as_ref(),
            ListMailbox::String(string) => string.as_ref(),
        };
        let delimiter = QuotedChar::unvalidated('/');
        if pattern.is_empty() {
            // `LIST "" ""` asks only for the hierarchy delimiter.
            encode(
                out,
                &Response::Data(Data::List {
                    items: vec![FlagNameAttribute::Noselect],
                    delimiter: Some(delimiter),
                    mailbox: Mailbox::try_from("").unwrap_or(Mailbox::Inbox),
                }),
            );
            return Ok(());
        }
        let mut full = reference.to_vec();
        full.extend_from_slice(pattern);
        let folders = self.store.folders(user)?;
        for folder in &folders {
            let wire = utf7::encode(&folder.name);
            let candidate = if folder.name == "INBOX" {
                // INBOX matches case-insensitively.
                full.to_ascii_uppercase()
            } else {
                full.clone()
            };
            if !pattern::matches(&candidate, wire.as_bytes(), Some(b'/')) {
                continue;
            }
            let prefix = format!("{}/", folder.name);
            let has_children = folders.iter().any(|f| f.name.starts_with(&prefix));
            let mut items = vec![attribute(if has_children {
                "HasChildren"
            } else {
                "HasNoChildren"
            })];
            if let Some(special) = folder.special_use {
                items.push(attribute(special.attribute()));
            }
            encode(
                out,
                &Response::Data(Data::List {
                    items,
                    delimiter: Some(delimiter),
                    mailbox: wire_mailbox(&folder.name),
                }),
            );
        }
        Ok(())
    }

    fn select(
        &mut self,
        mailbox: &Mailbox<'_>,
        read_only: bool,
        out: &mut Vec<u8>,
    ) -> Result<(Next, &'static str, Option<Code<'static>>), Refusal> {
        let user = self.user()?;
        // A failed SELECT leaves no mailbox selected (RFC 3501 6.3.1).
        self.state = State::Authenticated { user: user.clone() };
        let folder = folder_name(mailbox)?;
        let info = self.store.folder_info(&user, &folder)?;
        let messages = self.store.messages(&user, &folder)?;
        let system_flags = || {
            vec![
                Flag::Answered,
                Flag::Flagged,
                Flag::Deleted,
                Flag::Seen,
                Flag::Draft,
            ]
        };
        encode(out, &Response::Data(Data::Flags(system_flags())));
        let permanent: Vec<FlagPerm> = if read_only {
            Vec::new()
        } else {
            let mut flags: Vec<FlagPerm> = system_flags().into_iter().map(FlagPerm::from).collect();
            flags.push(FlagPerm::Asterisk);
            flags
        };
        status(
            out,
            None,
            StatusKind::Ok,
            Some(Code::PermanentFlags(permanent)),
            "Flags permitted.",
        );
        encode(out, &Response::Data(Data::Exists(info.messages)));
        encode(out, &Response::Data(Data::Recent(0)));
        if let Some(first_unseen) = messages.iter().position(|m| !m.is_seen()) {
            status(
                out,
                None,
                StatusKind::Ok,
                Some(Code::Unseen(non_zero(position_seq(first_unseen)))),
                "First unseen.",
            );
        }
        status(
            out,
            None,
            StatusKind::Ok,
            Some(Code::UidValidity(non_zero(info.uid_validity))),
            "UIDs valid",
        );
        status(
            out,
            None,
            StatusKind::Ok,
            Some(Code::UidNext(non_zero(info.uid_next))),
            "Predicted next UID",
        );
        self.state = State::Selected {
            user,
            folder: info.name,
            read_only,
            exists: info.messages,
        };
        if read_only {
            Ok((Next::Command, "Examine completed.", Some(Code::ReadOnly)))
        } else {
            Ok((Next::Command, "Select completed.", Some(Code::ReadWrite)))
        }
    }

    fn fetch(
        &mut self,
        set: &SequenceSet,
        items: MacroOrMessageDataItemNames<'static>,
        uid: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), Refusal> {
        let (user, folder, read_only) = self.selected()?;
        let mut names = match items {
            MacroOrMessageDataItemNames::Macro(Macro::Fast) => Macro::Fast.expand().into_static(),
            MacroOrMessageDataItemNames::Macro(_) => {
                return Err(bad("ENVELOPE is not supported by the rehearsal server."));
            }
            MacroOrMessageDataItemNames::MessageDataItemNames(names) => names,
        };
        for name in &names {
            supported_item(name)?;
        }
        if uid && !names.contains(&MessageDataItemName::Uid) {
            names.insert(0, MessageDataItemName::Uid);
        }

        let mut messages = self.store.messages(&user, &folder)?;
        if !uid && !sequence_numbers_exist(set, messages.len()) {
            // As Dovecot does: a sequence number past EXISTS is a client error.
            return Err(bad("Invalid messageset."));
        }
        let selected: Vec<usize> = messages
            .iter()
            .enumerate()
            .filter(|(index, message)| {
                let position = Position::new(*index, &messages);
                if uid {
                    in_set(set, message.uid, position.max_uid)
                } else {
                    in_set(set, position.seq, position.max_seq)
                }
            })
            .map(|(index, _)| index)
            .collect();

        // Reading a body without PEEK marks it \Seen, unless the folder was EXAMINEd.
        let reads_body = names.iter().any(|name| {
            matches!(
                name,
                MessageDataItemName::BodyExt { peek: false, .. }
                    | MessageDataItemName::Rfc822
                    | MessageDataItemName::Rfc822Text
            )
        });
        let mut flags_changed = BTreeSet::new();
        if reads_body && !read_only {
            let uids: Vec<u32> = selected.iter().map(|&i| messages[i].uid).collect();
            flags_changed.extend(self.store.mark_seen(&user, &folder, &uids)?);
            for &index in &selected {
                if flags_changed.contains(&messages[index].uid) {
                    messages[index].flags.insert("\\Seen".to_string());
                }
            }
        }

        for index in selected {
            let message = &messages[index];
            let mut data = Vec::with_capacity(names.len() + 1);
            for name in &names {
                data.push(fetch_item(name, message)?);
            }
            if flags_changed.contains(&message.uid) && !names.contains(&MessageDataItemName::Flags)
            {
                data.push(MessageDataItem::Flags(fetch_flags(message)));
            }
            let Ok(items) = Vec1::try_from(data) else {
                continue;
            };
            encode(
                out,
                &Response::Data(Data::Fetch {
                    seq: non_zero(position_seq(index)),
                    items,
                }),
            );
        }
        Ok(())
    }
}

fn auth_failed() -> Refusal {
    no(code_other("AUTHENTICATIONFAILED"), "Authentication failed.")
}

fn attribute(name: &'static str) -> FlagNameAttribute<'static> {
    FlagNameAttribute::from(Atom::unvalidated(name))
}

/// 1 for a counter that is 0 (UIDVALIDITY and UIDNEXT are never 0 here; this keeps it total).
fn non_zero(value: u32) -> NonZeroU32 {
    NonZeroU32::new(value).unwrap_or(NonZeroU32::MIN)
}

fn position_seq(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

/// Where a message stands in its folder: its sequence number and the folder's `*` values.
#[derive(Clone, Copy)]
struct Position {
    seq: u32,
    max_seq: u32,
    max_uid: u32,
}

impl Position {
    fn new(index: usize, messages: &[StoredMessage]) -> Position {
        Position {
            seq: position_seq(index),
            max_seq: u32::try_from(messages.len()).unwrap_or(u32::MAX),
            max_uid: messages.last().map_or(0, |m| m.uid),
        }
    }
}

/// Whether `value` is in the set, `*` standing for `max` (RFC 3501: `n:*` with n above the
/// largest value still matches the largest one).
fn in_set(set: &SequenceSet, value: u32, max: u32) -> bool {
    let resolve = |bound: &SeqOrUid| match bound {
        SeqOrUid::Value(v) => v.get(),
        SeqOrUid::Asterisk => max,
    };
    set.0.as_ref().iter().any(|sequence| match sequence {
        Sequence::Single(single) => resolve(single) == value,
        Sequence::Range(a, b) => {
            let (a, b) = (resolve(a), resolve(b));
            (a.min(b)..=a.max(b)).contains(&value)
        }
    })
}

/// Whether every explicit number in a sequence set names an existing message.
fn sequence_numbers_exist(set: &SequenceSet, exists: usize) -> bool {
    let fits = |bound: &SeqOrUid| match bound {
        SeqOrUid::Value(v) => usize::try_from(v.get()).is_ok_and(|v| v <= exists),
        SeqOrUid::Asterisk => true,
    };
    set.0.as_ref().iter().all(|sequence| match sequence {
        Sequence::Single(single) => fits(single),
        Sequence::Range(a, b) => fits(a) && fits(b),
    })
}

fn matches_key(
    key: &SearchKey<'_>,
    position: Position,
    message: &StoredMessage,
) -> Result<bool, Refusal> {
    Ok(match key {
        SearchKey::All => true,
        SearchKey::Uid(set) => in_set(set, message.uid, position.max_uid),
        SearchKey::SequenceSet(set) => in_set(set, position.seq, position.max_seq),
        SearchKey::Seen => message.is_seen(),
        SearchKey::Unseen => !message.is_seen(),
        SearchKey::Deleted => message.flags.contains("\\Deleted"),
        SearchKey::Undeleted => !message.flags.contains("\\Deleted"),
        SearchKey::Not(inner) => !matches_key(inner, position, message)?,
        SearchKey::And(keys) => {
            let mut all = true;
            for key in keys.as_ref() {
                all &= matches_key(key, position, message)?;
            }
            all
        }
        SearchKey::Header(field, value) => {
            // The named field's lines (plus the closing empty line); an empty value matches
            // any message that has the field (RFC 3501 6.4.4).
            let header = header_fields(
                split_message(&message.raw).0,
                std::slice::from_ref(field),
                true,
            );
            header.len() > 2 && contains_ignore_case(&header, value.as_ref())
        }
        SearchKey::Or(a, b) => {
            matches_key(a, position, message)? || matches_key(b, position, message)?
        }
        _ => return Err(bad("SEARCH key not supported by the rehearsal server.")),
    })
}

/// Case-insensitive (ASCII) substring search, as IMAP SEARCH HEADER does.
fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window.eq_ignore_ascii_case(needle))
}

fn supported_item(name: &MessageDataItemName<'_>) -> Result<(), Refusal> {
    match name {
        MessageDataItemName::Uid
        | MessageDataItemName::Flags
        | MessageDataItemName::InternalDate
        | MessageDataItemName::Rfc822Size
        | MessageDataItemName::Rfc822
        | MessageDataItemName::Rfc822Header
        | MessageDataItemName::Rfc822Text => Ok(()),
        MessageDataItemName::BodyExt { section, .. } => match section {
            None
            | Some(Section::Header(None))
            | Some(Section::HeaderFields(None, _))
            | Some(Section::HeaderFieldsNot(None, _))
            | Some(Section::Text(None)) => Ok(()),
            _ => Err(bad(
                "Body part sections are not supported by the rehearsal server.",
            )),
        },
        _ => Err(bad("FETCH item not supported by the rehearsal server.")),
    }
}

fn fetch_flags(message: &StoredMessage) -> Vec<FlagFetch<'static>> {
    message
        .flags
        .iter()
        .filter_map(|flag| Flag::try_from(flag.as_str()).ok())
        .map(|flag| FlagFetch::Flag(flag.into_static()))
        .collect()
}

/// Bytes as a literal. Invariant: stored messages never contain NUL (refused at APPEND and
/// delivery), the one thing an IMAP4rev1 literal cannot carry.
fn nstring(bytes: &[u8]) -> NString<'_> {
    NString(Some(IString::Literal(Literal::unvalidated(bytes))))
}

fn fetch_item<'m>(
    name: &MessageDataItemName<'_>,
    message: &'m StoredMessage,
) -> Result<MessageDataItem<'m>, Refusal> {
    let raw: &[u8] = &message.raw;
    Ok(match name {
        MessageDataItemName::Uid => MessageDataItem::Uid(non_zero(message.uid)),
        MessageDataItemName::Flags => MessageDataItem::Flags(fetch_flags(message)),
        MessageDataItemName::InternalDate => {
            MessageDataItem::InternalDate(imap_date(&message.internal_date))
        }
        MessageDataItemName::Rfc822Size => {
            MessageDataItem::Rfc822Size(u32::try_from(raw.len()).unwrap_or(u32::MAX))
        }
        MessageDataItemName::Rfc822 => MessageDataItem::Rfc822(nstring(raw)),
        MessageDataItemName::Rfc822Header => {
            MessageDataItem::Rfc822Header(nstring(split_message(raw).0))
        }
        MessageDataItemName::Rfc822Text => {
            MessageDataItem::Rfc822Text(nstring(split_message(raw).1))
        }
        MessageDataItemName::BodyExt {
            section, partial, ..
        } => {
            let selected: Cow<'m, [u8]> = match section {
                None => Cow::Borrowed(raw),
                Some(Section::Header(None)) => Cow::Borrowed(split_message(raw).0),
                Some(Section::Text(None)) => Cow::Borrowed(split_message(raw).1),
                Some(Section::HeaderFields(None, fields)) => {
                    Cow::Owned(header_fields(split_message(raw).0, fields.as_ref(), true))
                }
                Some(Section::HeaderFieldsNot(None, fields)) => {
                    Cow::Owned(header_fields(split_message(raw).0, fields.as_ref(), false))
                }
                _ => {
                    return Err(bad(
                        "Body part sections are not supported by the rehearsal server.",
                    ));
                }
            };
            let (data, origin) = match partial {
                Some((start, length)) => {
                    let start = usize::try_from(*start)
                        .unwrap_or(usize::MAX)
                        .min(selected.len());
                    let end = start
                        .saturating_add(usize::try_from(length.get()).unwrap_or(usize::MAX))
                        .min(selected.len());
                    let slice: Cow<'m, [u8]> = match selected {
                        Cow::Borrowed(b) => Cow::Borrowed(&b[start..end]),
                        Cow::Owned(o) => Cow::Owned(o[start..end].to_vec()),
                    };
                    (slice, partial.map(|(s, _)| s))
                }
                None => (selected, None),
            };
            MessageDataItem::BodyExt {
                section: section.clone().map(IntoStatic::into_static),
                origin,
                data: NString(Some(IString::Literal(Literal::unvalidated(data)))),
            }
        }
        _ => return Err(bad("FETCH item not supported by the rehearsal server.")),
    })
}

/// (header including the blank line, text) of an RFC 5322 message; one pass, stopping at
/// the first empty line (CRLF or bare LF).
fn split_message(raw: &[u8]) -> (&[u8], &[u8]) {
    let mut from = 0;
    while let Some(offset) = raw[from..].iter().position(|&b| b == b'\n') {
        let after = from + offset + 1;
        let rest = &raw[after..];
        if rest.starts_with(b"\r\n") {
            return raw.split_at(after + 2);
        }
        if rest.starts_with(b"\n") {
            return raw.split_at(after + 1);
        }
        from = after;
    }
    (raw, &[])
}

/// The header fields named (or, with `keep == false`, not named) in `fields`, folded lines
/// included, ending with the blank line, as servers return HEADER.FIELDS.
fn header_fields(header: &[u8], fields: &[AString<'_>], keep: bool) -> Vec<u8> {
    let wanted = |line: &[u8]| {
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        let named = fields
            .iter()
            .any(|field| field.as_ref().eq_ignore_ascii_case(name.trim_ascii()));
        named == keep
    };
    let mut out = Vec::new();
    let mut include = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if !(line.starts_with(b" ") || line.starts_with(b"\t")) {
            include = wanted(line);
        }
        if include {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The UTF-8 folder name a client means; BAD when the wire name is not modified UTF-7.
fn folder_name(mailbox: &Mailbox<'_>) -> Result<String, Refusal> {
    match mailbox {
        Mailbox::Inbox => Ok("INBOX".to_string()),
        Mailbox::Other(other) => {
            let name = utf7::try_decode(other.as_ref())
                .ok_or_else(|| bad("Mailbox name is not valid modified UTF-7."))?;
            Ok(name.trim_end_matches('/').to_string())
        }
    }
}

/// A UTF-8 folder name as it goes on the wire.
fn wire_mailbox(name: &str) -> Mailbox<'static> {
    // Modified UTF-7 output is printable ASCII, always a valid astring.
    Mailbox::try_from(utf7::encode(name)).unwrap_or(Mailbox::Inbox)
}

fn imap_date(date: &ZonedDateTime) -> DateTime {
    let utc = chrono::DateTime::from_timestamp(date.timestamp().as_second(), 0)
        .unwrap_or(chrono::DateTime::UNIX_EPOCH);
    let local = match chrono::FixedOffset::east_opt(date.offset().seconds()) {
        Some(offset) => utc.with_timezone(&offset),
        None => utc.fixed_offset(),
    };
    DateTime::try_from(local).unwrap_or_else(|_| DateTime::unvalidated(local))
}

fn zoned_from_imap(date: &DateTime) -> ZonedDateTime {
    let chrono_date = date.as_ref();
    let offset =
        Offset::from_seconds(chrono_date.offset().local_minus_utc()).unwrap_or(Offset::UTC);
    let timestamp = jiff::Timestamp::from_second(chrono_date.timestamp())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    timestamp.to_zoned_datetime(TimeZone::fixed(offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_keep_folded_lines() {
        let raw = b"Subject: a\r\n  long subject\r\nFrom: x@y\r\nTo: z@w\r\n\r\nbody";
        let (header, text) = split_message(raw);
        assert_eq!(text, b"body");
        let fields = [
            AString::try_from("subject").unwrap(),
            AString::try_from("TO").unwrap(),
        ];
        assert_eq!(
            header_fields(header, &fields, true),
            b"Subject: a\r\n  long subject\r\nTo: z@w\r\n\r\n"
        );
        assert_eq!(header_fields(header, &fields, false), b"From: x@y\r\n\r\n");
    }

    #[test]
    fn the_header_ends_at_the_first_empty_line() {
        assert_eq!(
            split_message(b"A: 1\r\n\r\nbody\r\n\r\nmore").1,
            b"body\r\n\r\nmore"
        );
        assert_eq!(split_message(b"A: 1\n\nbody").0, b"A: 1\n\n");
        assert_eq!(split_message(b"A: 1\r\n").1, b"");
    }

    #[test]
    fn star_ranges_include_the_last_message() {
        let set = SequenceSet::try_from("100:*").unwrap();
        assert!(in_set(&set, 7, 7));
        assert!(!in_set(&set, 6, 7));
    }
}
