//! ApiVersions (key 18): the advertised table is generated from `dispatch::SUPPORTED`, so
//! brokk never advertises an API it does not implement.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::{ApiVersion, FinalizedFeatureKey, SupportedFeatureKey};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::server::dispatch::{SUPPORTED, advertised};

fn api_version(key: ApiKey, min: i16, max: i16) -> ApiVersion {
    ApiVersion::default()
        .with_api_key(key as i16)
        .with_min_version(min)
        .with_max_version(max)
}

/// Features brokk supports (name, min, max), as Kafka 4.0 lists them. Transaction version 2
/// (KIP-890 part 2) and group version 1 (KIP-848) are not implemented: their ranges stop
/// below, so clients keep the classic protocols.
pub const SUPPORTED_FEATURES: [(&str, i16, i16); 3] = [
    ("metadata.version", 7, 25),
    ("kraft.version", 0, 0),
    ("transaction.version", 0, 1),
];

/// The finalized `metadata.version` (25 = 4.0-IV3, Kafka 4.0's default). Features at level
/// 0 are not listed, as in Kafka; their epoch is the metadata offset
/// (`log/quorum_state.rs`), as Kafka's is the last applied metadata record's.
pub const METADATA_VERSION: i16 = 25;

/// Kafka's rule for v3+'s client software name and version
/// (`[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`).
fn valid_software_field(s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
}

pub async fn handle(broker: &Broker, req: ApiVersionsRequest, version: i16) -> ApiVersionsResponse {
    let mut resp = ApiVersionsResponse::default();
    if version >= 3
        && !(valid_software_field(&req.client_software_name) && valid_software_field(&req.client_software_version))
    {
        // As Kafka: INVALID_REQUEST and nothing else.
        resp.error_code = ResponseError::InvalidRequest.code();
        return resp;
    }
    resp.api_keys = SUPPORTED
        .iter()
        .map(|(k, r)| {
            let a = advertised(*k, *r);
            api_version(*k, a.min, a.max)
        })
        .collect();
    if version >= 3 {
        // Before v4, Kafka leaves out features whose minimum is 0 (KAFKA-17492).
        resp.supported_features = SUPPORTED_FEATURES
            .iter()
            .filter(|(_, min, max)| *max > 0 && (version >= 4 || *min > 0))
            .map(|(name, min, max)| {
                SupportedFeatureKey::default()
                    .with_name(StrBytes::from_static_str(name))
                    .with_min_version(*min)
                    .with_max_version(*max)
            })
            .collect();
        resp.finalized_features = vec![
            FinalizedFeatureKey::default()
                .with_name(StrBytes::from_static_str("metadata.version"))
                .with_min_version_level(METADATA_VERSION)
                .with_max_version_level(METADATA_VERSION),
        ];
        resp.finalized_features_epoch = broker
            .logs()
            .quorum()
            .metadata_offset
            .load(std::sync::atomic::Ordering::Acquire);
    } else {
        resp.finalized_features_epoch = -1;
    }
    resp
}

/// The answer to an ApiVersions request of a version brokk does not support: error 35 in
/// the v0 shape, listing ApiVersions' own range so the client can downgrade (as Kafka).
pub fn unsupported_version() -> ApiVersionsResponse {
    let mut resp = ApiVersionsResponse::default();
    resp.error_code = ResponseError::UnsupportedVersion.code();
    resp.api_keys = SUPPORTED
        .iter()
        .filter(|(k, _)| *k == ApiKey::ApiVersions)
        .map(|(k, r)| api_version(*k, r.min, r.max))
        .collect();
    resp
}
