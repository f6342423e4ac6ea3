"""Builds bench/cpu/route_step.mlir for AArch64 (the module's llvm.target
names the CPU, so the selection gathers by the scan of the mask bits),
runs it under QEMU's user mode on Gaussian, uniform and smooth periodic
logits for the benchmark's three routing steps, and compares the weights,
indices and counts with the PyTorch gate of bench/torch_gate.py.

Usage: aarch64_check.py MOE_OPT LLVM_BIN SRC_ROOT WORKDIR
"""

import os
import subprocess
import sys

import numpy as np
import torch

moe_opt, llvm_bin, root, work = sys.argv[1:5]
sys.path.insert(0, os.path.join(root, "bench"))
import torch_gate  # noqa: E402

CPU = "neoverse-n1"
# (step function index, T, E, K, groups, keep, scale): route_step.mlir.
ROWS = [(0, 96, 256, 8, 8, 4, 2.5), (1, 160, 64, 6, 1, 1, 1.0),
        (2, 96, 384, 8, 1, 1, 1.0)]


def logits(dist, t, e, rng):
    if dist == "gaussian":
        return rng.standard_normal((t, e), dtype=np.float32)
    if dist == "uniform":
        return rng.uniform(-1.0, 1.0, (t, e)).astype(np.float32)
    # Smooth: four periods over the experts, a random phase per token.
    phase = rng.uniform(0.0, 1.0, (t, 1))
    x = np.sin(2 * np.pi * (np.arange(e)[None, :] / (e / 4) + phase))
    return (x + 1e-3 * rng.standard_normal((t, e))).astype(np.float32)


def run(*cmd):
    subprocess.run([str(c) for c in cmd], check=True)


os.makedirs(work, exist_ok=True)
src = os.path.join(work, "step.mlir")
with open(src, "w") as f, open(os.path.join(root, "bench/cpu/route_step.mlir")) as step:
    f.write('module attributes {llvm.target = #llvm.target<'
            'triple = "aarch64-unknown-linux-gnu", chip = "%s">} {\n' % CPU)
    f.write(step.read())
    f.write("}\n")
lowered = os.path.join(work, "step.llvm.mlir")
run(moe_opt, src, "--moe-lower-to-cpu", "-o", lowered)
with open(lowered) as f:
    text = f.read()
    assert "compressstore" not in text and "llvm.intr.cttz" in text, \
        "expected the scan gathering for AArch64"
print("lowered for AArch64: scan gathering (cttz), no compress-stores")
ll, bc, obj = (os.path.join(work, n) for n in ("step.ll", "step.bc", "step.o"))
run(os.path.join(llvm_bin, "mlir-translate"), "--mlir-to-llvmir", lowered, "-o", ll)
target = ["-mtriple=aarch64-linux-gnu", "-mcpu=" + CPU]
run(os.path.join(llvm_bin, "opt"), "-O3", *target, ll, "-o", bc)
run(os.path.join(llvm_bin, "llc"), "-O3", *target, "-filetype=obj", bc, "-o", obj)
driver = os.path.join(work, "step_driver")
run("aarch64-linux-gnu-gcc", "-O2", "-static",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "step_driver.c"),
    obj, "-o", driver, "-lm")

failures = 0
for which, t, e, k, groups, keep, scale in ROWS:
    for dist in ("gaussian", "uniform", "smooth"):
        rng = np.random.default_rng(7 + which)
        x = logits(dist, t, e, rng)
        b = (0.01 * rng.standard_normal(e)).astype(np.float32)
        inp, out = os.path.join(work, "in.bin"), os.path.join(work, "out.bin")
        with open(inp, "wb") as f:
            f.write(x.tobytes() + b.tobytes())
        run("qemu-aarch64", driver, which, t, e, k, inp, out)
        raw = np.fromfile(out, dtype=np.uint8)
        w = raw[:t * k * 4].view(np.float32).reshape(t, k)
        i = raw[t * k * 4:2 * t * k * 4].view(np.int32).reshape(t, k)
        c = raw[2 * t * k * 4:2 * t * k * 4 + e * 4].view(np.int32)
        tw, ti, tc = torch_gate.gate(torch.from_numpy(x), torch.from_numpy(b),
                                     k, groups, keep, scale)
        same = (np.array_equal(i, ti.numpy()) and np.array_equal(c, tc.numpy())
                and np.allclose(w, tw.numpy(), rtol=1e-5, atol=1e-6))
        failures += not same
        print("E=%d K=%d %s: %s" % (e, k, dist, "same as PyTorch" if same else "MISMATCH"))
sys.exit(1 if failures else 0)
