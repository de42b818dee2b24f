//! The rehearsal's IMAP server: a small in-memory IMAP4rev1 server on 127.0.0.1, enough for
//! cutover's client (prober and copy engine) to work against it unchanged.
//!
//! Commands are parsed and responses encoded by `imap-codec` (its `Fragmentizer` splits lines
//! and literals); this module only decides what to answer. Storage is a [`Mailstore`] shared by
//! every connection and by the rehearsal, which delivers mail into it directly.
//!
//! Implemented (what cutover uses):
//! - greeting with CAPABILITY; CAPABILITY: `IMAP4rev1 LITERAL+ AUTH=PLAIN SPECIAL-USE`;
//! - LOGIN, including Dovecot's master-user form `user*admin`;
//! - AUTHENTICATE PLAIN (with or without an initial response), with an authorization identity:
//!   the admin ([`Mailstore::set_admin`]) may act for any user;
//! - LIST / LSUB with `*` and `%`, `\HasChildren`/`\HasNoChildren` and the special-use
//!   attributes `\Sent \Drafts \Trash \Junk \Archive`; names in modified UTF-7; `/` delimiter;
//! - STATUS (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN), CREATE;
//! - SELECT, EXAMINE (read-only: nothing changes flags), CLOSE, UNSELECT, CHECK, NOOP;
//! - SEARCH / UID SEARCH with ALL, UID and sequence sets, HEADER, SEEN/UNSEEN,
//!   DELETED/UNDELETED, NOT/OR/AND;
//! - FETCH / UID FETCH of UID, FLAGS, INTERNALDATE, RFC822.SIZE, RFC822, RFC822.HEADER,
//!   RFC822.TEXT, BODY[] / BODY.PEEK[] with HEADER, HEADER.FIELDS (.NOT), TEXT and partial
//!   `<o.n>`; BODY[] without PEEK sets `\Seen` unless the folder was EXAMINEd;
//! - APPEND with flags, INTERNALDATE and a synchronising or LITERAL+ literal (up to 64 MiB);
//! - new mail in the selected folder is announced with `* n EXISTS` after any command;
//! - a FETCH by sequence number past EXISTS is BAD (as in Dovecot);
//! - LOGOUT.
//!
//! Not implemented (answered BAD): STARTTLS/TLS, STORE, COPY, MOVE, EXPUNGE, DELETE, RENAME,
//! SUBSCRIBE, IDLE, ENVELOPE/BODYSTRUCTURE, MIME part sections, BINARY, text SEARCH keys,
//! UIDPLUS (so `mbsync` can pull from it but not push into it). `\Recent` is always 0. There
//! is no persistence.
//!
//! Drills: [`Fault::DropAfterBytes`] cuts every connection after N bytes sent,
//! [`Fault::Throttled`] answers every command but LOGOUT `NO [THROTTLED]`.

mod seed;
mod session;
mod store;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use imap_codec::fragmentizer::{FragmentInfo, Fragmentizer, LiteralAnnouncement};
use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::core::{LiteralMode, Tag};
use imap_codec::imap_types::response::{Code, StatusKind};
use imap_codec::{AuthenticateDataCodec, CommandCodec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

pub use crate::mail::SpecialUse;
pub use crate::mail::utf7::{encode as encode_folder_name, try_decode as decode_folder_name};
pub use seed::{MessageSpec, SEEDED_FOLDERS, SeedSpec, SeededUser, generate_message, seed_user};
pub use store::{Fault, FolderInfo, Mailstore, StoreError, StoredMessage};

use crate::clock::Clock;
use session::{Next, Session};

/// The largest command (APPEND literal included) a client may send.
const MAX_MESSAGE: u32 = 64 * 1024 * 1024;

/// A running rehearsal IMAP server; dropping it closes the listener and every connection
/// (the mail stays in its [`Mailstore`]).
pub struct ImapServer {
    addr: SocketAddr,
    store: Mailstore,
    accept: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for ImapServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for ImapServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Why the rehearsal IMAP server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImapServerError {
    #[error("cannot listen for the rehearsal IMAP server on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl ImapServer {
    /// Serves `store` on 127.0.0.1 (plain IMAP, ephemeral port); `clock` dates APPENDs that
    /// carry no INTERNALDATE.
    pub async fn start(
        store: Mailstore,
        clock: Arc<dyn Clock>,
    ) -> Result<ImapServer, ImapServerError> {
        ImapServer::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), store, clock).await
    }

    /// Like [`ImapServer::start`] on a given address: brings a stopped server back on the port
    /// its plan names (e.g. the old server "switched back on" in a drill).
    pub async fn start_on(
        addr: SocketAddr,
        store: Mailstore,
        clock: Arc<dyn Clock>,
    ) -> Result<ImapServer, ImapServerError> {
        let bind_error = |source| ImapServerError::Bind { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let accept = tokio::spawn(accept_loop(listener, store.clone(), clock));
        Ok(ImapServer {
            addr,
            store,
            accept,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and waits until its port is free again (dropping it also stops it,
    /// but without waiting).
    pub async fn shutdown(mut self) {
        self.accept.abort();
        let _ = (&mut self.accept).await;
    }

    /// The server's mail, for the rehearsal to deliver into and inspect.
    pub fn store(&self) -> &Mailstore {
        &self.store
    }
}

async fn accept_loop(listener: TcpListener, store: Mailstore, clock: Arc<dyn Clock>) {
    // Connections live in this set, so aborting the accept task ends them all.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let session = Session::new(store.clone(), clock.clone());
                connections.spawn(serve(stream, session, store.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// The writing half of a connection, which applies the byte-count drill.
struct Wire {
    stream: TcpStream,
    store: Mailstore,
    sent: u64,
}

impl Wire {
    /// Sends `bytes`; `false` when the connection is gone (or was cut by the drill).
    async fn send(&mut self, bytes: &[u8]) -> bool {
        if let Fault::DropAfterBytes(limit) = self.store.fault() {
            let room = usize::try_from(limit.saturating_sub(self.sent)).unwrap_or(usize::MAX);
            if bytes.len() >= room {
                let _ = self.stream.write_all(&bytes[..room]).await;
                let _ = self.stream.shutdown().await;
                return false;
            }
        }
        self.sent += bytes.len() as u64;
        self.stream.write_all(bytes).await.is_ok()
    }
}

async fn serve(stream: TcpStream, mut session: Session, store: Mailstore) {
    let _ = stream.set_nodelay(true);
    let mut wire = Wire {
        stream,
        store,
        sent: 0,
    };
    if !wire.send(&session::greeting()).await {
        return;
    }
    let mut fragmentizer = Fragmentizer::new(MAX_MESSAGE);
    let mut buffer = vec![0u8; 256 * 1024];
    let mut awaiting_sasl: Option<Tag<'static>> = None;
    loop {
        let Some(fragment) = fragmentizer.progress() else {
            match wire.stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => fragmentizer.enqueue_bytes(&buffer[..n]),
            }
            continue;
        };

        if let FragmentInfo::Line {
            announcement: Some(LiteralAnnouncement { mode, length }),
            ..
        } = fragment
        {
            if length > MAX_MESSAGE {
                match (mode, fragmentizer.decode_tag()) {
                    (LiteralMode::Sync, Some(tag)) => {
                        let mut out = Vec::new();
                        session::status(
                            &mut out,
                            Some(&tag),
                            StatusKind::No,
                            Some(Code::TooBig),
                            "Message too large.",
                        );
                        fragmentizer.skip_message();
                        if !wire.send(&out).await {
                            return;
                        }
                    }
                    // The client sends the literal anyway: read it, then refuse the command.
                    _ => fragmentizer.poison_message(),
                }
            } else if mode == LiteralMode::Sync
                && !wire.send(&session::literal_continuation()).await
            {
                return;
            }
            continue;
        }
        if !fragmentizer.is_message_complete() {
            continue;
        }

        let mut out = Vec::new();
        let mut next = Next::Command;
        if let Some(tag) = awaiting_sasl.take() {
            match fragmentizer.decode_message(&AuthenticateDataCodec::default()) {
                Ok(data) => session.authenticate_data(tag, data, &mut out),
                Err(_) => session::status(
                    &mut out,
                    Some(&tag),
                    StatusKind::Bad,
                    None,
                    "Invalid SASL response.",
                ),
            }
        } else {
            match fragmentizer.decode_message(&CommandCodec::default()) {
                Ok(command) => next = session.handle(command.into_static(), &mut out),
                Err(_) => {
                    let tag = fragmentizer.decode_tag().map(IntoStatic::into_static);
                    session::status(
                        &mut out,
                        tag.as_ref(),
                        StatusKind::Bad,
                        None,
                        "Error in IMAP command: syntax or size.",
                    );
                }
            }
        }
        if !wire.send(&out).await {
            return;
        }
        match next {
            Next::Command => {}
            Next::AuthenticateData(tag) => awaiting_sasl = Some(tag),
            Next::Close => {
                let _ = wire.stream.shutdown().await;
                return;
            }
        }
    }
}
