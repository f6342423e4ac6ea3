//===- moe-capi-test.c - test of the moe C API ----------------------------===//
//
// A C program that uses moe-mlir the way a C or Python-via-ctypes embedder
// would: register the dialect and passes through include/moe-c, parse a moe
// module from a string, verify and print it, and run pass pipelines given as
// strings.
//
//===----------------------------------------------------------------------===//

/* RUN: moe-capi-test 2>&1 | FileCheck %s
 */

#include "moe-c/Dialects.h"

#include "mlir-c/BuiltinAttributes.h"
#include "mlir-c/Dialect/Func.h"
#include "mlir-c/IR.h"
#include "mlir-c/Pass.h"
#include "mlir-c/RegisterEverything.h"
#include "mlir-c/Support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Everything goes to stderr, so that it interleaves with the diagnostics.
static void printToStderr(MlirStringRef str, void *userData) {
  (void)userData;
  fwrite(str.data, 1, str.length, stderr);
}

static void printModule(MlirModule module) {
  mlirOperationPrint(mlirModuleGetOperation(module), printToStderr, NULL);
  fprintf(stderr, "\n");
}

static MlirModule parse(MlirContext ctx, const char *source) {
  return mlirModuleCreateParse(ctx, mlirStringRefCreateFromCString(source));
}

/// Parses `pipeline` into a new pass manager and runs it on `module`;
/// returns 0 on success.
static int runPipeline(MlirContext ctx, MlirModule module,
                       const char *pipeline) {
  MlirPassManager pm = mlirPassManagerCreate(ctx);
  MlirLogicalResult parsed =
      mlirParsePassPipeline(mlirPassManagerGetAsOpPassManager(pm),
                            mlirStringRefCreateFromCString(pipeline),
                            printToStderr, NULL);
  if (mlirLogicalResultIsFailure(parsed)) {
    fprintf(stderr, "\npipeline parse failed: %s\n", pipeline);
    mlirPassManagerDestroy(pm);
    return 1;
  }
  MlirLogicalResult ran =
      mlirPassManagerRunOnOp(pm, mlirModuleGetOperation(module));
  mlirPassManagerDestroy(pm);
  if (mlirLogicalResultIsFailure(ran)) {
    fprintf(stderr, "pipeline failed: %s\n", pipeline);
    return 1;
  }
  return 0;
}

// score -> topk -> normalize -> load over 16 experts, top-2.
static const char *kRouter =
    "func.func @router(%x: tensor<?x16xf32>, %b: tensor<16xf32>)\n"
    "    -> (tensor<?x2xf32>, tensor<?x2xi32>, tensor<16xi32>) {\n"
    "  %s = moe.score sigmoid %x : tensor<?x16xf32> -> tensor<?x16xf32>\n"
    "  %w, %i = moe.topk %s bias(%b) {k = 2}\n"
    "      : tensor<?x16xf32>, tensor<16xf32> -> tensor<?x2xf32>, "
    "tensor<?x2xi32>\n"
    "  %wn = moe.normalize %w {scale = 2.5 : f32} : tensor<?x2xf32>\n"
    "  %c = moe.load %i {num_experts = 16} : tensor<?x2xi32> -> "
    "tensor<16xi32>\n"
    "  return %wn, %i, %c : tensor<?x2xf32>, tensor<?x2xi32>, "
    "tensor<16xi32>\n"
    "}\n";

// k exceeds the number of experts: rejected by the verifier.
static const char *kInvalid =
    "func.func @bad(%s: tensor<?x8xf32>) -> tensor<?x9xi32> {\n"
    "  %w, %i = moe.topk %s {k = 9} : tensor<?x8xf32> -> tensor<?x9xf32>, "
    "tensor<?x9xi32>\n"
    "  return %i : tensor<?x9xi32>\n"
    "}\n";

/// The dialect handle alone: register, load, parse, verify, print, fuse.
static int testDialectHandle(void) {
  fprintf(stderr, "@dialect_handle\n");
  MlirContext ctx = mlirContextCreate();
  MlirDialectHandle moe = mlirGetDialectHandle__moe__();
  mlirDialectHandleRegisterDialect(mlirGetDialectHandle__func__(), ctx);
  mlirDialectHandleRegisterDialect(moe, ctx);
  MlirDialect dialect = mlirDialectHandleLoadDialect(moe, ctx);
  MlirStringRef ns = mlirDialectGetNamespace(dialect);
  // CHECK-LABEL: @dialect_handle
  // CHECK: namespace: moe
  fprintf(stderr, "namespace: %.*s\n", (int)ns.length, ns.data);

  MlirModule module = parse(ctx, kRouter);
  if (mlirModuleIsNull(module))
    return 1;
  MlirOperation op = mlirModuleGetOperation(module);
  // CHECK: verified: 1
  fprintf(stderr, "verified: %d\n", mlirOperationVerify(op));
  // CHECK: func.func @router(
  // CHECK: moe.score sigmoid
  // CHECK: moe.topk
  // CHECK: moe.normalize
  // CHECK: moe.load
  printModule(module);

  // The passes are not registered yet: the pipeline does not parse.
  // CHECK: 'moe-fuse-routing' does not refer to a registered pass
  // CHECK: pipeline parse failed: builtin.module(func.func(moe-fuse-routing))
  if (runPipeline(ctx, module,
                  "builtin.module(func.func(moe-fuse-routing))") == 0)
    return 1;

  mlirMoERegisterPasses();
  mlirMoERegisterPasses(); // Idempotent.
  if (runPipeline(ctx, module, "builtin.module(func.func(moe-fuse-routing))"))
    return 1;
  // CHECK: after fusion:
  // CHECK-NEXT: module {
  // CHECK-NEXT: func.func @router(
  // CHECK-NOT: moe.score
  // CHECK: %[[W:.*]], %[[I:.*]], %[[C:.*]] = moe.route sigmoid %arg0 bias(%arg1) {k = 2 : i64, normalize, scale = 2.500000e+00 : f32} : tensor<?x16xf32>, tensor<16xf32> -> tensor<?x2xf32>, tensor<?x2xi32>, tensor<16xi32>
  // CHECK-NEXT: return %[[W]], %[[I]], %[[C]]
  fprintf(stderr, "after fusion:\n");
  printModule(module);
  // CHECK: verified after fusion: 1
  fprintf(stderr, "verified after fusion: %d\n", mlirOperationVerify(op));
  mlirModuleDestroy(module);

  // The verifier runs on parse: an invalid op makes the parse fail.
  // CHECK: k = 9 exceeds the number of experts (8)
  // CHECK: invalid module rejected: 1
  MlirModule bad = parse(ctx, kInvalid);
  fprintf(stderr, "invalid module rejected: %d\n", mlirModuleIsNull(bad));
  mlirContextDestroy(ctx);
  return 0;
}

/// A registry with every upstream dialect and the moe dialect with its
/// models, then --moe-lower-to-cpu all the way to the LLVM dialect.
static int testLowerToCPU(void) {
  fprintf(stderr, "@lower_to_cpu\n");
  MlirDialectRegistry registry = mlirDialectRegistryCreate();
  mlirRegisterAllDialects(registry);
  mlirMoERegisterAllDialects(registry);
  MlirContext ctx = mlirContextCreateWithRegistry(registry, false);
  mlirDialectRegistryDestroy(registry);

  MlirModule module = parse(ctx, kRouter);
  if (mlirModuleIsNull(module))
    return 1;
  // One-shot bufferization needs the moe ops' BufferizableOpInterface,
  // which mlirMoERegisterAllDialects attached.
  if (runPipeline(ctx, module, "builtin.module(moe-lower-to-cpu)"))
    return 1;
  // CHECK-LABEL: @lower_to_cpu
  // CHECK: llvm.func @router(
  // CHECK-NOT: moe.
  // CHECK-NOT: func.func
  printModule(module);
  mlirModuleDestroy(module);
  mlirContextDestroy(ctx);
  return 0;
}

/// mlirMoERegisterAllDialects alone (no upstream registration): both
/// pipelines run, the NVVM one down to PTX in a gpu.binary.
static int testMoERegistrationAlone(void) {
  fprintf(stderr, "@moe_registration_alone\n");
  MlirDialectRegistry registry = mlirDialectRegistryCreate();
  mlirMoERegisterAllDialects(registry);
  MlirContext ctx = mlirContextCreateWithRegistry(registry, false);
  mlirDialectRegistryDestroy(registry);

  const char *pipelines[] = {
      "builtin.module(moe-lower-to-cpu)",
      "builtin.module(moe-lower-to-nvvm{chip=sm_90a format=isa})"};
  for (int i = 0; i < 2; ++i) {
    MlirModule module = parse(ctx, kRouter);
    if (mlirModuleIsNull(module) || runPipeline(ctx, module, pipelines[i]))
      return 1;
    fprintf(stderr, "%s:\n", pipelines[i]);
    printModule(module);
    mlirModuleDestroy(module);
  }
  // CHECK-LABEL: @moe_registration_alone
  // CHECK: builtin.module(moe-lower-to-cpu):
  // CHECK-NOT: moe.
  // CHECK: llvm.func @router(
  // CHECK: builtin.module(moe-lower-to-nvvm{chip=sm_90a format=isa}):
  // CHECK: llvm.func @router(
  // CHECK: gpu.launch_func
  // CHECK: gpu.binary @{{.*}} [#gpu.object<#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">
  // CHECK-SAME: .target sm_90a
  mlirContextDestroy(ctx);
  return 0;
}

int main(void) {
  if (testDialectHandle())
    return 1;
  if (testLowerToCPU())
    return 1;
  if (testMoERegistrationAlone())
    return 1;
  // CHECK: done
  fprintf(stderr, "done\n");
  return 0;
}
