//! The leader's follower tracking: the high watermark waits for the ISR, a lagging member
//! leaves it, a caught-up follower joins it, one change at a time.

use std::collections::BTreeMap;

use kafka_protocol::records::Compression;

use super::*;
use crate::log::{LogConfig, LogManager, now_ms, test_fixture};

/// A replicated partition led by broker 1 with followers 2 and 3, holding 10 records.
fn led(dir: &std::path::Path, isr: Vec<i32>) -> (LogManager, LeaderState) {
    let (logs, _) = LogManager::open(dir, LogConfig::default(), 0).unwrap();
    logs.create_topic("t", 1, BTreeMap::new()).unwrap();
    let p = logs.partition("t", 0).unwrap();
    p.set_replicated(true);
    let state = LeaderState::new(p.clone(), uuid::Uuid::nil(), 1, 0, 0, &[1, 2, 3], isr, 1_000);
    let b = test_fixture::batch_of(10, now_ms(), Compression::None, |i| vec![i as u8; 8]);
    p.append(&b, now_ms()).unwrap();
    (logs, state)
}

#[test]
fn the_high_watermark_is_the_least_log_end_of_the_isr() {
    let dir = tempfile::tempdir().unwrap();
    let (_logs, s) = led(dir.path(), vec![1, 2, 3]);
    assert_eq!(s.partition.high_watermark(), 0, "an append alone does not commit");
    assert!(!s.leader_appended());
    s.follower_fetched(2, 10, 10, 1_100);
    assert_eq!(s.partition.high_watermark(), 0, "3 has not fetched");
    let e = s.follower_fetched(3, 4, 10, 1_100);
    assert!(e.high_watermark_moved);
    assert_eq!(s.partition.high_watermark(), 4);
    s.follower_fetched(3, 10, 10, 1_200);
    assert_eq!(s.partition.high_watermark(), 10);
    // Never backwards, never past the log end.
    s.follower_fetched(3, 2, 10, 1_300);
    assert_eq!(s.partition.high_watermark(), 10);
}

#[test]
fn a_lagging_member_leaves_and_a_caught_up_follower_joins() {
    let dir = tempfile::tempdir().unwrap();
    let (_logs, s) = led(dir.path(), vec![1, 2, 3]);
    s.follower_fetched(2, 10, 10, 1_100);
    s.follower_fetched(3, 3, 10, 1_100);
    // Within the lag both stay.
    assert_eq!(s.isr_change(20_000, 30_000, 5_000, |_| true).map(|(isr, _)| isr), None);
    // 3 was last caught up when this broker became the leader (1 000).
    assert_eq!(
        s.isr_change(31_001, 30_000, 5_000, |_| true).map(|(isr, _)| isr),
        Some(vec![1, 2])
    );
    // One change at a time, asked again only after the retry time.
    assert_eq!(s.isr_change(31_002, 30_000, 5_000, |_| true).map(|(isr, _)| isr), None);
    // Pending shrink: the high watermark still waits for 3 (maximal ISR).
    assert_eq!(s.partition.high_watermark(), 3);
    s.committed(vec![1, 2], 1);
    assert_eq!(s.partition.high_watermark(), 10, "the shrink commits 2's offsets");
    assert_eq!(s.isr().0.len(), 2);
    // 3 catches up to the high watermark: it may join.
    let e = s.follower_fetched(3, 10, 10, 40_000);
    assert!(e.may_expand);
    assert_eq!(
        s.isr_change(40_000, 30_000, 5_000, |_| true).map(|(isr, _)| isr),
        Some(vec![1, 2, 3])
    );
    // An older answer changes nothing; the committed one ends the pending change.
    s.committed(vec![1], 0);
    assert_eq!(s.isr().0, vec![1, 2]);
    s.committed(vec![1, 2, 3], 2);
    assert_eq!(s.isr(), (vec![1, 2, 3], 2));
    assert_eq!(s.isr_change(40_001, 30_000, 5_000, |_| true).map(|(isr, _)| isr), None);
}

#[test]
fn a_follower_behind_the_epoch_start_does_not_join() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, _) = LogManager::open(dir.path(), LogConfig::default(), 0).unwrap();
    logs.create_topic("t", 1, BTreeMap::new()).unwrap();
    let p = logs.partition("t", 0).unwrap();
    let b = test_fixture::batch_of(5, now_ms(), Compression::None, |i| vec![i as u8; 8]);
    p.append(&b, now_ms()).unwrap();
    p.set_replicated(true);
    // Led from offset 5 on; the high watermark (5, from before) is not enough for 2 at 3.
    let s = LeaderState::new(p, uuid::Uuid::nil(), 1, 1, 0, &[1, 2], vec![1], 0);
    assert_eq!(s.epoch_start_offset, 5);
    let e = s.follower_fetched(2, 3, 5, 10);
    assert!(!e.may_expand);
    assert_eq!(s.isr_change(10, 30_000, 5_000, |_| true).map(|(isr, _)| isr), None);
    let e = s.follower_fetched(2, 5, 5, 20);
    assert!(e.may_expand);
    assert_eq!(
        s.isr_change(20, 30_000, 5_000, |_| true).map(|(isr, _)| isr),
        Some(vec![1, 2])
    );
}

#[test]
fn a_leader_elected_uncleanly_reports_itself_recovered_with_its_isr() {
    let dir = tempfile::tempdir().unwrap();
    let (_logs, s) = led(dir.path(), vec![1]);
    // Recovered: nothing to ask while the followers have not fetched.
    assert_eq!(s.isr_change(1_001, 30_000, 5_000, |_| true), None);
    s.set_recovering(true);
    assert_eq!(s.isr_change(1_002, 30_000, 5_000, |_| true), Some((vec![1], 0)));
    // Pending: not asked again before the retry time.
    assert_eq!(s.isr_change(1_003, 30_000, 5_000, |_| true), None);
    // The image shows it recovered.
    s.committed(vec![1], 1);
    s.set_recovering(false);
    assert_eq!(s.isr_change(1_004, 30_000, 5_000, |_| true), None);
}
