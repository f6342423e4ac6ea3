//===- ConvertMoEToGPUPass.cpp - the --convert-moe-to-gpu pass ------------===//
//
// With host copies (the default), every moe op first moves to device copies
// of its buffers, made with gpu.alloc / gpu.memcpy around it; the patterns
// then lower it to kernels.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "moe/Conversion/MoECommon/Algorithms.h"
#include "moe/Conversion/MoECommon/Builders.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/DialectConversion.h"

namespace mlir::moe {
#define GEN_PASS_DEF_CONVERTMOETOGPU
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

/// Rewrites `op` to read and write device copies of its memref operands:
/// gpu.alloc, a copy in of what it reads, a copy out of what it writes, and
/// gpu.dealloc.
LogicalResult wrapInDeviceCopies(Operation *op) {
  auto effects = cast<MemoryEffectOpInterface>(op);
  ImplicitLocOpBuilder b(op->getLoc(), op);
  IRMapping mapping;
  SmallVector<std::pair<Value, Value>> copyOut;
  SmallVector<Value> deviceBuffers;
  for (OpOperand &operand : op->getOpOperands()) {
    Value host = operand.get();
    auto type = dyn_cast<MemRefType>(host.getType());
    if (!type || mapping.contains(host))
      continue;
    if (!type.getLayout().isIdentity())
      return op->emitError()
             << "'" << getUserOpName(op)
             << "' op GPU lowering with host copies expects identity-layout "
                "buffers, got "
             << type;
    SmallVector<Value> sizes;
    for (int64_t i = 0; i < type.getRank(); ++i)
      if (type.isDynamicDim(i))
        sizes.push_back(dimOf(b, host, i));
    Value device = gpu::AllocOp::create(b, type, Type(), ValueRange{}, sizes,
                                        ValueRange{})
                       .getMemref();
    mapping.map(host, device);
    deviceBuffers.push_back(device);
    SmallVector<MemoryEffects::EffectInstance> valueEffects;
    effects.getEffectsOnValue(host, valueEffects);
    bool reads = llvm::any_of(valueEffects, [](auto &effect) {
      return isa<MemoryEffects::Read>(effect.getEffect());
    });
    bool writes = llvm::any_of(valueEffects, [](auto &effect) {
      return isa<MemoryEffects::Write>(effect.getEffect());
    });
    if (reads)
      gpu::MemcpyOp::create(b, Type(), ValueRange{}, device, host);
    if (writes)
      copyOut.push_back({host, device});
  }
  Operation *deviceOp = b.clone(*op, mapping);
  op->replaceAllUsesWith(deviceOp);
  for (auto [host, device] : copyOut)
    gpu::MemcpyOp::create(b, Type(), ValueRange{}, host, device);
  for (Value device : deviceBuffers)
    gpu::DeallocOp::create(b, Type(), ValueRange{}, device);
  op->erase();
  return success();
}

/// Static loops inside kernels (over groups, group_top rounds, the K winners)
/// with at most kMaxUnrolledTrips iterations and at most kMaxUnrolledOps
/// operations once unrolled.
constexpr uint64_t kMaxUnrolledTrips = 16;
constexpr uint64_t kMaxUnrolledOps = 2048;

/// Fully unrolls the small static loops of the kernels, innermost first: the
/// loop indices become constants (group bounds, shifts), and the per-thread
/// arrays that they index, such as the group scores, become registers once
/// LLVM sees only constant indices. The loops over tokens have dynamic
/// bounds and stay loops.
void unrollStaticKernelLoops(Operation *root) {
  SmallVector<scf::ForOp> loops;
  root->walk<WalkOrder::PostOrder>([&](scf::ForOp loop) {
    if (loop->getParentOfType<gpu::LaunchOp>())
      loops.push_back(loop);
  });
  for (scf::ForOp loop : loops) {
    std::optional<APInt> trips = loop.getStaticTripCount();
    if (!trips || trips->getZExtValue() > kMaxUnrolledTrips)
      continue;
    uint64_t bodyOps = 0;
    loop.getBody()->walk([&](Operation *) { ++bodyOps; });
    if (bodyOps * trips->getZExtValue() > kMaxUnrolledOps)
      continue;
    (void)loopUnrollFull(loop);
  }
}

struct ConvertMoEToGPUPass
    : public moe::impl::ConvertMoEToGPUBase<ConvertMoEToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    if (failed(checkBufferized(getOperation(), "--convert-moe-to-gpu",
                               "--moe-lower-to-nvvm")))
      return signalPassFailure();
    if (hostCopies) {
      SmallVector<Operation *> ops;
      getOperation()->walk([&](Operation *op) {
        if (isa<MoEDialect>(op->getDialect()) &&
            !op->getParentOfType<gpu::LaunchOp>())
          ops.push_back(op);
      });
      for (Operation *op : ops)
        if (failed(wrapInDeviceCopies(op)))
          return signalPassFailure();
    }

    ConversionTarget target(getContext());
    target.addIllegalDialect<MoEDialect>();
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(&getContext());
    populateMoEToGPUPatterns(patterns, warpsPerBlock, redux);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      return signalPassFailure();
    unrollStaticKernelLoops(getOperation());
  }
};

} // namespace
