"""What the CPU benchmarks (route_bench.py, train_bench.py) share: the
ahead-of-time build of a benchmark module into a shared library, memref
descriptors over NumPy arrays for its C interface, and alternating timing."""

import ctypes
import os
import statistics
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LLVM = "/usr/lib/llvm-22/bin"
LLVM_LIB = "/usr/lib/llvm-22/lib"
TRIPLE = "x86_64-unknown-linux-gnu"


def pipeline_flag(parallel=False, options=""):
    """The --moe-lower-to-cpu flag with parallel=1 and any further pipeline
    options (space-separated, e.g. "selection=scan")."""
    opts = (["parallel=1"] if parallel else []) + options.split()
    return "--moe-lower-to-cpu" + ("=" + " ".join(opts) if opts else "")


def with_target(text, cpu):
    """The module text with its ops inside a module whose llvm.target names
    `cpu` (the CPU the lowering should select code for); unchanged for the
    host ("native")."""
    if cpu == "native":
        return text
    return (f'module attributes {{llvm.target = #llvm.target<triple = "{TRIPLE}", '
            f'chip = "{cpu}">}} {{\n{text}\n}}\n')


def build_library(build, src, workdir, stem, cpu="native", parallel=False,
                  pipeline_options=""):
    """Lowers the module `src` with --moe-lower-to-cpu (as pipeline_flag
    says), then opt -O3 and llc -O3 for `cpu` (as a JIT would for the host),
    and links DIR/lib<stem>.so (with LLVM's libomp when `parallel`).
    Returns the library's path."""
    def path(ext):
        return os.path.join(workdir, stem + ext)

    with open(src) as f:
        text = f.read()
    source = path(".in.mlir")
    with open(source, "w") as f:
        f.write(with_target(text, cpu))
    tool = lambda name: os.path.join(LLVM, name)  # noqa: E731
    subprocess.run([os.path.join(build, "bin", "moe-opt"), source,
                    pipeline_flag(parallel, pipeline_options), "-o", path(".mlir")],
                   check=True)
    subprocess.run([tool("mlir-translate"), "--mlir-to-llvmir", path(".mlir"),
                    "-o", path(".ll")], check=True)
    subprocess.run([tool("opt"), "-O3", f"-mcpu={cpu}", path(".ll"),
                    "-o", path(".opt.bc")], check=True)
    subprocess.run([tool("llc"), "-O3", f"-mcpu={cpu}", "-filetype=obj",
                    "-relocation-model=pic", path(".opt.bc"), "-o", path(".o")],
                   check=True)
    lib = os.path.join(workdir, f"lib{stem}.so")
    omp = [f"-L{LLVM_LIB}", f"-Wl,-rpath,{LLVM_LIB}", "-lomp"] if parallel else []
    # -Bsymbolic: several builds of the same functions load side by side, each
    # calling its own.
    subprocess.run(["gcc", "-shared", "-Wl,-Bsymbolic", path(".o"), "-o", lib, "-lm"]
                   + omp, check=True)
    return lib


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


def summary(samples):
    """(median, min) of millisecond samples."""
    return statistics.median(samples), min(samples)


def time_round_robin(callables, reps, warmup=3):
    """Times the callables in turn, `reps` rounds after `warmup` (so that
    drift on a shared machine hits all alike); returns per callable its
    samples in milliseconds."""
    for _ in range(warmup):
        for fn in callables:
            fn()
    samples = [[] for _ in callables]
    for _ in range(reps):
        for fn, out in zip(callables, samples):
            start = time.perf_counter()
            fn()
            out.append((time.perf_counter() - start) * 1e3)
    return samples


def time_blocks(callables, reps, warmup=3, pause=0.5):
    """Times each callable on its own, `reps` times after `warmup`, after a
    pause: for multi-threaded callables on different thread pools (PyTorch's
    libgomp, LLVM's libomp), whose idle workers spin for a while after each
    parallel region (libomp: KMP_BLOCKTIME, 200 ms) and would take the cores
    of the other pool's threads if the calls alternated. Returns per
    callable its samples in milliseconds."""
    samples = []
    for fn in callables:
        time.sleep(pause)
        samples.append(time_round_robin([fn], reps, warmup)[0])
    return samples


def time_pair(first, second, reps):
    """Times two callables in alternation; returns per callable (median ms,
    min ms)."""
    return [summary(s) for s in time_round_robin((first, second), reps)]
