#!/usr/bin/env bash
# Capacity of one `confab serve` on this machine, measured from a separate process with
# confab-load: one group call of 10, 50, 100, 200 and 350 participants (3 speaking), the
# service's CPU per thread, memory and delivery in steady state. Writes docs/capacity.json,
# docs/capacity-table.md and docs/capacity.png. Options go to scripts/capacity.py, e.g.
#   ./scripts/capacity.sh --seconds 30 --long 300      # the 350-party room for 5 minutes
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
python3 -c 'import matplotlib' 2>/dev/null || python3 -m pip install -q --user matplotlib
cargo build --release --locked -q -p confab-server --bin confab -p confab-load --bin confab-load
target="${CARGO_TARGET_DIR:-target}"
exec python3 scripts/capacity.py --confab "$target/release/confab" --load "$target/release/confab-load" --out docs/capacity "$@"
