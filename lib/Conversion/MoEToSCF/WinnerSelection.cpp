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
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::moe;

namespace {

/// K <= kVectorWidth: a threshold, the candidates at or above it, and the
/// ranks of the candidates.
/// 1. colMax[l] = the best image of column l, where lane l of chunk c
///    joins column l xor columnMask(c): kVectorWidth images of distinct
///    experts, so the K-th best of them, tau, is at most the K-th best
///    image of the row, and every winner has an image >= tau.
/// 2. The experts with an image >= max(tau, best removed + 1) are packed,
///    in expert order, into the candidate buffers (compress-stores, or a
///    scan of the mask bits: SelectionState::gathering); there are at least
///    K (the contract guarantees K experts that are not removed) and, for
///    continuous data, a few more than K.
/// 3. More than kVectorWidth candidates (rows whose best experts share
///    columns; ties): steps 1 and 2 again over the packed candidates, whose
///    lanes no longer line up with the row's. Ties that remain keep them
///    all.
/// 4. At most kVectorWidth candidates: the rank of each (lane permutations,
///    ties by lower lane = lower expert); winner j is the candidate of
///    rank j. More (exact ties): K rounds of the arg-max over the
///    candidates.
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
    // Lane l of chunk c joins column l xor columnMask(c): the columns are
    // still disjoint sets of experts, but the best experts of periodic rows
    // no longer share columns. An xor moves groups of four lanes as wholes
    // (bits 2 and 3 of the mask) and permutes lanes inside each group (bits
    // 0 and 1), so the shuffle is cheap on 128-bit and 256-bit vectors too
    // (in-lane shuffles, whole registers or halves).
    auto intType = VectorType::get({kVectorWidth}, b.getI32Type());
    Value colMax = splatI32(b, kRemovedRank);
    for (int64_t c = 0; c < state.padded / kVectorWidth; ++c) {
      Value v = vector::LoadOp::create(b, intType, state.images,
                                       constIndex(b, c * kVectorWidth));
      if (int64_t r = columnMask(c)) {
        SmallVector<int64_t> mixed;
        for (int64_t l = 0; l < kVectorWidth; ++l)
          mixed.push_back(l ^ r);
        v = vector::ShuffleOp::create(b, v, v, mixed);
      }
      colMax = arith::MaxSIOp::create(b, colMax, v);
    }
    return gather(b, Source{state.images, Value(), Value()},
                  emitThreshold(b, colMax));
  }

  /// The K winners among `count` candidates.
  void finish(ImplicitLocOpBuilder &b, Value count) const override {
    Value removed = arith::ConstantIntOp::create(b, b.getI32Type(),
                                                 kRemovedRank);
    Value zero = constIndex(b, 0);
    Value width = constIndex(b, kVectorWidth);
    Value tooMany =
        arith::CmpIOp::create(b, arith::CmpIPredicate::ugt, count, width);
    count = scf::IfOp::create(
                b, tooMany,
                [&](OpBuilder &nested, Location loc) {
                  ImplicitLocOpBuilder b(loc, nested);
                  scf::YieldOp::create(b, refine(b, count));
                },
                [&](OpBuilder &nested, Location loc) {
                  scf::YieldOp::create(nested, loc, count);
                })
                .getResult(0);
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
      Value removedLanes = arith::ConstantOp::create(
          b, DenseElementsAttr::get(type, b.getI32IntegerAttr(kRemovedRank)));
      Value v = arith::SelectOp::create(
          b, emitLanesBelow(b, zero, lanes, count),
          vector::LoadOp::create(b, type, candidateImages, zero),
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
  /// The xor mask of chunk c's lanes: 5c mod kVectorWidth. Any odd factor
  /// gives every chunk of 16 consecutive chunks its own mask; 5 makes the
  /// masks of neighbouring chunks differ both inside the groups of four
  /// lanes and in the group, so that rows of few chunks still spread: with
  /// E = 64 (4 chunks, masks 0, 5, 10, 15), a period of 16 experts (the
  /// same lane best in every chunk) and a period of 4 (the same lane of
  /// every group) both reach 16 columns, where the mask c reached 4 for the
  /// first (about 12 candidates for K = 6 on such rows instead of 6.4).
  static int64_t columnMask(int64_t c) { return c * 5 % kVectorWidth; }

  /// What candidates are gathered from: the row (`images` is the row's,
  /// the ids are the lanes' experts and every lane counts) or the packed
  /// candidates themselves (`ids` given, only the first `count` lanes).
  struct Source {
    Value images, ids, count;
  };

  /// The K-th best lane of `colMax` (the best image of each lane over some
  /// chunks), kept above the removed experts.
  Value emitThreshold(ImplicitLocOpBuilder &b, Value colMax) const {
    Value colRanks = emitLaneRanks(b, colMax, /*lowerLaneFirst=*/false);
    Value inTopK = arith::CmpIOp::create(b, arith::CmpIPredicate::slt, colRanks,
                                         splatI32(b, state.config.k));
    Value noLimit = splatI32(b, std::numeric_limits<int32_t>::max());
    Value tau = vector::ReductionOp::create(
        b, vector::CombiningKind::MINSI,
        arith::SelectOp::create(b, inTopK, colMax, noLimit));
    return arith::MaxSIOp::create(
        b, tau, arith::ConstantIntOp::create(b, b.getI32Type(), kNaNRank));
  }

  /// The lanes of the `lanes` at `first` whose position is below `count`.
  static Value emitLanesBelow(ImplicitLocOpBuilder &b, Value first,
                              int64_t lanes, Value count) {
    auto type = VectorType::get({lanes}, b.getI32Type());
    return arith::CmpIOp::create(
        b, arith::CmpIPredicate::slt, emitLaneIndices(b, first, lanes),
        vector::BroadcastOp::create(
            b, type, arith::IndexCastOp::create(b, b.getI32Type(), count)));
  }

  /// Steps 1 and 2 over the `count` packed candidates, in place (each chunk
  /// is read before anything is written at or past its start); returns the
  /// new count.
  Value refine(ImplicitLocOpBuilder &b, Value count) const {
    auto intType = VectorType::get({kVectorWidth}, b.getI32Type());
    auto loop = scf::ForOp::create(
        b, constIndex(b, 0), count, constIndex(b, kVectorWidth),
        ValueRange{splatI32(b, kRemovedRank)},
        [&](OpBuilder &nested, Location loc, Value chunk, ValueRange acc) {
          ImplicitLocOpBuilder b(loc, nested);
          Value v = arith::SelectOp::create(
              b, emitLanesBelow(b, chunk, kVectorWidth, count),
              vector::LoadOp::create(b, intType, candidateImages, chunk),
              splatI32(b, kRemovedRank));
          scf::YieldOp::create(b, ValueRange{arith::MaxSIOp::create(
                                      b, acc[0], v)});
        });
    return gather(b, Source{candidateImages, candidateIds, count},
                  emitThreshold(b, loop.getResult(0)));
  }

  /// Packs the experts of `source` whose image is at least `tau` into the
  /// candidate buffers, in order; returns how many there are.
  Value gather(ImplicitLocOpBuilder &b, const Source &source,
               Value tau) const {
    return state.gathering == CPUSelection::Compress
               ? emitCompressCandidates(b, source, tau)
               : emitScanCandidates(b, source, tau);
  }

  /// Per chunk, a compress-store of the images and of the ids.
  Value emitCompressCandidates(ImplicitLocOpBuilder &b, const Source &source,
                               Value tau) const {
    auto intType = VectorType::get({kVectorWidth}, b.getI32Type());
    Value tauLanes = vector::BroadcastOp::create(b, intType, tau);
    Value end = source.count ? source.count : constIndex(b, state.padded);
    auto loop = scf::ForOp::create(
        b, constIndex(b, 0), end, constIndex(b, kVectorWidth),
        ValueRange{constIndex(b, 0)},
        [&](OpBuilder &nested, Location loc, Value chunk, ValueRange acc) {
          ImplicitLocOpBuilder b(loc, nested);
          Value v = vector::LoadOp::create(b, intType, source.images, chunk);
          Value ids = source.ids ? Value(vector::LoadOp::create(
                                       b, intType, source.ids, chunk))
                                 : emitLaneIndices(b, chunk);
          Value keep =
              arith::CmpIOp::create(b, arith::CmpIPredicate::sge, v, tauLanes);
          if (source.count)
            keep = arith::AndIOp::create(
                b, keep, emitLanesBelow(b, chunk, kVectorWidth, source.count));
          // The ODS builder (IntegerAttr alignment): the MaybeAlign one of
          // MLIR 22 swaps the mask and the value.
          vector::CompressStoreOp::create(b, candidateImages, acc[0], keep, v,
                                          IntegerAttr());
          vector::CompressStoreOp::create(b, candidateIds, acc[0], keep, ids,
                                          IntegerAttr());
          scf::YieldOp::create(
              b, ValueRange{arith::AddIOp::create(b, acc[0],
                                                  emitLaneCount(b, keep))});
        });
    return loop.getResult(0);
  }

  /// The same packing by a scan of the mask bits: a loop over the set bits
  /// (count trailing zeros, clear the lowest bit) stores each candidate with
  /// scalar stores. The work follows the number of candidates, a few more
  /// than K, and no step needs more than compares and a mask-to-bits move,
  /// which every SIMD target has. The row goes 64 experts at a time (16 for
  /// its last chunks), the packed candidates 16 at a time.
  Value emitScanCandidates(ImplicitLocOpBuilder &b, const Source &source,
                           Value tau) const {
    Value zero = constIndex(b, 0);
    if (source.count) {
      auto loop = scf::ForOp::create(
          b, zero, source.count, constIndex(b, kVectorWidth), ValueRange{zero},
          [&](OpBuilder &nested, Location loc, Value chunk, ValueRange acc) {
            ImplicitLocOpBuilder b(loc, nested);
            scf::YieldOp::create(
                b, emitScanLanes(b, source, chunk, kVectorWidth, tau, acc[0]));
          });
      return loop.getResult(0);
    }
    constexpr int64_t kBlock = 64;
    int64_t blocked = state.padded / kBlock * kBlock;
    Value count = zero;
    if (blocked)
      count = emitChunkIter(
          b, blocked, ValueRange{count},
          [&](ImplicitLocOpBuilder &b, Value first, ValueRange acc) {
            return SmallVector<Value>{
                emitScanLanes(b, source, first, kBlock, tau, acc[0])};
          },
          kBlock)[0];
    for (int64_t first = blocked; first < state.padded; first += kVectorWidth)
      count = emitScanLanes(b, source, constIndex(b, first), kVectorWidth, tau,
                            count);
    return count;
  }

  /// Appends the candidates among the `lanes` (at most 64) of `source` at
  /// `first` after the first `count`; returns the new count. Writes never
  /// pass the lane being read, so the source may be the candidates.
  Value emitScanLanes(ImplicitLocOpBuilder &b, const Source &source,
                      Value first, int64_t lanes, Value tau,
                      Value count) const {
    auto type = VectorType::get({lanes}, b.getI32Type());
    Value keep = arith::CmpIOp::create(
        b, arith::CmpIPredicate::sge,
        vector::LoadOp::create(b, type, source.images, first),
        vector::BroadcastOp::create(b, type, tau));
    if (source.count)
      keep = arith::AndIOp::create(
          b, keep, emitLanesBelow(b, first, lanes, source.count));
    Value bits = emitMaskBits64(b, keep);
    Type i64 = b.getI64Type();
    Value none = arith::ConstantIntOp::create(b, i64, 0);
    Value one = arith::ConstantIntOp::create(b, i64, 1);
    auto loop = scf::WhileOp::create(
        b, TypeRange{i64, b.getIndexType()}, ValueRange{bits, count},
        [&](OpBuilder &nested, Location loc, ValueRange args) {
          ImplicitLocOpBuilder b(loc, nested);
          Value more =
              arith::CmpIOp::create(b, arith::CmpIPredicate::ne, args[0], none);
          scf::ConditionOp::create(b, more, args);
        },
        [&](OpBuilder &nested, Location loc, ValueRange args) {
          ImplicitLocOpBuilder b(loc, nested);
          Value lane = arith::IndexCastUIOp::create(
              b, b.getIndexType(),
              math::CountTrailingZerosOp::create(b, args[0]));
          Value at = arith::AddIOp::create(b, first, lane);
          Value id = source.ids
                         ? load(b, source.ids, at)
                         : Value(arith::IndexCastOp::create(
                               b, b.getI32Type(), at));
          store(b, load(b, source.images, at), candidateImages, args[1]);
          store(b, id, candidateIds, args[1]);
          Value rest = arith::AndIOp::create(
              b, args[0], arith::SubIOp::create(b, args[0], one));
          scf::YieldOp::create(
              b, ValueRange{rest, arith::AddIOp::create(b, args[1],
                                                        constIndex(b, 1))});
        });
    return loop.getResult(1);
  }

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
