//===- WinnerSelection.cpp - the K winners of a row on the CPU ------------===//
//
// Three strategies over the rank images of a row (removed experts hold
// kRemovedRank); each stores the winners, best first, in the state's winner
// buffers. The lowest expert wins among equal images.
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

/// K <= kVectorWidth: a threshold, the candidates at or above it, and the
/// ranks of the candidates.
/// 1. colMax[l] = the best image of lane l over the chunks: kVectorWidth
///    images of distinct experts, so the K-th best of them, tau, is at most
///    the K-th best image of the row, and every winner has an image >= tau.
/// 2. The experts with an image >= max(tau, best removed + 1) are packed,
///    in expert order, into the candidate buffers (compress-stores); there
///    are at least K (the contract guarantees K experts that are not
///    removed) and, for continuous data, a few more than K.
/// 3. At most kVectorWidth candidates: the rank of each (lane rotations,
///    ties by lower lane = lower expert); winner j is the candidate of
///    rank j. More (ties, or adversarial rows): K rounds of the arg-max
///    over the candidates.
class ThresholdSelection : public WinnerSelection {
public:
  ThresholdSelection(ImplicitLocOpBuilder &b, const SelectionState &state)
      : state(state) {
    auto rankRow = MemRefType::get({state.padded}, b.getI32Type());
    candidateImages = createScratch(b, rankRow);
    candidateIds = createScratch(b, rankRow);
  }

  bool interleaves() const override { return true; }

  /// The candidates; returns how many there are.
  Value prepare(ImplicitLocOpBuilder &b) const override {
    auto intType = VectorType::get({kVectorWidth}, b.getI32Type());
    Value zero = constIndex(b, 0);
    Value colMax = emitChunkIter(
        b, state.padded, ValueRange{splatI32(b, kRemovedRank)},
        [&](ImplicitLocOpBuilder &b, Value chunk, ValueRange acc) {
          Value v = vector::LoadOp::create(b, intType, state.images, chunk);
          return SmallVector<Value>{arith::MaxSIOp::create(b, acc[0], v)};
        })[0];
    Value colRanks = emitLaneRanks(b, colMax, /*lowerLaneFirst=*/false);
    Value inTopK = arith::CmpIOp::create(b, arith::CmpIPredicate::slt, colRanks,
                                         splatI32(b, state.config.k));
    Value noLimit = splatI32(b, std::numeric_limits<int32_t>::max());
    Value tau = vector::ReductionOp::create(
        b, vector::CombiningKind::MINSI,
        arith::SelectOp::create(b, inTopK, colMax, noLimit));
    tau = arith::MaxSIOp::create(
        b, tau, arith::ConstantIntOp::create(b, b.getI32Type(), kNaNRank));
    Value tauLanes = vector::BroadcastOp::create(b, intType, tau);
    Value count = emitChunkIter(
        b, state.padded, ValueRange{zero},
        [&](ImplicitLocOpBuilder &b, Value chunk, ValueRange acc) {
          Value v = vector::LoadOp::create(b, intType, state.images, chunk);
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

  /// The K winners among `count` candidates.
  void finish(ImplicitLocOpBuilder &b, Value count) const override {
    Value removed = arith::ConstantIntOp::create(b, b.getI32Type(),
                                                 kRemovedRank);
    Value zero = constIndex(b, 0);
    auto winner = [&](ImplicitLocOpBuilder &b, Value j, Value lane) {
      Value e = arith::IndexCastOp::create(b, b.getIndexType(),
                                           load(b, candidateIds, lane));
      store(b, e, state.winnerIds, j);
      store(b, load(b, state.row.scores, e), state.winnerScores, j);
    };
    auto argMaxPath = [&](ImplicitLocOpBuilder &b) {
      emitFor(b, 0, state.config.k, [&](ImplicitLocOpBuilder &b, Value j) {
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
      emitFor(b, 0, state.config.k, [&](ImplicitLocOpBuilder &b, Value j) {
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
    // K is well below their width.
    if (4 * state.config.k <= 3 * kNarrow)
      ifAtMost(b, kNarrow, wide);
    else
      wide(b);
  }

private:
  const SelectionState &state;
  Value candidateImages, candidateIds;
};

/// K rounds over a row of at most 64 experts held in one vector value: each
/// round is a tree reduction to the best image, then to the lowest expert
/// holding it, with no memory traffic.
class VectorRoundsSelection : public WinnerSelection {
public:
  explicit VectorRoundsSelection(const SelectionState &state) : state(state) {}

  void finish(ImplicitLocOpBuilder &b, Value) const override {
    // A row of at most 64 experts stays in one vector value across the
    // rounds: each round is a tree reduction to the best image, then to
    // the lowest expert holding it, with no memory traffic.
    auto rowType = VectorType::get({state.padded}, b.getI32Type());
    SmallVector<int32_t> iota(state.padded);
    for (int64_t i = 0; i < state.padded; ++i)
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
        vector::LoadOp::create(b, rowType, state.images, constIndex(b, 0));
    emitForIter(
        b, 0, state.config.k, ValueRange{initial},
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
          store(b, e, state.winnerIds, j);
          store(b, load(b, state.row.scores, e), state.winnerScores, j);
          Value taken = arith::CmpIOp::create(
              b, arith::CmpIPredicate::eq, experts,
              vector::BroadcastOp::create(b, rowType, lowest));
          return SmallVector<Value>{
              arith::SelectOp::create(b, taken, removedRow, imagesNow)};
        });
  }

private:
  const SelectionState &state;
};

/// K rounds of a two-level tournament over a wider row.
class TournamentSelection : public WinnerSelection {
public:
  TournamentSelection(ImplicitLocOpBuilder &b, const SelectionState &state)
      : state(state),
        chunkPadded(llvm::divideCeil(state.padded / kVectorWidth,
                                     kVectorWidth) *
                    kVectorWidth) {
    chunkMaxima =
        createScratch(b, MemRefType::get({chunkPadded}, b.getI32Type()));
  }

  void finish(ImplicitLocOpBuilder &b, Value) const override {
    Value removed =
        arith::ConstantIntOp::create(b, b.getI32Type(), kRemovedRank);
    // Wider rows: K rounds of a two-level tournament. The best chunk (by the
    // best image of each chunk of kVectorWidth experts; the lowest chunk
    // among equals), then the best expert of that chunk (the lowest among
    // equals), which leaves the row; only its chunk's best image changes.
    Value width = constIndex(b, kVectorWidth);
    Value numChunks = constIndex(b, state.padded / kVectorWidth);
    emitFor(b, 0, chunkPadded, [&](ImplicitLocOpBuilder &b, Value c) {
      Value real =
          arith::CmpIOp::create(b, arith::CmpIPredicate::ult, c, numChunks);
      auto max = scf::IfOp::create(
          b, real,
          [&](OpBuilder &nested, Location loc) {
            ImplicitLocOpBuilder ib(loc, nested);
            scf::YieldOp::create(
                ib, emitChunkMax(ib, state.images,
                                 arith::MulIOp::create(ib, c, width)));
          },
          [&](OpBuilder &nested, Location loc) {
            scf::YieldOp::create(nested, loc, removed);
          });
      store(b, max.getResult(0), chunkMaxima, c);
    });
    emitFor(b, 0, state.config.k, [&](ImplicitLocOpBuilder &b, Value j) {
      Value c = emitArgMax(b, chunkMaxima, constIndex(b, 0), numChunks);
      Value first = arith::MulIOp::create(b, c, width);
      Value e = emitArgMax(b, state.images, first,
                           arith::AddIOp::create(b, first, width));
      store(b, e, state.winnerIds, j);
      store(b, load(b, state.row.scores, e), state.winnerScores, j);
      emitSetLane(b, state.images, e, removed);
      emitSetLane(b, chunkMaxima, c, emitChunkMax(b, state.images, first));
    });
  }

private:
  const SelectionState &state;
  /// Chunks of the row, padded to a multiple of kVectorWidth.
  int64_t chunkPadded;
  Value chunkMaxima;
};

} // namespace

std::unique_ptr<WinnerSelection>
mlir::moe::createThresholdSelection(ImplicitLocOpBuilder &b,
                                    const SelectionState &state) {
  return std::make_unique<ThresholdSelection>(b, state);
}

std::unique_ptr<WinnerSelection>
mlir::moe::createVectorRoundsSelection(ImplicitLocOpBuilder &,
                                       const SelectionState &state) {
  return std::make_unique<VectorRoundsSelection>(state);
}

std::unique_ptr<WinnerSelection>
mlir::moe::createTournamentSelection(ImplicitLocOpBuilder &b,
                                     const SelectionState &state) {
  return std::make_unique<TournamentSelection>(b, state);
}

std::unique_ptr<WinnerSelection>
WinnerSelection::create(ImplicitLocOpBuilder &b, const SelectionState &state) {
  if (state.config.k <= kVectorWidth)
    return createThresholdSelection(b, state);
  if (state.padded <= 64)
    return createVectorRoundsSelection(b, state);
  return createTournamentSelection(b, state);
}
