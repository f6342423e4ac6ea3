//===- RaceCheck.cpp - data races on workgroup memory ---------------------===//
//
// Part of moe-mlir.
//
// With convert-nvvm-kernels-to-emulator{race-check}, kernels report every
// workgroup-memory access before it happens. Each byte remembers its last
// writer and its readers since the last barrier; two threads that touch the
// same byte between two barriers, one of them writing and not both
// atomically, are a data race, reported whatever the schedule.
//
//===----------------------------------------------------------------------===//

#include "Emulator.h"
#include "moe/Runtime/GpuEmulatorABI.h"

#include <cinttypes>
#include <cstdio>

using namespace moe::emu;

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
