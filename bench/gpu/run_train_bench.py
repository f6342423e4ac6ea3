#!/usr/bin/env python3
"""GPU benchmark of the router's training step: the compiled backward
(bench/gpu/train_step.mlir) against PyTorch eager autograd of the same
computation, on the same data and the same device. Run on the GPU machine
from the bundle made by scripts/gpu-bundle:
    python3 bench/run_train_bench.py [--iters N] [--quick]

DeepSeek-V3 shape (E = 256, K = 8, 8 groups keep 4 for the indices):
d loss / d logits of sum(w * dw) + alpha * balance loss, with w the
renormalised sigmoid weights (scale 2.5) of the chosen experts and the
sequence-wise balance loss (sequences of 4096, normalised scores, alpha =
1e-4). The compiled step is moe.route_aux_grad (a counting kernel and one
warp-per-token kernel); the routing gradient alone is moe.route_grad.
PyTorch is timed twice, each call synchronised like the compiled one: its
backward alone (the forward graph built once and kept) and forward +
backward, the work the compiled step does since it recomputes the scores
from the logits. It first checks that dx agrees, and fails otherwise.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
E, K, SCALE, SEQ_LEN, ALPHA = 256, 8, 2.5, 4096, 1e-4
CONFIGS = {"dsv3_f32": torch.float32, "dsv3_bf16": torch.bfloat16}
TOKENS = [4096, 16384, 65536]


def route_loss(x, idx, dw):
    """sum(w * dw) for the renormalised, scaled sigmoid weights."""
    s = torch.sigmoid(x)
    w = s.gather(1, idx)
    w = w / w.sum(-1, keepdim=True) * SCALE
    return (w * dw).sum()


def balance_loss(x, idx):
    """DeepSeek-V3's sequence-wise balance loss, normalised scores."""
    s = torch.sigmoid(x)
    p = s / s.sum(-1, keepdim=True)
    T = x.shape[0]
    total = 0.0
    bounds = [(b, min(b + SEQ_LEN, T)) for b in range(0, T, SEQ_LEN)]
    for first, end in bounds:
        rows = end - first
        c = torch.bincount(idx[first:end].reshape(-1), minlength=E).float()
        f = E * c / (K * rows)
        total = total + (f * p[first:end].mean(0)).sum()
    return total / len(bounds)


def step_loss(x, idx, dw):
    return route_loss(x, idx, dw) + ALPHA * balance_loss(x, idx)


def time_call(fn, iters):
    """Microseconds per call, each call synchronised (as the compiled one)."""
    for _ in range(10):
        fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        fn()
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / iters * 1e6


def agree(ours, theirs):
    scale = float(np.max(np.abs(theirs))) or 1.0
    return np.allclose(ours, theirs, rtol=1e-3, atol=1e-5 * scale)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="T = 4096 only")
    args = parser.parse_args()
    print(f"device: {torch.cuda.get_device_name()}")
    print(f"{'config':10s} {'T':>6s} {'step':>12s} {'moe us':>9s} {'bwd us':>9s} "
          f"{'fwd+bwd us':>10s} {'x bwd':>7s} {'x fwd+bwd':>9s}")
    failures = 0
    for name, dtype in CONFIGS.items():
        for tokens in [4096] if args.quick else TOKENS:
            with tempfile.TemporaryDirectory() as tmp:
                out = subprocess.run(
                    [os.path.join(HERE, "..", "bin", "train_bench"), name,
                     str(tokens), str(args.iters), tmp],
                    capture_output=True, text=True, check=True).stdout.split()
                step_us, route_us = float(out[2]), float(out[3])
                raw = np.fromfile(os.path.join(tmp, "logits.bin"),
                                  dtype=np.uint16 if dtype == torch.bfloat16 else np.float32)
                if dtype == torch.bfloat16:
                    x = torch.from_numpy(raw.astype(np.int16)).view(torch.bfloat16)
                else:
                    x = torch.from_numpy(raw)
                x = x.reshape(tokens, E).cuda()
                idx = torch.from_numpy(
                    np.fromfile(os.path.join(tmp, "indices.bin"), np.int32)
                    .astype(np.int64).reshape(tokens, K)).cuda()
                dw = torch.from_numpy(
                    np.fromfile(os.path.join(tmp, "dw.bin"), np.float32)
                    .reshape(tokens, K)).cuda()
                ours = {"step": np.fromfile(os.path.join(tmp, "dx.bin"), np.float32),
                        "route_grad": np.fromfile(os.path.join(tmp, "dx_route.bin"),
                                                  np.float32)}
            losses = {"step": step_loss, "route_grad": route_loss}
            for step, loss_fn in losses.items():
                # dx in f32 for bf16 logits too (the compiled step's result
                # type): the leaf is the logits upcast.
                leaf = x.detach().float().requires_grad_()
                loss = loss_fn(leaf, idx, dw)
                (dx,) = torch.autograd.grad(loss, leaf, retain_graph=True)
                if not agree(ours[step].reshape(tokens, E), dx.cpu().numpy()):
                    failures += 1
                    print(f"MISMATCH {name} T={tokens} {step}", file=sys.stderr)
                bwd_us = time_call(
                    lambda: torch.autograd.grad(loss, leaf, retain_graph=True), args.iters)

                def forward_backward():
                    z = x.detach().float().requires_grad_()
                    return torch.autograd.grad(loss_fn(z, idx, dw), z)

                fwd_bwd_us = time_call(forward_backward, args.iters)
                moe_us = step_us if step == "step" else route_us
                print(f"{name:10s} {tokens:6d} {step:>12s} {moe_us:9.2f} {bwd_us:9.2f} "
                      f"{fwd_bwd_us:10.2f} {bwd_us / moe_us:7.1f} {fwd_bwd_us / moe_us:9.1f}")
    if failures:
        sys.exit(f"{failures} configuration(s) disagree with PyTorch")


if __name__ == "__main__":
    main()
