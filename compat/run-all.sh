#!/usr/bin/env bash
# Run every client compat suite (compat/*/run.sh) in turn; exit non-zero if any fails.
# BROKK_BIN (default <repo>/target/release/brokk) and other env knobs pass through.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(git -C "$HERE" rev-parse --show-toplevel)
export BROKK_BIN=${BROKK_BIN:-$ROOT/target/release/brokk}
SUITE_TIMEOUT=${SUITE_TIMEOUT:-900}   # seconds per suite

shopt -s nullglob
suites=("$HERE"/*/run.sh)
((${#suites[@]} > 0)) || { echo "no compat/*/run.sh found" >&2; exit 1; }

passed=0
failed=0
failed_names=()
summary=()
for s in "${suites[@]}"; do
    name=$(basename "$(dirname "$s")")
    echo "################ $name"
    start=$SECONDS
    # --kill-after: a suite that ignores SIGTERM is killed; its EXIT trap cleans up its broker
    if timeout --kill-after=30 "$SUITE_TIMEOUT" bash "$s"; then
        passed=$((passed + 1))
        summary+=("PASS $name ($((SECONDS - start))s)")
    else
        rc=$?
        failed=$((failed + 1))
        failed_names+=("$name")
        summary+=("FAIL $name (rc=$rc, $((SECONDS - start))s)")
    fi
done

echo "################ matrix"
python3 "$HERE/lib/matrix.py" >/dev/null && echo "compat/README.md regenerated from compat/results/"

echo "################ summary"
printf '%s\n' "${summary[@]}"
echo "compat: $passed passed, $failed failed"
((failed == 0)) || { echo "failed: ${failed_names[*]}" >&2; exit 1; }
