//! Differential tests (issue 15): the same raw kafka-protocol requests go to the reference
//! Apache Kafka (`reference`: one JVM for this test binary) and to a fresh brokk, and the
//! answers are compared field by field after the normalisation in `normalise` (every
//! allowed difference is listed there with its reason; brokk's deliberate differences are
//! in compat/kafka/FINDINGS.md).
//!
//! Needs the reference Kafka that `compat/prereqs.sh` assembles (the README's test command
//! runs it first). Without it the tests say so and do nothing, unless `BROKK_REQUIRE_KAFKA`
//! is set (CI), where that is a failure.

mod admin;
#[path = "../common/mod.rs"]
mod common;
mod compaction;
mod groups;
mod metadata_log;
mod misc;
mod normalise;
mod pair;
mod records;
mod reference;
mod topics;
mod transactions;
mod versions;

use pair::Pair;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_versions_match_kafka() {
    let Some(mut p) = Pair::new("apiv").await else { return };
    topics::api_versions(&mut p).await;
    p.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_created_described_and_deleted_as_kafka() {
    let Some(mut p) = Pair::new("topics").await else { return };
    topics::metadata_and_create(&mut p).await;
    p.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_produced_fetched_listed_and_deleted_as_kafka() {
    let Some(mut p) = Pair::new("records").await else {
        return;
    };
    records::produce_fetch_offsets(&mut p).await;
    p.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_groups_answer_as_kafka() {
    let Some(mut p) = Pair::new("groups").await else { return };
    groups::classic_group(&mut p).await;
    p.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configs_and_partitions_are_administered_as_kafka() {
    let Some(mut p) = Pair::new("admin").await else { return };
    admin::configs_and_partitions(&mut p).await;
    p.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producers_and_transactions_answer_as_kafka() {
    let Some(mut p) = Pair::new("txn").await else { return };
    transactions::producers(&mut p).await;
    p.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describing_apis_answer_as_kafka() {
    let Some(mut p) = Pair::new("misc").await else { return };
    misc::describing(&mut p).await;
    p.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_by_topic_id_answer_as_kafka() {
    let Some(mut p) = Pair::new("ids").await else { return };
    records::by_topic_id(&mut p).await;
    p.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_version_answers_as_kafka() {
    let Some(mut p) = Pair::new("versions").await else {
        return;
    };
    versions::every_version(&mut p).await;
    versions::group_versions(&mut p).await;
    p.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transaction_version_answers_as_kafka() {
    let Some(mut p) = Pair::new("txnversions").await else {
        return;
    };
    versions::transaction_versions(&mut p).await;
    p.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_version_answers_as_kafka() {
    let Some(mut p) = Pair::new("adminversions").await else {
        return;
    };
    versions::admin_versions(&mut p).await;
    p.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_limits_and_compaction_answer_as_kafka() {
    let Some(mut p) = Pair::new("compaction").await else {
        return;
    };
    compaction::fetch_limits_and_compaction(&mut p).await;
    p.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafkas_metadata_log_reads_as_kafka_answers() {
    let Some(mut p) = Pair::new("mlog").await else {
        return;
    };
    metadata_log::kafka_metadata_log(&mut p).await;
    metadata_log::snapshot_read_by_kafka(&mut p).await;
    p.finish();
}
