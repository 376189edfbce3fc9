# shellcheck shell=bash
# Shared shell of the Go client suites (compat/franz-go/run.sh, compat/sarama/run.sh): the
# build of the suite's Go program and the scenarios both programs have. Source it after
# setting HERE (the suite's folder), don't run it:
#     . "$HERE/../lib/go-suite.sh"
#
# On source: sources harness.sh (BROKK_BIN, fail/scenario/ok/start_broker/...) and sets
#   IDEM_N=20000   records in the idempotent scenario
#   TXN_N=1000     inputs of the transactional consume-transform-produce scenario
# (the caller's environment wins).
#
# The Go program (HERE/main.go and the files next to it; HERE/go.mod and go.sum pin the
# versions, ../go-common is the harness the two programs share) is built into the work dir
# from the module cache alone: compat/prereqs.sh downloads the modules, and a missing one
# fails the build here (GOPROXY=off) instead of downloading.
#
# Functions:
#   go_suite_build NAME TAG PROGRAM  checks for go, harness_init NAME TAG (WORK, BROKER,
#                    traps), restarts SECONDS and builds the program into BIN=$WORK/PROGRAM
#   go_mod_version MODULE   the version HERE/go.mod pins
#   go_suite_banner TEXT    the suite's first line: "NAME compat: TEXT, built in ...s / brokk
#                    version on BROKER, work dir WORK"
#   go_run TIMEOUT SCENARIO ARGS...   one run of the Go program, as CLIENT_PID
#   go_step TIMEOUT ID MATRIX_IDS WHAT ARGS...   a scenario that is one run of the program
#   go_suite_scenarios PREFIX PROTOCOLS   the scenarios both programs have (see there)
#   go_suite_finish         the suite's last lines
#
# What the shared scenarios say comes from the associative array SAY the suite declares:
# SAY[ID] is the title of scenario ID (after "ID: "), SAY[ID.ok] what it checked; the
# group scenario's follow "group-PROTOCOL: " and "PROTOCOL: ".

# shellcheck source=harness.sh
. "$(dirname "${BASH_SOURCE[0]}")/harness.sh"   # sets BROKK_BIN, checks it; fail/scenario/ok/...
IDEM_N=${IDEM_N:-20000}
TXN_N=${TXN_N:-1000}

# go_suite_build NAME TAG PROGRAM
go_suite_build() {
    GO_SUITE=$1
    command -v go >/dev/null || { echo "FAIL: go not found (compat/prereqs.sh says what to install)" >&2; exit 1; }
    export GOFLAGS="-mod=readonly -buildvcs=false" GOPROXY=off GOTOOLCHAIN=local

    harness_init "$1" "$2"   # WORK, BROKER, traps
    SECONDS=0
    BIN=$WORK/$3
    (cd "$HERE" && timeout 600 go build -o "$BIN" .) ||
        { echo "FAIL: go build in $HERE (run compat/prereqs.sh to fill the module cache)" >&2; exit 1; }
}

go_mod_version() { (cd "$HERE" && go list -m -f '{{.Version}}' "$1"); }

go_suite_banner() {
    echo "$GO_SUITE compat: $1, built in ${SECONDS}s / $("$BROKK_BIN" --version 2>&1 | head -1) on $BROKER, work dir $WORK"
}

# go_run TIMEOUT SCENARIO ARGS...: one run of the Go program, as CLIENT_PID (see py() in harness.sh)
go_run() {
    local t=$1 rc=0
    shift
    timeout -k 10 "$t" "$BIN" "$@" &
    CLIENT_PID=$!
    wait "$CLIENT_PID" || rc=$?
    CLIENT_PID=
    return $rc
}

# go_step TIMEOUT ID MATRIX_IDS WHAT ARGS...: scenario "ID: SAY[ID]", the program's scenario
# ID with ARGS (fail "WHAT" if it fails), ok "SAY[ID.ok]".
go_step() {
    local t=$1 id=$2 ids=$3 what=$4
    shift 4
    scenario "$id: ${SAY[$id]}" "$ids"
    go_run "$t" "$id" "$@" || fail "$what"
    ok "${SAY[$id.ok]}"
}

# go_suite_scenarios PREFIX PROTOCOLS: the scenarios both programs have, in this order, on a
# broker of their own (data dir DATA=$WORK/data, BROKER_ARGS), stopped cleanly at the end:
# codecs (and the codec of the batches on disk), times, group once per protocol (PROTOCOLS:
# the balancers or strategies, space-separated), commit, restart (kill -9 and resume), the
# admin scenarios, idempotent, txn-eos, txn-fence. PREFIX begins the program's topic names
# (PREFIX-codec-gzip, ...).
go_suite_scenarios() {
    local prefix=$1 protocols=$2 codec protocol
    DATA=$WORK/data
    # session timeouts of a few seconds need a lower group.min.session.timeout.ms (Kafka: 6000)
    BROKER_ARGS=(--override group.min.session.timeout.ms=1000)
    start_broker "$DATA" "${BROKER_ARGS[@]}"

    scenario "codecs: ${SAY[codecs]}" produce-codecs,consume
    go_run 120 codecs "$BROKER" || fail "codecs"
    for codec in none gzip snappy lz4 zstd; do
        timeout 60 python3 "$HERE/../lib/disk_codecs.py" "$DATA" "$prefix-codec-$codec" "$codec" >/dev/null ||
            fail "batches of $prefix-codec-$codec on disk are not all $codec"
    done
    ok "${SAY[codecs.ok]}"

    go_step 60 times offsets-for-times "offsets for times" "$BROKER"

    for protocol in $protocols; do
        scenario "group-$protocol: ${SAY[group]}" group-rebalance
        go_run 120 group "$BROKER" "$protocol" || fail "group $protocol"
        ok "$protocol: ${SAY[group.ok]}"
    done

    go_step 60 commit commit-resume commit "$BROKER" "$WORK/commit-state.json"

    scenario "restart: kill -9 the broker, restart on the same data dir, resume after the last commit" commit-resume
    stop_broker KILL
    start_broker "$DATA" "${BROKER_ARGS[@]}"
    opened_line | grep -q "clean_shutdown=false" || fail "expected clean_shutdown=false after SIGKILL: $(opened_line)"
    opened_line | grep -Eq "groups=[1-9]" || fail "expected the groups to be reloaded: $(opened_line)"
    echo "   restart log: $(opened_line)"
    go_run 60 resume "$BROKER" "$WORK/commit-state.json" || fail "resume after restart"
    ok "${SAY[restart.ok]}"

    go_step 60 admin-topics admin-topics "admin topics" "$BROKER"
    go_step 60 admin-configs admin-configs "admin configs" "$BROKER"
    go_step 60 admin-partitions admin-partitions "admin partitions" "$BROKER"
    go_step 60 admin-records admin-delete-records "admin records" "$BROKER"
    go_step 90 admin-groups admin-groups "admin groups" "$BROKER"

    go_step 120 idempotent idempotent idempotent "$BROKER" "$IDEM_N"

    local tstart=$SECONDS
    go_step 120 txn-eos transactions "txn eos" "$BROKER" "$TXN_N"
    go_step 60 txn-fence transactions "txn fence" "$BROKER"
    echo "   transactions part: $((SECONDS - tstart))s"

    stop_broker INT
    plainlog "$LOG" | grep -q "stopped cleanly" || fail "broker log lacks 'stopped cleanly'"
}

go_suite_finish() {
    CURRENT="finished"
    echo "$GO_SUITE compat suite finished in ${SECONDS}s"
    echo "$GO_SUITE: $PASSED passed, 0 failed"
}
