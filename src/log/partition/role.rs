//! A partition of a cluster's topic changes role as the metadata image says: it becomes
//! the leader at the epoch the controller gave (Kafka's `makeLeader`), so that batches it
//! appends carry that epoch and clients' epochs match it.

use std::sync::atomic::Ordering;

use super::{Partition, lock};
use crate::log::LogError;

impl Partition {
    /// Leads from now on at `epoch` (the image's leader epoch): the epoch starts at the log
    /// end in the leader-epoch cache (written durably) and stamps the next appends. An
    /// epoch at or below the current one changes nothing.
    pub fn become_leader_at(&self, epoch: i32) -> Result<(), LogError> {
        let st = lock(&self.append);
        if epoch <= self.leader_epoch.load(Ordering::Acquire) && self.leader_epoch.load(Ordering::Acquire) >= 0 {
            return Ok(());
        }
        let mut epochs = lock(&self.epochs);
        if epochs.assign(epoch, st.next_offset) {
            epochs.write()?;
        }
        self.leader_epoch.store(epoch, Ordering::Release);
        Ok(())
    }
}
