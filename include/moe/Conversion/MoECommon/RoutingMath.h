//===- RoutingMath.h - scalar routing math shared by lowerings --*- C++ -*-===//
//
// The scalar pieces of moe semantics, emitted as arith/math ops, shared by
// the CPU (loops) and GPU (kernel) lowerings so both compute the same thing.
//
//===----------------------------------------------------------------------===//
#ifndef MOE_CONVERSION_MOECOMMON_ROUTINGMATH_H
#define MOE_CONVERSION_MOECOMMON_ROUTINGMATH_H

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <cstdint>
#include <limits>

namespace mlir::moe {

/// Converts an f16/bf16/f32 value or a signed integer to f32.
Value emitToF32(ImplicitLocOpBuilder &b, Value value);

/// True when key `a` ranks strictly above key `b`, where `a` belongs to the
/// higher index: a > b, or b is NaN and a is not. Equal keys keep the lower
/// index first; NaN ranks below every number.
Value emitRanksAbove(ImplicitLocOpBuilder &b, Value a, Value b2);

/// Whether group `g` (an index) of `numGroups` is kept by group-limited
/// selection: fewer than `topkGroups` groups rank before it, that is have a
/// higher score, or an equal one (both NaN included) and a lower index.
/// `scoreOf(h)` emits the f32 score of group h.
Value emitGroupIsKept(ImplicitLocOpBuilder &b, Value g, int64_t numGroups,
                      int64_t topkGroups,
                      function_ref<Value(ImplicitLocOpBuilder &, Value)> scoreOf);

/// NaN keys count as -inf (group scores).
Value emitNaNToNegInf(ImplicitLocOpBuilder &b, Value key);

/// Integer images of keys: a larger key has a larger image, equal keys (+0
/// and -0 included) equal images, and NaN the image just below -inf (or that
/// of -inf, for group scores). Taken or excluded experts get the smallest
/// image of all.
constexpr int32_t kRemovedRank = std::numeric_limits<int32_t>::min();
constexpr int32_t kNaNRank = kRemovedRank + 1;
/// The image of -inf (0xff800000 with the magnitude bits flipped).
constexpr int32_t kNegInfRank = -2139095041;

/// The i32 rank image of an f32 key, or of each lane of a vector of them.
Value emitRankImage(ImplicitLocOpBuilder &b, Value keys, bool nanAsNegInf);

/// The f32 key of a rank image (scalar): the inverse of emitRankImage up to
/// -0 (which comes back as +0); the NaN image gives a NaN.
Value emitKeyOfRankImage(ImplicitLocOpBuilder &b, Value image);

/// Per-row statistics that a score function needs: for softmax, the row
/// maximum and the reciprocal of the sum of exp(x - max); unused otherwise.
struct RowStats {
  Value max;
  Value sum;
};

/// How a score function computes exp: math.exp (lowered to the target's
/// library, e.g. __nv_expf on the GPU) or an inline polynomial that
/// vectorises (the CPU lowering).
enum class ExpKind { Library, Polynomial };

/// The f32 score of f32 logit `x` (a scalar or a vector of f32). `stats` is
/// used by softmax only.
Value emitScore(ImplicitLocOpBuilder &b, ScoreFunction function, Value x,
                const RowStats &stats, ExpKind exp = ExpKind::Library);

/// exp(x) for an f32 scalar or vector, by `kind`.
Value emitExp(ImplicitLocOpBuilder &b, Value x, ExpKind kind);

/// exp(x) for an f32 scalar or vector as arith ops only: Cody-Waite range
/// reduction and a polynomial of degree 6 (0.84 ulp on the reduced range);
/// inf for x > 88.72, 0 below -87.33, NaN for NaN.
Value emitExpPolynomial(ImplicitLocOpBuilder &b, Value x);

/// exp(y) for y <= 0 or NaN, as emitExpPolynomial but with no overflow to
/// handle: one power-of-two factor, 0 below -87.33, NaN for NaN.
Value emitExpNonPositive(ImplicitLocOpBuilder &b, Value y);

/// An f32 constant with the type of `like` (a scalar, or a splat vector).
Value emitF32Like(ImplicitLocOpBuilder &b, Value like, double value);

/// log(1 + y), accurate for small y (without a libm call).
Value emitLog1p(ImplicitLocOpBuilder &b, Value y);

/// sign(x) in f32 with sign(0) = sign(NaN) = 0.
Value emitSign(ImplicitLocOpBuilder &b, Value x);

/// An f32 constant.
Value emitF32(ImplicitLocOpBuilder &b, double value);

/// `lb <= value < ub` for an integer index value of any width, compared as
/// signed 64-bit integers; `ub` is an index.
Value emitInRange(ImplicitLocOpBuilder &b, Value value, Value ub);

/// The weight `scale * w / sum` of a renormalised row; 0 when the row sums
/// to 0 (moe.normalize, moe.route with `normalize`). Scalars or vectors, all
/// of one shape.
Value emitNormalizedWeight(ImplicitLocOpBuilder &b, Value weight, Value sum,
                           Value scale);

/// The bias step of one expert before centring: rate * sign(mean - c) or
/// rate * (mean - c), with the load value `load` converted to f32.
Value emitBiasDelta(ImplicitLocOpBuilder &b, UpdateRule rule, Value rate,
                    Value mean, Value load);

/// MaxVio from a load's f32 sum and max: (max - mean) / mean with
/// mean = sum / E, and 0 when the sum is 0.
Value emitMaxVio(ImplicitLocOpBuilder &b, Value sum, Value max,
                 int64_t numExperts);

/// Element (t, h) of moe.combine: the f32 sum over j of
/// weights[t, j] * expertOut[slots[t, j], h] for slots in [0, P), rounded to
/// the element type of the expert outputs.
Value emitCombineElement(ImplicitLocOpBuilder &b, Value expertOut,
                         Value weights, Value slots, Value t, Value h);

} // namespace mlir::moe

#endif // MOE_CONVERSION_MOECOMMON_ROUTINGMATH_H
