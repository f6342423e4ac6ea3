//===- TrainingMath.h - training math shared by lowerings -------*- C++ -*-===//
//
// The per-element math of the training ops (moe.route_grad, moe.aux_loss,
// moe.aux_loss_grad, moe.route_aux_grad), emitted as arith/math ops and
// shared by the CPU (loops) and GPU (kernel) lowerings. Values are f32
// scalars or vectors of f32; a scalar operand next to vectors is broadcast.
//
//===----------------------------------------------------------------------===//
#ifndef MOE_CONVERSION_MOECOMMON_TRAININGMATH_H
#define MOE_CONVERSION_MOECOMMON_TRAININGMATH_H

#include "moe/Conversion/MoECommon/RoutingMath.h"

#include <optional>

namespace mlir::moe {

/// What a gradient lowering computes: the routing gradient (with `grad`),
/// the balance loss gradient (with `lossGrad`), or their sum; one
/// constructor per buffer op.
struct GradientSpec {
  explicit GradientSpec(BufferRouteGradOp op);
  explicit GradientSpec(BufferAuxLossGradOp op);
  explicit GradientSpec(BufferRouteAuxGradOp op);

  ScoreFunction function;
  Value logits, indices, output;
  // Routing gradient.
  Value grad;
  bool normalize = false;
  float scale = 1.0f;
  // Balance loss gradient.
  Value lossGrad;
  std::optional<int64_t> seqLen;
  bool auxNormalize = false;
};

/// d loss / d x from d loss / d s through the score function: ds * s * (1 -
/// s) (sigmoid), s * (ds - dot) (softmax, `dot` = sum_e ds[e] * s[e]) or ds *
/// sigmoid(x) / (2 s), 0 where s == 0 (sqrtsoftplus, which also needs the
/// logit `x`).
Value emitScoreBackward(ImplicitLocOpBuilder &b, ScoreFunction function,
                        Value ds, Value s, Value x, Value dot,
                        ExpKind exp = ExpKind::Library);

/// g_j of moe.route_grad for one pair: scale * (dw - dwDotW / sum) / sum
/// with `normalize` (0 when sum == 0), scale * dw without. `sum` is S, the
/// sum of the valid weights, and `dwDotW` = sum_k dw_k * w_k.
Value emitRouteWeightGrad(ImplicitLocOpBuilder &b, Value dw, Value dwDotW,
                          Value sum, Value scale, bool normalize);

/// The score gradient of the balance loss from dp, as ds[e] = dp[e] * mul -
/// sub, with `dot` = sum_e ds[e] * s[e] (for softmax's backward).
struct BalanceScoreGrad {
  Value mul, sub, dot;

  /// ds for dp (a scalar or vector).
  Value apply(ImplicitLocOpBuilder &b, Value dp) const;
};

/// With `normalize`, ds = (dp - <dp, s> / rowSum) / rowSum (0 when rowSum
/// == 0); ds = dp without. `rowSum` = sum_e s[e], `dpDotS` = sum_e dp[e] *
/// s[e].
BalanceScoreGrad emitBalanceScoreGrad(ImplicitLocOpBuilder &b, Value rowSum,
                                      Value dpDotS, bool normalize);

/// A token's term of the balance loss, sum_e f[e] * p[e], from `fDotS` =
/// sum_e f[e] * s[e]: divided by the row sum with `normalize` (0 when it is
/// 0).
Value emitBalanceLossTerm(ImplicitLocOpBuilder &b, Value fDotS, Value rowSum,
                          bool normalize);

/// The sequences of the balance loss: rows of L = seq_len (without it, T,
/// or 1 when T = 0), B = ceil(T / L) of them, the last possibly shorter.
struct Sequences {
  Value numTokens, length, count;

  Sequences(ImplicitLocOpBuilder &b, Value numTokens,
            std::optional<int64_t> seqLen);

  /// The rows [first, end) of sequence `seq`.
  std::pair<Value, Value> bounds(ImplicitLocOpBuilder &b, Value seq) const;
  /// The sequence of row `t`.
  Value of(ImplicitLocOpBuilder &b, Value t) const;
};

/// An index (a row or sequence count) as f32.
Value emitIndexToF32(ImplicitLocOpBuilder &b, Value index);

/// f[b, e] per count: E / (K * T_b), with `rows` = T_b in f32.
Value emitBalanceFraction(ImplicitLocOpBuilder &b, Value rows,
                          int64_t numExperts, int64_t k);

/// dp[t, e] per count for t in sequence b: dl * E / (K * T_b) / (B * T_b),
/// with `rows` = T_b and `numSequences` = B in f32.
Value emitBalanceGradCoefficient(ImplicitLocOpBuilder &b, Value lossGrad,
                                 Value rows, Value numSequences,
                                 int64_t numExperts, int64_t k);

/// The balance loss from the sum over sequences of their terms: total / B,
/// 0 when B == 0 (an index).
Value emitBalanceLoss(ImplicitLocOpBuilder &b, Value total, Value numSequences);

} // namespace mlir::moe

#endif // MOE_CONVERSION_MOECOMMON_TRAININGMATH_H
