#!/usr/bin/env bash
# Idle-connection abuse against a fresh release `confab serve` on loopback: 2,000 idle
# sockets (silent TCP, half-sent headers, WebSockets that never say hello) from five
# loopback addresses. Prints what the service admitted and refused (per-address cap), how
# many survive its deadlines (expect 0) and its file descriptors and memory before, during
# and after. Options go to scripts/abuse.py (e.g. --sockets 3000).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo build --release --locked -q -p confab-server --bin confab
target="${CARGO_TARGET_DIR:-target}"
data="$(mktemp -d)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$target/release/confab" serve --http "127.0.0.1:$port" --media-udp 127.0.0.1:0 \
  --data-dir "$data" --no-echo >"$data/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" \
    2>/dev/null && break
  sleep 0.1
done
python3 scripts/abuse.py --port "$port" --pid "$pid" "$@"
