//===- Passes.td - moe conversion passes -------------------*- tablegen -*-===//
#ifndef MOE_CONVERSION_PASSES_TD
#define MOE_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertMoEToLoops : Pass<"convert-moe-to-loops"> {
  let summary = "Lower moe.buffer ops to scf, arith, math and memref loops";
  let description = [{
    Lowers every memref-level `moe.buffer.*` op (as produced by one-shot
    bufferization of the tensor ops) to sequential loops over tokens. Top-K
    keeps the K best (key, index) pairs of a token in a small stack buffer
    and makes one pass over the token's E keys: no sort and no [T, E]
    temporary. Group-limited selection skips the experts of excluded groups.
    Runtime data never makes the code read or write out of bounds: indices
    outside [0, E) (or token ids outside [0, T), slots outside [0, P)) are
    skipped.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect"
  ];
}

def ConvertMoEToGPU : Pass<"convert-moe-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Lower moe.buffer ops to gpu dialect kernels";
  let description = [{
    Outlines every memref-level `moe.buffer.*` op into a `gpu.func` kernel
    of a `gpu.module` and replaces it with a `gpu.launch_func`. The buffers
    must be reachable from the device (the `--moe-lower-to-nvvm` pipeline
    copies host buffers to device memory around the launches).
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect"
  ];
}

#endif // MOE_CONVERSION_PASSES_TD
