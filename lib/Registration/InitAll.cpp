//===- InitAll.cpp - register everything moe provides ---------------------===//

#include "moe/InitAll.h"

#include "moe/Conversion/Passes.h"
#include "moe/Dialect/MoE/IR/MoEDialect.h"
#include "moe/Dialect/MoE/Transforms/BufferizableOpInterfaceImpl.h"
#include "moe/Dialect/MoE/Transforms/Passes.h"
#include "moe/Pipelines/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"

void mlir::moe::registerAllDialects(DialectRegistry &registry) {
  registry.insert<MoEDialect>();
  registerBufferizableOpInterfaceExternalModels(registry);
}

void mlir::moe::registerAllPasses() {
  registerMoEPasses();
  registerMoEConversionPasses();
  registerPipelines();
}
