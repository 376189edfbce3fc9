//! What DescribeConfigs, AlterConfigs and IncrementalAlterConfigs share: resource types,
//! the checks Kafka's broker makes on resource names and on a request's shape before
//! anything is changed, and the incremental operations on a set of configs.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::ResponseError;

pub const TOPIC: i8 = 2;
pub const BROKER: i8 = 4;
pub const BROKER_LOGGER: i8 = 8;
pub const CLIENT_METRICS: i8 = 16;
pub const GROUP: i8 = 32;

/// DescribeConfigs' config sources.
pub const SOURCE_TOPIC: i8 = 1;
pub const SOURCE_DYNAMIC_BROKER: i8 = 2;
pub const SOURCE_DYNAMIC_DEFAULT_BROKER: i8 = 3;
pub const SOURCE_STATIC_BROKER: i8 = 4;
pub const SOURCE_DEFAULT: i8 = 5;
pub const SOURCE_BROKER_LOGGER: i8 = 6;

/// IncrementalAlterConfigs operations.
pub const OP_SET: i8 = 0;
pub const OP_DELETE: i8 = 1;
pub const OP_APPEND: i8 = 2;
pub const OP_SUBTRACT: i8 = 3;

/// A per-resource failure: code and message (`None`: Kafka sends no message).
pub type ResourceError = (ResponseError, Option<String>);

pub fn err(code: ResponseError, msg: impl Into<String>) -> ResourceError {
    (code, Some(msg.into()))
}

/// Kafka's `Topic.validate` reason for an illegal topic name, as DescribeConfigs and the
/// controller word it ("Topic name is invalid: <reason>").
pub fn invalid_topic_name(name: &str) -> Option<String> {
    let reason = if name.is_empty() {
        "the empty string is not allowed".to_string()
    } else if name == "." {
        "'.' is not allowed".to_string()
    } else if name == ".." {
        "'..' is not allowed".to_string()
    } else if name.len() > 249 {
        format!("the length of '{name}' is longer than the max allowed length 249")
    } else if !name
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'-')
    {
        format!("'{name}' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'")
    } else {
        return None;
    };
    Some(format!("Topic name is invalid: {reason}"))
}

/// A broker resource name: `Ok(None)` for "" (the cluster-wide default), `Ok(Some(()))`
/// for this broker's id (Java's `Integer.parseInt` rules), else Kafka's errors.
pub fn broker_name(name: &str, node_id: i32, describe: bool) -> Result<Option<()>, ResourceError> {
    if name.is_empty() {
        return Ok(None);
    }
    let what = if describe { "Broker id" } else { "Node id" };
    let id: i32 = name.parse().map_err(|_| {
        err(
            ResponseError::InvalidRequest,
            format!("{what} must be an integer, but it is: {name}"),
        )
    })?;
    if id != node_id {
        return Err(err(
            ResponseError::InvalidRequest,
            if describe {
                format!("Unexpected broker id, expected {node_id} or empty string, but received {name}")
            } else {
                format!("Unexpected broker id, expected {node_id}, but received {name}")
            },
        ));
    }
    Ok(Some(()))
}

/// The resources of an Alter request that appear more than once (by type and name):
/// every copy gets "Each resource must appear at most once.".
pub fn duplicate_resources<'a>(keys: impl Iterator<Item = (i8, &'a str)>) -> Vec<bool> {
    let keys: Vec<_> = keys.collect();
    let mut count: HashMap<(i8, &str), usize> = HashMap::new();
    for k in &keys {
        *count.entry(*k).or_default() += 1;
    }
    keys.iter().map(|k| count[k] > 1).collect()
}

pub fn duplicate_resource_error() -> ResourceError {
    err(ResponseError::InvalidRequest, "Each resource must appear at most once.")
}

/// Kafka's per-resource shape checks, in its order: duplicate config names, then null
/// values (`nulls`: the names whose null value is not allowed).
pub fn check_shape<'a>(names: impl Iterator<Item = &'a str>, nulls: Vec<&str>) -> Result<(), ResourceError> {
    let mut seen = std::collections::HashSet::new();
    if !names.into_iter().all(|n| seen.insert(n)) {
        return Err(err(ResponseError::InvalidRequest, "Error due to duplicate config keys"));
    }
    if !nulls.is_empty() {
        return Err(err(
            ResponseError::InvalidRequest,
            format!("Null value not supported for : {}", nulls.join(", ")),
        ));
    }
    Ok(())
}

/// One incremental operation on a config set.
#[derive(Debug, Clone)]
pub struct Op {
    pub name: String,
    pub op: i8,
    pub value: Option<String>,
}

/// Applies `ops` to `current`. `list_base(key)` is `Some(default)` for LIST-typed keys
/// (the value APPEND and SUBTRACT start from when the key is not set), `None` for others,
/// which get `not_list(key, op name)`'s error.
pub fn apply_ops(
    current: &BTreeMap<String, String>,
    ops: &[Op],
    list_base: impl Fn(&str) -> Option<String>,
    not_list: impl Fn(&str, &str) -> ResourceError,
) -> Result<BTreeMap<String, String>, ResourceError> {
    let mut next = current.clone();
    for o in ops {
        match o.op {
            OP_SET => {
                next.insert(o.name.clone(), o.value.clone().unwrap_or_default());
            }
            OP_DELETE => {
                next.remove(&o.name);
            }
            OP_APPEND | OP_SUBTRACT => {
                let verb = if o.op == OP_APPEND { "APPEND" } else { "SUBTRACT" };
                let Some(default) = list_base(&o.name) else {
                    return Err(not_list(&o.name, verb));
                };
                let base = next.get(&o.name).cloned().unwrap_or(default);
                let mut items: Vec<String> = base
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                for v in o.value.as_deref().unwrap_or_default().split(',').map(str::trim) {
                    if o.op == OP_APPEND {
                        if !v.is_empty() && !items.iter().any(|i| i == v) {
                            items.push(v.to_string());
                        }
                    } else if let Some(at) = items.iter().position(|i| i == v) {
                        items.remove(at);
                    }
                }
                next.insert(o.name.clone(), items.join(","));
            }
            // Kafka 4.1 has no check for it and fails on the missing operation:
            // UNKNOWN_SERVER_ERROR without a message.
            _ => return Err((ResponseError::UnknownServerError, None)),
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(name: &str, op: i8, v: &str) -> Op {
        Op {
            name: name.into(),
            op,
            value: Some(v.into()),
        }
    }

    #[test]
    fn append_and_subtract_merge_lists() {
        let base = |k: &str| (k == "cleanup.policy").then(|| "delete".to_string());
        let not_list = |k: &str, v: &str| err(ResponseError::InvalidConfig, format!("{v} {k}"));
        let cur = BTreeMap::new();
        let n = apply_ops(&cur, &[op("cleanup.policy", OP_APPEND, "compact")], base, not_list).unwrap();
        assert_eq!(n["cleanup.policy"], "delete,compact");
        let n = apply_ops(&n, &[op("cleanup.policy", OP_SUBTRACT, "delete")], base, not_list).unwrap();
        assert_eq!(n["cleanup.policy"], "compact");
        let n = apply_ops(&n, &[op("cleanup.policy", OP_SUBTRACT, "compact")], base, not_list).unwrap();
        assert_eq!(n["cleanup.policy"], "");
        assert!(apply_ops(&n, &[op("retention.ms", OP_APPEND, "1")], base, not_list).is_err());
        let n = apply_ops(
            &n,
            &[op("retention.ms", OP_SET, "1"), op("cleanup.policy", OP_DELETE, "")],
            base,
            not_list,
        )
        .unwrap();
        assert_eq!(n.len(), 1);
    }

    #[test]
    fn names_and_shapes() {
        assert_eq!(broker_name("", 0, true), Ok(None));
        assert_eq!(broker_name("+0", 0, true), Ok(Some(())));
        assert!(broker_name("1", 0, true).is_err());
        assert!(
            broker_name("x", 0, false)
                .unwrap_err()
                .1
                .unwrap()
                .starts_with("Node id")
        );
        assert_eq!(
            duplicate_resources([(2, "a"), (2, "b"), (2, "a"), (4, "a")].into_iter()),
            vec![true, false, true, false]
        );
        assert!(check_shape(["a", "a"].into_iter(), vec![]).is_err());
        assert_eq!(
            check_shape(["a", "b"].into_iter(), vec!["a", "b"])
                .unwrap_err()
                .1
                .unwrap(),
            "Null value not supported for : a, b"
        );
        assert_eq!(
            invalid_topic_name("a b").unwrap(),
            "Topic name is invalid: 'a b' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"
        );
        assert!(invalid_topic_name("ok-topic").is_none());
    }
}
