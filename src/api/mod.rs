//! API handlers: one file per API family. A handler is
//! `async fn handle(broker, request, version) -> response`; it never sees a socket and
//! translates wire types to domain calls (`log/`).

pub mod api_versions;
pub mod create_topics;
pub mod delete_topics;
pub mod errors;
pub mod fetch;
pub mod list_offsets;
pub mod metadata;
pub mod produce;

use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;

/// A `TopicName` from a `&str`.
pub fn topic_name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// An optional error message for a response.
pub fn message(s: impl Into<String>) -> Option<StrBytes> {
    Some(StrBytes::from_string(s.into()))
}
