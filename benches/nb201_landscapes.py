#!/usr/bin/env python3
"""Other accuracy landscapes over the NAS-Bench-201 cells, to check that strategy defaults hold
beyond the one shipped table (docs/RESULTS.md, "Strategies").

    python3 benches/nb201_landscapes.py ../shared/data/nasbench201/nb201_cifar10.csv OUT.csv

OUT.csv has the `arch` column and, per cell:
  accuracy   the table's CIFAR-10 accuracy (percent)
  rank       its rank among all cells, scaled to [0, 1] (only the order is left)
  noisy      accuracy + Gaussian noise of std 0.5 (seed 1): a noisy evaluation
  cube       (accuracy / 100)^3 (a reward transform; the paper cubes its PTB reward)
  synth1/2   synthetic landscapes (seeds 1 and 2): per-edge op effects plus pairwise
             interactions, and cells whose input never reaches the output ("none" cuts) score
             as in the table (10 %), so the structure differs but the dead cells stay dead
Standard library only.
"""
import csv
import random
import sys

EDGES = 6  # NASLib order 1<-0, 2<-0, 3<-0, 2<-1, 3<-1, 3<-2


def synth(archs, table, seed):
    rng = random.Random(seed)
    unary = [[rng.gauss(0, 1) for _ in range(5)] for _ in range(EDGES)]
    pair = {(i, j): [[rng.gauss(0, 0.5) for _ in range(5)] for _ in range(5)]
            for i in range(EDGES) for j in range(i + 1, EDGES)}
    out = {}
    for a in archs:
        ops = [int(x) for x in a.split("-")]
        if table[a] < 11.0:  # disconnected in the real table: keep it dead
            out[a] = table[a]
            continue
        s = sum(unary[e][o] for e, o in enumerate(ops))
        s += sum(pair[(i, j)][ops[i]][ops[j]] for (i, j) in pair)
        out[a] = s
    live = [v for a, v in out.items() if table[a] >= 11.0]
    lo, hi = min(live), max(live)
    # Live cells map onto 60..95, like the table's live range.
    return {a: (table[a] if table[a] < 11.0 else 60.0 + 35.0 * (v - lo) / (hi - lo)) for a, v in out.items()}


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src) as f:
        rows = list(csv.DictReader(f))
    archs = [r["arch"] for r in rows]
    acc = {r["arch"]: float(r["accuracy"]) for r in rows}
    order = sorted(archs, key=lambda a: acc[a])
    rank = {a: i / (len(order) - 1) for i, a in enumerate(order)}
    noise = random.Random(1)
    noisy = {a: acc[a] + noise.gauss(0, 0.5) for a in archs}
    s1, s2 = synth(archs, acc, 1), synth(archs, acc, 2)
    with open(dst, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", "accuracy", "rank", "noisy", "cube", "synth1", "synth2"])
        for a in archs:
            w.writerow([a, f"{acc[a]:.4f}", f"{rank[a]:.6f}", f"{noisy[a]:.4f}",
                        f"{(acc[a] / 100) ** 3:.6f}", f"{s1[a]:.4f}", f"{s2[a]:.4f}"])
    for name, d in [("accuracy", acc), ("rank", rank), ("noisy", noisy), ("synth1", s1), ("synth2", s2)]:
        print(f"{name}: max {max(d.values()):.4f}")


if __name__ == "__main__":
    main()
