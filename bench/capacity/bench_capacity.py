#!/usr/bin/env python3
"""`mc model capacity` against the same computation in numpy, on the same machine, one thread.

Both sides do, for every 2-D tensor of the checkpoint: read it (bf16 -> float32), take all singular values
with a float64 divide-and-conquer SVD (LAPACK dgesdd: mc through Debian's OpenBLAS/LAPACK, numpy through its
bundled OpenBLAS), then the capacity measures (norms, stable rank, Shannon effective rank, participation
ratio, numerical ranks, structural rank k / tail_dims, relative-gap knee, condition number) and the
WeightWatcher 0.7.7 power-law fit of the ESD (O(N^2) KS scan; vectorised here with suffix sums and one
triangular matrix per layer, so numpy is not handicapped by Python loops).

Runs alternate (mc, numpy, mc, numpy, ...) so that load from other processes hits both alike; the medians
of --runs timings per side are reported with the ratio numpy/mc (> 1: mc faster), both wall-clock and CPU
time (user + system of the mc process; process_time() of the numpy loop). On a shared machine the CPU-time
ratio is the stable one: wall time also counts the time the one thread waited for a core. OPENBLAS_NUM_THREADS=1,
OMP_NUM_THREADS=1 and mc --threads 1 pin both to one core. The numbers are checked against each other
(sigma_max, erank, alpha) so the benchmark cannot silently compare different work.

Usage (repository root):
    /work/tools-venv/bin/python bench/capacity/bench_capacity.py --mc build/mc \
        --model models/SmolLM2-135M-Instruct [--runs 5]
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402  (after the thread pinning)

EPS32 = float(np.finfo(np.float32).eps)
EPS16 = float(np.finfo(np.float16).eps)
TINY32 = float(np.finfo(np.float32).tiny)


def ww_alpha(s):
    """weightwatcher 0.7.7 default fit on eigenvalues s^2 (standard path, N >= 20; small-N path otherwise)."""
    x = np.sort(s.astype(np.float64) ** 2)
    x = x[x > 1e-5]
    n_all = len(x)
    if len(s) < 8 or n_all < 2:
        return float("nan")
    lx = np.log(x)
    suffix = np.cumsum(lx[::-1])[::-1]          # sum_{j>=i} ln x_j
    i = np.arange(n_all - 1)
    n = (n_all - i).astype(np.float64)
    logsum = suffix[:-1] - n * lx[:-1]
    small = n_all < 20
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1.0 + (n - 1.0 if small else n) / logsum
    # KS distances: rows i (x_min = x_i), columns j >= i, upper triangle of (N-1, N).
    ratio = x[None, :] / x[:-1, None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        theo = 1.0 - ratio ** (1.0 - alpha[:, None])
    emp = (np.arange(n_all)[None, :] - i[:, None]) / n[:, None]
    mask = np.arange(n_all)[None, :] >= i[:, None]
    d = np.where(mask, np.abs(theo - emp), 0.0).max(axis=1)
    valid = alpha > 1.0
    if small:
        valid &= (n >= 8) & (logsum > 1e-12)
    d = np.where(valid, d, 1.0)
    best = int(np.argmin(d))
    return float(alpha[best])


def capacity_numpy(w):
    m, n = w.shape
    s = np.linalg.svd(w.astype(np.float64), compute_uv=False)
    e = s ** 2
    fro2 = e.sum()
    p = e / fro2
    p = p[p > 0]
    erank = float(np.exp(-np.sum(p * np.log(p))))
    k = max(1, min(int(np.floor(erank)), len(s) - 1))
    rank = int(np.sum(s > s[0] * max(m, n) * EPS32))
    ratios = s[:-1] / np.where(s[1:] > 0, s[1:], np.nan)
    return {
        "sigma_max": float(s[0]), "frobenius": float(np.sqrt(fro2)), "nuclear": float(s.sum()),
        "stable_rank": float(fro2 / s[0] ** 2), "erank": erank, "pr": float(s.sum() ** 2 / fro2),
        "rank": rank, "rank_f32": int(np.sum(s > s[0] * np.sqrt(EPS32))),
        "rank_f16": int(np.sum(s > s[0] * np.sqrt(EPS16))), "k": k, "tail_dims": max(0, min(m, n) - k),
        "knee": int(np.nanargmax(ratios)) + 1 if len(s) > 1 else 1, "cond": float(s[0] / s[rank - 1]),
        "alpha": ww_alpha(s),
    }


def run_numpy(model_dir):
    import torch  # noqa: F401  (safetensors' bf16 reader)
    from safetensors import safe_open
    t0, c0 = time.perf_counter(), time.process_time()
    out = {}
    with safe_open(os.path.join(model_dir, "model.safetensors"), "pt") as f:
        for name in sorted(f.keys()):
            t = f.get_tensor(name)
            if t.dim() != 2:
                continue
            out[name] = capacity_numpy(t.float().numpy())
    return time.perf_counter() - t0, time.process_time() - c0, out


def run_mc(mc, model_dir):
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run([mc, "model", "capacity", "--json", "--threads", "1", model_dir], capture_output=True, text=True,
                       check=True)
    dt = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return dt, cpu, {m["name"]: m for m in json.loads(r.stdout)["matrices"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mc", default="build/mc")
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    t_mc, t_np, c_mc, c_np = [], [], [], []
    ref_mc = ref_np = None
    for i in range(args.runs):
        dt, cpu, ref_mc = run_mc(args.mc, args.model)
        t_mc.append(dt)
        c_mc.append(cpu)
        dt, cpu, ref_np = run_numpy(args.model)
        t_np.append(dt)
        c_np.append(cpu)
        print(f"run {i + 1}: mc {t_mc[-1]:.2f} s wall / {c_mc[-1]:.2f} s CPU, numpy {t_np[-1]:.2f} s wall / "
              f"{c_np[-1]:.2f} s CPU", file=sys.stderr)
    # Same work: every matrix, agreeing numbers.
    assert set(ref_mc) == set(ref_np), "different matrix sets"
    worst = {"sigma_max": 0.0, "erank": 0.0, "alpha": 0.0}
    for name, a in ref_np.items():
        b = ref_mc[name]
        worst["sigma_max"] = max(worst["sigma_max"], abs(b["sigma_max"] - a["sigma_max"]) / a["sigma_max"])
        worst["erank"] = max(worst["erank"], abs(b["effective_rank"] - a["erank"]) / a["erank"])
        if b["alpha"] is not None and np.isfinite(a["alpha"]):
            worst["alpha"] = max(worst["alpha"], abs(b["alpha"]["alpha"] - a["alpha"]) / a["alpha"])
        assert b["tail_dims"] == a["tail_dims"] and b["numerical_rank"] == a["rank"], name
    med_mc, med_np = statistics.median(t_mc), statistics.median(t_np)
    cmed_mc, cmed_np = statistics.median(c_mc), statistics.median(c_np)
    result = {
        "model": args.model, "matrices": len(ref_np), "runs": args.runs, "threads": 1,
        "mc_wall_s": t_mc, "numpy_wall_s": t_np, "mc_cpu_s": c_mc, "numpy_cpu_s": c_np,
        "mc_median_wall_s": med_mc, "numpy_median_wall_s": med_np, "ratio_wall_numpy_over_mc": med_np / med_mc,
        "mc_median_cpu_s": cmed_mc, "numpy_median_cpu_s": cmed_np, "ratio_cpu_numpy_over_mc": cmed_np / cmed_mc,
        "max_rel_diff": worst,
        "numpy": np.__version__, "numpy_blas": np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"],
        "cpu": next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?"),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
