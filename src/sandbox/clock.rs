//! The rehearsal's simulated clock: real time sped up, pausable, and frozen while I/O is in flight.
//!
//! Simulated time = the last settled simulated instant + (real time elapsed since then × speed),
//! counted only while the clock runs and no [`IoGuard`] is alive. Every state change (pause,
//! resume, speed, guard taken or dropped, skip) first *settles* the clock: it folds the real time
//! elapsed so far into the simulated base, so a change never rewrites the past. Real time is
//! read while holding the lock, so every reader and writer sees one ordered history and
//! simulated time never runs backwards.
//!
//! Why the I/O guard: at a speed factor of 400, a 5 ms DNS round trip would be two simulated
//! seconds, and a TTL or a timeout measured across it would lie. While any guard is held the
//! clock stands still; the real time spent is simply not converted.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};

use crate::clock::Clock;

/// Where real (monotonic) time comes from; injectable so tests need no sleeps.
pub(crate) type RealTime = Arc<dyn Fn() -> Instant + Send + Sync>;

/// A simulated clock shared by every task of the rehearsal (cheap to clone, thread-safe).
#[derive(Clone)]
pub struct SimClock {
    inner: Arc<Mutex<State>>,
    real: RealTime,
}

struct State {
    /// Simulated time at `real_base`.
    sim_base: Timestamp,
    /// Real instant at which `sim_base` was settled.
    real_base: Instant,
    speed: f64,
    paused: bool,
    /// In-flight I/O guards alive; time does not advance while > 0.
    guards: usize,
}

impl State {
    fn advancing(&self) -> bool {
        !self.paused && self.guards == 0 && self.speed > 0.0
    }

    fn now_at(&self, real_now: Instant) -> Timestamp {
        if !self.advancing() {
            return self.sim_base;
        }
        let real = real_now.saturating_duration_since(self.real_base);
        let sim = SignedDuration::try_from_secs_f64(real.as_secs_f64() * self.speed)
            .unwrap_or(SignedDuration::MAX);
        self.sim_base.checked_add(sim).unwrap_or(Timestamp::MAX)
    }

    /// Folds the real time elapsed so far into the simulated base. Never moves the real base
    /// back, so a late reading cannot make simulated time run backwards.
    fn settle(&mut self, real_now: Instant) {
        let real_now = real_now.max(self.real_base);
        self.sim_base = self.now_at(real_now);
        self.real_base = real_now;
    }
}

impl std::fmt::Debug for SimClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("SimClock")
            .field("sim_base", &state.sim_base)
            .field("speed", &state.speed)
            .field("paused", &state.paused)
            .field("guards", &state.guards)
            .finish()
    }
}

impl SimClock {
    /// A running clock starting at `start`, advancing `speed` simulated seconds per real second.
    pub fn new(start: Timestamp, speed: f64) -> SimClock {
        SimClock::with_real_time(start, speed, Arc::new(Instant::now))
    }

    /// Like [`SimClock::new`], reading real time from `real` (tests drive it by hand).
    pub(crate) fn with_real_time(start: Timestamp, speed: f64, real: RealTime) -> SimClock {
        let real_base = real();
        SimClock {
            inner: Arc::new(Mutex::new(State {
                sim_base: start,
                real_base,
                speed: sane_speed(speed),
                paused: false,
                guards: 0,
            })),
            real,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state half-written (every update is
        // a few plain assignments), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops simulated time (the rehearsal's pause key).
    pub fn pause(&self) {
        let mut state = self.lock();
        let now = (self.real)();
        state.settle(now);
        state.paused = true;
    }

    /// Lets simulated time run again.
    pub fn resume(&self) {
        let mut state = self.lock();
        let now = (self.real)();
        state.settle(now);
        state.paused = false;
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.lock().paused
    }

    /// Simulated seconds per real second from now on; negative or non-finite counts as 0.
    pub fn set_speed(&self, speed: f64) {
        let mut state = self.lock();
        let now = (self.real)();
        state.settle(now);
        state.speed = sane_speed(speed);
    }

    pub fn speed(&self) -> f64 {
        self.lock().speed
    }

    /// Jumps forward to `to` ("skip to when the next gate clears"); a target in the past is
    /// ignored, because simulated time never runs backwards. Returns the time now.
    pub fn skip_to(&self, to: Timestamp) -> Timestamp {
        let mut state = self.lock();
        let now = (self.real)();
        state.settle(now);
        if to > state.sim_base {
            state.sim_base = to;
        }
        state.sim_base
    }

    /// Jumps forward by `by` (negative durations are ignored). Returns the time now.
    pub fn skip(&self, by: SignedDuration) -> Timestamp {
        let target = self.now().checked_add(by).unwrap_or(Timestamp::MAX);
        self.skip_to(target)
    }

    /// Freezes simulated time until the returned guard (and every other one) is dropped.
    /// Take one around each DNS or IMAP round trip.
    pub fn io_guard(&self) -> IoGuard {
        let mut state = self.lock();
        let now = (self.real)();
        state.settle(now);
        state.guards += 1;
        IoGuard {
            clock: self.clone(),
        }
    }

    /// How much real time it takes, at the current speed, until simulated time reaches `at`;
    /// `None` when the clock is not advancing (paused, stopped by a guard, or speed 0).
    pub(crate) fn real_time_until(&self, at: Timestamp) -> Option<Duration> {
        let state = self.lock();
        let now = (self.real)();
        if !state.advancing() {
            return None;
        }
        let remaining = at.duration_since(state.now_at(now));
        if remaining <= SignedDuration::ZERO {
            return Some(Duration::ZERO);
        }
        Some(Duration::from_secs_f64(
            remaining.as_secs_f64() / state.speed,
        ))
    }
}

impl SimClock {
    /// Waits (in real time) until simulated time reaches `at`, following pauses, speed
    /// changes and skips as they happen.
    pub async fn sleep_until(&self, at: Timestamp) {
        // Re-check at least this often, so a pause, a new speed or a skip takes effect soon.
        const RECHECK: Duration = Duration::from_millis(20);
        loop {
            if self.now() >= at {
                return;
            }
            let wait = self.real_time_until(at).map_or(RECHECK, |d| d.min(RECHECK));
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        }
    }

    /// Waits for `by` of simulated time.
    pub async fn sleep(&self, by: SignedDuration) {
        let at = self.now().checked_add(by).unwrap_or(Timestamp::MAX);
        self.sleep_until(at).await;
    }
}

impl Clock for SimClock {
    fn now(&self) -> Timestamp {
        let state = self.lock();
        state.now_at((self.real)())
    }

    /// Waits `period` of simulated time, counted from now.
    fn wait(&self, period: Duration) -> crate::clock::Wait {
        let clock = self.clone();
        let at = SignedDuration::try_from(period)
            .ok()
            .and_then(|by| self.now().checked_add(by).ok())
            .unwrap_or(Timestamp::MAX);
        Box::pin(async move { clock.sleep_until(at).await })
    }

    fn hold_for_io(&self) -> crate::clock::IoHold {
        crate::clock::IoHold::keeping(self.io_guard())
    }
}

fn sane_speed(speed: f64) -> f64 {
    if speed.is_finite() && speed > 0.0 {
        speed
    } else {
        0.0
    }
}

/// Holds simulated time still while a DNS or IMAP round is in flight (see [`SimClock::io_guard`]).
#[must_use = "simulated time is frozen only while the guard is alive"]
pub struct IoGuard {
    clock: SimClock,
}

impl Drop for IoGuard {
    fn drop(&mut self) {
        let mut state = self.clock.lock();
        let now = (self.clock.real)();
        // While guards > 0 settling adds nothing: the real time spent in I/O is dropped here.
        state.settle(now);
        state.guards = state.guards.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A real-time source the test moves by hand.
    fn manual_real() -> (RealTime, Arc<AtomicU64>) {
        let origin = Instant::now();
        let offset_ms = Arc::new(AtomicU64::new(0));
        let read = offset_ms.clone();
        let real: RealTime =
            Arc::new(move || origin + Duration::from_millis(read.load(Ordering::SeqCst)));
        (real, offset_ms)
    }

    fn start() -> Timestamp {
        "2026-03-02T08:00:00Z".parse().unwrap()
    }

    #[test]
    fn simulated_time_runs_at_speed() {
        let (real, ms) = manual_real();
        let clock = SimClock::with_real_time(start(), 100.0, real);
        assert_eq!(clock.now(), start());
        ms.fetch_add(1_500, Ordering::SeqCst);
        assert_eq!(clock.now(), start() + SignedDuration::from_secs(150));
    }

    #[test]
    fn pause_stops_time_and_resume_continues_from_there() {
        let (real, ms) = manual_real();
        let clock = SimClock::with_real_time(start(), 10.0, real);
        ms.fetch_add(1_000, Ordering::SeqCst);
        clock.pause();
        ms.fetch_add(60_000, Ordering::SeqCst);
        assert_eq!(clock.now(), start() + SignedDuration::from_secs(10));
        clock.resume();
        ms.fetch_add(2_000, Ordering::SeqCst);
        assert_eq!(clock.now(), start() + SignedDuration::from_secs(30));
    }

    #[test]
    fn speed_change_does_not_rewrite_the_past() {
        let (real, ms) = manual_real();
        let clock = SimClock::with_real_time(start(), 10.0, real);
        ms.fetch_add(1_000, Ordering::SeqCst);
        clock.set_speed(1000.0);
        assert_eq!(clock.now(), start() + SignedDuration::from_secs(10));
        ms.fetch_add(1_000, Ordering::SeqCst);
        assert_eq!(clock.now(), start() + SignedDuration::from_secs(1010));
        clock.set_speed(f64::NAN);
        ms.fetch_add(1_000, Ordering::SeqCst);
        assert_eq!(clock.now(), start() + SignedDuration::from_secs(1010));
    }

    #[test]
    fn skip_to_jumps_forward_never_backward() {
        let (real, ms) = manual_real();
        let clock = SimClock::with_real_time(start(), 1.0, real);
        let later = start() + SignedDuration::from_hours(24);
        assert_eq!(clock.skip_to(later), later);
        assert_eq!(clock.skip_to(start()), later);
        ms.fetch_add(1_000, Ordering::SeqCst);
        assert_eq!(clock.now(), later + SignedDuration::from_secs(1));
        assert_eq!(
            clock.skip(SignedDuration::from_secs(-3600)),
            later + SignedDuration::from_secs(1)
        );
    }

    #[test]
    fn time_stands_still_while_any_io_guard_is_alive() {
        let (real, ms) = manual_real();
        let clock = SimClock::with_real_time(start(), 100.0, real);
        ms.fetch_add(1_000, Ordering::SeqCst);
        let first = clock.io_guard();
        let second = clock.io_guard();
        ms.fetch_add(5_000, Ordering::SeqCst);
        assert_eq!(clock.now(), start() + SignedDuration::from_secs(100));
        drop(first);
        ms.fetch_add(5_000, Ordering::SeqCst);
        assert_eq!(clock.now(), start() + SignedDuration::from_secs(100));
        drop(second);
        assert_eq!(clock.now(), start() + SignedDuration::from_secs(100));
        ms.fetch_add(1_000, Ordering::SeqCst);
        assert_eq!(clock.now(), start() + SignedDuration::from_secs(200));
    }

    #[test]
    fn skip_works_while_a_guard_is_held() {
        let (real, _ms) = manual_real();
        let clock = SimClock::with_real_time(start(), 100.0, real);
        let _guard = clock.io_guard();
        let later = start() + SignedDuration::from_mins(5);
        assert_eq!(clock.skip_to(later), later);
        assert_eq!(clock.now(), later);
    }

    #[test]
    fn real_time_until_scales_by_speed() {
        let (real, _ms) = manual_real();
        let clock = SimClock::with_real_time(start(), 60.0, real);
        let in_an_hour = start() + SignedDuration::from_hours(1);
        assert_eq!(
            clock.real_time_until(in_an_hour),
            Some(Duration::from_secs(60))
        );
        assert_eq!(clock.real_time_until(start()), Some(Duration::ZERO));
        clock.pause();
        assert_eq!(clock.real_time_until(in_an_hour), None);
    }

    #[test]
    fn clones_share_one_time() {
        let (real, ms) = manual_real();
        let clock = SimClock::with_real_time(start(), 2.0, real);
        let other = clock.clone();
        other.pause();
        ms.fetch_add(1_000, Ordering::SeqCst);
        assert_eq!(clock.now(), start());
        assert!(clock.is_paused());
    }

    #[tokio::test]
    async fn a_workers_wait_is_counted_in_simulated_time_and_ends_on_a_skip() {
        let clock = SimClock::new(start(), 1.0);
        let as_worker: &dyn Clock = &clock;
        // An hour of simulated time at real speed: only the skip ends it.
        let wait = as_worker.wait(Duration::from_secs(3600));
        clock.skip(SignedDuration::from_hours(1));
        tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .expect("the skip ends the wait");
    }

    #[test]
    fn a_workers_io_hold_stops_simulated_time() {
        let (real, ms) = manual_real();
        let clock = SimClock::with_real_time(start(), 100.0, real);
        let hold = Clock::hold_for_io(&clock);
        ms.fetch_add(1_000, Ordering::SeqCst);
        assert_eq!(clock.now(), start());
        drop(hold);
        ms.fetch_add(1_000, Ordering::SeqCst);
        assert_eq!(clock.now(), start() + SignedDuration::from_secs(100));
    }
}
