#!/usr/bin/env bash
# The whole test suite: formatting, lints, every test, and one pass of every benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh

step() { printf '\n==> %s\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests (nextest)"
cargo nextest run --workspace --locked --no-fail-fast

step "doc tests"
cargo test --workspace --doc --locked -q

step "fuzz targets type-check"
cargo check --manifest-path fuzz/Cargo.toml --locked -q

step "benchmarks, one iteration each"
cargo test --workspace --benches --locked -q

echo "all checks passed" >&2
