//===- CudaRuntime.h - moe_cuda_runtime internals ---------------*- C++ -*-===//
//
// Part of moe-mlir.
//
// `moe_cuda_runtime` implements, over the CUDA driver API, the mgpu*
// functions that MLIR 22's GPU lowering makes host code call
// (docs/runtime.md): Module.cpp loads modules and launches kernels,
// Stream.cpp has streams and events, Memory.cpp allocations, copies and host
// registration, Context.cpp the driver, the primary contexts and the default
// device.
//
// Nothing is initialized at load time: the first call, usually from a global
// constructor of the lowered program, sets up the driver and the default
// device's primary context. The state is a heap object that is never
// destroyed, so calls from global destructors always find it. Every driver
// call is checked; functions that must hand back a handle or a pointer abort
// when they cannot, everything else reports and carries on, like upstream's
// wrappers (MOE_CUDA_RUNTIME_ABORT_ON_ERROR=1 makes every error fatal).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_RUNTIME_CUDA_CUDARUNTIME_H
#define MOE_LIB_RUNTIME_CUDA_CUDARUNTIME_H

#include <cuda.h>

#include <atomic>
#include <cstddef>
#include <mutex>
#include <unordered_map>
#include <vector>

#define MOE_RT_EXPORT extern "C" __attribute__((visibility("default")))

namespace moe::cuda {

constexpr const char *kTag = "moe_cuda_runtime";

//===----------------------------------------------------------------------===//
// Diagnostics
//===----------------------------------------------------------------------===//

/// MOE_CUDA_RUNTIME_DEBUG is set: every call is logged.
bool debugEnabled();

/// Prints `<tag>: <message>` to stderr.
__attribute__((format(printf, 1, 2))) void debugPrint(const char *fmt, ...);

#define MOE_DEBUG(...)                                                         \
  do {                                                                         \
    if (::moe::cuda::debugEnabled())                                           \
      ::moe::cuda::debugPrint(__VA_ARGS__);                                    \
  } while (0)

enum class OnError { Continue, Abort };

/// Reports a failed driver call of `caller`; true when `result` is success.
/// `detail` (may be null) is appended to the message.
bool reportCuda(CUresult result, const char *api, const char *caller,
                OnError policy, const char *detail = nullptr);

/// Calls a driver function and reports its failure. `api` is stringized as
/// written (e.g. "cuMemAlloc", not the versioned "cuMemAlloc_v2").
#define MOE_CU(caller, policy, api, ...)                                       \
  ::moe::cuda::reportCuda(api(__VA_ARGS__), #api, caller, policy)

/// A non-driver error (bad argument from the generated code, ...).
__attribute__((format(printf, 3, 4))) void
reportError(const char *caller, OnError policy, const char *fmt, ...);

#define MOE_FATAL(caller, ...)                                                 \
  do {                                                                         \
    ::moe::cuda::reportError(caller, ::moe::cuda::OnError::Abort,              \
                             __VA_ARGS__);                                     \
    __builtin_unreachable();                                                   \
  } while (0)

//===----------------------------------------------------------------------===//
// Runtime state
//===----------------------------------------------------------------------===//

struct Runtime {
  std::once_flag driverOnce;
  int deviceCount = 0;
  /// Device used by every call that is not tied to a module. Process-wide
  /// (not thread-local) so that async worker threads agree with main.
  std::atomic<int> defaultDevice{0};

  std::mutex mutex; // Guards the members below.
  /// Primary context of each device, retained on first use, never released.
  std::vector<CUcontext> contexts;
  /// Device each live module was loaded on.
  std::unordered_map<CUmodule, int> moduleDevices;
  /// Device of every stream this runtime created.
  std::unordered_map<CUstream, int> streamDevices;
  /// Streams given back by mgpuStreamDestroy, for reuse: lowered host code
  /// creates and destroys a stream around every synchronous launch, and
  /// stream creation costs as much as a small kernel.
  std::vector<CUstream> idleStreams;
};

/// The process's runtime state (never destroyed).
Runtime &runtime();

/// Initializes the driver once; aborts when no device is usable.
void initDriver(const char *caller);

inline int defaultDevice() { return runtime().defaultDevice.load(); }

/// Makes the primary context of a device current on the calling thread for
/// the lifetime of the object and restores the previous one afterwards.
/// No push/pop happens when that context is already current.
class ScopedContext {
public:
  ScopedContext(const char *caller, int device);
  explicit ScopedContext(const char *caller)
      : ScopedContext(caller, defaultDevice()) {}
  ~ScopedContext();
  ScopedContext(const ScopedContext &) = delete;
  ScopedContext &operator=(const ScopedContext &) = delete;

  /// The driver is shutting down (process exit).
  bool driverDeinitialized() const { return deinitialized; }

private:
  const char *caller;
  bool pushed = false;
  bool deinitialized = false;
};

} // namespace moe::cuda

#endif // MOE_LIB_RUNTIME_CUDA_CUDARUNTIME_H
