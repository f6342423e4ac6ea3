//===- moe-opt.cpp - moe optimizer driver ---------------------------------===//
//
// mlir-opt with the moe dialect, its passes and pipelines, and the upstream
// dialects, passes and extensions that moe programs and their lowerings use.
//
//===----------------------------------------------------------------------===//

#include "moe/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::moe::registerAllPasses();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  // gpu-module-to-binary translates kernels to LLVM IR before PTX/cubin.
  mlir::registerAllToLLVMIRTranslations(registry);
  mlir::moe::registerAllDialects(registry);

  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "moe optimizer driver\n", registry));
}
