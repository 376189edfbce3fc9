//! Network layer: the accept loop, per-connection tasks, shutdown and drain.
//!
//! Owns: sockets and frames. Ends where a decoded request exists (`dispatch`). Must not
//! know storage details.

pub mod codec;
pub mod connection;
pub mod dispatch;
mod shared_buf;

use std::sync::Arc;

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
}

/// Accepts connections until `shutdown` fires, then waits for open connections to finish
/// their current request and close.
pub async fn serve(listener: TcpListener, broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let b = broker.clone();
                    let sd = shutdown.clone();
                    conns.spawn(async move { connection::run(stream, peer, b, sd).await });
                    while conns.try_join_next().is_some() {}
                }
                Err(e) => {
                    // EMFILE and friends: keep serving existing connections.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::task::yield_now().await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}
