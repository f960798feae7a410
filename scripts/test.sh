#!/usr/bin/env bash
# Quick start, command 2: set up what is missing, then run the whole test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
exec npx --no-install vitest run "$@"
