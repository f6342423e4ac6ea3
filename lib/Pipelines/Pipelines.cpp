//===- Pipelines.cpp - moe lowering pipelines -----------------------------===//

#include "moe/Pipelines/Pipelines.h"

#include "moe/Conversion/Passes.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/FileSystem.h"

#include <cstdlib>

using namespace mlir;
using namespace mlir::moe;

/// Appends an upstream textual pipeline; the strings are fixed here, so a
/// parse failure is a bug of this file.
static void addPipeline(OpPassManager &pm, StringRef pipeline) {
  if (failed(parsePassPipeline(pipeline, pm)))
    llvm::report_fatal_error("moe: invalid built-in pipeline: " +
                             Twine(pipeline));
}

/// Tensors to buffers: moe ops become moe.buffer ops, function boundaries
/// take identity-layout memrefs, and loops may carry new allocations (a
/// training loop carries its bias from step to step). Deallocation is placed
/// here, on moe.buffer ops with exact memory effects: this is the entry point
/// that the CPU and GPU lowerings share.
static void addBufferization(OpPassManager &pm) {
  // Elementwise arith on tensors (the sum of two gradients) to linalg.
  addPipeline(pm, "func.func(convert-elementwise-to-linalg),"
                  "empty-tensor-to-alloc-tensor,"
                  "one-shot-bufferize{bufferize-function-boundaries "
                  "allow-return-allocs-from-loops "
                  "function-boundary-type-conversion=identity-layout-map},"
                  "canonicalize,cse,buffer-deallocation-pipeline");
}

/// Structured host code to what the LLVM conversions expect: loops, the
/// clones that deallocation adds as copies, plain memref descriptors,
/// control flow.
static void addHostPreparation(OpPassManager &pm) {
  addPipeline(pm, "func.func(convert-linalg-to-loops),"
                  "convert-bufferization-to-memref,"
                  "expand-strided-metadata,lower-affine,convert-scf-to-cf");
  addMPIToLLVM(pm);
}

/// Host code to the LLVM dialect.
static void addHostToLLVM(OpPassManager &pm) {
  addPipeline(pm, "arith-expand{include-bf16},"
                  "convert-math-to-llvm,convert-arith-to-llvm,"
                  "convert-index-to-llvm,convert-vector-to-llvm,"
                  "finalize-memref-to-llvm,convert-func-to-llvm,"
                  "convert-cf-to-llvm,reconcile-unrealized-casts,"
                  "canonicalize,cse");
}

void mlir::moe::buildLowerToCPUPipeline(OpPassManager &pm,
                                        const LowerToCPUOptions &options) {
  if (options.fuseRouting) {
    pm.addPass(createMoEFuseRouting());
    pm.addPass(createMoEFuseTraining()); // Training ops (CPU only for now).
  }
  addShardToMPI(pm);
  if (options.bufferize)
    addBufferization(pm);
  pm.addPass(createConvertMoEToLoops());
  pm.addPass(createCanonicalizerPass());
  addHostPreparation(pm);
  addHostToLLVM(pm);
}

/// The CUDA toolkit that provides ptxas and libdevice: the option, else
/// $CUDA_HOME or $CUDA_PATH, else /usr/local/cuda when it has ptxas. Empty
/// leaves the search to MLIR (its configured default, then PATH).
static std::string findCudaToolkit(StringRef option) {
  if (!option.empty())
    return option.str();
  for (const char *variable : {"CUDA_HOME", "CUDA_PATH"})
    if (const char *value = std::getenv(variable); value && *value)
      return value;
  if (llvm::sys::fs::can_execute("/usr/local/cuda/bin/ptxas"))
    return "/usr/local/cuda";
  return "";
}

/// True for the architectures with redux.sync: sm_80 and later.
static bool chipHasRedux(StringRef chip) {
  unsigned version = 0;
  if (!chip.consume_front("sm_") || chip.consumeInteger(10, version))
    return false;
  return version >= 80;
}

/// Up to NVVM kernels in gpu.modules and host code in the LLVM dialect: what
/// the NVVM and emulator pipelines share. Without `target` no NVVM target is
/// attached (the emulator compiles no PTX). `chip` decides whether warp
/// reductions use redux.sync.
static void addGPUKernelsAndHost(OpPassManager &pm, bool fuseRouting,
                                 bool bufferize, bool hostCopies,
                                 StringRef chip,
                                 const LowerToNVVMOptions *target) {
  bool redux = chipHasRedux(chip);
  if (fuseRouting)
    pm.addPass(createMoEFuseRouting());
  addShardToMPI(pm);
  if (bufferize)
    addBufferization(pm);
  ConvertMoEToGPUOptions toGPU;
  toGPU.hostCopies = hostCopies;
  toGPU.redux = redux;
  pm.addPass(createConvertMoEToGPU(toGPU));
  pm.addPass(createCanonicalizerPass());
  addHostPreparation(pm);

  // Kernels: outlined into a gpu.module (with an NVVM target), then NVVM.
  pm.addPass(createGpuKernelOutliningPass());
  if (target) {
    GpuNVVMAttachTargetOptions attach;
    attach.chip = target->chip;
    attach.features = target->features;
    attach.optLevel = target->optLevel;
    pm.addPass(createGpuNVVMAttachTarget(attach));
  }
  StringRef hasRedux = redux ? "1" : "0";
  addPipeline(pm, (Twine("gpu.module(moe-lower-subgroup-reduce{redux=") +
                   hasRedux + "},convert-gpu-to-nvvm{has-redux=" + hasRedux +
                   "},canonicalize,cse,reconcile-unrealized-casts)")
                      .str());

  // Host: copies and launches go on a stream (gpu-async-region), become
  // runtime calls (the mgpu* ABI), then LLVM.
  addPipeline(pm, "func.func(gpu-async-region),gpu-to-llvm");
  addHostToLLVM(pm);
}

void mlir::moe::buildLowerToNVVMPipeline(OpPassManager &pm,
                                         const LowerToNVVMOptions &options) {
  addGPUKernelsAndHost(pm, options.fuseRouting, options.bufferize,
                       options.hostCopies, options.chip, &options);
  // The kernels become a gpu.binary (ptxas runs here for cubins).
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = options.format;
  binary.toolkitPath = findCudaToolkit(options.toolkit);
  pm.addPass(createGpuModuleToBinaryPass(binary));
}

void mlir::moe::buildLowerToGPUEmulatorPipeline(
    OpPassManager &pm, const LowerToGPUEmulatorOptions &options) {
  addGPUKernelsAndHost(pm, options.fuseRouting, options.bufferize,
                       options.hostCopies, options.chip, /*target=*/nullptr);
  // The kernels join the host code, to be run by moe_gpu_emulator.
  ConvertNVVMKernelsToEmulatorOptions emulator;
  emulator.raceCheck = options.raceCheck;
  pm.addPass(createConvertNVVMKernelsToEmulator(emulator));
  pm.addPass(createCanonicalizerPass());
}

void mlir::moe::registerPipelines() {
  PassPipelineRegistration<LowerToCPUOptions>(
      "moe-lower-to-cpu",
      "Lower moe (with func, arith, math, scf, tensor, linalg, bufferization "
      "and memref) to the LLVM dialect for the CPU",
      buildLowerToCPUPipeline);
  PassPipelineRegistration<LowerToNVVMOptions>(
      "moe-lower-to-nvvm",
      "Lower moe to host LLVM dialect and NVVM kernels in gpu.binary",
      buildLowerToNVVMPipeline);
  PassPipelineRegistration<LowerToGPUEmulatorOptions>(
      "moe-lower-to-gpu-emulator",
      "Lower moe like --moe-lower-to-nvvm, with the NVVM kernels made host "
      "functions that the moe_gpu_emulator library runs on the CPU",
      buildLowerToGPUEmulatorPipeline);
}
