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
#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/Transforms/DialectConversion.h"

#include <limits>

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
constexpr int64_t kVectorWidth = 8;

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

/// Integer images of keys: a larger key has a larger image, equal keys (+0
/// and -0 included) equal images, and NaN the image just below -inf. Taken
/// or excluded experts get the smallest image of all.
constexpr int32_t kRemovedRank = std::numeric_limits<int32_t>::min();
constexpr int32_t kNaNRank = kRemovedRank + 1;
/// The image of -inf (0xff800000 with the magnitude bits flipped).
constexpr int32_t kNegInfRank = -2139095041;

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

/// The rank image of a vector of f32 keys; NaN ranks as -inf when
/// `nanAsNegInf` (group scores), below it otherwise.
Value emitRankImage(ImplicitLocOpBuilder &b, Value keys, bool nanAsNegInf) {
  auto intType = VectorType::get({kVectorWidth}, b.getI32Type());
  Value canonical = arith::AddFOp::create(b, keys, emitF32Like(b, keys, 0.0));
  Value bits = arith::BitcastOp::create(b, intType, canonical);
  Value negative =
      arith::CmpIOp::create(b, arith::CmpIPredicate::slt, bits, splatI32(b, 0));
  Value flipped = arith::XOrIOp::create(b, bits, splatI32(b, 0x7fffffff));
  Value image = arith::SelectOp::create(b, negative, flipped, bits);
  Value isNaN =
      arith::CmpFOp::create(b, arith::CmpFPredicate::UNO, keys, keys);
  return arith::SelectOp::create(
      b, isNaN, splatI32(b, nanAsNegInf ? kNegInfRank : kNaNRank), image);
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

/// Runs the (group-limited) selection of one token over its row buffers: K
/// rounds of a vectorised arg-max over the rank images of the keys, each
/// taking the best remaining expert (the lowest index among equals), after
/// the experts of excluded groups are removed. The winners end in `winnerIds`
/// and `winnerScores`, best first.
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
    chunkPadded =
        llvm::divideCeil(padded / kVectorWidth, kVectorWidth) * kVectorWidth;
    chunkMaxima =
        createScratch(b, MemRefType::get({chunkPadded}, b.getI32Type()));
    winnerIds = createScratch(b, MemRefType::get({config.k}, b.getIndexType()));
    winnerScores =
        createScratch(b, MemRefType::get({config.k}, b.getF32Type()));
    if (!config.isGroupLimited())
      return;
    groupImages = createScratch(b, rankRow);
    groupScores = createScratch(
        b, MemRefType::get({config.numGroups}, b.getF32Type()));
    keptGroups.emplace(b, config.topkGroups, /*withPayload=*/false);
    groupKept = createScratch(
        b, MemRefType::get({config.numGroups}, b.getI1Type()));
  }

  void select(ImplicitLocOpBuilder &b) const {
    Value removed = arith::ConstantIntOp::create(b, b.getI32Type(),
                                                 kRemovedRank);
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

    if (config.isGroupLimited())
      excludeGroups(b, removed);

    if (padded / kVectorWidth <= kVectorWidth) {
      // A row of at most kVectorWidth chunks stays in one vector value
      // across the rounds: each round is a tree reduction to the best image,
      // then to the lowest expert holding it, with no memory traffic.
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

  /// Scores the groups (the sum of each group's group_top best keys, NaN as
  /// -inf), keeps the topk_groups best and removes the experts of the
  /// others from the rank images.
  void excludeGroups(ImplicitLocOpBuilder &b, Value removed) const {
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
    Selector selector(b, config);
    emitFor(b, 0, numTokens(b, op.getScores()),
            [&](ImplicitLocOpBuilder &b, Value t) {
              emitTokenRow(b, op.getScores(), std::nullopt, op.getBias(), t,
                           config.numExperts, selector.row);
              selector.select(b);
              emitStoreWinners(b, selector, t, op.getWeights(),
                               op.getIndices(), Value(), /*normalize=*/false,
                               APFloat(1.0f));
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
    Selector selector(b, config);
    emitFor(b, 0, numTokens(b, op.getLogits()),
            [&](ImplicitLocOpBuilder &b, Value t) {
              emitTokenRow(b, op.getLogits(), op.getFunction(), op.getBias(),
                           t, config.numExperts, selector.row);
              selector.select(b);
              emitStoreWinners(b, selector, t, op.getWeights(),
                               op.getIndices(), op.getCounts(),
                               op.getNormalize(), op.getScale());
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
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    RewritePatternSet patterns(&getContext());
    populateMoEToLoopsPatterns(patterns);
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
