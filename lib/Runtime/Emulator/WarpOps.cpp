//===- WarpOps.cpp - special registers, shuffles, reductions, barriers ----===//
//
// Part of moe-mlir.
//
// The entry points that emulated threads call (GpuEmulatorABI.h), and the
// completion of warp operations by the scheduler:
//   * shfl.sync follows the PTX ISA: source lane and validity from the mode,
//     the offset and the packed clamp / segment mask. The lanes of the member
//     mask are waited for (not those that have exited) and must use the same
//     mode and mask; lanes outside the mask go their own way (independent
//     thread scheduling). Reading a lane that is not in the mask or has
//     exited is undefined on a GPU and an error here.
//   * redux.sync (32-bit integers) waits for every lane of its member mask,
//     all of which must take part, and gives each the reduction.
//   * bar.sync 0 stops the thread; the scheduler lets the block go on once
//     every thread that has not exited waits.
//
//===----------------------------------------------------------------------===//

#include "Emulator.h"
#include "moe/Runtime/GpuEmulatorABI.h"

#include <algorithm>
#include <cstdio>

using namespace moe::emu;

/// The lane fields of shfl.sync's operands (5 bits), and where the segment
/// mask sits in the packed clamp operand.
constexpr uint32_t kLaneMask = kWarpSize - 1;
constexpr unsigned kSegmentMaskShift = 8;

namespace {

/// Lanes of a warp that wait at a shuffle or a reduction, and those that have
/// exited.
struct WarpState {
  uint32_t waiting = 0;
  uint32_t exited = 0;
};

} // namespace

static WarpState warpState(const Launch &launch, unsigned first,
                           unsigned count) {
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

static const char *warpOpName(Wait wait) {
  return wait == Wait::Redux ? "redux.sync" : "shfl.sync";
}

/// True when lanes `a` and `b` wait at the same warp operation: same
/// instruction kind, mode or operation, and member mask.
static bool sameWarpOp(const Fiber &a, const Fiber &b) {
  return a.wait == b.wait && a.kind == b.kind && a.mask == b.mask;
}

/// A lane's shuffle or reduction can complete when every lane of its member
/// mask that has not exited waits at the same operation. Lanes outside the
/// mask may be anywhere. Two lanes that name each other but wait at
/// different operations can never complete: an error, as on a GPU it is
/// undefined.
uint32_t moe::emu::readyLanes(const Launch &launch, unsigned first,
                              unsigned count) {
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
static uint32_t reduce(const Launch &launch, const Fiber &lane,
                       const Fiber *lanes, unsigned count, uint32_t exited) {
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

/// shfl.sync of lane `self`: the value of its source lane and the valid
/// flag, as the PTX ISA defines them.
static void shuffle(const Launch &launch, Fiber *lanes, unsigned count,
                    uint32_t exited, unsigned self) {
  Fiber &lane = lanes[self];
  auto b = static_cast<int32_t>(lane.offset & kLaneMask);
  auto c = static_cast<int32_t>(lane.clamp & kLaneMask);
  auto segmask =
      static_cast<int32_t>((lane.clamp >> kSegmentMaskShift) & kLaneMask);
  auto l = static_cast<int32_t>(self);
  int32_t maxLane = (l & segmask) | (c & ~segmask);
  int32_t minLane = l & segmask;
  int32_t j = l;
  bool valid = false;
  switch (lane.kind) {
  case MOE_EMU_SHFL_UP:
    j = l - b;
    valid = j >= maxLane;
    break;
  case MOE_EMU_SHFL_DOWN:
    j = l + b;
    valid = j <= maxLane;
    break;
  case MOE_EMU_SHFL_BFLY:
    j = l ^ b;
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
    j = l;
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

void moe::emu::completeLanes(Launch &launch, unsigned first, unsigned count,
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
  for (unsigned l = 0; l < count; ++l)
    if ((ready & (1u << l)) && lanes[l].wait == Wait::Shuffle)
      shuffle(launch, lanes, count, exited, l);
  for (unsigned l = 0; l < count; ++l)
    if (ready & (1u << l))
      lanes[l].wait = Wait::None;
}

//===----------------------------------------------------------------------===//
// Entry points of emulated threads
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

/// Stops the calling thread at a warp operation until the scheduler has
/// completed it; its result.
static uint32_t waitAtWarpOp(const char *function, Wait wait, int32_t kind,
                             uint32_t mask, uint32_t value,
                             uint32_t offset = 0, uint32_t clamp = 0) {
  Launch &launch = launchOf(function);
  Fiber &self = *launch.current;
  self.kind = kind;
  self.mask = mask;
  self.value = value;
  self.offset = offset;
  self.clamp = clamp;
  self.wait = wait;
  yieldToScheduler(launch);
  return self.result;
}

MOE_EMU_EXPORT uint32_t moeEmuShuffle(int32_t kind, uint32_t mask,
                                      uint32_t value, uint32_t offset,
                                      uint32_t clamp) {
  return waitAtWarpOp(__func__, Wait::Shuffle, kind, mask, value, offset,
                      clamp);
}

MOE_EMU_EXPORT int32_t moeEmuShufflePredicate() {
  return launchOf(__func__).current->valid ? 1 : 0;
}

MOE_EMU_EXPORT uint32_t moeEmuRedux(int32_t kind, uint32_t value,
                                    uint32_t mask) {
  return waitAtWarpOp(__func__, Wait::Redux, kind, mask, value);
}

MOE_EMU_EXPORT void moeEmuBarrier() {
  Launch &launch = launchOf(__func__);
  launch.current->wait = Wait::Barrier;
  yieldToScheduler(launch);
}
