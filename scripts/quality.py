#!/usr/bin/env python3
"""Speech quality through the service over impaired networks: PESQ-WB and STOI.

For each condition, runs the `quality` example (crates/server/examples/quality.rs): a
speaker bot says the Alice fixture through a UDP relay that emulates the network (both
directions; STUN/DTLS pass unimpaired), a listener bot keeps the speaker's forwarded
stream and the service's mix. Scores, at 16 kHz, against the fixture:
  codec   - the fixture through the SDK's Opus encoder/decoder only (the codec's limit)
  unmixed - what the listener got of the speaker's own stream (bot SDK jitter buffer, FEC, PLC)
  mixed   - what the listener got through the mix (service jitter buffer and PLC, re-encoding)
Run through scripts/quality.sh.
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np
from pesq import pesq
from pystoi import stoi
from scipy.io import wavfile
from scipy.signal import correlate, resample_poly

# The impairment is on the speaker's path to the service; "both ways" adds the same on the
# way back to the listener (every packet crosses it twice).
CONDITIONS = [
    ("clean", []),
    ("5 % loss, 50 ms jitter", ["--loss", "0.05", "--jitter-ms", "50"]),
    ("10 % loss, 50 ms jitter", ["--loss", "0.10", "--jitter-ms", "50"]),
    ("10 % loss, 20 ms jitter", ["--loss", "0.10", "--jitter-ms", "20"]),
    ("bursts (Gilbert 2 %/40 %), 30 ms jitter", ["--burst-enter", "0.02", "--burst-exit", "0.4", "--jitter-ms", "30"]),
    ("5 % loss, 50 ms jitter, both ways", ["--loss", "0.05", "--jitter-ms", "50", "--both", "1"]),
]


def load16k(path):
    rate, x = wavfile.read(path)
    assert rate == 48000, path
    return resample_poly(x.astype(np.float64), 1, 3)


def lag_of(ref, deg):
    """Samples by which `deg` trails `ref` (cross-correlation)."""
    c = correlate(deg, ref, mode="full", method="fft")
    return int(np.argmax(c)) - (len(ref) - 1)


def aligned(ref, deg):
    """`deg` shifted to line up with `ref` (cross-correlation), both cut to a common length."""
    if len(deg) == 0:
        return ref, np.zeros_like(ref)
    lag = lag_of(ref, deg)
    if lag >= 0:
        deg = deg[lag:]
    else:
        deg = np.concatenate([np.zeros(-lag), deg])
    n = min(len(ref), len(deg))
    return ref[:n], deg[:n]


def score(ref, deg):
    r, d = aligned(ref, deg)
    return {"pesq_wb": round(float(pesq(16000, r, d, "wb")), 3), "stoi": round(float(stoi(r, d, 16000)), 3)}


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--example", required=True, help="the built quality example")
    p.add_argument("--out", default="quality-out")
    p.add_argument("--seeds", type=int, default=3, help="runs per condition (different networks)")
    p.add_argument("--json", default=None)
    p.add_argument("--only", default=None, help="run the conditions whose name contains this")
    args = p.parse_args()
    results = []
    for name, extra in CONDITIONS:
        if args.only and args.only not in name:
            continue
        runs = []
        for seed in range(1, args.seeds + 1):
            d = os.path.join(args.out, f"{len(results)}-{seed}")
            subprocess.run([args.example, "--out", d, "--seed", str(seed), *extra],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ref = load16k(os.path.join(d, "reference.wav"))
            report = json.load(open(os.path.join(d, "report.json")))
            unmixed = load16k(os.path.join(d, "unmixed.wav"))
            mixed = load16k(os.path.join(d, "mixed.wav"))
            # Both files start at their first frame on the listener's clock (first_us): the
            # mix's delay over the forwarded stream is the difference of the two lags.
            first = report["first_us"]
            mix_adds_ms = (lag_of(ref, mixed) / 16 + first["mixed"] / 1000) - (
                lag_of(ref, unmixed) / 16 + first["unmixed"] / 1000)
            runs.append({
                "codec": score(ref, load16k(os.path.join(d, "codec.wav"))),
                "unmixed": score(ref, unmixed),
                "mixed": score(ref, mixed),
                "mix_adds_ms": round(mix_adds_ms, 1),
                "service": report.get("service"),
                "network": report["network"],
                "listener_lost": report["listener"]["packets_lost"],
            })
        med = lambda key, m: round(float(np.median([r[key][m] for r in runs])), 2)
        row = {"condition": name, "runs": runs}
        for key in ("codec", "unmixed", "mixed"):
            row[key] = {"pesq_wb": med(key, "pesq_wb"), "stoi": med(key, "stoi")}
        results.append(row)
        print(f"{name:42s} codec {row['codec']['pesq_wb']:.2f}  unmixed {row['unmixed']['pesq_wb']:.2f} "
              f"(STOI {row['unmixed']['stoi']:.2f})  mixed {row['mixed']['pesq_wb']:.2f} "
              f"(STOI {row['mixed']['stoi']:.2f})", flush=True)
        for r in runs:
            w = (r["service"] or {}).get("mix_jitter_wait", {})
            o = (r["service"] or {}).get("mix_tick_to_socket", {})
            print(f"{'':42s}   mix adds {r['mix_adds_ms']:.0f} ms over the forwarded stream; service: "
                  f"jitter wait p50 {w.get('p50_ms')} / p99 {w.get('p99_ms')} ms, "
                  f"tick to socket p99 {o.get('p99_ms')} ms", flush=True)
    if args.json:
        json.dump(results, open(args.json, "w"), indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
