//! Long-poll wake-ups: the set of fetches waiting for new data on one partition.
//!
//! Owns: registering a waiting fetch's `Notify` and waking all of them when the partition
//! publishes new data. A fetch registers *before* it reads, so an append that lands between
//! its read and its wait still wakes it (`Notify` keeps the permit).

use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;

/// Waiting fetches of one partition (Kafka's fetch purgatory, keyed by partition).
#[derive(Debug, Default)]
pub struct Waiters {
    list: Mutex<Vec<Weak<Notify>>>,
}

impl Waiters {
    /// Registers `n` to be woken by the next [`Waiters::wake_all`].
    pub fn register(&self, n: &Arc<Notify>) {
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        let w = Arc::downgrade(n);
        if list.iter().any(|x| x.ptr_eq(&w)) {
            return;
        }
        if list.len() >= 64 {
            list.retain(|x| x.strong_count() > 0);
        }
        list.push(w);
    }

    /// Registered waiters whose fetch is still waiting.
    pub fn live(&self) -> usize {
        self.list
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|w| w.strong_count() > 0)
            .count()
    }

    /// Wakes every registered waiter and forgets them (they re-register if still waiting).
    pub fn wake_all(&self) {
        let woken = std::mem::take(&mut *self.list.lock().unwrap_or_else(|e| e.into_inner()));
        for w in woken {
            if let Some(n) = w.upgrade() {
                n.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wake_before_wait_is_not_lost() {
        let w = Waiters::default();
        let n = Arc::new(Notify::new());
        w.register(&n);
        w.wake_all();
        // The permit is stored: this completes at once.
        tokio::time::timeout(std::time::Duration::from_secs(5), n.notified())
            .await
            .unwrap();
    }
}
