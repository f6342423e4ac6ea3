//===- ConvertMoEToLoopsPass.cpp - the --convert-moe-to-loops pass --------===//

#include "moe/Conversion/Passes.h"

#include "moe/Conversion/MoECommon/Algorithms.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::moe {
#define GEN_PASS_DEF_CONVERTMOETOLOOPS
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

struct ConvertMoEToLoopsPass
    : public moe::impl::ConvertMoEToLoopsBase<ConvertMoEToLoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    if (failed(checkBufferized(getOperation(), "--convert-moe-to-loops",
                               "--moe-lower-to-cpu")))
      return signalPassFailure();
    ConversionTarget target(getContext());
    target.addLegalDialect<arith::ArithDialect, math::MathDialect,
                           memref::MemRefDialect, scf::SCFDialect,
                           vector::VectorDialect>();
    target.addIllegalDialect<MoEDialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(&getContext());
    populateMoEToLoopsPatterns(patterns, {parallel, selection, targetCPU});
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
