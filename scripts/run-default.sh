#!/usr/bin/env bash
# Quick start, command 1: set up what is missing, then run the main job on the bundled default.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
# glibc's allocator as firstframe wants it, read at the process's start (src/core/allocator.cts).
# Appended to tunables of other kinds; your own glibc.malloc.* ones are kept as they are.
settings=glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=134217728
case ${GLIBC_TUNABLES:-} in
  *glibc.malloc.*) ;;
  '') export GLIBC_TUNABLES=$settings ;;
  *) export GLIBC_TUNABLES=$GLIBC_TUNABLES:$settings ;;
esac
exec ./bin/firstframe run "$@"
