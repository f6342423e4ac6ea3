//===- TokenRow.cpp - the row buffers of a token on the CPU ---------------===//

#include "RowLoop.h"
#include "Selection.h"

#include "moe/Conversion/MoECommon/RoutingMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

using namespace mlir;
using namespace mlir::moe;

static_assert(RowLoop::kLanes == kVectorWidth,
              "the selection reads the rows in the chunks they are written in");

/// Chunks of kVectorWidth experts use vector ops (and the polynomial exp)
/// when the source's rows (and the bias) are contiguous; the tail is scalar.
void mlir::moe::emitTokenRow(ImplicitLocOpBuilder &b, Value source,
                             std::optional<ScoreFunction> function, Value bias,
                             Value t, int64_t numExperts,
                             const TokenRow &row) {
  RowLoop chunks(numExperts,
                 isContiguous(source) && (!bias || isContiguous(bias)));
  // softmax: the row's logits (as f32) go to the score buffer first; its
  // max, then exp(x - max) in place of each logit and their sum, then the
  // scores below divide the exps by the sum: one exp per logit.
  Value sum;
  if (function == ScoreFunction::softmax) {
    chunks.forEach(b, [&](ImplicitLocOpBuilder &b, Value e, int64_t lanes) {
      RowLoop::write(b, RowLoop::read(b, source, {t, e}, lanes), row.scores, e,
                     lanes);
    });
    // Over the score buffer (contiguous): lane accumulators over its chunks,
    // then the tail. A sum of partial sums also rounds less than one
    // running sum.
    RowLoop buffer(numExperts, /*vectorize=*/true);
    Value max = buffer.reduce(
        b, 1,
        [&](ImplicitLocOpBuilder &b, Value e, int64_t lanes) {
          return SmallVector<Value>{RowLoop::read(b, row.scores, e, lanes)};
        },
        /*max=*/true)[0];
    sum = buffer.reduce(b, 1, [&](ImplicitLocOpBuilder &b, Value e,
                                  int64_t lanes) {
      // x - max is at most 0, or NaN.
      Value exp = emitExpNonPositive(
          b, arith::SubFOp::create(b, RowLoop::read(b, row.scores, e, lanes),
                                   RowLoop::broadcast(b, max, lanes)));
      RowLoop::write(b, exp, row.scores, e, lanes);
      return SmallVector<Value>{exp};
    })[0];
  }
  chunks.forEach(b, [&](ImplicitLocOpBuilder &b, Value e, int64_t lanes) {
    Value score;
    if (function == ScoreFunction::softmax) {
      score = arith::DivFOp::create(b, RowLoop::read(b, row.scores, e, lanes),
                                    RowLoop::broadcast(b, sum, lanes));
    } else {
      score = RowLoop::read(b, source, {t, e}, lanes);
      if (function)
        score = emitScore(b, *function, score, {}, ExpKind::Polynomial);
    }
    RowLoop::write(b, score, row.scores, e, lanes);
    if (!row.keys)
      return;
    Value key = bias ? Value(arith::AddFOp::create(
                           b, score, RowLoop::read(b, bias, e, lanes)))
                     : score;
    RowLoop::write(b, key, row.keys, e, lanes);
  });
}
