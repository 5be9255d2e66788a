#!/usr/bin/env python3
"""Tokenizer encode throughput: mc vs HF `tokenizers` on the same 4 MB of real text, one thread.

Text: WordNet 3.0 glosses (Debian wordnet-base), cut into ~4 KB {"text"} records up to 4 MB.
mc:  `mc tokenize -m MODEL --count FILE --json` (one thread); its fixed start-up cost (loading
     tokenizer.json and the template) is measured on a one-record file and subtracted.
HF:  tokenizers.Tokenizer.from_file(MODEL/tokenizer.json).encode(text) per record, RAYON_NUM_THREADS=1.
Both token totals must agree (mc appends one eos per text record, which is accounted for).
Reports medians of --runs runs, in MB/s, and the ratio.

usage: bench/tokenizer/bench_tokenizer.py --mc build/mc --model models/SmolLM2-135M-Instruct [--runs 5]
"""
import argparse, glob, json, os, statistics, subprocess, sys, tempfile, time

os.environ["RAYON_NUM_THREADS"] = "1"
import tokenizers  # noqa: E402


def wordnet_text(limit):
    parts, size = [], 0
    for path in sorted(glob.glob("/usr/share/wordnet/data.*")):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  ") or " | " not in line:
                    continue
                gloss = line.split(" | ", 1)[1].strip()
                parts.append(gloss)
                size += len(gloss.encode()) + 1
                if size >= limit:
                    return parts
    return parts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mc", default="build/mc")
    ap.add_argument("--model", default="models/SmolLM2-135M-Instruct")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mb", type=float, default=4.0)
    a = ap.parse_args()
    glosses = wordnet_text(int(a.mb * 1e6))
    records, cur = [], []
    for g in glosses:
        cur.append(g)
        if sum(len(x) for x in cur) > 4000:
            records.append("\n".join(cur)); cur = []
    if cur:
        records.append("\n".join(cur))
    nbytes = sum(len(r.encode()) for r in records)
    tmp = tempfile.mkdtemp()
    big, one = os.path.join(tmp, "big.jsonl"), os.path.join(tmp, "one.jsonl")
    with open(big, "w") as f:
        for r in records:
            f.write(json.dumps({"text": r}) + "\n")
    with open(one, "w") as f:
        f.write(json.dumps({"text": "x"}) + "\n")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")

    def mc_time(path):
        t = time.perf_counter()
        out = subprocess.run([a.mc, "tokenize", "-m", a.model, "--count", path, "--json"], env=env,
                             check=True, capture_output=True, text=True).stdout
        return time.perf_counter() - t, json.loads(out)

    hf = tokenizers.Tokenizer.from_file(os.path.join(a.model, "tokenizer.json"))
    mc_s, hf_s, mc_tokens, hf_tokens = [], [], 0, 0
    for _ in range(a.runs):
        t_big, res = mc_time(big)
        t_one, _ = mc_time(one)
        mc_s.append(t_big - t_one)
        mc_tokens = res["tokens"] - res["records"]  # minus the eos appended per text record
        t = time.perf_counter()
        hf_tokens = sum(len(hf.encode(r, add_special_tokens=False).ids) for r in records)
        hf_s.append(time.perf_counter() - t)
    if mc_tokens != hf_tokens:
        sys.exit(f"token totals differ: mc {mc_tokens} vs HF {hf_tokens}")
    mc_m, hf_m = statistics.median(mc_s), statistics.median(hf_s)
    print(f"text: {nbytes/1e6:.2f} MB of WordNet glosses in {len(records)} records, {hf_tokens} tokens")
    print(f"mc          {nbytes/1e6/mc_m:7.2f} MB/s  (median {mc_m:.3f} s of {a.runs}, start-up subtracted)")
    print(f"tokenizers  {nbytes/1e6/hf_m:7.2f} MB/s  (median {hf_m:.3f} s of {a.runs}, {tokenizers.__version__})")
    print(f"ratio mc/HF {hf_m/mc_m:.2f}x")


if __name__ == "__main__":
    main()
