//! The simulated clock seen from many threads at once, and frozen by in-flight DNS rounds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use cutover::clock::Clock;
use cutover::sandbox::SimClock;
use jiff::{SignedDuration, Timestamp};

fn start() -> Timestamp {
    "2026-03-02T08:00:00Z".parse().unwrap()
}

#[test]
fn readers_on_many_threads_never_see_time_go_backwards() {
    let clock = SimClock::new(start(), 10_000.0);
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for _ in 0..4 {
        let clock = clock.clone();
        threads.push(thread::spawn(move || {
            let mut last = clock.now();
            for _ in 0..20_000 {
                let now = clock.now();
                assert!(now >= last, "time went back from {last} to {now}");
                last = now;
            }
        }));
    }
    // Meanwhile: guards come and go, the speed changes, time is paused and skipped.
    let churn = {
        let clock = clock.clone();
        let stop = stop.clone();
        thread::spawn(move || {
            let mut round = 0u32;
            while !stop.load(Ordering::SeqCst) {
                let guard = clock.io_guard();
                clock.set_speed(f64::from(round % 7) * 1_000.0);
                drop(guard);
                if round.is_multiple_of(11) {
                    clock.pause();
                    clock.skip(SignedDuration::from_secs(5));
                    clock.resume();
                }
                round += 1;
            }
        })
    };
    for thread in threads {
        thread.join().unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    churn.join().unwrap();
    assert!(clock.now() > start());
}

#[test]
fn a_guard_held_across_real_waiting_keeps_simulated_time_still() {
    // 1 real ms = 100 simulated seconds: without the guard, 20 ms would be over half an hour.
    let clock = SimClock::new(start(), 100_000.0);
    let guard = clock.io_guard();
    let before = clock.now();
    thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(clock.now(), before);
    drop(guard);
    thread::sleep(std::time::Duration::from_millis(5));
    assert!(clock.now() > before + SignedDuration::from_secs(60));
}

#[tokio::test]
async fn sleep_until_follows_speed_and_skips() {
    // One simulated hour is 0.1 s of real time at this speed.
    let clock = SimClock::new(start(), 36_000.0);
    let real = std::time::Instant::now();
    clock.sleep(SignedDuration::from_hours(1)).await;
    assert!(clock.now() >= start() + SignedDuration::from_hours(1));
    assert!(real.elapsed() < std::time::Duration::from_secs(2));

    // Paused, a sleeper waits until a skip carries time past its deadline.
    clock.pause();
    let target = clock.now() + SignedDuration::from_hours(24);
    let sleeper = {
        let clock = clock.clone();
        tokio::spawn(async move { clock.sleep_until(target).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    assert!(
        !sleeper.is_finished(),
        "a paused clock must not wake the sleeper"
    );
    clock.skip_to(target);
    tokio::time::timeout(std::time::Duration::from_secs(2), sleeper)
        .await
        .expect("the skip wakes the sleeper")
        .unwrap();
}
