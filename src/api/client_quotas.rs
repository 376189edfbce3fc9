//! DescribeClientQuotas (key 48, v0-v1) and AlterClientQuotas (key 49, v0-v1) over the
//! stored quotas (`quotas.rs`), with Kafka 4.0's filter and entity checks and messages.
//! Describe matches EXACT (a name), DEFAULT (the default entity) and SPECIFIED (any name,
//! the default too, as Kafka's code does); `strict` asks for entities with exactly the
//! filter's types. Alter answers once per distinct entity; an entity named twice, or an
//! entry naming one key twice, gets Kafka's "Ignoring duplicate entity" error.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, DescribeClientQuotasRequest, DescribeClientQuotasResponse,
    alter_client_quotas_response, describe_client_quotas_response,
};
use kafka_protocol::protocol::StrBytes;

use super::message;
use crate::broker::Broker;
use crate::quotas::{Entity, render_entity};

const MATCH_EXACT: i8 = 0;
const MATCH_DEFAULT: i8 = 1;
const MATCH_SPECIFIED: i8 = 2;

type Filter = Vec<(String, i8, Option<String>)>;

fn check_filter(req: &DescribeClientQuotasRequest) -> Result<Filter, (ResponseError, String)> {
    let mut out: Filter = vec![];
    for c in &req.components {
        let t = c.entity_type.to_string();
        let m = c._match.as_ref().map(|s| s.to_string());
        let invalid = |msg: String| (ResponseError::InvalidRequest, msg);
        if t.is_empty() {
            return Err(invalid("Invalid empty entity type.".into()));
        }
        if out.iter().any(|(x, _, _)| *x == t) {
            return Err(invalid(format!(
                "Entity type {t} cannot appear more than once in the filter."
            )));
        }
        if !matches!(t.as_str(), "user" | "client-id" | "ip") {
            return Err((
                ResponseError::UnsupportedVersion,
                format!("Unsupported entity type {t}"),
            ));
        }
        match (c.match_type, &m) {
            (MATCH_EXACT, None) => {
                return Err(invalid(
                    "Request specified MATCH_TYPE_EXACT, but set match string to null.".into(),
                ));
            }
            (MATCH_DEFAULT, Some(_)) => {
                return Err(invalid(
                    "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.".into(),
                ));
            }
            (MATCH_SPECIFIED, Some(_)) => {
                return Err(invalid(
                    "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.".into(),
                ));
            }
            (MATCH_EXACT | MATCH_DEFAULT | MATCH_SPECIFIED, _) => {}
            (other, _) => return Err(invalid(format!("Unknown match type {other}"))),
        }
        out.push((t, c.match_type, m));
    }
    let has = |t: &str| out.iter().any(|(x, _, _)| x == t);
    if has("ip") && (has("user") || has("client-id")) {
        return Err((
            ResponseError::InvalidRequest,
            "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.".into(),
        ));
    }
    Ok(out)
}

fn matches(entity: &Entity, filter: &Filter, strict: bool) -> bool {
    if strict && entity.len() != filter.len() {
        return false;
    }
    filter.iter().all(|(t, m, name)| {
        entity.iter().any(|(et, en)| {
            et == t
                && match *m {
                    MATCH_EXACT => en == name,
                    MATCH_DEFAULT => en.is_none(),
                    _ => true,
                }
        })
    })
}

pub async fn describe(
    broker: &Broker,
    req: DescribeClientQuotasRequest,
    _version: i16,
) -> DescribeClientQuotasResponse {
    let mut resp = DescribeClientQuotasResponse::default();
    // Kafka sends an empty message on success, not null.
    resp.error_message = Some(Default::default());
    let filter = match check_filter(&req) {
        Ok(f) => f,
        Err((code, msg)) => {
            resp.error_code = code.code();
            resp.error_message = message(msg);
            resp.entries = None;
            return resp;
        }
    };
    let entries = broker
        .quotas()
        .all()
        .into_iter()
        .filter(|(e, _)| (!filter.is_empty() || !req.strict) && matches(e, &filter, req.strict))
        .map(|(e, values)| {
            let mut d = describe_client_quotas_response::EntryData::default();
            d.entity = e
                .iter()
                .map(|(t, n)| {
                    describe_client_quotas_response::EntityData::default()
                        .with_entity_type(StrBytes::from_string(t.clone()))
                        .with_entity_name(n.clone().map(StrBytes::from_string))
                })
                .collect();
            d.values = values
                .into_iter()
                .map(|(k, v)| {
                    describe_client_quotas_response::ValueData::default()
                        .with_key(StrBytes::from_string(k))
                        .with_value(v)
                })
                .collect();
            d
        })
        .collect();
    resp.entries = Some(entries);
    resp
}

pub async fn alter(broker: &Broker, req: AlterClientQuotasRequest, _version: i16) -> AlterClientQuotasResponse {
    let mut results: BTreeMap<Entity, Option<String>> = BTreeMap::new();
    for entry in &req.entries {
        // Kafka turns the components into a map: a repeated type keeps its last name.
        let mut by_type: BTreeMap<String, Option<String>> = BTreeMap::new();
        for c in &entry.entity {
            by_type.insert(c.entity_type.to_string(), c.entity_name.as_ref().map(|n| n.to_string()));
        }
        let entity: Entity = by_type.into_iter().collect();
        let duplicate = format!("Ignoring duplicate entity {}", render_entity(&entity));
        let mut keys = std::collections::HashSet::new();
        let dup_key = !entry.ops.iter().all(|o| keys.insert(o.key.as_str()));
        let outcome = if dup_key {
            Some(duplicate.clone())
        } else {
            let ops: Vec<(String, Option<f64>)> = entry
                .ops
                .iter()
                .map(|o| (o.key.to_string(), (!o.remove).then_some(o.value)))
                .collect();
            let quotas = broker.quotas().clone();
            let (e, validate_only) = (entity.clone(), req.validate_only);
            tokio::task::spawn_blocking(move || quotas.alter(&e, &ops, validate_only))
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
                .err()
        };
        match results.get_mut(&entity) {
            // The entity was named earlier in this request: that change stands, the answer
            // becomes Kafka's duplicate error.
            Some(r) => *r = Some(duplicate),
            None => {
                results.insert(entity, outcome);
            }
        }
    }
    let mut resp = AlterClientQuotasResponse::default();
    resp.entries = results
        .into_iter()
        .map(|(e, err)| {
            let mut d = alter_client_quotas_response::EntryData::default();
            d.error_code = if err.is_some() {
                ResponseError::InvalidRequest.code()
            } else {
                0
            };
            d.error_message = err.and_then(message);
            d.entity = e
                .into_iter()
                .map(|(t, n)| {
                    alter_client_quotas_response::EntityData::default()
                        .with_entity_type(StrBytes::from_string(t))
                        .with_entity_name(n.map(StrBytes::from_string))
                })
                .collect();
            d
        })
        .collect();
    resp
}
