//===- Selector.cpp - the CPU selection of a token and the token loop -----===//

#include "CPUTarget.h"
#include "Selection.h"

#include "moe/Conversion/MoECommon/RoutingMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::moe;

Selector::Selector(ImplicitLocOpBuilder &b, const SelectionConfig &config,
                   CPUSelection gathering) {
  assert(gathering != CPUSelection::Auto && "resolve the selection first");
  state.config = config;
  state.gathering = gathering;
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

/// The parallel token loop: at most kMaxChunks chunks of at least
/// kMinTokensPerChunk tokens.
constexpr int64_t kMaxChunks = 64;
constexpr int64_t kMinTokensPerChunk = 4;

namespace {
using StoreWinnersFn =
    function_ref<void(ImplicitLocOpBuilder &, Value, const Selector &, Value)>;
using FillRowFn =
    function_ref<void(ImplicitLocOpBuilder &, Value, const TokenRow &)>;
} // namespace

/// The selection of tokens [first, end), with its own selection buffers
/// (created in the enclosing allocation scope). When the selection
/// interleaves, the loop takes kTokensPerIteration tokens at a time, each
/// phase emitted for all of them before the next: the dependency chain of one
/// token is long and mostly serial, and the out-of-order core overlaps the
/// chains of two. A remainder loop takes the last tokens one by one.
static void emitTokenRange(ImplicitLocOpBuilder &b, Value first, Value end,
                           const SelectionConfig &config,
                           CPUSelection gathering, FillRowFn fillRow,
                           StoreWinnersFn storeWinners, Value counts) {
  SmallVector<std::unique_ptr<Selector>> selectors;
  selectors.push_back(std::make_unique<Selector>(b, config, gathering));
  auto single = [&](ImplicitLocOpBuilder &b, Value t) {
    fillRow(b, t, selectors[0]->getRow());
    selectors[0]->finish(b, selectors[0]->prepare(b));
    storeWinners(b, t, *selectors[0], counts);
  };
  Value one = constIndex(b, 1);
  if (!selectors[0]->interleaves()) {
    emitFor(b, first, end, single, one);
    return;
  }
  for (int64_t i = 1; i < kTokensPerIteration; ++i)
    selectors.push_back(std::make_unique<Selector>(b, config, gathering));
  Value step = constIndex(b, kTokensPerIteration);
  Value blocked = arith::AddIOp::create(
      b, first,
      arith::MulIOp::create(
          b,
          arith::DivUIOp::create(b, arith::SubIOp::create(b, end, first),
                                 step),
          step));
  emitFor(
      b, first, blocked,
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
          storeWinners(b, ts[i], *selectors[i], counts);
      },
      step);
  emitFor(b, blocked, end, single, one);
}

void mlir::moe::emitSelectionLoop(ImplicitLocOpBuilder &b, Value tokens,
                                  const SelectionConfig &config,
                                  FillRowFn fillRow,
                                  StoreWinnersFn storeWinners, Value counts,
                                  const MoEToLoopsOptions &options) {
  if (!options.parallel) {
    emitTokenRange(b, constIndex(b, 0), tokens, config, options.selection,
                   fillRow, storeWinners, counts);
    return;
  }
  // The chunking depends on T only, so that the partial counts, and the
  // order they are added in, do not depend on the number of threads.
  Value perChunk = arith::MaxUIOp::create(
      b, arith::CeilDivUIOp::create(b, tokens, constIndex(b, kMaxChunks)),
      constIndex(b, kMinTokensPerChunk));
  Value chunks = arith::CeilDivUIOp::create(b, tokens, perChunk);
  Value partial;
  int64_t numExperts = config.numExperts;
  if (counts) {
    auto type = MemRefType::get({ShapedType::kDynamic, numExperts},
                                elementTypeOf(counts));
    partial = memref::AllocOp::create(b, type, ValueRange{chunks});
  }
  emitParallelFor(
      b, constIndex(b, 0), chunks, [&](ImplicitLocOpBuilder &b, Value chunk) {
        Value first = arith::MulIOp::create(b, chunk, perChunk);
        Value end = arith::MinUIOp::create(
            b, arith::AddIOp::create(b, first, perChunk), tokens);
        Value row;
        if (partial) {
          row = memref::SubViewOp::create(
              b, MemRefType::get({numExperts}, elementTypeOf(counts),
                                 StridedLayoutAttr::get(
                                     b.getContext(), ShapedType::kDynamic,
                                     {1})),
              partial, ArrayRef<OpFoldResult>{chunk, b.getIndexAttr(0)},
              ArrayRef<OpFoldResult>{b.getIndexAttr(1),
                                     b.getIndexAttr(numExperts)},
              ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
          Value zero = arith::ConstantOp::create(
              b, cast<TypedAttr>(b.getZeroAttr(elementTypeOf(counts))));
          emitFor(b, 0, numExperts, [&](ImplicitLocOpBuilder &b, Value e) {
            store(b, zero, row, e);
          });
        }
        emitTokenRange(b, first, end, config, options.selection, fillRow,
                       storeWinners, row);
      });
  if (!partial)
    return;
  emitFor(b, 0, chunks, [&](ImplicitLocOpBuilder &b, Value chunk) {
    emitFor(b, 0, numExperts, [&](ImplicitLocOpBuilder &b, Value e) {
      store(b,
            arith::AddIOp::create(b, load(b, counts, e),
                                  load(b, partial, {chunk, e})),
            counts, e);
    });
  });
  memref::DeallocOp::create(b, partial);
}
