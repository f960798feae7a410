#!/usr/bin/env bash
# Set-up for the benchmarks: scripts/setup.sh plus Debian's OpenCV for Python (python3-opencv, python3-numpy),
# which bench/opencv_first_frame.py runs with /usr/bin/python3 (a python3 earlier on PATH, e.g. pyenv's, does
# not see Debian's packages). Installs only what is missing; safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FIRSTFRAME_EXTRA_PACKAGES="python3-opencv python3-numpy" scripts/setup.sh
if ! /usr/bin/python3 -c 'import cv2' >/dev/null 2>&1; then
  printf 'setup-bench: warning: /usr/bin/python3 cannot import cv2; bench/decode.ts will skip the OpenCV comparison\n' >&2
fi
