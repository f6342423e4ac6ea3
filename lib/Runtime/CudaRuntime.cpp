//===- CudaRuntime.cpp - mgpu* runtime over the CUDA driver API -----------===//
//
// Part of moe-mlir.
//
// Host code that MLIR 22 produces for GPU programs calls a small set of C
// functions named `mgpu*`:
//
//   * `gpu-to-llvm` lowers gpu.alloc / dealloc / memcpy / memset / wait /
//     host_register / host_unregister / set_default_device and async tokens
//     to calls of streams, events and memory functions;
//   * `mlir-translate --mlir-to-llvmir` with the `#gpu.select_object`
//     offloading handler turns gpu.binary into global constructors that call
//     mgpuModuleLoad / mgpuModuleLoadJIT (destructors call mgpuModuleUnload)
//     and gpu.launch_func into mgpuModuleGetFunction + mgpuLaunchKernel (or
//     mgpuLaunchClusterKernel);
//   * `convert-nvgpu-to-nvvm` lowers nvgpu.tma.create.descriptor to
//     mgpuTensorMapEncodeTiledMemref.
//
// This file implements those functions on top of the CUDA driver API. The
// argument types are fixed by what LLVM 22 emits (checked against the
// declarations in the IR that mlir-opt-22 / mlir-translate-22 produce); see
// docs/runtime.md for the full table and for the behavior on errors.
//
// Design notes:
//   * Nothing is initialized at load time. The driver and the primary context
//     of the default device are set up on first use, because the first call
//     usually comes from a global constructor of the lowered program, before
//     main and in no particular order relative to other constructors.
//   * The runtime state is a heap object that is never destroyed, so calls
//     from global destructors (mgpuModuleUnload) always find it intact.
//     Primary contexts are retained once and never released; the driver
//     tears them down at process exit.
//   * Every driver call's result is checked. Failures are reported on stderr
//     with the runtime function, the driver function, the CUDA error name and
//     its description. Functions that must hand back a handle or a pointer
//     (module load, function lookup, allocation, stream/event creation,
//     tensor maps) abort when they cannot; everything else reports and
//     carries on, like upstream's wrappers. MOE_CUDA_RUNTIME_ABORT_ON_ERROR=1
//     makes every error fatal.
//
//===----------------------------------------------------------------------===//

#include "mlir/ExecutionEngine/CRunnerUtils.h"

#include <cuda.h>

#include <atomic>
#include <cinttypes>
#include <climits>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#define MOE_RT_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

constexpr const char *kTag = "moe_cuda_runtime";

//===----------------------------------------------------------------------===//
// Configuration from the environment
//===----------------------------------------------------------------------===//

bool envFlag(const char *name) {
  const char *value = std::getenv(name);
  return value && *value && std::strcmp(value, "0") != 0;
}

struct Config {
  bool debug;
  bool abortOnError;
};

const Config &config() {
  // Thread-safe lazy initialization; read once per process.
  static const Config cfg{envFlag("MOE_CUDA_RUNTIME_DEBUG"),
                          envFlag("MOE_CUDA_RUNTIME_ABORT_ON_ERROR")};
  return cfg;
}

bool debugEnabled() { return config().debug; }

/// Prints one line `<tag>: <prefix><message>` to stderr with a single stdio
/// call so that lines from different threads do not interleave.
void printLine(const char *prefix, const char *fmt, va_list args) {
  char message[2048];
  std::vsnprintf(message, sizeof(message), fmt, args);
  std::fprintf(stderr, "%s: %s%s\n", kTag, prefix, message);
}

__attribute__((format(printf, 1, 2))) void debugPrint(const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  printLine("", fmt, args);
  va_end(args);
}

#define MOE_DEBUG(...)                                                         \
  do {                                                                         \
    if (debugEnabled())                                                        \
      debugPrint(__VA_ARGS__);                                                 \
  } while (0)

//===----------------------------------------------------------------------===//
// Error reporting
//===----------------------------------------------------------------------===//

enum class OnError { Continue, Abort };

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

/// Reports a failed driver call. Returns true when `result` is success.
/// `detail` (may be null) is appended to the message.
bool reportCuda(CUresult result, const char *api, const char *caller,
                OnError policy, const char *detail = nullptr) {
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

/// Calls a driver function and reports its failure. `api` is stringized as
/// written (e.g. "cuMemAlloc", not the versioned "cuMemAlloc_v2").
#define MOE_CU(caller, policy, api, ...)                                       \
  reportCuda(api(__VA_ARGS__), #api, caller, policy)

/// A non-driver error (bad argument from the generated code, ...).
__attribute__((format(printf, 3, 4))) void
reportError(const char *caller, OnError policy, const char *fmt, ...) {
  char message[2048];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(message, sizeof(message), fmt, args);
  va_end(args);
  std::fprintf(stderr, "%s: error: %s: %s\n", kTag, caller, message);
  if (policy == OnError::Abort || config().abortOnError)
    abortProcess();
}

#define MOE_FATAL(caller, ...)                                                 \
  do {                                                                         \
    reportError(caller, OnError::Abort, __VA_ARGS__);                          \
    __builtin_unreachable();                                                   \
  } while (0)

//===----------------------------------------------------------------------===//
// Runtime state: driver initialization, primary contexts, loaded modules
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

/// Idle streams kept for reuse; more are destroyed.
constexpr size_t kMaxIdleStreams = 16;

Runtime &runtime() {
  // Deliberately leaked: global destructors of the lowered program call
  // mgpuModuleUnload, possibly after our own static objects would be gone.
  static Runtime *rt = new Runtime();
  return *rt;
}

void initDriver(const char *caller) {
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

/// Returns the primary context of `device`, initializing the driver and
/// retaining the context on first use. Aborts if that is impossible.
CUcontext primaryContext(int device, const char *caller) {
  Runtime &rt = runtime();
  initDriver(caller);
  if (device < 0 || device >= rt.deviceCount)
    MOE_FATAL(caller, "device ordinal %d is out of range (%d device(s))",
              device, rt.deviceCount);
  std::lock_guard<std::mutex> lock(rt.mutex);
  CUcontext &ctx = rt.contexts[static_cast<size_t>(device)];
  if (!ctx) {
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
  }
  return ctx;
}

int defaultDevice() { return runtime().defaultDevice.load(); }

/// Makes the primary context of a device current on the calling thread for
/// the lifetime of the object and restores the previous one afterwards.
/// No push/pop happens when that context is already current.
class ScopedContext {
public:
  ScopedContext(const char *caller, int device) : caller(caller) {
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
  explicit ScopedContext(const char *caller)
      : ScopedContext(caller, defaultDevice()) {}
  ~ScopedContext() {
    if (!pushed)
      return;
    CUcontext popped = nullptr;
    MOE_CU(caller, OnError::Continue, cuCtxPopCurrent, &popped);
  }
  ScopedContext(const ScopedContext &) = delete;
  ScopedContext &operator=(const ScopedContext &) = delete;

  bool driverDeinitialized() const { return deinitialized; }

private:
  const char *caller;
  bool pushed = false;
  bool deinitialized = false;
};

//===----------------------------------------------------------------------===//
// Module loading helpers
//===----------------------------------------------------------------------===//

enum class ImageKind { Cubin, Fatbin, Ptx, LLVMBitcode, Unknown };

ImageKind classifyImage(const void *data, size_t size) {
  const auto *bytes = static_cast<const unsigned char *>(data);
  if (size >= 4 && bytes[0] == 0x7f && bytes[1] == 'E' && bytes[2] == 'L' &&
      bytes[3] == 'F')
    return ImageKind::Cubin;
  // Fatbinary magic 0xBA55ED50, little endian.
  if (size >= 4 && bytes[0] == 0x50 && bytes[1] == 0xED && bytes[2] == 0x55 &&
      bytes[3] == 0xBA)
    return ImageKind::Fatbin;
  // Raw bitcode ('BC' 0xC0DE) or the bitcode wrapper (0x0B17C0DE).
  if (size >= 4 && ((bytes[0] == 'B' && bytes[1] == 'C' && bytes[2] == 0xC0 &&
                     bytes[3] == 0xDE) ||
                    (bytes[0] == 0xDE && bytes[1] == 0xC0 && bytes[2] == 0x17 &&
                     bytes[3] == 0x0B)))
    return ImageKind::LLVMBitcode;
  // PTX is text: skip leading whitespace; it starts with a comment or a
  // directive (".version").
  size_t i = 0;
  while (i < size && (bytes[i] == ' ' || bytes[i] == '\t' ||
                      bytes[i] == '\n' || bytes[i] == '\r'))
    ++i;
  if (i < size && (bytes[i] == '/' || bytes[i] == '.'))
    return ImageKind::Ptx;
  return ImageKind::Unknown;
}

const char *imageKindName(ImageKind kind) {
  switch (kind) {
  case ImageKind::Cubin:
    return "cubin";
  case ImageKind::Fatbin:
    return "fatbin";
  case ImageKind::Ptx:
    return "PTX";
  case ImageKind::LLVMBitcode:
    return "LLVM bitcode";
  case ImageKind::Unknown:
    break;
  }
  return "unknown";
}

/// Loads `image` (cubin, fatbin or NUL-terminated PTX) into the primary
/// context of the default device. `jitOptLevel` < 0 means "no explicit JIT
/// optimization level". Aborts on failure, printing the JIT/linker log.
CUmodule loadImage(const char *caller, const void *image, int jitOptLevel) {
  int device = defaultDevice();
  ScopedContext scoped(caller, device);

  constexpr unsigned kLogSize = 16384;
  std::vector<char> errorLog(kLogSize, '\0');
  std::vector<char> infoLog(kLogSize, '\0');
  CUjit_option options[5];
  void *values[5];
  unsigned numOptions = 0;
  options[numOptions] = CU_JIT_ERROR_LOG_BUFFER;
  values[numOptions++] = errorLog.data();
  options[numOptions] = CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES;
  values[numOptions++] =
      reinterpret_cast<void *>(static_cast<uintptr_t>(kLogSize - 1));
  if (debugEnabled()) {
    options[numOptions] = CU_JIT_INFO_LOG_BUFFER;
    values[numOptions++] = infoLog.data();
    options[numOptions] = CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES;
    values[numOptions++] =
        reinterpret_cast<void *>(static_cast<uintptr_t>(kLogSize - 1));
  }
  if (jitOptLevel >= 0) {
    options[numOptions] = CU_JIT_OPTIMIZATION_LEVEL;
    values[numOptions++] =
        reinterpret_cast<void *>(static_cast<uintptr_t>(jitOptLevel));
  }

  CUmodule module = nullptr;
  CUresult result =
      cuModuleLoadDataEx(&module, image, numOptions, options, values);
  errorLog.back() = '\0';
  infoLog.back() = '\0';
  if (debugEnabled() && infoLog[0])
    debugPrint("%s: JIT info log:\n%s", caller, infoLog.data());
  if (result != CUDA_SUCCESS) {
    if (errorLog[0])
      std::fprintf(stderr, "%s: error: %s: JIT/linker error log:\n%s\n", kTag,
                   caller, errorLog.data());
    reportCuda(result, "cuModuleLoadDataEx", caller, OnError::Abort,
               "the GPU module could not be loaded");
  }
  if (!module)
    MOE_FATAL(caller, "cuModuleLoadDataEx returned a null module");

  Runtime &rt = runtime();
  {
    std::lock_guard<std::mutex> lock(rt.mutex);
    rt.moduleDevices[module] = device;
  }
  return module;
}

/// Device a module was loaded on; the default device if unknown.
int moduleDevice(CUmodule module, bool erase) {
  Runtime &rt = runtime();
  std::lock_guard<std::mutex> lock(rt.mutex);
  auto it = rt.moduleDevices.find(module);
  if (it == rt.moduleDevices.end())
    return rt.defaultDevice.load();
  int device = it->second;
  if (erase)
    rt.moduleDevices.erase(it);
  return device;
}

//===----------------------------------------------------------------------===//
// Launch helpers
//===----------------------------------------------------------------------===//

/// Converts launch dimensions from `index` (intptr_t) to the driver's
/// unsigned int. Returns false (after reporting) if one does not fit.
bool toLaunchDims(const char *caller, const char *what, const intptr_t *in,
                  unsigned *out, int count) {
  for (int i = 0; i < count; ++i) {
    if (in[i] < 0 || static_cast<uintmax_t>(in[i]) > UINT_MAX) {
      reportError(caller, OnError::Continue,
                  "%s dimension %d is %" PRIdPTR
                  ", outside [0, %u]; launch skipped",
                  what, i, in[i], UINT_MAX);
      return false;
    }
    out[i] = static_cast<unsigned>(in[i]);
  }
  return true;
}

bool anyZero(const unsigned *dims, int count) {
  for (int i = 0; i < count; ++i)
    if (dims[i] == 0)
      return true;
  return false;
}

/// Allows `smem` bytes of dynamic shared memory for `function` (needed above
/// the default 48 KiB limit; harmless below it).
void allowDynamicSharedMemory(const char *caller, CUfunction function,
                              int32_t smem) {
  if (smem <= 0)
    return;
  CUresult result = cuFuncSetAttribute(
      function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, smem);
  if (result != CUDA_SUCCESS) {
    char detail[128];
    std::snprintf(detail, sizeof(detail),
                  "requested %d bytes of dynamic shared memory", smem);
    reportCuda(result, "cuFuncSetAttribute", caller, OnError::Continue,
               detail);
  }
}

//===----------------------------------------------------------------------===//
// Memref helpers
//===----------------------------------------------------------------------===//

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

#if CUDA_VERSION >= 12000
int64_t tensorMapElementBytes(int64_t dataType) {
  switch (dataType) {
  case CU_TENSOR_MAP_DATA_TYPE_UINT8:
    return 1;
  case CU_TENSOR_MAP_DATA_TYPE_UINT16:
  case CU_TENSOR_MAP_DATA_TYPE_FLOAT16:
  case CU_TENSOR_MAP_DATA_TYPE_BFLOAT16:
    return 2;
  case CU_TENSOR_MAP_DATA_TYPE_UINT32:
  case CU_TENSOR_MAP_DATA_TYPE_INT32:
  case CU_TENSOR_MAP_DATA_TYPE_FLOAT32:
  case CU_TENSOR_MAP_DATA_TYPE_FLOAT32_FTZ:
  case CU_TENSOR_MAP_DATA_TYPE_TFLOAT32:
  case CU_TENSOR_MAP_DATA_TYPE_TFLOAT32_FTZ:
    return 4;
  case CU_TENSOR_MAP_DATA_TYPE_UINT64:
  case CU_TENSOR_MAP_DATA_TYPE_INT64:
  case CU_TENSOR_MAP_DATA_TYPE_FLOAT64:
    return 8;
  default:
    return 0;
  }
}
#endif

} // namespace

//===----------------------------------------------------------------------===//
// Modules and kernels
//===----------------------------------------------------------------------===//

/// Emitted by gpu.binary translation (global constructor) for objects in
/// `bin` / `fatbin` format. `data` is not NUL-terminated; `gpuBlobSize` is
/// its size in bytes.
MOE_RT_EXPORT CUmodule mgpuModuleLoad(void *data, size_t gpuBlobSize) {
  MOE_DEBUG("mgpuModuleLoad(data=%p, bytes=%zu)", data, gpuBlobSize);
  if (!data || gpuBlobSize == 0)
    MOE_FATAL(__func__, "empty GPU binary (data=%p, %zu bytes)", data,
              gpuBlobSize);

  ImageKind kind = classifyImage(data, gpuBlobSize);
  MOE_DEBUG("mgpuModuleLoad: image looks like %s", imageKindName(kind));
  CUmodule module = nullptr;
  switch (kind) {
  case ImageKind::LLVMBitcode:
    MOE_FATAL(__func__,
              "the GPU binary is LLVM bitcode (gpu-module-to-binary "
              "format=offload?); the CUDA driver loads cubin, fatbin or PTX "
              "(format=bin, fatbin or isa)");
  case ImageKind::Ptx: {
    // The driver needs NUL-terminated PTX; the blob carries an explicit size
    // instead.
    std::string ptx(static_cast<const char *>(data), gpuBlobSize);
    module = loadImage(__func__, ptx.c_str(), /*jitOptLevel=*/-1);
    break;
  }
  case ImageKind::Cubin:
  case ImageKind::Fatbin:
  case ImageKind::Unknown:
    if (reinterpret_cast<uintptr_t>(data) % alignof(uint64_t) != 0) {
      // The translation aligns the global to 8 bytes; be safe anyway, the
      // driver parses ELF/fatbin headers in place.
      std::vector<uint64_t> aligned((gpuBlobSize + 7) / 8, 0);
      std::memcpy(aligned.data(), data, gpuBlobSize);
      module = loadImage(__func__, aligned.data(), /*jitOptLevel=*/-1);
    } else {
      module = loadImage(__func__, data, /*jitOptLevel=*/-1);
    }
    break;
  }
  MOE_DEBUG("mgpuModuleLoad -> module %p on device %d",
            static_cast<void *>(module), moduleDevice(module, false));
  return module;
}

/// Emitted by gpu.binary translation for objects in `isa` (assembly) format:
/// `data` is NUL-terminated PTX, `optLevel` the object's "O" property (0 when
/// absent), passed to the JIT as CU_JIT_OPTIMIZATION_LEVEL (clamped to 0..4).
MOE_RT_EXPORT CUmodule mgpuModuleLoadJIT(void *data, int optLevel) {
  MOE_DEBUG("mgpuModuleLoadJIT(data=%p, optLevel=%d)", data, optLevel);
  if (!data)
    MOE_FATAL(__func__, "null PTX image");
  int level = optLevel < 0 ? 0 : (optLevel > 4 ? 4 : optLevel);
  if (level != optLevel)
    MOE_DEBUG("mgpuModuleLoadJIT: optimization level %d clamped to %d",
              optLevel, level);
  CUmodule module = loadImage(__func__, data, level);
  MOE_DEBUG("mgpuModuleLoadJIT -> module %p", static_cast<void *>(module));
  return module;
}

/// Emitted by gpu.binary translation (global destructor).
MOE_RT_EXPORT void mgpuModuleUnload(CUmodule module) {
  MOE_DEBUG("mgpuModuleUnload(module=%p)", static_cast<void *>(module));
  if (!module)
    return;
  int device = moduleDevice(module, /*erase=*/true);
  ScopedContext scoped(__func__, device);
  CUresult result = scoped.driverDeinitialized()
                        ? CUDA_ERROR_DEINITIALIZED
                        : cuModuleUnload(module);
  if (result == CUDA_ERROR_DEINITIALIZED) {
    // Only happens at process exit, after the driver has torn down its
    // contexts (and the module with them): nothing is lost.
    MOE_DEBUG("mgpuModuleUnload: driver already shut down, nothing to do");
    return;
  }
  reportCuda(result, "cuModuleUnload", __func__, OnError::Continue);
}

/// Emitted for every gpu.launch_func, right before the launch.
MOE_RT_EXPORT CUfunction mgpuModuleGetFunction(CUmodule module,
                                               const char *name) {
  MOE_DEBUG("mgpuModuleGetFunction(module=%p, name=%s)",
            static_cast<void *>(module), name ? name : "(null)");
  if (!name)
    MOE_FATAL(__func__, "null kernel name");
  if (!module)
    MOE_FATAL(__func__,
              "kernel '%s' requested from a null module (was the GPU "
              "module loaded?)",
              name);
  ScopedContext scoped(__func__, moduleDevice(module, false));
  CUfunction function = nullptr;
  CUresult result = cuModuleGetFunction(&function, module, name);
  if (result != CUDA_SUCCESS) {
    std::string detail = std::string("kernel '") + name + "'";
    reportCuda(result, "cuModuleGetFunction", __func__, OnError::Abort,
               detail.c_str());
  }
  return function;
}

/// Emitted for gpu.launch_func without clusters. Grid and block sizes are
/// `index` values; `smem` is the dynamic shared memory size in bytes;
/// `paramsCount` is the number of entries of `params` (for logging only).
MOE_RT_EXPORT void mgpuLaunchKernel(CUfunction function, intptr_t gridX,
                                    intptr_t gridY, intptr_t gridZ,
                                    intptr_t blockX, intptr_t blockY,
                                    intptr_t blockZ, int32_t smem,
                                    CUstream stream, void **params,
                                    void **extra, size_t paramsCount) {
  MOE_DEBUG("mgpuLaunchKernel(function=%p, grid=%" PRIdPTR "x%" PRIdPTR
            "x%" PRIdPTR ", block=%" PRIdPTR "x%" PRIdPTR "x%" PRIdPTR
            ", smem=%d, stream=%p, params=%p [%zu], extra=%p)",
            static_cast<void *>(function), gridX, gridY, gridZ, blockX,
            blockY, blockZ, smem, static_cast<void *>(stream),
            static_cast<void *>(params), paramsCount,
            static_cast<void *>(extra));
  if (!function)
    MOE_FATAL(__func__, "launch of a null kernel function (the module load or "
                        "the kernel lookup failed)");
  intptr_t in[6] = {gridX, gridY, gridZ, blockX, blockY, blockZ};
  unsigned dims[6];
  if (!toLaunchDims(__func__, "grid/block", in, dims, 6))
    return;
  if (smem < 0) {
    reportError(__func__, OnError::Continue,
                "negative dynamic shared memory size %d; launch skipped", smem);
    return;
  }
  if (anyZero(dims, 6)) {
    MOE_DEBUG("mgpuLaunchKernel: empty grid or block, nothing to launch");
    return;
  }
  ScopedContext scoped(__func__);
  allowDynamicSharedMemory(__func__, function, smem);
  CUresult result = cuLaunchKernel(function, dims[0], dims[1], dims[2],
                                   dims[3], dims[4], dims[5],
                                   static_cast<unsigned>(smem), stream, params,
                                   extra);
  if (result != CUDA_SUCCESS) {
    char detail[256];
    std::snprintf(detail, sizeof(detail),
                  "grid=%ux%ux%u block=%ux%ux%u smem=%d", dims[0], dims[1],
                  dims[2], dims[3], dims[4], dims[5], smem);
    reportCuda(result, "cuLaunchKernel", __func__, OnError::Continue, detail);
  }
}

/// Emitted for gpu.launch_func with `clusters in (...)`. The grid is counted
/// in blocks (it must be a multiple of the cluster shape).
MOE_RT_EXPORT void
mgpuLaunchClusterKernel(CUfunction function, intptr_t clusterX,
                        intptr_t clusterY, intptr_t clusterZ, intptr_t gridX,
                        intptr_t gridY, intptr_t gridZ, intptr_t blockX,
                        intptr_t blockY, intptr_t blockZ, int32_t smem,
                        CUstream stream, void **params, void **extra) {
  MOE_DEBUG("mgpuLaunchClusterKernel(function=%p, cluster=%" PRIdPTR
            "x%" PRIdPTR "x%" PRIdPTR ", grid=%" PRIdPTR "x%" PRIdPTR
            "x%" PRIdPTR ", block=%" PRIdPTR "x%" PRIdPTR "x%" PRIdPTR
            ", smem=%d, stream=%p, params=%p, extra=%p)",
            static_cast<void *>(function), clusterX, clusterY, clusterZ,
            gridX, gridY, gridZ, blockX, blockY, blockZ, smem,
            static_cast<void *>(stream), static_cast<void *>(params),
            static_cast<void *>(extra));
#if CUDA_VERSION >= 12000
  if (!function)
    MOE_FATAL(__func__, "launch of a null kernel function (the module load or "
                        "the kernel lookup failed)");
  intptr_t in[9] = {clusterX, clusterY, clusterZ, gridX, gridY,
                    gridZ,    blockX,   blockY,   blockZ};
  unsigned dims[9];
  if (!toLaunchDims(__func__, "cluster/grid/block", in, dims, 9))
    return;
  if (smem < 0) {
    reportError(__func__, OnError::Continue,
                "negative dynamic shared memory size %d; launch skipped", smem);
    return;
  }
  if (anyZero(dims, 3)) {
    reportError(__func__, OnError::Continue,
                "cluster shape %ux%ux%u has a zero dimension; launch skipped",
                dims[0], dims[1], dims[2]);
    return;
  }
  if (anyZero(dims + 3, 6)) {
    MOE_DEBUG("mgpuLaunchClusterKernel: empty grid or block, nothing to "
              "launch");
    return;
  }
  ScopedContext scoped(__func__);
  allowDynamicSharedMemory(__func__, function, smem);
  // More than 8 blocks per cluster is "non-portable" and must be opted in.
  if (static_cast<uint64_t>(dims[0]) * dims[1] * dims[2] > 8)
    MOE_CU(__func__, OnError::Continue, cuFuncSetAttribute, function,
           CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 1);

  CUlaunchAttribute attribute;
  std::memset(&attribute, 0, sizeof(attribute));
  attribute.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
  attribute.value.clusterDim.x = dims[0];
  attribute.value.clusterDim.y = dims[1];
  attribute.value.clusterDim.z = dims[2];

  CUlaunchConfig launchConfig;
  std::memset(&launchConfig, 0, sizeof(launchConfig));
  launchConfig.gridDimX = dims[3];
  launchConfig.gridDimY = dims[4];
  launchConfig.gridDimZ = dims[5];
  launchConfig.blockDimX = dims[6];
  launchConfig.blockDimY = dims[7];
  launchConfig.blockDimZ = dims[8];
  launchConfig.sharedMemBytes = static_cast<unsigned>(smem);
  launchConfig.hStream = stream;
  launchConfig.attrs = &attribute;
  launchConfig.numAttrs = 1;

  CUresult result = cuLaunchKernelEx(&launchConfig, function, params, extra);
  if (result != CUDA_SUCCESS) {
    char detail[256];
    std::snprintf(detail, sizeof(detail),
                  "cluster=%ux%ux%u grid=%ux%ux%u block=%ux%ux%u smem=%d",
                  dims[0], dims[1], dims[2], dims[3], dims[4], dims[5],
                  dims[6], dims[7], dims[8], smem);
    reportCuda(result, "cuLaunchKernelEx", __func__, OnError::Continue,
               detail);
  }
#else
  (void)function;
  MOE_FATAL(__func__, "cluster launches need a runtime built against CUDA "
                      ">= 12.0");
#endif
}

//===----------------------------------------------------------------------===//
// Streams and events
//===----------------------------------------------------------------------===//

/// Returns an idle stream of the default device, or a new one.
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

//===----------------------------------------------------------------------===//
// Memory
//===----------------------------------------------------------------------===//

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

/// Page-locks a host range (not emitted by the lowering; kept for hand-written
/// code, with the upstream signature).
MOE_RT_EXPORT void mgpuMemHostRegister(void *ptr, uint64_t sizeBytes) {
  MOE_DEBUG("mgpuMemHostRegister(ptr=%p, bytes=%" PRIu64 ")", ptr, sizeBytes);
  if (!ptr || sizeBytes == 0)
    return;
  ScopedContext scoped(__func__);
  CUresult result = cuMemHostRegister(ptr, static_cast<size_t>(sizeBytes), 0);
  if (result != CUDA_SUCCESS) {
    char detail[128];
    std::snprintf(detail, sizeof(detail), "ptr=%p bytes=%" PRIu64, ptr,
                  sizeBytes);
    reportCuda(result, "cuMemHostRegister", __func__, OnError::Continue,
               detail);
  }
}

MOE_RT_EXPORT void mgpuMemHostUnregister(void *ptr) {
  MOE_DEBUG("mgpuMemHostUnregister(ptr=%p)", ptr);
  if (!ptr)
    return;
  ScopedContext scoped(__func__);
  MOE_CU(__func__, OnError::Continue, cuMemHostUnregister, ptr);
}

/// gpu.host_register: `descriptor` points to a ranked memref descriptor of
/// rank `rank` (the two fields of an unranked memref). The whole byte range
/// spanned by the memref's elements is registered (dense or strided).
MOE_RT_EXPORT void mgpuMemHostRegisterMemRef(int64_t rank, void *descriptor,
                                             int64_t elementSizeBytes) {
  MOE_DEBUG("mgpuMemHostRegisterMemRef(rank=%" PRId64
            ", descriptor=%p, elementBytes=%" PRId64 ")",
            rank, descriptor, elementSizeBytes);
  if (!descriptor || rank < 0 || elementSizeBytes <= 0) {
    reportError(__func__, OnError::Continue,
                "invalid memref (descriptor=%p, rank=%" PRId64
                ", element size %" PRId64 "); nothing registered",
                descriptor, rank, elementSizeBytes);
    return;
  }
  ByteSpan span = memrefSpan(rank, descriptor, elementSizeBytes);
  mgpuMemHostRegister(span.begin, span.bytes);
}

/// gpu.host_unregister: same descriptor as for mgpuMemHostRegisterMemRef.
MOE_RT_EXPORT void mgpuMemHostUnregisterMemRef(int64_t rank, void *descriptor,
                                               int64_t elementSizeBytes) {
  MOE_DEBUG("mgpuMemHostUnregisterMemRef(rank=%" PRId64
            ", descriptor=%p, elementBytes=%" PRId64 ")",
            rank, descriptor, elementSizeBytes);
  if (!descriptor || rank < 0 || elementSizeBytes <= 0) {
    reportError(__func__, OnError::Continue,
                "invalid memref (descriptor=%p, rank=%" PRId64
                ", element size %" PRId64 "); nothing unregistered",
                descriptor, rank, elementSizeBytes);
    return;
  }
  ByteSpan span = memrefSpan(rank, descriptor, elementSizeBytes);
  if (span.bytes == 0)
    return; // Empty memrefs are never registered.
  mgpuMemHostUnregister(span.begin);
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

//===----------------------------------------------------------------------===//
// TMA descriptors (nvgpu.tma.create.descriptor)
//===----------------------------------------------------------------------===//

/// Encodes a tiled CUtensorMap for a memref and returns a device pointer to a
/// copy of it (kernels take it as an argument). The enum arguments are the
/// CUtensorMap* enum values, passed as i64 by the lowering. `inputBoxDims`
/// holds `tensorRank` box sizes, outermost first, like the memref's sizes.
/// Each call allocates sizeof(CUtensorMap) = 128 bytes of device memory that
/// is never freed (the descriptor's lifetime is not known).
MOE_RT_EXPORT void *mgpuTensorMapEncodeTiledMemref(
    int64_t tensorRank, void *rankedDescriptor, int64_t tensorDataType,
    int64_t interleave, int64_t swizzle, int64_t l2Promotion, int64_t oobFill,
    int64_t *inputBoxDims) {
  MOE_DEBUG("mgpuTensorMapEncodeTiledMemref(rank=%" PRId64
            ", descriptor=%p, dataType=%" PRId64 ", interleave=%" PRId64
            ", swizzle=%" PRId64 ", l2Promotion=%" PRId64 ", oobFill=%" PRId64
            ", box=%p)",
            tensorRank, rankedDescriptor, tensorDataType, interleave, swizzle,
            l2Promotion, oobFill, static_cast<void *>(inputBoxDims));
#if CUDA_VERSION >= 12000
  if (tensorRank < 1 || tensorRank > 5)
    MOE_FATAL(__func__, "tensor rank %" PRId64 " is outside [1, 5]",
              tensorRank);
  if (!rankedDescriptor || !inputBoxDims)
    MOE_FATAL(__func__, "null memref descriptor or box dimensions");
  int64_t elementBytes = tensorMapElementBytes(tensorDataType);
  if (elementBytes == 0)
    MOE_FATAL(__func__, "unsupported CUtensorMapDataType %" PRId64,
              tensorDataType);

  ::UnrankedMemRefType<char> unranked{tensorRank, rankedDescriptor};
  DynamicMemRefType<char> memref(unranked);
  const int rank = static_cast<int>(tensorRank);
  if (memref.strides[rank - 1] != 1)
    MOE_FATAL(__func__,
              "the innermost dimension must be contiguous (stride %" PRId64
              ")",
              memref.strides[rank - 1]);

  // CUtensorMap dimensions run innermost first; memrefs outermost first.
  cuuint64_t globalDim[5] = {0, 0, 0, 0, 0};
  cuuint64_t globalStrides[4] = {0, 0, 0, 0}; // Bytes, for dims 1..rank-1.
  cuuint32_t boxDim[5] = {0, 0, 0, 0, 0};
  cuuint32_t elementStrides[5] = {1, 1, 1, 1, 1};
  for (int i = 0; i < rank; ++i) {
    int m = rank - 1 - i;
    if (memref.sizes[m] <= 0 || inputBoxDims[m] <= 0 ||
        inputBoxDims[m] > static_cast<int64_t>(UINT32_MAX))
      MOE_FATAL(__func__,
                "bad size %" PRId64 " or box size %" PRId64 " in dimension %d",
                memref.sizes[m], inputBoxDims[m], m);
    globalDim[i] = static_cast<cuuint64_t>(memref.sizes[m]);
    boxDim[i] = static_cast<cuuint32_t>(inputBoxDims[m]);
    if (i > 0)
      globalStrides[i - 1] =
          static_cast<cuuint64_t>(memref.strides[m] * elementBytes);
  }
  void *globalAddress = memref.data + memref.offset * elementBytes;

  ScopedContext scoped(__func__);
  CUtensorMap tensorMap;
  std::memset(&tensorMap, 0, sizeof(tensorMap));
  CUresult result = cuTensorMapEncodeTiled(
      &tensorMap, static_cast<CUtensorMapDataType>(tensorDataType),
      static_cast<cuuint32_t>(rank), globalAddress, globalDim, globalStrides,
      boxDim, elementStrides, static_cast<CUtensorMapInterleave>(interleave),
      static_cast<CUtensorMapSwizzle>(swizzle),
      static_cast<CUtensorMapL2promotion>(l2Promotion),
      static_cast<CUtensorMapFloatOOBfill>(oobFill));
  if (result != CUDA_SUCCESS) {
    char detail[512];
    std::snprintf(
        detail, sizeof(detail),
        "address=%p dataType=%" PRId64 " rank=%d dims(inner first)=%llu,%llu,"
        "%llu,%llu,%llu strides(bytes)=%llu,%llu,%llu,%llu box=%u,%u,%u,%u,%u "
        "interleave=%" PRId64 " swizzle=%" PRId64 " l2=%" PRId64
        " oob=%" PRId64,
        globalAddress, tensorDataType, rank,
        static_cast<unsigned long long>(globalDim[0]),
        static_cast<unsigned long long>(globalDim[1]),
        static_cast<unsigned long long>(globalDim[2]),
        static_cast<unsigned long long>(globalDim[3]),
        static_cast<unsigned long long>(globalDim[4]),
        static_cast<unsigned long long>(globalStrides[0]),
        static_cast<unsigned long long>(globalStrides[1]),
        static_cast<unsigned long long>(globalStrides[2]),
        static_cast<unsigned long long>(globalStrides[3]), boxDim[0],
        boxDim[1], boxDim[2], boxDim[3], boxDim[4], interleave, swizzle,
        l2Promotion, oobFill);
    reportCuda(result, "cuTensorMapEncodeTiled", __func__, OnError::Abort,
               detail);
  }

  CUdeviceptr deviceMap = 0;
  MOE_CU(__func__, OnError::Abort, cuMemAlloc, &deviceMap, sizeof(tensorMap));
  MOE_CU(__func__, OnError::Abort, cuMemcpyHtoD, deviceMap, &tensorMap,
         sizeof(tensorMap));
  MOE_DEBUG("mgpuTensorMapEncodeTiledMemref -> %p",
            reinterpret_cast<void *>(deviceMap));
  return reinterpret_cast<void *>(deviceMap);
#else
  (void)rankedDescriptor;
  (void)inputBoxDims;
  MOE_FATAL(__func__, "TMA descriptors need a runtime built against CUDA "
                      ">= 12.0");
#endif
}
