#!/usr/bin/env python3
"""PyTorch reference for `nas bench cell`: an LSTM language model of the same size as ours
(embedding → one nn.LSTM layer → linear decoder), trained with plain SGD on random tokens.
Prints one JSON line per hidden size. Installs torch with pip when it is missing."""
import argparse, importlib, json, subprocess, sys, time


def ensure_torch():
    try:
        return importlib.import_module("torch")
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "torch"])
        return importlib.import_module("torch")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--vocab", type=int, default=10000)
    p.add_argument("--hidden", type=int, action="append", required=True)
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--bptt", type=int, default=35)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch = ensure_torch()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    nn = torch.nn
    for h in a.hidden:
        emb, lstm, dec = nn.Embedding(a.vocab, h), nn.LSTM(h, h, batch_first=True), nn.Linear(h, a.vocab)
        params = list(emb.parameters()) + list(lstm.parameters()) + list(dec.parameters())
        opt = torch.optim.SGD(params, lr=0.1)
        x = torch.randint(0, a.vocab, (a.batch, a.bptt))
        y = torch.randint(0, a.vocab, (a.batch * a.bptt,))
        for s in range(a.steps + 2):
            if s == 2:
                t0 = time.perf_counter()
            out, _ = lstm(emb(x))
            loss = nn.functional.cross_entropy(dec(out.reshape(-1, h)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        dt = time.perf_counter() - t0
        print(json.dumps({"hidden": h, "tokens_per_second": a.steps * a.batch * a.bptt / dt,
                          "torch": torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
