//===- Fiber.cpp - GPU threads as fibers ----------------------------------===//
//
// Part of moe-mlir.
//
// Each emulated thread runs on its own stack. On x86-64 Linux a switch is a
// few instructions of assembly; elsewhere, or with
// -DMOE_GPU_EMULATOR_UCONTEXT, it is ucontext's swapcontext.
//
//===----------------------------------------------------------------------===//

#include "Emulator.h"

#include <sys/mman.h>
#include <unistd.h>

using namespace moe::emu;

#ifndef MOE_GPU_EMULATOR_USE_UCONTEXT
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

void moe::emu::switchContext(Context &from, Context &to) {
  moeEmuSwitchStack(&from.stackPointer, to.stackPointer);
}

/// Lays out the frame that moeEmuSwitchStack pops: control words, six
/// callee-saved registers, then `entry` as the return address, entered with
/// the stack aligned as after a call.
void moe::emu::makeContext(Context &context, void *stack, size_t bytes,
                           void (*entry)()) {
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
void moe::emu::switchContext(Context &from, Context &to) {
  if (swapcontext(&from.context, &to.context) != 0)
    fatal("swapcontext failed");
}

// getcontext returns twice; it stays out of the functions that loop.
__attribute__((noinline)) void moe::emu::makeContext(Context &context,
                                                     void *stack, size_t bytes,
                                                     void (*entry)()) {
  if (getcontext(&context.context) != 0)
    fatal("getcontext failed");
  context.context.uc_stack.ss_sp = stack;
  context.context.uc_stack.ss_size = bytes;
  context.context.uc_link = nullptr;
  makecontext(&context.context, entry, 0);
}
#endif

void *moe::emu::getFiberStack(size_t index) {
  // Leaked: stacks are reused by every later launch.
  static auto *stacks = new std::vector<void *>;
  while (stacks->size() <= index) {
    long page = sysconf(_SC_PAGESIZE);
    size_t bytes = kStackBytes + static_cast<size_t>(page);
    void *base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
      fatal("cannot map a %zu-byte fiber stack", bytes);
    if (mprotect(base, static_cast<size_t>(page), PROT_NONE) != 0)
      fatal("cannot protect a fiber stack guard page");
    stacks->push_back(static_cast<char *>(base) + page);
  }
  return (*stacks)[index];
}

void moe::emu::fiberEntry() {
  Launch &launch = *activeLaunch;
  launch.thunk(launch.params);
  Fiber &self = *launch.current;
  self.wait = Wait::Exited;
  switchContext(self.context, launch.scheduler);
  fatal("an exited fiber was resumed");
}
