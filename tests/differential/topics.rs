//! ApiVersions, Metadata, CreateTopics and DeleteTopics, success and error paths.

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::common::topic;
use super::normalise as n;
use super::pair::Pair;

/// A `StrBytes` of `x`.
pub fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_string())
}

/// Creates topic `name` with `partitions` on both brokers (compared) and waits until
/// Kafka serves it: every scenario's first step.
pub async fn created(p: &mut Pair, name: &str, partitions: i32) {
    p.same(
        "CreateTopics",
        &create(vec![creatable(name, partitions, 1, &[])], false),
        7,
        n::create_topics,
    )
    .await;
    p.await_leaders(&[name]).await;
}

pub fn creatable(name: &str, partitions: i32, rf: i16, configs: &[(&str, Option<&str>)]) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(topic(name))
        .with_num_partitions(partitions)
        .with_replication_factor(rf)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(StrBytes::from_string(k.to_string()))
                        .with_value(v.map(|v| StrBytes::from_string(v.to_string())))
                })
                .collect(),
        )
}

pub fn create(topics: Vec<CreatableTopic>, validate_only: bool) -> CreateTopicsRequest {
    CreateTopicsRequest::default()
        .with_topics(topics)
        .with_timeout_ms(10_000)
        .with_validate_only(validate_only)
}

pub fn metadata(names: &[&str], auto_create: bool) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(
            names
                .iter()
                .map(|t| MetadataRequestTopic::default().with_name(Some(topic(t))))
                .collect(),
        ))
        .with_allow_auto_topic_creation(auto_create)
}

/// ApiVersions: Kafka refuses a v3+ request without a valid client software name; with one,
/// every API brokk advertises has Kafka's version range, and kafka-protocol can encode every
/// version Kafka advertises.
pub async fn api_versions(p: &mut Pair) {
    use std::collections::BTreeMap;
    let unnamed = ApiVersionsRequest::default();
    let (k, b) = p.both(&unnamed, 3).await;
    p.check(
        "ApiVersions v3 without a client software name: error",
        &(k.error_code, !k.api_keys.is_empty()),
        &(b.error_code, !b.api_keys.is_empty()),
    );
    let named = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("brokk-differential"))
        .with_client_software_version(StrBytes::from_static_str("1.0"));
    for v in [0, 3, 4] {
        let (mut k, b) = p.both(&named, v).await;
        n::kafka_features(&mut k);
        p.check(&format!("ApiVersions v{v}: error"), &k.error_code, &b.error_code);
        p.check(
            &format!("ApiVersions v{v}: features"),
            &(&k.supported_features, &k.finalized_features, k.zk_migration_ready),
            &(&b.supported_features, &b.finalized_features, b.zk_migration_ready),
        );
        let mut kafka: BTreeMap<i16, (i16, i16)> = k
            .api_keys
            .iter()
            .map(|a| (a.api_key, (a.min_version, a.max_version)))
            .collect();
        let brokk: BTreeMap<i16, (i16, i16)> = b
            .api_keys
            .iter()
            .map(|a| (a.api_key, (a.min_version, a.max_version)))
            .collect();
        let named = |m: &BTreeMap<i16, (i16, i16)>| -> Vec<String> {
            m.iter()
                .map(|(key, (min, max))| {
                    let name = ApiKey::try_from(*key).map_or(format!("key {key}"), |a| format!("{a:?}"));
                    format!("{name} {min}-{max}")
                })
                .collect()
        };
        let uncovered: Vec<(i16, i16)> = kafka
            .iter()
            .filter(|(key, (_, max))| ApiKey::try_from(**key).map_or(true, |a| a.valid_versions().max < *max))
            .map(|(key, (_, max))| (*key, *max))
            .collect();
        p.check(
            &format!("ApiVersions v{v}: versions kafka-protocol cannot encode"),
            &vec![],
            &uncovered,
        );
        n::kafka_api_ranges(&mut kafka);
        let kafka_of_brokk: BTreeMap<i16, (i16, i16)> = brokk
            .keys()
            .filter_map(|key| kafka.get(key).map(|r| (*key, *r)))
            .collect();
        p.check(
            &format!("ApiVersions v{v}: brokk's APIs at Kafka's versions"),
            &named(&kafka_of_brokk),
            &named(&brokk),
        );
    }
}

pub async fn metadata_and_create(p: &mut Pair) {
    let (a, unknown) = (p.topic("a"), p.topic("unknown"));
    // Unknown topics, with and without auto-creation allowed but it disabled per request.
    for v in [4, 9, 12] {
        p.same(
            "Metadata of an unknown topic",
            &metadata(&[&unknown], false),
            v,
            n::metadata,
        )
        .await;
    }
    p.same(
        "Metadata of an invalid name",
        &metadata(&["bad name"], false),
        12,
        n::metadata,
    )
    .await;
    // Create: a topic with overrides, then every way to get it wrong.
    let ok = creatable(
        &a,
        3,
        1,
        &[("retention.ms", Some("3600000")), ("cleanup.policy", Some("compact"))],
    );
    for (what, req, v) in [
        ("CreateTopics validate_only", create(vec![ok.clone()], true), 7),
        ("CreateTopics", create(vec![ok.clone()], false), 7),
        ("CreateTopics of an existing topic", create(vec![ok.clone()], false), 7),
        (
            "CreateTopics with an invalid name",
            create(vec![creatable("bad name", 1, 1, &[])], false),
            7,
        ),
        (
            "CreateTopics with a name too long",
            create(vec![creatable(&"x".repeat(250), 1, 1, &[])], false),
            7,
        ),
        (
            "CreateTopics with an empty name",
            create(vec![creatable("", 1, 1, &[])], false),
            7,
        ),
        (
            "CreateTopics named \"..\"",
            create(vec![creatable("..", 1, 1, &[])], false),
            7,
        ),
        (
            "CreateTopics with -2 partitions",
            create(vec![creatable(&p.topic("minus"), -2, 1, &[])], false),
            7,
        ),
        (
            "CreateTopics with 0 partitions",
            create(vec![creatable(&p.topic("zero"), 0, 1, &[])], false),
            7,
        ),
        (
            "CreateTopics with replication factor 2",
            create(vec![creatable(&p.topic("rf2"), 1, 2, &[])], false),
            7,
        ),
        (
            "CreateTopics with replication factor 0",
            create(vec![creatable(&p.topic("rf0"), 1, 0, &[])], false),
            7,
        ),
        (
            "CreateTopics with an unknown config",
            create(
                vec![creatable(&p.topic("cfg"), 1, 1, &[("no.such.config", Some("1"))])],
                false,
            ),
            7,
        ),
        (
            "CreateTopics with an invalid config value",
            create(
                vec![creatable(&p.topic("val"), 1, 1, &[("retention.ms", Some("soon"))])],
                false,
            ),
            7,
        ),
        (
            "CreateTopics with a null config value",
            create(
                vec![creatable(&p.topic("null"), 1, 1, &[("retention.ms", None)])],
                false,
            ),
            7,
        ),
        (
            "CreateTopics naming a topic twice",
            create(
                vec![
                    creatable(&p.topic("twice"), 1, 1, &[]),
                    creatable(&p.topic("twice"), 1, 1, &[]),
                ],
                false,
            ),
            7,
        ),
        (
            "CreateTopics naming a topic twice among others",
            create(
                vec![
                    creatable(&p.topic("m1"), 1, 1, &[]),
                    creatable(&p.topic("m2"), 1, 1, &[]),
                    creatable(&p.topic("m3"), 0, 1, &[]),
                    creatable(&p.topic("m2"), 1, 1, &[]),
                    creatable(&p.topic("m4"), 1, 1, &[]),
                ],
                true,
            ),
            7,
        ),
        (
            "CreateTopics v2",
            create(vec![creatable(&p.topic("v2"), 1, 1, &[])], false),
            2,
        ),
    ] {
        p.same(what, &req, v, n::create_topics).await;
    }
    p.await_leaders(&[&a]).await;
    for v in [1, 4, 7, 10, 12] {
        // Before v4 there is no allow_auto_topic_creation (it is always true).
        p.same("Metadata of a created topic", &metadata(&[&a], v < 4), v, n::metadata)
            .await;
    }
    // Delete: unknown, then the topic, then again.
    let del = |names: &[&str]| {
        DeleteTopicsRequest::default()
            .with_topic_names(names.iter().map(|t| topic(t)).collect())
            .with_timeout_ms(10_000)
    };
    p.same(
        "DeleteTopics of an unknown topic",
        &del(&[&unknown]),
        5,
        n::delete_topics,
    )
    .await;
    p.same("DeleteTopics", &del(&[&a]), 5, n::delete_topics).await;
    p.same("DeleteTopics of a deleted topic", &del(&[&a]), 5, n::delete_topics)
        .await;
}
