//===- TrainingMath.cpp - training math shared by lowerings ---------------===//

#include "moe/Conversion/MoECommon/TrainingMath.h"

#include "moe/Conversion/MoECommon/Builders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::moe;

GradientSpec::GradientSpec(BufferRouteGradOp op)
    : function(op.getFunction()), logits(op.getLogits()),
      indices(op.getIndices()), output(op.getOutput()), grad(op.getGrad()),
      normalize(op.getNormalize()), scale(op.getScale().convertToFloat()) {}

GradientSpec::GradientSpec(BufferAuxLossGradOp op)
    : function(op.getFunction()), logits(op.getLogits()),
      indices(op.getIndices()), output(op.getOutput()),
      lossGrad(op.getLossGrad()), seqLen(op.getSeqLen()),
      auxNormalize(op.getNormalize()) {}

GradientSpec::GradientSpec(BufferRouteAuxGradOp op)
    : function(op.getFunction()), logits(op.getLogits()),
      indices(op.getIndices()), output(op.getOutput()), grad(op.getGrad()),
      normalize(op.getNormalize()), scale(op.getScale().convertToFloat()),
      lossGrad(op.getLossGrad()), seqLen(op.getSeqLen()),
      auxNormalize(op.getAuxNormalize()) {}

/// `scalar` broadcast to the shape of `like` (itself when `like` is scalar).
static Value broadcastLike(ImplicitLocOpBuilder &b, Value scalar, Value like) {
  auto vector = dyn_cast<VectorType>(like.getType());
  if (!vector || isa<VectorType>(scalar.getType()))
    return scalar;
  return vector::BroadcastOp::create(b, vector, scalar);
}

/// 0 where `x` == 0, `value` elsewhere.
static Value zeroWhereZero(ImplicitLocOpBuilder &b, Value x, Value value) {
  Value zero = emitF32Like(b, x, 0.0);
  Value isZero = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, x, zero);
  return arith::SelectOp::create(b, isZero, emitF32Like(b, value, 0.0), value);
}

Value mlir::moe::emitScoreBackward(ImplicitLocOpBuilder &b,
                                   ScoreFunction function, Value ds, Value s,
                                   Value x, Value dot, ExpKind exp) {
  switch (function) {
  case ScoreFunction::sigmoid:
    // ds * s * (1 - s).
    return arith::MulFOp::create(
        b, arith::MulFOp::create(b, ds, s),
        arith::SubFOp::create(b, emitF32Like(b, s, 1.0), s));
  case ScoreFunction::softmax:
    // s * (ds - sum_e' ds[e'] * s[e']).
    return arith::MulFOp::create(
        b, s, arith::SubFOp::create(b, ds, broadcastLike(b, dot, ds)));
  case ScoreFunction::sqrtsoftplus: {
    // ds * sigmoid(x) / (2 s), 0 where s == 0.
    Value sigmoid = emitScore(b, ScoreFunction::sigmoid, x, {}, exp);
    Value grad = arith::DivFOp::create(b, arith::MulFOp::create(b, ds, sigmoid),
                                       arith::AddFOp::create(b, s, s));
    return zeroWhereZero(b, s, grad);
  }
  }
  llvm_unreachable("unknown score function");
}

Value mlir::moe::emitRouteWeightGrad(ImplicitLocOpBuilder &b, Value dw,
                                     Value dwDotW, Value sum, Value scale,
                                     bool normalize) {
  if (!normalize)
    return arith::MulFOp::create(b, scale, dw);
  // scale * (dw - <dw, w> / S) / S; the row is 0 when S == 0.
  Value q = arith::DivFOp::create(b, dwDotW, sum);
  Value g = arith::DivFOp::create(
      b, arith::MulFOp::create(b, scale, arith::SubFOp::create(b, dw, q)), sum);
  return zeroWhereZero(b, sum, g);
}

Value BalanceScoreGrad::apply(ImplicitLocOpBuilder &b, Value dp) const {
  return arith::SubFOp::create(
      b, arith::MulFOp::create(b, dp, broadcastLike(b, mul, dp)),
      broadcastLike(b, sub, dp));
}

BalanceScoreGrad mlir::moe::emitBalanceScoreGrad(ImplicitLocOpBuilder &b,
                                                 Value rowSum, Value dpDotS,
                                                 bool normalize) {
  if (!normalize)
    return {emitF32(b, 1.0), emitF32(b, 0.0), dpDotS};
  // ds = dp / rowSum - q / rowSum with q = <dp, s> / rowSum, and
  // <ds, s> = (<dp, s> - q * rowSum) / rowSum.
  Value inverse = zeroWhereZero(
      b, rowSum, arith::DivFOp::create(b, emitF32(b, 1.0), rowSum));
  Value q = arith::MulFOp::create(b, dpDotS, inverse);
  Value dot = arith::MulFOp::create(
      b, arith::SubFOp::create(b, dpDotS, arith::MulFOp::create(b, q, rowSum)),
      inverse);
  return {inverse, arith::MulFOp::create(b, q, inverse), dot};
}

Value mlir::moe::emitBalanceLossTerm(ImplicitLocOpBuilder &b, Value fDotS,
                                     Value rowSum, bool normalize) {
  if (!normalize)
    return fDotS;
  // p = s / rowSum, 0 where the row sum is 0.
  return zeroWhereZero(b, rowSum, arith::DivFOp::create(b, fDotS, rowSum));
}

Sequences::Sequences(ImplicitLocOpBuilder &b, Value numTokens,
                     std::optional<int64_t> seqLen)
    : numTokens(numTokens) {
  length = seqLen
               ? constIndex(b, *seqLen)
               : Value(arith::MaxUIOp::create(b, numTokens, constIndex(b, 1)));
  count = arith::CeilDivUIOp::create(b, numTokens, length);
}

std::pair<Value, Value> Sequences::bounds(ImplicitLocOpBuilder &b,
                                          Value seq) const {
  Value first = arith::MulIOp::create(b, seq, length);
  Value end = arith::MinUIOp::create(b, arith::AddIOp::create(b, first, length),
                                     numTokens);
  return {first, end};
}

Value Sequences::of(ImplicitLocOpBuilder &b, Value t) const {
  return arith::DivUIOp::create(b, t, length);
}

Value mlir::moe::emitIndexToF32(ImplicitLocOpBuilder &b, Value index) {
  return arith::UIToFPOp::create(b, b.getF32Type(),
                                 castIndex(b, b.getI64Type(), index));
}

Value mlir::moe::emitBalanceFraction(ImplicitLocOpBuilder &b, Value rows,
                                     int64_t numExperts, int64_t k) {
  return arith::DivFOp::create(
      b, emitF32(b, static_cast<double>(numExperts)),
      arith::MulFOp::create(b, emitF32(b, static_cast<double>(k)), rows));
}

Value mlir::moe::emitBalanceGradCoefficient(ImplicitLocOpBuilder &b,
                                            Value lossGrad, Value rows,
                                            Value numSequences,
                                            int64_t numExperts, int64_t k) {
  Value f = arith::DivFOp::create(
      b,
      arith::MulFOp::create(b, lossGrad,
                            emitF32(b, static_cast<double>(numExperts))),
      arith::MulFOp::create(b, emitF32(b, static_cast<double>(k)), rows));
  return arith::DivFOp::create(b, f,
                               arith::MulFOp::create(b, numSequences, rows));
}

Value mlir::moe::emitBalanceLoss(ImplicitLocOpBuilder &b, Value total,
                                 Value numSequences) {
  Value empty = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, numSequences,
                                      constIndex(b, 0));
  return arith::SelectOp::create(
      b, empty, emitF32(b, 0.0),
      arith::DivFOp::create(b, total, emitIndexToF32(b, numSequences)));
}
