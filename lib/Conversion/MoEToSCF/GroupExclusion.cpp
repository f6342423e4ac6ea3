//===- GroupExclusion.cpp - group-limited selection on the CPU ------------===//
//
// Group g's score is the sum of its group_top best keys (NaN as -inf); the
// topk_groups best groups are kept (ties to the lower group) and the experts
// of the others are removed from the rank images.
//
//===----------------------------------------------------------------------===//

#include "CPUTarget.h"
#include "Selection.h"

#include "moe/Conversion/MoECommon/RoutingMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe;

namespace {

/// The K best (key, id) pairs seen so far, best first, in stack buffers. Insertion keeps the contract's order: a new
/// candidate (higher id than every stored one) moves above a stored entry
/// only when it ranks strictly above it.
class BestK {
public:
  BestK(ImplicitLocOpBuilder &b, int64_t k) : k(k) {
    keys = createScratch(b, MemRefType::get({k}, b.getF32Type()));
    ids = createScratch(b, MemRefType::get({k}, b.getIndexType()));
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
  State insert(ImplicitLocOpBuilder &b, State state, Value key,
               Value id) const {
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
                for (Value buffer : {keys, ids})
                  store(ib, load(ib, buffer, above), buffer, pos);
                scf::YieldOp::create(ib, above);
              });
          Value pos = shift.getResult(0);
          store(b, key, keys, pos);
          store(b, id, ids, pos);
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

  /// Offers the candidates [first, end).
  State scan(ImplicitLocOpBuilder &b, State state, Value first, Value end,
             function_ref<Value(ImplicitLocOpBuilder &, Value)> keyOf) const {
    SmallVector<Value> result = emitForIter(
        b, first, end, ValueRange{state.filled, state.threshold},
        [&](ImplicitLocOpBuilder &b, Value e, ValueRange args) {
          State next = insert(b, {args[0], args[1]}, keyOf(b, e), e);
          return SmallVector<Value>{next.filled, next.threshold};
        });
    return {result[0], result[1]};
  }

  int64_t k;
  Value keys, ids;
};

/// At most kVectorWidth groups of at most 64 experts: group scores, kept
/// groups and the exclusion in registers.
/// 1. Per group, its keys as one vector (NaN as -inf): group_top rounds of a
///    max reduction, each removing the first lane holding the max.
/// 2. The ranks of the group scores (ties by lower group) give the kept
///    groups as a bit mask.
/// 3. Per chunk, the lanes whose group bit is clear become removed.
class VectorGroupExclusion : public GroupExclusion {
public:
  VectorGroupExclusion(ImplicitLocOpBuilder &b, const SelectionState &state)
      : state(state) {
    groupScores =
        createScratch(b, MemRefType::get({kVectorWidth}, b.getF32Type()));
  }

  void exclude(ImplicitLocOpBuilder &b) const override {
    const SelectionConfig &config = state.config;
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
      Value v = vector::LoadOp::create(b, groupType, state.row.keys, first);
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
        b, zero, constIndex(b, state.padded),
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
          Value image =
              vector::LoadOp::create(b, intType, state.images, chunk);
          vector::StoreOp::create(
              b,
              arith::SelectOp::create(b, excluded, splatI32(b, kRemovedRank),
                                      image),
              state.images, chunk);
        },
        constIndex(b, kVectorWidth));
  }

private:
  const SelectionState &state;
  Value groupScores;
};

/// Any number of groups of any size: group_top rounds of an arg-max over
/// each group's images, then the topk_groups best groups by insertion.
class ScalarGroupExclusion : public GroupExclusion {
public:
  ScalarGroupExclusion(ImplicitLocOpBuilder &b, const SelectionState &state)
      : state(state) {
    const SelectionConfig &config = state.config;
    images = createScratch(b, MemRefType::get({state.padded}, b.getI32Type()));
    groupScores =
        createScratch(b, MemRefType::get({config.numGroups}, b.getF32Type()));
    keptGroups.emplace(b, config.topkGroups);
    groupKept =
        createScratch(b, MemRefType::get({config.numGroups}, b.getI1Type()));
  }

  Value groupImages() const override { return images; }

  void exclude(ImplicitLocOpBuilder &b) const override {
    const SelectionConfig &config = state.config;
    Value removed =
        arith::ConstantIntOp::create(b, b.getI32Type(), kRemovedRank);
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
            Value e = emitArgMax(b, images, first, end);
            emitSetLane(b, images, e, removed);
            Value key = emitNaNToNegInf(b, load(b, state.row.keys, e));
            return SmallVector<Value>{arith::AddFOp::create(b, acc[0], key)};
          })[0];
      store(b, sum, groupScores, g);
    });
    keptGroups->scan(b, keptGroups->initialState(b), constIndex(b, 0),
                     constIndex(b, config.numGroups),
                     [&](ImplicitLocOpBuilder &b, Value g) {
                       return load(b, groupScores, g);
                     });
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
          store(b, removed, state.images, e);
        });
      });
    });
  }

private:
  const SelectionState &state;
  Value images, groupScores, groupKept;
  std::optional<BestK> keptGroups;
};

} // namespace

std::unique_ptr<GroupExclusion>
mlir::moe::createVectorGroupExclusion(ImplicitLocOpBuilder &b,
                                      const SelectionState &state) {
  return std::make_unique<VectorGroupExclusion>(b, state);
}

std::unique_ptr<GroupExclusion>
mlir::moe::createScalarGroupExclusion(ImplicitLocOpBuilder &b,
                                      const SelectionState &state) {
  return std::make_unique<ScalarGroupExclusion>(b, state);
}

std::unique_ptr<GroupExclusion>
GroupExclusion::create(ImplicitLocOpBuilder &b, const SelectionState &state) {
  const SelectionConfig &config = state.config;
  if (!config.isGroupLimited())
    return nullptr;
  if (config.numGroups <= kVectorWidth && config.groupSize() <= 64)
    return createVectorGroupExclusion(b, state);
  return createScalarGroupExclusion(b, state);
}
