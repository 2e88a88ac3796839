#!/usr/bin/env bash
# The main job. Until `confab demo` exists (issue 7), this runs the media tour: the
# foundation's codecs, loss recovery and resampling on the committed fixtures, with a
# readable summary and the decoded audio written to ./demo-out (or the DIR given).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
out="${1:-demo-out}"
cargo run --release --locked -q -p confab-codecs --example media_tour -- --out "$out"
