//! `log.cleaner.io.max.bytes.per.second`: Kafka's `Throttler` over the bytes every cleaner
//! thread reads and writes. Every 300 ms of work it compares the observed rate with the
//! allowed one and sleeps off the excess, holding the throttler so that the other threads
//! wait too. Sleeps come in slices that end early once the broker stops or the rate
//! changes, so a slow rate never holds up a shutdown or a reconfiguration.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CHECK_INTERVAL: Duration = Duration::from_millis(300);
const SLICE: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub struct Throttler {
    /// Bytes per second (f64 bits); infinite or non-positive: no limit.
    rate: AtomicU64,
    period: Mutex<(Instant, f64)>,
    stopping: AtomicBool,
}

impl Throttler {
    pub fn new(rate: f64) -> Self {
        Self {
            rate: AtomicU64::new(rate.to_bits()),
            period: Mutex::new((Instant::now(), 0.0)),
            stopping: AtomicBool::new(false),
        }
    }

    pub fn set_rate(&self, rate: f64) {
        self.rate.store(rate.to_bits(), Ordering::Relaxed);
    }

    /// The broker is stopping: no more sleeping.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// Counts `bytes` of cleaner I/O and sleeps if the rate since the period began is above
    /// the limit. Blocking.
    pub fn maybe_throttle(&self, bytes: usize) {
        let rate = f64::from_bits(self.rate.load(Ordering::Relaxed));
        if !rate.is_finite() || rate <= 0.0 || rate >= f64::MAX {
            return;
        }
        let mut p = self.period.lock().unwrap_or_else(|e| e.into_inner());
        p.1 += bytes as f64;
        let elapsed = p.0.elapsed();
        if elapsed < CHECK_INTERVAL {
            return;
        }
        let wanted = Duration::from_secs_f64((p.1 / rate).min(3600.0));
        let until = Instant::now() + wanted.saturating_sub(elapsed);
        while !self.stopping.load(Ordering::Acquire) && f64::from_bits(self.rate.load(Ordering::Relaxed)) == rate {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(SLICE));
        }
        *p = (Instant::now(), 0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_rate_and_stops_sleeping_on_stop() {
        let t = Throttler::new(f64::MAX);
        let start = Instant::now();
        t.maybe_throttle(1 << 30);
        assert!(start.elapsed() < Duration::from_secs(1), "no limit: no sleep");
        // 1 MB/s: 0.5 MB counted over one check interval asks for ~0.5 s in all.
        t.set_rate(1e6);
        *t.period.lock().unwrap() = (Instant::now() - CHECK_INTERVAL, 0.0);
        let start = Instant::now();
        t.maybe_throttle(500_000);
        let slept = start.elapsed();
        assert!(slept >= Duration::from_millis(150), "{slept:?}");
        // Stopped: a huge excess does not sleep.
        t.stop();
        *t.period.lock().unwrap() = (Instant::now() - CHECK_INTERVAL, 0.0);
        let start = Instant::now();
        t.maybe_throttle(1 << 30);
        assert!(start.elapsed() < Duration::from_secs(1));
    }
}
