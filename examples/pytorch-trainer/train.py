#!/usr/bin/env python3
"""A `nas` trial command in PyTorch: `nas search --evaluator "command:python3 train.py"`.

Reads the architecture `nas` wrote ($NAS_ARCH), builds the same CNN `nas` would (conv → BN → ReLU
per layer, "same" padding, the paper's repair rules: no input ⇒ the image, mismatched sizes ⇒
zero-padded, dangling outputs ⇒ concatenated into a global-average-pool + linear head), trains it
on your data and reports by the protocol: one JSON object a line on stdout, `{"epoch": …}` after
every epoch, `{"reward": …}` at the end. Replace `load_data` with your own dataset.

Environment: NAS_ARCH, NAS_TRIAL_DIR, NAS_SEED, NAS_THREADS (see the README, "Bring your own
trainer"). Options: --epochs N, --batch B, --lr X.
"""
import argparse, json, os, sys

import torch
import torch.nn as nn
import torch.nn.functional as F


def layers_of(arch):
    """The layers of a `nas` CNN architecture JSON (stride and pooling fields may be absent)."""
    if arch.get("space") != "cnn":
        sys.exit(f"this trainer builds CNNs; the architecture is of space {arch.get('space')!r}")
    return [dict(k=(l["filter_h"], l["filter_w"]), s=(l.get("stride_h", 1), l.get("stride_w", 1)),
                 f=l["filters"], pool=l.get("pool") == "max", inputs=l.get("inputs", []))
            for l in arch["layers"]]


def pad_to(x, size):
    dh, dw = size[0] - x.shape[2], size[1] - x.shape[3]
    return x if dh == 0 and dw == 0 else F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))


class Child(nn.Module):
    """The CNN of `layers` on c×h×w images, as crates/child compiles it."""

    def __init__(self, layers, c, h, w, classes):
        super().__init__()
        self.plan, shapes, blocks, feeds = [], [], [], [False] * len(layers)
        for l in layers:
            srcs = l["inputs"] or [-1]
            for j in l["inputs"]:
                feeds[j] = True
            sh = [(c, (h, w)) if j < 0 else shapes[j] for j in srcs]
            size = (max(s[1][0] for s in sh), max(s[1][1] for s in sh))
            (kh, kw), (sy, sx) = l["k"], l["s"]
            pad = ((kw - 1) // 2, kw - 1 - (kw - 1) // 2, (kh - 1) // 2, kh - 1 - (kh - 1) // 2)
            conv = ((size[0] - 1) // sy + 1, (size[1] - 1) // sx + 1)
            pool = l["pool"] and conv[0] >= 2 and conv[1] >= 2
            blocks.append(nn.Sequential(nn.Conv2d(sum(s[0] for s in sh), l["f"], (kh, kw), (sy, sx), bias=False),
                                        nn.BatchNorm2d(l["f"]), nn.ReLU()))
            self.plan.append((srcs, size, pad, pool))
            shapes.append((l["f"], (conv[0] // 2, conv[1] // 2) if pool else conv))
        self.blocks = nn.ModuleList(blocks)
        self.sinks = [i for i in range(len(layers)) if not feeds[i]]
        self.head = (max(shapes[i][1][0] for i in self.sinks), max(shapes[i][1][1] for i in self.sinks))
        self.fc = nn.Linear(sum(shapes[i][0] for i in self.sinks), classes)

    def forward(self, x):
        outs = []
        for (srcs, size, pad, pool), block in zip(self.plan, self.blocks):
            y = block(F.pad(torch.cat([pad_to(x if j < 0 else outs[j], size) for j in srcs], 1), pad))
            outs.append(F.max_pool2d(y, 2) if pool else y)
        z = torch.cat([pad_to(outs[i], self.head) for i in self.sinks], 1)
        return self.fc(F.adaptive_avg_pool2d(z, 1).flatten(1))


def load_data(seed):
    """Your data goes here: (train images N×C×H×W float, train labels N, validation …, classes).
    This stand-in is a seeded synthetic task (the class is the brightest quadrant)."""
    g = torch.Generator().manual_seed(seed)
    def make(n):
        x = torch.rand(n, 1, 28, 28, generator=g) * 0.5
        y = torch.randint(0, 4, (n,), generator=g)
        for i, q in enumerate(y.tolist()):
            r, c = divmod(q, 2)
            x[i, :, r * 14:(r + 1) * 14, c * 14:(c + 1) * 14] += 0.5
        return x, y
    return (*make(2000), *make(500), 4)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    a = p.parse_args()
    torch.set_num_threads(int(os.environ.get("NAS_THREADS", "1")))
    seed = int(os.environ.get("NAS_SEED", "0"))
    torch.manual_seed(seed)
    with open(os.environ["NAS_ARCH"]) as f:
        layers = layers_of(json.load(f))
    xt, yt, xv, yv, classes = load_data(seed)
    model = Child(layers, xt.shape[1], xt.shape[2], xt.shape[3], classes)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, nesterov=True, weight_decay=1e-4)
    best = 0.0
    for epoch in range(1, a.epochs + 1):
        model.train()
        perm, total = torch.randperm(len(xt)), 0.0
        for i in range(0, len(xt), a.batch):
            idx = perm[i:i + a.batch]
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        if not torch.isfinite(loss):
            sys.exit("diverged")  # exit status ≠ 0: a failed trial with this reason
        model.eval()
        with torch.no_grad():
            acc = (model(xv).argmax(1) == yv).float().mean().item()
        best = max(best, acc)
        print(json.dumps({"epoch": epoch, "train_loss": total / len(xt), "val_accuracy": acc}), flush=True)
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"reward": best, "val_accuracy": best, "params": params}), flush=True)


if __name__ == "__main__":
    main()
