//! The admin APIs on topics and configs: DescribeConfigs, AlterConfigs,
//! IncrementalAlterConfigs, CreatePartitions, DescribeTopicPartitions, DescribeCluster,
//! ElectLeaders and the partition reassignment APIs, success and error paths.

use kafka_protocol::messages::*;

use super::common::topic;
use super::normalise as n;
use super::pair::Pair;
use super::topics::{creatable, create, s};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;

pub(super) fn describe_configs(kind: i8, name: &str, keys: Option<&[&str]>, synonyms: bool) -> DescribeConfigsRequest {
    DescribeConfigsRequest::default()
        .with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(kind)
                .with_resource_name(s(name))
                .with_configuration_keys(keys.map(|k| k.iter().map(|k| s(k)).collect())),
        ])
        .with_include_synonyms(synonyms)
        .with_include_documentation(false)
}

pub(super) fn incremental(
    kind: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> IncrementalAlterConfigsRequest {
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    IncrementalAlterConfigsRequest::default()
        .with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(kind)
                .with_resource_name(s(name))
                .with_configs(
                    ops.iter()
                        .map(|(k, op, v)| {
                            AlterableConfig::default()
                                .with_name(s(k))
                                .with_config_operation(*op)
                                .with_value(v.map(s))
                        })
                        .collect(),
                ),
        ])
        .with_validate_only(validate_only)
}

pub(super) fn alter(kind: i8, name: &str, configs: &[(&str, Option<&str>)]) -> AlterConfigsRequest {
    use alter_configs_request::{AlterConfigsResource, AlterableConfig};
    AlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(s(name))
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| AlterableConfig::default().with_name(s(k)).with_value(v.map(s)))
                    .collect(),
            ),
    ])
}

pub(super) fn create_partitions(name: &str, count: i32) -> CreatePartitionsRequest {
    CreatePartitionsRequest::default()
        .with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default()
                .with_name(topic(name))
                .with_count(count)
                .with_assignments(None),
        ])
        .with_timeout_ms(10_000)
}

pub async fn configs_and_partitions(p: &mut Pair) {
    let t = p.topic("c");
    p.same(
        "CreateTopics",
        &create(vec![creatable(&t, 1, 1, &[("retention.ms", Some("86400000"))])], false),
        7,
        n::create_topics,
    )
    .await;
    p.await_leaders(&[&t]).await;
    for (what, req, v) in [
        (
            "DescribeConfigs of a topic",
            describe_configs(TOPIC, &t, None, false),
            4,
        ),
        (
            "DescribeConfigs of a topic with synonyms",
            describe_configs(TOPIC, &t, None, true),
            4,
        ),
        (
            "DescribeConfigs of named topic keys",
            describe_configs(
                TOPIC,
                &t,
                Some(&["retention.ms", "cleanup.policy", "no.such.key"]),
                true,
            ),
            4,
        ),
        (
            "DescribeConfigs of an unknown topic",
            describe_configs(TOPIC, &p.topic("nope"), None, false),
            4,
        ),
        (
            "DescribeConfigs at v1",
            describe_configs(TOPIC, &t, Some(&["retention.ms"]), true),
            1,
        ),
        (
            "DescribeConfigs of the broker's log keys",
            describe_configs(
                BROKER,
                "1",
                Some(&["log.retention.hours", "log.segment.bytes", "num.partitions"]),
                true,
            ),
            4,
        ),
        (
            "DescribeConfigs of another broker",
            describe_configs(BROKER, "7", Some(&["num.partitions"]), false),
            4,
        ),
        (
            "DescribeConfigs of an unknown resource type",
            describe_configs(9, "x", None, false),
            4,
        ),
    ] {
        p.same(what, &req, v, n::describe_configs).await;
    }
    for (what, req, v) in [
        (
            "IncrementalAlterConfigs set and delete",
            incremental(
                TOPIC,
                &t,
                &[
                    ("retention.ms", 0, Some("1000")),
                    ("cleanup.policy", 0, Some("compact")),
                ],
                false,
            ),
            1,
        ),
        (
            "IncrementalAlterConfigs append and subtract",
            incremental(
                TOPIC,
                &t,
                &[("cleanup.policy", 2, Some("delete")), ("retention.ms", 1, None)],
                false,
            ),
            1,
        ),
        (
            "IncrementalAlterConfigs of an unknown key",
            incremental(TOPIC, &t, &[("no.such.key", 0, Some("1"))], false),
            1,
        ),
        (
            "IncrementalAlterConfigs of an invalid value",
            incremental(TOPIC, &t, &[("retention.ms", 0, Some("soon"))], false),
            1,
        ),
        (
            "IncrementalAlterConfigs appending to a non-list",
            incremental(TOPIC, &t, &[("retention.ms", 2, Some("5"))], false),
            1,
        ),
        (
            "IncrementalAlterConfigs naming a key twice",
            incremental(
                TOPIC,
                &t,
                &[("retention.ms", 0, Some("5")), ("retention.ms", 0, Some("6"))],
                false,
            ),
            1,
        ),
        (
            "IncrementalAlterConfigs validate_only",
            incremental(TOPIC, &t, &[("segment.ms", 0, Some("3600000"))], true),
            1,
        ),
        (
            "IncrementalAlterConfigs of an unknown topic",
            incremental(TOPIC, &p.topic("nope"), &[("retention.ms", 0, Some("5"))], false),
            1,
        ),
        (
            "IncrementalAlterConfigs of an unknown operation",
            incremental(TOPIC, &t, &[("retention.ms", 9, Some("5"))], false),
            1,
        ),
    ] {
        p.same(what, &req, v, n::incremental_alter_configs).await;
    }
    p.eventually_same(
        "DescribeConfigs after IncrementalAlterConfigs",
        &describe_configs(TOPIC, &t, Some(&["retention.ms", "cleanup.policy", "segment.ms"]), true),
        4,
        n::describe_configs,
    )
    .await;
    for (what, req, v) in [
        (
            "AlterConfigs",
            alter(TOPIC, &t, &[("max.message.bytes", Some("2000000"))]),
            2,
        ),
        (
            "AlterConfigs of an invalid value",
            alter(TOPIC, &t, &[("max.message.bytes", Some("x"))]),
            2,
        ),
        (
            "AlterConfigs of an unknown topic",
            alter(TOPIC, &p.topic("nope"), &[("retention.ms", Some("1"))]),
            2,
        ),
        (
            "AlterConfigs with a null value",
            alter(TOPIC, &t, &[("retention.ms", None)]),
            2,
        ),
    ] {
        p.same(what, &req, v, n::alter_configs).await;
    }
    p.eventually_same(
        "DescribeConfigs after AlterConfigs",
        &describe_configs(
            TOPIC,
            &t,
            Some(&["retention.ms", "cleanup.policy", "max.message.bytes"]),
            true,
        ),
        4,
        n::describe_configs,
    )
    .await;
    for (what, req, v) in [
        ("CreatePartitions", create_partitions(&t, 3), 3),
        ("CreatePartitions to fewer", create_partitions(&t, 2), 3),
        ("CreatePartitions to the same count", create_partitions(&t, 3), 3),
        (
            "CreatePartitions of an unknown topic",
            create_partitions(&p.topic("nope"), 3),
            3,
        ),
    ] {
        p.same(what, &req, v, n::create_partitions).await;
    }
    p.await_leaders(&[&t]).await;
    let dtp = DescribeTopicPartitionsRequest::default()
        .with_topics(vec![
            describe_topic_partitions_request::TopicRequest::default().with_name(topic(&t)),
            describe_topic_partitions_request::TopicRequest::default().with_name(topic(&p.topic("nope"))),
        ])
        .with_response_partition_limit(2);
    p.same(
        "DescribeTopicPartitions with a partition limit",
        &dtp,
        0,
        n::describe_topic_partitions,
    )
    .await;
    let dc = DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
    p.same("DescribeCluster", &dc, 1, n::describe_cluster).await;
    let el = ElectLeadersRequest::default()
        .with_election_type(0)
        .with_timeout_ms(10_000)
        .with_topic_partitions(Some(vec![
            elect_leaders_request::TopicPartitions::default()
                .with_topic(topic(&t))
                .with_partitions(vec![0, 9]),
        ]));
    p.same("ElectLeaders", &el, 2, n::elect_leaders).await;
    let lpr = ListPartitionReassignmentsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(Some(vec![
            list_partition_reassignments_request::ListPartitionReassignmentsTopics::default()
                .with_name(topic(&t))
                .with_partition_indexes(vec![0]),
        ]));
    p.same("ListPartitionReassignments", &lpr, 0, n::list_partition_reassignments)
        .await;
}
