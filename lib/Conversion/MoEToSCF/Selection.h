//===- Selection.h - CPU top-K selection of one token -----------*- C++ -*-===//
//
// The CPU selection of a token works on the token's row buffers (scores and
// keys of its E experts) and the i32 rank images of its keys (RoutingMath.h):
// a Selector fills the images, lets a GroupExclusion remove the experts of
// the groups that are not kept, then a WinnerSelection picks the K winners.
// Each strategy is a separate unit; `create` says when each applies.
//
//===----------------------------------------------------------------------===//
#ifndef MOE_LIB_CONVERSION_MOETOSCF_SELECTION_H
#define MOE_LIB_CONVERSION_MOETOSCF_SELECTION_H

#include "moe/Conversion/MoECommon/Builders.h"
#include "moe/Conversion/Passes.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <memory>
#include <optional>

namespace mlir::moe {

/// Lanes of the vector code of the CPU lowering.
constexpr int64_t kVectorWidth = 16;

//===----------------------------------------------------------------------===//
// Vector building blocks (VectorOps.cpp)
//===----------------------------------------------------------------------===//

/// A splat vector<kVectorWidth x i32>.
Value splatI32(ImplicitLocOpBuilder &b, int64_t value);
/// The expert index of each of the `lanes` lanes of the chunk at `first`.
Value emitLaneIndices(ImplicitLocOpBuilder &b, Value first,
                      int64_t lanes = kVectorWidth);
/// The lowest expert with the best image among [first, end) of `images`.
Value emitArgMax(ImplicitLocOpBuilder &b, Value images, Value first, Value end);
/// Sets element `index` of an i32 buffer with a read-modify-write of its
/// chunk.
void emitSetLane(ImplicitLocOpBuilder &b, Value buffer, Value index,
                 Value value);
/// The best image of the chunk at `first`.
Value emitChunkMax(ImplicitLocOpBuilder &b, Value images, Value first);
/// A loop over [0, end) by `step` carrying `init`.
SmallVector<Value> emitChunkIter(ImplicitLocOpBuilder &b, int64_t end,
                                 ValueRange init, IterBodyFn body,
                                 int64_t step = kVectorWidth);
/// The lanes of a vector<kVectorWidth x i1> as the low bits of an i32.
Value emitMaskBits(ImplicitLocOpBuilder &b, Value mask);
/// The lanes of a vector<n x i1>, n <= 64, as the low bits of an i64.
Value emitMaskBits64(ImplicitLocOpBuilder &b, Value mask);
/// The number of lanes set in `mask`, as an index.
Value emitLaneCount(ImplicitLocOpBuilder &b, Value mask);
/// The first lane set in a vector<n x i1> mask, n <= 64 (n when none).
Value emitFirstLaneOf(ImplicitLocOpBuilder &b, Value mask);
/// Per lane: how many lanes rank above it (lane permutations and compares).
Value emitLaneRanks(ImplicitLocOpBuilder &b, Value v, bool lowerLaneFirst);

//===----------------------------------------------------------------------===//
// Row buffers (TokenRow.cpp)
//===----------------------------------------------------------------------===//

/// A token's keys (score + bias) and unbiased scores, [E] stack buffers
/// (no keys when only scores are wanted).
struct TokenRow {
  Value keys;
  Value scores;
};

/// Fills the row buffers of token `t` from `source`: logits under
/// `function`, or scores already when `function` is empty.
void emitTokenRow(ImplicitLocOpBuilder &b, Value source,
                  std::optional<ScoreFunction> function, Value bias, Value t,
                  int64_t numExperts, const TokenRow &row);

//===----------------------------------------------------------------------===//
// Strategies
//===----------------------------------------------------------------------===//

/// The buffers of one token's selection, shared by the strategies.
struct SelectionState {
  SelectionConfig config;
  /// How the threshold selection gathers its candidates (Compress or Scan).
  CPUSelection gathering;
  /// E rounded up to a multiple of kVectorWidth.
  int64_t padded;
  TokenRow row;
  /// Rank images of the keys ([padded] i32; removed experts and padding hold
  /// kRemovedRank).
  Value images;
  /// The winners, best first: expert ids ([K] index) and scores ([K] f32).
  Value winnerIds, winnerScores;
};

/// Removes the experts of the groups that are not kept from the images.
class GroupExclusion {
public:
  virtual ~GroupExclusion() = default;
  /// Null when the selection is not group-limited. Vector groups when there
  /// are at most kVectorWidth groups of at most 64 experts, scalar groups
  /// otherwise.
  static std::unique_ptr<GroupExclusion> create(ImplicitLocOpBuilder &b,
                                                const SelectionState &state);
  /// The buffer to fill with images that treat NaN as -inf, if any.
  virtual Value groupImages() const { return {}; }
  virtual void exclude(ImplicitLocOpBuilder &b) const = 0;
};

/// Finds the K winners among the experts that are not removed, in two phases
/// that a token loop can interleave for several tokens.
class WinnerSelection {
public:
  virtual ~WinnerSelection() = default;
  /// Threshold when K <= kVectorWidth, else rounds of an arg-max: in one
  /// vector when the row fits 64 lanes, else a two-level tournament.
  static std::unique_ptr<WinnerSelection> create(ImplicitLocOpBuilder &b,
                                                 const SelectionState &state);
  /// Whether several tokens may be interleaved (prepare of each, then
  /// finish of each).
  virtual bool interleaves() const { return false; }
  /// Work that needs only the images; returns what `finish` needs (or null).
  virtual Value prepare(ImplicitLocOpBuilder &b) const { return {}; }
  virtual void finish(ImplicitLocOpBuilder &b, Value prepared) const = 0;
};

std::unique_ptr<WinnerSelection>
createThresholdSelection(ImplicitLocOpBuilder &b, const SelectionState &state);
std::unique_ptr<WinnerSelection>
createVectorRoundsSelection(ImplicitLocOpBuilder &b,
                            const SelectionState &state);
std::unique_ptr<WinnerSelection>
createTournamentSelection(ImplicitLocOpBuilder &b, const SelectionState &state);
std::unique_ptr<GroupExclusion>
createVectorGroupExclusion(ImplicitLocOpBuilder &b,
                           const SelectionState &state);
std::unique_ptr<GroupExclusion>
createScalarGroupExclusion(ImplicitLocOpBuilder &b,
                           const SelectionState &state);

//===----------------------------------------------------------------------===//
// Selector (Selector.cpp)
//===----------------------------------------------------------------------===//

/// The selection of one token: images, group exclusion, winners.
class Selector {
public:
  Selector(ImplicitLocOpBuilder &b, const SelectionConfig &config,
           CPUSelection gathering);

  const SelectionState &getState() const { return state; }
  const TokenRow &getRow() const { return state.row; }
  bool interleaves() const { return winners->interleaves(); }

  /// Images and group exclusion, then the first phase of the winners.
  Value prepare(ImplicitLocOpBuilder &b) const;
  void finish(ImplicitLocOpBuilder &b, Value prepared) const;

private:
  void emitImages(ImplicitLocOpBuilder &b) const;

  SelectionState state;
  std::unique_ptr<WinnerSelection> winners;
  std::unique_ptr<GroupExclusion> groups;
};

/// The token loop of a selection: `fillRow` fills a token's row buffers,
/// `storeWinners(t, selector, counts)` writes its results and counts its
/// winners in `counts` (a zeroed [E] buffer, or null when nothing is
/// counted). With `options.parallel`, the tokens are split into chunks fixed
/// by their number, run by an scf.parallel loop; each chunk counts into its
/// own row of a scratch buffer and the rows are added to `counts` in chunk
/// order. `options.selection` must be resolved (not Auto).
void emitSelectionLoop(
    ImplicitLocOpBuilder &b, Value tokens, const SelectionConfig &config,
    function_ref<void(ImplicitLocOpBuilder &, Value, const TokenRow &)> fillRow,
    function_ref<void(ImplicitLocOpBuilder &, Value, const Selector &, Value)>
        storeWinners,
    Value counts, const MoEToLoopsOptions &options);

} // namespace mlir::moe

#endif // MOE_LIB_CONVERSION_MOETOSCF_SELECTION_H
