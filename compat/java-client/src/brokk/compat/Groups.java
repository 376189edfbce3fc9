package brokk.compat;

import static brokk.compat.Clients.check;
import static brokk.compat.Clients.checkEq;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.apache.kafka.clients.consumer.StickyAssignor;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RebalanceInProgressException;

/** Classic consumer groups: every assignor, static membership, commit and resume. */
final class Groups {
    private Groups() {}

    static List<TopicPartition> partitions(String topic, int n) {
        var out = new ArrayList<TopicPartition>();
        for (int i = 0; i < n; i++) {
            out.add(new TopicPartition(topic, i));
        }
        return out;
    }

    static void produce(String bootstrap, String topic, int partitions, int perPartition, String prefix) throws Exception {
        try (var p = Clients.producer(bootstrap, Map.of())) {
            var records = new ArrayList<ProducerRecord<String, String>>();
            for (int part = 0; part < partitions; part++) {
                for (int i = 0; i < perPartition; i++) {
                    records.add(new ProducerRecord<>(topic, part, prefix + part + "-" + i, prefix + part + "-" + i));
                }
            }
            Clients.send(p, records);
        }
    }

    /**
     * Polls every consumer in turn (committing what each got) until {@code done} holds;
     * returns the records seen, as "partition@offset" strings, failing on a duplicate.
     */
    static void pollUntil(List<KafkaConsumer<String, String>> consumers, Set<String> seen, java.util.function.BooleanSupplier done,
            String what) {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!done.getAsBoolean()) {
            check(System.nanoTime() < deadline, "not within 60 s: " + what);
            for (var c : consumers) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(100))) {
                    check(seen.add(r.partition() + "@" + r.offset()), "record " + r.partition() + "@" + r.offset() + " delivered twice");
                }
                try {
                    c.commitSync();
                } catch (RebalanceInProgressException e) {
                    // The next poll rejoins; the rebalance listener commits before revoking.
                }
            }
        }
    }

    /** Subscribes with a listener that commits the positions of partitions it gives up. */
    static void subscribe(KafkaConsumer<String, String> c, String topic) {
        c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(java.util.Collection<TopicPartition> partitions) {
                var positions = new java.util.HashMap<TopicPartition, OffsetAndMetadata>();
                partitions.forEach(tp -> positions.put(tp, new OffsetAndMetadata(c.position(tp))));
                c.commitSync(positions);
            }

            @Override
            public void onPartitionsAssigned(java.util.Collection<TopicPartition> partitions) {}
        });
    }

    static boolean splits(KafkaConsumer<String, String> a, KafkaConsumer<String, String> b, int n) {
        var union = new HashSet<>(a.assignment());
        union.addAll(b.assignment());
        return !a.assignment().isEmpty() && !b.assignment().isEmpty()
                && a.assignment().size() + b.assignment().size() == n && union.size() == n;
    }

    static void assignors(Main.Context ctx) throws Exception {
        var assignors = Map.of(
                "range", RangeAssignor.class, "roundrobin", RoundRobinAssignor.class,
                "sticky", StickyAssignor.class, "cooperative-sticky", CooperativeStickyAssignor.class);
        try (var admin = Clients.admin(ctx.bootstrap())) {
            for (var entry : new java.util.TreeMap<>(assignors).entrySet()) {
                String topic = "assign-" + entry.getKey();
                Clients.createTopic(admin, topic, 4, Map.of());
                produce(ctx.bootstrap(), topic, 4, 5, "a");
                Map<String, Object> conf = Map.of("group.id", "g-" + entry.getKey(), "heartbeat.interval.ms", "500",
                        "partition.assignment.strategy", entry.getValue().getName());
                var seen = new HashSet<String>();
                try (var c1 = Clients.consumer(ctx.bootstrap(), conf); var c2 = Clients.consumer(ctx.bootstrap(), conf)) {
                    subscribe(c1, topic);
                    subscribe(c2, topic);
                    pollUntil(List.of(c1, c2), seen, () -> splits(c1, c2, 4) && seen.size() == 20,
                            entry.getKey() + ": two members splitting 4 partitions and reading 20 records");
                    if (entry.getKey().equals("range") || entry.getKey().equals("roundrobin")) {
                        checkEq(2, c1.assignment().size(), entry.getKey() + ": partitions of the first member");
                    }
                    c2.close(); // LeaveGroup
                    produce(ctx.bootstrap(), topic, 4, 2, "b");
                    pollUntil(List.of(c1), seen, () -> c1.assignment().size() == 4 && seen.size() == 28,
                            entry.getKey() + ": the remaining member taking all 4 partitions and the 8 new records");
                    Clients.expectNothing(c1, 300);
                }
            }
        }
    }

    static void staticMembership(Main.Context ctx) throws Exception {
        String topic = "static";
        try (var admin = Clients.admin(ctx.bootstrap())) {
            Clients.createTopic(admin, topic, 4, Map.of());
        }
        Map<String, Object> base = Map.of("group.id", "g-static", "session.timeout.ms", "30000", "heartbeat.interval.ms", "500");
        var confA = new java.util.HashMap<>(base);
        confA.put("group.instance.id", "a");
        var confB = new java.util.HashMap<>(base);
        confB.put("group.instance.id", "b");
        var seen = new HashSet<String>();
        try (var b = Clients.consumer(ctx.bootstrap(), confB)) {
            Set<TopicPartition> assignedA;
            int generation;
            var a = Clients.consumer(ctx.bootstrap(), confA);
            a.subscribe(List.of(topic));
            pollUntil(List.of(a), seen, () -> a.assignment().size() == 4, "the first static member owning 4 partitions");
            b.subscribe(List.of(topic));
            pollUntil(List.of(a, b), seen, () -> splits(a, b, 4), "two static members splitting 4 partitions");
            assignedA = Set.copyOf(a.assignment());
            generation = a.groupMetadata().generationId();
            checkEq(generation, b.groupMetadata().generationId(), "both members' generation");
            a.close(); // a static member sends no LeaveGroup: its partitions wait for it
            try (var admin = Clients.admin(ctx.bootstrap())) {
                var members = admin.describeConsumerGroups(List.of("g-static")).all().get().get("g-static").members();
                var instances = new HashSet<String>();
                members.forEach(m -> instances.add(m.groupInstanceId().orElse("?")));
                checkEq(Set.of("a", "b"), instances, "static members after a's close");
            }
            try (var a2 = Clients.consumer(ctx.bootstrap(), confA)) {
                a2.subscribe(List.of(topic));
                pollUntil(List.of(a2, b), seen, () -> !a2.assignment().isEmpty(), "the restarted static member's assignment");
                checkEq(assignedA, a2.assignment(), "the restarted member's partitions");
                checkEq(generation, a2.groupMetadata().generationId(), "generation after the static rejoin (no rebalance)");
                checkEq(generation, b.groupMetadata().generationId(), "the other member's generation");
                produce(ctx.bootstrap(), topic, 4, 3, "s");
                pollUntil(List.of(a2, b), seen, () -> seen.size() == 12, "12 records across both members");
            }
        }
    }

    static void commitResume(Main.Context ctx) throws Exception {
        String topic = "commits";
        var tp0 = new TopicPartition(topic, 0);
        var tp1 = new TopicPartition(topic, 1);
        try (var admin = Clients.admin(ctx.bootstrap())) {
            Clients.createTopic(admin, topic, 2, Map.of());
        }
        produce(ctx.bootstrap(), topic, 2, 10, "c");
        Map<String, Object> conf = Map.of("group.id", "g-commit");
        try (var c = Clients.consumer(ctx.bootstrap(), conf)) {
            c.subscribe(List.of(topic));
            Clients.receive(c, 20, 60);
            c.commitSync(Map.of(tp0, new OffsetAndMetadata(4, "meta0"), tp1, new OffsetAndMetadata(7, "meta1")));
            var committed = c.committed(Set.of(tp0, tp1));
            checkEq(new OffsetAndMetadata(4, "meta0"), committed.get(tp0), "committed offset of partition 0");
            checkEq(new OffsetAndMetadata(7, "meta1"), committed.get(tp1), "committed offset of partition 1");
        }
        try (var c = Clients.consumer(ctx.bootstrap(), conf)) {
            c.subscribe(List.of(topic));
            var got = Clients.receive(c, 9, 60);
            var offsets = new HashSet<String>();
            got.forEach(r -> offsets.add(r.partition() + "@" + r.offset()));
            checkEq(Set.of("0@4", "0@5", "0@6", "0@7", "0@8", "0@9", "1@7", "1@8", "1@9"), offsets, "records after the commit");
            Clients.expectNothing(c, 300);
            c.commitSync();
        }
        ctx.broker().stop(true);
        ctx.broker().start();
        produce(ctx.bootstrap(), topic, 2, 2, "d");
        try (var c = Clients.consumer(ctx.bootstrap(), conf)) {
            var committed = c.committed(Set.of(tp0, tp1));
            checkEq(10L, committed.get(tp0).offset(), "partition 0's commit after kill -9");
            checkEq(10L, committed.get(tp1).offset(), "partition 1's commit after kill -9");
            checkEq(java.util.Optional.of(0), committed.get(tp0).leaderEpoch(), "the leader epoch commitSync() took from the position");
            c.subscribe(List.of(topic));
            var got = Clients.receive(c, 4, 60);
            var values = new HashSet<String>();
            got.forEach(r -> values.add(r.value()));
            checkEq(Set.of("d0-0", "d0-1", "d1-0", "d1-1"), values, "records after the restart");
            Clients.expectNothing(c, 300);
        }
    }
}
