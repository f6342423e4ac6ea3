//===- GpuEmulator.cpp - run NVVM kernels on the host ---------------------===//
//
// Part of moe-mlir.
//
// `moe_gpu_emulator` runs the kernels of `--moe-lower-to-gpu-emulator` on
// the CPU: the same NVVM-level code as `--moe-lower-to-nvvm` produces, with
// its special registers, warp shuffles and reductions and barriers (and,
// with race checking, workgroup-memory accesses) turned into calls of this
// library (include/moe/Runtime/GpuEmulatorABI.h). It also implements the
// mgpu* memory, stream and event functions of the lowered host code, over
// host memory. It lets a machine without a GPU execute the GPU kernels and
// compare them with the reference values; it says nothing about speed.
//
// Model:
//   * Blocks run one after another; within a block every thread is a fiber
//     on its own stack (a stack switch in assembly on x86-64 Linux, ucontext
//     elsewhere). A fiber runs until it reaches a shuffle, a reduction, a
//     barrier or the end of the kernel; between rounds of running fibers,
//     the scheduler completes the warp operations whose lanes are all there
//     and the barrier once the whole block is there.
//   * shfl.sync follows the PTX ISA: source lane and validity from the mode,
//     the offset and the packed clamp / segment mask; lanes named by the
//     member mask are waited for (lanes that have exited are not), and they
//     must use the same mode and mask. Lanes outside the mask go their own
//     way (independent thread scheduling, sm_70 and later). Reading a lane
//     that is not in the mask or has exited is undefined on a GPU and an
//     error here.
//   * redux.sync (32-bit integers) waits for the lanes of its member mask,
//     all of which must take part, and gives each the reduction.
//   * bar.sync 0 waits for every thread of the block that has not exited.
//   * Fibers that can make no progress (a shuffle whose partners wait at a
//     barrier while the barrier waits for the shuffling threads) are a
//     deadlock: the launch is reported with the state of every warp.
//   * The schedule is pseudo-random (MOE_GPU_EMULATOR_SEED, default 1; 0
//     runs every thread in thread order): threads of a warp in a random
//     order, and per block either a random subset of the warps each round or
//     one warp at a time in a random priority order, so that warps get ahead
//     of one another as they may on a GPU. Results that depend on the order of
//     unsynchronized accesses show up as differences between seeds.
//   * Workgroup memory and fresh device allocations are filled with 0xff
//     bytes (NaN, -1) before use: a kernel that reads memory it never
//     wrote, which a GPU leaves undefined, gets visibly wrong values.
//   * Atomics are plain host atomics (fibers never run concurrently).
//   * With race checking (convert-nvvm-kernels-to-emulator{race-check}),
//     every workgroup-memory access is recorded per byte; two threads that
//     touch the same byte between two barriers, one of them writing and not
//     both atomically, are a data race, reported whatever the schedule.
//
// Errors are reported on stderr with the kernel, the block and the threads
// involved, and end the process with exit status 1. MOE_GPU_EMULATOR_DEBUG=1
// logs launches and the warp operations and barriers each completed.
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/GpuEmulatorABI.h"

#include <sys/mman.h>
#include <unistd.h>
#if !(defined(__x86_64__) && defined(__linux__)) ||                            \
    defined(MOE_GPU_EMULATOR_UCONTEXT)
#include <ucontext.h>
#endif

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#define MOE_EMU_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

constexpr const char *kTag = "moe_gpu_emulator";
constexpr unsigned kWarpSize = 32;
constexpr unsigned kMaxBlockThreads = 1024;
/// Kernel code needs little stack (its registers spill to it, plus the
/// runtime calls); one guard page below catches an overflow.
constexpr size_t kStackBytes = 256 * 1024;
constexpr unsigned char kPoisonByte = 0xff;

[[noreturn]] __attribute__((format(printf, 1, 2))) void fatal(const char *fmt,
                                                              ...) {
  std::fprintf(stderr, "%s: error: ", kTag);
  va_list args;
  va_start(args, fmt);
  std::vfprintf(stderr, fmt, args);
  va_end(args);
  std::fputc('\n', stderr);
  std::fflush(nullptr);
  // An error of the emulated program, not of this process: a plain failure
  // exit status (lit's `not` expects one).
  std::_Exit(EXIT_FAILURE);
}

bool debugEnabled() {
  static const bool enabled = [] {
    const char *value = std::getenv("MOE_GPU_EMULATOR_DEBUG");
    return value && *value && std::strcmp(value, "0") != 0;
  }();
  return enabled;
}

uint64_t scheduleSeed() {
  static const uint64_t seed = [] {
    const char *value = std::getenv("MOE_GPU_EMULATOR_SEED");
    if (!value || !*value)
      return uint64_t{1};
    char *end = nullptr;
    unsigned long long parsed = std::strtoull(value, &end, 0);
    if (*end)
      fatal("MOE_GPU_EMULATOR_SEED='%s' is not a number", value);
    return static_cast<uint64_t>(parsed);
  }();
  return seed;
}

//===----------------------------------------------------------------------===//
// Context switches
//===----------------------------------------------------------------------===//
//
// A fiber's entry function never returns: it switches back to the scheduler
// for the last time and is never resumed. -DMOE_GPU_EMULATOR_UCONTEXT selects
// the portable ucontext implementation on x86-64 Linux too.

#if defined(__x86_64__) && defined(__linux__) &&                               \
    !defined(MOE_GPU_EMULATOR_UCONTEXT)
// Saves the callee-saved registers and the SSE / x87 control words on the
// current stack, stores the stack pointer in *save, loads `load` and
// restores the same from there. No system call (ucontext's swapcontext
// saves the signal mask with one, which dominates emulation time).
extern "C" void moeEmuSwitchStack(void **save, void *load);
asm(R"(
  .text
  .p2align 4
  .hidden moeEmuSwitchStack
  .type moeEmuSwitchStack, @function
moeEmuSwitchStack:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size moeEmuSwitchStack, .-moeEmuSwitchStack
)");

struct Context {
  void *stackPointer = nullptr;
};

void switchContext(Context &from, Context &to) {
  moeEmuSwitchStack(&from.stackPointer, to.stackPointer);
}

/// Lays out the frame that moeEmuSwitchStack pops: control words, six
/// callee-saved registers, then `entry` as the return address, entered with
/// the stack aligned as after a call.
void makeContext(Context &context, void *stack, size_t bytes, void (*entry)()) {
  uintptr_t top = (reinterpret_cast<uintptr_t>(stack) + bytes) & ~uintptr_t{15};
  auto *slot = reinterpret_cast<uint64_t *>(top);
  *--slot = 0; // The return address of `entry`, which never returns.
  *--slot = reinterpret_cast<uint64_t>(entry);
  for (int i = 0; i < 6; ++i)
    *--slot = 0; // rbp, rbx, r12 - r15.
  uint32_t mxcsr = 0;
  uint16_t fpuControl = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(fpuControl));
  *--slot = uint64_t{mxcsr} | (uint64_t{fpuControl} << 32);
  context.stackPointer = slot;
}
#else
struct Context {
  ucontext_t context;
};

void switchContext(Context &from, Context &to) {
  if (swapcontext(&from.context, &to.context) != 0)
    fatal("swapcontext failed");
}

// getcontext returns twice; it stays out of the functions that loop.
__attribute__((noinline)) void makeContext(Context &context, void *stack,
                                           size_t bytes, void (*entry)()) {
  if (getcontext(&context.context) != 0)
    fatal("getcontext failed");
  context.context.uc_stack.ss_sp = stack;
  context.context.uc_stack.ss_size = bytes;
  context.context.uc_link = nullptr;
  makecontext(&context.context, entry, 0);
}
#endif

//===----------------------------------------------------------------------===//
// Fibers and launches
//===----------------------------------------------------------------------===//

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

/// Stacks, kept from launch to launch.
class StackPool {
public:
  void *get(size_t index) {
    while (stacks.size() <= index) {
      long page = sysconf(_SC_PAGESIZE);
      size_t bytes = kStackBytes + static_cast<size_t>(page);
      void *base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (base == MAP_FAILED)
        fatal("cannot map a %zu-byte fiber stack", bytes);
      if (mprotect(base, static_cast<size_t>(page), PROT_NONE) != 0)
        fatal("cannot protect a fiber stack guard page");
      stacks.push_back(static_cast<char *>(base) + page);
    }
    return stacks[index];
  }

private:
  std::vector<void *> stacks;
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
  // Warp-level shuffles and reductions, and block barriers, completed
  // (MOE_GPU_EMULATOR_DEBUG reports them).
  uint64_t shuffles = 0, reductions = 0, barriers = 0;
  std::vector<SharedBuffer> shared;
  /// The current barrier interval of the current block, never reused within
  /// a launch (0 marks shadow bytes never touched).
  uint32_t epoch = 0;
};

/// The launch that the calling OS thread is running (fibers run on it).
thread_local Launch *activeLaunch = nullptr;

std::mutex &launchMutex() {
  static std::mutex *mutex = new std::mutex;
  return *mutex;
}

StackPool &stackPool() {
  static StackPool *pool = new StackPool;
  return *pool;
}

Launch &launchOf(const char *function) {
  if (!activeLaunch || !activeLaunch->current)
    fatal("%s called outside an emulated kernel", function);
  return *activeLaunch;
}

[[noreturn]] void fiberEntry() {
  Launch &launch = *activeLaunch;
  launch.thunk(launch.params);
  Fiber &self = *launch.current;
  self.wait = Wait::Exited;
  switchContext(self.context, launch.scheduler);
  fatal("an exited fiber was resumed");
}

/// Back to the scheduler until the current fiber's wait is resolved.
void yieldToScheduler(Launch &launch) {
  switchContext(launch.current->context, launch.scheduler);
}

std::string blockName(const Launch &launch) {
  char buffer[96];
  std::snprintf(buffer, sizeof(buffer), "block (%u, %u, %u)", launch.blockId[0],
                launch.blockId[1], launch.blockId[2]);
  return buffer;
}

std::string threadName(const Fiber &fiber) {
  char buffer[96];
  std::snprintf(buffer, sizeof(buffer), "thread (%u, %u, %u) (lane %u)",
                fiber.tid[0], fiber.tid[1], fiber.tid[2],
                fiber.linear % kWarpSize);
  return buffer;
}

[[noreturn]] void launchError(const Launch &launch, const std::string &what) {
  fatal("kernel '%s', %s: %s", launch.kernel, blockName(launch).c_str(),
        what.c_str());
}

/// Lanes of the warp starting at `first` (of `count` lanes) that wait at a
/// shuffle or a reduction, and those that have exited.
struct WarpState {
  uint32_t waiting = 0;
  uint32_t exited = 0;
};

WarpState warpState(const Launch &launch, unsigned first, unsigned count) {
  WarpState state;
  for (unsigned l = 0; l < count; ++l) {
    Wait wait = launch.fibers[first + l].wait;
    if (wait == Wait::Shuffle || wait == Wait::Redux)
      state.waiting |= 1u << l;
    else if (wait == Wait::Exited)
      state.exited |= 1u << l;
  }
  return state;
}

const char *warpOpName(Wait wait) {
  return wait == Wait::Redux ? "redux.sync" : "shfl.sync";
}

/// True when lanes `a` and `b` wait at the same warp operation: same
/// instruction kind, mode or operation, and member mask.
bool sameWarpOp(const Fiber &a, const Fiber &b) {
  return a.wait == b.wait && a.kind == b.kind && a.mask == b.mask;
}

/// The lanes of the warp starting at `first` whose shuffle or reduction can
/// complete: every lane of its member mask that has not exited waits at the
/// same operation. Lanes outside the mask may be anywhere (independent
/// thread scheduling). Two lanes that name each other but wait at different
/// operations can never complete: an error, as on a GPU it is undefined.
uint32_t readyLanes(const Launch &launch, unsigned first, unsigned count) {
  const Fiber *lanes = &launch.fibers[first];
  auto [waiting, exited] = warpState(launch, first, count);
  uint32_t present = count == kWarpSize ? ~0u : ((1u << count) - 1);
  uint32_t ready = 0;
  for (unsigned l = 0; l < count; ++l) {
    if (!(waiting & (1u << l)))
      continue;
    const Fiber &lane = lanes[l];
    if (!(lane.mask & (1u << l)))
      launchError(launch, threadName(lane) + " runs " + warpOpName(lane.wait) +
                              " with a member mask that leaves it out");
    if (lane.mask & ~present) {
      char detail[160];
      std::snprintf(detail, sizeof(detail),
                    " runs %s with member mask 0x%08x, which names lanes "
                    "beyond the block's %u-thread warp",
                    warpOpName(lane.wait), lane.mask, count);
      launchError(launch, threadName(lane) + detail);
    }
    bool complete = true;
    for (unsigned p = 0; p < count; ++p) {
      if (!((lane.mask & ~exited) & (1u << p)))
        continue;
      const Fiber &partner = lanes[p];
      if (!(waiting & (1u << p))) {
        complete = false; // Still running, or at a barrier.
        continue;
      }
      if (sameWarpOp(lane, partner))
        continue;
      complete = false;
      if (partner.mask & (1u << l)) {
        char detail[240];
        std::snprintf(detail, sizeof(detail),
                      " (%s %d, mask 0x%08x) and lane %u (%s %d, mask "
                      "0x%08x) wait for each other at different warp "
                      "operations, qualifiers or member masks",
                      warpOpName(lane.wait), lane.kind, lane.mask, p,
                      warpOpName(partner.wait), partner.kind, partner.mask);
        launchError(launch, threadName(lane) + detail);
      }
    }
    if (complete)
      ready |= 1u << l;
  }
  return ready;
}

/// redux.sync of `lane` (and of every lane of its member mask, which all
/// take part: a lane that has exited leaves the result undefined).
uint32_t reduce(const Launch &launch, const Fiber &lane, const Fiber *lanes,
                unsigned count, uint32_t exited) {
  if (lane.mask & exited) {
    char detail[160];
    std::snprintf(detail, sizeof(detail),
                  " runs redux.sync with member mask 0x%08x, which names "
                  "lanes that have exited (0x%08x): the result is undefined",
                  lane.mask, lane.mask & exited);
    launchError(launch, threadName(lane) + detail);
  }
  bool first = true;
  uint32_t result = 0;
  for (unsigned p = 0; p < count; ++p) {
    if (!(lane.mask & (1u << p)))
      continue;
    uint32_t v = lanes[p].value;
    if (first) {
      result = v;
      first = false;
      continue;
    }
    switch (lane.kind) {
    case MOE_EMU_REDUX_ADD:
      result += v;
      break;
    case MOE_EMU_REDUX_AND:
      result &= v;
      break;
    case MOE_EMU_REDUX_OR:
      result |= v;
      break;
    case MOE_EMU_REDUX_XOR:
      result ^= v;
      break;
    case MOE_EMU_REDUX_MIN:
      result = static_cast<uint32_t>(
          std::min(static_cast<int32_t>(result), static_cast<int32_t>(v)));
      break;
    case MOE_EMU_REDUX_MAX:
      result = static_cast<uint32_t>(
          std::max(static_cast<int32_t>(result), static_cast<int32_t>(v)));
      break;
    case MOE_EMU_REDUX_UMIN:
      result = std::min(result, v);
      break;
    case MOE_EMU_REDUX_UMAX:
      result = std::max(result, v);
      break;
    default:
      launchError(launch, threadName(lane) + " runs redux.sync with kind " +
                              std::to_string(lane.kind));
    }
  }
  return result;
}

/// Completes the shuffles and reductions of the `ready` lanes of the warp
/// starting at `first` (see readyLanes) and lets them run again.
void completeLanes(Launch &launch, unsigned first, unsigned count,
                   uint32_t ready) {
  Fiber *lanes = &launch.fibers[first];
  uint32_t exited = warpState(launch, first, count).exited;
  // One warp operation per group of ready lanes that share a member mask;
  // a reduction is computed once for its group.
  for (uint32_t left = ready; left;) {
    const Fiber &leader = lanes[__builtin_ctz(left)];
    uint32_t group = leader.mask & ready;
    if (leader.wait == Wait::Redux) {
      uint32_t result = reduce(launch, leader, lanes, count, exited);
      for (unsigned l = 0; l < count; ++l)
        if (group & (1u << l))
          lanes[l].result = result;
      ++launch.reductions;
    } else {
      ++launch.shuffles;
    }
    left &= ~group;
  }
  for (unsigned l = 0; l < count; ++l) {
    if (!(ready & (1u << l)) || lanes[l].wait != Wait::Shuffle)
      continue;
    Fiber &lane = lanes[l];
    int32_t b = static_cast<int32_t>(lane.offset & 0x1f);
    int32_t c = static_cast<int32_t>(lane.clamp & 0x1f);
    int32_t segmask = static_cast<int32_t>((lane.clamp >> 8) & 0x1f);
    int32_t self = static_cast<int32_t>(l);
    int32_t maxLane = (self & segmask) | (c & ~segmask);
    int32_t minLane = self & segmask;
    int32_t j = self;
    bool valid = false;
    switch (lane.kind) {
    case MOE_EMU_SHFL_UP:
      j = self - b;
      valid = j >= maxLane;
      break;
    case MOE_EMU_SHFL_DOWN:
      j = self + b;
      valid = j <= maxLane;
      break;
    case MOE_EMU_SHFL_BFLY:
      j = self ^ b;
      valid = j <= maxLane;
      break;
    case MOE_EMU_SHFL_IDX:
      j = minLane | (b & ~segmask);
      valid = j <= maxLane;
      break;
    default:
      launchError(launch, threadName(lane) + " runs shfl.sync with mode " +
                              std::to_string(lane.kind));
    }
    if (!valid)
      j = self;
    if (j < 0 || j >= static_cast<int32_t>(count) ||
        !((lane.mask & ~exited) & (1u << j))) {
      char detail[160];
      std::snprintf(detail, sizeof(detail),
                    " reads lane %d in shfl.sync (mask 0x%08x), which does "
                    "not take part: the value is undefined",
                    j, lane.mask);
      launchError(launch, threadName(lane) + detail);
    }
    lane.result = lanes[j].value;
    lane.valid = valid;
  }
  for (unsigned l = 0; l < count; ++l)
    if (ready & (1u << l))
      lanes[l].wait = Wait::None;
}

[[noreturn]] void reportDeadlock(const Launch &launch) {
  std::string report = "deadlock: no thread can continue";
  unsigned numThreads = static_cast<unsigned>(launch.fibers.size());
  for (unsigned first = 0; first < numThreads; first += kWarpSize) {
    unsigned count = std::min(kWarpSize, numThreads - first);
    unsigned counts[5] = {0, 0, 0, 0, 0};
    for (unsigned l = 0; l < count; ++l)
      ++counts[static_cast<int>(launch.fibers[first + l].wait)];
    unsigned atShuffle = counts[static_cast<int>(Wait::Shuffle)];
    unsigned atRedux = counts[static_cast<int>(Wait::Redux)];
    char line[200];
    std::snprintf(line, sizeof(line),
                  "\n  warp %u: %u at shfl.sync, %u at redux.sync, %u at "
                  "bar.sync, %u exited",
                  first / kWarpSize, atShuffle, atRedux,
                  counts[static_cast<int>(Wait::Barrier)],
                  counts[static_cast<int>(Wait::Exited)]);
    report += line;
    for (unsigned l = 0; l < count && (atShuffle || atRedux); ++l) {
      const Fiber &lane = launch.fibers[first + l];
      if (lane.wait != Wait::Shuffle && lane.wait != Wait::Redux)
        continue;
      std::snprintf(line, sizeof(line), " (lane %u waits with mask 0x%08x)", l,
                    lane.mask);
      report += line;
      break;
    }
  }
  launchError(launch, report);
}

/// Runs one block to completion. Each round runs the threads of some warps
/// until they stop, then completes the shuffles and the barrier that can
/// complete. With a schedule (`rng`), each warp's threads run in a random
/// order, and the block draws one of two warp policies: a random non-empty
/// subset of the warps that have threads to run goes in each round, or only
/// the first of them in a random priority order (so that one warp runs all
/// the way to a barrier before the next one starts). Either way warps get
/// ahead of one another between barriers, as they may on a GPU.
void runBlock(Launch &launch, std::mt19937_64 *rng) {
  unsigned numThreads = static_cast<unsigned>(launch.fibers.size());
  unsigned numWarps = (numThreads + kWarpSize - 1) / kWarpSize;
  auto warpSize = [&](unsigned warp) {
    return std::min(kWarpSize, numThreads - warp * kWarpSize);
  };
  for (unsigned i = 0; i < numThreads; ++i) {
    Fiber &fiber = launch.fibers[i];
    fiber.wait = Wait::None;
    makeContext(fiber.context, stackPool().get(i), kStackBytes, fiberEntry);
  }
  bool byPriority = rng && ((*rng)() & 1);
  std::vector<unsigned> priority(numWarps);
  std::iota(priority.begin(), priority.end(), 0u);
  if (byPriority)
    std::shuffle(priority.begin(), priority.end(), *rng);
  std::vector<unsigned> warps, lanes;
  unsigned exited = 0;
  while (true) {
    warps.clear();
    for (unsigned warp = 0; warp < numWarps; ++warp)
      for (unsigned l = 0; l < warpSize(warp); ++l)
        if (launch.fibers[warp * kWarpSize + l].wait == Wait::None) {
          warps.push_back(warp);
          break;
        }
    size_t numRun = warps.size();
    if (byPriority && numRun > 1) {
      auto first = std::min_element(
          warps.begin(), warps.end(),
          [&](unsigned a, unsigned b) { return priority[a] < priority[b]; });
      std::swap(warps.front(), *first);
      numRun = 1;
    } else if (rng && numRun > 1) {
      std::shuffle(warps.begin(), warps.end(), *rng);
      numRun = 1 + (*rng)() % numRun;
    }
    for (size_t i = 0; i < numRun; ++i) {
      lanes.resize(warpSize(warps[i]));
      std::iota(lanes.begin(), lanes.end(), warps[i] * kWarpSize);
      if (rng)
        std::shuffle(lanes.begin(), lanes.end(), *rng);
      for (unsigned thread : lanes) {
        Fiber &fiber = launch.fibers[thread];
        if (fiber.wait != Wait::None)
          continue;
        launch.current = &fiber;
        switchContext(launch.scheduler, fiber.context);
        if (fiber.wait == Wait::Exited)
          ++exited;
      }
    }
    launch.current = nullptr;
    if (exited == numThreads)
      return;

    bool progress = numRun > 0;
    for (unsigned warp = 0; warp < numWarps; ++warp) {
      if (uint32_t ready =
              readyLanes(launch, warp * kWarpSize, warpSize(warp))) {
        completeLanes(launch, warp * kWarpSize, warpSize(warp), ready);
        progress = true;
      }
    }
    bool barrierComplete = true;
    for (const Fiber &fiber : launch.fibers)
      barrierComplete &=
          fiber.wait == Wait::Barrier || fiber.wait == Wait::Exited;
    if (barrierComplete) {
      ++launch.barriers;
      ++launch.epoch;
      for (Fiber &fiber : launch.fibers)
        if (fiber.wait == Wait::Barrier) {
          fiber.wait = Wait::None;
          progress = true;
        }
    }
    if (!progress)
      reportDeadlock(launch);
  }
}

unsigned checkedDim(const char *kernel, const char *what, int64_t value,
                    int64_t limit) {
  if (value < 0 || value > limit)
    fatal("kernel '%s': %s dimension %" PRId64 " is outside [0, %" PRId64 "]",
          kernel, what, value, limit);
  return static_cast<unsigned>(value);
}

} // namespace

//===----------------------------------------------------------------------===//
// Entry points of emulated kernels (GpuEmulatorABI.h)
//===----------------------------------------------------------------------===//

MOE_EMU_EXPORT uint32_t moeEmuSpecialRegister(int32_t which) {
  Launch &launch = launchOf(__func__);
  const Fiber &self = *launch.current;
  switch (which) {
  case MOE_EMU_SREG_TID_X:
  case MOE_EMU_SREG_TID_Y:
  case MOE_EMU_SREG_TID_Z:
    return self.tid[which - MOE_EMU_SREG_TID_X];
  case MOE_EMU_SREG_NTID_X:
  case MOE_EMU_SREG_NTID_Y:
  case MOE_EMU_SREG_NTID_Z:
    return launch.block[which - MOE_EMU_SREG_NTID_X];
  case MOE_EMU_SREG_CTAID_X:
  case MOE_EMU_SREG_CTAID_Y:
  case MOE_EMU_SREG_CTAID_Z:
    return launch.blockId[which - MOE_EMU_SREG_CTAID_X];
  case MOE_EMU_SREG_NCTAID_X:
  case MOE_EMU_SREG_NCTAID_Y:
  case MOE_EMU_SREG_NCTAID_Z:
    return launch.grid[which - MOE_EMU_SREG_NCTAID_X];
  case MOE_EMU_SREG_LANEID:
    return self.linear % kWarpSize;
  case MOE_EMU_SREG_WARPSIZE:
    return kWarpSize;
  default:
    fatal("kernel '%s': unknown special register %d", launch.kernel, which);
  }
}

MOE_EMU_EXPORT uint32_t moeEmuShuffle(int32_t kind, uint32_t mask,
                                      uint32_t value, uint32_t offset,
                                      uint32_t clamp) {
  Launch &launch = launchOf(__func__);
  Fiber &self = *launch.current;
  self.kind = kind;
  self.mask = mask;
  self.value = value;
  self.offset = offset;
  self.clamp = clamp;
  self.wait = Wait::Shuffle;
  yieldToScheduler(launch);
  return self.result;
}

MOE_EMU_EXPORT uint32_t moeEmuRedux(int32_t kind, uint32_t value,
                                    uint32_t mask) {
  Launch &launch = launchOf(__func__);
  Fiber &self = *launch.current;
  self.kind = kind;
  self.mask = mask;
  self.value = value;
  self.wait = Wait::Redux;
  yieldToScheduler(launch);
  return self.result;
}

MOE_EMU_EXPORT int32_t moeEmuShufflePredicate() {
  return launchOf(__func__).current->valid ? 1 : 0;
}

MOE_EMU_EXPORT void moeEmuBarrier() {
  Launch &launch = launchOf(__func__);
  launch.current->wait = Wait::Barrier;
  yieldToScheduler(launch);
}

MOE_EMU_EXPORT void moeEmuSharedAccess(void *address, int64_t bytes,
                                       int32_t kind) {
  Launch &launch = launchOf(__func__);
  const Fiber &self = *launch.current;
  char *begin = static_cast<char *>(address);
  SharedBuffer *buffer = nullptr;
  size_t index = 0;
  for (SharedBuffer &candidate : launch.shared) {
    if (begin >= candidate.base && bytes >= 0 &&
        begin + bytes <= candidate.base + candidate.bytes) {
      buffer = &candidate;
      index = &candidate - launch.shared.data();
      break;
    }
  }
  if (!buffer) {
    char detail[160];
    std::snprintf(detail, sizeof(detail),
                  " accesses %" PRId64 " bytes of workgroup memory at %p, "
                  "outside every workgroup buffer of the kernel",
                  bytes, address);
    launchError(launch, threadName(self) + detail);
  }
  if (buffer->shadow.empty())
    buffer->shadow.resize(buffer->bytes);
  auto me = static_cast<uint16_t>(self.linear);
  bool atomic = kind == MOE_EMU_ACCESS_ATOMIC;
  bool write = kind != MOE_EMU_ACCESS_READ;
  size_t offset = static_cast<size_t>(begin - buffer->base);
  for (int64_t i = 0; i < bytes; ++i) {
    ByteShadow &byte = buffer->shadow[offset + static_cast<size_t>(i)];
    const char *conflict = nullptr;
    unsigned other = 0;
    if (byte.writeEpoch == launch.epoch && byte.writer != me &&
        !(atomic && byte.writeAtomic)) {
      conflict = "wrote";
      other = byte.writer;
    } else if (write && byte.readEpoch == launch.epoch &&
               (byte.manyReaders || byte.reader != me)) {
      conflict = "read";
      other = byte.reader == me ? ~0u : byte.reader;
    }
    if (conflict) {
      char detail[240];
      std::string by = other == ~0u ? std::string("another thread")
                                    : threadName(launch.fibers[other]);
      std::snprintf(
          detail, sizeof(detail),
          " %s byte %zu of workgroup buffer %zu, which %s %s since "
          "the last barrier: a data race",
          atomic ? "atomically updates" : (write ? "writes" : "reads"),
          offset + static_cast<size_t>(i), index, by.c_str(), conflict);
      launchError(launch, threadName(self) + detail);
    }
    if (write) {
      byte.writeEpoch = launch.epoch;
      byte.writer = me;
      byte.writeAtomic = atomic;
    } else if (byte.readEpoch != launch.epoch) {
      byte.readEpoch = launch.epoch;
      byte.reader = me;
      byte.manyReaders = false;
    } else if (byte.reader != me) {
      byte.manyReaders = true;
    }
  }
}

MOE_EMU_EXPORT void moeEmuLaunch(const char *kernel, void (*thunk)(void **),
                                 void **params, int64_t gridX, int64_t gridY,
                                 int64_t gridZ, int64_t blockX, int64_t blockY,
                                 int64_t blockZ, int32_t dynamicSharedBytes,
                                 void **shared, const int64_t *sharedBytes,
                                 int32_t numShared) {
  if (!kernel || !thunk)
    fatal("moeEmuLaunch: null kernel");
  std::lock_guard<std::mutex> lock(launchMutex());
  if (activeLaunch)
    fatal("kernel '%s' launched from inside kernel '%s'", kernel,
          activeLaunch->kernel);
  Launch launch;
  launch.kernel = kernel;
  launch.thunk = thunk;
  launch.params = params;
  launch.grid[0] = checkedDim(kernel, "grid x", gridX, INT32_MAX);
  launch.grid[1] = checkedDim(kernel, "grid y", gridY, 65535);
  launch.grid[2] = checkedDim(kernel, "grid z", gridZ, 65535);
  launch.block[0] = checkedDim(kernel, "block x", blockX, kMaxBlockThreads);
  launch.block[1] = checkedDim(kernel, "block y", blockY, kMaxBlockThreads);
  launch.block[2] = checkedDim(kernel, "block z", blockZ, 64);
  uint64_t numThreads =
      uint64_t{launch.block[0]} * launch.block[1] * launch.block[2];
  if (numThreads > kMaxBlockThreads)
    fatal("kernel '%s': a block of %" PRIu64 " threads exceeds %u", kernel,
          numThreads, kMaxBlockThreads);
  if (dynamicSharedBytes != 0)
    fatal("kernel '%s': dynamic shared memory (%d bytes) is not emulated",
          kernel, dynamicSharedBytes);
  if (debugEnabled())
    std::fprintf(stderr,
                 "%s: launch '%s' grid (%u, %u, %u) block (%u, %u, %u), %d "
                 "workgroup buffers\n",
                 kTag, kernel, launch.grid[0], launch.grid[1], launch.grid[2],
                 launch.block[0], launch.block[1], launch.block[2], numShared);
  uint64_t numBlocks =
      uint64_t{launch.grid[0]} * launch.grid[1] * launch.grid[2];
  if (numBlocks == 0 || numThreads == 0)
    return;

  for (int32_t i = 0; i < numShared; ++i)
    launch.shared.push_back({static_cast<char *>(shared[i]),
                             static_cast<size_t>(sharedBytes[i]),
                             {}});
  launch.fibers.resize(numThreads);
  for (unsigned z = 0, i = 0; z < launch.block[2]; ++z)
    for (unsigned y = 0; y < launch.block[1]; ++y)
      for (unsigned x = 0; x < launch.block[0]; ++x, ++i) {
        Fiber &fiber = launch.fibers[i];
        fiber.tid[0] = x;
        fiber.tid[1] = y;
        fiber.tid[2] = z;
        fiber.linear = i;
      }
  uint64_t seed = scheduleSeed();
  std::mt19937_64 rng(seed);

  activeLaunch = &launch;
  for (unsigned z = 0; z < launch.grid[2]; ++z)
    for (unsigned y = 0; y < launch.grid[1]; ++y)
      for (unsigned x = 0; x < launch.grid[0]; ++x) {
        launch.blockId[0] = x;
        launch.blockId[1] = y;
        launch.blockId[2] = z;
        for (SharedBuffer &buffer : launch.shared)
          std::memset(buffer.base, kPoisonByte, buffer.bytes);
        ++launch.epoch;
        runBlock(launch, seed ? &rng : nullptr);
      }
  activeLaunch = nullptr;
  if (debugEnabled())
    std::fprintf(stderr,
                 "%s: '%s' done: %" PRIu64 " warp shuffles, %" PRIu64
                 " warp reductions, %" PRIu64 " block barriers\n",
                 kTag, kernel, launch.shuffles, launch.reductions,
                 launch.barriers);
}

//===----------------------------------------------------------------------===//
// mgpu* functions of the lowered host code, over host memory
//===----------------------------------------------------------------------===//

namespace {
/// Streams and events are placeholders: every operation completes before
/// its call returns.
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

/// gpu.alloc: poisoned host memory (a GPU leaves it undefined). Zero bytes
/// give a null pointer, like the CUDA runtime.
MOE_EMU_EXPORT void *mgpuMemAlloc(intptr_t sizeBytes, void *, int8_t) {
  if (sizeBytes < 0)
    fatal("mgpuMemAlloc: negative allocation size %" PRIdPTR, sizeBytes);
  if (sizeBytes == 0)
    return nullptr;
  // cudaMalloc's alignment, and exactly the bytes requested, so that
  // AddressSanitizer (scripts/asan-check --gpu-emulator) sees any access
  // past the end.
  void *ptr = nullptr;
  size_t bytes = static_cast<size_t>(sizeBytes);
  if (posix_memalign(&ptr, 256, bytes) != 0)
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
  auto *elements = static_cast<uint32_t *>(dst);
  for (intptr_t i = 0; i < count; ++i)
    elements[i] = value;
}

MOE_EMU_EXPORT void mgpuMemset16(void *dst, uint16_t value, intptr_t count,
                                 void *) {
  auto *elements = static_cast<uint16_t *>(dst);
  for (intptr_t i = 0; i < count; ++i)
    elements[i] = value;
}

MOE_EMU_EXPORT void mgpuMemHostRegister(void *, uint64_t) {}
MOE_EMU_EXPORT void mgpuMemHostUnregister(void *) {}
MOE_EMU_EXPORT void mgpuMemHostRegisterMemRef(int64_t, void *, int64_t) {}
MOE_EMU_EXPORT void mgpuMemHostUnregisterMemRef(int64_t, void *, int64_t) {}

//===----------------------------------------------------------------------===//
// libdevice functions that convert-gpu-to-nvvm calls (math ops), on libm
//===----------------------------------------------------------------------===//

#define MOE_EMU_UNARY(name, f32, f64)                                          \
  MOE_EMU_EXPORT float __nv_##name##f(float x) { return f32(x); }              \
  MOE_EMU_EXPORT double __nv_##name(double x) { return f64(x); }
#define MOE_EMU_BINARY(name, f32, f64)                                         \
  MOE_EMU_EXPORT float __nv_##name##f(float x, float y) { return f32(x, y); }  \
  MOE_EMU_EXPORT double __nv_##name(double x, double y) { return f64(x, y); }

MOE_EMU_UNARY(exp, std::exp, std::exp)
MOE_EMU_UNARY(exp2, std::exp2, std::exp2)
MOE_EMU_UNARY(expm1, std::expm1, std::expm1)
MOE_EMU_UNARY(log, std::log, std::log)
MOE_EMU_UNARY(log2, std::log2, std::log2)
MOE_EMU_UNARY(log10, std::log10, std::log10)
MOE_EMU_UNARY(log1p, std::log1p, std::log1p)
MOE_EMU_UNARY(sqrt, std::sqrt, std::sqrt)
MOE_EMU_UNARY(cbrt, std::cbrt, std::cbrt)
MOE_EMU_UNARY(fabs, std::fabs, std::fabs)
MOE_EMU_UNARY(floor, std::floor, std::floor)
MOE_EMU_UNARY(ceil, std::ceil, std::ceil)
MOE_EMU_UNARY(trunc, std::trunc, std::trunc)
MOE_EMU_UNARY(round, std::round, std::round)
MOE_EMU_UNARY(rint, std::rint, std::rint)
MOE_EMU_UNARY(tanh, std::tanh, std::tanh)
MOE_EMU_UNARY(sin, std::sin, std::sin)
MOE_EMU_UNARY(cos, std::cos, std::cos)
MOE_EMU_UNARY(tan, std::tan, std::tan)
MOE_EMU_UNARY(atan, std::atan, std::atan)
MOE_EMU_UNARY(erf, std::erf, std::erf)
MOE_EMU_BINARY(pow, std::pow, std::pow)
MOE_EMU_BINARY(fmax, std::fmax, std::fmax)
MOE_EMU_BINARY(fmin, std::fmin, std::fmin)
MOE_EMU_BINARY(fmod, std::fmod, std::fmod)
MOE_EMU_BINARY(atan2, std::atan2, std::atan2)
MOE_EMU_BINARY(copysign, std::copysign, std::copysign)

MOE_EMU_EXPORT float __nv_rsqrtf(float x) { return 1.0f / std::sqrt(x); }
MOE_EMU_EXPORT double __nv_rsqrt(double x) { return 1.0 / std::sqrt(x); }
MOE_EMU_EXPORT int __nv_isnanf(float x) { return std::isnan(x); }
MOE_EMU_EXPORT int __nv_isinff(float x) { return std::isinf(x); }

#undef MOE_EMU_UNARY
#undef MOE_EMU_BINARY
