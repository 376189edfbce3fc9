package brokk.compat;

import static brokk.compat.Clients.check;
import static brokk.compat.Clients.checkEq;

import java.io.RandomAccessFile;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.LogTruncationException;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * Leader epochs (KIP-320): a consumer that outlives broker restarts validates its position
 * with OffsetForLeaderEpoch, and detects a log truncated under it. These scenarios run a
 * broker of their own (the consumer must outlive its restarts).
 */
final class Epochs {
    private Epochs() {}

    static void produce(String bootstrap, String topic, List<String> values) throws Exception {
        try (var p = Clients.producer(bootstrap, Map.of())) {
            var records = new ArrayList<ProducerRecord<String, String>>();
            values.forEach(v -> records.add(new ProducerRecord<>(topic, 0, null, v)));
            Clients.send(p, records);
        }
    }

    static List<String> values(String prefix, int n) {
        var out = new ArrayList<String>();
        for (int i = 0; i < n; i++) {
            out.add(prefix + i);
        }
        return out;
    }

    /** "offset/epoch/value" of each record, for comparison in one line. */
    static List<String> seen(List<ConsumerRecord<String, String>> records) {
        var out = new ArrayList<String>();
        records.forEach(r -> out.add(r.offset() + "/" + r.leaderEpoch().orElse(-1) + "/" + r.value()));
        return out;
    }

    static List<String> expected(int firstOffset, int epoch, List<String> values) {
        var out = new ArrayList<String>();
        for (int i = 0; i < values.size(); i++) {
            out.add((firstOffset + i) + "/" + epoch + "/" + values.get(i));
        }
        return out;
    }

    static KafkaConsumer<String, String> consumer(String bootstrap, TopicPartition tp, String reset) {
        var c = Clients.consumer(bootstrap, Map.of("auto.offset.reset", reset, "metadata.max.age.ms", "1000"));
        c.assign(List.of(tp));
        c.seek(tp, 0);
        return c;
    }

    static void restart(Main.Context ctx) throws Exception {
        var tp = new TopicPartition("e1", 0);
        try (var broker = ctx.ownBroker("data-e1")) {
            broker.start();
            try (var admin = Clients.admin(broker.address)) {
                Clients.createTopic(admin, "e1", 1, Map.of());
            }
            produce(broker.address, "e1", values("a", 10));
            try (var c = consumer(broker.address, tp, "earliest")) {
                checkEq(expected(0, 0, values("a", 10)), seen(Clients.receive(c, 10, 30)), "records at epoch 0");
                broker.stop(false);
                broker.start();
                produce(broker.address, "e1", values("b", 10));
                checkEq(expected(10, 2, values("b", 10)), seen(Clients.receive(c, 10, 60)), "records after the restart");
                Clients.expectNothing(c, 1000);
                checkEq(20L, c.position(tp), "position");
            }
            broker.stop(false);
        }
    }

    static void truncation(Main.Context ctx) throws Exception {
        var tp = new TopicPartition("e2", 0);
        try (var broker = ctx.ownBroker("data-e2")) {
            broker.start();
            try (var admin = Clients.admin(broker.address)) {
                Clients.createTopic(admin, "e2", 1, Map.of());
            }
            produce(broker.address, "e2", values("a", 5));
            broker.stop(false);
            var segment = broker.firstSegment("e2", 0);
            long epoch0Bytes = segment.length();
            broker.start();
            produce(broker.address, "e2", values("b", 3));
            try (var c = consumer(broker.address, tp, "none")) {
                var before = new ArrayList<>(expected(0, 0, values("a", 5)));
                before.addAll(expected(5, 2, values("b", 3)));
                checkEq(before, seen(Clients.receive(c, 8, 30)), "records before the crash");
                broker.stop(true);
                // The crash loses the epoch-2 records, as a power loss would lose unflushed data.
                try (var f = new RandomAccessFile(segment, "rw")) {
                    f.setLength(epoch0Bytes);
                }
                broker.start();
                LogTruncationException truncated = null;
                long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
                while (truncated == null) {
                    check(System.nanoTime() < deadline, "no LogTruncationException within 60 s");
                    try {
                        var polled = c.poll(Duration.ofMillis(200));
                        check(polled.isEmpty(), "records from the lost tail's offsets: " + polled.count());
                    } catch (LogTruncationException e) {
                        truncated = e;
                    }
                }
                checkEq(5L, truncated.divergentOffsets().get(tp).offset(), "the divergent offset (where epoch 2 ended)");
                produce(broker.address, "e2", values("c", 2));
                c.seek(tp, truncated.divergentOffsets().get(tp));
                checkEq(expected(5, 4, values("c", 2)), seen(Clients.receive(c, 2, 30)), "records after the truncation");
            }
            broker.stop(false);
        }
    }
}
