use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::broker_registration_request::Feature;
use kafka_protocol::messages::{BrokerHeartbeatRequest, BrokerId, BrokerRegistrationRequest};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::*;
use crate::metadata::records::{FeatureLevelRecord, PartitionRecord, TopicRecord};

const CLUSTER: &str = "MkU3OEVBNTcwNTJENDM2Qg";

fn feature(name: &str, min: i16, max: i16) -> Feature {
    Feature::default()
        .with_name(StrBytes::from_string(name.into()))
        .with_min_supported_version(min)
        .with_max_supported_version(max)
}

fn registration(id: i32, incarnation: Uuid) -> BrokerRegistrationRequest {
    BrokerRegistrationRequest::default()
        .with_broker_id(BrokerId(id))
        .with_cluster_id(StrBytes::from_static_str(CLUSTER))
        .with_incarnation_id(incarnation)
        .with_features(vec![
            feature("metadata.version", 7, 25),
            feature("transaction.version", 0, 1),
        ])
        .with_rack(Some(StrBytes::from_static_str("rack-a")))
}

fn image_with_version() -> MetadataImage {
    let mut image = MetadataImage::default();
    image
        .apply(MetadataRecord::FeatureLevel(FeatureLevelRecord {
            name: "metadata.version".into(),
            feature_level: 25,
        }))
        .unwrap();
    image
}

/// An image where broker `id` registered at epoch `epoch` (fenced) and, with `unfenced`,
/// was unfenced.
fn image_with_broker(id: i32, epoch: i64, unfenced: bool) -> MetadataImage {
    let mut image = image_with_version();
    let sessions = Sessions::new(Duration::from_secs(9));
    let record = register(
        &image,
        &sessions,
        CLUSTER,
        &registration(id, Uuid::from_u128(7)),
        epoch,
        Instant::now(),
    )
    .unwrap();
    image.apply(MetadataRecord::RegisterBroker(record)).unwrap();
    if unfenced {
        let b = image.brokers[&id].clone();
        for r in heartbeat(&image, &b, &beat(id, epoch, epoch), &LogConfig::default()).records {
            image.apply(r).unwrap();
        }
        assert!(!image.brokers[&id].fenced);
    }
    image
}

fn beat(id: i32, epoch: i64, offset: i64) -> BrokerHeartbeatRequest {
    BrokerHeartbeatRequest::default()
        .with_broker_id(BrokerId(id))
        .with_broker_epoch(epoch)
        .with_current_metadata_offset(offset)
}

/// `b` leads one partition in `image`.
fn lead_a_partition(image: &mut MetadataImage, b: i32) {
    let id = Uuid::from_u128(99);
    image
        .apply(MetadataRecord::Topic(TopicRecord {
            name: "t".into(),
            topic_id: id,
        }))
        .unwrap();
    let p = PartitionRecord::new(id, 0, vec![b]);
    image.apply(MetadataRecord::Partition(p)).unwrap();
}

#[test]
fn a_registration_is_fenced_at_the_epoch_it_is_written_at() {
    let image = image_with_version();
    let sessions = Sessions::new(Duration::from_secs(9));
    let r = register(
        &image,
        &sessions,
        CLUSTER,
        &registration(1, Uuid::from_u128(1)),
        42,
        Instant::now(),
    )
    .unwrap();
    assert_eq!(
        (r.broker_id, r.broker_epoch, r.fenced, r.in_controlled_shutdown),
        (1, 42, true, false)
    );
    assert_eq!(r.rack.as_deref(), Some("rack-a"));
    assert_eq!(r.features.len(), 2);
}

#[test]
fn registrations_are_refused_as_kafka_refuses_them() {
    let image = image_with_version();
    let sessions = Sessions::new(Duration::from_secs(9));
    let now = Instant::now();
    let refused = |req: &BrokerRegistrationRequest| register(&image, &sessions, CLUSTER, req, 5, now).unwrap_err();

    let other_cluster = registration(1, Uuid::from_u128(1)).with_cluster_id(StrBytes::from_static_str("other"));
    let r = refused(&other_cluster);
    assert_eq!(r.error, ResponseError::InconsistentClusterId);
    assert_eq!(
        r.message,
        format!("Expected cluster ID {CLUSTER}, but got cluster ID other")
    );

    let no_version = registration(1, Uuid::from_u128(1)).with_features(vec![]);
    assert_eq!(refused(&no_version).error, ResponseError::InvalidRegistration);

    let too_old = registration(1, Uuid::from_u128(1)).with_features(vec![feature("metadata.version", 7, 20)]);
    let r = refused(&too_old);
    assert_eq!(r.error, ResponseError::UnsupportedVersion);
    assert!(
        r.message.contains("finalized version 25 of metadata.version"),
        "{}",
        r.message
    );

    // A feature the broker names must include the finalized level (0 when not finalized).
    let needs_txn_v2 = registration(1, Uuid::from_u128(1)).with_features(vec![
        feature("metadata.version", 7, 25),
        feature("transaction.version", 1, 2),
    ]);
    assert_eq!(refused(&needs_txn_v2).error, ResponseError::UnsupportedVersion);
}

#[test]
fn another_incarnation_waits_for_the_live_session_to_expire() {
    let image = image_with_broker(1, 3, true);
    let mut sessions = Sessions::new(Duration::from_secs(9));
    let now = Instant::now();
    sessions.touch(1, now);
    let other = registration(1, Uuid::from_u128(8));
    let r = register(&image, &sessions, CLUSTER, &other, 10, now).unwrap_err();
    assert_eq!(r.error, ResponseError::DuplicateBrokerRegistration);
    // The same incarnation may register again (a retry).
    assert!(
        register(
            &image,
            &sessions,
            CLUSTER,
            &registration(1, Uuid::from_u128(7)),
            10,
            now
        )
        .is_ok()
    );
    // After the session, the new incarnation takes over.
    let later = now + Duration::from_secs(10);
    assert!(register(&image, &sessions, CLUSTER, &other, 10, later).is_ok());
}

#[test]
fn heartbeats_name_a_registration() {
    let image = image_with_broker(1, 3, false);
    assert!(registered(&image, 1, 3).is_ok());
    let stale = registered(&image, 1, 2).unwrap_err();
    assert_eq!(
        (stale.error, stale.message.as_str()),
        (
            ResponseError::StaleBrokerEpoch,
            "Expected broker epoch 3, but got broker epoch 2"
        )
    );
    assert_eq!(
        registered(&image, 2, 3).unwrap_err().error,
        ResponseError::StaleBrokerEpoch
    );
}

#[test]
fn a_fenced_broker_is_unfenced_once_it_has_applied_its_registration() {
    let image = image_with_broker(1, 3, false);
    let b = &image.brokers[&1];
    let behind = heartbeat(&image, b, &beat(1, 3, 2), &LogConfig::default());
    assert_eq!(
        (behind.is_caught_up, behind.is_fenced, behind.records.len()),
        (false, true, 0)
    );
    let wants_fence = heartbeat(&image, b, &beat(1, 3, 3).with_want_fence(true), &LogConfig::default());
    assert_eq!((wants_fence.is_fenced, wants_fence.records.len()), (true, 0));
    let caught_up = heartbeat(&image, b, &beat(1, 3, 3), &LogConfig::default());
    assert_eq!((caught_up.is_caught_up, caught_up.is_fenced), (true, false));
    assert!(matches!(
        caught_up.records.as_slice(),
        [MetadataRecord::BrokerRegistrationChange(c)] if c.fenced == UNFENCE && c.broker_epoch == 3
    ));
    // A fenced broker that asks to shut down may do so at once, without a record.
    let down = heartbeat(
        &image,
        b,
        &beat(1, 3, 0).with_want_shut_down(true),
        &LogConfig::default(),
    );
    assert_eq!(
        (down.should_shut_down, down.is_fenced, down.records.len()),
        (true, true, 0)
    );
}

#[test]
fn an_unfenced_broker_is_fenced_when_it_asks() {
    let image = image_with_broker(1, 3, true);
    let b = &image.brokers[&1];
    let steady = heartbeat(&image, b, &beat(1, 3, 9), &LogConfig::default());
    assert_eq!(
        (steady.is_fenced, steady.should_shut_down, steady.records.len()),
        (false, false, 0)
    );
    let fenced = heartbeat(&image, b, &beat(1, 3, 9).with_want_fence(true), &LogConfig::default());
    assert!(fenced.is_fenced && !fenced.should_shut_down);
    assert!(matches!(fenced.records.as_slice(), [MetadataRecord::BrokerRegistrationChange(c)] if c.fenced == FENCE));
}

#[test]
fn a_controlled_shutdown_waits_for_the_broker_to_lead_nothing() {
    // No leaderships: shut down at once, fenced.
    let image = image_with_broker(1, 3, true);
    let down = heartbeat(
        &image,
        &image.brokers[&1],
        &beat(1, 3, 9).with_want_shut_down(true),
        &LogConfig::default(),
    );
    assert_eq!((down.should_shut_down, down.is_fenced), (true, true));
    assert!(matches!(down.records.as_slice(), [MetadataRecord::BrokerRegistrationChange(c)] if c.fenced == FENCE));

    // A leader first enters controlled shutdown (still unfenced, not allowed to stop), its
    // leadership moving away (here, to none: it is the only replica in sync) ...
    let mut image = image_with_broker(1, 3, true);
    lead_a_partition(&mut image, 1);
    let b = image.brokers[&1].clone();
    let pending = heartbeat(
        &image,
        &b,
        &beat(1, 3, 9).with_want_shut_down(true),
        &LogConfig::default(),
    );
    assert_eq!((pending.should_shut_down, pending.is_fenced), (false, false));
    assert!(matches!(
        pending.records.as_slice(),
        [MetadataRecord::BrokerRegistrationChange(c), MetadataRecord::PartitionChange(p)]
            if c.in_controlled_shutdown == 1 && c.fenced == 0 && p.leader == crate::metadata::records::NO_LEADER
    ));
    for r in pending.records {
        image.apply(r).unwrap();
    }
    // ... and is allowed to stop (and fenced) once it leads nothing.
    let b = image.brokers[&1].clone();
    let done = heartbeat(
        &image,
        &b,
        &beat(1, 3, 9).with_want_shut_down(true),
        &LogConfig::default(),
    );
    assert_eq!((done.should_shut_down, done.is_fenced), (true, true));
    assert!(matches!(done.records.as_slice(), [MetadataRecord::BrokerRegistrationChange(c)] if c.fenced == FENCE));
}

#[test]
fn sessions_expire_unless_renewed_and_start_whole_for_a_new_controller() {
    let image = image_with_broker(1, 3, true);
    let mut sessions = Sessions::new(Duration::from_millis(100));
    let t0 = Instant::now();
    sessions.touch_unknown(&image, t0);
    assert!(sessions.expired(&image, t0 + Duration::from_millis(99)).is_empty());
    assert_eq!(sessions.expired(&image, t0 + Duration::from_millis(100)), vec![1]);
    sessions.touch(1, t0 + Duration::from_millis(90));
    assert!(sessions.expired(&image, t0 + Duration::from_millis(150)).is_empty());
    // A fenced broker has no session to expire (and none is started for it).
    let fenced = image_with_broker(2, 4, false);
    let mut s = Sessions::new(Duration::from_millis(100));
    s.touch_unknown(&fenced, t0);
    assert!(!s.is_active(2, t0));
    assert!(s.expired(&fenced, t0 + Duration::from_secs(1)).is_empty());
}
