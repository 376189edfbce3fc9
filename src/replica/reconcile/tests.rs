use std::collections::BTreeMap;

use uuid::Uuid;

use super::*;
use crate::metadata::records::{ConfigRecord, MetadataRecord, PartitionRecord, TopicRecord};

fn image_with(topics: &[(&str, u128, &[&[i32]])]) -> MetadataImage {
    let mut image = MetadataImage::default();
    for (name, id, partitions) in topics {
        let id = Uuid::from_u128(*id);
        image
            .apply(MetadataRecord::Topic(TopicRecord {
                name: name.to_string(),
                topic_id: id,
            }))
            .unwrap();
        for (p, replicas) in partitions.iter().enumerate() {
            let r = PartitionRecord::new(id, p as i32, replicas.to_vec());
            image.apply(MetadataRecord::Partition(r)).unwrap();
        }
    }
    image
}

#[test]
fn a_broker_creates_the_partitions_assigned_to_it_with_the_images_id_and_configs() {
    let mut image = image_with(&[("a", 1, &[&[1], &[2], &[1]]), ("b", 2, &[&[2]])]);
    image
        .apply(MetadataRecord::Config(ConfigRecord {
            resource_type: TOPIC_RESOURCE,
            resource_name: "a".into(),
            name: "retention.ms".into(),
            value: Some("1000".into()),
        }))
        .unwrap();
    let actions = plan(&image, 1, &[]);
    assert_eq!(
        actions,
        vec![Action::Create {
            name: "a".into(),
            id: Uuid::from_u128(1),
            count: 3,
            hosted: vec![0, 2],
            overrides: BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]),
        }]
    );
    // Already here: nothing to do.
    assert!(plan(&image, 1, &[("a".into(), Uuid::from_u128(1), true)]).is_empty());
}

#[test]
fn only_topics_the_image_assigned_are_deleted_when_it_drops_them() {
    let image = image_with(&[("a", 1, &[&[1]])]);
    let local = [
        // A deleted topic of the image's.
        ("gone".to_string(), Uuid::from_u128(7), true),
        // A namesake of an earlier incarnation: deleted, then the image's is created.
        ("a".to_string(), Uuid::from_u128(8), true),
        // A single broker's own topic and the transaction coordinator's stay.
        ("mine".to_string(), Uuid::from_u128(9), false),
        ("__transaction_state".to_string(), Uuid::from_u128(10), false),
    ];
    let actions = plan(&image, 1, &local);
    assert_eq!(
        actions,
        vec![
            Action::Delete { name: "gone".into() },
            Action::Delete { name: "a".into() },
            Action::Create {
                name: "a".into(),
                id: Uuid::from_u128(1),
                count: 1,
                hosted: vec![0],
                overrides: BTreeMap::new(),
            },
        ]
    );
    // A local topic of the single broker with the image's name is left alone and the
    // image's is not hosted over it.
    let clash = [("a".to_string(), Uuid::from_u128(9), false)];
    assert!(plan(&image, 1, &clash).is_empty());
}

#[test]
fn the_clusters_consumer_offsets_replaces_a_local_one() {
    let image = image_with(&[("__consumer_offsets", 1, &[&[1, 2], &[2, 1]])]);
    let local = [("__consumer_offsets".to_string(), Uuid::from_u128(5), false)];
    let actions = plan(&image, 1, &local);
    assert_eq!(
        actions,
        vec![
            Action::Delete {
                name: "__consumer_offsets".into()
            },
            Action::Create {
                name: "__consumer_offsets".into(),
                id: Uuid::from_u128(1),
                count: 2,
                hosted: vec![0, 1],
                overrides: BTreeMap::new(),
            },
        ]
    );
    // Once the image's is here, nothing more.
    let here = [("__consumer_offsets".to_string(), Uuid::from_u128(1), true)];
    assert!(plan(&image, 1, &here).is_empty());
}

#[test]
fn a_grown_topic_adds_the_new_partitions_this_broker_hosts() {
    let image = image_with(&[("a", 1, &[&[1], &[2], &[1, 2], &[2]])]);
    let local = |id: u128, managed: bool, count: i32, here: Vec<i32>| {
        [("a".to_string(), Uuid::from_u128(id), managed, count, here)]
    };
    assert_eq!(
        assignment_changes(&image, 1, &local(1, true, 2, vec![0])),
        vec![("a".to_string(), 4, vec![0, 2])]
    );
    // Not grown, another incarnation, or a single broker's own topic: nothing.
    assert!(assignment_changes(&image, 1, &local(1, true, 4, vec![0, 2])).is_empty());
    assert!(assignment_changes(&image, 1, &local(2, true, 2, vec![0])).is_empty());
    assert!(assignment_changes(&image, 1, &local(1, false, 2, vec![0, 1])).is_empty());
}

#[test]
fn moved_replicas_are_added_and_removed_here_and_a_topic_hosted_no_more_is_deleted() {
    // Partition 0 moved from broker 2 to broker 1; partition 1 from broker 1 to 2.
    let image = image_with(&[("a", 1, &[&[1, 3], &[2, 3]])]);
    let local = [("a".to_string(), Uuid::from_u128(1), true, 2, vec![1])];
    assert_eq!(
        assignment_changes(&image, 1, &local),
        vec![("a".to_string(), 2, vec![0])]
    );
    // Nothing hosted here any more: the local topic goes.
    let image = image_with(&[("a", 1, &[&[2, 3], &[2, 3]])]);
    assert!(assignment_changes(&image, 1, &local).is_empty());
    let here = [("a".to_string(), Uuid::from_u128(1), true)];
    assert_eq!(plan(&image, 1, &here), vec![Action::Unhost { name: "a".into() }]);
}
