//===- WarpSelection.cpp - a token's selection by a GPU warp --------------===//

#include "WarpSelection.h"

#include "moe/Conversion/MoECommon/Algorithms.h"
#include "moe/Conversion/MoECommon/Builders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe;

namespace {


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
    Value source = row.laneOf(b, winner.index);
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


} // namespace

WarpRow::WarpRow(ImplicitLocOpBuilder &b, Value lane, int64_t numExperts,
                 int64_t width)
    : numExperts(numExperts), width(width) {
  Type i32 = b.getI32Type();
  Value laneI32 = arith::IndexCastOp::create(b, i32, lane);
  Value first = width == 1 ? laneI32
                           : Value(arith::MulIOp::create(
                                 b, laneI32,
                                 arith::ConstantIntOp::create(b, i32, width)));
  Value last = arith::ConstantIntOp::create(b, i32, numExperts - 1);
  int64_t chunk = kWarpSize * width;
  for (int64_t base = 0; base < numExperts; base += chunk) {
    chunkStart.push_back(arith::IndexCastOp::create(
        b, b.getIndexType(),
        arith::MinSIOp::create(
            b,
            arith::AddIOp::create(b, first,
                                  arith::ConstantIntOp::create(b, i32, base)),
            arith::ConstantIntOp::create(b, i32, numExperts - width))));
    for (int64_t i = 0; i < width; ++i) {
      Value e = arith::AddIOp::create(
          b, first, arith::ConstantIntOp::create(b, i32, base + i));
      expert.push_back(e);
      // The last lane's slot is the chunk's highest expert.
      if (base + chunk - width + i < numExperts)
        inRange.push_back(arith::ConstantIntOp::create(b, b.getI1Type(), 1));
      else
        inRange.push_back(
            arith::CmpIOp::create(b, arith::CmpIPredicate::sle, e, last));
      clamped.push_back(arith::IndexCastOp::create(
          b, b.getIndexType(), arith::MinSIOp::create(b, e, last)));
    }
  }
}

Value WarpRow::laneOf(ImplicitLocOpBuilder &b, Value e) const {
  Type i32 = b.getI32Type();
  Value chunkSlot =
      width == 1 ? e
                 : Value(arith::DivUIOp::create(
                       b, e, arith::ConstantIntOp::create(b, i32, width)));
  return arith::AndIOp::create(
      b, chunkSlot, arith::ConstantIntOp::create(b, i32, kWarpSize - 1));
}

/// Bytes of the widest load of a row.
constexpr int64_t kVectorBytes = 16;

int64_t mlir::moe::getVectorRowWidth(MemRefType type, bool rowSum) {
  int64_t bits = type.getElementType().getIntOrFloatBitWidth();
  int64_t rowLength = type.getShape().back();
  if (rowSum || !type.getLayout().isIdentity() || bits % 8 != 0 ||
      ShapedType::isDynamic(rowLength))
    return 1;
  // The widest load whose chunks fill the warp: a lane then holds E / 32
  // experts, as with width 1 (no idle slots to select over).
  int64_t width = kVectorBytes * 8 / bits;
  while (width > 1 && rowLength % (kWarpSize * width) != 0)
    width /= 2;
  return width;
}

MemRefType mlir::moe::getWarpRowWorkgroupType(MLIRContext *ctx,
                                              int64_t numExperts,
                                              int64_t width, Type type) {
  if (width == 1)
    return getWorkgroupBufferType(ctx, numExperts, type);
  return getWorkgroupBufferType(ctx, numExperts / width,
                                VectorType::get({width}, type));
}

Value mlir::moe::emitRowsAligned(ImplicitLocOpBuilder &b, Value memref) {
  auto type = cast<MemRefType>(memref.getType());
  int64_t bytes = getVectorRowWidth(type) *
                  type.getElementType().getIntOrFloatBitWidth() / 8;
  Value pointer = memref::ExtractAlignedPointerAsIndexOp::create(b, memref);
  Value misalignment =
      arith::AndIOp::create(b, pointer, constIndex(b, bytes - 1));
  return arith::CmpIOp::create(b, arith::CmpIPredicate::eq, misalignment,
                               constIndex(b, 0));
}

SmallVector<Value> mlir::moe::emitWarpRowLoad(ImplicitLocOpBuilder &b,
                                              const WarpRow &row, Value source,
                                              Value t, bool vectorLoads) {
  auto at = [&](Value e) {
    return t ? SmallVector<Value>{t, e} : SmallVector<Value>{e};
  };
  SmallVector<Value> values;
  if (row.width == 1 || !vectorLoads) {
    for (Value e : row.clamped)
      values.push_back(emitToF32(b, load(b, source, at(e))));
    return values;
  }
  Type element = elementTypeOf(source);
  Value width = constIndex(b, row.width);
  for (Value start : row.chunkStart) {
    // A buffer of chunks (vector elements, aligned to their size), or a
    // vector load of the row.
    Value chunk =
        isa<VectorType>(element)
            ? load(b, source, at(arith::DivUIOp::create(b, start, width)))
            : Value(vector::LoadOp::create(
                  b, VectorType::get({row.width}, element), source, at(start),
                  /*nontemporal=*/false,
                  llvm::Align(row.width * element.getIntOrFloatBitWidth() /
                              8)));
    for (int64_t i = 0; i < row.width; ++i)
      values.push_back(emitToF32(b, vector::ExtractOp::create(b, chunk, i)));
  }
  return values;
}

/// The selection of one token by a warp: keys (and unbiased scores) in
/// registers, optional group limiting, then K arg-max rounds. Every lane ends
/// with the same K winners, best first.
SmallVector<Candidate> mlir::moe::emitWarpSelection(ImplicitLocOpBuilder &b,
                                         const WarpRow &row,
                                         ArrayRef<Value> keys,
                                         ArrayRef<Value> scores,
                                         const SelectionConfig &config,
                                         bool redux) {
  size_t numSlots = row.numSlots();
  SmallVector<Value> available(row.inRange);

  if (config.isGroupLimited()) {
    Value groupSize =
        arith::ConstantIntOp::create(b, b.getI32Type(), config.groupSize());
    SmallVector<Value> group;
    for (Value e : row.expert)
      group.push_back(arith::DivUIOp::create(b, e, groupSize));
    // Group scores: the sum of each group's group_top best keys, NaN as -inf,
    // in a private array. The loops over groups and rounds are emitted as
    // loops; --convert-moe-to-gpu unrolls them when they are small (8 groups
    // x 2 rounds for DeepSeek-V3), and the array then becomes registers.
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
    // The kept groups as a bit mask.
    Value keptMask = emitForIter(
        b, 0, config.numGroups,
        ValueRange{arith::ConstantIntOp::create(b, b.getI64Type(), 0)},
        [&](ImplicitLocOpBuilder &b, Value g, ValueRange mask) {
          Value kept = emitGroupIsKept(
              b, g, config.numGroups, config.topkGroups,
              [&](ImplicitLocOpBuilder &b, Value h) {
                return load(b, groupScores, h);
              });
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
LogicalResult mlir::moe::checkWarpSelection(Operation *op,
                                            const SelectionConfig &config) {
  auto fail = [&]() {
    return op->emitError() << "'" << getUserOpName(op)
                           << "' op GPU lowering supports ";
  };
  if (config.numExperts > kMaxWarpExperts)
    return fail() << "at most " << kMaxWarpExperts
                  << " experts (32 per lane of a warp), got "
                  << config.numExperts;
  if (config.k > kWarpSize)
    return fail() << "k <= " << kWarpSize << ", got " << config.k;
  if (config.numGroups > kMaxGroups)
    return fail() << "at most " << kMaxGroups << " expert groups, got "
                  << config.numGroups;
  return success();
}

void mlir::moe::emitWarpPerToken(ImplicitLocOpBuilder &b, StringRef name,
                                 Value numTokens, int64_t warpsPerBlock,
                                 TypeRange workgroup, WarpTokenFn body,
                                 KernelBodyFn setup, KernelBodyFn finish,
                                 Value vectorRows) {
  Value needed = arith::CeilDivUIOp::create(b, numTokens,
                                            constIndex(b, warpsPerBlock));
  Value numBlocks = emitDeviceGridBlocks(b, needed, kWarpBlocksPerSM);
  emitLaunch(
      b, name, numBlocks, warpsPerBlock * kWarpSize, workgroup,
      [&](ImplicitLocOpBuilder &b, const KernelContext &ctx) {
        Value warpSize = constIndex(b, kWarpSize);
        Value warp = arith::DivUIOp::create(b, ctx.threadId, warpSize);
        Value lane = arith::RemUIOp::create(b, ctx.threadId, warpSize);
        if (setup) {
          setup(b, ctx);
          gpu::BarrierOp::create(b);
        }
        // Every warp of a block takes the same turns (the loop bound is the
        // block's), so the block's barriers stay outside the loop.
        Value tokensPerBlock = constIndex(b, warpsPerBlock);
        Value first = arith::MulIOp::create(b, ctx.blockId, tokensPerBlock);
        Value step = arith::MulIOp::create(b, ctx.gridSize, tokensPerBlock);
        Value last = arith::SubIOp::create(b, numTokens, constIndex(b, 1));
        auto tokenLoop = [&](ImplicitLocOpBuilder &b, bool vectorLoads) {
          emitFor(
              b, first, numTokens,
              [&](ImplicitLocOpBuilder &b, Value base) {
                Value token = arith::AddIOp::create(b, base, warp);
                Value real = arith::CmpIOp::create(
                    b, arith::CmpIPredicate::ult, token, numTokens);
                // Warps past the last token compute on the last one and
                // store nothing: every lane stays in the shuffles.
                Value t = arith::MinUIOp::create(b, token, last);
                body(b, ctx, t, real, lane, vectorLoads);
              },
              step);
        };
        if (!vectorRows) {
          tokenLoop(b, /*vectorLoads=*/false);
        } else {
          // Two versions of the loop, chosen once: had the loads of both
          // met after a branch in the loop, LLVM would have merged them
          // into the scalar ones.
          auto branch = scf::IfOp::create(b, TypeRange{},
                                          emitRowsAligned(b, vectorRows),
                                          /*withElse=*/true);
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(branch.thenBlock());
          tokenLoop(b, /*vectorLoads=*/true);
          b.setInsertionPointToStart(branch.elseBlock());
          tokenLoop(b, /*vectorLoads=*/false);
          b.setInsertionPointAfter(branch);
        }
        if (finish)
          finish(b, ctx);
      });
}

/// Softmax statistics of a token held in a warp, from its f32 logits.
RowStats mlir::moe::emitWarpRowStats(ImplicitLocOpBuilder &b, ScoreFunction function,
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

std::pair<SmallVector<Value>, SmallVector<Value>>
mlir::moe::emitWarpKeys(ImplicitLocOpBuilder &b, const WarpRow &row,
                        ArrayRef<Value> inputs,
                        std::optional<ScoreFunction> function,
                        ArrayRef<Value> bias) {
  SmallVector<Value> keys, scores;
  RowStats stats;
  if (function)
    stats = emitWarpRowStats(b, *function, row, inputs);
  for (auto [s, input] : llvm::enumerate(inputs)) {
    Value score = function ? emitScore(b, *function, input, stats) : input;
    scores.push_back(score);
    keys.push_back(bias.empty() ? score
                                : Value(arith::AddFOp::create(b, score,
                                                              bias[s])));
  }
  return {keys, scores};
}

/// Lane 0 of a real token stores its winners: weights (normalised or
/// scaled), indices, and, with a histogram, counts them in workgroup memory.
void mlir::moe::emitStoreWarpWinners(ImplicitLocOpBuilder &b,
                                     ArrayRef<Candidate> winners, Value t,
                                     Value real, Value lane, Value weights,
                                     Value indices, Value hist, bool normalize,
                                     const APFloat &scale) {
  Value sum = emitF32(b, 0.0);
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
      Value jIndex = constIndex(b, j);
      store(b, emitGateWeight(b, w.payload, sum, normalize, scale), weights,
            {t, jIndex});
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
