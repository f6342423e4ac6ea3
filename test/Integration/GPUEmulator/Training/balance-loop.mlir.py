"""Compares the CPU and GPU-emulator MaxVio trajectories of balance-loop.mlir."""
import sys


def rows(path):
    with open(path) as f:
        return [[float(v) for v in line.split(",")] for line in f if line.strip()]


cpu, gpu = rows(sys.argv[1]), rows(sys.argv[2])
assert len(cpu) == len(gpu) == 60, (len(cpu), len(gpu))
for c, g in zip(cpu, gpu):
    assert c[0] == g[0], (c, g)
    for a, b in zip(c[1:], g[1:]):
        assert abs(a - b) <= 0.05, ("step %d: cpu %s, gpu %s" % (c[0], c, g))
first, last = gpu[0], gpu[-1]
assert last[1] < 0.75 * first[1], ("the bias did not lower MaxVio", first, last)
assert last[2] > 2.5, ("without the bias MaxVio should stay high", last)
print("balance loop: GPU emulator matches the CPU over %d steps; MaxVio %.3f -> %.3f "
      "with the bias, %.3f without" % (len(gpu), first[1], last[1], last[2]))
