//! The remaining describing APIs on a topic with data: DescribeLogDirs (sizes of identical
//! logs), DescribeProducers, ListGroups filters, ListConfigResources, DescribeClientQuotas
//! and AlterClientQuotas.

use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;

use super::common::{batch, produce_req, topic};
use super::normalise as n;
use super::pair::Pair;
use super::topics::{created, s};

/// AlterClientQuotas of one `key` of user `user`: set to `value`, or removed.
pub(super) fn alter_quota(user: &str, key: &str, value: f64, remove: bool) -> AlterClientQuotasRequest {
    AlterClientQuotasRequest::default().with_entries(vec![
        alter_client_quotas_request::EntryData::default()
            .with_entity(vec![
                alter_client_quotas_request::EntityData::default()
                    .with_entity_type(s("user"))
                    .with_entity_name(Some(s(user))),
            ])
            .with_ops(vec![
                alter_client_quotas_request::OpData::default()
                    .with_key(s(key))
                    .with_value(value)
                    .with_remove(remove),
            ]),
    ])
}

pub async fn describing(p: &mut Pair) {
    let t = p.topic("d");
    created(p, &t, 2).await;
    p.same(
        "Produce",
        &produce_req(&t, 0, batch(4, 1_700_000_000_000, Compression::None), -1),
        9,
        n::produce,
    )
    .await;
    let dirs = DescribeLogDirsRequest::default().with_topics(Some(vec![
        describe_log_dirs_request::DescribableLogDirTopic::default()
            .with_topic(topic(&t))
            .with_partitions(vec![0, 1, 7]),
        describe_log_dirs_request::DescribableLogDirTopic::default()
            .with_topic(topic(&p.topic("nope")))
            .with_partitions(vec![0]),
    ]));
    for v in [1, 4] {
        p.same("DescribeLogDirs of named partitions", &dirs, v, n::describe_log_dirs)
            .await;
    }
    let dp = DescribeProducersRequest::default().with_topics(vec![
        describe_producers_request::TopicRequest::default()
            .with_name(topic(&t))
            .with_partition_indexes(vec![0, 5]),
        describe_producers_request::TopicRequest::default()
            .with_name(topic(&p.topic("nope")))
            .with_partition_indexes(vec![0]),
    ]);
    p.same("DescribeProducers", &dp, 0, n::describe_producers).await;
    // Only states no group of the shared Kafka is in, or a type filter matching none.
    let lg = ListGroupsRequest::default().with_states_filter(vec![s("PreparingRebalance")]);
    p.same("ListGroups by a state", &lg, 4, n::list_groups).await;
    let lg = ListGroupsRequest::default().with_types_filter(vec![s("share")]);
    p.same("ListGroups by a type", &lg, 5, n::list_groups).await;
    let lg = ListGroupsRequest::default().with_states_filter(vec![s("NoSuchState")]);
    p.same("ListGroups by an unknown state", &lg, 5, n::list_groups).await;
    let lcr = ListConfigResourcesRequest::default().with_resource_types(vec![4]);
    p.same("ListConfigResources of brokers", &lcr, 1, n::list_config_resources)
        .await;
    let lcr = ListConfigResourcesRequest::default().with_resource_types(vec![99]);
    p.same(
        "ListConfigResources of an unknown type",
        &lcr,
        1,
        n::list_config_resources,
    )
    .await;
    let user = format!("{}-user", p.topic("q"));
    let dq = DescribeClientQuotasRequest::default()
        .with_components(vec![
            describe_client_quotas_request::ComponentData::default()
                .with_entity_type(s("user"))
                .with_match_type(0)
                .with_match(Some(s(&user))),
        ])
        .with_strict(true);
    p.same(
        "DescribeClientQuotas of an unset user",
        &dq,
        1,
        n::describe_client_quotas,
    )
    .await;
    let aq = |value: f64, remove: bool, key: &str| alter_quota(&user, key, value, remove);
    p.same(
        "AlterClientQuotas",
        &aq(1024.0, false, "producer_byte_rate"),
        1,
        n::alter_client_quotas,
    )
    .await;
    p.same(
        "AlterClientQuotas of an unknown key",
        &aq(1.0, false, "no_such_rate"),
        1,
        n::alter_client_quotas,
    )
    .await;
    p.same(
        "AlterClientQuotas of a negative rate",
        &aq(-5.0, false, "consumer_byte_rate"),
        1,
        n::alter_client_quotas,
    )
    .await;
    p.eventually_same("DescribeClientQuotas of the user", &dq, 1, n::describe_client_quotas)
        .await;
    p.same(
        "AlterClientQuotas removing it",
        &aq(0.0, true, "producer_byte_rate"),
        1,
        n::alter_client_quotas,
    )
    .await;
    p.eventually_same(
        "DescribeClientQuotas after the removal",
        &dq,
        1,
        n::describe_client_quotas,
    )
    .await;
}
