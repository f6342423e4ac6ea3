"""The mlir-runner path of the CPU routing benchmark (route_bench.py): an MLIR
program that holds the logits and the bias as constants, calls a step
function of route_step.mlir once and prints its results (counts, new bias,
indices, weights) for the check against PyTorch, then calls it `warmup`
times and `reps` times more, each timed inside the program with rtclock
(so that the JIT's compile time stays out), and prints the samples. It is
lowered with moe-opt --moe-lower-to-cpu and run by mlir-runner -O3."""

import os
import re
import subprocess

import numpy as np

from cpu_build import LLVM, LLVM_LIB, ROOT, pipeline_flag

STEP_SOURCE = os.path.join(ROOT, "bench", "cpu", "route_step.mlir")
RUNNER_LIBS = [os.path.join(LLVM_LIB, "libmlir_runner_utils.so"),
               os.path.join(LLVM_LIB, "libmlir_c_runner_utils.so")]
OMP_LIB = os.path.join(LLVM_LIB, "libomp.so")


def dense(array):
    """A dense attribute holding the array's bytes (little-endian, C order)."""
    return f'dense<"0x{array.tobytes().hex().upper()}">'


def set_threads(name, count):
    """omp_set_num_threads(count) (nothing for a serial program)."""
    if count is None:
        return []
    return [f"  %n{name} = arith.constant {count} : i32",
            f"  func.call @omp_set_num_threads(%n{name}) : (i32) -> ()"]


def program(function, x, bias, k, reps, warmup, threads):
    """The MLIR text of the timing program. `threads`: the thread counts to
    time in turn (omp_set_num_threads before each, for a parallel=1
    lowering; the first also before the checked call, so that a one-thread
    first round has no idle workers of a larger team spinning beside it), or
    [None] for one serial round of timing."""
    t, e = x.shape
    x_type, b_type = f"memref<{t}x{e}xf32>", f"memref<{e}xf32>"
    step_type = (f"(memref<?x{e}xf32>, memref<{e}xf32>, memref<?x{k}xf32>, "
                 f"memref<?x{k}xi32>, memref<{e}xi32>, memref<{e}xf32>) -> ()")
    call = f"func.call @{function}(%x, %b, %w, %i, %c, %nb) : {step_type}"
    lines = [
        f'memref.global "private" constant @logits : {x_type} = {dense(x)} {{alignment = 64}}',
        f'memref.global "private" constant @bias : {b_type} = {dense(bias)} {{alignment = 64}}',
        "func.func private @rtclock() -> f64",
        "func.func private @printMemrefI32(memref<*xi32>)",
        "func.func private @printMemrefF32(memref<*xf32>)",
        "func.func private @printMemrefF64(memref<*xf64>)",
    ]
    if threads != [None]:
        lines.append("func.func private @omp_set_num_threads(i32)")
    lines += [
        "func.func @main() {",
        *set_threads("first", threads[0]),
        "  %c0 = arith.constant 0 : index",
        "  %c1 = arith.constant 1 : index",
        f"  %t = arith.constant {t} : index",
        f"  %warmup = arith.constant {warmup} : index",
        f"  %reps = arith.constant {reps} : index",
        f"  %xs = memref.get_global @logits : {x_type}",
        f"  %x = memref.cast %xs : {x_type} to memref<?x{e}xf32>",
        f"  %b = memref.get_global @bias : {b_type}",
        f"  %w = memref.alloc(%t) {{alignment = 64}} : memref<?x{k}xf32>",
        f"  %i = memref.alloc(%t) {{alignment = 64}} : memref<?x{k}xi32>",
        f"  %c = memref.alloc() {{alignment = 64}} : memref<{e}xi32>",
        f"  %nb = memref.alloc() {{alignment = 64}} : memref<{e}xf32>",
        f"  %samples = memref.alloc() : memref<{reps}xf64>",
        f"  {call}",
    ]
    for name, value, typ in (("c", "%c", f"memref<{e}xi32>"),
                             ("nb", "%nb", f"memref<{e}xf32>"),
                             ("i", "%i", f"memref<?x{k}xi32>"),
                             ("w", "%w", f"memref<?x{k}xf32>")):
        elem = typ.rsplit("x", 1)[1].rstrip(">")
        lines += [f"  %{name}_u = memref.cast {value} : {typ} to memref<*x{elem}>",
                  f"  func.call @printMemref{elem.upper()}(%{name}_u) : "
                  f"(memref<*x{elem}>) -> ()"]
    for n, count in enumerate(threads):
        lines += set_threads(n, count) if n else []
        lines += [
            "  scf.for %r = %c0 to %warmup step %c1 {",
            f"    {call}",
            "  }",
            "  scf.for %r = %c0 to %reps step %c1 {",
            "    %t0 = func.call @rtclock() : () -> f64",
            f"    {call}",
            "    %t1 = func.call @rtclock() : () -> f64",
            "    %d = arith.subf %t1, %t0 : f64",
            f"    memref.store %d, %samples[%r] : memref<{reps}xf64>",
            "  }",
            f"  %s{n} = memref.cast %samples : memref<{reps}xf64> to memref<*xf64>",
            f"  func.call @printMemrefF64(%s{n}) : (memref<*xf64>) -> ()",
        ]
    # No deallocs: the pipeline's buffer deallocation inserts them.
    lines += ["  return", "}"]
    with open(STEP_SOURCE) as f:
        return f.read() + "\n" + "\n".join(lines) + "\n"


NUMBER = re.compile(r"[-+]?(?:nan|inf|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)")


def printed_memrefs(text):
    """The data of each memref printed by printMemref*, as lists of strings."""
    return [NUMBER.findall(block) for block in
            re.split(r"Unranked Memref[^\n]*data =", text)[1:]]


def run(build, workdir, stem, function, x, bias, k, reps, warmup=3, threads=(None,),
        pipeline_options=""):
    """Lowers and runs the timing program (kept in workdir as <stem>.mlir and
    <stem>.llvm.mlir). `threads` as in program(); more than [None] means
    the parallel=1 lowering with libomp. Returns (counts, new bias,
    indices, weights, [millisecond samples per thread count])."""
    threads = list(threads)
    parallel = threads != [None]
    src = os.path.join(workdir, stem + ".mlir")
    lowered = os.path.join(workdir, stem + ".llvm.mlir")
    with open(src, "w") as f:
        f.write(program(function, x, bias, k, reps, warmup, threads))
    subprocess.run([os.path.join(build, "bin", "moe-opt"), src,
                    pipeline_flag(parallel, pipeline_options), "-o", lowered], check=True)
    libs = RUNNER_LIBS + ([OMP_LIB] if parallel else [])
    env = dict(os.environ)
    if parallel:
        env["OMP_NUM_THREADS"] = str(max(threads))
    out = subprocess.run([os.path.join(LLVM, "mlir-runner"), lowered, "-e", "main",
                          "--entry-point-result=void", "-O3",
                          "--shared-libs=" + ",".join(libs)],
                         check=True, capture_output=True, text=True, env=env).stdout
    blocks = printed_memrefs(out)
    t, e = x.shape
    if len(blocks) != 4 + len(threads):
        raise RuntimeError(f"{stem}: unexpected mlir-runner output:\n{out[:2000]}")
    counts = np.array(blocks[0], np.int64)
    new_bias = np.array(blocks[1], np.float64)
    indices = np.array(blocks[2], np.int64).reshape(t, k)
    weights = np.array(blocks[3], np.float64).reshape(t, k)
    samples = [[float(s) * 1e3 for s in block] for block in blocks[4:]]
    return counts, new_bias, indices, weights, samples
