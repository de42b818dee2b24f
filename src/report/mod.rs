//! The migration report for the people who did not watch: every step, override, alarm,
//! DNS stage, mailbox and rollback, built from the plan and the journal alone (it never contacts a
//! server), then written as HTML, Markdown, CSV (the mailbox table) or JSON.
//!
//! - [`build`] folds the journal into a [`Report`] (`build.rs`); it is a pure function of
//!   the plan and the journal's lines, dated by the last line ("as of").
//! - One renderer per format: `html.rs` (one self-contained page, inline CSS, an SVG
//!   timeline, no script), `markdown.rs`, `csv.rs`; JSON is the [`Report`] itself, with
//!   its schema in `assets/report.schema.json` ([`json_schema`]).
//! - `rollback.rs` the way back (R18): decisions, the rollback steps, the copy back.
//!
//! Every text that came from a server, DNS or the operator is sanitised of control
//! characters when the model is built; each renderer then escapes its own syntax.

mod build;
mod csv;
mod html;
mod markdown;
mod model;
mod rollback;

pub use build::build;
pub use model::{
    AlarmSpan, CheckLine, DnsRecord, DnsStage, JournalLine, MailboxRow, MissingFolder, Override,
    Report, RollbackDecision, RollbackSection, RollbackStep, StepRow, Summary,
};

/// The formats `cutover report` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One self-contained page: inline CSS, no script, printable on A4.
    Html,
    /// The same sections as Markdown.
    Md,
    /// The mailbox table only, one row per mailbox.
    Csv,
    /// The whole report (schema: `assets/report.schema.json`).
    Json,
}

impl Report {
    /// The report in one format.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Html => html::render(self),
            Format::Md => markdown::render(self),
            Format::Csv => csv::render(self),
            Format::Json => {
                // A tree of strings, numbers and options: serialising it cannot fail.
                let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
                text.push('\n');
                text
            }
        }
    }
}

/// The JSON Schema of `report --format json`, as checked in at `assets/report.schema.json`.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Report);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
