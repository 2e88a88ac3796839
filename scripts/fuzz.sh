#!/usr/bin/env bash
# The fuzz campaign: every cargo-fuzz target in fuzz/ (or those named) for --seconds each
# (default 600), one after another, each from its minimized corpus in fuzz/corpus/<target>
# (kept in the repo) and minimized again after its run. A crash stops the campaign with the
# reproducer's path under fuzz/artifacts/; turn it into a regression test before fixing.
#
#   scripts/fuzz.sh                       # all targets, 10 minutes each
#   scripts/fuzz.sh --seconds 60 sdp_layout rtp_parse
#   scripts/fuzz.sh --list
#
# Stable Rust runs cargo-fuzz's nightly flags with RUSTC_BOOTSTRAP=1. Prints one summary line
# per target: executions, coverage, corpus size.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=600
targets=()
while (($#)); do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --list) sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^confab-fuzz$'; exit 0 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^confab-fuzz$')
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install --locked cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1

echo "fuzz: building ${#targets[@]} targets" >&2
cargo fuzz build -O

summary=()
for target in "${targets[@]}"; do
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus"
  log="$(mktemp)"
  echo "fuzz: $target for ${seconds}s (corpus: $(find "$corpus" -type f | wc -l) inputs)" >&2
  if ! cargo fuzz run -O "$target" "$corpus" -- -max_total_time="$seconds" -print_final_stats=1 \
      -max_len=65536 >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz: $target FOUND A CRASH: see fuzz/artifacts/$target/" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  # Keep the corpus small: only inputs that add coverage.
  cargo fuzz cmin -O "$target" "$corpus" >/dev/null 2>&1 || true
  files=$(find "$corpus" -type f | wc -l)
  size=$(( $(du -sb "$corpus" | cut -f1) / 1024 ))
  line="$target: ${runs:-?} runs in ${seconds}s, cov ${cov:-?}, corpus $files inputs (${size} KiB), no finding"
  echo "fuzz: $line" >&2
  summary+=("$line")
  rm -f "$log"
done
printf '%s\n' "${summary[@]}"
