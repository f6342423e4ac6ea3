//===- MoEPlugin.cpp - moe dialect and pass plugin for mlir-opt -----------===//
//
// A plugin for the stock `mlir-opt` of LLVM 22 (and any tool built on
// MlirOptMain):
//
//   mlir-opt --load-dialect-plugin=libMoEPlugin.so \
//            --load-pass-plugin=libMoEPlugin.so \
//            -p "builtin.module(moe-fuse-routing)" in.mlir
//
// The dialect entry point registers what mlir::moe::registerAllDialects
// does (the moe dialect with its external models, and what the moe
// pipelines need), the pass entry point the moe passes and pipelines. The
// plugin links libMLIR.so, as mlir-opt does, so both use one copy of MLIR and
// share its dialect and pass registries.
//
//===----------------------------------------------------------------------===//

#include "moe/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/Plugins/DialectPlugin.h"
#include "mlir/Tools/Plugins/PassPlugin.h"
#include "llvm/Support/Compiler.h"

using namespace mlir;

#ifndef MOE_MLIR_VERSION_STRING
#define MOE_MLIR_VERSION_STRING "unknown"
#endif

/// Entry point of `--load-dialect-plugin`.
extern "C" LLVM_ATTRIBUTE_WEAK DialectPluginLibraryInfo
mlirGetDialectPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "MoE", MOE_MLIR_VERSION_STRING,
          [](DialectRegistry *registry) {
            moe::registerAllDialects(*registry);
          }};
}

/// Entry point of `--load-pass-plugin`.
extern "C" LLVM_ATTRIBUTE_WEAK PassPluginLibraryInfo mlirGetPassPluginInfo() {
  return {MLIR_PLUGIN_API_VERSION, "MoE", MOE_MLIR_VERSION_STRING,
          []() { moe::registerAllPasses(); }};
}
