#!/usr/bin/env bash
# Installs what a fresh machine lacks to build and test confab. Idempotent: installs only
# what is missing, and runs `apt-get update` at most once.
#   cmake  - the opus crate builds libopus with it
#   nasm   - openh264's x86 assembly (2.5-3x faster encoding)
#   chromium + playwright-core (npm) - the real browser of the interop tests
#   ffmpeg - ffprobe checks that the recorder's H.264 files play
#   sip-tester (sipp), baresip-core - the real SIP peers of the phone (SIP gateway) tests
#   pesq, scipy, numpy (pip) - PESQ-WB of speech in the quality tests
set -euo pipefail

need_apt=()
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)
command -v nasm >/dev/null 2>&1 || need_apt+=(nasm)
[ -x /usr/lib/chromium/chromium ] || need_apt+=(chromium)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
command -v ffprobe >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v sipp >/dev/null 2>&1 || need_apt+=(sip-tester)
command -v baresip >/dev/null 2>&1 || need_apt+=(baresip-core)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)

if ((${#need_apt[@]})); then
  echo "install-deps: installing ${need_apt[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "install-deps: installing cargo-nextest" >&2
  cargo install --locked cargo-nextest
fi

here="$(cd "$(dirname "$0")/.." && pwd)"
if [ ! -d "$here/tools/browser/node_modules/playwright-core" ]; then
  echo "install-deps: installing playwright-core (npm)" >&2
  npm ci --prefix "$here/tools/browser" --no-audit --no-fund --silent
fi

# PESQ-WB for the speech-quality tests (the `pesq` package builds its C core with gcc).
if ! python3 -c 'import pesq, scipy, numpy' >/dev/null 2>&1; then
  echo "install-deps: installing pesq, scipy, numpy (pip)" >&2
  python3 -m pip install -q --user --no-warn-script-location pesq scipy numpy
fi
