#!/usr/bin/env bash
# Speech quality (PESQ-WB, STOI) of a fixture spoken through the service, clean and over
# emulated loss, jitter and bursts; against the codec-only limit. See scripts/quality.py.
#   ./scripts/quality.sh                 # 3 runs per condition, prints the table
#   ./scripts/quality.sh --json docs/quality.json
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
python3 -c 'import pesq, pystoi, scipy' 2>/dev/null || python3 -m pip install -q --user pesq pystoi scipy numpy
cargo build --release --locked -q -p confab-server --example quality
target="${CARGO_TARGET_DIR:-target}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
exec python3 scripts/quality.py --example "$target/release/examples/quality" --out "$out" "$@"
