//! The quorum's server side: the CONTROLLER listener's connections, each a loop of
//! Kafka-framed quorum requests handed to the local Raft node in order and answered in
//! order; Kafka's DescribeQuorum is answered here too (`describe.rs`), and the controller
//! APIs brokers send (BrokerRegistration, BrokerHeartbeat) go to the active controller's
//! side of this node (`controller::active`), and observers (brokers that do not vote) read
//! the committed metadata log with FetchMetadata (`observe.rs`). A request that is none of these, or that does
//! not decode, closes the connection (as Kafka closes one on an unknown API).

use openraft::Raft;
use openraft::error::{InstallSnapshotError, RaftError};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use super::frame::{read_request, write_response};
use super::node::status_of;
use super::observe::{self, FETCH_METADATA, ObserverSource};
use super::rpc::{Request, Response, decode_request, encode_response};
use super::{ControllerNode, NodeId, Quorum, describe};
use crate::controller::active::Controller;

/// How long writing an answer to an observer may take.
const OBSERVER_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The controller APIs' handler, set once the node's controller exists.
pub type ControllerApis = Arc<OnceLock<Arc<Controller>>>;

/// Serves `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    raft: Raft<Quorum>,
    node_id: NodeId,
    voters: BTreeMap<NodeId, ControllerNode>,
    apis: ControllerApis,
    observers: ObserverSource,
    shutdown: watch::Receiver<bool>,
) {
    let voters = Arc::new(voters);
    let mut stop = shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let peer = Peer { raft: raft.clone(), node_id, voters: voters.clone(), apis: apis.clone(), observers: observers.clone() };
                    tokio::spawn(connection(stream, peer, shutdown.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "accepting a controller connection failed"),
            },
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// What one connection's requests are served with.
struct Peer {
    raft: Raft<Quorum>,
    node_id: NodeId,
    voters: Arc<BTreeMap<NodeId, ControllerNode>>,
    apis: ControllerApis,
    observers: ObserverSource,
}

async fn connection(mut stream: TcpStream, peer: Peer, mut shutdown: watch::Receiver<bool>) {
    let Peer {
        raft,
        node_id,
        voters,
        apis,
        observers,
    } = peer;
    loop {
        let frame = tokio::select! {
            f = read_request(&mut stream) => f,
            _ = shutdown.wait_for(|s| *s) => return,
        };
        let frame = match frame {
            Ok(Some(f)) => f,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "closing a controller connection");
                return;
            }
        };
        if frame.api_key == describe::API_KEY {
            let status = status_of(&raft, node_id);
            match describe::serve(&status, node_id, &voters, frame.api_version, &frame.body) {
                Ok(answer) if write_response(&mut stream, frame.correlation_id, &answer).await.is_ok() => continue,
                Ok(_) => return,
                Err(e) => {
                    tracing::debug!(error = %e, "closing a controller connection");
                    return;
                }
            }
        }
        if frame.api_key == FETCH_METADATA {
            let answer = tokio::select! {
                a = observe::serve(&observers, &frame.body) => a,
                _ = shutdown.wait_for(|s| *s) => return,
            };
            match answer {
                Ok(a) => {
                    // An observer that stops reading does not hold the answer forever.
                    let write = write_response(&mut stream, frame.correlation_id, &a);
                    match tokio::time::timeout(OBSERVER_WRITE_TIMEOUT, write).await {
                        Ok(Ok(())) => continue,
                        _ => return,
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "closing an observer's connection");
                    return;
                }
            }
        }
        if let Some(controller) = apis.get()
            && let Some(answer) = controller.serve(frame.api_key, frame.api_version, &frame.body).await
        {
            match answer {
                Ok(a) if write_response(&mut stream, frame.correlation_id, &a).await.is_ok() => continue,
                Ok(_) => return,
                Err(e) => {
                    tracing::debug!(api_key = frame.api_key, error = %e, "closing a controller connection");
                    return;
                }
            }
        }
        let req = match decode_request(frame.api_key, &frame.body) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(api_key = frame.api_key, error = %e, "closing a controller connection: a request brokk's quorum does not know");
                return;
            }
        };
        let resp = handle(&raft, req).await;
        if write_response(&mut stream, frame.correlation_id, &encode_response(&resp))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// The local node's answer to `req`.
pub async fn handle(raft: &Raft<Quorum>, req: Request) -> Response {
    match req {
        Request::AppendEntries(a) => match raft.append_entries(a).await {
            Ok(r) => Response::AppendEntries(r),
            Err(e) => Response::Failed(e.to_string()),
        },
        Request::Vote(v) => match raft.vote(v).await {
            Ok(r) => Response::Vote(r),
            Err(e) => Response::Failed(e.to_string()),
        },
        Request::InstallSnapshot(s) => match raft.install_snapshot(s).await {
            Ok(r) => Response::InstallSnapshot(r),
            Err(RaftError::APIError(InstallSnapshotError::SnapshotMismatch(m))) => Response::SnapshotMismatch(m),
            Err(e) => Response::Failed(e.to_string()),
        },
    }
}
