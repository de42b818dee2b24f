//! The built-in steps' ids, a leaf that both the plan loader (to check an
//! `after`) and the runbook read.

/// The runbook's step ids, in order. Stable: the CLI, the journal and tests use them.
pub const STEP_IDS: &[&str] = &[
    "lower-ttl",
    "spf-add-new",
    "new-server-ready",
    "bulk-copy",
    "users-connected",
    "clients-configured",
    "pop3-fetch",
    "ttl-wait",
    "add-new-mx",
    "remove-old-mx",
    "dkim-spf-final",
    "monitor-24h",
    "restore-ttl",
    "final-copy",
    "other-data",
    "announce-shutdown",
    "remove-old-accounts",
    "decommission-old",
];
