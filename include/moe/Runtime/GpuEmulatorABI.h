/*===- GpuEmulatorABI.h - calls between emulated kernels and runtime -*- C -*-===
 *
 * Part of moe-mlir.
 *
 * `--convert-nvvm-kernels-to-emulator` turns NVVM kernels into host
 * functions whose thread-dependent operations call into `moe_gpu_emulator`
 * (see lib/Runtime/Emulator/ and docs/emulator.md). The pass and the
 * runtime agree on these C entry points and constants; nothing else is
 * shared.
 *
 *   uint32_t moeEmuSpecialRegister(int32_t which);        MOE_EMU_SREG_*
 *   uint32_t moeEmuShuffle(int32_t kind, uint32_t mask,   MOE_EMU_SHFL_*,
 *                          uint32_t value, uint32_t offset,  the operands of
 *                          uint32_t clamp);               PTX shfl.sync
 *   int32_t  moeEmuShufflePredicate(void);   validity of the last shuffle
 *   uint32_t moeEmuRedux(int32_t kind, uint32_t value,    MOE_EMU_REDUX_*,
 *                        uint32_t mask);                 PTX redux.sync (i32)
 *   void     moeEmuBarrier(void);            bar.sync 0 (barrier0)
 *   void     moeEmuSharedAccess(void *address, int64_t bytes,
 *                               int32_t kind);   MOE_EMU_ACCESS_*: with
 *                                  race checking, before every access to
 *                                  workgroup memory
 *   void     moeEmuLaunch(const char *kernel, void (*thunk)(void **),
 *                         void **params, int64_t gridX, int64_t gridY,
 *                         int64_t gridZ, int64_t blockX, int64_t blockY,
 *                         int64_t blockZ, int32_t dynamicSharedBytes,
 *                         void **shared, const int64_t *sharedBytes,
 *                         int32_t numShared);
 *
 * `thunk(params)` runs the kernel once for the calling emulated thread;
 * `params[i]` points to the value of the kernel's i-th (LLVM-level)
 * parameter, as for cuLaunchKernel. `shared[i]` / `sharedBytes[i]` name the
 * kernel's workgroup-memory buffers, which the runtime poisons before each
 * block.
 *
 *===----------------------------------------------------------------------===*/

#ifndef MOE_RUNTIME_GPUEMULATORABI_H
#define MOE_RUNTIME_GPUEMULATORABI_H

/* Special registers: moeEmuSpecialRegister(which). */
#define MOE_EMU_SREG_TID_X 0
#define MOE_EMU_SREG_TID_Y 1
#define MOE_EMU_SREG_TID_Z 2
#define MOE_EMU_SREG_NTID_X 3
#define MOE_EMU_SREG_NTID_Y 4
#define MOE_EMU_SREG_NTID_Z 5
#define MOE_EMU_SREG_CTAID_X 6
#define MOE_EMU_SREG_CTAID_Y 7
#define MOE_EMU_SREG_CTAID_Z 8
#define MOE_EMU_SREG_NCTAID_X 9
#define MOE_EMU_SREG_NCTAID_Y 10
#define MOE_EMU_SREG_NCTAID_Z 11
#define MOE_EMU_SREG_LANEID 12
#define MOE_EMU_SREG_WARPSIZE 13

/* shfl.sync modes: moeEmuShuffle(kind, ...). */
#define MOE_EMU_SHFL_BFLY 0
#define MOE_EMU_SHFL_UP 1
#define MOE_EMU_SHFL_DOWN 2
#define MOE_EMU_SHFL_IDX 3

/* redux.sync operations on 32-bit integers: moeEmuRedux(kind, ...). */
#define MOE_EMU_REDUX_ADD 0
#define MOE_EMU_REDUX_AND 1
#define MOE_EMU_REDUX_OR 2
#define MOE_EMU_REDUX_XOR 3
#define MOE_EMU_REDUX_MIN 4
#define MOE_EMU_REDUX_MAX 5
#define MOE_EMU_REDUX_UMIN 6
#define MOE_EMU_REDUX_UMAX 7

/* Workgroup-memory accesses: moeEmuSharedAccess(address, bytes, kind). */
#define MOE_EMU_ACCESS_READ 0
#define MOE_EMU_ACCESS_WRITE 1
#define MOE_EMU_ACCESS_ATOMIC 2

#endif /* MOE_RUNTIME_GPUEMULATORABI_H */
