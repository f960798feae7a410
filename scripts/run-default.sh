#!/usr/bin/env bash
# Quick start, command 1: set up what is missing, then run the main job on the bundled default.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
exec ./bin/firstframe run "$@"
