#!/usr/bin/env python3
"""CPU benchmark: one routing + bias-update step compiled by moe-mlir
(bench/cpu/route_step.mlir) against the same step in PyTorch eager
(bench/torch_gate.py), on the same data with the same number of threads.

Usage: route_bench.py [--build build] [--reps N] [--workdir DIR]
                      [--shapes e256_g8,e64,e384] [--dist gaussian,uniform,smooth]
                      [--builds native,x86-64-v3,x86-64] [--runner | --no-runner]
                      [--threads 1,all] [--pin | --no-pin]
                      [--pipeline-options OPTS] [--profile FUNCTION]

Paths (the `path` column):
  runner      an MLIR program holding the logits and the bias as constants,
              lowered with moe-opt --moe-lower-to-cpu and run by mlir-runner
              -O3 (JIT for the host); each step is timed inside the program
              with rtclock, so the JIT's compile time stays out
              (route_runner.py).
  aot-<cpu>   route_step.mlir lowered ahead of time (moe-opt, mlir-translate,
              opt -O3 -mcpu=<cpu>, llc -O3 -mcpu=<cpu>, gcc -shared), called
              through its C interface on NumPy arrays and timed here. For a
              <cpu> other than `native` the module carries
              llvm.target = #llvm.target<triple = "x86_64-unknown-linux-gnu",
              chip = "<cpu>">, which tells the lowering what CPU the code is
              for. --builds lists the CPUs (LLVM -mcpu names).
Threads (--threads, a list of counts; `all` = os.cpu_count()): 1 is the
serial lowering and torch.set_num_threads(1); N > 1 is the
--moe-lower-to-cpu="parallel=1" lowering on LLVM's OpenMP runtime (AOT:
linked with -lomp, omp_set_num_threads(N); runner: libomp.so in
--shared-libs, OMP_NUM_THREADS=N and omp_set_num_threads(N) in the program)
and torch.set_num_threads(N). For each N > 1 the same parallel build is also
timed with one thread, and a second table gives its speedup. One-thread
timings (the rows of 1 thread, the runner's included, and the parallel
build's one-thread run) are pinned to one CPU, the last one this process may
use (--no-pin leaves them to the scheduler, whose moves of the thread between
CPUs cost it the caches: one-thread medians varied by up to 1.4x here).
--pipeline-options adds options to --moe-lower-to-cpu for every build (e.g.
"selection=scan").

Shapes (T, E, K): e256_g8 = DeepSeek-V3 (4096, 256, 8, 8 groups keep 4,
scale 2.5), e64 = (16384, 64, 6), e384 = Kimi K2 (4096, 384, 8); sigmoid
scores, normalized weights, bias update rate 1e-3.
Logit distributions (--dist), f32, one generator per (shape, distribution):
  gaussian  x[t, e] ~ N(0, 1)
  uniform   x[t, e] ~ U(-1, 1)
  smooth    x[t, e] = sin(2 pi (e / P + phi_t)) + 1e-4 * N(0, 1), P = E / 4,
            phi_t ~ U(0, 1) per token: near ties between neighbouring experts
            and between the E / P repeated peaks
and the bias b[e] = 0.01 * N(0, 1).

Every step is first checked against PyTorch: the same experts in the same
order (exactly; PyTorch's topk orders equal keys arbitrarily, so its experts
are put in the contract's order first: key descending, ties by lower expert),
the same counts (exactly), allclose weights and new bias; a mismatch is reported
and the exit status is non-zero. Then the AOT builds and PyTorch are timed in
turn (3 warm-up rounds, --reps rounds; the PyTorch samples serve every row
of the group); the runner program runs 3 warm-up steps and --reps timed ones.
Prints a markdown table of median (min) milliseconds and the ratio
PyTorch / moe-mlir, then, against the targets of the CPU work, the worst
one-thread ratio (>= 20), the highest AVX2 / native time (x86-64-v3 over
native, <= 1.5), the worst generic x86-64 ratio (>= 8), the widest spread of a
path and shape over the distributions (<= 1.25), and the lowest N-thread
speedup at T = 4096, E = 256 (>= 1.7), each for what was run.

--workdir keeps the generated and lowered IR and the libraries in DIR (a
temporary directory otherwise). --profile runs only the compiled FUNCTION
(step_e64, step_e256_g8 or step_e384) of the first --builds CPU, serial, on
the first --dist distribution, --reps times after the check, for a profiler:
  perf record -o e64.data -- /usr/bin/python3 bench/cpu/route_bench.py \\
      --workdir build/bench --profile step_e64 --reps 3000
  perf annotate -i e64.data --stdio -s step_e64
"""

import argparse
import collections
import contextlib
import ctypes
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
import route_runner  # noqa: E402
import torch_gate  # noqa: E402
from cpu_build import (LLVM_LIB, ROOT, build_library, descriptor,  # noqa: E402
                       summary, time_blocks, time_round_robin)

Shape = collections.namedtuple("Shape", "function t e k groups keep scale")
SHAPES = {
    "e256_g8": Shape("step_e256_g8", 4096, 256, 8, 8, 4, 2.5),
    "e64": Shape("step_e64", 16384, 64, 6, 1, 1, 1.0),
    "e384": Shape("step_e384", 4096, 384, 8, 1, 1, 1.0),
}
RATE = 1e-3
WARMUP = 3


def smooth(rng, t, e):
    """Near-tie logits: per token a sine of the expert index with period
    E / 4 and a random phase, plus 1e-4 * N(0, 1)."""
    period = e / 4
    phase = rng.random((t, 1))
    return (np.sin(2 * np.pi * (np.arange(e) / period + phase))
            + 1e-4 * rng.standard_normal((t, e)))


DISTRIBUTIONS = {
    "gaussian": lambda rng, t, e: rng.standard_normal((t, e)),
    "uniform": lambda rng, t, e: rng.uniform(-1.0, 1.0, (t, e)),
    "smooth": smooth,
}


def inputs(shape_name, dist):
    """The logits and the bias of a (shape, distribution), the same whatever
    else is selected."""
    shape = SHAPES[shape_name]
    rng = np.random.default_rng([2024, list(SHAPES).index(shape_name),
                                 list(DISTRIBUTIONS).index(dist)])
    x = DISTRIBUTIONS[dist](rng, shape.t, shape.e).astype(np.float32)
    b = (0.01 * rng.standard_normal(shape.e)).astype(np.float32)
    return x, b


def torch_step(x, b, shape):
    """The gate and the bias update in PyTorch eager."""
    weights, indices, counts = torch_gate.gate(x, b, shape.k, shape.groups, shape.keep,
                                               shape.scale)
    return weights, indices, counts, torch_gate.update_bias(b, counts, RATE)


def expected_step(x, b, shape):
    """PyTorch's step as NumPy arrays, each token's experts in the contract's
    order: by key descending, equal keys by lower expert (topk orders equal
    keys as it likes; the smooth logits have some)."""
    weights, indices, counts, new_bias = torch_step(x, b, shape)
    keys = (torch.sigmoid(x) + b).gather(1, indices).numpy()
    indices = indices.numpy()
    order = np.lexsort((indices, -keys), axis=-1)
    return (np.take_along_axis(weights.numpy(), order, -1),
            np.take_along_axis(indices, order, -1), counts.numpy(), new_bias.numpy())


def differences(got, expected):
    """What differs between two (weights, indices, counts, new bias)."""
    w, i, c, nb = got
    tw, ti, tc, tnb = expected
    return [what for what, same in (
        ("indices", np.array_equal(i, ti)),
        ("weights", np.allclose(w, tw, rtol=1e-5, atol=1e-6)),
        ("counts", np.array_equal(c, tc)),
        ("new bias", np.allclose(nb, tnb, rtol=0, atol=1e-7))) if not same]


class Compiled:
    """A step function of an AOT library bound to the inputs and to output
    buffers of its own."""

    def __init__(self, lib, shape, x, b):
        self.fn = getattr(lib, "_mlir_ciface_" + shape.function)
        self.out = (np.empty((shape.t, shape.k), np.float32),
                    np.empty((shape.t, shape.k), np.int32),
                    np.empty(shape.e, np.int32), np.empty(shape.e, np.float32))
        self.args = [descriptor(a) for a in (x, b) + self.out]

    def __call__(self):
        self.fn(*self.args)


def thread_counts(text):
    counts = []
    for item in text.split(","):
        n = os.cpu_count() if item == "all" else int(item)
        if n < 1:
            raise argparse.ArgumentTypeError("thread counts are >= 1")
        if n not in counts:
            counts.append(n)
    return counts


def names(choices):
    def parse(text):
        chosen = list(choices) if text == "all" else text.split(",")
        bad = [c for c in chosen if c not in choices]
        if bad:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(bad)}; choose from {', '.join(choices)}")
        return chosen
    return parse


@contextlib.contextmanager
def pinned(enabled):
    """Runs the block (and the processes it starts) on one CPU, the last
    this process may use, when enabled."""
    if not enabled:
        yield
        return
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {max(allowed)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, allowed)


def ms(stats):
    median, low = stats
    return f"{median:.3g} ({low:.3g})"


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--workdir", help="keep the build products here")
    parser.add_argument("--shapes", type=names(SHAPES), default=list(SHAPES))
    parser.add_argument("--dist", type=names(DISTRIBUTIONS), default=list(DISTRIBUTIONS))
    parser.add_argument("--builds", type=lambda s: [c for c in s.split(",") if c],
                        default=["native", "x86-64-v3", "x86-64"],
                        help="-mcpu of each AOT build ('' for none)")
    parser.add_argument("--runner", action=argparse.BooleanOptionalAction, default=True,
                        help="the mlir-runner path")
    parser.add_argument("--threads", type=thread_counts, default=thread_counts("1,all"))
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True,
                        help="one-thread timings on one CPU")
    parser.add_argument("--pipeline-options", default="",
                        help="more --moe-lower-to-cpu options, e.g. selection=scan")
    parser.add_argument("--profile", metavar="FUNCTION",
                        help="run only this compiled step, --reps times")
    args = parser.parse_args()
    functions = {s.function: name for name, s in SHAPES.items()}
    if args.profile:
        if args.profile not in functions:
            parser.error(f"--profile: one of {', '.join(functions)}")
        if not args.builds:
            parser.error("--profile needs an AOT build")
        args.shapes, args.threads, args.runner = [functions[args.profile]], [1], False
        args.builds = args.builds[:1]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or tmp
        os.makedirs(workdir, exist_ok=True)
        try:
            failures = run(args, workdir)
        except subprocess.CalledProcessError as e:
            sys.exit(f"failed ({e.returncode}): {' '.join(map(str, e.cmd))}")
    if failures:
        sys.exit(f"{failures} check(s) disagree with PyTorch")


def run(args, workdir):
    """Builds, checks and times what args select; returns the number of
    failed checks."""
    src = os.path.join(ROOT, "bench", "cpu", "route_step.mlir")
    parallel_modes = sorted({n > 1 for n in args.threads})
    libs = {}
    for cpu in args.builds:
        for parallel in parallel_modes:
            stem = f"step-{cpu}" + ("-parallel" if parallel else "")
            libs[cpu, parallel] = ctypes.CDLL(build_library(
                args.build, src, workdir, stem, cpu, parallel, args.pipeline_options))
    set_omp_threads = None
    if True in parallel_modes:
        set_omp_threads = ctypes.CDLL(os.path.join(LLVM_LIB, "libomp.so"),
                                      mode=ctypes.RTLD_GLOBAL).omp_set_num_threads
    paths = (["runner"] if args.runner else []) + [f"aot-{cpu}" for cpu in args.builds]
    failures = 0
    rows, speedups = [], []
    if not args.profile:
        print(f"median (min) ms of one step, {args.reps} samples; PyTorch "
              f"{torch.__version__} eager with the same threads")
        print()
        print("| path | threads | shape | distribution | moe-mlir ms | torch ms "
              "| torch/moe |")
        print("|---|---|---|---|---|---|---|")
    for n in args.threads:
        parallel = n > 1
        with pinned(args.pin and not parallel):
            torch.set_num_threads(n)
            if set_omp_threads:
                set_omp_threads(n)
            for shape_name in args.shapes:
                shape = SHAPES[shape_name]
                label = (f"T={shape.t} E={shape.e} K={shape.k}"
                         + (f" {shape.groups}g/{shape.keep}" if shape.groups > 1 else ""))
                for dist in args.dist:
                    x, b = inputs(shape_name, dist)
                    xt, bt = torch.from_numpy(x), torch.from_numpy(b)
                    expected = expected_step(xt, bt, shape)
                    eager = lambda: torch_step(xt, bt, shape)  # noqa: E731
                    compiled = [Compiled(libs[cpu, parallel], shape, x, b)
                                for cpu in args.builds]
                    where = f"{shape_name} {dist} {n} thread(s)"
                    for cpu, step in zip(args.builds, compiled):
                        step()
                        bad = differences(step.out, expected)
                        if bad:
                            failures += 1
                            print(f"MISMATCH: aot-{cpu} {where}: {', '.join(bad)}",
                                  file=sys.stderr)
                    if args.profile:
                        for _ in range(args.reps):
                            compiled[0]()
                        return failures
                    timed = {}
                    if args.runner:
                        threads = [1, n] if parallel else [None]
                        c, nb, i, w, samples = route_runner.run(
                            args.build, workdir, f"runner-{shape_name}-{dist}-{n}",
                            shape.function, x, b, shape.k, args.reps, WARMUP, threads,
                            args.pipeline_options)
                        bad = differences((w, i, c, nb), expected)
                        if bad:
                            failures += 1
                            print(f"MISMATCH: runner {where}: {', '.join(bad)}",
                                  file=sys.stderr)
                        timed["runner"] = samples[-1]
                        if parallel:
                            speedups.append(("runner", n, label, dist, summary(samples[0]),
                                             summary(samples[1])))
                    if parallel and compiled:
                        set_omp_threads(1)
                        with pinned(args.pin):
                            alone = time_blocks(compiled, args.reps, WARMUP)
                        set_omp_threads(n)
                    timer = time_blocks if parallel else time_round_robin
                    samples = timer([eager] + compiled, args.reps, WARMUP)
                    theirs = summary(samples[0])
                    for k, cpu in enumerate(args.builds):
                        timed[f"aot-{cpu}"] = samples[k + 1]
                        if parallel:
                            speedups.append((f"aot-{cpu}", n, label, dist,
                                             summary(alone[k]), summary(samples[k + 1])))
                    for path in paths:
                        ours = summary(timed[path])
                        rows.append((path, n, label, dist, theirs[0] / ours[0], ours[0]))
                        print(f"| {path} | {n} | {label} | {dist} | {ms(ours)} | "
                              f"{ms(theirs)} | {theirs[0] / ours[0]:.1f} |", flush=True)
    one = [r for r in rows if r[1] == 1]
    if one:
        worst = min(one, key=lambda r: r[4])
        print(f"\nworst one-thread torch/moe: {worst[4]:.1f} ({worst[0]}, {worst[2]}, "
              f"{worst[3]}); target >= 20: {'met' if worst[4] >= 20 else 'NOT met'}")
        print_targets(one)
    if speedups:
        print("\nparallel=1 builds: median (min) ms with 1 and N threads, speedup of "
              "N over 1 (medians)\n")
        print("| path | N | shape | distribution | 1 thread ms | N threads ms "
              "| speedup |")
        print("|---|---|---|---|---|---|---|")
        for path, n, label, dist, alone, many in speedups:
            print(f"| {path} | {n} | {label} | {dist} | {ms(alone)} | {ms(many)} | "
                  f"{alone[0] / many[0]:.2f} |")
        dsv3 = [(a[0] / m[0], p, n, d) for p, n, label, d, a, m in speedups
                if label.startswith("T=4096 E=256")]
        if dsv3:
            low = min(dsv3)
            print(f"\nlowest speedup at T=4096 E=256: {low[0]:.2f} ({low[1]}, {low[2]} "
                  f"threads, {low[3]}); target >= 1.7: "
                  f"{'met' if low[0] >= 1.7 else 'NOT met'}")
    return failures


def print_targets(one):
    """The issue's other one-thread targets, from the rows (path, threads,
    shape, distribution, torch/moe, moe-mlir median ms) that were run."""
    time = {(r[0], r[2], r[3]): r[5] for r in one}
    ratios = [(time["aot-x86-64-v3", shape, dist] / ms_native, shape, dist)
              for (path, shape, dist), ms_native in time.items()
              if path == "aot-native" and ("aot-x86-64-v3", shape, dist) in time]
    if ratios:
        high = max(ratios)
        print(f"highest aot-x86-64-v3 / aot-native: {high[0]:.2f} ({high[1]}, {high[2]}); "
              f"target <= 1.5: {'met' if high[0] <= 1.5 else 'NOT met'}")
    generic = [r for r in one if r[0] == "aot-x86-64"]
    if generic:
        low = min(generic, key=lambda r: r[4])
        print(f"worst aot-x86-64 torch/moe: {low[4]:.1f} ({low[2]}, {low[3]}); "
              f"target >= 8: {'met' if low[4] >= 8 else 'NOT met'}")
    groups = collections.defaultdict(list)
    for (path, shape, dist), median in time.items():
        groups[path, shape].append(median)
    spreads = [(max(v) / min(v), path, shape) for (path, shape), v in groups.items()
               if len(v) > 1]
    if spreads:
        high = max(spreads)
        print(f"widest spread over distributions (slowest / fastest median): "
              f"{high[0]:.2f} ({high[1]}, {high[2]}); target <= 1.25: "
              f"{'met' if high[0] <= 1.25 else 'NOT met'}")


if __name__ == "__main__":
    main()
