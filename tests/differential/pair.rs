//! One scenario's two brokers: the shared reference Kafka and a fresh in-process brokk with
//! the same settings ([`super::reference::SHARED`]), each behind a raw connection. Requests
//! go to both; the responses, normalised, must be equal. Differences are collected, so one
//! run shows them all, and reported when the scenario ends ([`Pair::finish`]).

use std::fmt::Debug;
use std::time::Duration;

use kafka_protocol::messages::MetadataRequest;
use kafka_protocol::protocol::Request;

use super::common::{Raw, TestBroker};
use super::reference;

/// Every (API key, version) compared so far in this test binary (all scenarios).
static COVERED: std::sync::Mutex<std::collections::BTreeSet<(i16, i16)>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

fn covered<R: Request>(version: i16) {
    COVERED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert((R::KEY, version));
}

/// The (API, version) pairs brokk serves that no scenario compared yet, as "Name vA-vB".
fn not_covered() -> (usize, usize, Vec<String>) {
    let done = COVERED.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let (mut served, mut compared, mut missing) = (0, 0, vec![]);
    for (key, range) in brokk::server::dispatch::SUPPORTED {
        let mut gaps: Vec<(i16, i16)> = vec![];
        for v in range.min..=range.max {
            served += 1;
            if done.contains(&(*key as i16, v)) {
                compared += 1;
            } else if let Some(last) = gaps.last_mut().filter(|g| g.1 + 1 == v) {
                last.1 = v;
            } else {
                gaps.push((v, v));
            }
        }
        missing.extend(gaps.iter().map(|(a, b)| {
            if a == b {
                format!("{key:?} v{a}")
            } else {
                format!("{key:?} v{a}-{b}")
            }
        }));
    }
    (compared, served, missing)
}

pub struct Pair {
    pub kafka: Raw,
    pub brokk: Raw,
    _broker: TestBroker,
    /// Names topics so that scenarios sharing the reference Kafka never meet.
    prefix: String,
    diffs: Vec<String>,
    /// Request/response pairs compared.
    pub compared: usize,
}

impl Pair {
    /// None when the reference Kafka is not installed here (see `reference::kafka`).
    pub async fn new(scenario: &str) -> Option<Self> {
        let kafka = reference::kafka()?;
        let broker = TestBroker::start_with(reference::SHARED).await;
        Some(Self {
            kafka: Raw::connect(kafka.addr).await,
            brokk: Raw::connect(broker.addr).await,
            _broker: broker,
            prefix: format!("{scenario}-{}", uuid::Uuid::new_v4().simple().to_string().split_at(8).0),
            diffs: vec![],
            compared: 0,
        })
    }

    /// This scenario's name for topic `name` (unique on the shared Kafka).
    pub fn topic(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// Sends `req` at `version` to both brokers and returns (kafka, brokk) as answered.
    pub async fn both<R: Request>(&mut self, req: &R, version: i16) -> (R::Response, R::Response) {
        covered::<R>(version);
        let k = self.kafka.call(req, version).await;
        let b = self.brokk.call(req, version).await;
        (k, b)
    }

    /// Sends `req` to both, normalises both answers with `normalise`, and records a
    /// difference (labelled `what`) if they are not equal. Returns brokk's answer.
    pub async fn same<R: Request>(
        &mut self,
        what: &str,
        req: &R,
        version: i16,
        normalise: impl Fn(&mut R::Response),
    ) -> R::Response
    where
        R::Response: Debug + PartialEq + Clone,
    {
        let (mut k, mut b) = self.both(req, version).await;
        let brokk = b.clone();
        normalise(&mut k);
        normalise(&mut b);
        self.check(&format!("{what} (v{version})"), &k, &b);
        brokk
    }

    /// [`Pair::same`] for a read after a write: Kafka's broker applies a change its
    /// controller committed a moment later, so its answer is asked again (bounded) until it
    /// equals brokk's; the last one is compared.
    pub async fn eventually_same<R: Request + Clone>(
        &mut self,
        what: &str,
        req: &R,
        version: i16,
        normalise: impl Fn(&mut R::Response),
    ) where
        R::Response: Debug + PartialEq + Clone,
    {
        let view = |r: &R::Response| {
            let mut r = r.clone();
            normalise(&mut r);
            r
        };
        self.eventually_same_each(what, |_| req.clone(), version, view).await;
    }

    /// [`Pair::eventually_same`] for a request that differs per broker, compared as `view`
    /// shows the answers.
    pub async fn eventually_same_each<R: Request, V: Debug + PartialEq>(
        &mut self,
        what: &str,
        make: impl Fn(bool) -> R,
        version: i16,
        view: impl Fn(&R::Response) -> V,
    ) {
        covered::<R>(version);
        let bv = view(&self.brokk.call(&make(false), version).await);
        let mut kv = None;
        for _ in 0..200 {
            let k = view(&self.kafka.call(&make(true), version).await);
            let done = k == bv;
            kv = Some(k);
            if done {
                break;
            }
            // The broker's metadata catching up has no event a client can wait on.
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.check(&format!("{what} (v{version})"), &kv.expect("asked"), &bv);
    }

    /// [`Pair::same_each`] for a request Kafka answers with a retriable coordinator error
    /// (`busy`) until its coordinator is loaded: asked of Kafka again (bounded) meanwhile,
    /// as a client retries.
    pub async fn same_each_when_ready<R: Request>(
        &mut self,
        what: &str,
        make: impl Fn(bool) -> R,
        version: i16,
        busy: impl Fn(&R::Response) -> bool,
        normalise: impl Fn(&mut R::Response),
    ) -> (R::Response, R::Response)
    where
        R::Response: Debug + PartialEq + Clone,
    {
        covered::<R>(version);
        let mut k = self.kafka.call(&make(true), version).await;
        for _ in 0..400 {
            if !busy(&k) {
                break;
            }
            // A coordinator loading has no event a client can wait on: it retries.
            tokio::time::sleep(Duration::from_millis(25)).await;
            k = self.kafka.call(&make(true), version).await;
        }
        let b = self.brokk.call(&make(false), version).await;
        let (mut kn, mut bn) = (k.clone(), b.clone());
        normalise(&mut kn);
        normalise(&mut bn);
        self.check(&format!("{what} (v{version})"), &kn, &bn);
        (k, b)
    }

    /// [`Pair::same`] for a request that differs per broker (it names a member id or a
    /// producer id one of them chose): `make(true)` builds Kafka's, `make(false)` brokk's.
    /// Returns both answers as given (Kafka's, brokk's).
    pub async fn same_each<R: Request>(
        &mut self,
        what: &str,
        make: impl Fn(bool) -> R,
        version: i16,
        normalise: impl Fn(&mut R::Response),
    ) -> (R::Response, R::Response)
    where
        R::Response: Debug + PartialEq + Clone,
    {
        covered::<R>(version);
        let k = self.kafka.call(&make(true), version).await;
        let b = self.brokk.call(&make(false), version).await;
        let (mut kn, mut bn) = (k.clone(), b.clone());
        normalise(&mut kn);
        normalise(&mut bn);
        self.check(&format!("{what} (v{version})"), &kn, &bn);
        (k, b)
    }

    /// Waits (bounded) until the reference Kafka coordinates `group`: its first lookup
    /// creates `__consumer_offsets` (COORDINATOR_NOT_AVAILABLE meanwhile), and the group
    /// coordinator then loads the partition (NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS
    /// meanwhile). brokk's is ready at once, a deliberate difference.
    pub async fn await_coordinator(&mut self, group: &str) {
        use kafka_protocol::messages::{DescribeGroupsRequest, FindCoordinatorRequest, GroupId};
        use kafka_protocol::protocol::StrBytes;
        let find = FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![StrBytes::from_string(group.into())]);
        let describe = DescribeGroupsRequest::default().with_groups(vec![GroupId(StrBytes::from_string(group.into()))]);
        for _ in 0..400 {
            if self.kafka.call(&find, 4).await.coordinators[0].error_code == 0
                && ![14, 15, 16].contains(&self.kafka.call(&describe, 5).await.groups[0].error_code)
            {
                return;
            }
            // As await_leaders: no event to wait on from outside the broker.
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the reference Kafka has no coordinator for {group} after 10 s");
    }

    /// Records a difference between two normalised values.
    pub fn check<T: Debug + PartialEq>(&mut self, what: &str, kafka: &T, brokk: &T) {
        self.compared += 1;
        if kafka != brokk {
            self.diffs.push(format!(
                "{what}:\n{}",
                line_diff(&format!("{kafka:#?}"), &format!("{brokk:#?}"))
            ));
        }
    }

    /// Waits (bounded) until the reference Kafka's metadata shows every partition of
    /// `topics` with a leader and that leader answers for it (ListOffsets without
    /// NOT_LEADER_OR_FOLLOWER: its metadata cache can be ahead of its replica manager): a
    /// topic it created is usable only then. brokk's are at once.
    pub async fn await_leaders(&mut self, topics: &[&str]) {
        use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
        use kafka_protocol::messages::{BrokerId, ListOffsetsRequest};
        let req = MetadataRequest::default().with_topics(Some(
            topics
                .iter()
                .map(|t| {
                    kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                        .with_name(Some(super::common::topic(t)))
                })
                .collect(),
        ));
        for _ in 0..400 {
            let md = self.kafka.call(&req, 12).await;
            let ready = md.topics.iter().all(|t| {
                t.error_code == 0 && !t.partitions.is_empty() && t.partitions.iter().all(|p| p.leader_id.0 >= 0)
            });
            let served = ready && {
                let lo = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(
                    md.topics
                        .iter()
                        .map(|t| {
                            ListOffsetsTopic::default()
                                .with_name(t.name.clone().unwrap_or_default())
                                .with_partitions(
                                    t.partitions
                                        .iter()
                                        .map(|p| {
                                            ListOffsetsPartition::default()
                                                .with_partition_index(p.partition_index)
                                                .with_timestamp(-1)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
                let r = self.kafka.call(&lo, 7).await;
                r.topics.iter().all(|t| t.partitions.iter().all(|p| p.error_code == 0))
            };
            if served {
                return;
            }
            // Metadata propagation inside Kafka has no event a client can wait on: poll.
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the reference Kafka does not serve {topics:?} after 10 s");
    }

    /// Waits (bounded) until the reference Kafka has completed transactional id `id`'s
    /// transaction: its EndTxn answers once PrepareCommit/PrepareAbort is written and writes
    /// the markers after (CONCURRENT_TRANSACTIONS meanwhile); brokk answers once they are
    /// written, so its next request never sees that state.
    pub async fn await_txn_complete(&mut self, id: &str) {
        use kafka_protocol::messages::{DescribeTransactionsRequest, TransactionalId};
        use kafka_protocol::protocol::StrBytes;
        let req = DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![TransactionalId(StrBytes::from_string(id.into()))]);
        for _ in 0..400 {
            let state = self.kafka.call(&req, 0).await.transaction_states[0]
                .transaction_state
                .to_string();
            if !state.starts_with("Prepare") {
                return;
            }
            // The markers' completion has no event a client can wait on: it retries.
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the reference Kafka did not complete {id}'s transaction in 10 s");
    }

    /// Fails the test with every difference found, if any.
    pub fn finish(self) {
        eprintln!(
            "differential: {} comparisons, {} differences",
            self.compared,
            self.diffs.len()
        );
        // Cumulative over the binary's scenarios: the last one to finish has the total.
        let (compared, served, missing) = not_covered();
        eprintln!(
            "differential coverage so far: {compared} of the {served} (API, version) pairs brokk serves; not yet: {}",
            missing.join(", ")
        );
        assert!(
            self.diffs.is_empty(),
            "{} of {} responses differ from Kafka {} (- kafka, + brokk):\n\n{}",
            self.diffs.len(),
            self.compared,
            reference::VERSION,
            self.diffs.join("\n\n")
        );
    }
}

/// A unified diff of two pretty-printed values (two lines of context).
fn line_diff(a: &str, b: &str) -> String {
    similar::TextDiff::from_lines(a, b)
        .unified_diff()
        .context_radius(2)
        .header("kafka", "brokk")
        .to_string()
}
