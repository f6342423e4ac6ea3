#!/usr/bin/env python3
"""CPU benchmark: one routing + bias-update step compiled by moe-mlir against
the same step in PyTorch eager, on the same data, one thread each.

Usage: route_bench.py [--build build] [--reps N] [--workdir DIR]
                      [--profile FUNCTION] [--parallel]
Prints, per (T, E, K, groups), the median milliseconds of each and the ratio
PyTorch / compiled. --parallel builds the step with
--moe-lower-to-cpu="parallel=1" (linked with LLVM's libomp) and times each row
with 1 and 2 threads: omp_set_num_threads for the compiled step,
torch.set_num_threads for PyTorch. Before timing it checks that both choose the same experts
with the same weights, counts and new bias, and exits non-zero otherwise.

--workdir keeps the lowered IR and the shared library in DIR (a temporary
directory otherwise). --profile runs only the compiled FUNCTION (step_e64,
step_e256_g8 or step_e384), --reps times after the check, for a profiler:
  perf record -o e64.data -- /usr/bin/python3 bench/cpu/route_bench.py \
      --workdir build/bench --profile step_e64 --reps 3000
  perf annotate -i e64.data --stdio -s step_e64
"""

import argparse
import ctypes
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import torch_gate  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LLVM = "/usr/lib/llvm-22/bin"
LLVM_LIB = "/usr/lib/llvm-22/lib"
# (function, T, E, K, groups, keep, scale)
ROWS = [
    ("step_e256_g8", 4096, 256, 8, 8, 4, 2.5),
    ("step_e64", 16384, 64, 6, 1, 1, 1.0),
    ("step_e384", 4096, 384, 8, 1, 1, 1.0),
]
RATE = 1e-3


def build_library(build, workdir, parallel=False):
    """Lowers bench/cpu/route_step.mlir to a shared library (opt -O3, then
    llc, for this machine's CPU, as a JIT would); with `parallel`, with
    OpenMP token loops, linked with libomp."""
    src = os.path.join(ROOT, "bench", "cpu", "route_step.mlir")
    lowered = os.path.join(workdir, "step.mlir")
    ll = os.path.join(workdir, "step.ll")
    obj = os.path.join(workdir, "step.o")
    lib = os.path.join(workdir, "libstep.so")
    pipeline = "--moe-lower-to-cpu=parallel=1" if parallel else "--moe-lower-to-cpu"
    subprocess.run([os.path.join(build, "bin", "moe-opt"), src, pipeline,
                    "-o", lowered], check=True)
    subprocess.run([os.path.join(LLVM, "mlir-translate"), "--mlir-to-llvmir", lowered,
                    "-o", ll], check=True)
    optimized = os.path.join(workdir, "step.opt.bc")
    subprocess.run([os.path.join(LLVM, "opt"), "-O3", "-mcpu=native", ll, "-o", optimized],
                   check=True)
    subprocess.run([os.path.join(LLVM, "llc"), "-O3", "-mcpu=native", "-filetype=obj",
                    "-relocation-model=pic", optimized, "-o", obj], check=True)
    omp = ([f"-L{LLVM_LIB}", f"-Wl,-rpath,{LLVM_LIB}", "-lomp"] if parallel else [])
    subprocess.run(["gcc", "-shared", obj, "-o", lib, "-lm"] + omp, check=True)
    return ctypes.CDLL(lib)


def descriptor(array):
    """A ranked memref descriptor (by reference) viewing a C-contiguous array."""
    rank = array.ndim

    class MemRef(ctypes.Structure):
        _fields_ = [("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p),
                    ("offset", ctypes.c_int64), ("sizes", ctypes.c_int64 * rank),
                    ("strides", ctypes.c_int64 * rank)]

    ptr = array.ctypes.data
    strides = [s // array.itemsize for s in array.strides]
    return ctypes.byref(MemRef(ptr, ptr, 0, (ctypes.c_int64 * rank)(*array.shape),
                               (ctypes.c_int64 * rank)(*strides)))


def torch_step(logits, bias, k, groups, keep, scale):
    """The gate and the bias update in PyTorch eager."""
    weights, indices, counts = torch_gate.gate(logits, bias, k, groups, keep, scale)
    return weights, indices, counts, torch_gate.update_bias(bias, counts, RATE)


def time_pair(first, second, reps):
    """Times two callables in alternation (so that drift on a shared machine
    hits both alike); returns per callable (median ms, min ms)."""
    for _ in range(3):
        first()
        second()
    samples = ([], [])
    for _ in range(reps):
        for fn, out in ((first, samples[0]), (second, samples[1])):
            start = time.perf_counter()
            fn()
            out.append((time.perf_counter() - start) * 1e3)
    return [(statistics.median(s), min(s)) for s in samples]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--workdir", help="keep the build products here")
    parser.add_argument("--profile", metavar="FUNCTION",
                        help="run only this compiled step, --reps times")
    parser.add_argument("--parallel", action="store_true",
                        help="OpenMP token loops, timed with 1 and 2 threads")
    args = parser.parse_args()
    names = [row[0] for row in ROWS]
    if args.profile and args.profile not in names:
        parser.error(f"--profile: one of {', '.join(names)}")
    threads = (1, 2) if args.parallel else (1,)
    set_omp_threads = None
    if args.parallel:
        set_omp_threads = ctypes.CDLL(os.path.join(LLVM_LIB, "libomp.so"),
                                      mode=ctypes.RTLD_GLOBAL).omp_set_num_threads
    torch.set_num_threads(1)
    rng = np.random.default_rng(2024)
    failures = 0
    if not args.profile:
        print("median (min) milliseconds of one step, the same threads each")
        print(f"{'thr':>3} {'T':>6} {'E':>4} {'K':>2} {'groups':>9} {'moe-mlir ms':>16} "
              f"{'torch eager ms':>18} {'torch/moe':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or tmp
        os.makedirs(workdir, exist_ok=True)
        lib = build_library(args.build, workdir, args.parallel)
        for name, t, e, k, groups, keep, scale in ROWS:
            if args.profile and name != args.profile:
                continue
            fn = getattr(lib, "_mlir_ciface_" + name)
            x = rng.standard_normal((t, e), dtype=np.float32)
            b = (0.01 * rng.standard_normal(e)).astype(np.float32)
            w = np.empty((t, k), np.float32)
            i = np.empty((t, k), np.int32)
            c = np.empty(e, np.int32)
            nb = np.empty(e, np.float32)
            args_ = [descriptor(a) for a in (x, b, w, i, c, nb)]
            compiled = lambda: fn(*args_)  # noqa: E731
            xt, bt = torch.from_numpy(x), torch.from_numpy(b)
            eager = lambda: torch_step(xt, bt, k, groups, keep, scale)  # noqa: E731

            compiled()
            tw, ti, tc, tnb = eager()
            same = (np.array_equal(i, ti.numpy())
                    and np.allclose(w, tw.numpy(), rtol=1e-5, atol=1e-6)
                    and np.array_equal(c, tc.numpy())
                    and np.allclose(nb, tnb.numpy(), rtol=0, atol=1e-7))
            if not same:
                failures += 1
                print(f"MISMATCH: {name} T={t}", file=sys.stderr)
            if args.profile:
                for _ in range(args.reps):
                    compiled()
                continue
            label = f"{keep} of {groups}" if groups > 1 else "1"
            for n in threads:
                if set_omp_threads:
                    set_omp_threads(n)
                torch.set_num_threads(n)
                (ours, ours_min), (theirs, theirs_min) = time_pair(
                    compiled, eager, args.reps)
                print(f"{n:3d} {t:6d} {e:4d} {k:2d} {label:>9} {ours:8.3f} "
                      f"({ours_min:5.2f}) {theirs:9.3f} ({theirs_min:6.2f}) "
                      f"{theirs / ours:10.1f}")
            torch.set_num_threads(1)
    if failures:
        sys.exit(f"{failures} row(s) disagree with PyTorch")


if __name__ == "__main__":
    main()
