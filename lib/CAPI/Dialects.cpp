//===- Dialects.cpp - C API of the moe dialect ----------------------------===//

#include "moe-c/Dialects.h"

#include "moe/Dialect/MoE/IR/MoEDialect.h"
#include "moe/InitAll.h"

#include "mlir/CAPI/IR.h"
#include "mlir/CAPI/Registration.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Transforms/Passes.h"

MLIR_DEFINE_CAPI_DIALECT_REGISTRATION(MoE, moe, mlir::moe::MoEDialect)

void mlirMoERegisterAllDialects(MlirDialectRegistry registry) {
  mlir::moe::registerAllDialects(*unwrap(registry));
}

/// The upstream passes that textual pipelines most often mix with moe's (the
/// moe pipelines themselves need none of them).
static void registerUpstreamPipelinePasses() {
  mlir::registerTransformsPasses();
  mlir::registerConversionPasses();
  mlir::arith::registerArithPasses();
  mlir::bufferization::registerBufferizationPasses();
  mlir::bufferization::registerBufferizationPipelines();
  mlir::registerGPUPasses();
  mlir::registerLinalgPasses();
  mlir::memref::registerMemRefPasses();
}

void mlirMoERegisterPasses(void) {
  // Registering a pipeline twice is an error in assertion-enabled builds of
  // MLIR; do it once per process.
  static const bool registered = [] {
    registerUpstreamPipelinePasses();
    mlir::moe::registerAllPasses();
    return true;
  }();
  (void)registered;
}
