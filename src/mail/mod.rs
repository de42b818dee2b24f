//! Mailboxes: IMAP connections, the prober and the verified copy engine.
