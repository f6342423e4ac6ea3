//===- GPUTarget.h - the GPU mapping of the moe algorithms ------*- C++ -*-===//
//
// Items run as gpu.launch kernels: a thread per item over a grid-stride loop,
// or a block of kBlockSize threads per item whose reductions go through
// workgroup memory. Counts go to a workgroup histogram per block, flushed to
// global memory with atomics. Scratch is device memory (gpu.alloc).
//
//===----------------------------------------------------------------------===//
#ifndef MOE_LIB_CONVERSION_MOETOGPU_GPUTARGET_H
#define MOE_LIB_CONVERSION_MOETOGPU_GPUTARGET_H

#include "moe/Conversion/MoECommon/Target.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

namespace mlir::moe {

constexpr int64_t kWarpSize = 32;
/// Threads of the block-per-item and thread-per-item kernels.
constexpr int64_t kBlockSize = 256;
/// The most blocks a grid-stride kernel launches.
constexpr int64_t kMaxGridBlocks = 1024;
/// Static workgroup memory of a block (a histogram of counts must fit).
constexpr int64_t kMaxWorkgroupBytes = 48 * 1024;
/// Blocks per multiprocessor of the warp-per-token kernels' grids: more
/// than the registers let reside (about 6 blocks of 4 warps), so no SM
/// idles, few enough that each block's setup (the bias copy, the histogram)
/// is spread over many tokens.
constexpr int64_t kWarpBlocksPerSM = 8;
/// The runtime function giving the device's multiprocessor count
/// (moe_cuda_runtime asks the driver; the emulator answers a fixed value).
constexpr StringLiteral kMultiProcessorCountFn = "moeGpuMultiProcessorCount";

/// The ids of a 1-D kernel being built.
struct KernelContext {
  gpu::LaunchOp launch;
  Value blockId;
  Value threadId;
  Value blockSize;
  Value gridSize;

  /// The workgroup buffers of the launch.
  ArrayRef<BlockArgument> workgroup() const {
    return gpu::LaunchOp(launch).getWorkgroupAttributions();
  }
};

using KernelBodyFn =
    function_ref<void(ImplicitLocOpBuilder &, const KernelContext &)>;

/// Emits a 1-D `gpu.launch`, named `name`, of `numBlocks` blocks of
/// `blockSize` threads with the given workgroup buffers; nothing is launched
/// when `numBlocks` is zero.
void emitLaunch(ImplicitLocOpBuilder &b, StringRef name, Value numBlocks,
                int64_t blockSize, TypeRange workgroup, KernelBodyFn body);

/// The blocks of a grid-stride kernel that needs at most `needed` blocks:
/// `blocksPerSM` per multiprocessor of the device, asked of the runtime
/// when the kernel is launched (the grid follows the device, not T).
Value emitDeviceGridBlocks(ImplicitLocOpBuilder &b, Value needed,
                           int64_t blocksPerSM);

/// A rank-1 buffer type in workgroup memory.
MemRefType getWorkgroupBufferType(MLIRContext *ctx, int64_t size,
                                  Type elementType);

/// Atomically adds `value` to `memref[index]` (global or workgroup memory).
void emitAtomicAdd(ImplicitLocOpBuilder &b, Value value, Value memref,
                   Value index);

/// Zeroes a workgroup histogram of `size` entries with the block's threads,
/// then (with `barrier`) waits for the block.
void emitZeroWorkgroup(ImplicitLocOpBuilder &b, const KernelContext &ctx,
                       Value hist, int64_t size, bool barrier = true);

/// Copies the `size` entries of a rank-1 global buffer to a workgroup buffer
/// of scalars, or of vectors (size / lanes of them), with the block's
/// threads (no barrier).
void emitCopyToWorkgroup(ImplicitLocOpBuilder &b, const KernelContext &ctx,
                         Value global, Value workgroup, int64_t size);

/// Adds the non-zero entries of a workgroup histogram to global counts.
void emitFlushHistogram(ImplicitLocOpBuilder &b, const KernelContext &ctx,
                        Value hist, Value counts, int64_t size);

/// Fails, with a diagnostic at `op`, when a histogram of `numCounters`
/// elements of `type` does not fit in a block's workgroup memory.
LogicalResult checkHistogramFits(Operation *op, int64_t numCounters,
                                 Type type);

class GPUTarget : public LoweringTarget {
public:
  LogicalResult checkSupported(Operation *op) const override;
  void forEachItem(ImplicitLocOpBuilder &b, StringRef name, Value n,
                   ItemKind kind, ItemBodyFn body) const override;
  void count(ImplicitLocOpBuilder &b, StringRef name, Value counts, Value n,
             function_ref<void(ImplicitLocOpBuilder &, Value, CountFn)> body)
      const override;
  void fill(ImplicitLocOpBuilder &b, StringRef name, Value memref,
            TypedAttr value) const override;
  void forEachPairByExpert(
      ImplicitLocOpBuilder &b, StringRef name, Value indices,
      int64_t numExperts,
      function_ref<void(ImplicitLocOpBuilder &, Value, Value, Value)> body)
      const override;
  Value allocScratch(ImplicitLocOpBuilder &b, MemRefType type) const override;
  void releaseScratch(ImplicitLocOpBuilder &b, Value buffer) const override;
  Value loadScalar(ImplicitLocOpBuilder &b, Value buffer) const override;
};

} // namespace mlir::moe

#endif // MOE_LIB_CONVERSION_MOETOGPU_GPUTARGET_H
