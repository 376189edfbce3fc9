//! The partitions of one topic that this broker hosts, by partition index.
//!
//! A single broker hosts every partition of its topics; in a cluster a broker hosts those
//! whose replicas name it. [`PartitionSet::len`] is always the topic's partition count;
//! [`PartitionSet::get`] and iteration see only hosted partitions.

use std::sync::Arc;

use super::partition::Partition;

/// A topic's hosted partitions (indexed by partition number).
#[derive(Debug, Clone, Default)]
pub struct PartitionSet {
    slots: Vec<Option<Arc<Partition>>>,
    /// The metadata image assigns these partitions (a cluster's topic): the broker's
    /// replica manager creates, grows and deletes the topic as the image says.
    managed: bool,
}

impl PartitionSet {
    /// Every partition hosted (partition `i` at index `i`).
    pub fn all(partitions: Vec<Arc<Partition>>) -> Self {
        Self {
            slots: partitions.into_iter().map(Some).collect(),
            managed: false,
        }
    }

    /// A topic of `count` partitions, of which `hosted` are here, as the metadata image
    /// assigns them.
    pub fn hosted(count: usize, hosted: impl IntoIterator<Item = Arc<Partition>>) -> Self {
        let mut slots = vec![None; count];
        for p in hosted {
            if let Some(slot) = usize::try_from(p.index()).ok().and_then(|i| slots.get_mut(i)) {
                *slot = Some(p);
            }
        }
        Self { slots, managed: true }
    }

    /// A managed topic grown to `count` partitions, the new hosted ones `added`.
    pub fn grown(&self, count: usize, added: impl IntoIterator<Item = Arc<Partition>>) -> Self {
        let mut slots = self.slots.clone();
        slots.resize(count.max(slots.len()), None);
        for p in added {
            if let Some(slot) = usize::try_from(p.index()).ok().and_then(|i| slots.get_mut(i)) {
                *slot = Some(p);
            }
        }
        Self {
            slots,
            managed: self.managed,
        }
    }

    /// A managed topic of `count` partitions (at least its current count) that hosts
    /// `added` besides the current ones, less those whose index is in `removed`.
    pub fn reassigned(&self, count: usize, added: impl IntoIterator<Item = Arc<Partition>>, removed: &[i32]) -> Self {
        let mut next = self.grown(count, added);
        for i in removed {
            if let Some(slot) = usize::try_from(*i).ok().and_then(|i| next.slots.get_mut(i)) {
                *slot = None;
            }
        }
        next
    }

    /// The metadata image assigns these partitions (see [`Self::hosted`]).
    pub fn is_managed(&self) -> bool {
        self.managed
    }

    /// The topic's partition count (hosted or not).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Partition `i`, if this broker hosts it.
    pub fn get(&self, i: usize) -> Option<&Arc<Partition>> {
        self.slots.get(i).and_then(Option::as_ref)
    }

    /// Partition `i` (an i32 index, as Kafka's), if hosted here.
    pub fn by_index(&self, i: i32) -> Option<&Arc<Partition>> {
        usize::try_from(i).ok().and_then(|i| self.get(i))
    }

    /// Every partition is hosted here.
    pub fn hosts_all(&self) -> bool {
        self.slots.iter().all(Option::is_some)
    }

    /// The hosted partitions, in index order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Partition>> + '_ {
        self.slots.iter().flatten()
    }

    /// The hosted partitions among indexes `range`.
    pub fn range(&self, range: std::ops::Range<usize>) -> impl Iterator<Item = &Arc<Partition>> + '_ {
        let end = range.end.min(self.slots.len());
        self.slots[range.start.min(end)..end].iter().flatten()
    }

    /// Adds the next partition (index `len()`), hosted.
    pub fn push(&mut self, p: Arc<Partition>) {
        self.slots.push(Some(p));
    }

    /// The hosted partitions' indexes.
    pub fn indexes(&self) -> Vec<i32> {
        self.iter().map(|p| p.index()).collect()
    }
}

impl std::ops::Index<usize> for PartitionSet {
    type Output = Arc<Partition>;
    /// Partition `i`; panics if it is not hosted (callers index only what they know is).
    fn index(&self, i: usize) -> &Arc<Partition> {
        self.get(i)
            .unwrap_or_else(|| panic!("partition {i} is not hosted here"))
    }
}

impl<'a> IntoIterator for &'a PartitionSet {
    type Item = &'a Arc<Partition>;
    type IntoIter = std::iter::Flatten<std::slice::Iter<'a, Option<Arc<Partition>>>>;
    fn into_iter(self) -> Self::IntoIter {
        self.slots.iter().flatten()
    }
}

impl IntoIterator for PartitionSet {
    type Item = Arc<Partition>;
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<Option<Arc<Partition>>>>;
    fn into_iter(self) -> Self::IntoIter {
        self.slots.into_iter().flatten()
    }
}
