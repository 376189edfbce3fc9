//! OffsetFetch: committed offsets of one group (v1-v7; all partitions when `topics` is
//! null, v2+) or of several groups (v8+). An unknown group, or a partition without a
//! commit, gives offset -1 and metadata "" with no error, as in Kafka. A partition with a
//! transactional commit pending answers UNSTABLE_OFFSET_COMMIT when `require_stable` (v7+)
//! is set, and its last stable offset otherwise.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse};
use kafka_protocol::protocol::StrBytes;

use super::errors::group_error;
use crate::broker::Broker;
use crate::group::coordinator::Committed;
use crate::group::state::CommittedOffset;

/// One partition's answer: (offset, leader epoch, metadata, error code).
type Answer = (i64, i32, String, i16);

fn answer(o: Option<CommittedOffset>) -> Answer {
    match o {
        Some(o) => (o.offset, o.leader_epoch, o.metadata, 0),
        None => (-1, -1, String::new(), 0),
    }
}

fn stable_answer((_, o, pending): Committed, require_stable: bool) -> Answer {
    if pending && require_stable {
        return (-1, -1, String::new(), ResponseError::UnstableOffsetCommit.code());
    }
    answer(o)
}

/// Fetches one group's offsets grouped by topic, in request order (or sorted for "all").
async fn fetch_group(
    broker: &Broker,
    group: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> Result<Vec<(String, Vec<(i32, Answer)>)>, i16> {
    let wanted = topics.as_ref().map(|ts| {
        ts.iter()
            .flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p)))
            .collect::<Vec<_>>()
    });
    let got = broker
        .groups()
        .committed(group, wanted)
        .await
        .map_err(|e| group_error(&e).code())?;
    let Some(topics) = topics else {
        // All committed partitions, grouped by topic (they come sorted).
        let mut out: Vec<(String, Vec<(i32, Answer)>)> = vec![];
        for c in got {
            let (t, p) = c.0.clone();
            let a = stable_answer(c, require_stable);
            match out.last_mut() {
                Some((name, parts)) if *name == t => parts.push((p, a)),
                _ => out.push((t, vec![(p, a)])),
            }
        }
        return Ok(out);
    };
    // As asked, topic by topic (a topic with no partitions listed comes back empty).
    let mut got = got.into_iter();
    Ok(topics
        .into_iter()
        .map(|(t, ps)| {
            let parts = ps
                .into_iter()
                .map(|p| {
                    let a = got.next().map(|c| stable_answer(c, require_stable));
                    (p, a.unwrap_or_else(|| answer(None)))
                })
                .collect();
            (t, parts)
        })
        .collect())
}

pub async fn handle(broker: &Broker, req: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
    let mut resp = OffsetFetchResponse::default();
    if version >= 8 {
        for g in req.groups {
            let topics = g.topics.map(|ts| {
                ts.into_iter()
                    .map(|t| (t.name.0.to_string(), t.partition_indexes))
                    .collect()
            });
            let mut out = OffsetFetchResponseGroup::default();
            out.group_id = g.group_id.clone();
            match fetch_group(broker, &g.group_id, topics, req.require_stable).await {
                Ok(ts) => {
                    out.topics = ts
                        .into_iter()
                        .map(|(name, parts)| {
                            let mut t = OffsetFetchResponseTopics::default();
                            t.name = super::topic_name(&name);
                            t.partitions = parts
                                .into_iter()
                                .map(|(i, (offset, epoch, meta, code))| {
                                    let mut p = OffsetFetchResponsePartitions::default();
                                    p.error_code = code;
                                    p.partition_index = i;
                                    p.committed_offset = offset;
                                    p.committed_leader_epoch = epoch;
                                    p.metadata = Some(StrBytes::from_string(meta));
                                    p
                                })
                                .collect();
                            t
                        })
                        .collect();
                }
                Err(code) => out.error_code = code,
            }
            resp.groups.push(out);
        }
        return resp;
    }
    let group: GroupId = req.group_id;
    let topics = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes))
            .collect::<Vec<_>>()
    });
    let asked = topics.clone();
    let require_stable = version >= 7 && req.require_stable;
    let (found, err) = match fetch_group(broker, &group, topics, require_stable).await {
        Ok(ts) => (ts, 0),
        // v1 has no top-level error: every asked partition carries it.
        Err(code) => (
            asked
                .unwrap_or_default()
                .into_iter()
                .map(|(t, ps)| (t, ps.into_iter().map(|p| (p, answer(None))).collect()))
                .collect(),
            code,
        ),
    };
    resp.topics = found
        .into_iter()
        .map(|(name, parts)| {
            let mut t = OffsetFetchResponseTopic::default();
            t.name = super::topic_name(&name);
            t.partitions = parts
                .into_iter()
                .map(|(i, (offset, epoch, meta, code))| {
                    let mut p = OffsetFetchResponsePartition::default();
                    p.error_code = code;
                    p.partition_index = i;
                    p.committed_offset = offset;
                    if version >= 5 {
                        p.committed_leader_epoch = epoch;
                    }
                    p.metadata = Some(StrBytes::from_string(meta));
                    if version < 2 {
                        p.error_code = err;
                    }
                    p
                })
                .collect();
            t
        })
        .collect();
    if version >= 2 {
        resp.error_code = err;
    }
    resp
}
