package brokk.connect;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * What the Connect worker left on brokk, checked while the worker is stopped (one JVM at a
 * time): {@code java brokk.connect.Check BOOTSTRAP INPUT_FILE CHECK...} with the checks
 * <ul>
 *   <li>{@code internal}: the worker's config, offset and status topics exist with
 *       cleanup.policy=compact (the config topic with one partition) and hold its records:
 *       the connectors' configs, task configs and commits, target states, statuses;</li>
 *   <li>{@code topic}: the source's topic, read_committed, holds INPUT_FILE's lines once each,
 *       in order; the source's stored offset (read_committed from the offset topic) is
 *       INPUT_FILE's length in bytes. read_uncommitted extras (aborted) are printed;</li>
 *   <li>{@code eos}: the config topic holds file-source's task count record (written when a
 *       connector's tasks first start with exactly-once source support).</li>
 * </ul>
 * Exit status 1 with a message on the first failed check.
 */
public final class Check {
    static final String CONFIGS = "brokk-connect-configs";
    static final String OFFSETS = "brokk-connect-offsets";
    static final String STATUS = "brokk-connect-status";
    static final String TOPIC = "connect-lines";
    static final ObjectMapper JSON = new ObjectMapper();

    static String bootstrap;

    public static void main(String[] args) {
        bootstrap = args[0];
        var input = Path.of(args[1]);
        try (var admin = Admin.create(props())) {
            for (var check : List.of(args).subList(2, args.length)) {
                switch (check) {
                    case "internal" -> internal(admin);
                    case "topic" -> topic(input);
                    case "eos" -> eos();
                    default -> throw new IllegalArgumentException(check);
                }
            }
        } catch (Exception | AssertionError e) {
            System.out.println("FAIL: " + e.getMessage());
            e.printStackTrace(System.out);
            System.out.flush();
            Runtime.getRuntime().halt(1);
        }
        System.out.flush();
        Runtime.getRuntime().halt(0);
    }

    static void check(boolean condition, String message) {
        if (!condition) {
            throw new AssertionError(message);
        }
    }

    static Properties props() {
        var p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("request.timeout.ms", "15000");
        p.put("default.api.timeout.ms", "30000");
        return p;
    }

    static void internal(Admin admin) throws Exception {
        var names = admin.listTopics().names().get();
        for (var t : List.of(CONFIGS, OFFSETS, STATUS)) {
            check(names.contains(t), "no topic " + t + " in " + names);
        }
        var desc = admin.describeTopics(List.of(CONFIGS, OFFSETS, STATUS)).allTopicNames().get();
        var res = List.of(CONFIGS, OFFSETS, STATUS).stream()
                .map(t -> new ConfigResource(ConfigResource.Type.TOPIC, t)).toList();
        var configs = admin.describeConfigs(res).all().get();
        for (var r : res) {
            var policy = configs.get(r).get("cleanup.policy").value();
            System.out.printf("   %s: %d partitions, cleanup.policy=%s%n", r.name(),
                    desc.get(r.name()).partitions().size(), policy);
            check("compact".equals(policy), r.name() + " has cleanup.policy=" + policy + ", not compact");
        }
        check(desc.get(CONFIGS).partitions().size() == 1, CONFIGS + " must have 1 partition");
        check(desc.get(OFFSETS).partitions().size() == 25, OFFSETS + ": offset.storage.partitions (25)");
        check(desc.get(STATUS).partitions().size() == 5, STATUS + ": status.storage.partitions (5)");
        var configKeys = read(CONFIGS, "read_committed").keySet();
        for (var k : List.of("connector-file-source", "connector-file-sink", "task-file-source-0",
                "task-file-sink-0", "commit-file-source", "commit-file-sink", "session-key")) {
            check(configKeys.contains(k), CONFIGS + " lacks the key " + k + ": " + configKeys);
        }
        var status = read(STATUS, "read_committed");
        for (var k : List.of("status-connector-file-source", "status-connector-file-sink",
                "status-task-file-source-0", "status-task-file-sink-0", "status-topic-connect-lines:connector-file-source")) {
            check(status.containsKey(k), STATUS + " lacks the key " + k + ": " + status.keySet());
        }
        System.out.println("   " + CONFIGS + " keys: " + configKeys);
        System.out.println("   " + STATUS + " keys: " + status.keySet());
    }

    /** Exactly-once source support left its task count record (KIP-618) in the config topic. */
    static void eos() {
        var configs = read(CONFIGS, "read_committed");
        var record = configs.get("tasks-fencing-file-source");
        System.out.println("   " + CONFIGS + " tasks-fencing-file-source: " + record);
        check(record != null, CONFIGS + " lacks the task count record tasks-fencing-file-source: " + configs.keySet());
    }

    static void topic(Path input) throws Exception {
        var lines = Files.readAllLines(input);
        var committed = values(TOPIC, "read_committed");
        var all = values(TOPIC, "read_uncommitted");
        System.out.printf("   %s: %d records read_committed, %d read_uncommitted (%d from aborted transactions); "
                + "%s has %d lines%n", TOPIC, committed.size(), all.size(), all.size() - committed.size(),
                input.getFileName(), lines.size());
        for (int i = 0; i < Math.min(lines.size(), committed.size()); i++) {
            check(lines.get(i).equals(committed.get(i)), TOPIC + " offset-order record " + i + " is '"
                    + committed.get(i) + "', the input's line " + i + " is '" + lines.get(i) + "'");
        }
        check(committed.size() == lines.size(), TOPIC + " holds " + committed.size() + " records (read_committed), the input "
                + lines.size() + " lines");
        // The source's offset: key ["file-source",{"filename":...}], value {"position":bytes}.
        var offsets = read(OFFSETS, "read_committed");
        var key = JSON.writeValueAsString(List.of("file-source", Map.of("filename", input.toString())));
        check(offsets.containsKey(key), OFFSETS + " has no key " + key + ": " + offsets.keySet());
        JsonNode value = JSON.readTree(offsets.get(key));
        long position = value.get("position").asLong();
        System.out.printf("   stored source offset %s -> %s (file: %d bytes)%n", key, value, Files.size(input));
        check(position == Files.size(input), "stored source position " + position + " != input size " + Files.size(input));
    }

    /** The last value of each key of a topic, read from the beginning to the end. */
    static Map<String, String> read(String topic, String isolation) {
        var last = new HashMap<String, String>();
        consume(topic, isolation, (k, v) -> last.put(k, v));
        return last;
    }

    static List<String> values(String topic, String isolation) {
        var out = new ArrayList<String>();
        consume(topic, isolation, (k, v) -> out.add(v));
        return out;
    }

    static void consume(String topic, String isolation, java.util.function.BiConsumer<String, String> sink) {
        var p = props();
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        p.put("isolation.level", isolation);
        p.put("enable.auto.commit", "false");
        try (var c = new KafkaConsumer<String, String>(p)) {
            var parts = c.partitionsFor(topic).stream()
                    .map(pi -> new TopicPartition(pi.topic(), pi.partition()))
                    .sorted(java.util.Comparator.comparingInt(TopicPartition::partition)).toList();
            c.assign(parts);
            c.seekToBeginning(parts);
            var ends = c.endOffsets(parts);
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (ends.entrySet().stream().anyMatch(e -> c.position(e.getKey()) < e.getValue())) {
                check(System.nanoTime() < deadline, topic + " not read to its end " + ends + " within 30 s");
                for (var r : c.poll(Duration.ofMillis(200))) {
                    sink.accept(r.key(), r.value());
                }
            }
        }
    }
}
