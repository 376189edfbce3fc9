package brokk.streams;

import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

/**
 * The input: line {@code i} is a fixed function of {@code i} (1 to 8 words drawn from a
 * skewed distribution over {@link #VOCABULARY}), so every phase (and every JVM) knows the
 * true count of each word over any range of lines without reading the input back.
 */
final class Words {
    private Words() {}

    static final String[] VOCABULARY = {
        "kafka", "stream", "broker", "topic", "partition", "offset", "record", "batch", "leader", "epoch",
        "commit", "abort", "marker", "producer", "consumer", "group", "member", "rebalance", "assignor", "task",
        "state", "store", "changelog", "repartition", "compact", "segment", "index", "cleaner", "fetch", "produce",
        "metadata", "coordinator", "transaction", "fence", "sequence", "timestamp", "header", "key", "value", "zstd",
    };

    static String line(int i) {
        var r = new Random(0x5eed_0000L + i * 7919L);
        int n = 1 + r.nextInt(8);
        var sb = new StringBuilder();
        for (int k = 0; k < n; k++) {
            if (k > 0) {
                sb.append(' ');
            }
            sb.append(VOCABULARY[(int) (Math.pow(r.nextDouble(), 2.5) * VOCABULARY.length)]);
        }
        return sb.toString();
    }

    /** The true count of each word over lines {@code [0, to)}. */
    static Map<String, Long> counts(int to) {
        return counts(0, to);
    }

    /** The true count of each word over lines {@code [from, to)}. */
    static Map<String, Long> counts(int from, int to) {
        var m = new TreeMap<String, Long>();
        for (int i = from; i < to; i++) {
            for (var w : line(i).split(" ")) {
                m.merge(w, 1L, Long::sum);
            }
        }
        return m;
    }

    /** The number of words in lines {@code [from, to)}. */
    static long words(int from, int to) {
        long n = 0;
        for (int i = from; i < to; i++) {
            n += line(i).split(" ").length;
        }
        return n;
    }
}
