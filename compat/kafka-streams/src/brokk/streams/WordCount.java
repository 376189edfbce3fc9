package brokk.streams;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;

/**
 * The Kafka Streams suite's driver, in two JVMs the shell runs one after the other against
 * the brokk it owns (so that the first can be killed with -9 and the broker with it running):
 *
 * <pre>java brokk.streams.WordCount phase1|phase2 BOOTSTRAP WORK_DIR RESULTS_TSV</pre>
 *
 * phase1 runs the app, closes it mid-stream and starts it again (clean-restart), then asks the
 * shell to kill -9 this JVM mid-stream (WORK/signal.kill-app holds the pid). phase2 starts the
 * app again on the same state directory (app-kill9), asks the shell to kill -9 and restart
 * brokk mid-stream (signal.kill-broker, answered by signal.broker-back), checks the internal
 * topics, then wipes the local state and restores it from the compacted changelog, and last
 * resets the application (kafka-streams-application-reset --to-datetime) and counts again.
 * Every phase's output is checked with a read_committed consumer: the counts of each word
 * read 1, 2, ..., n exactly.
 */
public final class WordCount {
    // Input lines: A before the first start, B before the app is killed, C before brokk is
    // killed, D after the state is restored from the compacted changelog.
    static final int A = 1500;
    static final int B = 3000;
    static final int C = 5000;
    static final int D = 5500;

    interface Body {
        void run() throws Exception;
    }

    static String bootstrap;
    static Path work;
    static Path results;

    public static void main(String[] args) throws Exception {
        bootstrap = args[1];
        work = Path.of(args[2]);
        results = Path.of(args[3]);
        try {
            switch (args[0]) {
                case "phase1" -> phase1();
                case "phase2" -> phase2();
                default -> throw new IllegalArgumentException(args[0]);
            }
        } catch (Throwable e) {
            System.out.println("FAIL: " + e);
            e.printStackTrace(System.out);
            System.out.flush();
            Runtime.getRuntime().halt(1); // the app's threads must not keep this JVM alive
        }
        System.out.flush();
        Runtime.getRuntime().halt(0);
    }

    static Path stateDir() {
        return work.resolve("state");
    }

    static void phase1() throws Exception {
        try (var admin = Checks.admin(bootstrap)) {
            admin.createTopics(List.of(
                    new NewTopic(App.INPUT, Optional.of(2), Optional.empty()),
                    new NewTopic(App.OUTPUT, Optional.of(2), Optional.empty()))).all().get();
            Checks.produce(bootstrap, 0, A);

            var app = new App[1];
            scenario("clean-restart", "consume,group-rebalance,commit-resume",
                    "close() mid-stream (offsets committed in the last transaction, store checkpointed; the member "
                            + "stays in the group, as Streams never sends LeaveGroup); a new instance joins, the rebalance "
                            + "ends when the old member's session expires, it restores nothing and resumes: every count "
                            + "1..n once (read_committed)",
                    () -> {
                        var first = new App(bootstrap, stateDir(), false);
                        first.awaitRunning(Duration.ofSeconds(60));
                        first.awaitProgress(Words.words(0, A) / 4, Duration.ofSeconds(60));
                        Checks.check(first.close(Duration.ofSeconds(30)), "close() timed out");
                        var lag = Checks.lag(admin);
                        System.out.printf("   closed after %d count updates; records not committed: %s%n",
                                first.progress.get(), lag);
                        Checks.check(lag.get(App.REPARTITION) > 0,
                                "the app had processed all its input before close(): not mid-stream");
                        app[0] = new App(bootstrap, stateDir(), false);
                        app[0].awaitRunning(Duration.ofSeconds(60));
                        try (var out = new Checks.Output(bootstrap, "read_committed")) {
                            out.await(Words.counts(A), Duration.ofSeconds(60), app[0]);
                            out.checkExactlyOnce(Words.counts(A));
                        }
                        Checks.check(app[0].restored.get() == 0, "a restart after a clean close restored "
                                + app[0].restored.get() + " records (its checkpoint should leave none)");
                        app[0].checkHealthy();
                    });

            // The kill -9 of this JVM, mid-stream; phase2 checks what follows (app-kill9).
            System.out.println("== app-kill9 (first part): more input, then this JVM is killed mid-stream");
            long base = app[0].progress.get();
            Checks.produce(bootstrap, A, B);
            app[0].awaitProgress(base + Words.words(A, B) / 3, Duration.ofSeconds(60));
            signal("kill-app", Long.toString(ProcessHandle.current().pid()));
            System.out.printf("   asked to be killed after %d count updates%n", app[0].progress.get());
            Thread.sleep(30_000);
            throw new Checks.CheckFailed("the shell did not kill -9 this JVM within 30 s");
        }
    }

    static void phase2() throws Exception {
        try (var admin = Checks.admin(bootstrap); var out = new Checks.Output(bootstrap, "read_committed")) {
            var app = new App[1];
            long[] inputCStart = new long[1];
            scenario("app-kill9", "transactions,idempotent,group-rebalance,commit-resume",
                    "the app's JVM is killed (-9) mid-transaction; a new one on the same state directory fences "
                            + "its producer, waits out its group session, restores the store from the changelog "
                            + "and resumes: every count 1..n once (read_committed)",
                    () -> {
                        var lag = Checks.lag(admin);
                        System.out.printf("   records the killed app had not committed: %s%n", lag);
                        Checks.check(lag.get(App.REPARTITION) > 0,
                                "the app had committed all its input before the kill: not mid-stream");
                        var killed = Checks.transaction(admin);
                        System.out.printf("   the killed app's transaction: %s, producer id %d epoch %d, partitions %s%n",
                                killed.state(), killed.producerId(), killed.producerEpoch(), killed.topicPartitions());
                        app[0] = new App(bootstrap, stateDir(), false);
                        app[0].awaitRunning(Duration.ofSeconds(60));
                        out.await(Words.counts(B), Duration.ofSeconds(60), app[0]);
                        out.checkExactlyOnce(Words.counts(B));
                        // the same transactional id (the process id lives in the state directory): its
                        // InitProducerId fenced the killed producer with a new epoch
                        var now = Checks.transaction(admin);
                        System.out.printf("   the new app's transaction: %s, producer id %d epoch %d%n",
                                now.state(), now.producerId(), now.producerEpoch());
                        Checks.check(now.producerId() != killed.producerId() || now.producerEpoch() > killed.producerEpoch(),
                                "the new instance's producer did not fence the killed one (same producer id and epoch)");
                        Checks.check(app[0].restored.get() > 0,
                                "no record restored from the changelog after the crash (exactly-once wipes a dirty store)");
                    });

            scenario("broker-kill9", "transactions,leader-epochs",
                    "brokk is killed (-9) mid-stream and restarted; the running app recovers without a stream "
                            + "thread dying: every count 1..n once (read_committed)",
                    () -> {
                        long base = app[0].progress.get();
                        inputCStart[0] = System.currentTimeMillis(); // for reset-to-datetime
                        Thread.sleep(5);
                        Checks.produce(bootstrap, B, C);
                        app[0].awaitProgress(base + Words.words(B, C) / 4, Duration.ofSeconds(60));
                        signal("kill-broker", "");
                        System.out.printf("   asked for a broker kill after %d count updates%n", app[0].progress.get());
                        awaitSignal("broker-back", Duration.ofSeconds(30));
                        var lag = Checks.lag(admin);
                        System.out.printf("   brokk is back; records the app has not committed: %s%n", lag);
                        Checks.check(lag.get(App.REPARTITION) > 0 || lag.get(App.INPUT) > 0,
                                "the app had committed all its input before brokk was killed: not mid-stream");
                        out.await(Words.counts(C), Duration.ofSeconds(90), app[0]);
                        out.checkExactlyOnce(Words.counts(C));
                        app[0].checkHealthy();
                        System.out.println("   state transitions: " + app[0].transitions);
                    });

            scenario("internal-topics", "admin-topics,admin-delete-records",
                    "Streams created the repartition topic (cleanup.policy=delete) and the changelog "
                            + "(cleanup.policy=compact, the store's segment.ms) with the input's 2 partitions, "
                            + "and purged the repartition topic with DeleteRecords",
                    () -> internalTopics(admin));

            scenario("restore-compacted", "consume",
                    "the app closes; brokk compacts the changelog; the local state is wiped (cleanUp()); a new "
                            + "instance restores the store from the compacted changelog: every count right "
                            + "(interactive query) from fewer records than updates written",
                    () -> {
                        Checks.check(app[0].close(Duration.ofSeconds(30)), "close() timed out");
                        long updates = Words.words(0, C);
                        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                        long[] log;
                        while (true) {
                            log = Checks.changelogRecords(bootstrap);
                            // The active segments are never compacted (as in Kafka), and how much of the
                            // changelog they hold depends on when the last roll (segment.ms) happened:
                            // the check is that the cleaner removed superseded updates at all.
                            if (log[0] < updates) {
                                break;
                            }
                            Checks.check(System.nanoTime() < deadline, "the changelog still holds " + log[0]
                                    + " records of " + updates + " updates 30 s after the app closed: not compacted");
                            Thread.sleep(1000);
                        }
                        System.out.printf("   changelog: %d records (%d keys more than once) for %d updates%n",
                                log[0], log[1], updates);
                        app[0] = new App(bootstrap, stateDir(), true);
                        app[0].awaitRunning(Duration.ofSeconds(60));
                        var store = app[0].store(Duration.ofSeconds(60));
                        var want = Words.counts(C);
                        for (var e : want.entrySet()) {
                            Long got = store.get(e.getKey());
                            Checks.check(e.getValue().equals(got), "restored count of '" + e.getKey() + "' is "
                                    + got + ", true count " + e.getValue());
                        }
                        long entries = 0;
                        try (var it = store.all()) {
                            while (it.hasNext()) {
                                it.next();
                                entries++;
                            }
                        }
                        Checks.check(entries == want.size(),
                                "the restored store has " + entries + " entries, not " + want.size());
                        long restored = app[0].restored.get();
                        System.out.printf("   restored %d records%n", restored);
                        Checks.check(restored > 0 && restored <= log[0],
                                "restored " + restored + " records from a changelog of " + log[0]);
                    });

            scenario("exactly-once-output", "transactions,consume",
                    "more input after the restore; the whole output read_committed: every count of every word "
                            + "1..n exactly once, n its true count; read_uncommitted also shows the aborted ones",
                    () -> {
                        Checks.produce(bootstrap, C, D);
                        out.await(Words.counts(D), Duration.ofSeconds(60), app[0]);
                        out.checkExactlyOnce(Words.counts(D));
                        Checks.check(app[0].close(Duration.ofSeconds(30)), "close() timed out");
                        out.drain(Duration.ofSeconds(30));
                        out.checkExactlyOnce(Words.counts(D));
                        try (var all = new Checks.Output(bootstrap, "read_uncommitted")) {
                            all.drain(Duration.ofSeconds(30));
                            System.out.printf("   output: %d records read_committed, %d read_uncommitted "
                                    + "(%d from aborted transactions)%n", out.records, all.records,
                                    all.records - out.records);
                            Checks.check(all.records >= out.records, "read_uncommitted reads fewer records");
                        }
                    });

            scenario("reset-to-datetime", "offsets-for-times,admin-groups,admin-topics,commit-resume",
                    "kafka-streams-application-reset (StreamsResetter, in process) --to-datetime (when input C began) "
                            + "--force: it removes the closed app's lingering member (describeConsumerGroups, "
                            + "removeMembersFromConsumerGroup), commits the input offsets offsetsForTimes finds and "
                            + "deletes the internal topics; the app, its local state wiped, creates them again and "
                            + "counts lines C..D from zero: every count 1..n once",
                    () -> resetToDatetime(admin, out.positions(), inputCStart[0]));
        }
    }

    static void resetToDatetime(Admin admin, Map<TopicPartition, Long> outputEnd, long time) throws Exception {
        var at = java.time.format.DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSXXX")
                .format(java.time.Instant.ofEpochMilli(time).atOffset(java.time.ZoneOffset.UTC));
        var parts = List.of(new TopicPartition(App.INPUT, 0), new TopicPartition(App.INPUT, 1));
        var want = admin.listOffsets(Map.of(parts.get(0), OffsetSpec.forTimestamp(time),
                parts.get(1), OffsetSpec.forTimestamp(time))).all().get();
        int rc = new org.apache.kafka.tools.StreamsResetter().execute(new String[] {
            "--bootstrap-server", bootstrap, "--application-id", App.APP_ID,
            "--input-topics", App.INPUT, "--to-datetime", at, "--force"});
        Checks.check(rc == 0, "kafka-streams-application-reset --to-datetime " + at + " exited with " + rc);
        var committed = admin.listConsumerGroupOffsets(App.APP_ID).partitionsToOffsetAndMetadata().get();
        var ends = admin.listOffsets(Map.of(parts.get(0), OffsetSpec.latest(), parts.get(1), OffsetSpec.latest()))
                .all().get();
        for (var tp : parts) {
            // ListOffsets by time: the first offset whose timestamp is at or after the time, or -1
            // if there is none; the tool then resets to the end
            long w = want.get(tp).offset();
            long end = ends.get(tp).offset();
            long got = committed.get(tp).offset();
            System.out.printf("   %s: reset to %d (ListOffsets at %s: %d; end %d)%n", tp, got, at, w, end);
            Checks.check(got == (w == -1 ? end : w), tp + " reset to " + got + "; ListOffsets at " + at + " answered "
                    + w + ", the end is " + end);
            // lines alternate between the partitions: C's first line in each is at B / 2
            Checks.check(w == B / 2, tp + ": ListOffsets at " + at + " answered " + w + ", not " + B / 2
                    + " (where the lines produced after that time begin)");
            // and ListOffsets told the truth: the record before it is older, the one at it is not
            if (w != -1) {
                long ts = Checks.timestampAt(bootstrap, tp, w);
                Checks.check(ts >= time, tp + " offset " + w + " has timestamp " + ts + ", before " + time);
            }
            long before = (w == -1 ? end : w) - 1;
            if (before >= 0) {
                long ts = Checks.timestampAt(bootstrap, tp, before);
                Checks.check(ts < time, tp + " offset " + before + " has timestamp " + ts + ", not before " + time
                        + ", yet ListOffsets at that time answered " + w);
            }
        }
        var names = admin.listTopics().names().get();
        Checks.check(!names.contains(App.REPARTITION) && !names.contains(App.CHANGELOG),
                "the internal topics were not deleted: " + names);
        var app = new App(bootstrap, stateDir(), true);
        app.awaitRunning(Duration.ofSeconds(60));
        try (var again = new Checks.Output(bootstrap, "read_committed", outputEnd)) {
            again.await(Words.counts(B, D), Duration.ofSeconds(60), app);
            again.checkExactlyOnce(Words.counts(B, D));
        }
        Checks.check(admin.listTopics().names().get().containsAll(List.of(App.REPARTITION, App.CHANGELOG)),
                "the app did not create its internal topics again");
        Checks.check(app.close(Duration.ofSeconds(30)), "close() timed out");
    }

    static void internalTopics(Admin admin) throws Exception {
        var names = admin.listTopics().names().get();
        Checks.check(names.contains(App.REPARTITION) && names.contains(App.CHANGELOG),
                "internal topics missing: " + names);
        var desc = admin.describeTopics(List.of(App.REPARTITION, App.CHANGELOG)).allTopicNames().get();
        for (var d : desc.values()) {
            Checks.check(d.partitions().size() == 2, d.name() + " has " + d.partitions().size() + " partitions, not 2");
        }
        var rp = new ConfigResource(ConfigResource.Type.TOPIC, App.REPARTITION);
        var cl = new ConfigResource(ConfigResource.Type.TOPIC, App.CHANGELOG);
        var configs = admin.describeConfigs(List.of(rp, cl)).all().get();
        Checks.check("compact".equals(configs.get(cl).get("cleanup.policy").value()),
                "changelog cleanup.policy=" + configs.get(cl).get("cleanup.policy").value());
        Checks.check("1000".equals(configs.get(cl).get("segment.ms").value()),
                "changelog segment.ms=" + configs.get(cl).get("segment.ms").value() + " (the store asked 1000)");
        Checks.check("delete".equals(configs.get(rp).get("cleanup.policy").value()),
                "repartition cleanup.policy=" + configs.get(rp).get("cleanup.policy").value());
        // Streams asks retention.ms=-1 (infinite) for repartition topics: it deletes what it has read
        Checks.check("-1".equals(configs.get(rp).get("retention.ms").value()),
                "repartition retention.ms=" + configs.get(rp).get("retention.ms").value());
        // The purge: DeleteRecords up to the committed offsets, every repartition.purge.interval.ms.
        var parts = List.of(new TopicPartition(App.REPARTITION, 0), new TopicPartition(App.REPARTITION, 1));
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (true) {
            var starts = admin.listOffsets(Map.of(parts.get(0), OffsetSpec.earliest(), parts.get(1), OffsetSpec.earliest()))
                    .all().get();
            var ends = admin.listOffsets(Map.of(parts.get(0), OffsetSpec.latest(), parts.get(1), OffsetSpec.latest()))
                    .all().get();
            boolean purged = parts.stream().allMatch(tp -> starts.get(tp).offset() > 0);
            if (purged) {
                for (var tp : parts) {
                    System.out.printf("   %s: log start %d, end %d%n", tp, starts.get(tp).offset(), ends.get(tp).offset());
                }
                break;
            }
            Checks.check(System.nanoTime() < deadline, "the repartition topic was not purged within 20 s: log starts "
                    + starts.values());
            Thread.sleep(250);
        }
        System.out.println("   internal topics: " + Set.of(App.REPARTITION, App.CHANGELOG));
    }

    static void scenario(String name, String ids, String detail, Body body) throws Exception {
        System.out.println("== " + name + ": " + detail);
        long start = System.nanoTime();
        String status = "pass";
        String text = name + ": " + detail;
        Throwable failure = null;
        try {
            body.run();
            System.out.printf("   ok (%.1f s)%n", (System.nanoTime() - start) / 1e9);
        } catch (Exception | AssertionError e) {
            status = "fail";
            text = name + ": " + e;
            failure = e;
            System.out.println("FAIL [" + name + "]: " + e);
            e.printStackTrace(System.out);
        }
        for (var id : ids.split(",")) {
            Files.writeString(results, id + "\t" + status + "\t" + text.replace('\n', ' ') + "\n",
                    StandardOpenOption.APPEND, StandardOpenOption.CREATE);
        }
        if (failure != null) {
            System.out.flush();
            Runtime.getRuntime().halt(1); // no clean close of the app: the suite stops here
        }
    }

    /** Tells the shell to act: WORK/signal.NAME (written whole, then renamed). */
    static void signal(String name, String content) throws Exception {
        var tmp = work.resolve("signal." + name + ".tmp");
        Files.writeString(tmp, content);
        Files.move(tmp, work.resolve("signal." + name), StandardCopyOption.ATOMIC_MOVE);
    }

    static void awaitSignal(String name, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!Files.exists(work.resolve("signal." + name))) {
            Checks.check(System.nanoTime() < deadline, "no signal." + name + " from the shell within "
                    + timeout.toSeconds() + " s");
            Thread.sleep(20);
        }
    }
}
