//! The cluster's metadata: Kafka's metadata records (`records`), their encoding (`wire`),
//! reading them from a metadata log or snapshot (`log_reader`), and the image built by
//! applying them in log order (`image`).
//!
//! Metadata flows one way: the controller appends records to the metadata log, every
//! broker applies them to its image, and request handlers read the image. This module is
//! the records and the image; the quorum that orders the records is `controller/`'s.
//!
//! The formats are Kafka's own, so brokk reads a Kafka KRaft node's `__cluster_metadata`
//! log and `bootstrap.checkpoint` (tested against the reference Kafka in
//! `tests/differential`).

pub mod image;
pub mod log_reader;
pub mod log_writer;
pub mod records;
pub mod wire;

pub use image::MetadataImage;
pub use records::MetadataRecord;

/// The metadata log's topic, as Kafka names it.
pub const METADATA_TOPIC: &str = "__cluster_metadata";
/// Its one partition's directory in the metadata log directory.
pub const METADATA_LOG_DIR: &str = "__cluster_metadata-0";
