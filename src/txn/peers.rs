//! Requests from this broker to other brokers' client listeners (Kafka's inter-broker
//! channels): the transaction coordinator's WriteTxnMarkers to partition leaders
//! (`TransactionMarkerChannelManager`) and a partition leader's AddPartitionsToTxn
//! verification with a transaction coordinator (`AddPartitionsToTxnManager`).
//!
//! One connection per broker, found in the metadata image (its PLAINTEXT endpoint),
//! opened on first use, kept while whole exchanges succeed and dropped after a failed one;
//! one exchange at a time per broker. Only flexible versions (response header v1).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::controller::quorum::frame::{read_response, write_request};
use crate::metadata::MetadataImage;

type Slot = Arc<tokio::sync::Mutex<Option<(TcpStream, i32)>>>;

/// This broker's connections to the others.
pub struct Peers {
    client_id: String,
    /// The inter-broker listener's name (`inter.broker.listener.name`).
    listener: String,
    image: watch::Receiver<Arc<MetadataImage>>,
    conns: Mutex<HashMap<i32, Slot>>,
}

impl std::fmt::Debug for Peers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peers").field("client_id", &self.client_id).finish()
    }
}

impl Peers {
    pub fn new(node_id: i32, listener: String, image: watch::Receiver<Arc<MetadataImage>>) -> Self {
        Self {
            client_id: format!("brokk-broker-{node_id}"),
            listener,
            image,
            conns: Mutex::new(HashMap::new()),
        }
    }

    /// The metadata image this broker has applied.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.borrow().clone()
    }

    fn slot(&self, broker: i32) -> Slot {
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(broker)
            .or_default()
            .clone()
    }

    /// Sends `req` (API `key` at `version`, a flexible one) to `broker` and decodes its
    /// answer, within `timeout`.
    pub async fn exchange<R: Decodable>(
        &self,
        broker: i32,
        key: i16,
        version: i16,
        req: &impl Encodable,
        timeout: Duration,
    ) -> Result<R, String> {
        let mut body = BytesMut::new();
        req.encode(&mut body, version).map_err(|e| e.to_string())?;
        let addr = {
            let image = self.image.borrow();
            let b = image.brokers.get(&broker).ok_or("the broker is not registered")?;
            let e = b
                .endpoint(&self.listener)
                .ok_or_else(|| format!("the broker has no {} endpoint", self.listener))?;
            format!("{}:{}", e.host, e.port)
        };
        let slot = self.slot(broker);
        let mut guard = slot.lock().await;
        let deadline = tokio::time::Instant::now() + timeout;
        let (mut stream, mut correlation) = match guard.take() {
            Some(c) => c,
            None => {
                let s = tokio::time::timeout_at(deadline, TcpStream::connect(&addr))
                    .await
                    .map_err(|_| format!("connecting to {addr} timed out"))?
                    .map_err(|e| format!("connecting to {addr}: {e}"))?;
                let _ = s.set_nodelay(true);
                (s, 0)
            }
        };
        correlation = correlation.wrapping_add(1);
        let answer = tokio::time::timeout_at(deadline, async {
            write_request(&mut stream, key, version, correlation, &self.client_id, &body).await?;
            read_response(&mut stream).await
        })
        .await
        .map_err(|_| format!("{addr} did not answer in time"))?
        .map_err(|e| format!("{addr}: {e}"))?;
        if answer.0 != correlation {
            return Err(format!("{addr} answered another request"));
        }
        let decoded = R::decode(&mut Bytes::from(answer.1), version).map_err(|e| e.to_string())?;
        *guard = Some((stream, correlation));
        Ok(decoded)
    }
}
