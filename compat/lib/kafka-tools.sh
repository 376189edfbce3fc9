# shellcheck shell=bash
# The pinned Apache Kafka release's own tools for a compat suite (compat/kafka-cli,
# compat/cluster-tools). Source it after harness.sh and harness_init:
#     . "$HERE/../lib/kafka-tools.sh"
#
# On source: sets KAFKA_VERSION (default 4.1.2), KAFKA_HOME (the distribution
# compat/prereqs.sh assembles; a missing one is a failure, not a download at test time), B
# (its bin/) and T (CLI_TIMEOUT, seconds per tool invocation, default 60).
#
# Functions: tool NAME ARGS... (bin/NAME.sh, bounded by T; stderr appended to
# $WORK/tools.err), expect_grep NAME PATTERN TEXT (fails the scenario unless a line of TEXT
# matches the extended regex PATTERN).

KAFKA_VERSION=${KAFKA_VERSION:-4.1.2}
KAFKA_HOME=${KAFKA_HOME:-$HOME/.cache/brokk-kafka/$KAFKA_VERSION}
[[ -f $KAFKA_HOME/.complete && -x $KAFKA_HOME/bin/kafka-topics.sh ]] ||
    { echo "FAIL: no Kafka distribution in $KAFKA_HOME: run compat/prereqs.sh" >&2; exit 1; }
B=$KAFKA_HOME/bin
T=${CLI_TIMEOUT:-60}

# tool NAME ARGS...: one CLI tool, bounded; its stdout (stderr to a file).
tool() {
    local name=$1
    shift
    timeout "$T" "$B/$name.sh" "$@" 2>>"$WORK/tools.err"
}

expect_grep() { # expect_grep NAME PATTERN TEXT
    grep -qE -- "$2" <<<"$3" || { printf '%s\n' "$3" >&2; tail -n 20 "$WORK/tools.err" >&2 || true; fail "$1: no line matching /$2/"; }
}
