//! The cleaner's dynamic broker settings: Kafka's `LogCleaner.ReconfigurableConfigs`,
//! altered on a BROKER resource (cluster-wide or this broker) and read at every round, so a
//! change reaches the next round (and the thread count the cleaner's supervisor, at once).
//!
//! `log.cleaner.io.buffer.size` and `log.cleaner.io.buffer.load.factor` are checked and
//! stored but change nothing: brokk's cleaner reads segments through their mappings and its
//! key map is exact (no hash table to load).

use super::CleanerConfig;
use crate::log::manager::broker_defaults::DynamicDefaults;

/// The keys Kafka lets AlterConfigs change on a running broker.
pub const DYNAMIC_KEYS: [&str; 6] = [
    "log.cleaner.threads",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.buffer.load.factor",
    "log.cleaner.io.buffer.size",
    "log.cleaner.io.max.bytes.per.second",
    "log.cleaner.backoff.ms",
];

fn invalid(key: &str, v: &str, why: &str) -> String {
    format!("Invalid value {v} for configuration {key}: {why}")
}

fn number<T: std::str::FromStr>(key: &str, v: &str, ty: &str) -> Result<T, String> {
    v.trim()
        .parse()
        .map_err(|_| invalid(key, v, &format!("Not a number of type {ty}")))
}

impl CleanerConfig {
    /// These settings with the dynamic levels applied (cluster, then this broker), with
    /// Kafka's ConfigDef checks and messages.
    pub fn with_dynamic(&self, d: &DynamicDefaults) -> Result<Self, String> {
        let mut c = self.clone();
        for level in [&d.cluster, &d.broker] {
            for (k, v) in level {
                match k.as_str() {
                    "log.cleaner.threads" => {
                        let n: i32 = number(k, v, "INT")?;
                        c.threads = usize::try_from(n).map_err(|_| invalid(k, v, "Value must be at least 0"))?;
                    }
                    "log.cleaner.backoff.ms" => {
                        let n: i64 = number(k, v, "LONG")?;
                        c.backoff_ms = u64::try_from(n).map_err(|_| invalid(k, v, "Value must be at least 0"))?;
                    }
                    "log.cleaner.dedupe.buffer.size" => {
                        let n: i64 = number(k, v, "LONG")?;
                        c.dedupe_buffer_size = usize::try_from(n).unwrap_or(0);
                    }
                    "log.cleaner.io.buffer.size" if number::<i32>(k, v, "INT")? < 0 => {
                        return Err(invalid(k, v, "Value must be at least 0"));
                    }
                    "log.cleaner.io.buffer.load.factor" => {
                        number::<f64>(k, v, "DOUBLE")?;
                    }
                    "log.cleaner.io.max.bytes.per.second" => {
                        c.io_max_bytes_per_second = number(k, v, "DOUBLE")?;
                        // As brokk's static setting: a rate of 0 or less would stop cleaning.
                        if c.io_max_bytes_per_second.is_nan() || c.io_max_bytes_per_second <= 0.0 {
                            return Err(invalid(k, v, "Value must be above 0"));
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(c)
    }

    /// Kafka's `LogCleaner.validateReconfiguration` for a change from `current`.
    pub fn validate_change(&self, current: &Self) -> Result<(), String> {
        let (n, cur) = (self.threads, current.threads);
        if n < 1 {
            return Err("Log cleaner threads should be at least 1".into());
        }
        if n < cur / 2 {
            return Err(format!(
                "Log cleaner threads cannot be reduced to less than half the current value {cur}"
            ));
        }
        if n > cur.saturating_mul(2) {
            return Err(format!(
                "Log cleaner threads cannot be increased to more than double the current value {cur}"
            ));
        }
        Ok(())
    }

    /// Kafka's KafkaConfig requirement: every thread's share of the key-map memory is more
    /// than 1 MiB.
    pub fn check_dedupe_per_thread(&self) -> Result<(), String> {
        if self.dedupe_buffer_size / self.threads.max(1) <= 1 << 20 {
            return Err("log.cleaner.dedupe.buffer.size must be at least 1MB per cleaner thread.".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dynamic(cluster: &[(&str, &str)], broker: &[(&str, &str)]) -> DynamicDefaults {
        let m = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        DynamicDefaults {
            cluster: m(cluster),
            broker: m(broker),
        }
    }

    #[test]
    fn dynamic_levels_and_kafka_checks() {
        let base = CleanerConfig::default();
        let c = base
            .with_dynamic(&dynamic(
                &[("log.cleaner.threads", "2"), ("log.cleaner.backoff.ms", "50")],
                &[
                    ("log.cleaner.threads", "3"),
                    ("log.cleaner.io.max.bytes.per.second", "1e6"),
                ],
            ))
            .unwrap();
        assert_eq!((c.threads, c.backoff_ms, c.io_max_bytes_per_second), (3, 50, 1e6));
        assert_eq!(
            c.validate_change(&base).unwrap_err(),
            "Log cleaner threads cannot be increased to more than double the current value 1"
        );
        let bad = base
            .with_dynamic(&dynamic(&[("log.cleaner.threads", "x")], &[]))
            .unwrap_err();
        assert_eq!(
            bad,
            "Invalid value x for configuration log.cleaner.threads: Not a number of type INT"
        );
        let four = CleanerConfig {
            threads: 4,
            ..base.clone()
        };
        let one = CleanerConfig {
            threads: 1,
            ..base.clone()
        };
        assert_eq!(
            one.validate_change(&four).unwrap_err(),
            "Log cleaner threads cannot be reduced to less than half the current value 4"
        );
        let zero = CleanerConfig {
            threads: 0,
            ..base.clone()
        };
        assert_eq!(
            zero.validate_change(&base).unwrap_err(),
            "Log cleaner threads should be at least 1"
        );
    }
}
