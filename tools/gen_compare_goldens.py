#!/usr/bin/env python3
"""Writes tests/data/compare/bootstrap.json: paired percentile bootstrap intervals computed by numpy.

Pinned oracle: numpy==2.4.6 (tools/requirements.txt). Run from the repository root:
  /work/tools-venv/bin/python tools/gen_compare_goldens.py

The percentile bootstrap (Efron & Tibshirani 1993, ch. 13): for B resamples of the n paired differences
drawn with replacement, the mean of each; the interval is numpy.quantile of those B means at
(1 - level)/2 and (1 + level)/2 with numpy's default "linear" method (Hyndman & Fan type 7). The
resample indices are stored, so the C++ side (src/train/compare.h bootstrap_ci_from_indices) uses the
SAME resamples and must reproduce the interval to rounding; the random stream itself is not shared
(core/rng.h is xoshiro256**, not numpy's PCG64).

JSON: {"meta": {...}, "cases": [{"name", "diffs": [n floats], "resamples": B, "level": L,
"indices": [B*n ints, resample-major], "mean", "lo", "hi"}]}. Floats are written with repr (round-trip).
"""
import json
import os

import numpy as np

OUT = os.path.join("tests", "data", "compare", "bootstrap.json")


def case(name, diffs, resamples, level, rng):
    diffs = np.asarray(diffs, dtype=np.float64)
    n = diffs.size
    idx = rng.integers(0, n, size=(resamples, n))
    means = diffs[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])  # method="linear" (default)
    return {
        "name": name,
        "diffs": [float(x) for x in diffs],
        "resamples": resamples,
        "level": level,
        "indices": [int(i) for i in idx.reshape(-1)],
        "mean": float(diffs.mean()),
        "lo": float(lo),
        "hi": float(hi),
    }


def main():
    rng = np.random.default_rng(20260317)
    cases = [
        case("normal_n12", rng.normal(-0.05, 0.2, size=12), 200, 0.95, rng),
        case("level90_n5", rng.normal(0.3, 1.0, size=5), 1000, 0.90, rng),
        case("skewed_n30", rng.exponential(0.5, size=30) - 0.4, 100, 0.95, rng),
        case("ties_n6", [0.0, 1.0, 1.0, -1.0, 2.0, 0.0], 300, 0.95, rng),
        case("level50_n7", rng.normal(0.0, 3.0, size=7), 257, 0.50, rng),
    ]
    doc = {
        "meta": {
            "generator": "tools/gen_compare_goldens.py",
            "numpy": np.__version__,
            "method": "paired percentile bootstrap; numpy.quantile linear",
        },
        "cases": cases,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
