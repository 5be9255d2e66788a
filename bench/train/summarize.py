#!/usr/bin/env python3
"""Table for bench/train/run.sh: reads WORK/<config>_r<rep>_t<threads>.{json,time} (+ mc's <name>.out/metrics.jsonl).

Per configuration and thread count, over all repetitions:
  tokens/s      batch*seq / median of the pooled timed step times (PyTorch: the steps after its warm-up step;
                mc: the per-step rows of metrics.jsonl excluding step 1)
  step seconds  the timed steps, per repetition ('|' between repetitions)
  peak MiB      whole process: PyTorch ru_maxrss, mc VmHWM (max over repetitions)
  cpu%          (user+sys)/wall of the whole process from /usr/bin/time; < 100*threads = starved by other load
  tok/CPU-s     tokens of all K+1 steps (warm-up included) / CPU seconds spent in them: a load-robust figure.
                PyTorch: time.process_time around each step; mc: process CPU minus its non-training wall time
                (start-up, single-threaded; this slightly over-subtracts when start-up was starved)
The PyTorch reference for a thread count is its fastest non-checkpointed configuration; ratios are x / reference.
"""
import glob
import json
import os
import re
import statistics
import sys


def load_json(path):
    txt = open(path).read().strip()
    try:
        return json.loads(txt)
    except ValueError:
        return json.loads(txt.splitlines()[-1])


def read_time(path):
    try:
        u, s, e = map(float, open(path).read().split()[-3:])
        return u + s, e
    except (OSError, ValueError):
        return float("nan"), float("nan")


def main():
    work = sys.argv[1] if len(sys.argv) > 1 else "/tmp/mc_bench_train"
    groups = {}
    for p in sorted(glob.glob(os.path.join(work, "*_r[0-9]*_t[0-9]*.json"))):
        name = os.path.basename(p)[:-5]
        cfg, rep, th = re.fullmatch(r"(.*)_r(\d+)_t(\d+)", name).groups()
        try:
            d = load_json(p)
        except (ValueError, IndexError):
            print(f"# {name}: no result (see {name}.log)")
            continue
        cpu, wall = read_time(os.path.join(work, name + ".time"))
        r = {"cpu_pct": 100.0 * cpu / wall}
        if cfg.startswith("torch"):
            tok = d["batch"] * d["seq"]
            r.update(label=f"PyTorch+PEFT {d['attn']}" + (", grad ckpt" if d["gradient_checkpointing"] else "")
                     + (", bf16 autocast" if d.get("amp_bf16") else ""),
                     gc=d["gradient_checkpointing"], timed=d["step_seconds"], tok=tok, overall=None,
                     amp=bool(d.get("amp_bf16")))
            if "step_cpu_seconds_all" in d:
                r.update(cpu_tok=tok * len(d["step_cpu_seconds_all"]), cpu_s=sum(d["step_cpu_seconds_all"]))
        else:
            m = [json.loads(l) for l in open(os.path.join(work, name + ".out", "metrics.jsonl")) if l.strip()]
            m = [x for x in m if "tokens_per_second" in x]
            tok = m[0]["tokens"]
            gc = d["config"]["gradient_checkpointing"]
            dt = d["config"].get("dtype", "f32")
            r.update(label=f"mc {dt}, " + ("grad ckpt" if gc else "no grad ckpt"), gc=gc, tok=tok,
                     timed=[x["tokens"] / x["tokens_per_second"] for x in m if x["step"] > 1],
                     overall=d["tokens_per_second"],
                     cpu_tok=sum(x["tokens"] for x in m), cpu_s=cpu - (d["wall_seconds"] - d["training_seconds"]))
            r["peak"] = d["peak_rss_mib"]
        if cfg.startswith("torch"):
            r["peak"] = d["peak_rss_mib"]
        groups.setdefault((int(th), cfg), []).append(r)

    meta = os.path.join(work, "meta.txt")
    if os.path.exists(meta):
        print("".join("# " + l for l in open(meta)), end="")
    print()
    print("| threads | config | tokens/s (median step) | step seconds | peak MiB | cpu% | tok/CPU-s "
          "| tok/s vs ref | memory vs ref | tok/CPU-s vs ref |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for (th, cfg), rs in groups.items():
        steps = [t for r in rs for t in r["timed"]]
        cpu_ok = all("cpu_s" in r for r in rs)
        summary[(th, cfg)] = dict(
            label=rs[0]["label"], gc=rs[0]["gc"], torch=cfg.startswith("torch"), amp=rs[0].get("amp", False),
            tps=rs[0]["tok"] / statistics.median(steps),
            steps=" \\| ".join(", ".join(f"{t:.1f}" for t in r["timed"]) for r in rs),
            peak=max(r["peak"] for r in rs), cpu_pct=statistics.mean(r["cpu_pct"] for r in rs),
            tpc=sum(r["cpu_tok"] for r in rs) / sum(r["cpu_s"] for r in rs) if cpu_ok else float("nan"),
            overall=[r["overall"] for r in rs if r["overall"]], reps=len(rs))
    for th in sorted({k[0] for k in summary}):
        rows = {k[1]: v for k, v in summary.items() if k[0] == th}
        # the reference: the faster fp32 PyTorch run without checkpointing (bf16 autocast is shown beside it)
        refs = [v for v in rows.values() if v["torch"] and not v["gc"] and not v["amp"]]
        ref = max(refs, key=lambda v: v["tps"]) if refs else None
        for cfg in sorted(rows, key=lambda c: (not c.startswith("torch"), c)):
            v = rows[cfg]
            rat = lambda a, b: f"{a / b:.2f}×" if ref is not None and b == b and a == a else ""
            tps = f"{v['tps']:.1f}"
            if v["overall"]:
                tps += f" (all steps {statistics.median(v['overall']):.1f})"
            label = v["label"] + (" (ref)" if v is ref else "") + (f", {v['reps']} runs" if v["reps"] > 1 else "")
            print(f"| {th} | {label} "
                  f"| {tps} | {v['steps']} | {v['peak']:.0f} | {v['cpu_pct']:.0f} | {v['tpc']:.1f} "
                  f"| {rat(v['tps'], ref['tps']) if ref else ''} | {rat(v['peak'], ref['peak']) if ref else ''} "
                  f"| {rat(v['tpc'], ref['tpc']) if ref else ''} |")


if __name__ == "__main__":
    main()
