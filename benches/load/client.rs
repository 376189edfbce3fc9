//! Throughput through librdkafka (the `rdkafka` crate): a producer with throughput settings
//! (linger.ms=5, batch.size=1 MiB, `LOAD_COMPRESSION`: none unless set) and a consumer
//! reading every partition from the start. Both return the elapsed seconds for `count`
//! messages.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

/// The producers' codec: `LOAD_COMPRESSION` (none, gzip, snappy, lz4, zstd), default none.
pub fn compression() -> String {
    std::env::var("LOAD_COMPRESSION").unwrap_or_else(|_| "none".into())
}

/// Produces `count` messages of `size` bytes round-robin over `partitions`.
pub fn produce(bootstrap: &str, topic: &str, size: usize, count: usize, acks: &str, partitions: i32) -> f64 {
    produce_with_linger(bootstrap, topic, size, count, acks, partitions, 5)
}

/// [`produce`] with another `linger.ms`.
pub fn produce_with_linger(
    bootstrap: &str,
    topic: &str,
    size: usize,
    count: usize,
    acks: &str,
    partitions: i32,
    linger_ms: u32,
) -> f64 {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", acks)
        .set("enable.idempotence", "false")
        .set("linger.ms", linger_ms.to_string())
        .set("batch.size", "1048576")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("queue.buffering.max.messages", "1000000")
        .set("compression.type", compression())
        .create()
        .expect("producer");
    let payload = vec![b'p'; size];
    let t = Instant::now();
    for i in 0..count {
        let part = (i % partitions as usize) as i32;
        loop {
            match p.send(BaseRecord::<(), [u8]>::to(topic).payload(&payload).partition(part)) {
                Ok(()) => break,
                Err((_, _)) => {
                    p.poll(Duration::from_millis(1));
                }
            }
        }
        p.poll(Duration::ZERO);
    }
    p.flush(Duration::from_secs(300)).expect("flush");
    t.elapsed().as_secs_f64()
}

/// Consumes `count` messages from the start of every partition.
pub fn consume(bootstrap: &str, topic: &str, count: usize, partitions: i32) -> f64 {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "brokk-load")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760")
        .set("queued.min.messages", "1000000")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("partition");
    }
    c.assign(&tpl).expect("assign");
    let t = Instant::now();
    let mut n = 0;
    while n < count && t.elapsed() < Duration::from_secs(300) {
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            m.expect("message");
            n += 1;
        }
    }
    assert_eq!(n, count, "consumed everything");
    t.elapsed().as_secs_f64()
}
