#!/usr/bin/env bash
# Calls through a cluster on this machine: redis-server and three `confab serve` nodes on
# loopback, rooms of confab-load participants asked for through node a one after another;
# which node hosted each, join and first-audio times, mix delivered. Writes
# docs/cluster.json. Options go to scripts/cluster.py, e.g.
#   ./scripts/cluster.sh --rooms 3 --participants 100 --seconds 20
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo build --release --locked -q -p confab-server --bin confab -p confab-load --bin confab-load
target="${CARGO_TARGET_DIR:-target}"
exec python3 scripts/cluster.py --confab "$target/release/confab" --load "$target/release/confab-load" --out docs/cluster "$@"
