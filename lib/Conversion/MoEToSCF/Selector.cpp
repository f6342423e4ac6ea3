//===- Selector.cpp - the CPU selection of a token and the token loop -----===//

#include "CPUTarget.h"
#include "Selection.h"

#include "moe/Conversion/MoECommon/RoutingMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::moe;

Selector::Selector(ImplicitLocOpBuilder &b, const SelectionConfig &config) {
  state.config = config;
  state.padded =
      llvm::divideCeil(config.numExperts, kVectorWidth) * kVectorWidth;
  auto f32Row = MemRefType::get({state.padded}, b.getF32Type());
  state.row = {createScratch(b, f32Row), createScratch(b, f32Row)};
  state.images =
      createScratch(b, MemRefType::get({state.padded}, b.getI32Type()));
  state.winnerIds =
      createScratch(b, MemRefType::get({config.k}, b.getIndexType()));
  state.winnerScores =
      createScratch(b, MemRefType::get({config.k}, b.getF32Type()));
  winners = WinnerSelection::create(b, state);
  groups = GroupExclusion::create(b, state);
}

/// Rank images of the row; padding lanes are removed. Scalar group exclusion
/// also wants images that treat NaN as -inf.
void Selector::emitImages(ImplicitLocOpBuilder &b) const {
  Value groupImages = groups ? groups->groupImages() : Value();
  emitFor(
      b, constIndex(b, 0), constIndex(b, state.padded),
      [&](ImplicitLocOpBuilder &b, Value chunk) {
        auto f32Vector = VectorType::get({kVectorWidth}, b.getF32Type());
        Value keys =
            vector::LoadOp::create(b, f32Vector, state.row.keys, chunk);
        Value padding = arith::CmpIOp::create(
            b, arith::CmpIPredicate::sge, emitLaneIndices(b, chunk),
            splatI32(b, state.config.numExperts));
        auto storeImage = [&](Value buffer, bool nanAsNegInf) {
          Value image = arith::SelectOp::create(
              b, padding, splatI32(b, kRemovedRank),
              emitRankImage(b, keys, nanAsNegInf));
          vector::StoreOp::create(b, image, buffer, chunk);
        };
        storeImage(state.images, /*nanAsNegInf=*/false);
        if (groupImages)
          storeImage(groupImages, /*nanAsNegInf=*/true);
      },
      constIndex(b, kVectorWidth));
}

Value Selector::prepare(ImplicitLocOpBuilder &b) const {
  emitImages(b);
  if (groups)
    groups->exclude(b);
  return winners->prepare(b);
}

void Selector::finish(ImplicitLocOpBuilder &b, Value prepared) const {
  winners->finish(b, prepared);
}

/// Tokens per iteration of the token loop when the selection interleaves.
constexpr int64_t kTokensPerIteration = 2;

/// When the selection interleaves, the loop takes kTokensPerIteration tokens
/// at a time, each phase emitted for all of them before the next: the
/// dependency chain of one token is long and mostly serial, and the
/// out-of-order core overlaps the chains of two. A remainder loop takes the
/// last tokens one by one.
void mlir::moe::emitSelectionLoop(
    ImplicitLocOpBuilder &b, Value tokens, const SelectionConfig &config,
    function_ref<void(ImplicitLocOpBuilder &, Value, const TokenRow &)> fillRow,
    function_ref<void(ImplicitLocOpBuilder &, Value, const Selector &)>
        storeWinners) {
  SmallVector<std::unique_ptr<Selector>> selectors;
  selectors.push_back(std::make_unique<Selector>(b, config));
  auto single = [&](ImplicitLocOpBuilder &b, Value t) {
    fillRow(b, t, selectors[0]->getRow());
    selectors[0]->finish(b, selectors[0]->prepare(b));
    storeWinners(b, t, *selectors[0]);
  };
  if (!selectors[0]->interleaves()) {
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
        SmallVector<Value> ts, prepared;
        for (int64_t i = 0; i < kTokensPerIteration; ++i)
          ts.push_back(arith::AddIOp::create(b, first, constIndex(b, i)));
        for (int64_t i = 0; i < kTokensPerIteration; ++i)
          fillRow(b, ts[i], selectors[i]->getRow());
        for (int64_t i = 0; i < kTokensPerIteration; ++i)
          prepared.push_back(selectors[i]->prepare(b));
        for (int64_t i = 0; i < kTokensPerIteration; ++i)
          selectors[i]->finish(b, prepared[i]);
        for (int64_t i = 0; i < kTokensPerIteration; ++i)
          storeWinners(b, ts[i], *selectors[i]);
      },
      step);
  emitFor(b, blocked, tokens, single);
}
