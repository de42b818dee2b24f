//! Time is injected: the cockpit reads a clock, the rehearsal runs a fast one, tests a manual one.
//!
//! Workers that wait (the DNS watcher's poll, the prober's period) wait on their clock too, so
//! the same workers run on the wall clock in the cockpit and on simulated time in the rehearsal.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;

/// A wait on a clock (see [`Clock::wait`]).
pub(crate) type Wait = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Where "now" comes from.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;

    /// Waits `period` of this clock's time. The wall clock and the manual clock wait in real
    /// time (a manual clock moves only when a test moves it, so its workers still need to
    /// wake); a simulated clock waits in simulated time, following its pauses and skips.
    fn wait(&self, period: Duration) -> Wait {
        Box::pin(tokio::time::sleep(period))
    }

    /// Holds the clock still while I/O is in flight, until the hold is dropped. Only a
    /// sped-up clock needs it (a round trip at 400× would age a TTL by seconds); the wall
    /// clock never stops.
    fn hold_for_io(&self) -> IoHold {
        IoHold::none()
    }
}

/// Keeps a clock still while alive (see [`Clock::hold_for_io`]).
pub struct IoHold(Option<Box<dyn std::any::Any + Send>>);

impl IoHold {
    /// A hold that holds nothing (clocks that never stop).
    pub fn none() -> IoHold {
        IoHold(None)
    }

    /// A hold that keeps `guard` alive until it is dropped.
    pub fn keeping(guard: impl std::any::Any + Send) -> IoHold {
        IoHold(Some(Box::new(guard)))
    }
}

impl std::fmt::Debug for IoHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("IoHold").field(&self.0.is_some()).finish()
    }
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<Timestamp>>);

impl ManualClock {
    pub fn new(at: Timestamp) -> ManualClock {
        ManualClock(Arc::new(Mutex::new(at)))
    }

    pub fn set(&self, at: Timestamp) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    pub fn advance(&self, by: jiff::SignedDuration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now = now.checked_add(by).unwrap_or(*now);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
