package brokk.compat;

import static brokk.compat.Clients.check;
import static brokk.compat.Clients.checkEq;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;

/** The idempotent producer and transactions (exactly-once consume-transform-produce). */
final class Transactions {
    private Transactions() {}

    static void idempotent(Main.Context ctx) throws Exception {
        int n = 20_000;
        try (var admin = Clients.admin(ctx.bootstrap())) {
            Clients.createTopic(admin, "idem", 3, Map.of());
            try (var p = Clients.producer(ctx.bootstrap(), Map.of())) {
                var records = new ArrayList<ProducerRecord<String, String>>();
                for (int i = 0; i < n; i++) {
                    records.add(new ProducerRecord<>("idem", i % 3, "k" + i, Integer.toString(i)));
                }
                Clients.send(p, records);
            }
            var parts = Groups.partitions("idem", 3);
            var producers = admin.describeProducers(parts).all().get();
            for (var tp : parts) {
                var states = producers.get(tp).activeProducers();
                checkEq(1, states.size(), "producers of " + tp);
                int perPartition = n / 3 + (tp.partition() < n % 3 ? 1 : 0);
                checkEq(perPartition - 1, states.get(0).lastSequence(), "last sequence of " + tp);
                check(states.get(0).producerId() >= 0, "no producer id on " + tp);
            }
            try (var c = Clients.consumer(ctx.bootstrap(), Map.of("max.poll.records", "5000"))) {
                c.assign(parts);
                c.seekToBeginning(parts);
                var last = new HashMap<Integer, Integer>();
                for (var r : Clients.receive(c, n, 60)) {
                    int v = Integer.parseInt(r.value());
                    checkEq(v % 3, r.partition(), "partition of " + v);
                    int prev = last.getOrDefault(r.partition(), r.partition() - 3);
                    checkEq(prev + 3, v, "the record after " + prev + " in partition " + r.partition());
                    last.put(r.partition(), v);
                }
                Clients.expectNothing(c, 300);
            }
        }
    }

    static void eos(Main.Context ctx) throws Exception {
        int n = 600;
        var inputs = Groups.partitions("txn-in", 2);
        try (var admin = Clients.admin(ctx.bootstrap())) {
            Clients.createTopic(admin, "txn-in", 2, Map.of());
            Clients.createTopic(admin, "txn-out", 2, Map.of());
            try (var p = Clients.producer(ctx.bootstrap(), Map.of())) {
                var records = new ArrayList<ProducerRecord<String, String>>();
                for (int i = 0; i < n; i++) {
                    records.add(new ProducerRecord<>("txn-in", i % 2, "k" + i, "in" + i));
                }
                Clients.send(p, records);
            }
            int transactions = 0;
            int aborted = 0;
            boolean describedOpen = false;
            try (var p = Clients.producer(ctx.bootstrap(), Map.of("transactional.id", "txn-eos"));
                    var c = Clients.consumer(ctx.bootstrap(), Map.of("group.id", "g-eos",
                            "isolation.level", "read_committed", "max.poll.records", "50"))) {
                p.initTransactions();
                c.subscribe(List.of("txn-in"));
                long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
                while (!allCommitted(admin, inputs, n / 2)) {
                    check(System.nanoTime() < deadline, "inputs not all committed within 90 s");
                    var batch = c.poll(Duration.ofMillis(200));
                    if (batch.isEmpty()) {
                        continue;
                    }
                    p.beginTransaction();
                    var next = new HashMap<TopicPartition, OffsetAndMetadata>();
                    for (var r : batch) {
                        p.send(new ProducerRecord<>("txn-out", r.partition(), r.key(), r.value().replace("in", "out")));
                        next.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                    }
                    p.sendOffsetsToTransaction(next, c.groupMetadata());
                    p.flush();
                    transactions++;
                    if (!describedOpen) {
                        describeOpen(admin);
                        describedOpen = true;
                    }
                    if (transactions % 3 == 0) {
                        p.abortTransaction();
                        aborted++;
                        var committed = c.committed(Set.copyOf(next.keySet()));
                        for (var tp : next.keySet()) {
                            var o = committed.get(tp);
                            c.seek(tp, o == null ? 0 : o.offset());
                        }
                    } else {
                        p.commitTransaction();
                    }
                }
            }
            check(aborted > 0, "no transaction was aborted");
            // Kafka answers EndTxn once the transaction is prepared and completes it after the markers.
            Clients.eventually(() -> admin.describeTransactions(List.of("txn-eos")).all().get().get("txn-eos").state()
                    == TransactionState.COMPLETE_COMMIT);
            var state = admin.describeTransactions(List.of("txn-eos")).all().get().get("txn-eos");
            checkEq(TransactionState.COMPLETE_COMMIT, state.state(), "the last transaction's state");
            check(state.topicPartitions().isEmpty(), "partitions of a completed transaction: " + state.topicPartitions());
            var outputs = Groups.partitions("txn-out", 2);
            try (var committed = Clients.consumer(ctx.bootstrap(), Map.of("isolation.level", "read_committed"))) {
                committed.assign(outputs);
                committed.seekToBeginning(outputs);
                var values = new HashSet<String>();
                for (var r : Clients.receive(committed, n, 60)) {
                    check(values.add(r.value()), "output " + r.value() + " twice");
                }
                Clients.expectNothing(committed, 300);
                for (int i = 0; i < n; i++) {
                    check(values.contains("out" + i), "output out" + i + " missing");
                }
            }
            try (var all = Clients.consumer(ctx.bootstrap(), Map.of("isolation.level", "read_uncommitted"))) {
                all.assign(outputs);
                all.seekToBeginning(outputs);
                long end = 0;
                for (var e : all.endOffsets(outputs).values()) {
                    end += e;
                }
                // Every transaction wrote its records plus one marker per partition.
                check(end > n + transactions, "end offsets " + end + " leave no room for aborted records and markers");
                var got = Clients.receive(all, n + 1, 60);
                check(got.size() > n, "read_uncommitted shows no aborted record");
            }
        }
    }

    private static boolean allCommitted(org.apache.kafka.clients.admin.Admin admin, List<TopicPartition> inputs, long each)
            throws Exception {
        var offsets = admin.listConsumerGroupOffsets("g-eos").partitionsToOffsetAndMetadata().get();
        for (var tp : inputs) {
            var o = offsets.get(tp);
            if (o == null || o.offset() < each) {
                return false;
            }
            checkEq(each, o.offset(), "committed offset of " + tp);
        }
        return true;
    }

    /** The first transaction, still open: as listTransactions, describeTransactions and describeProducers see it. */
    private static void describeOpen(org.apache.kafka.clients.admin.Admin admin) throws Exception {
        var listed = new HashMap<String, TransactionState>();
        admin.listTransactions().all().get().forEach(t -> listed.put(t.transactionalId(), t.state()));
        checkEq(TransactionState.ONGOING, listed.get("txn-eos"), "listed state of the open transaction");
        var d = admin.describeTransactions(List.of("txn-eos")).all().get().get("txn-eos");
        checkEq(TransactionState.ONGOING, d.state(), "described state");
        check(d.topicPartitions().contains(new TopicPartition("txn-out", 0))
                || d.topicPartitions().contains(new TopicPartition("txn-out", 1)), "no output partition in " + d.topicPartitions());
        check(d.transactionStartTimeMs().isPresent(), "no start time");
        var tp = d.topicPartitions().stream().filter(t -> t.topic().equals("txn-out")).findFirst().orElseThrow();
        var active = admin.describeProducers(List.of(tp)).all().get().get(tp).activeProducers();
        check(active.stream().anyMatch(s -> s.producerId() == d.producerId() && s.currentTransactionStartOffset().isPresent()),
                "describeProducers shows no open transaction of producer " + d.producerId() + ": " + active);
    }

    static void fence(Main.Context ctx) throws Exception {
        var tp = new TopicPartition("txn-fenced", 0);
        try (var admin = Clients.admin(ctx.bootstrap())) {
            Clients.createTopic(admin, "txn-fenced", 1, Map.of());
        }
        Map<String, Object> conf = Map.of("transactional.id", "txn-fence");
        KafkaProducer<String, String> first = Clients.producer(ctx.bootstrap(), conf);
        try (var second = Clients.producer(ctx.bootstrap(), conf)) {
            first.initTransactions();
            first.beginTransaction();
            first.send(new ProducerRecord<>("txn-fenced", 0, "k", "first")).get();
            second.initTransactions(); // bumps the epoch and aborts the first one's transaction
            second.beginTransaction();
            second.send(new ProducerRecord<>("txn-fenced", 0, "k", "second")).get();
            second.commitTransaction();
            Throwable fenced = null;
            try {
                first.commitTransaction();
            } catch (ProducerFencedException e) {
                fenced = e;
            }
            check(fenced != null, "the fenced producer committed");
        } finally {
            first.close(Duration.ofSeconds(5));
        }
        try (var c = Clients.consumer(ctx.bootstrap(), Map.of("isolation.level", "read_committed"))) {
            c.assign(List.of(tp));
            c.seekToBeginning(List.of(tp));
            var got = Clients.receive(c, 1, 30);
            checkEq("second", got.get(0).value(), "the committed record");
            Clients.expectNothing(c, 300);
            checkEq(4L, c.endOffsets(List.of(tp)).get(tp), "end offset: first's record, its abort marker, second's record, its commit marker");
        }
    }
}
