//! The mailbox table as CSV, one row per mailbox, its columns named as the JSON's
//! `mailboxes[]` fields. A cell a spreadsheet would run as a formula is prefixed with `'`.

use crate::report::model::Report;

/// The columns, in order: the names of `mailboxes[]`'s fields in the JSON form.
pub(crate) const COLUMNS: [&str; 14] = [
    "address",
    "old_messages",
    "copied",
    "copied_bytes",
    "verified",
    "skipped",
    "skipped_why",
    "copy_state",
    "last_old_arrival",
    "old_changed_after_copy",
    "pop3_fetch_seen",
    "copied_back",
    "copy_back_state",
    "copy_back_missing",
];

/// A cell starting with `=`, `+`, `-`, `@` (or a tab or carriage return, which some
/// spreadsheets skip before reading one of those) is read as a formula: it gets a `'`.
pub(crate) fn defuse(cell: String) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell,
    }
}

pub(crate) fn render(r: &Report) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let opt = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
    // Writing records to memory cannot fail; an error would only lose the table's rows.
    let _ = writer.write_record(COLUMNS);
    for m in &r.mailboxes {
        let row = [
            m.address.clone(),
            opt(m.old_messages),
            m.copied.to_string(),
            m.copied_bytes.to_string(),
            opt(m.verified),
            opt(m.skipped),
            m.skipped_why.clone().unwrap_or_default(),
            m.copy_state.clone().unwrap_or_default(),
            m.last_old_arrival
                .map(|t| t.to_string())
                .unwrap_or_default(),
            m.old_changed_after_copy.to_string(),
            m.pop3_fetch_seen.map(|b| b.to_string()).unwrap_or_default(),
            opt(m.copied_back),
            m.copy_back_state.clone().unwrap_or_default(),
            opt(m.copy_back_missing),
        ];
        let _ = writer.write_record(row.map(defuse));
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_get_a_quote_and_others_stay() {
        assert_eq!(defuse("=HYPERLINK(\"x\")".into()), "'=HYPERLINK(\"x\")");
        assert_eq!(defuse("+1".into()), "'+1");
        assert_eq!(defuse("-2".into()), "'-2");
        assert_eq!(defuse("@SUM(A1)".into()), "'@SUM(A1)");
        assert_eq!(defuse("\t=1".into()), "'\t=1");
        assert_eq!(defuse("alice@example.com".into()), "alice@example.com");
        assert_eq!(defuse("12".into()), "12");
        assert_eq!(defuse(String::new()), "");
    }
}
