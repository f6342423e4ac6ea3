//===- FuseTraining.cpp - fuse the router's two gradients -----------------===//

#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEFUSETRAINING
#include "moe/Dialect/MoE/Transforms/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// addf(route_grad, aux_loss_grad) (either order)  ==>  route_aux_grad.
struct FuseGradientSum : OpRewritePattern<arith::AddFOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(arith::AddFOp add,
                                PatternRewriter &rewriter) const override {
    auto routeGrad = add.getLhs().getDefiningOp<RouteGradOp>();
    auto auxGrad = add.getRhs().getDefiningOp<AuxLossGradOp>();
    if (!routeGrad || !auxGrad) {
      routeGrad = add.getRhs().getDefiningOp<RouteGradOp>();
      auxGrad = add.getLhs().getDefiningOp<AuxLossGradOp>();
    }
    if (!routeGrad || !auxGrad)
      return rewriter.notifyMatchFailure(add, "not a sum of moe.route_grad "
                                              "and moe.aux_loss_grad");
    if (routeGrad.getLogits() != auxGrad.getLogits() ||
        routeGrad.getIndices() != auxGrad.getIndices() ||
        routeGrad.getFunction() != auxGrad.getFunction())
      return rewriter.notifyMatchFailure(
          add, "the gradients differ in logits, indices or score function");
    if (!routeGrad->hasOneUse() || !auxGrad->hasOneUse())
      return rewriter.notifyMatchFailure(
          add, "a gradient has other users: fusing would repeat its work");

    rewriter.replaceOpWithNewOp<RouteAuxGradOp>(
        add, add.getType(), routeGrad.getFunctionAttr(), routeGrad.getLogits(),
        routeGrad.getIndices(), routeGrad.getGrad(), auxGrad.getLossGrad(),
        routeGrad.getNormalizeAttr(), routeGrad.getScaleAttr(),
        auxGrad.getSeqLenAttr(), auxGrad.getNormalizeAttr());
    rewriter.eraseOp(routeGrad);
    rewriter.eraseOp(auxGrad);
    return success();
  }
};

struct MoEFuseTrainingPass
    : public moe::impl::MoEFuseTrainingBase<MoEFuseTrainingPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateFuseTrainingPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::moe::populateFuseTrainingPatterns(RewritePatternSet &patterns) {
  patterns.add<FuseGradientSum>(patterns.getContext());
}
