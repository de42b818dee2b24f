//! What the old server holds that the new one does not: the mail a shutdown would lose.

use std::collections::HashMap;

use super::super::imap::Mailstore;
use super::super::world::Employee;
use super::{MissingMessage, Origin};
use crate::mail::identity::Identity;

/// Old messages (per mailbox and folder, as multisets of identities) not on the new server.
pub(crate) fn missing(
    old: &Mailstore,
    new: &Mailstore,
    employees: &[Employee],
) -> Vec<MissingMessage> {
    let mut out = Vec::new();
    for employee in employees {
        let Ok(folders) = old.folders(&employee.login) else {
            continue;
        };
        for folder in folders {
            let old_messages = old
                .messages(&employee.login, &folder.name)
                .unwrap_or_default();
            let mut on_new: HashMap<Identity, u32> = HashMap::new();
            for m in new
                .messages(&employee.login, &folder.name)
                .unwrap_or_default()
            {
                *on_new.entry(Identity::from_header(&m.raw)).or_insert(0) += 1;
            }
            for m in old_messages {
                let id = Identity::from_header(&m.raw);
                match on_new.get_mut(&id) {
                    Some(n) if *n > 0 => *n -= 1,
                    _ => out.push(MissingMessage {
                        mailbox: employee.address.clone(),
                        folder: folder.name.clone(),
                        subject: subject(&m.raw),
                        origin: Origin::of(&m.raw),
                    }),
                }
            }
        }
    }
    out
}

fn subject(raw: &[u8]) -> String {
    crate::mail::identity::HeaderFields::parse(raw)
        .subject
        .unwrap_or_else(|| "(no subject)".to_string())
}
