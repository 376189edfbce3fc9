//! Produce with record batches whose header and CRC32C are valid but whose records are not
//! (issue 14, `shared/repro/p2_poison.py`): each gets the answer Kafka 4.1.1 gave for it
//! (recorded with `compat/kafka` as the oracle), nothing unreadable is stored, and a real
//! consumer (librdkafka) reads every record produced before and after it, in offset order.

mod common;

use std::time::Duration;

use common::records::{batch_around, record_bytes, record_with_key_len, zigzag};
use common::*;
use kafka_protocol::records::Compression;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

/// UNKNOWN_SERVER_ERROR, INVALID_RECORD, UNSUPPORTED_COMPRESSION_TYPE.
const UNKNOWN: i16 = -1;
const INVALID_RECORD: i16 = 87;
const UNSUPPORTED_COMPRESSION: i16 = 76;

fn one_record(offset_delta: i64) -> Vec<u8> {
    record_bytes(None, b"r0", offset_delta, 0, &[])
}

/// `plain` compressed with Kafka codec `codec`, as brokk's broker-side compressor writes it.
fn compressed(codec: i16, plain: Vec<u8>) -> Vec<u8> {
    brokk::log::record::codec::compress(codec, plain, None).unwrap()
}

/// (name, batch, Produce version, expected error code, stored: the value a consumer then
/// reads between "before" and "after").
type Variant = (&'static str, Vec<u8>, i16, i16, Option<&'static [u8]>);

/// CORRUPT_MESSAGE.
const CORRUPT: i16 = 2;

/// Sets a header field of `b` and recomputes the CRC (for fields it covers).
fn with(mut b: Vec<u8>, at: usize, bytes: &[u8]) -> Vec<u8> {
    b[at..at + bytes.len()].copy_from_slice(bytes);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

fn variants() -> Vec<Variant> {
    let mut lies = vec![];
    zigzag(&mut lies, 100);
    lies.extend_from_slice(b"\x00garbage");
    let mut two = one_record(0);
    two.extend(record_bytes(None, b"r1", 1, 0, &[]));
    let mut trailing = one_record(0);
    trailing.extend_from_slice(b"junk");
    // key length -2: Kafka reads it as null; librdkafka would refetch it forever.
    let neg_key = record_with_key_len(-2, b"r0");
    let mut headers = one_record(0);
    let at = headers.len() - 1;
    headers[at] = 3; // header count -2
    let zstd_section = compressed(4, one_record(0));
    vec![
        (
            "record-length-lies",
            batch_around(&lies, 1, 0, 0),
            9,
            INVALID_RECORD,
            None,
        ),
        (
            "gzip-flag-over-garbage",
            batch_around(&b"\x1f\x8b not really gzip".repeat(3), 1, 0, 1),
            9,
            UNKNOWN,
            None,
        ),
        (
            "two-records-count-says-one",
            batch_around(&two, 1, 0, 0),
            9,
            INVALID_RECORD,
            None,
        ),
        (
            "offset-delta-5-in-1-record-batch",
            batch_around(&one_record(5), 1, 0, 0),
            9,
            0,
            Some(b"r0"),
        ),
        (
            "offset-delta-5-gzip",
            batch_around(&compressed(1, one_record(5)), 1, 0, 1),
            9,
            0,
            Some(b"r0"),
        ),
        ("key-length-minus-2", batch_around(&neg_key, 1, 0, 0), 9, 0, Some(b"r0")),
        (
            "trailing-bytes",
            batch_around(&trailing, 1, 0, 0),
            9,
            INVALID_RECORD,
            None,
        ),
        (
            "negative-header-count",
            batch_around(&headers, 1, 0, 0),
            9,
            INVALID_RECORD,
            None,
        ),
        (
            "premature-eof",
            batch_around(&one_record(0), 2, 1, 0),
            9,
            INVALID_RECORD,
            None,
        ),
        ("codec-5", batch_around(&one_record(0), 1, 0, 5), 9, UNKNOWN, None),
        (
            "zstd-before-v7",
            batch_around(&zstd_section, 1, 0, 4),
            3,
            UNSUPPORTED_COMPRESSION,
            None,
        ),
        ("zstd-at-v7", batch_around(&zstd_section, 1, 0, 4), 7, 0, Some(b"r0")),
        // The framing rules of ProduceRequest.validateRecords and analyzeAndValidateRecords.
        (
            "base-offset-5",
            with(batch_around(&one_record(0), 1, 0, 0), 0, &5i64.to_be_bytes()),
            9,
            INVALID_RECORD,
            None,
        ),
        (
            "magic-1",
            with(batch_around(&one_record(0), 1, 0, 0), 16, &[1]),
            9,
            INVALID_RECORD,
            None,
        ),
        (
            "magic-3",
            with(batch_around(&one_record(0), 1, 0, 0), 16, &[3]),
            9,
            CORRUPT,
            None,
        ),
        ("empty-records", vec![], 9, INVALID_RECORD, None),
        ("five-garbage-bytes", vec![1, 2, 3, 4, 5], 9, INVALID_RECORD, None),
        (
            "batch-length-past-the-end",
            with(
                batch_around(&one_record(0), 1, 0, 0),
                8,
                &(49 + 100 + one_record(0).len() as i32).to_be_bytes(),
            ),
            9,
            INVALID_RECORD,
            None,
        ),
        (
            "trailing-fragment-trimmed",
            {
                let mut b = batch_around(&one_record(0), 1, 0, 0);
                b.extend_from_slice(&[9, 9, 9]);
                b
            },
            9,
            0,
            Some(b"r0"),
        ),
        (
            "crc-wrong",
            {
                let mut b = batch_around(&one_record(0), 1, 0, 0);
                let n = b.len();
                b[n - 2] ^= 1;
                b
            },
            9,
            CORRUPT,
            None,
        ),
        (
            "log-append-time-bit-on-create-time",
            with(batch_around(&one_record(0), 1, 0, 0), 21, &0x08i16.to_be_bytes()),
            9,
            0,
            Some(b"r0"),
        ),
    ]
}

fn consumer(bootstrap: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "brokk-poison")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "50")
        .create()
        .expect("consumer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_batches_get_kafkas_answers_and_never_block_consumers() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    let c = consumer(&b.bootstrap());
    for (name, poison, version, code, stored) in variants() {
        create_topic(&mut raw, name, 1, &[]).await;
        let before = records::batch_of(1, now_ms(), Compression::None, |_| b"before".to_vec());
        assert_eq!(produce(&mut raw, name, 0, before).await.0, 0, "{name}");
        let resp = raw
            .call(&produce_req(name, 0, bytes::Bytes::from(poison), -1), version)
            .await;
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!(p.error_code, code, "{name}: {:?}", p.error_message);
        if code != 0 {
            // Kafka sends no message and no record errors for a batch refused whole, except
            // for a magic it does not know.
            let msg = (name == "magic-3").then(|| "Invalid magic found in record: 3".to_string());
            assert_eq!(p.error_message.as_ref().map(|m| m.to_string()), msg, "{name}");
            assert!(p.record_errors.is_empty(), "{name}");
        }
        let after = records::batch_of(1, now_ms(), Compression::None, |_| b"after".to_vec());
        let (err, after_offset) = produce(&mut raw, name, 0, after).await;
        assert_eq!(err, 0, "{name}");

        let mut want: Vec<&[u8]> = vec![b"before"];
        want.extend(stored);
        want.push(b"after");
        assert_eq!(after_offset, want.len() as i64 - 1, "{name}: offsets stay dense");

        // kafka-protocol reads the partition back, offsets in order.
        let fetched = raw.call(&fetch_req(name, 0, 0, 0, 1), 12).await;
        let data = fetched.responses[0].partitions[0].records.clone().unwrap_or_default();
        let got = decode_records(&data);
        let offsets: Vec<i64> = got.iter().map(|r| r.0).collect();
        assert_eq!(offsets, (0..want.len() as i64).collect::<Vec<_>>(), "{name}");
        assert!(
            got.iter().zip(&want).all(|(r, w)| r.2.as_deref() == Some(*w)),
            "{name}: {got:?}"
        );

        // librdkafka reads everything up to the end, in order.
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(name, 0, Offset::Beginning).unwrap();
        c.assign(&tpl).unwrap();
        let mut seen = vec![];
        let deadline = std::time::Instant::now() + TIMEOUT;
        while seen.len() < want.len() && std::time::Instant::now() < deadline {
            if let Some(m) = c.poll(Duration::from_millis(100)) {
                let m = m.expect("message");
                seen.push((m.offset(), m.payload().unwrap_or_default().to_vec(), m.key().is_none()));
            }
        }
        let values: Vec<&[u8]> = seen.iter().map(|s| &s.1[..]).collect();
        assert_eq!(values, want, "{name}: librdkafka read {seen:?}");
        assert!(seen.windows(2).all(|w| w[1].0 == w[0].0 + 1), "{name}: {seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_record_rules_come_back_as_record_errors() {
    let b = TestBroker::start().await;
    let mut raw = Raw::connect(b.addr).await;
    create_topic(&mut raw, "compacted", 1, &[("cleanup.policy", "compact")]).await;
    create_topic(&mut raw, "recent", 1, &[("message.timestamp.before.max.ms", "3600000")]).await;

    let mut recs = record_bytes(Some(b"k"), b"a", 0, 0, &[]);
    recs.extend(record_bytes(None, b"b", 1, 0, &[]));
    let resp = raw
        .call(&produce_req("compacted", 0, batch_around(&recs, 2, 1, 0).into(), -1), 9)
        .await;
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, INVALID_RECORD);
    assert_eq!(p.record_errors.len(), 1);
    assert_eq!(p.record_errors[0].batch_index, 1);
    assert_eq!(
        p.error_message.as_deref(),
        Some(
            "One or more records have been rejected due to 1 record errors in total, and only showing the first three errors at most: [RecordError(batchIndex=1, message='Compacted topic cannot accept message without key in topic partition compacted-0')]"
        )
    );

    // Only record timestamps count: the batch's base timestamp (1000, long ago) does not,
    // a record 2 h old does.
    let now = now_ms();
    let mut recs = record_bytes(None, b"fresh", 0, now - 1000, &[]);
    recs.extend(record_bytes(None, b"stale", 1, now - 1000 - 7_200_000, &[]));
    let resp = raw
        .call(&produce_req("recent", 0, batch_around(&recs, 2, 1, 0).into(), -1), 9)
        .await;
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 32, "INVALID_TIMESTAMP");
    assert_eq!(
        p.error_message.as_deref(),
        Some("One or more records have been rejected due to invalid timestamp")
    );
    assert_eq!(p.record_errors.len(), 1);
    assert_eq!(p.record_errors[0].batch_index, 1);
    let fresh = record_bytes(None, b"fresh", 0, now - 1000, &[]);
    let (err, _) = produce(&mut raw, "recent", 0, batch_around(&fresh, 1, 0, 0).into()).await;
    assert_eq!(err, 0);
    // The stored batch's max timestamp is its record's, as Kafka sets it.
    let fetched = raw.call(&fetch_req("recent", 0, 0, 0, 1), 12).await;
    let data = fetched.responses[0].partitions[0].records.clone().unwrap();
    assert_eq!(i64::from_be_bytes(data[35..43].try_into().unwrap()), now - 1000 + 1000);
}
