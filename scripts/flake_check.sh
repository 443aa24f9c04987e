#!/usr/bin/env bash
# Runs the README's test command RUNS times in a row (default 20), each run drawing fresh seeds for every
# fresh-seed test, and stops at the first failure with its log: a test command that fails one fresh run in a
# few would block every submission. The logs stay in build/flake_check/run_<i>.log.
#   bash scripts/flake_check.sh [RUNS]
# PYTEST_ONLY=1 repeats only the pytest suite, where every test draws a fresh seed (the Catch2 cases and the
# main job's check run on fixed seeds), after one full run of the test command.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-20}
LOGS=build/flake_check
mkdir -p "$LOGS"
for ((i = 1; i <= RUNS; i++)); do
  log="$LOGS/run_$i.log"
  start=$SECONDS
  if [ "${PYTEST_ONLY:-0}" = 1 ] && [ "$i" -gt 1 ]; then
    cmd=(env PYTHONPATH=python python3 -m pytest tests/python -q -p no:cacheprovider)
  else
    cmd=(bash scripts/test.sh)
  fi
  if ! "${cmd[@]}" >"$log" 2>&1; then
    tail -60 "$log"
    echo "flake check: run $i of $RUNS failed after $((SECONDS - start)) s (log: $log; each failure prints its seed)"
    exit 1
  fi
  echo "flake check: run $i of $RUNS passed in $((SECONDS - start)) s ($(grep -Eo '[0-9]+ passed[^=]*' "$log" | tail -1))"
done
echo "flake check: $RUNS consecutive runs passed"
