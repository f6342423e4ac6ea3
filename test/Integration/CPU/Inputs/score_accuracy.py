"""Accuracy of the CPU lowering's score functions, in units in the last place.

Lowers moe.buffer.score for each score function over a sweep of f32 logits
(--moe-lower-to-cpu), runs it with mlir-runner, reads the results back as
their bit patterns (an i32 view of the same bytes, so nothing is lost to
printing) and compares them with the function computed in float64 by NumPy
and rounded to f32. Prints the largest error of each function and exits 1 if
one passes its bound (--max-ulp FUNCTION=N).

Distances are counted in representable f32 values between the result and the
rounded reference. Where the reference is below the smallest normal f32
(sigmoid of x < -87.3), a result within that smallest normal of it counts as
exact: the lowering flushes e = exp(-|x|) to 0 there.
"""

import argparse
import subprocess
import sys

import numpy as np

F32 = np.float32
ROW = 256


def sweep():
    """Rows of ROW logits: a wide range, a dense one around 0, values just
    inside and outside the exp's clamp, tiny magnitudes, and the specials."""
    parts = [
        np.linspace(-100.0, 100.0, 8 * ROW),
        np.linspace(-12.0, 12.0, 16 * ROW),
        np.linspace(-0.05, 0.05, 4 * ROW),
        np.concatenate([s * (87.3365 + np.arange(-64, 64) * 1e-3) for s in (-1, 1)]),
        np.concatenate([s * np.logspace(-30, -1, 128) for s in (-1, 1)]),
        np.array([0.0, -0.0, np.inf, -np.inf, np.nan]),
    ]
    x = np.concatenate(parts).astype(F32)
    rows = -(-x.size // ROW)
    # Padding repeats the first logits: every value is a real case.
    return np.resize(x, rows * ROW).reshape(rows, ROW)


def reference(fn, x):
    x64 = x.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        if fn == "sigmoid":
            return (1.0 / (1.0 + np.exp(-x64))).astype(F32)
        if fn == "softmax":
            # Rows with an infinity or a NaN are NaN rows here (inf - inf);
            # they are left out (see compared()).
            e = np.exp(x64 - x64.max(axis=1, keepdims=True))
            return (e / e.sum(axis=1, keepdims=True)).astype(F32)
        if fn == "sqrtsoftplus":
            sp = np.maximum(x64, 0.0) + np.log1p(np.exp(-np.abs(x64)))
            return np.sqrt(sp).astype(F32)
    raise ValueError(fn)


def compared(fn, x):
    """The results that are compared: for softmax, the rows of finite logits
    (a row's sum is the lowering's business for the others)."""
    if fn == "softmax":
        return np.broadcast_to(np.isfinite(x).all(axis=1, keepdims=True), x.shape)
    return np.ones(x.shape, bool)


def dense(array):
    return f'dense<"0x{array.tobytes().hex().upper()}">'


def program(fn, x):
    rows, cols = x.shape
    shape = f"{rows}x{cols}"
    size = x.size * 4
    return f"""
memref.global "private" constant @logits : memref<{shape}xf32> = {dense(x)} {{alignment = 64}}
func.func private @printMemrefI32(memref<*xi32>)
func.func @main() {{
  %c0 = arith.constant 0 : index
  %x = memref.get_global @logits : memref<{shape}xf32>
  %bytes = memref.alloca() {{alignment = 64}} : memref<{size}xi8>
  %s = memref.view %bytes[%c0][] : memref<{size}xi8> to memref<{shape}xf32>
  %bits = memref.view %bytes[%c0][] : memref<{size}xi8> to memref<{shape}xi32>
  moe.buffer.score {fn} ins(%x : memref<{shape}xf32>) outs(%s : memref<{shape}xf32>)
  %u = memref.cast %bits : memref<{shape}xi32> to memref<*xi32>
  call @printMemrefI32(%u) : (memref<*xi32>) -> ()
  return
}}
"""


def run(args, fn, x):
    lowered = subprocess.run([args.moe_opt, "--moe-lower-to-cpu"], input=program(fn, x),
                             capture_output=True, text=True, check=True).stdout
    out = subprocess.run([args.runner, "-e", "main", "--entry-point-result=void",
                          f"--shared-libs={args.runner_libs}"], input=lowered,
                         capture_output=True, text=True, check=True).stdout
    body = out[out.index("data =") + len("data ="):]
    digits = body.replace("[", " ").replace("]", " ").replace(",", " ").split()
    return np.array([int(d) for d in digits], np.int64).astype(np.int32).view(F32).reshape(x.shape)


def ulps(got, want):
    """Representable f32 values between got and want (NaN: 0 if both are)."""
    order = lambda v: np.where(v.view(np.int32) < 0,  # noqa: E731
                               np.int64(-2 ** 31) - v.view(np.int32).astype(np.int64),
                               v.view(np.int32).astype(np.int64))
    both_nan = np.isnan(got) & np.isnan(want)
    one_nan = np.isnan(got) ^ np.isnan(want)
    d = np.abs(order(got) - order(want))
    d = np.where(both_nan, 0, d)
    return np.where(one_nan, np.iinfo(np.int64).max, d)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moe-opt", required=True)
    parser.add_argument("--runner", required=True)
    parser.add_argument("--runner-libs", required=True)
    parser.add_argument("--max-ulp", action="append", default=[], metavar="FUNCTION=N")
    args = parser.parse_args()
    bounds = {k: int(v) for k, v in (b.split("=") for b in args.max_ulp)}
    x = sweep()
    failed = False
    for fn, bound in bounds.items():
        got, want = run(args, fn, x), reference(fn, x)
        d = ulps(got, want)
        tiny = np.abs(want) < np.finfo(F32).tiny
        with np.errstate(invalid="ignore"):
            d = np.where(tiny & (np.abs(got - want) <= np.finfo(F32).tiny), 0, d)
        d = np.where(compared(fn, x), d, 0)
        worst = np.unravel_index(np.argmax(d), d.shape)
        ok = d.max() <= bound
        failed |= not ok
        print(f"{fn}: {'within' if ok else 'OVER'} {bound} ulp over {x.size} logits "
              f"(max {d.max()} at x = {x[worst]!r}: got {got[worst]!r}, "
              f"want {want[worst]!r})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
