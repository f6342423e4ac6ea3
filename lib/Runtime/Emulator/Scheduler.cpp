//===- Scheduler.cpp - launches, blocks and the schedule ------------------===//
//
// Part of moe-mlir.
//
// moeEmuLaunch runs the blocks of a launch one after another. Within a block
// the scheduler runs the fibers of some warps until each stops (at a warp
// operation, a barrier or its end), then completes the warp operations and
// the barrier whose threads are all there. The schedule is pseudo-random
// (MOE_GPU_EMULATOR_SEED, default 1; 0 runs every thread in thread order),
// so that warps get ahead of one another as they may on a GPU.
//
//===----------------------------------------------------------------------===//

#include "Emulator.h"

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <numeric>
#include <random>

using namespace moe::emu;

thread_local Launch *moe::emu::activeLaunch = nullptr;

void moe::emu::fatal(const char *fmt, ...) {
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

bool moe::emu::debugEnabled() {
  static const bool enabled = [] {
    const char *value = std::getenv("MOE_GPU_EMULATOR_DEBUG");
    return value && *value && std::strcmp(value, "0") != 0;
  }();
  return enabled;
}

static uint64_t scheduleSeed() {
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

static std::mutex &launchMutex() {
  static auto *mutex = new std::mutex;
  return *mutex;
}

std::string moe::emu::threadName(const Fiber &fiber) {
  char buffer[96];
  std::snprintf(buffer, sizeof(buffer), "thread (%u, %u, %u) (lane %u)",
                fiber.tid[0], fiber.tid[1], fiber.tid[2],
                fiber.linear % kWarpSize);
  return buffer;
}

void moe::emu::launchError(const Launch &launch, const std::string &what) {
  fatal("kernel '%s', block (%u, %u, %u): %s", launch.kernel,
        launch.blockId[0], launch.blockId[1], launch.blockId[2],
        what.c_str());
}

/// No fiber can continue: reports the state of every warp.
[[noreturn]] static void reportDeadlock(const Launch &launch) {
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
/// the way to a barrier before the next one starts).
static void runBlock(Launch &launch, std::mt19937_64 *rng) {
  unsigned numThreads = static_cast<unsigned>(launch.fibers.size());
  unsigned numWarps = (numThreads + kWarpSize - 1) / kWarpSize;
  auto warpSize = [&](unsigned warp) {
    return std::min(kWarpSize, numThreads - warp * kWarpSize);
  };
  for (unsigned i = 0; i < numThreads; ++i) {
    Fiber &fiber = launch.fibers[i];
    fiber.wait = Wait::None;
    makeContext(fiber.context, getFiberStack(i), kStackBytes, fiberEntry);
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
    // bar.sync 0 completes once every thread that has not exited waits.
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

static unsigned checkedDim(const char *kernel, const char *what, int64_t value,
                           int64_t limit) {
  if (value < 0 || value > limit)
    fatal("kernel '%s': %s dimension %" PRId64 " is outside [0, %" PRId64 "]",
          kernel, what, value, limit);
  return static_cast<unsigned>(value);
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
  launch.grid[0] = checkedDim(kernel, "grid x", gridX, kMaxGridX);
  launch.grid[1] = checkedDim(kernel, "grid y", gridY, kMaxGridYZ);
  launch.grid[2] = checkedDim(kernel, "grid z", gridZ, kMaxGridYZ);
  launch.block[0] = checkedDim(kernel, "block x", blockX, kMaxBlockThreads);
  launch.block[1] = checkedDim(kernel, "block y", blockY, kMaxBlockThreads);
  launch.block[2] = checkedDim(kernel, "block z", blockZ, kMaxBlockZ);
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
