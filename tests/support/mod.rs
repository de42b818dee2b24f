//! Shared test support: real servers on loopback.
pub mod dovecot;
