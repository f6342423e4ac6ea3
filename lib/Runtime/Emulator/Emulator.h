//===- Emulator.h - moe_gpu_emulator internals ------------------*- C++ -*-===//
//
// Part of moe-mlir.
//
// `moe_gpu_emulator` runs the kernels of `--moe-lower-to-gpu-emulator` on
// the CPU (docs/emulator.md): each GPU thread is a fiber (Fiber.cpp), blocks
// run one after another (Scheduler.cpp), warp operations and barriers
// complete when their threads are all there (WarpOps.cpp), and workgroup
// accesses may be checked for races (RaceCheck.cpp). HostStubs.cpp provides
// the mgpu* functions of the lowered host code, LibDevice.cpp the libdevice
// math functions. The entry points are those of
// include/moe/Runtime/GpuEmulatorABI.h.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_RUNTIME_EMULATOR_EMULATOR_H
#define MOE_LIB_RUNTIME_EMULATOR_EMULATOR_H

#if !(defined(__x86_64__) && defined(__linux__)) ||                            \
    defined(MOE_GPU_EMULATOR_UCONTEXT)
#define MOE_GPU_EMULATOR_USE_UCONTEXT 1
#include <ucontext.h>
#endif

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#define MOE_EMU_EXPORT extern "C" __attribute__((visibility("default")))

namespace moe::emu {

constexpr const char *kTag = "moe_gpu_emulator";
constexpr unsigned kWarpSize = 32;
/// CUDA's limits on a launch.
constexpr unsigned kMaxBlockThreads = 1024;
constexpr unsigned kMaxBlockZ = 64;
constexpr int64_t kMaxGridX = INT32_MAX;
constexpr int64_t kMaxGridYZ = 65535;
/// Kernel code needs little stack (its registers spill to it, plus the
/// runtime calls); one guard page below catches an overflow.
constexpr size_t kStackBytes = 256 * 1024;
/// Fills memory a GPU leaves undefined: NaN as f32, -1 as an integer.
constexpr unsigned char kPoisonByte = 0xff;

/// Prints `moe_gpu_emulator: error: ...` and exits with status 1.
[[noreturn]] __attribute__((format(printf, 1, 2))) void fatal(const char *fmt,
                                                              ...);
/// MOE_GPU_EMULATOR_DEBUG is set.
bool debugEnabled();

//===----------------------------------------------------------------------===//
// Fibers (Fiber.cpp)
//===----------------------------------------------------------------------===//

/// The saved state of a fiber or of the scheduler.
struct Context {
#ifdef MOE_GPU_EMULATOR_USE_UCONTEXT
  ucontext_t context;
#else
  void *stackPointer = nullptr;
#endif
};

/// Saves the current state in `from` and resumes `to`.
void switchContext(Context &from, Context &to);

/// Prepares `context` to run `entry`, which never returns, on `stack`.
void makeContext(Context &context, void *stack, size_t bytes, void (*entry)());

/// The `index`-th fiber stack (kStackBytes, guarded), kept across launches.
void *getFiberStack(size_t index);

/// Runs the current fiber's kernel, then returns to the scheduler for good.
[[noreturn]] void fiberEntry();

//===----------------------------------------------------------------------===//
// Launch state
//===----------------------------------------------------------------------===//

/// Where a fiber stopped.
enum class Wait { None, Shuffle, Redux, Barrier, Exited };

/// One emulated thread.
struct Fiber {
  Context context;
  unsigned tid[3] = {0, 0, 0};
  unsigned linear = 0;
  Wait wait = Wait::None;
  // The pending shfl.sync or redux.sync: its operands, then its result.
  int32_t kind = 0;
  uint32_t mask = 0, value = 0, offset = 0, clamp = 0;
  uint32_t result = 0;
  bool valid = false;
};

/// Race-checking state of one byte of workgroup memory: its last writer
/// and its readers in the current barrier interval ("epoch").
struct ByteShadow {
  uint32_t writeEpoch = 0;
  uint32_t readEpoch = 0;
  uint16_t writer = 0;
  uint16_t reader = 0;
  bool writeAtomic = false;
  bool manyReaders = false;
};

/// A workgroup buffer of the kernel, with its race-checking shadow.
struct SharedBuffer {
  char *base;
  size_t bytes;
  std::vector<ByteShadow> shadow;
};

struct Launch {
  const char *kernel;
  void (*thunk)(void **);
  void **params;
  unsigned grid[3];
  unsigned block[3];
  unsigned blockId[3] = {0, 0, 0};
  std::vector<Fiber> fibers;
  Fiber *current = nullptr;
  Context scheduler;
  // Warp shuffles, warp reductions and block barriers completed
  // (MOE_GPU_EMULATOR_DEBUG reports them).
  uint64_t shuffles = 0, reductions = 0, barriers = 0;
  std::vector<SharedBuffer> shared;
  /// The current barrier interval of the current block, never reused within
  /// a launch (0 marks shadow bytes never touched).
  uint32_t epoch = 0;
};

/// The launch that the calling OS thread is running (fibers run on it).
extern thread_local Launch *activeLaunch;

/// The active launch, for the runtime function `function` called by a fiber.
inline Launch &launchOf(const char *function) {
  if (!activeLaunch || !activeLaunch->current)
    fatal("%s called outside an emulated kernel", function);
  return *activeLaunch;
}

/// Back to the scheduler until the current fiber's wait is resolved.
inline void yieldToScheduler(Launch &launch) {
  switchContext(launch.current->context, launch.scheduler);
}

std::string threadName(const Fiber &fiber);

/// Reports an error of the kernel in the current block and exits.
[[noreturn]] void launchError(const Launch &launch, const std::string &what);

//===----------------------------------------------------------------------===//
// Warp operations (WarpOps.cpp)
//===----------------------------------------------------------------------===//

/// The lanes of the warp starting at `first` (`count` lanes) whose shuffle or
/// reduction can complete.
uint32_t readyLanes(const Launch &launch, unsigned first, unsigned count);

/// Completes the shuffles and reductions of the `ready` lanes of the warp
/// starting at `first` and lets them run again.
void completeLanes(Launch &launch, unsigned first, unsigned count,
                   uint32_t ready);

} // namespace moe::emu

#endif // MOE_LIB_RUNTIME_EMULATOR_EMULATOR_H
