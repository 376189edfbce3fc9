//! WriteTxnMarkers: a transaction coordinator's request to write commit or abort markers.
//! Clients send it too: `Admin.abortTransaction` and `kafka-transactions.sh abort` end a
//! hanging transaction with an abort marker, using the producer epoch and coordinator epoch
//! DescribeProducers shows. Each partition gets its own error, as Kafka's:
//! UNKNOWN_TOPIC_OR_PARTITION, KAFKA_STORAGE_ERROR in a failed log dir,
//! INVALID_PRODUCER_EPOCH for an older producer epoch, TRANSACTION_COORDINATOR_FENCED for an
//! older coordinator epoch than the producer's last marker. A marker in `__consumer_offsets`
//! also settles the transactional offset commits of the groups stored there.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use super::errors::leader_write_error;
use crate::broker::Broker;
use crate::log::LogError;
use crate::replica::leader_write::LeaderWriteError;

pub async fn handle(broker: &Broker, req: WriteTxnMarkersRequest, _version: i16) -> WriteTxnMarkersResponse {
    let mut resp = WriteTxnMarkersResponse::default();
    for m in req.markers {
        let mut result = WritableTxnMarkerResult::default();
        result.producer_id = m.producer_id;
        for t in &m.topics {
            let mut tr = WritableTxnMarkerTopicResult::default();
            tr.name = t.name.clone();
            for &i in &t.partition_indexes {
                let mut pr = WritableTxnMarkerPartitionResult::default();
                pr.partition_index = i;
                pr.error_code = write(broker, t.name.0.as_str(), i, &m).await.map_or(0, |e| e.code());
                tr.partitions.push(pr);
            }
            result.topics.push(tr);
        }
        resp.markers.push(result);
    }
    resp
}

/// Writes one marker; the partition's error, if any.
async fn write(
    broker: &Broker,
    topic: &str,
    partition: i32,
    m: &kafka_protocol::messages::write_txn_markers_request::WritableTxnMarker,
) -> Option<ResponseError> {
    let Some(p) = broker.logs().partition(topic, partition) else {
        // In a cluster, a partition of the image hosted elsewhere (Kafka's ReplicaManager).
        if broker
            .image()
            .is_some_and(|i| i.topic(topic).is_some_and(|t| t.partitions.contains_key(&partition)))
        {
            return Some(ResponseError::NotLeaderOrFollower);
        }
        return Some(ResponseError::UnknownTopicOrPartition);
    };
    if p.is_offline() {
        return Some(ResponseError::KafkaStorageError);
    }
    let (pid, epoch, coordinator_epoch, commit) = (
        m.producer_id.0,
        m.producer_epoch,
        m.coordinator_epoch,
        m.transaction_result,
    );
    let marker = crate::txn::markers::Marker {
        producer_id: pid,
        producer_epoch: epoch,
        coordinator_epoch,
        commit,
    };
    let written = crate::txn::markers::write_local(
        broker.logs(),
        broker.groups(),
        broker.replication(),
        topic,
        partition,
        marker,
    )
    .await;
    match written {
        Ok(()) => None,
        Err(e) => {
            if !matches!(
                e,
                LeaderWriteError::Log(LogError::InvalidProducerEpoch(_) | LogError::CoordinatorFenced(_))
            ) {
                tracing::warn!(topic, partition, producer_id = pid, error = %e, "WriteTxnMarkers: marker not written");
            }
            Some(leader_write_error(&e))
        }
    }
}
