#!/usr/bin/env python3
"""Golden fixtures for src/geometry (tests/golden/geometry_golden_test.cpp).

Writes tests/data/geometry/: the inputs as raw little-endian arrays (<name>.f32.bin row-major float32,
or <name>.bf16.bin row-major bfloat16 bits for the real SmolLM2 weights) and golden.json with every
expected value, each computed here by an independent reference on exactly the stored values:
  * numpy / scipy (float64 SVD, norms, numpy.linalg.matrix_rank, the rank formulas of spec/training.md §2
    and spec/surface.md §4.11 written out below, the Marchenko-Pastur median by scipy quad + brentq);
  * scikit-dimension 0.5.0 (skdim.id.TwoNN(), skdim.id.MLE() with their defaults; for the cloud with
    duplicate rows, fed exact scipy kNN distances, see exact_knn);
  * a direct numpy CKA (Gram matrices, the centring matrix H, Gretton's biased and Song's unbiased
    HSIC exactly as printed in the papers; RBF bandwidth by Kornblith et al.'s median heuristic);
  * weightwatcher 0.7.7 (WeightWatcher(model).analyze() on a torch nn.Linear holding each matrix).

Pinned (tools/requirements.txt): numpy 2.4.6, scipy 1.17.1, scikit-dimension 0.5.0, scikit-learn 1.9.1,
weightwatcher 0.7.7, powerlaw 2.0.0, torch 2.15.0, gguf 0.19.0.

Usage (from the repository root; deterministic, rewrites the fixtures):
    /work/tools-venv/bin/python tools/gen_geometry_goldens.py [--gguf models/SmolLM2-135M-Instruct.Q4_1.gguf]
"""
import argparse
import json
import logging
import os
import sys
import warnings
from importlib.metadata import version

import numpy as np
import scipy
import scipy.integrate
import scipy.linalg
import scipy.optimize
import scipy.spatial.distance

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "geometry")
EPS32 = float(np.finfo(np.float32).eps)
EPS16 = float(np.finfo(np.float16).eps)
TINY32 = float(np.finfo(np.float32).tiny)

# A discrete quantity (rank, floor of erank) is only a fair golden when its input is not within
# rounding distance of a decision boundary; we assert this margin (relative) for every one we store.
BOUNDARY_MARGIN = 1e-6


def write_bin(name, arr):
    path = os.path.join(OUT_DIR, name)
    arr = np.ascontiguousarray(arr)
    assert arr.dtype.byteorder in ("<", "=", "|")
    arr.tofile(path)
    return name


def to_bf16_bits(a):
    import torch
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(torch.bfloat16)
    return t.view(torch.int16).numpy().view(np.uint16)


def bf16_bits_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


# --------------------------------------------------------------------------------------------------
# matrices: SVD, norms, ranks, spectral geometry, WeightWatcher alpha
# --------------------------------------------------------------------------------------------------

def assert_clear(value, threshold, what):
    if threshold == 0:
        return
    rel = abs(value - threshold) / abs(threshold)
    assert rel > BOUNDARY_MARGIN, f"{what}: {value} is within {rel:.2e} of the boundary {threshold}"


def count_above(s, thr, what):
    for v in s:
        assert_clear(v, thr, what)
    return int(np.sum(s > thr))


def entropy(p):
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))


def recommended_rank(s):
    """spec/training.md §2 / surface.md §4.11: argmax_i s_i/s_{i+1} (1-based, s_i > 0; s_{i+1} = 0 -> inf)."""
    if len(s) == 0:
        return 0, float("nan")
    if s[0] == 0:
        return 1, 1.0
    if len(s) == 1:
        return 1, float("inf")
    best, ratio = 1, -1.0
    for i in range(len(s) - 1):
        if s[i] <= 0:
            break
        r = s[i] / s[i + 1] if s[i + 1] > 0 else float("inf")
        if r > ratio:
            best, ratio = i + 1, r
    return best, ratio


def layer_geometry(s, m, n):
    """spec/training.md §2 LayerGeometry, written from the spec."""
    full = min(m, n)
    e = s ** 2
    erank = float(np.exp(entropy(e / e.sum()))) if e.sum() > 0 else 0.0
    assert_clear(erank, np.floor(erank) if np.floor(erank) > 0 else 1.0, "erank floor")
    assert_clear(erank, np.floor(erank) + 1.0, "erank floor")
    k = max(1, min(int(np.floor(erank)), len(s) - 1))
    sigma_k = float(s[k - 1])
    if sigma_k <= 0:
        pos = s[s > 0]
        sigma_k = float(pos.min()) if len(pos) else TINY32
    gap = float(s[k - 2] - s[k - 1]) if k >= 2 else sigma_k
    rr, ratio = recommended_rank(s)
    return {
        "erank": erank, "k": k, "sigma_k": sigma_k, "spectral_gap": gap,
        "tail_dims": max(0, full - k), "decay_ratio": float(s[0] / sigma_k),
        "precision_rank": count_above(s, max(m, n) * EPS32 * s[0], "precision rank"),
        "recommended_rank": rr, "recommended_gap_ratio": ratio,
    }


def ww_alpha(w):
    """weightwatcher 0.7.7's default analyze() of one nn.Linear holding w (out, in)."""
    import torch
    import weightwatcher as ww
    out_f, in_f = w.shape
    layer = torch.nn.Linear(in_f, out_f, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)))
    model = torch.nn.Sequential(layer)
    df = ww.WeightWatcher(model=model).analyze()
    assert len(df) == 1, df
    row = df.iloc[0]
    return {"alpha": float(row["alpha"]), "xmin": float(row["xmin"]), "xmax": float(row["xmax"]),
            "D": float(row["D"]), "sigma": float(row["sigma"]), "num_pl_spikes": int(row["num_pl_spikes"])}


def matrix_case(name, w32, stored_as="f32", bits=None, source=""):
    m, n = w32.shape
    w = w32.astype(np.float64)
    if stored_as == "f32":
        file = write_bin(f"{name}.f32.bin", w32.astype("<f4"))
    else:
        file = write_bin(f"{name}.bf16.bin", bits.astype("<u2"))
    s = np.linalg.svd(w, compute_uv=False)
    s_scipy = scipy.linalg.svdvals(w)
    assert np.max(np.abs(s - s_scipy)) <= 1e-12 * s[0], name
    fro = float(np.linalg.norm(w, "fro"))
    spec = float(np.linalg.norm(w, 2))
    e = s ** 2
    tol_f32 = s.max() * max(m, n) * EPS32
    rank_f64 = int(np.linalg.matrix_rank(w))
    for v in s:
        assert_clear(v, s.max() * max(m, n) * np.finfo(np.float64).eps, "matrix_rank f64")
    rank_f32 = int(np.linalg.matrix_rank(w, tol=tol_f32))
    count_above(s, tol_f32, "matrix_rank f32")
    sqrt32, sqrt16 = np.sqrt(EPS32), np.sqrt(EPS16)
    nr32 = count_above(s, s[0] * sqrt32, "capacity f32")
    nr16 = count_above(s, s[0] * sqrt16, "capacity f16")
    rr, ratio = recommended_rank(s)
    r_tol = rank_f32
    case = {
        "name": name, "file": file, "dtype": stored_as, "shape": [m, n], "source": source,
        "singular_values": s.tolist(),
        "frobenius_norm": fro, "spectral_norm": spec, "nuclear_norm": float(np.linalg.norm(w, "nuc")),
        "stable_rank": fro ** 2 / spec ** 2,
        "participation_ratio": float(s.sum() ** 2 / e.sum()),
        "erank_energy": float(np.exp(entropy(e / e.sum()))),
        "erank_singular_values": float(np.exp(entropy(s / s.sum()))),
        "renyi2": float(e.sum() ** 2 / (e ** 2).sum()),
        "numerical_rank_f64": rank_f64,
        "numerical_rank_f32": rank_f32,
        "condition_number_f32": float(s[0] / s[r_tol - 1]),
        "capacity": {
            "numerical_rank_f32": nr32, "numerical_rank_f16": nr16,
            "null_space_dim_f32": min(m, n) - nr32,
            "null_space_fraction": (min(m, n) - nr32) / min(m, n),
            "recommended_rank": rr, "spectral_gap_at_rank": ratio,
            "capacity_utilization": float(s.sum() ** 2 / e.sum()) / min(m, n),
        },
        "layer_geometry": layer_geometry(s, m, n),
    }
    if min(m, n) >= 8:
        case["weightwatcher"] = ww_alpha(w32)
    return case


def planted(m, n, sigma, rng):
    u, _ = np.linalg.qr(rng.standard_normal((m, len(sigma))))
    v, _ = np.linalg.qr(rng.standard_normal((n, len(sigma))))
    return (u * sigma) @ v.T


def matrices(rng, gguf_path):
    out = []
    out.append(matrix_case("gauss_48x32", rng.standard_normal((48, 32)).astype(np.float32), source="N(0,1)"))
    out.append(matrix_case("wide_24x60", (0.1 * rng.standard_normal((24, 60))).astype(np.float32),
                           source="0.1*N(0,1)"))
    lr = (rng.standard_normal((64, 6)) @ rng.standard_normal((6, 40))).astype(np.float32)
    out.append(matrix_case("lowrank_64x40_r6", lr, source="rank-6 product rounded to float32"))
    sig = np.concatenate([[10, 9, 8, 7, 6], 1.0 * 0.93 ** np.arange(45)])
    out.append(matrix_case("planted_gap_50x50", planted(50, 50, sig, rng).astype(np.float32),
                           source="U diag(sigma) V^T, knee after 5"))
    out.append(matrix_case("heavy_t3_300x200", rng.standard_t(3, size=(300, 200)).astype(np.float32),
                           source="Student-t(3) entries"))
    out.append(matrix_case("heavy_t2p5_120x400", (0.05 * rng.standard_t(2.5, size=(120, 400))).astype(np.float32),
                           source="0.05*Student-t(2.5) entries"))
    out.append(matrix_case("pareto_rows_200x150",
                           (rng.standard_normal((200, 150)) * rng.pareto(1.5, size=(200, 1))).astype(np.float32),
                           source="Gaussian rows scaled by Pareto(1.5) norms"))
    out.append(matrix_case("gauss_mp_256x128", rng.standard_normal((256, 128)).astype(np.float32),
                           source="N(0,1): Marchenko-Pastur bulk"))
    out.append(matrix_case("small_16x40", rng.standard_normal((16, 40)).astype(np.float32),
                           source="N(0,1), 16 eigenvalues: weightwatcher small-N path"))
    if gguf_path:
        import gguf
        from gguf.quants import dequantize
        reader = gguf.GGUFReader(gguf_path)
        tensors = {t.name: t for t in reader.tensors}
        for gname, name in [("blk.0.attn_k.weight", "smollm2_blk0_attn_k"),
                            ("blk.0.attn_q.weight", "smollm2_blk0_attn_q"),
                            ("blk.15.attn_v.weight", "smollm2_blk15_attn_v")]:
            t = tensors[gname]
            w = dequantize(t.data, t.tensor_type).astype(np.float32)  # numpy (out, in) = GGUF ne reversed
            bits = to_bf16_bits(w)
            out.append(matrix_case(name, bf16_bits_to_f32(bits).reshape(w.shape), stored_as="bf16", bits=bits,
                                   source=f"SmolLM2-135M-Instruct.Q4_1.gguf {gname} ({t.tensor_type.name}), "
                                          "dequantized by gguf 0.19.0, rounded to bf16 (RNE)"))
    return out


# --------------------------------------------------------------------------------------------------
# point clouds: TwoNN and MLE by scikit-dimension
# --------------------------------------------------------------------------------------------------

def skdim_twonn(x, r1r2=None):
    import skdim
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if r1r2 is not None:
            return float(skdim.id.TwoNN(dist=True).fit(r1r2).dimension_)
        return float(skdim.id.TwoNN().fit(x).dimension_)


def skdim_mle(x, comb, knn=None):
    import skdim
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = skdim.id.MLE()
        if knn is None:
            return float(est.fit(x, comb=comb).dimension_)
        # Duplicates: skdim gives d_i = 0 where r1 = 0; our DropZeroR1 leaves those points out.
        est.fit(x, comb=comb, precomputed_knn_arrays=knn)
        pw = est.dimension_pw_[knn[0][:, 0] > 0]
        return float(1.0 / np.mean(1.0 / pw)) if comb == "mle" else float(np.mean(pw))


def exact_knn(x, k):
    """Exact Euclidean kNN (self excluded) by scipy cdist, ties by index.

    Needed for duplicate points: sklearn's brute-force search (which skdim calls) uses the Gram
    identity, so two identical rows come out ~1e-8 apart instead of 0 and escape skdim's r1 = 0 rule."""
    d = scipy.spatial.distance.cdist(x, x)
    np.fill_diagonal(d, np.inf)
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, idx, axis=1), idx


def cloud_case(name, x32, source, duplicates=False):
    x = x32.astype(np.float64)
    file = write_bin(f"{name}.f32.bin", x32.astype("<f4"))
    uniq = np.unique(x, axis=0)
    case = {"name": name, "file": file, "shape": list(x32.shape), "source": source,
            "n_distinct": int(len(uniq)),
            "collapse": {"twonn": skdim_twonn(uniq), "mle": skdim_mle(uniq, "mle"),
                         "mle_mean": skdim_mle(uniq, "mean")}}
    if duplicates:
        knn = exact_knn(x, 20)
        case["drop_zero_r1"] = {"twonn": skdim_twonn(x, knn[0][:, :2]), "mle": skdim_mle(x, "mle", knn),
                                "mle_mean": skdim_mle(x, "mean", knn)}
    return case


def subspace(rng, n, d, big_d):
    z = rng.standard_normal((n, d))
    b, _ = np.linalg.qr(rng.standard_normal((big_d, d)))
    return (z @ b.T).astype(np.float32)


def sphere(rng, n, d, big_d):
    z = rng.standard_normal((n, d + 1))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    b, _ = np.linalg.qr(rng.standard_normal((big_d, d + 1)))
    return (z @ b.T).astype(np.float32)


def clouds(rng):
    out = []
    x5 = subspace(rng, 600, 5, 20)
    out.append(cloud_case("subspace_d5_D20_N600", x5, "Gaussian on a random 5-dim subspace of R^20"))
    out.append(cloud_case("sphere_d3_D10_N500", sphere(rng, 500, 3, 10), "uniform on S^3 rotated into R^10"))
    out.append(cloud_case("subspace_d8_D40_N400", subspace(rng, 400, 8, 40),
                          "Gaussian on an 8-dim subspace of R^40 (skdim's D > 25 distance-matrix path)"))
    dup_rows = x5[np.arange(25) * 17]
    out.append(cloud_case("subspace_d5_dups", np.concatenate([x5, dup_rows]), "subspace_d5_D20_N600 + 25 duplicate rows",
                          duplicates=True))
    out.append(cloud_case("probe_like_N30_D64", (rng.standard_normal((30, 64)) @ np.diag(0.9 ** np.arange(64)))
                          .astype(np.float32), "30 points, anisotropic Gaussian in R^64 (a probe-set-sized cloud)"))
    out.append(cloud_case("tiny_N15_D6", rng.standard_normal((15, 6)).astype(np.float32),
                          "15 points: MLE clamps k=20 to 14"))
    return out


# --------------------------------------------------------------------------------------------------
# CKA: direct numpy, written from the formulas
# --------------------------------------------------------------------------------------------------

def hsic_biased(k, l):
    """Gretton et al. 2005: tr(K H L H) / (n-1)^2."""
    n = k.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    return float(np.trace(k @ h @ l @ h) / (n - 1) ** 2)


def hsic_unbiased(k, l):
    """Song et al. 2012, eq. (5)."""
    n = k.shape[0]
    kt = k - np.diag(np.diag(k))
    lt = l - np.diag(np.diag(l))
    one = np.ones(n)
    term = (np.trace(kt @ lt) + (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
            - 2.0 / (n - 2) * (one @ kt @ lt @ one))
    return float(term / (n * (n - 3)))


def gram_rbf(x, frac):
    """Kornblith et al. 2019 reference gram_rbf: sigma^2 = frac^2 * median of all n^2 squared distances."""
    d2 = scipy.spatial.distance.cdist(x, x, "sqeuclidean")
    sigma2 = frac ** 2 * np.median(d2)
    return np.exp(-d2 / (2 * sigma2)), float(np.sqrt(sigma2))


def cka_values(x, y, kernel, estimator, frac=None):
    if kernel == "linear":
        k, l = x @ x.T, y @ y.T  # not centred: H (biased) and the U-statistic (unbiased) take care of it
        sx = sy = 0.0
    else:
        (k, sx), (l, sy) = gram_rbf(x, frac), gram_rbf(y, frac)
    f = hsic_biased if estimator == "biased" else hsic_unbiased
    xy, xx, yy = f(k, l), f(k, k), f(l, l)
    return {"kernel": kernel, "estimator": estimator, "sigma_frac": frac, "cka": xy / np.sqrt(xx * yy),
            "hsic_xy": xy, "hsic_xx": xx, "hsic_yy": yy, "sigma_x": sx, "sigma_y": sy}


def cka_case(name, x32, y32, source):
    x, y = x32.astype(np.float64), y32.astype(np.float64)
    fx = write_bin(f"{name}_x.f32.bin", x32.astype("<f4"))
    fy = write_bin(f"{name}_y.f32.bin", y32.astype("<f4"))
    results = []
    for est in ("biased", "unbiased"):
        results.append(cka_values(x, y, "linear", est))
        for frac in (1.0, 0.5):
            results.append(cka_values(x, y, "rbf", est, frac))
    return {"name": name, "x_file": fx, "y_file": fy, "x_shape": list(x32.shape), "y_shape": list(y32.shape),
            "source": source, "results": results}


def cka_cases(rng):
    out = []
    x = rng.standard_normal((64, 10))
    y = x @ rng.standard_normal((10, 6)) + 2.0 * rng.standard_normal((64, 6))
    out.append(cka_case("cka_n64", x.astype(np.float32), y.astype(np.float32), "Y = X W + 2 noise, n > d"))
    x = rng.standard_normal((16, 48)) + 3.0
    y = np.tanh(x @ rng.standard_normal((48, 32)) / 7.0) + 0.3 * rng.standard_normal((16, 32))
    out.append(cka_case("cka_n16_wide", x.astype(np.float32), y.astype(np.float32),
                        "n = 16 < d: tanh features of a shifted X"))
    out.append(cka_case("cka_independent", rng.standard_normal((40, 8)).astype(np.float32),
                        rng.standard_normal((40, 8)).astype(np.float32), "independent Gaussians"))
    return out


# --------------------------------------------------------------------------------------------------
# Marchenko-Pastur median and signal rank
# --------------------------------------------------------------------------------------------------

def mp_median(beta):
    a, b = (1 - np.sqrt(beta)) ** 2, (1 + np.sqrt(beta)) ** 2
    dens = lambda t: np.sqrt((b - t) * (t - a)) / (2 * np.pi * beta * t)
    cdf = lambda x: scipy.integrate.quad(dens, a, x, epsabs=1e-14, epsrel=1e-13, limit=200)[0]
    return float(scipy.optimize.brentq(lambda x: cdf(x) - 0.5, a, b, xtol=1e-15, rtol=4 * np.finfo(float).eps))


def mp_cases(rng):
    medians = [{"beta": beta, "median": mp_median(beta)} for beta in (0.05, 0.25, 0.5, 0.75, 1.0)]
    signal = []
    for n, d in ((100, 60), (40, 90)):
        x = rng.standard_normal((n, d))
        for strength in (6.0, 9.0):
            x += strength * np.outer(rng.standard_normal(n), rng.standard_normal(d) / np.sqrt(d))
        x32 = x.astype(np.float32)
        name = f"mp_spiked_N{n}_d{d}"
        file = write_bin(f"{name}.f32.bin", x32.astype("<f4"))
        xc = x32.astype(np.float64)
        xc = xc - xc.mean(axis=0)
        s = np.linalg.svd(xc, compute_uv=False)
        n_eff = n - 1  # centred: one degree of freedom used by the mean
        p = min(n_eff, d)
        lam = s[:p] ** 2 / n_eff
        q = d / n_eff
        med = float(np.median(lam))
        sigma2 = med / mp_median(q) if q <= 1 else med / (q * mp_median(1 / q))
        edge = sigma2 * (1 + np.sqrt(q)) ** 2
        for v in lam:
            assert_clear(v, edge, "MP edge")
        signal.append({"name": name, "file": file, "shape": [n, d], "noise_variance": sigma2, "edge": edge,
                       "signal_rank": int(np.sum(lam > edge)),
                       "signal_variance_fraction": float(lam[lam > edge].sum() / lam.sum())})
    return medians, signal


def finite_or_string(v):
    """JSON has no NaN/Infinity: non-finite numbers are stored as the strings "inf", "-inf", "nan"."""
    if isinstance(v, float) and not np.isfinite(v):
        return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, dict):
        return {k: finite_or_string(x) for k, x in v.items()}
    if isinstance(v, list):
        return [finite_or_string(x) for x in v]
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models",
                                                     "SmolLM2-135M-Instruct.Q4_1.gguf"))
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    os.makedirs(OUT_DIR, exist_ok=True)
    gguf_path = args.gguf if os.path.exists(args.gguf) else None
    if gguf_path is None:
        sys.exit(f"missing {args.gguf}: the real-weight goldens need it")
    rng = np.random.default_rng(20240607)
    mats = matrices(rng, gguf_path)
    pcs = clouds(rng)
    ckas = cka_cases(rng)
    medians, signal = mp_cases(rng)
    golden = {
        "generator": "tools/gen_geometry_goldens.py",
        "versions": {p: version(p) for p in ("numpy", "scipy", "scikit-dimension", "scikit-learn", "weightwatcher",
                                             "powerlaw", "torch", "gguf")},
        "note": "inputs are raw little-endian row-major arrays; expected values from the references named in "
                "the generator's docstring, computed on exactly the stored values",
        "matrices": mats, "point_clouds": pcs, "cka": ckas, "mp_medians": medians, "mp_signal": signal,
    }
    with open(os.path.join(OUT_DIR, "golden.json"), "w") as f:
        json.dump(finite_or_string(golden), f, indent=1, allow_nan=False)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT_DIR, f)) for f in os.listdir(OUT_DIR))
    print(f"wrote {len(os.listdir(OUT_DIR))} files, {total / 1e6:.2f} MB, to {os.path.normpath(OUT_DIR)}")


if __name__ == "__main__":
    main()
