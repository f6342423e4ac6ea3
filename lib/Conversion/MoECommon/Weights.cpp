//===- Weights.cpp - moe.normalize and the gate weights -------------------===//
//
// The gate weights of the chosen experts, written once: moe.normalize, and
// the weight that moe.route stores for each winner.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/MoECommon/Algorithms.h"

#include "moe/Conversion/MoECommon/Builders.h"
#include "moe/Conversion/MoECommon/RoutingMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace mlir::moe;

Value mlir::moe::emitGateWeight(ImplicitLocOpBuilder &b, Value w, Value sum,
                                bool normalize, const APFloat &scale) {
  Value scaleValue = emitF32Like(b, w, scale.convertToFloat());
  if (normalize)
    return emitNormalizedWeight(b, w, sum, scaleValue);
  if (scale.isExactlyValue(1.0))
    return w;
  return arith::MulFOp::create(b, scaleValue, w);
}

void mlir::moe::emitNormalize(ImplicitLocOpBuilder &b,
                              const LoweringTarget &target,
                              BufferNormalizeOp op) {
  Value weights = op.getWeights();
  Value k = dimOf(b, weights, 1);
  target.forEachItem(
      b, getKernelName(op), dimOf(b, weights, 0), ItemKind::Thread,
      [&](ImplicitLocOpBuilder &b, const ThreadGroup &group, Value t) {
        Value zero = constIndex(b, 0);
        Value sum =
            group
                .reduce(b, zero, k, ValueRange{emitF32(b, 0.0)},
                        {Reduction::AddF},
                        [&](ImplicitLocOpBuilder &b, Value j, ValueRange acc) {
                          return SmallVector<Value>{arith::AddFOp::create(
                              b, acc[0], load(b, weights, {t, j}))};
                        })
                .front();
        group.forEach(b, zero, k, [&](ImplicitLocOpBuilder &b, Value j) {
          Value w = load(b, weights, {t, j});
          store(b, emitGateWeight(b, w, sum, /*normalize=*/true, op.getScale()),
                op.getOutput(), {t, j});
        });
      });
}
