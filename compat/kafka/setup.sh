#!/usr/bin/env bash
# Assembles Apache Kafka (broker + tools + clients, default 4.1.2) from Maven Central into a
# cache dir, for use as a reference broker (oracle) by compat/kafka/kafka.sh. No tarball:
# a generated pom.xml + `mvn dependency:copy-dependencies` puts every jar into CACHE/libs.
# Kafka 4.1 still uses slf4j-api 1.7, so the log4j2 binding is log4j-slf4j-impl (not -slf4j2-).
#
# The cache dir is laid out as a Kafka distribution (KAFKA_HOME): libs/ holds the jars, bin/
# thin wrappers for Kafka's CLI tools under their usual names (bin/kafka-topics.sh ...,
# through bin/kafka-run-class.sh, as Kafka's), config/ the tools' logging (WARN to stderr).
#
# Usage: compat/kafka/setup.sh     prints the cache dir (libs/ reused when complete)
# Env:   KAFKA_VERSION (4.1.2), KAFKA_CACHE (default $HOME/.cache/brokk-kafka/$KAFKA_VERSION)
set -euo pipefail
V=${KAFKA_VERSION:-4.1.2}
CACHE=${KAFKA_CACHE:-$HOME/.cache/brokk-kafka/$V}

# bin/ and config/: rewritten on every run (cheap), so an older cache gets them too.
distribution() {
    mkdir -p "$CACHE/bin" "$CACHE/config"
    cat > "$CACHE/config/tools-log4j2.properties" <<'P'
appender.stderr.type=Console
appender.stderr.name=STDERR
appender.stderr.target=SYSTEM_ERR
appender.stderr.layout.type=PatternLayout
appender.stderr.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=WARN
rootLogger.appenderRef.stderr.ref=STDERR
P
    cat > "$CACHE/bin/kafka-run-class.sh" <<'R'
#!/usr/bin/env bash
# Runs a Java class with this distribution's libs/ on the classpath (as Kafka's script).
# Env: KAFKA_HEAP_OPTS (default -Xmx512m), KAFKA_OPTS, KAFKA_LOG4J_OPTS.
base=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log=${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=$base/config/tools-log4j2.properties}
# shellcheck disable=SC2086
exec java ${KAFKA_HEAP_OPTS:--Xmx512m} -XX:+UseSerialGC -Djava.awt.headless=true $log ${KAFKA_OPTS:-} \
    -cp "$base/libs/*" "$@"
R
    local tool class
    while read -r tool class; do
        printf '#!/usr/bin/env bash\nexec "$(dirname "${BASH_SOURCE[0]}")/kafka-run-class.sh" %s "$@"\n' \
            "$class" > "$CACHE/bin/$tool.sh"
    done <<'T'
kafka-topics org.apache.kafka.tools.TopicCommand
kafka-configs kafka.admin.ConfigCommand
kafka-consumer-groups org.apache.kafka.tools.consumer.group.ConsumerGroupCommand
kafka-share-groups org.apache.kafka.tools.consumer.group.ShareGroupCommand
kafka-groups org.apache.kafka.tools.GroupsCommand
kafka-console-producer org.apache.kafka.tools.ConsoleProducer
kafka-console-consumer org.apache.kafka.tools.consumer.ConsoleConsumer
kafka-get-offsets org.apache.kafka.tools.GetOffsetShell
kafka-delete-records org.apache.kafka.tools.DeleteRecordsCommand
kafka-log-dirs org.apache.kafka.tools.LogDirsCommand
kafka-transactions org.apache.kafka.tools.TransactionsCommand
kafka-features org.apache.kafka.tools.FeatureCommand
kafka-metadata-quorum org.apache.kafka.tools.MetadataQuorumCommand
kafka-acls org.apache.kafka.tools.AclCommand
kafka-reassign-partitions org.apache.kafka.tools.reassign.ReassignPartitionsCommand
kafka-leader-election org.apache.kafka.tools.LeaderElectionCommand
kafka-producer-perf-test org.apache.kafka.tools.ProducerPerformance
kafka-consumer-perf-test org.apache.kafka.tools.ConsumerPerformance
kafka-verifiable-producer org.apache.kafka.tools.VerifiableProducer
kafka-verifiable-consumer org.apache.kafka.tools.VerifiableConsumer
kafka-broker-api-versions org.apache.kafka.tools.BrokerApiVersionsCommand
kafka-client-metrics org.apache.kafka.tools.ClientMetricsCommand
kafka-cluster org.apache.kafka.tools.ClusterTool
kafka-delegation-tokens org.apache.kafka.tools.DelegationTokenCommand
kafka-streams-application-reset org.apache.kafka.tools.StreamsResetter
kafka-storage kafka.tools.StorageTool
kafka-server-start kafka.Kafka
connect-distributed org.apache.kafka.connect.cli.ConnectDistributed
connect-standalone org.apache.kafka.connect.cli.ConnectStandalone
T
    chmod +x "$CACHE"/bin/*.sh
}

mkdir -p "$CACHE"
dep() { echo "<dependency><groupId>$1</groupId><artifactId>$2</artifactId><version>$3</version></dependency>"; }
pom=$(cat <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>brokk.compat</groupId><artifactId>kafka-oracle</artifactId><version>$V</version>
  <packaging>pom</packaging>
  <dependencies>
    $(dep org.apache.kafka kafka_2.13 "$V")
    $(dep org.apache.kafka kafka-tools "$V")
    $(dep org.apache.kafka kafka-clients "$V")
    $(dep org.apache.logging.log4j log4j-slf4j-impl 2.24.3)
    $(dep org.apache.kafka kafka-streams "$V")
    $(dep org.apache.kafka connect-file "$V")
    $(dep org.apache.logging.log4j log4j-core 2.24.3)
  </dependencies>
</project>
POM
)
# .complete holds the pom it was built from: a changed dependency list rebuilds libs/.
if [ -f "$CACHE/.complete" ] && [ "$(cat "$CACHE/.complete")" = "$pom" ]; then
    distribution
    echo "$CACHE"
    exit 0
fi
printf '%s\n' "$pom" > "$CACHE/pom.xml"
rm -rf "$CACHE/libs"
mvn -q -B -Dstyle.color=never -f "$CACHE/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$CACHE/libs" >&2
ls "$CACHE"/libs/kafka_2.13-"$V".jar >/dev/null   # fail loudly if the broker jar is missing
printf '%s\n' "$pom" > "$CACHE/.complete"
distribution
echo "$CACHE"
