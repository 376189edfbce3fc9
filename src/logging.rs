//! Runtime log levels: Kafka's BROKER_LOGGER resource (DescribeConfigs lists loggers and
//! their levels; IncrementalAlterConfigs sets or clears one). brokk's loggers are its
//! tracing targets (`brokk`, `brokk::log`, ...) plus `root`; a logger without a level of
//! its own inherits its parent's (`brokk::log` from `brokk`, `brokk` from `root`). Levels
//! are Kafka's names; FATAL filters as ERROR. Like Kafka's, they are not persisted.
//!
//! The binary installs the reloadable filter ([`install`]); without it (brokk embedded in
//! a test) levels are still kept and described, and simply filter nothing.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

/// The levels Kafka accepts in a SET (case-sensitive).
pub const LEVELS: [&str; 6] = ["DEBUG", "ERROR", "FATAL", "INFO", "TRACE", "WARN"];

/// brokk's loggers besides `root`.
const LOGGERS: [&str; 8] = [
    "brokk",
    "brokk::api",
    "brokk::broker",
    "brokk::group",
    "brokk::log",
    "brokk::server",
    "brokk::txn",
    "brokk::log::cleaner",
];

type Apply = Box<dyn Fn(&str) + Send + Sync>;

struct State {
    root: String,
    levels: BTreeMap<String, String>,
    /// Directives from `RUST_LOG`, kept under the ones set here.
    base: Option<String>,
    apply: Option<Apply>,
}

fn state() -> &'static Mutex<State> {
    static STATE: OnceLock<Mutex<State>> = OnceLock::new();
    STATE.get_or_init(|| {
        Mutex::new(State {
            root: "INFO".into(),
            levels: BTreeMap::new(),
            base: None,
            apply: None,
        })
    })
}

fn filter_level(kafka: &str) -> &'static str {
    match kafka {
        "TRACE" => "trace",
        "DEBUG" => "debug",
        "INFO" => "info",
        "WARN" => "warn",
        _ => "error",
    }
}

impl State {
    fn directives(&self) -> String {
        let mut d = vec![];
        if let Some(b) = &self.base {
            d.push(b.clone());
        } else {
            d.push(filter_level(&self.root).to_string());
        }
        for (target, level) in &self.levels {
            d.push(format!("{target}={}", filter_level(level)));
        }
        d.join(",")
    }

    fn reapply(&self) {
        if let Some(apply) = &self.apply {
            apply(&self.directives());
        }
    }

    fn effective(&self, logger: &str) -> String {
        let mut name = logger;
        loop {
            if let Some(l) = self.levels.get(name) {
                return l.clone();
            }
            match name.rsplit_once("::") {
                Some((parent, _)) => name = parent,
                None => return self.root.clone(),
            }
        }
    }
}

fn lock() -> std::sync::MutexGuard<'static, State> {
    state().lock().unwrap_or_else(|e| e.into_inner())
}

/// Installs the global subscriber (stderr) with a filter the levels set here can change.
/// `RUST_LOG`, when set, stays the base under them.
pub fn install() {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::{EnvFilter, fmt, reload};
    let base = std::env::var("RUST_LOG").ok().filter(|s| !s.is_empty());
    let initial = base.clone().unwrap_or_else(|| "info".into());
    let (filter, handle) = reload::Layer::new(EnvFilter::try_new(&initial).unwrap_or_else(|_| EnvFilter::new("info")));
    tracing_subscriber::registry()
        .with(filter)
        .with(
            fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .init();
    let mut st = lock();
    st.base = base;
    st.apply = Some(Box::new(move |directives| {
        if let Ok(f) = EnvFilter::try_new(directives) {
            let _ = handle.reload(f);
        }
    }));
}

/// Every logger with its effective level, `root` first.
pub fn describe() -> Vec<(String, String)> {
    let st = lock();
    let mut names: Vec<String> = LOGGERS.iter().map(|s| s.to_string()).collect();
    names.extend(st.levels.keys().cloned());
    names.sort();
    names.dedup();
    let mut out = vec![("root".to_string(), st.root.clone())];
    out.extend(names.into_iter().map(|n| {
        let l = st.effective(&n);
        (n, l)
    }));
    out
}

/// Whether `name` is a logger (Kafka: "Logger <name> does not exist!" otherwise).
pub fn exists(name: &str) -> bool {
    name == "root" || LOGGERS.contains(&name) || lock().levels.contains_key(name)
}

/// Sets `name`'s level (one of [`LEVELS`]; `root` sets the root level).
pub fn set(name: &str, level: &str) {
    let mut st = lock();
    if name == "root" {
        st.root = level.to_string();
        // An explicit root level replaces RUST_LOG's directives.
        st.base = None;
    } else {
        st.levels.insert(name.to_string(), level.to_string());
    }
    st.reapply();
}

/// Clears `name`'s own level: it inherits its parent's again.
pub fn unset(name: &str) {
    let mut st = lock();
    st.levels.remove(name);
    st.reapply();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_inherit_and_clear() {
        set("brokk::group", "DEBUG");
        let d: BTreeMap<_, _> = describe().into_iter().collect();
        assert_eq!(d["brokk::group"], "DEBUG");
        assert_eq!(d["brokk::group"], "DEBUG");
        assert_eq!(d["brokk::txn"], d["root"]);
        unset("brokk::group");
        let d: BTreeMap<_, _> = describe().into_iter().collect();
        assert_eq!(d["brokk::group"], d["root"]);
        assert!(exists("root") && exists("brokk::log") && !exists("kafka.server"));
    }
}
