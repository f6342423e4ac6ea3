//===- TrainingToLoops.cpp - moe training ops to scf loops ----------------===//
//
// The CPU lowering of the training ops. Each token's scores are recomputed
// from its logits (nothing of size T x E lives between forward and
// backward): one vector pass over the row computes the scores and the row
// sums the backward needs, a scalar pass over the K chosen experts adds the
// routing gradient to an [E] scratch row, and a last vector pass writes dx
// (once, rounded once). The balance loss works sequence by sequence: the
// sequence's expert counts (from the indices alone) become an [E] row of
// coefficients that every token of the sequence shares.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/MoEToSCF/TrainingToLoops.h"

#include "CPUTarget.h"
#include "RowLoop.h"

#include "moe/Conversion/MoECommon/Builders.h"
#include "moe/Conversion/MoECommon/RoutingMath.h"
#include "moe/Conversion/MoECommon/TrainingMath.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

//===----------------------------------------------------------------------===//
// Rows of E experts, in vector chunks
//===----------------------------------------------------------------------===//

/// An [E] f32 stack buffer at the start of the enclosing allocation scope
/// (the function), so that an op inside a loop does not grow the stack.
Value createRow(ImplicitLocOpBuilder &b, int64_t numExperts) {
  return createScratch(b, MemRefType::get({numExperts}, b.getF32Type()));
}

//===----------------------------------------------------------------------===//
// Per-token math
//===----------------------------------------------------------------------===//

/// The scores of token t into the `scores` row; returns, in the same pass,
/// sum_e s[e] and sum_e weights[e] * s[e] (both 0 without `weights`). For
/// softmax the row maximum and the sum of exp(x - max) come first (the
/// exponentials are kept in the row and divided in place).
std::pair<Value, Value> emitScores(ImplicitLocOpBuilder &b,
                                   const RowLoop &row, ScoreFunction function,
                                   Value logits, Value t, Value scores,
                                   Value weights) {
  // Stores the chunk's scores and returns what the sums add.
  auto finish = [&](ImplicitLocOpBuilder &b, Value score, Value e,
                    int64_t lanes) -> SmallVector<Value> {
    RowLoop::write(b, score, scores, e, lanes);
    if (!weights)
      return {};
    Value weight = RowLoop::read(b, weights, e, lanes);
    return {score, arith::MulFOp::create(b, weight, score)};
  };
  unsigned numSums = weights ? 2 : 0;
  SmallVector<Value> sums;
  if (function != ScoreFunction::softmax) {
    sums = row.reduce(b, numSums, [&](ImplicitLocOpBuilder &b, Value e,
                                      int64_t lanes) {
      Value x = RowLoop::read(b, logits, {t, e}, lanes);
      return finish(b, emitScore(b, function, x, {}, ExpKind::Polynomial), e,
                    lanes);
    });
  } else {
    Value max = row.reduce(
        b, 1,
        [&](ImplicitLocOpBuilder &b, Value e, int64_t lanes) {
          return SmallVector<Value>{RowLoop::read(b, logits, {t, e}, lanes)};
        },
        /*max=*/true)[0];
    Value sum = row.reduce(b, 1, [&](ImplicitLocOpBuilder &b, Value e,
                                     int64_t lanes) {
      Value x = RowLoop::read(b, logits, {t, e}, lanes);
      // x - max is at most 0, or NaN.
      Value exp = emitExpNonPositive(
          b, arith::SubFOp::create(b, x, RowLoop::broadcast(b, max, lanes)));
      RowLoop::write(b, exp, scores, e, lanes);
      return SmallVector<Value>{exp};
    })[0];
    sums = row.reduce(b, numSums, [&](ImplicitLocOpBuilder &b, Value e,
                                      int64_t lanes) {
      Value exp = RowLoop::read(b, scores, e, lanes);
      return finish(
          b, arith::DivFOp::create(b, exp, RowLoop::broadcast(b, sum, lanes)),
          e, lanes);
    });
  }
  if (!weights)
    return {Value(), Value()};
  return {sums[0], sums[1]};
}

/// The index of pair (t, j) as an index value clamped into [0, E), and
/// whether it is valid (in [0, E) before clamping).
std::pair<Value, Value> emitPairExpert(ImplicitLocOpBuilder &b, Value indices,
                                       Value t, Value j, Value numExperts) {
  Value raw = load(b, indices, {t, j});
  Value valid = emitInRange(b, raw, numExperts);
  Value expert = arith::SelectOp::create(
      b, valid, castIndex(b, b.getIndexType(), raw), constIndex(b, 0));
  return {expert, valid};
}

/// Fills `row` with the sequence's per-expert count of valid pairs, times
/// `coefficient`.
void emitScaledCounts(ImplicitLocOpBuilder &b, const RowLoop &rowLoop,
                      Value indices, Value first, Value end, Value row,
                      Value coefficient, int64_t numExperts) {
  rowLoop.forEach(b, [&](ImplicitLocOpBuilder &b, Value e, int64_t lanes) {
    RowLoop::write(b, RowLoop::splat(b, 0.0, lanes), row, e, lanes);
  });
  Value experts = constIndex(b, numExperts);
  Value numChosen = dimOf(b, indices, 1);
  emitFor(b, first, end, [&](ImplicitLocOpBuilder &b, Value t) {
    emitFor(b, 0, numChosen, [&](ImplicitLocOpBuilder &b, Value j) {
      auto [expert, valid] = emitPairExpert(b, indices, t, j, experts);
      Value add = arith::SelectOp::create(b, valid, emitF32(b, 1.0),
                                          emitF32(b, 0.0));
      store(b, arith::AddFOp::create(b, load(b, row, expert), add), row,
            expert);
    });
  });
  rowLoop.forEach(b, [&](ImplicitLocOpBuilder &b, Value e, int64_t lanes) {
    Value count = RowLoop::read(b, row, e, lanes);
    RowLoop::write(
        b,
        arith::MulFOp::create(b, count,
                              RowLoop::broadcast(b, coefficient, lanes)),
        row, e, lanes);
  });
}

/// Emits the gradient of `spec` into its output.
void emitGradient(ImplicitLocOpBuilder &b, const GradientSpec &spec) {
  auto logitsType = cast<MemRefType>(spec.logits.getType());
  int64_t numExperts = logitsType.getDimSize(1);
  int64_t numChosen = cast<MemRefType>(spec.indices.getType()).getDimSize(1);
  RowLoop rowLoop(numExperts,
                  isContiguous(spec.logits) && isContiguous(spec.output));
  Value scores = createRow(b, numExperts);
  // The routing gradient of the chosen experts, 0 elsewhere: zeroed once,
  // and only the chosen entries are reset after each token.
  Value routeRow = spec.grad ? createRow(b, numExperts) : Value();
  // dp[e] of the balance loss, shared by the tokens of a sequence.
  Value auxRow = spec.lossGrad ? createRow(b, numExperts) : Value();
  Value experts = constIndex(b, numExperts);
  Value zero = emitF32(b, 0.0);
  if (spec.grad)
    rowLoop.forEach(b, [&](ImplicitLocOpBuilder &b, Value e, int64_t lanes) {
      RowLoop::write(b, RowLoop::splat(b, 0.0, lanes), routeRow, e, lanes);
    });

  // Routing gradient of token t: g_j over the valid pairs (from the scores
  // of the chosen experts), added into the route row; returns
  // sum_j g_j * s[i_j].
  auto emitRoute = [&](ImplicitLocOpBuilder &b, Value t) -> Value {
    Value scale = emitF32(b, spec.scale);
    SmallVector<Value> sums = emitForIter(
        b, 0, numChosen, ValueRange{zero, zero},
        [&](ImplicitLocOpBuilder &b, Value j, ValueRange acc) {
          auto [expert, valid] = emitPairExpert(b, spec.indices, t, j, experts);
          Value w = arith::SelectOp::create(b, valid, load(b, scores, expert),
                                            zero);
          Value dw = load(b, spec.grad, {t, j});
          Value dwW = arith::SelectOp::create(
              b, valid, arith::MulFOp::create(b, dw, w), zero);
          return SmallVector<Value>{arith::AddFOp::create(b, acc[0], w),
                                    arith::AddFOp::create(b, acc[1], dwW)};
        });
    Value weightSum = sums[0], dwDotW = sums[1];
    return emitForIter(
        b, 0, numChosen, ValueRange{zero},
        [&](ImplicitLocOpBuilder &b, Value j, ValueRange acc) {
          auto [expert, valid] = emitPairExpert(b, spec.indices, t, j, experts);
          Value dw = load(b, spec.grad, {t, j});
          Value g = emitRouteWeightGrad(b, dw, dwDotW, weightSum, scale,
                                        spec.normalize);
          g = arith::SelectOp::create(b, valid, g, zero);
          store(b, arith::AddFOp::create(b, load(b, routeRow, expert), g),
                routeRow, expert);
          Value gs = arith::MulFOp::create(b, g, load(b, scores, expert));
          gs = arith::SelectOp::create(b, valid, gs, zero);
          return SmallVector<Value>{arith::AddFOp::create(b, acc[0], gs)};
        })[0];
  };

  // Keeps the route row zero for the next token.
  auto emitResetRoute = [&](ImplicitLocOpBuilder &b, Value t) {
    emitFor(b, 0, numChosen, [&](ImplicitLocOpBuilder &b, Value j) {
      Value expert = emitPairExpert(b, spec.indices, t, j, experts).first;
      store(b, zero, routeRow, expert);
    });
  };

  auto emitToken = [&](ImplicitLocOpBuilder &b, Value t) {
    auto [rowSum, dpDotS] = emitScores(b, rowLoop, spec.function,
                                       spec.logits, t, scores, auxRow);

    // Balance loss: ds_aux = dp * mul - sub.
    BalanceScoreGrad aux;
    if (spec.lossGrad)
      aux = emitBalanceScoreGrad(b, rowSum, dpDotS, spec.auxNormalize);

    // Routing: g_j added into the route row.
    Value routeDot = spec.grad ? emitRoute(b, t) : zero;

    // dx through the score function, written once.
    Value dot = spec.lossGrad
                    ? Value(arith::AddFOp::create(b, aux.dot, routeDot))
                    : routeDot;
    rowLoop.forEach(b, [&](ImplicitLocOpBuilder &b, Value e, int64_t lanes) {
      Value s = RowLoop::read(b, scores, e, lanes);
      Value ds = RowLoop::splat(b, 0.0, lanes);
      if (spec.lossGrad) {
        ds = aux.apply(b, RowLoop::read(b, auxRow, e, lanes));
      }
      if (spec.grad)
        ds = arith::AddFOp::create(b, ds,
                                   RowLoop::read(b, routeRow, e, lanes));
      Value x;
      if (spec.function == ScoreFunction::sqrtsoftplus)
        x = RowLoop::read(b, spec.logits, {t, e}, lanes);
      RowLoop::write(
          b,
          emitScoreBackward(b, spec.function, ds, s, x, dot,
                            ExpKind::Polynomial),
          spec.output, {t, e}, lanes);
    });

    if (spec.grad)
      emitResetRoute(b, t);
  };

  // The routing gradient alone under sigmoid or sqrtsoftplus: dx is 0 * s'
  // = 0 for the experts not chosen (NaN for a NaN logit), so only the K
  // chosen experts need a score.
  auto emitSparseToken = [&](ImplicitLocOpBuilder &b, Value t) {
    rowLoop.forEach(b, [&](ImplicitLocOpBuilder &b, Value e, int64_t lanes) {
      Value x = RowLoop::read(b, spec.logits, {t, e}, lanes);
      Value isNaN = arith::CmpFOp::create(b, arith::CmpFPredicate::UNO, x, x);
      RowLoop::write(
          b, arith::SelectOp::create(b, isNaN, x, RowLoop::splat(b, 0.0, lanes)),
          spec.output, {t, e}, lanes);
    });
    emitFor(b, 0, numChosen, [&](ImplicitLocOpBuilder &b, Value j) {
      Value expert = emitPairExpert(b, spec.indices, t, j, experts).first;
      Value x = emitToF32(b, load(b, spec.logits, {t, expert}));
      store(b, emitScore(b, spec.function, x, {}, ExpKind::Polynomial),
            scores, expert);
    });
    emitRoute(b, t);
    emitFor(b, 0, numChosen, [&](ImplicitLocOpBuilder &b, Value j) {
      auto [expert, valid] = emitPairExpert(b, spec.indices, t, j, experts);
      emitIf(b, valid, [&, expert = expert](ImplicitLocOpBuilder &b) {
        Value x = emitToF32(b, load(b, spec.logits, {t, expert}));
        Value dx = emitScoreBackward(b, spec.function,
                                     load(b, routeRow, expert),
                                     load(b, scores, expert), x, Value(),
                                     ExpKind::Polynomial);
        RowLoop::write(b, dx, spec.output, {t, expert}, 1);
      });
    });
    emitResetRoute(b, t);
  };

  Value numTokens = dimOf(b, spec.logits, 0);
  if (!spec.lossGrad) {
    if (spec.function == ScoreFunction::softmax)
      emitFor(b, 0, numTokens, emitToken);
    else
      emitFor(b, 0, numTokens, emitSparseToken);
    return;
  }
  // dp[t, e] = dl * f[b, e] / (B * T_b) = count[b, e] * dl * E /
  // (K * T_b) / (B * T_b) for every token of sequence b.
  Value lossGrad = load(b, spec.lossGrad, {});
  Sequences sequences(b, numTokens, spec.seqLen);
  emitFor(b, 0, sequences.count, [&](ImplicitLocOpBuilder &b, Value seq) {
    auto [first, end] = sequences.bounds(b, seq);
    Value rows = emitIndexToF32(b, arith::SubIOp::create(b, end, first));
    Value coefficient = emitBalanceGradCoefficient(
        b, lossGrad, rows, emitIndexToF32(b, sequences.count), numExperts,
        numChosen);
    emitScaledCounts(b, rowLoop, spec.indices, first, end, auxRow,
                     coefficient, numExperts);
    emitFor(b, first, end, emitToken);
  });
}

/// Emits the balance loss of `op` into its rank-0 output.
void emitAuxLoss(ImplicitLocOpBuilder &b, BufferAuxLossOp op) {
  int64_t numExperts = op.getLogits().getType().getDimSize(1);
  int64_t numChosen = op.getIndices().getType().getDimSize(1);
  RowLoop rowLoop(numExperts, isContiguous(op.getLogits()));
  Value scores = createRow(b, numExperts);
  Value fRow = createRow(b, numExperts);
  Value zero = emitF32(b, 0.0);
  Value numTokens = dimOf(b, op.getLogits(), 0);
  Sequences sequences(b, numTokens, op.getSeqLen());

  // sum_b (1 / T_b) sum_{t in b} sum_e f[b, e] * p[t, e].
  Value total = emitForIter(
      b, constIndex(b, 0), sequences.count, ValueRange{zero},
      [&](ImplicitLocOpBuilder &b, Value seq, ValueRange acc) {
        auto [first, end] = sequences.bounds(b, seq);
        Value rows = emitIndexToF32(b, arith::SubIOp::create(b, end, first));
        // f[b, e] = E * c[b, e] / (K * T_b).
        Value coefficient =
            emitBalanceFraction(b, rows, numExperts, numChosen);
        emitScaledCounts(b, rowLoop, op.getIndices(), first, end, fRow,
                         coefficient, numExperts);
        Value seqSum = emitForIter(
            b, first, end, ValueRange{zero},
            [&](ImplicitLocOpBuilder &b, Value t, ValueRange tokenAcc) {
              auto [rowSum, term] =
                  emitScores(b, rowLoop, op.getFunction(), op.getLogits(), t,
                             scores, fRow);
              term = emitBalanceLossTerm(b, term, rowSum, op.getNormalize());
              return SmallVector<Value>{
                  arith::AddFOp::create(b, tokenAcc[0], term)};
            })[0];
        return SmallVector<Value>{arith::AddFOp::create(
            b, acc[0], arith::DivFOp::create(b, seqSum, rows))};
      })[0];
  // (1 / B) * total; 0 without tokens.
  Value loss = emitBalanceLoss(b, total, sequences.count);
  store(b, loss, op.getOutput(), ValueRange{});
}

//===----------------------------------------------------------------------===//
// Patterns
//===----------------------------------------------------------------------===//

/// Base of the patterns: builds with the op's location, then erases the op.
template <typename OpTy>
struct TrainingLowering : public OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  using OpAdaptor = typename OpConversionPattern<OpTy>::OpAdaptor;

  LogicalResult
  matchAndRewrite(OpTy op, OpAdaptor,
                  ConversionPatternRewriter &rewriter) const final {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    lower(op, b);
    rewriter.eraseOp(op);
    return success();
  }

  virtual void lower(OpTy op, ImplicitLocOpBuilder &b) const = 0;
};

struct RouteGradLowering : TrainingLowering<BufferRouteGradOp> {
  using TrainingLowering::TrainingLowering;
  void lower(BufferRouteGradOp op, ImplicitLocOpBuilder &b) const override {
    emitGradient(b, GradientSpec(op));
  }
};

struct AuxLossLowering : TrainingLowering<BufferAuxLossOp> {
  using TrainingLowering::TrainingLowering;
  void lower(BufferAuxLossOp op, ImplicitLocOpBuilder &b) const override {
    emitAuxLoss(b, op);
  }
};

struct AuxLossGradLowering : TrainingLowering<BufferAuxLossGradOp> {
  using TrainingLowering::TrainingLowering;
  void lower(BufferAuxLossGradOp op, ImplicitLocOpBuilder &b) const override {
    emitGradient(b, GradientSpec(op));
  }
};

struct RouteAuxGradLowering : TrainingLowering<BufferRouteAuxGradOp> {
  using TrainingLowering::TrainingLowering;
  void lower(BufferRouteAuxGradOp op, ImplicitLocOpBuilder &b) const override {
    emitGradient(b, GradientSpec(op));
  }
};

} // namespace

void mlir::moe::populateMoETrainingToLoopsPatterns(
    RewritePatternSet &patterns) {
  patterns.add<RouteGradLowering, AuxLossLowering, AuxLossGradLowering,
               RouteAuxGradLowering>(patterns.getContext());
}
