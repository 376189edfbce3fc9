package brokk.streams;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;

/**
 * The word-count application: input lines, split into words (flatMapValues), grouped by word
 * (a repartition topic), counted in a RocksDB store (a compacted changelog topic), every
 * update written to the output topic. exactly_once_v2, no record cache (each word occurrence
 * is one count update, so the output of a word must read 1, 2, 3, ... exactly).
 */
final class App implements AutoCloseable {
    static final String APP_ID = "brokk-wordcount";
    static final String INPUT = "wc-input";
    static final String OUTPUT = "wc-output";
    static final String STORE = "counts";
    static final String REPARTITION = APP_ID + "-words-repartition";
    static final String CHANGELOG = APP_ID + "-" + STORE + "-changelog";

    final KafkaStreams streams;
    /** Count updates this instance has forwarded (including ones a later abort discards). */
    final AtomicLong progress = new AtomicLong();
    /** Records restored into the store from the changelog. */
    final AtomicLong restored = new AtomicLong();
    final AtomicLong restoresEnded = new AtomicLong();
    final List<String> transitions = Collections.synchronizedList(new ArrayList<>());
    volatile Throwable uncaught;

    App(String bootstrap, Path stateDir, boolean cleanUp) {
        var b = new StreamsBuilder();
        b.stream(INPUT, Consumed.with(Serdes.String(), Serdes.String()))
                .flatMapValues(line -> List.of(line.split(" ")))
                .groupBy((k, word) -> word, Grouped.with("words", Serdes.String(), Serdes.String()))
                .count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as(STORE)
                        .withKeySerde(Serdes.String())
                        .withValueSerde(Serdes.Long())
                        // small segments and an eager cleaner: brokk compacts the changelog
                        // while the suite runs (the restore-compacted scenario)
                        .withLoggingEnabled(Map.of("segment.ms", "1000", "min.cleanable.dirty.ratio", "0.01")))
                .toStream()
                .peek((word, count) -> progress.incrementAndGet())
                .to(OUTPUT, Produced.with(Serdes.String(), Serdes.Long()));
        streams = new KafkaStreams(b.build(), props(bootstrap, stateDir));
        if (cleanUp) {
            streams.cleanUp(); // wipes the local state: the store must come back from the changelog
        }
        streams.setStateListener((now, before) -> transitions.add(before + "->" + now));
        streams.setUncaughtExceptionHandler(e -> {
            uncaught = e;
            e.printStackTrace(System.out);
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.setGlobalStateRestoreListener(new StateRestoreListener() {
            @Override
            public void onRestoreStart(TopicPartition tp, String store, long start, long end) {
                System.out.printf("   restore %s from %s: offsets %d..%d%n", store, tp, start, end);
            }

            @Override
            public void onBatchRestored(TopicPartition tp, String store, long batchEnd, long n) {
                restored.addAndGet(n);
            }

            @Override
            public void onRestoreEnd(TopicPartition tp, String store, long total) {
                restoresEnded.incrementAndGet();
                System.out.printf("   restored %s from %s: %d records%n", store, tp, total);
            }
        });
        streams.start();
    }

    static Properties props(String bootstrap, Path stateDir) {
        var p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, APP_ID);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        p.put(StreamsConfig.REPARTITION_PURGE_INTERVAL_MS_CONFIG, 500);
        // a member killed with -9 leaves the group after 6 s (the broker's minimum), not 45 s
        p.put(StreamsConfig.consumerPrefix("session.timeout.ms"), 6000);
        p.put(StreamsConfig.consumerPrefix("heartbeat.interval.ms"), 1500);
        p.put(StreamsConfig.producerPrefix("compression.type"), "zstd");
        p.put(StreamsConfig.RETRY_BACKOFF_MS_CONFIG, 200);
        p.put("reconnect.backoff.max.ms", 500);
        return p;
    }

    /** Waits (bounded) until the instance is RUNNING; fails on ERROR or a dead thread. */
    void awaitRunning(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (streams.state() != KafkaStreams.State.RUNNING) {
            checkHealthy();
            Checks.check(System.nanoTime() < deadline,
                    "not RUNNING within " + timeout.toSeconds() + " s: " + streams.state() + " " + transitions);
            Thread.sleep(50);
        }
    }

    /** The instance has not failed: no uncaught exception, not ERROR / PENDING_ERROR / shut down. */
    void checkHealthy() {
        Checks.check(uncaught == null, "a stream thread died: " + uncaught);
        var s = streams.state();
        Checks.check(s == KafkaStreams.State.RUNNING || s == KafkaStreams.State.REBALANCING
                        || s == KafkaStreams.State.CREATED,
                "the instance is " + s + " (transitions " + transitions + ")");
    }

    /** Waits (bounded) until this instance has forwarded at least {@code n} count updates. */
    void awaitProgress(long n, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (progress.get() < n) {
            checkHealthy();
            Checks.check(System.nanoTime() < deadline,
                    "only " + progress.get() + " of " + n + " count updates within " + timeout.toSeconds() + " s");
            Thread.sleep(10);
        }
    }

    /** The store through interactive queries, once it is queryable (restored), bounded. */
    ReadOnlyKeyValueStore<String, Long> store(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            checkHealthy();
            try {
                var s = streams.store(StoreQueryParameters.fromNameAndType(STORE,
                        QueryableStoreTypes.<String, Long>keyValueStore()));
                s.approximateNumEntries(); // throws while a partition's store is still restoring
                return s;
            } catch (org.apache.kafka.streams.errors.InvalidStateStoreException e) {
                Checks.check(System.nanoTime() < deadline, "the store is not queryable within "
                        + timeout.toSeconds() + " s: " + e);
                Thread.sleep(50);
            }
        }
    }

    /** Closes cleanly (bounded); false if the close timed out. */
    boolean close(Duration timeout) {
        return streams.close(timeout);
    }

    @Override
    public void close() {
        streams.close(Duration.ofSeconds(30));
    }
}
