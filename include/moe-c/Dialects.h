/*===-- moe-c/Dialects.h - C API of the moe dialect ---------------*- C -*-===*\
|*                                                                            *|
|* The C interface of moe-mlir, following the conventions of mlir-c: a       *|
|* dialect handle for the moe dialect, and entry points that register the    *|
|* dialect's external models and the moe passes and pipelines.               *|
|*                                                                            *|
|* Everything declared here, and the upstream MLIR C API of the core IR,     *|
|* the pass manager and the dialects that moe programs mix with, is in       *|
|* libMoECAPI.so (see docs/embedding.md).                                     *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef MOE_C_DIALECTS_H
#define MOE_C_DIALECTS_H

#include "mlir-c/IR.h"
#include "mlir-c/Support.h"

#ifdef __cplusplus
extern "C" {
#endif

/// `mlirGetDialectHandle__moe__()`: the handle of the moe dialect, for
/// `mlirDialectHandleInsertDialect`, `mlirDialectHandleRegisterDialect` and
/// `mlirDialectHandleLoadDialect`. The handle inserts the dialect alone; use
/// `mlirMoERegisterAllDialects` to also get its bufferization models.
MLIR_DECLARE_CAPI_DIALECT_REGISTRATION(MoE, moe);

/// Inserts the moe dialect and its external interface models (the
/// BufferizableOpInterface of the tensor ops, needed by
/// `one-shot-bufferize` and the lowering pipelines) into `registry`.
MLIR_CAPI_EXPORTED void mlirMoERegisterAllDialects(MlirDialectRegistry registry);

/// Registers the moe passes (`moe-fuse-routing`, `convert-moe-to-loops`,
/// `convert-moe-to-gpu`) and pipelines (`moe-lower-to-cpu`,
/// `moe-lower-to-nvvm`) with the global pass registry, so that
/// `mlirParsePassPipeline` and `mlirOpPassManagerAddPipeline` find them. The
/// upstream passes that the pipelines use are registered as well. Safe to
/// call more than once.
MLIR_CAPI_EXPORTED void mlirMoERegisterPasses(void);

#ifdef __cplusplus
}
#endif

#endif // MOE_C_DIALECTS_H
