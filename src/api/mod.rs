//! API handlers: one file per API family. A handler is
//! `async fn handle(broker, request, version) -> response`; it never sees a socket and
//! translates wire types to domain calls (`log/`).

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_configs;
pub mod alter_replica_log_dirs;
pub mod api_versions;
pub mod client_quotas;
pub mod config_alter;
pub mod config_resources;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_quorum;
pub mod describe_topic_partitions;
pub mod describe_transactions;
pub mod elect_leaders;
pub mod end_txn;
pub mod errors;
pub mod fetch;
pub mod find_coordinator;
pub mod forwarded;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leader_epoch;
pub mod leave_group;
pub mod list_config_resources;
pub mod list_groups;
pub mod list_offsets;
pub mod list_transactions;
pub mod metadata;
pub mod metadata_image;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod partition_reassignments;
pub mod produce;
pub mod replica_assignment;
pub mod sync_group;
pub mod txn_offset_commit;
pub mod unregister_broker;
pub mod write_txn_markers;

use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;

/// A `TopicName` from a `&str`.
pub fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// An optional error message for a response.
pub fn message(s: impl Into<String>) -> Option<StrBytes> {
    Some(StrBytes::from_string(s.into()))
}

/// A `StrBytes` from an owned string.
pub fn str_of(s: String) -> StrBytes {
    StrBytes::from_string(s)
}

/// An optional `StrBytes` from an optional owned string.
pub fn opt_str(s: Option<String>) -> Option<StrBytes> {
    s.map(StrBytes::from_string)
}

/// Who sent a request (for group membership: Kafka records client id and host).
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub client_id: String,
    /// As Kafka shows it: `/` + the peer IP.
    pub client_host: String,
}

/// The endpoints (id, host, port, rack) of the brokers `ids` among the live ones: what
/// KIP-951's `node_endpoints` tell a client sent to another leader.
pub fn leader_endpoints(
    broker: &crate::broker::Broker,
    listener: &str,
    ids: &std::collections::BTreeSet<i32>,
) -> Vec<(
    i32,
    kafka_protocol::protocol::StrBytes,
    i32,
    Option<kafka_protocol::protocol::StrBytes>,
)> {
    if ids.is_empty() {
        return vec![];
    }
    broker
        .brokers(listener)
        .into_iter()
        .filter(|b| ids.contains(&b.id) && !b.fenced)
        .map(|b| {
            (
                b.id,
                kafka_protocol::protocol::StrBytes::from_string(b.host),
                b.port,
                b.rack.map(kafka_protocol::protocol::StrBytes::from_string),
            )
        })
        .collect()
}
