#!/usr/bin/env python3
"""PyTorch reference for `nas bench child`: the same child (same repair rules, padding and layers
as crates/child), trained with the same SGD step on random data. Prints one JSON line per
measurement. Installs torch with pip when it is missing (unless --no-install)."""
import argparse, importlib, json, subprocess, sys, time


def ensure_torch(install):
    try:
        return importlib.import_module("torch")
    except ImportError:
        if not install:
            raise
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "torch"])
        return importlib.import_module("torch")


def parse(arch):
    layers = []
    for part in arch.split(";"):
        inputs = []
        if "<" in part:
            part, ins = part.split("<")
            inputs = [int(x) for x in ins.split(",")]
        pieces = part.split("-")
        kernel, filters = pieces[0], int(pieces[1])
        pool = len(pieces) > 2 and pieces[2] == "mp"
        k, st = kernel.split("s") if "s" in kernel else (kernel, "1x1")
        kh, kw = map(int, k.split("x"))
        sh, sw = map(int, st.split("x"))
        layers.append(dict(k=(kh, kw), s=(sh, sw), f=filters, pool=pool, inputs=inputs))
    return layers


def build(torch, layers, c, h, w, classes):
    """The child as `nas` compiles it: the builder of examples/pytorch-trainer (one copy; `nas
    bench child` writes it beside this script, a run from the repository finds it there)."""
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:0] = [here, os.path.join(here, "..", "examples", "pytorch-trainer")]
    from train import Child
    return Child(layers, c, h, w, classes)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", action="append", required=True)
    ap.add_argument("--batch", type=int, action="append", required=True)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--input", default="1x28x28")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--no-install", action="store_true")
    a = ap.parse_args()
    torch = ensure_torch(not a.no_install)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    c, h, w = map(int, a.input.split("x"))
    n = 1024
    x, y = torch.rand(n, n), torch.rand(n, n)
    best = min((lambda t0: (torch.mm(x, y), time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(5))
    print(json.dumps({"sgemm_gflops": 2 * n ** 3 / best / 1e9, "torch": torch.__version__, "threads": a.threads}))
    for arch in a.arch:
        model = build(torch, parse(arch), c, h, w, a.classes)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)
        for batch in a.batch:
            xb = torch.randn(batch, c, h, w)
            yb = torch.arange(batch) % a.classes
            for s in range(a.steps + 2):
                if s == 2:
                    t0 = time.perf_counter()
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(xb), yb)
                loss.backward()
                opt.step()
                loss.item()
            secs = time.perf_counter() - t0
            print(json.dumps({"arch": arch, "batch": batch, "images_per_second": a.steps * batch / secs,
                              "params": sum(p.numel() for p in model.parameters())}))


if __name__ == "__main__":
    main()
