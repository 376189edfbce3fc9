#!/usr/bin/env bash
# Runs a single-node Apache Kafka (KRaft, combined broker+controller) on 127.0.0.1 as a
# reference broker, from the jars compat/kafka/setup.sh assembles (run it first or let this do it).
#
# Usage: compat/kafka/kafka.sh start PORT DIR   broker on PORT, controller on PORT+1; data,
#                                               server.properties, logs and kafka.pid in DIR
#        compat/kafka/kafka.sh stop DIR         SIGTERM the pid in DIR/kafka.pid (SIGKILL after 30 s)
# Env:   KAFKA_PROPS  extra server.properties lines (newline separated), e.g. "log.retention.ms=1000"
#        KAFKA_HEAP   JVM heap flags (default -Xmx512m -Xms128m)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
case "${1:-}" in
start)
    PORT=$2; DIR=$(mkdir -p "$3" && cd "$3" && pwd); CPORT=$((PORT + 1))
    LIBS="$("$HERE/setup.sh")/libs"
    cat > "$DIR/server.properties" <<P
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DIR/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
${KAFKA_PROPS:-}
P
    cat > "$DIR/log4j2.properties" <<P
appender.f.type=File
appender.f.name=f
appender.f.fileName=$DIR/server.log
appender.f.layout.type=PatternLayout
appender.f.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.f.ref=f
P
    JAVA=(java ${KAFKA_HEAP:--Xmx512m -Xms128m} -XX:+UseSerialGC -Djava.awt.headless=true
          "-Dlog4j2.configurationFile=$DIR/log4j2.properties" -cp "$LIBS/*")
    if [ ! -f "$DIR/data/meta.properties" ]; then   # format once; a restart reuses DIR/data
        # Kafka's form of a random id; never starting with '-', which the tool would take
        # for an option.
        CID=$(python3 -c 'import uuid,base64
while True:
    c = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not c.startswith("-"): print(c); break')
        "${JAVA[@]}" kafka.tools.StorageTool format -t "$CID" -c "$DIR/server.properties" \
            > "$DIR/format.out" 2>&1 || { cat "$DIR/format.out" >&2; exit 1; }
    fi
    nohup "${JAVA[@]}" kafka.Kafka "$DIR/server.properties" > "$DIR/kafka.out" 2>&1 &
    echo $! > "$DIR/kafka.pid"
    for _ in $(seq 120); do   # up to 60 s
        kill -0 "$(cat "$DIR/kafka.pid")" 2>/dev/null || { tail -20 "$DIR/kafka.out" "$DIR/server.log" >&2; exit 1; }
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && { echo "kafka up on 127.0.0.1:$PORT (pid $(cat "$DIR/kafka.pid"))"; exit 0; }
        sleep 0.5
    done
    echo "kafka did not open 127.0.0.1:$PORT in 60 s; see $DIR/server.log" >&2; exit 1 ;;
stop)
    PIDF="$2/kafka.pid"; [ -f "$PIDF" ] || { echo "no $PIDF" >&2; exit 1; }
    PID=$(cat "$PIDF"); kill "$PID" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$PID" 2>/dev/null || { rm -f "$PIDF"; exit 0; }; sleep 0.5; done
    kill -9 "$PID" 2>/dev/null || true; rm -f "$PIDF" ;;
*) sed -n '2,10p' "$0" >&2; exit 2 ;;
esac
