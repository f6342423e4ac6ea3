//===- Pipelines.h - moe lowering pipelines ---------------------*- C++ -*-===//
#ifndef MOE_PIPELINES_PIPELINES_H
#define MOE_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassOptions.h"

namespace mlir {
class OpPassManager;
namespace moe {

/// Options that every moe lowering pipeline has.
template <typename Derived>
struct LoweringOptions : public PassPipelineOptions<Derived> {
  using Base = detail::PassOptions;
  Base::Option<bool> fuseRouting{
      *this, "fuse-routing",
      llvm::cl::desc("Run --moe-fuse-routing before lowering"),
      llvm::cl::init(true)};
  Base::Option<bool> bufferize{
      *this, "bufferize",
      llvm::cl::desc("Bufferize tensors and insert deallocations "
                     "(false: the program is memref-level already, for "
                     "example hand-written gpu.launch kernels with barriers, "
                     "which upstream's ownership-based deallocation "
                     "rejects)"),
      llvm::cl::init(true)};
};

/// Options of the pipelines that produce GPU kernels.
template <typename Derived>
struct GPULoweringOptions : public LoweringOptions<Derived> {
  using Base = detail::PassOptions;
  Base::Option<bool> hostCopies{
      *this, "host-copies",
      llvm::cl::desc("Copy each moe op's buffers to device memory and back "
                     "(false: the buffers are already device memory)"),
      llvm::cl::init(true)};
  Base::Option<std::string> chip{
      *this, "chip",
      llvm::cl::desc("Target SM architecture, or the one whose kernels the "
                     "emulator runs (sm_80 and later: warp reductions with "
                     "redux.sync)"),
      llvm::cl::init("sm_90")};
};

/// Options of `--moe-lower-to-cpu`.
struct LowerToCPUOptions : public LoweringOptions<LowerToCPUOptions> {};

/// Options of `--moe-lower-to-nvvm`.
struct LowerToNVVMOptions : public GPULoweringOptions<LowerToNVVMOptions> {
  PassOptions::Option<std::string> features{
      *this, "features", llvm::cl::desc("Target PTX features"),
      llvm::cl::init("+ptx80")};
  PassOptions::Option<std::string> format{
      *this, "format",
      llvm::cl::desc("GPU binary format: bin (cubin), isa (PTX), fatbin, "
                     "offloading (LLVM bitcode)"),
      llvm::cl::init("bin")};
  PassOptions::Option<std::string> toolkit{
      *this, "toolkit",
      llvm::cl::desc("CUDA toolkit root (ptxas, libdevice); default: "
                     "$CUDA_HOME, $CUDA_PATH, then /usr/local/cuda"),
      llvm::cl::init("")};
  PassOptions::Option<unsigned> optLevel{
      *this, "opt-level", llvm::cl::desc("NVPTX optimisation level"),
      llvm::cl::init(3)};
};

/// Options of `--moe-lower-to-gpu-emulator`.
struct LowerToGPUEmulatorOptions
    : public GPULoweringOptions<LowerToGPUEmulatorOptions> {
  PassOptions::Option<bool> raceCheck{
      *this, "race-check",
      llvm::cl::desc("Report data races on workgroup memory (every access "
                     "is instrumented)"),
      llvm::cl::init(false)};
};

/// Tensor-level moe (with func, arith, math, scf, tensor, linalg,
/// bufferization and memref) to the LLVM dialect, for the CPU.
void buildLowerToCPUPipeline(OpPassManager &pm,
                             const LowerToCPUOptions &options);

/// The same module to host LLVM dialect and `gpu.binary` kernels.
void buildLowerToNVVMPipeline(OpPassManager &pm,
                              const LowerToNVVMOptions &options);

/// The same kernels as buildLowerToNVVMPipeline, NVVM-level, made host
/// functions that `moe_gpu_emulator` runs (docs/emulator.md).
void buildLowerToGPUEmulatorPipeline(OpPassManager &pm,
                                     const LowerToGPUEmulatorOptions &options);

/// The distributed lowering (lib/Pipelines/Distributed.cpp): shard
/// collectives to mpi ops, before bufferization ...
void addShardToMPI(OpPassManager &pm);
/// ... and mpi ops to MPI library calls, once the host code is prepared (before
/// gpu-to-llvm, which would lower them without the ABI choice).
void addMPIToLLVM(OpPassManager &pm);

/// Registers `--moe-lower-to-cpu`, `--moe-lower-to-nvvm` and
/// `--moe-lower-to-gpu-emulator`.
void registerPipelines();

} // namespace moe
} // namespace mlir

#endif // MOE_PIPELINES_PIPELINES_H
