#!/usr/bin/env python3
"""Strategy settings across several reward landscapes over the NAS-Bench-201 cells.

    python3 benches/nb201_landscapes.py ../shared/data/nasbench201/nb201_cifar10.csv /tmp/land.csv
    python3 benches/strategy_sweep.py --table /tmp/land.csv --seeds 20 --at 100,200,500 \
        evolution random reinforce reinforce:paper "ppo-lr0.002=reinforce@controller.learning_rate=0.002"

Each contender is STRATEGY (as `nas compare --strategies` takes it), or LABEL=STRATEGY@KEY=VALUE,…
with TOML keys set in a config file for that run. For every landscape column of the table it
runs `nas compare` (default settings otherwise, paired seeds) and prints the mean best reward
at each budget as a *top fraction*: the share of all 15,625 cells that score better than it
(0 = the optimum), so landscapes of different scales can be averaged. Standard library only.
"""
import argparse
import bisect
import csv
import os
import subprocess
import sys
import tempfile


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nas", default="target/release/nas")
    p.add_argument("--table", required=True)
    p.add_argument("--columns", default="accuracy,rank,noisy,cube,synth1,synth2")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--at", default="100,200,500")
    p.add_argument("contenders", nargs="+")
    a = p.parse_args()
    with open(a.table) as f:
        rows = list(csv.DictReader(f))
    columns = a.columns.split(",")
    sorted_cols = {c: sorted(float(r[c]) for r in rows) for c in columns}
    budgets = [int(x) for x in a.at.split(",")]
    tmp = tempfile.mkdtemp()
    results = {}
    for contender in a.contenders:
        label, spec = contender.split("=", 1) if "=" in contender.split("@")[0] else (contender, contender)
        strategy, _, keys = spec.partition("@")
        cfg = os.path.join(tmp, label.replace(":", "_") + ".toml")
        sections = {}
        for kv in filter(None, keys.split(",")):
            k, v = kv.split("=", 1)
            sec, _, key = k.rpartition(".")
            sections.setdefault(sec, []).append(f"{key} = {v}")
        with open(cfg, "w") as f:
            for line in sections.pop("", []):
                f.write(line + "\n")
            for sec, lines in sections.items():
                f.write(f"[{sec}]\n" + "\n".join(lines) + "\n")
        for col in columns:
            out = os.path.join(tmp, f"{label}-{col}".replace(":", "_"))
            cmd = [a.nas, "compare", "--space", "nb201", "--evaluator", f"table:{a.table}:{col}",
                   "--config", cfg, "--seeds", str(a.seeds), "--at", a.at, "--strategies", strategy,
                   "--out", out]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with open(os.path.join(out, "compare-budgets.csv")) as f:
                for r in csv.DictReader(f):
                    v = float(r["best_mean"])
                    s = sorted_cols[col]
                    frac = (len(s) - bisect.bisect_left(s, v + 1e-9)) / len(s)
                    results[(label, col, int(r["samples"]))] = (v, frac)
        print(f"  {label} done", file=sys.stderr)
    labels = [c.split("=", 1)[0] if "=" in c.split("@")[0] else c for c in a.contenders]
    print(f"top fraction of the mean best (0 = optimum), {a.seeds} seeds; per landscape, then the mean")
    head = f"{'contender':<24} {'n':>5} " + " ".join(f"{c:>9}" for c in columns) + f" {'mean':>9}"
    print(head)
    for label in labels:
        for n in budgets:
            fr = [results[(label, c, n)][1] for c in columns]
            print(f"{label:<24} {n:>5} " + " ".join(f"{x:>9.5f}" for x in fr) + f" {sum(fr) / len(fr):>9.5f}")
    print("\nmean best on the accuracy column")
    for label in labels:
        print(f"{label:<24} " + " ".join(f"{n}: {results[(label, 'accuracy', n)][0]:.4f}" for n in budgets if (label, 'accuracy', n) in results))


if __name__ == "__main__":
    main()
