//! The local logs follow the metadata image.
//!
//! On every image change (and once at start) the replica manager compares the topics the
//! image assigns to this broker with the local ones:
//! - a topic of the image with partitions whose replicas name this broker, and no local
//!   log of that id, is created here (its hosted partitions only, the image's id and
//!   configs); a local one of the same name but another id (a deleted namesake) goes first;
//! - a local topic the image assigned (its topic file lists hosted partitions) whose id the
//!   image no longer has is deleted.
//!
//! The hosted partitions this broker leads take the image's leader epoch.
//!
//! A single broker's own topics (written before the cluster was configured) and the
//! coordinators' internal topics are left alone. Growing a topic's partitions, moving
//! replicas and config changes through the image are not followed yet.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::watch;

use crate::group::GroupCoordinator;
use crate::log::LogManager;
use crate::log::cleaner::LogCleaner;
use crate::log::internal::is_internal;
use crate::metadata::MetadataImage;
use crate::metadata::image::{TOPIC_RESOURCE, TopicImage};

/// Keeps the local logs as the image assigns them.
#[derive(Debug)]
pub struct ReplicaManager {
    node_id: i32,
    logs: Arc<LogManager>,
    /// Told of deleted topics, as DeleteTopics tells them on a single broker.
    cleaner: Arc<LogCleaner>,
    groups: Arc<GroupCoordinator>,
}

/// What the image asks of one topic here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create (name, id, partition count, hosted partitions, config overrides).
    Create {
        name: String,
        id: uuid::Uuid,
        count: i32,
        hosted: Vec<i32>,
        overrides: BTreeMap<String, String>,
    },
    /// Delete the local topic of this name.
    Delete { name: String },
}

/// The partitions of `t` whose replicas name `node`.
fn hosted(t: &TopicImage, node: i32) -> Vec<i32> {
    t.partitions
        .iter()
        .filter(|(_, p)| p.replicas.contains(&node))
        .map(|(i, _)| *i)
        .collect()
}

/// What to do so that the local topics (name, id, assigned by the image) match `image`.
pub fn plan(image: &MetadataImage, node: i32, local: &[(String, uuid::Uuid, bool)]) -> Vec<Action> {
    let mut out = vec![];
    for (name, id, managed) in local {
        if is_internal(name) || !managed {
            continue;
        }
        let current = image.topic(name).map(|t| t.id);
        if current != Some(*id) {
            out.push(Action::Delete { name: name.clone() });
        }
    }
    // The coordinators' internal topics stay their own (never hosted from the image).
    for t in image.topics.values().filter(|t| !is_internal(&t.name)) {
        let here = hosted(t, node);
        if here.is_empty() || local.iter().any(|(_, id, _)| *id == t.id) {
            continue;
        }
        if let Some((name, _, managed)) = local.iter().find(|(n, _, _)| *n == t.name)
            && !managed
            && !is_internal(name)
        {
            tracing::warn!(topic = %t.name, "a local topic of this name predates the cluster; the cluster's topic is not hosted here until it is deleted");
            continue;
        }
        out.push(Action::Create {
            name: t.name.clone(),
            id: t.id,
            count: t.partitions.len() as i32,
            hosted: here,
            overrides: image
                .configs
                .get(&(TOPIC_RESOURCE, t.name.clone()))
                .cloned()
                .unwrap_or_default(),
        });
    }
    out
}

impl ReplicaManager {
    pub fn new(node_id: i32, logs: Arc<LogManager>, cleaner: Arc<LogCleaner>, groups: Arc<GroupCoordinator>) -> Self {
        Self {
            node_id,
            logs,
            cleaner,
            groups,
        }
    }

    /// Follows `image` until `shutdown`, starting once the controller has unfenced this
    /// broker (`lifecycle` gives (fenced, may shut down)): it unfences a broker only after
    /// its image holds everything up to its registration, so no topic is missing from the
    /// image then merely because the metadata log is still being replayed (a topic that
    /// would otherwise be deleted here).
    pub async fn run(
        self,
        mut image: watch::Receiver<Arc<MetadataImage>>,
        mut lifecycle: watch::Receiver<(bool, bool)>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        tokio::select! {
            unfenced = lifecycle.wait_for(|(fenced, _)| !fenced) => if unfenced.is_err() { return },
            _ = shutdown.wait_for(|s| *s) => return,
        }
        loop {
            let current = image.borrow_and_update().clone();
            self.reconcile(&current).await;
            tokio::select! {
                changed = image.changed() => if changed.is_err() { return },
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    }

    /// Applies [`plan`] (file work on a blocking thread).
    pub async fn reconcile(&self, image: &MetadataImage) {
        let local: Vec<(String, uuid::Uuid, bool)> = self
            .logs
            .topics()
            .iter()
            .map(|t| (t.name.to_string(), t.id, t.partitions.is_managed()))
            .collect();
        let actions = plan(image, self.node_id, &local);
        if actions.is_empty() {
            self.lead(image);
            return;
        }
        let deleted: Vec<String> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Delete { name } => Some(name.clone()),
                Action::Create { .. } => None,
            })
            .collect();
        let logs = self.logs.clone();
        let done = tokio::task::spawn_blocking(move || {
            for a in actions {
                let result = match &a {
                    Action::Delete { name } => logs.delete_topic(name).map(drop),
                    Action::Create {
                        name,
                        id,
                        count,
                        hosted,
                        overrides,
                    } => logs
                        .create_topic_as(name, *id, *count, Some(hosted), overrides.clone())
                        .map(drop),
                };
                if let Err(e) = result {
                    tracing::error!(action = ?a, error = %e, "the local logs could not follow the metadata image");
                }
            }
        })
        .await;
        if let Err(e) = done {
            tracing::error!(error = %e, "the replica manager's task failed");
        }
        for name in deleted {
            self.cleaner.forget_topic(&name);
            self.groups.topic_deleted(&name).await;
        }
        self.lead(image);
    }

    /// The hosted partitions this broker leads in `image` lead at the image's epoch.
    fn lead(&self, image: &MetadataImage) {
        for t in image.topics.values() {
            let Some(local) = self.logs.topic(&t.name).filter(|l| l.id == t.id) else {
                continue;
            };
            for (index, p) in t.partitions.iter().filter(|(_, p)| p.leader == self.node_id) {
                let Some(partition) = local.partitions.by_index(*index) else {
                    continue;
                };
                if partition.leader_epoch() != p.leader_epoch
                    && let Err(e) = partition.become_leader_at(p.leader_epoch)
                {
                    tracing::error!(topic = %t.name, partition = index, error = %e, "becoming the leader failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
