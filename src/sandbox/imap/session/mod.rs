//! One IMAP connection's state machine: a parsed command in, the encoded responses out.
//!
//! Parsing and encoding are imap-codec's; this file only decides what to answer.

mod items;

use items::*;

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
