package brokk.streams;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** The suite's own clients (not the application's): input, verification, admin checks. */
final class Checks {
    private Checks() {}

    static final class CheckFailed extends RuntimeException {
        CheckFailed(String message) {
            super(message);
        }
    }

    static void check(boolean condition, String message) {
        if (!condition) {
            throw new CheckFailed(message);
        }
    }

    static Properties common(String bootstrap) {
        var p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("request.timeout.ms", "15000");
        p.put("default.api.timeout.ms", "30000");
        p.put("reconnect.backoff.max.ms", "500");
        return p;
    }

    static Admin admin(String bootstrap) {
        return Admin.create(common(bootstrap));
    }

    /**
     * Lines {@code [from, to)} into the input topic, keyless, line {@code i} to partition
     * {@code i % 2} (so the input's layout is known), idempotent producer, acks=all.
     */
    static void produce(String bootstrap, int from, int to) {
        var p = common(bootstrap);
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        p.put("linger.ms", "5");
        p.put("delivery.timeout.ms", "60000");
        try (var producer = new KafkaProducer<String, String>(p)) {
            for (int i = from; i < to; i++) {
                producer.send(new ProducerRecord<>(App.INPUT, i % 2, null, Words.line(i)), (md, e) -> {
                    if (e != null) {
                        e.printStackTrace(System.out);
                    }
                });
            }
            producer.flush();
        }
        System.out.printf("   produced input lines %d..%d (%d words)%n", from, to - 1, Words.words(from, to));
    }

    /**
     * Records the application has not committed yet, as "TOPIC: lag" per topic: the input and
     * the repartition topic (the first sub-topology runs ahead of the counting one).
     */
    static Map<String, Long> lag(Admin admin) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> committed =
                admin.listConsumerGroupOffsets(App.APP_ID).partitionsToOffsetAndMetadata().get();
        var parts = List.of(new TopicPartition(App.INPUT, 0), new TopicPartition(App.INPUT, 1),
                new TopicPartition(App.REPARTITION, 0), new TopicPartition(App.REPARTITION, 1));
        var ends = admin.listOffsets(parts.stream().collect(Collectors.toMap(tp -> tp, tp -> OffsetSpec.latest())))
                .all().get();
        var lag = new TreeMap<String, Long>();
        for (var e : ends.entrySet()) {
            var c = committed.get(e.getKey());
            lag.merge(e.getKey().topic(), e.getValue().offset() - (c == null ? 0 : c.offset()), Long::sum);
        }
        return lag;
    }

    /** The timestamp of the record at {@code offset} of an input partition (read_uncommitted). */
    static long timestampAt(String bootstrap, TopicPartition tp, long offset) {
        var p = common(bootstrap);
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        p.put("max.poll.records", "1");
        try (var c = new KafkaConsumer<byte[], byte[]>(p)) {
            c.assign(List.of(tp));
            c.seek(tp, offset);
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (System.nanoTime() < deadline) {
                for (var r : c.poll(Duration.ofMillis(200))) {
                    check(r.offset() == offset, tp + ": asked for offset " + offset + ", read " + r.offset());
                    return r.timestamp();
                }
            }
            throw new CheckFailed(tp + ": no record at offset " + offset + " within 20 s");
        }
    }

    /** The application's transactional id (exactly_once_v2: one per stream thread; one here). */
    static org.apache.kafka.clients.admin.TransactionDescription transaction(Admin admin) throws Exception {
        var ids = admin.listTransactions().all().get().stream()
                .map(org.apache.kafka.clients.admin.TransactionListing::transactionalId)
                .filter(id -> id.startsWith(App.APP_ID + "-")).toList();
        check(ids.size() == 1, "the app's transactional ids: " + ids);
        return admin.describeTransactions(ids).all().get().get(ids.get(0));
    }

    /**
     * Reads the output topic from the beginning (one consumer, kept) at an isolation level,
     * collecting the sequence of counts of each word.
     */
    static final class Output implements AutoCloseable {
        final KafkaConsumer<String, Long> consumer;
        final Map<String, List<Long>> counts = new TreeMap<>();
        long records;

        Output(String bootstrap, String isolation) {
            this(bootstrap, isolation, null);
        }

        /** From {@code from} (offsets per partition), or from the beginning if null. */
        Output(String bootstrap, String isolation, Map<TopicPartition, Long> from) {
            var p = common(bootstrap);
            p.put("key.deserializer", StringDeserializer.class.getName());
            p.put("value.deserializer", LongDeserializer.class.getName());
            p.put("isolation.level", isolation);
            p.put("enable.auto.commit", "false");
            consumer = new KafkaConsumer<>(p);
            var parts = consumer.partitionsFor(App.OUTPUT).stream()
                    .map(pi -> new TopicPartition(pi.topic(), pi.partition())).toList();
            consumer.assign(parts);
            if (from == null) {
                consumer.seekToBeginning(parts);
            } else {
                parts.forEach(tp -> consumer.seek(tp, from.get(tp)));
            }
        }

        /** The position on every partition. */
        Map<TopicPartition, Long> positions() {
            var m = new HashMap<TopicPartition, Long>();
            consumer.assignment().forEach(tp -> m.put(tp, consumer.position(tp)));
            return m;
        }

        void poll() {
            for (var r : consumer.poll(Duration.ofMillis(200))) {
                counts.computeIfAbsent(r.key(), k -> new ArrayList<>()).add(r.value());
                records++;
            }
        }

        /** Polls until the position reaches the end (the last stable offset if read_committed). */
        void drain(Duration timeout) {
            long deadline = System.nanoTime() + timeout.toNanos();
            var ends = consumer.endOffsets(consumer.assignment());
            while (ends.entrySet().stream().anyMatch(e -> consumer.position(e.getKey()) < e.getValue())) {
                check(System.nanoTime() < deadline, "output not read to its end " + ends + " within "
                        + timeout.toSeconds() + " s");
                poll();
            }
        }

        /**
         * Polls (bounded) until the last count of every word is its true count; fails at once
         * if a count goes past it. {@code app} (may be null) is checked for health meanwhile.
         */
        void await(Map<String, Long> expected, Duration timeout, App app) {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (true) {
                poll();
                for (var e : counts.entrySet()) {
                    long last = e.getValue().get(e.getValue().size() - 1);
                    Long want = expected.get(e.getKey());
                    check(want != null, "unexpected word in the output: " + e.getKey());
                    check(last <= want, "count of '" + e.getKey() + "' is " + last + ", past its true count " + want);
                }
                if (lastCounts().equals(expected)) {
                    return;
                }
                if (app != null) {
                    app.checkHealthy();
                }
                if (System.nanoTime() > deadline) {
                    var behind = new TreeMap<String, String>();
                    for (var e : expected.entrySet()) {
                        var seq = counts.get(e.getKey());
                        long last = seq == null ? 0 : seq.get(seq.size() - 1);
                        if (last != e.getValue()) {
                            behind.put(e.getKey(), last + "/" + e.getValue());
                        }
                    }
                    throw new CheckFailed("the output's counts did not reach the true counts within "
                            + timeout.toSeconds() + " s; behind (seen/true): " + behind);
                }
            }
        }

        Map<String, Long> lastCounts() {
            var m = new TreeMap<String, Long>();
            counts.forEach((w, seq) -> m.put(w, seq.get(seq.size() - 1)));
            return m;
        }

        /**
         * Exactly once: the counts of each word read 1, 2, ..., n (n its true count): none
         * skipped, repeated or out of order.
         */
        void checkExactlyOnce(Map<String, Long> expected) {
            check(counts.keySet().equals(expected.keySet()),
                    "words in the output " + counts.keySet() + " != words in the input " + expected.keySet());
            for (var e : expected.entrySet()) {
                var seq = counts.get(e.getKey());
                for (int i = 0; i < seq.size(); i++) {
                    if (seq.get(i) != i + 1) {
                        throw new CheckFailed("the counts of '" + e.getKey() + "' are not 1.." + e.getValue()
                                + ": at position " + i + " read " + seq.get(i) + " (around: "
                                + seq.subList(Math.max(0, i - 3), Math.min(seq.size(), i + 4)) + ")");
                    }
                }
                check(seq.size() == e.getValue(), "'" + e.getKey() + "' has " + seq.size()
                        + " count updates, true count " + e.getValue());
            }
        }

        @Override
        public void close() {
            consumer.close(org.apache.kafka.clients.consumer.CloseOptions.timeout(Duration.ofSeconds(5)));
        }
    }

    /**
     * The records (read_uncommitted, so any the cleaner kept) in the changelog, and how many
     * of its keys occur more than once.
     */
    static long[] changelogRecords(String bootstrap) {
        var p = common(bootstrap);
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        p.put("isolation.level", "read_uncommitted");
        try (var c = new KafkaConsumer<String, byte[]>(p)) {
            var parts = c.partitionsFor(App.CHANGELOG).stream()
                    .map(pi -> new TopicPartition(pi.topic(), pi.partition())).toList();
            c.assign(parts);
            c.seekToBeginning(parts);
            var ends = c.endOffsets(parts);
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            long n = 0;
            var perKey = new HashMap<String, Integer>();
            while (ends.entrySet().stream().anyMatch(e -> c.position(e.getKey()) < e.getValue())) {
                check(System.nanoTime() < deadline, "changelog not read to its end within 30 s");
                for (var r : c.poll(Duration.ofMillis(200))) {
                    n++;
                    perKey.merge(r.key(), 1, Integer::sum);
                }
            }
            return new long[] {n, perKey.values().stream().filter(v -> v > 1).count()};
        }
    }
}
