#!/usr/bin/env python3
"""Builds mc's default instruction dataset from WordNet 3.0 (Debian package wordnet-base).

Each synset with at least one usage example becomes a chat record:
  user:      What does "<word>" mean?            (one lemma of the synset, as a <part of speech>)
  assistant: <gloss definition>. For example: "<usage example>"
Records are shuffled with a fixed seed and split into train and held-out files (JSONL, {"messages"}).
Standard library only, deterministic: the same WordNet files give byte-identical outputs.

usage: scripts/make_wordnet_dataset.py OUT_DIR [--max N] [--held-out-fraction F] [--seed S]
"""
import argparse
import json
import os
import random
import sys

WORDNET = "/usr/share/wordnet"
POS = {"noun": "noun", "verb": "verb", "adj": "adjective", "adv": "adverb"}


def synsets(path):
    """Yields (lemmas, definition, examples) from a WordNet data.<pos> file."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("  "):  # licence header
                continue
            head, sep, gloss = line.partition(" | ")
            if not sep:
                continue
            fields = head.split()
            n_words = int(fields[3], 16)
            lemmas = [fields[4 + 2 * i].replace("_", " ") for i in range(n_words)]
            lemmas = [w.split("(")[0] for w in lemmas]  # drop adjective markers like "(a)"
            parts = [p.strip() for p in gloss.strip().split(";")]
            definition = parts[0]
            examples = [p.strip('"') for p in parts[1:] if p.startswith('"') and p.endswith('"') and len(p) > 2]
            yield lemmas, definition, examples


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--max", type=int, default=2000, help="records in total (default 2000)")
    ap.add_argument("--held-out-fraction", type=float, default=0.1, help="share kept for evaluation (default 0.1)")
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    if not os.path.isdir(WORDNET):
        sys.exit(f"make_wordnet_dataset: {WORDNET} not found (install the Debian package wordnet-base)")

    records = []
    for pos, name in POS.items():
        for lemmas, definition, examples in synsets(os.path.join(WORDNET, f"data.{pos}")):
            if not examples or not definition:
                continue
            word = lemmas[0]
            answer = f"{definition[0].upper()}{definition[1:]}. For example: \"{examples[0]}\""
            records.append({"messages": [
                {"role": "user", "content": f"What does \"{word}\" mean as {'an' if name[0] in 'aeiou' else 'a'} {name}?"},
                {"role": "assistant", "content": answer},
            ]})
    rng = random.Random(args.seed)
    rng.shuffle(records)
    records = records[: args.max]
    n_eval = max(1, round(len(records) * args.held_out_fraction))
    os.makedirs(args.out_dir, exist_ok=True)
    for name, part in (("train.jsonl", records[n_eval:]), ("held_out.jsonl", records[:n_eval])):
        tmp = os.path.join(args.out_dir, f".{name}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for r in part:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        os.replace(tmp, os.path.join(args.out_dir, name))
    print(f"make_wordnet_dataset: {len(records) - n_eval} train + {n_eval} held-out records in {args.out_dir}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
