//! The vote, durable before any message that depends on it leaves (Raft's `votedFor` and
//! `currentTerm`), in Kafka's `quorum-state` file (version 1, JSON):
//! `{"leaderId":L,"leaderEpoch":E,"votedId":V,"votedDirectoryId":"...","data_version":1}`.
//! openraft's vote maps onto it: the term is the leader epoch; a committed vote names the
//! leader (`leaderId`), an uncommitted one the candidate voted for (`votedId`); -1 for none.
//! Written atomically (temporary file, fsync, rename, directory fsync).

use std::path::Path;

use super::Vote;
use crate::log::LogError;
use crate::log::checkpoint;

pub const FILE: &str = "quorum-state";
/// Kafka writes the zero directory id when a voter has none.
const NO_DIRECTORY: &str = "AAAAAAAAAAAAAAAAAAAAAA";

/// The file's text for `vote`.
pub fn render(vote: &Vote) -> String {
    let id = |v: Option<u64>| v.map_or(-1, |v| v as i64);
    let (leader, voted) = if vote.committed {
        (id(vote.leader_id.voted_for), -1)
    } else {
        (-1, id(vote.leader_id.voted_for))
    };
    serde_json::json!({
        "leaderId": leader,
        "leaderEpoch": vote.leader_id.term,
        "votedId": voted,
        "votedDirectoryId": NO_DIRECTORY,
        "data_version": 1,
    })
    .to_string()
}

/// The vote a `quorum-state` text holds (Kafka's versions 0 and 1).
pub fn parse(text: &str) -> Result<Vote, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let int = |k: &str| v.get(k).and_then(|x| x.as_i64()).ok_or_else(|| format!("no {k}"));
    let term = u64::try_from(int("leaderEpoch")?).map_err(|_| "a negative leaderEpoch".to_string())?;
    let (leader, voted) = (int("leaderId")?, int("votedId")?);
    let mut vote = Vote::default();
    vote.leader_id.term = term;
    if leader >= 0 {
        vote.leader_id.voted_for = Some(leader as u64);
        vote.committed = true;
    } else if voted >= 0 {
        vote.leader_id.voted_for = Some(voted as u64);
    }
    Ok(vote)
}

/// Writes `vote` durably into `dir`.
pub fn save(dir: &Path, vote: &Vote) -> Result<(), LogError> {
    checkpoint::write_atomic(&dir.join(FILE), render(vote))
}

/// The vote saved in `dir`, if any.
pub fn load(dir: &Path) -> Result<Option<Vote>, LogError> {
    let path = dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text)
            .map(Some)
            .map_err(|e| LogError::Invalid(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LogError::io(&path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn votes_round_trip_in_kafkas_format() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        for vote in [Vote::new(3, 2), Vote::new_committed(4, 1), Vote::default()] {
            save(dir.path(), &vote).unwrap();
            assert_eq!(load(dir.path()).unwrap(), Some(vote));
        }
        // Kafka 3.x's version 0 file (a voter that voted for 2 in epoch 5).
        let v0 = r#"{"clusterId":"","leaderId":-1,"leaderEpoch":5,"votedId":2,"appliedOffset":0,"currentVoters":[{"voterId":1},{"voterId":2}],"data_version":0}"#;
        assert_eq!(parse(v0).unwrap(), Vote::new(5, 2));
        assert!(parse("{}").is_err());
    }
}
