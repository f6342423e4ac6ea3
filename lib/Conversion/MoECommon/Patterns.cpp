//===- Patterns.cpp - one pattern per op over the shared algorithms -------===//

#include "moe/Conversion/MoECommon/Algorithms.h"

#include "moe/Conversion/MoECommon/Builders.h"
#include "moe/Dialect/MoE/IR/MoEDialect.h"

#include "mlir/Transforms/DialectConversion.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::moe;

std::string mlir::moe::getUserOpName(Operation *op) {
  StringRef name = op->getName().getStringRef();
  if (name.consume_front("moe.buffer."))
    return ("moe." + name).str();
  return name.str();
}

std::string mlir::moe::getKernelName(Operation *op, StringRef step) {
  std::string name = getUserOpName(op);
  std::replace(name.begin(), name.end(), '.', '_');
  if (!step.empty())
    name += ("_" + step).str();
  return name + "_kernel";
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

/// Emits the algorithm of `op`; returns the value that replaces its result,
/// if it has one.
Value lowerOp(ImplicitLocOpBuilder &b, const LoweringTarget &target,
              BufferLoadOp op) {
  emitLoad(b, target, op);
  return {};
}
Value lowerOp(ImplicitLocOpBuilder &b, const LoweringTarget &target,
              BufferUpdateBiasOp op) {
  emitUpdateBias(b, target, op);
  return {};
}
Value lowerOp(ImplicitLocOpBuilder &b, const LoweringTarget &target,
              BufferImbalanceOp op) {
  Value result =
      target.allocScratch(b, MemRefType::get({1}, b.getF32Type()));
  emitImbalance(b, target, op, result);
  Value value = target.loadScalar(b, result);
  target.releaseScratch(b, result);
  return value;
}
Value lowerOp(ImplicitLocOpBuilder &b, const LoweringTarget &target,
              BufferNormalizeOp op) {
  emitNormalize(b, target, op);
  return {};
}
Value lowerOp(ImplicitLocOpBuilder &b, const LoweringTarget &target,
              BufferDispatchOp op) {
  emitDispatch(b, target, op);
  return {};
}
Value lowerOp(ImplicitLocOpBuilder &b, const LoweringTarget &target,
              BufferPermuteOp op) {
  emitPermute(b, target, op);
  return {};
}
Value lowerOp(ImplicitLocOpBuilder &b, const LoweringTarget &target,
              BufferCombineOp op) {
  emitCombine(b, target, op);
  return {};
}

template <typename OpTy>
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
    if (Value result = lowerOp(b, *target, op))
      rewriter.replaceOp(op, result);
    else
      rewriter.eraseOp(op);
    return success();
  }

private:
  std::shared_ptr<const LoweringTarget> target;
};

} // namespace

void mlir::moe::populateSharedLoweringPatterns(
    RewritePatternSet &patterns, std::shared_ptr<const LoweringTarget> target) {
  patterns.add<SharedLowering<BufferLoadOp>, SharedLowering<BufferUpdateBiasOp>,
               SharedLowering<BufferImbalanceOp>,
               SharedLowering<BufferNormalizeOp>,
               SharedLowering<BufferDispatchOp>,
               SharedLowering<BufferPermuteOp>,
               SharedLowering<BufferCombineOp>>(patterns.getContext(), target);
}
