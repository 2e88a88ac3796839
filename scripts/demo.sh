#!/usr/bin/env bash
# The main job: `confab demo` — the call service in-process, three synthetic participants
# (speech fixtures, test-pattern cameras), the recorder bot and a live echo bot in one group
# call for ~10 s; prints a summary and leaves the recording in ./demo-out (or the DIR given).
# Extra arguments go to `confab demo` (e.g. --seconds 20).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
out="${1:-demo-out}"
shift || true
# One release build gives every binary (confab, confab-recorder, confab-echo, confab-load)
# with one feature set.
cargo build --release --locked -q --workspace --bins
exec "${CARGO_TARGET_DIR:-target}/release/confab" demo --out "$out" "$@"
