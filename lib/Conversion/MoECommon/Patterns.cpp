//===- Patterns.cpp - one pattern per op over the shared algorithms -------===//

#include "moe/Conversion/MoECommon/Algorithms.h"

#include "moe/Conversion/MoECommon/Builders.h"
#include "moe/Dialect/MoE/IR/MoEDialect.h"

#include "mlir/Transforms/DialectConversion.h"


using namespace mlir;
using namespace mlir::moe;

std::string mlir::moe::getUserOpName(Operation *op) {
  StringRef name = op->getName().getStringRef();
  if (name.consume_front("moe.buffer."))
    return ("moe." + name).str();
  return name.str();
}

LogicalResult mlir::moe::checkBufferized(Operation *root, StringRef pass,
                                         StringRef pipeline) {
  bool bufferized = true;
  root->walk([&](Operation *op) {
    if (!isa<MoEDialect>(op->getDialect()) ||
        llvm::none_of(op->getOperandTypes(), llvm::IsaPred<TensorType>))
      return;
    op->emitError() << "'" << op->getName() << "' works on tensors; " << pass
                    << " lowers bufferized moe ops: run "
                       "--one-shot-bufferize=\"bufferize-function-boundaries\" "
                       "first, or use "
                    << pipeline;
    bufferized = false;
  });
  return success(bufferized);
}

namespace {

/// Lowers an op whose algorithm writes its outputs with `emit`.
template <typename OpTy,
          void (*emit)(ImplicitLocOpBuilder &, const LoweringTarget &, OpTy)>
class SharedLowering : public OpConversionPattern<OpTy> {
public:
  SharedLowering(MLIRContext *ctx,
                 std::shared_ptr<const LoweringTarget> target)
      : OpConversionPattern<OpTy>(ctx), target(std::move(target)) {}

  LogicalResult
  matchAndRewrite(OpTy op, typename OpTy::Adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (failed(target->checkSupported(op)))
      return failure();
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    emit(b, *target, op);
    rewriter.eraseOp(op);
    return success();
  }

private:
  std::shared_ptr<const LoweringTarget> target;
};

/// moe.imbalance: the metric goes through a scratch cell to the host value
/// that replaces the op.
class ImbalanceLowering : public OpConversionPattern<BufferImbalanceOp> {
public:
  ImbalanceLowering(MLIRContext *ctx,
                    std::shared_ptr<const LoweringTarget> target)
      : OpConversionPattern(ctx), target(std::move(target)) {}

  LogicalResult
  matchAndRewrite(BufferImbalanceOp op, OpAdaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Value cell = target->allocScratch(b, MemRefType::get({1}, b.getF32Type()));
    emitImbalance(b, *target, op, cell);
    Value value = target->loadScalar(b, cell);
    target->releaseScratch(b, cell);
    rewriter.replaceOp(op, value);
    return success();
  }

private:
  std::shared_ptr<const LoweringTarget> target;
};

} // namespace

void mlir::moe::populateSharedLoweringPatterns(
    RewritePatternSet &patterns, std::shared_ptr<const LoweringTarget> target) {
  patterns.add<SharedLowering<BufferLoadOp, emitLoad>,
               SharedLowering<BufferUpdateBiasOp, emitUpdateBias>,
               SharedLowering<BufferNormalizeOp, emitNormalize>,
               SharedLowering<BufferDispatchOp, emitDispatch>,
               SharedLowering<BufferPermuteOp, emitPermute>,
               SharedLowering<BufferCombineOp, emitCombine>, ImbalanceLowering>(
      patterns.getContext(), target);
}
