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
 */
final class Broker implements AutoCloseable {
    private final String binary;
    final String address;
    final Path data;
    private final String[] extraArgs;
    private Process process;
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

    /** Stops the broker with SIGTERM ({@code kill = false}) or SIGKILL, and waits for it. */
    void stop(boolean kill) throws InterruptedException {
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

    /** The segment file of a partition's first segment. */
    File firstSegment(String topic, int partition) {
        return data.resolve(topic + "-" + partition).resolve("00000000000000000000.log").toFile();
    }

    @Override
    public synchronized void close() {
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
