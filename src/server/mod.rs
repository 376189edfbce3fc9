//! Network layer: the accept loop, per-connection tasks, shutdown and drain.
//!
//! Owns: sockets and frames. Ends where a decoded request exists (`dispatch`). Must not
//! know storage details.

pub mod codec;
pub mod connection;
pub mod dispatch;
mod shared_buf;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::broker::Broker;

/// Why a connection was closed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("frame size {size} outside [0, {max}]")]
    BadSize { size: i32, max: usize },
    #[error("unknown api key {0}")]
    UnknownApiKey(i16),
    #[error("unsupported version {version} of {api}")]
    UnsupportedVersion { api: String, version: i16 },
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("cannot encode response: {0}")]
    Encode(String),
    #[error("timed out: {0}")]
    Timeout(&'static str),
}

/// How long the accept loop pauses when the process is out of file descriptors or memory:
/// the pending connection stays in the listen backlog meanwhile, and the existing ones are
/// served.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one accept-failure warning per this interval (the rest are counted).
const ACCEPT_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// An accept error that says the process or system is out of a resource, so retrying at once
/// only spins: EMFILE, ENFILE, ENOBUFS, ENOMEM.
fn is_resource_exhaustion(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Rate-limits accept-failure warnings.
#[derive(Default)]
struct AcceptErrors {
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl AcceptErrors {
    fn report(&mut self, e: &std::io::Error) {
        let now = Instant::now();
        if self
            .last_logged
            .is_some_and(|t| now.duration_since(t) < ACCEPT_LOG_INTERVAL)
        {
            self.suppressed += 1;
            return;
        }
        tracing::warn!(
            error = %e,
            suppressed = self.suppressed,
            "accept failed; existing connections are still served (further failures are logged at most every 10 s)"
        );
        self.last_logged = Some(now);
        self.suppressed = 0;
    }
}

/// Accepts connections until `shutdown` fires, then waits for open connections to finish
/// their current request and close.
/// `name` is the listener's name (a client is told the brokers' endpoints of it).
pub async fn serve(listener: TcpListener, name: Arc<str>, broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    let mut errors = AcceptErrors::default();
    let memory = broker.request_memory().clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let b = broker.clone();
                    let sd = shutdown.clone();
                    let m = memory.clone();
                    let n = name.clone();
                    conns.spawn(async move { connection::run(stream, peer, n, b, m, sd).await });
                    while conns.try_join_next().is_some() {}
                }
                Err(e) => {
                    errors.report(&e);
                    if is_resource_exhaustion(&e) {
                        // Nothing frees a descriptor sooner than a connection closing; the
                        // pause keeps the loop from spinning (Kafka's acceptor backs off too).
                        tokio::select! {
                            _ = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                            _ = shutdown.changed() => break,
                        }
                    }
                    while conns.try_join_next().is_some() {}
                }
            },
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}
