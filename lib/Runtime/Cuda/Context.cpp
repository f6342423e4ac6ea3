//===- Context.cpp - driver, primary contexts, devices, errors ------------===//
//
// Part of moe-mlir.
//
//===----------------------------------------------------------------------===//

#include "CudaRuntime.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

using namespace moe::cuda;

//===----------------------------------------------------------------------===//
// Configuration and diagnostics
//===----------------------------------------------------------------------===//

namespace {

bool envFlag(const char *name) {
  const char *value = std::getenv(name);
  return value && *value && std::strcmp(value, "0") != 0;
}

struct Config {
  bool debug;
  bool abortOnError;
};

const Config &config() {
  // Read once per process, on first use.
  static const Config cfg{envFlag("MOE_CUDA_RUNTIME_DEBUG"),
                          envFlag("MOE_CUDA_RUNTIME_ABORT_ON_ERROR")};
  return cfg;
}

[[noreturn]] void abortProcess() {
  std::fprintf(stderr, "%s: aborting\n", kTag);
  std::fflush(stderr);
  std::abort();
}

const char *cudaErrorName(CUresult result) {
  const char *name = nullptr;
  if (cuGetErrorName(result, &name) != CUDA_SUCCESS || !name)
    name = "<unknown CUresult>";
  return name;
}

const char *cudaErrorString(CUresult result) {
  const char *text = nullptr;
  if (cuGetErrorString(result, &text) != CUDA_SUCCESS || !text)
    text = "no description";
  return text;
}

} // namespace

bool moe::cuda::debugEnabled() { return config().debug; }

void moe::cuda::debugPrint(const char *fmt, ...) {
  // One stdio call, so that lines from different threads do not interleave.
  char message[2048];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(message, sizeof(message), fmt, args);
  va_end(args);
  std::fprintf(stderr, "%s: %s\n", kTag, message);
}

bool moe::cuda::reportCuda(CUresult result, const char *api,
                           const char *caller, OnError policy,
                           const char *detail) {
  if (result == CUDA_SUCCESS)
    return true;
  std::fprintf(stderr, "%s: error: %s: %s failed: %s (%d): %s%s%s\n", kTag,
               caller, api, cudaErrorName(result), static_cast<int>(result),
               cudaErrorString(result), detail ? "; " : "",
               detail ? detail : "");
  if (policy == OnError::Abort || config().abortOnError)
    abortProcess();
  return false;
}

void moe::cuda::reportError(const char *caller, OnError policy,
                            const char *fmt, ...) {
  char message[2048];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(message, sizeof(message), fmt, args);
  va_end(args);
  std::fprintf(stderr, "%s: error: %s: %s\n", kTag, caller, message);
  if (policy == OnError::Abort || config().abortOnError)
    abortProcess();
}

//===----------------------------------------------------------------------===//
// Driver and primary contexts
//===----------------------------------------------------------------------===//

Runtime &moe::cuda::runtime() {
  // Deliberately leaked: global destructors of the lowered program call
  // mgpuModuleUnload, possibly after our own static objects would be gone.
  static auto *rt = new Runtime();
  return *rt;
}

void moe::cuda::initDriver(const char *caller) {
  Runtime &rt = runtime();
  std::call_once(rt.driverOnce, [&] {
    MOE_CU(caller, OnError::Abort, cuInit, 0);
    int count = 0;
    MOE_CU(caller, OnError::Abort, cuDeviceGetCount, &count);
    if (count <= 0)
      MOE_FATAL(caller, "no CUDA device is visible (check the driver and "
                        "CUDA_VISIBLE_DEVICES)");
    rt.deviceCount = count;
    rt.contexts.assign(static_cast<size_t>(count), nullptr);
    if (debugEnabled()) {
      int version = 0;
      MOE_CU(caller, OnError::Continue, cuDriverGetVersion, &version);
      debugPrint("driver initialized: CUDA driver API %d.%d, %d device(s)",
                 version / 1000, (version % 1000) / 10, count);
    }
  });
}

/// The primary context of `device`, retained on first use. Aborts if that
/// is impossible.
static CUcontext primaryContext(int device, const char *caller) {
  Runtime &rt = runtime();
  initDriver(caller);
  if (device < 0 || device >= rt.deviceCount)
    MOE_FATAL(caller, "device ordinal %d is out of range (%d device(s))",
              device, rt.deviceCount);
  std::lock_guard<std::mutex> lock(rt.mutex);
  CUcontext &ctx = rt.contexts[static_cast<size_t>(device)];
  if (ctx)
    return ctx;
  CUdevice dev = 0;
  MOE_CU(caller, OnError::Abort, cuDeviceGet, &dev, device);
  CUcontext retained = nullptr;
  MOE_CU(caller, OnError::Abort, cuDevicePrimaryCtxRetain, &retained, dev);
  ctx = retained;
  if (debugEnabled()) {
    char name[256] = {0};
    int major = 0, minor = 0;
    MOE_CU(caller, OnError::Continue, cuDeviceGetName, name,
           static_cast<int>(sizeof(name) - 1), dev);
    MOE_CU(caller, OnError::Continue, cuDeviceGetAttribute, &major,
           CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
    MOE_CU(caller, OnError::Continue, cuDeviceGetAttribute, &minor,
           CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
    debugPrint("retained primary context %p of device %d (%s, sm_%d%d)",
               static_cast<void *>(ctx), device, name, major, minor);
  }
  return ctx;
}

ScopedContext::ScopedContext(const char *caller, int device) : caller(caller) {
  CUcontext ctx = primaryContext(device, caller);
  CUcontext current = nullptr;
  CUresult result = cuCtxGetCurrent(&current);
  if (result == CUDA_ERROR_DEINITIALIZED) {
    // The driver is shutting down (process exit); let the caller decide.
    deinitialized = true;
    return;
  }
  if (!reportCuda(result, "cuCtxGetCurrent", caller, OnError::Continue))
    return;
  if (current == ctx)
    return;
  pushed = MOE_CU(caller, OnError::Continue, cuCtxPushCurrent, ctx);
}

ScopedContext::~ScopedContext() {
  if (!pushed)
    return;
  CUcontext popped = nullptr;
  MOE_CU(caller, OnError::Continue, cuCtxPopCurrent, &popped);
}

//===----------------------------------------------------------------------===//
// Devices
//===----------------------------------------------------------------------===//

/// gpu.set_default_device: selects the device used by later calls, process
/// wide. Modules already loaded stay on the device they were loaded on.
MOE_RT_EXPORT void mgpuSetDefaultDevice(int32_t device) {
  MOE_DEBUG("mgpuSetDefaultDevice(device=%d)", device);
  Runtime &rt = runtime();
  initDriver(__func__);
  if (device < 0 || device >= rt.deviceCount) {
    reportError(__func__, OnError::Continue,
                "device ordinal %d is out of range (%d device(s)); default "
                "device stays %d",
                device, rt.deviceCount, rt.defaultDevice.load());
    return;
  }
  int previous = rt.defaultDevice.exchange(device);
  if (previous == device)
    return;
  size_t elsewhere = 0;
  {
    std::lock_guard<std::mutex> lock(rt.mutex);
    for (const auto &entry : rt.moduleDevices)
      if (entry.second != device)
        ++elsewhere;
  }
  if (elsewhere)
    std::fprintf(stderr,
                 "%s: warning: mgpuSetDefaultDevice: %zu GPU module(s) were "
                 "loaded on another device; their kernels cannot be launched "
                 "on device %d\n",
                 kTag, elsewhere, device);
}

/// The default device's multiprocessor count, which the moe lowering sizes
/// its grid-stride grids with (queried once per device).
MOE_RT_EXPORT int32_t moeGpuMultiProcessorCount() {
  initDriver(__func__);
  int device = defaultDevice();
  static std::atomic<int32_t> cached[64];
  if (device < 64)
    if (int32_t count = cached[device].load())
      return count;
  CUdevice dev;
  int count = 1;
  if (MOE_CU(__func__, OnError::Continue, cuDeviceGet, &dev, device))
    MOE_CU(__func__, OnError::Continue, cuDeviceGetAttribute, &count,
           CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev);
  count = count > 0 ? count : 1;
  if (device < 64)
    cached[device].store(count);
  MOE_DEBUG("moeGpuMultiProcessorCount() = %d (device %d)", count, device);
  return count;
}
