//===- MoEToGPU.cpp - moe.buffer ops to gpu kernels -----------------------===//

#include "moe/Conversion/Passes.h"

#include "moe/Dialect/MoE/IR/MoEOps.h"

namespace mlir::moe {
#define GEN_PASS_DEF_CONVERTMOETOGPU
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {
struct ConvertMoEToGPUPass
    : public moe::impl::ConvertMoEToGPUBase<ConvertMoEToGPUPass> {
  void runOnOperation() override {
    WalkResult result = getOperation()->walk([](Operation *op) {
      if (!isa<MoEDialect>(op->getDialect()))
        return WalkResult::advance();
      op->emitOpError("has no GPU lowering yet");
      return WalkResult::interrupt();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace
