#!/usr/bin/env bash
# Quick start, command 2: set up what is missing, then run the whole test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export FIRSTFRAME_EXTRA_PACKAGES="${FIRSTFRAME_EXTRA_PACKAGES:+$FIRSTFRAME_EXTRA_PACKAGES }python3-opencv python3-numpy"
scripts/setup.sh
# Each decode holds a libuv thread while it waits for bytes; the default pool of 4 is too small for tests
# (and servers) that run several pipelines at once.
export UV_THREADPOOL_SIZE=${UV_THREADPOOL_SIZE:-16}
# vitest's own summary, plus its JSON report from which the last line is written as the plain
# `N passed, N failed` that tools read.
report=$(mktemp -t firstframe-vitest-XXXXXX.json)
trap 'rm -f "$report"' EXIT
status=0
npx --no-install vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
node scripts/test-summary.mjs "$report" || true
exit "$status"
