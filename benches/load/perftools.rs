//! Kafka's own performance tools against both brokers: `kafka-producer-perf-test` (100 B
//! records, acks=1, linger.ms=5, batch.size=1 MiB, as the throughput rows' producer) and
//! `kafka-consumer-perf-test` (reading them back), from the distribution `compat/prereqs.sh`
//! assembles. Each run is one JVM per tool; the figures are what the tools print.

use std::process::Command;

use super::{Target, median, procs};

/// (records/s, MB/s) from the producer tool's summary line:
/// "N records sent, R records/sec (M MB/sec), ...".
fn producer_summary(out: &str) -> Option<(f64, f64)> {
    let line = out.lines().rev().find(|l| l.contains("records sent"))?;
    let rate = line.split("records sent, ").nth(1)?.split(' ').next()?.parse().ok()?;
    let mb = line.split('(').nth(1)?.split(' ').next()?.parse().ok()?;
    Some((rate, mb))
}

/// fetch.MB.sec (the rate without the group join) from the consumer tool's CSV line.
fn consumer_summary(out: &str) -> Option<f64> {
    let mut lines = out.lines().filter(|l| l.contains(','));
    let header: Vec<&str> = lines.next()?.split(',').map(str::trim).collect();
    let values: Vec<&str> = lines.next()?.split(',').map(str::trim).collect();
    let i = header.iter().position(|h| *h == "fetch.MB.sec")?;
    values.get(i)?.parse().ok()
}

fn tool(home: &std::path::Path, name: &str, args: &[String]) -> String {
    let out = Command::new(home.join(format!("bin/{name}.sh")))
        .args(args)
        .output()
        .expect("run a Kafka perf tool");
    assert!(
        out.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// (producer records/s, producer MB/s, consumer fetch MB/s), medians of `runs`.
fn measure(home: &std::path::Path, t: &Target, records: usize, runs: usize) -> (f64, f64, f64) {
    let (mut rates, mut mbs, mut fetch) = (vec![], vec![], vec![]);
    for run in 0..runs {
        let topic = format!("perftool-{run}");
        let out = tool(
            home,
            "kafka-producer-perf-test",
            &[
                "--topic".into(),
                topic.clone(),
                "--num-records".into(),
                records.to_string(),
                "--record-size".into(),
                "100".into(),
                "--throughput".into(),
                "-1".into(),
                "--producer-props".into(),
                format!("bootstrap.servers={}", t.bootstrap),
                "acks=1".into(),
                "linger.ms=5".into(),
                "batch.size=1048576".into(),
            ],
        );
        let (rate, mb) = producer_summary(&out).expect("the producer tool's summary");
        rates.push(rate);
        mbs.push(mb);
        let out = tool(
            home,
            "kafka-consumer-perf-test",
            &[
                "--bootstrap-server".into(),
                t.bootstrap.clone(),
                "--topic".into(),
                topic,
                "--messages".into(),
                records.to_string(),
                "--group".into(),
                format!("perftool-{run}"),
                "--timeout".into(),
                "60000".into(),
            ],
        );
        fetch.push(consumer_summary(&out).expect("the consumer tool's summary"));
    }
    (median(rates), median(mbs), median(fetch))
}

pub fn section(target: &Target, peer: Option<&Target>, mb: usize, runs: usize) {
    let Some(home) = procs::kafka_home() else {
        println!("\n## Kafka's perf tools: skipped (no Kafka distribution here: run compat/prereqs.sh)");
        return;
    };
    let records = (mb << 20) / 100;
    println!(
        "\n## Kafka {}'s perf tools ({records} records of 100 B; producer acks=1 linger.ms=5 batch.size=1 MiB)",
        procs::KAFKA_VERSION
    );
    println!(
        "{:<10} {:>14} {:>12} {:>16}",
        "server", "produce rec/s", "produce MB/s", "consume fetch MB/s"
    );
    let b = measure(&home, target, records, runs);
    println!("{:<10} {:>14.0} {:>12.2} {:>16.2}", "brokk", b.0, b.1, b.2);
    if let Some(p) = peer {
        let k = measure(&home, p, records, runs);
        println!("{:<10} {:>14.0} {:>12.2} {:>16.2}", "kafka", k.0, k.1, k.2);
        println!("brokk / kafka: produce {:.2}, consume {:.2}", b.1 / k.1, b.2 / k.2);
    }
}
