//===- FuseRouting.cpp - fuse routing chains into moe.route ---------------===//

#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEFUSEROUTING
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// Returns the only user of `value` if it is a NormalizeOp.
static NormalizeOp getSoleNormalizeUser(Value value) {
  if (!value.hasOneUse())
    return {};
  return dyn_cast<NormalizeOp>(*value.getUsers().begin());
}

/// Returns a LoadOp that counts `indices` over all `numExperts` experts with
/// no mask, which the route's counts can replace; dominance holds because the
/// route is created where the topk was.
static LoadOp getFusableLoadUser(Value indices, int64_t numExperts) {
  for (Operation *user : indices.getUsers()) {
    auto load = dyn_cast<LoadOp>(user);
    if (load && !load.getMask() && static_cast<int64_t>(load.getNumExperts()) == numExperts)
      return load;
  }
  return {};
}

/// score -> topk -> [normalize] -> [load]  ==>  route.
struct FuseScoreTopK : OpRewritePattern<TopKOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(TopKOp topk,
                                PatternRewriter &rewriter) const override {
    auto score = topk.getScores().getDefiningOp<ScoreOp>();
    if (!score)
      return rewriter.notifyMatchFailure(topk, "scores do not come from "
                                               "moe.score");
    int64_t numExperts = topk.getSelectionConfig().numExperts;

    // The weights fold into the route when a normalize is their only user;
    // otherwise the route returns the raw weights (scale 1).
    NormalizeOp normalize = getSoleNormalizeUser(topk.getWeights());
    LoadOp load = getFusableLoadUser(topk.getIndices(), numExperts);

    // The counts have the element type of the fused load, i32 otherwise.
    Type countType = load ? load.getCounts().getType()
                          : RankedTensorType::get({numExperts},
                                                  rewriter.getI32Type());
    auto route = RouteOp::create(
        rewriter, topk.getLoc(),
        TypeRange{topk.getWeights().getType(), topk.getIndices().getType(),
                  countType},
        score.getFunctionAttr(), score.getInput(), topk.getBias(),
        topk.getKAttr(), topk.getNumGroupsAttr(), topk.getTopkGroupsAttr(),
        topk.getGroupTopAttr(),
        normalize ? rewriter.getUnitAttr() : UnitAttr(),
        normalize ? normalize.getScaleAttr() : FloatAttr());

    // With a fused normalize, the raw weights had no other user.
    if (normalize)
      rewriter.replaceOp(normalize, route.getWeights());
    if (load)
      rewriter.replaceOp(load, route.getCounts());
    rewriter.replaceOp(topk, {route.getWeights(), route.getIndices()});
    // The score op stays while something else reads the scores.
    if (score->use_empty())
      rewriter.eraseOp(score);
    return success();
  }
};

struct MoEFuseRoutingPass
    : public moe::impl::MoEFuseRoutingBase<MoEFuseRoutingPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateFuseRoutingPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::moe::populateFuseRoutingPatterns(RewritePatternSet &patterns) {
  patterns.add<FuseScoreTopK>(patterns.getContext());
}
