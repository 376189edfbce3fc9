//! The ISR task (Kafka's `isr-expiration` task and `AlterPartitionManager`): every
//! `replica.lag.time.max.ms / 2`, and whenever a follower's fetch says it may join, each
//! led partition's ISR change ([`LeaderState::isr_change`]) is asked of the active
//! controller in one AlterPartition (v3, with each member's broker epoch), and its answer
//! applied: the committed ISR replaces the leader's; INELIGIBLE_REPLICA or
//! OPERATION_NOT_ATTEMPTED drops the change; a stale leader or partition epoch, an unknown
//! topic or partition or INVALID_REQUEST keep it pending until the image moves on; anything
//! else (the controller moved, a lost answer) asks again.
//!
//! Must not: change an ISR itself (only the controller's answer or the image does).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_request::{BrokerState, PartitionData, TopicData};
use kafka_protocol::messages::{AlterPartitionRequest, AlterPartitionResponse, BrokerId};
use tokio::sync::watch;

use super::{LeaderState, Replication};
use crate::controller::active::{ALTER_PARTITION, encode};
use crate::controller::channel::ControllerChannel;
use crate::controller::lifecycle::BrokerLifecycle;
use crate::log::now_ms;
use crate::metadata::MetadataImage;

/// A led partition and the ISR it asks for, at a partition epoch.
type Change = (Arc<LeaderState>, (Vec<i32>, i32));

/// AlterPartition's version sent (topic ids, broker epochs per member).
const VERSION: i16 = 3;
/// A change with no answer is asked again after this.
const RETRY_MS: i64 = 5_000;

/// Runs until `shutdown`.
pub async fn run(
    replication: Arc<Replication>,
    channel: Arc<ControllerChannel>,
    lifecycle: Arc<BrokerLifecycle>,
    image: watch::Receiver<Arc<MetadataImage>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let period = Duration::from_millis((replication.lag_time_max_ms / 2).max(1) as u64);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = replication.isr_woken() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let now = now_ms();
        let image = image.borrow().clone();
        let eligible = |id: i32| {
            image
                .brokers
                .get(&id)
                .is_some_and(|b| !b.fenced && !b.in_controlled_shutdown)
        };
        let changes: Vec<Change> = replication
            .leaders()
            .into_iter()
            .filter_map(|s| {
                let change = s.isr_change(now, replication.lag_time_max_ms, RETRY_MS, eligible)?;
                Some((s, change))
            })
            .collect();
        if changes.is_empty() {
            continue;
        }
        for (s, (isr, epoch)) in &changes {
            tracing::info!(partition = ?s.partition, isr = ?isr, partition_epoch = epoch, "asking the controller to change the ISR");
        }
        let req = request(&replication, lifecycle.broker_epoch(), &image, &changes);
        let answer = match encode(&req, VERSION) {
            Ok(body) => {
                channel
                    .exchange::<AlterPartitionResponse>(ALTER_PARTITION, VERSION, &body, Duration::from_secs(10))
                    .await
            }
            Err(e) => Err(e),
        };
        match answer {
            Ok(resp) => apply(&changes, resp, &channel).await,
            Err(e) => {
                tracing::debug!(error = %e, "AlterPartition failed; asking again");
                channel.forget().await;
                changes.iter().for_each(|(s, _)| s.abandon_pending());
            }
        }
    }
}

fn request(
    replication: &Replication,
    broker_epoch: i64,
    image: &MetadataImage,
    changes: &[Change],
) -> AlterPartitionRequest {
    let mut topics: BTreeMap<uuid::Uuid, Vec<PartitionData>> = BTreeMap::new();
    for (s, (isr, partition_epoch)) in changes {
        let members = isr
            .iter()
            .map(|id| {
                BrokerState::default()
                    .with_broker_id(BrokerId(*id))
                    .with_broker_epoch(image.brokers.get(id).map_or(-1, |b| b.epoch))
            })
            .collect();
        topics.entry(s.topic_id).or_default().push(
            PartitionData::default()
                .with_partition_index(s.partition.index())
                .with_leader_epoch(s.leader_epoch)
                .with_new_isr_with_epochs(members)
                .with_leader_recovery_state(0)
                .with_partition_epoch(*partition_epoch),
        );
    }
    AlterPartitionRequest::default()
        .with_broker_id(BrokerId(replication.node_id))
        .with_broker_epoch(broker_epoch)
        .with_topics(
            topics
                .into_iter()
                .map(|(id, partitions)| TopicData::default().with_topic_id(id).with_partitions(partitions))
                .collect(),
        )
}

async fn apply(changes: &[Change], resp: AlterPartitionResponse, channel: &ControllerChannel) {
    if resp.error_code != 0 {
        if ResponseError::try_from_code(resp.error_code) == Some(ResponseError::NotController) {
            channel.forget().await;
        }
        tracing::debug!(error = resp.error_code, "AlterPartition refused; asking again");
        changes.iter().for_each(|(s, _)| s.abandon_pending());
        return;
    }
    for (s, _) in changes {
        let answer = resp
            .topics
            .iter()
            .filter(|t| t.topic_id == s.topic_id)
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == s.partition.index());
        let Some(p) = answer else {
            s.abandon_pending();
            continue;
        };
        match ResponseError::try_from_code(p.error_code) {
            None if p.leader_epoch == s.leader_epoch => {
                let isr: Vec<i32> = p.isr.iter().map(|b| b.0).collect();
                tracing::info!(partition = ?s.partition, isr = ?isr, partition_epoch = p.partition_epoch, "the ISR changed");
                s.committed(isr, p.partition_epoch);
            }
            None => {}
            Some(ResponseError::IneligibleReplica | ResponseError::OperationNotAttempted) => s.abandon_pending(),
            Some(
                ResponseError::UnknownTopicOrPartition
                | ResponseError::UnknownTopicId
                | ResponseError::FencedLeaderEpoch
                | ResponseError::InvalidUpdateVersion
                | ResponseError::InvalidRequest
                | ResponseError::NewLeaderElected,
            ) => {
                tracing::debug!(partition = ?s.partition, error = p.error_code, "ISR change refused until the image moves on");
            }
            Some(e) => {
                tracing::debug!(partition = ?s.partition, error = ?e, "ISR change refused; asking again");
                s.abandon_pending();
            }
        }
    }
}
