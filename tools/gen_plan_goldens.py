#!/usr/bin/env python3
"""Golden values for the training plan (src/train/plan*.{h,cpp}; tests/golden/plan_golden_test.cpp).

Every number is computed here, independently of the C++ code, from the formulas of spec/training.md
§2, §3 and §3.16 and DECISIONS.md #1, #3, #8 as typed below:
  * per tiny HF fixture in tests/data/hf/<type>/ (llama, mistral, qwen2, qwen3, lfm2): the adapter candidates
    (attention q/k/v/o -- LFM2 self_attn.out_proj --, LFM2 conv.in_proj/out_proj, MLP gate/up/down -- LFM2
    feed_forward.w1/w3/w2 --, per layer in that order), their singular values by numpy.linalg.svd in float64 of
    the stored weights (bf16 and fp32 converted exactly to float64), and LayerGeometry: sigma_max, Shannon
    effective rank (energy weights), structural rank k, sigma_k, spectral gap, tail_dims, decay ratio,
    precision rank;
  * targets and ranks: base rank, attention coupling r(q) = min(r(q), r(k)), data-rank ceiling for two
    n_train values, RMT ceiling for given per-layer (signal_rank, act_erank), final r <= tail_dims;
    scale bounds, decay scales, Adam eps floors, dropout values, sigma_k_min / sigma_max, eta_ceiling0 and
    eta_ceiling for a given N_b, and the trainable parameter count r*(in+out+1);
  * model_hash of each fixture directory, dataset_hash of tests/data/plan/train.jsonl, the derived seed;
  * sequence lengths for given token counts;
  * Fisher-Yates permutations driven by xoshiro256** seeded through splitmix64 (re-implemented here from
    Blackman & Vigna's published recurrences), and pilot_variance splits (Welford) for given loss lists;
  * McCandlish critical batch sizes for given per-sample gradient vectors (float32 values).

Pinned (tools/requirements.txt): numpy 2.4.6, torch 2.15.0, safetensors 0.8.0 (torch only reads bf16).

Usage (from the repository root; deterministic, rewrites tests/data/plan/golden.json):
    /work/tools-venv/bin/python tools/gen_plan_goldens.py
"""
import hashlib
import json
import math
import os
from importlib.metadata import version

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
HF_DIR = os.path.join(ROOT, "tests", "data", "hf")
OUT_DIR = os.path.join(ROOT, "tests", "data", "plan")
DATASET = os.path.join(OUT_DIR, "train.jsonl")
FIXTURES = ["llama", "mistral", "qwen2", "qwen3", "lfm2"]

EPS = float(np.finfo(np.float32).eps)        # 2^-23, spec §1
SQRT_EPS = math.sqrt(EPS)
TINY = float(np.finfo(np.float32).tiny)
SIMD_W = 32
N_B = 7                                       # steps per epoch for the eta_ceiling golden
N_TRAIN_CASES = [5, 1000]                     # data-rank ceiling: binding and not binding
SIGNAL = {0: (3, 7.6), 1: (9, 4.2)}           # layer -> (signal_rank, act_erank), given
MASK64 = (1 << 64) - 1


# ---------------------------------------------------------------------------------------------------
# hashing and the seed (spec §3.16)

def model_hash(d):
    files = []
    if os.path.isfile(os.path.join(d, "config.json")):
        files.append("config.json")
    if os.path.isfile(os.path.join(d, "model.safetensors.index.json")):
        files.append("model.safetensors.index.json")
    files += sorted(f for f in os.listdir(d) if f.endswith(".safetensors") and os.path.isfile(os.path.join(d, f)))
    h = hashlib.sha256()
    for rel in files:
        h.update(rel.encode("utf-8"))
        with open(os.path.join(d, rel), "rb") as f:
            h.update(f.read())
    return h.hexdigest(), files


def file_hash(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def derive_seed(mh, dh):
    return int.from_bytes(hashlib.sha256(f"{mh}:{dh}".encode()).digest()[:4], "big")


# ---------------------------------------------------------------------------------------------------
# geometry (spec §2)

def load_weights(d):
    from safetensors.torch import load_file
    out = {}
    for f in sorted(os.listdir(d)):
        if f.endswith(".safetensors"):
            for k, v in load_file(os.path.join(d, f)).items():
                out[k] = v.float().numpy().astype(np.float64)
    return out


def candidates(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    L = cfg["num_hidden_layers"]
    out = []
    for il in range(L):
        p = f"model.layers.{il}."
        if cfg["model_type"] == "lfm2":
            if cfg["layer_types"][il] == "conv":
                mixer = [("conv_in", "conv.in_proj"), ("conv_out", "conv.out_proj")]
            else:
                mixer = [("q", "self_attn.q_proj"), ("k", "self_attn.k_proj"), ("v", "self_attn.v_proj"),
                         ("o", "self_attn.out_proj")]
            mlp = [("gate", "feed_forward.w1"), ("up", "feed_forward.w3"), ("down", "feed_forward.w2")]
        else:
            mixer = [("q", "self_attn.q_proj"), ("k", "self_attn.k_proj"), ("v", "self_attn.v_proj"),
                     ("o", "self_attn.o_proj")]
            mlp = [("gate", "mlp.gate_proj"), ("up", "mlp.up_proj"), ("down", "mlp.down_proj")]
        for role, mod in mixer + mlp:
            out.append((p + mod + ".weight", il, role))
    return out, L


def layer_geometry(w):
    m, n = w.shape
    s = np.linalg.svd(w, compute_uv=False)           # float64, descending
    full = min(m, n)
    n_svs = len(s)
    smax = float(s[0])
    energy = s ** 2
    tot = energy.sum()
    if tot > 0:
        p = energy / tot
        erank = float(np.exp(-np.sum(np.where(p > 0, p * np.log(np.maximum(p, TINY)), 0.0))))
    else:
        erank = 0.0
    k = max(1, min(int(math.floor(erank)), n_svs - 1))
    sk = float(s[k - 1])
    if sk <= 0:
        pos = s[s > 0]
        sk = float(pos[-1]) if len(pos) else TINY
    gap = float(s[k - 2] - s[k - 1]) if k >= 2 else sk
    tail = max(0, full - k)
    return dict(m=m, n=n, full_rank=full, sigma_max=smax, erank=erank, k=k, sigma_k=sk, spectral_gap=gap,
                tail_dims=tail, decay_ratio=smax / sk,
                precision_rank=int(np.sum(s > max(m, n) * EPS * smax)))


def plan_ranks(mods, n_train=None, signal=None):
    """spec §3.11/§3.12: base rank, coupling, ceiling, r <= tail_dims. Returns {name: (rank, zero_tail)}."""
    base = {}
    for md in mods:
        g = md["geo"]
        if g["tail_dims"] > 0:
            base[md["name"]] = g["tail_dims"]
        elif g["spectral_gap"] > 0:
            base[md["name"]] = 1
    coupled = dict(base)
    k_of = {md["layer"]: base[md["name"]] for md in mods if md["role"] == "k" and md["name"] in base}
    for md in mods:
        if md["role"] == "q" and md["name"] in base and md["layer"] in k_of:
            coupled[md["name"]] = min(coupled[md["name"]], k_of[md["layer"]])
    final = {}
    for md in mods:
        if md["name"] not in base:
            continue
        r = coupled[md["name"]]
        if signal:
            if md["layer"] in signal:
                sr, ae = signal[md["layer"]]
                r = min(r, max(1, int(math.floor(ae))), max(1, sr))
        else:
            r = min(r, n_train)
        g = md["geo"]
        if g["tail_dims"] > 0:
            r = min(r, g["tail_dims"])
        final[md["name"]] = r
    return base, coupled, final


def fixture_case(t, dataset_hash):
    d = os.path.join(HF_DIR, t)
    mh, files = model_hash(d)
    w = load_weights(d)
    cands, L = candidates(d)
    mods = []
    for name, il, role in cands:
        mods.append(dict(name=name, layer=il, role=role, geo=layer_geometry(w[name])))
    out = dict(model_hash=mh, hash_files=files, seed=derive_seed(mh, dataset_hash), n_layers=L,
               modules=[dict(name=md["name"], layer=md["layer"], role=md["role"], **md["geo"]) for md in mods])

    def surface(final):
        targets = [md for md in mods if md["name"] in final]
        skmin = min(md["geo"]["sigma_k"] for md in targets)
        smax = max(md["geo"]["sigma_max"] for md in targets)
        per = {}
        for md in targets:
            g = md["geo"]
            r = final[md["name"]]
            zero_tail = g["tail_dims"] == 0
            per[md["name"]] = dict(
                rank=r,
                scale_bound=(g["spectral_gap"] / 4 if zero_tail else g["sigma_k"] / 2) * (1 - SQRT_EPS),
                decay_scale=g["sigma_k"] / g["sigma_max"] if g["sigma_max"] > 0 else 1.0,
                adam_eps_floor=max(g["sigma_k"] ** 2, SQRT_EPS * g["sigma_max"] ** 2),
                dropout=(1 - g["erank"] / g["full_rank"]) * (r / g["full_rank"]))
        eta0 = skmin / smax
        return dict(modules=per, sigma_k_min=skmin, sigma_max=smax, eta_ceiling0=eta0,
                    eta_ceiling=eta0 / math.sqrt(N_B) if N_B > 1 else eta0,
                    params=sum(final[md["name"]] * (md["geo"]["m"] + md["geo"]["n"] + 1) for md in targets))

    base, coupled, _ = plan_ranks(mods, n_train=1)
    out["base_ranks"] = base
    out["coupled_ranks"] = coupled
    out["data_rank"] = []
    for nt in N_TRAIN_CASES:
        _, _, final = plan_ranks(mods, n_train=nt)
        out["data_rank"].append(dict(n_train=nt, **surface(final)))
    _, _, final = plan_ranks(mods, signal=SIGNAL)
    out["signal"] = dict(layers={str(k): dict(signal_rank=v[0], act_erank=v[1]) for k, v in SIGNAL.items()},
                         **surface(final))
    return out


# ---------------------------------------------------------------------------------------------------
# xoshiro256** + splitmix64 (Blackman & Vigna 2018), Fisher-Yates, pilot split (spec §3.16, DECISIONS #3)

def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK64


class Xoshiro:
    def __init__(self, seed):
        st = seed & MASK64
        self.s = []
        for _ in range(4):
            st, z = splitmix64(st)
            self.s.append(z)

    def next(self):
        s = self.s
        result = (rotl((s[1] * 5) & MASK64, 7) * 9) & MASK64
        t = (s[1] << 17) & MASK64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def below(self, n):
        """Uniform in [0, n): reject draws above the largest multiple of n that fits in 2^64."""
        limit = MASK64 - ((MASK64 % n + 1) % n)
        while True:
            x = self.next()
            if x <= limit:
                return x % n


def permutation(n, seed):
    p = list(range(n))
    r = Xoshiro(seed)
    for i in range(n - 1, 0, -1):
        j = r.below(i + 1)
        p[i], p[j] = p[j], p[i]
    return p


def pilot_split(losses, seed, rho=SQRT_EPS):
    n = len(losses)
    order = permutation(n, seed)
    mean = m2 = 0.0
    n_val = 1.0
    rec = dict(pilot_variance=0.0, target_se=0.0, requested_n_eval=0.0)
    n_eval = None
    steps = 0
    for i in range(1, n + 1):
        x = losses[order[i - 1]]
        delta = x - mean
        mean += delta / i
        m2 += delta * (x - mean)
        steps = i
        if i < 2:
            continue
        var = m2 / (i - 1)
        tse = rho * abs(mean) if abs(mean) > SQRT_EPS else EPS
        n_req = math.ceil(var / (tse * tse))
        n_val = max(n_val, n_req)
        rec.update(pilot_variance=var, target_se=tse, requested_n_eval=float(n_val))
        if n_val >= n:
            break
        if i >= max(2, n_val):
            n_eval = i
            break
    fallback = None
    if n_eval is None:
        fallback = "sqrt_n"
        n_eval = max(2, math.ceil(math.sqrt(n)))
    return dict(n_eval=n_eval, n_train=n - n_eval, pilot_steps=steps, pilot_mean_loss=mean, fallback=fallback,
                eval_indices=order[:n_eval], train_indices=order[n_eval:], **rec)


def pilot_cases(rng):
    cases = []
    specs = [("converges", 200, 2.0, 4e-3, 1234567),
             ("fallback_sqrt_n", 50, 2.0, 0.5, 42),
             ("near_zero_mean", 30, 1e-5, 3e-7, 7),
             ("identical", 10, 1.5, 0.0, 99),
             ("three_samples", 3, 2.0, 0.5, 3)]
    for name, n, mu, sd, seed in specs:
        losses = [float(v) for v in mu + sd * rng.standard_normal(n)]
        cases.append(dict(name=name, seed=seed, losses=losses, **pilot_split(losses, seed)))
    return cases


# ---------------------------------------------------------------------------------------------------
# critical batch (spec §3.8, McCandlish et al. 2018 B_simple)

def critical_batch(grads, n_train):
    g = np.asarray(grads, dtype=np.float64)
    n = len(g)
    if n < 2:
        return dict(batch_size=1)
    mean = g.mean(axis=0)
    g2 = float(mean @ mean)
    tr = float(((g - mean) ** 2).sum() / (n - 1))
    snr = g2 / tr if tr > 0 else (math.inf if g2 > 0 else 0.0)
    if not snr > 0:
        return dict(batch_size=1, grad_mean_sq_norm=g2, trace_sigma=tr)
    b = tr / g2
    unb = g2 - tr / n
    return dict(batch_size=int(min(max(math.ceil(b), 1), n_train)), grad_mean_sq_norm=g2, trace_sigma=tr,
                b_simple=b, b_simple_unbiased=(tr / unb if unb > 0 else None))


def batch_cases(rng):
    cases = []
    for name, n, dim, mu, sd, n_train in [("typical", 20, 50, 0.1, 0.3, 1000),
                                           ("capped_by_n_train", 20, 50, 0.1, 0.3, 4),
                                           ("noise_dominated", 20, 40, 0.001, 1.0, 500),
                                           ("clean", 8, 30, 1.0, 0.01, 100),
                                           ("single", 1, 10, 0.5, 0.1, 100)]:
        grads = (mu + sd * rng.standard_normal((n, dim))).astype(np.float32)
        gl = [[float(v) for v in row] for row in grads]
        cases.append(dict(name=name, n_train=n_train, grads=gl, **critical_batch(gl, n_train)))
    return cases


# ---------------------------------------------------------------------------------------------------

def main():
    rng = np.random.default_rng(20260316)
    dh = file_hash(DATASET)
    out = dict(
        generator="tools/gen_plan_goldens.py",
        versions=dict(numpy=version("numpy"), torch=version("torch"), safetensors=version("safetensors")),
        constants=dict(eps=EPS, sqrt_eps=SQRT_EPS, simd_w=SIMD_W, n_batches=N_B),
        dataset=dict(path="plan/train.jsonl", dataset_hash=dh),
        fixtures={t: fixture_case(t, dh) for t in FIXTURES},
        seq_length=[dict(counts=c, seq_length=math.ceil((max(c) + 1) / SIMD_W) * SIMD_W)
                    for c in [[5, 31, 12], [31], [32], [0], [63, 64, 2], [200, 7]]],
        permutations=[dict(n=n, seed=s, perm=permutation(n, s)) for n, s in
                      [(1, 5), (2, 0), (10, 0), (10, 1), (17, 123456789), (64, 4294967295)]],
        pilot=pilot_cases(rng),
        critical_batch=batch_cases(rng),
    )
    path = os.path.join(OUT_DIR, "golden.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
