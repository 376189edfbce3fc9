//! The `brokk` binary: parse flags into a Config, init tracing, start the broker, serve
//! until Ctrl-C / SIGTERM, then shut down cleanly (flush, clean-shutdown marker).

use std::path::PathBuf;
use std::process::ExitCode;

use brokk::config::{Config, DataDir, parse_host_port};
use clap::Parser;

/// A Kafka wire-protocol-compatible message broker.
///
/// Precedence: defaults < --config file < --override < the other flags.
#[derive(Debug, Parser)]
#[command(name = "brokk", version)]
struct Args {
    /// Address to listen on (PLAINTEXT). Port 0 picks a free port.
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// Data directory (created if missing) [default: ./brokk-data].
    #[arg(long, value_name = "DIR", conflicts_with = "ephemeral")]
    data_dir: Option<PathBuf>,
    /// Address clients are told to connect to (Metadata) [default: the listen address].
    #[arg(long, value_name = "HOST:PORT")]
    advertised_listener: Option<String>,
    /// A Kafka server.properties file (Kafka's key names: listeners, advertised.listeners,
    /// log.dirs, num.partitions, auto.create.topics.enable, log.retention.ms|hours|bytes,
    /// log.segment.bytes, message.max.bytes, log.flush.interval.messages, ...).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Set one server.properties key (repeatable), e.g. --override log.flush.interval.messages=1
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Use a temporary data directory that is removed on exit (for integration tests).
    #[arg(long)]
    ephemeral: bool,
}

fn build_config(args: &Args) -> Result<Config, String> {
    let mut c = Config::default();
    if let Some(f) = &args.config {
        c.apply_file(f)?;
    }
    for o in &args.overrides {
        c.apply_override(o)?;
    }
    if let Some(l) = &args.listen {
        parse_host_port(l).map_err(|e| format!("--listen: {e}"))?;
        c.listen = l.clone();
    }
    if let Some(a) = &args.advertised_listener {
        c.advertised = Some(parse_host_port(a).map_err(|e| format!("--advertised-listener: {e}"))?);
    }
    if let Some(d) = &args.data_dir {
        c.data_dir = DataDir::Path(d.clone());
        c.extra_log_dirs.clear();
    }
    // A failed metadata log dir (or every log dir) halts the process, as Kafka.
    c.halt_on_log_dir_failure = true;
    if args.ephemeral {
        c.data_dir = DataDir::Ephemeral;
    }
    c.validate()?;
    Ok(c)
}

/// Installs the SIGINT/SIGTERM handlers *before* the broker announces itself (a signal
/// sent right after the "listening" line must still mean a clean stop). The returned
/// receiver flips on the first signal; a second signal exits at once (a stuck shutdown can
/// still be interrupted), as does a signal during start-up (recovery is idempotent).
fn shutdown_signals() -> std::io::Result<tokio::sync::watch::Receiver<bool>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        for n in 0.. {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            if n > 0 {
                eprintln!("brokk: second signal, exiting without a clean shutdown");
                std::process::exit(130);
            }
            let _ = tx.send(true);
        }
    });
    Ok(rx)
}

/// Raises the open-file soft limit to the hard limit (each segment holds file handles), as
/// Kafka deployments do with `ulimit -n`.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match build_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("brokk: {e}");
            return ExitCode::from(2);
        }
    };
    brokk::logging::install();
    raise_fd_limit();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("brokk: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let mut signals = match shutdown_signals() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("brokk: cannot install signal handlers: {e}");
                return ExitCode::FAILURE;
            }
        };
        let started = tokio::select! {
            r = brokk::Broker::builder().config(config).start() => r,
            _ = signals.changed() => {
                eprintln!("brokk: interrupted during start-up");
                std::process::exit(130);
            }
        };
        let running = match started {
            Ok(r) => r,
            Err(e) => {
                eprintln!("brokk: {e}");
                return ExitCode::FAILURE;
            }
        };
        let _ = signals.changed().await;
        tracing::info!("shutting down");
        match running.shutdown().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("brokk: unclean shutdown: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
