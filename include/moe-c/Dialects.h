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

/// Inserts into `registry` the moe dialect with its external interface models
/// and everything that the pipelines `moe-lower-to-cpu`, `moe-lower-to-nvvm`
/// and `moe-lower-to-gpu-emulator` need: the dialects that moe programs mix
/// with (func, arith, math, scf, cf, tensor, linalg, bufferization, memref,
/// affine, index, vector) and their bufferization models, the gpu, llvm and
/// nvvm dialects, their conversions to LLVM, the NVVM target and the LLVM IR
/// translations. Upstream's `mlirRegisterAllDialects` is not needed for
/// them (and may be called as well).
MLIR_CAPI_EXPORTED void mlirMoERegisterAllDialects(MlirDialectRegistry registry);

/// Registers the moe passes (`moe-fuse-routing`, `convert-moe-to-loops`,
/// `convert-moe-to-gpu`, `moe-lower-subgroup-reduce`,
/// `convert-nvvm-kernels-to-emulator`) and pipelines (`moe-lower-to-cpu`,
/// `moe-lower-to-nvvm`, `moe-lower-to-gpu-emulator`) with the global pass
/// registry, so that `mlirParsePassPipeline` and
/// `mlirOpPassManagerAddPipeline` find them, and the upstream passes of the
/// Transforms, Conversion, Arith, Bufferization, GPU, Linalg and MemRef
/// groups, so that textual pipelines can mix them with moe's. Safe to call
/// more than once.
MLIR_CAPI_EXPORTED void mlirMoERegisterPasses(void);

#ifdef __cplusplus
}
#endif

#endif // MOE_C_DIALECTS_H
