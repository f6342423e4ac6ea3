//===- HostStubs.cpp - mgpu* functions over host memory -------------------===//
//
// Part of moe-mlir.
//
// The mgpu* functions that gpu-to-llvm makes the lowered host code call,
// for the emulator: device memory is host memory, and streams and events
// are placeholders (every operation completes before its call returns).
//
//===----------------------------------------------------------------------===//

#include "Emulator.h"

#include <algorithm>
#include <cinttypes>
#include <cstdlib>
#include <cstring>

using namespace moe::emu;

/// cudaMalloc's alignment.
constexpr size_t kAllocationAlignment = 256;

namespace {
char streamToken, eventToken;
} // namespace

MOE_EMU_EXPORT void *mgpuStreamCreate() { return &streamToken; }
MOE_EMU_EXPORT void mgpuStreamDestroy(void *) {}
MOE_EMU_EXPORT void mgpuStreamSynchronize(void *) {}
MOE_EMU_EXPORT void mgpuStreamWaitEvent(void *, void *) {}
MOE_EMU_EXPORT void *mgpuEventCreate() { return &eventToken; }
MOE_EMU_EXPORT void mgpuEventDestroy(void *) {}
MOE_EMU_EXPORT void mgpuEventSynchronize(void *) {}
MOE_EMU_EXPORT void mgpuEventRecord(void *, void *) {}
MOE_EMU_EXPORT void mgpuSetDefaultDevice(int32_t) {}

/// The emulated device's multiprocessor count: a small fixed value, so that
/// the grid-stride kernels of the moe lowering take several turns of their
/// loops on the test inputs.
MOE_EMU_EXPORT int32_t moeGpuMultiProcessorCount() { return 2; }

/// gpu.alloc: poisoned host memory (a GPU leaves it undefined). Zero bytes
/// give a null pointer, like the CUDA runtime.
MOE_EMU_EXPORT void *mgpuMemAlloc(intptr_t sizeBytes, void *, int8_t) {
  if (sizeBytes < 0)
    fatal("mgpuMemAlloc: negative allocation size %" PRIdPTR, sizeBytes);
  if (sizeBytes == 0)
    return nullptr;
  // Exactly the bytes requested, so that AddressSanitizer
  // (scripts/asan-check --gpu-emulator) sees any access past the end.
  void *ptr = nullptr;
  size_t bytes = static_cast<size_t>(sizeBytes);
  if (posix_memalign(&ptr, kAllocationAlignment, bytes) != 0)
    fatal("mgpuMemAlloc: out of memory (%" PRIdPTR " bytes)", sizeBytes);
  std::memset(ptr, kPoisonByte, bytes);
  return ptr;
}

MOE_EMU_EXPORT void mgpuMemFree(void *ptr, void *) { std::free(ptr); }

MOE_EMU_EXPORT void mgpuMemcpy(void *dst, void *src, intptr_t sizeBytes,
                               void *) {
  if (sizeBytes < 0)
    fatal("mgpuMemcpy: negative copy size %" PRIdPTR, sizeBytes);
  if (sizeBytes > 0)
    std::memmove(dst, src, static_cast<size_t>(sizeBytes));
}

MOE_EMU_EXPORT void mgpuMemset32(void *dst, uint32_t value, intptr_t count,
                                 void *) {
  std::fill_n(static_cast<uint32_t *>(dst), std::max<intptr_t>(count, 0),
              value);
}

MOE_EMU_EXPORT void mgpuMemset16(void *dst, uint16_t value, intptr_t count,
                                 void *) {
  std::fill_n(static_cast<uint16_t *>(dst), std::max<intptr_t>(count, 0),
              value);
}

MOE_EMU_EXPORT void mgpuMemHostRegisterMemRef(int64_t, void *, int64_t) {}
MOE_EMU_EXPORT void mgpuMemHostUnregisterMemRef(int64_t, void *, int64_t) {}
