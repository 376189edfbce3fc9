//! The validator against well-formed batches of every codec and against the malformed ones
//! found by the poison-batch reproduction (`shared/repro/p2_poison.py`) and beyond.

use super::*;
use crate::log::record::batch::{self, put_varint, tests::make_batch};
use kafka_protocol::records::Compression;

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn rules(compacted: bool) -> Rules<'static> {
    Rules {
        topic_partition: "t-0",
        compacted,
        timestamp_type: TimestampType::CreateTime,
        timestamp_before_max_ms: i64::MAX,
        timestamp_after_max_ms: i64::MAX,
        now_ms: 10_000,
    }
}

use crate::log::test_fixture::{batch_around as batch_with, record_bytes as record};

fn check(b: &[u8], r: &Rules<'_>) -> Result<Walked, LogError> {
    let h = BatchHeader::parse_unchecked(b).expect("framing");
    h.check_crc().expect("crc");
    check_batch(&h, r.topic_partition)?;
    validate_records(&h, r)
}

fn undecompressable(e: LogError) -> String {
    match e {
        LogError::CorruptBatch(BatchError::Undecompressable(m)) => m,
        other => panic!("expected UNKNOWN_SERVER_ERROR, got {other:?}"),
    }
}

fn invalid_record(e: LogError) -> String {
    match e {
        LogError::CorruptBatch(BatchError::InvalidRecord(m)) => m,
        other => panic!("expected INVALID_RECORD, got {other:?}"),
    }
}

#[test]
fn well_formed_batches_of_every_codec_pass() {
    for c in CODECS {
        for n in [1, 7, 500] {
            let b = make_batch(n, 1000, c);
            let w = check(&b, &rules(true)).unwrap_or_else(|e| panic!("{c:?} {n}: {e}"));
            assert_eq!(w.max_timestamp, 1000 + n as i64 - 1, "{c:?}");
            assert!(w.offsets_in_order);
        }
    }
}

#[test]
fn the_four_poison_batches_are_refused() {
    // A record length that lies.
    let mut lies = vec![];
    put_varint(&mut lies, 100);
    lies.extend_from_slice(b"\x00garbage");
    let m = invalid_record(check(&batch_with(&lies, 1, 0, 0), &rules(false)).unwrap_err());
    assert!(m.starts_with("Invalid record size: expected 100 bytes"), "{m}");
    // A gzip flag over garbage.
    let garbage = b"\x1f\x8b not really gzip".repeat(3);
    undecompressable(check(&batch_with(&garbage, 1, 0, 1), &rules(false)).unwrap_err());
    // Two records, the count says one.
    let mut two = record(None, b"r0", 0, 0, &[]);
    two.extend(record(None, b"r1", 1, 0, &[]));
    let m = invalid_record(check(&batch_with(&two, 1, 0, 0), &rules(false)).unwrap_err());
    assert_eq!(m, "Incorrect declared batch size, records still remaining in file");
    // An offset delta past the batch: accepted, as Kafka, but rebuilt.
    let w = check(&batch_with(&record(None, b"r0", 5, 0, &[]), 1, 0, 0), &rules(false)).unwrap();
    assert!(!w.offsets_in_order);
}

#[test]
fn garbage_in_every_codec_is_refused() {
    for codec in 1..=4 {
        let e = check(
            &batch_with(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5], 1, 0, codec),
            &rules(false),
        );
        undecompressable(e.unwrap_err());
    }
    for codec in 5..=7 {
        undecompressable(check(&batch_with(&record(None, b"x", 0, 0, &[]), 1, 0, codec), &rules(false)).unwrap_err());
    }
    // A truncated gzip stream is a premature end of the records (Kafka's EOFException).
    let gz = crate::log::record::codec::compress(1, record(None, b"value", 0, 0, &[]), None).unwrap();
    let m = invalid_record(check(&batch_with(&gz[..gz.len() - 12], 1, 0, 1), &rules(false)).unwrap_err());
    assert!(m.contains("EOF"), "{m}");
}

#[test]
fn batch_rules_as_kafka() {
    let r = rules(false);
    let one = record(None, b"v", 0, 0, &[]);
    let m = invalid_record(check(&batch_with(&one, 1, -1, 0), &r).unwrap_err());
    assert_eq!(m, "Batch has an invalid offset range: [0, -1] in topic partition t-0");
    let m = invalid_record(check(&batch_with(&one, 0, 0, 0), &r).unwrap_err());
    assert_eq!(m, "Invalid reported count for record batch: 0 in topic partition t-0");
    let m = invalid_record(check(&batch_with(&one, 1, 2, 0), &r).unwrap_err());
    assert_eq!(
        m,
        "Inconsistent batch offset range [0, 2] and count of records 1 in topic partition t-0"
    );
    // The same mismatch inside a compressed batch.
    let gz = make_batch(3, 0, Compression::Gzip);
    let mut b = gz.to_vec();
    b[23..27].copy_from_slice(&5i32.to_be_bytes());
    batch::set_crc(&mut b);
    invalid_record(check(&b, &r).unwrap_err());
    // Fewer records than the count.
    let m = invalid_record(check(&batch_with(&one, 2, 1, 0), &r).unwrap_err());
    assert_eq!(m, "Incorrect declared batch size, premature EOF reached");
    let mut b = make_batch(2, 0, Compression::Zstd).to_vec();
    b[23..27].copy_from_slice(&2i32.to_be_bytes());
    b[57..61].copy_from_slice(&3i32.to_be_bytes());
    batch::set_crc(&mut b);
    let m = invalid_record(check(&b, &r).unwrap_err());
    assert_eq!(m, "Incorrect declared batch size, premature EOF reached");
}

#[test]
fn record_structure_as_kafka() {
    let r = rules(false);
    let single = |rec: Vec<u8>| check(&batch_with(&rec, 1, 0, 0), &r);
    // A negative header count, a null header key.
    let mut rec = record(None, b"v", 0, 0, &[]);
    let last = rec.len() - 1;
    rec[last] = 3; // zigzag -2
    let m = invalid_record(single(rec).unwrap_err());
    assert_eq!(m, "Found invalid number of record headers -2");
    let mut body = vec![0u8, 0, 0, 1, 1 << 1]; // attrs, ts, off, key -1, value len 1 ...
    body.truncate(4);
    put_varint(&mut body, 1);
    body.push(b'v');
    put_varint(&mut body, 1); // one header
    put_varint(&mut body, -1); // null key
    put_varint(&mut body, -1);
    let mut rec = vec![];
    put_varint(&mut rec, body.len() as i64);
    rec.extend_from_slice(&body);
    let m = invalid_record(single(rec).unwrap_err());
    assert_eq!(m, "Invalid negative header key size -1");
    // A length shorter and one longer than the fields.
    for delta in [-2i64, 3] {
        let good = record(Some(b"k"), b"value", 0, 0, &[(b"h", b"x")]);
        let body_len = good.len() as i64 - 1;
        let mut rec = vec![];
        put_varint(&mut rec, body_len + delta);
        rec.extend_from_slice(&good[1..]);
        rec.extend(std::iter::repeat_n(0u8, delta.max(0) as usize));
        let m = invalid_record(single(rec).unwrap_err());
        assert!(m.starts_with("Invalid record size: expected to read"), "{delta}: {m}");
    }
    // A key longer than what is left.
    let mut rec = vec![];
    put_varint(&mut rec, 6);
    rec.extend_from_slice(&[0, 0, 0]);
    put_varint(&mut rec, 50);
    rec.extend_from_slice(&[1, 2]);
    let m = invalid_record(single(rec).unwrap_err());
    assert_eq!(m, "Found invalid record structure");
    // A varint of 6 bytes for the offset delta.
    let mut rec = vec![];
    put_varint(&mut rec, 12);
    rec.extend_from_slice(&[0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 1, 1, 0, 0]);
    let m = invalid_record(single(rec).unwrap_err());
    assert!(m.starts_with("Varint is too long"), "{m}");
    // Trailing bytes after the last record, plain and gzip.
    let mut rec = record(None, b"v", 0, 0, &[]);
    rec.extend_from_slice(b"junk");
    let m = invalid_record(single(rec.clone()).unwrap_err());
    assert_eq!(m, "Incorrect declared batch size, records still remaining in file");
    let gz = crate::log::record::codec::compress(1, rec, None).unwrap();
    let m = invalid_record(check(&batch_with(&gz, 1, 0, 1), &r).unwrap_err());
    assert_eq!(m, "Incorrect declared batch size, records still remaining in file");
    // A negative key length other than -1 is a null key (Kafka reads any negative size so).
    let rec = crate::log::test_fixture::record_with_key_len(-2, b"v");
    let w = single(rec.clone()).expect("a negative key length reads as null");
    assert!(w.needs_rebuild() && w.offsets_in_order && !w.canonical_lengths);
    let m = match check(&batch_with(&rec, 1, 0, 0), &rules(true)).unwrap_err() {
        LogError::RecordErrors { message, .. } => message,
        e => panic!("{e:?}"),
    };
    assert!(m.contains("Compacted topic cannot accept message without key"), "{m}");
}

#[test]
fn compressed_records_are_checked_like_plain_ones() {
    let r = rules(false);
    for codec in 1..=4i16 {
        // A lying length inside the compressed section.
        let good = record(None, b"value", 0, 0, &[]);
        let mut rec = vec![];
        put_varint(&mut rec, good.len() as i64 + 4);
        rec.extend_from_slice(&good[1..]);
        let section = crate::log::record::codec::compress(codec, rec, None).unwrap();
        invalid_record(check(&batch_with(&section, 1, 0, codec), &r).unwrap_err());
        // Offsets out of order: accepted and rebuilt (Kafka's compressed path).
        let mut two = record(None, b"a", 1, 0, &[]);
        two.extend(record(None, b"b", 0, 1, &[]));
        let section = crate::log::record::codec::compress(codec, two, None).unwrap();
        let w = check(&batch_with(&section, 2, 1, codec), &r).unwrap();
        assert!(!w.offsets_in_order);
        assert_eq!(w.max_timestamp, 1001);
    }
}

#[test]
fn keyless_records_on_compacted_topics_are_record_errors() {
    let mut recs = record(Some(b"k"), b"a", 0, 0, &[]);
    recs.extend(record(None, b"b", 1, 0, &[]));
    recs.extend(record(None, b"c", 2, 0, &[]));
    let b = batch_with(&recs, 3, 2, 0);
    check(&b, &rules(false)).expect("not compacted");
    match check(&b, &rules(true)).unwrap_err() {
        LogError::RecordErrors {
            errors,
            message,
            invalid_timestamp,
        } => {
            assert_eq!(errors.iter().map(|e| e.0).collect::<Vec<_>>(), vec![1, 2]);
            assert!(!invalid_timestamp);
            assert!(message.starts_with("One or more records have been rejected due to 2 record errors in total"));
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn timestamps_are_checked_per_record() {
    let mut r = rules(false);
    r.timestamp_before_max_ms = 5_000;
    r.timestamp_after_max_ms = 5_000;
    // Base 1000 is 9 s before now (10 000): record 0 is out of range, record 1 (+8 s) in.
    let mut recs = record(None, b"a", 0, 0, &[]);
    recs.extend(record(None, b"b", 1, 8_000, &[]));
    let b = batch_with(&recs, 2, 1, 0);
    match check(&b, &r).unwrap_err() {
        LogError::RecordErrors {
            errors,
            message,
            invalid_timestamp,
        } => {
            assert!(invalid_timestamp);
            assert_eq!(
                message,
                "One or more records have been rejected due to invalid timestamp"
            );
            assert_eq!(errors.len(), 1);
            assert_eq!(
                errors[0].1,
                "Timestamp 1000 of message with offset 0 is out of range. The timestamp should be within [5000, 15000]"
            );
        }
        e => panic!("{e:?}"),
    }
    // A producer-set LogAppendTime on a LogAppendTime topic.
    let mut r = rules(false);
    r.timestamp_type = TimestampType::LogAppendTime;
    let mut b = batch_with(&record(None, b"a", 0, 0, &[]), 1, 0, 0);
    b[21..23].copy_from_slice(&TIMESTAMP_TYPE_BIT.to_be_bytes());
    batch::set_crc(&mut b);
    assert!(matches!(
        check(&b, &r).unwrap_err(),
        LogError::RecordErrors {
            invalid_timestamp: true,
            ..
        }
    ));
}

#[test]
fn a_compression_bomb_costs_no_memory() {
    // One record claiming 200 MiB of key, then 1 GiB of zeros compressed to a few hundred
    // KiB: walked through a 64 KiB buffer (Kafka accepts 1 GiB values, so does the walk)
    // and refused for its lying length.
    let mut plain = vec![];
    put_varint(&mut plain, 200 << 20);
    plain.extend_from_slice(&[0, 0, 0]);
    put_varint(&mut plain, 200 << 20);
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    std::io::Write::write_all(&mut enc, &plain).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        std::io::Write::write_all(&mut enc, &zeros).unwrap();
    }
    let section = enc.finish().unwrap();
    let m = invalid_record(check(&batch_with(&section, 1, 0, 4), &rules(false)).unwrap_err());
    assert!(m.starts_with("Invalid record size: expected to read 209715200"), "{m}");
    // Past the cap the stream stops, whatever follows.
    let mut s = super::source::Stream::capped(zstd::stream::read::Decoder::new(&section[..]).unwrap(), 1 << 20);
    let skipped = super::source::Source::skip(&mut s, 2 << 20);
    assert!(matches!(skipped, Err(super::source::Stop::TooLarge)));
}

proptest::proptest! {
    #[test]
    fn never_panics_on_garbage(section in proptest::collection::vec(proptest::num::u8::ANY, 0..300), codec in 0i16..8, count in -1i32..6) {
        let b = batch_with(&section, count, count - 1, codec);
        let _ = check(&b, &rules(true));
    }

    #[test]
    fn a_flipped_byte_is_refused_or_reads_back(at in 0usize..200, bit in 0u8..8, codec in 0usize..5) {
        let b = make_batch(5, 1000, CODECS[codec]);
        let mut m = b.to_vec();
        let at = HEADER_LEN + at % (m.len() - HEADER_LEN);
        m[at] ^= 1 << bit;
        batch::set_crc(&mut m);
        let h = BatchHeader::parse_unchecked(&m).unwrap();
        if let Ok(w) = check(&m, &rules(false)) {
            // Whatever is accepted is stored in a form that reads back as five records at
            // offsets 0..5 (rebuilt when Kafka would change it).
            let stored = if w.needs_rebuild() { rebuild(&h, h.attributes() & 7, None, true).unwrap() } else { m.clone() };
            let d = crate::log::record::codec::decode(&BatchHeader::parse_unchecked(&stored).unwrap()).unwrap();
            let offsets: Vec<i64> = d.records.iter().map(|r| r.offset).collect();
            proptest::prop_assert_eq!(offsets, vec![0, 1, 2, 3, 4]);
        }
    }
}

#[test]
fn rebuild_renumbers_nulls_bad_lengths_and_keeps_the_producer() {
    let mut recs = record(Some(b"k0"), b"a", 3, 0, &[(b"h", b"x")]);
    recs.extend(record(None, b"b", 3, 7, &[]));
    // A key length of -2 in a third record.
    let mut body = vec![0u8, 4, 0];
    put_varint(&mut body, -2);
    put_varint(&mut body, 1);
    body.push(b'c');
    put_varint(&mut body, 0);
    put_varint(&mut recs, body.len() as i64);
    recs.extend(body);
    for codec in [0i16, 1, 4] {
        let section = crate::log::record::codec::compress(codec, recs.clone(), None).unwrap();
        let mut b = batch_with(&section, 3, 2, codec);
        // An idempotent producer's fields, and a producer-set LogAppendTime bit.
        b[43..51].copy_from_slice(&42i64.to_be_bytes());
        b[51..53].copy_from_slice(&3i16.to_be_bytes());
        b[53..57].copy_from_slice(&100i32.to_be_bytes());
        b[21..23].copy_from_slice(&(codec | TIMESTAMP_TYPE_BIT).to_be_bytes());
        batch::set_crc(&mut b);
        let h = BatchHeader::parse_unchecked(&b).unwrap();
        let w = check(&b, &rules(false)).unwrap();
        assert!(!w.offsets_in_order && !w.canonical_lengths);
        let out = rebuild(&h, 4, None, true).unwrap();
        let r = BatchHeader::parse_unchecked(&out).unwrap();
        r.check_crc().unwrap();
        assert_eq!(
            (
                r.producer_id(),
                r.producer_epoch(),
                r.base_sequence(),
                r.records_count()
            ),
            (42, 3, 100, 3)
        );
        assert_eq!((r.attributes() & 0x07, r.attributes() & TIMESTAMP_TYPE_BIT), (4, 0));
        let again = check(&out, &rules(false)).unwrap();
        assert!(again.offsets_in_order && again.canonical_lengths, "codec {codec}");
        // Every record took the batch's max timestamp (it was LogAppendTime), as Kafka.
        assert_eq!(r.max_timestamp(), 1000);
        let d = crate::log::record::codec::decode(&r).unwrap();
        let offsets: Vec<i64> = d.records.iter().map(|x| x.offset).collect();
        assert_eq!(offsets, vec![0, 1, 2]);
        assert_eq!(d.key(&d.records[0]), Some(&b"k0"[..]));
        assert_eq!(d.key(&d.records[2]), None);
        assert_eq!(&d.buf[d.records[0].headers.clone()], &[2, 2, b'h', 2, b'x']);
    }
}

#[test]
fn batch_offsets_near_the_end_of_the_range_do_not_overflow() {
    let mut b = batch_with(&record(None, b"v", 0, 0, &[]), 1, i32::MAX, 0);
    b[..8].copy_from_slice(&(i64::MAX - 5).to_be_bytes());
    let h = BatchHeader::parse_unchecked(&b).unwrap();
    invalid_record(check_batch(&h, "t-0").unwrap_err());
}

/// Writes the `records` fuzz target's seed corpus (batches of every codec, as the test
/// fixtures encode them) to `$BROKK_FUZZ_SEEDS`: `cargo test --lib write_fuzz_seeds -- --ignored`.
#[test]
#[ignore]
fn write_fuzz_seeds() {
    let Ok(dir) = std::env::var("BROKK_FUZZ_SEEDS") else {
        return;
    };
    for (i, c) in CODECS.iter().enumerate() {
        for n in [1usize, 3, 20] {
            let b = make_batch(n, 1000, *c);
            std::fs::write(format!("{dir}/batch-{i}-{n}"), &b).unwrap();
        }
    }
    let mut recs = record(Some(b"k"), b"v", 0, 0, &[(b"h", b"x")]);
    recs.extend(record(None, b"", 1, 5, &[]));
    std::fs::write(format!("{dir}/headers"), batch_with(&recs, 2, 1, 0)).unwrap();
}

#[test]
fn a_negative_header_value_length_is_rebuilt_as_null() {
    let mut body = vec![0u8, 0, 0];
    put_varint(&mut body, -1); // key
    put_varint(&mut body, 1);
    body.push(b'v');
    put_varint(&mut body, 1); // one header
    put_varint(&mut body, 1);
    body.push(b'h');
    put_varint(&mut body, -7741); // its value: read as null by Kafka
    let mut rec = vec![];
    put_varint(&mut rec, body.len() as i64);
    rec.extend_from_slice(&body);
    let b = batch_with(&rec, 1, 0, 0);
    let w = check(&b, &rules(false)).unwrap();
    assert!(w.offsets_in_order && !w.canonical_lengths);
    let out = rebuild(&BatchHeader::parse_unchecked(&b).unwrap(), 0, None, true).unwrap();
    assert!(check(&out, &rules(false)).unwrap().canonical_lengths);
    let mut bytes = bytes::Bytes::from(out);
    let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut bytes).unwrap();
    assert_eq!(
        set.records[0]
            .headers
            .get(&kafka_protocol::protocol::StrBytes::from_static_str("h")),
        Some(&None)
    );
}
