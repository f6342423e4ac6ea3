//===- RouteKernels.cpp - moe.buffer.{score,topk,route} to GPU kernels ----===//
//
// A warp per token (WarpSelection.h); moe.route also counts its winners in
// a workgroup histogram that each block flushes with atomics.
//
//===----------------------------------------------------------------------===//

#include "GPUTarget.h"
#include "TrainingKernels.h"
#include "WarpSelection.h"

#include "moe/Conversion/MoECommon/Algorithms.h"
#include "moe/Conversion/MoECommon/Builders.h"
#include "moe/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Transforms/DialectConversion.h"

using namespace mlir;
using namespace mlir::moe;

namespace {

/// A routing-op pattern with the options of the warp selection.
template <typename OpTy>
struct WarpPattern : public OpConversionPattern<OpTy> {
  WarpPattern(MLIRContext *ctx, int64_t warpsPerBlock, bool redux)
      : OpConversionPattern<OpTy>(ctx), warpsPerBlock(warpsPerBlock),
        redux(redux) {}

  int64_t warpsPerBlock;
  /// Warp arg-max with redux.sync (sm_80 and later) rather than shuffles.
  bool redux;
};

struct ScoreKernel : WarpPattern<BufferScoreOp> {
  using WarpPattern::WarpPattern;
  LogicalResult
  matchAndRewrite(BufferScoreOp op, OpAdaptor,
                  ConversionPatternRewriter &rewriter) const override {
    int64_t numExperts = op.getInput().getType().getDimSize(1);
    if (numExperts > kMaxWarpExperts)
      return op.emitError() << "'" << getUserOpName(op)
                            << "' op GPU lowering supports at most "
                            << kMaxWarpExperts << " experts, got "
                            << numExperts;
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    emitWarpPerToken(
        b, getKernelName(op), dimOf(b, op.getInput(), 0), warpsPerBlock, {},
        [&](ImplicitLocOpBuilder &b, const KernelContext &, Value t, Value real,
            Value lane) {
          WarpRow row(b, lane, numExperts);
          SmallVector<Value> logits;
          for (Value e : row.clamped)
            logits.push_back(emitToF32(b, load(b, op.getInput(), {t, e})));
          RowStats stats = emitWarpRowStats(b, op.getFunction(), row, logits);
          for (size_t s = 0; s < row.numSlots(); ++s) {
            Value write = arith::AndIOp::create(b, real, row.inRange[s]);
            emitIf(b, write, [&](ImplicitLocOpBuilder &b) {
              store(b, emitScore(b, op.getFunction(), logits[s], stats),
                    op.getOutput(), {t, row.clamped[s]});
            });
          }
        });
    rewriter.eraseOp(op);
    return success();
  }
};

struct TopKKernel : WarpPattern<BufferTopKOp> {
  using WarpPattern::WarpPattern;
  LogicalResult
  matchAndRewrite(BufferTopKOp op, OpAdaptor,
                  ConversionPatternRewriter &rewriter) const override {
    SelectionConfig config = op.getSelectionConfig();
    if (failed(checkWarpSelection(op, config)))
      return failure();
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    emitWarpPerToken(
        b, getKernelName(op), dimOf(b, op.getScores(), 0), warpsPerBlock, {},
        [&](ImplicitLocOpBuilder &b, const KernelContext &, Value t, Value real,
            Value lane) {
          WarpRow row(b, lane, config.numExperts);
          auto [keys, scores] = emitWarpKeys(b, row, op.getScores(),
                                             std::nullopt, op.getBias(), t);
          SmallVector<Candidate> winners =
              emitWarpSelection(b, row, keys, scores, config, redux);
          emitStoreWarpWinners(b, winners, t, real, lane, op.getWeights(),
                               op.getIndices(), Value(), /*normalize=*/false,
                               APFloat(1.0f));
        });
    rewriter.eraseOp(op);
    return success();
  }
};

struct RouteKernel : WarpPattern<BufferRouteOp> {
  using WarpPattern::WarpPattern;
  LogicalResult
  matchAndRewrite(BufferRouteOp op, OpAdaptor,
                  ConversionPatternRewriter &rewriter) const override {
    SelectionConfig config = op.getSelectionConfig();
    Type countType = elementTypeOf(op.getCounts());
    if (failed(checkWarpSelection(op, config)) ||
        failed(checkHistogramFits(op, config.numExperts, countType)))
      return failure();
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    std::string name = getKernelName(op);
    GPUTarget().fill(b, name, op.getCounts(),
                     cast<TypedAttr>(b.getZeroAttr(countType)));
    MemRefType histType =
        getWorkgroupBufferType(b.getContext(), config.numExperts, countType);
    emitWarpPerToken(
        b, name, dimOf(b, op.getLogits(), 0), warpsPerBlock, {histType},
        [&](ImplicitLocOpBuilder &b, const KernelContext &ctx, Value t,
            Value real, Value lane) {
          Value hist = ctx.workgroup()[0];
          emitZeroWorkgroup(b, ctx, hist, config.numExperts);
          WarpRow row(b, lane, config.numExperts);
          auto [keys, scores] = emitWarpKeys(b, row, op.getLogits(),
                                             op.getFunction(), op.getBias(), t);
          SmallVector<Candidate> winners =
              emitWarpSelection(b, row, keys, scores, config, redux);
          emitStoreWarpWinners(b, winners, t, real, lane, op.getWeights(),
                               op.getIndices(), hist, op.getNormalize(),
                               op.getScale());
          emitFlushHistogram(b, ctx, hist, op.getCounts(), config.numExperts);
        });
    rewriter.eraseOp(op);
    return success();
  }
};

} // namespace

void mlir::moe::populateMoEToGPUPatterns(RewritePatternSet &patterns,
                                         int64_t warpsPerBlock, bool redux) {
  patterns.add<ScoreKernel, TopKKernel, RouteKernel>(patterns.getContext(),
                                                      warpsPerBlock, redux);
  populateMoETrainingToGPUPatterns(patterns, warpsPerBlock);
  populateSharedLoweringPatterns(patterns, std::make_shared<GPUTarget>());
}
