//===- GpuEmulatorTest.cpp - the GPU emulator's warp semantics ------------===//
//
// Calls moe_gpu_emulator's entry points (GpuEmulatorABI.h) directly from C++
// "kernels", for what lowered MLIR never produces: CUDA's segmented shuffles
// (width < 32, whose clamp operand packs a segment mask), 2-D blocks, and
// several blocks. The expected values are CUDA's documented results of
// __shfl_sync / __shfl_up_sync / __shfl_down_sync / __shfl_xor_sync with a
// width, and of __reduce_*_sync.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/GpuEmulatorABI.h"

#include "gtest/gtest.h"

#include <cstdint>
#include <vector>

extern "C" {
uint32_t moeEmuSpecialRegister(int32_t which);
uint32_t moeEmuShuffle(int32_t kind, uint32_t mask, uint32_t value,
                       uint32_t offset, uint32_t clamp);
int32_t moeEmuShufflePredicate(void);
uint32_t moeEmuRedux(int32_t kind, uint32_t value, uint32_t mask);
void moeEmuBarrier(void);
void moeEmuLaunch(const char *kernel, void (*thunk)(void **), void **params,
                  int64_t gridX, int64_t gridY, int64_t gridZ, int64_t blockX,
                  int64_t blockY, int64_t blockZ, int32_t dynamicSharedBytes,
                  void **shared, const int64_t *sharedBytes,
                  int32_t numShared);
}

namespace {

/// CUDA's clamp operand for a shuffle of `width` lanes: the segment mask in
/// bits 8-12, and the last lane (0 for up) in bits 0-4.
uint32_t cudaClamp(int32_t kind, uint32_t width) {
  uint32_t segment = (32 - width) << 8;
  return kind == MOE_EMU_SHFL_UP ? segment : (segment | 0x1f);
}

constexpr uint32_t kFullMask = 0xffffffffu;

struct ShuffleCase {
  int32_t kind;
  uint32_t offset;
  uint32_t width;
};

/// Each thread shuffles 100 + lane with `params[0]`'s case and stores the
/// result and the valid flag at its linear index.
void shuffleKernel(void **params) {
  const auto &c = **reinterpret_cast<ShuffleCase **>(params[0]);
  auto *out = *reinterpret_cast<std::vector<int64_t> **>(params[1]);
  uint32_t lane = moeEmuSpecialRegister(MOE_EMU_SREG_LANEID);
  uint32_t tid = moeEmuSpecialRegister(MOE_EMU_SREG_TID_X);
  uint32_t r = moeEmuShuffle(c.kind, kFullMask, 100 + lane, c.offset,
                             cudaClamp(c.kind, c.width));
  (*out)[tid] = moeEmuShufflePredicate() ? int64_t{r} : -int64_t{r};
}

std::vector<int64_t> runShuffle(ShuffleCase c) {
  std::vector<int64_t> out(32, 0);
  ShuffleCase *casePtr = &c;
  std::vector<int64_t> *outPtr = &out;
  void *params[] = {&casePtr, &outPtr};
  moeEmuLaunch("shuffle", shuffleKernel, params, 1, 1, 1, 32, 1, 1, 0,
               nullptr, nullptr, 0);
  return out;
}

/// CUDA's result for lane `l`: the source lane's value if it is in l's
/// segment (valid, positive here), else l's own value (invalid, negative).
int64_t expected(ShuffleCase c, int64_t l) {
  int64_t w = c.width, base = l / w * w, src = l;
  switch (c.kind) {
  case MOE_EMU_SHFL_UP:
    src = l - c.offset;
    break;
  case MOE_EMU_SHFL_DOWN:
    src = l + c.offset;
    break;
  case MOE_EMU_SHFL_BFLY:
    src = l ^ c.offset;
    break;
  case MOE_EMU_SHFL_IDX:
    return 100 + base + (c.offset % w);
  }
  bool inSegment = src >= base && src < base + w;
  return inSegment ? 100 + src : -(100 + l);
}

TEST(GpuEmulatorTest, SegmentedShufflesFollowCuda) {
  for (int32_t kind : {MOE_EMU_SHFL_UP, MOE_EMU_SHFL_DOWN, MOE_EMU_SHFL_BFLY,
                       MOE_EMU_SHFL_IDX})
    for (uint32_t width : {2u, 4u, 8u, 16u, 32u})
      for (uint32_t offset : {0u, 1u, 3u, 5u})
        if (kind != MOE_EMU_SHFL_BFLY || offset < width) {
          ShuffleCase c{kind, offset, width};
          std::vector<int64_t> got = runShuffle(c);
          for (int64_t l = 0; l < 32; ++l)
            EXPECT_EQ(got[l], expected(c, l))
                << "kind " << kind << " width " << width << " offset "
                << offset << " lane " << l;
        }
}

/// A 2-D block of 8 x 8 threads in a grid of 3 blocks: warps are formed in
/// x-major linear order, reductions see exactly their warp, and a barrier
/// makes the block's workgroup buffer visible to every thread.
void reduceKernel(void **params) {
  auto *out = *reinterpret_cast<std::vector<int64_t> **>(params[0]);
  auto *shared = *reinterpret_cast<uint32_t **>(params[1]);
  uint32_t x = moeEmuSpecialRegister(MOE_EMU_SREG_TID_X);
  uint32_t y = moeEmuSpecialRegister(MOE_EMU_SREG_TID_Y);
  uint32_t block = moeEmuSpecialRegister(MOE_EMU_SREG_CTAID_X);
  uint32_t linear = y * 8 + x;
  uint32_t sum = moeEmuRedux(MOE_EMU_REDUX_ADD, linear, kFullMask);
  uint32_t max = moeEmuRedux(MOE_EMU_REDUX_MAX, block * 1000 + linear,
                             kFullMask);
  shared[linear] = sum;
  moeEmuBarrier();
  uint32_t other = shared[(linear + 32) % 64];
  (*out)[block * 64 + linear] = int64_t{max} * 1000000 + other;
}

TEST(GpuEmulatorTest, WarpsOfA2DBlockAndBarriers) {
  std::vector<int64_t> out(3 * 64, 0);
  std::vector<int64_t> *outPtr = &out;
  uint32_t buffer[64];
  uint32_t *bufferPtr = buffer;
  void *params[] = {&outPtr, &bufferPtr};
  void *shared[] = {buffer};
  int64_t bytes[] = {sizeof(buffer)};
  moeEmuLaunch("reduce", reduceKernel, params, 3, 1, 1, 8, 8, 1, 0, shared,
               bytes, 1);
  // Warp 0 holds linear ids 0-31 (sum 496), warp 1 holds 32-63 (sum 1520).
  for (int64_t block = 0; block < 3; ++block)
    for (int64_t linear = 0; linear < 64; ++linear) {
      int64_t warpMax = block * 1000 + (linear < 32 ? 31 : 63);
      int64_t otherSum = linear < 32 ? 1520 : 496;
      EXPECT_EQ(out[block * 64 + linear], warpMax * 1000000 + otherSum)
          << "block " << block << " thread " << linear;
    }
}

} // namespace
