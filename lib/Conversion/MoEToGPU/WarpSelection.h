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

/// One token's experts spread over a warp in chunks of 32 * width experts:
/// in each chunk, lane l holds `width` consecutive experts (its slots), from
/// l * width on. Width 1 is lane l holding experts l, l + 32, ...; a wider
/// row is read with one vector load (up to 16 bytes) per lane and chunk.
/// Each lane's slots are in ascending expert order either way.
struct WarpRow {
  int64_t numExperts;
  int64_t width;
  SmallVector<Value> expert;  // i32 expert index of each slot
  SmallVector<Value> inRange; // i1: the slot holds an expert (< E)
  SmallVector<Value> clamped; // index, clamped into [0, E) for loads
  /// Per chunk: the first expert of the lane's slots, clamped so that the
  /// chunk's load stays within the row (E is a multiple of the width).
  SmallVector<Value> chunkStart;

  WarpRow(ImplicitLocOpBuilder &b, Value lane, int64_t numExperts,
          int64_t width = 1);
  size_t numSlots() const { return expert.size(); }
  /// The lane that holds expert `e` (an i32).
  Value laneOf(ImplicitLocOpBuilder &b, Value e) const;
};

/// The width of a WarpRow over the rows of `type` (rank 1 or 2, identity
/// layout): the most elements, up to 16 bytes, of which the row holds a
/// whole number of warp-wide chunks (so that a lane holds E / 32 experts),
/// else 1. With `rowSum` (the row is summed, as softmax does) it is 1:
/// lanes holding other experts would add them in another order, and the
/// results would change in the last bit.
int64_t getVectorRowWidth(MemRefType type, bool rowSum = false);

/// A workgroup buffer of `numExperts` elements of `type` for rows of
/// `width`: vectors of `width` elements (aligned like the row's loads) when
/// wider than 1.
MemRefType getWarpRowWorkgroupType(MLIRContext *ctx, int64_t numExperts,
                                   int64_t width, Type type);

/// Whether the rows of `memref` start on boundaries of its chunks (16
/// bytes at most; getVectorRowWidth), checked on its aligned pointer when
/// the kernel runs (an i1).
Value emitRowsAligned(ImplicitLocOpBuilder &b, Value memref);

/// The row's slots of `source` (row `t` of a rank-2 buffer, or the rank-1
/// buffer itself when `t` is null), in f32. With `vectorLoads`, a wider
/// row is read a chunk at a time: a vector load (of up to 16 bytes; the rows
/// must be aligned to it), or one element of a buffer of vectors (the
/// chunks, in workgroup memory).
SmallVector<Value> emitWarpRowLoad(ImplicitLocOpBuilder &b, const WarpRow &row,
                                   Value source, Value t, bool vectorLoads);

/// Fails, with a diagnostic naming the op the user wrote, for shapes past
/// the limits of the warp selection.
LogicalResult checkWarpSelection(Operation *op, const SelectionConfig &config);

/// Per-token code of a warp-per-token kernel: the (clamped) token, whether
/// it is real, the lane, and whether the rows may be read with vector
/// loads.
using WarpTokenFn = function_ref<void(ImplicitLocOpBuilder &,
                                      const KernelContext &, Value, Value,
                                      Value, bool)>;

/// A warp-per-token kernel, named `name`, over `numTokens` rows: a grid
/// sized from the device's multiprocessors whose blocks take
/// `warpsPerBlock` tokens at a time, grid-stride. `setup` (optional) runs
/// once per block before the tokens, followed by a barrier; `finish`
/// (optional) once per block after them. With `vectorRows`, the token loop
/// comes in two versions, chosen when the kernel starts: vector loads when
/// the rows of `vectorRows` are aligned, element loads otherwise.
void emitWarpPerToken(ImplicitLocOpBuilder &b, StringRef name,
                      Value numTokens, int64_t warpsPerBlock,
                      TypeRange workgroup, WarpTokenFn body,
                      KernelBodyFn setup = nullptr,
                      KernelBodyFn finish = nullptr, Value vectorRows = {});

/// Softmax statistics of a token held in a warp, from its f32 logits.
RowStats emitWarpRowStats(ImplicitLocOpBuilder &b, ScoreFunction function,
                          const WarpRow &row, ArrayRef<Value> logits);

/// The keys (score + bias) and unbiased scores of a token's slots, from its
/// inputs (f32 slots): logits under `function`, or scores already when
/// `function` is empty. `bias` holds the bias of each slot, or is empty.
std::pair<SmallVector<Value>, SmallVector<Value>>
emitWarpKeys(ImplicitLocOpBuilder &b, const WarpRow &row,
             ArrayRef<Value> inputs, std::optional<ScoreFunction> function,
             ArrayRef<Value> bias);

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
