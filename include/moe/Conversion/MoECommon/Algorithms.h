//===- Algorithms.h - moe op algorithms, written once -----------*- C++ -*-===//
//
// The algorithm of each memref-level moe op that both lowerings share,
// written against LoweringTarget (Target.h): the CPU and GPU lowerings differ
// only in the target they pass. Selection (topk, route) is target-specific
// and lives with each lowering; the steps it shares are here too.
//
//===----------------------------------------------------------------------===//
#ifndef MOE_CONVERSION_MOECOMMON_ALGORITHMS_H
#define MOE_CONVERSION_MOECOMMON_ALGORITHMS_H

#include "moe/Conversion/MoECommon/Target.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/PatternMatch.h"

#include <memory>

namespace mlir::moe {

//===----------------------------------------------------------------------===//
// Op algorithms (balance: load, update_bias, imbalance)
//===----------------------------------------------------------------------===//

void emitLoad(ImplicitLocOpBuilder &b, const LoweringTarget &target,
              BufferLoadOp op);
void emitUpdateBias(ImplicitLocOpBuilder &b, const LoweringTarget &target,
                    BufferUpdateBiasOp op);
/// Writes MaxVio to element 0 of `result`, a memref<1xf32> scratch buffer.
void emitImbalance(ImplicitLocOpBuilder &b, const LoweringTarget &target,
                   BufferImbalanceOp op, Value result);

//===----------------------------------------------------------------------===//
// Op algorithms (routing weights: normalize)
//===----------------------------------------------------------------------===//

void emitNormalize(ImplicitLocOpBuilder &b, const LoweringTarget &target,
                   BufferNormalizeOp op);

/// The gate weight of a chosen expert from its unbiased score `w` (f32 scalar
/// or vector): `scale * w / sum` with `normalize` (0 where sum is 0), else
/// `scale * w` (just `w` for scale 1). `sum` has the shape of `w`.
Value emitGateWeight(ImplicitLocOpBuilder &b, Value w, Value sum,
                     bool normalize, const APFloat &scale);

//===----------------------------------------------------------------------===//
// Op algorithms (token movement: dispatch, permute, combine)
//===----------------------------------------------------------------------===//

void emitDispatch(ImplicitLocOpBuilder &b, const LoweringTarget &target,
                  BufferDispatchOp op);
void emitPermute(ImplicitLocOpBuilder &b, const LoweringTarget &target,
                 BufferPermuteOp op);
void emitCombine(ImplicitLocOpBuilder &b, const LoweringTarget &target,
                 BufferCombineOp op);

//===----------------------------------------------------------------------===//
// Patterns
//===----------------------------------------------------------------------===//

/// Adds one pattern per op above (load, update_bias, imbalance, normalize,
/// dispatch, permute, combine) that lowers it with `target`.
void populateSharedLoweringPatterns(RewritePatternSet &patterns,
                                    std::shared_ptr<const LoweringTarget> target);

/// The name of the op a user wrote for a memref-level op (`moe.route` for
/// `moe.buffer.route`), for diagnostics.
std::string getUserOpName(Operation *op);

/// Fails, with a diagnostic at each, when `root` holds moe ops on tensors:
/// `pass` lowers the memref forms that bufferization makes.
LogicalResult checkBufferized(Operation *root, StringRef pass,
                              StringRef pipeline);

} // namespace mlir::moe

#endif // MOE_CONVERSION_MOECOMMON_ALGORITHMS_H
