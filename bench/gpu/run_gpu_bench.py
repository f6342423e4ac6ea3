#!/usr/bin/env python3
"""GPU benchmark of the routing gate: the compiled moe.route kernel against
PyTorch eager and torch.compile of the same gate, on the same data and the
same device. Run on the GPU machine from the bundle made by
scripts/gpu-bundle:  python3 bench/run_gpu_bench.py [--iters N] [--quick]

For each (config, T) it prints microseconds per call (each call waits for its
result, for all three), the achieved bandwidth (logits read + weights,
indices and counts written) and its share of the device's peak, and the
speedups. It checks first that the compiled gate and PyTorch choose the same
experts with the same weights and counts, and fails otherwise.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import torch_gate  # noqa: E402  (bench/torch_gate.py, copied beside it)

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIGS = {
    # name: (experts, groups, keep, normalize scale, dtype)
    "dsv3_f32": (256, 8, 4, 2.5, torch.float32),
    "dsv3_bf16": (256, 8, 4, 2.5, torch.bfloat16),
    "kimi_f32": (384, 1, 1, 1.0, torch.float32),
    "kimi_bf16": (384, 1, 1, 1.0, torch.bfloat16),
}
TOKENS = [1, 64, 4096, 16384, 65536]
K = 8
# Nominal memory bandwidth, GB/s, by device name.
PEAK_GBS = {"H100 80GB HBM3": 3350, "H100 PCIe": 2000, "H100 NVL": 3900,
            "H200": 4800, "A100-SXM4-80GB": 2039, "A100-SXM4-40GB": 1555}


def gate(logits, bias, groups, keep, scale):
    return torch_gate.gate(logits, bias, K, groups, keep, scale)


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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--iters", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="fewer shapes")
    args = parser.parse_args()
    device = torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_GBS.items() if k in device), None)
    print(f"device: {device}; peak bandwidth: {peak or 'unknown'} GB/s")
    print(f"{'config':10s} {'T':>6s} {'moe us':>9s} {'GB/s':>7s} {'%peak':>6s} "
          f"{'eager us':>9s} {'compile us':>10s} {'x eager':>8s} {'x compile':>9s}")
    failures = 0
    tokens_list = [64, 16384] if args.quick else TOKENS
    for name, (experts, groups, keep, scale, dtype) in CONFIGS.items():
        compiled_gate = torch.compile(gate)
        for tokens in tokens_list:
            with tempfile.TemporaryDirectory() as tmp:
                out = subprocess.run(
                    [os.path.join(HERE, "..", "bin", "route_bench"), name,
                     str(tokens), str(args.iters), tmp],
                    capture_output=True, text=True, check=True).stdout.split()
                moe_us = float(out[2])
                raw = np.fromfile(os.path.join(tmp, "logits.bin"),
                                  dtype=np.uint16 if dtype == torch.bfloat16 else np.float32)
                if dtype == torch.bfloat16:
                    logits = torch.from_numpy(raw.astype(np.int16)).view(torch.bfloat16)
                else:
                    logits = torch.from_numpy(raw)
                logits = logits.reshape(tokens, experts).cuda()
                bias = torch.from_numpy(np.fromfile(os.path.join(tmp, "bias.bin"),
                                                    dtype=np.float32)).cuda()
                w, i, c = gate(logits, bias, groups, keep, scale)
                ours_w = np.fromfile(os.path.join(tmp, "weights.bin"), np.float32)
                ours_i = np.fromfile(os.path.join(tmp, "indices.bin"), np.int32)
                ours_c = np.fromfile(os.path.join(tmp, "counts.bin"), np.int32)
                same = (np.array_equal(ours_i, i.cpu().numpy().astype(np.int32).ravel())
                        and np.allclose(ours_w, w.cpu().numpy().ravel(), rtol=1e-5, atol=1e-6)
                        and np.array_equal(ours_c, c.cpu().numpy().astype(np.int32)))
                if not same:
                    failures += 1
                    print(f"MISMATCH {name} T={tokens}", file=sys.stderr)
                eager_us = time_call(lambda: gate(logits, bias, groups, keep, scale), args.iters)
                compile_us = time_call(lambda: compiled_gate(logits, bias, groups, keep, scale),
                                       args.iters)
            moved = tokens * experts * logits.element_size() + tokens * K * 8 + experts * 4
            gbs = moved / (moe_us * 1e-6) / 1e9
            pct = f"{100 * gbs / peak:5.1f}" if peak else "  n/a"
            print(f"{name:10s} {tokens:6d} {moe_us:9.2f} {gbs:7.1f} {pct:>6s} "
                  f"{eager_us:9.2f} {compile_us:10.2f} {eager_us / moe_us:8.1f} "
                  f"{compile_us / moe_us:9.2f}")
    if failures:
        sys.exit(f"{failures} configuration(s) disagree with PyTorch")


if __name__ == "__main__":
    main()
