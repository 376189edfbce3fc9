//! What is allowed to differ between Kafka's answer and brokk's, and why. Everything not
//! listed here is compared exactly, error messages included.
//!
//! - `throttle_time_ms`: quotas and load differ between two processes;
//! - cluster ids, broker hosts and ports, topic ids: chosen per broker;
//! - the UUID part of member ids (`<client id>-<UUID>`): random per broker;
//! - producer ids: each broker allocates its own (requests carry each side's; answers have
//!   them as 0); transaction start times: the brokers' clocks;
//! - config `documentation`: free text (names, values, sources and types are compared);
//! - log dir paths and their filesystems' free and total bytes;
//! - the order of a topic's partitions in Metadata (Kafka's follows its metadata image) and
//!   in ListOffsets and WriteTxnMarkers (a hash map's).
//!
//! brokk's deliberate differences (compat/kafka/FINDINGS.md says why) are applied to Kafka's
//! answer by the `kafka_*` functions below, so that the rest is still compared exactly and a
//! change on either side shows.

#![allow(dead_code)]
use kafka_protocol::messages::*;

pub fn metadata(r: &mut MetadataResponse) {
    r.throttle_time_ms = 0;
    r.cluster_id = None;
    for b in &mut r.brokers {
        b.host = Default::default();
        b.port = 0;
    }
    for t in &mut r.topics {
        // Each broker has its own ids; whether there is one is compared.
        if !t.topic_id.is_nil() {
            t.topic_id = uuid::Uuid::from_u128(1);
        }
        // Kafka lists a topic's partitions in its metadata image's (hash) order.
        t.partitions.sort_by_key(|p| p.partition_index);
    }
}

pub fn create_topics(r: &mut CreateTopicsResponse) {
    r.throttle_time_ms = 0;
    for t in &mut r.topics {
        t.topic_id = Default::default();
        if let Some(configs) = &mut t.configs {
            configs.sort_by(|a, b| a.name.cmp(&b.name));
            kafka_min_insync_source(configs);
        }
    }
}

pub fn delete_topics(r: &mut DeleteTopicsResponse) {
    r.throttle_time_ms = 0;
    for t in &mut r.responses {
        t.topic_id = Default::default();
    }
}

pub fn produce(r: &mut ProduceResponse) {
    r.throttle_time_ms = 0;
    for t in &mut r.responses {
        // Each broker's own (v13 names topics by id).
        if !t.topic_id.is_nil() {
            t.topic_id = uuid::Uuid::from_u128(1);
        }
    }
    for t in &mut r.responses {
        for p in &mut t.partition_responses {
            // The broker's clock (LogAppendTime topics) and its current leader's address.
            if p.log_append_time_ms > 0 {
                p.log_append_time_ms = 1;
            }
        }
    }
    for e in &mut r.node_endpoints {
        e.host = Default::default();
        e.port = 0;
    }
}

pub fn fetch(r: &mut FetchResponse) {
    r.throttle_time_ms = 0;
    r.session_id = 0;
    for t in &mut r.responses {
        t.topic_id = Default::default();
    }
    for e in &mut r.node_endpoints {
        e.host = Default::default();
        e.port = 0;
    }
}

pub fn list_offsets(r: &mut ListOffsetsResponse) {
    r.throttle_time_ms = 0;
    for t in &mut r.topics {
        // Kafka answers a topic's partitions in a hash map's order.
        t.partitions.sort_by_key(|p| p.partition_index);
    }
}

pub fn offset_for_leader_epoch(r: &mut OffsetForLeaderEpochResponse) {
    r.throttle_time_ms = 0;
}

pub fn delete_records(r: &mut DeleteRecordsResponse) {
    r.throttle_time_ms = 0;
}

pub fn describe_configs(r: &mut DescribeConfigsResponse) {
    r.throttle_time_ms = 0;
    for res in &mut r.results {
        res.configs.sort_by(|a, b| a.name.cmp(&b.name));
        for c in &mut res.configs {
            c.documentation = None;
            // See `kafka_min_insync_source`.
            if res.resource_type == 2 && c.name.as_str() == "min.insync.replicas" && c.config_source == 3 {
                c.config_source = 5;
                c.synonyms.retain(|s| s.source != 3);
            }
        }
    }
}

/// API versions brokk deliberately stops below Kafka 4.1's: EndTxn v5 and TxnOffsetCommit
/// v5 are transactions version 2 (KIP-890, issue 18); ListTransactions v2 filters by a
/// transactional-id pattern (KIP-1152), not implemented.
pub fn kafka_api_ranges(ranges: &mut std::collections::BTreeMap<i16, (i16, i16)>) {
    for (key, max) in [
        (ApiKey::EndTxn, 4),
        (ApiKey::TxnOffsetCommit, 4),
        (ApiKey::ListTransactions, 1),
    ] {
        if let Some(r) = ranges.get_mut(&(key as i16)) {
            r.1 = r.1.min(max);
        }
    }
}

/// Features brokk deliberately does not have: group.version 1 (KIP-848), share.version
/// (KIP-932), transaction.version 2 (KIP-890; brokk stops at 1) are issue 18's; kraft.version
/// 1 and eligible.leader.replicas.version (a Raft quorum, ELR) issue 16's; metadata.version
/// stops at 25 (4.0-IV3) while those are missing.
pub fn kafka_features(r: &mut ApiVersionsResponse) {
    const ABSENT: [&str; 4] = [
        "group.version",
        "share.version",
        "kraft.version",
        "eligible.leader.replicas.version",
    ];
    r.supported_features.retain(|f| !ABSENT.contains(&f.name.as_str()));
    r.finalized_features
        .retain(|f| !ABSENT.contains(&f.name.as_str()) && f.name.as_str() != "transaction.version");
    for f in &mut r.supported_features {
        match f.name.as_str() {
            "transaction.version" => f.max_version = 1,
            "metadata.version" => f.max_version = 25,
            _ => {}
        }
    }
    for f in &mut r.finalized_features {
        if f.name.as_str() == "metadata.version" {
            (f.min_version_level, f.max_version_level) = (25, 25);
        }
    }
}

/// Kafka 4.1's `kafka-storage format` stores `min.insync.replicas` as a cluster-level
/// dynamic config when eligible leader replicas are on, so topics report it as
/// DYNAMIC_DEFAULT_BROKER_CONFIG (3); brokk has no ELR (issue 16) and reports the static
/// default (5).
pub fn kafka_min_insync_source(configs: &mut [create_topics_response::CreatableTopicConfigs]) {
    for c in configs
        .iter_mut()
        .filter(|c| c.name.as_str() == "min.insync.replicas" && c.config_source == 3)
    {
        c.config_source = 5;
    }
}

/// DescribeQuorum's nodes: Kafka names its voters' CONTROLLER listener; brokk has no
/// controller listener apart from its one listener (until issue 16's `controller.listener.names`)
/// and names that one.
pub fn kafka_controller_listener(name: &mut kafka_protocol::protocol::StrBytes) {
    if name.as_str() == "CONTROLLER" {
        *name = kafka_protocol::protocol::StrBytes::from_static_str("PLAINTEXT");
    }
}

/// `<client id>-<UUID>` with the UUID replaced by "UUID".
pub fn member_id(id: &mut kafka_protocol::protocol::StrBytes) {
    let s = id.as_str();
    if s.len() > 36 && uuid::Uuid::parse_str(&s[s.len() - 36..]).is_ok() {
        *id = kafka_protocol::protocol::StrBytes::from_string(format!("{}UUID", &s[..s.len() - 36]));
    }
}

pub fn find_coordinator(r: &mut FindCoordinatorResponse) {
    r.throttle_time_ms = 0;
    r.host = Default::default();
    r.port = 0;
    for c in &mut r.coordinators {
        c.host = Default::default();
        c.port = 0;
    }
}

pub fn join_group(r: &mut JoinGroupResponse) {
    r.throttle_time_ms = 0;
    member_id(&mut r.member_id);
    member_id(&mut r.leader);
    for m in &mut r.members {
        member_id(&mut m.member_id);
    }
}

pub fn sync_group(r: &mut SyncGroupResponse) {
    r.throttle_time_ms = 0;
}

pub fn heartbeat(r: &mut HeartbeatResponse) {
    r.throttle_time_ms = 0;
}

pub fn leave_group(r: &mut LeaveGroupResponse) {
    r.throttle_time_ms = 0;
    for m in &mut r.members {
        member_id(&mut m.member_id);
    }
}

pub fn offset_commit(r: &mut OffsetCommitResponse) {
    r.throttle_time_ms = 0;
}

pub fn offset_fetch(r: &mut OffsetFetchResponse) {
    r.throttle_time_ms = 0;
}

pub fn describe_groups(r: &mut DescribeGroupsResponse) {
    r.throttle_time_ms = 0;
    for g in &mut r.groups {
        for m in &mut g.members {
            member_id(&mut m.member_id);
        }
    }
}

pub fn delete_groups(r: &mut DeleteGroupsResponse) {
    r.throttle_time_ms = 0;
}

pub fn offset_delete(r: &mut OffsetDeleteResponse) {
    r.throttle_time_ms = 0;
}

pub fn incremental_alter_configs(r: &mut IncrementalAlterConfigsResponse) {
    r.throttle_time_ms = 0;
}

pub fn alter_configs(r: &mut AlterConfigsResponse) {
    r.throttle_time_ms = 0;
}

pub fn create_partitions(r: &mut CreatePartitionsResponse) {
    r.throttle_time_ms = 0;
}

pub fn describe_topic_partitions(r: &mut DescribeTopicPartitionsResponse) {
    r.throttle_time_ms = 0;
    for t in &mut r.topics {
        t.topic_id = Default::default();
        t.partitions.sort_by_key(|p| p.partition_index);
    }
}

pub fn describe_cluster(r: &mut DescribeClusterResponse) {
    r.throttle_time_ms = 0;
    r.cluster_id = Default::default();
    for b in &mut r.brokers {
        b.host = Default::default();
        b.port = 0;
    }
}

pub fn elect_leaders(r: &mut ElectLeadersResponse) {
    r.throttle_time_ms = 0;
}

pub fn list_partition_reassignments(r: &mut ListPartitionReassignmentsResponse) {
    r.throttle_time_ms = 0;
}

pub fn init_producer_id(r: &mut InitProducerIdResponse) {
    r.throttle_time_ms = 0;
    if r.producer_id.0 >= 0 {
        r.producer_id = ProducerId(0);
    }
}

pub fn add_partitions_to_txn(r: &mut AddPartitionsToTxnResponse) {
    r.throttle_time_ms = 0;
    for t in &mut r.results_by_topic_v3_and_below {
        t.results_by_partition.sort_by_key(|p| p.partition_index);
    }
}

pub fn add_offsets_to_txn(r: &mut AddOffsetsToTxnResponse) {
    r.throttle_time_ms = 0;
}

pub fn txn_offset_commit(r: &mut TxnOffsetCommitResponse) {
    r.throttle_time_ms = 0;
}

pub fn end_txn(r: &mut EndTxnResponse) {
    r.throttle_time_ms = 0;
    if r.producer_id.0 >= 0 {
        r.producer_id = ProducerId(0);
    }
}

pub fn describe_transactions(r: &mut DescribeTransactionsResponse) {
    r.throttle_time_ms = 0;
    for t in &mut r.transaction_states {
        if t.producer_id.0 >= 0 {
            t.producer_id = ProducerId(0);
        }
        if t.transaction_start_time_ms > 0 {
            t.transaction_start_time_ms = 1;
        }
    }
}

pub fn describe_log_dirs(r: &mut DescribeLogDirsResponse) {
    r.throttle_time_ms = 0;
    for d in &mut r.results {
        d.log_dir = Default::default();
        // Free and total space are the filesystems'.
        d.total_bytes = 0;
        d.usable_bytes = 0;
        for t in &mut d.topics {
            t.partitions.sort_by_key(|p| p.partition_index);
        }
    }
}

pub fn write_txn_markers(r: &mut WriteTxnMarkersResponse) {
    for m in &mut r.markers {
        m.producer_id = ProducerId(0);
        // Kafka answers in its hash map's order.
        for t in &mut m.topics {
            t.partitions.sort_by_key(|p| p.partition_index);
        }
    }
}

pub fn describe_producers(r: &mut DescribeProducersResponse) {
    r.throttle_time_ms = 0;
    // Each broker's own producer ids and clock.
    for t in &mut r.topics {
        for p in &mut t.partitions {
            for s in &mut p.active_producers {
                s.producer_id = ProducerId(0);
                s.last_timestamp = 0;
            }
        }
    }
}

pub fn list_groups(r: &mut ListGroupsResponse) {
    r.throttle_time_ms = 0;
}

pub fn list_config_resources(r: &mut ListConfigResourcesResponse) {
    r.throttle_time_ms = 0;
}

pub fn describe_client_quotas(r: &mut DescribeClientQuotasResponse) {
    r.throttle_time_ms = 0;
}

pub fn alter_client_quotas(r: &mut AlterClientQuotasResponse) {
    r.throttle_time_ms = 0;
}
