#!/usr/bin/env python3
"""Draws docs/balance.png: MaxVio_batch per step of examples/loss_free_balance.mlir
for several update rules and rates, and without the bias.

Each variant is the example with the rule and rate of its moe.update_bias
rewritten, lowered with --moe-lower-to-cpu and run by mlir-runner.
Usage: scripts/plot_balance.py [--build build] [--out docs/balance.png]
"""

import argparse
import concurrent.futures
import os
import subprocess
import sys

try:
    import matplotlib
except ImportError:
    # A python3 first on PATH (pyenv, a venv) may lack Debian's
    # python3-matplotlib: run again with the system interpreter.
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("plot_balance: needs matplotlib (apt-get install python3-matplotlib)")

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LLVM = "/usr/lib/llvm-22"
EXAMPLE = os.path.join(ROOT, "examples", "loss_free_balance.mlir")
UPDATE = "moe.update_bias sign %bias, %c {rate = 1.0e-03 : f32}"

# (label, rule, rate). The linear rule moves by rate * (mean - load) with the
# load in tokens (a mean of 1536 here), so its rates are ~1000x smaller for a
# comparable step.
VARIANTS = [
    ("sign, rate 1e-4", "sign", "1.0e-04"),
    ("sign, rate 1e-3 (the paper's)", "sign", "1.0e-03"),
    ("sign, rate 1e-2", "sign", "1.0e-02"),
    ("linear, rate 1e-5", "linear", "1.0e-05"),
]


def run_variant(build, rule, rate):
    """Returns [(step, maxvio_with_bias, maxvio_without)] for one variant."""
    text = open(EXAMPLE).read()
    if UPDATE not in text:
        sys.exit("plot_balance: the example's update op changed; update UPDATE")
    text = text.replace(UPDATE, f"moe.update_bias {rule} %bias, %c {{rate = {rate} : f32}}")
    lowered = subprocess.run(
        [os.path.join(build, "bin", "moe-opt"), "-", "--moe-lower-to-cpu"],
        input=text, capture_output=True, text=True, check=True).stdout
    libs = ",".join(os.path.join(LLVM, "lib", name) for name in
                    ("libmlir_runner_utils.so", "libmlir_c_runner_utils.so"))
    out = subprocess.run(
        [os.path.join(LLVM, "bin", "mlir-runner"), "-e", "main", "-O3",
         "--entry-point-result=void", f"--shared-libs={libs}"],
        input=lowered, capture_output=True, text=True, check=True).stdout
    return [tuple(float(v) for v in line.split(",")) for line in out.splitlines() if line]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=os.path.join(ROOT, "build"))
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "balance.png"))
    args = parser.parse_args()

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(run_variant, args.build, rule, rate)
                   for _, rule, rate in VARIANTS]
        results = [f.result() for f in futures]

    fig, ax = plt.subplots(figsize=(9, 5))
    steps = [r[0] for r in results[0]]
    ax.plot(steps, [r[2] for r in results[0]], color="black", linestyle=":",
            label="no bias")
    for (label, _, _), rows in zip(VARIANTS, results):
        ax.plot([r[0] for r in rows], [r[1] for r in rows], label=label)
    ax.axhline(0.2, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xlabel("training step (16384 tokens, 64 experts, top-6)")
    ax.set_ylabel("MaxVio_batch")
    ax.set_yscale("log")
    ax.set_title("Auxiliary-loss-free balancing of a drifting, skewed router")
    ax.legend(loc="center right")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)

    for (label, _, _), rows in zip(VARIANTS, results):
        tail = [r[1] for r in rows[-50:]]
        print(f"{label:32s} step 0: {rows[0][1]:.3f}  last 50 steps: "
              f"mean {sum(tail) / len(tail):.3f}, max {max(tail):.3f}")
    print(f"{'no bias':32s} last 50 steps: mean "
          f"{sum(r[2] for r in results[0][-50:]) / 50:.3f}")


if __name__ == "__main__":
    main()
