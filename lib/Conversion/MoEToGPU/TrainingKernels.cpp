//===- TrainingKernels.cpp - moe training ops to GPU kernels --------------===//
//
// A warp per token, like the forward (WarpSelection.h): lane l holds the
// logits and recomputed scores of experts l, l + 32, ... in registers
// (nothing of size T x E is stored), and lane j < K holds pair j of the
// token. Row sums are warp reductions (gpu.subgroup_reduce); each lane
// collects the routing gradient of its own experts from the K pair lanes by
// index shuffles, summing duplicates. The balance loss first counts each
// sequence's pairs into a [B, E] scratch (workgroup histograms of chunks of
// pairs, added with integer atomics); its value is reduced from per-token terms
// by one block in a fixed order, so it is the same on every run.
//
//===----------------------------------------------------------------------===//

#include "TrainingKernels.h"

#include "GPUTarget.h"
#include "WarpSelection.h"

#include "moe/Conversion/MoECommon/Algorithms.h"
#include "moe/Conversion/MoECommon/Builders.h"
#include "moe/Conversion/MoECommon/TrainingMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Transforms/DialectConversion.h"
#include "llvm/Support/MathExtras.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

/// The warp-wide sum of an f32 value; every lane gets it.
Value emitWarpSum(ImplicitLocOpBuilder &b, Value value) {
  return gpu::SubgroupReduceOp::create(b, value, gpu::AllReduceOperation::ADD,
                                       /*uniform=*/true,
                                       /*cluster_size=*/nullptr);
}

/// The warp-wide sum over a row's slots of `values` (0 for slots past E).
Value emitWarpRowSum(ImplicitLocOpBuilder &b, const WarpRow &row,
                     ArrayRef<Value> values) {
  Value zero = emitF32(b, 0.0);
  Value sum = zero;
  for (auto [value, inRange] : llvm::zip_equal(values, row.inRange))
    sum = arith::AddFOp::create(
        b, sum, arith::SelectOp::create(b, inRange, value, zero));
  return emitWarpSum(b, sum);
}

/// `value` of lane `source` (an i32), for every lane.
Value emitShuffleIdx(ImplicitLocOpBuilder &b, Value value, Value source) {
  Value width = arith::ConstantIntOp::create(b, b.getI32Type(), kWarpSize);
  return gpu::ShuffleOp::create(b, value, source, width, gpu::ShuffleMode::IDX)
      .getShuffleResult();
}

/// A token's logits (f32) and recomputed scores, slot by slot.
struct WarpScores {
  SmallVector<Value> logits, scores;
};

WarpScores emitWarpScores(ImplicitLocOpBuilder &b, ScoreFunction function,
                          const WarpRow &row, Value logits, Value t) {
  WarpScores result;
  for (Value e : row.clamped)
    result.logits.push_back(emitToF32(b, load(b, logits, {t, e})));
  RowStats stats = emitWarpRowStats(b, function, row, result.logits);
  for (Value x : result.logits)
    result.scores.push_back(emitScore(b, function, x, stats));
  return result;
}

/// The count c[b, e] of sequence `seq` for each slot, in f32.
SmallVector<Value> emitSlotCounts(ImplicitLocOpBuilder &b, const WarpRow &row,
                                  Value counts, Value seq) {
  SmallVector<Value> result;
  for (Value e : row.clamped)
    result.push_back(
        arith::UIToFPOp::create(b, b.getF32Type(), load(b, counts, {seq, e})));
  return result;
}

/// Pairs counted by one block of the counting kernel.
constexpr int64_t kPairsPerCountBlock = 16 * kBlockSize;

/// Counts the valid pairs of each sequence per expert into a new [B, E] i32
/// device buffer (zeroed by a memset): each sequence's pairs are split into
/// chunks of kPairsPerCountBlock, a block per chunk counts its chunk in a
/// workgroup histogram and adds it to the sequence's row with integer
/// atomics (which commute: the counts do not depend on the schedule).
Value emitSequenceCounts(ImplicitLocOpBuilder &b, StringRef name, Value indices,
                         const Sequences &sequences, int64_t numExperts) {
  Type i32 = b.getI32Type();
  auto type = MemRefType::get({ShapedType::kDynamic, numExperts}, i32);
  Value counts =
      gpu::AllocOp::create(b, type, /*asyncToken=*/Type(), ValueRange{},
                           ValueRange{sequences.count}, ValueRange{})
          .getMemref();
  gpu::MemsetOp::create(b, Type(), ValueRange{}, counts,
                        arith::ConstantIntOp::create(b, i32, 0));
  Value k = constIndex(b, cast<MemRefType>(indices.getType()).getDimSize(1));
  Value chunk = constIndex(b, kPairsPerCountBlock);
  // Chunks per sequence: those of the longest one (the first).
  Value longest =
      arith::MinUIOp::create(b, sequences.length, sequences.numTokens);
  Value chunks = arith::MaxUIOp::create(
      b,
      arith::CeilDivUIOp::create(b, arith::MulIOp::create(b, longest, k),
                                 chunk),
      constIndex(b, 1));
  emitLaunch(
      b, name, arith::MulIOp::create(b, sequences.count, chunks), kBlockSize,
      {getWorkgroupBufferType(b.getContext(), numExperts, i32)},
      [&](ImplicitLocOpBuilder &b, const KernelContext &ctx) {
        Value hist = ctx.workgroup()[0];
        emitZeroWorkgroup(b, ctx, hist, numExperts);
        Value seq = arith::DivUIOp::create(b, ctx.blockId, chunks);
        Value part = arith::RemUIOp::create(b, ctx.blockId, chunks);
        auto [first, end] = sequences.bounds(b, seq);
        Value begin =
            arith::AddIOp::create(b, arith::MulIOp::create(b, first, k),
                                  arith::MulIOp::create(b, part, chunk));
        Value stop =
            arith::MinUIOp::create(b, arith::AddIOp::create(b, begin, chunk),
                                   arith::MulIOp::create(b, end, k));
        Value one = arith::ConstantIntOp::create(b, i32, 1);
        Value experts = constIndex(b, numExperts);
        emitFor(
            b, arith::AddIOp::create(b, begin, ctx.threadId), stop,
            [&](ImplicitLocOpBuilder &b, Value pair) {
              Value t = arith::DivUIOp::create(b, pair, k);
              Value j = arith::RemUIOp::create(b, pair, k);
              Value e = load(b, indices, {t, j});
              emitIf(b, emitInRange(b, e, experts),
                     [&](ImplicitLocOpBuilder &b) {
                       emitAtomicAdd(b, one, hist,
                                     castIndex(b, b.getIndexType(), e));
                     });
            },
            ctx.blockSize);
        gpu::BarrierOp::create(b);
        Value zero = arith::ConstantIntOp::create(b, i32, 0);
        emitFor(
            b, ctx.threadId, experts,
            [&](ImplicitLocOpBuilder &b, Value e) {
              Value v = load(b, hist, e);
              emitIf(
                  b,
                  arith::CmpIOp::create(b, arith::CmpIPredicate::ne, v, zero),
                  [&](ImplicitLocOpBuilder &b) {
                    memref::AtomicRMWOp::create(b, arith::AtomicRMWKind::addi,
                                                v, counts, ValueRange{seq, e});
                  });
            },
            ctx.blockSize);
      });
  return counts;
}

/// Stores f32 `value`, rounded once to the element type of `memref`.
void storeRounded(ImplicitLocOpBuilder &b, Value value, Value memref,
                  ValueRange indices) {
  Type element = elementTypeOf(memref);
  if (!element.isF32())
    value = arith::TruncFOp::create(b, element, value);
  store(b, value, memref, indices);
}

/// The gradient of `spec`: dx written once per token, through the score
/// function, from ds = the balance loss's dp (normalize backward) plus the
/// routing g_j of the pairs on each expert.
void emitGradient(ImplicitLocOpBuilder &b, Operation *op,
                  const GradientSpec &spec, int64_t warpsPerBlock) {
  int64_t numExperts = cast<MemRefType>(spec.logits.getType()).getDimSize(1);
  int64_t k = cast<MemRefType>(spec.indices.getType()).getDimSize(1);
  Value numTokens = dimOf(b, spec.logits, 0);
  std::optional<Sequences> sequences;
  Value counts;
  if (spec.lossGrad) {
    sequences.emplace(b, numTokens, spec.seqLen);
    counts = emitSequenceCounts(b, getKernelName(op, "count"), spec.indices,
                                *sequences, numExperts);
  }
  emitWarpPerToken(
      b, getKernelName(op), numTokens, warpsPerBlock, {},
      [&](ImplicitLocOpBuilder &b, const KernelContext &, Value t, Value real,
          Value lane, bool) {
        WarpRow row(b, lane, numExperts);
        size_t numSlots = row.numSlots();
        WarpScores token =
            emitWarpScores(b, spec.function, row, spec.logits, t);
        Value zero = emitF32(b, 0.0);
        SmallVector<Value> ds(numSlots, zero);
        Value dot = zero;

        if (spec.lossGrad) {
          // dp[e] = c[b, e] * dl * E / (K * T_b) / (B * T_b).
          Value seq = sequences->of(b, t);
          auto [first, end] = sequences->bounds(b, seq);
          Value coefficient = emitBalanceGradCoefficient(
              b, load(b, spec.lossGrad, {}),
              emitIndexToF32(b, arith::SubIOp::create(b, end, first)),
              emitIndexToF32(b, sequences->count), numExperts, k);
          SmallVector<Value> dp, dpS;
          for (auto [count, s] : llvm::zip_equal(
                   emitSlotCounts(b, row, counts, seq), token.scores)) {
            dp.push_back(arith::MulFOp::create(b, count, coefficient));
            dpS.push_back(arith::MulFOp::create(b, dp.back(), s));
          }
          BalanceScoreGrad aux = emitBalanceScoreGrad(
              b, emitWarpRowSum(b, row, token.scores),
              emitWarpRowSum(b, row, dpS), spec.auxNormalize);
          for (size_t s = 0; s < numSlots; ++s)
            ds[s] = aux.apply(b, dp[s]);
          dot = aux.dot;
        }

        if (spec.grad) {
          // Lane j < K holds pair j: its expert (-1 when invalid), weight w_j
          // (the expert's score, from the lane that holds it) and dw_j.
          Type i32 = b.getI32Type();
          Value isPair = arith::CmpIOp::create(b, arith::CmpIPredicate::ult,
                                               lane, constIndex(b, k));
          Value j = arith::MinUIOp::create(b, lane, constIndex(b, k - 1));
          Value raw = load(b, spec.indices, {t, j});
          Value valid = arith::AndIOp::create(
              b, isPair, emitInRange(b, raw, constIndex(b, numExperts)));
          Value expert = arith::SelectOp::create(
              b, valid,
              raw.getType() == i32 ? raw : arith::TruncIOp::create(b, i32, raw),
              arith::ConstantIntOp::create(b, i32, -1));
          Value source = arith::AndIOp::create(
              b, expert, arith::ConstantIntOp::create(b, i32, kWarpSize - 1));
          Value slot = arith::ShRSIOp::create(
              b, expert,
              arith::ConstantIntOp::create(b, i32, llvm::Log2_64(kWarpSize)));
          Value w = zero;
          for (size_t s = 0; s < numSlots; ++s)
            w = arith::SelectOp::create(
                b,
                arith::CmpIOp::create(b, arith::CmpIPredicate::eq, slot,
                                      arith::ConstantIntOp::create(b, i32, s)),
                emitShuffleIdx(b, token.scores[s], source), w);
          w = arith::SelectOp::create(b, valid, w, zero);
          Value dw = load(b, spec.grad, {t, j});
          Value dwW = arith::SelectOp::create(
              b, valid, arith::MulFOp::create(b, dw, w), zero);
          Value g =
              emitRouteWeightGrad(b, dw, emitWarpSum(b, dwW), emitWarpSum(b, w),
                                  emitF32(b, spec.scale), spec.normalize);
          g = arith::SelectOp::create(b, valid, g, zero);
          Value gw = arith::SelectOp::create(
              b, valid, arith::MulFOp::create(b, g, w), zero);
          Value routeDot = emitWarpSum(b, gw);
          dot = spec.lossGrad ? Value(arith::AddFOp::create(b, dot, routeDot))
                              : routeDot;
          // ds[e] += g_j for every pair j on expert e (duplicates add up).
          ds = emitForIter(
              b, 0, k, ds,
              [&](ImplicitLocOpBuilder &b, Value pair, ValueRange acc) {
                Value from = castIndex(b, i32, pair);
                Value pairExpert = emitShuffleIdx(b, expert, from);
                Value pairGrad = emitShuffleIdx(b, g, from);
                SmallVector<Value> next;
                for (size_t s = 0; s < numSlots; ++s) {
                  Value mine = arith::CmpIOp::create(
                      b, arith::CmpIPredicate::eq, row.expert[s], pairExpert);
                  next.push_back(arith::SelectOp::create(
                      b, mine, arith::AddFOp::create(b, acc[s], pairGrad),
                      acc[s]));
                }
                return next;
              });
        }

        for (size_t s = 0; s < numSlots; ++s) {
          Value write = arith::AndIOp::create(b, real, row.inRange[s]);
          emitIf(b, write, [&](ImplicitLocOpBuilder &b) {
            Value dx = emitScoreBackward(b, spec.function, ds[s],
                                         token.scores[s], token.logits[s], dot);
            storeRounded(b, dx, spec.output, {t, row.clamped[s]});
          });
        }
      });
  if (counts)
    gpu::DeallocOp::create(b, Type(), ValueRange{}, counts);
}

/// The balance loss: counts, a warp per token writing its term
/// sum_e f[b, e] * p[t, e] / T_b to a [T] scratch, then one block summing the
/// terms in a fixed order.
void emitAuxLoss(ImplicitLocOpBuilder &b, BufferAuxLossOp op,
                 int64_t warpsPerBlock) {
  int64_t numExperts = op.getLogits().getType().getDimSize(1);
  int64_t k = op.getIndices().getType().getDimSize(1);
  Value numTokens = dimOf(b, op.getLogits(), 0);
  Sequences sequences(b, numTokens, op.getSeqLen());
  Value counts = emitSequenceCounts(b, getKernelName(op, "count"),
                                    op.getIndices(), sequences, numExperts);
  Value terms = gpu::AllocOp::create(
                    b, MemRefType::get({ShapedType::kDynamic}, b.getF32Type()),
                    /*asyncToken=*/Type(), ValueRange{}, ValueRange{numTokens},
                    ValueRange{})
                    .getMemref();
  emitWarpPerToken(
      b, getKernelName(op, "token"), numTokens, warpsPerBlock, {},
      [&](ImplicitLocOpBuilder &b, const KernelContext &, Value t, Value real,
          Value lane, bool) {
        WarpRow row(b, lane, numExperts);
        WarpScores token =
            emitWarpScores(b, op.getFunction(), row, op.getLogits(), t);
        Value seq = sequences.of(b, t);
        auto [first, end] = sequences.bounds(b, seq);
        Value rows = emitIndexToF32(b, arith::SubIOp::create(b, end, first));
        // f[b, e] = E * c[b, e] / (K * T_b).
        Value fraction = emitBalanceFraction(b, rows, numExperts, k);
        SmallVector<Value> fS;
        for (auto [count, s] :
             llvm::zip_equal(emitSlotCounts(b, row, counts, seq), token.scores))
          fS.push_back(arith::MulFOp::create(
              b, arith::MulFOp::create(b, count, fraction), s));
        Value rowSum =
            op.getNormalize() ? emitWarpRowSum(b, row, token.scores) : Value();
        Value term = emitBalanceLossTerm(b, emitWarpRowSum(b, row, fS), rowSum,
                                         op.getNormalize());
        Value leader = arith::AndIOp::create(
            b, real,
            arith::CmpIOp::create(b, arith::CmpIPredicate::eq, lane,
                                  constIndex(b, 0)));
        emitIf(b, leader, [&](ImplicitLocOpBuilder &b) {
          store(b, arith::DivFOp::create(b, term, rows), terms, t);
        });
      });
  GPUTarget().forEachItem(
      b, getKernelName(op, "sum"), constIndex(b, 1), ItemKind::Block,
      [&](ImplicitLocOpBuilder &b, const ThreadGroup &group, Value) {
        Value total =
            group.reduce(b, constIndex(b, 0), numTokens,
                         ValueRange{emitF32(b, 0.0)}, {Reduction::AddF},
                         [&](ImplicitLocOpBuilder &b, Value t, ValueRange acc) {
                           return SmallVector<Value>{arith::AddFOp::create(
                               b, acc[0], load(b, terms, t))};
                         })[0];
        group.single(b, [&](ImplicitLocOpBuilder &b) {
          store(b, emitBalanceLoss(b, total, sequences.count), op.getOutput(),
                ValueRange{});
        });
      });
  gpu::DeallocOp::create(b, Type(), ValueRange{}, terms);
  gpu::DeallocOp::create(b, Type(), ValueRange{}, counts);
}

/// Fails, with a diagnostic naming the op the user wrote, for shapes past
/// the warp-per-token kernels.
LogicalResult checkWarpPerToken(Operation *op, Value logits, Value indices) {
  int64_t numExperts = cast<MemRefType>(logits.getType()).getDimSize(1);
  int64_t k = cast<MemRefType>(indices.getType()).getDimSize(1);
  auto fail = [&]() {
    return op->emitError() << "'" << getUserOpName(op)
                           << "' op GPU lowering supports ";
  };
  if (numExperts > kMaxWarpExperts)
    return fail() << "at most " << kMaxWarpExperts
                  << " experts (32 per lane of a warp), got " << numExperts;
  if (k > kWarpSize)
    return fail() << "k <= " << kWarpSize << ", got " << k;
  return success();
}

/// Base of the patterns: checks the limits, builds with the op's location,
/// then erases the op.
template <typename OpTy>
struct TrainingKernel : public OpConversionPattern<OpTy> {
  using OpAdaptor = typename OpConversionPattern<OpTy>::OpAdaptor;

  TrainingKernel(MLIRContext *ctx, int64_t warpsPerBlock)
      : OpConversionPattern<OpTy>(ctx), warpsPerBlock(warpsPerBlock) {}

  LogicalResult
  matchAndRewrite(OpTy op, OpAdaptor,
                  ConversionPatternRewriter &rewriter) const final {
    if (failed(checkWarpPerToken(op, op.getLogits(), op.getIndices())))
      return failure();
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    lower(op, b);
    rewriter.eraseOp(op);
    return success();
  }

  virtual void lower(OpTy op, ImplicitLocOpBuilder &b) const = 0;

  int64_t warpsPerBlock;
};

struct RouteGradKernel : TrainingKernel<BufferRouteGradOp> {
  using TrainingKernel::TrainingKernel;
  void lower(BufferRouteGradOp op, ImplicitLocOpBuilder &b) const override {
    emitGradient(b, op, GradientSpec(op), warpsPerBlock);
  }
};

struct AuxLossKernel : TrainingKernel<BufferAuxLossOp> {
  using TrainingKernel::TrainingKernel;
  void lower(BufferAuxLossOp op, ImplicitLocOpBuilder &b) const override {
    emitAuxLoss(b, op, warpsPerBlock);
  }
};

struct AuxLossGradKernel : TrainingKernel<BufferAuxLossGradOp> {
  using TrainingKernel::TrainingKernel;
  void lower(BufferAuxLossGradOp op, ImplicitLocOpBuilder &b) const override {
    emitGradient(b, op, GradientSpec(op), warpsPerBlock);
  }
};

struct RouteAuxGradKernel : TrainingKernel<BufferRouteAuxGradOp> {
  using TrainingKernel::TrainingKernel;
  void lower(BufferRouteAuxGradOp op, ImplicitLocOpBuilder &b) const override {
    emitGradient(b, op, GradientSpec(op), warpsPerBlock);
  }
};

} // namespace

void mlir::moe::populateMoETrainingToGPUPatterns(RewritePatternSet &patterns,
                                                 int64_t warpsPerBlock) {
  patterns.add<RouteGradKernel, AuxLossKernel, AuxLossGradKernel,
               RouteAuxGradKernel>(patterns.getContext(), warpsPerBlock);
}
