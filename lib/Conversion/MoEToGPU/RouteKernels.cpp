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

/// What a selection kernel reads and writes: moe.topk (scores in) and
/// moe.route (logits in, winners counted).
struct SelectionSpec {
  Value source;
  std::optional<ScoreFunction> function;
  Value bias, weights, indices;
  /// The route's counts (zeroed already), or null.
  Value counts;
  bool normalize;
  APFloat scale;
  SelectionConfig config;
};

/// A warp per token, grid-stride. Each block copies the bias to workgroup
/// memory and zeroes its histogram once, reads each token's row with vector
/// loads where the rows are aligned, and flushes its counts at the end.
void emitSelectionKernel(ImplicitLocOpBuilder &b, StringRef name,
                         const SelectionSpec &spec, int64_t warpsPerBlock,
                         bool redux) {
  MLIRContext *ctx = b.getContext();
  int64_t numExperts = spec.config.numExperts;
  SmallVector<Type> workgroup;
  if (spec.counts)
    workgroup.push_back(getWorkgroupBufferType(ctx, numExperts,
                                               elementTypeOf(spec.counts)));
  int64_t width =
      getVectorRowWidth(cast<MemRefType>(spec.source.getType()),
                        spec.function == ScoreFunction::softmax);
  if (spec.bias)
    workgroup.push_back(getWarpRowWorkgroupType(ctx, numExperts, width,
                                                elementTypeOf(spec.bias)));
  auto hist = [&](const KernelContext &kernel) {
    return kernel.workgroup().front();
  };
  auto biasCopy = [&](const KernelContext &kernel) {
    return kernel.workgroup().back();
  };
  emitWarpPerToken(
      b, name, dimOf(b, spec.source, 0), warpsPerBlock, workgroup,
      [&](ImplicitLocOpBuilder &b, const KernelContext &kernel, Value t,
          Value real, Value lane, bool vectorLoads) {
        WarpRow row(b, lane, numExperts, width);
        SmallVector<Value> inputs =
            emitWarpRowLoad(b, row, spec.source, t, vectorLoads);
        // The bias's slots come from the block's copy, in the row's layout.
        SmallVector<Value> bias;
        if (spec.bias)
          bias = emitWarpRowLoad(b, row, biasCopy(kernel), Value(),
                                 /*vectorLoads=*/true);
        auto [keys, scores] =
            emitWarpKeys(b, row, inputs, spec.function, bias);
        SmallVector<Candidate> winners =
            emitWarpSelection(b, row, keys, scores, spec.config, redux);
        emitStoreWarpWinners(b, winners, t, real, lane, spec.weights,
                             spec.indices,
                             spec.counts ? hist(kernel) : Value(),
                             spec.normalize, spec.scale);
      },
      [&](ImplicitLocOpBuilder &b, const KernelContext &kernel) {
        if (spec.counts)
          emitZeroWorkgroup(b, kernel, hist(kernel), numExperts,
                            /*barrier=*/false);
        if (spec.bias)
          emitCopyToWorkgroup(b, kernel, spec.bias, biasCopy(kernel),
                              numExperts);
      },
      [&](ImplicitLocOpBuilder &b, const KernelContext &kernel) {
        if (spec.counts)
          emitFlushHistogram(b, kernel, hist(kernel), spec.counts,
                             numExperts);
      },
      width > 1 ? spec.source : Value());
}

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
    int64_t width = getVectorRowWidth(
        op.getInput().getType(), op.getFunction() == ScoreFunction::softmax);
    emitWarpPerToken(
        b, getKernelName(op), dimOf(b, op.getInput(), 0), warpsPerBlock, {},
        [&](ImplicitLocOpBuilder &b, const KernelContext &, Value t, Value real,
            Value lane, bool vectorLoads) {
          WarpRow row(b, lane, numExperts, width);
          SmallVector<Value> logits =
              emitWarpRowLoad(b, row, op.getInput(), t, vectorLoads);
          RowStats stats = emitWarpRowStats(b, op.getFunction(), row, logits);
          for (size_t s = 0; s < row.numSlots(); ++s) {
            Value write = arith::AndIOp::create(b, real, row.inRange[s]);
            emitIf(b, write, [&](ImplicitLocOpBuilder &b) {
              store(b, emitScore(b, op.getFunction(), logits[s], stats),
                    op.getOutput(), {t, row.clamped[s]});
            });
          }
        },
        nullptr, nullptr, width > 1 ? op.getInput() : Value());
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
    emitSelectionKernel(b, getKernelName(op),
                        {op.getScores(), std::nullopt, op.getBias(),
                         op.getWeights(), op.getIndices(), Value(),
                         /*normalize=*/false, APFloat(1.0f), config},
                        warpsPerBlock, redux);
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
    emitSelectionKernel(b, name,
                        {op.getLogits(), op.getFunction(), op.getBias(),
                         op.getWeights(), op.getIndices(), op.getCounts(),
                         op.getNormalize(), op.getScale(), config},
                        warpsPerBlock, redux);
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
