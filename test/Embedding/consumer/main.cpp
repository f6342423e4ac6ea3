//===- main.cpp - a C++ program embedding the moe dialect -----------------===//
//
// Uses an installed moe-mlir the way an embedding compiler does, in one
// file that sees the ops (their header first) and lowers them:
//   moe-consumer FILE.mlir [FORMAT]
// registers the dialects with mlir::moe::registerAllDialects alone, parses
// FILE, and prints
//   1. FILE after --moe-fuse-routing, and the moe.route ops found in it;
//   2. the CPU pipeline's result translated to LLVM IR (built directly: no
//      pass registration at all);
//   3. the NVVM pipeline's result (kernels in FORMAT, default isa), built
//      from text after mlir::moe::registerAllPasses, translated to LLVM IR;
//   4. what the builder says about chip=sm90 (and that it did not abort).
//
//===----------------------------------------------------------------------===//

// The op header first: nothing may depend on what a consumer includes before.
#include "moe/Dialect/MoE/IR/MoEOps.h"
#include "moe/Pipelines/Pipelines.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/InitAll.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

using namespace mlir;

/// Translates `module` to LLVM IR and prints its function declarations and
/// definitions, one a line.
static LogicalResult printLLVMFunctions(ModuleOp module) {
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext);
  if (!llvmModule)
    return failure();
  for (llvm::Function &function : *llvmModule)
    if (!function.isDeclaration())
      llvm::outs() << "  define " << function.getName() << "\n";
  for (llvm::GlobalVariable &global : llvmModule->globals())
    llvm::outs() << "  global " << global.getName() << "\n";
  return success();
}

int main(int argc, char **argv) {
  if (argc != 2 && argc != 3) {
    llvm::errs() << "usage: moe-consumer FILE.mlir [FORMAT]\n";
    return 2;
  }
  std::string format = argc == 3 ? argv[2] : "isa";

  DialectRegistry registry;
  moe::registerAllDialects(registry);
  MLIRContext context(registry);

  OwningOpRef<ModuleOp> module =
      parseSourceFile<ModuleOp>(argv[1], &context);
  if (!module)
    return 1;

  // 1. Fusion, and the fused ops through their C++ class.
  OwningOpRef<ModuleOp> fused = module->clone();
  PassManager fusion(&context);
  fusion.addPass(moe::createMoEFuseRouting());
  if (failed(fusion.run(*fused)))
    return 1;
  fused->print(llvm::outs());
  llvm::outs() << "\n";
  fused->walk([](moe::RouteOp route) {
    llvm::outs() << "route: k = " << route.getK() << "\n";
  });

  // 2. The CPU pipeline from its builder, with no pass registered.
  OwningOpRef<ModuleOp> cpu = module->clone();
  PassManager cpuPipeline(&context);
  moe::buildLowerToCPUPipeline(cpuPipeline, moe::LowerToCPUOptions());
  if (failed(cpuPipeline.run(*cpu)))
    return 1;
  llvm::outs() << "cpu:\n";
  if (failed(printLLVMFunctions(*cpu)))
    return 1;

  // 3. The NVVM pipeline from its textual name.
  moe::registerAllPasses();
  OwningOpRef<ModuleOp> gpu = module->clone();
  PassManager gpuPipeline(&context);
  if (failed(parsePassPipeline("moe-lower-to-nvvm{format=" + format + "}",
                               gpuPipeline, llvm::errs())) ||
      failed(gpuPipeline.run(*gpu)))
    return 1;
  llvm::outs() << "nvvm:\n";
  if (failed(printLLVMFunctions(*gpu)))
    return 1;

  // 4. A bad option is a failure with a message, not an abort.
  moe::LowerToNVVMOptions badChip;
  badChip.chip = "sm90";
  OpPassManager unused("builtin.module");
  LogicalResult built = moe::buildLowerToNVVMPipeline(
      unused, badChip, [](const Twine &message) {
        llvm::outs() << "rejected: " << message << "\n";
        return failure();
      });
  llvm::outs() << "built: " << (succeeded(built) ? "yes" : "no") << "\n";
  return 0;
}
