//! Kafka's metadata records (`metadata/src/main/resources/common/metadata/*.json` in Apache
//! Kafka 4.1), each a struct with Kafka's field names, and their framing in the metadata log.
//!
//! Owns: the records' fields and bytes. Must not apply them (that is `image/`).
//!
//! A record's bytes (the value of a record in a `__cluster_metadata` batch, a snapshot or
//! `bootstrap.checkpoint`; the key is null):
//!
//! ```text
//! frame_version: uvarint (1) | api_key: uvarint | version: uvarint | body (flexible encoding)
//! ```
//!
//! Every record is flexible from version 0: its body ends with a tagged-field section.
//! Unknown tagged fields are skipped when read (Kafka keeps them; brokk writes none).
//! The records brokk does not interpret yet (ACLs, SCRAM credentials, client quotas,
//! delegation tokens, the ZooKeeper migration state) are kept as [`MetadataRecord::Other`]
//! with their bytes; an api key Kafka does not define is an error.

mod broker;
mod cluster;
mod topic;

pub use broker::*;
pub use cluster::*;
pub use topic::*;

pub use super::wire::WireError;
use super::wire::{Reader, Writer};

/// The frame version Kafka writes and reads (0 was KRaft's 2.8 preview, refused).
pub const FRAME_VERSION: u32 = 1;

/// One metadata record type: its api key, the versions brokk reads, its body's bytes.
pub trait RecordBody: Sized {
    const API_KEY: u16;
    /// The newest version (the one brokk writes); every version from 0 is read.
    const VERSION: i16;
    fn write(&self, w: &mut Writer, version: i16);
    fn read(r: &mut Reader<'_>, version: i16) -> Result<Self, WireError>;
}

macro_rules! records {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// A metadata record, decoded.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum MetadataRecord {
            $($variant($ty),)*
            /// A record Kafka defines that brokk keeps only as bytes.
            Other { api_key: u16, version: i16, body: Vec<u8> },
        }

        impl MetadataRecord {
            /// The record's bytes, framed, at the version brokk writes.
            pub fn encode(&self) -> Vec<u8> {
                let mut w = Writer::new();
                w.uvarint(FRAME_VERSION);
                match self {
                    $(MetadataRecord::$variant(r) => {
                        w.uvarint(u32::from(<$ty>::API_KEY)).uvarint(<$ty>::VERSION as u32);
                        r.write(&mut w, <$ty>::VERSION);
                    })*
                    MetadataRecord::Other { api_key, version, body } => {
                        w.uvarint(u32::from(*api_key)).uvarint(*version as u32);
                        w.buf.extend_from_slice(body);
                    }
                }
                w.buf
            }

            /// Reads one framed record; every byte must belong to it.
            pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
                let mut r = Reader::new(bytes);
                match r.uvarint()? {
                    FRAME_VERSION => {}
                    v => return Err(WireError::Malformed(format!("metadata record frame version {v}"))),
                }
                let api_key = r.uvarint()?;
                let version = i16::try_from(r.uvarint()?)
                    .map_err(|_| WireError::Malformed("record version out of range".into()))?;
                let record = match api_key {
                    $(k if k == u32::from(<$ty>::API_KEY) => {
                        if version > <$ty>::VERSION {
                            return Err(WireError::Malformed(format!(
                                "{} version {version} is newer than {}", stringify!($variant), <$ty>::VERSION
                            )));
                        }
                        MetadataRecord::$variant(<$ty>::read(&mut r, version)?)
                    })*
                    k if OTHER_API_KEYS.contains(&k) => MetadataRecord::Other {
                        api_key: k as u16,
                        version,
                        body: r.take(r.remaining())?.to_vec(),
                    },
                    k => return Err(WireError::Malformed(format!("unknown metadata record api key {k}"))),
                };
                r.finish("the metadata record")?;
                Ok(record)
            }
        }
    };
}

records! {
    RegisterBroker(RegisterBrokerRecord),
    UnregisterBroker(UnregisterBrokerRecord),
    Topic(TopicRecord),
    Partition(PartitionRecord),
    Config(ConfigRecord),
    PartitionChange(PartitionChangeRecord),
    FenceBroker(FenceBrokerRecord),
    UnfenceBroker(UnfenceBrokerRecord),
    RemoveTopic(RemoveTopicRecord),
    FeatureLevel(FeatureLevelRecord),
    ProducerIds(ProducerIdsRecord),
    BrokerRegistrationChange(BrokerRegistrationChangeRecord),
    NoOp(NoOpRecord),
    BeginTransaction(BeginTransactionRecord),
    EndTransaction(EndTransactionRecord),
    AbortTransaction(AbortTransactionRecord),
    RegisterController(RegisterControllerRecord),
    ClearElr(ClearElrRecord),
}

/// Kafka's other record api keys: delegation tokens (10, 26), SCRAM credentials (11, 22),
/// client quotas (14), ACLs (18, 19), the ZooKeeper migration state (21).
const OTHER_API_KEYS: [u32; 8] = [10, 11, 14, 18, 19, 21, 22, 26];

/// A known tagged field before the version that defines it is an error, as Kafka's
/// generated readers throw ("Tag N is not valid for version V").
pub(super) fn since(tag: u32, first: i16, version: i16) -> Result<(), WireError> {
    if version < first {
        return Err(WireError::Malformed(format!(
            "tag {tag} is not valid for version {version}"
        )));
    }
    Ok(())
}

/// Reads the tagged-field section; `field(tag, data)` takes the tags the record knows.
pub(super) fn read_tags<'a>(
    r: &mut Reader<'a>,
    mut field: impl FnMut(u32, &'a [u8]) -> Result<(), WireError>,
) -> Result<(), WireError> {
    for (tag, data) in r.tagged()? {
        field(tag, data)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
