use uuid::Uuid;

use super::*;

fn id(n: u64) -> Uuid {
    Uuid::from_u64_pair(n, n)
}

fn endpoint() -> Endpoint {
    Endpoint {
        name: "PLAINTEXT".into(),
        host: "127.0.0.1".into(),
        port: 9092,
        security_protocol: 0,
    }
}

fn feature() -> FeatureRange {
    FeatureRange {
        name: "metadata.version".into(),
        min_supported_version: 7,
        max_supported_version: 27,
    }
}

/// One record of every type brokk models, every optional field set.
fn every_record() -> Vec<MetadataRecord> {
    let mut change = PartitionChangeRecord::new(id(1), 3);
    change.isr = Some(vec![1, 2]);
    change.leader = 2;
    change.replicas = Some(vec![1, 2, 3]);
    change.removing_replicas = Some(vec![3]);
    change.adding_replicas = Some(vec![]);
    change.leader_recovery_state = 1;
    change.directories = Some(vec![id(5), id(6), id(7)]);
    change.eligible_leader_replicas = Some(vec![3]);
    change.last_known_elr = Some(vec![]);
    vec![
        MetadataRecord::RegisterBroker(RegisterBrokerRecord {
            broker_id: 1,
            is_migrating_zk_broker: false,
            incarnation_id: id(2),
            broker_epoch: 10,
            end_points: vec![endpoint()],
            features: vec![feature()],
            rack: Some("r1".into()),
            fenced: true,
            in_controlled_shutdown: true,
            log_dirs: vec![id(3)],
        }),
        MetadataRecord::UnregisterBroker(UnregisterBrokerRecord {
            broker_id: 1,
            broker_epoch: 10,
        }),
        MetadataRecord::Topic(TopicRecord {
            name: "t".into(),
            topic_id: id(1),
        }),
        MetadataRecord::Partition(PartitionRecord {
            partition_id: 3,
            topic_id: id(1),
            replicas: vec![1, 2, 3],
            isr: vec![1, 2],
            removing_replicas: vec![],
            adding_replicas: vec![3],
            leader: 1,
            leader_recovery_state: 1,
            leader_epoch: 4,
            partition_epoch: 9,
            directories: vec![id(5), id(6), id(7)],
            eligible_leader_replicas: Some(vec![2]),
            last_known_elr: Some(vec![3]),
        }),
        MetadataRecord::Config(ConfigRecord {
            resource_type: 2,
            resource_name: "t".into(),
            name: "retention.ms".into(),
            value: None,
        }),
        MetadataRecord::PartitionChange(change),
        MetadataRecord::PartitionChange(PartitionChangeRecord::new(id(1), 0)),
        MetadataRecord::FenceBroker(FenceBrokerRecord { id: 1, epoch: 10 }),
        MetadataRecord::UnfenceBroker(UnfenceBrokerRecord { id: 1, epoch: 10 }),
        MetadataRecord::RemoveTopic(RemoveTopicRecord { topic_id: id(1) }),
        MetadataRecord::FeatureLevel(FeatureLevelRecord {
            name: "metadata.version".into(),
            feature_level: 27,
        }),
        MetadataRecord::ProducerIds(ProducerIdsRecord {
            broker_id: 1,
            broker_epoch: 10,
            next_producer_id: 2000,
        }),
        MetadataRecord::BrokerRegistrationChange(BrokerRegistrationChangeRecord {
            broker_id: 1,
            broker_epoch: 10,
            fenced: UNFENCE,
            in_controlled_shutdown: 1,
            log_dirs: vec![id(3)],
        }),
        MetadataRecord::NoOp(NoOpRecord),
        MetadataRecord::BeginTransaction(BeginTransactionRecord {
            name: Some("Bootstrap records".into()),
        }),
        MetadataRecord::EndTransaction(EndTransactionRecord),
        MetadataRecord::AbortTransaction(AbortTransactionRecord { reason: None }),
        MetadataRecord::RegisterController(RegisterControllerRecord {
            controller_id: 1,
            incarnation_id: id(4),
            zk_migration_ready: false,
            end_points: vec![endpoint()],
            features: vec![feature()],
        }),
        MetadataRecord::ClearElr(ClearElrRecord {
            topic_name: String::new(),
        }),
        MetadataRecord::Other {
            api_key: 18,
            version: 0,
            body: vec![1, 2, 3],
        },
    ]
}

#[test]
fn every_record_round_trips() {
    for r in every_record() {
        let bytes = r.encode();
        assert_eq!(MetadataRecord::decode(&bytes).as_ref(), Ok(&r), "{r:?}");
    }
}

#[test]
fn older_versions_read_with_defaults() {
    // PartitionRecord v0 has no directories and no ELR tags; v2's ELR tags are ignored at v0.
    let mut w = Writer::new();
    w.uvarint(FRAME_VERSION).uvarint(3).uvarint(0);
    let p = PartitionRecord::new(id(1), 0, vec![1]);
    p.write(&mut w, 0);
    assert_eq!(MetadataRecord::decode(&w.buf), Ok(MetadataRecord::Partition(p)));
    // RegisterBrokerRecord v0: no migration flag, no controlled shutdown, no log dirs.
    let b = RegisterBrokerRecord {
        broker_id: 2,
        is_migrating_zk_broker: false,
        incarnation_id: id(2),
        broker_epoch: 5,
        end_points: vec![endpoint()],
        features: vec![],
        rack: None,
        fenced: false,
        in_controlled_shutdown: false,
        log_dirs: vec![],
    };
    let mut w = Writer::new();
    w.uvarint(FRAME_VERSION).uvarint(0).uvarint(0);
    b.write(&mut w, 0);
    assert_eq!(MetadataRecord::decode(&w.buf), Ok(MetadataRecord::RegisterBroker(b)));
}

#[test]
fn the_layout_is_kafkas() {
    // PartitionChangeRecord v2 of partition 0, only the leader changed to 3: the ids, then
    // one tagged field (tag 1, 4 bytes).
    let mut c = PartitionChangeRecord::new(id(1), 0);
    c.leader = 3;
    let mut want = vec![1, 5, 2, 0, 0, 0, 0];
    want.extend_from_slice(id(1).as_bytes());
    want.extend_from_slice(&[1, 1, 4, 0, 0, 0, 3]);
    assert_eq!(MetadataRecord::PartitionChange(c).encode(), want);
    // FeatureLevelRecord: compact string (len + 1), i16, no tags.
    let f = MetadataRecord::FeatureLevel(FeatureLevelRecord {
        name: "mv".into(),
        feature_level: 27,
    });
    assert_eq!(f.encode(), vec![1, 12, 0, 3, b'm', b'v', 0, 27, 0]);
}

#[test]
fn bad_input_is_an_error_never_a_panic() {
    for r in every_record() {
        let bytes = r.encode();
        // An uninterpreted record's body is not checked: only its header can be cut short.
        let checked = if matches!(r, MetadataRecord::Other { .. }) {
            3
        } else {
            bytes.len()
        };
        for cut in 0..checked {
            assert!(MetadataRecord::decode(&bytes[..cut]).is_err(), "{r:?} cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        if !matches!(r, MetadataRecord::Other { .. }) {
            assert!(MetadataRecord::decode(&longer).is_err(), "{r:?} with a byte more");
        }
    }
    // A known tag before its version: PartitionRecord v0 with ELR (tag 1, v2+).
    let mut w = Writer::new();
    w.uvarint(FRAME_VERSION).uvarint(3).uvarint(0);
    let mut p = PartitionRecord::new(id(1), 0, vec![1]);
    p.eligible_leader_replicas = Some(vec![1]);
    p.write(&mut w, 2);
    assert!(MetadataRecord::decode(&w.buf).is_err());
    // Frame version 0 (KRaft's preview), an unknown api key, a version too new.
    assert!(MetadataRecord::decode(&[0, 20, 0, 0]).is_err());
    assert!(MetadataRecord::decode(&[1, 6, 0, 0]).is_err());
    assert!(MetadataRecord::decode(&[1, 20, 1, 0]).is_err());
    assert_eq!(
        MetadataRecord::decode(&[1, 20, 0, 0]),
        Ok(MetadataRecord::NoOp(NoOpRecord))
    );
}
