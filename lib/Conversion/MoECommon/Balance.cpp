//===- Balance.cpp - moe.load, moe.update_bias, moe.imbalance -------------===//
//
// The load-balancing ops, written once against LoweringTarget.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/MoECommon/Algorithms.h"

#include "moe/Conversion/MoECommon/Builders.h"
#include "moe/Conversion/MoECommon/RoutingMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe;

void mlir::moe::emitLoad(ImplicitLocOpBuilder &b, const LoweringTarget &target,
                         BufferLoadOp op) {
  Value indices = op.getIndices();
  Value numExperts = constIndex(b, op.getNumExperts());
  Value k = dimOf(b, indices, 1);
  target.count(
      b, getKernelName(op), op.getCounts(), dimOf(b, indices, 0),
      [&](ImplicitLocOpBuilder &b, Value t, CountFn add) {
        auto countRow = [&](ImplicitLocOpBuilder &b) {
          emitFor(b, 0, k, [&](ImplicitLocOpBuilder &b, Value j) {
            Value e = load(b, indices, {t, j});
            emitIf(b, emitInRange(b, e, numExperts),
                   [&](ImplicitLocOpBuilder &b) {
                     add(b, castIndex(b, b.getIndexType(), e));
                   });
          });
        };
        if (op.getMask())
          emitIf(b, load(b, op.getMask(), t), countRow);
        else
          countRow(b);
      });
}

namespace {

/// The sum (as f32; integers summed exactly in i64) and the maximum (f32) of
/// the row `prefix` of a load buffer, computed by a thread group.
std::pair<Value, Value> emitLoadSumMax(ImplicitLocOpBuilder &b,
                                       const ThreadGroup &group, Value loads,
                                       ValueRange prefix, int64_t numExperts) {
  Type type = elementTypeOf(loads);
  bool isFloat = isa<FloatType>(type);
  Value zero = isFloat ? emitF32(b, 0.0)
                       : arith::ConstantIntOp::create(b, b.getI64Type(), 0);
  Value negInf = emitF32(b, -std::numeric_limits<double>::infinity());
  SmallVector<Value> sumMax = group.reduce(
      b, constIndex(b, 0), constIndex(b, numExperts), ValueRange{zero, negInf},
      {isFloat ? Reduction::AddF : Reduction::AddI, Reduction::MaxF},
      [&](ImplicitLocOpBuilder &b, Value e, ValueRange acc) {
        SmallVector<Value> at(prefix);
        at.push_back(e);
        Value c = load(b, loads, at);
        Value wide = c;
        if (!isFloat && !type.isInteger(64))
          wide = arith::ExtSIOp::create(b, b.getI64Type(), c);
        return SmallVector<Value>{
            emitReductionStep(b, isFloat ? Reduction::AddF : Reduction::AddI,
                              acc[0], wide),
            emitReductionStep(b, Reduction::MaxF, acc[1], emitToF32(b, c))};
      });
  return {emitToF32(b, sumMax[0]), sumMax[1]};
}

} // namespace

void mlir::moe::emitUpdateBias(ImplicitLocOpBuilder &b,
                               const LoweringTarget &target,
                               BufferUpdateBiasOp op) {
  MemRefType biasType = op.getBias().getType();
  int64_t numExperts = biasType.getShape().back();
  bool batched = biasType.getRank() == 2;
  Value numRows = batched ? dimOf(b, op.getBias(), 0) : constIndex(b, 1);
  target.forEachItem(
      b, getKernelName(op), numRows, ItemKind::Block,
      [&](ImplicitLocOpBuilder &b, const ThreadGroup &group, Value row) {
        SmallVector<Value> prefix;
        if (batched)
          prefix.push_back(row);
        auto at = [&](Value e) {
          SmallVector<Value> indices(prefix);
          indices.push_back(e);
          return indices;
        };
        Value numExpertsF = emitF32(b, static_cast<double>(numExperts));
        Value sum =
            emitLoadSumMax(b, group, op.getLoad(), prefix, numExperts).first;
        Value mean = arith::DivFOp::create(b, sum, numExpertsF);
        Value rate = emitF32(b, op.getRate().convertToFloat());
        auto deltaOf = [&](ImplicitLocOpBuilder &b, Value e) -> Value {
          return emitBiasDelta(b, op.getRule(), rate, mean,
                               load(b, op.getLoad(), at(e)));
        };
        Value meanDelta;
        if (op.getCenter()) {
          Value deltaSum =
              group
                  .reduce(b, constIndex(b, 0), constIndex(b, numExperts),
                          ValueRange{emitF32(b, 0.0)}, {Reduction::AddF},
                          [&](ImplicitLocOpBuilder &b, Value e,
                              ValueRange acc) {
                            return SmallVector<Value>{
                                arith::AddFOp::create(b, acc[0],
                                                      deltaOf(b, e))};
                          })
                  .front();
          meanDelta = arith::DivFOp::create(b, deltaSum, numExpertsF);
        }
        group.forEach(b, constIndex(b, 0), constIndex(b, numExperts),
                      [&](ImplicitLocOpBuilder &b, Value e) {
                        Value delta = deltaOf(b, e);
                        if (meanDelta)
                          delta = arith::SubFOp::create(b, delta, meanDelta);
                        Value bias = load(b, op.getBias(), at(e));
                        store(b, arith::AddFOp::create(b, bias, delta),
                              op.getOutput(), at(e));
                      });
      });
}

void mlir::moe::emitImbalance(ImplicitLocOpBuilder &b,
                              const LoweringTarget &target,
                              BufferImbalanceOp op, Value result) {
  int64_t numExperts = op.getLoad().getType().getDimSize(0);
  target.forEachItem(
      b, getKernelName(op), constIndex(b, 1), ItemKind::Block,
      [&](ImplicitLocOpBuilder &b, const ThreadGroup &group, Value) {
        auto [sum, max] =
            emitLoadSumMax(b, group, op.getLoad(), {}, numExperts);
        Value vio = emitMaxVio(b, sum, max, numExperts);
        group.single(b, [&](ImplicitLocOpBuilder &b) {
          store(b, vio, result, constIndex(b, 0));
        });
      });
}
