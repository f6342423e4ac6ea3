//===- Memory.cpp - allocations, copies, memsets, host registration -------===//
//
// Part of moe-mlir.
//
//===----------------------------------------------------------------------===//

#include "CudaRuntime.h"

#include "mlir/ExecutionEngine/CRunnerUtils.h"

#include <cinttypes>
#include <cstdio>

using namespace moe::cuda;

/// gpu.alloc: device memory, or managed memory with `host_shared`
/// (`isHostShared` is an i8 0/1). Zero bytes give a null pointer without
/// calling the driver. The allocation is synchronous; `stream` is unused.
MOE_RT_EXPORT void *mgpuMemAlloc(intptr_t sizeBytes, CUstream stream,
                                 int8_t isHostShared) {
  MOE_DEBUG("mgpuMemAlloc(bytes=%" PRIdPTR ", stream=%p, hostShared=%d)",
            sizeBytes, static_cast<void *>(stream),
            static_cast<int>(isHostShared));
  if (sizeBytes < 0)
    MOE_FATAL(__func__, "negative allocation size %" PRIdPTR, sizeBytes);
  if (sizeBytes == 0)
    return nullptr;
  ScopedContext scoped(__func__);
  CUdeviceptr ptr = 0;
  CUresult result =
      isHostShared
          ? cuMemAllocManaged(&ptr, static_cast<size_t>(sizeBytes),
                              CU_MEM_ATTACH_GLOBAL)
          : cuMemAlloc(&ptr, static_cast<size_t>(sizeBytes));
  if (result != CUDA_SUCCESS) {
    char detail[128];
    std::snprintf(detail, sizeof(detail), "%" PRIdPTR " bytes requested",
                  sizeBytes);
    reportCuda(result, isHostShared ? "cuMemAllocManaged" : "cuMemAlloc",
               __func__, OnError::Abort, detail);
  }
  MOE_DEBUG("mgpuMemAlloc -> %p", reinterpret_cast<void *>(ptr));
  return reinterpret_cast<void *>(ptr);
}

/// gpu.dealloc. Work already queued on `stream` is waited for first, so an
/// async dealloc never frees memory that the stream still uses.
MOE_RT_EXPORT void mgpuMemFree(void *ptr, CUstream stream) {
  MOE_DEBUG("mgpuMemFree(ptr=%p, stream=%p)", ptr, static_cast<void *>(stream));
  if (!ptr)
    return; // Zero-byte allocation.
  ScopedContext scoped(__func__);
  if (stream)
    MOE_CU(__func__, OnError::Continue, cuStreamSynchronize, stream);
  MOE_CU(__func__, OnError::Continue, cuMemFree,
         reinterpret_cast<CUdeviceptr>(ptr));
}

/// gpu.memcpy: `sizeBytes` bytes, any direction (unified addressing).
MOE_RT_EXPORT void mgpuMemcpy(void *dst, void *src, intptr_t sizeBytes,
                              CUstream stream) {
  MOE_DEBUG("mgpuMemcpy(dst=%p, src=%p, bytes=%" PRIdPTR ", stream=%p)", dst,
            src, sizeBytes, static_cast<void *>(stream));
  if (sizeBytes <= 0) {
    if (sizeBytes < 0)
      reportError(__func__, OnError::Continue,
                  "negative copy size %" PRIdPTR "; nothing copied",
                  sizeBytes);
    return;
  }
  ScopedContext scoped(__func__);
  CUresult result = cuMemcpyAsync(reinterpret_cast<CUdeviceptr>(dst),
                                  reinterpret_cast<CUdeviceptr>(src),
                                  static_cast<size_t>(sizeBytes), stream);
  if (result != CUDA_SUCCESS) {
    char detail[160];
    std::snprintf(detail, sizeof(detail),
                  "dst=%p src=%p bytes=%" PRIdPTR, dst, src, sizeBytes);
    reportCuda(result, "cuMemcpyAsync", __func__, OnError::Continue, detail);
  }
}

/// gpu.memset on 32-bit elements: `count` is a number of elements.
MOE_RT_EXPORT void mgpuMemset32(void *dst, uint32_t value, intptr_t count,
                                CUstream stream) {
  MOE_DEBUG("mgpuMemset32(dst=%p, value=0x%08" PRIx32 ", count=%" PRIdPTR
            ", stream=%p)",
            dst, value, count, static_cast<void *>(stream));
  if (count <= 0)
    return;
  ScopedContext scoped(__func__);
  MOE_CU(__func__, OnError::Continue, cuMemsetD32Async,
         reinterpret_cast<CUdeviceptr>(dst), static_cast<unsigned int>(value),
         static_cast<size_t>(count), stream);
}

/// gpu.memset on 16-bit elements: `count` is a number of elements.
MOE_RT_EXPORT void mgpuMemset16(void *dst, uint16_t value, intptr_t count,
                                CUstream stream) {
  MOE_DEBUG("mgpuMemset16(dst=%p, value=0x%04x, count=%" PRIdPTR
            ", stream=%p)",
            dst, static_cast<unsigned>(value), count,
            static_cast<void *>(stream));
  if (count <= 0)
    return;
  ScopedContext scoped(__func__);
  MOE_CU(__func__, OnError::Continue, cuMemsetD16Async,
         reinterpret_cast<CUdeviceptr>(dst),
         static_cast<unsigned short>(value), static_cast<size_t>(count),
         stream);
}

namespace {

/// The byte range covered by the elements of a ranked memref descriptor.
struct ByteSpan {
  char *begin = nullptr;
  uint64_t bytes = 0;
};

ByteSpan memrefSpan(int64_t rank, void *descriptor, int64_t elementSizeBytes) {
  ::UnrankedMemRefType<char> unranked{rank, descriptor};
  DynamicMemRefType<char> memref(unranked);
  int64_t lowest = 0, highest = 0; // Element offsets relative to the start.
  for (int64_t i = 0; i < rank; ++i) {
    int64_t size = memref.sizes[i];
    if (size <= 0)
      return {}; // Empty memref.
    int64_t extent = (size - 1) * memref.strides[i];
    if (extent >= 0)
      highest += extent;
    else
      lowest += extent;
  }
  ByteSpan span;
  span.begin = memref.data + (memref.offset + lowest) * elementSizeBytes;
  span.bytes = static_cast<uint64_t>(highest - lowest + 1) *
               static_cast<uint64_t>(elementSizeBytes);
  return span;
}

/// The bytes of the memref that `caller` (un)registers; empty after
/// reporting an invalid descriptor.
ByteSpan hostRange(const char *caller, const char *action, int64_t rank,
                   void *descriptor, int64_t elementSizeBytes) {
  MOE_DEBUG("%s(rank=%" PRId64 ", descriptor=%p, elementBytes=%" PRId64 ")",
            caller, rank, descriptor, elementSizeBytes);
  if (descriptor && rank >= 0 && elementSizeBytes > 0)
    return memrefSpan(rank, descriptor, elementSizeBytes);
  reportError(caller, OnError::Continue,
              "invalid memref (descriptor=%p, rank=%" PRId64
              ", element size %" PRId64 "); nothing %s",
              descriptor, rank, elementSizeBytes, action);
  return {};
}

} // namespace

/// gpu.host_register: `descriptor` points to a ranked memref descriptor of
/// rank `rank` (the two fields of an unranked memref). The whole byte range
/// spanned by the memref's elements is page-locked (dense or strided).
MOE_RT_EXPORT void mgpuMemHostRegisterMemRef(int64_t rank, void *descriptor,
                                             int64_t elementSizeBytes) {
  ByteSpan span = hostRange(__func__, "registered", rank, descriptor,
                            elementSizeBytes);
  if (!span.begin || span.bytes == 0)
    return;
  ScopedContext scoped(__func__);
  CUresult result =
      cuMemHostRegister(span.begin, static_cast<size_t>(span.bytes), 0);
  if (result != CUDA_SUCCESS) {
    char detail[128];
    std::snprintf(detail, sizeof(detail), "ptr=%p bytes=%" PRIu64,
                  static_cast<void *>(span.begin), span.bytes);
    reportCuda(result, "cuMemHostRegister", __func__, OnError::Continue,
               detail);
  }
}

/// gpu.host_unregister: same descriptor as for mgpuMemHostRegisterMemRef.
MOE_RT_EXPORT void mgpuMemHostUnregisterMemRef(int64_t rank, void *descriptor,
                                               int64_t elementSizeBytes) {
  ByteSpan span = hostRange(__func__, "unregistered", rank, descriptor,
                            elementSizeBytes);
  if (!span.begin || span.bytes == 0)
    return; // Empty memrefs are never registered.
  ScopedContext scoped(__func__);
  MOE_CU(__func__, OnError::Continue, cuMemHostUnregister, span.begin);
}
