#!/usr/bin/env bash
# Checks, in its first seconds, everything the README's test command needs besides Rust, and
# installs what is missing when it can; shared by that command and .ci/run.
#
#   - Debian packages: kcat, curl, bc, python3-venv, Node/npm, and the -dev libraries that
#     compat/confluent-kafka-javascript builds its librdkafka against; installed with apt
#     when running as root (or with sudo), else the exact apt command is printed and the
#     script stops;
#   - a JDK (17 or newer), Maven and Go (1.26 or newer): preinstalled on the machines this project targets;
#     when one is missing the script says what to install and stops;
#   - the reference Apache Kafka (compat/kafka/setup.sh: jars from Maven Central into a
#     cache directory, reused when present, plus a Kafka-style bin/ of CLI wrappers);
#   - the Go modules compat/franz-go and compat/sarama pin (`go mod download`).
#
# Usage: compat/prereqs.sh        (idempotent; prints the Kafka home on its last line)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

need_apt=()
command -v kcat >/dev/null || need_apt+=(kcat)
command -v curl >/dev/null || need_apt+=(curl)   # compat/kafka-connect drives the worker's REST API
command -v bc >/dev/null || need_apt+=(bc)       # compat/kafka-cli sums the verifiable consumer's counts
command -v ip >/dev/null || need_apt+=(iproute2) # tests/network_partition.rs: network namespaces
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v npm >/dev/null || need_apt+=(nodejs npm)   # compat/kafkajs, confluent-kafka-javascript
# compat/confluent-kafka-javascript builds its librdkafka against these (CKJS_LINKING=dynamic).
for pkg in libzstd-dev liblz4-dev libsasl2-dev libcurl4-openssl-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
        if sudo -n true 2>/dev/null; then SUDO="sudo"; else
            echo "prereqs: missing Debian packages; install them with:" >&2
            echo "  sudo apt-get update && sudo apt-get install -y ${need_apt[*]}" >&2
            exit 1
        fi
    fi
    echo "prereqs: installing ${need_apt[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update
    $SUDO apt-get install -y "${need_apt[@]}"
fi

missing=()
java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
[ "${java_major:-0}" -ge 17 ] 2>/dev/null || missing+=("a JDK 17 or newer (Debian: openjdk-17-jdk-headless)")
command -v mvn >/dev/null || missing+=("Maven (Debian: maven)")
# compat/franz-go and compat/sarama: their pinned modules declare go 1.26.
go_minor=$(go env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
[ "${go_minor:-0}" -ge 26 ] 2>/dev/null || missing+=("Go 1.26 or newer (https://go.dev/dl/)")
if [ ${#missing[@]} -gt 0 ]; then
    echo "prereqs: missing, install before running the tests:" >&2
    printf '  - %s\n' "${missing[@]}" >&2
    exit 1
fi

"$HERE/kafka/setup.sh"

# compat/franz-go and compat/sarama build their Go programs from the module cache alone
# (GOPROXY=off at test time): fill it with the modules their go.mod/go.sum pin. Both need
# Go 1.26 (franz-go v1.22.3 and sarama v1.61.1 declare go 1.26.0). Output to stderr: the
# last line on stdout stays the Kafka home.
for mod in franz-go sarama; do
    (cd "$HERE/$mod" && GOFLAGS=-mod=readonly GOTOOLCHAIN=local timeout 600 go mod download) >&2
done
