#!/usr/bin/env bash
# Assembles Apache Kafka (broker + tools + clients, default 4.1.1) from Maven Central into a
# cache dir, for use as a reference broker (oracle) by compat/kafka/kafka.sh. No tarball:
# a generated pom.xml + `mvn dependency:copy-dependencies` puts every jar into CACHE/libs.
# Kafka 4.1 still uses slf4j-api 1.7, so the log4j2 binding is log4j-slf4j-impl (not -slf4j2-).
#
# Usage: compat/kafka/setup.sh     prints the cache dir (reused when CACHE/libs is complete)
# Env:   KAFKA_VERSION (4.1.1), KAFKA_CACHE (default $HOME/.cache/brokk-kafka/$KAFKA_VERSION)
set -euo pipefail
V=${KAFKA_VERSION:-4.1.1}
CACHE=${KAFKA_CACHE:-$HOME/.cache/brokk-kafka/$V}
if [ -f "$CACHE/.complete" ]; then echo "$CACHE"; exit 0; fi
mkdir -p "$CACHE"
dep() { echo "<dependency><groupId>$1</groupId><artifactId>$2</artifactId><version>$3</version></dependency>"; }
cat > "$CACHE/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>brokk.compat</groupId><artifactId>kafka-oracle</artifactId><version>$V</version>
  <packaging>pom</packaging>
  <dependencies>
    $(dep org.apache.kafka kafka_2.13 "$V")
    $(dep org.apache.kafka kafka-tools "$V")
    $(dep org.apache.kafka kafka-clients "$V")
    $(dep org.apache.logging.log4j log4j-slf4j-impl 2.24.3)
    $(dep org.apache.logging.log4j log4j-core 2.24.3)
  </dependencies>
</project>
POM
rm -rf "$CACHE/libs"
mvn -q -B -Dstyle.color=never -f "$CACHE/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$CACHE/libs" >&2
ls "$CACHE"/libs/kafka_2.13-"$V".jar >/dev/null   # fail loudly if the broker jar is missing
touch "$CACHE/.complete"
echo "$CACHE"
