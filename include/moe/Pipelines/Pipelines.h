//===- Pipelines.h - moe lowering pipelines ---------------------*- C++ -*-===//
//
// The pipelines that lower a module mixing moe with upstream tensor-level
// dialects to the LLVM dialect: for the CPU, for NVIDIA GPUs (host code plus
// gpu.binary kernels), and for the GPU emulator. docs/pipelines.md describes
// every step and option.
//
// The builders add passes directly and need no pass registration; they never
// abort the process. The GPU builders check their target options first and
// report a bad one through `errorHandler` (a diagnostic), leaving `pm`
// unchanged.
//
//===----------------------------------------------------------------------===//
#ifndef MOE_PIPELINES_PIPELINES_H
#define MOE_PIPELINES_PIPELINES_H

#include "moe/Conversion/Passes.h"

#include "mlir/Pass/PassOptions.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/LogicalResult.h"

#include <string>

namespace mlir {
class OpPassManager;
namespace moe {

/// Receives the message of a failure; the builders return what it returns
/// (upstream's pass-registry convention). Null: print to stderr and fail.
using PipelineErrorHandler = function_ref<LogicalResult(const Twine &)>;

/// Options that every moe lowering pipeline has.
template <typename Derived>
struct LoweringOptions : public PassPipelineOptions<Derived> {
  // Spelled in full: `detail` alone would find mlir::moe::detail (the
  // generated op adaptors) when the op headers come first.
  using Base = ::mlir::detail::PassOptions;

  Base::Option<bool> fuseRouting{
      *this, "fuse-routing",
      llvm::cl::desc("Run --moe-fuse-routing and --moe-fuse-training "
                     "before lowering"),
      llvm::cl::init(true)};
  Base::Option<bool> bufferize{
      *this, "bufferize",
      llvm::cl::desc("Bufferize tensors and insert deallocations "
                     "(false: the program is memref-level already, for "
                     "example hand-written gpu.launch kernels with barriers, "
                     "which upstream's ownership-based deallocation "
                     "rejects)"),
      llvm::cl::init(true)};

  /// The names of the options, sorted: what an unknown option is told.
  SmallVector<StringRef> optionNames() const {
    SmallVector<StringRef> names;
    for (const auto &entry : this->OptionsMap)
      names.push_back(entry.first);
    llvm::sort(names);
    return names;
  }
};

/// Options of the pipelines that produce GPU kernels.
template <typename Derived>
struct GPULoweringOptions : public LoweringOptions<Derived> {
  using Base = ::mlir::detail::PassOptions;

  Base::Option<bool> hostCopies{
      *this, "host-copies",
      llvm::cl::desc("Copy each moe op's buffers to device memory and back "
                     "(false: the buffers are already device memory)"),
      llvm::cl::init(true)};
  Base::Option<std::string> chip{
      *this, "chip",
      llvm::cl::desc("Target SM architecture, sm_75 to sm_121f (with the "
                     "a and f variants); sm_80 and later reduce across a "
                     "warp with redux.sync"),
      llvm::cl::init("sm_90")};
};

/// Options of `--moe-lower-to-cpu`.
struct LowerToCPUOptions : public LoweringOptions<LowerToCPUOptions> {
  using Base = ::mlir::detail::PassOptions;

  Base::Option<bool> parallel{
      *this, "parallel",
      llvm::cl::desc("Split the token loops across OpenMP threads "
                     "(--convert-moe-to-loops{parallel}, "
                     "--convert-scf-to-openmp; link LLVM's libomp, "
                     "OMP_NUM_THREADS sets the threads); the results do not "
                     "depend on the number of threads"),
      llvm::cl::init(false)};
  Base::Option<CPUSelection> selection{
      *this, "selection",
      llvm::cl::desc("How the top-K selection gathers its candidates "
                     "(--convert-moe-to-loops{selection}): auto (compress "
                     "when the code is built for a CPU with AVX-512F: the "
                     "function's target_features or target_cpu, the "
                     "module's llvm.target, else the host), compress or "
                     "scan"),
      llvm::cl::init(CPUSelection::Auto),
      llvm::cl::values(
          clEnumValN(CPUSelection::Auto, "auto",
                     "compress with AVX-512F, else scan"),
          clEnumValN(CPUSelection::Compress, "compress",
                     "vector compress-stores"),
          clEnumValN(CPUSelection::Scan, "scan", "a scan of the mask bits"))};
  Base::Option<std::string> targetCPU{
      *this, "target-cpu",
      llvm::cl::desc("The CPU the code is built for, an LLVM CPU name "
                     "(x86-64-v3, znver4, ...) or native, which "
                     "selection=auto follows (empty: the IR's target "
                     "attributes, else the host)"),
      llvm::cl::init("")};
};

/// Options of `--moe-lower-to-nvvm`.
struct LowerToNVVMOptions : public GPULoweringOptions<LowerToNVVMOptions> {
  using Base = ::mlir::detail::PassOptions;

  Base::Option<std::string> features{
      *this, "features",
      llvm::cl::desc("Target PTX features, e.g. +ptx88 (default: the PTX "
                     "version that the chip needs)"),
      llvm::cl::init("")};
  Base::Option<std::string> format{
      *this, "format",
      llvm::cl::desc("GPU binary format: bin (cubin), isa (PTX), fatbin, "
                     "offloading (LLVM bitcode)"),
      llvm::cl::init("bin")};
  Base::Option<std::string> toolkit{
      *this, "toolkit",
      llvm::cl::desc("CUDA toolkit root (ptxas, libdevice); default: "
                     "$CUDA_HOME, $CUDA_PATH, then /usr/local/cuda"),
      llvm::cl::init("")};
  Base::Option<unsigned> optLevel{
      *this, "opt-level", llvm::cl::desc("NVPTX optimisation level"),
      llvm::cl::init(3)};
  Base::Option<std::string> ptxDir{
      *this, "ptx-dir",
      llvm::cl::desc("Also write the PTX of each kernel module to "
                     "<dir>/<module>.ptx (any format)"),
      llvm::cl::init("")};
};

/// Options of `--moe-lower-to-gpu-emulator`.
struct LowerToGPUEmulatorOptions
    : public GPULoweringOptions<LowerToGPUEmulatorOptions> {
  using Base = ::mlir::detail::PassOptions;

  Base::Option<bool> raceCheck{
      *this, "race-check",
      llvm::cl::desc("Report data races on workgroup memory (every access "
                     "is instrumented)"),
      llvm::cl::init(false)};
};

/// The NVPTX targets of the GPU pipelines: `sm_<version>[a|f]` from sm_75
/// to sm_121f, in LLVM 22's order.
ArrayRef<StringRef> getSupportedChips();

/// The PTX ISA version (e.g. 78 for 7.8) that LLVM 22 emits for `chip` by
/// default, the lowest it accepts for it; 0 for an unsupported chip.
unsigned getChipPTXVersion(StringRef chip);

/// Tensor-level moe (with func, arith, math, scf, tensor, linalg,
/// bufferization and memref) to the LLVM dialect, for the CPU.
void buildLowerToCPUPipeline(OpPassManager &pm,
                             const LowerToCPUOptions &options);

/// The same module to host LLVM dialect and `gpu.binary` kernels. Fails on
/// an unsupported chip or features that are too old for it.
LogicalResult buildLowerToNVVMPipeline(OpPassManager &pm,
                                       const LowerToNVVMOptions &options,
                                       PipelineErrorHandler errorHandler = {});

/// The same kernels as buildLowerToNVVMPipeline, NVVM-level, made host
/// functions that `moe_gpu_emulator` runs (docs/emulator.md). Fails on an
/// unsupported chip.
LogicalResult
buildLowerToGPUEmulatorPipeline(OpPassManager &pm,
                                const LowerToGPUEmulatorOptions &options,
                                PipelineErrorHandler errorHandler = {});

/// The distributed lowering (lib/Pipelines/Distributed.cpp): shard
/// collectives to mpi ops, before bufferization ...
void addShardToMPI(OpPassManager &pm);
/// ... and mpi ops to MPI library calls, once the host code is prepared (before
/// gpu-to-llvm, which would lower them without the ABI choice).
void addMPIToLLVM(OpPassManager &pm);

/// Registers `--moe-lower-to-cpu`, `--moe-lower-to-nvvm` and
/// `--moe-lower-to-gpu-emulator`. An unknown option is reported with the
/// list of valid ones.
void registerPipelines();

} // namespace moe
} // namespace mlir

#endif // MOE_PIPELINES_PIPELINES_H
