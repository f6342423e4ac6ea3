//===- ShardWorldToMPI.cpp - dynamic 1-D grids on MPI_COMM_WORLD ----------===//
//
// Part of moe-mlir.
//
// A data-parallel program does not know its number of ranks: it declares
// `shard.grid @dp(shape = ?)` and lets `mpiexec -n N` decide. Upstream's
// convert-shard-to-mpi refuses dynamic grids; on a 1-D one every rank is on
// the single axis, so the collectives are those of MPI_COMM_WORLD, and the
// position on the axis is the rank.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"
#include "moe/Conversion/ShardToMPI/ShardToMPI.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MPI/IR/MPI.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir {
namespace moe {
#define GEN_PASS_DEF_CONVERTSHARDWORLDTOMPI
#include "moe/Conversion/Passes.h.inc"
} // namespace moe
} // namespace mlir

using namespace mlir;

/// The grid `op` refers to when it is 1-D of dynamic size, else null.
static shard::GridOp getWorldGrid(Operation *op, FlatSymbolRefAttr name) {
  auto grid = SymbolTable::lookupNearestSymbolFrom<shard::GridOp>(op, name);
  if (!grid || grid.getRank() != 1 || !ShapedType::isDynamic(grid.getShape()[0]))
    return nullptr;
  return grid;
}

/// MPI_COMM_WORLD.
static Value buildWorld(OpBuilder &b, Location loc) {
  return mpi::CommWorldOp::create(b, loc, mpi::CommType::get(b.getContext()));
}

/// The rank in MPI_COMM_WORLD as an index.
static Value buildWorldRank(OpBuilder &b, Location loc) {
  Value world = buildWorld(b, loc);
  auto rank = mpi::CommRankOp::create(b, loc, mpi::RetvalType::get(b.getContext()),
                                      b.getI32Type(), world);
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), rank.getRank());
}

/// The MPI reduction of a shard reduction kind; none for those that MPI
/// lacks (average) or that need a user function (generic).
static std::optional<mpi::MPI_ReductionOpEnum>
getMPIReduction(shard::ReductionKind kind) {
  switch (kind) {
  case shard::ReductionKind::Sum:
    return mpi::MPI_ReductionOpEnum::MPI_SUM;
  case shard::ReductionKind::Max:
    return mpi::MPI_ReductionOpEnum::MPI_MAX;
  case shard::ReductionKind::Min:
    return mpi::MPI_ReductionOpEnum::MPI_MIN;
  case shard::ReductionKind::Product:
    return mpi::MPI_ReductionOpEnum::MPI_PROD;
  case shard::ReductionKind::BitwiseAnd:
    return mpi::MPI_ReductionOpEnum::MPI_BAND;
  case shard::ReductionKind::BitwiseOr:
    return mpi::MPI_ReductionOpEnum::MPI_BOR;
  case shard::ReductionKind::BitwiseXor:
    return mpi::MPI_ReductionOpEnum::MPI_BXOR;
  case shard::ReductionKind::Average:
  case shard::ReductionKind::Generic:
    return std::nullopt;
  }
  return std::nullopt;
}

/// Whether an all_reduce on the world grid can become an mpi.allreduce; with
/// `emitErrors`, says why not at the op.
static LogicalResult checkAllReduceOnWorld(shard::AllReduceOp op,
                                           bool emitErrors) {
  auto fail = [&](const Twine &message) {
    if (emitErrors)
      op.emitOpError(message);
    return failure();
  };
  if (op.getGridAxes() != ArrayRef<shard::GridAxis>{0})
    return fail("on a 1-D grid of dynamic size must reduce over "
                "grid_axes = [0]");
  if (!getMPIReduction(op.getReduction()))
    return fail("reduction '" +
                shard::stringifyReductionKind(op.getReduction()) +
                "' has no MPI equivalent");
  auto inputType = cast<ShapedType>(op.getInput().getType());
  auto resultType = cast<ShapedType>(op.getResult().getType());
  if (inputType.getShape() != resultType.getShape() ||
      inputType.getElementType() != resultType.getElementType())
    return fail("on a 1-D grid of dynamic size must keep the shape and "
                "element type");
  return success();
}

namespace {
/// shard.all_reduce on the world grid: the input copied into a new buffer,
/// which mpi.allreduce reduces in place (MPI_IN_PLACE).
struct AllReduceOnWorld : public OpRewritePattern<shard::AllReduceOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(shard::AllReduceOp op,
                                PatternRewriter &rewriter) const override {
    if (!getWorldGrid(op, op.getGridAttr()))
      return failure();
    if (failed(checkAllReduceOnWorld(op, /*emitErrors=*/false)))
      return rewriter.notifyMatchFailure(op, "not lowerable on the world");
    auto inputType = cast<ShapedType>(op.getInput().getType());
    auto resultType = cast<ShapedType>(op.getResult().getType());
    mpi::MPI_ReductionOpEnum reduction = *getMPIReduction(op.getReduction());
    Location loc = op.getLoc();
    Value input = op.getInput();
    bool onTensors = isa<RankedTensorType>(inputType);
    auto bufferType =
        MemRefType::get(inputType.getShape(), inputType.getElementType());
    if (onTensors)
      input = bufferization::ToBufferOp::create(rewriter, loc, bufferType,
                                                input, /*read_only=*/true);
    SmallVector<Value> dynamicSizes;
    for (auto [dim, size] : llvm::enumerate(inputType.getShape()))
      if (ShapedType::isDynamic(size))
        dynamicSizes.push_back(memref::DimOp::create(rewriter, loc, input, dim));
    Value buffer =
        memref::AllocOp::create(rewriter, loc, bufferType, dynamicSizes);
    memref::CopyOp::create(rewriter, loc, input, buffer);
    Value world = buildWorld(rewriter, loc);
    mpi::AllReduceOp::create(rewriter, loc, TypeRange(), buffer, buffer,
                             reduction, world);
    Value result = buffer;
    if (onTensors)
      result = bufferization::ToTensorOp::create(
          rewriter, loc, resultType, buffer, /*restrict=*/true,
          /*writable=*/true);
    else if (result.getType() != resultType)
      result = memref::CastOp::create(rewriter, loc, resultType, result);
    rewriter.replaceOp(op, result);
    return success();
  }
};

/// shard.process_linear_index on the world grid: the rank.
struct LinearIndexOnWorld
    : public OpRewritePattern<shard::ProcessLinearIndexOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(shard::ProcessLinearIndexOp op,
                                PatternRewriter &rewriter) const override {
    if (!getWorldGrid(op, op.getGridAttr()))
      return failure();
    rewriter.replaceOp(op, buildWorldRank(rewriter, op.getLoc()));
    return success();
  }
};

/// shard.process_multi_index on the world grid: the rank, the only
/// coordinate.
struct MultiIndexOnWorld
    : public OpRewritePattern<shard::ProcessMultiIndexOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(shard::ProcessMultiIndexOp op,
                                PatternRewriter &rewriter) const override {
    if (!getWorldGrid(op, op.getGridAttr()))
      return failure();
    rewriter.replaceOp(op, buildWorldRank(rewriter, op.getLoc()));
    return success();
  }
};

/// shard.grid_shape of the world grid: the number of ranks.
struct GridShapeOfWorld : public OpRewritePattern<shard::GridShapeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(shard::GridShapeOp op,
                                PatternRewriter &rewriter) const override {
    if (!getWorldGrid(op, op.getGridAttr()))
      return failure();
    Location loc = op.getLoc();
    Value world = buildWorld(rewriter, loc);
    auto size = mpi::CommSizeOp::create(
        rewriter, loc, mpi::RetvalType::get(rewriter.getContext()),
        rewriter.getI32Type(), world);
    rewriter.replaceOpWithNewOp<arith::IndexCastOp>(
        op, rewriter.getIndexType(), size.getSize());
    return success();
  }
};

struct ConvertShardWorldToMPIPass
    : public moe::impl::ConvertShardWorldToMPIBase<
          ConvertShardWorldToMPIPass> {
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<arith::ArithDialect, bufferization::BufferizationDialect,
                    memref::MemRefDialect, mpi::MPIDialect>();
    // The pipelines deallocate after this pass: the mpi ops it makes must
    // say which buffers they touch.
    moe::registerMPIMemoryEffectsExternalModels(registry);
  }

  void runOnOperation() override {
    // Diagnose first: patterns only match what they can lower.
    WalkResult checked = getOperation()->walk([](shard::AllReduceOp op) {
      if (getWorldGrid(op, op.getGridAttr()) &&
          failed(checkAllReduceOnWorld(op, /*emitErrors=*/true)))
        return WalkResult::interrupt();
      return WalkResult::advance();
    });
    if (checked.wasInterrupted())
      return signalPassFailure();
    RewritePatternSet patterns(&getContext());
    moe::populateShardWorldToMPIPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace

void mlir::moe::populateShardWorldToMPIPatterns(RewritePatternSet &patterns) {
  patterns.add<AllReduceOnWorld, LinearIndexOnWorld, MultiIndexOnWorld,
               GridShapeOfWorld>(patterns.getContext());
}
