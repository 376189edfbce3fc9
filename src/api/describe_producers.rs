//! DescribeProducers: the idempotent and transactional producers each partition tracks
//! (epoch, last sequence, last timestamp, open transaction), as `kafka-transactions.sh
//! describe-producers` shows them. An unknown topic or partition gets
//! UNKNOWN_TOPIC_OR_PARTITION (with Kafka's messages), one in a failed log dir
//! KAFKA_STORAGE_ERROR.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_producers_response::{PartitionResponse, ProducerState, TopicResponse};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

use super::message;
use crate::broker::Broker;

pub async fn handle(broker: &Broker, req: DescribeProducersRequest, _version: i16) -> DescribeProducersResponse {
    let mut resp = DescribeProducersResponse::default();
    for t in req.topics {
        let topic = broker.logs().topic(t.name.0.as_str());
        let mut tr = TopicResponse::default();
        tr.name = t.name.clone();
        for i in t.partition_indexes {
            let mut pr = PartitionResponse::default();
            pr.partition_index = i;
            let partition = topic
                .as_ref()
                .and_then(|t| usize::try_from(i).ok().and_then(|i| t.partitions.get(i)));
            let elsewhere = matches!(
                broker.leadership(t.name.0.as_str(), i),
                crate::broker::Leadership::Elsewhere { .. }
            );
            match partition {
                // In a cluster, another broker leads it.
                _ if elsewhere => pr.error_code = ResponseError::NotLeaderOrFollower.code(),
                // As Kafka: an unknown topic gets the error's default text, an unknown
                // partition of a known topic none.
                None => {
                    pr.error_code = ResponseError::UnknownTopicOrPartition.code();
                    pr.error_message = if topic.is_none() {
                        message("This server does not host this topic-partition.")
                    } else {
                        None
                    };
                }
                Some(p) if p.is_offline() => pr.error_code = ResponseError::KafkaStorageError.code(),
                Some(p) => {
                    pr.active_producers = p
                        .describe_producers()
                        .into_iter()
                        .map(|s| {
                            let mut x = ProducerState::default();
                            x.producer_id = ProducerId(s.producer_id);
                            x.producer_epoch = s.epoch as i32;
                            x.last_sequence = s.last_sequence;
                            x.last_timestamp = s.last_timestamp;
                            x.coordinator_epoch = s.coordinator_epoch;
                            x.current_txn_start_offset = s.current_txn_start_offset;
                            x
                        })
                        .collect();
                }
            }
            tr.partitions.push(pr);
        }
        resp.topics.push(tr);
    }
    resp
}
