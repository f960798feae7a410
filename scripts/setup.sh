#!/usr/bin/env bash
# Installs whatever is missing for firstframe on Debian 12 with Node 20, and does nothing else when all is
# there: Debian packages (FFmpeg's development libraries for beamcoder's native build, the ffmpeg CLI for the
# fixtures, nginx for the integration tests, openssl for the HTTP/2 test certificates), then `npm ci`, the
# TypeScript build and the synthetic fixtures. Sourced by run-default.sh and test.sh; safe to run alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'setup: %s\n' "$*" >&2; }

packages=(
  ffmpeg pkg-config python3 make g++ openssl nginx-light
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev
  libavfilter-dev libavdevice-dev libpostproc-dev
  chromium # headless, for the benchmark report's browser test
)
# Callers needing more (scripts/setup-bench.sh: OpenCV) name them here rather than repeating this logic.
read -r -a extra <<<"${FIRSTFRAME_EXTRA_PACKAGES:-}"
packages+=("${extra[@]}")
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

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if ((node_major < 20)); then
  log "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))"
  exit 1
fi

# onnxruntime-node's postinstall would download CUDA binaries from outside the npm registry; the CPU build
# ships in the package. package.json's allowScripts denies that script; this covers an older npm too (README
# says how GPU users get the CUDA build).
export ONNXRUNTIME_NODE_INSTALL=skip
# package.json's preinstall/postinstall (scripts/postinstall.mjs) apply patches/ to beamcoder and build it: a
# changed patch means a new install too.
stamp=node_modules/.firstframe-installed
if [[ ! -f $stamp || package-lock.json -nt $stamp || package.json -nt $stamp ]] ||
  [[ -n $(find patches -newer "$stamp" -print -quit) ]] ||
  ! node -e 'require("beamcoder/build/Release/beamcoder.node")' >/dev/null 2>&1; then
  log 'npm ci'
  npm ci --no-audit --no-fund >&2
  touch "$stamp"
fi

if [[ ! -f dist/.built ]] || [[ -n $(find src tsconfig.json tsconfig.build.json package.json -newer dist/.built -print -quit) ]]; then
  log 'building'
  npm run --silent build >&2
  touch dist/.built
fi

./bin/firstframe fixtures >/dev/null
./bin/firstframe models >/dev/null
