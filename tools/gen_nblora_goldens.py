#!/usr/bin/env python3
"""Golden fixtures for src/train/nblora (tests/unit/train/nblora_test.cpp).

Writes tests/data/nblora/cayley.json: for a few random NB-LoRA modules (rank r, in n, out m) the
parameters (Ã, B̃, S_raw, scale_bound), a random upstream gradient (dA_eff, dB_eff) of the engine's
plain LoRA factors, and what PyTorch computes from them in float64:
  * the Cayley map of spec/training.md §4 written out directly from the spec's formulas
      M = [Ãᵀ; B̃ᵀ], X = M[:r], Y = M[r:], Z = (X − Xᵀ) + YᵀY, K = (I + Z)⁻¹ (torch.linalg.solve),
      Q = [(I − Z)K; −2YK], Aᵀ = Q[:n], Bᵀ = Q[n:], S = clamp(S_raw, 0, scale_bound),
      A_eff = A (r, n), B_eff = 2·Bᵀ·diag(S) (m, r);
  * the gradients dÃ, dB̃, dS_raw of L = ⟨dA_eff, A_eff⟩ + ⟨dB_eff, B_eff⟩ by torch autograd
    (torch.clamp's gradient passes where scale_bound ≥ S_raw ≥ 0, inclusive, and is 0 outside);
  * the singular values of ΔW = 2·Bᵀ·diag(S)·A (m, n) by numpy.linalg.svd (float64), ‖ΔW‖₂ and the
    saturation ratio ‖ΔW‖₂ / scale_bound (docs/decisions.md: the spec's 2·scale_bound is unreachable).
Nothing here calls mc; the expected values come from PyTorch/numpy only. S_raw values are drawn so that
some fall outside [0, scale_bound] (clipped, zero gradient) but none within 1e-3·scale_bound of a
boundary (where a finite difference would straddle the kink).

Pinned (tools/requirements.txt): torch 2.15.0, numpy 2.4.6.

Usage (from the repository root; deterministic, rewrites the fixture):
    /work/tools-venv/bin/python tools/gen_nblora_goldens.py
"""
import json
import os
from importlib.metadata import version

import numpy as np
import torch

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "nblora")
EPS32 = float(np.finfo(np.float32).eps)
SQRT_EPS32 = float(np.sqrt(EPS32))

# (r, n, m, sigma_k, scale of the random Ã/B̃ entries, seed)
CASES = [
    (2, 7, 5, 0.8, 0.7, 11),
    (4, 16, 12, 2.5, 0.5, 12),
    (3, 64, 96, 0.05, 0.3, 13),
]
KINK_MARGIN = 1e-3  # relative distance of S_raw from 0 and scale_bound


def cayley(At, Bt, S_raw, scale_bound):
    r, n = At.shape
    M = torch.cat([At.T, Bt.T], dim=0)  # (n+m, r)
    X = M[:r]
    Y = M[r:]
    I = torch.eye(r, dtype=torch.float64)
    Z = (X - X.T) + Y.T @ Y
    K = torch.linalg.solve(I + Z, I)
    Q = torch.cat([(I - Z) @ K, -2.0 * Y @ K], dim=0)  # (n+m, r)
    A = Q[:n].T  # (r, n)
    BT = Q[n:]  # (m, r)
    S = torch.clamp(S_raw, 0.0, scale_bound)
    return Q, A, BT, S


def make_case(r, n, m, sigma_k, scale, seed):
    g = torch.Generator().manual_seed(seed)
    At = (scale * torch.randn(r, n, generator=g, dtype=torch.float64)).requires_grad_()
    Bt = (scale * torch.randn(r, m, generator=g, dtype=torch.float64)).requires_grad_()
    scale_bound = (sigma_k / 2.0) * (1.0 - SQRT_EPS32)  # DECISIONS #1
    while True:
        u = torch.rand(r, generator=g, dtype=torch.float64) * 1.3 - 0.15  # in [−0.15, 1.15)
        away = torch.all(torch.abs(u) > KINK_MARGIN) and torch.all(torch.abs(u - 1.0) > KINK_MARGIN)
        interior = torch.any((u > 0) & (u < 1))  # at least one unclipped S per case
        if away and interior:
            break
    S_raw = (u * scale_bound).requires_grad_()
    dA_eff = torch.randn(r, n, generator=g, dtype=torch.float64)
    dB_eff = torch.randn(m, r, generator=g, dtype=torch.float64)

    Q, A, BT, S = cayley(At, Bt, S_raw, scale_bound)
    A_eff = A
    B_eff = 2.0 * BT * S[None, :]
    loss = (dA_eff * A_eff).sum() + (dB_eff * B_eff).sum()
    dAt, dBt, dS_raw = torch.autograd.grad(loss, [At, Bt, S_raw])

    dW = (B_eff @ A_eff).detach().numpy()  # (m, n) = 2 Bᵀ diag(S) A
    sv = np.linalg.svd(dW, compute_uv=False)
    orth = (Q.T @ Q - torch.eye(r, dtype=torch.float64)).abs().max().item()
    assert orth < 1e-12, orth

    def flat(t):
        return [float(v) for v in t.detach().reshape(-1).tolist()]

    return {
        "r": r, "n": n, "m": m, "sigma_k": sigma_k, "scale_bound": scale_bound, "seed": seed,
        "At": flat(At), "Bt": flat(Bt), "S_raw": flat(S_raw),
        "dA_eff": flat(dA_eff), "dB_eff": flat(dB_eff),
        "A_eff": flat(A_eff), "B_eff": flat(B_eff),
        "dAt": flat(dAt), "dBt": flat(dBt), "dS_raw": flat(dS_raw),
        "delta_w_singular_values": [float(v) for v in sv[:r]],
        "delta_w_spectral_norm": float(sv[0]),
        "saturation_ratio": float(sv[0]) / scale_bound,
    }


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    doc = {
        "generator": "tools/gen_nblora_goldens.py",
        "versions": {"torch": version("torch"), "numpy": version("numpy")},
        "layout": "row-major: At (r,n), Bt (r,m), S_raw (r), dA_eff/A_eff (r,n), dB_eff/B_eff (m,r)",
        "cases": [make_case(*c) for c in CASES],
    }
    path = os.path.join(OUT_DIR, "cayley.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
