//===- Passes.h - moe conversion passes -------------------------*- C++ -*-===//
#ifndef MOE_CONVERSION_PASSES_H
#define MOE_CONVERSION_PASSES_H

#include "mlir/Pass/Pass.h"
#include "moe/Conversion/NVVMToEmulator/NVVMToEmulator.h"

namespace mlir {
class RewritePatternSet;
namespace moe {

#define GEN_PASS_DECL
#include "moe/Conversion/Passes.h.inc"

/// Patterns lowering each `moe.buffer.*` op to loops (one pattern per op).
/// With `parallel`, the token loops are scf.parallel loops (see
/// --convert-moe-to-loops).
void populateMoEToLoopsPatterns(RewritePatternSet &patterns,
                                bool parallel = false);

/// Patterns lowering each `moe.buffer.*` op to gpu.launch kernels (one
/// pattern per op); the buffers must be device memory. With `redux`, the
/// warp arg-max of the selection uses `gpu.subgroup_reduce` on integer rank
/// images (redux.sync: sm_80 and later, convert-gpu-to-nvvm{has-redux});
/// without it, xor shuffles.
void populateMoEToGPUPatterns(RewritePatternSet &patterns,
                              int64_t warpsPerBlock = 4, bool redux = true);

#define GEN_PASS_REGISTRATION
#include "moe/Conversion/Passes.h.inc"

} // namespace moe
} // namespace mlir

#endif // MOE_CONVERSION_PASSES_H
