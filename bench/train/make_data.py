#!/usr/bin/env python3
"""Training-benchmark data: JSONL of {"text": ...} records, each >= MIN_TOKENS tokens under the model's tokenizer,
so that every example is exactly SEQ tokens after right truncation (issue #5: seq length 512).

Texts are consecutive WordNet chat records (data/wordnet/train.jsonl) with their message contents joined by newlines,
concatenated until the text is long enough.

  make_data.py [--src data/wordnet/train.jsonl] [--model models/SmolLM2-135M-Instruct] [--out OUT.jsonl]
               [--min-tokens 560] [--records N]
Prints one JSON line: {out, records, min_tokens_seen, max_tokens_seen}.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default=os.path.join(ROOT, "data/wordnet/train.jsonl"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models/SmolLM2-135M-Instruct"))
    ap.add_argument("--out", default="/tmp/mc_bench_train/train512.jsonl")
    # margin above 512 so that special tokens or a slightly different split still leave >= 512 tokens
    ap.add_argument("--min-tokens", type=int, default=560)
    ap.add_argument("--records", type=int, default=64, help="stop after this many records (0: use all of SRC)")
    a = ap.parse_args()

    if not os.path.exists(a.src):
        subprocess.check_call([sys.executable, os.path.join(ROOT, "scripts/make_wordnet_dataset.py"),
                               os.path.dirname(a.src)])
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(a.model)

    out, parts = [], []
    with open(a.src, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            parts.append("\n".join(m["content"] for m in rec["messages"]))
            text = "\n\n".join(parts)
            n = len(tok(text, add_special_tokens=True)["input_ids"])
            if n >= a.min_tokens:
                out.append((text, n))
                parts = []
                if a.records and len(out) >= a.records:
                    break
    if not out:
        sys.exit("make_data.py: source too small for one record")
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w", encoding="utf-8") as f:
        for text, _ in out:
            f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    print(json.dumps({"out": a.out, "records": len(out), "min_tokens_seen": min(n for _, n in out),
                      "max_tokens_seen": max(n for _, n in out)}))


if __name__ == "__main__":
    main()
