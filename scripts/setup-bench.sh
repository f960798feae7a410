#!/usr/bin/env bash
# Installs what bench/decode.ts needs on top of scripts/setup.sh: Debian's OpenCV for Python
# (python3-opencv, python3-numpy; bench/opencv_first_frame.py runs them with /usr/bin/python3, since a
# python3 earlier on PATH, e.g. pyenv's, does not see Debian's packages). Does nothing for packages already
# installed, then runs scripts/setup.sh (npm ci, build, fixtures). Safe to run alone or again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'setup-bench: %s\n' "$*" >&2; }

packages=(python3-opencv python3-numpy)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
  log "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

if ! /usr/bin/python3 -c 'import cv2' >/dev/null 2>&1; then
  log 'warning: /usr/bin/python3 cannot import cv2; bench/decode.ts will skip the OpenCV comparison'
fi

exec scripts/setup.sh
