//===- main.cpp - a C++ program embedding the moe dialect -----------------===//
//
// Registers the moe dialect and the fusion pass from C++, parses the moe
// program named on the command line, runs --moe-fuse-routing through a
// PassManager and prints the result.
//
//===----------------------------------------------------------------------===//

#include "moe/Dialect/MoE/IR/MoEDialect.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/InitAll.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/raw_ostream.h"

int main(int argc, char **argv) {
  if (argc != 2) {
    llvm::errs() << "usage: moe-consumer FILE.mlir\n";
    return 2;
  }

  mlir::DialectRegistry registry;
  registry.insert<mlir::func::FuncDialect>();
  mlir::moe::registerAllDialects(registry);
  mlir::MLIRContext context(registry);

  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceFile<mlir::ModuleOp>(argv[1], &context);
  if (!module)
    return 1;

  mlir::PassManager pm(&context);
  pm.addNestedPass<mlir::func::FuncOp>(mlir::moe::createMoEFuseRouting());
  if (mlir::failed(pm.run(*module)))
    return 1;

  module->print(llvm::outs());
  llvm::outs() << "\n";
  return 0;
}
