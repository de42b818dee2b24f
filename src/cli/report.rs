//! `cutover report`: the migration report from the plan and the journal, never a server.

use std::io::Write;
use std::path::Path;

use crate::journal::Journal;
use crate::plan::Plan;
use crate::report::{self, Format};
use crate::session::{CommandFailure, read_journal};

/// Writes the report in `format` to `out`, or to stdout.
pub(crate) fn run(plan: &Plan, format: Format, out: Option<&Path>) -> Result<(), CommandFailure> {
    let journal = Journal::for_plan(plan)?;
    let replay = read_journal(&journal)?;
    let text = report::build(plan, &replay.entries).render(format);
    match out {
        Some(path) => std::fs::write(path, text).map_err(|source| CommandFailure::Write {
            path: path.to_path_buf(),
            source,
        })?,
        // A closed pipe (`| head`) is not worth an error: the reader has what it wanted.
        None => {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        }
    }
    Ok(())
}

/// `report --json-schema`: the schema of `report --format json`.
pub(crate) fn schema() {
    let _ = std::io::stdout()
        .lock()
        .write_all(report::json_schema().as_bytes());
}
