#!/usr/bin/env python3
"""CPU benchmark of the router backward: the compiled moe.route_grad +
moe.aux_loss_grad step against PyTorch eager autograd of the same
computation, one thread each, DeepSeek-V3 shape (T = 4096, E = 256, K = 8,
sigmoid scores, normalize, scale 2.5, the sequence-wise balance loss on
normalized scores with alpha = 1e-4).

Usage: train_bench.py [--build build] [--reps N] [--workdir DIR]

PyTorch computes, from the logits x (requires_grad), the indices i of a
DeepSeek-V3 routing (bench/torch_gate.py) and the upstream gradient dw:
    s = sigmoid(x); w = s.gather(1, i); wn = 2.5 * w / w.sum(-1)
    p = s / s.sum(-1); aux = sum_e f_e * mean_t p[t, e]   (f from the counts)
    loss = (wn * dw).sum() + alpha * aux
and its backward to x. The first PyTorch time is the backward alone (the
forward graph built once and kept, retain_graph), the ratio the issue asks
for; the compiled step recomputes the scores from the logits, so the second
time, forward + backward, is the same work. Before timing, dx of every
compiled variant is checked against PyTorch's (alpha 1e-4 and 1).

Rows: the fused op (what --moe-fuse-training makes of the sum), the two
gradients unfused plus their sum, and the routing gradient alone (against
PyTorch's without the balance loss). Prints median (min) milliseconds and
the ratios PyTorch / compiled.
"""

import argparse
import ctypes
import os
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
from cpu_build import ROOT, build_library, descriptor, time_pair  # noqa: E402
import torch_gate  # noqa: E402

T, E, K, GROUPS, KEEP, SCALE, SEQ_LEN = 4096, 256, 8, 8, 4, 2.5, 4096
ALPHA = 1e-4


def torch_backward(x, indices, dw, alpha, with_aux=True):
    """The forward graph in PyTorch eager, and a callable that runs its
    backward to the logits (the graph kept between calls)."""
    xt, loss = torch_forward(x, indices, dw, alpha, with_aux)
    return lambda: torch.autograd.grad(loss, xt, retain_graph=True)[0]


def torch_forward_backward(x, indices, dw, alpha, with_aux=True):
    """A callable that builds the forward graph and runs its backward."""
    def step():
        xt, loss = torch_forward(x, indices, dw, alpha, with_aux)
        return torch.autograd.grad(loss, xt)[0]
    return step


def torch_forward(x, indices, dw, alpha, with_aux):
    """The logits (requiring grad) and the loss whose gradient is timed."""
    xt = torch.from_numpy(x).requires_grad_(True)
    s = torch.sigmoid(xt)
    w = s.gather(1, indices)
    wn = SCALE * w / w.sum(-1, keepdim=True)
    loss = (wn * torch.from_numpy(dw)).sum()
    if with_aux:
        counts = torch.bincount(indices.flatten(), minlength=E).float()
        b = T // SEQ_LEN
        f = E * counts / (K * SEQ_LEN)  # one sequence of T rows here
        p = s / s.sum(-1, keepdim=True)
        aux = (f * p.view(b, SEQ_LEN, E).mean(1)).sum(-1).mean()
        loss = loss + alpha * aux
    return xt, loss


def close(got, expected):
    """dx agrees within f32 summation-order noise."""
    tol = 1e-5 * float(np.max(np.abs(expected)))
    return np.allclose(got, expected, rtol=1e-4, atol=tol)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--workdir", help="keep the build products here")
    args = parser.parse_args()
    assert T % SEQ_LEN == 0
    torch.set_num_threads(1)
    rng = np.random.default_rng(2025)
    x = rng.standard_normal((T, E), dtype=np.float32)
    bias = (0.01 * rng.standard_normal(E)).astype(np.float32)
    _, ti, _ = torch_gate.gate(torch.from_numpy(x), torch.from_numpy(bias), K, GROUPS,
                               KEEP, SCALE)
    indices = ti.to(torch.int32).numpy().copy()
    dw = rng.standard_normal((T, K), dtype=np.float32)
    dl = np.array(ALPHA, dtype=np.float32)
    dx, g, a = (np.empty((T, E), np.float32) for _ in range(3))
    failures = 0
    print("router backward, T=%d E=%d K=%d (8 groups keep 4), sigmoid, normalize, "
          "scale %.1f, seq aux loss alpha %g" % (T, E, K, SCALE, ALPHA))
    print("median (min) milliseconds, one thread each; PyTorch: its backward "
          "alone (forward graph kept), then forward + backward")
    print(f"{'step':>32} {'moe-mlir ms':>16} {'torch bwd ms':>18} {'bwd/moe':>10} "
          f"{'fwd+bwd ms':>18} {'ratio':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or tmp
        os.makedirs(workdir, exist_ok=True)
        lib = ctypes.CDLL(build_library(args.build, os.path.join(HERE, "train_step.mlir"),
                                         workdir, "train"))
        descs = [descriptor(v) for v in (x, indices, dw, dl, dx, g, a)]
        ti64 = ti.to(torch.int64)
        for name, label, with_aux in (
                ("grad_fused", "route_grad + aux_loss_grad, fused", True),
                ("grad_unfused", "route_grad + aux_loss_grad + add", True),
                ("grad_route", "route_grad alone", False)):
            fn = getattr(lib, "_mlir_ciface_" + name)
            compiled = lambda: fn(*descs)  # noqa: E731
            for alpha in ((ALPHA, 1.0) if with_aux else (ALPHA,)):
                dl[...] = alpha
                compiled()
                expected = torch_backward(x, ti64, dw, alpha, with_aux)().numpy()
                if not close(dx, expected):
                    failures += 1
                    print(f"MISMATCH: {name} alpha={alpha}: max |diff| "
                          f"{np.max(np.abs(dx - expected)):.3g}", file=sys.stderr)
            dl[...] = ALPHA
            backward = torch_backward(x, ti64, dw, ALPHA, with_aux)
            full = torch_forward_backward(x, ti64, dw, ALPHA, with_aux)
            (ours, ours_min), (theirs, theirs_min) = time_pair(
                compiled, backward, args.reps)
            _, (both, both_min) = time_pair(compiled, full, args.reps)
            print(f"{label:>32} {ours:8.3f} ({ours_min:5.2f}) "
                  f"{theirs:9.3f} ({theirs_min:6.2f}) {theirs / ours:10.1f} "
                  f"{both:9.3f} ({both_min:6.2f}) {both / ours:8.1f}")
    if failures:
        sys.exit(f"{failures} check(s) disagree with PyTorch")


if __name__ == "__main__":
    main()
