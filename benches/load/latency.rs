//! Latency at a fixed offered rate: a librdkafka producer (linger.ms=0, acks=1) and a
//! consumer in one process. Message `i` is due at `start + i / rate`; its payload carries
//! that *intended* time, so a stalled send is charged to every message behind it (no
//! coordinated omission). End-to-end latency is consumer receive time minus intended time,
//! produce-ack latency is delivery-report time minus intended time; both go into
//! HdrHistograms after the warm-up is discarded.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

static BASE: OnceLock<Instant> = OnceLock::new();

fn now_ns() -> u64 {
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn intended(payload: Option<&[u8]>) -> Option<u64> {
    let p = payload?;
    Some(u64::from_be_bytes(p.get(..8)?.try_into().ok()?))
}

/// Percentiles in microseconds: p50, p99, p99.9, max.
#[derive(Debug, Clone, Copy)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        let us = |v: u64| v as f64 / 1000.0;
        Percentiles {
            p50: us(h.value_at_quantile(0.5)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
        }
    }
}

pub struct Result {
    pub end_to_end: Percentiles,
    pub produce_ack: Percentiles,
    pub sent: u64,
    pub received: u64,
}

struct AckContext {
    hist: Arc<Mutex<Histogram<u64>>>,
    warmup_ns: u64,
}

impl ClientContext for AckContext {}

impl ProducerContext for AckContext {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        let now = now_ns();
        if let Ok(m) = r
            && let Some(due) = intended(m.payload())
            && due >= self.warmup_ns
        {
            let _ = self.hist.lock().unwrap().record(now.saturating_sub(due).max(1));
        }
    }
}

fn histogram() -> Histogram<u64> {
    // 1 us .. 60 s at 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram")
}

/// Runs `rate` msgs/s of `size` bytes to partition 0 of `topic` for `secs` seconds after a
/// `warmup_secs` warm-up.
/// Without `consume` only produce-ack latency is measured (against the null sink, which
/// does not serve back what it is sent).
pub fn run(bootstrap: &str, topic: &str, rate: f64, size: usize, warmup_secs: f64, secs: f64, consume: bool) -> Result {
    let size = size.max(8);
    let ack_hist = Arc::new(Mutex::new(histogram()));
    let e2e_hist = Arc::new(Mutex::new(histogram()));
    let start = now_ns() + 200_000_000; // consumers settle first
    let warmup_ns = start + (warmup_secs * 1e9) as u64;
    let total = ((warmup_secs + secs) * rate) as u64;

    let producer: BaseProducer<AckContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "1")
        .set("enable.idempotence", "false")
        .set("linger.ms", "0")
        .set("compression.type", "none")
        .create_with_context(AckContext {
            hist: ack_hist.clone(),
            warmup_ns,
        })
        .expect("producer");
    // The topic exists before the consumer starts at its end.
    producer
        .client()
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let consumer: Option<BaseConsumer> = consume.then(|| {
        ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "brokk-latency")
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "500")
            .set("fetch.min.bytes", "1")
            .create()
            .expect("consumer")
    });
    if let Some(consumer) = &consumer {
        // Start exactly at the current end (no race with the first sends).
        let (_, end) = consumer
            .fetch_watermarks(topic, 0, Duration::from_secs(10))
            .expect("watermarks");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, 0, Offset::Offset(end))
            .expect("partition");
        consumer.assign(&tpl).expect("assign");
    }

    let done = Arc::new(AtomicBool::new(false));
    let consumer_thread = {
        let (done, hist) = (done.clone(), e2e_hist.clone());
        std::thread::spawn(move || {
            let Some(consumer) = consumer else { return 0 };
            let mut received = 0u64;
            let deadline = Instant::now() + Duration::from_secs_f64(warmup_secs + secs + 60.0);
            while received < total && Instant::now() < deadline {
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                    let now = now_ns();
                    received += 1;
                    if let Some(due) = intended(m.payload())
                        && due >= warmup_ns
                    {
                        let _ = hist.lock().unwrap().record(now.saturating_sub(due).max(1));
                    }
                } else if done.load(Ordering::Acquire) && received >= total {
                    break;
                }
            }
            received
        })
    };

    let mut payload = vec![b'l'; size];
    let interval = 1e9 / rate;
    for i in 0..total {
        let due = start + (i as f64 * interval) as u64;
        // Sleep most of the gap (librdkafka's poll only takes whole milliseconds, so a
        // shorter poll would spin), yield for the rest: on 2 shared cores a spinning load
        // generator would steal the broker's CPU and show up as its tail latency.
        loop {
            let now = now_ns();
            if now >= due {
                break;
            }
            let gap = due - now;
            producer.poll(Duration::ZERO);
            if gap > 150_000 {
                std::thread::sleep(Duration::from_nanos(gap - 100_000));
            } else {
                std::thread::yield_now();
            }
        }
        payload[..8].copy_from_slice(&due.to_be_bytes());
        loop {
            match producer.send(BaseRecord::<(), [u8]>::to(topic).payload(&payload).partition(0)) {
                Ok(()) => break,
                Err(_) => {
                    producer.poll(Duration::from_millis(1));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    done.store(true, Ordering::Release);
    let received = consumer_thread.join().expect("consumer thread");
    let ack = Percentiles::of(&ack_hist.lock().unwrap());
    let e2e = Percentiles::of(&e2e_hist.lock().unwrap());
    Result {
        end_to_end: e2e,
        produce_ack: ack,
        sent: total,
        received,
    }
}
