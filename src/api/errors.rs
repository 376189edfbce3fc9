//! The one mapping from domain errors to Kafka error codes. No catch-all arms: a new
//! error variant must be mapped here on purpose. Anything unexpected is
//! UNKNOWN_SERVER_ERROR plus an `error!` log with context.

use kafka_protocol::ResponseError;

use crate::log::LogError;
use crate::log::manager::TopicError;

/// Kafka error code for a storage-layer error.
pub fn log_error(e: &LogError) -> ResponseError {
    match e {
        LogError::Io { .. } | LogError::Fenced | LogError::Reopen { .. } | LogError::NoSpace { .. } => {
            ResponseError::KafkaStorageError
        }
        LogError::CorruptBatch(b) if b.is_corruption() => ResponseError::CorruptMessage,
        LogError::CorruptBatch(crate::log::record::batch::BatchError::Undecompressable(_)) => {
            ResponseError::UnknownServerError
        }
        LogError::RecordErrors {
            invalid_timestamp: true,
            ..
        } => ResponseError::InvalidTimestamp,
        LogError::CorruptBatch(_) | LogError::NotOneBatch(_) | LogError::RecordErrors { .. } => {
            ResponseError::InvalidRecord
        }
        LogError::BatchTooLarge { .. } => ResponseError::MessageTooLarge,
        LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        LogError::PartitionDeleted => ResponseError::UnknownTopicOrPartition,
        LogError::InvalidProducerEpoch(_) => ResponseError::InvalidProducerEpoch,
        LogError::OutOfOrderSequence(_) => ResponseError::OutOfOrderSequenceNumber,
        LogError::InvalidTxnState(_) => ResponseError::InvalidTxnState,
        LogError::CoordinatorFenced(_) => ResponseError::TransactionCoordinatorFenced,
        LogError::Invalid(msg) => {
            tracing::error!(error = %msg, "unexpected storage state");
            ResponseError::UnknownServerError
        }
    }
}

/// Kafka error code for a topic administration error.
pub fn topic_error(e: &TopicError) -> ResponseError {
    match e {
        TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
        TopicError::InvalidName(_) => ResponseError::InvalidTopicException,
        TopicError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        TopicError::InvalidConfig(_) => ResponseError::InvalidConfig,
        TopicError::Unknown(_) => ResponseError::UnknownTopicOrPartition,
        TopicError::Log(l) => log_error(l),
    }
}

/// Kafka's error code for a leader's own write made for a client's request
/// (WriteTxnMarkers).
pub fn leader_write_error(e: &crate::replica::leader_write::LeaderWriteError) -> ResponseError {
    use crate::replica::leader_write::LeaderWriteError as W;
    match e {
        W::NotLeader => ResponseError::NotLeaderOrFollower,
        W::NotEnoughReplicas => ResponseError::NotEnoughReplicas,
        W::NotEnoughReplicasAfterAppend => ResponseError::NotEnoughReplicasAfterAppend,
        W::TimedOut => ResponseError::RequestTimedOut,
        W::Log(e) => log_error(e),
    }
}

/// Kafka error code for a group coordinator error.
pub fn group_error(e: &crate::group::GroupError) -> ResponseError {
    use crate::group::GroupError as G;
    match e {
        G::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        G::InvalidGroupId => ResponseError::InvalidGroupId,
        G::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
        G::UnknownMemberId => ResponseError::UnknownMemberId,
        G::MemberIdRequired => ResponseError::MemberIdRequired,
        G::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
        G::GroupMaxSizeReached => ResponseError::GroupMaxSizeReached,
        G::FencedInstanceId => ResponseError::FencedInstanceId,
        G::RebalanceInProgress => ResponseError::RebalanceInProgress,
        G::IllegalGeneration => ResponseError::IllegalGeneration,
        G::NonEmptyGroup => ResponseError::NonEmptyGroup,
        G::GroupIdNotFound => ResponseError::GroupIdNotFound,
        G::GroupSubscribedToTopic => ResponseError::GroupSubscribedToTopic,
        G::OffsetMetadataTooLarge => ResponseError::OffsetMetadataTooLarge,
        G::NotCoordinator => ResponseError::NotCoordinator,
        G::LoadInProgress => ResponseError::CoordinatorLoadInProgress,
        G::CommitTooLarge => ResponseError::InvalidCommitOffsetSize,
        G::ProducerFenced => ResponseError::ProducerFenced,
        // Kafka answers a failed __consumer_offsets append with NOT_COORDINATOR (retriable).
        G::Storage(msg) => {
            tracing::error!(error = %msg, "__consumer_offsets write failed");
            ResponseError::NotCoordinator
        }
    }
}

/// The error code for an optional group error (0 for none).
pub fn group_code(e: Option<&crate::group::GroupError>) -> i16 {
    e.map(|e| group_error(e).code()).unwrap_or(0)
}

/// Kafka error code for a transaction coordinator error. PRODUCER_FENCED exists for the
/// client only from a version on (`fenced_known`); before it Kafka sends
/// INVALID_PRODUCER_EPOCH.
pub fn txn_error(e: &crate::txn::state::TxnError, fenced_known: bool) -> ResponseError {
    use crate::txn::state::TxnError as T;
    match e {
        T::ConcurrentTransactions => ResponseError::ConcurrentTransactions,
        T::InvalidProducerIdMapping => ResponseError::InvalidProducerIdMapping,
        T::ProducerFenced if fenced_known => ResponseError::ProducerFenced,
        T::ProducerFenced => ResponseError::InvalidProducerEpoch,
        T::InvalidTxnState => ResponseError::InvalidTxnState,
        T::InvalidTransactionTimeout => ResponseError::InvalidTransactionTimeout,
        T::NotCoordinator => ResponseError::NotCoordinator,
        T::LoadInProgress => ResponseError::CoordinatorLoadInProgress,
        // Kafka answers a failed transaction-log append with COORDINATOR_NOT_AVAILABLE.
        T::Storage(msg) => {
            tracing::error!(error = %msg, "transaction state write failed");
            ResponseError::CoordinatorNotAvailable
        }
    }
}
