//===- GPUTarget.cpp - the GPU mapping of the moe algorithms --------------===//

#include "GPUTarget.h"

#include "moe/Conversion/MoECommon/Algorithms.h"
#include "moe/Conversion/MoECommon/Builders.h"
#include "moe/Conversion/MoECommon/RoutingMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::moe;

void mlir::moe::emitLaunch(ImplicitLocOpBuilder &b, StringRef name,
                           Value numBlocks, int64_t blockSize,
                           TypeRange workgroup, KernelBodyFn body) {
  Value any = arith::CmpIOp::create(b, arith::CmpIPredicate::ugt, numBlocks,
                                    constIndex(b, 0));
  emitIf(b, any, [&](ImplicitLocOpBuilder &b) {
    Value one = constIndex(b, 1);
    auto launch = gpu::LaunchOp::create(b, numBlocks, one, one,
                                        constIndex(b, blockSize), one, one,
                                        /*dynamicSharedMemorySize=*/nullptr,
                                        /*asyncTokenType=*/nullptr,
                                        /*asyncDependencies=*/{}, workgroup);
    // gpu-kernel-outlining names the kernel after this symbol.
    launch.setFunctionAttr(FlatSymbolRefAttr::get(b.getContext(), name));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&launch.getBody().front());
    KernelContext ctx{launch, launch.getBlockIds().x, launch.getThreadIds().x,
                      launch.getBlockSize().x, launch.getGridSize().x};
    body(b, ctx);
    gpu::TerminatorOp::create(b);
  });
}

Value mlir::moe::emitDeviceGridBlocks(ImplicitLocOpBuilder &b, Value needed,
                                      int64_t blocksPerSM) {
  auto module = b.getInsertionBlock()->getParentOp()->getParentOfType<ModuleOp>();
  auto type = b.getFunctionType({}, b.getI32Type());
  if (!SymbolTable::lookupSymbolIn(module, kMultiProcessorCountFn)) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(module.getBody());
    func::FuncOp::create(b, kMultiProcessorCountFn, type).setPrivate();
  }
  Value sms = func::CallOp::create(b, kMultiProcessorCountFn, type.getResults(),
                                   ValueRange{})
                  .getResult(0);
  Value blocks = arith::MulIOp::create(
      b, castIndex(b, b.getIndexType(), sms), constIndex(b, blocksPerSM));
  return arith::MinUIOp::create(b, needed, blocks);
}

MemRefType mlir::moe::getWorkgroupBufferType(MLIRContext *ctx, int64_t size,
                                             Type elementType) {
  return MemRefType::get(
      {size}, elementType, MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup));
}

void mlir::moe::emitAtomicAdd(ImplicitLocOpBuilder &b, Value value,
                              Value memref, Value index) {
  auto kind = isa<FloatType>(value.getType()) ? arith::AtomicRMWKind::addf
                                              : arith::AtomicRMWKind::addi;
  memref::AtomicRMWOp::create(b, kind, value, memref, ValueRange{index});
}

void mlir::moe::emitZeroWorkgroup(ImplicitLocOpBuilder &b,
                                  const KernelContext &ctx, Value hist,
                                  int64_t size, bool barrier) {
  Value zero = arith::ConstantOp::create(
      b, cast<TypedAttr>(b.getZeroAttr(elementTypeOf(hist))));
  emitFor(b, ctx.threadId, constIndex(b, size),
          [&](ImplicitLocOpBuilder &b, Value e) { store(b, zero, hist, e); },
          ctx.blockSize);
  if (barrier)
    gpu::BarrierOp::create(b);
}

void mlir::moe::emitCopyToWorkgroup(ImplicitLocOpBuilder &b,
                                    const KernelContext &ctx, Value global,
                                    Value workgroup, int64_t size) {
  auto vectorType = dyn_cast<VectorType>(elementTypeOf(workgroup));
  int64_t lanes = vectorType ? vectorType.getNumElements() : 1;
  emitFor(
      b, ctx.threadId, constIndex(b, size / lanes),
      [&](ImplicitLocOpBuilder &b, Value v) {
        if (!vectorType) {
          store(b, load(b, global, v), workgroup, v);
          return;
        }
        Value first = arith::MulIOp::create(b, v, constIndex(b, lanes));
        SmallVector<Value> elements;
        for (int64_t i = 0; i < lanes; ++i) {
          Value e = arith::AddIOp::create(b, first, constIndex(b, i));
          elements.push_back(load(b, global, e));
        }
        store(b, vector::FromElementsOp::create(b, vectorType, elements),
              workgroup, v);
      },
      ctx.blockSize);
}

void mlir::moe::emitFlushHistogram(ImplicitLocOpBuilder &b,
                                   const KernelContext &ctx, Value hist,
                                   Value counts, int64_t size) {
  gpu::BarrierOp::create(b);
  Value zero = arith::ConstantOp::create(
      b, cast<TypedAttr>(b.getZeroAttr(elementTypeOf(hist))));
  emitFor(
      b, ctx.threadId, constIndex(b, size),
      [&](ImplicitLocOpBuilder &b, Value e) {
        Value v = load(b, hist, e);
        emitIf(b, arith::CmpIOp::create(b, arith::CmpIPredicate::ne, v, zero),
               [&](ImplicitLocOpBuilder &b) { emitAtomicAdd(b, v, counts, e); });
      },
      ctx.blockSize);
}

LogicalResult mlir::moe::checkHistogramFits(Operation *op,
                                            int64_t numCounters, Type type) {
  int64_t bytes = numCounters * type.getIntOrFloatBitWidth() / 8;
  if (bytes <= kMaxWorkgroupBytes)
    return success();
  return op->emitError() << "'" << getUserOpName(op)
                         << "' op GPU lowering keeps the counts in workgroup "
                            "memory: at most "
                         << kMaxWorkgroupBytes << " bytes, got " << bytes;
}

namespace {

/// `name` with a step inserted before its "_kernel" suffix.
std::string withStep(StringRef name, StringRef step) {
  name.consume_back("_kernel");
  return (name + "_" + step + "_kernel").str();
}

Value ceilDiv(ImplicitLocOpBuilder &b, Value value, int64_t divisor) {
  return arith::CeilDivUIOp::create(b, value, constIndex(b, divisor));
}

/// Blocks of a grid-stride kernel over n items.
Value gridStrideBlocks(ImplicitLocOpBuilder &b, Value n) {
  return arith::MinUIOp::create(b, ceilDiv(b, n, kBlockSize),
                                constIndex(b, kMaxGridBlocks));
}

/// A grid-stride loop over [0, n): i = blockId * blockSize + threadId.
void emitGridStride(ImplicitLocOpBuilder &b, const KernelContext &ctx,
                    Value numBlocks, Value n, BodyFn body) {
  Value first = arith::AddIOp::create(
      b, arith::MulIOp::create(b, ctx.blockId, ctx.blockSize), ctx.threadId);
  Value stride = arith::MulIOp::create(b, numBlocks, ctx.blockSize);
  emitFor(b, first, n, body, stride);
}


/// The threads of a block; reductions go through a workgroup buffer of
/// kBlockSize elements per element type, declared on first use.
class BlockGroup : public ThreadGroup {
public:
  explicit BlockGroup(const KernelContext &ctx) : ctx(ctx) {}

  void forEach(ImplicitLocOpBuilder &b, Value lb, Value ub,
               BodyFn body) const override {
    emitFor(b, arith::AddIOp::create(b, lb, ctx.threadId), ub, body,
            ctx.blockSize);
  }

  SmallVector<Value> reduce(ImplicitLocOpBuilder &b, Value lb, Value ub,
                            ValueRange init, ArrayRef<Reduction> kinds,
                            IterBodyFn body) const override {
    auto partial = scf::ForOp::create(
        b, arith::AddIOp::create(b, lb, ctx.threadId), ub, ctx.blockSize,
        init, [&](OpBuilder &nested, Location loc, Value i, ValueRange acc) {
          ImplicitLocOpBuilder ib(loc, nested);
          scf::YieldOp::create(ib, body(ib, i, acc));
        });
    SmallVector<Value> results;
    for (auto [value, kind] : llvm::zip_equal(partial.getResults(), kinds))
      results.push_back(reduceOverBlock(b, value, kind));
    return results;
  }

  void single(ImplicitLocOpBuilder &b,
              function_ref<void(ImplicitLocOpBuilder &)> body) const override {
    Value first = arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                        ctx.threadId, constIndex(b, 0));
    emitIf(b, first, body);
  }

private:
  /// A tree of halving strides over the workgroup buffer of the value's
  /// type; every thread gets the result.
  Value reduceOverBlock(ImplicitLocOpBuilder &b, Value value,
                        Reduction kind) const {
    Value scratch = getScratch(b, value.getType());
    store(b, value, scratch, ctx.threadId);
    gpu::BarrierOp::create(b);
    for (int64_t stride = kBlockSize / 2; stride > 0; stride /= 2) {
      Value active = arith::CmpIOp::create(
          b, arith::CmpIPredicate::ult, ctx.threadId, constIndex(b, stride));
      emitIf(b, active, [&](ImplicitLocOpBuilder &b) {
        Value other =
            arith::AddIOp::create(b, ctx.threadId, constIndex(b, stride));
        store(b,
              emitReductionStep(b, kind, load(b, scratch, ctx.threadId),
                                load(b, scratch, other)),
              scratch, ctx.threadId);
      });
      gpu::BarrierOp::create(b);
    }
    Value result = load(b, scratch, constIndex(b, 0));
    // Nobody overwrites the scratch before every thread has read the result.
    gpu::BarrierOp::create(b);
    return result;
  }

  Value getScratch(ImplicitLocOpBuilder &b, Type type) const {
    MemRefType bufferType =
        getWorkgroupBufferType(b.getContext(), kBlockSize, type);
    for (BlockArgument buffer : ctx.workgroup())
      if (buffer.getType() == bufferType)
        return buffer;
    return gpu::LaunchOp(ctx.launch).addWorkgroupAttribution(bufferType,
                                                            b.getLoc());
  }

  KernelContext ctx;
};

} // namespace

LogicalResult GPUTarget::checkSupported(Operation *op) const {
  if (auto load = dyn_cast<BufferLoadOp>(op))
    return checkHistogramFits(op, load.getNumExperts(),
                              elementTypeOf(load.getCounts()));
  if (auto dispatch = dyn_cast<BufferDispatchOp>(op))
    return checkHistogramFits(op, dispatch.getNumExperts(),
                              IntegerType::get(op->getContext(), 64));
  return success();
}

void GPUTarget::forEachItem(ImplicitLocOpBuilder &b, StringRef name, Value n,
                            ItemKind kind, ItemBodyFn body) const {
  if (kind == ItemKind::Block) {
    emitLaunch(b, name, n, kBlockSize, {},
               [&](ImplicitLocOpBuilder &b, const KernelContext &ctx) {
                 body(b, BlockGroup(ctx), ctx.blockId);
               });
    return;
  }
  Value numBlocks = gridStrideBlocks(b, n);
  emitLaunch(b, name, numBlocks, kBlockSize, {},
             [&](ImplicitLocOpBuilder &b, const KernelContext &ctx) {
               emitGridStride(b, ctx, numBlocks, n,
                              [&](ImplicitLocOpBuilder &b, Value item) {
                                body(b, SingleThreadGroup(), item);
                              });
             });
}

void GPUTarget::count(
    ImplicitLocOpBuilder &b, StringRef name, Value counts, Value n,
    function_ref<void(ImplicitLocOpBuilder &, Value, CountFn)> body) const {
  Type countType = elementTypeOf(counts);
  int64_t size = cast<MemRefType>(counts.getType()).getDimSize(0);
  fill(b, withStep(name, "zero"), counts,
       cast<TypedAttr>(b.getZeroAttr(countType)));
  Value numBlocks = gridStrideBlocks(b, n);
  emitLaunch(
      b, name, numBlocks, kBlockSize,
      {getWorkgroupBufferType(b.getContext(), size, countType)},
      [&](ImplicitLocOpBuilder &b, const KernelContext &ctx) {
        Value hist = ctx.workgroup()[0];
        emitZeroWorkgroup(b, ctx, hist, size);
        Value one = arith::ConstantIntOp::create(b, countType, 1);
        emitGridStride(b, ctx, numBlocks, n,
                       [&](ImplicitLocOpBuilder &b, Value item) {
                         body(b, item, [&](ImplicitLocOpBuilder &b,
                                           Value index) {
                           emitAtomicAdd(b, one, hist, index);
                         });
                       });
        emitFlushHistogram(b, ctx, hist, counts, size);
      });
}

void GPUTarget::fill(ImplicitLocOpBuilder &b, StringRef name, Value memref,
                     TypedAttr value) const {
  // A driver memset (no kernel) for 16- and 32-bit elements.
  unsigned width = value.getType().getIntOrFloatBitWidth();
  if (width == 16 || width == 32) {
    gpu::MemsetOp::create(b, Type(), ValueRange{}, memref,
                          arith::ConstantOp::create(b, value));
    return;
  }
  forEachItem(b, name, dimOf(b, memref, 0), ItemKind::Thread,
              [&](ImplicitLocOpBuilder &b, const ThreadGroup &, Value i) {
                store(b, arith::ConstantOp::create(b, value), memref, i);
              });
}

void GPUTarget::forEachPairByExpert(
    ImplicitLocOpBuilder &b, StringRef name, Value indices,
    int64_t numExperts,
    function_ref<void(ImplicitLocOpBuilder &, Value, Value, Value)> body)
    const {
  // A thread per expert walks all pairs in order and takes its own.
  Value numTokens = dimOf(b, indices, 0);
  Value k = dimOf(b, indices, 1);
  forEachItem(
      b, name, constIndex(b, numExperts), ItemKind::Thread,
      [&](ImplicitLocOpBuilder &b, const ThreadGroup &, Value e) {
        Value expert = castIndex(b, b.getI64Type(), e);
        emitFor(b, 0, numTokens, [&](ImplicitLocOpBuilder &b, Value t) {
          emitFor(b, 0, k, [&](ImplicitLocOpBuilder &b, Value j) {
            Value pairExpert = load(b, indices, {t, j});
            if (!pairExpert.getType().isInteger(64))
              pairExpert =
                  arith::ExtSIOp::create(b, b.getI64Type(), pairExpert);
            emitIf(b,
                   arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                         pairExpert, expert),
                   [&](ImplicitLocOpBuilder &b) { body(b, t, j, e); });
          });
        });
      });
}

Value GPUTarget::allocScratch(ImplicitLocOpBuilder &b, MemRefType type) const {
  return gpu::AllocOp::create(b, type, /*asyncToken=*/Type(), ValueRange{},
                              ValueRange{}, ValueRange{})
      .getMemref();
}

void GPUTarget::releaseScratch(ImplicitLocOpBuilder &b, Value buffer) const {
  gpu::DeallocOp::create(b, Type(), ValueRange{}, buffer);
}

Value GPUTarget::loadScalar(ImplicitLocOpBuilder &b, Value buffer) const {
  auto type = cast<MemRefType>(buffer.getType());
  Value host = memref::AllocaOp::create(b, type);
  gpu::MemcpyOp::create(b, Type(), ValueRange{}, host, buffer);
  return load(b, host, constIndex(b, 0));
}
