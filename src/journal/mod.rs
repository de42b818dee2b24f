//! The journal: cutover's memory, an append-only JSON-lines file beside the plan.

pub mod entry;

pub use entry::Entry;
