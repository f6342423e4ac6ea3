//===- MoEToLoops.cpp - moe.buffer ops to scf loops -----------------------===//
//
// The CPU lowering: each memref-level moe op becomes sequential scf loops
// over tokens, with arith/math for the scalar work and memref loads/stores.
// Runtime data (indices, token ids, slots) is range-checked before it
// addresses memory.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "moe/Conversion/MoECommon/Builders.h"
#include "moe/Conversion/MoECommon/RoutingMath.h"
#include "moe/Conversion/MoEToSCF/TrainingToLoops.h" // Training ops.
#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/DialectConversion.h"

#include <limits>
#include <memory>

namespace mlir::moe {
#define GEN_PASS_DEF_CONVERTMOETOLOOPS
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;
using namespace mlir::moe;

namespace {

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

/// A statically shaped stack buffer, created at the start of the enclosing
/// automatic allocation scope (the function), so that an op inside a loop
/// does not grow the stack.
Value createScratch(ImplicitLocOpBuilder &b, MemRefType type) {
  Operation *scope = b.getInsertionBlock()->getParentOp();
  while (scope && !scope->hasTrait<OpTrait::AutomaticAllocationScope>())
    scope = scope->getParentOp();
  OpBuilder::InsertionGuard guard(b);
  if (scope) {
    // After the scratch buffers already there, in creation order.
    Block &entry = scope->getRegion(0).front();
    auto it = entry.begin();
    while (it != entry.end() && isa<memref::AllocaOp>(*it))
      ++it;
    b.setInsertionPoint(&entry, it);
  }
  return memref::AllocaOp::create(b, type);
}

/// Fills every element of a rank-1 buffer with `value`.
void emitFill(ImplicitLocOpBuilder &b, Value memref, Value value) {
  emitFor(b, 0, dimOf(b, memref, 0),
          [&](ImplicitLocOpBuilder &b, Value i) { store(b, value, memref, i); });
}

/// Adds one to element `index` of an integer counter buffer.
void emitIncrement(ImplicitLocOpBuilder &b, Value counts, Value index) {
  Type type = elementTypeOf(counts);
  Value one = arith::ConstantIntOp::create(b, type, 1);
  Value old = load(b, counts, index);
  store(b, arith::AddIOp::create(b, old, one), counts, index);
}

/// The rows [0, T) of a token-major buffer as an index.
Value numTokens(ImplicitLocOpBuilder &b, Value memref) {
  return dimOf(b, memref, 0);
}

//===----------------------------------------------------------------------===//
// Top-K selection
//===----------------------------------------------------------------------===//

/// Lanes of the vector code that computes a token's scores.
constexpr int64_t kVectorWidth = 16;

/// The K best (key, id, payload) triples seen so far for one token, best
/// first, in stack buffers. Insertion keeps the contract's order: a new
/// candidate (higher id than every stored one) moves above a stored entry
/// only when it ranks strictly above it.
class BestK {
public:
  BestK(ImplicitLocOpBuilder &b, int64_t k, bool withPayload) : k(k) {
    keys = createScratch(b, MemRefType::get({k}, b.getF32Type()));
    ids = createScratch(b, MemRefType::get({k}, b.getIndexType()));
    if (withPayload)
      payloads = createScratch(b, MemRefType::get({k}, b.getF32Type()));
  }

  /// The state a scan carries: how many entries are held (<= K) and, once
  /// K are, the K-th key, the threshold a candidate must rank above.
  struct State {
    Value filled;
    Value threshold;
  };

  State initialState(ImplicitLocOpBuilder &b) const {
    return {constIndex(b, 0), emitF32(b, 0.0)};
  }

  /// Offers a candidate; most candidates cost one comparison with the
  /// threshold held in a register.
  State insert(ImplicitLocOpBuilder &b, State state, Value key, Value id,
               Value payload) const {
    Value kValue = constIndex(b, k);
    Value notFull = arith::CmpIOp::create(b, arith::CmpIPredicate::ult,
                                          state.filled, kValue);
    Value accept = arith::OrIOp::create(
        b, notFull, emitRanksAbove(b, key, state.threshold));
    auto ifOp = scf::IfOp::create(
        b, accept,
        [&](OpBuilder &nested, Location loc) {
          ImplicitLocOpBuilder b(loc, nested);
          Value one = constIndex(b, 1);
          Value zero = constIndex(b, 0);
          Value last = constIndex(b, k - 1);
          Value start = arith::MinUIOp::create(b, state.filled, last);
          // Shift down every entry that the candidate ranks above.
          auto shift = scf::WhileOp::create(
              b, TypeRange{b.getIndexType()}, ValueRange{start},
              [&](OpBuilder &nested, Location loc, ValueRange args) {
                ImplicitLocOpBuilder ib(loc, nested);
                Value pos = args[0];
                Value positive = arith::CmpIOp::create(
                    ib, arith::CmpIPredicate::ugt, pos, zero);
                Value above = arith::SubIOp::create(
                    ib, arith::MaxUIOp::create(ib, pos, one), one);
                Value moves = arith::AndIOp::create(
                    ib, positive,
                    emitRanksAbove(ib, key, load(ib, keys, above)));
                scf::ConditionOp::create(ib, moves, pos);
              },
              [&](OpBuilder &nested, Location loc, ValueRange args) {
                ImplicitLocOpBuilder ib(loc, nested);
                Value pos = args[0];
                Value above = arith::SubIOp::create(ib, pos, one);
                for (Value buffer : {keys, ids, payloads})
                  if (buffer)
                    store(ib, load(ib, buffer, above), buffer, pos);
                scf::YieldOp::create(ib, above);
              });
          Value pos = shift.getResult(0);
          store(b, key, keys, pos);
          store(b, id, ids, pos);
          if (payloads)
            store(b, payload, payloads, pos);
          Value filled = arith::MinUIOp::create(
              b, arith::AddIOp::create(b, state.filled, one), kValue);
          // Meaningful once K entries are held, which is when it is used.
          Value threshold = load(b, keys, last);
          scf::YieldOp::create(b, ValueRange{filled, threshold});
        },
        [&](OpBuilder &nested, Location loc) {
          scf::YieldOp::create(nested, loc,
                               ValueRange{state.filled, state.threshold});
        });
    return {ifOp.getResult(0), ifOp.getResult(1)};
  }

  /// Offers experts [first, end) of a token's row buffers.
  State scan(ImplicitLocOpBuilder &b, State state, Value first, Value end,
             function_ref<Value(ImplicitLocOpBuilder &, Value)> keyOf,
             Value payloadRow) const {
    SmallVector<Value> result = emitForIter(
        b, first, end, ValueRange{state.filled, state.threshold},
        [&](ImplicitLocOpBuilder &b, Value e, ValueRange args) {
          Value payload = payloadRow ? load(b, payloadRow, e) : Value();
          State next =
              insert(b, {args[0], args[1]}, keyOf(b, e), e, payload);
          return SmallVector<Value>{next.filled, next.threshold};
        });
    return {result[0], result[1]};
  }

  int64_t k;
  Value keys, ids, payloads;
};

/// A token's keys (score + bias) and unbiased scores, [E] stack buffers
/// (no keys when only scores are wanted).
struct TokenRow {
  Value keys;
  Value scores;
};

/// Computes the row buffers of token `t`: the scores of `source` (logits
/// under `function`, or scores already when `function` is empty) and the
/// keys. Chunks of kVectorWidth experts use vector ops (and the polynomial
/// exp) when the source's rows are contiguous; the tail is scalar.
void emitTokenRow(ImplicitLocOpBuilder &b, Value source,
                  std::optional<ScoreFunction> function, Value bias, Value t,
                  int64_t numExperts, const TokenRow &row) {
  auto sourceType = cast<MemRefType>(source.getType());
  bool contiguous =
      sourceType.isLastDimUnitStride() &&
      (!bias || cast<MemRefType>(bias.getType()).isLastDimUnitStride());
  int64_t vectorEnd =
      contiguous ? numExperts / kVectorWidth * kVectorWidth : 0;
  Type sourceElement = sourceType.getElementType();
  auto f32Vector = VectorType::get({kVectorWidth}, b.getF32Type());
  auto loadX = [&](ImplicitLocOpBuilder &b, Value e, bool vector) -> Value {
    if (!vector)
      return emitToF32(b, load(b, source, {t, e}));
    Value x = vector::LoadOp::create(
        b, VectorType::get({kVectorWidth}, sourceElement), source,
        ValueRange{t, e});
    return sourceElement.isF32()
               ? x
               : Value(arith::ExtFOp::create(b, f32Vector, x));
  };
  auto loadBias = [&](ImplicitLocOpBuilder &b, Value e, bool vector) -> Value {
    return vector ? Value(vector::LoadOp::create(b, f32Vector, bias, e))
                  : load(b, bias, e);
  };
  auto storeRow = [&](ImplicitLocOpBuilder &b, Value value, Value buffer,
                      Value e, bool vector) {
    if (vector)
      vector::StoreOp::create(b, value, buffer, e);
    else
      store(b, value, buffer, e);
  };
  // Runs body over the vector chunks, then the scalar tail.
  auto forEachChunk = [&](function_ref<void(ImplicitLocOpBuilder &, Value,
                                            bool)>
                              body) {
    if (vectorEnd > 0)
      emitFor(b, constIndex(b, 0), constIndex(b, vectorEnd),
              [&](ImplicitLocOpBuilder &b, Value e) { body(b, e, true); },
              constIndex(b, kVectorWidth));
    if (vectorEnd < numExperts)
      emitFor(b, vectorEnd, numExperts,
              [&](ImplicitLocOpBuilder &b, Value e) { body(b, e, false); });
  };

  RowStats stats;
  if (function == ScoreFunction::softmax) {
    // The row's logits (as f32) go to the score buffer first; the max and the
    // sum of exp(x - max) are read from it.
    Value negInf = emitF32(b, -std::numeric_limits<double>::infinity());
    forEachChunk([&](ImplicitLocOpBuilder &b, Value e, bool vector) {
      storeRow(b, loadX(b, e, vector), row.scores, e, vector);
    });
    Value max = emitForIter(b, 0, numExperts, ValueRange{negInf},
                            [&](ImplicitLocOpBuilder &b, Value e,
                                ValueRange acc) {
                              return SmallVector<Value>{
                                  arith::MaximumFOp::create(
                                      b, acc[0], load(b, row.scores, e))};
                            })[0];
    Value sum = emitForIter(
        b, 0, numExperts, ValueRange{emitF32(b, 0.0)},
        [&](ImplicitLocOpBuilder &b, Value e, ValueRange acc) {
          Value shifted =
              arith::SubFOp::create(b, load(b, row.scores, e), max);
          return SmallVector<Value>{arith::AddFOp::create(
              b, acc[0], emitExp(b, shifted, ExpKind::Polynomial))};
        })[0];
    stats = {max, sum};
  }
  forEachChunk([&](ImplicitLocOpBuilder &b, Value e, bool vector) {
    Value x = function == ScoreFunction::softmax
                  ? load(b, row.scores, e)
                  : loadX(b, e, vector);
    if (function == ScoreFunction::softmax && vector)
      x = vector::LoadOp::create(b, f32Vector, row.scores, e);
    Value score = x;
    if (function) {
      RowStats chunkStats = stats;
      if (vector && stats.max) {
        chunkStats.max = vector::BroadcastOp::create(b, f32Vector, stats.max);
        chunkStats.sum = vector::BroadcastOp::create(b, f32Vector, stats.sum);
      }
      score = emitScore(b, *function, x, chunkStats, ExpKind::Polynomial);
    }
    storeRow(b, score, row.scores, e, vector);
    if (!row.keys)
      return;
    Value key =
        bias ? Value(arith::AddFOp::create(b, score, loadBias(b, e, vector)))
             : score;
    storeRow(b, key, row.keys, e, vector);
  });
}

Value splatI32(ImplicitLocOpBuilder &b, int64_t value) {
  auto type = VectorType::get({kVectorWidth}, b.getI32Type());
  return arith::ConstantOp::create(
      b, DenseElementsAttr::get(type, b.getI32IntegerAttr(value)));
}

/// The expert index of each lane of the chunk at `first`.
Value emitLaneIndices(ImplicitLocOpBuilder &b, Value first) {
  SmallVector<int32_t> iota(kVectorWidth);
  for (int64_t i = 0; i < kVectorWidth; ++i)
    iota[i] = static_cast<int32_t>(i);
  auto type = VectorType::get({kVectorWidth}, b.getI32Type());
  Value base = vector::BroadcastOp::create(
      b, type, arith::IndexCastOp::create(b, b.getI32Type(), first));
  return arith::AddIOp::create(
      b, base,
      arith::ConstantOp::create(b, DenseIntElementsAttr::get(type, iota)));
}

/// The lowest expert with the best rank image among experts [first, end) of
/// `images` (padded to a multiple of kVectorWidth; lanes past E hold
/// kRemovedRank). One pass keeps, per lane, the best image and the first
/// expert that has it (a later chunk replaces it only with a strictly better
/// image); the lanes are then reduced to the best image and, among the lanes
/// that hold it, the lowest expert.
Value emitArgMax(ImplicitLocOpBuilder &b, Value images, Value first,
                 Value end) {
  auto intType = VectorType::get({kVectorWidth}, b.getI32Type());
  Value width = constIndex(b, kVectorWidth);
  Value alignedFirst = arith::MulIOp::create(
      b, arith::DivUIOp::create(b, first, width), width);
  Value firstLanes = vector::BroadcastOp::create(
      b, intType, arith::IndexCastOp::create(b, b.getI32Type(), first));
  Value endLanes = vector::BroadcastOp::create(
      b, intType, arith::IndexCastOp::create(b, b.getI32Type(), end));
  Value removed = splatI32(b, kRemovedRank);
  auto loop = scf::ForOp::create(
      b, alignedFirst, end, width, ValueRange{removed, splatI32(b, 0)},
      [&](OpBuilder &nested, Location loc, Value chunk, ValueRange acc) {
        ImplicitLocOpBuilder b(loc, nested);
        Value lanes = emitLaneIndices(b, chunk);
        Value inRange = arith::AndIOp::create(
            b,
            arith::CmpIOp::create(b, arith::CmpIPredicate::sge, lanes,
                                  firstLanes),
            arith::CmpIOp::create(b, arith::CmpIPredicate::slt, lanes,
                                  endLanes));
        Value image = arith::SelectOp::create(
            b, inRange, vector::LoadOp::create(b, intType, images, chunk),
            removed);
        Value better = arith::CmpIOp::create(b, arith::CmpIPredicate::sgt,
                                             image, acc[0]);
        scf::YieldOp::create(
            b, ValueRange{arith::SelectOp::create(b, better, image, acc[0]),
                          arith::SelectOp::create(b, better, lanes, acc[1])});
      });
  Value bestImages = loop.getResult(0), bestLanes = loop.getResult(1);
  Value best = vector::ReductionOp::create(b, vector::CombiningKind::MAXSI,
                                           bestImages);
  Value noLane = splatI32(b, std::numeric_limits<int32_t>::max());
  Value holders = arith::SelectOp::create(
      b,
      arith::CmpIOp::create(b, arith::CmpIPredicate::eq, bestImages,
                            vector::BroadcastOp::create(b, intType, best)),
      bestLanes, noLane);
  Value index =
      vector::ReductionOp::create(b, vector::CombiningKind::MINSI, holders);
  return arith::IndexCastOp::create(b, b.getIndexType(), index);
}

/// Sets element `index` of the i32 buffer `buffer` to `value` with a vector
/// read-modify-write of its chunk: a scalar store followed by a vector load
/// of the same bytes (the next round's) would stall on store forwarding.
void emitSetLane(ImplicitLocOpBuilder &b, Value buffer, Value index,
                 Value value) {
  auto intType = VectorType::get({kVectorWidth}, b.getI32Type());
  Value width = constIndex(b, kVectorWidth);
  Value chunk =
      arith::MulIOp::create(b, arith::DivUIOp::create(b, index, width), width);
  Value isIndex = arith::CmpIOp::create(
      b, arith::CmpIPredicate::eq, emitLaneIndices(b, chunk),
      vector::BroadcastOp::create(
          b, intType, arith::IndexCastOp::create(b, b.getI32Type(), index)));
  Value updated = arith::SelectOp::create(
      b, isIndex, vector::BroadcastOp::create(b, intType, value),
      vector::LoadOp::create(b, intType, buffer, chunk));
  vector::StoreOp::create(b, updated, buffer, chunk);
}

/// The best rank image of the chunk of kVectorWidth experts at `first`.
Value emitChunkMax(ImplicitLocOpBuilder &b, Value images, Value first) {
  auto intType = VectorType::get({kVectorWidth}, b.getI32Type());
  return vector::ReductionOp::create(
      b, vector::CombiningKind::MAXSI,
      vector::LoadOp::create(b, intType, images, first));
}

/// A loop over [0, end) by kVectorWidth carrying `init`.
SmallVector<Value> emitChunkIter(ImplicitLocOpBuilder &b, int64_t end,
                                 ValueRange init, IterBodyFn body) {
  auto loop = scf::ForOp::create(
      b, constIndex(b, 0), constIndex(b, end), constIndex(b, kVectorWidth),
      init, [&](OpBuilder &nested, Location loc, Value i, ValueRange acc) {
        ImplicitLocOpBuilder ib(loc, nested);
        scf::YieldOp::create(ib, body(ib, i, acc));
      });
  return SmallVector<Value>(loop.getResults());
}

/// The lanes of a vector<kVectorWidth x i1> as the low bits of an i32.
Value emitMaskBits(ImplicitLocOpBuilder &b, Value mask) {
  auto bitsType = VectorType::get({1}, b.getIntegerType(kVectorWidth));
  Value bits = vector::BitCastOp::create(b, bitsType, mask);
  Value scalar = vector::ExtractOp::create(b, bits, ArrayRef<int64_t>{0});
  return arith::ExtUIOp::create(b, b.getI32Type(), scalar);
}

/// The number of lanes set in `mask`, as an index.
Value emitLaneCount(ImplicitLocOpBuilder &b, Value mask) {
  return arith::IndexCastUIOp::create(
      b, b.getIndexType(), math::CtPopOp::create(b, emitMaskBits(b, mask)));
}

/// The first lane set in a vector<n x i1> mask, n <= 64 (n when none), as an
/// index.
Value emitFirstLaneOf(ImplicitLocOpBuilder &b, Value mask) {
  int64_t n = cast<VectorType>(mask.getType()).getNumElements();
  auto bitsType = VectorType::get({1}, b.getIntegerType(n));
  Value bits = vector::ExtractOp::create(
      b, vector::BitCastOp::create(b, bitsType, mask), ArrayRef<int64_t>{0});
  Value wide = n < 64 ? Value(arith::ExtUIOp::create(b, b.getI64Type(), bits))
                      : bits;
  if (n < 64)
    wide = arith::OrIOp::create(
        b, wide, arith::ConstantIntOp::create(b, b.getI64Type(), 1LL << n));
  return arith::IndexCastUIOp::create(
      b, b.getIndexType(), math::CountTrailingZerosOp::create(b, wide));
}

/// Per lane l of the i32 vector `v`: how many lanes rank above it, where
/// lane m ranks above lane l if v[m] > v[l] or, when `lowerLaneFirst`,
/// v[m] == v[l] and m < l. With `lowerLaneFirst` the counts are a
/// permutation of [0, kVectorWidth): the rank of each lane. Lane rotations
/// and compares only: no horizontal reduction, no memory.
Value emitLaneRanks(ImplicitLocOpBuilder &b, Value v, bool lowerLaneFirst) {
  auto intType = cast<VectorType>(v.getType());
  int64_t width = intType.getNumElements();
  auto maskType = VectorType::get({width}, b.getI1Type());
  SmallVector<Value> terms;
  for (int64_t r = 1; r < width; ++r) {
    // Lane l of `rotated` holds lane (l + r) mod width, which comes before
    // lane l exactly for l >= width - r.
    SmallVector<int64_t> rotation;
    SmallVector<bool> before;
    for (int64_t l = 0; l < width; ++l) {
      rotation.push_back((l + r) % width);
      before.push_back(l >= width - r);
    }
    Value rotated = vector::ShuffleOp::create(b, v, v, rotation);
    Value above =
        arith::CmpIOp::create(b, arith::CmpIPredicate::sgt, rotated, v);
    if (lowerLaneFirst) {
      Value beforeMask = arith::ConstantOp::create(
          b, DenseElementsAttr::get(maskType, ArrayRef<bool>(before)));
      Value equal =
          arith::CmpIOp::create(b, arith::CmpIPredicate::eq, rotated, v);
      above = arith::OrIOp::create(
          b, above, arith::AndIOp::create(b, equal, beforeMask));
    }
    terms.push_back(above);
  }
  // Four accumulators of conditional increments (one masked add each on
  // AVX-512), then their sum: short dependency chains.
  constexpr size_t kAccumulators = 4;
  Value one = arith::ConstantOp::create(
      b, DenseElementsAttr::get(intType, b.getI32IntegerAttr(1)));
  SmallVector<Value> accs;
  for (size_t i = 0; i < terms.size(); ++i) {
    if (i < kAccumulators) {
      accs.push_back(arith::ExtUIOp::create(b, intType, terms[i]));
      continue;
    }
    Value &acc = accs[i % kAccumulators];
    acc = arith::SelectOp::create(b, terms[i],
                                  arith::AddIOp::create(b, acc, one), acc);
  }
  terms = std::move(accs);
  while (terms.size() > 1) {
    SmallVector<Value> next;
    for (size_t i = 0; i + 1 < terms.size(); i += 2)
      next.push_back(arith::AddIOp::create(b, terms[i], terms[i + 1]));
    if (terms.size() % 2)
      next.push_back(terms.back());
    terms = std::move(next);
  }
  return terms.front();
}

/// Runs the (group-limited) selection of one token over its row buffers,
/// on the rank images of the keys, after the experts of excluded groups are
/// removed. K <= kVectorWidth (every contract example): a threshold from the
/// lane maxima, the few candidates at or above it packed with
/// compress-stores, and their ranks by lane rotations (see emitCandidates).
/// Larger K: K rounds of a vectorised arg-max, each taking the best
/// remaining expert (the lowest index among equals). The winners end in
/// `winnerIds` and `winnerScores`, best first.
class Selector {
public:
  Selector(ImplicitLocOpBuilder &b, const SelectionConfig &config)
      : config(config),
        padded(llvm::divideCeil(config.numExperts, kVectorWidth) *
               kVectorWidth) {
    auto f32Row = MemRefType::get({padded}, b.getF32Type());
    auto rankRow = MemRefType::get({padded}, b.getI32Type());
    row = {createScratch(b, f32Row), createScratch(b, f32Row)};
    images = createScratch(b, rankRow);
    winnerIds = createScratch(b, MemRefType::get({config.k}, b.getIndexType()));
    winnerScores =
        createScratch(b, MemRefType::get({config.k}, b.getF32Type()));
    chunkPadded =
        llvm::divideCeil(padded / kVectorWidth, kVectorWidth) * kVectorWidth;
    if (config.k <= kVectorWidth) {
      candidateImages = createScratch(b, rankRow);
      candidateIds = createScratch(b, rankRow);
    } else {
      chunkMaxima =
          createScratch(b, MemRefType::get({chunkPadded}, b.getI32Type()));
    }
    if (!config.isGroupLimited())
      return;
    if (hasVectorGroups()) {
      groupScores = createScratch(
          b, MemRefType::get({kVectorWidth}, b.getF32Type()));
      return;
    }
    groupImages = createScratch(b, rankRow);
    groupScores = createScratch(
        b, MemRefType::get({config.numGroups}, b.getF32Type()));
    keptGroups.emplace(b, config.topkGroups, /*withPayload=*/false);
    groupKept = createScratch(
        b, MemRefType::get({config.numGroups}, b.getI1Type()));
  }

  /// The whole selection of one token whose row buffers are filled.
  void select(ImplicitLocOpBuilder &b) const {
    if (usesThreshold()) {
      finish(b, prepare(b));
      return;
    }
    Value removed = arith::ConstantIntOp::create(b, b.getI32Type(),
                                                 kRemovedRank);
    emitImages(b);
    exclude(b, removed);
    selectByRounds(b, removed);
  }

  /// Removes the experts of the groups that are not kept (none when the
  /// selection is not group-limited).
  void exclude(ImplicitLocOpBuilder &b, Value removed) const {
    if (hasVectorGroups())
      excludeGroupsVector(b);
    else
      excludeGroups(b, removed);
  }

  /// K <= kVectorWidth: the threshold path, in two phases that the token
  /// loop can interleave for several tokens.
  bool usesThreshold() const { return candidateImages != nullptr; }

  /// Images, group exclusion, threshold and candidates; returns how many
  /// candidates there are.
  Value prepare(ImplicitLocOpBuilder &b) const {
    emitImages(b);
    exclude(b, arith::ConstantIntOp::create(b, b.getI32Type(), kRemovedRank));
    return emitCandidates(b);
  }

  /// The K winners among `count` candidates.
  void finish(ImplicitLocOpBuilder &b, Value count) const {
    rankCandidates(b, count);
  }

  void emitImages(ImplicitLocOpBuilder &b) const {
    // Rank images of the row; padding lanes are removed.
    emitFor(
        b, constIndex(b, 0), constIndex(b, padded),
        [&](ImplicitLocOpBuilder &b, Value chunk) {
          auto f32Vector = VectorType::get({kVectorWidth}, b.getF32Type());
          Value keys = vector::LoadOp::create(b, f32Vector, row.keys, chunk);
          Value padding = arith::CmpIOp::create(
              b, arith::CmpIPredicate::sge, emitLaneIndices(b, chunk),
              splatI32(b, config.numExperts));
          auto storeImage = [&](Value buffer, bool nanAsNegInf) {
            Value image = arith::SelectOp::create(
                b, padding, splatI32(b, kRemovedRank),
                emitRankImage(b, keys, nanAsNegInf));
            vector::StoreOp::create(b, image, buffer, chunk);
          };
          storeImage(images, /*nanAsNegInf=*/false);
          if (groupImages)
            storeImage(groupImages, /*nanAsNegInf=*/true);
        },
        constIndex(b, kVectorWidth));
  }

  void selectByRounds(ImplicitLocOpBuilder &b, Value removed) const {
    if (padded <= 64) {
      // A row of at most 64 experts stays in one vector value across the
      // rounds: each round is a tree reduction to the best image, then to
      // the lowest expert holding it, with no memory traffic.
      auto rowType = VectorType::get({padded}, b.getI32Type());
      SmallVector<int32_t> iota(padded);
      for (int64_t i = 0; i < padded; ++i)
        iota[i] = static_cast<int32_t>(i);
      Value experts = arith::ConstantOp::create(
          b, DenseIntElementsAttr::get(rowType, iota));
      Value removedRow = arith::ConstantOp::create(
          b, DenseElementsAttr::get(rowType, b.getI32IntegerAttr(kRemovedRank)));
      Value noExpert = arith::ConstantOp::create(
          b, DenseElementsAttr::get(
                 rowType, b.getI32IntegerAttr(
                              std::numeric_limits<int32_t>::max())));
      Value initial =
          vector::LoadOp::create(b, rowType, images, constIndex(b, 0));
      emitForIter(
          b, 0, config.k, ValueRange{initial},
          [&](ImplicitLocOpBuilder &b, Value j, ValueRange args) {
            Value imagesNow = args[0];
            Value best = vector::ReductionOp::create(
                b, vector::CombiningKind::MAXSI, imagesNow);
            Value holds = arith::CmpIOp::create(
                b, arith::CmpIPredicate::eq, imagesNow,
                vector::BroadcastOp::create(b, rowType, best));
            Value lowest = vector::ReductionOp::create(
                b, vector::CombiningKind::MINSI,
                arith::SelectOp::create(b, holds, experts, noExpert));
            Value e = arith::IndexCastOp::create(b, b.getIndexType(), lowest);
            store(b, e, winnerIds, j);
            store(b, load(b, row.scores, e), winnerScores, j);
            Value taken = arith::CmpIOp::create(
                b, arith::CmpIPredicate::eq, experts,
                vector::BroadcastOp::create(b, rowType, lowest));
            return SmallVector<Value>{
                arith::SelectOp::create(b, taken, removedRow, imagesNow)};
          });
      return;
    }
    // Wider rows: K rounds of a two-level tournament. The best chunk (by the
    // best image of each chunk of kVectorWidth experts; the lowest chunk
    // among equals), then the best expert of that chunk (the lowest among
    // equals), which leaves the row; only its chunk's best image changes.
    Value width = constIndex(b, kVectorWidth);
    Value numChunks = constIndex(b, padded / kVectorWidth);
    emitFor(b, 0, chunkPadded, [&](ImplicitLocOpBuilder &b, Value c) {
      Value real =
          arith::CmpIOp::create(b, arith::CmpIPredicate::ult, c, numChunks);
      auto max = scf::IfOp::create(
          b, real,
          [&](OpBuilder &nested, Location loc) {
            ImplicitLocOpBuilder ib(loc, nested);
            scf::YieldOp::create(
                ib, emitChunkMax(ib, images,
                                 arith::MulIOp::create(ib, c, width)));
          },
          [&](OpBuilder &nested, Location loc) {
            scf::YieldOp::create(nested, loc, removed);
          });
      store(b, max.getResult(0), chunkMaxima, c);
    });
    emitFor(b, 0, config.k, [&](ImplicitLocOpBuilder &b, Value j) {
      Value c = emitArgMax(b, chunkMaxima, constIndex(b, 0), numChunks);
      Value first = arith::MulIOp::create(b, c, width);
      Value e = emitArgMax(b, images, first,
                           arith::AddIOp::create(b, first, width));
      store(b, e, winnerIds, j);
      store(b, load(b, row.scores, e), winnerScores, j);
      emitSetLane(b, images, e, removed);
      emitSetLane(b, chunkMaxima, c, emitChunkMax(b, images, first));
    });
  }

  /// K <= kVectorWidth: a threshold, the candidates at or above it, and the
  /// ranks of the candidates.
  /// 1. colMax[l] = the best image of lane l over the chunks: kVectorWidth
  ///    images of distinct experts, so the K-th best of them, tau, is at most
  ///    the K-th best image of the row, and every winner has an image >= tau.
  /// 2. The experts with an image >= max(tau, best removed + 1) are packed,
  ///    in expert order, into the candidate buffers (compress-stores); there
  ///    are at least K (the contract guarantees K experts that are not
  ///    removed) and, for continuous data, a few more than K (6.9 on
  ///    average for E = 64, K = 6; 10.5 for E = 384, K = 8).
  /// 3. At most kVectorWidth candidates: the rank of each (lane rotations,
  ///    ties by lower lane = lower expert); winner j is the candidate of
  ///    rank j. More (ties, or adversarial rows): K rounds of the arg-max
  ///    over the candidates.
  Value emitCandidates(ImplicitLocOpBuilder &b) const {
    auto intType = VectorType::get({kVectorWidth}, b.getI32Type());
    Value zero = constIndex(b, 0);
    Value colMax = emitChunkIter(
        b, padded, ValueRange{splatI32(b, kRemovedRank)},
        [&](ImplicitLocOpBuilder &b, Value chunk, ValueRange acc) {
          Value v = vector::LoadOp::create(b, intType, images, chunk);
          return SmallVector<Value>{arith::MaxSIOp::create(b, acc[0], v)};
        })[0];
    Value colRanks = emitLaneRanks(b, colMax, /*lowerLaneFirst=*/false);
    Value inTopK = arith::CmpIOp::create(b, arith::CmpIPredicate::slt, colRanks,
                                         splatI32(b, config.k));
    Value noLimit = splatI32(b, std::numeric_limits<int32_t>::max());
    Value tau = vector::ReductionOp::create(
        b, vector::CombiningKind::MINSI,
        arith::SelectOp::create(b, inTopK, colMax, noLimit));
    tau = arith::MaxSIOp::create(
        b, tau, arith::ConstantIntOp::create(b, b.getI32Type(), kNaNRank));
    Value tauLanes = vector::BroadcastOp::create(b, intType, tau);
    Value count = emitChunkIter(
        b, padded, ValueRange{zero},
        [&](ImplicitLocOpBuilder &b, Value chunk, ValueRange acc) {
          Value v = vector::LoadOp::create(b, intType, images, chunk);
          Value keep =
              arith::CmpIOp::create(b, arith::CmpIPredicate::sge, v, tauLanes);
          // The ODS builder (IntegerAttr alignment): the MaybeAlign one of
          // MLIR 22 swaps the mask and the value.
          vector::CompressStoreOp::create(b, candidateImages, acc[0], keep, v,
                                          IntegerAttr());
          vector::CompressStoreOp::create(b, candidateIds, acc[0], keep,
                                          emitLaneIndices(b, chunk),
                                          IntegerAttr());
          return SmallVector<Value>{
              arith::AddIOp::create(b, acc[0], emitLaneCount(b, keep))};
        })[0];
    return count;
  }

  void rankCandidates(ImplicitLocOpBuilder &b, Value count) const {
    Value removed = arith::ConstantIntOp::create(b, b.getI32Type(),
                                                 kRemovedRank);
    Value zero = constIndex(b, 0);
    auto winner = [&](ImplicitLocOpBuilder &b, Value j, Value lane) {
      Value e = arith::IndexCastOp::create(b, b.getIndexType(),
                                           load(b, candidateIds, lane));
      store(b, e, winnerIds, j);
      store(b, load(b, row.scores, e), winnerScores, j);
    };
    auto argMaxPath = [&](ImplicitLocOpBuilder &b) {
      emitFor(b, 0, config.k, [&](ImplicitLocOpBuilder &b, Value j) {
        Value lane = emitArgMax(b, candidateImages, zero, count);
        winner(b, j, lane);
        emitSetLane(b, candidateImages, lane, removed);
      });
    };
    // Ranks of the first `lanes` candidates (lanes past the count removed):
    // winner j is the candidate of rank j.
    auto rankPath = [&](ImplicitLocOpBuilder &b, int64_t lanes) {
      auto type = VectorType::get({lanes}, b.getI32Type());
      SmallVector<int32_t> iota(lanes);
      for (int64_t i = 0; i < lanes; ++i)
        iota[i] = static_cast<int32_t>(i);
      Value present = arith::CmpIOp::create(
          b, arith::CmpIPredicate::slt,
          arith::ConstantOp::create(b, DenseIntElementsAttr::get(type, iota)),
          vector::BroadcastOp::create(
              b, type, arith::IndexCastOp::create(b, b.getI32Type(), count)));
      Value removedLanes = arith::ConstantOp::create(
          b, DenseElementsAttr::get(type, b.getI32IntegerAttr(kRemovedRank)));
      Value v = arith::SelectOp::create(
          b, present, vector::LoadOp::create(b, type, candidateImages, zero),
          removedLanes);
      Value ranks = emitLaneRanks(b, v, /*lowerLaneFirst=*/true);
      emitFor(b, 0, config.k, [&](ImplicitLocOpBuilder &b, Value j) {
        Value jLanes = vector::BroadcastOp::create(
            b, type, arith::IndexCastOp::create(b, b.getI32Type(), j));
        winner(b, j,
               emitFirstLaneOf(b, arith::CmpIOp::create(
                                      b, arith::CmpIPredicate::eq, ranks,
                                      jLanes)));
      });
    };
    // Candidates in at most `lanes` lanes take the rank path, else `more`.
    auto ifAtMost = [&](ImplicitLocOpBuilder &b, int64_t lanes,
                        function_ref<void(ImplicitLocOpBuilder &)> more) {
      Value fits = arith::CmpIOp::create(b, arith::CmpIPredicate::ule, count,
                                         constIndex(b, lanes));
      scf::IfOp::create(
          b, fits,
          [&](OpBuilder &nested, Location loc) {
            ImplicitLocOpBuilder b(loc, nested);
            rankPath(b, lanes);
            scf::YieldOp::create(b);
          },
          [&](OpBuilder &nested, Location loc) {
            ImplicitLocOpBuilder b(loc, nested);
            more(b);
            scf::YieldOp::create(b);
          });
    };
    constexpr int64_t kNarrow = kVectorWidth / 2;
    auto wide = [&](ImplicitLocOpBuilder &b) {
      ifAtMost(b, kVectorWidth, argMaxPath);
    };
    // A few more than K candidates are expected: the narrow ranks pay when
    // K is well below their width (93% of the rows for E = 64, K = 6).
    if (4 * config.k <= 3 * kNarrow)
      ifAtMost(b, kNarrow, wide);
    else
      wide(b);
  }

  /// Group-limited selection with at most kVectorWidth groups of at most 64
  /// experts: group scores, kept groups and the exclusion in registers.
  bool hasVectorGroups() const {
    return config.isGroupLimited() && config.groupSize() <= 64 &&
           config.numGroups <= kVectorWidth;
  }

  /// 1. Per group, its keys as one vector (NaN as -inf): group_top rounds
  ///    of a max reduction, each removing the first lane holding the max.
  /// 2. The ranks of the group scores (ties by lower group) give the kept
  ///    groups as a bit mask.
  /// 3. Per chunk, the lanes whose group bit is clear become removed.
  void excludeGroupsVector(ImplicitLocOpBuilder &b) const {
    int64_t groupSize = config.groupSize();
    auto groupType = VectorType::get({groupSize}, b.getF32Type());
    auto groupIntType = VectorType::get({groupSize}, b.getI32Type());
    auto intType = VectorType::get({kVectorWidth}, b.getI32Type());
    auto f32Vector = VectorType::get({kVectorWidth}, b.getF32Type());
    SmallVector<int32_t> iota(groupSize);
    for (int64_t i = 0; i < groupSize; ++i)
      iota[i] = static_cast<int32_t>(i);
    emitFor(b, 0, config.numGroups, [&](ImplicitLocOpBuilder &b, Value g) {
      Value first = arith::MulIOp::create(b, g, constIndex(b, groupSize));
      Value v = vector::LoadOp::create(b, groupType, row.keys, first);
      Value negInf =
          emitF32Like(b, v, -std::numeric_limits<double>::infinity());
      v = arith::SelectOp::create(
          b, arith::CmpFOp::create(b, arith::CmpFPredicate::UNO, v, v), negInf,
          v);
      Value lanes = arith::ConstantOp::create(
          b, DenseIntElementsAttr::get(groupIntType, iota));
      Value sum = emitF32(b, 0.0);
      for (int64_t r = 0; r < config.groupTop; ++r) {
        Value m = vector::ReductionOp::create(
            b, vector::CombiningKind::MAXNUMF, v, arith::FastMathFlags::nnan);
        sum = arith::AddFOp::create(b, sum, m);
        if (r + 1 == config.groupTop)
          break;
        Value atMax = arith::CmpFOp::create(
            b, arith::CmpFPredicate::OEQ, v,
            vector::BroadcastOp::create(b, groupType, m));
        Value lane = emitFirstLaneOf(b, atMax);
        Value isLane = arith::CmpIOp::create(
            b, arith::CmpIPredicate::eq, lanes,
            vector::BroadcastOp::create(
                b, groupIntType,
                arith::IndexCastOp::create(b, b.getI32Type(), lane)));
        v = arith::SelectOp::create(b, isLane, negInf, v);
      }
      store(b, sum, groupScores, g);
    });
    Value zero = constIndex(b, 0);
    Value laneIds = emitLaneIndices(b, zero);
    Value realGroup = arith::CmpIOp::create(b, arith::CmpIPredicate::slt,
                                            laneIds,
                                            splatI32(b, config.numGroups));
    Value scores = vector::LoadOp::create(b, f32Vector, groupScores, zero);
    Value groupImage = arith::SelectOp::create(
        b, realGroup, emitRankImage(b, scores, /*nanAsNegInf=*/false),
        splatI32(b, kRemovedRank));
    Value kept = arith::CmpIOp::create(
        b, arith::CmpIPredicate::slt,
        emitLaneRanks(b, groupImage, /*lowerLaneFirst=*/true),
        splatI32(b, config.topkGroups));
    Value keptBits =
        vector::BroadcastOp::create(b, intType, emitMaskBits(b, kept));
    emitFor(
        b, zero, constIndex(b, padded),
        [&](ImplicitLocOpBuilder &b, Value chunk) {
          // Padding lanes may lie past the last group: the clamp keeps the
          // shift defined (bit 31 is clear: at most kVectorWidth groups).
          Value group = arith::MinUIOp::create(
              b,
              arith::DivUIOp::create(b, emitLaneIndices(b, chunk),
                                     splatI32(b, groupSize)),
              splatI32(b, 31));
          Value bit = arith::AndIOp::create(
              b, arith::ShRUIOp::create(b, keptBits, group), splatI32(b, 1));
          Value excluded = arith::CmpIOp::create(b, arith::CmpIPredicate::eq,
                                                 bit, splatI32(b, 0));
          Value image = vector::LoadOp::create(b, intType, images, chunk);
          vector::StoreOp::create(
              b,
              arith::SelectOp::create(b, excluded, splatI32(b, kRemovedRank),
                                      image),
              images, chunk);
        },
        constIndex(b, kVectorWidth));
  }

  /// Scores the groups (the sum of each group's group_top best keys, NaN as
  /// -inf), keeps the topk_groups best and removes the experts of the
  /// others from the rank images.
  void excludeGroups(ImplicitLocOpBuilder &b, Value removed) const {
    if (!config.isGroupLimited())
      return;
    int64_t groupSize = config.groupSize();
    auto bounds = [&](ImplicitLocOpBuilder &b, Value g) {
      Value first = arith::MulIOp::create(b, g, constIndex(b, groupSize));
      return std::make_pair(
          first, Value(arith::AddIOp::create(b, first,
                                             constIndex(b, groupSize))));
    };
    emitFor(b, 0, config.numGroups, [&](ImplicitLocOpBuilder &b, Value g) {
      auto [first, end] = bounds(b, g);
      Value sum = emitForIter(
          b, 0, config.groupTop, ValueRange{emitF32(b, 0.0)},
          [&](ImplicitLocOpBuilder &b, Value, ValueRange acc) {
            Value e = emitArgMax(b, groupImages, first, end);
            emitSetLane(b, groupImages, e, removed);
            Value key = emitNaNToNegInf(b, load(b, row.keys, e));
            return SmallVector<Value>{arith::AddFOp::create(b, acc[0], key)};
          })[0];
      store(b, sum, groupScores, g);
    });
    keptGroups->scan(b, keptGroups->initialState(b), constIndex(b, 0),
                     constIndex(b, config.numGroups),
                     [&](ImplicitLocOpBuilder &b, Value g) {
                       return load(b, groupScores, g);
                     },
                     Value());
    Value no = arith::ConstantIntOp::create(b, b.getI1Type(), 0);
    Value yes = arith::ConstantIntOp::create(b, b.getI1Type(), 1);
    emitFor(b, 0, config.numGroups,
            [&](ImplicitLocOpBuilder &b, Value g) { store(b, no, groupKept, g); });
    emitFor(b, 0, config.topkGroups, [&](ImplicitLocOpBuilder &b, Value j) {
      store(b, yes, groupKept, load(b, keptGroups->ids, j));
    });
    emitFor(b, 0, config.numGroups, [&](ImplicitLocOpBuilder &b, Value g) {
      Value excluded = arith::XOrIOp::create(b, load(b, groupKept, g), yes);
      emitIf(b, excluded, [&](ImplicitLocOpBuilder &b) {
        auto [first, end] = bounds(b, g);
        emitFor(b, first, end, [&](ImplicitLocOpBuilder &b, Value e) {
          store(b, removed, images, e);
        });
      });
    });
  }

  SelectionConfig config;
  int64_t padded;
  /// Chunks of the row, padded to a multiple of kVectorWidth.
  int64_t chunkPadded;
  TokenRow row;
  Value images, groupImages, chunkMaxima, winnerIds, winnerScores;
  Value candidateImages, candidateIds;
  std::optional<BestK> keptGroups;
  Value groupScores, groupKept;
};

/// Stores the K winners of a token: weights (optionally normalised and
/// scaled) and indices; counts them when `counts` is given.
void emitStoreWinners(ImplicitLocOpBuilder &b, const Selector &selector,
                      Value t, Value weights, Value indices, Value counts,
                      bool normalize, APFloat scale) {
  int64_t k = selector.config.k;
  Value zero = emitF32(b, 0.0);
  Value scaleValue = emitF32(b, scale.convertToFloat());
  Value sum;
  if (normalize) {
    sum = emitForIter(b, 0, k, ValueRange{zero},
                      [&](ImplicitLocOpBuilder &b, Value j, ValueRange args) {
                        return SmallVector<Value>{arith::AddFOp::create(
                            b, args[0], load(b, selector.winnerScores, j))};
                      })[0];
  }
  Type indexType = elementTypeOf(indices);
  if (cast<MemRefType>(weights.getType()).isLastDimUnitStride() &&
      cast<MemRefType>(indices.getType()).isLastDimUnitStride()) {
    // The row of K weights and indices as vectors: one division, two stores.
    auto f32Row = VectorType::get({k}, b.getF32Type());
    Value c0 = constIndex(b, 0);
    Value w = vector::LoadOp::create(b, f32Row, selector.winnerScores, c0);
    Value scaleRow = emitF32Like(b, w, scale.convertToFloat());
    if (normalize) {
      Value sumRow = vector::BroadcastOp::create(b, f32Row, sum);
      Value zeroRow = emitF32Like(b, w, 0.0);
      Value scaled = arith::DivFOp::create(
          b, arith::MulFOp::create(b, scaleRow, w), sumRow);
      Value zeroSum = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ,
                                            sumRow, zeroRow);
      w = arith::SelectOp::create(b, zeroSum, zeroRow, scaled);
    } else if (!scale.isExactlyValue(1.0)) {
      w = arith::MulFOp::create(b, scaleRow, w);
    }
    vector::StoreOp::create(b, w, weights, ValueRange{t, c0});
    Value ids = vector::LoadOp::create(
        b, VectorType::get({k}, b.getIndexType()), selector.winnerIds, c0);
    vector::StoreOp::create(
        b, arith::IndexCastOp::create(b, VectorType::get({k}, indexType), ids),
        indices, ValueRange{t, c0});
    if (counts)
      emitFor(b, 0, k, [&](ImplicitLocOpBuilder &b, Value j) {
        emitIncrement(b, counts, load(b, selector.winnerIds, j));
      });
    return;
  }
  emitFor(b, 0, k, [&](ImplicitLocOpBuilder &b, Value j) {
    Value w = load(b, selector.winnerScores, j);
    if (normalize) {
      w = emitNormalizedWeight(b, w, sum, scaleValue);
    } else if (!scale.isExactlyValue(1.0)) {
      w = arith::MulFOp::create(b, scaleValue, w);
    }
    Value e = load(b, selector.winnerIds, j);
    store(b, w, weights, {t, j});
    store(b, castIndex(b, indexType, e), indices, {t, j});
    if (counts)
      emitIncrement(b, counts, e);
  });
}

/// Tokens per iteration of the token loop on the threshold path.
constexpr int64_t kTokensPerIteration = 2;

/// The token loop of a selection: `fillRow` fills a token's row buffers,
/// `storeWinners` writes its results. On the threshold path the loop takes
/// kTokensPerIteration tokens at a time, each phase emitted for all of them
/// before the next: the per-token dependency chain (scores, threshold,
/// candidates, ranks, winners) is long and mostly serial, and with the
/// chains of two tokens side by side the out-of-order core overlaps them
/// (1.45x for E = 64). A remainder loop takes the last tokens one by one.
void emitSelectionLoop(
    ImplicitLocOpBuilder &b, Value tokens, const SelectionConfig &config,
    function_ref<void(ImplicitLocOpBuilder &, Value, const TokenRow &)> fillRow,
    function_ref<void(ImplicitLocOpBuilder &, Value, const Selector &)>
        storeWinners) {
  SmallVector<std::unique_ptr<Selector>> selectors;
  selectors.push_back(std::make_unique<Selector>(b, config));
  auto single = [&](ImplicitLocOpBuilder &b, Value t) {
    fillRow(b, t, selectors[0]->row);
    selectors[0]->select(b);
    storeWinners(b, t, *selectors[0]);
  };
  if (!selectors[0]->usesThreshold()) {
    emitFor(b, 0, tokens, single);
    return;
  }
  for (int64_t i = 1; i < kTokensPerIteration; ++i)
    selectors.push_back(std::make_unique<Selector>(b, config));
  Value step = constIndex(b, kTokensPerIteration);
  Value blocked = arith::MulIOp::create(
      b, arith::DivUIOp::create(b, tokens, step), step);
  emitFor(
      b, constIndex(b, 0), blocked,
      [&](ImplicitLocOpBuilder &b, Value first) {
        SmallVector<Value> ts, counts;
        for (int64_t i = 0; i < kTokensPerIteration; ++i)
          ts.push_back(arith::AddIOp::create(b, first, constIndex(b, i)));
        for (int64_t i = 0; i < kTokensPerIteration; ++i)
          fillRow(b, ts[i], selectors[i]->row);
        for (int64_t i = 0; i < kTokensPerIteration; ++i)
          counts.push_back(selectors[i]->prepare(b));
        for (int64_t i = 0; i < kTokensPerIteration; ++i)
          selectors[i]->finish(b, counts[i]);
        for (int64_t i = 0; i < kTokensPerIteration; ++i)
          storeWinners(b, ts[i], *selectors[i]);
      },
      step);
  emitFor(b, blocked, tokens, single);
}

//===----------------------------------------------------------------------===//
// Patterns
//===----------------------------------------------------------------------===//

/// Base for the patterns: builds with the op's location, then replaces the
/// op with its result (imbalance) or erases it.
template <typename OpTy>
struct LoweringPattern : public OpConversionPattern<OpTy> {
  using OpConversionPattern<OpTy>::OpConversionPattern;
  using OpAdaptor = typename OpConversionPattern<OpTy>::OpAdaptor;

  LogicalResult
  matchAndRewrite(OpTy op, OpAdaptor,
                  ConversionPatternRewriter &rewriter) const final {
    ImplicitLocOpBuilder b(op.getLoc(), rewriter);
    Value result = lower(op, b);
    if (result)
      rewriter.replaceOp(op, result);
    else
      rewriter.eraseOp(op);
    return success();
  }

  /// Emits the loops; returns the op's result if it has one.
  virtual Value lower(OpTy op, ImplicitLocOpBuilder &b) const = 0;
};

struct ScoreLowering : LoweringPattern<BufferScoreOp> {
  using LoweringPattern::LoweringPattern;
  Value lower(BufferScoreOp op, ImplicitLocOpBuilder &b) const override {
    int64_t numExperts = op.getInput().getType().getDimSize(1);
    TokenRow row{Value(), createScratch(b, MemRefType::get(
                                               {numExperts}, b.getF32Type()))};
    emitFor(b, 0, numTokens(b, op.getInput()),
            [&](ImplicitLocOpBuilder &b, Value t) {
              emitTokenRow(b, op.getInput(), op.getFunction(), Value(), t,
                           numExperts, row);
              emitFor(b, 0, numExperts, [&](ImplicitLocOpBuilder &b, Value e) {
                store(b, load(b, row.scores, e), op.getOutput(), {t, e});
              });
            });
    return {};
  }
};

struct TopKLowering : LoweringPattern<BufferTopKOp> {
  using LoweringPattern::LoweringPattern;
  Value lower(BufferTopKOp op, ImplicitLocOpBuilder &b) const override {
    SelectionConfig config = op.getSelectionConfig();
    emitSelectionLoop(
        b, numTokens(b, op.getScores()), config,
        [&](ImplicitLocOpBuilder &b, Value t, const TokenRow &row) {
          emitTokenRow(b, op.getScores(), std::nullopt, op.getBias(), t,
                       config.numExperts, row);
        },
        [&](ImplicitLocOpBuilder &b, Value t, const Selector &selector) {
          emitStoreWinners(b, selector, t, op.getWeights(), op.getIndices(),
                           Value(), /*normalize=*/false, APFloat(1.0f));
        });
    return {};
  }
};

struct RouteLowering : LoweringPattern<BufferRouteOp> {
  using LoweringPattern::LoweringPattern;
  Value lower(BufferRouteOp op, ImplicitLocOpBuilder &b) const override {
    SelectionConfig config = op.getSelectionConfig();
    emitFill(b, op.getCounts(),
             arith::ConstantIntOp::create(b, elementTypeOf(op.getCounts()), 0));
    emitSelectionLoop(
        b, numTokens(b, op.getLogits()), config,
        [&](ImplicitLocOpBuilder &b, Value t, const TokenRow &row) {
          emitTokenRow(b, op.getLogits(), op.getFunction(), op.getBias(), t,
                       config.numExperts, row);
        },
        [&](ImplicitLocOpBuilder &b, Value t, const Selector &selector) {
          emitStoreWinners(b, selector, t, op.getWeights(), op.getIndices(),
                           op.getCounts(), op.getNormalize(), op.getScale());
        });
    return {};
  }
};

struct NormalizeLowering : LoweringPattern<BufferNormalizeOp> {
  using LoweringPattern::LoweringPattern;
  Value lower(BufferNormalizeOp op, ImplicitLocOpBuilder &b) const override {
    int64_t k = op.getWeights().getType().getDimSize(1);
    Value numCols = ShapedType::isDynamic(k) ? dimOf(b, op.getWeights(), 1)
                                             : constIndex(b, k);
    Value zero = emitF32(b, 0.0);
    Value scale = emitF32(b, op.getScale().convertToFloat());
    emitFor(b, 0, numTokens(b, op.getWeights()),
            [&](ImplicitLocOpBuilder &b, Value t) {
              Value sum = emitForIter(
                  b, constIndex(b, 0), numCols, ValueRange{zero},
                  [&](ImplicitLocOpBuilder &b, Value j, ValueRange args) {
                    return SmallVector<Value>{arith::AddFOp::create(
                        b, args[0], load(b, op.getWeights(), {t, j}))};
                  })[0];
              emitFor(b, 0, numCols, [&](ImplicitLocOpBuilder &b, Value j) {
                Value w = load(b, op.getWeights(), {t, j});
                store(b, emitNormalizedWeight(b, w, sum, scale),
                      op.getOutput(), {t, j});
              });
            });
    return {};
  }
};

struct LoadLowering : LoweringPattern<BufferLoadOp> {
  using LoweringPattern::LoweringPattern;
  Value lower(BufferLoadOp op, ImplicitLocOpBuilder &b) const override {
    Value counts = op.getCounts();
    emitFill(b, counts,
             arith::ConstantIntOp::create(b, elementTypeOf(counts), 0));
    Value numExperts = constIndex(b, op.getNumExperts());
    Value k = dimOf(b, op.getIndices(), 1);
    emitFor(b, 0, numTokens(b, op.getIndices()),
            [&](ImplicitLocOpBuilder &b, Value t) {
              auto countRow = [&](ImplicitLocOpBuilder &b) {
                emitFor(b, 0, k, [&](ImplicitLocOpBuilder &b, Value j) {
                  Value e = load(b, op.getIndices(), {t, j});
                  emitIf(b, emitInRange(b, e, numExperts),
                         [&](ImplicitLocOpBuilder &b) {
                           emitIncrement(
                               b, counts,
                               castIndex(b, b.getIndexType(), e));
                         });
                });
              };
              if (op.getMask())
                emitIf(b, load(b, op.getMask(), t), countRow);
              else
                countRow(b);
            });
    return {};
  }
};

/// Sum of a row of loads: integers exactly in i64, floats in f32; returned
/// as f32 along with the row maximum (as f32).
std::pair<Value, Value> emitLoadSumMax(ImplicitLocOpBuilder &b, Value load,
                                       ValueRange prefix, int64_t numExperts) {
  Type type = elementTypeOf(load);
  bool isFloat = isa<FloatType>(type);
  Type accType = isFloat ? Type(b.getF32Type()) : Type(b.getI64Type());
  Value zero = isFloat ? emitF32(b, 0.0)
                       : arith::ConstantIntOp::create(b, b.getI64Type(), 0);
  Value negInf = emitF32(b, -std::numeric_limits<double>::infinity());
  SmallVector<Value> sumMax = emitForIter(
      b, 0, numExperts, ValueRange{zero, negInf},
      [&](ImplicitLocOpBuilder &b, Value e, ValueRange args) {
        SmallVector<Value> indices(prefix);
        indices.push_back(e);
        Value c = memref::LoadOp::create(b, load, indices);
        Value wide = c;
        if (!isFloat && type != accType)
          wide = arith::ExtSIOp::create(b, accType, c);
        Value sum = isFloat ? Value(arith::AddFOp::create(b, args[0], c))
                            : Value(arith::AddIOp::create(b, args[0], wide));
        Value max = arith::MaximumFOp::create(b, args[1], emitToF32(b, c));
        return SmallVector<Value>{sum, max};
      });
  return {emitToF32(b, sumMax[0]), sumMax[1]};
}

struct UpdateBiasLowering : LoweringPattern<BufferUpdateBiasOp> {
  using LoweringPattern::LoweringPattern;
  Value lower(BufferUpdateBiasOp op, ImplicitLocOpBuilder &b) const override {
    MemRefType biasType = op.getBias().getType();
    int64_t numExperts = biasType.getShape().back();
    bool batched = biasType.getRank() == 2;
    Value rate = emitF32(b, op.getRate().convertToFloat());
    Value numExpertsF = emitF32(b, static_cast<double>(numExperts));

    auto updateRow = [&](ImplicitLocOpBuilder &b, ValueRange prefix) {
      auto at = [&](Value e) {
        SmallVector<Value> indices(prefix);
        indices.push_back(e);
        return indices;
      };
      Value sum = emitLoadSumMax(b, op.getLoad(), prefix, numExperts).first;
      Value mean = arith::DivFOp::create(b, sum, numExpertsF);
      auto deltaOf = [&](ImplicitLocOpBuilder &b, Value e) -> Value {
        return emitBiasDelta(b, op.getRule(), rate, mean,
                             load(b, op.getLoad(), at(e)));
      };
      Value meanDelta;
      if (op.getCenter()) {
        Value deltaSum = emitForIter(
            b, 0, numExperts, ValueRange{emitF32(b, 0.0)},
            [&](ImplicitLocOpBuilder &b, Value e, ValueRange args) {
              return SmallVector<Value>{
                  arith::AddFOp::create(b, args[0], deltaOf(b, e))};
            })[0];
        meanDelta = arith::DivFOp::create(b, deltaSum, numExpertsF);
      }
      emitFor(b, 0, numExperts, [&](ImplicitLocOpBuilder &b, Value e) {
        Value delta = deltaOf(b, e);
        if (meanDelta)
          delta = arith::SubFOp::create(b, delta, meanDelta);
        Value bias = load(b, op.getBias(), at(e));
        store(b, arith::AddFOp::create(b, bias, delta), op.getOutput(), at(e));
      });
    };
    if (batched)
      emitFor(b, 0, dimOf(b, op.getBias(), 0),
              [&](ImplicitLocOpBuilder &b, Value l) { updateRow(b, l); });
    else
      updateRow(b, {});
    return {};
  }
};

struct ImbalanceLowering : LoweringPattern<BufferImbalanceOp> {
  using LoweringPattern::LoweringPattern;
  Value lower(BufferImbalanceOp op, ImplicitLocOpBuilder &b) const override {
    int64_t numExperts = op.getLoad().getType().getDimSize(0);
    auto [sum, max] = emitLoadSumMax(b, op.getLoad(), {}, numExperts);
    return emitMaxVio(b, sum, max, numExperts);
  }
};

struct DispatchLowering : LoweringPattern<BufferDispatchOp> {
  using LoweringPattern::LoweringPattern;
  Value lower(BufferDispatchOp op, ImplicitLocOpBuilder &b) const override {
    int64_t numExperts = op.getNumExperts();
    int64_t block = op.getBlock();
    Value indices = op.getIndices();
    Value numExpertsValue = constIndex(b, numExperts);
    Value k = dimOf(b, indices, 1);
    Value tokens = numTokens(b, indices);
    Value rows = dimOf(b, op.getTokenIds(), 0);
    Value zero = constIndex(b, 0);
    Value one = constIndex(b, 1);

    // next[e]: the next free row of expert e; end[e]: one past its last kept
    // row. Before the prefix pass, end[e] holds the count of expert e.
    auto expertRow = MemRefType::get({numExperts}, b.getIndexType());
    Value next = createScratch(b, expertRow);
    Value end = createScratch(b, expertRow);
    emitFill(b, end, zero);

    auto forEachValidPair = [&](function_ref<void(ImplicitLocOpBuilder &,
                                                  Value, Value, Value)>
                                    body,
                                function_ref<void(ImplicitLocOpBuilder &, Value,
                                                  Value)>
                                    invalid) {
      emitFor(b, 0, tokens, [&](ImplicitLocOpBuilder &b, Value t) {
        emitFor(b, 0, k, [&](ImplicitLocOpBuilder &b, Value j) {
          Value e = load(b, indices, {t, j});
          Value valid = emitInRange(b, e, numExpertsValue);
          scf::IfOp::create(
              b, valid,
              [&](OpBuilder &nested, Location loc) {
                ImplicitLocOpBuilder ib(loc, nested);
                body(ib, t, j, castIndex(ib, ib.getIndexType(), e));
                scf::YieldOp::create(ib);
              },
              [&](OpBuilder &nested, Location loc) {
                ImplicitLocOpBuilder ib(loc, nested);
                if (invalid)
                  invalid(ib, t, j);
                scf::YieldOp::create(ib);
              });
        });
      });
    };

    // 1. Count the pairs of each expert.
    forEachValidPair(
        [&](ImplicitLocOpBuilder &b, Value, Value, Value e) {
          store(b, arith::AddIOp::create(b, load(b, end, e), one), end, e);
        },
        nullptr);

    // 2. Offsets: kept = min(count, capacity), padded to a block multiple.
    Type offsetType = elementTypeOf(op.getOffsets());
    store(b, arith::ConstantIntOp::create(b, offsetType, 0), op.getOffsets(),
          zero);
    Value blockValue = constIndex(b, block);
    emitForIter(
        b, 0, numExperts, ValueRange{zero},
        [&](ImplicitLocOpBuilder &b, Value e, ValueRange args) {
          Value start = args[0];
          Value kept = load(b, end, e);
          if (std::optional<int64_t> capacity = op.getCapacity())
            kept = arith::MinUIOp::create(b, kept, constIndex(b, *capacity));
          Value padded = kept;
          if (block != 1)
            padded = arith::MulIOp::create(
                b, arith::CeilDivUIOp::create(b, kept, blockValue), blockValue);
          Value segmentEnd = arith::AddIOp::create(b, start, padded);
          store(b, start, next, e);
          store(b, arith::AddIOp::create(b, start, kept), end, e);
          Value nextExpert = arith::AddIOp::create(b, e, one);
          store(b, castIndex(b, offsetType, segmentEnd), op.getOffsets(),
                nextExpert);
          return SmallVector<Value>{segmentEnd};
        });

    // 3. Every row starts as padding; kept pairs fill their rows in
    //    ascending (t, j) order.
    Type tokenType = elementTypeOf(op.getTokenIds());
    Type slotType = elementTypeOf(op.getSlots());
    emitFill(b, op.getTokenIds(),
             arith::ConstantIntOp::create(b, tokenType, -1));
    Value dropped = arith::ConstantIntOp::create(b, slotType, -1);
    forEachValidPair(
        [&](ImplicitLocOpBuilder &b, Value t, Value j, Value e) {
          Value row = load(b, next, e);
          Value kept = arith::AndIOp::create(
              b,
              arith::CmpIOp::create(b, arith::CmpIPredicate::ult, row,
                                    load(b, end, e)),
              arith::CmpIOp::create(b, arith::CmpIPredicate::ult, row, rows));
          Value slot = arith::SelectOp::create(
              b, kept, castIndex(b, slotType, row), dropped);
          store(b, slot, op.getSlots(), {t, j});
          emitIf(b, kept, [&](ImplicitLocOpBuilder &b) {
            store(b, castIndex(b, tokenType, t), op.getTokenIds(), row);
            store(b, arith::AddIOp::create(b, row, one), next, e);
          });
        },
        [&](ImplicitLocOpBuilder &b, Value t, Value j) {
          store(b, dropped, op.getSlots(), {t, j});
        });
    return {};
  }
};

struct PermuteLowering : LoweringPattern<BufferPermuteOp> {
  using LoweringPattern::LoweringPattern;
  Value lower(BufferPermuteOp op, ImplicitLocOpBuilder &b) const override {
    Value input = op.getInput(), output = op.getOutput();
    Value tokens = numTokens(b, input);
    Value width = dimOf(b, input, 1);
    Type elementType = elementTypeOf(input);
    Value zero =
        arith::ConstantOp::create(b, cast<TypedAttr>(b.getZeroAttr(elementType)));
    emitFor(b, 0, dimOf(b, output, 0), [&](ImplicitLocOpBuilder &b, Value p) {
      Value id = load(b, op.getTokenIds(), p);
      Value valid = emitInRange(b, id, tokens);
      scf::IfOp::create(
          b, valid,
          [&](OpBuilder &nested, Location loc) {
            ImplicitLocOpBuilder ib(loc, nested);
            Value t = castIndex(ib, ib.getIndexType(), id);
            emitFor(ib, 0, width, [&](ImplicitLocOpBuilder &b, Value h) {
              store(b, load(b, input, {t, h}), output, {p, h});
            });
            scf::YieldOp::create(ib);
          },
          [&](OpBuilder &nested, Location loc) {
            ImplicitLocOpBuilder ib(loc, nested);
            emitFor(ib, 0, width, [&](ImplicitLocOpBuilder &b, Value h) {
              store(b, zero, output, {p, h});
            });
            scf::YieldOp::create(ib);
          });
    });
    return {};
  }
};

struct CombineLowering : LoweringPattern<BufferCombineOp> {
  using LoweringPattern::LoweringPattern;
  Value lower(BufferCombineOp op, ImplicitLocOpBuilder &b) const override {
    Value width = dimOf(b, op.getExpertOut(), 1);
    emitFor(b, 0, numTokens(b, op.getWeights()),
            [&](ImplicitLocOpBuilder &b, Value t) {
              emitFor(b, 0, width, [&](ImplicitLocOpBuilder &b, Value h) {
                store(b,
                      emitCombineElement(b, op.getExpertOut(), op.getWeights(),
                                         op.getSlots(), t, h),
                      op.getOutput(), {t, h});
              });
            });
    return {};
  }
};

struct ConvertMoEToLoopsPass
    : public moe::impl::ConvertMoEToLoopsBase<ConvertMoEToLoopsPass> {
  void runOnOperation() override {
    ConversionTarget target(getContext());
    target.addLegalDialect<arith::ArithDialect, math::MathDialect,
                           memref::MemRefDialect, scf::SCFDialect>();
    target.addIllegalOp<BufferScoreOp, BufferTopKOp, BufferNormalizeOp,
                        BufferLoadOp, BufferUpdateBiasOp, BufferImbalanceOp,
                        BufferRouteOp, BufferDispatchOp, BufferPermuteOp,
                        BufferCombineOp>();
    addMoETrainingIllegalOps(target); // Training ops: TrainingToLoops.cpp.
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(&getContext());
    populateMoEToLoopsPatterns(patterns);
    populateMoETrainingToLoopsPatterns(patterns); // Training ops.
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::moe::populateMoEToLoopsPatterns(RewritePatternSet &patterns) {
  patterns.add<ScoreLowering, TopKLowering, RouteLowering, NormalizeLowering,
               LoadLowering, UpdateBiasLowering, ImbalanceLowering,
               DispatchLowering, PermuteLowering, CombineLowering>(
      patterns.getContext());
}
