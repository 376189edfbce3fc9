package brokk.compat;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * A brokk process owned by the suite, so that one JVM (and the clients in it) can outlive
 * broker restarts. Each start logs to {@code DATA.<n>.log} and writes the pid to
 * {@code DATA.pid}, which the shell harness's cleanup kills if this JVM dies first; a JVM
 * shutdown hook (SIGTERM from {@code timeout}) kills it too. Every wait is bounded.
 *
 * <p>With {@code COMPAT_TARGET=kafka} it is the reference Apache Kafka instead (KRaft,
 * combined broker and controller, node id 1): {@code binary} is then
 * {@code compat/kafka/kafka.sh}, run as {@code kafka.sh start PORT DATA} (controller on
 * PORT+1; its server.properties, logs and {@code kafka.pid} in DATA, the log dir in
 * DATA/data, reused across restarts) and {@code kafka.sh stop DATA} (SIGTERM); a kill is a
 * SIGKILL of the pid kafka.sh wrote. {@code DATA.<n>.log} then holds kafka.sh's output.
 */
final class Broker implements AutoCloseable {
    /** Whether the suite runs against the reference Kafka ({@code COMPAT_TARGET=kafka}). */
    static final boolean KAFKA = "kafka".equals(System.getenv("COMPAT_TARGET"));

    private final String binary;
    final String address;
    final Path data;
    private final String[] extraArgs;
    private Process process;
    private ProcessHandle kafka;
    private int starts;
    Path log;

    Broker(String binary, String address, Path data, String... extraArgs) {
        this.binary = binary;
        this.address = address;
        this.data = data;
        this.extraArgs = extraArgs;
        Runtime.getRuntime().addShutdownHook(new Thread(this::close));
    }

    void start() throws IOException, InterruptedException {
        starts++;
        log = Path.of(data + "." + starts + ".log");
        if (KAFKA) {
            startKafka();
            return;
        }
        var cmd = new java.util.ArrayList<String>(
                java.util.List.of(binary, "--listen", address, "--data-dir", data.toString()));
        cmd.addAll(java.util.List.of(extraArgs));
        var pb = new ProcessBuilder(cmd)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(log.toFile());
        pb.environment().put("NO_COLOR", "1");
        process = pb.start();
        Files.writeString(Path.of(data + ".pid"), Long.toString(process.pid()));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            if (Files.readString(log).contains("brokk listening on")) {
                return;
            }
            if (!process.isAlive()) {
                throw new IllegalStateException("broker exited during start-up, see " + log);
            }
            Thread.sleep(20);
        }
        throw new IllegalStateException("broker did not listen within 10 s, see " + log);
    }

    private void startKafka() throws IOException, InterruptedException {
        String port = address.substring(address.lastIndexOf(':') + 1);
        // kafka.sh returns once the port accepts connections (up to 60 s). Kafka may not serve
        // every partition yet (after a kill -9 it first runs on its stale registration until
        // the controller fences that, about 9 s); the clients retry.
        run(90, "start", port, data.toString());
        long pid = Long.parseLong(Files.readString(data.resolve("kafka.pid")).trim());
        Files.writeString(Path.of(data + ".pid"), Long.toString(pid));
        kafka = ProcessHandle.of(pid).orElseThrow(() -> new IllegalStateException("kafka exited during start-up, see "
                + data.resolve("server.log")));
    }

    /** Runs {@code kafka.sh ARGS}, its output appended to {@link #log}; fails unless it exits 0 in time. */
    private void run(int seconds, String... args) throws IOException, InterruptedException {
        var cmd = new java.util.ArrayList<String>(java.util.List.of(binary));
        cmd.addAll(java.util.List.of(args));
        var p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
        if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            throw new IllegalStateException("kafka.sh " + args[0] + " did not finish within " + seconds + " s, see " + log);
        }
        if (p.exitValue() != 0) {
            throw new IllegalStateException("kafka.sh " + args[0] + " failed (" + p.exitValue() + "), see " + log
                    + " and " + data.resolve("server.log"));
        }
    }

    /** Stops the broker with SIGTERM ({@code kill = false}) or SIGKILL, and waits for it. */
    void stop(boolean kill) throws InterruptedException {
        if (KAFKA) {
            stopKafka(kill);
            return;
        }
        if (kill) {
            process.destroyForcibly();
        } else {
            process.destroy();
        }
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            throw new IllegalStateException("broker did not exit within 10 s");
        }
        process = null;
    }

    private void stopKafka(boolean kill) throws InterruptedException {
        // Kafka writes DATA/data/.kafka_cleanshutdown on a clean stop and removes it on start.
        try {
            Files.deleteIfExists(logDir().resolve(".kafka_cleanshutdown"));
            if (kill) {
                kafka.destroyForcibly();
                Files.deleteIfExists(data.resolve("kafka.pid")); // kafka.sh stop removes it itself
            } else {
                run(40, "stop", data.toString()); // SIGTERM; kafka.sh SIGKILLs after 30 s
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        try {
            kafka.onExit().get(10, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            kafka.destroyForcibly();
            throw new IllegalStateException("kafka did not exit within 10 s");
        }
        kafka = null;
    }

    /** Whether the last stop was clean: brokk logs "stopped cleanly", Kafka leaves its clean-shutdown marker. */
    boolean stoppedCleanly() throws IOException {
        if (KAFKA) {
            return Files.exists(logDir().resolve(".kafka_cleanshutdown"));
        }
        return Files.readString(log).contains("stopped cleanly");
    }

    /** The directory of the partition directories: DATA for brokk, DATA/data (log.dirs) for Kafka. */
    Path logDir() {
        return KAFKA ? data.resolve("data") : data;
    }

    /** The segment file of a partition's first segment (the same layout on brokk and Kafka). */
    File firstSegment(String topic, int partition) {
        return logDir().resolve(topic + "-" + partition).resolve("00000000000000000000.log").toFile();
    }

    @Override
    public synchronized void close() {
        if (KAFKA && kafka == null) {
            // Killed during kafka.sh start: its Kafka is in DATA/kafka.pid only.
            try {
                long pid = Long.parseLong(Files.readString(data.resolve("kafka.pid")).trim());
                kafka = ProcessHandle.of(pid).filter(h -> h.info().commandLine().orElse("").contains(data.toString()))
                        .orElse(null);
            } catch (IOException | RuntimeException e) {
                // no Kafka of ours
            }
        }
        if (kafka != null && kafka.isAlive()) {
            kafka.destroyForcibly();
            try {
                kafka.onExit().get(5, TimeUnit.SECONDS);
            } catch (Exception e) {
                // the harness's cleanup kills DATA.pid too
            }
        }
        kafka = null;
        if (process != null && process.isAlive()) {
            process.destroyForcibly();
            try {
                process.waitFor(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        process = null;
    }
}
