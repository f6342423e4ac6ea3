#!/usr/bin/env python3
"""Harness of the training step of docs/training.md (training-step.mlir).

    training_step.py gen DOC     the step's MLIR block of DOC plus a @main
                                 that runs it on fixed inputs and prints
                                 every result
    training_step.py check FILE  compares the printed results ('-': stdin)
                                 with the NumPy reference (moe_ref.py for
                                 routing and the bias update,
                                 moe_ref_train.py for the loss and the
                                 gradients); exit 0 when all match
"""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "ref"))
import moe_ref  # noqa: E402  (re-executes with /usr/bin/python3 without numpy)
import moe_ref_train as ref  # noqa: E402

np = moe_ref.np
F32 = moe_ref.F32
T, H, E, K, SEQ_LEN = 32, 16, 8, 2, 8
SCALE, ALPHA, LR, RATE = 2.5, 1e-4, 0.5, 1e-3


def inputs():
    rng = moe_ref.rng_for(1212)
    h = rng.normal(0.0, 1.0, size=(T, H)).astype(F32)
    wr = rng.normal(0.0, 0.5, size=(H, E)).astype(F32)
    bias = rng.normal(0.0, 0.05, size=E).astype(F32)
    dw = rng.normal(0.0, 1.0, size=(T, K)).astype(F32)
    return h, wr, bias, dw


def expected():
    """(name, value, element type) of every result of @train_step."""
    h, wr, bias, dw = inputs()
    # The compiled matmul sums in f32 in its own order: the logits agree to
    # a few ulps, far below the key gaps that decide the top-2 here.
    x = (h.astype(np.float64) @ wr.astype(np.float64)).astype(F32)
    _, idx, counts = moe_ref.ref_route(x, "sigmoid", bias, K, normalize=True,
                                       scale=SCALE)
    loss = ref.aux_loss(x, "sigmoid", idx, SEQ_LEN, True)
    dx = (ref.route_grad(x, "sigmoid", idx, dw, True, SCALE)
          + ref.aux_loss_grad(x, "sigmoid", idx, ALPHA, SEQ_LEN, True))
    dwr = h.astype(np.float64).T @ dx
    return [("wr2", wr - LR * dwr, "f32"),
            ("bias2", moe_ref.ref_update_bias(bias, counts, "sign", RATE), "f32"),
            ("loss", np.asarray(loss), "f32"),
            ("dwr", dwr, "f32"),
            ("indices", idx, "i32")]


def gen(doc):
    with open(doc) as f:
        text = f.read()
    blocks = re.findall(r"```mlir\n(.*?)```", text, re.S)
    step = [b for b in blocks if "func.func @train_step" in b]
    if len(step) != 1:
        sys.exit("%s: expected one ```mlir block with @train_step" % doc)
    h, wr, bias, dw = inputs()

    def const(name, value, ty):
        return ("    %%%s = arith.constant dense<%s>\n      : %s"
                % (name, moe_ref.fmt_dense(value, "f32"), ty))

    out = ["// The training step of docs/training.md on fixed inputs.",
           "module {",
           "  func.func private @printMemrefF32(memref<*xf32>)",
           "  func.func private @printMemrefI32(memref<*xi32>)",
           step[0],
           "  func.func @main() {",
           const("hs", h, "tensor<%dx%dxf32>" % (T, H)),
           const("wr", wr, "tensor<%dx%dxf32>" % (H, E)),
           const("bias", bias, "tensor<%dxf32>" % E),
           const("dws", dw, "tensor<%dx%dxf32>" % (T, K)),
           "    %%h = tensor.cast %%hs : tensor<%dx%dxf32> to tensor<?x%dxf32>" % (T, H, H),
           "    %%dw = tensor.cast %%dws : tensor<%dx%dxf32> to tensor<?x%dxf32>" % (T, K, K)]
    out.append("    %r:5 = call @train_step(%h, %wr, %bias, %dw) : (tensor<?x16xf32>, "
               "tensor<16x8xf32>, tensor<8xf32>, tensor<?x2xf32>) -> (tensor<16x8xf32>, "
               "tensor<8xf32>, tensor<f32>, tensor<16x8xf32>, tensor<?x2xi32>)")
    types = ["16x8xf32", "8xf32", "f32", "16x8xf32", "?x2xi32"]
    for q, ty in enumerate(types):
        fn = "I32" if ty.endswith("i32") else "F32"
        out.append("    %%m%d = bufferization.to_buffer %%r#%d : tensor<%s> to memref<%s>"
                   % (q, q, ty, ty))
        out.append("    %%u%d = memref.cast %%m%d : memref<%s> to memref<*x%s>"
                   % (q, q, ty, fn.lower()))
        out.append("    call @printMemref%s(%%u%d) : (memref<*x%s>) -> ()"
                   % (fn, q, fn.lower()))
    out += ["    return", "  }", "}"]
    sys.stdout.write("\n".join(out) + "\n")


def check(path):
    text = sys.stdin.read() if path == "-" else open(path).read()
    kernel = moe_ref.Kernel("training_step", "docs/training.md")
    for name, value, elem in expected():
        kernel.results.append(moe_ref.Val("%" + name, value, elem))
    ok, report = moe_ref.compare(kernel, text)
    print("training_step: %s" % ("PASS" if ok else "FAIL"))
    print("\n".join(report))
    return 0 if ok else 1


def main(argv):
    if len(argv) == 2 and argv[0] == "gen":
        gen(argv[1])
        return 0
    if len(argv) == 2 and argv[0] == "check":
        return check(argv[1])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
