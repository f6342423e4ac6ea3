//===- RouteToLoops.cpp - moe.buffer.{score,topk,route} to loops ----------===//
//
// The routing ops on the CPU: a token loop that fills the token's row
// buffers (vectorised scores and keys), runs the selection strategies of
// Selection.h and stores the winners.
//
//===----------------------------------------------------------------------===//

#include "CPUTarget.h"
#include "Selection.h"

#include "moe/Conversion/MoECommon/Algorithms.h"
#include "moe/Conversion/MoECommon/RoutingMath.h"
#include "moe/Conversion/MoEToSCF/TrainingToLoops.h"
#include "moe/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

/// Stores the K winners of token t: gate weights and indices (as vectors
/// when the rows are contiguous); counts them when `counts` is given.
void emitStoreWinners(ImplicitLocOpBuilder &b, const Selector &selector,
                      Value t, Value weights, Value indices, Value counts,
                      bool normalize, const APFloat &scale) {
  const SelectionState &state = selector.getState();
  int64_t k = state.config.k;
  Value sum;
  if (normalize) {
    sum = emitForIter(b, 0, k, ValueRange{emitF32(b, 0.0)},
                      [&](ImplicitLocOpBuilder &b, Value j, ValueRange args) {
                        return SmallVector<Value>{arith::AddFOp::create(
                            b, args[0], load(b, state.winnerScores, j))};
                      })[0];
  }
  Type indexType = elementTypeOf(indices);
  if (cast<MemRefType>(weights.getType()).isLastDimUnitStride() &&
      cast<MemRefType>(indices.getType()).isLastDimUnitStride()) {
    auto f32Row = VectorType::get({k}, b.getF32Type());
    Value c0 = constIndex(b, 0);
    Value w = vector::LoadOp::create(b, f32Row, state.winnerScores, c0);
    Value sumRow =
        normalize ? Value(vector::BroadcastOp::create(b, f32Row, sum)) : Value();
    vector::StoreOp::create(b, emitGateWeight(b, w, sumRow, normalize, scale),
                            weights, ValueRange{t, c0});
    Value ids = vector::LoadOp::create(
        b, VectorType::get({k}, b.getIndexType()), state.winnerIds, c0);
    vector::StoreOp::create(
        b, arith::IndexCastOp::create(b, VectorType::get({k}, indexType), ids),
        indices, ValueRange{t, c0});
    if (counts)
      emitFor(b, 0, k, [&](ImplicitLocOpBuilder &b, Value j) {
        emitIncrement(b, counts, load(b, state.winnerIds, j));
      });
    return;
  }
  emitFor(b, 0, k, [&](ImplicitLocOpBuilder &b, Value j) {
    Value w = load(b, state.winnerScores, j);
    Value e = load(b, state.winnerIds, j);
    store(b, emitGateWeight(b, w, sum, normalize, scale), weights, {t, j});
    store(b, castIndex(b, indexType, e), indices, {t, j});
    if (counts)
      emitIncrement(b, counts, e);
  });
}

struct ScoreLowering : OpConversionPattern<BufferScoreOp> {
  using OpConversionPattern::OpConversionPattern;
  LogicalResult
  matchAndRewrite(BufferScoreOp op, OpAdaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    int64_t numExperts = op.getInput().getType().getDimSize(1);
    TokenRow row{Value(), createScratch(b, MemRefType::get(
                                               {numExperts}, b.getF32Type()))};
    emitFor(b, 0, dimOf(b, op.getInput(), 0),
            [&](ImplicitLocOpBuilder &b, Value t) {
              emitTokenRow(b, op.getInput(), op.getFunction(), Value(), t,
                           numExperts, row);
              emitFor(b, 0, numExperts, [&](ImplicitLocOpBuilder &b, Value e) {
                store(b, load(b, row.scores, e), op.getOutput(), {t, e});
              });
            });
    rewriter.eraseOp(op);
    return success();
  }
};

/// A routing op: its token loop may be parallel, and its candidates are
/// gathered as the target the op is built for does best.
template <typename OpTy>
struct SelectionLowering : OpConversionPattern<OpTy> {
  SelectionLowering(MLIRContext *context, const MoEToLoopsOptions &options)
      : OpConversionPattern<OpTy>(context), options(options) {}

protected:
  /// The options with the selection resolved for `op`.
  MoEToLoopsOptions optionsAt(OpTy op) const {
    MoEToLoopsOptions resolved = options;
    resolved.selection =
        resolveCPUSelection(op, options.selection, options.targetCPU);
    return resolved;
  }

  MoEToLoopsOptions options;
};

struct TopKLowering : SelectionLowering<BufferTopKOp> {
  using SelectionLowering::SelectionLowering;
  LogicalResult
  matchAndRewrite(BufferTopKOp op, OpAdaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    SelectionConfig config = op.getSelectionConfig();
    emitSelectionLoop(
        b, dimOf(b, op.getScores(), 0), config,
        [&](ImplicitLocOpBuilder &b, Value t, const TokenRow &row) {
          emitTokenRow(b, op.getScores(), std::nullopt, op.getBias(), t,
                       config.numExperts, row);
        },
        [&](ImplicitLocOpBuilder &b, Value t, const Selector &selector,
            Value) {
          emitStoreWinners(b, selector, t, op.getWeights(), op.getIndices(),
                           Value(), /*normalize=*/false, APFloat(1.0f));
        },
        /*counts=*/Value(), optionsAt(op));
    rewriter.eraseOp(op);
    return success();
  }
};

struct RouteLowering : SelectionLowering<BufferRouteOp> {
  using SelectionLowering::SelectionLowering;
  LogicalResult
  matchAndRewrite(BufferRouteOp op, OpAdaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    SelectionConfig config = op.getSelectionConfig();
    CPUTarget().fill(
        b, getKernelName(op), op.getCounts(),
        cast<TypedAttr>(b.getZeroAttr(elementTypeOf(op.getCounts()))));
    emitSelectionLoop(
        b, dimOf(b, op.getLogits(), 0), config,
        [&](ImplicitLocOpBuilder &b, Value t, const TokenRow &row) {
          emitTokenRow(b, op.getLogits(), op.getFunction(), op.getBias(), t,
                       config.numExperts, row);
        },
        [&](ImplicitLocOpBuilder &b, Value t, const Selector &selector,
            Value counts) {
          emitStoreWinners(b, selector, t, op.getWeights(), op.getIndices(),
                           counts, op.getNormalize(), op.getScale());
        },
        op.getCounts(), optionsAt(op));
    rewriter.eraseOp(op);
    return success();
  }
};

} // namespace

void mlir::moe::populateMoEToLoopsPatterns(RewritePatternSet &patterns,
                                           const MoEToLoopsOptions &options) {
  patterns.add<ScoreLowering>(patterns.getContext());
  patterns.add<TopKLowering, RouteLowering>(patterns.getContext(), options);
  populateSharedLoweringPatterns(
      patterns, std::make_shared<CPUTarget>(options.parallel));
  populateMoETrainingToLoopsPatterns(patterns);
}
