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
/// each group's images; a group is kept by the rule that the GPU shares
/// (emitGroupIsKept).
class ScalarGroupExclusion : public GroupExclusion {
public:
  ScalarGroupExclusion(ImplicitLocOpBuilder &b, const SelectionState &state)
      : state(state) {
    const SelectionConfig &config = state.config;
    images = createScratch(b, MemRefType::get({state.padded}, b.getI32Type()));
    groupScores =
        createScratch(b, MemRefType::get({config.numGroups}, b.getF32Type()));
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
    emitFor(b, 0, config.numGroups, [&](ImplicitLocOpBuilder &b, Value g) {
      Value kept = emitGroupIsKept(b, g, config.numGroups, config.topkGroups,
                                   [&](ImplicitLocOpBuilder &b, Value h) {
                                     return load(b, groupScores, h);
                                   });
      Value excluded = arith::XOrIOp::create(
          b, kept, arith::ConstantIntOp::create(b, b.getI1Type(), 1));
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
  Value images, groupScores;
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
