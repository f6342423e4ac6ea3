//===- WarpSelection.h - a token's selection by a GPU warp ------*- C++ -*-===//
//
// Warp per token: lane l holds experts l, l + 32, ... of the token (its
// slots) in registers; a selection round is a warp-wide arg-max (two
// redux.sync on integer rank images on sm_80+, an xor shuffle butterfly
// before) and every lane ends with the same winners.
//
//===----------------------------------------------------------------------===//
#ifndef MOE_LIB_CONVERSION_MOETOGPU_WARPSELECTION_H
#define MOE_LIB_CONVERSION_MOETOGPU_WARPSELECTION_H

#include "GPUTarget.h"

#include "moe/Conversion/MoECommon/RoutingMath.h"
#include "moe/Dialect/MoE/IR/MoEOps.h"

#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::moe {

/// The most experts one warp holds in registers (32 per lane).
constexpr int64_t kMaxWarpExperts = kWarpSize * 32;
/// Kept groups are a 64-bit mask.
constexpr int64_t kMaxGroups = 64;

/// A (key, expert) candidate of a selection round, with the unbiased score it
/// carries and whether it may be chosen.
struct Candidate {
  Value key;     // f32
  Value index;   // i32
  Value payload; // f32, or null when not carried
  Value valid;   // i1
};

/// One token's experts spread over a warp: lane l holds experts l, l + 32,
/// ... (the slots), so each lane's slots are in ascending expert order.
struct WarpRow {
  int64_t numExperts;
  SmallVector<Value> expert;  // i32 expert index of each slot
  SmallVector<Value> inRange; // i1: the slot holds an expert (< E)
  SmallVector<Value> clamped; // index, clamped into [0, E) for loads

  WarpRow(ImplicitLocOpBuilder &b, Value lane, int64_t numExperts);
  size_t numSlots() const { return expert.size(); }
};

/// Fails, with a diagnostic naming the op the user wrote, for shapes past
/// the limits of the warp selection.
LogicalResult checkWarpSelection(Operation *op, const SelectionConfig &config);

/// A warp-per-token launch over `numTokens` rows, named `name`; `body` gets
/// the (clamped) token, whether it is real and the lane.
void emitWarpPerToken(
    ImplicitLocOpBuilder &b, StringRef name, Value numTokens,
    int64_t warpsPerBlock, TypeRange workgroup,
    function_ref<void(ImplicitLocOpBuilder &, const KernelContext &, Value,
                      Value, Value)>
        body);

/// Softmax statistics of a token held in a warp, from its f32 logits.
RowStats emitWarpRowStats(ImplicitLocOpBuilder &b, ScoreFunction function,
                          const WarpRow &row, ArrayRef<Value> logits);

/// The keys (score + bias) and unbiased scores of token t's slots.
std::pair<SmallVector<Value>, SmallVector<Value>>
emitWarpKeys(ImplicitLocOpBuilder &b, const WarpRow &row, Value source,
             std::optional<ScoreFunction> function, Value bias, Value t);

/// Keys and scores in registers, optional group limiting, then K arg-max
/// rounds; every lane ends with the same K winners, best first.
SmallVector<Candidate> emitWarpSelection(ImplicitLocOpBuilder &b,
                                         const WarpRow &row,
                                         ArrayRef<Value> keys,
                                         ArrayRef<Value> scores,
                                         const SelectionConfig &config,
                                         bool redux);

/// Lane 0 of a real token stores its winners: gate weights and indices;
/// with a histogram, it counts them in workgroup memory.
void emitStoreWarpWinners(ImplicitLocOpBuilder &b, ArrayRef<Candidate> winners,
                          Value t, Value real, Value lane, Value weights,
                          Value indices, Value hist, bool normalize,
                          const APFloat &scale);

} // namespace mlir::moe

#endif // MOE_LIB_CONVERSION_MOETOGPU_WARPSELECTION_H
