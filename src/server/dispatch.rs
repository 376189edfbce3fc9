//! The SUPPORTED table (api key, version range) and one flat match from a decoded request
//! header to its handler. ApiVersions is generated from SUPPORTED.
//!
//! Adding an API = one SUPPORTED row + one match arm + a test with a real client.
//! An unknown API key or an unsupported version (other than ApiVersions') closes the
//! connection, as Kafka does.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Message, VersionRange};

use super::FrameError;
use super::codec::{RequestFrame, ResponseFrame, decode_body, encode_fetch_response, encode_response};
use crate::api;
use crate::broker::Broker;

/// Implemented APIs and versions: from Kafka 4.0's floor (KIP-896) to the newest version
/// kafka-protocol encodes.
pub const SUPPORTED: &[(ApiKey, VersionRange)] = &[
    (ApiKey::Produce, ProduceRequest::VERSIONS),
    (ApiKey::Fetch, FetchRequest::VERSIONS),
    (ApiKey::ListOffsets, ListOffsetsRequest::VERSIONS),
    (ApiKey::Metadata, MetadataRequest::VERSIONS),
    (ApiKey::ApiVersions, ApiVersionsRequest::VERSIONS),
    (ApiKey::CreateTopics, CreateTopicsRequest::VERSIONS),
    (ApiKey::DeleteTopics, DeleteTopicsRequest::VERSIONS),
    (ApiKey::CreatePartitions, CreatePartitionsRequest::VERSIONS),
    (ApiKey::DescribeCluster, DescribeClusterRequest::VERSIONS),
    (ApiKey::DeleteRecords, DeleteRecordsRequest::VERSIONS),
    (ApiKey::DescribeLogDirs, DescribeLogDirsRequest::VERSIONS),
    (ApiKey::DescribeConfigs, DescribeConfigsRequest::VERSIONS),
    (ApiKey::AlterConfigs, AlterConfigsRequest::VERSIONS),
    (
        ApiKey::IncrementalAlterConfigs,
        IncrementalAlterConfigsRequest::VERSIONS,
    ),
    (
        ApiKey::DescribeTopicPartitions,
        DescribeTopicPartitionsRequest::VERSIONS,
    ),
    (ApiKey::AlterReplicaLogDirs, AlterReplicaLogDirsRequest::VERSIONS),
    (ApiKey::ListConfigResources, ListConfigResourcesRequest::VERSIONS),
    (ApiKey::OffsetForLeaderEpoch, OffsetForLeaderEpochRequest::VERSIONS),
    (ApiKey::DescribeQuorum, DescribeQuorumRequest::VERSIONS),
    (ApiKey::DescribeClientQuotas, DescribeClientQuotasRequest::VERSIONS),
    (ApiKey::AlterClientQuotas, AlterClientQuotasRequest::VERSIONS),
    (ApiKey::ElectLeaders, ElectLeadersRequest::VERSIONS),
    (ApiKey::UnregisterBroker, UnregisterBrokerRequest::VERSIONS),
    (
        ApiKey::AlterPartitionReassignments,
        AlterPartitionReassignmentsRequest::VERSIONS,
    ),
    (
        ApiKey::ListPartitionReassignments,
        ListPartitionReassignmentsRequest::VERSIONS,
    ),
    (ApiKey::FindCoordinator, FindCoordinatorRequest::VERSIONS),
    // KIP-896 removed JoinGroup v0-v1 in Kafka 4.0; 4.0.1 brought them back for old
    // librdkafka (4.1 advertises 0-9).
    (ApiKey::JoinGroup, VersionRange { min: 0, max: 9 }),
    (ApiKey::SyncGroup, SyncGroupRequest::VERSIONS),
    (ApiKey::Heartbeat, HeartbeatRequest::VERSIONS),
    (ApiKey::LeaveGroup, LeaveGroupRequest::VERSIONS),
    (ApiKey::OffsetCommit, OffsetCommitRequest::VERSIONS),
    (ApiKey::OffsetFetch, OffsetFetchRequest::VERSIONS),
    (ApiKey::ListGroups, ListGroupsRequest::VERSIONS),
    (ApiKey::DescribeGroups, DescribeGroupsRequest::VERSIONS),
    (ApiKey::DeleteGroups, DeleteGroupsRequest::VERSIONS),
    (ApiKey::OffsetDelete, OffsetDeleteRequest::VERSIONS),
    (ApiKey::InitProducerId, InitProducerIdRequest::VERSIONS),
    (ApiKey::DescribeProducers, DescribeProducersRequest::VERSIONS),
    (ApiKey::AddPartitionsToTxn, AddPartitionsToTxnRequest::VERSIONS),
    (ApiKey::AddOffsetsToTxn, AddOffsetsToTxnRequest::VERSIONS),
    // v5 switches a client to transaction version 2 (KIP-890 part 2), which brokk does not
    // offer (no finalized `transaction.version` feature), as Kafka's TV1 brokers.
    (ApiKey::EndTxn, VersionRange { min: 0, max: 4 }),
    (ApiKey::TxnOffsetCommit, VersionRange { min: 0, max: 4 }),
    (ApiKey::DescribeTransactions, DescribeTransactionsRequest::VERSIONS),
    (ApiKey::WriteTxnMarkers, WriteTxnMarkersRequest::VERSIONS),
    // v2 adds a Java regular-expression filter on transactional ids.
    (ApiKey::ListTransactions, VersionRange { min: 0, max: 1 }),
];

/// The supported range of `key`, if implemented.
pub fn supported(key: ApiKey) -> Option<VersionRange> {
    SUPPORTED.iter().find(|(k, _)| *k == key).map(|(_, r)| *r)
}

/// The range ApiVersions advertises for `range`'s API. Produce is advertised from v0 although
/// v0-v2 are rejected: librdkafka < 2.10 enables gzip/snappy/lz4 only when the broker's
/// Produce range includes v0, and Kafka 4.0 advertises it for the same reason (KAFKA-18659).
pub fn advertised(key: ApiKey, range: VersionRange) -> VersionRange {
    match key {
        ApiKey::Produce => VersionRange { min: 0, max: range.max },
        _ => range,
    }
}

/// What a request gets back.
pub enum Reply {
    /// No response (Produce with acks=0).
    None,
    Now(ResponseFrame),
    /// A response ready once the request's appends are durable (Produce waiting for its
    /// fsyncs); the connection may read and handle the next produce meanwhile.
    Later(Pin<Box<dyn Future<Output = Result<ResponseFrame, FrameError>> + Send>>),
}

/// A handler call: decode the body as the request type, run `api::$module::handle`, encode.
macro_rules! call {
    ($module:ident, $broker:expr, $req:expr, $key:expr, $corr:expr, $v:expr $(, $extra:expr)*) => {
        encode_response(
            $key,
            $corr,
            $v,
            &api::$module::handle($broker, decode_body(&mut $req)?, $v $(, $extra)*).await,
        )
    };
}

/// Handles one request.
/// `listener` is the name of the listener the request came in on.
pub async fn dispatch(
    broker: &Broker,
    mut req: RequestFrame,
    peer: SocketAddr,
    listener: &str,
) -> Result<Reply, FrameError> {
    let (key, v, corr) = (req.api_key, req.version, req.header.correlation_id);
    let range = supported(key).ok_or(FrameError::UnknownApiKey(key as i16))?;
    if v < range.min || v > range.max {
        if key == ApiKey::ApiVersions {
            return encode_response(key, corr, 0, &api::api_versions::unsupported_version()).map(Reply::Now);
        }
        return Err(FrameError::UnsupportedVersion {
            api: format!("{key:?}"),
            version: v,
        });
    }
    let resp = match key {
        ApiKey::ApiVersions => encode_response(
            key,
            corr,
            v,
            &api::api_versions::handle(broker, decode_body(&mut req)?, v).await,
        ),
        ApiKey::Metadata => encode_response(
            key,
            corr,
            v,
            &api::metadata::handle(broker, decode_body(&mut req)?, v, listener).await,
        ),
        ApiKey::Produce => match api::produce::handle(broker, decode_body(&mut req)?, v, listener).await {
            api::produce::Outcome::Respond(r, durability) if durability.is_empty() => encode_response(key, corr, v, &r),
            api::produce::Outcome::Respond(mut r, durability) => {
                return Ok(Reply::Later(Box::pin(async move {
                    durability.wait(&mut r).await;
                    encode_response(key, corr, v, &r)
                })));
            }
            api::produce::Outcome::NoResponse => return Ok(Reply::None),
            api::produce::Outcome::CloseConnection(why) => return Err(FrameError::Malformed(why)),
        },
        ApiKey::Fetch => encode_fetch_response(
            corr,
            v,
            &api::fetch::handle(broker, decode_body(&mut req)?, v, listener).await,
        ),
        ApiKey::ListOffsets => encode_response(
            key,
            corr,
            v,
            &api::list_offsets::handle(broker, decode_body(&mut req)?, v).await,
        ),
        ApiKey::CreateTopics => encode_response(
            key,
            corr,
            v,
            &api::create_topics::handle(broker, decode_body(&mut req)?, v).await,
        ),
        ApiKey::DeleteTopics => encode_response(
            key,
            corr,
            v,
            &api::delete_topics::handle(broker, decode_body(&mut req)?, v).await,
        ),
        ApiKey::CreatePartitions => call!(create_partitions, broker, req, key, corr, v),
        ApiKey::DescribeCluster => call!(describe_cluster, broker, req, key, corr, v, listener),
        ApiKey::DeleteRecords => call!(delete_records, broker, req, key, corr, v),
        ApiKey::DescribeLogDirs => call!(describe_log_dirs, broker, req, key, corr, v),
        ApiKey::DescribeConfigs => call!(describe_configs, broker, req, key, corr, v),
        ApiKey::AlterConfigs => call!(alter_configs, broker, req, key, corr, v),
        ApiKey::IncrementalAlterConfigs => call!(incremental_alter_configs, broker, req, key, corr, v),
        ApiKey::DescribeTopicPartitions => call!(describe_topic_partitions, broker, req, key, corr, v, listener),
        ApiKey::AlterReplicaLogDirs => call!(alter_replica_log_dirs, broker, req, key, corr, v),
        ApiKey::ListConfigResources => call!(list_config_resources, broker, req, key, corr, v),
        ApiKey::OffsetForLeaderEpoch => call!(offset_for_leader_epoch, broker, req, key, corr, v),
        ApiKey::DescribeQuorum => call!(describe_quorum, broker, req, key, corr, v, listener),
        ApiKey::DescribeClientQuotas => encode_response(
            key,
            corr,
            v,
            &api::client_quotas::describe(broker, decode_body(&mut req)?, v).await,
        ),
        ApiKey::AlterClientQuotas => encode_response(
            key,
            corr,
            v,
            &api::client_quotas::alter(broker, decode_body(&mut req)?, v).await,
        ),
        ApiKey::ElectLeaders => call!(elect_leaders, broker, req, key, corr, v),
        ApiKey::UnregisterBroker => call!(unregister_broker, broker, req, key, corr, v),
        ApiKey::AlterPartitionReassignments => encode_response(
            key,
            corr,
            v,
            &api::partition_reassignments::alter(broker, decode_body(&mut req)?, v).await,
        ),
        ApiKey::ListPartitionReassignments => encode_response(
            key,
            corr,
            v,
            &api::partition_reassignments::list(broker, decode_body(&mut req)?, v).await,
        ),
        ApiKey::FindCoordinator => call!(find_coordinator, broker, req, key, corr, v, listener),
        ApiKey::JoinGroup => {
            let ctx = api::RequestContext {
                client_id: req.header.client_id.as_deref().unwrap_or_default().to_string(),
                client_host: format!("/{}", peer.ip()),
            };
            call!(join_group, broker, req, key, corr, v, &ctx)
        }
        ApiKey::SyncGroup => call!(sync_group, broker, req, key, corr, v),
        ApiKey::Heartbeat => call!(heartbeat, broker, req, key, corr, v),
        ApiKey::LeaveGroup => call!(leave_group, broker, req, key, corr, v),
        ApiKey::OffsetCommit => call!(offset_commit, broker, req, key, corr, v),
        ApiKey::OffsetFetch => call!(offset_fetch, broker, req, key, corr, v),
        ApiKey::ListGroups => call!(list_groups, broker, req, key, corr, v),
        ApiKey::DescribeGroups => call!(describe_groups, broker, req, key, corr, v),
        ApiKey::DeleteGroups => call!(delete_groups, broker, req, key, corr, v),
        ApiKey::OffsetDelete => call!(offset_delete, broker, req, key, corr, v),
        ApiKey::InitProducerId => call!(init_producer_id, broker, req, key, corr, v),
        ApiKey::DescribeProducers => call!(describe_producers, broker, req, key, corr, v),
        ApiKey::WriteTxnMarkers => call!(write_txn_markers, broker, req, key, corr, v),
        ApiKey::AddPartitionsToTxn => call!(add_partitions_to_txn, broker, req, key, corr, v),
        ApiKey::AddOffsetsToTxn => call!(add_offsets_to_txn, broker, req, key, corr, v),
        ApiKey::EndTxn => call!(end_txn, broker, req, key, corr, v),
        ApiKey::TxnOffsetCommit => call!(txn_offset_commit, broker, req, key, corr, v),
        ApiKey::DescribeTransactions => call!(describe_transactions, broker, req, key, corr, v),
        ApiKey::ListTransactions => call!(list_transactions, broker, req, key, corr, v),
        other => return Err(FrameError::UnknownApiKey(other as i16)),
    };
    resp.map(Reply::Now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::Decodable;

    /// Decodes `body` as the request type of `key` (all decoders the broker uses).
    fn decode_as(key: ApiKey, version: i16, body: &[u8]) {
        let mut b = bytes::Bytes::copy_from_slice(body);
        let _ = match key {
            ApiKey::Produce => ProduceRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::Fetch => FetchRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::ListOffsets => ListOffsetsRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::Metadata => MetadataRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::ApiVersions => ApiVersionsRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::CreateTopics => CreateTopicsRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::DeleteTopics => DeleteTopicsRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::CreatePartitions => CreatePartitionsRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::DescribeCluster => DescribeClusterRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::DeleteRecords => DeleteRecordsRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::DescribeLogDirs => DescribeLogDirsRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::ElectLeaders => ElectLeadersRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::UnregisterBroker => UnregisterBrokerRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::DescribeConfigs => DescribeConfigsRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::AlterConfigs => AlterConfigsRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::IncrementalAlterConfigs => IncrementalAlterConfigsRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::DescribeTopicPartitions => DescribeTopicPartitionsRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::AlterReplicaLogDirs => AlterReplicaLogDirsRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::ListConfigResources => ListConfigResourcesRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::OffsetForLeaderEpoch => OffsetForLeaderEpochRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::DescribeQuorum => DescribeQuorumRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::DescribeClientQuotas => DescribeClientQuotasRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::AlterClientQuotas => AlterClientQuotasRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::AlterPartitionReassignments => {
                AlterPartitionReassignmentsRequest::decode(&mut b, version).map(|_| ())
            }
            ApiKey::ListPartitionReassignments => {
                ListPartitionReassignmentsRequest::decode(&mut b, version).map(|_| ())
            }
            ApiKey::FindCoordinator => FindCoordinatorRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::JoinGroup => JoinGroupRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::SyncGroup => SyncGroupRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::Heartbeat => HeartbeatRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::LeaveGroup => LeaveGroupRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::OffsetCommit => OffsetCommitRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::OffsetFetch => OffsetFetchRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::ListGroups => ListGroupsRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::DescribeGroups => DescribeGroupsRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::DeleteGroups => DeleteGroupsRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::OffsetDelete => OffsetDeleteRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::InitProducerId => InitProducerIdRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::DescribeProducers => DescribeProducersRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::WriteTxnMarkers => WriteTxnMarkersRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::AddPartitionsToTxn => AddPartitionsToTxnRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::AddOffsetsToTxn => AddOffsetsToTxnRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::EndTxn => EndTxnRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::TxnOffsetCommit => TxnOffsetCommitRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::DescribeTransactions => DescribeTransactionsRequest::decode(&mut b, version).map(|_| ()),
            ApiKey::ListTransactions => ListTransactionsRequest::decode(&mut b, version).map(|_| ()),
            other => panic!("{other:?} is in SUPPORTED but not in this test"),
        };
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Random request bytes never panic the decoders or the header parser.
        #[test]
        fn decoders_survive_random_bytes(idx in 0usize..SUPPORTED.len(), v in 0i16..20, body in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let (key, range) = SUPPORTED[idx];
            let version = range.min + v % (range.max - range.min + 1);
            decode_as(key, version, &body);
            let mut frame = vec![];
            frame.extend_from_slice(&(key as i16).to_be_bytes());
            frame.extend_from_slice(&version.to_be_bytes());
            frame.extend_from_slice(&body);
            let _ = crate::server::codec::decode_header(bytes::Bytes::from(frame));
        }
    }

    #[test]
    fn supported_ranges_are_sane() {
        for (k, r) in SUPPORTED {
            assert!(r.min <= r.max, "{k:?}");
        }
        assert_eq!(supported(ApiKey::ApiVersions).unwrap().max, 4);
        assert!(supported(ApiKey::Envelope).is_none());
    }
}
