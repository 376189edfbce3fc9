package brokk.compat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.function.Supplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** Client factories and the checks every scenario uses. */
final class Clients {
    private Clients() {}

    /** A failed expectation: the scenario fails with this message. */
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

    static <T> void checkEq(T expected, T actual, String what) {
        check(java.util.Objects.equals(expected, actual), what + ": expected " + expected + ", got " + actual);
    }

    /** A condition to poll; it may call the broker. */
    interface Condition {
        boolean holds() throws Exception;
    }

    /**
     * Whether the condition holds within 10 s, polled every 20 ms. For what Kafka answers
     * before it applies it: KRaft's controller answers CreateTopics, DeleteTopics,
     * CreatePartitions and config changes once it committed them, and the broker applies the
     * records a moment later (a few ms). brokk applies them before answering, so the first
     * poll holds.
     */
    static boolean eventually(Condition condition) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!condition.holds()) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(20);
        }
        return true;
    }

    /** The cause of a failed future (what the client's API reports). */
    static Throwable failure(Supplier<org.apache.kafka.common.KafkaFuture<?>> call) throws InterruptedException {
        try {
            call.get().get();
        } catch (ExecutionException e) {
            return e.getCause();
        }
        throw new CheckFailed("expected the call to fail; it succeeded");
    }

    /** Why the producer could not deliver the record (it must fail). */
    static Throwable sendFailure(KafkaProducer<String, String> p, ProducerRecord<String, String> record)
            throws InterruptedException {
        try {
            p.send(record).get();
        } catch (ExecutionException e) {
            return e.getCause();
        }
        throw new CheckFailed("expected the send to fail; it succeeded");
    }

    static Properties common(String bootstrap) {
        var p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("request.timeout.ms", "15000");
        p.put("reconnect.backoff.max.ms", "500");
        return p;
    }

    static Admin admin(String bootstrap) {
        return Admin.create(common(bootstrap));
    }

    /** The id of the cluster's only broker (brokk's is 0, the reference Kafka's 1). */
    static int nodeId(Admin admin) throws Exception {
        var nodes = admin.describeCluster().nodes().get();
        checkEq(1, nodes.size(), "brokers");
        return nodes.iterator().next().id();
    }

    static KafkaProducer<String, String> producer(String bootstrap, Map<String, Object> extra) {
        var p = common(bootstrap);
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        p.put("linger.ms", "5");
        p.put("delivery.timeout.ms", "60000");
        p.putAll(extra);
        return new KafkaProducer<>(p);
    }

    static KafkaConsumer<String, String> consumer(String bootstrap, Map<String, Object> extra) {
        var p = common(bootstrap);
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        p.put("auto.offset.reset", "earliest");
        p.put("enable.auto.commit", "false");
        p.put("check.crcs", "true");
        p.putAll(extra);
        return new KafkaConsumer<>(p);
    }

    /**
     * Creates the topic and waits until its leader serves every partition. Kafka (KRaft)
     * answers CreateTopics once the controller committed the topic; its broker then publishes
     * the new metadata before it creates the partitions, and a produce in between gets
     * NOT_LEADER_OR_FOLLOWER. An idempotent producer with batches in flight can then be stuck:
     * Kafka takes a later batch first (it accepts any first sequence from a producer it does
     * not know) and refuses the retried first one with OUT_OF_ORDER_SEQUENCE_NUMBER until the
     * delivery timeout. ListOffsets succeeds once the partitions exist: the Admin client
     * retries NOT_LEADER_OR_FOLLOWER itself, and this an unknown topic (the broker's metadata
     * can lag the answer too). brokk creates the partitions before it answers.
     */
    static void createTopic(Admin admin, String name, int partitions, Map<String, String> configs)
            throws Exception {
        admin.createTopics(List.of(new NewTopic(name, partitions, (short) 1).configs(configs))).all().get();
        var latest = new java.util.HashMap<TopicPartition, OffsetSpec>();
        for (int i = 0; i < partitions; i++) {
            latest.put(new TopicPartition(name, i), OffsetSpec.latest());
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (true) {
            try {
                admin.listOffsets(latest).all().get();
                return;
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof UnknownTopicOrPartitionException) || System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(20);
            }
        }
    }

    /** Sends the records and waits for every acknowledgement. */
    static void send(KafkaProducer<String, String> p, Collection<ProducerRecord<String, String>> records)
            throws Exception {
        var acks = new ArrayList<java.util.concurrent.Future<?>>();
        for (var r : records) {
            acks.add(p.send(r));
        }
        for (var a : acks) {
            a.get();
        }
    }

    /** Polls until {@code n} records arrived (failing after {@code seconds}); returns them. */
    static List<ConsumerRecord<String, String>> receive(KafkaConsumer<String, String> c, int n, int seconds) {
        var got = new ArrayList<ConsumerRecord<String, String>>();
        long deadline = System.nanoTime() + Duration.ofSeconds(seconds).toNanos();
        while (got.size() < n) {
            check(System.nanoTime() < deadline, "only " + got.size() + " of " + n + " records within " + seconds + " s");
            c.poll(Duration.ofMillis(200)).forEach(got::add);
        }
        return got;
    }

    /** Polls for {@code millis} and fails on any record (nothing more may arrive). */
    static void expectNothing(KafkaConsumer<String, String> c, int millis) {
        var records = c.poll(Duration.ofMillis(millis));
        check(records.isEmpty(), records.count() + " unexpected record(s), the first at offset "
                + (records.isEmpty() ? -1 : records.iterator().next().offset()));
    }
}
