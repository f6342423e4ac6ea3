//===- TokenRow.cpp - the row buffers of a token on the CPU ---------------===//

#include "Selection.h"

#include "moe/Conversion/MoECommon/RoutingMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe;

/// Chunks of kVectorWidth experts use vector ops (and the polynomial exp)
/// when the source's rows are contiguous; the tail is scalar.
void mlir::moe::emitTokenRow(ImplicitLocOpBuilder &b, Value source,
                  std::optional<ScoreFunction> function, Value bias, Value t,
                  int64_t numExperts, const TokenRow &row) {
  auto sourceType = cast<MemRefType>(source.getType());
  bool contiguous =
      sourceType.isLastDimUnitStride() &&
      (!bias || cast<MemRefType>(bias.getType()).isLastDimUnitStride());
  int64_t vectorEnd =
      contiguous ? numExperts / kVectorWidth * kVectorWidth : 0;
  Type sourceElement = sourceType.getElementType();
  auto f32Vector = VectorType::get({kVectorWidth}, b.getF32Type());
  auto loadX = [&](ImplicitLocOpBuilder &b, Value e, bool vector) -> Value {
    if (!vector)
      return emitToF32(b, load(b, source, {t, e}));
    Value x = vector::LoadOp::create(
        b, VectorType::get({kVectorWidth}, sourceElement), source,
        ValueRange{t, e});
    return sourceElement.isF32()
               ? x
               : Value(arith::ExtFOp::create(b, f32Vector, x));
  };
  auto loadBias = [&](ImplicitLocOpBuilder &b, Value e, bool vector) -> Value {
    return vector ? Value(vector::LoadOp::create(b, f32Vector, bias, e))
                  : load(b, bias, e);
  };
  auto storeRow = [&](ImplicitLocOpBuilder &b, Value value, Value buffer,
                      Value e, bool vector) {
    if (vector)
      vector::StoreOp::create(b, value, buffer, e);
    else
      store(b, value, buffer, e);
  };
  // Runs body over the vector chunks, then the scalar tail.
  auto forEachChunk = [&](function_ref<void(ImplicitLocOpBuilder &, Value,
                                            bool)>
                              body) {
    if (vectorEnd > 0)
      emitFor(b, constIndex(b, 0), constIndex(b, vectorEnd),
              [&](ImplicitLocOpBuilder &b, Value e) { body(b, e, true); },
              constIndex(b, kVectorWidth));
    if (vectorEnd < numExperts)
      emitFor(b, vectorEnd, numExperts,
              [&](ImplicitLocOpBuilder &b, Value e) { body(b, e, false); });
  };

  // softmax: the row's logits (as f32) go to the score buffer first; its
  // max, then exp(x - max) in place of each logit and their sum, then the
  // scores below divide the exps by the sum: one exp per logit.
  Value sum;
  if (function == ScoreFunction::softmax) {
    forEachChunk([&](ImplicitLocOpBuilder &b, Value e, bool vector) {
      storeRow(b, loadX(b, e, vector), row.scores, e, vector);
    });
    // Combines f over the score buffer (f(b, x, e, vector) of the chunk or
    // element x at e): kVectorWidth lane accumulators over the chunks and
    // one reduction of them, then the scalar tail. The lanes are
    // independent chains, and a sum of kVectorWidth partial sums rounds
    // less than one running sum.
    int64_t rowVectorEnd = numExperts / kVectorWidth * kVectorWidth;
    using ElementFn =
        function_ref<Value(ImplicitLocOpBuilder &, Value, Value, bool)>;
    auto reduceRow = [&](vector::CombiningKind kind, double init,
                         ElementFn f) {
      auto combine = [&](ImplicitLocOpBuilder &b, Value acc, Value x) {
        return kind == vector::CombiningKind::ADD
                   ? Value(arith::AddFOp::create(b, acc, x))
                   : Value(arith::MaximumFOp::create(b, acc, x));
      };
      Value result = emitF32(b, init);
      if (rowVectorEnd > 0) {
        Value lanes = emitChunkIter(
            b, rowVectorEnd,
            ValueRange{vector::BroadcastOp::create(b, f32Vector, result)},
            [&](ImplicitLocOpBuilder &b, Value e, ValueRange acc) {
              Value x = vector::LoadOp::create(b, f32Vector, row.scores, e);
              return SmallVector<Value>{combine(b, acc[0], f(b, x, e, true))};
            })[0];
        result = vector::ReductionOp::create(b, kind, lanes);
      }
      return emitForIter(
          b, rowVectorEnd, numExperts, ValueRange{result},
          [&](ImplicitLocOpBuilder &b, Value e, ValueRange acc) {
            return SmallVector<Value>{combine(
                b, acc[0], f(b, load(b, row.scores, e), e, false))};
          })[0];
    };
    Value max = reduceRow(
        vector::CombiningKind::MAXIMUMF,
        -std::numeric_limits<double>::infinity(),
        [](ImplicitLocOpBuilder &, Value x, Value, bool) { return x; });
    sum = reduceRow(vector::CombiningKind::ADD, 0.0,
                    [&](ImplicitLocOpBuilder &b, Value x, Value e,
                        bool vector) {
                      // x - max is at most 0, or NaN.
                      Value shift = max;
                      if (vector)
                        shift = vector::BroadcastOp::create(b, f32Vector, max);
                      Value exp = emitExpNonPositive(
                          b, arith::SubFOp::create(b, x, shift));
                      storeRow(b, exp, row.scores, e, vector);
                      return exp;
                    });
  }
  forEachChunk([&](ImplicitLocOpBuilder &b, Value e, bool vector) {
    Value score;
    if (function == ScoreFunction::softmax) {
      Value exp = vector ? Value(vector::LoadOp::create(b, f32Vector,
                                                         row.scores, e))
                         : load(b, row.scores, e);
      score = arith::DivFOp::create(
          b, exp,
          vector ? Value(vector::BroadcastOp::create(b, f32Vector, sum))
                 : sum);
    } else {
      score = loadX(b, e, vector);
      if (function)
        score = emitScore(b, *function, score, {}, ExpKind::Polynomial);
    }
    storeRow(b, score, row.scores, e, vector);
    if (!row.keys)
      return;
    Value key =
        bias ? Value(arith::AddFOp::create(b, score, loadBias(b, e, vector)))
             : score;
    storeRow(b, key, row.keys, e, vector);
  });
}
