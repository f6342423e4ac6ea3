//===- Stream.cpp - streams and events ------------------------------------===//
//
// Part of moe-mlir.
//
// gpu-to-llvm puts the work of gpu.wait-ordered host code on streams and
// joins them with events.
//
//===----------------------------------------------------------------------===//

#include "CudaRuntime.h"

using namespace moe::cuda;

/// Idle streams kept for reuse; more are destroyed.
constexpr size_t kMaxIdleStreams = 16;

/// An idle stream of the default device, or a new one.
MOE_RT_EXPORT CUstream mgpuStreamCreate() {
  int device = defaultDevice();
  ScopedContext scoped(__func__, device);
  Runtime &rt = runtime();
  {
    std::lock_guard<std::mutex> lock(rt.mutex);
    for (auto it = rt.idleStreams.begin(); it != rt.idleStreams.end(); ++it) {
      if (rt.streamDevices[*it] != device)
        continue;
      CUstream stream = *it;
      rt.idleStreams.erase(it);
      MOE_DEBUG("mgpuStreamCreate() -> %p (reused)",
                static_cast<void *>(stream));
      return stream;
    }
  }
  CUstream stream = nullptr;
  MOE_CU(__func__, OnError::Abort, cuStreamCreate, &stream,
         CU_STREAM_NON_BLOCKING);
  {
    std::lock_guard<std::mutex> lock(rt.mutex);
    rt.streamDevices[stream] = device;
  }
  MOE_DEBUG("mgpuStreamCreate() -> %p", static_cast<void *>(stream));
  return stream;
}

/// Gives a stream back for reuse (work already queued on it stays ordered
/// before the next user's); beyond kMaxIdleStreams it is destroyed.
MOE_RT_EXPORT void mgpuStreamDestroy(CUstream stream) {
  MOE_DEBUG("mgpuStreamDestroy(stream=%p)", static_cast<void *>(stream));
  if (!stream)
    return; // The legacy default stream is never destroyed.
  Runtime &rt = runtime();
  int device = defaultDevice();
  {
    std::lock_guard<std::mutex> lock(rt.mutex);
    auto known = rt.streamDevices.find(stream);
    if (known != rt.streamDevices.end()) {
      device = known->second;
      if (rt.idleStreams.size() < kMaxIdleStreams) {
        rt.idleStreams.push_back(stream);
        return;
      }
      rt.streamDevices.erase(known);
    }
  }
  ScopedContext scoped(__func__, device);
  MOE_CU(__func__, OnError::Continue, cuStreamDestroy, stream);
}

MOE_RT_EXPORT void mgpuStreamSynchronize(CUstream stream) {
  MOE_DEBUG("mgpuStreamSynchronize(stream=%p)", static_cast<void *>(stream));
  ScopedContext scoped(__func__);
  MOE_CU(__func__, OnError::Continue, cuStreamSynchronize, stream);
}

MOE_RT_EXPORT void mgpuStreamWaitEvent(CUstream stream, CUevent event) {
  MOE_DEBUG("mgpuStreamWaitEvent(stream=%p, event=%p)",
            static_cast<void *>(stream), static_cast<void *>(event));
  if (!event) {
    reportError(__func__, OnError::Continue, "null event; nothing to wait on");
    return;
  }
  ScopedContext scoped(__func__);
  MOE_CU(__func__, OnError::Continue, cuStreamWaitEvent, stream, event, 0);
}

MOE_RT_EXPORT CUevent mgpuEventCreate() {
  ScopedContext scoped(__func__);
  CUevent event = nullptr;
  MOE_CU(__func__, OnError::Abort, cuEventCreate, &event,
         CU_EVENT_DISABLE_TIMING);
  MOE_DEBUG("mgpuEventCreate() -> %p", static_cast<void *>(event));
  return event;
}

MOE_RT_EXPORT void mgpuEventDestroy(CUevent event) {
  MOE_DEBUG("mgpuEventDestroy(event=%p)", static_cast<void *>(event));
  if (!event)
    return;
  ScopedContext scoped(__func__);
  MOE_CU(__func__, OnError::Continue, cuEventDestroy, event);
}

MOE_RT_EXPORT void mgpuEventSynchronize(CUevent event) {
  MOE_DEBUG("mgpuEventSynchronize(event=%p)", static_cast<void *>(event));
  if (!event) {
    reportError(__func__, OnError::Continue, "null event; nothing to wait on");
    return;
  }
  ScopedContext scoped(__func__);
  MOE_CU(__func__, OnError::Continue, cuEventSynchronize, event);
}

MOE_RT_EXPORT void mgpuEventRecord(CUevent event, CUstream stream) {
  MOE_DEBUG("mgpuEventRecord(event=%p, stream=%p)", static_cast<void *>(event),
            static_cast<void *>(stream));
  if (!event) {
    reportError(__func__, OnError::Continue, "null event; nothing recorded");
    return;
  }
  ScopedContext scoped(__func__);
  MOE_CU(__func__, OnError::Continue, cuEventRecord, event, stream);
}
