"""Checks the printed result of elementwise.mlir against NumPy.

usage: check_elementwise.py < OUTPUT

The program computes tanh(x * h) on 12x32 f32 tensors with
x[i, j] = (32 i + j) / 100 - 1.9 and h[i, j] = 0.5 + (i - j) / 32; the same
values are computed here in f32 with NumPy and compared with what
printMemrefF32 printed (6 significant digits).
"""

import re
import sys

import numpy as np

text = sys.stdin.read()
match = re.search(r"sizes = \[12, 32\] strides = \[32, 1\] data =\s*(.*)", text,
                  re.S)
if not match:
    sys.exit("no 12x32 memref in the output:\n" + text)
got = np.array([float(v) for v in re.findall(r"-?[0-9.]+(?:e[-+]?[0-9]+)?",
                                              match.group(1))][:12 * 32],
               dtype=np.float64).reshape(12, 32)

i, j = np.meshgrid(np.arange(12), np.arange(32), indexing="ij")
x = ((32 * i + j).astype(np.float32) / np.float32(100)) - np.float32(1.9)
h = np.float32(0.5) + (i - j).astype(np.float32) / np.float32(32)
want = np.tanh((x * h).astype(np.float32)).astype(np.float64)

error = np.abs(got - want)
worst = np.unravel_index(np.argmax(error), error.shape)
print("max abs error %.3g at %s: got %.7g, NumPy %.7g" %
      (error[worst], worst, got[worst], want[worst]))
print("min %.4f max %.4f" % (want.min(), want.max()))
if not np.allclose(got, want, rtol=2e-6, atol=2e-6):
    sys.exit("MISMATCH")
print("MATCH")
