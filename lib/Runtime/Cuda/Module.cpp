//===- Module.cpp - GPU modules and kernel launches -----------------------===//
//
// Part of moe-mlir.
//
// The `#gpu.select_object` translation of gpu.binary calls mgpuModuleLoad
// (or mgpuModuleLoadJIT for PTX) from a global constructor and
// mgpuModuleUnload from a global destructor; every gpu.launch_func becomes
// mgpuModuleGetFunction and mgpuLaunchKernel.
//
//===----------------------------------------------------------------------===//

#include "CudaRuntime.h"

#include <algorithm>
#include <cinttypes>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

using namespace moe::cuda;

/// Bytes of each JIT log buffer.
constexpr unsigned kJitLogBytes = 16384;
/// CU_JIT_OPTIMIZATION_LEVEL's range is [0, kMaxJitOptLevel].
constexpr int kMaxJitOptLevel = 4;

namespace {

enum class ImageKind { Cubin, Fatbin, Ptx, LLVMBitcode, Unknown };

bool hasMagic(const unsigned char *bytes, size_t size,
              const unsigned char (&magic)[4]) {
  return size >= 4 && std::memcmp(bytes, magic, 4) == 0;
}

ImageKind classifyImage(const void *data, size_t size) {
  static constexpr unsigned char kElf[4] = {0x7f, 'E', 'L', 'F'};
  // Fatbinary magic 0xBA55ED50, little endian.
  static constexpr unsigned char kFatbin[4] = {0x50, 0xED, 0x55, 0xBA};
  // Raw bitcode ('BC' 0xC0DE) and the bitcode wrapper (0x0B17C0DE).
  static constexpr unsigned char kBitcode[4] = {'B', 'C', 0xC0, 0xDE};
  static constexpr unsigned char kBitcodeWrapper[4] = {0xDE, 0xC0, 0x17, 0x0B};
  const auto *bytes = static_cast<const unsigned char *>(data);
  if (hasMagic(bytes, size, kElf))
    return ImageKind::Cubin;
  if (hasMagic(bytes, size, kFatbin))
    return ImageKind::Fatbin;
  if (hasMagic(bytes, size, kBitcode) || hasMagic(bytes, size, kBitcodeWrapper))
    return ImageKind::LLVMBitcode;
  // PTX is text: after white space, a comment or a directive (".version").
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

  std::vector<char> errorLog(kJitLogBytes, '\0');
  std::vector<char> infoLog(kJitLogBytes, '\0');
  auto logSize = reinterpret_cast<void *>(uintptr_t{kJitLogBytes - 1});
  CUjit_option options[5];
  void *values[5];
  unsigned numOptions = 0;
  auto addOption = [&](CUjit_option option, void *value) {
    options[numOptions] = option;
    values[numOptions++] = value;
  };
  addOption(CU_JIT_ERROR_LOG_BUFFER, errorLog.data());
  addOption(CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES, logSize);
  if (debugEnabled()) {
    addOption(CU_JIT_INFO_LOG_BUFFER, infoLog.data());
    addOption(CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES, logSize);
  }
  if (jitOptLevel >= 0)
    addOption(CU_JIT_OPTIMIZATION_LEVEL,
              reinterpret_cast<void *>(static_cast<uintptr_t>(jitOptLevel)));

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
  std::lock_guard<std::mutex> lock(rt.mutex);
  rt.moduleDevices[module] = device;
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

} // namespace

/// gpu.binary objects in `bin` / `fatbin` format. `data` is not
/// NUL-terminated; `gpuBlobSize` is its size in bytes.
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
    // The driver needs NUL-terminated PTX; the blob carries a size instead.
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

/// gpu.binary objects in `isa` format: `data` is NUL-terminated PTX,
/// `optLevel` the object's "O" property (0 when absent), passed to the JIT
/// as CU_JIT_OPTIMIZATION_LEVEL (clamped to its range).
MOE_RT_EXPORT CUmodule mgpuModuleLoadJIT(void *data, int optLevel) {
  MOE_DEBUG("mgpuModuleLoadJIT(data=%p, optLevel=%d)", data, optLevel);
  if (!data)
    MOE_FATAL(__func__, "null PTX image");
  int level = std::min(std::max(optLevel, 0), kMaxJitOptLevel);
  if (level != optLevel)
    MOE_DEBUG("mgpuModuleLoadJIT: optimization level %d clamped to %d",
              optLevel, level);
  CUmodule module = loadImage(__func__, data, level);
  MOE_DEBUG("mgpuModuleLoadJIT -> module %p", static_cast<void *>(module));
  return module;
}

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

/// gpu.launch_func. Grid and block sizes are `index` values; `smem` is the
/// dynamic shared memory size in bytes; `paramsCount` is the number of
/// entries of `params` (for logging only).
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
  const intptr_t sizes[6] = {gridX, gridY, gridZ, blockX, blockY, blockZ};
  unsigned dims[6];
  bool empty = false;
  for (int i = 0; i < 6; ++i) {
    if (sizes[i] < 0 || static_cast<uintmax_t>(sizes[i]) > UINT_MAX) {
      reportError(__func__, OnError::Continue,
                  "grid/block dimension %d is %" PRIdPTR
                  ", outside [0, %u]; launch skipped",
                  i, sizes[i], UINT_MAX);
      return;
    }
    dims[i] = static_cast<unsigned>(sizes[i]);
    empty |= dims[i] == 0;
  }
  if (smem < 0) {
    reportError(__func__, OnError::Continue,
                "negative dynamic shared memory size %d; launch skipped", smem);
    return;
  }
  if (empty) {
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
