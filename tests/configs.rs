//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs over TCP with the raw
//! protocol: values, sources and synonyms as Kafka reports them, Kafka's errors, and topic
//! configs that take effect at once and survive a restart.

mod common;

use std::collections::BTreeMap;

use common::*;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const LOGGER: i8 = 8;
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// One config as described: (value, source, read_only, synonyms as (name, value, source)).
type Described = (Option<String>, i8, bool, Vec<(String, Option<String>, i8)>);

async fn describe(
    raw: &mut Raw,
    rtype: i8,
    name: &str,
    keys: Option<&[&str]>,
) -> (i16, Option<String>, BTreeMap<String, Described>) {
    let mut r = describe_configs_request::DescribeConfigsResource::default();
    r.resource_type = rtype;
    r.resource_name = s(name);
    r.configuration_keys = keys.map(|k| k.iter().map(|k| s(k)).collect());
    let mut req = DescribeConfigsRequest::default();
    req.resources = vec![r];
    req.include_synonyms = true;
    req.include_documentation = true;
    let resp = raw.call(&req, 4).await;
    let res = &resp.results[0];
    assert_eq!(res.resource_name.as_str(), name);
    let configs = res
        .configs
        .iter()
        .map(|c| {
            let syn = c
                .synonyms
                .iter()
                .map(|y| (y.name.to_string(), y.value.as_ref().map(|v| v.to_string()), y.source))
                .collect();
            (
                c.name.to_string(),
                (
                    c.value.as_ref().map(|v| v.to_string()),
                    c.config_source,
                    c.read_only,
                    syn,
                ),
            )
        })
        .collect();
    (
        res.error_code,
        res.error_message.as_ref().map(|m| m.to_string()),
        configs,
    )
}

fn incremental(
    rtype: i8,
    name: &str,
    ops: &[(&str, i8, Option<&str>)],
) -> incremental_alter_configs_request::AlterConfigsResource {
    let mut r = incremental_alter_configs_request::AlterConfigsResource::default();
    r.resource_type = rtype;
    r.resource_name = s(name);
    r.configs = ops
        .iter()
        .map(|(k, op, v)| {
            let mut c = incremental_alter_configs_request::AlterableConfig::default();
            c.name = s(k);
            c.config_operation = *op;
            c.value = v.map(s);
            c
        })
        .collect();
    r
}

/// (error code, message) per resource.
async fn alter(
    raw: &mut Raw,
    resources: Vec<incremental_alter_configs_request::AlterConfigsResource>,
    validate_only: bool,
) -> Vec<(i16, Option<String>)> {
    let mut req = IncrementalAlterConfigsRequest::default();
    req.resources = resources;
    req.validate_only = validate_only;
    let resp = raw.call(&req, 1).await;
    resp.responses
        .iter()
        .map(|r| (r.error_code, r.error_message.as_ref().map(|m| m.to_string())))
        .collect()
}

#[tokio::test]
async fn topic_configs_describe_with_sources_and_synonyms() {
    let mut b = TestBroker::start_with(&[("log.segment.bytes", "1048576"), ("log.retention.hours", "1")]).await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "described", 1, &[("retention.bytes", " 4096 ")]).await;
    let (code, _, c) = describe(&mut raw, TOPIC, "described", None).await;
    assert_eq!(code, 0);
    assert_eq!(c.len(), 33, "all of Kafka 4.0's topic configs");
    // A topic override: source 1, parsed value, then the broker's synonyms.
    assert_eq!(c["retention.bytes"].0.as_deref(), Some("4096"));
    assert_eq!(c["retention.bytes"].1, 1);
    assert_eq!(
        c["retention.bytes"].3[0],
        ("retention.bytes".into(), Some("4096".into()), 1)
    );
    // A static broker setting: source 4, static then default synonym.
    assert_eq!(c["segment.bytes"].0.as_deref(), Some("1048576"));
    assert_eq!(
        c["segment.bytes"].3,
        vec![
            ("log.segment.bytes".into(), Some("1048576".into()), 4),
            ("log.segment.bytes".into(), Some("1073741824".into()), 5)
        ]
    );
    // Only log.retention.hours set: Kafka shows the value with source DEFAULT and no
    // synonyms (its synonym list starts at log.retention.ms, which is unset).
    assert_eq!(c["retention.ms"], (Some("3600000".into()), 5, false, vec![]));
    assert_eq!(c["cleanup.policy"].0.as_deref(), Some("delete"));
    assert_eq!(c["min.cleanable.dirty.ratio"].0.as_deref(), Some("0.5"));
    assert_eq!(c["remote.storage.enable"], (Some("false".into()), 5, false, vec![]));

    // Asked-for keys only; an unknown key is left out.
    let (_, _, c) = describe(&mut raw, TOPIC, "described", Some(&["segment.ms", "nope"])).await;
    assert_eq!(c.keys().collect::<Vec<_>>(), vec!["segment.ms"]);
    // Unknown and invalid topics.
    let (code, msg, _) = describe(&mut raw, TOPIC, "missing", None).await;
    assert_eq!(
        (code, msg),
        (ResponseError::UnknownTopicOrPartition.code(), Some(String::new())),
        "an empty message, as Kafka"
    );
    let (code, msg, _) = describe(&mut raw, TOPIC, "bad name", None).await;
    assert_eq!(code, ResponseError::InvalidTopicException.code());
    assert_eq!(
        msg.as_deref(),
        Some(
            "Topic name is invalid: 'bad name' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"
        )
    );
    b.stop().await;
}

#[tokio::test]
async fn incremental_alter_takes_effect_at_once_and_survives_a_restart() {
    let mut b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "live", 1, &[]).await;

    // validate_only changes nothing.
    let r = alter(
        &mut raw,
        vec![incremental(TOPIC, "live", &[("max.message.bytes", SET, Some("200"))])],
        true,
    )
    .await;
    assert_eq!(r, vec![(0, None)]);
    let (err, _) = produce(&mut raw, "live", 0, batch(10, now_ms(), Compression::None)).await;
    assert_eq!(err, 0);

    let r = alter(
        &mut raw,
        vec![incremental(
            TOPIC,
            "live",
            &[
                ("max.message.bytes", SET, Some("200")),
                ("message.timestamp.type", SET, Some("LogAppendTime")),
                ("cleanup.policy", APPEND, Some("compact")),
            ],
        )],
        false,
    )
    .await;
    assert_eq!(r, vec![(0, None)]);
    let (err, _) = produce(&mut raw, "live", 0, batch(10, now_ms(), Compression::None)).await;
    assert_eq!(
        err,
        ResponseError::MessageTooLarge.code(),
        "max.message.bytes applies to the next produce"
    );
    let resp = raw
        .call(&produce_req("live", 0, batch(1, 1000, Compression::None), -1), 9)
        .await;
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0);
    assert!(
        p.log_append_time_ms >= now_ms() - 60_000,
        "LogAppendTime stamps the batch"
    );
    let (_, _, c) = describe(&mut raw, TOPIC, "live", Some(&["cleanup.policy", "max.message.bytes"])).await;
    assert_eq!(c["cleanup.policy"].0.as_deref(), Some("delete,compact"));
    assert_eq!(c["max.message.bytes"].1, 1);

    // A compacted topic refuses keyless records, naming each one.
    let keyless = {
        let r = kafka_protocol::records::Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: kafka_protocol::records::TimestampType::Creation,
            offset: 0,
            sequence: 0,
            timestamp: now_ms(),
            key: None,
            value: Some(bytes::Bytes::from_static(b"v")),
            headers: Default::default(),
        };
        let mut buf = bytes::BytesMut::new();
        let opts = kafka_protocol::records::RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        kafka_protocol::records::RecordBatchEncoder::encode(&mut buf, [r].iter(), &opts).unwrap();
        buf.freeze()
    };
    let resp = raw.call(&produce_req("live", 0, keyless, -1), 9).await;
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, ResponseError::InvalidRecord.code());
    assert_eq!(p.record_errors.len(), 1);
    assert_eq!(
        p.record_errors[0].batch_index_error_message.as_deref(),
        Some("Compacted topic cannot accept message without key in topic partition live-0")
    );

    // SUBTRACT and DELETE; the topic's overrides are persisted.
    let r = alter(
        &mut raw,
        vec![incremental(
            TOPIC,
            "live",
            &[
                ("cleanup.policy", SUBTRACT, Some("delete")),
                ("max.message.bytes", DELETE, None),
            ],
        )],
        false,
    )
    .await;
    assert_eq!(r, vec![(0, None)]);
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    let (_, _, c) = describe(&mut raw, TOPIC, "live", None).await;
    assert_eq!(c["cleanup.policy"].0.as_deref(), Some("compact"));
    assert_eq!(c["cleanup.policy"].1, 1);
    assert_eq!(c["max.message.bytes"].1, 5);
    assert_eq!(c["message.timestamp.type"].0.as_deref(), Some("LogAppendTime"));

    // The legacy AlterConfigs replaces the whole set.
    let mut lr = alter_configs_request::AlterConfigsResource::default();
    lr.resource_type = TOPIC;
    lr.resource_name = s("live");
    let mut cfg = alter_configs_request::AlterableConfig::default();
    cfg.name = s("retention.ms");
    cfg.value = Some(s("5000"));
    lr.configs = vec![cfg];
    let mut req = AlterConfigsRequest::default();
    req.resources = vec![lr];
    let resp = raw.call(&req, 2).await;
    assert_eq!(resp.responses[0].error_code, 0);
    let (_, _, c) = describe(&mut raw, TOPIC, "live", None).await;
    let overridden: Vec<&String> = c.iter().filter(|(_, d)| d.1 == 1).map(|(k, _)| k).collect();
    assert_eq!(overridden, vec!["retention.ms"]);
    b.stop().await;
}

#[tokio::test]
async fn alter_errors_are_kafkas() {
    let mut b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "errs", 1, &[]).await;
    let invalid_config = ResponseError::InvalidConfig.code();
    let invalid_request = ResponseError::InvalidRequest.code();
    let r = alter(
        &mut raw,
        vec![
            incremental(TOPIC, "errs", &[("retention.ms", SET, Some("soon"))]),
            incremental(TOPIC, "errs2", &[("no.such.config", SET, Some("1"))]),
            incremental(TOPIC, "missing", &[("retention.ms", SET, Some("1"))]),
            incremental(TOPIC, "errs3", &[("retention.ms", APPEND, Some("1"))]),
            incremental(TOPIC, "dup", &[("a", SET, Some("1")), ("a", DELETE, None)]),
            incremental(TOPIC, "nulls", &[("retention.ms", SET, None)]),
            incremental(BROKER, "0", &[("num.partitions", SET, Some("3"))]),
            incremental(BROKER, "7", &[("log.retention.ms", SET, Some("3"))]),
            incremental(LOGGER, "0", &[("brokk::log", SET, Some("LOUD"))]),
            incremental(LOGGER, "00", &[("root", DELETE, None)]),
            incremental(0, "x", &[]),
        ],
        false,
    )
    .await;
    let expected: Vec<(i16, Option<&str>)> = vec![
        (
            invalid_config,
            Some("Invalid value soon for configuration retention.ms: Not a number of type LONG"),
        ),
        (invalid_config, Some("Unknown topic config name: no.such.config")),
        (
            ResponseError::UnknownTopicOrPartition.code(),
            Some("The topic 'missing' does not exist."),
        ),
        (
            invalid_config,
            Some("Can't APPEND to key retention.ms because its type is not LIST."),
        ),
        (invalid_request, Some("Error due to duplicate config keys")),
        (invalid_request, Some("Null value not supported for : retention.ms")),
        (
            invalid_request,
            Some("Cannot update these configs dynamically: Set(num.partitions)"),
        ),
        (
            invalid_request,
            Some("Unexpected broker id, expected 0, but received 7"),
        ),
        (
            invalid_config,
            Some(
                "Cannot set the log level of brokk::log to LOUD as it is not a supported log level. Valid log levels are DEBUG, ERROR, FATAL, INFO, TRACE, WARN",
            ),
        ),
        (
            invalid_request,
            Some("Removing the log level of the root logger is not allowed"),
        ),
        (invalid_request, Some("Unknown resource type 0")),
    ];
    let got: Vec<(i16, Option<&str>)> = r.iter().map(|(c, m)| (*c, m.as_deref())).collect();
    assert_eq!(got, expected);
    // The same resource twice: both copies fail.
    let r = alter(
        &mut raw,
        vec![
            incremental(TOPIC, "errs", &[("retention.ms", SET, Some("1"))]),
            incremental(TOPIC, "errs", &[("retention.ms", SET, Some("2"))]),
        ],
        false,
    )
    .await;
    assert_eq!(
        r,
        vec![(invalid_request, Some("Each resource must appear at most once.".into())); 2]
    );
    // An unknown resource type in DescribeConfigs fails every resource of the request.
    let mut req = DescribeConfigsRequest::default();
    for (t, n) in [(TOPIC, "errs"), (3, "x")] {
        let mut r = describe_configs_request::DescribeConfigsResource::default();
        r.resource_type = t;
        r.resource_name = s(n);
        req.resources.push(r);
    }
    let resp = raw.call(&req, 4).await;
    assert!(
        resp.results
            .iter()
            .all(|r| r.error_code == invalid_request && r.configs.is_empty())
    );
    b.stop().await;
}

#[tokio::test]
async fn dynamic_broker_defaults_apply_to_topics_and_persist() {
    let mut b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "inherits", 1, &[]).await;
    let (code, _, c) = describe(&mut raw, BROKER, "0", None).await;
    assert_eq!(code, 0);
    assert_eq!(
        c["log.retention.hours"],
        (
            Some("168".into()),
            5,
            true,
            vec![("log.retention.hours".into(), Some("168".into()), 5)]
        )
    );
    assert_eq!(c["log.retention.ms"], (None, 5, false, vec![]));
    assert!(c["num.partitions"].2, "read-only");

    let r = alter(
        &mut raw,
        vec![incremental(BROKER, "", &[("log.retention.ms", SET, Some("60000"))])],
        false,
    )
    .await;
    assert_eq!(r, vec![(0, None)]);
    let r = alter(
        &mut raw,
        vec![incremental(BROKER, "0", &[("log.segment.bytes", SET, Some("2097152"))])],
        false,
    )
    .await;
    assert_eq!(r, vec![(0, None)]);
    let (_, _, c) = describe(&mut raw, TOPIC, "inherits", Some(&["retention.ms", "segment.bytes"])).await;
    assert_eq!(c["retention.ms"].0.as_deref(), Some("60000"));
    assert_eq!(c["retention.ms"].1, 3, "the cluster-wide dynamic default");
    assert_eq!(c["segment.bytes"].1, 2, "this broker's dynamic config");
    let (_, _, c) = describe(&mut raw, BROKER, "", None).await;
    assert_eq!(c.keys().collect::<Vec<_>>(), vec!["log.retention.ms"]);
    assert_eq!(
        c["log.retention.ms"].3,
        vec![("log.retention.ms".into(), Some("60000".into()), 3)]
    );
    b.restart().await;
    let mut raw = Raw::connect(b.addr).await;
    let (_, _, c) = describe(&mut raw, TOPIC, "inherits", Some(&["retention.ms"])).await;
    assert_eq!(c["retention.ms"].0.as_deref(), Some("60000"));
    b.stop().await;
}

#[tokio::test]
async fn broker_logger_levels_are_described_and_set() {
    let mut b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    let r = alter(
        &mut raw,
        vec![incremental(LOGGER, "0", &[("brokk::group", SET, Some("DEBUG"))])],
        false,
    )
    .await;
    assert_eq!(r, vec![(0, None)]);
    let (code, _, c) = describe(&mut raw, LOGGER, "0", None).await;
    assert_eq!(code, 0);
    assert!(c.contains_key("root"));
    assert_eq!(c["brokk::group"].0.as_deref(), Some("DEBUG"));
    assert_eq!(c["brokk::group"].1, 6);
    let r = alter(
        &mut raw,
        vec![incremental(LOGGER, "0", &[("brokk::group", DELETE, None)])],
        false,
    )
    .await;
    assert_eq!(r, vec![(0, None)]);
    let (_, _, c) = describe(&mut raw, LOGGER, "0", None).await;
    assert_eq!(c["brokk::group"].0, c["root"].0, "inherits root again");
    b.stop().await;
}

#[tokio::test]
async fn compression_type_recompresses_produced_batches() {
    let mut b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "zipped", 1, &[("compression.type", "gzip")]).await;
    let (err, _) = produce(&mut raw, "zipped", 0, batch(20, now_ms(), Compression::Lz4)).await;
    assert_eq!(err, 0);
    let resp = raw.call(&fetch_req("zipped", 0, 0, 0, 1), 12).await;
    let records = resp.responses[0].partitions[0].records.clone().unwrap();
    let attributes = i16::from_be_bytes([records[21], records[22]]);
    assert_eq!(attributes & 7, 1, "stored as gzip");
    let decoded = decode_records(&records);
    assert_eq!(decoded.len(), 20);
    assert_eq!(decoded[19].2.as_deref(), Some(&b"value-19"[..]));
    b.stop().await;
}

#[tokio::test]
async fn cleaner_settings_are_dynamic_as_kafkas() {
    let mut b = TestBroker::start_with(&[("log.cleaner.backoff.ms", "600000")]).await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(
        &mut raw,
        "cc",
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "1024"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    )
    .await;
    // Several 1 KiB segments of the same 4 keys.
    for _ in 0..40 {
        produce(&mut raw, "cc", 0, batch(4, now_ms(), Compression::None)).await;
    }
    // The cleaner found nothing at start and sleeps 10 minutes; a shorter backoff wakes it.
    assert!(b.broker().cleaner().checkpoint("cc", 0).is_none());
    let r = alter(
        &mut raw,
        vec![incremental(BROKER, "", &[("log.cleaner.backoff.ms", SET, Some("20"))])],
        false,
    )
    .await;
    assert_eq!(r, vec![(0, None)]);
    let deadline = std::time::Instant::now() + TIMEOUT;
    while b.broker().cleaner().checkpoint("cc", 0).is_none() {
        assert!(std::time::Instant::now() < deadline, "the cleaner never woke");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    // Threads: Kafka's bounds (at least 1, at most double, at least half).
    let threads = |v: &'static str| vec![incremental(BROKER, "0", &[("log.cleaner.threads", SET, Some(v))])];
    assert_eq!(alter(&mut raw, threads("2"), false).await, vec![(0, None)]);
    // Kafka logs LogCleaner.validateReconfiguration's reason and answers this.
    for (v, msg) in [
        ("5", "Invalid dynamic configuration"),
        ("0", "Invalid dynamic configuration"),
        (
            "x",
            "Invalid value x for configuration log.cleaner.threads: Not a number of type INT",
        ),
        (
            "200",
            "requirement failed: log.cleaner.dedupe.buffer.size must be at least 1MB per cleaner thread.",
        ),
    ] {
        assert_eq!(
            alter(&mut raw, threads(v), false).await,
            vec![(ResponseError::InvalidRequest.code(), Some(msg.to_string()))]
        );
    }
    let (_, _, c) = describe(
        &mut raw,
        BROKER,
        "0",
        Some(&["log.cleaner.threads", "log.cleaner.backoff.ms"]),
    )
    .await;
    assert_eq!(c["log.cleaner.threads"].0.as_deref(), Some("2"));
    assert_eq!(c["log.cleaner.threads"].1, 2, "this broker's dynamic config");
    assert!(!c["log.cleaner.threads"].2, "not read-only");
    assert_eq!(c["log.cleaner.backoff.ms"].1, 3, "the cluster-wide dynamic default");
    assert_eq!(b.broker().cleaner().settings().threads, 2);
    b.restart().await;
    assert_eq!(b.broker().cleaner().settings().threads, 2, "persisted");
    b.stop().await;
}
