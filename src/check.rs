//! Checks: a pure verdict on live evidence, shared by `status`, the cockpit and tests.

use serde::{Deserialize, Serialize};

/// The verdict of one check. `Unknown` means "not measured": it is never shown green.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    Unknown,
}

impl Status {
    /// Whether this verdict lets a step go ahead without an override.
    /// `Warn` holds (it is advice); `Unknown` does not (nothing was measured).
    pub fn holds(self) -> bool {
        matches!(self, Status::Pass | Status::Warn)
    }

    /// The mark shown beside a check: ✓ only for a measured pass.
    pub fn mark(self) -> &'static str {
        match self {
            Status::Pass => "✓",
            Status::Warn => "!",
            Status::Fail => "✗",
            Status::Unknown => "?",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Unknown => "unknown",
        }
    }
}

/// Whether a check decides if a step may start (gate) or whether it happened (outcome).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Gate,
    Outcome,
}

/// One evaluated check with its single sentence of evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Check {
    pub id: String,
    pub kind: Kind,
    pub status: Status,
    pub evidence: String,
    /// When a time-based check will clear, if that is all that holds it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>")] // an RFC 3339 time (jiff 1 has no JsonSchema)
    pub until: Option<jiff::Timestamp>,
}

impl Check {
    pub fn new(id: &str, kind: Kind, status: Status, evidence: impl Into<String>) -> Check {
        Check {
            id: id.to_string(),
            kind,
            status,
            evidence: evidence.into(),
            until: None,
        }
    }

    pub fn until(mut self, at: jiff::Timestamp) -> Check {
        self.until = Some(at);
        self
    }
}
