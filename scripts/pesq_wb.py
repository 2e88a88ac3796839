#!/usr/bin/env python3
"""PESQ-WB (ITU-T P.862.2, the `pesq` package) and STOI of DEGRADED against REFERENCE, two
48 kHz mono WAVs: both resampled to 16 kHz, the degraded one shifted to line up with the
reference (cross-correlation, within MAX_LAG_MS either way: a looped or repetitive recording
would otherwise line up a whole loop off) and both cut to their common length. Prints one
JSON object.

    scripts/pesq_wb.py reference.wav degraded.wav
"""
import json
import sys

import numpy as np
from pesq import pesq
from scipy.io import wavfile
from scipy.signal import correlate, resample_poly

# The inputs are roughly aligned already: only this much shift is searched (milliseconds).
MAX_LAG_MS = 500


def load16k(path):
    rate, x = wavfile.read(path)
    if rate != 48000:
        sys.exit(f"{path}: {rate} Hz, not 48000")
    return resample_poly(x.astype(np.float64), 1, 3)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    ref, deg = load16k(sys.argv[1]), load16k(sys.argv[2])
    xcorr = correlate(deg, ref, mode="full", method="fft")
    zero = len(ref) - 1
    reach = MAX_LAG_MS * 16
    lo, hi = max(0, zero - reach), min(len(xcorr), zero + reach + 1)
    lag = int(np.argmax(xcorr[lo:hi])) + lo - zero
    deg = deg[lag:] if lag >= 0 else np.concatenate([np.zeros(-lag), deg])
    n = min(len(ref), len(deg))
    result = {"pesq_wb": round(float(pesq(16000, ref[:n], deg[:n], "wb")), 3), "lag_ms": lag / 16}
    try:
        from pystoi import stoi

        result["stoi"] = round(float(stoi(ref[:n], deg[:n], 16000)), 3)
    except ImportError:
        pass
    print(json.dumps(result))


if __name__ == "__main__":
    main()
