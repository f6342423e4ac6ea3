//===- MoEToGPU.cpp - moe.buffer ops to gpu kernels -----------------------===//
//
// The GPU lowering: each memref-level moe op becomes one or more `gpu.launch`
// kernels. The selection ops run a warp per token with the keys of a token in
// registers and warp-wide arg-max rounds over `gpu.shuffle`; counting uses a
// workgroup-memory histogram and global atomics; the bias update and the
// imbalance metric use block tree reductions; dispatch is deterministic.
//
// With host copies (the default), every op reads and writes device copies of
// its buffers, made with gpu.alloc / gpu.memcpy around its launches.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "moe/Conversion/MoECommon/Builders.h"
#include "moe/Conversion/MoECommon/RoutingMath.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/DialectConversion.h"

#include <limits>

namespace mlir::moe {
#define GEN_PASS_DEF_CONVERTMOETOGPU
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

constexpr int64_t kWarpSize = 32;
/// The most experts one warp holds in registers (32 per lane).
constexpr int64_t kMaxWarpExperts = kWarpSize * 32;
/// Threads of the block-per-row and reduction kernels.
constexpr int64_t kBlockSize = 256;
/// Groups are kept in a 64-bit mask.
constexpr int64_t kMaxGroups = 64;
/// Static workgroup memory of a block (the load histogram must fit).
constexpr int64_t kMaxWorkgroupBytes = 48 * 1024;

//===----------------------------------------------------------------------===//
// Kernel construction
//===----------------------------------------------------------------------===//

/// The ids of a 1-D kernel being built.
struct KernelContext {
  Value blockId;
  Value threadId;
  Value blockSize;
  ArrayRef<BlockArgument> workgroup;
};

using KernelBodyFn =
    function_ref<void(ImplicitLocOpBuilder &, const KernelContext &)>;

/// Emits a 1-D `gpu.launch` of `numBlocks` blocks of `blockSize` threads with
/// the given workgroup buffers, skipped when `numBlocks` is zero (an empty
/// token range launches nothing).
void emitLaunch(ImplicitLocOpBuilder &b, Value numBlocks, int64_t blockSize,
                TypeRange workgroup, KernelBodyFn body) {
  Value zero = constIndex(b, 0);
  Value any = arith::CmpIOp::create(b, arith::CmpIPredicate::ugt, numBlocks,
                                    zero);
  emitIf(b, any, [&](ImplicitLocOpBuilder &b) {
    Value one = constIndex(b, 1);
    auto launch = gpu::LaunchOp::create(b, numBlocks, one, one,
                                        constIndex(b, blockSize), one, one,
                                        /*dynamicSharedMemorySize=*/nullptr,
                                        /*asyncTokenType=*/nullptr,
                                        /*asyncDependencies=*/{}, workgroup);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&launch.getBody().front());
    KernelContext ctx{launch.getBlockIds().x, launch.getThreadIds().x,
                      launch.getBlockSize().x,
                      launch.getWorkgroupAttributions()};
    body(b, ctx);
    gpu::TerminatorOp::create(b);
  });
}

Value ceilDiv(ImplicitLocOpBuilder &b, Value value, int64_t divisor) {
  return arith::CeilDivUIOp::create(b, value, constIndex(b, divisor));
}

MemRefType workgroupBuffer(MLIRContext *ctx, int64_t size, Type elementType) {
  return MemRefType::get(
      {size}, elementType, MemRefLayoutAttrInterface(),
      gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup));
}

/// A grid-stride loop: i = blockId * blockSize + threadId; i < ub.
void emitGridStride(ImplicitLocOpBuilder &b, const KernelContext &ctx,
                    Value numBlocks, Value ub, BodyFn body) {
  Value first = arith::AddIOp::create(
      b, arith::MulIOp::create(b, ctx.blockId, ctx.blockSize), ctx.threadId);
  Value stride = arith::MulIOp::create(b, numBlocks, ctx.blockSize);
  emitFor(b, first, ub, body, stride);
}

/// Fills a rank-1 device buffer with `value`: a driver memset for 16- and
/// 32-bit elements (no kernel launch), a fill kernel otherwise.
void emitDeviceFill(ImplicitLocOpBuilder &b, Value memref,
                    TypedAttr valueAttr) {
  unsigned width = valueAttr.getType().getIntOrFloatBitWidth();
  if (width == 16 || width == 32) {
    Value value = arith::ConstantOp::create(b, valueAttr);
    gpu::MemsetOp::create(b, Type(), ValueRange{}, memref, value);
    return;
  }
  Value size = dimOf(b, memref, 0);
  Value numBlocks = arith::MinUIOp::create(b, ceilDiv(b, size, kBlockSize),
                                           constIndex(b, 1024));
  emitLaunch(b, numBlocks, kBlockSize, {},
             [&](ImplicitLocOpBuilder &b, const KernelContext &ctx) {
               Value value = arith::ConstantOp::create(b, valueAttr);
               emitGridStride(b, ctx, numBlocks, size,
                              [&](ImplicitLocOpBuilder &b, Value i) {
                                store(b, value, memref, i);
                              });
             });
}

/// Atomically adds `value` to `memref[index]` (global or workgroup memory).
void emitAtomicAdd(ImplicitLocOpBuilder &b, Value value, Value memref,
                   Value index) {
  auto kind = isa<FloatType>(value.getType()) ? arith::AtomicRMWKind::addf
                                              : arith::AtomicRMWKind::addi;
  memref::AtomicRMWOp::create(b, kind, value, memref, ValueRange{index});
}

/// Zeroes a workgroup histogram of `size` entries with the block's threads.
void emitZeroWorkgroup(ImplicitLocOpBuilder &b, const KernelContext &ctx,
                       Value hist, int64_t size) {
  Value zero = arith::ConstantOp::create(
      b, cast<TypedAttr>(b.getZeroAttr(elementTypeOf(hist))));
  emitFor(b, ctx.threadId, constIndex(b, size),
          [&](ImplicitLocOpBuilder &b, Value e) { store(b, zero, hist, e); },
          ctx.blockSize);
  gpu::BarrierOp::create(b);
}

/// Adds the non-zero entries of a workgroup histogram to global counts.
void emitFlushHistogram(ImplicitLocOpBuilder &b, const KernelContext &ctx,
                        Value hist, Value counts, int64_t size) {
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

/// A block-wide reduction of one value per thread through a workgroup buffer
/// of kBlockSize elements: a tree of halving strides. Every thread gets the
/// result.
Value emitBlockReduce(ImplicitLocOpBuilder &b, const KernelContext &ctx,
                      Value scratch, Value value,
                      function_ref<Value(ImplicitLocOpBuilder &, Value, Value)>
                          combine) {
  store(b, value, scratch, ctx.threadId);
  gpu::BarrierOp::create(b);
  for (int64_t stride = kBlockSize / 2; stride > 0; stride /= 2) {
    Value active = arith::CmpIOp::create(b, arith::CmpIPredicate::ult,
                                         ctx.threadId, constIndex(b, stride));
    emitIf(b, active, [&](ImplicitLocOpBuilder &b) {
      Value other = arith::AddIOp::create(b, ctx.threadId,
                                          constIndex(b, stride));
      store(b,
            combine(b, load(b, scratch, ctx.threadId), load(b, scratch, other)),
            scratch, ctx.threadId);
    });
    gpu::BarrierOp::create(b);
  }
  Value result = load(b, scratch, constIndex(b, 0));
  // Nobody overwrites the scratch before every thread has read the result.
  gpu::BarrierOp::create(b);
  return result;
}

//===----------------------------------------------------------------------===//
// Warp-wide selection
//===----------------------------------------------------------------------===//

/// A (key, expert) candidate of a selection round, with the unbiased score it
/// carries and whether it may be chosen.
struct Candidate {
  Value key;     // f32
  Value index;   // i32
  Value payload; // f32, or null when not carried
  Value valid;   // i1
};

/// True when `a` is chosen before `c`: valid, and c invalid, or a's key ranks
/// above c's, or the keys tie (equal or both NaN) and a has the lower index.
Value emitBetter(ImplicitLocOpBuilder &b, const Candidate &a,
                 const Candidate &c) {
  Value aAbove = emitRanksAbove(b, a.key, c.key);
  Value cAbove = emitRanksAbove(b, c.key, a.key);
  Value tie = arith::XOrIOp::create(
      b, cAbove, arith::ConstantIntOp::create(b, b.getI1Type(), 1));
  Value lower =
      arith::CmpIOp::create(b, arith::CmpIPredicate::slt, a.index, c.index);
  Value wins = arith::OrIOp::create(b, aAbove,
                                    arith::AndIOp::create(b, tie, lower));
  Value cInvalid = arith::XOrIOp::create(
      b, c.valid, arith::ConstantIntOp::create(b, b.getI1Type(), 1));
  return arith::AndIOp::create(b, a.valid,
                               arith::OrIOp::create(b, cInvalid, wins));
}

Candidate emitSelect(ImplicitLocOpBuilder &b, Value takeA, const Candidate &a,
                     const Candidate &c) {
  auto pick = [&](Value x, Value y) -> Value {
    return x ? Value(arith::SelectOp::create(b, takeA, x, y)) : Value();
  };
  return {pick(a.key, c.key), pick(a.index, c.index),
          pick(a.payload, c.payload), pick(a.valid, c.valid)};
}


Value emitShuffleXor(ImplicitLocOpBuilder &b, Value value, int32_t offset) {
  return gpu::ShuffleOp::create(b, value, offset, kWarpSize,
                                gpu::ShuffleMode::XOR)
      .getShuffleResult();
}

/// The warp-wide best candidate: an xor butterfly, after which every lane
/// holds the same winner (the order is total, so the result is exact).
Candidate emitWarpBest(ImplicitLocOpBuilder &b, Candidate mine) {
  for (int32_t offset = kWarpSize / 2; offset > 0; offset /= 2) {
    Candidate other;
    other.key = emitShuffleXor(b, mine.key, offset);
    other.index = emitShuffleXor(b, mine.index, offset);
    if (mine.payload)
      other.payload = emitShuffleXor(b, mine.payload, offset);
    Value validBits = arith::ExtUIOp::create(b, b.getI32Type(), mine.valid);
    other.valid = arith::CmpIOp::create(
        b, arith::CmpIPredicate::ne, emitShuffleXor(b, validBits, offset),
        arith::ConstantIntOp::create(b, b.getI32Type(), 0));
    mine = emitSelect(b, emitBetter(b, other, mine), other, mine);
  }
  return mine;
}

/// Warp reduction of a float (max or add) over the lanes.
Value emitWarpReduce(ImplicitLocOpBuilder &b, Value value, bool isMax) {
  for (int32_t offset = kWarpSize / 2; offset > 0; offset /= 2) {
    Value other = emitShuffleXor(b, value, offset);
    value = isMax ? Value(arith::MaximumFOp::create(b, value, other))
                  : Value(arith::AddFOp::create(b, value, other));
  }
  return value;
}

/// One token's experts spread over a warp: lane l holds experts l, l + 32,
/// ... (the slots), so each lane's slots are in ascending expert order.
struct WarpRow {
  int64_t numExperts;
  SmallVector<Value> expert;  // i32 expert index of each slot
  SmallVector<Value> inRange; // i1: the slot holds an expert (< E)
  SmallVector<Value> clamped; // index, clamped into [0, E) for loads

  WarpRow(ImplicitLocOpBuilder &b, Value lane, int64_t numExperts)
      : numExperts(numExperts) {
    Value laneI32 = arith::IndexCastOp::create(b, b.getI32Type(), lane);
    Value last = arith::ConstantIntOp::create(b, b.getI32Type(), numExperts - 1);
    for (int64_t slot = 0; slot * kWarpSize < numExperts; ++slot) {
      Value e = arith::AddIOp::create(
          b, laneI32,
          arith::ConstantIntOp::create(b, b.getI32Type(), slot * kWarpSize));
      expert.push_back(e);
      if ((slot + 1) * kWarpSize <= numExperts)
        inRange.push_back(arith::ConstantIntOp::create(b, b.getI1Type(), 1));
      else
        inRange.push_back(
            arith::CmpIOp::create(b, arith::CmpIPredicate::sle, e, last));
      clamped.push_back(arith::IndexCastOp::create(
          b, b.getIndexType(), arith::MinSIOp::create(b, e, last)));
    }
  }
  size_t numSlots() const { return expert.size(); }
};

Value emitSubgroupReduce(ImplicitLocOpBuilder &b, Value value,
                         gpu::AllReduceOperation kind) {
  return gpu::SubgroupReduceOp::create(b, value, kind, /*uniform=*/true,
                                       /*cluster_size=*/nullptr);
}

/// The warp-wide best of the available slots with two redux.sync: the best
/// rank image, then the lowest expert that has it (the order of emitBetter,
/// on images). The key comes back from the image; the payload of the
/// winner's slot, when `payloads` is not empty, from its lane with one
/// shuffle. Every lane gets the same winner.
Candidate emitWarpBestRedux(ImplicitLocOpBuilder &b, const WarpRow &row,
                            ArrayRef<Value> images, ValueRange available,
                            ArrayRef<Value> payloads) {
  Type i32 = b.getI32Type();
  Value removed = arith::ConstantIntOp::create(b, i32, kRemovedRank);
  SmallVector<Value> ranks;
  Value laneBest = removed;
  for (size_t s = 0; s < row.numSlots(); ++s) {
    ranks.push_back(
        arith::SelectOp::create(b, available[s], images[s], removed));
    laneBest = arith::MaxSIOp::create(b, laneBest, ranks.back());
  }
  Value best = emitSubgroupReduce(b, laneBest, gpu::AllReduceOperation::MAXSI);
  Value none =
      arith::ConstantIntOp::create(b, i32, std::numeric_limits<int32_t>::max());
  Value laneIndex = none;
  for (size_t s = 0; s < row.numSlots(); ++s) {
    Value holds =
        arith::CmpIOp::create(b, arith::CmpIPredicate::eq, ranks[s], best);
    laneIndex = arith::MinSIOp::create(
        b, laneIndex, arith::SelectOp::create(b, holds, row.expert[s], none));
  }
  Candidate winner;
  winner.index =
      emitSubgroupReduce(b, laneIndex, gpu::AllReduceOperation::MINSI);
  winner.valid =
      arith::CmpIOp::create(b, arith::CmpIPredicate::ne, best, removed);
  winner.key = emitKeyOfRankImage(b, best);
  if (!payloads.empty()) {
    Value mine = emitF32(b, 0.0);
    for (size_t s = 0; s < row.numSlots(); ++s)
      mine = arith::SelectOp::create(
          b,
          arith::CmpIOp::create(b, arith::CmpIPredicate::eq, row.expert[s],
                                winner.index),
          payloads[s], mine);
    Value source = arith::AndIOp::create(
        b, winner.index, arith::ConstantIntOp::create(b, i32, kWarpSize - 1));
    Value width = arith::ConstantIntOp::create(b, i32, kWarpSize);
    winner.payload = gpu::ShuffleOp::create(b, mine, source, width,
                                            gpu::ShuffleMode::IDX)
                         .getShuffleResult();
  }
  return winner;
}

/// The warp-wide best of the available slots: with `images` (rank images of
/// the keys), two redux.sync; without, the xor butterfly over `keys`. The
/// winner carries the payload of its slot when `payloads` is not empty.
Candidate emitWarpArgMax(ImplicitLocOpBuilder &b, const WarpRow &row,
                         ArrayRef<Value> keys, ArrayRef<Value> images,
                         ValueRange available, ArrayRef<Value> payloads) {
  if (!images.empty())
    return emitWarpBestRedux(b, row, images, available, payloads);
  // The lane's best slot, scanned in ascending expert order, then the
  // butterfly.
  auto slot = [&](size_t s) -> Candidate {
    return {keys[s], row.expert[s], payloads.empty() ? Value() : payloads[s],
            available[s]};
  };
  Candidate best = slot(0);
  for (size_t s = 1; s < row.numSlots(); ++s) {
    Candidate other = slot(s);
    best = emitSelect(b, emitBetter(b, other, best), other, best);
  }
  return emitWarpBest(b, best);
}

/// The selection of one token by a warp: keys (and unbiased scores) in
/// registers, optional group limiting, then K arg-max rounds. Every lane ends
/// with the same K winners, best first.
SmallVector<Candidate> emitWarpSelection(ImplicitLocOpBuilder &b,
                                         const WarpRow &row,
                                         ArrayRef<Value> keys,
                                         ArrayRef<Value> scores,
                                         const SelectionConfig &config,
                                         bool redux) {
  size_t numSlots = row.numSlots();
  SmallVector<Value> available(row.inRange);
  Value notTrue = arith::ConstantIntOp::create(b, b.getI1Type(), 1);

  if (config.isGroupLimited()) {
    Value groupSize =
        arith::ConstantIntOp::create(b, b.getI32Type(), config.groupSize());
    SmallVector<Value> group;
    for (Value e : row.expert)
      group.push_back(arith::DivUIOp::create(b, e, groupSize));
    // Group scores: the sum of each group's group_top best keys, NaN as -inf,
    // in a private array. The rounds are loops, not unrolled: G * group_top
    // rounds over E / 32 slots each would make the kernel huge.
    SmallVector<Value> groupKeys, groupImages;
    for (Value key : keys) {
      if (redux)
        groupImages.push_back(emitRankImage(b, key, /*nanAsNegInf=*/true));
      else
        groupKeys.push_back(emitNaNToNegInf(b, key));
    }
    Value groupScores = memref::AllocaOp::create(
        b, MemRefType::get({config.numGroups}, b.getF32Type()));
    emitFor(b, 0, config.numGroups, [&](ImplicitLocOpBuilder &b, Value g) {
      Value gValue = arith::IndexCastOp::create(b, b.getI32Type(), g);
      SmallVector<Value> init{emitF32(b, 0.0)};
      for (size_t s = 0; s < numSlots; ++s)
        init.push_back(arith::AndIOp::create(
            b, row.inRange[s],
            arith::CmpIOp::create(b, arith::CmpIPredicate::eq, group[s],
                                  gValue)));
      SmallVector<Value> result = emitForIter(
          b, 0, config.groupTop, init,
          [&](ImplicitLocOpBuilder &b, Value, ValueRange args) {
            Candidate best = emitWarpArgMax(b, row, groupKeys, groupImages,
                                            args.drop_front(), {});
            SmallVector<Value> next{
                arith::AddFOp::create(b, args[0], best.key)};
            for (size_t s = 0; s < numSlots; ++s)
              next.push_back(arith::AndIOp::create(
                  b, args[1 + s],
                  arith::CmpIOp::create(b, arith::CmpIPredicate::ne,
                                        row.expert[s], best.index)));
            return next;
          });
      store(b, result[0], groupScores, g);
    });
    // Group g is kept when fewer than topk_groups groups rank before it (a
    // tie goes to the lower group index).
    Value keptMask = emitForIter(
        b, 0, config.numGroups,
        ValueRange{arith::ConstantIntOp::create(b, b.getI64Type(), 0)},
        [&](ImplicitLocOpBuilder &b, Value g, ValueRange mask) {
          Value gScore = load(b, groupScores, g);
          Value before = emitForIter(
              b, 0, config.numGroups,
              ValueRange{arith::ConstantIntOp::create(b, b.getI32Type(), 0)},
              [&](ImplicitLocOpBuilder &b, Value h, ValueRange count) {
                Value hScore = load(b, groupScores, h);
                Value lower = arith::CmpIOp::create(
                    b, arith::CmpIPredicate::ult, h, g);
                Value tieToH = arith::AndIOp::create(
                    b, lower,
                    arith::XOrIOp::create(
                        b, emitRanksAbove(b, gScore, hScore), notTrue));
                Value hFirst = arith::AndIOp::create(
                    b,
                    arith::CmpIOp::create(b, arith::CmpIPredicate::ne, h, g),
                    arith::OrIOp::create(
                        b, emitRanksAbove(b, hScore, gScore), tieToH));
                return SmallVector<Value>{arith::AddIOp::create(
                    b, count[0],
                    arith::ExtUIOp::create(b, b.getI32Type(), hFirst))};
              })[0];
          Value kept = arith::CmpIOp::create(
              b, arith::CmpIPredicate::slt, before,
              arith::ConstantIntOp::create(b, b.getI32Type(),
                                           config.topkGroups));
          Value bit = arith::ShLIOp::create(
              b, arith::ExtUIOp::create(b, b.getI64Type(), kept),
              arith::IndexCastOp::create(b, b.getI64Type(), g));
          return SmallVector<Value>{arith::OrIOp::create(b, mask[0], bit)};
        })[0];
    // Slots past E may compute a group index of 64 or more: clamp the shift
    // (a shift by the bit width is poison, which `and` with the slot's
    // false range bit would not cancel).
    Value maxShift = arith::ConstantIntOp::create(b, b.getI32Type(), 63);
    for (size_t s = 0; s < numSlots; ++s) {
      Value shift = arith::ExtUIOp::create(
          b, b.getI64Type(), arith::MinUIOp::create(b, group[s], maxShift));
      Value bit = arith::AndIOp::create(
          b, arith::ShRUIOp::create(b, keptMask, shift),
          arith::ConstantIntOp::create(b, b.getI64Type(), 1));
      available[s] = arith::AndIOp::create(
          b, available[s],
          arith::CmpIOp::create(
              b, arith::CmpIPredicate::ne, bit,
              arith::ConstantIntOp::create(b, b.getI64Type(), 0)));
    }
  }

  // K rounds of the warp-wide arg-max; a winner leaves its lane's slots.
  SmallVector<Value> images;
  if (redux)
    for (Value key : keys)
      images.push_back(emitRankImage(b, key, /*nanAsNegInf=*/false));
  SmallVector<Candidate> winners;
  for (int64_t j = 0; j < config.k; ++j) {
    Candidate best =
        emitWarpArgMax(b, row, keys, images, available, scores);
    winners.push_back(best);
    for (size_t s = 0; s < numSlots; ++s)
      available[s] = arith::AndIOp::create(
          b, available[s],
          arith::CmpIOp::create(b, arith::CmpIPredicate::ne, row.expert[s],
                                best.index));
  }
  return winners;
}

/// Checks the shapes that the warp selection supports.
LogicalResult checkWarpSelection(Operation *op, const SelectionConfig &config) {
  if (config.numExperts > kMaxWarpExperts)
    return op->emitOpError("GPU lowering supports at most ")
           << kMaxWarpExperts << " experts (32 per lane of a warp), got "
           << config.numExperts;
  if (config.k > kWarpSize)
    return op->emitOpError("GPU lowering supports k <= ")
           << kWarpSize << ", got " << config.k;
  if (config.numGroups > kMaxGroups)
    return op->emitOpError("GPU lowering supports at most ")
           << kMaxGroups << " expert groups, got " << config.numGroups;
  return success();
}

/// A warp-per-token launch over `numTokens` rows; `body` gets the (clamped)
/// token, whether it is real, the lane and the launch context.
void emitWarpPerToken(
    ImplicitLocOpBuilder &b, Value numTokens, int64_t warpsPerBlock,
    TypeRange workgroup,
    function_ref<void(ImplicitLocOpBuilder &, const KernelContext &, Value,
                      Value, Value)>
        body) {
  Value numBlocks = ceilDiv(b, numTokens, warpsPerBlock);
  emitLaunch(
      b, numBlocks, warpsPerBlock * kWarpSize, workgroup,
      [&](ImplicitLocOpBuilder &b, const KernelContext &ctx) {
        Value warpSize = constIndex(b, kWarpSize);
        Value warp = arith::DivUIOp::create(b, ctx.threadId, warpSize);
        Value lane = arith::RemUIOp::create(b, ctx.threadId, warpSize);
        Value token = arith::AddIOp::create(
            b, arith::MulIOp::create(b, ctx.blockId,
                                     constIndex(b, warpsPerBlock)),
            warp);
        Value real = arith::CmpIOp::create(b, arith::CmpIPredicate::ult, token,
                                           numTokens);
        // Warps past the last token compute on the last one and store
        // nothing: every lane stays in the shuffles and barriers.
        Value last = arith::SubIOp::create(b, numTokens, constIndex(b, 1));
        Value t = arith::MinUIOp::create(b, token, last);
        body(b, ctx, t, real, lane);
      });
}

/// Softmax statistics of a token held in a warp, from its f32 logits.
RowStats emitWarpRowStats(ImplicitLocOpBuilder &b, ScoreFunction function,
                          const WarpRow &row, ArrayRef<Value> logits) {
  if (function != ScoreFunction::softmax)
    return {};
  Value negInf = emitF32(b, -std::numeric_limits<double>::infinity());
  Value zero = emitF32(b, 0.0);
  Value max = negInf;
  for (size_t s = 0; s < row.numSlots(); ++s)
    max = arith::MaximumFOp::create(
        b, max, arith::SelectOp::create(b, row.inRange[s], logits[s], negInf));
  max = emitWarpReduce(b, max, /*isMax=*/true);
  Value sum = zero;
  for (size_t s = 0; s < row.numSlots(); ++s) {
    Value ex = math::ExpOp::create(b, arith::SubFOp::create(b, logits[s], max));
    sum = arith::AddFOp::create(
        b, sum, arith::SelectOp::create(b, row.inRange[s], ex, zero));
  }
  return {max, emitWarpReduce(b, sum, /*isMax=*/false)};
}

/// The keys (score + bias) and unbiased scores of token t's slots in a warp:
/// from logits under `function`, or from scores already when `function` is
/// empty.
std::pair<SmallVector<Value>, SmallVector<Value>>
emitWarpKeys(ImplicitLocOpBuilder &b, const WarpRow &row, Value source,
             std::optional<ScoreFunction> function, Value bias, Value t) {
  SmallVector<Value> inputs, keys, scores;
  for (Value e : row.clamped)
    inputs.push_back(emitToF32(b, load(b, source, {t, e})));
  RowStats stats;
  if (function)
    stats = emitWarpRowStats(b, *function, row, inputs);
  for (auto [s, e] : llvm::enumerate(row.clamped)) {
    Value score =
        function ? emitScore(b, *function, inputs[s], stats) : inputs[s];
    scores.push_back(score);
    keys.push_back(bias ? Value(arith::AddFOp::create(b, score,
                                                      load(b, bias, e)))
                        : score);
  }
  return {keys, scores};
}

/// Lane 0 of a real token stores its winners: weights (normalised or
/// scaled), indices, and, with a histogram, counts them in workgroup memory.
void emitStoreWarpWinners(ImplicitLocOpBuilder &b, ArrayRef<Candidate> winners,
                          Value t, Value real, Value lane, Value weights,
                          Value indices, Value hist, bool normalize,
                          APFloat scale) {
  Value zero = emitF32(b, 0.0);
  Value scaleValue = emitF32(b, scale.convertToFloat());
  Value sum = zero;
  if (normalize)
    for (const Candidate &w : winners)
      sum = arith::AddFOp::create(b, sum, w.payload);
  Value leader = arith::AndIOp::create(
      b, real,
      arith::CmpIOp::create(b, arith::CmpIPredicate::eq, lane,
                            constIndex(b, 0)));
  emitIf(b, leader, [&](ImplicitLocOpBuilder &b) {
    Type indexType = elementTypeOf(indices);
    for (auto [j, w] : llvm::enumerate(winners)) {
      Value weight = w.payload;
      if (normalize)
        weight = emitNormalizedWeight(b, weight, sum, scaleValue);
      else if (!scale.isExactlyValue(1.0))
        weight = arith::MulFOp::create(b, scaleValue, weight);
      Value jIndex = constIndex(b, j);
      store(b, weight, weights, {t, jIndex});
      Value index = indexType.isInteger(32)
                        ? w.index
                        : Value(arith::ExtSIOp::create(b, indexType, w.index));
      store(b, index, indices, {t, jIndex});
      if (hist) {
        Value one = arith::ConstantIntOp::create(b, elementTypeOf(hist), 1);
        emitAtomicAdd(b, one, hist,
                      arith::IndexCastOp::create(b, b.getIndexType(), w.index));
      }
    }
  });
}

//===----------------------------------------------------------------------===//
// Patterns
//===----------------------------------------------------------------------===//

template <typename OpTy>
struct KernelPattern : public OpConversionPattern<OpTy> {
  KernelPattern(MLIRContext *ctx, int64_t warpsPerBlock, bool redux)
      : OpConversionPattern<OpTy>(ctx), warpsPerBlock(warpsPerBlock),
        redux(redux) {}
  using OpAdaptor = typename OpConversionPattern<OpTy>::OpAdaptor;

  LogicalResult
  matchAndRewrite(OpTy op, OpAdaptor,
                  ConversionPatternRewriter &rewriter) const final {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    FailureOr<Value> result = lower(op, b);
    if (failed(result))
      return failure();
    if (*result)
      rewriter.replaceOp(op, *result);
    else
      rewriter.eraseOp(op);
    return success();
  }

  /// Emits the kernels; returns the op's result if it has one.
  virtual FailureOr<Value> lower(OpTy op, ImplicitLocOpBuilder &b) const = 0;

  int64_t warpsPerBlock;
  /// Warp arg-max with redux.sync (sm_80 and later) rather than shuffles.
  bool redux;
};

struct ScoreKernel : KernelPattern<BufferScoreOp> {
  using KernelPattern::KernelPattern;
  FailureOr<Value> lower(BufferScoreOp op,
                         ImplicitLocOpBuilder &b) const override {
    int64_t numExperts = op.getInput().getType().getDimSize(1);
    emitWarpPerToken(
        b, dimOf(b, op.getInput(), 0), warpsPerBlock, {},
        [&](ImplicitLocOpBuilder &b, const KernelContext &, Value t, Value real,
            Value lane) {
          WarpRow row(b, lane, numExperts);
          SmallVector<Value> logits;
          for (Value e : row.clamped)
            logits.push_back(emitToF32(b, load(b, op.getInput(), {t, e})));
          RowStats stats = emitWarpRowStats(b, op.getFunction(), row, logits);
          for (size_t s = 0; s < row.numSlots(); ++s) {
            Value write = arith::AndIOp::create(b, real, row.inRange[s]);
            emitIf(b, write, [&](ImplicitLocOpBuilder &b) {
              store(b, emitScore(b, op.getFunction(), logits[s], stats),
                    op.getOutput(), {t, row.clamped[s]});
            });
          }
        });
    return Value();
  }
};

struct TopKKernel : KernelPattern<BufferTopKOp> {
  using KernelPattern::KernelPattern;
  FailureOr<Value> lower(BufferTopKOp op,
                         ImplicitLocOpBuilder &b) const override {
    SelectionConfig config = op.getSelectionConfig();
    emitWarpPerToken(
        b, dimOf(b, op.getScores(), 0), warpsPerBlock, {},
        [&](ImplicitLocOpBuilder &b, const KernelContext &, Value t, Value real,
            Value lane) {
          WarpRow row(b, lane, config.numExperts);
          auto [keys, scores] = emitWarpKeys(b, row, op.getScores(),
                                             std::nullopt, op.getBias(), t);
          SmallVector<Candidate> winners =
              emitWarpSelection(b, row, keys, scores, config, redux);
          emitStoreWarpWinners(b, winners, t, real, lane, op.getWeights(),
                               op.getIndices(), Value(), /*normalize=*/false,
                               APFloat(1.0f));
        });
    return Value();
  }
};

struct RouteKernel : KernelPattern<BufferRouteOp> {
  using KernelPattern::KernelPattern;
  FailureOr<Value> lower(BufferRouteOp op,
                         ImplicitLocOpBuilder &b) const override {
    SelectionConfig config = op.getSelectionConfig();
    Type countType = elementTypeOf(op.getCounts());
    emitDeviceFill(b, op.getCounts(),
                   cast<TypedAttr>(b.getZeroAttr(countType)));
    MemRefType histType =
        workgroupBuffer(b.getContext(), config.numExperts, countType);
    emitWarpPerToken(
        b, dimOf(b, op.getLogits(), 0), warpsPerBlock, {histType},
        [&](ImplicitLocOpBuilder &b, const KernelContext &ctx, Value t,
            Value real, Value lane) {
          Value hist = ctx.workgroup[0];
          emitZeroWorkgroup(b, ctx, hist, config.numExperts);
          WarpRow row(b, lane, config.numExperts);
          auto [keys, scores] = emitWarpKeys(b, row, op.getLogits(),
                                             op.getFunction(), op.getBias(), t);
          SmallVector<Candidate> winners =
              emitWarpSelection(b, row, keys, scores, config, redux);
          emitStoreWarpWinners(b, winners, t, real, lane, op.getWeights(),
                               op.getIndices(), hist, op.getNormalize(),
                               op.getScale());
          emitFlushHistogram(b, ctx, hist, op.getCounts(), config.numExperts);
        });
    return Value();
  }
};

struct NormalizeKernel : KernelPattern<BufferNormalizeOp> {
  using KernelPattern::KernelPattern;
  FailureOr<Value> lower(BufferNormalizeOp op,
                         ImplicitLocOpBuilder &b) const override {
    Value numTokens = dimOf(b, op.getWeights(), 0);
    Value k = dimOf(b, op.getWeights(), 1);
    Value numBlocks = ceilDiv(b, numTokens, kBlockSize);
    emitLaunch(b, numBlocks, kBlockSize, {},
               [&](ImplicitLocOpBuilder &b, const KernelContext &ctx) {
      Value zero = emitF32(b, 0.0);
      Value scale = emitF32(b, op.getScale().convertToFloat());
      emitGridStride(b, ctx, numBlocks, numTokens,
                     [&](ImplicitLocOpBuilder &b, Value t) {
        Value sum = emitForIter(
            b, constIndex(b, 0), k, ValueRange{zero},
            [&](ImplicitLocOpBuilder &b, Value j, ValueRange acc) {
              return SmallVector<Value>{arith::AddFOp::create(
                  b, acc[0], load(b, op.getWeights(), {t, j}))};
            })[0];
        emitFor(b, constIndex(b, 0), k, [&](ImplicitLocOpBuilder &b, Value j) {
          Value w = load(b, op.getWeights(), {t, j});
          store(b, emitNormalizedWeight(b, w, sum, scale), op.getOutput(),
                {t, j});
        });
      });
    });
    return Value();
  }
};

struct LoadKernel : KernelPattern<BufferLoadOp> {
  using KernelPattern::KernelPattern;
  FailureOr<Value> lower(BufferLoadOp op,
                         ImplicitLocOpBuilder &b) const override {
    int64_t numExperts = op.getNumExperts();
    Type countType = elementTypeOf(op.getCounts());
    emitDeviceFill(b, op.getCounts(),
                   cast<TypedAttr>(b.getZeroAttr(countType)));
    Value numTokens = dimOf(b, op.getIndices(), 0);
    Value k = dimOf(b, op.getIndices(), 1);
    Value numBlocks = arith::MinUIOp::create(
        b, ceilDiv(b, numTokens, kBlockSize), constIndex(b, 1024));
    Value numExpertsValue = constIndex(b, numExperts);
    emitLaunch(
        b, numBlocks, kBlockSize,
        {workgroupBuffer(b.getContext(), numExperts, countType)},
        [&](ImplicitLocOpBuilder &b, const KernelContext &ctx) {
          Value hist = ctx.workgroup[0];
          emitZeroWorkgroup(b, ctx, hist, numExperts);
          Value one = arith::ConstantIntOp::create(b, countType, 1);
          emitGridStride(b, ctx, numBlocks, numTokens,
                         [&](ImplicitLocOpBuilder &b, Value t) {
            auto countRow = [&](ImplicitLocOpBuilder &b) {
              emitFor(b, constIndex(b, 0), k,
                      [&](ImplicitLocOpBuilder &b, Value j) {
                Value e = load(b, op.getIndices(), {t, j});
                emitIf(b, emitInRange(b, e, numExpertsValue),
                       [&](ImplicitLocOpBuilder &b) {
                         emitAtomicAdd(b, one, hist,
                                       castIndex(b, b.getIndexType(), e));
                       });
              });
            };
            if (op.getMask())
              emitIf(b, load(b, op.getMask(), t), countRow);
            else
              countRow(b);
          });
          emitFlushHistogram(b, ctx, hist, op.getCounts(), numExperts);
        });
    return Value();
  }
};

/// Sum and maximum of a row of loads over a block: integers summed exactly in
/// i64, floats in f32; the sum returned as f32 with the max.
std::pair<Value, Value> emitBlockLoadSumMax(ImplicitLocOpBuilder &b,
                                            const KernelContext &ctx,
                                            Value load, ValueRange prefix,
                                            int64_t numExperts,
                                            Value intScratch,
                                            Value floatScratch) {
  Type type = elementTypeOf(load);
  bool isFloat = isa<FloatType>(type);
  Value zero = isFloat ? emitF32(b, 0.0)
                       : arith::ConstantIntOp::create(b, b.getI64Type(), 0);
  Value negInf = emitF32(b, -std::numeric_limits<double>::infinity());
  // Each thread's partial sum and max over experts tid, tid + blockSize, ...
  auto loop = scf::ForOp::create(
      b, ctx.threadId, constIndex(b, numExperts), ctx.blockSize,
      ValueRange{zero, negInf},
      [&](OpBuilder &nested, Location loc, Value e, ValueRange acc) {
        ImplicitLocOpBuilder ib(loc, nested);
        SmallVector<Value> indices(prefix);
        indices.push_back(e);
        Value c = mlir::moe::load(ib, load, indices);
        Value sum =
            isFloat ? Value(arith::AddFOp::create(ib, acc[0], c))
                    : Value(arith::AddIOp::create(
                          ib, acc[0],
                          type.isInteger(64)
                              ? c
                              : Value(arith::ExtSIOp::create(
                                    ib, ib.getI64Type(), c))));
        Value max = arith::MaximumFOp::create(ib, acc[1], emitToF32(ib, c));
        scf::YieldOp::create(ib, ValueRange{sum, max});
      });
  Value sum = emitBlockReduce(
      b, ctx, isFloat ? floatScratch : intScratch, loop.getResult(0),
      [&](ImplicitLocOpBuilder &b, Value x, Value y) -> Value {
        return isFloat ? Value(arith::AddFOp::create(b, x, y))
                       : Value(arith::AddIOp::create(b, x, y));
      });
  Value max = emitBlockReduce(
      b, ctx, floatScratch, loop.getResult(1),
      [&](ImplicitLocOpBuilder &b, Value x, Value y) -> Value {
        return arith::MaximumFOp::create(b, x, y);
      });
  return {emitToF32(b, sum), max};
}

SmallVector<Type> reductionScratch(MLIRContext *ctx) {
  return {workgroupBuffer(ctx, kBlockSize, IntegerType::get(ctx, 64)),
          workgroupBuffer(ctx, kBlockSize, Float32Type::get(ctx))};
}

struct UpdateBiasKernel : KernelPattern<BufferUpdateBiasOp> {
  using KernelPattern::KernelPattern;
  FailureOr<Value> lower(BufferUpdateBiasOp op,
                         ImplicitLocOpBuilder &b) const override {
    MemRefType biasType = op.getBias().getType();
    int64_t numExperts = biasType.getShape().back();
    bool batched = biasType.getRank() == 2;
    Value numRows = batched ? dimOf(b, op.getBias(), 0) : constIndex(b, 1);
    emitLaunch(
        b, numRows, kBlockSize, reductionScratch(b.getContext()),
        [&](ImplicitLocOpBuilder &b, const KernelContext &ctx) {
          SmallVector<Value> prefix;
          if (batched)
            prefix.push_back(ctx.blockId);
          auto at = [&](Value e) {
            SmallVector<Value> indices(prefix);
            indices.push_back(e);
            return indices;
          };
          Value numExpertsF = emitF32(b, static_cast<double>(numExperts));
          Value sum = emitBlockLoadSumMax(b, ctx, op.getLoad(), prefix,
                                          numExperts, ctx.workgroup[0],
                                          ctx.workgroup[1])
                          .first;
          Value mean = arith::DivFOp::create(b, sum, numExpertsF);
          Value rate = emitF32(b, op.getRate().convertToFloat());
          auto deltaOf = [&](ImplicitLocOpBuilder &b, Value e) -> Value {
            return emitBiasDelta(b, op.getRule(), rate, mean,
                                 load(b, op.getLoad(), at(e)));
          };
          Value meanDelta;
          if (op.getCenter()) {
            auto partial = scf::ForOp::create(
                b, ctx.threadId, constIndex(b, numExperts), ctx.blockSize,
                ValueRange{emitF32(b, 0.0)},
                [&](OpBuilder &nested, Location loc, Value e, ValueRange acc) {
                  ImplicitLocOpBuilder ib(loc, nested);
                  scf::YieldOp::create(
                      ib, ValueRange{arith::AddFOp::create(ib, acc[0],
                                                           deltaOf(ib, e))});
                });
            Value deltaSum = emitBlockReduce(
                b, ctx, ctx.workgroup[1], partial.getResult(0),
                [](ImplicitLocOpBuilder &b, Value x, Value y) -> Value {
                  return arith::AddFOp::create(b, x, y);
                });
            meanDelta = arith::DivFOp::create(b, deltaSum, numExpertsF);
          }
          emitFor(
              b, ctx.threadId, constIndex(b, numExperts),
              [&](ImplicitLocOpBuilder &b, Value e) {
                Value delta = deltaOf(b, e);
                if (meanDelta)
                  delta = arith::SubFOp::create(b, delta, meanDelta);
                Value bias = load(b, op.getBias(), at(e));
                store(b, arith::AddFOp::create(b, bias, delta), op.getOutput(),
                      at(e));
              },
              ctx.blockSize);
        });
    return Value();
  }
};

struct ImbalanceKernel : KernelPattern<BufferImbalanceOp> {
  using KernelPattern::KernelPattern;
  FailureOr<Value> lower(BufferImbalanceOp op,
                         ImplicitLocOpBuilder &b) const override {
    int64_t numExperts = op.getLoad().getType().getDimSize(0);
    // The metric is computed on the device and copied back to the host.
    auto resultType = MemRefType::get({1}, b.getF32Type());
    Value device = gpu::AllocOp::create(b, resultType, /*asyncToken=*/Type(),
                                        ValueRange{}, ValueRange{}, ValueRange{})
                       .getMemref();
    emitLaunch(
        b, constIndex(b, 1), kBlockSize, reductionScratch(b.getContext()),
        [&](ImplicitLocOpBuilder &b, const KernelContext &ctx) {
          auto [sum, max] =
              emitBlockLoadSumMax(b, ctx, op.getLoad(), {}, numExperts,
                                  ctx.workgroup[0], ctx.workgroup[1]);
          Value result = emitMaxVio(b, sum, max, numExperts);
          Value first = arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                              ctx.threadId, constIndex(b, 0));
          emitIf(b, first, [&](ImplicitLocOpBuilder &b) {
            store(b, result, device, constIndex(b, 0));
          });
        });
    Value host = memref::AllocaOp::create(b, resultType);
    gpu::MemcpyOp::create(b, Type(), ValueRange{}, host, device);
    gpu::DeallocOp::create(b, Type(), ValueRange{}, device);
    return Value(load(b, host, constIndex(b, 0)));
  }
};

struct DispatchKernel : KernelPattern<BufferDispatchOp> {
  using KernelPattern::KernelPattern;
  FailureOr<Value> lower(BufferDispatchOp op,
                         ImplicitLocOpBuilder &b) const override {
    int64_t numExperts = op.getNumExperts();
    int64_t block = op.getBlock();
    std::optional<int64_t> capacity = op.getCapacity();
    Value indices = op.getIndices();
    Value numTokens = dimOf(b, indices, 0);
    Value k = dimOf(b, indices, 1);
    Value rows = dimOf(b, op.getTokenIds(), 0);
    Value numExpertsValue = constIndex(b, numExperts);
    Value expertBlocks = ceilDiv(b, numExpertsValue, kBlockSize);

    // Per expert: next free row and one past its last kept row.
    auto expertRow = MemRefType::get({numExperts}, b.getI64Type());
    auto alloc = [&](MemRefType type) {
      return gpu::AllocOp::create(b, type, Type(), ValueRange{}, ValueRange{},
                                  ValueRange{})
          .getMemref();
    };
    Value next = alloc(expertRow);
    Value end = alloc(expertRow);

    // Walks the valid pairs of expert e in ascending (t, j).
    auto forEachPairOf = [&](ImplicitLocOpBuilder &b, Value e,
                             function_ref<void(ImplicitLocOpBuilder &, Value,
                                               Value)>
                                 body) {
      Value eI64 = castIndex(b, b.getI64Type(), e);
      emitFor(b, 0, numTokens, [&](ImplicitLocOpBuilder &b, Value t) {
        emitFor(b, constIndex(b, 0), k, [&](ImplicitLocOpBuilder &b, Value j) {
          Value pairExpert = load(b, indices, {t, j});
          Value wide = pairExpert.getType().isInteger(64)
                           ? pairExpert
                           : Value(arith::ExtSIOp::create(b, b.getI64Type(),
                                                          pairExpert));
          emitIf(b,
                 arith::CmpIOp::create(b, arith::CmpIPredicate::eq, wide, eI64),
                 [&](ImplicitLocOpBuilder &b) { body(b, t, j); });
        });
      });
    };

    // 1. Each expert's thread counts its pairs.
    emitLaunch(b, expertBlocks, kBlockSize, {},
               [&](ImplicitLocOpBuilder &b, const KernelContext &ctx) {
      Value e = arith::AddIOp::create(
          b, arith::MulIOp::create(b, ctx.blockId, ctx.blockSize),
          ctx.threadId);
      emitIf(b,
             arith::CmpIOp::create(b, arith::CmpIPredicate::ult, e,
                                   numExpertsValue),
             [&](ImplicitLocOpBuilder &b) {
               store(b, arith::ConstantIntOp::create(b, b.getI64Type(), 0), end,
                     e);
               forEachPairOf(b, e, [&](ImplicitLocOpBuilder &b, Value, Value) {
                 Value one = arith::ConstantIntOp::create(b, b.getI64Type(), 1);
                 store(b, arith::AddIOp::create(b, load(b, end, e), one), end,
                       e);
               });
             });
    });

    // 2. One thread scans the kept counts into block-padded offsets.
    Type offsetType = elementTypeOf(op.getOffsets());
    emitLaunch(b, constIndex(b, 1), 1, {},
               [&](ImplicitLocOpBuilder &b, const KernelContext &) {
      Value zero = arith::ConstantIntOp::create(b, b.getI64Type(), 0);
      Value blockValue = arith::ConstantIntOp::create(b, b.getI64Type(), block);
      store(b, arith::ConstantIntOp::create(b, offsetType, 0), op.getOffsets(),
            constIndex(b, 0));
      emitForIter(
          b, 0, numExperts, ValueRange{zero},
          [&](ImplicitLocOpBuilder &b, Value e, ValueRange acc) {
            Value start = acc[0];
            Value kept = load(b, end, e);
            if (capacity)
              kept = arith::MinUIOp::create(
                  b, kept,
                  arith::ConstantIntOp::create(b, b.getI64Type(), *capacity));
            Value padded = arith::MulIOp::create(
                b, arith::CeilDivUIOp::create(b, kept, blockValue), blockValue);
            Value segmentEnd = arith::AddIOp::create(b, start, padded);
            store(b, start, next, e);
            store(b, arith::AddIOp::create(b, start, kept), end, e);
            Value offset =
                offsetType.isInteger(64)
                    ? segmentEnd
                    : Value(arith::TruncIOp::create(b, offsetType, segmentEnd));
            Value nextExpert = arith::AddIOp::create(b, e, constIndex(b, 1));
            store(b, offset, op.getOffsets(), nextExpert);
            return SmallVector<Value>{segmentEnd};
          });
    });

    // 3. Every row and slot starts as -1.
    emitDeviceFill(b, op.getTokenIds(),
                   b.getIntegerAttr(elementTypeOf(op.getTokenIds()), -1));
    Type slotType = elementTypeOf(op.getSlots());
    Value numPairs = arith::MulIOp::create(b, numTokens, k);
    Value slotBlocks = arith::MinUIOp::create(
        b, ceilDiv(b, numPairs, kBlockSize), constIndex(b, 1024));
    emitLaunch(b, slotBlocks, kBlockSize, {},
               [&](ImplicitLocOpBuilder &b, const KernelContext &ctx) {
      Value dropped = arith::ConstantIntOp::create(b, slotType, -1);
      emitGridStride(b, ctx, slotBlocks, numPairs,
                     [&](ImplicitLocOpBuilder &b, Value p) {
        Value t = arith::DivUIOp::create(b, p, k);
        Value j = arith::RemUIOp::create(b, p, k);
        store(b, dropped, op.getSlots(), {t, j});
      });
    });

    // 4. Each expert's thread fills its rows in ascending (t, j): the layout
    //    does not depend on thread timing.
    Type tokenType = elementTypeOf(op.getTokenIds());
    emitLaunch(b, expertBlocks, kBlockSize, {},
               [&](ImplicitLocOpBuilder &b, const KernelContext &ctx) {
      Value e = arith::AddIOp::create(
          b, arith::MulIOp::create(b, ctx.blockId, ctx.blockSize),
          ctx.threadId);
      Value rowsI64 = castIndex(b, b.getI64Type(), rows);
      emitIf(b,
             arith::CmpIOp::create(b, arith::CmpIPredicate::ult, e,
                                   numExpertsValue),
             [&](ImplicitLocOpBuilder &b) {
               forEachPairOf(b, e, [&](ImplicitLocOpBuilder &b, Value t,
                                       Value j) {
                 Value row = load(b, next, e);
                 Value kept = arith::AndIOp::create(
                     b,
                     arith::CmpIOp::create(b, arith::CmpIPredicate::ult, row,
                                           load(b, end, e)),
                     arith::CmpIOp::create(b, arith::CmpIPredicate::ult, row,
                                           rowsI64));
                 emitIf(b, kept, [&](ImplicitLocOpBuilder &b) {
                   Value rowIndex = castIndex(b, b.getIndexType(), row);
                   store(b, castIndex(b, tokenType, t), op.getTokenIds(),
                         rowIndex);
                   store(b, castIndex(b, slotType, rowIndex), op.getSlots(),
                         {t, j});
                   Value one = arith::ConstantIntOp::create(b, b.getI64Type(),
                                                            1);
                   store(b, arith::AddIOp::create(b, row, one), next, e);
                 });
               });
             });
    });
    gpu::DeallocOp::create(b, Type(), ValueRange{}, next);
    gpu::DeallocOp::create(b, Type(), ValueRange{}, end);
    return Value();
  }
};

struct PermuteKernel : KernelPattern<BufferPermuteOp> {
  using KernelPattern::KernelPattern;
  FailureOr<Value> lower(BufferPermuteOp op,
                         ImplicitLocOpBuilder &b) const override {
    Value input = op.getInput(), output = op.getOutput();
    Value numTokens = dimOf(b, input, 0);
    Value width = dimOf(b, input, 1);
    Type elementType = elementTypeOf(input);
    // A block per row; its threads copy the row's columns.
    emitLaunch(b, dimOf(b, output, 0), kBlockSize, {},
               [&](ImplicitLocOpBuilder &b, const KernelContext &ctx) {
      Value p = ctx.blockId;
      Value id = load(b, op.getTokenIds(), p);
      Value valid = emitInRange(b, id, numTokens);
      Value t = arith::SelectOp::create(b, valid,
                                        castIndex(b, b.getIndexType(), id),
                                        constIndex(b, 0));
      Value zero = arith::ConstantOp::create(
          b, cast<TypedAttr>(b.getZeroAttr(elementType)));
      emitFor(
          b, ctx.threadId, width,
          [&](ImplicitLocOpBuilder &b, Value h) {
            auto value = scf::IfOp::create(
                b, valid,
                [&](OpBuilder &nested, Location loc) {
                  ImplicitLocOpBuilder ib(loc, nested);
                  scf::YieldOp::create(ib, load(ib, input, {t, h}));
                },
                [&](OpBuilder &nested, Location loc) {
                  scf::YieldOp::create(nested, loc, zero);
                });
            store(b, value.getResult(0), output, {p, h});
          },
          ctx.blockSize);
    });
    return Value();
  }
};

struct CombineKernel : KernelPattern<BufferCombineOp> {
  using KernelPattern::KernelPattern;
  FailureOr<Value> lower(BufferCombineOp op,
                         ImplicitLocOpBuilder &b) const override {
    Value width = dimOf(b, op.getExpertOut(), 1);
    // A block per token; its threads sum the token's columns in f32.
    emitLaunch(b, dimOf(b, op.getWeights(), 0), kBlockSize, {},
               [&](ImplicitLocOpBuilder &b, const KernelContext &ctx) {
      Value t = ctx.blockId;
      emitFor(
          b, ctx.threadId, width,
          [&](ImplicitLocOpBuilder &b, Value h) {
            store(b,
                  emitCombineElement(b, op.getExpertOut(), op.getWeights(),
                                     op.getSlots(), t, h),
                  op.getOutput(), {t, h});
          },
          ctx.blockSize);
    });
    return Value();
  }
};

//===----------------------------------------------------------------------===//
// Host copies
//===----------------------------------------------------------------------===//

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
      return op->emitOpError("GPU lowering with host copies expects "
                             "identity-layout buffers, got ")
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

struct ConvertMoEToGPUPass
    : public moe::impl::ConvertMoEToGPUBase<ConvertMoEToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    // Shapes beyond what the kernels support are diagnosed before anything
    // is rewritten.
    WalkResult supported = getOperation()->walk([](Operation *op) {
      if (auto load = dyn_cast<BufferLoadOp>(op)) {
        int64_t bytes = static_cast<int64_t>(load.getNumExperts()) *
                        elementTypeOf(load.getCounts()).getIntOrFloatBitWidth() /
                        8;
        if (bytes > kMaxWorkgroupBytes) {
          op->emitOpError("GPU lowering keeps the counts in workgroup memory: "
                          "at most ")
              << kMaxWorkgroupBytes << " bytes, got " << bytes;
          return WalkResult::interrupt();
        }
        return WalkResult::advance();
      }
      SelectionConfig config;
      if (auto topk = dyn_cast<BufferTopKOp>(op))
        config = topk.getSelectionConfig();
      else if (auto route = dyn_cast<BufferRouteOp>(op))
        config = route.getSelectionConfig();
      else
        return WalkResult::advance();
      return failed(checkWarpSelection(op, config)) ? WalkResult::interrupt()
                                                    : WalkResult::advance();
    });
    if (supported.wasInterrupted())
      return signalPassFailure();

    if (hostCopies) {
      SmallVector<Operation *> ops;
      getOperation()->walk([&](Operation *op) {
        if (isa<MoEDialect>(op->getDialect()) && !op->getParentOfType<gpu::LaunchOp>())
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
      signalPassFailure();
  }
};

} // namespace

void mlir::moe::populateMoEToGPUPatterns(RewritePatternSet &patterns,
                                         int64_t warpsPerBlock, bool redux) {
  patterns.add<ScoreKernel, TopKKernel, RouteKernel, NormalizeKernel,
               LoadKernel, UpdateBiasKernel, ImbalanceKernel, DispatchKernel,
               PermuteKernel, CombineKernel>(patterns.getContext(),
                                             warpsPerBlock, redux);
}
