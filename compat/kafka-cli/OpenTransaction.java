import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Holds a transaction open for compat/kafka-cli/run.sh (the CLI tools write no
 * transactions): run as a single source file,
 * {@code java -cp KAFKA_HOME/libs/* OpenTransaction.java BOOTSTRAP TOPIC TXN_ID N}.
 * It writes N records to partition 0 in one transaction, prints "open", and on a line
 * "commit" on stdin commits and prints "committed" (or the error), then exits.
 */
public final class OpenTransaction {
    public static void main(String[] args) throws Exception {
        var p = new Properties();
        p.put("bootstrap.servers", args[0]);
        p.put("transactional.id", args[2]);
        p.put("transaction.timeout.ms", "600000");
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        try (var producer = new KafkaProducer<String, String>(p)) {
            producer.initTransactions();
            producer.beginTransaction();
            for (int i = 0; i < Integer.parseInt(args[3]); i++) {
                producer.send(new ProducerRecord<>(args[1], 0, "k" + i, "open-" + i));
            }
            producer.flush();
            System.out.println("open");
            var in = new BufferedReader(new InputStreamReader(System.in));
            if ("commit".equals(in.readLine())) {
                try {
                    producer.commitTransaction();
                    System.out.println("committed");
                } catch (Exception e) {
                    System.out.println("commit failed: " + e);
                }
            }
        }
    }
}
