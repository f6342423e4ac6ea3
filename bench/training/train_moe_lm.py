#!/usr/bin/env python3
"""Trains a small byte-level MoE language model on the CPU, once per load
balancing method, with every router call going through moe_mlir.torch
(moe.route forward, moe.route_grad backward, moe.aux_loss and its gradient,
moe.update_bias, moe.imbalance), and reports, per method:

- the validation loss (nats per byte) and perplexity,
- MaxVio_global: per MoE layer, the loads summed over the whole validation
  set, (max - mean) / mean; averaged over the layers,
- MaxVio_batch: the same on each training batch; averaged over the layers,
  reported as the mean over all training steps and over the last 10%.

Methods (same seed, same initial weights, same batches):
  none          no balancing
  aux           auxiliary loss, alpha = 1e-3 (--aux-alpha), sequence-wise
  lossfree      auxiliary-loss-free: per-layer bias, sign rule, u = 1e-3
  lossfree_seq  loss-free plus the sequence-wise loss, alpha = 1e-4

Data: the C/C++ headers under /usr/lib/llvm-22/include and /usr/include
(nothing to download), whole files assigned to the training or the
validation split by a hash of their path.

Every step checks nothing by default; on the first and the last step of
each method the compiled router's gradient (what moe.route_grad and
moe.aux_loss_grad gave the logits of layer 0) is compared with PyTorch
autograd of the same math on the same logits, indices and upstream
gradient. --check (the short version run by the tests) also asserts that
the training loss falls, and exits non-zero otherwise.

Usage: train_moe_lm.py [--out DIR] [--steps N] [--short] [--methods ...]
Writes DIR/results.json, DIR/steps.csv, DIR/table.md and DIR/maxvio.png
(when matplotlib is available; otherwise the CSV is the figure's data).
"""

import argparse
import csv
import hashlib
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))
import moe_mlir.torch as mt  # noqa: E402

METHODS = ("none", "aux", "lossfree", "lossfree_seq")
LABELS = {"none": "no balancing", "aux": "auxiliary loss",
          "lossfree": "loss-free", "lossfree_seq": "loss-free + seq. loss"}
DATA_DIRS = ("/usr/lib/llvm-22/include", "/usr/include")
SUFFIXES = (".h", ".hpp", ".hh", ".hxx", ".def", ".inc")

#===----------------------------------------------------------------------===#
# Data
#===----------------------------------------------------------------------===#


def load_corpus(train_bytes, val_bytes, val_every=20):
    """(train, val) uint8 arrays: headers in an order fixed by a hash of their
    path, a file going to validation when that hash is 0 mod val_every,
    each split filled up to its size."""
    paths = []
    for top in DATA_DIRS:
        for root, _, files in os.walk(top):
            paths += [os.path.join(root, f) for f in files if f.endswith(SUFFIXES)]
    keyed = sorted((hashlib.sha1(p.encode()).hexdigest(), p) for p in set(paths))
    parts = {"train": [], "val": []}
    sizes = {"train": 0, "val": 0}
    limit = {"train": train_bytes, "val": val_bytes}
    digest = hashlib.sha1()
    for key, path in keyed:
        split = "val" if int(key[:8], 16) % val_every == 0 else "train"
        if sizes[split] >= limit[split]:
            if all(sizes[s] >= limit[s] for s in sizes):
                break
            continue
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        parts[split].append(data)
        sizes[split] += len(data)
        digest.update(path.encode())
    train = np.frombuffer(b"".join(parts["train"])[:train_bytes], dtype=np.uint8)
    val = np.frombuffer(b"".join(parts["val"])[:val_bytes], dtype=np.uint8)
    return train, val, digest.hexdigest()[:12]

#===----------------------------------------------------------------------===#
# Model
#===----------------------------------------------------------------------===#


class MoE(nn.Module):
    """Routed experts: a sigmoid router (moe_mlir.torch.route, top-k,
    weights renormalised over the chosen experts) and E two-layer GELU
    experts run on the tokens routed to them."""

    def __init__(self, d, hidden, experts, k, cfg):
        super().__init__()
        self.k, self.cfg = k, cfg
        self.router = nn.Linear(d, experts, bias=False)
        nn.init.normal_(self.router.weight, std=0.02)
        self.w1 = nn.Parameter(torch.randn(experts, d, hidden) * d ** -0.5)
        self.w2 = nn.Parameter(torch.randn(experts, hidden, d) * hidden ** -0.5
                               / math.sqrt(2 * cfg["layers"]))
        self.register_buffer("bias", torch.zeros(experts))
        self.counts = None
        self.aux = None
        self.capture = None

    def forward(self, x):
        t = x.shape[0]
        logits = self.router(x)
        bias = self.bias if self.cfg["lossfree"] else None
        weights, indices, counts = mt.route(logits, bias, self.k, score="sigmoid",
                                            normalize=True)
        self.counts = counts
        self.aux = None
        if self.cfg["alpha"] and self.training:
            self.aux = mt.aux_loss(logits, indices, score="sigmoid",
                                   seq_len=self.cfg["seq_len"], normalize=True)
        if self.capture is not None:
            logits.retain_grad()
            weights.retain_grad()
            self.capture.update(logits=logits, weights=weights, indices=indices,
                                bias=None if bias is None else bias.clone(), aux=self.aux)
        pairs = indices.flatten().long()
        order = torch.sort(pairs, stable=True).indices
        tokens = torch.arange(t).repeat_interleave(self.k)[order]
        chunks = x[tokens].split(counts.tolist())
        ys = torch.cat([F.gelu(c @ self.w1[e]) @ self.w2[e] for e, c in enumerate(chunks)])
        ys = ys * weights.flatten()[order].unsqueeze(1)
        return torch.zeros_like(x).index_add(0, tokens, ys)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, self.heads = cfg["d_model"], cfg["heads"]
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        nn.init.normal_(self.proj.weight, std=0.02 / math.sqrt(2 * cfg["layers"]))
        self.moe = MoE(d, cfg["expert_hidden"], cfg["experts"], cfg["top_k"], cfg)

    def forward(self, x, mask):
        b, s, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, s, 3, self.heads, d // self.heads).unbind(2)
        q, k, v = (a.transpose(1, 2) for a in (q, k, v))
        att = (q @ k.transpose(-1, -2)) * (d // self.heads) ** -0.5
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(b, s, d))
        return x + self.moe(self.ln2(x).reshape(b * s, d)).view(b, s, d)


class ByteLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed = nn.Embedding(256, cfg["d_model"])
        nn.init.normal_(self.embed.weight, std=0.02)
        self.pos = nn.Parameter(torch.zeros(cfg["seq_len"], cfg["d_model"]))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg["layers"]))
        self.ln = nn.LayerNorm(cfg["d_model"])
        s = cfg["seq_len"]
        self.register_buffer("mask", torch.ones(s, s, dtype=torch.bool).triu(1))

    def forward(self, idx):
        x = self.embed(idx) + self.pos[: idx.shape[1]]
        for block in self.blocks:
            x = block(x, self.mask[: idx.shape[1], : idx.shape[1]])
        return self.ln(x) @ self.embed.weight.t()

    def moes(self):
        return [b.moe for b in self.blocks]

#===----------------------------------------------------------------------===#
# The gradient check: moe_mlir's router backward against PyTorch autograd
#===----------------------------------------------------------------------===#


def reference_router_grad(cap, k, alpha, seq_len):
    """PyTorch autograd of route (sigmoid, biased top-k, normalize) and of
    alpha * the sequence-wise loss, on the captured logits, with the
    captured upstream gradient of the weights. Returns (indices agree,
    reference dx, reference aux loss or None)."""
    x = cap["logits"].detach().clone().requires_grad_(True)
    s = torch.sigmoid(x)
    key = s.detach() + (cap["bias"] if cap["bias"] is not None else 0)
    same = torch.equal(key.topk(k, -1).indices, cap["indices"].long())
    w = s.gather(1, cap["indices"].long())
    loss = (w / w.sum(-1, keepdim=True) * cap["weights"].grad).sum()
    aux = None
    if alpha:
        t, e = s.shape
        p = s / s.sum(-1, keepdim=True)
        terms = []
        for start in range(0, t, seq_len):
            rows = slice(start, min(start + seq_len, t))
            f = e * torch.bincount(cap["indices"][rows].flatten().long(),
                                   minlength=e).float() / (k * (rows.stop - rows.start))
            terms.append((f * p[rows].mean(0)).sum())
        aux = torch.stack(terms).mean()
        loss = loss + alpha * aux
    loss.backward()
    return same, x.grad, aux


def check_router_grad(model, cfg):
    cap = model.moes()[0].capture
    same, expected, aux = reference_router_grad(cap, cfg["top_k"], cfg["alpha"],
                                                cfg["seq_len"])
    got = cap["logits"].grad
    scale = float(expected.abs().max()) or 1.0
    err = float((got - expected).abs().max()) / scale
    ok = same and err < 1e-4
    if aux is not None:
        ok = ok and abs(float(cap["aux"]) - float(aux)) <= 1e-5 * abs(float(aux)) + 1e-7
    return {"indices_equal": bool(same), "max_rel_err": err, "ok": bool(ok)}

#===----------------------------------------------------------------------===#
# Training and evaluation
#===----------------------------------------------------------------------===#


def batches(data, n, batch, seq_len, seed):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        starts = rng.integers(0, len(data) - seq_len - 1, size=batch)
        rows = np.stack([data[s: s + seq_len + 1] for s in starts]).astype(np.int64)
        yield torch.from_numpy(rows)


def max_vio(model):
    return float(np.mean([mt.imbalance(m.counts) for m in model.moes()]))


@torch.no_grad()
def evaluate(model, val, cfg):
    model.eval()
    s, b = cfg["seq_len"], cfg["batch"]
    rows = (len(val) - 1) // s
    n_batches = min(cfg["eval_batches"], rows // b)
    total, count = 0.0, 0
    loads = [torch.zeros(cfg["experts"], dtype=torch.int64) for _ in model.moes()]
    batch_vio = []
    for i in range(n_batches):
        chunk = np.stack([val[(i * b + r) * s: (i * b + r) * s + s + 1]
                          for r in range(b)]).astype(np.int64)
        data = torch.from_numpy(chunk)
        logits = model(data[:, :-1])
        total += float(F.cross_entropy(logits.reshape(-1, 256), data[:, 1:].reshape(-1),
                                       reduction="sum"))
        count += data[:, 1:].numel()
        for load, m in zip(loads, model.moes()):
            load += m.counts
        batch_vio.append(max_vio(model))
    model.train()
    loss = total / count
    return {"val_loss": loss, "val_ppl": math.exp(loss), "val_bpb": loss / math.log(2),
            "maxvio_global": float(np.mean([mt.imbalance(l) for l in loads])),
            "maxvio_batch_val": float(np.mean(batch_vio)), "val_tokens": count}


def run(method, cfg, train, val, log):
    torch.manual_seed(cfg["seed"])
    cfg = dict(cfg, lossfree=method.startswith("lossfree"),
               alpha={"aux": cfg["aux_alpha"], "lossfree_seq": cfg["seq_alpha"]}.get(method, 0.0))
    model = ByteLM(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], betas=(0.9, 0.95),
                            weight_decay=0.1)
    steps, warmup = cfg["steps"], max(1, cfg["steps"] // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: min(1.0, (i + 1) / warmup) * (
        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, i / steps)))))
    history, checks = [], []
    start, cpu_start = time.perf_counter(), time.process_time()
    for step, data in enumerate(batches(train, steps, cfg["batch"], cfg["seq_len"],
                                        cfg["seed"])):
        check = step in (0, steps - 1)
        model.moes()[0].capture = {} if check else None
        logits = model(data[:, :-1])
        ce = F.cross_entropy(logits.reshape(-1, 256), data[:, 1:].reshape(-1))
        loss = ce
        if cfg["alpha"]:
            loss = loss + cfg["alpha"] * sum(m.aux for m in model.moes())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if check:
            checks.append(dict(check_router_grad(model, cfg), step=step))
            model.moes()[0].capture = None
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        vio = max_vio(model)
        if cfg["lossfree"]:
            for m in model.moes():
                m.bias = mt.update_bias(m.bias, m.counts, cfg["bias_rate"], rule="sign")
        history.append((step, float(ce), vio))
        if step % cfg["log_every"] == 0 or step == steps - 1:
            log(f"  {method:>12} step {step:5d}  loss {float(ce):.4f}  MaxVio_batch {vio:.3f}"
                f"  {(time.perf_counter() - start) / (step + 1):.3f} s/step")
    train_s = time.perf_counter() - start
    cpu_s = time.process_time() - cpu_start
    result = evaluate(model, val, cfg)
    vios = [h[2] for h in history]
    tail = vios[-max(1, len(vios) // 10):]
    result.update(method=method, train_seconds=train_s, s_per_step=train_s / steps,
                  cpu_s_per_step=cpu_s / steps,
                  maxvio_batch=float(np.mean(vios)), maxvio_batch_last10=float(np.mean(tail)),
                  first_loss=float(np.mean([h[1] for h in history[:5]])),
                  last_loss=float(np.mean([h[1] for h in history[-5:]])),
                  grad_checks=checks)
    return result, history

#===----------------------------------------------------------------------===#
# Reports
#===----------------------------------------------------------------------===#


def write_reports(out, cfg, results, histories, log):
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"config": cfg, "results": results}, f, indent=2)
    with open(os.path.join(out, "steps.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "step", "train_loss", "maxvio_batch"])
        for method, hist in histories.items():
            w.writerows((method, s, f"{l:.5f}", f"{v:.5f}") for s, l, v in hist)
    lines = ["| method | val loss (nats/byte) | perplexity | MaxVio_global | "
             "MaxVio_batch (all steps) | MaxVio_batch (last 10%) |",
             "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {LABELS[r['method']]} | {r['val_loss']:.4f} | {r['val_ppl']:.3f} | "
                     f"{r['maxvio_global']:.3f} | {r['maxvio_batch']:.3f} | "
                     f"{r['maxvio_batch_last10']:.3f} |")
    table = "\n".join(lines)
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write(table + "\n")
    log(table)
    plot_maxvio(out, cfg, {m: [h[2] for h in hist] for m, hist in histories.items()},
                log)


def plot_maxvio(out, cfg, vios, log):
    """Writes out/maxvio.png: MaxVio_batch per step of each method (a moving
    average), from `vios` = {method: [MaxVio_batch of each step]}."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log(f"matplotlib is not available: no figure; {out}/steps.csv holds its data")
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    for method, v in vios.items():
        v = np.array(v)
        w = max(1, len(v) // 50)
        smooth = np.convolve(v, np.ones(w) / w, mode="valid")
        ax.plot(np.arange(len(smooth)) + w - 1, smooth, label=LABELS[method])
    ax.set_xlabel("training step")
    ax.set_ylabel(f"MaxVio_batch (mean over layers, moving average of {w})")
    ax.set_yscale("log")
    ax.set_title(f"{cfg['layers']} layers, {cfg['experts']} experts, top-{cfg['top_k']}, "
                 "sigmoid gate")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "maxvio.png"), dpi=110)
    log(f"figure: {out}/maxvio.png")


def plot_finished_run(out, log):
    """The figure of a finished run, from its results.json and steps.csv."""
    with open(os.path.join(out, "results.json")) as f:
        cfg = json.load(f)["config"]
    vios = {}
    with open(os.path.join(out, "steps.csv"), newline="") as f:
        for row in csv.DictReader(f):
            vios.setdefault(row["method"], []).append(float(row["maxvio_batch"]))
    plot_maxvio(out, cfg, vios, log)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=os.path.join(ROOT, "build", "train_moe_lm"))
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--experts", type=int, default=16)
    p.add_argument("--top-k", type=int, default=4)
    p.add_argument("--expert-hidden", type=int, default=64)
    p.add_argument("--seq-len", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--aux-alpha", type=float, default=1e-3)
    p.add_argument("--seq-alpha", type=float, default=1e-4)
    p.add_argument("--bias-rate", type=float, default=1e-3)
    p.add_argument("--eval-batches", type=int, default=64)
    p.add_argument("--train-mb", type=float, default=8.0)
    p.add_argument("--val-mb", type=float, default=0.5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--short", action="store_true",
                   help="a few steps of a tiny model (the test suite's version)")
    p.add_argument("--check", action="store_true",
                   help="exit non-zero unless the loss falls and the gradients agree")
    p.add_argument("--plot-only", action="store_true",
                   help="only draw the figure of the finished run in --out")
    args = p.parse_args()
    if args.plot_only:
        plot_finished_run(args.out, lambda message: print(message, flush=True))
        return 0
    if args.short:
        args.steps, args.layers, args.d_model, args.heads = 16, 2, 32, 2
        args.experts, args.top_k, args.expert_hidden = 16, 2, 32
        args.seq_len, args.batch, args.eval_batches, args.lr = 32, 8, 2, 1e-2
        args.train_mb, args.val_mb, args.log_every = 0.25, 0.02, 5
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    cfg = {k: v for k, v in vars(args).items()
           if k not in ("out", "methods", "short", "check")}

    def log(msg):
        print(msg, flush=True)

    t0 = time.perf_counter()
    train, val, digest = load_corpus(int(args.train_mb * 2 ** 20), int(args.val_mb * 2 ** 20))
    cfg.update(train_bytes=len(train), val_bytes=len(val), data_digest=digest)
    log(f"data: {len(train)} training and {len(val)} validation bytes of headers "
        f"(files {digest}), {time.perf_counter() - t0:.1f} s")
    results, histories = [], {}
    for method in args.methods:
        result, history = run(method, cfg, train, val, log)
        results.append(result)
        histories[method] = history
        log(f"{method}: val loss {result['val_loss']:.4f} (ppl {result['val_ppl']:.3f}), "
            f"MaxVio_global {result['maxvio_global']:.3f}, MaxVio_batch "
            f"{result['maxvio_batch']:.3f}, {result['s_per_step']:.3f} s/step "
            f"({result['cpu_s_per_step']:.3f} CPU s/step); "
            f"router gradient checks: "
            + ", ".join(f"step {c['step']} rel err {c['max_rel_err']:.1e} "
                        f"{'ok' if c['ok'] else 'MISMATCH'}" for c in result["grad_checks"]))
    write_reports(args.out, cfg, results, histories, log)
    log(f"total {time.perf_counter() - t0:.0f} s")
    if args.check:
        failures = [f"{r['method']}: router gradient differs from PyTorch"
                    for r in results if not all(c["ok"] for c in r["grad_checks"])]
        failures += [f"{r['method']}: loss did not fall ({r['first_loss']:.3f} -> "
                     f"{r['last_loss']:.3f})"
                     for r in results if not r["last_loss"] < r["first_loss"] - 0.1]
        for f in failures:
            print("FAIL: " + f, file=sys.stderr)
        if failures:
            sys.exit(1)
        log("CHECKS PASSED: loss falls and the compiled router gradient equals PyTorch's")


if __name__ == "__main__":
    main()
