package brokk.compat;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * The Java client's compat suite: every scenario in one JVM, against brokk processes this
 * JVM runs itself ({@link Broker}).
 *
 * <pre>java -cp KAFKA_HOME/libs/*:CLASSES brokk.compat.Main BROKK_BIN WORK_DIR RESULTS_TSV [SCENARIO...]</pre>
 *
 * Each scenario is tagged with the matrix columns of {@code compat/lib/matrix.py}; its result
 * is appended to RESULTS_TSV as {@code compat/lib/harness.sh} writes them. A failed scenario
 * does not stop the others; the exit code is 1 if any failed.
 *
 * <p>With {@code COMPAT_TARGET=kafka} the brokers are the reference Apache Kafka (BROKK_BIN is
 * then {@code compat/kafka/kafka.sh}, see {@link Broker}) and nothing is written to RESULTS_TSV:
 * the compat matrix records brokk.
 */
public final class Main {
    /** A scenario's body; {@code ctx} holds the shared broker and the work dir. */
    interface Body {
        void run(Context ctx) throws Exception;
    }

    record Scenario(String name, String ids, String detail, Body body) {}

    /** What a scenario gets: the shared broker (running) and a place for its own brokers. */
    record Context(Broker broker, String binary, Path work) {
        String bootstrap() {
            return broker.address;
        }

        /** A broker of the scenario's own (not started) on a free port, data in WORK/NAME. */
        Broker ownBroker(String name) throws IOException {
            return new Broker(binary, "127.0.0.1:" + freePort(), work.resolve(name));
        }
    }

    static int freePort() throws IOException {
        while (true) {
            int port;
            try (var s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
                port = s.getLocalPort();
            }
            if (!Broker.KAFKA || (port < 65535 && isFree(port + 1))) { // Kafka's controller listens on PORT+1
                return port;
            }
        }
    }

    private static boolean isFree(int port) {
        try (var s = new ServerSocket(port, 1, java.net.InetAddress.getLoopbackAddress())) {
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    static final List<Scenario> SCENARIOS = List.of(
            new Scenario("codecs", "produce-codecs,consume",
                    "a KafkaProducer per codec (none, gzip, snappy, lz4, zstd), keyed records with headers read back",
                    ProduceConsume::codecs),
            new Scenario("times", "offsets-for-times",
                    "offsetsForTimes (first offset at or after a time, null past the end), beginningOffsets, endOffsets",
                    ProduceConsume::times),
            new Scenario("assignors", "group-rebalance",
                    "two KafkaConsumers share 4 partitions, then one leaves: range, roundrobin, sticky, cooperative-sticky",
                    Groups::assignors),
            new Scenario("static", "group-rebalance",
                    "static membership (group.instance.id): a member restarts into its partitions without a rebalance",
                    Groups::staticMembership),
            new Scenario("commit", "commit-resume",
                    "commitSync(), commitSync(offsets with metadata), committed(); a new member resumes there; kill -9 and resume",
                    Groups::commitResume),
            new Scenario("admin-topics", "admin-topics",
                    "createTopics (configs, validateOnly, exists), describeTopics by name and id, listTopics, deleteTopics by id, describeCluster",
                    AdminScenarios::topics),
            new Scenario("admin-configs", "admin-configs",
                    "describeConfigs and incrementalAlterConfigs (SET, DELETE, APPEND, SUBTRACT, validateOnly) of a topic and the broker; max.message.bytes takes effect",
                    AdminScenarios::configs),
            new Scenario("admin-partitions", "admin-partitions",
                    "createPartitions (validateOnly, grow, shrink refused)",
                    AdminScenarios::partitions),
            new Scenario("admin-records", "admin-delete-records",
                    "deleteRecords, listOffsets (earliest, latest, max timestamp, by time), describeLogDirs",
                    AdminScenarios::records),
            new Scenario("admin-groups", "admin-groups",
                    "listGroups, describeConsumerGroups, list/alter/delete group offsets, removeMembersFromConsumerGroup, deleteConsumerGroups",
                    AdminScenarios::groups),
            new Scenario("idempotent", "idempotent",
                    "default KafkaProducer (idempotent, acks=all), 20000 keyed records to 3 partitions: each once, in order",
                    Transactions::idempotent),
            new Scenario("txn-eos", "transactions",
                    "consume-transform-produce with sendOffsetsToTransaction, every 3rd transaction aborted; read_committed reads each input once; list/describe transactions",
                    Transactions::eos),
            new Scenario("txn-fence", "transactions",
                    "a second producer with the same transactional.id fences the first (ProducerFencedException); read_committed sees only the second's records",
                    Transactions::fence),
            new Scenario("epochs-restart", "leader-epochs",
                    "a KafkaConsumer across a broker restart: leader epoch 0 -> 2, the next records once each",
                    Epochs::restart),
            new Scenario("epochs-truncation", "leader-epochs",
                    "a crash loses acknowledged-but-unflushed records: poll() throws LogTruncationException naming offset 5",
                    Epochs::truncation));

    public static void main(String[] args) throws Exception {
        String binary = args[0];
        Path work = Path.of(args[1]);
        Path results = Path.of(args[2]);
        var only = List.of(args).subList(3, args.length);
        int passed = 0;
        int failed = 0;
        try (var broker = new Broker(binary, "127.0.0.1:" + freePort(), work.resolve("data"))) {
            if (Broker.KAFKA) {
                System.out.println("target: the reference Apache Kafka (" + binary + "); results not recorded");
            }
            broker.start();
            var ctx = new Context(broker, binary, work);
            for (var s : SCENARIOS) {
                if (!only.isEmpty() && !only.contains(s.name())) {
                    continue;
                }
                System.out.println("== " + s.name() + ": " + s.detail());
                long start = System.nanoTime();
                String status;
                try {
                    s.body().run(ctx);
                    status = "pass";
                    passed++;
                    System.out.printf("   ok (%.1f s)%n", (System.nanoTime() - start) / 1e9);
                } catch (Exception | AssertionError e) {
                    status = "fail";
                    failed++;
                    System.out.println("FAIL [" + s.name() + "]: " + e);
                    e.printStackTrace(System.out);
                }
                for (var id : Broker.KAFKA ? new String[0] : s.ids().split(",")) {
                    Files.writeString(results, id + "\t" + status + "\t" + s.name() + ": " + s.detail() + "\n",
                            StandardOpenOption.APPEND, StandardOpenOption.CREATE);
                }
            }
            broker.stop(false);
            check(broker.stoppedCleanly(), Broker.KAFKA ? "kafka left no clean-shutdown marker"
                    : "the broker log lacks 'stopped cleanly'");
        }
        System.out.println("java-client: " + passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }

    private static void check(boolean condition, String message) {
        Clients.check(condition, message);
    }
}
