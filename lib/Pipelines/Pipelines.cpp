//===- Pipelines.cpp - moe lowering pipelines -----------------------------===//

#include "moe/Pipelines/Pipelines.h"

#include "moe/Conversion/Passes.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/ErrorHandling.h"

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
/// training loop carries its bias from step to step).
static void addBufferization(OpPassManager &pm) {
  addPipeline(pm, "empty-tensor-to-alloc-tensor,"
                  "one-shot-bufferize{bufferize-function-boundaries "
                  "allow-return-allocs-from-loops "
                  "function-boundary-type-conversion=identity-layout-map},"
                  "canonicalize,cse");
}

/// Host-side and loop code to the LLVM dialect.
static void addLowerToLLVM(OpPassManager &pm) {
  addPipeline(pm, "func.func(convert-linalg-to-loops),"
                  "buffer-deallocation-pipeline,"
                  "expand-strided-metadata,lower-affine,convert-scf-to-cf,"
                  "arith-expand{include-bf16},"
                  "convert-math-to-llvm,convert-arith-to-llvm,"
                  "convert-index-to-llvm,convert-vector-to-llvm,"
                  "finalize-memref-to-llvm,convert-func-to-llvm,"
                  "convert-cf-to-llvm,reconcile-unrealized-casts,"
                  "canonicalize,cse");
}

void mlir::moe::buildLowerToCPUPipeline(OpPassManager &pm,
                                        const LowerToCPUOptions &options) {
  if (options.fuseRouting)
    pm.addPass(createMoEFuseRouting());
  addBufferization(pm);
  pm.addPass(createConvertMoEToLoops());
  pm.addPass(createCanonicalizerPass());
  addLowerToLLVM(pm);
}

void mlir::moe::buildLowerToNVVMPipeline(OpPassManager &pm,
                                         const LowerToNVVMOptions &options) {
  if (options.fuseRouting)
    pm.addPass(createMoEFuseRouting());
  addBufferization(pm);
  pm.addPass(createConvertMoEToGPU());
  pm.addPass(createCanonicalizerPass());
  // Kernels: NVVM and a binary; host: launches and LLVM.
  std::string gpuTail =
      "gpu-kernel-outlining,"
      "nvvm-attach-target{chip=" + options.chip + " features=" +
      options.features + " O=" + std::to_string(options.optLevel) + "},"
      "gpu.module(convert-gpu-to-nvvm{use-bare-ptr-memref-call-conv=0},"
      "canonicalize,cse,reconcile-unrealized-casts),"
      "gpu-to-llvm,";
  addPipeline(pm, gpuTail);
  addLowerToLLVM(pm);
  addPipeline(pm, "gpu-module-to-binary{format=" + options.format + "}");
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
}
