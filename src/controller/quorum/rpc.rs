//! The quorum's messages between controllers (openraft's append-entries, vote and
//! install-snapshot, and their answers), as the bodies of Kafka-framed requests on the
//! CONTROLLER listener under API keys of brokk's own ([`APPEND_ENTRIES`], [`VOTE`],
//! [`INSTALL_SNAPSHOT`]; Kafka's KRaft is pull-based, openraft pushes).
//!
//! Bodies use Kafka's flexible encoding (`metadata::wire`): a vote is `term: i64,
//! voted_for: i32 (-1 none), committed: bool`; a log id `index: i64, term: i64` (-1, -1 for
//! none); entries are record batches exactly as the metadata log stores them
//! (`codec::encode_entry`). An answer starts with `status: i8`: 0 ok and the answer's
//! fields, 1 the receiver failed (a message), 2 a snapshot chunk out of order (the
//! receiver's expected and the received segment).

use openraft::error::SnapshotMismatch;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::{EntryPayload, SnapshotMeta, SnapshotSegmentId};

use super::codec::{decode_entry, decode_membership, encode_entry, encode_membership, get_log_id, put_log_id};
use super::{ControllerNode, NodeId, Quorum, StoredMembership, Vote};
use crate::metadata::wire::{Reader, WireError, Writer, encoded};

pub const APPEND_ENTRIES: i16 = 32_000;
pub const VOTE: i16 = 32_001;
pub const INSTALL_SNAPSHOT: i16 = 32_002;

/// A request one controller sends another.
#[derive(Debug)]
pub enum Request {
    AppendEntries(AppendEntriesRequest<Quorum>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<Quorum>),
}

/// Its answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Response {
    AppendEntries(AppendEntriesResponse<NodeId>),
    Vote(VoteResponse<NodeId>),
    InstallSnapshot(InstallSnapshotResponse<NodeId>),
    /// The receiver expected another snapshot chunk.
    SnapshotMismatch(SnapshotMismatch),
    /// The receiver could not handle the request.
    Failed(String),
}

fn put_vote(w: &mut Writer, v: &Vote) {
    let voted = v.leader_id.voted_for.map_or(-1, |n| n as i32);
    w.i64(v.leader_id.term as i64).i32(voted).bool(v.committed);
}

fn get_vote(r: &mut Reader<'_>) -> Result<Vote, WireError> {
    let term = r.i64()?;
    let voted = r.i32()?;
    let committed = r.bool()?;
    let mut v = Vote::default();
    v.leader_id.term = u64::try_from(term).map_err(|_| WireError::Malformed("a negative term".into()))?;
    v.leader_id.voted_for = u64::try_from(voted).ok();
    v.committed = committed;
    Ok(v)
}

fn put_segment(w: &mut Writer, s: &SnapshotSegmentId) {
    w.string(&s.id).i64(s.offset as i64);
}

fn get_segment(r: &mut Reader<'_>) -> Result<SnapshotSegmentId, WireError> {
    let id = r.string()?;
    let offset = u64::try_from(r.i64()?).map_err(|_| WireError::Malformed("a negative offset".into()))?;
    Ok(SnapshotSegmentId { id, offset })
}

/// The API key and body of `req`.
pub fn encode_request(req: &Request) -> Result<(i16, Vec<u8>), String> {
    Ok(match req {
        Request::AppendEntries(a) => {
            let leader = a.vote.leader_id.voted_for;
            let now = crate::log::now_ms();
            let batches = a
                .entries
                .iter()
                .map(|e| {
                    encode_entry(
                        e,
                        matches!(e.payload, EntryPayload::Blank).then_some(leader).flatten(),
                        now,
                    )
                })
                .collect::<Result<Vec<_>, _>>()?;
            let body = encoded(|w| {
                put_vote(w, &a.vote);
                put_log_id(w, a.prev_log_id);
                put_log_id(w, a.leader_commit);
                w.array(&batches, |w, b| {
                    w.bytes(b);
                });
                w.no_tags();
            });
            (APPEND_ENTRIES, body)
        }
        Request::Vote(v) => (
            VOTE,
            encoded(|w| {
                put_vote(w, &v.vote);
                put_log_id(w, v.last_log_id);
                w.no_tags();
            }),
        ),
        Request::InstallSnapshot(s) => (
            INSTALL_SNAPSHOT,
            encoded(|w| {
                put_vote(w, &s.vote);
                put_log_id(w, s.meta.last_log_id);
                put_log_id(w, *s.meta.last_membership.log_id());
                w.bytes(&encode_membership(s.meta.last_membership.membership()));
                w.string(&s.meta.snapshot_id);
                w.i64(s.offset as i64).bytes(&s.data).bool(s.done);
                w.no_tags();
            }),
        ),
    })
}

/// The request of API `key` in `body`.
pub fn decode_request(key: i16, body: &[u8]) -> Result<Request, String> {
    let mut r = Reader::new(body);
    let req = match key {
        APPEND_ENTRIES => {
            let vote = get_vote(&mut r).map_err(|e| e.to_string())?;
            let prev_log_id = get_log_id(&mut r).map_err(|e| e.to_string())?;
            let leader_commit = get_log_id(&mut r).map_err(|e| e.to_string())?;
            let batches = r.array(1, |r: &mut Reader<'_>| r.bytes()).map_err(|e| e.to_string())?;
            let entries = batches.iter().map(|b| decode_entry(b)).collect::<Result<Vec<_>, _>>()?;
            Request::AppendEntries(AppendEntriesRequest {
                vote,
                prev_log_id,
                entries,
                leader_commit,
            })
        }
        VOTE => Request::Vote(VoteRequest {
            vote: get_vote(&mut r).map_err(|e| e.to_string())?,
            last_log_id: get_log_id(&mut r).map_err(|e| e.to_string())?,
        }),
        INSTALL_SNAPSHOT => {
            let inner = |r: &mut Reader<'_>| -> Result<InstallSnapshotRequest<Quorum>, WireError> {
                let vote = get_vote(r)?;
                let last_log_id = get_log_id(r)?;
                let membership_log_id = get_log_id(r)?;
                let membership = decode_membership(&r.bytes()?)?;
                let snapshot_id = r.string()?;
                let offset = u64::try_from(r.i64()?).map_err(|_| WireError::Malformed("a negative offset".into()))?;
                let data = r.bytes()?;
                let done = r.bool()?;
                Ok(InstallSnapshotRequest {
                    vote,
                    meta: SnapshotMeta::<NodeId, ControllerNode> {
                        last_log_id,
                        last_membership: StoredMembership::new(membership_log_id, membership),
                        snapshot_id,
                    },
                    offset,
                    data,
                    done,
                })
            };
            Request::InstallSnapshot(inner(&mut r).map_err(|e| e.to_string())?)
        }
        other => return Err(format!("API key {other} is not the quorum's")),
    };
    r.tagged().map_err(|e| e.to_string())?;
    r.finish("quorum request").map_err(|e| e.to_string())?;
    Ok(req)
}

/// The body of `resp`.
pub fn encode_response(resp: &Response) -> Vec<u8> {
    encoded(|w| {
        match resp {
            Response::AppendEntries(a) => {
                w.i8(0);
                match a {
                    AppendEntriesResponse::Success => {
                        w.i8(0);
                    }
                    AppendEntriesResponse::PartialSuccess(id) => {
                        w.i8(1);
                        put_log_id(w, *id);
                    }
                    AppendEntriesResponse::Conflict => {
                        w.i8(2);
                    }
                    AppendEntriesResponse::HigherVote(v) => {
                        w.i8(3);
                        put_vote(w, v);
                    }
                }
            }
            Response::Vote(v) => {
                w.i8(0);
                put_vote(w, &v.vote);
                w.bool(v.vote_granted);
                put_log_id(w, v.last_log_id);
            }
            Response::InstallSnapshot(s) => {
                w.i8(0);
                put_vote(w, &s.vote);
            }
            Response::SnapshotMismatch(m) => {
                w.i8(2);
                put_segment(w, &m.expect);
                put_segment(w, &m.got);
            }
            Response::Failed(message) => {
                w.i8(1);
                w.string(message);
            }
        }
        w.no_tags();
    })
}

/// The answer to a request of API `key`.
pub fn decode_response(key: i16, body: &[u8]) -> Result<Response, String> {
    let mut r = Reader::new(body);
    let inner = |r: &mut Reader<'_>| -> Result<Response, WireError> {
        match r.i8()? {
            0 => {}
            1 => return Ok(Response::Failed(r.string()?)),
            2 => {
                let expect = get_segment(r)?;
                let got = get_segment(r)?;
                return Ok(Response::SnapshotMismatch(SnapshotMismatch { expect, got }));
            }
            s => return Err(WireError::Malformed(format!("status {s}"))),
        }
        Ok(match key {
            APPEND_ENTRIES => Response::AppendEntries(match r.i8()? {
                0 => AppendEntriesResponse::Success,
                1 => AppendEntriesResponse::PartialSuccess(get_log_id(r)?),
                2 => AppendEntriesResponse::Conflict,
                3 => AppendEntriesResponse::HigherVote(get_vote(r)?),
                k => return Err(WireError::Malformed(format!("append-entries answer {k}"))),
            }),
            VOTE => Response::Vote(VoteResponse {
                vote: get_vote(r)?,
                vote_granted: r.bool()?,
                last_log_id: get_log_id(r)?,
            }),
            INSTALL_SNAPSHOT => Response::InstallSnapshot(InstallSnapshotResponse { vote: get_vote(r)? }),
            other => return Err(WireError::Malformed(format!("API key {other} is not the quorum's"))),
        })
    };
    let resp = inner(&mut r).map_err(|e| e.to_string())?;
    r.tagged().map_err(|e| e.to_string())?;
    r.finish("quorum answer").map_err(|e| e.to_string())?;
    Ok(resp)
}
