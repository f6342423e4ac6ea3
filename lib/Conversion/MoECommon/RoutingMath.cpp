//===- RoutingMath.cpp - scalar routing math shared by lowerings ----------===//

#include "moe/Conversion/MoECommon/RoutingMath.h"

#include "moe/Conversion/MoECommon/Builders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe;

Value mlir::moe::emitF32(ImplicitLocOpBuilder &b, double value) {
  return arith::ConstantOp::create(b, b.getF32FloatAttr(value));
}

Value mlir::moe::emitToF32(ImplicitLocOpBuilder &b, Value value) {
  Type type = value.getType();
  if (type.isF32())
    return value;
  if (isa<FloatType>(type))
    return arith::ExtFOp::create(b, b.getF32Type(), value);
  return arith::SIToFPOp::create(b, b.getF32Type(), value);
}

Value mlir::moe::emitRanksAbove(ImplicitLocOpBuilder &b, Value a, Value other) {
  Value greater =
      arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, a, other);
  Value otherIsNaN =
      arith::CmpFOp::create(b, arith::CmpFPredicate::UNO, other, other);
  Value aIsNumber = arith::CmpFOp::create(b, arith::CmpFPredicate::ORD, a, a);
  Value overNaN = arith::AndIOp::create(b, otherIsNaN, aIsNumber);
  return arith::OrIOp::create(b, greater, overNaN);
}

Value mlir::moe::emitNaNToNegInf(ImplicitLocOpBuilder &b, Value key) {
  Value isNaN = arith::CmpFOp::create(b, arith::CmpFPredicate::UNO, key, key);
  return arith::SelectOp::create(
      b, isNaN, emitF32(b, -std::numeric_limits<double>::infinity()), key);
}

/// An i32 constant shaped like `like` (scalar or vector of the same shape).
static Value emitI32Like(ImplicitLocOpBuilder &b, Value like, int32_t value) {
  if (auto vector = dyn_cast<VectorType>(like.getType()))
    return arith::ConstantOp::create(
        b, DenseElementsAttr::get(vector.clone(b.getI32Type()),
                                  b.getI32IntegerAttr(value)));
  return arith::ConstantIntOp::create(b, b.getI32Type(), value);
}

Value mlir::moe::emitRankImage(ImplicitLocOpBuilder &b, Value keys,
                               bool nanAsNegInf) {
  Type intType = b.getI32Type();
  if (auto vector = dyn_cast<VectorType>(keys.getType()))
    intType = vector.clone(b.getI32Type());
  // x + 0 turns -0 into +0 and keeps every other value.
  Value canonical = arith::AddFOp::create(b, keys, emitF32Like(b, keys, 0.0));
  Value bits = arith::BitcastOp::create(b, intType, canonical);
  Value negative = arith::CmpIOp::create(b, arith::CmpIPredicate::slt, bits,
                                         emitI32Like(b, keys, 0));
  Value flipped =
      arith::XOrIOp::create(b, bits, emitI32Like(b, keys, 0x7fffffff));
  Value image = arith::SelectOp::create(b, negative, flipped, bits);
  Value isNaN = arith::CmpFOp::create(b, arith::CmpFPredicate::UNO, keys, keys);
  return arith::SelectOp::create(
      b, isNaN, emitI32Like(b, keys, nanAsNegInf ? kNegInfRank : kNaNRank),
      image);
}

Value mlir::moe::emitKeyOfRankImage(ImplicitLocOpBuilder &b, Value image) {
  Value negative = arith::CmpIOp::create(b, arith::CmpIPredicate::slt, image,
                                         emitI32Like(b, image, 0));
  Value flipped =
      arith::XOrIOp::create(b, image, emitI32Like(b, image, 0x7fffffff));
  Value bits = arith::SelectOp::create(b, negative, flipped, image);
  return arith::BitcastOp::create(b, b.getF32Type(), bits);
}

Value mlir::moe::emitF32Like(ImplicitLocOpBuilder &b, Value like,
                             double value) {
  if (auto vector = dyn_cast<VectorType>(like.getType()))
    return arith::ConstantOp::create(
        b, DenseElementsAttr::get(vector, b.getF32FloatAttr(value)));
  return emitF32(b, value);
}

Value mlir::moe::emitLog1p(ImplicitLocOpBuilder &b, Value y) {
  // With u = fl(1 + y): log1p(y) = y when u == 1, else log(u) * y / (u - 1).
  // The quotient cancels the rounding error of u (Goldberg, 1991).
  Value one = emitF32Like(b, y, 1.0);
  Value u = arith::AddFOp::create(b, one, y);
  Value exact = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, u, one);
  Value logU = math::LogOp::create(b, u);
  Value corrected = arith::DivFOp::create(
      b, arith::MulFOp::create(b, logU, y), arith::SubFOp::create(b, u, one));
  return arith::SelectOp::create(b, exact, y, corrected);
}

namespace {
/// exp(y) = expR * 2^n for y in [-87.34, 88.73] (already clamped), from
/// Cody-Waite range reduction and a polynomial.
struct ReducedExp {
  Value expR;
  /// n as f32 (integral; a scalar or a vector like y).
  Value n;
  /// n + 1.5 * 2^23: the low bits of its f32 encoding are those of n.
  Value shifted;
};
} // namespace

static ReducedExp emitReducedExp(ImplicitLocOpBuilder &b, Value y) {
  auto c = [&](double value) { return emitF32Like(b, y, value); };
  auto contract = arith::FastMathFlagsAttr::get(b.getContext(),
                                                arith::FastMathFlags::contract);
  auto mulAdd = [&](Value x, Value y, Value z) -> Value {
    return arith::AddFOp::create(b, arith::MulFOp::create(b, x, y, contract),
                                 z, contract);
  };
  // n = round(y / ln 2), r = y - n ln 2 in two parts (Cody-Waite). The
  // rounding adds and subtracts 1.5 * 2^23, which leaves no fraction bits
  // for |y / ln 2| <= 128: plain arithmetic on every target, where a
  // floor is one instruction only from SSE4.1 on and a library call per
  // lane before.
  Value shifter = c(12582912.0);
  Value shifted = mulAdd(y, c(1.44269504088896341), shifter);
  Value n = arith::SubFOp::create(b, shifted, shifter);
  Value r = mulAdd(n, c(-0.693359375), y);
  r = mulAdd(n, c(2.12194440e-4), r);
  // exp(r) on [-ln2/2, ln2/2]: 1 + r + r^2 * P(r) with P of degree 4, Horner's
  // rule with its multiply-adds contractible into FMAs. The coefficients are
  // a weighted least-squares fit of the relative error on Chebyshev nodes:
  // at most 0.84 ulp in f32 without FMAs, as Cephes' expf (0.80 ulp) with
  // one term fewer.
  Value p = c(1.3887382810935378e-3);
  for (double coefficient : {8.368070237338543e-3, 4.1667114943265915e-2,
                             1.6666527092456818e-1, 0.5})
    p = mulAdd(p, r, c(coefficient));
  Value r2 = arith::MulFOp::create(b, r, r);
  Value expR = arith::AddFOp::create(b, mulAdd(p, r2, r), c(1.0));
  return {expR, n, shifted};
}

/// An i32 (vector) shaped like `like`.
static Type getI32Like(ImplicitLocOpBuilder &b, Value like) {
  if (auto vector = dyn_cast<VectorType>(like.getType()))
    return vector.clone(b.getI32Type());
  return b.getI32Type();
}

/// The f32 power of two 2^e for an i32 `e` in [-126, 127].
static Value emitPow2(ImplicitLocOpBuilder &b, Value e, Type floatType) {
  Value bits = arith::ShLIOp::create(
      b, arith::AddIOp::create(b, e, emitI32Like(b, e, 127)),
      emitI32Like(b, e, 23));
  return arith::BitcastOp::create(b, floatType, bits);
}

/// 2^n for n in [-126, 127] from `shifted` = n + 1.5 * 2^23 (ReducedExp):
/// its encoding is 0x4B400000 + n, so shifting it left by 23 leaves n << 23
/// (mod 2^32) and adding 127 << 23 gives the exponent field of 2^n, with no
/// conversion to an integer.
static Value emitPow2OfShifted(ImplicitLocOpBuilder &b, Value shifted) {
  Value bits = arith::BitcastOp::create(b, getI32Like(b, shifted), shifted);
  Value exponent = arith::AddIOp::create(
      b, arith::ShLIOp::create(b, bits, emitI32Like(b, bits, 23)),
      emitI32Like(b, bits, 127 << 23));
  return arith::BitcastOp::create(b, shifted.getType(), exponent);
}

Value mlir::moe::emitExpPolynomial(ImplicitLocOpBuilder &b, Value x) {
  auto c = [&](double value) { return emitF32Like(b, x, value); };
  Value clamped = arith::MinimumFOp::create(
      b, arith::MaximumFOp::create(b, x, c(-87.33654)), c(88.72283));
  auto [expR, nFloat, shifted] = emitReducedExp(b, clamped);
  // 2^n as two factors, so that n = 128 (x near 88.72) does not overflow the
  // exponent field of one of them.
  Value n = arith::FPToSIOp::create(b, getI32Like(b, x), nFloat);
  Value half = arith::ShRSIOp::create(b, n, emitI32Like(b, n, 1));
  Value rest = arith::SubIOp::create(b, n, half);
  Value result = arith::MulFOp::create(
      b, arith::MulFOp::create(b, expR, emitPow2(b, half, x.getType())),
      emitPow2(b, rest, x.getType()));
  // Past the clamps: +inf above, 0 below; NaN stays NaN.
  Value over =
      arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, x, c(88.72283));
  Value under =
      arith::CmpFOp::create(b, arith::CmpFPredicate::OLT, x, c(-87.33654));
  Value isNaN = arith::CmpFOp::create(b, arith::CmpFPredicate::UNO, x, x);
  result = arith::SelectOp::create(
      b, over, c(std::numeric_limits<double>::infinity()), result);
  result = arith::SelectOp::create(b, under, c(0.0), result);
  return arith::SelectOp::create(b, isNaN, x, result);
}

Value mlir::moe::emitExpNonPositive(ImplicitLocOpBuilder &b, Value y) {
  Value limit = emitF32Like(b, y, -87.33654);
  // One comparison clamps y (a select, which keeps NaN where a max might
  // not) and flushes the result to 0 below the limit, where exp(y) leaves
  // the normal floats.
  Value under = arith::CmpFOp::create(b, arith::CmpFPredicate::OLT, y, limit);
  auto [expR, n, shifted] =
      emitReducedExp(b, arith::SelectOp::create(b, under, limit, y));
  Value e = arith::MulFOp::create(b, expR, emitPow2OfShifted(b, shifted));
  return arith::SelectOp::create(b, under, emitF32Like(b, y, 0.0), e);
}

/// sigmoid(x) from e = exp(-|x|), which is in (0, 1]: x >= 0 gives
/// 1 / (1 + e), x < 0 gives e / (1 + e). The exp never overflows, so it
/// needs one power-of-two factor and no overflow case: fewer operations
/// than 1 / (1 + exp(-x)) with a general exp. NaN needs no case of its own:
/// every step propagates it.
static Value emitSigmoidPolynomial(ImplicitLocOpBuilder &b, Value x) {
  Value e = emitExpNonPositive(
      b, arith::NegFOp::create(b, math::AbsFOp::create(b, x)));
  Value one = emitF32Like(b, x, 1.0);
  // The numerator by the sign bit of x (x = -0 gives e / (1 + e) = 1 / 2,
  // as x = +0 does): a blend on the sign where the target has one.
  Value bits = arith::BitcastOp::create(b, getI32Like(b, x), x);
  Value negative = arith::CmpIOp::create(b, arith::CmpIPredicate::slt, bits,
                                         emitI32Like(b, bits, 0));
  return arith::DivFOp::create(b, arith::SelectOp::create(b, negative, e, one),
                               arith::AddFOp::create(b, one, e));
}

Value mlir::moe::emitExp(ImplicitLocOpBuilder &b, Value x, ExpKind kind) {
  if (kind == ExpKind::Polynomial)
    return emitExpPolynomial(b, x);
  return math::ExpOp::create(b, x);
}

Value mlir::moe::emitScore(ImplicitLocOpBuilder &b, ScoreFunction function,
                           Value x, const RowStats &stats, ExpKind exp) {
  Value one = emitF32Like(b, x, 1.0);
  switch (function) {
  case ScoreFunction::sigmoid: {
    if (exp == ExpKind::Polynomial)
      return emitSigmoidPolynomial(b, x);
    Value expNeg = emitExp(b, arith::NegFOp::create(b, x), exp);
    return arith::DivFOp::create(b, one, arith::AddFOp::create(b, one, expNeg));
  }
  case ScoreFunction::softmax: {
    Value e = emitExp(b, arith::SubFOp::create(b, x, stats.max), exp);
    return arith::DivFOp::create(b, e, stats.sum);
  }
  case ScoreFunction::sqrtsoftplus: {
    // softplus(x) = max(x, 0) + log1p(exp(-|x|)): no overflow for large x.
    // Below x = -80, log1p(exp(x)) rounds to exp(x) in f32, and
    // sqrt(exp(x)) = exp(x / 2) stays a normal float down to x = -174,
    // where exp(x) itself (and so the first form) has long left the range:
    // the same exp takes x / 2 there.
    Value zero = emitF32Like(b, x, 0.0);
    Value deep = arith::CmpFOp::create(b, arith::CmpFPredicate::OLT, x,
                                       emitF32Like(b, x, -80.0));
    Value negAbs = arith::NegFOp::create(b, math::AbsFOp::create(b, x));
    Value half = arith::MulFOp::create(b, x, emitF32Like(b, x, 0.5));
    Value e = emitExp(b, arith::SelectOp::create(b, deep, half, negAbs), exp);
    Value positive = arith::MaximumFOp::create(b, x, zero);
    Value softplus = arith::AddFOp::create(b, positive, emitLog1p(b, e));
    return arith::SelectOp::create(b, deep, e,
                                   math::SqrtOp::create(b, softplus));
  }
  }
  llvm_unreachable("unknown score function");
}

Value mlir::moe::emitSign(ImplicitLocOpBuilder &b, Value x) {
  Value zero = emitF32(b, 0.0);
  Value positive = arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, x, zero);
  Value negative = arith::CmpFOp::create(b, arith::CmpFPredicate::OLT, x, zero);
  return arith::SelectOp::create(
      b, positive, emitF32(b, 1.0),
      arith::SelectOp::create(b, negative, emitF32(b, -1.0), zero));
}

Value mlir::moe::emitInRange(ImplicitLocOpBuilder &b, Value value, Value ub) {
  Value wide = value;
  if (value.getType().isIndex())
    wide = arith::IndexCastOp::create(b, b.getI64Type(), value);
  else if (value.getType().getIntOrFloatBitWidth() < 64)
    wide = arith::ExtSIOp::create(b, b.getI64Type(), value);
  Value upper = arith::IndexCastOp::create(b, b.getI64Type(), ub);
  Value zero = arith::ConstantIntOp::create(b, b.getI64Type(), 0);
  Value nonNegative =
      arith::CmpIOp::create(b, arith::CmpIPredicate::sge, wide, zero);
  Value below = arith::CmpIOp::create(b, arith::CmpIPredicate::slt, wide, upper);
  return arith::AndIOp::create(b, nonNegative, below);
}

Value mlir::moe::emitNormalizedWeight(ImplicitLocOpBuilder &b, Value weight,
                                      Value sum, Value scale) {
  Value zero = emitF32Like(b, weight, 0.0);
  Value isZero = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, sum, zero);
  Value scaled =
      arith::DivFOp::create(b, arith::MulFOp::create(b, scale, weight), sum);
  return arith::SelectOp::create(b, isZero, zero, scaled);
}

Value mlir::moe::emitBiasDelta(ImplicitLocOpBuilder &b, UpdateRule rule,
                               Value rate, Value mean, Value load) {
  Value err = arith::SubFOp::create(b, mean, emitToF32(b, load));
  Value step = rule == UpdateRule::sign ? emitSign(b, err) : err;
  return arith::MulFOp::create(b, rate, step);
}

Value mlir::moe::emitMaxVio(ImplicitLocOpBuilder &b, Value sum, Value max,
                            int64_t numExperts) {
  Value zero = emitF32(b, 0.0);
  Value mean =
      arith::DivFOp::create(b, sum, emitF32(b, static_cast<double>(numExperts)));
  Value vio =
      arith::DivFOp::create(b, arith::SubFOp::create(b, max, mean), mean);
  Value empty = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, sum, zero);
  return arith::SelectOp::create(b, empty, zero, vio);
}

Value mlir::moe::emitCombineElement(ImplicitLocOpBuilder &b, Value expertOut,
                                    Value weights, Value slots, Value t,
                                    Value h) {
  Value rows = dimOf(b, expertOut, 0);
  Value k = dimOf(b, weights, 1);
  Value acc = emitForIter(
      b, constIndex(b, 0), k, ValueRange{emitF32(b, 0.0)},
      [&](ImplicitLocOpBuilder &b, Value j, ValueRange acc) {
        Value slot = load(b, slots, {t, j});
        auto term = scf::IfOp::create(
            b, emitInRange(b, slot, rows),
            [&](OpBuilder &nested, Location loc) {
              ImplicitLocOpBuilder ib(loc, nested);
              Value p = castIndex(ib, ib.getIndexType(), slot);
              Value y = emitToF32(ib, load(ib, expertOut, {p, h}));
              Value w = load(ib, weights, {t, j});
              scf::YieldOp::create(
                  ib, ValueRange{arith::AddFOp::create(
                          ib, acc[0], arith::MulFOp::create(ib, w, y))});
            },
            [&](OpBuilder &nested, Location loc) {
              scf::YieldOp::create(nested, loc, acc);
            });
        return SmallVector<Value>(term.getResults());
      })[0];
  Type elementType = elementTypeOf(expertOut);
  if (!elementType.isF32())
    acc = arith::TruncFOp::create(b, elementType, acc);
  return acc;
}

Value mlir::moe::emitGroupIsKept(
    ImplicitLocOpBuilder &b, Value g, int64_t numGroups, int64_t topkGroups,
    function_ref<Value(ImplicitLocOpBuilder &, Value)> scoreOf) {
  Value gScore = scoreOf(b, g);
  Value yes = arith::ConstantIntOp::create(b, b.getI1Type(), 1);
  Value before = emitForIter(
      b, 0, numGroups,
      ValueRange{arith::ConstantIntOp::create(b, b.getI32Type(), 0)},
      [&](ImplicitLocOpBuilder &b, Value h, ValueRange count) {
        Value hScore = scoreOf(b, h);
        Value lower =
            arith::CmpIOp::create(b, arith::CmpIPredicate::ult, h, g);
        Value tieToH = arith::AndIOp::create(
            b, lower,
            arith::XOrIOp::create(b, emitRanksAbove(b, gScore, hScore), yes));
        Value hFirst = arith::AndIOp::create(
            b, arith::CmpIOp::create(b, arith::CmpIPredicate::ne, h, g),
            arith::OrIOp::create(b, emitRanksAbove(b, hScore, gScore),
                                 tieToH));
        return SmallVector<Value>{arith::AddIOp::create(
            b, count[0], arith::ExtUIOp::create(b, b.getI32Type(), hFirst))};
      })[0];
  return arith::CmpIOp::create(
      b, arith::CmpIPredicate::slt, before,
      arith::ConstantIntOp::create(b, b.getI32Type(), topkGroups));
}
