package brokk.compat;

import static brokk.compat.Clients.check;
import static brokk.compat.Clients.checkEq;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;

/** Produce with every codec and read back; offsets for times. */
final class ProduceConsume {
    private ProduceConsume() {}

    static final List<String> CODECS = List.of("none", "gzip", "snappy", "lz4", "zstd");

    static void codecs(Main.Context ctx) throws Exception {
        int n = 300;
        try (var admin = Clients.admin(ctx.bootstrap())) {
            for (var codec : CODECS) {
                String topic = "codec-" + codec;
                Clients.createTopic(admin, topic, 3, Map.of());
                try (var p = Clients.producer(ctx.bootstrap(), Map.of("compression.type", codec, "batch.size", "4096"))) {
                    var records = new ArrayList<ProducerRecord<String, String>>();
                    for (int i = 0; i < n; i++) {
                        var headers = new RecordHeaders();
                        headers.add("i", Integer.toString(i).getBytes(StandardCharsets.UTF_8));
                        if (i % 2 == 0) {
                            headers.add("even", new byte[0]);
                        }
                        // Repetitive values so every codec really compresses.
                        records.add(new ProducerRecord<>(topic, i % 3, "k" + i, (codec + "-" + i + "-").repeat(20), headers));
                    }
                    Clients.send(p, records);
                }
                try (var c = Clients.consumer(ctx.bootstrap(), Map.of())) {
                    var parts = List.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1), new TopicPartition(topic, 2));
                    c.assign(parts);
                    c.seekToBeginning(parts);
                    var got = Clients.receive(c, n, 30);
                    var next = new HashMap<Integer, Long>();
                    for (ConsumerRecord<String, String> r : got) {
                        int i = Integer.parseInt(r.key().substring(1));
                        checkEq(i % 3, r.partition(), codec + ": partition of " + r.key());
                        long expected = next.getOrDefault(r.partition(), 0L);
                        checkEq(expected, r.offset(), codec + ": offset in partition " + r.partition());
                        next.put(r.partition(), expected + 1);
                        checkEq((codec + "-" + i + "-").repeat(20), r.value(), codec + ": value of " + r.key());
                        checkEq(Integer.toString(i), new String(r.headers().lastHeader("i").value(), StandardCharsets.UTF_8),
                                codec + ": header i of " + r.key());
                        checkEq(i % 2 == 0, r.headers().lastHeader("even") != null, codec + ": header even of " + r.key());
                        checkEq(TimestampType.CREATE_TIME, r.timestampType(), codec + ": timestamp type");
                        check(r.leaderEpoch().isPresent(), codec + ": no leader epoch on " + r.key());
                    }
                    Clients.expectNothing(c, 300);
                }
            }
        }
    }

    static void times(Main.Context ctx) throws Exception {
        String topic = "times";
        long base = 1_700_000_000_000L;
        try (var admin = Clients.admin(ctx.bootstrap())) {
            Clients.createTopic(admin, topic, 1, Map.of());
        }
        try (var p = Clients.producer(ctx.bootstrap(), Map.of())) {
            var records = new ArrayList<ProducerRecord<String, String>>();
            for (int i = 0; i < 10; i++) {
                records.add(new ProducerRecord<>(topic, 0, base + i * 1000L, "k" + i, "v" + i));
            }
            Clients.send(p, records);
        }
        var tp = new TopicPartition(topic, 0);
        try (var c = Clients.consumer(ctx.bootstrap(), Map.of())) {
            var times = c.offsetsForTimes(Map.of(tp, base + 3500L));
            checkEq(4L, times.get(tp).offset(), "offset at or after base+3.5 s");
            checkEq(base + 4000L, times.get(tp).timestamp(), "its timestamp");
            checkEq(0L, c.offsetsForTimes(Map.of(tp, 0L)).get(tp).offset(), "offset for time 0");
            check(c.offsetsForTimes(Map.of(tp, base + 60_000L)).get(tp) == null, "a time past every record has no offset");
            checkEq(0L, c.beginningOffsets(List.of(tp)).get(tp), "beginningOffsets");
            checkEq(10L, c.endOffsets(List.of(tp)).get(tp), "endOffsets");
            c.assign(List.of(tp));
            c.seek(tp, times.get(tp).offset());
            var got = Clients.receive(c, 6, 30);
            checkEq("v4", got.get(0).value(), "the first record after the seek");
            checkEq(base + 4000L, got.get(0).timestamp(), "its timestamp");
        }
    }
}
