//! brokk's end-to-end load suite: every figure is a ratio to a ceiling measured in the same
//! run on the same machine.
//!
//! `cargo bench --bench load` runs, against brokk's release binary (a separate process on an
//! ephemeral data dir, so its CPU and memory are its own):
//! - **throughput**: librdkafka produce (100 B and 1 KiB, acks=1 and all, 1 and 4
//!   partitions) and consume, each also against the null sink ([`sink`]), with the server's
//!   CPU-seconds per GB moved;
//! - **raw**: a pipelined kafka-protocol producer ([`raw`]) against brokk, the sink and
//!   loopback TCP;
//! - **latency**: end-to-end and produce-ack percentiles at fixed offered rates ([`latency`]);
//! - **fsync**: produce with an fsync per batch against pwrite+fdatasync of the same size;
//! - **connections**: 1,000 connections producing at once, against the sink, and the memory
//!   an idle connection costs;
//! - **memory**: the server's resident memory while one consumer reads a `LOAD_READ_GB` (default
//!   10) GB partition from the start;
//! - **startup**: time to accepting connections (empty, and 1,000 and 10,000 partitions after a clean
//!   and an unclean stop), idle and peak RSS;
//! - **perftools**: Kafka's own `kafka-producer-perf-test` and `kafka-consumer-perf-test`
//!   ([`perftools`]) against both brokers.
//!
//! **The peer:** the reference Apache Kafka (the distribution `compat/prereqs.sh`
//! assembles), at its shipped `server.properties` and JVM flags plus what brokk's row sets
//! (4 partitions per topic; the fsync rows' `log.flush.interval.messages=1`), runs the same
//! clients in the same run: the throughput, raw, latency, connections, fsync and startup
//! rows print its figures and brokk/Kafka ratios (`LOAD_KAFKA=0` leaves it out). The memory
//! row (a 10 GB read) and the many-partition startups are brokk's alone.
//!
//! Environment: `LOAD_MB` (volume per throughput row, default 128), `LOAD_RUNS` (repeats;
//! the median is printed, default 1), `LOAD_SECTIONS` (comma list, default all),
//! `LOAD_LATENCY_SECS` (default 5), `LOAD_BOOTSTRAP=host:port` (drive another broker instead:
//! no CPU or startup figures), `LOAD_COMPRESSION` (the throughput producers' codec, default
//! none), `LOAD_BROKK_BIN` (another brokk binary to measure, e.g. a build before a change),
//! `LOAD_FILTER` (only throughput rows whose name contains one of its comma-separated
//! terms; consume rows read what the acks=1 produce rows wrote, so `acks=1,consume`).
//!
//! Internal: `load --sink PARTITIONS RECORDS SIZE` runs the null sink.

mod client;
mod latency;
mod perftools;
mod procs;
mod raw;
mod scale;
mod sink;

use std::time::{Duration, Instant};

use procs::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `LOAD_FILTER`: only throughput rows whose name contains one of its comma-separated
/// terms (profiling one row).
fn selected(name: &str) -> bool {
    std::env::var("LOAD_FILTER").map_or(true, |f| f.split(',').any(|t| name.contains(t)))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Loopback TCP ceiling in MB/s: one connection, 1 MiB writes, the reader discards.
async fn loopback_mb_s(total: usize) -> f64 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let reader = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.expect("accept");
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0usize;
        while n < total {
            let r = s.read(&mut buf).await.expect("read");
            if r == 0 {
                break;
            }
            n += r;
        }
    });
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let chunk = vec![7u8; 1 << 20];
    let t = Instant::now();
    let mut sent = 0;
    while sent < total {
        s.write_all(&chunk).await.expect("write");
        sent += chunk.len();
    }
    reader.await.expect("reader");
    total as f64 / 1e6 / t.elapsed().as_secs_f64()
}

/// The broker under test: a spawned brokk, or an external bootstrap address; or the peer,
/// a spawned reference Kafka.
struct Target {
    server: Option<Server>,
    bootstrap: String,
}

impl Target {
    fn spawned(s: Server) -> Target {
        Target {
            bootstrap: s.addr.to_string(),
            server: Some(s),
        }
    }
}

fn bootstrap_addr(target: &Target) -> std::net::SocketAddr {
    target.bootstrap.parse().expect("bootstrap as host:port")
}

/// One measured row: MB/s and server CPU-s/GB for brokk and for the sink.
struct Row {
    name: String,
    brokk: f64,
    /// The peer: the reference Kafka, same client, same run.
    kafka: Option<f64>,
    sink: Option<f64>,
    loopback: f64,
    brokk_cpu: Option<f64>,
    kafka_cpu: Option<f64>,
    sink_cpu: Option<f64>,
    extra: String,
}

fn print_header() {
    println!(
        "{:<34} {:>9} {:>9} {:>8} {:>9} {:>8} {:>8} {:>9} {:>9} {:>9}  notes",
        "run", "brokk", "kafka", "b/kafka", "sink", "b/sink", "b/loop", "b CPU", "k CPU", "sink CPU"
    );
    println!(
        "{:<34} {:>9} {:>9} {:>8} {:>9} {:>8} {:>8} {:>9} {:>9} {:>9}",
        "", "MB/s", "MB/s", "", "MB/s", "", "", "s/GB", "s/GB", "s/GB"
    );
}

fn opt(v: Option<f64>, p: usize) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.p$}"))
}

fn print_row(r: &Row) {
    println!(
        "{:<34} {:>9.1} {:>9} {:>8} {:>9} {:>8} {:>8.3} {:>9} {:>9} {:>9}  {}",
        r.name,
        r.brokk,
        opt(r.kafka, 1),
        opt(r.kafka.map(|k| r.brokk / k), 2),
        opt(r.sink, 1),
        opt(r.sink.map(|s| r.brokk / s), 3),
        r.brokk / r.loopback,
        opt(r.brokk_cpu, 2),
        opt(r.kafka_cpu, 2),
        opt(r.sink_cpu, 2),
        r.extra
    );
}

/// Runs `f` `runs` times against a server, returning the median MB/s and CPU-s/GB.
/// Writes back every dirty page before a measured run, so that no run (of either broker)
/// pays for the writeback of the data an earlier row left in the page cache: without it
/// the later rows' ratios depended on which broker the kernel's flusher happened to
/// throttle.
fn settle_writeback() {
    let _ = std::process::Command::new("sync").status();
}

fn measure(runs: usize, bytes: usize, server: Option<&Server>, mut f: impl FnMut(usize) -> f64) -> (f64, Option<f64>) {
    let mut mbs = vec![];
    let mut cpu = vec![];
    for run in 0..runs {
        settle_writeback();
        let c0 = server.map(|s| s.cpu_seconds());
        let secs = f(run);
        if let (Some(s), Some(c0)) = (server, c0) {
            cpu.push((s.cpu_seconds() - c0) / (bytes as f64 / 1e9));
        }
        mbs.push(bytes as f64 / 1e6 / secs);
    }
    (median(mbs), (!cpu.is_empty()).then(|| median(cpu)))
}

/// [`measure`] of brokk and the peer, run by run and alternating which goes first, so that
/// neither broker always runs right after the other (whose page cache and freed memory the
/// kernel is still settling).
type Measured = (f64, Option<f64>);
fn measure_pair(
    runs: usize,
    bytes: usize,
    target: &Target,
    peer: Option<&Target>,
    mut f: impl FnMut(&Target, usize) -> f64,
) -> (Measured, Option<Measured>) {
    let (mut b, mut k) = (vec![], vec![]);
    for run in 0..runs {
        let order: Vec<(&Target, bool)> = match peer {
            Some(p) if run % 2 == 1 => vec![(p, true), (target, false)],
            Some(p) => vec![(target, false), (p, true)],
            None => vec![(target, false)],
        };
        for (t, is_peer) in order {
            let m = measure(1, bytes, t.server.as_ref(), |_| f(t, run));
            if is_peer { k.push(m) } else { b.push(m) }
        }
    }
    let med = |v: Vec<Measured>| -> Measured {
        let cpu: Vec<f64> = v.iter().filter_map(|m| m.1).collect();
        (
            median(v.iter().map(|m| m.0).collect()),
            (!cpu.is_empty()).then(|| median(cpu)),
        )
    };
    (med(b), peer.map(|_| med(k)))
}

fn throughput(
    rt: &tokio::runtime::Runtime,
    target: &Target,
    peer: Option<&Target>,
    mb: usize,
    runs: usize,
    loopback: f64,
) -> Option<f64> {
    let sink = Server::sink(4, 1, 8);
    let sink_addr = sink.addr.to_string();
    let mut peak_100b = None;
    println!(
        "\n## Throughput (librdkafka, linger.ms=5, batch.size=1 MiB, compression {})",
        client::compression()
    );
    print_header();
    for size in [100usize, 1024] {
        let count = (mb << 20) / size;
        let bytes = count * size;
        for partitions in [1, 4] {
            for acks in ["1", "all"] {
                let name = format!("produce {size} B acks={acks} p={partitions}");
                if !selected(&name) {
                    continue;
                }
                let topic = |run: usize| format!("load-{size}-{acks}-{partitions}-{run}");
                let ((b, b_cpu), k) = measure_pair(runs, bytes, target, peer, |t, run| {
                    rt.block_on(raw::ensure_topic(bootstrap_addr(t), &topic(run)));
                    client::produce(&t.bootstrap, &topic(run), size, count, acks, partitions)
                });
                if acks == "all" {
                    // Only the acks=1 rows' data is read back.
                    let names: Vec<String> = (0..runs).map(topic).collect();
                    for t in std::iter::once(target).chain(peer) {
                        rt.block_on(raw::delete_topics(bootstrap_addr(t), &names));
                    }
                }
                let (s, s_cpu) = measure(runs, bytes, Some(&sink), |run| {
                    client::produce(&sink_addr, &topic(run), size, count, acks, partitions)
                });
                if size == 100 && acks == "1" && partitions == 1 {
                    peak_100b = Some(b * 1e6 / size as f64);
                }
                print_row(&Row {
                    name,
                    brokk: b,
                    kafka: k.map(|k| k.0),
                    sink: Some(s),
                    loopback,
                    brokk_cpu: b_cpu.filter(|_| target.server.is_some()),
                    kafka_cpu: k.and_then(|k| k.1),
                    sink_cpu: s_cpu,
                    extra: format!("{:.0} msgs/s", b * 1e6 / size as f64),
                });
            }
        }
        // Consume what the acks=1 rows wrote, and the same from a sink holding as much.
        let log_sink = Server::sink(4, count as i64, size);
        let log_addr = log_sink.addr.to_string();
        for partitions in [1, 4] {
            let name = format!("consume {size} B p={partitions}");
            if !selected(&name) {
                continue;
            }
            let topic = |run: usize| format!("load-{size}-1-{partitions}-{run}");
            let ((b, b_cpu), k) = measure_pair(runs, bytes, target, peer, |t, run| {
                client::consume(&t.bootstrap, &topic(run), count, partitions)
            });
            let names: Vec<String> = (0..runs).map(topic).collect();
            for t in std::iter::once(target).chain(peer) {
                rt.block_on(raw::delete_topics(bootstrap_addr(t), &names));
            }
            let (s, s_cpu) = measure(runs, bytes, Some(&log_sink), |run| {
                client::consume(&log_addr, &topic(run), count, partitions)
            });
            print_row(&Row {
                name,
                brokk: b,
                kafka: k.map(|k| k.0),
                sink: Some(s),
                loopback,
                brokk_cpu: b_cpu.filter(|_| target.server.is_some()),
                kafka_cpu: k.and_then(|k| k.1),
                sink_cpu: s_cpu,
                extra: format!("{:.0} msgs/s", b * 1e6 / size as f64),
            });
        }
    }
    if let Some(s) = &target.server {
        println!("brokk peak RSS so far: {:.0} MB", s.peak_rss_mb());
    }
    peak_100b
}

fn raw_section(
    rt: &tokio::runtime::Runtime,
    target: &Target,
    peer: Option<&Target>,
    mb: usize,
    runs: usize,
    loopback: f64,
) {
    println!(
        "\n## Pipelined raw producer (1 KiB records, 1 MiB batches, 4 partitions, 2 connections x 8 in flight, acks=1)"
    );
    print_header();
    let sink = Server::sink(4, 1, 8);
    let total = mb << 21;
    let addr = bootstrap_addr(target);
    let run_on = |addr: std::net::SocketAddr, server: Option<&Server>| {
        let mut mbs = vec![];
        let mut cpu = vec![];
        for run in 0..runs {
            let topic = format!("raw-{run}");
            rt.block_on(raw::ensure_topic(addr, &topic));
            let c0 = server.map(|s| s.cpu_seconds());
            let (bytes, secs) = rt.block_on(raw::produce(addr, &topic, 4, 1024, total, 2, 8, 1_000_000));
            if let (Some(s), Some(c0)) = (server, c0) {
                cpu.push((s.cpu_seconds() - c0) / (bytes as f64 / 1e9));
            }
            if addr != sink.addr {
                rt.block_on(raw::delete_topics(addr, &[topic]));
            }
            mbs.push(bytes as f64 / 1e6 / secs);
        }
        (median(mbs), (!cpu.is_empty()).then(|| median(cpu)))
    };
    let (b, b_cpu) = run_on(addr, target.server.as_ref());
    let k = peer.map(|p| run_on(bootstrap_addr(p), p.server.as_ref()));
    let (s, s_cpu) = run_on(sink.addr, Some(&sink));
    print_row(&Row {
        name: "raw produce 1 KiB".into(),
        brokk: b,
        kafka: k.map(|k| k.0),
        sink: Some(s),
        loopback,
        brokk_cpu: b_cpu,
        kafka_cpu: k.and_then(|k| k.1),
        sink_cpu: s_cpu,
        extra: String::new(),
    });
}

fn latency_section(rt: &tokio::runtime::Runtime, target: &Target, peer: Option<&Target>, peak: Option<f64>, secs: f64) {
    // The peak at linger.ms=0 (the latency producer's setting), 100 B, acks=1.
    let count = 400_000;
    let peak_of = |t: &Target| {
        rt.block_on(raw::ensure_topic(bootstrap_addr(t), "latency-peak"));
        count as f64 / client::produce_with_linger(&t.bootstrap, "latency-peak", 100, count, "1", 1, 0)
    };
    let peak0 = peak_of(target);
    println!("\n## Latency (100 B, linger.ms=0, acks=1, 1 partition; {secs:.0} s after a 1 s warm-up; microseconds)");
    println!(
        "peak at linger.ms=0: {peak0:.0} msgs/s{}{}",
        peak.map_or(String::new(), |p| format!(" (linger.ms=5: {p:.0} msgs/s)")),
        peer.map_or(String::new(), |k| format!("; kafka {:.0} msgs/s", peak_of(k)))
    );
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>9}   {:>9} {:>9} {:>9} {:>9}",
        "server, offered rate", "e2e p50", "p99", "p99.9", "max", "ack p50", "p99", "p99.9", "max"
    );
    let rates = [
        ("10k msgs/s".to_string(), 10_000.0),
        (format!("10% ({:.0}/s)", peak0 * 0.1), peak0 * 0.1),
        (format!("50% ({:.0}/s)", peak0 * 0.5), peak0 * 0.5),
        (format!("80% ({:.0}/s)", peak0 * 0.8), peak0 * 0.8),
    ];
    let sink = Server::sink(1, 1, 8);
    let mut servers = vec![("brokk", bootstrap_addr(target), true)];
    if let Some(k) = peer {
        servers.push(("kafka", bootstrap_addr(k), true));
    }
    servers.push(("sink", sink.addr, false));
    for (i, (label, rate)) in rates.iter().enumerate() {
        for &(who, addr, consume) in &servers {
            let topic = format!("latency-{i}");
            if consume {
                rt.block_on(raw::ensure_topic(addr, &topic));
            }
            let r = latency::run(&addr.to_string(), &topic, *rate, 100, 1.0, secs, consume);
            let (e, a) = (r.end_to_end, r.produce_ack);
            let e2e = |v: f64| if consume { format!("{v:.0}") } else { "-".to_string() };
            println!(
                "{:<28} {:>9} {:>9} {:>9} {:>9}   {:>9.0} {:>9.0} {:>9.0} {:>9.0}{}",
                format!("{who} {label}"),
                e2e(e.p50),
                e2e(e.p99),
                e2e(e.p999),
                e2e(e.max),
                a.p50,
                a.p99,
                a.p999,
                a.max,
                if consume && r.received < r.sent {
                    format!("  ({} of {} received)", r.received, r.sent)
                } else {
                    String::new()
                }
            );
        }
    }
}

/// fsync-per-batch mode (`log.flush.interval.messages=1`) against what the disk does:
/// pwrite + fdatasync of the same batch size in a loop, on the same filesystem.
fn fsync_section(rt: &tokio::runtime::Runtime, runs: usize, with_peer: bool) {
    println!("\n## fsync per batch (log.flush.interval.messages=1, both brokers; raw producer, acks=1, 1 KiB records)");
    println!(
        "{:<44} {:>10} {:>10} {:>10} {:>12} {:>10} {:>8}",
        "run", "batches/s", "disk /s", "ratio", "brokk MB/s", "kafka /s", "b/kafka"
    );
    let kafka = if with_peer {
        Server::kafka(&[("log.flush.interval.messages", "1"), ("num.partitions", "4")])
    } else {
        None
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_str().expect("utf-8 path").to_string();
    let s = Server::brokk(&[
        "--data-dir",
        &path,
        "--override",
        "log.flush.interval.messages=1",
        "--override",
        "num.partitions=4",
    ]);
    for (batch_kb, partitions, connections, in_flight) in [
        (16usize, 1, 1, 1),
        (64, 1, 1, 1),
        (16, 1, 1, 4),
        (16, 1, 4, 1),
        (16, 4, 4, 1),
        (16, 4, 4, 4),
    ] {
        let batch_bytes = batch_kb << 10;
        let disk = median(
            (0..runs)
                .map(|_| disk_fdatasync_per_s(dir.path(), batch_bytes, 200))
                .collect(),
        );
        let per_batch = batch_bytes / (1024 + 32);
        let total = per_batch * 1024 * partitions as usize * 400;
        let measure_on = |addr: std::net::SocketAddr| {
            let mut rates = vec![];
            let mut mbs = vec![];
            for run in 0..runs {
                let topic = format!("fsync-{batch_kb}-{partitions}-{connections}-{in_flight}-{run}");
                rt.block_on(raw::ensure_topic(addr, &topic));
                let (bytes, secs) = rt.block_on(raw::produce(
                    addr,
                    &topic,
                    partitions,
                    1024,
                    total,
                    connections,
                    in_flight,
                    batch_bytes,
                ));
                let requests = bytes as f64 / (batch_bytes as f64 * partitions as f64);
                rates.push(requests * partitions as f64 / secs);
                mbs.push(bytes as f64 / 1e6 / secs);
                rt.block_on(raw::delete_topics(addr, &[topic]));
            }
            (median(rates), median(mbs))
        };
        let (rate, mbs) = measure_on(s.addr);
        let k = kafka.as_ref().map(|k| measure_on(k.addr).0);
        println!(
            "{:<44} {:>10.0} {:>10.0} {:>10.2} {:>12.1} {:>10} {:>8}",
            format!("{batch_kb} KiB batches, {partitions} partition(s), {connections}x{in_flight} in flight"),
            rate,
            disk,
            rate / disk,
            mbs,
            opt(k, 0),
            opt(k.map(|k| rate / k), 2)
        );
    }
}

/// pwrite + fdatasync of `bytes` per iteration, appending to one preallocated file.
fn disk_fdatasync_per_s(dir: &std::path::Path, bytes: usize, iterations: usize) -> f64 {
    use std::os::unix::fs::FileExt;
    let path = dir.join("fdatasync-probe");
    let f = std::fs::File::create(&path).expect("probe file");
    let buf = vec![b'd'; bytes];
    let t = Instant::now();
    for i in 0..iterations {
        f.write_all_at(&buf, (i * bytes) as u64).expect("pwrite");
        f.sync_data().expect("fdatasync");
    }
    let rate = iterations as f64 / t.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(path);
    rate
}

fn startup_section(rt: &tokio::runtime::Runtime, runs: usize) {
    println!("\n## Startup and memory (spawn to the \"listening\" log line; RSS from /proc)");
    let mut empty = vec![];
    let mut idle = vec![];
    for _ in 0..runs.max(3) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Server::brokk(&["--data-dir", dir.path().to_str().expect("utf-8 path")]);
        empty.push(s.startup.as_secs_f64() * 1e3);
        std::thread::sleep(Duration::from_millis(300));
        idle.push(s.rss_mb());
    }
    println!(
        "empty data dir: startup {:.1} ms (median of {}), idle RSS {:.1} MB",
        median(empty.clone()),
        empty.len(),
        median(idle.clone())
    );
    if procs::kafka_home().is_some() {
        let (mut k_start, mut k_idle) = (vec![], vec![]);
        for _ in 0..runs.max(3) {
            let Some(k) = Server::kafka(&[]) else { break };
            k_start.push(k.startup.as_secs_f64() * 1e3);
            std::thread::sleep(Duration::from_millis(300));
            k_idle.push(k.rss_mb());
        }
        println!(
            "kafka {}, empty log dir (formatted first, not timed): startup {:.1} ms (median of {}), idle RSS {:.1} MB; brokk/kafka: startup {:.3}, idle RSS {:.3}",
            procs::KAFKA_VERSION,
            median(k_start.clone()),
            k_start.len(),
            median(k_idle.clone()),
            median(empty) / median(k_start),
            median(idle) / median(k_idle)
        );
    }
    for topics in [10, 100] {
        partitions_startup(rt, runs, topics);
    }
}

/// Startup with `topics` x 100 partitions: after a clean stop and after kill -9, with the
/// descriptors and RSS the broker then holds.
fn partitions_startup(rt: &tokio::runtime::Runtime, runs: usize, topics: usize) {
    let n = topics * 100;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_str().expect("utf-8 path").to_string();
    let stop = |mut s: Server| {
        // SIGTERM: a clean stop. SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(s.pid() as i32, libc::SIGTERM);
        }
        let _ = s.child.wait();
    };
    let s = Server::brokk(&["--data-dir", &path]);
    let t = Instant::now();
    for chunk in 0..topics.div_ceil(10) {
        rt.block_on(raw::create_topics(
            s.addr,
            chunk * 10,
            (chunk * 10 + 10).min(topics),
            100,
        ));
    }
    let created = t.elapsed().as_secs_f64();
    stop(s);
    let mut clean = vec![];
    for _ in 0..runs.max(3) {
        let s = Server::brokk(&["--data-dir", &path]);
        clean.push(s.startup.as_secs_f64() * 1e3);
        stop(s);
    }
    let s = Server::brokk(&["--data-dir", &path]);
    let (rss, fds, maps) = (s.rss_mb(), s.open_fds(), s.mappings());
    drop(s); // SIGKILL: the next start recovers
    let s = Server::brokk(&["--data-dir", &path]);
    println!(
        "{n} partitions: created in {created:.1} s; startup after a clean stop {:.1} ms (median of {}), after kill -9 {:.1} ms; idle RSS {rss:.1} MB, {fds} open fds, {maps} memory mappings",
        median(clean.clone()),
        clean.len(),
        s.startup.as_secs_f64() * 1e3,
    );
}

fn connections_section(rt: &tokio::runtime::Runtime, target: &Target, peer: Option<&Target>, runs: usize) {
    const CONNS: usize = 1000;
    const PER_CONN: usize = 20;
    println!(
        "\n## {CONNS} connections, each sending {PER_CONN} acks=1 Produce requests of one 100 B record, one at a time"
    );
    let addr = bootstrap_addr(target);
    for (who, t) in [("brokk", Some(target)), ("kafka", peer)] {
        let Some(t) = t else { continue };
        rt.block_on(raw::ensure_topic(bootstrap_addr(t), "conns"));
        if let Some(s) = &t.server {
            let before = s.rss_mb();
            let idle = rt.block_on(scale::idle_connections(bootstrap_addr(t), CONNS));
            let after = s.rss_mb();
            println!(
                "{who} RSS with {CONNS} idle connections: {after:.1} MB ({:.1} KB per connection; {} open fds)",
                (after - before) * 1024.0 / CONNS as f64,
                s.open_fds()
            );
            drop(idle);
        }
    }
    let sink = Server::sink(4, 1, 8);
    let run = |a: std::net::SocketAddr| {
        let rs: Vec<scale::ConnResult> = (0..runs)
            .map(|_| rt.block_on(scale::connections(a, "conns", 4, CONNS, PER_CONN)))
            .collect();
        let m = |f: fn(&scale::ConnResult) -> f64| median(rs.iter().map(f).collect());
        (
            m(|r| r.requests_per_sec),
            m(|r| r.p50_us),
            m(|r| r.p99_us),
            m(|r| r.max_us),
        )
    };
    let b = run(addr);
    let k = peer.map(|p| run(bootstrap_addr(p)));
    let s = run(sink.addr);
    println!(
        "{:<10} {:>12} {:>9} {:>9} {:>9}",
        "", "requests/s", "p50 us", "p99 us", "max us"
    );
    println!("{:<10} {:>12.0} {:>9.0} {:>9.0} {:>9.0}", "brokk", b.0, b.1, b.2, b.3);
    if let Some(k) = k {
        println!("{:<10} {:>12.0} {:>9.0} {:>9.0} {:>9.0}", "kafka", k.0, k.1, k.2, k.3);
        println!("brokk / kafka: {:.2}", b.0 / k.0);
    }
    println!("{:<10} {:>12.0} {:>9.0} {:>9.0} {:>9.0}", "sink", s.0, s.1, s.2, s.3);
    println!("brokk / sink: {:.2}", b.0 / s.0);
}

fn memory_section(rt: &tokio::runtime::Runtime, target: &Target) {
    let Some(server) = &target.server else { return };
    let gb: usize = env_or("LOAD_READ_GB", 10);
    println!("\n## Memory while one consumer reads a {gb} GB partition from offset 0 (raw Fetch, 16 MiB responses)");
    let addr = bootstrap_addr(target);
    let topic = "bigread".to_string();
    rt.block_on(raw::ensure_topic(addr, &topic));
    let (written, secs) = rt.block_on(raw::produce(addr, &topic, 1, 1024, gb << 30, 1, 8, 1_000_000));
    println!(
        "written: {:.1} GB at {:.0} MB/s",
        written as f64 / 1e9,
        written as f64 / 1e6 / secs
    );
    let idle_anon = procs::status_kb(server.pid(), "RssAnon:") / 1024.0;
    let r = rt.block_on(scale::read_back(addr, server.pid(), &topic, 16 << 20));
    println!(
        "read at {:.0} MB/s; brokk RssAnon before {idle_anon:.0} MB, peak {:.0} MB; RssFile peak {:.0} MB",
        r.mb_per_sec, r.peak_anon_mb, r.peak_file_mb
    );
    rt.block_on(raw::delete_topics(addr, &[topic]));
}

fn run_sink(args: &[String]) {
    let partitions: i32 = args.first().and_then(|v| v.parse().ok()).unwrap_or(4);
    let records: i64 = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(1);
    let size: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(8);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let log = sink::SinkLog::new(records, size);
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        eprintln!("sink listening on {}", l.local_addr().expect("addr"));
        sink::serve(l, partitions, log).await;
    });
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--sink") {
        return run_sink(&args[1..]);
    }
    let mb: usize = env_or("LOAD_MB", 128);
    let runs: usize = env_or("LOAD_RUNS", 1).max(1);
    let secs: f64 = env_or("LOAD_LATENCY_SECS", 5.0);
    let sections: String = env_or(
        "LOAD_SECTIONS",
        "throughput,raw,latency,connections,perftools,memory,fsync,startup".to_string(),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let target = match std::env::var("LOAD_BOOTSTRAP") {
        Ok(b) => Target {
            server: None,
            bootstrap: b,
        },
        Err(_) => Target::spawned(Server::brokk(&["--ephemeral", "--override", "num.partitions=4"])),
    };
    // The peer: the reference Kafka at its shipped defaults, with the setting brokk's target
    // has (4 partitions per auto-created topic); off with LOAD_KAFKA=0 or an external target.
    let with_peer = env_or("LOAD_KAFKA", 1) == 1 && target.server.is_some();
    let peer = if with_peer {
        Server::kafka(&[("num.partitions", "4")]).map(Target::spawned)
    } else {
        None
    };
    match (&peer, with_peer) {
        (Some(_), _) => println!(
            "# peer: Apache Kafka {} (shipped server.properties and JVM flags, num.partitions=4)",
            procs::KAFKA_VERSION
        ),
        (None, true) => println!("# peer: none (no Kafka distribution here: run compat/prereqs.sh)"),
        (None, false) => {}
    }
    let loopback = median((0..3).map(|_| rt.block_on(loopback_mb_s(mb << 20))).collect());
    println!(
        "# brokk load suite: {mb} MB per row, median of {runs} run(s); loopback TCP ceiling {loopback:.0} MB/s (1 MiB writes)"
    );
    let mut peak = None;
    if sections.contains("throughput") {
        peak = throughput(&rt, &target, peer.as_ref(), mb, runs, loopback);
    }
    if sections.contains("raw") {
        raw_section(&rt, &target, peer.as_ref(), mb, runs, loopback);
    }
    if sections.contains("latency") {
        latency_section(&rt, &target, peer.as_ref(), peak, secs);
    }
    if sections.contains("connections") {
        connections_section(&rt, &target, peer.as_ref(), runs);
    }
    if sections.contains("perftools") {
        perftools::section(&target, peer.as_ref(), mb, runs);
    }
    if let Some(s) = &target.server {
        println!("\nbrokk peak RSS over the run: {:.0} MB", s.peak_rss_mb());
    }
    if let Some(s) = peer.as_ref().and_then(|p| p.server.as_ref()) {
        println!("kafka peak RSS over the run: {:.0} MB", s.peak_rss_mb());
    }
    drop(peer);
    if sections.contains("memory") && target.server.is_some() {
        memory_section(&rt, &target);
    }
    if sections.contains("fsync") && target.server.is_some() {
        fsync_section(&rt, runs, with_peer);
    }
    if sections.contains("startup") && target.server.is_some() {
        startup_section(&rt, runs);
    }
}
