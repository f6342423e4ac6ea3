//===- LowerSubgroupReduce.cpp - subgroup_reduce before NVVM --------------===//
//
// Part of moe-mlir.
//
// convert-gpu-to-nvvm lowers `gpu.subgroup_reduce` only when it can use
// redux.sync (`has-redux`: uniform 32-bit integer add, and, or, xor, minsi,
// maxsi); any other one would fail to legalize. This pass expands those
// others (all of them without `redux`) into butterfly `gpu.shuffle`s with
// upstream's patterns, so that no subgroup_reduce reaches the NVVM
// conversion that it cannot lower.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir {
namespace moe {
#define GEN_PASS_DEF_LOWERSUBGROUPREDUCE
#include "moe/Conversion/Passes.h.inc"
} // namespace moe
} // namespace mlir

using namespace mlir;

/// True when convert-gpu-to-nvvm{has-redux} turns `op` into redux.sync.
static bool lowersToRedux(gpu::SubgroupReduceOp op) {
  if (!op.getUniform() || op.getClusterSize() ||
      !op.getType().isSignlessInteger(32))
    return false;
  switch (op.getOp()) {
  case gpu::AllReduceOperation::ADD:
  case gpu::AllReduceOperation::AND:
  case gpu::AllReduceOperation::OR:
  case gpu::AllReduceOperation::XOR:
  case gpu::AllReduceOperation::MINSI:
  case gpu::AllReduceOperation::MAXSI:
    return true;
  default:
    return false;
  }
}

namespace {
struct LowerSubgroupReduce
    : public moe::impl::LowerSubgroupReduceBase<LowerSubgroupReduce> {
  using Base::Base;

  void runOnOperation() override {
    SmallVector<Operation *> ops;
    getOperation()->walk([&](gpu::SubgroupReduceOp op) {
      if (!redux || !lowersToRedux(op))
        ops.push_back(op);
    });
    if (ops.empty())
      return;
    constexpr unsigned kWarpSize = 32;
    RewritePatternSet patterns(&getContext());
    populateGpuBreakDownSubgroupReducePatterns(patterns,
                                               /*maxShuffleBitwidth=*/32);
    populateGpuLowerSubgroupReduceToShufflePatterns(patterns, kWarpSize);
    populateGpuLowerClusteredSubgroupReduceToShufflePatterns(patterns,
                                                             kWarpSize);
    // Only the collected ops (and what breaking them down creates) are
    // rewritten; redux-eligible reductions stay.
    GreedyRewriteConfig config;
    config.setStrictness(GreedyRewriteStrictness::ExistingAndNewOps);
    if (failed(applyOpPatternsGreedily(ops, std::move(patterns), config)))
      return signalPassFailure();
    bool left = false;
    getOperation()->walk([&](gpu::SubgroupReduceOp op) {
      if (!redux || !lowersToRedux(op)) {
        op.emitOpError("cannot be lowered to shuffles (32-bit shuffles of "
                       "a scalar or vector of at most 32-bit elements are "
                       "supported)");
        left = true;
      }
    });
    if (left)
      signalPassFailure();
  }
};
} // namespace
